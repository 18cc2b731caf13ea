/* test_conf_timeouts.c - CPython's test_asyncio/test_timeouts.py and
 * test_waitfor.py, ported: asyncio.timeout / timeout_at as weft's
 * deadline scopes (weft_deadline_push / push_at / reschedule / when /
 * pop) and asyncio.wait_for as weft_wait_for.
 *
 * Names: test_timeouts__<method> and test_waitfor__<method> (conf.h has
 * the scheme). The deliberate difference checked here
 * (docs/asyncio.md): inside a scope that has timed out, every suspending
 * call returns -ETIMEDOUT (asyncio turns the CancelledError into
 * TimeoutError only at the scope's exit); the task itself is not
 * cancelled.
 *
 * Covers: src/task.c's deadlines and wait_for through weft.h. */
#include "conf.h"

/* ---- timeouts ---- */

/* timeout(d) around a longer sleep: the sleep times out, and so does the
 * scope. */
CONF(test_timeouts__test_timeout_basic)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return 0;
}

/* timeout_at(when) works with an absolute instant. */
CONF(test_timeouts__test_timeout_at_basic)
{
    weft_deadline_t d;
    int64_t when = weft_now() + WEFT_MSEC(2);
    assert_int_equal(weft_deadline_push_at(&d, when), 0);
    assert_int_equal(weft_deadline_when(&d), when);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_true(weft_now() >= when);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return 0;
}

/* Nested scopes expiring together both report it. */
CONF(test_timeouts__test_nested_timeouts)
{
    weft_deadline_t outer, inner;
    assert_int_equal(weft_deadline_push(&outer, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_deadline_push(&inner, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&inner), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&outer), -ETIMEDOUT);
    return 0;
}

/* An inner scope never extends an outer one: the outer's deadline stops
 * the wait, and only the outer reports the time-out (asyncio reports it
 * through both). */
CONF(test_timeouts__test_nested_timeouts_concurrent)
{
    weft_deadline_t outer, inner;
    assert_int_equal(weft_deadline_push(&outer, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_deadline_push(&inner, WEFT_SEC(60)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&inner), 0);
    assert_int_equal(weft_deadline_pop(&outer), -ETIMEDOUT);
    return 0;
}

/* The inner scope expires and is popped; the outer one then stops the
 * next wait. */
CONF(test_timeouts__test_nested_timeouts_loop_busy)
{
    weft_deadline_t outer, inner;
    int64_t t0 = weft_now();
    assert_int_equal(weft_deadline_push(&outer, WEFT_MSEC(20)), 0);
    assert_int_equal(weft_deadline_push(&inner, WEFT_MSEC(1)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&inner), -ETIMEDOUT);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&outer), -ETIMEDOUT);
    assert_true(weft_now() - t0 < WEFT_SEC(30));
    return 0;
}

/* Each task's scopes are its own (two tasks, each nesting its own). */
static int scoped_sleep(void *arg, void **res)
{
    (void)res;
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(I(arg))), 0);
    int rc = weft_sleep(WEFT_MSEC(20));
    int prc = weft_deadline_pop(&d);
    return rc ? rc : prc;
}

CONF(test_timeouts__test_nested_timeouts_concurrent_tasks)
{
    weft_task_t *a = conf_spawn(scoped_sleep, P(2)), *b = conf_spawn(scoped_sleep, P(60000));
    conf_finish(a, -ETIMEDOUT);
    conf_finish(b, 0);
    return 0;
}

/* The time-out stops the wait inside the scope (the sleep does not run
 * to its end). */
CONF(test_timeouts__test_waiter_cancelled)
{
    weft_deadline_t d;
    int64_t t0 = weft_now();
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_true(weft_now() - t0 < WEFT_SEC(30));
    return 0;
}

/* A scope whose body finishes in time reports nothing. */
CONF(test_timeouts__test_timeout_not_called)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), 0);
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return 0;
}

/* timeout(None): no deadline; when() says so. */
CONF(test_timeouts__test_timeout_disabled)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_FOREVER), 0);
    assert_true(weft_deadline_when(&d) == WEFT_FOREVER);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return 0;
}

CONF(test_timeouts__test_timeout_at_disabled)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push_at(&d, WEFT_FOREVER), 0);
    assert_true(weft_deadline_when(&d) == WEFT_FOREVER);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return 0;
}

/* timeout(0) has expired: the first suspension times out. */
CONF(test_timeouts__test_timeout_zero)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, 0), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return 0;
}

/* ... even sleep(0). */
CONF(test_timeouts__test_timeout_zero_sleep_zero)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, 0), 0);
    assert_int_equal(weft_sleep(0), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return 0;
}

/* A negative timeout: a deadline already in the past, reported as such
 * (when() is before now, not moved up to it). */
CONF(test_timeouts__test_timeout_in_the_past_sleep_zero)
{
    weft_deadline_t d;
    int64_t now = weft_now();
    assert_int_equal(weft_deadline_push(&d, -WEFT_SEC(11)), 0);
    assert_true(weft_deadline_when(&d) < now);
    assert_int_equal(weft_sleep(0), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return 0;
}

/* An error of the body's own passes through a scope that has not
 * expired. */
CONF(test_timeouts__test_foreign_exception_passed)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), 0);
    weft_task_t *t = conf_spawn(conf_fail, P(EIO));
    assert_int_equal(weft_await(t, NULL), -EIO);
    weft_task_release(t);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return 0;
}

/* A cancellation inside a scope that has not expired stays a
 * cancellation. */
static int cancel_in_scope(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), 0);
    int rc = weft_sleep(WEFT_FOREVER);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return rc;
}

CONF(test_timeouts__test_foreign_cancel_doesnt_timeout_if_not_expired)
{
    weft_task_t *t = conf_spawn(cancel_in_scope, NULL);
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    return 0;
}

/* After a time-out the task is not cancelled: it waits normally once the
 * scope is popped. */
CONF(test_timeouts__test_outer_task_is_not_cancelled)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(1)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_false(weft_task_cancelled(weft_current()));
    assert_int_equal(weft_task_cancelling(weft_current()), 0);
    assert_int_equal(weft_sleep(WEFT_USEC(10)), 0);
    return 0;
}

/* Deliberate difference: in a timed-out scope every later suspending
 * call also returns -ETIMEDOUT (asyncio raises once, at the await that
 * was cancelled, then the body goes on unhindered until the exit). */
CONF(test_timeouts__test_waiter_cancelled_body_sees_etimedout)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(1)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_yield(), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(weft_yield(), 0);
    return 0;
}

/* reschedule moves an open scope's deadline; when() reads it back. */
CONF(test_timeouts__test_reschedule)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_FOREVER), 0);
    int64_t when = weft_now() + WEFT_MSEC(2);
    assert_int_equal(weft_deadline_reschedule(&d, when), 0);
    assert_int_equal(weft_deadline_when(&d), when);
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return 0;
}

/* Rescheduled to later, the scope no longer times out at the old time;
 * rescheduled to none, never. */
CONF(test_timeouts__test_reschedule_later)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(1)), 0);
    assert_int_equal(weft_deadline_reschedule(&d, weft_now() + WEFT_SEC(60)), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(3)), 0);
    assert_int_equal(weft_deadline_reschedule(&d, WEFT_FOREVER), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return 0;
}

/* reschedule of a scope never entered is an error (RuntimeError). */
CONF(test_timeouts__test_timeout_not_entered)
{
    weft_deadline_t d;
    memset(&d, 0, sizeof d);
    assert_int_equal(weft_deadline_reschedule(&d, WEFT_FOREVER), -EINVAL);
    return 0;
}

/* Entering an open scope again is refused (RuntimeError). */
CONF(test_timeouts__test_timeout_already_entered)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), -EALREADY);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return 0;
}

/* Deliberate difference: a scope that has been popped is a plain struct
 * again and may be pushed anew (asyncio refuses to enter a Timeout
 * twice). */
CONF(test_timeouts__test_timeout_double_enter)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    return 0;
}

/* A finished scope can no longer be rescheduled, nor popped again. */
CONF(test_timeouts__test_timeout_finished)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(60)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    assert_int_equal(weft_deadline_reschedule(&d, WEFT_FOREVER), -EINVAL);
    assert_int_equal(weft_deadline_pop(&d), -EINVAL);
    return 0;
}

/* An expired, popped scope can no longer be rescheduled. */
CONF(test_timeouts__test_timeout_expired)
{
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, 0), 0);
    assert_int_equal(weft_yield(), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(weft_deadline_reschedule(&d, weft_now() + WEFT_SEC(1)), -EINVAL);
    return 0;
}

/* After a cancellation caught and cleared, a clean-up under timeout(0)
 * times out. */
CONF(test_timeouts__test_timeout_after_cancellation)
{
    weft_deadline_t d;
    weft_cancel(weft_current());
    assert_int_equal(weft_sleep(WEFT_SEC(1)), -ECANCELED);
    assert_int_equal(weft_uncancel(), 1);
    assert_int_equal(weft_deadline_push(&d, 0), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(1)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    return 0;
}

/* ... and a cancellation inside that clean-up's scope is a cancellation. */
CONF(test_timeouts__test_cancel_in_timeout_after_cancellation)
{
    weft_deadline_t d;
    weft_cancel(weft_current());
    assert_int_equal(weft_sleep(WEFT_SEC(1)), -ECANCELED);
    weft_uncancel();
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(1)), 0);
    weft_cancel(weft_current());
    assert_int_equal(weft_sleep(WEFT_SEC(2)), -ECANCELED);
    assert_int_equal(weft_deadline_pop(&d), 0);
    weft_uncancel();
    return 0;
}

/* expired() / when(): a scope knows its deadline while open. */
CONF(test_timeouts__test_repr_active)
{
    weft_deadline_t d;
    int64_t before = weft_now();
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(10)), 0);
    assert_true(weft_deadline_when(&d) >= before + WEFT_SEC(10));
    assert_int_equal(weft_deadline_pop(&d), 0);
    assert_int_equal(weft_deadline_when(NULL), -EINVAL);
    return 0;
}

/* A scope outside a task is a misuse. */
static void test_timeouts__test_timeout_without_task(void **state)
{
    (void)state;
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(1)), -WEFT_ENOTASK);
}

/* A time-out around a waiting task group cancels its children and the
 * wait returns -ETIMEDOUT (test_timeout_taskgroup). */
CONF(test_timeouts__test_timeout_taskgroup)
{
    weft_group_t *g;
    weft_task_t *c;
    weft_deadline_t d;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, &c, conf_sleep, P(0), NULL), 0);
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_group_wait(g), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_true(weft_task_done(c));
    assert_true(weft_task_cancelled(c));
    return weft_group_destroy(g);
}

/* ---- wait_for ---- */

/* timeout <= 0 on a task already done: its result, no time-out. */
CONF(test_waitfor__test_wait_for_timeout_less_then_0_or_0_future_done)
{
    weft_task_t *t = conf_spawn(conf_return, P(7));
    settle();
    void *r;
    assert_int_equal(weft_wait_for(t, 0, &r), 0);
    assert_int_equal(I(r), 7);
    weft_task_release(t);
    return 0;
}

/* timeout <= 0 on a task not started: time-out at once, the task is
 * cancelled and never runs. */
static int must_not_run(void *arg, void **res)
{
    (void)res;
    *(int *)arg = 1;
    return 0;
}

CONF(test_waitfor__test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started)
{
    int ran = 0;
    weft_task_t *t = conf_spawn(must_not_run, &ran);
    assert_int_equal(weft_wait_for(t, 0, NULL), -ETIMEDOUT);
    assert_true(weft_task_done(t));
    assert_int_equal(ran, 0);
    weft_task_release(t);
    return 0;
}

/* timeout < 0 on a running task: time-out, the task cancelled and
 * awaited. */
CONF(test_waitfor__test_wait_for_timeout_less_then_0_or_0)
{
    weft_task_t *t = conf_spawn(conf_sleep, P(0));
    settle();
    assert_int_equal(weft_wait_for(t, -1, NULL), -ETIMEDOUT);
    assert_true(weft_task_done(t));
    assert_int_equal(weft_task_result(t, NULL), -ECANCELED);
    weft_task_release(t);
    return 0;
}

/* A task slower than the timeout: -ETIMEDOUT, the task cancelled with
 * the deadline as its reason, and done when wait_for returns. */
CONF(test_waitfor__test_wait_for)
{
    weft_task_t *t = conf_spawn(conf_sleep, P(60000));
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(2), NULL), -ETIMEDOUT);
    assert_true(weft_task_done(t));
    assert_int_equal(weft_task_cancel_reason(t, NULL), WEFT_CANCEL_DEADLINE);
    weft_task_release(t);
    return 0;
}

/* A task done in time: its result. */
CONF(test_waitfor__test_wait_for_race_condition)
{
    weft_task_t *t = conf_spawn(conf_yields, P(9));
    void *r;
    assert_int_equal(weft_wait_for(t, WEFT_SEC(60), &r), 0);
    assert_int_equal(I(r), 9);
    weft_task_release(t);
    return 0;
}

/* timeout None: no limit. */
CONF(test_waitfor__test_wait_for_blocking)
{
    weft_task_t *t = conf_spawn(conf_sleep, P(2));
    assert_int_equal(weft_wait_for(t, WEFT_FOREVER, NULL), 0);
    weft_task_release(t);
    return 0;
}

/* A task that finishes with a result while being cancelled for the
 * time-out: its result is returned, not -ETIMEDOUT (bpo-42130 / 3.12). */
static int finish_anyway(void *arg, void **res)
{
    (void)arg;
    weft_sleep(WEFT_FOREVER);
    *res = P(11);
    return 0;
}

CONF(test_waitfor__test_wait_for_cancellation_race_condition)
{
    weft_task_t *t = conf_spawn(finish_anyway, NULL);
    settle(); /* started, and waiting: a task cancelled before it starts never runs */
    void *r = NULL;
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(1), &r), 0);
    assert_int_equal(I(r), 11);
    weft_task_release(t);
    return 0;
}

/* wait_for returns only once the cancelled task has finished its
 * clean-up, however long that takes. */
static int slow_cleanup(void *arg, void **res)
{
    (void)res;
    int rc = weft_sleep(WEFT_FOREVER);
    weft_uncancel();
    weft_sleep(WEFT_MSEC(3));
    *(int *)arg = 1;
    return rc;
}

CONF(test_waitfor__test_wait_for_waits_for_task_cancellation)
{
    int cleaned = 0;
    weft_task_t *t = conf_spawn(slow_cleanup, &cleaned);
    settle();
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(1), NULL), -ETIMEDOUT);
    assert_int_equal(cleaned, 1);
    weft_task_release(t);
    return 0;
}

CONF(test_waitfor__test_wait_for_waits_for_task_cancellation_w_timeout_0)
{
    int cleaned = 0;
    weft_task_t *t = conf_spawn(slow_cleanup, &cleaned);
    settle();
    assert_int_equal(weft_wait_for(t, 0, NULL), -ETIMEDOUT);
    assert_int_equal(cleaned, 1);
    weft_task_release(t);
    return 0;
}

/* A task that fails while being cancelled: its error is returned. */
static int fail_on_cancel(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_sleep(WEFT_FOREVER);
    return -EIO;
}

CONF(test_waitfor__test_wait_for_reraises_exception_during_cancellation)
{
    weft_task_t *t = conf_spawn(fail_on_cancel, NULL);
    settle(); /* started, and waiting: a task cancelled before it starts never runs */
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(1), NULL), -EIO);
    weft_task_release(t);
    return 0;
}

/* A task that ignores the time-out's cancellation and goes on (the
 * SlowTask): wait_for waits for it, and returns what it returns, since
 * it did not end cancelled. */
static int ignore_cancel(void *arg, void **res)
{
    (void)arg;
    assert_int_equal(weft_sleep(WEFT_FOREVER), -ECANCELED);
    weft_uncancel();
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    *res = P(3);
    return 0;
}

CONF(test_waitfor__test_asyncio_wait_for_timeout)
{
    weft_task_t *t = conf_spawn(ignore_cancel, NULL);
    settle(); /* started, and waiting: a task cancelled before it starts never runs */
    void *r = NULL;
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(1), &r), 0);
    assert_int_equal(I(r), 3);
    weft_task_release(t);
    return 0;
}

/* Cancelling the task in wait_for cancels the awaited task too. */
static int wait_for_forever(void *arg, void **res)
{
    return weft_wait_for(arg, WEFT_SEC(60), res);
}

CONF(test_waitfor__test_cancel_wait_for)
{
    weft_task_t *inner = conf_spawn(conf_sleep, P(0));
    weft_task_t *outer = conf_spawn(wait_for_forever, inner);
    settle();
    weft_cancel_with(outer, WEFT_CANCEL_USER, "stop");
    conf_finish(outer, -ECANCELED);
    assert_true(weft_task_done(inner));
    const char *msg = NULL;
    assert_int_equal(weft_task_cancel_reason(inner, &msg), WEFT_CANCEL_USER);
    conf_finish(inner, -ECANCELED);
    return 0;
}

/* Cancelling the waiter while the inner task finishes anyway (the
 * SlowTask): the inner task has ended when wait_for returns, and its own
 * outcome is returned. */
CONF(test_waitfor__test_asyncio_wait_for_cancelled)
{
    weft_task_t *inner = conf_spawn(finish_anyway, NULL);
    weft_task_t *outer = conf_spawn(wait_for_forever, inner);
    settle();
    weft_cancel(outer);
    assert_int_equal(I(conf_finish(outer, 0)), 11);
    conf_finish(inner, 0);
    return 0;
}

/* Cancelling the task in a wait_for without a timeout cancels the
 * awaited task too (Python issue #23219). */
static int wait_for_none(void *arg, void **res)
{
    return weft_wait_for(arg, WEFT_FOREVER, res);
}

CONF(test_waitfor__test_cancel_blocking_wait_for)
{
    weft_task_t *inner = conf_spawn(conf_sleep, P(0));
    weft_task_t *outer = conf_spawn(wait_for_none, inner);
    settle();
    weft_cancel(outer);
    conf_finish(outer, -ECANCELED);
    conf_finish(inner, -ECANCELED);
    return 0;
}

/* wait_for(shield(task), 0): the shield is cancelled at once, the task
 * goes on and finishes. */
CONF(test_waitfor__shield_test_zero_timeout)
{
    conf_gate_t g = conf_gate(2);
    weft_task_t *task = conf_spawn(conf_gated, &g), *sh;
    assert_int_equal(weft_shield(&sh, task), 0);
    assert_int_equal(weft_wait_for(sh, 0, NULL), -ETIMEDOUT);
    assert_true(weft_task_cancelled(sh));
    assert_false(weft_task_done(task));
    assert_false(weft_task_cancelled(task));
    weft_task_release(sh);
    weft_event_set(g.e);
    assert_int_equal(I(conf_finish(task, 0)), 2);
    return weft_event_destroy(g.e);
}

/* wait_for(shield(task), None): runs to completion. */
CONF(test_waitfor__shield_test_none_timeout)
{
    weft_task_t *task = conf_spawn(conf_sleep, P(1)), *sh;
    assert_int_equal(weft_shield(&sh, task), 0);
    void *r = NULL;
    assert_int_equal(weft_wait_for(sh, WEFT_FOREVER, &r), 0);
    assert_int_equal(I(r), 1);
    weft_task_release(sh);
    conf_finish(task, 0);
    return 0;
}

/* wait_for(shield(task), short): time-out, the task goes on. */
CONF(test_waitfor__shield_test_shielded_timeout)
{
    conf_gate_t g = conf_gate(20);
    weft_task_t *task = conf_spawn(conf_gated, &g), *sh;
    assert_int_equal(weft_shield(&sh, task), 0);
    assert_int_equal(weft_wait_for(sh, WEFT_MSEC(1), NULL), -ETIMEDOUT);
    weft_task_release(sh);
    assert_false(weft_task_done(task));
    assert_false(weft_task_cancelled(task));
    weft_event_set(g.e);
    assert_int_equal(I(conf_finish(task, 0)), 20);
    return weft_event_destroy(g.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeouts__test_timeout_basic),
        cmocka_unit_test(test_timeouts__test_timeout_at_basic),
        cmocka_unit_test(test_timeouts__test_nested_timeouts),
        cmocka_unit_test(test_timeouts__test_nested_timeouts_concurrent),
        cmocka_unit_test(test_timeouts__test_nested_timeouts_loop_busy),
        cmocka_unit_test(test_timeouts__test_nested_timeouts_concurrent_tasks),
        cmocka_unit_test(test_timeouts__test_waiter_cancelled),
        cmocka_unit_test(test_timeouts__test_timeout_not_called),
        cmocka_unit_test(test_timeouts__test_timeout_disabled),
        cmocka_unit_test(test_timeouts__test_timeout_at_disabled),
        cmocka_unit_test(test_timeouts__test_timeout_zero),
        cmocka_unit_test(test_timeouts__test_timeout_zero_sleep_zero),
        cmocka_unit_test(test_timeouts__test_timeout_in_the_past_sleep_zero),
        cmocka_unit_test(test_timeouts__test_foreign_exception_passed),
        cmocka_unit_test(test_timeouts__test_foreign_cancel_doesnt_timeout_if_not_expired),
        cmocka_unit_test(test_timeouts__test_outer_task_is_not_cancelled),
        cmocka_unit_test(test_timeouts__test_waiter_cancelled_body_sees_etimedout),
        cmocka_unit_test(test_timeouts__test_reschedule),
        cmocka_unit_test(test_timeouts__test_reschedule_later),
        cmocka_unit_test(test_timeouts__test_timeout_not_entered),
        cmocka_unit_test(test_timeouts__test_timeout_already_entered),
        cmocka_unit_test(test_timeouts__test_timeout_double_enter),
        cmocka_unit_test(test_timeouts__test_timeout_finished),
        cmocka_unit_test(test_timeouts__test_timeout_expired),
        cmocka_unit_test(test_timeouts__test_timeout_after_cancellation),
        cmocka_unit_test(test_timeouts__test_cancel_in_timeout_after_cancellation),
        cmocka_unit_test(test_timeouts__test_repr_active),
        cmocka_unit_test(test_timeouts__test_timeout_without_task),
        cmocka_unit_test(test_timeouts__test_timeout_taskgroup),
        cmocka_unit_test(test_waitfor__test_wait_for_timeout_less_then_0_or_0_future_done),
        cmocka_unit_test(
            test_waitfor__test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started),
        cmocka_unit_test(test_waitfor__test_wait_for_timeout_less_then_0_or_0),
        cmocka_unit_test(test_waitfor__test_wait_for),
        cmocka_unit_test(test_waitfor__test_wait_for_race_condition),
        cmocka_unit_test(test_waitfor__test_wait_for_blocking),
        cmocka_unit_test(test_waitfor__test_wait_for_cancellation_race_condition),
        cmocka_unit_test(test_waitfor__test_wait_for_waits_for_task_cancellation),
        cmocka_unit_test(test_waitfor__test_wait_for_waits_for_task_cancellation_w_timeout_0),
        cmocka_unit_test(test_waitfor__test_wait_for_reraises_exception_during_cancellation),
        cmocka_unit_test(test_waitfor__test_asyncio_wait_for_timeout),
        cmocka_unit_test(test_waitfor__test_cancel_wait_for),
        cmocka_unit_test(test_waitfor__test_asyncio_wait_for_cancelled),
        cmocka_unit_test(test_waitfor__test_cancel_blocking_wait_for),
        cmocka_unit_test(test_waitfor__shield_test_zero_timeout),
        cmocka_unit_test(test_waitfor__shield_test_none_timeout),
        cmocka_unit_test(test_waitfor__shield_test_shielded_timeout),
    };
    return run_suite(tests, NULL, NULL);
}
