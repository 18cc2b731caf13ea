/* worker.c - several loops on several cores: one runtime, N workers.
 *
 * Owns: the runtime lock, the worker threads, where new tasks go (here,
 * a named worker, or "anywhere"), stealing unstarted tasks, wake-ups and
 * cancellations that cross workers, and posts from plain threads
 * (weft_call_soon_threadsafe, weft_runtime_start).
 *
 * Each worker is an ordinary loop (loop.c) on its own thread: its ready
 * queue, timers, backend and inbox are its own. What crosses workers
 * goes through the target's inbox (one record embedded in the task for a
 * wake or a placement, one for a cancellation), so the target's thread
 * is the only one that ever touches its queues, timers and fds. Objects
 * that coordinate tasks (locks, queues, futures, task completion...)
 * are guarded by one runtime lock, taken only while several workers run.
 *
 * A task that has started never moves: the compiler may keep the address
 * of a thread-local (errno's among them) in a register or on the stack
 * across any call, so a stack resumed on another thread could read the
 * first thread's errno. Only unstarted tasks placed "anywhere" are
 * stolen; they have no stack yet.
 *
 * Parking: a loop about to block sets L->parked (and counts itself in
 * rt->nparked), then looks at its inbox and at the other workers'
 * unstarted tasks once more (seq_cst on both sides); whoever posts or
 * spawns checks the flag after publishing and writes the eventfd only if
 * it is the one to clear it. A busy worker therefore costs producers no
 * system call, and a pile of unstarted tasks wakes one parked worker.
 */
#include "loop.h"

#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

_Atomic int weft__multi;

/* ---- the runtime lock ---- */

/* A test-and-test-and-set lock that yields the CPU after a short spin:
 * sections are a few dozen instructions, but a holder preempted on these
 * 2-core machines must not be spun against for a whole time slice. */
static struct {
    _Atomic int locked;
    _Atomic(weft__thread_t *) owner;
    unsigned depth;
} big;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

void weft__big_lock(void)
{
    weft__thread_t *me = &weft__self;
    if (atomic_load_explicit(&big.owner, memory_order_relaxed) == me) {
        big.depth++;
        return;
    }
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&big.locked, memory_order_relaxed) &&
            !atomic_exchange_explicit(&big.locked, 1, memory_order_acquire))
            break;
        if (spins < 100)
            cpu_relax();
        else
            sched_yield();
    }
    atomic_store_explicit(&big.owner, me, memory_order_relaxed);
    big.depth = 1;
}

void weft__big_unlock(void)
{
    if (--big.depth)
        return;
    atomic_store_explicit(&big.owner, NULL, memory_order_relaxed);
    atomic_store_explicit(&big.locked, 0, memory_order_release);
}

unsigned weft__big_release_all(void)
{
    if (atomic_load_explicit(&big.owner, memory_order_relaxed) != &weft__self)
        return 0;
    unsigned depth = big.depth;
    big.depth = 1;
    weft__big_unlock();
    return depth;
}

void weft__big_reacquire(unsigned depth)
{
    weft__big_lock();
    big.depth = depth;
}

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

/* ---- waking and cancelling across workers ---- */

static void wake_post_fn(weft__loop_t *L, weft__post_t *p)
{
    (void)L;
    weft__ready(WEFT_CONTAINER_OF(p, weft_task_t, wake_post));
}

void weft__post_wake(weft_task_t *t)
{
    t->wake_post.fn = wake_post_fn;
    weft__loop_post(t->loop, &t->wake_post);
}

static void cancel_post_fn(weft__loop_t *L, weft__post_t *p)
{
    weft_task_t *t = WEFT_CONTAINER_OF(p, weft_task_t, cancel_post);
    {
        WEFT__GUARD();
        t->cancel_posted = 0;
        /* an unstarted task sees cancel_req when it starts; one stolen
         * meanwhile is another loop's and has nothing to interrupt */
        if (t->loop == L)
            weft__interrupt_cancel(t);
    }
    weft__task_unref(t);
}

void weft__cancel_remote(weft_task_t *t)
{
    if (t->cancel_posted)
        return; /* the record on its way reads cancel_req when it lands */
    t->cancel_posted = 1;
    weft__task_ref(t);
    t->cancel_post.fn = cancel_post_fn;
    weft__loop_post(t->loop, &t->cancel_post);
}

/* ---- placement and stealing ---- */

static void spawn_post_fn(weft__loop_t *L, weft__post_t *p)
{
    weft__task_adopt(L, WEFT_CONTAINER_OF(p, weft_task_t, wake_post));
}

void weft__kick_idle(weft__rt_t *rt)
{
    if (atomic_load_explicit(&rt->nparked, memory_order_seq_cst) == 0)
        return;
    for (int i = 0; i < rt->n; i++) {
        weft__loop_t *W = rt->loops[i];
        if (atomic_load_explicit(&W->parked, memory_order_seq_cst) &&
            atomic_exchange_explicit(&W->parked, 0, memory_order_seq_cst)) {
            weft__backend_notify(&W->be);
            return;
        }
    }
}

void weft__rt_wake_all(weft__rt_t *rt)
{
    for (int i = 0; i < rt->n; i++) {
        weft__loop_t *W = rt->loops[i];
        if (W && atomic_exchange_explicit(&W->parked, 0, memory_order_seq_cst))
            weft__backend_notify(&W->be);
    }
}

int weft__place(weft__loop_t *L, weft_task_t *t, int place, int worker)
{
    weft__rt_t *rt = L->rt;
    if (place == WEFT_PLACE_WORKER) {
        if (worker < 0 || worker >= rt->n)
            return -EINVAL;
        if (worker == L->index) {
            weft__task_adopt(L, t);
            return 0;
        }
        t->loop = rt->loops[worker];
        t->wake_post.fn = spawn_post_fn;
        weft__loop_post(t->loop, &t->wake_post);
        return 0;
    }
    {
        WEFT__GUARD();
        t->loop = L;
        weft__runq_push(&L->anyq, &t->q);
        atomic_store_explicit(&L->anyq_n, L->anyq.n, memory_order_seq_cst);
    }
    weft__kick_idle(rt);
    return 0;
}

bool weft__stealable(const weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    for (int i = 0; i < rt->n; i++)
        if (i != L->index &&
            atomic_load_explicit(&rt->loops[i]->anyq_n, memory_order_seq_cst) > 0)
            return true;
    return false;
}

bool weft__take_any(weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    if (!atomic_load_explicit(&L->anyq_n, memory_order_relaxed) && !weft__stealable(L))
        return false;
    bool more = false;
    weft__big_lock();
    weft__qnode_t *q = weft__runq_pop(&L->anyq);
    if (!q) {
        /* steal half of the largest share (at least one), oldest first */
        weft__loop_t *V = NULL;
        size_t best = 0;
        for (int i = 0; i < rt->n; i++) {
            weft__loop_t *W = rt->loops[i];
            if (W != L && W->anyq.n > best) {
                best = W->anyq.n;
                V = W;
            }
        }
        if (V) {
            for (size_t k = (best + 1) / 2; k > 0; k--) {
                weft__qnode_t *s = weft__runq_pop(&V->anyq);
                WEFT_CONTAINER_OF(s, weft_task_t, q)->loop = L;
                weft__runq_push(&L->anyq, s);
            }
            atomic_store_explicit(&V->anyq_n, V->anyq.n, memory_order_relaxed);
            more = V->anyq.n > 0;
            q = weft__runq_pop(&L->anyq);
        }
    }
    atomic_store_explicit(&L->anyq_n, L->anyq.n, memory_order_relaxed);
    weft__big_unlock();
    if (!q)
        return false;
    weft__task_adopt(L, WEFT_CONTAINER_OF(q, weft_task_t, q));
    if (more)
        weft__kick_idle(rt); /* a third worker may take from what is left */
    return true;
}

bool weft__rt_stuck(weft__rt_t *rt)
{
    unsigned long act = atomic_load_explicit(&rt->activity, memory_order_seq_cst);
    unsigned long done = atomic_load_explicit(&rt->progress, memory_order_seq_cst);
    bool quiet = act == rt->seen_activity && done == rt->seen_done;
    for (int i = 1; quiet && i < rt->n; i++) {
        weft__loop_t *W = rt->loops[i];
        quiet = atomic_load_explicit(&W->idle, memory_order_seq_cst) &&
                !atomic_load_explicit(&W->inbox, memory_order_seq_cst) &&
                !atomic_load_explicit(&W->anyq_n, memory_order_seq_cst);
    }
    quiet = quiet && !atomic_load_explicit(&rt->loops[0]->anyq_n, memory_order_seq_cst);
    rt->seen_activity = act;
    rt->seen_done = done;
    rt->quiet_looks = quiet ? rt->quiet_looks + 1 : 0;
    if (rt->quiet_looks < 2)
        return false;
    rt->quiet_looks = 0;
    return true;
}

/* ---- closing ---- */

static void cancel_all_fn(weft__loop_t *L, weft__post_t *p)
{
    (void)p;
    WEFT__GUARD();
    for (weft_task_t *t = L->all; t; t = t->all_next)
        weft_cancel(t);
    for (weft__qnode_t *q = L->anyq.head; q; q = q->next)
        __atomic_fetch_add(&WEFT_CONTAINER_OF(q, weft_task_t, q)->cancel_req, 1,
                           __ATOMIC_RELAXED);
}

void weft__rt_cancel_all(weft__rt_t *rt)
{
    for (int i = 0; i < rt->n; i++) {
        rt->cancel_all[i].fn = cancel_all_fn;
        weft__loop_post(rt->loops[i], &rt->cancel_all[i]);
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
    pthread_mutex_unlock(&rt->post_mu);
    if (!L)
        return NULL;
    while (!atomic_load_explicit(&rt->closing, memory_order_acquire) ||
           atomic_load_explicit(&rt->live, memory_order_acquire) > 0)
        weft__loop_turn(L);
    weft__loop_close(L); /* the record itself is freed after the join */
    return NULL;
}

static void join_workers(weft__rt_t *rt, int started)
{
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
    atomic_fetch_sub_explicit(&weft__multi, 1, memory_order_relaxed);
}

int weft__rt_start_workers(weft__rt_t *rt, const weft_config_t *cfg)
{
    rt->threads = calloc((size_t)rt->n, sizeof *rt->threads);
    worker_arg_t *args = calloc((size_t)rt->n, sizeof *args);
    if (!rt->threads || !args) {
        free(rt->threads);
        free(args);
        rt->threads = NULL;
        return -ENOMEM;
    }
    atomic_fetch_add_explicit(&weft__multi, 1, memory_order_relaxed);
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
    pthread_mutex_unlock(&rt->post_mu);
    free(args);
    if (rc < 0) {
        join_workers(rt, started);
        return rc;
    }
    weft__rt_set_state(rt, WEFT__RT_RUNNING);
    return 0;
}

void weft__rt_stop_workers(weft__rt_t *rt)
{
    weft__rt_set_state(rt, WEFT__RT_CLOSED);
    join_workers(rt, rt->n - 1);
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
    if (!rt || !main || weft__config_check(cfg) < 0)
        return -EINVAL;
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
