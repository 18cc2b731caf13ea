/* runtime.c - a runtime's life: weft_run, its configuration, the worker
 * threads up and down, shutdown, and posts from plain threads
 * (weft_call_soon_threadsafe, weft_runtime_start / join).
 *
 * Owns: the runtime record (worker.h) from init to fini, the worker
 * threads, the order in which a worker's loop and what hangs off it
 * close, and the process-wide SIGPIPE disposition while loops run.
 *
 * weft_run: open worker 0's loop on the calling thread (and the other
 * workers' on threads of their own), run main as a task until it
 * returns (a deadlock, when nothing can wake main any more, cancels it
 * as a Ctrl-C does), then cancel every task left and let it unwind;
 * tasks that can never finish (they wait on something nobody will set,
 * with cancellation cleared) are reported and reclaimed by force, one at
 * a time. Each loop then closes: the pool's threads are joined, posted
 * records drained, signals given back, and the loop itself closed.
 */
#include "pool.h"
#include "runtime.h"
#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- the runtime record ---- */


void weft__rt_init(weft__rt_t *rt)
{
    memset(rt, 0, sizeof *rt);
    pthread_mutex_init(&rt->post_mu, NULL);
    pthread_cond_init(&rt->state_cv, NULL);
}

void weft__rt_fini(weft__rt_t *rt)
{
    pthread_cond_destroy(&rt->state_cv);
    pthread_mutex_destroy(&rt->post_mu);
}

void weft__rt_set_state(weft__rt_t *rt, int state)
{
    pthread_mutex_lock(&rt->post_mu);
    rt->state = state;
    pthread_cond_broadcast(&rt->state_cv);
    pthread_mutex_unlock(&rt->post_mu);
}

/* ---- configuration ---- */

static int config_workers(const weft_config_t *cfg)
{
    int w = cfg ? cfg->workers : 0;
    if (w == 0) {
        const char *env = getenv("WEFT_WORKERS");
        w = env && *env ? atoi(env) : 1;
    }
    return w;
}

/* cfg->spread, or the environment's WEFT_SPREAD=1 when cfg leaves it off
 * (so a program's suites can be run spread without a rebuild). */
static bool config_spread(const weft_config_t *cfg)
{
    if (cfg && cfg->spread)
        return true;
    const char *env = getenv("WEFT_SPREAD");
    return env && env[0] == '1' && !env[1];
}

int weft_runtime_set_spread(weft_runtime_t *rtp, bool on)
{
    weft__rt_t *rt = (weft__rt_t *)rtp;
    if (!rt)
        return -EINVAL;
    atomic_store_explicit(&rt->spread, on, memory_order_relaxed);
    return 0;
}

bool weft_runtime_spreads(const weft_runtime_t *rtp)
{
    const weft__rt_t *rt = (const weft__rt_t *)rtp;
    return rt && atomic_load_explicit(&rt->spread, memory_order_relaxed);
}

weft_runtime_t *weft_runtime(void)
{
    weft__loop_t *L = weft__loop();
    return L ? (weft_runtime_t *)L->rt : NULL;
}

int weft_worker_count(void)
{
    weft__loop_t *L = weft__loop();
    return L ? L->rt->n : -WEFT_ENOLOOP;
}

int weft_worker_index(void)
{
    weft__loop_t *L = weft__loop();
    return L ? L->index : -WEFT_ENOLOOP;
}

/* SIGPIPE: a write to a closed socket or pipe must come back as -EPIPE,
 * not kill the process. While any loop runs, a default disposition is
 * replaced by SIG_IGN; the last loop to close restores it, unless the
 * application changed it meanwhile. A mutex, not just a counter: one
 * thread's restore must not interleave with another's install. */
static pthread_mutex_t sigpipe_mu = PTHREAD_MUTEX_INITIALIZER;
static int sigpipe_loops;
static bool sigpipe_ours;

static void sigpipe_enter(void)
{
    pthread_mutex_lock(&sigpipe_mu);
    if (sigpipe_loops++ == 0) {
        struct sigaction old, ign = {.sa_handler = SIG_IGN};
        sigemptyset(&ign.sa_mask);
        sigpipe_ours = sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
                       !(old.sa_flags & SA_SIGINFO) && sigaction(SIGPIPE, &ign, NULL) == 0;
    }
    pthread_mutex_unlock(&sigpipe_mu);
}

static void sigpipe_leave(void)
{
    pthread_mutex_lock(&sigpipe_mu);
    if (--sigpipe_loops == 0 && sigpipe_ours) {
        struct sigaction cur, dfl = {.sa_handler = SIG_DFL};
        sigemptyset(&dfl.sa_mask);
        if (sigaction(SIGPIPE, NULL, &cur) == 0 && cur.sa_handler == SIG_IGN &&
            !(cur.sa_flags & SA_SIGINFO))
            sigaction(SIGPIPE, &dfl, NULL);
        sigpipe_ours = false;
    }
    pthread_mutex_unlock(&sigpipe_mu);
}

/* ---- closing a worker's loop ---- */

/* No thread outlives the loop: wait for running pool jobs, then take in
 * what they posted last (detached jobs only free their records). */
static void close_worker(weft__loop_t *L)
{
    L->closing = true;
    weft__gen_close_all(L); /* generators its tasks left suspended */
    weft__pool_close(L);
    weft__loop_drain(L);
    weft__signal_close();
    weft__loop_close(L);
}

/* Discards one of L's tasks that cannot finish: preferably one that
 * waits on no other task (its awaiters then wake and finish normally,
 * dropping the references they hold). Only WAITING tasks are discarded:
 * the caller found the ready queue empty. */
static void discard_one(weft__loop_t *L)
{
    weft_task_t *victim = L->all;
    for (weft_task_t *t = L->all; t; t = t->all_next)
        if (t->b && !(t->b->wait_kind && t->b->wait_kind->on_tasks)) {
            victim = t;
            break;
        }
    weft__task_discard(L, victim);
}

/* Several workers, closing: L runs until no task is left on any worker.
 * A worker whose own tasks cannot move while nothing finishes anywhere
 * for a while (five idle 20 ms waits) discards one of them. */
static void unwind(weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    while (weft__rt_live(rt) > 0) {
        if (weft__loop_turn(L))
            continue;
        unsigned long p = weft__rt_ended(rt);
        if (p != L->seen_progress) {
            L->seen_progress = p;
            L->idle_rounds = 0;
        } else if (L->ntasks > 0 && L->ready.n == 0 && L->inflight == 0 &&
                   ++L->idle_rounds >= 5) {
            discard_one(L);
            L->idle_rounds = 0;
        }
    }
}

/* ---- worker threads ---- */

typedef struct {
    weft__rt_t *rt;
    const weft_config_t *cfg;
    int index;
} worker_arg_t;

/* Worker threads take no asynchronous signal: the thread that watches a
 * signal reads it from a signalfd. The synchronous ones stay open, or a
 * fault would become a silent kill. */
static void block_signals(void)
{
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGABRT);
    sigdelset(&set, SIGTRAP);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}

static void *worker_main(void *p)
{
    worker_arg_t a = *(worker_arg_t *)p;
    weft__rt_t *rt = a.rt;
    block_signals();
    int err = 0;
    weft__loop_t *L = weft__loop_open(rt, a.index, a.cfg, &err);
    if (L && a.cfg && a.cfg->timer_slack_ns > 0)
        prctl(PR_SET_TIMERSLACK, (unsigned long)a.cfg->timer_slack_ns, 0, 0, 0);
    /* every loop exists before any task runs: stealing and posting read
     * rt->loops without a lock */
    pthread_mutex_lock(&rt->post_mu);
    rt->loops[a.index] = L;
    rt->opened++;
    pthread_cond_broadcast(&rt->state_cv);
    while (rt->go == 0)
        pthread_cond_wait(&rt->state_cv, &rt->post_mu);
    rt->turning++; /* main starts once every worker is about to turn */
    pthread_cond_broadcast(&rt->state_cv);
    pthread_mutex_unlock(&rt->post_mu);
    if (!L)
        return NULL;
    while (!atomic_load_explicit(&rt->closing, memory_order_acquire) ||
           weft__rt_live(rt) > 0)
        weft__loop_turn(L);
    close_worker(L); /* the record itself is freed after the join */
    return NULL;
}

static void join_workers(weft__rt_t *rt, int started)
{
    /* a worker that still has its first post to run (a closing runtime's
     * cancellation) may be waiting for this: worker 0 holds no guard here */
    weft__rt_lock_here(rt);
    weft__rt_wake_all(rt);
    for (int i = 1; i <= started; i++)
        pthread_join(rt->threads[i], NULL);
    for (int i = 1; i < rt->n; i++) {
        if (rt->loops[i])
            weft__loop_free(rt->loops[i]);
        rt->loops[i] = NULL;
    }
    free(rt->threads);
    rt->threads = NULL;
}

static int start_workers(weft__rt_t *rt, const weft_config_t *cfg)
{
    rt->threads = calloc((size_t)rt->n, sizeof *rt->threads);
    worker_arg_t *args = calloc((size_t)rt->n, sizeof *args);
    if (!rt->threads || !args) {
        free(rt->threads);
        free(args);
        rt->threads = NULL;
        return -ENOMEM;
    }
    int started = 0, rc = 0;
    for (int i = 1; i < rt->n; i++) {
        args[i] = (worker_arg_t){.rt = rt, .cfg = cfg, .index = i};
        if (pthread_create(&rt->threads[i], NULL, worker_main, &args[i]) != 0) {
            rc = -EAGAIN;
            break;
        }
        started = i;
    }
    pthread_mutex_lock(&rt->post_mu);
    while (rt->opened < started)
        pthread_cond_wait(&rt->state_cv, &rt->post_mu);
    for (int i = 1; i <= started && rc == 0; i++)
        if (!rt->loops[i])
            rc = -ENOMEM;
    if (rc < 0)
        atomic_store(&rt->closing, true); /* with no task, they leave at once */
    rt->go = 1;
    pthread_cond_broadcast(&rt->state_cv);
    /* Main's task runs only once every worker's thread runs its loop: a
     * burst of spawns at main's start then finds the others turning or
     * parked (and wakes one), not still starting while worker 0 starts
     * every task itself (a started task never moves). Under load a
     * thread took 1-30 ms from here to its first turn. */
    while (rc == 0 && rt->turning < started)
        pthread_cond_wait(&rt->state_cv, &rt->post_mu);
    pthread_mutex_unlock(&rt->post_mu);
    free(args);
    if (rc < 0) {
        join_workers(rt, started);
        return rc;
    }
    weft__rt_set_state(rt, WEFT__RT_RUNNING);
    return 0;
}

static void stop_workers(weft__rt_t *rt)
{
    weft__rt_set_state(rt, WEFT__RT_CLOSED);
    join_workers(rt, rt->n - 1);
}

/* ---- weft_run ---- */

/* pool_nice: in range, and settable. Lowering a nice value needs
 * privilege, so a value below the calling thread's is tried on this
 * thread and given back at once (raising one never does): a runtime whose
 * pool could not run as asked does not start. 0 or -errno. */
static int pool_nice_check(const weft_config_t *cfg)
{
    int want = cfg ? cfg->pool_nice : 0;
    if (want == 0)
        return 0;
    if (want < -20 || want > 19)
        return -EINVAL;
    id_t tid = (id_t)gettid();
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno)
        return -errno;
    if (want >= cur)
        return 0;
    if (setpriority(PRIO_PROCESS, tid, want) < 0) {
        int e = errno;
        fprintf(stderr,
                "weft: pool_nice %d is below this thread's nice value %d: that needs "
                "CAP_SYS_NICE or an RLIMIT_NICE of at least %d (%s)\n",
                want, cur, 20 - want, strerror(e));
        return -e;
    }
    setpriority(PRIO_PROCESS, tid, cur);
    return 0;
}

int weft__config_check(const weft_config_t *cfg)
{
    int nw = config_workers(cfg);
    if (nw < WEFT_WORKERS_PER_CORE || nw > WEFT_WORKERS_MAX ||
        (cfg && (cfg->pool_threads < 0 || cfg->timer_slack_ns < 0 || cfg->timer_spin_ns < 0 ||
                 cfg->timer_spin_ns > WEFT_MSEC(10))) ||
        weft__stack_mode_default(cfg) < 0 || weft__trim_check(cfg) < 0)
        return -EINVAL;
    int rc = pool_nice_check(cfg);
    if (rc < 0)
        return rc;
    if (nw == WEFT_WORKERS_PER_CORE || nw == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        nw = cores < 1 ? 1 : cores > WEFT_WORKERS_MAX ? WEFT_WORKERS_MAX : (int)cores;
    }
    return nw;
}

int weft_run_config(const weft_config_t *cfg, weft_task_fn main, void *arg, void **result)
{
    if (!main)
        return -EINVAL;
    weft__rt_t rt;
    weft__rt_init(&rt);
    int rc = weft__run(&rt, cfg, main, arg, result);
    weft__rt_fini(&rt);
    return rc;
}

int weft__run(weft__rt_t *rt, const weft_config_t *cfg, weft_task_fn main, void *arg,
              void **result)
{
    weft__thread_t *thr = weft__thr();
    if (thr->loop || thr->current != &thr->root)
        return -EBUSY;
    int nw = weft__config_check(cfg);
    if (nw < 0)
        return nw;
    rt->n = nw;
    atomic_store_explicit(&rt->spread, config_spread(cfg), memory_order_relaxed);
    weft__loop_t *loop0 = NULL;
    rt->loops = &loop0;
    if (nw > 1) {
        rt->loops = calloc((size_t)nw, sizeof *rt->loops);
        rt->cancel_all = calloc((size_t)nw, sizeof *rt->cancel_all);
        if (!rt->loops || !rt->cancel_all) {
            free(rt->loops);
            free(rt->cancel_all);
            return -ENOMEM;
        }
    }
    int rc = 0;
    weft__loop_t *L = weft__loop_open(rt, 0, cfg, &rc);
    if (!L) {
        rt->n = 1;
        if (nw > 1) {
            free(rt->loops);
            free(rt->cancel_all);
        }
        return rc;
    }
    rt->loops[0] = L;
    /* object locks: never with one worker; with several, from the moment
     * another worker may run something (spin.h, worker.c) */
    thr->nolock = nw == 1 ? WEFT__LOCKS_OFF : WEFT__LOCKS_OFF_FOR_NOW;
    sigpipe_enter();
    if (nw == 1)
        weft__rt_set_state(rt, WEFT__RT_RUNNING);
    int old_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (cfg && cfg->timer_slack_ns > 0)
        prctl(PR_SET_TIMERSLACK, (unsigned long)cfg->timer_slack_ns, 0, 0, 0);
    if (nw > 1 && (rc = start_workers(rt, cfg)) < 0)
        goto out;

    weft_task_t *mt;
    /* main keeps its own stack in every mode: it is the program's frame,
     * the one other tasks are most often handed pointers into */
    weft_task_opts_t mo = {
        .name = "main", .stack_size = L->stack_size, .stack_mode = WEFT_STACK_OWN,
        .place = WEFT_PLACE_HERE};
    rc = weft__task_new(L, &mt, main, arg, &mo, NULL);
    if (rc < 0) {
        if (nw > 1) {
            atomic_store(&rt->closing, true);
            stop_workers(rt);
        }
        goto out;
    }
    weft__signal_arm_stop(mt); /* without it Ctrl-C and SIGTERM kill as usual */
    bool stuck = false;
    while (weft__tstate(mt) != WEFT_TASK_DONE) {
        if (!weft__loop_turn(L) && (nw == 1 || weft__rt_stuck(rt))) {
            /* nothing can wake main any more: a deadlock. Like Ctrl-C,
             * cancel it so the program unwinds instead of hanging. */
            if (stuck)
                break;
            fprintf(stderr, "weft: deadlock: no task can run and nothing is pending; "
                            "cancelling the main task\n");
            stuck = true;
            weft__cancel_why(mt, WEFT_CANCEL_DEADLOCK, NULL);
        }
    }
    /* main returned: cancel what is left and let it unwind; plain threads
     * can post nothing more */
    weft__signal_disarm_stop();
    weft__rt_set_state(rt, WEFT__RT_CLOSED);
    if (nw > 1) {
        atomic_store(&rt->closing, true);
        weft__rt_cancel_all(rt);
        unwind(L);
        stop_workers(rt);
    } else {
        L->closing = true;
        for (weft_task_t *t = L->all; t; t = t->all_next)
            weft__cancel_why(t, WEFT_CANCEL_SHUTDOWN, NULL);
        while (L->ntasks > 0 && weft__loop_turn(L))
            ;
        /* still stuck: discard one at a time and let the rest run again */
        while (L->all) {
            discard_one(L);
            while (L->ntasks > 0 && weft__loop_turn(L))
                ;
        }
    }
    rc = mt->status;
    if (result)
        *result = mt->result;
    mt->retrieved = 1;
    weft_task_release(mt);
out:
    weft__rt_set_state(rt, WEFT__RT_CLOSED);
    close_worker(L);
    weft__loop_free(L);
    thr->nolock = WEFT__LOCKS_ON;
    weft__report_flush(); /* counts of rate-limited reports still held */
    if (nw > 1) {
        free(rt->loops);
        free(rt->cancel_all);
    }
    sigpipe_leave();
    if (cfg && cfg->timer_slack_ns > 0 && old_slack > 0)
        prctl(PR_SET_TIMERSLACK, (unsigned long)old_slack, 0, 0, 0);
    return rc;
}

int weft_run(weft_task_fn main, void *arg, void **result)
{
    return weft_run_config(NULL, main, arg, result);
}

/* ---- plain threads ---- */

typedef struct {
    weft__post_t post;
    weft_callback_fn fn;
    void *arg;
} ts_call_t;

static void ts_call_fn(weft__loop_t *L, weft__post_t *p)
{
    ts_call_t *c = (ts_call_t *)p;
    if (!L->closing)
        c->fn(c->arg);
    free(c);
}

int weft_call_soon_threadsafe(weft_runtime_t *rtp, int worker, weft_callback_fn fn, void *arg)
{
    weft__rt_t *rt = (weft__rt_t *)rtp;
    if (!rt || !fn)
        return -EINVAL;
    pthread_mutex_lock(&rt->post_mu);
    int rc = 0;
    if (rt->state != WEFT__RT_RUNNING) {
        rc = -ESHUTDOWN;
    } else if (worker < 0 || worker >= rt->n) {
        rc = -EINVAL;
    } else {
        ts_call_t *c = malloc(sizeof *c);
        if (!c) {
            rc = -ENOMEM;
        } else {
            c->post.fn = ts_call_fn;
            c->fn = fn;
            c->arg = arg;
            weft__loop_post(rt->loops[worker], &c->post);
        }
    }
    pthread_mutex_unlock(&rt->post_mu);
    return rc;
}

typedef struct {
    weft__rt_t rt; /* first: a weft_runtime_t * is this record */
    pthread_t thread;
    weft_config_t cfg;
    bool has_cfg;
    weft_task_fn main;
    void *arg;
    void *result;
    int status;
} started_t;

static void *start_main(void *p)
{
    started_t *s = p;
    s->status = weft__run(&s->rt, s->has_cfg ? &s->cfg : NULL, s->main, s->arg, &s->result);
    weft__rt_set_state(&s->rt, WEFT__RT_CLOSED); /* also when it never ran */
    return NULL;
}

int weft_runtime_start(weft_runtime_t **rt, const weft_config_t *cfg, weft_task_fn main,
                       void *arg)
{
    if (!rt || !main)
        return -EINVAL;
    int rc = weft__config_check(cfg);
    if (rc < 0)
        return rc;
    started_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    weft__rt_init(&s->rt);
    s->rt.detached_start = true;
    if (cfg) {
        s->cfg = *cfg;
        s->has_cfg = true;
    }
    s->main = main;
    s->arg = arg;
    if (pthread_create(&s->thread, NULL, start_main, s) != 0) {
        weft__rt_fini(&s->rt);
        free(s);
        return -EAGAIN;
    }
    pthread_mutex_lock(&s->rt.post_mu);
    while (s->rt.state == WEFT__RT_STARTING)
        pthread_cond_wait(&s->rt.state_cv, &s->rt.post_mu);
    pthread_mutex_unlock(&s->rt.post_mu);
    *rt = (weft_runtime_t *)&s->rt;
    return 0;
}

int weft_runtime_join(weft_runtime_t *rtp, void **result)
{
    weft__rt_t *rt = (weft__rt_t *)rtp;
    if (!rt || !rt->detached_start)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (L && L->rt == rt)
        return -EDEADLK;
    started_t *s = (started_t *)rt;
    pthread_join(s->thread, NULL);
    int rc = s->status;
    if (result)
        *result = s->result;
    weft__rt_fini(&s->rt);
    free(s);
    return rc;
}
