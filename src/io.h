/* io.h - waiting for weft's own fds (sockets, pipes, signalfd, pidfds) to
 * become readable or writable (io.c), and for foreign fds (fdwait.c).
 *
 * A weft__io record belongs to whatever owns the fd (a stream, a
 * listener); see io.c for the rules. Event bits are the backend's
 * (WEFT__EV_*, backend.h).
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "backend.h"
#include "task.h"

typedef struct weft__io weft__io_t;
struct weft__io {
    /* The record's (and its owner's) lock; see io.c. First, so that an
     * owner in a type-stable record (stable.h) keeps it addressable. */
    weft__spin_t mu;
    weft__bio_t bio;    /* the backend's record: fd and the event callback */
    weft__loop_t *loop; /* home: the loop whose backend watches the fd */
    /* Readiness seen and not yet used up (WEFT__EV_IN, WEFT__EV_OUT),
     * plus WEFT__EV_RDHUP once the peer ended its side or the fd failed:
     * no later edge announces the end, so an owner that skips the EAGAIN
     * after a short read must not do so then. */
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
    /* Progress: reads and sends of the owner (a stream) that moved bytes,
     * counted under mu (weft__io_moved), read from anywhere with relaxed
     * loads by whoever watches for stalls (a server's timeouts). */
    uint32_t moved_in, moved_out;
    /* An owner used from any worker (a stream, a listener, a UDP
     * socket), under mu: the calls inside it (users), whether it was
     * closed, and whether its home's backend has forgotten the fd; see
     * weft__io_shut. */
    uint32_t users;
    bool closed, forgotten;
    void (*on_forget)(weft__io_t *io); /* home thread, mu held: close the fd */
    void (*destroy)(weft__io_t *io);   /* free the owner (mu not held) */
    weft__post_t post;                 /* carries the forget to the home thread */
};

/* The fd a record watches. */
static inline int weft__io_fd(const weft__io_t *io)
{
    return io->bio.fd;
}

/* Registers fd with the current loop (its home), edge-triggered for
 * reading and writing, once for its whole life; `ready` starts empty,
 * on_readable and on_writable NULL. 0, -WEFT_ENOLOOP, or -errno. */
int weft__io_open(weft__io_t *io, int fd);
/* No wait may start on the record any more; waiters get -EBADF. The
 * backend still watches the fd. io's lock held, when it has one. */
void weft__io_close(weft__io_t *io);
/* weft__io_close and the backend's forget, for an owner only its home
 * thread uses (a signalfd, a pidfd, a connect in progress): on it. */
void weft__io_close_here(weft__io_t *io);
/* An owner used from any worker closes (io's lock held; on_forget and
 * destroy set): closed, waiters woken with -EBADF, and on the home
 * thread (now, or posted there) the backend forgets the fd and
 * on_forget closes it. The owner is freed (destroy) once that is done
 * and no call is inside it: whoever sees weft__io_idle true last (the
 * post on the home thread does so itself). */
void weft__io_shut(weft__io_t *io);
/* io's lock held: closed, forgotten and no call inside: destroy may run
 * once the lock is let go. */
static inline bool weft__io_idle(const weft__io_t *io)
{
    return io->users == 0 && io->closed && io->forgotten;
}
/* One more read or send moved bytes (io's lock held). */
static inline void weft__io_moved(uint32_t *count)
{
    __atomic_store_n(count, *count + 1, __ATOMIC_RELAXED);
}
/* The last operation met EAGAIN: the readiness it used is gone. */
static inline void weft__io_clear(weft__io_t *io, uint32_t events)
{
    io->ready &= ~events;
}
/* Waits until the fd is ready for `events` (WEFT__EV_IN or
 * WEFT__EV_OUT), from a task of any worker. lk: io's lock, held by the
 * caller (NULL when the record has no other user than its home thread):
 * let go while parked, held again on return. Suspends. 0, -ECANCELED,
 * -ETIMEDOUT, -EBUSY (another task already waits in that direction),
 * -EBADF (closed meanwhile), -WEFT_ENOTASK. */
int weft__io_wait(weft__io_t *io, uint32_t events, weft__lk_t *lk);
/* Wakes the task waiting on io for `events` (WEFT__EV_IN: the reader,
 * WEFT__EV_OUT: the writer), if one waits, as a readiness edge would:
 * its wait returns 0 and it looks again (an owner whose state changed
 * under it: an error set from outside). io's lock held. */
void weft__io_wake(weft__io_t *io, uint32_t events);
/* The owner has output queued (on) or not (off): while on, on_writable
 * runs on each writable edge and the loop keeps polling the backend, as
 * if a task waited on the fd. */
void weft__io_want_out(weft__io_t *io, bool on);
/* Asks the kernel whether the backend still watches io's fd in this
 * loop (the fd number may have been closed and reused meanwhile); 0, or
 * -ENOENT when it does not. */
int weft__io_rewatch(weft__io_t *io);

/* What a task waiting on an fd shows in the task tree (" on fd N"):
 * the wait's object is the fd number. */
extern const weft__wait_kind_t weft__wait_fd;

#endif
