/* chan.c - the `chan` workload: ping-pong over an unbuffered channel, N
 * (10^6) round trips; ns_per_op one way = wall / (2N).
 *
 * impls: go (two goroutines, an unbuffered chan each way, GOMAXPROCS 1
 * and 2). weft's side comes with its channels: bench_chan_weft() is the
 * place for it.
 */
#include "bench.h"

#include <stdio.h>

#define CHAN_N 1000000L
#define PEER_TIMEOUT_S 600

static const char *const W = "chan";

/* The weft impl: to be written with weft's channels (the sync issue).
 * Until then it prints a skipped line. Returns 0 or -1 as a workload
 * does. */
int bench_chan_weft(long n);

int bench_chan_weft(long n)
{
    (void)n;
    bench_skip(W, "weft", "not built yet");
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
