/* stack.c - coroutine stacks: carved from slabs, guarded, pooled.
 *
 * Owns: the slabs (large anonymous mappings, each cut into stacks of one
 * size, a guard below each), the free stacks of every size (a small cache
 * per thread for the default size, a shared store behind a mutex for the
 * rest), and the SIGSEGV handler that reports an overflow (naming the
 * task or coroutine, its stack size and the option that gives it more).
 *
 * Why slabs: vm.max_map_count (65,530 by default) caps mappings, and a
 * guard made with mprotect splits a mapping in two. A guard made with
 * madvise(MADV_GUARD_INSTALL) (Linux 6.13+) splits nothing, so a million
 * stacks can live in a handful of mappings. Older kernels answer EINVAL;
 * there guards fall back to mprotect up to a budget of mappings, and the
 * stacks past it have no guard (docs/design.md says so).
 *
 * Invariants: a stack is in exactly one place: held by a coroutine, in one
 * thread's cache, or in the shared store. Slabs are never unmapped while
 * the process lives: a free stack keeps its pages (warm: the next user
 * does not pay the first-touch fault), which is the point of the pool,
 * until a quiet worker trims the pool to its warm floor (trim.c calls
 * weft__stack_trim): the pages of the stacks past the floor go back to
 * the kernel (MADV_DONTNEED), the stacks stay in the pool, cold. In each
 * class of the store the cold stacks are the bottom `ncold` entries of
 * the free list: a put pushes a warm one on top, a get pops the top, so
 * warm ones are handed out before any cold one.
 */
#include "internal.h"
#include "task.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; Debian 12's headers lack it */
#endif

#define WEFT__STACK_DEFAULT (128u * 1024u)
#define WEFT__CACHE_MAX WEFT__STACK_CACHE
#define WEFT__MPROTECT_BUDGET 30000 /* guards made with mprotect: half the map budget */

typedef struct {
    size_t size; /* usable bytes */
    void **free;
    size_t nfree, cap;
    size_t carved; /* stacks made in this class so far, to grow slabs */
    size_t ncold;  /* free[0, ncold): pages given back by a trim */
} stack_class_t;

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static stack_class_t classes[16];
static int nclasses;
static int guard_mode; /* 0 unknown, 1 madvise guards, 2 mprotect (budgeted) */
static long mprotect_used;

static size_t default_size;
static size_t page_size;
static size_t guard_size; /* WEFT__STACK_GUARD_MIN, in whole pages */
static pthread_once_t size_once = PTHREAD_ONCE_INIT;
static atomic_bool sizes_ready; /* set last by sizes_init */


static void sizes_init(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    guard_size = (WEFT__STACK_GUARD_MIN + page_size - 1) & ~(page_size - 1);
    default_size = WEFT__STACK_DEFAULT;
    const char *env = getenv("WEFT_STACK_SIZE");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == 'k' || *end == 'K')
            v <<= 10;
        else if (*end == 'm' || *end == 'M')
            v <<= 20;
        if (v >= WEFT__STACK_MIN && v <= WEFT__STACK_MAX)
            default_size = (size_t)v;
    }
    default_size = (default_size + page_size - 1) & ~(page_size - 1);
    atomic_store_explicit(&sizes_ready, true, memory_order_release);
}

/* pthread_once is a call even once done: on the paths every create takes,
 * one load instead */
static inline void sizes_once(void)
{
    if (WEFT_UNLIKELY(!atomic_load_explicit(&sizes_ready, memory_order_acquire)))
        pthread_once(&size_once, sizes_init);
}

size_t weft_stack_default_size(void)
{
    sizes_once();
    return default_size;
}

size_t weft__stack_round(size_t req)
{
    sizes_once();
    if (req == 0)
        return default_size;
    if (req > WEFT__STACK_MAX)
        return 0;
    if (req < WEFT__STACK_MIN)
        req = WEFT__STACK_MIN;
    return (req + page_size - 1) & ~(page_size - 1);
}

static void guard(char *lo)
{
    if (guard_mode != 2) {
        if (madvise(lo, guard_size, MADV_GUARD_INSTALL) == 0) {
            guard_mode = 1;
            return;
        }
        guard_mode = 2;
    }
    if (mprotect_used < WEFT__MPROTECT_BUDGET && mprotect(lo, guard_size, PROT_NONE) == 0)
        mprotect_used++;
}

/* Called with store_lock held: carves a new slab into class c. */
static int carve(stack_class_t *c)
{
    size_t stride = c->size + guard_size;
    size_t n = c->carved < 16 ? 16 : c->carved; /* slabs grow geometrically */
    if (n > 4096)
        n = 4096;
    if (c->cap < c->nfree + n) {
        size_t cap = (c->nfree + n) * 2;
        void **f = realloc(c->free, cap * sizeof *f);
        if (!f)
            return -ENOMEM;
        c->free = f;
        c->cap = cap;
    }
    char *slab = mmap(NULL, n * stride, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (slab == MAP_FAILED)
        return -ENOMEM;
    /* a huge page would make every idle stack in it 2 MiB resident */
    madvise(slab, n * stride, MADV_NOHUGEPAGE);
    /* pushed in reverse so the lowest addresses are handed out first */
    for (size_t i = n; i-- > 0;) {
        char *lo = slab + i * stride;
        guard(lo);
        c->free[c->nfree++] = lo + guard_size;
    }
    c->carved += n;
    return 0;
}

static stack_class_t *class_for(size_t size)
{
    for (int i = 0; i < nclasses; i++)
        if (classes[i].size == size)
            return &classes[i];
    if (nclasses == (int)(sizeof classes / sizeof classes[0]))
        return NULL;
    classes[nclasses].size = size;
    return &classes[nclasses++];
}

static void registered(weft__stack_t *st)
{
#if defined(WEFT_ASAN)
    /* a coroutine discarded mid-call leaves its frames' redzones poisoned */
    ASAN_UNPOISON_MEMORY_REGION(st->base, st->size);
#elif defined(WEFT_HAVE_VALGRIND)
    /* memcheck holds the frames the last user popped as unaddressable; the
     * next one writes its first frame (and a task its body) into the top
     * page without a call pushing it */
    if (WEFT_ON_VALGRIND())
        VALGRIND_MAKE_MEM_UNDEFINED((char *)st->base + st->size - page_size, page_size);
#else
    (void)st;
#endif
}

/* The store's side of weft__stack_get: under the lock, out of line so
 * the cached path saves no registers. */
static __attribute__((noinline)) int stack_get_locked(weft__stack_t *st, size_t size)
{
    pthread_mutex_lock(&store_lock);
    stack_class_t *c = class_for(size);
    int rc = c ? 0 : -ENOMEM;
    if (c && c->nfree == 0)
        rc = carve(c);
    if (rc == 0) {
        st->base = c->free[--c->nfree];
        st->size = size;
        /* refill the cache in the same trip to the lock */
        while (size == default_size && c->nfree > 0 && weft__self.nstacks < WEFT__CACHE_MAX / 2)
            weft__self.stacks[weft__self.nstacks++] = c->free[--c->nfree];
        if (c->ncold > c->nfree) /* cold ones were handed out: the rest stay below */
            c->ncold = c->nfree;
    }
    pthread_mutex_unlock(&store_lock);
    if (rc == 0)
        registered(st);
    return rc;
}

int weft__stack_get(weft__stack_t *st, size_t size)
{
    weft__thread_t *t = &weft__self;
    if (WEFT_LIKELY(size == default_size && t->nstacks > 0)) {
        st->base = t->stacks[--t->nstacks];
        st->size = size;
        registered(st);
        return 0;
    }
    return stack_get_locked(st, size);
}

/* The store's side of weft__stack_put (see stack_get_locked). */
static __attribute__((noinline)) void stack_put_locked(weft__stack_t *st)
{
    pthread_mutex_lock(&store_lock);
    stack_class_t *c = class_for(st->size);
    if (c) {
        /* drain half the cache with it, so a thread that only frees does
         * not keep the lock busy */
        size_t want = c->nfree + 1 + (size_t)weft__self.nstacks;
        if (c->cap < want) {
            size_t cap = want * 2;
            void **f = realloc(c->free, cap * sizeof *f);
            if (f) {
                c->free = f;
                c->cap = cap;
            }
        }
        if (c->cap >= want) {
            c->free[c->nfree++] = st->base;
            if (st->size == default_size)
                while (weft__self.nstacks > WEFT__CACHE_MAX / 2)
                    c->free[c->nfree++] = weft__self.stacks[--weft__self.nstacks];
        }
        /* with no memory for the list the stack is dropped: its address
         * space stays mapped but unused, never freed twice */
    }
    pthread_mutex_unlock(&store_lock);
    st->base = NULL;
}

void weft__stack_put(weft__stack_t *st)
{
    weft__thread_t *t = &weft__self;
    if (!st->base)
        return;
    if (WEFT_LIKELY(st->size == default_size && t->nstacks < WEFT__CACHE_MAX)) {
        t->stacks[t->nstacks++] = st->base;
        st->base = NULL;
        return;
    }
    stack_put_locked(st);
}

/* ---- giving pages back (trim.c) ---- */

/* Called with store_lock held: room for `more` entries in c's list. */
static bool room_for(stack_class_t *c, size_t more)
{
    size_t want = c->nfree + more;
    if (c->cap >= want)
        return true;
    void **f = realloc(c->free, want * 2 * sizeof *f);
    if (!f)
        return false;
    c->free = f;
    c->cap = want * 2;
    return true;
}

static int by_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Gives back the pages of the k stacks of `size` in v (sorted here).
 * Neighbours in a slab go in one call, guards between them included:
 * MADV_DONTNEED leaves a guard in place (a MADV_GUARD_INSTALL marker, or
 * an mprotect'ed mapping), and one call per stack costs far more than
 * the pages (measured here: 2,000 stacks, 0.77 s one call each, 16 ms in
 * one call). */
static void cool(void **v, size_t k, size_t size, weft__trim_counts_t *n)
{
    qsort(v, k, sizeof *v, by_addr);
    size_t stride = size + guard_size;
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && (char *)v[j] == (char *)v[j - 1] + stride)
            j++;
        size_t len = (j - i - 1) * stride + size;
        size_t res = weft__resident(v[i], len);
        if (madvise(v[i], len, MADV_DONTNEED) == 0) {
            n->stacks += j - i;
            n->stack_bytes += res;
        }
        i = j;
    }
}

void weft__stack_trim(size_t floor, weft__trim_counts_t *n)
{
    sizes_once();
    /* this thread's cache keeps its share of the floor; the rest goes on
     * top of the store (warm), to be cooled there with the store's own
     * (weft__self named at each use, as stack_put_locked does: with a
     * pointer to it kept across the lock's calls, GCC 12's UBSan build
     * reported a member access through NULL there) */
    int keep = (int)(floor / default_size < WEFT__CACHE_MAX ? floor / default_size
                                                             : WEFT__CACHE_MAX);
    pthread_mutex_lock(&store_lock);
    stack_class_t *dc = weft__self.nstacks > keep ? class_for(default_size) : NULL;
    if (dc && room_for(dc, (size_t)(weft__self.nstacks - keep)))
        while (weft__self.nstacks > keep)
            dc->free[dc->nfree++] = weft__self.stacks[--weft__self.nstacks];
    pthread_mutex_unlock(&store_lock);
    /* Each class of the store keeps `floor` bytes of its warmest stacks
     * (the top of its list). The ones between them and the cold bottom
     * leave the list while their pages go back, outside the lock (other
     * workers' gets and puts go on meanwhile), then join the cold ones. */
    for (int i = 0;; i++) {
        pthread_mutex_lock(&store_lock);
        if (i >= nclasses) {
            pthread_mutex_unlock(&store_lock);
            return;
        }
        stack_class_t *c = &classes[i];
        size_t warm_keep = floor / c->size;
        void **v = NULL;
        size_t k = 0;
        if (c->nfree > c->ncold + warm_keep) {
            k = c->nfree - c->ncold - warm_keep;
            v = malloc(k * sizeof *v);
        }
        if (v) {
            memcpy(v, c->free + c->ncold, k * sizeof *v);
            memmove(c->free + c->ncold, c->free + c->ncold + k, warm_keep * sizeof *v);
            c->nfree -= k;
        }
        size_t size = c->size;
        pthread_mutex_unlock(&store_lock);
        if (!v)
            continue;
        cool(v, k, size, n);
        pthread_mutex_lock(&store_lock);
        if (c->ncold > c->nfree)
            c->ncold = c->nfree;
        if (room_for(c, k)) {
            memmove(c->free + c->ncold + k, c->free + c->ncold,
                    (c->nfree - c->ncold) * sizeof *v);
            memcpy(c->free + c->ncold, v, k * sizeof *v);
            c->ncold += k;
            c->nfree += k;
        }
        /* with no memory for the list they are dropped: mapped, unused,
         * never handed out twice (as stack_put_locked does) */
        pthread_mutex_unlock(&store_lock);
        free(v);
    }
}

void weft__stack_counts(uint64_t *nfree, uint64_t *nwarm)
{
    uint64_t f = 0, w = 0;
    pthread_mutex_lock(&store_lock);
    for (int i = 0; i < nclasses; i++) {
        f += classes[i].nfree;
        w += classes[i].nfree - classes[i].ncold;
    }
    pthread_mutex_unlock(&store_lock);
    /* the calling thread's cache: counted warm (a cold stack the cache
     * took from the store is warm again once used) */
    f += (uint64_t)weft__self.nstacks;
    w += (uint64_t)weft__self.nstacks;
    *nfree = f;
    *nwarm = w;
}

/* ---- overflow reports ---- */

static struct sigaction old_segv, old_bus;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static pthread_key_t altstack_key;

/* The report is built by hand: the handler runs on a signal, where only
 * async-signal-safe calls are allowed (no stdio, no malloc), so text and
 * numbers are copied into a buffer on the alternate stack and written
 * with one write(2). */
typedef struct {
    char buf[320];
    size_t n;
} report_t;

static void put_s(report_t *r, const char *s, size_t max)
{
    for (size_t i = 0; s[i] && i < max && r->n < sizeof r->buf; i++)
        r->buf[r->n++] = s[i];
}

static void put_u(report_t *r, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && r->n < sizeof r->buf)
        r->buf[r->n++] = tmp[--n];
}

/* "task #3 'worker'" (or "task #3 'Task-3'" when it has no name). */
static void put_task(report_t *r, const weft_task_t *t)
{
    put_s(r, "task #", 6);
    put_u(r, t->id);
    put_s(r, " '", 2);
    if (t->name) {
        put_s(r, t->name, 60);
    } else { /* as weft_task_name calls it, without making the name here */
        put_s(r, "Task-", 5);
        put_u(r, t->id);
    }
    put_s(r, "'", 1);
}

/* Names what overflowed, its stack's size, and where to ask for more:
 * a task's size comes from weft_task_opts_t (or the loop's default), a
 * coroutine's or generator's from weft_coro_opts_t; WEFT_STACK_SIZE
 * changes the default of all of them. */
static void report_overflow(const weft_coro_t *co)
{
    report_t r = {.n = 0};
    bool task = co->kind == WEFT__KIND_TASK && co->task;
    put_s(&r, "weft: stack overflow in ", 64);
    if (task) {
        put_task(&r, co->task);
    } else {
        put_s(&r, co->kind == WEFT__KIND_GEN ? "generator" : "coroutine", 16);
        if (co->name) {
            put_s(&r, " '", 2);
            put_s(&r, co->name, 60);
            put_s(&r, "'", 1);
        } else {
            put_s(&r, " (unnamed)", 16);
        }
        if (co->task) { /* resumed by a task: say which */
            put_s(&r, " of ", 4);
            put_task(&r, co->task);
        }
    }
    put_s(&r, " (stack ", 8);
    if (co->stack.size % 1024 == 0) {
        put_u(&r, co->stack.size / 1024);
        put_s(&r, " KiB", 4);
    } else {
        put_u(&r, co->stack.size);
        put_s(&r, " bytes", 6);
    }
    put_s(&r, "): give it more with ", 32);
    put_s(&r, task ? "weft_task_opts_t" : "weft_coro_opts_t", 16);
    put_s(&r, ".stack_size or WEFT_STACK_SIZE\n", 40);
    if (r.n == sizeof r.buf) /* cut short: still end the line */
        r.buf[r.n - 1] = '\n';
    ssize_t w = write(STDERR_FILENO, r.buf, r.n);
    (void)w;
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    weft_coro_t *co = weft__self.ready ? weft__self.current : NULL;
    char *addr = si->si_addr;
    if (co && co->stack.base && addr < (char *)co->stack.base &&
        addr >= (char *)co->stack.base - guard_size) {
        report_overflow(co);
        abort();
    }
    /* not ours: hand it to whoever had it, or let the default kill us */
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL); /* returning re-runs the fault, now fatal */
}

/* A thread that exits gives its cached stacks and its shared stack (of
 * copy-stack tasks) back to the shared store, and its slabs back to the
 * system if every object in them came back. */
static pthread_key_t cache_key;

static void cache_flush(void *self)
{
    weft__thread_t *t = self; /* the thread's weft__self, saved when it started */
    weft__slab_thread_exit(t);
    if (t->shared.base && !t->shared_owner) {
        /* the shared stack of copy-stack tasks goes back to the pool; a
         * task still on it (the thread exits inside a loop) keeps it */
#if defined(WEFT_HAVE_VALGRIND)
        VALGRIND_STACK_DEREGISTER(t->shared_vg);
#endif
        weft__stack_put(&t->shared);
    }
    if (t->nstacks == 0)
        return;
    pthread_mutex_lock(&store_lock);
    stack_class_t *c = class_for(default_size);
    size_t want = c ? c->nfree + (size_t)t->nstacks : 0;
    if (c && c->cap < want) {
        void **f = realloc(c->free, want * 2 * sizeof *f);
        if (f) {
            c->free = f;
            c->cap = want * 2;
        }
    }
    if (c && c->cap >= want)
        while (t->nstacks > 0)
            c->free[c->nfree++] = t->stacks[--t->nstacks];
    pthread_mutex_unlock(&store_lock);
}

static void altstack_free(void *p)
{
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(p, 64 * 1024);
}

static void handler_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    pthread_key_create(&altstack_key, altstack_free);
    pthread_key_create(&cache_key, cache_flush);
}

/* A thread's first weft__stack_guard_thread, out of line (see
 * stack_get_locked). */
static __attribute__((noinline)) void guard_thread_first(weft__thread_t *t)
{
    t->altstack_done = true;
    pthread_once(&handler_once, handler_init);
    pthread_setspecific(cache_key, t); /* non-NULL: the destructor runs */
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        return; /* the thread has one already (a sanitizer's, or the user's) */
    void *mem = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = 64 * 1024, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, 64 * 1024);
        return;
    }
    pthread_setspecific(altstack_key, mem);
}

void weft__stack_guard_thread(void)
{
    weft__thread_t *t = weft__thr();
    if (WEFT_UNLIKELY(!t->altstack_done))
        guard_thread_first(t);
}
