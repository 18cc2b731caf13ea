/* test_chan.c - channels and select: rendezvous and buffered sends, FIFO
 * order of waiters, close (drain, then -EPIPE), deadlines and
 * cancellation (a completed send or recv stays complete), select (ready
 * cases picked at random, waiting on several channels, timeouts, closed
 * channels, cancellation), and a stress run under random cancellation and
 * deadlines that accounts for every value.
 *
 * Covers: src/chan.c.
 */
#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    weft_chan_t *ch;
    void *v;
    int rc;
    int64_t timeout;
    bool done;
} op_t;

static int sender(void *arg, void **res)
{
    op_t *o = arg;
    weft_deadline_t d;
    if (o->timeout)
        weft_deadline_push(&d, o->timeout);
    o->rc = weft_chan_send(o->ch, o->v);
    if (o->timeout)
        weft_deadline_pop(&d);
    o->done = true;
    return 0;
}

static int receiver(void *arg, void **res)
{
    op_t *o = arg;
    weft_deadline_t d;
    if (o->timeout)
        weft_deadline_push(&d, o->timeout);
    o->rc = weft_chan_recv(o->ch, &o->v);
    if (o->timeout)
        weft_deadline_pop(&d);
    o->done = true;
    return 0;
}

static void test_chan_create_outside_loop_is_enoloop(void **state)
{
    weft_chan_t *ch;
    assert_int_equal(weft_chan_create(&ch, 0), -WEFT_ENOLOOP);
    weft_select_case_t c = {0};
    assert_int_equal(weft_select(&c, 1, 0), -EAGAIN); /* a NULL ch is never ready */
    assert_int_equal(weft_select(NULL, 1, 0), -EINVAL);
}

/* ---- unbuffered ---- */

static int unbuffered_try_main(void *arg, void **res)
{
    weft_chan_t *ch;
    void *v;
    assert_int_equal(weft_chan_create(NULL, 0), -EINVAL);
    assert_int_equal(weft_chan_create(&ch, 0), 0);
    assert_int_equal(weft_chan_cap(ch), 0);
    assert_int_equal(weft_chan_try_send(ch, P(1)), -EAGAIN);
    assert_int_equal(weft_chan_try_recv(ch, &v), -EAGAIN);
    assert_int_equal(weft_chan_destroy(ch), 0);
    return 0;
}

static void test_unbuffered_try_calls_return_eagain_without_a_waiting_peer(void **state)
{
    run(unbuffered_try_main, NULL);
}

static int unbuffered_senders_main(void *arg, void **res)
{
    weft_chan_t *ch;
    void *v;
    assert_int_equal(weft_chan_create(&ch, 0), 0);
    /* senders wait, and are served in order */
    op_t s[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        s[i] = (op_t){.ch = ch, .v = P(10 + i)};
        assert_int_equal(weft_spawn(&t[i], sender, &s[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    settle();
    assert_false(s[0].done);
    assert_int_equal(weft_chan_len(ch), 0);
    assert_int_equal(weft_chan_destroy(ch), -EBUSY);
    assert_int_equal(weft_chan_recv(ch, &v), 0);
    assert_int_equal(I(v), 10);
    assert_int_equal(weft_chan_try_recv(ch, &v), 0);
    assert_int_equal(I(v), 11);
    /* s2's value is taken, then s2 is cancelled before it runs: sent */
    assert_int_equal(weft_chan_recv(ch, &v), 0);
    assert_int_equal(I(v), 12);
    weft_cancel(t[2]);
    for (int i = 0; i < 3; i++) {
        await_release(t[i]);
        assert_int_equal(s[i].rc, 0);
    }
    assert_int_equal(weft_chan_destroy(ch), 0);
    return 0;
}

static void test_unbuffered_senders_wait_in_order_and_a_taken_value_stays_sent(void **state)
{
    run(unbuffered_senders_main, NULL);
}

static int unbuffered_receivers_main(void *arg, void **res)
{
    weft_chan_t *ch;
    weft_task_t *t[3];
    assert_int_equal(weft_chan_create(&ch, 0), 0);
    /* receivers wait, and are served in order */
    op_t r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (op_t){.ch = ch};
        assert_int_equal(weft_spawn(&t[i], receiver, &r[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    settle();
    assert_int_equal(weft_chan_send(ch, P(20)), 0);
    assert_int_equal(weft_chan_try_send(ch, P(21)), 0);
    /* r2 is handed 22, then cancelled before it runs: it still got it */
    assert_int_equal(weft_chan_send(ch, P(22)), 0);
    weft_cancel(t[2]);
    for (int i = 0; i < 3; i++) {
        await_release(t[i]);
        assert_int_equal(r[i].rc, 0);
        assert_int_equal(I(r[i].v), 20 + i);
    }
    assert_int_equal(weft_chan_destroy(ch), 0);
    return 0;
}

static void test_unbuffered_receivers_wait_in_order_and_keep_a_handed_value(void **state)
{
    run(unbuffered_receivers_main, NULL);
}

static int unbuffered_give_up_main(void *arg, void **res)
{
    weft_chan_t *ch;
    void *v;
    op_t s[1], r[1];
    weft_task_t *t[1];
    assert_int_equal(weft_chan_create(&ch, 0), 0);
    /* a waiting sender cancelled: its value is never delivered */
    s[0] = (op_t){.ch = ch, .v = P(30)};
    assert_int_equal(weft_spawn(&t[0], sender, &s[0], NULL), 0);
    settle();
    weft_cancel(t[0]);
    await_release(t[0]);
    assert_int_equal(s[0].rc, -ECANCELED);
    assert_int_equal(weft_chan_try_recv(ch, &v), -EAGAIN);
    /* deadlines */
    s[0] = (op_t){.ch = ch, .v = P(31), .timeout = WEFT_MSEC(2)};
    r[0] = (op_t){.ch = ch, .timeout = WEFT_MSEC(2)};
    assert_int_equal(weft_spawn(&t[0], sender, &s[0], NULL), 0);
    await_release(t[0]);
    assert_int_equal(s[0].rc, -ETIMEDOUT);
    assert_int_equal(weft_spawn(&t[0], receiver, &r[0], NULL), 0);
    await_release(t[0]);
    assert_int_equal(r[0].rc, -ETIMEDOUT);
    weft_deadline_t d;
    weft_deadline_push(&d, 0);
    assert_int_equal(weft_chan_recv(ch, &v), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_int_equal(weft_chan_destroy(ch), 0);
    return 0;
}

static void test_unbuffered_cancelled_or_timed_out_send_and_recv_deliver_nothing(void **state)
{
    run(unbuffered_give_up_main, NULL);
}

/* ---- buffered ---- */

static int buffered_main(void *arg, void **res)
{
    weft_chan_t *ch;
    void *v;
    assert_int_equal(weft_chan_create(&ch, 2), 0);
    assert_int_equal(weft_chan_cap(ch), 2);
    assert_int_equal(weft_chan_send(ch, P(1)), 0);
    assert_int_equal(weft_chan_try_send(ch, P(2)), 0);
    assert_int_equal(weft_chan_try_send(ch, P(3)), -EAGAIN);
    assert_int_equal(weft_chan_len(ch), 2);
    op_t s[2] = {{.ch = ch, .v = P(3)}, {.ch = ch, .v = P(4)}};
    weft_task_t *t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_spawn(&t[i], sender, &s[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    settle();
    assert_false(s[0].done);
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(weft_chan_recv(ch, &v), 0);
        assert_int_equal(I(v), i);
    }
    for (int i = 0; i < 2; i++) {
        await_release(t[i]);
        assert_int_equal(s[i].rc, 0);
    }
    assert_int_equal(weft_chan_len(ch), 0);
    /* wrap-around */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(weft_chan_send(ch, P(i)), 0);
        assert_int_equal(weft_chan_recv(ch, &v), 0);
        assert_int_equal(I(v), i);
    }
    assert_int_equal(weft_chan_destroy(ch), 0);
    return 0;
}

static void test_buffered_chan_holds_cap_values_then_senders_wait_in_order(void **state)
{
    run(buffered_main, NULL);
}

/* ---- close ---- */

static int close_main(void *arg, void **res)
{
    weft_chan_t *ch;
    void *v;
    assert_int_equal(weft_chan_create(&ch, 3), 0);
    assert_int_equal(weft_chan_send(ch, P(1)), 0);
    assert_int_equal(weft_chan_send(ch, P(2)), 0);
    assert_int_equal(weft_chan_close(ch), 0);
    assert_int_equal(weft_chan_close(ch), -EALREADY);
    assert_int_equal(weft_chan_send(ch, P(3)), -EPIPE);
    assert_int_equal(weft_chan_try_send(ch, P(3)), -EPIPE);
    assert_int_equal(weft_chan_recv(ch, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(weft_chan_try_recv(ch, &v), 0);
    assert_int_equal(I(v), 2);
    assert_int_equal(weft_chan_recv(ch, &v), -EPIPE);
    assert_int_equal(weft_chan_try_recv(ch, &v), -EPIPE);
    assert_int_equal(weft_chan_destroy(ch), 0);
    return 0;
}

static void test_closed_chan_refuses_sends_and_drains_before_epipe(void **state)
{
    run(close_main, NULL);
}

static int close_wakes_main(void *arg, void **res)
{
    void *v;
    /* waiting receivers and senders are woken with -EPIPE */
    weft_chan_t *a, *b;
    assert_int_equal(weft_chan_create(&a, 0), 0);
    assert_int_equal(weft_chan_create(&b, 0), 0);
    op_t r = {.ch = a}, s = {.ch = b, .v = P(5)};
    weft_task_t *tr, *ts;
    assert_int_equal(weft_spawn(&tr, receiver, &r, NULL), 0);
    assert_int_equal(weft_spawn(&ts, sender, &s, NULL), 0);
    settle();
    assert_int_equal(weft_chan_close(a), 0);
    assert_int_equal(weft_chan_close(b), 0);
    await_release(tr);
    await_release(ts);
    assert_int_equal(r.rc, -EPIPE);
    assert_int_equal(s.rc, -EPIPE);
    assert_int_equal(weft_chan_try_recv(b, &v), -EPIPE);
    assert_int_equal(weft_chan_destroy(a), 0);
    assert_int_equal(weft_chan_destroy(b), 0);
    return 0;
}

static void test_close_wakes_waiting_senders_and_receivers_with_epipe(void **state)
{
    run(close_wakes_main, NULL);
}

/* ---- select ---- */

typedef struct {
    weft_select_case_t c[3];
    size_t n;
    int64_t timeout;
    int64_t scope;
    int rc;
    bool done;
} selop_t;

static int selector(void *arg, void **res)
{
    selop_t *o = arg;
    weft_deadline_t d;
    if (o->scope)
        weft_deadline_push(&d, o->scope);
    o->rc = weft_select(o->c, o->n, o->timeout);
    if (o->scope)
        weft_deadline_pop(&d);
    o->done = true;
    return 0;
}

/* Two buffered channels (a, b) and an unbuffered one (u), made and
 * destroyed around each select test. */
static void select_chans(weft_chan_t **a, weft_chan_t **b, weft_chan_t **u)
{
    assert_int_equal(weft_chan_create(a, 4), 0);
    assert_int_equal(weft_chan_create(b, 4), 0);
    assert_int_equal(weft_chan_create(u, 0), 0);
}

static void select_chans_destroy(weft_chan_t *a, weft_chan_t *b, weft_chan_t *u)
{
    assert_int_equal(weft_chan_destroy(a), 0);
    assert_int_equal(weft_chan_destroy(b), 0);
    assert_int_equal(weft_chan_destroy(u), 0);
}

static int select_ready_main(void *arg, void **res)
{
    weft_chan_t *a, *b, *u;
    void *v;
    select_chans(&a, &b, &u);

    weft_select_case_t c[3];
    c[0] = (weft_select_case_t){.ch = a, .op = WEFT_SELECT_RECV};
    c[1] = (weft_select_case_t){.ch = b, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_select(c, 2, 0), -EAGAIN);
    assert_int_equal(weft_select(c, 0, 0), -EINVAL);
    c[2] = (weft_select_case_t){.ch = a, .op = 5};
    assert_int_equal(weft_select(c, 3, 0), -EINVAL);
    int64_t t0 = weft_now();
    assert_int_equal(weft_select(c, 2, WEFT_MSEC(3)), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(3));

    /* one ready */
    assert_int_equal(weft_chan_send(b, P(7)), 0);
    assert_int_equal(weft_select(c, 2, WEFT_FOREVER), 1);
    assert_int_equal(c[1].status, 0);
    assert_int_equal(I(c[1].value), 7);

    /* both ready: each is picked sometimes */
    int hits[2] = {0, 0};
    for (int i = 0; i < 200; i++) {
        assert_int_equal(weft_chan_send(a, P(1)), 0);
        assert_int_equal(weft_chan_send(b, P(2)), 0);
        int k = weft_select(c, 2, 0);
        assert_true(k == 0 || k == 1);
        assert_int_equal(I(c[k].value), k + 1);
        hits[k]++;
        assert_int_equal(weft_chan_recv(k ? a : b, &v), 0);
    }
    assert_true(hits[0] > 20 && hits[1] > 20);

    /* a send case: ready while the buffer has room */
    c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_SEND, .value = P(9)};
    c[1] = (weft_select_case_t){.ch = a, .op = WEFT_SELECT_SEND, .value = P(8)};
    assert_int_equal(weft_select(c, 2, 0), 1);
    assert_int_equal(weft_chan_recv(a, &v), 0);
    assert_int_equal(I(v), 8);
    select_chans_destroy(a, b, u);
    return 0;
}

static void test_select_picks_a_ready_case_at_random_or_times_out(void **state)
{
    run(select_ready_main, NULL);
}

static int select_waiting_main(void *arg, void **res)
{
    weft_chan_t *a, *b, *u;
    void *v;
    select_chans(&a, &b, &u);
    /* waiting on several: a send on one completes it; its other records
     * are gone from the other channels */
    selop_t s = {.n = 3, .timeout = WEFT_FOREVER};
    s.c[0] = (weft_select_case_t){.ch = a, .op = WEFT_SELECT_RECV};
    s.c[1] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_RECV};
    s.c[2] = (weft_select_case_t){.ch = NULL, .op = WEFT_SELECT_RECV};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, selector, &s, HERE), 0);
    settle();
    assert_false(s.done);
    assert_int_equal(weft_chan_destroy(u), -EBUSY);
    assert_int_equal(weft_chan_send(u, P(42)), 0); /* rendezvous with the select */
    assert_int_equal(weft_chan_send(a, P(43)), 0); /* buffered: not the select's */
    await_release(t);
    assert_int_equal(s.rc, 1);
    assert_int_equal(s.c[1].status, 0);
    assert_int_equal(I(s.c[1].value), 42);
    assert_int_equal(weft_chan_len(a), 1);
    assert_int_equal(weft_chan_recv(a, &v), 0);
    assert_int_equal(weft_chan_try_send(u, P(1)), -EAGAIN); /* no receiver left */

    /* a waiting send case completes when a receiver comes */
    s = (selop_t){.n = 2, .timeout = WEFT_FOREVER};
    s.c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_SEND, .value = P(50)};
    s.c[1] = (weft_select_case_t){.ch = b, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_spawn(&t, selector, &s, HERE), 0);
    settle();
    assert_int_equal(weft_chan_recv(u, &v), 0);
    assert_int_equal(I(v), 50);
    await_release(t);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.c[0].status, 0);
    select_chans_destroy(a, b, u);
    return 0;
}

/* Sends arg's value on its channel after `ms` milliseconds. */
typedef struct {
    weft_chan_t *ch;
    int64_t ms;
} late_t;

static int sends_late(void *arg, void **res)
{
    late_t *l = arg;
    if (weft_sleep(WEFT_MSEC(l->ms)) < 0)
        return -ECANCELED;
    return weft_chan_send(l->ch, P(9));
}

static int select_negative_main(void *arg, void **res)
{
    weft_chan_t *a, *b, *u;
    select_chans(&a, &b, &u);
    weft_select_case_t c[1] = {{.ch = u, .op = WEFT_SELECT_RECV}};
    /* a sender 50 ms away: a select that waited would take its value */
    late_t l = {.ch = u, .ms = 50};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, sends_late, &l, NULL), 0);
    int64_t t0 = weft_now();
    /* a negative timeout has expired, exactly as 0: no wait, -EAGAIN */
    assert_int_equal(weft_select(c, 1, -1), -EAGAIN);
    assert_int_equal(weft_select(c, 1, -WEFT_SEC(1)), -EAGAIN);
    assert_int_equal(weft_select(c, 1, INT64_MIN), -EAGAIN);
    assert_true(weft_now() - t0 < WEFT_MSEC(50));
    /* WEFT_FOREVER waits for it */
    assert_int_equal(weft_select(c, 1, WEFT_FOREVER), 0);
    assert_int_equal(I(c[0].value), 9);
    assert_int_equal(weft_await(t, NULL), 0);
    assert_int_equal(weft_task_release(t), 0);
    select_chans_destroy(a, b, u);
    return 0;
}

static void test_select_negative_timeout_has_expired_and_does_not_wait(void **state)
{
    run(select_negative_main, NULL);
}

/* From a callback (no task): an expired timeout is a look, allowed there */
static void select_from_callback(void *arg)
{
    weft_select_case_t *c = arg;
    c->status = weft_select(c, 1, -5);
}

static int select_negative_callback_main(void *arg, void **res)
{
    weft_chan_t *a;
    assert_int_equal(weft_chan_create(&a, 1), 0);
    weft_select_case_t c = {.ch = a, .op = WEFT_SELECT_RECV, .status = 99};
    assert_int_equal(weft_call_soon(NULL, select_from_callback, &c), 0);
    settle();
    assert_int_equal(c.status, -EAGAIN);
    assert_int_equal(weft_chan_destroy(a), 0);
    return 0;
}

static void test_select_negative_timeout_from_callback_is_a_look(void **state)
{
    run(select_negative_callback_main, NULL);
}

static void test_select_waiting_on_several_completes_on_one_and_leaves_no_record(void **state)
{
    run(select_waiting_main, NULL);
}

static int select_give_up_main(void *arg, void **res)
{
    weft_chan_t *a, *b, *u;
    void *v;
    weft_task_t *t;
    select_chans(&a, &b, &u);
    /* cancelled: -ECANCELED, and no record is left behind */
    selop_t s = {.n = 2, .timeout = WEFT_FOREVER};
    s.c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_SEND, .value = P(60)};
    s.c[1] = (weft_select_case_t){.ch = b, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_spawn(&t, selector, &s, HERE), 0);
    settle();
    weft_cancel(t);
    await_release(t);
    assert_int_equal(s.rc, -ECANCELED);
    assert_int_equal(weft_chan_try_recv(u, &v), -EAGAIN);
    assert_int_equal(weft_chan_try_send(b, P(1)), 0);
    assert_int_equal(weft_chan_recv(b, &v), 0);

    /* completed, then cancelled before it ran: still completed */
    s = (selop_t){.n = 1, .timeout = WEFT_FOREVER};
    s.c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_spawn(&t, selector, &s, HERE), 0);
    settle();
    assert_int_equal(weft_chan_send(u, P(61)), 0);
    weft_cancel(t);
    await_release(t);
    assert_int_equal(s.rc, 0);
    assert_int_equal(I(s.c[0].value), 61);

    /* a deadline scope, and a timeout, while waiting */
    s = (selop_t){.n = 1, .timeout = WEFT_FOREVER, .scope = WEFT_MSEC(2)};
    s.c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_spawn(&t, selector, &s, HERE), 0);
    await_release(t);
    assert_int_equal(s.rc, -ETIMEDOUT);
    s = (selop_t){.n = 1, .timeout = WEFT_MSEC(2)};
    s.c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_SEND, .value = P(1)};
    assert_int_equal(weft_spawn(&t, selector, &s, HERE), 0);
    await_release(t);
    assert_int_equal(s.rc, -ETIMEDOUT);
    assert_int_equal(weft_chan_try_recv(u, &v), -EAGAIN);
    select_chans_destroy(a, b, u);
    return 0;
}

static void test_select_cancelled_or_timed_out_takes_nothing_unless_completed(void **state)
{
    run(select_give_up_main, NULL);
}

static int select_closed_main(void *arg, void **res)
{
    weft_chan_t *a, *b, *u;
    weft_select_case_t c[1];
    weft_task_t *t;
    select_chans(&a, &b, &u);
    /* closed channels: a waiting recv case completes with -EPIPE */
    selop_t s = {.n = 2, .timeout = WEFT_FOREVER};
    s.c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_RECV, .value = P(1)};
    s.c[1] = (weft_select_case_t){.ch = b, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_spawn(&t, selector, &s, HERE), 0);
    settle();
    assert_int_equal(weft_chan_close(u), 0);
    await_release(t);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.c[0].status, -EPIPE);
    assert_null(s.c[0].value);
    /* and a closed channel is ready at once, for send and recv cases */
    c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_SEND, .value = P(1)};
    assert_int_equal(weft_select(c, 1, WEFT_FOREVER), 0);
    assert_int_equal(c[0].status, -EPIPE);
    c[0] = (weft_select_case_t){.ch = u, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_select(c, 1, WEFT_FOREVER), 0);
    assert_int_equal(c[0].status, -EPIPE);
    /* a closed buffered channel drains before it reports -EPIPE */
    assert_int_equal(weft_chan_send(a, P(70)), 0);
    assert_int_equal(weft_chan_close(a), 0);
    c[0] = (weft_select_case_t){.ch = a, .op = WEFT_SELECT_RECV};
    assert_int_equal(weft_select(c, 1, 0), 0);
    assert_int_equal(c[0].status, 0);
    assert_int_equal(I(c[0].value), 70);
    assert_int_equal(weft_select(c, 1, 0), 0);
    assert_int_equal(c[0].status, -EPIPE);
    select_chans_destroy(a, b, u);
    return 0;
}

static void test_select_sees_closed_chans_ready_with_epipe_after_draining(void **state)
{
    run(select_closed_main, NULL);
}

/* ---- stress ---- */

#define NSEND 8
#define NRECV 8

typedef struct stress stress_t;

typedef struct {
    stress_t *s;
    int slot;
} worker_arg_t;

struct stress {
    weft_chan_t *a, *b; /* a unbuffered, b buffered */
    long n;
    long next_id;
    uint8_t *sent, *recvd;
    long nsent, nrecvd, nunsent;
    long cancels, timeouts, selects;
    uint64_t rng;
    bool stop;
    weft_task_t *snd[NSEND], *rcv[NRECV];
    worker_arg_t sarg[NSEND], rarg[NRECV];
    int fail_line;
};

#define STRESS_CHECK(s, cond)                                                                      \
    do {                                                                                           \
        if (!(cond) && !(s)->fail_line)                                                            \
            (s)->fail_line = __LINE__;                                                             \
    } while (0)

static uint64_t rnd(stress_t *s)
{
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

static bool maybe_deadline(stress_t *s, weft_deadline_t *d)
{
    if (rnd(s) % 4)
        return false;
    weft_deadline_push(d, (int64_t)(rnd(s) % 3000));
    return true;
}

static void got(stress_t *s, void *v)
{
    long id = (long)I(v);
    STRESS_CHECK(s, id >= 0 && id < s->n);
    if (id >= 0 && id < s->n) {
        STRESS_CHECK(s, !s->recvd[id]);
        s->recvd[id] = 1;
    }
    s->nrecvd++;
}

static int csender(void *arg, void **res)
{
    stress_t *s = ((worker_arg_t *)arg)->s;
    while (s->next_id < s->n) {
        long id = s->next_id++;
        weft_deadline_t d;
        bool dl = maybe_deadline(s, &d);
        int rc;
        int how = (int)(rnd(s) % 3);
        if (how == 0) {
            rc = weft_chan_send(s->a, P(id));
        } else if (how == 1) {
            rc = weft_chan_send(s->b, P(id));
        } else {
            weft_select_case_t c[2] = {
                {.ch = s->a, .op = WEFT_SELECT_SEND, .value = P(id)},
                {.ch = s->b, .op = WEFT_SELECT_SEND, .value = P(id)},
            };
            rc = weft_select(c, 2, rnd(s) % 2 ? WEFT_FOREVER : 1 + (int64_t)(rnd(s) % 5000));
            if (rc >= 0) {
                STRESS_CHECK(s, c[rc].status == 0);
                rc = 0;
            }
            s->selects++;
        }
        if (dl)
            weft_deadline_pop(&d);
        if (rc == 0) {
            /* a rendezvous: the receiver may have run already, sent
             * is marked here, checked at the end */
            s->sent[id] = 1;
            s->nsent++;
        } else {
            s->nunsent++;
            STRESS_CHECK(s, rc == -ECANCELED || rc == -ETIMEDOUT);
            if (rc == -ECANCELED)
                return rc;
            s->timeouts++;
        }
        if (rnd(s) % 3 == 0 && weft_yield() < 0)
            return -ECANCELED;
    }
    return 0;
}

static int creceiver(void *arg, void **res)
{
    stress_t *s = ((worker_arg_t *)arg)->s;
    int closed = 0; /* bit 0: a drained, bit 1: b drained */
    for (;;) {
        weft_deadline_t d;
        bool dl = maybe_deadline(s, &d);
        void *v = NULL;
        int rc;
        int how = (int)(rnd(s) % 3);
        if (how == 0 && !(closed & 1)) {
            rc = weft_chan_recv(s->a, &v);
            if (rc == -EPIPE) {
                closed |= 1;
                rc = 1;
            }
        } else if (how == 1 && !(closed & 2)) {
            rc = weft_chan_recv(s->b, &v);
            if (rc == -EPIPE) {
                closed |= 2;
                rc = 1;
            }
        } else {
            weft_select_case_t c[2] = {
                {.ch = (closed & 1) ? NULL : s->a, .op = WEFT_SELECT_RECV},
                {.ch = (closed & 2) ? NULL : s->b, .op = WEFT_SELECT_RECV},
            };
            rc = weft_select(c, 2, rnd(s) % 2 ? WEFT_FOREVER : 1 + (int64_t)(rnd(s) % 5000));
            s->selects++;
            if (rc >= 0) {
                if (c[rc].status == -EPIPE) {
                    closed |= 1 << rc;
                    rc = 1;
                } else {
                    v = c[rc].value;
                    rc = 0;
                }
            }
        }
        if (dl)
            weft_deadline_pop(&d);
        if (rc == 0) {
            got(s, v);
        } else if (rc == 1) {
            if (closed == 3)
                return 0;
        } else if (rc == -ETIMEDOUT) {
            s->timeouts++;
        } else {
            STRESS_CHECK(s, rc == -ECANCELED);
            return rc;
        }
        if (rnd(s) % 3 == 0 && weft_yield() < 0)
            return -ECANCELED;
    }
}

static int cchaos(void *arg, void **res)
{
    stress_t *s = arg;
    while (!s->stop) {
        int k = (int)(rnd(s) % 4);
        for (int i = 0; i < k; i++)
            weft_yield();
        if (rnd(s) % 16 == 0)
            weft_sleep((int64_t)(rnd(s) % 20) * 1000);
        bool snd = rnd(s) % 2;
        int slot = (int)(rnd(s) % (snd ? NSEND : NRECV));
        weft_task_t **tp = snd ? &s->snd[slot] : &s->rcv[slot];
        if (!*tp)
            continue;
        weft_cancel(*tp);
        int rc = weft_await(*tp, NULL);
        STRESS_CHECK(s, rc == 0 || rc == -ECANCELED);
        weft_task_release(*tp);
        *tp = NULL;
        s->cancels++;
        if (snd && s->next_id >= s->n)
            continue;
        STRESS_CHECK(s,
                     weft_spawn(tp, snd ? csender : creceiver,
                                snd ? (void *)&s->sarg[slot] : (void *)&s->rarg[slot], HERE) == 0);
    }
    return 0;
}

static int stress_main(void *arg, void **res)
{
    stress_t *s = arg;
    assert_int_equal(weft_chan_create(&s->a, 0), 0);
    assert_int_equal(weft_chan_create(&s->b, 8), 0);
    for (int i = 0; i < NSEND; i++) {
        s->sarg[i] = (worker_arg_t){s, i};
        assert_int_equal(weft_spawn(&s->snd[i], csender, &s->sarg[i], HERE), 0);
    }
    for (int i = 0; i < NRECV; i++) {
        s->rarg[i] = (worker_arg_t){s, i};
        assert_int_equal(weft_spawn(&s->rcv[i], creceiver, &s->rarg[i], HERE), 0);
    }
    weft_task_t *ct;
    assert_int_equal(weft_spawn(&ct, cchaos, s, HERE), 0);
    while (s->next_id < s->n)
        assert_int_equal(weft_sleep(WEFT_USEC(200)), 0);
    s->stop = true;
    assert_int_equal(weft_await(ct, NULL), 0);
    weft_task_release(ct);
    for (int i = 0; i < NRECV; i++)
        if (!s->rcv[i])
            assert_int_equal(weft_spawn(&s->rcv[i], creceiver, &s->rarg[i], HERE), 0);
    for (int i = 0; i < NSEND; i++) {
        if (s->snd[i]) {
            int rc = weft_await(s->snd[i], NULL);
            assert_true(rc == 0 || rc == -ECANCELED);
            weft_task_release(s->snd[i]);
        }
    }
    assert_int_equal(weft_chan_close(s->a), 0);
    assert_int_equal(weft_chan_close(s->b), 0);
    for (int i = 0; i < NRECV; i++) {
        assert_int_equal(weft_await(s->rcv[i], NULL), 0);
        weft_task_release(s->rcv[i]);
    }
    assert_int_equal(weft_chan_len(s->b), 0);
    assert_int_equal(weft_chan_destroy(s->a), 0);
    assert_int_equal(weft_chan_destroy(s->b), 0);
    return 0;
}

static void test_chan_stress_random_cancel_and_deadlines_lose_no_value(void **state)
{
    stress_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->n = (long)(20000 * test_scale());
    if (s->n < 500)
        s->n = 500;
    s->rng = 0x9E3779B97F4A7C15ull;
    s->sent = calloc((size_t)s->n, 1);
    s->recvd = calloc((size_t)s->n, 1);
    run(stress_main, s);
    if (getenv("WEFT_TEST_VERBOSE"))
        fprintf(stderr, "n %ld sent %ld unsent %ld cancels %ld timeouts %ld selects %ld\n", s->n,
                s->nsent, s->nunsent, s->cancels, s->timeouts, s->selects);
    assert_int_equal(s->fail_line, 0);
    assert_int_equal(s->nsent + s->nunsent, s->n);
    assert_int_equal(s->nrecvd, s->nsent);
    for (long i = 0; i < s->n; i++)
        assert_int_equal(s->sent[i], s->recvd[i]);
    assert_true(s->cancels > 0);
    assert_true(s->nsent > s->n / 4);
    free(s->sent);
    free(s->recvd);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_create_outside_loop_is_enoloop),
        cmocka_unit_test(test_unbuffered_try_calls_return_eagain_without_a_waiting_peer),
        cmocka_unit_test(test_unbuffered_senders_wait_in_order_and_a_taken_value_stays_sent),
        cmocka_unit_test(test_unbuffered_receivers_wait_in_order_and_keep_a_handed_value),
        cmocka_unit_test(test_unbuffered_cancelled_or_timed_out_send_and_recv_deliver_nothing),
        cmocka_unit_test(test_buffered_chan_holds_cap_values_then_senders_wait_in_order),
        cmocka_unit_test(test_closed_chan_refuses_sends_and_drains_before_epipe),
        cmocka_unit_test(test_close_wakes_waiting_senders_and_receivers_with_epipe),
        cmocka_unit_test(test_select_picks_a_ready_case_at_random_or_times_out),
        cmocka_unit_test(test_select_negative_timeout_has_expired_and_does_not_wait),
        cmocka_unit_test(test_select_negative_timeout_from_callback_is_a_look),
        cmocka_unit_test(test_select_waiting_on_several_completes_on_one_and_leaves_no_record),
        cmocka_unit_test(test_select_cancelled_or_timed_out_takes_nothing_unless_completed),
        cmocka_unit_test(test_select_sees_closed_chans_ready_with_epipe_after_draining),
        cmocka_unit_test(test_chan_stress_random_cancel_and_deadlines_lose_no_value),
    };
    return run_suite(tests, NULL, NULL);
}
