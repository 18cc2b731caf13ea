/* queue_fanin.c - the `queue_fanin` workload: 4 producers and 4 consumers
 * share one channel of capacity 1024; the producers send 1,000,000
 * integers in all, the consumers sum what they receive (the sum is
 * checked). ns_per_op per item, at `workers` 1 and 2, tasks spawned
 * plainly in a runtime set to spread ("place": "spread"; each producer
 * spawned beside a consumer).
 *
 * impls: weft; go (goroutines and a chan of cap 1024, GOMAXPROCS 1 and 2:
 * bench/peers/queue_fanin.go).
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#define FANIN_ITEMS 1000000L
#define FANIN_SIDES 4
#define FANIN_CAP 1024
#define PEER_TIMEOUT_S 600

static const char *const W = "queue_fanin";

typedef struct {
    weft_chan_t *ch;
    long n;              /* items in all */
    uint64_t sum;        /* the consumers', added atomically */
    int64_t ns;
} fanin_t;

typedef struct {
    fanin_t *f;
    long from, to; /* a producer's share: values from..to-1 */
} side_t;

static int producer(void *arg, void **result)
{
    (void)result;
    side_t *s = arg;
    for (long v = s->from; v < s->to; v++) {
        int rc = weft_chan_send(s->f->ch, (void *)(intptr_t)(v + 1)); /* never NULL */
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int consumer(void *arg, void **result)
{
    (void)result;
    side_t *s = arg;
    uint64_t sum = 0;
    for (;;) {
        void *v;
        int rc = weft_chan_recv(s->f->ch, &v);
        if (rc == -EPIPE)
            break;
        if (rc < 0)
            return rc;
        sum += (uint64_t)(intptr_t)v - 1;
    }
    __atomic_fetch_add(&s->f->sum, sum, __ATOMIC_RELAXED);
    return 0;
}

static int fanin_main(void *arg, void **result)
{
    (void)result;
    fanin_t *f = arg;
    int rc = weft_chan_create(&f->ch, FANIN_CAP);
    if (rc < 0)
        return rc;
    side_t prod[FANIN_SIDES], cons[FANIN_SIDES];
    weft_task_t *tp[FANIN_SIDES] = {0}, *tc[FANIN_SIDES] = {0};
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < FANIN_SIDES && rc == 0; i++) {
        prod[i] = (side_t){f, f->n * i / FANIN_SIDES, f->n * (i + 1) / FANIN_SIDES};
        cons[i] = (side_t){f, 0, 0};
        if ((rc = weft_spawn(&tp[i], producer, &prod[i], NULL)) == 0)
            rc = weft_spawn(&tc[i], consumer, &cons[i], NULL);
    }
    for (int i = 0; i < FANIN_SIDES; i++) {
        if (tp[i]) {
            int trc = weft_await(tp[i], NULL);
            rc = rc ? rc : trc;
            weft_task_release(tp[i]);
        }
    }
    weft_chan_close(f->ch); /* the consumers drain what is left, then see -EPIPE */
    for (int i = 0; i < FANIN_SIDES; i++) {
        if (tc[i]) {
            int trc = weft_await(tc[i], NULL);
            rc = rc ? rc : trc;
            weft_task_release(tc[i]);
        }
    }
    f->ns = bench_now_ns() - t0;
    weft_chan_destroy(f->ch);
    return rc;
}

static int run_weft(int workers, long n)
{
    fanin_t f = {.n = n};
    weft_config_t cfg = {.workers = workers, .spread = true};
    bench_note("queue_fanin: weft, %d workers", workers);
    int rc = weft_run_config(&cfg, fanin_main, &f, NULL);
    uint64_t want = (uint64_t)n * (uint64_t)(n - 1) / 2;
    if (rc == 0 && f.sum != want)
        rc = -EPROTO;
    if (rc != 0) {
        bench_skip(W, "weft", rc == -EPROTO ? "wrong sum" : weft_strerror(rc));
        return -1;
    }
    bench_json(W, "weft", "\"workers\":%d,\"place\":\"spread\",\"ns_per_op\":%.2f,\"n\":%ld",
               workers, (double)f.ns / (double)n, n);
    return 0;
}

int bench_queue_fanin(void)
{
    long n = bench_n(FANIN_ITEMS);
    int ret = 0;
    for (int w = 1; w <= 2; w++)
        ret |= run_weft(w, n);
    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};
    run_go_peer(W, "queue_fanin", args, PEER_TIMEOUT_S);
    return ret;
}
