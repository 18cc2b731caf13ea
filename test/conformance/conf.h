/* conf.h - what the conformance suites share (test/conformance/).
 *
 * Each conformance suite ports the behaviours one file of CPython's own
 * tests checks (Lib/test/test_asyncio/test_locks.py, ..., and
 * Lib/test/test_generators.py) to weft's C API. A test is named
 * test_<cpython file>__<cpython test method>: test_locks__test_acquire_cancel
 * ports LockTests.test_acquire_cancel of test_locks.py. When one CPython
 * method checks several behaviours, each gets its own test with a suffix
 * after the method's name; when a file has several classes with methods of
 * the same name, the class follows the file (test_locks__sem_test_acquire).
 * The code is weft's own: CPython's tests were read for what they check.
 * Where weft deliberately differs, the test checks weft's behaviour and
 * says so in its comment; docs/asyncio.md lists every difference.
 *
 * CONF(name) { body } defines the cmocka test `name` whose body runs as
 * the main task of weft_run (which must return 0). */
#ifndef WEFT_CONF_H
#define WEFT_CONF_H

#include "../harness.h"

#include <errno.h>
#include <string.h>

#define CONF(name)                                                                                 \
    static int name##_main(void *arg, void **res);                                                 \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        run(name##_main, NULL);                                                                    \
    }                                                                                              \
    static int name##_main(void *arg __attribute__((unused)), void **res __attribute__((unused)))

/* Spawns fn(arg) on this worker and returns its handle (the caller
 * releases it). */
static inline weft_task_t *conf_spawn(weft_task_fn fn, void *arg)
{
    weft_task_t *t = NULL;
    assert_int_equal(weft_spawn(&t, fn, arg, NULL), 0);
    return t;
}

/* Awaits t, checks its status, returns its result and releases it. */
static inline void *conf_finish(weft_task_t *t, int status)
{
    void *r = NULL;
    assert_int_equal(weft_await(t, &r), status);
    weft_task_release(t);
    return r;
}

/* A log of small integers in the order things happened. */
typedef struct {
    int v[64];
    int n;
} conf_log_t;

static inline void conf_log(conf_log_t *l, int x)
{
    assert_true(l->n < 64);
    l->v[l->n++] = x;
}

/* Task bodies many tests use. */

/* Returns 0 at once with arg as its result. */
static inline int conf_return(void *arg, void **res)
{
    *res = arg;
    return 0;
}

/* Yields once, then fails with the error -I(arg). */
static inline int conf_fail(void *arg, void **res)
{
    (void)res;
    weft_yield();
    return -(int)I(arg);
}

/* Sleeps I(arg) ms (0: forever); returns the sleep's status, result arg. */
static inline int conf_sleep(void *arg, void **res)
{
    int64_t ms = I(arg);
    int rc = weft_sleep(ms ? WEFT_MSEC(ms) : WEFT_FOREVER);
    *res = arg;
    return rc;
}

/* Yields I(arg) times, then returns 0 with result arg. */
static inline int conf_yields(void *arg, void **res)
{
    for (intptr_t i = 0; i < I(arg); i++) {
        int rc = weft_yield();
        if (rc != 0)
            return rc;
    }
    *res = arg;
    return 0;
}

/* Waits for the event e, then returns 0 with result v: a task that
 * finishes exactly when the test says so. */
typedef struct {
    weft_event_t *e;
    intptr_t v;
} conf_gate_t;

static inline int conf_gated(void *arg, void **res)
{
    conf_gate_t *g = arg;
    int rc = weft_event_wait(g->e);
    *res = P(g->v);
    return rc;
}

static inline conf_gate_t conf_gate(intptr_t v)
{
    conf_gate_t g = {NULL, v};
    assert_int_equal(weft_event_create(&g.e), 0);
    return g;
}

#endif
