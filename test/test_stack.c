/* test_stack.c - coroutine stacks: overflow reports and sizes.
 *
 * An overflow runs into the guard below a stack; the runtime's SIGSEGV
 * handler names the coroutine and its stack size on stderr and aborts. A
 * child process overflows so the test can watch it die. The default size
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

static void test_overflow_names_coroutine_and_aborts(void **state)
{
    if (under_asan())
        skip(); /* ASan's own SIGSEGV handling may come first */
    if (under_valgrind())
        skip(); /* Valgrind handles the fault itself */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        weft_coro_t *co;
        weft_coro_opts_t o = {.stack_size = 32 * 1024, .name = "deep"};
        if (weft_coro_create(&co, overflow, NULL, &o) != 0)
            _exit(3);
        weft_coro_resume(co, NULL, NULL);
        _exit(4); /* not reached: the overflow aborts */
    }
    close(fds[1]);
    char out[4096];
    read_all(fds[0], out, sizeof out);
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st))
        print_message("child exited %d, stderr: %s\n", WEXITSTATUS(st), out);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_string_equal(out, "weft: stack overflow in coroutine 'deep' (stack of 32768 bytes)\n");
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
        cmocka_unit_test(test_default_size_is_at_least_64k_and_page_aligned),
        cmocka_unit_test(test_env_weft_stack_size_changes_default),
    };
    return run_suite(tests, NULL, NULL);
}
