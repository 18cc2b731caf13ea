/* test_future.c - futures: set once, awaited by many, and their done
 * callbacks.
 *
 * Each test checks one behaviour weft.h documents: many awaiters, errors,
 * cancellation, set-once, destroy while awaited, awaiting under a
 * deadline; reading a done future's outcome without waiting; done
 * callbacks as asyncio runs them (never inside set_result or on_done, on
 * a later turn, in registration order, on the registering task's loop or
 * else the completer's), and removing them.
 *
 * Covers: src/future.c.
 */
#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

static void release_all(weft_task_t **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(weft_task_release(t[i]), 0);
}

/* ---- futures ---- */

typedef struct {
    weft_future_t *f;
    int rc;
    void *res;
} fwaiter_t;

static int future_waiter(void *arg, void **result)
{
    (void)result;
    fwaiter_t *w = arg;
    w->rc = weft_future_await(w->f, &w->res);
    return 0;
}

static int future_wake_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    assert_false(weft_future_done(f));
    fwaiter_t w[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (fwaiter_t){.f = f, .rc = 1};
        assert_int_equal(weft_spawn(&t[i], future_waiter, &w[i], NULL), 0);
    }
    for (int i = 0; i < 3; i++) /* they may run on any worker */
        wait_state(t[i], WEFT_TASK_WAITING);
    int val;
    assert_int_equal(weft_future_set_result(f, &val), 0);
    assert_true(weft_future_done(f));
    assert_int_equal(weft_future_set_result(f, NULL), -EALREADY);
    assert_int_equal(weft_future_set_error(f, -EIO), -EALREADY);
    assert_int_equal(weft_future_cancel(f), -EALREADY);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        assert_int_equal(w[i].rc, 0);
        assert_ptr_equal(w[i].res, &val);
    }
    /* awaiting a done future returns at once, with the first outcome */
    void *res = NULL;
    assert_int_equal(weft_future_await(f, &res), 0);
    assert_ptr_equal(res, &val);
    release_all(t, 3);
    assert_int_equal(weft_future_destroy(f), 0);
    return 0;
}

static void test_future_set_result_wakes_every_awaiter(void **state)
{
    run(future_wake_main, NULL);
}

static int future_error_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f, *g;
    fwaiter_t w[2];
    weft_task_t *t[2];
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_future_create(&g), 0);
    w[0] = (fwaiter_t){.f = f, .rc = 1};
    w[1] = (fwaiter_t){.f = g, .rc = 1};
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_spawn(&t[i], future_waiter, &w[i], NULL), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_future_set_error(f, 0), -EINVAL);
    assert_int_equal(weft_future_set_error(f, EIO), -EINVAL);
    assert_int_equal(weft_future_set_error(f, -EIO), 0);
    assert_int_equal(weft_future_cancel(g), 0);
    assert_int_equal(weft_future_set_result(g, NULL), -EALREADY);
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_await(t[i], NULL), 0);
    assert_int_equal(w[0].rc, -EIO);
    assert_int_equal(w[1].rc, -ECANCELED);
    assert_int_equal(weft_future_await(f, NULL), -EIO);
    assert_int_equal(weft_future_await(g, NULL), -ECANCELED);
    /* the awaiting task itself was not cancelled */
    assert_false(weft_task_cancelled(t[1]));
    release_all(t, 2);
    assert_int_equal(weft_future_destroy(f), 0);
    assert_int_equal(weft_future_destroy(g), 0);
    assert_int_equal(weft_future_set_result(NULL, NULL), -EINVAL);
    assert_int_equal(weft_future_await(NULL, NULL), -EINVAL);
    assert_int_equal(weft_future_destroy(NULL), -EINVAL);
    assert_false(weft_future_done(NULL));
    return 0;
}

static void test_future_set_error_and_cancel_reach_awaiters(void **state)
{
    run(future_error_main, NULL);
}

/* ---- done callbacks ---- */

/* A log of callback runs: which callback (its tag) on which worker, and
 * whether a task was running (it must not be). */
typedef struct cblog {
    int n;    /* entries written (release: the entry is there to read) */
    int slot; /* entries taken: callbacks of several workers may log at once */
    int tag[16];
    int worker[16];
    bool in_task[16];
    weft_future_t *f[16];
} cblog_t;

typedef struct cbarg {
    cblog_t *log;
    int tag;
    weft_future_t *also; /* registered on it from inside this callback */
    struct cbarg *also_arg;
} cbarg_t;

static void log_cb(weft_future_t *f, void *arg)
{
    cbarg_t *a = arg;
    cblog_t *l = a->log;
    int i = __atomic_fetch_add(&l->slot, 1, __ATOMIC_RELAXED);
    if (i < 16) {
        l->tag[i] = a->tag;
        l->worker[i] = weft_worker_index();
        l->in_task[i] = weft_current() != NULL;
        l->f[i] = f;
    }
    __atomic_fetch_add(&l->n, 1, __ATOMIC_RELEASE);
    if (a->also)
        assert_int_equal(weft_future_on_done(a->also, log_cb, a->also_arg), 0);
}

static int future_cb_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f, *g;
    cblog_t log = {0};
    cbarg_t a = {.log = &log, .tag = 1}, b = {.log = &log, .tag = 2}, c = {.log = &log, .tag = 3},
            never = {.log = &log, .tag = 99};
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_future_on_done(f, log_cb, &a), 0);
    assert_int_equal(weft_future_on_done(f, log_cb, &b), 0);
    assert_int_equal(weft_future_set_result(f, NULL), 0);
    /* not inside set_result: on a later turn */
    assert_int_equal(log.n, 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.tag[0], 1);
    assert_int_equal(log.tag[1], 2);
    assert_ptr_equal(log.f[0], f);
    assert_false(log.in_task[0]); /* outside any task, as call_soon's */
    /* on a future done already: not inside on_done either */
    assert_int_equal(weft_future_on_done(f, log_cb, &c), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.tag[2], 3);
    assert_int_equal(weft_future_cancel(f), -EALREADY);
    settle();
    assert_int_equal(log.n, 3); /* each ran once */
    assert_int_equal(weft_future_on_done(NULL, log_cb, NULL), -EINVAL);
    assert_int_equal(weft_future_on_done(f, NULL, NULL), -EINVAL);
    assert_int_equal(weft_future_destroy(f), 0);
    /* a callback on a future destroyed before it is done never runs */
    assert_int_equal(weft_future_create(&g), 0);
    assert_int_equal(weft_future_on_done(g, log_cb, &never), 0);
    assert_int_equal(weft_future_destroy(g), 0);
    settle();
    assert_int_equal(log.n, 3);
    return 0;
}

static void test_future_on_done_runs_on_a_later_turn_also_when_added_after(void **state)
{
    run(future_cb_main, NULL);
}

static int future_cb_order_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f, *g;
    cblog_t log = {0};
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_future_create(&g), 0);
    /* the first callback registers one on f, done already, and one on g
     * (done by then too): both run after every callback already
     * scheduled, never in the middle (asyncio: call_soon order) */
    cbarg_t late_f = {.log = &log, .tag = 10}, late_g = {.log = &log, .tag = 20};
    cbarg_t first = {.log = &log, .tag = 1, .also = f, .also_arg = &late_f},
            second = {.log = &log, .tag = 2, .also = g, .also_arg = &late_g},
            third = {.log = &log, .tag = 3};
    assert_int_equal(weft_future_on_done(f, log_cb, &first), 0);
    assert_int_equal(weft_future_on_done(f, log_cb, &second), 0);
    assert_int_equal(weft_future_on_done(f, log_cb, &third), 0);
    assert_int_equal(weft_future_set_result(g, NULL), 0);
    assert_int_equal(weft_future_set_result(f, NULL), 0);
    settle();
    int expect[5] = {1, 2, 3, 10, 20};
    assert_int_equal(log.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(log.tag[i], expect[i]);
    assert_int_equal(weft_future_destroy(f), 0);
    assert_int_equal(weft_future_destroy(g), 0);
    return 0;
}

static void test_future_callbacks_run_in_registration_order_never_reentrantly(void **state)
{
    run(future_cb_order_main, NULL);
}

/* The case: a callback that cancels a gather must not find the
 * gather's only child half done. The child sets f and then returns; the
 * callback (registered first) cancels the gathering task. asyncio runs
 * it after set_result has returned and the child has ended, so the
 * gather has its child's result: it completes, and the cancellation
 * reaches the gatherer only at its next suspending call. */
typedef struct gcase {
    weft_future_t *f;
    weft_task_t *gatherer;
    int child_rc_after_set; /* what the child saw right after set_result */
    int gather_rc;
    int status;
    int next_rc;
} gcase_t;

static void cancels_gatherer(weft_future_t *f, void *arg)
{
    (void)f;
    gcase_t *g = arg;
    weft_cancel(g->gatherer);
}

static int sets_then_returns(void *arg, void **result)
{
    gcase_t *g = arg;
    assert_int_equal(weft_future_set_result(g->f, NULL), 0);
    /* inline, the callback would have cancelled the gatherer here */
    g->child_rc_after_set = weft_task_cancelled(g->gatherer);
    *result = P(5);
    return 0;
}

static int gathers_one(void *arg, void **result)
{
    (void)result;
    gcase_t *g = arg;
    weft_task_t *child;
    assert_int_equal(weft_spawn(&child, sets_then_returns, g, HERE), 0);
    void *res = NULL;
    g->gather_rc = weft_gather(&child, 1, &res, &g->status, WEFT_GATHER_FAIL_FAST);
    g->next_rc = weft_yield();
    assert_int_equal(weft_task_release(child), 0);
    return 0;
}

static int future_cb_gather_main(void *arg, void **result)
{
    (void)arg, (void)result;
    gcase_t g = {.child_rc_after_set = 9};
    assert_int_equal(weft_future_create(&g.f), 0);
    assert_int_equal(weft_future_on_done(g.f, cancels_gatherer, &g), 0);
    assert_int_equal(weft_spawn(&g.gatherer, gathers_one, &g, HERE), 0);
    assert_int_equal(weft_await(g.gatherer, NULL), 0);
    assert_int_equal(g.child_rc_after_set, 0);
    assert_int_equal(g.gather_rc, 0); /* the child's success stands */
    assert_int_equal(g.status, 0);
    assert_int_equal(g.next_rc, -ECANCELED); /* the cancel shows next */
    assert_int_equal(weft_task_release(g.gatherer), 0);
    assert_int_equal(weft_future_destroy(g.f), 0);
    return 0;
}

static void test_future_callback_cancelling_gather_comes_after_its_child_succeeded(void **state)
{
    run(future_cb_gather_main, NULL);
}

/* ---- done callbacks across workers ---- */

typedef struct xw {
    weft_future_t *f;
    cblog_t *log;
    cbarg_t *cb;
    weft_event_t *registered;
} xw_t;

static int registers_then_waits(void *arg, void **result)
{
    (void)result;
    xw_t *x = arg;
    assert_int_equal(weft_future_on_done(x->f, log_cb, x->cb), 0);
    assert_int_equal(weft_event_set(x->registered), 0);
    return 0;
}

static void registers_from_callback(void *arg)
{
    xw_t *x = arg;
    assert_int_equal(weft_future_on_done(x->f, log_cb, x->cb), 0);
    assert_int_equal(weft_event_set(x->registered), 0);
}

static int calls_soon_there(void *arg, void **result)
{
    (void)result;
    assert_int_equal(weft_call_soon(NULL, registers_from_callback, arg), 0);
    return 0;
}

static int completes(void *arg, void **result)
{
    (void)result;
    return weft_future_set_result(arg, NULL);
}

static void wait_for_log(cblog_t *log, int n)
{
    for (int i = 0; i < 5000 && __atomic_load_n(&log->n, __ATOMIC_ACQUIRE) < n; i++)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(__atomic_load_n(&log->n, __ATOMIC_ACQUIRE), n);
}

static int future_cb_workers_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_opts_t on1 = {.place = WEFT_PLACE_WORKER, .worker = 1};
    weft_task_opts_t on0 = {.place = WEFT_PLACE_WORKER, .worker = 0};
    cblog_t log = {0};
    cbarg_t cb = {.log = &log, .tag = 1};
    weft_task_t *t;
    xw_t x = {.log = &log, .cb = &cb};
    assert_int_equal(weft_event_create(&x.registered), 0);

    /* registered by a task on worker 1, completed on worker 0: runs on 1 */
    assert_int_equal(weft_future_create(&x.f), 0);
    assert_int_equal(weft_spawn(&t, registers_then_waits, &x, &on1), 0);
    assert_int_equal(weft_event_wait(x.registered), 0);
    await_release(t);
    assert_int_equal(weft_future_set_result(x.f, NULL), 0);
    wait_for_log(&log, 1);
    assert_int_equal(log.worker[0], 1);
    assert_false(log.in_task[0]);
    assert_int_equal(weft_future_destroy(x.f), 0);

    /* registered outside any task (a callback on worker 1), completed by
     * a task on worker 0: runs on 0, the completer's loop */
    assert_int_equal(weft_event_clear(x.registered), 0);
    assert_int_equal(weft_future_create(&x.f), 0);
    assert_int_equal(weft_spawn(&t, calls_soon_there, &x, &on1), 0);
    assert_int_equal(weft_event_wait(x.registered), 0);
    await_release(t);
    assert_int_equal(weft_spawn(&t, completes, x.f, &on0), 0);
    await_release(t);
    wait_for_log(&log, 2);
    assert_int_equal(log.worker[1], 0);

    /* the same, completed by a task on worker 1: runs on 1 */
    assert_int_equal(weft_future_destroy(x.f), 0);
    assert_int_equal(weft_event_clear(x.registered), 0);
    assert_int_equal(weft_future_create(&x.f), 0);
    assert_int_equal(weft_spawn(&t, calls_soon_there, &x, &on1), 0);
    assert_int_equal(weft_event_wait(x.registered), 0);
    await_release(t);
    assert_int_equal(weft_spawn(&t, completes, x.f, &on1), 0);
    await_release(t);
    wait_for_log(&log, 3);
    assert_int_equal(log.worker[2], 1);
    assert_int_equal(weft_future_destroy(x.f), 0);

    /* registered by worker 1's task on a future done already: runs on 1 */
    assert_int_equal(weft_event_clear(x.registered), 0);
    assert_int_equal(weft_future_create(&x.f), 0);
    assert_int_equal(weft_future_set_result(x.f, NULL), 0);
    assert_int_equal(weft_spawn(&t, registers_then_waits, &x, &on1), 0);
    await_release(t);
    wait_for_log(&log, 4);
    assert_int_equal(log.worker[3], 1);
    assert_int_equal(weft_future_destroy(x.f), 0);
    assert_int_equal(weft_event_destroy(x.registered), 0);
    return 0;
}

static void test_future_callback_runs_on_registering_tasks_worker_else_completers(void **state)
{
    run_workers(2, future_cb_workers_main, NULL);
}

/* Many callbacks registered on one worker, completed on the other while
 * the first destroys... nothing: each callback destroys nothing, but the
 * last one to run frees what it was given. Stresses the posting of
 * records across workers under TSan. */
typedef struct burst {
    weft_future_t *f;
    _Atomic int ran;
} burst_t;

static void counts(weft_future_t *f, void *arg)
{
    burst_t *b = arg;
    assert_ptr_equal(f, b->f);
    atomic_fetch_add(&b->ran, 1);
}

static int registers_many(void *arg, void **result)
{
    (void)result;
    burst_t *b = arg;
    for (int i = 0; i < 100; i++)
        assert_int_equal(weft_future_on_done(b->f, counts, b), 0);
    return 0;
}

static int future_cb_burst_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_opts_t on1 = {.place = WEFT_PLACE_WORKER, .worker = 1};
    int rounds = RUNNING_ON_VALGRIND ? 5 : 50;
    for (int r = 0; r < rounds; r++) {
        burst_t b = {0};
        weft_task_t *t[2];
        assert_int_equal(weft_future_create(&b.f), 0);
        assert_int_equal(weft_spawn(&t[0], registers_many, &b, &on1), 0);
        assert_int_equal(weft_spawn(&t[1], registers_many, &b, NULL), 0);
        assert_int_equal(weft_gather(t, 2, NULL, NULL, WEFT_GATHER_FAIL_FAST), 0);
        release_all(t, 2);
        assert_int_equal(weft_future_set_result(b.f, NULL), 0);
        /* destroyed before the callbacks ran: they still get b.f */
        assert_int_equal(weft_future_destroy(b.f), 0);
        for (int i = 0; i < 5000 && atomic_load(&b.ran) < 200; i++)
            assert_int_equal(weft_sleep(WEFT_USEC(200)), 0);
        assert_int_equal(atomic_load(&b.ran), 200);
    }
    return 0;
}

static void test_future_callbacks_across_workers_each_run_once_future_kept_alive(void **state)
{
    run_workers(2, future_cb_burst_main, NULL);
}

/* ---- remove_done ---- */

static int future_remove_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f;
    cblog_t log = {0};
    cbarg_t a = {.log = &log, .tag = 1}, b = {.log = &log, .tag = 2};
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_future_on_done(f, log_cb, &a), 0);
    assert_int_equal(weft_future_on_done(f, log_cb, &b), 0);
    assert_int_equal(weft_future_on_done(f, log_cb, &a), 0);
    /* every registration of that fn with that arg, not the other arg */
    assert_int_equal(weft_future_remove_done(f, log_cb, &a), 2);
    assert_int_equal(weft_future_remove_done(f, log_cb, &a), 0);
    assert_int_equal(weft_future_remove_done(f, log_cb, NULL), 0);
    assert_int_equal(weft_future_remove_done(NULL, log_cb, &a), -EINVAL);
    assert_int_equal(weft_future_remove_done(f, NULL, &a), -EINVAL);
    assert_int_equal(weft_future_set_result(f, NULL), 0);
    /* done: the rest is on its way, nothing left to remove */
    assert_int_equal(weft_future_remove_done(f, log_cb, &b), 0);
    settle();
    assert_int_equal(log.n, 1);
    assert_int_equal(log.tag[0], 2);
    assert_int_equal(weft_future_destroy(f), 0);
    return 0;
}

static void test_future_remove_done_removes_matching_unscheduled_callbacks(void **state)
{
    run(future_remove_main, NULL);
}

/* ---- result without waiting ---- */

static int future_result_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f, *g, *h;
    int x;
    void *res = P(1);
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_future_create(&g), 0);
    assert_int_equal(weft_future_create(&h), 0);
    assert_int_equal(weft_future_result(f, &res), -EAGAIN);
    assert_ptr_equal(res, P(1)); /* untouched */
    assert_int_equal(weft_future_set_result(f, &x), 0);
    assert_int_equal(weft_future_result(f, &res), 0);
    assert_ptr_equal(res, &x);
    assert_int_equal(weft_future_result(f, NULL), 0);
    assert_int_equal(weft_future_set_error(g, -EIO), 0);
    assert_int_equal(weft_future_result(g, &res), -EIO);
    assert_null(res);
    assert_int_equal(weft_future_cancel(h), 0);
    assert_int_equal(weft_future_result(h, &res), -ECANCELED);
    assert_int_equal(weft_future_result(NULL, &res), -EINVAL);
    assert_int_equal(weft_future_destroy(f), 0);
    assert_int_equal(weft_future_destroy(g), 0);
    assert_int_equal(weft_future_destroy(h), 0);
    return 0;
}

static void test_future_result_reads_outcome_without_waiting_eagain_before(void **state)
{
    run(future_result_main, NULL);
}

/* from a callback too: the outcome as the awaiters see it */
static void reads_result(weft_future_t *f, void *arg)
{
    *(int *)arg = weft_future_result(f, NULL);
}

static int future_result_cb_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f;
    int seen = 1;
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_future_on_done(f, reads_result, &seen), 0);
    assert_int_equal(weft_future_set_error(f, -EPIPE), 0);
    settle();
    assert_int_equal(seen, -EPIPE);
    assert_int_equal(weft_future_destroy(f), 0);
    return 0;
}

static void test_future_result_from_done_callback_gives_outcome(void **state)
{
    run(future_result_cb_main, NULL);
}

static int future_destroy_busy_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    fwaiter_t w = {.f = f, .rc = 1};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, future_waiter, &w, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING); /* it may run on any worker */
    assert_int_equal(weft_future_destroy(f), -EBUSY);
    assert_false(weft_future_done(f)); /* untouched */
    assert_int_equal(weft_future_set_result(f, (void *)(intptr_t)5), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(w.rc, 0);
    assert_int_equal((intptr_t)w.res, 5);
    assert_int_equal(weft_future_destroy(f), 0);
    weft_task_release(t);
    return 0;
}

static void test_future_destroy_with_waiter_returns_ebusy(void **state)
{
    run(future_destroy_busy_main, NULL);
}

static int future_deadline_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    weft_deadline_t d;
    int64_t t0 = weft_now();
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(10)), 0);
    void *res = (void *)(intptr_t)77;
    assert_int_equal(weft_future_await(f, &res), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(10));
    assert_true(weft_now() - t0 < WEFT_SEC(2));
    assert_int_equal((intptr_t)res, 77); /* not written */
    assert_false(weft_future_done(f));   /* untouched */
    /* no waiter is left behind: destroy would say -EBUSY otherwise,
     * and setting it now still works */
    assert_int_equal(weft_future_set_result(f, (void *)(intptr_t)9), 0);
    assert_int_equal(weft_future_await(f, &res), 0);
    assert_int_equal((intptr_t)res, 9);
    assert_int_equal(weft_future_destroy(f), 0);
    return 0;
}

static void test_future_await_with_deadline_times_out_future_untouched(void **state)
{
    run(future_deadline_main, NULL);
}

static void test_future_outside_loop_returns_enoloop(void **state)
{
    weft_future_t *f = NULL;
    assert_int_equal(weft_future_create(&f), -WEFT_ENOLOOP);
    assert_int_equal(weft_future_create(NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_future_set_result_wakes_every_awaiter),
        cmocka_unit_test(test_future_set_error_and_cancel_reach_awaiters),
        cmocka_unit_test(test_future_on_done_runs_on_a_later_turn_also_when_added_after),
        cmocka_unit_test(test_future_callbacks_run_in_registration_order_never_reentrantly),
        cmocka_unit_test(test_future_callback_cancelling_gather_comes_after_its_child_succeeded),
        cmocka_unit_test(test_future_callback_runs_on_registering_tasks_worker_else_completers),
        cmocka_unit_test(test_future_callbacks_across_workers_each_run_once_future_kept_alive),
        cmocka_unit_test(test_future_remove_done_removes_matching_unscheduled_callbacks),
        cmocka_unit_test(test_future_result_reads_outcome_without_waiting_eagain_before),
        cmocka_unit_test(test_future_result_from_done_callback_gives_outcome),
        cmocka_unit_test(test_future_destroy_with_waiter_returns_ebusy),
        cmocka_unit_test(test_future_await_with_deadline_times_out_future_untouched),
        cmocka_unit_test(test_future_outside_loop_returns_enoloop),
    };
    return run_suite(tests, NULL, NULL);
}
