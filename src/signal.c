/* signal.c - signals as ordinary events of the loop (signalfd).
 *
 * Owns: the loop thread's signalfd, the set of signals it reads, the
 * handlers, the tasks waiting for signals, and signals that arrived with
 * nobody to take them.
 *
 * A signal weft watches is blocked in the loop's thread and read from the
 * signalfd when the backend reports it readable; handlers then run as
 * callbacks (weft_call_soon), never inside a signal handler. Threads weft
 * starts itself (the pool) block every signal, so the kernel delivers a
 * process-directed signal to the loop's thread.
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
 * Invariants: `watched` only grows while the loop runs (once a task has
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
    struct {
        weft_callback_fn fn;
        void *arg;
    } handler[65];
    weft_task_t *main;  /* cancelled by an armed stop signal */
    uint64_t armed;     /* the stop signals main's default applies to */
    uint64_t claimed;   /* signals a wait is reading for itself, before it parks */
    int stop_count;     /* armed stop signals seen while main runs */
    bool closing;       /* the loop closes: only the stop default applies */
} weft__sig_t;

/* One loop per thread, so the loop's signal state is thread-local. */
static __thread weft__sig_t *sig_state;

static inline uint64_t bit(int signo)
{
    return (uint64_t)1 << (signo - 1);
}

static bool catchable(int signo)
{
    return signo > 0 && signo <= 64 && signo != SIGKILL && signo != SIGSTOP;
}

static void on_readable(weft__io_t *io);

/* Creates the state of this thread's loop on first use. */
static weft__sig_t *state(void)
{
    if (sig_state)
        return sig_state;
    if (!weft__loop())
        return NULL;
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
    weft__loop()->sig_active = true;
    sig_state = s;
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
    return 0;
}

static void deliver(weft__sig_t *s, int signo)
{
    if (s->closing) {
        /* read on the way out: no callback runs any more, no task waits */
        if (!(s->armed & bit(signo)))
            return;
    } else if (s->handler[signo].fn) {
        weft_call_soon(NULL, s->handler[signo].fn, s->handler[signo].arg);
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

static void on_readable(weft__io_t *io)
{
    weft__sig_t *s = WEFT_CONTAINER_OF(io, weft__sig_t, io);
    struct signalfd_siginfo si[16];
    for (;;) {
        ssize_t n = read(s->fd, si, sizeof si);
        if (n <= 0)
            break;
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++)
            if (catchable((int)si[i].ssi_signo))
                deliver(s, (int)si[i].ssi_signo);
    }
    weft__io_clear(io, WEFT__EV_IN);
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
    weft__sig_t *s = state();
    if (!s)
        return -ENOMEM;
    for (int i = 1; i <= 64; i++) {
        if ((want & bit(i)) && (rc = watch(s, i)) != 0)
            return rc;
    }
    /* one may be queued already, by the kernel or by us: what the
     * kernel holds of ours is ours, not main's default */
    s->claimed = want;
    on_readable(&s->io);
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
    t->loop->nwatch++;
    rc = weft__park(t, &wait_kind, "signal", unpark_waiter, WEFT_FOREVER, NULL);
    t->loop->nwatch--;
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
    if (!weft__loop())
        return -WEFT_ENOLOOP;
    weft__sig_t *s = state();
    if (!s)
        return -ENOMEM;
    if (fn) {
        int rc = watch(s, signo);
        if (rc)
            return rc;
    }
    s->handler[signo].fn = fn;
    s->handler[signo].arg = arg;
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
    if (sig_state)
        sig_state->main = NULL;
}

void weft__signal_close(void)
{
    weft__sig_t *s = sig_state;
    if (!s)
        return;
    /* what the kernel already holds for us is read first, with weft_run's
     * default still armed: a first stop signal that came while main
     * unwound must not kill the program on its way out */
    if (s->armed) {
        s->main = NULL;
        s->closing = true;
        on_readable(&s->io);
    }
    sig_state = NULL;
    weft__io_close_here(&s->io);
    close(s->fd);
    /* a signal that arrives from here on (weft_run is returning) meets
     * the program's own disposition */
    pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
    free(s);
}
