/* queue.c - the `queue` workload: one producer and one consumer task pass
 * 1,000,000 integers through a queue of maxsize 1024; ns_per_op per item
 * and items_per_s.
 *
 * impls: weft (weft_queue_t, FIFO, maxsize 1024), go (a chan int of cap
 * 1024, GOMAXPROCS 1 and 2), asyncio (asyncio.Queue(1024)).
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#define QUEUE_N 1000000L
#define PEER_TIMEOUT_S 600

static const char *const W = "queue";

/* The weft impl: a producer task puts 1..n into a FIFO queue of maxsize
 * 1024, the main task gets them all; the sum is checked. */
typedef struct {
    weft_queue_t *q;
    long n;
} qjob_t;

static int producer(void *arg, void **result)
{
    (void)result;
    qjob_t *j = arg;
    for (long i = 1; i <= j->n; i++) {
        int rc = weft_queue_put(j->q, (void *)(intptr_t)i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int queue_main(void *arg, void **result)
{
    qjob_t *j = arg;
    int rc = weft_queue_create(&j->q, WEFT_QUEUE_FIFO, 1024, NULL);
    if (rc < 0)
        return rc;
    weft_task_t *p;
    int64_t t0 = bench_now_ns();
    if ((rc = weft_spawn(&p, producer, j, NULL)) < 0)
        return rc;
    long sum = 0;
    for (long i = 0; i < j->n && rc == 0; i++) {
        void *v;
        rc = weft_queue_get(j->q, &v);
        sum += (long)(intptr_t)v;
    }
    int prc = weft_await(p, NULL);
    int64_t t1 = bench_now_ns();
    weft_task_release(p);
    weft_queue_destroy(j->q);
    if (rc == 0 && prc == 0 && sum != j->n * (j->n + 1) / 2)
        rc = -EPROTO;
    *result = (void *)(intptr_t)(t1 - t0);
    return rc < 0 ? rc : prc;
}

int bench_queue_weft(long n);

int bench_queue_weft(long n)
{
    qjob_t j = {.n = n};
    void *ns;
    int rc = weft_run(queue_main, &j, &ns);
    if (rc < 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        return -1;
    }
    double per = (double)(intptr_t)ns / (double)n;
    bench_json(W, "weft", "\"ns_per_op\":%.2f,\"items_per_s\":%.0f,\"n\":%ld", per, 1e9 / per, n);
    return 0;
}

int bench_queue(void)
{
    long n = bench_n(QUEUE_N);
    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};

    int rc = bench_queue_weft(n);
    run_go_peer(W, "queue", args, PEER_TIMEOUT_S);
    run_py_peer(W, "queue", args, PEER_TIMEOUT_S);
    return rc;
}
