/* epoll.c - the epoll backend: readiness waits with nanosecond timeouts.
 *
 * Owns: the epoll instance, the eventfd that other threads write to wake
 * a loop blocked in the poll (weft__loop_post writes it when the loop's
 * inbox turns non-empty; the loop drains the inbox after the poll), the
 * timerfd of naps, and the batch of events being dispatched. Waits use
 * epoll_pwait2 (Linux 5.11+), whose timeout is a timespec: a wait rounded
 * to whole milliseconds wakes up to a millisecond late, which a 1 kHz
 * control loop cannot afford. Where the kernel lacks it, epoll_wait with
 * the timeout rounded up (never early) takes over.
 *
 * An event's data.ptr is the weft__bio_t record it concerns, or NULL for
 * the wake-up eventfd. Callbacks run while the batch is dispatched and
 * may forget records whose events are further down the batch: forget
 * clears such entries, so no callback reaches a record once forgotten.
 */
#include "../backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

#define BATCH 128

struct weft__backend {
    int epfd;
    int wakefd; /* an eventfd other threads write to wake a blocked poll */
    int napfd;  /* a blocking timerfd for weft__backend_nap, or -1 until one */
    bool have_pwait2;
    /* the batch being dispatched: evs[next, n) are still to come */
    int next, n;
    struct epoll_event evs[BATCH];
};

int weft__backend_open(weft__backend_t **out)
{
    weft__backend_t *be = calloc(1, sizeof *be);
    if (!be)
        return -ENOMEM;
    be->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (be->epfd < 0) {
        int e = errno;
        free(be);
        return -e;
    }
    be->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (be->wakefd < 0) {
        int e = errno;
        close(be->epfd);
        free(be);
        return -e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(be->epfd, EPOLL_CTL_ADD, be->wakefd, &ev) < 0) {
        int e = errno;
        close(be->wakefd);
        close(be->epfd);
        free(be);
        return -e;
    }
    /* Valgrind does not know epoll_pwait2 and warns on every call */
#if defined(WEFT_HAVE_VALGRIND)
    be->have_pwait2 = !RUNNING_ON_VALGRIND;
#else
    be->have_pwait2 = true;
#endif
    be->napfd = -1;
    *out = be;
    return 0;
}

void weft__backend_close(weft__backend_t *be)
{
    if (be->napfd >= 0)
        close(be->napfd);
    close(be->epfd);
    be->epfd = be->napfd = -1;
}

void weft__backend_free(weft__backend_t *be)
{
    if (be->wakefd >= 0)
        close(be->wakefd);
    free(be);
}

static uint32_t to_epoll(uint32_t events, unsigned mode)
{
    uint32_t e = 0;
    if (events & WEFT__EV_IN)
        e |= EPOLLIN;
    if (events & WEFT__EV_OUT)
        e |= EPOLLOUT;
    if (events & WEFT__EV_RDHUP)
        e |= EPOLLRDHUP;
    return e | (mode == WEFT__BIO_ONESHOT ? EPOLLONESHOT : EPOLLET);
}

static uint32_t from_epoll(uint32_t e)
{
    return ((e & EPOLLIN) ? WEFT__EV_IN : 0) | ((e & EPOLLOUT) ? WEFT__EV_OUT : 0) |
           ((e & EPOLLRDHUP) ? WEFT__EV_RDHUP : 0) | ((e & EPOLLHUP) ? WEFT__EV_HUP : 0) |
           ((e & EPOLLERR) ? WEFT__EV_ERR : 0);
}

int weft__backend_watch(weft__backend_t *be, weft__bio_t *r, uint32_t events, unsigned mode)
{
    struct epoll_event ev = {.events = to_epoll(events, mode), .data.ptr = r};
    return epoll_ctl(be->epfd, EPOLL_CTL_ADD, r->fd, &ev) < 0 ? -errno : 0;
}

int weft__backend_modify(weft__backend_t *be, weft__bio_t *r, uint32_t events, unsigned mode)
{
    struct epoll_event ev = {.events = to_epoll(events, mode), .data.ptr = r};
    return epoll_ctl(be->epfd, EPOLL_CTL_MOD, r->fd, &ev) < 0 ? -errno : 0;
}

int weft__backend_forget(weft__backend_t *be, weft__bio_t *r)
{
    int rc = epoll_ctl(be->epfd, EPOLL_CTL_DEL, r->fd, NULL) < 0 && errno == EBADF ? -EBADF : 0;
    for (int i = be->next; i < be->n; i++)
        if (be->evs[i].data.ptr == r)
            be->evs[i].data.ptr = NULL, be->evs[i].events = 0;
    return rc;
}

void weft__backend_notify(weft__backend_t *be)
{
    uint64_t one = 1;
    ssize_t w = write(be->wakefd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is full, the loop wakes anyway */
}

/* A timerfd read, not nanosleep: its expiry takes no timer slack (50 µs
 * by default, which would more than double a short nap). */
int weft__backend_nap(weft__backend_t *be, int64_t ns)
{
    if (be->napfd < 0) {
        be->napfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (be->napfd < 0)
            return -errno;
    }
    struct itimerspec it = {.it_value = {ns / 1000000000, ns % 1000000000}};
    if (timerfd_settime(be->napfd, 0, &it, NULL) < 0)
        return -errno;
    uint64_t n;
    ssize_t r = read(be->napfd, &n, sizeof n); /* blocks until it expires */
    return r < 0 && errno != EINTR ? -errno : 0;
}

static int wait_events(weft__backend_t *be, int64_t timeout_ns)
{
    if (be->have_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        int n = epoll_pwait2(be->epfd, be->evs, BATCH, tsp, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        be->have_pwait2 = false;
    }
    int ms = -1;
    if (timeout_ns >= 0) {
        int64_t m = (timeout_ns + 999999) / 1000000;
        ms = m > INT32_MAX ? INT32_MAX : (int)m;
    }
    return epoll_wait(be->epfd, be->evs, BATCH, ms);
}

int weft__backend_poll(weft__backend_t *be, int64_t timeout_ns)
{
    int n = wait_events(be, timeout_ns);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    be->n = n;
    for (be->next = 0; be->next < be->n;) {
        struct epoll_event *e = &be->evs[be->next++];
        weft__bio_t *r = e->data.ptr;
        if (r) {
            r->cb(r, from_epoll(e->events));
        } else if (e->events) { /* the wake-up eventfd */
            uint64_t v;
            ssize_t rd = read(be->wakefd, &v, sizeof v);
            (void)rd;
        }
    }
    be->n = be->next = 0;
    return n;
}
