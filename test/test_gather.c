/* test_gather.c - waiting on many: gather, wait, as_completed.
 *
 * Each test checks one behaviour weft.h documents: gather's two modes and
 * its cancellation (and the reason the tasks read: WEFT_CANCEL_GROUP
 * for a sibling's failure, WEFT_CANCEL_DEADLINE for the gatherer's
 * deadline), weft_wait's three conditions, its time-out (which
 * cancels nothing; a negative one has expired) and its set of tasks
 * (each counted once, an empty one refused, every task that ends with
 * the first counted), as_completed's finishing order and its set.
 * Futures have test_future.c.
 *
 * Covers: src/gather.c.
 */
#include "harness.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a worker does: sleep `ms` (0: 1000 s), then return `status` with
 * `result`; records how its sleep ended and that its clean-up ran. */
typedef struct work {
    int64_t ms;
    int status;
    void *result;
    const struct work *after; /* if set, first wait until its task has finished */
    weft_task_t *_Atomic task; /* set by the spawn: the task doing this work */
    int64_t base;             /* set by spawn_all: ms count from here */
    atomic_int started, sleep_rc, cleaned; /* read by other tasks, on any worker */
} work_t;

static int worker(void *arg, void **result)
{
    work_t *w = arg;
    w->started++;
    /* its task's end, not its clean-up: a task preempted in between (8
     * workers on 2 cores) would otherwise end after this one */
    while (w->after && !(atomic_load(&w->after->task) && weft_task_done(atomic_load(&w->after->task))))
        if (weft_sleep(WEFT_MSEC(1)) < 0)
            break;
    /* from when spawn_all spawned it, however late it starts */
    w->sleep_rc = w->ms ? weft_sleep_until(w->base + WEFT_MSEC(w->ms)) : weft_sleep(WEFT_SEC(1000));
    w->cleaned++;
    *result = w->result;
    if (w->sleep_rc < 0)
        return w->sleep_rc;
    return w->status;
}

static void spawn_all(weft_task_t **t, work_t *w, size_t n)
{
    int64_t now = weft_now();
    for (size_t i = 0; i < n; i++) {
        w[i].base = now;
        assert_int_equal(weft_spawn(&t[i], worker, &w[i], NULL), 0);
        atomic_store(&w[i].task, t[i]);
    }
}

static void release_all(weft_task_t **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(weft_task_release(t[i]), 0);
}

/* Waits for the event arg. */
static int waits_event(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg);
}

/* Lets the waiter park, then sets the event arg. */
static int sets_event_later(void *arg, void **result)
{
    (void)result;
    for (int i = 0; i < 3; i++)
        if (weft_yield() < 0)
            return -ECANCELED;
    return weft_event_set(arg);
}

/* ---- gather ---- */

static int gather_collect_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[4];
    memset(w, 0, sizeof w);
    /* finishing order differs from the order of the array */
    w[0] = (work_t){.ms = 15, .result = &w[0]};
    w[1] = (work_t){.ms = 5, .status = -EIO, .result = &w[1]};
    w[2] = (work_t){.ms = 0}; /* cancelled below */
    w[3] = (work_t){.ms = 1, .result = &w[3]};
    weft_task_t *t[4];
    spawn_all(t, w, 4);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_cancel(t[2]), 0);
    void *res[4] = {0};
    int st[4] = {1, 1, 1, 1};
    assert_int_equal(weft_gather(t, 4, res, st, WEFT_GATHER_COLLECT), 0);
    assert_int_equal(st[0], 0);
    assert_int_equal(st[1], -EIO);
    assert_int_equal(st[2], -ECANCELED);
    assert_int_equal(st[3], 0);
    assert_ptr_equal(res[0], &w[0]);
    assert_ptr_equal(res[3], &w[3]);
    for (int i = 0; i < 4; i++)
        assert_true(weft_task_done(t[i]));
    /* arrays may be NULL */
    assert_int_equal(weft_gather(t, 4, NULL, NULL, WEFT_GATHER_COLLECT), 0);
    release_all(t, 4);
    return 0;
}

static void test_gather_collect_results_and_statuses_in_order(void **state)
{
    run(gather_collect_main, NULL);
}

static int gather_fail_fast_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[4];
    memset(w, 0, sizeof w);
    w[0] = (work_t){.ms = 0};
    w[1] = (work_t){.ms = 5, .status = -EIO, .after = &w[3]};
    w[2] = (work_t){.ms = 0};
    w[3] = (work_t){.ms = 1, .result = &w[3]};
    weft_task_t *t[4];
    spawn_all(t, w, 4);
    int st[4] = {1, 1, 1, 1};
    int64_t t0 = weft_now();
    assert_int_equal(weft_gather(t, 4, NULL, st, WEFT_GATHER_FAIL_FAST), -EIO);
    assert_true(weft_now() - t0 < WEFT_SEC(10));
    for (int i = 0; i < 4; i++)
        assert_true(weft_task_done(t[i]));
    assert_int_equal(st[0], -ECANCELED);
    assert_int_equal(st[1], -EIO);
    assert_int_equal(st[2], -ECANCELED);
    assert_int_equal(st[3], 0);
    assert_int_equal(w[0].cleaned, 1);
    assert_int_equal(w[2].cleaned, 1);
    assert_true(weft_task_cancelled(t[0]));
    assert_false(weft_task_cancelled(t[3]));
    release_all(t, 4);
    /* no failure: fail-fast returns 0 */
    memset(w, 0, sizeof w);
    w[0].ms = w[1].ms = 1;
    spawn_all(t, w, 2);
    assert_int_equal(weft_gather(t, 2, NULL, NULL, WEFT_GATHER_FAIL_FAST), 0);
    release_all(t, 2);
    return 0;
}

static void test_gather_fail_fast_returns_first_failure_and_cancels_others(void **state)
{
    run(gather_fail_fast_main, NULL);
}

typedef struct {
    weft_task_t **tasks;
    size_t n;
    int rc;
} gatherer_t;

static int gatherer(void *arg, void **result)
{
    (void)result;
    gatherer_t *g = arg;
    g->rc = weft_gather(g->tasks, g->n, NULL, NULL, WEFT_GATHER_COLLECT);
    return g->rc;
}

static int gather_cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[3];
    memset(w, 0, sizeof w);
    weft_task_t *t[3], *g;
    spawn_all(t, w, 3);
    gatherer_t gs = {.tasks = t, .n = 3, .rc = 1};
    assert_int_equal(weft_spawn(&g, gatherer, &gs, NULL), 0);
    /* until the gatherer waits (on a slow run 1 ms may not be enough) */
    for (int i = 0; i < 10000 && weft_task_state(g) != WEFT_TASK_WAITING; i++)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_cancel(g), 0);
    assert_int_equal(weft_await(g, NULL), -ECANCELED);
    assert_int_equal(gs.rc, -ECANCELED);
    for (int i = 0; i < 3; i++) {
        assert_true(weft_task_done(t[i])); /* cancelled and unwound by then */
        assert_true(weft_task_cancelled(t[i]));
        assert_int_equal(w[i].cleaned, 1);
        assert_int_equal(weft_task_result(t[i], NULL), -ECANCELED);
    }
    release_all(t, 3);
    weft_task_release(g);
    return 0;
}

static void test_gather_cancelling_gatherer_cancels_children(void **state)
{
    run(gather_cancel_main, NULL);
}

static int gather_deadline_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[2];
    memset(w, 0, sizeof w);
    w[1].ms = 1;
    weft_task_t *t[2];
    spawn_all(t, w, 2);
    /* t[1] has finished first, however slow the machine (8 workers under
     * TSan: its 1 ms sleep once outlasted a 10 ms deadline) */
    while (!weft_task_done(t[1]))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(10)), 0);
    assert_int_equal(weft_gather(t, 2, NULL, NULL, WEFT_GATHER_COLLECT), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_true(weft_task_done(t[0]));
    assert_int_equal(weft_task_result(t[0], NULL), -ECANCELED);
    assert_int_equal(weft_task_result(t[1], NULL), 0);
    release_all(t, 2);
    return 0;
}

static void test_gather_deadline_cancels_and_returns_etimedout(void **state)
{
    run(gather_deadline_main, NULL);
}

static int gather_zero_main(void *arg, void **result)
{
    (void)arg, (void)result;
    assert_int_equal(weft_gather(NULL, 0, NULL, NULL, WEFT_GATHER_COLLECT), 0);
    assert_int_equal(weft_gather(NULL, 0, NULL, NULL, WEFT_GATHER_FAIL_FAST), 0);
    weft_task_t *t[1] = {NULL};
    assert_int_equal(weft_gather(t, 1, NULL, NULL, WEFT_GATHER_COLLECT), -EINVAL);
    assert_int_equal(weft_gather(NULL, 1, NULL, NULL, WEFT_GATHER_COLLECT), -EINVAL);
    t[0] = weft_current();
    assert_int_equal(weft_gather(t, 1, NULL, NULL, WEFT_GATHER_COLLECT), -EINVAL);
    return 0;
}

static void test_gather_of_zero_tasks_and_bad_arguments(void **state)
{
    run(gather_zero_main, NULL);
}

/* ---- weft_wait ---- */

static int wait_modes_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[3];
    weft_task_t *t[3];

    /* FIRST_COMPLETED */
    memset(w, 0, sizeof w);
    /* 1 s: still running when the wait returns, however slowly this
     * build turns (40 ms was not, under TSan on a loaded machine) */
    w[0].ms = 1000, w[1].ms = 1, w[2].ms = 1000;
    spawn_all(t, w, 3);
    assert_int_equal(weft_wait(t, 3, WEFT_FIRST_COMPLETED, WEFT_FOREVER), 1);
    assert_true(weft_task_done(t[1]));
    assert_false(weft_task_done(t[0]));
    assert_false(weft_task_done(t[2]));
    /* ALL_COMPLETED */
    assert_int_equal(weft_wait(t, 3, WEFT_ALL_COMPLETED, WEFT_FOREVER), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_task_result(t[i], NULL), 0);
    release_all(t, 3);

    /* FIRST_EXCEPTION: returns at the failure */
    memset(w, 0, sizeof w);
    w[0].ms = 1, w[1].ms = 5, w[1].status = -EIO, w[2].ms = 0;
    spawn_all(t, w, 3);
    /* t[0] first, however late each starts (on 8 workers under TSan its
     * 1 ms once ended after t[1]'s 5 ms) */
    while (!weft_task_done(t[0]))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_wait(t, 3, WEFT_FIRST_EXCEPTION, WEFT_FOREVER), 2);
    assert_int_equal(weft_task_result(t[0], NULL), 0);
    assert_int_equal(weft_task_result(t[1], NULL), -EIO);
    assert_false(weft_task_done(t[2]));
    assert_false(weft_task_cancelled(t[2])); /* wait cancels nothing */
    assert_int_equal(weft_cancel(t[2]), 0);
    assert_int_equal(weft_await(t[2], NULL), -ECANCELED);
    release_all(t, 3);

    /* FIRST_EXCEPTION without a failure: all complete */
    memset(w, 0, sizeof w);
    w[0].ms = 1, w[1].ms = 2, w[2].ms = 3;
    spawn_all(t, w, 3);
    assert_int_equal(weft_wait(t, 3, WEFT_FIRST_EXCEPTION, WEFT_FOREVER), 3);
    /* on tasks already done: at once */
    assert_int_equal(weft_wait(t, 3, WEFT_FIRST_COMPLETED, WEFT_FOREVER), 3);
    release_all(t, 3);

    assert_int_equal(weft_wait(t, 3, 7, WEFT_FOREVER), -EINVAL);
    return 0;
}

static void test_wait_first_completed_first_exception_all_completed(void **state)
{
    run(wait_modes_main, NULL);
}

static int wait_timeout_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[3];
    memset(w, 0, sizeof w);
    w[0].ms = 1, w[1].ms = 0, w[2].ms = 0;
    weft_task_t *t[3];
    spawn_all(t, w, 3);
    while (!weft_task_done(t[0])) /* one has finished, however slow the machine */
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    int64_t t0 = weft_now();
    assert_int_equal(weft_wait(t, 3, WEFT_ALL_COMPLETED, WEFT_MSEC(20)), 1);
    assert_true(weft_now() - t0 >= WEFT_MSEC(20));
    assert_true(weft_now() - t0 < WEFT_SEC(2));
    /* nothing was cancelled, and the caller is not either */
    assert_false(weft_task_cancelled(t[1]));
    assert_false(weft_task_cancelled(t[2]));
    assert_int_equal(weft_task_state(t[1]), WEFT_TASK_WAITING);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    /* a zero time-out just counts */
    assert_int_equal(weft_wait(t, 3, WEFT_ALL_COMPLETED, 0), 1);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(weft_cancel(t[i]), 0);
        assert_int_equal(weft_await(t[i], NULL), -ECANCELED);
    }
    release_all(t, 3);
    return 0;
}

static void test_wait_timeout_returns_count_and_cancels_nothing(void **state)
{
    run(wait_timeout_main, NULL);
}

static int wait_negative_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[3];
    memset(w, 0, sizeof w);
    /* t[1] and t[2] sleep 1000 s: however slowly the machine runs, they
     * are still asleep when the negative timeouts are tried */
    w[0].ms = 1, w[1].ms = 0, w[2].ms = 0;
    weft_task_t *t[3];
    spawn_all(t, w, 3);
    while (!weft_task_done(t[0]))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    int64_t t0 = weft_now();
    /* a negative timeout has expired, exactly as 0: no wait, the count now */
    assert_int_equal(weft_wait(t, 3, WEFT_ALL_COMPLETED, -1), 1);
    assert_int_equal(weft_wait(t, 3, WEFT_ALL_COMPLETED, INT64_MIN), 1);
    assert_int_equal(weft_wait(t, 3, WEFT_FIRST_EXCEPTION, -WEFT_SEC(1)), 1);
    assert_true(weft_now() - t0 < WEFT_SEC(30));
    /* WEFT_FOREVER: no limit; it returns once the sleepers, cancelled,
     * have ended */
    assert_int_equal(weft_cancel(t[1]), 0);
    assert_int_equal(weft_cancel(t[2]), 0);
    assert_int_equal(weft_wait(t, 3, WEFT_ALL_COMPLETED, WEFT_FOREVER), 3);
    release_all(t, 3);
    return 0;
}

static void test_wait_negative_timeout_has_expired_and_does_not_wait(void **state)
{
    run(wait_negative_main, NULL);
}

static int wait_empty_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t[1] = {NULL};
    /* asyncio.wait(set()) raises ValueError */
    assert_int_equal(weft_wait(NULL, 0, WEFT_ALL_COMPLETED, WEFT_FOREVER), -EINVAL);
    assert_int_equal(weft_wait(t, 0, WEFT_FIRST_COMPLETED, 0), -EINVAL);
    return 0;
}

static void test_wait_on_empty_set_returns_einval(void **state)
{
    run(wait_empty_main, NULL);
}

/* Yields n times, then returns. */
static int yields_n(void *arg, void **result)
{
    (void)result;
    for (intptr_t i = 0; i < I(arg); i++)
        if (weft_yield() < 0)
            return -ECANCELED;
    return 0;
}

static int wait_really_done_main(void *arg, void **result)
{
    (void)arg, (void)result;
    /* (CPython's test_wait_really_done) both finish before the waiter
     * runs again: the count says both, not only the one that woke it */
    for (int order = 0; order < 2; order++) {
        weft_task_t *t[2];
        assert_int_equal(weft_spawn(&t[order], yields_n, P(1), HERE), 0);
        assert_int_equal(weft_spawn(&t[!order], yields_n, P(2), HERE), 0);
        assert_int_equal(weft_wait(t, 2, WEFT_FIRST_COMPLETED, WEFT_FOREVER), 2);
        assert_true(weft_task_done(t[0]) && weft_task_done(t[1]));
        release_all(t, 2);
    }
    /* three finish in the step that wakes the waiter: all three count */
    weft_task_t *t[4];
    weft_event_t *go;
    assert_int_equal(weft_event_create(&go), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_spawn(&t[i], waits_event, go, HERE), 0);
    assert_int_equal(weft_spawn(&t[3], sets_event_later, go, HERE), 0);
    assert_int_equal(weft_wait(t, 3, WEFT_FIRST_COMPLETED, WEFT_FOREVER), 3);
    assert_int_equal(weft_await(t[3], NULL), 0);
    release_all(t, 4);
    assert_int_equal(weft_event_destroy(go), 0);
    return 0;
}

static void test_wait_counts_every_task_finished_before_waiter_runs_again(void **state)
{
    run(wait_really_done_main, NULL);
}

static int wait_duplicates_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t[2];
    assert_int_equal(weft_spawn(&t[0], yields_n, P(1), NULL), 0);
    assert_int_equal(weft_spawn(&t[1], yields_n, P(3), NULL), 0);
    /* (CPython's test_wait_duplicate_coroutines) a set: each task once */
    weft_task_t *dup[4] = {t[0], t[0], t[1], t[0]};
    assert_int_equal(weft_wait(dup, 4, WEFT_ALL_COMPLETED, WEFT_FOREVER), 2);
    assert_int_equal(weft_wait(dup, 2, WEFT_ALL_COMPLETED, WEFT_FOREVER), 1);
    /* many, past the pairwise check: 40 entries over 3 tasks */
    weft_task_t *u[3], *many[40];
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_spawn(&u[i], yields_n, P(i), NULL), 0);
    for (int i = 0; i < 40; i++)
        many[i] = u[(i * 7) % 3];
    assert_int_equal(weft_wait(many, 40, WEFT_ALL_COMPLETED, WEFT_FOREVER), 3);
    release_all(u, 3);
    release_all(t, 2);
    return 0;
}

static void test_wait_counts_a_task_passed_twice_once(void **state)
{
    run(wait_duplicates_main, NULL);
}

/* ---- as_completed ---- */

static int as_completed_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static work_t w[4];
    memset(w, 0, sizeof w);
    w[0].ms = 30, w[1].ms = 10, w[2].ms = 20, w[3].ms = 1, w[3].status = -EIO;
    /* and each waits for the one before it, so the order holds however
     * late each starts */
    w[1].after = &w[3], w[2].after = &w[1], w[0].after = &w[2];
    /* on this worker: across workers, a task preempted between its
     * clean-up and its end (8 workers on 2 cores) lets the next one,
     * which waits only for that clean-up, finish first */
    weft_task_t *t[4];
    int64_t now = weft_now();
    for (int i = 0; i < 4; i++) {
        w[i].base = now;
        assert_int_equal(weft_spawn(&t[i], worker, &w[i], HERE), 0);
        atomic_store(&w[i].task, t[i]);
    }
    weft_as_completed_t *ac;
    assert_int_equal(weft_as_completed_create(&ac, t, 4), 0);
    int expect[4] = {3, 1, 2, 0};
    for (int i = 0; i < 4; i++) {
        weft_task_t *next = NULL;
        assert_int_equal(weft_as_completed_next(ac, &next), 0);
        assert_ptr_equal(next, t[expect[i]]);
        assert_true(weft_task_done(next));
    }
    weft_task_t *none = NULL;
    assert_int_equal(weft_as_completed_next(ac, &none), WEFT_DONE);
    assert_int_equal(weft_as_completed_next(ac, &none), WEFT_DONE);
    assert_null(none);
    assert_int_equal(weft_as_completed_destroy(ac), 0);
    assert_int_equal(weft_task_result(t[3], NULL), -EIO);
    /* over tasks already finished: in their order, at once */
    assert_int_equal(weft_as_completed_create(&ac, t, 2), 0);
    weft_task_t *n1, *n2;
    assert_int_equal(weft_as_completed_next(ac, &n1), 0);
    assert_int_equal(weft_as_completed_next(ac, &n2), 0);
    assert_true((n1 == t[0] && n2 == t[1]) || (n1 == t[1] && n2 == t[0]));
    assert_int_equal(weft_as_completed_next(ac, &n1), WEFT_DONE);
    assert_int_equal(weft_as_completed_destroy(ac), 0);
    /* destroyed half-way */
    assert_int_equal(weft_as_completed_create(&ac, t, 4), 0);
    assert_int_equal(weft_as_completed_next(ac, &n1), 0);
    assert_int_equal(weft_as_completed_destroy(ac), 0);
    assert_int_equal(weft_as_completed_destroy(NULL), -EINVAL);
    release_all(t, 4);
    return 0;
}

static void test_as_completed_yields_in_finishing_order_then_done(void **state)
{
    run(as_completed_main, NULL);
}

static int as_completed_away_main(void *arg, void **result)
{
    (void)arg, (void)result;
    /* finishing order 2, 0, 3, 1, all while the consumer is busy */
    static const intptr_t turns[4] = {3, 7, 1, 5};
    weft_task_t *t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(weft_spawn(&t[i], yields_n, P(turns[i]), HERE), 0);
    weft_as_completed_t *ac;
    assert_int_equal(weft_as_completed_create(&ac, t, 4), 0);
    settle();
    settle();
    for (int i = 0; i < 4; i++)
        assert_true(weft_task_done(t[i]));
    int expect[4] = {2, 0, 3, 1};
    for (int i = 0; i < 4; i++) {
        weft_task_t *next = NULL;
        assert_int_equal(weft_as_completed_next(ac, &next), 0);
        assert_ptr_equal(next, t[expect[i]]);
    }
    weft_task_t *none = NULL;
    assert_int_equal(weft_as_completed_next(ac, &none), WEFT_DONE);
    assert_int_equal(weft_as_completed_destroy(ac), 0);
    release_all(t, 4);
    return 0;
}

static void test_as_completed_hands_out_every_task_finished_meanwhile_in_order(void **state)
{
    run(as_completed_away_main, NULL);
}

static int as_completed_dup_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t[2];
    assert_int_equal(weft_spawn(&t[0], yields_n, P(2), HERE), 0);
    assert_int_equal(weft_spawn(&t[1], yields_n, P(1), HERE), 0);
    /* (CPython's test_as_completed_duplicate_coroutines) a set */
    weft_task_t *dup[3] = {t[0], t[1], t[0]};
    weft_as_completed_t *ac;
    assert_int_equal(weft_as_completed_create(&ac, dup, 3), 0);
    weft_task_t *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(weft_as_completed_next(ac, &a), 0);
    assert_int_equal(weft_as_completed_next(ac, &b), 0);
    assert_ptr_equal(a, t[1]);
    assert_ptr_equal(b, t[0]);
    assert_int_equal(weft_as_completed_next(ac, &c), WEFT_DONE);
    assert_null(c);
    assert_int_equal(weft_as_completed_destroy(ac), 0);
    /* an empty set is done at once */
    assert_int_equal(weft_as_completed_create(&ac, NULL, 0), 0);
    assert_int_equal(weft_as_completed_next(ac, &c), WEFT_DONE);
    assert_int_equal(weft_as_completed_destroy(ac), 0);
    release_all(t, 2);
    return 0;
}

static void test_as_completed_hands_out_a_task_passed_twice_once(void **state)
{
    run(as_completed_dup_main, NULL);
}

/* ---- the reason children are cancelled with ---- */

static int gather_reasons_main(void *arg, void **result)
{
    reason_seen_t a = {0}, b = {0};
    weft_task_t *t[2];
    /* the gatherer's deadline: WEFT_CANCEL_DEADLINE */
    assert_int_equal(weft_spawn(&t[0], reason_child, &a, NULL), 0);
    wait_started(&a);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(5)), 0);
    assert_int_equal(weft_gather(t, 1, NULL, NULL, WEFT_GATHER_FAIL_FAST), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(atomic_load(&a.why), WEFT_CANCEL_DEADLINE);
    weft_task_release(t[0]);
    /* another task's failure in fail-fast mode: WEFT_CANCEL_GROUP */
    assert_int_equal(weft_spawn(&t[0], reason_child, &b, NULL), 0);
    wait_started(&b);
    assert_int_equal(weft_spawn(&t[1], failing_child, NULL, NULL), 0);
    assert_int_equal(weft_gather(t, 2, NULL, NULL, WEFT_GATHER_FAIL_FAST), -EIO);
    assert_int_equal(atomic_load(&b.why), WEFT_CANCEL_GROUP);
    weft_task_release(t[0]);
    weft_task_release(t[1]);
    return 0;
}

static void test_gather_cancels_with_the_reason_deadline_or_failure(void **state)
{
    run(gather_reasons_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_collect_results_and_statuses_in_order),
        cmocka_unit_test(test_gather_fail_fast_returns_first_failure_and_cancels_others),
        cmocka_unit_test(test_gather_cancelling_gatherer_cancels_children),
        cmocka_unit_test(test_gather_deadline_cancels_and_returns_etimedout),
        cmocka_unit_test(test_gather_cancels_with_the_reason_deadline_or_failure),
        cmocka_unit_test(test_gather_of_zero_tasks_and_bad_arguments),
        cmocka_unit_test(test_wait_first_completed_first_exception_all_completed),
        cmocka_unit_test(test_wait_timeout_returns_count_and_cancels_nothing),
        cmocka_unit_test(test_wait_negative_timeout_has_expired_and_does_not_wait),
        cmocka_unit_test(test_wait_on_empty_set_returns_einval),
        cmocka_unit_test(test_wait_counts_every_task_finished_before_waiter_runs_again),
        cmocka_unit_test(test_wait_counts_a_task_passed_twice_once),
        cmocka_unit_test(test_as_completed_yields_in_finishing_order_then_done),
        cmocka_unit_test(test_as_completed_hands_out_every_task_finished_meanwhile_in_order),
        cmocka_unit_test(test_as_completed_hands_out_a_task_passed_twice_once),
    };
    return run_suite(tests, NULL, NULL);
}
