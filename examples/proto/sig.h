/* sig.h - waiting in a task for SIGINT or SIGTERM, for the example servers.
 *
 * The two signals are blocked before the loop starts (so one arriving
 * while the server starts stays pending instead of killing it), then a
 * task waits for them with weft_signal_wait.
 *
 * Call stop_signals_block() first thing in main, before weft_run, so every
 * thread starts with the signals blocked and none arrives unhandled while
 * the server starts. Then, in a task, stop_signals_wait() suspends until
 * one of them arrives; serve_until_stopped() does the whole life of an
 * example server around it.
 */
#ifndef WEFT_EXAMPLES_PROTO_SIG_H
#define WEFT_EXAMPLES_PROTO_SIG_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>

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
    static const int stop[] = {SIGINT, SIGTERM};
    int signo = 0;
    int rc = weft_signal_wait(stop, 2, &signo);
    return rc < 0 ? rc : signo;
}

/* Serves 127.0.0.1:port with handler on every worker (weft_serve_start),
 * prints "NAME: listening on ADDR (N workers)" (the tests read it), waits
 * for SIGINT or SIGTERM, then gives clients a second to finish before
 * their handlers are cancelled. Suspends. Returns 0 or the listen error
 * (reported on stderr). */
static inline int serve_until_stopped(const char *name, const char *port, weft_conn_fn handler,
                                      void *arg, const weft_serve_opts_t *opts)
{
    weft_serve_t *sv;
    int rc = weft_serve_start(&sv, "127.0.0.1", port, handler, arg, opts);
    if (rc < 0) {
        fprintf(stderr, "%s: listen on port %s: %s\n", name, port, weft_strerror(rc));
        return rc;
    }
    weft_addr_t a;
    char addr[64];
    weft_serve_addr(sv, &a);
    weft_addr_format(&a, addr, sizeof addr);
    int n = weft_serve_workers(sv);
    printf("%s: listening on %s (%d worker%s)\n", name, addr, n, n == 1 ? "" : "s");
    fflush(stdout);
    stop_signals_wait();
    weft_serve_close(sv, WEFT_SEC(1));
    return 0;
}

#endif
