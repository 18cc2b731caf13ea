/* test_coop.c - the cooperative budget (WEFT_COOP_BUDGET, weft.h): a task
 * whose calls always complete at once (a queue never empty, a stream with
 * data always buffered, a lock never contended, a finished future) still
 * gives its worker back every WEFT_COOP_BUDGET calls, so a sibling task, a
 * due timer and a cancellation reach it; a stream writer that moves 64
 * KiB a call gives it back after a few hundred KiB (WEFT_COOP_BYTES);
 * consumers of one channel share its items; and a cancelled hog stops at
 * its next yield.
 *
 * Each hog stops by itself after HOG_CAP operations, so that without the
 * budget a test fails on its assertion instead of hanging. Every test runs
 * on one worker (the hog and its sibling share it by construction).
 *
 * Covers: the budget in src/loop.h and src/loop.c, and its hooks in
 * queue.c, chan.c, sync.c, future.c, task.c and stream.c.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOG_CAP 2000000L
/* How many of the hog's calls a sibling may wait for: the budget, twice
 * over for slack (the sibling may have just missed a turn). */
#define BOUND (2L * WEFT_COOP_BUDGET + 8)

typedef struct {
    long ops;           /* the hog's calls so far */
    volatile bool stop; /* the sibling saw enough */
    long seen[4];       /* ops when the sibling ran, turn by turn */
    int turns;
    weft_queue_t *q;
    weft_lock_t *lock;
    weft_future_t *fut;
    weft_stream_t *s;
} hog_t;

/* Runs until told to stop or HOG_CAP, its calls never waiting. */
static int queue_hog(void *arg, void **res)
{
    (void)res;
    hog_t *h = arg;
    void *item;
    while (!h->stop && h->ops < HOG_CAP) {
        int rc = weft_queue_get(h->q, &item);
        if (rc)
            return rc;
        h->ops++;
        if ((rc = weft_queue_put(h->q, item)))
            return rc;
        h->ops++;
    }
    return 0;
}

static int lock_hog(void *arg, void **res)
{
    (void)res;
    hog_t *h = arg;
    while (!h->stop && h->ops < HOG_CAP) {
        int rc = weft_lock_acquire(h->lock);
        if (rc)
            return rc;
        weft_lock_release(h->lock);
        h->ops++;
    }
    return 0;
}

static int future_hog(void *arg, void **res)
{
    (void)res;
    hog_t *h = arg;
    while (!h->stop && h->ops < HOG_CAP) {
        int rc = weft_future_await(h->fut, NULL);
        if (rc)
            return rc;
        h->ops++;
    }
    return 0;
}

/* Reads one byte at a time from a stream with plenty buffered. */
static int stream_hog(void *arg, void **res)
{
    (void)res;
    hog_t *h = arg;
    char c;
    while (!h->stop && h->ops < HOG_CAP) {
        ssize_t r = weft_stream_read(h->s, &c, 1);
        if (r != 1)
            return r < 0 ? (int)r : -EIO;
        h->ops++;
    }
    return 0;
}

/* Notes the hog's count at each of its turns, then stops it. */
static int sibling(void *arg, void **res)
{
    (void)res;
    hog_t *h = arg;
    for (h->turns = 0; h->turns < 4; h->turns++) {
        h->seen[h->turns] = h->ops;
        if (h->ops >= HOG_CAP)
            break;
        weft_yield();
    }
    h->stop = true;
    return 0;
}

/* Spawns hog then sibling, and checks the sibling ran every BOUND calls. */
static void race(hog_t *h, weft_task_fn hog)
{
    weft_task_t *th, *ts;
    assert_int_equal(weft_spawn(&th, hog, h, NULL), 0);
    assert_int_equal(weft_spawn(&ts, sibling, h, NULL), 0);
    assert_int_equal(weft_await(th, NULL), 0);
    assert_int_equal(weft_await(ts, NULL), 0);
    weft_task_release(th);
    weft_task_release(ts);
    assert_int_equal(h->turns, 4);
    long prev = 0;
    for (int i = 0; i < 4; i++) {
        assert_true(h->seen[i] - prev <= BOUND);
        prev = h->seen[i];
    }
}

static int main_queue(void *arg, void **res)
{
    (void)arg, (void)res;
    hog_t h = {0};
    assert_int_equal(weft_queue_create(&h.q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    assert_int_equal(weft_queue_put(h.q, P(1)), 0);
    race(&h, queue_hog);
    void *item;
    assert_int_equal(weft_queue_get(h.q, &item), 0);
    assert_int_equal(weft_queue_destroy(h.q), 0);
    return 0;
}

static void test_coop_queue_hog_lets_sibling_run(void **state)
{
    (void)state;
    run_workers(1, main_queue, NULL);
}

static int main_lock(void *arg, void **res)
{
    (void)arg, (void)res;
    hog_t h = {0};
    assert_int_equal(weft_lock_create(&h.lock), 0);
    race(&h, lock_hog);
    assert_int_equal(weft_lock_destroy(h.lock), 0);
    return 0;
}

static void test_coop_uncontended_lock_hog_lets_sibling_run(void **state)
{
    (void)state;
    run_workers(1, main_lock, NULL);
}

static int main_future(void *arg, void **res)
{
    (void)arg, (void)res;
    hog_t h = {0};
    assert_int_equal(weft_future_create(&h.fut), 0);
    assert_int_equal(weft_future_set_result(h.fut, P(7)), 0);
    race(&h, future_hog);
    assert_int_equal(weft_future_destroy(h.fut), 0);
    return 0;
}

static void test_coop_done_future_hog_lets_sibling_run(void **state)
{
    (void)state;
    run_workers(1, main_future, NULL);
}

/* A socketpair whose reading end holds as much as the kernel takes. */
static size_t fill_pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    int fl = fcntl(fds[1], F_GETFL);
    assert_int_equal(fcntl(fds[1], F_SETFL, fl | O_NONBLOCK), 0);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    size_t total = 0;
    for (;;) {
        ssize_t w = write(fds[1], buf, sizeof buf);
        if (w <= 0)
            break;
        total += (size_t)w;
    }
    return total;
}

static int main_stream(void *arg, void **res)
{
    (void)arg, (void)res;
    hog_t h = {0};
    int fds[2];
    size_t total = fill_pair(fds);
    assert_true(total > (size_t)(8 * BOUND));
    assert_int_equal(weft_stream_open(&h.s, fds[0], NULL), 0);
    race(&h, stream_hog);
    assert_int_equal(weft_stream_close(h.s), 0);
    close(fds[1]);
    return 0;
}

static void test_coop_stream_reader_with_data_lets_sibling_run(void **state)
{
    (void)state;
    run_workers(1, main_stream, NULL);
}

/* Writes 64 KiB and drains, again and again, to a stream whose drain
 * never waits (its high water is far above what the test queues): each
 * round costs the budget 2 calls and 16 units for its bytes
 * (WEFT_COOP_BYTES), so a step moves a few hundred KiB, not 64 rounds
 * (4 MiB: what a TLS download's write loop encrypted per step). */
#define BULK 65536
static int bulk_writer_hog(void *arg, void **res)
{
    (void)res;
    hog_t *h = arg;
    static char chunk[BULK];
    while (!h->stop && h->ops < HOG_CAP) {
        int rc = weft_stream_write(h->s, chunk, sizeof chunk);
        if (rc == 0)
            rc = weft_stream_drain(h->s);
        if (rc)
            return rc;
        h->ops++;
    }
    return 0;
}

static int main_bulk(void *arg, void **res)
{
    (void)arg, (void)res;
    hog_t h = {0};
    int fds[2];
    socket_pair(fds, 0);
    weft_stream_opts_t o = {.high_water = (size_t)1 << 30, .max_pending = SIZE_MAX};
    assert_int_equal(weft_stream_open(&h.s, fds[0], &o), 0);
    weft_task_t *th, *ts;
    assert_int_equal(weft_spawn(&th, bulk_writer_hog, &h, NULL), 0);
    assert_int_equal(weft_spawn(&ts, sibling, &h, NULL), 0);
    assert_int_equal(weft_await(th, NULL), 0);
    assert_int_equal(weft_await(ts, NULL), 0);
    weft_task_release(th);
    weft_task_release(ts);
    assert_int_equal(h.turns, 4);
    /* rounds per step: the budget over a round's cost, twice for slack */
    long per_step = WEFT_COOP_BUDGET / (2 + BULK / WEFT_COOP_BYTES) + 1, prev = 0;
    for (int i = 0; i < 4; i++) {
        assert_true(h.seen[i] - prev <= 2 * per_step);
        prev = h.seen[i];
    }
    assert_int_equal(weft_stream_abort(h.s), 0);
    close(fds[1]);
    return 0;
}

static void test_coop_bulk_stream_writer_yields_by_bytes_moved(void **state)
{
    (void)state;
    run_workers(1, main_bulk, NULL);
}

/* A timer already due fires within a budget of the hog's calls. */
typedef struct {
    hog_t *h;
    long at; /* the hog's count when the sleeper woke */
} sleeper_t;

static int sleeper(void *arg, void **res)
{
    (void)res;
    sleeper_t *s = arg;
    int rc = weft_sleep(WEFT_MSEC(1));
    s->at = s->h->ops;
    s->h->stop = true;
    return rc;
}

static int main_timer(void *arg, void **res)
{
    (void)arg, (void)res;
    hog_t h = {0};
    sleeper_t sl = {.h = &h};
    int fds[2];
    fill_pair(fds);
    assert_int_equal(weft_stream_open(&h.s, fds[0], NULL), 0);
    weft_task_t *ts, *th;
    assert_int_equal(weft_spawn(&ts, sleeper, &sl, NULL), 0);
    settle(); /* the sleeper waits on its timer */
    /* the timer is due before the hog starts */
    int64_t until = weft_now() + WEFT_MSEC(3);
    while (weft_now() < until)
        ;
    long before = h.ops;
    assert_int_equal(weft_spawn(&th, stream_hog, &h, NULL), 0);
    assert_int_equal(weft_await(th, NULL), 0);
    assert_int_equal(weft_await(ts, NULL), 0);
    weft_task_release(th);
    weft_task_release(ts);
    assert_true(sl.at - before <= BOUND);
    assert_int_equal(weft_stream_close(h.s), 0);
    close(fds[1]);
    return 0;
}

static void test_coop_due_timer_fires_beside_stream_hog(void **state)
{
    (void)state;
    run_workers(1, main_timer, NULL);
}

/* A cancelled hog sees -ECANCELED at its next yield. */
static int canceller(void *arg, void **res)
{
    (void)res;
    weft_task_t *t = arg;
    return weft_cancel(t);
}

static int main_cancel(void *arg, void **res)
{
    (void)arg, (void)res;
    hog_t h = {0};
    assert_int_equal(weft_queue_create(&h.q, WEFT_QUEUE_FIFO, 0, NULL), 0);
    assert_int_equal(weft_queue_put(h.q, P(1)), 0);
    weft_task_t *th, *tc;
    assert_int_equal(weft_spawn(&th, queue_hog, &h, NULL), 0);
    assert_int_equal(weft_spawn(&tc, canceller, th, NULL), 0);
    assert_int_equal(weft_await(th, NULL), -ECANCELED);
    assert_int_equal(weft_await(tc, NULL), 0);
    assert_true(h.ops <= 2 * BOUND);
    weft_task_release(th);
    weft_task_release(tc);
    /* the item is in the queue still: the cancelled call took nothing */
    void *item;
    assert_int_equal(weft_queue_try_get(h.q, &item), 0);
    assert_int_equal(weft_queue_destroy(h.q), 0);
    return 0;
}

static void test_coop_cancel_reaches_queue_hog(void **state)
{
    (void)state;
    run_workers(1, main_cancel, NULL);
}

/* Several consumers of one channel share its items. */
#define NCONS 4

typedef struct {
    weft_chan_t *ch;
    long got[NCONS];
    long n;
} share_t;

typedef struct {
    share_t *sh;
    int i;
} cons_t;

static int consumer(void *arg, void **res)
{
    (void)res;
    cons_t *c = arg;
    void *v;
    while (weft_chan_recv(c->sh->ch, &v) == 0)
        c->sh->got[c->i]++;
    return 0;
}

static int producer(void *arg, void **res)
{
    (void)res;
    share_t *sh = arg;
    for (long i = 0; i < sh->n; i++)
        assert_int_equal(weft_chan_send(sh->ch, P(i + 1)), 0);
    return weft_chan_close(sh->ch);
}

static int main_share(void *arg, void **res)
{
    (void)arg, (void)res;
    share_t sh = {.n = 50000};
    cons_t cs[NCONS];
    weft_task_t *t[NCONS + 1];
    assert_int_equal(weft_chan_create(&sh.ch, 1024), 0);
    for (int i = 0; i < NCONS; i++) {
        cs[i] = (cons_t){&sh, i};
        assert_int_equal(weft_spawn(&t[i], consumer, &cs[i], NULL), 0);
    }
    assert_int_equal(weft_spawn(&t[NCONS], producer, &sh, NULL), 0);
    long sum = 0;
    for (int i = 0; i <= NCONS; i++)
        await_release(t[i]);
    for (int i = 0; i < NCONS; i++) {
        sum += sh.got[i];
        /* generous: a fair share is a quarter; none may take 70% */
        assert_true(sh.got[i] < sh.n * 7 / 10);
        assert_true(sh.got[i] > sh.n / 20);
    }
    assert_int_equal(sum, sh.n);
    assert_int_equal(weft_chan_destroy(sh.ch), 0);
    return 0;
}

static void test_coop_channel_consumers_share_items(void **state)
{
    (void)state;
    run_workers(1, main_share, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coop_queue_hog_lets_sibling_run),
        cmocka_unit_test(test_coop_uncontended_lock_hog_lets_sibling_run),
        cmocka_unit_test(test_coop_done_future_hog_lets_sibling_run),
        cmocka_unit_test(test_coop_stream_reader_with_data_lets_sibling_run),
        cmocka_unit_test(test_coop_bulk_stream_writer_yields_by_bytes_moved),
        cmocka_unit_test(test_coop_due_timer_fires_beside_stream_hog),
        cmocka_unit_test(test_coop_cancel_reaches_queue_hog),
        cmocka_unit_test(test_coop_channel_consumers_share_items),
    };
    return run_suite(tests, NULL, NULL);
}
