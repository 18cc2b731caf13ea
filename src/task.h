/* task.h - what a task is (task.c): its handle and its body, their
 * lifetimes, and the calls the loop and the primitives make on tasks.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include "loop.h"
#include "spin.h"

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
    int wake_status;    /* what the waker handed over */
    int8_t timer_status; /* what the armed timer hands over: 0 or -ETIMEDOUT */
    uint8_t nocancel;   /* the current wait ignores cancellation and deadlines */
    weft_deadline_t *scope; /* the innermost open deadline scope, or NULL */
    int64_t deadline; /* the effective deadline (the scopes' earliest), WEFT_FOREVER if none */
    weft_coro_t *top; /* the innermost coroutine, while parked */
    const weft__wait_kind_t *wait_kind; /* what it waits on (NULL: nothing) */
    void (*unpark)(weft_task_t *t);
    const void *wait_obj;
    weft__waiter_t waiter; /* its own wait record */
} weft__tbody_t;

struct weft__locals;

/* Whoever supervises a task (a task group, group.c) is told when it ends,
 * on the task's loop, before its awaiters wake. */
typedef struct weft__super weft__super_t;
struct weft__super {
    void (*child_done)(weft__super_t *s, weft_task_t *child);
    /* Set by the supervisor around a weft__task_new (under its own lock):
     * the new task is made (counted live, its handle complete) but not
     * placed: on no queue and in no loop's list of tasks, it cannot run
     * and has no stack. The supervisor places it later with weft__place
     * (worker.h; WEFT_PLACE_WORKER to send it to a given worker), from
     * any loop's thread, or cancels it and places it, to end it unrun.
     * A group's limit (weft_group_set_limit) is built on this. */
    bool hold;
};

struct weft_task {
    weft__qnode_t q;
    weft__tbody_t *b; /* while it runs, else NULL */
    weft__loop_t *loop;
    weft_task_fn fn;
    void *arg;
    void *result;
    int status;      /* the final status, once DONE */
    uint32_t refs;
    /* WEFT__TASK_LIVE from spawn until the record is freed (then 0), and
     * the handles given out (weft_spawn's out, weft_shield) not yet
     * released: what lets a stale handle be told (weft__task_stale). */
    uint32_t magic;
    uint32_t handles;
    uint32_t cancel_req;
    uint32_t stack_req; /* the stack size it asked for, rounded */
    uint8_t tstate;  /* weft_task_state_t */
    uint8_t retrieved;
    uint8_t copy;    /* copy-stack mode */
    /* `woken`: the current park has been claimed (wait.h), so a wake, a
     * timeout and a cancellation never both end it; 1 whenever the task
     * is not parked. wake_post carries a wake from another worker to the
     * task's own loop, or a task placed on another worker; a weft_cancel
     * from another worker posts a record of its own, while
     * cancel_posted. */
    uint8_t woken;
    uint8_t cancel_posted;
    uint8_t several; /* parked on several objects' lists at once (a select) */
    uint8_t eager;   /* spawned eager: listed on its loop, on no queue until weft__task_eager */
    uint8_t anywhere; /* placed anywhere (worker.c): woken, it may take the locality slot */
    weft__spin_t mu; /* guards done_waiters and the end (tstate DONE) */
    weft__wlist_t done_waiters; /* awaiters and done callbacks */
    weft_task_t *all_prev, *all_next;
    weft_task_t *parent; /* who spawned it; may have ended (check liveness) */
    weft__super_t *super;    /* its supervisor, or NULL */
    weft_task_t *super_next; /* the supervisor's list of children */
    uint64_t id;
    struct weft__locals *locals; /* task-local values, shared copy-on-write (local.c) */
    char *name;                  /* owned; NULL if none */
    weft__post_t wake_post;
    const struct weft__why *why; /* why it was first cancelled, or NULL */
};

/* Why a task was cancelled (weft_cancel_with): the first reason given
 * sticks. Built-in codes without a message are static records; one with
 * a message is the task's, freed with it. */
typedef struct weft__why {
    int code;
    bool heap;
    const char *msg; /* NULL: none */
} weft__why_t;

/* weft_cancel_with's body (msg copied; NULL: none). */
int weft__cancel_why(weft_task_t *t, int code, const char *msg);
/* The reason code t itself was cancelled with (WEFT_CANCEL_REQUESTED if
 * none was given): what a waiter passes on to the tasks it cancels. */
int weft__own_reason(const weft_task_t *t);

/* A task's state, read from another worker or written where another
 * worker may read it: relaxed atomics (plain moves on x86 and arm64). */
static inline uint8_t weft__tstate(const weft_task_t *t)
{
    return __atomic_load_n(&t->tstate, __ATOMIC_ACQUIRE); /* DONE is stored with release */
}
static inline void weft__set_tstate(weft_task_t *t, uint8_t s)
{
    __atomic_store_n(&t->tstate, s, __ATOMIC_RELAXED);
}
static inline uint32_t weft__cancel_req(const weft_task_t *t)
{
    return __atomic_load_n(&t->cancel_req, __ATOMIC_RELAXED);
}

/* -ECANCELED or -ETIMEDOUT if t must not wait now, else 0 (wait.h).
 * t runs. */
static inline int weft__wait_check(const weft_task_t *t)
{
    if (weft__cancel_req(t))
        return -ECANCELED;
    if (WEFT_UNLIKELY(t->b->deadline != WEFT_FOREVER) && weft_now() >= t->b->deadline)
        return -ETIMEDOUT;
    return 0;
}

/* In an unpark: t is being discarded (the loop closes and t can never
 * finish), so the call it waits in never returns: an object that counts
 * tasks inside its calls (`busy`) must count this one out here. */
static inline bool weft__discarding(const weft_task_t *t)
{
    return t->b->co.state == WEFT_CORO_DEAD;
}

/* Whether l holds a waiter whose park could still be claimed (not one
 * being interrupted, which stays linked only until its task runs); its
 * object's lock is held. Usually the first one answers. */
static inline bool weft__wlist_waiting(const weft__wlist_t *l)
{
    for (const weft__waiter_t *w = l->head; w; w = w->next)
        if (!w->task || !__atomic_load_n(&w->task->woken, __ATOMIC_RELAXED))
            return true;
    return false;
}

/* Takes back one cancellation request of t, if it has one (t's own
 * code: a group's wait undoing the cancellation the group made). */
static inline void weft__uncancel_one(weft_task_t *t)
{
    uint32_t v = __atomic_load_n(&t->cancel_req, __ATOMIC_RELAXED);
    while (v && !__atomic_compare_exchange_n(&t->cancel_req, &v, v - 1, true, __ATOMIC_RELAXED,
                                             __ATOMIC_RELAXED))
        ;
}

/* Claims t's current park for an interrupter (wait.h), which holds no
 * lock: true for exactly one claimant per park. While this thread takes
 * no locks (spin.h: one worker, or worker 0 alone so far), plain loads
 * and stores; else an atomic compare-and-swap. */
static inline bool weft__claim_any(weft_task_t *t)
{
    if (WEFT_LIKELY(!weft__multi_now())) {
        if (t->woken)
            return false;
        t->woken = 1;
        return true;
    }
    uint8_t zero = 0;
    return __atomic_compare_exchange_n(&t->woken, &zero, 1, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

/* Claims t's current park for a waker that holds the lock of what t
 * waits on. When t is on the waker's own worker and waits on that one
 * object, every other claimant is either on this thread (an interrupter)
 * or holds the same lock (a waker elsewhere), so a plain load and store
 * do; a select's task, or one on another worker, takes the atomic way. */
static inline bool weft__claim(weft_task_t *t)
{
    if (WEFT_LIKELY(t->loop == weft__self.loop && !t->several)) {
        if (__atomic_load_n(&t->woken, __ATOMIC_RELAXED))
            return false;
        __atomic_store_n(&t->woken, 1, __ATOMIC_RELAXED);
        return true;
    }
    return weft__claim_any(t);
}

/* Under the list's object lock: unlinks and returns the first waiter
 * whose park the caller could claim (a callback record is always taken),
 * or NULL when there is none; the caller then hands it what it is owed
 * and weft__deliver()s it. Waiters being interrupted are left where
 * they are. Inline: every hand-over between two tasks takes one. */
static inline weft__waiter_t *weft__wlist_take(weft__wlist_t *l)
{
    for (weft__waiter_t *w = l->head; w; w = w->next) {
        if (!w->task || weft__claim(w->task)) {
            weft__wlist_remove(w);
            return w;
        }
    }
    return NULL;
}

/* Stale handles (weft.h, "Stale handles"). A task record comes from the
 * slabs, which stay mapped while the runtime runs and are type-stable
 * enough for one word: a freed record reads magic 0 (zeroed at free, or
 * a cold page) until a later allocation of its size class reuses it. So
 * a handle used after its task was freed is caught until then, never
 * after; under ASan and Valgrind the record is malloc'd memory and such a
 * use is theirs to report. */
#define WEFT__TASK_LIVE 0x6b736174u /* "task" */
static inline bool weft__task_stale(const weft_task_t *t)
{
    return WEFT_UNLIKELY(__atomic_load_n(&t->magic, __ATOMIC_RELAXED) != WEFT__TASK_LIVE);
}
/* What a call on a stale object returns: -EBADF, or with WEFT_DEBUG set
 * (not "0") a message naming the object and the call, then abort(). */
int weft__stale(const char *what, const void *obj, const char *call);

/* References (any worker). */
void weft__task_ref(weft_task_t *t);
void weft__task_unref(weft_task_t *t);
/* weft_spawn's body on loop L (the caller's); super (may be NULL)
 * supervises the new task from its start. */
int weft__task_new(weft__loop_t *L, weft_task_t **out, weft_task_fn fn, void *arg,
                   const weft_task_opts_t *opts, weft__super_t *super);
/* Links a task placed on L into L's list of tasks and its ready queue
 * (L's thread). */
void weft__task_adopt(weft__loop_t *L, weft_task_t *t);
/* Links an unstarted task taken from L's own queue into L's list and
 * runs its first step now (L's thread, outside any task). */
void weft__task_start(weft__loop_t *L, weft_task_t *t);
/* Runs a task's first or next step on the loop's stack. */
void weft__task_run(weft__loop_t *L, weft_task_t *t);
/* What follows a step: the task's end, if it ended, and the first step
 * of a task it spawned eager (then its own next one). */
void weft__task_after(weft__loop_t *L, weft_task_t *t);

/* weft__task_run for the loop's run phase, inline there: the common step
 * (a started task, woken with nothing to unpark, on its own stack, no
 * debug timing) costs no call and no frame of its own; any other goes
 * through weft__task_run. */
static inline void weft__task_resume(weft__loop_t *L, weft_task_t *t)
{
    weft__tbody_t *b = t->b;
    if (WEFT_UNLIKELY(t->tstate == WEFT_TASK_PENDING || b->unpark || b->co.copy || L->debug)) {
        weft__task_run(L, t);
        return;
    }
    weft__thread_t *thr = L->thr;
    weft__set_tstate(t, WEFT_TASK_RUNNING);
    b->wait_kind = NULL;
    b->wait_obj = NULL;
    L->current = t;
    thr->current = b->top;
    thr->budget = WEFT__BUDGET; /* a new step: the cooperative budget is whole (loop.h) */
    /* the switch hands the waker's status to the parked call */
    weft__coro_switch(&thr->root, b->top, (void *)(intptr_t)b->wake_status, false);
    L->current = NULL;
    if (WEFT_UNLIKELY(b->co.state == WEFT_CORO_DEAD || L->eager != NULL))
        weft__task_after(L, t);
}
/* A task weft__task_new made eager (t->eager) takes its first step now,
 * on the caller's loop: from a task, the caller steps aside for it and
 * resumes right after; from a callback, it runs from here; in a
 * coroutine outside any task it is queued instead. Call with no lock
 * held. A no-op for any other task. */
void weft__task_eager(weft_task_t *t);
/* t's name, or "Task-N" (N its id, as asyncio numbers unnamed tasks)
 * written into buf when it has none. */
const char *weft__task_label(const weft_task_t *t, char buf[32]);
/* Reclaims a task that cannot finish by itself (the loop is closing and
 * nothing can wake it): reported, its stack discarded where it stands. */
void weft__task_discard(weft__loop_t *L, weft_task_t *t);
/* Registers a done waiter on t (fires at once if t is done). */
void weft__task_watch(weft_task_t *t, weft__waiter_t *w);
/* Waits without interruption until t is done (used to let a cancelled
 * task unwind). Suspends. */
void weft__task_join_quietly(weft_task_t *t);

/* Reports (introspect.c), on stderr. */
/* Prints "weft: <line>", rate-limited by key (the line without what
 * differs between instances, such as a task's id): a key seen within
 * the last second only counts, and a line "... and N more like it" says
 * how many once a second and at weft__report_flush. Any thread. */
void weft__report(const char *line, const char *key);
/* Prints the counts still held and forgets every key (weft_run's end). */
void weft__report_flush(void);
void weft__report_unretrieved(weft_task_t *t);
void weft__report_pending(weft_task_t *t);
void weft__report_slow(weft_task_t *t, int64_t ns);

#endif
