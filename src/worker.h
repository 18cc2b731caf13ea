/* worker.h - several loops as one runtime (worker.c): the runtime record
 * the workers share, where a new task goes, stealing,
 * and wake-ups and cancellations that cross workers.
 *
 * Each worker is an ordinary loop (loop.h) on its own thread; what
 * crosses workers goes through the target's inbox. How a runtime starts,
 * runs and stops is runtime.c's (runtime.h).
 */
#ifndef WEFT_WORKER_H
#define WEFT_WORKER_H

#include "task.h"

#include <pthread.h>

/* The runtime: the workers of one weft_run. With one worker it is just
 * the loop of the calling thread plus this record. */
typedef struct weft__rt {
    int n;                  /* workers */
    weft__loop_t **loops;   /* loops[i]: worker i's loop, set before any task runs */
    _Atomic int nparked;    /* workers blocked (or about to block) in the backend */
    _Atomic bool spread;    /* plain spawns go anywhere (weft_config_t.spread) */
    unsigned long seen_activity, seen_done; /* worker 0's last look (weft__rt_stuck) */
    int quiet_looks;
    _Atomic bool closing;   /* main has returned: unwind everything */
    /* Locks from the second worker on (docs/design.md "Every core"):
     * worker 0 sets `locking` (release, under post_mu) once it takes
     * object locks, at a point where it holds no guard; no other worker
     * runs anything before it has read it set (acquire). lock_post: the
     * record that asks worker 0 for it, posted once (lock_asked). */
    _Atomic bool locking;
    _Atomic bool lock_asked;
    weft__post_t lock_post;
    weft__post_t *cancel_all; /* one record per worker, for closing */
    pthread_t *threads;     /* workers 1..n-1 */
    /* weft_call_soon_threadsafe checks the state under post_mu: posts are
     * taken only while every loop exists (RUNNING). */
    pthread_mutex_t post_mu;
    pthread_cond_t state_cv;
    int state;
    int opened, go;      /* workers whose loop is open; 1: they may run */
    int turning;         /* workers past `go`, about to turn (main waits for all) */
    bool detached_start; /* made by weft_runtime_start (weft_runtime_join frees it) */
} weft__rt_t;

enum { WEFT__RT_STARTING = 0, WEFT__RT_RUNNING, WEFT__RT_CLOSED };

/* Counts kept per worker (each loop's own), summed: tasks made and not
 * yet ended, tasks ended ever (a closing runtime that stops moving has
 * stuck tasks), posts run ever. Any thread; a sum may lag a little. */
long weft__rt_live(const weft__rt_t *rt);
unsigned long weft__rt_ended(const weft__rt_t *rt);
/* The calling loop's thread counts one more of its own. */
static inline void weft__count(_Atomic long *c, long d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}
static inline void weft__countu(_Atomic unsigned long *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Where opts place a task spawned on L: WEFT_PLACE_DEFAULT resolved by
 * the runtime's rule (anywhere if it spreads, else here). */
static inline int weft__place_of(const weft__loop_t *L, const weft_task_opts_t *opts)
{
    int place = opts ? opts->place : WEFT_PLACE_DEFAULT;
    if (place == WEFT_PLACE_DEFAULT)
        place = atomic_load_explicit(&L->rt->spread, memory_order_relaxed) ? WEFT_PLACE_ANY
                                                                           : WEFT_PLACE_HERE;
    return place;
}

/* Places a new task (not yet on any queue) as opts ask: here, on worker
 * k (posted), or anywhere (the anyq). 0 or -EINVAL (no such worker). */
int weft__place(weft__loop_t *L, weft_task_t *t, int place, int worker);
/* A turn with several workers (loop.c says which): starts one unstarted task from this
 * loop's anyq, or, when that is empty, steals a run of another worker's
 * (any share when nothing else is ready here, only a large one while
 * this loop is busy); true if it started one. */
bool weft__take_any(weft__loop_t *L);
/* Whether another worker holds unstarted tasks this loop could steal. */
bool weft__stealable(const weft__loop_t *L);
/* How long until a young small run another worker holds becomes
 * stealable (ns), or -1 if there is none: an idle loop waits no longer
 * than that. */
int64_t weft__steal_wait(const weft__loop_t *L);
/* The oldest of L's own unstarted tasks, taken off its queue, if they
 * are a young small run (its owner starts them back to back, at most
 * WEFT__SMALL_RUN a turn); else NULL. */
#define WEFT__SMALL_RUN 8
weft_task_t *weft__take_small(weft__loop_t *L);
/* Posts t's wake to its own loop (t is another worker's). */
void weft__post_wake(weft_task_t *t);
/* Cancels t, which lives on another worker (guarded). */
void weft__cancel_remote(weft_task_t *t);
/* Interrupts t's wait with its cancellation if t is L's (called on L's
 * thread); false if t is another loop's, which then needs
 * weft__cancel_remote. */
bool weft__cancel_local(weft__loop_t *L, weft_task_t *t);
/* Wakes one parked worker so it can steal; none if none is parked. */
void weft__kick_idle(weft__rt_t *rt);
/* Worker 0, idle: true once every worker has had nothing to run, no
 * timer, fd or pool job, and no post for two looks 50 ms apart: a
 * deadlock. */
bool weft__rt_stuck(weft__rt_t *rt);
/* Worker 0 of a runtime of several, its locks off for now: turns them
 * on and lets the other workers run. The caller holds no guard (between
 * steps, or in a task outside any object's call). No-op once on. */
void weft__rt_lock_here(weft__rt_t *rt);
/* A spawn with opts, about to be made on the calling thread's loop
 * outside any guard: if it may run on another worker, worker 0 turns its
 * locks on now (weft__rt_lock_here) rather than at its next turn, so that
 * worker's first task need not wait for this step to end. */
void weft__rt_lock_spawn(const weft_task_opts_t *opts);
static inline void weft__rt_lock_before_spawn(const weft_task_opts_t *opts)
{
    if (WEFT_UNLIKELY(weft__self.nolock == WEFT__LOCKS_OFF_FOR_NOW))
        weft__rt_lock_spawn(opts);
}
/* Asks worker 0 to turn its locks on at its next turn (any thread of the
 * runtime, even inside a guard; the record goes once). */
void weft__rt_ask_lock(weft__rt_t *rt);
/* A worker other than 0, before the first thing it runs or locks: waits
 * until worker 0 takes locks (asking it), then marks L active. */
void weft__activate(weft__loop_t *L);
/* Wakes every parked worker (the last task of a closing runtime ended). */
void weft__rt_wake_all(weft__rt_t *rt);
/* Closing: cancel every task of every worker. */
void weft__rt_cancel_all(weft__rt_t *rt);

#endif
