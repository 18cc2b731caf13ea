/* test_signal.c - signals on the loop: a task waits for a set, handlers
 * run as callbacks, a signal nobody took yet waits for the next waiter,
 * overlapping waiters are served in turn, cancellation and deadlines end a
 * wait, SIGINT and SIGTERM cancel main with the reason
 * WEFT_CANCEL_SIGNAL (and only a second one kills, in a child process:
 * not a first one that comes while main unwinds, after the deadlock
 * check cancelled it, or after main returned), weft_signal_wait_stop takes either in a child
 * process (also one queued before it waits) without main being cancelled, the thread's signal
 * mask is restored when the loop closes, and a wait or a handler from a task on another worker
 * than weft_run's takes the signal (the process survives it, main is not cancelled, the handler
 * runs on the worker that set it).
 *
 * Signals are sent with kill(getpid(), ...): weft blocks the ones it
 * watches in the loop's thread, so they reach its signalfd.
 *
 * Covers: src/signal.c.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct waiter {
    int sigs[2];
    size_t n;
    int signo;
    int rc;
} waiter_t;

static int wait_sig(void *arg, void **result)
{
    (void)result;
    waiter_t *w = arg;
    w->rc = weft_signal_wait(w->sigs, w->n, &w->signo);
    return w->rc;
}

/* ---- waiting ---- */

static int wait_main(void *arg, void **result)
{
    (void)arg, (void)result;
    waiter_t w = {.sigs = {SIGUSR1, SIGUSR2}, .n = 2};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, wait_sig, &w, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING); /* it waits now (on any worker) */
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(w.signo, SIGUSR2);
    weft_task_release(t);

    /* a signal with nobody waiting is kept for the next wait */
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(5)), 0);
    const int s[] = {SIGUSR1, SIGUSR1}; /* a repeat is harmless */
    int got = 0;
    assert_int_equal(weft_signal_wait(s, 2, &got), 0);
    assert_int_equal(got, SIGUSR1);
    return 0;
}

static void test_signal_wait_takes_one_of_a_set_and_pending_signals_are_kept(void **state)
{
    (void)state;
    run(wait_main, NULL);
}

static int overlap_main(void *arg, void **result)
{
    (void)arg, (void)result;
    waiter_t a = {.sigs = {SIGUSR1}, .n = 1}, b = {.sigs = {SIGUSR1}, .n = 1};
    weft_task_t *ta, *tb;
    /* a waits before b does (each may run on any worker) */
    assert_int_equal(weft_spawn(&ta, wait_sig, &a, NULL), 0);
    wait_state(ta, WEFT_TASK_WAITING);
    assert_int_equal(weft_spawn(&tb, wait_sig, &b, NULL), 0);
    wait_state(tb, WEFT_TASK_WAITING);
    /* one arrival wakes one waiter: the one that waited first */
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(weft_await(ta, NULL), 0);
    assert_int_equal(weft_task_done(tb), false);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(weft_await(tb, NULL), 0);
    assert_int_equal(a.signo, SIGUSR1);
    assert_int_equal(b.signo, SIGUSR1);
    weft_task_release(ta);
    weft_task_release(tb);
    return 0;
}

static void test_overlapping_waiters_are_served_in_turn(void **state)
{
    (void)state;
    run(overlap_main, NULL);
}

static int cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    waiter_t w = {.sigs = {SIGUSR1}, .n = 1};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, wait_sig, &w, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING); /* it may run on any worker */
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    weft_task_release(t);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_signal_wait(w.sigs, w.n, NULL), -ETIMEDOUT);
    weft_deadline_pop(&d);
    /* the cancelled waiter took nothing: the next one gets the signal */
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(weft_signal_wait(w.sigs, w.n, NULL), 0);
    return 0;
}

static void test_signal_wait_ends_on_cancel_or_deadline(void **state)
{
    (void)state;
    run(cancel_main, NULL);
}

/* ---- handlers ---- */

static int handled;

static void on_usr2(void *arg)
{
    handled += (int)(intptr_t)arg;
}

static int handler_main(void *arg, void **result)
{
    (void)arg, (void)result;
    handled = 0;
    assert_int_equal(weft_signal_handle(SIGUSR2, on_usr2, (void *)(intptr_t)1), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    for (int i = 0; i < 2000 && handled == 0; i++)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(handled, 1);
    /* a handler takes precedence over a waiting task; removing it hands
     * the signal back to waiters */
    assert_int_equal(weft_signal_handle(SIGUSR2, NULL, NULL), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    const int s = SIGUSR2;
    assert_int_equal(weft_signal_wait(&s, 1, NULL), 0);
    assert_int_equal(handled, 1);
    return 0;
}

static void test_signal_handlers_run_as_loop_callbacks(void **state)
{
    (void)state;
    run(handler_main, NULL);
}

/* ---- SIGINT and weft_run ---- */

static int sigint_main(void *arg, void **result)
{
    (void)arg, (void)result;
    assert_int_equal(kill(getpid(), SIGINT), 0);
    int rc = weft_sleep(WEFT_SEC(100));
    assert_int_equal(rc, -ECANCELED);
    return rc;
}

static void test_sigint_cancels_main_and_mask_is_restored(void **state)
{
    (void)state;
    assert_int_equal(weft_run(sigint_main, NULL, NULL), -ECANCELED);
    sigset_t cur;
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &cur), 0);
    assert_int_equal(sigismember(&cur, SIGINT), 0);
    assert_int_equal(sigismember(&cur, SIGUSR1), 0);
}

/* A task waiting for SIGINT takes it: main is not cancelled. */
static int sigint_waited_main(void *arg, void **result)
{
    (void)arg, (void)result;
    waiter_t w = {.sigs = {SIGINT}, .n = 1};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, wait_sig, &w, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING); /* it may run on any worker */
    assert_int_equal(kill(getpid(), SIGINT), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(w.signo, SIGINT);
    weft_task_release(t);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0); /* not cancelled */
    return 0;
}

static void test_a_task_waiting_for_sigint_takes_it(void **state)
{
    (void)state;
    run(sigint_waited_main, NULL);
}

/* Ignores the first cancellation, then sends itself a second SIGINT. */
static int stubborn_main(void *arg, void **result)
{
    (void)arg, (void)result;
    kill(getpid(), SIGINT);
    weft_sleep(WEFT_SEC(100));
    weft_uncancel();
    kill(getpid(), SIGINT);
    for (int i = 0; i < 100; i++)
        weft_sleep(WEFT_SEC(1));
    return 0; /* not reached: the second SIGINT kills the process */
}

static void test_second_sigint_while_main_ignores_the_first_kills_the_process(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_run(stubborn_main, NULL, NULL);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGINT);
}

/* Runs fn as weft_run's main in a child process and returns its wait
 * status; the child exits with 0 when weft_run returned expect. */
static int in_child(weft_task_fn fn, int expect)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = weft_run(fn, NULL, NULL);
        _exit(rc == expect ? 0 : 3);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

/* SIGINT cancels main with the reason WEFT_CANCEL_SIGNAL. */
static int sigint_reason_main(void *arg, void **result)
{
    (void)arg, (void)result;
    kill(getpid(), SIGINT);
    if (weft_sleep(WEFT_SEC(100)) != -ECANCELED)
        return -EPROTO;
    if (weft_task_cancel_reason(weft_current(), NULL) != WEFT_CANCEL_SIGNAL)
        return -EBADMSG;
    return 0;
}

static void test_sigint_cancels_main_with_reason_signal(void **state)
{
    (void)state;
    int st = in_child(sigint_reason_main, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Main is cancelled by the program; a SIGINT comes as it returns (the
 * loop has not read it yet): it is the first, so it does not kill. */
static int unwinding_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_cancel(weft_current());
    if (weft_sleep(WEFT_SEC(100)) != -ECANCELED)
        return -EPROTO;
    kill(getpid(), SIGINT);
    return 7;
}

static void test_first_sigint_while_main_unwinds_does_not_kill(void **state)
{
    (void)state;
    int st = in_child(unwinding_main, 0);
    assert_false(WIFSIGNALED(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A task that outlives main sends the first SIGINT while weft_run cancels
 * it at the close: that one does not kill either. */
static int late_child(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_sleep(WEFT_SEC(100)); /* cancelled: weft_run closes */
    weft_uncancel();
    kill(getpid(), SIGINT);
    weft_sleep(WEFT_MSEC(5)); /* its clean-up goes on meanwhile */
    kill(getpid(), SIGINT);   /* ...and was not cancelled by it */
    return 0;
}

static int leaves_a_task_main(void *arg, void **result)
{
    (void)arg, (void)result;
    if (weft_spawn(NULL, late_child, NULL, NULL) < 0)
        return -ENOMEM;
    weft_yield();
    return 0;
}

static void test_second_sigint_after_main_returned_still_kills(void **state)
{
    (void)state;
    int st = in_child(leaves_a_task_main, 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGINT);
}

/* One SIGINT after main returned (while the rest unwinds) is a first
 * one: the process exits normally. */
static int late_once_child(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_sleep(WEFT_SEC(100));
    weft_uncancel();
    kill(getpid(), SIGINT);
    weft_sleep(WEFT_MSEC(5));
    return 0;
}

static int leaves_one_main(void *arg, void **result)
{
    (void)arg, (void)result;
    if (weft_spawn(NULL, late_once_child, NULL, NULL) < 0)
        return -ENOMEM;
    weft_yield();
    return 0;
}

static void test_first_sigint_after_main_returned_does_not_kill(void **state)
{
    (void)state;
    int st = in_child(leaves_one_main, 0);
    assert_false(WIFSIGNALED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The deadlock check cancels main (reason WEFT_CANCEL_DEADLOCK, kept: the
 * first reason stays); a SIGINT as main unwinds does not kill. */
static int deadlock_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_event_t *ev;
    if (weft_event_create(&ev) < 0)
        return -ENOMEM;
    int rc = weft_event_wait(ev); /* nobody sets it: a deadlock */
    weft_event_destroy(ev);
    if (rc != -ECANCELED)
        return -EPROTO;
    kill(getpid(), SIGINT);
    if (weft_task_cancel_reason(weft_current(), NULL) != WEFT_CANCEL_DEADLOCK)
        return -EBADMSG;
    return 0;
}

static void test_first_sigint_after_the_deadlock_check_does_not_kill(void **state)
{
    (void)state;
    int st = in_child(deadlock_main, 0);
    assert_false(WIFSIGNALED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- SIGTERM and weft_run; weft_signal_wait_stop ---- */

static int sigterm_main(void *arg, void **result)
{
    (void)arg, (void)result;
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    int rc = weft_sleep(WEFT_SEC(100));
    assert_int_equal(rc, -ECANCELED);
    return rc;
}

static void test_sigterm_cancels_main_as_sigint_does_and_mask_is_restored(void **state)
{
    (void)state;
    assert_int_equal(weft_run(sigterm_main, NULL, NULL), -ECANCELED);
    sigset_t cur;
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &cur), 0);
    assert_int_equal(sigismember(&cur, SIGTERM), 0);
}

/* Ignores the first cancellation, then sends itself a second SIGTERM. */
static int stubborn_term_main(void *arg, void **result)
{
    (void)arg, (void)result;
    kill(getpid(), SIGTERM);
    weft_sleep(WEFT_SEC(100));
    weft_uncancel();
    kill(getpid(), SIGTERM);
    for (int i = 0; i < 100; i++)
        weft_sleep(WEFT_SEC(1));
    return 0; /* not reached: the second SIGTERM kills the process */
}

static void test_second_sigterm_while_main_ignores_the_first_kills_the_process(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_run(stubborn_term_main, NULL, NULL);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
}

/* The child: says "ready" on fd (an int in arg), waits for a stop
 * signal, checks that main was not cancelled, and gives the signal's
 * number as its result (the child exits with it). */
static int stop_child_main(void *arg, void **result)
{
    int fd = (int)(intptr_t)arg;
    int signo = 0;
    if (write(fd, "r", 1) != 1)
        return -EIO;
    int rc = weft_signal_wait_stop(&signo);
    if (rc < 0)
        return rc;
    if (weft_sleep(WEFT_MSEC(1)) != 0) /* main goes on: the wait took it */
        return -EPROTO;
    *result = (void *)(intptr_t)signo;
    return 0;
}

/* Runs stop_child_main in a child process, sends it sig once it is about
 * to wait, and returns its wait status. */
static int stop_child(int sig)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        void *signo = NULL;
        int rc = weft_run(stop_child_main, (void *)(intptr_t)p[1], &signo);
        _exit(rc == 0 ? (int)(intptr_t)signo : 100);
    }
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    assert_int_equal(kill(pid, sig), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_signal_wait_stop_returns_sigterm_in_a_child_process(void **state)
{
    (void)state;
    int st = stop_child(SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), SIGTERM);
}

static void test_signal_wait_stop_returns_sigint_in_a_child_process(void **state)
{
    (void)state;
    int st = stop_child(SIGINT);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), SIGINT);
}

/* A stop signal already queued when the wait starts (the loop has not
 * read it yet) goes to the wait, not to main's default. */
static int stop_queued_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int signo = 0;
    assert_int_equal(kill(getpid(), SIGTERM), 0); /* no turn of the loop since */
    assert_int_equal(weft_signal_wait_stop(&signo), 0);
    assert_int_equal(signo, SIGTERM);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0); /* main was not cancelled */
    return 0;
}

static void test_signal_wait_stop_takes_a_signal_queued_before_it_waits(void **state)
{
    (void)state;
    run(stop_queued_main, NULL);
}

static void test_signal_wait_stop_outside_a_task_is_enotask(void **state)
{
    (void)state;
    assert_int_equal(weft_signal_wait_stop(NULL), -WEFT_ENOTASK);
}

/* ---- every core: a watch from a task on another worker ---- */

/* Only worker 0's thread (weft_run's) leaves signals unblocked, so a
 * signal a task of worker 1 waits for must be blocked there too, or the
 * kernel hands it to that thread and its default action kills the
 * process; and one arrival is one waiter's, not worker 0's default. */
static int other_worker_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_opts_t on1 = {.place = WEFT_PLACE_WORKER, .worker = 1};
    waiter_t w = {.sigs = {SIGUSR2}, .n = 1};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, wait_sig, &w, &on1), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(w.signo, SIGUSR2);
    weft_task_release(t);
    /* SIGINT: worker 0 has weft_run's default armed; the waiter on
     * worker 1 takes it, and main is not cancelled */
    waiter_t i = {.sigs = {SIGINT}, .n = 1};
    assert_int_equal(weft_spawn(&t, wait_sig, &i, &on1), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(kill(getpid(), SIGINT), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(i.signo, SIGINT);
    weft_task_release(t);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0); /* not cancelled */
    assert_false(weft_task_cancelled(weft_current()));
    return 0;
}

static void test_signal_wait_on_another_worker_takes_the_signal(void **state)
{
    (void)state;
    run_workers(2, other_worker_main, NULL);
}

static atomic_int handled_on = -1;

static void on_usr1_where(void *arg)
{
    (void)arg;
    atomic_store(&handled_on, weft_worker_index());
}

static int set_handler_here(void *arg, void **result)
{
    (void)result;
    return weft_signal_handle(SIGUSR1, arg ? on_usr1_where : NULL, NULL);
}

static int other_handler_main(void *arg, void **result)
{
    (void)arg, (void)result;
    atomic_store(&handled_on, -1);
    weft_task_opts_t on1 = {.place = WEFT_PLACE_WORKER, .worker = 1};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, set_handler_here, P(1), &on1), 0);
    await_release(t);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    int64_t end = weft_now() + WEFT_SEC(30);
    while (atomic_load(&handled_on) < 0) {
        assert_true(weft_now() < end);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    }
    assert_int_equal(atomic_load(&handled_on), 1); /* it ran where it was set */
    assert_int_equal(weft_spawn(&t, set_handler_here, NULL, &on1), 0);
    await_release(t);
    return 0;
}

static void test_signal_handler_set_on_another_worker_runs_there(void **state)
{
    (void)state;
    run_workers(2, other_handler_main, NULL);
}

/* ---- arguments ---- */

static int args_main(void *arg, void **result)
{
    (void)arg, (void)result;
    const int usr1 = SIGUSR1, kill9 = SIGKILL, with_stop[] = {SIGUSR1, SIGSTOP};
    const int out_of_range[] = {0, 65, -1};
    assert_int_equal(weft_signal_wait(NULL, 1, NULL), -EINVAL);
    assert_int_equal(weft_signal_wait(&usr1, 0, NULL), -EINVAL);
    assert_int_equal(weft_signal_wait(&kill9, 1, NULL), -EINVAL);
    assert_int_equal(weft_signal_wait(with_stop, 2, NULL), -EINVAL);
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++)
        assert_int_equal(weft_signal_wait(&out_of_range[i], 1, NULL), -EINVAL);
    assert_int_equal(weft_signal_handle(SIGKILL, on_usr2, NULL), -EINVAL);
    assert_int_equal(weft_signal_handle(SIGSTOP, on_usr2, NULL), -EINVAL);
    assert_int_equal(weft_signal_handle(0, on_usr2, NULL), -EINVAL);
    assert_int_equal(weft_signal_handle(65, on_usr2, NULL), -EINVAL);
    return 0;
}

static void test_signal_wait_outside_a_task_is_enotask_and_handle_enoloop(void **state)
{
    (void)state;
    const int s = SIGUSR1;
    assert_int_equal(weft_signal_wait(&s, 1, NULL), -WEFT_ENOTASK);
    assert_int_equal(weft_signal_handle(SIGUSR1, on_usr2, NULL), -WEFT_ENOLOOP);
}

static void test_signal_wait_and_handle_refuse_empty_sets_and_uncatchable_signals(void **state)
{
    (void)state;
    run(args_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_wait_takes_one_of_a_set_and_pending_signals_are_kept),
        cmocka_unit_test(test_overlapping_waiters_are_served_in_turn),
        cmocka_unit_test(test_signal_wait_ends_on_cancel_or_deadline),
        cmocka_unit_test(test_signal_handlers_run_as_loop_callbacks),
        cmocka_unit_test(test_sigint_cancels_main_and_mask_is_restored),
        cmocka_unit_test(test_a_task_waiting_for_sigint_takes_it),
        cmocka_unit_test(test_second_sigint_while_main_ignores_the_first_kills_the_process),
        cmocka_unit_test(test_sigint_cancels_main_with_reason_signal),
        cmocka_unit_test(test_first_sigint_while_main_unwinds_does_not_kill),
        cmocka_unit_test(test_second_sigint_after_main_returned_still_kills),
        cmocka_unit_test(test_first_sigint_after_main_returned_does_not_kill),
        cmocka_unit_test(test_first_sigint_after_the_deadlock_check_does_not_kill),
        cmocka_unit_test(test_sigterm_cancels_main_as_sigint_does_and_mask_is_restored),
        cmocka_unit_test(test_second_sigterm_while_main_ignores_the_first_kills_the_process),
        cmocka_unit_test(test_signal_wait_stop_returns_sigterm_in_a_child_process),
        cmocka_unit_test(test_signal_wait_stop_returns_sigint_in_a_child_process),
        cmocka_unit_test(test_signal_wait_stop_takes_a_signal_queued_before_it_waits),
        cmocka_unit_test(test_signal_wait_stop_outside_a_task_is_enotask),
        cmocka_unit_test(test_signal_wait_on_another_worker_takes_the_signal),
        cmocka_unit_test(test_signal_handler_set_on_another_worker_runs_there),
        cmocka_unit_test(test_signal_wait_outside_a_task_is_enotask_and_handle_enoloop),
        cmocka_unit_test(test_signal_wait_and_handle_refuse_empty_sets_and_uncatchable_signals),
    };
    return run_suite(tests, NULL, NULL);
}
