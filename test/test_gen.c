/* test_gen.c - generators: next, send, close, yield from, for-each.
 *
 * Each test checks one behaviour of weft_gen_* as weft.h documents it,
 * which follows Python's generators: values in order then the final value
 * once, send into the pending yield, close as GeneratorExit (clean-up
 * runs; yielding again is a protocol error), delegation with yield from,
 * and failures reported once.
 *
 * Covers: src/gen.c.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- next ---- */

/* Yields 1..*arg, then returns 100 as its final value. */
static int count_to(void *arg, void **result)
{
    int n = *(int *)arg;
    for (int i = 1; i <= n; i++) {
        int rc = weft_gen_yield(P(i), NULL);
        if (rc < 0)
            return rc;
    }
    *result = P(100);
    return 0;
}

static void test_next_yields_in_order_then_done_with_final_value_once(void **state)
{
    weft_gen_t *g;
    int n = 3;
    void *out = NULL;
    assert_int_equal(weft_gen_create(&g, count_to, &n, NULL), 0);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(weft_gen_next(g, &out), 0);
        assert_int_equal(I(out), i);
        assert_false(weft_gen_done(g));
    }
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_int_equal(I(out), 100);
    assert_true(weft_gen_done(g));
    for (int k = 0; k < 2; k++) {
        out = P(1);
        assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
        assert_null(out);
    }
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_gen_done_is_false_until_exhausted(void **state)
{
    weft_gen_t *g;
    int n = 1;
    assert_int_equal(weft_gen_create(&g, count_to, &n, NULL), 0);
    assert_false(weft_gen_done(g)); /* never started */
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_false(weft_gen_done(g)); /* suspended */
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_destroy(g), 0);
}

/* ---- send ---- */

/* Yields the running total of what is sent in; returns the count. */
static int totaller(void *arg, void **result)
{
    intptr_t total = 0, count = 0;
    void *in = NULL;
    int rc;
    (void)arg;
    while ((rc = weft_gen_yield(P(total), &in)) == 0) {
        if (in == NULL)
            break; /* next() ends it */
        total += I(in);
        count++;
    }
    *result = P(count);
    return rc == -ECANCELED ? rc : 0;
}

static void test_send_delivers_values_into_yield_first_value_ignored(void **state)
{
    weft_gen_t *g;
    void *out = NULL;
    assert_int_equal(weft_gen_create(&g, totaller, NULL, NULL), 0);
    /* the first advance starts the body: its value goes nowhere */
    assert_int_equal(weft_gen_send(g, P(1000), &out), 0);
    assert_int_equal(I(out), 0);
    assert_int_equal(weft_gen_send(g, P(5), &out), 0);
    assert_int_equal(I(out), 5);
    assert_int_equal(weft_gen_send(g, P(7), &out), 0);
    assert_int_equal(I(out), 12);
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE); /* next sends NULL */
    assert_int_equal(I(out), 2);
    assert_int_equal(weft_gen_destroy(g), 0);
}

/* ---- close ---- */

typedef struct cleanup {
    int yield_rc; /* what the pending yield returned */
    int cleaned;  /* the clean-up ran */
    int again_rc; /* a yield after the close, if the body tries one */
    int yield_again;
} cleanup_t;

static int with_cleanup(void *arg, void **result)
{
    cleanup_t *c = arg;
    int rc = 0;
    for (int i = 0; rc == 0; i++)
        rc = weft_gen_yield(P(i), NULL);
    c->yield_rc = rc;
    c->cleaned++;
    if (c->yield_again)
        c->again_rc = weft_gen_yield(P(-1), NULL); /* ignores the close */
    return rc;
}

static void test_close_cancels_pending_yield_and_runs_cleanup(void **state)
{
    weft_gen_t *g;
    cleanup_t c = {0};
    assert_int_equal(weft_gen_create(&g, with_cleanup, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close(g), 0);
    assert_int_equal(c.yield_rc, -ECANCELED);
    assert_int_equal(c.cleaned, 1);
    assert_true(weft_gen_done(g));
    void *out = P(1);
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_null(out);
    assert_int_equal(weft_gen_close(g), 0); /* again: already finished */
    assert_int_equal(c.cleaned, 1);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(c.cleaned, 1);
}

static void test_close_of_body_that_yields_again_returns_eproto(void **state)
{
    weft_gen_t *g;
    cleanup_t c = {.yield_again = 1, .again_rc = 12345};
    assert_int_equal(weft_gen_create(&g, with_cleanup, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close(g), -EPROTO);
    assert_int_equal(c.yield_rc, -ECANCELED);
    assert_int_equal(c.cleaned, 1);
    assert_int_equal(c.again_rc, 12345); /* that yield never returned: discarded */
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(c.again_rc, 12345);
}

static void test_close_of_never_started_generator_returns_0(void **state)
{
    weft_gen_t *g;
    cleanup_t c = {0};
    assert_int_equal(weft_gen_create(&g, with_cleanup, &c, NULL), 0);
    assert_int_equal(weft_gen_close(g), 0);
    assert_true(weft_gen_done(g));
    assert_int_equal(c.cleaned, 0); /* the body never ran */
    void *out = P(1);
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_null(out);
    assert_int_equal(c.cleaned, 0);
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_close_of_exhausted_generator_returns_0(void **state)
{
    weft_gen_t *g;
    int n = 1;
    assert_int_equal(weft_gen_create(&g, count_to, &n, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    assert_int_equal(weft_gen_close(g), 0);
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_destroy_of_suspended_generator_runs_cleanup(void **state)
{
    weft_gen_t *g;
    cleanup_t c = {0};
    assert_int_equal(weft_gen_create(&g, with_cleanup, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(c.yield_rc, -ECANCELED);
    assert_int_equal(c.cleaned, 1);
    /* never started: destroyed without running */
    cleanup_t d = {0};
    assert_int_equal(weft_gen_create(&g, with_cleanup, &d, NULL), 0);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(d.cleaned, 0);
}

/* ---- yield from ---- */

/* Yields sent values doubled, *arg times; returns the sum of what it got. */
static int doubler(void *arg, void **result)
{
    int n = *(int *)arg;
    intptr_t sum = 0;
    void *in = NULL;
    for (int i = 0; i < n; i++) {
        int rc = weft_gen_yield(P(2 * I(in)), &in);
        if (rc < 0)
            return rc;
        sum += I(in);
    }
    *result = P(sum);
    return 0;
}

typedef struct deleg {
    weft_gen_t *sub;
    int rc;
    void *result;
    int after; /* the delegator ran on after yield_from returned */
} deleg_t;

/* Yields 'B' (before), delegates to d->sub, yields 'A' (after), returns
 * what the sub-generator returned. */
static int delegator(void *arg, void **result)
{
    deleg_t *d = arg;
    int rc = weft_gen_yield(P('B'), NULL);
    if (rc < 0)
        return rc;
    d->rc = weft_gen_yield_from(d->sub, &d->result);
    if (d->rc < 0)
        return d->rc;
    d->after = 1;
    rc = weft_gen_yield(P('A'), NULL);
    if (rc < 0)
        return rc;
    *result = d->result;
    return 0;
}

static void test_yield_from_passes_values_both_ways_and_returns_final_value(void **state)
{
    weft_gen_t *sub, *g;
    int n = 3;
    deleg_t d = {0};
    void *out = NULL;
    assert_int_equal(weft_gen_create(&sub, doubler, &n, NULL), 0);
    d.sub = sub;
    assert_int_equal(weft_gen_create(&g, delegator, &d, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0);
    assert_int_equal(I(out), 'B');
    /* this send reaches the delegator's pending yield; the sub starts */
    assert_int_equal(weft_gen_send(g, P(99), &out), 0);
    assert_int_equal(I(out), 0); /* the sub's first yield, passed through */
    assert_int_equal(weft_gen_send(g, P(5), &out), 0);
    assert_int_equal(I(out), 10);
    assert_int_equal(weft_gen_send(g, P(6), &out), 0);
    assert_int_equal(I(out), 12);
    assert_int_equal(d.after, 0);
    assert_int_equal(weft_gen_send(g, P(7), &out), 0); /* sub done: 5+6+7 */
    assert_int_equal(I(out), 'A');
    assert_int_equal(d.rc, 0);
    assert_int_equal(I(d.result), 18);
    assert_int_equal(d.after, 1);
    assert_true(weft_gen_done(sub));
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_int_equal(I(out), 18);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0); /* the caller still owns sub */
}

/* Level k delegates to level k+1 and adds 1 to its final value; the last
 * level yields its depth and the values sent in. */
typedef struct level {
    int depth;
    struct level *next;
    intptr_t got; /* what the innermost level received */
} level_t;

static int leveled(void *arg, void **result)
{
    level_t *l = arg;
    if (l->next) {
        weft_gen_t *sub;
        void *r = NULL;
        assert_int_equal(weft_gen_create(&sub, leveled, l->next, NULL), 0);
        int rc = weft_gen_yield_from(sub, &r);
        weft_gen_destroy(sub);
        if (rc < 0)
            return rc;
        *result = P(I(r) + 1);
        return 0;
    }
    void *in = NULL;
    int rc = weft_gen_yield(P(l->depth), &in);
    if (rc < 0)
        return rc;
    l->got = I(in);
    rc = weft_gen_yield(P(l->depth * 10), &in);
    if (rc < 0)
        return rc;
    l->got += I(in);
    *result = P(1000);
    return 0;
}

static void test_yield_from_nests_three_levels(void **state)
{
    level_t l3 = {.depth = 3}, l2 = {.depth = 2, .next = &l3}, l1 = {.depth = 1, .next = &l2};
    weft_gen_t *g;
    void *out = NULL;
    assert_int_equal(weft_gen_create(&g, leveled, &l1, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0);
    assert_int_equal(I(out), 3);
    assert_int_equal(weft_gen_send(g, P(40), &out), 0);
    assert_int_equal(I(out), 30);
    assert_int_equal(weft_gen_send(g, P(2), &out), WEFT_DONE);
    assert_int_equal(I(out), 1002); /* 1000, +1 at each of the two outer levels */
    assert_int_equal(l3.got, 42);
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_close_of_delegating_generator_closes_subgenerator(void **state)
{
    weft_gen_t *sub, *g;
    cleanup_t c = {0};
    deleg_t d = {0};
    void *out = NULL;
    assert_int_equal(weft_gen_create(&sub, with_cleanup, &c, NULL), 0);
    d.sub = sub;
    assert_int_equal(weft_gen_create(&g, delegator, &d, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0); /* 'B' */
    assert_int_equal(weft_gen_next(g, &out), 0); /* sub's 0 */
    assert_int_equal(weft_gen_next(g, &out), 0); /* sub's 1 */
    assert_int_equal(I(out), 1);
    assert_int_equal(weft_gen_close(g), 0);
    assert_int_equal(c.yield_rc, -ECANCELED);
    assert_int_equal(c.cleaned, 1);
    assert_true(weft_gen_done(sub));
    assert_int_equal(d.rc, -ECANCELED);
    assert_int_equal(d.after, 0);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0);
    assert_int_equal(c.cleaned, 1);
}

static int fails_after_one(void *arg, void **result)
{
    int rc = weft_gen_yield(P(1), NULL);
    if (rc < 0)
        return rc;
    *result = P(77); /* a failing body's value is not handed out */
    return -EIO;
}

static void test_yield_from_returns_subgenerators_failure(void **state)
{
    weft_gen_t *sub, *g;
    deleg_t d = {0};
    void *out = NULL;
    assert_int_equal(weft_gen_create(&sub, fails_after_one, NULL, NULL), 0);
    d.sub = sub;
    assert_int_equal(weft_gen_create(&g, delegator, &d, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0); /* 'B' */
    assert_int_equal(weft_gen_next(g, &out), 0);
    assert_int_equal(I(out), 1);
    assert_int_equal(weft_gen_next(g, &out), -EIO); /* the delegator returned it */
    assert_int_equal(d.rc, -EIO);
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0);
}

/* ---- failure ---- */

static void test_failing_generator_reports_error_once_then_done(void **state)
{
    weft_gen_t *g;
    void *out = NULL;
    assert_int_equal(weft_gen_create(&g, fails_after_one, NULL, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0);
    assert_int_equal(I(out), 1);
    out = P(1);
    assert_int_equal(weft_gen_next(g, &out), -EIO);
    assert_null(out);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_null(out);
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_int_equal(weft_gen_close(g), 0);
    assert_int_equal(weft_gen_destroy(g), 0);
}

/* ---- for-each ---- */

static void test_gen_foreach_visits_each_yielded_value_not_the_final_one(void **state)
{
    weft_gen_t *g;
    int n = 10;
    intptr_t sum = 0;
    int steps = 0;
    assert_int_equal(weft_gen_create(&g, count_to, &n, NULL), 0);
    WEFT_GEN_FOREACH(g, v)
    {
        sum += I(v);
        steps++;
    }
    assert_int_equal(sum, 55);
    assert_int_equal(steps, 10); /* the final value is not an iteration */
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_destroy(g), 0);
}

/* ---- misuse ---- */

static void *plain_coro_yields(void *arg)
{
    weft_gen_t *g = arg;
    intptr_t a = weft_gen_yield(P(1), NULL);
    intptr_t b = weft_gen_yield_from(g, NULL);
    return P(a * 1000 + b); /* both -WEFT_ENOTCORO */
}

static void test_gen_yield_outside_generator_returns_enotcoro(void **state)
{
    weft_gen_t *g;
    int n = 1;
    assert_int_equal(weft_gen_create(&g, count_to, &n, NULL), 0);
    assert_int_equal(weft_gen_yield(P(1), NULL), -WEFT_ENOTCORO);
    assert_int_equal(weft_gen_yield_from(g, NULL), -WEFT_ENOTCORO);
    weft_coro_t *co;
    void *out = NULL;
    assert_int_equal(weft_coro_create(&co, plain_coro_yields, g, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, &out), WEFT_DONE);
    assert_int_equal(I(out), -WEFT_ENOTCORO * 1000 + -WEFT_ENOTCORO);
    assert_int_equal(weft_coro_destroy(co), 0);
    assert_false(weft_gen_done(g)); /* untouched */
    assert_int_equal(weft_gen_destroy(g), 0);
}

static weft_gen_t *self_ref;

static int delegates_to_itself(void *arg, void **result)
{
    int *rcs = arg;
    rcs[0] = weft_gen_yield_from(self_ref, NULL);
    rcs[1] = weft_gen_yield_from(NULL, NULL);
    rcs[2] = weft_gen_next(self_ref, NULL);
    rcs[3] = weft_gen_close(self_ref);
    rcs[4] = weft_gen_destroy(self_ref);
    rcs[5] = weft_coro_yield(NULL, NULL); /* a generator is not a plain coroutine */
    return 0;
}

static void test_yield_from_self_returns_einval_and_self_advance_ebusy(void **state)
{
    int rcs[6] = {0};
    assert_int_equal(weft_gen_create(&self_ref, delegates_to_itself, rcs, NULL), 0);
    assert_int_equal(weft_gen_next(self_ref, NULL), WEFT_DONE);
    assert_int_equal(rcs[0], -EINVAL);
    assert_int_equal(rcs[1], -EINVAL);
    assert_int_equal(rcs[2], -EBUSY);
    assert_int_equal(rcs[3], -EBUSY);
    assert_int_equal(rcs[4], -EBUSY);
    assert_int_equal(rcs[5], -WEFT_ENOTCORO);
    assert_int_equal(weft_gen_destroy(self_ref), 0);
}

static void test_gen_null_arguments_return_einval(void **state)
{
    weft_gen_t *g = NULL;
    int n = 1;
    assert_int_equal(weft_gen_create(NULL, count_to, &n, NULL), -EINVAL);
    assert_int_equal(weft_gen_create(&g, NULL, &n, NULL), -EINVAL);
    assert_null(g);
    assert_int_equal(weft_gen_next(NULL, NULL), -EINVAL);
    assert_int_equal(weft_gen_send(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(weft_gen_close(NULL), -EINVAL);
    assert_int_equal(weft_gen_destroy(NULL), -EINVAL);
    weft_coro_opts_t o = {.stack_size = ((size_t)1 << 30) + 1};
    assert_int_equal(weft_gen_create(&g, count_to, &n, &o), -EINVAL);
    assert_null(g);
}

typedef struct xdev {
    weft_gen_t *g;
    int rc, close_rc;
} xdev_t;

static void *xdev_thread(void *arg)
{
    xdev_t *x = arg;
    x->rc = weft_gen_next(x->g, NULL);
    x->close_rc = weft_gen_close(x->g);
    return NULL;
}

static void test_send_or_close_from_another_thread_returns_ethread(void **state)
{
    xdev_t x = {0};
    int n = 3;
    void *out = NULL;
    assert_int_equal(weft_gen_create(&x.g, count_to, &n, NULL), 0);
    assert_int_equal(weft_gen_next(x.g, &out), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, xdev_thread, &x), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(x.rc, -WEFT_ETHREAD);
    assert_int_equal(x.close_rc, -WEFT_ETHREAD);
    assert_false(weft_gen_done(x.g));
    /* neither the send nor the close reached it: it goes on where it was */
    assert_int_equal(weft_gen_next(x.g, &out), 0);
    assert_int_equal(I(out), 2);
    assert_int_equal(weft_gen_destroy(x.g), 0);
}

static void test_named_generator_with_custom_stack_runs(void **state)
{
    weft_gen_t *g;
    int n = 2;
    weft_coro_opts_t o = {.stack_size = 32 * 1024, .name = "counter"};
    intptr_t sum = 0;
    assert_int_equal(weft_gen_create(&g, count_to, &n, &o), 0);
    WEFT_GEN_FOREACH(g, v)
    {
        sum += I(v);
    }
    assert_int_equal(sum, 3);
    assert_int_equal(weft_gen_destroy(g), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_yields_in_order_then_done_with_final_value_once),
        cmocka_unit_test(test_gen_done_is_false_until_exhausted),
        cmocka_unit_test(test_send_delivers_values_into_yield_first_value_ignored),
        cmocka_unit_test(test_close_cancels_pending_yield_and_runs_cleanup),
        cmocka_unit_test(test_close_of_body_that_yields_again_returns_eproto),
        cmocka_unit_test(test_close_of_never_started_generator_returns_0),
        cmocka_unit_test(test_close_of_exhausted_generator_returns_0),
        cmocka_unit_test(test_destroy_of_suspended_generator_runs_cleanup),
        cmocka_unit_test(test_yield_from_passes_values_both_ways_and_returns_final_value),
        cmocka_unit_test(test_yield_from_nests_three_levels),
        cmocka_unit_test(test_close_of_delegating_generator_closes_subgenerator),
        cmocka_unit_test(test_yield_from_returns_subgenerators_failure),
        cmocka_unit_test(test_failing_generator_reports_error_once_then_done),
        cmocka_unit_test(test_gen_foreach_visits_each_yielded_value_not_the_final_one),
        cmocka_unit_test(test_gen_yield_outside_generator_returns_enotcoro),
        cmocka_unit_test(test_yield_from_self_returns_einval_and_self_advance_ebusy),
        cmocka_unit_test(test_gen_null_arguments_return_einval),
        cmocka_unit_test(test_send_or_close_from_another_thread_returns_ethread),
        cmocka_unit_test(test_named_generator_with_custom_stack_runs),
    };
    return run_suite(tests, NULL, NULL);
}
