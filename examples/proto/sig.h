/* sig.h - waiting in a task for SIGINT or SIGTERM, for the example servers.
 *
 * Until weft delivers signals to tasks itself, the servers do it by hand:
 * the two signals are blocked (so they no longer kill the process but
 * stay pending) and read from a signalfd, which a weft stream turns into
 * something a task can wait on.
 *
 * Call stop_signals_block() first thing in main, before weft_run, so every
 * thread starts with the signals blocked and none arrives unhandled while
 * the server starts. Then, in a task, stop_signals_wait() suspends until
 * one of them arrives.
 */
#ifndef WEFT_EXAMPLES_PROTO_SIG_H
#define WEFT_EXAMPLES_PROTO_SIG_H

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <weft.h>

/* Blocks SIGINT and SIGTERM in the calling thread (threads started later
 * inherit the mask). Returns 0 or -errno. */
static inline int stop_signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    return -rc;
}

/* Suspends the calling task until SIGINT or SIGTERM arrives. Returns the
 * signal's number, or -errno (-ECANCELED if the task was cancelled). */
static inline int stop_signals_wait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    weft_stream_t *s;
    int rc = weft_stream_open(&s, fd, NULL);
    if (rc < 0)
        return rc;
    struct signalfd_siginfo si;
    rc = weft_stream_readexactly(s, &si, sizeof si, NULL);
    weft_stream_abort(s);
    return rc < 0 ? rc : (int)si.ssi_signo;
}

#endif
