/* flush.c - writes held until the loop is about to poll, and what the
 * loop does right after sending them.
 *
 * Owns: each loop's list of records with writes held during the turn
 * (streams with defer_writes), the before-poll hook that sends them, and
 * the spin and the nap that follow a flush. Made at a loop's first held
 * write, freed when the loop closes.
 *
 * After a turn that sent held writes (a server answering requests), the
 * loop tries not to block at once. A loop that blocked must be woken,
 * and the sender's system call pays for that wake-up, plus a context
 * switch here (docs/design.md "Streams" has the measured costs). So
 * first it polls without blocking, for at most as long as it worked
 * since its last such spin and never more than SPIN_NS: the answers'
 * next requests often come within microseconds. A spin that finds
 * nothing makes the next 1, 2, 4 ... 64 flushes skip theirs, so a sparse
 * or idle server spends almost nothing; one that finds work resets
 * that. Timers due sooner end a spin.
 *
 * When the spin finds nothing, the loop naps NAP_NS off the poller's
 * wait queue and polls once more before it blocks: requests sent during
 * the nap wake nobody, and the next turn takes them all in one batch.
 * The nap costs latency (a request that comes during it waits for its
 * end), which pays only when the load is high enough for it to gather
 * several: a nap that gathers fewer than two wake-ups makes the next 1,
 * 2, 4 ... 1024 naps skip, so a lone client's request-answer round trip
 * (nothing to gather) meets one nap in a thousand. Posts from other
 * threads also wait for its end; a timer due within it prevents it.
 *
 * Both only while the runtime leaves a CPU of the machine free
 * (L->spare_cpu: fewer workers than online CPUs). Where its workers take
 * every CPU, the peers share cores with them, and the CPU a spin or a nap
 * burns is taken from the very peers whose requests it waits for.
 */
#include "backend.h"
#include "flush.h"

#include <stdlib.h>

#define SPIN_NS WEFT_USEC(30)
#define SPIN_SKIP_MAX 64
#define NAP_NS WEFT_USEC(50)
#define NAP_SKIP_MAX 1024

struct weft__flushq {
    weft__hook_t hook;
    weft__held_t *head, **tail;
    /* spins that found nothing in a row, and flushes left to skip; naps
     * that gathered less than two wake-ups in a row, and naps to skip */
    uint8_t spin_fail, spin_skip;
    uint16_t nap_fail, nap_skip;
    int64_t spin_end; /* when the last spin ended */
    uint64_t naps;
};

/* The next count of a 1, 2, 4 ... max back-off after one more failure. */
static unsigned backoff(unsigned fail, unsigned max)
{
    return fail >= max / 2 ? max : fail ? fail * 2 : 1;
}

/* True when the nap was taken and woke something. */
static bool nap(weft__loop_t *L, struct weft__flushq *q, int64_t now)
{
    if (q->nap_skip) {
        q->nap_skip--;
        return false;
    }
    weft__timer_t *tm = weft__heap_top(&L->timers);
    if (tm && tm->when < now + NAP_NS)
        return false;
    if (weft__backend_nap(L->be, NAP_NS) < 0) {
        q->nap_fail = q->nap_skip = NAP_SKIP_MAX;
        return false;
    }
    q->naps++;
    weft__loop_poll_now(L);
    if (L->ready.n >= 2)
        q->nap_fail = 0;
    else
        q->nap_skip = q->nap_fail = (uint16_t)backoff(q->nap_fail, NAP_SKIP_MAX);
    return weft__loop_busy(L);
}

static void spin_poll(weft__loop_t *L, struct weft__flushq *q)
{
    if (q->spin_skip) {
        q->spin_skip--;
        return;
    }
    int64_t now = weft_now(), budget = now - q->spin_end;
    if (budget > SPIN_NS || budget < 0)
        budget = SPIN_NS;
    int64_t end = now + budget;
    weft__timer_t *tm = weft__heap_top(&L->timers);
    if (tm && tm->when < end)
        end = tm->when;
    for (;;) {
        if (weft__loop_busy(L))
            goto found;
        if ((now = weft_now()) >= end)
            break;
        weft__loop_poll_now(L);
    }
    if (nap(L, q, now)) {
        now = weft_now();
        goto found;
    }
    q->spin_skip = q->spin_fail = (uint8_t)backoff(q->spin_fail, SPIN_SKIP_MAX);
    q->spin_end = now;
    return;
found:
    q->spin_fail = 0;
    q->spin_end = now;
}

static void before_poll(weft__loop_t *L, weft__hook_t *h)
{
    struct weft__flushq *q = WEFT_CONTAINER_OF(h, struct weft__flushq, hook);
    if (!q->head)
        return;
    weft__held_t *r;
    while ((r = q->head) != NULL) {
        weft__flush_unhold(r);
        r->send(r);
    }
    if (L->spare_cpu && !L->closing)
        spin_poll(L, q);
}

static void close_hook(weft__loop_t *L, weft__hook_t *h)
{
    free(WEFT_CONTAINER_OF(h, struct weft__flushq, hook));
    L->flushq = NULL;
}

int weft__flush_hold(weft__loop_t *L, weft__held_t *h)
{
    if (h->pprev)
        return 0;
    struct weft__flushq *q = L->flushq;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return -ENOMEM;
        q->tail = &q->head;
        q->hook.before_poll = before_poll;
        q->hook.close = close_hook;
        weft__loop_add_hook(L, &q->hook);
        L->flushq = q;
    }
    /* at the tail: owners send in the order they wrote */
    h->next = NULL;
    h->pprev = q->tail;
    h->q = q;
    *q->tail = h;
    q->tail = &h->next;
    return 0;
}

void weft__flush_unhold(weft__held_t *h)
{
    if (!h->pprev)
        return;
    *h->pprev = h->next;
    if (h->next)
        h->next->pprev = h->pprev;
    else
        h->q->tail = h->pprev;
    h->next = NULL;
    h->pprev = NULL;
}

uint64_t weft__flush_naps(const weft__loop_t *L)
{
    return L->flushq ? L->flushq->naps : 0;
}
