/* future.c - futures: a result or an error, set once, awaited by many;
 * and the done-callback records of future.h, which futures and tasks
 * share.
 *
 * Owns: the future's outcome, its list of waiters (tasks parked in
 * weft_future_await, each through the waiter record in its task object)
 * and done callbacks (weft__future_cb_t records), and its references.
 *
 * Invariant: once state is DONE the outcome never changes and the list
 * holds no callback and no task that was not interrupted; setting the
 * outcome takes every waiter off under the future's lock and wakes or
 * posts them after it. A done callback never runs inside set_result nor
 * inside on_done: it is posted to a loop and runs on its next turn
 * (future.h). `busy` counts tasks inside weft_future_await (parked, or
 * woken and yet to read the outcome): destroy refuses while it is
 * non-zero. `refs` counts the owner's reference (until destroy) and one
 * per callback posted and not yet run, so a callback always meets the
 * future it was given, even one destroyed meanwhile.
 */
#include "future.h"
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
    _Atomic uint32_t refs;
    weft__wlist_t waiters;
};

/* ---- done-callback records (future.h) ---- */

static void cb_arrive(weft__loop_t *L, weft__post_t *p)
{
    weft__future_cb_t *c = WEFT_CONTAINER_OF(p, weft__future_cb_t, post);
    c->ops->run(c, !L->closing);
    free(c);
}

static void cb_notify(weft__waiter_t *w, void *src)
{
    weft__future_cb_post((weft__future_cb_t *)w, src);
}

weft__future_cb_t *weft__future_cb_new(const weft__future_cb_ops_t *ops, void (*fn)(void),
                                       void *arg, weft__loop_t *home)
{
    weft__future_cb_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->w.notify = cb_notify;
    c->ops = ops;
    weft_task_t *self = weft__task();
    c->loop = self ? self->loop : NULL;
    c->home = home;
    c->fn = fn;
    c->arg = arg;
    return c;
}

void weft__future_cb_post(weft__future_cb_t *c, void *obj)
{
    weft__loop_t *L = c->loop;
    if (!L)
        L = weft__loop(); /* registered outside a task: the completer's loop */
    if (!L)
        L = c->home;
    c->obj = obj;
    c->ops->hold(obj);
    c->post.fn = cb_arrive;
    /* Not batched to the turn's end: a record still in this loop's
     * outbox when its task ends could reach a worker that has seen the
     * last task end and closed, and stay in its inbox for good. Posted
     * now, it is there before the completer's task can end. */
    weft__loop_post(L, &c->post);
}

bool weft__future_cb_is(const weft__waiter_t *w)
{
    return w->notify == cb_notify;
}

/* ---- futures ---- */

static void future_unref(weft_future_t *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

static void future_hold(void *obj)
{
    atomic_fetch_add_explicit(&((weft_future_t *)obj)->refs, 1, memory_order_relaxed);
}

static void future_run(weft__future_cb_t *c, bool run)
{
    weft_future_t *f = c->obj;
    if (run)
        ((void (*)(weft_future_t *, void *))c->fn)(f, c->arg);
    future_unref(f);
}

static const weft__future_cb_ops_t future_cb_ops = {.hold = future_hold, .run = future_run};

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
    atomic_init(&f->refs, 1);
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
        /* held while the callbacks are posted: one that runs at once on
         * another worker may destroy f meanwhile */
        future_hold(f);
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
            w->notify(w, f); /* a done callback: posted (future.h) */
        w = next;
    }
    future_unref(f);
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
    weft__coop_soft(); /* a done future's answer is never replaced */
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

int weft_future_result(const weft_future_t *f, void **result)
{
    if (!f)
        return -EINVAL;
    if (__atomic_load_n(&f->state, __ATOMIC_ACQUIRE) != F_DONE)
        return -EAGAIN; /* the outcome is written before state, with release */
    if (result)
        *result = f->result;
    return f->status;
}

int weft_future_on_done(weft_future_t *f, void (*fn)(weft_future_t *, void *), void *arg)
{
    if (!f || !fn)
        return -EINVAL;
    weft__future_cb_t *c = weft__future_cb_new(&future_cb_ops, (void (*)(void))fn, arg, f->loop);
    if (!c)
        return -ENOMEM;
    {
        WEFT__LOCK(&f->mu);
        if (f->state != F_DONE) {
            weft__wlist_push(&f->waiters, &c->w);
            return 0;
        }
    }
    weft__future_cb_post(c, f); /* done already: on a later turn all the same */
    return 0;
}

int weft_future_remove_done(weft_future_t *f, void (*fn)(weft_future_t *, void *), void *arg)
{
    if (!f || !fn)
        return -EINVAL;
    weft__waiter_t *gone = NULL;
    int n = 0;
    {
        WEFT__LOCK(&f->mu);
        for (weft__waiter_t *w = f->waiters.head, *next; w; w = next) {
            next = w->next;
            if (w->task || !weft__future_cb_is(w))
                continue;
            weft__future_cb_t *c = (weft__future_cb_t *)w;
            if (c->fn != (void (*)(void))fn || c->arg != arg)
                continue;
            weft__wlist_remove(w);
            w->next = gone;
            gone = w;
            n++;
        }
    }
    while (gone) {
        weft__waiter_t *next = gone->next;
        free(gone);
        gone = next;
    }
    return n;
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
        free(w);     /* callbacks that will never run */
    future_unref(f); /* freed now, or after the callbacks posted have run */
    return 0;
}
