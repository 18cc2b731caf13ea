/* test_conf_tasks.c - CPython's test_asyncio/test_tasks.py, ported:
 * creating, awaiting and cancelling tasks (cancel messages, cancelling(),
 * uncancel()), sleep, gather, wait, as_completed, shield, current_task,
 * and the futures tasks wait on.
 *
 * Names: test_tasks__<method> (conf.h has the scheme). Deliberate
 * differences checked here (docs/asyncio.md): awaiting a task or future
 * does not cancel it when the awaiter is cancelled; a task that returns
 * normally after a cancel request ends with its own status; fail-fast
 * gather cancels the siblings of the first failure.
 *
 * Covers: src/task.c, src/gather.c, src/future.c through weft.h. */
#include "conf.h"

/* ---- creating and awaiting ---- */

/* A task runs its function and hands its result to the awaiter. */
CONF(test_tasks__test_task_basics)
{
    weft_task_t *t = conf_spawn(conf_return, P(42));
    assert_int_equal(I(conf_finish(t, 0)), 42);
    return 0;
}

/* A task's failure is what awaiting it returns (the exception re-raised). */
CONF(test_tasks__test_exception_traceback)
{
    weft_task_t *t = conf_spawn(conf_fail, P(EIO));
    conf_finish(t, -EIO);
    return 0;
}

/* create_task with something that is not a coroutine: -EINVAL. */
CONF(test_tasks__test_create_task_with_noncoroutine)
{
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, NULL, NULL, NULL), -EINVAL);
    return 0;
}

/* A task cannot await itself. */
CONF(test_tasks__test_task_awaits_on_itself)
{
    assert_int_equal(weft_await(weft_current(), NULL), -EDEADLK);
    return 0;
}

/* The result of a task not done is not there yet (InvalidStateError);
 * once done it is, and done() says so. */
CONF(test_tasks__test_result_before_done)
{
    weft_task_t *t = conf_spawn(conf_yields, P(2));
    void *r;
    assert_false(weft_task_done(t));
    assert_int_equal(weft_task_result(t, &r), -EAGAIN);
    conf_finish(t, 0);
    return 0;
}

/* A task's name: given at creation (set_name), shown by get_name. */
CONF(test_tasks__test_task_set_name)
{
    weft_task_t *t;
    weft_task_opts_t o = {.name = "worker-7"};
    assert_int_equal(weft_spawn(&t, conf_return, NULL, &o), 0);
    assert_string_equal(weft_task_name(t), "worker-7");
    conf_finish(t, 0);
    return 0;
}

/* current_task() inside a task is that task. */
static int whoami(void *arg, void **res)
{
    (void)arg;
    *res = weft_current();
    weft_yield();
    assert_ptr_equal(weft_current(), *res);
    return 0;
}

CONF(test_tasks__test_current_task)
{
    weft_task_t *t = conf_spawn(whoami, NULL);
    void *r = NULL;
    assert_int_equal(weft_await(t, &r), 0);
    assert_ptr_equal(r, t);
    weft_task_release(t);
    assert_non_null(weft_current());
    return 0;
}

/* Two tasks interleaving: each sees itself as current after each yield. */
CONF(test_tasks__test_current_task_with_interleaving_tasks)
{
    weft_task_t *a = conf_spawn(whoami, NULL), *b = conf_spawn(whoami, NULL);
    void *ra, *rb;
    assert_int_equal(weft_await(a, &ra), 0);
    assert_int_equal(weft_await(b, &rb), 0);
    assert_ptr_equal(ra, a);
    assert_ptr_equal(rb, b);
    weft_task_release(a);
    weft_task_release(b);
    return 0;
}

/* all_tasks(): the live tasks include main and a spawned one. */
CONF(test_tasks__test_all_tasks)
{
    weft_task_t *t = conf_spawn(conf_sleep, P(0)), *all[16];
    settle();
    int n = weft_tasks(all, 16);
    assert_true(n >= 2);
    bool seen_main = false, seen_t = false;
    for (int i = 0; i < n && i < 16; i++) {
        seen_main |= all[i] == weft_current();
        seen_t |= all[i] == t;
    }
    assert_true(seen_main && seen_t);
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    return 0;
}

/* A done callback on a task runs once it finishes (add_done_callback). */
static void on_done(weft_task_t *t, void *arg)
{
    (void)t;
    (*(int *)arg)++;
}

CONF(test_tasks__test_task_add_done_callback)
{
    int calls = 0;
    weft_task_t *t = conf_spawn(conf_yields, P(1));
    assert_int_equal(weft_task_on_done(t, on_done, &calls), 0);
    assert_int_equal(calls, 0);
    conf_finish(t, 0);
    settle();
    assert_int_equal(calls, 1);
    return 0;
}

/* ---- cancellation ---- */

/* Cancelling a sleeping task: its sleep returns -ECANCELED, it ends
 * cancelled. */
CONF(test_tasks__test_cancel)
{
    weft_task_t *t = conf_spawn(conf_sleep, P(10000));
    settle();
    assert_int_equal(weft_cancel(t), 0);
    assert_true(weft_task_cancelled(t));
    conf_finish(t, -ECANCELED);
    return 0;
}

/* Cancelling a task that only yields: its yield returns -ECANCELED. */
CONF(test_tasks__test_cancel_yield)
{
    weft_task_t *t = conf_spawn(conf_yields, P(1000000));
    assert_int_equal(weft_yield(), 0);
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    return 0;
}

/* A task cancelled before it ever ran ends cancelled without running. */
static int must_not_run(void *arg, void **res)
{
    (void)res;
    *(int *)arg = 1;
    return 0;
}

CONF(test_tasks__test_cancel_task_before_start)
{
    int ran = 0;
    weft_task_t *t = conf_spawn(must_not_run, &ran);
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_int_equal(ran, 0);
    return 0;
}

/* A cancel message given before the task starts is kept with the task
 * (test_cancel_with_message_before_starting_task). */
CONF(test_tasks__test_cancel_with_message_before_starting_task)
{
    int ran = 0;
    const char *msg = NULL;
    weft_task_t *t = conf_spawn(must_not_run, &ran);
    assert_int_equal(weft_cancel_with(t, WEFT_CANCEL_USER, "my message"), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_int_equal(ran, 0);
    assert_int_equal(weft_task_cancel_reason(t, &msg), WEFT_CANCEL_USER);
    assert_string_equal(msg, "my message");
    weft_task_release(t);
    return 0;
}

/* The cancelled task can read the message it was cancelled with. */
static int read_reason(void *arg, void **res)
{
    (void)arg;
    int rc = weft_sleep(WEFT_FOREVER);
    const char *msg = NULL;
    int why = weft_task_cancel_reason(weft_current(), &msg);
    assert_int_equal(why, WEFT_CANCEL_USER + 1);
    assert_non_null(msg);
    assert_string_equal(msg, "my message");
    *res = P(why);
    return rc;
}

CONF(test_tasks__test_cancel_with_message_then_future_result)
{
    weft_task_t *t = conf_spawn(read_reason, NULL);
    settle();
    assert_int_equal(weft_task_cancel_reason(t, NULL), -ENOENT);
    assert_int_equal(weft_cancel_with(t, WEFT_CANCEL_USER + 1, "my message"), 0);
    assert_int_equal(I(conf_finish(t, -ECANCELED)), WEFT_CANCEL_USER + 1);
    return 0;
}

/* The first reason is the one kept; later cancels still count. */
CONF(test_tasks__test_cancel_with_message_first_kept)
{
    weft_task_t *t = conf_spawn(conf_sleep, P(0));
    settle();
    const char *msg;
    weft_cancel_with(t, WEFT_CANCEL_USER, "first");
    weft_cancel_with(t, WEFT_CANCEL_USER + 5, "second");
    assert_int_equal(weft_task_cancel_reason(t, &msg), WEFT_CANCEL_USER);
    assert_string_equal(msg, "first");
    assert_int_equal(weft_task_cancelling(t), 2);
    conf_finish(t, -ECANCELED);
    return 0;
}

/* A task awaiting a future is cancelled: the task gets -ECANCELED.
 * Deliberate difference: the future is not cancelled with it (asyncio
 * cancels the future the task waits on). */
static int await_future(void *arg, void **res)
{
    return weft_future_await(arg, res);
}

CONF(test_tasks__test_cancel_inner_future)
{
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    weft_task_t *t = conf_spawn(await_future, f);
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_false(weft_future_done(f));
    return weft_future_destroy(f);
}

/* The future cancelled, then the task: both end cancelled. */
CONF(test_tasks__test_cancel_both_task_and_inner_future)
{
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    weft_task_t *t = conf_spawn(await_future, f);
    settle();
    weft_future_cancel(f);
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_int_equal(weft_future_result(f, NULL), -ECANCELED);
    return weft_future_destroy(f);
}

/* A task that catches its cancellation and returns a value ends with
 * that value (not cancelled). */
static int catcher(void *arg, void **res)
{
    (void)arg;
    if (weft_sleep(WEFT_FOREVER) == -ECANCELED) {
        *res = P(42);
        return 0;
    }
    return -EPROTO;
}

CONF(test_tasks__test_cancel_task_catching)
{
    weft_task_t *t = conf_spawn(catcher, NULL);
    settle();
    weft_cancel(t);
    assert_int_equal(I(conf_finish(t, 0)), 42);
    return 0;
}

/* A task that ignores its cancellation (uncancel) and goes on waiting
 * ends normally. Cancellation is sticky in weft: the task must call
 * weft_uncancel to wait again (deliberate difference). */
static int ignorer(void *arg, void **res)
{
    weft_event_t *e = arg;
    int rc = weft_event_wait(e);
    assert_int_equal(rc, -ECANCELED);
    assert_int_equal(weft_yield(), -ECANCELED); /* sticky */
    assert_int_equal(weft_uncancel(), 1);
    assert_int_equal(weft_event_wait(e), 0);
    *res = P(42);
    return 0;
}

CONF(test_tasks__test_cancel_task_ignoring)
{
    weft_event_t *e;
    assert_int_equal(weft_event_create(&e), 0);
    weft_task_t *t = conf_spawn(ignorer, e);
    settle();
    weft_cancel(t);
    settle();
    assert_false(weft_task_done(t));
    weft_event_set(e);
    assert_int_equal(I(conf_finish(t, 0)), 42);
    return weft_event_destroy(e);
}

/* A task cancelling itself sees -ECANCELED at its next suspension. */
static int self_cancel(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_cancel(weft_current()), 0);
    assert_true(weft_task_cancelled(weft_current()));
    return weft_sleep(WEFT_MSEC(1));
}

CONF(test_tasks__test_cancel_current_task)
{
    weft_task_t *t = conf_spawn(self_cancel, NULL);
    conf_finish(t, -ECANCELED);
    return 0;
}

/* A task cancels itself and returns without suspending again.
 * Deliberate difference: asyncio marks it cancelled; in weft a task's
 * status is what its function returned, here 0 with its result. */
static int cancel_at_end(void *arg, void **res)
{
    (void)arg;
    weft_cancel(weft_current());
    *res = P(12);
    return 0;
}

CONF(test_tasks__test_cancel_at_end)
{
    weft_task_t *t = conf_spawn(cancel_at_end, NULL);
    assert_int_equal(I(conf_finish(t, 0)), 12);
    return 0;
}

/* Cancelling a finished task does nothing and says so. */
CONF(test_tasks__test_cancel_done_task)
{
    weft_task_t *t = conf_spawn(conf_return, NULL);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(weft_cancel(t), -EALREADY);
    assert_false(weft_task_cancelled(t));
    weft_task_release(t);
    return 0;
}

/* Cancelling a task that awaits another: the awaiter gets -ECANCELED.
 * Deliberate difference: the awaited task goes on (asyncio cancels it);
 * weft_wait_for or a group cancels the inner task when that is wanted. */
static int await_other(void *arg, void **res)
{
    return weft_await(arg, res);
}

CONF(test_tasks__test_cancel_awaited_task)
{
    weft_task_t *inner = conf_spawn(conf_sleep, P(0));
    weft_task_t *outer = conf_spawn(await_other, inner);
    settle();
    weft_cancel(outer);
    conf_finish(outer, -ECANCELED);
    assert_false(weft_task_done(inner));
    assert_false(weft_task_cancelled(inner));
    weft_cancel(inner);
    conf_finish(inner, -ECANCELED);
    return 0;
}

/* cancelling() counts the cancel requests. */
CONF(test_tasks__test_cancelling)
{
    weft_task_t *t = conf_spawn(conf_sleep, P(0));
    settle();
    assert_int_equal(weft_task_cancelling(t), 0);
    weft_cancel(t);
    assert_int_equal(weft_task_cancelling(t), 1);
    weft_cancel(t);
    assert_int_equal(weft_task_cancelling(t), 2);
    conf_finish(t, -ECANCELED);
    return 0;
}

/* uncancel() clears the requests and says how many; the task can then
 * wait again. */
static int uncancel_body(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_sleep(WEFT_FOREVER), -ECANCELED);
    assert_int_equal(weft_task_cancelling(weft_current()), 2);
    assert_int_equal(weft_uncancel(), 2);
    assert_int_equal(weft_task_cancelling(weft_current()), 0);
    assert_int_equal(weft_uncancel(), 0);
    return weft_sleep(WEFT_USEC(10));
}

CONF(test_tasks__test_uncancel_basic)
{
    weft_task_t *t = conf_spawn(uncancel_body, NULL);
    settle();
    weft_cancel(t);
    weft_cancel(t);
    conf_finish(t, 0);
    return 0;
}

/* uncancel outside a task is a misuse. */
static void test_tasks__test_uncancel_outside_task(void **state)
{
    (void)state;
    assert_int_equal(weft_uncancel(), -WEFT_ENOTASK);
}

/* ---- sleep ---- */

/* sleep(d) waits at least d. */
CONF(test_tasks__test_sleep)
{
    int64_t t0 = weft_now();
    assert_int_equal(weft_sleep(WEFT_MSEC(5)), 0);
    assert_true(weft_now() - t0 >= WEFT_MSEC(5));
    return 0;
}

/* sleep(0) gives the other ready tasks a turn. */
CONF(test_tasks__test_sleep_zero)
{
    int ran = 0;
    weft_task_t *t = conf_spawn(must_not_run, &ran); /* runs when we yield */
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(ran, 1);
    conf_finish(t, 0);
    return 0;
}

/* A sleeping task cancelled: the sleep returns -ECANCELED at once. */
CONF(test_tasks__test_sleep_cancel)
{
    int64_t t0 = weft_now();
    weft_task_t *t = conf_spawn(conf_sleep, P(60000));
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_true(weft_now() - t0 < WEFT_SEC(30));
    return 0;
}

/* ---- gather ---- */

/* gather of nothing returns at once with nothing (empty sequence). */
CONF(test_tasks__gather_test_constructor_empty_sequence)
{
    assert_int_equal(weft_gather(NULL, 0, NULL, NULL, WEFT_GATHER_FAIL_FAST), 0);
    return 0;
}

/* gather's results are in the order of the tasks, not of completion. */
CONF(test_tasks__gather_test_result)
{
    weft_task_t *t[3] = {conf_spawn(conf_yields, P(3)), conf_spawn(conf_yields, P(1)),
                         conf_spawn(conf_yields, P(2))};
    void *r[3];
    int st[3];
    assert_int_equal(weft_gather(t, 3, r, st, WEFT_GATHER_FAIL_FAST), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st[i], 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(I(r[0]), 3);
    assert_int_equal(I(r[1]), 1);
    assert_int_equal(I(r[2]), 2);
    return 0;
}

/* One child fails: gather returns its error at once. Deliberate
 * difference: the other children are cancelled (asyncio leaves them
 * running). */
CONF(test_tasks__gather_test_one_exception)
{
    weft_task_t *t[3] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_fail, P(EIO)),
                         conf_spawn(conf_sleep, P(0))};
    int st[3];
    assert_int_equal(weft_gather(t, 3, NULL, st, WEFT_GATHER_FAIL_FAST), -EIO);
    assert_int_equal(st[0], -ECANCELED);
    assert_int_equal(st[1], -EIO);
    assert_int_equal(st[2], -ECANCELED);
    for (int i = 0; i < 3; i++)
        weft_task_release(t[i]);
    return 0;
}

/* return_exceptions=True: every outcome collected, nothing cancelled. */
CONF(test_tasks__gather_test_return_exceptions)
{
    weft_task_t *t[3] = {conf_spawn(conf_yields, P(1)), conf_spawn(conf_fail, P(EIO)),
                         conf_spawn(conf_yields, P(5))};
    void *r[3];
    int st[3];
    assert_int_equal(weft_gather(t, 3, r, st, WEFT_GATHER_COLLECT), 0);
    assert_int_equal(st[0], 0);
    assert_int_equal(st[1], -EIO);
    assert_int_equal(st[2], 0);
    assert_int_equal(I(r[2]), 5);
    for (int i = 0; i < 3; i++)
        weft_task_release(t[i]);
    return 0;
}

/* A child cancelled on its own: gather reports -ECANCELED. */
CONF(test_tasks__gather_test_one_cancellation)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_yields, P(3))};
    settle();
    weft_cancel(t[0]);
    int st[2];
    assert_int_equal(weft_gather(t, 2, NULL, st, WEFT_GATHER_COLLECT), 0);
    assert_int_equal(st[0], -ECANCELED);
    assert_int_equal(st[1], 0);
    weft_task_release(t[0]);
    weft_task_release(t[1]);
    return 0;
}

/* Cancelling the task waiting in gather cancels every child
 * (test_cancellation_broadcast). */
static int gather2(void *arg, void **res)
{
    (void)res;
    return weft_gather(arg, 2, NULL, NULL, WEFT_GATHER_FAIL_FAST);
}

CONF(test_tasks__gather_test_cancellation_broadcast)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_sleep, P(0))};
    weft_task_t *g = conf_spawn(gather2, t);
    settle();
    weft_cancel(g);
    conf_finish(g, -ECANCELED);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], -ECANCELED);
    return 0;
}

/* gather in a timeout scope: on expiry the children are cancelled and
 * gather returns -ETIMEDOUT (test_cancel_gather_2). */
CONF(test_tasks__gather_test_cancel_gather_2)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_sleep, P(0))};
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_gather(t, 2, NULL, NULL, WEFT_GATHER_FAIL_FAST), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    for (int i = 0; i < 2; i++) {
        assert_true(weft_task_done(t[i]));
        assert_true(weft_task_cancelled(t[i]));
        weft_task_release(t[i]);
    }
    return 0;
}

/* ---- wait ---- */

/* ALL_COMPLETED: wait returns when both are done. */
CONF(test_tasks__test_wait)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(2)), conf_spawn(conf_sleep, P(1))};
    assert_int_equal(weft_wait(t, 2, WEFT_ALL_COMPLETED, WEFT_FOREVER), 2);
    assert_true(weft_task_done(t[0]) && weft_task_done(t[1]));
    conf_finish(t[0], 0);
    conf_finish(t[1], 0);
    return 0;
}

/* FIRST_COMPLETED: returns when one is done; the other goes on. */
CONF(test_tasks__test_wait_first_completed)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_yields, P(1))};
    assert_int_equal(weft_wait(t, 2, WEFT_FIRST_COMPLETED, WEFT_FOREVER), 1);
    assert_false(weft_task_done(t[0]));
    assert_true(weft_task_done(t[1]));
    weft_cancel(t[0]);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], 0);
    return 0;
}

/* Tasks that finish in the same turn are reported done together. */
CONF(test_tasks__test_wait_really_done)
{
    weft_task_t *t[2] = {conf_spawn(conf_yields, P(1)), conf_spawn(conf_yields, P(1))};
    assert_int_equal(weft_wait(t, 2, WEFT_FIRST_COMPLETED, WEFT_FOREVER), 2);
    conf_finish(t[0], 0);
    conf_finish(t[1], 0);
    return 0;
}

/* FIRST_EXCEPTION: returns at the first failure. */
CONF(test_tasks__test_wait_first_exception)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_fail, P(EIO))};
    assert_int_equal(weft_wait(t, 2, WEFT_FIRST_EXCEPTION, WEFT_FOREVER), 1);
    assert_true(weft_task_done(t[1]));
    weft_cancel(t[0]);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], -EIO);
    return 0;
}

/* FIRST_EXCEPTION with a task that already failed: no wait at all. */
CONF(test_tasks__test_wait_first_exception_in_wait)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_fail, P(EIO))};
    settle();
    assert_int_equal(weft_wait(t, 2, WEFT_FIRST_EXCEPTION, 0), 1);
    weft_cancel(t[0]);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], -EIO);
    return 0;
}

/* ALL_COMPLETED with one failure: waits for all; the failure is the
 * task's status, not wait's. */
CONF(test_tasks__test_wait_with_exception)
{
    weft_task_t *t[2] = {conf_spawn(conf_yields, P(3)), conf_spawn(conf_fail, P(EIO))};
    assert_int_equal(weft_wait(t, 2, WEFT_ALL_COMPLETED, WEFT_FOREVER), 2);
    conf_finish(t[0], 0);
    conf_finish(t[1], -EIO);
    return 0;
}

/* A timeout returns what is done by then, and cancels nothing. */
CONF(test_tasks__test_wait_with_timeout)
{
    weft_task_t *t[2] = {conf_spawn(conf_sleep, P(0)), conf_spawn(conf_yields, P(1))};
    settle(); /* t[1] has finished, t[0] never will */
    assert_int_equal(weft_wait(t, 2, WEFT_ALL_COMPLETED, WEFT_MSEC(5)), 1);
    assert_false(weft_task_cancelled(t[0]));
    weft_cancel(t[0]);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], 0);
    return 0;
}

/* timeout 0: counts what is done now without waiting. */
CONF(test_tasks__test_wait_concurrent_complete)
{
    weft_task_t *t[2] = {conf_spawn(conf_return, NULL), conf_spawn(conf_sleep, P(0))};
    settle();
    assert_int_equal(weft_wait(t, 2, WEFT_ALL_COMPLETED, 0), 1);
    weft_cancel(t[1]);
    conf_finish(t[0], 0);
    conf_finish(t[1], -ECANCELED);
    return 0;
}

/* The same task passed twice counts once. */
CONF(test_tasks__test_wait_duplicate_coroutines)
{
    weft_task_t *a = conf_spawn(conf_yields, P(1));
    weft_task_t *t[2] = {a, a};
    assert_int_equal(weft_wait(t, 2, WEFT_ALL_COMPLETED, WEFT_FOREVER), 1);
    conf_finish(a, 0);
    return 0;
}

/* An empty set and a bad return_when are refused (ValueError). */
CONF(test_tasks__test_wait_errors)
{
    weft_task_t *a = conf_spawn(conf_return, NULL);
    assert_int_equal(weft_wait(NULL, 0, WEFT_ALL_COMPLETED, WEFT_FOREVER), -EINVAL);
    assert_int_equal(weft_wait(&a, 1, 99, WEFT_FOREVER), -EINVAL);
    conf_finish(a, 0);
    return 0;
}

/* ---- as_completed ---- */

/* Tasks come out in the order they finish. */
CONF(test_tasks__test_as_completed)
{
    weft_task_t *t[3] = {conf_spawn(conf_yields, P(5)), conf_spawn(conf_yields, P(1)),
                         conf_spawn(conf_yields, P(3))};
    weft_as_completed_t *ac;
    weft_task_t *next;
    assert_int_equal(weft_as_completed_create(&ac, t, 3), 0);
    intptr_t order[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_as_completed_next(ac, &next), 0);
        void *r;
        assert_int_equal(weft_task_result(next, &r), 0);
        order[i] = I(r);
    }
    assert_int_equal(weft_as_completed_next(ac, &next), WEFT_DONE);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 5);
    weft_as_completed_destroy(ac);
    for (int i = 0; i < 3; i++)
        weft_task_release(t[i]);
    return 0;
}

/* Under a timeout, next returns -ETIMEDOUT once it passes; what is left
 * goes on. */
CONF(test_tasks__test_as_completed_with_timeout)
{
    weft_task_t *t[2] = {conf_spawn(conf_yields, P(1)), conf_spawn(conf_sleep, P(0))};
    weft_as_completed_t *ac;
    weft_task_t *next;
    weft_deadline_t d;
    settle(); /* t[0] has finished: the time-out is for t[1] alone */
    assert_int_equal(weft_as_completed_create(&ac, t, 2), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(5)), 0);
    assert_int_equal(weft_as_completed_next(ac, &next), 0);
    assert_ptr_equal(next, t[0]);
    assert_int_equal(weft_as_completed_next(ac, &next), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_false(weft_task_done(t[1]));
    weft_as_completed_destroy(ac);
    weft_cancel(t[1]);
    conf_finish(t[0], 0);
    conf_finish(t[1], -ECANCELED);
    return 0;
}

/* A timeout that never fires changes nothing. */
CONF(test_tasks__test_as_completed_with_unused_timeout)
{
    weft_task_t *t = conf_spawn(conf_yields, P(1)), *next;
    weft_as_completed_t *ac;
    weft_deadline_t d;
    assert_int_equal(weft_as_completed_create(&ac, &t, 1), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(30)), 0);
    assert_int_equal(weft_as_completed_next(ac, &next), 0);
    assert_int_equal(weft_as_completed_next(ac, &next), WEFT_DONE);
    assert_int_equal(weft_deadline_pop(&d), 0);
    weft_as_completed_destroy(ac);
    conf_finish(t, 0);
    return 0;
}

/* Tasks that finish together are all handed out, each once. */
CONF(test_tasks__test_as_completed_concurrent)
{
    weft_task_t *t[2] = {conf_spawn(conf_yields, P(1)), conf_spawn(conf_yields, P(1))}, *n1, *n2;
    weft_as_completed_t *ac;
    assert_int_equal(weft_as_completed_create(&ac, t, 2), 0);
    assert_int_equal(weft_as_completed_next(ac, &n1), 0);
    assert_int_equal(weft_as_completed_next(ac, &n2), 0);
    assert_ptr_not_equal(n1, n2);
    assert_int_equal(weft_as_completed_next(ac, &n1), WEFT_DONE);
    weft_as_completed_destroy(ac);
    conf_finish(t[0], 0);
    conf_finish(t[1], 0);
    return 0;
}

/* The same task passed twice is handed out once. */
CONF(test_tasks__test_as_completed_duplicate_coroutines)
{
    weft_task_t *a = conf_spawn(conf_yields, P(1)), *t[2] = {a, a}, *next;
    weft_as_completed_t *ac;
    assert_int_equal(weft_as_completed_create(&ac, t, 2), 0);
    assert_int_equal(weft_as_completed_next(ac, &next), 0);
    assert_int_equal(weft_as_completed_next(ac, &next), WEFT_DONE);
    weft_as_completed_destroy(ac);
    conf_finish(a, 0);
    return 0;
}

/* Tasks already done when the iteration starts come first, in the order
 * given (test_as_completed_reverse_wait). */
CONF(test_tasks__test_as_completed_reverse_wait)
{
    weft_task_t *t[2] = {conf_spawn(conf_return, P(1)), conf_spawn(conf_return, P(2))}, *next;
    settle();
    weft_as_completed_t *ac;
    assert_int_equal(weft_as_completed_create(&ac, t, 2), 0);
    assert_int_equal(weft_as_completed_next(ac, &next), 0);
    assert_ptr_equal(next, t[0]);
    assert_int_equal(weft_as_completed_next(ac, &next), 0);
    assert_ptr_equal(next, t[1]);
    weft_as_completed_destroy(ac);
    conf_finish(t[0], 0);
    conf_finish(t[1], 0);
    return 0;
}

/* ---- shield ---- */

/* The shield finishes with the inner task's result. */
CONF(test_tasks__test_shield_result)
{
    weft_task_t *inner = conf_spawn(conf_yields, P(42)), *outer;
    assert_int_equal(weft_shield(&outer, inner), 0);
    assert_int_equal(I(conf_finish(outer, 0)), 42);
    conf_finish(inner, 0);
    return 0;
}

/* ... and with its error. */
CONF(test_tasks__test_shield_exception)
{
    weft_task_t *inner = conf_spawn(conf_fail, P(EIO)), *outer;
    assert_int_equal(weft_shield(&outer, inner), 0);
    conf_finish(outer, -EIO);
    conf_finish(inner, -EIO);
    return 0;
}

/* Cancelling the inner task cancels the shield. */
CONF(test_tasks__test_shield_cancel_inner)
{
    weft_task_t *inner = conf_spawn(conf_sleep, P(0)), *outer;
    assert_int_equal(weft_shield(&outer, inner), 0);
    settle();
    weft_cancel(inner);
    conf_finish(outer, -ECANCELED);
    conf_finish(inner, -ECANCELED);
    return 0;
}

/* Cancelling the shield leaves the inner task running. */
CONF(test_tasks__test_shield_cancel_outer)
{
    conf_gate_t g = conf_gate(5);
    weft_task_t *inner = conf_spawn(conf_gated, &g), *outer;
    assert_int_equal(weft_shield(&outer, inner), 0);
    settle();
    weft_cancel(outer);
    conf_finish(outer, -ECANCELED);
    assert_false(weft_task_done(inner));
    weft_event_set(g.e);
    assert_int_equal(I(conf_finish(inner, 0)), 5);
    return weft_event_destroy(g.e);
}

/* wait_for over a shield: the time-out cancels the shield, not the inner
 * task (test_shield_effect). */
CONF(test_tasks__test_shield_effect)
{
    weft_task_t *inner = conf_spawn(conf_sleep, P(20)), *outer;
    assert_int_equal(weft_shield(&outer, inner), 0);
    assert_int_equal(weft_wait_for(outer, WEFT_MSEC(1), NULL), -ETIMEDOUT);
    weft_task_release(outer);
    assert_false(weft_task_cancelled(inner));
    conf_finish(inner, 0);
    return 0;
}

/* A shield of a task already done finishes with its outcome. */
CONF(test_tasks__test_shield_shortcut)
{
    weft_task_t *inner = conf_spawn(conf_return, P(7)), *outer;
    settle();
    assert_int_equal(weft_shield(&outer, inner), 0);
    assert_int_equal(I(conf_finish(outer, 0)), 7);
    conf_finish(inner, 0);
    return 0;
}

/* Cancelling a gather of shields cancels the shields only. */
CONF(test_tasks__test_shield_gather)
{
    weft_task_t *in[2] = {conf_spawn(conf_yields, P(4)), conf_spawn(conf_yields, P(4))}, *sh[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_shield(&sh[i], in[i]), 0);
    weft_task_t *g = conf_spawn(gather2, sh);
    assert_int_equal(weft_yield(), 0);
    weft_cancel(g);
    conf_finish(g, -ECANCELED);
    for (int i = 0; i < 2; i++) {
        weft_task_release(sh[i]);
        assert_int_equal(I(conf_finish(in[i], 0)), 4);
    }
    return 0;
}

/* ---- futures tasks wait on ---- */

/* A future's result reaches every task awaiting it. */
CONF(test_tasks__test_task_cancel_waiter_future)
{
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    weft_task_t *a = conf_spawn(await_future, f), *b = conf_spawn(await_future, f);
    settle();
    weft_cancel(a);
    conf_finish(a, -ECANCELED);
    assert_false(weft_future_done(f));
    assert_int_equal(weft_future_set_result(f, P(3)), 0);
    assert_int_equal(I(conf_finish(b, 0)), 3);
    assert_int_equal(weft_future_set_result(f, P(4)), -EALREADY);
    void *r;
    assert_int_equal(weft_future_result(f, &r), 0);
    assert_int_equal(I(r), 3);
    return weft_future_destroy(f);
}

/* Done callbacks run on a later turn, in registration order, never
 * inside set_result. */
static conf_log_t cb_log;
static void cb1(weft_future_t *f, void *arg)
{
    (void)f;
    conf_log(&cb_log, (int)I(arg));
}

CONF(test_tasks__test_future_callbacks_scheduled_in_order)
{
    weft_future_t *f;
    cb_log.n = 0;
    assert_int_equal(weft_future_create(&f), 0);
    weft_future_on_done(f, cb1, P(1));
    weft_future_on_done(f, cb1, P(2));
    weft_future_on_done(f, cb1, P(3));
    assert_int_equal(weft_future_remove_done(f, cb1, P(2)), 1);
    weft_future_set_error(f, -EIO);
    assert_int_equal(cb_log.n, 0);
    settle();
    assert_int_equal(cb_log.n, 2);
    assert_int_equal(cb_log.v[0], 1);
    assert_int_equal(cb_log.v[1], 3);
    assert_int_equal(weft_future_result(f, NULL), -EIO);
    return weft_future_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks__test_task_basics),
        cmocka_unit_test(test_tasks__test_exception_traceback),
        cmocka_unit_test(test_tasks__test_create_task_with_noncoroutine),
        cmocka_unit_test(test_tasks__test_task_awaits_on_itself),
        cmocka_unit_test(test_tasks__test_result_before_done),
        cmocka_unit_test(test_tasks__test_task_set_name),
        cmocka_unit_test(test_tasks__test_current_task),
        cmocka_unit_test(test_tasks__test_current_task_with_interleaving_tasks),
        cmocka_unit_test(test_tasks__test_all_tasks),
        cmocka_unit_test(test_tasks__test_task_add_done_callback),
        cmocka_unit_test(test_tasks__test_cancel),
        cmocka_unit_test(test_tasks__test_cancel_yield),
        cmocka_unit_test(test_tasks__test_cancel_task_before_start),
        cmocka_unit_test(test_tasks__test_cancel_with_message_before_starting_task),
        cmocka_unit_test(test_tasks__test_cancel_with_message_then_future_result),
        cmocka_unit_test(test_tasks__test_cancel_with_message_first_kept),
        cmocka_unit_test(test_tasks__test_cancel_inner_future),
        cmocka_unit_test(test_tasks__test_cancel_both_task_and_inner_future),
        cmocka_unit_test(test_tasks__test_cancel_task_catching),
        cmocka_unit_test(test_tasks__test_cancel_task_ignoring),
        cmocka_unit_test(test_tasks__test_cancel_current_task),
        cmocka_unit_test(test_tasks__test_cancel_at_end),
        cmocka_unit_test(test_tasks__test_cancel_done_task),
        cmocka_unit_test(test_tasks__test_cancel_awaited_task),
        cmocka_unit_test(test_tasks__test_cancelling),
        cmocka_unit_test(test_tasks__test_uncancel_basic),
        cmocka_unit_test(test_tasks__test_uncancel_outside_task),
        cmocka_unit_test(test_tasks__test_sleep),
        cmocka_unit_test(test_tasks__test_sleep_zero),
        cmocka_unit_test(test_tasks__test_sleep_cancel),
        cmocka_unit_test(test_tasks__gather_test_constructor_empty_sequence),
        cmocka_unit_test(test_tasks__gather_test_result),
        cmocka_unit_test(test_tasks__gather_test_one_exception),
        cmocka_unit_test(test_tasks__gather_test_return_exceptions),
        cmocka_unit_test(test_tasks__gather_test_one_cancellation),
        cmocka_unit_test(test_tasks__gather_test_cancellation_broadcast),
        cmocka_unit_test(test_tasks__gather_test_cancel_gather_2),
        cmocka_unit_test(test_tasks__test_wait),
        cmocka_unit_test(test_tasks__test_wait_first_completed),
        cmocka_unit_test(test_tasks__test_wait_really_done),
        cmocka_unit_test(test_tasks__test_wait_first_exception),
        cmocka_unit_test(test_tasks__test_wait_first_exception_in_wait),
        cmocka_unit_test(test_tasks__test_wait_with_exception),
        cmocka_unit_test(test_tasks__test_wait_with_timeout),
        cmocka_unit_test(test_tasks__test_wait_concurrent_complete),
        cmocka_unit_test(test_tasks__test_wait_duplicate_coroutines),
        cmocka_unit_test(test_tasks__test_wait_errors),
        cmocka_unit_test(test_tasks__test_as_completed),
        cmocka_unit_test(test_tasks__test_as_completed_with_timeout),
        cmocka_unit_test(test_tasks__test_as_completed_with_unused_timeout),
        cmocka_unit_test(test_tasks__test_as_completed_concurrent),
        cmocka_unit_test(test_tasks__test_as_completed_duplicate_coroutines),
        cmocka_unit_test(test_tasks__test_as_completed_reverse_wait),
        cmocka_unit_test(test_tasks__test_shield_result),
        cmocka_unit_test(test_tasks__test_shield_exception),
        cmocka_unit_test(test_tasks__test_shield_cancel_inner),
        cmocka_unit_test(test_tasks__test_shield_cancel_outer),
        cmocka_unit_test(test_tasks__test_shield_effect),
        cmocka_unit_test(test_tasks__test_shield_shortcut),
        cmocka_unit_test(test_tasks__test_shield_gather),
        cmocka_unit_test(test_tasks__test_task_cancel_waiter_future),
        cmocka_unit_test(test_tasks__test_future_callbacks_scheduled_in_order),
    };
    return run_suite(tests, NULL, NULL);
}
