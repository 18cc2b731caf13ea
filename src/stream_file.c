/* stream_file.c - streams over fds that have no readiness to wait for:
 * regular files, /dev/null, anything the backend refuses with EPERM
 * (`./robot < commands.txt`, `./server > log.txt`). Reads and writes go
 * through the loop's thread pool, as weft_file_* do, behind stream.c's
 * transport hook (stream.h), so every stream call works unchanged.
 *
 * Owns: a duplicate of the stream's fd (the pool's jobs use it, so a
 * close of the stream's fd can never race a job: the duplicate is closed
 * only when the stream is freed, when no call is inside it and no job
 * runs), a read-ahead buffer, a copy of the bytes being written, one job
 * record each way, and the background writer.
 *
 * Reading: recv hands out what the read-ahead buffer holds, else asks to
 * wait; the wait runs one read(2) of up to FILE_CHUNK bytes on the pool
 * (the task is held until it returns, so a read either happened or did
 * not) and fills the buffer. End of file is a read that returns 0, as a
 * peer's end is on a socket. One reader at a time (-EBUSY else).
 *
 * Writing: weft_stream_write never suspends, so a send only asks to wait
 * (stream.c queues the bytes) and starts the background writer, a task
 * that flushes the stream until its queue is empty. A wait to write
 * (drain, flush, close, the writer's own flush) waits for a write in
 * flight to end, then copies the head of the queue and writes it on the
 * pool with write(2), all of it unless an error comes first; the stream's
 * lock is let go meanwhile (stream.h's guard), so other tasks, on any
 * worker, may queue more. So output leaves
 * soon after it is written, also while the writing task does something
 * else, as on a socket; an error sticks to the stream as a send error
 * does.
 *
 * What cannot work says so: shutdown and socket options -ENOTSOCK, TLS
 * -ENOTSOCK, a call outside a task that would have to wait -WEFT_ENOTASK, a
 * read of a directory -EISDIR, of a write-only fd -EBADF (read(2)'s own
 * words).
 */
#include "pool.h"
#include "stream.h"
#include "io.h"
#include "loop.h"
#include "spin.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_CHUNK 65536 /* bytes per read(2) or write(2) job */

typedef struct fjob {
    int fd;
    char *buf;
    size_t n;
    ssize_t res; /* count, or -errno */
    bool write;
} fjob_t;

typedef struct fstream {
    weft_stream_t *s; /* NULL once the stream is freed */
    int fd;           /* the pool's duplicate */
    /* reading */
    char *rb;
    size_t rpos, rlen;
    int rerr;
    bool reof, reading;
    fjob_t rjob;
    /* writing */
    char *wb;
    fjob_t wjob;
    bool writing, writer_alive;
    weft__wlist_t write_waiters; /* tasks waiting for the write in flight */
} fstream_t;

static const weft__wait_kind_t write_kind = {.name = "a file write"};

/* On a pool thread. */
static int fjob_run(void *arg, void **result)
{
    (void)result;
    fjob_t *j = arg;
    ssize_t r = 0;
    if (!j->write) {
        do
            r = read(j->fd, j->buf, j->n);
        while (r < 0 && errno == EINTR);
        j->res = r < 0 ? -errno : r;
        return 0;
    }
    size_t done = 0;
    while (done < j->n) {
        r = write(j->fd, j->buf + done, j->n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    j->res = done > 0 || r >= 0 ? (ssize_t)done : -errno;
    return 0;
}

/* A pool job for the task inside a stream call: the stream's lock is
 * let go while it runs, so other tasks (other workers, or this one's
 * background writer) can use the stream meanwhile; f->reading and
 * f->writing keep them off this job's buffers. */
static int job_run(weft__lk_t *g, fjob_t *j)
{
    if (g)
        weft__lk_drop(g);
    int rc = weft__pool_run(fjob_run, j, NULL, false, NULL);
    if (g)
        weft__lk_retake(g);
    return rc;
}

/* ---- the transport ---- */

static ssize_t fs_recv(void *ctx, char *p, size_t n)
{
    fstream_t *f = ctx;
    if (f->rpos < f->rlen) {
        size_t m = f->rlen - f->rpos;
        if (m > n)
            m = n;
        memcpy(p, f->rb + f->rpos, m);
        f->rpos += m;
        return (ssize_t)m;
    }
    if (f->rerr)
        return f->rerr;
    if (f->reof)
        return 0;
    return WEFT__TR_WANT_READ;
}

/* The background writer: flushes until nothing is queued, or the stream
 * fails or goes away. */
static int writer_main(void *arg, void **result)
{
    (void)result;
    fstream_t *f = arg;
    while (f->s && weft_stream_pending(f->s) > 0 && weft_stream_flush(f->s) == 0)
        ;
    return 0;
}

static void writer_kick(fstream_t *f);

/* The writer has ended (also one cancelled before it ran, as a closing
 * runtime does): the next write finds the way open and starts another.
 * The writer's hold kept the stream (and f) allocated until now. */
static void writer_done(weft_task_t *t, void *arg)
{
    (void)t;
    fstream_t *f = arg;
    weft_stream_t *s = f->s;
    weft__io_t *io = weft__stream_io(s);
    WEFT__LOCK(&io->mu);
    f->writer_alive = false;
    io->ready |= WEFT__EV_OUT;
    struct iovec v[2];
    if (weft__stream_out_segs(s, v) > 0)
        writer_kick(f); /* bytes queued after its last look */
    weft__stream_unhold(s, &weft__lk); /* may free s and f */
}

/* Starts the background writer (the stream's lock held), unless one runs
 * or a write is in flight (whoever does it flushes on). It runs on the
 * stream's home worker and holds the stream until it ends. Without one
 * (no memory), the bytes stay queued for drain, flush or close. */
static void writer_kick(fstream_t *f)
{
    if (f->writer_alive || f->writing || !weft__loop())
        return;
    weft_task_t *t;
    weft_task_opts_t o = {.name = "weft-file-writer",
                          .place = WEFT_PLACE_WORKER,
                          .worker = weft__stream_io(f->s)->loop->index};
    if (weft_spawn(&t, writer_main, f, &o) < 0)
        return;
    if (weft_task_on_done(t, writer_done, f) == 0) {
        f->writer_alive = true;
        weft__stream_hold(f->s);
    } else {
        weft_cancel(t); /* it ends unrun: nothing of f is touched */
    }
    weft_task_release(t);
}

static ssize_t fs_send(void *ctx, const struct iovec *v, int k)
{
    (void)v, (void)k;
    writer_kick(ctx); /* the bytes stay queued: a wait to write takes them */
    return WEFT__TR_WANT_WRITE;
}

static int fs_close_notify(void *ctx)
{
    (void)ctx;
    return 0;
}

static void fs_free(void *ctx)
{
    fstream_t *f = ctx;
    f->s = NULL;
    close(f->fd);
    free(f->rb);
    free(f->wb);
    free(f);
}

static void unpark_writer(weft_task_t *t)
{
    fstream_t *f = t->b->waiter.slot;
    WEFT__LOCK(&weft__stream_io(f->s)->mu);
    weft__wlist_remove(&t->b->waiter);
}

/* Writes the head of the stream's queue, up to FILE_CHUNK bytes, on the
 * pool; what left comes off the queue, an error sticks to the stream.
 * Suspends (the stream's lock let go). */
static int write_queued(fstream_t *f, weft__lk_t *g)
{
    struct iovec v[2];
    int k = weft__stream_out_segs(f->s, v);
    if (!k)
        return 0;
    if (!f->wb && !(f->wb = malloc(FILE_CHUNK)))
        return -ENOMEM;
    /* a copy: other tasks may queue more (and move nothing) meanwhile */
    size_t n = 0;
    for (int i = 0; i < k && n < FILE_CHUNK; i++) {
        size_t m = v[i].iov_len < FILE_CHUNK - n ? v[i].iov_len : FILE_CHUNK - n;
        memcpy(f->wb + n, v[i].iov_base, m);
        n += m;
    }
    f->wjob = (fjob_t){.fd = f->fd, .buf = f->wb, .n = n, .write = true};
    f->writing = true;
    int rc = job_run(g, &f->wjob);
    f->writing = false;
    weft__waiter_t *w;
    while ((w = weft__wlist_take(&f->write_waiters)))
        weft__deliver(w->task, 0);
    if (rc < 0) /* cancelled or out of time before it started: not written */
        return rc;
    weft__stream_out_done(f->s, f->wjob.res == 0 ? -EIO : f->wjob.res);
    return 0;
}

static int fs_wait(void *ctx, uint32_t events)
{
    fstream_t *f = ctx;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    /* read now: other tasks set the stream's guard while this one is parked */
    weft__lk_t *g = weft__stream_guard(f->s);
    if (events & WEFT__EV_OUT) {
        while (f->writing) {
            weft__wlist_push(&f->write_waiters, &self->b->waiter);
            self->b->waiter.slot = f;
            rc = weft__park(self, &write_kind, f, unpark_writer, WEFT_FOREVER, g);
            if (rc)
                return rc;
        }
        return write_queued(f, g);
    }
    if (f->reading)
        return -EBUSY;
    if (f->rpos < f->rlen || f->reof || f->rerr)
        return 0;
    if (!f->rb && !(f->rb = malloc(FILE_CHUNK)))
        return -ENOMEM;
    f->rjob = (fjob_t){.fd = f->fd, .buf = f->rb, .n = FILE_CHUNK};
    f->reading = true;
    rc = job_run(g, &f->rjob);
    f->reading = false;
    if (rc < 0)
        return rc; /* nothing was read */
    f->rpos = 0;
    f->rlen = 0;
    if (f->rjob.res > 0)
        f->rlen = (size_t)f->rjob.res;
    else if (f->rjob.res == 0)
        f->reof = true;
    else
        f->rerr = (int)f->rjob.res;
    return 0;
}

static const weft__transport_t file_transport = {
    .recv = fs_recv,
    .send = fs_send,
    .close_notify = fs_close_notify,
    .free = fs_free,
    .wait = fs_wait,
};

/* ---- stream.h ---- */

int weft__stream_file_attach(weft_stream_t *s)
{
    weft__io_t *io = weft__stream_io(s);
    fstream_t *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->fd = fcntl(weft__io_fd(io), F_DUPFD_CLOEXEC, 0);
    if (f->fd < 0) {
        int e = errno;
        free(f);
        return -e;
    }
    f->s = s;
    weft__stream_set_transport(s, &file_transport, f);
    return 0;
}

bool weft__stream_is_file(const weft_stream_t *s)
{
    return weft__stream_transport(s, &file_transport) != NULL;
}
