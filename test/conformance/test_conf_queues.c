/* test_conf_queues.c - CPython's test_asyncio/test_queues.py, ported:
 * Queue, LifoQueue, PriorityQueue; get, put, their non-blocking forms,
 * cancellation of waiting getters and putters, task_done / join and
 * shutdown (Python 3.13).
 *
 * Names: test_queues__<method> (conf.h has the scheme); the Lifo and
 * Priority classes' test_order become lifo_test_order and
 * priority_test_order. Items are small integers carried in void *; a
 * priority queue orders them by a comparison function, where asyncio
 * compares the items themselves.
 *
 * Covers: src/queue.c through weft.h's Queues section. */
#include "conf.h"

typedef struct {
    weft_queue_t *q;
    conf_log_t *log;
    intptr_t item;
} qa_t;

static int getter(void *arg, void **res)
{
    qa_t *a = arg;
    void *it = NULL;
    int rc = weft_queue_get(a->q, &it);
    if (rc == 0)
        conf_log(a->log, (int)I(it));
    *res = it;
    return rc;
}

static int putter(void *arg, void **res)
{
    (void)res;
    qa_t *a = arg;
    int rc = weft_queue_put(a->q, P(a->item));
    if (rc == 0 && a->log)
        conf_log(a->log, (int)a->item);
    return rc;
}

static weft_queue_t *mkq(int kind, size_t max)
{
    weft_queue_t *q = NULL;
    assert_int_equal(weft_queue_create(&q, kind, max, NULL), 0);
    return q;
}

static void *get_now(weft_queue_t *q)
{
    void *it = NULL;
    assert_int_equal(weft_queue_try_get(q, &it), 0);
    return it;
}

/* repr / str show maxsize and the items: weft_queue_size counts them. */
CONF(test_queues__test_repr)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    assert_int_equal(weft_queue_size(q), 0);
    weft_queue_try_put(q, P(1));
    weft_queue_try_put(q, P(2));
    assert_int_equal(weft_queue_size(q), 2);
    get_now(q);
    get_now(q);
    return weft_queue_destroy(q);
}

/* empty() is true until an item is put, and again once it is taken. */
CONF(test_queues__test_empty)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    assert_true(weft_queue_empty(q));
    assert_int_equal(weft_queue_try_put(q, P(1)), 0);
    assert_false(weft_queue_empty(q));
    assert_int_equal(I(get_now(q)), 1);
    assert_true(weft_queue_empty(q));
    return weft_queue_destroy(q);
}

/* full() is never true for an unbounded queue, and true at maxsize. */
CONF(test_queues__test_full)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    assert_false(weft_queue_full(q));
    weft_queue_try_put(q, P(1));
    assert_false(weft_queue_full(q));
    get_now(q);
    weft_queue_destroy(q);
    q = mkq(WEFT_QUEUE_FIFO, 1);
    assert_false(weft_queue_full(q));
    weft_queue_try_put(q, P(1));
    assert_true(weft_queue_full(q));
    get_now(q);
    return weft_queue_destroy(q);
}

/* A FIFO queue gives items back in put order. */
CONF(test_queues__test_order)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    int in[] = {1, 3, 2};
    for (int i = 0; i < 3; i++)
        weft_queue_try_put(q, P(in[i]));
    for (int i = 0; i < 3; i++)
        assert_int_equal(I(get_now(q)), in[i]);
    return weft_queue_destroy(q);
}

/* A LIFO queue gives the last item first. */
CONF(test_queues__lifo_test_order)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_LIFO, 0);
    int in[] = {1, 3, 2};
    for (int i = 0; i < 3; i++)
        weft_queue_try_put(q, P(in[i]));
    assert_int_equal(I(get_now(q)), 2);
    assert_int_equal(I(get_now(q)), 3);
    assert_int_equal(I(get_now(q)), 1);
    return weft_queue_destroy(q);
}

static int cmp_int(const void *a, const void *b)
{
    return (int)(I(a) - I(b));
}

/* A priority queue gives the smallest first. */
CONF(test_queues__priority_test_order)
{
    weft_queue_t *q;
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_PRIORITY, 0, cmp_int), 0);
    int in[] = {1, 3, 2};
    for (int i = 0; i < 3; i++)
        weft_queue_try_put(q, P(in[i]));
    assert_int_equal(I(get_now(q)), 1);
    assert_int_equal(I(get_now(q)), 2);
    assert_int_equal(I(get_now(q)), 3);
    assert_int_equal(weft_queue_destroy(q), 0);
    /* and needs its comparison */
    assert_int_equal(weft_queue_create(&q, WEFT_QUEUE_PRIORITY, 0, NULL), -EINVAL);
    return 0;
}

/* At maxsize a putter waits until a get makes room. */
CONF(test_queues__test_maxsize)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 2);
    conf_log_t log = {0};
    qa_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (qa_t){q, &log, i + 1};
        t[i] = conf_spawn(putter, &a[i]);
    }
    settle();
    assert_int_equal(log.n, 2);
    assert_true(weft_queue_full(q));
    assert_int_equal(I(get_now(q)), 1);
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    assert_int_equal(log.n, 3);
    assert_int_equal(weft_queue_size(q), 2);
    get_now(q);
    get_now(q);
    return weft_queue_destroy(q);
}

/* get on a queue holding an item returns it at once. */
CONF(test_queues__test_blocking_get)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    void *it;
    weft_queue_try_put(q, P(1));
    assert_int_equal(weft_queue_get(q, &it), 0);
    assert_int_equal(I(it), 1);
    return weft_queue_destroy(q);
}

/* A getter of a full queue lets the waiting putter in. */
CONF(test_queues__test_get_with_putters)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    void *it;
    weft_queue_try_put(q, P(1));
    qa_t a = {q, NULL, 2};
    weft_task_t *t = conf_spawn(putter, &a);
    settle();
    assert_int_equal(weft_queue_get(q, &it), 0);
    assert_int_equal(I(it), 1);
    conf_finish(t, 0);
    assert_int_equal(I(get_now(q)), 2);
    return weft_queue_destroy(q);
}

/* A getter of an empty queue waits until an item is put. */
CONF(test_queues__test_blocking_get_wait)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a = {q, &log, 0};
    weft_task_t *t = conf_spawn(getter, &a);
    settle();
    assert_int_equal(weft_task_state(t), WEFT_TASK_WAITING);
    weft_queue_try_put(q, P(7));
    assert_int_equal(I(conf_finish(t, 0)), 7);
    return weft_queue_destroy(q);
}

/* get_nowait returns an item there is. */
CONF(test_queues__test_nonblocking_get)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    weft_queue_try_put(q, P(1));
    assert_int_equal(I(get_now(q)), 1);
    return weft_queue_destroy(q);
}

/* get_nowait on an empty queue fails (QueueEmpty): -EAGAIN. */
CONF(test_queues__test_nonblocking_get_exception)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    void *it = P(5);
    assert_int_equal(weft_queue_try_get(q, &it), -EAGAIN);
    return weft_queue_destroy(q);
}

/* Of two waiting getters the first is cancelled: it takes nothing, and
 * the item put afterwards goes to the second. */
CONF(test_queues__test_get_cancelled_race)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a = {q, &log, 0}, b = {q, &log, 0};
    weft_task_t *t1 = conf_spawn(getter, &a), *t2 = conf_spawn(getter, &b);
    settle();
    weft_cancel(t1);
    conf_finish(t1, -ECANCELED);
    weft_queue_try_put(q, P(1));
    assert_int_equal(I(conf_finish(t2, 0)), 1);
    assert_int_equal(weft_queue_size(q), 0);
    return weft_queue_destroy(q);
}

/* A getter in a timeout scope times out, takes nothing and leaves no
 * getter behind (asyncio.wait_for(q.get(), 0.1)). */
CONF(test_queues__test_cancelled_getters_not_being_held_in_self_getters)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    weft_deadline_t d;
    void *it;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_queue_get(q, &it), -ETIMEDOUT);
    weft_deadline_pop(&d);
    weft_queue_try_put(q, P(1));
    assert_int_equal(I(get_now(q)), 1);
    return weft_queue_destroy(q);
}

/* Two getters; an item is handed to the first, which is cancelled before
 * it runs: the item goes to the second, nothing is lost. */
CONF(test_queues__test_get_cancel_drop_one_pending_reader)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a = {q, &log, 0}, b = {q, &log, 0};
    weft_task_t *ta = conf_spawn(getter, &a), *tb = conf_spawn(getter, &b);
    settle();
    weft_queue_try_put(q, P(1));
    weft_cancel(ta);
    conf_finish(ta, -ECANCELED);
    assert_int_equal(I(conf_finish(tb, 0)), 1);
    assert_int_equal(weft_queue_size(q), 0);
    return weft_queue_destroy(q);
}

/* A get on a full queue with waiting putters takes the oldest item and
 * lets one putter in. */
CONF(test_queues__test_get_with_waiting_putters)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    weft_queue_try_put(q, P(1));
    qa_t a = {q, NULL, 2}, b = {q, NULL, 3};
    weft_task_t *ta = conf_spawn(putter, &a), *tb = conf_spawn(putter, &b);
    settle();
    assert_int_equal(I(get_now(q)), 1);
    conf_finish(ta, 0);
    assert_int_equal(I(get_now(q)), 2);
    conf_finish(tb, 0);
    assert_int_equal(I(get_now(q)), 3);
    return weft_queue_destroy(q);
}

/* Many getters waiting, fewer items: each item goes to one getter, in
 * the order they waited; the rest still wait. */
CONF(test_queues__test_why_are_getters_waiting)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (qa_t){q, &log, 0};
        t[i] = conf_spawn(getter, &a[i]);
    }
    settle();
    weft_queue_try_put(q, P(10));
    weft_queue_try_put(q, P(20));
    assert_int_equal(I(conf_finish(t[0], 0)), 10);
    assert_int_equal(I(conf_finish(t[1], 0)), 20);
    settle();
    assert_int_equal(weft_task_state(t[2]), WEFT_TASK_WAITING);
    weft_queue_try_put(q, P(30));
    assert_int_equal(I(conf_finish(t[2], 0)), 30);
    return weft_queue_destroy(q);
}

/* Cancelled getters leave the queue: after they are gone, one put and
 * one get work as on a fresh queue, and destroy does not find waiters. */
CONF(test_queues__test_cancelled_getters_not_being_held_in_self_getters_cancel)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (qa_t){q, &log, 0};
        t[i] = conf_spawn(getter, &a[i]);
    }
    settle();
    for (int i = 0; i < 3; i++) {
        weft_cancel(t[i]);
        conf_finish(t[i], -ECANCELED);
    }
    weft_queue_try_put(q, P(1));
    assert_int_equal(I(get_now(q)), 1);
    return weft_queue_destroy(q);
}

/* put on a queue with room returns at once. */
CONF(test_queues__test_blocking_put)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    assert_int_equal(weft_queue_put(q, P(1)), 0);
    assert_int_equal(I(get_now(q)), 1);
    return weft_queue_destroy(q);
}

/* A putter of a full queue waits until a get makes room. */
CONF(test_queues__test_blocking_put_wait)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    weft_queue_try_put(q, P(1));
    qa_t a = {q, NULL, 2};
    weft_task_t *t = conf_spawn(putter, &a);
    settle();
    assert_int_equal(weft_task_state(t), WEFT_TASK_WAITING);
    void *it;
    assert_int_equal(weft_queue_get(q, &it), 0);
    conf_finish(t, 0);
    assert_int_equal(I(get_now(q)), 2);
    return weft_queue_destroy(q);
}

/* put_nowait stores the item. */
CONF(test_queues__test_nonblocking_put)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    assert_int_equal(weft_queue_try_put(q, P(1)), 0);
    assert_int_equal(I(get_now(q)), 1);
    return weft_queue_destroy(q);
}

/* put_nowait on a full queue fails (QueueFull): -EAGAIN. */
CONF(test_queues__test_nonblocking_put_exception)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    assert_int_equal(weft_queue_try_put(q, P(1)), 0);
    assert_int_equal(weft_queue_try_put(q, P(2)), -EAGAIN);
    assert_int_equal(weft_queue_size(q), 1);
    get_now(q);
    return weft_queue_destroy(q);
}

/* A putter cancelled while waiting stores nothing; a new put of the same
 * item then works. */
CONF(test_queues__test_put_cancel_drop)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    weft_queue_try_put(q, P(1));
    qa_t a = {q, NULL, 2};
    weft_task_t *t = conf_spawn(putter, &a);
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    assert_int_equal(I(get_now(q)), 1);
    assert_true(weft_queue_empty(q));
    return weft_queue_destroy(q);
}

/* Room made for a putter cancelled before it runs goes to the next
 * putter; the cancelled one gets -ECANCELED and stored nothing. */
CONF(test_queues__test_cancelled_put_silence_value_error_exception)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    weft_queue_try_put(q, P(1));
    qa_t a = {q, NULL, 2}, b = {q, NULL, 3};
    weft_task_t *ta = conf_spawn(putter, &a), *tb = conf_spawn(putter, &b);
    settle();
    assert_int_equal(I(get_now(q)), 1);
    weft_cancel(ta);
    conf_finish(ta, -ECANCELED);
    conf_finish(tb, 0);
    assert_int_equal(I(get_now(q)), 3);
    return weft_queue_destroy(q);
}

/* A put wakes a waiting getter directly. */
CONF(test_queues__test_put_with_waiting_getters)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a = {q, &log, 0};
    weft_task_t *t = conf_spawn(getter, &a);
    settle();
    assert_int_equal(weft_queue_put(q, P(4)), 0);
    assert_int_equal(I(conf_finish(t, 0)), 4);
    return weft_queue_destroy(q);
}

/* Many putters waiting at maxsize: each get lets the oldest in. */
CONF(test_queues__test_why_are_putters_waiting)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    weft_queue_try_put(q, P(0));
    qa_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (qa_t){q, NULL, i + 1};
        t[i] = conf_spawn(putter, &a[i]);
    }
    settle();
    for (int i = 0; i < 4; i++) {
        void *it;
        assert_int_equal(weft_queue_get(q, &it), 0);
        assert_int_equal(I(it), i);
    }
    for (int i = 0; i < 3; i++)
        conf_finish(t[i], 0);
    return weft_queue_destroy(q);
}

/* Cancelled putters leave the queue: the next put after a get waits for
 * no ghost. */
CONF(test_queues__test_cancelled_puts_not_being_held_in_self_putters)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    weft_queue_try_put(q, P(1));
    qa_t a = {q, NULL, 2};
    weft_task_t *t = conf_spawn(putter, &a);
    settle();
    weft_cancel(t);
    conf_finish(t, -ECANCELED);
    get_now(q);
    assert_int_equal(weft_queue_try_put(q, P(3)), 0);
    assert_int_equal(I(get_now(q)), 3);
    return weft_queue_destroy(q);
}

/* Of several getters woken by several puts, one cancelled before it runs
 * leaves its item for a getter still waiting. */
CONF(test_queues__test_get_cancel_drop_many_pending_readers)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a[3];
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (qa_t){q, &log, 0};
        t[i] = conf_spawn(getter, &a[i]);
    }
    settle();
    weft_queue_try_put(q, P(1));
    weft_queue_try_put(q, P(2));
    weft_cancel(t[0]);
    conf_finish(t[0], -ECANCELED);
    conf_finish(t[1], 0);
    conf_finish(t[2], 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(weft_queue_size(q), 0);
    return weft_queue_destroy(q);
}

/* task_done more often than items were put is an error (ValueError). */
CONF(test_queues__test_task_done_underflow)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    assert_int_equal(weft_queue_task_done(q), -EOVERFLOW);
    return weft_queue_destroy(q);
}

/* join waits until every item put has been marked done. */
static int worker(void *arg, void **res)
{
    (void)res;
    weft_queue_t *q = arg;
    void *it;
    int rc;
    while ((rc = weft_queue_get(q, &it)) == 0) {
        weft_yield();
        weft_queue_task_done(q);
    }
    return rc == -EPIPE ? 0 : rc;
}

CONF(test_queues__test_task_done)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    for (int i = 0; i < 10; i++)
        weft_queue_try_put(q, P(i));
    weft_task_t *w[2] = {conf_spawn(worker, q), conf_spawn(worker, q)};
    assert_int_equal(weft_queue_join(q), 0);
    assert_true(weft_queue_empty(q));
    weft_queue_shutdown(q, false, NULL);
    conf_finish(w[0], 0);
    conf_finish(w[1], 0);
    return weft_queue_destroy(q);
}

/* join on a queue never used returns at once. */
CONF(test_queues__test_join_empty_queue)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, 0), 0); /* it must not wait */
    assert_int_equal(weft_queue_join(q), 0);
    weft_deadline_pop(&d);
    return weft_queue_destroy(q);
}

/* Deliberate difference: a getter waiting on an empty queue that is
 * shut down is woken with -EPIPE (asyncio 3.13 leaves it waiting, for
 * an item no one can put any more). */
CONF(test_queues__test_shutdown_getters_deque)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    conf_log_t log = {0};
    qa_t a = {q, &log, 0};
    weft_task_t *t = conf_spawn(getter, &a);
    settle();
    assert_int_equal(weft_queue_shutdown(q, false, NULL), 0);
    conf_finish(t, -EPIPE);
    return weft_queue_destroy(q);
}

/* shutdown of an empty queue: put and get fail (QueueShutDown: -EPIPE). */
CONF(test_queues__test_shutdown_empty)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    assert_int_equal(weft_queue_shutdown(q, false, NULL), 0);
    void *it;
    assert_int_equal(weft_queue_put(q, P(1)), -EPIPE);
    assert_int_equal(weft_queue_try_put(q, P(1)), -EPIPE);
    assert_int_equal(weft_queue_get(q, &it), -EPIPE);
    assert_int_equal(weft_queue_try_get(q, &it), -EPIPE);
    return weft_queue_destroy(q);
}

/* shutdown of a non-empty queue: gets drain what is left, then fail. */
CONF(test_queues__test_shutdown_nonempty)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    weft_queue_try_put(q, P(1));
    weft_queue_try_put(q, P(2));
    weft_queue_shutdown(q, false, NULL);
    void *it;
    assert_int_equal(weft_queue_get(q, &it), 0);
    assert_int_equal(I(it), 1);
    assert_int_equal(weft_queue_get(q, &it), 0);
    assert_int_equal(I(it), 2);
    assert_int_equal(weft_queue_get(q, &it), -EPIPE);
    return weft_queue_destroy(q);
}

/* An immediate shutdown drops the items left (counted done for join). */
static int drops;
static void drop_item(void *it)
{
    (void)it;
    drops++;
}

CONF(test_queues__test_shutdown_immediate)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    drops = 0;
    weft_queue_try_put(q, P(1));
    weft_queue_try_put(q, P(2));
    weft_queue_shutdown(q, true, drop_item);
    assert_int_equal(drops, 2);
    void *it;
    assert_int_equal(weft_queue_get(q, &it), -EPIPE);
    return weft_queue_destroy(q);
}

/* Every call after an immediate shutdown. Deliberate difference: join
 * returns 0 (the dropped items count as done) and task_done has nothing
 * to mark, where asyncio 3.13 raises QueueShutDown from both. */
CONF(test_queues__test_shutdown_immediate_all_methods_in_one_task)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    void *it;
    assert_int_equal(weft_queue_put(q, P(1)), 0);
    weft_queue_try_put(q, P(2));
    weft_queue_shutdown(q, true, NULL);
    assert_int_equal(weft_queue_put(q, P(3)), -EPIPE);
    assert_int_equal(weft_queue_try_put(q, P(4)), -EPIPE);
    assert_int_equal(weft_queue_get(q, &it), -EPIPE);
    assert_int_equal(weft_queue_try_get(q, &it), -EPIPE);
    assert_int_equal(weft_queue_task_done(q), -EOVERFLOW);
    assert_int_equal(weft_queue_join(q), 0);
    return weft_queue_destroy(q);
}

/* Every call after a plain shutdown: puts fail, gets drain, task_done and
 * join work, then gets fail. */
CONF(test_queues__test_shutdown_all_methods_in_one_task)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    void *it;
    assert_int_equal(weft_queue_put(q, P(1)), 0);
    weft_queue_try_put(q, P(2));
    weft_queue_shutdown(q, false, NULL);
    assert_int_equal(weft_queue_put(q, P(3)), -EPIPE);
    assert_int_equal(weft_queue_try_put(q, P(4)), -EPIPE);
    assert_int_equal(weft_queue_get(q, &it), 0);
    assert_int_equal(weft_queue_task_done(q), 0);
    assert_int_equal(weft_queue_try_get(q, &it), 0);
    assert_int_equal(weft_queue_task_done(q), 0);
    assert_int_equal(weft_queue_join(q), 0);
    assert_int_equal(weft_queue_get(q, &it), -EPIPE);
    assert_int_equal(weft_queue_try_get(q, &it), -EPIPE);
    return weft_queue_destroy(q);
}

/* Immediate shutdown with an item taken but not done: join still waits
 * for that one (asyncio 3.13's join raises QueueShutDown instead). */
CONF(test_queues__test_shutdown_immediate_put_and_join)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    weft_deadline_t d;
    weft_queue_try_put(q, P(1));
    weft_queue_try_put(q, P(2));
    get_now(q);
    weft_queue_shutdown(q, true, NULL);
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_queue_join(q), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_int_equal(weft_queue_task_done(q), 0);
    assert_int_equal(weft_queue_join(q), 0);
    return weft_queue_destroy(q);
}

/* shutdown wakes a putter waiting on a full queue with -EPIPE. */
CONF(test_queues__test_shutdown_putters_deque)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 1);
    weft_queue_try_put(q, P(1));
    qa_t a = {q, NULL, 2};
    weft_task_t *t = conf_spawn(putter, &a);
    settle();
    weft_queue_shutdown(q, false, NULL);
    conf_finish(t, -EPIPE);
    assert_int_equal(I(get_now(q)), 1);
    return weft_queue_destroy(q);
}

/* From shutdown to immediate shutdown: the second drops what the first
 * left. */
CONF(test_queues__test_shutdown_allowed_transitions)
{
    weft_queue_t *q = mkq(WEFT_QUEUE_FIFO, 0);
    drops = 0;
    weft_queue_try_put(q, P(1));
    weft_queue_shutdown(q, false, NULL);
    assert_int_equal(weft_queue_size(q), 1);
    weft_queue_shutdown(q, true, drop_item);
    assert_int_equal(drops, 1);
    assert_true(weft_queue_empty(q));
    return weft_queue_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queues__test_repr),
        cmocka_unit_test(test_queues__test_empty),
        cmocka_unit_test(test_queues__test_full),
        cmocka_unit_test(test_queues__test_order),
        cmocka_unit_test(test_queues__lifo_test_order),
        cmocka_unit_test(test_queues__priority_test_order),
        cmocka_unit_test(test_queues__test_maxsize),
        cmocka_unit_test(test_queues__test_blocking_get),
        cmocka_unit_test(test_queues__test_get_with_putters),
        cmocka_unit_test(test_queues__test_blocking_get_wait),
        cmocka_unit_test(test_queues__test_nonblocking_get),
        cmocka_unit_test(test_queues__test_nonblocking_get_exception),
        cmocka_unit_test(test_queues__test_get_cancelled_race),
        cmocka_unit_test(test_queues__test_cancelled_getters_not_being_held_in_self_getters),
        cmocka_unit_test(test_queues__test_get_cancel_drop_one_pending_reader),
        cmocka_unit_test(test_queues__test_get_with_waiting_putters),
        cmocka_unit_test(test_queues__test_why_are_getters_waiting),
        cmocka_unit_test(test_queues__test_cancelled_getters_not_being_held_in_self_getters_cancel),
        cmocka_unit_test(test_queues__test_blocking_put),
        cmocka_unit_test(test_queues__test_blocking_put_wait),
        cmocka_unit_test(test_queues__test_nonblocking_put),
        cmocka_unit_test(test_queues__test_nonblocking_put_exception),
        cmocka_unit_test(test_queues__test_put_cancel_drop),
        cmocka_unit_test(test_queues__test_cancelled_put_silence_value_error_exception),
        cmocka_unit_test(test_queues__test_put_with_waiting_getters),
        cmocka_unit_test(test_queues__test_why_are_putters_waiting),
        cmocka_unit_test(test_queues__test_cancelled_puts_not_being_held_in_self_putters),
        cmocka_unit_test(test_queues__test_get_cancel_drop_many_pending_readers),
        cmocka_unit_test(test_queues__test_task_done_underflow),
        cmocka_unit_test(test_queues__test_task_done),
        cmocka_unit_test(test_queues__test_join_empty_queue),
        cmocka_unit_test(test_queues__test_shutdown_getters_deque),
        cmocka_unit_test(test_queues__test_shutdown_empty),
        cmocka_unit_test(test_queues__test_shutdown_nonempty),
        cmocka_unit_test(test_queues__test_shutdown_immediate),
        cmocka_unit_test(test_queues__test_shutdown_immediate_all_methods_in_one_task),
        cmocka_unit_test(test_queues__test_shutdown_all_methods_in_one_task),
        cmocka_unit_test(test_queues__test_shutdown_immediate_put_and_join),
        cmocka_unit_test(test_queues__test_shutdown_putters_deque),
        cmocka_unit_test(test_queues__test_shutdown_allowed_transitions),
    };
    return run_suite(tests, NULL, NULL);
}
