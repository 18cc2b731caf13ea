/* loop.h - the loop's internals, shared by the files that park and wake
 * tasks (task.c, timer.c, future.c, group.c, sync.c, queue.c, net.c...).
 *
 * The one rule every waiting primitive follows:
 *   1. rc = weft__wait_check(t): -ECANCELED / -ETIMEDOUT means "do not
 *      wait", return it;
 *   2. link the task's waiter record (in the task object, never on its
 *      stack) into the primitive's list;
 *   3. rc = weft__park(t, what, obj, unpark, until): the task sleeps until
 *      a waker calls weft__wake(t, status) after unlinking it, or until
 *      cancellation / the deadline / `until` fires: then the loop calls
 *      unpark(t) (which unlinks it) and wakes it with -ECANCELED,
 *      -ETIMEDOUT or 0 (for `until`).
 * Whoever wakes a task unlinks it first, so a woken waiter is never on a
 * list and a cancelled one takes nothing with it.
 */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- timers (timer.c): a 4-ary min-heap of timer records ---- */

#define WEFT__NO_INDEX UINT32_MAX

enum { WEFT__TIMER_TASK = 0, WEFT__TIMER_HANDLE };

typedef struct weft__timer {
    int64_t when;
    uint32_t idx; /* place in the heap, WEFT__NO_INDEX when not armed */
    uint8_t kind;
} weft__timer_t;

typedef struct weft__heap {
    weft__timer_t **v;
    uint32_t n, cap;
} weft__heap_t;

int weft__heap_push(weft__heap_t *h, weft__timer_t *t);
void weft__heap_remove(weft__heap_t *h, weft__timer_t *t);
static inline weft__timer_t *weft__heap_top(const weft__heap_t *h)
{
    return h->n ? h->v[0] : NULL;
}
void weft__heap_free(weft__heap_t *h);

/* ---- the ready queue: an intrusive FIFO of tasks and callbacks ---- */

enum { WEFT__Q_TASK = 0, WEFT__Q_HANDLE };

typedef struct weft__qnode {
    struct weft__qnode *next;
    uint8_t kind;
} weft__qnode_t;

typedef struct weft__runq {
    weft__qnode_t *head;
    weft__qnode_t **tail;
    size_t n;
} weft__runq_t;

static inline void weft__runq_init(weft__runq_t *q)
{
    q->head = NULL;
    q->tail = &q->head;
    q->n = 0;
}
static inline void weft__runq_push(weft__runq_t *q, weft__qnode_t *n)
{
    n->next = NULL;
    *q->tail = n;
    q->tail = &n->next;
    q->n++;
}
static inline weft__qnode_t *weft__runq_pop(weft__runq_t *q)
{
    weft__qnode_t *n = q->head;
    if (n) {
        q->head = n->next;
        if (!q->head)
            q->tail = &q->head;
        q->n--;
    }
    return n;
}

/* ---- waiter records and lists ---- */

typedef struct weft__waiter weft__waiter_t;
typedef struct weft__wlist {
    weft__waiter_t *head, *tail;
} weft__wlist_t;

struct weft__waiter {
    weft__waiter_t *prev, *next;
    weft__wlist_t *list;    /* the list it is on, NULL when on none */
    weft_task_t *task;      /* the task to wake, or NULL for a callback */
    void (*notify)(weft__waiter_t *w, void *src); /* callbacks: run instead */
    void *slot;             /* an item handed in or out */
    uintptr_t aux;          /* the primitive's own use (a count, a priority) */
};

static inline void weft__wlist_push(weft__wlist_t *l, weft__waiter_t *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    w->list = l;
}
static inline void weft__wlist_remove(weft__waiter_t *w)
{
    weft__wlist_t *l = w->list;
    if (!l)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->prev = w->next = NULL;
    w->list = NULL;
}
static inline void weft__wlist_push_front(weft__wlist_t *l, weft__waiter_t *w)
{
    w->prev = NULL;
    w->next = l->head;
    if (l->head)
        l->head->prev = w;
    else
        l->tail = w;
    l->head = w;
    w->list = l;
}
static inline weft__waiter_t *weft__wlist_pop(weft__wlist_t *l)
{
    weft__waiter_t *w = l->head;
    if (w)
        weft__wlist_remove(w);
    return w;
}

/* ---- the inbox: records any thread hands to a loop ---- */

/* A record posted to a loop from any thread (a finished pool job, later a
 * call_soon_threadsafe callback or a wake-up from another worker). The
 * loop's thread runs fn(L, p) in a later turn, outside any task, in
 * posting order per thread; also while the loop closes (L->closing), so
 * fn must then release what p holds. The record belongs to the poster
 * until fn runs. */
typedef struct weft__post weft__post_t;
struct weft__post {
    weft__post_t *next;
    void (*fn)(struct weft__loop *L, weft__post_t *p);
};

/* ---- tasks ---- */

/* What a waiting task waits on, for the task tree. */
enum {
    WEFT__WAIT_NONE = 0,
    WEFT__WAIT_YIELD,
    WEFT__WAIT_SLEEP,
    WEFT__WAIT_TASK,
    WEFT__WAIT_TASKS,
    WEFT__WAIT_FUTURE,
    WEFT__WAIT_GROUP,
    WEFT__WAIT_FD,
    WEFT__WAIT_LOCK,
    WEFT__WAIT_EVENT,
    WEFT__WAIT_COND,
    WEFT__WAIT_SEM,
    WEFT__WAIT_BARRIER,
    WEFT__WAIT_QUEUE,
    WEFT__WAIT_CHAN,
    WEFT__WAIT_POOL,
    WEFT__WAIT_OTHER
};

/* A task is two records. The handle (struct weft_task, what weft_task_t
 * points to) lives from spawn until its last reference goes: what a task
 * not yet started or already finished needs (its function, result,
 * status, references, awaiters, family). The body (weft__tbody_t) lives
 * only while the task runs, from its first step to its end: its
 * coroutine, its wait record, timer and deadlines. An own-stack task's
 * body sits at the top of its stack, in the page its first frames touch
 * anyway, so a parked task costs its stack page plus a handle; a
 * copy-stack task's comes from the slabs. t->b is NULL before the first
 * step and after the end: code that may meet such a task checks it. */
typedef struct weft__tbody {
    weft_coro_t co; /* the task's root coroutine (kind TASK) */
    weft__timer_t timer;
    int wake_status;  /* what the waker handed over */
    int timer_status; /* what the armed timer hands over */
    uint8_t wait_kind;
    uint8_t nocancel; /* the current wait ignores cancellation and deadlines */
    uint32_t deadline_depth;
    int64_t deadline; /* the effective deadline, WEFT_FOREVER if none */
    weft_coro_t *top; /* the innermost coroutine, while parked */
    void (*unpark)(weft_task_t *t);
    const void *wait_obj;
    weft__waiter_t waiter; /* its own wait record */
} weft__tbody_t;

struct weft_task {
    weft__qnode_t q;
    weft__tbody_t *b; /* while it runs, else NULL */
    struct weft__loop *loop;
    weft_task_fn fn;
    void *arg;
    void *result;
    int status;      /* the final status, once DONE */
    uint32_t refs;
    uint32_t cancel_req;
    uint32_t stack_req; /* the stack size it asked for, rounded */
    uint8_t tstate;  /* weft_task_state_t */
    uint8_t retrieved;
    uint8_t copy;    /* copy-stack mode */
    /* Several workers (worker.c). `woken`: a waker has claimed the current
     * park (set under the runtime lock, cleared when the task runs), so a
     * remote wake and a local timeout or cancellation never both wake it.
     * wake_post carries a wake from another worker to the task's own, or
     * a task spawned for another worker; cancel_post a weft_cancel. */
    uint8_t woken;
    uint8_t cancel_posted;
    weft__wlist_t done_waiters; /* awaiters and done callbacks */
    weft_task_t *all_prev, *all_next;
    weft_task_t *parent; /* who spawned it; may have ended (check liveness) */
    struct weft_group *group;
    weft_task_t *group_next;
    uint64_t id;
    struct weft__locals *locals; /* task-local values, shared copy-on-write (local.c) */
    char *name;                  /* owned; NULL if none */
    weft__post_t wake_post;
    weft__post_t cancel_post;
};

/* ---- callbacks ---- */

enum { WEFT__H_SCHEDULED = 0, WEFT__H_RAN, WEFT__H_CANCELLED };

struct weft_handle {
    weft__qnode_t q;
    weft__timer_t timer;
    struct weft__loop *loop;
    weft_callback_fn fn;
    void *arg;
    uint8_t hstate;
    uint8_t refs;
};

/* Hands p to L and wakes it if it may be blocked. Any thread; lock-free;
 * one eventfd write per empty -> non-empty transition, not per record. */
void weft__loop_post(struct weft__loop *L, weft__post_t *p);

/* ---- the loop ---- */

typedef struct weft__backend {
    int epfd;
    int wakefd; /* an eventfd other threads write to wake a blocked poll */
    int nwatch; /* fds registered: when 0 a busy loop need not poll */
    bool have_pwait2;
    int napfd;                 /* a blocking timerfd for weft__backend_nap, or -1 until one */
    struct weft__fdtab *fdtab; /* foreign fds waited on (fdwait.c), or NULL */
} weft__backend_t;

#define WEFT__TASK_CACHE 1024

typedef struct weft__loop {
    weft__thread_t *thr;
    weft__runq_t ready;
    weft__heap_t timers;
    weft__backend_t be;
    weft_task_t *current;
    weft_task_t *all; /* live tasks, newest first */
    size_t ntasks;
    uint64_t next_id;
    uint32_t since_poll;
    bool closing;
    bool sig_active; /* signals are watched: poll now and then even with no fd */
    bool debug;
    int64_t slow_step_ns;
    size_t stack_size;
    int copy_stack; /* tasks default to copy-stack mode (weft_config_t.stack_mode) */
    int64_t last_poll;
    int ntcache;
    weft_task_t *tcache[WEFT__TASK_CACHE]; /* finished task objects, for reuse */
    _Atomic(weft__post_t *) inbox; /* posted records, newest first */
    /* Posts promised by other threads (pool jobs whose task waits): while
     * non-zero the loop is not idle for good. The loop's thread only. */
    int inflight;
    struct weft__pool *pool; /* created at the first pool job (pool.c) */
    int pool_max;            /* weft_config_t.pool_threads, resolved */
    /* Several workers (worker.c). */
    struct weft__rt *rt;  /* the runtime this loop is worker `index` of */
    int index;
    /* Set while the loop may block in the backend; a poster that clears
     * it writes the loop's eventfd (a busy loop costs posters nothing). */
    _Atomic int parked;
    /* Tasks spawned "anywhere" that have not started: any idle worker may
     * take them (guarded by the runtime lock; anyq_n readable unlocked). */
    weft__runq_t anyq;
    _Atomic size_t anyq_n;
    unsigned idle_rounds; /* closing: idle waits without progress anywhere */
    _Atomic int idle;     /* blocked with nothing of its own to wait for */
    int64_t timer_spin_ns; /* weft_config_t.timer_spin_ns */
    unsigned long seen_progress;
    /* Streams holding writes for the end of the turn (stream.c, the
     * defer_writes option), sent by weft__stream_flush_deferred before
     * the loop polls; NULL when none. The loop's thread only. */
    struct weft_stream *deferred;
    struct weft_stream **deferred_tail; /* the last one's link, while any */
    /* The poll-before-blocking after such a flush (loop.c, spin_poll):
     * spins that found nothing in a row, and flushes left to skip; naps
     * that gathered less than two wake-ups in a row, and naps to skip. */
    bool spin_ok; /* spin and nap at all: the workers leave a CPU free */
    uint8_t spin_fail, spin_skip;
    uint16_t nap_fail, nap_skip;
    int64_t spin_end; /* when the last spin ended */
    uint64_t naps;    /* naps taken (for tests) */
} weft__loop_t;

/* Sends the writes every stream on L->deferred held during the turn and
 * empties the list (stream.c). Never suspends. */
void weft__stream_flush_deferred(weft__loop_t *L);

/* ---- several workers (worker.c) ---- */

/* The runtime: the workers of one weft_run. With one worker it is just
 * the loop of the calling thread plus this record. */
typedef struct weft__rt {
    int n;                  /* workers */
    weft__loop_t **loops;   /* loops[i]: worker i's loop, set before any task runs */
    _Atomic long live;      /* tasks created and not yet finished, every worker */
    _Atomic unsigned long progress; /* tasks finished, ever: a closing runtime
                                     * that stops moving has stuck tasks */
    _Atomic int nparked;    /* workers blocked (or about to block) in the backend */
    _Atomic unsigned long activity; /* records posted between threads, ever */
    unsigned long seen_activity, seen_done; /* worker 0's last look (weft__rt_stuck) */
    int quiet_looks;
    _Atomic bool closing;   /* main has returned: unwind everything */
    weft__post_t *cancel_all; /* one record per worker, for closing */
    pthread_t *threads;     /* workers 1..n-1 */
    /* weft_call_soon_threadsafe checks the state under post_mu: posts are
     * taken only while every loop exists (RUNNING). */
    pthread_mutex_t post_mu;
    pthread_cond_t state_cv;
    int state;
    int opened, go;      /* workers whose loop is open; 1: they may run */
    bool detached_start; /* made by weft_runtime_start (weft_runtime_join frees it) */
} weft__rt_t;

enum { WEFT__RT_STARTING = 0, WEFT__RT_RUNNING, WEFT__RT_CLOSED };

void weft__rt_init(weft__rt_t *rt);
void weft__rt_fini(weft__rt_t *rt);
void weft__rt_set_state(weft__rt_t *rt, int state);
/* weft_run_config's body on a runtime record the caller owns. */
int weft__run(weft__rt_t *rt, const weft_config_t *cfg, weft_task_fn main, void *arg,
              void **result);
/* The number of workers cfg asks for (resolved), or -EINVAL. */
int weft__config_check(const weft_config_t *cfg);

/* Non-zero while any runtime with more than one worker runs: only then do
 * the coordinating primitives take the runtime lock, so one worker costs
 * one predictable branch per call. */
extern _Atomic int weft__multi;

/* The runtime lock: one lock for the state of every coordinating
 * primitive (locks, events, queues, channels, futures, groups, task
 * completion), recursive per thread. weft__park drops it while the task
 * is parked and takes it back before returning, so a primitive's code
 * reads as if single-threaded. docs/design.md "Every core" says why one
 * lock and what 64 cores would need instead. */
void weft__big_lock(void);
void weft__big_unlock(void);
/* Drops every level the calling thread holds; returns how many (0: none). */
unsigned weft__big_release_all(void);
void weft__big_reacquire(unsigned depth);

static inline int weft__guard_take(void)
{
    if (WEFT_LIKELY(!atomic_load_explicit(&weft__multi, memory_order_relaxed)))
        return 0;
    weft__big_lock();
    return 1;
}
static inline void weft__guard_drop(int *taken)
{
    if (*taken)
        weft__big_unlock();
}
/* Holds the runtime lock (when several workers run) until the enclosing
 * block ends, whichever way it ends. */
#define WEFT__GUARD()                                                                              \
    int weft__guard_ __attribute__((cleanup(weft__guard_drop), unused)) = weft__guard_take()

/* A task's state, read from another worker or written where another
 * worker may read it: relaxed atomics (plain moves on x86 and arm64). */
static inline uint8_t weft__tstate(const weft_task_t *t)
{
    return __atomic_load_n(&t->tstate, __ATOMIC_RELAXED);
}
static inline void weft__set_tstate(weft_task_t *t, uint8_t s)
{
    __atomic_store_n(&t->tstate, s, __ATOMIC_RELAXED);
}
static inline uint32_t weft__cancel_req(const weft_task_t *t)
{
    return __atomic_load_n(&t->cancel_req, __ATOMIC_RELAXED);
}

/* Worker-side pieces (worker.c), called by loop.c and task.c. */
/* Places a new task (not yet on any queue) as opts ask: here, on worker
 * k (posted), or anywhere (the anyq). 0 or -EINVAL (no such worker). */
int weft__place(weft__loop_t *L, weft_task_t *t, int place, int worker);
/* A turn found nothing ready: takes one unstarted task from this loop's
 * anyq or steals from a busier worker's; true if it took one. Also
 * called every turn while the anyq holds tasks, so they never starve. */
bool weft__take_any(weft__loop_t *L);
/* Whether another worker holds unstarted tasks this loop could steal. */
bool weft__stealable(const weft__loop_t *L);
/* Posts t's wake to its own loop (t is another worker's). */
void weft__post_wake(weft_task_t *t);
/* Cancels t, which lives on another worker (guarded). */
void weft__cancel_remote(weft_task_t *t);
/* Wakes one parked worker so it can steal; none if none is parked. */
void weft__kick_idle(weft__rt_t *rt);
/* Runs a runtime of rt->n > 1 workers around the calling thread's loop
 * (worker 0): starts workers 1.., runs until main is done, unwinds every
 * task on every worker, joins the threads. Implemented in worker.c. */
int weft__rt_start_workers(weft__rt_t *rt, const weft_config_t *cfg);
void weft__rt_stop_workers(weft__rt_t *rt);
/* Worker 0, idle: true once every worker has had nothing to run, no
 * timer, fd or pool job, and no post for two looks 50 ms apart: a
 * deadlock. */
bool weft__rt_stuck(weft__rt_t *rt);
/* Wakes every parked worker (the last task of a closing runtime ended). */
void weft__rt_wake_all(weft__rt_t *rt);
/* Closing: cancel every task of every worker. */
void weft__rt_cancel_all(weft__rt_t *rt);

/* loop.c: one turn of L (false: nothing can ever become ready there);
 * opening and closing (not freeing) a worker's loop on the calling
 * thread. */
bool weft__loop_turn(weft__loop_t *L);
weft__loop_t *weft__loop_open(weft__rt_t *rt, int index, const weft_config_t *cfg, int *err);
void weft__loop_close(weft__loop_t *L);
/* Frees a closed loop's record and closes its eventfd, which outlives
 * weft__loop_close: once several workers run, free only after every
 * worker thread is joined (see weft__backend_fini). */
void weft__loop_free(weft__loop_t *L);
/* Makes a woken task ready on its own loop (its loop's thread). */
void weft__ready(weft_task_t *t);
/* A cancellation reaches t on its own loop's thread (guarded). */
void weft__interrupt_cancel(weft_task_t *t);
/* task.c: links a task placed on L into L's list of tasks and its ready
 * queue (L's thread). */
void weft__task_adopt(weft__loop_t *L, weft_task_t *t);

static inline weft__loop_t *weft__loop(void)
{
    return weft__self.loop;
}

/* The task running now, inside a task (also inside a coroutine that task
 * resumed); NULL in a callback or outside any loop. */
static inline weft_task_t *weft__task(void)
{
    return weft__self.ready ? weft__self.current->task : NULL;
}

int weft__wait_check(weft_task_t *t);
int weft__park(weft_task_t *t, int what, const void *obj, void (*unpark)(weft_task_t *),
               int64_t until);
void weft__wake(weft_task_t *t, int status);
/* Arms t's timer for a park; internal to the loop. */
void weft__timer_arm(weft__loop_t *L, weft__timer_t *tm, int64_t when);
void weft__timer_disarm(weft__loop_t *L, weft__timer_t *tm);

/* Task references and completion. */
void weft__task_ref(weft_task_t *t);
void weft__task_unref(weft_task_t *t);
int weft__task_new(weft__loop_t *L, weft_task_t **out, weft_task_fn fn, void *arg,
                   const weft_task_opts_t *opts);
/* Frees the thread's cache of task objects (when its loop closes). */
void weft__task_cache_trim(struct weft__loop *L);
/* Runs a task's first or next step on the loop's stack. */
void weft__task_run(weft__loop_t *L, weft_task_t *t);
/* Registers a done waiter on t (fires at once if t is done). */
void weft__task_watch(weft_task_t *t, weft__waiter_t *w);
/* Waits without interruption until t is done (used to let a cancelled
 * task unwind). Suspends. */
void weft__task_join_quietly(weft_task_t *t);

/* The backend (backend/epoll.c). */
int weft__backend_init(weft__backend_t *be);
/* weft__backend_fini closes every fd but the eventfd that
 * weft__backend_notify writes: another thread that read `parked` may
 * still be about to write it when this loop's thread leaves (a worker can
 * see the last task finish before the finisher's wake-up lands).
 * weft__backend_fini_notify closes that one, once no thread is left. */
void weft__backend_fini(weft__backend_t *be);
void weft__backend_fini_notify(weft__backend_t *be);
/* Waits for events up to timeout_ns (0: don't block; <0: forever),
 * wakes what they concern; returns the number handled or -errno. */
int weft__backend_poll(weft__loop_t *L, int64_t timeout_ns);
/* Wakes a blocked poll of that loop from any thread. */
void weft__backend_notify(weft__backend_t *be);
/* Sleeps ns without watching anything: events that come meanwhile wait
 * for the next poll, and whoever causes them wakes nobody. 0 or -errno. */
int weft__backend_nap(weft__backend_t *be, int64_t ns);

/* Signals (signal.c): weft_run's SIGINT cancels main (if SIGINT is at its
 * default); disarmed once main has returned; the state closes with the
 * loop, after every task has ended. */
int weft__signal_arm_sigint(weft_task_t *main);
void weft__signal_disarm_sigint(void);
void weft__signal_close(void);

/* Internal reporting (introspect.c). */
void weft__report_unretrieved(weft_task_t *t);
void weft__report_pending(weft_task_t *t);
void weft__report_slow(weft_task_t *t, int64_t ns);

#endif
