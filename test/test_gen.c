/* test_gen.c - generators: next, send, close, yield from, for-each.
 *
 * Each test checks one behaviour of weft_gen_* as weft.h documents it,
 * which follows Python's generators: values in order then the final value
 * once, send into the pending yield, close as GeneratorExit (clean-up
 * runs; yielding again is a protocol error), throw (handled or passed
 * on, through a delegation to the sub-generator first), close's return
 * value, gi_running, delegation with yield from, and failures reported
 * once (a task's cancellation included); weft_run closes the generators
 * its tasks left suspended (as asyncio.run shuts down async generators).
 *
 * Covers: src/gen.c.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* the generator a body under test refers to itself by */
static weft_gen_t *self_ref;

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

/* A sub-generator whose clean-up fails: its close reports -EIO. */
static int cleanup_fails(void *arg, void **result)
{
    int *cleaned = arg;
    int rc;
    for (int i = 0; (rc = weft_gen_yield(P(i), NULL)) == 0; i++)
        ;
    (*cleaned)++;
    return rc == -ECANCELED ? -EIO : rc;
}

static void test_close_of_delegating_generator_reports_subgenerators_cleanup_error(void **state)
{
    weft_gen_t *sub, *g;
    int cleaned = 0;
    deleg_t d = {0};
    assert_int_equal(weft_gen_create(&sub, cleanup_fails, &cleaned, NULL), 0);
    d.sub = sub;
    assert_int_equal(weft_gen_create(&g, delegator, &d, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0); /* 'B' */
    assert_int_equal(weft_gen_next(g, NULL), 0); /* sub's 0 */
    /* the sub's clean-up error reaches the delegator at its yield_from
     * (as Python raises it there instead of GeneratorExit), and the
     * delegator, which returns it, makes the close report it */
    assert_int_equal(weft_gen_close(g), -EIO);
    assert_int_equal(cleaned, 1);
    assert_int_equal(d.rc, -EIO);
    assert_true(weft_gen_done(sub));
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0);
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

/* ---- throw ---- */

/* Yields 1, 2, 3; an error thrown at a yield is recorded and answered
 * by the policy: -EIO is handled (it yields 100 + the count of errors
 * caught and goes on), -ENOENT ends the body with 0 and a final value,
 * anything else is passed on. */
typedef struct catcher {
    int caught[4];
    int ncaught;
    int cleaned;
} catcher_t;

static int catches(void *arg, void **result)
{
    catcher_t *c = arg;
    void *v = P(1);
    int rc;
    for (int i = 1; i <= 3;) {
        rc = weft_gen_yield(v, NULL);
        if (rc == 0) {
            v = P(++i);
            continue;
        }
        c->caught[c->ncaught++] = rc;
        if (rc == -EIO) {
            v = P(100 + c->ncaught);
            continue;
        }
        c->cleaned++;
        if (rc == -ENOENT) {
            *result = P(77);
            return 0;
        }
        return rc;
    }
    return 0;
}

static void test_throw_is_handled_by_body_which_yields_next_value(void **state)
{
    weft_gen_t *g;
    catcher_t c = {0};
    void *out = NULL;
    assert_int_equal(weft_gen_create(&g, catches, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0);
    assert_int_equal(I(out), 1);
    assert_int_equal(weft_gen_throw(g, -EIO, &out), 0);
    assert_int_equal(I(out), 101); /* the value the handler yielded */
    assert_int_equal(c.ncaught, 1);
    assert_int_equal(c.caught[0], -EIO);
    assert_false(weft_gen_done(g));
    /* and it goes on as before */
    assert_int_equal(weft_gen_next(g, &out), 0);
    assert_int_equal(I(out), 2);
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_throw_not_handled_is_returned_once_then_done(void **state)
{
    weft_gen_t *g;
    catcher_t c = {0};
    void *out = P(1);
    assert_int_equal(weft_gen_create(&g, catches, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_throw(g, -EPIPE, &out), -EPIPE);
    assert_null(out);
    assert_int_equal(c.caught[0], -EPIPE);
    assert_int_equal(c.cleaned, 1);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    /* a finished generator cannot catch it: it comes straight back */
    assert_int_equal(weft_gen_throw(g, -EIO, &out), -EIO);
    assert_int_equal(c.ncaught, 1);
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_throw_after_which_body_returns_gives_done_and_final_value(void **state)
{
    weft_gen_t *g;
    catcher_t c = {0};
    void *out = NULL;
    assert_int_equal(weft_gen_create(&g, catches, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_throw(g, -ENOENT, &out), WEFT_DONE);
    assert_int_equal(I(out), 77);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_throw_of_ecanceled_not_handled_reports_ecanceled(void **state)
{
    weft_gen_t *g;
    catcher_t c = {0};
    assert_int_equal(weft_gen_create(&g, catches, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    /* Python: a GeneratorExit thrown and not caught leaves throw() */
    assert_int_equal(weft_gen_throw(g, -ECANCELED, NULL), -ECANCELED);
    assert_int_equal(c.caught[0], -ECANCELED);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_destroy(g), 0);
}

static void test_throw_into_never_started_generator_never_runs_body(void **state)
{
    weft_gen_t *g;
    catcher_t c = {0};
    void *out = P(1);
    assert_int_equal(weft_gen_create(&g, catches, &c, NULL), 0);
    assert_int_equal(weft_gen_throw(g, -EIO, &out), -EIO);
    assert_null(out);
    assert_int_equal(c.ncaught, 0);
    assert_true(weft_gen_done(g));
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_int_equal(weft_gen_destroy(g), 0);
}

static int throws_at_itself(void *arg, void **result)
{
    (void)result;
    *(int *)arg = weft_gen_throw(self_ref, -EIO, NULL);
    return 0;
}

static void test_throw_misuse_einval_and_ebusy(void **state)
{
    weft_gen_t *g;
    catcher_t c = {0};
    assert_int_equal(weft_gen_create(&g, catches, &c, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_throw(NULL, -EIO, NULL), -EINVAL);
    assert_int_equal(weft_gen_throw(g, 0, NULL), -EINVAL);
    assert_int_equal(weft_gen_throw(g, EIO, NULL), -EINVAL);
    assert_int_equal(weft_gen_throw(g, WEFT_DONE, NULL), -EINVAL);
    assert_int_equal(c.ncaught, 0); /* nothing was delivered */
    assert_int_equal(weft_gen_destroy(g), 0);
    int rc = 0;
    assert_int_equal(weft_gen_create(&self_ref, throws_at_itself, &rc, NULL), 0);
    assert_int_equal(weft_gen_next(self_ref, NULL), WEFT_DONE);
    assert_int_equal(rc, -EBUSY);
    assert_int_equal(weft_gen_destroy(self_ref), 0);
}

static void test_throw_into_delegator_goes_to_subgenerator_first(void **state)
{
    weft_gen_t *sub, *g;
    catcher_t c = {0};
    deleg_t d = {0};
    void *out = NULL;
    assert_int_equal(weft_gen_create(&sub, catches, &c, NULL), 0);
    d.sub = sub;
    assert_int_equal(weft_gen_create(&g, delegator, &d, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0); /* 'B' */
    assert_int_equal(weft_gen_next(g, &out), 0); /* sub's 1 */
    assert_int_equal(I(out), 1);
    /* the sub handles it: its yield comes out of the delegator */
    assert_int_equal(weft_gen_throw(g, -EIO, &out), 0);
    assert_int_equal(I(out), 101);
    assert_int_equal(c.caught[0], -EIO);
    assert_int_equal(d.rc, 0); /* the delegator is still in yield_from */
    /* the sub returns on it: yield_from returns its value, the delegator goes on */
    assert_int_equal(weft_gen_throw(g, -ENOENT, &out), 0);
    assert_int_equal(I(out), 'A');
    assert_int_equal(d.rc, 0);
    assert_int_equal(I(d.result), 77);
    assert_true(weft_gen_done(sub));
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_int_equal(I(out), 77);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0);
}

/* Delegates to *arg's sub; handles an error yield_from reports by
 * yielding it (negated), then returns. */
typedef struct handler {
    weft_gen_t *sub;
    int yf_rc;
} handler_t;

static int handles_sub_error(void *arg, void **result)
{
    (void)result;
    handler_t *h = arg;
    h->yf_rc = weft_gen_yield_from(h->sub, NULL);
    if (h->yf_rc < 0 && h->yf_rc != -ECANCELED) {
        int rc = weft_gen_yield(P(-h->yf_rc), NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void test_throw_not_handled_by_subgenerator_reaches_delegator(void **state)
{
    weft_gen_t *sub, *g;
    catcher_t c = {0};
    handler_t h = {0};
    void *out = NULL;
    assert_int_equal(weft_gen_create(&sub, catches, &c, NULL), 0);
    h.sub = sub;
    assert_int_equal(weft_gen_create(&g, handles_sub_error, &h, NULL), 0);
    assert_int_equal(weft_gen_next(g, &out), 0);
    assert_int_equal(I(out), 1);
    assert_int_equal(weft_gen_throw(g, -EPIPE, &out), 0);
    assert_int_equal(c.caught[0], -EPIPE); /* the sub saw it first */
    assert_true(weft_gen_done(sub));
    assert_int_equal(h.yf_rc, -EPIPE); /* then the delegator, which handled it */
    assert_int_equal(I(out), EPIPE);
    assert_int_equal(weft_gen_next(g, &out), WEFT_DONE);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0);
}

static void test_throw_of_ecanceled_into_delegator_closes_subgenerator(void **state)
{
    weft_gen_t *sub, *g;
    cleanup_t c = {0};
    handler_t h = {0};
    assert_int_equal(weft_gen_create(&sub, with_cleanup, &c, NULL), 0);
    h.sub = sub;
    assert_int_equal(weft_gen_create(&g, handles_sub_error, &h, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    /* Python closes the sub-iterator on a thrown GeneratorExit */
    assert_int_equal(weft_gen_throw(g, -ECANCELED, NULL), WEFT_DONE);
    assert_int_equal(c.yield_rc, -ECANCELED);
    assert_int_equal(c.cleaned, 1);
    assert_true(weft_gen_done(sub));
    assert_int_equal(h.yf_rc, -ECANCELED);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0);
}

/* ---- close's value ---- */

/* Yields until closed, then returns 0 with *arg as its final value (or
 * -ECANCELED if *arg is NULL). */
static int returns_on_close(void *arg, void **result)
{
    int rc;
    while ((rc = weft_gen_yield(P(1), NULL)) == 0)
        ;
    if (!arg)
        return rc;
    *result = arg;
    return 0;
}

static void test_close_value_returns_what_body_returned_on_close(void **state)
{
    weft_gen_t *g;
    int x;
    void *res = NULL;
    assert_int_equal(weft_gen_create(&g, returns_on_close, &x, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close_value(g, &res), 0);
    assert_ptr_equal(res, &x);
    assert_true(weft_gen_done(g));
    /* already finished: no value, as Python's close() of a closed one */
    res = P(1);
    assert_int_equal(weft_gen_close_value(g, &res), 0);
    assert_null(res);
    assert_int_equal(weft_gen_destroy(g), 0);
    /* a body that returns -ECANCELED returned no value */
    assert_int_equal(weft_gen_create(&g, returns_on_close, NULL, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    res = P(1);
    assert_int_equal(weft_gen_close_value(g, &res), 0);
    assert_null(res);
    assert_int_equal(weft_gen_destroy(g), 0);
    /* never started: no value, the body never runs */
    assert_int_equal(weft_gen_create(&g, returns_on_close, &x, NULL), 0);
    res = P(1);
    assert_int_equal(weft_gen_close_value(g, &res), 0);
    assert_null(res);
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_close_value(NULL, &res), -EINVAL);
}

static void test_close_value_of_failing_cleanup_returns_error_and_no_value(void **state)
{
    weft_gen_t *g;
    int cleaned = 0;
    void *res = P(1);
    assert_int_equal(weft_gen_create(&g, cleanup_fails, &cleaned, NULL), 0);
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_int_equal(weft_gen_close_value(g, &res), -EIO);
    assert_null(res);
    assert_int_equal(cleaned, 1);
    assert_int_equal(weft_gen_destroy(g), 0);
}

/* ---- running ---- */

typedef struct runprobe {
    weft_gen_t *self;  /* the generator running this body */
    weft_gen_t *outer; /* its delegator, if any */
    weft_gen_t *sub;   /* its sub-generator, if any */
    bool self_running, outer_running;
} runprobe_t;

static int probes_running(void *arg, void **result)
{
    (void)result;
    runprobe_t *p = arg;
    p->self_running = weft_gen_running(p->self);
    if (p->outer)
        p->outer_running = weft_gen_running(p->outer);
    if (p->sub)
        return weft_gen_yield_from(p->sub, NULL);
    return weft_gen_yield(NULL, NULL);
}

static void test_gen_running_while_body_runs_or_delegates(void **state)
{
    weft_gen_t *g, *sub;
    runprobe_t ps = {0}, pg = {0};
    assert_int_equal(weft_gen_create(&sub, probes_running, &ps, NULL), 0);
    assert_int_equal(weft_gen_create(&g, probes_running, &pg, NULL), 0);
    ps.self = sub, ps.outer = g;
    pg.self = g, pg.sub = sub;
    assert_false(weft_gen_running(g)); /* never started */
    assert_int_equal(weft_gen_next(g, NULL), 0);
    assert_true(pg.self_running);
    assert_true(ps.self_running);
    assert_true(ps.outer_running);     /* the delegator runs while its sub does */
    assert_false(weft_gen_running(g)); /* suspended */
    assert_false(weft_gen_running(sub));
    assert_int_equal(weft_gen_next(g, NULL), WEFT_DONE);
    assert_false(weft_gen_running(g)); /* finished */
    assert_false(weft_gen_running(NULL));
    assert_int_equal(weft_gen_destroy(g), 0);
    assert_int_equal(weft_gen_destroy(sub), 0);
}

/* ---- in a task ---- */

static int sleeps_in_body(void *arg, void **result)
{
    (void)arg, (void)result;
    int rc = weft_gen_yield(P(1), NULL);
    if (rc < 0)
        return rc;
    return weft_sleep(WEFT_SEC(100)); /* -ECANCELED: the task was cancelled */
}

static int task_advances_generator(void *arg, void **result)
{
    (void)result;
    weft_gen_t *g = arg;
    assert_int_equal(weft_gen_next(g, NULL), 0);
    return weft_gen_next(g, NULL);
}

static int gen_cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_gen_t *g;
    weft_task_t *t;
    assert_int_equal(weft_gen_create(&g, sleeps_in_body, NULL, NULL), 0);
    assert_int_equal(weft_spawn(&t, task_advances_generator, g, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(weft_yield(), 0);
    assert_true(weft_gen_running(g)); /* its task is suspended in the body */
    assert_int_equal(weft_cancel(t), 0);
    /* the next that saw the body end reports the cancellation, not an
     * exhausted generator */
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_true(weft_gen_done(g));
    assert_false(weft_gen_running(g));
    assert_int_equal(weft_task_release(t), 0);
    assert_int_equal(weft_gen_destroy(g), 0);
    return 0;
}

static void test_next_reports_ecanceled_when_body_ends_cancelled(void **state)
{
    run(gen_cancel_main, NULL);
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

/* ---- weft_run closes what its tasks left suspended ---- */

/* Yields until closed; counts its clean-up in *arg (an int). */
static int cleanup_gen(void *arg, void **result)
{
    (void)result;
    int *cleaned = arg;
    for (;;) {
        int rc = weft_gen_yield(NULL, NULL);
        if (rc == -ECANCELED) {
            (*cleaned)++;
            return 0;
        }
        if (rc < 0)
            return rc;
    }
}

/* Delegates to a cleanup_gen; counts its own clean-up in cleaned[1]. */
static int delegating_gen(void *arg, void **result)
{
    (void)result;
    int *cleaned = arg;
    weft_gen_t *sub;
    if (weft_gen_create(&sub, cleanup_gen, &cleaned[0], NULL) < 0)
        return -ENOMEM;
    int rc = weft_gen_yield_from(sub, NULL);
    if (rc == -ECANCELED)
        cleaned[1]++;
    weft_gen_destroy(sub);
    return rc == -ECANCELED ? 0 : rc;
}

typedef struct {
    int plain, exhausted, destroyed, nested[2], in_child;
    weft_gen_t *g[5];
} leftovers_t;

static int leave_one(void *arg, void **result)
{
    (void)result;
    leftovers_t *l = arg;
    if (weft_gen_create(&l->g[4], cleanup_gen, &l->in_child, NULL) < 0 ||
        weft_gen_next(l->g[4], NULL) != 0)
        return -EPROTO;
    return 0;
}

static int leave_suspended_main(void *arg, void **result)
{
    (void)result;
    leftovers_t *l = arg;
    /* suspended at its yield, and left so */
    assert_int_equal(weft_gen_create(&l->g[0], cleanup_gen, &l->plain, NULL), 0);
    assert_int_equal(weft_gen_next(l->g[0], NULL), 0);
    /* closed by the program: not closed again */
    assert_int_equal(weft_gen_create(&l->g[1], cleanup_gen, &l->exhausted, NULL), 0);
    assert_int_equal(weft_gen_next(l->g[1], NULL), 0);
    assert_int_equal(weft_gen_close(l->g[1]), 0);
    /* destroyed by the program: forgotten */
    assert_int_equal(weft_gen_create(&l->g[2], cleanup_gen, &l->destroyed, NULL), 0);
    assert_int_equal(weft_gen_next(l->g[2], NULL), 0);
    assert_int_equal(weft_gen_destroy(l->g[2]), 0);
    l->g[2] = NULL;
    /* a delegation: the outer one closes its sub itself */
    assert_int_equal(weft_gen_create(&l->g[3], delegating_gen, l->nested, NULL), 0);
    assert_int_equal(weft_gen_next(l->g[3], NULL), 0);
    /* one left by another task */
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, leave_one, l, NULL), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(l->plain + l->nested[0] + l->nested[1] + l->in_child, 0);
    return 0;
}

static void test_weft_run_closes_generators_its_tasks_left_suspended(void **state)
{
    (void)state;
    leftovers_t l = {0};
    run(leave_suspended_main, &l);
    assert_int_equal(l.plain, 1);
    assert_int_equal(l.exhausted, 1); /* its own close only */
    assert_int_equal(l.destroyed, 1); /* its destroy's close only */
    assert_int_equal(l.nested[0], 1);
    assert_int_equal(l.nested[1], 1);
    assert_int_equal(l.in_child, 1);
    for (int i = 0; i < 5; i++) {
        if (l.g[i]) {
            assert_true(weft_gen_done(l.g[i]));
            assert_int_equal(weft_gen_destroy(l.g[i]), 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_yields_in_order_then_done_with_final_value_once),
        cmocka_unit_test(test_weft_run_closes_generators_its_tasks_left_suspended),
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
        cmocka_unit_test(test_close_of_delegating_generator_reports_subgenerators_cleanup_error),
        cmocka_unit_test(test_throw_is_handled_by_body_which_yields_next_value),
        cmocka_unit_test(test_throw_not_handled_is_returned_once_then_done),
        cmocka_unit_test(test_throw_after_which_body_returns_gives_done_and_final_value),
        cmocka_unit_test(test_throw_of_ecanceled_not_handled_reports_ecanceled),
        cmocka_unit_test(test_throw_into_never_started_generator_never_runs_body),
        cmocka_unit_test(test_throw_misuse_einval_and_ebusy),
        cmocka_unit_test(test_throw_into_delegator_goes_to_subgenerator_first),
        cmocka_unit_test(test_throw_not_handled_by_subgenerator_reaches_delegator),
        cmocka_unit_test(test_throw_of_ecanceled_into_delegator_closes_subgenerator),
        cmocka_unit_test(test_close_value_returns_what_body_returned_on_close),
        cmocka_unit_test(test_close_value_of_failing_cleanup_returns_error_and_no_value),
        cmocka_unit_test(test_gen_running_while_body_runs_or_delegates),
        cmocka_unit_test(test_next_reports_ecanceled_when_body_ends_cancelled),
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
