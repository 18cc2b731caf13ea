/* test_stack.c - coroutine stacks: overflow reports and sizes.
 *
 * An overflow runs into the guard below a stack; the runtime's SIGSEGV
 * handler names the task (its number and name) or the coroutine, its
 * stack size, and the option that gives it more, on stderr, and aborts.
 * A child process overflows so the test can watch it die. The default size
 * comes from WEFT_STACK_SIZE, read by a helper program started with it.
 *
 * Covers: src/stack.c.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Reads fd to its end into buf (NUL-terminated); returns the length. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (n += (size_t)r) == cap - 1)
            break;
    }
    buf[n] = '\0';
    return n;
}

/* ---- overflow ---- */

static volatile int depth_limit = 1 << 30; /* never reached: unbounded in practice */

/* A frame of about 512 bytes that the compiler can neither drop (the buffer
 * is volatile) nor turn into a loop (the result is used after the call). */
static int __attribute__((noinline)) recurse(int depth)
{
    volatile char buf[512];
    buf[0] = (char)depth;
    buf[sizeof buf - 1] = (char)(depth >> 8);
    int r = depth < depth_limit ? recurse(depth + 1) : 0;
    return r + buf[0] + buf[sizeof buf - 1];
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(long)recurse(0);
}

/* Runs fn in a child process whose stderr is captured into out, and
 * checks that the child died of SIGABRT (the overflow report aborts). */
static void overflow_in_child(void (*fn)(void), char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        fn();
        _exit(4); /* not reached: the overflow aborts */
    }
    close(fds[1]);
    read_all(fds[0], out, cap);
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st))
        print_message("child exited %d, stderr: %s\n", WEXITSTATUS(st), out);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

static bool overflow_reports_run(void)
{
    /* ASan's own SIGSEGV handling may come first; Valgrind handles the
     * fault itself */
    return !under_asan() && !under_valgrind();
}

static void deep_coroutine(void)
{
    weft_coro_t *co;
    weft_coro_opts_t o = {.stack_size = 32 * 1024, .name = "deep"};
    if (weft_coro_create(&co, overflow, NULL, &o) != 0)
        _exit(3);
    weft_coro_resume(co, NULL, NULL);
}

static void test_overflow_names_coroutine_and_aborts(void **state)
{
    if (!overflow_reports_run())
        skip();
    char out[4096];
    overflow_in_child(deep_coroutine, out, sizeof out);
    assert_string_equal(out,
                        "weft: stack overflow in coroutine 'deep' (stack 32 KiB): give it more "
                        "with weft_coro_opts_t.stack_size or WEFT_STACK_SIZE\n");
}

static int overflowing_task(void *arg, void **result)
{
    (void)arg;
    *result = overflow(NULL);
    return 0;
}

static int idle_task(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}

/* main is task #1 of a one-worker loop; the idle task #2, the worker #3 */
static int spawn_worker_main(void *arg, void **result)
{
    (void)result;
    const weft_task_opts_t *o = arg;
    weft_task_t *t;
    if (weft_spawn(NULL, idle_task, NULL, NULL) != 0 ||
        weft_spawn(&t, overflowing_task, NULL, o) != 0)
        _exit(3);
    weft_await(t, NULL);
    return 0;
}

static void worker_task(void)
{
    weft_config_t cfg = {.workers = 1, .stack_mode = WEFT_STACK_OWN};
    weft_task_opts_t o = {.name = "worker", .stack_size = 64 * 1024};
    weft_run_config(&cfg, spawn_worker_main, &o, NULL);
}

static void unnamed_copy_stack_task(void)
{
    weft_config_t cfg = {.workers = 1, .stack_mode = WEFT_STACK_COPY};
    weft_task_opts_t o = {.name = NULL};
    weft_run_config(&cfg, spawn_worker_main, &o, NULL);
}

static void test_overflow_in_a_task_names_its_number_and_name_and_the_task_option(void **state)
{
    if (!overflow_reports_run())
        skip();
    char out[4096];
    overflow_in_child(worker_task, out, sizeof out);
    assert_string_equal(out,
                        "weft: stack overflow in task #3 'worker' (stack 64 KiB): give it more "
                        "with weft_task_opts_t.stack_size or WEFT_STACK_SIZE\n");
    /* a copy-stack task overflows its thread's shared stack: that size */
    overflow_in_child(unnamed_copy_stack_task, out, sizeof out);
    char want[200];
    size_t shared =
        weft_stack_default_size() > 1024 * 1024 ? weft_stack_default_size() : 1024 * 1024;
    snprintf(want, sizeof want,
             "weft: stack overflow in task #3 'Task-3' (stack %zu KiB): give it more with "
             "weft_task_opts_t.stack_size or WEFT_STACK_SIZE\n",
             shared / 1024);
    assert_string_equal(out, want);
}

static int resume_deep(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_coro_t *co;
    weft_coro_opts_t co_o = {.stack_size = 16 * 1024, .name = "parser"};
    if (weft_coro_create(&co, overflow, NULL, &co_o) != 0)
        _exit(3);
    weft_coro_resume(co, NULL, NULL);
    return 0;
}

static void coroutine_in_a_task(void)
{
    weft_config_t cfg = {.workers = 1};
    weft_run_config(&cfg, resume_deep, NULL, NULL);
}

static int gen_overflows(void *arg, void **result)
{
    (void)arg;
    *result = overflow(NULL);
    return 0;
}

static void unnamed_generator(void)
{
    weft_gen_t *g;
    weft_coro_opts_t o = {.stack_size = 16 * 1024};
    if (weft_gen_create(&g, gen_overflows, NULL, &o) != 0)
        _exit(3);
    weft_gen_next(g, NULL);
}

static void
test_overflow_in_a_coroutine_or_generator_names_it_and_the_task_resuming_it(void **state)
{
    if (!overflow_reports_run())
        skip();
    char out[4096];
    overflow_in_child(coroutine_in_a_task, out, sizeof out);
    assert_string_equal(
        out, "weft: stack overflow in coroutine 'parser' of task #1 'main' (stack 16 KiB): "
             "give it more with weft_coro_opts_t.stack_size or WEFT_STACK_SIZE\n");
    overflow_in_child(unnamed_generator, out, sizeof out);
    assert_string_equal(out, "weft: stack overflow in generator (unnamed) (stack 16 KiB): give it "
                             "more with weft_coro_opts_t.stack_size or WEFT_STACK_SIZE\n");
}

/* ---- sizes ---- */

static void test_default_size_is_at_least_64k_and_page_aligned(void **state)
{
    size_t sz = weft_stack_default_size();
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    assert_true(sz >= 64 * 1024);
    assert_int_equal(sz % page, 0);
    assert_int_equal(weft_stack_default_size(), sz); /* stable */
}

/* Runs helper_stacksize with WEFT_STACK_SIZE=value (unset if NULL) and
 * returns what it printed. */
static unsigned long long helper_size(const char *value)
{
    char path[4200];
    snprintf(path, sizeof path, "%s", helper_path("helper_stacksize"));

    /* this environment minus any WEFT_STACK_SIZE, plus ours */
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    assert_non_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "WEFT_STACK_SIZE=", 16) != 0)
            env[k++] = environ[i];
    char var[64];
    if (value) {
        snprintf(var, sizeof var, "WEFT_STACK_SIZE=%s", value);
        env[k++] = var;
    }
    env[k] = NULL;

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    char *argv[] = {path, NULL};
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    free(env);
    if (rc != 0)
        print_message("cannot run %s: %s\n", path, strerror(rc));
    assert_int_equal(rc, 0);
    char out[128];
    read_all(fds[0], out, sizeof out);
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    return strtoull(out, NULL, 10);
}

static void test_env_weft_stack_size_changes_default(void **state)
{
    assert_int_equal(helper_size(NULL), 128 * 1024);
    assert_int_equal(helper_size("256K"), 256 * 1024);
    assert_int_equal(helper_size("1M"), 1024 * 1024);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(helper_size("200000"), (200000 + page - 1) / page * page); /* whole pages */
    assert_int_equal(helper_size("junk"), 128 * 1024); /* not a size: the default */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflow_names_coroutine_and_aborts),
        cmocka_unit_test(test_overflow_in_a_task_names_its_number_and_name_and_the_task_option),
        cmocka_unit_test(
            test_overflow_in_a_coroutine_or_generator_names_it_and_the_task_resuming_it),
        cmocka_unit_test(test_default_size_is_at_least_64k_and_page_aligned),
        cmocka_unit_test(test_env_weft_stack_size_changes_default),
    };
    return run_suite(tests, NULL, NULL);
}
