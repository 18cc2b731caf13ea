/* tls.c - the `tls_handshake` and `tls_bulk` workloads: weft's
 * examples/https_hello against nginx with its ssl module, in the same
 * run, with the same certificate and the same client.
 *
 * Certificate: ECDSA P-256, self-signed for "localhost", made with the
 * openssl command in a fresh temporary directory at bench time. Both
 * servers: TLS 1.3 (weft negotiates 1.3 with this client; nginx is
 * configured TLSv1.3 only), no session tickets, no session cache, so
 * every handshake is full. nginx: bench/peers/nginx_tls.conf.in (one
 * process, no master, no access log, `return 200 "hello"` at /, static
 * files from the directory). Client: build/bench/weft-tlsload (blocking
 * OpenSSL, not weft) on CPU 1, servers on CPU 0; weft runs with
 * WEFT_WORKERS=1. The client offers its cipher suites in browsers' order
 * (AES-128-GCM first), so both servers pick the same one; each line
 * names it ("cipher").
 *
 * tls_handshake: 8 client threads, each connect + full handshake + one
 * GET / + read the reply to the server's close; a 0.5 s warm-up run,
 * then 3 s measured (scaled by WEFT_BENCH_SCALE, at least 1 s).
 * handshakes_per_s, and server_cpu_us per handshake: the server's CPU
 * time over the measured run, summed over its threads from
 * /proc/PID/task/TID/schedstat (nanoseconds; /proc/PID/stat's clock
 * ticks, 10 ms, would be a 2% step at these rates). Lines also carry
 * `handshakes`, `errors` and `tickets` (session tickets the client got:
 * 0 when both servers are configured alike).
 *
 * tls_bulk: one connection, GET /bytes/N from https_hello, a static
 * file of N bytes (the same 'x' bytes) from nginx; N = 1 GiB (scaled, at
 * least 64 MiB). mb_per_s (10^6 bytes), `bytes`, and server_cpu_us per
 * MB (as above).
 */
#include "bench.h"
#include "netbench.h"

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HS_SECONDS 3.0
#define HS_CONNS "8"
#define BULK_BYTES (1L << 30)
#define BULK_MIN (64L << 20)

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* CPU time of every thread of pid so far, in microseconds (schedstat's
 * nanoseconds; falls back on nb_cpu_us's clock ticks), or -1. */
static double cpu_us(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    double ns = 0;
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char f[128];
        snprintf(f, sizeof f, "/proc/%d/task/%.20s/schedstat", (int)pid, e->d_name);
        FILE *fp = fopen(f, "re");
        unsigned long long run = 0;
        if (!fp || fscanf(fp, "%llu", &run) != 1)
            ok = false;
        if (fp)
            fclose(fp);
        ns += (double)run;
    }
    closedir(d);
    if (!ok || ns <= 0) {
        int64_t t = nb_cpu_us(pid);
        return t < 0 ? -1 : (double)t;
    }
    return ns / 1e3;
}

/* ---- the shared setup: a directory, a certificate, a bulk file ---- */

typedef struct tls_env {
    char dir[64];
    char cert[128], key[128];
    char load[4096];  /* weft-tlsload */
    char hello[4096]; /* https_hello */
    char nginx[4096]; /* "" if not found */
} tls_env_t;

static bool env_setup(tls_env_t *e, char *reason, size_t len)
{
    memset(e, 0, sizeof *e);
    snprintf(e->load, sizeof e->load, "%s/bench/weft-tlsload", WEFT_BINARY_DIR);
    snprintf(e->hello, sizeof e->hello, "%s/examples/https_hello", WEFT_BINARY_DIR);
    if (access(e->load, X_OK) != 0) {
        snprintf(reason, len, "bench/weft-tlsload not built (needs libssl-dev)");
        return false;
    }
    char openssl[4096];
    if (!nb_find_program("openssl", openssl, sizeof openssl)) {
        snprintf(reason, len, "openssl command not found");
        return false;
    }
    if (!nb_find_program("nginx", e->nginx, sizeof e->nginx))
        e->nginx[0] = '\0';
    snprintf(e->dir, sizeof e->dir, "/tmp/weft-bench-tls-XXXXXX");
    if (!mkdtemp(e->dir)) {
        snprintf(reason, len, "mkdtemp failed");
        e->dir[0] = '\0';
        return false;
    }
    snprintf(e->cert, sizeof e->cert, "%s/cert.pem", e->dir);
    snprintf(e->key, sizeof e->key, "%s/key.pem", e->dir);
    char cmd[4096 + 512];
    snprintf(cmd, sizeof cmd,
             "'%.4000s' req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout '%s' -out '%s' -subj /CN=localhost -days 2 "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
             openssl, e->key, e->cert);
    if (system(cmd) != 0) {
        snprintf(reason, len, "making the certificate failed");
        return false;
    }
    return true;
}

static void env_free(tls_env_t *e)
{
    if (e->dir[0])
        nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* bench/peers/nginx_tls.conf.in into dir/nginx.conf, and the static
 * files' directory. */
static bool nginx_conf(const tls_env_t *e, int port, char *reason, size_t len)
{
    if (!nb_write_conf("nginx_tls.conf.in", e->dir, port, reason, len))
        return false;
    char www[128];
    snprintf(www, sizeof www, "%s/www", e->dir);
    mkdir(www, 0755);
    return true;
}

/* Starts impl ("weft" or "nginx") on a free port, pinned to CPU 0. */
static bool start(const tls_env_t *e, const char *impl, nb_server_t *srv, char *reason, size_t len)
{
    int port = nb_pick_port();
    if (port < 0) {
        snprintf(reason, len, "no free port");
        return false;
    }
    char port_s[16], conf[200], elog[200];
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *extra[] = {"WEFT_WORKERS=1", NULL};
    if (strcmp(impl, "weft") == 0) {
        char *argv[] = {(char *)e->hello, port_s, (char *)e->cert, (char *)e->key, NULL};
        return nb_server_start(srv, argv, extra, NB_SERVER_CPU, port, reason, len) == 0;
    }
    if (!e->nginx[0]) {
        snprintf(reason, len, "nginx not found (Debian: nginx-light)");
        return false;
    }
    if (!nginx_conf(e, port, reason, len))
        return false;
    snprintf(conf, sizeof conf, "%s/nginx.conf", e->dir);
    snprintf(elog, sizeof elog, "%s/error.log", e->dir);
    char *argv[] = {(char *)e->nginx, "-p", (char *)e->dir, "-c", conf, "-e", elog, NULL};
    return nb_server_start(srv, argv, NULL, NB_SERVER_CPU, port, reason, len) == 0;
}

/* The "cipher" field of a weft-tlsload line into buf ("" if none). */
static void cipher_of(const char *out, char *buf, size_t len)
{
    const char *p = out ? strstr(out, "\"cipher\":\"") : NULL;
    buf[0] = '\0';
    if (!p)
        return;
    p += 10;
    size_t n = strcspn(p, "\"");
    if (n >= len)
        n = len - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ? p[i]
                                                                                             : '?';
    buf[n] = '\0';
}

/* ---- tls_handshake ---- */

static void hs_one(const tls_env_t *e, const char *impl, double secs)
{
    static const char *const W = "tls_handshake";
    char reason[512];
    nb_server_t srv;
    bench_note("tls_handshake: %s", impl);
    if (strcmp(impl, "weft") == 0 && access(e->hello, X_OK) != 0) {
        bench_skip(W, impl, "build/examples/https_hello not built");
        return;
    }
    if (!start(e, impl, &srv, reason, sizeof reason)) {
        bench_skip(W, impl, reason);
        return;
    }
    char port_s[16], secs_s[32];
    snprintf(port_s, sizeof port_s, "%d", srv.port);
    snprintf(secs_s, sizeof secs_s, "%.3f", secs);
    char *warm[] = {(char *)e->load, "handshake", port_s, "0.5", HS_CONNS, "0", NULL};
    char *run[] = {(char *)e->load, "handshake", port_s, secs_s, HS_CONNS, "0", NULL};
    char *out = NULL;
    int rc = nb_run_capture(warm, NB_CLIENT_CPU, 60, &out, reason, sizeof reason);
    double werr = out ? nb_json_num(out, "errors", -1) : -1;
    free(out);
    out = NULL;
    if (rc != 0 || werr != 0) {
        nb_server_stop(&srv);
        if (rc >= 0)
            snprintf(reason, sizeof reason, "warm-up failed (status %d, errors %.0f)", rc, werr);
        bench_skip(W, impl, reason);
        return;
    }
    double cpu0 = cpu_us(srv.pid);
    rc = nb_run_capture(run, NB_CLIENT_CPU, (int)secs + 60, &out, reason, sizeof reason);
    double cpu1 = cpu_us(srv.pid);
    nb_server_stop(&srv);
    double n = out ? nb_json_num(out, "handshakes", -1) : -1;
    double el = out ? nb_json_num(out, "seconds", -1) : -1;
    if (rc != 0 || n <= 0 || el <= 0) {
        if (rc >= 0)
            snprintf(reason, sizeof reason, "weft-tlsload failed (status %d)", rc);
        bench_skip(W, impl, reason);
        free(out);
        return;
    }
    char cipher[64];
    cipher_of(out, cipher, sizeof cipher);
    bench_json(W, impl,
               "\"handshakes_per_s\":%.0f,\"server_cpu_us\":%.1f,\"handshakes\":%.0f,"
               "\"errors\":%.0f,\"tickets\":%.0f,\"cipher\":\"%s\"",
               n / el, cpu0 >= 0 && cpu1 >= 0 ? (cpu1 - cpu0) / n : -1.0, n,
               nb_json_num(out, "errors", -1), nb_json_num(out, "tickets", -1), cipher);
    free(out);
}

int bench_tls_handshake(void)
{
    tls_env_t e;
    char reason[512];
    if (!env_setup(&e, reason, sizeof reason)) {
        bench_skip("tls_handshake", "weft", reason);
        bench_skip("tls_handshake", "nginx", reason);
        env_free(&e);
        return 0;
    }
    double secs = nb_seconds(HS_SECONDS, 1);
    hs_one(&e, "weft", secs);
    hs_one(&e, "nginx", secs);
    env_free(&e);
    return 0;
}

/* ---- tls_bulk ---- */

static bool bulk_file(const tls_env_t *e, long bytes)
{
    char path[200];
    snprintf(path, sizeof path, "%s/www/bulk.bin", e->dir);
    FILE *f = fopen(path, "we");
    if (!f)
        return false;
    static char buf[1 << 20];
    memset(buf, 'x', sizeof buf);
    for (long left = bytes; left > 0;) {
        size_t m = left < (long)sizeof buf ? (size_t)left : sizeof buf;
        if (fwrite(buf, 1, m, f) != m) {
            fclose(f);
            return false;
        }
        left -= (long)m;
    }
    return fclose(f) == 0;
}

static void bulk_one(const tls_env_t *e, const char *impl, long bytes)
{
    static const char *const W = "tls_bulk";
    char reason[512];
    nb_server_t srv;
    bench_note("tls_bulk: %s", impl);
    if (strcmp(impl, "weft") == 0 && access(e->hello, X_OK) != 0) {
        bench_skip(W, impl, "build/examples/https_hello not built");
        return;
    }
    if (!start(e, impl, &srv, reason, sizeof reason)) {
        bench_skip(W, impl, reason);
        return;
    }
    if (strcmp(impl, "nginx") == 0 && !bulk_file(e, bytes)) {
        nb_server_stop(&srv);
        bench_skip(W, impl, "cannot write the static file");
        return;
    }
    char port_s[16], path[64], bytes_s[32];
    snprintf(port_s, sizeof port_s, "%d", srv.port);
    snprintf(bytes_s, sizeof bytes_s, "%ld", bytes);
    if (strcmp(impl, "weft") == 0)
        snprintf(path, sizeof path, "/bytes/%ld", bytes);
    else
        snprintf(path, sizeof path, "/bulk.bin");
    /* the same stream twice: a warm-up (nginx's file into the page
     * cache, both servers' memory touched), then the measured one */
    char *run[] = {(char *)e->load, "bulk", port_s, path, bytes_s, NULL};
    char *out = NULL;
    int rc = nb_run_capture(run, NB_CLIENT_CPU, 300, &out, reason, sizeof reason);
    free(out);
    out = NULL;
    if (rc != 0) {
        nb_server_stop(&srv);
        if (rc > 0)
            snprintf(reason, sizeof reason, "warm-up failed (status %d)", rc);
        bench_skip(W, impl, reason);
        return;
    }
    double cpu0 = cpu_us(srv.pid);
    rc = nb_run_capture(run, NB_CLIENT_CPU, 300, &out, reason, sizeof reason);
    double cpu1 = cpu_us(srv.pid);
    nb_server_stop(&srv);
    double mbs = out ? nb_json_num(out, "mb_per_s", -1) : -1;
    if (rc != 0 || mbs <= 0) {
        if (rc >= 0)
            snprintf(reason, sizeof reason, "weft-tlsload failed (status %d)", rc);
        bench_skip(W, impl, reason);
        free(out);
        return;
    }
    char cipher[64];
    cipher_of(out, cipher, sizeof cipher);
    bench_json(W, impl, "\"mb_per_s\":%.1f,\"bytes\":%ld,\"server_cpu_us\":%.1f,\"cipher\":\"%s\"",
               mbs, bytes, cpu0 >= 0 && cpu1 >= 0 ? (cpu1 - cpu0) / ((double)bytes / 1e6) : -1.0,
               cipher);
    free(out);
}

int bench_tls_bulk(void)
{
    tls_env_t e;
    char reason[512];
    if (!env_setup(&e, reason, sizeof reason)) {
        bench_skip("tls_bulk", "weft", reason);
        bench_skip("tls_bulk", "nginx", reason);
        env_free(&e);
        return 0;
    }
    long bytes = bench_n(BULK_BYTES);
    if (bytes < BULK_MIN)
        bytes = BULK_MIN;
    bulk_one(&e, "weft", bytes);
    bulk_one(&e, "nginx", bytes);
    env_free(&e);
    return 0;
}
