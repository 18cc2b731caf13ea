/* https_hello.c - http_hello over TLS: "hello" for every GET, and N bytes
 * for GET /bytes/N.
 *
 * Shows a TLS server: one weft_tls_ctx_t made from a certificate and its
 * key, handed to weft_server_listen in its server options (.tls). Each
 * connection's task runs the handshake before the handler is called, so
 * the handler reads and writes plaintext with the ordinary stream calls,
 * exactly as http_hello does. A client that fails its handshake (plain
 * text, a stall past the handshake timeout, a rejected certificate) is
 * dropped quietly and the server goes on.
 *
 *   ./https_hello 8443 cert.pem key.pem        (port 0 picks a free one)
 *   curl --cacert ca.pem https://localhost:8443/
 *   curl --cacert ca.pem https://localhost:8443/bytes/1048576 | wc -c
 *
 * ALPN offers http/1.1. Connections stay open as in HTTP/1.1 unless the
 * client sends "Connection: close". /bytes/N sends N bytes of 'x' (up to
 * 2^40) in 64 KiB writes, each followed by weft_stream_drain, so memory
 * stays bounded whatever the client's speed; it stops between two writes
 * once the server closes (weft_server_closing). WEFT_WORKERS=N serves on N
 * cores, as http_hello does. It prints "https_hello: listening on
 * 127.0.0.1:PORT (N workers)" once it accepts connections and stops
 * cleanly on SIGINT or SIGTERM: idle keep-alive connections end at
 * once, requests under way get a second.
 *
 * Timeouts: a handshake within 10 s, then the server's (nothing sent for
 * 10 s, nothing moved for 60 s, an answer nobody takes for 60 s), and a
 * request head whole within 10 s of its first byte, as in http_hello.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "proto/http.h"

#define HELLO "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
#define CHUNK 65536
#define HEAD_TIMEOUT WEFT_SEC(10) /* a request head's first byte to its last */
#define BYTES_MAX ((unsigned long long)1 << 40)

static char chunk[CHUNK];

/* "/bytes/N": N, else -1. */
static long long bytes_target(const http_req_t *r)
{
    static const char pre[] = "/bytes/";
    size_t n = sizeof pre - 1;
    if (r->target_len <= n || r->target_len > n + 13 || memcmp(r->target, pre, n) != 0)
        return -1;
    unsigned long long v = 0;
    for (size_t i = n; i < r->target_len; i++) {
        char c = r->target[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    return v <= BYTES_MAX ? (long long)v : -1;
}

/* Sends the reply to one request. 0, the stream's error, or -ESHUTDOWN:
 * the server began to close during a /bytes/N answer, which then stops
 * between two writes (the client sees fewer bytes than announced). */
static int reply(weft_stream_t *s, const http_req_t *req, const weft_server_t *srv)
{
    char head[256];
    bool get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    bool head_only = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    const char *conn = !req->keep_alive  ? "Connection: close\r\n"
                       : req->minor == 0 ? "Connection: keep-alive\r\n"
                                         : "";
    if (!get && !head_only) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
                         "Content-Length: 0\r\n%s\r\n",
                         conn);
        return weft_stream_write(s, head, (size_t)n);
    }
    long long nbytes = bytes_target(req);
    if (nbytes < 0) {
        int n = snprintf(head, sizeof head, HELLO "%s\r\n%s", conn, get ? "hello" : "");
        return weft_stream_write(s, head, (size_t)n);
    }
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %lld\r\n%s\r\n",
                     nbytes, conn);
    int rc = weft_stream_write(s, head, (size_t)n);
    for (long long left = get ? nbytes : 0; left > 0 && rc == 0;) {
        size_t m = left < CHUNK ? (size_t)left : CHUNK;
        rc = weft_stream_write(s, chunk, m);
        if (rc == 0)
            rc = weft_stream_drain(s);
        if (rc == 0 && weft_server_closing(srv))
            rc = -ESHUTDOWN;
        left -= (long long)m;
    }
    return rc;
}

static int handle(weft_stream_t *s, void *arg)
{
    int64_t head_since = 0; /* when the partial request buffered began (0: none) */
    const weft_server_t *srv = weft_server_current();
    (void)arg;
    for (;;) {
        const char *data;
        size_t have = (size_t)weft_stream_peek(s, &data), used = 0;
        http_req_t req = {0};
        long n;
        while ((n = http_parse(data + used, have - used, &req)) > 0) {
            used += (size_t)n;
            if (reply(s, &req, srv) < 0 || !req.keep_alive)
                return 0; /* the server flushes and closes (with close_notify) */
        }
        if (n < 0) {
            static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                      "Connection: close\r\n\r\n";
            weft_stream_write(s, bad, sizeof bad - 1);
            return 0;
        }
        weft_stream_consume(s, used);
        if (weft_stream_drain(s) < 0)
            return 0;
        /* part of a request is buffered: the rest must come within 10 s
         * of its first byte (a slowloris client is never idle) */
        if (have == used)
            head_since = 0;
        else if (used > 0 || head_since == 0)
            head_since = weft_now();
        weft_deadline_t d;
        if (head_since)
            weft_deadline_push_at(&d, head_since + HEAD_TIMEOUT);
        ssize_t got = weft_stream_fill(s);
        if (head_since)
            weft_deadline_pop(&d);
        if (got <= 0)
            return 0; /* the client left, a TLS error, a head over 64 KiB or too slow */
    }
}

typedef struct args {
    const char *port, *cert, *key;
} args_t;

static int serve(void *arg, void **result)
{
    args_t *a = arg;
    (void)result;
    weft_tls_ctx_t *ctx;
    /* a handshake must be done within 10 s (the default is 30 s) */
    weft_tls_opts_t topts = {.server = true,
                             .cert_file = a->cert,
                             .key_file = a->key,
                             .alpn = "http/1.1",
                             .handshake_timeout = WEFT_SEC(10)};
    int rc = weft_tls_ctx_create(&ctx, &topts);
    if (rc < 0) {
        fprintf(stderr, "https_hello: %s (%s)\n", weft_strerror(rc), weft_tls_last_error());
        return rc;
    }
    /* one listener per worker (WEFT_WORKERS), each connection's
     * handshake on the worker that accepted it; the context is shared */
    /* after the handshake: 10 s for the first request's first bytes, 60
     * s without a byte either way, 60 s for a client that takes none of
     * a /bytes/N answer (the server's defaults, spelled out) */
    weft_server_opts_t sopts = {.tls = ctx,
                                .per_worker = true,
                                .first_bytes_timeout = WEFT_SEC(10),
                                .idle_timeout = WEFT_SEC(60),
                                .send_timeout = WEFT_SEC(60)};
    weft_server_t *srv;
    rc = weft_server_listen(&srv, "127.0.0.1", a->port, handle, NULL, &sopts);
    if (rc < 0) {
        fprintf(stderr, "https_hello: listen on port %s: %s\n", a->port, weft_strerror(rc));
        weft_tls_ctx_release(ctx);
        return rc;
    }
    weft_addr_t addr;
    char name[64];
    weft_server_addr(srv, &addr);
    weft_addr_format(&addr, name, sizeof name);
    int n = weft_server_workers(srv);
    printf("https_hello: listening on %s (%d worker%s)\n", name, n, n == 1 ? "" : "s");
    fflush(stdout);

    /* until Ctrl-C or SIGTERM; then idle clients (between requests) are
     * closed at once and the others get a second to finish */
    weft_signal_wait_stop(NULL);
    weft_server_close(srv, WEFT_SEC(1));
    weft_tls_ctx_release(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT CERT KEY\n", argv[0]);
        return 2;
    }
    memset(chunk, 'x', sizeof chunk);
    args_t a = {argv[1], argv[2], argv[3]};
    return weft_run(serve, &a, NULL) == 0 ? 0 : 1;
}
