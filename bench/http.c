/* http.c - the `http` workload: `wrk -t1 -c100 -d<secs>s --latency` against
 * a server that answers every GET with 200 "hello"; req_per_s, p99_us and
 * server_cpu_us per request (the server's utime + stime over the wrk run /
 * requests).
 *
 * Servers: weft (build/examples/http_hello, WEFT_WORKERS=1 and 2), nginx (one
 * process, no master, `return 200 "hello"`, no access log; the config is
 * bench/peers/nginx.conf.in written into a fresh temporary directory that
 * also holds its pid, error log and temp paths, so it runs as any user),
 * go (build/bench/peers/http-go, net/http, GOMAXPROCS 1 and 2; the procs-2
 * run pins neither side). wrk on CPU 1, the server on CPU 0. Each server
 * first answers one GET checked by hand, then gets a 1 s wrk warm-up, then
 * the measured run. Lines also carry `requests` and `errors` (wrk's socket
 * errors plus non-2xx/3xx answers).
 */
#include "bench.h"
#include "netbench.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTTP_SECONDS 3.0

static const char *const W = "http";

/* ---- wrk's report ---- */

/* A wrk duration ("812.00us", "1.23ms", "2.00s") in microseconds, or -1. */
static double wrk_us(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    if (strncmp(end, "us", 2) == 0)
        return v;
    if (strncmp(end, "ms", 2) == 0)
        return v * 1e3;
    if (strncmp(end, "m", 1) == 0)
        return v * 60e6;
    if (strncmp(end, "s", 1) == 0)
        return v * 1e6;
    return -1;
}

typedef struct wrk_result {
    double req_per_s, p99_us, requests, errors;
} wrk_result_t;

static bool parse_wrk(const char *out, wrk_result_t *r)
{
    *r = (wrk_result_t){.req_per_s = -1, .p99_us = -1, .requests = -1};
    const char *p;
    if ((p = strstr(out, "Requests/sec:")))
        r->req_per_s = strtod(p + strlen("Requests/sec:"), NULL);
    if ((p = strstr(out, "Latency Distribution")) && (p = strstr(p, "99%")))
        r->p99_us = wrk_us(p + 3 + strspn(p + 3, " \t"));
    /* "  123456 requests in 3.00s, 9.87MB read" */
    if ((p = strstr(out, " requests in "))) {
        const char *q = p;
        while (q > out && q[-1] >= '0' && q[-1] <= '9')
            q--;
        r->requests = strtod(q, NULL);
    }
    unsigned long c, rd, wr, to;
    if ((p = strstr(out, "Socket errors:")) &&
        sscanf(p, "Socket errors: connect %lu, read %lu, write %lu, timeout %lu", &c, &rd, &wr,
               &to) == 4)
        r->errors += (double)(c + rd + wr + to);
    if ((p = strstr(out, "Non-2xx or 3xx responses:")))
        r->errors += strtod(p + strlen("Non-2xx or 3xx responses:"), NULL);
    return r->req_per_s > 0 && r->p99_us >= 0 && r->requests > 0;
}

/* ---- a hand-checked GET ---- */

/* True if GET / on 127.0.0.1:port answers 200 with "hello" in the reply. */
static bool check_hello(int port, char *reason, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char buf[4096];
    size_t got = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        snprintf(reason, len, "GET / failed");
        if (fd >= 0)
            close(fd);
        return false;
    }
    /* read until the body shows: a server may keep the connection open */
    buf[0] = '\0';
    for (ssize_t r; got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0;) {
        got += (size_t)r;
        buf[got] = '\0';
        const char *body = strstr(buf, "\r\n\r\n");
        if (body && strstr(body, "hello"))
            break;
    }
    close(fd);
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 ||
        !strstr(buf, "hello")) {
        snprintf(reason, len, "GET / did not answer 200 \"hello\" (got %zu bytes: %.40s)", got,
                 buf);
        return false;
    }
    return true;
}

/* ---- nginx's directory ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* ---- one server ---- */

typedef struct http_impl {
    const char *impl;
    int procs;   /* Go's GOMAXPROCS; 0: not Go */
    int workers; /* weft's WEFT_WORKERS; 0: not weft */
} http_impl_t;

static const http_impl_t impls[] = {
    {"weft", 0, 1}, {"weft", 0, 2}, {"nginx", 0, 0}, {"go", 1, 0}, {"go", 2, 0},
};

static void run_one(const http_impl_t *h, const char *wrk, int secs)
{
    char fields[32] = "";
    if (h->procs)
        snprintf(fields, sizeof fields, "\"procs\":%d", h->procs);
    else if (h->workers)
        snprintf(fields, sizeof fields, "\"workers\":%d", h->workers);
    bench_note("http: %s%s", h->impl, h->procs == 2 ? " (GOMAXPROCS=2)" : "");
    char reason[512];
    if (!wrk) {
        nb_skip(W, h->impl, fields, "wrk not found");
        return;
    }
    int port = nb_pick_port();
    if (port < 0) {
        nb_skip(W, h->impl, fields, "no free port");
        return;
    }
    char port_s[16], path[4096], dir[64] = "", conf[200], elog[200];
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[8] = {path, port_s, NULL};
    const char *extra[2] = {NULL, NULL};
    if (h->procs) {
        snprintf(path, sizeof path, "%s/bench/peers/http-go", WEFT_BINARY_DIR);
        extra[0] = h->procs == 1 ? "GOMAXPROCS=1" : "GOMAXPROCS=2";
        if (access(path, X_OK) != 0) {
            nb_skip(W, h->impl, fields, "http-go not built (needs go)");
            return;
        }
    } else if (h->impl[0] == 'w') {
        snprintf(path, sizeof path, "%s/examples/http_hello", WEFT_BINARY_DIR);
        extra[0] = h->workers == 2 ? "WEFT_WORKERS=2" : "WEFT_WORKERS=1";
        if (access(path, X_OK) != 0) {
            nb_skip(W, h->impl, fields, "build/examples/http_hello not built");
            return;
        }
    } else {
        if (!nb_find_program("nginx", path, sizeof path)) {
            nb_skip(W, h->impl, fields, "nginx not found (Debian: nginx-light)");
            return;
        }
        snprintf(dir, sizeof dir, "/tmp/weft-bench-nginx-XXXXXX");
        if (!mkdtemp(dir)) {
            nb_skip(W, h->impl, fields, "mkdtemp failed");
            return;
        }
        if (!nb_write_conf("nginx.conf.in", dir, port, reason, sizeof reason)) {
            nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
            nb_skip(W, h->impl, fields, reason);
            return;
        }
        snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
        snprintf(elog, sizeof elog, "%s/error.log", dir);
        char *nargv[] = {path, "-p", dir, "-c", conf, "-e", elog, NULL};
        memcpy(argv, nargv, sizeof nargv);
    }

    bool pin = h->procs != 2 && h->workers != 2; /* two-thread servers get both CPUs */
    nb_server_t srv;
    char *out = NULL;
    if (nb_server_start(&srv, argv, extra, pin ? NB_SERVER_CPU : NB_NO_CPU, port, reason,
                        sizeof reason) != 0) {
        nb_skip(W, h->impl, fields, reason);
        goto done;
    }
    if (!check_hello(port, reason, sizeof reason)) {
        nb_server_stop(&srv);
        nb_skip(W, h->impl, fields, reason);
        goto done;
    }
    char url[64], dur[32];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    char *warm[] = {(char *)wrk, "-t1", "-c100", "-d1s", url, NULL};
    int rc = nb_run_capture(warm, pin ? NB_CLIENT_CPU : NB_NO_CPU, 60, &out, reason, sizeof reason);
    free(out);
    out = NULL;
    int64_t cpu0 = nb_cpu_us(srv.pid);
    snprintf(dur, sizeof dur, "-d%ds", secs);
    char *run[] = {(char *)wrk, "-t1", "-c100", dur, "--latency", url, NULL};
    if (rc == 0)
        rc = nb_run_capture(run, pin ? NB_CLIENT_CPU : NB_NO_CPU, secs + 60, &out, reason,
                            sizeof reason);
    int64_t cpu1 = nb_cpu_us(srv.pid);
    nb_server_stop(&srv);
    wrk_result_t r;
    if (rc != 0 || !parse_wrk(out, &r)) {
        if (rc > 0)
            snprintf(reason, sizeof reason, "wrk exited with status %d", rc);
        else if (rc == 0)
            snprintf(reason, sizeof reason, "cannot read wrk's report");
        nb_skip(W, h->impl, fields, reason);
        goto done;
    }
    bench_json(W, h->impl,
               "%s%s\"req_per_s\":%.0f,\"p99_us\":%.1f,\"server_cpu_us\":%.3f,"
               "\"requests\":%.0f,\"errors\":%.0f",
               fields, *fields ? "," : "", r.req_per_s, r.p99_us,
               cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - cpu0) / r.requests : -1.0, r.requests,
               r.errors);
done:
    free(out);
    if (*dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_http(void)
{
    char wrk[4096];
    bool have_wrk = nb_find_program("wrk", wrk, sizeof wrk);
    int secs = (int)lround(nb_seconds(HTTP_SECONDS, 1));
    for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
        run_one(&impls[i], have_wrk ? wrk : NULL, secs);
    return 0;
}
