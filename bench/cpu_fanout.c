/* cpu_fanout.c - the `cpu_fanout` workload: 20,000 tasks, each running
 * the same fixed integer kernel (about 50 us here), spawned "anywhere"
 * and awaited through a group; `seconds` from the first spawn to the
 * last completion, with `workers` 1 and 2 (and one per core when the
 * machine has more than 2). The speed-up from 1 to 2 workers is read
 * within each impl, so the compilers do not decide it.
 *
 * impls: weft, with `place` "spread" (a plain weft_spawn in a runtime set
 * to spread) and "any" (WEFT_PLACE_ANY task by task in a runtime that
 * does not spread); idle workers steal either way; go (one goroutine per
 * task and a WaitGroup, GOMAXPROCS 1 and 2: bench/peers/cpu_fanout.go,
 * the same arithmetic).
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#define FANOUT_TASKS 20000L
#define KERNEL_ITERS 25000
#define PEER_TIMEOUT_S 600

static const char *const W = "cpu_fanout";

/* The kernel: a 64-bit LCG with an xor-shift, KERNEL_ITERS rounds; its
 * twin in cpu_fanout.go computes the same value. */
static uint64_t kernel(uint64_t x)
{
    for (int i = 0; i < KERNEL_ITERS; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        x ^= x >> 29;
    }
    return x;
}

typedef struct {
    long n;
    bool spread;  /* plain spawns in a spreading runtime, else WEFT_PLACE_ANY */
    uint64_t sum; /* each task adds its result atomically (Go: sync/atomic) */
    int64_t ns;
} fanout_t;

typedef struct {
    fanout_t *f;
    uint64_t seed;
} job_t;

static int work(void *arg, void **result)
{
    (void)result;
    job_t *j = arg;
    __atomic_fetch_add(&j->f->sum, kernel(j->seed), __ATOMIC_RELAXED);
    return 0;
}

static int fanout_main(void *arg, void **result)
{
    (void)result;
    fanout_t *f = arg;
    job_t *jobs = calloc((size_t)f->n, sizeof *jobs);
    if (!jobs)
        return -ENOMEM;
    weft_group_t *g;
    int rc = weft_group_create(&g);
    if (rc == 0) {
        weft_task_opts_t any = {.place = WEFT_PLACE_ANY};
        const weft_task_opts_t *o = f->spread ? NULL : &any;
        int64_t t0 = bench_now_ns();
        for (long i = 0; i < f->n && rc == 0; i++) {
            jobs[i] = (job_t){.f = f, .seed = (uint64_t)i};
            rc = weft_group_spawn(g, NULL, work, &jobs[i], o);
        }
        int wrc = weft_group_wait(g);
        f->ns = bench_now_ns() - t0;
        if (rc == 0)
            rc = wrc;
        weft_group_destroy(g);
    }
    free(jobs);
    return rc;
}

static int run_weft(int workers, long n, bool spread)
{
    fanout_t f = {.n = n, .spread = spread};
    weft_config_t cfg = {.workers = workers, .spread = spread};
    bench_note("cpu_fanout: weft, %d workers, %s", workers, spread ? "spread" : "any");
    int rc = weft_run_config(&cfg, fanout_main, &f, NULL);
    if (rc != 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        return -1;
    }
    bench_json(W, "weft",
               "\"workers\":%d,\"place\":\"%s\",\"seconds\":%.4f,\"n\":%ld,\"check\":\"%016llx\"",
               workers, spread ? "spread" : "any", (double)f.ns / 1e9, n,
               (unsigned long long)f.sum);
    return 0;
}

int bench_cpu_fanout(void)
{
    long n = bench_n(FANOUT_TASKS);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int ret = 0;
    for (int spread = 1; spread >= 0; spread--) {
        ret |= run_weft(1, n, spread);
        ret |= run_weft(2, n, spread);
        if (cores > 2)
            ret |= run_weft((int)cores, n, spread);
    }

    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};
    run_go_peer(W, "cpu_fanout", args, PEER_TIMEOUT_S);
    return ret;
}
