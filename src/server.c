/* server.c - weft_server: a listener served by a task per connection
 * (asyncio.start_server).
 *
 * Owns: the accepting task, one record per open connection (in slabs
 * that are reused, so a connection costs its task and its stream and no
 * allocation of its own once the slabs have grown), and the lists of
 * tasks waiting on the server: the acceptor for room below max_conns,
 * close for the last connection to end, weft_server_wait for the end.
 *
 * A connection's end is seen by a done-watch on its task (the record's
 * waiter), not by code at the end of the task: a handler cancelled before
 * it ever ran never runs any code, and its stream must still be freed.
 *
 * Invariants: nconns counts the records in use, each with a live task;
 * the accepting task is the only one that touches the listener, and
 * close stops that task before closing the listener; running out of fds
 * or memory never makes the acceptor spin or stop: it sleeps 10 ms,
 * doubling to 1 s, and tries again.
 */
#include "worker.h"

#include <stdlib.h>

static const weft__wait_kind_t wait_kind = {.name = "a server"};

typedef struct conn {
    weft__waiter_t done; /* on the handler task's done list */
    weft_server_t *srv;
    weft_stream_t *s; /* until the handler task closes it */
    weft_task_t *task;
    struct conn *next_free;
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
/* The acceptor gives the loop a turn after this many connections in a
 * row, so a flood of connects cannot starve the handlers. */
#define ACCEPT_BURST 64

struct weft_server {
    weft_listener_t *l;
    weft_conn_fn handler;
    void *arg;
    weft_server_opts_t opts;
    weft_task_t *acceptor;
    size_t nconns;
    slab_t *slabs;
    size_t nslots;
    conn_t *free;
    weft__wlist_t room;    /* the acceptor, at max_conns */
    weft__wlist_t idle;    /* close, waiting for nconns == 0 */
    weft__wlist_t stopped; /* weft_server_wait */
    bool closing;
};

static conn_t *conn_get(weft_server_t *srv)
{
    if (!srv->free) {
        size_t n = srv->nslots ? srv->nslots : SLAB_FIRST;
        if (n > SLAB_MAX)
            n = SLAB_MAX;
        slab_t *sl = malloc(sizeof *sl + n * sizeof sl->c[0]);
        if (!sl)
            return NULL;
        sl->next = srv->slabs;
        sl->n = n;
        srv->slabs = sl;
        srv->nslots += n;
        for (size_t i = 0; i < n; i++) {
            sl->c[i].task = NULL;
            sl->c[i].next_free = i + 1 < n ? &sl->c[i + 1] : NULL;
        }
        srv->free = &sl->c[0];
    }
    conn_t *c = srv->free;
    srv->free = c->next_free;
    c->srv = srv;
    c->s = NULL;
    c->task = NULL;
    return c;
}

static void conn_put(weft_server_t *srv, conn_t *c)
{
    c->task = NULL;
    c->next_free = srv->free;
    srv->free = c;
}

static void unpark_waiter(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
}

/* Parks the calling task on one of the server's lists until woken. */
static int wait_on(weft_server_t *srv, weft__wlist_t *list)
{
    weft_task_t *self = weft__task();
    if (!self->b->nocancel) {
        int rc = weft__wait_check(self);
        if (rc)
            return rc;
    }
    weft__wlist_push(list, &self->b->waiter);
    return weft__park(self, &wait_kind, srv, unpark_waiter, WEFT_FOREVER, NULL);
}

static void wake_all(weft__wlist_t *list)
{
    weft__waiter_t *w;
    while ((w = weft__wlist_take(list)))
        weft__deliver(w->task, 0);
}

static int conn_main(void *arg, void **result)
{
    conn_t *c = arg;
    (void)result;
    /* TLS: the handshake first; a failed one ends the connection quietly */
    int rc = c->srv->opts.tls ? weft_tls_wrap(c->s, c->srv->opts.tls, NULL) : 0;
    if (rc == -EBADF) {
        c->s = NULL; /* closed meanwhile: the stream is gone */
        return rc;
    }
    if (rc == 0)
        rc = c->srv->handler(c->s, c->srv->arg);
    weft_stream_t *s = c->s;
    c->s = NULL;
    weft_stream_close(s); /* flushes within the task: cancelling it cuts that short */
    return rc;
}

/* The handler task has ended (on the loop's stack, from its finish). */
static void conn_done(weft__waiter_t *w, void *src)
{
    conn_t *c = WEFT_CONTAINER_OF(w, conn_t, done);
    weft_server_t *srv = c->srv;
    weft_task_t *t = src;
    /* A connection that failed (a reset, a stalled peer) is the handler's
     * business, not an error nobody retrieved. */
    t->retrieved = 1;
    if (c->s) /* cancelled before it ran */
        weft_stream_abort(c->s);
    weft_task_release(t);
    conn_put(srv, c);
    srv->nconns--;
    wake_all(&srv->room);
    if (srv->nconns == 0)
        wake_all(&srv->idle);
}

static int accept_main(void *arg, void **result)
{
    weft_server_t *srv = arg;
    (void)result;
    /* here: the stream and the server's counts are this worker's */
    weft_task_opts_t topts = {.stack_size = srv->opts.stack_size, .place = WEFT_PLACE_HERE};
    int64_t backoff = 0;
    unsigned burst = 0;
    for (;;) {
        int rc;
        if (srv->opts.max_conns > 0 && srv->nconns >= (size_t)srv->opts.max_conns) {
            if (wait_on(srv, &srv->room) < 0)
                break;
            continue;
        }
        conn_t *c = conn_get(srv);
        rc = c ? weft_listener_accept(srv->l, &c->s, NULL, &srv->opts.stream) : -ENOMEM;
        if (rc == 0) {
            rc = weft_spawn(&c->task, conn_main, c, &topts);
            if (rc == 0) {
                c->done.task = NULL;
                c->done.notify = conn_done;
                weft__task_watch(c->task, &c->done);
                srv->nconns++;
                backoff = 0;
                if (++burst % ACCEPT_BURST == 0 && weft_yield() < 0)
                    break;
                continue;
            }
            weft_stream_abort(c->s); /* no task for it: drop the connection */
        }
        if (c)
            conn_put(srv, c);
        if (rc == -ECANCELED || rc == -EBADF || rc == -ETIMEDOUT)
            break;
        /* out of fds or memory (or a sick listener): pause, never spin */
        backoff = backoff ? backoff * 2 : BACKOFF_MIN;
        if (backoff > BACKOFF_MAX)
            backoff = BACKOFF_MAX;
        if (weft_sleep(backoff) < 0)
            break;
    }
    return 0;
}

int weft_server_start(weft_server_t **srv, weft_listener_t *l, weft_conn_fn handler, void *arg,
                      const weft_server_opts_t *opts)
{
    if (!srv || !l || !handler || (opts && opts->max_conns < 0))
        return -EINVAL;
    if (!weft__loop())
        return -WEFT_ENOLOOP;
    weft_server_t *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->l = l;
    x->handler = handler;
    x->arg = arg;
    if (opts)
        x->opts = *opts;
    weft_task_opts_t topts = {.name = "weft-server", .place = WEFT_PLACE_HERE};
    int rc = weft_spawn(&x->acceptor, accept_main, x, &topts);
    if (rc < 0) {
        free(x);
        return rc;
    }
    *srv = x;
    return 0;
}

int weft_server_wait(weft_server_t *srv)
{
    if (!srv)
        return -EINVAL;
    if (!weft__task())
        return -WEFT_ENOTASK;
    return wait_on(srv, &srv->stopped);
}

size_t weft_server_conns(const weft_server_t *srv)
{
    return srv ? srv->nconns : 0;
}

static void cancel_all(weft_server_t *srv)
{
    for (slab_t *sl = srv->slabs; sl; sl = sl->next)
        for (size_t i = 0; i < sl->n; i++)
            if (sl->c[i].task)
                weft_cancel(sl->c[i].task);
}

int weft_server_close(weft_server_t *srv, int64_t grace_ns)
{
    if (!srv || srv->closing || grace_ns < 0)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    /* a handler would wait for its own end */
    if (self->fn == conn_main && ((conn_t *)self->arg)->srv == srv)
        return -EDEADLK;
    srv->closing = true;
    /* the acceptor is the listener's only user: stop it first */
    weft_cancel(srv->acceptor);
    weft__task_join_quietly(srv->acceptor);
    weft_task_release(srv->acceptor);
    weft_listener_close(srv->l);

    int result = 0;
    if (srv->nconns) {
        weft_deadline_t d;
        weft_deadline_push(&d, grace_ns);
        int rc = 0;
        while (srv->nconns && rc == 0)
            rc = wait_on(srv, &srv->idle);
        weft_deadline_pop(&d);
        if (srv->nconns) {
            result = rc == -ECANCELED ? -ECANCELED : -ETIMEDOUT;
            cancel_all(srv);
            self->b->nocancel++;
            while (srv->nconns)
                wait_on(srv, &srv->idle);
            self->b->nocancel--;
        }
    }
    wake_all(&srv->stopped);
    slab_t *sl;
    while ((sl = srv->slabs)) {
        srv->slabs = sl->next;
        free(sl);
    }
    free(srv);
    return result;
}

/* ---- serving on every worker ---- */

/* One server per worker, each with its own SO_REUSEPORT listener on the
 * same address: the kernel spreads new connections across them, and
 * each connection lives on the worker that accepted it. The per-worker
 * servers are plain weft_server_t, started and closed by a task placed
 * on their worker (a server's state is its worker's alone). */
struct weft_serve {
    int n;
    weft_addr_t addr;
    weft_conn_fn handler;
    void *arg;
    weft_server_opts_t opts;
    weft_server_t **srv; /* [worker] */
};

typedef struct {
    weft_serve_t *sv;
    int64_t grace;
} serve_job_t;

static int serve_start_here(weft_serve_t *sv, weft_listener_t *l)
{
    int w = weft_worker_index();
    int rc = weft_server_start(&sv->srv[w], l, sv->handler, sv->arg, &sv->opts);
    if (rc < 0)
        weft_listener_close(l);
    return rc;
}

static int serve_bind_task(void *arg, void **result)
{
    (void)result;
    weft_serve_t *sv = arg;
    weft_listener_t *l;
    weft_listen_opts_t lo = {.reuseport = true};
    int rc = weft_addr_listen(&l, &sv->addr, &lo);
    return rc < 0 ? rc : serve_start_here(sv, l);
}

static int serve_close_task(void *arg, void **result)
{
    (void)result;
    serve_job_t *j = arg;
    int w = weft_worker_index();
    int rc = weft_server_close(j->sv->srv[w], j->grace);
    j->sv->srv[w] = NULL;
    return rc;
}

/* Runs fn(sv) on every worker that has a server (or, with `all`, on
 * every worker but this one), waits for each, returns the first error. */
static int serve_each(weft_serve_t *sv, weft_task_fn fn, void *arg, bool all)
{
    int here = weft_worker_index(), first = 0;
    weft_task_t **t = calloc((size_t)sv->n, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (int w = 0; w < sv->n; w++) {
        if ((all && w == here) || (!all && !sv->srv[w]))
            continue;
        weft_task_opts_t o = {.place = WEFT_PLACE_WORKER, .worker = w, .name = "serve"};
        int rc = weft_spawn(&t[w], fn, arg, &o);
        if (rc < 0 && !first)
            first = rc;
    }
    for (int w = 0; w < sv->n; w++) {
        if (!t[w])
            continue;
        weft__task_join_quietly(t[w]); /* the servers' own state must settle */
        int rc = weft_task_result(t[w], NULL);
        if (rc < 0 && !first)
            first = rc;
        weft_task_release(t[w]);
    }
    free(t);
    return first;
}

int weft_serve_start(weft_serve_t **out, const char *host, const char *port, weft_conn_fn handler,
                     void *arg, const weft_serve_opts_t *opts)
{
    if (!out || !port || !handler)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int workers = weft_worker_count(); /* >= 1 inside a task */
    if (workers < 1)
        return -WEFT_ENOLOOP;
    int n = opts && opts->this_worker_only ? 1 : workers;
    weft_serve_t *sv = calloc(1, sizeof *sv);
    if (!sv || !(sv->srv = calloc((size_t)workers, sizeof *sv->srv))) {
        free(sv);
        return -ENOMEM;
    }
    sv->n = workers;
    sv->handler = handler;
    sv->arg = arg;
    if (opts)
        sv->opts = opts->server;
    weft_listener_t *l;
    weft_listen_opts_t lo = {.reuseport = n > 1};
    int rc = weft_tcp_listen(&l, host, port, &lo);
    if (rc == 0)
        rc = weft_listener_addr(l, &sv->addr);
    if (rc == 0) {
        rc = serve_start_here(sv, l);
        l = NULL;
    }
    if (rc == 0 && n > 1)
        rc = serve_each(sv, serve_bind_task, sv, true);
    if (l)
        weft_listener_close(l);
    if (rc < 0) {
        weft_serve_close(sv, 0);
        return rc;
    }
    *out = sv;
    return 0;
}

int weft_serve_addr(const weft_serve_t *sv, weft_addr_t *addr)
{
    if (!sv || !addr)
        return -EINVAL;
    *addr = sv->addr;
    return 0;
}

int weft_serve_workers(const weft_serve_t *sv)
{
    if (!sv)
        return -EINVAL;
    int n = 0;
    for (int w = 0; w < sv->n; w++)
        n += sv->srv[w] != NULL;
    return n;
}

int weft_serve_close(weft_serve_t *sv, int64_t grace_ns)
{
    if (!sv || grace_ns < 0)
        return -EINVAL;
    if (!weft__task())
        return -WEFT_ENOTASK;
    serve_job_t j = {.sv = sv, .grace = grace_ns};
    serve_job_t *jp = malloc(sizeof *jp); /* the close tasks read it while we wait */
    int rc = -ENOMEM;
    if (jp) {
        *jp = j;
        rc = serve_each(sv, serve_close_task, jp, false);
        free(jp);
    }
    free(sv->srv);
    free(sv);
    return rc;
}
