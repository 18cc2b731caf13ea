/* test_stale.c - stale handles (weft.h, "Stale handles").
 *
 * Tasks: a handle released once too often, whether its task still runs
 * or was freed, makes weft_task_release (and weft_await, weft_cancel)
 * return -EBADF; with WEFT_DEBUG=1 the same use aborts with a message
 * naming the object and the call (checked in a forked child). A group
 * child's borrowed pointer is no handle: releasing it is refused. The
 * freed-record cases read a freed task record, which is slab memory that
 * stays mapped in normal builds; under ASan and Valgrind the record is
 * malloc'd and freed for real, so those cases skip there (the sanitizer
 * reports such a use itself).
 *
 * Streams, listeners, UDP sockets and servers: each kind of stream (TCP,
 * Unix, a pipe, a file, TLS, a child's pipe after weft_proc_destroy, one
 * ended with weft_stream_abort), a listener, a UDP socket and a server,
 * used after its close freed it, return -EBADF from every call (the
 * calls that return no status answer as for a closed object: NULL,
 * false, 0); a new object opened meanwhile gets a record of its own, so
 * the stale pointer is still told. These records are type-stable in every build, ASan and
 * Valgrind included (the check reads only the record's header and lock),
 * so these cases run there too. With WEFT_DEBUG=1 a write on a closed
 * stream aborts, naming the stream and weft_stream_write.
 *
 * Covers: src/task.c (weft__task_stale, weft__stale), src/group.c,
 * src/stable.c, src/stream.c, src/net.c, src/udp.c, src/tls.c,
 * src/proc.c, src/server.c.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* Runs fn under weft_run in a forked child with WEFT_DEBUG=1 and its
 * stderr into buf; asserts that the child aborted. */
static void run_debug_child(weft_task_fn fn, char *buf, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        setenv("WEFT_DEBUG", "1", 1);
        weft_run(fn, NULL, NULL);
        _exit(0); /* not reached: the stale use aborts */
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(p[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

/* WEFT_DEBUG=1: the same misuse aborts, naming the object and the call. */
static void test_stale_double_release_aborts_under_weft_debug(void **state)
{
    (void)state;
    if (freed_checks_skip())
        skip();
    char buf[4096];
    run_debug_child(main_double_release_freed, buf, sizeof buf);
    assert_non_null(strstr(buf, "weft_task_release"));
    assert_non_null(strstr(buf, "task"));
    assert_non_null(strstr(buf, "stale"));
}

/* ---- streams, listeners, UDP sockets ---- */

/* Every call on s, a stream whose close freed it: -EBADF where a status
 * is returned; for the rest what a closed stream answers. */
static void assert_stream_stale(weft_stream_t *s)
{
    char b[8];
    const char *p = NULL;
    size_t got = 99;
    struct iovec v = {b, 1};
    weft_addr_t a;
    assert_int_equal(weft_stream_read(s, b, sizeof b), -EBADF);
    assert_int_equal(weft_stream_read_exactly(s, b, sizeof b, &got), -EBADF);
    assert_int_equal(got, 0);
    assert_int_equal(weft_stream_read_until(s, "x", 1, &p), -EBADF);
    assert_int_equal(weft_stream_read_line(s, &p), -EBADF);
    assert_int_equal(weft_stream_peek(s, &p), -EBADF);
    assert_int_equal(weft_stream_fill(s), -EBADF);
    assert_int_equal(weft_stream_consume(s, 0), -EBADF);
    assert_int_equal(weft_stream_set_error(s, -EIO), -EBADF);
    assert_int_equal(weft_stream_pause_reading(s), -EBADF);
    assert_int_equal(weft_stream_resume_reading(s), -EBADF);
    assert_int_equal(weft_stream_write(s, "x", 1), -EBADF);
    assert_int_equal(weft_stream_writev(s, &v, 1), -EBADF);
    assert_int_equal(weft_stream_drain(s), -EBADF);
    assert_int_equal(weft_stream_flush(s), -EBADF);
    assert_int_equal(weft_stream_shutdown(s), -EBADF);
    assert_int_equal(weft_stream_fd(s), -EBADF);
    assert_int_equal(weft_stream_set_nodelay(s, true), -EBADF);
    assert_int_equal(weft_stream_set_keepalive(s, true, 0, 0), -EBADF);
    assert_int_equal(weft_stream_local_addr(s, &a), -EBADF);
    assert_int_equal(weft_stream_peer_addr(s, &a), -EBADF);
    assert_false(weft_stream_at_eof(s));
    assert_true(weft_stream_is_closing(s));
    assert_int_equal(weft_stream_pending(s), 0);
    assert_int_equal(weft_stream_overrun_consumed(s), 0);
    assert_false(weft_stream_is_tls(s));
    assert_null(weft_tls_error(s));
    assert_null(weft_tls_alpn(s));
    assert_null(weft_tls_server_name(s));
    assert_null(weft_tls_version(s));
    weft_tls_ctx_t *c;
    if (weft_tls_ctx_create(&c, &(weft_tls_opts_t){.no_verify = true}) == 0) {
        assert_int_equal(weft_tls_wrap(s, c, NULL), -EBADF);
        weft_tls_ctx_release(c);
    }
    /* closing again, either way, is told too */
    assert_int_equal(weft_stream_close(s), -EBADF);
    assert_int_equal(weft_stream_abort(s), -EBADF);
}

/* A listener on 127.0.0.1, a port of the kernel's choosing, and a
 * connected pair of TCP streams through it. */
static void tcp_pair(weft_listener_t **l, weft_stream_t **c, weft_stream_t **s)
{
    assert_int_equal(weft_tcp_listen(l, "127.0.0.1", "0", NULL), 0);
    weft_addr_t a;
    assert_int_equal(weft_listener_addr(*l, &a), 0);
    assert_int_equal(weft_addr_connect(c, &a, NULL), 0);
    assert_int_equal(weft_listener_accept(*l, s, NULL, NULL), 0);
}

static int main_tcp(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_listener_t *l;
    weft_stream_t *c, *s;
    tcp_pair(&l, &c, &s);
    assert_int_equal(weft_stream_write(c, "hi\n", 3), 0);
    assert_int_equal(weft_stream_close(c), 0);
    assert_stream_stale(c);
    /* the peer is unharmed and reads what was sent, then the end */
    const char *line;
    assert_int_equal(weft_stream_read_line(s, &line), 3);
    char b[4];
    assert_int_equal(weft_stream_read(s, b, sizeof b), 0);
    assert_int_equal(weft_stream_close(s), 0);
    assert_int_equal(weft_listener_close(l), 0);
    return 0;
}

static void test_stale_tcp_stream_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_tcp, NULL);
}

static int main_abort(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_listener_t *l;
    weft_stream_t *c, *s;
    tcp_pair(&l, &c, &s);
    assert_int_equal(weft_stream_write(c, "queued", 6), 0);
    assert_int_equal(weft_stream_abort(c), 0);
    assert_stream_stale(c);
    assert_int_equal(weft_stream_close(s), 0);
    assert_int_equal(weft_listener_close(l), 0);
    return 0;
}

static void test_stale_stream_used_after_abort_returns_ebadf(void **state)
{
    (void)state;
    run(main_abort, NULL);
}

static int main_unix(void *arg, void **res)
{
    (void)arg, (void)res;
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-stale-%d.sock", (int)getpid());
    weft_listener_t *l;
    weft_stream_t *c, *s;
    assert_int_equal(weft_unix_listen(&l, path, NULL), 0);
    assert_int_equal(weft_unix_connect(&c, path, NULL), 0);
    assert_int_equal(weft_listener_accept(l, &s, NULL, NULL), 0);
    assert_int_equal(weft_stream_close(s), 0);
    assert_stream_stale(s);
    char b[4];
    assert_int_equal(weft_stream_read(c, b, sizeof b), 0);
    assert_int_equal(weft_stream_close(c), 0);
    assert_int_equal(weft_listener_close(l), 0);
    return 0;
}

static void test_stale_unix_stream_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_unix, NULL);
}

static int main_pipe(void *arg, void **res)
{
    (void)arg, (void)res;
    int p[2];
    assert_int_equal(pipe(p), 0);
    weft_stream_t *r, *w;
    assert_int_equal(weft_stream_open(&r, p[0], NULL), 0);
    assert_int_equal(weft_stream_open(&w, p[1], NULL), 0);
    assert_int_equal(weft_stream_write(w, "x", 1), 0);
    assert_int_equal(weft_stream_close(w), 0);
    assert_stream_stale(w);
    char b[4];
    assert_int_equal(weft_stream_read(r, b, sizeof b), 1);
    assert_int_equal(weft_stream_close(r), 0);
    assert_stream_stale(r);
    return 0;
}

static void test_stale_pipe_stream_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_pipe, NULL);
}

static int main_file(void *arg, void **res)
{
    (void)arg, (void)res;
    char path[] = "/tmp/weft-stale-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, fd, NULL), 0); /* a file: through the pool */
    assert_int_equal(weft_stream_write(s, "data", 4), 0);
    assert_int_equal(weft_stream_close(s), 0);
    assert_stream_stale(s);
    return 0;
}

static void test_stale_file_stream_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_file, NULL);
}

/* A TLS stream: a client whose handshake met plain text (so no
 * certificate is needed); it is a TLS stream all the same, with its
 * transport freed by the close. */
static bool no_openssl;

static int main_tls(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_tls_ctx_t *ctx;
    int rc = weft_tls_ctx_create(&ctx, &(weft_tls_opts_t){.no_verify = true});
    if (rc == -ENOTSUP) {
        no_openssl = true; /* built without OpenSSL */
        return 0;
    }
    assert_int_equal(rc, 0);
    int sv[2];
    socket_pair(sv, 0);
    static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    assert_int_equal(write(sv[1], junk, sizeof junk - 1), (ssize_t)sizeof junk - 1);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_true(weft_tls_wrap(s, ctx, NULL) < 0);
    assert_true(weft_stream_is_tls(s));
    assert_non_null(weft_tls_error(s));
    assert_int_equal(weft_stream_abort(s), 0);
    assert_stream_stale(s);
    close(sv[1]);
    assert_int_equal(weft_tls_ctx_release(ctx), 0);
    return 0;
}

static void test_stale_tls_stream_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_tls, NULL);
    if (no_openssl)
        skip();
}

static int main_proc(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_proc_t *p;
    const char *argv[] = {"true", NULL};
    weft_proc_opts_t o = {.in = WEFT_STDIO_PIPE, .out = WEFT_STDIO_PIPE};
    assert_int_equal(weft_proc_spawn(&p, argv, &o), 0);
    weft_stream_t *in = weft_proc_stdin(p), *out = weft_proc_stdout(p);
    assert_int_equal(weft_proc_wait(p, NULL), 0);
    assert_int_equal(weft_proc_destroy(p), 0); /* closes its pipes */
    assert_stream_stale(in);
    assert_stream_stale(out);
    return 0;
}

static void test_stale_child_pipe_used_after_proc_destroy_returns_ebadf(void **state)
{
    (void)state;
    run(main_proc, NULL);
}

/* A stream opened after the close gets a record of its own (the freed
 * one waits in quarantine), so the old pointer stays stale. */
static int main_reopen(void *arg, void **res)
{
    (void)arg, (void)res;
    int p[2];
    assert_int_equal(pipe(p), 0);
    weft_stream_t *old;
    assert_int_equal(weft_stream_open(&old, p[0], NULL), 0);
    assert_int_equal(weft_stream_close(old), 0);
    weft_stream_t *s[8];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pipe(p), 0);
        close(p[1]);
        assert_int_equal(weft_stream_open(&s[i], p[0], NULL), 0);
        assert_ptr_not_equal(s[i], old);
    }
    assert_int_equal(weft_stream_write(old, "x", 1), -EBADF);
    char b[4];
    assert_int_equal(weft_stream_read(old, b, sizeof b), -EBADF);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(weft_stream_read(s[i], b, sizeof b), 0); /* its own end */
        assert_int_equal(weft_stream_close(s[i]), 0);
    }
    return 0;
}

static void test_stale_stream_stays_stale_after_new_streams_open(void **state)
{
    (void)state;
    run(main_reopen, NULL);
}

static int main_listener(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_listener_t *l;
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    assert_int_equal(weft_listener_close(l), 0);
    weft_stream_t *s = NULL;
    weft_addr_t a;
    assert_int_equal(weft_listener_accept(l, &s, NULL, NULL), -EBADF);
    assert_null(s);
    assert_int_equal(weft_listener_addr(l, &a), -EBADF);
    assert_int_equal(weft_listener_fd(l), -EBADF);
    assert_int_equal(weft_listener_close(l), -EBADF);
    return 0;
}

static void test_stale_listener_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_listener, NULL);
}

static int main_udp(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_udp_t *u;
    weft_addr_t a;
    assert_int_equal(weft_addr_parse(&a, "127.0.0.1", 9), 0);
    assert_int_equal(weft_udp_open(&u, NULL, AF_INET), 0);
    assert_int_equal(weft_udp_close(u), 0);
    char b[4];
    assert_int_equal(weft_udp_connect(u, &a), -EBADF);
    assert_int_equal(weft_udp_sendto(u, "x", 1, &a), -EBADF);
    assert_int_equal(weft_udp_recvfrom(u, b, sizeof b, NULL), -EBADF);
    assert_int_equal(weft_udp_local_addr(u, &a), -EBADF);
    assert_int_equal(weft_udp_fd(u), -EBADF);
    assert_int_equal(weft_udp_close(u), -EBADF);
    return 0;
}

static void test_stale_udp_socket_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_udp, NULL);
}

static int serve_nothing(weft_stream_t *s, void *arg)
{
    (void)s, (void)arg;
    return 0;
}

static int main_server(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_server_t *srv;
    assert_int_equal(weft_server_listen(&srv, "127.0.0.1", "0", serve_nothing, NULL, NULL), 0);
    assert_int_equal(weft_server_close(srv, 0), 0); /* frees srv */
    weft_addr_t a;
    assert_int_equal(weft_server_addr(srv, &a), -EBADF);
    assert_int_equal(weft_server_conns(srv), 0);
    assert_int_equal(weft_server_workers(srv), -EBADF);
    assert_true(weft_server_closing(srv)); /* a closed server is closing */
    assert_int_equal(weft_server_wait(srv), -EBADF);
    assert_int_equal(weft_server_close(srv, 0), -EBADF);
    return 0;
}

static void test_stale_server_used_after_close_returns_ebadf(void **state)
{
    (void)state;
    run(main_server, NULL);
}

static int main_debug_stream(void *arg, void **res)
{
    (void)arg, (void)res;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    weft_stream_t *w;
    assert_int_equal(weft_stream_open(&w, p[1], NULL), 0);
    assert_int_equal(weft_stream_close(w), 0);
    weft_stream_write(w, "x", 1); /* aborts */
    return 0;
}

/* WEFT_DEBUG=1: a write on a closed stream aborts, naming it and the call. */
static void test_stale_stream_write_after_close_aborts_under_weft_debug(void **state)
{
    (void)state;
    char buf[4096];
    run_debug_child(main_debug_stream, buf, sizeof buf);
    assert_non_null(strstr(buf, "weft_stream_write"));
    assert_non_null(strstr(buf, "stream"));
    assert_non_null(strstr(buf, "stale"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_double_release_of_finished_task_returns_ebadf),
        cmocka_unit_test(test_stale_release_of_running_task_without_handle_returns_ebadf),
        cmocka_unit_test(test_stale_release_of_group_child_returns_ebadf),
        cmocka_unit_test(test_stale_double_release_aborts_under_weft_debug),
        cmocka_unit_test(test_stale_tcp_stream_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_stream_used_after_abort_returns_ebadf),
        cmocka_unit_test(test_stale_unix_stream_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_pipe_stream_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_file_stream_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_tls_stream_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_child_pipe_used_after_proc_destroy_returns_ebadf),
        cmocka_unit_test(test_stale_stream_stays_stale_after_new_streams_open),
        cmocka_unit_test(test_stale_listener_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_udp_socket_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_server_used_after_close_returns_ebadf),
        cmocka_unit_test(test_stale_stream_write_after_close_aborts_under_weft_debug),
    };
    return run_suite(tests, NULL, NULL);
}
