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

/* Places a new task (not yet on any queue) as opts ask: here, on worker
 * k (posted), or anywhere (the anyq). 0 or -EINVAL (no such worker). */
int weft__place(weft__loop_t *L, weft_task_t *t, int place, int worker);
/* Each turn with several workers: starts one unstarted task from this
 * loop's anyq, or, when that is empty, steals a run of another worker's
 * (any share when nothing else is ready here, only a large one while
 * this loop is busy); true if it started one. */
bool weft__take_any(weft__loop_t *L);
/* Whether another worker holds unstarted tasks this loop could steal. */
bool weft__stealable(const weft__loop_t *L);
/* Posts t's wake to its own loop (t is another worker's). */
void weft__post_wake(weft_task_t *t);
/* Cancels t, which lives on another worker (guarded). */
void weft__cancel_remote(weft_task_t *t);
/* Wakes one parked worker so it can steal; none if none is parked. */
void weft__kick_idle(weft__rt_t *rt);
/* Worker 0, idle: true once every worker has had nothing to run, no
 * timer, fd or pool job, and no post for two looks 50 ms apart: a
 * deadlock. */
bool weft__rt_stuck(weft__rt_t *rt);
/* Wakes every parked worker (the last task of a closing runtime ended). */
void weft__rt_wake_all(weft__rt_t *rt);
/* Closing: cancel every task of every worker. */
void weft__rt_cancel_all(weft__rt_t *rt);

#endif
