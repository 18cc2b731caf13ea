/* sig.h - waiting in a task for SIGINT or SIGTERM, for the example servers.
 *
 * The two signals are blocked before the loop starts (so one arriving
 * while the server starts stays pending instead of killing it), then a
 * task waits for them with weft_signal_wait.
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

/* Suspends the calling task until SIGINT or SIGTERM arrives (weft reads
 * them from its signalfd; a waiting task takes SIGINT before weft_run's
 * default of cancelling main). Returns the signal's number, or -errno
 * (-ECANCELED if the task was cancelled). */
static inline int stop_signals_wait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int signo = 0;
    int rc = weft_signal_wait(&set, &signo);
    return rc < 0 ? rc : signo;
}

#endif
