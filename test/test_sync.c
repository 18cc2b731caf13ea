/* test_sync.c - locks, events, conditions, semaphores, barriers.
 *
 * Each test runs its body as the main task of weft_run and checks one
 * behaviour weft.h documents: the basic contract, FIFO order of waiters,
 * deadline scopes and cancellation on every waiting call, and the
 * cancellation-safety cases (a lock, a permit or a notification handed
 * to a waiter that is cancelled before it runs goes on to the next
 * waiter; a cancelled barrier waiter breaks the barrier).
 *
 * Every task here is pinned to the main task's worker (HERE), also when
 * the runtime spreads (WEFT_SPREAD=1): the checks are one loop's order
 * (who queued first, who runs before whom after a hand-off, a waiter
 * cancelled before it runs), which a primitive promises only for waiters
 * that queued in that order. test_worker.c covers these primitives across
 * workers, where the checks are counts and sums.
 *
 * Covers: src/sync.c.
 */
#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Lets every ready task run until it waits. */

/* A log of events, in the order they happened. */
typedef struct {
    int v[64];
    int n;
} log_t;

static void log_add(log_t *l, int x)
{
    assert_true(l->n < 64);
    l->v[l->n++] = x;
}

/* ---- outside a loop ---- */

static void test_sync_create_outside_loop_is_enoloop(void **state)
{
    weft_lock_t *l;
    weft_event_t *e;
    weft_cond_t *c;
    weft_sem_t *s;
    weft_barrier_t *b;
    assert_int_equal(weft_lock_create(&l), -WEFT_ENOLOOP);
    assert_int_equal(weft_event_create(&e), -WEFT_ENOLOOP);
    assert_int_equal(weft_cond_create(&c, NULL), -WEFT_ENOLOOP);
    assert_int_equal(weft_sem_create(&s, 1, 0), -WEFT_ENOLOOP);
    assert_int_equal(weft_barrier_create(&b, 2), -WEFT_ENOLOOP);
    assert_int_equal(weft_lock_create(NULL), -EINVAL);
    assert_int_equal(weft_lock_acquire(NULL), -WEFT_ENOTASK); /* outside a task first */
}

/* ---- lock ---- */

typedef struct {
    weft_lock_t *l;
    log_t *log;
    int id;
    int rc;
    int hold_yields;
} locker_t;

static int locker(void *arg, void **res)
{
    locker_t *a = arg;
    a->rc = weft_lock_acquire(a->l);
    if (a->rc == 0) {
        log_add(a->log, a->id);
        for (int i = 0; i < a->hold_yields; i++)
            weft_yield();
        assert_int_equal(weft_lock_release(a->l), 0);
    }
    return a->rc;
}

static int lock_basic_main(void *arg, void **res)
{
    weft_lock_t *l;
    assert_int_equal(weft_lock_create(&l), 0);
    assert_false(weft_lock_locked(l));
    assert_int_equal(weft_lock_release(l), -WEFT_ENOTOWNER);
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_true(weft_lock_locked(l));
    assert_int_equal(weft_lock_acquire(l), -EDEADLK);
    assert_int_equal(weft_lock_try_acquire(l), -EBUSY);
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_lock_try_acquire(l), 0);
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_lock_release(l), -WEFT_ENOTOWNER);
    assert_int_equal(weft_lock_acquire(NULL), -EINVAL);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_lock_owner_acquires_once_and_only_the_owner_releases(void **state)
{
    run(lock_basic_main, NULL);
}

static int lock_non_owner_main(void *arg, void **res)
{
    weft_lock_t *l;
    assert_int_equal(weft_lock_create(&l), 0);
    /* a non-owner cannot release */
    log_t log = {0};
    locker_t a = {.l = l, .log = &log, .id = 1, .hold_yields = 3};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, locker, &a, HERE), 0);
    assert_int_equal(weft_yield(), 0);
    assert_true(weft_lock_locked(l));
    assert_int_equal(weft_lock_release(l), -WEFT_ENOTOWNER);
    assert_int_equal(weft_lock_try_acquire(l), -EBUSY);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(log.n, 1);
    assert_false(weft_lock_locked(l));
    assert_int_equal(weft_lock_destroy(NULL), -EINVAL);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_lock_held_by_another_task_refuses_release_and_try_acquire(void **state)
{
    run(lock_non_owner_main, NULL);
}

static int lock_waiters_main(void *arg, void **res)
{
    weft_lock_t *l;
    log_t log = {0};
    locker_t a[2];
    weft_task_t *t[2];
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_waiters(l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_lock_waiters(l), 0); /* the holder does not wait */
    for (int i = 0; i < 2; i++) {
        a[i] = (locker_t){.l = l, .log = &log, .id = i, .hold_yields = 1};
        assert_int_equal(weft_spawn(&t[i], locker, &a[i], HERE), 0);
    }
    settle();
    assert_int_equal(weft_lock_waiters(l), 2);
    /* handed to the first, which has not run: it waits no more */
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_lock_waiters(l), 1);
    for (int i = 0; i < 2; i++)
        await_release(t[i]);
    assert_int_equal(weft_lock_waiters(l), 0);
    assert_int_equal(weft_lock_waiters(NULL), -EINVAL);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_lock_waiters_counts_tasks_still_waiting(void **state)
{
    run(lock_waiters_main, NULL);
}

static int lock_fifo_main(void *arg, void **res)
{
    weft_lock_t *l;
    log_t log = {0};
    locker_t a[6];
    weft_task_t *t[6];
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    for (int i = 0; i < 6; i++) {
        a[i] = (locker_t){.l = l, .log = &log, .id = i, .hold_yields = 1};
        assert_int_equal(weft_spawn(&t[i], locker, &a[i], HERE), 0);
        assert_int_equal(weft_yield(), 0); /* it queues now, in order */
    }
    assert_int_equal(weft_lock_destroy(l), -EBUSY);
    /* a newcomer's try_acquire cannot barge in after the release */
    assert_int_equal(weft_lock_release(l), 0);
    assert_true(weft_lock_locked(l));
    assert_int_equal(weft_lock_try_acquire(l), -EBUSY);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(log.n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(log.v[i], i);
    assert_false(weft_lock_locked(l));
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_lock_fifo_and_no_barging(void **state)
{
    run(lock_fifo_main, NULL);
}

static int lock_handoff_cancel_main(void *arg, void **res)
{
    weft_lock_t *l;
    log_t log = {0};
    locker_t a = {.id = 1}, b = {.id = 2};
    weft_task_t *ta, *tb;
    assert_int_equal(weft_lock_create(&l), 0);
    a.l = b.l = l;
    a.log = b.log = &log;
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_spawn(&ta, locker, &a, HERE), 0);
    assert_int_equal(weft_spawn(&tb, locker, &b, HERE), 0);
    settle();
    /* the lock goes to a, which is cancelled before it runs */
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_cancel(ta), 0);
    assert_int_equal(weft_await(ta, NULL), -ECANCELED);
    assert_int_equal(a.rc, -ECANCELED);
    assert_int_equal(weft_await(tb, NULL), 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.v[0], 2);
    assert_false(weft_lock_locked(l));
    weft_task_release(ta);
    weft_task_release(tb);

    /* the same with nobody behind: the lock ends up free */
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_spawn(&ta, locker, &a, HERE), 0);
    settle();
    assert_int_equal(weft_lock_release(l), 0);
    weft_cancel(ta);
    assert_int_equal(weft_await(ta, NULL), -ECANCELED);
    assert_false(weft_lock_locked(l));
    weft_task_release(ta);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_lock_handed_then_cancelled_passes_on(void **state)
{
    run(lock_handoff_cancel_main, NULL);
}

static int lock_deadline_main(void *arg, void **res)
{
    weft_lock_t *l;
    log_t log = {0};
    locker_t a = {.id = 1, .log = &log};
    weft_task_t *ta;
    assert_int_equal(weft_lock_create(&l), 0);
    a.l = l;
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_spawn(&ta, locker, &a, HERE), 0);
    settle();
    /* a waiting task cancelled: it takes nothing */
    weft_cancel(ta);
    assert_int_equal(weft_await(ta, NULL), -ECANCELED);
    assert_int_equal(log.n, 0);
    assert_int_equal(weft_lock_release(l), 0);
    assert_false(weft_lock_locked(l));
    weft_task_release(ta);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_lock_waiter_cancelled_takes_nothing(void **state)
{
    run(lock_deadline_main, NULL);
}

typedef struct {
    weft_lock_t *l;
    int rc;
} lock_dl_t;

static int lock_with_deadline(void *arg, void **res)
{
    lock_dl_t *a = arg;
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_MSEC(5));
    a->rc = weft_lock_acquire(a->l);
    weft_deadline_pop(&d);
    return 0;
}

static int lock_timeout_main(void *arg, void **res)
{
    weft_lock_t *l;
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_lock_acquire(l), 0);
    lock_dl_t a = {.l = l};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, lock_with_deadline, &a, HERE), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(a.rc, -ETIMEDOUT);
    assert_int_equal(weft_lock_release(l), 0); /* still ours */
    assert_false(weft_lock_locked(l));
    weft_task_release(t);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_lock_acquire_times_out_under_a_deadline_and_takes_nothing(void **state)
{
    run(lock_timeout_main, NULL);
}

/* ---- event ---- */

typedef struct {
    weft_event_t *e;
    log_t *log;
    int id;
    int rc;
    int64_t timeout;
} ewaiter_t;

static int event_waiter(void *arg, void **res)
{
    ewaiter_t *a = arg;
    weft_deadline_t d;
    if (a->timeout)
        weft_deadline_push(&d, a->timeout);
    a->rc = weft_event_wait(a->e);
    if (a->timeout)
        weft_deadline_pop(&d);
    if (a->rc == 0)
        log_add(a->log, a->id);
    return 0;
}

static int event_main(void *arg, void **res)
{
    weft_event_t *e;
    log_t log = {0};
    assert_int_equal(weft_event_create(&e), 0);
    assert_false(weft_event_is_set(e));
    ewaiter_t w[4];
    weft_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (ewaiter_t){.e = e, .log = &log, .id = i};
        if (i == 3)
            w[i].timeout = WEFT_MSEC(2);
        assert_int_equal(weft_spawn(&t[i], event_waiter, &w[i], HERE), 0);
    }
    settle();
    assert_int_equal(log.n, 0);
    assert_int_equal(weft_event_destroy(e), -EBUSY);
    assert_int_equal(weft_await(t[3], NULL), 0);
    assert_int_equal(w[3].rc, -ETIMEDOUT);
    weft_cancel(t[2]);
    assert_int_equal(weft_event_set(e), 0);
    assert_true(weft_event_is_set(e));
    assert_int_equal(weft_event_set(e), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_await(t[i], NULL), 0);
    assert_int_equal(w[0].rc, 0);
    assert_int_equal(w[1].rc, 0);
    assert_int_equal(w[2].rc, -ECANCELED);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.v[0], 0);
    assert_int_equal(log.v[1], 1);
    for (int i = 0; i < 4; i++)
        weft_task_release(t[i]);
    assert_int_equal(weft_event_destroy(e), 0);
    return 0;
}

static void test_event_set_wakes_every_waiter_in_order_but_the_gone_ones(void **state)
{
    run(event_main, NULL);
}

static int event_set_main(void *arg, void **res)
{
    weft_event_t *e;
    assert_int_equal(weft_event_create(&e), 0);
    assert_int_equal(weft_event_set(e), 0);
    /* set: a wait returns at once */
    assert_int_equal(weft_event_wait(e), 0);
    assert_int_equal(weft_event_clear(e), 0);
    assert_false(weft_event_is_set(e));
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_MSEC(1));
    assert_int_equal(weft_event_wait(e), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_int_equal(weft_event_destroy(e), 0);
    assert_int_equal(weft_event_wait(NULL), -EINVAL);
    return 0;
}

static void test_event_wait_returns_at_once_while_set_and_blocks_after_clear(void **state)
{
    run(event_set_main, NULL);
}

static int event_waiters_main(void *arg, void **res)
{
    weft_event_t *e;
    log_t log = {0};
    assert_int_equal(weft_event_create(&e), 0);
    assert_int_equal(weft_event_waiters(e), 0);
    ewaiter_t w[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (ewaiter_t){.e = e, .log = &log, .id = i};
        assert_int_equal(weft_spawn(&t[i], event_waiter, &w[i], HERE), 0);
    }
    settle();
    assert_int_equal(weft_event_waiters(e), 3);
    /* a cancelled one stops counting at once, before it has run */
    assert_int_equal(weft_cancel(t[1]), 0);
    assert_int_equal(weft_event_waiters(e), 2);
    settle();
    assert_int_equal(weft_event_waiters(e), 2);
    /* set wakes the rest: none is waiting any more */
    assert_int_equal(weft_event_set(e), 0);
    assert_int_equal(weft_event_waiters(e), 0);
    for (int i = 0; i < 3; i++)
        await_release(t[i]);
    assert_int_equal(w[1].rc, -ECANCELED);
    assert_int_equal(log.n, 2);
    assert_int_equal(weft_event_waiters(NULL), -EINVAL);
    assert_int_equal(weft_event_destroy(e), 0);
    return 0;
}

static void test_event_waiters_counts_tasks_still_waiting(void **state)
{
    run(event_waiters_main, NULL);
}

/* ---- condition ---- */

typedef struct {
    weft_cond_t *c;
    log_t *log;
    int id;
    int rc;
    bool held_after;
    int *counter;
    int64_t timeout;
} cwaiter_t;

static int cond_waiter(void *arg, void **res)
{
    cwaiter_t *a = arg;
    weft_lock_t *l = weft_cond_lock(a->c);
    assert_int_equal(weft_lock_acquire(l), 0);
    weft_deadline_t d;
    if (a->timeout)
        weft_deadline_push(&d, a->timeout);
    a->rc = weft_cond_wait(a->c);
    if (a->timeout)
        weft_deadline_pop(&d);
    a->held_after = weft_lock_release(l) == 0; /* 0 only if we held it */
    if (a->rc == 0)
        log_add(a->log, a->id);
    return 0;
}

static int cond_basic_main(void *arg, void **res)
{
    weft_cond_t *c;
    log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    weft_lock_t *l = weft_cond_lock(c);
    assert_non_null(l);
    assert_int_equal(weft_cond_wait(c), -WEFT_ENOTOWNER);
    assert_int_equal(weft_cond_notify(c, 1), -WEFT_ENOTOWNER);
    assert_int_equal(weft_cond_notify_all(c), -WEFT_ENOTOWNER);

    cwaiter_t w[4];
    weft_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (cwaiter_t){.c = c, .log = &log, .id = i};
        assert_int_equal(weft_spawn(&t[i], cond_waiter, &w[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    settle();
    assert_int_equal(weft_cond_destroy(c), -EBUSY);
    /* notify one at a time: FIFO */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_lock_acquire(l), 0);
        assert_int_equal(weft_cond_notify(c, 1), 1);
        assert_int_equal(weft_lock_release(l), 0);
        settle();
        assert_int_equal(log.n, i + 1);
        assert_int_equal(log.v[i], i);
    }
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_cond_notify_all(c), 2);
    assert_int_equal(weft_cond_notify(c, 5), 0);
    assert_int_equal(weft_lock_release(l), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        assert_int_equal(w[i].rc, 0);
        assert_true(w[i].held_after);
        weft_task_release(t[i]);
    }
    assert_int_equal(log.n, 4);
    assert_int_equal(log.v[2], 2);
    assert_int_equal(log.v[3], 3);
    assert_int_equal(weft_cond_destroy(c), 0);
    return 0;
}

static void test_cond_notify_wakes_waiters_in_order_holding_the_lock(void **state)
{
    run(cond_basic_main, NULL);
}

static int cond_own_lock_main(void *arg, void **res)
{
    weft_cond_t *c;
    weft_lock_t *l;
    /* over a lock of the caller's */
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_cond_create(&c, l), 0);
    assert_ptr_equal(weft_cond_lock(c), l);
    assert_int_equal(weft_cond_destroy(c), 0);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_cond_over_the_callers_lock_uses_that_lock(void **state)
{
    run(cond_own_lock_main, NULL);
}

static int cond_notify_cancel_main(void *arg, void **res)
{
    weft_cond_t *c;
    log_t log = {0};
    assert_int_equal(weft_cond_create(&c, NULL), 0);
    weft_lock_t *l = weft_cond_lock(c);
    cwaiter_t w[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (cwaiter_t){.c = c, .log = &log, .id = i};
        assert_int_equal(weft_spawn(&t[i], cond_waiter, &w[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    settle();
    /* notify the first, cancel it before it runs: the second gets it */
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_cond_notify(c, 1), 1);
    weft_cancel(t[0]);
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_await(t[0], NULL), 0);
    assert_int_equal(w[0].rc, -ECANCELED);
    assert_true(w[0].held_after);
    assert_int_equal(weft_await(t[1], NULL), 0);
    assert_int_equal(w[1].rc, 0);
    assert_true(w[1].held_after);
    settle();
    assert_false(weft_task_done(t[2])); /* only one notification */
    assert_int_equal(log.n, 1);
    assert_int_equal(log.v[0], 1);

    /* cancelled while waiting, with the lock held by someone else: the
     * wait returns only once it holds the lock again */
    assert_int_equal(weft_lock_acquire(l), 0);
    weft_cancel(t[2]);
    settle();
    assert_false(weft_task_done(t[2]));
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_await(t[2], NULL), 0);
    assert_int_equal(w[2].rc, -ECANCELED);
    assert_true(w[2].held_after);
    for (int i = 0; i < 3; i++)
        weft_task_release(t[i]);

    /* deadline: -ETIMEDOUT with the lock held */
    cwaiter_t wt = {.c = c, .log = &log, .id = 9, .timeout = WEFT_MSEC(3)};
    weft_task_t *tt;
    assert_int_equal(weft_spawn(&tt, cond_waiter, &wt, HERE), 0);
    assert_int_equal(weft_await(tt, NULL), 0);
    assert_int_equal(wt.rc, -ETIMEDOUT);
    assert_true(wt.held_after);
    weft_task_release(tt);
    assert_false(weft_lock_locked(l));
    assert_int_equal(weft_cond_destroy(c), 0);
    return 0;
}

static void test_cond_notified_then_cancelled_passes_on(void **state)
{
    run(cond_notify_cancel_main, NULL);
}

typedef struct {
    weft_cond_t *c;
    int items;
    int got;
} pc_t;

static bool has_items(void *arg)
{
    return ((pc_t *)arg)->items > 0;
}

static int pc_consumer(void *arg, void **res)
{
    pc_t *p = arg;
    weft_lock_t *l = weft_cond_lock(p->c);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(weft_lock_acquire(l), 0);
        assert_int_equal(weft_cond_wait_for(p->c, has_items, p), 0);
        p->items--;
        p->got++;
        assert_int_equal(weft_lock_release(l), 0);
    }
    return 0;
}

static int cond_wait_for_main(void *arg, void **res)
{
    pc_t p = {0};
    assert_int_equal(weft_cond_create(&p.c, NULL), 0);
    weft_lock_t *l = weft_cond_lock(p.c);
    assert_int_equal(weft_cond_wait_for(p.c, has_items, &p), -WEFT_ENOTOWNER);
    weft_task_t *t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_spawn(&t[i], pc_consumer, &p, HERE), 0);
    for (int k = 0; k < 20; k++) {
        assert_int_equal(weft_lock_acquire(l), 0);
        p.items++;
        assert_true(weft_cond_notify(p.c, 1) >= 0);
        assert_int_equal(weft_lock_release(l), 0);
        if (k % 3 == 0)
            weft_yield();
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(p.got, 20);
    assert_int_equal(p.items, 0);
    /* true at once: no wait */
    p.items = 1;
    assert_int_equal(weft_lock_acquire(l), 0);
    assert_int_equal(weft_cond_wait_for(p.c, has_items, &p), 0);
    assert_int_equal(weft_lock_release(l), 0);
    assert_int_equal(weft_cond_destroy(p.c), 0);
    return 0;
}

static void test_cond_wait_for_waits_until_the_predicate_holds(void **state)
{
    run(cond_wait_for_main, NULL);
}

/* ---- semaphore ---- */

typedef struct {
    weft_sem_t *s;
    log_t *log;
    int id;
    int rc;
    int64_t timeout;
    bool release;
} sacq_t;

static int sem_acquirer(void *arg, void **res)
{
    sacq_t *a = arg;
    weft_deadline_t d;
    if (a->timeout)
        weft_deadline_push(&d, a->timeout);
    a->rc = weft_sem_acquire(a->s);
    if (a->timeout)
        weft_deadline_pop(&d);
    if (a->rc == 0) {
        log_add(a->log, a->id);
        if (a->release)
            weft_sem_release(a->s);
    }
    return 0;
}

static int sem_main(void *arg, void **res)
{
    weft_sem_t *s;
    log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 2, 0), 0);
    assert_int_equal(weft_sem_value(s), 2);
    assert_int_equal(weft_sem_acquire(s), 0);
    assert_int_equal(weft_sem_try_acquire(s), 0);
    assert_int_equal(weft_sem_value(s), 0);
    assert_int_equal(weft_sem_try_acquire(s), -EAGAIN);

    sacq_t a[5];
    weft_task_t *t[5];
    for (int i = 0; i < 5; i++) {
        a[i] = (sacq_t){.s = s, .log = &log, .id = i};
        if (i == 4)
            a[i].timeout = WEFT_MSEC(2);
        assert_int_equal(weft_spawn(&t[i], sem_acquirer, &a[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    assert_int_equal(weft_await(t[4], NULL), 0);
    assert_int_equal(a[4].rc, -ETIMEDOUT);
    assert_int_equal(weft_sem_destroy(s), -EBUSY);
    /* a permit handed to 0, which is cancelled before it runs: 1 gets it */
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_value(s), 0);
    weft_cancel(t[0]);
    assert_int_equal(weft_sem_try_acquire(s), -EAGAIN); /* no barging */
    settle();
    assert_int_equal(a[0].rc, -ECANCELED);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.v[0], 1);
    /* FIFO for the rest */
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_release(s), 0);
    settle();
    assert_int_equal(log.n, 3);
    assert_int_equal(log.v[1], 2);
    assert_int_equal(log.v[2], 3);
    assert_int_equal(weft_sem_value(s), 1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(weft_sem_destroy(s), 0);
    return 0;
}

static void test_sem_serves_waiters_in_order_and_a_handed_cancelled_one_passes_on(void **state)
{
    run(sem_main, NULL);
}

static int sem_handed_back_main(void *arg, void **res)
{
    weft_sem_t *s;
    log_t log = {0};
    /* handed then cancelled with nobody behind: back to the value */
    assert_int_equal(weft_sem_create(&s, 0, 0), 0);
    sacq_t b = {.s = s, .log = &log, .id = 7};
    weft_task_t *tb;
    assert_int_equal(weft_spawn(&tb, sem_acquirer, &b, HERE), 0);
    settle();
    assert_int_equal(weft_sem_release(s), 0);
    weft_cancel(tb);
    assert_int_equal(weft_await(tb, NULL), 0);
    assert_int_equal(b.rc, -ECANCELED);
    assert_int_equal(weft_sem_value(s), 1);
    weft_task_release(tb);
    assert_int_equal(weft_sem_destroy(s), 0);
    return 0;
}

static void test_sem_permit_handed_to_a_cancelled_last_waiter_goes_back(void **state)
{
    run(sem_handed_back_main, NULL);
}

/* (CPython's test_acquire_fifo_order_2) c1 takes the one permit; c2 and
 * c3 wait; two releases wake c2 then c3. c2 releases and at once acquires
 * again: c3, woken already and not yet run, goes first. */
typedef struct fifo2 {
    weft_sem_t *s;
    log_t *log;
    int id;
} fifo2_t;

static int fifo2_task(void *arg, void **res)
{
    fifo2_t *a = arg;
    assert_int_equal(weft_sem_acquire(a->s), 0);
    log_add(a->log, a->id);
    if (a->id == 2) {
        assert_int_equal(weft_sem_release(a->s), 0);
        assert_int_equal(weft_sem_acquire(a->s), 0);
        log_add(a->log, 4);
    }
    return 0;
}

static int sem_fifo2_main(void *arg, void **res)
{
    weft_sem_t *s;
    log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 1, 0), 0);
    fifo2_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (fifo2_t){.s = s, .log = &log, .id = i + 1};
        assert_int_equal(weft_spawn(&t[i], fifo2_task, &a[i], HERE), 0);
    }
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_release(s), 0);
    for (int i = 0; i < 3; i++)
        await_release(t[i]);
    assert_int_equal(log.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(log.v[i], i + 1);
    assert_int_equal(weft_sem_destroy(s), 0);
    return 0;
}

static void test_sem_releaser_acquiring_again_goes_behind_a_waiter_already_woken(void **state)
{
    run(sem_fifo2_main, NULL);
}

/* (CPython's test_acquire_fifo_order_4) c2 releases three times while
 * only c1 waits: c1 is handed one, two stay free. c2 and c3 then acquire,
 * but c1 has not run: they wait behind it, and c1, when it runs, hands
 * the free permits on to them in order; a task c1 spawns runs after both. */
typedef struct fifo4 {
    weft_sem_t *s;
    log_t *log;
    weft_task_t *t4;
} fifo4_t;

static int fifo4_c4(void *arg, void **res)
{
    fifo4_t *f = arg;
    log_add(f->log, 4);
    return 0;
}

static int fifo4_c1(void *arg, void **res)
{
    fifo4_t *f = arg;
    assert_int_equal(weft_sem_value(f->s), 0);
    assert_int_equal(weft_sem_acquire(f->s), 0);
    assert_int_equal(weft_sem_value(f->s), 0); /* the free ones went on */
    assert_int_equal(weft_spawn(&f->t4, fifo4_c4, f, HERE), 0);
    log_add(f->log, 1);
    return 0;
}

static int fifo4_c2(void *arg, void **res)
{
    fifo4_t *f = arg;
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_sem_release(f->s), 0);
    assert_int_equal(weft_sem_value(f->s), 2);
    assert_int_equal(weft_sem_try_acquire(f->s), -EAGAIN); /* c1 first */
    assert_int_equal(weft_sem_acquire(f->s), 0);
    log_add(f->log, 2);
    return 0;
}

static int fifo4_c3(void *arg, void **res)
{
    fifo4_t *f = arg;
    assert_int_equal(weft_sem_acquire(f->s), 0);
    log_add(f->log, 3);
    return 0;
}

static int sem_fifo4_main(void *arg, void **res)
{
    log_t log = {0};
    fifo4_t f = {.log = &log};
    assert_int_equal(weft_sem_create(&f.s, 0, 0), 0);
    weft_task_t *t[3];
    assert_int_equal(weft_spawn(&t[0], fifo4_c1, &f, HERE), 0);
    assert_int_equal(weft_spawn(&t[1], fifo4_c2, &f, HERE), 0);
    assert_int_equal(weft_spawn(&t[2], fifo4_c3, &f, HERE), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_sem_value(f.s), 2);
    assert_int_equal(weft_sem_waiters(f.s), 2); /* c2, c3; c1 was handed one */
    for (int i = 0; i < 3; i++)
        await_release(t[i]);
    await_release(f.t4);
    assert_int_equal(log.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(log.v[i], i + 1);
    assert_int_equal(weft_sem_value(f.s), 0);
    assert_int_equal(weft_sem_waiters(f.s), 0);
    assert_int_equal(weft_sem_destroy(f.s), 0);
    return 0;
}

static void test_sem_free_permits_wait_for_the_woken_waiter_who_hands_them_on_in_order(void **state)
{
    run(sem_fifo4_main, NULL);
}

/* (CPython's test_acquire_fifo_order) three tasks each take the permit
 * twice, sleeping while they hold it: first round, then second, in the
 * same order. */
static int twice(void *arg, void **res)
{
    fifo2_t *a = arg;
    for (int round = 1; round <= 2; round++) {
        assert_int_equal(weft_sem_acquire(a->s), 0);
        log_add(a->log, a->id * 10 + round);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
        assert_int_equal(weft_sem_release(a->s), 0);
    }
    return 0;
}

static int sem_twice_main(void *arg, void **res)
{
    weft_sem_t *s;
    log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 1, 0), 0);
    fifo2_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (fifo2_t){.s = s, .log = &log, .id = i + 1};
        assert_int_equal(weft_spawn(&t[i], twice, &a[i], HERE), 0);
    }
    for (int i = 0; i < 3; i++)
        await_release(t[i]);
    int expect[6] = {11, 21, 31, 12, 22, 32};
    assert_int_equal(log.n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(log.v[i], expect[i]);
    assert_int_equal(weft_sem_destroy(s), 0);
    return 0;
}

static void test_sem_tasks_taking_it_twice_keep_their_order_each_round(void **state)
{
    run(sem_twice_main, NULL);
}

/* Across workers the woken waiter does not hold a newcomer back: it runs
 * in parallel, and waiting for it would be the convoy the lock avoids. */
static int sem_cross_main(void *arg, void **res)
{
    weft_sem_t *s;
    log_t log = {0};
    assert_int_equal(weft_sem_create(&s, 2, 0), 0);
    assert_int_equal(weft_sem_acquire(s), 0);
    assert_int_equal(weft_sem_acquire(s), 0);
    sacq_t b = {.s = s, .log = &log, .id = 1};
    weft_task_opts_t on1 = {.place = WEFT_PLACE_WORKER, .worker = 1};
    weft_task_t *tb;
    assert_int_equal(weft_spawn(&tb, sem_acquirer, &b, &on1), 0);
    while (weft_sem_waiters(s) == 0)
        assert_int_equal(weft_sleep(WEFT_USEC(100)), 0);
    assert_int_equal(weft_sem_release(s), 0); /* handed to b, on worker 1 */
    assert_int_equal(weft_sem_release(s), 0); /* free */
    assert_int_equal(weft_sem_try_acquire(s), 0);
    await_release(tb);
    assert_int_equal(b.rc, 0);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_value(s), 2);
    assert_int_equal(weft_sem_destroy(s), 0);
    return 0;
}

static void test_sem_waiter_woken_on_another_worker_does_not_hold_back_a_newcomer(void **state)
{
    run_workers(2, sem_cross_main, NULL);
}

static int bsem_main(void *arg, void **res)
{
    weft_sem_t *s;
    assert_int_equal(weft_sem_create(&s, 2, 7), -EINVAL);
    assert_int_equal(weft_sem_create(&s, 2, WEFT_SEM_BOUNDED), 0);
    assert_int_equal(weft_sem_release(s), -EOVERFLOW);
    assert_int_equal(weft_sem_value(s), 2);
    assert_int_equal(weft_sem_acquire(s), 0);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_release(s), -EOVERFLOW);
    assert_int_equal(weft_sem_value(s), 2);
    assert_int_equal(weft_sem_destroy(s), 0);
    return 0;
}

static void test_bounded_sem_refuses_release_past_its_initial_value(void **state)
{
    run(bsem_main, NULL);
}

static int usem_main(void *arg, void **res)
{
    weft_sem_t *s;
    /* unbounded may grow */
    assert_int_equal(weft_sem_create(&s, 1, 0), 0);
    assert_int_equal(weft_sem_release(s), 0);
    assert_int_equal(weft_sem_value(s), 2);
    assert_int_equal(weft_sem_destroy(s), 0);
    return 0;
}

static void test_unbounded_sem_release_grows_the_value(void **state)
{
    run(usem_main, NULL);
}

/* ---- barrier ---- */

typedef struct {
    weft_barrier_t *b;
    int rc[4];
    int rounds;
    int64_t timeout;
} barg_t;

static int barrier_waiter(void *arg, void **res)
{
    barg_t *a = arg;
    for (int r = 0; r < a->rounds; r++) {
        weft_deadline_t d;
        if (a->timeout)
            weft_deadline_push(&d, a->timeout);
        a->rc[r] = weft_barrier_wait(a->b);
        if (a->timeout)
            weft_deadline_pop(&d);
    }
    return 0;
}

static int barrier_main(void *arg, void **res)
{
    weft_barrier_t *b;
    assert_int_equal(weft_barrier_create(&b, 0), -EINVAL);
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    assert_int_equal(weft_barrier_parties(b), 3);
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    barg_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (barg_t){.b = b, .rounds = 3};
        assert_int_equal(weft_spawn(&t[i], barrier_waiter, &a[i], HERE), 0);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    for (int r = 0; r < 3; r++) {
        int seen = 0;
        for (int i = 0; i < 3; i++) {
            assert_true(a[i].rc[r] >= 0 && a[i].rc[r] < 3);
            seen |= 1 << a[i].rc[r];
        }
        assert_int_equal(seen, 7);
    }
    /* arrival order: the first spawned arrives first in round 0 */
    assert_int_equal(a[0].rc[0], 0);
    assert_int_equal(a[2].rc[0], 2);
    assert_false(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_destroy(b), 0);
    return 0;
}

static void test_barrier_releases_all_parties_each_round_with_arrival_indexes(void **state)
{
    run(barrier_main, NULL);
}

/* A barrier of three parties, for the tests that break or reset one. */
static weft_barrier_t *barrier3(void)
{
    weft_barrier_t *b;
    assert_int_equal(weft_barrier_create(&b, 3), 0);
    return b;
}

static int barrier_cancel_main(void *arg, void **res)
{
    weft_barrier_t *b = barrier3();
    /* a cancelled waiter breaks it */
    barg_t c[2] = {{.b = b, .rounds = 1}, {.b = b, .rounds = 1}};
    weft_task_t *tc[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_spawn(&tc[i], barrier_waiter, &c[i], HERE), 0);
    settle();
    assert_int_equal(weft_barrier_n_waiting(b), 2);
    assert_int_equal(weft_barrier_destroy(b), -EBUSY);
    weft_cancel(tc[0]);
    assert_true(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_wait(b), -EPIPE); /* at once */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_await(tc[i], NULL), 0);
        weft_task_release(tc[i]);
    }
    assert_int_equal(c[0].rc[0], -ECANCELED);
    assert_int_equal(c[1].rc[0], -EPIPE);
    assert_int_equal(weft_barrier_wait(b), -EPIPE);
    assert_int_equal(weft_barrier_reset(b), 0);
    assert_false(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    assert_int_equal(weft_barrier_destroy(b), 0);
    return 0;
}

static void test_barrier_broken_by_a_cancelled_waiter_fails_the_others_until_reset(void **state)
{
    run(barrier_cancel_main, NULL);
}

static int barrier_timeout_main(void *arg, void **res)
{
    weft_barrier_t *b = barrier3();
    barg_t c[2];
    weft_task_t *tc[2];
    /* a timed-out waiter breaks it */
    c[0] = (barg_t){.b = b, .rounds = 1, .timeout = WEFT_MSEC(2)};
    c[1] = (barg_t){.b = b, .rounds = 1};
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_spawn(&tc[i], barrier_waiter, &c[i], HERE), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_await(tc[i], NULL), 0);
        weft_task_release(tc[i]);
    }
    assert_true(c[0].rc[0] == -ETIMEDOUT);
    assert_int_equal(c[1].rc[0], -EPIPE);
    assert_true(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_destroy(b), 0);
    return 0;
}

static void test_barrier_broken_by_a_timed_out_waiter_fails_the_others(void **state)
{
    run(barrier_timeout_main, NULL);
}

static int barrier_reset_main(void *arg, void **res)
{
    weft_barrier_t *b = barrier3();
    barg_t c[1];
    weft_task_t *tc[1];
    /* reset wakes waiters with -EPIPE and leaves it usable */
    assert_int_equal(weft_barrier_reset(b), 0);
    c[0] = (barg_t){.b = b, .rounds = 1};
    assert_int_equal(weft_spawn(&tc[0], barrier_waiter, &c[0], HERE), 0);
    settle();
    assert_int_equal(weft_barrier_reset(b), 0);
    assert_int_equal(weft_await(tc[0], NULL), 0);
    weft_task_release(tc[0]);
    assert_int_equal(c[0].rc[0], -EPIPE);
    assert_false(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_destroy(b), 0);
    return 0;
}

static void test_barrier_reset_wakes_waiters_with_epipe_and_leaves_it_usable(void **state)
{
    run(barrier_reset_main, NULL);
}

static int barrier_abort_main(void *arg, void **res)
{
    weft_barrier_t *b = barrier3();
    barg_t c[1] = {{.b = b, .rounds = 1}};
    weft_task_t *tc[1];
    /* abort breaks it */
    assert_int_equal(weft_spawn(&tc[0], barrier_waiter, &c[0], HERE), 0);
    settle();
    assert_int_equal(weft_barrier_abort(b), 0);
    assert_int_equal(weft_await(tc[0], NULL), 0);
    weft_task_release(tc[0]);
    assert_int_equal(c[0].rc[0], -EPIPE);
    assert_true(weft_barrier_broken(b));
    assert_int_equal(weft_barrier_wait(b), -EPIPE);
    assert_int_equal(weft_barrier_reset(b), 0);
    assert_int_equal(weft_barrier_destroy(b), 0);
    return 0;
}

static void test_barrier_abort_wakes_waiters_with_epipe_and_breaks_it(void **state)
{
    run(barrier_abort_main, NULL);
}

static int barrier_overtaken_main(void *arg, void **res)
{
    weft_barrier_t *b = barrier3();
    barg_t c[2];
    weft_task_t *tc[2];
    /* a cancelled waiter whose break is overtaken by a reset does not
     * disturb the next cycle */
    c[0] = (barg_t){.b = b, .rounds = 1};
    assert_int_equal(weft_spawn(&tc[0], barrier_waiter, &c[0], HERE), 0);
    settle();
    weft_cancel(tc[0]);
    assert_int_equal(weft_barrier_reset(b), 0);
    c[1] = (barg_t){.b = b, .rounds = 1};
    assert_int_equal(weft_spawn(&tc[1], barrier_waiter, &c[1], HERE), 0);
    settle();
    assert_int_equal(c[0].rc[0], -ECANCELED);
    assert_int_equal(weft_barrier_n_waiting(b), 1);
    assert_false(weft_task_done(tc[1]));
    assert_int_equal(weft_barrier_abort(b), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_await(tc[i], NULL), 0);
        weft_task_release(tc[i]);
    }
    assert_int_equal(c[1].rc[0], -EPIPE);
    assert_int_equal(weft_barrier_destroy(b), 0);
    return 0;
}

static void test_barrier_reset_overtaking_a_cancelled_waiter_spares_the_next_cycle(void **state)
{
    run(barrier_overtaken_main, NULL);
}

static int barrier_one_main(void *arg, void **res)
{
    /* one party: never waits */
    weft_barrier_t *one;
    assert_int_equal(weft_barrier_create(&one, 1), 0);
    assert_int_equal(weft_barrier_wait(one), 0);
    assert_int_equal(weft_barrier_wait(one), 0);
    assert_int_equal(weft_barrier_destroy(one), 0);
    return 0;
}

static void test_barrier_of_one_party_never_waits(void **state)
{
    run(barrier_one_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_create_outside_loop_is_enoloop),
        cmocka_unit_test(test_lock_owner_acquires_once_and_only_the_owner_releases),
        cmocka_unit_test(test_lock_held_by_another_task_refuses_release_and_try_acquire),
        cmocka_unit_test(test_lock_waiters_counts_tasks_still_waiting),
        cmocka_unit_test(test_lock_fifo_and_no_barging),
        cmocka_unit_test(test_lock_handed_then_cancelled_passes_on),
        cmocka_unit_test(test_lock_waiter_cancelled_takes_nothing),
        cmocka_unit_test(test_lock_acquire_times_out_under_a_deadline_and_takes_nothing),
        cmocka_unit_test(test_event_set_wakes_every_waiter_in_order_but_the_gone_ones),
        cmocka_unit_test(test_event_wait_returns_at_once_while_set_and_blocks_after_clear),
        cmocka_unit_test(test_event_waiters_counts_tasks_still_waiting),
        cmocka_unit_test(test_cond_notify_wakes_waiters_in_order_holding_the_lock),
        cmocka_unit_test(test_cond_over_the_callers_lock_uses_that_lock),
        cmocka_unit_test(test_cond_notified_then_cancelled_passes_on),
        cmocka_unit_test(test_cond_wait_for_waits_until_the_predicate_holds),
        cmocka_unit_test(test_sem_serves_waiters_in_order_and_a_handed_cancelled_one_passes_on),
        cmocka_unit_test(test_sem_permit_handed_to_a_cancelled_last_waiter_goes_back),
        cmocka_unit_test(test_sem_releaser_acquiring_again_goes_behind_a_waiter_already_woken),
        cmocka_unit_test(
            test_sem_free_permits_wait_for_the_woken_waiter_who_hands_them_on_in_order),
        cmocka_unit_test(test_sem_tasks_taking_it_twice_keep_their_order_each_round),
        cmocka_unit_test(test_sem_waiter_woken_on_another_worker_does_not_hold_back_a_newcomer),
        cmocka_unit_test(test_bounded_sem_refuses_release_past_its_initial_value),
        cmocka_unit_test(test_unbounded_sem_release_grows_the_value),
        cmocka_unit_test(test_barrier_releases_all_parties_each_round_with_arrival_indexes),
        cmocka_unit_test(test_barrier_broken_by_a_cancelled_waiter_fails_the_others_until_reset),
        cmocka_unit_test(test_barrier_broken_by_a_timed_out_waiter_fails_the_others),
        cmocka_unit_test(test_barrier_reset_wakes_waiters_with_epipe_and_leaves_it_usable),
        cmocka_unit_test(test_barrier_abort_wakes_waiters_with_epipe_and_breaks_it),
        cmocka_unit_test(test_barrier_reset_overtaking_a_cancelled_waiter_spares_the_next_cycle),
        cmocka_unit_test(test_barrier_of_one_party_never_waits),
    };
    return run_suite(tests, NULL, NULL);
}
