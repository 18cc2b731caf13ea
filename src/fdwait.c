/* fdwait.c - waiting on fds weft does not own: weft_fd_wait, weft_fd_forget.
 *
 * Owns: each loop's table of foreign fds (fd -> record), kept in the
 * backend (weft__backend_t.fdtab), and the link between such an fd and
 * the tasks waiting to read or write it.
 *
 * Unlike weft's own sockets (io.c: edge-triggered, registered once,
 * readiness cached), a foreign fd is read and written by a library weft
 * cannot see, so nothing about its readiness is cached: each wait asks
 * the kernel. The fd is watched level-triggered and one-shot: an event
 * disarms it in the kernel, and the next wait re-arms it with one modify
 * (the first wait on an fd pays a watch instead). So a wait costs one
 * system call, and the loop never spins on a ready fd
 * nobody waits for. A wait that ends without an event (timeout,
 * cancellation) leaves its interest armed rather than pay a system call
 * to disarm it: at worst the fd fires once later with nobody waiting,
 * which disarms it, and the handler re-arms whatever is still wanted.
 * `armed` mirrors what the kernel has armed, so a wait for a direction
 * already armed costs no system call at all.
 *
 * A record's memory outlives its wait: the kernel may still hold a
 * registration of an fd closed before weft_fd_forget (a copy of it made
 * by dup or fork keeps it alive) and report it later. Such a record
 * stays in the table, for the next wait on that fd number, until the
 * loop closes; one the kernel confirmed it forgot is freed at once.
 *
 * Invariants: a record's reader and writer are set only while those
 * tasks are parked here, and cleared by whoever wakes them (an event,
 * weft_fd_forget, or the loop through unpark_fd); each set slot counts
 * once in the loop's nwatch. Records are freed by weft_fd_forget and
 * when the loop closes, never while a task waits on them.
 */
#include "io.h"
#include "worker.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

typedef struct weft__fdrec {
    weft__bio_t bio; /* the fd and fd_event */
    uint32_t armed;  /* WEFT__EV_IN / OUT armed in the kernel now */
    bool registered;
    weft_task_t *reader, *writer; /* parked tasks; may be one task */
} weft__fdrec_t;

struct weft__fdtab {
    weft__hook_t hook; /* frees the table when the loop closes */
    weft__loop_t *loop;
    weft__fdrec_t **v; /* indexed by fd */
    int cap;
};

static weft__fdrec_t *lookup(weft__loop_t *L, int fd)
{
    struct weft__fdtab *tab = L->fdtab;
    return tab && fd < tab->cap ? tab->v[fd] : NULL;
}

static void fd_event(weft__bio_t *b, uint32_t events);
static void table_close(weft__loop_t *L, weft__hook_t *h);

static int get_record(weft__loop_t *L, int fd, weft__fdrec_t **out)
{
    struct weft__fdtab *tab = L->fdtab;
    if (!tab) {
        tab = calloc(1, sizeof *tab);
        if (!tab)
            return -ENOMEM;
        tab->loop = L;
        tab->hook.close = table_close;
        weft__loop_add_hook(L, &tab->hook);
        L->fdtab = tab;
    }
    if (fd >= tab->cap) {
        int cap = tab->cap ? tab->cap : 64;
        while (cap <= fd)
            cap = cap > INT32_MAX / 2 ? fd + 1 : cap * 2;
        weft__fdrec_t **v = realloc(tab->v, (size_t)cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        memset(v + tab->cap, 0, (size_t)(cap - tab->cap) * sizeof *v);
        tab->v = v;
        tab->cap = cap;
    }
    weft__fdrec_t *r = tab->v[fd];
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return -ENOMEM;
        r->bio.fd = fd;
        r->bio.cb = fd_event;
        tab->v[fd] = r;
    }
    *out = r;
    return 0;
}

static void drop_record(weft__loop_t *L, weft__fdrec_t *r)
{
    L->fdtab->v[r->bio.fd] = NULL;
    free(r);
}

/* Arms the kernel for what the waiters want, if it is not armed already. */
static int rearm(weft__loop_t *L, weft__fdrec_t *r)
{
    uint32_t want = (r->reader ? WEFT__EV_IN : 0) | (r->writer ? WEFT__EV_OUT : 0);
    if (!(want & ~r->armed))
        return 0;
    int rc;
    if (r->registered) {
        rc = weft__backend_modify(L->be, &r->bio, want, WEFT__BIO_ONESHOT);
        if (rc == -ENOENT) {
            /* closed and reopened without weft_fd_forget: start afresh */
            r->registered = false;
            rc = weft__backend_watch(L->be, &r->bio, want, WEFT__BIO_ONESHOT);
        }
    } else {
        rc = weft__backend_watch(L->be, &r->bio, want, WEFT__BIO_ONESHOT);
    }
    if (rc < 0) /* -EEXIST: the fd is watched by weft itself (a stream's) */
        return rc == -EEXIST ? -EBUSY : rc;
    r->registered = true;
    r->armed = want;
    return 0;
}

/* Wakes whoever waits on r in the directions of `mask` with `status`
 * (> 0: ask each waiter's own events & status). A waiter being
 * interrupted stays in its slot: its unpark clears it. */
static void wake_waiters(weft__loop_t *L, weft__fdrec_t *r, int mask, int status)
{
    weft_task_t *rd = r->reader, *wr = r->writer;
    if (rd && rd == wr) {
        int got = status > 0 ? status & (int)rd->b->waiter.aux : status;
        if (got && weft__claim(rd)) {
            r->reader = r->writer = NULL;
            L->nwatch -= 2;
            weft__deliver(rd, got);
        }
        return;
    }
    if (rd && (mask & WEFT_READABLE) && weft__claim(rd)) {
        r->reader = NULL;
        L->nwatch--;
        weft__deliver(rd, status > 0 ? WEFT_READABLE : status);
    }
    if (wr && (mask & WEFT_WRITABLE) && weft__claim(wr)) {
        r->writer = NULL;
        L->nwatch--;
        weft__deliver(wr, status > 0 ? WEFT_WRITABLE : status);
    }
}

/* r goes away: a waiter still in a slot is being interrupted; its unpark
 * must find nothing to clear. */
static void detach_waiters(weft__loop_t *L, weft__fdrec_t *r)
{
    weft_task_t *ts[2] = {r->reader, r->writer};
    for (int i = 0; i < 2; i++) {
        if (ts[i]) {
            ts[i]->b->waiter.slot = NULL;
            L->nwatch--;
        }
    }
    r->reader = r->writer = NULL;
}

/* The backend reports events for a foreign fd (a stale registration's
 * too: its waiters, if any, find the fd not ready and wait again). */
static void fd_event(weft__bio_t *b, uint32_t events)
{
    weft__fdrec_t *r = WEFT_CONTAINER_OF(b, weft__fdrec_t, bio);
    weft__loop_t *L = weft__loop();
    r->armed = 0; /* one-shot: the kernel disarmed the fd */
    int ready = 0;
    if (events & (WEFT__EV_IN | WEFT__EV_RDHUP | WEFT__EV_HUP | WEFT__EV_ERR))
        ready |= WEFT_READABLE;
    if (events & (WEFT__EV_OUT | WEFT__EV_HUP | WEFT__EV_ERR))
        ready |= WEFT_WRITABLE;
    wake_waiters(L, r, ready, ready);
    if (r->reader || r->writer) {
        /* the other direction still waits; if re-arming fails, that
         * waiter gets the error rather than hang */
        int rc = rearm(L, r);
        if (rc < 0)
            wake_waiters(L, r, WEFT_READABLE | WEFT_WRITABLE, rc);
    }
}

/* Cancellation, a deadline or the timeout end a wait: unlink the task.
 * Its interest stays armed (see the header comment). */
static void unpark_fd(weft_task_t *t)
{
    weft__fdrec_t *r = t->b->waiter.slot;
    weft__loop_t *L = t->loop;
    if (!r)
        return; /* forgotten meanwhile */
    if (r->reader == t) {
        r->reader = NULL;
        L->nwatch--;
    }
    if (r->writer == t) {
        r->writer = NULL;
        L->nwatch--;
    }
}

/* timeout 0: a look without waiting. */
static int poll_now(int fd, int events)
{
    struct pollfd p = {.fd = fd,
                       .events = (short)(((events & WEFT_READABLE) ? POLLIN : 0) |
                                         ((events & WEFT_WRITABLE) ? POLLOUT : 0))};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ETIMEDOUT;
    if (p.revents & POLLNVAL)
        return -EBADF;
    int ready = 0;
    if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLRDHUP))
        ready |= WEFT_READABLE;
    if (p.revents & (POLLOUT | POLLHUP | POLLERR))
        ready |= WEFT_WRITABLE;
    ready &= events;
    return ready ? ready : -ETIMEDOUT;
}

int weft_fd_wait(int fd, int events, int64_t timeout_ns)
{
    if (fd < 0 || events <= 0 || (events & ~(WEFT_READABLE | WEFT_WRITABLE)))
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    WEFT__COOP();
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    if (timeout_ns <= 0) /* expired already: a look, never a wait */
        return poll_now(fd, events);
    weft__loop_t *L = self->loop;
    weft__fdrec_t *r;
    rc = get_record(L, fd, &r);
    if (rc < 0)
        return rc;
    if (((events & WEFT_READABLE) && r->reader) || ((events & WEFT_WRITABLE) && r->writer))
        return -EBUSY;
    if (events & WEFT_READABLE)
        r->reader = self;
    if (events & WEFT_WRITABLE)
        r->writer = self;
    rc = rearm(L, r);
    if (rc < 0) {
        if (r->reader == self)
            r->reader = NULL;
        if (r->writer == self)
            r->writer = NULL;
        if (!r->registered && !r->reader && !r->writer)
            drop_record(L, r); /* never known to the kernel: keep no garbage */
        return rc;
    }
    L->nwatch += ((events & WEFT_READABLE) != 0) + ((events & WEFT_WRITABLE) != 0);
    self->b->waiter.slot = r;
    self->b->waiter.aux = (uintptr_t)events;
    int64_t until = weft__timeout_until(weft_now(), timeout_ns);
    rc = weft__park(self, &weft__wait_fd, (const void *)(intptr_t)fd, unpark_fd, until, NULL);
    return rc == 0 ? -ETIMEDOUT : rc; /* 0: our own timeout fired */
}

/* Forgets fd on L (L's thread). */
static void forget_on(weft__loop_t *L, int fd)
{
    weft__fdrec_t *r = lookup(L, fd);
    if (!r)
        return;
    wake_waiters(L, r, WEFT_READABLE | WEFT_WRITABLE, -EBADF);
    detach_waiters(L, r);
    if (r->registered && weft__backend_forget(L->be, &r->bio) < 0) {
        /* closed before it was forgotten: the kernel may still report it */
        r->registered = false;
        r->armed = 0;
        return;
    }
    drop_record(L, r);
}

/* A forget bound for another worker's table. */
typedef struct {
    weft__post_t post;
    int fd;
} forget_rec_t;

static void forget_post(weft__loop_t *L, weft__post_t *p)
{
    forget_rec_t *f = (forget_rec_t *)p;
    if (!L->closing)
        forget_on(L, f->fd);
    free(f);
}

int weft_fd_forget(int fd)
{
    if (fd < 0)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    forget_on(L, fd);
    /* the other workers' tasks may wait on fd through their own epoll
     * sets: each forgets it when it next turns */
    int rc = 0;
    for (int i = 0; i < L->rt->n; i++) {
        weft__loop_t *W = L->rt->loops[i];
        if (W == L)
            continue;
        forget_rec_t *f = malloc(sizeof *f);
        if (!f) {
            rc = -ENOMEM;
            continue;
        }
        f->fd = fd;
        f->post.fn = forget_post;
        weft__loop_post(W, &f->post);
    }
    return rc;
}

static void table_close(weft__loop_t *L, weft__hook_t *h)
{
    struct weft__fdtab *tab = WEFT_CONTAINER_OF(h, struct weft__fdtab, hook);
    for (int i = 0; i < tab->cap; i++)
        free(tab->v[i]);
    free(tab->v);
    free(tab);
    L->fdtab = NULL;
}
