/* chan_pairs.c - the `chan_pairs` workload: `pairs` independent pairs of
 * tasks; each pair passes a value back and forth over two unbuffered
 * channels, 20,000 round trips a pair at 64 pairs and 2,000 at 1,000.
 * ns_per_op per one-way message = wall / (2 x pairs x round trips).
 *
 * impls: weft, spawning plainly in a runtime set to spread ("place":
 * "spread"), at `workers` 1 and 2; and, at 64 pairs, the tasks pinned to
 * the spawning worker ("place": "here") at 1 and 2 workers: what a second
 * worker costs tasks that stay on one. go: goroutines at GOMAXPROCS 1 and
 * 2 (bench/peers/chan_pairs.go).
 *
 * The pairs are spawned side by side (ping, then its pong), so a thief
 * that takes the older half of the unstarted tasks takes whole pairs.
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PEER_TIMEOUT_S 600

static const char *const W = "chan_pairs";

typedef struct {
    weft_chan_t *ab, *ba;
    long trips;
} pair_t;

static int ping(void *arg, void **result)
{
    (void)result;
    pair_t *p = arg;
    for (long i = 0; i < p->trips; i++) {
        void *v;
        int rc = weft_chan_send(p->ab, (void *)(intptr_t)i);
        if (rc == 0)
            rc = weft_chan_recv(p->ba, &v);
        if (rc == 0 && (intptr_t)v != i)
            rc = -EPROTO;
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int pong(void *arg, void **result)
{
    (void)result;
    pair_t *p = arg;
    for (long i = 0; i < p->trips; i++) {
        void *v;
        int rc = weft_chan_recv(p->ab, &v);
        if (rc == 0)
            rc = weft_chan_send(p->ba, v);
        if (rc < 0)
            return rc;
    }
    return 0;
}

typedef struct {
    long pairs, trips;
    bool here;
    int64_t ns;
} run_t;

static int pairs_main(void *arg, void **result)
{
    (void)result;
    run_t *r = arg;
    pair_t *ps = calloc((size_t)r->pairs, sizeof *ps);
    weft_task_t **ts = calloc((size_t)r->pairs * 2, sizeof *ts);
    int rc = ps && ts ? 0 : -ENOMEM;
    for (long i = 0; i < r->pairs && rc == 0; i++) {
        ps[i].trips = r->trips;
        if ((rc = weft_chan_create(&ps[i].ab, 0)) == 0)
            rc = weft_chan_create(&ps[i].ba, 0);
    }
    weft_task_opts_t here = {.place = WEFT_PLACE_HERE};
    const weft_task_opts_t *o = r->here ? &here : NULL; /* NULL: the runtime's rule */
    long spawned = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < r->pairs && rc == 0; i++) {
        if ((rc = weft_spawn(&ts[2 * i], ping, &ps[i], o)) == 0)
            spawned++;
        if (rc == 0 && (rc = weft_spawn(&ts[2 * i + 1], pong, &ps[i], o)) == 0)
            spawned++;
    }
    for (long i = 0; i < spawned; i++) {
        int trc = weft_await(ts[i], NULL);
        if (rc == 0)
            rc = trc;
        weft_task_release(ts[i]);
    }
    r->ns = bench_now_ns() - t0;
    for (long i = 0; ps && i < r->pairs; i++) {
        if (ps[i].ab)
            weft_chan_destroy(ps[i].ab);
        if (ps[i].ba)
            weft_chan_destroy(ps[i].ba);
    }
    free(ps);
    free(ts);
    return rc;
}

static int run_weft(int workers, long pairs, long trips, bool here)
{
    run_t r = {.pairs = pairs, .trips = trips, .here = here};
    weft_config_t cfg = {.workers = workers, .spread = !here};
    const char *place = here ? "here" : "spread";
    bench_note("chan_pairs: weft, %ld pairs, %d workers, %s", pairs, workers, place);
    int rc = weft_run_config(&cfg, pairs_main, &r, NULL);
    if (rc != 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        return -1;
    }
    bench_json(W, "weft",
               "\"pairs\":%ld,\"workers\":%d,\"place\":\"%s\",\"ns_per_op\":%.2f,\"n\":%ld", pairs,
               workers, place, (double)r.ns / (2.0 * (double)pairs * (double)trips), trips);
    return 0;
}

int bench_chan_pairs(void)
{
    static const long shape[][2] = {{64, 20000}, {1000, 2000}};
    int ret = 0;
    for (size_t k = 0; k < 2; k++) {
        long pairs = shape[k][0], trips = bench_n(shape[k][1]);
        for (int w = 1; w <= 2; w++)
            ret |= run_weft(w, pairs, trips, false);
        if (pairs == 64)
            for (int w = 1; w <= 2; w++)
                ret |= run_weft(w, pairs, trips, true);
        char p_arg[32], n_arg[32];
        snprintf(p_arg, sizeof p_arg, "%ld", pairs);
        snprintf(n_arg, sizeof n_arg, "%ld", trips);
        const char *const args[] = {"-pairs", p_arg, "-n", n_arg, NULL};
        run_go_peer(W, "chan_pairs", args, PEER_TIMEOUT_S);
    }
    return ret;
}
