/* timer.h - the loop's timers (timer.c): a 4-ary min-heap of records.
 *
 * A record lives inside whatever owns it (a task's body, a callback
 * handle); the heap only points at it, so arming allocates nothing once
 * the heap's array has grown. Arming and disarming against a loop are
 * the loop's (loop.h: weft__timer_arm / weft__timer_disarm).
 */
#ifndef WEFT_TIMER_H
#define WEFT_TIMER_H

#include "internal.h"

#define WEFT__NO_INDEX UINT32_MAX

/* What a due record is: the loop wakes a task, or runs a callback. */
enum { WEFT__TIMER_TASK = 0, WEFT__TIMER_HANDLE };

typedef struct weft__timer {
    int64_t when;
    uint32_t idx; /* place in the heap, WEFT__NO_INDEX when not armed */
    uint8_t kind;
} weft__timer_t;

typedef struct weft__heap {
    weft__timer_t **v;
    uint32_t n, cap;
} weft__heap_t;

/* 0, or -ENOMEM (the record is then not armed). */
int weft__heap_push(weft__heap_t *h, weft__timer_t *t);
/* Removes t if it is armed; a no-op otherwise. */
void weft__heap_remove(weft__heap_t *h, weft__timer_t *t);
static inline weft__timer_t *weft__heap_top(const weft__heap_t *h)
{
    return h->n ? h->v[0] : NULL;
}
void weft__heap_free(weft__heap_t *h);

/* The instant a timeout of timeout_ns ends, read from now (weft.h's rule
 * for timeouts): WEFT_FOREVER for WEFT_FOREVER (and for a timeout so long
 * that the instant would not fit: it never comes either), else
 * now + timeout_ns, which for 0 or less is an instant already reached or
 * past: the timeout has expired. now >= 0, so nothing overflows. */
static inline int64_t weft__timeout_until(int64_t now, int64_t timeout_ns)
{
    return timeout_ns > WEFT_FOREVER - now ? WEFT_FOREVER : now + timeout_ns;
}

#endif
