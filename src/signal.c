/* signal.c - signals as ordinary events of the loop (signalfd).
 *
 * Owns: the loop thread's signalfd, the set of signals it reads, the
 * handlers, the tasks waiting for signals, and signals that arrived with
 * nobody to take them.
 *
 * A signal weft watches is blocked in the loop's thread and read from the
 * signalfd when the backend reports it readable; handlers then run as
 * callbacks (weft_call_soon), never inside a signal handler. Threads weft
 * starts itself (the pool, workers 1..n-1) block every signal, so the
 * kernel delivers a process-directed signal to the thread of worker 0
 * (weft_run's): the only one whose mask weft leaves open.
 *
 * Every core: one state per runtime, on worker 0's loop (L->sig), whose
 * thread is the one that must block a watched signal and whose poller
 * watches the signalfd. A task of another worker waits on the same list
 * (woken across workers); a signal it asks for that worker 0 does not
 * block yet is handed to worker 0 to block (a posted record), and the
 * caller's thread waits until that is done, so that once the call waits
 * the signal can no longer reach its default action. The state's lock is
 * its io record's (io.mu): the backend's events already run under it. A
 * handler runs on the loop that set it.
 *
 * weft_run's default for the stop signals (SIGINT, SIGTERM: what Ctrl-C
 * and service managers send): while main runs, each of them still at its
 * default disposition is watched, and one that no handler and no waiting
 * task takes cancels main (reason WEFT_CANCEL_SIGNAL); the second such
 * arrival (of either) restores that signal's default and raises it, so a
 * program that does not stop dies as it would have without weft. The
 * default stays armed until the loop closes, past main's return: a first
 * stop signal that arrives while main (or the rest) unwinds, also one the
 * kernel still holds when the loop closes, is read and counted as the
 * first, never left to kill the process when the mask is restored.
 *
 * Invariants: `watched` only grows while the runtime runs, changed on
 * worker 0's thread only (`watched_bits` mirrors it for the others; once a task has
 * waited for a signal, it stays blocked and queued for later waiters: a
 * gap between two waits must not let the default action kill the
 * process); the thread's mask is restored when the loop closes. A waiting
 * task's record is its own waiter, with the signals it wants as a 64-bit
 * mask in `aux` (Linux numbers signals 1..64). `pending` holds signals
 * that arrived while no handler and no waiter wanted them; the next wait
 * for one of them takes it at once. While a wait reads what the signalfd
 * holds before it parks, the signals it asks for are `claimed`: one found
 * then goes to `pending` for that wait, not to main's default.
 */
#include "io.h"
#include "signals.h"
#include "worker.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static const weft__wait_kind_t wait_kind = {.name = "a signal"};

typedef struct weft__sig {
    int fd;
    weft__io_t io;
    sigset_t watched;
    sigset_t old_mask; /* the thread's mask before the loop blocked anything */
    uint64_t pending;
    weft__wlist_t waiters;
    _Atomic uint64_t watched_bits; /* `watched` as bits, for other threads */
    struct {
        weft_callback_fn fn;
        void *arg;
        weft__loop_t *loop; /* the loop that set it, where it runs */
    } handler[65];
    weft_task_t *main;  /* cancelled by an armed stop signal */
    uint64_t armed;     /* the stop signals main's default applies to */
    uint64_t claimed;   /* signals a wait is reading for itself, before it parks */
    int stop_count;     /* armed stop signals seen while main runs */
    bool closing;       /* the loop closes: only the stop default applies */
} weft__sig_t;

/* Worker 0's loop: the home of the runtime's signal state. */
static weft__loop_t *home_of(weft__loop_t *L)
{
    return L->rt->loops[0];
}

static inline uint64_t bit(int signo)
{
    return (uint64_t)1 << (signo - 1);
}

static bool catchable(int signo)
{
    return signo > 0 && signo <= 64 && signo != SIGKILL && signo != SIGSTOP;
}

static void on_readable(weft__io_t *io);

/* The runtime's state, made on first use; on worker 0's thread. */
static weft__sig_t *state(void)
{
    weft__loop_t *L = weft__loop();
    if (!L)
        return NULL;
    weft__sig_t *cur = atomic_load_explicit(&L->sig, memory_order_relaxed);
    if (cur)
        return cur;
    weft__sig_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    sigemptyset(&s->watched);
    s->fd = signalfd(-1, &s->watched, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->fd < 0 || weft__io_open(&s->io, s->fd) < 0) {
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return NULL;
    }
    s->io.on_readable = on_readable;
    pthread_sigmask(SIG_SETMASK, NULL, &s->old_mask);
    L->sig_active = true;
    atomic_store_explicit(&L->sig, s, memory_order_release);
    return s;
}

/* Adds signo to what the signalfd reads and blocks it in this thread. */
static int watch(weft__sig_t *s, int signo)
{
    if (sigismember(&s->watched, signo))
        return 0;
    sigaddset(&s->watched, signo);
    if (signalfd(s->fd, &s->watched, 0) < 0) {
        int e = errno;
        sigdelset(&s->watched, signo);
        return -e;
    }
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    atomic_fetch_or_explicit(&s->watched_bits, bit(signo), memory_order_release);
    return 0;
}

/* On worker 0's thread: the state, with every signal of `want` watched.
 * 0, -ENOMEM or what signalfd said. */
static int watch_here(uint64_t want, weft__sig_t **out)
{
    weft__sig_t *s = state();
    if (!s)
        return -ENOMEM;
    for (int i = 1; i <= 64; i++) {
        int rc;
        if ((want & bit(i)) && (rc = watch(s, i)) != 0)
            return rc;
    }
    *out = s;
    return 0;
}

/* A request from another worker's thread for worker 0 to watch `want`.
 * It lives on the asking thread's stack, which waits until `done`. */
typedef struct {
    weft__post_t post;
    uint64_t want;
    int rc;
    _Atomic int done;
} watch_req_t;

static void watch_posted(weft__loop_t *L, weft__post_t *p)
{
    (void)L;
    watch_req_t *r = WEFT_CONTAINER_OF(p, watch_req_t, post);
    weft__sig_t *s;
    r->rc = watch_here(r->want, &s);
    atomic_store_explicit(&r->done, 1, memory_order_release);
}

/* From any worker's thread: the runtime's state, with every signal of
 * `want` blocked in worker 0's thread and read from its signalfd. From
 * another worker this is a request to worker 0, and the calling thread
 * waits for it (without switching tasks: the request is on its stack)
 * unless worker 0 watches all of them already. */
static int watched(weft__loop_t *L, uint64_t want, weft__sig_t **out)
{
    weft__loop_t *H = home_of(L);
    if (L == H)
        return watch_here(want, out);
    weft__sig_t *s = atomic_load_explicit(&H->sig, memory_order_acquire);
    if (!s || (atomic_load_explicit(&s->watched_bits, memory_order_acquire) & want) != want) {
        watch_req_t r = {.post.fn = watch_posted, .want = want};
        atomic_init(&r.done, 0);
        weft__loop_post(H, &r.post);
        while (!atomic_load_explicit(&r.done, memory_order_acquire))
            sched_yield();
        if (r.rc)
            return r.rc;
        s = atomic_load_explicit(&H->sig, memory_order_acquire);
    }
    *out = s;
    return 0;
}

/* A task waiting for a signal counts at worker 0's loop, whose poller
 * must keep watching the signalfd (as io.c counts a waiter of an fd). */
static void count_waiter(weft__sig_t *s, int d)
{
    if (s->io.loop == weft__loop())
        s->io.loop->nwatch += d;
    else
        atomic_fetch_add_explicit(&s->io.loop->nwatch_away, d, memory_order_relaxed);
}

static void deliver(weft__sig_t *s, int signo)
{
    if (s->closing) {
        /* read on the way out: no callback runs any more, no task waits */
        if (!(s->armed & bit(signo)))
            return;
    } else if (s->handler[signo].fn) {
        weft__loop_t *HL = s->handler[signo].loop;
        if (HL == weft__loop())
            weft_call_soon(NULL, s->handler[signo].fn, s->handler[signo].arg);
        else
            weft_call_soon_threadsafe((weft_runtime_t *)HL->rt, HL->index, s->handler[signo].fn,
                                      s->handler[signo].arg);
        return;
    }
    /* a task that asked for the signal takes it before weft_run's default */
    for (weft__waiter_t *w = s->waiters.head; w; w = w->next) {
        if ((w->aux & bit(signo)) && weft__claim(w->task)) {
            weft__wlist_remove(w);
            weft__deliver(w->task, signo);
            return;
        }
    }
    if (!(s->claimed & bit(signo)) && (s->armed & bit(signo))) {
        if (++s->stop_count == 1) {
            /* the first cancels main (a no-op once it has returned: the
             * program is stopping anyway) */
            if (s->main)
                weft__cancel_why(s->main, WEFT_CANCEL_SIGNAL, NULL);
        } else {
            /* a second Ctrl-C or SIGTERM: the program did not stop; let
             * it die of this signal */
            signal(signo, SIG_DFL);
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, signo);
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
            raise(signo);
        }
        return;
    }
    s->pending |= bit(signo);
}

/* Reads what the signalfd holds and delivers it; s's lock held (any
 * worker's thread: a process-directed signal can be read from any
 * thread). */
static void drain(weft__sig_t *s)
{
    struct signalfd_siginfo si[16];
    for (;;) {
        ssize_t n = read(s->fd, si, sizeof si);
        if (n <= 0)
            break;
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++)
            if (catchable((int)si[i].ssi_signo))
                deliver(s, (int)si[i].ssi_signo);
    }
    weft__io_clear(&s->io, WEFT__EV_IN);
}

/* The backend's readable edge, on worker 0's thread, io's lock held. */
static void on_readable(weft__io_t *io)
{
    drain(WEFT_CONTAINER_OF(io, weft__sig_t, io));
}

static void unpark_waiter(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
}

int weft_signal_wait(const int *signals, size_t n, int *signo)
{
    if (!signals || n == 0)
        return -EINVAL;
    uint64_t want = 0;
    for (size_t i = 0; i < n; i++) {
        if (!catchable(signals[i]))
            return -EINVAL;
        want |= bit(signals[i]);
    }
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(t);
    if (rc)
        return rc;
    weft__sig_t *s;
    if ((rc = watched(t->loop, want, &s)) != 0)
        return rc;
    WEFT__LOCK(&s->io.mu);
    if ((rc = weft__wait_check(t)) != 0)
        return rc;
    /* one may be queued already, by the kernel or by us: what the
     * kernel holds of ours is ours, not main's default */
    s->claimed = want;
    drain(s);
    s->claimed = 0;
    if (s->pending & want) {
        int got = __builtin_ctzll(s->pending & want) + 1;
        s->pending &= ~bit(got);
        if (signo)
            *signo = got;
        return 0;
    }
    t->b->waiter.task = t;
    t->b->waiter.aux = (uintptr_t)want;
    weft__wlist_push(&s->waiters, &t->b->waiter);
    count_waiter(s, 1);
    rc = weft__park(t, &wait_kind, "signal", unpark_waiter, WEFT_FOREVER, &weft__lk);
    count_waiter(s, -1);
    if (rc < 0)
        return rc;
    if (signo)
        *signo = rc;
    return 0;
}

int weft_signal_handle(int signo, weft_callback_fn fn, void *arg)
{
    if (!catchable(signo))
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft__sig_t *s = atomic_load_explicit(&home_of(L)->sig, memory_order_acquire);
    if (fn) {
        int rc = watched(L, bit(signo), &s);
        if (rc)
            return rc;
    } else if (!s) {
        return 0; /* no handler to remove */
    }
    WEFT__LOCK(&s->io.mu);
    s->handler[signo].fn = fn;
    s->handler[signo].arg = arg;
    s->handler[signo].loop = L;
    return 0;
}

int weft_signal_wait_stop(int *signo)
{
    static const int stop[] = {SIGINT, SIGTERM};
    return weft_signal_wait(stop, 2, signo);
}

int weft__signal_arm_stop(weft_task_t *main)
{
    static const int stop[] = {SIGINT, SIGTERM};
    weft__sig_t *s = NULL;
    for (size_t i = 0; i < 2; i++) {
        struct sigaction sa;
        if (sigaction(stop[i], NULL, &sa) < 0 || sa.sa_handler != SIG_DFL ||
            (sa.sa_flags & SA_SIGINFO))
            continue; /* the program handles it itself (or ignores it) */
        if (!s && !(s = state()))
            return -ENOMEM;
        int rc = watch(s, stop[i]);
        if (rc)
            return rc;
        WEFT__LOCK(&s->io.mu);
        s->armed |= bit(stop[i]);
        s->main = main;
    }
    return 0;
}

void weft__signal_disarm_stop(void)
{
    /* main has returned: it is no longer there to cancel, but the stop
     * signals stay armed until the loop closes, so that one arriving
     * while the rest unwinds still counts as the first, not a kill */
    weft__loop_t *L = weft__loop();
    weft__sig_t *s = L ? atomic_load_explicit(&L->sig, memory_order_relaxed) : NULL;
    if (s) {
        WEFT__LOCK(&s->io.mu);
        s->main = NULL;
    }
}

void weft__signal_close(void)
{
    /* on worker 0's thread, the other workers stopped: nobody else
     * touches the state any more */
    weft__loop_t *L = weft__loop();
    weft__sig_t *s = L ? atomic_load_explicit(&L->sig, memory_order_relaxed) : NULL;
    if (!s)
        return;
    /* what the kernel already holds for us is read first, with weft_run's
     * default still armed: a first stop signal that came while main
     * unwound must not kill the program on its way out */
    if (s->armed) {
        s->main = NULL;
        s->closing = true;
        drain(s);
    }
    atomic_store_explicit(&L->sig, NULL, memory_order_relaxed);
    weft__io_close_here(&s->io);
    close(s->fd);
    /* a signal that arrives from here on (weft_run is returning) meets
     * the program's own disposition */
    pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
    free(s);
}
