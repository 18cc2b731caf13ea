/* loop.h - one worker's event loop (loop.c): its ready queue, timers,
 * inbox, before-poll hooks and callbacks, and the turn that runs them.
 *
 * A loop belongs to one thread, found through weft__self.loop; only that
 * thread touches its queues, timers and backend. Other threads reach it
 * through its inbox (weft__loop_post). How a task waits and is woken is
 * in wait.h; what a task is, in task.h; several loops as one runtime, in
 * worker.h and runtime.h.
 */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H

#include "internal.h"
#include "spin.h"
#include "timer.h"
#include "wait.h"

#include <stdatomic.h>

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

/* ---- the inbox: records any thread hands to a loop ---- */

struct weft__loop;

/* A record posted to a loop from any thread (a finished pool job, a
 * weft_call_soon_threadsafe callback, a wake-up or a new task from
 * another worker). The loop's thread runs fn(L, p) in a later turn,
 * outside any task, in posting order per thread; also while the loop
 * closes (L->closing), so fn must then release what p holds. The record
 * belongs to the poster until fn runs. */
typedef struct weft__post weft__post_t;
struct weft__post {
    weft__post_t *next;
    void (*fn)(struct weft__loop *L, weft__post_t *p);
};

/* Hands p to L and wakes it if it may be blocked. Any thread; lock-free;
 * one eventfd write per empty -> non-empty transition, not per record. */
void weft__loop_post(struct weft__loop *L, weft__post_t *p);
/* The same from a loop's own thread, for a wake-up: inside a batch
 * (weft__batch_begin / _end, around a call that wakes many tasks at
 * once) the records bound for one loop leave together when the batch
 * ends, with one atomic exchange and at most one wake-up; outside one at
 * once (a wake-up must not wait for the rest of a turn: the waker may
 * compute for long, or spin for what the woken task will do). */
void weft__loop_post_batched(struct weft__loop *L, weft__post_t *p);
/* Opens and closes a batch of wake-ups on the calling thread's loop
 * (nestable; no-ops outside a loop). */
void weft__batch_begin(void);
void weft__batch_end(void);

/* ---- before-poll hooks (redis's beforeSleep) ----
 *
 * Work that must happen once per turn just before the loop polls (a
 * stream's held writes leave together there). A hook belongs to whoever
 * registered it; the loop only calls it: before_poll on every turn,
 * close once when the loop closes (then the hook is forgotten; close may
 * free it). */
typedef struct weft__hook weft__hook_t;
struct weft__hook {
    weft__hook_t *next;
    void (*before_poll)(struct weft__loop *L, weft__hook_t *h);
    void (*close)(struct weft__loop *L, weft__hook_t *h);
};

/* Registers h on the calling thread's loop L (L's thread only). */
void weft__loop_add_hook(struct weft__loop *L, weft__hook_t *h);

/* ---- callbacks (call_soon / call_later / call_at) ---- */

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

/* ---- the loop ---- */

struct weft__backend;
struct weft__rt;
struct weft__pool;
struct weft__fdtab;
struct weft__flushq;

typedef struct weft__loop {
    weft__thread_t *thr;
    weft__runq_t ready;
    weft__heap_t timers;
    struct weft__backend *be; /* the poller (backend.h), opaque here */
    /* Things waited on through the backend (parked fd waiters, streams
     * with output queued): while their sum is 0 a busy loop need not
     * poll. nwatch changes only on this loop's thread; a change made from
     * another thread goes to nwatch_away (either may be negative). */
    int nwatch;
    _Atomic int nwatch_away;
    weft_task_t *current;
    /* The locality slot (Go's runnext, Tokio's LIFO slot), in a runtime
     * of several workers that spreads: a task a running step of this
     * loop wakes goes here and runs as soon as that step ends, ahead of
     * the ready queue; its previous occupant goes to the queue's tail.
     * A chain of hand-offs through the slot shares one cooperative
     * budget (loop.c, run_next). `stepping` is set while run_ready runs
     * a step with the slot open; outside run_ready the slot is empty. */
    weft_task_t *next;
    bool stepping;
    /* An eager spawn (weft_task_opts_t.eager) from a task: the spawner
     * stepped aside (READY, on no queue) so that `eager` takes its first
     * step; weft__task_run then runs eager_back again at once. */
    weft_task_t *eager, *eager_back;
    weft_task_t *all; /* live tasks, newest first */
    /* generators started on this loop's thread and not finished (gen.c),
     * oldest first; closed when the runtime ends */
    weft__spin_t gens_mu;
    struct weft_gen *gens, *gens_tail;
    size_t ntasks;
    uint64_t next_id;
    uint32_t since_poll;
    bool closing;
    bool sig_active; /* signals are watched: poll now and then even with no fd */
    /* The runtime's signal state (signal.c): on worker 0's loop only,
     * made there on first use; other workers' tasks find it here. */
    struct weft__sig *_Atomic sig;
    bool debug;
    int64_t slow_step_ns;
    size_t stack_size;
    int copy_stack; /* tasks default to copy-stack mode (weft_config_t.stack_mode) */
    weft__hook_t *hooks;
    _Atomic(weft__post_t *) inbox; /* posted records, newest first */
    /* Posts promised by other threads (pool jobs whose task waits): while
     * non-zero the loop is not idle for good. The loop's thread only. */
    int inflight;
    struct weft__pool *pool; /* pool.c's, created at the first pool job */
    int pool_max;            /* weft_config_t.pool_threads, resolved */
    int pool_nice;           /* weft_config_t.pool_nice (0: inherit) */
    struct weft__fdtab *fdtab;   /* fdwait.c's foreign fds, or NULL */
    struct weft__flushq *flushq; /* flush.c's held writes, or NULL */
    /* Several workers (worker.h). */
    struct weft__rt *rt; /* the runtime this loop is worker `index` of */
    int index;
    bool several; /* rt->n > 1 */
    /* May run tasks and posts: worker 0 always; another worker once it
     * has seen worker 0 take object locks (weft__activate, worker.c).
     * The loop's thread only. */
    bool active;
    /* Set while the loop may block in the backend; a poster that clears
     * it writes the loop's eventfd (a busy loop costs posters nothing). */
    _Atomic int parked;
    /* Tasks spawned "anywhere" that have not started: any idle worker may
     * take them (guarded by anyq_mu; anyq_n readable unlocked). anyq_run
     * counts the pushes since the queue was last empty, so the head's
     * place in that run of spawns (anyq_run - anyq.n) tells a thief
     * whether the head's partner has started already (worker.c). */
    weft__runq_t anyq;
    _Atomic size_t anyq_n;
    size_t anyq_run;
    unsigned take_in; /* turns until phase 2 looks at unstarted tasks again (loop.c) */
    /* When the run in anyq began (its first push; 0 for what a thief
     * brought home): a small run is its owner's to start for a while
     * (worker.c, "A small run stays together"). Owner writes, thieves
     * read. */
    _Atomic int64_t anyq_t0;
    weft__spin_t anyq_mu;
    /* Counts only this loop's thread writes (the runtime sums them, so
     * no line is shared on the paths tasks take): tasks made here minus
     * tasks ended here; tasks ended here, ever; posts run here, ever. */
    _Atomic long live;
    _Atomic unsigned long ended, posts;
    /* Records this loop's thread posts to other loops during a turn
     * (weft__loop_post_batched), one chain per target worker, newest
     * first; `outgoing` lists the targets with a chain. */
    struct weft__outbox {
        weft__post_t *head, *tail;
    } *outbox;
    int *outgoing, nout;
    int batching; /* open weft__batch_begin()s */
    unsigned long posts_seen; /* `posts` at the last park (the idle spin) */
    unsigned idle_rounds; /* closing: idle waits without progress anywhere */
    _Atomic int idle;     /* blocked with nothing of its own to wait for */
    int64_t timer_spin_ns; /* weft_config_t.timer_spin_ns */
    unsigned long seen_progress;
    bool spare_cpu; /* the runtime's workers leave a CPU of the machine free */
#ifdef WEFT_STATS
    /* Scheduler counts for tuning (a build with -DWEFT_STATS prints them
     * to stderr as each loop is freed). The loop's thread writes all but
     * `notified`, which posters bump. */
    struct weft__stats {
        unsigned long turns, runs, started, steals, stolen, wake_out, post_out, parks, spins,
            spin_hits, runnext;
        _Atomic unsigned long notified;
        /* instants (weft_now): the loop opened, made its first turn,
         * started its first task; a spawner first woke it to steal */
        int64_t born, first_turn, first_start;
        _Atomic int64_t first_kick;
    } st;
#endif
    /* Memory given back when quiet (trim.c): the quiet period (0: never)
     * and the warm floor from the config; the trim due at trim_at (0:
     * none pending), and `ended` when its period began (or the last trim
     * ran): more than trim_trickle tasks ended since starts a new one. */
    int64_t trim_quiet_ns;
    size_t trim_floor;
    unsigned long trim_trickle;
    int64_t trim_at;
    unsigned long trim_base;
} weft__loop_t;

#ifdef WEFT_STATS
#define WEFT__STAT(L, f) ((L)->st.f++)
#define WEFT__STAT_ADD(L, f, n) ((L)->st.f += (n))
#define WEFT__STAT_FIRST(L, f) ((L)->st.f ? (void)0 : (void)((L)->st.f = weft_now()))
#else
#define WEFT__STAT_FIRST(L, f) ((void)0)
#define WEFT__STAT(L, f) ((void)0)
#define WEFT__STAT_ADD(L, f, n) ((void)0)
#endif

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

/* ---- the cooperative budget ----
 *
 * A task whose calls always complete at once (a stream that always has
 * data, a queue never empty, a drain with room) would otherwise never
 * give its worker back: no timer, signal, poll or other task would run.
 * So every task step starts with WEFT__BUDGET units (weft__self.budget,
 * reset by weft__task_run, that is whenever the task really suspended).
 * A suspending-capable call spends one at its entry (WEFT__COOP); the
 * call that finds the budget spent first yields its turn (to the back of
 * the ready queue, as weft_yield) and then, if the task was cancelled or
 * its deadline passed meanwhile, returns that (-ECANCELED / -ETIMEDOUT)
 * having done nothing. A call that never suspends (weft_stream_write)
 * spends one too (weft__coop_spend), so the next suspending call yields.
 * Streams spend one more per WEFT_COOP_BYTES moved (weft__coop_spend_bytes).
 * A yield for a spent budget makes the loop's next turn poll the fds
 * (loop.c), so a worker with a busy task still sees I/O every step.
 * The fast path is one decrement and one predictable branch; the yield
 * is outlined. */
#define WEFT__BUDGET WEFT_COOP_BUDGET /* weft.h */

/* Yields the running task's turn (budget spent) and refills the budget;
 * returns 0, or -ECANCELED / -ETIMEDOUT for a task that must not go on
 * (never inside an uninterruptible wait). Outside a task only refills. */
int weft__coop_yield(void);
/* The same, never returning an error (for a call whose answer exists
 * already and must not be replaced, such as awaiting a finished task). */
void weft__coop_turn(void);

static inline int weft__coop(void)
{
    if (WEFT_UNLIKELY(--weft__self.budget < 0))
        return weft__coop_yield();
    return 0;
}
static inline void weft__coop_soft(void)
{
    if (WEFT_UNLIKELY(--weft__self.budget < 0))
        weft__coop_turn();
}
static inline void weft__coop_spend(void)
{
    weft__self.budget -= weft__self.budget > 0;
}
/* A stream moved n bytes (weft.h: one more unit per WEFT_COOP_BYTES; a
 * TLS record costs far more than its call), so a task that moves bulk
 * data yields after some hundreds of KiB rather than after 128 calls of
 * any size. Never yields here: the next suspending call does. */
static inline void weft__coop_spend_bytes(size_t n)
{
    size_t units = n / WEFT_COOP_BYTES;
    int b = weft__self.budget;
    weft__self.budget = b > 0 && (size_t)b > units ? b - (int)units : 0;
}
/* At the entry of a suspending-capable public call returning int or
 * ssize_t: spends one unit, and returns the yield's error if any. */
#define WEFT__COOP()                                                                               \
    do {                                                                                           \
        int coop_rc_ = weft__coop();                                                               \
        if (WEFT_UNLIKELY(coop_rc_))                                                               \
            return coop_rc_;                                                                       \
    } while (0)

/* ---- memory given back when quiet (trim.c) ---- */

/* Sets L's quiet period and warm floor from cfg (checked already). */
void weft__trim_setup(weft__loop_t *L, const weft_config_t *cfg);
/* cfg's trim fields: 0 or -EINVAL. */
int weft__trim_check(const weft_config_t *cfg);
/* L is about to block in its backend (L's thread; trim_quiet_ns > 0):
 * trims now if L has been quiet for its quiet period, and returns how
 * long L may block: until a trim is due, 0 right after one (its wait,
 * worked out before, is stale), or -1 for as long as it likes. */
int64_t weft__trim_idle(weft__loop_t *L);
/* The process-wide counts of what trims gave back (weft_mem_stats). */
void weft__trim_totals(weft_mem_stats_t *st);

/* Arms tm on L (re-arms it if armed) for the instant `when`; out of
 * memory leaves it unarmed (the wait goes on without a timer). */
void weft__timer_arm(weft__loop_t *L, weft__timer_t *tm, int64_t when);
void weft__timer_disarm(weft__loop_t *L, weft__timer_t *tm);

/* One turn of L, in named phases (loop.c); false when nothing can ever
 * become ready there again (one worker: the program is stuck). */
bool weft__loop_turn(weft__loop_t *L);
/* Closes every generator started on L's thread and left suspended (its
 * body's clean-up runs, outside any task); called as L closes (gen.c). */
void weft__gen_close_all(weft__loop_t *L);
/* Opens a loop for worker `index` of rt on the calling thread; NULL with
 * *err set on failure. */
weft__loop_t *weft__loop_open(struct weft__rt *rt, int index, const weft_config_t *cfg, int *err);
/* Runs what other threads posted (the loop's thread). */
void weft__loop_drain(weft__loop_t *L);
/* Closes a loop (not its record): hooks, queued callbacks, timers, the
 * backend. Every task has ended. */
void weft__loop_close(weft__loop_t *L);
/* Frees a closed loop's record and the backend's eventfd, which outlives
 * weft__loop_close: once several workers run, free only after every
 * worker thread is joined (see backend.h). */
void weft__loop_free(weft__loop_t *L);
/* Whether anything waits on L's backend (its thread or another's). */
static inline bool weft__loop_watching(const weft__loop_t *L)
{
    return L->nwatch + atomic_load_explicit(&L->nwatch_away, memory_order_relaxed) > 0;
}

/* Whether L has something to do without waiting: a ready task or
 * callback, a post, unstarted tasks of its own. */
bool weft__loop_busy(const weft__loop_t *L);
/* Polls L's backend without blocking (the loop's thread). */
void weft__loop_poll_now(weft__loop_t *L);
/* Makes a woken task ready on its own loop (its loop's thread). */
void weft__ready(weft_task_t *t);
/* A cancellation reaches t on its own loop's thread (guarded). */
void weft__interrupt_cancel(weft_task_t *t);

#endif
