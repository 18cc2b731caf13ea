/* test_conf_generators.c - CPython's Lib/test/test_generators.py,
 * ported: next / send / throw / close on weft's generators, the close
 * return value (Python 3.13), gi_running, delegation (`yield from`) and
 * generators that suspend their task.
 *
 * Names: test_generators__<method> (conf.h has the scheme); behaviours
 * that CPython checks in its doctests (tutorial_tests, the "running
 * generators" and "send" sections) are named after the doctest section:
 * test_generators__doctest_<what>. Python's exceptions are negative
 * errno values here: StopIteration is WEFT_DONE, GeneratorExit is the
 * -ECANCELED that weft_gen_yield returns on close, an exception thrown
 * in is any negative errno.
 *
 * Covers: src/gen.c through weft.h's Generators section. */
#include "conf.h"

/* Yields 1, 2, 3, then returns 0 with final value 99. */
static int count3(void *arg, void **result)
{
    (void)arg;
    for (intptr_t i = 1; i <= 3; i++) {
        int rc = weft_gen_yield(P(i), NULL);
        if (rc)
            return rc;
    }
    *result = P(99);
    return 0;
}

static weft_gen_t *mkgen(weft_gen_fn fn, void *arg)
{
    weft_gen_t *g = NULL;
    assert_int_equal(weft_gen_create(&g, fn, arg, NULL), 0);
    return g;
}

/* A generator yields its values, then reports exhaustion with its return
 * value once (StopIteration.value), then exhaustion with nothing. */
CONF(test_generators__test_return_stopiteration)
{
    weft_gen_t *g = mkgen(count3, NULL);
    void *v;
    for (intptr_t i = 1; i <= 3; i++) {
        assert_int_equal(weft_gen_next(g, &v), 0);
        assert_int_equal(I(v), i);
    }
    assert_int_equal(weft_gen_next(g, &v), WEFT_DONE);
    assert_int_equal(I(v), 99);
    assert_int_equal(weft_gen_next(g, &v), WEFT_DONE);
    assert_null(v);
    assert_true(weft_gen_done(g));
    return weft_gen_destroy(g);
}

/* WEFT_GEN_FOREACH visits every value (a for loop over a generator). */
CONF(test_generators__doctest_for_loop)
{
    weft_gen_t *g = mkgen(count3, NULL);
    intptr_t sum = 0;
    WEFT_GEN_FOREACH(g, v)
    sum += I(v);
    assert_int_equal(sum, 6);
    return weft_gen_destroy(g);
}

/* A generator's error reaches the consumer once; later advances report
 * exhaustion (test_except_next / test_stopiteration_error). */
static int fail_after_one(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_gen_yield(P(1), NULL);
    return -EDOM;
}

CONF(test_generators__test_except_next)
{
    weft_gen_t *g = mkgen(fail_after_one, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_int_equal(weft_gen_next(g, &v), -EDOM);
    assert_int_equal(weft_gen_next(g, &v), WEFT_DONE);
    return weft_gen_destroy(g);
}

/* send: the value sent is what the pending yield receives. */
static int echo(void *arg, void **result)
{
    (void)arg;
    (void)result;
    void *got = NULL;
    for (;;) {
        int rc = weft_gen_yield(got, &got);
        if (rc)
            return rc == -ECANCELED ? 0 : rc;
    }
}

CONF(test_generators__doctest_send)
{
    weft_gen_t *g = mkgen(echo, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_null(v);
    assert_int_equal(weft_gen_send(g, P(5), &v), 0);
    assert_int_equal(I(v), 5);
    assert_int_equal(weft_gen_send(g, P(7), &v), 0);
    assert_int_equal(I(v), 7);
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_null(v);
    return weft_gen_destroy(g);
}

/* Deliberate difference: the first send's value is ignored (Python
 * raises TypeError for a non-None value sent to a just-started
 * generator). */
CONF(test_generators__doctest_send_non_none_to_new_generator)
{
    weft_gen_t *g = mkgen(echo, NULL);
    void *v = P(1);
    assert_int_equal(weft_gen_send(g, P(42), &v), 0);
    assert_null(v);
    return weft_gen_destroy(g);
}

/* throw: the error appears at the suspension point; a body that handles
 * it may yield again (test_except_throw). */
static int catch_throw(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int rc = weft_gen_yield(P(1), NULL);
    if (rc == -EDOM)
        rc = weft_gen_yield(P(2), NULL); /* handled: go on */
    return rc == -ECANCELED ? 0 : rc;
}

CONF(test_generators__test_except_throw)
{
    weft_gen_t *g = mkgen(catch_throw, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_int_equal(weft_gen_throw(g, -EDOM, &v), 0);
    assert_int_equal(I(v), 2);
    assert_false(weft_gen_done(g));
    return weft_gen_destroy(g);
}

/* An error thrown in and not handled comes back out of throw; the
 * generator is finished (test_except_gen_except). */
CONF(test_generators__test_except_gen_except)
{
    weft_gen_t *g = mkgen(count3, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_int_equal(weft_gen_throw(g, -EDOM, &v), -EDOM);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_next(g, &v), WEFT_DONE);
    return weft_gen_destroy(g);
}

/* A body that handles a throw by returning: throw reports exhaustion
 * with the body's value. */
static int return_on_throw(void *arg, void **result)
{
    (void)arg;
    int rc = weft_gen_yield(P(1), NULL);
    if (rc == -EDOM) {
        *result = P(77);
        return 0;
    }
    return rc;
}

CONF(test_generators__test_return_tuple)
{
    weft_gen_t *g = mkgen(return_on_throw, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_int_equal(weft_gen_throw(g, -EDOM, &v), WEFT_DONE);
    assert_int_equal(I(v), 77);
    return weft_gen_destroy(g);
}

/* throw into a generator that never started: it finishes without
 * running, and the error comes back. */
static int must_not_run(void *arg, void **result)
{
    (void)result;
    *(int *)arg = 1;
    return 0;
}

CONF(test_generators__test_throw_not_started)
{
    int ran = 0;
    weft_gen_t *g = mkgen(must_not_run, &ran);
    assert_int_equal(weft_gen_throw(g, -EDOM, NULL), -EDOM);
    assert_int_equal(ran, 0);
    assert_true(weft_gen_done(g));
    return weft_gen_destroy(g);
}

/* throw into a finished generator: the error comes back. */
CONF(test_generators__test_throw_after_exhausted)
{
    weft_gen_t *g = mkgen(count3, NULL);
    WEFT_GEN_FOREACH(g, v)
    (void)v;
    assert_int_equal(weft_gen_throw(g, -EDOM, NULL), -EDOM);
    return weft_gen_destroy(g);
}

/* throw of something that is not an error is refused (TypeError). */
CONF(test_generators__test_except_throw_bad_exception)
{
    weft_gen_t *g = mkgen(count3, NULL);
    assert_int_equal(weft_gen_throw(g, 0, NULL), -EINVAL);
    assert_int_equal(weft_gen_throw(g, 5, NULL), -EINVAL);
    return weft_gen_destroy(g);
}

/* close on a suspended generator runs its clean-up; the body saw
 * GeneratorExit (-ECANCELED); no return value. */
static int cleanup_flag(void *arg, void **result)
{
    (void)result;
    int rc = weft_gen_yield(P(1), NULL);
    if (rc == -ECANCELED)
        *(int *)arg = 1;
    return rc;
}

CONF(test_generators__test_close_no_return_value)
{
    int cleaned = 0;
    weft_gen_t *g = mkgen(cleanup_flag, &cleaned);
    void *v = P(1);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close_value(g, &v), 0);
    assert_null(v);
    assert_int_equal(cleaned, 1);
    assert_true(weft_gen_done(g));
    return weft_gen_destroy(g);
}

/* A body that returns a value on close: close returns it (3.13). */
static int return_on_close(void *arg, void **result)
{
    (void)arg;
    int rc = weft_gen_yield(P(1), NULL);
    if (rc == -ECANCELED) {
        *result = P(0x1234);
        return 0;
    }
    return rc;
}

CONF(test_generators__test_close_return_value)
{
    weft_gen_t *g = mkgen(return_on_close, NULL);
    void *v = NULL;
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close_value(g, &v), 0);
    assert_int_equal(I(v), 0x1234);
    return weft_gen_destroy(g);
}

/* A body that lets GeneratorExit pass: close succeeds, no value. */
CONF(test_generators__test_close_not_catching_exit)
{
    weft_gen_t *g = mkgen(count3, NULL);
    void *v = P(1);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close_value(g, &v), 0);
    assert_null(v);
    return weft_gen_destroy(g);
}

/* close before the first advance: the body never runs. */
CONF(test_generators__test_close_not_started)
{
    int ran = 0;
    weft_gen_t *g = mkgen(must_not_run, &ran);
    void *v = P(1);
    assert_int_equal(weft_gen_close_value(g, &v), 0);
    assert_null(v);
    assert_int_equal(ran, 0);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    return weft_gen_destroy(g);
}

/* close after exhaustion: nothing to do, no value. */
CONF(test_generators__test_close_exhausted)
{
    weft_gen_t *g = mkgen(count3, NULL);
    WEFT_GEN_FOREACH(g, v)
    (void)v;
    void *v = P(1);
    assert_int_equal(weft_gen_close_value(g, &v), 0);
    assert_null(v);
    return weft_gen_destroy(g);
}

/* A body whose clean-up fails: close returns that error. */
static int fail_cleanup(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_gen_yield(P(1), NULL);
    return -EIO;
}

CONF(test_generators__test_close_after_exception)
{
    weft_gen_t *g = mkgen(fail_cleanup, NULL);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close(g), -EIO);
    return weft_gen_destroy(g);
}

/* A body that yields again when closed: close fails ("generator ignored
 * GeneratorExit", RuntimeError): -EPROTO. */
static int ignore_exit(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_gen_yield(P(1), NULL);
    weft_gen_yield(P(2), NULL);
    return 0;
}

CONF(test_generators__doctest_close_ignored_generator_exit)
{
    weft_gen_t *g = mkgen(ignore_exit, NULL);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close(g), -EPROTO);
    assert_true(weft_gen_done(g));
    return weft_gen_destroy(g);
}

/* gi_running: true inside the body, false while suspended. */
static int check_running(void *arg, void **result)
{
    (void)result;
    weft_gen_t **self = arg;
    assert_true(weft_gen_running(*self));
    return weft_gen_yield(NULL, NULL);
}

CONF(test_generators__doctest_gi_running)
{
    weft_gen_t *g;
    assert_int_equal(weft_gen_create(&g, check_running, &g, NULL), 0);
    assert_false(weft_gen_running(g));
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_false(weft_gen_running(g));
    assert_false(weft_gen_running(NULL));
    return weft_gen_destroy(g);
}

/* A generator cannot advance itself ("generator already executing",
 * ValueError): -EBUSY. */
static int advance_self(void *arg, void **result)
{
    (void)result;
    weft_gen_t **self = arg;
    return weft_gen_next(*self, NULL);
}

CONF(test_generators__doctest_generator_already_executing)
{
    weft_gen_t *g;
    assert_int_equal(weft_gen_create(&g, advance_self, &g, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), -EBUSY);
    return weft_gen_destroy(g);
}

/* yield outside a generator body is a misuse. */
CONF(test_generators__doctest_yield_outside_generator)
{
    assert_int_equal(weft_gen_yield(NULL, NULL), -WEFT_ENOTCORO);
    return 0;
}

/* yield from: the sub-generator's values go through, its return value
 * is what yield from evaluates to (test_raise_and_yield_from's
 * delegation; test_yield_from's basics). */
static int delegator(void *arg, void **result)
{
    weft_gen_t *sub = mkgen(count3, NULL);
    void *subres = NULL;
    int rc = weft_gen_yield_from(sub, &subres);
    weft_gen_destroy(sub);
    if (rc)
        return rc;
    *(intptr_t *)arg = I(subres);
    return weft_gen_yield(P(4), NULL);
}

CONF(test_generators__test_yield_from_values_and_result)
{
    intptr_t subres = 0;
    weft_gen_t *g = mkgen(delegator, &subres);
    intptr_t want[] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
        void *v;
        assert_int_equal(weft_gen_next(g, &v), 0);
        assert_int_equal(I(v), want[i]);
    }
    assert_int_equal(subres, 99);
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    return weft_gen_destroy(g);
}

/* yield from: values sent to the delegator reach the sub-generator. */
static int echo_delegator(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_gen_t *sub = mkgen(echo, NULL);
    int rc = weft_gen_yield_from(sub, NULL);
    weft_gen_destroy(sub);
    return rc;
}

CONF(test_generators__test_yield_from_send)
{
    weft_gen_t *g = mkgen(echo_delegator, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_int_equal(weft_gen_send(g, P(9), &v), 0);
    assert_int_equal(I(v), 9);
    assert_int_equal(weft_gen_close(g), 0);
    return weft_gen_destroy(g);
}

/* yield from: an error thrown at the delegator goes to the
 * sub-generator, which may handle it and yield. */
static int throw_delegator(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_gen_t *sub = mkgen(catch_throw, NULL);
    int rc = weft_gen_yield_from(sub, NULL);
    weft_gen_destroy(sub);
    return rc;
}

CONF(test_generators__test_yield_from_throw)
{
    weft_gen_t *g = mkgen(throw_delegator, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(weft_gen_throw(g, -EDOM, &v), 0);
    assert_int_equal(I(v), 2);
    return weft_gen_destroy(g);
}

/* yield from: closing the delegator closes the sub-generator first,
 * whose clean-up runs. */
static int cleanup_delegator(void *arg, void **result)
{
    (void)result;
    weft_gen_t *sub = mkgen(cleanup_flag, arg);
    int rc = weft_gen_yield_from(sub, NULL);
    weft_gen_destroy(sub);
    return rc;
}

CONF(test_generators__test_yield_from_close)
{
    int cleaned = 0;
    weft_gen_t *g = mkgen(cleanup_delegator, &cleaned);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close(g), 0);
    assert_int_equal(cleaned, 1);
    return weft_gen_destroy(g);
}

/* A generator whose body sleeps suspends the task that advances it,
 * and a cancellation of that task reaches the body (the async
 * generator's athrow of CancelledError). */
static int sleepy(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int rc = weft_yield(); /* suspends the consuming task for a turn */
    if (rc)
        return rc;
    rc = weft_gen_yield(P(1), NULL);
    if (rc)
        return rc;
    return weft_sleep(WEFT_FOREVER);
}

static int consume_sleepy(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_gen_t *g = mkgen(sleepy, NULL);
    void *v;
    assert_int_equal(weft_gen_next(g, &v), 0);
    int rc = weft_gen_next(g, &v);
    weft_gen_destroy(g);
    return rc;
}

CONF(test_generators__test_async_gen_suspends_task)
{
    weft_task_t *t = conf_spawn(consume_sleepy, NULL);
    wait_state(t, WEFT_TASK_WAITING); /* in the body's second wait */
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generators__test_return_stopiteration),
        cmocka_unit_test(test_generators__doctest_for_loop),
        cmocka_unit_test(test_generators__test_except_next),
        cmocka_unit_test(test_generators__doctest_send),
        cmocka_unit_test(test_generators__doctest_send_non_none_to_new_generator),
        cmocka_unit_test(test_generators__test_except_throw),
        cmocka_unit_test(test_generators__test_except_gen_except),
        cmocka_unit_test(test_generators__test_return_tuple),
        cmocka_unit_test(test_generators__test_throw_not_started),
        cmocka_unit_test(test_generators__test_throw_after_exhausted),
        cmocka_unit_test(test_generators__test_except_throw_bad_exception),
        cmocka_unit_test(test_generators__test_close_no_return_value),
        cmocka_unit_test(test_generators__test_close_return_value),
        cmocka_unit_test(test_generators__test_close_not_catching_exit),
        cmocka_unit_test(test_generators__test_close_not_started),
        cmocka_unit_test(test_generators__test_close_exhausted),
        cmocka_unit_test(test_generators__test_close_after_exception),
        cmocka_unit_test(test_generators__doctest_close_ignored_generator_exit),
        cmocka_unit_test(test_generators__doctest_gi_running),
        cmocka_unit_test(test_generators__doctest_generator_already_executing),
        cmocka_unit_test(test_generators__doctest_yield_outside_generator),
        cmocka_unit_test(test_generators__test_yield_from_values_and_result),
        cmocka_unit_test(test_generators__test_yield_from_send),
        cmocka_unit_test(test_generators__test_yield_from_throw),
        cmocka_unit_test(test_generators__test_yield_from_close),
        cmocka_unit_test(test_generators__test_async_gen_suspends_task),
    };
    return run_suite(tests, NULL, NULL);
}
