/* worker.c - several loops on several cores: one runtime, N workers.
 *
 * Owns: the spin lock's slow path, where new tasks go (here, a named worker, or
 * "anywhere"), stealing unstarted tasks, wake-ups and cancellations that
 * cross workers, and the deadlock check across workers. The threads and
 * the runtime's life are runtime.c's.
 *
 * Each worker is an ordinary loop (loop.c) on its own thread: its ready
 * queue, timers, backend and inbox are its own. What crosses workers
 * goes through the target's inbox (one record embedded in the task for a
 * wake or a placement, one for a cancellation), so the target's thread
 * is the only one that ever touches its queues, timers and fds. Objects
 * that coordinate tasks (locks, queues, futures, task completion...)
 * each guard themselves with a spin lock (spin.h), taken only once a
 * second worker may run something (below, "locks from the second worker
 * on"); each worker's queue of unstarted tasks has one.
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
#include "backend.h"
#include "worker.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the lock of every coordinating object ---- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Spins while the holder finishes its few dozen instructions; yields the
 * CPU after a hundred looks, in case the holder's thread was preempted. */
void weft__spin_wait(weft__spin_t *l)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&l->v, memory_order_relaxed) &&
            !atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
            return;
        if (spins < 100)
            cpu_relax();
        else
            sched_yield();
    }
}

/* ---- locks from the second worker on ----
 *
 * Worker 0 of a runtime of several starts with its locks off
 * (WEFT__LOCKS_OFF_FOR_NOW, spin.h): while no other worker has run
 * anything, nobody can meet it inside an object. It turns them on at a
 * point where it holds no guard: synchronously when a task spawns a task
 * that may run elsewhere (weft__task_new), or at its next turn when asked
 * (a group's child placed under the group's lock, a callback posted to
 * another worker by a plain thread): the record is drained between
 * steps. It then sets rt->locking with a release store; another worker
 * runs nothing, takes no lock and steals nothing before it has read that
 * flag set (weft__activate), so whatever worker 0 did unlocked happens
 * before anything it does, and everything worker 0 does after takes the
 * locks. A task of worker 0 parked inside a guard that took nothing
 * takes it back when it runs again (loop.c, park_slow). The waits use
 * post_mu and state_cv, which ThreadSanitizer understands. */

void weft__rt_lock_here(weft__rt_t *rt)
{
    if (weft__self.nolock != WEFT__LOCKS_OFF_FOR_NOW)
        return;
#ifndef NDEBUG
    if (weft__locks_held) {
        fprintf(stderr, "weft: worker 0 turns its locks on inside %d guard(s)\n", weft__locks_held);
        abort();
    }
#endif
    weft__self.nolock = WEFT__LOCKS_ON;
    pthread_mutex_lock(&rt->post_mu);
    atomic_store_explicit(&rt->locking, true, memory_order_release);
    pthread_cond_broadcast(&rt->state_cv);
    pthread_mutex_unlock(&rt->post_mu);
}

void weft__rt_lock_spawn(const weft_task_opts_t *opts)
{
    weft__loop_t *L = weft__loop();
    if (!L || L->rt->n == 1)
        return;
    int place = weft__place_of(L, opts);
    if (place == WEFT_PLACE_ANY || (place == WEFT_PLACE_WORKER && opts->worker != L->index))
        weft__rt_lock_here(L->rt);
}

static void lock_post_fn(weft__loop_t *L, weft__post_t *p)
{
    (void)p;
    weft__rt_lock_here(L->rt);
}

void weft__rt_ask_lock(weft__rt_t *rt)
{
    if (atomic_load_explicit(&rt->locking, memory_order_relaxed) ||
        atomic_exchange_explicit(&rt->lock_asked, true, memory_order_relaxed))
        return;
    rt->lock_post.fn = lock_post_fn;
    weft__loop_post(rt->loops[0], &rt->lock_post);
}

#define ACTIVATE_SPIN_NS WEFT_USEC(100)

void weft__activate(weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    if (!atomic_load_explicit(&rt->locking, memory_order_acquire)) {
        weft__rt_ask_lock(rt);
        /* worker 0 usually answers within a step or a turn: spin first,
         * so that its answer wakes no thread (a wake-up may take its CPU
         * from under it on a machine with few cores), then sleep */
        int64_t end = weft_now() + ACTIVATE_SPIN_NS;
        for (unsigned i = 1; !atomic_load_explicit(&rt->locking, memory_order_acquire); i++) {
            if (i % 64 == 0 && weft_now() >= end)
                break;
            cpu_relax();
        }
        pthread_mutex_lock(&rt->post_mu);
        while (!atomic_load_explicit(&rt->locking, memory_order_acquire))
            pthread_cond_wait(&rt->state_cv, &rt->post_mu);
        pthread_mutex_unlock(&rt->post_mu);
    }
    L->active = true;
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
#ifdef WEFT_STATS
    if (weft__self.loop)
        WEFT__STAT(weft__self.loop, wake_out);
#endif
    weft__loop_post_batched(t->loop, &t->wake_post);
}

/* A cancellation on its way to another worker: rare, so a record of its
 * own rather than one more in every task. */
typedef struct {
    weft__post_t post;
    weft_task_t *t;
} cancel_rec_t;

static void cancel_post_fn(weft__loop_t *L, weft__post_t *p)
{
    cancel_rec_t *c = (cancel_rec_t *)p;
    weft_task_t *t = c->t;
    free(c);
    __atomic_store_n(&t->cancel_posted, 0, __ATOMIC_RELEASE);
    /* stolen meanwhile, t may have started on its new loop before the
     * request was visible there: the record follows it */
    if (!weft__cancel_local(L, t) && weft__tstate(t) != WEFT_TASK_DONE)
        weft__cancel_remote(t);
    weft__task_unref(t);
}

bool weft__cancel_local(weft__loop_t *L, weft_task_t *t)
{
    /* An unstarted task in L's queue may be stolen at any moment: the
     * thief rewrites its loop under anyq_mu and may start it at once, so
     * the check and the read of its state happen under that lock. A task
     * that is L's and waiting has started, and a started task never moves:
     * interrupting it after the lock is dropped is safe. An unstarted one
     * reads cancel_req when it starts, wherever that is. */
    bool waiting;
    {
        WEFT__LOCK(&L->anyq_mu);
        if (__atomic_load_n(&t->loop, __ATOMIC_RELAXED) != L)
            return false;
        waiting = weft__tstate(t) == WEFT_TASK_WAITING;
    }
    if (waiting)
        weft__interrupt_cancel(t);
    return true;
}

void weft__cancel_remote(weft_task_t *t)
{
    if (__atomic_exchange_n(&t->cancel_posted, 1, __ATOMIC_ACQ_REL))
        return; /* the record on its way reads cancel_req when it lands */
    cancel_rec_t *c = malloc(sizeof *c);
    if (!c) {
        /* the request stands (cancel_req): the task sees it at its next
         * wake-up or suspending call, only its current wait goes on */
        __atomic_store_n(&t->cancel_posted, 0, __ATOMIC_RELEASE);
        return;
    }
    weft__task_ref(t);
    c->t = t;
    c->post.fn = cancel_post_fn;
    weft__loop_post(__atomic_load_n(&t->loop, __ATOMIC_RELAXED), &c->post);
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
#ifdef WEFT_STATS
            atomic_fetch_add(&W->st.notified, 1);
            int64_t z = 0;
            atomic_compare_exchange_strong(&W->st.first_kick, &z, weft_now());
#endif
            weft__backend_notify(W->be);
            return;
        }
    }
}

void weft__rt_wake_all(weft__rt_t *rt)
{
    for (int i = 0; i < rt->n; i++) {
        weft__loop_t *W = rt->loops[i];
        if (W && atomic_exchange_explicit(&W->parked, 0, memory_order_seq_cst))
            weft__backend_notify(W->be);
    }
}

/* Unstarted tasks in a worker's queue that make a spawn wake an idle
 * worker (weft__place). */
#define KICK_AT 2

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
        if (WEFT_UNLIKELY(weft__self.nolock == WEFT__LOCKS_OFF_FOR_NOW))
            weft__rt_ask_lock(rt); /* the caller may hold a guard */
        /* atomic: a cancellation posted to the loop a held group child
         * was made on reads t->loop (cancel_post_fn) while the child is
         * placed here */
        weft__loop_t *W = rt->loops[worker];
        __atomic_store_n(&t->loop, W, __ATOMIC_RELAXED);
        t->wake_post.fn = spawn_post_fn;
        weft__loop_post(W, &t->wake_post);
        return 0;
    }
    if (WEFT_UNLIKELY(weft__self.nolock == WEFT__LOCKS_OFF_FOR_NOW))
        weft__rt_ask_lock(rt); /* as above: another worker may steal it */
    size_t n;
    {
        t->anywhere = 1; /* no order among such tasks: the slot may take it */
        WEFT__LOCK(&L->anyq_mu);
        __atomic_store_n(&t->loop, L, __ATOMIC_RELAXED); /* as above */
        if (!L->anyq.n) {
            L->anyq_run = 0; /* a new run of spawns */
            atomic_store_explicit(&L->anyq_t0, weft_now(), memory_order_relaxed);
        }
        L->anyq_run++;
        weft__runq_push(&L->anyq, &t->q);
        n = L->anyq.n;
        atomic_store_explicit(&L->anyq_n, n, memory_order_seq_cst);
    }
    L->take_in = 1; /* its next turn starts one (loop.c, take_unstarted) */
    /* One more than this worker starts on its next turn: an idle worker
     * is woken to steal, once as the queue reaches KICK_AT (the thief
     * wakes the next if it leaves some, weft__take_any), not per spawn,
     * and not for a lone spawn this worker will start itself. */
    if (n == KICK_AT)
        weft__kick_idle(rt);
    return 0;
}

/* A small run stays together. A run of at most SMALL_RUN unstarted
 * tasks is its owner's for RUN_GRACE_NS after its first spawn: the owner
 * starts them back to back (weft__take_small, loop.c's phase 2), one
 * first step after another, and thieves leave it alone meanwhile. Tasks
 * spawned together in small numbers are usually a group that talks
 * through one object (producers and consumers of one channel, the
 * stages of a pipeline): split between workers, every item would cross
 * cores (the channel's line bouncing, a wake-up per batch). A task whose
 * first step runs long (computation) leaves the rest of its run in the
 * queue, and once the grace is over a thief takes them as usual: an
 * idle worker waits at most RUN_GRACE_NS for them (weft__steal_wait),
 * so two computations spawned together still run on two workers, the
 * second up to RUN_GRACE_NS late. Bursts larger than SMALL_RUN are
 * split as before (pairs stay whole, chains are cut). */
#define SMALL_RUN WEFT__SMALL_RUN
#define RUN_GRACE_NS WEFT_USEC(100)

/* How long V's run stays its own (ns from now), 0 when V's queue may be
 * stolen from (or is empty). now: 0 until read (*now is read lazily, as
 * most queues are empty or large). */
static int64_t run_grace(const weft__loop_t *V, size_t n, int64_t *now)
{
    if (n == 0 || n > SMALL_RUN)
        return 0;
    int64_t t0 = atomic_load_explicit(&V->anyq_t0, memory_order_relaxed);
    if (t0 == 0)
        return 0;
    if (!*now)
        *now = weft_now();
    int64_t left = t0 + RUN_GRACE_NS - *now;
    return left > 0 ? left : 0;
}

bool weft__stealable(const weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    int64_t now = 0;
    for (int i = 0; i < rt->n; i++) {
        if (i == L->index)
            continue;
        weft__loop_t *V = rt->loops[i];
        size_t n = atomic_load_explicit(&V->anyq_n, memory_order_seq_cst);
        if (n > 0 && run_grace(V, n, &now) == 0)
            return true;
    }
    return false;
}

int64_t weft__steal_wait(const weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    int64_t now = 0, wait = -1;
    for (int i = 0; i < rt->n; i++) {
        if (i == L->index)
            continue;
        weft__loop_t *V = rt->loops[i];
        int64_t g = run_grace(V, atomic_load_explicit(&V->anyq_n, memory_order_relaxed), &now);
        if (g > 0 && (wait < 0 || g < wait))
            wait = g;
    }
    return wait;
}

weft_task_t *weft__take_small(weft__loop_t *L)
{
    size_t n = atomic_load_explicit(&L->anyq_n, memory_order_relaxed);
    int64_t now = 0;
    if (run_grace(L, n, &now) == 0)
        return NULL;
    WEFT__LOCK(&L->anyq_mu);
    weft__qnode_t *q = weft__runq_pop(&L->anyq);
    atomic_store_explicit(&L->anyq_n, L->anyq.n, memory_order_relaxed);
    return q ? WEFT_CONTAINER_OF(q, weft_task_t, q) : NULL;
}

/* Stealing. A thief takes a contiguous run of the victim's unstarted
 * tasks from the old end: about half, so two workers end up with about
 * as many tasks each, and since a started task never moves, that first
 * share is what balances them. Tasks are spawned in runs that belong
 * together (a ping and its pong, a producer and its consumer), so the
 * run taken has an even length and starts at an even place in the
 * victim's run of spawns (anyq_run: pushes since the queue was last
 * empty): when the victim itself has just started the head's partner,
 * the head stays with it and the run starts one further. Pairs spawned
 * one after the other therefore stay together, while a chain of stages
 * spawned in order is cut in two.
 *
 * A worker with nothing to run steals from any queue. One busy with its
 * own tasks steals only from a queue of STEAL_BUSY_MIN or more that
 * also holds more than half as many tasks as it has ready (tasks that
 * talk are about half ready at a time): a thief that came while its
 * victim was still spawning then takes its share of what came later too
 * (stealing only when idle left the victim with three quarters of 2,000
 * pairs, the thief being busy with its first ones for good), while two
 * workers that are about as busy leave each other alone. At most
 * STEAL_MAX a time: the victim's lock is held while they move. */
#define STEAL_MAX 1024
#define STEAL_BUSY_MIN 16

static size_t steal_count(size_t n)
{
    if (n <= 3)
        return n < 2 ? n : 2;
    size_t k = n / 2;
    if (k > STEAL_MAX)
        k = STEAL_MAX;
    return k & ~(size_t)1;
}

/* Moves a run of V's unstarted tasks (steal_count, aligned as above)
 * onto got, now L's. True if V has some left. */
static bool steal_from(weft__loop_t *L, weft__loop_t *V, weft__runq_t *got)
{
    WEFT__LOCK(&V->anyq_mu);
    size_t n = V->anyq.n;
    size_t skip = n >= 2 && ((V->anyq_run - n) & 1);
    weft__qnode_t **from = skip ? &V->anyq.head->next : &V->anyq.head;
    for (size_t k = steal_count(n - skip); k > 0; k--) {
        weft__qnode_t *s = *from;
        *from = s->next;
        if (V->anyq.tail == &s->next)
            V->anyq.tail = from;
        V->anyq.n--;
        __atomic_store_n(&WEFT_CONTAINER_OF(s, weft_task_t, q)->loop, L, __ATOMIC_RELAXED);
        weft__runq_push(got, s);
    }
    atomic_store_explicit(&V->anyq_n, V->anyq.n, memory_order_relaxed);
    WEFT__STAT(L, steals);
    WEFT__STAT_ADD(L, stolen, got->n);
    return V->anyq.n > 0;
}

bool weft__take_any(weft__loop_t *L)
{
    weft__rt_t *rt = L->rt;
    weft__qnode_t *q = NULL;
    if (atomic_load_explicit(&L->anyq_n, memory_order_relaxed)) {
        WEFT__LOCK(&L->anyq_mu);
        q = weft__runq_pop(&L->anyq);
        atomic_store_explicit(&L->anyq_n, L->anyq.n, memory_order_relaxed);
    }
    bool more = false;
    if (!q) {
        /* steal from the largest share */
        weft__loop_t *V = NULL;
        size_t best = 0;
        int64_t now = 0;
        if (L->ready.n)
            best = L->ready.n / 2 < STEAL_BUSY_MIN ? STEAL_BUSY_MIN - 1 : L->ready.n / 2;
        for (int i = 0; i < rt->n; i++) {
            weft__loop_t *W = rt->loops[i];
            size_t n = atomic_load_explicit(&W->anyq_n, memory_order_relaxed);
            if (W != L && n > best && run_grace(W, n, &now) == 0) {
                best = n;
                V = W;
            }
        }
        if (!V)
            return false;
        if (WEFT_UNLIKELY(!L->active))
            weft__activate(L); /* its first work */
        weft__runq_t got;
        weft__runq_init(&got);
        more = steal_from(L, V, &got);
        q = weft__runq_pop(&got);
        if (!q)
            return false;
        if (got.n) {
            /* our queue was empty: what is left of the run follows q,
             * which started here, so its head is at an odd place */
            WEFT__LOCK(&L->anyq_mu);
            if (!L->anyq.n) {
                L->anyq_run = 1;
                /* the rest of another's run: no grace here */
                atomic_store_explicit(&L->anyq_t0, 0, memory_order_relaxed);
            }
            *L->anyq.tail = got.head;
            L->anyq.tail = got.tail;
            L->anyq.n += got.n;
            L->anyq_run += got.n;
            atomic_store_explicit(&L->anyq_n, L->anyq.n, memory_order_relaxed);
        }
    }
    weft__task_adopt(L, WEFT_CONTAINER_OF(q, weft_task_t, q));
    if (more)
        weft__kick_idle(rt); /* a third worker may take from what is left */
    return true;
}

long weft__rt_live(const weft__rt_t *rt)
{
    long n = 0;
    for (int i = 0; i < rt->n; i++)
        if (rt->loops[i])
            n += atomic_load_explicit(&rt->loops[i]->live, memory_order_acquire);
    return n;
}

unsigned long weft__rt_ended(const weft__rt_t *rt)
{
    unsigned long n = 0;
    for (int i = 0; i < rt->n; i++)
        if (rt->loops[i])
            n += atomic_load_explicit(&rt->loops[i]->ended, memory_order_relaxed);
    return n;
}

static unsigned long rt_posts(const weft__rt_t *rt)
{
    unsigned long n = 0;
    for (int i = 0; i < rt->n; i++)
        n += atomic_load_explicit(&rt->loops[i]->posts, memory_order_relaxed);
    return n;
}

bool weft__rt_stuck(weft__rt_t *rt)
{
    unsigned long act = rt_posts(rt);
    unsigned long done = weft__rt_ended(rt);
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
    for (weft_task_t *t = L->all; t; t = t->all_next)
        weft__cancel_why(t, WEFT_CANCEL_SHUTDOWN, NULL);
    WEFT__LOCK(&L->anyq_mu);
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
