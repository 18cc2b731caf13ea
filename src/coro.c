/* coro.c - stackful coroutines: create, resume, yield, destroy.
 *
 * Owns: the per-thread state (weft__self) and every switch between
 * coroutines, with the bookkeeping sanitizers and Valgrind need to follow
 * a program across stacks; copy-stack mode (each thread's shared stack,
 * and saving and restoring the live frames of the tasks that run on it:
 * see the section at the end).
 *
 * Invariants: weft__self.current is the innermost running coroutine of
 * the thread (its root when none runs). A running coroutine's resumer is
 * where its yield goes (and its task the task it runs as part of); in a
 * coroutine that is not running both are stale and nothing reads them, so
 * a yield does not spend stores clearing them. A
 * coroutine gets its stack at its first resume and gives it back the
 * moment its function returns, so a finished coroutine holds no stack.
 * Coroutines resumed from a task run as part of it: when the task parks in
 * the loop, its whole chain stays RUNNING (parked) and only the task can
 * carry it on.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(WEFT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif
#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

__thread weft__thread_t weft__self __attribute__((tls_model("initial-exec")));

#if defined(WEFT_HAVE_VALGRIND)
atomic_int weft__valgrind = 1;
#endif

/* What is decided once per process, before its first switch. */
static void process_once(void)
{
    weft__ctx_select();
#if defined(WEFT_HAVE_VALGRIND)
    atomic_store_explicit(&weft__valgrind, RUNNING_ON_VALGRIND ? 1 : 0, memory_order_relaxed);
#endif
}

static pthread_once_t process_once_flag = PTHREAD_ONCE_INIT;

void weft__thread_init(weft__thread_t *t)
{
    /* before this thread's first switch, and so before the process's */
    pthread_once(&process_once_flag, process_once);
    t->root.kind = WEFT__KIND_ROOT;
    t->root.state = WEFT_CORO_RUNNING;
    t->root.thread = t;
    t->current = &t->root;
#if defined(WEFT_TSAN)
    t->root.tsan_fiber = __tsan_get_current_fiber();
#endif
#if defined(WEFT_ASAN)
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            t->root_bottom = addr;
            t->root_size = size;
        }
        pthread_attr_destroy(&attr);
    }
#endif
    t->ready = true;
}

void *weft__coro_switch(weft_coro_t *from, weft_coro_t *to, void *arg, bool from_done)
{
#if defined(WEFT_ASAN)
    const void *bottom = to->stack.base;
    size_t size = to->stack.size;
    if (to->kind == WEFT__KIND_ROOT) {
        bottom = weft__self.root_bottom;
        size = weft__self.root_size;
    }
    __sanitizer_start_switch_fiber(from_done ? NULL : &from->asan_fake, bottom, size);
#else
    (void)from_done;
#endif
#if defined(WEFT_TSAN)
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    void *r = weft__ctx_switch(&from->ctx, &to->ctx, arg);
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
    return r;
}

/* Where every coroutine starts, on its own stack. */
static void coro_entry(void *data, void *value)
{
    weft_coro_t *co = data;
    (void)value;
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    void *ret = co->fn(co->arg);
    weft__thread_t *t = &weft__self;
    weft_coro_t *to = co->resumer;
    if (co->xfer_out)
        *co->xfer_out = ret;
    co->xfer_out = co->xfer_in = NULL;
    co->state = WEFT_CORO_DEAD;
    co->resumer = NULL;
    t->current = to;
    weft__coro_switch(co, to, (void *)(intptr_t)WEFT_DONE, true);
    __builtin_unreachable();
}

/* Switches and returns the int the other side hands back: 0 from a
 * yield, WEFT_DONE from a coroutine's end. Without sanitizers it is a
 * tail call, so the side resumed later returns straight to its caller. */
static inline int switch_int(weft_coro_t *from, weft_coro_t *to)
{
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
    return (int)(intptr_t)weft__coro_switch(from, to, NULL, false);
#else
    return weft__ctx_switch_int(&from->ctx, &to->ctx, 0);
#endif
}

int weft__coro_init(weft_coro_t *co, int kind, void *(*fn)(void *), void *arg,
                    const weft_coro_opts_t *opts)
{
    size_t req = weft__stack_round(opts ? opts->stack_size : 0);
    if (req == 0)
        return -EINVAL;
    weft__zero(co, sizeof *co);
    co->kind = (uint8_t)kind;
    co->state = WEFT_CORO_CREATED;
    co->stack_req = (uint32_t)req;
    co->fn = fn;
    co->arg = arg;
    return weft__name_dup(opts ? opts->name : NULL, &co->name);
}

int weft__name_copy(const char *name, char **out)
{
    size_t n = strnlen(name, 31);
    if (!(*out = malloc(n + 1)))
        return -ENOMEM;
    memcpy(*out, name, n);
    (*out)[n] = '\0';
    return 0;
}

int weft__coro_prepare(weft_coro_t *co)
{
    weft__stack_guard_thread();
    if (co->copy) {
        /* the frame is made when it first enters the shared stack */
        weft__thread_t *t = &weft__self;
        if (!t->shared.base) {
            if (weft__stack_get(&t->shared, weft__shared_stack_size()) != 0)
                return -ENOMEM;
#if defined(WEFT_HAVE_VALGRIND)
            t->shared_vg =
                VALGRIND_STACK_REGISTER(t->shared.base, (char *)t->shared.base + t->shared.size);
#endif
        }
        co->stack = t->shared;
#if defined(WEFT_TSAN)
        co->tsan_fiber = __tsan_create_fiber(0);
#endif
        return 0;
    }
    if (weft__stack_get(&co->stack, co->stack_req) != 0)
        return -ENOMEM;
    weft__coro_prepare_held(co, 0);
    return 0;
}

void weft__coro_prepare_held(weft_coro_t *co, size_t reserve)
{
    weft__ctx_make(&co->ctx, co->stack.base, co->stack.size - reserve, coro_entry, co);
#if defined(WEFT_HAVE_VALGRIND)
    if (WEFT_ON_VALGRIND())
        co->vg_stack =
            VALGRIND_STACK_REGISTER(co->stack.base, (char *)co->stack.base + co->stack.size);
#endif
#if defined(WEFT_TSAN)
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
}

static void cs_buf_free(weft_coro_t *co);

void weft__coro_release(weft_coro_t *co)
{
    if (!co->stack.base)
        return;
    if (co->copy) {
        weft__thread_t *t = &weft__self;
        if (t->shared_owner == co)
            t->shared_owner = NULL;
        if (t->cs_vacated_by == co)
            t->cs_vacated_by = NULL;
        cs_buf_free(co);
#if defined(WEFT_TSAN)
        if (co->tsan_fiber) {
            __tsan_destroy_fiber(co->tsan_fiber);
            co->tsan_fiber = NULL;
        }
#endif
        co->stack.base = NULL; /* the shared stack stays the thread's */
        return;
    }
#if defined(WEFT_HAVE_VALGRIND)
    if (WEFT_ON_VALGRIND())
        VALGRIND_STACK_DEREGISTER(co->vg_stack);
#endif
#if defined(WEFT_TSAN)
    if (co->tsan_fiber) {
        __tsan_destroy_fiber(co->tsan_fiber);
        co->tsan_fiber = NULL;
    }
#endif
    /* co may live in this very stack (a task's body): nothing touches it
     * once the stack is back in the pool */
    weft__stack_t st = co->stack;
    co->stack.base = NULL;
    weft__stack_put(&st);
}

void weft__coro_fini(weft_coro_t *co)
{
    weft__coro_release(co);
    if (co->name) { /* most coroutines have none: no call then */
        free(co->name);
        co->name = NULL;
    }
}

int weft_coro_create(weft_coro_t **out, weft_coro_fn fn, void *arg, const weft_coro_opts_t *opts)
{
    if (!out || !fn)
        return -EINVAL;
    /* from the thread's slabs, as task objects are: a create and destroy
     * reuse the same warm object without malloc's bookkeeping */
    weft_coro_t *co = weft__slab_alloc(sizeof *co);
    if (!co)
        return -ENOMEM;
    int rc = weft__coro_init(co, WEFT__KIND_CORO, fn, arg, opts);
    if (rc < 0) {
        weft__slab_free(co, sizeof *co);
        return rc;
    }
    *out = co;
    return 0;
}

/* The second half of every resume: hands the value in, links `co` under
 * the running coroutine and switches to it, as a tail call. */
static inline __attribute__((always_inline)) int resume_enter(weft__thread_t *t, weft_coro_t *co,
                                                              void *value, void **out)
{
    /* the values cross through pointers the other side writes, so that
     * nothing is left to do here after the switch */
    void **in = co->xfer_in;
    if (in)
        *in = value;
    co->xfer_out = out; /* xfer_in is left as it is: every suspension sets it anew */
    weft_coro_t *cur = t->current;
    co->resumer = cur;
    co->task = cur->task;
    co->state = WEFT_CORO_RUNNING;
    t->current = co;
    return switch_int(cur, co);
}

/* A first resume's set-up, kept out of resume_slow: inlined there (as
 * link-time optimization may choose), it gives resume_slow a frame, and the
 * switch at its end stops being a tail call. */
static __attribute__((noinline)) int prepare_first(weft_coro_t *co)
{
    return weft__coro_prepare(co);
}

/* Everything but the plain resume of a suspended coroutine: errors, a
 * thread's first use, a first resume (which takes the stack). Kept out of
 * line so the common path saves no registers of its own (not `cold`:
 * every coroutine's first resume comes here, and `create` would pay for
 * the far jump). */
static __attribute__((noinline)) int resume_slow(weft_coro_t *co, void *value, void **out)
{
    if (!co || co->kind == WEFT__KIND_ROOT || co->kind == WEFT__KIND_TASK)
        return -EINVAL;
    weft__thread_t *t = weft__thr();
    switch (co->state) {
    case WEFT_CORO_DEAD:
        return -ESRCH;
    case WEFT_CORO_RUNNING:
        return -EBUSY;
    case WEFT_CORO_CREATED:
        if (prepare_first(co) != 0)
            return -ENOMEM;
        co->thread = t;
        break;
    default:
        if (co->thread != t)
            return -WEFT_ETHREAD;
        break;
    }
    return resume_enter(t, co, value, out);
}

int weft_coro_resume(weft_coro_t *co, void *value, void **out)
{
    weft__thread_t *t = &weft__self;
    /* t->root.thread is t once t is set up and NULL before (a new thread's
     * TLS starts zeroed, even where it reuses a dead thread's block), so
     * one compare is both the thread test and the set-up test */
    if (WEFT_LIKELY(co && co->state == WEFT_CORO_SUSPENDED && co->kind <= WEFT__KIND_GEN &&
                    co->thread == t->root.thread))
        return resume_enter(t, co, value, out);
    return resume_slow(co, value, out);
}

/* The yield of generators: as weft_coro_yield, returning what is sent. */
void *weft__coro_yield_to_resumer(weft_coro_t *co, void *value)
{
    void *in = NULL;
    co->xfer_in = &in;
    if (co->xfer_out)
        *co->xfer_out = value;
    weft__thread_t *t = &weft__self;
    weft_coro_t *to = co->resumer;
    co->state = WEFT_CORO_SUSPENDED;
    t->current = to;
    switch_int(co, to);
    return in;
}

int weft_coro_yield(void *value, void **in)
{
    weft__thread_t *t = weft__thr();
    weft_coro_t *co = t->current;
    if (co->kind != WEFT__KIND_CORO)
        return -WEFT_ENOTCORO;
    co->xfer_in = in;
    if (co->xfer_out)
        *co->xfer_out = value;
    weft_coro_t *to = co->resumer;
    co->state = WEFT_CORO_SUSPENDED;
    t->current = to;
    return switch_int(co, to);
}

int weft_coro_status(const weft_coro_t *co)
{
    return co ? co->state : -EINVAL;
}

weft_coro_t *weft_coro_current(void)
{
    weft_coro_t *co = weft__thr()->current;
    return co->kind == WEFT__KIND_CORO ? co : NULL;
}

const char *weft_coro_name(const weft_coro_t *co)
{
    if (!co)
        return NULL;
    return co->name ? co->name : "";
}

const char *weft_coro_status_name(int status)
{
    static const char *const names[] = {"created", "running", "suspended", "dead"};
    return status >= WEFT_CORO_CREATED && status <= WEFT_CORO_DEAD ? names[status] : "unknown";
}

int weft_coro_destroy(weft_coro_t *co)
{
    if (!co || co->kind != WEFT__KIND_CORO)
        return -EINVAL;
    if (co->state == WEFT_CORO_RUNNING)
        return -EBUSY;
    weft__coro_fini(co);
    weft__slab_free(co, sizeof *co);
    return 0;
}

/* ---- copy-stack mode ----
 *
 * Every copy-stack task of a thread runs on the thread's shared stack
 * (t->shared). Its live frames, [saved sp, top), stay there while it is
 * suspended until another copy-stack task needs the stack (lazy saving:
 * a task that runs again before anyone else pays no copy); then they are
 * copied into the task's buffer (co->saved, from the slabs, sized to fit)
 * and copied back before it next runs. A fresh task gets its first frame
 * when it first enters. Under ASan and in debug mode the save is eager
 * (after every step) so that the vacated region can be guarded: ASan
 * poisons it, debug mode fills it with a pattern checked at the next
 * entry. Nothing is needed below the saved sp: the switch is a call, so
 * no red zone is live across it (the ucontext build keeps a margin). */

#if defined(WEFT_ARCH_UCONTEXT)
#define CS_MARGIN 256u
#else
#define CS_MARGIN 0u
#endif
#define CS_PATTERN 0xEB
#define CS_SHARED_MIN ((size_t)1 << 20)

size_t weft__shared_stack_size(void)
{
    size_t d = weft__stack_round(0);
    return d > CS_SHARED_MIN ? d : CS_SHARED_MIN;
}

int weft__stack_mode_default(const weft_config_t *cfg)
{
    int m = cfg ? cfg->stack_mode : WEFT_STACK_DEFAULT;
    if (m == WEFT_STACK_OWN)
        return 0;
    if (m == WEFT_STACK_COPY)
        return 1;
    if (m != WEFT_STACK_DEFAULT)
        return -EINVAL;
    const char *env = getenv("WEFT_COPY_STACK");
    return env && *env && *env != '0';
}

int weft__stack_mode_pick(int loop_copy, const weft_task_opts_t *opts)
{
    int m = opts ? opts->stack_mode : WEFT_STACK_DEFAULT;
    if (m != WEFT_STACK_DEFAULT && m != WEFT_STACK_OWN && m != WEFT_STACK_COPY)
        return -EINVAL;
    int copy = m == WEFT_STACK_DEFAULT ? loop_copy > 0 : m == WEFT_STACK_COPY;
    /* a request for more stack than the shared one gets a stack of its own */
    if (copy && opts && opts->stack_size > weft__shared_stack_size())
        copy = 0;
    return copy;
}

static void cs_buf_free(weft_coro_t *co)
{
    if (!co->saved)
        return;
    if (co->saved_cap <= WEFT__SLAB_MAX)
        weft__slab_free(co->saved, co->saved_cap);
    else
        free(co->saved);
    co->saved = NULL;
    co->saved_len = co->saved_cap = 0;
}

static void cs_fatal(const char *what, const weft_coro_t *co, const void *addr)
{
    fprintf(stderr, "weft: %s (copy-stack task '%s', address %p)\n", what,
            co && co->name ? co->name : "(unnamed)", addr);
    abort();
}

/* Copies o's live frames off the shared stack into its buffer. */
static void cs_save(weft__thread_t *t, weft_coro_t *o)
{
    char *base = t->shared.base, *top = base + t->shared.size;
    char *sp = weft__ctx_saved_sp(&o->ctx);
    if (!sp || sp < base || sp > top)
        sp = base; /* cannot tell: all of it */
    sp = (size_t)(sp - base) > CS_MARGIN ? sp - CS_MARGIN : base;
    size_t len = (size_t)(top - sp);
    size_t want = len <= WEFT__SLAB_MAX ? weft__slab_round(len) : (len + 4095) & ~(size_t)4095;
    /* grow when too small; shrink only when far too big */
    if (len > o->saved_cap || (o->saved_cap > 1024 && want * 4 <= o->saved_cap)) {
        void *b = want <= WEFT__SLAB_MAX ? weft__slab_alloc(want) : malloc(want);
        if (!b)
            cs_fatal("out of memory saving a suspended stack", o, sp);
        cs_buf_free(o);
        o->saved = b;
        o->saved_cap = (uint32_t)want;
    }
#if defined(WEFT_ASAN)
    /* its frames' redzones are poisoned: the copy reads them too */
    ASAN_UNPOISON_MEMORY_REGION(sp, len);
#endif
    memcpy(o->saved, sp, len);
    o->saved_len = (uint32_t)len;
    t->shared_owner = NULL;
    t->cs_vacated = sp;
}

void weft__cs_enter(weft__thread_t *t, weft_coro_t *co)
{
    weft_coro_t *o = t->shared_owner;
    if (o == co)
        return;
    if (o)
        cs_save(t, o);
    char *base = t->shared.base, *top = base + t->shared.size;
    if (t->cs_vacated) {
#if defined(WEFT_ASAN)
        ASAN_UNPOISON_MEMORY_REGION(t->cs_vacated, (size_t)(top - t->cs_vacated));
#endif
        if (t->cs_vacated_by) {
            /* debug mode: nothing may have written there since */
            for (const unsigned char *p = (const unsigned char *)t->cs_vacated;
                 p < (const unsigned char *)top; p++)
                if (*p != CS_PATTERN)
                    cs_fatal("the copy-stack rule was broken: something wrote into the stack "
                             "of a suspended task",
                             t->cs_vacated_by, p);
            t->cs_vacated_by = NULL;
        }
        t->cs_vacated = NULL;
    }
#if defined(WEFT_HAVE_VALGRIND)
    /* memcheck holds what lies below the last task's stack pointer as
     * unaddressable: make the part we write addressable again (the copy
     * then brings the saved definedness) */
    if (WEFT_ON_VALGRIND())
        VALGRIND_MAKE_MEM_UNDEFINED(top - (co->ctx.sp ? co->saved_len : 256u),
                                    co->ctx.sp ? co->saved_len : 256u);
#endif
    if (!co->ctx.sp)
        weft__ctx_make(&co->ctx, base, t->shared.size, coro_entry, co);
    else
        memcpy(top - co->saved_len, co->saved, co->saved_len);
    t->shared_owner = co;
}

void weft__cs_leave(weft__thread_t *t, weft_coro_t *co, bool debug)
{
    if (t->shared_owner != co)
        return;
    cs_save(t, co);
    char *top = (char *)t->shared.base + t->shared.size;
    if (debug) {
        memset(t->cs_vacated, CS_PATTERN, (size_t)(top - t->cs_vacated));
        t->cs_vacated_by = co;
    }
#if defined(WEFT_ASAN)
    /* a use from elsewhere while it is suspended is reported by ASan */
    ASAN_POISON_MEMORY_REGION(t->cs_vacated, (size_t)(top - t->cs_vacated));
#endif
}
