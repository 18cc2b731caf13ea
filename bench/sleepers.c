/* sleepers.c - the `sleepers` workload: n (1,000,000) tasks; task i sleeps
 * until T0 + W + i us (T0: the start of the run, W: 30 s), so all are
 * asleep at once on distinct timers.
 *
 *   start_s          from T0 until all are asleep (each task counts itself
 *                    just before it sleeps; the main task, having spawned
 *                    them all, yields until the count reaches n)
 *   bytes_per_task   growth of VmRSS + VmPTE from before the spawns to all
 *                    asleep, / n
 *   faults_per_task  minor faults (getrusage) while starting, / n
 *   wake_s           from the last deadline (T0 + W + (n-1) us) until all
 *                    have ended (awaited)
 *   late             true when not all were asleep by T0 + W (the line
 *                    then does not count)
 *
 * impls: weft (weft_sleep_until, each task on its own stack),
 * weft-copystack (the same with stack_mode WEFT_STACK_COPY: the tasks run
 * on the shared stack and each keeps only its saved frames), go
 * (time.Sleep until the deadline, GOMAXPROCS 1 and 2), asyncio
 * (asyncio.sleep(deadline - loop.time())). Each weft impl runs in a child
 * process of its own (forked before weft is used), so neither inherits
 * the pages the other left warm.
 * WEFT_BENCH_SCALE scales n and W alike, W staying at least 2 s. weft's
 * array of task handles (8 bytes a task, the bench's bookkeeping) is
 * touched before the first reading so it does not count.
 */
#include "bench.h"

#include <weft.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLEEPERS_N 1000000L
#define SLEEPERS_WAIT_NS 30000000000LL
#define SLEEPERS_MIN_WAIT_NS 2000000000LL

static const char *const W = "sleepers";

typedef struct sleepers_run {
    long n;
    int stack_mode; /* weft_stack_mode_t of the sleepers */
    int64_t wait_ns;
    weft_task_t **tasks;
    int64_t t0;         /* T0, on weft_now() */
    atomic_long asleep; /* tasks about to sleep */
    /* results */
    double start_s, wake_s, bytes_per_task, faults_per_task;
    bool late;
} sleepers_run_t;

/* The run the sleepers belong to (one at a time); each task's argument is
 * its index i. */
static sleepers_run_t *run;

static int sleeper(void *arg, void **result)
{
    (void)result;
    long i = (long)(intptr_t)arg;
    int64_t deadline = run->t0 + run->wait_ns + WEFT_USEC(i);
    atomic_fetch_add_explicit(&run->asleep, 1, memory_order_relaxed);
    return weft_sleep_until(deadline);
}

static int sleepers_main(void *arg, void **result)
{
    (void)result;
    sleepers_run_t *r = arg;
    int rc = 0;
    long spawned = 0;

    long long mem0 = bench_rss_pte_bytes();
    long faults0 = bench_minor_faults();
    weft_task_opts_t opts = {.stack_mode = r->stack_mode};
    r->t0 = weft_now();
    for (; spawned < r->n; spawned++) {
        rc = weft_spawn(&r->tasks[spawned], sleeper, (void *)(intptr_t)spawned, &opts);
        if (rc != 0)
            break;
    }
    while (rc == 0 && atomic_load_explicit(&r->asleep, memory_order_relaxed) < r->n)
        rc = weft_yield();
    int64_t t_asleep = weft_now();
    long long mem1 = bench_rss_pte_bytes();
    long faults1 = bench_minor_faults();
    if (rc != 0)
        for (long i = 0; i < spawned; i++)
            weft_cancel(r->tasks[i]);
    bench_note("sleepers: %s: all asleep after %.3f s, waiting for the deadlines",
               r->stack_mode == WEFT_STACK_COPY ? "weft-copystack" : "weft",
               (double)(t_asleep - r->t0) / 1e9);

    for (long i = 0; i < spawned; i++) {
        int arc = weft_await(r->tasks[i], NULL);
        if (arc != 0 && rc == 0)
            rc = arc;
        weft_task_release(r->tasks[i]);
    }
    int64_t t_end = weft_now();
    int64_t last = r->t0 + r->wait_ns + WEFT_USEC(r->n - 1);

    r->start_s = (double)(t_asleep - r->t0) / 1e9;
    r->wake_s = (double)(t_end - last) / 1e9;
    r->bytes_per_task = (mem0 < 0 || mem1 < 0) ? -1 : (double)(mem1 - mem0) / (double)r->n;
    r->faults_per_task = (double)(faults1 - faults0) / (double)r->n;
    r->late = t_asleep > r->t0 + r->wait_ns;
    return rc;
}

static int run_weft_here(const char *impl, int mode, long n, int64_t wait_ns)
{
    sleepers_run_t r = {.n = n, .wait_ns = wait_ns, .stack_mode = mode};
    atomic_init(&r.asleep, 0);
    r.tasks = malloc((size_t)n * sizeof(weft_task_t *));
    if (!r.tasks) {
        bench_skip(W, impl, "out of memory");
        return -1;
    }
    memset(r.tasks, 0, (size_t)n * sizeof(weft_task_t *)); /* touch it now */
    run = &r;
    int rc = weft_run(sleepers_main, &r, NULL);
    run = NULL;
    free(r.tasks);
    if (rc != 0) {
        bench_skip(W, impl, weft_strerror(rc));
        return -1;
    }
    bench_json(W, impl,
               "\"n\":%ld,\"start_s\":%.4f,\"bytes_per_task\":%.1f,\"faults_per_task\":%.3f,"
               "\"wake_s\":%.4f%s",
               n, r.start_s, r.bytes_per_task, r.faults_per_task, r.wake_s,
               r.late ? ",\"late\":true" : "");
    return 0;
}

/* Runs one weft impl in a child process: a fresh address space each. */
static int run_weft(const char *impl, int mode, long n, int64_t wait_ns)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        bench_skip(W, impl, "fork failed");
        return -1;
    }
    if (pid == 0) {
        int rc = run_weft_here(impl, mode, n, wait_ns);
        fflush(NULL);
        _exit(rc == 0 ? 0 : 1);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        bench_note("sleepers: %s: the child failed", impl);
        return -1;
    }
    return 0;
}

int bench_sleepers(void)
{
    long n = bench_n(SLEEPERS_N);
    int64_t wait_ns = (int64_t)((double)SLEEPERS_WAIT_NS * bench_scale());
    if (wait_ns < SLEEPERS_MIN_WAIT_NS)
        wait_ns = SLEEPERS_MIN_WAIT_NS;
    if (wait_ns > SLEEPERS_WAIT_NS * 10)
        wait_ns = SLEEPERS_WAIT_NS * 10;
    char n_arg[32], wait_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    snprintf(wait_arg, sizeof wait_arg, "%lld", (long long)(wait_ns / 1000000));
    const char *const args[] = {"-n", n_arg, "-wait-ms", wait_arg, NULL};
    /* a peer gets the wait, n us of deadlines and generous slack */
    int timeout_s = (int)(wait_ns / 1000000000) + (int)(n / 1000000) + 300;

    bench_note("sleepers: weft (n %ld, wait %.1f s)", n, (double)wait_ns / 1e9);
    int rc = run_weft("weft", WEFT_STACK_OWN, n, wait_ns);
    bench_note("sleepers: weft-copystack");
    rc |= run_weft("weft-copystack", WEFT_STACK_COPY, n, wait_ns);
    run_go_peer(W, "sleepers", args, timeout_s);
    run_py_peer(W, "sleepers", args, timeout_s);
    return rc;
}
