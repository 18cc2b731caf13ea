/* future.c - futures: a result or an error, set once, awaited by many.
 *
 * Owns: the future's outcome and its list of waiters (tasks parked in
 * weft_future_await, each through the waiter record in its task object)
 * and done callbacks (records of their own).
 *
 * Invariant: once state is DONE the outcome never changes and the list
 * holds no callback and no task that was not interrupted; setting the
 * outcome takes every waiter off under the future's lock and wakes them
 * after it. `busy` counts tasks inside weft_future_await (parked, or
 * woken and yet to read the outcome): destroy refuses while it is
 * non-zero.
 */
#include "worker.h"

#include <stdlib.h>

static const weft__wait_kind_t wait_kind = {.name = "a future"};

enum { F_PENDING = 0, F_DONE };

struct weft_future {
    weft__spin_t mu;
    weft__loop_t *loop;
    int state;
    int status;
    void *result;
    uint32_t busy;
    weft__wlist_t waiters;
};

int weft_future_create(weft_future_t **out)
{
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_future_t *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->loop = L;
    *out = f;
    return 0;
}

static int complete(weft_future_t *f, int status, void *result)
{
    if (!f)
        return -EINVAL;
    weft__waiter_t *first = NULL, **tail = &first, *w;
    {
        WEFT__LOCK(&f->mu);
        if (f->state == F_DONE)
            return -EALREADY;
        f->status = status;
        f->result = result;
        __atomic_store_n(&f->state, F_DONE, __ATOMIC_RELEASE);
        while ((w = weft__wlist_take(&f->waiters))) {
            *tail = w;
            tail = &w->next;
        }
    }
    for (w = first; w;) { /* a woken task may reuse its record: next first */
        weft__waiter_t *next = w->next;
        w->next = NULL;
        if (w->task)
            weft__deliver(w->task, 0);
        else
            w->notify(w, f);
        w = next;
    }
    return 0;
}

int weft_future_set_result(weft_future_t *f, void *result)
{
    return complete(f, 0, result);
}

int weft_future_set_error(weft_future_t *f, int err)
{
    if (err >= 0)
        return -EINVAL;
    return complete(f, err, NULL);
}

int weft_future_cancel(weft_future_t *f)
{
    return complete(f, -ECANCELED, NULL);
}

bool weft_future_done(const weft_future_t *f)
{
    return f && __atomic_load_n(&f->state, __ATOMIC_ACQUIRE) == F_DONE;
}

static void unpark(weft_task_t *t)
{
    weft_future_t *f = (weft_future_t *)t->b->wait_obj;
    WEFT__LOCK(&f->mu);
    weft__wlist_remove(&t->b->waiter);
    if (weft__discarding(t))
        f->busy--;
}

int weft_future_await(weft_future_t *f, void **result)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!f)
        return -EINVAL;
    WEFT__LOCK(&f->mu);
    if (f->state != F_DONE) {
        int rc = weft__wait_check(self);
        if (rc)
            return rc;
        weft__wlist_push(&f->waiters, &self->b->waiter);
        f->busy++;
        rc = weft__park(self, &wait_kind, f, unpark, WEFT_FOREVER, &weft__lk);
        f->busy--;
        if (rc)
            return rc;
    }
    if (result)
        *result = f->result;
    return f->status;
}

typedef struct {
    weft__waiter_t w;
    void (*fn)(weft_future_t *, void *);
    void *arg;
} future_cb_t;

static void cb_notify(weft__waiter_t *w, void *src)
{
    future_cb_t *c = (future_cb_t *)w;
    c->fn(src, c->arg);
    free(c);
}

int weft_future_on_done(weft_future_t *f, void (*fn)(weft_future_t *, void *), void *arg)
{
    if (!f || !fn)
        return -EINVAL;
    future_cb_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->w.notify = cb_notify;
    c->fn = fn;
    c->arg = arg;
    {
        WEFT__LOCK(&f->mu);
        if (f->state != F_DONE) {
            weft__wlist_push(&f->waiters, &c->w);
            return 0;
        }
    }
    free(c);
    fn(f, arg);
    return 0;
}

int weft_future_destroy(weft_future_t *f)
{
    if (!f)
        return -EINVAL;
    {
        WEFT__LOCK(&f->mu);
        if (f->busy)
            return -EBUSY;
        for (weft__waiter_t *w = f->waiters.head; w; w = w->next)
            if (w->task)
                return -EBUSY;
    }
    weft__waiter_t *w;
    while ((w = weft__wlist_pop(&f->waiters)))
        free(w); /* callbacks that will never run */
    free(f);
    return 0;
}
