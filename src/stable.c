/* stable.c - pools of type-stable records (stable.h): streams, listeners,
 * UDP sockets and servers, so that a pointer kept past the object's close reads
 * a record of its own kind, never freed heap memory.
 *
 * Owns: each pool's chunks (cache-line aligned, about 16 KiB, kept for the
 * process's life: a pool holds at its peak count of live objects plus
 * the quarantine), the free list, oldest first, and the never-used
 * records of the newest chunk.
 *
 * Invariants: a record is on the free list iff its magic is 0; the list
 * is taken from only while it holds more than WEFT__STABLE_QUARANTINE
 * records, so a record is reused only after that many others were freed
 * after it. The pool's lock is always taken (not only while several
 * workers run): two runtimes on two threads share the pools. Under ASan
 * and Valgrind a free record is unaddressable but for its first `keep`
 * bytes (header and lock), so a stale check reads only those.
 */
#include "stable.h"

#include <stdlib.h>
#include <string.h>

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/memcheck.h>
#endif

#define CHUNK_BYTES 16384
#define CHUNK_HDR 64 /* the link to the next chunk; records start a cache line after it */

/* The part of a free record nothing may touch: all but the header and
 * the lock. */
static void seal(const weft__stable_pool_t *p, void *rec)
{
    char *body = (char *)rec + p->keep;
    size_t len = p->size - p->keep;
    (void)body, (void)len;
#if defined(WEFT_ASAN)
    ASAN_POISON_MEMORY_REGION(body, len);
#endif
#if defined(WEFT_HAVE_VALGRIND)
    VALGRIND_MAKE_MEM_NOACCESS(body, len);
#endif
}

static void unseal(const weft__stable_pool_t *p, void *rec)
{
    char *body = (char *)rec + p->keep;
    size_t len = p->size - p->keep;
    (void)body, (void)len;
#if defined(WEFT_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(body, len);
#endif
#if defined(WEFT_HAVE_VALGRIND)
    VALGRIND_MAKE_MEM_UNDEFINED(body, len);
#endif
}

/* A never-used record, from the newest chunk or a new one (p locked). */
static void *carve(weft__stable_pool_t *p)
{
    if (!p->carve || (size_t)(p->carve_end - p->carve) < p->size) { /* none yet, or full */
        size_t n = (CHUNK_BYTES - CHUNK_HDR) / p->size;
        if (n < 8)
            n = 8;
        char *c = aligned_alloc(64, CHUNK_HDR + n * p->size);
        if (!c)
            return NULL;
        *(void **)c = p->chunks;
        p->chunks = c;
        p->carve = c + CHUNK_HDR;
        p->carve_end = p->carve + n * p->size;
    }
    void *rec = p->carve;
    p->carve += p->size;
    return rec;
}

void *weft__stable_alloc(weft__stable_pool_t *p)
{
    weft__stable_t *r;
    weft__spin_lock(&p->mu);
    if (p->nfree > WEFT__STABLE_QUARANTINE) {
        r = p->head;
        p->head = r->next;
        if (!p->head)
            p->tail = NULL;
        p->nfree--;
    } else {
        r = carve(p);
    }
    weft__spin_unlock(&p->mu);
    if (!r)
        return NULL;
    unseal(p, r);
    memset((char *)r + sizeof *r, 0, p->size - sizeof *r);
    r->next = NULL;
    __atomic_store_n(&r->magic, p->magic, __ATOMIC_RELAXED);
    return r;
}

void weft__stable_free(weft__stable_pool_t *p, void *rec, weft__spin_t *lock)
{
    if (!rec)
        return;
    weft__stable_t *r = rec;
    {
        /* a stale call on another worker reads magic under this lock */
        weft__lk_t k = weft__lk_take(lock);
        __atomic_store_n(&r->magic, 0, __ATOMIC_RELAXED);
        weft__lk_drop(&k);
    }
    seal(p, r);
    weft__spin_lock(&p->mu);
    r->next = NULL;
    if (p->tail)
        p->tail->next = r;
    else
        p->head = r;
    p->tail = r;
    p->nfree++;
    weft__spin_unlock(&p->mu);
}
