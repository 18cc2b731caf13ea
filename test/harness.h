/* harness.h - what every weft test shares: cmocka, a task run as main, the
 * scale of long runs, and the small probes of the machine tests skip on.
 *
 * Every test file includes this header first (`#include "harness.h"`, found
 * next to the file) and nothing else of the harness: it brings cmocka with
 * the headers cmocka needs before it, and weft.h. Everything here is
 * `static inline`, so a suite that uses none of it pays nothing and the
 * header needs no .c of its own.
 *
 * The environment is the test's contract with ctest (test/CMakeLists.txt):
 * WEFT_WORKERS and WEFT_COPY_STACK reach weft_run untouched, so the
 * "<suite>_w2", "<suite>_w4" and "<suite>_copystack" variants run the same
 * binary under other defaults; run() and run_config() must never set the
 * workers or the stack mode themselves unless the caller asks. Long runs
 * scale with WEFT_TEST_SCALE (valgrind 0.05, TSan 0.2), and the suite takes
 * WEFT_TEST_FILTER (a cmocka glob, "*stress*") through run_suite(). */
#ifndef WEFT_TEST_HARNESS_H
#define WEFT_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(WEFT_SANITIZE_ADDRESS)
#define WEFT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_TEST_ASAN 1
#endif
#endif
#ifndef WEFT_TEST_ASAN
#define WEFT_TEST_ASAN 0
#endif

/* An integer carried in a task's void * argument or result, and back. */
#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

/* ---- running a suite ---- */

/* Runs the group `tests` (an array, not a pointer: cmocka counts it) with
 * WEFT_TEST_FILTER, when set, as cmocka's test filter. */
#define run_suite(tests, setup, teardown)                                                          \
    (apply_test_filter(), cmocka_run_group_tests(tests, setup, teardown))

static inline void apply_test_filter(void)
{
    const char *filter = getenv("WEFT_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
}

/* ---- running a task as main ---- */

/* Runs fn(arg) as the main task of a new runtime configured by cfg (NULL:
 * every default, with WEFT_WORKERS and WEFT_COPY_STACK from the
 * environment) and returns its status. */
static inline int run_status(const weft_config_t *cfg, weft_task_fn fn, void *arg)
{
    return weft_run_config(cfg, fn, arg, NULL);
}

/* Runs fn(arg) as main under the defaults and the environment; fails the
 * test unless it returned 0. */
static inline void run(weft_task_fn fn, void *arg)
{
    assert_int_equal(weft_run(fn, arg, NULL), 0);
}

/* run() under cfg: fields left zero keep their defaults (and the
 * environment's, for workers and stack_mode). */
static inline void run_config(const weft_config_t *cfg, weft_task_fn fn, void *arg)
{
    assert_int_equal(run_status(cfg, fn, arg), 0);
}

/* run() on exactly `workers` workers, whatever WEFT_WORKERS says. */
static inline void run_workers(int workers, weft_task_fn fn, void *arg)
{
    weft_config_t cfg = {.workers = workers};
    run_config(&cfg, fn, arg);
}

/* ---- inside a task ---- */

/* Lets every ready task run until it waits: eight turns of the loop, more
 * than any chain of wake-ups a test builds. */
static inline void settle(void)
{
    for (int i = 0; i < 8; i++)
        assert_int_equal(weft_yield(), 0);
}

/* Awaits t, which must succeed, and lets go of it. */
static inline void await_release(weft_task_t *t)
{
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
}

/* Yields until t is in state `st` (a WEFT_TASK_* state); fails if t ends
 * first or 30 s pass. Never a timed guess: a due timer may run before a
 * task spawned just now, and t may live on another worker. */
static inline void wait_state(weft_task_t *t, int st)
{
    int64_t end = weft_now() + WEFT_SEC(30);
    for (;;) {
        int cur = weft_task_state(t);
        if (cur == st)
            return;
        assert_int_not_equal(cur, WEFT_TASK_DONE);
        assert_true(weft_now() < end);
        assert_int_equal(weft_yield(), 0);
    }
}

/* Spawn options that pin a task to the spawning worker, whatever the
 * runtime's rule (WEFT_SPREAD=1 lets a plain spawn run on any worker): for
 * a test about one loop's order (a primitive's FIFO of waiters, yields
 * that interleave tasks in a known order), where tasks on several threads
 * at once would make the checked order one the runtime does not promise.
 * A pointer to a fresh compound literal: weft_spawn(&t, fn, arg, HERE). */
#define HERE (&(weft_task_opts_t){.place = WEFT_PLACE_HERE})

/* ---- a child that records the reason it was cancelled with ---- */

/* What the child saw: that it started, and the reason it was cancelled
 * with (gather and group tests pass reasons on to their children). */
typedef struct {
    atomic_int started, why;
} reason_seen_t;

/* Sleeps long; on cancellation stores its reason in
 * ((reason_seen_t *)arg)->why. */
static inline int reason_child(void *arg, void **result)
{
    (void)result;
    reason_seen_t *seen = arg;
    atomic_store(&seen->started, 1);
    int rc = weft_sleep(WEFT_SEC(100));
    atomic_store(&seen->why, weft_task_cancel_reason(weft_current(), NULL));
    return rc;
}

/* Lets the loop run until the child has started (a child cancelled
 * before it starts ends without running, and would see nothing). */
static inline void wait_started(reason_seen_t *seen)
{
    while (!atomic_load(&seen->started))
        assert_int_equal(weft_yield(), 0);
}

/* Fails with -EIO after a millisecond. */
static inline int failing_child(void *arg, void **result)
{
    (void)arg, (void)result;
    int rc = weft_sleep(WEFT_MSEC(1));
    return rc < 0 ? rc : -EIO;
}

/* ---- scale ---- */

/* WEFT_TEST_SCALE, the factor for counts and sizes of long runs: 1 when
 * unset or not positive. */
static inline double test_scale(void)
{
    const char *s = getenv("WEFT_TEST_SCALE");
    double v = s && *s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

/* n times test_scale(), at least lo. */
static inline long scaled(long n, long lo)
{
    long v = (long)((double)n * test_scale());
    return v < lo ? lo : v;
}

/* ---- the machine ---- */

static inline bool under_valgrind(void)
{
    return RUNNING_ON_VALGRIND;
}

/* Built with AddressSanitizer, whose own SIGSEGV handling and shadow
 * stacks some checks cannot run beside. */
static inline bool under_asan(void)
{
    return WEFT_TEST_ASAN;
}

/* Whether the IPv6 loopback can be bound with a socket of `type`
 * (SOCK_STREAM, SOCK_DGRAM); containers often have none. */
static inline bool have_ipv6(int type)
{
    int fd = socket(AF_INET6, type, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;
    close(fd);
    return ok;
}

/* Some minimal systems (containers without an /etc/hosts entry) cannot
 * resolve "localhost" at all; the tests that need it then skip. */
static inline bool localhost_resolves(void)
{
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo("localhost", NULL, &h, &ai) != 0)
        return false;
    freeaddrinfo(ai);
    return true;
}

/* The number of fds this process has open. */
static inline int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* A connected AF_UNIX stream socketpair; with sndbuf > 0 both ends get
 * kernel buffers of about that size each way, so writers fill them soon. */
static inline void socket_pair(int sv[2], int sndbuf)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sndbuf > 0)
        for (int i = 0; i < 2; i++) {
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
            setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
        }
}

/* ---- programs beside the test ---- */

/* The path of helper program `name` (test/helper_<name>.c builds
 * helper_<name>) in WEFT_TEST_BINDIR, or in the working directory. The
 * buffer is static: copy it before the next call. */
static inline const char *helper_path(const char *name)
{
    static char path[4200];
    const char *bindir = getenv("WEFT_TEST_BINDIR");
    snprintf(path, sizeof path, "%s/%s", bindir && *bindir ? bindir : ".", name);
    return path;
}

/* The path of example program `name`: in WEFT_EXAMPLES_DIR, else in
 * ../examples from WEFT_TEST_BINDIR (or from the working directory). The
 * buffer is static: copy it before the next call. */
static inline const char *example_path(const char *name)
{
    static char path[4200];
    const char *d = getenv("WEFT_EXAMPLES_DIR"), *b = getenv("WEFT_TEST_BINDIR");
    if (d && *d)
        snprintf(path, sizeof path, "%s/%s", d, name);
    else
        snprintf(path, sizeof path, "%s/../examples/%s", b && *b ? b : ".", name);
    return path;
}

#endif
