/* spin.h - the lock every coordinating object carries (a lock, a queue, a
 * channel, a future, a group, a task's completion), taken only by threads
 * that may meet another thread inside one.
 *
 * Sections under it are short (a few dozen instructions, never a system
 * call or a switch), so a waiter spins; after a while it yields its CPU,
 * because a holder preempted on a machine with few cores must not be spun
 * against for a whole time slice. One byte, so objects stay small.
 *
 * Whether a thread takes these locks is its own setting
 * (weft__self.nolock), since objects never cross runtimes:
 *  - WEFT__LOCKS_OFF: the loop of a runtime of one worker; for good.
 *  - WEFT__LOCKS_OFF_FOR_NOW: worker 0 of a runtime of several whose
 *    other workers have run nothing yet. It turns its locks on
 *    (weft__rt_lock_here, worker.c) at a point where it holds no guard,
 *    before another worker may run anything; docs/design.md "Every
 *    core", "Locks from the second worker on".
 *  - WEFT__LOCKS_ON (0, every thread's start): every other thread.
 * Off, taking and dropping cost one predictable branch: no atomic
 * instruction. A guard remembers whether it took the lock, so a thread
 * whose setting changes meanwhile cannot unbalance it.
 */
#ifndef WEFT_SPIN_H
#define WEFT_SPIN_H

#include "internal.h"

#include <stdatomic.h>

enum { WEFT__LOCKS_ON = 0, WEFT__LOCKS_OFF_FOR_NOW = 1, WEFT__LOCKS_OFF = 2 };

typedef struct weft__spin {
    _Atomic unsigned char v;
} weft__spin_t;

/* Whether the calling thread takes object locks now. */
static inline bool weft__multi_now(void)
{
    return WEFT_UNLIKELY(weft__self.nolock == WEFT__LOCKS_ON);
}

void weft__spin_wait(weft__spin_t *l);

#ifndef NDEBUG
/* Debug builds count the locks this thread holds: a task must never
 * switch away holding one (loop.c checks), since a task of the same
 * thread that wants it would spin forever. With its locks off for now,
 * worker 0 counts the guards it opens without taking them too: turning
 * its locks on is safe only where it holds none (worker.c), and a task
 * that switched away inside one would break that. */
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

/* A lock a scope holds, or would hold if this thread took locks: dropped
 * when the scope ends. */
typedef struct weft__lk {
    weft__spin_t *l;
    bool taken; /* false: nothing taken (this thread's locks are off) */
#ifndef NDEBUG
    bool counted; /* not taken, but counted in weft__locks_held */
#endif
} weft__lk_t;

static inline weft__lk_t weft__lk_take(weft__spin_t *l)
{
    weft__lk_t k = {.l = l, .taken = false};
    if (weft__multi_now()) {
        weft__spin_lock(l);
        k.taken = true;
    }
#ifndef NDEBUG
    else if (weft__self.nolock == WEFT__LOCKS_OFF_FOR_NOW) {
        WEFT__HELD(1);
        k.counted = true;
    }
#endif
    return k;
}
static inline void weft__lk_drop(weft__lk_t *k)
{
    if (k->taken) {
        weft__spin_unlock(k->l);
        k->taken = false;
    }
#ifndef NDEBUG
    if (k->counted) {
        WEFT__HELD(-1);
        k->counted = false;
    }
#endif
}
/* Takes the lock again after weft__lk_drop (or a park) let it go. */
static inline void weft__lk_retake(weft__lk_t *k)
{
    *k = weft__lk_take(k->l);
}

/* Holds l (when this thread takes locks) until the enclosing block ends,
 * whichever way it ends; the guard is `weft__lk`, which weft__park
 * drops while the task is parked and takes back before it returns.
 * `unused`: a block that never names the guard is still using it (clang
 * 14 warns about a cleanup variable it sees no read of). */
#define WEFT__LOCK(l)                                                                              \
    weft__lk_t weft__lk __attribute__((cleanup(weft__lk_drop), unused)) = weft__lk_take(l)

#endif
