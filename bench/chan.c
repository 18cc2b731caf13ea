/* chan.c - the `chan` workload: ping-pong over an unbuffered channel, N
 * (10^6) round trips; ns_per_op one way = wall / (2N).
 *
 * impls: weft (two tasks, an unbuffered weft_chan_t each way), go (two
 * goroutines, an unbuffered chan each way, GOMAXPROCS 1 and 2).
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#define CHAN_N 1000000L
#define PEER_TIMEOUT_S 600

static const char *const W = "chan";

/* The weft impl: main and a partner task bounce a value over an
 * unbuffered channel each way, n round trips. */
typedef struct {
    weft_chan_t *ping, *pong;
    long n;
} cjob_t;

static int partner(void *arg, void **result)
{
    (void)result;
    cjob_t *j = arg;
    for (long i = 0; i < j->n; i++) {
        void *v;
        int rc = weft_chan_recv(j->ping, &v);
        if (rc == 0)
            rc = weft_chan_send(j->pong, v);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int chan_main(void *arg, void **result)
{
    cjob_t *j = arg;
    int rc = weft_chan_create(&j->ping, 0);
    if (rc == 0 && (rc = weft_chan_create(&j->pong, 0)) < 0)
        weft_chan_destroy(j->ping);
    if (rc < 0)
        return rc;
    weft_task_t *p;
    int64_t t0 = bench_now_ns();
    if ((rc = weft_spawn(&p, partner, j, NULL)) == 0) {
        for (long i = 0; i < j->n && rc == 0; i++) {
            void *v;
            rc = weft_chan_send(j->ping, (void *)(intptr_t)i);
            if (rc == 0)
                rc = weft_chan_recv(j->pong, &v);
            if (rc == 0 && (intptr_t)v != i)
                rc = -EPROTO;
        }
        int prc = weft_await(p, NULL);
        weft_task_release(p);
        if (rc == 0)
            rc = prc;
    }
    int64_t t1 = bench_now_ns();
    weft_chan_destroy(j->ping);
    weft_chan_destroy(j->pong);
    *result = (void *)(intptr_t)(t1 - t0);
    return rc;
}

int bench_chan_weft(long n);

int bench_chan_weft(long n)
{
    cjob_t j = {.n = n};
    void *ns;
    int rc = weft_run(chan_main, &j, &ns);
    if (rc < 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        return -1;
    }
    bench_json(W, "weft", "\"ns_per_op\":%.2f,\"n\":%ld", (double)(intptr_t)ns / (2.0 * (double)n),
               n);
    return 0;
}

int bench_chan(void)
{
    long n = bench_n(CHAN_N);
    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};

    int rc = bench_chan_weft(n);
    run_go_peer(W, "chan", args, PEER_TIMEOUT_S);
    return rc;
}
