/* robot.c - a control loop that ticks on time while events arrive and
 * heavy work runs elsewhere (the "small robot" of asyncio's tutorials).
 *
 *   robot SECONDS
 *
 * Three tasks in one task group:
 *  - control: a 500 Hz ticker (weft_ticker_t); each tick records how late
 *    it woke, the figure a control loop lives by;
 *  - sensor: reads lines from a child process (this program run again as
 *    `robot --sensor`) that prints a reading at random intervals: events;
 *  - planner: every 100 ms hands a CPU-heavy step to the thread pool
 *    (weft_to_thread), so the loop never stalls on it.
 * After SECONDS the group is cancelled and everything unwinds; Ctrl-C
 * does the same earlier (weft_run cancels main on SIGINT). Last, one line:
 *
 *   ticks 1500 missed 0 p50_us 62.1 p99_us 118.0 max_us 240.3 events 61 plans 30
 *
 * (lateness after each tick's deadline; missed: ticks that came a whole
 * period late or more.) Run it on an idle machine:
 *   ./build/examples/robot 3
 * With WEFT_WORKERS=2 the control task runs on worker 1, alone, and the
 * sensor and planner on worker 0.
 */
#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS (WEFT_SEC(1) / 500)
#define PLAN_NS WEFT_MSEC(100)

typedef struct robot {
    int64_t seconds_ns;
    int64_t *late;
    long nlate, cap;
    int64_t missed;
    long events, plans;
} robot_t;

static int control(void *arg, void **result)
{
    (void)result;
    robot_t *r = arg;
    weft_ticker_t *tk;
    int rc = weft_ticker_create(&tk, TICK_NS, 0, WEFT_TICK_SKIP);
    if (rc)
        return rc;
    for (;;) {
        int64_t deadline;
        rc = weft_ticker_wait(tk, &deadline);
        if (rc)
            break;
        if (r->nlate < r->cap)
            r->late[r->nlate++] = weft_now() - deadline;
        /* ... read the sensors' latest state, drive the motors ... */
    }
    r->missed = weft_ticker_missed(tk);
    weft_ticker_destroy(tk);
    return rc;
}

static int sensor(void *arg, void **result)
{
    (void)result;
    robot_t *r = arg;
    const char *argv[] = {"/proc/self/exe", "--sensor", NULL};
    weft_proc_opts_t opts = {.out = WEFT_STDIO_PIPE};
    weft_proc_t *p;
    int rc = weft_proc_spawn(&p, argv, &opts);
    if (rc)
        return rc;
    const char *line;
    ssize_t n;
    while ((n = weft_stream_read_line(weft_proc_stdout(p), &line)) > 0)
        r->events++;
    weft_proc_destroy(p); /* kills the sensor process if it still runs */
    return n < 0 ? (int)n : 0;
}

/* The heavy step: runs on a pool thread, touching no loop state. The
 * thread lowers its own priority first (Linux: nice is per thread), so
 * on a busy machine the kernel preempts planning, not the control loop. */
static int plan_step(void *arg, void **result)
{
    (void)arg;
    static __thread bool niced;
    if (!niced) {
        setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
        niced = true;
    }
    volatile double x = 0;
    for (int i = 1; i < 2000000; i++)
        x += 1.0 / ((double)i * i);
    *result = NULL;
    return x > 0 ? 0 : -EIO;
}

static int planner(void *arg, void **result)
{
    (void)result;
    robot_t *r = arg;
    weft_ticker_t *tk;
    int rc = weft_ticker_create(&tk, PLAN_NS, 0, WEFT_TICK_SKIP);
    if (rc)
        return rc;
    while ((rc = weft_ticker_wait(tk, NULL)) == 0) {
        rc = weft_to_thread(plan_step, NULL, NULL, NULL);
        if (rc)
            break;
        r->plans++;
    }
    weft_ticker_destroy(tk);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int robot_main(void *arg, void **result)
{
    (void)result;
    robot_t *r = arg;
    weft_group_t *g;
    int rc = weft_group_create(&g);
    if (rc)
        return rc;
    /* with several workers (WEFT_WORKERS=2) the control loop gets a worker
     * of its own: no step of another task stands between a deadline and
     * its tick */
    int nw = weft_worker_count();
    weft_task_opts_t co = {.name = "control",
                           .place = nw > 1 ? WEFT_PLACE_WORKER : WEFT_PLACE_HERE,
                           .worker = nw - 1};
    weft_group_spawn(g, NULL, control, r, &co);
    weft_group_spawn(g, NULL, sensor, r, &(weft_task_opts_t){.name = "sensor"});
    weft_group_spawn(g, NULL, planner, r, &(weft_task_opts_t){.name = "planner"});
    /* run for the time asked, then stop everyone */
    weft_deadline_t d;
    weft_deadline_push(&d, r->seconds_ns);
    rc = weft_group_wait(g);
    weft_deadline_pop(&d);
    weft_group_destroy(g);
    return rc == -ETIMEDOUT ? 0 : rc;
}

/* `robot --sensor`: a reading every 1..80 ms, at random. */
static int sensor_process(void)
{
    srand((unsigned)getpid());
    for (long i = 0;; i++) {
        struct timespec ts = {0, (long)(1 + rand() % 80) * 1000000L};
        nanosleep(&ts, NULL);
        if (printf("reading %ld %d\n", i, rand() % 1000) < 0 || fflush(stdout) != 0)
            return 0; /* the robot went away */
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--sensor") == 0)
        return sensor_process();
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    if (secs <= 0) {
        fprintf(stderr, "usage: robot SECONDS\n");
        return 2;
    }
    robot_t r = {.seconds_ns = (int64_t)(secs * 1e9)};
    r.cap = (long)(secs * 500) + 64;
    r.late = calloc((size_t)r.cap, sizeof *r.late);
    if (!r.late)
        return 1;
    int rc = weft_run(robot_main, &r, NULL);
    if (rc != 0 && rc != -ECANCELED) {
        fprintf(stderr, "robot: %s\n", weft_strerror(rc));
        return 1;
    }
    double p50 = 0, p99 = 0, max = 0;
    if (r.nlate > 0) {
        qsort(r.late, (size_t)r.nlate, sizeof *r.late, cmp_i64);
        p50 = (double)r.late[r.nlate / 2] / 1e3;
        p99 = (double)r.late[(r.nlate * 99) / 100] / 1e3;
        max = (double)r.late[r.nlate - 1] / 1e3;
    }
    printf("ticks %ld missed %lld p50_us %.1f p99_us %.1f max_us %.1f events %ld plans %ld\n",
           r.nlate, (long long)r.missed, p50, p99, max, r.events, r.plans);
    free(r.late);
    return 0;
}
