/* pipeline.c - the `pipeline` workload: the main task feeds 1,000,000
 * integers through 4 stages joined by channels of capacity 64 to a sink;
 * each stage applies the same fixed integer kernel (40 rounds of a 64-bit
 * LCG) to each item, the sink sums (checked against the same sum computed
 * without tasks). ns_per_op per item, at `workers` 1 and 2, the stages and
 * the sink spawned plainly in a runtime set to spread ("place":
 * "spread").
 *
 * impls: weft; go (goroutines and chans of cap 64, GOMAXPROCS 1 and 2:
 * bench/peers/pipeline.go, the same arithmetic).
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#define PIPE_ITEMS 1000000L
#define PIPE_STAGES 4
#define PIPE_CAP 64
#define PIPE_ROUNDS 40
#define PEER_TIMEOUT_S 600

static const char *const W = "pipeline";

/* One stage's work on an item; its twin in pipeline.go computes the same. */
static uint64_t kernel(uint64_t x)
{
    for (int i = 0; i < PIPE_ROUNDS; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

typedef struct {
    weft_chan_t *in, *out; /* out NULL: the sink */
    uint64_t sum;
} stage_t;

/* Items travel as uint64_t values boxed in the pointer (never 0: +1). */
static int stage(void *arg, void **result)
{
    (void)result;
    stage_t *s = arg;
    for (;;) {
        void *v;
        int rc = weft_chan_recv(s->in, &v);
        if (rc == -EPIPE)
            break;
        if (rc < 0)
            return rc;
        uint64_t x = (uint64_t)(uintptr_t)v - 1;
        if (!s->out) {
            s->sum += x;
            continue;
        }
        x = kernel(x) >> 1; /* fits a pointer's value range with +1 */
        if ((rc = weft_chan_send(s->out, (void *)(uintptr_t)(x + 1))) < 0)
            return rc;
    }
    if (s->out)
        weft_chan_close(s->out);
    return 0;
}

typedef struct {
    long n;
    uint64_t sum;
    int64_t ns;
} pipe_t;

static int pipe_main(void *arg, void **result)
{
    (void)result;
    pipe_t *p = arg;
    weft_chan_t *ch[PIPE_STAGES + 1] = {0};
    stage_t st[PIPE_STAGES + 1];
    weft_task_t *t[PIPE_STAGES + 1] = {0};
    int rc = 0;
    for (int i = 0; i <= PIPE_STAGES && rc == 0; i++)
        rc = weft_chan_create(&ch[i], PIPE_CAP);
    int64_t t0 = bench_now_ns();
    for (int i = 0; i <= PIPE_STAGES && rc == 0; i++) {
        st[i] = (stage_t){.in = ch[i], .out = i < PIPE_STAGES ? ch[i + 1] : NULL};
        rc = weft_spawn(&t[i], stage, &st[i], NULL);
    }
    for (long v = 0; v < p->n && rc == 0; v++)
        rc = weft_chan_send(ch[0], (void *)(uintptr_t)(v + 1));
    if (ch[0])
        weft_chan_close(ch[0]);
    for (int i = 0; i <= PIPE_STAGES; i++) {
        if (t[i]) {
            int trc = weft_await(t[i], NULL);
            rc = rc ? rc : trc;
            weft_task_release(t[i]);
        }
    }
    p->ns = bench_now_ns() - t0;
    p->sum = st[PIPE_STAGES].sum;
    for (int i = 0; i <= PIPE_STAGES; i++)
        if (ch[i])
            weft_chan_destroy(ch[i]);
    return rc;
}

static uint64_t expected(long n)
{
    uint64_t sum = 0;
    for (long v = 0; v < n; v++) {
        uint64_t x = (uint64_t)v;
        for (int s = 0; s < PIPE_STAGES; s++)
            x = kernel(x) >> 1;
        sum += x;
    }
    return sum;
}

static int run_weft(int workers, long n, uint64_t want)
{
    pipe_t p = {.n = n};
    weft_config_t cfg = {.workers = workers, .spread = true};
    bench_note("pipeline: weft, %d workers", workers);
    int rc = weft_run_config(&cfg, pipe_main, &p, NULL);
    if (rc == 0 && p.sum != want)
        rc = -EPROTO;
    if (rc != 0) {
        bench_skip(W, "weft", rc == -EPROTO ? "wrong sum" : weft_strerror(rc));
        return -1;
    }
    bench_json(W, "weft",
               "\"workers\":%d,\"place\":\"spread\",\"ns_per_op\":%.2f,\"n\":%ld,\"check\":\"%016llx\"",
               workers, (double)p.ns / (double)n, n, (unsigned long long)p.sum);
    return 0;
}

int bench_pipeline(void)
{
    long n = bench_n(PIPE_ITEMS);
    uint64_t want = expected(n);
    int ret = 0;
    for (int w = 1; w <= 2; w++)
        ret |= run_weft(w, n, want);
    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};
    run_go_peer(W, "pipeline", args, PEER_TIMEOUT_S);
    return ret;
}
