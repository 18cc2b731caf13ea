/* udp.c - UDP sockets: datagrams sent and received by tasks.
 *
 * Owns: a non-blocking datagram socket and its readiness record (io.c:
 * registered once, edge-triggered). A call tries the system call first
 * and waits only on EAGAIN, after clearing the readiness it used.
 *
 * Invariant: io.users counts the calls running on u (at most one
 * receiver and one sender may wait), under the io record's lock, which
 * every call holds (a task of any worker may use u; a wait lets it go).
 * weft_udp_close wakes the waiters with -EBADF and has the fd forgotten
 * and closed on its home thread (io.c), but a caller woken just before
 * the close may not have run yet: the object is freed only once no call
 * is inside it, by whoever comes last.
 */
#include "addr.h"
#include "io.h"
#include "stable.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

struct weft_udp {
    weft__stable_t st; /* live or stale (stable.h) */
    weft__io_t io;
    int fd;
    int family;
};

/* On the home thread, the lock held, once the backend forgot the fd. */
static void udp_forget(weft__io_t *io)
{
    weft_udp_t *u = WEFT_CONTAINER_OF(io, weft_udp_t, io);
    close(u->fd);
    u->fd = -1;
}

/* UDP socket records are type-stable (stable.h), as streams are: a socket
 * used after its close freed it returns -EBADF (weft__stale). */
#define UDP_LIVE 0x73706475u /* "udps" */
static weft__stable_pool_t udp_pool = WEFT__STABLE_POOL(weft_udp_t, io.mu, UDP_LIVE);
#define UFREED(u) WEFT_UNLIKELY(!weft__stable_live(u, UDP_LIVE))

static void udp_free(weft_udp_t *u)
{
    weft__stable_free(&udp_pool, u, &u->io.mu);
}

static void udp_destroy(weft__io_t *io)
{
    udp_free(WEFT_CONTAINER_OF(io, weft_udp_t, io));
}

static bool ip_family(int f)
{
    return f == AF_INET || f == AF_INET6;
}

int weft_udp_open(weft_udp_t **u, const weft_addr_t *bind_to, int family)
{
    if (!u)
        return -EINVAL;
    if (bind_to) {
        if (!ip_family(bind_to->ss.ss_family) || (family && family != bind_to->ss.ss_family))
            return -EINVAL;
        family = bind_to->ss.ss_family;
    } else if (!ip_family(family)) {
        return -EINVAL;
    }
    if (!weft__loop())
        return -WEFT_ENOLOOP;
    weft_udp_t *x = weft__stable_alloc(&udp_pool);
    if (!x)
        return -ENOMEM;
    x->family = family;
    x->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = 0;
    if (x->fd < 0)
        rc = -errno;
    else if (bind_to && bind(x->fd, (const struct sockaddr *)&bind_to->ss, bind_to->len) < 0)
        rc = -errno;
    else
        rc = weft__io_open(&x->io, x->fd);
    if (rc < 0) {
        if (x->fd >= 0)
            close(x->fd);
        udp_free(x);
        return rc;
    }
    x->io.on_forget = udp_forget;
    x->io.destroy = udp_destroy;
    *u = x;
    return 0;
}

int weft_udp_connect(weft_udp_t *u, const weft_addr_t *peer)
{
    if (!u || !peer)
        return -EINVAL;
    WEFT__LOCK(&u->io.mu);
    if (UFREED(u))
        return weft__stale("UDP socket", u, "weft_udp_connect");
    if (u->io.closed || peer->ss.ss_family != u->family)
        return -EINVAL;
    if (connect(u->fd, (const struct sockaddr *)&peer->ss, peer->len) < 0)
        return -errno;
    return 0;
}

/* A call inside u ends (its lock held, lk): the last one out of a closed
 * and forgotten socket frees it. */
static void leave(weft_udp_t *u, weft__lk_t *lk)
{
    u->io.users--;
    if (weft__io_idle(&u->io)) {
        weft__lk_drop(lk);
        udp_free(u);
    }
}

ssize_t weft_udp_sendto(weft_udp_t *u, const void *buf, size_t n, const weft_addr_t *to)
{
    if (!u || (!buf && n))
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&u->io.mu);
    if (UFREED(u))
        return weft__stale("UDP socket", u, "weft_udp_sendto");
    if (u->io.closed)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    const struct sockaddr *sa = to ? (const struct sockaddr *)&to->ss : NULL;
    socklen_t len = to ? to->len : 0;
    ssize_t r;
    u->io.users++;
    for (;;) {
        if (u->io.closed) {
            r = -EBADF;
            break;
        }
        r = sendto(u->fd, buf, n, MSG_NOSIGNAL, sa, len);
        if (r >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            r = -errno;
            break;
        }
        weft__io_clear(&u->io, WEFT__EV_OUT);
        r = weft__io_wait(&u->io, WEFT__EV_OUT, &weft__lk);
        if (r < 0)
            break;
    }
    leave(u, &weft__lk);
    return r;
}

ssize_t weft_udp_recvfrom(weft_udp_t *u, void *buf, size_t n, weft_addr_t *from)
{
    if (!u || (!buf && n))
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&u->io.mu);
    if (UFREED(u))
        return weft__stale("UDP socket", u, "weft_udp_recvfrom");
    if (u->io.closed)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft_addr_t tmp;
    weft_addr_t *a = from ? from : &tmp;
    ssize_t r;
    u->io.users++;
    for (;;) {
        if (u->io.closed) {
            r = -EBADF;
            break;
        }
        a->len = sizeof a->ss;
        r = recvfrom(u->fd, buf, n, 0, (struct sockaddr *)&a->ss, &a->len);
        if (r >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            r = -errno;
            break;
        }
        weft__io_clear(&u->io, WEFT__EV_IN);
        r = weft__io_wait(&u->io, WEFT__EV_IN, &weft__lk);
        if (r < 0)
            break;
    }
    leave(u, &weft__lk);
    return r;
}

int weft_udp_local_addr(const weft_udp_t *u, weft_addr_t *a)
{
    if (!u || !a)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&u->io.mu);
    if (UFREED(u))
        return weft__stale("UDP socket", u, "weft_udp_local_addr");
    if (u->io.closed)
        return -EINVAL;
    return weft__addr_of_fd(u->fd, a, false);
}

int weft_udp_fd(const weft_udp_t *u)
{
    if (!u)
        return -EINVAL;
    WEFT__LOCK((weft__spin_t *)&u->io.mu);
    if (UFREED(u))
        return weft__stale("UDP socket", u, "weft_udp_fd");
    return !u->io.closed ? u->fd : -EINVAL;
}

int weft_udp_close(weft_udp_t *u)
{
    if (!u)
        return -EINVAL;
    WEFT__LOCK(&u->io.mu);
    if (UFREED(u))
        return weft__stale("UDP socket", u, "weft_udp_close");
    if (u->io.closed)
        return -EINVAL;
    weft__io_shut(&u->io);
    if (weft__io_idle(&u->io)) {
        weft__lk_drop(&weft__lk);
        udp_free(u);
    }
    return 0;
}
