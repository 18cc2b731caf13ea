/* io.h - waiting for file descriptors to become readable or writable.
 *
 * A weft__io record belongs to whatever owns the fd (a socket, a pipe);
 * see io.c for the rules.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "loop.h"

#include <sys/epoll.h>

typedef struct weft__io weft__io_t;
struct weft__io {
    weft__loop_t *loop;
    int fd;
    /* Readiness seen and not yet used up (EPOLLIN, EPOLLOUT), plus
     * EPOLLRDHUP once the peer ended its side or the fd failed: no later
     * edge announces the end, so an owner that skips the EAGAIN after a
     * short read must not do so then. */
    uint32_t ready;
    weft_task_t *reader, *writer;
    /* Optional (NULL after weft__io_open): called from the backend, on
     * the loop's stack, when the fd is ready for reading and no task
     * waits to read (signalfd: signals become callbacks)... */
    void (*on_readable)(weft__io_t *io);
    /* ... and while want_out is set, the fd is ready for writing and no
     * task waits to write, so queued output leaves without its owner's
     * help (streams). Either may clear `ready` (on EAGAIN) but must not
     * close or free the record. */
    void (*on_writable)(weft__io_t *io);
    bool registered;
    bool want_out; /* owner has output queued for on_writable */
};

/* Registers fd with the current loop, edge-triggered for reading and
 * writing, once for its whole life; `ready` starts empty, on_readable
 * and on_writable NULL. 0, -EPERM (no loop), or -errno. */
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
/* The owner has output queued (on) or not (off): while on, on_writable
 * runs on each writable edge and the loop keeps polling the backend, as
 * if a task waited on the fd. */
void weft__io_want_out(weft__io_t *io, bool on);
/* The backend reports events for io. */
void weft__io_event(weft__io_t *io, uint32_t events);

/* ---- foreign fds (fdwait.c): fds weft does not own ----
 *
 * Registered level-triggered and one-shot, under an epoll data word that
 * is not a pointer: WEFT__FDWAIT_TAG (bit 63, never set in a user-space
 * address on Linux) | generation << 32 | fd. An event whose generation no
 * longer matches the fd's record (forgotten, or closed and reused) is
 * dropped, so a stale registration can never reach freed memory. */
#define WEFT__FDWAIT_TAG (UINT64_C(1) << 63)
/* The backend reports events for a foreign fd (data: the epoll word). */
void weft__fdwait_event(weft__loop_t *L, uint64_t data, uint32_t events);
/* Frees the loop's table of foreign fds (the loop closes; nobody waits). */
void weft__fdwait_fini(weft__backend_t *be);

#endif
