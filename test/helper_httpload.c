/* helper_httpload.c - the HTTP clients of issue 22's hostile-load tests,
 * as a program of their own so that the server under test shares no
 * loop, worker or core with them: a full-speed downloader and a normal
 * client that times its requests. Both speak HTTP/1.1 to 127.0.0.1:PORT,
 * over TLS when CA names a CA file (verifying "localhost"), in plain
 * text when CA is "-".
 *
 *   helper_httpload download PORT CA NBYTES CONNS
 *       CONNS connections, each sends "GET /bytes/NBYTES" and reads the
 *       answer as fast as it arrives, throwing it away: straight from
 *       the socket, over TLS without decrypting it (after the
 *       handshake), so that the reader is never the slower side. Prints
 *       "download: started" once every connection has received 1 MiB,
 *       then "download: done BYTES" when every answer has ended (the
 *       server closing counts as an end). Exit 0, or 1 if a connection
 *       could not be made or got nothing.
 *   helper_httpload stall PORT CA NBYTES CONNS
 *       CONNS connections, each sends "GET /bytes/NBYTES" and never reads
 *       a byte. Prints "stall: sent" once every request is sent, then
 *       waits until it is killed.
 *   helper_httpload probe PORT CA COUNT GAP_MS
 *       COUNT times, GAP_MS apart: a fresh connection (TLS handshake
 *       included) that asks for "/" once; and on one connection kept
 *       alive, a "/" request. Prints the line
 *       "probe: N ok of M; connect ms p50 A p99 B max C; request ms p50 D
 *       p99 E max F" (connect: connection, handshake and first answer;
 *       request: one request on the kept-alive connection) and exits 0
 *       when every request was answered "hello", 1 otherwise.
 *
 * One worker, whatever WEFT_WORKERS says. Used by test/test_tls.c, the
 * soak tests (test/soak.h) and the figures of issue 22 (bench/hostile.sh).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/socket.h>

#include "weft.h"

static const char *port, *cafile;
static int exit_code = 1;
static weft_tls_ctx_t *ctx;

/* A connection to the server, TLS when a CA was given. 0 or -errno. */
static int dial(weft_stream_t **s)
{
    int rc = weft_tcp_connect(s, "127.0.0.1", port, NULL);
    if (rc == 0 && ctx && (rc = weft_tls_wrap(*s, ctx, "localhost")) < 0) {
        weft_stream_close(*s);
        *s = NULL;
    }
    return rc;
}

/* ---- download ---- */

typedef struct {
    const char *nbytes;
    weft_stream_t *s;
    int rc;
} dl_t;

/* Connects and sends the request. */
static int download_start(void *arg, void **res)
{
    (void)res;
    dl_t *d = arg;
    char req[128];
    int n =
        snprintf(req, sizeof req, "GET /bytes/%s HTTP/1.1\r\nHost: localhost\r\n\r\n", d->nbytes);
    d->rc = dial(&d->s);
    if (d->rc == 0 && (d->rc = weft_stream_write(d->s, req, (size_t)n)) == 0)
        d->rc = weft_stream_flush(d->s);
    if (d->rc < 0)
        fprintf(stderr, "helper_httpload: download: %s\n", weft_strerror(d->rc));
    return 0;
}

/* The answers are read straight from the sockets, never decrypted: no
 * reader can be faster, so the server always finds room to write. The
 * loop blocks in poll(2): this process runs nothing else meanwhile. */
static int download(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    int conns = atoi(argv[5]), started = 0, open_ = 0;
    if (conns < 1)
        return 2;
    dl_t *d = calloc((size_t)conns, sizeof *d);
    struct pollfd *pfd = calloc((size_t)conns, sizeof *pfd);
    long long *got = calloc((size_t)conns, sizeof *got), total = 0;
    if (!d || !pfd || !got)
        return 1;
    for (int i = 0; i < conns; i++) {
        weft_task_t *t;
        d[i].nbytes = argv[4];
        if (weft_spawn(&t, download_start, &d[i], NULL) < 0)
            return 1;
        weft_await(t, NULL);
        weft_task_release(t);
        if (d[i].rc < 0)
            return 1;
        int one = 1 << 22;
        pfd[i] = (struct pollfd){.fd = weft_stream_fd(d[i].s), .events = POLLIN};
        setsockopt(pfd[i].fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof one);
        open_++;
    }
    static char buf[1 << 18];
    while (open_ > 0 && poll(pfd, (nfds_t)conns, -1) > 0) {
        for (int i = 0; i < conns; i++) {
            if (!pfd[i].revents)
                continue;
            ssize_t r = recv(pfd[i].fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0) {
                if (got[i] < (1 << 20) && got[i] + r >= (1 << 20) && ++started == conns) {
                    printf("download: started\n");
                    fflush(stdout);
                }
                got[i] += r;
                total += r;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                pfd[i].fd = -1; /* poll skips it */
                open_--;
            }
        }
    }
    bool failed = false;
    for (int i = 0; i < conns; i++) {
        failed |= got[i] == 0;
        weft_stream_abort(d[i].s);
    }
    printf("download: done %lld\n", total);
    fflush(stdout);
    free(d);
    free(pfd);
    free(got);
    return failed ? 1 : 0;
}

/* ---- stall ---- */

static int stall(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    int conns = atoi(argv[5]);
    if (conns < 1)
        return 2;
    char req[128];
    int n = snprintf(req, sizeof req, "GET /bytes/%s HTTP/1.1\r\nHost: localhost\r\n\r\n", argv[4]);
    for (int i = 0; i < conns; i++) {
        weft_stream_t *s; /* kept until the process ends */
        int rc = dial(&s);
        if (rc == 0)
            rc = weft_stream_write(s, req, (size_t)n);
        if (rc == 0)
            rc = weft_stream_drain(s);
        if (rc < 0) {
            fprintf(stderr, "helper_httpload: stall: %s\n", weft_strerror(rc));
            return 1;
        }
    }
    printf("stall: sent\n");
    fflush(stdout);
    weft_sleep(WEFT_FOREVER);
    return 0;
}

/* ---- probe ---- */

/* One "GET /" on s, answered "hello". 0 or -errno. */
static int get_hello(weft_stream_t *s)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    int rc = weft_stream_write(s, req, sizeof req - 1);
    if (rc < 0)
        return rc;
    const char *line;
    ssize_t n;
    size_t clen = 0;
    bool first = true;
    while ((n = weft_stream_read_line(s, &line)) > 2) {
        if (first && (n < 12 || memcmp(line + 9, "200", 3) != 0))
            return -EPROTO;
        first = false;
        if (n > 16 && strncasecmp(line, "Content-Length:", 15) == 0)
            clen = strtoul(line + 15, NULL, 10);
    }
    if (n < 0)
        return (int)n;
    char body[8];
    if (clen != 5)
        return -EPROTO;
    rc = weft_stream_read_exactly(s, body, 5, NULL);
    return rc < 0 ? rc : memcmp(body, "hello", 5) == 0 ? 0 : -EPROTO;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-th quantile (0..1) of the n sorted values, in ms. */
static double quantile_ms(const int64_t *v, int n, double q)
{
    if (n == 0)
        return -1;
    int i = (int)(q * (double)n + 0.999999) - 1;
    i = i < 0 ? 0 : i >= n ? n - 1 : i;
    return (double)v[i] / 1e6;
}

static int probe(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    int count = atoi(argv[4]), gap = atoi(argv[5]), ok = 0;
    if (count < 1 || gap < 0)
        return 2;
    int64_t *conn_ns = calloc((size_t)count, sizeof *conn_ns);
    int64_t *req_ns = calloc((size_t)count, sizeof *req_ns);
    int nconn = 0, nreq = 0;
    weft_stream_t *kept = NULL;
    for (int i = 0; i < count; i++) {
        int64_t t0 = weft_now();
        weft_stream_t *s;
        int rc = dial(&s);
        if (rc == 0) {
            rc = get_hello(s);
            weft_stream_close(s);
        }
        if (rc == 0) {
            conn_ns[nconn++] = weft_now() - t0;
            ok++;
        } else {
            fprintf(stderr, "helper_httpload: probe connection: %s\n", weft_strerror(rc));
        }
        if (!kept && dial(&kept) < 0)
            kept = NULL;
        if (kept) {
            t0 = weft_now();
            rc = get_hello(kept);
            if (rc == 0) {
                req_ns[nreq++] = weft_now() - t0;
                ok++;
            } else {
                fprintf(stderr, "helper_httpload: probe request: %s\n", weft_strerror(rc));
                weft_stream_abort(kept);
                kept = NULL;
            }
        }
        weft_sleep(WEFT_MSEC(gap));
    }
    if (kept)
        weft_stream_close(kept);
    qsort(conn_ns, (size_t)nconn, sizeof *conn_ns, cmp_i64);
    qsort(req_ns, (size_t)nreq, sizeof *req_ns, cmp_i64);
    printf("probe: %d ok of %d; connect ms p50 %.2f p99 %.2f max %.2f; "
           "request ms p50 %.2f p99 %.2f max %.2f\n",
           ok, 2 * count, quantile_ms(conn_ns, nconn, 0.5), quantile_ms(conn_ns, nconn, 0.99),
           quantile_ms(conn_ns, nconn, 1), quantile_ms(req_ns, nreq, 0.5),
           quantile_ms(req_ns, nreq, 0.99), quantile_ms(req_ns, nreq, 1));
    fflush(stdout);
    free(conn_ns);
    free(req_ns);
    return ok == 2 * count ? 0 : 1;
}

static int run_main(void *arg, void **res)
{
    (void)res;
    char **argv = arg;
    int argc = 0;
    while (argv[argc])
        argc++;
    port = argv[2];
    cafile = argv[3];
    if (strcmp(cafile, "-") != 0) {
        weft_tls_opts_t o = {.ca_file = cafile, .alpn = "http/1.1"};
        int rc = weft_tls_ctx_create(&ctx, &o);
        if (rc < 0) {
            fprintf(stderr, "helper_httpload: %s: %s\n", weft_strerror(rc), weft_tls_last_error());
            return 0;
        }
    }
    int rc = strcmp(argv[1], "download") == 0 ? download(argc, argv)
             : strcmp(argv[1], "stall") == 0  ? stall(argc, argv)
             : strcmp(argv[1], "probe") == 0  ? probe(argc, argv)
                                              : 2;
    if (ctx)
        weft_tls_ctx_release(ctx);
    exit_code = rc;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr,
                "usage: %s download PORT CA|- NBYTES CONNS\n"
                "       %s stall PORT CA|- NBYTES CONNS\n"
                "       %s probe PORT CA|- COUNT GAP_MS\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    weft_config_t cfg = {.workers = 1};
    if (weft_run_config(&cfg, run_main, argv, NULL) < 0)
        return 1;
    if (exit_code == 2)
        fprintf(stderr, "helper_httpload: bad arguments\n");
    return exit_code;
}
