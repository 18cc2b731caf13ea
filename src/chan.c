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
 * the block. Whoever completes one record first marks the block fired,
 * unlinks all its records and wakes the task, which copies the result
 * into its cases itself. So a list holds both kinds, and a fired block
 * has no record left on any list.
 *
 * Invariants: receivers wait only while the buffer is empty; senders wait
 * only while it is full (always, for an unbuffered channel); a closed
 * channel has no waiter.
 */
#include "worker.h"

#include <stdlib.h>

static const weft__wait_kind_t wait_kind = {.name = "a channel"};

struct weft_chan {
    weft__loop_t *loop;
    size_t cap, head, n;
    void **buf;
    bool closed;
    weft__wlist_t senders, receivers;
};

typedef struct sel {
    weft_task_t *task;
    long fired; /* the index of the case that completed, -1 while none */
    int status;
    size_t n;
    weft__waiter_t recs[];
} sel_t;

int weft_chan_create(weft_chan_t **out, size_t cap)
{
    WEFT__GUARD();
    if (!out || cap > SIZE_MAX / sizeof(void *))
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -EPERM;
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

/* Completes a waiter already popped off its list: a receiver gets `value`
 * (a sender's value stays where it is), with `status`. */
static void complete(weft__waiter_t *w, void *value, bool is_recv, int status)
{
    sel_t *s = (sel_t *)w->aux;
    if (is_recv)
        w->slot = value;
    if (!s) {
        weft__wake(w->task, status);
        return;
    }
    s->fired = (long)(w - s->recs);
    s->status = status;
    for (size_t i = 0; i < s->n; i++)
        weft__wlist_remove(&s->recs[i]);
    weft__wake(s->task, 0);
}

static void unpark_plain(weft_task_t *t)
{
    weft__wlist_remove(&t->b->waiter);
}

static void unpark_select(weft_task_t *t)
{
    sel_t *s = t->b->waiter.slot;
    for (size_t i = 0; i < s->n; i++)
        weft__wlist_remove(&s->recs[i]);
}

/* ---- the operations that do not wait ---- */

static inline bool can_send(const weft_chan_t *ch)
{
    return ch->receivers.head || ch->n < ch->cap;
}

static inline bool can_recv(const weft_chan_t *ch)
{
    return ch->n > 0 || ch->senders.head;
}

/* The caller checked can_send and !closed. */
static void send_now(weft_chan_t *ch, void *v)
{
    weft__waiter_t *r = weft__wlist_pop(&ch->receivers);
    if (r) {
        complete(r, v, true, 0);
        return;
    }
    size_t i = ch->head + ch->n;
    if (i >= ch->cap)
        i -= ch->cap;
    ch->buf[i] = v;
    ch->n++;
}

/* The caller checked can_recv. */
static void *recv_now(weft_chan_t *ch)
{
    void *v;
    if (ch->n > 0) {
        v = ch->buf[ch->head];
        if (++ch->head == ch->cap)
            ch->head = 0;
        ch->n--;
        weft__waiter_t *s = weft__wlist_pop(&ch->senders);
        if (s) { /* its value takes the room */
            size_t i = ch->head + ch->n;
            if (i >= ch->cap)
                i -= ch->cap;
            ch->buf[i] = s->slot;
            ch->n++;
            complete(s, NULL, false, 0);
        }
    } else {
        weft__waiter_t *s = weft__wlist_pop(&ch->senders);
        v = s->slot;
        complete(s, NULL, false, 0);
    }
    return v;
}

/* ---- send / recv ---- */

static int chan_send(weft_chan_t *ch, void *v)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!ch)
        return -EINVAL;
    if (ch->closed)
        return -EPIPE;
    if (can_send(ch)) {
        send_now(ch, v);
        return 0;
    }
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    self->b->waiter.slot = v;
    self->b->waiter.aux = 0;
    weft__wlist_push(&ch->senders, &self->b->waiter);
    return weft__park(self, &wait_kind, ch, unpark_plain, WEFT_FOREVER);
}

/* Without the guard's cleanup on the one-worker path, the park above stays
 * a tail call into the switch ("No ret after a switch" in docs/design.md). */
int weft_chan_send(weft_chan_t *ch, void *v)
{
    if (WEFT_UNLIKELY(atomic_load_explicit(&weft__multi, memory_order_relaxed))) {
        WEFT__GUARD();
        return chan_send(ch, v);
    }
    return chan_send(ch, v);
}

int weft_chan_recv(weft_chan_t *ch, void **v)
{
    WEFT__GUARD();
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    if (!ch || !v)
        return -EINVAL;
    if (can_recv(ch)) {
        *v = recv_now(ch);
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
    rc = weft__park(self, &wait_kind, ch, unpark_plain, WEFT_FOREVER);
    if (rc == 0)
        *v = self->b->waiter.slot;
    return rc;
}

int weft_chan_try_send(weft_chan_t *ch, void *v)
{
    WEFT__GUARD();
    if (!ch)
        return -EINVAL;
    if (ch->closed)
        return -EPIPE;
    if (!can_send(ch))
        return -EAGAIN;
    send_now(ch, v);
    return 0;
}

int weft_chan_try_recv(weft_chan_t *ch, void **v)
{
    WEFT__GUARD();
    if (!ch || !v)
        return -EINVAL;
    if (can_recv(ch)) {
        *v = recv_now(ch);
        return 0;
    }
    return ch->closed ? -EPIPE : -EAGAIN;
}

int weft_chan_close(weft_chan_t *ch)
{
    WEFT__GUARD();
    if (!ch)
        return -EINVAL;
    if (ch->closed)
        return -EALREADY;
    ch->closed = true;
    weft__waiter_t *w;
    while ((w = weft__wlist_pop(&ch->senders)))
        complete(w, NULL, false, -EPIPE);
    while ((w = weft__wlist_pop(&ch->receivers)))
        complete(w, NULL, true, -EPIPE);
    return 0;
}

size_t weft_chan_len(const weft_chan_t *ch)
{
    WEFT__GUARD();
    return ch ? ch->n : 0;
}

size_t weft_chan_cap(const weft_chan_t *ch)
{
    WEFT__GUARD();
    return ch ? ch->cap : 0;
}

int weft_chan_destroy(weft_chan_t *ch)
{
    WEFT__GUARD();
    if (!ch)
        return -EINVAL;
    if (ch->senders.head || ch->receivers.head)
        return -EBUSY;
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

/* Is case c ready now (closed counts: it completes with -EPIPE)? */
static bool case_ready(const weft_select_case_t *c)
{
    if (!c->ch)
        return false;
    if (c->ch->closed)
        return true;
    return c->op == WEFT_SELECT_SEND ? can_send(c->ch) : can_recv(c->ch);
}

/* Performs ready case c. */
static void case_do(weft_select_case_t *c)
{
    weft_chan_t *ch = c->ch;
    if (c->op == WEFT_SELECT_SEND) {
        if (ch->closed) {
            c->status = -EPIPE;
        } else {
            send_now(ch, c->value);
            c->status = 0;
        }
    } else if (can_recv(ch)) {
        c->value = recv_now(ch);
        c->status = 0;
    } else {
        c->value = NULL;
        c->status = -EPIPE;
    }
}

int weft_select(weft_select_case_t *cases, size_t n, int64_t timeout_ns)
{
    WEFT__GUARD();
    if (!cases || n == 0 || n > INT32_MAX)
        return -EINVAL;
    size_t nready = 0;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].op != WEFT_SELECT_SEND && cases[i].op != WEFT_SELECT_RECV)
            return -EINVAL;
        if (case_ready(&cases[i]))
            nready++;
    }
    if (nready > 0) {
        size_t k = (size_t)(rng_next() % nready);
        for (size_t i = 0; i < n; i++) {
            if (case_ready(&cases[i]) && k-- == 0) {
                case_do(&cases[i]);
                return (int)i;
            }
        }
    }
    if (timeout_ns == 0)
        return -EAGAIN;
    weft_task_t *self = weft__task();
    if (!self)
        return -EPERM;
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    int64_t until = WEFT_FOREVER;
    if (timeout_ns > 0) {
        int64_t now = weft_now();
        until = timeout_ns >= WEFT_FOREVER - now ? WEFT_FOREVER - 1 : now + timeout_ns;
    }
    sel_t *s = malloc(sizeof *s + n * sizeof s->recs[0]);
    if (!s)
        return -ENOMEM;
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
        if (!cases[i].ch)
            continue;
        weft__wlist_push(
            cases[i].op == WEFT_SELECT_SEND ? &cases[i].ch->senders : &cases[i].ch->receivers, w);
    }
    self->b->waiter.slot = s;
    rc = weft__park(self, &wait_kind, s, unpark_select, until);
    if (rc == 0) {
        if (s->fired >= 0) {
            weft_select_case_t *c = &cases[s->fired];
            c->status = s->status;
            if (c->op == WEFT_SELECT_RECV)
                c->value = s->recs[s->fired].slot;
            rc = (int)s->fired;
        } else {
            rc = -ETIMEDOUT; /* our own timeout (unpark unlinked everything) */
        }
    }
    free(s);
    return rc;
}
