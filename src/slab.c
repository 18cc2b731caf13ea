/* slab.c - small objects (task objects, coroutine objects, the saved
 * stacks of copy-stack tasks) in per-thread slabs that reuse memory the
 * thread already holds.
 *
 * Owns: each thread's chunks (2 MiB-aligned anonymous mappings, growing
 * from 2 MiB to 64 MiB; with WEFT_SLAB_HUGEPAGE=1 all but a thread's
 * first are MADV_HUGEPAGE), the 64 KiB segments carved from them, and the
 * objects carved from segments. What makes them cheap to touch is reuse:
 * a freed object or segment is handed out again before any fresh page.
 *
 * A segment holds objects of one size class, its header at its start
 * (found from an object by masking the address). Each class has a list of
 * segments with room ("partial"); a segment whose last object comes back
 * goes to the thread's list of empty segments, reused by any class before
 * fresh memory is touched. Empty segments past the high-water mark
 * (WEFT__SLAB_KEEP bytes per thread) go back to the system
 * (MADV_DONTNEED) and wait, mapped but cold, for reuse after the warm ones.
 * While a loop that trims when quiet runs on the thread (slab_defer), the
 * mark waits: that trim gives back what lies past its floor, once the
 * burst is over, rather than one segment at a time in the middle of it
 * (docs/design.md, "Memory per task"); the loop's close applies the mark.
 *
 * Invariants: a segment is on its class's partial list iff it has a free
 * object or uncarved room and still has live objects (or is the class's
 * only segment). Only the owning thread touches a segment's free list; a
 * free from another thread goes onto the segment's `remote` stack
 * (lock-free) and the segment onto the owner's `remote_segs` stack, which
 * the owner drains when a class runs dry. A thread that exits with every
 * object back unmaps its chunks; otherwise they stay (a later free from
 * elsewhere still lands safely on a remote stack nobody drains).
 *
 * Under AddressSanitizer and Valgrind every call is plain malloc/free, so
 * their use-after-free and leak checks see each object.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define SEG_SIZE ((size_t)64 * 1024)
#define SEG_HDR 128u
#define CHUNK_ALIGN ((size_t)2 << 20)
#define CHUNK_FIRST ((size_t)2 << 20)
#define CHUNK_MAX ((size_t)64 << 20)
#define WEFT__SLAB_KEEP ((size_t)64 << 20)

/* Size classes: 16-byte steps to 512, 64-byte steps to 1024, then four
 * steps per doubling to WEFT__SLAB_MAX. */
#define NCLASS (32 + 8 + 16)

typedef struct seg seg_t;
typedef struct weft__slabs weft__slabs_t;

struct seg {
    seg_t *next, *prev; /* on the class's partial list, or the empty lists */
    weft__slabs_t *owner;
    void *free;             /* freed objects, linked through their first word */
    _Atomic(void *) remote; /* objects freed by other threads */
    _Atomic(seg_t *) rnext; /* on the owner's remote_segs stack */
    atomic_int queued;      /* on that stack (or about to be) */
    uint32_t size;          /* object size */
    uint32_t live;          /* objects handed out */
    uint32_t bump;          /* offset of the first never-carved object */
    uint8_t cls;
    uint8_t on_partial;
};
_Static_assert(sizeof(seg_t) <= SEG_HDR, "segment header fits");

typedef struct chunk {
    struct chunk *next;
    char *base;
    size_t size;
} chunk_t;

struct weft__slabs {
    seg_t *partial[NCLASS];
    seg_t *warm; /* empty segments, pages still resident */
    seg_t *cold; /* empty segments given back with MADV_DONTNEED */
    size_t nwarm;
    char *carve, *carve_end; /* the rest of the newest chunk */
    chunk_t *chunks;         /* every chunk, for the unmap at thread exit */
    size_t next_chunk;
    long live; /* objects handed out by this thread, not yet back here */
    _Atomic(seg_t *) remote_segs;
};

/* Decided once (threads may race to decide it, with the same answer). */
static atomic_int use_slabs = -1;

static bool slabs_on(void)
{
    int on = atomic_load_explicit(&use_slabs, memory_order_relaxed);
    if (WEFT_LIKELY(on >= 0))
        return on;
#if defined(WEFT_ASAN)
    on = 0;
#elif defined(WEFT_HAVE_VALGRIND)
    on = !RUNNING_ON_VALGRIND;
#else
    on = 1;
#endif
    atomic_store_explicit(&use_slabs, on, memory_order_relaxed);
    return on;
}

/* WEFT_SLAB_HUGEPAGE=1 asks for transparent huge pages under the slabs.
 * Off by default, because what they cost depends on the machine's past:
 * measured here, 1,000,000 copy-stack sleepers (636 MB of slabs) started
 * in 0.33-0.49 s on 4 KiB pages (~2 us a fault: pages the kernel
 * recycles), in 0.14 s on huge pages the guest had used before, but in
 * 1.6-2.3 s on huge pages never touched before (~6 ms each, the cost of
 * first-touch memory under the hypervisor). 4 KiB pages are never that
 * slow. docs/design.md, "Memory per task". */
static atomic_int hugepages = -1;

static bool want_hugepages(void)
{
    int on = atomic_load_explicit(&hugepages, memory_order_relaxed);
    if (on < 0) {
        const char *e = getenv("WEFT_SLAB_HUGEPAGE");
        on = e && *e && *e != '0';
        atomic_store_explicit(&hugepages, on, memory_order_relaxed);
    }
    return on;
}

static const uint32_t big_sizes[16] = {1280, 1536, 1792, 2048, 2560,  3072,  3584,  4096,
                                       5120, 6144, 7168, 8192, 10240, 12288, 14336, 16384};

static inline int class_of(size_t size)
{
    if (size <= 512)
        return size ? (int)((size - 1) >> 4) : 0;
    if (size <= 1024)
        return 32 + (int)((size - 513) >> 6);
    for (int i = 0; i < 16; i++)
        if (size <= big_sizes[i])
            return 40 + i;
    return -1;
}

static inline uint32_t class_size(int c)
{
    if (c < 32)
        return (uint32_t)(c + 1) << 4;
    if (c < 40)
        return 512 + ((uint32_t)(c - 31) << 6);
    return big_sizes[c - 40];
}

size_t weft__slab_round(size_t size)
{
    int c = class_of(size);
    return c < 0 ? size : class_size(c);
}

static inline seg_t *seg_of(void *p)
{
    return (seg_t *)((uintptr_t)p & ~(uintptr_t)(SEG_SIZE - 1));
}

static void partial_push(weft__slabs_t *S, seg_t *g)
{
    g->prev = NULL;
    g->next = S->partial[g->cls];
    if (g->next)
        g->next->prev = g;
    S->partial[g->cls] = g;
    g->on_partial = 1;
}

static void partial_remove(weft__slabs_t *S, seg_t *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        S->partial[g->cls] = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->next = g->prev = NULL;
    g->on_partial = 0;
}

static bool seg_full(const seg_t *g)
{
    return !g->free && g->bump + g->size > SEG_SIZE;
}

/* A segment whose last object came back: keep it warm up to the mark. */
static void seg_retire(weft__slabs_t *S, seg_t *g)
{
    if (g->on_partial)
        partial_remove(S, g);
    /* the mark waits while a trimming loop runs here (and only while it
     * exists: a loop whose open failed left the flag behind) */
    if (S->nwarm * SEG_SIZE < WEFT__SLAB_KEEP || (weft__self.slab_defer && weft__self.loop)) {
        g->next = S->warm;
        S->warm = g;
        S->nwarm++;
    } else {
        madvise((char *)g + 4096, SEG_SIZE - 4096, MADV_DONTNEED);
        g->next = S->cold;
        S->cold = g;
    }
}

static void local_free(weft__slabs_t *S, seg_t *g, void *p)
{
    *(void **)p = g->free;
    g->free = p;
    S->live--;
    if (--g->live == 0 && !(g->on_partial && !g->prev && !g->next)) {
        seg_retire(S, g);
        return;
    }
    if (!g->on_partial)
        partial_push(S, g);
}

/* Takes in what other threads freed into this thread's segments. */
static void drain_remote(weft__slabs_t *S)
{
    seg_t *g = atomic_exchange_explicit(&S->remote_segs, NULL, memory_order_acquire);
    while (g) {
        seg_t *next = atomic_load_explicit(&g->rnext, memory_order_relaxed);
        atomic_store_explicit(&g->queued, 0, memory_order_seq_cst);
        void *p = atomic_exchange_explicit(&g->remote, NULL, memory_order_acquire);
        while (p) {
            void *pn = *(void **)p;
            local_free(S, g, p);
            p = pn;
        }
        g = next;
    }
}

static bool new_chunk(weft__slabs_t *S)
{
    size_t size = S->next_chunk ? S->next_chunk : CHUNK_FIRST;
    chunk_t *c = malloc(sizeof *c);
    if (!c)
        return false;
    size_t map = size + CHUNK_ALIGN;
    char *m =
        mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        free(c);
        return false;
    }
    char *a = (char *)(((uintptr_t)m + CHUNK_ALIGN - 1) & ~(uintptr_t)(CHUNK_ALIGN - 1));
    if (a > m)
        munmap(m, (size_t)(a - m));
    if (a + size < m + map)
        munmap(a + size, (size_t)(m + map - (a + size)));
    /* huge pages on request only, and never for a thread's first chunk
     * (a program with few tasks should not pay 2 MiB per thread) */
    if (S->next_chunk && want_hugepages())
        madvise(a, size, MADV_HUGEPAGE);
    c->next = S->chunks;
    c->base = a;
    c->size = size;
    S->chunks = c;
    S->carve = a;
    S->carve_end = a + size;
    S->next_chunk = size * 4 > CHUNK_MAX ? CHUNK_MAX : size * 4;
    return true;
}

static seg_t *seg_new(weft__slabs_t *S, int cls)
{
    seg_t *g;
    if (S->warm) {
        g = S->warm;
        S->warm = g->next;
        S->nwarm--;
    } else if (S->cold) {
        g = S->cold;
        S->cold = g->next;
    } else {
        if (S->carve + SEG_SIZE > S->carve_end && !new_chunk(S))
            return NULL;
        g = (seg_t *)S->carve;
        S->carve += SEG_SIZE;
        /* fresh memory: fault the segment's pages in one call rather than
         * one fault each as objects are carved (a hypervisor makes each
         * fault's entry and exit dear); an old kernel just says EINVAL */
        madvise(g, SEG_SIZE, MADV_POPULATE_WRITE);
        g->owner = S;
        atomic_init(&g->remote, NULL);
        atomic_init(&g->rnext, NULL);
        atomic_init(&g->queued, 0);
    }
    g->free = NULL;
    g->size = class_size(cls);
    g->cls = (uint8_t)cls;
    g->live = 0;
    g->bump = SEG_HDR;
    partial_push(S, g);
    return g;
}

static weft__slabs_t *slabs_self(void)
{
    weft__slabs_t *S = weft__self.slabs;
    if (WEFT_LIKELY(S))
        return S;
    S = calloc(1, sizeof *S);
    if (S) {
        atomic_init(&S->remote_segs, NULL);
        weft__self.slabs = S;
    }
    return S;
}

/* Everything but taking a freed object from a segment with more left:
 * a thread's first object, a class with no free object at hand, sizes
 * the slabs do not serve, and the plain-malloc mode. */
static __attribute__((noinline)) void *slab_alloc_slow(size_t size, int c)
{
    if (c < 0 || !slabs_on())
        return malloc(size);
    weft__slabs_t *S = slabs_self();
    if (!S)
        return NULL;
    seg_t *g = S->partial[c];
    if (WEFT_UNLIKELY(!g || seg_full(g))) {
        if (atomic_load_explicit(&S->remote_segs, memory_order_relaxed))
            drain_remote(S);
        g = S->partial[c];
        while (g && seg_full(g)) {
            partial_remove(S, g);
            g = S->partial[c];
        }
        if (!g && !(g = seg_new(S, c)))
            return NULL;
    }
    void *p = g->free;
    if (p)
        g->free = *(void **)p;
    else {
        p = (char *)g + g->bump;
        g->bump += g->size;
    }
    g->live++;
    S->live++;
    if (seg_full(g))
        partial_remove(S, g);
    return p;
}

void *weft__slab_alloc(size_t size)
{
    int c = class_of(size);
    /* a thread has slabs only once slabs_on() has said yes */
    weft__slabs_t *S = weft__self.slabs;
    seg_t *g;
    if (WEFT_LIKELY(c >= 0 && S && (g = S->partial[c]))) {
        /* the common cases, kept free of calls: a freed object, or a
         * fresh one carved, with room left after it either way, so the
         * segment stays on its partial list */
        void *p = g->free;
        if (p && (*(void **)p || g->bump + g->size <= SEG_SIZE)) {
            g->free = *(void **)p;
            g->live++;
            S->live++;
            return p;
        }
        if (!p && g->bump + 2 * g->size <= SEG_SIZE) {
            p = (char *)g + g->bump;
            g->bump += g->size;
            g->live++;
            S->live++;
            return p;
        }
    }
    return slab_alloc_slow(size, c);
}

static void slab_free_slow(weft__slabs_t *S, seg_t *g, void *p);

void weft__slab_free(void *p, size_t size)
{
    if (!p)
        return;
    if (class_of(size) < 0 || !slabs_on()) {
        free(p);
        return;
    }
    seg_t *g = seg_of(p);
    weft__slabs_t *S = weft__self.slabs;
    if (WEFT_LIKELY(g->owner == S && g->on_partial && (g->live > 1 || (!g->prev && !g->next)))) {
        /* the common case, kept free of calls: the segment stays where it
         * is (local_free's outcome for it, without the call) */
        *(void **)p = g->free;
        g->free = p;
        S->live--;
        g->live--;
        return;
    }
    slab_free_slow(S, g, p);
}

/* weft__slab_free when the segment moves (back onto its partial list, or
 * retired) or belongs to another thread. */
static __attribute__((noinline)) void slab_free_slow(weft__slabs_t *S, seg_t *g, void *p)
{
    if (g->owner == S) {
        local_free(S, g, p);
        return;
    }
    /* another thread's segment: onto its remote stack */
    void *old = atomic_load_explicit(&g->remote, memory_order_relaxed);
    do
        *(void **)p = old;
    while (!atomic_compare_exchange_weak_explicit(&g->remote, &old, p, memory_order_release,
                                                  memory_order_relaxed));
    if (atomic_exchange_explicit(&g->queued, 1, memory_order_seq_cst) == 0) {
        weft__slabs_t *O = g->owner;
        seg_t *h = atomic_load_explicit(&O->remote_segs, memory_order_relaxed);
        do
            atomic_store_explicit(&g->rnext, h, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&O->remote_segs, &h, g, memory_order_release,
                                                      memory_order_relaxed));
    }
}

void weft__slab_trim(size_t floor, weft__trim_counts_t *n)
{
    weft__slabs_t *S = weft__self.slabs;
    if (!S)
        return;
    drain_remote(S); /* segments other threads emptied count too */
    while (S->warm && S->nwarm * SEG_SIZE > floor) {
        seg_t *g = S->warm;
        S->warm = g->next;
        S->nwarm--;
        /* as seg_retire does: the header's page stays */
        char *p = (char *)g + 4096;
        size_t res = weft__resident(p, SEG_SIZE - 4096);
        if (madvise(p, SEG_SIZE - 4096, MADV_DONTNEED) == 0) {
            n->segments++;
            n->segment_bytes += res;
        }
        g->next = S->cold;
        S->cold = g;
    }
}

void weft__slab_defer_end(void)
{
    weft__self.slab_defer = false;
    weft__trim_counts_t n = {0};
    weft__slab_trim(WEFT__SLAB_KEEP, &n);
}

size_t weft__slab_warm(void)
{
    weft__slabs_t *S = weft__self.slabs;
    return S ? S->nwarm : 0;
}

void weft__slab_thread_exit(weft__thread_t *t)
{
    weft__slabs_t *S = t->slabs;
    if (!S)
        return;
    drain_remote(S);
    if (S->live != 0)
        return; /* objects still out: the chunks stay, orphaned */
    while (S->chunks) {
        chunk_t *c = S->chunks;
        S->chunks = c->next;
        munmap(c->base, c->size);
        free(c);
    }
    t->slabs = NULL;
    free(S);
}
