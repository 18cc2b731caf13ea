/* test_proc.c - subprocesses: spawn and shell, pipes as streams, exit
 * codes and signals, communicate with large outputs and a child that
 * never reads its stdin, a missing program, cancellation during wait and
 * during communicate, environment, directory, merged stderr, a wait that
 * begins after the child has ended (its exit seen by the loop or not yet),
 * a second waiter (refused with a pidfd, polling too without), many
 * children of one thread at once (waited together, late, cut short by a
 * deadline or a cancel, killed while waited for), exec
 * errors through a PATH search, and that no fd and no zombie is left
 * behind; a paused stdout pipe (weft_stream_pause_reading) blocks a
 * child that writes more than the pipe holds, until reading resumes.
 *
 * Children are ordinary programs every Debian has (sh, cat, head, sleep).
 *
 * Covers: src/proc.c, src/reap.c (waiting for children: the pidfd and the
 * reaper) and src/backend/uring_reap.c (the io_uring reaper, where the
 * kernel has it). The ucontext build (make ucontext) runs every suite over
 * src/arch/switch_ucontext.c.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* run(), then checks that the run leaked no fd and reaped every child. */
static void run_no_leaks(weft_task_fn fn)
{
    int before = count_open_fds();
    run(fn, NULL);
    assert_int_equal(count_open_fds(), before); /* no fd leaked */
    /* and no child left unreaped */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static const weft_proc_opts_t pipe_out = {.out = WEFT_STDIO_PIPE};

/* ---- spawn, read, wait ---- */

static int echo_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_proc_t *p;
    const char *argv[] = {"echo", "hello", "world", NULL};
    assert_int_equal(weft_proc_spawn(&p, argv, &pipe_out), 0);
    assert_true(weft_proc_pid(p) > 0);
    assert_null(weft_proc_stdin(p));
    assert_null(weft_proc_stderr(p));
    const char *line;
    ssize_t n = weft_stream_read_line(weft_proc_stdout(p), &line);
    assert_int_equal(n, 12);
    assert_memory_equal(line, "hello world\n", 12);
    int code = -100;
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 0);
    /* waiting again returns the same code at once */
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(weft_proc_returncode(p, &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(weft_proc_signal(p, SIGTERM), -ESRCH);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_spawn_reads_stdout_and_waits(void **state)
{
    (void)state;
    run_no_leaks(echo_main);
}

static int codes_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_proc_t *p;
    int code;
    assert_int_equal(weft_proc_shell(&p, "exit 3", NULL), 0);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 3);
    assert_int_equal(weft_proc_destroy(p), 0);
    /* killed by a signal: -N */
    const char *argv[] = {"sleep", "100", NULL};
    assert_int_equal(weft_proc_spawn(&p, argv, NULL), 0);
    assert_int_equal(weft_proc_returncode(p, &code), -EAGAIN);
    assert_int_equal(weft_proc_kill(p), 0);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, -SIGKILL);
    assert_int_equal(weft_proc_destroy(p), 0);
    assert_int_equal(weft_proc_spawn(&p, argv, NULL), 0);
    assert_int_equal(weft_proc_terminate(p), 0);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, -SIGTERM);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_proc_wait_reports_exit_codes_and_deaths_by_signal(void **state)
{
    (void)state;
    run_no_leaks(codes_main);
}

/* ---- a wait that begins after the child has ended ---- */

/* Spins, without letting the loop turn, until pid has ended (not reaping
 * it: WNOWAIT). */
static void spin_until_exited(int pid)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        siginfo_t si = {0};
        assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
        if (si.si_pid == pid)
            return;
        clock_gettime(CLOCK_MONOTONIC, &t);
        assert_true(t.tv_sec - t0.tv_sec < 30);
        usleep(1000); /* a thread sleep: the loop does not turn */
    }
}

static int late_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_proc_t *p;
    int code = -100;
    /* returncode reaps a child that has ended; a wait then has nothing
     * to wait for */
    assert_int_equal(weft_proc_shell(&p, "exit 7", NULL), 0);
    spin_until_exited(weft_proc_pid(p));
    assert_int_equal(weft_proc_returncode(p, &code), 0); /* reaps it: no wait needed */
    assert_int_equal(code, 7);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 7);
    assert_int_equal(weft_proc_destroy(p), 0);

    /* the child ended and the loop has not polled since: the wait parks
     * and the pending exit event wakes it */
    assert_int_equal(weft_proc_shell(&p, "exit 5", NULL), 0);
    spin_until_exited(weft_proc_pid(p));
    code = -100;
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 5);
    assert_int_equal(weft_proc_destroy(p), 0);

    /* the child ended and the loop has seen its exit (a sleep polls the
     * backend): the wait returns without parking */
    assert_int_equal(weft_proc_shell(&p, "exit 6", NULL), 0);
    spin_until_exited(weft_proc_pid(p));
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    code = -100;
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 6);
    assert_int_equal(weft_proc_destroy(p), 0);

    /* past its deadline, a wait on a child whose exit the loop has seen
     * still returns the code: it does not need to suspend */
    const char *t[] = {"true", NULL};
    assert_int_equal(weft_proc_spawn(&p, t, NULL), 0);
    spin_until_exited(weft_proc_pid(p));
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, 0), 0);
    code = -100;
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 0);
    weft_deadline_pop(&d);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_wait_after_the_child_has_ended(void **state)
{
    (void)state;
    run_no_leaks(late_main);
}

typedef struct waiter {
    weft_proc_t *p;
    int code;
} waiter_t;

static int wait_code(void *arg, void **result)
{
    (void)result;
    waiter_t *w = arg;
    return weft_proc_wait(w->p, &w->code);
}

/* Whether this kernel (or Valgrind, which may not know the call) gives
 * pidfds: without them weft polls waitpid, and several tasks may wait. */
static bool have_pidfd(void)
{
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int second_main(void *arg, void **result)
{
    (void)arg, (void)result;
    const char *argv[] = {"sleep", "100", NULL};
    weft_proc_t *p;
    assert_int_equal(weft_proc_spawn(&p, argv, NULL), 0);
    waiter_t w1 = {.p = p, .code = -100}, w2 = {.p = p, .code = -100};
    weft_task_t *t1, *t2 = NULL;
    assert_int_equal(weft_spawn(&t1, wait_code, &w1, NULL), 0);
    wait_state(t1, WEFT_TASK_WAITING); /* it may run on any worker */
    int code = -100;
    if (have_pidfd()) {
        assert_int_equal(weft_proc_wait(p, &code), -EBUSY); /* one waiter at a time */
        assert_int_equal(code, -100);
    } else {
        /* polling: a second waiter polls too, and both get the code */
        assert_int_equal(weft_spawn(&t2, wait_code, &w2, NULL), 0);
        wait_state(t2, WEFT_TASK_WAITING); /* it may run on any worker */
    }
    assert_int_equal(weft_proc_destroy(p), -EBUSY);
    assert_int_equal(weft_proc_terminate(p), 0);
    assert_int_equal(weft_await(t1, NULL), 0);
    weft_task_release(t1);
    assert_int_equal(w1.code, -SIGTERM);
    if (t2) {
        assert_int_equal(weft_await(t2, NULL), 0);
        weft_task_release(t2);
        assert_int_equal(w2.code, -SIGTERM);
    }
    /* once reaped, anyone may ask */
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, -SIGTERM);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_proc_second_waiter_is_ebusy_or_polls_and_both_get_the_code(void **state)
{
    (void)state;
    run_no_leaks(second_main);
}

/* ---- errors ---- */

static int missing_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_proc_t *p = NULL;
    const char *a1[] = {"/nonexistent/weft-no-such-program", NULL};
    assert_int_equal(weft_proc_spawn(&p, a1, &pipe_out), -ENOENT);
    const char *a2[] = {"weft-no-such-program-in-path", NULL};
    assert_int_equal(weft_proc_spawn(&p, a2, NULL), -ENOENT);
    const char *a3[] = {"/dev/null", NULL}; /* not executable */
    assert_int_equal(weft_proc_spawn(&p, a3, NULL), -EACCES);
    /* through the shell, a missing command is exit code 127 */
    int code;
    weft_proc_opts_t quiet = {.err = WEFT_STDIO_DEVNULL};
    assert_int_equal(weft_proc_shell(&p, "weft-no-such-program-in-path", &quiet), 0);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 127);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_missing_program_is_an_error_from_spawn(void **state)
{
    (void)state;
    run_no_leaks(missing_main);
}

/* A PATH search: a name found only without its execute bit is -EACCES, a
 * name found nowhere -ENOENT, and an executable later in PATH wins over a
 * non-executable one earlier. */
static int search_main(void *arg, void **result)
{
    (void)result;
    const char *dir = arg;
    weft_proc_t *p = NULL;
    const char *a1[] = {"weft-test-noexec", NULL};
    assert_int_equal(weft_proc_spawn(&p, a1, NULL), -EACCES);
    const char *a2[] = {"weft-test-nowhere", NULL};
    assert_int_equal(weft_proc_spawn(&p, a2, NULL), -ENOENT);
    const char *a3[] = {"true", NULL}; /* dir/true is not executable, /bin/true is */
    int code = -100;
    assert_int_equal(weft_proc_spawn(&p, a3, NULL), 0);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(weft_proc_destroy(p), 0);
    /* a relative path from the child's own directory */
    weft_proc_opts_t in_dir = {.cwd = dir};
    const char *a4[] = {"./weft-test-noexec", NULL};
    assert_int_equal(weft_proc_spawn(&p, a4, NULL), -ENOENT); /* not in ours */
    p = NULL;
    int rc = weft_proc_spawn(&p, a4, &in_dir);
    if (rc == 0) {
        /* a C library that cannot report exec errors (Valgrind's forked
         * child): the child's own directory is the child's to search */
        assert_int_equal(weft_proc_wait(p, &code), 0);
        assert_int_equal(code, 127);
        assert_int_equal(weft_proc_destroy(p), 0);
    } else {
        assert_int_equal(rc, -EACCES);
    }
    return 0;
}

static void test_exec_errors_through_a_path_search(void **state)
{
    (void)state;
    char dir[] = "/tmp/weft-test-proc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char f1[64], f2[64];
    snprintf(f1, sizeof f1, "%s/weft-test-noexec", dir);
    snprintf(f2, sizeof f2, "%s/true", dir);
    for (int i = 0; i < 2; i++) {
        int fd = open(i ? f2 : f1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
        close(fd);
    }
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    char path[128];
    snprintf(path, sizeof path, "%s:/bin:/usr/bin", dir);
    assert_int_equal(setenv("PATH", path, 1), 0);
    int before = count_open_fds();
    run(search_main, dir);
    assert_int_equal(count_open_fds(), before);
    if (saved)
        setenv("PATH", saved, 1);
    else
        unsetenv("PATH");
    free(saved);
    unlink(f1);
    unlink(f2);
    rmdir(dir);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static int args_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_proc_t *p;
    const char *empty[] = {NULL};
    const char *argv[] = {"true", NULL};
    assert_int_equal(weft_proc_spawn(NULL, argv, NULL), -EINVAL);
    assert_int_equal(weft_proc_spawn(&p, NULL, NULL), -EINVAL);
    assert_int_equal(weft_proc_spawn(&p, empty, NULL), -EINVAL);
    assert_int_equal(weft_proc_shell(&p, NULL, NULL), -EINVAL);
    weft_proc_opts_t bad = {.out = WEFT_STDIO_STDOUT};
    assert_int_equal(weft_proc_spawn(&p, argv, &bad), -EINVAL);
    weft_proc_opts_t bad2 = {.in = WEFT_STDIO_FD, .in_fd = -1};
    assert_int_equal(weft_proc_spawn(&p, argv, &bad2), -EINVAL);
    weft_proc_opts_t bad3 = {.err = (weft_stdio_t)42};
    assert_int_equal(weft_proc_spawn(&p, argv, &bad3), -EINVAL);
    assert_int_equal(weft_proc_wait(NULL, NULL), -EINVAL);
    assert_int_equal(weft_proc_signal(NULL, SIGTERM), -EINVAL);
    assert_int_equal(weft_proc_destroy(NULL), -EINVAL);
    assert_int_equal(weft_proc_pid(NULL), -EINVAL);
    assert_int_equal(weft_proc_close_stdin(NULL), -EINVAL);
    assert_int_equal(weft_proc_communicate(NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(weft_proc_spawn(&p, argv, NULL), 0);
    assert_int_equal(weft_proc_signal(p, 100000), -EINVAL);
    assert_int_equal(weft_proc_close_stdin(p), -EBADF); /* no stdin pipe */
    assert_int_equal(weft_proc_wait(p, NULL), 0);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_proc_spawn_outside_a_loop_is_enoloop(void **state)
{
    (void)state;
    const char *argv[] = {"true", NULL};
    weft_proc_t *p;
    assert_int_equal(weft_proc_spawn(&p, argv, NULL), -WEFT_ENOLOOP); /* no loop */
}

static void test_proc_calls_refuse_bad_arguments(void **state)
{
    (void)state;
    run_no_leaks(args_main);
}

/* ---- communicate ---- */

typedef struct big {
    size_t bytes;
    int rc;
} big_t;

static int big_child(void *arg, void **result)
{
    (void)result;
    big_t *b = arg;
    char cmd[128];
    /* stdout and stderr both large: a reader of one alone would deadlock */
    snprintf(cmd, sizeof cmd, "head -c %zu /dev/zero; head -c %zu /dev/zero >&2", b->bytes,
             b->bytes / 2);
    weft_proc_opts_t o = {.out = WEFT_STDIO_PIPE, .err = WEFT_STDIO_PIPE};
    weft_proc_t *p;
    int rc = weft_proc_shell(&p, cmd, &o);
    if (rc)
        return rc;
    char *out = NULL, *err = NULL;
    size_t no = 0, ne = 0;
    int code = -1;
    rc = weft_proc_communicate(p, NULL, 0, &out, &no, &err, &ne, &code);
    if (rc == 0 && (no != b->bytes || ne != b->bytes / 2 || code != 0))
        rc = -EIO;
    for (size_t i = 0; rc == 0 && i < no; i++)
        if (out[i] != 0)
            rc = -EIO;
    free(out);
    free(err);
    weft_proc_destroy(p);
    b->rc = rc;
    return rc;
}

static int many_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int n = (int)(24 * test_scale());
    if (n < 3)
        n = 3;
    weft_task_t **t = calloc((size_t)n, sizeof *t);
    big_t *b = calloc((size_t)n, sizeof *b);
    for (int i = 0; i < n; i++) {
        b[i].bytes = (size_t)(200000 + 37 * i);
        assert_int_equal(weft_spawn(&t[i], big_child, &b[i], NULL), 0);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        assert_int_equal(b[i].rc, 0);
        weft_task_release(t[i]);
    }
    free(t);
    free(b);
    return 0;
}

static void test_proc_communicate_collects_large_outputs_of_many_children(void **state)
{
    (void)state;
    run_no_leaks(many_main);
}

static int stdin_main(void *arg, void **result)
{
    (void)arg, (void)result;
    /* cat echoes its input back: 1 MiB through stdin and out again */
    size_t n = 1 << 20;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    weft_proc_opts_t o = {.in = WEFT_STDIO_PIPE, .out = WEFT_STDIO_PIPE};
    weft_proc_t *p;
    const char *cat[] = {"cat", NULL};
    assert_int_equal(weft_proc_spawn(&p, cat, &o), 0);
    char *out;
    size_t no;
    int code;
    assert_int_equal(weft_proc_communicate(p, in, n, &out, &no, NULL, NULL, &code), 0);
    assert_int_equal(no, n);
    assert_memory_equal(out, in, n);
    assert_int_equal(code, 0);
    free(out);
    assert_int_equal(weft_proc_destroy(p), 0);

    /* a child that never reads its stdin: EPIPE is not an error */
    const char *t[] = {"true", NULL};
    assert_int_equal(weft_proc_spawn(&p, t, &o), 0);
    assert_int_equal(weft_proc_communicate(p, in, n, &out, &no, NULL, NULL, &code), 0);
    assert_int_equal(no, 0);
    assert_int_equal(code, 0);
    free(out);
    assert_int_equal(weft_proc_destroy(p), 0);
    free(in);
    return 0;
}

static void test_communicate_feeds_stdin_and_survives_a_child_that_ignores_it(void **state)
{
    (void)state;
    run_no_leaks(stdin_main);
}

/* ---- cancellation ---- */

static int wait_proc(void *arg, void **result)
{
    (void)result;
    return weft_proc_wait(arg, NULL);
}

static int cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_proc_t *p;
    const char *argv[] = {"sleep", "100", NULL};
    assert_int_equal(weft_proc_spawn(&p, argv, &pipe_out), 0);
    int pid = weft_proc_pid(p);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, wait_proc, p, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING); /* it may run on any worker */
    assert_int_equal(weft_proc_destroy(p), -EBUSY); /* a task waits on it */
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    weft_task_release(t);
    /* the child goes on after a cancelled wait... */
    assert_int_equal(kill(pid, 0), 0);
    /* ...until the handle is destroyed: killed and reaped */
    assert_int_equal(weft_proc_destroy(p), 0);
    assert_int_equal(kill(pid, 0), -1);

    /* a deadline during communicate */
    assert_int_equal(weft_proc_spawn(&p, argv, &(weft_proc_opts_t){.in = WEFT_STDIO_PIPE,
                                                                   .out = WEFT_STDIO_PIPE,
                                                                   .err = WEFT_STDIO_PIPE}),
                     0);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(20)), 0);
    char *out = (char *)1;
    assert_int_equal(weft_proc_communicate(p, "x", 1, &out, NULL, NULL, NULL, NULL), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_ptr_equal(out, (char *)1); /* nothing stored */
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_proc_wait_or_communicate_cut_short_leaves_the_child_to_destroy(void **state)
{
    (void)state;
    run_no_leaks(cancel_main);
}

/* ---- many children of one thread at once ----
 *
 * A thread with several children alive waits for them through an io_uring
 * of its own (where the kernel has IORING_OP_WAITID; pidfds otherwise):
 * the same results either way. */

typedef struct coded {
    weft_proc_t *p;
    int code;
    int rc;
} coded_t;

static int wait_coded(void *arg, void **result)
{
    (void)result;
    coded_t *c = arg;
    c->rc = weft_proc_wait(c->p, &c->code);
    return 0;
}

static void spawn_shell(weft_proc_t **p, const char *cmd)
{
    assert_int_equal(weft_proc_shell(p, cmd, NULL), 0);
}

static int reaper_main(void *arg, void **result)
{
    (void)arg, (void)result;
    enum { N = 12 };
    weft_proc_t *p[N];
    coded_t c[N];
    weft_task_t *t[N];
    char cmd[64];
    int code;

    /* several tasks wait at once; the children end together */
    for (int i = 0; i < N; i++) {
        snprintf(cmd, sizeof cmd, "exit %d", i + 1);
        spawn_shell(&p[i], cmd);
    }
    for (int i = 0; i < N; i++) {
        c[i] = (coded_t){.p = p[i], .code = -100, .rc = -100};
        assert_int_equal(weft_spawn(&t[i], wait_coded, &c[i], NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
        assert_int_equal(c[i].rc, 0);
        assert_int_equal(c[i].code, i + 1);
        assert_int_equal(weft_proc_wait(p[i], &code), 0); /* again: at once */
        assert_int_equal(code, i + 1);
        assert_int_equal(weft_proc_destroy(p[i]), 0);
    }

    /* waits that begin after the children have ended (not yet reaped) */
    for (int i = 0; i < N; i++) {
        snprintf(cmd, sizeof cmd, "exit %d", 100 + i);
        spawn_shell(&p[i], cmd);
    }
    for (int i = 0; i < N; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        /* wait until it is a zombie, without reaping it */
        assert_int_equal(waitid(P_PID, (id_t)weft_proc_pid(p[i]), &si, WEXITED | WNOWAIT), 0);
    }
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    for (int i = N - 1; i >= 0; i--) {
        assert_int_equal(weft_proc_wait(p[i], &code), 0);
        assert_int_equal(code, 100 + i);
        assert_int_equal(weft_proc_destroy(p[i]), 0);
    }

    /* a wait cut short by a deadline leaves the child running and waitable;
     * a signal sent while a task waits ends it; returncode says -EAGAIN
     * while it runs; children destroyed while running are killed */
    const char *sleeper[] = {"sleep", "100", NULL};
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_proc_spawn(&p[i], sleeper, NULL), 0);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(20)), 0);
    assert_int_equal(weft_proc_wait(p[0], &code), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_int_equal(weft_proc_returncode(p[0], &code), -EAGAIN);
    c[1] = (coded_t){.p = p[1], .code = -100, .rc = -100};
    assert_int_equal(weft_spawn(&t[1], wait_coded, &c[1], NULL), 0);
    wait_state(t[1], WEFT_TASK_WAITING); /* it may run on any worker */
    assert_int_equal(weft_proc_returncode(p[1], &code), -EAGAIN);
    if (have_pidfd()) /* polling (no pidfds) lets several tasks wait */
        assert_int_equal(weft_proc_wait(p[1], &code), -EBUSY); /* one waiter at a time */
    assert_int_equal(weft_proc_destroy(p[1]), -EBUSY);
    assert_int_equal(weft_proc_kill(p[1]), 0);
    assert_int_equal(weft_await(t[1], NULL), 0);
    weft_task_release(t[1]);
    assert_int_equal(c[1].rc, 0);
    assert_int_equal(c[1].code, -SIGKILL);
    assert_int_equal(weft_proc_signal(p[1], SIGTERM), -ESRCH);
    assert_int_equal(weft_proc_terminate(p[0]), 0);
    assert_int_equal(weft_proc_wait(p[0], &code), 0);
    assert_int_equal(code, -SIGTERM);
    /* a task cancelled while it waits */
    c[2] = (coded_t){.p = p[2], .code = -100, .rc = -100};
    assert_int_equal(weft_spawn(&t[2], wait_coded, &c[2], NULL), 0);
    wait_state(t[2], WEFT_TASK_WAITING); /* it may run on any worker */
    assert_int_equal(weft_cancel(t[2]), 0);
    assert_int_equal(weft_await(t[2], NULL), 0);
    weft_task_release(t[2]);
    assert_int_equal(c[2].rc, -ECANCELED);
    assert_int_equal(weft_proc_returncode(p[2], &code), -EAGAIN);
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_proc_destroy(p[i]), 0);
    return 0;
}

static void test_proc_many_children_of_one_thread_are_each_reaped_once(void **state)
{
    (void)state;
    run_no_leaks(reaper_main);
    /* and again, so a second loop on this thread finds its reaper anew */
    run_no_leaks(reaper_main);
}

/* ---- options ---- */

static int opts_main(void *arg, void **result)
{
    (void)arg, (void)result;
    char *env[] = {"WEFT_TEST_VALUE=forty-two", NULL};
    weft_proc_opts_t o = {.env = env, .cwd = "/tmp", .out = WEFT_STDIO_PIPE,
                          .err = WEFT_STDIO_STDOUT};
    weft_proc_t *p;
    assert_int_equal(weft_proc_shell(&p, "echo $WEFT_TEST_VALUE; pwd; echo oops >&2", &o), 0);
    char *out;
    size_t n;
    int code;
    assert_int_equal(weft_proc_communicate(p, NULL, 0, &out, &n, NULL, NULL, &code), 0);
    assert_string_equal(out, "forty-two\n/tmp\noops\n");
    free(out);
    assert_int_equal(weft_proc_destroy(p), 0);

    /* stdin from /dev/null reads end of file at once */
    weft_proc_opts_t o2 = {.in = WEFT_STDIO_DEVNULL, .out = WEFT_STDIO_PIPE};
    const char *wc[] = {"wc", "-c", NULL};
    assert_int_equal(weft_proc_spawn(&p, wc, &o2), 0);
    assert_int_equal(weft_proc_communicate(p, NULL, 0, &out, &n, NULL, NULL, &code), 0);
    assert_int_equal(atoi(out), 0);
    free(out);
    assert_int_equal(weft_proc_destroy(p), 0);

    /* an fd of ours as the child's stdout */
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    weft_proc_opts_t o3 = {.out = WEFT_STDIO_FD, .out_fd = pp[1]};
    const char *echo[] = {"echo", "via-fd", NULL};
    assert_int_equal(weft_proc_spawn(&p, echo, &o3), 0);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(weft_proc_destroy(p), 0);
    close(pp[1]);
    char buf[32] = {0};
    assert_int_equal(read(pp[0], buf, sizeof buf), 7);
    assert_string_equal(buf, "via-fd\n");
    close(pp[0]);
    return 0;
}

static void test_proc_options_set_env_cwd_and_where_stdio_goes(void **state)
{
    (void)state;
    run_no_leaks(opts_main);
}

/* ---- pausing the reading of a pipe ---- */

typedef struct {
    weft_stream_t *s;
    size_t got, at_pause; /* at_pause: 0 until the reader paused */
    int rc;
} drink_t;

static int drinker(void *arg, void **result)
{
    (void)result;
    drink_t *d = arg;
    char buf[4096];
    ssize_t n;
    while ((n = weft_stream_read(d->s, buf, sizeof buf)) > 0) {
        d->got += (size_t)n;
        /* the reader pauses itself: it may read everything in one turn */
        if (!d->at_pause && d->got >= 100000) {
            assert_int_equal(weft_stream_pause_reading(d->s), 0);
            d->at_pause = d->got;
        }
    }
    d->rc = (int)n;
    return 0;
}

/* While its stdout is paused, a child that writes more than the pipe
 * holds blocks: the reader gets what the stream had buffered and waits;
 * once resumed, every byte comes and the child ends. */
static int pause_pipe_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_proc_t *p;
    const char *argv[] = {"head", "-c", "1000000", "/dev/zero", NULL};
    assert_int_equal(weft_proc_spawn(&p, argv, &pipe_out), 0);
    drink_t d = {.s = weft_proc_stdout(p)};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, drinker, &d, NULL), 0);
    while (!d.at_pause)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    size_t at_pause = d.at_pause;
    assert_int_equal(weft_sleep(WEFT_MSEC(100)), 0);
    assert_int_equal(weft_task_state(t), WEFT_TASK_WAITING);
    assert_true(d.got - at_pause <= 65536); /* only what was buffered */
    int code;
    assert_int_equal(weft_proc_returncode(p, &code), -EAGAIN); /* blocked on its pipe */
    assert_int_equal(weft_stream_resume_reading(d.s), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.got, 1000000);
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_paused_pipe_blocks_the_child_until_reading_resumes(void **state)
{
    (void)state;
    run_no_leaks(pause_pipe_main);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_reads_stdout_and_waits),
        cmocka_unit_test(test_proc_wait_reports_exit_codes_and_deaths_by_signal),
        cmocka_unit_test(test_missing_program_is_an_error_from_spawn),
        cmocka_unit_test(test_exec_errors_through_a_path_search),
        cmocka_unit_test(test_wait_after_the_child_has_ended),
        cmocka_unit_test(test_proc_second_waiter_is_ebusy_or_polls_and_both_get_the_code),
        cmocka_unit_test(test_proc_spawn_outside_a_loop_is_enoloop),
        cmocka_unit_test(test_proc_calls_refuse_bad_arguments),
        cmocka_unit_test(test_proc_communicate_collects_large_outputs_of_many_children),
        cmocka_unit_test(test_communicate_feeds_stdin_and_survives_a_child_that_ignores_it),
        cmocka_unit_test(test_proc_wait_or_communicate_cut_short_leaves_the_child_to_destroy),
        cmocka_unit_test(test_proc_options_set_env_cwd_and_where_stdio_goes),
        cmocka_unit_test(test_proc_many_children_of_one_thread_are_each_reaped_once),
        cmocka_unit_test(test_paused_pipe_blocks_the_child_until_reading_resumes),
    };
    return run_suite(tests, NULL, NULL);
}
