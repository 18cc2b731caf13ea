/* backend.h - the poller behind a loop: one small interface, one file per
 * implementation under src/backend/ (epoll.c today).
 *
 * The backend is opaque state plus the calls below. It knows nothing of
 * tasks, streams or fds' owners: whoever wants to hear about an fd embeds
 * a weft__bio_t (fd + callback) in its own record and asks the backend to
 * watch it; each event the poll gathers is handed to that record's
 * callback, on the loop's thread, between task steps (libuv's uv__io_t).
 * Events are weft's own bits, not the kernel's.
 *
 * Two ways to watch: WEFT__BIO_EDGE (edge-triggered, armed once for the
 * record's life: weft's own sockets and pipes, whose reads and writes
 * weft does itself and whose readiness it caches, io.c) and
 * WEFT__BIO_ONESHOT (level-triggered, disarmed by its first event and
 * re-armed by modify: fds a foreign library reads, fdwait.c).
 *
 * Readiness is one shape of I/O; a completion backend (io_uring) also
 * performs the operation itself (a receive into a buffer, a waitid) and
 * reports its result. Such operations get their own calls beside these
 * (submit, cancel) and complete through the same kind of record, so the
 * readiness calls here stay as they are (docs/design.md "Backend").
 *
 * Invariant: once weft__backend_forget(r) returns, no callback of r runs
 * again, not even for an event of the poll now being dispatched; so the
 * owner may free r right after forgetting it.
 */
#ifndef WEFT_BACKEND_H
#define WEFT_BACKEND_H

#include "internal.h"

/* Event bits (watch masks and what a callback receives). */
#define WEFT__EV_IN 0x1u    /* readable (or a listener has a connection) */
#define WEFT__EV_OUT 0x2u   /* writable */
#define WEFT__EV_RDHUP 0x4u /* the peer ended its side (reported with IN) */
#define WEFT__EV_HUP 0x8u   /* hung up */
#define WEFT__EV_ERR 0x10u  /* an error is pending on the fd */

/* How a record is watched. */
#define WEFT__BIO_EDGE 0u    /* edge-triggered, armed until forgotten */
#define WEFT__BIO_ONESHOT 1u /* level-triggered, disarmed by its first event */

typedef struct weft__bio weft__bio_t;
struct weft__bio {
    int fd;
    /* Called from weft__backend_poll with the events that came; may
     * forget (and free) any record, its own included. */
    void (*cb)(weft__bio_t *r, uint32_t events);
};

typedef struct weft__backend weft__backend_t;

/* Makes a backend; 0 or -errno (*out untouched then). */
int weft__backend_open(weft__backend_t **out);
/* Closes every fd of the backend but the eventfd weft__backend_notify
 * writes: another thread that read a loop's `parked` may still be about
 * to write it when the loop's thread leaves (a worker can see the last
 * task finish before the finisher's wake-up lands).
 * weft__backend_free closes that one and frees the backend, once no
 * thread is left that may notify it. */
void weft__backend_close(weft__backend_t *be);
void weft__backend_free(weft__backend_t *be);

/* Starts watching r->fd for `events` (WEFT__EV_IN / OUT / RDHUP), in
 * `mode`. 0, -EEXIST (the fd is watched already, through another
 * record), -errno. */
int weft__backend_watch(weft__backend_t *be, weft__bio_t *r, uint32_t events, unsigned mode);
/* Changes what r is watched for (and re-arms a ONESHOT record). 0,
 * -ENOENT (the kernel forgot the fd: it was closed meanwhile), -errno. */
int weft__backend_modify(weft__backend_t *be, weft__bio_t *r, uint32_t events, unsigned mode);
/* Stops watching r. Returns 0 once the kernel holds no reference to r,
 * -EBADF when r's fd was closed before it was forgotten: then a copy of
 * the fd (dup, fork) may keep the registration alive and report r again
 * later, so r must stay valid (reused or kept until the backend closes). */
int weft__backend_forget(weft__backend_t *be, weft__bio_t *r);

/* Waits for events up to timeout_ns (0: do not block; < 0: forever) and
 * hands each to its record's callback; returns how many came, or -errno.
 * A weft__backend_notify ends the wait early. */
int weft__backend_poll(weft__backend_t *be, int64_t timeout_ns);
/* Ends a blocked poll of that backend; any thread. */
void weft__backend_notify(weft__backend_t *be);
/* Sleeps ns without watching anything: events that come meanwhile wait
 * for the next poll, and whoever causes them wakes nobody. 0 or -errno. */
int weft__backend_nap(weft__backend_t *be, int64_t ns);

#endif
