/* test_curl.c - examples/curl_fetch (libcurl's multi-socket interface
 * driven by weft_fd_wait and weft_call_later) against examples/http_hello
 * on loopback: 200 URLs fetched at once, every output line exactly
 * "200 5 URL" in the order given, exit status 0; a URL on a closed port
 * among good ones: its line is "0 0 URL", the others still "200 5 URL",
 * and the exit status is 1; no URL at all: usage, exit status 2.
 *
 * http_hello is started with port 0 and prints the port it took. The
 * examples are found in WEFT_EXAMPLES_DIR (set by test/CMakeLists.txt),
 * else WEFT_TEST_BINDIR/../examples; the test is skipped when curl_fetch
 * was not built (no libcurl). Every read of a child's output has a 60 s
 * limit, so a hang fails the test instead of hanging it.
 *
 * Covers: examples/curl_fetch.c, src/fdwait.c.
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

static pid_t server = -1;
static int server_port;

/* Starts examples/<name> with argv; returns its pid, its stdout in *out. */
static pid_t spawn(const char *name, char *const argv[], int *out)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execv(example_path(name), argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* Reads fd until it ends (or nothing comes for 60 s) into a malloc'd,
 * NUL-terminated buffer. */
static char *read_all(int fd)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 60000) <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    return buf;
}

/* Waits (at most 60 s) for pid to exit; returns its exit status. */
static int exit_status(pid_t pid)
{
    int st = 0;
    for (int i = 0; i < 6000; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            assert_true(WIFEXITED(st));
            return WEXITSTATUS(st);
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fail_msg("child %d did not exit", (int)pid);
    return -1;
}

static int start_server(void **state)
{
    if (access(example_path("curl_fetch"), X_OK) != 0 ||
        access(example_path("http_hello"), X_OK) != 0)
        return 0; /* the tests skip */
    char *argv[] = {"http_hello", "0", NULL};
    int out;
    server = spawn("http_hello", argv, &out);
    char line[256];
    size_t len = 0;
    while (len + 1 < sizeof line && !memchr(line, '\n', len)) {
        struct pollfd pfd = {.fd = out, .events = POLLIN};
        if (poll(&pfd, 1, 30000) <= 0)
            break;
        ssize_t n = read(out, line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = 0;
    close(out);
    const char *prefix = "http_hello: listening on 127.0.0.1:";
    if (strncmp(line, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "http_hello did not start: \"%s\"\n", line);
        return -1;
    }
    server_port = atoi(line + strlen(prefix));
    return server_port > 0 ? 0 : -1;
}

static int stop_server(void **state)
{
    if (server > 0) {
        kill(server, SIGTERM);
        int st;
        waitpid(server, &st, 0);
        server = -1;
    }
    return 0;
}

static void need_examples(void)
{
    if (server <= 0)
        skip();
}

/* Runs curl_fetch over urls[0..n); returns its exit status, its stdout
 * in *out (malloc'd). */
static int run_fetch(char **urls, int n, char **out)
{
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    assert_non_null(argv);
    argv[0] = "curl_fetch";
    for (int i = 0; i < n; i++)
        argv[i + 1] = urls[i];
    int fd;
    pid_t pid = spawn("curl_fetch", argv, &fd);
    *out = read_all(fd);
    close(fd);
    free(argv);
    return exit_status(pid);
}

/* A port nothing listens on: bound once, then released. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Checks that out has exactly n lines, line i == expect[i]. */
static void check_lines(const char *out, char **expect, int n)
{
    const char *p = out;
    for (int i = 0; i < n; i++) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            fail_msg("line %d missing (expected \"%s\")", i + 1, expect[i]);
        size_t len = (size_t)(nl - p);
        if (len != strlen(expect[i]) || memcmp(p, expect[i], len) != 0)
            fail_msg("line %d: \"%.*s\", expected \"%s\"", i + 1, (int)len, p, expect[i]);
        p = nl + 1;
    }
    if (*p)
        fail_msg("unexpected output after %d lines: \"%s\"", n, p);
}

enum { N = 200 };

static void test_curl_fetch_gets_200_urls_at_once_in_order(void **state)
{
    need_examples();
    static char urlbuf[N][64], linebuf[N][80];
    char *urls[N], *expect[N];
    for (int i = 0; i < N; i++) {
        snprintf(urlbuf[i], sizeof urlbuf[i], "http://127.0.0.1:%d/u%d", server_port, i);
        snprintf(linebuf[i], sizeof linebuf[i], "200 5 %s", urlbuf[i]);
        urls[i] = urlbuf[i];
        expect[i] = linebuf[i];
    }
    char *out;
    int st = run_fetch(urls, N, &out);
    check_lines(out, expect, N);
    assert_int_equal(st, 0);
    free(out);
}

static void test_curl_fetch_reports_a_failing_url_and_fetches_the_rest(void **state)
{
    need_examples();
    char good1[64], bad[64], good2[64], e1[80], e2[80], e3[80];
    snprintf(good1, sizeof good1, "http://127.0.0.1:%d/a", server_port);
    snprintf(bad, sizeof bad, "http://127.0.0.1:%d/nobody", closed_port());
    snprintf(good2, sizeof good2, "http://127.0.0.1:%d/b", server_port);
    snprintf(e1, sizeof e1, "200 5 %s", good1);
    snprintf(e2, sizeof e2, "0 0 %s", bad);
    snprintf(e3, sizeof e3, "200 5 %s", good2);
    char *urls[] = {good1, bad, good2};
    char *expect[] = {e1, e2, e3};
    char *out;
    int st = run_fetch(urls, 3, &out);
    check_lines(out, expect, 3);
    assert_int_equal(st, 1);
    free(out);
}

static void test_curl_fetch_without_urls_exits_2_printing_nothing(void **state)
{
    need_examples();
    char *out;
    int st = run_fetch(NULL, 0, &out);
    assert_int_equal(st, 2);
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_fetch_gets_200_urls_at_once_in_order),
        cmocka_unit_test(test_curl_fetch_reports_a_failing_url_and_fetches_the_rest),
        cmocka_unit_test(test_curl_fetch_without_urls_exits_2_printing_nothing),
    };
    return run_suite(tests, start_server, stop_server);
}
