/* queue.c - FIFO, LIFO and priority queues with maxsize, task_done/join
 * and shutdown (asyncio.Queue and friends, Python 3.13).
 *
 * Owns: the items (a growable ring for FIFO/LIFO, a binary heap of
 * (item, sequence) for priority, so equal items leave in put order), the
 * FIFO lists of waiting getters, putters and joiners, and the counts
 * that keep every item accounted for.
 *
 * Reservations, not hand-over: an item put while getters wait stays in
 * the queue, counted in `res_items`, and the first getter is woken; when
 * it runs it takes an item itself, or, if it was cancelled meanwhile,
 * gives its reservation to the next getter. Rooms work the same way for
 * putters (`res_rooms`). So an item is only ever in the queue or in the
 * hands of a get that returned 0.
 *
 * Invariants: available = n - res_items; getters wait only while
 * available == 0; putters wait only while n + res_rooms >= maxsize; try_get
 * never takes a reserved item and try_put never a reserved room. After an
 * immediate shutdown (`dropped`) res_items and res_rooms are 0 and woken
 * waiters return -EPIPE without touching them; after any shutdown no new
 * reservation is made.
 *
 * Hot path: a put or get that does not wait is O(1) (O(log n) for a
 * priority queue), allocates nothing once the storage has grown, reads
 * no clock and makes no system call.
 */
#include "worker.h"

#include <stdlib.h>
#include <string.h>

static const weft__wait_kind_t wait_kind = {.name = "a queue"};

typedef struct {
    void *item;
    uint64_t seq;
} pent_t;

struct weft_queue {
    weft__spin_t mu;
    weft__loop_t *loop;
    int kind;
    size_t maxsize;
    int (*cmp)(const void *, const void *);
    /* storage: ring (FIFO/LIFO) or heap (priority) */
    void **ring;
    pent_t *heap;
    size_t cap, head, n;
    uint64_t seq;
    size_t res_items, res_rooms;
    size_t unfinished;
    uint32_t busy;
    bool shutdown, dropped;
    weft__wlist_t getters, putters, joiners;
};

int weft_queue_create(weft_queue_t **out, int kind, size_t maxsize,
                      int (*cmp)(const void *, const void *))
{
    if (!out || kind < WEFT_QUEUE_FIFO || kind > WEFT_QUEUE_PRIORITY)
        return -EINVAL;
    if (kind == WEFT_QUEUE_PRIORITY && !cmp)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_queue_t *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->loop = L;
    q->kind = kind;
    q->maxsize = maxsize;
    q->cmp = kind == WEFT_QUEUE_PRIORITY ? cmp : NULL;
    *out = q;
    return 0;
}

/* ---- storage ---- */

static int grow(weft_queue_t *q)
{
    size_t ncap = q->cap ? q->cap * 2 : 16;
    if (q->maxsize && ncap > q->maxsize)
        ncap = q->maxsize > q->cap ? q->maxsize : q->cap + 1;
    if (q->kind == WEFT_QUEUE_PRIORITY) {
        pent_t *h = realloc(q->heap, ncap * sizeof *h);
        if (!h)
            return -ENOMEM;
        q->heap = h;
    } else {
        void **r = malloc(ncap * sizeof *r);
        if (!r)
            return -ENOMEM;
        for (size_t i = 0; i < q->n; i++)
            r[i] = q->ring[(q->head + i) % q->cap];
        free(q->ring);
        q->ring = r;
        q->head = 0;
    }
    q->cap = ncap;
    return 0;
}

static inline bool before(const weft_queue_t *q, const pent_t *a, const pent_t *b)
{
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

/* Stores item; the caller checked there is room (maxsize). */
static int store(weft_queue_t *q, void *item)
{
    if (WEFT_UNLIKELY(q->n == q->cap)) {
        int rc = grow(q);
        if (rc < 0)
            return rc;
    }
    if (q->kind != WEFT_QUEUE_PRIORITY) {
        size_t i = q->head + q->n;
        if (i >= q->cap)
            i -= q->cap;
        q->ring[i] = item;
    } else {
        pent_t e = {item, q->seq++};
        size_t i = q->n;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!before(q, &e, &q->heap[p]))
                break;
            q->heap[i] = q->heap[p];
            i = p;
        }
        q->heap[i] = e;
    }
    q->n++;
    q->unfinished++;
    return 0;
}

/* Takes the next item; the caller checked there is one. */
static void *take(weft_queue_t *q)
{
    void *item;
    q->n--;
    if (q->kind == WEFT_QUEUE_FIFO) {
        item = q->ring[q->head];
        if (++q->head == q->cap)
            q->head = 0;
    } else if (q->kind == WEFT_QUEUE_LIFO) {
        size_t i = q->head + q->n;
        if (i >= q->cap)
            i -= q->cap;
        item = q->ring[i];
    } else {
        item = q->heap[0].item;
        pent_t last = q->heap[q->n];
        size_t i = 0, n = q->n;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && before(q, &q->heap[c + 1], &q->heap[c]))
                c++;
            if (!before(q, &q->heap[c], &last))
                break;
            q->heap[i] = q->heap[c];
            i = c;
        }
        if (n > 0)
            q->heap[i] = last;
    }
    return item;
}

static inline bool is_full(const weft_queue_t *q)
{
    return q->maxsize && q->n + q->res_rooms >= q->maxsize;
}

static inline size_t available(const weft_queue_t *q)
{
    return q->n - q->res_items;
}

/* Promises available items to waiting getters, first come first served.
 * Every put calls it: an empty list is the common case and costs one
 * load, not a call. */
static __attribute__((noinline)) void feed_getters_slow(weft_queue_t *q)
{
    weft__waiter_t *w;
    while (available(q) > 0 && (w = weft__wlist_take(&q->getters))) {
        q->res_items++;
        weft__deliver(w->task, 0);
    }
}

static inline void feed_getters(weft_queue_t *q)
{
    if (WEFT_UNLIKELY(q->getters.head != NULL))
        feed_getters_slow(q);
}

/* Promises free rooms to waiting putters (every get calls it, as above). */
static __attribute__((noinline)) void feed_putters_slow(weft_queue_t *q)
{
    weft__waiter_t *w;
    while (!is_full(q) && (w = weft__wlist_take(&q->putters))) {
        q->res_rooms++;
        weft__deliver(w->task, 0);
    }
}

static inline void feed_putters(weft_queue_t *q)
{
    if (WEFT_UNLIKELY(q->putters.head != NULL))
        feed_putters_slow(q);
}

static void wake_all(weft__wlist_t *l, int status)
{
    weft__waiter_t *w;
    while ((w = weft__wlist_take(l)))
        weft__deliver(w->task, status);
}

static void unpark_waiter(weft_task_t *t)
{
    weft_queue_t *q = (weft_queue_t *)t->b->wait_obj;
    WEFT__LOCK(&q->mu);
    weft__wlist_remove(&t->b->waiter);
    if (weft__discarding(t))
        q->busy--;
}

/* ---- put ---- */

static int put_now(weft_queue_t *q, void *item)
{
    int rc = store(q, item);
    if (rc == 0)
        feed_getters(q);
    return rc;
}

int weft_queue_put(weft_queue_t *q, void *item)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!q)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&q->mu);
    if (q->shutdown)
        return -EPIPE;
    if (!is_full(q) && !weft__wlist_waiting(&q->putters))
        return put_now(q, item);
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__wlist_push(&q->putters, &self->b->waiter);
    q->busy++;
    rc = weft__park(self, &wait_kind, q, unpark_waiter, WEFT_FOREVER, &weft__lk);
    if (rc == 0) {
        /* woken with a room promised to us */
        if (q->shutdown) {
            rc = -EPIPE; /* shutdown cleared the promise */
        } else {
            q->res_rooms--;
            if (weft__cancel_req(self) && !self->b->nocancel)
                rc = -ECANCELED;
            else
                rc = put_now(q, item);
            if (rc < 0)
                feed_putters(q); /* pass the room on */
        }
    }
    q->busy--;
    return rc;
}

int weft_queue_try_put(weft_queue_t *q, void *item)
{
    if (!q)
        return -EINVAL;
    WEFT__LOCK(&q->mu);
    if (q->shutdown)
        return -EPIPE;
    if (is_full(q) || weft__wlist_waiting(&q->putters))
        return -EAGAIN;
    return put_now(q, item);
}

/* ---- get ---- */

static void *get_now(weft_queue_t *q)
{
    void *item = take(q);
    feed_putters(q);
    return item;
}

int weft_queue_get(weft_queue_t *q, void **item)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!q || !item)
        return -EINVAL;
    WEFT__COOP();
    WEFT__LOCK(&q->mu);
    if (available(q) > 0 && !weft__wlist_waiting(&q->getters)) {
        *item = get_now(q);
        return 0;
    }
    if (q->shutdown)
        return -EPIPE;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__wlist_push(&q->getters, &self->b->waiter);
    q->busy++;
    rc = weft__park(self, &wait_kind, q, unpark_waiter, WEFT_FOREVER, &weft__lk);
    if (rc == 0) {
        /* woken with an item promised to us */
        if (q->dropped) {
            rc = -EPIPE; /* an immediate shutdown dropped it */
        } else {
            q->res_items--;
            if (weft__cancel_req(self) && !self->b->nocancel) {
                feed_getters(q); /* the item stays: for the next getter */
                rc = -ECANCELED;
            } else {
                *item = get_now(q);
            }
        }
    }
    q->busy--;
    return rc;
}

int weft_queue_try_get(weft_queue_t *q, void **item)
{
    if (!q || !item)
        return -EINVAL;
    WEFT__LOCK(&q->mu);
    if (available(q) == 0 || weft__wlist_waiting(&q->getters))
        return q->shutdown && available(q) == 0 ? -EPIPE : -EAGAIN;
    *item = get_now(q);
    return 0;
}

/* ---- state ---- */

size_t weft_queue_size(const weft_queue_t *q)
{
    if (!q)
        return 0;
    WEFT__LOCK((weft__spin_t *)&q->mu);
    return q->n;
}

bool weft_queue_empty(const weft_queue_t *q)
{
    if (!q)
        return true;
    WEFT__LOCK((weft__spin_t *)&q->mu);
    return available(q) == 0;
}

bool weft_queue_full(const weft_queue_t *q)
{
    if (!q)
        return false;
    WEFT__LOCK((weft__spin_t *)&q->mu);
    return is_full(q) || weft__wlist_waiting(&q->putters);
}

/* ---- task_done / join ---- */

int weft_queue_task_done(weft_queue_t *q)
{
    if (!q)
        return -EINVAL;
    WEFT__LOCK(&q->mu);
    if (q->unfinished == 0)
        return -EOVERFLOW;
    if (--q->unfinished == 0)
        wake_all(&q->joiners, 0);
    return 0;
}

int weft_queue_join(weft_queue_t *q)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!q)
        return -EINVAL;
    WEFT__LOCK(&q->mu);
    if (q->unfinished == 0)
        return 0;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__wlist_push(&q->joiners, &self->b->waiter);
    q->busy++;
    rc = weft__park(self, &wait_kind, q, unpark_waiter, WEFT_FOREVER, &weft__lk);
    q->busy--;
    return rc;
}

/* ---- shutdown ---- */

int weft_queue_shutdown(weft_queue_t *q, bool immediate, void (*drop)(void *item))
{
    if (!q)
        return -EINVAL;
    WEFT__LOCK(&q->mu);
    q->shutdown = true;
    q->res_rooms = 0; /* woken putters see `shutdown` and fail */
    if (immediate) {
        q->dropped = true;
        q->res_items = 0; /* woken getters see `dropped` and fail */
        while (q->n > 0) {
            void *item = take(q);
            if (q->unfinished > 0)
                q->unfinished--;
            if (drop)
                drop(item);
        }
        if (q->unfinished == 0)
            wake_all(&q->joiners, 0);
    }
    wake_all(&q->putters, -EPIPE);
    /* waiting getters find nothing: available is 0 while they wait */
    wake_all(&q->getters, -EPIPE);
    return 0;
}

int weft_queue_destroy(weft_queue_t *q)
{
    if (!q)
        return -EINVAL;
    {
        WEFT__LOCK(&q->mu);
        if (q->busy || q->getters.head || q->putters.head || q->joiners.head)
            return -EBUSY;
    }
    free(q->ring);
    free(q->heap);
    free(q);
    return 0;
}
