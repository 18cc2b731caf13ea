/* stream.h - what other parts of weft (net.c, tls.c, stream_file.c) need
 * from stream.c beyond the public API: opening a stream over an fd whose
 * kind and flags are already known, without the system calls that find
 * them out; and the transport hook through which a stream reads and
 * writes other than with the fd's own read/send (TLS: tls.c; regular
 * files through the pool: stream_file.c).
 */
#ifndef WEFT_STREAM_H
#define WEFT_STREAM_H

#include "weft.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

enum {
    WEFT__STREAM_SOCK = 1u,     /* the fd is a socket (send with MSG_NOSIGNAL) */
    WEFT__STREAM_PREPARED = 2u, /* already O_NONBLOCK and FD_CLOEXEC, kind given by
                                 * WEFT__STREAM_SOCK: no fcntl, no fstat */
};

/* weft_stream_open with flags (WEFT__STREAM_*); the same contract: the
 * stream owns fd, also on failure. For accept4(SOCK_NONBLOCK |
 * SOCK_CLOEXEC) and connected sockets: pass WEFT__STREAM_SOCK |
 * WEFT__STREAM_PREPARED. */
int weft__stream_open(weft_stream_t **s, int fd, const weft_stream_opts_t *opts, unsigned flags);

/* ---- the transport hook ----
 *
 * A transport sits between the stream's buffers and its fd: the stream
 * calls it instead of read/send, on the task's or the loop's stack,
 * never concurrently. It uses the fd's readiness record (weft__stream_io)
 * itself: it clears `ready` where it meets EAGAIN, and tells the stream
 * which way to wait with two statuses that never leave stream.c: */
#define WEFT__TR_WANT_READ (-EAGAIN)       /* wait until the fd is readable */
#define WEFT__TR_WANT_WRITE (-EINPROGRESS) /* wait until the fd is writable */

typedef struct weft__transport {
    /* Reads up to n bytes into p: the count (> 0), 0 at end of stream, a
     * WANT status, or -errno (sticky from then on). */
    ssize_t (*recv)(void *ctx, char *p, size_t n);
    /* Sends from v[0, k) (k >= 1, total > 0) in order: the count taken
     * (> 0, may be fewer than offered), a WANT status, or -errno. Bytes
     * offered and not taken are offered again, first, by the next call. */
    ssize_t (*send)(void *ctx, const struct iovec *v, int k);
    /* Ends the write side politely (TLS close_notify): 0 when done, a
     * WANT status, or -errno. Called after the output queue is empty. */
    int (*close_notify)(void *ctx);
    /* Frees ctx, when the stream is freed. */
    void (*free)(void *ctx);
    /* Optional: waits until recv (WEFT__EV_IN) or send (WEFT__EV_OUT) can
     * go on, for a transport whose fd has no readiness to wait for (a
     * regular file: stream_file.c); NULL: the fd's readiness
     * (weft__io_wait). Called from a task, inside a stream call; returns
     * as weft__io_wait does. */
    int (*wait)(void *ctx, uint32_t events);
} weft__transport_t;

/* From now on s reads and writes through tr (ctx is tr's, freed by
 * tr->free with s). s must have nothing buffered either way. */
void weft__stream_set_transport(weft_stream_t *s, const weft__transport_t *tr, void *ctx);
/* ctx if s reads and writes through tr, else NULL. */
void *weft__stream_transport(const weft_stream_t *s, const weft__transport_t *tr);
/* The fd's readiness record. */
struct weft__io *weft__stream_io(weft_stream_t *s);
/* Inside the transport's wait: the guard of the stream's lock that the
 * calling task holds, to drop (weft__lk_drop) around a suspension and
 * take back (weft__lk_retake) before returning. The stream stays
 * allocated meanwhile (the caller counts in its users). */
struct weft__lk *weft__stream_guard(weft_stream_t *s);
/* The lock held: the queued output, in up to two pieces (0: none, or
 * closed). Its head stays put until weft__stream_out_done, also while
 * the lock is let go: only a transport's wait takes bytes off it. */
int weft__stream_out_segs(weft_stream_t *s, struct iovec v[2]);
/* The lock held: res bytes of the queued output have left (res < 0: the
 * error, which sticks). Nothing if s was closed or failed meanwhile. */
void weft__stream_out_done(weft_stream_t *s, ssize_t res);
/* The lock held: counts one more user, which keeps s allocated after a
 * close until weft__stream_unhold (a transport's background task). */
void weft__stream_hold(weft_stream_t *s);
/* The lock held (lk): ends a hold; s may be freed by it, and lk dropped. */
void weft__stream_unhold(weft_stream_t *s, struct weft__lk *lk);
/* Waits until the fd is ready for `events` (WEFT__EV_IN or WEFT__EV_OUT).
 * Suspends. 0, -ECANCELED, -ETIMEDOUT, -EBUSY, or -EBADF when s was
 * closed meanwhile (then s may be freed already: touch it no more). */
int weft__stream_wait(weft_stream_t *s, uint32_t events);
/* Makes err the stream's sticky read and write error. */
void weft__stream_fail(weft_stream_t *s, int err);
/* Whether s is a live stream: false once its close freed it (its record
 * stays a stream's, type-stable: stable.h). Never touches s's body. */
bool weft__stream_live(const weft_stream_t *s);
/* weft_stream_fd, naming `call` if s is stale (weft__stale): the fd,
 * -EINVAL (s NULL), or -EBADF (s closed, or stale). */
int weft__stream_fd(const weft_stream_t *s, const char *call);
/* Its server is closing (server.c): from now on a read that would wait
 * for the peer's next message ends the stream instead (returns 0, and
 * the end sticks), as if the peer had ended its side. "The next message"
 * means: nothing is buffered and no byte came in since the stream last
 * took bytes to send (the peer's latest message was answered, or none
 * came yet). A read in the middle of a message (bytes buffered, or
 * read since the last write) waits as before. A reader waiting now is
 * woken to look again. */
void weft__stream_end_idle(weft_stream_t *s);
/* Unread bytes buffered, and bytes queued for sending. */
size_t weft__stream_buffered(const weft_stream_t *s);

/* ---- streams over fds without readiness (stream_file.c) ---- */

/* Makes s, whose fd the backend refused (EPERM: a regular file,
 * /dev/null), read and write through the thread pool. 0 or -errno (s is
 * then freed by the caller as any stream that failed to open). */
int weft__stream_file_attach(weft_stream_t *s);
/* Whether s reads and writes through the pool (a file stream). */
bool weft__stream_is_file(const weft_stream_t *s);

#endif
