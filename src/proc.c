/* proc.c - subprocesses: spawn, pipes as streams, wait, signals,
 * communicate.
 *
 * Owns: a child's pid, its pidfd (the readiness of which says "exited"),
 * its pipe streams, and its return code once reaped.
 *
 * Children start through posix_spawn, which glibc runs as clone(CLONE_VM |
 * CLONE_VFORK): the parent's memory is not copied, so starting a program
 * from a 4 GiB parent costs what it costs from a small one, and an exec
 * failure comes back as posix_spawn's own return value (checked once per
 * process: where the C library cannot report it, under Valgrind or an
 * emulator that runs the child as a real fork, an access() check before
 * each spawn does). The child gets an empty signal mask and default
 * dispositions (the loop blocks signals it reads through a signalfd and
 * ignores SIGPIPE; neither must leak into programs it starts).
 *
 * Reaping, three ways. (1) A thread that has several children alive
 * (REAPER_MIN) waits through an io_uring of its own (the reaper): a wait
 * submits one IORING_OP_WAITID for the pid, which the kernel completes by
 * reaping the child into p->si; the ring's fd is watched by the loop, and
 * the completion wakes the task. One system call per wait, no fd per
 * child: the pidfd way costs a pidfd_open (the kernel builds a pidfs
 * inode and dentry), an epoll_ctl ADD and DEL and a close per child,
 * which measured about 7% of the throughput of a loop that starts
 * /bin/true 16 at a time (the parent thread is the serial path there).
 * (2) Otherwise a wait first tries waitpid(WNOHANG) (a wait that begins
 * after the child ended costs nothing more), then opens a pidfd, watches
 * it and reaps with one waitpid(WNOHANG) once it fires (the kernel marks
 * the child a zombie before it wakes pidfd pollers). (3) Without pidfds
 * (kernels before 5.3, or Valgrind) a wait polls waitpid on a
 * backing-off sleep.
 *
 * Invariants: `reaped` is set once, by whoever collected the status, and
 * the pid is never signalled after that (it may belong to another process
 * by then). A waitid request is in flight only while a task is parked in
 * weft_proc_wait on p (so p, which holds the siginfo the kernel writes,
 * stays alive: destroy says -EBUSY then); a cancelled wait cancels its
 * request and drains its completion before it returns. While one is in
 * flight nothing else reaps p (no waitpid on it): the ring does, inside
 * task work that runs when this thread returns from any system call, and
 * posts the completion in the same step, so draining the completion queue
 * (memory reads) tells whether it has happened.
 */
#include "io.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>

static const weft__wait_kind_t wait_kind = {.name = "a child process"};
#endif

extern char **environ;

typedef struct reaper reaper_t;
typedef struct proc_thread proc_thread_t;

struct weft_proc {
    pid_t pid;
    int pidfd; /* -1: none (not opened yet, or no pidfd support) */
    bool reaped;
    bool no_pidfd;            /* pidfd_open failed: poll */
    bool in_ring;             /* a waitid request for the pid is in flight */
    bool ring_failed;         /* one ended in an error that reaped nothing */
    unsigned waiting;         /* tasks in weft_proc_wait (several may poll) */
    int code;                 /* exit status, or -signal */
    int64_t started;          /* CLOCK_MONOTONIC ns at the spawn's return */
    weft__loop_t *loop;       /* the loop that started it: waits belong there */
    proc_thread_t *pt;        /* the starting thread's record */
    reaper_t *rp;             /* that thread's reaper, when p waits through it */
    weft_task_t *ring_waiter; /* the task parked on the request */
    siginfo_t si;             /* what the ring's waitid fills */
    weft__io_t io;            /* the pidfd's, while pidfd >= 0 */
    weft_stream_t *in, *out, *err;
};

static int pidfd_open_(pid_t pid)
{
#if defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Whether pidfds work here (0 not known, 1 yes, 2 no: kernels before
 * 5.3, or Valgrind, which may not know the call). Asked once, on this
 * process's own pid; a failure that says nothing (no fd to spare) leaves
 * it open. */
static _Atomic int pidfd_ok;

static bool pidfd_usable(void)
{
    int v = atomic_load_explicit(&pidfd_ok, memory_order_relaxed);
    if (WEFT_LIKELY(v))
        return v == 1;
    int fd = pidfd_open_(getpid());
    if (fd >= 0) {
        close(fd);
        v = 1;
    } else {
        v = errno == ENOSYS || errno == EPERM || errno == EINVAL ? 2 : 0;
    }
    if (v)
        atomic_store_explicit(&pidfd_ok, v, memory_order_relaxed);
    return v != 2;
}

/* A wait that begins this soon after the spawn returned does not look
 * for an ended child first: no program gets through exec and its dynamic
 * loader that fast, and one that did would make its pidfd readable at
 * once anyway. */
#define FRESH_NS WEFT_USEC(200)

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return -1;
}

/* ---- the reaper: one io_uring per thread that starts several children ---- */

/* Children of this thread alive (the new one not counted) before a spawn
 * waits through the reaper: a lone child keeps the pidfd way, so a
 * program that runs one command at a time never sets up a ring (about
 * 50 us, more than the pidfd costs for a few children). */
#define REAPER_MIN 4
#define REAPER_ENTRIES 64u
/* At most this many requests in flight (the completion queue holds twice
 * REAPER_ENTRIES, so it never overflows); more waits take the pidfd way. */
#define REAPER_MAX_INFLIGHT REAPER_ENTRIES
/* user_data of a cancel request; a proc pointer is never 1 */
#define REAPER_CANCEL UINT64_C(1)
/* IORING_OP_WAITID (Linux 6.7): older headers lack it */
#define REAPER_OP_WAITID 50

typedef struct reaper {
    int fd; /* -1: none open */
    unsigned sq_mask, cq_mask;
    unsigned *sq_head, *sq_tail, *sq_array, *cq_head, *cq_tail;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *ring_mem, *sqe_mem;
    size_t ring_len, sqe_len;
    weft__loop_t *loop; /* the loop whose backend watches fd */
    weft__io_t io;
    unsigned inflight; /* requests whose completion is not drained */
} reaper_t;

/* Per starting thread, on the heap (a process may outlive the thread that
 * started it and be destroyed on another): `refs` counts the thread itself
 * and each live process it started; whoever drops the last frees it. The
 * reaper stays open while the thread has children alive (one that hovers
 * around REAPER_MIN children does not open and close it over and over),
 * and is closed by the owning thread when its last child is destroyed
 * there (so a weft_run that destroys its children leaves no fd behind),
 * else at the thread's exit or by the last one out. */
struct proc_thread {
    _Atomic unsigned refs;
    reaper_t rp;
};

/* 0: not known, 1: usable, 2: not (no io_uring, no WAITID, Valgrind) */
static _Atomic int reaper_ok;
static __thread proc_thread_t *thread_rec;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static void reaper_close(reaper_t *r)
{
    if (r->fd < 0)
        return;
    /* the registration goes before the close (a copy of the fd may live
     * on in a child being spawned); only through a loop that is current
     * here, since a loop that ended took its epoll instance with it */
    if (r->loop && r->loop == weft__loop() && r->io.registered)
        weft__io_close(&r->io);
    munmap(r->sqe_mem, r->sqe_len);
    munmap(r->ring_mem, r->ring_len);
    close(r->fd);
    r->fd = -1;
    r->loop = NULL;
}

static void thread_rec_unref(proc_thread_t *pt)
{
    if (atomic_fetch_sub_explicit(&pt->refs, 1, memory_order_acq_rel) == 1) {
        reaper_close(&pt->rp);
        free(pt);
    }
}

static void thread_rec_exit(void *arg)
{
    proc_thread_t *pt = arg;
    thread_rec = NULL;
    /* no loop runs on this thread any more: nothing is in flight; a child
     * still alive may point at the reaper, which then stays until the
     * last one is destroyed */
    if (atomic_load_explicit(&pt->refs, memory_order_acquire) == 1)
        reaper_close(&pt->rp);
    thread_rec_unref(pt);
}

/* A child made by fork (not posix_spawn, whose child runs no handlers)
 * shares the ring's memory with its parent: it must never use it. */
static void thread_rec_forget(void)
{
    thread_rec = NULL;
}

static void thread_key_make(void)
{
    if (pthread_key_create(&thread_key, thread_rec_exit) != 0 ||
        pthread_atfork(NULL, NULL, thread_rec_forget) != 0)
        atomic_store(&reaper_ok, 2);
}

static bool reaper_usable(void)
{
    int v = atomic_load_explicit(&reaper_ok, memory_order_relaxed);
    if (WEFT_LIKELY(v))
        return v == 1;
#ifdef WEFT_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        atomic_store(&reaper_ok, 2);
        return false;
    }
#endif
#if !defined(SYS_io_uring_setup) || !defined(SYS_io_uring_enter)
    atomic_store(&reaper_ok, 2);
    return false;
#else
    pthread_once(&thread_key_once, thread_key_make);
    int exp = 0;
    atomic_compare_exchange_strong(&reaper_ok, &exp, 1);
    return atomic_load(&reaper_ok) == 1;
#endif
}

/* This thread's record, made at its first spawn (NULL: no reaper here). */
static proc_thread_t *thread_record(void)
{
    if (WEFT_LIKELY(thread_rec != NULL))
        return thread_rec;
    if (!reaper_usable())
        return NULL;
    pthread_once(&thread_key_once, thread_key_make);
    if (atomic_load(&reaper_ok) != 1)
        return NULL;
    proc_thread_t *pt = calloc(1, sizeof *pt);
    if (!pt)
        return NULL;
    atomic_init(&pt->refs, 1);
    pt->rp.fd = -1;
    if (pthread_setspecific(thread_key, pt) != 0) {
        free(pt);
        return NULL;
    }
    thread_rec = pt;
    return pt;
}

static void reaper_readable(weft__io_t *io);

static int reaper_open(reaper_t *r)
{
#if defined(SYS_io_uring_setup)
    struct io_uring_params pr;
    memset(&pr, 0, sizeof pr);
    int fd = (int)syscall(SYS_io_uring_setup, REAPER_ENTRIES, &pr);
    if (fd < 0) {
        /* ENOSYS, EPERM (disabled, seccomp): for good. ENOMEM, EMFILE: not now */
        if (errno == ENOSYS || errno == EPERM || errno == EACCES || errno == EINVAL)
            atomic_store(&reaper_ok, 2);
        return -1;
    }
    if (!(pr.features & IORING_FEAT_SINGLE_MMAP) || !(pr.features & IORING_FEAT_NODROP)) {
        close(fd);
        atomic_store(&reaper_ok, 2);
        return -1;
    }
    size_t sq_len = pr.sq_off.array + pr.sq_entries * sizeof(unsigned);
    size_t cq_len = pr.cq_off.cqes + pr.cq_entries * sizeof(struct io_uring_cqe);
    size_t len = sq_len > cq_len ? sq_len : cq_len;
    char *mem =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (mem == MAP_FAILED) {
        close(fd);
        return -1;
    }
    size_t sqe_len = pr.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes =
        mmap(NULL, sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
        munmap(mem, len);
        close(fd);
        return -1;
    }
    r->fd = fd;
    r->ring_mem = mem;
    r->ring_len = len;
    r->sqe_mem = sqes;
    r->sqe_len = sqe_len;
    r->sqes = sqes;
    r->sq_mask = *(unsigned *)(mem + pr.sq_off.ring_mask);
    r->sq_head = (unsigned *)(mem + pr.sq_off.head);
    r->sq_tail = (unsigned *)(mem + pr.sq_off.tail);
    r->sq_array = (unsigned *)(mem + pr.sq_off.array);
    r->cq_mask = *(unsigned *)(mem + pr.cq_off.ring_mask);
    r->cq_head = (unsigned *)(mem + pr.cq_off.head);
    r->cq_tail = (unsigned *)(mem + pr.cq_off.tail);
    r->cqes = (struct io_uring_cqe *)(mem + pr.cq_off.cqes);
    r->loop = NULL;
    r->inflight = 0;
    return 0;
#else
    (void)r;
    return -1;
#endif
}

/* Makes sure the current loop's backend watches the ring. With requests
 * in flight it does (they were submitted on this loop, which is alive
 * while its tasks wait); with none, the loop may have ended and another
 * been made, perhaps at the same address with the same epoll fd number,
 * so the kernel is asked (a modify fails with -ENOENT where the ring is
 * not watched). */
static int reaper_watch(reaper_t *r, weft__loop_t *L)
{
    if (r->inflight && r->loop == L)
        return 0;
    if (r->loop == L && r->io.registered && weft__io_rewatch(&r->io) == 0)
        return 0;
    r->loop = NULL;
    if (weft__io_open(&r->io, r->fd) < 0)
        return -1;
    r->io.on_readable = reaper_readable;
    r->loop = L;
    return 0;
}

static int decode_siginfo(const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED)
        return si->si_status;
    if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
        return -si->si_status;
    return -1;
}

/* Takes in every completion posted: records the status of the reaped
 * children and wakes their waiters. Memory reads only. */
static void reaper_drain(reaper_t *r)
{
    unsigned head = *r->cq_head;
    for (;;) {
        unsigned tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
        if (head == tail)
            break;
        struct io_uring_cqe *c = &r->cqes[head & r->cq_mask];
        uint64_t ud = c->user_data;
        int res = c->res;
        head++;
        __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
        if (ud == REAPER_CANCEL)
            continue;
        weft_proc_t *p = (weft_proc_t *)(uintptr_t)ud;
        r->inflight--;
        p->in_ring = false;
        if (res == 0 && !p->reaped) {
            p->code = decode_siginfo(&p->si);
            p->reaped = true;
        } else if (res == -ECHILD && !p->reaped) {
            /* someone else reaped it (a waitpid(-1) elsewhere) */
            p->code = -1;
            p->reaped = true;
        } else if (res < 0 && res != -ECANCELED) {
            /* not reaped, and asking again would fail the same way: this
             * process waits through a pidfd (and every one, when the
             * kernel has no WAITID) */
            p->ring_failed = true;
            if (res == -EINVAL || res == -EOPNOTSUPP)
                atomic_store(&reaper_ok, 2);
        }
        /* -ECANCELED: a wait that was cancelled; nothing to record */
        weft_task_t *t = p->ring_waiter;
        if (t && weft__claim(t)) { /* else being interrupted: its unpark clears it */
            p->ring_waiter = NULL;
            t->loop->nwatch--;
            weft__deliver(t, 0);
        }
    }
}

static void reaper_readable(weft__io_t *io)
{
    reaper_t *r = WEFT_CONTAINER_OF(io, reaper_t, io);
    weft__io_clear(io, WEFT__EV_IN);
    reaper_drain(r);
}

static int reaper_enter(reaper_t *r, unsigned submit, unsigned min_complete, unsigned flags)
{
    int n;
    do
        n = (int)syscall(SYS_io_uring_enter, r->fd, submit, min_complete, flags, NULL, 0);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static struct io_uring_sqe *reaper_sqe(reaper_t *r)
{
    unsigned tail = *r->sq_tail;
    unsigned i = tail & r->sq_mask;
    struct io_uring_sqe *s = &r->sqes[i];
    memset(s, 0, sizeof *s);
    r->sq_array[i] = i;
    return s;
}

static void reaper_push(reaper_t *r)
{
    __atomic_store_n(r->sq_tail, *r->sq_tail + 1, __ATOMIC_RELEASE);
}

/* Entries queued that the kernel has not taken yet. */
static unsigned reaper_unsent(reaper_t *r)
{
    return *r->sq_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
}

/* Submits the waitid request for p (reaping it when it ends) and takes in
 * what completed at once. 0, or -1: not submitted (take the pidfd way). */
static int reaper_submit(reaper_t *r, weft_proc_t *p)
{
    struct io_uring_sqe *s = reaper_sqe(r);
    s->opcode = REAPER_OP_WAITID;
    s->fd = (int)p->pid;
    s->len = P_PID;
    s->file_index = WEXITED;
    s->addr2 = (uint64_t)(uintptr_t)&p->si;
    s->user_data = (uint64_t)(uintptr_t)p;
    memset(&p->si, 0, sizeof p->si);
    reaper_push(r);
    p->in_ring = true;
    r->inflight++;
    reaper_enter(r, reaper_unsent(r), 0, 0);
    if (reaper_unsent(r)) {
        /* not taken (no memory, ...): take it back off the queue (the
         * last entry, which the kernel has not read) */
        __atomic_store_n(r->sq_tail, *r->sq_tail - 1, __ATOMIC_RELEASE);
        p->in_ring = false;
        r->inflight--;
        return -1;
    }
    reaper_drain(r);
    return 0;
}

/* Ends p's request before its waiter leaves: asks the kernel to cancel it
 * and drains until its completion is in (the reaped status, if the child
 * ended first, or -ECANCELED). Never suspends; blocks for a system call
 * or two. */
static void reaper_cancel(reaper_t *r, weft_proc_t *p)
{
    while (p->in_ring) {
        if (!reaper_unsent(r)) {
            struct io_uring_sqe *s = reaper_sqe(r);
            s->opcode = IORING_OP_ASYNC_CANCEL;
            s->addr = (uint64_t)(uintptr_t)p;
            s->user_data = REAPER_CANCEL;
            reaper_push(r);
        }
        /* the cancel's own completion comes at once, so this never waits
         * long; p's comes in the same call or the next (a request that
         * was completing when the cancel came is asked again) */
        reaper_enter(r, reaper_unsent(r), 1, IORING_ENTER_GETEVENTS);
        reaper_drain(r);
    }
}

/* Collects what the kernel has done for p: runs this thread's pending
 * task work (the reaping happens there) and drains. */
static void reaper_poll(weft_proc_t *p)
{
    reaper_t *r = p->rp;
    reaper_enter(r, 0, 0, IORING_ENTER_GETEVENTS);
    reaper_drain(r);
}

static void unpark_ring(weft_task_t *t)
{
    weft_proc_t *p = (weft_proc_t *)t->b->waiter.slot;
    p->ring_waiter = NULL;
    t->loop->nwatch--;
    reaper_cancel(p->rp, p);
}

/* Picks the reaper for a process being started here, opening it when
 * this thread has enough children alive; NULL: the pidfd way. */
static reaper_t *reaper_for_spawn(proc_thread_t *pt)
{
    reaper_t *r = &pt->rp;
    if (r->fd < 0) {
        /* refs = the thread + its live children */
        if (atomic_load_explicit(&pt->refs, memory_order_relaxed) - 1 < REAPER_MIN ||
            atomic_load_explicit(&reaper_ok, memory_order_relaxed) != 1 || reaper_open(r) < 0)
            return NULL;
    }
    return r;
}

/* p is being destroyed: drops its reference to its thread's record. The
 * owning thread closes the reaper with its last child (nothing is in
 * flight then: requests only live while a task waits on a live
 * process); on another thread it stays for the owner to reuse or close
 * at its exit. */
static void proc_thread_release(weft_proc_t *p)
{
    proc_thread_t *pt = p->pt;
    p->pt = NULL;
    p->rp = NULL;
    if (pt == thread_rec) {
        /* the thread's own reference keeps pt alive across this */
        if (atomic_fetch_sub_explicit(&pt->refs, 1, memory_order_acq_rel) == 2 &&
            pt->rp.inflight == 0)
            reaper_close(&pt->rp);
        return;
    }
    thread_rec_unref(pt);
}

static int wait_ring(weft_proc_t *p, weft_task_t *self)
{
    reaper_t *r = p->rp;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    p->waiting++;
    while (!p->reaped) {
        if (!p->in_ring) {
            if (atomic_load_explicit(&reaper_ok, memory_order_relaxed) != 1 || p->ring_failed ||
                r->inflight >= REAPER_MAX_INFLIGHT || reaper_watch(r, self->loop) < 0 ||
                reaper_submit(r, p) < 0) {
                rc = 1; /* take the pidfd way */
                break;
            }
            if (p->reaped || !p->in_ring)
                continue;
        }
        p->ring_waiter = self;
        self->b->waiter.slot = p;
        self->loop->nwatch++;
        rc = weft__park(self, &wait_kind, p, unpark_ring, WEFT_FOREVER, NULL);
        if (rc)
            break;
    }
    p->waiting--;
    return rc;
}

/* Collects the status if the child has ended; true then. */
static bool try_reap(weft_proc_t *p)
{
    if (p->reaped)
        return true;
    if (p->in_ring) {
        /* the ring reaps it: no waitpid of ours may race with it */
        if (thread_rec == p->pt)
            reaper_poll(p);
        return p->reaped;
    }
    int st;
    pid_t r;
    do
        r = waitpid(p->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        p->code = decode_status(st);
        p->reaped = true;
    } else if (r < 0 && errno == ECHILD) {
        /* someone else reaped it (a waitpid(-1) elsewhere in the program) */
        p->code = -1;
        p->reaped = true;
    }
    return p->reaped;
}

typedef struct stdio_plan {
    int child_fd[3];  /* what the child gets as 0, 1, 2 (-1: inherit) */
    int parent_fd[3]; /* pipe ends kept by the parent (-1: none) */
    int close_fd[4];  /* fds to close in the parent after the spawn */
    int nclose;
} stdio_plan_t;

static void plan_close_all(stdio_plan_t *pl)
{
    for (int i = 0; i < pl->nclose; i++)
        close(pl->close_fd[i]);
    for (int i = 0; i < 3; i++)
        if (pl->parent_fd[i] >= 0)
            close(pl->parent_fd[i]);
}

static int plan_stdio(stdio_plan_t *pl, const weft_proc_opts_t *o)
{
    weft_stdio_t mode[3] = {o->in, o->out, o->err};
    int fd[3] = {o->in_fd, o->out_fd, o->err_fd};
    int devnull = -1;
    pl->nclose = 0;
    for (int i = 0; i < 3; i++) {
        pl->child_fd[i] = -1;
        pl->parent_fd[i] = -1;
    }
    if (o->in == WEFT_STDIO_STDOUT || o->in == WEFT_STDIO_STDERR || o->out == WEFT_STDIO_STDOUT ||
        o->err == WEFT_STDIO_STDERR || (o->out == WEFT_STDIO_STDERR && o->err == WEFT_STDIO_STDOUT))
        return -EINVAL;
    for (int i = 0; i < 3; i++) {
        switch (mode[i]) {
        case WEFT_STDIO_INHERIT:
        case WEFT_STDIO_STDOUT:
        case WEFT_STDIO_STDERR:
            break;
        case WEFT_STDIO_PIPE: {
            int pp[2];
            if (pipe2(pp, O_CLOEXEC) < 0) {
                int e = errno;
                plan_close_all(pl);
                return -e;
            }
            /* stdin: the child reads pp[0]; stdout/stderr: it writes pp[1] */
            pl->child_fd[i] = i == 0 ? pp[0] : pp[1];
            pl->parent_fd[i] = i == 0 ? pp[1] : pp[0];
            pl->close_fd[pl->nclose++] = pl->child_fd[i];
            break;
        }
        case WEFT_STDIO_DEVNULL:
            if (devnull < 0) {
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (devnull < 0) {
                    int e = errno;
                    plan_close_all(pl);
                    return -e;
                }
                pl->close_fd[pl->nclose++] = devnull;
            }
            pl->child_fd[i] = devnull;
            break;
        case WEFT_STDIO_FD:
            if (fd[i] < 0) {
                plan_close_all(pl);
                return -EINVAL;
            }
            pl->child_fd[i] = fd[i];
            break;
        default:
            plan_close_all(pl);
            return -EINVAL;
        }
    }
    return 0;
}

/* Whether posix_spawn returns an exec failure itself: 0 not known yet,
 * 1 yes, 2 no. glibc and musl run the child as clone(CLONE_VM |
 * CLONE_VFORK) and hand the exec's errno back to the parent; Valgrind
 * and user-mode emulators run it as a real fork, where the failure only
 * shows as exit code 127. */
static _Atomic int spawn_reports_exec_errors;

/* Asks once per process, by starting a path that cannot exist (a file
 * below /dev/null): a C library that reports exec failures returns
 * ENOTDIR; one that does not returns 0 and a child that exits 127 at
 * once, reaped here. Any other failure (no process to spare) leaves the
 * question open, and this spawn checks with access(). Two threads asking
 * at once both probe: harmless. Under Valgrind no probe is made (its
 * forked child would flush the parent's stdio buffers at exit). */
static bool spawn_reports_errors(void)
{
    int v = atomic_load_explicit(&spawn_reports_exec_errors, memory_order_relaxed);
    if (WEFT_LIKELY(v))
        return v == 1;
#ifdef WEFT_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        atomic_store_explicit(&spawn_reports_exec_errors, 2, memory_order_relaxed);
        return false;
    }
#endif
    static char probe_path[] = "/dev/null/weft-exec-probe";
    char *const argv[] = {probe_path, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, probe_path, NULL, NULL, argv, environ);
    if (e == 0) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    v = e == ENOTDIR || e == ENOENT ? 1 : e == 0 ? 2 : 0;
    if (v)
        atomic_store_explicit(&spawn_reports_exec_errors, v, memory_order_relaxed);
    return v == 1;
}

/* Says whether path can be executed, as posix_spawn(p) would find it,
 * for a C library that does not report exec failures itself: one
 * access() per spawn (a few for a PATH search) keeps the error in the
 * caller's hands there too. */
static int check_exec(const char *path, bool search)
{
    if (!search)
        return access(path, X_OK) == 0 ? 0 : -errno;
    const char *dirs = getenv("PATH");
    if (!dirs || !*dirs)
        dirs = "/bin:/usr/bin";
    int err = -ENOENT;
    size_t plen = strlen(path);
    for (const char *d = dirs;;) {
        const char *end = strchr(d, ':');
        size_t dlen = end ? (size_t)(end - d) : strlen(d);
        char buf[4096];
        if (dlen + plen + 2 <= sizeof buf) {
            memcpy(buf, dlen ? d : ".", dlen ? dlen : 1);
            size_t n = dlen ? dlen : 1;
            buf[n++] = '/';
            memcpy(buf + n, path, plen + 1);
            if (access(buf, X_OK) == 0)
                return 0;
            if (errno == EACCES)
                err = -EACCES;
        }
        if (!end)
            return err;
        d = end + 1;
    }
}

static int do_spawn(weft_proc_t **out, const char *path, char *const argv[], bool search,
                    const weft_proc_opts_t *opts)
{
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    static const weft_proc_opts_t defaults;
    const weft_proc_opts_t *o = opts ? opts : &defaults;
    /* a relative path with its own cwd is the child's to find */
    if (!(o->cwd && !search && path[0] != '/') && !spawn_reports_errors()) {
        int rc = check_exec(path, search);
        if (rc)
            return rc;
    }
    weft_proc_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->pidfd = -1;
    stdio_plan_t pl;
    int rc = plan_stdio(&pl, o);
    if (rc) {
        free(p);
        return rc;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    for (int i = 0; i < 3; i++)
        if (pl.child_fd[i] >= 0 && pl.child_fd[i] != i)
            posix_spawn_file_actions_adddup2(&fa, pl.child_fd[i], i);
        else if (pl.child_fd[i] == i) /* dup2 onto itself keeps CLOEXEC: clear it */
            posix_spawn_file_actions_adddup2(&fa, i, i);
    if (o->err == WEFT_STDIO_STDOUT)
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (o->out == WEFT_STDIO_STDERR)
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    if (o->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->new_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&at, 0);
    }
    posix_spawnattr_setflags(&at, flags);

    char *const *env = o->env ? o->env : environ;
    int e = search ? posix_spawnp(&p->pid, path, &fa, &at, argv, env)
                   : posix_spawn(&p->pid, path, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    for (int i = 0; i < pl.nclose; i++)
        close(pl.close_fd[i]);
    if (e != 0) {
        for (int i = 0; i < 3; i++)
            if (pl.parent_fd[i] >= 0)
                close(pl.parent_fd[i]);
        free(p);
        return -e;
    }

    /* from here the child exists: failures below must still reap it.
     * How a wait will learn of its end is settled here: through this
     * thread's reaper when it has several children alive, else through a
     * pidfd opened by the first wait that must park (none for a child
     * that is never waited for, or has ended by then). */
    p->loop = L;
    p->started = weft_now();
    p->no_pidfd = !pidfd_usable();
    proc_thread_t *pt = p->no_pidfd ? NULL : thread_record();
    if (pt) {
        p->rp = reaper_for_spawn(pt);
        atomic_fetch_add_explicit(&pt->refs, 1, memory_order_relaxed);
        p->pt = pt;
    }
    weft_stream_t **slot[3] = {&p->in, &p->out, &p->err};
    rc = 0;
    for (int i = 0; i < 3; i++) {
        if (pl.parent_fd[i] < 0)
            continue;
        int r = weft_stream_open(slot[i], pl.parent_fd[i], &o->stream);
        if (r < 0 && rc == 0)
            rc = r;
    }
    if (rc) {
        weft_proc_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

int weft_proc_spawn(weft_proc_t **p, const char *const argv[], const weft_proc_opts_t *opts)
{
    if (!p || !argv || !argv[0] || !argv[0][0])
        return -EINVAL;
    return do_spawn(p, argv[0], (char *const *)argv, strchr(argv[0], '/') == NULL, opts);
}

int weft_proc_shell(weft_proc_t **p, const char *cmd, const weft_proc_opts_t *opts)
{
    if (!p || !cmd)
        return -EINVAL;
    const char *argv[] = {"sh", "-c", cmd, NULL};
    return do_spawn(p, "/bin/sh", (char *const *)argv, false, opts);
}

int weft_proc_pid(const weft_proc_t *p)
{
    return p ? (int)p->pid : -EINVAL;
}

weft_stream_t *weft_proc_stdin(weft_proc_t *p)
{
    return p ? p->in : NULL;
}

weft_stream_t *weft_proc_stdout(weft_proc_t *p)
{
    return p ? p->out : NULL;
}

weft_stream_t *weft_proc_stderr(weft_proc_t *p)
{
    return p ? p->err : NULL;
}

int weft_proc_close_stdin(weft_proc_t *p)
{
    if (!p)
        return -EINVAL;
    if (!p->in)
        return -EBADF;
    weft_stream_t *s = p->in;
    p->in = NULL;
    int rc = weft_stream_close(s);
    return rc == -EPIPE ? 0 : rc;
}

static int wait_polling(weft_proc_t *p);

/* Waits for the pidfd to say "exited", then reaps: one waitpid per wait
 * in the usual case. The pidfd is opened by the first wait that finds
 * the child running (a waitpid with WNOHANG first, unless the spawn was
 * a moment ago: a child that has already ended costs nothing more); the
 * child is ours and unreaped then (only weft reaps it), so the pidfd
 * cannot name another process. A child that ends after that
 * has made its pidfd readable, so the wait returns at the next poll. A
 * readiness that finds no status (not expected) is cleared and waited
 * for again. */
static int wait_pidfd(weft_proc_t *p)
{
    if (p->pidfd < 0) {
        if (weft_now() - p->started >= FRESH_NS && try_reap(p))
            return 0;
        int fd = pidfd_open_(p->pid);
        if (fd >= 0 && weft__io_open(&p->io, fd) < 0) {
            close(fd);
            fd = -1;
        }
        if (fd < 0) {
            if (try_reap(p))
                return 0;
            p->no_pidfd = true;
            return wait_polling(p);
        }
        p->pidfd = fd;
    }
    int rc = 0;
    p->waiting++;
    for (;;) {
        if (p->io.ready & WEFT__EV_IN) {
            if (try_reap(p))
                break;
            weft__io_clear(&p->io, WEFT__EV_IN);
            if (try_reap(p)) /* it ended between the two calls */
                break;
        }
        rc = weft__io_wait(&p->io, WEFT__EV_IN);
        if (rc)
            break;
    }
    p->waiting--;
    return rc;
}

/* Without pidfds: waitpid on a backing-off sleep (0.5 ms doubling to
 * 50 ms). Several tasks may poll the same child. */
static int wait_polling(weft_proc_t *p)
{
    int rc = 0;
    int64_t backoff = WEFT_USEC(500);
    p->waiting++;
    while (!try_reap(p)) {
        rc = weft_sleep(backoff);
        if (rc)
            break;
        if (backoff < WEFT_MSEC(50))
            backoff *= 2;
    }
    p->waiting--;
    return rc;
}

int weft_proc_wait(weft_proc_t *p, int *code)
{
    if (!p)
        return -EINVAL;
    if (!p->reaped) {
        weft_task_t *self = weft__task();
        int rc;
        if (!self)
            rc = try_reap(p) ? 0 : -WEFT_ENOTASK;
        else if (p->no_pidfd)
            rc = wait_polling(p);
        else if (p->waiting) /* one pidfd or ring waiter at a time */
            rc = try_reap(p) ? 0 : -EBUSY;
        else if (p->loop != self->loop) /* another worker's child: no wait */
            rc = try_reap(p) ? 0 : -EXDEV;
        else if (p->rp && p->pt == thread_rec && (rc = wait_ring(p, self)) != 1)
            ; /* the reaper took it */
        else
            rc = wait_pidfd(p);
        if (rc)
            return rc;
    }
    if (code)
        *code = p->code;
    return 0;
}

int weft_proc_returncode(const weft_proc_t *p, int *code)
{
    if (!p)
        return -EINVAL;
    if (!p->reaped && !try_reap((weft_proc_t *)p))
        return -EAGAIN;
    if (code)
        *code = p->code;
    return 0;
}

int weft_proc_signal(weft_proc_t *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG)
        return -EINVAL;
    if (p->in_ring && thread_rec == p->pt)
        reaper_drain(p->rp); /* the ring may have reaped it at our last system call */
    if (p->reaped)
        return -ESRCH;
    /* a zombie is still ours (not reaped): signalling it is harmless */
    if (kill(p->pid, sig) < 0)
        return -errno;
    return 0;
}

int weft_proc_terminate(weft_proc_t *p)
{
    return weft_proc_signal(p, SIGTERM);
}

int weft_proc_kill(weft_proc_t *p)
{
    return weft_proc_signal(p, SIGKILL);
}

/* ---- communicate ---- */

typedef struct collect {
    weft_stream_t *s;
    char *buf;
    size_t len, cap;
    int rc;
} collect_t;

static int collect_all(collect_t *c)
{
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t ncap = c->cap ? c->cap * 2 : 8192;
            char *nb = realloc(c->buf, ncap);
            if (!nb)
                return -ENOMEM;
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t n = weft_stream_read(c->s, c->buf + c->len, c->cap - c->len - 1);
        if (n == 0)
            break;
        if (n < 0)
            return (int)n;
        c->len += (size_t)n;
    }
    c->buf[c->len] = '\0';
    return 0;
}

static int collect_task(void *arg, void **result)
{
    (void)result;
    collect_t *c = arg;
    c->rc = collect_all(c);
    return c->rc;
}

/* Flushes and closes the child's stdin: the bytes were queued by the
 * caller (weft_stream_write copies), so this task never reads the
 * caller's buffer, which may live on a copy-stack task's stack. */
static int feed_task(void *arg, void **result)
{
    (void)result;
    int rc = weft_proc_close_stdin(arg);
    /* a child that stops reading its stdin is its own business */
    return rc == -EPIPE || rc == -ECONNRESET ? 0 : rc;
}

/* Ends a helper task: awaits it unless `stop`, and cancels and joins it
 * if it has not finished. Stores its status in *status when it finished
 * by itself; returns -ECANCELED / -ETIMEDOUT if the caller was
 * interrupted while awaiting, else 0. */
static int finish(weft_task_t *t, bool stop, int *status)
{
    int rc = 0;
    *status = 0;
    if (!t)
        return 0;
    if (!stop) {
        int r = weft_await(t, NULL);
        if (weft_task_done(t))
            *status = r;
        else
            rc = r;
    }
    if (!weft_task_done(t)) {
        weft_cancel(t);
        weft__task_join_quietly(t);
    }
    weft_task_release(t);
    return rc;
}

int weft_proc_communicate(weft_proc_t *p, const void *in, size_t inlen, char **out,
                          size_t *outlen, char **err, size_t *errlen, int *code)
{
    if (!p || (inlen && !in))
        return -EINVAL;
    if (!weft__task())
        return -WEFT_ENOTASK;
    /* the record the stderr task fills lives on the heap, not on the
     * caller's stack (which a copy-stack task does not keep in place) */
    collect_t *cerr = calloc(1, sizeof *cerr);
    if (!cerr)
        return -ENOMEM;
    collect_t cout = {.s = p->out};
    cerr->s = p->err;
    weft_task_t *tin = NULL, *terr = NULL;
    int rc = 0;
    if (p->in) {
        rc = inlen ? weft_stream_write(p->in, in, inlen) : 0;
        if (rc == -EPIPE || rc == -ECONNRESET)
            rc = 0;
        if (rc == 0)
            rc = weft_spawn(&tin, feed_task, p, NULL);
    }
    if (rc == 0 && p->err)
        rc = weft_spawn(&terr, collect_task, cerr, NULL);
    if (rc == 0 && p->out)
        rc = collect_all(&cout);
    int s1, s2;
    int r1 = finish(tin, rc != 0, &s1);
    if (rc == 0)
        rc = r1;
    int r2 = finish(terr, rc != 0, &s2);
    if (rc == 0)
        rc = r2 ? r2 : s1 ? s1 : s2;
    if (rc == 0)
        rc = weft_proc_wait(p, code);
    if (rc == 0) {
        if (out) {
            *out = cout.buf;
            cout.buf = NULL;
        }
        if (outlen)
            *outlen = cout.len;
        if (err) {
            *err = cerr->buf;
            cerr->buf = NULL;
        }
        if (errlen)
            *errlen = cerr->len;
    }
    free(cout.buf);
    free(cerr->buf);
    free(cerr);
    return rc;
}

int weft_proc_destroy(weft_proc_t *p)
{
    if (!p)
        return -EINVAL;
    if (p->waiting)
        return -EBUSY;
    if (p->in)
        weft_stream_abort(p->in);
    if (p->out)
        weft_stream_abort(p->out);
    if (p->err)
        weft_stream_abort(p->err);
    if (!p->reaped && !try_reap(p)) {
        /* still running: kill it and reap it now, so no zombie is left;
         * a killed process ends in microseconds */
        kill(p->pid, SIGKILL);
        int st;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
        }
        p->reaped = true;
    }
    if (p->pidfd >= 0) {
        weft__io_close(&p->io);
        close(p->pidfd);
    }
    if (p->pt)
        proc_thread_release(p);
    free(p);
    return 0;
}
