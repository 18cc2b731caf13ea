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
 * Semaphores keep a waiter that was handed a permit in line (linked,
 * marked SEM_HANDED) until it runs, as asyncio keeps its woken future in
 * _waiters: a newcomer of the same worker, the releaser included, finds
 * it there and queues behind it even while permits are free, and the
 * handed waiter, when it runs, passes the free permits on to those behind
 * it. So on one worker a task that releases and at once acquires again
 * goes to the back of the line. A handed waiter of another worker holds
 * no newcomer back (the convoy again): there a newcomer may take a free
 * permit at once, and one in line is served at the next release.
 *
 * `busy` counts tasks inside a waiting call of an object (parked, or woken
 * and yet to run); destroy refuses (-EBUSY) while it is non-zero, so a
 * woken task never touches freed memory.
 *
 * Locks: each object has its own (spin.h), held for the whole of a call
 * and let go while its task is parked. A condition takes its own lock,
 * then its weft lock's: never the other way round.
 */
#include "worker.h"

#include <limits.h>
#include <stdlib.h>

static const weft__wait_kind_t lock_kind = {.name = "a lock"};
static const weft__wait_kind_t event_kind = {.name = "an event"};
static const weft__wait_kind_t cond_kind = {.name = "a condition"};
static const weft__wait_kind_t sem_kind = {.name = "a semaphore"};
static const weft__wait_kind_t barrier_kind = {.name = "a barrier"};

/* Tasks parked on l and still waiting: not one woken already (handed
 * what it waited for, or interrupted) and yet to run. The object's lock
 * is held. */
static int count_waiting(const weft__wlist_t *l)
{
    int n = 0;
    for (const weft__waiter_t *w = l->head; w; w = w->next)
        if (!__atomic_load_n(&w->task->woken, __ATOMIC_RELAXED))
            n++;
    return n;
}

/* ------------------------------------------------------------------------
 * Lock
 * --------------------------------------------------------------------- */

struct weft_lock {
    weft__spin_t mu;
    weft_task_t *owner;  /* read without mu only by the owner itself */
    weft_task_t *waking; /* woken to compete for a freed lock, yet to run */
    weft__wlist_t waiters;
    uint32_t busy;
    weft__loop_t *loop;
};

enum { LOCK_WAITER = 0, LOCK_STARVING = 1 }; /* a lock waiter's aux */

static inline weft_task_t *owner_of(const weft_lock_t *l)
{
    return __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
}

static inline void set_owner(weft_lock_t *l, weft_task_t *t)
{
    __atomic_store_n(&l->owner, t, __ATOMIC_RELAXED);
}

static void unpark_lock(weft_task_t *t)
{
    weft_lock_t *l = (weft_lock_t *)t->b->wait_obj;
    WEFT__LOCK(&l->mu);
    weft__wlist_remove(&t->b->waiter);
    if (weft__discarding(t))
        l->busy--;
}

int weft_lock_create(weft_lock_t **out)
{
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_lock_t *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->loop = L;
    *out = l;
    return 0;
}

/* Gives the lock to the first waiter, or frees it (waking another
 * worker's first waiter to compete for it: see the top of the file).
 * A waiter being interrupted does not count. l's lock is held. */
static void lock_pass(weft_lock_t *l)
{
    for (;;) {
        weft__waiter_t *w = l->waiters.head;
        while (w && __atomic_load_n(&w->task->woken, __ATOMIC_RELAXED))
            w = w->next;
        if (!w)
            break;
        bool hand = w->aux == LOCK_STARVING || w->task->loop == weft__self.loop;
        if (!hand && l->waking)
            break; /* one competitor on its way is enough */
        if (!weft__claim(w->task))
            continue; /* interrupted meanwhile: look again */
        weft__wlist_remove(w);
        if (hand) {
            set_owner(l, w->task);
        } else {
            set_owner(l, NULL);
            l->waking = w->task;
        }
        weft__deliver(w->task, 0);
        return;
    }
    set_owner(l, NULL);
}

/* With self->nocancel set the wait ignores cancellation and deadlines
 * (a condition's re-acquire). l's lock is held (lk). */
static int lock_acquire(weft_lock_t *l, weft_task_t *self, weft__lk_t *lk)
{
    if (!owner_of(l)) {
        set_owner(l, self);
        return 0;
    }
    if (owner_of(l) == self)
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
        rc = weft__park(self, &lock_kind, l, unpark_lock, WEFT_FOREVER, lk);
        if (rc != 0 || owner_of(l) == self)
            break;
        /* woken to compete for a freed lock */
        l->waking = NULL;
        if (weft__cancel_req(self) && !self->b->nocancel) {
            rc = -ECANCELED;
            break;
        }
        if (!owner_of(l)) {
            set_owner(l, self);
            break;
        }
        self->b->waiter.aux = LOCK_STARVING; /* lost the race: handed it next time */
        weft__wlist_push_front(&l->waiters, &self->b->waiter);
    }
    if (rc == 0 && weft__cancel_req(self) && !self->b->nocancel) {
        /* handed the lock, then cancelled before it ran: pass it on */
        lock_pass(l);
        rc = -ECANCELED;
    } else if (rc != 0 && !owner_of(l) && l->waiters.head && !l->waking) {
        /* woken for a free lock but leaving: wake the next one instead */
        lock_pass(l);
    }
    l->busy--;
    return rc;
}

int weft_lock_acquire(weft_lock_t *l)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!l)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&l->mu);
    return lock_acquire(l, self, &weft__lk);
}

int weft_lock_try_acquire(weft_lock_t *l)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!l)
        return -EINVAL;
    WEFT__LOCK(&l->mu);
    if (owner_of(l))
        return -EBUSY;
    set_owner(l, self);
    return 0;
}

int weft_lock_release(weft_lock_t *l)
{
    if (!l)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (owner_of(l) != self)
        return -WEFT_ENOTOWNER;
    WEFT__LOCK(&l->mu);
    lock_pass(l);
    return 0;
}

bool weft_lock_locked(const weft_lock_t *l)
{
    return l && owner_of(l) != NULL;
}

int weft_lock_waiters(const weft_lock_t *l)
{
    if (!l)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&l->mu); /* the object is never const-defined */
    return count_waiting(&l->waiters);
}

int weft_lock_destroy(weft_lock_t *l)
{
    if (!l)
        return -EINVAL;
    {
        WEFT__LOCK(&l->mu);
        if (l->waiters.head || l->busy)
            return -EBUSY;
    }
    free(l);
    return 0;
}

/* ------------------------------------------------------------------------
 * Event
 * --------------------------------------------------------------------- */

struct weft_event {
    weft__spin_t mu;
    bool set;
    uint32_t busy;
    weft__wlist_t waiters;
    weft__loop_t *loop;
};

static void unpark_event(weft_task_t *t)
{
    weft_event_t *e = (weft_event_t *)t->b->wait_obj;
    WEFT__LOCK(&e->mu);
    weft__wlist_remove(&t->b->waiter);
    if (weft__discarding(t))
        e->busy--;
}

int weft_event_create(weft_event_t **out)
{
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_event_t *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->loop = L;
    *out = e;
    return 0;
}

int weft_event_set(weft_event_t *e)
{
    if (!e)
        return -EINVAL;
    weft__coop_soft(); /* a set event answers 0 even to a cancelled task */
    WEFT__LOCK(&e->mu);
    if (e->set)
        return 0;
    __atomic_store_n(&e->set, true, __ATOMIC_RELAXED);
    weft__waiter_t *w;
    while ((w = weft__wlist_take(&e->waiters)))
        weft__deliver(w->task, 0);
    return 0;
}

int weft_event_clear(weft_event_t *e)
{
    if (!e)
        return -EINVAL;
    WEFT__LOCK(&e->mu);
    __atomic_store_n(&e->set, false, __ATOMIC_RELAXED);
    return 0;
}

bool weft_event_is_set(const weft_event_t *e)
{
    return e && __atomic_load_n(&e->set, __ATOMIC_RELAXED);
}

int weft_event_waiters(const weft_event_t *e)
{
    if (!e)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&e->mu); /* the object is never const-defined */
    return count_waiting(&e->waiters);
}

int weft_event_wait(weft_event_t *e)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!e)
        return -EINVAL;
    WEFT__LOCK(&e->mu);
    if (e->set)
        return 0;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__wlist_push(&e->waiters, &self->b->waiter);
    e->busy++;
    rc = weft__park(self, &event_kind, e, unpark_event, WEFT_FOREVER, &weft__lk);
    e->busy--;
    return rc;
}

int weft_event_destroy(weft_event_t *e)
{
    if (!e)
        return -EINVAL;
    {
        WEFT__LOCK(&e->mu);
        if (e->waiters.head || e->busy)
            return -EBUSY;
    }
    free(e);
    return 0;
}

/* ------------------------------------------------------------------------
 * Condition
 * --------------------------------------------------------------------- */

struct weft_cond {
    weft__spin_t mu;
    weft_lock_t *lock;
    bool own_lock;
    weft__wlist_t waiters;
    uint32_t busy;
};

static void unpark_cond(weft_task_t *t)
{
    weft_cond_t *c = (weft_cond_t *)t->b->wait_obj;
    WEFT__LOCK(&c->mu);
    weft__wlist_remove(&t->b->waiter);
    if (weft__discarding(t))
        c->busy--;
}

int weft_cond_create(weft_cond_t **out, weft_lock_t *lock)
{
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
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
    return c ? c->lock : NULL;
}

/* c's lock is held. */
static int cond_wake(weft_cond_t *c, size_t n)
{
    int woken = 0;
    weft__waiter_t *w;
    while (n > 0 && (w = weft__wlist_take(&c->waiters))) {
        weft__deliver(w->task, 0);
        n--;
        if (woken < INT_MAX)
            woken++;
    }
    return woken;
}

int weft_cond_wait(weft_cond_t *c)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!c)
        return -EINVAL;
    weft_lock_t *l = c->lock;
    if (owner_of(l) != self)
        return -WEFT_ENOTOWNER;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    {
        WEFT__LOCK(&c->mu);
        c->busy++;
        weft__wlist_push(&c->waiters, &self->b->waiter);
        {
            weft__lk_t lk = weft__lk_take(&l->mu);
            lock_pass(l);
            weft__lk_drop(&lk);
        }
        rc = weft__park(self, &cond_kind, c, unpark_cond, WEFT_FOREVER, &weft__lk);
        if (rc == 0 && weft__cancel_req(self) && !self->b->nocancel) {
            /* notified, then cancelled before it ran: pass it on */
            cond_wake(c, 1);
            rc = -ECANCELED;
        }
    }
    /* re-acquire whatever happened: the lock is held when wait returns */
    self->b->nocancel++;
    {
        WEFT__LOCK(&l->mu);
        lock_acquire(l, self, &weft__lk);
    }
    self->b->nocancel--;
    WEFT__LOCK(&c->mu);
    c->busy--;
    return rc;
}

int weft_cond_wait_for(weft_cond_t *c, bool (*pred)(void *arg), void *arg)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!c || !pred)
        return -EINVAL;
    if (owner_of(c->lock) != self)
        return -WEFT_ENOTOWNER;
    while (!pred(arg)) {
        int rc = weft_cond_wait(c);
        if (rc)
            return rc;
    }
    return 0;
}

int weft_cond_notify(weft_cond_t *c, size_t n)
{
    if (!c)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (owner_of(c->lock) != self)
        return -WEFT_ENOTOWNER;
    WEFT__LOCK(&c->mu);
    return cond_wake(c, n);
}

int weft_cond_notify_all(weft_cond_t *c)
{
    return weft_cond_notify(c, SIZE_MAX);
}

int weft_cond_destroy(weft_cond_t *c)
{
    if (!c)
        return -EINVAL;
    {
        WEFT__LOCK(&c->mu);
        if (c->waiters.head || c->busy)
            return -EBUSY;
    }
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

/* A semaphore waiter's aux: waiting, or handed a permit and yet to run. */
enum { SEM_WAITING = 0, SEM_HANDED = 1 };

struct weft_sem {
    weft__spin_t mu;
    unsigned value;
    unsigned initial;
    bool bounded;
    weft__wlist_t waiters;
    uint32_t busy;
    weft__loop_t *loop;
};

static void unpark_sem(weft_task_t *t)
{
    weft_sem_t *s = (weft_sem_t *)t->b->wait_obj;
    WEFT__LOCK(&s->mu);
    weft__wlist_remove(&t->b->waiter);
    if (weft__discarding(t))
        s->busy--;
}

int weft_sem_create(weft_sem_t **out, unsigned value, unsigned flags)
{
    if (!out || value > INT_MAX || (flags & ~(unsigned)WEFT_SEM_BOUNDED))
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_sem_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->loop = L;
    s->value = s->initial = value;
    s->bounded = flags & WEFT_SEM_BOUNDED;
    *out = s;
    return 0;
}

/* Hands a permit to the first waiter that can take one. It stays linked,
 * marked SEM_HANDED, until it runs and unlinks itself: until then it is
 * still in line, ahead of newcomers of its worker (sem_must_queue).
 * false if no waiter could take one. s's lock is held. */
static bool sem_hand(weft_sem_t *s)
{
    for (weft__waiter_t *w = s->waiters.head; w; w = w->next) {
        if (w->aux == SEM_HANDED || __atomic_load_n(&w->task->woken, __ATOMIC_RELAXED))
            continue; /* handed already, or being interrupted */
        if (!weft__claim(w->task))
            continue; /* interrupted meanwhile */
        w->aux = SEM_HANDED;
        weft__deliver(w->task, 0);
        return true;
    }
    return false;
}

/* A permit comes back: to the first waiter, else to the count. s's lock
 * is held. */
static void sem_pass(weft_sem_t *s)
{
    if (!sem_hand(s))
        __atomic_store_n(&s->value, s->value + 1, __ATOMIC_RELAXED);
}

/* Free permits while tasks wait in line (they queued behind a handed
 * waiter that had not run): the permits go to them, first come first
 * served. s's lock is held. */
static void sem_pass_free(weft_sem_t *s)
{
    while (s->value > 0 && sem_hand(s))
        __atomic_store_n(&s->value, s->value - 1, __ATOMIC_RELAXED);
}

/* Whether a newcomer on loop L must wait although a permit may be free:
 * a task is waiting in line, or a waiter of L was handed a permit and has
 * not run yet (asyncio's Semaphore: a task that releases and at once
 * acquires again goes behind the task its release woke). A handed waiter
 * of another worker holds nobody back: it runs in parallel, and waiting
 * for it would be the convoy the lock's competition rule avoids (the top
 * of the file). s's lock is held. */
static bool sem_must_queue(const weft_sem_t *s, const weft__loop_t *L)
{
    for (const weft__waiter_t *w = s->waiters.head; w; w = w->next) {
        if (w->aux == SEM_HANDED) {
            if (w->task->loop == L)
                return true;
        } else if (!__atomic_load_n(&w->task->woken, __ATOMIC_RELAXED)) {
            return true;
        }
    }
    return false;
}

int weft_sem_acquire(weft_sem_t *s)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!s)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&s->mu);
    if (s->value > 0 && !sem_must_queue(s, self->loop)) {
        __atomic_store_n(&s->value, s->value - 1, __ATOMIC_RELAXED);
        return 0;
    }
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    self->b->waiter.aux = SEM_WAITING;
    weft__wlist_push(&s->waiters, &self->b->waiter);
    s->busy++;
    rc = weft__park(self, &sem_kind, s, unpark_sem, WEFT_FOREVER, &weft__lk);
    if (rc == 0) {
        /* handed a permit: out of the line now (sem_hand left it in) */
        weft__wlist_remove(&self->b->waiter);
        if (weft__cancel_req(self) && !self->b->nocancel) {
            /* then cancelled before it ran: pass it on */
            sem_pass(s);
            rc = -ECANCELED;
        }
    }
    sem_pass_free(s); /* newcomers that queued behind us: their turn */
    s->busy--;
    return rc;
}

int weft_sem_try_acquire(weft_sem_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->mu);
    if (s->value == 0 || sem_must_queue(s, weft__loop()))
        return -EAGAIN;
    __atomic_store_n(&s->value, s->value - 1, __ATOMIC_RELAXED);
    return 0;
}

int weft_sem_release(weft_sem_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->mu);
    if ((s->bounded && s->value >= s->initial) || s->value >= INT_MAX)
        return -EOVERFLOW;
    sem_pass(s);
    return 0;
}

int weft_sem_value(const weft_sem_t *s)
{
    return s ? (int)__atomic_load_n(&s->value, __ATOMIC_RELAXED) : -EINVAL;
}

int weft_sem_waiters(const weft_sem_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&s->mu); /* the object is never const-defined */
    return count_waiting(&s->waiters);
}

int weft_sem_destroy(weft_sem_t *s)
{
    if (!s)
        return -EINVAL;
    {
        WEFT__LOCK(&s->mu);
        if (s->waiters.head || s->busy)
            return -EBUSY;
    }
    free(s);
    return 0;
}

/* ------------------------------------------------------------------------
 * Barrier
 *
 * A waiter's arrival index rides in its waiter record's aux. The last
 * arrival wakes everyone with 0 and starts the next cycle at once (a woken
 * waiter needs nothing more from the barrier). A waiter interrupted by
 * cancellation or its deadline breaks the barrier: while it is still
 * linked (claimed, not yet run) every look at the barrier finds it broken,
 * and its unpark marks it so for good (so no later arrival can trip a
 * cycle it was counted in); it wakes the other waiters with -EPIPE when it
 * runs, unless `gen` says a reset or an abort woke them meanwhile. A
 * reset or an abort ends its cycle: it is unlinked with the others and
 * breaks nothing later. (unpark itself wakes nobody: the loop also calls
 * it when it discards a stuck task at close.)
 * --------------------------------------------------------------------- */

struct weft_barrier {
    weft__spin_t mu;
    unsigned parties;
    unsigned count; /* arrived in this cycle */
    bool broken;
    uint64_t gen; /* bumped whenever the waiters are woken */
    weft__wlist_t waiters;
    uint32_t busy;
    weft__loop_t *loop;
};

int weft_barrier_create(weft_barrier_t **out, unsigned parties)
{
    if (!out || parties == 0 || parties > INT_MAX)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_barrier_t *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->loop = L;
    b->parties = parties;
    *out = b;
    return 0;
}

/* b's lock is held. */
static void barrier_wake_all(weft_barrier_t *b, int status)
{
    weft__waiter_t *w;
    while ((w = weft__wlist_pop(&b->waiters))) {
        /* one being interrupted leaves with its cycle: its unpark then
         * finds itself unlinked and breaks nothing */
        if (weft__claim(w->task))
            weft__deliver(w->task, status);
    }
    __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
    b->gen++;
}

/* The last arrival's claims (b's lock held). A cancellation or deadline
 * on another worker claims its task without b's lock, so it may claim a
 * waiter after barrier_interrupted looked: the last arrival first claims
 * every waiter, marking the claimed in aux (above any arrival index), and
 * only then says how the cycle ended. Returns false if a waiter was
 * claimed by its interruption: that party leaves with its error, so the
 * cycle breaks for all rather than passing with it counted. */
#define BARRIER_CLAIMED ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1))

static bool barrier_claim_all(weft_barrier_t *b)
{
    bool whole = true;
    for (weft__waiter_t *w = b->waiters.head; w; w = w->next) {
        if (weft__claim(w->task))
            w->aux |= BARRIER_CLAIMED;
        else
            whole = false;
    }
    return whole;
}

/* Wakes with status the waiters barrier_claim_all claimed, unlinks every
 * waiter (one claimed by its interruption leaves with its cycle: its
 * unpark finds itself unlinked) and starts the next cycle. */
static void barrier_deliver_claimed(weft_barrier_t *b, int status)
{
    weft__waiter_t *w;
    while ((w = weft__wlist_pop(&b->waiters))) {
        if (w->aux & BARRIER_CLAIMED) {
            w->aux &= ~BARRIER_CLAIMED;
            weft__deliver(w->task, status);
        }
    }
    __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
    b->gen++;
}

/* Whether a waiter of this cycle is being interrupted (b's lock held). */
static bool barrier_interrupted(const weft_barrier_t *b)
{
    for (const weft__waiter_t *w = b->waiters.head; w; w = w->next)
        if (__atomic_load_n(&w->task->woken, __ATOMIC_RELAXED))
            return true;
    return false;
}

/* Broken, or about to be: a waiter is being interrupted (b's lock held;
 * marks it broken then). */
static bool barrier_check_broken(weft_barrier_t *b)
{
    if (!b->broken && barrier_interrupted(b))
        __atomic_store_n(&b->broken, true, __ATOMIC_RELAXED);
    return b->broken;
}

static void unpark_barrier(weft_task_t *t)
{
    weft_barrier_t *b = (weft_barrier_t *)t->b->wait_obj;
    WEFT__LOCK(&b->mu);
    if (t->b->waiter.list) { /* its cycle is still on: it breaks it */
        weft__wlist_remove(&t->b->waiter);
        __atomic_store_n(&b->broken, true, __ATOMIC_RELAXED);
    }
    if (weft__discarding(t))
        b->busy--;
}

int weft_barrier_wait(weft_barrier_t *b)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!b)
        return -EINVAL;
    WEFT__LOCK(&b->mu);
    if (barrier_check_broken(b))
        return -EPIPE;
    int rc = weft__wait_check(self);
    if (rc) {
        __atomic_store_n(&b->broken, true, __ATOMIC_RELAXED);
        barrier_wake_all(b, -EPIPE);
        return rc;
    }
    unsigned idx = b->count;
    __atomic_store_n(&b->count, idx + 1, __ATOMIC_RELAXED);
    if (b->count == b->parties) {
        if (barrier_interrupted(b)) { /* a party of this cycle is leaving */
            __atomic_store_n(&b->broken, true, __ATOMIC_RELAXED);
            barrier_wake_all(b, -EPIPE);
            return -EPIPE;
        }
        if (!barrier_claim_all(b)) { /* one started leaving since */
            __atomic_store_n(&b->broken, true, __ATOMIC_RELAXED);
            barrier_deliver_claimed(b, -EPIPE);
            return -EPIPE;
        }
        barrier_deliver_claimed(b, 0);
        return (int)idx;
    }
    uint64_t gen = b->gen;
    self->b->waiter.aux = idx;
    weft__wlist_push(&b->waiters, &self->b->waiter);
    b->busy++;
    rc = weft__park(self, &barrier_kind, b, unpark_barrier, WEFT_FOREVER, &weft__lk);
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
    if (!b)
        return -EINVAL;
    WEFT__LOCK(&b->mu);
    barrier_wake_all(b, -EPIPE);
    __atomic_store_n(&b->broken, false, __ATOMIC_RELAXED);
    return 0;
}

int weft_barrier_abort(weft_barrier_t *b)
{
    if (!b)
        return -EINVAL;
    WEFT__LOCK(&b->mu);
    __atomic_store_n(&b->broken, true, __ATOMIC_RELAXED);
    barrier_wake_all(b, -EPIPE);
    return 0;
}

int weft_barrier_parties(const weft_barrier_t *b)
{
    return b ? (int)b->parties : -EINVAL;
}

int weft_barrier_n_waiting(const weft_barrier_t *b)
{
    return b ? (int)__atomic_load_n(&b->count, __ATOMIC_RELAXED) : -EINVAL;
}

bool weft_barrier_broken(const weft_barrier_t *b)
{
    if (!b)
        return false;
    weft_barrier_t *m = (weft_barrier_t *)b; /* the lock, and a break it finds */
    WEFT__LOCK(&m->mu);
    return barrier_check_broken(m);
}

int weft_barrier_destroy(weft_barrier_t *b)
{
    if (!b)
        return -EINVAL;
    {
        WEFT__LOCK(&b->mu);
        if (b->waiters.head || b->busy)
            return -EBUSY;
    }
    free(b);
    return 0;
}
