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
 * Writing: weft_stream_write never suspends, so a send that may not
 * block only asks to wait (stream.c queues the bytes) and starts the
 * background writer, a task that flushes the stream until its queue is
 * empty. A wait to write (drain, flush, close, the writer's own flush)
 * waits for a write in flight to end, then lets the next send block: that
 * send copies the offered bytes and writes them on the pool with
 * write(2), all of them unless an error comes first. So output leaves
 * soon after it is written, also while the writing task does something
 * else, as on a socket; an error sticks to the stream as a send error
 * does.
 *
 * What cannot work says so: shutdown and socket options -ENOTSOCK, TLS
 * -ENOTSOCK, a call outside a task that would have to wait -EPERM, a
 * read of a directory -EISDIR, of a write-only fd -EBADF (read(2)'s own
 * words).
 */
#include "pool.h"
#include "stream.h"
#include "io.h"

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
    uint32_t refs;    /* the stream's, plus the background writer's */
    /* reading */
    char *rb;
    size_t rpos, rlen;
    int rerr;
    bool reof, reading;
    fjob_t rjob;
    /* writing */
    char *wb;
    fjob_t wjob;
    bool writing, may_block, writer_alive;
    weft__wlist_t write_waiters; /* tasks waiting for the write in flight */
} fstream_t;

static const weft__wait_kind_t write_kind = {.name = "a file write"};

static void fs_unref(fstream_t *f)
{
    if (--f->refs)
        return;
    free(f->rb);
    free(f->wb);
    free(f);
}

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

/* The writer has ended (also one cancelled before it ran, as a closing
 * runtime does): the next write finds the way open and starts another. */
static void writer_done(weft_task_t *t, void *arg)
{
    (void)t;
    fstream_t *f = arg;
    f->writer_alive = false;
    if (f->s)
        weft__stream_io(f->s)->ready |= WEFT__EV_OUT;
    fs_unref(f);
}

/* Starts the background writer, unless one runs or a write is in flight
 * (whoever does it flushes on). Without one (no memory), the bytes stay
 * queued for drain, flush or close. */
static void writer_kick(fstream_t *f)
{
    if (f->writer_alive || f->writing || !weft__loop())
        return;
    weft_task_t *t;
    weft_task_opts_t o = {.name = "weft-file-writer", .place = WEFT_PLACE_HERE};
    if (weft_spawn(&t, writer_main, f, &o) < 0)
        return;
    if (weft_task_on_done(t, writer_done, f) == 0) {
        f->writer_alive = true;
        f->refs++;
    } else {
        weft_cancel(t); /* it ends unrun: nothing of f is touched */
    }
    weft_task_release(t);
}

static ssize_t fs_send(void *ctx, const struct iovec *v, int k)
{
    fstream_t *f = ctx;
    if (!f->may_block || f->writing || !weft__task()) {
        f->may_block = false;
        writer_kick(f);
        return WEFT__TR_WANT_WRITE;
    }
    f->may_block = false;
    if (!f->wb && !(f->wb = malloc(FILE_CHUNK)))
        return -ENOMEM;
    /* a copy: the stream's queue may move while the job runs */
    size_t n = 0;
    for (int i = 0; i < k && n < FILE_CHUNK; i++) {
        size_t m = v[i].iov_len < FILE_CHUNK - n ? v[i].iov_len : FILE_CHUNK - n;
        memcpy(f->wb + n, v[i].iov_base, m);
        n += m;
    }
    f->wjob = (fjob_t){.fd = f->fd, .buf = f->wb, .n = n, .write = true};
    f->writing = true;
    int rc = weft__pool_run(fjob_run, &f->wjob, NULL, false, NULL);
    f->writing = false;
    weft__waiter_t *w;
    while ((w = weft__wlist_take(&f->write_waiters)))
        weft__deliver(w->task, 0);
    if (rc < 0) /* cancelled or out of time before it started: not written */
        return rc == -ECANCELED || rc == -ETIMEDOUT ? WEFT__TR_WANT_WRITE : rc;
    return f->wjob.res == 0 ? -EIO : f->wjob.res;
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
    f->fd = -1;
    fs_unref(f);
}

static void unpark_writer(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
}

static int fs_wait(void *ctx, uint32_t events)
{
    fstream_t *f = ctx;
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__io_t *io = weft__stream_io(f->s);
    if (events & WEFT__EV_OUT) {
        while (f->writing) {
            weft__wlist_push(&f->write_waiters, &self->b->waiter);
            rc = weft__park(self, &write_kind, f, unpark_writer, WEFT_FOREVER, NULL);
            if (rc)
                return rc;
        }
        f->may_block = true; /* for the send that follows at once */
        io->ready |= WEFT__EV_OUT;
        return 0;
    }
    if (f->reading)
        return -EBUSY;
    if (f->rpos < f->rlen || f->reof || f->rerr)
        return 0;
    if (!f->rb && !(f->rb = malloc(FILE_CHUNK)))
        return -ENOMEM;
    f->rjob = (fjob_t){.fd = f->fd, .buf = f->rb, .n = FILE_CHUNK};
    f->reading = true;
    rc = weft__pool_run(fjob_run, &f->rjob, NULL, false, NULL);
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
    f->refs = 1;
    weft__stream_set_transport(s, &file_transport, f);
    return 0;
}

bool weft__stream_is_file(const weft_stream_t *s)
{
    return weft__stream_transport(s, &file_transport) != NULL;
}
