/* spawn.c - the `spawn` workload: spawn 1,000,000 tasks that return at
 * once, then await them all; ns_per_op per task and peak_rss_mb.
 *
 * impls: weft (inside weft_run: weft_spawn each into an array of handles,
 * then weft_await + weft_task_release each), go (goroutines + WaitGroup,
 * GOMAXPROCS 1 and 2), asyncio (gather of create_task'd coroutines), and,
 * for the claim that coroutines are lighter than threads and processes,
 * pthread (pthread_create + pthread_join with default attributes, n
 * 100,000, in batches of `at_once` threads: all of a batch created, then
 * all joined) and fork (fork, _exit(0), waitpid; n 2,000, one at a time).
 * peak_rss_mb is VmHWM, reset before each in-process run; the fork line
 * has none (the children's memory is not the parent's). weft's array of
 * handles (8 bytes a task, the bench's bookkeeping, which Go's WaitGroup
 * does without) is touched before the clock starts, as in `sleepers`; it
 * still counts in peak_rss_mb.
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAWN_N 1000000L
#define PTHREAD_N 100000L
#define PTHREAD_AT_ONCE 1000L
#define FORK_N 2000L
#define PEER_TIMEOUT_S 600

static const char *const W = "spawn";

/* ---- weft ---- */

static int nop_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

typedef struct spawn_run {
    long n;
    weft_task_t **tasks;
    int64_t ns;
} spawn_run_t;

static int spawn_main(void *arg, void **result)
{
    (void)result;
    spawn_run_t *r = arg;
    int rc = 0;
    long spawned = 0;
    int64_t t0 = bench_now_ns();
    for (; spawned < r->n; spawned++) {
        rc = weft_spawn(&r->tasks[spawned], nop_task, NULL, NULL);
        if (rc != 0)
            break;
    }
    for (long i = 0; i < spawned; i++) {
        int arc = weft_await(r->tasks[i], NULL);
        if (arc != 0 && rc == 0)
            rc = arc;
        weft_task_release(r->tasks[i]);
    }
    r->ns = bench_now_ns() - t0;
    return rc;
}

static int run_weft(long n)
{
    spawn_run_t r = {.n = n, .tasks = malloc((size_t)n * sizeof(weft_task_t *))};
    if (!r.tasks) {
        bench_skip(W, "weft", "out of memory");
        return -1;
    }
    /* the bench's own array of handles (Go's WaitGroup needs none) is
     * touched before the clock starts, as `sleepers` does */
    memset(r.tasks, 0, (size_t)n * sizeof(weft_task_t *));
    if (bench_peak_reset() != 0)
        bench_note("spawn: cannot reset VmHWM; peak_rss_mb covers the whole run");
    int rc = weft_run(spawn_main, &r, NULL);
    double peak = bench_peak_rss_mb();
    free(r.tasks);
    if (rc != 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        return -1;
    }
    bench_json(W, "weft", "\"ns_per_op\":%.2f,\"n\":%ld,\"peak_rss_mb\":%.1f",
               (double)r.ns / (double)n, n, peak);
    return 0;
}

/* ---- pthread ---- */

static void *nop_thread(void *arg)
{
    return arg;
}

static int run_pthread(long n)
{
    pthread_t th[PTHREAD_AT_ONCE];
    int err = 0;
    if (bench_peak_reset() != 0)
        bench_note("spawn: cannot reset VmHWM; peak_rss_mb covers the whole run");
    int64_t t0 = bench_now_ns();
    for (long done = 0; done < n && err == 0;) {
        long batch = n - done < PTHREAD_AT_ONCE ? n - done : PTHREAD_AT_ONCE;
        long made = 0;
        for (; made < batch; made++)
            if ((err = pthread_create(&th[made], NULL, nop_thread, NULL)) != 0)
                break;
        for (long i = 0; i < made; i++) {
            int jerr = pthread_join(th[i], NULL);
            if (jerr != 0 && err == 0)
                err = jerr;
        }
        done += made;
    }
    int64_t t1 = bench_now_ns();
    if (err != 0) {
        char reason[128];
        snprintf(reason, sizeof reason, "pthread_create/join: %s", strerror(err));
        bench_skip(W, "pthread", reason);
        return 0; /* a system limit, not a weft failure */
    }
    bench_json(W, "pthread", "\"ns_per_op\":%.2f,\"n\":%ld,\"at_once\":%ld,\"peak_rss_mb\":%.1f",
               (double)(t1 - t0) / (double)n, n, (long)PTHREAD_AT_ONCE, bench_peak_rss_mb());
    return 0;
}

/* ---- fork ---- */

static int run_fork(long n)
{
    int err = 0;
    fflush(stdout); /* children _exit, but keep no buffered output anyway */
    fflush(stderr);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && err == 0; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            err = errno;
            break;
        }
        if (pid == 0)
            _exit(0);
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
        }
        if (w < 0)
            err = errno;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            err = ECHILD;
    }
    int64_t t1 = bench_now_ns();
    if (err != 0) {
        char reason[128];
        snprintf(reason, sizeof reason, "fork/waitpid: %s", strerror(err));
        bench_skip(W, "fork", reason);
        return 0;
    }
    bench_json(W, "fork", "\"ns_per_op\":%.2f,\"n\":%ld", (double)(t1 - t0) / (double)n, n);
    return 0;
}

int bench_spawn(void)
{
    long n = bench_n(SPAWN_N);
    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    const char *const args[] = {"-n", n_arg, NULL};
    int rc = 0;

    /* threads and processes first: fork is slower in a parent that a
     * million tasks have grown, and glibc keeps the memory it got. */
    bench_note("spawn: pthread");
    rc |= run_pthread(bench_n(PTHREAD_N));
    bench_note("spawn: fork");
    rc |= run_fork(bench_n(FORK_N));
    bench_note("spawn: weft");
    rc |= run_weft(n);
    run_go_peer(W, "spawn", args, PEER_TIMEOUT_S);
    run_py_peer(W, "spawn", args, PEER_TIMEOUT_S);
    return rc;
}
