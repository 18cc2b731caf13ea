/* test_worker.c - several workers: placement (here, a named worker,
 * anywhere) and stealing of unstarted tasks by an idle worker, in runs
 * that keep pairs spawned together whole, and by a busy worker from a
 * long queue; await,
 * futures, events, locks, semaphores, queues, channels and groups across
 * workers; a lock's waiter on another worker competing for a freed lock
 * (never starved, cancellation anywhere loses nothing); cancellation and deadlines of a task on another worker; a
 * stress run of producers and consumers on different workers under random
 * cancellation that loses and duplicates nothing; weft_call_soon_threadsafe
 * from a plain thread; weft_runtime_start / weft_runtime_join; deadlock
 * detection and shutdown with tasks left on other workers; a
 * stream opened on one worker read, written and closed from another
 * (a server on every worker is test_server.c's); bad arguments.
 *
 * Covers: src/worker.c, src/loop.c.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static weft_task_opts_t on_worker(int w)
{
    return (weft_task_opts_t){.place = WEFT_PLACE_WORKER, .worker = w};
}

/* ---- placement ---- */

static int report_worker(void *arg, void **res)
{
    (void)arg;
    *res = P(weft_worker_index());
    return 0;
}

static int placement_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_worker_count(), 3);
    assert_int_equal(weft_worker_index(), 0);
    assert_non_null(weft_runtime());
    for (int w = 0; w < 3; w++) {
        weft_task_t *t;
        weft_task_opts_t o = on_worker(w);
        assert_int_equal(weft_spawn(&t, report_worker, NULL, &o), 0);
        void *r = NULL;
        assert_int_equal(weft_await(t, &r), 0);
        assert_int_equal(I(r), w);
        weft_task_release(t);
    }
    /* the default stays here */
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, report_worker, NULL, NULL), 0);
    void *r = P(-1);
    assert_int_equal(weft_await(t, &r), 0);
    assert_int_equal(I(r), 0);
    weft_task_release(t);
    /* bad placements */
    weft_task_opts_t bad = on_worker(3);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &bad), -EINVAL);
    bad = on_worker(-1);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &bad), -EINVAL);
    bad = (weft_task_opts_t){.place = 7};
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &bad), -EINVAL);
    return 0;
}

static void test_spawn_places_tasks_on_the_named_worker_and_refuses_bad_ones(void **state)
{
    (void)state;
    run_workers(3, placement_main, NULL);
    assert_int_equal(weft_worker_count(), -WEFT_ENOLOOP);
    assert_int_equal(weft_worker_index(), -WEFT_ENOLOOP);
    assert_null(weft_runtime());
}

/* One worker: every placement is the one loop. */
static int one_worker_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_worker_count(), 1);
    weft_task_t *t;
    weft_task_opts_t any = {.place = WEFT_PLACE_ANY};
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &any), 0);
    void *r = P(-1);
    assert_int_equal(weft_await(t, &r), 0);
    assert_int_equal(I(r), 0);
    weft_task_release(t);
    weft_task_opts_t w0 = on_worker(0);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &w0), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &w1), -EINVAL);
    return 0;
}

static void test_one_worker_runs_every_placement_on_its_loop(void **state)
{
    (void)state;
    run_workers(1, one_worker_main, NULL);
}

/* ---- stealing ---- */

typedef struct {
    atomic_int ran_elsewhere; /* tasks that ran on a worker other than 0 */
    atomic_int ran;
} steal_t;

/* Holds its worker (no yield) until some task has run on another worker,
 * or 10 s pass: an idle worker must steal from this busy one. */
static int hog(void *arg, void **res)
{
    (void)res;
    steal_t *s = arg;
    atomic_fetch_add(&s->ran, 1);
    if (weft_worker_index() != 0) {
        atomic_fetch_add(&s->ran_elsewhere, 1);
        return 0;
    }
    int64_t end = weft_now() + WEFT_SEC(10);
    while (atomic_load(&s->ran_elsewhere) == 0 && weft_now() < end)
        ;
    return 0;
}

static int steal_main(void *arg, void **res)
{
    (void)res;
    steal_t *s = arg;
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    weft_task_opts_t any = {.place = WEFT_PLACE_ANY};
    for (int i = 0; i < 50; i++)
        assert_int_equal(weft_group_spawn(g, NULL, hog, s, &any), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_idle_worker_steals_unstarted_tasks(void **state)
{
    (void)state;
    steal_t s = {0};
    run_workers(2, steal_main, &s);
    assert_int_equal(atomic_load(&s.ran), 50);
    assert_true(atomic_load(&s.ran_elsewhere) > 0);
}

/* ---- where a thief's run begins and ends ---- */

enum { PAIRS = 8 };

typedef struct {
    atomic_int gate_running, gate_open; /* the task holding worker 1 */
    atomic_int w1_ran, release;         /* the first stolen task holds worker 1 */
    atomic_int where[2 * PAIRS];        /* worker + 1 of each task, 0: not run */
    atomic_int ran;
} pairs_t;

typedef struct {
    pairs_t *p;
    int i;
} member_t;

static void spin_until(atomic_int *flag)
{
    int64_t end = weft_now() + WEFT_SEC(20);
    while (!atomic_load(flag) && weft_now() < end)
        ;
    assert_true(atomic_load(flag));
}

static int gate(void *arg, void **res)
{
    (void)res;
    pairs_t *p = arg;
    atomic_store(&p->gate_running, 1);
    spin_until(&p->gate_open);
    return 0;
}

/* Records its worker; the first to run on worker 1 holds it (no turn, so
 * no second steal) until main releases it. */
static int member(void *arg, void **res)
{
    (void)res;
    member_t *m = arg;
    pairs_t *p = m->p;
    int w = weft_worker_index();
    atomic_store(&p->where[m->i], w + 1);
    atomic_fetch_add(&p->ran, 1);
    if (w == 1 && atomic_exchange(&p->w1_ran, 1) == 0)
        spin_until(&p->release);
    return 0;
}

static int pairs_main(void *arg, void **res)
{
    (void)res;
    pairs_t *p = arg;
    member_t m[2 * PAIRS];
    weft_task_t *t[2 * PAIRS], *g;
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_spawn(&g, gate, p, &w1), 0);
    while (!atomic_load(&p->gate_running))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    /* pairs spawned side by side, plainly, in a runtime that spreads */
    for (int i = 0; i < 2 * PAIRS; i++) {
        m[i] = (member_t){p, i};
        assert_int_equal(weft_spawn(&t[i], member, &m[i], NULL), 0);
    }
    /* one turn of worker 0: it starts the first task of pair 0 */
    assert_int_equal(weft_yield(), 0);
    /* worker 1, free now, steals once (its first task then holds it);
     * worker 0 makes no turn meanwhile */
    atomic_store(&p->gate_open, 1);
    spin_until(&p->w1_ran);
    /* worker 0 starts what is left, one a turn */
    for (int i = 0; i < 4 * PAIRS; i++)
        assert_int_equal(weft_yield(), 0);
    atomic_store(&p->release, 1);
    /* worker 1 starts the rest of its run; worker 0, making no turn, steals
     * nothing back */
    int64_t end = weft_now() + WEFT_SEC(20);
    while (atomic_load(&p->ran) < 2 * PAIRS && weft_now() < end)
        ;
    await_release(g);
    for (int i = 0; i < 2 * PAIRS; i++)
        await_release(t[i]);
    return 0;
}

static void test_steal_takes_whole_pairs_after_the_owner_started_one_task(void **state)
{
    (void)state;
    pairs_t p = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, pairs_main, &p);
    assert_int_equal(atomic_load(&p.ran), 2 * PAIRS);
    int on1 = 0;
    for (int k = 0; k < PAIRS; k++) {
        int a = atomic_load(&p.where[2 * k]), b = atomic_load(&p.where[2 * k + 1]);
        if (a != b)
            fail_msg("pair %d split: worker %d and worker %d", k, a - 1, b - 1);
        on1 += a == 2;
    }
    /* pair 0's first task started on worker 0, so its second stayed */
    assert_int_equal(atomic_load(&p.where[0]), 1);
    assert_true(on1 >= 1);
}

typedef struct {
    atomic_int yielder_running, stop;
    atomic_int on1, ran;
} busy_t;

/* Keeps worker 1 busy: always one task ready there. */
static int yielder(void *arg, void **res)
{
    (void)res;
    busy_t *b = arg;
    atomic_store(&b->yielder_running, 1);
    int64_t end = weft_now() + WEFT_SEC(20);
    while (!atomic_load(&b->stop) && weft_now() < end)
        assert_int_equal(weft_yield(), 0);
    return 0;
}

static int busy_member(void *arg, void **res)
{
    (void)res;
    busy_t *b = arg;
    if (weft_worker_index() == 1)
        atomic_fetch_add(&b->on1, 1);
    atomic_fetch_add(&b->ran, 1);
    return 0;
}

static int busy_main(void *arg, void **res)
{
    (void)res;
    busy_t *b = arg;
    enum { N = 64 };
    weft_task_t *t[N], *y;
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_spawn(&y, yielder, b, &w1), 0);
    while (!atomic_load(&b->yielder_running))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_spawn(&t[i], busy_member, b, NULL), 0);
    /* worker 0 makes no turn: only a steal by busy worker 1 runs any */
    int64_t end = weft_now() + WEFT_SEC(20);
    while (atomic_load(&b->on1) == 0 && weft_now() < end)
        ;
    atomic_store(&b->stop, 1);
    assert_true(atomic_load(&b->on1) > 0);
    await_release(y);
    for (int i = 0; i < N; i++)
        await_release(t[i]);
    assert_int_equal(atomic_load(&b->ran), N);
    return 0;
}

static void test_busy_worker_steals_its_share_of_a_long_queue(void **state)
{
    (void)state;
    busy_t b = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, busy_main, &b);
}

/* ---- coordination across workers ---- */

typedef struct {
    weft_lock_t *lock;
    weft_sem_t *sem;
    weft_event_t *go;
    long counter; /* guarded by lock */
    atomic_int inside; /* holders of sem now */
    atomic_int max_inside;
} shared_t;

static int locker(void *arg, void **res)
{
    (void)res;
    shared_t *sh = arg;
    assert_int_equal(weft_event_wait(sh->go), 0);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(weft_lock_acquire(sh->lock), 0);
        long v = sh->counter;
        if (i % 7 == 0)
            assert_int_equal(weft_yield(), 0); /* others on this worker run meanwhile */
        sh->counter = v + 1;
        assert_int_equal(weft_lock_release(sh->lock), 0);
        assert_int_equal(weft_sem_acquire(sh->sem), 0);
        int n = atomic_fetch_add(&sh->inside, 1) + 1;
        int m = atomic_load(&sh->max_inside);
        while (n > m && !atomic_compare_exchange_weak(&sh->max_inside, &m, n))
            ;
        if (i % 5 == 0)
            assert_int_equal(weft_yield(), 0);
        atomic_fetch_sub(&sh->inside, 1);
        assert_int_equal(weft_sem_release(sh->sem), 0);
    }
    return 0;
}

static int coordination_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    shared_t sh = {0};
    assert_int_equal(weft_lock_create(&sh.lock), 0);
    assert_int_equal(weft_sem_create(&sh.sem, 2, 0), 0);
    assert_int_equal(weft_event_create(&sh.go), 0);
    weft_task_t *t[8];
    for (int i = 0; i < 8; i++) {
        weft_task_opts_t o = on_worker(i % 2);
        assert_int_equal(weft_spawn(&t[i], locker, &sh, &o), 0);
    }
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_event_set(sh.go), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(sh.counter, 8 * 200);
    assert_true(atomic_load(&sh.max_inside) <= 2);
    assert_int_equal(weft_lock_destroy(sh.lock), 0);
    assert_int_equal(weft_sem_destroy(sh.sem), 0);
    assert_int_equal(weft_event_destroy(sh.go), 0);
    return 0;
}

static void test_lock_sem_and_event_coordinate_tasks_across_workers(void **state)
{
    (void)state;
    run_workers(2, coordination_main, NULL);
}

/* A lock released while another worker's task waits is freed for that
 * waiter to compete for: a task hammering the lock on worker 0 without
 * ever yielding may win one race, but the waiter on worker 1 is then
 * handed the lock at the next release, so the loop below ends. */
typedef struct {
    weft_lock_t *lock;
    weft_event_t *b_ready;
    atomic_int b_has;
    long a_iters;
} barge_t;

static int barge_waiter(void *arg, void **res)
{
    (void)res;
    barge_t *s = arg;
    assert_int_equal(weft_event_set(s->b_ready), 0);
    assert_int_equal(weft_lock_acquire(s->lock), 0);
    atomic_store(&s->b_has, 1);
    assert_int_equal(weft_lock_release(s->lock), 0);
    return 0;
}

static int barge_hammer(void *arg, void **res)
{
    (void)res;
    barge_t *s = arg;
    assert_int_equal(weft_lock_acquire(s->lock), 0);
    assert_int_equal(weft_event_wait(s->b_ready), 0); /* B is about to wait */
    assert_int_equal(weft_lock_release(s->lock), 0);
    long i = 0;
    while (!atomic_load(&s->b_has)) {
        assert_int_equal(weft_lock_acquire(s->lock), 0);
        i++;
        assert_int_equal(weft_lock_release(s->lock), 0);
    }
    s->a_iters = i;
    return 0;
}

static int barge_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    for (int round = 0; round < 20; round++) {
        barge_t s = {0};
        assert_int_equal(weft_lock_create(&s.lock), 0);
        assert_int_equal(weft_event_create(&s.b_ready), 0);
        weft_task_t *a, *b;
        weft_task_opts_t o0 = on_worker(0), o1 = on_worker(1);
        assert_int_equal(weft_spawn(&a, barge_hammer, &s, &o0), 0);
        assert_int_equal(weft_spawn(&b, barge_waiter, &s, &o1), 0);
        assert_int_equal(weft_await(a, NULL), 0);
        assert_int_equal(weft_await(b, NULL), 0);
        weft_task_release(a);
        weft_task_release(b);
        assert_int_equal(atomic_load(&s.b_has), 1);
        assert_false(weft_lock_locked(s.lock));
        assert_int_equal(weft_lock_destroy(s.lock), 0);
        assert_int_equal(weft_event_destroy(s.b_ready), 0);
    }
    return 0;
}

static void test_lock_waiter_on_other_worker_is_not_starved(void **state)
{
    (void)state;
    run_workers(2, barge_main, NULL);
}

/* The waiter woken to compete for a freed lock is cancelled before it
 * runs (its worker is busy meanwhile): it returns -ECANCELED without the
 * lock and wakes the next waiter, who gets it. */
typedef struct {
    weft_lock_t *lock;
    atomic_int blocker_in, go;
} wc_t;

static int wc_acquirer(void *arg, void **res)
{
    (void)res;
    wc_t *s = arg;
    int rc = weft_lock_acquire(s->lock);
    if (rc == 0)
        assert_int_equal(weft_lock_release(s->lock), 0);
    return rc;
}

static int wc_blocker(void *arg, void **res)
{
    (void)res;
    wc_t *s = arg;
    atomic_store(&s->blocker_in, 1);
    while (!atomic_load(&s->go))
        ; /* keeps its worker from running anything else */
    return 0;
}

static int woken_cancel_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    wc_t s = {0};
    assert_int_equal(weft_lock_create(&s.lock), 0);
    assert_int_equal(weft_lock_acquire(s.lock), 0);
    weft_task_t *b, *c, *blk;
    weft_task_opts_t o0 = on_worker(0), o1 = on_worker(1);
    assert_int_equal(weft_spawn(&b, wc_acquirer, &s, &o1), 0);
    wait_state(b, WEFT_TASK_WAITING); /* first in line, on worker 1 */
    assert_int_equal(weft_spawn(&c, wc_acquirer, &s, &o0), 0);
    wait_state(c, WEFT_TASK_WAITING); /* second, on this worker */
    assert_int_equal(weft_spawn(&blk, wc_blocker, &s, &o1), 0);
    while (!atomic_load(&s.blocker_in))
        assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_lock_release(s.lock), 0); /* b is woken to compete */
    assert_int_equal(weft_cancel(b), 0);
    atomic_store(&s.go, 1);
    assert_int_equal(weft_await(b, NULL), -ECANCELED);
    assert_int_equal(weft_await(c, NULL), 0);
    assert_int_equal(weft_await(blk, NULL), 0);
    weft_task_release(b);
    weft_task_release(c);
    weft_task_release(blk);
    assert_false(weft_lock_locked(s.lock));
    assert_int_equal(weft_lock_destroy(s.lock), 0);
    return 0;
}

static void test_lock_woken_waiter_cancelled_wakes_next(void **state)
{
    (void)state;
    run_workers(2, woken_cancel_main, NULL);
}

/* Cross-worker contention with cancellations landing anywhere (while
 * waiting, after being handed the lock, after being woken to compete
 * for it): the count under the lock equals the successful sections, and
 * the lock ends free with nobody waiting. */
typedef struct {
    weft_lock_t *lock;
    long counter; /* guarded by lock */
    atomic_long sections;
} lockc_t;

static int lock_canceled_worker(void *arg, void **res)
{
    (void)res;
    lockc_t *s = arg;
    long mine = 0;
    int rc = 0;
    for (int i = 0; i < 300; i++) {
        if ((rc = weft_lock_acquire(s->lock)) != 0)
            break;
        long v = s->counter;
        if (i % 3 == 0)
            (void)weft_yield(); /* -ECANCELED here still leaves the lock ours */
        s->counter = v + 1;
        mine++;
        assert_int_equal(weft_lock_release(s->lock), 0);
    }
    atomic_fetch_add(&s->sections, mine);
    assert_true(rc == 0 || rc == -ECANCELED);
    return 0;
}

static int lock_cancel_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int rounds = (int)(20 * test_scale()) + 1;
    for (int round = 0; round < rounds; round++) {
        lockc_t s = {0};
        assert_int_equal(weft_lock_create(&s.lock), 0);
        weft_task_t *t[8];
        for (int i = 0; i < 8; i++) {
            weft_task_opts_t o = on_worker(i % 2);
            assert_int_equal(weft_spawn(&t[i], lock_canceled_worker, &s, &o), 0);
        }
        for (int i = 0; i < 8; i++) {
            if (i % 3 == round % 3) {
                for (int k = 0; k < round % 5; k++)
                    assert_int_equal(weft_yield(), 0);
                weft_cancel(t[i]);
            }
        }
        for (int i = 0; i < 8; i++) {
            int rc = weft_await(t[i], NULL); /* -ECANCELED: cancelled before it ran */
            assert_true(rc == 0 || rc == -ECANCELED);
            weft_task_release(t[i]);
        }
        assert_int_equal(s.counter, atomic_load(&s.sections));
        assert_false(weft_lock_locked(s.lock));
        assert_int_equal(weft_lock_try_acquire(s.lock), 0);
        assert_int_equal(weft_lock_release(s.lock), 0);
        assert_int_equal(weft_lock_destroy(s.lock), 0);
    }
    return 0;
}

static void test_lock_across_workers_with_cancellation(void **state)
{
    (void)state;
    run_workers(2, lock_cancel_main, NULL);
    run_workers(4, lock_cancel_main, NULL);
}

/* A future set on worker 1 wakes its awaiter on worker 0, and back. */
static int set_future(void *arg, void **res)
{
    (void)res;
    return weft_future_set_result(arg, P(weft_worker_index() + 100));
}

static int future_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    for (int round = 0; round < 100; round++) {
        weft_future_t *f;
        assert_int_equal(weft_future_create(&f), 0);
        weft_task_opts_t o = on_worker(1);
        assert_int_equal(weft_spawn(NULL, set_future, f, &o), 0);
        void *r = NULL;
        assert_int_equal(weft_future_await(f, &r), 0);
        assert_int_equal(I(r), 101);
        assert_int_equal(weft_future_destroy(f), 0);
    }
    return 0;
}

static void test_future_set_on_one_worker_wakes_its_awaiter_on_another(void **state)
{
    (void)state;
    run_workers(2, future_main, NULL);
}

/* ---- cancellation and deadlines across workers ---- */

static int sleep_long(void *arg, void **res)
{
    (void)res;
    atomic_int *started = arg;
    atomic_store(started, 1);
    return weft_sleep(WEFT_SEC(3600));
}

static int wait_future_with_deadline(void *arg, void **res)
{
    (void)res;
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(20)), 0);
    int rc = weft_future_await(arg, NULL);
    weft_deadline_pop(&d);
    return rc;
}

static int cancel_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    atomic_int started = 0;
    weft_task_t *t;
    weft_task_opts_t o = on_worker(1);
    assert_int_equal(weft_spawn(&t, sleep_long, &started, &o), 0);
    while (!atomic_load(&started))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_cancel(t), 0);
    /* twice: one unwinding; worker 1 may have finished it meanwhile */
    int again = weft_cancel(t);
    assert_true(again == 0 || again == -EALREADY);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_true(weft_task_done(t));
    assert_int_equal(weft_cancel(t), -EALREADY);
    weft_task_release(t);

    /* a deadline on worker 1 around a wait for worker 0's future */
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_spawn(&t, wait_future_with_deadline, f, &o), 0);
    assert_int_equal(weft_await(t, NULL), -ETIMEDOUT);
    weft_task_release(t);
    assert_int_equal(weft_future_destroy(f), 0);

    /* wait_for on another worker's task */
    started = 0;
    assert_int_equal(weft_spawn(&t, sleep_long, &started, &o), 0);
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(10), NULL), -ETIMEDOUT);
    assert_true(weft_task_done(t));
    weft_task_release(t);
    return 0;
}

static void test_cancel_and_deadline_reach_tasks_on_another_worker(void **state)
{
    (void)state;
    run_workers(2, cancel_main, NULL);
}

/* ---- groups ---- */

static int fail_later(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_sleep(WEFT_MSEC(5));
    return -EIO;
}

static int group_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    atomic_int started = 0;
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < 6; i++) {
        weft_task_opts_t o = on_worker(i % 3);
        assert_int_equal(weft_group_spawn(g, NULL, sleep_long, &started, &o), 0);
    }
    weft_task_opts_t o = on_worker(2);
    assert_int_equal(weft_group_spawn(g, NULL, fail_later, NULL, &o), 0);
    assert_int_equal(weft_group_wait(g), -EIO);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_failure_cancels_siblings_on_every_worker(void **state)
{
    (void)state;
    run_workers(3, group_main, NULL);
}

/* ---- stress: queues and channels, random cancellation ---- */

#define NPROD 4
#define NCONS 6

typedef struct {
    weft_queue_t *q;
    weft_chan_t *ch;
    int per_producer;
    atomic_uchar *seen; /* NPROD * per_producer counters */
    atomic_int got;
    atomic_int dup;
    weft_task_t *cons[NCONS];
} stress_t;

static int producer(void *arg, void **res)
{
    stress_t *s = *(stress_t **)arg;
    int id = (int)(intptr_t)((void **)arg)[1];
    (void)res;
    for (int i = 0; i < s->per_producer; i++) {
        intptr_t item = (intptr_t)id * s->per_producer + i + 1;
        /* half through the queue, half through the channel */
        int rc = (i & 1) ? weft_chan_send(s->ch, P(item)) : weft_queue_put(s->q, P(item));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void record(stress_t *s, void *v)
{
    intptr_t k = I(v) - 1;
    if (atomic_fetch_add(&s->seen[k], 1) != 0)
        atomic_fetch_add(&s->dup, 1);
    atomic_fetch_add(&s->got, 1);
}

/* Takes from both until cancelled; a cancelled get or recv took nothing. */
static int consumer(void *arg, void **res)
{
    (void)res;
    stress_t *s = arg;
    for (unsigned n = 0;; n++) {
        void *v = NULL;
        int rc = (n & 1) ? weft_chan_recv(s->ch, &v) : weft_queue_get(s->q, &v);
        if (rc == -ECANCELED || rc == -EPIPE || rc == -ESHUTDOWN)
            return 0;
        if (rc == -EAGAIN)
            continue;
        assert_int_equal(rc, 0);
        record(s, v);
    }
}

/* Drains what is left once the producers are done. */
static int drainer(void *arg, void **res)
{
    (void)res;
    stress_t *s = arg;
    void *v;
    while (weft_queue_try_get(s->q, &v) == 0)
        record(s, v);
    while (weft_chan_try_recv(s->ch, &v) == 0)
        record(s, v);
    return 0;
}

static int stress_main(void *arg, void **res)
{
    (void)res;
    stress_t *s = arg;
    int nw = weft_worker_count();
    assert_int_equal(weft_queue_create(&s->q, WEFT_QUEUE_FIFO, 8, NULL), 0);
    assert_int_equal(weft_chan_create(&s->ch, 4), 0);
    void *pargs[NPROD][2];
    weft_task_t *prod[NPROD];
    for (int i = 0; i < NCONS; i++) {
        weft_task_opts_t o = on_worker((i + 1) % nw);
        assert_int_equal(weft_spawn(&s->cons[i], consumer, s, &o), 0);
    }
    for (int i = 0; i < NPROD; i++) {
        pargs[i][0] = s;
        pargs[i][1] = P(i);
        weft_task_opts_t o = on_worker(i % nw);
        assert_int_equal(weft_spawn(&prod[i], producer, pargs[i], &o), 0);
    }
    /* cancel consumers at random moments and start fresh ones */
    unsigned seed = 12345;
    for (int round = 0; round < 40; round++) {
        assert_int_equal(weft_sleep(WEFT_USEC(200 + rand_r(&seed) % 500)), 0);
        int k = (int)(rand_r(&seed) % NCONS);
        assert_int_equal(weft_cancel(s->cons[k]), 0);
        int rc = weft_await(s->cons[k], NULL); /* -ECANCELED: it never started */
        assert_true(rc == 0 || rc == -ECANCELED);
        weft_task_release(s->cons[k]);
        weft_task_opts_t o = on_worker(rand_r(&seed) % (unsigned)nw);
        assert_int_equal(weft_spawn(&s->cons[k], consumer, s, &o), 0);
    }
    for (int i = 0; i < NPROD; i++) {
        assert_int_equal(weft_await(prod[i], NULL), 0);
        weft_task_release(prod[i]);
    }
    for (int i = 0; i < NCONS; i++) {
        assert_int_equal(weft_cancel(s->cons[i]), 0);
        int rc = weft_await(s->cons[i], NULL);
        assert_true(rc == 0 || rc == -ECANCELED);
        weft_task_release(s->cons[i]);
    }
    weft_task_t *d;
    weft_task_opts_t o = on_worker(nw - 1);
    assert_int_equal(weft_spawn(&d, drainer, s, &o), 0);
    assert_int_equal(weft_await(d, NULL), 0);
    weft_task_release(d);
    assert_int_equal(weft_queue_destroy(s->q), 0);
    assert_int_equal(weft_chan_destroy(s->ch), 0);
    return 0;
}

static void stress_with(int workers)
{
    stress_t s = {0};
    s.per_producer = (int)(2000 * test_scale());
    if (s.per_producer < 20)
        s.per_producer = 20;
    int total = NPROD * s.per_producer;
    s.seen = calloc((size_t)total, sizeof *s.seen);
    assert_non_null(s.seen);
    run_workers(workers, stress_main, &s);
    assert_int_equal(atomic_load(&s.dup), 0);
    assert_int_equal(atomic_load(&s.got), total);
    for (int i = 0; i < total; i++)
        assert_int_equal(atomic_load(&s.seen[i]), 1);
    free(s.seen);
}

static void test_queues_and_channels_on_2_workers_lose_nothing_under_cancel(void **state)
{
    (void)state;
    stress_with(2);
}

static void test_queues_and_channels_on_4_workers_lose_nothing_under_cancel(void **state)
{
    (void)state;
    stress_with(4);
}

/* ---- plain threads ---- */

typedef struct {
    weft_runtime_t *rt;
    weft_future_t *f;
    atomic_int cb_worker;
} ts_t;

static void ts_callback(void *arg)
{
    ts_t *ts = arg;
    atomic_store(&ts->cb_worker, weft_worker_index());
    assert_null(weft_current()); /* a callback, not a task */
    weft_future_set_result(ts->f, P(42));
}

static void *poster_thread(void *arg)
{
    ts_t *ts = arg;
    usleep(2000);
    assert_int_equal(weft_call_soon_threadsafe(ts->rt, 1, ts_callback, ts), 0);
    return NULL;
}

static int threadsafe_main(void *arg, void **res)
{
    (void)res;
    ts_t *ts = arg;
    ts->rt = weft_runtime();
    assert_int_equal(weft_future_create(&ts->f), 0);
    assert_int_equal(weft_call_soon_threadsafe(ts->rt, 5, ts_callback, ts), -EINVAL);
    assert_int_equal(weft_call_soon_threadsafe(ts->rt, 0, NULL, ts), -EINVAL);
    assert_int_equal(weft_call_soon_threadsafe(NULL, 0, ts_callback, ts), -EINVAL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poster_thread, ts), 0);
    void *r = NULL;
    /* a plain thread is about to post: keep the deadlock check quiet */
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(30));
    int rc = weft_future_await(ts->f, &r);
    weft_deadline_pop(&d);
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(I(r), 42);
    assert_int_equal(weft_future_destroy(ts->f), 0);
    return 0;
}

static void test_call_soon_threadsafe_runs_the_callback_on_the_named_worker(void **state)
{
    (void)state;
    ts_t ts = {0};
    atomic_store(&ts.cb_worker, -1);
    run_workers(2, threadsafe_main, &ts);
    assert_int_equal(atomic_load(&ts.cb_worker), 1);
}

typedef struct {
    weft_event_t *ev;
    atomic_int ready;
} started_t;

static void set_event_cb(void *arg)
{
    started_t *st = arg;
    while (!atomic_load(&st->ready))
        ; /* main publishes the event before anything can post */
    weft_event_set(st->ev);
}

static int started_main(void *arg, void **res)
{
    started_t *st = arg;
    assert_int_equal(weft_event_create(&st->ev), 0);
    atomic_store(&st->ready, 1);
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(30));
    int rc = weft_event_wait(st->ev);
    weft_deadline_pop(&d);
    weft_event_destroy(st->ev);
    *res = P(7);
    return rc;
}

static void test_runtime_started_on_threads_joins_with_the_mains_result(void **state)
{
    (void)state;
    started_t st = {0};
    weft_runtime_t *rt = NULL;
    weft_config_t cfg = {.workers = 2};
    assert_int_equal(weft_runtime_start(&rt, &cfg, started_main, &st), 0);
    assert_non_null(rt);
    while (!atomic_load(&st.ready))
        usleep(100);
    assert_int_equal(weft_call_soon_threadsafe(rt, 0, set_event_cb, &st), 0);
    void *r = NULL;
    assert_int_equal(weft_runtime_join(rt, &r), 0);
    assert_int_equal(I(r), 7);

    assert_int_equal(weft_runtime_start(NULL, &cfg, started_main, &st), -EINVAL);
    assert_int_equal(weft_runtime_start(&rt, &cfg, NULL, &st), -EINVAL);
    weft_config_t bad = {.workers = -5};
    assert_int_equal(weft_runtime_start(&rt, &bad, started_main, &st), -EINVAL);
    assert_int_equal(weft_runtime_join(NULL, NULL), -EINVAL);
}

/* ---- deadlock and shutdown ---- */

static int deadlock_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    int rc = weft_future_await(f, NULL); /* nobody will set it */
    weft_future_destroy(f);
    return rc;
}

static void test_deadlock_with_workers_cancels_main(void **state)
{
    (void)state;
    weft_config_t cfg = {.workers = 2};
    assert_int_equal(run_status(&cfg, deadlock_main, NULL), -ECANCELED);
}

typedef struct {
    atomic_int cleaned;
} left_t;

static int sleeper_cleans_up(void *arg, void **res)
{
    (void)res;
    left_t *l = arg;
    int rc = weft_sleep(WEFT_SEC(3600));
    atomic_fetch_add(&l->cleaned, 1);
    return rc;
}

static int leave_tasks_main(void *arg, void **res)
{
    (void)res;
    for (int i = 0; i < 12; i++) {
        weft_task_opts_t o = {.place = i % 3 == 0 ? WEFT_PLACE_ANY : WEFT_PLACE_WORKER,
                              .worker = i % 4};
        assert_int_equal(weft_spawn(NULL, sleeper_cleans_up, arg, &o), 0);
    }
    return weft_sleep(WEFT_MSEC(5));
}

static void test_shutdown_unwinds_every_worker(void **state)
{
    (void)state;
    left_t l = {0};
    run_workers(4, leave_tasks_main, &l);
    assert_int_equal(atomic_load(&l.cleaned), 12);
}

/* ---- worker-bound objects ---- */

typedef struct {
    weft_stream_t *s;
    int sv1;          /* the peer's end, a plain fd */
    int rc, wrc;
    char got[8];
} xdev_t;

/* On worker 1: reads what the peer sends (waiting through worker 0's
 * poller, which watches the fd), answers, then closes the stream. */
static int use_elsewhere(void *arg, void **res)
{
    (void)res;
    xdev_t *x = arg;
    size_t got = 0;
    x->rc = weft_stream_read_exactly(x->s, x->got, 5, &got);
    if (x->rc == 0)
        x->wrc = weft_stream_write(x->s, "pong\n", 5);
    if (x->wrc == 0)
        x->wrc = weft_stream_close(x->s); /* flushed, forgotten on worker 0 */
    return 0;
}

static int xdev_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int sv[2];
    socket_pair(sv, 0);
    xdev_t x = {.sv1 = sv[1]};
    assert_int_equal(weft_stream_open(&x.s, sv[0], NULL), 0); /* on worker 0 */
    weft_task_t *t;
    weft_task_opts_t o = on_worker(1);
    assert_int_equal(weft_spawn(&t, use_elsewhere, &x, &o), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(5)), 0); /* it waits there, on our poller */
    assert_int_equal(write(sv[1], "ping\n", 5), 5);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(x.rc, 0);
    assert_memory_equal(x.got, "ping\n", 5);
    assert_int_equal(x.wrc, 0);
    char buf[8];
    assert_int_equal(read(sv[1], buf, sizeof buf), 5);
    assert_memory_equal(buf, "pong\n", 5);
    /* the close reached the fd: the peer reads the end */
    for (int i = 0; i < 1000; i++) {
        ssize_t r = read(sv[1], buf, sizeof buf);
        if (r == 0)
            break;
        assert_true(r < 0 && errno == EAGAIN);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    }
    close(sv[1]);
    return 0;
}

static void test_stream_opened_on_one_worker_is_used_and_closed_from_another(void **state)
{
    (void)state;
    run_workers(2, xdev_main, NULL);
}

static void test_run_refuses_a_worker_count_out_of_range(void **state)
{
    (void)state;
    weft_config_t cfg = {.workers = WEFT_WORKERS_MAX + 1};
    assert_int_equal(weft_run_config(&cfg, one_worker_main, NULL, NULL), -EINVAL);
    cfg.workers = -2;
    assert_int_equal(weft_run_config(&cfg, one_worker_main, NULL, NULL), -EINVAL);
    assert_int_equal(weft_call_soon_threadsafe(NULL, 0, NULL, NULL), -EINVAL);
}

/* ---- the every-core switch ---- */

static atomic_int spread_ran[2], spread_seen_other, spread_done;

/* Records its worker and keeps its worker busy, without yielding, until
 * some task has run on worker 1: the first to start holds worker 0, so
 * the rest, still unstarted, can only go on if worker 1 steals them. */
static int spread_child(void *arg, void **res)
{
    (void)arg, (void)res;
    int w = weft_worker_index();
    atomic_fetch_add(&spread_ran[w], 1);
    if (w == 1)
        atomic_store(&spread_seen_other, 1);
    int64_t end = weft_now() + WEFT_SEC(20);
    while (!atomic_load(&spread_seen_other) && weft_now() < end)
        ;
    atomic_fetch_add(&spread_done, 1);
    return 0;
}

static int spread_main(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_runtime_t *rt = weft_runtime();
    assert_true(weft_runtime_spreads(rt));
    enum { N = 16 };
    weft_task_t *t[N];
    /* plain spawns, opts NULL and zeroed, and a group's */
    weft_task_opts_t zero = {0};
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            assert_int_equal(weft_spawn(&t[i], spread_child, NULL, NULL), 0);
        else if (i % 3 == 1)
            assert_int_equal(weft_spawn(&t[i], spread_child, NULL, &zero), 0);
        else
            assert_int_equal(weft_group_spawn(g, &t[i], spread_child, NULL, NULL), 0);
    }
    for (int i = 0; i < N; i++)
        if (i % 3 != 2)
            await_release(t[i]);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    assert_int_equal(atomic_load(&spread_done), N);
    assert_int_equal(atomic_load(&spread_seen_other), 1);
    assert_true(atomic_load(&spread_ran[1]) >= 1);

    /* switched off: plain spawns stay on the spawning worker */
    assert_int_equal(weft_runtime_set_spread(rt, false), 0);
    assert_false(weft_runtime_spreads(rt));
    int here = weft_worker_index();
    for (int i = 0; i < N; i++) {
        weft_task_t *u;
        assert_int_equal(weft_spawn(&u, report_worker, NULL, NULL), 0);
        void *r;
        assert_int_equal(weft_await(u, &r), 0);
        assert_int_equal(I(r), here);
        weft_task_release(u);
    }
    assert_int_equal(weft_runtime_set_spread(NULL, true), -EINVAL);
    assert_false(weft_runtime_spreads(NULL));
    return 0;
}

static void test_spread_runs_plain_spawns_on_every_worker_and_switches_off(void **state)
{
    (void)state;
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, spread_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_places_tasks_on_the_named_worker_and_refuses_bad_ones),
        cmocka_unit_test(test_one_worker_runs_every_placement_on_its_loop),
        cmocka_unit_test(test_idle_worker_steals_unstarted_tasks),
        cmocka_unit_test(test_steal_takes_whole_pairs_after_the_owner_started_one_task),
        cmocka_unit_test(test_busy_worker_steals_its_share_of_a_long_queue),
        cmocka_unit_test(test_lock_sem_and_event_coordinate_tasks_across_workers),
        cmocka_unit_test(test_lock_waiter_on_other_worker_is_not_starved),
        cmocka_unit_test(test_lock_woken_waiter_cancelled_wakes_next),
        cmocka_unit_test(test_lock_across_workers_with_cancellation),
        cmocka_unit_test(test_future_set_on_one_worker_wakes_its_awaiter_on_another),
        cmocka_unit_test(test_cancel_and_deadline_reach_tasks_on_another_worker),
        cmocka_unit_test(test_group_failure_cancels_siblings_on_every_worker),
        cmocka_unit_test(test_queues_and_channels_on_2_workers_lose_nothing_under_cancel),
        cmocka_unit_test(test_queues_and_channels_on_4_workers_lose_nothing_under_cancel),
        cmocka_unit_test(test_call_soon_threadsafe_runs_the_callback_on_the_named_worker),
        cmocka_unit_test(test_runtime_started_on_threads_joins_with_the_mains_result),
        cmocka_unit_test(test_deadlock_with_workers_cancels_main),
        cmocka_unit_test(test_shutdown_unwinds_every_worker),
        cmocka_unit_test(test_stream_opened_on_one_worker_is_used_and_closed_from_another),
        cmocka_unit_test(test_run_refuses_a_worker_count_out_of_range),
        cmocka_unit_test(test_spread_runs_plain_spawns_on_every_worker_and_switches_off),
    };
    return run_suite(tests, NULL, NULL);
}
