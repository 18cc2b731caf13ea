/* test_stale.c - stale task handles (weft.h, "Stale handles"): a handle
 * released once too often, whether its task still runs or was freed,
 * makes weft_task_release (and weft_await, weft_cancel) return -EBADF;
 * with WEFT_DEBUG=1 the same use aborts with a message naming the object
 * and the call (checked in a forked child). A group child's borrowed
 * pointer is no handle: releasing it is refused.
 *
 * The freed-record cases read a freed task record, which is slab memory
 * that stays mapped in normal builds; under ASan and Valgrind the record
 * is malloc'd and freed for real, so those cases skip there (the
 * sanitizer reports such a use itself).
 *
 * Covers: src/task.c (weft__task_stale, weft__stale), src/group.c.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int quick(void *arg, void **res)
{
    (void)arg, (void)res;
    return 0;
}

static int sleeper(void *arg, void **res)
{
    (void)arg, (void)res;
    return weft_sleep(WEFT_MSEC(5));
}

static bool freed_checks_skip(void)
{
    return under_asan() || under_valgrind();
}

static int main_double_release_freed(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, quick, NULL, NULL), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(weft_task_release(t), 0); /* the record is freed here */
    assert_int_equal(weft_task_release(t), -EBADF);
    assert_int_equal(weft_await(t, NULL), -EBADF);
    assert_int_equal(weft_cancel(t), -EBADF);
    return 0;
}

static void test_stale_double_release_of_finished_task_returns_ebadf(void **state)
{
    (void)state;
    if (freed_checks_skip())
        skip();
    run(main_double_release_freed, NULL);
}

static int main_double_release_running(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, sleeper, NULL, NULL), 0);
    weft_task_t *keep = t;
    assert_int_equal(weft_task_release(t), 0);
    /* the task still runs on its own reference: that is no handle */
    assert_int_equal(weft_task_release(keep), -EBADF);
    assert_int_equal(weft_task_state(keep) != WEFT_TASK_DONE, 1);
    assert_int_equal(weft_sleep(WEFT_MSEC(20)), 0); /* it ends unharmed */
    return 0;
}

static void test_stale_release_of_running_task_without_handle_returns_ebadf(void **state)
{
    (void)state;
    run(main_double_release_running, NULL);
}

static int main_group_child(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_group_t *g;
    weft_task_t *c;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, &c, quick, NULL, NULL), 0);
    assert_int_equal(weft_task_release(c), -EBADF); /* borrowed, not a handle */
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_stale_release_of_group_child_returns_ebadf(void **state)
{
    (void)state;
    run(main_group_child, NULL);
}

/* WEFT_DEBUG=1: the same misuse aborts, naming the object and the call. */
static void test_stale_double_release_aborts_under_weft_debug(void **state)
{
    (void)state;
    if (freed_checks_skip())
        skip();
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        setenv("WEFT_DEBUG", "1", 1);
        weft_run(main_double_release_freed, NULL, NULL);
        _exit(0); /* not reached: the second release aborts */
    }
    close(p[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(buf, "weft_task_release"));
    assert_non_null(strstr(buf, "task"));
    assert_non_null(strstr(buf, "stale"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_double_release_of_finished_task_returns_ebadf),
        cmocka_unit_test(test_stale_release_of_running_task_without_handle_returns_ebadf),
        cmocka_unit_test(test_stale_release_of_group_child_returns_ebadf),
        cmocka_unit_test(test_stale_double_release_aborts_under_weft_debug),
    };
    return run_suite(tests, NULL, NULL);
}
