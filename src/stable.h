/* stable.h - type-stable records for objects a program holds by pointer
 * and may, by mistake, use after it closed them (streams, listeners, UDP
 * sockets, servers): what lets such a use be told (weft.h, "Stale handles").
 *
 * A kind's records come from its own pool (stable.c) and are never given
 * back to the system nor to another kind, so a pointer to a closed
 * object still points at a record of that kind: its header says whether
 * it is live (magic), and its lock stays a lock. A freed record is
 * reused only once at least WEFT__STABLE_QUARANTINE other records of the
 * kind were freed after it (first freed, first reused; new objects take
 * fresh records meanwhile), so a stale pointer is caught until that many
 * more objects of its kind have been closed; after that it may name
 * whichever object reuses the record. The pointer carries no generation:
 * weft's handles are plain pointers, so a reused record cannot be told.
 *
 * Records take whole 64-byte cache lines: two objects used by tasks of
 * two workers never share a line (malloc gave each worker's objects
 * apart, from its own arena; one pool mixes them).
 *
 * Layout rule: each pooled struct starts with a weft__stable_t, and the
 * object's spin lock follows within the record's first `keep` bytes;
 * under ASan the rest of a free record is poisoned, so anything but the
 * header and the lock read through a stale pointer is still reported.
 */
#ifndef WEFT_STABLE_H
#define WEFT_STABLE_H

#include "spin.h"

#include <stddef.h>
#include <stdint.h>

#define WEFT__STABLE_QUARANTINE 64 /* freed records of a kind kept before reuse */

typedef struct weft__stable {
    uint32_t magic;            /* the kind's live value while handed out, 0 when free */
    struct weft__stable *next; /* on the pool's free list */
} weft__stable_t;

typedef struct weft__stable_pool {
    weft__spin_t mu;      /* guards the lists: a real lock, any thread */
    uint32_t size;        /* record size, whole cache lines */
    uint32_t keep;        /* leading bytes that stay addressable when free */
    uint32_t magic;       /* the kind's live value */
    weft__stable_t *head; /* free records, oldest first */
    weft__stable_t *tail;
    size_t nfree;
    char *carve, *carve_end; /* never-used records of the newest chunk */
    void *chunks;            /* every chunk, linked through its first word */
} weft__stable_pool_t;

/* A pool of records of `type`, whose lock is the member `lock`. */
#define WEFT__STABLE_POOL(type, lock, live)                                                        \
    {                                                                                              \
        .size = (uint32_t)((sizeof(type) + 63) & ~(size_t)63),                                     \
        .keep = (uint32_t)((offsetof(type, lock) + sizeof(weft__spin_t) + 7) & ~(size_t)7),        \
        .magic = (live)                                                                            \
    }

/* A record with everything after its header zeroed and its header
 * live; NULL when out of memory. Any thread. */
void *weft__stable_alloc(weft__stable_pool_t *p);
/* Makes rec stale (under its lock, `lock`, when several workers run)
 * and puts it on the pool's free list. Any thread, no lock held. */
void weft__stable_free(weft__stable_pool_t *p, void *rec, weft__spin_t *lock);

/* Whether rec, a record of p's kind, is handed out now. */
static inline bool weft__stable_live(const void *rec, uint32_t magic)
{
    return WEFT_LIKELY(__atomic_load_n(&((const weft__stable_t *)rec)->magic, __ATOMIC_RELAXED) ==
                       magic);
}

#endif
