/* test_conf_taskgroups.c - CPython's test_asyncio/test_taskgroups.py,
 * ported to weft's task groups (weft_group_create / spawn / wait /
 * cancel / destroy).
 *
 * Names: test_taskgroups__<method> (conf.h has the scheme). `async with
 * TaskGroup() as g:` becomes create, spawn, the body, weft_group_wait,
 * destroy; an error raised by the body becomes weft_group_cancel before
 * the wait. Where asyncio raises an ExceptionGroup of every child's
 * error, weft_group_wait returns the first child's error.
 *
 * Covers: src/group.c through weft.h's task groups. */
#include "conf.h"

static weft_group_t *mkg(void)
{
    weft_group_t *g = NULL;
    assert_int_equal(weft_group_create(&g), 0);
    return g;
}

static weft_task_t *gspawn(weft_group_t *g, weft_task_fn fn, void *arg)
{
    weft_task_t *t = NULL;
    assert_int_equal(weft_group_spawn(g, &t, fn, arg, NULL), 0);
    return t;
}

static void *result_of(weft_task_t *t, int status)
{
    void *r = NULL;
    assert_int_equal(weft_task_result(t, &r), status);
    return r;
}

/* Counts the children that saw their cancellation. */
static int n_cancelled;
static int count_cancel(void *arg, void **res)
{
    (void)res;
    int rc = weft_sleep(I(arg) ? WEFT_MSEC(I(arg)) : WEFT_FOREVER);
    if (rc == -ECANCELED)
        __atomic_fetch_add(&n_cancelled, 1, __ATOMIC_RELAXED);
    return rc;
}

/* Two children; after the wait both results are there. */
CONF(test_taskgroups__test_taskgroup_01)
{
    weft_group_t *g = mkg();
    weft_task_t *t1 = gspawn(g, conf_yields, P(42)), *t2 = gspawn(g, conf_yields, P(11));
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(I(result_of(t1, 0)), 42);
    assert_int_equal(I(result_of(t2, 0)), 11);
    return weft_group_destroy(g);
}

/* A child spawned after the body has waited a while is waited for too. */
CONF(test_taskgroups__test_taskgroup_02)
{
    weft_group_t *g = mkg();
    weft_task_t *t1 = gspawn(g, conf_sleep, P(1));
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    weft_task_t *t2 = gspawn(g, conf_yields, P(11));
    assert_int_equal(weft_group_wait(g), 0);
    assert_true(weft_task_done(t1));
    assert_int_equal(I(result_of(t2, 0)), 11);
    return weft_group_destroy(g);
}

/* A child cancelled on its own does not fail the group. */
CONF(test_taskgroups__test_taskgroup_03)
{
    weft_group_t *g = mkg();
    weft_task_t *t1 = gspawn(g, conf_sleep, P(0));
    settle();
    weft_cancel(t1);
    weft_task_t *t2 = gspawn(g, conf_yields, P(11));
    assert_int_equal(weft_group_wait(g), 0);
    result_of(t1, -ECANCELED);
    assert_int_equal(I(result_of(t2, 0)), 11);
    return weft_group_destroy(g);
}

/* A child's error cancels its siblings and is what wait returns. */
CONF(test_taskgroups__test_cancel_children_on_child_error)
{
    weft_group_t *g = mkg();
    n_cancelled = 0;
    gspawn(g, conf_fail, P(EDOM));
    weft_task_t *t2 = gspawn(g, count_cancel, P(0));
    assert_int_equal(weft_group_wait(g), -EDOM);
    assert_int_equal(n_cancelled, 1);
    result_of(t2, -ECANCELED);
    return weft_group_destroy(g);
}

/* A child's error also interrupts the body (the owner's waits return
 * -ECANCELED); the wait then reports the child's error. */
CONF(test_taskgroups__test_cancel_children_on_child_error_body)
{
    weft_group_t *g = mkg();
    gspawn(g, conf_fail, P(EDOM));
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ECANCELED);
    assert_int_equal(weft_group_wait(g), -EDOM);
    return weft_group_destroy(g);
}

/* Cancelling the task waiting on the group cancels every child. */
static int run_group_of_5(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_group_t *g = mkg();
    for (int i = 0; i < 5; i++)
        gspawn(g, count_cancel, P(0));
    int rc = weft_group_wait(g);
    assert_int_equal(weft_group_destroy(g), 0);
    return rc;
}

CONF(test_taskgroups__test_cancellation)
{
    n_cancelled = 0;
    weft_task_t *r = conf_spawn(run_group_of_5, NULL);
    settle();
    assert_false(weft_task_done(r));
    weft_cancel(r);
    conf_finish(r, -ECANCELED);
    assert_int_equal(n_cancelled, 5);
    return 0;
}

/* The owner cancelled in its body (before the wait): the body sees it,
 * and the wait cancels the children and returns -ECANCELED. */
static int body_then_wait(void *arg, void **res)
{
    (void)res;
    weft_group_t *g = mkg();
    for (int i = 0; i < 5; i++)
        gspawn(g, count_cancel, P(0));
    int rc = weft_sleep(WEFT_SEC(60));
    if (rc == -ECANCELED)
        __atomic_fetch_add((int *)arg, 10, __ATOMIC_RELAXED);
    rc = weft_group_wait(g);
    assert_int_equal(weft_group_destroy(g), 0);
    return rc;
}

CONF(test_taskgroups__test_taskgroup_07)
{
    int body = 0;
    n_cancelled = 0;
    weft_task_t *r = conf_spawn(body_then_wait, &body);
    settle();
    weft_cancel(r);
    conf_finish(r, -ECANCELED);
    assert_int_equal(n_cancelled + body, 15);
    return 0;
}

/* The owner is cancelled; its children fail while unwinding: wait
 * returns the children's error, not -ECANCELED (asyncio raises their
 * ExceptionGroup). */
static int fail_when_cancelled(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_sleep(WEFT_FOREVER);
    return -EDOM;
}

static int group_of_failing_unwinders(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_group_t *g = mkg();
    for (int i = 0; i < 5; i++)
        gspawn(g, fail_when_cancelled, NULL);
    weft_sleep(WEFT_SEC(60));
    int rc = weft_group_wait(g);
    assert_int_equal(weft_group_destroy(g), 0);
    return rc;
}

CONF(test_taskgroups__test_taskgroup_08)
{
    weft_task_t *r = conf_spawn(group_of_failing_unwinders, NULL);
    settle();
    assert_false(weft_task_done(r));
    weft_cancel(r);
    conf_finish(r, -EDOM);
    return 0;
}

/* The body fails after spawning (here: gives up on the group): the
 * children are cancelled (test_taskgroup_09 / _10's ZeroDivisionError in
 * the body, in C a weft_group_cancel before the wait). */
CONF(test_taskgroups__test_taskgroup_09)
{
    weft_group_t *g = mkg();
    weft_task_t *t1 = gspawn(g, conf_sleep, P(0)), *t2 = gspawn(g, conf_sleep, P(0));
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_group_cancel(g), 0);
    assert_int_equal(weft_group_wait(g), 0);
    result_of(t1, -ECANCELED);
    result_of(t2, -ECANCELED);
    return weft_group_destroy(g);
}

/* The same, before the children ever ran: they end without running. */
static int flag_run(void *arg, void **res)
{
    (void)res;
    *(int *)arg = 1;
    return 0;
}

CONF(test_taskgroups__test_taskgroup_10)
{
    int ran = 0;
    weft_group_t *g = mkg();
    weft_task_t *t1 = gspawn(g, flag_run, &ran);
    weft_group_cancel(g);
    assert_int_equal(weft_group_wait(g), 0);
    result_of(t1, -ECANCELED);
    assert_int_equal(ran, 0);
    return weft_group_destroy(g);
}

/* The owner cancelled while the group has no child at all. A wait with
 * nothing left to wait for returns 0 at once, cancelled caller or not:
 * the body keeps its own -ECANCELED and returns it (the C form of the
 * CancelledError propagating out of the `async with`). */
static int empty_group_body(void *arg, void **res)
{
    (void)res;
    weft_group_t *g = mkg();
    int rc = weft_sleep(WEFT_SEC(60));
    if (rc == -ECANCELED)
        *(int *)arg += 10;
    int wrc = weft_group_wait(g);
    weft_group_destroy(g);
    return rc ? rc : wrc;
}

CONF(test_taskgroups__test_taskgroup_17)
{
    int num = 0;
    weft_task_t *r = conf_spawn(empty_group_body, &num);
    settle();
    weft_cancel(r);
    conf_finish(r, -ECANCELED);
    assert_int_equal(num, 10);
    return 0;
}

/* The owner cancelled while in wait with running children. */
CONF(test_taskgroups__test_taskgroup_22)
{
    n_cancelled = 0;
    weft_task_t *r = conf_spawn(run_group_of_5, NULL);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    weft_cancel(r);
    conf_finish(r, -ECANCELED);
    return 0;
}

/* A child spawns more children into its own group; wait waits for all. */
typedef struct {
    weft_group_t *g;
    int *count;
    int depth;
} hy_t;

static hy_t hy_args[64];
static int hy_n;

static int hydra(void *arg, void **res)
{
    (void)res;
    hy_t *a = arg;
    __atomic_fetch_add(a->count, 1, __ATOMIC_RELAXED);
    int rc = weft_yield();
    if (rc)
        return rc;
    if (a->depth > 0)
        for (int i = 0; i < 2; i++) {
            hy_t *c = &hy_args[hy_n++];
            *c = (hy_t){a->g, a->count, a->depth - 1};
            rc = weft_group_spawn(a->g, NULL, hydra, c, NULL);
            if (rc)
                return rc;
        }
    return 0;
}

CONF(test_taskgroups__test_taskgroup_24)
{
    int count = 0;
    weft_group_t *g = mkg();
    hy_n = 0;
    hy_t *root = &hy_args[hy_n++];
    *root = (hy_t){g, &count, 3};
    gspawn(g, hydra, root);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(count, 15); /* 1 + 2 + 4 + 8 */
    return weft_group_destroy(g);
}

/* Children that keep spawning, and one that fails once enough exist:
 * everything is cancelled and wait returns the failure. */
static int hercules(void *arg, void **res)
{
    (void)res;
    int *count = arg;
    while (__atomic_load_n(count, __ATOMIC_RELAXED) < 7) {
        int rc = weft_yield();
        if (rc)
            return rc;
    }
    return -EDOM;
}

CONF(test_taskgroups__test_taskgroup_25)
{
    int count = 0;
    weft_group_t *g = mkg();
    hy_n = 0;
    hy_t *root = &hy_args[hy_n++];
    *root = (hy_t){g, &count, 5};
    gspawn(g, hydra, root);
    gspawn(g, hercules, &count);
    assert_int_equal(weft_group_wait(g), -EDOM);
    assert_true(count >= 7);
    return weft_group_destroy(g);
}

/* A child's name is the one given at spawn. */
CONF(test_taskgroups__test_taskgroup_task_name)
{
    weft_group_t *g = mkg();
    weft_task_t *t;
    weft_task_opts_t o = {.name = "yolo"};
    assert_int_equal(weft_group_spawn(g, &t, conf_yields, P(1), &o), 0);
    assert_string_equal(weft_task_name(t), "yolo");
    assert_int_equal(weft_group_wait(g), 0);
    return weft_group_destroy(g);
}

/* ... and the child sees it as its own (test_name). */
static int read_name(void *arg, void **res)
{
    (void)arg;
    *res = (void *)weft_task_name(weft_current());
    return strcmp(*res, "example name") == 0 ? 0 : -EPROTO;
}

CONF(test_taskgroups__test_name)
{
    weft_group_t *g = mkg();
    weft_task_opts_t o = {.name = "example name"};
    assert_int_equal(weft_group_spawn(g, NULL, read_name, NULL, &o), 0);
    assert_int_equal(weft_group_wait(g), 0);
    return weft_group_destroy(g);
}

/* A child starts with its spawner's task-local values (its context);
 * what it sets stays its own. */
static weft_local_key_t cvar;

static int set_local(void *arg, void **res)
{
    (void)res;
    void *v = NULL;
    assert_int_equal(weft_local_get(&cvar, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(weft_local_set(&cvar, arg), 0);
    return weft_yield();
}

CONF(test_taskgroups__test_taskgroup_task_context)
{
    assert_int_equal(weft_local_key_create(&cvar, NULL), 0);
    assert_int_equal(weft_local_set(&cvar, P(1)), 0);
    weft_group_t *g = mkg();
    gspawn(g, set_local, P(2));
    assert_int_equal(weft_group_wait(g), 0);
    void *v = NULL;
    assert_int_equal(weft_local_get(&cvar, &v), 0);
    assert_int_equal(I(v), 1);
    weft_local_set(&cvar, NULL);
    return weft_group_destroy(g);
}

/* Once a child has failed, spawning into the group is refused. */
static int spawn_after_failure(void *arg, void **res)
{
    (void)res;
    weft_group_t *g = arg;
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ECANCELED);
    assert_int_equal(weft_group_spawn(g, NULL, conf_return, NULL, NULL), -ECANCELED);
    return -ECANCELED;
}

CONF(test_taskgroups__test_taskgroup_no_create_task_after_failure)
{
    weft_group_t *g = mkg();
    gspawn(g, spawn_after_failure, g);
    gspawn(g, conf_fail, P(EDOM));
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ECANCELED); /* the failure reaches the body */
    assert_int_equal(weft_group_wait(g), -EDOM);
    return weft_group_destroy(g);
}

/* After a group that failed, the owner's cancellation count is back to
 * where it was: the group's own cancel of its owner is taken back. */
CONF(test_taskgroups__test_cancelling_level_preserved)
{
    weft_group_t *g = mkg();
    gspawn(g, conf_fail, P(EDOM));
    assert_int_equal(weft_group_wait(g), -EDOM);
    assert_int_equal(weft_task_cancelling(weft_current()), 0);
    return weft_group_destroy(g);
}

/* ... and nothing of it leaks: the owner's next wait is a plain one. */
CONF(test_taskgroups__test_cancellation_does_not_leak_out_of_tg)
{
    weft_group_t *g = mkg();
    gspawn(g, conf_fail, P(EDOM));
    assert_int_equal(weft_sleep(WEFT_SEC(60)), -ECANCELED);
    assert_int_equal(weft_group_wait(g), -EDOM);
    assert_int_equal(weft_group_destroy(g), 0);
    assert_false(weft_task_cancelled(weft_current()));
    assert_int_equal(weft_sleep(0), 0);
    return 0;
}

/* A child spawned while a sibling fails in the same turn is cancelled,
 * not left running (test_cancels_task_if_created_during_creation). */
static int spawn_failing_sibling(void *arg, void **res)
{
    (void)res;
    weft_group_t *g = arg;
    assert_int_equal(weft_group_spawn(g, NULL, conf_fail, P(EDOM), NULL), 0);
    int rc = weft_sleep(WEFT_SEC(60));
    return rc == -ECANCELED ? -ECANCELED : -EPROTO;
}

CONF(test_taskgroups__test_cancels_task_if_created_during_creation)
{
    weft_group_t *g = mkg();
    weft_task_t *t = gspawn(g, spawn_failing_sibling, g);
    assert_int_equal(weft_group_wait(g), -EDOM);
    result_of(t, -ECANCELED);
    return weft_group_destroy(g);
}

/* Destroying a group whose children still run is refused. */
CONF(test_taskgroups__test_taskgroup_not_waited_destroy)
{
    weft_group_t *g = mkg();
    gspawn(g, conf_yields, P(1));
    settle();
    gspawn(g, conf_sleep, P(0));
    assert_int_equal(weft_group_destroy(g), -WEFT_EGROUPLIVE);
    weft_group_cancel(g);
    assert_int_equal(weft_group_wait(g), 0);
    return weft_group_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taskgroups__test_taskgroup_01),
        cmocka_unit_test(test_taskgroups__test_taskgroup_02),
        cmocka_unit_test(test_taskgroups__test_taskgroup_03),
        cmocka_unit_test(test_taskgroups__test_cancel_children_on_child_error),
        cmocka_unit_test(test_taskgroups__test_cancel_children_on_child_error_body),
        cmocka_unit_test(test_taskgroups__test_cancellation),
        cmocka_unit_test(test_taskgroups__test_taskgroup_07),
        cmocka_unit_test(test_taskgroups__test_taskgroup_08),
        cmocka_unit_test(test_taskgroups__test_taskgroup_09),
        cmocka_unit_test(test_taskgroups__test_taskgroup_10),
        cmocka_unit_test(test_taskgroups__test_taskgroup_17),
        cmocka_unit_test(test_taskgroups__test_taskgroup_22),
        cmocka_unit_test(test_taskgroups__test_taskgroup_24),
        cmocka_unit_test(test_taskgroups__test_taskgroup_25),
        cmocka_unit_test(test_taskgroups__test_taskgroup_task_name),
        cmocka_unit_test(test_taskgroups__test_name),
        cmocka_unit_test(test_taskgroups__test_taskgroup_task_context),
        cmocka_unit_test(test_taskgroups__test_taskgroup_no_create_task_after_failure),
        cmocka_unit_test(test_taskgroups__test_cancelling_level_preserved),
        cmocka_unit_test(test_taskgroups__test_cancellation_does_not_leak_out_of_tg),
        cmocka_unit_test(test_taskgroups__test_cancels_task_if_created_during_creation),
        cmocka_unit_test(test_taskgroups__test_taskgroup_not_waited_destroy),
    };
    return run_suite(tests, NULL, NULL);
}
