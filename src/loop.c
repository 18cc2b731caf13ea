/* loop.c - one worker's scheduler: the ready queue, timers, the inbox,
 * before-poll hooks, callbacks, park/wake, and the turn.
 *
 * Owns: the loop object of each thread that runs one (found through the
 * one thread-local weft__self.loop), its ready queue, its timer heap and
 * its inbox; callbacks (call_soon/later/at); sleeping and yielding; the
 * park/wake protocol every waiting primitive uses (wait.h). It knows no
 * stream, socket, pool or signal: the poller is behind backend.h, and
 * work that must happen before a poll registers a hook.
 *
 * One turn, in phases (weft__loop_turn):
 *   1. hooks    every before-poll hook runs (held writes leave);
 *   2. steal    several workers: take an unstarted task (worker.c);
 *   3. poll     block in the backend if nothing is ready, else poll now
 *               and then without blocking (every 16 turns while fds are
 *               watched, so ready work never starves I/O, and on the
 *               turn after a task spent its cooperative budget); skipped
 *               while tasks are ready and nothing is watched, so a busy
 *               loop makes no system call;
 *               before it blocks, a loop quiet for its quiet period
 *               gives memory back to the kernel (trim.c);
 *   4. inbox    run what other threads posted;
 *   5. timers   what is due goes to the head of the ready queue;
 *   6. run      what was ready at the start of this phase, in FIFO order
 *               (each step followed by what it handed to the slot).
 * Tasks and callbacks made ready during phase 6 wait for the next turn,
 * so a task that yields in a loop cannot starve the others or the poll.
 *
 * Other threads hand records to the loop through its inbox (a lock-free
 * stack, reversed into posting order when drained); L->inflight counts
 * the posts still to come, so a loop waiting only for a pool job polls
 * instead of calling it a deadlock.
 *
 * With several workers that spread, a task placed anywhere that a step
 * wakes takes the locality slot instead (L->next) and runs as soon as
 * that step ends, a chain of such hand-offs sharing one cooperative
 * budget (run_next); the slot is empty outside phase 6.
 *
 * Invariants: a task is on the ready queue (or in the slot) iff its
 * state is PENDING or READY; a WAITING task is on at most one wait list plus, maybe, the timer
 * heap; the scheduler runs on the thread's own stack (its root context),
 * and every task switch goes root -> task -> root.
 */
#include "backend.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int64_t weft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const weft__wait_kind_t weft__wait_yield = {.name = "yield"};
const weft__wait_kind_t weft__wait_sleep = {.name = "sleep"};

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

/* The running task gives the loop its turn; returns, when it runs again,
 * the status its waker handed over (the loop passes it through the
 * switch). Without sanitizers the switch is a tail call: see "No ret after
 * a switch" in docs/design.md. */
#ifndef NDEBUG
__thread int weft__locks_held;
#endif

static inline int switch_out(weft_task_t *t)
{
#ifndef NDEBUG
    if (weft__locks_held) {
        char lb[32];
        fprintf(stderr, "weft: task %s switches away holding %d lock(s)\n", weft__task_label(t, lb),
                weft__locks_held);
        abort();
    }
#endif
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

/* What every park records before the task switches out, but its timer. */
static inline void park_record(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
                               void (*unpark)(weft_task_t *))
{
    t->b->wait_kind = kind;
    t->b->wait_obj = obj;
    t->b->unpark = unpark;
    weft__set_tstate(t, WEFT_TASK_WAITING);
}

/* What every park records, its timer (for `until` or the deadline) too. */
static inline void park_prepare(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
                                void (*unpark)(weft_task_t *), int64_t until)
{
    int64_t dl = t->b->nocancel ? WEFT_FOREVER : t->b->deadline;
    int64_t when = until < dl ? until : dl;
    if (when != WEFT_FOREVER) {
        t->b->timer_status = until < dl ? 0 : -ETIMEDOUT;
        weft__timer_arm(t->loop, &t->b->timer, when);
    }
    park_record(t, kind, obj, unpark);
}

/* The park needs a timer: `until` or the task's deadline will end it. */
static inline bool park_timed(const weft_task_t *t, int64_t until)
{
    int64_t dl = t->b->nocancel ? WEFT_FOREVER : t->b->deadline;
    return (until < dl ? until : dl) != WEFT_FOREVER;
}

/* A park with a timer to arm, or weft__park's with a lock to let go and
 * take back (park_slow's `back`): out of line, so that the plain one (a
 * hand-over between two tasks of one worker) and weft__park_out's, which
 * lets its lock go for good, need no frame before their switch. `out`:
 * weft__park_out's with a timer (the lock stays let go). */
static __attribute__((noinline)) int park_slow(weft_task_t *t, const weft__wait_kind_t *kind,
                                               const void *obj, void (*unpark)(weft_task_t *),
                                               int64_t until, weft__lk_t *lk, bool out)
{
    park_prepare(t, kind, obj, unpark, until);
    __atomic_store_n(&t->woken, 0, __ATOMIC_RELAXED);
    if (!lk)
        return switch_out(t); /* a tail call: see "No ret after a switch" */
    /* back: the guard is retaken when the task runs again. Also one that
     * took nothing while this thread's locks are off for now: they may be
     * on by then (spin.h), and the rest of the call runs under them. */
    bool back = !out && (lk->taken || weft__self.nolock == WEFT__LOCKS_OFF_FOR_NOW);
    weft__lk_drop(lk);
    if (!back)
        return switch_out(t);
    int rc = switch_out(t);
    weft__lk_retake(lk);
    return rc;
}

/* The one body of weft__park and weft__park_out, inlined into each so
 * that the plain park stays a frame-free tail call into the switch. */
static inline __attribute__((always_inline)) int park_fast(weft_task_t *t,
                                                           const weft__wait_kind_t *kind,
                                                           const void *obj,
                                                           void (*unpark)(weft_task_t *),
                                                           int64_t until, weft__lk_t *lk, bool out)
{
    if (WEFT_UNLIKELY(park_timed(t, until) ||
                      (!out && lk &&
                       (lk->taken || weft__self.nolock == WEFT__LOCKS_OFF_FOR_NOW))))
        return park_slow(t, kind, obj, unpark, until, lk, out);
    park_record(t, kind, obj, unpark);
    /* From here the park may be claimed (`woken` is 1 whenever the task
     * is not parked, so a stale reference to it wakes nothing). A waker
     * on another worker sees this store through the object's lock. */
    __atomic_store_n(&t->woken, 0, __ATOMIC_RELAXED);
    /* weft__park_out lets a taken lock go here, after the records a
     * waker reads under it, and does not take it back: no frame either */
#ifndef NDEBUG
    if (lk)
        weft__lk_drop(lk); /* also one that took nothing: uncounted (spin.h) */
#else
    if (out && lk)
        weft__lk_drop(lk);
#endif
    return switch_out(t); /* a tail call: see "No ret after a switch" */
}

int weft__park(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
               void (*unpark)(weft_task_t *), int64_t until, weft__lk_t *lk)
{
    return park_fast(t, kind, obj, unpark, until, lk, false);
}

int weft__park_out(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
                   void (*unpark)(weft_task_t *), int64_t until, weft__lk_t *lk)
{
    return park_fast(t, kind, obj, unpark, until, lk, true);
}

void weft__park_open(weft_task_t *t, const weft__wait_kind_t *kind, const void *obj,
                     void (*unpark)(weft_task_t *), int64_t until)
{
    park_prepare(t, kind, obj, unpark, until);
    __atomic_store_n(&t->woken, 0, __ATOMIC_RELAXED);
}

int weft__park_opened(weft_task_t *t)
{
    return switch_out(t);
}

static inline void make_ready_now(weft_task_t *t)
{
    weft__set_tstate(t, WEFT_TASK_READY);
    weft__runq_push(&t->loop->ready, &t->q);
}

/* A task whose park had a timer: the timer goes first. Out of line, so
 * that a wake with none (a hand-over between two tasks) needs no frame. */
static __attribute__((noinline)) void make_ready_timed(weft_task_t *t)
{
    weft__timer_disarm(t->loop, &t->b->timer);
    make_ready_now(t);
}

static inline void make_ready(weft_task_t *t)
{
    if (WEFT_UNLIKELY(t->b->timer.idx != WEFT__NO_INDEX))
        make_ready_timed(t);
    else
        make_ready_now(t);
}

void weft__ready(weft_task_t *t)
{
    make_ready(t);
}

/* A wake for another worker's task, out of line: the wake of a task
 * here then needs no frame. */
static __attribute__((noinline)) void post_wake(weft_task_t *t)
{
    weft__post_wake(t);
}

/* A running step of L woke t: t takes the locality slot (loop.h) and
 * runs when that step ends; the slot's previous occupant goes to the
 * tail of the ready queue. Out of line, as post_wake. */
static __attribute__((noinline)) void make_next(weft__loop_t *L, weft_task_t *t)
{
    weft__timer_disarm(L, &t->b->timer);
    weft__set_tstate(t, WEFT_TASK_READY);
    weft_task_t *old = L->next;
    L->next = t;
    if (old)
        weft__runq_push(&L->ready, &old->q);
}

/* The caller claimed t's park and unlinked it: no unpark is due. A task
 * of another worker is made ready there, through its loop's inbox; one
 * of this loop placed anywhere and woken by a step it runs takes the
 * slot (a task placed on a worker keeps the queue's order). */
void weft__deliver(weft_task_t *t, int status)
{
    t->b->unpark = NULL;
    t->b->wake_status = status;
    weft__loop_t *L = weft__self.loop;
    if (WEFT_LIKELY(t->loop == L)) {
        if (WEFT_UNLIKELY(L->stepping && t->anywhere))
            make_next(L, t);
        else
            make_ready(t);
    } else {
        post_wake(t);
    }
}

void weft__wake(weft_task_t *t, int status)
{
    if (weft__claim(t))
        weft__deliver(t, status);
}


/* Cancellation or a timer reaches a waiting task, on its own loop. The
 * task stays on what it waits on until it is about to run again
 * (weft__task_run calls its unpark then): the caller may hold any
 * object's lock, that one's included. */
static void interrupt(weft_task_t *t, int status)
{
    if (weft__tstate(t) != WEFT_TASK_WAITING || !weft__claim_any(t))
        return;
    t->b->wake_status = status;
    make_ready(t);
}

void weft__interrupt_cancel(weft_task_t *t)
{
    /* an atomic read: a cancellation posted here may land after another
     * worker stole t (unstarted) and runs it */
    if (weft__tstate(t) == WEFT_TASK_WAITING && !t->b->nocancel)
        interrupt(t, -ECANCELED);
}

/* ---- sleeping and yielding ---- */

static const weft__wait_kind_t wait_eager = {.name = "an eager spawn"};

void weft__step_aside(weft_task_t *t)
{
    weft__set_tstate(t, WEFT_TASK_READY);
    t->b->wait_kind = &wait_eager;
    t->b->wake_status = 0;
    (void)switch_out(t);
}

int weft_yield(void)
{
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(t);
    if (rc)
        return rc;
    weft__set_tstate(t, WEFT_TASK_READY);
    t->b->wait_kind = &weft__wait_yield;
    t->b->wake_status = 0;
    weft__runq_push(&t->loop->ready, &t->q);
    return switch_out(t);
}

/* The cooperative budget (loop.h): the slow path, outlined. */
static int coop_yield(bool report)
{
    weft_task_t *t = weft__task();
    if (!t || t->b->nocancel) {
        weft__self.budget = WEFT__BUDGET;
        return 0;
    }
    /* the budget stays spent while the task is away (the locality slot
     * reads what a step left, run_next); weft__task_run refills it */
    weft__set_tstate(t, WEFT_TASK_READY);
    t->b->wait_kind = &weft__wait_yield;
    t->b->wake_status = 0;
    weft__runq_push(&t->loop->ready, &t->q);
    /* a task that used its whole budget held the loop a while: the next
     * turn polls (phase 3) if the loop watches fds, rather than 16 such
     * steps later. Not when only signals are watched: a computing loop
     * with weft_run's SIGINT armed would pay a system call per budget
     * (queue at one worker: 7,752 epoll_pwait2 per million items, about
     * 8 ns an item); the 1,024-turn rule serves a Ctrl-C well enough. */
    if (t->loop->since_poll < 15)
        t->loop->since_poll = 15;
    switch_out(t);
    return report ? weft__wait_check(t) : 0;
}

__attribute__((noinline, cold)) int weft__coop_yield(void)
{
    return coop_yield(true);
}

__attribute__((noinline, cold)) void weft__coop_turn(void)
{
    coop_yield(false);
}

int weft_sleep_until(int64_t when)
{
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(t);
    if (rc)
        return rc;
    if (when <= weft_now())
        return weft_yield();
    return weft__park(t, &weft__wait_sleep, NULL, NULL, when, NULL);
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
        return -WEFT_ENOLOOP;
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

/* Pushes the chain first..last (last->next is set here) onto L's inbox
 * and wakes L if it may be blocked. */
static void post_chain(weft__loop_t *L, weft__post_t *first, weft__post_t *last)
{
    weft__post_t *old = atomic_load_explicit(&L->inbox, memory_order_relaxed);
    do
        last->next = old;
    while (!atomic_compare_exchange_weak_explicit(&L->inbox, &old, first, memory_order_seq_cst,
                                                  memory_order_relaxed));
#ifdef WEFT_STATS
    if (weft__self.loop)
        WEFT__STAT(weft__self.loop, post_out);
#endif
    /* Only a loop that may be blocked needs the eventfd, and only once:
     * the poster that clears `parked` writes it. The loop sets `parked`
     * and then looks at its inbox again before it blocks (both seq_cst),
     * so a record is either seen there or signalled. */
    if (atomic_load_explicit(&L->parked, memory_order_seq_cst) &&
        atomic_exchange_explicit(&L->parked, 0, memory_order_seq_cst)) {
#ifdef WEFT_STATS
        atomic_fetch_add(&L->st.notified, 1);
#endif
        weft__backend_notify(L->be);
    }
}

void weft__loop_post(weft__loop_t *L, weft__post_t *p)
{
    post_chain(L, p, p);
}

void weft__loop_post_batched(weft__loop_t *T, weft__post_t *p)
{
    weft__loop_t *L = weft__self.loop;
    if (!L || !L->batching || !L->outbox || T->rt != L->rt) {
        post_chain(T, p, p);
        return;
    }
    struct weft__outbox *o = &L->outbox[T->index];
    p->next = o->head; /* newest first, as the inbox keeps them */
    o->head = p;
    if (!o->tail) {
        o->tail = p;
        L->outgoing[L->nout++] = T->index;
    }
}

/* Sends what a batch gathered for other loops. */
static void flush_outbox(weft__loop_t *L)
{
    for (int i = 0; i < L->nout; i++) {
        struct weft__outbox *o = &L->outbox[L->outgoing[i]];
        post_chain(L->rt->loops[L->outgoing[i]], o->head, o->tail);
        o->head = o->tail = NULL;
    }
    L->nout = 0;
}

void weft__batch_begin(void)
{
    weft__loop_t *L = weft__self.loop;
    if (L)
        L->batching++;
}

void weft__batch_end(void)
{
    weft__loop_t *L = weft__self.loop;
    if (L && --L->batching == 0 && L->nout)
        flush_outbox(L);
}

void weft__loop_drain(weft__loop_t *L)
{
    weft__post_t *p = atomic_exchange_explicit(&L->inbox, NULL, memory_order_acquire);
    if (WEFT_UNLIKELY(!L->active) && p)
        weft__activate(L); /* a worker's first work: worker.c */
    weft__post_t *fifo = NULL;
    while (p) {
        weft__post_t *next = p->next;
        p->next = fifo;
        fifo = p;
        p = next;
    }
    while (fifo) {
        weft__post_t *next = fifo->next;
        weft__countu(&L->posts);
        fifo->fn(L, fifo);
        fifo = next;
    }
}

/* ---- hooks ---- */

void weft__loop_add_hook(weft__loop_t *L, weft__hook_t *h)
{
    h->next = L->hooks;
    L->hooks = h;
}

static void run_hooks(weft__loop_t *L)
{
    for (weft__hook_t *h = L->hooks; h; h = h->next)
        if (h->before_poll)
            h->before_poll(L, h);
}

bool weft__loop_busy(const weft__loop_t *L)
{
    return L->ready.n || atomic_load_explicit(&L->inbox, memory_order_relaxed) ||
           (L->rt->n > 1 && atomic_load_explicit(&L->anyq_n, memory_order_relaxed));
}

void weft__loop_poll_now(weft__loop_t *L)
{
    weft__backend_poll(L->be, 0);
    L->since_poll = 0;
}

/* ---- the turn ---- */

/* With several workers, a loop that ran out of work and has lately been
 * handed work by others looks at its inbox (and at others' unstarted
 * tasks) for up to IDLE_SPIN_NS before it blocks: a post that comes
 * meanwhile costs its sender no wake-up system call and this loop no
 * sleep and wake-up (docs/design.md "Every core" has the measured
 * trade-off, and a longer spin that was tried). A loop nobody posted to
 * since it last blocked does not spin, so idle workers and I/O-bound
 * ones cost no CPU. */
#define IDLE_SPIN_NS WEFT_USEC(20)

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* True when work came during the spin. */
static bool idle_spin(weft__loop_t *L, int64_t timeout_ns)
{
    unsigned long posts = atomic_load_explicit(&L->posts, memory_order_relaxed);
    if (posts == L->posts_seen || timeout_ns == 0)
        return false;
    L->posts_seen = posts;
    WEFT__STAT(L, spins);
    int64_t end = weft_now() + (timeout_ns > 0 && timeout_ns < IDLE_SPIN_NS ? timeout_ns
                                                                              : IDLE_SPIN_NS);
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&L->inbox, memory_order_acquire) || weft__stealable(L)) {
            WEFT__STAT(L, spin_hits);
            return true;
        }
        if ((i & 63) == 63 && weft_now() >= end)
            return false;
        cpu_pause();
    }
}

/* Blocks in the backend for up to timeout_ns, unless a post or (with
 * several workers) a task to steal is there already. */
static void park_poll(weft__loop_t *L, int64_t timeout_ns)
{
    weft__rt_t *rt = L->rt;
    bool multi = rt->n > 1;
    if (multi) {
        flush_outbox(L);
        if (idle_spin(L, timeout_ns)) {
            /* nothing wrote the eventfd (`parked` stayed clear): the poll
             * is only for fds, and a loop that watches none skips it */
            if (weft__loop_watching(L))
                weft__backend_poll(L->be, 0);
            return;
        }
    }
    /* a quiet loop gives memory back before it blocks, or wakes when
     * that is due (trim.c) */
    int64_t trim_in = L->trim_quiet_ns > 0 ? weft__trim_idle(L) : -1;
    atomic_store_explicit(&L->parked, 1, memory_order_seq_cst);
    if (multi)
        atomic_fetch_add_explicit(&rt->nparked, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&L->inbox, memory_order_seq_cst) ||
        (multi && weft__stealable(L)))
        timeout_ns = 0;
    if (multi && timeout_ns != 0) {
        /* a small run elsewhere becomes stealable when its grace ends */
        int64_t sw = weft__steal_wait(L);
        if (sw >= 0 && (timeout_ns < 0 || timeout_ns > sw))
            timeout_ns = sw;
    }
    /* timer_spin_ns: the last stretch before a timer is polled, not slept
     * (a wake-up from a blocked wait comes late; docs/design.md "Timer
     * precision") */
    weft__timer_t *tm;
    if (L->timer_spin_ns > 0 && timeout_ns > 0 && (tm = weft__heap_top(&L->timers))) {
        int64_t due = tm->when - weft_now();
        timeout_ns = due <= L->timer_spin_ns ? 0 : due - L->timer_spin_ns;
    }
    if (trim_in >= 0 && (timeout_ns < 0 || timeout_ns > trim_in))
        timeout_ns = trim_in;
    if (timeout_ns != 0)
        WEFT__STAT(L, parks);
    weft__backend_poll(L->be, timeout_ns);
    if (multi)
        atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_relaxed);
    atomic_store_explicit(&L->parked, 0, memory_order_relaxed);
}

/* Phase 2, several workers: unstarted tasks any worker may run; one a
 * turn from our own share, so a loop busy with ready tasks still gets
 * through them, and a steal when that share is empty (worker.c says
 * when a busy loop steals). Looking for a victim reads every worker's
 * queue length, so a loop with ready tasks and no share of its own looks
 * only every STEAL_LOOK turns (as Go's scheduler looks at its global
 * queue every 61 ticks; a busy thief then takes its share of a long
 * queue a few turns later), and one with nothing ready every turn: a
 * busy turn costs a countdown, not a load per worker. Only this loop's
 * thread fills its own share (weft__place, a steal's rest), and it sets
 * take_in to 1 then. A young small run of our own is started back to
 * back instead, each task's first step right after the one before, so
 * that a group spawned together is under way here before a thief may
 * take part of it (worker.c, "A small run stays together"); at most one
 * run's worth a turn: a first step that spawns again starts a new run,
 * which waits for the next turn. */
#define STEAL_LOOK 16

static void take_unstarted(weft__loop_t *L)
{
    if (L->several && (L->ready.n == 0 || --L->take_in == 0)) {
        weft_task_t *t = weft__take_small(L);
        if (!t)
            weft__take_any(L);
        for (int k = 1; t; k++) {
            weft__task_start(L, t);
            t = k < WEFT__SMALL_RUN ? weft__take_small(L) : NULL;
        }
        L->take_in = atomic_load_explicit(&L->anyq_n, memory_order_relaxed) ? 1 : STEAL_LOOK;
    }
}

/* One worker of several with nothing at all to do waits until another
 * hands it work (and, closing, looks every 20 ms for tasks stuck for
 * good; worker 0 looks every 50 ms whether every worker is stuck). */
static void wait_for_work(weft__loop_t *L)
{
    atomic_store_explicit(&L->idle, 1, memory_order_seq_cst);
    park_poll(L, atomic_load_explicit(&L->rt->closing, memory_order_relaxed) ? WEFT_MSEC(20)
                 : L->index == 0                                              ? WEFT_MSEC(50)
                                                                              : -1);
    atomic_store_explicit(&L->idle, 0, memory_order_relaxed);
    L->since_poll = 0;
    if (atomic_load_explicit(&L->inbox, memory_order_relaxed))
        weft__loop_drain(L);
}

/* Phase 3. Returns false when the loop has nothing to run, no timer, no
 * watched fd and no post to come (it waited for other workers' work
 * instead, if there are any). */
static bool poll_phase(weft__loop_t *L)
{
    if (L->ready.n == 0) {
        int64_t timeout = -1;
        weft__timer_t *tm = weft__heap_top(&L->timers);
        if (tm) {
            int64_t now = weft_now();
            timeout = tm->when > now ? tm->when - now : 0;
        } else if (!weft__loop_watching(L) && L->inflight == 0 &&
                   !atomic_load_explicit(&L->inbox, memory_order_relaxed)) {
            if (L->rt->n > 1)
                wait_for_work(L);
            return false;
        }
        /* a timer already due runs before the loop polls again */
        if (timeout != 0 || ++L->since_poll >= 16) {
            if (timeout != 0)
                park_poll(L, timeout);
            else
                weft__backend_poll(L->be, 0);
            L->since_poll = 0;
        }
    } else if ((weft__loop_watching(L) || L->sig_active) &&
               ++L->since_poll >= (weft__loop_watching(L) ? 16u : 1024u)) {
        /* ready work never starves I/O: a non-blocking poll every 16 turns
         * (every 1024 when only signals are watched: a Ctrl-C can wait a
         * little, a yield loop should not pay a system call per 16 turns) */
        weft__backend_poll(L->be, 0);
        L->since_poll = 0;
    }
    return true;
}

/* Phase 5. What is due runs at the head of the ready queue, ahead of the
 * tasks that were merely ready: a timer is a promise about *when*, so a
 * task whose deadline came waits for no more than the step running now
 * (a 1 kHz control loop beside a busy task), while a ready task waits at
 * most one more step. */
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

/* Runs what the step that just ended handed to the locality slot, and
 * what those steps hand on: at once, so a ping-pong pair or a pipeline's
 * stages hand over while their data is in this core's cache. The chain
 * shares one cooperative budget: each step counts what it spent of its
 * own (a step starts whole, weft__task_run; one that yielded for a spent
 * budget left it spent) plus one for the hand-off, and once the chain
 * has spent WEFT__BUDGET the slot's task goes to the tail of the ready
 * queue instead, so two tasks handing over to each other cannot keep
 * the others, the timers and the poll waiting. */
static void run_next(weft__loop_t *L)
{
    int left = WEFT__BUDGET;
    weft_task_t *t;
    while ((t = L->next)) {
        L->next = NULL;
        left -= WEFT__BUDGET - weft__self.budget + 1;
        if (left <= 0) {
            weft__runq_push(&L->ready, &t->q);
            return;
        }
        WEFT__STAT(L, runnext);
        weft__task_resume(L, t);
    }
}

/* Whether run_ready opens the locality slot: only in a runtime of
 * several workers that spreads. With one worker, or several that keep
 * each task where it was spawned, a woken task goes to the back of the
 * queue, in asyncio's order. */
static inline bool slot_open(const weft__loop_t *L)
{
    return L->several && atomic_load_explicit(&L->rt->spread, memory_order_relaxed);
}

/* Phase 6: what is ready now, not what becomes ready meanwhile (and
 * what those steps hand to the slot). */
static inline void run_head(weft__loop_t *L)
{
    weft__qnode_t *q = weft__runq_pop(&L->ready);
    WEFT__STAT(L, runs);
    if (q->kind == WEFT__Q_TASK)
        weft__task_resume(L, WEFT_CONTAINER_OF(q, weft_task_t, q));
    else
        run_handle(WEFT_CONTAINER_OF(q, weft_handle_t, q));
}

/* Two loops rather than a test of the slot per step: the one-worker
 * turn pays nothing for it. */
static void run_ready(weft__loop_t *L)
{
    size_t n = L->ready.n;
    if (WEFT_UNLIKELY(slot_open(L))) {
        L->stepping = true;
        for (; n > 0; n--) {
            run_head(L);
            if (L->next)
                run_next(L);
        }
        L->stepping = false;
        return;
    }
    for (; n > 0; n--)
        run_head(L);
}

bool weft__loop_turn(weft__loop_t *L)
{
    WEFT__STAT(L, turns);
    WEFT__STAT_FIRST(L, first_turn);
    if (L->hooks)
        run_hooks(L);
    take_unstarted(L);
    if (!poll_phase(L))
        return false;
    if (atomic_load_explicit(&L->inbox, memory_order_relaxed))
        weft__loop_drain(L);
    if (L->timers.n)
        fire_timers(L);
    run_ready(L);
    return true;
}

/* ---- opening and closing ---- */

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
    int rc = weft__backend_open(&L->be);
    if (rc < 0) {
        free(L);
        *err = rc;
        return NULL;
    }
    L->rt = rt;
    L->index = index;
    L->active = index == 0;
    L->several = rt->n > 1;
    L->take_in = 1;
    L->thr = thr;
    L->pool_max = cfg && cfg->pool_threads > 0 ? cfg->pool_threads : 16;
    L->pool_nice = cfg ? cfg->pool_nice : 0;
    L->stack_size = cfg ? cfg->stack_size : 0;
    L->copy_stack = weft__stack_mode_default(cfg) > 0;
    const char *dbg = getenv("WEFT_DEBUG");
    L->debug = (cfg && cfg->debug) || (dbg && *dbg && *dbg != '0');
    L->slow_step_ns = cfg && cfg->slow_step_ns > 0 ? cfg->slow_step_ns : WEFT_MSEC(100);
    L->timer_spin_ns = cfg && cfg->timer_spin_ns > 0 ? cfg->timer_spin_ns : 0;
    weft__trim_setup(L, cfg);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    L->spare_cpu = rt->n < ncpu;
    if (rt->n > 1) {
        L->outbox = calloc((size_t)rt->n, sizeof *L->outbox);
        L->outgoing = calloc((size_t)rt->n, sizeof *L->outgoing);
        if (!L->outbox || !L->outgoing) {
            free(L->outbox);
            free(L->outgoing);
            weft__backend_close(L->be);
            weft__backend_free(L->be);
            free(L);
            *err = -ENOMEM;
            return NULL;
        }
    }
    thr->loop = L;
    weft__stack_guard_thread();
#ifdef WEFT_STATS
    L->st.born = weft_now();
#endif
    return L;
}

void weft__loop_close(weft__loop_t *L)
{
    L->closing = true;
    if (L->nout)
        flush_outbox(L);
    /* hooks first: what they hold (a stream's held writes) may still go */
    while (L->hooks) {
        weft__hook_t *h = L->hooks;
        L->hooks = h->next;
        if (h->before_poll)
            h->before_poll(L, h);
        if (h->close)
            h->close(L, h);
    }
    weft__loop_drain(L);
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
    weft__backend_close(L->be);
    if (L->thr == &weft__self && L->thr->slab_defer)
        weft__slab_defer_end(); /* no trim will come: the 64 MiB mark again */
    L->thr->slab_defer = false;
    L->thr->loop = NULL;
}

void weft__loop_free(weft__loop_t *L)
{
#ifdef WEFT_STATS
    const struct weft__stats *st = &L->st;
    /* instants in microseconds after worker 0's loop opened (-1: never) */
    int64_t t0 = L->rt->loops[0] ? L->rt->loops[0]->st.born : st->born;
    int64_t kick = atomic_load(&st->first_kick);
#define WEFT__US(x) ((x) ? ((x) - t0) / 1000 : -1)
    fprintf(stderr,
            "weft stats w%d: turns %lu runs %lu started %lu steals %lu stolen %lu wake_out %lu "
            "post_out %lu posts_in %lu notified %lu parks %lu spins %lu spin_hits %lu runnext %lu "
            "us: open %lld turn %lld kick %lld start %lld\n",
            L->index, st->turns, st->runs, st->started, st->steals, st->stolen, st->wake_out,
            st->post_out, (unsigned long)L->posts, (unsigned long)st->notified, st->parks,
            st->spins, st->spin_hits, st->runnext, (long long)WEFT__US(st->born),
            (long long)WEFT__US(st->first_turn), (long long)WEFT__US(kick),
            (long long)WEFT__US(st->first_start));
#undef WEFT__US
#endif
    weft__backend_free(L->be);
    free(L->outbox);
    free(L->outgoing);
    free(L);
}
