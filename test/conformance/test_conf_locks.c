/* test_conf_locks.c - CPython's test_asyncio/test_locks.py, ported:
 * Lock, Event, Condition, Semaphore, BoundedSemaphore and Barrier.
 *
 * Names: test_locks__<method> for LockTests, test_locks__event_<method>,
 * __cond_<method>, __sem_<method>, __barrier_<method> for the other
 * classes (conf.h has the scheme). asyncio's `async with` has no C form:
 * each test acquires and releases by hand. Deliberate differences checked
 * here (docs/asyncio.md): only the holder releases a lock; a party
 * cancelled while waiting at a barrier breaks the barrier.
 *
 * Covers: src/sync.c through weft.h's Synchronization section. */
#include "conf.h"

/* ---- Lock ---- */

typedef struct {
    weft_lock_t *l;
    conf_log_t *log;
    int id;
    weft_event_t *hold; /* wait for it while holding the lock (NULL: do not) */
} lk_t;

static int locker(void *arg, void **res)
{
    (void)res;
    lk_t *a = arg;
    int rc = weft_lock_acquire(a->l);
    if (rc != 0)
        return rc;
    conf_log(a->log, a->id);
    if (a->hold)
        weft_event_wait(a->hold);
    assert_int_equal(weft_lock_release(a->l), 0);
    return 0;
}

/* Lock(): acquire locks it, release unlocks it. */
CONF(test_locks__test_lock)
{
    weft_lock_t *l;
    assert_int_equal(weft_lock_create(&l), 0);
    assert_false(weft_lock_locked(l));
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_true(weft_lock_locked(l));
    assert_int_equal(weft_lock_release(l), 0);
    assert_false(weft_lock_locked(l));
    return weft_lock_destroy(l);
}

/* repr shows [locked] and waiters:N: weft_lock_locked, weft_lock_waiters. */
CONF(test_locks__test_repr)
{
    weft_lock_t *l;
    conf_log_t log = {0};
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_waiters(l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    lk_t a = {l, &log, 1, NULL};
    weft_task_t *t = conf_spawn(locker, &a);
    settle();
    assert_true(weft_lock_locked(l));
    assert_int_equal(weft_lock_waiters(l), 1);
    assert_int_equal(weft_lock_release(l), 0);
    conf_finish(t, 0);
    assert_int_equal(weft_lock_waiters(l), 0);
    return weft_lock_destroy(l);
}

/* Waiters get the lock in the order they asked for it. */
CONF(test_locks__test_acquire)
{
    weft_lock_t *l;
    conf_log_t log = {0};
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    lk_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (lk_t){l, &log, i + 1, NULL};
        t[i] = conf_spawn(locker, &a[i]);
    }
    settle();
    assert_int_equal(log.n, 0);
    assert_int_equal(weft_lock_release(l), 0);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    assert_int_equal(log.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(log.v[i], i + 1);
    return weft_lock_destroy(l);
}

/* A waiter cancelled while waiting does not get the lock and leaves no
 * waiter behind. */
CONF(test_locks__test_acquire_cancel)
{
    weft_lock_t *l;
    conf_log_t log = {0};
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    lk_t a = {l, &log, 1, NULL};
    weft_task_t *t = conf_spawn(locker, &a);
    settle();
    assert_int_equal(weft_cancel(t), 0);
    conf_finish(t, -ECANCELED);
    assert_int_equal(log.n, 0);
    assert_int_equal(weft_lock_waiters(l), 0);
    assert_true(weft_lock_locked(l));
    assert_int_equal(weft_lock_release(l), 0);
    return weft_lock_destroy(l);
}

/* Of three waiters, the middle one is cancelled: the lock goes from the
 * first to the third, and never to the cancelled one. */
CONF(test_locks__test_cancel_race)
{
    weft_lock_t *l;
    weft_event_t *hold;
    conf_log_t log = {0};
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_event_create(&hold), 0);
    lk_t a = {l, &log, 1, hold}, b = {l, &log, 2, NULL}, c = {l, &log, 3, NULL};
    weft_task_t *ta = conf_spawn(locker, &a);
    settle();
    weft_task_t *tb = conf_spawn(locker, &b), *tc = conf_spawn(locker, &c);
    settle();
    assert_int_equal(weft_cancel(tb), 0);
    settle();
    assert_int_equal(weft_event_set(hold), 0);
    conf_finish(ta, 0);
    conf_finish(tb, -ECANCELED);
    conf_finish(tc, 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.v[0], 1);
    assert_int_equal(log.v[1], 3);
    weft_event_destroy(hold);
    return weft_lock_destroy(l);
}

/* The lock is released to a waiter which is cancelled before it runs: the
 * next waiter gets the lock; none is lost. */
CONF(test_locks__test_cancel_release_race)
{
    weft_lock_t *l;
    conf_log_t log = {0};
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    lk_t a = {l, &log, 1, NULL}, b = {l, &log, 2, NULL};
    weft_task_t *ta = conf_spawn(locker, &a), *tb = conf_spawn(locker, &b);
    settle();
    assert_int_equal(weft_lock_release(l), 0); /* handed to a */
    assert_int_equal(weft_cancel(ta), 0);      /* before a runs */
    conf_finish(ta, -ECANCELED);
    conf_finish(tb, 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.v[0], 2);
    assert_false(weft_lock_locked(l));
    return weft_lock_destroy(l);
}

/* A waiter that got the lock and is cancelled afterwards: the
 * cancellation does not undo its acquisition (it still holds the lock);
 * it shows at the waiter's next suspension. */
typedef struct {
    weft_lock_t *l;
    weft_event_t *e;
} lock_wait_t;

static int lock_then_wait(void *arg, void **res)
{
    (void)res;
    lock_wait_t *a = arg;
    assert_int_equal(weft_lock_acquire(a->l), 0);
    int rc = weft_event_wait(a->e);
    assert_int_equal(weft_lock_release(a->l), 0); /* still ours */
    return rc;
}

CONF(test_locks__test_finished_waiter_cancelled)
{
    lock_wait_t a;
    assert_int_equal(weft_lock_create(&a.l), 0);
    assert_int_equal(weft_event_create(&a.e), 0);
    assert_int_equal(weft_lock_acquire(a.l), 0);
    weft_task_t *t = conf_spawn(lock_then_wait, &a);
    settle();
    assert_int_equal(weft_lock_release(a.l), 0);
    settle(); /* it has the lock and waits for the event */
    assert_true(weft_lock_locked(a.l));
    assert_int_equal(weft_cancel(t), 0);
    conf_finish(t, -ECANCELED);
    assert_false(weft_lock_locked(a.l));
    weft_event_destroy(a.e);
    return weft_lock_destroy(a.l);
}

/* Releasing an unlocked lock is an error (RuntimeError in asyncio). */
CONF(test_locks__test_release_not_acquired)
{
    weft_lock_t *l;
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_release(l), -WEFT_ENOTOWNER);
    return weft_lock_destroy(l);
}

/* Deliberate difference: asyncio lets any task release a held lock;
 * weft refuses every task but the holder. */
CONF(test_locks__test_release_not_acquired_by_other_task)
{
    weft_lock_t *l;
    weft_event_t *hold;
    conf_log_t log = {0};
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_event_create(&hold), 0);
    lk_t a = {l, &log, 1, hold};
    weft_task_t *t = conf_spawn(locker, &a);
    settle();
    assert_int_equal(weft_lock_release(l), -WEFT_ENOTOWNER);
    assert_true(weft_lock_locked(l));
    weft_event_set(hold);
    conf_finish(t, 0);
    weft_event_destroy(hold);
    return weft_lock_destroy(l);
}

/* With no waiter, release leaves the lock free, and it can be taken
 * again at once. */
CONF(test_locks__test_release_no_waiters)
{
    weft_lock_t *l;
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_lock_release(l), 0);
    assert_false(weft_lock_locked(l));
    assert_int_equal(weft_lock_try_acquire(l), 0);
    assert_int_equal(weft_lock_release(l), 0);
    return weft_lock_destroy(l);
}

/* The lock is fair: a task that releases and acquires again at once goes
 * behind the waiter it handed the lock to (the "fairness" part of the
 * test_acquire family: no barging on one worker). */
static int lock_twice(void *arg, void **res)
{
    lk_t *a = arg;
    (void)res;
    assert_int_equal(weft_lock_acquire(a->l), 0);
    conf_log(a->log, a->id);
    weft_yield();
    assert_int_equal(weft_lock_release(a->l), 0);
    assert_int_equal(weft_lock_acquire(a->l), 0);
    conf_log(a->log, a->id);
    assert_int_equal(weft_lock_release(a->l), 0);
    return 0;
}

CONF(test_locks__test_acquire_releaser_behind_waiter)
{
    weft_lock_t *l;
    conf_log_t log = {0};
    assert_int_equal(weft_lock_create(&l), 0);
    lk_t a = {l, &log, 1, NULL}, b = {l, &log, 2, NULL};
    weft_task_t *ta = conf_spawn(lock_twice, &a), *tb = conf_spawn(locker, &b);
    conf_finish(ta, 0);
    conf_finish(tb, 0);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.v[0], 1);
    assert_int_equal(log.v[1], 2);
    assert_int_equal(log.v[2], 1);
    return weft_lock_destroy(l);
}

/* ---- Event ---- */

typedef struct {
    weft_event_t *e;
    conf_log_t *log;
    int id;
} ev_t;

static int ev_waiter(void *arg, void **res)
{
    (void)res;
    ev_t *a = arg;
    int rc = weft_event_wait(a->e);
    if (rc == 0)
        conf_log(a->log, a->id);
    return rc;
}

/* repr shows [set] / [unset] and waiters:N. */
CONF(test_locks__event_test_repr)
{
    weft_event_t *e;
    conf_log_t log = {0};
    assert_int_equal(weft_event_create(&e), 0);
    assert_false(weft_event_is_set(e));
    assert_int_equal(weft_event_waiters(e), 0);
    ev_t a = {e, &log, 1};
    weft_task_t *t = conf_spawn(ev_waiter, &a);
    settle();
    assert_int_equal(weft_event_waiters(e), 1);
    weft_event_set(e);
    assert_true(weft_event_is_set(e));
    conf_finish(t, 0);
    assert_int_equal(weft_event_waiters(e), 0);
    return weft_event_destroy(e);
}

/* Every waiter wakes when the event is set, in the order they waited. */
CONF(test_locks__event_test_wait)
{
    weft_event_t *e;
    conf_log_t log = {0};
    assert_int_equal(weft_event_create(&e), 0);
    ev_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (ev_t){e, &log, i + 1};
        t[i] = conf_spawn(ev_waiter, &a[i]);
    }
    settle();
    assert_int_equal(log.n, 0);
    assert_int_equal(weft_event_set(e), 0);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    assert_int_equal(log.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(log.v[i], i + 1);
    return weft_event_destroy(e);
}

/* Waiting on a set event returns at once, without suspending: even in a
 * scope whose deadline has passed. */
CONF(test_locks__event_test_wait_on_set)
{
    weft_event_t *e;
    weft_deadline_t d;
    assert_int_equal(weft_event_create(&e), 0);
    weft_event_set(e);
    assert_int_equal(weft_deadline_push(&d, 0), 0);
    assert_int_equal(weft_event_wait(e), 0);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return weft_event_destroy(e);
}

/* A cancelled waiter returns -ECANCELED and leaves no waiter behind. */
CONF(test_locks__event_test_wait_cancel)
{
    weft_event_t *e;
    conf_log_t log = {0};
    assert_int_equal(weft_event_create(&e), 0);
    ev_t a = {e, &log, 1};
    weft_task_t *t = conf_spawn(ev_waiter, &a);
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_int_equal(weft_event_waiters(e), 0);
    assert_false(weft_event_is_set(e));
    return weft_event_destroy(e);
}

/* clear makes a set event unset again. */
CONF(test_locks__event_test_clear)
{
    weft_event_t *e;
    assert_int_equal(weft_event_create(&e), 0);
    assert_false(weft_event_is_set(e));
    weft_event_set(e);
    assert_true(weft_event_is_set(e));
    assert_int_equal(weft_event_clear(e), 0);
    assert_false(weft_event_is_set(e));
    return weft_event_destroy(e);
}

/* set then clear before the waiters run: they were woken, they return 0;
 * a new waiter waits again. */
CONF(test_locks__event_test_clear_with_waiters)
{
    weft_event_t *e;
    conf_log_t log = {0};
    assert_int_equal(weft_event_create(&e), 0);
    ev_t a = {e, &log, 1}, b = {e, &log, 2};
    weft_task_t *t = conf_spawn(ev_waiter, &a);
    settle();
    weft_event_set(e);
    weft_event_clear(e);
    conf_finish(t, 0);
    assert_int_equal(log.n, 1);
    weft_task_t *t2 = conf_spawn(ev_waiter, &b);
    settle();
    assert_int_equal(weft_task_state(t2), WEFT_TASK_WAITING);
    weft_event_set(e);
    conf_finish(t2, 0);
    return weft_event_destroy(e);
}

/* ---- Condition ---- */

typedef struct {
    weft_cond_t *c;
    conf_log_t *log;
    int id;
    bool *pred;
} cv_t;

static int cv_waiter(void *arg, void **res)
{
    (void)res;
    cv_t *a = arg;
    weft_lock_t *l = weft_cond_lock(a->c);
    assert_int_equal(weft_lock_acquire(l), 0);
    int rc = weft_cond_wait(a->c);
    if (rc == 0)
        conf_log(a->log, a->id);
    assert_int_equal(weft_lock_release(l), 0); /* held again, whatever rc */
    return rc;
}

static bool pred_true(void *arg)
{
    return *(bool *)arg;
}

static int cv_pred_waiter(void *arg, void **res)
{
    (void)res;
    cv_t *a = arg;
    weft_lock_t *l = weft_cond_lock(a->c);
    assert_int_equal(weft_lock_acquire(l), 0);
    int rc = weft_cond_wait_for(a->c, pred_true, a->pred);
    if (rc == 0)
        conf_log(a->log, a->id);
    assert_int_equal(weft_lock_release(l), 0);
    return rc;
}

static void notify(weft_cond_t *c, size_t n)
{
    weft_lock_t *l = weft_cond_lock(c);
    assert_int_equal(weft_lock_acquire(l), 0);
    if (n == SIZE_MAX)
        weft_cond_notify_all(c);
    else
        weft_cond_notify(c, n);
    assert_int_equal(weft_lock_release(l), 0);
}

/* notify(1) wakes the longest waiter, notify(2) the next two; each
 * returns holding the lock. */
CONF(test_locks__cond_test_wait)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (cv_t){c, &log, i + 1, NULL};
        t[i] = conf_spawn(cv_waiter, &a[i]);
    }
    settle();
    assert_int_equal(log.n, 0);
    notify(c, 1);
    settle();
    assert_int_equal(log.n, 1);
    assert_int_equal(log.v[0], 1);
    notify(c, 2);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    assert_int_equal(log.v[1], 2);
    assert_int_equal(log.v[2], 3);
    return weft_cond_destroy(c);
}

/* A waiter cancelled in wait returns -ECANCELED with the lock held again. */
CONF(test_locks__cond_test_wait_cancel)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a = {c, &log, 1, NULL};
    weft_task_t *t = conf_spawn(cv_waiter, &a);
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED); /* cv_waiter released the lock: it held it */
    assert_false(weft_lock_locked(weft_cond_lock(c)));
    return weft_cond_destroy(c);
}

/* Cancelled while another task holds the lock: the waiter returns only
 * once it has the lock again. */
CONF(test_locks__cond_test_wait_cancel_contested)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a = {c, &log, 1, NULL};
    weft_task_t *t = conf_spawn(cv_waiter, &a);
    settle();
    weft_lock_t *l = weft_cond_lock(c);
    assert_int_equal(weft_lock_acquire(l), 0);
    weft_cancel(t);
    settle();
    assert_false(weft_task_done(t)); /* waits for the lock */
    assert_int_equal(weft_lock_release(l), 0);
    conf_finish(t, -ECANCELED);
    return weft_cond_destroy(c);
}

/* Notified, then cancelled before it ran: it returns -ECANCELED with the
 * lock held, and the notification is not lost (next test). */
CONF(test_locks__cond_test_wait_cancel_after_notify)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a = {c, &log, 1, NULL};
    weft_task_t *t = conf_spawn(cv_waiter, &a);
    settle();
    notify(c, 1);
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_int_equal(log.n, 0);
    assert_false(weft_lock_locked(weft_cond_lock(c)));
    return weft_cond_destroy(c);
}

/* A notified waiter cancelled before it runs passes the notification to
 * the next waiter (bpo-... "cancelled wakeup": no wake-up is lost). */
CONF(test_locks__cond_test_cancelled_wakeup)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a = {c, &log, 1, NULL}, b = {c, &log, 2, NULL};
    weft_task_t *ta = conf_spawn(cv_waiter, &a), *tb = conf_spawn(cv_waiter, &b);
    settle();
    notify(c, 1);
    weft_cancel(ta);
    conf_finish(ta, -ECANCELED);
    conf_finish(tb, 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.v[0], 2);
    return weft_cond_destroy(c);
}

/* Cancelled while re-acquiring the lock after a notify: wait returns with
 * the lock held all the same (the re-acquire ignores cancellation). */
CONF(test_locks__cond_test_cancelled_error_re_aquire)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a = {c, &log, 1, NULL};
    weft_task_t *t = conf_spawn(cv_waiter, &a);
    settle();
    weft_lock_t *l = weft_cond_lock(c);
    assert_int_equal(weft_lock_acquire(l), 0);
    weft_cond_notify(c, 1);
    settle(); /* t now waits for the lock */
    weft_cancel(t);
    settle();
    assert_false(weft_task_done(t));
    assert_int_equal(weft_lock_release(l), 0);
    void *r = conf_finish(t, 0); /* notified before the cancellation */
    (void)r;
    return weft_cond_destroy(c);
}

/* wait without holding the lock is an error (RuntimeError). */
CONF(test_locks__cond_test_wait_unacquired)
{
    weft_cond_t *c;
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    assert_int_equal(weft_cond_wait(c), -WEFT_ENOTOWNER);
    return weft_cond_destroy(c);
}

/* wait_for returns once the predicate is true, checking it after every
 * notify. */
CONF(test_locks__cond_test_wait_for)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    bool pred = false;
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a = {c, &log, 1, &pred};
    weft_task_t *t = conf_spawn(cv_pred_waiter, &a);
    settle();
    notify(c, 1);
    settle();
    assert_int_equal(log.n, 0); /* predicate still false */
    pred = true;
    notify(c, 1);
    conf_finish(t, 0);
    assert_int_equal(log.n, 1);
    return weft_cond_destroy(c);
}

/* wait_for without the lock is an error. Deliberate difference: also
 * when the predicate is true at once (asyncio then returns its value
 * without looking at the lock). */
CONF(test_locks__cond_test_wait_for_unacquired)
{
    weft_cond_t *c;
    bool pred = true;
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    assert_int_equal(weft_cond_wait_for(c, pred_true, &pred), -WEFT_ENOTOWNER);
    return weft_cond_destroy(c);
}

/* notify(n) wakes n waiters, oldest first, and says how many it woke. */
CONF(test_locks__cond_test_notify)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (cv_t){c, &log, i + 1, NULL};
        t[i] = conf_spawn(cv_waiter, &a[i]);
    }
    settle();
    weft_lock_t *l = weft_cond_lock(c);
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_cond_notify(c, 1), 1);
    assert_int_equal(weft_lock_release(l), 0);
    settle();
    assert_int_equal(log.n, 1);
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_cond_notify(c, 2048), 2);
    assert_int_equal(weft_lock_release(l), 0);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    assert_int_equal(log.v[0], 1);
    assert_int_equal(log.v[1], 2);
    assert_int_equal(log.v[2], 3);
    return weft_cond_destroy(c);
}

/* notify_all wakes every waiter. */
CONF(test_locks__cond_test_notify_all)
{
    weft_cond_t *c;
    conf_log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    cv_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (cv_t){c, &log, i + 1, NULL};
        t[i] = conf_spawn(cv_waiter, &a[i]);
    }
    settle();
    notify(c, SIZE_MAX);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    assert_int_equal(log.n, 3);
    return weft_cond_destroy(c);
}

/* notify and notify_all without the lock are errors. */
CONF(test_locks__cond_test_notify_unacquired)
{
    weft_cond_t *c;
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    assert_int_equal(weft_cond_notify(c, 1), -WEFT_ENOTOWNER);
    return weft_cond_destroy(c);
}

CONF(test_locks__cond_test_notify_all_unacquired)
{
    weft_cond_t *c;
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    assert_int_equal(weft_cond_notify_all(c), -WEFT_ENOTOWNER);
    return weft_cond_destroy(c);
}

/* A condition over a lock of the caller's uses that lock. */
CONF(test_locks__cond_test_explicit_lock)
{
    weft_lock_t *l;
    weft_cond_t *c;
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_cond_create(&c, l), 0);
    assert_ptr_equal(weft_cond_lock(c), l);
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_cond_notify(c, 1), 0); /* held through l */
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_cond_destroy(c), 0);
    return weft_lock_destroy(l);
}

/* A wait under a timeout times out with the lock held again. */
CONF(test_locks__cond_test_timeout_in_block)
{
    weft_cond_t *c;
    weft_deadline_t d;
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    weft_lock_t *l = weft_cond_lock(c);
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(5)), 0);
    assert_int_equal(weft_cond_wait(c), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(weft_lock_release(l), 0); /* we hold it */
    return weft_cond_destroy(c);
}

/* ---- Semaphore ---- */

typedef struct {
    weft_sem_t *s;
    conf_log_t *log;
    int id;
    int yields; /* held this many turns, then released; < 0: keep it */
} sm_t;

static int sem_user(void *arg, void **res)
{
    (void)res;
    sm_t *a = arg;
    int rc = weft_sem_acquire(a->s);
    if (rc != 0)
        return rc;
    conf_log(a->log, a->id);
    if (a->yields < 0)
        return 0;
    for (int i = 0; i < a->yields; i++)
        weft_yield();
    assert_int_equal(weft_sem_release(a->s), 0);
    return 0;
}

/* A semaphore of 0 makes acquire wait. */
CONF(test_locks__sem_test_initial_value_zero)
{
    weft_sem_t *s;
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    assert_int_equal(weft_sem_value(s), 0);
    assert_int_equal(weft_sem_try_acquire(s), -EAGAIN);
    return weft_sem_destroy(s);
}

/* repr shows value and waiters:N. */
CONF(test_locks__sem_test_repr)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    sm_t a = {s, &log, 1, -1};
    weft_task_t *t = conf_spawn(sem_user, &a);
    settle();
    assert_int_equal(weft_sem_waiters(s), 1);
    weft_sem_release(s);
    conf_finish(t, 0);
    assert_int_equal(weft_sem_waiters(s), 0);
    assert_int_equal(weft_sem_value(s), 0);
    return weft_sem_destroy(s);
}

/* acquire takes a permit, release gives it back. */
CONF(test_locks__sem_test_semaphore)
{
    weft_sem_t *s;
    assert_int_equal(weft_sem_create(&s, 1, 0), 0);
    assert_int_equal(weft_sem_acquire(s), 0);
    assert_int_equal(weft_sem_value(s), 0);
    assert_int_equal(weft_sem_try_acquire(s), -EAGAIN);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_value(s), 1);
    return weft_sem_destroy(s);
}

/* A value that does not fit is refused (asyncio: ValueError for < 0). */
CONF(test_locks__sem_test_semaphore_value)
{
    weft_sem_t *s;
    assert_int_equal(weft_sem_create(&s, (unsigned)INT32_MAX + 1u, 0), -EINVAL);
    assert_int_equal(weft_sem_create(&s, 0, 99), -EINVAL);
    return 0;
}

/* Three permits, four tasks: three run, the fourth waits for a release. */
CONF(test_locks__sem_test_acquire)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 3, 0), 0);
    sm_t a[4];
    weft_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (sm_t){s, &log, i + 1, -1};
        t[i] = conf_spawn(sem_user, &a[i]);
    }
    settle();
    assert_int_equal(log.n, 3);
    assert_int_equal(weft_sem_waiters(s), 1);
    weft_sem_release(s);
    for (int i = 0; i < 4; i++)
        conf_finish(t[i], 0);
    assert_int_equal(log.v[3], 4);
    return weft_sem_destroy(s);
}

/* A cancelled waiter takes no permit. */
CONF(test_locks__sem_test_acquire_cancel)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    sm_t a = {s, &log, 1, -1};
    weft_task_t *t = conf_spawn(sem_user, &a);
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_int_equal(weft_sem_waiters(s), 0);
    assert_int_equal(weft_sem_value(s), 0);
    weft_sem_release(s);
    assert_int_equal(weft_sem_value(s), 1);
    return weft_sem_destroy(s);
}

/* Two permits released to the first two of three waiters, the first
 * cancelled before it runs: its permit goes to the third. */
CONF(test_locks__sem_test_acquire_cancel_before_awoken)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    sm_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (sm_t){s, &log, i + 1, -1};
        t[i] = conf_spawn(sem_user, &a[i]);
    }
    settle();
    weft_sem_release(s);
    weft_sem_release(s);
    weft_cancel(t[0]);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], 0);
    conf_finish(t[2], 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(weft_sem_value(s), 0);
    return weft_sem_destroy(s);
}

/* A permit released to a waiter cancelled before it runs is not lost:
 * the other waiter does not hang. */
CONF(test_locks__sem_test_acquire_hang)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    sm_t a = {s, &log, 1, -1}, b = {s, &log, 2, -1};
    weft_task_t *ta = conf_spawn(sem_user, &a), *tb = conf_spawn(sem_user, &b);
    settle();
    weft_sem_release(s);
    weft_cancel(ta);
    conf_finish(ta, -ECANCELED);
    conf_finish(tb, 0);
    assert_int_equal(log.v[0], 2);
    return weft_sem_destroy(s);
}

/* A permit released to a waiter cancelled before it runs, with no other
 * waiter, returns to the value: a later acquire does not hang. */
CONF(test_locks__sem_test_acquire_no_hang)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    sm_t a = {s, &log, 1, -1};
    weft_task_t *ta = conf_spawn(sem_user, &a);
    settle();
    weft_sem_release(s);
    weft_cancel(ta);
    conf_finish(ta, -ECANCELED);
    assert_int_equal(weft_sem_value(s), 1);
    assert_int_equal(weft_sem_acquire(s), 0);
    return weft_sem_destroy(s);
}

/* A BoundedSemaphore refuses a release above its initial value. */
CONF(test_locks__sem_test_release_not_acquired)
{
    weft_sem_t *s;
    assert_int_equal(weft_sem_create(&s, 1, WEFT_SEM_BOUNDED), 0);
    assert_int_equal(weft_sem_release(s), -EOVERFLOW);
    assert_int_equal(weft_sem_value(s), 1);
    assert_int_equal(weft_sem_acquire(s), 0);
    assert_int_equal(weft_sem_release(s), 0);
    return weft_sem_destroy(s);
}

/* A plain semaphore's release without waiters raises the value. */
CONF(test_locks__sem_test_release_no_waiters)
{
    weft_sem_t *s;
    assert_int_equal(weft_sem_create(&s, 1, 0), 0);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_value(s), 2);
    return weft_sem_destroy(s);
}

/* Waiters get permits in the order they asked. */
CONF(test_locks__sem_test_acquire_fifo_order)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 1, 0), 0);
    sm_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (sm_t){s, &log, i + 1, 2};
        t[i] = conf_spawn(sem_user, &a[i]);
    }
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(log.v[i], i + 1);
    return weft_sem_destroy(s);
}

/* A task that releases and at once acquires again goes behind a waiter
 * already woken for the permit. */
static int sem_twice(void *arg, void **res)
{
    (void)res;
    sm_t *a = arg;
    assert_int_equal(weft_sem_acquire(a->s), 0);
    conf_log(a->log, a->id);
    weft_yield();
    assert_int_equal(weft_sem_release(a->s), 0);
    assert_int_equal(weft_sem_acquire(a->s), 0);
    conf_log(a->log, a->id);
    assert_int_equal(weft_sem_release(a->s), 0);
    return 0;
}

CONF(test_locks__sem_test_acquire_fifo_order_2)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 1, 0), 0);
    sm_t a = {s, &log, 1, 0}, b = {s, &log, 2, 0};
    weft_task_t *ta = conf_spawn(sem_twice, &a), *tb = conf_spawn(sem_user, &b);
    conf_finish(ta, 0);
    conf_finish(tb, 0);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.v[0], 1);
    assert_int_equal(log.v[1], 2);
    assert_int_equal(log.v[2], 1);
    return weft_sem_destroy(s);
}

/* Waiters 1, 2, 3 on an empty semaphore; 1 is cancelled; two releases
 * serve 2 and 3 in order. */
CONF(test_locks__sem_test_acquire_fifo_order_3)
{
    weft_sem_t *s;
    conf_log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    sm_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (sm_t){s, &log, i + 1, -1};
        t[i] = conf_spawn(sem_user, &a[i]);
    }
    settle();
    weft_cancel(t[0]);
    settle();
    weft_sem_release(s);
    weft_sem_release(s);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], 0);
    conf_finish(t[2], 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.v[0], 2);
    assert_int_equal(log.v[1], 3);
    return weft_sem_destroy(s);
}

/* A semaphore's acquire in an expired timeout scope times out and takes
 * nothing (the timeout case of test_acquire_cancel). */
CONF(test_locks__sem_test_acquire_cancel_timeout)
{
    weft_sem_t *s;
    weft_deadline_t d;
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_sem_acquire(s), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_int_equal(weft_sem_waiters(s), 0);
    weft_sem_release(s);
    assert_int_equal(weft_sem_value(s), 1);
    return weft_sem_destroy(s);
}

/* ---- Barrier ---- */

typedef struct {
    weft_barrier_t *b;
    int rounds;
    int idx[4];
} br_t;

static int br_party(void *arg, void **res)
{
    (void)res;
    br_t *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        int rc = weft_barrier_wait(a->b);
        if (rc < 0)
            return rc;
        a->idx[i] = rc;
    }
    return 0;
}

static void spawn_parties(weft_barrier_t *b, int n, int rounds, br_t *a, weft_task_t **t)
{
    for (int i = 0; i < n; i++) {
        a[i] = (br_t){.b = b, .rounds = rounds};
        t[i] = conf_spawn(br_party, &a[i]);
    }
}

/* parties tasks arrive; all pass; arrival indices 0..parties-1. */
CONF(test_locks__barrier_test_barrier)
{
    weft_barrier_t *b;
    br_t a[3];
    weft_task_t *t[3];
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    spawn_parties(b, 3, 1, a, t);
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        conf_finish(t[i], 0);
        seen |= 1 << a[i].idx[0];
    }
    assert_int_equal(seen, 7);
    assert_false(weft_barrier_broken(b));
    return weft_barrier_destroy(b);
}

/* parties, n_waiting and broken of a new barrier; 0 parties refused. */
CONF(test_locks__barrier_test_barrier_parties)
{
    weft_barrier_t *b;
    assert_int_equal(weft_barrier_create(&b, 0), -EINVAL);
    assert_int_equal(weft_barrier_create(&b, 5), 0);
    assert_int_equal(weft_barrier_parties(b), 5);
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    assert_false(weft_barrier_broken(b));
    return weft_barrier_destroy(b);
}

/* A barrier of one party never waits: its one arrival passes at once. */
CONF(test_locks__barrier_test_filling_one_task)
{
    weft_barrier_t *b;
    assert_int_equal(weft_barrier_create(&b, 1), 0);
    assert_int_equal(weft_barrier_wait(b), 0);
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    return weft_barrier_destroy(b);
}

CONF(test_locks__barrier_test_filling_one_task_twice)
{
    weft_barrier_t *b;
    assert_int_equal(weft_barrier_create(&b, 1), 0);
    assert_int_equal(weft_barrier_wait(b), 0);
    assert_int_equal(weft_barrier_wait(b), 0);
    return weft_barrier_destroy(b);
}

/* Tasks arriving one by one: n_waiting counts them until the last. */
CONF(test_locks__barrier_test_filling_task_by_task)
{
    weft_barrier_t *b;
    br_t a[3];
    weft_task_t *t[3];
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    for (int i = 0; i < 3; i++) {
        a[i] = (br_t){.b = b, .rounds = 1};
        t[i] = conf_spawn(br_party, &a[i]);
        settle();
        assert_int_equal(weft_barrier_n_waiting(b), i < 2 ? i + 1 : 0);
    }
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    return weft_barrier_destroy(b);
}

/* The barrier is reusable: each task passes it twice. */
CONF(test_locks__barrier_test_filling_tasks_wait_twice)
{
    weft_barrier_t *b;
    br_t a[3];
    weft_task_t *t[3];
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    spawn_parties(b, 3, 2, a, t);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    return weft_barrier_destroy(b);
}

/* Every cycle hands out each index once; the last arrival gets
 * parties - 1. */
CONF(test_locks__barrier_test_filling_tasks_check_return_value)
{
    weft_barrier_t *b;
    br_t a[4];
    weft_task_t *t[4];
    assert_int_equal(weft_barrier_create(&b, 4), 0);
    spawn_parties(b, 4, 2, a, t);
    for (int i = 0; i < 4; i++)
        conf_finish(t[i], 0);
    for (int r = 0; r < 2; r++) {
        int seen = 0;
        for (int i = 0; i < 4; i++)
            seen |= 1 << a[i].idx[r];
        assert_int_equal(seen, 15);
    }
    assert_int_equal(a[3].idx[0], 3); /* spawned last, arrived last */
    return weft_barrier_destroy(b);
}

/* Deliberate difference: asyncio lets a cancelled party leave the
 * barrier (the others keep waiting); weft breaks the barrier, so every
 * other party gets -EPIPE rather than waiting for a party that is gone. */
CONF(test_locks__barrier_test_filling_tasks_cancel_one)
{
    weft_barrier_t *b;
    br_t a[2];
    weft_task_t *t[2];
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    spawn_parties(b, 2, 1, a, t);
    settle();
    weft_cancel(t[0]);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], -EPIPE);
    assert_true(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_wait(b), -EPIPE);
    return weft_barrier_destroy(b);
}

/* reset on an idle barrier leaves it as new. */
CONF(test_locks__barrier_test_reset_barrier)
{
    weft_barrier_t *b;
    assert_int_equal(weft_barrier_create(&b, 1), 0);
    assert_int_equal(weft_barrier_reset(b), 0);
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    assert_false(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_wait(b), 0);
    return weft_barrier_destroy(b);
}

/* reset while tasks wait: they get -EPIPE (BrokenBarrierError), and the
 * barrier is usable, unbroken, afterwards. */
CONF(test_locks__barrier_test_reset_barrier_while_tasks_waiting)
{
    weft_barrier_t *b;
    br_t a[2];
    weft_task_t *t[2];
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    spawn_parties(b, 2, 1, a, t);
    settle();
    assert_int_equal(weft_barrier_reset(b), 0);
    conf_finish(t[0], -EPIPE);
    conf_finish(t[1], -EPIPE);
    assert_false(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    return weft_barrier_destroy(b);
}

/* After a reset that interrupted waiters, a full set of parties passes. */
CONF(test_locks__barrier_test_reset_barrier_while_tasks_waiting_and_waiting_again)
{
    weft_barrier_t *b;
    br_t a[3];
    weft_task_t *t[3];
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    spawn_parties(b, 2, 1, a, t);
    settle();
    weft_barrier_reset(b);
    conf_finish(t[0], -EPIPE);
    conf_finish(t[1], -EPIPE);
    spawn_parties(b, 3, 1, a, t);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    return weft_barrier_destroy(b);
}

/* abort breaks the barrier: waits fail until a reset. */
CONF(test_locks__barrier_test_abort_barrier)
{
    weft_barrier_t *b;
    assert_int_equal(weft_barrier_create(&b, 1), 0);
    assert_int_equal(weft_barrier_abort(b), 0);
    assert_true(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_wait(b), -EPIPE);
    return weft_barrier_destroy(b);
}

/* abort wakes the waiting parties with -EPIPE. */
CONF(test_locks__barrier_test_abort_barrier_when_tasks_half_draining_half_blocking)
{
    weft_barrier_t *b;
    br_t a[2];
    weft_task_t *t[2];
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    spawn_parties(b, 2, 1, a, t);
    settle();
    weft_barrier_abort(b);
    conf_finish(t[0], -EPIPE);
    conf_finish(t[1], -EPIPE);
    assert_true(weft_barrier_broken(b));
    return weft_barrier_destroy(b);
}

/* Broken by an error in one party (here a timed-out wait), then reset:
 * the barrier works again. */
CONF(test_locks__barrier_test_abort_barrier_when_exception_then_resetting)
{
    weft_barrier_t *b;
    weft_deadline_t d;
    assert_int_equal(weft_barrier_create(&b, 2), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(1)), 0);
    assert_int_equal(weft_barrier_wait(b), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_true(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_reset(b), 0);
    br_t a[2];
    weft_task_t *t[2];
    spawn_parties(b, 2, 1, a, t);
    conf_finish(t[0], 0);
    conf_finish(t[1], 0);
    return weft_barrier_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locks__test_lock),
        cmocka_unit_test(test_locks__test_repr),
        cmocka_unit_test(test_locks__test_acquire),
        cmocka_unit_test(test_locks__test_acquire_cancel),
        cmocka_unit_test(test_locks__test_cancel_race),
        cmocka_unit_test(test_locks__test_cancel_release_race),
        cmocka_unit_test(test_locks__test_finished_waiter_cancelled),
        cmocka_unit_test(test_locks__test_release_not_acquired),
        cmocka_unit_test(test_locks__test_release_not_acquired_by_other_task),
        cmocka_unit_test(test_locks__test_release_no_waiters),
        cmocka_unit_test(test_locks__test_acquire_releaser_behind_waiter),
        cmocka_unit_test(test_locks__event_test_repr),
        cmocka_unit_test(test_locks__event_test_wait),
        cmocka_unit_test(test_locks__event_test_wait_on_set),
        cmocka_unit_test(test_locks__event_test_wait_cancel),
        cmocka_unit_test(test_locks__event_test_clear),
        cmocka_unit_test(test_locks__event_test_clear_with_waiters),
        cmocka_unit_test(test_locks__cond_test_wait),
        cmocka_unit_test(test_locks__cond_test_wait_cancel),
        cmocka_unit_test(test_locks__cond_test_wait_cancel_contested),
        cmocka_unit_test(test_locks__cond_test_wait_cancel_after_notify),
        cmocka_unit_test(test_locks__cond_test_cancelled_wakeup),
        cmocka_unit_test(test_locks__cond_test_cancelled_error_re_aquire),
        cmocka_unit_test(test_locks__cond_test_wait_unacquired),
        cmocka_unit_test(test_locks__cond_test_wait_for),
        cmocka_unit_test(test_locks__cond_test_wait_for_unacquired),
        cmocka_unit_test(test_locks__cond_test_notify),
        cmocka_unit_test(test_locks__cond_test_notify_all),
        cmocka_unit_test(test_locks__cond_test_notify_unacquired),
        cmocka_unit_test(test_locks__cond_test_notify_all_unacquired),
        cmocka_unit_test(test_locks__cond_test_explicit_lock),
        cmocka_unit_test(test_locks__cond_test_timeout_in_block),
        cmocka_unit_test(test_locks__sem_test_initial_value_zero),
        cmocka_unit_test(test_locks__sem_test_repr),
        cmocka_unit_test(test_locks__sem_test_semaphore),
        cmocka_unit_test(test_locks__sem_test_semaphore_value),
        cmocka_unit_test(test_locks__sem_test_acquire),
        cmocka_unit_test(test_locks__sem_test_acquire_cancel),
        cmocka_unit_test(test_locks__sem_test_acquire_cancel_before_awoken),
        cmocka_unit_test(test_locks__sem_test_acquire_hang),
        cmocka_unit_test(test_locks__sem_test_acquire_no_hang),
        cmocka_unit_test(test_locks__sem_test_release_not_acquired),
        cmocka_unit_test(test_locks__sem_test_release_no_waiters),
        cmocka_unit_test(test_locks__sem_test_acquire_fifo_order),
        cmocka_unit_test(test_locks__sem_test_acquire_fifo_order_2),
        cmocka_unit_test(test_locks__sem_test_acquire_fifo_order_3),
        cmocka_unit_test(test_locks__sem_test_acquire_cancel_timeout),
        cmocka_unit_test(test_locks__barrier_test_barrier),
        cmocka_unit_test(test_locks__barrier_test_barrier_parties),
        cmocka_unit_test(test_locks__barrier_test_filling_one_task),
        cmocka_unit_test(test_locks__barrier_test_filling_one_task_twice),
        cmocka_unit_test(test_locks__barrier_test_filling_task_by_task),
        cmocka_unit_test(test_locks__barrier_test_filling_tasks_wait_twice),
        cmocka_unit_test(test_locks__barrier_test_filling_tasks_check_return_value),
        cmocka_unit_test(test_locks__barrier_test_filling_tasks_cancel_one),
        cmocka_unit_test(test_locks__barrier_test_reset_barrier),
        cmocka_unit_test(test_locks__barrier_test_reset_barrier_while_tasks_waiting),
        cmocka_unit_test(
            test_locks__barrier_test_reset_barrier_while_tasks_waiting_and_waiting_again),
        cmocka_unit_test(test_locks__barrier_test_abort_barrier),
        cmocka_unit_test(
            test_locks__barrier_test_abort_barrier_when_tasks_half_draining_half_blocking),
        cmocka_unit_test(test_locks__barrier_test_abort_barrier_when_exception_then_resetting),
    };
    return run_suite(tests, NULL, NULL);
}
