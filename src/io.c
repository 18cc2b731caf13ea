/* io.c - readiness waits on weft's own fds (sockets, pipes).
 *
 * Owns: the link between an fd and the tasks waiting to read or write it.
 * weft's own fds are watched once, edge-triggered, for both directions:
 * no re-arming system call per wait. Readiness the backend reported is
 * cached in `ready` until an operation meets EAGAIN and clears it, so a
 * wait on an fd already known ready does not suspend.
 *
 * An owner that reacts to input without a task (signalfd) sets
 * on_readable: each readable edge with no reader waiting runs it.
 * An owner with output queued (a stream) sets want_out and on_writable:
 * each writable edge then runs on_writable, unless a task waits to write
 * (that task is woken instead and sends itself). want_out counts in the
 * loop's nwatch, so a busy loop still polls and the output drains.
 *
 * Invariants: at most one reader and one writer wait at a time; a waiter
 * is linked here only while parked, and whoever wakes it clears the link
 * first. Events are handled on the loop's thread between task steps, so
 * "EAGAIN, clear, wait" cannot lose an edge: one that arrives in between
 * stays pending in the kernel until the next poll.
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
    io->bio.fd = fd;
    io->bio.cb = io_event;
    io->loop = L;
    io->ready = 0;
    io->reader = io->writer = NULL;
    io->on_readable = io->on_writable = NULL;
    io->registered = false;
    io->want_out = false;
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

/* A waiter being interrupted stays in its slot: its unpark clears it. */
static void wake_one(weft_task_t **slot, int status)
{
    weft_task_t *t = *slot;
    if (t && weft__claim(t)) {
        *slot = NULL;
        t->loop->nwatch--;
        weft__deliver(t, status);
    }
}

void weft__io_close(weft__io_t *io)
{
    if (!io->registered)
        return;
    weft__backend_forget(io->loop->be, &io->bio);
    io->registered = false;
    weft__io_want_out(io, false);
    wake_one(&io->reader, -EBADF);
    wake_one(&io->writer, -EBADF);
}

static void unpark_reader(weft_task_t *t)
{
    weft__io_t *io = (weft__io_t *)t->b->waiter.slot;
    io->reader = NULL;
    t->loop->nwatch--;
}

static void unpark_writer(weft_task_t *t)
{
    weft__io_t *io = (weft__io_t *)t->b->waiter.slot;
    io->writer = NULL;
    t->loop->nwatch--;
}

int weft__io_wait(weft__io_t *io, uint32_t events)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!io->registered)
        return -EBADF;
    if (io->loop != self->loop)
        return -EXDEV; /* the fd is watched by another worker's backend */
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
    self->loop->nwatch++;
    return weft__park(self, &weft__wait_fd, (const void *)(intptr_t)io->bio.fd,
                      rd ? unpark_reader : unpark_writer, WEFT_FOREVER, NULL);
}

void weft__io_want_out(weft__io_t *io, bool on)
{
    if (io->want_out == on)
        return;
    io->want_out = on;
    io->loop->nwatch += on ? 1 : -1;
}

/* The backend reports events for io's fd. */
static void io_event(weft__bio_t *r, uint32_t events)
{
    weft__io_t *io = WEFT_CONTAINER_OF(r, weft__io_t, bio);
    if (events & (WEFT__EV_ERR | WEFT__EV_HUP))
        io->ready |= WEFT__EV_IN | WEFT__EV_OUT | WEFT__EV_RDHUP;
    if (events & WEFT__EV_RDHUP)
        io->ready |= WEFT__EV_IN | WEFT__EV_RDHUP;
    io->ready |= events & (WEFT__EV_IN | WEFT__EV_OUT);
    if (io->ready & WEFT__EV_IN) {
        if (io->reader)
            wake_one(&io->reader, 0);
        else if (io->on_readable)
            io->on_readable(io);
    }
    if (io->ready & WEFT__EV_OUT) {
        if (io->writer)
            wake_one(&io->writer, 0);
        else if (io->want_out)
            io->on_writable(io);
    }
}
