/* test_queue.c - FIFO, LIFO and priority queues: order, maxsize, the
 * try_ calls, task_done/join, shutdown (immediate and not), deadlines and
 * cancellation on every waiting call, the reservation cases (a getter or
 * putter woken and then cancelled before it ran passes its item or room
 * on), and a stress run under random cancellation and deadlines that
 * accounts for every item.
 *
 * Covers: src/queue.c.
 */
#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b)
{
    intptr_t x = I(a), y = I(b);
    return x < y ? -1 : x > y;
}

/* Compares only the tens, so that items with equal keys can be told apart. */
static int cmp_tens(const void *a, const void *b)
{
    return cmp_int(P(I(a) / 10), P(I(b) / 10));
}

/* A task doing one get or put, optionally under a deadline. */
typedef struct {
    weft_queue_t *q;
    void *item;
    int rc;
    int64_t timeout;
    bool done;
} op_t;

static int getter(void *arg, void **res)
{
    op_t *o = arg;
    weft_deadline_t d;
    if (o->timeout)
        weft_deadline_push(&d, o->timeout);
    o->rc = weft_queue_get(o->q, &o->item);
    if (o->timeout)
        weft_deadline_pop(&d);
    o->done = true;
    return 0;
}

static int putter(void *arg, void **res)
{
    op_t *o = arg;
    weft_deadline_t d;
    if (o->timeout)
        weft_deadline_push(&d, o->timeout);
    o->rc = weft_queue_put(o->q, o->item);
    if (o->timeout)
        weft_deadline_pop(&d);
    o->done = true;
    return 0;
}

static int joiner(void *arg, void **res)
{
    op_t *o = arg;
    weft_deadline_t d;
    if (o->timeout)
        weft_deadline_push(&d, o->timeout);
    o->rc = weft_queue_join(o->q);
    if (o->timeout)
        weft_deadline_pop(&d);
    o->done = true;
    return 0;
}

/* ---- basics ---- */

static void test_queue_create_outside_loop_is_enoloop(void **state)
{
    weft_queue_t *q;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), -WEFT_ENOLOOP);
}

static int basics_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    assert_int_equal(weft_queue_create(NULL, WEFT_QUEUE_FIFO, 0, NULL), -EINVAL);
    assert_int_equal(weft_queue_create(&q, 7, 0, NULL), -EINVAL);
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_PRIORITY, 0, NULL), -EINVAL);
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 3, NULL), 0);
    assert_true(weft_queue_empty(q));
    assert_false(weft_queue_full(q));
    assert_int_equal(weft_queue_try_get(q, &v), -EAGAIN);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(weft_queue_put(q, P(i)), 0);
    assert_int_equal(weft_queue_size(q), 3);
    assert_true(weft_queue_full(q));
    assert_false(weft_queue_empty(q));
    assert_int_equal(weft_queue_try_put(q, P(4)), -EAGAIN);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_int_equal(I(v), i);
    }
    assert_int_equal(weft_queue_try_put(q, P(5)), 0);
    assert_int_equal(weft_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 5);
    assert_int_equal(weft_queue_get(q, NULL), -EINVAL);
    assert_int_equal(weft_queue_put(NULL, P(1)), -EINVAL);
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_bounded_fifo_keeps_order_and_try_calls_return_eagain(void **state)
{
    run(basics_main, NULL);
}

static int growth_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    /* growth far past the first allocation, wrapping around */
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 37; i++)
            assert_int_equal(weft_queue_put(q, P(next_in++)), 0);
        for (int i = 0; i < 23; i++) {
            assert_int_equal(weft_queue_get(q, &v), 0);
            assert_int_equal(I(v), next_out++);
        }
    }
    while (weft_queue_try_get(q, &v) == 0)
        assert_int_equal(I(v), next_out++);
    assert_int_equal(next_out, next_in);
    assert_false(weft_queue_full(q));
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_unbounded_fifo_grows_and_wraps_around_in_order(void **state)
{
    run(growth_main, NULL);
}

static int lifo_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_LIFO, 0, NULL), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(weft_queue_put(q, P(i)), 0);
    for (int i = 99; i >= 50; i--) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_int_equal(I(v), i);
    }
    assert_int_equal(weft_queue_put(q, P(1000)), 0);
    assert_int_equal(weft_queue_get(q, &v), 0);
    assert_int_equal(I(v), 1000);
    for (int i = 49; i >= 0; i--) {
        assert_int_equal(weft_queue_try_get(q, &v), 0);
        assert_int_equal(I(v), i);
    }
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_lifo_gets_the_newest_item_first(void **state)
{
    run(lifo_main, NULL);
}

static int priority_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    /* priority: smallest first; equal keys in put order */
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_PRIORITY, 0, cmp_tens), 0);
    unsigned x = 12345;
    int n = 500;
    for (int i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        int key = (int)((x >> 16) % 50);
        assert_int_equal(weft_queue_put(q, P(key * 10000 + i)), 0);
    }
    intptr_t prev = -1;
    for (int i = 0; i < n; i++) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        /* keys ascend; within a key, sequence numbers ascend */
        assert_true(prev < 0 || I(v) / 10000 > prev / 10000 ||
                    (I(v) / 10000 == prev / 10000 && I(v) > prev));
        prev = I(v);
    }
    assert_true(weft_queue_empty(q));
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_priority_gets_smallest_first_and_equal_keys_in_put_order(void **state)
{
    run(priority_main, NULL);
}

static int bounded_priority_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_PRIORITY, 4, cmp_int), 0);
    int in[] = {5, 1, 4, 2};
    for (int i = 0; i < 4; i++)
        assert_int_equal(weft_queue_put(q, P(in[i])), 0);
    assert_int_equal(weft_queue_try_put(q, P(0)), -EAGAIN);
    int want[] = {1, 2, 4, 5};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_int_equal(I(v), want[i]);
    }
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_bounded_priority_orders_and_refuses_try_put_when_full(void **state)
{
    run(bounded_priority_main, NULL);
}

/* ---- waiting: FIFO, reservations ---- */

static int getters_fifo_main(void *arg, void **res)
{
    weft_queue_t *q;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    op_t g[4];
    weft_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        g[i] = (op_t){.q = q};
        assert_int_equal(weft_spawn(&t[i], getter, &g[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    assert_int_equal(weft_queue_destroy(q), -EBUSY);
    for (int i = 0; i < 4; i++)
        assert_int_equal(weft_queue_put(q, P(100 + i)), 0);
    /* the items are promised: try_get must not take them */
    void *v;
    assert_int_equal(weft_queue_try_get(q, &v), -EAGAIN);
    assert_true(weft_queue_empty(q));
    assert_int_equal(weft_queue_size(q), 4);
    assert_int_equal(weft_queue_destroy(q), -EBUSY);
    for (int i = 0; i < 4; i++) {
        await_release(t[i]);
        assert_int_equal(g[i].rc, 0);
        assert_int_equal(I(g[i].item), 100 + i);
    }
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_waiting_getters_are_served_in_order_and_try_get_skips_promised_items(void **state)
{
    run(getters_fifo_main, NULL);
}

static int getter_cancel_main(void *arg, void **res)
{
    weft_queue_t *q;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    op_t g[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (op_t){.q = q};
        assert_int_equal(weft_spawn(&t[i], getter, &g[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    /* g0 is woken for item 7, then cancelled before it runs: g1 gets it */
    assert_int_equal(weft_queue_put(q, P(7)), 0);
    weft_cancel(t[0]);
    settle();
    assert_true(g[0].done);
    assert_int_equal(g[0].rc, -ECANCELED);
    assert_true(g[1].done);
    assert_int_equal(g[1].rc, 0);
    assert_int_equal(I(g[1].item), 7);
    assert_false(g[2].done);
    /* g2 woken then cancelled, nobody behind: the item stays */
    assert_int_equal(weft_queue_put(q, P(8)), 0);
    weft_cancel(t[2]);
    settle();
    assert_int_equal(g[2].rc, -ECANCELED);
    assert_int_equal(weft_queue_size(q), 1);
    void *v;
    assert_int_equal(weft_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 8);
    for (int i = 0; i < 3; i++)
        await_release(t[i]);
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_getter_woken_then_cancelled_leaves_item(void **state)
{
    run(getter_cancel_main, NULL);
}

static int getter_give_up_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    op_t g[1];
    weft_task_t *t[1];
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    /* cancelled while waiting: takes nothing */
    g[0] = (op_t){.q = q};
    assert_int_equal(weft_spawn(&t[0], getter, &g[0], NULL), 0);
    settle();
    weft_cancel(t[0]);
    await_release(t[0]);
    assert_int_equal(g[0].rc, -ECANCELED);
    assert_int_equal(weft_queue_put(q, P(9)), 0);
    assert_int_equal(weft_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 9);
    /* deadline */
    g[0] = (op_t){.q = q, .timeout = WEFT_MSEC(2)};
    assert_int_equal(weft_spawn(&t[0], getter, &g[0], NULL), 0);
    await_release(t[0]);
    assert_int_equal(g[0].rc, -ETIMEDOUT);
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_get_cancelled_or_timed_out_while_waiting_takes_nothing(void **state)
{
    run(getter_give_up_main, NULL);
}

static int putter_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 1, NULL), 0);
    assert_int_equal(weft_queue_put(q, P(1)), 0);
    op_t p[4];
    weft_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (op_t){.q = q, .item = P(10 + i)};
        assert_int_equal(weft_spawn(&t[i], putter, &p[i], HERE), 0);
        assert_int_equal(weft_yield(), 0);
    }
    assert_true(weft_queue_full(q));
    /* room for p0, which is cancelled before it runs: p1 gets the room */
    assert_int_equal(weft_queue_get(q, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(weft_queue_try_put(q, P(99)), -EAGAIN); /* promised */
    assert_true(weft_queue_full(q));
    weft_cancel(t[0]);
    settle();
    assert_int_equal(p[0].rc, -ECANCELED);
    assert_int_equal(p[1].rc, 0);
    assert_false(p[2].done);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_int_equal(I(v), 10 + i); /* putters in FIFO order */
    }
    for (int i = 0; i < 4; i++)
        await_release(t[i]);
    assert_true(weft_queue_empty(q));
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_putters_wait_in_order_and_a_woken_cancelled_one_passes_the_room_on(void **state)
{
    run(putter_main, NULL);
}

static int putter_give_up_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    op_t p[1];
    weft_task_t *t[1];
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 1, NULL), 0);
    /* a woken putter cancelled with nobody behind: the room is free */
    assert_int_equal(weft_queue_put(q, P(1)), 0);
    p[0] = (op_t){.q = q, .item = P(2)};
    /* here: settle() must see it waiting (one loop's order) */
    assert_int_equal(weft_spawn(&t[0], putter, &p[0], HERE), 0);
    settle();
    assert_int_equal(weft_queue_get(q, &v), 0);
    weft_cancel(t[0]);
    await_release(t[0]);
    assert_int_equal(p[0].rc, -ECANCELED);
    assert_false(weft_queue_full(q));
    assert_int_equal(weft_queue_try_put(q, P(3)), 0);
    /* deadline on put */
    p[0] = (op_t){.q = q, .item = P(4), .timeout = WEFT_MSEC(2)};
    assert_int_equal(weft_spawn(&t[0], putter, &p[0], NULL), 0);
    await_release(t[0]);
    assert_int_equal(p[0].rc, -ETIMEDOUT);
    assert_int_equal(weft_queue_get(q, &v), 0);
    assert_int_equal(I(v), 3);
    assert_true(weft_queue_empty(q));
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_put_cancelled_or_timed_out_puts_nothing_and_frees_the_room(void **state)
{
    run(putter_give_up_main, NULL);
}

/* ---- task_done / join ---- */

static int join_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    assert_int_equal(weft_queue_join(q), 0); /* nothing put: at once */
    assert_int_equal(weft_queue_task_done(q), -EOVERFLOW);
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_queue_put(q, P(i)), 0);
    op_t j[2] = {{.q = q}, {.q = q, .timeout = WEFT_MSEC(2)}};
    weft_task_t *t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_spawn(&t[i], joiner, &j[i], HERE), 0);
    await_release(t[1]);
    assert_int_equal(j[1].rc, -ETIMEDOUT);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        settle();
        assert_false(j[0].done);
        assert_int_equal(weft_queue_task_done(q), 0);
    }
    settle();
    assert_true(j[0].done);
    assert_int_equal(j[0].rc, 0);
    await_release(t[0]);
    assert_int_equal(weft_queue_task_done(q), -EOVERFLOW);
    assert_int_equal(weft_queue_join(q), 0);
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_join_waits_until_every_item_is_marked_done(void **state)
{
    run(join_main, NULL);
}

/* ---- shutdown ---- */

static int dropped_sum;
static void drop_item(void *item)
{
    dropped_sum += (int)I(item);
}

static int shutdown_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    /* not immediate: gets drain, then -EPIPE; waiting putters -EPIPE */
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 2, NULL), 0);
    assert_int_equal(weft_queue_put(q, P(1)), 0);
    assert_int_equal(weft_queue_put(q, P(2)), 0);
    op_t p = {.q = q, .item = P(3)};
    weft_task_t *tp;
    assert_int_equal(weft_spawn(&tp, putter, &p, NULL), 0);
    settle();
    assert_int_equal(weft_queue_shutdown(q, false, NULL), 0);
    await_release(tp);
    assert_int_equal(p.rc, -EPIPE);
    assert_int_equal(weft_queue_put(q, P(4)), -EPIPE);
    assert_int_equal(weft_queue_try_put(q, P(4)), -EPIPE);
    assert_int_equal(weft_queue_get(q, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(weft_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 2);
    assert_int_equal(weft_queue_get(q, &v), -EPIPE);
    assert_int_equal(weft_queue_try_get(q, &v), -EPIPE);
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_shutdown_lets_getters_drain_then_returns_epipe_to_puts(void **state)
{
    run(shutdown_main, NULL);
}

static int shutdown_getters_main(void *arg, void **res)
{
    weft_queue_t *q;
    /* waiting getters are woken with -EPIPE */
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    op_t g[2] = {{.q = q}, {.q = q}};
    weft_task_t *tg[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_spawn(&tg[i], getter, &g[i], NULL), 0);
    settle();
    assert_int_equal(weft_queue_shutdown(q, false, NULL), 0);
    for (int i = 0; i < 2; i++) {
        await_release(tg[i]);
        assert_int_equal(g[i].rc, -EPIPE);
    }
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_shutdown_wakes_waiting_getters_with_epipe(void **state)
{
    run(shutdown_getters_main, NULL);
}

static int shutdown_immediate_main(void *arg, void **res)
{
    weft_queue_t *q;
    void *v;
    op_t g[2];
    weft_task_t *tg[2];
    /* immediate: items dropped (through drop), counted done for join,
     * getters woken for items that are then dropped get -EPIPE */
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_LIFO, 0, NULL), 0);
    op_t j;
    weft_task_t *tj;
    g[0] = (op_t){.q = q};
    g[1] = (op_t){.q = q};
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_spawn(&tg[i], getter, &g[i], NULL), 0);
    settle();
    j = (op_t){.q = q};
    assert_int_equal(weft_spawn(&tj, joiner, &j, NULL), 0);
    assert_int_equal(weft_queue_put(q, P(1)), 0); /* promised to g0 */
    assert_int_equal(weft_queue_put(q, P(2)), 0); /* promised to g1 */
    assert_int_equal(weft_queue_put(q, P(4)), 0);
    dropped_sum = 0;
    assert_int_equal(weft_queue_shutdown(q, true, drop_item), 0);
    assert_int_equal(dropped_sum, 7);
    assert_int_equal(weft_queue_size(q), 0);
    settle();
    for (int i = 0; i < 2; i++) {
        await_release(tg[i]);
        assert_int_equal(g[i].rc, -EPIPE);
    }
    await_release(tj);
    assert_int_equal(j.rc, 0);
    assert_int_equal(weft_queue_join(q), 0);
    assert_int_equal(weft_queue_get(q, &v), -EPIPE);
    assert_int_equal(weft_queue_put(q, P(1)), -EPIPE);
    assert_int_equal(weft_queue_shutdown(q, true, NULL), 0); /* again: fine */
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_immediate_shutdown_drops_items_counts_them_done_and_fails_getters(void **state)
{
    run(shutdown_immediate_main, NULL);
}

static int shutdown_twice_main(void *arg, void **res)
{
    weft_queue_t *q;
    /* shutdown, then immediate shutdown drops what is left */
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    assert_int_equal(weft_queue_put(q, P(5)), 0);
    assert_int_equal(weft_queue_shutdown(q, false, NULL), 0);
    assert_int_equal(weft_queue_size(q), 1);
    dropped_sum = 0;
    assert_int_equal(weft_queue_shutdown(q, true, drop_item), 0);
    assert_int_equal(dropped_sum, 5);
    assert_int_equal(weft_queue_join(q), 0);
    assert_int_equal(weft_queue_destroy(q), 0);
    return 0;
}

static void test_immediate_shutdown_after_shutdown_drops_what_is_left(void **state)
{
    run(shutdown_twice_main, NULL);
}

/* ---- stress: many producers and consumers under chaos ---- */

#define NPROD 8
#define NCONS 8

typedef struct stress stress_t;

typedef struct {
    stress_t *s;
    int slot;
} worker_arg_t;

struct stress {
    weft_queue_t *q;
    int kind;
    long n;
    long next_id;
    uint8_t *sent, *recvd;
    long nsent, nrecvd, nunsent;
    long cancels, timeouts;
    uint64_t rng;
    bool stop;
    weft_task_t *prod[NPROD], *cons[NCONS];
    worker_arg_t parg[NPROD], carg[NCONS];
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

/* A random deadline scope around one operation, a quarter of the time. */
static bool maybe_deadline(stress_t *s, weft_deadline_t *d)
{
    if (rnd(s) % 4)
        return false;
    weft_deadline_push(d, (int64_t)(rnd(s) % 3000));
    return true;
}

static int producer(void *arg, void **res)
{
    stress_t *s = ((worker_arg_t *)arg)->s;
    while (s->next_id < s->n) {
        long id = s->next_id++;
        weft_deadline_t d;
        bool dl = maybe_deadline(s, &d);
        int rc = weft_queue_put(s->q, P(id));
        if (dl)
            weft_deadline_pop(&d);
        if (rc == 0) {
            STRESS_CHECK(s, !s->sent[id]);
            s->sent[id] = 1;
            s->nsent++;
        } else {
            s->nunsent++; /* never sent */
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

static int consumer(void *arg, void **res)
{
    stress_t *s = ((worker_arg_t *)arg)->s;
    for (;;) {
        weft_deadline_t d;
        bool dl = maybe_deadline(s, &d);
        void *v = P(-1);
        int rc = weft_queue_get(s->q, &v);
        if (dl)
            weft_deadline_pop(&d);
        if (rc == 0) {
            long id = (long)I(v);
            STRESS_CHECK(s, id >= 0 && id < s->n);
            if (id >= 0 && id < s->n) {
                STRESS_CHECK(s, s->sent[id]);
                STRESS_CHECK(s, !s->recvd[id]);
                s->recvd[id] = 1;
            }
            s->nrecvd++;
            STRESS_CHECK(s, weft_queue_task_done(s->q) == 0);
        } else if (rc == -ETIMEDOUT) {
            s->timeouts++;
        } else {
            STRESS_CHECK(s, rc == -ECANCELED || rc == -EPIPE);
            return rc == -EPIPE ? 0 : rc;
        }
        if (rnd(s) % 3 == 0 && weft_yield() < 0)
            return -ECANCELED;
    }
}

static int chaos(void *arg, void **res)
{
    stress_t *s = arg;
    while (!s->stop) {
        int k = (int)(rnd(s) % 4);
        for (int i = 0; i < k; i++)
            weft_yield();
        if (rnd(s) % 16 == 0)
            weft_sleep((int64_t)(rnd(s) % 20) * 1000);
        bool prod = rnd(s) % 2;
        int slot = (int)(rnd(s) % (prod ? NPROD : NCONS));
        weft_task_t **tp = prod ? &s->prod[slot] : &s->cons[slot];
        if (!*tp)
            continue;
        weft_cancel(*tp);
        int rc = weft_await(*tp, NULL);
        STRESS_CHECK(s, rc == 0 || rc == -ECANCELED);
        weft_task_release(*tp);
        *tp = NULL;
        s->cancels++;
        if (prod && s->next_id >= s->n)
            continue;
        STRESS_CHECK(s,
                     weft_spawn(tp, prod ? producer : consumer,
                                prod ? (void *)&s->parg[slot] : (void *)&s->carg[slot], HERE) == 0);
    }
    return 0;
}

static int stress_main(void *arg, void **res)
{
    stress_t *s = arg;
    assert_int_equal(weft_queue_create(&s->q, s->kind, s->kind == WEFT_QUEUE_PRIORITY ? 64 : 16,
                                       s->kind == WEFT_QUEUE_PRIORITY ? cmp_int : NULL),
                     0);
    for (int i = 0; i < NPROD; i++) {
        s->parg[i] = (worker_arg_t){s, i};
        assert_int_equal(weft_spawn(&s->prod[i], producer, &s->parg[i], HERE), 0);
    }
    for (int i = 0; i < NCONS; i++) {
        s->carg[i] = (worker_arg_t){s, i};
        assert_int_equal(weft_spawn(&s->cons[i], consumer, &s->carg[i], HERE), 0);
    }
    weft_task_t *ct;
    assert_int_equal(weft_spawn(&ct, chaos, s, HERE), 0);
    while (s->next_id < s->n)
        assert_int_equal(weft_sleep(WEFT_USEC(200)), 0);
    s->stop = true;
    assert_int_equal(weft_await(ct, NULL), 0);
    weft_task_release(ct);
    for (int i = 0; i < NPROD; i++) {
        if (s->prod[i]) {
            int rc = weft_await(s->prod[i], NULL);
            assert_true(rc == 0 || rc == -ECANCELED);
            weft_task_release(s->prod[i]);
        }
    }
    /* make sure someone drains: respawn missing consumers */
    for (int i = 0; i < NCONS; i++)
        if (!s->cons[i])
            assert_int_equal(weft_spawn(&s->cons[i], consumer, &s->carg[i], HERE), 0);
    assert_int_equal(weft_queue_shutdown(s->q, false, NULL), 0);
    for (int i = 0; i < NCONS; i++) {
        assert_int_equal(weft_await(s->cons[i], NULL), 0);
        weft_task_release(s->cons[i]);
    }
    assert_int_equal(weft_queue_join(s->q), 0);
    assert_int_equal(weft_queue_size(s->q), 0);
    assert_int_equal(weft_queue_destroy(s->q), 0);
    return 0;
}

static void stress_kind(int kind)
{
    stress_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->kind = kind;
    s->n = (long)(20000 * test_scale());
    if (s->n < 500)
        s->n = 500;
    s->rng = 0x243F6A8885A308D3ull + (uint64_t)kind;
    s->sent = calloc((size_t)s->n, 1);
    s->recvd = calloc((size_t)s->n, 1);
    run(stress_main, s);
    if (getenv("WEFT_TEST_VERBOSE"))
        fprintf(stderr, "kind %d: n %ld sent %ld unsent %ld cancels %ld timeouts %ld\n", kind, s->n,
                s->nsent, s->nunsent, s->cancels, s->timeouts);
    assert_int_equal(s->fail_line, 0);
    assert_int_equal(s->nsent + s->nunsent, s->n);
    assert_int_equal(s->nrecvd, s->nsent);
    for (long i = 0; i < s->n; i++)
        assert_int_equal(s->sent[i], s->recvd[i]);
    /* the chaos really happened */
    assert_true(s->cancels > 0);
    assert_true(s->nsent > s->n / 4);
    free(s->sent);
    free(s->recvd);
    free(s);
}

static void test_fifo_stress_loses_no_item_under_random_cancel_and_deadlines(void **state)
{
    stress_kind(WEFT_QUEUE_FIFO);
}

static void test_lifo_stress_loses_no_item_under_random_cancel_and_deadlines(void **state)
{
    stress_kind(WEFT_QUEUE_LIFO);
}

static void test_priority_stress_loses_no_item_under_random_cancel_and_deadlines(void **state)
{
    stress_kind(WEFT_QUEUE_PRIORITY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_create_outside_loop_is_enoloop),
        cmocka_unit_test(test_bounded_fifo_keeps_order_and_try_calls_return_eagain),
        cmocka_unit_test(test_unbounded_fifo_grows_and_wraps_around_in_order),
        cmocka_unit_test(test_lifo_gets_the_newest_item_first),
        cmocka_unit_test(test_priority_gets_smallest_first_and_equal_keys_in_put_order),
        cmocka_unit_test(test_bounded_priority_orders_and_refuses_try_put_when_full),
        cmocka_unit_test(test_waiting_getters_are_served_in_order_and_try_get_skips_promised_items),
        cmocka_unit_test(test_getter_woken_then_cancelled_leaves_item),
        cmocka_unit_test(test_get_cancelled_or_timed_out_while_waiting_takes_nothing),
        cmocka_unit_test(test_putters_wait_in_order_and_a_woken_cancelled_one_passes_the_room_on),
        cmocka_unit_test(test_put_cancelled_or_timed_out_puts_nothing_and_frees_the_room),
        cmocka_unit_test(test_join_waits_until_every_item_is_marked_done),
        cmocka_unit_test(test_shutdown_lets_getters_drain_then_returns_epipe_to_puts),
        cmocka_unit_test(test_shutdown_wakes_waiting_getters_with_epipe),
        cmocka_unit_test(test_immediate_shutdown_drops_items_counts_them_done_and_fails_getters),
        cmocka_unit_test(test_immediate_shutdown_after_shutdown_drops_what_is_left),
        cmocka_unit_test(test_fifo_stress_loses_no_item_under_random_cancel_and_deadlines),
        cmocka_unit_test(test_lifo_stress_loses_no_item_under_random_cancel_and_deadlines),
        cmocka_unit_test(test_priority_stress_loses_no_item_under_random_cancel_and_deadlines),
    };
    return run_suite(tests, NULL, NULL);
}
