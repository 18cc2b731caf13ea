/* flush.h - writes held until the loop is about to poll (flush.c): the
 * per-loop list behind a stream's defer_writes option.
 */
#ifndef WEFT_FLUSH_H
#define WEFT_FLUSH_H

#include "loop.h"

/* A record of held writes, embedded in its owner (a stream). */
typedef struct weft__held weft__held_t;
struct weft__held {
    weft__held_t *next, **pprev; /* on a loop's list while pprev is set */
    struct weft__flushq *q;      /* that list */
    /* Sends what the owner holds; on the loop's stack, never suspends. */
    void (*send)(weft__held_t *h);
};

/* Puts h at the tail of L's list (L's thread), unless it is on it
 * already: its send runs before L next polls. 0, or -ENOMEM (send at
 * once instead). */
int weft__flush_hold(weft__loop_t *L, weft__held_t *h);
/* Takes h off its list, if it is on one. */
void weft__flush_unhold(weft__held_t *h);
/* Naps L has taken after flushing (tests read it). */
uint64_t weft__flush_naps(const weft__loop_t *L);

#endif
