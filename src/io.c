/* io.c - readiness waits on weft's own fds (sockets, pipes).
 *
 * Owns: the link between an fd and the tasks waiting to read or write it.
 * weft's own fds are registered once, edge-triggered, for both
 * directions: no re-arming system call per wait. Readiness the kernel
 * reported is cached in `ready` until an operation meets EAGAIN and
 * clears it, so a wait on an fd already known ready does not suspend.
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

#include <unistd.h>

int weft__io_open(weft__io_t *io, int fd)
{
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
    io->loop = L;
    io->fd = fd;
    io->ready = 0;
    io->reader = io->writer = NULL;
    io->on_readable = io->on_writable = NULL;
    io->registered = false;
    io->want_out = false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = io};
    if (epoll_ctl(L->be.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    io->registered = true;
    return 0;
}

static void wake_one(weft_task_t **slot, int status)
{
    weft_task_t *t = *slot;
    if (t) {
        *slot = NULL;
        t->loop->be.nwatch--;
        weft__wake(t, status);
    }
}

void weft__io_close(weft__io_t *io)
{
    if (!io->registered)
        return;
    epoll_ctl(io->loop->be.epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
    weft__io_want_out(io, false);
    wake_one(&io->reader, -EBADF);
    wake_one(&io->writer, -EBADF);
}

static void unpark_reader(weft_task_t *t)
{
    weft__io_t *io = (weft__io_t *)t->b->waiter.slot;
    io->reader = NULL;
    t->loop->be.nwatch--;
}

static void unpark_writer(weft_task_t *t)
{
    weft__io_t *io = (weft__io_t *)t->b->waiter.slot;
    io->writer = NULL;
    t->loop->be.nwatch--;
}

int weft__io_wait(weft__io_t *io, uint32_t events)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!io->registered)
        return -EBADF;
    if (io->loop != self->loop)
        return -EXDEV; /* the fd is watched by another worker's backend */
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    if (io->ready & events)
        return 0;
    bool rd = events & EPOLLIN;
    weft_task_t **slot = rd ? &io->reader : &io->writer;
    if (*slot)
        return -EBUSY;
    *slot = self;
    self->b->waiter.slot = io;
    self->loop->be.nwatch++;
    return weft__park(self, WEFT__WAIT_FD, (const void *)(intptr_t)io->fd,
                      rd ? unpark_reader : unpark_writer, WEFT_FOREVER);
}

void weft__io_want_out(weft__io_t *io, bool on)
{
    if (io->want_out == on)
        return;
    io->want_out = on;
    io->loop->be.nwatch += on ? 1 : -1;
}

void weft__io_event(weft__io_t *io, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP))
        io->ready |= EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    if (events & EPOLLRDHUP)
        io->ready |= EPOLLIN | EPOLLRDHUP;
    if (events & EPOLLIN)
        io->ready |= EPOLLIN;
    if (events & EPOLLOUT)
        io->ready |= EPOLLOUT;
    if (io->ready & EPOLLIN) {
        if (io->reader)
            wake_one(&io->reader, 0);
        else if (io->on_readable)
            io->on_readable(io);
    }
    if (io->ready & EPOLLOUT) {
        if (io->writer)
            wake_one(&io->writer, 0);
        else if (io->want_out)
            io->on_writable(io);
    }
}
