/* group.c - task groups (asyncio.TaskGroup): structured concurrency.
 *
 * Owns: the group's children (one reference each, until the group is
 * destroyed), the count still running, the first failure, and the task
 * that owns the group.
 *
 * Rules: weft_group_wait returns only when every child has finished, so
 * no child outlives its group (destroy refuses while one runs). The first
 * child to fail with anything but -ECANCELED makes the group fail:
 * siblings are cancelled, no new child may be spawned, and the owner, if
 * it is not already in weft_group_wait, is cancelled too (as asyncio
 * does) so it stops what it was doing; wait takes that cancellation back
 * and returns the failure.
 */
#include "worker.h"

#include <stdlib.h>

struct weft_group {
    weft__super_t super; /* what each child tells when it ends */
    weft__spin_t mu;
    weft__loop_t *loop;
    weft_task_t *owner;
    weft_task_t *children; /* newest first, through super_next */
    size_t live;
    int first_fail;
    bool failing;
    bool cancelled;
    bool owner_cancelled;
    weft_task_t *waiter; /* the owner, while in weft_group_wait */
};

static void child_done(weft__super_t *su, weft_task_t *t);

int weft_group_create(weft_group_t **out)
{
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_group_t *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->super.child_done = child_done;
    g->loop = L;
    g->owner = weft__task();
    *out = g;
    return 0;
}

static void cancel_children(weft_group_t *g)
{
    for (weft_task_t *c = g->children; c; c = c->super_next)
        if (weft__tstate(c) != WEFT_TASK_DONE)
            weft_cancel(c);
}

int weft_group_spawn(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                     const weft_task_opts_t *opts)
{
    if (!g || !fn)
        return -EINVAL;
    WEFT__LOCK(&g->mu);
    if (g->failing || g->cancelled)
        return -ECANCELED;
    weft_task_t *t;
    int rc = weft__task_new(weft__loop(), &t, fn, arg, opts, &g->super);
    if (rc < 0)
        return rc;
    t->super_next = g->children;
    g->children = t;
    g->live++;
    if (task)
        *task = t;
    return 0;
}

static void child_done(weft__super_t *su, weft_task_t *t)
{
    weft_group_t *g = WEFT_CONTAINER_OF(su, weft_group_t, super);
    WEFT__LOCK(&g->mu);
    g->live--;
    t->retrieved = 1; /* the group reports its children's failures */
    if (t->status < 0 && t->status != -ECANCELED && !g->failing) {
        g->failing = true;
        g->first_fail = t->status;
        cancel_children(g);
        if (g->owner && !g->waiter && weft__tstate(g->owner) != WEFT_TASK_DONE) {
            g->owner_cancelled = true;
            weft_cancel(g->owner);
        }
    }
    /* a waiter is parked here or already woken (then this is a no-op) */
    if (g->live == 0 && g->waiter)
        weft__wake(g->waiter, 0);
}

static void unpark(weft_task_t *t)
{
    (void)t; /* the group keeps no list: it wakes its one waiter directly */
}

static const weft__wait_kind_t wait_kind = {.name = "a task group", .on_tasks = true};

int weft_group_wait(weft_group_t *g)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!g)
        return -EINVAL;
    WEFT__LOCK(&g->mu);
    if (g->waiter)
        return -EBUSY;
    if (g->owner_cancelled && self == g->owner) {
        /* our own cancellation came from the group: take it back */
        g->owner_cancelled = false;
        weft__uncancel_one(self);
    }
    int rc = 0;
    g->waiter = self;
    while (g->live > 0) {
        rc = weft__wait_check(self);
        if (rc == 0)
            rc = weft__park(self, &wait_kind, g, unpark, WEFT_FOREVER, &weft__lk);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        /* the waiter was cancelled or timed out: the children go too */
        g->cancelled = true;
        cancel_children(g);
        self->b->nocancel++;
        while (g->live > 0)
            weft__park(self, &wait_kind, g, unpark, WEFT_FOREVER, &weft__lk);
        self->b->nocancel--;
    }
    g->waiter = NULL;
    if (g->owner_cancelled && self == g->owner) {
        g->owner_cancelled = false;
        weft__uncancel_one(self);
    }
    if (g->failing)
        return g->first_fail;
    return rc;
}

int weft_group_cancel(weft_group_t *g)
{
    if (!g)
        return -EINVAL;
    WEFT__LOCK(&g->mu);
    g->cancelled = true;
    cancel_children(g);
    return 0;
}

int weft_group_destroy(weft_group_t *g)
{
    if (!g)
        return -EINVAL;
    {
        WEFT__LOCK(&g->mu);
        if (g->live > 0)
            return -WEFT_EGROUPLIVE;
        if (g->waiter) /* woken by the last child, not yet returned */
            return -EBUSY;
    }
    weft_task_t *c = g->children, *next;
    for (; c; c = next) {
        next = c->super_next;
        c->super = NULL;
        weft__task_unref(c);
    }
    free(g);
    return 0;
}
