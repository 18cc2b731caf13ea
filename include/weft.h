/* weft.h - coroutines, generators and an event loop for C.
 *
 * The whole public API of libweft. Every function says whether it can
 * suspend the calling task, what it returns and who owns what.
 *
 * Contents: the sections below, in order, with the prefixes of their calls.
 *
 *   Basics                      weft_version, weft_strerror; WEFT_DONE, WEFT_E* codes
 *   Coroutines                  weft_coro_*, weft_stack_default_size
 *   Generators                  weft_gen_*, WEFT_GEN_FOREACH
 *   Time                        weft_now; WEFT_SEC, WEFT_MSEC, WEFT_USEC
 *   The event loop and tasks    weft_run*, weft_spawn, weft_await, weft_cancel,
 *                               weft_uncancel, weft_task_*, weft_current, weft_tasks,
 *                               weft_yield, weft_sleep*
 *     tickers                   weft_ticker_*
 *     deadlines                 weft_deadline_*, weft_wait_for, weft_shield
 *     composition               weft_gather, weft_wait, weft_as_completed_*
 *     futures                   weft_future_*
 *     task groups               weft_group_*
 *     callbacks                 weft_call_soon, weft_call_later, weft_call_at,
 *                               weft_handle_*
 *     several workers           weft_runtime*, weft_worker_*, weft_call_soon_threadsafe
 *     introspection             weft_task_tree, weft_mem_stats
 *   Synchronization             weft_lock_*, weft_event_*, weft_cond_*, weft_sem_*,
 *                               weft_barrier_*
 *   Queues                      weft_queue_*
 *   Channels                    weft_chan_*, weft_select
 *   Blocking work in a pool     weft_to_thread
 *   Addresses and resolution    weft_addr_parse, weft_addr_format, weft_addr_port,
 *                               weft_getaddrinfo
 *   Buffered streams            weft_stream_*
 *   TCP and Unix-domain sockets weft_tcp_*, weft_unix_*, weft_addr_connect,
 *                               weft_addr_listen, weft_listener_*, weft_server_*
 *   TLS                         weft_tls_*, weft_stream_is_tls
 *   UDP                         weft_udp_*
 *   Subprocesses                weft_proc_*
 *   Signals                     weft_signal_*
 *   Waiting on a foreign fd     weft_fd_wait, weft_fd_forget
 *   Task-local values           weft_local_*
 *   Files                       weft_file_*
 *
 * Conventions:
 *  - Calls return 0 (or a count) on success and a negative errno value on
 *    failure; weft_strerror() turns one into text. A few calls also return
 *    the positive WEFT_DONE to say "finished" as distinct from a value.
 *  - Misusing weft returns one of weft's own codes (negated, beyond errno's
 *    range), whose weft_strerror text says what to do instead:
 *    -WEFT_ENOTASK (a call that must run in a task, called elsewhere),
 *    -WEFT_ENOLOOP (no loop runs on the calling thread), -WEFT_ENOTCORO
 *    (a coroutine's or generator's yield outside its body), -WEFT_ETHREAD
 *    (a coroutine resumed on another thread than its first),
 *    -WEFT_ENOTOWNER (a lock released, or a condition used, by a task
 *    that does not hold the lock), -WEFT_EGROUPLIVE (a task group
 *    destroyed before weft_group_wait), -WEFT_EGROUPDONE (a spawn into a
 *    task group whose weft_group_wait has returned). A call's documentation names the
 *    ones it returns.
 *  - Public names are weft_<noun>_<verb>; the runtime's own verbs are short
 *    (weft_run, weft_spawn, weft_await, weft_sleep, weft_yield, weft_cancel).
 *    docs/names.md gives the rule and why some names keep another shape.
 *  - "Suspends" means the call may give the loop a turn. Every suspending
 *    call returns -ECANCELED once the calling task has been cancelled and
 *    -ETIMEDOUT once a deadline scope around it has passed.
 *  - Objects are opaque; whoever creates one owns it and destroys it with
 *    the matching _destroy call unless the documentation says otherwise.
 *  - Timeouts, one rule for every call that takes one: a timeout is a
 *    duration in nanoseconds (int64_t) counted from the call, and
 *    WEFT_FOREVER means no limit. A timeout of 0 or less has already
 *    expired, a negative one exactly as 0: a call that would wait does
 *    not wait, and answers at once what it answers when time is up
 *    (-ETIMEDOUT, or the "not ready" answer its documentation names:
 *    -EAGAIN for weft_select, a count for weft_wait); a sleep or a
 *    callback whose delay has expired is due now (weft_sleep yields
 *    once, weft_call_later runs on the loop's next turn); a deadline
 *    scope pushed with one ends at now + timeout, an instant already
 *    past, not moved up to now (its `when` says so). An instant of
 *    weft_now() (weft_deadline_push_at, weft_sleep_until, weft_call_at)
 *    in the past has expired the same way. A deadline scope bounds every
 *    wait inside it on top of a call's own timeout. Fields of option
 *    structs, where a zeroed struct means every default, say themselves
 *    what 0 means.
 *  - Stale handles. A task handle released once too often is told where
 *    weft can tell: weft_task_release, weft_await, weft_cancel and
 *    weft_cancel_with return -EBADF for a handle whose task record was
 *    freed (its last reference went) and not yet reused, and
 *    weft_task_release also for a task that still runs but has no handle
 *    left (every handle given out was released) or a group child's
 *    borrowed pointer. With the environment variable WEFT_DEBUG set (not
 *    "0") such a use prints the call and the object on stderr and aborts:
 *    the one exception to "bad input returns an error, never crashes".
 *    What stays undefined: a handle used after its record was reused by
 *    a later spawn (records are reused, warm, by the next spawns of the
 *    thread: the stale handle then names the new task), a handle used
 *    after the weft_run that made it returned, and under ASan or Valgrind
 *    (records are malloc'd there: the tool reports the use instead).
 *    Streams (every kind: TCP, Unix, TLS, pipes, files, a child's pipes),
 *    listeners, UDP sockets and servers are told the same way, in every
 *    build:
 *    their records are type-stable (never handed back to the system or
 *    to another kind of object), so every call on one used after the
 *    close, abort or weft_proc_destroy that freed it returns -EBADF (a
 *    call that returns no status answers as for a closed object: NULL,
 *    false, 0, true for weft_stream_is_closing and weft_server_closing),
 *    and with WEFT_DEBUG set prints the call and the object and aborts.
 *    A closed stream whose
 *    record still lives (another task's call was inside it at the close)
 *    answers -EBADF as well, without the abort. Caught: a use until at
 *    least 64 more objects of the same kind have been closed after it (a
 *    freed record waits behind 64 others before it is reused). Not
 *    caught, and undefined: a use after that, when the record may belong
 *    to a newer object of the same kind (a handle is a plain pointer and
 *    carries no generation, so the call then acts on the newer object),
 *    and a call that runs at the same time as the close that frees its
 *    object (one task closes while another, on another worker, starts a
 *    call: it gets -EBADF if the close came first, but racing a reuse is
 *    undefined). Records of these kinds stay allocated for the process's
 *    life, at most their peak number plus 64 each. Any other object
 *    (child process, lock, queue, channel, ...) used after its close or
 *    destroy is undefined behaviour.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <signal.h>

struct addrinfo;

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* Returned by calls that report "finished" as distinct from a value:
 * a coroutine that returned, an exhausted generator. Positive, so it never
 * collides with a negative errno. */
#define WEFT_DONE 1

/* weft's own statuses, beyond errno's range: returned negated, as errno
 * values are, and known to weft_strerror. The first three are outcomes;
 * the rest say the program used weft wrongly, and their text says what
 * to do instead. */
#define WEFT_EINCOMPLETE 1000 /* the stream ended before the bytes asked for */
#define WEFT_ENOTFOUND 1001   /* no such host or service (resolution) */
#define WEFT_ECERT 1002      /* a TLS peer's certificate did not verify (weft_tls_error says why) */
#define WEFT_ENOTASK 1003    /* must be called from a task (weft_run's main or a spawned one) */
#define WEFT_ENOLOOP 1004    /* needs a loop on the calling thread: call it inside weft_run */
#define WEFT_EGROUPLIVE 1005 /* weft_group_destroy while children run: weft_group_wait first */
#define WEFT_ETHREAD 1006    /* a coroutine resumed on another thread than the one it began on */
#define WEFT_ENOTOWNER 1007  /* the calling task does not hold the lock it releases or needs */
#define WEFT_ENOTCORO 1008   /* a coroutine's or generator's yield outside its body */
#define WEFT_EGROUPDONE 1009 /* a spawn into a task group whose wait has returned */

/* ------------------------------------------------------------------------
 * Basics
 * --------------------------------------------------------------------- */

/* Returns the library's version as "MAJOR.MINOR.PATCH". Never suspends.
 * The string is static; the caller does not free it. */
WEFT_API const char *weft_version(void);

/* Returns a static, human-readable text for a status: 0, WEFT_DONE, or a
 * negative errno or weft code (WEFT_E...) as returned by any weft call (a
 * positive one is accepted too, except 1, which reads as WEFT_DONE rather
 * than EPERM). The text of a misuse code says what happened and, after a
 * colon, what to do instead ("not called from a task: call it from a
 * task's function ..."). Never returns NULL and never suspends. */
WEFT_API const char *weft_strerror(int status);

/* ------------------------------------------------------------------------
 * Coroutines: a C function on its own stack that can suspend (yield) and be
 * resumed, passing a value each way. They need no event loop.
 * --------------------------------------------------------------------- */

typedef struct weft_coro weft_coro_t;

/* A coroutine's body. `arg` is the value given to weft_coro_create. What it
 * returns is handed to the resumer of its last resume, with WEFT_DONE. */
typedef void *(*weft_coro_fn)(void *arg);

typedef enum weft_coro_status {
    WEFT_CORO_CREATED = 0, /* made, never resumed */
    WEFT_CORO_RUNNING,     /* running, or resuming another coroutine */
    WEFT_CORO_SUSPENDED,   /* yielded; may be resumed */
    WEFT_CORO_DEAD         /* its function returned */
} weft_coro_status_t;

/* Options for a coroutine (and, through weft_task_opts_t, a task). A NULL
 * pointer or a zeroed struct means every default. */
typedef struct weft_coro_opts {
    /* Usable stack bytes; 0 for the default (weft_stack_default_size()).
     * Rounded up to whole pages; at least 16 KiB. */
    size_t stack_size;
    /* A name, shown in overflow reports and in the task tree. Copied (up
     * to 31 bytes) so the caller keeps ownership of the string. */
    const char *name;
} weft_coro_opts_t;

/* Creates a coroutine that will run fn(arg) on its own stack when first
 * resumed. Never suspends. The stack is taken from a pool, so in the
 * common case this makes no system call. Returns 0 and stores the
 * coroutine in *co (owned by the caller: weft_coro_destroy), -EINVAL if co
 * or fn is NULL or the stack size is absurd (over 1 GiB), -ENOMEM if no
 * memory or stack could be had. */
WEFT_API int weft_coro_create(weft_coro_t **co, weft_coro_fn fn, void *arg,
                              const weft_coro_opts_t *opts);

/* Runs co until it yields or returns; the caller waits meanwhile (a
 * coroutine may resume another: they nest). `value` becomes what co's
 * pending weft_coro_yield receives (ignored on the first resume). Returns
 * 0 when co yielded, storing the yielded value in *out (out may be NULL);
 * WEFT_DONE when co's function returned, storing its return value in *out.
 * Errors: -EINVAL (co NULL), -ESRCH (co is dead), -EBUSY (co is running,
 * is resuming another, or is suspended inside the event loop as part of a
 * task), -WEFT_ETHREAD (co was started on another thread: a started
 * coroutine never changes threads). If the caller is a task, co runs as part of that
 * task (a weft_sleep inside co suspends the task). */
WEFT_API int weft_coro_resume(weft_coro_t *co, void *value, void **out);

/* Suspends the calling coroutine, handing `value` to its resumer (whose
 * weft_coro_resume returns 0). Returns 0 once resumed again, storing the
 * resumer's value in *in (in may be NULL). Returns -WEFT_ENOTCORO when
 * called outside any coroutine created with weft_coro_create (for example
 * from a task's own function, from main, or from a generator's body).
 * This is a coroutine's yield to its resumer, not the loop's weft_yield. */
WEFT_API int weft_coro_yield(void *value, void **in);

/* Returns the status of co (a weft_coro_status_t), or -EINVAL if co is
 * NULL. Never suspends. */
WEFT_API int weft_coro_status(const weft_coro_t *co);

/* Returns the name of a weft_coro_status_t as static text: "created",
 * "running", "suspended" or "dead"; "unknown" for any other value (such
 * as weft_coro_status's -EINVAL). Never NULL; never suspends; needs no
 * loop. */
WEFT_API const char *weft_coro_status_name(int status);

/* Returns the coroutine running on this thread (weft_coro_create'd), or
 * NULL when the caller is not inside one. Never suspends. */
WEFT_API weft_coro_t *weft_coro_current(void);

/* Returns co's name ("" if it has none), or NULL if co is NULL. */
WEFT_API const char *weft_coro_name(const weft_coro_t *co);

/* Destroys co and returns its stack to the pool. A suspended coroutine is
 * discarded where it stands: its function does not run on (C has no
 * unwinding; use a generator and weft_gen_close for clean-up). Returns 0,
 * -EINVAL if co is NULL, -EBUSY if co is running or resuming another (it
 * is left untouched). Never suspends. */
WEFT_API int weft_coro_destroy(weft_coro_t *co);

/* The default usable stack size in bytes of coroutines and tasks
 * (128 KiB; the environment variable WEFT_STACK_SIZE, in bytes or with a K
 * or M suffix, changes it for the process). Each stack also has an 8 KiB
 * guard below it that turns an overflow into a report on stderr, then
 * abort(): "weft: stack overflow in task #3 'worker' (stack 128 KiB): give
 * it more with weft_task_opts_t.stack_size or WEFT_STACK_SIZE" (a single
 * frame larger than the guard can jump it). A task keeps its running
 * state in the top 256 bytes of its own stack. */
WEFT_API size_t weft_stack_default_size(void);

/* ------------------------------------------------------------------------
 * Generators: next / send / close, delegation, a for-each macro.
 * --------------------------------------------------------------------- */

typedef struct weft_gen weft_gen_t;

/* A generator's body: produce values with weft_gen_yield. Return 0 when
 * exhausted, optionally storing a final value in *result (Python's
 * StopIteration.value, what `yield from` evaluates to); or return a
 * negative errno to fail: the consumer's next/send returns that error
 * once, and WEFT_DONE after. */
typedef int (*weft_gen_fn)(void *arg, void **result);

/* Creates a generator running fn(arg) when first advanced. Never
 * suspends. Returns 0 and stores it in *gen (the caller owns it:
 * weft_gen_destroy), -EINVAL if gen or fn is NULL, -ENOMEM. */
WEFT_API int weft_gen_create(weft_gen_t **gen, weft_gen_fn fn, void *arg,
                             const weft_coro_opts_t *opts);

/* Advances gen: same as weft_gen_send(gen, NULL, out). */
WEFT_API int weft_gen_next(weft_gen_t *gen, void **out);

/* Resumes gen, making its pending weft_gen_yield receive `value` (on the
 * first advance, `value` is ignored, as Python requires None). Returns 0
 * with the next yielded value in *out (out may be NULL); WEFT_DONE once gen
 * is exhausted, with its final value in *out the first time (NULL after),
 * and WEFT_DONE on every later call; gen's own negative error
 * the one time its function fails (-ECANCELED included: a body that
 * returns the -ECANCELED of its task's cancellation reports it, as a
 * CancelledError leaves a Python generator). Misuse: -EINVAL (NULL),
 * -EBUSY (gen is running), -WEFT_ETHREAD (started on another thread). Runs as
 * part of the calling task if there is one, so it suspends exactly when
 * the generator's body does. */
WEFT_API int weft_gen_send(weft_gen_t *gen, void *value, void **out);

/* Inside a generator: hands `value` to the consumer and waits to be
 * advanced. Returns 0 when advanced, with the sent value (NULL for next) in
 * *sent (sent may be NULL); -ECANCELED when the generator is being closed:
 * the body should then clean up and return (like GeneratorExit); the
 * error of a weft_gen_throw, which the body may handle and go on (yield
 * again, or return). *sent is left untouched on an error. Returns
 * -WEFT_ENOTCORO when the caller is not a generator's body. */
WEFT_API int weft_gen_yield(void *value, void **sent);

/* Inside a generator: delegates to sub until sub is exhausted (Python's
 * `yield from`): every value sub yields goes to our consumer, every value
 * sent to us goes to sub. Returns 0 when sub is exhausted, with its final
 * value in *result (result may be NULL); sub's negative error if it failed;
 * -ECANCELED if we were closed meanwhile (sub is closed first; if sub's
 * clean-up fails, its error instead, so a delegator that returns what
 * yield_from returned makes the close report it); -WEFT_ENOTCORO outside a
 * generator; -EINVAL if sub is NULL or is the caller itself. An error
 * thrown at us (weft_gen_throw) while we delegate goes to sub first (a
 * thrown -ECANCELED closes sub, as above): if sub handles it and yields,
 * that value goes to our consumer; if sub returns, so does yield_from,
 * with sub's value; if sub fails, yield_from returns sub's error. The
 * caller still owns sub. */
WEFT_API int weft_gen_yield_from(weft_gen_t *sub, void **result);

/* Raises the error err (a negative errno) inside gen at its suspension
 * point (Python's generator.throw): the pending weft_gen_yield returns
 * err, and the body may handle it and go on. Returns as weft_gen_send
 * does: 0 with the next yielded value in *out (out may be NULL; NULL on
 * every other return), WEFT_DONE with the final value if the body then
 * returned 0, or the body's error (err itself if the body passed it on).
 * A generator that never started finishes without running its body, and
 * one already finished cannot catch it: both return err. Misuse: -EINVAL
 * (gen NULL, err >= 0), -EBUSY (gen is running), -WEFT_ETHREAD (started on
 * another thread). A delegating generator hands err to its
 * sub-generator first (weft_gen_yield_from). Suspends only if the body
 * does. */
WEFT_API int weft_gen_throw(weft_gen_t *gen, int err, void **out);

/* Closes gen: a suspended generator's pending weft_gen_yield returns
 * -ECANCELED so the body runs its clean-up and returns. Returns 0 when gen
 * is (now) finished (the body returned 0 or -ECANCELED), the body's own
 * error if its clean-up failed (a delegating generator's includes its
 * sub-generator's: weft_gen_yield_from), -EPROTO if the body yielded
 * again instead of returning (it is then discarded), -EINVAL (NULL),
 * -EBUSY (running), -WEFT_ETHREAD (started on another thread: nothing is
 * done). Closing a generator that never started or is
 * finished just marks it finished and returns 0. Suspends only if the
 * body's clean-up does. */
WEFT_API int weft_gen_close(weft_gen_t *gen);

/* weft_gen_close, which also stores in *result (result may be NULL) the
 * value the body returned on being closed (Python 3.13's close() return
 * value): the *result a body set when it returned 0 during this close;
 * NULL when it returned an error or -ECANCELED, yielded again, or gen
 * never started or had already finished. Same returns as weft_gen_close.
 * (A separate call, so weft_gen_close keeps its one-argument shape.) */
WEFT_API int weft_gen_close_value(weft_gen_t *gen, void **result);

/* Returns true while gen's body is running: between a next, send, throw
 * or close and the body's next yield or return, including while the body
 * resumes another generator (a delegation) or its task is suspended in
 * the body (Python's gi_running). False for NULL. Never suspends. */
WEFT_API bool weft_gen_running(const weft_gen_t *gen);

/* Returns true once gen is exhausted, closed or failed. */
WEFT_API bool weft_gen_done(const weft_gen_t *gen);

/* Closes gen if it is suspended (running its clean-up, as a garbage
 * collected Python generator does), then frees it. Returns 0, -EINVAL
 * (NULL) or -EBUSY (running; nothing is freed). */
WEFT_API int weft_gen_destroy(weft_gen_t *gen);

/* A `for` loop over the values of a generator, each bound to `var` (a
 * void * local to the loop). The loop ends when the generator is exhausted
 * or fails; call weft_gen_next yourself where the failure matters. */
#define WEFT_GEN_FOREACH(gen, var)                                                         \
    for (void *var = NULL; weft_gen_next((gen), &var) == 0;)


/* ------------------------------------------------------------------------
 * Time. Every time in weft is an int64_t count of nanoseconds; instants
 * are read on the loop's monotonic clock (CLOCK_MONOTONIC).
 * --------------------------------------------------------------------- */

#define WEFT_USEC(us) ((int64_t)(us) * 1000)
#define WEFT_MSEC(ms) ((int64_t)(ms) * 1000000)
#define WEFT_SEC(s) ((int64_t)(s) * 1000000000)
/* "No deadline" and "no limit": an instant that never comes, a timeout
 * that never expires (weft.h's rule for timeouts, at the top). */
#define WEFT_FOREVER INT64_MAX

/* Returns the monotonic clock in nanoseconds. Never suspends. */
WEFT_API int64_t weft_now(void);

/* ------------------------------------------------------------------------
 * The event loop and tasks.
 * --------------------------------------------------------------------- */

typedef struct weft_task weft_task_t;

/* A task's body. Return 0 on success, optionally storing a result in
 * *result; or a negative errno to fail. A task that was cancelled
 * normally returns the -ECANCELED its suspending call gave it. */
typedef int (*weft_task_fn)(void *arg, void **result);

/* How weft_run sets up the runtime. A NULL pointer or a zeroed struct
 * means every default; later versions add fields at the end. */
typedef struct weft_config {
    /* Worker threads, each running a loop; the calling thread is worker
     * 0. 0: the environment variable WEFT_WORKERS if set (WEFT_WORKERS=0:
     * one per core), else 1: the default is one worker, asyncio's
     * one-thread world (Go's GOMAXPROCS defaults to every core; weft's
     * does not, so a program is never run on several threads unless it
     * or its user asks). WEFT_WORKERS_PER_CORE: one per core. At most
     * WEFT_WORKERS_MAX. One worker is the plain single-threaded loop and
     * pays nothing for the others. Extra workers run only tasks placed on
     * them (weft_task_opts_t.place) unless `spread` is set. Everything
     * works from a task on any worker: the coordinating objects (locks,
     * events, conditions, semaphores, barriers, queues, channels,
     * futures, groups, task handles, cancellation) and the I/O ones
     * (streams, listeners, UDP sockets, fd waits, processes, signal
     * watches; an fd stays watched by the worker that opened it, and a
     * task elsewhere waits through that worker's poller). Worker threads
     * block every signal except SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT
     * and SIGTRAP. */
    int workers;
    /* Every core, the one switch: a plain weft_spawn (place
     * WEFT_PLACE_DEFAULT) may then run on any worker, as `go` and
     * tokio::spawn do in a multi-threaded runtime: new tasks wait in the
     * spawning worker's queue of unstarted tasks, and another worker
     * (an idle one, or a busy one when that queue is long) steals about
     * half of it in one piece, keeping tasks spawned one after the other
     * in twos together; a run of up to 8 spawned together is left to the
     * spawning worker for 100 us, which starts them one after another,
     * so a small group that talks through one object stays on one
     * worker (a task whose first step computes longer leaves the rest
     * to a thief). Without it a plain spawn stays on the
     * spawning worker, so a program written for one worker never runs
     * two of its tasks at once because someone set WEFT_WORKERS. A program
     * that sets it must guard data its tasks share with weft's locks (or
     * C11 atomics): spread tasks run at the same time on several threads.
     * A task that has started never moves. weft_runtime_set_spread
     * changes it while the runtime runs. Left false, the environment
     * variable WEFT_SPREAD=1 turns it on (to run a program's tests
     * spread without a rebuild). */
    bool spread;
    /* Default usable stack bytes of tasks (0: weft_stack_default_size()). */
    size_t stack_size;
    /* Debug mode: warn on stderr when one step of a task (from a resume to
     * its next suspension) holds the loop longer than slow_step_ns
     * (default 100 ms), as asyncio's debug mode does. The environment
     * variable WEFT_DEBUG=1 turns it on too. */
    bool debug;
    int64_t slow_step_ns;
    /* Most threads in each worker's pool for blocking work
     * (weft_to_thread, name resolution, files). 0: 16. Each worker has a
     * pool of its own: with n workers, up to n times this many. */
    int pool_threads;
    /* The loop thread's timer slack (PR_SET_TIMERSLACK) while it runs, in
     * ns: how much later than asked the kernel may end the loop's waits
     * to batch wake-ups. 0 keeps the thread's own (50 us by default on
     * Linux); 1 asks for the most precise timers (docs/design.md "Timer
     * precision" has the measured effect). */
    int64_t timer_slack_ns;
    /* The loop's default for tasks that do not choose (weft_stack_mode_t):
     * WEFT_STACK_DEFAULT takes the environment variable WEFT_COPY_STACK
     * (1: copy-stack) or else own stacks. */
    int stack_mode;
    /* How long before its next timer the loop stops sleeping and polls
     * instead (0: never; at most 10 ms): a loop woken from a blocked wait
     * starts tens of microseconds late on these machines, one that polls
     * is on time, for the price of that CPU time per timer. For a ticker
     * that must be on time, best on a worker of its own (docs/design.md
     * "Timer precision" has the measured effect). */
    int64_t timer_spin_ns;
    /* The nice value (-20..19; higher: less CPU when CPUs are contended)
     * of the thread pool's threads (weft_to_thread, files, name
     * resolution), so that work handed to the pool (a robot's planner)
     * yields to the loop (its control loop). 0 leaves them as the loop's
     * thread is. A value below the nice value of the thread that calls
     * weft_run needs privilege (CAP_SYS_NICE, or an RLIMIT_NICE of at
     * least 20 - pool_nice): without it weft_run_config fails with
     * -EACCES at once, and says so on stderr, rather than run the pool
     * at a priority that was not asked for. */
    int pool_nice;
    /* Memory given back after a burst (docs/design.md "Memory returned
     * when quiet"). A worker that has been quiet for trim_quiet_ns (it
     * ended no more tasks in that time than trim_floor keeps default-size
     * stacks for) trims once, on its own thread, just before it would
     * block: free stacks and its empty slab segments past the warm floor
     * give their pages back to the kernel (they stay pooled, and cost a
     * page fault per page when used again), and so does malloc's free
     * heap (malloc_trim(0), where libc is glibc). It trims again only
     * after it has ended tasks again, so an idle process is not woken to
     * trim twice; a busy worker never trims. weft_mem_stats counts what
     * went back. 0: the environment variable WEFT_TRIM_QUIET
     * (milliseconds; "off" or a negative number: never) if set, else
     * WEFT_TRIM_QUIET_DEFAULT (10 s). Negative (WEFT_TRIM_NEVER): never
     * trim. A positive value lies within WEFT_TRIM_QUIET_MIN (1 ms) and
     * WEFT_TRIM_QUIET_MAX (one day). */
    int64_t trim_quiet_ns;
    /* The warm floor a trim leaves, in bytes (0: WEFT_TRIM_FLOOR_DEFAULT,
     * 4 MiB; at most WEFT_TRIM_FLOOR_MAX, 1 GiB): free stacks, counted
     * at their full size, up to this much in each worker's own cache and
     * in each stack size of the process's shared store (by default 32
     * stacks of 128 KiB each), and empty slab segments (64 KiB each) up
     * to this much per worker. */
    size_t trim_floor;
} weft_config_t;

#define WEFT_TRIM_NEVER (-1)
#define WEFT_TRIM_QUIET_DEFAULT WEFT_SEC(10)
#define WEFT_TRIM_QUIET_MIN WEFT_MSEC(1)
#define WEFT_TRIM_QUIET_MAX WEFT_SEC(86400)
#define WEFT_TRIM_FLOOR_DEFAULT ((size_t)4 << 20)
#define WEFT_TRIM_FLOOR_MAX ((size_t)1 << 30)

#define WEFT_WORKERS_PER_CORE (-1)
#define WEFT_WORKERS_MAX 256

/* Runs main(arg) as the first task of a new loop on the calling thread,
 * and returns when it has returned: then every task still alive is
 * cancelled and given the chance to unwind, everything is released, and
 * the loop closes. Returns main's status (its result in *result, result
 * may be NULL), -EINVAL if main is NULL, -EBUSY if the calling thread
 * already runs a loop (weft_run does not nest), -ENOMEM. Tasks that ended
 * with an error nobody retrieved, and tasks still pending when the loop
 * closed, are reported on stderr. */
WEFT_API int weft_run(weft_task_fn main, void *arg, void **result);

/* weft_run with a configuration (cfg may be NULL); -EINVAL also for a
 * bad field (workers below WEFT_WORKERS_PER_CORE, pool_threads < 0,
 * timer_spin_ns outside 0..10 ms, stack_mode not a weft_stack_mode_t,
 * pool_nice outside -20..19, a positive trim_quiet_ns outside
 * WEFT_TRIM_QUIET_MIN..WEFT_TRIM_QUIET_MAX, trim_floor above
 * WEFT_TRIM_FLOOR_MAX); -EACCES for a pool_nice this process may
 * not set (see weft_config_t.pool_nice). */
WEFT_API int weft_run_config(const weft_config_t *cfg, weft_task_fn main, void *arg,
                             void **result);

/* Where a task's stack lives (weft_task_opts_t.stack_mode,
 * weft_config_t.stack_mode).
 *
 * WEFT_STACK_OWN: a stack of its own from the pool, committed lazily by
 * the kernel; an idle task costs about a 4 KiB page. Switching costs a
 * few nanoseconds.
 *
 * WEFT_STACK_COPY (copy-stack, shared-stack): the task runs on a stack
 * shared by every copy-stack task of its thread (of the default stack
 * size, at least 1 MiB). When it suspends and another copy-stack task
 * needs the stack, the live part of its stack (usually a few hundred
 * bytes) is copied to a buffer sized to fit, and copied back before it
 * resumes: an idle task costs its object plus that buffer (about 560
 * bytes in all), and a switch between two copy-stack tasks costs the two
 * copies (docs/design.md, "Memory per task", has the measured table).
 * THE ONE RULE: while a copy-stack task is suspended, no pointer into its
 * stack may be used from elsewhere (another task, a callback, another
 * thread): its locals are not there. Pass such data in heap memory.
 * Pointers a copy-stack task hands to the calls it makes are fine; a
 * generator or coroutine it creates and resumes may hold pointers into
 * its stack only while that task is the one resuming it. Debug builds
 * catch a violation where they can: under AddressSanitizer the vacated
 * region is poisoned, and with debug mode (weft_config_t.debug,
 * WEFT_DEBUG=1) it is filled with a pattern whose damage is reported. A
 * copy-stack task asking for a stack_size above the shared stack's size
 * gets a stack of its own, and weft_run's main task always has its own
 * (other tasks are most often handed pointers into main's locals). The
 * environment variable WEFT_COPY_STACK=1 makes copy-stack the default of
 * loops whose config leaves stack_mode at WEFT_STACK_DEFAULT. */
typedef enum weft_stack_mode {
    WEFT_STACK_DEFAULT = 0, /* the loop's default (weft_config_t.stack_mode) */
    WEFT_STACK_OWN = 1,
    WEFT_STACK_COPY = 2
} weft_stack_mode_t;

/* Options for weft_spawn. NULL or zeroed: every default. */
typedef struct weft_task_opts {
    const char *name;  /* copied; shown in the task tree and reports */
    size_t stack_size; /* stack bytes (the task keeps 256 of them, at the top, for its
                        * running state); 0 for the loop's default */
    int stack_mode;    /* weft_stack_mode_t; 0: the loop's default */
    /* Which worker runs it (weft_place_t; only matters with several
     * workers). A task that has started never moves to another worker:
     * the compiler may keep the address of a thread-local (errno's among
     * them) across a call, so moving a running stack between threads is
     * unsafe in C. */
    int place;
    int worker; /* with WEFT_PLACE_WORKER: the worker's index, 0.. */
    /* Eager start (asyncio 3.12's eager tasks): the task's first step runs
     * at once, inside weft_spawn, up to its first suspension (or its end:
     * a task that never suspends is done when weft_spawn returns). Only
     * for a task placed on the caller's worker (the default without
     * spread, WEFT_PLACE_HERE, or any place with one worker); elsewhere
     * it is ignored. The ordering it gives: the spawner steps aside (it
     * waits on nothing, and is neither cancelled nor timed out there) and
     * resumes right after the child's first step, before any task that
     * was already ready; what that step makes ready runs after those.
     * From a loop callback the step runs inside the call as well; inside
     * a coroutine outside any task the task is queued as usual. */
    bool eager;
} weft_task_opts_t;

/* weft_task_opts_t.place. */
typedef enum weft_place {
    /* The runtime's rule (the default): anywhere when the runtime
     * spreads (weft_config_t.spread), else here. */
    WEFT_PLACE_DEFAULT = 0,
    /* The spawning worker, whatever the runtime's rule: the task is
     * pinned there (code that must stay put). */
    WEFT_PLACE_HERE = 1,
    /* Any worker: it waits in the spawning worker's queue of unstarted
     * tasks (consecutive spawns side by side), where another worker may
     * steal it, with about half of that queue, until it starts. */
    WEFT_PLACE_ANY = 2,
    /* The worker weft_task_opts_t.worker names. */
    WEFT_PLACE_WORKER = 3
} weft_place_t;

/* Creates a task that runs fn(arg) on the current loop (or the worker
 * opts->place names), after the tasks already ready (at once with
 * opts->eager). Never suspends (with opts->eager the caller only steps
 * aside for the child's first step).
 *
 * The task gets its stack when it first runs, not here (spawning stays
 * cheap, and a million tasks spawned at once do not hold a million
 * stacks before they run), so weft_spawn does not fail for want of
 * stack memory: a task that finds none when its turn comes (an address
 * space limit, ulimit -v; no memory for a new stack slab) never runs fn
 * and ends with status -ENOMEM, which weft_await and weft_task_result
 * return. A failure that nobody retrieves is reported on stderr when
 * the task is freed ("weft: task #N "name" failed with -12 ... and
 * nobody retrieved it"); identical reports are rate-limited: the first
 * is printed, the rest within a second only counted, then one line "...
 * and N more like it" a second, and at weft_run's end.
 *
 * With task non-NULL, stores a handle in *task: the caller owns one
 * reference and must drop it with weft_task_release (at any time:
 * releasing neither cancels nor waits). With task NULL the task is
 * detached: the loop reclaims it when it ends. Returns 0, -EINVAL (fn
 * NULL, a bad stack size or stack_mode, an unknown place or worker),
 * -WEFT_ENOLOOP when no loop runs on this thread, -ENOMEM (no memory
 * for the task object: never for its stack, see above). */
WEFT_API int weft_spawn(weft_task_t **task, weft_task_fn fn, void *arg,
                        const weft_task_opts_t *opts);

/* Waits until t has finished. Suspends. Returns t's status (0 or its
 * negative error; -ECANCELED if it was cancelled) and its result in
 * *result (result may be NULL). If the caller itself is cancelled or its
 * deadline passes first, returns -ECANCELED or -ETIMEDOUT and t goes on
 * (awaiting does not cancel the awaited task): weft_task_done tells which
 * case it was. Many tasks may await one. -EINVAL if t is NULL,
 * -EDEADLK if t is the caller, -WEFT_ENOTASK. */
WEFT_API int weft_await(weft_task_t *t, void **result);

/* Drops the caller's reference to t (from weft_spawn or weft_shield).
 * Never suspends. The task goes on if it has not finished; its memory is
 * reclaimed once it has and nobody holds it. Returns 0, -EINVAL, or
 * -EBADF for a stale handle (one released already: see "Stale handles"
 * at the top of this file), or a group child's borrowed pointer. */
WEFT_API int weft_task_release(weft_task_t *t);

/* Requests the cancellation of t: its current or next suspending call
 * returns -ECANCELED, and so does every later one (the task should unwind
 * by returning). A task that has not started yet ends cancelled without
 * running. Never suspends; may be called from a callback. Returns 0,
 * -EALREADY if t has already finished, -EINVAL if t is NULL. */
WEFT_API int weft_cancel(weft_task_t *t);

/* Clears the calling task's cancellation request so that it can wait for
 * something during its clean-up (asyncio's Task.uncancel). Returns the
 * number of requests cleared (0 if none), -WEFT_ENOTASK. */
WEFT_API int weft_uncancel(void);

/* Why a task is cancelled (weft_cancel_with, weft_task_cancel_reason).
 * weft itself gives these; a program may use its own codes from
 * WEFT_CANCEL_USER up. */
#define WEFT_CANCEL_REQUESTED 0 /* weft_cancel, with no reason given */
#define WEFT_CANCEL_DEADLINE 1  /* a deadline of the task waiting for it passed
                                 * (weft_wait_for, weft_gather, a group's wait) */
#define WEFT_CANCEL_GROUP 2     /* a sibling failed: in its task group, or in a
                                 * fail-fast weft_gather */
#define WEFT_CANCEL_SHUTDOWN 3  /* weft_run is closing: its main task returned */
#define WEFT_CANCEL_SIGNAL 4    /* a signal (SIGINT, SIGTERM) cancelled weft_run's main */
#define WEFT_CANCEL_DEADLOCK 5  /* nothing could run any more: weft_run cancelled main */
#define WEFT_CANCEL_USER 100

/* weft_cancel, with a reason: `reason` (a WEFT_CANCEL_* code, or the
 * program's own from WEFT_CANCEL_USER) and an optional message (copied;
 * NULL for none) that the task, the task tree and weft's reports can
 * read, as asyncio's Task.cancel(msg). The first reason a task is
 * cancelled with is the one kept (later requests still count, see
 * weft_task_cancelling). A task that waits for others on their behalf
 * (wait_for, gather, a group's wait) passes its own reason on when it is
 * cancelled, and WEFT_CANCEL_DEADLINE when its deadline passed, so a child
 * can tell an outer deadline from a plain cancellation. Never suspends.
 * Returns as weft_cancel, or -EINVAL (reason < 0), -ENOMEM (the message
 * could not be kept: the task is cancelled all the same). */
WEFT_API int weft_cancel_with(weft_task_t *t, int reason, const char *msg);

/* The reason t was first cancelled with, or -ENOENT if it never was
 * (-EINVAL for NULL); *msg (may be NULL) gets its message or NULL, valid
 * while t is. Never suspends. */
WEFT_API int weft_task_cancel_reason(const weft_task_t *t, const char **msg);

/* The number of cancellation requests t has pending: every weft_cancel
 * adds one, weft_uncancel clears them (asyncio's Task.cancelling()). Never
 * suspends. Returns the count, or -EINVAL for NULL. */
WEFT_API int weft_task_cancelling(const weft_task_t *t);

/* The text of a WEFT_CANCEL_* reason ("requested", "deadline", "group",
 * "shutdown", "signal", "deadlock"; "user" for the program's own codes,
 * "unknown" else). Static; never NULL. */
WEFT_API const char *weft_cancel_reason_name(int reason);

typedef enum weft_task_state {
    WEFT_TASK_PENDING = 0, /* spawned, not started */
    WEFT_TASK_READY,       /* started, waiting for its turn */
    WEFT_TASK_RUNNING,     /* running now */
    WEFT_TASK_WAITING,     /* suspended, waiting for something */
    WEFT_TASK_DONE         /* finished: see weft_task_result */
} weft_task_state_t;

/* Returns t's weft_task_state_t, or -EINVAL. Never suspends. */
WEFT_API int weft_task_state(const weft_task_t *t);

/* Returns the name of a weft_task_state_t as static text, the words the
 * task tree uses: "pending", "ready", "running", "waiting" or "done";
 * "unknown" for any other value (such as weft_task_state's -EINVAL).
 * Never NULL; never suspends; needs no loop. */
WEFT_API const char *weft_task_state_name(int state);

/* True once t has finished (returned, failed or been cancelled). */
WEFT_API bool weft_task_done(const weft_task_t *t);

/* True if a cancellation of t has been requested. */
WEFT_API bool weft_task_cancelled(const weft_task_t *t);

/* For a finished t: returns its status and stores its result in *result
 * (may be NULL); this counts as retrieving it. Returns -EAGAIN if t has
 * not finished, -EINVAL if t is NULL. Never suspends. */
WEFT_API int weft_task_result(weft_task_t *t, void **result);

/* Returns t's name, or NULL for a NULL t. A task spawned without one is
 * called "Task-N" (as asyncio names them), N being its id (the #N of the
 * task tree: unique in the runtime, numbered up by each worker), here, in
 * the task tree and in weft's reports; the text is made the first time
 * weft_task_name asks for it (a spawn makes none) and lives with t ("" if
 * it could not be made). Never suspends. */
WEFT_API const char *weft_task_name(const weft_task_t *t);

/* Returns the running task, or NULL outside any task. The pointer is
 * borrowed: valid while the task lives. */
WEFT_API weft_task_t *weft_current(void);

/* Stores up to max borrowed pointers to this loop's live tasks (not yet
 * finished) in out and returns how many there are in all (which may
 * exceed max). The pointers stay valid until the caller next suspends.
 * -WEFT_ENOLOOP when no loop runs on this thread. Never suspends. */
WEFT_API int weft_tasks(weft_task_t **out, size_t max);

/* Registers fn(t, arg) to run on the loop when t finishes (at once, from
 * this call, if it already has). Returns 0, -EINVAL, -ENOMEM. */
WEFT_API int weft_task_on_done(weft_task_t *t, void (*fn)(weft_task_t *t, void *arg),
                               void *arg);

/* Gives the loop a turn: the caller goes to the back of the ready queue
 * (asyncio.sleep(0)). Suspends. Returns 0, -ECANCELED, -ETIMEDOUT,
 * -WEFT_ENOTASK. */
WEFT_API int weft_yield(void);

/* The cooperative budget: how many suspending-capable calls a task may
 * make, each completing at once, before one of them yields its turn.
 * A task whose calls never need to wait (a stream that always has data
 * or room, a queue or channel never empty, an uncontended lock, an
 * event already set, a finished task or future awaited, an fd already
 * ready) would otherwise keep its worker for ever: no timer, signal,
 * poll or other task would run beside it. Each step of a task (from one
 * real suspension to the next) starts with WEFT_COOP_BUDGET units. Each
 * of these calls spends one at its entry: weft_stream_read,
 * _read_exactly, _read_until, _read_line, _fill, _drain and _flush;
 * weft_queue_get and _put; weft_chan_send and _recv; weft_lock_acquire,
 * weft_sem_acquire, weft_event_wait; weft_await, weft_future_await;
 * weft_fd_wait; weft_udp_sendto and _recvfrom. weft_stream_write and
 * _writev, which never suspend, spend one too but never yield. A stream
 * also spends one unit per WEFT_COOP_BYTES it moves: given to
 * weft_stream_write or _writev, or read from its fd or TLS (so a
 * full-speed TLS download yields every few hundred KiB, not after 128
 * writes of any size). The call that finds the budget spent first
 * yields (as weft_yield: to the back of the ready queue, after due
 * timers and a poll of the fds, which the loop makes on the next turn
 * after a spent budget), then goes on; if the task was cancelled or its deadline passed
 * meanwhile it returns -ECANCELED or -ETIMEDOUT having done nothing
 * (except weft_await, weft_future_await and weft_event_wait, whose
 * answer, once it exists, is never replaced). The try_ calls never
 * yield and spend nothing. In a runtime of several workers that spreads
 * (weft_config_t.spread), a task placed anywhere that a running task
 * wakes runs as soon as that task's step ends (a locality slot, as Go's
 * runnext); such hand-offs, one after another, share one budget, so two
 * tasks handing over to each other still give the others a turn. Tasks
 * placed on a worker, and every task with one worker or without spread,
 * are woken to the back of the ready queue, in asyncio's order. */
#define WEFT_COOP_BUDGET 128
/* Bytes a stream moves per unit of the cooperative budget (above). */
#define WEFT_COOP_BYTES 4096

/* Sleeps for ns nanoseconds (0 or less has expired: a weft_yield, one
 * turn of the loop; WEFT_FOREVER until cancelled or a deadline scope
 * ends). Suspends. Returns 0,
 * -ECANCELED, or -ETIMEDOUT if a deadline scope ends first (it wakes at
 * that deadline), -WEFT_ENOTASK. */
WEFT_API int weft_sleep(int64_t ns);

/* Sleeps until the instant `when` of weft_now(); an instant in the past
 * yields once. Same returns as weft_sleep. */
WEFT_API int weft_sleep_until(int64_t when);

/* ---- tickers: periodic work on an absolute schedule ---- */

typedef struct weft_ticker weft_ticker_t;

/* What a ticker does after its task missed ticks (Tokio's
 * MissedTickBehavior). A tick is missed when its deadline passed a whole
 * period or more before the task asked for it. */
typedef enum weft_tick_policy {
    /* Deliver the missed ticks at once, one per wait, until caught up;
     * the schedule stays first + k * period. */
    WEFT_TICK_BURST = 0,
    /* Deliver one tick now and, when ticks were missed, shift the
     * schedule: the next deadline is a period after this delivery. */
    WEFT_TICK_DELAY,
    /* Drop the missed ticks: deliver one now, then go on with the next
     * deadline first + k * period that is still ahead. */
    WEFT_TICK_SKIP
} weft_tick_policy_t;

/* Creates a ticker whose k-th tick (k = 0, 1, ...) is due at
 * first + k * period_ns on weft_now()'s clock (first <= 0: now +
 * period_ns). Deadlines are absolute, so a ticker never drifts: N ticks
 * end at first + (N-1) * period whatever each one's lateness. Never
 * suspends. Returns 0, -EINVAL (tk NULL, period_ns <= 0, a bad policy),
 * -ENOMEM. The caller owns *tk (weft_ticker_destroy). */
WEFT_API int weft_ticker_create(weft_ticker_t **tk, int64_t period_ns, int64_t first,
                                weft_tick_policy_t policy);

/* Waits for the next tick. Suspends until its deadline (returns after a
 * yield if it is past). Stores the tick's deadline in *deadline (may be
 * NULL; weft_now() - *deadline is the lateness). Returns 0, -ECANCELED,
 * -ETIMEDOUT (a deadline scope ended first: the tick is not consumed),
 * -EINVAL, -WEFT_ENOTASK. */
WEFT_API int weft_ticker_wait(weft_ticker_t *tk, int64_t *deadline);

/* Ticks missed so far (see weft_tick_policy_t), or -EINVAL. */
WEFT_API int64_t weft_ticker_missed(const weft_ticker_t *tk);

/* Ticks delivered so far, or -EINVAL. */
WEFT_API int64_t weft_ticker_ticks(const weft_ticker_t *tk);

/* Restarts the schedule: the next tick is due at first (<= 0: now +
 * period), the missed count is kept. Never suspends. Returns 0, -EINVAL. */
WEFT_API int weft_ticker_reset(weft_ticker_t *tk, int64_t first);

/* Frees tk. It must not be in use by a waiting task. Returns 0, -EINVAL. */
WEFT_API int weft_ticker_destroy(weft_ticker_t *tk);

/* ---- deadlines (asyncio.timeout) ---- */

/* The idiom: a deadline around a block of calls, and which one expired.
 *
 *     weft_deadline_t d;
 *     weft_deadline_push(&d, WEFT_SEC(2));   // this request's 2 s
 *     int rc = handle(req);                  // any suspending calls, any depth
 *     int mine = weft_deadline_pop(&d);
 *
 *  - rc == -ETIMEDOUT and mine == -ETIMEDOUT: this scope's 2 s ran out
 *    (pop reports the scope's own deadline only).
 *  - rc == -ETIMEDOUT and mine == 0: an outer scope's deadline passed
 *    (say the run's 10 s); return -ETIMEDOUT, and that scope's pop
 *    reports it. It still bounds whatever the task does next.
 *  - rc == -ECANCELED: the task was cancelled, and
 *    weft_task_cancel_reason(weft_current(), &msg) says why:
 *    WEFT_CANCEL_DEADLINE when the task that waits for this one
 *    (weft_wait_for, weft_gather, weft_group_wait) ran out of its own
 *    time, an outer deadline in another task; WEFT_CANCEL_GROUP when a
 *    sibling failed; WEFT_CANCEL_REQUESTED for weft_cancel;
 *    WEFT_CANCEL_SIGNAL for Ctrl-C or SIGTERM; the program's own codes
 *    from WEFT_CANCEL_USER (weft_cancel_with).
 *
 * The deadline passes into a block's own tasks through whoever awaits
 * them: a child in a group whose owner's weft_group_wait times out is
 * cancelled with WEFT_CANCEL_DEADLINE. docs/guide.md step 5 runs each
 * case. */

/* A deadline scope. Lives wherever the task likes (usually its stack):
 * only the task that pushed it touches it. Its fields are weft's; read
 * them with weft_deadline_when. */
typedef struct weft_deadline {
    int64_t when;             /* this scope's own deadline */
    weft_task_t *task;        /* the task it is open in, while open */
    struct weft_deadline *up; /* the scope it is nested in */
    uint32_t open;            /* a mark while open: pushing it again is refused */
} weft_deadline_t;

/* Opens a deadline scope ending timeout_ns from now (a negative timeout
 * has already expired: the deadline is that instant in the past;
 * WEFT_FOREVER: none, a scope to reschedule later): until it is popped,
 * every suspending call of the task returns -ETIMEDOUT once the deadline
 * has passed. WEFT_FOREVER: no deadline of its own. A timeout of 0 or
 * less has expired: the scope ends at now + timeout_ns, an instant
 * already past (d->when says so; it is not moved up to now), and the
 * first suspending call inside returns -ETIMEDOUT. Scopes nest; an inner
 * scope never extends an outer one (asyncio.timeout). Never suspends.
 * Returns 0, -EINVAL (d NULL), -EALREADY (d is already open: pop it
 * first), -WEFT_ENOTASK outside a task. */
WEFT_API int weft_deadline_push(weft_deadline_t *d, int64_t timeout_ns);

/* The same, with an absolute instant of weft_now() (WEFT_FOREVER: none;
 * an instant in the past has expired). */
WEFT_API int weft_deadline_push_at(weft_deadline_t *d, int64_t when);

/* Moves open scope d's own deadline to the instant `when` (asyncio's
 * Timeout.reschedule; WEFT_FOREVER: none). Scopes inside d still never
 * outlast it. A later deadline takes effect at once; one already past
 * times out the task's next suspending call. Never suspends. Returns 0,
 * -EINVAL (d NULL, or not open in the calling task), -WEFT_ENOTASK
 * outside a task. */
WEFT_API int weft_deadline_reschedule(weft_deadline_t *d, int64_t when);

/* Scope d's own deadline, an instant of weft_now() (WEFT_FOREVER: none),
 * or -EINVAL for NULL. Never suspends. */
WEFT_API int64_t weft_deadline_when(const weft_deadline_t *d);

/* Closes the innermost scope d. Returns -ETIMEDOUT if d's own deadline
 * has passed (so the caller knows it was this scope that expired), else
 * 0; -EINVAL if d is not the task's innermost open scope. */
WEFT_API int weft_deadline_pop(weft_deadline_t *d);

/* Waits for t at most timeout_ns (WEFT_FOREVER: no limit; 0 or less has
 * expired: t's outcome if it has already finished, else a time-out at
 * once, as asyncio.wait_for). Suspends. On time-out, cancels t (reason
 * WEFT_CANCEL_DEADLINE), waits
 * until it has unwound, and returns -ETIMEDOUT; otherwise as weft_await.
 * If the caller is cancelled, t is cancelled too and awaited, and the
 * call returns -ECANCELED (asyncio.wait_for). Either way, when t ended
 * other than cancelled while it was being cancelled (it finished, or
 * failed, before the cancellation reached it), its own status and result
 * are returned: what happened is never reported as a time-out. */
WEFT_API int weft_wait_for(weft_task_t *t, int64_t timeout_ns, void **result);

/* Makes *out a new task that finishes as inner does, with its status and
 * result; cancelling *out (directly, or through wait_for, gather or a
 * group) does not cancel inner (asyncio.shield). The caller owns *out
 * (weft_task_release) and still owns its own reference to inner. Never
 * suspends. Returns 0, -EINVAL, -WEFT_ENOLOOP, -ENOMEM. */
WEFT_API int weft_shield(weft_task_t **out, weft_task_t *inner);

/* ---- composition ---- */

/* gather's modes: stop at the first failure, or collect every status. */
#define WEFT_GATHER_FAIL_FAST 0
#define WEFT_GATHER_COLLECT 1

/* Waits for all n tasks. Suspends. results[i] and statuses[i] (either
 * array may be NULL) receive each task's result and status, in order.
 * WEFT_GATHER_FAIL_FAST: on the first failure, cancels the others (with
 * the reason WEFT_CANCEL_GROUP), waits for them to unwind, and returns
 * that failure. WEFT_GATHER_COLLECT: waits for all and returns 0 (the
 * statuses say how each ended). If the caller is cancelled or times out,
 * the tasks are cancelled (with the caller's own reason, or
 * WEFT_CANCEL_DEADLINE when its deadline passed), awaited, and
 * -ECANCELED or -ETIMEDOUT is returned. The caller keeps its
 * references. -EINVAL for bad arguments, -WEFT_ENOTASK outside a task. */
WEFT_API int weft_gather(weft_task_t *const *tasks, size_t n, void **results, int *statuses,
                         int mode);

#define WEFT_FIRST_COMPLETED 0
#define WEFT_FIRST_EXCEPTION 1
#define WEFT_ALL_COMPLETED 2

/* Waits until, among the n tasks, the first has finished
 * (WEFT_FIRST_COMPLETED), the first has failed or all finished
 * (WEFT_FIRST_EXCEPTION), or all have (WEFT_ALL_COMPLETED), or until
 * timeout_ns passes (WEFT_FOREVER: no limit; 0 or less has expired: no
 * wait, the count of those finished now). Suspends (unless the timeout
 * has expired or the condition holds already). Cancels nothing.
 * The tasks are a set, as asyncio.wait takes them: a task passed twice
 * counts once. Once the condition is met, the caller lets the tasks
 * already ready on its loop take their step before it counts (asyncio's
 * wait returns a loop iteration after the completion that met it), so
 * tasks that end together are counted together. Returns how many have
 * finished (every one, not only the one that met the condition;
 * weft_task_done says which), so a time-out is a count below what was
 * asked, not an error; -ECANCELED or -ETIMEDOUT if the caller was
 * cancelled or its deadline scope passed; -EINVAL for bad arguments and
 * for an empty set (n 0, as asyncio.wait refuses one); -ENOMEM;
 * -WEFT_ENOTASK outside a task. */
WEFT_API int weft_wait(weft_task_t *const *tasks, size_t n, int return_when, int64_t timeout_ns);

/* Iterates over tasks in the order they finish (asyncio.as_completed). */
typedef struct weft_as_completed weft_as_completed_t;

/* Starts an iteration over n tasks (copied; the caller keeps its
 * references and the tasks must outlive the iteration). The tasks are a
 * set, as asyncio.as_completed takes them: a task passed twice is handed
 * out once. n 0 gives an iteration that is done at once. Never suspends.
 * Returns 0, -EINVAL, -ENOMEM; *ac is owned by the caller. */
WEFT_API int weft_as_completed_create(weft_as_completed_t **ac, weft_task_t *const *tasks,
                                      size_t n);
/* Stores in *task the next task in the order they finished: one that
 * finished since the last call if there is one (without suspending),
 * else waits for one. Every task is handed out exactly once, however
 * many finish between two calls; tasks already finished when the
 * iteration started come first, in the order they were passed. Returns
 * 0, WEFT_DONE once every task has been returned, -ECANCELED,
 * -ETIMEDOUT, -EINVAL, -WEFT_ENOTASK (not in a task), -EBUSY (another
 * task waits in next). */
WEFT_API int weft_as_completed_next(weft_as_completed_t *ac, weft_task_t **task);
/* Ends the iteration; never suspends; 0 or -EINVAL (also -EBUSY while a
 * task waits in next). */
WEFT_API int weft_as_completed_destroy(weft_as_completed_t *ac);

/* ---- futures ---- */

typedef struct weft_future weft_future_t;

/* Creates a future on the current loop (a result or an error, set once;
 * many may await it). Never suspends. Returns 0, -EINVAL, -WEFT_ENOLOOP
 *, -ENOMEM; the caller owns *f (weft_future_destroy). */
WEFT_API int weft_future_create(weft_future_t **f);
/* Sets the result and wakes every awaiter. Never suspends. Returns 0,
 * -EALREADY if the future is already done, -EINVAL. */
WEFT_API int weft_future_set_result(weft_future_t *f, void *result);
/* Sets a failure (a negative errno) and wakes every awaiter. Returns 0,
 * -EALREADY, -EINVAL (f NULL or err >= 0). */
WEFT_API int weft_future_set_error(weft_future_t *f, int err);
/* Cancels the future: awaiters get -ECANCELED. 0, -EALREADY, -EINVAL. */
WEFT_API int weft_future_cancel(weft_future_t *f);
/* Waits until f is done. Suspends. Returns f's status (0, its error, or
 * -ECANCELED if f was cancelled) with its result in *result; or the
 * caller's own -ECANCELED / -ETIMEDOUT, with f left as it was;
 * -WEFT_ENOTASK outside a task. */
WEFT_API int weft_future_await(weft_future_t *f, void **result);
/* True once f has a result, an error, or was cancelled. */
WEFT_API bool weft_future_done(const weft_future_t *f);
/* Reads a done future's outcome without waiting (asyncio's
 * Future.result()): returns f's status (0, its error, or -ECANCELED if
 * f was cancelled) with its result in *result (result may be NULL; NULL
 * for an error); -EAGAIN if f is not done yet (*result untouched);
 * -EINVAL (f NULL). Never suspends; any thread; may be called from a
 * callback. */
WEFT_API int weft_future_result(const weft_future_t *f, void **result);
/* Registers fn(f, arg) to run once f is done, as asyncio's
 * add_done_callback: never inside the call that completes f (nor inside
 * this one when f is done already), but on a later turn of a loop, in
 * the order the callbacks were registered: on the loop of the task that
 * registered it (another worker's task's callback runs on that worker);
 * registered outside any task (from a callback), on the loop of whoever
 * completes f (f's own loop if that is no loop). It runs outside any
 * task, as a weft_call_soon callback does, so it must not suspend; a loop
 * that closes before that turn drops it unrun. A callback registered
 * from a callback runs after those already scheduled. f stays valid for
 * it even if it was destroyed meanwhile. Returns 0, -EINVAL, -ENOMEM.
 * Never suspends. */
WEFT_API int weft_future_on_done(weft_future_t *f, void (*fn)(weft_future_t *f, void *arg),
                                 void *arg);
/* Removes every done callback fn(f, arg) registered on f with this fn
 * and this arg that has not been scheduled yet (asyncio's
 * remove_done_callback): once f is done its callbacks are on their way
 * and none can be removed. Returns how many were removed (0 if none),
 * -EINVAL (f or fn NULL). Never suspends. */
WEFT_API int weft_future_remove_done(weft_future_t *f, void (*fn)(weft_future_t *f, void *arg),
                                     void *arg);
/* Frees f; callbacks registered and never scheduled never run. One
 * scheduled and not yet run keeps f's memory until it has run, so it
 * may still read f (weft_future_result). Returns 0, -EINVAL, -EBUSY
 * while tasks await it. Never suspends. */
WEFT_API int weft_future_destroy(weft_future_t *f);

/* ---- task groups (asyncio.TaskGroup) ---- */

typedef struct weft_group weft_group_t;

/* Creates a task group on the current loop, owned by the calling task.
 * Never suspends. Returns 0, -EINVAL, -WEFT_ENOTASK (not in a task: a
 * loop callback cannot own a group, as asyncio.TaskGroup needs a running
 * task), -WEFT_ENOLOOP, -ENOMEM. The caller owns *g and must call
 * weft_group_wait before weft_group_destroy. A group serves one round:
 * once a weft_group_wait has returned, every spawn into it is refused
 * with -WEFT_EGROUPDONE (its children would run unsupervised), from a
 * task or a callback (a child's done callback included). */
WEFT_API int weft_group_create(weft_group_t **g);
/* Spawns a child in g (as weft_spawn). The group holds the child; *task,
 * if task is non-NULL, is a borrowed pointer valid until the group is
 * destroyed. Never suspends, and never fails for the group's limit: a
 * child beyond it is made at once but waits to start (in spawn order,
 * state WEFT_TASK_PENDING) until a running child ends; it holds no
 * stack meanwhile (a task gets its stack when it first runs), and if the
 * group is cancelled or fails first it ends -ECANCELED without running.
 * opts->eager works as in weft_spawn (in every group spawn), except for a
 * child the limit holds back.
 * Returns 0, -ECANCELED if the group is already failing or cancelled
 * (nothing is spawned), -WEFT_EGROUPDONE if a weft_group_wait on g has
 * returned (nothing is spawned), -EINVAL, -WEFT_ENOLOOP, -ENOMEM. */
WEFT_API int weft_group_spawn(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                              const weft_task_opts_t *opts);
/* Limits how many children of g run at once (Go's errgroup.SetLimit):
 * n, or no limit for n 0. "Running" counts the children started or
 * about to start, not yet finished. Lowering the limit stops no child;
 * raising it starts waiting children at once. Never suspends. Returns 0
 * or -EINVAL (g NULL). */
WEFT_API int weft_group_set_limit(weft_group_t *g, size_t n);
/* weft_group_spawn that first waits until fewer than the limit's
 * children run (errgroup's Go), so the child starts at once: a producer
 * that spawns in a loop goes no faster than the children finish. Waiting
 * spawners are served in arrival order, after the children
 * weft_group_spawn already holds back. Suspends (only at the limit).
 * Returns 0 (the child spawned), -ECANCELED (the caller was cancelled,
 * or the group is or gets cancelled or fails: nothing spawned),
 * -ETIMEDOUT (the caller's deadline: nothing spawned), -WEFT_EGROUPDONE
 * (a weft_group_wait on g has returned, also while this waited: nothing
 * spawned), -WEFT_ENOTASK (not in a task), -EINVAL, -ENOMEM. */
WEFT_API int weft_group_spawn_wait(weft_group_t *g, weft_task_t **task, weft_task_fn fn,
                                   void *arg, const weft_task_opts_t *opts);
/* weft_group_spawn only if fewer than the limit's children run
 * (errgroup's TryGo). Never suspends. Returns 0, -EAGAIN at the limit
 * (nothing spawned), -ECANCELED (the group is failing or cancelled),
 * -WEFT_EGROUPDONE (a weft_group_wait on g has returned), -EINVAL,
 * -WEFT_ENOLOOP, -ENOMEM. */
WEFT_API int weft_group_try_spawn(weft_group_t *g, weft_task_t **task, weft_task_fn fn, void *arg,
                                  const weft_task_opts_t *opts);
/* Waits until every child has finished. Suspends. The first child to
 * fail (with anything but -ECANCELED) cancels its siblings (with the
 * reason WEFT_CANCEL_GROUP), and wait returns that failure once all have
 * unwound; 0 if none failed; weft_group_errors gives every child's
 * failure. If the caller is cancelled or times out while waiting, the
 * children are cancelled (with the caller's own reason, or
 * WEFT_CANCEL_DEADLINE when its deadline passed) and awaited, and
 * -ECANCELED or -ETIMEDOUT is returned. Once it returns, g takes no more
 * children (-WEFT_EGROUPDONE); a second wait returns at once, as the
 * first did. -EINVAL, -EBUSY (another task waits on g), -WEFT_ENOTASK. */
WEFT_API int weft_group_wait(weft_group_t *g);
/* Cancels every child of g (those held back by the limit end without
 * running) and makes later spawns fail with -ECANCELED. Never suspends;
 * call it from a task or a loop callback. Returns 0 or -EINVAL. */
WEFT_API int weft_group_cancel(weft_group_t *g);
/* Every failure among g's children, what Python's ExceptionGroup carries
 * (weft_group_wait returns only the first): stores, in spawn order, the
 * status of up to max children that have finished with an error of their
 * own (anything but -ECANCELED: a child the group cancelled is no
 * failure) in errs[] and the child in tasks[] (either may be NULL; the
 * pointers are borrowed, valid until weft_group_destroy), and returns how
 * many such children there are in all, which may exceed max. Complete
 * once weft_group_wait has returned; before, it counts the failures so
 * far. Never suspends. Returns the count, or -EINVAL (g NULL, or max > 0
 * with both arrays NULL). */
WEFT_API int weft_group_errors(weft_group_t *g, int *errs, weft_task_t **tasks, size_t max);
/* Frees g and drops its children. Never suspends. Returns 0, -EINVAL,
 * -WEFT_EGROUPLIVE if a child has not finished (call weft_group_wait
 * first; nothing is freed), -EBUSY while a task is still inside
 * weft_group_wait on g. */
WEFT_API int weft_group_destroy(weft_group_t *g);

/* ---- callbacks for code that is not a task ---- */

typedef struct weft_handle weft_handle_t;
typedef void (*weft_callback_fn)(void *arg);

/* Schedules fn(arg) to run on the loop after what is ready now. Never
 * suspends. With h non-NULL stores a handle the caller owns (drop it
 * with weft_handle_cancel or weft_handle_release). A callback runs on the
 * loop, not in a task: it must not call suspending functions (they
 * return -WEFT_ENOTASK there). Returns 0, -EINVAL, -WEFT_ENOLOOP, -ENOMEM. */
WEFT_API int weft_call_soon(weft_handle_t **h, weft_callback_fn fn, void *arg);
/* Schedules fn(arg) delay_ns from now (0 or less has expired: due now,
 * it runs on the loop's next turn). As weft_call_soon. */
WEFT_API int weft_call_later(weft_handle_t **h, int64_t delay_ns, weft_callback_fn fn, void *arg);
/* Schedules fn(arg) at the instant `when` of weft_now() (one in the past
 * is due now). As weft_call_soon. */
WEFT_API int weft_call_at(weft_handle_t **h, int64_t when, weft_callback_fn fn, void *arg);
/* Cancels the callback if it has not run yet, and drops the handle.
 * Returns 0 if it was cancelled, -EALREADY if it had already run (the
 * handle is dropped either way), -EINVAL. */
WEFT_API int weft_handle_cancel(weft_handle_t *h);
/* Drops the handle without cancelling. Returns 0 or -EINVAL. */
WEFT_API int weft_handle_release(weft_handle_t *h);

/* ---- several workers ---- */

typedef struct weft_runtime weft_runtime_t;

/* The runtime (every worker of one weft_run) the calling thread works
 * for, or NULL outside one. A plain thread may keep it to post work with
 * weft_call_soon_threadsafe while the runtime runs. Never suspends. */
WEFT_API weft_runtime_t *weft_runtime(void);
/* Number of workers of the calling thread's runtime, or -WEFT_ENOLOOP
 * outside one. Never suspends. */
WEFT_API int weft_worker_count(void);
/* Turns rt's every-core switch (weft_config_t.spread) on or off for the
 * spawns that follow; tasks already placed stay where they are. Any
 * thread. Never suspends. Returns 0 or -EINVAL (rt NULL). */
WEFT_API int weft_runtime_set_spread(weft_runtime_t *rt, bool on);
/* Whether rt spreads plain spawns over its workers; false for NULL. */
WEFT_API bool weft_runtime_spreads(const weft_runtime_t *rt);
/* Index (0..count-1) of the calling thread's worker, or -WEFT_ENOLOOP. */
WEFT_API int weft_worker_index(void);

/* Hands fn(arg) to worker `worker` of rt (0..count-1) from any thread, as asyncio's call_soon_threadsafe: it
 * runs there soon, on the loop, not in a task (like weft_call_soon's
 * callbacks: it may spawn tasks, set futures and events, but not
 * suspend). Lock-free for the caller but for one allocation; one eventfd
 * write wakes a worker blocked in the kernel, none if it is busy. Never
 * suspends. Returns 0, -EINVAL (rt or fn NULL, no such worker),
 * -ESHUTDOWN (main has returned: fn will not run), -ENOMEM. A callback
 * posted just as main returns may be dropped instead of run. */
WEFT_API int weft_call_soon_threadsafe(weft_runtime_t *rt, int worker, weft_callback_fn fn,
                                       void *arg);

/* Starts weft_run_config(cfg, main, arg) on a new thread and returns at
 * once with the runtime in *rt, ready for weft_call_soon_threadsafe, for
 * programs whose own thread does something else (a GUI, another event
 * loop). Never suspends. Returns 0, -EINVAL (rt or main NULL, a bad
 * cfg), -EACCES (a pool_nice this process may not set), -ENOMEM,
 * -EAGAIN (no thread could be made). */
WEFT_API int weft_runtime_start(weft_runtime_t **rt, const weft_config_t *cfg, weft_task_fn main,
                                void *arg);
/* Waits until a runtime from weft_runtime_start has finished (main has
 * returned and every task has unwound), frees it and returns main's
 * status (its result in *result, which may be NULL). Call it once, from
 * a thread outside the runtime. Returns -EINVAL (rt NULL), -EDEADLK
 * (called from one of rt's own workers). */
WEFT_API int weft_runtime_join(weft_runtime_t *rt, void **result);

/* ---- introspection ---- */

/* Writes every live task of the current loop to out as a tree (each
 * under the task that awaits it, else under the task that spawned it):
 * its name, state, and what it waits on ("sleep until +1.5 ms", "fd 7",
 * "lock", "task X"), like `python -m asyncio pstree`, and its stack:
 * "[copy-stack, N B saved]" or "[own stack, N B resident]". Never suspends.
 * Returns the number of tasks written, -EINVAL (out NULL), -WEFT_ENOLOOP
 *. */
WEFT_API int weft_task_tree(FILE *out);

/* What the quiet-period trims (weft_config_t.trim_quiet_ns) gave back to
 * the kernel, process-wide since the process started (every worker of
 * every runtime), and what the pools hold now. */
typedef struct weft_mem_stats {
    uint64_t trims;                  /* trims run */
    uint64_t stacks_returned;        /* free stacks whose pages went back */
    uint64_t stack_bytes_returned;   /* the bytes of them that were resident */
    uint64_t segments_returned;      /* empty slab segments whose pages went back */
    uint64_t segment_bytes_returned; /* the bytes of them that were resident */
    /* what malloc_trim gave back, an estimate: the drop of the process's
     * resident memory across the call (other threads' work meanwhile
     * blurs it; never counted below 0) */
    uint64_t heap_bytes_returned;
    uint64_t bytes_returned; /* the sum of the three byte counts */
    /* Now: free stacks pooled (the process's shared store and the calling
     * thread's own cache), those of them still warm (pages not given
     * back; the cache's count as warm), and the calling thread's empty
     * slab segments still warm. */
    uint64_t stacks_free;
    uint64_t stacks_warm;
    uint64_t segments_warm;
} weft_mem_stats_t;

/* Fills *out with the counts above. Any thread, in a runtime or not.
 * Never suspends. Returns 0 or -EINVAL (out NULL). */
WEFT_API int weft_mem_stats(weft_mem_stats_t *out);

/* ------------------------------------------------------------------------
 * Synchronization: locks, events, conditions, semaphores, barriers
 * (asyncio's primitives). Each object is created on the current loop and
 * used by that loop's tasks. Waiters are served first come, first served.
 * Waiting calls are cancellation-safe: one that returns -ECANCELED or
 * -ETIMEDOUT took nothing (a lock or permit handed to a waiter cancelled
 * before it ran goes on to the next waiter); one that completed before a
 * cancellation arrived returns 0 and the cancellation shows at the next
 * suspending call. Waiting calls return -WEFT_ENOTASK outside a task and
 * -EINVAL for a NULL object.
 * --------------------------------------------------------------------- */

/* ---- synchronization ---- */

typedef struct weft_lock weft_lock_t;

/* Creates an unlocked lock on the current loop (asyncio.Lock; not
 * reentrant). Never suspends. Returns 0, -EINVAL (out NULL), -WEFT_ENOLOOP
 *, -ENOMEM; the caller owns *l (weft_lock_destroy). */
WEFT_API int weft_lock_create(weft_lock_t **l);
/* Acquires l for the calling task, waiting while another task holds it.
 * Suspends (not when l is free). Returns 0 (the caller owns the lock),
 * -ECANCELED, -ETIMEDOUT (the caller does not own it), -EDEADLK if the
 * caller already holds l, -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_lock_acquire(weft_lock_t *l);
/* Acquires l if it is free. Never suspends. Returns 0, -EBUSY if it is
 * held (or promised to a waiter), -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_lock_try_acquire(weft_lock_t *l);
/* Releases l; the first waiter, if any, becomes its owner. One
 * exception with several workers: when the first waiter is another
 * worker's task (which cannot run before its worker's current step ends),
 * l is freed and that waiter woken to compete for it, so a running task
 * may take it first; a waiter that loses such a race is next in line and
 * is handed l at the following release (it loses at most one race per
 * wait). Never suspends. Returns 0, -WEFT_ENOTOWNER if the caller is not
 * the task that holds it (-WEFT_ENOTASK if it is no task), -EINVAL. */
WEFT_API int weft_lock_release(weft_lock_t *l);
/* True while some task holds l (or it is handed to a waiter). */
WEFT_API bool weft_lock_locked(const weft_lock_t *l);
/* The number of tasks waiting to acquire l, not counting one already
 * handed it (or woken to compete for it, or interrupted) and yet to run
 * (the "waiters:N" of asyncio's Lock repr). Takes l's own short lock:
 * O(waiters). Never suspends; any thread. -EINVAL for NULL. */
WEFT_API int weft_lock_waiters(const weft_lock_t *l);
/* Frees l. Never suspends. Returns 0, -EINVAL, -EBUSY while a task waits
 * for it. */
WEFT_API int weft_lock_destroy(weft_lock_t *l);

typedef struct weft_event weft_event_t;

/* Creates an event, initially clear (asyncio.Event). Never suspends.
 * Returns 0, -EINVAL, -WEFT_ENOLOOP, -ENOMEM; the caller owns *e
 * (weft_event_destroy). */
WEFT_API int weft_event_create(weft_event_t **e);
/* Sets e and wakes every task waiting for it. Never suspends; may be
 * called from a callback. Returns 0 or -EINVAL. */
WEFT_API int weft_event_set(weft_event_t *e);
/* Clears e: later waits wait again. Never suspends. Returns 0, -EINVAL. */
WEFT_API int weft_event_clear(weft_event_t *e);
/* True while e is set. */
WEFT_API bool weft_event_is_set(const weft_event_t *e);
/* The number of tasks waiting for e to be set, not counting one already
 * woken (by a set, a cancellation or a deadline) and yet to run (the
 * "waiters:N" of asyncio's Event repr). O(waiters). Never suspends; any
 * thread. -EINVAL for NULL. */
WEFT_API int weft_event_waiters(const weft_event_t *e);
/* Waits until e is set. Suspends unless e is already set (then returns 0
 * at once). Returns 0, -ECANCELED, -ETIMEDOUT, -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_event_wait(weft_event_t *e);
/* Frees e. Returns 0, -EINVAL, -EBUSY while a task waits on it. */
WEFT_API int weft_event_destroy(weft_event_t *e);

typedef struct weft_cond weft_cond_t;

/* Creates a condition variable over `lock` (asyncio.Condition); with lock
 * NULL the condition makes and owns a lock of its own (weft_cond_lock
 * returns it). A lock given here stays the caller's and must outlive the
 * condition. Never suspends. Returns 0, -EINVAL, -WEFT_ENOLOOP,
 * -ENOMEM; the caller owns *c (weft_cond_destroy). */
WEFT_API int weft_cond_create(weft_cond_t **c, weft_lock_t *lock);
/* Returns c's lock (borrowed), or NULL if c is NULL. */
WEFT_API weft_lock_t *weft_cond_lock(const weft_cond_t *c);
/* Releases c's lock, waits until notified, and acquires the lock again.
 * The caller must hold the lock (-WEFT_ENOTOWNER otherwise). Suspends. Returns 0
 * once notified, -ECANCELED or -ETIMEDOUT; in every one of these cases
 * the lock is held again when it returns (the re-acquire itself ignores
 * cancellation and deadlines). A waiter notified and then cancelled
 * before it ran passes the notification on to the next waiter. As with
 * any condition, check the predicate again after a wake. -EINVAL. */
WEFT_API int weft_cond_wait(weft_cond_t *c);
/* Waits (as weft_cond_wait) until pred(arg) is true; pred is called with
 * the lock held, first before any wait. Suspends unless pred is true at
 * once. Returns 0 (pred is true), -ECANCELED, -ETIMEDOUT,
 * -WEFT_ENOTOWNER (lock not held by the caller), -WEFT_ENOTASK, -EINVAL;
 * the lock is held when it returns. */
WEFT_API int weft_cond_wait_for(weft_cond_t *c, bool (*pred)(void *arg), void *arg);
/* Wakes up to n waiters (the longest waiting first). The caller must hold
 * the lock. Never suspends. Returns the number woken, -WEFT_ENOTOWNER
 * (lock not held by the calling task), -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_cond_notify(weft_cond_t *c, size_t n);
/* Wakes every waiter; as weft_cond_notify. */
WEFT_API int weft_cond_notify_all(weft_cond_t *c);
/* Frees c (and its own lock, if it made one). Returns 0, -EINVAL, -EBUSY
 * while a task waits on it (or on its own lock). */
WEFT_API int weft_cond_destroy(weft_cond_t *c);

typedef struct weft_sem weft_sem_t;

/* weft_sem_create flag: a bounded semaphore (asyncio.BoundedSemaphore),
 * whose value may not be released above its initial value. */
#define WEFT_SEM_BOUNDED 1u

/* Creates a semaphore holding `value` permits (at most INT_MAX), plain or
 * bounded (flags 0 or WEFT_SEM_BOUNDED). Never suspends. Returns 0,
 * -EINVAL (out NULL, value too large, unknown flag), -WEFT_ENOLOOP,
 * -ENOMEM; the caller owns *s (weft_sem_destroy). */
WEFT_API int weft_sem_create(weft_sem_t **s, unsigned value, unsigned flags);
/* Takes a permit, waiting while there is none. Suspends (not when a
 * permit is free). Returns 0, -ECANCELED, -ETIMEDOUT (no permit taken),
 * -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_sem_acquire(weft_sem_t *s);
/* Takes a permit if one is free. Never suspends; may be called from a
 * callback. Returns 0, -EAGAIN if none is, -EINVAL. */
WEFT_API int weft_sem_try_acquire(weft_sem_t *s);
/* Gives a permit back: to the first waiter, else to the value. Never
 * suspends; may be called from a callback (and by any task). Returns 0,
 * -EOVERFLOW for a bounded semaphore already at its initial value (or a
 * value of INT_MAX; the value is unchanged), -EINVAL. */
WEFT_API int weft_sem_release(weft_sem_t *s);
/* Returns the number of free permits, or -EINVAL. Free permits and
 * waiting tasks coexist only until a waiter already handed a permit has
 * run: it hands them on to those behind it (see weft_sem_acquire). */
WEFT_API int weft_sem_value(const weft_sem_t *s);
/* The number of tasks waiting for a permit, not counting one already
 * handed a permit (or interrupted) and yet to run (the "waiters:N" of
 * asyncio's Semaphore repr). O(waiters). Never suspends; any thread.
 * -EINVAL for NULL. */
WEFT_API int weft_sem_waiters(const weft_sem_t *s);
/* Frees s. Returns 0, -EINVAL, -EBUSY while a task waits on it. */
WEFT_API int weft_sem_destroy(weft_sem_t *s);

typedef struct weft_barrier weft_barrier_t;

/* Creates a barrier for `parties` tasks (asyncio.Barrier; 1..INT_MAX).
 * Never suspends. Returns 0, -EINVAL, -WEFT_ENOLOOP, -ENOMEM; the
 * caller owns *b (weft_barrier_destroy). */
WEFT_API int weft_barrier_create(weft_barrier_t **b, unsigned parties);
/* Arrives at b and waits until `parties` tasks have arrived; then all of
 * them return, and the barrier is ready for its next cycle. Suspends
 * (the last arrival does not). Returns the caller's arrival index in
 * this cycle, 0 .. parties-1 (the last arrival gets parties-1); -EPIPE
 * if the barrier is broken (now, or while the caller waited); -ECANCELED
 * or -ETIMEDOUT if the caller was cancelled or its deadline passed, which
 * breaks the barrier: every other waiter, and every wait until
 * weft_barrier_reset, gets -EPIPE. -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_barrier_wait(weft_barrier_t *b);
/* Returns b to its empty, unbroken state; tasks waiting get -EPIPE.
 * Never suspends. Returns 0 or -EINVAL. */
WEFT_API int weft_barrier_reset(weft_barrier_t *b);
/* Breaks b: waiting tasks, and later waits until a reset, get -EPIPE.
 * Never suspends. Returns 0 or -EINVAL. */
WEFT_API int weft_barrier_abort(weft_barrier_t *b);
/* The number of parties b was created for, or -EINVAL. */
WEFT_API int weft_barrier_parties(const weft_barrier_t *b);
/* The number of tasks waiting in the current cycle, or -EINVAL. */
WEFT_API int weft_barrier_n_waiting(const weft_barrier_t *b);
/* True while b is broken. */
WEFT_API bool weft_barrier_broken(const weft_barrier_t *b);
/* Frees b. Returns 0, -EINVAL, -EBUSY while a task waits on it. */
WEFT_API int weft_barrier_destroy(weft_barrier_t *b);

/* ------------------------------------------------------------------------
 * Queues (asyncio.Queue, LifoQueue, PriorityQueue) of void * items. The
 * queue never frees an item: items are the caller's. A get that returns
 * 0 took exactly one item; a put that returns 0 stored exactly one; a
 * put or get that returns an error moved nothing, also when it was
 * cancelled after being woken (the item or the room it was woken for
 * goes to the next waiter).
 * --------------------------------------------------------------------- */

/* ---- queues ---- */

typedef struct weft_queue weft_queue_t;

#define WEFT_QUEUE_FIFO 0     /* first in, first out */
#define WEFT_QUEUE_LIFO 1     /* last in, first out */
#define WEFT_QUEUE_PRIORITY 2 /* smallest first by cmp; equal items in put order */

/* Creates a queue of the given kind holding at most maxsize items (0: no
 * limit). cmp orders a priority queue (negative when a comes before b;
 * required for WEFT_QUEUE_PRIORITY, ignored otherwise). Never suspends.
 * Returns 0, -EINVAL, -WEFT_ENOLOOP, -ENOMEM; the caller owns *q
 * (weft_queue_destroy). */
WEFT_API int weft_queue_create(weft_queue_t **q, int kind, size_t maxsize,
                               int (*cmp)(const void *a, const void *b));
/* Puts item, waiting while the queue is full. Suspends (only while
 * full). Returns 0, -EPIPE once the queue is shut down, -ECANCELED,
 * -ETIMEDOUT (item not stored), -ENOMEM, -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_queue_put(weft_queue_t *q, void *item);
/* Takes the next item into *item, waiting while the queue is empty.
 * Suspends (only while empty). Returns 0, -EPIPE once the queue is shut
 * down and drained, -ECANCELED, -ETIMEDOUT (nothing taken),
 * -WEFT_ENOTASK, -EINVAL (q or item NULL). */
WEFT_API int weft_queue_get(weft_queue_t *q, void **item);
/* Puts item if there is room. Never suspends; may be called from a
 * callback. Returns 0, -EAGAIN when full, -EPIPE after shutdown, -ENOMEM,
 * -EINVAL. */
WEFT_API int weft_queue_try_put(weft_queue_t *q, void *item);
/* Takes an item if one is available (not one already promised to a
 * woken getter). Never suspends; may be called from a callback. Returns
 * 0, -EAGAIN when empty, -EPIPE when shut down and drained, -EINVAL. */
WEFT_API int weft_queue_try_get(weft_queue_t *q, void **item);
/* The number of items in the queue (including any promised to woken
 * getters that have not run yet); 0 for NULL. */
WEFT_API size_t weft_queue_size(const weft_queue_t *q);
/* True when a get would wait (no item is available). */
WEFT_API bool weft_queue_empty(const weft_queue_t *q);
/* True when a put would wait (maxsize reached, counting rooms promised to
 * woken putters); never for an unbounded queue. */
WEFT_API bool weft_queue_full(const weft_queue_t *q);
/* Marks one item taken earlier as processed. Never suspends. Returns 0,
 * -EOVERFLOW if called more times than items were put, -EINVAL. */
WEFT_API int weft_queue_task_done(weft_queue_t *q);
/* Waits until every item ever put has been marked done (task_done) or
 * dropped by an immediate shutdown. Suspends (unless that is already so).
 * Returns 0, -ECANCELED, -ETIMEDOUT, -WEFT_ENOTASK, -EINVAL. */
WEFT_API int weft_queue_join(weft_queue_t *q);
/* Shuts q down (Python 3.13): later puts fail with -EPIPE; gets take what
 * is left, then fail with -EPIPE; every waiting putter, and every waiting
 * getter that will find nothing, is woken with -EPIPE. With immediate
 * true the items left are dropped (drop(item) is called for each when
 * drop is non-NULL, so the caller can free them), counted as done for
 * join, and waiting getters get -EPIPE. May be called again (with
 * immediate true to drop what is left). Never suspends; may be called
 * from a callback. Returns 0 or -EINVAL. */
WEFT_API int weft_queue_shutdown(weft_queue_t *q, bool immediate, void (*drop)(void *item));
/* Frees q (not the items left in it: drain it or use an immediate
 * shutdown with a drop function first). Never suspends. Returns 0,
 * -EINVAL, -EBUSY while a task waits on it (in put, get or join, also one
 * woken but not yet run). */
WEFT_API int weft_queue_destroy(weft_queue_t *q);

/* ------------------------------------------------------------------------
 * Channels (Go-style) of void * values, with select.
 * --------------------------------------------------------------------- */

/* ---- channels ---- */

typedef struct weft_chan weft_chan_t;

/* Creates a channel with a buffer of cap values (0: unbuffered, every
 * send meets a receive). Never suspends. Returns 0, -EINVAL, -WEFT_ENOLOOP
 *, -ENOMEM; the caller owns *ch (weft_chan_destroy). */
WEFT_API int weft_chan_create(weft_chan_t **ch, size_t cap);
/* Sends v: hands it to a waiting receiver, else buffers it, else waits
 * until a receiver takes it (the value stays in the sending task's own
 * record meanwhile). Suspends (only when it must wait). Returns 0 once a
 * receiver or the buffer has the value (also if the caller was cancelled
 * after that); -EPIPE if ch is or gets closed (v was not sent);
 * -ECANCELED, -ETIMEDOUT (v was not sent); -WEFT_ENOTASK;
 * -EINVAL. */
WEFT_API int weft_chan_send(weft_chan_t *ch, void *v);
/* Receives a value into *v, waiting until one is sent. Suspends (only
 * when nothing is buffered and no sender waits). Returns 0 (also if the
 * caller was cancelled after a sender handed it the value), -EPIPE once
 * ch is closed and its buffer drained, -ECANCELED, -ETIMEDOUT (nothing
 * received), -WEFT_ENOTASK, -EINVAL (ch or v NULL). */
WEFT_API int weft_chan_recv(weft_chan_t *ch, void **v);
/* Sends v if a receiver waits or the buffer has room. Never suspends;
 * may be called from a callback. Returns 0, -EAGAIN, -EPIPE (closed),
 * -EINVAL. */
WEFT_API int weft_chan_try_send(weft_chan_t *ch, void *v);
/* Receives a value if one is buffered or a sender waits. Never suspends.
 * Returns 0, -EAGAIN, -EPIPE (closed and drained), -EINVAL. */
WEFT_API int weft_chan_try_recv(weft_chan_t *ch, void **v);
/* Closes ch: waiting senders get -EPIPE (their values were not sent),
 * receivers drain the buffer and then get -EPIPE, later sends get -EPIPE.
 * Never suspends. Returns 0, -EALREADY if already closed, -EINVAL. */
WEFT_API int weft_chan_close(weft_chan_t *ch);
/* The number of values buffered (0 for NULL). */
WEFT_API size_t weft_chan_len(const weft_chan_t *ch);
/* The buffer's capacity (0 for NULL or an unbuffered channel). */
WEFT_API size_t weft_chan_cap(const weft_chan_t *ch);
/* Frees ch (not the values still buffered: they are the caller's).
 * Never suspends. Returns 0, -EINVAL, -EBUSY while a task waits on it. */
WEFT_API int weft_chan_destroy(weft_chan_t *ch);

#define WEFT_SELECT_SEND 0
#define WEFT_SELECT_RECV 1

/* One case of weft_select. A case whose ch is NULL is never ready (as a
 * nil channel in Go). */
typedef struct weft_select_case {
    weft_chan_t *ch;
    int op;      /* WEFT_SELECT_SEND or WEFT_SELECT_RECV */
    void *value; /* in: the value to send; out: the value received */
    int status;  /* out: 0, or -EPIPE (the channel was closed) */
} weft_select_case_t;

/* Waits until one of the n cases can proceed, performs it, and returns
 * its index (Go's select). When several are ready, one is picked
 * uniformly at random. A receive on a closed, drained channel, and a
 * send on a closed channel, complete with status -EPIPE (value NULL for
 * a receive). timeout_ns WEFT_FOREVER waits without a limit; 0 or less
 * has expired and does not wait (-EAGAIN if no case is ready; then it
 * may be called from a callback); > 0 waits at most that long
 * (-ETIMEDOUT). Suspends (unless the timeout has expired or a case is
 * ready). Only the returned case happened; a case that completed
 * before a cancellation arrived is returned as completed. Returns the
 * index, -ETIMEDOUT, -ECANCELED, -EAGAIN, -ENOMEM (waiting needs one
 * small allocation), -WEFT_ENOTASK (must wait outside a task), -EINVAL (cases
 * NULL, n 0, a bad op). */
WEFT_API int weft_select(weft_select_case_t *cases, size_t n, int64_t timeout_ns);

/* ------------------------------------------------------------------------
 * Blocking work in a thread pool (asyncio.to_thread).
 * --------------------------------------------------------------------- */

/* Disposes of a detached pool job's argument and result (see
 * weft_to_thread): drop(arg, NULL) when fn never ran, drop(arg, result)
 * when it did. */
typedef void (*weft_drop_fn)(void *arg, void *result);

/* Runs fn(arg, result) on a thread of the loop's pool and suspends the
 * calling task until it returns; returns fn's status as is and its result
 * in *result (result may be NULL). The pool (the calling task's
 * worker's own) has at most weft_config_t.pool_threads threads (default
 * 16), started as needed and kept, idle, until the loop closes; jobs beyond that wait their turn in
 * FIFO order. fn runs on a plain thread with every asynchronous signal
 * blocked: it must not call weft functions that need a loop.
 * If the caller is cancelled or its deadline passes (also before the
 * call), returns -ECANCELED or -ETIMEDOUT at once and the job is
 * detached: a job not yet started never runs; a running one runs to its
 * end (threads are not interrupted). Then drop, if non-NULL, runs exactly
 * once, so the owner of arg can always free it there: drop(arg, NULL) in
 * the calling task before the call returns when fn never ran (or
 * drop(arg, result) there when fn had just returned), else drop(arg,
 * result) on the pool thread when fn returns. So a detachable arg must
 * not point into the caller's stack, and fn should not return -ECANCELED
 * or -ETIMEDOUT itself (they would read as a detached job). On every
 * other status drop does not run and arg stays the caller's. When the
 * loop closes (weft_run returning) it waits for running jobs, detached
 * ones included, so no pool thread outlives weft_run. Suspends.
 * Returns fn's status, -ECANCELED, -ETIMEDOUT, -EINVAL (fn NULL),
 * -WEFT_ENOTASK, -ENOMEM, -EAGAIN (no thread could be started). */
WEFT_API int weft_to_thread(weft_task_fn fn, void *arg, void **result, weft_drop_fn drop);

/* ------------------------------------------------------------------------
 * Addresses and name resolution.
 * --------------------------------------------------------------------- */

/* A socket address of any family: IPv4, IPv6, or a Unix-domain path. */
typedef struct weft_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} weft_addr_t;

/* Fills *a from a numeric host ("127.0.0.1", "::1", or NULL/"" for the
 * IPv4 wildcard; "*" for the IPv6 wildcard) and a port, or, when host
 * starts with '/' or '@' (the abstract namespace), a Unix-domain path (port
 * ignored). Never suspends, never resolves names. Returns 0, -EINVAL (a
 * bad host, a port outside 0..65535, a path too long). */
WEFT_API int weft_addr_parse(weft_addr_t *a, const char *host, int port);

/* Writes a as text into buf: "1.2.3.4:80", "[::1]:80", or the path of a
 * Unix-domain address. Never suspends. Returns the length written (the
 * text is truncated to size - 1 bytes and always NUL-terminated),
 * -EINVAL (a NULL argument, size 0, an unknown family). */
WEFT_API int weft_addr_format(const weft_addr_t *a, char *buf, size_t size);

/* Returns a's port, or -EINVAL for a NULL or non-IP address. */
WEFT_API int weft_addr_port(const weft_addr_t *a);

/* Resolves host and service (a port number or a name such as "http")
 * with getaddrinfo on the thread pool, so only the calling task waits.
 * hints may be NULL (any family, stream sockets, AI_ADDRCONFIG). Suspends.
 * On success *res holds the list, which the caller frees with
 * freeaddrinfo(); on failure *res is NULL. host and service are copied:
 * they need not outlive the call. On cancellation or a deadline the
 * lookup is detached (and its result freed when it ends). Returns 0,
 * -WEFT_ENOTFOUND (EAI_NONAME, EAI_NODATA, EAI_SERVICE), -EAGAIN
 * (EAI_AGAIN: a temporary failure of the resolver), -EAFNOSUPPORT
 * (EAI_FAMILY, EAI_ADDRFAMILY), -ENOMEM (EAI_MEMORY), -EINVAL
 * (EAI_BADFLAGS, EAI_SOCKTYPE; also host and service both NULL, res
 * NULL), -EIO (EAI_FAIL and other resolver failures), -ECANCELED,
 * -ETIMEDOUT, -WEFT_ENOTASK, or the -errno of EAI_SYSTEM. */
WEFT_API int weft_getaddrinfo(const char *host, const char *service,
                              const struct addrinfo *hints, struct addrinfo **res);

/* ------------------------------------------------------------------------
 * Buffered streams (asyncio's StreamReader and StreamWriter in one
 * object) over TCP, Unix-domain sockets, pipes, ttys, regular files
 * (through the thread pool: see weft_stream_open) or any stream fd.
 *
 * Reading: the stream keeps a buffer of about `limit` bytes (64 KiB by
 * default; read_until may hold a line of limit bytes plus its
 * separator). Calls that return a pointer into that buffer (read_until,
 * read_line, peek) give data that stays valid until the next call that
 * reads from or closes the stream. The stream reads from its fd only
 * inside a reading call (never on its own), and not at all while its
 * reading is paused (weft_stream_pause_reading).
 *
 * Writing: weft_stream_write never suspends: what the kernel does not
 * take at once is buffered and sent by the loop as the fd becomes
 * writable, also while the task does something else. weft_stream_drain
 * is the back-pressure point: it suspends while more than `high_water`
 * bytes are buffered, until at most `low_water` are. A writer that calls
 * drain after its writes keeps memory bounded however slow the reader.
 * A writer that does not is bounded by `max_pending`, the cap on queued
 * output, when it is set (weft_server_* sets 1 MiB by default): a write
 * that finds the cap reached returns -ENOBUFS and queues nothing, and
 * drain waits until there is room again.
 *
 * Errors: a reset, a broken pipe (SIGPIPE never kills the process: weft
 * sends with MSG_NOSIGNAL, and ignores SIGPIPE while a loop runs if it
 * was left at its default), or any other failure of the fd is returned to
 * the task that uses the stream, and to every later call on it; other
 * streams and tasks go on. A stream is used by one task at a time in each
 * direction: one reader and one writer may wait at once (-EBUSY else).
 * A stream belongs to the worker that opened it (several workers): every
 * call on it from a task of another worker returns -EXDEV. A call that
 * has to wait (for bytes, or for room to send) returns -WEFT_ENOTASK when
 * the caller is not a task (a callback).
 *
 * Closed: weft_stream_close and weft_stream_abort free the stream, yet
 * every call below made on it afterwards returns -EBADF (those that
 * return no status say what they answer), and with WEFT_DEBUG set
 * aborts instead, naming the call: "Stale handles" at the top of this
 * file says how long that holds and what stays undefined.
 * --------------------------------------------------------------------- */

typedef struct weft_stream weft_stream_t;

/* Stream options. NULL or zeroed: every default. */
typedef struct weft_stream_opts {
    size_t limit;      /* read buffer limit (0: 65536) */
    size_t high_water; /* drain waits above this many buffered bytes (0: 65536) */
    size_t low_water;  /* ... until at most this many are (0: high_water / 4) */
    /* The cap on queued output (0: none; the server helper's default is
     * 1 MiB, see weft_server_opts_t). A write or writev made while this
     * many bytes or more wait to be sent returns -ENOBUFS and queues
     * nothing; one made below it is taken whole, so at most max_pending
     * plus one write's bytes are ever queued. high_water must be below
     * it (0: 65536, or max_pending / 2 when that is less), so drain
     * waits whenever writes are refused. */
    size_t max_pending;
    /* Writes wait for the end of the loop turn: every write (and writev)
     * the tasks make during one turn is copied to the stream's buffer and
     * all of it leaves with one send just before the loop next polls,
     * also when the writer parks or ends meanwhile; flush, drain above
     * high_water, shutdown and close send at once as always. A write that
     * would hold more than 32 KiB goes out at once. Fewer system calls
     * and wake-ups for a server that answers many requests a turn. After
     * sending, the loop polls briefly before it blocks and, while that
     * gathers requests, naps 50 us so that more come together
     * (docs/design.md "Streams"). The cost is latency: the rest of the
     * turn's ready work, and under load up to one nap. */
    bool defer_writes;
} weft_stream_opts_t;

/* Wraps fd (a connected socket, a pipe end, a tty: anything read and
 * written as a byte stream) in a new stream, which owns it from now on
 * (also on failure: fd is closed then). fd is made non-blocking and
 * close-on-exec. Never suspends. Returns 0, -EINVAL (fd < 0, s NULL, bad
 * options), -WEFT_ENOLOOP, -ENOMEM, or -errno from registering the fd.
 *
 * Files: an fd the kernel cannot wait on (a regular file, /dev/null:
 * `./robot < commands.txt`, `./server > log.txt`) makes a stream whose
 * reads and writes run on the loop's thread pool, as weft_file_read and
 * weft_file_write do, from and to the fd's current offset. Every call
 * works as on a socket: a read suspends while the pool reads (up to 64
 * KiB ahead), returns 0 at end of file and then at every later read (a
 * file that grows afterwards is not followed); weft_stream_write never
 * suspends, and what it queues is written in the background by a task
 * of the stream's loop, and by drain, flush and close. What cannot work
 * says so: weft_stream_shutdown, the socket options and weft_tls_wrap
 * return -ENOTSOCK; a read or a wait to write outside a task
 * -WEFT_ENOTASK; the
 * rest is read(2)'s and write(2)'s own errors (-EISDIR for a directory,
 * -EBADF for a read of a write-only fd, -ENOSPC, -EFBIG), which stick
 * to the stream as a socket's errors do. */
WEFT_API int weft_stream_open(weft_stream_t **s, int fd, const weft_stream_opts_t *opts);

/* Reads up to n bytes into buf: what is buffered, else what arrives
 * next. Suspends while nothing is available (or reading is paused).
 * Returns the count (> 0), 0 at end of stream, or -errno (-ECONNRESET,
 * -ECANCELED, -ETIMEDOUT, -EBUSY, an error set by weft_stream_set_error,
 * -EBADF: s was closed, also by another task while this call waited,
 * -EINVAL: also for n > SSIZE_MAX, or a buf + n past the end of
 * memory, ...). */
WEFT_API ssize_t weft_stream_read(weft_stream_t *s, void *buf, size_t n);

/* Reads exactly n bytes into buf (n may exceed the limit). Suspends.
 * Returns 0 when all n arrived. At end of stream first, returns
 * -WEFT_EINCOMPLETE with the bytes that did arrive in buf; *got (may be
 * NULL) always tells how many bytes were stored in buf, also on
 * cancellation or a deadline (those bytes are consumed). Returns -EINVAL
 * (nothing read) for a count no buffer can hold: n > SSIZE_MAX, or
 * buf + n past the end of memory; -EBADF (s closed); else as
 * weft_stream_read. */
WEFT_API int weft_stream_read_exactly(weft_stream_t *s, void *buf, size_t n, size_t *got);

/* Reads up to and including the first occurrence of sep (seplen bytes,
 * 1..limit) and consumes it: *data points at the bytes in the stream's
 * buffer (valid until the next read or close). The limit counts the
 * line without its separator: a line of limit bytes plus sep is
 * returned. Suspends. Returns the length including sep;
 * -WEFT_EINCOMPLETE at end of stream without sep (the partial bytes stay
 * buffered); 0 is never returned; -EBADF (s closed), -EINVAL (seplen 0
 * or over the limit), or -errno as weft_stream_read else.
 *
 * A line longer than the limit is dropped, as asyncio's readline does:
 * the call reads on, dropping what comes, until sep arrives, then
 * returns -EMSGSIZE with the whole line consumed, sep included, so the
 * next call returns the next line; weft_stream_overrun_consumed tells
 * how many bytes went. Memory stays bounded by the limit however long
 * the line. Once a line has overrun, the call returns -EMSGSIZE however
 * its wait ends: at end of stream (the line's bytes are dropped, the next
 * call reports the end), on an error (which sticks for the next call),
 * or when it is cancelled or its deadline passes before sep came (both
 * stick for the next suspending call); then the stream remembers that it
 * is inside the line, and the next read_until or read_line first drops
 * the rest of it, through its own sep, without reporting it again.
 * Other reading calls (read, peek...) see those bytes as they come. */
WEFT_API ssize_t weft_stream_read_until(weft_stream_t *s, const void *sep, size_t seplen,
                                        const char **data);

/* weft_stream_read_until with sep "\n". */
WEFT_API ssize_t weft_stream_read_line(weft_stream_t *s, const char **line);

/* asyncio's LimitOverrunError.consumed: how many bytes of the latest
 * line over the limit weft_stream_read_until / read_line dropped, its
 * separator included (what went so far, if its separator has not come
 * yet); 0 if no line overran yet (or s is NULL, or closed and freed).
 * The count stays until the next line overruns. Never suspends. */
WEFT_API size_t weft_stream_overrun_consumed(const weft_stream_t *s);

/* Points *data at the bytes buffered now, without consuming them.
 * Never suspends. Returns their count (0 if none), -EINVAL, -EBADF, or
 * the error set by weft_stream_set_error. */
WEFT_API ssize_t weft_stream_peek(weft_stream_t *s, const char **data);

/* Reads more into the buffer: suspends until at least one more byte
 * arrives. For parsers that work in place over weft_stream_peek. Returns
 * the count added, 0 at end of stream, -EMSGSIZE when the buffer already
 * holds limit bytes, -EBADF (s closed), -errno as weft_stream_read else. */
WEFT_API ssize_t weft_stream_fill(weft_stream_t *s);

/* Drops the first n buffered bytes (n at most what weft_stream_peek
 * returns). Never suspends. Returns 0, -EINVAL, or -EBADF (s closed). */
WEFT_API int weft_stream_consume(weft_stream_t *s, size_t n);

/* True once the peer ended its side and every buffered byte is consumed
 * (false for NULL and for a closed stream). Never suspends. An end that came after the last
 * bytes read counts, whether or not a read has met it yet: with nothing
 * buffered, and no other call inside the stream, at_eof tries one read
 * that does not wait (bytes it finds stay buffered for the next read).
 * Not while reading is paused. A file stream (weft_stream_open) knows
 * its end only once a read met it. */
WEFT_API bool weft_stream_at_eof(weft_stream_t *s);

/* Sets err (a negative errno or weft status) as the stream's read
 * error, as asyncio's StreamReader.set_exception does: every later
 * reading call (read, read_exactly, read_until, read_line, peek, fill)
 * returns err, before any buffered bytes; a task waiting in one, for
 * bytes or for reading to resume, wakes and returns it. For a task that
 * watches another (a protocol's timer, a supervisor) and must stop its
 * reader with a reason. Writing is not affected. A later call replaces
 * the error. Never suspends. Returns 0, -EINVAL (s NULL, err >= 0),
 * -EBADF (closed). */
WEFT_API int weft_stream_set_error(weft_stream_t *s, int err);

/* Pauses reading (asyncio's transport.pause_reading), for flow control
 * of a subprocess's pipe (weft_proc_stdout) or any stream: until
 * weft_stream_resume_reading, no call reads from the fd. Reading calls
 * still return what is buffered; one that needs more suspends until
 * reading resumes (or it is cancelled, its deadline passes, an error is
 * set, or the stream closes). A writer on the other end (a child) then
 * blocks once the pipe or socket buffer is full. Pausing a paused stream
 * does nothing. Never suspends. Returns 0, -EINVAL, -EBADF. */
WEFT_API int weft_stream_pause_reading(weft_stream_t *s);

/* Resumes reading after weft_stream_pause_reading, waking a reader that
 * waits for it. Resuming a stream that is not paused does nothing. Never
 * suspends. Returns 0, -EINVAL, -EBADF. */
WEFT_API int weft_stream_resume_reading(weft_stream_t *s);

/* Queues n bytes for sending (a copy: buf is the caller's again on
 * return). Never suspends. Returns 0, or the stream's error (-EPIPE,
 * -ECONNRESET, -ESHUTDOWN after weft_stream_shutdown, ...), -ENOBUFS
 * (max_pending or more bytes are queued already: nothing of buf is
 * queued; weft_stream_drain waits for room), -ENOMEM, -EINVAL, -EBADF
 * (s closed). */
WEFT_API int weft_stream_write(weft_stream_t *s, const void *buf, size_t n);

/* weft_stream_write of iovcnt buffers in order, in one system call where
 * the kernel takes them; all of them or none (-ENOBUFS). */
WEFT_API int weft_stream_writev(weft_stream_t *s, const struct iovec *iov, int iovcnt);

/* If more than high_water bytes are buffered, suspends until at most
 * low_water are (high_water is below max_pending, so this also waits
 * out a write refused with -ENOBUFS). Returns 0, the stream's error,
 * -ECANCELED, -ETIMEDOUT, -EBADF (s closed, also by another task
 * meanwhile), -EINVAL (s NULL). */
WEFT_API int weft_stream_drain(weft_stream_t *s);

/* Suspends until every buffered byte has been handed to the kernel.
 * Returns as weft_stream_drain. */
WEFT_API int weft_stream_flush(weft_stream_t *s);

/* Flushes, then ends the write side (shutdown(SHUT_WR)): the peer reads
 * end of stream; the read side stays open. Sockets only. Suspends.
 * Returns 0, -ENOTSOCK, or as weft_stream_flush (-EBADF: s closed).
 * Later writes return -ESHUTDOWN. */
WEFT_API int weft_stream_shutdown(weft_stream_t *s);

/* Flushes what is buffered (suspends; bounded by the caller's deadline
 * scopes), then closes the fd and frees s, whatever the flush returned.
 * A task waiting on s gets -EBADF. Returns 0, the flush's error, -EINVAL
 * (s NULL), or -EBADF (s already closed). */
WEFT_API int weft_stream_close(weft_stream_t *s);

/* Closes at once, dropping buffered output, and frees s. Never suspends.
 * Returns 0, -EINVAL (s NULL), or -EBADF (s already closed). */
WEFT_API int weft_stream_abort(weft_stream_t *s);

/* The stream's fd, for socket options and the like (still owned by the
 * stream: do not close it), -EINVAL (s NULL), or -EBADF (s closed). */
WEFT_API int weft_stream_fd(const weft_stream_t *s);

/* Bytes buffered for sending, not yet taken by the kernel (0 for NULL
 * and for a closed stream). */
WEFT_API size_t weft_stream_pending(const weft_stream_t *s);

/* asyncio's is_closing: true once the stream is closing or its
 * connection is lost: weft_stream_close has begun on it (in another
 * task, flushing), or a read or a send failed (a reset, a broken pipe:
 * the error sticks); true also once it is closed. False while it is
 * open and well, also after end of stream or weft_stream_shutdown
 * (half-closed), and for NULL. Never suspends. */
WEFT_API bool weft_stream_is_closing(const weft_stream_t *s);

/* Socket options on a stream's socket. Never suspend. Return 0, -EINVAL,
 * -EBADF (s closed), -ENOTSOCK, -ENOPROTOOPT (not a TCP socket) or
 * -errno. */
WEFT_API int weft_stream_set_nodelay(weft_stream_t *s, bool on);
/* Keep-alive probes after idle_s seconds without traffic (0: the
 * system's default), every interval_s seconds (0: default). */
WEFT_API int weft_stream_set_keepalive(weft_stream_t *s, bool on, int idle_s, int interval_s);

/* The local and peer addresses of a stream's socket. Never suspend.
 * Return 0, -EINVAL, -EBADF (s closed), -ENOTSOCK, -ENOTCONN. */
WEFT_API int weft_stream_local_addr(const weft_stream_t *s, weft_addr_t *a);
/* The peer's address, as weft_stream_local_addr. */
WEFT_API int weft_stream_peer_addr(const weft_stream_t *s, weft_addr_t *a);

/* ------------------------------------------------------------------------
 * TCP and Unix-domain sockets: connecting, listening, serving.
 * --------------------------------------------------------------------- */

/* Resolves host and port (a number or a service name) and connects to
 * each address in turn until one accepts, all within the caller's
 * deadline scopes; TCP_NODELAY is set on the new stream. Suspends. Returns
 * 0 with the stream in *s, the last address's error (-ECONNREFUSED,
 * -ENETUNREACH, ...), a resolution error, -ECANCELED, -ETIMEDOUT, -EINVAL,
 * -WEFT_ENOTASK. */
WEFT_API int weft_tcp_connect(weft_stream_t **s, const char *host, const char *port,
                              const weft_stream_opts_t *opts);

/* Connects to one address (IPv4, IPv6 or Unix-domain). Suspends. Returns
 * as weft_tcp_connect. */
WEFT_API int weft_addr_connect(weft_stream_t **s, const weft_addr_t *addr,
                               const weft_stream_opts_t *opts);

/* Connects to the Unix-domain socket at path. Suspends. As weft_tcp_connect. */
WEFT_API int weft_unix_connect(weft_stream_t **s, const char *path,
                               const weft_stream_opts_t *opts);

typedef struct weft_listener weft_listener_t;

/* Listening options. NULL or zeroed: every default. */
typedef struct weft_listen_opts {
    int backlog;    /* 0: SOMAXCONN */
    bool reuseport; /* SO_REUSEPORT: several listeners share the port */
    bool v6only;    /* an IPv6 listener takes no IPv4 connections */
} weft_listen_opts_t;

/* Listens on host:port (host NULL or "" for every IPv4 address, "::" for
 * every address; a name is resolved; port "0" picks a free port, which
 * weft_listener_addr tells). SO_REUSEADDR is always set. Suspends only
 * while resolving a name. Returns 0, -EADDRINUSE, -EACCES, a resolution
 * error, -EINVAL, -WEFT_ENOLOOP (no loop on this thread), -WEFT_ENOTASK (a
 * name to resolve outside a task), -errno. */
WEFT_API int weft_tcp_listen(weft_listener_t **l, const char *host, const char *port,
                             const weft_listen_opts_t *opts);

/* Listens on a Unix-domain path (a stale socket file left there is
 * replaced; the file is removed again by weft_listener_close). Never
 * suspends. Returns as weft_tcp_listen. */
WEFT_API int weft_unix_listen(weft_listener_t **l, const char *path,
                              const weft_listen_opts_t *opts);

/* Listens on an address of any family. Never suspends. */
WEFT_API int weft_addr_listen(weft_listener_t **l, const weft_addr_t *addr,
                              const weft_listen_opts_t *opts);

/* Waits for the next connection and returns it as a stream in *s (with
 * opts; TCP_NODELAY set on TCP), its peer's address in *peer (may be
 * NULL). Suspends. Running out of fds (-EMFILE, -ENFILE) is returned to
 * the caller, who should back off (weft_server does). Returns 0,
 * -ECANCELED, -ETIMEDOUT, -EBADF (the listener was closed while this
 * call waited, or before it and freed: "Stale handles"), -EBUSY
 * (another task waits in accept on l), -EINVAL, -WEFT_ENOTASK. */
WEFT_API int weft_listener_accept(weft_listener_t *l, weft_stream_t **s, weft_addr_t *peer,
                                  const weft_stream_opts_t *opts);

/* The address a listener is bound to. Returns 0, -EINVAL, or -EBADF (l
 * closed and freed: "Stale handles"). */
WEFT_API int weft_listener_addr(const weft_listener_t *l, weft_addr_t *a);
/* The listener's fd (still owned by it), -EINVAL, or -EBADF (as
 * weft_listener_addr). */
WEFT_API int weft_listener_fd(const weft_listener_t *l);
/* Stops listening, closes and frees l. A task waiting in accept gets
 * -EBADF. Never suspends. Returns 0, -EINVAL (l NULL, or closed while a
 * call was still inside it), or -EBADF (l closed and freed: "Stale
 * handles"). */
WEFT_API int weft_listener_close(weft_listener_t *l);

/* ---- servers (asyncio.start_server) ---- */

/* A server: one or more listeners, each with a task that accepts
 * connections and spawns a task per connection that runs the handler.
 * When it cannot take or keep connections for want of fds or memory (an
 * accept that fails, a connection's task that cannot be spawned or gets
 * no stack when it first runs), it backs off and says why on stderr
 * ("weft: server on ADDR: ..."), rate-limited as weft_spawn's reports
 * are: one line when a burst starts, then a count of the like ones at
 * most once a second. */
typedef struct weft_server weft_server_t;

/* A connection's handler: runs as its own task; the server closes the
 * stream after it returns (the handler must not close it itself). Its
 * return value becomes the task's status. A server without a group
 * reports no failure of a connection (a reset, a stalled peer) as an
 * error nobody retrieved; in a group, a failure fails the group (see
 * weft_server_opts_t.group). */
typedef int (*weft_conn_fn)(weft_stream_t *s, void *arg);

/* The cap on each connection's queued output (weft_stream_opts_t's
 * max_pending) that a server sets when its options leave it 0. */
#define WEFT_SERVER_MAX_PENDING ((size_t)1 << 20)

/* Server options. NULL or zeroed: every default. Later versions add
 * fields at the end. */
typedef struct weft_server_opts {
    /* For every accepted stream. Its max_pending 0 means, for a server,
     * WEFT_SERVER_MAX_PENDING (1 MiB), or twice high_water when that is
     * more: a handler that writes without weft_stream_drain gets -ENOBUFS
     * from a peer that does not read, rather than queueing without bound.
     * SIZE_MAX: no cap. */
    weft_stream_opts_t stream;
    /* How weft_server_listen listens (ignored by weft_server_start, whose
     * listener is made already). per_worker sets reuseport by itself. */
    weft_listen_opts_t listen;
    size_t stack_size; /* handler tasks' stacks (0: the loop's default) */
    /* Most connections handled at once by each listener (with
     * per_worker, by each worker); more wait in the backlog. 0: no limit. */
    int max_conns;
    /* TLS (NULL: plain): each connection's task first runs the server
     * side of a handshake (weft_tls_wrap) with this context, which must
     * outlive the server; a failed handshake ends the connection without
     * calling the handler, and the server goes on. */
    struct weft_tls_ctx *tls;
    /* Who supervises the connection tasks. NULL: the server itself (it
     * holds them, and close cancels and awaits them). Else each
     * connection's task is spawned into this group, so the caller
     * supervises them with the group's rules: a handler that fails
     * (returns a negative status other than -ECANCELED) fails the group:
     * its other children, the server's other connections among them, are
     * cancelled, its owner is cancelled unless it waits in
     * weft_group_wait, and weft_group_wait returns that failure. A server
     * whose group failed or was cancelled closes each new connection at
     * once, until weft_server_close. A limit on the
     * group (weft_group_set_limit) makes the accepting task wait for room
     * (weft_group_spawn_wait) with one accepted connection in hand, while
     * further clients wait in the backlog. weft_group_wait returns as
     * soon as no child runs, also between two connections, so the usual
     * order is weft_server_close, then weft_group_wait. The group must
     * outlive the server. */
    weft_group_t *group;
    /* false: one listener and one accepting task, on the worker of the
     * task that starts the server; each connection's task runs there.
     * true (weft_server_listen only): one listener per worker on the same
     * address (SO_REUSEPORT, so the kernel spreads new connections), each
     * worker accepting and serving its own connections: for servers
     * bound by accepting and by many short connections. With one worker
     * both are the same. */
    bool per_worker;
    /* Timeouts that close a connection its peer holds without using it
     * (ns; 0: the default given; WEFT_FOREVER: none; negative: -EINVAL).
     * They are watched from the moment the handler starts: a TLS
     * handshake before it is bounded by its context's handshake_timeout
     * (weft_tls_opts_t, 30 s by default), not by these. Progress is what
     * the connection's stream moves: a read that returns bytes, a send
     * the kernel takes bytes from (a handler that leaves bytes unread,
     * or waits on something else, makes none meanwhile).
     *  - first_bytes_timeout (0: 10 s): the handler's reads have
     *    returned no byte yet (a client that connects and sends
     *    nothing). WEFT_FOREVER for protocols where the server speaks
     *    first and the client may wait.
     *  - idle_timeout (0: 60 s): no byte moved either way for this long.
     *  - send_timeout (0: 60 s): output is queued (weft_stream_pending)
     *    and the kernel took none of it for this long (a peer that does
     *    not read: nginx's send_timeout), also while the server flushes
     *    the stream after the handler returned.
     * A connection past one of them has its handler cancelled with
     * reason WEFT_CANCEL_DEADLINE and a message naming the timeout
     * (weft_task_cancel_reason on weft_current() tells; its suspended
     * call returns -ECANCELED), and its stream is then closed without a
     * flush (after a send timeout with a reset, so the kernel drops the
     * queued bytes too). They are checked on a coarse tick, an eighth
     * of the shortest (1 ms to 1 s): a connection ends between its
     * timeout and one tick later, and no timer is set per read or
     * write. A protocol's own limits (a request head that must arrive
     * whole within so long: a slowloris client that sends a byte now and
     * then) are the handler's, with a deadline scope (examples/
     * http_hello.c). */
    int64_t first_bytes_timeout;
    int64_t idle_timeout;
    int64_t send_timeout;
} weft_server_opts_t;

/* Listens on host:port (as weft_tcp_listen does, with opts->listen; port
 * "0" picks a free port, the same for every worker) and serves it:
 * handler(stream, arg) runs as a task per connection. Suspends while it
 * resolves a name and while the other workers bind (per_worker). Returns
 * 0 with the server in *srv (the caller's: weft_server_close), -EINVAL
 * (srv, port or handler NULL, max_conns, backlog or a timeout < 0), -WEFT_ENOTASK
 * (not in a task), -WEFT_ENOLOOP (no loop), -ENOMEM, or a listen error (-EADDRINUSE, -EACCES, a
 * resolution error); nothing is left running on failure. */
WEFT_API int weft_server_listen(weft_server_t **srv, const char *host, const char *port,
                                weft_conn_fn handler, void *arg, const weft_server_opts_t *opts);

/* Serves l, a listener the caller made (TCP or Unix-domain), from the
 * calling worker: a task accepts and spawns handler(stream, arg) as a
 * task per connection. Takes ownership of l on success (on failure the
 * caller still owns it). When accept runs out of fds it backs off (10
 * ms, doubling to 1 s) and goes on. Never suspends. Returns 0 with the
 * server in *srv (the caller's: weft_server_close), -EINVAL (srv, l or
 * handler NULL, max_conns or a timeout < 0, per_worker set), -WEFT_ENOLOOP (no
 * loop), -ENOMEM. */
WEFT_API int weft_server_start(weft_server_t **srv, weft_listener_t *l, weft_conn_fn handler,
                               void *arg, const weft_server_opts_t *opts);

/* The address the server is bound to (with per_worker, the one every
 * worker listens on). Never suspends. Returns 0, -EINVAL, or -EBADF
 * (srv closed and freed: "Stale handles"). */
WEFT_API int weft_server_addr(const weft_server_t *srv, weft_addr_t *addr);

/* Number of connections being handled now (on every worker; 0 for
 * NULL and for a closed and freed server). Never suspends. */
WEFT_API size_t weft_server_conns(const weft_server_t *srv);

/* Number of workers serving: 1, or the runtime's worker count with
 * per_worker. Never suspends. -EINVAL for NULL, -EBADF for a closed
 * and freed server. */
WEFT_API int weft_server_workers(const weft_server_t *srv);

/* Waits until the server stops (weft_server_close from another task;
 * srv is freed once both calls have returned). Suspends. Returns 0,
 * -ECANCELED, -ETIMEDOUT, -EINVAL, -WEFT_ENOTASK (not in a task), -EBADF
 * (srv already closed and freed). */
WEFT_API int weft_server_wait(weft_server_t *srv);

/* Shuts the server down gracefully, as Go's Server.Shutdown does:
 * stops accepting (closes every listener), ends idle connections at
 * once, gives the others up to grace_ns to end by themselves, then
 * cancels their handlers and waits for them to unwind; frees srv.
 *
 * Idle: a handler waiting to read its peer's next message (a keep-alive
 * connection between requests, or one whose first request has not come
 * yet) gets the end of the stream at once, as if the peer had closed:
 * weft_stream_read and weft_stream_fill return 0, read_line, read_until
 * and read_exactly -WEFT_EINCOMPLETE, and so does every later read of
 * that kind on the stream. "Waiting for the next message" means its
 * read finds nothing buffered and no byte came in since the handler
 * last wrote (weft_stream_write or writev took bytes): the peer's
 * latest message was answered. A read in the middle of a message
 * (bytes of it buffered, or read since the last write, or a
 * read_exactly that has part of its bytes) waits for the rest as
 * before, within the grace; bytes that have already arrived are still
 * read. A handler that stays busy otherwise (a long answer streamed in
 * writes and drains) learns of the close from weft_server_closing and
 * should stop between writes; one that does not is cancelled when the
 * grace ends.
 *
 * Suspends until every worker's part has closed. Returns 0,
 * or -ETIMEDOUT if handlers had to be cancelled; -ECANCELED if the
 * caller was cancelled meanwhile (this worker's handlers are cancelled
 * at once, other workers' get their whole grace; srv is freed all the
 * same); -EINVAL (NULL, grace_ns < 0, a close already under way),
 * -EBADF (srv already closed and freed: "Stale handles"),
 * -WEFT_ENOTASK (not in a task), -EDEADLK (called from one of srv's own handlers:
 * nothing is done). */
WEFT_API int weft_server_close(weft_server_t *srv, int64_t grace_ns);

/* Whether weft_server_close has begun on srv: a handler streaming a long
 * answer checks it between writes and stops early, so the close need not
 * wait out its grace (Go's Server.RegisterOnShutdown serves the same
 * end). True from the moment the close is called, on every worker;
 * false for NULL; true for a server closed and freed ("Stale handles").
 * Never suspends. A handler finds its server with weft_server_current. */
WEFT_API bool weft_server_closing(const weft_server_t *srv);

/* The server whose connection the calling task handles (the task that
 * runs a weft_conn_fn), or NULL when the caller is no such task (a task
 * the handler spawned is not: pass it the server). The server stays
 * valid while the handler runs: weft_server_close waits for it. Never
 * suspends. */
WEFT_API weft_server_t *weft_server_current(void);

/* ------------------------------------------------------------------------
 * TLS (through OpenSSL): client and server streams.
 *
 * A TLS stream is a weft_stream_t: weft_stream_read, read_line,
 * read_exactly, read_until, peek/fill, write, drain, flush, shutdown and
 * close all work on it unchanged, and move plaintext. close (and
 * shutdown) sends a close_notify once every queued byte has left,
 * waiting at most 1 s for room to send it (close then returns
 * -ETIMEDOUT, and closes all the same); abort sends none. A peer that
 * ends without close_notify reads as end of stream. Clients verify the
 * server's certificate chain and name by default (a CA file or the
 * system's store); every handshake is a full one (no session tickets,
 * no session cache, no resumption); TLS 1.2 and 1.3; servers prefer
 * TLS_AES_128_GCM_SHA256. A server stream comes from weft_tls_wrap, or
 * from a server with weft_server_opts_t.tls set.
 *
 * Errors: -WEFT_ECERT (the peer's certificate did not verify: expired,
 * self-signed, an unknown CA, a name that does not match), -EPROTO (a
 * protocol failure: a peer speaking plain text, an alert from the peer,
 * a corrupt record), -ECONNRESET (the peer left mid-handshake), the
 * socket's -errno, -ETIMEDOUT, -ECANCELED. Each comes with text:
 * weft_tls_error(stream), or weft_tls_last_error() for a call that left
 * no stream behind.
 * --------------------------------------------------------------------- */

typedef struct weft_tls_ctx weft_tls_ctx_t;

/* TLS configuration. NULL or zeroed: a client that verifies the server
 * against the system's store. Paths are read during weft_tls_ctx_create. */
typedef struct weft_tls_opts {
    bool server;           /* the server side of handshakes (needs cert_file) */
    const char *cert_file; /* PEM: own certificate, then its chain */
    const char *key_file;  /* PEM: its private key (NULL: in cert_file) */
    const char *ca_file;   /* PEM: CAs to verify the peer with (NULL: the system's store) */
    const char *ca_path;   /* a hashed directory of CAs, in addition */
    bool no_verify;        /* client: accept any server certificate (testing only) */
    bool verify_client;    /* server: require a client certificate (needs ca_file/ca_path) */
    const char *alpn;      /* ALPN, comma-separated in order of preference ("h2,http/1.1");
                            * a server refuses a client that offers none of them */
    int64_t handshake_timeout; /* ns, on top of the caller's deadlines (0: 30 s;
                                * WEFT_FOREVER: none) */
    /* Server, optional: picks the context whose certificate answers a
     * client that asked for `name` (SNI), or NULL to keep this one.
     * Runs inside the handshake on the connection's thread; must not
     * suspend. The contexts it returns must outlive the connections. */
    struct weft_tls_ctx *(*sni)(const char *name, void *arg);
    void *sni_arg;
} weft_tls_opts_t;

/* Creates a TLS context (an OpenSSL SSL_CTX) from opts, to share among
 * any number of streams and threads. Never suspends. Returns 0 with *ctx
 * (the caller's: weft_tls_ctx_release), -EINVAL (bad options, a file that
 * is not valid PEM, a key that does not match its certificate),
 * -ENOENT / -EACCES (a file that cannot be read), -ENOMEM, -ENOTSUP
 * (weft was built without OpenSSL); weft_tls_last_error() says why. */
WEFT_API int weft_tls_ctx_create(weft_tls_ctx_t **ctx, const weft_tls_opts_t *opts);

/* Drops the caller's reference to ctx: it is freed once no stream uses
 * it any more. Never suspends. Returns 0 or -EINVAL. */
WEFT_API int weft_tls_ctx_release(weft_tls_ctx_t *ctx);

/* Turns s, a connected plain stream with nothing buffered unread, into a
 * TLS stream: flushes what s has queued, then runs the handshake (client
 * or server, as ctx is), within ctx's handshake_timeout and the caller's
 * deadline scopes. A client sends server_name as SNI (unless it is a
 * numeric address) and, verifying, checks the certificate against it
 * (required then; NULL otherwise allowed). Suspends. s stays the
 * caller's either way; after a failure every call on it returns the
 * error and weft_tls_error(s) tells why: close or abort it. Returns 0,
 * -WEFT_ECERT, -EPROTO, -ECONNRESET, -ETIMEDOUT, -ECANCELED, -errno of
 * the socket, -ENOMEM, -EINVAL (NULL arguments, s already TLS, unread bytes
 * buffered in s, a verifying client without server_name), -ENOTSOCK (s
 * is over a file), -WEFT_ENOTASK (not in a task), -EBADF (s was closed
 * before the call, or another task closed s meanwhile: s is gone). */
WEFT_API int weft_tls_wrap(weft_stream_t *s, weft_tls_ctx_t *ctx, const char *server_name);

/* weft_tcp_connect to host:port, then weft_tls_wrap with host as the
 * server's name, all under the caller's deadline scopes. Suspends.
 * Returns 0 with the TLS stream in *s (the caller's), or as
 * weft_tcp_connect / weft_tls_wrap with *s NULL (the connection is
 * dropped; weft_tls_last_error() says why; -EINVAL also for a server
 * ctx). */
WEFT_API int weft_tls_connect(weft_stream_t **s, const char *host, const char *port,
                              weft_tls_ctx_t *ctx, const weft_stream_opts_t *opts);

/* Why the last TLS failure on s happened ("TLS handshake failed:
 * certificate has expired", "...: hostname mismatch", "...: the peer
 * spoke plain HTTP, not TLS"): "" if none, NULL if s is not a TLS
 * stream (or closed and freed). Valid while s is. Never suspends. */
WEFT_API const char *weft_tls_error(const weft_stream_t *s);

/* The text of the calling thread's last failed weft_tls_ctx_create,
 * weft_tls_wrap or weft_tls_connect, or of a TLS stream's last error;
 * "" if the last such call succeeded. Read it right after the call
 * (another task's TLS call may replace it once this one suspends).
 * Never NULL. */
WEFT_API const char *weft_tls_last_error(void);

/* The application protocol ALPN chose for s ("h2", "http/1.1"), or NULL
 * (none, or s is not TLS). Valid while s is. Never suspends. */
WEFT_API const char *weft_tls_alpn(const weft_stream_t *s);

/* The server name sent as SNI: on a server, what the client asked for;
 * on a client, what it sent; NULL if none or s is not TLS. Valid while s
 * is. Never suspends. */
WEFT_API const char *weft_tls_server_name(const weft_stream_t *s);

/* The protocol version of s ("TLSv1.3"), or NULL (not TLS, or failed).
 * Never suspends. */
WEFT_API const char *weft_tls_version(const weft_stream_t *s);

/* Whether s reads and writes through TLS (false for a closed and freed
 * stream). Never suspends. */
WEFT_API bool weft_stream_is_tls(const weft_stream_t *s);

/* ------------------------------------------------------------------------
 * UDP.
 * --------------------------------------------------------------------- */

typedef struct weft_udp weft_udp_t;

/* Opens a UDP socket bound to *bind (port 0: any free port), or unbound
 * of the given family (AF_INET, AF_INET6) when bind is NULL. Never
 * suspends. Returns 0, -EADDRINUSE, -EINVAL, -WEFT_ENOLOOP, -errno. */
WEFT_API int weft_udp_open(weft_udp_t **u, const weft_addr_t *bind, int family);
/* Fixes the peer: weft_udp_send goes there and only its datagrams are
 * received. Never suspends. Returns 0, -EINVAL, -EBADF (u closed and
 * freed: "Stale handles"), -errno. */
WEFT_API int weft_udp_connect(weft_udp_t *u, const weft_addr_t *peer);
/* Sends one datagram to the connected peer, or to *to (NULL when
 * connected). Suspends only while the socket's buffer is full. Returns
 * the count sent, -EMSGSIZE, -ECONNREFUSED (an earlier datagram was
 * refused, connected sockets only), -ECANCELED, -ETIMEDOUT,
 * -WEFT_ENOTASK, -EBADF (u closed while the call waited, or before it
 * and freed), -EINVAL (u closed while another call was inside it),
 * -errno. */
WEFT_API ssize_t weft_udp_sendto(weft_udp_t *u, const void *buf, size_t n,
                                 const weft_addr_t *to);
/* Receives one datagram and its sender (from may be NULL). Suspends
 * until one arrives. Returns the count stored in buf: the datagram's
 * length, or n if it was longer (the rest of it is dropped); or -errno
 * as weft_udp_sendto. */
WEFT_API ssize_t weft_udp_recvfrom(weft_udp_t *u, void *buf, size_t n, weft_addr_t *from);
/* The address the socket is bound to. Returns 0, -EINVAL, or -EBADF (u
 * closed and freed). */
WEFT_API int weft_udp_local_addr(const weft_udp_t *u, weft_addr_t *a);
/* The socket's fd (still owned by u), -EINVAL, or -EBADF (as
 * weft_udp_local_addr). */
WEFT_API int weft_udp_fd(const weft_udp_t *u);
/* Closes and frees u; a waiting task gets -EBADF. Returns 0, -EINVAL, or
 * -EBADF (u already closed and freed). */
WEFT_API int weft_udp_close(weft_udp_t *u);

/* ------------------------------------------------------------------------
 * Subprocesses (asyncio.create_subprocess_exec / _shell).
 * --------------------------------------------------------------------- */

typedef struct weft_proc weft_proc_t;

/* Where a child's stdin, stdout or stderr goes. */
typedef enum weft_stdio {
    WEFT_STDIO_INHERIT = 0, /* the parent's own fd */
    WEFT_STDIO_PIPE,        /* a pipe to the parent, as a weft stream */
    WEFT_STDIO_DEVNULL,     /* /dev/null */
    WEFT_STDIO_STDOUT,      /* stderr only: merged into the child's stdout */
    WEFT_STDIO_STDERR,      /* stdout only: merged into the child's stderr */
    WEFT_STDIO_FD           /* the fd given in the options (not closed by weft) */
} weft_stdio_t;

/* Options for weft_proc_spawn / weft_proc_shell. NULL or zeroed: every
 * default (stdio inherited, the parent's environment and directory). */
typedef struct weft_proc_opts {
    char *const *env;     /* NULL-terminated "K=V" list; NULL: the parent's */
    const char *cwd;      /* NULL: the parent's */
    weft_stdio_t in, out, err;
    int in_fd, out_fd, err_fd; /* for WEFT_STDIO_FD */
    bool new_group;       /* the child leads a new process group */
    weft_stream_opts_t stream; /* for the pipes */
} weft_proc_opts_t;

/* Starts argv[0] (searched in PATH when it has no '/') with arguments
 * argv (NULL-terminated), by posix_spawn: the parent is not copied, so
 * starting a program costs the same from a big parent as from a small
 * one. A program that cannot be started is reported here (-ENOENT,
 * -EACCES, -ENOEXEC...), not as a child exiting 127. Never suspends.
 * Returns 0 with *p (owned by the caller: weft_proc_destroy), -EINVAL,
 * -WEFT_ENOLOOP, -ENOMEM, -EAGAIN (process limit), -errno. */
WEFT_API int weft_proc_spawn(weft_proc_t **p, const char *const argv[],
                             const weft_proc_opts_t *opts);

/* Starts `/bin/sh -c cmd`. As weft_proc_spawn (a command the shell cannot
 * find shows as exit code 127, as shells do). */
WEFT_API int weft_proc_shell(weft_proc_t **p, const char *cmd, const weft_proc_opts_t *opts);

/* The child's process id, or -EINVAL. */
WEFT_API int weft_proc_pid(const weft_proc_t *p);

/* The streams of a child's piped stdin, stdout and stderr (NULL where not
 * WEFT_STDIO_PIPE). They belong to p: use them, do not close them (except
 * with weft_proc_close_stdin); they are closed by weft_proc_destroy, and
 * calls on them after that return -EBADF ("Stale handles"). */
WEFT_API weft_stream_t *weft_proc_stdin(weft_proc_t *p);
/* The child's stdout stream, as weft_proc_stdin (NULL if not a pipe). */
WEFT_API weft_stream_t *weft_proc_stdout(weft_proc_t *p);
/* The child's stderr stream, as weft_proc_stdin (NULL if not a pipe). */
WEFT_API weft_stream_t *weft_proc_stderr(weft_proc_t *p);

/* Flushes and closes the child's stdin pipe, so it reads end of file.
 * Suspends while flushing. Returns 0, -EBADF (no pipe or already closed),
 * the flush's error. */
WEFT_API int weft_proc_close_stdin(weft_proc_t *p);

/* Waits until the child has ended and stores its return code in *code
 * (may be NULL): the exit status 0..255, or -N if signal N ended it (as
 * asyncio's returncode). Suspends. The child is reaped (through a pidfd
 * where the kernel has one). Returns 0, -ECANCELED or -ETIMEDOUT (the
 * child goes on), -EINVAL, -WEFT_ENOTASK (outside a task, while the child
 * still runs), -EBUSY (another task waits on it and the child still
 * runs), -EXDEV (another worker's child that still runs). */
WEFT_API int weft_proc_wait(weft_proc_t *p, int *code);

/* The return code if the child has ended (0, no wait), else -EAGAIN. */
WEFT_API int weft_proc_returncode(const weft_proc_t *p, int *code);

/* Sends signal sig to the child (nothing once it has been reaped).
 * Never suspends. Returns 0, -ESRCH (it has ended), -EINVAL. */
WEFT_API int weft_proc_signal(weft_proc_t *p, int sig);
/* weft_proc_signal with SIGTERM. */
WEFT_API int weft_proc_terminate(weft_proc_t *p);
/* weft_proc_signal with SIGKILL. */
WEFT_API int weft_proc_kill(weft_proc_t *p);

/* Writes in (inlen bytes; in may be NULL) to the child's stdin and closes
 * it, while reading all of its stdout and stderr, then waits for it to
 * end: no deadlock whatever the sizes (asyncio's communicate). Each
 * output pipe's bytes go to a malloc'ed buffer in *out / *err (NUL-
 * terminated; lengths in *outlen / *errlen; each pointer may be NULL to
 * discard; NULL results for streams that are not pipes); the caller
 * frees them. The child's return code goes to *code (may be NULL). A
 * child that does not read its stdin gets EPIPE, which is ignored.
 * Suspends. On cancellation or a deadline returns -ECANCELED / -ETIMEDOUT
 * with nothing stored and the child left running (destroy kills it).
 * Returns 0, -ENOMEM, -EINVAL, -EBUSY (another task is reading a pipe),
 * -WEFT_ENOTASK. */
WEFT_API int weft_proc_communicate(weft_proc_t *p, const void *in, size_t inlen, char **out,
                                   size_t *outlen, char **err, size_t *errlen, int *code);

/* Frees p and closes its pipes. A child still running is killed
 * (SIGKILL) and reaped at once, so no zombie is left: this is what
 * happens to the process when the task that started it is cancelled and
 * unwinds through its clean-up. (A killed process ends within
 * microseconds; the loop blocks that long.) To let a program outlive its
 * handle, start it through a shell that backgrounds it. Never suspends.
 * Returns 0, -EBUSY (a task waits in weft_proc_wait on p), -EINVAL. */
WEFT_API int weft_proc_destroy(weft_proc_t *p);

/* ------------------------------------------------------------------------
 * Signals, delivered as ordinary code on the loop (signalfd): never inside
 * a signal handler, so any weft or libc call is allowed.
 *
 * weft_run cancels its main task on SIGINT or SIGTERM (each while it is
 * at its default disposition and no handler or waiting task takes it),
 * as asyncio.run does for SIGINT: a Ctrl-C, or the SIGTERM a service
 * manager sends, unwinds the program through the normal -ECANCELED path,
 * with the reason WEFT_CANCEL_SIGNAL (weft_task_cancel_reason). Only a
 * second one of them before weft_run returns kills the process, as the
 * signal would without weft; the first never does, also when main was
 * already cancelled (by the program, or by weft_run's deadlock check) or
 * has returned and the other tasks unwind. From the start of main these
 * two are blocked in the loop's thread and read from its signalfd, so one
 * that arrives while a server starts cancels main instead of killing it.
 * With several workers the calls work from any worker: signals are
 * blocked in worker 0's thread (weft_run's; the other workers block them
 * all) and read there, and a task elsewhere is woken across workers.
 * --------------------------------------------------------------------- */

/* Waits until one of the n signals in signals[] (numbers such as SIGINT,
 * SIGTERM; repeats are harmless) arrives and stores its number in *signo
 * (may be NULL). The set is an array rather than a sigset_t so that
 * weft.h builds with plain -std=c11, which has no sigset_t. While a task
 * waits, those signals are blocked in the loop's thread and read from a
 * signalfd; several tasks may wait on overlapping sets (each arrival
 * wakes one waiter of that signal, the longest waiting). From another
 * worker than 0, the first wait for a signal first has worker 0 block it
 * (the calling thread waits for that without switching tasks). Suspends.
 * Returns 0, -ECANCELED, -ETIMEDOUT, -EINVAL (signals NULL, n 0, or a
 * number that cannot be caught: SIGKILL, SIGSTOP, < 1 or > 64),
 * -WEFT_ENOTASK. */
WEFT_API int weft_signal_wait(const int *signals, size_t n, int *signo);

/* Waits until SIGINT or SIGTERM arrives (the signals Ctrl-C and service
 * managers such as systemd send to stop a program) and stores which in
 * *signo (may be NULL): weft_signal_wait on those two. The usual end of
 * a server's main task: listen, weft_signal_wait_stop, close. A waiting
 * task takes the signal before weft_run's default of cancelling main. One
 * that came earlier, while no task waited, has cancelled main already
 * (where that default applies), so this call returns -ECANCELED in main:
 * either way the program stops. Suspends. Returns 0, -ECANCELED,
 * -ETIMEDOUT, -WEFT_ENOTASK (not in a task), -ENOMEM. */
WEFT_API int weft_signal_wait_stop(int *signo);

/* Runs fn(arg) on the loop each time signal signo arrives (asyncio's
 * loop.add_signal_handler); fn NULL removes the handler. A handler takes
 * precedence over waiting tasks, and runs on the worker that set it
 * (from another worker than 0, the call waits for worker 0 to block the
 * signal, without switching tasks). Never suspends. Returns 0, -EINVAL (a
 * signal that cannot be caught), -WEFT_ENOLOOP, -ENOMEM. */
WEFT_API int weft_signal_handle(int signo, weft_callback_fn fn, void *arg);

/* ------------------------------------------------------------------------
 * Waiting on an fd weft does not own (asyncio's add_reader / add_writer),
 * for driving a non-blocking C library (libcurl's multi-socket interface,
 * libpq, c-ares...) from tasks: the library keeps its fd and does its own
 * reads and writes; a task waits until the fd is ready, then calls the
 * library.
 *
 * The wait is level-triggered: weft caches nothing about a foreign fd, so
 * each wait asks the kernel afresh (one epoll_ctl per wait, none when the
 * fd is already armed for that direction). A wake-up may be stale by the
 * time the task runs (the library may find EAGAIN): wait again then. One
 * task may wait to read and one to write on an fd at a time (one task may
 * wait for both). The owner must call weft_fd_forget(fd) before it
 * closes fd: the kernel's epoll follows the open file, not the number.
 * The fd must not be one weft itself owns (a stream's, a listener's).
 * A task of any worker may wait: each worker watches the fd for its own
 * tasks, so the one-waiter-per-direction rule (-EBUSY below) holds per
 * worker: tasks of two workers may both wait on fd in one direction,
 * each through its own worker's epoll set.
 * --------------------------------------------------------------------- */

#define WEFT_READABLE 1 /* weft_fd_wait: wait for / report readability */
#define WEFT_WRITABLE 2 /* weft_fd_wait: wait for / report writability */

/* Waits until fd is ready for `events` (WEFT_READABLE, WEFT_WRITABLE or
 * both). timeout_ns WEFT_FOREVER waits without a limit of its own; 0 or
 * less has expired: it only looks (poll(2), never suspends); > 0 waits
 * at most that long; the task's deadline scopes apply either way.
 * Suspends (unless the timeout has expired).
 * Returns the ready events among those asked (> 0; an error or hang-up
 * on the fd reports as ready in both directions, so the library meets
 * it), -ETIMEDOUT (timeout_ns or a deadline scope), -ECANCELED, -EBUSY
 * (another task of this worker already waits on fd in that direction,
 * or fd is one of weft's own), -EBADF (fd is not open, or weft_fd_forget(fd) was called
 * while waiting), -EINVAL (fd < 0, events 0 or unknown bits),
 * -WEFT_ENOTASK, -EPERM (the kernel's answer for an fd that does not
 * support readiness waits, as a regular file: see weft_file_open),
 * -ENOMEM. The caller keeps owning fd. */
WEFT_API int weft_fd_wait(int fd, int events, int64_t timeout_ns);

/* Tells weft that fd is about to be closed (or handed elsewhere): tasks
 * waiting on it wake with -EBADF and weft removes it from its epoll sets.
 * Call it before close(fd) whenever fd has been waited on; calling it for
 * an fd never waited on costs nothing. On the calling worker this happens
 * at once; with several workers, the others' waiters wake (and their
 * epoll sets forget fd) when each worker next turns. Never suspends; may
 * be called from a callback. Returns 0, -EINVAL (fd < 0), -WEFT_ENOLOOP
 * (no loop on this thread), -ENOMEM (another worker could not be told:
 * its waiters wake when the closed fd reports an error). */
WEFT_API int weft_fd_forget(int fd);

/* ------------------------------------------------------------------------
 * Task-local values (Python's contextvars).
 *
 * A key names a slot; each task has its own value for it. A spawned task
 * (weft_spawn, weft_group_spawn, ...) starts with the values its spawner
 * had at the spawn: shared, not copied (spawning allocates nothing), until
 * either side sets a value, which then changes that side only. A task
 * spawned from a callback, and weft_run's main task, start with none.
 * Coroutines and generators a task resumes see and set that task's
 * values.
 *
 * A value's destructor (the key's, may be NULL) runs exactly once, when
 * the last task holding that value lets go of it: the value is replaced
 * or removed there, or the task finishes. It then runs on the loop's
 * thread, either inside weft_local_set or, when a task finishes, outside
 * any task: it must not suspend. Every value has been destroyed by the
 * time weft_run returns.
 * --------------------------------------------------------------------- */

/* A key. Create it once (weft_local_key_create), usually into a static
 * variable, and use it from any task of any loop; it needs no freeing. */
typedef struct weft_local_key {
    uint64_t id; /* 0: not created */
    void (*dtor)(void *value);
} weft_local_key_t;

/* Makes *key a new key whose values are destroyed with dtor (may be
 * NULL). Never suspends; needs no loop; thread-safe. Returns 0 or
 * -EINVAL (key NULL). */
WEFT_API int weft_local_key_create(weft_local_key_t *key, void (*dtor)(void *value));

/* Sets the calling task's value for key; NULL removes it. The task now
 * holds value; the one it replaces is let go (destroyed here if no other
 * task holds it). Setting the value already there does nothing. Never
 * suspends. Returns 0, -EINVAL (key NULL or not created), -WEFT_ENOTASK,
 * -ENOMEM (nothing changed). */
WEFT_API int weft_local_set(const weft_local_key_t *key, void *value);

/* Stores the calling task's value for key in *value (may be NULL to only
 * ask whether there is one; NULL is stored when there is none). The
 * value is borrowed: valid while the task holds it. Never suspends.
 * Returns 0, -ENOENT (no value set for key), -EINVAL (key NULL or not
 * created), -WEFT_ENOTASK. */
WEFT_API int weft_local_get(const weft_local_key_t *key, void **value);

/* ------------------------------------------------------------------------
 * Files: open, read, write, sync and close that suspend only the calling
 * task (each operation runs on the loop's thread pool; see weft_to_thread
 * for its size).
 *
 * Cancellation and deadlines never leave an operation half-known. If the
 * task is cancelled (or its deadline has passed) before the call, the
 * call returns -ECANCELED (-ETIMEDOUT) and does nothing. Once the call
 * has handed its operation to the pool, the task waits until the
 * operation has finished, whatever happens meanwhile, and returns its
 * outcome: a read or write returns the bytes it did (>= 0), which
 * happened; a cancellation or deadline that arrived meanwhile is kept and
 * shows at the task's next suspending call (weft_task_cancelled(
 * weft_current()) tells at once). So a negative return always means the
 * operation did not happen (or failed as the system call did), and a
 * non-negative one that it did, this much.
 *
 * Buffers: the pool thread reads or writes the caller's buffer in place,
 * unless it lies on the calling task's own stack: then the data goes
 * through a heap copy of the same size (a copy-stack task's stack is
 * saved elsewhere while it is suspended, so its addresses must not be
 * handed to another thread). Either way buf is the caller's again when
 * the call returns.
 *
 * A weft_file_t may be used by several tasks at once (pread / pwrite at
 * their own offsets; read / write share the file position as read(2) and
 * write(2) do); it is not tied to a loop. All calls need a task
 * (-WEFT_ENOTASK elsewhere).
 * --------------------------------------------------------------------- */

typedef struct weft_file weft_file_t;

/* Opens path as open(2) does with flags (O_CLOEXEC is added) and mode
 * (for O_CREAT). Suspends. Returns 0 with *f (owned by the caller:
 * weft_file_close), -ENOENT, -EACCES, ... (open's errors), -ECANCELED or
 * -ETIMEDOUT (before the call: nothing opened; a cancellation during the
 * open still returns the file), -EINVAL (f or path NULL), -WEFT_ENOTASK,
 * -ENOMEM, -EAGAIN (no pool thread). path is copied. */
WEFT_API int weft_file_open(weft_file_t **f, const char *path, int flags, mode_t mode);

/* Reads up to n bytes at the file's position into buf, advancing it (one
 * read(2): fewer than n at end of file, or from a pipe or terminal).
 * Suspends. Returns the count (0 at end of file), read's -errno,
 * -ECANCELED / -ETIMEDOUT (nothing read: see above), -EINVAL (f NULL, buf
 * NULL with n > 0, n > SSIZE_MAX), -WEFT_ENOTASK, -ENOMEM. */
WEFT_API ssize_t weft_file_read(weft_file_t *f, void *buf, size_t n);

/* Reads up to n bytes at offset off (>= 0) without moving the file's
 * position (pread(2)). Suspends. Returns as weft_file_read. */
WEFT_API ssize_t weft_file_pread(weft_file_t *f, void *buf, size_t n, off_t off);

/* Writes the n bytes of buf at the file's position (at its end with
 * O_APPEND), all of them unless an error comes first. Suspends. Returns n,
 * or the count written before an error (the error shows at the next
 * call), or write's -errno when nothing was written (-ENOSPC, -EBADF for
 * a file opened read-only, ...), -ECANCELED / -ETIMEDOUT (nothing
 * written), -EINVAL, -WEFT_ENOTASK, -ENOMEM. */
WEFT_API ssize_t weft_file_write(weft_file_t *f, const void *buf, size_t n);

/* Writes the n bytes of buf at offset off (>= 0) without moving the
 * file's position (pwrite(2)). Suspends. Returns as weft_file_write. */
WEFT_API ssize_t weft_file_pwrite(weft_file_t *f, const void *buf, size_t n, off_t off);

/* Flushes the file's data and metadata to its device (fsync(2)), or only
 * what reading the data back needs (fdatasync(2)) when data_only.
 * Suspends. Returns 0, the call's -errno (-EIO, ...), -ECANCELED /
 * -ETIMEDOUT (not done), -EINVAL, -WEFT_ENOTASK, -ENOMEM. */
WEFT_API int weft_file_sync(weft_file_t *f, bool data_only);

/* Closes the file and frees f, also on failure and also when the task is
 * cancelled (then the close happens right here, without the pool).
 * Suspends (unless cancelled). Returns 0, close's -errno (-EIO: data
 * written earlier may be lost), -EBUSY (another task's operation on f is
 * in flight: nothing is done), -EINVAL, -WEFT_ENOTASK (not in a task:
 * nothing is done). */
WEFT_API int weft_file_close(weft_file_t *f);

/* The file's fd (still owned by f), or -EINVAL. Never suspends. */
WEFT_API int weft_file_fd(const weft_file_t *f);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
