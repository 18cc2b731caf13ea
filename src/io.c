/* io.c - readiness waits on weft's own fds (sockets, pipes).
 *
 * Owns: the link between an fd and the tasks waiting to read or write it.
 * weft's own fds are watched once, edge-triggered, for both directions,
 * by the backend of the loop that opened them (the record's home): no
 * re-arming system call per wait. Readiness the backend reported is
 * cached in `ready` until an operation meets EAGAIN and clears it, so a
 * wait on an fd already known ready does not suspend.
 *
 * An owner that reacts to input without a task (signalfd) sets
 * on_readable: each readable edge with no reader waiting runs it.
 * An owner with output queued (a stream) sets want_out and on_writable:
 * each writable edge then runs on_writable, unless a task waits to write
 * (that task is woken instead and sends itself). want_out counts in the
 * home loop's nwatch, so a busy loop still polls and the output drains.
 *
 * Any worker's task may use the record. Its lock (mu) guards it and,
 * for owners that keep state beside it (a stream's buffers), that state
 * too: the owner holds it for each operation and hands it to
 * weft__io_wait, which lets it go while the task is parked; events are
 * handled under it on the home loop's thread. A task of another worker
 * waits through the home loop's poller and is woken across workers (its
 * count is the home loop's nwatch_away). The record is forgotten by the
 * backend, and freed, only on its home thread (weft__io_release), so the
 * backend never meets a freed record in the events it is dispatching.
 *
 * Invariants: at most one reader and one writer wait at a time; a waiter
 * is linked here only while parked, and whoever wakes it clears the link
 * first. "EAGAIN, clear, wait" cannot lose an edge: the lock is held from
 * the operation to the park, and an edge that comes meanwhile is handled
 * after it (or stays pending in the kernel until the next poll).
 */
#include "io.h"

static void describe_fd(FILE *out, const void *obj)
{
    fprintf(out, " on fd %d", (int)(intptr_t)obj);
}

const weft__wait_kind_t weft__wait_fd = {.name = "an fd", .describe = describe_fd};

#define WATCH (WEFT__EV_IN | WEFT__EV_OUT | WEFT__EV_RDHUP)

static void io_event(weft__bio_t *r, uint32_t events);

int weft__io_open(weft__io_t *io, int fd)
{
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    atomic_init(&io->mu.v, 0);
    io->bio.fd = fd;
    io->bio.cb = io_event;
    io->loop = L;
    io->ready = 0;
    io->reader = io->writer = NULL;
    io->on_readable = io->on_writable = NULL;
    io->registered = false;
    io->want_out = false;
    io->users = 0;
    io->closed = io->forgotten = false;
    io->on_forget = NULL;
    io->destroy = NULL;
    int rc = weft__backend_watch(L->be, &io->bio, WATCH, WEFT__BIO_EDGE);
    if (rc < 0)
        return rc;
    io->registered = true;
    return 0;
}

int weft__io_rewatch(weft__io_t *io)
{
    return weft__backend_modify(io->loop->be, &io->bio, WATCH, WEFT__BIO_EDGE);
}

/* A waiter of io counts at its home loop: in nwatch when the count
 * changes on the home thread, in nwatch_away from another thread (a close
 * or an error from another worker wakes a home waiter from there). The
 * loop reads their sum, so a +1 made at home may be undone away. */
static void watch_count(weft__io_t *io, int d)
{
    if (io->loop == weft__self.loop)
        io->loop->nwatch += d;
    else
        atomic_fetch_add_explicit(&io->loop->nwatch_away, d, memory_order_relaxed);
}

/* A waiter being interrupted stays in its slot: its unpark clears it.
 * io's lock is held. */
static void wake_one(weft__io_t *io, weft_task_t **slot, int status)
{
    weft_task_t *t = *slot;
    if (t && weft__claim(t)) {
        *slot = NULL;
        watch_count(io, -1);
        weft__deliver(t, status);
    }
}

void weft__io_close(weft__io_t *io)
{
    if (!io->registered)
        return;
    io->registered = false;
    weft__io_want_out(io, false);
    wake_one(io, &io->reader, -EBADF);
    wake_one(io, &io->writer, -EBADF);
}

void weft__io_close_here(weft__io_t *io)
{
    if (!io->registered)
        return;
    weft__io_close(io);
    weft__backend_forget(io->loop->be, &io->bio);
}

/* On the home thread, io's lock held: the backend forgets the fd, the
 * owner closes it. */
static void forget(weft__io_t *io)
{
    weft__backend_forget(io->loop->be, &io->bio);
    io->on_forget(io);
    io->forgotten = true;
}

static void forget_post(weft__loop_t *L, weft__post_t *p)
{
    (void)L;
    weft__io_t *io = WEFT_CONTAINER_OF(p, weft__io_t, post);
    bool done;
    {
        WEFT__LOCK(&io->mu);
        forget(io);
        done = io->users == 0;
    }
    if (done)
        io->destroy(io);
}

void weft__io_shut(weft__io_t *io)
{
    io->closed = true;
    weft__io_want_out(io, false); /* also for an fd never registered (a file) */
    weft__io_close(io);
    if (io->loop == weft__self.loop) {
        forget(io);
        return;
    }
    io->post.fn = forget_post;
    weft__loop_post(io->loop, &io->post);
}

static void unpark_reader(weft_task_t *t)
{
    weft__io_t *io = (weft__io_t *)t->b->waiter.slot;
    WEFT__LOCK(&io->mu);
    if (io->reader == t) {
        io->reader = NULL;
        watch_count(io, -1);
    }
}

static void unpark_writer(weft_task_t *t)
{
    weft__io_t *io = (weft__io_t *)t->b->waiter.slot;
    WEFT__LOCK(&io->mu);
    if (io->writer == t) {
        io->writer = NULL;
        watch_count(io, -1);
    }
}

int weft__io_wait(weft__io_t *io, uint32_t events, weft__lk_t *lk)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!io->registered)
        return -EBADF;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    if (io->ready & events)
        return 0;
    bool rd = events & WEFT__EV_IN;
    weft_task_t **slot = rd ? &io->reader : &io->writer;
    if (*slot)
        return -EBUSY;
    *slot = self;
    self->b->waiter.slot = io;
    watch_count(io, 1);
    return weft__park(self, &weft__wait_fd, (const void *)(intptr_t)io->bio.fd,
                      rd ? unpark_reader : unpark_writer, WEFT_FOREVER, lk);
}

void weft__io_wake(weft__io_t *io, uint32_t events)
{
    if (events & WEFT__EV_IN)
        wake_one(io, &io->reader, 0);
    if (events & WEFT__EV_OUT)
        wake_one(io, &io->writer, 0);
}

void weft__io_want_out(weft__io_t *io, bool on)
{
    if (io->want_out == on)
        return;
    io->want_out = on;
    if (io->loop == weft__self.loop)
        io->loop->nwatch += on ? 1 : -1;
    else
        atomic_fetch_add_explicit(&io->loop->nwatch_away, on ? 1 : -1, memory_order_relaxed);
}

/* The backend reports events for io's fd, on the home thread. */
static void io_event(weft__bio_t *r, uint32_t events)
{
    weft__io_t *io = WEFT_CONTAINER_OF(r, weft__io_t, bio);
    WEFT__LOCK(&io->mu);
    if (!io->registered)
        return; /* closed meanwhile; its release is on its way here */
    if (events & (WEFT__EV_ERR | WEFT__EV_HUP))
        io->ready |= WEFT__EV_IN | WEFT__EV_OUT | WEFT__EV_RDHUP;
    if (events & WEFT__EV_RDHUP)
        io->ready |= WEFT__EV_IN | WEFT__EV_RDHUP;
    io->ready |= events & (WEFT__EV_IN | WEFT__EV_OUT);
    if (io->ready & WEFT__EV_IN) {
        if (io->reader)
            wake_one(io, &io->reader, 0);
        else if (io->on_readable)
            io->on_readable(io);
    }
    if (io->ready & WEFT__EV_OUT) {
        if (io->writer)
            wake_one(io, &io->writer, 0);
        else if (io->want_out)
            io->on_writable(io);
    }
}
