/* chan.c - Go-style channels of void * values, and select.
 *
 * Owns: a channel's buffer (a ring of cap values), its FIFO lists of
 * waiting senders and receivers, and select's waiter blocks.
 *
 * Hand-over: a value goes straight from a sender to a waiting receiver
 * (into the receiver's record), or from a waiting sender's record into a
 * receiver; the operation is complete for both at that moment, and the
 * woken side returns 0 even if it is cancelled before it runs. A waiter
 * that is interrupted (cancelled, timed out) was unlinked first and took
 * part in nothing.
 *
 * Waiter records: a plain send or recv parks with its task's own record
 * (t->waiter; slot = the value to send, or the value received; aux = 0).
 * A select parks with N records in one heap block (sel_t), one per case,
 * each linked on its channel's send or receive list; their aux points to
 * the block. Whoever claims the task through one record (wait.h) marks
 * the block fired with that case and wakes the task; the other records
 * cannot be claimed any more and stay where they are until the task,
 * awake, takes each off under its channel's lock (and so does an
 * interrupted select, before it runs). So a list holds both kinds.
 *
 * Locks: each channel has its own. A select takes the locks of all its
 * channels, in address order, only to look at them and link its records;
 * everything else holds one channel's lock at a time.
 *
 * Invariants: receivers wait only while the buffer is empty; senders wait
 * only while it is full (always, for an unbuffered channel); a closed
 * channel has no waiter.
 */
#include "worker.h"

#include <stdlib.h>
#include <string.h>

static const weft__wait_kind_t wait_kind = {.name = "a channel"};

struct weft_chan {
    weft__spin_t mu;
    weft__loop_t *loop;
    size_t cap, head, n;
    void **buf;
    bool closed;
    weft__wlist_t senders, receivers;
    /* Fair shares between consumers: the task that received last without
     * waiting, how many times in a row, and whether more than one task
     * has received here. Once several have, a receiver that took
     * CHAN_STREAK values in a row yields before its next one, so the
     * first consumer to run after a burst does not drain the buffer while
     * its siblings, woken with one value each, wait behind it. Written
     * under the channel's lock (or by its one worker), read at entry
     * without it. */
    const weft_task_t *rx_last;
    uint32_t rx_streak;
    bool rx_many;
};

#define CHAN_STREAK (WEFT_COOP_BUDGET / 8)

typedef struct sel {
    weft_task_t *task;
    long fired; /* the index of the case that completed, -1 while none */
    int status;
    size_t n;
    weft_chan_t **chs; /* chs[i]: case i's channel (in this block, after recs) */
    weft__waiter_t recs[];
} sel_t;

int weft_chan_create(weft_chan_t **out, size_t cap)
{
    if (!out || cap > SIZE_MAX / sizeof(void *))
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_chan_t *ch = calloc(1, sizeof *ch);
    if (!ch)
        return -ENOMEM;
    if (cap) {
        ch->buf = malloc(cap * sizeof *ch->buf);
        if (!ch->buf) {
            free(ch);
            return -ENOMEM;
        }
    }
    ch->loop = L;
    ch->cap = cap;
    *out = ch;
    return 0;
}

/* ---- waiters ---- */

/* Completes a waiter the caller took off its list (claimed: wait.h): a
 * receiver gets `value` (a sender's value stays where it is), with
 * `status`. The channel's lock is held. */
static void complete(weft__waiter_t *w, void *value, bool is_recv, int status)
{
    sel_t *s = (sel_t *)w->aux;
    if (is_recv)
        w->slot = value;
    if (!s) {
        weft__deliver(w->task, status);
        return;
    }
    s->fired = (long)(w - s->recs);
    s->status = status;
    weft__deliver(s->task, 0);
}

static void unpark_plain(weft_task_t *t)
{
    weft_chan_t *ch = (weft_chan_t *)t->b->wait_obj;
    WEFT__LOCK(&ch->mu);
    weft__wlist_remove(&t->b->waiter);
}

static void sel_unlink(sel_t *s);

static void unpark_select(weft_task_t *t)
{
    sel_t *s = t->b->waiter.slot;
    sel_unlink(s);
}

/* ---- the operations that do not wait ---- */

static inline bool can_send(const weft_chan_t *ch)
{
    return ch->n < ch->cap || weft__wlist_waiting(&ch->receivers);
}

static inline bool can_recv(const weft_chan_t *ch)
{
    return ch->n > 0 || weft__wlist_waiting(&ch->senders);
}

/* Sends v if it can go now (!closed checked): to a waiting receiver, else
 * into the buffer. False when neither (a receiver it saw was claimed by
 * an interrupter meanwhile). */
static bool send_now(weft_chan_t *ch, void *v)
{
    weft__waiter_t *r = weft__wlist_take(&ch->receivers);
    if (r) {
        complete(r, v, true, 0);
        return true;
    }
    if (ch->n == ch->cap)
        return false;
    size_t i = ch->head + ch->n;
    if (i >= ch->cap)
        i -= ch->cap;
    ch->buf[i] = v;
    __atomic_store_n(&ch->n, ch->n + 1, __ATOMIC_RELAXED);
    return true;
}

/* Receives into *v if a value is there now, from the buffer (a waiting
 * sender's value then takes the room) or from a waiting sender. */
static bool recv_now(weft_chan_t *ch, void **v)
{
    if (ch->n > 0) {
        *v = ch->buf[ch->head];
        if (++ch->head == ch->cap)
            ch->head = 0;
        __atomic_store_n(&ch->n, ch->n - 1, __ATOMIC_RELAXED);
        weft__waiter_t *s = weft__wlist_take(&ch->senders);
        if (s) { /* its value takes the room */
            size_t i = ch->head + ch->n;
            if (i >= ch->cap)
                i -= ch->cap;
            ch->buf[i] = s->slot;
            __atomic_store_n(&ch->n, ch->n + 1, __ATOMIC_RELAXED);
            complete(s, NULL, false, 0);
        }
        return true;
    }
    weft__waiter_t *s = weft__wlist_take(&ch->senders);
    if (!s)
        return false;
    *v = s->slot;
    complete(s, NULL, false, 0);
    return true;
}

/* ---- send / recv ---- */

/* lk: the channel's lock, held (NULL with one worker, so that the park
 * stays a tail call into the switch: "No ret after a switch" in
 * docs/design.md). */
static inline __attribute__((always_inline)) int chan_send(weft_task_t *self, weft_chan_t *ch,
                                                           void *v, weft__lk_t *lk)
{
    if (ch->closed)
        return -EPIPE;
    if (send_now(ch, v))
        return 0;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    self->b->waiter.slot = v;
    self->b->waiter.aux = 0;
    weft__wlist_push(&ch->senders, &self->b->waiter);
    return weft__park_out(self, &wait_kind, ch, unpark_plain, WEFT_FOREVER, lk);
}

/* chan_send under the channel's lock (several workers). Out of line, so
 * that the one-worker path needs no frame for the guard. */
static __attribute__((noinline)) int chan_send_locked(weft_task_t *self, weft_chan_t *ch, void *v)
{
    WEFT__LOCK(&ch->mu);
    return chan_send(self, ch, v, &weft__lk);
}

int weft_chan_send(weft_chan_t *ch, void *v)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!ch)
        return -EINVAL;
    WEFT__COOP();
    if (WEFT_UNLIKELY(weft__multi_now()))
        return chan_send_locked(self, ch, v);
    return chan_send(self, ch, v, NULL);
}

/* A receive by self completed (a heuristic: after a wait it runs
 * without the lock, and a lost update only moves a yield). */
static inline void rx_note(weft_chan_t *ch, const weft_task_t *self)
{
    const weft_task_t *last = __atomic_load_n(&ch->rx_last, __ATOMIC_RELAXED);
    if (WEFT_LIKELY(last == self)) {
        uint32_t n = __atomic_load_n(&ch->rx_streak, __ATOMIC_RELAXED);
        __atomic_store_n(&ch->rx_streak, n + 1, __ATOMIC_RELAXED);
        return;
    }
    if (last)
        __atomic_store_n(&ch->rx_many, true, __ATOMIC_RELAXED);
    __atomic_store_n(&ch->rx_last, self, __ATOMIC_RELAXED);
    __atomic_store_n(&ch->rx_streak, 1, __ATOMIC_RELAXED);
}

static inline __attribute__((always_inline)) int chan_recv(weft_task_t *self, weft_chan_t *ch,
                                                           void **v, weft__lk_t *lk)
{
    if (recv_now(ch, v)) {
        rx_note(ch, self);
        return 0;
    }
    if (ch->closed)
        return -EPIPE;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    self->b->waiter.slot = NULL;
    self->b->waiter.aux = 0;
    weft__wlist_push(&ch->receivers, &self->b->waiter);
    rc = weft__park_out(self, &wait_kind, ch, unpark_plain, WEFT_FOREVER, lk);
    if (rc == 0) {
        *v = self->b->waiter.slot; /* our own record: no lock needed */
        rx_note(ch, self);
    }
    return rc;
}

/* chan_recv under the channel's lock (several workers), out of line as
 * chan_send_locked is. */
static __attribute__((noinline)) int chan_recv_locked(weft_task_t *self, weft_chan_t *ch, void **v)
{
    WEFT__LOCK(&ch->mu);
    return chan_recv(self, ch, v, &weft__lk);
}

int weft_chan_recv(weft_chan_t *ch, void **v)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!ch || !v)
        return -EINVAL;
    WEFT__COOP();
    if (WEFT_UNLIKELY(__atomic_load_n(&ch->rx_many, __ATOMIC_RELAXED)) &&
        __atomic_load_n(&ch->rx_last, __ATOMIC_RELAXED) == self &&
        __atomic_load_n(&ch->rx_streak, __ATOMIC_RELAXED) >= CHAN_STREAK) {
        __atomic_store_n(&ch->rx_streak, 0, __ATOMIC_RELAXED);
        int rc = weft__coop_yield(); /* its siblings' turn (rx_last) */
        if (rc)
            return rc;
    }
    if (WEFT_UNLIKELY(weft__multi_now()))
        return chan_recv_locked(self, ch, v);
    return chan_recv(self, ch, v, NULL);
}

int weft_chan_try_send(weft_chan_t *ch, void *v)
{
    if (!ch)
        return -EINVAL;
    WEFT__LOCK(&ch->mu);
    if (ch->closed)
        return -EPIPE;
    return send_now(ch, v) ? 0 : -EAGAIN;
}

int weft_chan_try_recv(weft_chan_t *ch, void **v)
{
    if (!ch || !v)
        return -EINVAL;
    WEFT__LOCK(&ch->mu);
    if (recv_now(ch, v))
        return 0;
    return ch->closed ? -EPIPE : -EAGAIN;
}

int weft_chan_close(weft_chan_t *ch)
{
    if (!ch)
        return -EINVAL;
    weft__batch_begin(); /* every waiter wakes: one post per worker */
    {
        WEFT__LOCK(&ch->mu);
        if (ch->closed) {
            weft__lk_drop(&weft__lk);
            weft__batch_end();
            return -EALREADY;
        }
        ch->closed = true;
        weft__waiter_t *w;
        while ((w = weft__wlist_take(&ch->senders)))
            complete(w, NULL, false, -EPIPE);
        while ((w = weft__wlist_take(&ch->receivers)))
            complete(w, NULL, true, -EPIPE);
    }
    weft__batch_end();
    return 0;
}

size_t weft_chan_len(const weft_chan_t *ch)
{
    return ch ? __atomic_load_n(&ch->n, __ATOMIC_RELAXED) : 0;
}

size_t weft_chan_cap(const weft_chan_t *ch)
{
    return ch ? ch->cap : 0;
}

int weft_chan_destroy(weft_chan_t *ch)
{
    if (!ch)
        return -EINVAL;
    {
        WEFT__LOCK(&ch->mu);
        if (ch->senders.head || ch->receivers.head)
            return -EBUSY;
    }
    free(ch->buf);
    free(ch);
    return 0;
}

/* ---- select ---- */

static __thread uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    if (WEFT_UNLIKELY(x == 0))
        x = (uint64_t)weft_now() ^ (uint64_t)(uintptr_t)&rng_state ^ 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

/* Is case c ready now (closed counts: it completes with -EPIPE)? Its
 * channel's lock is held. */
static bool case_ready(const weft_select_case_t *c)
{
    if (!c->ch)
        return false;
    if (c->ch->closed)
        return true;
    return c->op == WEFT_SELECT_SEND ? can_send(c->ch) : can_recv(c->ch);
}

/* Performs case c if it can proceed; false if it cannot after all. */
static bool case_do(weft_select_case_t *c)
{
    weft_chan_t *ch = c->ch;
    if (c->op == WEFT_SELECT_SEND) {
        if (ch->closed) {
            c->status = -EPIPE;
            return true;
        }
        if (!send_now(ch, c->value))
            return false;
        c->status = 0;
        return true;
    }
    if (recv_now(ch, &c->value)) {
        c->status = 0;
        return true;
    }
    if (!ch->closed)
        return false;
    c->value = NULL;
    c->status = -EPIPE;
    return true;
}

/* The distinct channels of the cases, in address order (the order their
 * locks are taken in); returns how many. */
static size_t sel_channels(const weft_select_case_t *cases, size_t n, weft_chan_t **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        weft_chan_t *ch = cases[i].ch;
        if (!ch)
            continue;
        size_t j = k;
        while (j > 0 && out[j - 1] > ch)
            j--;
        if (j > 0 && out[j - 1] == ch)
            continue;
        memmove(out + j + 1, out + j, (k - j) * sizeof *out);
        out[j] = ch;
        k++;
    }
    return k;
}

static void lock_all(weft_chan_t **chs, size_t k, weft__lk_t *lks)
{
    for (size_t i = 0; i < k; i++)
        lks[i] = weft__lk_take(&chs[i]->mu);
}

static void unlock_all(weft__lk_t *lks, size_t k)
{
    for (size_t i = k; i-- > 0;)
        weft__lk_drop(&lks[i]);
}

/* Takes the block's records off their channels, each under its lock. */
static void sel_unlink(sel_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        weft__waiter_t *w = &s->recs[i];
        if (!s->chs[i])
            continue;
        WEFT__LOCK(&s->chs[i]->mu);
        weft__wlist_remove(w);
    }
}

/* One look at every case with all their channels locked: performs a
 * ready one (picked at random) and returns its index, or -EAGAIN. */
static int sel_try(weft_select_case_t *cases, size_t n)
{
    for (;;) {
        size_t nready = 0;
        for (size_t i = 0; i < n; i++)
            if (case_ready(&cases[i]))
                nready++;
        if (nready == 0)
            return -EAGAIN;
        size_t k = (size_t)(rng_next() % nready);
        for (size_t i = 0; i < n; i++) {
            if (case_ready(&cases[i]) && k-- == 0) {
                if (case_do(&cases[i]))
                    return (int)i;
                break; /* a waiter it counted on was interrupted: look again */
            }
        }
    }
}

int weft_select(weft_select_case_t *cases, size_t n, int64_t timeout_ns)
{
    if (!cases || n == 0 || n > INT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (cases[i].op != WEFT_SELECT_SEND && cases[i].op != WEFT_SELECT_RECV)
            return -EINVAL;
    weft_task_t *self = weft__task();
    /* the block holds the records, the sorted channels and their locks */
    sel_t *s = malloc(sizeof *s +
                      n * (sizeof s->recs[0] + sizeof(weft_chan_t *) * 2 + sizeof(weft__lk_t)));
    if (!s)
        return -ENOMEM;
    s->chs = (weft_chan_t **)(s->recs + n);
    weft_chan_t **sorted = s->chs + n;
    weft__lk_t *lks = (weft__lk_t *)(sorted + n);
    size_t k = sel_channels(cases, n, sorted);
    lock_all(sorted, k, lks);
    int rc = sel_try(cases, n);
    /* a timeout of 0 or less has expired: no wait, the answer is -EAGAIN */
    if (rc != -EAGAIN || timeout_ns <= 0 || !self || (rc = weft__wait_check(self)) != 0) {
        unlock_all(lks, k);
        free(s);
        return rc == -EAGAIN && timeout_ns > 0 && !self ? -WEFT_ENOTASK : rc;
    }
    int64_t until = weft__timeout_until(weft_now(), timeout_ns);
    s->task = self;
    s->fired = -1;
    s->status = 0;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        weft__waiter_t *w = &s->recs[i];
        w->prev = w->next = NULL;
        w->list = NULL;
        w->task = self;
        w->notify = NULL;
        w->aux = (uintptr_t)s;
        w->slot = cases[i].value;
        s->chs[i] = cases[i].ch;
        if (!cases[i].ch)
            continue;
        weft__wlist_push(
            cases[i].op == WEFT_SELECT_SEND ? &cases[i].ch->senders : &cases[i].ch->receivers, w);
    }
    self->b->waiter.slot = s;
    /* claimable from here; nobody can wake the task before it switches
     * out (a waker on this worker cannot run, one elsewhere posts) */
    self->several = 1;
    weft__park_open(self, &wait_kind, s, unpark_select, until);
    unlock_all(lks, k);
    rc = weft__park_opened(self);
    self->several = 0;
    sel_unlink(s); /* the records a waker did not take */
    if (rc == 0) {
        if (s->fired >= 0) {
            weft_select_case_t *c = &cases[s->fired];
            c->status = s->status;
            if (c->op == WEFT_SELECT_RECV)
                c->value = s->recs[s->fired].slot;
            rc = (int)s->fired;
        } else {
            rc = -ETIMEDOUT; /* our own timeout */
        }
    }
    free(s);
    return rc;
}
