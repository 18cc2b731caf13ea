/* test_examples.c - the network examples, run as their users run them:
 * each server is started as a child process with port 0 (it picks a free
 * port and prints "NAME: listening on 127.0.0.1:PORT", which the test
 * reads), spoken to over plain blocking sockets, and stopped with SIGTERM,
 * after which it must exit with status 0.
 *
 *  - echo_server: round trips, a large message, two clients at once;
 *    fanout against it (200 * WEFT_TEST_SCALE connections) exits 0.
 *  - http_hello: keep-alive, 100 pipelined GETs in one write answered by
 *    100 responses, HEAD, Connection: close, 405 (connection kept), 400,
 *    431 (a head as large as the buffer), HTTP/1.0 with and without
 *    keep-alive, a body skipped by its Content-Length.
 *  - mini_redis: every command with its exact RESP reply (errors included),
 *    binary-safe keys and values, expiry, 100 pipelined commands, the
 *    inline form, a protocol error closing the connection, and redis-cli
 *    when it is installed (skipped otherwise).
 *
 * The examples are found in WEFT_EXAMPLES_DIR (set by test/CMakeLists.txt),
 * else in WEFT_TEST_BINDIR/../examples; the test is skipped when they were
 * not built. Every socket read has a 20 s timeout, so a hung server fails
 * the test rather than hanging it.
 *
 * Covers: examples/echo_server.c, examples/http_hello.c,
 * examples/mini_redis.c, examples/fanout.c, examples/proto/.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Child processes.
 * --------------------------------------------------------------------- */

typedef struct child {
    pid_t pid;
    int out; /* read end of its stdout */
    int port;
} child_t;

/* The server of the running test, killed by the teardown if a failed
 * assertion left it behind. */
static pid_t current = -1;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Starts examples/<name> with args; its stdout comes back through a pipe. */
static child_t spawn(const char *name, char *const args[])
{
    child_t c = {.pid = -1, .out = -1, .port = 0};
    int p[2];
    assert_int_equal(pipe(p), 0);
    c.pid = fork();
    assert_true(c.pid >= 0);
    if (c.pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execv(example_path(name), args);
        _exit(127);
    }
    close(p[1]);
    c.out = p[0];
    return c;
}

/* Reads the child's stdout until it ends, or until nothing came for
 * timeout_ms. */
static size_t read_output(child_t *c, char *buf, size_t size, int timeout_ms)
{
    size_t len = 0;
    while (len + 1 < size) {
        struct pollfd pfd = {.fd = c->out, .events = POLLIN};
        if (poll(&pfd, 1, timeout_ms) <= 0)
            break;
        ssize_t n = read(c->out, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    return len;
}

/* Waits for the child to exit (at most 30 s) and returns its wait status. */
static int wait_exit(child_t *c)
{
    int status = 0;
    for (int i = 0; i < 3000; i++) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid) {
            if (c->out >= 0)
                close(c->out);
            c->out = -1;
            current = -1;
            return status;
        }
        sleep_ms(10);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &status, 0);
    fail_msg("child %d did not exit", (int)c->pid);
    return -1;
}

static child_t start_server(const char *name)
{
    char *args[] = {(char *)name, "0", NULL};
    char line[256], prefix[64];
    child_t c = spawn(name, args);
    current = c.pid;

    /* The first line says where it listens; ASan start-up can be slow. */
    size_t len = 0;
    while (len + 1 < sizeof line && !memchr(line, '\n', len)) {
        struct pollfd pfd = {.fd = c.out, .events = POLLIN};
        if (poll(&pfd, 1, 30000) <= 0)
            break;
        ssize_t n = read(c.out, line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = 0;
    snprintf(prefix, sizeof prefix, "%s: listening on 127.0.0.1:", name);
    if (strncmp(line, prefix, strlen(prefix)) != 0)
        fail_msg("%s did not start: \"%s\"", name, line);
    c.port = atoi(line + strlen(prefix));
    assert_true(c.port > 0 && c.port < 65536);
    return c;
}

/* SIGTERM must stop a server cleanly: exit status 0. */
static void stop_server(child_t *c)
{
    assert_int_equal(kill(c->pid, SIGTERM), 0);
    int status = wait_exit(c);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int kill_leftover(void **state)
{
    if (current > 0) {
        kill(current, SIGKILL);
        waitpid(current, NULL, 0);
        current = -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Sockets.
 * --------------------------------------------------------------------- */

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Receives exactly n bytes (fails on end of stream or the timeout). */
static void recv_exact(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            fail_msg("recv: %s", r == 0 ? "end of stream" : strerror(errno));
        p += r;
        n -= (size_t)r;
    }
}

/* Receives exactly strlen(want) bytes and compares them with want. */
static void expect_str(int fd, const char *want)
{
    static char got[16384];
    size_t n = strlen(want);
    assert_true(n < sizeof got);
    recv_exact(fd, got, n);
    got[n] = 0;
    if (memcmp(got, want, n) != 0)
        fail_msg("expected \"%s\", got \"%s\"", want, got);
}

/* The peer closed: recv sees the end of stream (or a reset after it). */
static void expect_closed(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
}

static void round_trip(int fd, const char *send, const char *want)
{
    send_str(fd, send);
    expect_str(fd, want);
}

/* ------------------------------------------------------------------------
 * echo_server and fanout.
 * --------------------------------------------------------------------- */

static void test_echo_server_echoes_each_client_and_large_writes_whole(void **state)
{
    child_t srv = start_server("echo_server");
    int a = connect_to(srv.port), b = connect_to(srv.port);

    round_trip(a, "hello\n", "hello\n");
    round_trip(b, "from b", "from b");
    round_trip(a, "again", "again");

    /* Larger than one read of the server: it arrives in pieces. */
    size_t n = 60000;
    char *big = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 13 + (i >> 9));
    send_all(a, big, n);
    recv_exact(a, back, n);
    assert_memory_equal(big, back, n);
    free(big);
    free(back);

    close(a);
    close(b);
    stop_server(&srv);
}

static void test_fanout_drives_many_connections_without_errors(void **state)
{
    child_t srv = start_server("echo_server");
    char port[16], conns[32], out[512];
    long n = (long)(200 * test_scale());
    if (n < 1)
        n = 1;
    snprintf(port, sizeof port, "%d", srv.port);
    snprintf(conns, sizeof conns, "%ld", n);
    char *args[] = {"fanout", "127.0.0.1", port, conns, "1024", NULL};
    child_t f = spawn("fanout", args);

    read_output(&f, out, sizeof out, 60000);
    int status = wait_exit(&f);
    current = srv.pid;
    char want[64];
    snprintf(want, sizeof want, "conns %ld bytes 1024 seconds ", n);
    if (strncmp(out, want, strlen(want)) != 0 || !strstr(out, " errors 0\n"))
        fail_msg("fanout printed \"%s\"", out);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    stop_server(&srv);
}

/* ------------------------------------------------------------------------
 * http_hello.
 * --------------------------------------------------------------------- */

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
#define OK OK_HEAD "\r\nhello"
#define GET "GET / HTTP/1.1\r\nHost: test\r\n\r\n"

static void test_http_hello_answers_requests_on_a_kept_alive_connection(void **state)
{
    child_t srv = start_server("http_hello");
    int fd = connect_to(srv.port);

    round_trip(fd, GET, OK);
    round_trip(fd, "GET /other?x=1 HTTP/1.1\r\nHost: test\r\nAccept: */*\r\n\r\n", OK);
    round_trip(fd, "HEAD / HTTP/1.1\r\n\r\n", OK_HEAD "\r\n");
    /* A bare LF ends lines too; empty lines between requests are skipped. */
    round_trip(fd, "\r\nGET / HTTP/1.1\nHost: test\n\n", OK);
    /* A body is skipped by its length, whatever the method. */
    round_trip(fd, "GET / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody" GET, OK OK);
    /* A request split across writes. */
    send_str(fd, "GET / HT");
    sleep_ms(20);
    round_trip(fd, "TP/1.1\r\n\r\n", OK);
    close(fd);
    stop_server(&srv);
}

static void test_http_hello_answers_a_hundred_pipelined_requests_in_order(void **state)
{
    child_t srv = start_server("http_hello");
    int fd = connect_to(srv.port);
    size_t reqlen = strlen(GET), resplen = strlen(OK);
    char *reqs = malloc(100 * reqlen + 1), *resps = malloc(100 * resplen + 1);

    for (int i = 0; i < 100; i++) {
        memcpy(reqs + i * reqlen, GET, reqlen);
        memcpy(resps + i * resplen, OK, resplen);
    }
    reqs[100 * reqlen] = resps[100 * resplen] = 0;
    round_trip(fd, reqs, resps);
    /* And again, on the same connection. */
    round_trip(fd, reqs, resps);
    free(reqs);
    free(resps);
    close(fd);
    stop_server(&srv);
}

static void test_http_hello_closes_after_a_connection_close_request(void **state)
{
    child_t srv = start_server("http_hello");
    int fd = connect_to(srv.port);

    /* Connection: close is honoured after the response; what follows in
     * the same write is not answered. */
    round_trip(fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n" GET,
               OK_HEAD "Connection: close\r\n\r\nhello");
    expect_closed(fd);
    close(fd);
    stop_server(&srv);
}

static void test_http_hello_closes_http_1_0_unless_asked_to_keep_alive(void **state)
{
    child_t srv = start_server("http_hello");
    /* HTTP/1.0 closes by default, stays with keep-alive. */
    int fd = connect_to(srv.port);
    round_trip(fd, "GET / HTTP/1.0\r\n\r\n", OK_HEAD "Connection: close\r\n\r\nhello");
    expect_closed(fd);
    close(fd);
    fd = connect_to(srv.port);
    round_trip(fd, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
               OK_HEAD "Connection: keep-alive\r\n\r\nhello");
    round_trip(fd, GET, OK);
    close(fd);
    stop_server(&srv);
}

static void test_http_hello_answers_405_and_keeps_the_connection(void **state)
{
    child_t srv = start_server("http_hello");
    int fd = connect_to(srv.port);

    /* 405 keeps the connection. */
    round_trip(fd, "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
               "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n\r\n");
    round_trip(fd, GET, OK);
    close(fd);
    stop_server(&srv);
}

static void test_http_hello_answers_400_to_a_malformed_request_and_closes(void **state)
{
    child_t srv = start_server("http_hello");
    int fd;
    static const char *const bad[] = {
        "GET /\r\n\r\n",                             /* no version */
        "GET  / HTTP/1.1\r\n\r\n",                   /* two spaces */
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",   /* not a header */
        "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", /* obsolete folding */
        "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "\x01\x02\x03 garbage\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd = connect_to(srv.port);
        /* Requests before the bad one are answered. */
        send_str(fd, GET);
        round_trip(fd, bad[i],
                   OK "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        expect_closed(fd);
        close(fd);
    }
    stop_server(&srv);
}

static void test_http_hello_answers_505_to_another_version_and_closes(void **state)
{
    child_t srv = start_server("http_hello");
    int fd = connect_to(srv.port);
    round_trip(fd, "GET / HTTP/2.0\r\n\r\n",
               "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n");
    expect_closed(fd);
    close(fd);
    stop_server(&srv);
}

static void test_http_hello_answers_431_to_a_head_that_fills_its_buffer(void **state)
{
    child_t srv = start_server("http_hello");
    int fd;
    /* A head that fills the whole 64 KiB buffer: 431. Exactly the buffer's
     * size, so that no unread byte turns the close into a reset. */
    size_t n = 65536;
    char *head = malloc(n);
    memcpy(head, "GET /", 5);
    memset(head + 5, 'a', n - 5);
    fd = connect_to(srv.port);
    send_all(fd, head, n);
    expect_str(fd, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
                   "Connection: close\r\n\r\n");
    expect_closed(fd);
    close(fd);
    free(head);
    stop_server(&srv);
}

/* ------------------------------------------------------------------------
 * mini_redis.
 * --------------------------------------------------------------------- */

static void test_mini_redis_answers_each_command_as_redis_does(void **state)
{
    child_t srv = start_server("mini_redis");
    int fd = connect_to(srv.port);

    round_trip(fd, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n");
    round_trip(fd, "*2\r\n$4\r\nping\r\n$2\r\nhi\r\n", "$2\r\nhi\r\n");
    round_trip(fd, "*3\r\n$4\r\nPING\r\n$1\r\na\r\n$1\r\nb\r\n",
               "-ERR wrong number of arguments for 'ping' command\r\n");
    round_trip(fd, "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n", "$5\r\nhello\r\n");
    round_trip(fd, "*1\r\n$4\r\nECHO\r\n", "-ERR wrong number of arguments for 'echo' command\r\n");

    round_trip(fd, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", "$-1\r\n");
    round_trip(fd, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$3\r\nget\r\n$3\r\nkey\r\n", "$5\r\nvalue\r\n");
    /* Overwrite with a longer, then a shorter value. */
    round_trip(fd, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$12\r\nlonger value\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", "$12\r\nlonger value\r\n");
    round_trip(fd, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", "$0\r\n\r\n");
    round_trip(fd, "*1\r\n$3\r\nGET\r\n", "-ERR wrong number of arguments for 'get' command\r\n");
    round_trip(fd, "*2\r\n$3\r\nSET\r\n$1\r\nk\r\n",
               "-ERR wrong number of arguments for 'set' command\r\n");

    /* Binary-safe: NUL, CR and LF inside a key and a value. */
    static const char set_bin[] = "*3\r\n$3\r\nSET\r\n$5\r\na\0b\r\n\r\n$4\r\n\r\n\0z\r\n";
    static const char get_bin[] = "*2\r\n$3\r\nGET\r\n$5\r\na\0b\r\n\r\n";
    send_all(fd, set_bin, sizeof set_bin - 1);
    expect_str(fd, "+OK\r\n");
    send_all(fd, get_bin, sizeof get_bin - 1);
    char got[10];
    recv_exact(fd, got, 10);
    assert_memory_equal(got, "$4\r\n\r\n\0z\r\n", 10);

    /* Options of SET. */
    round_trip(fd, "*5\r\n$3\r\nSET\r\n$1\r\nn\r\n$1\r\n1\r\n$2\r\nNX\r\n$2\r\nXX\r\n",
               "-ERR syntax error\r\n");
    round_trip(fd, "*4\r\n$3\r\nSET\r\n$1\r\nn\r\n$1\r\n1\r\n$2\r\nXX\r\n", "$-1\r\n");
    round_trip(fd, "*4\r\n$3\r\nSET\r\n$1\r\nn\r\n$1\r\n1\r\n$2\r\nnx\r\n", "+OK\r\n");
    round_trip(fd, "*4\r\n$3\r\nSET\r\n$1\r\nn\r\n$1\r\n2\r\n$2\r\nNX\r\n", "$-1\r\n");
    round_trip(fd, "*4\r\n$3\r\nSET\r\n$1\r\nn\r\n$1\r\n3\r\n$2\r\nXX\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$3\r\nGET\r\n$1\r\nn\r\n", "$1\r\n3\r\n");
    round_trip(fd, "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$3\r\nBAD\r\n",
               "-ERR syntax error\r\n");
    round_trip(fd, "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n",
               "-ERR syntax error\r\n");
    round_trip(fd, "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$3\r\nabc\r\n",
               "-ERR value is not an integer or out of range\r\n");
    round_trip(fd, "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$1\r\n0\r\n",
               "-ERR invalid expire time in 'set' command\r\n");
    /* Expiry: 1 ms to live, then looked at 100 ms later. */
    round_trip(fd, "*5\r\n$3\r\nSET\r\n$1\r\nt\r\n$1\r\nv\r\n$2\r\nPX\r\n$1\r\n1\r\n", "+OK\r\n");
    round_trip(fd, "*5\r\n$3\r\nSET\r\n$1\r\nu\r\n$1\r\nv\r\n$2\r\nex\r\n$4\r\n1000\r\n",
               "+OK\r\n");
    sleep_ms(100);
    round_trip(fd, "*2\r\n$3\r\nGET\r\n$1\r\nt\r\n", "$-1\r\n");
    round_trip(fd, "*3\r\n$6\r\nEXISTS\r\n$1\r\nt\r\n$1\r\nu\r\n", ":1\r\n");

    /* DEL and EXISTS count keys (EXISTS counts repeats). */
    round_trip(fd, "*4\r\n$6\r\nEXISTS\r\n$1\r\nn\r\n$1\r\nn\r\n$4\r\nnone\r\n", ":2\r\n");
    round_trip(fd, "*4\r\n$3\r\nDEL\r\n$1\r\nn\r\n$1\r\nu\r\n$4\r\nnone\r\n", ":2\r\n");
    round_trip(fd, "*2\r\n$6\r\nEXISTS\r\n$1\r\nn\r\n", ":0\r\n");
    round_trip(fd, "*1\r\n$3\r\nDEL\r\n", "-ERR wrong number of arguments for 'del' command\r\n");

    /* INCR. */
    round_trip(fd, "*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n", ":1\r\n");
    round_trip(fd, "*2\r\n$4\r\nincr\r\n$1\r\nc\r\n", ":2\r\n");
    round_trip(fd, "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n", "$1\r\n2\r\n");
    round_trip(fd, "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$2\r\n-5\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n", ":-4\r\n");
    round_trip(fd, "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$3\r\nabc\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n",
               "-ERR value is not an integer or out of range\r\n");
    round_trip(fd, "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$2\r\n07\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n",
               "-ERR value is not an integer or out of range\r\n");
    round_trip(fd, "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$19\r\n9223372036854775807\r\n", "+OK\r\n");
    round_trip(fd, "*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n",
               "-ERR increment or decrement would overflow\r\n");

    /* Unknown commands, as Redis words it. */
    round_trip(fd, "*3\r\n$6\r\nNOSUCH\r\n$1\r\na\r\n$2\r\nbc\r\n",
               "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'bc' \r\n");
    round_trip(fd, "*1\r\n$3\r\nfoo\r\n",
               "-ERR unknown command 'foo', with args beginning with: \r\n");
    /* CR and LF never reach an error line. */
    round_trip(fd, "*1\r\n$4\r\nf\r\nx\r\n",
               "-ERR unknown command 'f  x', with args beginning with: \r\n");

    /* Many keys: the table grows. */
    char cmd[256], want[32];
    for (int i = 0; i < 3000; i++) {
        int kl = snprintf(want, sizeof want, "key:%d", i);
        snprintf(cmd, sizeof cmd, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", kl, want, kl,
                 want);
        round_trip(fd, cmd, "+OK\r\n");
    }
    for (int i = 0; i < 3000; i += 7) {
        int kl = snprintf(want, sizeof want, "key:%d", i);
        snprintf(cmd, sizeof cmd, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, want);
        char reply[80];
        snprintf(reply, sizeof reply, "$%d\r\n%s\r\n", kl, want);
        round_trip(fd, cmd, reply);
    }
    close(fd);
    stop_server(&srv);
}

static void test_mini_redis_answers_pipelined_and_inline_commands_in_order(void **state)
{
    child_t srv = start_server("mini_redis");
    int fd = connect_to(srv.port);
    char *reqs = malloc(100 * 64), *resps = malloc(100 * 64), *rp = reqs, *sp = resps;

    for (int i = 0; i < 50; i++) {
        rp += sprintf(rp, "*3\r\n$3\r\nSET\r\n$2\r\nk%d\r\n$2\r\nv%d\r\n", i % 10, i % 10);
        sp += sprintf(sp, "+OK\r\n");
        rp += sprintf(rp, "*2\r\n$3\r\nGET\r\n$2\r\nk%d\r\n", i % 10);
        sp += sprintf(sp, "$2\r\nv%d\r\n", i % 10);
    }
    round_trip(fd, reqs, resps);

    /* Inline commands, as telnet and redis-benchmark's PING_INLINE send. */
    round_trip(fd, "PING\r\n", "+PONG\r\n");
    round_trip(fd, "PING\r\nPING\nping  hello \r\n", "+PONG\r\n+PONG\r\n$5\r\nhello\r\n");
    round_trip(fd, "\r\nSET  inline  value\r\nGET inline\r\n", "+OK\r\n$5\r\nvalue\r\n");
    /* Mixed forms, pipelined, split mid-command. */
    send_str(fd, "PING\r\n*2\r\n$4\r\nECHO\r\n$3\r\nab");
    sleep_ms(20);
    round_trip(fd, "c\r\nPING\r\n", "+PONG\r\n$3\r\nabc\r\n+PONG\r\n");
    /* Empty multibulks are ignored. */
    round_trip(fd, "*0\r\n*-1\r\nPING\r\n", "+PONG\r\n");
    close(fd);
    free(reqs);
    free(resps);
    stop_server(&srv);
}

static void test_mini_redis_protocol_error_answers_then_closes(void **state)
{
    child_t srv = start_server("mini_redis");
    /* A protocol error answers, then closes; replies before it still come. */
    int fd = connect_to(srv.port);
    round_trip(fd, "PING\r\n*1\r\n$x\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
    expect_closed(fd);
    close(fd);
    fd = connect_to(srv.port);
    round_trip(fd, "*1\r\n#4\r\n", "-ERR Protocol error: expected '$'\r\n");
    expect_closed(fd);
    close(fd);
    fd = connect_to(srv.port);
    round_trip(fd, "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    expect_closed(fd);
    close(fd);
    stop_server(&srv);
}

/* Runs `redis-cli -p PORT args` and returns its output. */
static void redis_cli(int port, const char *args, char *out, size_t size)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d %s 2>&1", port, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
}

static void test_mini_redis_serves_redis_cli(void **state)
{
    if (system("command -v redis-cli >/dev/null 2>&1") != 0) {
        print_message("redis-cli not installed: skipped\n");
        skip();
    }
    child_t srv = start_server("mini_redis");
    char out[256];

    redis_cli(srv.port, "PING", out, sizeof out);
    assert_string_equal(out, "PONG\n");
    redis_cli(srv.port, "SET greeting 'hello world'", out, sizeof out);
    assert_string_equal(out, "OK\n");
    redis_cli(srv.port, "GET greeting", out, sizeof out);
    assert_string_equal(out, "hello world\n");
    /* Not on a terminal, redis-cli prints replies bare: no "(integer)". */
    redis_cli(srv.port, "INCR n", out, sizeof out);
    assert_string_equal(out, "1\n");
    redis_cli(srv.port, "DEL greeting n missing", out, sizeof out);
    assert_string_equal(out, "2\n");
    redis_cli(srv.port, "GET greeting", out, sizeof out);
    assert_string_equal(out, "\n");
    redis_cli(srv.port, "NOSUCH x", out, sizeof out);
    assert_string_equal(out, "ERR unknown command 'NOSUCH', with args beginning with: 'x' \n\n");
    stop_server(&srv);
}

int main(void)
{
    static const char *const needed[] = {"echo_server", "http_hello", "mini_redis", "fanout"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        if (access(example_path(needed[i]), X_OK) != 0) {
            /* Built with WEFT_BUILD_EXAMPLES=OFF: nothing to test. */
            printf("test_examples: %s not built: skipped\n", example_path(needed[i]));
            return 0;
        }
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_echo_server_echoes_each_client_and_large_writes_whole,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_fanout_drives_many_connections_without_errors,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_answers_requests_on_a_kept_alive_connection,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_answers_a_hundred_pipelined_requests_in_order,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_closes_after_a_connection_close_request,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_closes_http_1_0_unless_asked_to_keep_alive,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_answers_405_and_keeps_the_connection,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_answers_400_to_a_malformed_request_and_closes,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_answers_505_to_another_version_and_closes,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_http_hello_answers_431_to_a_head_that_fills_its_buffer,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_mini_redis_answers_each_command_as_redis_does,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_mini_redis_answers_pipelined_and_inline_commands_in_order,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_mini_redis_protocol_error_answers_then_closes,
                                  kill_leftover),
        cmocka_unit_test_teardown(test_mini_redis_serves_redis_cli, kill_leftover),
    };
    return run_suite(tests, NULL, NULL);
}
