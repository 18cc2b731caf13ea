/* uring_reap.c - the child reaper's io_uring: one ring per thread that
 * starts several children, through which waits reap them
 * (IORING_OP_WAITID, Linux 6.7).
 *
 * Owns: each starting thread's record (its ring and a reference count)
 * and the requests in flight on the ring. A request's record
 * (weft__ring_wait, inside the child's) carries the siginfo the kernel
 * fills and the callback a completion is reported through; this file
 * knows no task and no process beyond a pid.
 *
 * Over liburing, which sets the ring up and tears it down, and gives the
 * submission and completion helpers with their barriers. Debian 12 ships
 * liburing 2.3, which has no io_uring_prep_waitid (2.5) and whose header
 * predates the opcode, so the request is written with io_uring_prep_rw
 * and the opcode's number (the kernel's ABI, which does not change), the
 * fields laid out as the kernel reads them. liburing has no call to take
 * back a queued entry the kernel refused; ring_unqueue_last does it on
 * the queue's documented fields (liburing.h's struct io_uring_sq).
 *
 * Invariants: a thread's ring is used only by that thread (a child made
 * by fork forgets it, since it shares the mapping). The ring stays open
 * while the thread has children alive (one that hovers around REAP_MIN
 * children does not open and close it over and over) and is closed by
 * the owning thread when its last child is released there (so a weft_run
 * that destroys its children leaves no fd behind), else at the thread's
 * exit or by the last one out. At most REAP_MAX_INFLIGHT requests are in
 * flight, so the completion queue (twice REAP_ENTRIES) never overflows.
 * No completion's callback is lost: every entry drained is either the
 * answer to a cancel or a request's, and the latter's in_flight flag and
 * the ring's count are cleared before the callback runs.
 */
#include "../reap.h"

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

/* Children of this thread alive (the new one not counted) before a spawn
 * waits through the ring: a lone child keeps the pidfd way, so a program
 * that runs one command at a time never sets up a ring (about 50 us, more
 * than the pidfd costs for a few children). */
#define REAP_MIN 4
#define REAP_ENTRIES 64u
/* At most this many requests in flight; more waits take the pidfd way. */
#define REAP_MAX_INFLIGHT REAP_ENTRIES
/* user_data of a cancel request; a record's address is never 1 */
#define REAP_CANCEL UINT64_C(1)
/* IORING_OP_WAITID (Linux 6.7): liburing 2.3's header lacks it */
#define REAP_OP_WAITID 50

typedef struct reaper {
    int fd; /* -1: none open */
    struct io_uring ring;
    weft__loop_t *loop; /* the loop whose backend watches fd */
    weft__io_t io;
    unsigned inflight; /* requests whose completion is not drained */
} reaper_t;

/* Per starting thread, on the heap (a process may outlive the thread that
 * started it and be released on another): `refs` counts the thread itself
 * and each live child it started; whoever drops the last frees it. */
struct weft__reap_thread {
    _Atomic unsigned refs;
    reaper_t rp;
};

/* 0: not known, 1: usable, 2: not (no io_uring, no WAITID, Valgrind) */
static _Atomic int reaper_ok;
static __thread weft__reap_thread_t *thread_rec;
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
        weft__io_close_here(&r->io);
    io_uring_queue_exit(&r->ring);
    r->fd = -1;
    r->loop = NULL;
}

static void thread_rec_unref(weft__reap_thread_t *pt)
{
    if (atomic_fetch_sub_explicit(&pt->refs, 1, memory_order_acq_rel) == 1) {
        reaper_close(&pt->rp);
        free(pt);
    }
}

static void thread_rec_exit(void *arg)
{
    weft__reap_thread_t *pt = arg;
    thread_rec = NULL;
    /* no loop runs on this thread any more: nothing is in flight; a child
     * still alive may point at the ring, which then stays until the
     * last one is released */
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

/* This thread's record, made at its first spawn (NULL: no ring here). */
static weft__reap_thread_t *thread_record(void)
{
    if (WEFT_LIKELY(thread_rec != NULL))
        return thread_rec;
    if (!reaper_usable())
        return NULL;
    pthread_once(&thread_key_once, thread_key_make);
    if (atomic_load(&reaper_ok) != 1)
        return NULL;
    weft__reap_thread_t *pt = calloc(1, sizeof *pt);
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
    struct io_uring_params pr;
    memset(&pr, 0, sizeof pr);
    int rc = io_uring_queue_init_params(REAP_ENTRIES, &r->ring, &pr);
    if (rc < 0) {
        /* ENOSYS, EPERM (disabled, seccomp): for good. ENOMEM, EMFILE: not now */
        if (rc == -ENOSYS || rc == -EPERM || rc == -EACCES || rc == -EINVAL)
            atomic_store(&reaper_ok, 2);
        return -1;
    }
    if (!(pr.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(&r->ring);
        atomic_store(&reaper_ok, 2);
        return -1;
    }
    r->fd = r->ring.ring_fd;
    r->loop = NULL;
    r->inflight = 0;
    return 0;
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

/* Takes in every completion posted and reports each request's through
 * its record's callback. Memory reads only. */
static void reaper_drain(reaper_t *r)
{
    for (;;) {
        unsigned head;
        struct io_uring_cqe *cqe;
        uint64_t ud = 0;
        int res = 0;
        bool got = false;
        io_uring_for_each_cqe(&r->ring, head, cqe)
        {
            ud = cqe->user_data;
            res = cqe->res;
            got = true;
            break;
        }
        if (!got)
            break;
        /* consumed before the callback runs, which may wake a task */
        io_uring_cq_advance(&r->ring, 1);
        if (ud == REAP_CANCEL)
            continue;
        weft__ring_wait_t *w = (weft__ring_wait_t *)(uintptr_t)ud;
        r->inflight--;
        w->in_flight = false;
        if (res < 0 && res != -ECANCELED && res != -ECHILD) {
            /* not reaped, and asking again would fail the same way: this
             * child waits through a pidfd (and every one, when the kernel
             * has no WAITID) */
            w->failed = true;
            if (res == -EINVAL || res == -EOPNOTSUPP)
                atomic_store(&reaper_ok, 2);
        }
        w->done(w, res);
    }
}

static void reaper_readable(weft__io_t *io)
{
    reaper_t *r = WEFT_CONTAINER_OF(io, reaper_t, io);
    weft__io_clear(io, WEFT__EV_IN);
    reaper_drain(r);
}

/* Submits what is queued, waiting for wait_nr completions (with
 * GETEVENTS, which also runs this thread's pending task work when
 * wait_nr is 0 and nothing is queued: see reaper_poll). */
static int reaper_enter(reaper_t *r, unsigned wait_nr)
{
    int n;
    do
        n = wait_nr ? io_uring_submit_and_wait(&r->ring, wait_nr) : io_uring_submit(&r->ring);
    while (n == -EINTR);
    return n;
}

/* Entries queued that the kernel has not taken yet. */
static unsigned reaper_unsent(reaper_t *r)
{
    return io_uring_sq_ready(&r->ring);
}

/* Takes the last queued entry back off the submission queue, which the
 * kernel has not read (it refused it: no memory, ...). */
static void ring_unqueue_last(reaper_t *r)
{
    struct io_uring_sq *sq = &r->ring.sq;
    sq->sqe_tail--;
    sq->sqe_head = sq->sqe_tail;
    io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
}

void weft__uring_reap_attach(weft__ring_wait_t *w)
{
    weft__reap_thread_t *pt = thread_record();
    if (!pt)
        return;
    reaper_t *r = &pt->rp;
    /* refs = the thread + its live children (the new one not yet) */
    w->ring = r->fd >= 0 ||
              (atomic_load_explicit(&pt->refs, memory_order_relaxed) - 1 >= REAP_MIN &&
               atomic_load_explicit(&reaper_ok, memory_order_relaxed) == 1 && reaper_open(r) == 0);
    atomic_fetch_add_explicit(&pt->refs, 1, memory_order_relaxed);
    w->thread = pt;
}

/* The owning thread closes the ring with its last child (nothing is in
 * flight then: requests only live while a task waits on a live child);
 * on another thread it stays for the owner to reuse or close at its
 * exit. */
void weft__uring_reap_detach(weft__ring_wait_t *w)
{
    weft__reap_thread_t *pt = w->thread;
    w->thread = NULL;
    w->ring = false;
    if (pt == thread_rec) {
        /* the thread's own reference keeps pt alive across this */
        if (atomic_fetch_sub_explicit(&pt->refs, 1, memory_order_acq_rel) == 2 &&
            pt->rp.inflight == 0)
            reaper_close(&pt->rp);
        return;
    }
    thread_rec_unref(pt);
}

bool weft__uring_reap_here(const weft__ring_wait_t *w)
{
    return w->ring && w->thread == thread_rec;
}

int weft__uring_reap_submit(weft__ring_wait_t *w, pid_t pid, weft__loop_t *L)
{
    reaper_t *r = &w->thread->rp;
    if (atomic_load_explicit(&reaper_ok, memory_order_relaxed) != 1 || w->failed ||
        r->inflight >= REAP_MAX_INFLIGHT || reaper_watch(r, L) < 0)
        return -1;
    /* the queue has room: every entry is submitted at once, and at most
     * one cancel waits beside the requests in flight */
    struct io_uring_sqe *s = io_uring_get_sqe(&r->ring);
    if (!s)
        return -1;
    memset(&w->si, 0, sizeof w->si);
    io_uring_prep_rw(REAP_OP_WAITID, s, (int)pid, NULL, P_PID, (uint64_t)(uintptr_t)&w->si);
    s->file_index = WEXITED; /* waitid's options */
    io_uring_sqe_set_data(s, w);
    w->in_flight = true;
    r->inflight++;
    reaper_enter(r, 0);
    if (reaper_unsent(r)) {
        /* not taken: take it back (the last entry, which the kernel has
         * not read) */
        ring_unqueue_last(r);
        w->in_flight = false;
        r->inflight--;
        return -1;
    }
    reaper_drain(r);
    return 0;
}

void weft__uring_reap_cancel(weft__ring_wait_t *w)
{
    reaper_t *r = &w->thread->rp;
    while (w->in_flight) {
        if (!reaper_unsent(r)) {
            struct io_uring_sqe *s = io_uring_get_sqe(&r->ring);
            io_uring_prep_cancel64(s, (uint64_t)(uintptr_t)w, 0);
            io_uring_sqe_set_data64(s, REAP_CANCEL);
        }
        /* the cancel's own completion comes at once, so this never waits
         * long; w's comes in the same call or the next (a request that
         * was completing when the cancel came is asked again) */
        reaper_enter(r, 1);
        reaper_drain(r);
    }
}

void weft__uring_reap_poll(weft__ring_wait_t *w)
{
    if (w->thread != thread_rec)
        return;
    reaper_t *r = &w->thread->rp;
    int n;
    do
        n = io_uring_get_events(&r->ring);
    while (n == -EINTR);
    reaper_drain(r);
}

void weft__uring_reap_drain(weft__ring_wait_t *w)
{
    if (w->thread == thread_rec)
        reaper_drain(&w->thread->rp);
}
