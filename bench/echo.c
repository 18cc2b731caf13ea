/* echo.c - the `echo` workload: 64-byte messages, one outstanding per
 * connection, `conns` 1, 50 and 1000; msgs_per_s, p50_us, p99_us and
 * server_cpu_us per message (the server's utime + stime over the measured
 * window / messages).
 *
 * The client is build/bench/weft-loadgen (plain epoll, the same for every
 * server), on CPU 1; the server on CPU 0. Servers: weft
 * (build/examples/echo_server, WEFT_WORKERS=1 and 2), libuv
 * (build/bench/peers/echo-libuv), asyncio and uvloop (bench/peers/echo.py
 * on /usr/bin/python3), go (build/bench/peers/echo-go, GOMAXPROCS 1 and 2;
 * the procs-2 run pins neither side). Each measurement starts a fresh
 * server; for each conns value the servers run one after another, so that
 * a disturbance of the shared machine spreads over all of them.
 *
 * Each line also carries `msgs` and `errors` (connections lost or echoes
 * that differ; a line with errors > 0 is not a clean figure).
 */
#include "bench.h"
#include "netbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ECHO_SECONDS 3.0
#define ECHO_WARMUP 0.5

static const char *const W = "echo";

typedef struct echo_impl {
    const char *impl;
    int procs;   /* Go's GOMAXPROCS; 0: not Go */
    int workers; /* weft's WEFT_WORKERS; 0: not weft */
} echo_impl_t;

static const echo_impl_t impls[] = {
    {"weft", 0, 1}, {"weft", 0, 2}, {"libuv", 0, 0}, {"asyncio", 0, 0},
    {"uvloop", 0, 0}, {"go", 1, 0}, {"go", 2, 0},
};

static const int conn_counts[] = {1, 50, 1000};

/* The server's argv for impl (with PORT), its extra environment, into the
 * caller's buffers. */
static void server_cmd(const echo_impl_t *e, const char *port, char *path, size_t len, char *script,
                       size_t slen, char *argv[], const char *extra[])
{
    int a = 0;
    extra[0] = extra[1] = NULL;
    if (e->procs) {
        snprintf(path, len, "%s/bench/peers/echo-go", WEFT_BINARY_DIR);
        argv[a++] = path;
        extra[0] = e->procs == 1 ? "GOMAXPROCS=1" : "GOMAXPROCS=2";
    } else if (e->impl[0] == 'w') {
        snprintf(path, len, "%s/examples/echo_server", WEFT_BINARY_DIR);
        argv[a++] = path;
        extra[0] = e->workers == 2 ? "WEFT_WORKERS=2" : "WEFT_WORKERS=1";
    } else if (e->impl[0] == 'l') {
        snprintf(path, len, "%s/bench/peers/echo-libuv", WEFT_BINARY_DIR);
        argv[a++] = path;
    } else {
        snprintf(path, len, "%s", BENCH_PYTHON);
        snprintf(script, slen, "%s/bench/peers/echo.py", WEFT_SOURCE_DIR);
        argv[a++] = path;
        argv[a++] = script;
    }
    argv[a++] = (char *)port;
    if (e->impl[0] == 'u')
        argv[a++] = "--uvloop";
    argv[a] = NULL;
}

static void run_one(const echo_impl_t *e, int conns, double secs, double warm)
{
    char fields[64];
    if (e->procs)
        snprintf(fields, sizeof fields, "\"conns\":%d,\"procs\":%d", conns, e->procs);
    else if (e->workers)
        snprintf(fields, sizeof fields, "\"conns\":%d,\"workers\":%d", conns, e->workers);
    else
        snprintf(fields, sizeof fields, "\"conns\":%d", conns);
    bench_note("echo: %s%s conns %d", e->impl, e->procs == 2 ? " (GOMAXPROCS=2)" : "", conns);

    char loadgen[4096];
    snprintf(loadgen, sizeof loadgen, "%s/bench/weft-loadgen", WEFT_BINARY_DIR);
    char reason[512];
    int port = nb_pick_port();
    if (port < 0) {
        nb_skip(W, e->impl, fields, "no free port");
        return;
    }
    char port_s[16], path[4096], script[4096];
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[6];
    const char *extra[2];
    server_cmd(e, port_s, path, sizeof path, script, sizeof script, argv, extra);
    if (e->impl[0] == 'w' && access(path, X_OK) != 0) {
        nb_skip(W, e->impl, fields, "build/examples/echo_server not built");
        return;
    }
    if (e->impl[0] == 'l' && access(path, X_OK) != 0) {
        nb_skip(W, e->impl, fields, "echo-libuv not built (needs libuv1-dev)");
        return;
    }
    if (e->procs && access(path, X_OK) != 0) {
        nb_skip(W, e->impl, fields, "echo-go not built (needs go)");
        return;
    }
    bool pin = e->procs != 2 && e->workers != 2; /* two-thread servers get both CPUs */
    nb_server_t srv;
    if (nb_server_start(&srv, argv, extra, pin ? NB_SERVER_CPU : NB_NO_CPU, port, reason,
                        sizeof reason) != 0) {
        nb_skip(W, e->impl, fields, reason);
        return;
    }

    char pid_s[16], conns_s[16], dur_s[32], warm_s[32];
    snprintf(pid_s, sizeof pid_s, "%d", (int)srv.pid);
    snprintf(conns_s, sizeof conns_s, "%d", conns);
    snprintf(dur_s, sizeof dur_s, "%.3f", secs);
    snprintf(warm_s, sizeof warm_s, "%.3f", warm);
    char *lg[] = {loadgen, "-p", port_s, "-c",    conns_s, "-d",
                  dur_s,   "-w", warm_s, "--pid", pid_s,   NULL};
    char *out = NULL;
    int rc = nb_run_capture(lg, pin ? NB_CLIENT_CPU : NB_NO_CPU, (int)(secs + warm) + 60, &out,
                            reason, sizeof reason);
    nb_server_stop(&srv);

    double rate = nb_json_num(out, "msgs_per_s", -1);
    if (rc != 0 || rate < 0) {
        if (rc > 0)
            snprintf(reason, sizeof reason, "weft-loadgen exited with status %d", rc);
        nb_skip(W, e->impl, fields, reason);
        free(out);
        return;
    }
    double msgs = nb_json_num(out, "msgs", 0);
    double seconds = nb_json_num(out, "seconds", secs);
    double srv_cpu = nb_json_num(out, "server_cpu_s", -1);
    double cli_cpu = nb_json_num(out, "client_cpu_s", 0);
    bench_json(W, e->impl,
               "%s,\"msgs_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"server_cpu_us\":%.3f,"
               "\"msgs\":%.0f,\"errors\":%.0f",
               fields, rate, nb_json_num(out, "p50_us", 0), nb_json_num(out, "p99_us", 0),
               srv_cpu >= 0 && msgs > 0 ? srv_cpu * 1e6 / msgs : -1, msgs,
               nb_json_num(out, "errors", 0));
    if (pin && cli_cpu > 0.9 * seconds)
        bench_note("echo: %s conns %d: the load generator used %.0f%% of CPU 1 (it may be the "
                   "bottleneck)",
                   e->impl, conns, 100 * cli_cpu / seconds);
    free(out);
}

int bench_echo(void)
{
    char loadgen[4096];
    snprintf(loadgen, sizeof loadgen, "%s/bench/weft-loadgen", WEFT_BINARY_DIR);
    if (access(loadgen, X_OK) != 0) {
        for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
            nb_skip(W, impls[i].impl, NULL, "build/bench/weft-loadgen not built");
        return 0;
    }
    double secs = nb_seconds(ECHO_SECONDS, 0.3), warm = nb_seconds(ECHO_WARMUP, 0.1);
    for (size_t c = 0; c < sizeof conn_counts / sizeof conn_counts[0]; c++)
        for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
            run_one(&impls[i], conn_counts[c], secs, warm);
    return 0;
}
