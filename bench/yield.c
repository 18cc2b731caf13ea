/* yield.c - the `yield` workload: two tasks alternate through the
 * scheduler, N (10^6) yields each; ns_per_op per switch = wall / (2N).
 *
 * impls: weft (weft_yield), go (runtime.Gosched, GOMAXPROCS 1 and 2),
 * asyncio (await asyncio.sleep(0)).
 */
#include "bench.h"

#include <weft.h>

#include <stdio.h>

#define YIELD_N 1000000L
#define PEER_TIMEOUT_S 600

static const char *const W = "yield";

static int yielder(void *arg, void **result)
{
    (void)result;
    long n = *(const long *)arg;
    for (long i = 0; i < n; i++) {
        int rc = weft_yield();
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef struct yield_run {
    long n;
    int64_t ns;
} yield_run_t;

static int yield_main(void *arg, void **result)
{
    (void)result;
    yield_run_t *r = arg;
    weft_task_t *t[2] = {NULL, NULL};
    int64_t t0 = bench_now_ns();
    int rc = weft_spawn(&t[0], yielder, &r->n, NULL);
    if (rc == 0)
        rc = weft_spawn(&t[1], yielder, &r->n, NULL);
    for (int i = 0; i < 2; i++) {
        if (!t[i])
            continue;
        int arc = weft_await(t[i], NULL);
        if (arc != 0 && rc == 0)
            rc = arc;
        weft_task_release(t[i]);
    }
    r->ns = bench_now_ns() - t0;
    return rc;
}

int bench_yield(void)
{
    long n = bench_n(YIELD_N);
    yield_run_t r = {.n = n};
    int ret = 0;

    bench_note("yield: weft");
    int rc = weft_run(yield_main, &r, NULL);
    if (rc != 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        ret = -1;
    } else {
        bench_json(W, "weft", "\"ns_per_op\":%.2f,\"n\":%ld", (double)r.ns / (2.0 * (double)n), n);
    }

    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};
    run_go_peer(W, "yield", args, PEER_TIMEOUT_S);
    run_py_peer(W, "yield", args, PEER_TIMEOUT_S);
    return ret;
}
