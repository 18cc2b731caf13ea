/* reap.c - the child reaper: waits that learn a child ended, and the
 * collection of its status.
 *
 * Owns: a child's pidfd, its status once reaped, and the choice of how a
 * wait learns of the end. Three ways. (1) A thread that has several
 * children alive waits through an io_uring of its own (the ring, in
 * backend/uring_reap.c): a wait submits one IORING_OP_WAITID for the pid,
 * which the kernel completes by reaping the child; the ring's fd is
 * watched by the loop, and the completion wakes the task. One system call
 * per wait, no fd per child: the pidfd way costs a pidfd_open (the kernel
 * builds a pidfs inode and dentry), an epoll_ctl ADD and DEL and a close
 * per child, which measured about 7% of the throughput of a loop that
 * starts /bin/true 16 at a time (the parent thread is the serial path
 * there). (2) Otherwise a wait first tries waitpid(WNOHANG) (a wait that
 * begins after the child ended costs nothing more), then opens a pidfd,
 * watches it and reaps with one waitpid(WNOHANG) once it fires (the kernel
 * marks the child a zombie before it wakes pidfd pollers). (3) Without
 * pidfds (kernels before 5.3, or Valgrind) a wait polls waitpid on a
 * backing-off sleep.
 *
 * Invariants: `reaped` is set once, by whoever collected the status, and
 * the pid is never signalled after that (it may belong to another process
 * by then). A waitid request is in flight only while a task is parked in
 * weft__reap_wait on c (so c, which holds the siginfo the kernel writes,
 * stays alive: the handle's destroy says -EBUSY then); a cancelled wait
 * cancels its request and drains its completion before it returns. While
 * one is in flight nothing else reaps c (no waitpid on it): the ring does,
 * inside task work that runs when this thread returns from any system
 * call, and posts the completion in the same step, so draining the
 * completion queue (memory reads) tells whether it has happened.
 */
#include "reap.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const weft__wait_kind_t wait_kind = {.name = "a child process"};

static int pidfd_open_(pid_t pid)
{
#if defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Whether pidfds work here (0 not known, 1 yes, 2 no: kernels before
 * 5.3, or Valgrind, which may not know the call). Asked once, on this
 * process's own pid; a failure that says nothing (no fd to spare) leaves
 * it open. */
static _Atomic int pidfd_ok;

static bool pidfd_usable(void)
{
    int v = atomic_load_explicit(&pidfd_ok, memory_order_relaxed);
    if (WEFT_LIKELY(v))
        return v == 1;
    int fd = pidfd_open_(getpid());
    if (fd >= 0) {
        close(fd);
        v = 1;
    } else {
        v = errno == ENOSYS || errno == EPERM || errno == EINVAL ? 2 : 0;
    }
    if (v)
        atomic_store_explicit(&pidfd_ok, v, memory_order_relaxed);
    return v != 2;
}

/* A wait that begins this soon after the spawn returned does not look
 * for an ended child first: no program gets through exec and its dynamic
 * loader that fast, and one that did would make its pidfd readable at
 * once anyway. */
#define FRESH_NS WEFT_USEC(200)

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return -1;
}

static int decode_siginfo(const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED)
        return si->si_status;
    if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
        return -si->si_status;
    return -1;
}

/* The ring completed c's request: records the status if it reaped the
 * child and wakes the parked waiter, if any. */
static void ring_done(weft__ring_wait_t *w, int res)
{
    weft__child_t *c = WEFT_CONTAINER_OF(w, weft__child_t, rw);
    if (res == 0 && !c->reaped) {
        c->code = decode_siginfo(&w->si);
        c->reaped = true;
    } else if (res == -ECHILD && !c->reaped) {
        /* someone else reaped it (a waitpid(-1) elsewhere) */
        c->code = -1;
        c->reaped = true;
    }
    /* -ECANCELED: a wait that was cancelled; any other error reaped
     * nothing, and the ring marked the request failed */
    weft_task_t *t = c->ring_waiter;
    if (t && weft__claim(t)) { /* else being interrupted: its unpark clears it */
        c->ring_waiter = NULL;
        t->loop->nwatch--;
        weft__deliver(t, 0);
    }
}

void weft__reap_start(weft__child_t *c, pid_t pid, weft__loop_t *L)
{
    c->pid = pid;
    c->pidfd = -1;
    c->loop = L;
    c->started = weft_now();
    c->no_pidfd = !pidfd_usable();
    c->rw.done = ring_done;
    if (!c->no_pidfd)
        weft__uring_reap_attach(&c->rw);
}

bool weft__reap_try(weft__child_t *c)
{
    if (c->reaped)
        return true;
    if (c->rw.in_flight) {
        /* the ring reaps it: no waitpid of ours may race with it */
        weft__uring_reap_poll(&c->rw);
        return c->reaped;
    }
    int st;
    pid_t r;
    do
        r = waitpid(c->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == c->pid) {
        c->code = decode_status(st);
        c->reaped = true;
    } else if (r < 0 && errno == ECHILD) {
        /* someone else reaped it (a waitpid(-1) elsewhere in the program) */
        c->code = -1;
        c->reaped = true;
    }
    return c->reaped;
}

bool weft__reap_done(weft__child_t *c)
{
    if (c->rw.in_flight)
        weft__uring_reap_drain(&c->rw); /* the ring may have reaped it at our last system call */
    return c->reaped;
}

static void unpark_ring(weft_task_t *t)
{
    weft__child_t *c = (weft__child_t *)t->b->waiter.slot;
    c->ring_waiter = NULL;
    t->loop->nwatch--;
    weft__uring_reap_cancel(&c->rw);
}

/* Waits through the ring: 0 once reaped, -ECANCELED / -ETIMEDOUT, or 1:
 * the ring cannot take the wait (take the pidfd way). */
static int wait_ring(weft__child_t *c, weft_task_t *self)
{
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    c->waiting++;
    while (!c->reaped) {
        if (!c->rw.in_flight) {
            if (weft__uring_reap_submit(&c->rw, c->pid, self->loop) < 0) {
                rc = 1;
                break;
            }
            if (c->reaped || !c->rw.in_flight)
                continue;
        }
        c->ring_waiter = self;
        self->b->waiter.slot = c;
        self->loop->nwatch++;
        rc = weft__park(self, &wait_kind, c, unpark_ring, WEFT_FOREVER, NULL);
        if (rc)
            break;
    }
    c->waiting--;
    return rc;
}

static int wait_polling(weft__child_t *c);

/* A pidfd record left by a child released on another worker: closed and
 * freed on its home thread. */
static void pidfd_forget(weft__io_t *io)
{
    close(io->bio.fd);
}

static void pidfd_destroy(weft__io_t *io)
{
    free(io);
}

/* Waits for the pidfd to say "exited", then reaps: one waitpid per wait
 * in the usual case. The pidfd is opened by the first wait that finds
 * the child running (a waitpid with WNOHANG first, unless the spawn was
 * a moment ago: a child that has already ended costs nothing more); the
 * child is ours and unreaped then (only weft reaps it), so the pidfd
 * cannot name another process. A child that ends after that
 * has made its pidfd readable, so the wait returns at the next poll. A
 * readiness that finds no status (not expected) is cleared and waited
 * for again. */
static int wait_pidfd(weft__child_t *c)
{
    if (c->pidfd < 0) {
        if (weft_now() - c->started >= FRESH_NS && weft__reap_try(c))
            return 0;
        int fd = pidfd_open_(c->pid);
        if (fd >= 0 && (!(c->pio = malloc(sizeof *c->pio)) || weft__io_open(c->pio, fd) < 0)) {
            free(c->pio);
            c->pio = NULL;
            close(fd);
            fd = -1;
        }
        if (fd < 0) {
            if (weft__reap_try(c))
                return 0;
            c->no_pidfd = true;
            return wait_polling(c);
        }
        c->pidfd = fd;
    }
    int rc = 0;
    c->waiting++;
    for (;;) {
        if (c->pio->ready & WEFT__EV_IN) {
            if (weft__reap_try(c))
                break;
            weft__io_clear(c->pio, WEFT__EV_IN);
            if (weft__reap_try(c)) /* it ended between the two calls */
                break;
        }
        rc = weft__io_wait(c->pio, WEFT__EV_IN, NULL); /* the home worker's waiters only */
        if (rc)
            break;
    }
    c->waiting--;
    return rc;
}

/* Without pidfds: waitpid on a backing-off sleep (0.5 ms doubling to
 * 50 ms). Several tasks may poll the same child. */
static int wait_polling(weft__child_t *c)
{
    int rc = 0;
    int64_t backoff = WEFT_USEC(500);
    c->waiting++;
    while (!weft__reap_try(c)) {
        rc = weft_sleep(backoff);
        if (rc)
            break;
        if (backoff < WEFT_MSEC(50))
            backoff *= 2;
    }
    c->waiting--;
    return rc;
}

int weft__reap_wait(weft__child_t *c)
{
    if (c->reaped)
        return 0;
    weft_task_t *self = weft__task();
    int rc;
    if (!self)
        rc = weft__reap_try(c) ? 0 : -WEFT_ENOTASK;
    else if (c->no_pidfd)
        rc = wait_polling(c);
    else if (c->waiting) /* one pidfd or ring waiter at a time */
        rc = weft__reap_try(c) ? 0 : -EBUSY;
    else if (c->loop != self->loop) /* another worker's child: its pidfd and ring are there */
        rc = wait_polling(c);
    else if (weft__uring_reap_here(&c->rw) && (rc = wait_ring(c, self)) != 1)
        ; /* the ring took it */
    else
        rc = wait_pidfd(c);
    return rc;
}

void weft__reap_release(weft__child_t *c)
{
    if (!c->reaped && !weft__reap_try(c)) {
        /* still running: kill it and reap it now, so no zombie is left;
         * a killed process ends in microseconds */
        kill(c->pid, SIGKILL);
        int st;
        while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
        }
        c->reaped = true;
    }
    if (c->pidfd >= 0) {
        /* the pidfd's record is forgotten (and freed) on its home
         * thread, where the backend may be dispatching an event for it */
        if (c->pio->loop == weft__self.loop) {
            weft__io_close_here(c->pio);
            close(c->pidfd);
            free(c->pio);
        } else {
            c->pio->on_forget = pidfd_forget;
            c->pio->destroy = pidfd_destroy;
            WEFT__LOCK(&c->pio->mu);
            weft__io_shut(c->pio); /* posts the forget; it frees the record */
        }
        c->pio = NULL;
        c->pidfd = -1;
    }
    if (c->rw.thread)
        weft__uring_reap_detach(&c->rw);
}
