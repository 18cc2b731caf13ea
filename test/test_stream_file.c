/* test_stream_file.c - streams over regular files and /dev/null, whose
 * fds the kernel cannot wait on (epoll answers EPERM), read and written
 * through the thread pool: a task reads a command file line by line with
 * weft_stream_read_line, as `./robot < commands.txt` does (on fd 0 of a
 * child process too; also a file larger than a read-ahead, and a last
 * line without its newline, then end of file for good); writes never suspend and leave in the background,
 * and drain, flush and close write the rest (a file larger than a
 * write's chunk comes out whole and in order); /dev/null both ways;
 * what cannot work on a file says so (-ENOTSOCK for shutdown, socket
 * options and TLS, read(2)'s -EISDIR and -EBADF, -WEFT_ENOTASK for a read
 * outside a task); a read cancelled before it starts reads nothing.
 *
 * Covers: src/stream_file.c and the transport's wait hook in
 * src/stream.c.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/weft_sfile_XXXXXX";

static int make_dir(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return rmdir(dir);
}

/* dir/name, in a static buffer. */
static const char *path_of(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void put_file(const char *name, const char *data, size_t n)
{
    int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* The file's bytes, malloc'ed, their count in *n. */
static char *get_file(const char *name, size_t *n)
{
    int fd = open(path_of(name), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

static weft_stream_t *open_stream(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, fd, NULL), 0);
    return s;
}

/* ---- reading ---- */

static int t_commands(void *arg, void **res)
{
    (void)arg, (void)res;
    static const char cmds[] = "forward 10\nturn 90\n\nstop";
    put_file("commands.txt", cmds, sizeof cmds - 1);
    weft_stream_t *s = open_stream(path_of("commands.txt"), O_RDONLY);
    static const char *want[] = {"forward 10\n", "turn 90\n", "\n"};
    const char *line;
    for (int i = 0; i < 3; i++) {
        ssize_t n = weft_stream_read_line(s, &line);
        assert_int_equal(n, (ssize_t)strlen(want[i]));
        assert_memory_equal(line, want[i], (size_t)n);
    }
    /* the last line has no newline: the bytes stay for the caller */
    assert_int_equal(weft_stream_read_line(s, &line), -WEFT_EINCOMPLETE);
    assert_int_equal(weft_stream_peek(s, &line), 4);
    assert_memory_equal(line, "stop", 4);
    assert_int_equal(weft_stream_consume(s, 4), 0);
    assert_true(weft_stream_at_eof(s));
    char b[8];
    assert_int_equal(weft_stream_read(s, b, sizeof b), 0);
    assert_int_equal(weft_stream_read(s, b, sizeof b), 0); /* and again */
    assert_int_equal(weft_stream_close(s), 0);
    unlink(path_of("commands.txt"));
    return 0;
}

static void test_file_stream_reads_lines_then_a_last_line_without_newline_then_eof(void **state)
{
    run(t_commands, NULL);
}

static int t_big_read(void *arg, void **res)
{
    (void)arg, (void)res;
    /* 5,000 numbered lines, about 150 KiB: several read-aheads */
    size_t cap = 5000 * 32, len = 0;
    char *data = malloc(cap);
    for (int i = 0; i < 5000; i++)
        len += (size_t)snprintf(data + len, cap - len, "line %d of the file\n", i);
    put_file("big.txt", data, len);
    weft_stream_t *s = open_stream(path_of("big.txt"), O_RDONLY);
    const char *line;
    char want[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(want, sizeof want, "line %d of the file\n", i);
        assert_int_equal(weft_stream_read_line(s, &line), n);
        assert_memory_equal(line, want, (size_t)n);
    }
    assert_int_equal(weft_stream_read_line(s, &line), -WEFT_EINCOMPLETE);
    assert_true(weft_stream_at_eof(s));
    /* readexactly past the end: the bytes there were, then the end */
    weft_stream_close(s);
    s = open_stream(path_of("big.txt"), O_RDONLY);
    char *back = malloc(len + 10);
    size_t got = 0;
    assert_int_equal(weft_stream_read_exactly(s, back, len + 10, &got), -WEFT_EINCOMPLETE);
    assert_int_equal(got, len);
    assert_memory_equal(back, data, len);
    weft_stream_close(s);
    free(back);
    free(data);
    unlink(path_of("big.txt"));
    return 0;
}

static void test_file_stream_reads_a_file_larger_than_its_read_ahead_in_order(void **state)
{
    run(t_big_read, NULL);
}

/* `./robot < commands.txt`: a child process whose stdin is the file reads
 * it as a stream on fd 0 and exits with the number of lines. */
static int t_stdin(void *arg, void **res)
{
    (void)arg;
    weft_stream_t *in;
    int rc = weft_stream_open(&in, STDIN_FILENO, NULL);
    if (rc < 0)
        return rc;
    const char *line;
    intptr_t lines = 0;
    while ((rc = (int)weft_stream_read_line(in, &line)) > 0)
        lines++;
    weft_stream_close(in);
    *res = (void *)lines;
    return rc == -WEFT_EINCOMPLETE ? 0 : rc;
}

static void test_file_stream_on_stdin_redirected_from_a_file_reads_every_line(void **state)
{
    (void)state;
    put_file("robot.txt", "go\ngo\nturn\nstop\n", 17);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path_of("robot.txt"), O_RDONLY);
        if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
            _exit(100);
        void *lines = NULL;
        int rc = weft_run(t_stdin, NULL, &lines);
        _exit(rc == 0 ? (int)(intptr_t)lines : 101);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 4);
    unlink(path_of("robot.txt"));
}

/* ---- writing ---- */

static int t_write(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_stream_t *s = open_stream(path_of("log.txt"), O_WRONLY | O_CREAT | O_TRUNC);
    /* a write never suspends; the bytes leave in the background while
     * this task sleeps */
    assert_int_equal(weft_stream_write(s, "started\n", 8), 0);
    size_t n = 0;
    for (int i = 0; i < 400 && (n < 8 || weft_stream_pending(s) > 0); i++) {
        assert_int_equal(weft_sleep(WEFT_MSEC(5)), 0);
        free(get_file("log.txt", &n));
    }
    assert_int_equal(n, 8);
    assert_int_equal(weft_stream_pending(s), 0);

    /* 400 KiB of numbered lines in small writes, with drain: all of it,
     * in order, once close has flushed */
    size_t cap = 20000 * 24, len = 0;
    char *data = malloc(cap);
    for (int i = 0; i < 20000; i++) {
        int k = snprintf(data + len, cap - len, "entry %d\n", i);
        assert_int_equal(weft_stream_write(s, data + len, (size_t)k), 0);
        len += (size_t)k;
        if (i % 1000 == 0)
            assert_int_equal(weft_stream_drain(s), 0);
    }
    assert_int_equal(weft_stream_close(s), 0);
    char *back = get_file("log.txt", &n);
    assert_int_equal(n, len + 8);
    assert_memory_equal(back, "started\n", 8);
    assert_memory_equal(back + 8, data, len);
    free(back);
    free(data);
    unlink(path_of("log.txt"));
    return 0;
}

static void test_file_stream_writes_in_the_background_and_close_writes_the_rest(void **state)
{
    run(t_write, NULL);
}

static int t_flush(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_stream_t *s = open_stream(path_of("flushed.txt"), O_WRONLY | O_CREAT | O_TRUNC);
    static char big[300000];
    memset(big, 'z', sizeof big);
    assert_int_equal(weft_stream_write(s, big, sizeof big), 0);
    assert_int_equal(weft_stream_flush(s), 0); /* all of it is in the file now */
    assert_int_equal(weft_stream_pending(s), 0);
    size_t n;
    free(get_file("flushed.txt", &n));
    assert_int_equal(n, sizeof big);
    assert_int_equal(weft_stream_abort(s), 0);
    unlink(path_of("flushed.txt"));
    return 0;
}

static void test_file_stream_flush_returns_once_every_byte_is_in_the_file(void **state)
{
    run(t_flush, NULL);
}

/* ---- /dev/null ---- */

static int t_devnull(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_stream_t *s = open_stream("/dev/null", O_RDWR);
    char b[16];
    assert_int_equal(weft_stream_read(s, b, sizeof b), 0);
    assert_true(weft_stream_at_eof(s));
    const char *line;
    assert_int_equal(weft_stream_read_line(s, &line), -WEFT_EINCOMPLETE);
    static char big[1 << 20];
    assert_int_equal(weft_stream_write(s, big, sizeof big), 0);
    assert_int_equal(weft_stream_drain(s), 0);
    assert_int_equal(weft_stream_write(s, "x", 1), 0);
    assert_int_equal(weft_stream_flush(s), 0);
    assert_int_equal(weft_stream_pending(s), 0);
    assert_int_equal(weft_stream_close(s), 0);
    return 0;
}

static void test_file_stream_over_dev_null_reads_eof_and_takes_every_write(void **state)
{
    run(t_devnull, NULL);
}

/* ---- what cannot work ---- */

typedef struct {
    weft_stream_t *s;
    ssize_t rc;
} outside_t;

static void read_in_callback(void *arg)
{
    outside_t *o = arg;
    char b[4];
    o->rc = weft_stream_read(o->s, b, sizeof b);
}

static int t_cannot(void *arg, void **res)
{
    (void)arg, (void)res;
    put_file("x.txt", "abc\n", 4);
    weft_stream_t *s = open_stream(path_of("x.txt"), O_RDWR);
    assert_int_equal(weft_stream_shutdown(s), -ENOTSOCK);
    assert_int_equal(weft_stream_set_nodelay(s, true), -ENOTSOCK);
    weft_addr_t a;
    assert_int_equal(weft_stream_peer_addr(s, &a), -ENOTSOCK);
    weft_tls_ctx_t *ctx;
    weft_tls_opts_t to = {.no_verify = true};
    if (weft_tls_ctx_create(&ctx, &to) == 0) {
        assert_int_equal(weft_tls_wrap(s, ctx, NULL), -ENOTSOCK);
        assert_non_null(strstr(weft_tls_last_error(), "not a file"));
        weft_tls_ctx_release(ctx);
    }
    /* a read outside a task: the pool needs one to wait */
    outside_t o = {.s = s, .rc = 1};
    assert_int_equal(weft_call_soon(NULL, read_in_callback, &o), 0);
    settle();
    assert_int_equal(o.rc, -WEFT_ENOTASK);
    const char *line;
    assert_int_equal(weft_stream_read_line(s, &line), 4); /* nothing was lost */
    weft_stream_close(s);

    /* read(2)'s own words: a write-only fd, a directory */
    s = open_stream(path_of("x.txt"), O_WRONLY);
    char b[4];
    assert_int_equal(weft_stream_read(s, b, sizeof b), -EBADF);
    weft_stream_close(s);
    s = open_stream(dir, O_RDONLY | O_DIRECTORY);
    assert_int_equal(weft_stream_read(s, b, sizeof b), -EISDIR);
    assert_int_equal(weft_stream_read(s, b, sizeof b), -EISDIR); /* it sticks */
    weft_stream_close(s);
    unlink(path_of("x.txt"));
    return 0;
}

static void test_file_stream_says_what_cannot_work_on_a_file(void **state)
{
    run(t_cannot, NULL);
}

static int t_cancelled(void *arg, void **res)
{
    (void)arg, (void)res;
    put_file("c.txt", "one\ntwo\n", 8);
    weft_stream_t *s = open_stream(path_of("c.txt"), O_RDONLY);
    const char *line;
    /* cancelled before the call: nothing read, nothing lost */
    assert_int_equal(weft_cancel(weft_current()), 0);
    assert_int_equal(weft_stream_read_line(s, &line), -ECANCELED);
    assert_int_equal(weft_uncancel(), 1);
    assert_int_equal(weft_stream_read_line(s, &line), 4);
    assert_memory_equal(line, "one\n", 4);
    assert_int_equal(weft_stream_read_line(s, &line), 4);
    assert_memory_equal(line, "two\n", 4);
    weft_stream_close(s);
    /* a deadline passed: the same */
    s = open_stream(path_of("c.txt"), O_RDONLY);
    weft_deadline_t d;
    weft_deadline_push(&d, 0);
    char b[4];
    assert_int_equal(weft_stream_read_exactly(s, b, 4, NULL), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_int_equal(weft_stream_read_line(s, &line), 4);
    assert_memory_equal(line, "one\n", 4);
    weft_stream_close(s);
    unlink(path_of("c.txt"));
    return 0;
}

static void test_file_stream_read_cancelled_before_it_starts_reads_nothing(void **state)
{
    run(t_cancelled, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_stream_reads_lines_then_a_last_line_without_newline_then_eof),
        cmocka_unit_test(test_file_stream_reads_a_file_larger_than_its_read_ahead_in_order),
        cmocka_unit_test(test_file_stream_on_stdin_redirected_from_a_file_reads_every_line),
        cmocka_unit_test(test_file_stream_writes_in_the_background_and_close_writes_the_rest),
        cmocka_unit_test(test_file_stream_flush_returns_once_every_byte_is_in_the_file),
        cmocka_unit_test(test_file_stream_over_dev_null_reads_eof_and_takes_every_write),
        cmocka_unit_test(test_file_stream_says_what_cannot_work_on_a_file),
        cmocka_unit_test(test_file_stream_read_cancelled_before_it_starts_reads_nothing),
    };
    return run_suite(tests, make_dir, remove_dir);
}
