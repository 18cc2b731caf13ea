/* ticker.c - periodic ticks on an absolute schedule.
 *
 * Owns: a ticker's schedule and its counts. A ticker is a plain object
 * used by one task; waiting is a weft_sleep_until of the next deadline,
 * so cancellation, deadline scopes and the loop's nanosecond timers apply
 * as to any sleep, and nothing is linked anywhere while no task waits.
 *
 * Invariants: `next` is first + k * period for some k under BURST and
 * SKIP (DELAY re-bases the grid when a tick was missed); `counted` is the
 * latest deadline already counted as missed (BURST), so a tick delivered
 * late in a burst is counted once, not at every delivery behind it.
 */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>

struct weft_ticker {
    int64_t period;
    int64_t next;    /* deadline of the next tick to deliver */
    int64_t counted; /* BURST: latest deadline counted as missed */
    int64_t missed;
    int64_t ticks;
    weft_tick_policy_t policy;
};

/* Far enough from INT64_MAX that deadline + a few periods never overflows. */
#define WEFT__TICK_MAX (INT64_MAX / 4)

static int64_t first_deadline(int64_t period, int64_t first)
{
    return first > 0 ? first : weft_now() + period;
}

int weft_ticker_create(weft_ticker_t **tk, int64_t period_ns, int64_t first,
                       weft_tick_policy_t policy)
{
    if (!tk || period_ns <= 0 || period_ns > WEFT__TICK_MAX || first > WEFT__TICK_MAX)
        return -EINVAL;
    if (policy != WEFT_TICK_BURST && policy != WEFT_TICK_DELAY && policy != WEFT_TICK_SKIP)
        return -EINVAL;
    weft_ticker_t *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    t->period = period_ns;
    t->next = first_deadline(period_ns, first);
    t->counted = INT64_MIN;
    t->missed = 0;
    t->ticks = 0;
    t->policy = policy;
    *tk = t;
    return 0;
}

int weft_ticker_wait(weft_ticker_t *tk, int64_t *deadline)
{
    if (!tk)
        return -EINVAL;
    int rc = weft_sleep_until(tk->next);
    if (rc)
        return rc;
    int64_t now = weft_now(), d = tk->next, p = tk->period;
    /* ticks due behind the one delivered now: deadlines d + k*p <= now */
    int64_t behind = now - d >= p ? (now - d) / p : 0;
    switch (tk->policy) {
    case WEFT_TICK_BURST: {
        int64_t last_due = d + behind * p;
        int64_t from = tk->counted > d ? tk->counted : d;
        if (last_due > from) {
            tk->missed += (last_due - from) / p;
            tk->counted = last_due;
        }
        tk->next = d + p;
        break;
    }
    case WEFT_TICK_DELAY:
        tk->missed += behind;
        tk->next = behind ? now + p : d + p;
        break;
    case WEFT_TICK_SKIP:
        tk->missed += behind;
        tk->next = d + (behind + 1) * p;
        break;
    }
    if (tk->next > WEFT__TICK_MAX)
        tk->next = WEFT__TICK_MAX;
    tk->ticks++;
    if (deadline)
        *deadline = d;
    return 0;
}

int64_t weft_ticker_missed(const weft_ticker_t *tk)
{
    return tk ? tk->missed : -EINVAL;
}

int64_t weft_ticker_ticks(const weft_ticker_t *tk)
{
    return tk ? tk->ticks : -EINVAL;
}

int weft_ticker_reset(weft_ticker_t *tk, int64_t first)
{
    if (!tk || first > WEFT__TICK_MAX)
        return -EINVAL;
    tk->next = first_deadline(tk->period, first);
    tk->counted = INT64_MIN;
    return 0;
}

int weft_ticker_destroy(weft_ticker_t *tk)
{
    if (!tk)
        return -EINVAL;
    free(tk);
    return 0;
}
