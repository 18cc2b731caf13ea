/* test_conf_runners.c - CPython's test_asyncio/test_runners.py, ported:
 * asyncio.run as weft_run / weft_run_config, and asyncio.Runner (a loop
 * driven from another thread) as weft_runtime_start / weft_runtime_join.
 *
 * Names: test_runners__<method> for RunTests, test_runners__runner_<method>
 * for RunnerTests (conf.h has the scheme). Left out while it changes
 * (the lead adds it): weft_run closing the generators its tasks left
 * suspended (test_asyncio_run_closes_gens_after_hanging_tasks_errors).
 * Signals (test_interrupt_*) are covered by test/test_signal.c.
 *
 * Covers: src/loop.c, src/runtime.c through weft.h's event loop section. */
#include "conf.h"

#include <pthread.h>

static int ret42(void *arg, void **res)
{
    (void)arg;
    *res = P(42);
    return 0;
}

/* run() returns main's result. */
static void test_runners__test_asyncio_run_return(void **state)
{
    (void)state;
    void *r = NULL;
    assert_int_equal(weft_run(ret42, NULL, &r), 0);
    assert_int_equal(I(r), 42);
}

/* run() passes main's error on. */
static int fail_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_yield();
    return -EDOM;
}

static void test_runners__test_asyncio_run_raises(void **state)
{
    (void)state;
    assert_int_equal(weft_run(fail_main, NULL, NULL), -EDOM);
}

/* run() of something that is not a coroutine: -EINVAL. */
static void test_runners__test_asyncio_run_only_coro(void **state)
{
    (void)state;
    assert_int_equal(weft_run(NULL, NULL, NULL), -EINVAL);
}

/* run(debug=True) runs main in debug mode. */
static void test_runners__test_asyncio_run_debug(void **state)
{
    (void)state;
    weft_config_t cfg = {.debug = true};
    void *r = NULL;
    assert_int_equal(weft_run_config(&cfg, ret42, NULL, &r), 0);
    assert_int_equal(I(r), 42);
}

/* run() from inside a running loop is refused (RuntimeError). */
static int nested_run(void *arg, void **res)
{
    (void)arg;
    (void)res;
    return weft_run(ret42, NULL, NULL) == -EBUSY ? 0 : -EPROTO;
}

static void test_runners__test_asyncio_run_from_running_loop(void **state)
{
    (void)state;
    run(nested_run, NULL);
}

/* Tasks still running when main returns are cancelled (reason
 * "shutdown") and given the chance to unwind before run() returns. */
static int hang_seen;
static int hanging(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int rc = weft_sleep(WEFT_FOREVER);
    if (rc == -ECANCELED && weft_task_cancel_reason(weft_current(), NULL) == WEFT_CANCEL_SHUTDOWN) {
        weft_uncancel();
        weft_yield(); /* the clean-up may still wait */
        hang_seen = 1;
    }
    return rc;
}

static int leave_hanging(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_spawn(NULL, hanging, NULL, NULL), 0);
    settle();
    return 0;
}

static void test_runners__test_asyncio_run_cancels_hanging_tasks(void **state)
{
    (void)state;
    hang_seen = 0;
    run(leave_hanging, NULL);
    assert_int_equal(hang_seen, 1);
}

/* A hanging task that fails while unwinding is reported (on stderr);
 * run() still returns main's status. */
static int hanging_fails(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_sleep(WEFT_FOREVER);
    return -EDOM;
}

static int leave_failing(void *arg, void **res)
{
    (void)arg;
    *res = P(7);
    assert_int_equal(weft_spawn(NULL, hanging_fails, NULL, NULL), 0);
    settle();
    return 0;
}

static void test_runners__test_asyncio_run_reports_hanging_tasks_errors(void **state)
{
    (void)state;
    void *r = NULL;
    assert_int_equal(weft_run(leave_failing, NULL, &r), 0);
    assert_int_equal(I(r), 7);
}

/* run() waits for work handed to the thread pool before it returns
 * (shutdown_default_executor): a job still running when main returns,
 * detached by its task's cancellation at shutdown, has ended by then. */
static int slow_job_started, slow_job_done;
static int slow_job(void *arg, void **res)
{
    (void)arg;
    (void)res;
    __atomic_store_n(&slow_job_started, 1, __ATOMIC_RELEASE);
    usleep(20000);
    __atomic_store_n(&slow_job_done, 1, __ATOMIC_RELEASE);
    return 0;
}

static int job_task(void *arg, void **res)
{
    (void)arg;
    (void)res;
    return weft_to_thread(slow_job, NULL, NULL, NULL);
}

static int leave_job_running(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_spawn(NULL, job_task, NULL, NULL), 0);
    while (!__atomic_load_n(&slow_job_started, __ATOMIC_ACQUIRE))
        assert_int_equal(weft_sleep(WEFT_USEC(100)), 0);
    return 0;
}

static void test_runners__test_asyncio_run_shutdown_default_executor(void **state)
{
    (void)state;
    slow_job_started = slow_job_done = 0;
    run(leave_job_running, NULL);
    assert_int_equal(__atomic_load_n(&slow_job_done, __ATOMIC_ACQUIRE), 1);
}

/* Each run() starts main with a fresh context: no task-local value from
 * an earlier run (test_run_keeps_context's other side: a context is per
 * run). */
static weft_local_key_t key;
static int set_then_check(void *arg, void **res)
{
    (void)res;
    void *v = NULL;
    assert_int_equal(weft_local_get(&key, &v), -ENOENT);
    return weft_local_set(&key, arg);
}

static void test_runners__runner_test_run_keeps_context(void **state)
{
    (void)state;
    assert_int_equal(weft_local_key_create(&key, NULL), 0);
    run(set_then_check, P(1));
    run(set_then_check, P(2));
}

/* Runner: a runtime started on its own thread runs main and hands back
 * its result at join. */
static void test_runners__runner_test_non_debug(void **state)
{
    (void)state;
    weft_runtime_t *rt;
    void *r = NULL;
    assert_int_equal(weft_runtime_start(&rt, NULL, ret42, NULL), 0);
    assert_int_equal(weft_runtime_join(rt, &r), 0);
    assert_int_equal(I(r), 42);
}

/* Runner with a configuration (debug), and its error passed on. */
static void test_runners__runner_test_debug(void **state)
{
    (void)state;
    weft_runtime_t *rt;
    weft_config_t cfg = {.debug = true};
    assert_int_equal(weft_runtime_start(&rt, &cfg, fail_main, NULL), 0);
    assert_int_equal(weft_runtime_join(rt, NULL), -EDOM);
}

/* Runner.run of something that is not a coroutine. */
static void test_runners__runner_test_run_non_coro(void **state)
{
    (void)state;
    weft_runtime_t *rt;
    assert_int_equal(weft_runtime_start(&rt, NULL, NULL, NULL), -EINVAL);
}

/* call_soon_threadsafe from the runner's thread reaches the loop: here
 * it sets the event main waits for. */
static weft_event_t *ts_event;
static void set_ts_event(void *arg)
{
    (void)arg;
    weft_event_set(ts_event);
}

static int wait_ts_event(void *arg, void **res)
{
    (void)res;
    assert_int_equal(weft_event_create(&ts_event), 0);
    __atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
    /* A deadline scope keeps a timer pending: a runtime whose main waits
     * only for other threads' posts has nothing pending, and weft_run's
     * deadlock check would cancel main (docs/asyncio.md). */
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(30));
    int rc = weft_event_wait(ts_event);
    weft_deadline_pop(&d);
    weft_event_destroy(ts_event);
    return rc;
}

static void test_runners__runner_test_interrupt_call_soon(void **state)
{
    (void)state;
    weft_runtime_t *rt;
    int ready = 0;
    assert_int_equal(weft_runtime_start(&rt, NULL, wait_ts_event, &ready), 0);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    assert_int_equal(weft_call_soon_threadsafe(rt, 0, set_ts_event, NULL), 0);
    assert_int_equal(weft_runtime_join(rt, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runners__test_asyncio_run_return),
        cmocka_unit_test(test_runners__test_asyncio_run_raises),
        cmocka_unit_test(test_runners__test_asyncio_run_only_coro),
        cmocka_unit_test(test_runners__test_asyncio_run_debug),
        cmocka_unit_test(test_runners__test_asyncio_run_from_running_loop),
        cmocka_unit_test(test_runners__test_asyncio_run_cancels_hanging_tasks),
        cmocka_unit_test(test_runners__test_asyncio_run_reports_hanging_tasks_errors),
        cmocka_unit_test(test_runners__test_asyncio_run_shutdown_default_executor),
        cmocka_unit_test(test_runners__runner_test_run_keeps_context),
        cmocka_unit_test(test_runners__runner_test_non_debug),
        cmocka_unit_test(test_runners__runner_test_debug),
        cmocka_unit_test(test_runners__runner_test_run_non_coro),
        cmocka_unit_test(test_runners__runner_test_interrupt_call_soon),
    };
    return run_suite(tests, NULL, NULL);
}
