/* timer.c - the loop's timers: a 4-ary min-heap of timer records.
 *
 * Owns: the heap array. The records live in the objects that own them (a
 * task's wait timer, a callback handle), so arming allocates nothing once
 * the array has grown. Each record keeps its heap index, so removal is
 * O(log n) and millions of pending timers cost no more per operation
 * than a few. A 4-ary heap is shallower than a binary one and its four
 * children share a cache line.
 *
 * Invariant: v[i]->idx == i for every armed record; an unarmed record has
 * idx == WEFT__NO_INDEX. Ties keep no order: records due at the same
 * instant may fire in any order, as in asyncio.
 */
#include "timer.h"

#include <stdlib.h>

static inline void place(weft__heap_t *h, uint32_t i, weft__timer_t *t)
{
    h->v[i] = t;
    t->idx = i;
}

static void sift_up(weft__heap_t *h, uint32_t i, weft__timer_t *t)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 4;
        if (h->v[p]->when <= t->when)
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, t);
}

static void sift_down(weft__heap_t *h, uint32_t i, weft__timer_t *t)
{
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= h->n)
            break;
        uint32_t best = c, end = c + 4 < h->n ? c + 4 : h->n;
        for (uint32_t k = c + 1; k < end; k++)
            if (h->v[k]->when < h->v[best]->when)
                best = k;
        if (h->v[best]->when >= t->when)
            break;
        place(h, i, h->v[best]);
        i = best;
    }
    place(h, i, t);
}

int weft__heap_push(weft__heap_t *h, weft__timer_t *t)
{
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 256;
        weft__timer_t **v = realloc(h->v, (size_t)cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    sift_up(h, h->n++, t);
    return 0;
}

void weft__heap_remove(weft__heap_t *h, weft__timer_t *t)
{
    uint32_t i = t->idx;
    if (i == WEFT__NO_INDEX)
        return;
    t->idx = WEFT__NO_INDEX;
    weft__timer_t *last = h->v[--h->n];
    if (last == t)
        return;
    if (i > 0 && last->when < h->v[(i - 1) / 4]->when)
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

void weft__heap_free(weft__heap_t *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
