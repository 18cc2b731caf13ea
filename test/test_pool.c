/* test_pool.c - the thread pool and the loop's inbox: fn's status and
 * result come back; with fewer threads than jobs the jobs run in FIFO
 * order and all complete; a cancel before the job starts (it never runs,
 * drop(arg, NULL) runs before the call returns), a cancel while it runs
 * (drop runs once, on the pool thread, with the result), a cancel or
 * deadline seen before the call (drop(arg, NULL), fn never runs); a
 * deadline around a job blocked on a pipe (-ETIMEDOUT while it still
 * runs, drop later); many tasks using the pool at once; the loop neither
 * exits nor reports a deadlock while only a pool job is outstanding;
 * weft_run returns only after running jobs end; weft's own held
 * (non-detachable) pool calls ignore cancellation until the job ends;
 * SIGPIPE is ignored while a loop runs and restored after; bad arguments;
 * weft_strerror of weft's own codes; weft_config_t.pool_nice (the pool's
 * threads report it from getpriority while the loop's thread keeps its
 * own; 0 leaves them as the loop's; out of range -EINVAL; below the
 * caller's without privilege -EACCES, in a child that dropped it).
 *
 * Covers: src/pool.c, src/loop.c (inbox, SIGPIPE), src/error.c.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"

/* Waits (polling the loop, never a timed guess) until *flag reaches v. */
static void wait_for(atomic_int *flag, int v)
{
    int64_t end = weft_now() + WEFT_SEC(10);
    while (atomic_load(flag) < v) {
        assert_true(weft_now() < end);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    }
}

/* ---- a job that blocks on a pipe until the test writes to it ---- */

typedef struct {
    int fds[2];
    atomic_int started, finished, dropped, ran_after_cancel;
    void *drop_arg, *drop_result;
    int result_seen;
} gate_t;

static void gate_init(gate_t *g)
{
    memset(g, 0, sizeof *g);
    assert_int_equal(pipe(g->fds), 0);
}

static void gate_open(gate_t *g, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(write(g->fds[1], "x", 1), 1);
}

static void gate_fini(gate_t *g)
{
    close(g->fds[0]);
    close(g->fds[1]);
}

static int gated_job(void *arg, void **result)
{
    gate_t *g = arg;
    atomic_fetch_add(&g->started, 1);
    char c;
    ssize_t n = read(g->fds[0], &c, 1);
    atomic_fetch_add(&g->finished, 1);
    *result = P(n == 1 ? 42 : -1);
    return n == 1 ? 5 : -EIO;
}

static void gate_drop(void *arg, void *result)
{
    gate_t *g = arg;
    g->drop_arg = arg;
    g->drop_result = result;
    atomic_fetch_add(&g->dropped, 1);
}

/* ---- results and statuses ---- */

static int add_job(void *arg, void **result)
{
    intptr_t *v = arg;
    *result = P(v[0] + v[1]);
    return 0;
}

static int fail_job(void *arg, void **result)
{
    *result = P(99);
    return -ENOSPC;
}

static int results_main(void *arg, void **res)
{
    intptr_t v[2] = {40, 2}; /* the caller's stack: fine, nothing detaches */
    void *out = NULL;
    assert_int_equal(weft_to_thread(add_job, v, &out, NULL), 0);
    assert_int_equal(I(out), 42);
    assert_int_equal(weft_to_thread(add_job, v, NULL, NULL), 0);
    out = NULL;
    assert_int_equal(weft_to_thread(fail_job, NULL, &out, NULL), -ENOSPC);
    assert_int_equal(I(out), 99); /* the result comes back as is, too */
    return 0;
}

static void test_to_thread_returns_the_jobs_status_and_result(void **state)
{
    run(results_main, NULL);
}

/* ---- FIFO with fewer threads than jobs ---- */

typedef struct {
    gate_t gate;
    pthread_mutex_t mu;
    int order[64];
    int n;
} fifo_t;

typedef struct {
    fifo_t *f;
    int id;
} fifo_arg_t;

static int fifo_job(void *arg, void **result)
{
    fifo_arg_t *a = arg;
    pthread_mutex_lock(&a->f->mu);
    a->f->order[a->f->n++] = a->id;
    pthread_mutex_unlock(&a->f->mu);
    *result = P(a->id * 10);
    return a->id;
}

static int fifo_task(void *arg, void **res)
{
    fifo_arg_t *a = arg;
    void *out = NULL;
    int rc = weft_to_thread(fifo_job, a, &out, NULL);
    assert_int_equal(rc, a->id);
    assert_int_equal(I(out), a->id * 10);
    return 0;
}

static int gate_blocker(void *arg, void **res)
{
    assert_int_equal(weft_to_thread(gated_job, arg, NULL, NULL), 5);
    return 0;
}

static int fifo_main(void *arg, void **res)
{
    fifo_t *f = arg;
    enum { N = 40 };
    fifo_arg_t args[N];
    weft_task_t *blocker, *t[N];
    /* the one pool thread is held by the blocker while the others queue */
    assert_int_equal(weft_spawn(&blocker, gate_blocker, &f->gate, HERE), 0);
    wait_for(&f->gate.started, 1);
    for (int i = 0; i < N; i++) {
        args[i] = (fifo_arg_t){f, i};
        assert_int_equal(weft_spawn(&t[i], fifo_task, &args[i], HERE), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(weft_yield(), 0);
    assert_int_equal(f->n, 0); /* all queued behind the blocker */
    gate_open(&f->gate, 1);
    assert_int_equal(weft_await(blocker, NULL), 0);
    weft_task_release(blocker);
    for (int i = 0; i < N; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(f->n, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(f->order[i], i);
    return 0;
}

static void test_pool_runs_queued_jobs_in_fifo_order_on_one_thread(void **state)
{
    fifo_t f = {.n = 0};
    gate_init(&f.gate);
    pthread_mutex_init(&f.mu, NULL);
    run_config(&(weft_config_t){.pool_threads = 1}, fifo_main, &f);
    pthread_mutex_destroy(&f.mu);
    gate_fini(&f.gate);
}

/* More jobs than threads: every one completes. */
static atomic_int busy_now, busy_max;

static int busy_job(void *arg, void **result)
{
    int b = atomic_fetch_add(&busy_now, 1) + 1;
    int m = atomic_load(&busy_max);
    while (b > m && !atomic_compare_exchange_weak(&busy_max, &m, b))
        ;
    usleep(200);
    atomic_fetch_sub(&busy_now, 1);
    *result = arg;
    return 0;
}

static int busy_task(void *arg, void **res)
{
    void *out = NULL;
    assert_int_equal(weft_to_thread(busy_job, arg, &out, NULL), 0);
    assert_ptr_equal(out, arg);
    return 0;
}

static int bounded_main(void *arg, void **res)
{
    enum { N = 64 };
    weft_task_t *t[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_spawn(&t[i], busy_task, P(i + 1), HERE), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    return 0;
}

static void test_pool_never_runs_more_jobs_at_once_than_its_threads(void **state)
{
    atomic_store(&busy_now, 0);
    atomic_store(&busy_max, 0);
    run_config(&(weft_config_t){.pool_threads = 3}, bounded_main, NULL);
    assert_true(atomic_load(&busy_max) >= 1);
    assert_true(atomic_load(&busy_max) <= 3); /* never more threads than allowed */
}

/* ---- cancellation ---- */

typedef struct {
    gate_t *gate;
    atomic_int ran, dropped;
    void *drop_result;
    int rc;
} victim_t;

static int counting_job(void *arg, void **result)
{
    victim_t *v = arg;
    atomic_fetch_add(&v->ran, 1);
    *result = P(7);
    return 0;
}

static void victim_drop(void *arg, void *result)
{
    victim_t *v = arg;
    v->drop_result = result;
    atomic_fetch_add(&v->dropped, 1);
}

static int victim_task(void *arg, void **res)
{
    victim_t *v = arg;
    v->rc = weft_to_thread(counting_job, v, NULL, victim_drop);
    /* the job never started: drop ran before the call returned */
    assert_int_equal(atomic_load(&v->dropped), 1);
    return v->rc;
}

static int cancel_queued_main(void *arg, void **res)
{
    gate_t *g = arg;
    victim_t v = {.gate = g, .drop_result = P(1)};
    weft_task_t *blocker, *victim;
    assert_int_equal(weft_spawn(&blocker, gate_blocker, g, HERE), 0);
    wait_for(&g->started, 1);
    assert_int_equal(weft_spawn(&victim, victim_task, &v, HERE), 0);
    wait_state(victim, WEFT_TASK_WAITING); /* its job queued (it may run on any worker) */
    assert_int_equal(weft_cancel(victim), 0);
    assert_int_equal(weft_await(victim, NULL), -ECANCELED);
    weft_task_release(victim);
    assert_int_equal(v.rc, -ECANCELED);
    assert_int_equal(atomic_load(&v.dropped), 1);
    assert_null(v.drop_result);
    gate_open(g, 1);
    assert_int_equal(weft_await(blocker, NULL), 0);
    weft_task_release(blocker);
    /* the one pool thread is free again and ran nothing else */
    assert_int_equal(atomic_load(&v.ran), 0);
    void *out = NULL;
    assert_int_equal(weft_to_thread(counting_job, &v, &out, victim_drop), 0);
    assert_int_equal(atomic_load(&v.ran), 1);
    assert_int_equal(atomic_load(&v.dropped), 1); /* not dropped: it came back */
    return 0;
}

static void test_to_thread_cancelled_while_queued_drops_the_job_unrun(void **state)
{
    gate_t g;
    gate_init(&g);
    run_config(&(weft_config_t){.pool_threads = 1}, cancel_queued_main, &g);
    gate_fini(&g);
}

/* Cancelled while running: drop runs once, on the pool thread, with the
 * job's result. The arg is heap memory that drop frees (ASan and valgrind
 * see a leak or a double free). */
typedef struct {
    gate_t *g;
    char *payload;
} owned_t;

static int owned_job(void *arg, void **result)
{
    owned_t *o = arg;
    int rc = gated_job(o->g, result);
    strcpy(o->payload, "done");
    char *r = malloc(8);
    strcpy(r, "result");
    *result = r;
    return rc;
}

static void owned_drop(void *arg, void *result)
{
    owned_t *o = arg;
    gate_t *g = o->g;
    assert_string_equal(o->payload, "done");
    assert_string_equal((char *)result, "result");
    free(result);
    free(o->payload);
    free(o);
    atomic_fetch_add(&g->dropped, 1);
}

static int owned_task(void *arg, void **res)
{
    gate_t *g = arg;
    owned_t *o = malloc(sizeof *o);
    o->g = g;
    o->payload = malloc(16);
    strcpy(o->payload, "start");
    return weft_to_thread(owned_job, o, NULL, owned_drop);
}

static int cancel_running_main(void *arg, void **res)
{
    gate_t *g = arg;
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, owned_task, g, NULL), 0);
    wait_for(&g->started, 1);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    weft_task_release(t);
    assert_int_equal(atomic_load(&g->dropped), 0); /* the job still runs */
    gate_open(g, 1);
    wait_for(&g->dropped, 1);
    return 0;
}

static void test_to_thread_cancelled_while_running_drops_the_result_after(void **state)
{
    gate_t g;
    gate_init(&g);
    run(cancel_running_main, &g);
    assert_int_equal(atomic_load(&g.dropped), 1);
    assert_int_equal(atomic_load(&g.finished), 1);
    gate_fini(&g);
}

/* Cancelled before the call: fn never runs, drop(arg, NULL) runs. */
static int cancel_first_main(void *arg, void **res)
{
    victim_t v = {.drop_result = P(1)};
    assert_int_equal(weft_cancel(weft_current()), 0);
    assert_int_equal(weft_to_thread(counting_job, &v, NULL, victim_drop), -ECANCELED);
    assert_int_equal(atomic_load(&v.dropped), 1);
    assert_null(v.drop_result);
    assert_int_equal(atomic_load(&v.ran), 0);
    return 0;
}

static void test_to_thread_when_already_cancelled_never_runs_the_job(void **state)
{
    run(cancel_first_main, NULL);
}

/* ---- a deadline around a job blocked on a pipe ---- */

static int deadline_main(void *arg, void **res)
{
    gate_t *g = arg;
    weft_deadline_t d;
    void *out = P(1);
    int64_t t0 = weft_now(); /* before the push: the deadline counts from there */
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(20)), 0);
    int rc = weft_to_thread(gated_job, g, &out, gate_drop);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(20));
    assert_ptr_equal(out, P(1)); /* untouched */
    assert_int_equal(atomic_load(&g->finished), 0);
    if (atomic_load(&g->started) == 0) {
        /* a loaded machine: no pool thread had reached the job within
         * the 20 ms; it is dropped unrun, or (taken just then) runs and
         * is dropped after */
        gate_open(g, 1);
        wait_for(&g->dropped, 1);
        assert_true(g->drop_result == NULL || I(g->drop_result) == 42);
    } else {
        /* the job is still blocked: nobody wrote to the pipe */
        assert_int_equal(atomic_load(&g->dropped), 0);
        gate_open(g, 1);
        wait_for(&g->dropped, 1);
        assert_ptr_equal(g->drop_arg, g);
        assert_int_equal(I(g->drop_result), 42);
    }
    /* an already passed deadline: at once, fn never runs (the first job
     * ran or, on a loaded machine, was dropped unrun: started is 1 or 0
     * and stays so) */
    int started = atomic_load(&g->started);
    assert_int_equal(weft_deadline_push(&d, 0), 0);
    rc = weft_to_thread(gated_job, g, NULL, gate_drop);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_int_equal(atomic_load(&g->dropped), 2);
    assert_null(g->drop_result);
    assert_int_equal(atomic_load(&g->started), started);
    return 0;
}

static void test_to_thread_past_its_deadline_returns_and_drops_the_late_result(void **state)
{
    gate_t g;
    gate_init(&g);
    run(deadline_main, &g);
    gate_fini(&g);
}

/* ---- many tasks at once ---- */

static atomic_int many_done;

static int inc_job(void *arg, void **result)
{
    *result = P(I(arg) + 1);
    return 0;
}

static int many_task(void *arg, void **res)
{
    intptr_t v = I(arg);
    for (int i = 0; i < 5; i++) {
        void *out = NULL;
        assert_int_equal(weft_to_thread(inc_job, P(v), &out, NULL), 0);
        assert_int_equal(I(out), v + 1);
        v = I(out);
        atomic_fetch_add(&many_done, 1);
    }
    *res = P(v);
    return 0;
}

static int many_main(void *arg, void **res)
{
    int n = scaled(200, 10);
    weft_task_t **t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++)
        assert_int_equal(weft_spawn(&t[i], many_task, P(i * 100), NULL), 0);
    for (int i = 0; i < n; i++) {
        void *out = NULL;
        assert_int_equal(weft_await(t[i], &out), 0);
        assert_int_equal(I(out), i * 100 + 5);
        weft_task_release(t[i]);
    }
    free(t);
    assert_int_equal(atomic_load(&many_done), n * 5);
    return 0;
}

static void test_pool_serves_many_tasks_each_chaining_jobs(void **state)
{
    atomic_store(&many_done, 0);
    run(many_main, NULL);
}

static void test_pool_of_two_threads_serves_many_tasks_each_chaining_jobs(void **state)
{
    atomic_store(&many_done, 0);
    run_config(&(weft_config_t){.pool_threads = 2}, many_main, NULL);
}

/* ---- the loop is not idle while a job is outstanding ---- */

static int slow_job(void *arg, void **result)
{
    usleep(20000);
    *result = P(3);
    return 7;
}

static int only_pool_main(void *arg, void **res)
{
    /* no timer, no fd, no other task: only the pool job can wake us */
    void *out = NULL;
    assert_int_equal(weft_to_thread(slow_job, NULL, &out, NULL), 7);
    assert_int_equal(I(out), 3);
    return 0;
}

static void test_loop_waits_for_a_pool_job_when_nothing_else_can_wake_it(void **state)
{
    run(only_pool_main, NULL);
}

/* ---- weft_run waits for running jobs ---- */

static atomic_int late_done, late_started;

static int late_job(void *arg, void **result)
{
    atomic_store(&late_started, 1);
    usleep(50000);
    atomic_store(&late_done, 1);
    return 0;
}

static void late_drop(void *arg, void *result)
{
    atomic_fetch_add(&late_done, 10);
}

static int detach_task(void *arg, void **res)
{
    return weft_to_thread(late_job, NULL, NULL, late_drop);
}

static int leave_main(void *arg, void **res)
{
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, detach_task, NULL, NULL), 0);
    wait_for(&late_started, 1);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    weft_task_release(t);
    return 0; /* the job is detached but running */
}

static void test_run_waits_for_a_detached_running_job_and_drops_it(void **state)
{
    atomic_store(&late_done, 0);
    atomic_store(&late_started, 0);
    run(leave_main, NULL);
    /* main returned while the detached job slept: it ran to its end and
     * was dropped before weft_run returned */
    assert_int_equal(atomic_load(&late_done), 11);
}

/* ---- weft's own held (non-detachable) calls ---- */

static int held_main(void *arg, void **res)
{
    gate_t *g = arg;
    weft_deadline_t d;
    void *out = NULL;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(5)), 0);
    /* the job waits for the test's write, which comes from another pool
     * thread after the deadline: the task is held past it */
    int rc = weft__pool_run(gated_job, g, &out, false, gate_drop);
    int64_t after = weft_now();
    assert_int_equal(rc, 5);
    assert_int_equal(I(out), 42);
    assert_int_equal(atomic_load(&g->dropped), 0);
    /* the deadline shows at the next suspending call */
    assert_int_equal(weft_yield(), -ETIMEDOUT);
    assert_true(after >= d.when);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    /* cancellation too: held, then seen */
    weft_cancel(weft_current());
    assert_int_equal(weft__pool_run(gated_job, g, &out, false, NULL), -ECANCELED);
    return 0;
}

static int opener_job(void *arg, void **result)
{
    gate_t *g = arg;
    /* opens the gate once the held task's deadline has passed */
    usleep(15000);
    gate_open(g, 1);
    return 0;
}

static int held_opener(void *arg, void **res)
{
    return weft_to_thread(opener_job, arg, NULL, NULL);
}

static int held_root(void *arg, void **res)
{
    weft_task_t *t, *o;
    assert_int_equal(weft_spawn(&t, held_main, arg, NULL), 0);
    assert_int_equal(weft_spawn(&o, held_opener, arg, NULL), 0);
    assert_int_equal(weft_await(o, NULL), 0);
    weft_task_release(o);
    int rc = weft_await(t, NULL);
    weft_task_release(t);
    return rc;
}

static void test_held_pool_call_sees_deadline_and_cancel_only_after_the_job(void **state)
{
    gate_t g;
    gate_init(&g);
    run(held_root, &g);
    gate_fini(&g);
}

/* ---- SIGPIPE ---- */

static int sigpipe_main(void *arg, void **res)
{
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_ptr_equal(sa.sa_handler, SIG_IGN);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    assert_int_equal(write(fds[1], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(fds[1]);
    return 0;
}

static void test_run_ignores_sigpipe_and_restores_the_disposition(void **state)
{
    struct sigaction sa, dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    assert_int_equal(sigaction(SIGPIPE, &dfl, NULL), 0);
    run(sigpipe_main, NULL);
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_ptr_equal(sa.sa_handler, SIG_DFL);
}

/* ---- bad arguments, strerror ---- */

static void cb_outside(void *arg)
{
    *(int *)arg = weft_to_thread(inc_job, NULL, NULL, NULL);
}

static int args_main(void *arg, void **res)
{
    assert_int_equal(weft_to_thread(NULL, NULL, NULL, NULL), -EINVAL);
    int rc = 1;
    assert_int_equal(weft_call_soon(NULL, cb_outside, &rc), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(rc, -WEFT_ENOTASK); /* a callback is no task */
    return 0;
}

static void test_to_thread_bad_arguments_and_calls_outside_a_task_are_refused(void **state)
{
    assert_int_equal(weft_to_thread(inc_job, NULL, NULL, NULL), -WEFT_ENOTASK);
    weft_config_t cfg = {.pool_threads = -1};
    assert_int_equal(weft_run_config(&cfg, args_main, NULL, NULL), -EINVAL);
    run(args_main, NULL);
}

static void test_strerror_describes_weft_codes_of_either_sign(void **state)
{
    assert_string_equal(weft_strerror(-WEFT_ENOTFOUND), "no such host or service");
    assert_non_null(strstr(weft_strerror(-WEFT_EINCOMPLETE), "incomplete"));
    assert_non_null(strstr(weft_strerror(WEFT_EINCOMPLETE), "incomplete"));
}

/* ---- the pool threads' nice value ---- */

/* On a pool thread: its own nice value, as the result. */
static int nice_of_thread(void *arg, void **result)
{
    (void)arg;
    errno = 0;
    int v = getpriority(PRIO_PROCESS, (id_t)gettid());
    *result = (void *)(intptr_t)v;
    return v == -1 && errno ? -errno : 0;
}

typedef struct {
    int pool, loop; /* what a pool thread and the loop's thread report */
} nices_t;

static int nice_main(void *arg, void **res)
{
    (void)res;
    nices_t *n = arg;
    void *v = NULL;
    assert_int_equal(weft_to_thread(nice_of_thread, NULL, &v, NULL), 0);
    n->pool = (int)(intptr_t)v;
    n->loop = getpriority(PRIO_PROCESS, (id_t)gettid());
    return 0;
}

static int own_nice(void)
{
    return getpriority(PRIO_PROCESS, (id_t)gettid());
}

static void test_pool_threads_take_the_configured_nice_value(void **state)
{
    (void)state;
    int cur = own_nice();
    int want = cur + 5 > 19 ? 19 : cur + 5;
    weft_config_t cfg = {.pool_nice = want};
    nices_t n = {0};
    run_config(&cfg, nice_main, &n);
    assert_int_equal(n.pool, want);
    assert_int_equal(n.loop, cur); /* the loop's own thread is untouched */
    assert_int_equal(own_nice(), cur);
}

static void test_pool_nice_zero_leaves_pool_threads_as_the_loop_thread(void **state)
{
    (void)state;
    nices_t n = {0};
    run(nice_main, &n);
    assert_int_equal(n.pool, own_nice());
    assert_int_equal(n.loop, own_nice());
}

static void test_pool_nice_outside_minus_20_to_19_is_einval(void **state)
{
    (void)state;
    nices_t n = {0};
    weft_config_t low = {.pool_nice = -21}, high = {.pool_nice = 20};
    assert_int_equal(run_status(&low, nice_main, &n), -EINVAL);
    assert_int_equal(run_status(&high, nice_main, &n), -EINVAL);
}

/* Below the caller's nice value: needs privilege. In a child process
 * without it (not root, RLIMIT_NICE 0), weft_run_config fails with
 * -EACCES; with it (root here), the pool runs at that value. */
static void test_pool_nice_below_the_callers_needs_privilege_else_eacces(void **state)
{
    (void)state;
    int cur = own_nice();
    if (cur <= -20) {
        printf("already at nice -20: nothing lower to ask for; skipped\n");
        skip();
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_NICE, &none);
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(99);
        weft_config_t cfg = {.pool_nice = cur - 1};
        nices_t n = {0};
        int rc = weft_run_config(&cfg, nice_main, &n, NULL);
        _exit(rc == -EACCES ? 0 : rc == 0 ? 1 : 2);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    /* with the privilege, where this test has it */
    errno = 0;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), cur - 1) == 0) {
        setpriority(PRIO_PROCESS, (id_t)gettid(), cur);
        weft_config_t cfg = {.pool_nice = cur - 1};
        nices_t n = {0};
        run_config(&cfg, nice_main, &n);
        assert_int_equal(n.pool, cur - 1);
        assert_int_equal(n.loop, cur);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_thread_returns_the_jobs_status_and_result),
        cmocka_unit_test(test_pool_runs_queued_jobs_in_fifo_order_on_one_thread),
        cmocka_unit_test(test_pool_never_runs_more_jobs_at_once_than_its_threads),
        cmocka_unit_test(test_to_thread_cancelled_while_queued_drops_the_job_unrun),
        cmocka_unit_test(test_to_thread_cancelled_while_running_drops_the_result_after),
        cmocka_unit_test(test_to_thread_when_already_cancelled_never_runs_the_job),
        cmocka_unit_test(test_to_thread_past_its_deadline_returns_and_drops_the_late_result),
        cmocka_unit_test(test_pool_serves_many_tasks_each_chaining_jobs),
        cmocka_unit_test(test_pool_of_two_threads_serves_many_tasks_each_chaining_jobs),
        cmocka_unit_test(test_loop_waits_for_a_pool_job_when_nothing_else_can_wake_it),
        cmocka_unit_test(test_run_waits_for_a_detached_running_job_and_drops_it),
        cmocka_unit_test(test_held_pool_call_sees_deadline_and_cancel_only_after_the_job),
        cmocka_unit_test(test_run_ignores_sigpipe_and_restores_the_disposition),
        cmocka_unit_test(test_to_thread_bad_arguments_and_calls_outside_a_task_are_refused),
        cmocka_unit_test(test_strerror_describes_weft_codes_of_either_sign),
        cmocka_unit_test(test_pool_threads_take_the_configured_nice_value),
        cmocka_unit_test(test_pool_nice_zero_leaves_pool_threads_as_the_loop_thread),
        cmocka_unit_test(test_pool_nice_outside_minus_20_to_19_is_einval),
        cmocka_unit_test(test_pool_nice_below_the_callers_needs_privilege_else_eacces),
    };
    return run_suite(tests, NULL, NULL);
}
