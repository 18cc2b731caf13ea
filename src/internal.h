/* internal.h - what weft's source files share and users never see.
 *
 * Owns the layout of a coroutine (a task is a coroutine with more) and the
 * per-thread state: the thread's own context, the innermost running
 * coroutine, the loop if one runs here, and the pools. Every internal
 * symbol starts with weft__ and has hidden visibility (the library is
 * built with -fvisibility=hidden; only WEFT_API names are exported).
 */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include "weft.h"
#include "arch/ctx.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#define WEFT_HAVE_VALGRIND 1
#endif
#endif

#if defined(WEFT_HAVE_VALGRIND)
#include <stdatomic.h>
/* RUNNING_ON_VALGRIND, read once (coro.c, before the process's first
 * switch; 1 until then): the client requests on hot paths (a stack
 * registered per coroutine, a page marked per reused stack) are skipped
 * when the program runs natively, where each still costs a dozen
 * instructions. */
extern atomic_int weft__valgrind;
#define WEFT_ON_VALGRIND()                                                                         \
    __builtin_expect(atomic_load_explicit(&weft__valgrind, memory_order_relaxed), 0)
#endif

#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Zeroes n bytes through libc's memset even when n is a constant: GCC
 * inlines a constant memset of a hundred bytes or more as `rep stos`,
 * whose start-up costs more than libc's vector stores at these sizes
 * (measured on spawn and await of a task: 66 -> 57 ns). For the objects
 * made on hot paths; elsewhere plain memset is fine. */
static inline void weft__zero(void *p, size_t n)
{
    __asm__("" : "+r"(n));
    memset(p, 0, n);
}
#define WEFT_CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ---- stacks (stack.c) ---- */

typedef struct weft__stack {
    void *base;  /* lowest usable address; NULL when none is held */
    size_t size; /* usable bytes above base */
} weft__stack_t;

/* The guard below every stack: two pages (at least 8 KiB), so a frame of
 * up to 8 KiB cannot jump over it into the next stack. Wider costs page
 * tables: a million idle stacks pay 16 bytes each per 8 KiB of stride
 * (docs/design.md, "Memory per task"). */
#define WEFT__STACK_GUARD_MIN (8u * 1024u)
#define WEFT__STACK_MIN (16u * 1024u)
#define WEFT__STACK_MAX ((size_t)1 << 30)

/* Rounds a requested size (0 = default) to what a stack really gets;
 * returns 0 when the request is over WEFT__STACK_MAX. */
size_t weft__stack_round(size_t req);
int weft__stack_get(weft__stack_t *st, size_t size);
void weft__stack_put(weft__stack_t *st);
/* Installs, once per process, the SIGSEGV handler that names the coroutine
 * whose stack overflowed, and gives the calling thread an alternate signal
 * stack for it. Cheap after the first call on a thread. */
void weft__stack_guard_thread(void);

/* ---- coroutines (coro.c) ---- */

enum weft__coro_kind { WEFT__KIND_CORO = 0, WEFT__KIND_GEN, WEFT__KIND_TASK, WEFT__KIND_ROOT };

struct weft_task;
struct weft__thread;

struct weft_coro {
    weft__ctx_t ctx;
    weft__stack_t stack;
    uint8_t state;                /* weft_coro_status_t */
    uint8_t kind;                 /* enum weft__coro_kind */
    uint8_t parked;               /* suspended in the loop as part of its task */
    uint8_t closing;              /* generators: a close is being delivered */
    uint8_t copy;                 /* copy-stack task: runs on its thread's shared stack */
    uint32_t stack_req;           /* requested usable stack bytes (rounded) */
    weft_coro_t *resumer;         /* who to yield to; NULL when not running */
    struct weft_task *task;       /* the task it runs as part of, if any */
    struct weft__thread *thread;  /* set when first resumed: it never moves */
    void *(*fn)(void *arg);
    void *arg;
    void **xfer_in;  /* where the next resume's value goes (the yielder's `in`) */
    void **xfer_out; /* where the next yielded value goes (the resumer's `out`) */
    char *name; /* NULL, or a malloc'd copy */
    /* copy-stack only: the live part of its stack while another task
     * uses the shared stack (saved_len bytes, ending at the stack's top) */
    void *saved;
    uint32_t saved_len, saved_cap;
#if defined(WEFT_ASAN)
    void *asan_fake;
#endif
#if defined(WEFT_TSAN)
    void *tsan_fiber;
#endif
#if defined(WEFT_HAVE_VALGRIND)
    unsigned vg_stack;
#endif
};

#define WEFT__STACK_CACHE 64

typedef struct weft__thread {
    weft_coro_t root;     /* this thread's own stack, as a context */
    weft_coro_t *current; /* innermost running coroutine (&root outside any) */
    struct weft__loop *loop;
    bool ready;
    bool altstack_done;
    /* Whether this thread skips the locks of coordinating objects
     * (spin.h: WEFT__LOCKS_ON, _OFF_FOR_NOW, _OFF). Zero, locks on, for
     * every thread that runs no loop of its own. */
    uint8_t nolock;
    /* What the running task may still do without waiting before its next
     * suspending-capable call yields its turn (loop.h, the cooperative
     * budget); set to WEFT__BUDGET at the start of each task step. */
    int budget;
    int nstacks;                        /* free default-size stacks cached here */
    void *stacks[WEFT__STACK_CACHE];
    /* copy-stack mode (coro.c): the thread's shared stack, the task whose
     * live frames are on it now, and the thread's slabs (slab.c) */
    weft__stack_t shared;
    weft_coro_t *shared_owner;
    char *cs_vacated;          /* low end of the region last vacated by a save */
    weft_coro_t *cs_vacated_by; /* its task, while a debug pattern guards it */
    struct weft__slabs *slabs;
    /* a loop that trims when quiet runs on this thread (trim.c sets it,
     * the loop's close clears it): empty slab segments then stay warm
     * until that trim instead of going back past the 64 MiB mark */
    bool slab_defer;
#if defined(WEFT_HAVE_VALGRIND)
    unsigned shared_vg;
#endif
#if defined(WEFT_ASAN)
    const void *root_bottom;
    size_t root_size;
#endif
} weft__thread_t;

/* initial-exec: one TLS access is a single instruction, where the
 * general-dynamic model a shared library gets by default would call
 * __tls_get_addr on every switch. The struct stays small (under 1 KiB)
 * so a dlopen'ed libweft still fits glibc's static TLS reserve. */
extern __thread weft__thread_t weft__self __attribute__((tls_model("initial-exec")));

void weft__thread_init(weft__thread_t *t);

static inline weft__thread_t *weft__thr(void)
{
    weft__thread_t *t = &weft__self;
    if (WEFT_UNLIKELY(!t->ready))
        weft__thread_init(t);
    return t;
}

/* Initialises a coroutine object in place (the caller allocated it);
 * takes no stack yet: one is taken at the first resume. */
int weft__coro_init(weft_coro_t *co, int kind, void *(*fn)(void *), void *arg,
                    const weft_coro_opts_t *opts);
/* Gives back the stack of a coroutine that will not run again. */
void weft__coro_release(weft_coro_t *co);
/* Releases what weft__coro_init and running took (stack, name). */
void weft__coro_fini(weft_coro_t *co);
/* Switches from the running coroutine `from` to `to`, with sanitizer
 * bookkeeping; `from_done` says `from` will never run again. */
void *weft__coro_switch(weft_coro_t *from, weft_coro_t *to, void *arg, bool from_done);
/* Gives `co` its stack and its first frame; 0 or -ENOMEM. */
int weft__coro_prepare(weft_coro_t *co);
/* A coroutine's or task's name: *out gets a malloc'd copy of at most 31
 * characters, or NULL for a NULL or empty name. 0 or -ENOMEM. The unnamed
 * case, which most creates and spawns are, makes no call. */
int weft__name_copy(const char *name, char **out);
static inline int weft__name_dup(const char *name, char **out)
{
    *out = NULL;
    if (!name || !name[0])
        return 0;
    return weft__name_copy(name, out);
}
/* The own-stack half of weft__coro_prepare for a coroutine whose stack is
 * already in co->stack; its frames start `reserve` bytes below the top
 * (a task keeps its body there). Never fails. */
void weft__coro_prepare_held(weft_coro_t *co, size_t reserve);
/* The running `co` suspends and hands `value` to its resumer; returns
 * what the next resume passes in. */
void *weft__coro_yield_to_resumer(weft_coro_t *co, void *value);

/* ---- copy-stack mode (coro.c) ---- */

/* The usable size of each thread's shared stack: the default stack size,
 * at least 1 MiB (committed only as deep as tasks reach). */
size_t weft__shared_stack_size(void);
/* The loop-wide default mode from a config and WEFT_COPY_STACK: 0 own
 * stacks, 1 copy-stack, or -EINVAL for a bad cfg->stack_mode. */
int weft__stack_mode_default(const weft_config_t *cfg);
/* Whether a task spawned with opts on a loop whose default is
 * `loop_copy` runs copy-stack (1), on its own stack (0), or -EINVAL. */
int weft__stack_mode_pick(int loop_copy, const weft_task_opts_t *opts);
/* Before a copy-stack task's step: puts its live frames on the shared
 * stack (saving whoever's are there), or its first frame. Out of memory
 * for a save is fatal (reported, abort), like a stack overflow. */
void weft__cs_enter(weft__thread_t *t, weft_coro_t *co);
/* After its step, where saving is eager (ASan, debug mode): saves the
 * live frames and guards what they vacate (ASan poison; with `debug`, a
 * pattern the next entry checks). */
void weft__cs_leave(weft__thread_t *t, weft_coro_t *co, bool debug);

/* ---- slabs (slab.c): small objects in per-thread slabs ---- */

/* Memory for an object of `size` bytes, 16-aligned, from the calling
 * thread's slabs (larger than WEFT__SLAB_MAX: malloc); NULL when out of
 * memory. Under ASan and Valgrind it is plain malloc, so their checks see
 * every object. */
#define WEFT__SLAB_MAX 16384u
void *weft__slab_alloc(size_t size);
/* Gives back what weft__slab_alloc(size) returned; any thread. */
void weft__slab_free(void *p, size_t size);
/* What an allocation of `size` really gets (its size class). */
size_t weft__slab_round(size_t size);
/* At thread exit: unmaps the thread's slabs if every object came back. */
void weft__slab_thread_exit(weft__thread_t *t);
/* The trimming loop on the calling thread closes (weft__thread_t
 * .slab_defer): empty segments past the 64 MiB mark go back now. */
void weft__slab_defer_end(void);

/* ---- memory given back after a quiet period (trim.c) ---- */

/* What one trim gave back to the kernel. */
typedef struct weft__trim_counts {
    uint64_t stacks, stack_bytes;     /* free stacks past the floor, their resident bytes */
    uint64_t segments, segment_bytes; /* empty slab segments past the floor, likewise */
} weft__trim_counts_t;

/* Resident bytes of [p, p + len), p page-aligned (mincore); 0 if unknown. */
size_t weft__resident(const void *p, size_t len);
/* The calling thread's stack cache keeps `floor` bytes of stacks, the rest
 * goes to the shared store; each size class of the store keeps its
 * warmest `floor` bytes of free stacks, and the pages of the others go
 * back (MADV_DONTNEED; they stay pooled, cold). Counts into *n. */
void weft__stack_trim(size_t floor, weft__trim_counts_t *n);
/* Free stacks pooled (the store and the calling thread's cache), and how
 * many of them are warm (pages not given back). */
void weft__stack_counts(uint64_t *nfree, uint64_t *nwarm);
/* The calling thread's empty slab segments past `floor` bytes give their
 * pages back (they stay the thread's, cold). Counts into *n. */
void weft__slab_trim(size_t floor, weft__trim_counts_t *n);
/* The calling thread's empty slab segments still warm. */
size_t weft__slab_warm(void);

/* ---- the loop (loop.c), as far as coroutines need to know it ---- */

struct weft__loop;

#endif
