/* redis.c - the `redis` workload: redis-benchmark -c 50 against a RESP
 * server, `pipeline` 1 and 16, one line per test (PING_INLINE, PING_MBULK,
 * SET, GET): req_per_s (redis-benchmark's --csv figure) and server_cpu_us
 * per request (the server's utime + stime over that test's run / n).
 *
 * Servers: weft (build/examples/mini_redis, WEFT_WORKERS=1) and
 * redis-server (--save "" --appendonly no), both started once, side by
 * side, on CPU 0; redis-benchmark on CPU 1. Each test runs on its own
 * (`-t ping_inline` ...) so that its CPU time is its own, the two servers
 * taking turns test by test. n is 150,000 requests without pipelining and
 * 1,000,000 with (a few seconds each here), times
 * WEFT_BENCH_SCALE.
 */
#include "bench.h"
#include "netbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_PLAIN 150000L
#define N_PIPELINED 1000000L

static const char *const W = "redis";

static const char *const tests[][2] = {
    {"ping_inline", "PING_INLINE"},
    {"ping_mbulk", "PING_MBULK"},
    {"set", "SET"},
    {"get", "GET"},
};
static const int pipelines[] = {1, 16};

typedef struct redis_impl {
    const char *impl;
    nb_server_t srv;
    char reason[512]; /* set when it could not start */
} redis_impl_t;

/* The rps of test `name` ("GET") in redis-benchmark's --csv output, or -1.
 * Its lines read "GET","123456.78",... (redis 7 adds a header line and
 * latency columns). */
static double csv_rps(const char *out, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\",\"", name);
    const char *p = out ? strstr(out, pat) : NULL;
    if (!p)
        return -1;
    char *end;
    double v = strtod(p + strlen(pat), &end);
    return end == p + strlen(pat) ? -1 : v;
}

static void run_test(redis_impl_t *r, const char *bench, int t, int pipeline, long n)
{
    char fields[96];
    snprintf(fields, sizeof fields, "\"test\":\"%s\",\"pipeline\":%d", tests[t][1], pipeline);
    if (r->reason[0]) {
        nb_skip(W, r->impl, fields, r->reason);
        return;
    }
    bench_note("redis: %s %s -P %d", r->impl, tests[t][1], pipeline);
    char port_s[16], n_s[32], p_s[16], reason[512];
    snprintf(port_s, sizeof port_s, "%d", r->srv.port);
    snprintf(n_s, sizeof n_s, "%ld", n);
    snprintf(p_s, sizeof p_s, "%d", pipeline);
    char *argv[] = {
        (char *)bench, "-h", "127.0.0.1",         "-p",    port_s, "-c", "50", "-n", n_s, "-P",
        p_s,           "-t", (char *)tests[t][0], "--csv", NULL};
    char *out = NULL;
    int64_t cpu0 = nb_cpu_us(r->srv.pid);
    int rc = nb_run_capture(argv, NB_CLIENT_CPU, 300, &out, reason, sizeof reason);
    int64_t cpu1 = nb_cpu_us(r->srv.pid);
    double rps = csv_rps(out, tests[t][1]);
    if (rc != 0 || rps <= 0) {
        if (rc > 0)
            snprintf(reason, sizeof reason, "redis-benchmark exited with status %d", rc);
        else if (rc == 0)
            snprintf(reason, sizeof reason, "no %s figure in redis-benchmark's output",
                     tests[t][1]);
        nb_skip(W, r->impl, fields, reason);
    } else {
        bench_json(W, r->impl, "%s,\"req_per_s\":%.0f,\"server_cpu_us\":%.3f,\"n\":%ld", fields,
                   rps, cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - cpu0) / (double)n : -1.0, n);
    }
    free(out);
}

int bench_redis(void)
{
    redis_impl_t impls[2] = {{.impl = "weft"}, {.impl = "redis-server"}};
    char bench[4096], server[4096], mini[4096];
    bool have_bench = nb_find_program("redis-benchmark", bench, sizeof bench);

    snprintf(mini, sizeof mini, "%s/examples/mini_redis", WEFT_BINARY_DIR);
    if (!have_bench) {
        snprintf(impls[0].reason, sizeof impls[0].reason, "redis-benchmark not found");
        snprintf(impls[1].reason, sizeof impls[1].reason, "redis-benchmark not found");
    }
    if (!impls[0].reason[0] && access(mini, X_OK) != 0)
        snprintf(impls[0].reason, sizeof impls[0].reason, "build/examples/mini_redis not built");
    if (!impls[1].reason[0] && !nb_find_program("redis-server", server, sizeof server))
        snprintf(impls[1].reason, sizeof impls[1].reason, "redis-server not found");

    for (int i = 0; i < 2; i++) {
        redis_impl_t *r = &impls[i];
        if (r->reason[0])
            continue;
        int port = nb_pick_port();
        if (port < 0) {
            snprintf(r->reason, sizeof r->reason, "no free port");
            continue;
        }
        char port_s[16];
        snprintf(port_s, sizeof port_s, "%d", port);
        char *weft_argv[] = {mini, port_s, NULL};
        char *redis_argv[] = {server, "--port",       port_s, "--bind",     "127.0.0.1", "--save",
                              "",     "--appendonly", "no",   "--loglevel", "warning",   NULL};
        static const char *const weft_env[] = {"WEFT_WORKERS=1", NULL};
        if (nb_server_start(&r->srv, i == 0 ? weft_argv : redis_argv, i == 0 ? weft_env : NULL,
                            NB_SERVER_CPU, port, r->reason, sizeof r->reason) != 0 &&
            !r->reason[0])
            snprintf(r->reason, sizeof r->reason, "could not start");
    }

    for (size_t p = 0; p < sizeof pipelines / sizeof pipelines[0]; p++) {
        long n = bench_n(pipelines[p] == 1 ? N_PLAIN : N_PIPELINED);
        for (int t = 0; t < 4; t++)
            for (int i = 0; i < 2; i++)
                run_test(&impls[i], bench, t, pipelines[p], n);
    }
    for (int i = 0; i < 2; i++)
        nb_server_stop(&impls[i].srv);
    return 0;
}
