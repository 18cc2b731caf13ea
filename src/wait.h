/* wait.h - how a task waits for something, and how it is woken: the
 * waiter record, lists of waiters, and the park/wake protocol every
 * waiting primitive follows (timers, tasks, futures, groups, locks,
 * queues, channels, fds, the pool). The loop implements it (loop.c).
 *
 * The one rule:
 *   1. rc = weft__wait_check(t): -ECANCELED / -ETIMEDOUT means "do not
 *      wait", return it;
 *   2. link the task's waiter record (in the task object, never on its
 *      stack) into the primitive's list;
 *   3. rc = weft__park(t, kind, obj, unpark, until): the task sleeps until
 *      a waker calls weft__wake(t, status) after unlinking it, or until
 *      cancellation / the deadline / `until` fires: then the loop calls
 *      unpark(t) (which unlinks it) and wakes it with -ECANCELED,
 *      -ETIMEDOUT or 0 (for `until`).
 * Whoever wakes a task unlinks it first, so a woken waiter is never on a
 * list and a cancelled one takes nothing with it.
 */
#ifndef WEFT_WAIT_H
#define WEFT_WAIT_H

#include "internal.h"

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

/* -ECANCELED or -ETIMEDOUT if t must not wait now, else 0. t runs. */
int weft__wait_check(weft_task_t *t);
/* Parks the running task t until a weft__wake, its cancellation, its
 * deadline or `until` (an instant of weft_now(), WEFT_FOREVER: none);
 * returns the status it was woken with. unpark(t) (may be NULL) unlinks
 * t from what it waits on when the loop, not a waker, ends the wait.
 * Suspends. */
int weft__park(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
               void (*unpark)(weft_task_t *t), int64_t until);
/* Wakes a parked task with status; the caller has unlinked it. The
 * first wake of a park wins; later ones do nothing. Any worker. */
void weft__wake(weft_task_t *t, int status);

#endif
