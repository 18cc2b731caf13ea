/* test_fdwait.c - waiting on fds weft does not own (weft_fd_wait,
 * weft_fd_forget): readable and writable on a pipe, both directions on a
 * socketpair (one task for both, or a reader and a writer), the timeout
 * argument (a look with 0, a wait with > 0) and deadline scopes, a
 * cancelled wait, -EBUSY for a second reader, the owner forgetting and
 * closing the fd while a task waits (-EBADF), the fd number reused after
 * a close with and without weft_fd_forget, level-triggered reporting (data
 * left unread is reported again), a stale one-shot interest firing with
 * nobody waiting while a writer waits on the same fd, many tasks on many
 * fds, weft's own stream fds refused, bad arguments, and the loop's watch
 * count back at zero after every kind of ending. Prints the cost of one
 * wait in a ping-pong between two tasks (not asserted).
 *
 * Covers: src/fdwait.c, src/backend/epoll.c (foreign-fd dispatch).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "task.h"

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Every waiter left: the loop watches nothing of ours any more. */
static void assert_no_watch(void)
{
    assert_int_equal(weft__loop()->nwatch, 0);
}

typedef struct {
    int fd, events;
    int64_t timeout;
    int rc;
    int64_t woke_at;
} waitarg_t;

static int waiter(void *arg, void **res)
{
    waitarg_t *w = arg;
    w->rc = weft_fd_wait(w->fd, w->events, w->timeout);
    w->woke_at = weft_now();
    return 0;
}

/* ---- readable, writable ---- */

static int readable_main(void *arg, void **res)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    waitarg_t w = {.fd = p[0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, waiter, &w, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(weft_sleep(WEFT_MSEC(5)), 0);
    assert_int_equal(w.rc, 99); /* still waiting: nothing to read */
    assert_int_equal(weft_task_state(t), WEFT_TASK_WAITING);
    int64_t wrote = weft_now();
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(w.rc, WEFT_READABLE);
    assert_true(w.woke_at >= wrote);
    /* the write end is writable at once */
    assert_int_equal(weft_fd_wait(p[1], WEFT_WRITABLE, WEFT_FOREVER), WEFT_WRITABLE);
    /* asking for both on a write end reports only what is ready */
    assert_int_equal(weft_fd_wait(p[1], WEFT_READABLE | WEFT_WRITABLE, WEFT_FOREVER),
                     WEFT_WRITABLE);
    assert_no_watch();
    assert_int_equal(weft_fd_forget(p[0]), 0);
    assert_int_equal(weft_fd_forget(p[1]), 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void test_fd_wait_blocks_until_readable_and_writable_returns_at_once(void **state)
{
    run(readable_main, NULL);
}

/* ---- both directions: one task, or a reader and a writer ---- */

static int both_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    /* one task for both: writable now, nothing to read */
    assert_int_equal(weft_fd_wait(sv[0], WEFT_READABLE | WEFT_WRITABLE, WEFT_FOREVER),
                     WEFT_WRITABLE);
    assert_int_equal(write(sv[1], "ab", 2), 2);
    assert_int_equal(weft_fd_wait(sv[0], WEFT_READABLE | WEFT_WRITABLE, WEFT_FOREVER),
                     WEFT_READABLE | WEFT_WRITABLE);
    /* level-triggered: the data left unread is reported again */
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_fd_wait(sv[0], WEFT_READABLE, WEFT_FOREVER), WEFT_READABLE);
    char buf[8];
    assert_int_equal(read(sv[0], buf, sizeof buf), 2);
    assert_no_watch();
    weft_fd_forget(sv[0]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static void test_fd_wait_for_both_directions_reports_what_is_ready_level_triggered(void **state)
{
    run(both_main, NULL);
}

static int reader_writer_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    char buf[8];
    /* a reader and a writer, two tasks, on one fd */
    waitarg_t r = {.fd = sv[0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
    waitarg_t w = {.fd = sv[0], .events = WEFT_WRITABLE, .timeout = WEFT_FOREVER, .rc = 99};
    weft_task_t *tr, *tw;
    assert_int_equal(weft_spawn(&tr, waiter, &r, NULL), 0);
    assert_int_equal(weft_spawn(&tw, waiter, &w, NULL), 0);
    assert_int_equal(weft_await(tw, NULL), 0);
    assert_int_equal(w.rc, WEFT_WRITABLE);
    assert_int_equal(r.rc, 99); /* the reader still waits, re-armed */
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    assert_int_equal(r.rc, 99);
    assert_int_equal(write(sv[1], "c", 1), 1);
    assert_int_equal(weft_await(tr, NULL), 0);
    assert_int_equal(r.rc, WEFT_READABLE);
    weft_task_release(tr);
    weft_task_release(tw);
    assert_int_equal(read(sv[0], buf, sizeof buf), 1);
    assert_no_watch();
    weft_fd_forget(sv[0]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static void test_fd_reader_and_writer_tasks_wait_on_one_fd_apart(void **state)
{
    run(reader_writer_main, NULL);
}

static int hang_up_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    char buf[8];
    /* the peer hangs up: reported as ready both ways */
    close(sv[1]);
    int rc = weft_fd_wait(sv[0], WEFT_READABLE, WEFT_FOREVER);
    assert_int_equal(rc, WEFT_READABLE);
    assert_int_equal(read(sv[0], buf, sizeof buf), 0);
    assert_no_watch();
    weft_fd_forget(sv[0]);
    close(sv[0]);
    return 0;
}

static void test_fd_peer_hang_up_is_reported_readable(void **state)
{
    run(hang_up_main, NULL);
}

/* ---- timeouts and deadlines ---- */

static int timeout_main(void *arg, void **res)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    /* 0: a look, never a wait */
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, 0), -ETIMEDOUT);
    assert_int_equal(weft_fd_wait(p[1], WEFT_WRITABLE, 0), WEFT_WRITABLE);
    int64_t t0 = weft_now();
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_MSEC(5)), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(5));
    assert_no_watch();
    /* a deadline scope, with no timeout of the call's own */
    weft_deadline_t d;
    t0 = weft_now(); /* before the push: the deadline counts from there */
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(5)), 0);
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_FOREVER), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(5));
    /* the deadline has passed: no wait at all, also for a look */
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_SEC(10)), -ETIMEDOUT);
    assert_int_equal(weft_fd_wait(p[1], WEFT_WRITABLE, 0), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    /* the scope is shorter than the call's own timeout */
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(3)), 0);
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_SEC(10)), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    /* data there: a look says so */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, 0), WEFT_READABLE);
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_MSEC(100)), WEFT_READABLE);
    assert_no_watch();
    weft_fd_forget(p[0]);
    weft_fd_forget(p[1]);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void test_fd_wait_timeout_0_looks_and_deadline_scopes_bound_the_wait(void **state)
{
    run(timeout_main, NULL);
}

/* Writes one byte to *arg after 50 ms. */
static int writes_late(void *arg, void **res)
{
    if (weft_sleep(WEFT_MSEC(50)) < 0)
        return -ECANCELED;
    return write(*(int *)arg, "x", 1) == 1 ? 0 : -EIO;
}

static int negative_timeout_main(void *arg, void **res)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, writes_late, &p[1], NULL), 0);
    int64_t t0 = weft_now();
    /* expired, exactly as 0: a look, never a wait */
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, -1), -ETIMEDOUT);
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, INT64_MIN), -ETIMEDOUT);
    assert_int_equal(weft_fd_wait(p[1], WEFT_WRITABLE, -WEFT_SEC(1)), WEFT_WRITABLE);
    assert_true(weft_now() - t0 < WEFT_MSEC(50));
    assert_no_watch();
    /* WEFT_FOREVER waits for the byte */
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_FOREVER), WEFT_READABLE);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(weft_task_release(t), 0);
    weft_fd_forget(p[0]);
    weft_fd_forget(p[1]);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void test_fd_wait_negative_timeout_has_expired_and_only_looks(void **state)
{
    run(negative_timeout_main, NULL);
}

/* ---- cancellation, -EBUSY ---- */

static int cancel_main(void *arg, void **res)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    waitarg_t w = {.fd = p[0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
    weft_task_t *t;
    /* on this worker: each worker watches an fd for its own tasks, and
     * tells a second reader only from among them */
    assert_int_equal(weft_spawn(&t, waiter, &w, HERE), 0);
    wait_state(t, WEFT_TASK_WAITING);
    /* a second reader is refused while the first waits; a writer is not */
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_FOREVER), -EBUSY);
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE | WEFT_WRITABLE, WEFT_FOREVER), -EBUSY);
    assert_int_equal(weft_cancel(t), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(w.rc, -ECANCELED);
    assert_no_watch();
    /* the reader's place is free again; the stale interest left armed
     * does not confuse the next waiter */
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_MSEC(2)), -ETIMEDOUT);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(weft_fd_wait(p[0], WEFT_READABLE, WEFT_FOREVER), WEFT_READABLE);
    /* a task cancelled before it waits does not wait */
    w.rc = 99;
    assert_int_equal(weft_spawn(&t, waiter, &w, HERE), 0); /* not started elsewhere meanwhile */
    weft_cancel(t);
    assert_int_equal(weft_await(t, NULL), -ECANCELED); /* never ran */
    weft_task_release(t);
    assert_no_watch();
    weft_fd_forget(p[0]);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void test_fd_second_reader_is_ebusy_and_a_cancelled_wait_frees_the_place(void **state)
{
    run(cancel_main, NULL);
}

/* ---- the owner forgets and closes the fd; the number is reused ---- */

static int forget_main(void *arg, void **res)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    waitarg_t r = {.fd = p[0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
    waitarg_t w = {.fd = p[1], .events = WEFT_WRITABLE, .timeout = WEFT_FOREVER, .rc = 99};
    weft_task_t *tr;
    assert_int_equal(weft_spawn(&tr, waiter, &r, NULL), 0);
    wait_state(tr, WEFT_TASK_WAITING);
    assert_int_equal(weft_fd_forget(p[0]), 0);
    close(p[0]);
    assert_int_equal(weft_await(tr, NULL), 0);
    weft_task_release(tr);
    assert_int_equal(r.rc, -EBADF);
    assert_no_watch();
    /* the write end's reader is gone: writes fail, waits report it */
    assert_int_equal(weft_fd_wait(p[1], WEFT_WRITABLE, WEFT_FOREVER), WEFT_WRITABLE);
    (void)w;

    /* the same number, a new pipe: waits work on the new file */
    int q[2];
    assert_int_equal(pipe(q), 0);
    assert_int_equal(q[0], p[0]);
    r = (waitarg_t){.fd = q[0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
    assert_int_equal(weft_spawn(&tr, waiter, &r, NULL), 0);
    wait_state(tr, WEFT_TASK_WAITING);
    assert_int_equal(r.rc, 99);
    assert_int_equal(write(q[1], "y", 1), 1);
    assert_int_equal(weft_await(tr, NULL), 0);
    weft_task_release(tr);
    assert_int_equal(r.rc, WEFT_READABLE);

    /* closed without weft_fd_forget (a careless owner), the number
     * reused at once: the next wait still works on the new file */
    close(q[0]);
    close(q[1]);
    int s[2];
    assert_int_equal(pipe(s), 0);
    assert_int_equal(s[0], q[0]);
    assert_int_equal(weft_fd_wait(s[0], WEFT_READABLE, WEFT_MSEC(2)), -ETIMEDOUT);
    assert_int_equal(write(s[1], "z", 1), 1);
    assert_int_equal(weft_fd_wait(s[0], WEFT_READABLE, WEFT_FOREVER), WEFT_READABLE);
    /* forgetting an fd nobody waited on is fine */
    assert_int_equal(weft_fd_forget(s[1]), 0);
    assert_int_equal(weft_fd_forget(1000), 0);
    weft_fd_forget(s[0]);
    weft_fd_forget(p[1]);
    close(s[0]);
    close(s[1]);
    close(p[1]);
    assert_no_watch();
    return 0;
}

static void test_fd_forgotten_under_a_waiter_is_ebadf_and_a_reused_number_works(void **state)
{
    run(forget_main, NULL);
}

/* A reader forgotten while a writer of another task waits on the same
 * fd: both wake with -EBADF. */
static int forget_both_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    nonblock(sv[0]);
    /* fill sv[0]'s send buffer so it is not writable */
    char blk[4096];
    memset(blk, 'x', sizeof blk);
    while (write(sv[0], blk, sizeof blk) > 0)
        ;
    waitarg_t r = {.fd = sv[0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
    waitarg_t w = {.fd = sv[0], .events = WEFT_WRITABLE, .timeout = WEFT_FOREVER, .rc = 99};
    weft_task_t *tr, *tw;
    assert_int_equal(weft_spawn(&tr, waiter, &r, NULL), 0);
    assert_int_equal(weft_spawn(&tw, waiter, &w, NULL), 0);
    wait_state(tr, WEFT_TASK_WAITING);
    wait_state(tw, WEFT_TASK_WAITING);
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    assert_int_equal(r.rc, 99);
    assert_int_equal(w.rc, 99);
    weft_fd_forget(sv[0]);
    assert_int_equal(weft_await(tr, NULL), 0);
    assert_int_equal(weft_await(tw, NULL), 0);
    assert_int_equal(r.rc, -EBADF);
    assert_int_equal(w.rc, -EBADF);
    weft_task_release(tr);
    weft_task_release(tw);
    assert_no_watch();
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static void test_fd_forget_wakes_both_reader_and_writer_with_ebadf(void **state)
{
    run(forget_both_main, NULL);
}

/* ---- a stale one-shot interest fires while a writer waits ---- */

static int stale_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    nonblock(sv[0]);
    nonblock(sv[1]);
    /* the reader gives up: its interest stays armed in the kernel */
    assert_int_equal(weft_fd_wait(sv[0], WEFT_READABLE, WEFT_MSEC(1)), -ETIMEDOUT);
    /* sv[0] not writable: its send buffer is full */
    char blk[4096];
    memset(blk, 'x', sizeof blk);
    while (write(sv[0], blk, sizeof blk) > 0)
        ;
    waitarg_t w = {.fd = sv[0], .events = WEFT_WRITABLE, .timeout = WEFT_FOREVER, .rc = 99};
    weft_task_t *tw;
    assert_int_equal(weft_spawn(&tw, waiter, &w, NULL), 0);
    wait_state(tw, WEFT_TASK_WAITING);
    /* data arrives: the stale readable interest fires with no reader */
    assert_int_equal(write(sv[1], "r", 1), 1);
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    assert_int_equal(w.rc, 99); /* the writer was re-armed, still waits */
    /* the peer drains: sv[0] becomes writable, the writer wakes */
    char buf[65536];
    while (read(sv[1], buf, sizeof buf) > 0)
        ;
    assert_int_equal(weft_await(tw, NULL), 0);
    weft_task_release(tw);
    assert_int_equal(w.rc, WEFT_WRITABLE);
    assert_no_watch();
    weft_fd_forget(sv[0]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static void test_fd_stale_read_interest_firing_leaves_the_writer_waiting(void **state)
{
    run(stale_main, NULL);
}

/* ---- many tasks on many fds ---- */

enum { MANY = 100 };

static int many_main(void *arg, void **res)
{
    int p[MANY][2];
    waitarg_t w[MANY];
    weft_task_t *t[MANY];
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(pipe(p[i]), 0);
        w[i] =
            (waitarg_t){.fd = p[i][0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
        assert_int_equal(weft_spawn(&t[i], waiter, &w[i], HERE), 0);
    }
    for (int i = 0; i < MANY; i++)
        wait_state(t[i], WEFT_TASK_WAITING);
    assert_int_equal(weft__loop()->nwatch, MANY);
    /* wake them in a scrambled order, a few at a time */
    for (int k = 0; k < MANY; k++) {
        int i = (k * 37) % MANY;
        assert_int_equal(w[i].rc, 99);
        assert_int_equal(write(p[i][1], "x", 1), 1);
        if (k % 10 == 9) {
            assert_int_equal(weft_await(t[i], NULL), 0);
            assert_int_equal(w[i].rc, WEFT_READABLE);
        }
    }
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        assert_int_equal(w[i].rc, WEFT_READABLE);
        weft_task_release(t[i]);
        weft_fd_forget(p[i][0]);
        close(p[i][0]);
        close(p[i][1]);
    }
    assert_no_watch();
    return 0;
}

static void test_fd_many_waiters_on_many_fds_wake_in_any_order(void **state)
{
    run(many_main, NULL);
}

/* ---- weft's own fds, bad arguments ---- */

static int bad_main(void *arg, void **res)
{
    assert_int_equal(weft_fd_wait(-1, WEFT_READABLE, WEFT_FOREVER), -EINVAL);
    assert_int_equal(weft_fd_wait(0, 0, WEFT_FOREVER), -EINVAL);
    assert_int_equal(weft_fd_wait(0, 4, WEFT_FOREVER), -EINVAL);
    assert_int_equal(weft_fd_wait(0, -1, WEFT_FOREVER), -EINVAL);
    assert_int_equal(weft_fd_forget(-1), -EINVAL);
    /* not open */
    assert_int_equal(weft_fd_wait(900, WEFT_READABLE, WEFT_FOREVER), -EBADF);
    assert_int_equal(weft_fd_wait(900, WEFT_READABLE, 0), -EBADF);
    /* a regular file does not do readiness */
    char path[] = "/tmp/weft_fdwait_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(weft_fd_wait(fd, WEFT_READABLE, WEFT_FOREVER), -EPERM);
    close(fd);
    /* a stream's fd belongs to weft */
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_int_equal(weft_fd_wait(sv[0], WEFT_READABLE, WEFT_FOREVER), -EBUSY);
    weft_stream_abort(s);
    close(sv[1]);
    assert_no_watch();
    return 0;
}

static void test_fd_wait_refuses_bad_arguments_files_and_stream_fds(void **state)
{
    run(bad_main, NULL);
}

static void test_fd_wait_outside_a_task_is_enotask_and_forget_outside_a_loop_enoloop(void **state)
{
    /* outside any loop */
    assert_int_equal(weft_fd_wait(0, WEFT_READABLE, WEFT_FOREVER), -WEFT_ENOTASK);
    assert_int_equal(weft_fd_forget(0), -WEFT_ENOLOOP);
}

static void cb_forget(void *arg)
{
    int *fd = arg;
    *fd = weft_fd_forget(*fd) == 0 ? -2 : -3;
}

/* From a callback: forget works, wait is refused. */
static int callback_main(void *arg, void **res)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    waitarg_t r = {.fd = p[0], .events = WEFT_READABLE, .timeout = WEFT_FOREVER, .rc = 99};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, waiter, &r, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    int fd = p[0];
    assert_int_equal(weft_call_later(NULL, WEFT_MSEC(1), cb_forget, &fd), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(fd, -2);
    assert_int_equal(r.rc, -EBADF);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void test_fd_forget_from_a_callback_wakes_the_waiter_with_ebadf(void **state)
{
    run(callback_main, NULL);
}

/* ---- cost: a ping-pong between two tasks over two pipes ---- */

typedef struct {
    int in, out, rounds;
} pong_t;

static int ponger(void *arg, void **res)
{
    pong_t *p = arg;
    char c;
    for (int i = 0; i < p->rounds; i++) {
        int rc = weft_fd_wait(p->in, WEFT_READABLE, WEFT_FOREVER);
        if (rc != WEFT_READABLE)
            return -EIO;
        if (read(p->in, &c, 1) != 1 || write(p->out, &c, 1) != 1)
            return -EIO;
    }
    return 0;
}

static int pingpong_main(void *arg, void **res)
{
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    int rounds = (int)(20000 * test_scale());
    if (rounds < 100)
        rounds = 100;
    pong_t pp = {.in = a[0], .out = b[1], .rounds = rounds};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, ponger, &pp, NULL), 0);
    int64_t t0 = weft_now();
    char c = 'p';
    for (int i = 0; i < rounds; i++) {
        assert_int_equal(write(a[1], &c, 1), 1);
        assert_int_equal(weft_fd_wait(b[0], WEFT_READABLE, WEFT_FOREVER), WEFT_READABLE);
        assert_int_equal(read(b[0], &c, 1), 1);
    }
    int64_t dt = weft_now() - t0;
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    printf("fdwait: ping-pong %d rounds, %.0f ns per round (two waits, two writes, two reads)\n",
           rounds, (double)dt / rounds);
    int fds[] = {a[0], a[1], b[0], b[1]};
    for (int i = 0; i < 4; i++) {
        weft_fd_forget(fds[i]);
        close(fds[i]);
    }
    return 0;
}

static void test_fd_wait_ping_pong_between_two_tasks_delivers_every_byte(void **state)
{
    run(pingpong_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_wait_blocks_until_readable_and_writable_returns_at_once),
        cmocka_unit_test(test_fd_wait_for_both_directions_reports_what_is_ready_level_triggered),
        cmocka_unit_test(test_fd_reader_and_writer_tasks_wait_on_one_fd_apart),
        cmocka_unit_test(test_fd_peer_hang_up_is_reported_readable),
        cmocka_unit_test(test_fd_wait_timeout_0_looks_and_deadline_scopes_bound_the_wait),
        cmocka_unit_test(test_fd_wait_negative_timeout_has_expired_and_only_looks),
        cmocka_unit_test(test_fd_second_reader_is_ebusy_and_a_cancelled_wait_frees_the_place),
        cmocka_unit_test(test_fd_forgotten_under_a_waiter_is_ebadf_and_a_reused_number_works),
        cmocka_unit_test(test_fd_forget_wakes_both_reader_and_writer_with_ebadf),
        cmocka_unit_test(test_fd_stale_read_interest_firing_leaves_the_writer_waiting),
        cmocka_unit_test(test_fd_many_waiters_on_many_fds_wake_in_any_order),
        cmocka_unit_test(test_fd_wait_refuses_bad_arguments_files_and_stream_fds),
        cmocka_unit_test(test_fd_wait_outside_a_task_is_enotask_and_forget_outside_a_loop_enoloop),
        cmocka_unit_test(test_fd_forget_from_a_callback_wakes_the_waiter_with_ebadf),
        cmocka_unit_test(test_fd_wait_ping_pong_between_two_tasks_delivers_every_byte),
    };
    return run_suite(tests, NULL, NULL);
}
