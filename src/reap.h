/* reap.h - the child reaper: learning that a child process ended, and
 * collecting its status, without blocking the loop.
 *
 * A weft__child record lives inside the process handle (proc.c). Its
 * first part is what proc.c reads (pid, code, reaped, waiting) and the
 * calls it makes: start, wait, try, done, release. The second part is
 * the interface reap.c uses to wait through a per-thread io_uring WAITID
 * ring (backend/uring_reap.c): submit a wait, cancel it, collect what the
 * kernel did; the ring reports a completion through the callback stored
 * in the request's record, so the backend knows no task and no process.
 * See reap.c for the three ways a wait learns of the end, and the rules
 * that keep them from racing.
 */
#ifndef WEFT_REAP_H
#define WEFT_REAP_H

#include "io.h"

#include <signal.h>
#include <sys/types.h>

/* This thread's ring and its reference count (backend/uring_reap.c). */
typedef struct weft__reap_thread weft__reap_thread_t;

/* One child's WAITID request, as the ring sees it. */
typedef struct weft__ring_wait weft__ring_wait_t;
struct weft__ring_wait {
    weft__reap_thread_t *thread; /* the starting thread's record (NULL: none) */
    bool ring;                   /* waits on the child go through its ring */
    bool in_flight;              /* a request for the pid is in flight */
    bool failed;                 /* one ended in an error that reaped nothing */
    siginfo_t si;                /* what the kernel's waitid fills */
    /* Called by the ring, on the starting thread, when the request
     * completes: res 0 (reaped into si), -ECHILD (reaped by someone
     * else), -ECANCELED, or another -errno (nothing reaped). */
    void (*done)(weft__ring_wait_t *w, int res);
};

typedef struct weft__child {
    pid_t pid;
    int code;                 /* exit status, or -signal, once reaped */
    bool reaped;              /* set once, by whoever collected the status */
    bool no_pidfd;            /* pidfd_open failed: poll */
    unsigned waiting;         /* tasks in weft__reap_wait (several may poll) */
    int pidfd;                /* -1: none (not opened yet, or no pidfd support) */
    int64_t started;          /* CLOCK_MONOTONIC ns at the spawn's return */
    weft__loop_t *loop;       /* the loop that started it: waits belong there */
    weft_task_t *ring_waiter; /* the task parked on the ring's request */
    weft__io_t *pio;          /* the pidfd's, while pidfd >= 0 (its own memory: see reap.c) */
    weft__ring_wait_t rw;
} weft__child_t;

/* ---- what proc.c calls (reap.c) ---- */

/* pid was just started by this thread, whose loop is L: settles how a
 * wait will learn of its end (this thread's ring when it has several
 * children alive, else a pidfd opened by the first wait that must park,
 * so none for a child never waited for or ended by then; polling where
 * pidfds are missing). Never fails. */
void weft__reap_start(weft__child_t *c, pid_t pid, weft__loop_t *L);
/* Waits until the child has ended and collects its status (c->code).
 * Suspends. 0 (at once if already reaped), -ECANCELED, -ETIMEDOUT,
 * -EBUSY (another task waits through a pidfd or the ring), -EXDEV (the
 * child belongs to another worker's loop and is still running), or
 * -EPERM (not in a task, and still running). A cancelled wait leaves no
 * request behind. */
int weft__reap_wait(weft__child_t *c);
/* Collects the status if the child has ended; true then (also when it
 * already was). Never suspends. */
bool weft__reap_try(weft__child_t *c);
/* Whether the status is collected, taking in what this thread's ring
 * reaped for c at its last system call. Memory reads only, no waitpid:
 * a child that ended but was not reaped still counts as running. */
bool weft__reap_done(weft__child_t *c);
/* Whether a task is waiting on c (release must not be called then). */
static inline bool weft__reap_busy(const weft__child_t *c)
{
    return c->waiting != 0;
}
/* Ends the record: a child still running is killed (SIGKILL) and reaped
 * on the spot, so no zombie is left; its pidfd is closed and its
 * reference to the starting thread's ring dropped. Blocks for as long as
 * a killed process takes to end (microseconds). */
void weft__reap_release(weft__child_t *c);

/* ---- the ring (backend/uring_reap.c), used by reap.c ----
 *
 * A request is in flight only while a task waits on the child (so the
 * record the kernel writes into is alive), and is submitted, cancelled
 * and collected only on the thread that started the child. While one is
 * in flight, nothing else may reap the pid. */

/* At the spawn (w->done set): joins this thread's record and picks its
 * ring for the child when the thread has enough children alive, opening
 * it then. Leaves w->thread NULL where io_uring or WAITID cannot be used. */
void weft__uring_reap_attach(weft__ring_wait_t *w);
/* At the release (nothing in flight): drops the reference; the starting
 * thread closes its ring with its last child. */
void weft__uring_reap_detach(weft__ring_wait_t *w);
/* Whether a wait on w may go through the ring: one was picked at the
 * spawn and this is the thread that started the child. */
bool weft__uring_reap_here(const weft__ring_wait_t *w);
/* Makes L's backend watch the ring, submits a WAITID for pid and takes in
 * what completed at once (w->done may have run). 0, or -1: not
 * submitted (the ring failed or is full: take the pidfd way). */
int weft__uring_reap_submit(weft__ring_wait_t *w, pid_t pid, weft__loop_t *L);
/* Ends w's request: asks the kernel to cancel it and drains until its
 * completion is in (w->done runs with the status if the child ended
 * first, else -ECANCELED). Never suspends; blocks for a system call or
 * two. */
void weft__uring_reap_cancel(weft__ring_wait_t *w);
/* On the starting thread (elsewhere nothing): runs this thread's pending
 * task work, where the kernel reaps, and drains the completions. */
void weft__uring_reap_poll(weft__ring_wait_t *w);
/* On the starting thread (elsewhere nothing): drains the completions
 * already posted. Memory reads only. */
void weft__uring_reap_drain(weft__ring_wait_t *w);

#endif
