/* future.h - done callbacks that run on a later turn of a loop (future.c),
 * for every object with public done callbacks: futures
 * (weft_future_on_done) and tasks (weft_task_on_done).
 *
 * asyncio's rule, which weft keeps: a done callback never runs inside the
 * call that completes its object (nor inside the call that registers it
 * on an object already done). It is scheduled for the next turn of a
 * loop, in registration order: the loop of the task that registered it;
 * for one registered outside any task (from a callback), the loop that
 * completes the object; for a completer on no loop at all, the object's
 * own loop. weft's internal watchers (gather's records, a group's
 * supervision, an awaiter's wake-up) are not these records and stay
 * inline.
 *
 * The owner of an object puts a record's waiter (`w`) on its list of
 * done waiters as it does any callback waiter; completing the object
 * calls w.notify(&w, obj) as usual, which posts the record; an owner
 * whose object is done already calls weft__future_cb_post itself (or lets
 * its watch call notify at once, as weft__task_watch does). The record
 * travels through the target loop's inbox (weft__loop_post), so it runs
 * there in the inbox phase of the loop's next turn, outside any task; a
 * loop that closes first drops it (ops->run with run false), as it
 * drops callbacks queued with weft_call_soon.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include "loop.h"

typedef struct weft__future_cb weft__future_cb_t;

/* What the owner of an object supplies for its records. */
typedef struct weft__future_cb_ops {
    /* Keeps obj alive until the record has run or been dropped (a
     * reference, a count). Called as the record is posted, on the
     * completer's thread, with no lock of weft's held but what the
     * completer holds. */
    void (*hold)(void *obj);
    /* Calls the user's function (c->fn cast back to its real type) with
     * c->obj and c->arg when `run` (false: the loop closed first; the
     * function never runs), then lets go of what hold took. On the loop
     * the record was posted to, outside any task. The record is freed
     * after it returns. */
    void (*run)(weft__future_cb_t *c, bool run);
} weft__future_cb_ops_t;

struct weft__future_cb {
    weft__waiter_t w;  /* on the object's list of done waiters until it completes */
    weft__post_t post; /* then on its way to the loop it runs on */
    const weft__future_cb_ops_t *ops;
    weft__loop_t *loop; /* the registering task's loop; NULL: where the object completes */
    weft__loop_t *home; /* the object's loop: for a completer on no loop */
    void (*fn)(void);   /* the user's function, cast back by ops->run */
    void *arg;
    void *obj; /* the object, once posted */
};

/* A record for fn(obj, arg) (fn cast to void (*)(void)), registered by the
 * calling task (its loop is where it will run) or from outside any task;
 * home is the object's own loop. NULL when out of memory. Free a record
 * that will never be posted with free(). */
weft__future_cb_t *weft__future_cb_new(const weft__future_cb_ops_t *ops, void (*fn)(void),
                                       void *arg, weft__loop_t *home);
/* Holds obj (ops->hold) and posts c to the loop it runs on. Any thread. */
void weft__future_cb_post(weft__future_cb_t *c, void *obj);
/* Whether the waiter w is such a record (a list holds tasks, internal
 * watchers and these). */
bool weft__future_cb_is(const weft__waiter_t *w);

#endif
