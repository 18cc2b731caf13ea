/* server.c - weft_server: listeners served by a task per connection
 * (asyncio.start_server), on the starting task's worker or on every
 * worker.
 *
 * Owns: the server record (its options, the bound address, the tasks in
 * weft_server_wait) and its parts. A part is one listener, its accepting
 * task and the records of its open connections (in slabs that are
 * reused, so a connection costs its task and its stream and no
 * allocation of its own once the slabs have grown), with the lists of
 * tasks waiting on it: the acceptor for room below max_conns, its close
 * for the last connection to end. A plain server has one part, on the
 * worker of the task that started it; with per_worker, one part per
 * worker, each with its own SO_REUSEPORT listener on the same address,
 * so the kernel spreads new connections and each lives on the worker
 * that accepted it.
 *
 * A part's state is its worker's alone: its acceptor, its connections'
 * tasks (spawned WEFT_PLACE_HERE, beside the stream they serve) and the
 * task that closes it (weft_server_close runs one on that worker) are
 * the only ones that touch it, so it needs no lock. The one exception is
 * the count of open connections, which weft_server_conns reads from
 * anywhere (relaxed loads). The server record's own lock guards only the
 * close flags, the reference count and the weft_server_wait list.
 *
 * Connections: either the server supervises its connection tasks (it
 * holds them and reports none of their failures), or, with opts.group,
 * they are the group's children, spawned with weft_group_spawn_wait (a
 * group limit makes the acceptor wait for room, further clients wait in
 * the backlog). A connection's end is seen by a done-watch on its task
 * (the record's waiter), not by code at the end of the task: a handler
 * cancelled before it ever ran runs no code, and its stream must still
 * be freed.
 *
 * Timeouts (first bytes, idle, send progress): each part has a sweeping
 * task that wakes every `tick` (an eighth of the shortest timeout, 1 ms
 * to 1 s) while the part has connections, and compares each
 * connection's progress counters (its stream's moved_in / moved_out,
 * io.h) with what it saw last time. A read or send costs one relaxed
 * increment and no timer; a sweep costs a few loads per connection; a
 * connection past a timeout has its handler cancelled. See
 * docs/design.md ("Timeouts: nobody holds a connection for ever") for
 * why not a deadline per connection.
 *
 * Memory pressure: whatever makes the server drop or refuse connections
 * (accept failing, a task that cannot be spawned or gets no stack) is
 * said on stderr through weft__report, which prints one line per burst
 * and counts the rest.
 *
 * Invariants: a part's nconns counts its records in use, each with a
 * live task; the acceptor is the only task that touches its listener,
 * and close stops that task before closing the listener; running out of
 * fds or memory never makes an acceptor spin or stop: it sleeps 10 ms,
 * doubling to 1 s, and tries again. The record is freed once close has
 * finished and no task is inside weft_server_wait (refs).
 */
#include "stream.h"
#include "io.h"
#include "stable.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static const weft__wait_kind_t wait_kind = {.name = "a server"};

typedef struct part part_t;

/* A connection's phase, as its task moves on. */
enum { PH_NEW, PH_HANDSHAKE, PH_SERVING, PH_CLOSING };

typedef struct conn {
    weft__waiter_t done; /* on the handler task's done list */
    part_t *p;
    weft_stream_t *s; /* until the handler task closes it */
    weft_task_t *task;
    struct conn *next_free;
    /* the timeouts' view (the sweeper's and the task's, on one worker) */
    uint8_t phase;
    bool heard;          /* a read has returned bytes */
    const char *expired; /* the timeout that ended it, or NULL */
    uint32_t seen_in, seen_out;
    int64_t start, moved_at, out_at;
} conn_t;

typedef struct slab {
    struct slab *next;
    size_t n;
    conn_t c[];
} slab_t;

#define SLAB_FIRST 16
#define SLAB_MAX 1024
#define BACKOFF_MIN WEFT_MSEC(10)
#define BACKOFF_MAX WEFT_SEC(1)
/* An acceptor gives the loop a turn after this many connections in a
 * row, so a flood of connects cannot starve the handlers. */
#define ACCEPT_BURST 64
/* Timeouts' defaults, and the sweep's tick: an eighth of the shortest,
 * within these bounds. */
#define FIRST_BYTES_DEFAULT WEFT_SEC(10)
#define IDLE_DEFAULT WEFT_SEC(60)
#define SEND_DEFAULT WEFT_SEC(60)
#define TICK_MIN WEFT_MSEC(1)
#define TICK_MAX WEFT_SEC(1)

struct part {
    weft_server_t *srv;
    int worker;
    bool started; /* its acceptor was spawned: close has work to do */
    weft_listener_t *l;
    weft_task_t *acceptor;
    weft_task_t *sweeper; /* NULL when no timeout is set */
    size_t nconns;        /* written on its worker, read anywhere: relaxed atomics */
    slab_t *slabs;
    size_t nslots;
    conn_t *free;
    weft__wlist_t room; /* the acceptor, at max_conns */
    weft__wlist_t idle; /* close, waiting for nconns == 0 */
    weft__wlist_t none; /* the sweeper, while nconns == 0 */
};

struct weft_server {
    weft__stable_t st; /* live or stale (stable.h); mu follows it */
    weft__spin_t mu;   /* guards refs, closing, closed and stopped (closing is
                        * also read without it: weft_server_closing) */
    weft_conn_fn handler;
    void *arg;
    weft_server_opts_t opts;
    weft_addr_t addr;
    char name[64];                      /* the address as text, for reports */
    int64_t first_to, idle_to, send_to; /* the timeouts (WEFT_FOREVER: none) */
    int64_t tick;                       /* 0: no timeout, no sweeper */
    int nparts;
    part_t *parts;
    weft_task_t **helpers; /* [nparts]: tasks run on the parts' workers */
    int64_t grace;         /* of the close under way */
    uint32_t refs;         /* the owner's, plus one per task in weft_server_wait */
    bool closing, closed;
    weft__wlist_t stopped; /* weft_server_wait */
};

/* ---- the record ----
 *
 * Server records are type-stable (stable.h), as streams are: a server
 * used after the weft_server_close that freed it returns -EBADF
 * (weft__stale) instead of reading freed memory. */

#define SERVER_LIVE 0x76727373u /* "ssrv" */
static weft__stable_pool_t server_pool = WEFT__STABLE_POOL(weft_server_t, mu, SERVER_LIVE);
#define SFREED(srv) WEFT_UNLIKELY(!weft__stable_live(srv, SERVER_LIVE))

static weft_server_t *server_new(weft_conn_fn handler, void *arg, const weft_server_opts_t *opts,
                                 int nparts)
{
    weft_server_t *srv = weft__stable_alloc(&server_pool);
    if (!srv)
        return NULL;
    srv->parts = calloc((size_t)nparts, sizeof *srv->parts);
    srv->helpers = calloc((size_t)nparts, sizeof *srv->helpers);
    if (!srv->parts || !srv->helpers) {
        free(srv->parts);
        free(srv->helpers);
        weft__stable_free(&server_pool, srv, &srv->mu);
        return NULL;
    }
    srv->handler = handler;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    /* a cap on each connection's queued output, unless the caller set
     * one: a handler that writes without draining cannot be made to
     * queue without bound by a peer that does not read */
    weft_stream_opts_t *so = &srv->opts.stream;
    if (!so->max_pending)
        so->max_pending = so->high_water < WEFT_SERVER_MAX_PENDING / 2 ? WEFT_SERVER_MAX_PENDING
                          : so->high_water > SIZE_MAX / 2                ? SIZE_MAX
                                                                          : 2 * so->high_water;
    const weft_server_opts_t *o = &srv->opts;
    srv->first_to = o->first_bytes_timeout ? o->first_bytes_timeout : FIRST_BYTES_DEFAULT;
    srv->idle_to = o->idle_timeout ? o->idle_timeout : IDLE_DEFAULT;
    srv->send_to = o->send_timeout ? o->send_timeout : SEND_DEFAULT;
    int64_t shortest = srv->first_to < srv->idle_to ? srv->first_to : srv->idle_to;
    if (srv->send_to < shortest)
        shortest = srv->send_to;
    if (shortest != WEFT_FOREVER) {
        srv->tick = shortest / 8;
        srv->tick = srv->tick < TICK_MIN ? TICK_MIN : srv->tick > TICK_MAX ? TICK_MAX : srv->tick;
    }
    snprintf(srv->name, sizeof srv->name, "?");
    srv->nparts = nparts;
    srv->refs = 1;
    for (int i = 0; i < nparts; i++) {
        srv->parts[i].srv = srv;
        srv->parts[i].worker = i;
    }
    return srv;
}

static void server_unref(weft_server_t *srv)
{
    bool last;
    {
        WEFT__LOCK(&srv->mu);
        last = --srv->refs == 0;
    }
    if (last) {
        free(srv->parts);
        free(srv->helpers);
        weft__stable_free(&server_pool, srv, &srv->mu);
    }
}

/* ---- a part's connection records ---- */

static void conns_add(part_t *p, long d)
{
    __atomic_store_n(&p->nconns, p->nconns + (size_t)d, __ATOMIC_RELAXED);
}

static conn_t *conn_get(part_t *p)
{
    if (!p->free) {
        size_t n = p->nslots ? p->nslots : SLAB_FIRST;
        if (n > SLAB_MAX)
            n = SLAB_MAX;
        slab_t *sl = malloc(sizeof *sl + n * sizeof sl->c[0]);
        if (!sl)
            return NULL;
        sl->next = p->slabs;
        sl->n = n;
        p->slabs = sl;
        p->nslots += n;
        for (size_t i = 0; i < n; i++) {
            sl->c[i].task = NULL;
            sl->c[i].next_free = i + 1 < n ? &sl->c[i + 1] : NULL;
        }
        p->free = &sl->c[0];
    }
    conn_t *c = p->free;
    p->free = c->next_free;
    c->p = p;
    c->s = NULL;
    c->task = NULL;
    c->phase = PH_NEW;
    c->expired = NULL;
    return c;
}

static void conn_put(part_t *p, conn_t *c)
{
    c->task = NULL;
    c->next_free = p->free;
    p->free = c;
}

static void unpark_waiter(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
}

/* Parks the calling task on one of a part's lists until woken (the
 * part's worker only: no lock). */
static int wait_on(part_t *p, weft__wlist_t *list)
{
    weft_task_t *self = weft__task();
    if (!self->b->nocancel) {
        int rc = weft__wait_check(self);
        if (rc)
            return rc;
    }
    weft__wlist_push(list, &self->b->waiter);
    return weft__park(self, &wait_kind, p->srv, unpark_waiter, WEFT_FOREVER, NULL);
}

static void wake_all(weft__wlist_t *list)
{
    weft__waiter_t *w;
    while ((w = weft__wlist_take(list)))
        weft__deliver(w->task, 0);
}

/* Says on stderr why connections are refused or dropped: one line per
 * burst, the like ones counted (weft__report). */
static void say(const weft_server_t *srv, const char *what, int err)
{
    char line[224];
    snprintf(line, sizeof line, "server on %s: %s (%d %s)", srv->name, what, err,
             weft_strerror(err));
    weft__report(line, line);
}

/* ---- connections ---- */

/* The timeouts start: the handler is about to run. */
static void conn_watch(conn_t *c)
{
    weft__io_t *io = weft__stream_io(c->s);
    c->seen_in = __atomic_load_n(&io->moved_in, __ATOMIC_RELAXED);
    c->seen_out = __atomic_load_n(&io->moved_out, __ATOMIC_RELAXED);
    c->start = c->moved_at = c->out_at = weft_now();
    c->heard = false;
    c->phase = PH_SERVING;
}

static int conn_main(void *arg, void **result)
{
    conn_t *c = arg;
    weft_server_t *srv = c->p->srv;
    (void)result;
    /* TLS: the handshake first (its own timeout); a failed one ends the
     * connection quietly */
    c->phase = PH_HANDSHAKE;
    int rc = srv->opts.tls ? weft_tls_wrap(c->s, srv->opts.tls, NULL) : 0;
    if (rc == -EBADF) {
        c->s = NULL; /* closed meanwhile: the stream is gone */
        return rc;
    }
    if (rc == 0) {
        conn_watch(c);
        rc = srv->handler(c->s, srv->arg);
    }
    weft_stream_t *s = c->s;
    if (!c->expired) {
        c->phase = PH_CLOSING; /* the send timeout still holds */
        weft_stream_close(s);  /* flushes within the task: cancelling it cuts that short */
    } else {
        weft_stream_abort(s); /* a peer that stalled gets no flush */
    }
    c->s = NULL;
    return rc;
}

/* Ends connection c, past the timeout `why` (the sweeper, on c's worker,
 * while c's task is suspended). */
static void conn_expire(conn_t *c, const char *why, bool reset)
{
    c->expired = why;
    if (reset) {
        /* close will reset: the kernel drops what the peer never took */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(weft_stream_fd(c->s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    weft_cancel_with(c->task, WEFT_CANCEL_DEADLINE, why);
}

/* One sweep's look at connection c at `now`. */
static void conn_check(conn_t *c, int64_t now)
{
    const weft_server_t *srv = c->p->srv;
    weft__io_t *io = weft__stream_io(c->s);
    uint32_t in = __atomic_load_n(&io->moved_in, __ATOMIC_RELAXED);
    uint32_t out = __atomic_load_n(&io->moved_out, __ATOMIC_RELAXED);
    if (in != c->seen_in) {
        c->seen_in = in;
        c->heard = true;
        c->moved_at = now;
    }
    if (out != c->seen_out) {
        c->seen_out = out;
        c->moved_at = c->out_at = now;
    }
    bool queued = weft_stream_pending(c->s) > 0;
    if (!queued)
        c->out_at = now;
    if (queued && now - c->out_at >= srv->send_to)
        conn_expire(c, "weft_server: send timeout (the peer took no bytes)", true);
    else if (!c->heard && c->phase == PH_SERVING && now - c->start >= srv->first_to)
        conn_expire(c, "weft_server: first-bytes timeout (the peer sent nothing)", false);
    else if (now - c->moved_at >= srv->idle_to)
        conn_expire(c, "weft_server: idle timeout", false);
}

/* A part's sweeper: while the part has connections, looks at each every
 * tick. */
static int sweep_main(void *arg, void **result)
{
    part_t *p = arg;
    weft_server_t *srv = p->srv;
    (void)result;
    for (;;) {
        int rc = p->nconns ? weft_sleep(srv->tick) : wait_on(p, &p->none);
        if (rc < 0)
            break;
        int64_t now = weft_now();
        for (slab_t *sl = p->slabs; sl; sl = sl->next)
            for (size_t i = 0; i < sl->n; i++) {
                conn_t *c = &sl->c[i];
                if (c->task && c->s && !c->expired &&
                    (c->phase == PH_SERVING || c->phase == PH_CLOSING))
                    conn_check(c, now);
            }
    }
    return 0;
}

/* The handler task has ended (on the loop's stack, from its finish; after
 * its group, if any, has counted it). */
static void conn_done(weft__waiter_t *w, void *src)
{
    conn_t *c = WEFT_CONTAINER_OF(w, conn_t, done);
    part_t *p = c->p;
    weft_task_t *t = src;
    if (c->s) { /* cancelled before it ran, or it got no stack */
        if (c->phase == PH_NEW && t->status == -ENOMEM)
            say(p->srv, "closed a new connection: its task got no stack", -ENOMEM);
        weft_stream_abort(c->s);
    }
    if (!p->srv->opts.group) {
        /* A connection that failed (a reset, a stalled peer) is the
         * handler's business, not an error nobody retrieved. A group's
         * child is the group's: it reports the failure and holds the task. */
        t->retrieved = 1;
        weft_task_release(t);
    }
    conn_put(p, c);
    conns_add(p, -1);
    wake_all(&p->room);
    if (p->nconns == 0)
        wake_all(&p->idle);
}

static int conn_spawn(part_t *p, conn_t *c)
{
    weft_server_t *srv = p->srv;
    /* beside the stream it serves, which belongs to this worker */
    weft_task_opts_t topts = {.stack_size = srv->opts.stack_size, .place = WEFT_PLACE_HERE};
    if (srv->opts.group)
        return weft_group_spawn_wait(srv->opts.group, &c->task, conn_main, c, &topts);
    return weft_spawn(&c->task, conn_main, c, &topts);
}

static int accept_main(void *arg, void **result)
{
    part_t *p = arg;
    weft_server_t *srv = p->srv;
    (void)result;
    int64_t backoff = 0;
    unsigned burst = 0;
    for (;;) {
        int rc;
        if (srv->opts.max_conns > 0 && p->nconns >= (size_t)srv->opts.max_conns) {
            if (wait_on(p, &p->room) < 0)
                break;
            continue;
        }
        conn_t *c = conn_get(p);
        rc = c ? weft_listener_accept(p->l, &c->s, NULL, &srv->opts.stream) : -ENOMEM;
        const char *why = !c ? "accepting paused: no memory for a connection's record"
                             : "accept failed, backing off (connections wait in the backlog, "
                               "or are closed if their stream could not be set up)";
        if (rc == 0) {
            rc = conn_spawn(p, c);
            if (rc == 0) {
                c->done.task = NULL;
                c->done.notify = conn_done;
                weft__task_watch(c->task, &c->done);
                conns_add(p, 1);
                if (p->nconns == 1)
                    wake_all(&p->none); /* the sweeper */
                backoff = 0;
                if (++burst % ACCEPT_BURST == 0 && weft_yield() < 0)
                    break;
                continue;
            }
            weft_stream_abort(c->s); /* no task for it: drop the connection */
            why = "closed a new connection: no task could be spawned for it";
        }
        if (c)
            conn_put(p, c);
        if (rc == -ECANCELED && srv->opts.group && !weft_task_cancelled(weft__task()))
            continue; /* the group failed or was cancelled: it takes no more
                       * children, so each new connection is closed at once */
        if (rc == -ECANCELED || rc == -EBADF || rc == -ETIMEDOUT)
            break;
        /* out of fds or memory (or a sick listener): pause, never spin */
        say(srv, why, rc);
        backoff = backoff ? backoff * 2 : BACKOFF_MIN;
        if (backoff > BACKOFF_MAX)
            backoff = BACKOFF_MAX;
        if (weft_sleep(backoff) < 0)
            break;
    }
    return 0;
}

/* Serves l on the calling task's worker as part p, which takes l on
 * success (on failure l stays the caller's). */
static int part_start(part_t *p, weft_listener_t *l)
{
    p->l = l;
    weft_task_opts_t topts = {.name = "weft-server", .place = WEFT_PLACE_HERE};
    int rc = 0;
    if (p->srv->tick) {
        weft_task_opts_t so = {.name = "weft-server-timeouts", .place = WEFT_PLACE_HERE};
        rc = weft_spawn(&p->sweeper, sweep_main, p, &so);
    }
    if (rc == 0 && (rc = weft_spawn(&p->acceptor, accept_main, p, &topts)) < 0 && p->sweeper) {
        weft_cancel(p->sweeper); /* not started: it never runs */
        weft_task_release(p->sweeper);
        p->sweeper = NULL;
    }
    if (rc < 0) {
        p->l = NULL;
        return rc;
    }
    p->started = true;
    return 0;
}

/* Ends, at once, every connection of p whose handler waits for its
 * peer's next message (weft__stream_end_idle), and every later read of
 * that kind on them: an idle keep-alive connection holds no close for
 * its grace. */
static void end_idle_conns(part_t *p)
{
    for (slab_t *sl = p->slabs; sl; sl = sl->next)
        for (size_t i = 0; i < sl->n; i++)
            if (sl->c[i].task && sl->c[i].s)
                weft__stream_end_idle(sl->c[i].s);
}

static void cancel_conns(part_t *p)
{
    for (slab_t *sl = p->slabs; sl; sl = sl->next)
        for (size_t i = 0; i < sl->n; i++)
            if (sl->c[i].task)
                weft_cancel(sl->c[i].task);
}

/* Closes part p, from a task on its worker: stops accepting (closes the
 * listener), gives the open connections up to grace_ns to end, then
 * cancels their handlers and waits for them to unwind. Suspends. 0,
 * -ETIMEDOUT (handlers had to be cancelled), -ECANCELED (the caller was
 * cancelled meanwhile: so were the handlers). */
static int part_close(part_t *p, int64_t grace_ns)
{
    if (!p->started)
        return 0;
    p->started = false;
    weft_task_t *self = weft__task();
    /* the acceptor is the listener's only user: stop it first */
    weft_cancel(p->acceptor);
    weft__task_join_quietly(p->acceptor);
    weft_task_release(p->acceptor);
    p->acceptor = NULL;
    weft_listener_close(p->l);
    p->l = NULL;

    int result = 0;
    if (p->nconns) {
        end_idle_conns(p);
        weft_deadline_t d;
        weft_deadline_push(&d, grace_ns);
        int rc = 0;
        while (p->nconns && rc == 0)
            rc = wait_on(p, &p->idle);
        weft_deadline_pop(&d);
        if (p->nconns) {
            result = rc == -ECANCELED ? -ECANCELED : -ETIMEDOUT;
            cancel_conns(p);
            self->b->nocancel++;
            while (p->nconns)
                wait_on(p, &p->idle);
            self->b->nocancel--;
        }
    }
    if (p->sweeper) { /* it reads the slabs: stop it before they go */
        weft_cancel(p->sweeper);
        weft__task_join_quietly(p->sweeper);
        weft_task_release(p->sweeper);
        p->sweeper = NULL;
    }
    slab_t *sl;
    while ((sl = p->slabs)) {
        p->slabs = sl->next;
        free(sl);
    }
    p->free = NULL;
    p->nslots = 0;
    return result;
}

/* ---- tasks on the other workers: binding and closing their parts ---- */

static int bind_task(void *arg, void **result)
{
    (void)result;
    part_t *p = arg;
    weft_server_t *srv = p->srv;
    weft_listener_t *l;
    weft_listen_opts_t lo = srv->opts.listen;
    lo.reuseport = true;
    int rc = weft_addr_listen(&l, &srv->addr, &lo);
    if (rc == 0 && (rc = part_start(p, l)) < 0)
        weft_listener_close(l);
    return rc;
}

static int close_task(void *arg, void **result)
{
    (void)result;
    part_t *p = arg;
    return part_close(p, p->srv->grace);
}

/* Sleeps ns whatever the caller's cancellation and deadlines. Suspends. */
static void nap_quietly(int64_t ns)
{
    weft_task_t *self = weft__task();
    self->b->nocancel++;
    weft__park(self, &wait_kind, NULL, NULL, weft_now() + ns, NULL);
    self->b->nocancel--;
}

/* Spawns fn(part) on the worker of every part that `pick` selects, into
 * srv->helpers. A spawn that fails for memory is tried again, so that a
 * close always reaches every part. */
static void helpers_spawn(weft_server_t *srv, weft_task_fn fn, bool (*pick)(const part_t *p))
{
    for (int i = 0; i < srv->nparts; i++) {
        part_t *p = &srv->parts[i];
        srv->helpers[i] = NULL;
        if (!pick(p))
            continue;
        weft_task_opts_t o = {
            .name = "weft-server", .place = WEFT_PLACE_WORKER, .worker = p->worker};
        while (weft_spawn(&srv->helpers[i], fn, p, &o) < 0)
            nap_quietly(WEFT_MSEC(1));
    }
}

/* Waits for every helper without interruption; returns the worst status
 * (a non-zero one, the first found). */
static int helpers_join(weft_server_t *srv)
{
    int worst = 0;
    for (int i = 0; i < srv->nparts; i++) {
        weft_task_t *t = srv->helpers[i];
        if (!t)
            continue;
        weft__task_join_quietly(t);
        int rc = weft_task_result(t, NULL);
        if (rc < 0 && (worst == 0 || rc == -ECANCELED))
            worst = rc;
        weft_task_release(t);
        srv->helpers[i] = NULL;
    }
    return worst;
}

static bool remote_unbound(const part_t *p)
{
    return p->worker != weft_worker_index() && !p->started;
}

static bool remote_started(const part_t *p)
{
    return p->worker != weft_worker_index() && p->started;
}

/* Closes every part: the other workers' by a task there each (they get
 * the whole grace), this worker's here (under the caller's cancellation
 * and deadlines). Suspends until all have closed. */
static int close_parts(weft_server_t *srv, int64_t grace_ns)
{
    srv->grace = grace_ns;
    helpers_spawn(srv, close_task, remote_started);
    int here = weft_worker_index(), result = 0;
    for (int i = 0; i < srv->nparts; i++)
        if (srv->parts[i].worker == here)
            result = part_close(&srv->parts[i], grace_ns);
    int rc = helpers_join(srv);
    if (rc < 0 && (result == 0 || rc == -ECANCELED))
        result = rc;
    return result;
}

/* ---- the public calls ---- */

static bool opts_bad(const weft_server_opts_t *o)
{
    return o && (o->max_conns < 0 || o->listen.backlog < 0 || o->first_bytes_timeout < 0 ||
                 o->idle_timeout < 0 || o->send_timeout < 0);
}

int weft_server_start(weft_server_t **out, weft_listener_t *l, weft_conn_fn handler, void *arg,
                      const weft_server_opts_t *opts)
{
    if (!out || !l || !handler || opts_bad(opts) || (opts && opts->per_worker))
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_server_t *srv = server_new(handler, arg, opts, 1);
    if (!srv)
        return -ENOMEM;
    srv->parts[0].worker = L->index;
    weft_listener_addr(l, &srv->addr);
    weft_addr_format(&srv->addr, srv->name, sizeof srv->name);
    int rc = part_start(&srv->parts[0], l);
    if (rc < 0) {
        server_unref(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int weft_server_listen(weft_server_t **out, const char *host, const char *port,
                       weft_conn_fn handler, void *arg, const weft_server_opts_t *opts)
{
    if (!out || !port || !handler || opts_bad(opts))
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L || !weft__task())
        return L ? -WEFT_ENOTASK : -WEFT_ENOLOOP;
    int n = opts && opts->per_worker ? L->rt->n : 1;
    weft_server_t *srv = server_new(handler, arg, opts, n);
    if (!srv)
        return -ENOMEM;
    part_t *mine = &srv->parts[n > 1 ? L->index : 0];
    mine->worker = L->index;
    weft_listen_opts_t lo = srv->opts.listen;
    lo.reuseport = lo.reuseport || n > 1;
    weft_listener_t *l = NULL;
    int rc = weft_tcp_listen(&l, host, port, &lo);
    if (rc == 0 && (rc = weft_listener_addr(l, &srv->addr)) == 0) {
        weft_addr_format(&srv->addr, srv->name, sizeof srv->name);
        rc = part_start(mine, l);
    }
    if (rc < 0) {
        if (l)
            weft_listener_close(l);
        server_unref(srv);
        return rc;
    }
    if (n > 1) {
        /* every other worker binds the same address, beside its loop */
        helpers_spawn(srv, bind_task, remote_unbound);
        rc = helpers_join(srv);
        if (rc < 0) {
            close_parts(srv, 0);
            server_unref(srv);
            return rc;
        }
    }
    *out = srv;
    return 0;
}

int weft_server_addr(const weft_server_t *srv, weft_addr_t *addr)
{
    if (!srv || !addr)
        return -EINVAL;
    if (SFREED(srv))
        return weft__stale("server", srv, "weft_server_addr");
    *addr = srv->addr;
    return 0;
}

size_t weft_server_conns(const weft_server_t *srv)
{
    if (!srv)
        return 0;
    if (SFREED(srv)) {
        weft__stale("server", srv, "weft_server_conns");
        return 0;
    }
    size_t n = 0;
    for (int i = 0; i < srv->nparts; i++)
        n += __atomic_load_n(&srv->parts[i].nconns, __ATOMIC_RELAXED);
    return n;
}

int weft_server_workers(const weft_server_t *srv)
{
    if (!srv)
        return -EINVAL;
    if (SFREED(srv))
        return weft__stale("server", srv, "weft_server_workers");
    return srv->nparts;
}

bool weft_server_closing(const weft_server_t *srv)
{
    if (!srv)
        return false;
    if (SFREED(srv)) {
        weft__stale("server", srv, "weft_server_closing");
        return true;
    }
    return __atomic_load_n(&srv->closing, __ATOMIC_RELAXED);
}

weft_server_t *weft_server_current(void)
{
    weft_task_t *self = weft__task();
    return self && self->fn == conn_main ? ((conn_t *)self->arg)->p->srv : NULL;
}

int weft_server_wait(weft_server_t *srv)
{
    if (!srv)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int rc;
    {
        WEFT__LOCK(&srv->mu);
        if (SFREED(srv))
            return weft__stale("server", srv, "weft_server_wait");
        if (srv->closed)
            return 0;
        rc = weft__wait_check(self);
        if (rc)
            return rc;
        srv->refs++;
        weft__wlist_push(&srv->stopped, &self->b->waiter);
        rc = weft__park(self, &wait_kind, srv, unpark_waiter, WEFT_FOREVER, &weft__lk);
    }
    server_unref(srv);
    return rc;
}

int weft_server_close(weft_server_t *srv, int64_t grace_ns)
{
    if (!srv || grace_ns < 0)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    /* a handler would wait for its own end */
    if (self->fn == conn_main && ((conn_t *)self->arg)->p->srv == srv)
        return -EDEADLK;
    {
        WEFT__LOCK(&srv->mu);
        if (SFREED(srv))
            return weft__stale("server", srv, "weft_server_close");
        if (srv->closing)
            return -EINVAL;
        __atomic_store_n(&srv->closing, true, __ATOMIC_RELAXED); /* weft_server_closing */
    }
    int result = close_parts(srv, grace_ns);
    {
        WEFT__LOCK(&srv->mu);
        srv->closed = true;
        wake_all(&srv->stopped);
    }
    server_unref(srv);
    return result;
}
