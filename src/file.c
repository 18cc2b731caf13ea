/* file.c - files whose operations suspend only the calling task:
 * weft_file_open, read, write, pread, pwrite, sync, close.
 *
 * Owns: weft_file_t (an fd and a count of operations in flight) and the
 * operation records handed to the pool.
 *
 * Each operation is one job on the loop's thread pool, run with
 * weft__pool_run in its held (non-detachable) mode: once the job is
 * queued, the task waits for it whatever happens, so the call always
 * knows the outcome. The rule the header documents:
 *   - cancelled (or past its deadline) before the call: returns
 *     -ECANCELED (-ETIMEDOUT) and nothing was done;
 *   - cancelled while the job waits or runs: the job completes and the
 *     call returns its result (bytes done); the request is kept and
 *     shows at the task's next suspending call.
 * So a non-negative return always means "done, this much", a negative
 * one "not done" (or the system call's own error).
 *
 * What a pool thread touches lives on the heap: the operation record,
 * and the data itself when the caller's buffer is on the calling task's
 * stack (in copy-stack mode a suspended task's stack is saved elsewhere,
 * and its addresses mean another task's frames meanwhile). Such a buffer
 * is copied through a heap buffer of the same size; any other buffer is
 * used in place. io_uring can later do the same operations behind these
 * calls without changing them.
 */
#include "pool.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct weft_file {
    int fd;
    atomic_uint busy; /* operations in flight (tasks of any worker) */
};

enum { OP_OPEN, OP_READ, OP_PREAD, OP_WRITE, OP_PWRITE, OP_SYNC, OP_DATASYNC, OP_CLOSE };

typedef struct weft__fop {
    int op, fd, flags;
    mode_t mode;
    void *buf;
    size_t n;
    off_t off;
    ssize_t res; /* the result, or -errno */
    char data[]; /* the path (open), or the bounce buffer */
} weft__fop_t;

/* On a pool thread. */
static int fop_run(void *arg, void **result)
{
    (void)result;
    weft__fop_t *o = arg;
    ssize_t r = 0;
    size_t done = 0;
    switch (o->op) {
    case OP_OPEN:
        do
            r = open(o->data, o->flags | O_CLOEXEC, o->mode);
        while (r < 0 && errno == EINTR);
        break;
    case OP_READ:
    case OP_PREAD:
        do
            r = o->op == OP_READ ? read(o->fd, o->buf, o->n) : pread(o->fd, o->buf, o->n, o->off);
        while (r < 0 && errno == EINTR);
        break;
    case OP_WRITE:
    case OP_PWRITE:
        /* all of it, unless an error comes first: then what was done */
        while (done < o->n) {
            const char *p = (const char *)o->buf + done;
            r = o->op == OP_WRITE ? write(o->fd, p, o->n - done)
                                  : pwrite(o->fd, p, o->n - done, o->off + (off_t)done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            done += (size_t)r;
        }
        if (done > 0 || r >= 0)
            r = (ssize_t)done; /* an error after some progress: the progress */
        break;
    case OP_SYNC:
        r = fsync(o->fd);
        break;
    case OP_DATASYNC:
        r = fdatasync(o->fd);
        break;
    case OP_CLOSE:
        r = close(o->fd); /* never retried: the fd is gone either way */
        break;
    }
    o->res = r < 0 ? -errno : r;
    return 0;
}

/* True when [p, p+n) overlaps the stack of a coroutine the calling code
 * runs on (the task's own, or one it resumed): such memory must not be
 * handed to another thread (see the header comment). */
static bool on_own_stack(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, e = a + n;
    for (weft_coro_t *co = weft__self.current; co && co != &weft__self.root; co = co->resumer) {
        uintptr_t lo = (uintptr_t)co->stack.base, hi = lo + co->stack.size;
        if (co->stack.base && a < hi && e > lo)
            return true;
    }
    return false;
}

/* Runs o on the pool, held; the status of the call (see the header). */
static int run_op(weft__fop_t *o)
{
    int rc = weft__pool_run(fop_run, o, NULL, false, NULL);
    return rc < 0 ? rc : 0;
}

/* A record for an operation on buf (n bytes; `in`: data flows into buf),
 * with a bounce buffer when buf is on the task's stack. */
static weft__fop_t *fop_new(int op, int fd, const void *buf, size_t n, off_t off, bool in)
{
    bool bounce = n > 0 && on_own_stack(buf, n);
    weft__fop_t *o = malloc(sizeof *o + (bounce ? n : 0));
    if (!o)
        return NULL;
    memset(o, 0, sizeof *o);
    o->op = op;
    o->fd = fd;
    o->n = n;
    o->off = off;
    o->buf = bounce ? o->data : (void *)buf;
    if (bounce && !in)
        memcpy(o->data, buf, n);
    return o;
}

static weft_task_t *task_or_null(void)
{
    return weft__task();
}

int weft_file_open(weft_file_t **f, const char *path, int flags, mode_t mode)
{
    if (!f || !path)
        return -EINVAL;
    *f = NULL;
    if (!task_or_null())
        return -WEFT_ENOTASK;
    weft_file_t *file = malloc(sizeof *file);
    size_t len = strlen(path);
    weft__fop_t *o = malloc(sizeof *o + len + 1);
    if (!file || !o) {
        free(file);
        free(o);
        return -ENOMEM;
    }
    memset(o, 0, sizeof *o);
    o->op = OP_OPEN;
    o->flags = flags;
    o->mode = mode;
    memcpy(o->data, path, len + 1);
    int rc = run_op(o);
    if (rc == 0)
        rc = (int)o->res;
    free(o);
    if (rc < 0) {
        free(file);
        return rc;
    }
    file->fd = rc;
    atomic_init(&file->busy, 0);
    *f = file;
    return 0;
}

static ssize_t io_op(weft_file_t *f, int op, void *buf, size_t n, off_t off, bool in)
{
    if (!f || (!buf && n > 0) || n > SSIZE_MAX ||
        ((op == OP_PREAD || op == OP_PWRITE) && off < 0))
        return -EINVAL;
    if (!task_or_null())
        return -WEFT_ENOTASK;
    weft__fop_t *o = fop_new(op, f->fd, buf, n, off, in);
    if (!o)
        return -ENOMEM;
    atomic_fetch_add_explicit(&f->busy, 1, memory_order_relaxed);
    ssize_t rc = run_op(o);
    atomic_fetch_sub_explicit(&f->busy, 1, memory_order_release);
    if (rc == 0) {
        rc = o->res;
        if (in && rc > 0 && o->buf != buf)
            memcpy(buf, o->buf, (size_t)rc);
    }
    free(o);
    return rc;
}

ssize_t weft_file_read(weft_file_t *f, void *buf, size_t n)
{
    return io_op(f, OP_READ, buf, n, 0, true);
}

ssize_t weft_file_pread(weft_file_t *f, void *buf, size_t n, off_t off)
{
    return io_op(f, OP_PREAD, buf, n, off, true);
}

ssize_t weft_file_write(weft_file_t *f, const void *buf, size_t n)
{
    return io_op(f, OP_WRITE, (void *)buf, n, 0, false);
}

ssize_t weft_file_pwrite(weft_file_t *f, const void *buf, size_t n, off_t off)
{
    return io_op(f, OP_PWRITE, (void *)buf, n, off, false);
}

int weft_file_sync(weft_file_t *f, bool data_only)
{
    if (!f)
        return -EINVAL;
    if (!task_or_null())
        return -WEFT_ENOTASK;
    weft__fop_t *o = fop_new(data_only ? OP_DATASYNC : OP_SYNC, f->fd, NULL, 0, 0, false);
    if (!o)
        return -ENOMEM;
    atomic_fetch_add_explicit(&f->busy, 1, memory_order_relaxed);
    int rc = run_op(o);
    atomic_fetch_sub_explicit(&f->busy, 1, memory_order_release);
    if (rc == 0)
        rc = (int)o->res;
    free(o);
    return rc;
}

int weft_file_close(weft_file_t *f)
{
    if (!f)
        return -EINVAL;
    if (atomic_load_explicit(&f->busy, memory_order_acquire))
        return -EBUSY;
    if (!task_or_null())
        return -WEFT_ENOTASK;
    weft__fop_t *o = fop_new(OP_CLOSE, f->fd, NULL, 0, 0, false);
    int rc = o ? run_op(o) : -ENOMEM;
    if (rc == 0) {
        rc = (int)o->res;
    } else {
        /* cancelled before it started, or no pool: close here (the file
         * must not leak; a close of a local file does not block long) */
        rc = close(f->fd) < 0 && errno != EINTR ? -errno : 0;
    }
    free(o);
    free(f);
    return rc;
}

int weft_file_fd(const weft_file_t *f)
{
    return f ? f->fd : -EINVAL;
}
