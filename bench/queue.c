/* queue.c - the `queue` workload: one producer and one consumer task pass
 * 1,000,000 integers through a queue of maxsize 1024; ns_per_op per item
 * and items_per_s.
 *
 * impls: go (a chan int of cap 1024, GOMAXPROCS 1 and 2), asyncio
 * (asyncio.Queue(1024)). weft's side comes with its queues:
 * bench_queue_weft() is the place for it.
 */
#include "bench.h"

#include <stdio.h>

#define QUEUE_N 1000000L
#define PEER_TIMEOUT_S 600

static const char *const W = "queue";

/* The weft impl: to be written with weft's queues (the sync issue). Until
 * then it prints a skipped line. Returns 0 or -1 as a workload does. */
int bench_queue_weft(long n);

int bench_queue_weft(long n)
{
    (void)n;
    bench_skip(W, "weft", "not built yet");
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
