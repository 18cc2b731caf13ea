/* net.c - TCP and Unix-domain sockets: connecting, listening, accepting,
 * and the socket options of a stream.
 *
 * Owns: listening sockets (their fd, their readiness record, the socket
 * file of a Unix-domain listener) and the short life of a connecting
 * socket before it becomes a stream (stream.c owns it from then on).
 *
 * Numeric hosts never go through name resolution (no thread pool): only
 * names reach weft_getaddrinfo. Every socket is non-blocking and
 * close-on-exec from its creation. Accept takes connections until EAGAIN
 * before it waits, because readiness is edge-triggered (io.c). A TCP
 * listener has TCP_NODELAY set once: accepted sockets inherit it, so a
 * connection costs accept4 and the stream's registration, nothing more.
 *
 * Invariant: `users` counts the accept calls inside a listener.
 * weft_listener_close closes the fd at once and wakes a waiting acceptor
 * with -EBADF, but an acceptor woken just before the close may not have
 * run yet: the object is freed by close only when no call is inside it,
 * else by that call as it leaves (it sees `closed` and touches the fd no
 * more).
 */
#include "addr.h"
#include "io.h"
#include "stable.h"
#include "stream.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A Unix-domain address from any path, relative ones too (addr.c). */

struct weft_listener {
    weft__stable_t st; /* live or stale (stable.h) */
    weft__io_t io;     /* its lock guards the listener; users and closed are its */
    int fd;
    char *path; /* a Unix-domain socket file to remove on close, or NULL */
    dev_t dev;  /* ... if it is still the one we made */
    ino_t ino;
};

/* Listener records are type-stable (stable.h), as streams are: a listener
 * used after its close freed it returns -EBADF (weft__stale). */
#define LISTENER_LIVE 0x6e74736cu /* "lstn" */
static weft__stable_pool_t listener_pool = WEFT__STABLE_POOL(weft_listener_t, io.mu, LISTENER_LIVE);
#define LFREED(l) WEFT_UNLIKELY(!weft__stable_live(l, LISTENER_LIVE))

static void listener_free(weft_listener_t *l)
{
    weft__stable_free(&listener_pool, l, &l->io.mu);
}

static bool ip_family(int f)
{
    return f == AF_INET || f == AF_INET6;
}

/* On the home thread, the lock held, once the backend forgot the fd. */
static void listener_forget(weft__io_t *io)
{
    weft_listener_t *l = WEFT_CONTAINER_OF(io, weft_listener_t, io);
    close(l->fd);
    l->fd = -1;
    if (l->path) {
        /* only our own socket file: another may have taken the name */
        struct stat st;
        if (lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
            unlink(l->path);
        free(l->path);
        l->path = NULL;
    }
}

static void listener_destroy(weft__io_t *io)
{
    listener_free(WEFT_CONTAINER_OF(io, weft_listener_t, io));
}

static bool addr_ok(const weft_addr_t *a)
{
    int f = a->ss.ss_family;
    return (ip_family(f) || f == AF_UNIX) && a->len > sizeof(sa_family_t) && a->len <= sizeof a->ss;
}

/* A port given as text: its number, or -1 for a service name. */
static int port_number(const char *p)
{
    if (!p || !*p)
        return 0;
    int v = 0;
    for (const char *c = p; *c; c++) {
        if (*c < '0' || *c > '9' || v > 65535)
            return -1;
        v = v * 10 + (*c - '0');
    }
    return v > 65535 ? -1 : v;
}

static int set_int(int fd, int level, int opt, int v)
{
    return setsockopt(fd, level, opt, &v, sizeof v) < 0 ? -errno : 0;
}

/* ---- socket options of a stream ---- */

/* The stream's fd if it is a TCP socket; -ENOPROTOOPT for another socket. */
static int tcp_fd(const weft_stream_t *s, const char *call)
{
    int fd = weft__stream_fd(s, call); /* -EINVAL (NULL), -EBADF (closed, stale) */
    if (fd < 0)
        return fd;
    int proto;
    socklen_t len = sizeof proto;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
        return -errno;
    return proto == IPPROTO_TCP ? fd : -ENOPROTOOPT;
}

int weft_stream_set_nodelay(weft_stream_t *s, bool on)
{
    int fd = tcp_fd(s, "weft_stream_set_nodelay");
    if (fd < 0)
        return fd;
    return set_int(fd, IPPROTO_TCP, TCP_NODELAY, on);
}

int weft_stream_set_keepalive(weft_stream_t *s, bool on, int idle_s, int interval_s)
{
    if (idle_s < 0 || interval_s < 0)
        return -EINVAL;
    int fd = tcp_fd(s, "weft_stream_set_keepalive");
    if (fd < 0)
        return fd;
    int rc = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, on);
    if (rc == 0 && on && idle_s)
        rc = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
    if (rc == 0 && on && interval_s)
        rc = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s);
    return rc;
}

static int sock_name(const weft_stream_t *s, weft_addr_t *a, bool peer, const char *call)
{
    if (!a)
        return -EINVAL;
    int fd = weft__stream_fd(s, call);
    if (fd < 0)
        return fd;
    return weft__addr_of_fd(fd, a, peer);
}

int weft_stream_local_addr(const weft_stream_t *s, weft_addr_t *a)
{
    return sock_name(s, a, false, "weft_stream_local_addr");
}

int weft_stream_peer_addr(const weft_stream_t *s, weft_addr_t *a)
{
    return sock_name(s, a, true, "weft_stream_peer_addr");
}

/* ---- connecting ---- */

/* Waits until a connect in progress on fd ends; its outcome. The
 * readiness record is the connect's own, in memory of its own (never on
 * the task's stack), and leaves the fd unregistered for the stream. */
static int wait_connected(int fd)
{
    weft__io_t *io = malloc(sizeof *io);
    if (!io)
        return -ENOMEM;
    int rc = weft__io_open(io, fd);
    if (rc == 0)
        rc = weft__io_wait(io, WEFT__EV_OUT, NULL); /* only this task knows io */
    weft__io_close_here(io);
    free(io);
    if (rc < 0)
        return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

/* A Unix-domain listener whose backlog is full refuses a non-blocking
 * connect with EAGAIN and tells nobody when it has room: try again after
 * a pause, 1 ms doubling to 100 ms. */
static int connect_unix_retry(int fd, const weft_addr_t *a)
{
    int64_t pause = WEFT_MSEC(1);
    for (;;) {
        int rc = weft_sleep(pause);
        if (rc < 0)
            return rc;
        if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
            return 0;
        if (errno != EAGAIN)
            return -errno;
        if (pause < WEFT_MSEC(100))
            pause *= 2;
    }
}

int weft_addr_connect(weft_stream_t **s, const weft_addr_t *addr, const weft_stream_opts_t *opts)
{
    if (!s || !addr || !addr_ok(addr))
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    int family = addr->ss.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
        if (errno == EINPROGRESS || errno == EINTR)
            rc = wait_connected(fd);
        else if (errno == EAGAIN && family == AF_UNIX)
            rc = connect_unix_retry(fd, addr);
        else
            rc = -errno;
    }
    if (rc == 0 && ip_family(family))
        rc = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return weft__stream_open(s, fd, opts, WEFT__STREAM_SOCK | WEFT__STREAM_PREPARED);
}

int weft_unix_connect(weft_stream_t **s, const char *path, const weft_stream_opts_t *opts)
{
    if (!s || !path || !*path)
        return -EINVAL;
    weft_addr_t a;
    int rc = weft__addr_unix(&a, path);
    if (rc < 0)
        return rc;
    return weft_addr_connect(s, &a, opts);
}

static void copy_ai(weft_addr_t *a, const struct addrinfo *ai)
{
    memset(a, 0, sizeof *a);
    memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
    a->len = ai->ai_addrlen;
}

int weft_tcp_connect(weft_stream_t **s, const char *host, const char *port,
                     const weft_stream_opts_t *opts)
{
    if (!s || !host || !*host || !port || !*port)
        return -EINVAL;
    if (!weft__task())
        return -WEFT_ENOTASK;
    weft_addr_t a;
    int pn = port_number(port);
    if (pn >= 0 && weft_addr_parse(&a, host, pn) == 0) {
        if (!ip_family(a.ss.ss_family))
            return -EINVAL;
        return weft_addr_connect(s, &a, opts);
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int rc = weft_getaddrinfo(host, port, &hints, &res);
    if (rc < 0)
        return rc;
    rc = -WEFT_ENOTFOUND;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (!ip_family(ai->ai_family) || ai->ai_addrlen > sizeof a.ss)
            continue;
        copy_ai(&a, ai);
        rc = weft_addr_connect(s, &a, opts);
        if (rc == 0 || rc == -ECANCELED || rc == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

/* ---- listening ---- */

/* A socket file at path: if nobody listens there any more, removes it so
 * the bind can take the name; a live listener keeps it (-EADDRINUSE). */
static int remove_stale(const char *path, const weft_addr_t *a)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0; /* nothing there, or not a socket: bind will say */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)&a->ss, a->len);
    int err = errno;
    close(fd);
    if (rc == 0 || err == EAGAIN)
        return -EADDRINUSE;
    if (err == ECONNREFUSED && unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int weft_addr_listen(weft_listener_t **l, const weft_addr_t *addr, const weft_listen_opts_t *opts)
{
    if (!l || !addr || !addr_ok(addr) || (opts && opts->backlog < 0))
        return -EINVAL;
    if (!weft__loop())
        return -WEFT_ENOLOOP;
    int family = addr->ss.ss_family;
    int backlog = opts && opts->backlog ? opts->backlog : SOMAXCONN;
    const struct sockaddr_un *su = (const struct sockaddr_un *)&addr->ss;
    bool file = family == AF_UNIX && su->sun_path[0] != '\0';

    weft_listener_t *x = weft__stable_alloc(&listener_pool);
    if (!x)
        return -ENOMEM;
    int rc = 0;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (ip_family(family)) {
        rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (rc == 0 && opts && opts->reuseport)
            rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        if (rc == 0 && family == AF_INET6)
            rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts && opts->v6only);
        /* accepted sockets inherit it: no system call per connection */
        if (rc == 0)
            rc = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    } else if (file) {
        rc = remove_stale(su->sun_path, addr);
    }
    if (rc < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
        rc = -errno;
        goto fail;
    }
    if (file) {
        struct stat st;
        x->path = strdup(su->sun_path);
        if (!x->path || stat(x->path, &st) < 0) {
            rc = x->path ? -errno : -ENOMEM;
            unlink(su->sun_path);
            goto fail;
        }
        x->dev = st.st_dev;
        x->ino = st.st_ino;
    }
    if (listen(fd, backlog) < 0)
        rc = -errno;
    else
        rc = weft__io_open(&x->io, fd);
    x->io.on_forget = listener_forget;
    x->io.destroy = listener_destroy;
    if (rc < 0) {
        if (x->path)
            unlink(x->path);
        goto fail;
    }
    x->fd = fd;
    *l = x;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    free(x->path);
    listener_free(x);
    return rc;
}

int weft_unix_listen(weft_listener_t **l, const char *path, const weft_listen_opts_t *opts)
{
    if (!l || !path || !*path)
        return -EINVAL;
    weft_addr_t a;
    int rc = weft__addr_unix(&a, path);
    if (rc < 0)
        return rc;
    return weft_addr_listen(l, &a, opts);
}

int weft_tcp_listen(weft_listener_t **l, const char *host, const char *port,
                    const weft_listen_opts_t *opts)
{
    if (!l)
        return -EINVAL;
    weft_addr_t a;
    int pn = port_number(port);
    if (pn >= 0 && weft_addr_parse(&a, host, pn) == 0) {
        if (!ip_family(a.ss.ss_family))
            return -EINVAL;
        return weft_addr_listen(l, &a, opts);
    }
    if (!weft__task())
        return -WEFT_ENOTASK;
    /* "no host" means every IPv4 address, as for a numeric port */
    bool any = !host || !*host;
    struct addrinfo hints = {.ai_family = any ? AF_INET : AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int rc = weft_getaddrinfo(any ? NULL : host, port && *port ? port : "0", &hints, &res);
    if (rc < 0)
        return rc;
    rc = -WEFT_ENOTFOUND;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (!ip_family(ai->ai_family) || ai->ai_addrlen > sizeof a.ss)
            continue;
        copy_ai(&a, ai);
        rc = weft_addr_listen(l, &a, opts);
        if (rc == 0)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

/* Errors of a connection that died in the backlog (accept(2) passes them
 * on): the next one may be fine. */
static bool accept_retry(int e)
{
    switch (e) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM: /* a firewall rule refused it */
        return true;
    default:
        return false;
    }
}

/* A call inside l ends (its lock held, lk): the last one out of a closed
 * and forgotten listener frees it. */
static void leave(weft_listener_t *l, weft__lk_t *lk)
{
    l->io.users--;
    if (weft__io_idle(&l->io)) {
        weft__lk_drop(lk);
        listener_free(l);
    }
}

int weft_listener_accept(weft_listener_t *l, weft_stream_t **s, weft_addr_t *peer,
                         const weft_stream_opts_t *opts)
{
    if (!l || !s)
        return -EINVAL;
    WEFT__LOCK(&l->io.mu);
    if (LFREED(l))
        return weft__stale("listener", l, "weft_listener_accept");
    if (l->io.closed)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft_addr_t tmp;
    weft_addr_t *a = peer ? peer : &tmp;
    int fd = -1;
    l->io.users++;
    for (;;) {
        if (l->io.closed) {
            rc = -EBADF;
            break;
        }
        a->len = sizeof a->ss;
        fd = accept4(l->fd, (struct sockaddr *)&a->ss, &a->len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            break;
        if (accept_retry(errno))
            continue;
        if (errno != EAGAIN) {
            rc = -errno;
            break;
        }
        weft__io_clear(&l->io, WEFT__EV_IN);
        rc = weft__io_wait(&l->io, WEFT__EV_IN, &weft__lk);
        if (rc < 0)
            break;
    }
    leave(l, &weft__lk);
    weft__lk_drop(&weft__lk); /* the stream is the accepting worker's */
    if (fd < 0)
        return rc;
    return weft__stream_open(s, fd, opts, WEFT__STREAM_SOCK | WEFT__STREAM_PREPARED);
}

int weft_listener_addr(const weft_listener_t *l, weft_addr_t *a)
{
    if (!l || !a)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&l->io.mu);
    if (LFREED(l))
        return weft__stale("listener", l, "weft_listener_addr");
    if (l->io.closed)
        return -EINVAL;
    return weft__addr_of_fd(l->fd, a, false);
}

int weft_listener_fd(const weft_listener_t *l)
{
    if (!l)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&l->io.mu);
    if (LFREED(l))
        return weft__stale("listener", l, "weft_listener_fd");
    return !l->io.closed ? l->fd : -EINVAL;
}

int weft_listener_close(weft_listener_t *l)
{
    if (!l)
        return -EINVAL;
    WEFT__LOCK(&l->io.mu);
    if (LFREED(l))
        return weft__stale("listener", l, "weft_listener_close");
    if (l->io.closed)
        return -EINVAL;
    weft__io_shut(&l->io);
    if (weft__io_idle(&l->io)) {
        weft__lk_drop(&weft__lk);
        listener_free(l);
    }
    return 0;
}
