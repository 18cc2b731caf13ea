/* io.h - waiting for file descriptors to become readable or writable.
 *
 * A weft__io record belongs to whatever owns the fd (a socket, a pipe);
 * see io.c for the rules.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "loop.h"

#include <sys/epoll.h>

typedef struct weft__io {
    weft__loop_t *loop;
    int fd;
    uint32_t ready; /* readiness seen and not yet used up (EPOLLIN, EPOLLOUT) */
    weft_task_t *reader, *writer;
    bool registered;
} weft__io_t;

/* Registers fd with the current loop, edge-triggered for reading and
 * writing, once for its whole life. 0, -EPERM (no loop), or -errno. */
int weft__io_open(weft__io_t *io, int fd);
/* Forgets the fd (before it is closed); waiters get -EBADF. */
void weft__io_close(weft__io_t *io);
/* The last operation met EAGAIN: the readiness it used is gone. */
static inline void weft__io_clear(weft__io_t *io, uint32_t events)
{
    io->ready &= ~events;
}
/* Waits until the fd is ready for `events` (EPOLLIN or EPOLLOUT).
 * Suspends. 0, -ECANCELED, -ETIMEDOUT, -EBUSY (another task already
 * waits in that direction), -EBADF (closed meanwhile), -EPERM. */
int weft__io_wait(weft__io_t *io, uint32_t events);
/* The backend reports events for io. */
void weft__io_event(weft__io_t *io, uint32_t events);

#endif
