/* tick.c - the `tick` workload: a 1 kHz sleep-until loop for 10 s, alone
 * (load "idle") and beside a task that computes for 50 us and yields, over
 * and over (load "busy"). Reports ticks delivered and the lateness of each
 * tick after its deadline: p50_us, p99_us, max_us.
 *
 * impls: weft (weft_sleep_until on absolute deadlines), go (time.Sleep
 * until the deadline, GOMAXPROCS 1 and 2; the neighbour calls
 * runtime.Gosched every 50 us), asyncio (asyncio.sleep until the deadline;
 * the neighbour awaits sleep(0) every 50 us). weft runs once with the
 * thread's default timer slack (50 us on Linux) and once with it set to
 * 1 ns through weft_config_t.timer_slack_ns (field timer_slack_ns), each
 * with one worker and with two ("workers" 2: the ticker is placed on
 * worker 1, the neighbour stays on worker 0, so no 50 us step stands
 * between a deadline and its tick), and with two workers and
 * timer_spin_ns 200 us (field timer_spin_ns: the ticker's worker polls
 * instead of sleeping through the last 200 us before each deadline).
 */
#include "bench.h"

#include <weft.h>

#include <stdio.h>
#include <stdlib.h>

#define TICK_PERIOD_NS 1000000LL
#define TICK_SECONDS 10.0
#define SPIN_NS 50000LL
#define PEER_TIMEOUT_S 120

static const char *const W = "tick";

typedef struct tick_run {
    int64_t duration_ns;
    bool busy;
    int workers;       /* 2: the ticker runs on worker 1, the neighbour on 0 */
    volatile bool stop; /* read by the neighbour, maybe on another worker */
    long n;          /* ticks delivered */
    long cap;
    int64_t *late;   /* lateness of each tick, ns */
} tick_run_t;

/* Computes for SPIN_NS, then yields, until the ticker is done. */
static int neighbour(void *arg, void **result)
{
    (void)result;
    tick_run_t *r = arg;
    volatile uint64_t x = 1;
    while (!r->stop) {
        int64_t until = bench_now_ns() + SPIN_NS;
        while (bench_now_ns() < until)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (weft_yield() != 0)
            break;
    }
    return 0;
}

static int ticker(void *arg, void **result)
{
    (void)result;
    tick_run_t *r = arg;
    int64_t start = weft_now();
    int64_t end = start + r->duration_ns;
    for (long k = 1; r->n < r->cap; k++) {
        int64_t deadline = start + k * TICK_PERIOD_NS;
        if (deadline > end)
            break;
        int rc = weft_sleep_until(deadline);
        if (rc != 0)
            return rc;
        r->late[r->n++] = weft_now() - deadline;
    }
    r->stop = true;
    return 0;
}

static int tick_main(void *arg, void **result)
{
    (void)result;
    tick_run_t *r = arg;
    weft_task_t *t, *nb = NULL;
    weft_task_opts_t to = {.place = r->workers > 1 ? WEFT_PLACE_WORKER : WEFT_PLACE_HERE,
                           .worker = 1};
    int rc = weft_spawn(&t, ticker, r, &to);
    if (rc == 0 && r->busy)
        rc = weft_spawn(&nb, neighbour, r, NULL);
    if (rc != 0)
        return rc;
    rc = weft_await(t, NULL);
    weft_task_release(t);
    if (nb) {
        weft_await(nb, NULL);
        weft_task_release(nb);
    }
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run_weft(bool busy, int64_t slack_ns, int workers, int64_t spin_ns)
{
    tick_run_t r = {.duration_ns = (int64_t)(TICK_SECONDS * 1e9 * bench_scale()),
                    .busy = busy,
                    .workers = workers};
    r.cap = (long)(r.duration_ns / TICK_PERIOD_NS) + 16;
    r.late = malloc((size_t)r.cap * sizeof *r.late);
    const char *load = busy ? "busy" : "idle";
    if (!r.late) {
        bench_skip(W, "weft", "out of memory");
        return;
    }
    bench_note("tick: weft, %s, timer slack %lld ns, %d worker(s)", load, (long long)slack_ns,
               workers);
    weft_config_t cfg = {.timer_slack_ns = slack_ns, .workers = workers, .timer_spin_ns = spin_ns};
    int rc = weft_run_config(&cfg, tick_main, &r, NULL);
    if (rc != 0 || r.n == 0) {
        bench_skip(W, "weft", rc ? weft_strerror(rc) : "no tick delivered");
    } else {
        qsort(r.late, (size_t)r.n, sizeof *r.late, cmp_i64);
        double p50 = (double)r.late[r.n / 2] / 1e3;
        double p99 = (double)r.late[(r.n * 99) / 100] / 1e3;
        double mx = (double)r.late[r.n - 1] / 1e3;
        bench_json(W, "weft",
                   "\"load\":\"%s\",\"timer_slack_ns\":%lld,\"workers\":%d,"
                   "\"timer_spin_ns\":%lld,\"ticks\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,"
                   "\"max_us\":%.1f",
                   load, (long long)slack_ns, workers, (long long)spin_ns, r.n, p50, p99, mx);
    }
    free(r.late);
}

int bench_tick(void)
{
    char secs[32];
    snprintf(secs, sizeof secs, "%.3f", TICK_SECONDS * bench_scale());
    for (int busy = 0; busy < 2; busy++) {
        run_weft(busy, 0, 1, 0);
        run_weft(busy, 1, 1, 0);
        /* the ticker on a worker of its own, beside the busy one; then
         * that worker polls the last 200 us before each deadline */
        run_weft(busy, 1, 2, 0);
        run_weft(busy, 1, 2, WEFT_USEC(200));
        const char *const args[] = {"-seconds", secs, "-load", busy ? "busy" : "idle", NULL};
        run_go_peer(W, "tick", args, PEER_TIMEOUT_S);
        const char *const pargs[] = {"--seconds", secs, "--load", busy ? "busy" : "idle", NULL};
        run_py_peer(W, "tick", pargs, PEER_TIMEOUT_S);
    }
    return 0;
}
