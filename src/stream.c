/* stream.c - buffered streams: asyncio's StreamReader and StreamWriter in
 * one object over one fd (socket, pipe end, tty).
 *
 * Owns: the fd, its weft__io record (io.c), the read buffer and the queue
 * of output the kernel has not taken yet.
 *
 * Reading: rbuf[rpos, rend) are the unread bytes, never more than `limit`.
 * The buffer is allocated by the first read that needs it, grows (by
 * doubling, up to limit) only when unread bytes fill it, and unread bytes
 * move to the front only when the free tail runs short. A read of at
 * least min(WEFT__DIRECT, limit) bytes with nothing buffered skips it and
 * lands straight in the caller's memory. io.c caches readiness; a read
 * that came back short clears it too (the kernel had nothing more), which
 * saves the EAGAIN round trip per request, except once the peer has
 * ended (WEFT__EV_RDHUP seen): no edge would announce the end left behind
 * the data. End of stream and read errors are sticky.
 *
 * Writing: a write sends at once when nothing is queued; what the kernel
 * does not take goes into a ring (obuf: a power of two, ohead, olen) and
 * is sent by on_writable from the backend as the fd becomes writable, so
 * the owning task need not help. drain and flush wait as io.c's writer
 * and send themselves when woken. A send error is sticky: the queue is
 * dropped, and every later write, drain, flush and close returns it.
 * With defer_writes, a write only queues, and the stream's queue is sent
 * once, before the loop next polls (flush.c; see "deferred writes").
 *
 * Transport: a stream may read and write through a transport (stream.h;
 * TLS in tls.c) instead of the fd's own calls. The plain path pays one
 * branch on `tr` per read and per send; the transport keeps the fd's
 * readiness cache up to date itself and answers "wait until readable"
 * or "... writable"; close sends its close_notify (a bounded wait) after
 * the queue has left, abort does not. An fd the backend refuses (EPERM:
 * a regular file, /dev/null) gets stream_file.c's transport, which waits
 * its own way (through the pool) instead of on readiness.
 *
 * Lifetime: a task inside a call that may suspend counts in io.users.
 * close and abort mark the stream closed and wake its waiters with
 * -EBADF; the fd is forgotten by the backend and closed on the home
 * thread (io.c), and the free waits until that is done and users is 0,
 * so a waiter woken by (or after) a close only sees `closed` and leaves:
 * no task ever touches a freed stream through a call it was already in.
 *
 * Workers: a stream may be used by tasks of any worker. Its lock (the io
 * record's) is held for each call and let go only while the task waits;
 * events and the queue's sending by on_writable happen under it on the
 * home thread. A reader and a writer on two workers thus take turns at
 * the buffers, and a transport (TLS) is never entered twice at once.
 */
#include "flush.h"
#include "io.h"
#include "stable.h"
#include "stream.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define WEFT__RBUF_INIT 16384  /* first read buffer (at most limit) */
#define WEFT__DIRECT 16384     /* reads this large bypass the buffer */
#define WEFT__OBUF_MIN 512     /* smallest output ring */
#define WEFT__OBUF_KEEP 262144 /* a ring larger than this is freed once empty */
#define WEFT__IOV_BATCH 64     /* iovecs per send */
#define WEFT__DEFER_MAX 32768  /* a deferred write holding more goes out at once */

struct weft_stream {
    weft__stable_t st; /* live or stale (stable.h); io's lock follows it */
    weft__io_t io;
    char *rbuf;
    size_t rcap, rpos, rend, limit;
    char *obuf;
    size_t ocap, ohead, olen;
    size_t high, low;
    size_t max_pending; /* a write finding this many bytes queued is refused (SIZE_MAX: no cap) */
    size_t dropped;     /* bytes of the latest over-long line dropped (overrun_consumed) */
    int rerr, werr; /* sticky errors, 0 if none */
    int xerr;       /* set from outside (weft_stream_set_error): every read returns it */
    bool sock, eof, wshut;
    bool skip;    /* inside an over-long line: read_until drops up to its separator first */
    bool paused;  /* weft_stream_pause_reading: no read from the fd */
    bool closing; /* weft_stream_close has begun */
    /* Bytes came in since the stream last took bytes to send: the peer's
     * latest message is not answered yet (see weft__stream_end_idle). */
    bool asked;
    bool end_idle; /* weft__stream_end_idle: a read for the next message ends */
    bool defer;                  /* defer_writes: writes wait for the turn's end */
    weft_task_t *pwait;          /* the reader parked while reading is paused */
    const weft__transport_t *tr; /* NULL: the fd's own read and send */
    void *tctx;
    /* the guard of the call that holds the lock while it is inside its
     * transport's wait, so the wait can let the lock go */
    weft__lk_t *guard;
    weft__held_t held; /* on its loop's list while writes are held (flush.c) */
};

/* Stream records are type-stable (stable.h): a stream used after its
 * close freed it reads a stale record, and the call returns -EBADF
 * (weft__stale) instead of touching freed memory. */
#define STREAM_LIVE 0x6d727473u /* "strm" */
static weft__stable_pool_t stream_pool = WEFT__STABLE_POOL(weft_stream_t, io.mu, STREAM_LIVE);

/* The lock held: whether s was freed (closed, and no call left inside). */
#define FREED(s) WEFT_UNLIKELY(!weft__stable_live(s, STREAM_LIVE))
#define STALE(s, call) weft__stale("stream", s, call)

bool weft__stream_live(const weft_stream_t *s)
{
    return weft__stable_live(s, STREAM_LIVE);
}

static void destroy(weft_stream_t *s)
{
    if (s->tr)
        s->tr->free(s->tctx);
    free(s->rbuf);
    free(s->obuf);
    weft__stable_free(&stream_pool, s, &s->io.mu);
}

static void io_destroy(weft__io_t *io)
{
    destroy(WEFT_CONTAINER_OF(io, weft_stream_t, io));
}

/* On the home thread, the lock held, once the backend forgot the fd. */
static void io_forget(weft__io_t *io)
{
    weft_stream_t *s = WEFT_CONTAINER_OF(io, weft_stream_t, io);
    weft__flush_unhold(&s->held);
    close(io->bio.fd);
    io->bio.fd = -1;
}

/* A call that counted itself in users ends (the lock held, lk): the last
 * one out of a closed and forgotten stream frees it. s must not be
 * touched after this. */
static ssize_t leave(weft_stream_t *s, ssize_t rc, weft__lk_t *lk)
{
    s->io.users--;
    if (weft__io_idle(&s->io)) {
        weft__lk_drop(lk);
        destroy(s);
    }
    return rc;
}

/* ---- opening ---- */

static void on_writable(weft__io_t *io);
static void held_send(weft__held_t *h);

int weft__stream_open(weft_stream_t **out, int fd, const weft_stream_opts_t *opts, unsigned flags)
{
    int rc;
    if (out)
        *out = NULL;
    if (fd < 0)
        return -EINVAL;
    size_t limit = opts && opts->limit ? opts->limit : 65536;
    size_t cap = opts && opts->max_pending ? opts->max_pending : SIZE_MAX;
    size_t high = opts && opts->high_water ? opts->high_water : 65536;
    if (!(opts && opts->high_water) && high >= cap)
        high = cap / 2; /* drain must wait whenever writes are refused */
    size_t low = opts && opts->low_water ? opts->low_water : high / 4;
    if (!out || low > high || (cap != SIZE_MAX && high >= cap)) {
        rc = -EINVAL;
        goto fail;
    }
    if (!weft__loop()) {
        rc = -WEFT_ENOLOOP;
        goto fail;
    }
    bool sock = flags & WEFT__STREAM_SOCK;
    if (!(flags & WEFT__STREAM_PREPARED)) {
        int fl = fcntl(fd, F_GETFL);
        int fdfl = fl < 0 ? -1 : fcntl(fd, F_GETFD);
        struct stat st;
        if (fdfl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) ||
            (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) ||
            fstat(fd, &st) < 0) {
            rc = -errno;
            goto fail;
        }
        sock = S_ISSOCK(st.st_mode);
    }
    weft_stream_t *s = weft__stable_alloc(&stream_pool);
    if (!s) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = weft__io_open(&s->io, fd);
    if (rc == -EPERM && !sock) /* no readiness (a regular file): the pool */
        rc = weft__stream_file_attach(s);
    if (rc < 0) {
        weft__stable_free(&stream_pool, s, &s->io.mu);
        goto fail;
    }
    /* assume ready both ways: a wrong guess costs one EAGAIN, a right one
     * a loop turn (a new connection's request is often there already) */
    s->io.ready = WEFT__EV_IN | WEFT__EV_OUT;
    s->io.on_writable = on_writable;
    s->io.on_forget = io_forget;
    s->io.destroy = io_destroy;
    s->limit = limit;
    s->high = high;
    s->low = low;
    s->max_pending = cap;
    s->sock = sock;
    s->defer = opts && opts->defer_writes;
    s->held.send = held_send;
    *out = s;
    return 0;
fail:
    close(fd);
    return rc;
}

int weft_stream_open(weft_stream_t **s, int fd, const weft_stream_opts_t *opts)
{
    return weft__stream_open(s, fd, opts, 0);
}

/* ---- the read buffer ---- */

static int ready_wait(weft_stream_t *s, uint32_t events, weft__lk_t *lk);

static size_t buffered(const weft_stream_t *s)
{
    return s->rend - s->rpos;
}

/* Moves up to n buffered bytes to p; returns the count. */
static size_t take(weft_stream_t *s, char *p, size_t n)
{
    size_t m = buffered(s);
    if (m > n)
        m = n;
    if (m) {
        memcpy(p, s->rbuf + s->rpos, m);
        s->rpos += m;
    }
    return m;
}

/* Makes free room at the end of rbuf, which may grow up to max bytes: 0,
 * -ENOMEM, or -EMSGSIZE when it holds max unread bytes. */
static int rbuf_room(weft_stream_t *s, size_t max)
{
    if (s->rpos == s->rend)
        s->rpos = s->rend = 0;
    if (!s->rbuf) {
        size_t cap = max < WEFT__RBUF_INIT ? max : WEFT__RBUF_INIT;
        s->rbuf = malloc(cap);
        if (!s->rbuf)
            return -ENOMEM;
        s->rcap = cap;
        return 0;
    }
    size_t room = s->rcap - s->rend;
    if (room * 4 > s->rcap)
        return 0;
    if (s->rpos > 0) {
        memmove(s->rbuf, s->rbuf + s->rpos, s->rend - s->rpos);
        s->rend -= s->rpos;
        s->rpos = 0;
        room = s->rcap - s->rend;
        if (room * 4 > s->rcap)
            return 0;
    }
    if (s->rcap < max) {
        size_t cap = s->rcap > max / 2 ? max : s->rcap * 2;
        char *nb = realloc(s->rbuf, cap);
        if (!nb)
            return room ? 0 : -ENOMEM;
        s->rbuf = nb;
        s->rcap = cap;
        return 0;
    }
    return room ? 0 : -EMSGSIZE;
}

/* One read that never waits: into p[0, n) if p, else into rbuf's free
 * tail (rbuf growing up to n bytes). Returns the count (> 0), 0 at end of
 * stream, -errno, or WEFT__TR_WANT_READ / WEFT__TR_WANT_WRITE: nothing
 * yet, wait until the fd is readable / writable. The plain fd is read
 * only when the readiness cache says readable, unless `probe` (at_eof:
 * the cache may not know of an end that has come). */
static ssize_t rd_once(weft_stream_t *s, char *p, size_t n, bool probe)
{
    if (s->xerr)
        return s->xerr;
    if (s->rerr)
        return s->rerr;
    if (s->eof)
        return 0;
    if (!p) {
        int rc = rbuf_room(s, n);
        if (rc)
            return rc;
    }
    char *dst = p ? p : s->rbuf + s->rend;
    size_t want = p ? n : s->rcap - s->rend;
    ssize_t r;
    if (s->tr) {
        r = s->tr->recv(s->tctx, dst, want);
        if (r == WEFT__TR_WANT_READ || r == WEFT__TR_WANT_WRITE)
            return r;
    } else {
        if (!(s->io.ready & WEFT__EV_IN) && !probe)
            return WEFT__TR_WANT_READ;
        do
            r = read(s->io.bio.fd, dst, want);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                weft__io_clear(&s->io, WEFT__EV_IN);
                return WEFT__TR_WANT_READ;
            }
            r = -errno;
        } else if (r > 0 && (size_t)r < want && !(s->io.ready & WEFT__EV_RDHUP)) {
            /* short: the kernel had no more; once the peer has ended,
             * only a read that returns 0 tells the end */
            weft__io_clear(&s->io, WEFT__EV_IN);
        }
    }
    if (r > 0) {
        weft__coop_spend_bytes((size_t)r);
        weft__io_moved(&s->io.moved_in);
        s->asked = true;
        if (!p)
            s->rend += (size_t)r;
    } else if (r == 0) {
        s->eof = true;
    } else {
        s->rerr = (int)r;
    }
    return r;
}

/* ---- pausing (weft_stream_pause_reading) ---- */

static const weft__wait_kind_t paused_kind = {.name = "a stream whose reading is paused"};

static void unpark_paused(weft_task_t *t)
{
    weft_stream_t *s = t->b->waiter.slot;
    WEFT__LOCK(&s->io.mu);
    if (s->pwait == t)
        s->pwait = NULL;
}

/* Parks the reader until reading resumes, an error is set, or the stream
 * closes. Suspends. */
static int pause_wait(weft_stream_t *s, weft__lk_t *lk)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    if (s->pwait)
        return -EBUSY;
    s->pwait = self;
    self->b->waiter.slot = s;
    return weft__park(self, &paused_kind, s, unpark_paused, WEFT_FOREVER, lk);
}

/* Wakes the reader parked while paused, if there is one (the lock held). */
static void wake_paused(weft_stream_t *s, int status)
{
    weft_task_t *t = s->pwait;
    if (t && weft__claim(t)) {
        s->pwait = NULL;
        weft__deliver(t, status);
    }
}

/* ---- reading ---- */

/* One read: into p[0, n) if p, else into rbuf's free tail (rbuf growing
 * up to n bytes). Waits while nothing is there, or while reading is
 * paused. Returns the count (> 0), 0 at end of stream, or -errno. The
 * buffer's address is taken only after any wait. */
static ssize_t rd(weft_stream_t *s, char *p, size_t n, weft__lk_t *lk)
{
    for (;;) {
        ssize_t r;
        if (s->paused && !s->xerr && !s->rerr && !s->eof) {
            r = pause_wait(s, lk);
        } else {
            r = rd_once(s, p, n, false);
            if (r != WEFT__TR_WANT_READ && r != WEFT__TR_WANT_WRITE)
                return r;
            if (WEFT_UNLIKELY(s->end_idle) && !s->asked && !buffered(s)) {
                /* its server closes: no next message is awaited, but one
                 * that came before the close (still in the kernel, its
                 * edge not yet polled) is read */
                r = rd_once(s, p, n, true);
                if (r != WEFT__TR_WANT_READ && r != WEFT__TR_WANT_WRITE)
                    return r;
                s->eof = true;
                return 0;
            }
            r = ready_wait(s, r == WEFT__TR_WANT_WRITE ? WEFT__EV_OUT : WEFT__EV_IN, lk);
        }
        if (r)
            return r;
        if (s->io.closed)
            return -EBADF;
    }
}

/* Waits until the fd (or the transport, if it waits its own way) is
 * ready for `events`; the lock is let go while the task is parked.
 * Suspends. */
static int ready_wait(weft_stream_t *s, uint32_t events, weft__lk_t *lk)
{
    if (WEFT_LIKELY(!s->tr || !s->tr->wait))
        return weft__io_wait(&s->io, events, lk);
    s->guard = lk;
    int rc = s->tr->wait(s->tctx, events);
    s->guard = NULL;
    return rc;
}

/* Whether a read of n bytes, with nothing buffered, should skip rbuf. */
static bool direct(const weft_stream_t *s, size_t n)
{
    return n >= WEFT__DIRECT || n >= s->limit;
}

/* What every reading call checks first (the lock held). */
static int read_check(const weft_stream_t *s)
{
    if (s->io.closed)
        return -EBADF;
    return s->xerr;
}

/* A caller's buffer of n bytes that no read(2) could fill: a count a
 * ssize_t cannot return, or one that runs past the end of memory. */
static bool bad_span(const void *buf, size_t n)
{
    return n > SSIZE_MAX || (uintptr_t)buf > UINTPTR_MAX - n;
}

ssize_t weft_stream_read(weft_stream_t *s, void *buf, size_t n)
{
    if (!s || (!buf && n) || bad_span(buf, n))
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_read");
    int rc = read_check(s);
    if (rc)
        return rc;
    if (buffered(s) || !n)
        return (ssize_t)take(s, buf, n);
    s->io.users++;
    ssize_t r;
    if (direct(s, n)) {
        r = rd(s, buf, n, &weft__lk);
    } else {
        r = rd(s, NULL, s->limit, &weft__lk);
        if (r > 0)
            r = (ssize_t)take(s, buf, n);
    }
    return leave(s, r, &weft__lk);
}

int weft_stream_read_exactly(weft_stream_t *s, void *buf, size_t n, size_t *got)
{
    if (got)
        *got = 0;
    if (!s || (!buf && n) || bad_span(buf, n))
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_read_exactly");
    int rc = read_check(s);
    if (rc)
        return rc;
    char *p = buf;
    size_t done = take(s, p, n);
    if (done < n) {
        if (done)
            s->asked = true; /* inside a message: not waiting for the next */
        s->io.users++;
        while (done < n) {
            size_t left = n - done;
            ssize_t r;
            if (direct(s, left)) {
                r = rd(s, p + done, left, &weft__lk);
            } else {
                r = rd(s, NULL, s->limit, &weft__lk);
                if (r > 0)
                    r = (ssize_t)take(s, p + done, left);
            }
            if (r <= 0) {
                rc = r ? (int)r : -WEFT_EINCOMPLETE;
                break;
            }
            done += (size_t)r;
        }
        leave(s, 0, &weft__lk);
    }
    if (got)
        *got = done;
    return rc;
}

/* read_until over a line longer than the limit (asyncio's readline):
 * the line is dropped, up to and including its separator, reading on
 * (and dropping) until the separator comes, so the next call starts at
 * the next line; the call returns -EMSGSIZE however its wait ends, and
 * `dropped` counts the line's bytes. While the separator has not come,
 * `skip` is set and the buffer keeps only the last seplen - 1 bytes (a
 * separator may begin there); a call that finds skip set (the one that
 * met the line was interrupted) drops the rest first, then reads on. */
static ssize_t read_until(weft_stream_t *s, const void *sep, size_t seplen, const char **data,
                          const char *call)
{
    if (!s || !sep || !seplen || !data)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, call);
    if (seplen > s->limit)
        return -EINVAL;
    ssize_t rc = read_check(s);
    if (rc)
        return rc;
    /* a line of limit bytes and its separator fit */
    size_t max = s->limit <= SIZE_MAX - seplen ? s->limit + seplen : SIZE_MAX;
    /* bytes from rpos already searched: the next search starts seplen - 1
     * before their end, so a long line is scanned once however it arrives */
    size_t scanned = 0;
    bool over = false; /* this call met an over-long line */
    s->io.users++;
    for (;;) {
        size_t have = buffered(s);
        if (have >= seplen) {
            size_t from = scanned >= seplen ? scanned - (seplen - 1) : 0;
            const char *base = s->rbuf + s->rpos;
            const char *hit = seplen == 1 ? memchr(base + from, *(const char *)sep, have - from)
                                          : memmem(base + from, have - from, sep, seplen);
            if (hit) {
                size_t at = (size_t)(hit - base), len = at + seplen;
                if (!s->skip && at <= s->limit) {
                    *data = base;
                    s->rpos += len;
                    rc = (ssize_t)len;
                    break;
                }
                if (!s->skip) { /* the whole over-long line is here */
                    s->dropped = 0;
                    over = true;
                }
                s->rpos += len;
                s->dropped += len;
                s->skip = false;
                if (over) {
                    rc = -EMSGSIZE;
                    break;
                }
                scanned = 0; /* the rest of an earlier call's line is gone */
                continue;
            }
            scanned = have;
            if (s->skip || have >= max) {
                if (!s->skip) {
                    s->skip = true;
                    s->dropped = 0;
                    over = true;
                }
                size_t n = have - (seplen - 1);
                s->rpos += n;
                s->dropped += n;
                scanned = seplen - 1;
            }
        }
        ssize_t r = rd(s, NULL, max, &weft__lk);
        if (r > 0)
            continue;
        if (r == 0 && s->skip) { /* the over-long line ended with the stream */
            s->dropped += buffered(s);
            s->rpos = s->rend;
            s->skip = false;
        }
        /* an over-long line is reported however the wait ended: a
         * cancellation or a deadline stays for the next call, an end of
         * stream or an error sticks */
        rc = over ? -EMSGSIZE : r ? r : -WEFT_EINCOMPLETE;
        break;
    }
    return leave(s, rc, &weft__lk);
}

ssize_t weft_stream_read_until(weft_stream_t *s, const void *sep, size_t seplen, const char **data)
{
    return read_until(s, sep, seplen, data, "weft_stream_read_until");
}

ssize_t weft_stream_read_line(weft_stream_t *s, const char **line)
{
    return read_until(s, "\n", 1, line, "weft_stream_read_line");
}

size_t weft_stream_overrun_consumed(const weft_stream_t *s)
{
    if (!s)
        return 0;
    WEFT__LOCK((weft__spin_t *)&s->io.mu);
    if (FREED(s)) {
        STALE(s, "weft_stream_overrun_consumed");
        return 0;
    }
    return s->dropped;
}

ssize_t weft_stream_peek(weft_stream_t *s, const char **data)
{
    if (!s || !data)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_peek");
    int rc = read_check(s);
    if (rc)
        return rc;
    *data = s->rbuf ? s->rbuf + s->rpos : "";
    return (ssize_t)buffered(s);
}

ssize_t weft_stream_fill(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_fill");
    int rc = read_check(s);
    if (rc)
        return rc;
    if (buffered(s) >= s->limit)
        return -EMSGSIZE;
    s->io.users++;
    return leave(s, rd(s, NULL, s->limit, &weft__lk), &weft__lk);
}

int weft_stream_consume(weft_stream_t *s, size_t n)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_consume");
    if (s->io.closed)
        return -EBADF;
    if (n > buffered(s))
        return -EINVAL;
    s->rpos += n;
    return 0;
}

bool weft_stream_at_eof(weft_stream_t *s)
{
    if (!s)
        return false;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s)) {
        STALE(s, "weft_stream_at_eof");
        return false;
    }
    if (s->io.closed)
        return false;
    /* The end may have come without a read to see it (the last line came
     * with it, or after it): one read that does not wait tells, when no
     * call is inside the stream and reading is not paused. Bytes it finds
     * stay buffered. */
    if (!s->eof && s->rpos == s->rend && !s->io.users && !s->paused)
        rd_once(s, NULL, s->limit, true);
    return s->eof && s->rpos == s->rend;
}

int weft_stream_set_error(weft_stream_t *s, int err)
{
    if (!s || err >= 0)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_set_error");
    if (s->io.closed)
        return -EBADF;
    s->xerr = err;
    /* the reader waiting for bytes, or for reading to resume, looks again */
    weft__io_wake(&s->io, WEFT__EV_IN);
    wake_paused(s, 0);
    return 0;
}

int weft_stream_pause_reading(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_pause_reading");
    if (s->io.closed)
        return -EBADF;
    s->paused = true; /* a reader waiting for bytes parks again when they come */
    return 0;
}

int weft_stream_resume_reading(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_resume_reading");
    if (s->io.closed)
        return -EBADF;
    s->paused = false;
    wake_paused(s, 0);
    return 0;
}

bool weft_stream_is_closing(const weft_stream_t *s)
{
    if (!s)
        return false;
    WEFT__LOCK((weft__spin_t *)&s->io.mu);
    if (FREED(s)) {
        STALE(s, "weft_stream_is_closing");
        return true;
    }
    return s->closing || s->io.closed || s->werr || s->rerr;
}

/* ---- writing ---- */

/* The queued bytes as at most two iovecs, in order. */
static int ring_segs(const weft_stream_t *s, struct iovec *v)
{
    if (!s->olen)
        return 0;
    size_t first = s->ocap - s->ohead;
    if (first >= s->olen) {
        v[0] = (struct iovec){s->obuf + s->ohead, s->olen};
        return 1;
    }
    v[0] = (struct iovec){s->obuf + s->ohead, first};
    v[1] = (struct iovec){s->obuf, s->olen - first};
    return 2;
}

static void ring_free(weft_stream_t *s)
{
    free(s->obuf);
    s->obuf = NULL;
    s->ocap = s->ohead = s->olen = 0;
}

static void ring_drop(weft_stream_t *s, size_t n)
{
    s->olen -= n;
    s->ohead = (s->ohead + n) & (s->ocap - 1);
    if (!s->olen) {
        s->ohead = 0;
        if (s->ocap > WEFT__OBUF_KEEP)
            ring_free(s); /* a burst's memory goes back */
    }
}

static int ring_put(weft_stream_t *s, const char *p, size_t n)
{
    if (!n)
        return 0;
    if (s->ocap - s->olen < n) {
        size_t need = s->olen + n;
        if (need < n)
            return -ENOMEM;
        size_t cap = s->ocap ? s->ocap : WEFT__OBUF_MIN;
        while (cap < need) {
            if (cap > SIZE_MAX / 2)
                return -ENOMEM;
            cap *= 2;
        }
        char *nb = malloc(cap);
        if (!nb)
            return -ENOMEM;
        struct iovec v[2];
        int k = ring_segs(s, v);
        size_t at = 0;
        for (int i = 0; i < k; i++) {
            memcpy(nb + at, v[i].iov_base, v[i].iov_len);
            at += v[i].iov_len;
        }
        free(s->obuf);
        s->obuf = nb;
        s->ocap = cap;
        s->ohead = 0;
    }
    size_t tail = (s->ohead + s->olen) & (s->ocap - 1);
    size_t first = s->ocap - tail < n ? s->ocap - tail : n;
    memcpy(s->obuf + tail, p, first);
    memcpy(s->obuf, p + first, n - first);
    s->olen += n;
    return 0;
}

/* The write side failed: the error sticks, the queue is dropped. */
static int wfail(weft_stream_t *s, int err)
{
    s->werr = err;
    ring_free(s);
    weft__io_want_out(&s->io, false);
    return err;
}

static ssize_t sys_writev(weft_stream_t *s, struct iovec *v, int k)
{
    if (s->tr) {
        ssize_t r = s->tr->send(s->tctx, v, k);
        /* the transport cleared the readiness it used up; a write that
         * needs a read first (rare) waits for the next writable edge */
        return r == WEFT__TR_WANT_WRITE || r == WEFT__TR_WANT_READ ? -EAGAIN : r;
    }
    for (;;) {
        ssize_t r;
        if (s->sock) {
            if (k == 1) {
                r = send(s->io.bio.fd, v[0].iov_base, v[0].iov_len, MSG_NOSIGNAL);
            } else {
                struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)k};
                r = sendmsg(s->io.bio.fd, &m, MSG_NOSIGNAL);
            }
        } else {
            r = k == 1 ? write(s->io.bio.fd, v[0].iov_base, v[0].iov_len) : writev(s->io.bio.fd, v, k);
        }
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

/* Sends the queue, then iov[0, cnt), as far as the kernel takes them now
 * (one system call when it takes everything), and queues the rest.
 * Returns 0 or the stream's new write error. */
static int out_send(weft_stream_t *s, const struct iovec *iov, int cnt)
{
    size_t off = 0; /* bytes of iov[0] already sent */
    while (s->io.ready & WEFT__EV_OUT) {
        struct iovec v[WEFT__IOV_BATCH];
        int k = ring_segs(s, v);
        size_t want = s->olen;
        for (int i = 0; i < cnt && k < WEFT__IOV_BATCH; i++) {
            size_t o = i ? 0 : off;
            if (iov[i].iov_len > o) {
                v[k++] = (struct iovec){(char *)iov[i].iov_base + o, iov[i].iov_len - o};
                want += iov[i].iov_len - o;
            }
        }
        if (!k)
            break;
        ssize_t r = sys_writev(s, v, k);
        if (r < 0) {
            if (r != -EAGAIN && r != -EWOULDBLOCK)
                return wfail(s, (int)r);
            weft__io_clear(&s->io, WEFT__EV_OUT);
            break;
        }
        if (r > 0)
            weft__io_moved(&s->io.moved_out);
        size_t got = (size_t)r, q = got < s->olen ? got : s->olen;
        if (q)
            ring_drop(s, q);
        got -= q;
        while (got && cnt) {
            size_t len = iov[0].iov_len - off;
            if (got < len) {
                off += got;
                got = 0;
            } else {
                got -= len;
                iov++;
                cnt--;
                off = 0;
            }
        }
        if ((size_t)r < want && !s->tr) {
            /* the kernel is full; its next writable edge calls on_writable
             * (a transport takes a record at a time and clears the
             * readiness itself when the kernel is full) */
            weft__io_clear(&s->io, WEFT__EV_OUT);
            break;
        }
    }
    for (int i = 0; i < cnt; i++) {
        size_t o = i ? 0 : off;
        if (iov[i].iov_len <= o)
            continue; /* an empty piece's base may be NULL: no arithmetic on it */
        int rc = ring_put(s, (const char *)iov[i].iov_base + o, iov[i].iov_len - o);
        if (rc)
            return wfail(s, rc);
    }
    weft__io_want_out(&s->io, s->olen > 0);
    return 0;
}

/* From the backend: the fd became writable and no task waits to write. */
static void on_writable(weft__io_t *io)
{
    weft_stream_t *s = WEFT_CONTAINER_OF(io, weft_stream_t, io);
    out_send(s, NULL, 0);
}

/* ---- deferred writes (defer_writes) ----
 *
 * A write on a deferring stream only appends to the ring and holds the
 * stream on its loop's list (flush.c), which sends each held stream's
 * queue with one call before the loop polls. A write that would queue
 * more than WEFT__DEFER_MAX, or one made outside the stream's loop thread
 * (nothing would flush it there), is sent at once. flush, drain, shutdown
 * and close go through out_wait, which sends the queue whatever its
 * origin; teardown takes the stream off the list, so the list holds only
 * open streams. */

static void held_send(weft__held_t *h)
{
    weft_stream_t *s = WEFT_CONTAINER_OF(h, weft_stream_t, held);
    WEFT__LOCK(&s->io.mu);
    if (s->olen && !s->werr)
        out_send(s, NULL, 0); /* an error sticks for the owner to see */
}

static int out_defer(weft_stream_t *s, const struct iovec *iov, int cnt, size_t total)
{
    weft__loop_t *L = s->io.loop;
    if (s->olen + total > WEFT__DEFER_MAX || WEFT_UNLIKELY(!L || L != weft__loop()))
        return out_send(s, iov, cnt);
    for (int i = 0; i < cnt; i++) {
        int rc = ring_put(s, (const char *)iov[i].iov_base, iov[i].iov_len);
        if (rc)
            return wfail(s, rc);
    }
    if (weft__flush_hold(L, &s->held) < 0)
        return out_send(s, NULL, 0);
    return 0;
}

static int write_check(weft_stream_t *s)
{
    if (s->io.closed)
        return -EBADF;
    if (s->wshut)
        return -ESHUTDOWN;
    if (s->werr)
        return s->werr;
    return s->olen >= s->max_pending ? -ENOBUFS : 0;
}

int weft_stream_write(weft_stream_t *s, const void *buf, size_t n)
{
    if (!s || (!buf && n))
        return -EINVAL;
    weft__coop_spend();
    weft__coop_spend_bytes(n);
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_write");
    int rc = write_check(s);
    if (rc || !n)
        return rc;
    s->asked = false;
    struct iovec v = {(void *)buf, n};
    if (s->defer)
        return out_defer(s, &v, 1, n);
    return out_send(s, &v, 1);
}

int weft_stream_writev(weft_stream_t *s, const struct iovec *iov, int iovcnt)
{
    if (!s || iovcnt < 0 || (!iov && iovcnt))
        return -EINVAL;
    weft__coop_spend();
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_writev");
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_base && iov[i].iov_len)
            return -EINVAL;
        total += iov[i].iov_len;
        if (total < iov[i].iov_len || total > SSIZE_MAX)
            return -EINVAL;
    }
    weft__coop_spend_bytes(total);
    int rc = write_check(s);
    if (rc || !total)
        return rc;
    s->asked = false;
    if (s->defer)
        return out_defer(s, iov, iovcnt, total);
    return out_send(s, iov, iovcnt);
}

/* Sends (waiting for writability) until at most target bytes are queued.
 * The caller counts itself in users. */
static int out_wait(weft_stream_t *s, size_t target, weft__lk_t *lk)
{
    while (s->olen > target) {
        int rc;
        if (s->io.ready & WEFT__EV_OUT) {
            rc = out_send(s, NULL, 0);
        } else {
            rc = ready_wait(s, WEFT__EV_OUT, lk);
            if (!rc && s->io.closed)
                rc = -EBADF;
        }
        if (rc)
            return rc;
    }
    return s->werr;
}

int weft_stream_drain(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_drain");
    if (s->io.closed)
        return -EBADF;
    if (s->werr || s->olen <= s->high)
        return s->werr;
    s->io.users++;
    return (int)leave(s, out_wait(s, s->low, &weft__lk), &weft__lk);
}

int weft_stream_flush(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_flush");
    if (s->io.closed)
        return -EBADF;
    if (s->werr || !s->olen)
        return s->werr;
    s->io.users++;
    return (int)leave(s, out_wait(s, 0, &weft__lk), &weft__lk);
}

static int notify_close(weft_stream_t *s, weft__lk_t *lk);

int weft_stream_shutdown(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_shutdown");
    if (s->io.closed)
        return -EBADF;
    if (!s->sock)
        return -ENOTSOCK;
    if (s->wshut)
        return 0;
    s->io.users++;
    int rc = out_wait(s, 0, &weft__lk);
    if (!rc && s->tr)
        rc = notify_close(s, &weft__lk);
    if (!rc) {
        if (shutdown(s->io.bio.fd, SHUT_WR) < 0)
            rc = -errno;
        else
            s->wshut = true;
    }
    return (int)leave(s, rc, &weft__lk);
}

/* ---- closing ---- */

#define WEFT__NOTIFY_WAIT WEFT_SEC(1) /* at most this long for close_notify */

/* The transport's close_notify, waiting for writability at most
 * WEFT__NOTIFY_WAIT (and the caller's deadline scopes); not at all
 * outside a task. The caller counts itself in users. 0 or -errno. */
static int notify_close(weft_stream_t *s, weft__lk_t *lk)
{
    if (s->werr)
        return s->werr;
    weft_deadline_t d;
    bool scoped = false;
    int rc;
    for (;;) {
        rc = s->tr->close_notify(s->tctx);
        if (rc != WEFT__TR_WANT_WRITE && rc != WEFT__TR_WANT_READ)
            break;
        if (!scoped) {
            if (!weft__task() || weft_deadline_push(&d, WEFT__NOTIFY_WAIT) < 0) {
                rc = -EAGAIN;
                break;
            }
            scoped = true;
        }
        rc = ready_wait(s, rc == WEFT__TR_WANT_WRITE ? WEFT__EV_OUT : WEFT__EV_IN, lk);
        if (!rc && s->io.closed)
            rc = -EBADF;
        if (rc)
            break;
    }
    if (scoped)
        weft_deadline_pop(&d);
    return rc;
}

/* Wakes the waiters (-EBADF) and has the fd forgotten and closed on the
 * home thread; the memory stays until the last call inside leaves (the
 * lock held). */
static void teardown(weft_stream_t *s)
{
    ring_free(s);
    wake_paused(s, -EBADF);
    weft__io_shut(&s->io);
}

int weft_stream_close(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_close");
    if (s->io.closed)
        return -EBADF;
    s->io.users++;
    s->closing = true;
    int rc = s->werr ? s->werr : out_wait(s, 0, &weft__lk);
    if (s->tr && !rc && !s->io.closed && !s->wshut) {
        /* only after the whole queue left: a stream cut short has no
         * close_notify, so the peer can tell */
        rc = notify_close(s, &weft__lk);
        if (rc == -EBADF)
            rc = 0;
    }
    if (!s->io.closed)
        teardown(s);
    leave(s, 0, &weft__lk);
    return rc;
}

int weft_stream_abort(weft_stream_t *s)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK(&s->io.mu);
    if (FREED(s))
        return STALE(s, "weft_stream_abort");
    if (s->io.closed)
        return -EBADF;
    teardown(s);
    if (weft__io_idle(&s->io)) {
        weft__lk_drop(&weft__lk);
        destroy(s);
    }
    return 0;
}

int weft__stream_fd(const weft_stream_t *s, const char *call)
{
    if (!s)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&s->io.mu);
    if (FREED(s))
        return STALE(s, call);
    return !s->io.closed ? s->io.bio.fd : -EBADF;
}

int weft_stream_fd(const weft_stream_t *s)
{
    return weft__stream_fd(s, "weft_stream_fd");
}

size_t weft_stream_pending(const weft_stream_t *s)
{
    if (!s)
        return 0;
    WEFT__LOCK((weft__spin_t *)&s->io.mu);
    if (FREED(s)) {
        STALE(s, "weft_stream_pending");
        return 0;
    }
    return s->olen;
}

/* ---- the transport hook (stream.h) ---- */

void weft__stream_set_transport(weft_stream_t *s, const weft__transport_t *tr, void *ctx)
{
    s->tr = tr;
    s->tctx = ctx;
}

void *weft__stream_transport(const weft_stream_t *s, const weft__transport_t *tr)
{
    return s && weft__stream_live(s) && s->tr == tr ? s->tctx : NULL;
}

weft__io_t *weft__stream_io(weft_stream_t *s)
{
    return &s->io;
}

weft__lk_t *weft__stream_guard(weft_stream_t *s)
{
    return s->guard;
}

int weft__stream_out_segs(weft_stream_t *s, struct iovec v[2])
{
    return s->io.closed ? 0 : ring_segs(s, v);
}

void weft__stream_out_done(weft_stream_t *s, ssize_t res)
{
    if (s->io.closed || s->werr)
        return;
    if (res < 0) {
        wfail(s, (int)res);
        return;
    }
    ring_drop(s, (size_t)res < s->olen ? (size_t)res : s->olen);
    weft__io_want_out(&s->io, s->olen > 0);
}

void weft__stream_hold(weft_stream_t *s)
{
    s->io.users++;
}

void weft__stream_unhold(weft_stream_t *s, weft__lk_t *lk)
{
    leave(s, 0, lk);
}

int weft__stream_wait(weft_stream_t *s, uint32_t events)
{
    WEFT__LOCK(&s->io.mu);
    if (s->io.closed)
        return -EBADF;
    s->io.users++;
    int rc = ready_wait(s, events, &weft__lk);
    if (s->io.closed)
        rc = -EBADF;
    return (int)leave(s, rc, &weft__lk);
}

void weft__stream_fail(weft_stream_t *s, int err)
{
    WEFT__LOCK(&s->io.mu);
    if (!s->rerr)
        s->rerr = err;
    if (!s->werr)
        wfail(s, err);
}

void weft__stream_end_idle(weft_stream_t *s)
{
    WEFT__LOCK(&s->io.mu);
    if (FREED(s) || s->io.closed)
        return;
    s->end_idle = true;
    weft__io_wake(&s->io, WEFT__EV_IN); /* a reader waiting now looks again */
}

size_t weft__stream_buffered(const weft_stream_t *s)
{
    WEFT__LOCK((weft__spin_t *)&s->io.mu);
    return buffered(s) + s->olen;
}
