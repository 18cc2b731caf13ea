/* group.c - task groups (asyncio.TaskGroup): structured concurrency, and
 * a limit on how many children run at once (Go's errgroup.SetLimit).
 *
 * Owns: the group's children (one reference each, until the group is
 * destroyed), the count still to finish, the first failure, the task
 * that owns the group; under a limit, the children held back (a FIFO of
 * tasks made but not placed: task.h's weft__super_t.hold) and the tasks
 * waiting in weft_group_spawn_wait.
 *
 * Rules: weft_group_wait returns only when every child has finished, so
 * no child outlives its group (destroy refuses while one runs). The first
 * child to fail with anything but -ECANCELED makes the group fail:
 * siblings are cancelled, no new child may be spawned, and the owner, if
 * it is not already in weft_group_wait, is cancelled too (as asyncio
 * does) so it stops what it was doing; wait takes that cancellation back
 * and returns the failure. The children are cancelled with a reason:
 * WEFT_CANCEL_GROUP for a sibling's failure, the waiter's own (or
 * WEFT_CANCEL_DEADLINE) when the waiter was stopped. Once a wait has
 * returned the group is `closed`: every spawn is refused
 * (-WEFT_EGROUPDONE), so no child runs unsupervised. Every child's
 * failure stays readable (weft_group_errors) from the children's
 * handles, which the group holds until it is destroyed.
 *
 * The limit: `running` counts the children placed (started, or on a
 * queue to start) and not finished, plus the room handed to a woken
 * weft_group_spawn_wait caller that has not spawned yet. A child spawned
 * while running >= limit is held: made, but placed only when room comes
 * (it has no stack meanwhile: a task gets one at its first step). Room
 * that comes (a child ends, the limit rises) goes first to the held
 * children in spawn order, then to the waiting spawners in arrival
 * order; a spawner handed room and cancelled before it ran passes it on.
 * A held child is placed on the worker its spawn asked for (here meaning
 * its spawner's worker), from whichever worker the room came on. When
 * the group is cancelled or fails, the held children are cancelled and
 * placed at once, so they end -ECANCELED without running, and the
 * waiting spawners get -ECANCELED.
 */
#include "worker.h"

#include <limits.h>
#include <sched.h>
#include <stdlib.h>

typedef struct held {
    weft_task_t *t;
    int place; /* WEFT_PLACE_WORKER (worker) or WEFT_PLACE_ANY */
    int worker;
} held_t;

struct weft_group {
    weft__super_t super; /* what each child tells when it ends */
    weft__spin_t mu;
    weft__loop_t *loop;
    weft_task_t *owner;
    weft_task_t *children; /* newest first, through super_next */
    size_t live;           /* children not finished (held ones too) */
    int first_fail;
    bool failing;
    bool cancelled;
    bool owner_cancelled;
    bool closed;         /* a weft_group_wait has returned: no more children */
    int cancel_reason;   /* what the children are cancelled with (WEFT_CANCEL_*) */
    weft_task_t *waiter; /* the owner, while in weft_group_wait */
    size_t limit;        /* 0: none */
    size_t running;      /* see the header comment */
    held_t *held;        /* ring of hcap slots: hlen from hhead */
    size_t hcap, hhead, hlen;
    weft__wlist_t room; /* tasks in weft_group_spawn_wait */
    uint32_t busy;      /* tasks inside weft_group_spawn_wait */
};

static void child_done(weft__super_t *su, weft_task_t *t);

/* A child that has finished with an error of its own (not -ECANCELED). */
static bool failed(const weft_task_t *c)
{
    return weft__tstate(c) == WEFT_TASK_DONE && c->status < 0 && c->status != -ECANCELED;
}

int weft_group_create(weft_group_t **out)
{
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    /* a group is a task's: its owner waits for it (asyncio's TaskGroup
     * needs a running task too) */
    if (!weft__task())
        return -WEFT_ENOTASK;
    weft_group_t *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->super.child_done = child_done;
    g->loop = L;
    g->owner = weft__task();
    *out = g;
    return 0;
}

/* ---- held children and room (g's lock held) ---- */

static bool has_room(const weft_group_t *g)
{
    return g->limit == 0 || g->running < g->limit;
}

/* Places a held child from the calling loop's thread: on the worker its
 * spawn asked for. A closing runtime cancels it first: it was not there
 * when everything was cancelled. */
static void held_place(held_t h)
{
    weft__loop_t *L = weft__loop();
    if (L->closing || atomic_load_explicit(&L->rt->closing, memory_order_relaxed))
        weft_cancel(h.t);
    if (L->rt->n == 1)
        weft__task_adopt(L, h.t);
    else
        weft__place(L, h.t, h.place, h.worker);
}

static held_t held_pop(weft_group_t *g)
{
    held_t h = g->held[g->hhead];
    g->hhead = (g->hhead + 1) % g->hcap;
    g->hlen--;
    return h;
}

/* Room for one more held child; false when out of memory. */
static bool held_reserve(weft_group_t *g)
{
    if (g->hlen < g->hcap)
        return true;
    size_t cap = g->hcap ? 2 * g->hcap : 8;
    held_t *v = malloc(cap * sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < g->hlen; i++)
        v[i] = g->held[(g->hhead + i) % g->hcap];
    free(g->held);
    g->held = v;
    g->hcap = cap;
    g->hhead = 0;
    return true;
}

/* Hands the room there is to the held children, then to the waiting
 * spawners; once the group is cancelled or failing, places every held
 * child (cancelled: it ends without running). Needs a loop to place
 * from: without one, the held children wait for the next child's end. */
static void room_pass(weft_group_t *g)
{
    if (!weft__loop())
        return;
    if (g->failing || g->cancelled) {
        while (g->hlen) {
            g->running++;
            held_place(held_pop(g));
        }
    }
    while (has_room(g)) {
        if (g->hlen) {
            g->running++;
            held_place(held_pop(g));
            continue;
        }
        weft__waiter_t *w = weft__wlist_take(&g->room);
        if (!w)
            break;
        g->running++; /* the spawner's, promised */
        weft__deliver(w->task, 0);
    }
}

/* The group is cancelled or failing: every child gets cancelled, the
 * held ones are placed to end without running, spawners stop waiting. */
static void cancel_children(weft_group_t *g, int reason)
{
    g->cancel_reason = reason;
    for (weft_task_t *c = g->children; c; c = c->super_next)
        if (weft__tstate(c) != WEFT_TASK_DONE)
            weft__cancel_why(c, reason, NULL);
    room_pass(g);
    weft__waiter_t *w;
    while ((w = weft__wlist_take(&g->room)))
        weft__deliver(w->task, -ECANCELED);
}

/* Makes a child of g from opts, held when hold is set. Lock held. */
static int child_new(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                     const weft_task_opts_t *opts, bool hold, weft_task_t **made)
{
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    if (hold && !held_reserve(g))
        return -ENOMEM;
    weft_task_t *t;
    g->super.hold = hold;
    int rc = weft__task_new(L, &t, fn, arg, opts, &g->super);
    g->super.hold = false;
    if (rc < 0)
        return rc;
    /* weft__task_new gave the caller's reference to t: the group holds it,
     * and it is no handle (*task is borrowed: weft_task_release refuses it) */
    t->handles = 0;
    t->super_next = g->children;
    g->children = t;
    g->live++;
    if (hold) {
        int place = weft__place_of(L, opts);
        held_t h = {.t = t, .place = WEFT_PLACE_WORKER, .worker = L->index};
        if (place == WEFT_PLACE_ANY)
            h.place = WEFT_PLACE_ANY;
        else if (place == WEFT_PLACE_WORKER)
            h.worker = opts->worker;
        g->held[(g->hhead + g->hlen++) % g->hcap] = h;
    }
    if (task)
        *task = t;
    *made = t;
    return 0;
}

/* ---- spawning ---- */

/* The spawns below run under g's lock; an eager child (opts->eager) takes
 * its first step once the lock is dropped. */
#define EAGER_AFTER(call)                                                                          \
    do {                                                                                           \
        weft_task_t *made = NULL;                                                                  \
        int rc_ = (call);                                                                          \
        if (made)                                                                                  \
            weft__task_eager(made);                                                                \
        return rc_;                                                                                \
    } while (0)

static int locked_spawn(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                        const weft_task_opts_t *opts, weft_task_t **made)
{
    if (!g || !fn)
        return -EINVAL;
    weft__rt_lock_before_spawn(opts); /* before g's lock: worker.h */
    WEFT__LOCK(&g->mu);
    if (g->closed)
        return -WEFT_EGROUPDONE;
    if (g->failing || g->cancelled)
        return -ECANCELED;
    bool hold = !has_room(g);
    int rc = child_new(g, task, fn, arg, opts, hold, made);
    if (rc == 0 && !hold)
        g->running++;
    return rc;
}

int weft_group_spawn(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                     const weft_task_opts_t *opts)
{
    EAGER_AFTER(locked_spawn(g, task, fn, arg, opts, &made));
}

static int locked_try_spawn(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                            const weft_task_opts_t *opts, weft_task_t **made)
{
    if (!g || !fn)
        return -EINVAL;
    weft__rt_lock_before_spawn(opts); /* before g's lock: worker.h */
    WEFT__LOCK(&g->mu);
    if (g->closed)
        return -WEFT_EGROUPDONE;
    if (g->failing || g->cancelled)
        return -ECANCELED;
    if (!has_room(g))
        return -EAGAIN;
    int rc = child_new(g, task, fn, arg, opts, false, made);
    if (rc == 0)
        g->running++;
    return rc;
}

int weft_group_try_spawn(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                         const weft_task_opts_t *opts)
{
    EAGER_AFTER(locked_try_spawn(g, task, fn, arg, opts, &made));
}

static void unpark_room(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
}

static const weft__wait_kind_t room_kind = {.name = "room in a task group", .on_tasks = true};

static int locked_spawn_wait(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                             const weft_task_opts_t *opts, weft_task_t **made)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!g || !fn)
        return -EINVAL;
    weft__rt_lock_before_spawn(opts); /* before g's lock: worker.h */
    WEFT__LOCK(&g->mu);
    if (g->closed)
        return -WEFT_EGROUPDONE;
    if (g->failing || g->cancelled)
        return -ECANCELED;
    if (!has_room(g)) {
        int rc = weft__wait_check(self);
        if (rc)
            return rc;
        weft__wlist_push(&g->room, &self->b->waiter);
        g->busy++;
        rc = weft__park(self, &room_kind, g, unpark_room, WEFT_FOREVER, &weft__lk);
        g->busy--;
        if (rc == 0 && weft__cancel_req(self) && !self->b->nocancel) {
            /* handed room, then cancelled before it ran: pass it on */
            g->running--;
            room_pass(g);
            rc = -ECANCELED;
        }
        if (rc < 0)
            return rc;
        g->running--; /* the promise becomes the child's own count below */
        if (g->closed || g->failing || g->cancelled) {
            room_pass(g);
            return -ECANCELED;
        }
    }
    int rc = child_new(g, task, fn, arg, opts, false, made);
    if (rc < 0) {
        room_pass(g);
        return rc;
    }
    g->running++;
    return 0;
}

int weft_group_spawn_wait(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                          const weft_task_opts_t *opts)
{
    EAGER_AFTER(locked_spawn_wait(g, task, fn, arg, opts, &made));
}

int weft_group_set_limit(weft_group_t *g, size_t n)
{
    if (!g)
        return -EINVAL;
    WEFT__LOCK(&g->mu);
    g->limit = n;
    room_pass(g);
    return 0;
}

/* ---- children ending, waiting, cancelling ---- */

static void child_done(weft__super_t *su, weft_task_t *t)
{
    weft_group_t *g = WEFT_CONTAINER_OF(su, weft_group_t, super);
    WEFT__LOCK(&g->mu);
    g->live--;
    g->running--; /* every child that ends was placed */
    t->retrieved = 1; /* the group reports its children's failures */
    if (t->status < 0 && t->status != -ECANCELED && !g->failing) {
        g->failing = true;
        g->first_fail = t->status;
        cancel_children(g, WEFT_CANCEL_GROUP);
        if (g->owner && !g->waiter && weft__tstate(g->owner) != WEFT_TASK_DONE) {
            g->owner_cancelled = true;
            weft__cancel_why(g->owner, WEFT_CANCEL_GROUP, NULL);
        }
    }
    room_pass(g);
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
        /* the waiter was cancelled or timed out: the children go too, with
         * the waiter's reason (an outer deadline reads as one) */
        g->cancelled = true;
        cancel_children(g, rc == -ETIMEDOUT ? WEFT_CANCEL_DEADLINE : weft__own_reason(self));
        self->b->nocancel++;
        while (g->live > 0)
            weft__park(self, &wait_kind, g, unpark, WEFT_FOREVER, &weft__lk);
        self->b->nocancel--;
    }
    /* A child's end reaches the group (child_done) just before its own
     * state reads DONE, on the child's worker: wait out those few
     * instructions, so that once this returns every child's handle reads
     * finished (weft_task_result, weft_group_errors). Before, a child
     * preempted in between (8 workers on 2 cores) made weft_task_result
     * say -EAGAIN after the wait. */
    for (weft_task_t *c = g->children; c; c = c->super_next)
        while (weft__tstate(c) != WEFT_TASK_DONE)
            sched_yield();
    g->waiter = NULL;
    g->closed = true; /* every child has finished: none may come after */
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
    cancel_children(g, WEFT_CANCEL_REQUESTED);
    return 0;
}

int weft_group_errors(weft_group_t *g, int *errs, weft_task_t **tasks, size_t max)
{
    if (!g || (max && !errs && !tasks))
        return -EINVAL;
    WEFT__LOCK(&g->mu);
    /* the list is newest first: count, then fill from the back, so the
     * arrays come out in spawn order */
    size_t k = 0;
    for (weft_task_t *c = g->children; c; c = c->super_next)
        if (failed(c))
            k++;
    size_t j = k;
    for (weft_task_t *c = g->children; c; c = c->super_next) {
        if (!failed(c))
            continue;
        j--;
        if (j < max) {
            if (errs)
                errs[j] = c->status;
            if (tasks)
                tasks[j] = c;
        }
    }
    return k > INT_MAX ? INT_MAX : (int)k;
}

int weft_group_destroy(weft_group_t *g)
{
    if (!g)
        return -EINVAL;
    {
        WEFT__LOCK(&g->mu);
        if (g->live > 0)
            return -WEFT_EGROUPLIVE;
        if (g->waiter || g->busy) /* a waiter woken, or a spawner, not yet returned */
            return -EBUSY;
    }
    weft_task_t *c = g->children, *next;
    for (; c; c = next) {
        next = c->super_next;
        c->super = NULL;
        weft__task_unref(c);
    }
    free(g->held);
    free(g);
    return 0;
}
