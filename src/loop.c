/* loop.c - the scheduler: the ready queue, timers, polling, weft_run.
 *
 * Owns: the loop object of each thread that runs one (found through the
 * one thread-local weft__self.loop), its ready queue, its timer heap and
 * its backend; callbacks (call_soon/later/at); sleeping and yielding; the
 * park/wake protocol every waiting primitive uses (see loop.h).
 *
 * One turn of the loop: poll the backend (without blocking if anything is
 * ready; skipped entirely while tasks are ready and no fd is watched, so a
 * busy loop makes no system call), fire the timers that are due, then run
 * what was ready at the start of the turn, in FIFO order. Tasks and
 * callbacks made ready during the turn wait for the next one, so a task
 * that yields in a loop cannot starve the others or the poll.
 *
 * Other threads hand records to the loop through its inbox (a lock-free
 * stack, reversed into posting order when drained), drained every turn
 * right after the poll; L->inflight counts the posts still to come, so
 * a loop waiting only for a pool job polls instead of calling it a
 * deadlock.
 *
 * Invariants: a task is on the ready queue iff its state is PENDING or
 * READY; a WAITING task is on at most one wait list plus, maybe, the timer
 * heap; the scheduler runs on the thread's own stack (its root context),
 * and every task switch goes root -> task -> root.
 */
#include "loop.h"
#include "pool.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t weft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- timers ---- */

void weft__timer_arm(weft__loop_t *L, weft__timer_t *tm, int64_t when)
{
    if (tm->idx != WEFT__NO_INDEX)
        weft__heap_remove(&L->timers, tm);
    tm->when = when;
    if (weft__heap_push(&L->timers, tm) != 0)
        tm->idx = WEFT__NO_INDEX; /* out of memory: the wait goes on without a timer */
}

void weft__timer_disarm(weft__loop_t *L, weft__timer_t *tm)
{
    if (tm->idx != WEFT__NO_INDEX)
        weft__heap_remove(&L->timers, tm);
}

/* ---- park and wake ---- */

int weft__wait_check(weft_task_t *t)
{
    if (weft__cancel_req(t))
        return -ECANCELED;
    if (t->b->deadline != WEFT_FOREVER && weft_now() >= t->b->deadline)
        return -ETIMEDOUT;
    return 0;
}

/* The running task gives the loop its turn; returns, when it runs again,
 * the status its waker handed over (the loop passes it through the
 * switch). Without sanitizers the switch is a tail call: see "No ret after
 * a switch" in docs/design.md. */
static inline int switch_out(weft_task_t *t)
{
    weft__thread_t *thr = &weft__self;
    weft_coro_t *top = thr->current;
    t->b->top = top;
    thr->current = &thr->root;
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
    return (int)(intptr_t)weft__coro_switch(top, &thr->root, NULL, false);
#else
    return weft__ctx_switch_int(&top->ctx, &thr->root.ctx, 0);
#endif
}

int weft__park(weft_task_t *t, int what, const void *obj, void (*unpark)(weft_task_t *),
               int64_t until)
{
    weft__loop_t *L = t->loop;
    int64_t dl = t->b->nocancel ? WEFT_FOREVER : t->b->deadline;
    int64_t when = until < dl ? until : dl;
    if (when != WEFT_FOREVER) {
        t->b->timer_status = until < dl ? 0 : -ETIMEDOUT;
        weft__timer_arm(L, &t->b->timer, when);
    }
    t->b->wait_kind = (uint8_t)what;
    t->b->wait_obj = obj;
    t->b->unpark = unpark;
    weft__set_tstate(t, WEFT_TASK_WAITING);
    /* From here a waker may claim the task: `woken` is 1 whenever the
     * task is not parked, so a stale reference to it wakes nothing. The
     * runtime lock is not held across the park: a waker on another
     * worker takes it to unlink the task, and posts the wake here. */
    t->woken = 0;
    unsigned held = WEFT_UNLIKELY(atomic_load_explicit(&weft__multi, memory_order_relaxed))
                        ? weft__big_release_all()
                        : 0;
    if (WEFT_LIKELY(!held))
        return switch_out(t); /* a tail call: see "No ret after a switch" */
    int rc = switch_out(t);
    weft__big_reacquire(held);
    return rc;
}

static inline void make_ready(weft_task_t *t)
{
    weft__loop_t *L = t->loop;
    t->b->unpark = NULL;
    weft__timer_disarm(L, &t->b->timer);
    weft__set_tstate(t, WEFT_TASK_READY);
    weft__runq_push(&L->ready, &t->q);
}

void weft__ready(weft_task_t *t)
{
    make_ready(t);
}

/* The caller has unlinked t (holding the runtime lock when t may be
 * another worker's). The first wake of a park wins; a task of another
 * worker is made ready there, through its loop's inbox. */
void weft__wake(weft_task_t *t, int status)
{
    if (t->woken)
        return;
    t->woken = 1;
    t->b->wake_status = status;
    if (WEFT_LIKELY(t->loop == weft__self.loop))
        make_ready(t);
    else
        weft__post_wake(t);
}

/* Cancellation or a timer reaches a waiting task, on its own loop:
 * unlink it and wake it, unless a waker elsewhere already claimed it. */
static void interrupt(weft_task_t *t, int status)
{
    WEFT__GUARD();
    if (t->woken || t->tstate != WEFT_TASK_WAITING)
        return;
    if (t->b->unpark)
        t->b->unpark(t);
    weft__wake(t, status);
}

void weft__interrupt_cancel(weft_task_t *t)
{
    if (t->tstate == WEFT_TASK_WAITING && !t->b->nocancel)
        interrupt(t, -ECANCELED);
}

int weft_cancel(weft_task_t *t)
{
    if (!t)
        return -EINVAL;
    WEFT__GUARD();
    if (weft__tstate(t) == WEFT_TASK_DONE)
        return -EALREADY;
    __atomic_fetch_add(&t->cancel_req, 1, __ATOMIC_RELAXED);
    if (t->loop == weft__self.loop)
        weft__interrupt_cancel(t);
    else
        weft__cancel_remote(t);
    return 0;
}

/* ---- sleeping and yielding ---- */

int weft_yield(void)
{
    weft_task_t *t = weft__task();
    if (!t)
        return -EPERM;
    int rc = weft__wait_check(t);
    if (rc)
        return rc;
    weft__set_tstate(t, WEFT_TASK_READY);
    t->b->wait_kind = WEFT__WAIT_YIELD;
    t->b->wake_status = 0;
    weft__runq_push(&t->loop->ready, &t->q);
    return switch_out(t);
}

int weft_sleep_until(int64_t when)
{
    weft_task_t *t = weft__task();
    if (!t)
        return -EPERM;
    int rc = weft__wait_check(t);
    if (rc)
        return rc;
    if (when <= weft_now())
        return weft_yield();
    return weft__park(t, WEFT__WAIT_SLEEP, NULL, NULL, when);
}

int weft_sleep(int64_t ns)
{
    if (ns <= 0)
        return weft_yield();
    int64_t now = weft_now();
    return weft_sleep_until(ns > WEFT_FOREVER - now ? WEFT_FOREVER - 1 : now + ns);
}

/* ---- callbacks ---- */

static void handle_unref(weft_handle_t *h)
{
    if (--h->refs == 0)
        free(h);
}

static int schedule(weft_handle_t **out, int64_t when, bool timed, weft_callback_fn fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
    weft_handle_t *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->q.kind = WEFT__Q_HANDLE;
    h->timer.kind = WEFT__TIMER_HANDLE;
    h->timer.idx = WEFT__NO_INDEX;
    h->loop = L;
    h->fn = fn;
    h->arg = arg;
    h->refs = 1 + (out != NULL);
    if (timed) {
        h->timer.when = when;
        if (weft__heap_push(&L->timers, &h->timer) != 0) {
            free(h);
            return -ENOMEM;
        }
    } else {
        weft__runq_push(&L->ready, &h->q);
    }
    if (out)
        *out = h;
    return 0;
}

int weft_call_soon(weft_handle_t **h, weft_callback_fn fn, void *arg)
{
    return schedule(h, 0, false, fn, arg);
}

int weft_call_at(weft_handle_t **h, int64_t when, weft_callback_fn fn, void *arg)
{
    return schedule(h, when, true, fn, arg);
}

int weft_call_later(weft_handle_t **h, int64_t delay_ns, weft_callback_fn fn, void *arg)
{
    int64_t now = weft_now();
    if (delay_ns < 0)
        delay_ns = 0;
    return schedule(h, delay_ns > WEFT_FOREVER - now ? WEFT_FOREVER : now + delay_ns, true, fn,
                    arg);
}

int weft_handle_cancel(weft_handle_t *h)
{
    if (!h)
        return -EINVAL;
    int rc = -EALREADY;
    if (h->hstate == WEFT__H_SCHEDULED) {
        h->hstate = WEFT__H_CANCELLED;
        rc = 0;
        if (h->timer.idx != WEFT__NO_INDEX) {
            /* off the heap it will never be popped: drop the loop's ref */
            weft__heap_remove(&h->loop->timers, &h->timer);
            h->refs--;
        }
        /* on the ready queue it is skipped, and its ref dropped, when popped */
    }
    handle_unref(h);
    return rc;
}

int weft_handle_release(weft_handle_t *h)
{
    if (!h)
        return -EINVAL;
    handle_unref(h);
    return 0;
}

static void run_handle(weft_handle_t *h)
{
    if (h->hstate == WEFT__H_SCHEDULED) {
        h->hstate = WEFT__H_RAN;
        h->fn(h->arg);
    }
    handle_unref(h);
}

/* ---- the inbox ---- */

void weft__loop_post(weft__loop_t *L, weft__post_t *p)
{
    weft__post_t *old = atomic_load_explicit(&L->inbox, memory_order_relaxed);
    do
        p->next = old;
    while (!atomic_compare_exchange_weak_explicit(&L->inbox, &old, p, memory_order_seq_cst,
                                                  memory_order_relaxed));
    if (L->rt->n > 1)
        atomic_fetch_add_explicit(&L->rt->activity, 1, memory_order_relaxed);
    /* Only a loop that may be blocked needs the eventfd, and only once:
     * the poster that clears `parked` writes it. The loop sets `parked`
     * and then looks at its inbox again before it blocks (both seq_cst),
     * so a record is either seen there or signalled. */
    if (atomic_load_explicit(&L->parked, memory_order_seq_cst) &&
        atomic_exchange_explicit(&L->parked, 0, memory_order_seq_cst))
        weft__backend_notify(&L->be);
}

/* Blocks in the backend for up to timeout_ns, unless a post or (with
 * several workers) a task to steal is there already. */
static void park_poll(weft__loop_t *L, int64_t timeout_ns)
{
    weft__rt_t *rt = L->rt;
    bool multi = rt->n > 1;
    atomic_store_explicit(&L->parked, 1, memory_order_seq_cst);
    if (multi)
        atomic_fetch_add_explicit(&rt->nparked, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&L->inbox, memory_order_seq_cst) ||
        (multi && weft__stealable(L)))
        timeout_ns = 0;
    /* timer_spin_ns: the last stretch before a timer is polled, not slept
     * (a wake-up from a blocked epoll_pwait2 costs tens of microseconds on
     * these machines; a poll with a zero timeout a fraction of one) */
    weft__timer_t *tm;
    if (L->timer_spin_ns > 0 && timeout_ns > 0 && (tm = weft__heap_top(&L->timers))) {
        int64_t due = tm->when - weft_now();
        timeout_ns = due <= L->timer_spin_ns ? 0 : due - L->timer_spin_ns;
    }
    weft__backend_poll(L, timeout_ns);
    if (multi)
        atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_relaxed);
    atomic_store_explicit(&L->parked, 0, memory_order_relaxed);
}

static void drain_inbox(weft__loop_t *L)
{
    weft__post_t *p = atomic_exchange_explicit(&L->inbox, NULL, memory_order_acquire);
    weft__post_t *fifo = NULL;
    while (p) {
        weft__post_t *next = p->next;
        p->next = fifo;
        fifo = p;
        p = next;
    }
    while (fifo) {
        weft__post_t *next = fifo->next;
        fifo->fn(L, fifo);
        fifo = next;
    }
}

/* ---- the turn ---- */

/* What is due runs at the head of the ready queue, ahead of the tasks
 * that were merely ready: a timer is a promise about *when*, so a task
 * whose deadline came waits for no more than the step running now (a 1 kHz
 * control loop beside a busy task), while a ready task waits at most one
 * more step. */
static void fire_timers(weft__loop_t *L)
{
    int64_t now = weft_now();
    weft__timer_t *tm = weft__heap_top(&L->timers);
    if (!tm || tm->when > now)
        return;
    weft__runq_t was = L->ready;
    weft__runq_init(&L->ready);
    while ((tm = weft__heap_top(&L->timers)) && tm->when <= now) {
        weft__heap_remove(&L->timers, tm);
        if (tm->kind == WEFT__TIMER_TASK) {
            weft_task_t *t = WEFT_CONTAINER_OF(tm, weft__tbody_t, timer)->co.task;
            interrupt(t, t->b->timer_status);
        } else {
            weft_handle_t *h = WEFT_CONTAINER_OF(tm, weft_handle_t, timer);
            weft__runq_push(&L->ready, &h->q);
        }
    }
    if (was.head) {
        *L->ready.tail = was.head;
        L->ready.tail = was.tail;
        L->ready.n += was.n;
    }
}

/* After a turn that sent held writes (streams with defer_writes: a
 * server answering requests), the loop tries not to block at once. A
 * loop that blocked must be woken, and the sender's system call pays for
 * that wake-up (on these machines 15 us of the client's CPU, when the
 * client is the bottleneck: redis-benchmark against mini_redis) plus a
 * context switch here. So first it polls without blocking, for at most
 * as long as it worked since its last such spin and never more than
 * WEFT__SPIN_NS: the answers' next requests often come within
 * microseconds. A spin that finds nothing makes the next 1, 2, 4 ... 64
 * flushes skip theirs, so a sparse or idle server spends almost nothing;
 * one that finds work resets that. Timers due sooner end a spin.
 *
 * When the spin finds nothing, the loop naps WEFT__NAP_NS off the epoll
 * wait queue and polls once more before it blocks: requests sent during
 * the nap wake nobody, and the next turn takes them all in one batch.
 * The nap costs latency (a request that comes during it waits for its
 * end), which pays only when the load is high enough for it to gather
 * several: a nap that gathers fewer than two wake-ups makes the next 1,
 * 2, 4 ... 1024 naps skip, so a lone client's request-answer round trip
 * (nothing to gather) meets one nap in a thousand. Posts from other
 * threads also wait for its end; a timer due within it prevents it.
 *
 * Both only while the runtime leaves a CPU of the machine free
 * (spin_ok: fewer workers than online CPUs). Where its workers take every
 * CPU, the peers share cores with them, and the CPU a spin or a nap
 * burns (a nap's timer costs 20 us of CPU on these guests) is taken from
 * the very peers whose requests it waits for. */
#define WEFT__SPIN_NS WEFT_USEC(30)
#define WEFT__SPIN_SKIP_MAX 64
#define WEFT__NAP_NS WEFT_USEC(50)
#define WEFT__NAP_SKIP_MAX 1024

/* The next count of a 1, 2, 4 ... max back-off after one more failure. */
static unsigned backoff(unsigned fail, unsigned max)
{
    return fail >= max / 2 ? max : fail ? fail * 2 : 1;
}

static bool spin_found(weft__loop_t *L)
{
    return L->ready.n || atomic_load_explicit(&L->inbox, memory_order_relaxed) ||
           (L->rt->n > 1 && atomic_load_explicit(&L->anyq_n, memory_order_relaxed));
}

/* True when the nap was taken and woke something. */
static bool nap(weft__loop_t *L, int64_t now)
{
    if (L->nap_skip) {
        L->nap_skip--;
        return false;
    }
    weft__timer_t *tm = weft__heap_top(&L->timers);
    if (tm && tm->when < now + WEFT__NAP_NS)
        return false;
    if (weft__backend_nap(&L->be, WEFT__NAP_NS) < 0) {
        L->nap_fail = L->nap_skip = WEFT__NAP_SKIP_MAX;
        return false;
    }
    L->naps++;
    weft__backend_poll(L, 0);
    L->since_poll = 0;
    if (L->ready.n >= 2) {
        L->nap_fail = 0;
    } else {
        L->nap_skip = L->nap_fail = (uint16_t)backoff(L->nap_fail, WEFT__NAP_SKIP_MAX);
    }
    return spin_found(L);
}

static void spin_poll(weft__loop_t *L)
{
    if (L->spin_skip) {
        L->spin_skip--;
        return;
    }
    int64_t now = weft_now(), budget = now - L->spin_end;
    if (budget > WEFT__SPIN_NS || budget < 0)
        budget = WEFT__SPIN_NS;
    int64_t end = now + budget;
    weft__timer_t *tm = weft__heap_top(&L->timers);
    if (tm && tm->when < end)
        end = tm->when;
    for (;;) {
        if (spin_found(L))
            goto found;
        if ((now = weft_now()) >= end)
            break;
        weft__backend_poll(L, 0);
        L->since_poll = 0;
    }
    if (nap(L, now)) {
        now = weft_now();
        goto found;
    }
    L->spin_skip = L->spin_fail = (uint8_t)backoff(L->spin_fail, WEFT__SPIN_SKIP_MAX);
    L->spin_end = now;
    return;
found:
    L->spin_fail = 0;
    L->spin_end = now;
}

/* Returns false when nothing can ever become ready again: no task or
 * callback ready, no timer, no fd watched, no post to come. */
bool weft__loop_turn(weft__loop_t *L)
{
    /* writes held during the last turn leave together, before any poll */
    if (L->deferred) {
        weft__stream_flush_deferred(L);
        if (L->spin_ok)
            spin_poll(L);
    }
    /* several workers: unstarted tasks any worker may run; one a turn
     * from our own share, so a loop busy with ready tasks still gets
     * through them, and a steal when there is nothing else */
    if (L->rt->n > 1 &&
        (atomic_load_explicit(&L->anyq_n, memory_order_relaxed) || L->ready.n == 0))
        weft__take_any(L);
    if (L->ready.n == 0) {
        int64_t timeout = -1;
        weft__timer_t *tm = weft__heap_top(&L->timers);
        if (tm) {
            int64_t now = weft_now();
            timeout = tm->when > now ? tm->when - now : 0;
        } else if (L->be.nwatch == 0 && L->inflight == 0 &&
                   !atomic_load_explicit(&L->inbox, memory_order_relaxed)) {
            if (L->rt->n == 1)
                return false;
            /* another worker may still hand us work: wait for it (and,
             * closing, look every 20 ms for tasks stuck for good; worker
             * 0 looks every 50 ms whether every worker is stuck) */
            atomic_store_explicit(&L->idle, 1, memory_order_seq_cst);
            park_poll(L, atomic_load_explicit(&L->rt->closing, memory_order_relaxed) ? WEFT_MSEC(20)
                         : L->index == 0                                              ? WEFT_MSEC(50)
                                                                                      : -1);
            atomic_store_explicit(&L->idle, 0, memory_order_relaxed);
            L->since_poll = 0;
            if (atomic_load_explicit(&L->inbox, memory_order_relaxed))
                drain_inbox(L);
            return false;
        }
        /* a timer already due runs before the loop polls again */
        if (timeout != 0 || ++L->since_poll >= 16) {
            if (timeout != 0)
                park_poll(L, timeout);
            else
                weft__backend_poll(L, 0);
            L->since_poll = 0;
        }
    } else if ((L->be.nwatch > 0 || L->sig_active) &&
               ++L->since_poll >= (L->be.nwatch > 0 ? 16u : 1024u)) {
        /* ready work never starves I/O: a non-blocking poll every 16 turns
         * (every 1024 when only signals are watched: a Ctrl-C can wait a
         * little, a yield loop should not pay a system call per 16 turns) */
        weft__backend_poll(L, 0);
        L->since_poll = 0;
    }
    if (atomic_load_explicit(&L->inbox, memory_order_relaxed))
        drain_inbox(L);
    if (L->timers.n)
        fire_timers(L);
    for (size_t n = L->ready.n; n > 0; n--) {
        weft__qnode_t *q = weft__runq_pop(&L->ready);
        if (q->kind == WEFT__Q_TASK)
            weft__task_run(L, WEFT_CONTAINER_OF(q, weft_task_t, q));
        else
            run_handle(WEFT_CONTAINER_OF(q, weft_handle_t, q));
    }
    return true;
}

/* ---- weft_run ---- */

static int config_workers(const weft_config_t *cfg)
{
    int w = cfg ? cfg->workers : 0;
    if (w == 0) {
        const char *env = getenv("WEFT_WORKERS");
        w = env && *env ? atoi(env) : 1;
    }
    return w;
}

weft_runtime_t *weft_runtime(void)
{
    weft__loop_t *L = weft__loop();
    return L ? (weft_runtime_t *)L->rt : NULL;
}

int weft_worker_count(void)
{
    weft__loop_t *L = weft__loop();
    return L ? L->rt->n : -EPERM;
}

int weft_worker_index(void)
{
    weft__loop_t *L = weft__loop();
    return L ? L->index : -EPERM;
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

static void close_loop(weft__loop_t *L)
{
    /* no thread outlives the loop: wait for running pool jobs, then take
     * in what they posted last (detached jobs only free their records) */
    L->closing = true;
    weft__pool_close(L);
    drain_inbox(L);
    weft__signal_close();
    /* callbacks still queued or timed never run; their handles are
     * dropped (a handle the user holds stays valid until released) */
    weft__qnode_t *q;
    while ((q = weft__runq_pop(&L->ready))) {
        if (q->kind == WEFT__Q_HANDLE) {
            weft_handle_t *h = WEFT_CONTAINER_OF(q, weft_handle_t, q);
            if (h->hstate == WEFT__H_SCHEDULED)
                h->hstate = WEFT__H_CANCELLED;
            handle_unref(h);
        }
    }
    while (L->timers.n) {
        weft__timer_t *tm = L->timers.v[L->timers.n - 1];
        weft__heap_remove(&L->timers, tm);
        if (tm->kind == WEFT__TIMER_HANDLE) {
            weft_handle_t *h = WEFT_CONTAINER_OF(tm, weft_handle_t, timer);
            h->hstate = WEFT__H_CANCELLED;
            handle_unref(h);
        }
    }
    weft__heap_free(&L->timers);
    weft__backend_fini(&L->be);
}

/* Tasks that can never finish (they wait on something nobody will set,
 * with cancellation cleared) are reported and reclaimed by force. */
void weft__task_discard(weft__loop_t *L, weft_task_t *t);

/* Discards one of L's tasks that cannot finish: preferably one that
 * waits on no other task (its awaiters then wake and finish normally,
 * dropping the references they hold). Only WAITING tasks are discarded:
 * the caller found the ready queue empty. */
static void discard_one(weft__loop_t *L)
{
    weft_task_t *victim = L->all;
    for (weft_task_t *t = L->all; t; t = t->all_next)
        if (t->b && t->b->wait_kind != WEFT__WAIT_TASK && t->b->wait_kind != WEFT__WAIT_TASKS &&
            t->b->wait_kind != WEFT__WAIT_GROUP) {
            victim = t;
            break;
        }
    weft__task_discard(L, victim);
}

weft__loop_t *weft__loop_open(weft__rt_t *rt, int index, const weft_config_t *cfg, int *err)
{
    weft__thread_t *thr = weft__thr();
    weft__loop_t *L = calloc(1, sizeof *L);
    if (!L) {
        *err = -ENOMEM;
        return NULL;
    }
    weft__runq_init(&L->ready);
    weft__runq_init(&L->anyq);
    int rc = weft__backend_init(&L->be);
    if (rc < 0) {
        free(L);
        *err = rc;
        return NULL;
    }
    L->rt = rt;
    L->index = index;
    L->thr = thr;
    L->pool_max = cfg && cfg->pool_threads > 0 ? cfg->pool_threads : 16;
    L->stack_size = cfg ? cfg->stack_size : 0;
    L->copy_stack = weft__stack_mode_default(cfg) > 0;
    const char *dbg = getenv("WEFT_DEBUG");
    L->debug = (cfg && cfg->debug) || (dbg && *dbg && *dbg != '0');
    L->slow_step_ns = cfg && cfg->slow_step_ns > 0 ? cfg->slow_step_ns : WEFT_MSEC(100);
    L->timer_spin_ns = cfg && cfg->timer_spin_ns > 0 ? cfg->timer_spin_ns : 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    L->spin_ok = rt->n < ncpu;
    thr->loop = L;
    weft__stack_guard_thread();
    return L;
}

void weft__loop_close(weft__loop_t *L)
{
    if (L->deferred)
        weft__stream_flush_deferred(L);
    close_loop(L);
    weft__task_cache_trim(L);
    L->thr->loop = NULL;
}

void weft__loop_free(weft__loop_t *L)
{
    weft__backend_fini_notify(&L->be);
    free(L);
}

/* Several workers, closing: L runs until no task is left on any worker.
 * A worker whose own tasks cannot move while nothing finishes anywhere
 * for a while (five idle 20 ms waits) discards one of them. */
void weft__loop_unwind(weft__loop_t *L);
void weft__loop_unwind(weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    while (atomic_load_explicit(&rt->live, memory_order_acquire) > 0) {
        if (weft__loop_turn(L))
            continue;
        unsigned long p = atomic_load_explicit(&rt->progress, memory_order_relaxed);
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

int weft__config_check(const weft_config_t *cfg)
{
    int nw = config_workers(cfg);
    if (nw < WEFT_WORKERS_PER_CORE || nw > WEFT_WORKERS_MAX ||
        (cfg && (cfg->pool_threads < 0 || cfg->timer_slack_ns < 0 || cfg->timer_spin_ns < 0 ||
                 cfg->timer_spin_ns > WEFT_MSEC(10))) ||
        weft__stack_mode_default(cfg) < 0)
        return -EINVAL;
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
    sigpipe_enter();
    if (nw == 1)
        weft__rt_set_state(rt, WEFT__RT_RUNNING);
    int old_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (cfg && cfg->timer_slack_ns > 0)
        prctl(PR_SET_TIMERSLACK, (unsigned long)cfg->timer_slack_ns, 0, 0, 0);
    if (nw > 1 && (rc = weft__rt_start_workers(rt, cfg)) < 0)
        goto out;

    weft_task_t *mt;
    /* main keeps its own stack in every mode: it is the program's frame,
     * the one other tasks are most often handed pointers into */
    weft_task_opts_t mo = {
        .name = "main", .stack_size = L->stack_size, .stack_mode = WEFT_STACK_OWN};
    rc = weft__task_new(L, &mt, main, arg, &mo);
    if (rc < 0) {
        if (nw > 1) {
            atomic_store(&rt->closing, true);
            weft__rt_stop_workers(rt);
        }
        goto out;
    }
    weft__signal_arm_sigint(mt); /* without it Ctrl-C kills as usual */
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
            weft_cancel(mt);
        }
    }
    /* main returned: cancel what is left and let it unwind; plain threads
     * can post nothing more */
    weft__signal_disarm_sigint();
    weft__rt_set_state(rt, WEFT__RT_CLOSED);
    if (nw > 1) {
        atomic_store(&rt->closing, true);
        weft__rt_cancel_all(rt);
        weft__loop_unwind(L);
        weft__rt_stop_workers(rt);
    } else {
        L->closing = true;
        for (weft_task_t *t = L->all; t; t = t->all_next)
            weft_cancel(t);
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
    weft__loop_close(L);
    weft__loop_free(L);
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
