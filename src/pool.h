/* pool.h - the loop's thread pool, for weft's own pool-backed calls
 * (name resolution, files) and for weft_to_thread.
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include "task.h"

/* Runs fn(arg, &res) on a thread of the current loop's pool and parks the
 * calling task until it returns; returns fn's status as is, and res in
 * *result (result may be NULL). Suspends.
 *
 * detachable: the wait ends at once on cancellation or the deadline
 * (-ECANCELED, -ETIMEDOUT, also when they came before the call) and the
 * job is detached: one not yet started never runs; drop (if non-NULL)
 * then runs exactly once: drop(arg, NULL) in the calling task before
 * the call returns when fn never ran,
 * drop(arg, res) there too when fn had just finished, else on the pool
 * thread when fn returns. So drop always owns arg in the end.
 *
 * Not detachable: the task is held until fn has returned, whatever
 * happens meanwhile (buffers in arg stay in use until then); a
 * cancellation or deadline shows at the next suspending call. drop is
 * ignored. A cancellation or deadline that came before the call still
 * makes it return at once without running fn. On any status other than
 * -ECANCELED and -ETIMEDOUT of a detachable call (and fn should not
 * return those two), drop did not run: the caller still owns arg.
 *
 * Returns fn's status, -ECANCELED, -ETIMEDOUT, -EINVAL (fn NULL), -WEFT_ENOTASK
 * (not in a task), -ENOMEM, -EAGAIN (no pool thread could be started). */
int weft__pool_run(weft_task_fn fn, void *arg, void **result, bool detachable, weft_drop_fn drop);

/* Joins the loop's pool threads after letting running jobs end (the loop
 * closes). Called on the loop's thread; the inbox is drained after. */
void weft__pool_close(weft__loop_t *L);

/* What a task held by the pool waits on (the task tree; tests). */
extern const weft__wait_kind_t weft__wait_pool;

#endif
