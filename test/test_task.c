/* test_task.c - tasks: spawn, await, states, release, cancellation,
 * shield, deadline scopes, wait_for and done callbacks; eager start
 * (the first step inside weft_spawn, from a task, a callback, nested)
 * and the "Task-N" names of unnamed tasks.
 *
 * Each test checks one behaviour weft.h documents for tasks, through the
 * public API only. Timing assertions are one-sided with generous margins
 * (a deadline never fires early; it fires well within seconds), so the
 * tests hold on a slow or loaded machine and under Valgrind.
 *
 * Tasks spawned here are pinned to the main task's worker (HERE, or
 * place WEFT_PLACE_HERE in named options), also when the runtime spreads
 * (WEFT_SPREAD=1): the checks are one loop's sequence (the states a task
 * is seen in between yields, a task cancelled before it starts, the
 * order an eager step runs in), which tasks running at once on other
 * threads do not follow. test_worker.c covers await, cancellation and
 * deadlines across workers.
 *
 * Covers: src/task.c.
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- task bodies used by many tests ---- */

/* Returns arg as its result. */
static int return_arg(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static int fail_eio(void *arg, void **result)
{
    (void)arg, (void)result;
    return -EIO;
}

/* Sleeps arg ms, then returns result arg. */
static int sleep_ms(void *arg, void **result)
{
    int rc = weft_sleep(WEFT_MSEC((intptr_t)arg));
    *result = arg;
    return rc;
}

/* A task that sleeps "forever" and records how its sleep ended. */
typedef struct {
    int started;
    int sleep_rc;
    int cleaned; /* its clean-up ran */
    int64_t ms;  /* how long it sleeps (0: 1000 s) */
    void *result;
} sleeper_t;

static int sleeper(void *arg, void **result)
{
    sleeper_t *s = arg;
    s->started++;
    s->sleep_rc = weft_sleep(s->ms ? WEFT_MSEC(s->ms) : WEFT_SEC(1000));
    s->cleaned++;
    *result = s->result;
    return s->sleep_rc;
}

/* ---- spawn and await ---- */

static int spawn_await_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *ok, *bad;
    int x;
    assert_int_equal(weft_spawn(&ok, return_arg, &x, HERE), 0);
    assert_int_equal(weft_spawn(&bad, fail_eio, NULL, HERE), 0);
    void *res = NULL;
    assert_int_equal(weft_await(ok, &res), 0);
    assert_ptr_equal(res, &x);
    assert_int_equal(weft_await(bad, NULL), -EIO);
    assert_int_equal(weft_task_result(bad, NULL), -EIO);
    weft_task_release(ok);
    weft_task_release(bad);
    assert_int_equal(weft_spawn(NULL, NULL, NULL, HERE), -EINVAL);
    assert_int_equal(weft_await(NULL, NULL), -EINVAL);
    assert_int_equal(weft_task_release(NULL), -EINVAL);
    return 0;
}

static void test_spawn_await_returns_status_and_result(void **state)
{
    run(spawn_await_main, NULL);
}

static int await_done_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t;
    int x;
    assert_int_equal(weft_spawn(&t, return_arg, &x, HERE), 0);
    void *res = NULL;
    assert_int_equal(weft_task_result(t, &res), -EAGAIN);
    /* a timer puts main ahead of ready tasks: on a slow run (Valgrind)
     * 1 ms may pass before t's turn, so wait for t, not for the clock */
    for (int i = 0; i < 10000 && !weft_task_done(t); i++)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_true(weft_task_done(t));
    assert_int_equal(weft_task_result(t, &res), 0);
    assert_ptr_equal(res, &x);
    res = NULL;
    assert_int_equal(weft_await(t, &res), 0);
    assert_ptr_equal(res, &x);
    /* again: awaiting a finished task is idempotent */
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    return 0;
}

static void test_await_of_finished_task_returns_at_once(void **state)
{
    run(await_done_main, NULL);
}

/* ---- states, names, introspection ---- */

static weft_task_t *state_task;
static int state_seen_running;

static int state_body(void *arg, void **result)
{
    (void)arg, (void)result;
    assert_ptr_equal(weft_current(), state_task);
    state_seen_running = weft_task_state(weft_current()) == WEFT_TASK_RUNNING;
    assert_string_equal(weft_task_name(weft_current()), "worker");
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(20)), 0);
    return 0;
}

static int states_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_opts_t o = {.name = "worker", .place = WEFT_PLACE_HERE};
    assert_int_equal(weft_spawn(&state_task, state_body, NULL, &o), 0);
    assert_int_equal(weft_task_state(state_task), WEFT_TASK_PENDING);
    assert_false(weft_task_done(state_task));
    assert_int_equal(weft_task_state(weft_current()), WEFT_TASK_RUNNING);
    assert_int_equal(weft_yield(), 0); /* the worker runs, then yields */
    assert_true(state_seen_running);
    assert_int_equal(weft_task_state(state_task), WEFT_TASK_READY);
    assert_int_equal(weft_yield(), 0); /* the worker goes to sleep */
    assert_int_equal(weft_task_state(state_task), WEFT_TASK_WAITING);
    assert_int_equal(weft_await(state_task, NULL), 0);
    assert_int_equal(weft_task_state(state_task), WEFT_TASK_DONE);
    assert_true(weft_task_done(state_task));
    assert_int_equal(weft_task_state(NULL), -EINVAL);
    weft_task_release(state_task);
    return 0;
}

static void test_task_states_pending_running_ready_waiting_done(void **state)
{
    run(states_main, NULL);
}

static int running_name_main(void *arg, void **result)
{
    (void)arg, (void)result;
    assert_string_equal(weft_task_state_name(weft_task_state(weft_current())), "running");
    return 0;
}

static void test_task_state_names_are_the_tree_words_and_unknown_otherwise(void **state)
{
    /* no loop needed */
    assert_string_equal(weft_task_state_name(WEFT_TASK_PENDING), "pending");
    assert_string_equal(weft_task_state_name(WEFT_TASK_READY), "ready");
    assert_string_equal(weft_task_state_name(WEFT_TASK_RUNNING), "running");
    assert_string_equal(weft_task_state_name(WEFT_TASK_WAITING), "waiting");
    assert_string_equal(weft_task_state_name(WEFT_TASK_DONE), "done");
    const int bad[] = {WEFT_TASK_DONE + 1, -1, -EINVAL, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal(weft_task_state_name(bad[i]), "unknown");
    assert_string_equal(weft_task_state_name(weft_task_state(NULL)), "unknown");
    /* static: the same text every time */
    assert_ptr_equal(weft_task_state_name(WEFT_TASK_DONE), weft_task_state_name(WEFT_TASK_DONE));
    run(running_name_main, NULL);
}

static int names_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *self = weft_current();
    assert_non_null(self);
    assert_string_equal(weft_task_name(self), "main");
    assert_null(weft_task_name(NULL));
    weft_task_t *anon, *named;
    char buf[64];
    strcpy(buf, "a-fairly-long-name-for-a-task-that-gets-cut");
    weft_task_opts_t o = {.name = buf, .place = WEFT_PLACE_HERE};
    assert_int_equal(weft_spawn(&anon, return_arg, NULL, HERE), 0);
    assert_int_equal(weft_spawn(&named, return_arg, NULL, &o), 0);
    memset(buf, 'x', sizeof buf - 1);                               /* the name was copied */
    assert_int_equal(strncmp(weft_task_name(anon), "Task-", 5), 0); /* unnamed: "Task-N" */
    assert_true(strncmp(weft_task_name(named), "a-fairly-long-name", 18) == 0);
    assert_true(strlen(weft_task_name(named)) <= 31);
    assert_int_equal(weft_await(anon, NULL), 0);
    assert_int_equal(weft_await(named, NULL), 0);
    weft_task_release(anon);
    weft_task_release(named);
    return 0;
}

static void test_task_name_is_copied_truncated_and_main_for_main(void **state)
{
    run(names_main, NULL);
}

static int wait_event(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg);
}

static int tasks_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t[3], *out[8];
    weft_event_t *go;
    /* t[1] and t[2] wait on an event, so they are still live when t[0]
     * ends however late the loop runs. */
    assert_int_equal(weft_event_create(&go), 0);
    assert_int_equal(weft_spawn(&t[0], sleep_ms, (void *)(intptr_t)5, HERE), 0);
    for (int i = 1; i < 3; i++)
        assert_int_equal(weft_spawn(&t[i], wait_event, go, HERE), 0);
    int n = weft_tasks(out, 8);
    assert_int_equal(n, 4);
    int seen = 0;
    for (int k = 0; k < n; k++) {
        if (out[k] == weft_current())
            seen |= 8;
        for (int i = 0; i < 3; i++)
            if (out[k] == t[i])
                seen |= 1 << i;
    }
    assert_int_equal(seen, 15);
    /* fewer slots than tasks: the total is still returned */
    assert_int_equal(weft_tasks(out, 2), 4);
    assert_int_equal(weft_tasks(NULL, 0), 4);
    assert_int_equal(weft_await(t[0], NULL), 0);
    assert_int_equal(weft_tasks(out, 8), 3); /* a finished task is not live */
    assert_int_equal(weft_event_set(go), 0);
    for (int i = 1; i < 3; i++)
        assert_int_equal(weft_await(t[i], NULL), 0);
    assert_int_equal(weft_tasks(out, 8), 1);
    assert_ptr_equal(out[0], weft_current());
    for (int i = 0; i < 3; i++)
        weft_task_release(t[i]);
    assert_int_equal(weft_event_destroy(go), 0);
    return 0;
}

static void test_tasks_lists_live_tasks(void **state)
{
    run(tasks_main, NULL);
}

/* ---- lifetime ---- */

static int done_calls;
static weft_task_t *done_last;

static void count_done(weft_task_t *t, void *arg)
{
    done_calls++;
    done_last = t;
    if (arg)
        *(int *)arg = weft_task_result(t, NULL);
}

static int release_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    s.ms = 5;
    weft_task_t *t;
    int status = 1;
    assert_int_equal(weft_spawn(&t, sleeper, &s, HERE), 0);
    assert_int_equal(weft_task_on_done(t, count_done, &status), 0);
    assert_int_equal(weft_task_release(t), 0); /* neither cancels nor waits */
    assert_int_equal(s.started, 0);
    /* until it has ended (a loaded machine may run the 5 ms late) */
    for (int i = 0; i < 30000 && (!s.cleaned || done_calls < 1); i++)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(s.started, 1);
    assert_int_equal(s.cleaned, 1);
    assert_int_equal(s.sleep_rc, 0);
    assert_int_equal(done_calls, 1);
    assert_int_equal(status, 0);
    /* detached: the loop reclaims it */
    memset(&s, 0, sizeof s);
    s.ms = 1;
    assert_int_equal(weft_spawn(NULL, sleeper, &s, HERE), 0);
    for (int i = 0; i < 30000 && !s.cleaned; i++)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(s.cleaned, 1);
    return 0;
}

static void test_release_before_finish_task_runs_to_end_once(void **state)
{
    done_calls = 0;
    run(release_main, NULL);
    assert_int_equal(done_calls, 1);
}

typedef struct {
    weft_task_t *target;
    int rc;
    void *res;
} awaiter_t;

static int awaiter(void *arg, void **result)
{
    (void)result;
    awaiter_t *a = arg;
    a->rc = weft_await(a->target, &a->res);
    return 0;
}

static int two_awaiters_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t, *w[2];
    awaiter_t a[2];
    assert_int_equal(weft_spawn(&t, sleep_ms, (void *)(intptr_t)10, HERE), 0);
    for (int i = 0; i < 2; i++) {
        a[i] = (awaiter_t){.target = t, .rc = 1};
        assert_int_equal(weft_spawn(&w[i], awaiter, &a[i], HERE), 0);
    }
    assert_int_equal(weft_yield(), 0); /* both are awaiting now */
    assert_int_equal(weft_task_state(w[0]), WEFT_TASK_WAITING);
    assert_int_equal(weft_task_state(w[1]), WEFT_TASK_WAITING);
    assert_int_equal(weft_task_release(t), 0); /* the owner lets go first */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_await(w[i], NULL), 0);
        assert_int_equal(a[i].rc, 0);
        assert_int_equal((intptr_t)a[i].res, 10);
        weft_task_release(w[i]);
    }
    return 0;
}

static void test_two_tasks_await_one_both_get_result(void **state)
{
    run(two_awaiters_main, NULL);
}

static int await_self(void *arg, void **result)
{
    (void)arg, (void)result;
    assert_int_equal(weft_await(weft_current(), NULL), -EDEADLK);
    assert_int_equal(weft_wait_for(weft_current(), WEFT_MSEC(1), NULL), -EDEADLK);
    return 0;
}

static void test_await_self_returns_edeadlk(void **state)
{
    run(await_self, NULL);
}

/* ---- cancellation ---- */

static int cancel_sleeping_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, sleeper, &s, HERE), 0);
    wait_state(t, WEFT_TASK_WAITING); /* it may run on any worker */
    assert_int_equal(s.started, 1);
    assert_false(weft_task_cancelled(t));
    int64_t t0 = weft_now();
    assert_int_equal(weft_cancel(t), 0);
    assert_true(weft_task_cancelled(t));
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_true(weft_now() - t0 < WEFT_SEC(2));
    assert_int_equal(s.sleep_rc, -ECANCELED);
    assert_int_equal(s.cleaned, 1);
    assert_true(weft_task_cancelled(t));
    assert_int_equal(weft_cancel(NULL), -EINVAL);
    weft_task_release(t);
    return 0;
}

static void test_cancel_while_sleeping_returns_ecanceled(void **state)
{
    run(cancel_sleeping_main, NULL);
}

static int uncancel_count;

static int twice_body(void *arg, void **result)
{
    sleeper_t *s = arg;
    int rc = sleeper(s, result);
    uncancel_count = weft_uncancel();
    return rc;
}

static int cancel_twice_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, twice_body, &s, HERE), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_int_equal(s.cleaned, 1); /* one unwinding */
    assert_int_equal(uncancel_count, 2);
    /* after done */
    assert_int_equal(weft_cancel(t), -EALREADY);
    weft_task_release(t);
    return 0;
}

static void test_cancel_twice_unwinds_once_and_after_done_ealready(void **state)
{
    run(cancel_twice_main, NULL);
}

static int cancel_done_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, return_arg, NULL, HERE), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(weft_cancel(t), -EALREADY);
    assert_false(weft_task_cancelled(t));
    assert_int_equal(weft_task_result(t, NULL), 0);
    weft_task_release(t);
    return 0;
}

static void test_cancel_after_done_returns_ealready(void **state)
{
    run(cancel_done_main, NULL);
}

static int cancel_pending_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    weft_task_t *t, *d;
    assert_int_equal(weft_spawn(&t, sleeper, &s, HERE), 0);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_int_equal(s.started, 0); /* it never ran */
    assert_int_equal(s.cleaned, 0);
    weft_task_release(t);
    /* the same, released at once */
    assert_int_equal(weft_spawn(&d, sleeper, &s, HERE), 0);
    assert_int_equal(weft_cancel(d), 0);
    weft_task_release(d);
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    assert_int_equal(s.started, 0);
    return 0;
}

static void test_cancel_before_start_task_never_runs(void **state)
{
    run(cancel_pending_main, NULL);
}

typedef struct {
    int sleep_rc, sleep0_rc, yield_rc, await_rc, fut_rc, sleep_after_rc, uncancelled;
    int uncancel_again, await_other_done_rc;
} sticky_t;

static int sticky_body(void *arg, void **result)
{
    (void)result;
    sticky_t *s = arg;
    weft_task_t *other;
    weft_future_t *f;
    assert_int_equal(weft_spawn(&other, sleep_ms, (void *)(intptr_t)1, HERE), 0);
    assert_int_equal(weft_future_create(&f), 0);
    s->sleep_rc = weft_sleep(WEFT_SEC(1000));
    s->sleep0_rc = weft_sleep(0);
    s->yield_rc = weft_yield();
    s->await_rc = weft_await(other, NULL);
    s->fut_rc = weft_future_await(f, NULL);
    s->uncancelled = weft_uncancel();
    s->uncancel_again = weft_uncancel();
    s->sleep_after_rc = weft_sleep(WEFT_MSEC(1));
    s->await_other_done_rc = weft_await(other, NULL);
    weft_task_release(other);
    weft_future_destroy(f);
    return -ECANCELED;
}

static int sticky_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sticky_t s;
    memset(&s, 0, sizeof s);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, sticky_body, &s, HERE), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_int_equal(s.sleep_rc, -ECANCELED);
    assert_int_equal(s.sleep0_rc, -ECANCELED);
    assert_int_equal(s.yield_rc, -ECANCELED);
    assert_int_equal(s.await_rc, -ECANCELED);
    assert_int_equal(s.fut_rc, -ECANCELED);
    assert_int_equal(s.uncancelled, 1);
    assert_int_equal(s.uncancel_again, 0);
    assert_int_equal(s.sleep_after_rc, 0);
    assert_int_equal(s.await_other_done_rc, 0);
    weft_task_release(t);
    return 0;
}

static void test_cancellation_is_sticky_until_uncancel(void **state)
{
    run(sticky_main, NULL);
}

static int cancel_awaiter_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *target, *w;
    awaiter_t a;
    weft_event_t *go;
    /* the target waits on an event, not a short sleep: it must still run
     * when main looks, however slowly this build turns */
    assert_int_equal(weft_event_create(&go), 0);
    assert_int_equal(weft_spawn(&target, wait_event, go, HERE), 0);
    a = (awaiter_t){.target = target, .rc = 1};
    assert_int_equal(weft_spawn(&w, awaiter, &a, HERE), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_cancel(w), 0);
    assert_int_equal(weft_await(w, NULL), 0); /* awaiter returns 0 itself */
    assert_int_equal(a.rc, -ECANCELED);
    assert_false(weft_task_done(target));
    assert_false(weft_task_cancelled(target));
    assert_int_equal(weft_event_set(go), 0);
    assert_int_equal(weft_await(target, NULL), 0);
    weft_task_release(target);
    weft_task_release(w);
    weft_event_destroy(go);
    return 0;
}

static void test_cancel_while_awaiting_leaves_awaited_running(void **state)
{
    run(cancel_awaiter_main, NULL);
}

/* ---- shield ---- */

static int shield_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s1, s2, s3;
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    memset(&s3, 0, sizeof s3);
    /* s1 and s2 must outlast main's look at them however slowly this
     * build turns; s3 must end within main's 40 ms sleep (its timer is
     * armed first, so it fires first) */
    s1.ms = s2.ms = 500;
    s3.ms = 20;
    s1.result = &s1;
    s2.result = &s2;
    weft_task_t *inner, *sh;

    /* cancelling the shield */
    assert_int_equal(weft_spawn(&inner, sleeper, &s1, HERE), 0);
    assert_int_equal(weft_shield(&sh, inner), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_cancel(sh), 0);
    assert_int_equal(weft_await(sh, NULL), -ECANCELED);
    assert_false(weft_task_cancelled(inner));
    assert_false(weft_task_done(inner));
    void *res = NULL;
    assert_int_equal(weft_await(inner, &res), 0);
    assert_ptr_equal(res, &s1);
    assert_int_equal(s1.sleep_rc, 0);
    weft_task_release(sh);
    weft_task_release(inner);

    /* wait_for on the shield timing out */
    assert_int_equal(weft_spawn(&inner, sleeper, &s2, HERE), 0);
    assert_int_equal(weft_shield(&sh, inner), 0);
    assert_int_equal(weft_wait_for(sh, WEFT_MSEC(2), NULL), -ETIMEDOUT);
    assert_true(weft_task_done(sh));
    assert_false(weft_task_done(inner));
    assert_false(weft_task_cancelled(inner));
    res = NULL;
    assert_int_equal(weft_await(inner, &res), 0);
    assert_ptr_equal(res, &s2);
    weft_task_release(sh);
    weft_task_release(inner);

    /* the shield finishes as inner does; cancelled before it ever ran,
     * and the inner handle released first */
    assert_int_equal(weft_spawn(&inner, return_arg, &s3, HERE), 0);
    assert_int_equal(weft_shield(&sh, inner), 0);
    res = NULL;
    assert_int_equal(weft_await(sh, &res), 0);
    assert_ptr_equal(res, &s3);
    weft_task_release(sh);
    weft_task_release(inner);
    assert_int_equal(weft_spawn(&inner, sleeper, &s3, HERE), 0);
    assert_int_equal(weft_shield(&sh, inner), 0);
    weft_task_release(inner);
    assert_int_equal(weft_cancel(sh), 0);
    assert_int_equal(weft_await(sh, NULL), -ECANCELED);
    weft_task_release(sh);
    assert_int_equal(weft_sleep(WEFT_MSEC(40)), 0);
    assert_int_equal(s3.cleaned, 1);
    assert_int_equal(s3.sleep_rc, 0);

    assert_int_equal(weft_shield(NULL, NULL), -EINVAL);
    return 0;
}

static void test_shield_cancel_or_timeout_leaves_inner_running(void **state)
{
    run(shield_main, NULL);
}

/* ---- deadlines ---- */

static int deadline_sleep_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_deadline_t d;
    int64_t t0 = weft_now();
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(10)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(100)), -ETIMEDOUT);
    int64_t el = weft_now() - t0;
    assert_true(el >= WEFT_MSEC(10));
    assert_true(el < WEFT_SEC(2));
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    /* after the pop, nothing is in force */
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    /* a scope that does not expire pops with 0 */
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(100)), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    assert_int_equal(weft_deadline_push(NULL, 1), -EINVAL);
    return 0;
}

static void test_sleep_inside_deadline_scope_times_out(void **state)
{
    run(deadline_sleep_main, NULL);
}

static int deadline_nested_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_deadline_t outer, inner;
    int64_t t0;

    /* inner longer than outer: the outer wins */
    t0 = weft_now();
    assert_int_equal(weft_deadline_push(&outer, WEFT_MSEC(10)), 0);
    assert_int_equal(weft_deadline_push(&inner, WEFT_SEC(100)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(100)), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(10));
    assert_true(weft_now() - t0 < WEFT_SEC(2));
    assert_int_equal(weft_deadline_pop(&inner), 0);
    assert_int_equal(weft_deadline_pop(&outer), -ETIMEDOUT);

    /* inner shorter than outer */
    t0 = weft_now();
    assert_int_equal(weft_deadline_push(&outer, WEFT_SEC(100)), 0);
    assert_int_equal(weft_deadline_push(&inner, WEFT_MSEC(10)), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(100)), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(10));
    assert_true(weft_now() - t0 < WEFT_SEC(2));
    assert_int_equal(weft_deadline_pop(&inner), -ETIMEDOUT);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0); /* the outer still has time */
    assert_int_equal(weft_deadline_pop(&outer), 0);

    /* out of order */
    assert_int_equal(weft_deadline_push(&outer, WEFT_SEC(100)), 0);
    assert_int_equal(weft_deadline_push(&inner, WEFT_SEC(100)), 0);
    assert_int_equal(weft_deadline_pop(&outer), -EINVAL);
    assert_int_equal(weft_deadline_pop(&inner), 0);
    assert_int_equal(weft_deadline_pop(&inner), -EINVAL); /* already popped */
    assert_int_equal(weft_deadline_pop(&outer), 0);
    assert_int_equal(weft_deadline_pop(NULL), -EINVAL);
    return 0;
}

static void test_nested_deadline_scopes_outer_and_inner_win(void **state)
{
    run(deadline_nested_main, NULL);
}

static int expired_scope_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *other;
    weft_future_t *f;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(weft_spawn(&other, sleeper, &s, HERE), 0);
    assert_int_equal(weft_future_create(&f), 0);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push_at(&d, weft_now() - 1), 0);
    int64_t t0 = weft_now();
    assert_int_equal(weft_sleep(WEFT_SEC(100)), -ETIMEDOUT);
    assert_int_equal(weft_sleep(0), -ETIMEDOUT);
    assert_int_equal(weft_yield(), -ETIMEDOUT);
    assert_int_equal(weft_sleep_until(weft_now() + WEFT_SEC(1)), -ETIMEDOUT);
    assert_int_equal(weft_await(other, NULL), -ETIMEDOUT);
    assert_int_equal(weft_future_await(f, NULL), -ETIMEDOUT);
    assert_true(weft_now() - t0 < WEFT_SEC(1)); /* none of them waited */
    assert_int_equal(s.started, 0);             /* not even a yield happened */
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_false(weft_future_done(f));
    assert_int_equal(weft_future_destroy(f), 0);
    assert_int_equal(weft_cancel(other), 0);
    assert_int_equal(weft_await(other, NULL), -ECANCELED);
    weft_task_release(other);
    return 0;
}

static void test_expired_scope_every_call_times_out_immediately(void **state)
{
    run(expired_scope_main, NULL);
}

static int deadline_leak_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    s.ms = 30;
    weft_deadline_t d;
    weft_task_t *child;
    int64_t t0 = weft_now();
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(10)), 0);
    assert_int_equal(weft_spawn(&child, sleeper, &s, HERE), 0);
    assert_int_equal(weft_sleep(WEFT_SEC(100)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(weft_await(child, NULL), 0);
    assert_int_equal(s.sleep_rc, 0);
    assert_true(weft_now() - t0 >= WEFT_MSEC(30));
    weft_task_release(child);
    return 0;
}

static void test_deadline_does_not_leak_to_spawned_tasks(void **state)
{
    run(deadline_leak_main, NULL);
}

/* ---- wait_for ---- */

static int wait_for_ok_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t, *f;
    assert_int_equal(weft_spawn(&t, sleep_ms, (void *)(intptr_t)2, HERE), 0);
    void *res = NULL;
    assert_int_equal(weft_wait_for(t, WEFT_SEC(10), &res), 0);
    assert_int_equal((intptr_t)res, 2);
    weft_task_release(t);
    assert_int_equal(weft_spawn(&f, fail_eio, NULL, HERE), 0);
    assert_int_equal(weft_wait_for(f, WEFT_SEC(10), NULL), -EIO);
    weft_task_release(f);
    assert_int_equal(weft_wait_for(NULL, 1, NULL), -EINVAL);
    return 0;
}

static void test_wait_for_completes_in_time(void **state)
{
    run(wait_for_ok_main, NULL);
}

static int wait_for_timeout_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, sleeper, &s, HERE), 0);
    int64_t t0 = weft_now();
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(10), NULL), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(10));
    assert_true(weft_now() - t0 < WEFT_SEC(2));
    /* cancelled and already unwound */
    assert_true(weft_task_cancelled(t));
    assert_true(weft_task_done(t));
    assert_int_equal(s.cleaned, 1);
    assert_int_equal(s.sleep_rc, -ECANCELED);
    assert_int_equal(weft_task_result(t, NULL), -ECANCELED);
    /* the caller itself is not cancelled */
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    weft_task_release(t);
    return 0;
}

static void test_wait_for_timeout_cancels_and_unwinds_task(void **state)
{
    run(wait_for_timeout_main, NULL);
}

typedef struct {
    weft_task_t *target;
    int rc;
} wf_caller_t;

static int wait_for_caller(void *arg, void **result)
{
    (void)result;
    wf_caller_t *c = arg;
    c->rc = weft_wait_for(c->target, WEFT_SEC(100), NULL);
    return c->rc;
}

static int wait_for_cancelled_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static sleeper_t s;
    memset(&s, 0, sizeof s);
    weft_task_t *t, *c;
    wf_caller_t wc = {.rc = 1};
    assert_int_equal(weft_spawn(&t, sleeper, &s, HERE), 0);
    wc.target = t;
    assert_int_equal(weft_spawn(&c, wait_for_caller, &wc, HERE), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_cancel(c), 0);
    assert_int_equal(weft_await(c, NULL), -ECANCELED);
    assert_int_equal(wc.rc, -ECANCELED);
    assert_true(weft_task_done(t)); /* cancelled too, and awaited */
    assert_int_equal(s.sleep_rc, -ECANCELED);
    assert_int_equal(s.cleaned, 1);
    weft_task_release(t);
    weft_task_release(c);
    return 0;
}

static void test_wait_for_caller_cancelled_cancels_task(void **state)
{
    run(wait_for_cancelled_main, NULL);
}

static int race_ok, race_timeout;

static int wait_for_race_main(void *arg, void **result)
{
    (void)arg, (void)result;
    for (int i = 0; i < 20; i++) {
        static sleeper_t s;
        memset(&s, 0, sizeof s);
        s.ms = 10;
        s.result = &s;
        weft_task_t *t;
        assert_int_equal(weft_spawn(&t, sleeper, &s, HERE), 0);
        /* both deadlines land in the same millisecond; vary which is
         * armed first by sometimes letting the task start before */
        if (i % 2)
            assert_int_equal(weft_yield(), 0);
        void *res = NULL;
        int rc = weft_wait_for(t, WEFT_MSEC(10), &res);
        assert_true(weft_task_done(t));
        if (rc == 0) {
            race_ok++;
            assert_ptr_equal(res, &s);
            assert_int_equal(weft_task_result(t, NULL), 0);
            assert_int_equal(s.cleaned, 1);
        } else {
            assert_int_equal(rc, -ETIMEDOUT);
            race_timeout++;
            assert_int_equal(s.cleaned, s.started);
            int st = weft_task_result(t, NULL);
            assert_true(st == 0 || st == -ECANCELED);
        }
        weft_task_release(t);
    }
    return 0;
}

static void test_wait_for_timeout_racing_completion_is_consistent(void **state)
{
    race_ok = race_timeout = 0;
    run(wait_for_race_main, NULL);
    assert_int_equal(race_ok + race_timeout, 20);
}

/* ---- done callbacks ---- */

static int on_done_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t;
    int st1 = 1, st2 = 1, st3 = 1;
    assert_int_equal(weft_spawn(&t, fail_eio, NULL, HERE), 0);
    assert_int_equal(weft_task_on_done(t, count_done, &st1), 0);
    assert_int_equal(weft_task_on_done(t, count_done, &st2), 0);
    assert_int_equal(done_calls, 0);
    for (int i = 0; i < 10000 && !weft_task_done(t); i++) /* slow runs: wait for t */
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(done_calls, 2);
    assert_ptr_equal(done_last, t);
    assert_int_equal(st1, -EIO);
    assert_int_equal(st2, -EIO);
    /* added after done: runs at once, from the call */
    assert_int_equal(weft_task_on_done(t, count_done, &st3), 0);
    assert_int_equal(done_calls, 3);
    assert_int_equal(st3, -EIO);
    assert_int_equal(weft_task_on_done(NULL, count_done, NULL), -EINVAL);
    assert_int_equal(weft_task_on_done(t, NULL, NULL), -EINVAL);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(done_calls, 3); /* never again */
    weft_task_release(t);
    return 0;
}

static void test_task_on_done_callbacks_run_once(void **state)
{
    done_calls = 0;
    done_last = NULL;
    run(on_done_main, NULL);
    assert_int_equal(done_calls, 3);
}


/* ---- deadline scopes: one open at a time, rescheduling, negative ---- */

static int deadline_scope_main(void *arg, void **result)
{
    weft_deadline_t d = {0}, e = {0};
    assert_int_equal(weft_deadline_push(&d, WEFT_SEC(100)), 0);
    /* a second push of an open scope is refused and changes nothing */
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(1)), -EALREADY);
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    /* an inner scope, then the outer one moved earlier: the inner obeys */
    assert_int_equal(weft_deadline_push(&e, WEFT_SEC(100)), 0);
    int64_t soon = weft_now() + WEFT_MSEC(5);
    assert_int_equal(weft_deadline_reschedule(&d, soon), 0);
    assert_true(weft_deadline_when(&d) == soon);
    assert_int_equal(weft_sleep(WEFT_SEC(10)), -ETIMEDOUT);
    assert_true(weft_now() >= soon);
    assert_int_equal(weft_deadline_pop(&e), 0); /* e's own deadline has not passed */
    /* moved later again, the deadline is gone */
    assert_int_equal(weft_deadline_reschedule(&d, WEFT_FOREVER), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_deadline_pop(&d), 0);
    /* closed: neither rescheduled nor popped again, and pushed anew */
    assert_int_equal(weft_deadline_reschedule(&d, 1), -EINVAL);
    assert_int_equal(weft_deadline_pop(&d), -EINVAL);
    /* a negative timeout has already expired, at its own instant */
    int64_t before = weft_now();
    assert_int_equal(weft_deadline_push(&d, -WEFT_MSEC(50)), 0);
    assert_true(weft_deadline_when(&d) <= before - WEFT_MSEC(50) + WEFT_MSEC(1));
    assert_int_equal(weft_yield(), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(weft_deadline_when(NULL), -EINVAL);
    return 0;
}

static void test_deadline_scope_refuses_second_push_and_reschedules(void **state)
{
    run(deadline_scope_main, NULL);
}

/* ---- wait_for keeps what happened ---- */

static int sleep_long(void *arg, void **result)
{
    return weft_sleep(WEFT_SEC(100));
}

static int ends_on_cancel_with(void *arg, void **result)
{
    /* on cancellation it ends with its own outcome, not -ECANCELED */
    int rc = weft_sleep(WEFT_SEC(100));
    *result = arg;
    return rc == -ECANCELED ? (int)(intptr_t)0 : -EIO;
}

static int failing_on_cancel(void *arg, void **result)
{
    int rc = weft_sleep(WEFT_SEC(100));
    return rc == -ECANCELED ? -EPIPE : 0;
}

static int wait_for_outcome_main(void *arg, void **result)
{
    weft_task_t *t;
    void *r = NULL;
    /* finished with a result while being cancelled: that result comes back */
    assert_int_equal(weft_spawn(&t, ends_on_cancel_with, P(7), HERE), 0);
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(5), &r), 0);
    assert_int_equal(I(r), 7);
    assert_int_equal(weft_task_cancel_reason(t, NULL), WEFT_CANCEL_DEADLINE);
    weft_task_release(t);
    /* failed with an error of its own: that error, not -ETIMEDOUT */
    assert_int_equal(weft_spawn(&t, failing_on_cancel, NULL, HERE), 0);
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(5), NULL), -EPIPE);
    weft_task_release(t);
    /* ended cancelled: the time-out */
    assert_int_equal(weft_spawn(&t, sleep_long, NULL, HERE), 0);
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(5), NULL), -ETIMEDOUT);
    assert_int_equal(weft_task_result(t, NULL), -ECANCELED);
    weft_task_release(t);
    return 0;
}

static void test_wait_for_returns_the_tasks_own_outcome_when_it_ended_otherwise(void **state)
{
    run(wait_for_outcome_main, NULL);
}

/* ---- cancellation reasons ---- */


static int reasons_main(void *arg, void **result)
{
    weft_task_t *t;
    const char *msg = "x";
    assert_int_equal(weft_spawn(&t, sleep_long, NULL, HERE), 0);
    assert_int_equal(weft_task_cancel_reason(t, &msg), -ENOENT);
    assert_null(msg);
    assert_int_equal(weft_task_cancelling(t), 0);
    assert_int_equal(weft_cancel_with(t, WEFT_CANCEL_USER + 3, "shutting down"), 0);
    assert_int_equal(weft_cancel(t), 0); /* counted; the first reason stays */
    assert_int_equal(weft_task_cancelling(t), 2);
    assert_int_equal(weft_task_cancel_reason(t, &msg), WEFT_CANCEL_USER + 3);
    assert_string_equal(msg, "shutting down");
    char *tree = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&tree, &len);
    assert_true(weft_task_tree(f) >= 2);
    fclose(f);
    assert_non_null(strstr(tree, "[cancelling: user 103, \"shutting down\"]"));
    free(tree);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    weft_task_release(t);
    /* a plain cancel is a reason too */
    assert_int_equal(weft_spawn(&t, sleep_long, NULL, HERE), 0);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_task_cancel_reason(t, NULL), WEFT_CANCEL_REQUESTED);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    weft_task_release(t);
    assert_int_equal(weft_cancel_with(NULL, 0, NULL), -EINVAL);
    assert_int_equal(weft_cancel_with(weft_current(), -1, NULL), -EINVAL);
    assert_int_equal(weft_task_cancelling(NULL), -EINVAL);
    assert_string_equal(weft_cancel_reason_name(WEFT_CANCEL_DEADLINE), "deadline");
    assert_string_equal(weft_cancel_reason_name(WEFT_CANCEL_USER + 1), "user");
    assert_string_equal(weft_cancel_reason_name(-3), "unknown");
    return 0;
}

static void test_cancel_reason_travels_with_the_cancellation(void **state)
{
    run(reasons_main, NULL);
}

static int shutdown_seen;

static int watch_shutdown(void *arg, void **result)
{
    int rc = weft_sleep(WEFT_SEC(100));
    if (rc == -ECANCELED)
        shutdown_seen = weft_task_cancel_reason(weft_current(), NULL);
    return rc;
}

static int leave_one_behind(void *arg, void **result)
{
    assert_int_equal(weft_spawn(NULL, watch_shutdown, NULL, HERE), 0);
    return weft_yield();
}

static void test_tasks_left_at_close_are_cancelled_for_shutdown(void **state)
{
    shutdown_seen = -1;
    run(leave_one_behind, NULL);
    assert_int_equal(shutdown_seen, WEFT_CANCEL_SHUTDOWN);
}

/* ---- eager start ---- */

static char order[16];
static size_t norder;

static void note(char c)
{
    if (norder < sizeof order - 1)
        order[norder++] = c;
    order[norder] = 0;
}

/* Notes 'B', yields, notes 'b'. */
static int eager_body(void *arg, void **result)
{
    (void)arg, (void)result;
    note('B');
    if (weft_yield() < 0)
        return -EPROTO;
    note('b');
    return 0;
}

static int note_a(void *arg, void **result)
{
    (void)arg, (void)result;
    note('A');
    return 0;
}

static int eager_order_main(void *arg, void **result)
{
    (void)arg, (void)result;
    norder = 0;
    order[0] = 0;
    weft_task_t *a, *b;
    const weft_task_opts_t eager = {.place = WEFT_PLACE_HERE, .eager = true};
    assert_int_equal(weft_spawn(&a, note_a, NULL, HERE), 0);
    assert_int_equal(weft_spawn(&b, eager_body, NULL, &eager), 0);
    /* b's first step ran inside the spawn, before a (ready already) */
    note('S');
    assert_string_equal(order, "BS");
    assert_int_equal(weft_task_state(b), WEFT_TASK_READY);
    assert_int_equal(weft_await(a, NULL), 0);
    assert_int_equal(weft_await(b, NULL), 0);
    /* a, ready first, runs before what b's step made ready (b itself) */
    assert_string_equal(order, "BSAb");
    weft_task_release(a);
    weft_task_release(b);
    return 0;
}

static void test_eager_task_runs_its_first_step_inside_spawn_then_the_spawner(void **state)
{
    (void)state;
    run(eager_order_main, NULL);
}

static int eager_done_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t;
    const weft_task_opts_t eager = {.place = WEFT_PLACE_HERE, .eager = true, .name = "now"};
    assert_int_equal(weft_spawn(&t, return_arg, P(42), &eager), 0);
    assert_true(weft_task_done(t)); /* it never suspended */
    void *res = NULL;
    assert_int_equal(weft_task_result(t, &res), 0);
    assert_int_equal(I(res), 42);
    weft_task_release(t);
    /* detached: nothing to hold, nothing lost */
    assert_int_equal(weft_spawn(NULL, return_arg, P(1), &eager), 0);
    assert_int_equal(weft_spawn(NULL, eager_body, NULL, &eager), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    return 0;
}

static void test_eager_task_that_never_suspends_is_done_when_spawn_returns(void **state)
{
    (void)state;
    run(eager_done_main, NULL);
}

typedef struct {
    int step;
    int seen_in_callback;
    weft_task_t *t;
} eager_cb_t;

static int mark_step(void *arg, void **result)
{
    (void)result;
    eager_cb_t *e = arg;
    e->step = 1;
    if (weft_sleep(WEFT_MSEC(1)) < 0)
        return -EPROTO;
    e->step = 2;
    return 0;
}

static void spawn_eager_in_callback(void *arg)
{
    eager_cb_t *e = arg;
    const weft_task_opts_t eager = {.place = WEFT_PLACE_HERE, .eager = true};
    if (weft_spawn(&e->t, mark_step, e, &eager) == 0)
        e->seen_in_callback = e->step;
}

static int eager_cb_main(void *arg, void **result)
{
    (void)arg, (void)result;
    eager_cb_t e = {0};
    assert_int_equal(weft_call_soon(NULL, spawn_eager_in_callback, &e), 0);
    for (int i = 0; i < 100 && !e.t; i++)
        assert_int_equal(weft_yield(), 0);
    assert_non_null(e.t);
    assert_int_equal(e.seen_in_callback, 1);
    assert_int_equal(weft_await(e.t, NULL), 0);
    assert_int_equal(e.step, 2);
    weft_task_release(e.t);
    return 0;
}

static void test_eager_task_spawned_from_a_callback_steps_inside_the_call(void **state)
{
    (void)state;
    run(eager_cb_main, NULL);
}

/* An eager child that spawns an eager grandchild: each first step runs
 * inside its spawn, nested. */
static int eager_nest_inner(void *arg, void **result)
{
    (void)arg, (void)result;
    note('G');
    return 0;
}

static int eager_nest_outer(void *arg, void **result)
{
    (void)arg, (void)result;
    const weft_task_opts_t eager = {.place = WEFT_PLACE_HERE, .eager = true};
    note('C');
    weft_task_t *g;
    if (weft_spawn(&g, eager_nest_inner, NULL, &eager) < 0)
        return -ENOMEM;
    note('c');
    bool done = weft_task_done(g);
    weft_task_release(g);
    if (!done)
        return -EPROTO;
    weft_sleep(WEFT_MSEC(1));
    return 0;
}

static int eager_nest_main(void *arg, void **result)
{
    (void)arg, (void)result;
    norder = 0;
    order[0] = 0;
    const weft_task_opts_t eager = {.place = WEFT_PLACE_HERE, .eager = true};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, eager_nest_outer, NULL, &eager), 0);
    note('S');
    assert_string_equal(order, "CGcS");
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    return 0;
}

static void test_eager_spawns_nest(void **state)
{
    (void)state;
    run(eager_nest_main, NULL);
}

/* ---- names ---- */

static int task_n_names_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *a, *b, *n;
    assert_int_equal(weft_spawn(&a, return_arg, NULL, HERE), 0);
    assert_int_equal(weft_spawn(&b, return_arg, NULL, HERE), 0);
    const weft_task_opts_t named = {.name = "worker", .place = WEFT_PLACE_HERE};
    assert_int_equal(weft_spawn(&n, return_arg, NULL, &named), 0);

    /* the task tree names an unnamed task "Task-N", N its #N */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_true(weft_task_tree(f) >= 4);
    fclose(f);
    int matched = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *hash = strchr(line, '#');
        unsigned long long id = 0, nid = 0;
        if (hash && sscanf(hash, "#%llu \"Task-%llu\"", &id, &nid) == 2) {
            assert_int_equal(id, nid);
            matched++;
        }
    }
    free(buf);
    assert_int_equal(matched, 2);

    const char *na = weft_task_name(a), *nb = weft_task_name(b);
    assert_non_null(na);
    assert_int_equal(strncmp(na, "Task-", 5), 0);
    assert_true(strtoull(na + 5, NULL, 10) > 0);
    assert_int_equal(strncmp(nb, "Task-", 5), 0);
    assert_string_not_equal(na, nb);
    assert_ptr_equal(weft_task_name(a), na); /* made once, kept */
    assert_string_equal(weft_task_name(n), "worker");
    assert_string_equal(weft_task_name(weft_current()), "main");
    assert_null(weft_task_name(NULL));
    assert_int_equal(weft_await(a, NULL), 0);
    assert_string_equal(weft_task_name(a), na); /* still, once finished */
    weft_task_release(a);
    weft_task_release(b);
    weft_task_release(n);
    return 0;
}

static void test_unnamed_tasks_are_named_task_n_in_name_and_tree(void **state)
{
    (void)state;
    run(task_n_names_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_await_returns_status_and_result),
        cmocka_unit_test(test_eager_task_runs_its_first_step_inside_spawn_then_the_spawner),
        cmocka_unit_test(test_eager_task_that_never_suspends_is_done_when_spawn_returns),
        cmocka_unit_test(test_eager_task_spawned_from_a_callback_steps_inside_the_call),
        cmocka_unit_test(test_eager_spawns_nest),
        cmocka_unit_test(test_unnamed_tasks_are_named_task_n_in_name_and_tree),
        cmocka_unit_test(test_await_of_finished_task_returns_at_once),
        cmocka_unit_test(test_task_states_pending_running_ready_waiting_done),
        cmocka_unit_test(test_task_state_names_are_the_tree_words_and_unknown_otherwise),
        cmocka_unit_test(test_task_name_is_copied_truncated_and_main_for_main),
        cmocka_unit_test(test_tasks_lists_live_tasks),
        cmocka_unit_test(test_release_before_finish_task_runs_to_end_once),
        cmocka_unit_test(test_two_tasks_await_one_both_get_result),
        cmocka_unit_test(test_await_self_returns_edeadlk),
        cmocka_unit_test(test_cancel_while_sleeping_returns_ecanceled),
        cmocka_unit_test(test_cancel_twice_unwinds_once_and_after_done_ealready),
        cmocka_unit_test(test_cancel_after_done_returns_ealready),
        cmocka_unit_test(test_cancel_before_start_task_never_runs),
        cmocka_unit_test(test_cancellation_is_sticky_until_uncancel),
        cmocka_unit_test(test_cancel_while_awaiting_leaves_awaited_running),
        cmocka_unit_test(test_shield_cancel_or_timeout_leaves_inner_running),
        cmocka_unit_test(test_sleep_inside_deadline_scope_times_out),
        cmocka_unit_test(test_nested_deadline_scopes_outer_and_inner_win),
        cmocka_unit_test(test_expired_scope_every_call_times_out_immediately),
        cmocka_unit_test(test_deadline_does_not_leak_to_spawned_tasks),
        cmocka_unit_test(test_wait_for_completes_in_time),
        cmocka_unit_test(test_wait_for_timeout_cancels_and_unwinds_task),
        cmocka_unit_test(test_wait_for_caller_cancelled_cancels_task),
        cmocka_unit_test(test_wait_for_timeout_racing_completion_is_consistent),
        cmocka_unit_test(test_task_on_done_callbacks_run_once),
        cmocka_unit_test(test_deadline_scope_refuses_second_push_and_reschedules),
        cmocka_unit_test(test_wait_for_returns_the_tasks_own_outcome_when_it_ended_otherwise),
        cmocka_unit_test(test_cancel_reason_travels_with_the_cancellation),
        cmocka_unit_test(test_tasks_left_at_close_are_cancelled_for_shutdown),
    };
    return run_suite(tests, NULL, NULL);
}
