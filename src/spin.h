/* spin.h - the lock every coordinating object carries (a lock, a queue, a
 * channel, a future, a group, a task's completion), taken only while a
 * runtime with several workers runs.
 *
 * Sections under it are short (a few dozen instructions, never a system
 * call or a switch), so a waiter spins; after a while it yields its CPU,
 * because a holder preempted on a machine with few cores must not be spun
 * against for a whole time slice. One byte, so objects stay small.
 *
 * With one worker (weft__multi == 0) taking and dropping cost one
 * predictable branch: no atomic instruction. A guard remembers whether it
 * took the lock, so a runtime with several workers starting elsewhere
 * meanwhile cannot unbalance it.
 */
#ifndef WEFT_SPIN_H
#define WEFT_SPIN_H

#include "internal.h"

#include <stdatomic.h>

/* Non-zero while any runtime with more than one worker runs (runtime.c). */
extern _Atomic int weft__multi;

typedef struct weft__spin {
    _Atomic unsigned char v;
} weft__spin_t;

static inline bool weft__multi_now(void)
{
    return WEFT_UNLIKELY(atomic_load_explicit(&weft__multi, memory_order_relaxed) != 0);
}

void weft__spin_wait(weft__spin_t *l);

#ifndef NDEBUG
/* Debug builds count the locks this thread holds: a task must never
 * switch away holding one (loop.c checks), since a task of the same
 * thread that wants it would spin forever. */
extern __thread int weft__locks_held;
#define WEFT__HELD(d) (weft__locks_held += (d))
#else
#define WEFT__HELD(d) ((void)0)
#endif

static inline void weft__spin_lock(weft__spin_t *l)
{
    WEFT__HELD(1);
    if (WEFT_UNLIKELY(atomic_exchange_explicit(&l->v, 1, memory_order_acquire)))
        weft__spin_wait(l);
}
static inline void weft__spin_unlock(weft__spin_t *l)
{
    WEFT__HELD(-1);
    atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* A lock a scope holds, or would hold with several workers: dropped
 * when the scope ends. */
typedef struct weft__lk {
    weft__spin_t *l;
    bool taken; /* false: nothing taken (one worker) */
} weft__lk_t;

static inline weft__lk_t weft__lk_take(weft__spin_t *l)
{
    weft__lk_t k = {l, false};
    if (weft__multi_now()) {
        weft__spin_lock(l);
        k.taken = true;
    }
    return k;
}
static inline void weft__lk_drop(weft__lk_t *k)
{
    if (k->taken) {
        weft__spin_unlock(k->l);
        k->taken = false;
    }
}
/* Takes the lock again after weft__lk_drop (or a park) let it go. */
static inline void weft__lk_retake(weft__lk_t *k)
{
    *k = weft__lk_take(k->l);
}

/* Holds l (when several workers run) until the enclosing block ends,
 * whichever way it ends; the guard is `weft__lk`, which weft__park
 * drops while the task is parked and takes back before it returns.
 * `unused`: a block that never names the guard is still using it (clang
 * 14 warns about a cleanup variable it sees no read of). */
#define WEFT__LOCK(l)                                                                              \
    weft__lk_t weft__lk __attribute__((cleanup(weft__lk_drop), unused)) = weft__lk_take(l)

#endif
