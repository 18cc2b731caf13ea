/* wait.h - how a task waits for something, and how it is woken: the
 * waiter record, lists of waiters, and the park/wake protocol every
 * waiting primitive follows (timers, tasks, futures, groups, locks,
 * queues, channels, fds, the pool). The loop implements it (loop.c).
 *
 * The one rule, with the object's lock held (WEFT__LOCK, spin.h):
 *   1. rc = weft__wait_check(t): -ECANCELED / -ETIMEDOUT means "do not
 *      wait", return it;
 *   2. link the task's waiter record (in the task object, never on its
 *      stack) into the object's list;
 *   3. rc = weft__park(t, kind, obj, unpark, until, &weft__lk): the lock is
 *      let go while the task sleeps and taken back before park returns.
 *
 * A park ends exactly once, by whoever claims it (weft__claim, task.h):
 * a waker, the park's timer, or a cancellation. A waker claims a waiter
 * under the object's lock before it unlinks it and hands it anything
 * (weft__wlist_take does both), then wakes it (weft__deliver). A waiter
 * it cannot claim is being interrupted: it stays linked and is handed
 * nothing. An interrupter (the timer or a cancellation, on the task's
 * own loop) that claims a park leaves the waiter linked: the loop calls
 * unpark(t) under the object's lock just before the task runs again, and
 * the wait returns -ECANCELED, -ETIMEDOUT, or 0 for `until`. So a
 * cancelled waiter takes nothing with it, and an object with a waiter
 * still linked is never freed under an interrupter (its destroy refuses
 * while waiters are linked).
 */
#ifndef WEFT_WAIT_H
#define WEFT_WAIT_H

#include "internal.h"
#include "spin.h"

#include <stdio.h>

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

/* weft__wlist_take (task.h, beside the claim it inlines) unlinks and
 * returns the first waiter whose park the caller could claim. */

/* What a parked task waits on, as the task tree and the reports show it:
 * " on <name>", or what describe(out, obj) prints instead. Each
 * primitive defines its own (a static const record), so the loop and the
 * tree know none of them by name. on_tasks: the task waits for other
 * tasks to end (a closing loop that must discard a stuck task picks one
 * that does not). */
typedef struct weft__wait_kind {
    const char *name;
    void (*describe)(FILE *out, const void *obj);
    bool on_tasks;
} weft__wait_kind_t;

/* The kinds the loop itself uses: a yield (the task is READY, not
 * parked) and a sleep. */
extern const weft__wait_kind_t weft__wait_yield, weft__wait_sleep;
/* The running task t steps aside without being queued: ready, but only
 * its loop's weft__task_run (after the eager spawn it made) runs it
 * again. Never interrupted: nothing waits. */
void weft__step_aside(weft_task_t *t);

/* weft__wait_check(t) (task.h, inline: every wait begins with it)
 * returns -ECANCELED or -ETIMEDOUT if t must not wait now, else 0. */
/* Parks the running task t until a waker, its cancellation, its deadline
 * or `until` (an instant of weft_now(), WEFT_FOREVER: none) ends the
 * park; returns the status it was woken with. unpark(t) (may be NULL)
 * unlinks t from what it waits on when an interrupter, not a waker,
 * ended the wait; it runs with lk's lock held. lk (may be NULL) is the
 * object's lock the caller holds: let go while t is parked, held again
 * when park returns. Suspends. */
int weft__park(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
               void (*unpark)(weft_task_t *t), int64_t until, weft__lk_t *lk);
/* weft__park, but the lock stays let go when it returns: for a call
 * that needs nothing more from the object once woken (a channel's send
 * and receive: what was handed over is in the task's own record). */
int weft__park_out(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
                   void (*unpark)(weft_task_t *t), int64_t until, weft__lk_t *lk);
/* A park whose waiter records go on several objects' lists (a select
 * over channels): weft__park_open records the park (as weft__park does)
 * and makes t claimable while the caller still holds every object's
 * lock; the caller drops the locks and switches out with
 * weft__park_opened, which returns the wake's status. A claim in between
 * wakes the task once it has switched out. Suspends. */
void weft__park_open(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
                     void (*unpark)(weft_task_t *t), int64_t until);
int weft__park_opened(weft_task_t *t);
/* Claims t's park and wakes it with status, if nobody claimed it first;
 * for a task that waits on the caller without a list (a group's owner,
 * a pool job's task). Any worker. */
void weft__wake(weft_task_t *t, int status);
/* Wakes t, whose park the caller has claimed (and unlinked). Any
 * worker. */
void weft__deliver(weft_task_t *t, int status);

#endif
