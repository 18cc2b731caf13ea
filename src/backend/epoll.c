/* epoll.c - the epoll backend: readiness waits with nanosecond timeouts.
 *
 * Owns: the epoll instance and the eventfd that other threads write to
 * wake a loop blocked in the poll (weft__loop_post writes it when the
 * loop's inbox turns non-empty; the loop drains the inbox after the
 * poll). Waits use epoll_pwait2 (Linux 5.11+), whose timeout is a
 * timespec: a wait rounded to whole milliseconds wakes up to a
 * millisecond late, which a 1 kHz control loop cannot afford.
 * Where the kernel lacks it, epoll_wait with the timeout rounded up (never
 * early) takes over.
 *
 * An event's data.ptr is the weft__io record it concerns (see io.c), or
 * NULL for the wake-up eventfd; a data word with WEFT__FDWAIT_TAG set is
 * a foreign fd's (fdwait.c), looked up by fd and generation.
 */
#include "../loop.h"
#include "../io.h"

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

int weft__backend_init(weft__backend_t *be)
{
    be->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (be->epfd < 0)
        return -errno;
    be->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (be->wakefd < 0) {
        int e = errno;
        close(be->epfd);
        return -e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(be->epfd, EPOLL_CTL_ADD, be->wakefd, &ev) < 0) {
        int e = errno;
        close(be->wakefd);
        close(be->epfd);
        return -e;
    }
    /* Valgrind does not know epoll_pwait2 and warns on every call */
#if defined(WEFT_HAVE_VALGRIND)
    be->have_pwait2 = !RUNNING_ON_VALGRIND;
#else
    be->have_pwait2 = true;
#endif
    be->nwatch = 0;
    be->napfd = -1;
    be->fdtab = NULL;
    return 0;
}

void weft__backend_fini(weft__backend_t *be)
{
    weft__fdwait_fini(be);
    if (be->napfd >= 0)
        close(be->napfd);
    close(be->epfd);
    be->epfd = be->napfd = -1;
}

void weft__backend_fini_notify(weft__backend_t *be)
{
    if (be->wakefd >= 0)
        close(be->wakefd);
    be->wakefd = -1;
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

int weft__backend_poll(weft__loop_t *L, int64_t timeout_ns)
{
    weft__backend_t *be = &L->be;
    struct epoll_event evs[128];
    int n;
    if (be->have_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        n = epoll_pwait2(be->epfd, evs, 128, tsp, NULL);
        if (n < 0 && errno == ENOSYS) {
            be->have_pwait2 = false;
            return weft__backend_poll(L, timeout_ns);
        }
    } else {
        int ms = -1;
        if (timeout_ns >= 0) {
            int64_t m = (timeout_ns + 999999) / 1000000;
            ms = m > INT32_MAX ? INT32_MAX : (int)m;
        }
        n = epoll_wait(be->epfd, evs, 128, ms);
    }
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == NULL) {
            uint64_t v;
            ssize_t r = read(be->wakefd, &v, sizeof v);
            (void)r;
            continue;
        }
        if (evs[i].data.u64 & WEFT__FDWAIT_TAG) {
            weft__fdwait_event(L, evs[i].data.u64, evs[i].events);
            continue;
        }
        weft__io_event(evs[i].data.ptr, evs[i].events);
    }
    return n;
}
