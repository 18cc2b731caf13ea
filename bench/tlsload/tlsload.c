/* tlsload.c - weft-tlsload: the TLS client of the tls_handshake and
 * tls_bulk workloads, the same for every server (weft, nginx).
 *
 *   weft-tlsload handshake PORT SECONDS CONNS [WARMUP_S]
 *   weft-tlsload bulk PORT PATH BYTES
 *
 * Plain blocking OpenSSL sockets to 127.0.0.1:PORT, SNI "localhost", TLS
 * 1.3 only, no session tickets and no session cache, so every handshake
 * is a full one; the server's certificate is not verified (the figure is
 * the server's cost, and the client's core saturates first anyway). The
 * cipher suites are offered in the order browsers use (AES-128-GCM,
 * ChaCha20-Poly1305, AES-256-GCM), so a server that follows the client's
 * order and one that prefers its own agree on the same suite; the one
 * negotiated is printed as "cipher".
 *
 * handshake: CONNS threads, each in a loop: connect, full handshake, one
 * "GET / HTTP/1.1" with "Connection: close", read the reply to its end,
 * close. WARMUP_S seconds (default 0.5) unmeasured, then SECONDS
 * measured. Prints {"handshakes":N,"seconds":S,"errors":E,
 * "resumed":R,"tickets":T} (R and T should be 0: nobody resumed, the
 * server sent no tickets).
 *
 * bulk: one connection, GET PATH, reads the reply head and BYTES of body;
 * the clock runs from the request to the last byte. Prints
 * {"bytes":N,"seconds":S,"mb_per_s":R} (MB = 10^6 bytes).
 *
 * Exit status 0 on success, 1 when nothing was measured or the body came
 * short. Deliberately not built on weft.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *ctx;
static int port;
static atomic_long handshakes, errors, resumed, tickets;
static atomic_bool measuring, stop;
static char cipher[64];
static pthread_mutex_t cipher_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_cipher(SSL *ssl)
{
    pthread_mutex_lock(&cipher_lock);
    if (!cipher[0])
        snprintf(cipher, sizeof cipher, "%s", SSL_get_cipher_name(ssl));
    pthread_mutex_unlock(&cipher_lock);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int new_ticket(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    atomic_fetch_add(&tickets, 1);
    return 0; /* not kept */
}

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A TLS session on a new connection, handshake done; NULL on failure. */
static SSL *tls_open(int *fdp)
{
    int fd = tcp_connect();
    if (fd < 0)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, "localhost") != 1 ||
        SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        ERR_clear_error();
        return NULL;
    }
    *fdp = fd;
    note_cipher(ssl);
    return ssl;
}

static bool one_request(void)
{
    int fd;
    SSL *ssl = tls_open(&fd);
    if (!ssl)
        return false;
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    bool ok = SSL_write(ssl, req, sizeof req - 1) == (int)(sizeof req - 1);
    char buf[4096];
    size_t got = 0;
    bool hello = false;
    for (int r; ok && (r = SSL_read(ssl, buf, sizeof buf - 1)) > 0;) {
        buf[r] = '\0';
        got += (size_t)r;
        if (strstr(buf, "hello"))
            hello = true;
    }
    if (SSL_session_reused(ssl))
        atomic_fetch_add(&resumed, 1);
    SSL_free(ssl); /* no close_notify of ours: the server has closed */
    close(fd);
    ERR_clear_error();
    return ok && hello && got > 0;
}

static void *hs_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        bool ok = one_request();
        if (atomic_load(&measuring) && !atomic_load(&stop)) {
            if (ok)
                atomic_fetch_add(&handshakes, 1);
            else
                atomic_fetch_add(&errors, 1);
        }
    }
    return NULL;
}

static int run_handshake(double secs, int conns, double warm)
{
    pthread_t th[256];
    if (conns < 1 || conns > 256)
        return 2;
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, hs_thread, NULL);
    struct timespec w = {.tv_sec = (time_t)warm,
                         .tv_nsec = (long)((warm - (double)(time_t)warm) * 1e9)};
    nanosleep(&w, NULL);
    atomic_store(&measuring, true);
    int64_t t0 = now_ns();
    struct timespec m = {.tv_sec = (time_t)secs,
                         .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&m, NULL);
    atomic_store(&stop, true);
    double el = (double)(now_ns() - t0) / 1e9;
    long n = atomic_load(&handshakes);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    printf("{\"handshakes\":%ld,\"seconds\":%.4f,\"errors\":%ld,\"resumed\":%ld,\"tickets\":%ld,"
           "\"cipher\":\"%s\"}\n",
           n, el, atomic_load(&errors), atomic_load(&resumed), atomic_load(&tickets), cipher);
    return n > 0 ? 0 : 1;
}

static int run_bulk(const char *path, long long bytes)
{
    int fd;
    SSL *ssl = tls_open(&fd);
    if (!ssl) {
        fprintf(stderr, "weft-tlsload: handshake failed\n");
        return 1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    static char buf[65536];
    int64_t t0 = now_ns();
    if (SSL_write(ssl, req, n) != n) {
        fprintf(stderr, "weft-tlsload: request failed\n");
        return 1;
    }
    /* the head, then the body */
    size_t have = 0;
    long long body = -1;
    int r;
    while (body < 0 && (r = SSL_read(ssl, buf + have, (int)(sizeof buf - have - 1))) > 0) {
        have += (size_t)r;
        buf[have] = '\0';
        char *e = strstr(buf, "\r\n\r\n");
        if (e) {
            body = (long long)(have - (size_t)(e + 4 - buf));
            if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
                fprintf(stderr, "weft-tlsload: %.60s\n", buf);
                return 1;
            }
        } else if (have >= sizeof buf - 1) {
            fprintf(stderr, "weft-tlsload: no end of head\n");
            return 1;
        }
    }
    while (body >= 0 && body < bytes && (r = SSL_read(ssl, buf, sizeof buf)) > 0)
        body += r;
    double el = (double)(now_ns() - t0) / 1e9;
    SSL_free(ssl);
    close(fd);
    if (body != bytes) {
        fprintf(stderr, "weft-tlsload: body %lld of %lld bytes\n", body, bytes);
        return 1;
    }
    printf("{\"bytes\":%lld,\"seconds\":%.4f,\"mb_per_s\":%.1f,\"cipher\":\"%s\"}\n", bytes, el,
           (double)bytes / 1e6 / el, cipher);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: weft-tlsload handshake PORT SECONDS CONNS [WARMUP_S]\n"
                        "       weft-tlsload bulk PORT PATH BYTES\n");
        return 2;
    }
    port = atoi(argv[2]);
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return 1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                                  "TLS_AES_256_GCM_SHA384");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_ticket); /* counts tickets, keeps none */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    int rc = 2;
    if (strcmp(argv[1], "handshake") == 0 && argc >= 5)
        rc = run_handshake(atof(argv[3]), atoi(argv[4]), argc > 5 ? atof(argv[5]) : 0.5);
    else if (strcmp(argv[1], "bulk") == 0 && argc >= 5)
        rc = run_bulk(argv[3], atoll(argv[4]));
    SSL_CTX_free(ctx);
    return rc;
}
