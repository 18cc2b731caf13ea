/* sync.c - locks, events, conditions, semaphores, barriers.
 *
 * Owns: each primitive's state and its FIFO list of waiting tasks. Every
 * waiter is the task's own record (t->waiter, in the task object), linked
 * while the task is parked and unlinked by whoever wakes it (loop.h).
 *
 * Hand-off: a lock or a semaphore permit freed while tasks wait is handed
 * to the first waiter (owner set / permit counted as its), so a newcomer
 * can never barge past a waiter. A waiter that was handed something and
 * then cancelled before it ran (park returned 0, cancel_req is set) passes
 * it on to the next waiter and returns -ECANCELED: nothing is lost, and
 * nothing is kept by a task that reports failure. Conditions pass a
 * notification on the same way.
 *
 * One exception, for locks across workers: when the first waiter is
 * another worker's task, handing it the lock would keep the lock idle
 * until that worker finishes its current step and reads its inbox, while
 * every task that wants the lock queues behind it (a convoy: two workers
 * were measured slower than one). So the lock is freed instead and that
 * waiter woken to compete for it (`waking`: at most one such waiter at a
 * time; any running task may take the free lock meanwhile, as Go's
 * sync.Mutex lets it). A woken waiter that finds the lock taken goes
 * back to the head of the line marked `starving` (aux), and a starving
 * waiter is always handed the lock: no task loses more than one race per
 * wait. Invariant: a free lock with waiters has a `waking` task on its way.
 *
 * `busy` counts tasks inside a waiting call of an object (parked, or woken
 * and yet to run); destroy refuses (-EBUSY) while it is non-zero, so a
 * woken task never touches freed memory.
 */
#include "worker.h"

#include <limits.h>
#include <stdlib.h>

static const weft__wait_kind_t lock_kind = {.name = "a lock"};
static const weft__wait_kind_t event_kind = {.name = "an event"};
static const weft__wait_kind_t cond_kind = {.name = "a condition"};
static const weft__wait_kind_t sem_kind = {.name = "a semaphore"};
static const weft__wait_kind_t barrier_kind = {.name = "a barrier"};

static void unpark_waiter(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
}

/* ------------------------------------------------------------------------
 * Lock
 * --------------------------------------------------------------------- */

struct weft_lock {
    weft__loop_t *loop;
    weft_task_t *owner;
    weft_task_t *waking; /* woken to compete for a freed lock, yet to run */
    weft__wlist_t waiters;
    uint32_t busy;
};

enum { LOCK_WAITER = 0, LOCK_STARVING = 1 }; /* a lock waiter's aux */

int weft_lock_create(weft_lock_t **out)
{
    WEFT__GUARD();
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
    weft_lock_t *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->loop = L;
    *out = l;
    return 0;
}

/* Gives the lock to the first waiter, or frees it (waking another
 * worker's first waiter to compete for it: see the top of the file). */
static void lock_pass(weft_lock_t *l)
{
    weft__waiter_t *w = l->waiters.head;
    if (w && (w->aux == LOCK_STARVING || w->task->loop == weft__self.loop)) {
        weft__wlist_pop(&l->waiters);
        l->owner = w->task;
        weft__wake(w->task, 0);
        return;
    }
    l->owner = NULL;
    if (w && !l->waking) {
        weft__wlist_pop(&l->waiters);
        l->waking = w->task;
        weft__wake(w->task, 0);
    }
}

/* With self->nocancel set the wait ignores cancellation and deadlines
 * (a condition's re-acquire). */
static int lock_acquire(weft_lock_t *l, weft_task_t *self)
{
    if (!l->owner) {
        l->owner = self;
        return 0;
    }
    if (l->owner == self)
        return -EDEADLK;
    if (!self->b->nocancel) {
        int rc = weft__wait_check(self);
        if (rc)
            return rc;
    }
    self->b->waiter.aux = LOCK_WAITER;
    weft__wlist_push(&l->waiters, &self->b->waiter);
    l->busy++;
    int rc;
    for (;;) {
        rc = weft__park(self, &lock_kind, l, unpark_waiter, WEFT_FOREVER);
        if (rc != 0 || l->owner == self)
            break;
        /* woken to compete for a freed lock */
        l->waking = NULL;
        if (self->cancel_req && !self->b->nocancel) {
            rc = -ECANCELED;
            break;
        }
        if (!l->owner) {
            l->owner = self;
            break;
        }
        self->b->waiter.aux = LOCK_STARVING; /* lost the race: handed it next time */
        weft__wlist_push_front(&l->waiters, &self->b->waiter);
    }
    if (rc == 0 && self->cancel_req && !self->b->nocancel) {
        /* handed the lock, then cancelled before it ran: pass it on */
        lock_pass(l);
        rc = -ECANCELED;
    } else if (rc != 0 && !l->owner && l->waiters.head && !l->waking) {
        /* woken for a free lock but leaving: wake the next one instead */
        lock_pass(l);
    }
    l->busy--;
    return rc;
}

int weft_lock_acquire(weft_lock_t *l)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!l)
        return -EINVAL;
    return lock_acquire(l, self);
}

int weft_lock_try_acquire(weft_lock_t *l)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!l)
        return -EINVAL;
    if (l->owner)
        return -EBUSY;
    l->owner = self;
    return 0;
}

int weft_lock_release(weft_lock_t *l)
{
    WEFT__GUARD();
    if (!l)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self || l->owner != self)
        return -EPERM;
    lock_pass(l);
    return 0;
}

bool weft_lock_locked(const weft_lock_t *l)
{
    WEFT__GUARD();
    return l && l->owner != NULL;
}

int weft_lock_destroy(weft_lock_t *l)
{
    WEFT__GUARD();
    if (!l)
        return -EINVAL;
    if (l->waiters.head || l->busy)
        return -EBUSY;
    free(l);
    return 0;
}

/* ------------------------------------------------------------------------
 * Event
 * --------------------------------------------------------------------- */

struct weft_event {
    weft__loop_t *loop;
    bool set;
    weft__wlist_t waiters;
};

int weft_event_create(weft_event_t **out)
{
    WEFT__GUARD();
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
    weft_event_t *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->loop = L;
    *out = e;
    return 0;
}

int weft_event_set(weft_event_t *e)
{
    WEFT__GUARD();
    if (!e)
        return -EINVAL;
    if (e->set)
        return 0;
    e->set = true;
    weft__waiter_t *w;
    while ((w = weft__wlist_pop(&e->waiters)))
        weft__wake(w->task, 0);
    return 0;
}

int weft_event_clear(weft_event_t *e)
{
    WEFT__GUARD();
    if (!e)
        return -EINVAL;
    e->set = false;
    return 0;
}

bool weft_event_is_set(const weft_event_t *e)
{
    WEFT__GUARD();
    return e && e->set;
}

int weft_event_wait(weft_event_t *e)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!e)
        return -EINVAL;
    if (e->set)
        return 0;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__wlist_push(&e->waiters, &self->b->waiter);
    return weft__park(self, &event_kind, e, unpark_waiter, WEFT_FOREVER);
}

int weft_event_destroy(weft_event_t *e)
{
    WEFT__GUARD();
    if (!e)
        return -EINVAL;
    if (e->waiters.head)
        return -EBUSY;
    free(e);
    return 0;
}

/* ------------------------------------------------------------------------
 * Condition
 * --------------------------------------------------------------------- */

struct weft_cond {
    weft_lock_t *lock;
    bool own_lock;
    weft__wlist_t waiters;
    uint32_t busy;
};

int weft_cond_create(weft_cond_t **out, weft_lock_t *lock)
{
    WEFT__GUARD();
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
    weft_cond_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    if (!lock) {
        int rc = weft_lock_create(&lock);
        if (rc < 0) {
            free(c);
            return rc;
        }
        c->own_lock = true;
    }
    c->lock = lock;
    *out = c;
    return 0;
}

weft_lock_t *weft_cond_lock(const weft_cond_t *c)
{
    WEFT__GUARD();
    return c ? c->lock : NULL;
}

static int cond_wake(weft_cond_t *c, size_t n)
{
    int woken = 0;
    weft__waiter_t *w;
    while (n > 0 && (w = weft__wlist_pop(&c->waiters))) {
        weft__wake(w->task, 0);
        n--;
        if (woken < INT_MAX)
            woken++;
    }
    return woken;
}

int weft_cond_wait(weft_cond_t *c)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!c)
        return -EINVAL;
    weft_lock_t *l = c->lock;
    if (l->owner != self)
        return -EPERM;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    c->busy++;
    weft__wlist_push(&c->waiters, &self->b->waiter);
    lock_pass(l);
    rc = weft__park(self, &cond_kind, c, unpark_waiter, WEFT_FOREVER);
    if (rc == 0 && self->cancel_req && !self->b->nocancel) {
        /* notified, then cancelled before it ran: pass it on */
        cond_wake(c, 1);
        rc = -ECANCELED;
    }
    /* re-acquire whatever happened: the lock is held when wait returns */
    self->b->nocancel++;
    lock_acquire(l, self);
    self->b->nocancel--;
    c->busy--;
    return rc;
}

int weft_cond_wait_for(weft_cond_t *c, bool (*pred)(void *arg), void *arg)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!c || !pred)
        return -EINVAL;
    if (c->lock->owner != self)
        return -EPERM;
    while (!pred(arg)) {
        int rc = weft_cond_wait(c);
        if (rc)
            return rc;
    }
    return 0;
}

int weft_cond_notify(weft_cond_t *c, size_t n)
{
    WEFT__GUARD();
    if (!c)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self || c->lock->owner != self)
        return -EPERM;
    return cond_wake(c, n);
}

int weft_cond_notify_all(weft_cond_t *c)
{
    WEFT__GUARD();
    return weft_cond_notify(c, SIZE_MAX);
}

int weft_cond_destroy(weft_cond_t *c)
{
    WEFT__GUARD();
    if (!c)
        return -EINVAL;
    if (c->waiters.head || c->busy)
        return -EBUSY;
    if (c->own_lock) {
        int rc = weft_lock_destroy(c->lock);
        if (rc < 0)
            return rc;
    }
    free(c);
    return 0;
}

/* ------------------------------------------------------------------------
 * Semaphore
 * --------------------------------------------------------------------- */

struct weft_sem {
    weft__loop_t *loop;
    unsigned value;
    unsigned initial;
    bool bounded;
    weft__wlist_t waiters;
    uint32_t busy;
};

int weft_sem_create(weft_sem_t **out, unsigned value, unsigned flags)
{
    WEFT__GUARD();
    if (!out || value > INT_MAX || (flags & ~(unsigned)WEFT_SEM_BOUNDED))
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
    weft_sem_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->loop = L;
    s->value = s->initial = value;
    s->bounded = flags & WEFT_SEM_BOUNDED;
    *out = s;
    return 0;
}

/* A permit comes back: to the first waiter, else to the count. */
static void sem_pass(weft_sem_t *s)
{
    weft__waiter_t *w = weft__wlist_pop(&s->waiters);
    if (w)
        weft__wake(w->task, 0);
    else
        s->value++;
}

int weft_sem_acquire(weft_sem_t *s)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!s)
        return -EINVAL;
    if (s->value > 0) { /* a positive value means nobody waits */
        s->value--;
        return 0;
    }
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__wlist_push(&s->waiters, &self->b->waiter);
    s->busy++;
    rc = weft__park(self, &sem_kind, s, unpark_waiter, WEFT_FOREVER);
    if (rc == 0 && self->cancel_req && !self->b->nocancel) {
        /* handed a permit, then cancelled before it ran: pass it on */
        sem_pass(s);
        rc = -ECANCELED;
    }
    s->busy--;
    return rc;
}

int weft_sem_try_acquire(weft_sem_t *s)
{
    WEFT__GUARD();
    if (!s)
        return -EINVAL;
    if (s->value == 0)
        return -EAGAIN;
    s->value--;
    return 0;
}

int weft_sem_release(weft_sem_t *s)
{
    WEFT__GUARD();
    if (!s)
        return -EINVAL;
    if ((s->bounded && s->value >= s->initial) || s->value >= INT_MAX)
        return -EOVERFLOW;
    sem_pass(s);
    return 0;
}

int weft_sem_value(const weft_sem_t *s)
{
    WEFT__GUARD();
    return s ? (int)s->value : -EINVAL;
}

int weft_sem_destroy(weft_sem_t *s)
{
    WEFT__GUARD();
    if (!s)
        return -EINVAL;
    if (s->waiters.head || s->busy)
        return -EBUSY;
    free(s);
    return 0;
}

/* ------------------------------------------------------------------------
 * Barrier
 *
 * A waiter's arrival index rides in its waiter record's aux. The last
 * arrival wakes everyone with 0 and starts the next cycle at once (a woken
 * waiter needs nothing more from the barrier). A waiter interrupted by
 * cancellation or its deadline breaks the barrier in its unpark (so no
 * later arrival can trip a cycle it was counted in), and wakes the other
 * waiters with -EPIPE when it runs, unless `gen` says a reset or an abort
 * woke them meanwhile. (unpark itself wakes nobody: the loop also calls it
 * when it discards a stuck task at close.)
 * --------------------------------------------------------------------- */

struct weft_barrier {
    weft__loop_t *loop;
    unsigned parties;
    unsigned count; /* arrived in this cycle */
    bool broken;
    uint64_t gen; /* bumped whenever the waiters are woken */
    weft__wlist_t waiters;
    uint32_t busy;
};

int weft_barrier_create(weft_barrier_t **out, unsigned parties)
{
    WEFT__GUARD();
    if (!out || parties == 0 || parties > INT_MAX)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
    weft_barrier_t *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->loop = L;
    b->parties = parties;
    *out = b;
    return 0;
}

static void barrier_wake_all(weft_barrier_t *b, int status)
{
    weft__waiter_t *w;
    while ((w = weft__wlist_pop(&b->waiters)))
        weft__wake(w->task, status);
    b->count = 0;
    b->gen++;
}

static void unpark_barrier(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
    weft_barrier_t *b = (weft_barrier_t *)t->b->wait_obj;
    b->broken = true;
}

int weft_barrier_wait(weft_barrier_t *b)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!b)
        return -EINVAL;
    if (b->broken)
        return -EPIPE;
    int rc = weft__wait_check(self);
    if (rc) {
        b->broken = true;
        barrier_wake_all(b, -EPIPE);
        return rc;
    }
    unsigned idx = b->count++;
    if (b->count == b->parties) {
        barrier_wake_all(b, 0);
        return (int)idx;
    }
    uint64_t gen = b->gen;
    self->b->waiter.aux = idx;
    weft__wlist_push(&b->waiters, &self->b->waiter);
    b->busy++;
    rc = weft__park(self, &barrier_kind, b, unpark_barrier, WEFT_FOREVER);
    b->busy--;
    if (rc == 0)
        return (int)self->b->waiter.aux;
    /* cancelled or timed out: we broke it (unpark_barrier); the others
     * learn it now, unless a reset or abort already woke them */
    if (rc != -EPIPE && b->gen == gen)
        barrier_wake_all(b, -EPIPE);
    return rc;
}

int weft_barrier_reset(weft_barrier_t *b)
{
    WEFT__GUARD();
    if (!b)
        return -EINVAL;
    barrier_wake_all(b, -EPIPE);
    b->broken = false;
    return 0;
}

int weft_barrier_abort(weft_barrier_t *b)
{
    WEFT__GUARD();
    if (!b)
        return -EINVAL;
    b->broken = true;
    barrier_wake_all(b, -EPIPE);
    return 0;
}

int weft_barrier_parties(const weft_barrier_t *b)
{
    WEFT__GUARD();
    return b ? (int)b->parties : -EINVAL;
}

int weft_barrier_n_waiting(const weft_barrier_t *b)
{
    WEFT__GUARD();
    return b ? (int)b->count : -EINVAL;
}

bool weft_barrier_broken(const weft_barrier_t *b)
{
    WEFT__GUARD();
    return b && b->broken;
}

int weft_barrier_destroy(weft_barrier_t *b)
{
    WEFT__GUARD();
    if (!b)
        return -EINVAL;
    if (b->waiters.head || b->busy)
        return -EBUSY;
    free(b);
    return 0;
}
