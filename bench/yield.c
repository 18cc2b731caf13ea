/* yield.c - the `yield` workload: two tasks alternate through the
 * scheduler, N (10^6) yields each; ns_per_op per switch = wall / (2N).
 *
 * impls: weft (weft_yield), weft-copystack (the same two tasks in
 * copy-stack mode: each switch saves one task's live frames off the shared
 * stack and copies the other's back), go (runtime.Gosched, GOMAXPROCS 1
 * and 2), asyncio (await asyncio.sleep(0)).
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
    int stack_mode; /* weft_stack_mode_t of the two tasks */
    int64_t ns;
} yield_run_t;

static int yield_main(void *arg, void **result)
{
    (void)result;
    yield_run_t *r = arg;
    weft_task_t *t[2] = {NULL, NULL};
    weft_task_opts_t opts = {.stack_mode = r->stack_mode};
    int64_t t0 = bench_now_ns();
    int rc = weft_spawn(&t[0], yielder, &r->n, &opts);
    if (rc == 0)
        rc = weft_spawn(&t[1], yielder, &r->n, &opts);
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

static int run_weft(const char *impl, int mode, long n)
{
    yield_run_t r = {.n = n, .stack_mode = mode};
    bench_note("yield: %s", impl);
    int rc = weft_run(yield_main, &r, NULL);
    if (rc != 0) {
        bench_skip(W, impl, weft_strerror(rc));
        return -1;
    }
    bench_json(W, impl, "\"ns_per_op\":%.2f,\"n\":%ld", (double)r.ns / (2.0 * (double)n), n);
    return 0;
}

int bench_yield(void)
{
    long n = bench_n(YIELD_N);
    int ret = 0;
    ret |= run_weft("weft", WEFT_STACK_OWN, n);
    ret |= run_weft("weft-copystack", WEFT_STACK_COPY, n);

    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};
    run_go_peer(W, "yield", args, PEER_TIMEOUT_S);
    run_py_peer(W, "yield", args, PEER_TIMEOUT_S);
    return ret;
}
