/* gather.c - waiting on many tasks: gather, wait, as_completed.
 *
 * Owns: the multi-wait records. A task waiting on N tasks needs N waiter
 * records (one on each task's done list); they live in one block the
 * call allocates, never on the waiting task's stack (the copy-stack rule
 * of docs/design.md), with the shared state beside them.
 *
 * Invariant: a record is on its task's done list until that task finishes
 * (then the finishing task takes it and calls notify, on its own worker)
 * or until the waiting call ends and unlinks what is left. The block's
 * lock guards the counts; notify wakes the waiting task only while it is
 * parked on this very block. The block is freed by whoever drops its
 * last reference: one per record still to be notified or unlinked, one
 * for the waiting call, so a notify in flight on another worker never
 * meets freed memory.
 *
 * wait and as_completed take their tasks as asyncio does, as a set: a
 * task passed twice is watched, counted and handed out once (gather
 * keeps every position, as asyncio.gather does).
 */
#include "worker.h"

#include <stdlib.h>

static const weft__wait_kind_t wait_kind = {.name = "several tasks", .on_tasks = true};

typedef struct multi {
    weft__spin_t mu;
    bool parked;         /* self is parked on this block */
    _Atomic size_t refs; /* see the top of the file */
    weft_task_t *self;
    size_t n, done, failed;
    int first_fail;
    /* as_completed: finished indices not yet handed out, in order */
    size_t *order;
    size_t order_head, order_tail;
    weft__waiter_t rec[];
} multi_t;

static void multi_unref(multi_t *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        free(m->order);
        free(m);
    }
}

static void multi_notify(weft__waiter_t *w, void *src)
{
    multi_t *m = (multi_t *)w->slot;
    weft_task_t *t = src;
    {
        WEFT__LOCK(&m->mu);
        m->done++;
        if (t->status < 0) {
            if (m->failed++ == 0)
                m->first_fail = t->status;
        }
        if (m->order)
            m->order[m->order_tail++] = w->aux;
        if (m->parked)
            weft__wake(m->self, 0);
    }
    multi_unref(m);
}

static void unpark_nothing(weft_task_t *t)
{
    (void)t; /* the records stay linked; the waiting call unlinks them */
}

static multi_t *multi_new(weft_task_t *const *tasks, size_t n, bool ordered)
{
    multi_t *m = calloc(1, sizeof *m + n * sizeof m->rec[0]);
    if (!m)
        return NULL;
    if (ordered && !(m->order = malloc(n * sizeof *m->order))) {
        free(m);
        return NULL;
    }
    m->n = n;
    atomic_init(&m->refs, n + 1);
    for (size_t i = 0; i < n; i++) {
        m->rec[i].notify = multi_notify;
        m->rec[i].slot = m;
        m->rec[i].aux = i;
        weft__task_ref(tasks[i]);
        weft__task_watch(tasks[i], &m->rec[i]);
    }
    return m;
}

/* Unlinks the records no task took yet; the block goes with the last
 * reference (a notify may still be on its way on another worker). */
static void multi_free(multi_t *m, weft_task_t *const *tasks)
{
    for (size_t i = 0; i < m->n; i++) {
        bool unlinked = false;
        {
            WEFT__LOCK(&tasks[i]->mu);
            if (m->rec[i].list) {
                weft__wlist_remove(&m->rec[i]);
                unlinked = true;
            }
        }
        if (unlinked)
            multi_unref(m);
        weft__task_unref(tasks[i]);
    }
    multi_unref(m);
}

static bool valid(weft_task_t *const *tasks, size_t n, weft_task_t *self)
{
    if (n && !tasks)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!tasks[i] || tasks[i] == self)
            return false;
    return true;
}

static int cmp_task(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (weft_task_t *const *)a, y = (uintptr_t) * (weft_task_t *const *)b;
    return (x > y) - (x < y);
}

/* Stores in dst (room for n) the tasks of src, each once, in the order
 * first seen; returns how many, or -ENOMEM. A few are compared pairwise;
 * many through a sorted copy, so a large set costs n log n. */
static long distinct(weft_task_t *const *src, size_t n, weft_task_t **dst)
{
    size_t m = 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < m && dst[j] != src[i])
                j++;
            if (j == m)
                dst[m++] = src[i];
        }
        return (long)m;
    }
    weft_task_t **sorted = malloc(n * sizeof *sorted);
    unsigned char *seen = calloc(n, 1);
    if (!sorted || !seen) {
        free(sorted);
        free(seen);
        return -ENOMEM;
    }
    memcpy(sorted, src, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_task);
    for (size_t i = 0; i < n; i++) {
        weft_task_t **at = bsearch(&src[i], sorted, n, sizeof *sorted, cmp_task);
        while (at > sorted && at[-1] == src[i])
            at--; /* the first of equal ones keeps the mark */
        if (!seen[at - sorted]) {
            seen[at - sorted] = 1;
            dst[m++] = src[i];
        }
    }
    free(sorted);
    free(seen);
    return (long)m;
}

/* Parks until notify or `until`; 0, or the caller's cancel / time-out.
 * Called with m's lock held (lk). */
static int multi_park(multi_t *m, int64_t until, weft__lk_t *lk)
{
    int rc = weft__wait_check(m->self);
    if (rc)
        return rc;
    m->parked = true;
    rc = weft__park(m->self, &wait_kind, m, unpark_nothing, until, lk);
    m->parked = false;
    return rc;
}

/* Cancels the tasks not done with reason `why` (weft_cancel_with) and
 * waits for each to unwind. */
static void cancel_and_join(weft_task_t *const *tasks, size_t n, int why)
{
    for (size_t i = 0; i < n; i++)
        if (weft__tstate(tasks[i]) != WEFT_TASK_DONE)
            weft__cancel_why(tasks[i], why, NULL);
    for (size_t i = 0; i < n; i++)
        weft__task_join_quietly(tasks[i]);
}

int weft_gather(weft_task_t *const *tasks, size_t n, void **results, int *statuses, int mode)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!valid(tasks, n, self) || (mode != WEFT_GATHER_FAIL_FAST && mode != WEFT_GATHER_COLLECT))
        return -EINVAL;
    multi_t *m = multi_new(tasks, n, false);
    if (!m)
        return -ENOMEM;
    m->self = self;
    int rc = 0;
    bool failed;
    {
        WEFT__LOCK(&m->mu);
        while (m->done < n) {
            if (mode == WEFT_GATHER_FAIL_FAST && m->failed)
                break;
            if ((rc = multi_park(m, WEFT_FOREVER, &weft__lk)) < 0)
                break;
        }
        failed = m->failed > 0;
    }
    /* the tasks learn why: our deadline, our own cancellation's reason,
     * or a failure among them */
    if (rc < 0 || (mode == WEFT_GATHER_FAIL_FAST && failed)) {
        int why = rc == -ETIMEDOUT ? WEFT_CANCEL_DEADLINE
                  : rc < 0         ? weft__own_reason(self)
                                   : WEFT_CANCEL_GROUP;
        cancel_and_join(tasks, n, why);
    }
    int fail;
    {
        WEFT__LOCK(&m->mu);
        m->self = NULL;
        fail = m->first_fail;
    }
    /* read the outcomes while our references keep the tasks alive */
    for (size_t i = 0; i < n; i++) {
        __atomic_store_n(&tasks[i]->retrieved, 1, __ATOMIC_RELAXED);
        if (results)
            results[i] = tasks[i]->result;
        if (statuses)
            statuses[i] = tasks[i]->status;
    }
    multi_free(m, tasks);
    if (rc < 0)
        return rc;
    return mode == WEFT_GATHER_FAIL_FAST ? fail : 0;
}

static bool wait_met(const multi_t *m, int when)
{
    switch (when) {
    case WEFT_FIRST_COMPLETED:
        return m->done >= 1;
    case WEFT_FIRST_EXCEPTION:
        return m->failed > 0 || m->done == m->n;
    default:
        return m->done == m->n;
    }
}

/* weft_wait over tasks given once each. */
static int wait_set(weft_task_t *self, weft_task_t *const *tasks, size_t n, int return_when,
                    int64_t timeout_ns)
{
    multi_t *m = multi_new(tasks, n, false);
    if (!m)
        return -ENOMEM;
    m->self = self;
    int64_t until = weft__timeout_until(weft_now(), timeout_ns); /* <= now: expired */
    int rc = 0, done;
    bool parked = false;
    {
        WEFT__LOCK(&m->mu);
        while (!wait_met(m, return_when)) {
            if (until != WEFT_FOREVER && weft_now() >= until)
                break;
            parked = true;
            if ((rc = multi_park(m, until, &weft__lk)) < 0)
                break;
        }
        m->self = NULL;
    }
    /* Woken by the first task to meet the condition, the caller lets the
     * tasks already ready on its loop take their step before it counts,
     * so tasks that end together are counted together (asyncio's wait
     * resumes a loop iteration after the completion that met it: CPython's
     * test_wait_really_done). A cancellation or deadline that stops this
     * yield changes nothing: the wait has completed. */
    if (parked && rc == 0)
        (void)weft_yield();
    {
        WEFT__LOCK(&m->mu);
        done = (int)m->done;
    }
    multi_free(m, tasks);
    return rc < 0 ? rc : done;
}

int weft_wait(weft_task_t *const *tasks, size_t n, int return_when, int64_t timeout_ns)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (n == 0 || !valid(tasks, n, self) || return_when < WEFT_FIRST_COMPLETED ||
        return_when > WEFT_ALL_COMPLETED)
        return -EINVAL;
    /* each task once; the array is ours alone (nothing points into it
     * while we are parked, so a few may live on our stack) */
    weft_task_t *few[16], **set = n <= 16 ? few : malloc(n * sizeof *set);
    if (!set)
        return -ENOMEM;
    long nset = distinct(tasks, n, set);
    if (nset < 0) {
        if (set != few)
            free(set);
        return (int)nset;
    }
    int rc = wait_set(self, set, (size_t)nset, return_when, timeout_ns);
    if (set != few)
        free(set);
    return rc;
}

struct weft_as_completed {
    weft_task_t **tasks;
    multi_t *m;
    size_t handed;
};

int weft_as_completed_create(weft_as_completed_t **out, weft_task_t *const *tasks, size_t n)
{
    if (!out || !valid(tasks, n, weft__task()))
        return -EINVAL;
    weft_as_completed_t *ac = calloc(1, sizeof *ac);
    if (!ac)
        return -ENOMEM;
    ac->tasks = malloc((n ? n : 1) * sizeof *ac->tasks);
    long nset = ac->tasks ? distinct(tasks, n, ac->tasks) : -ENOMEM;
    if (nset < 0) {
        free(ac->tasks);
        free(ac);
        return (int)nset;
    }
    ac->m = multi_new(ac->tasks, (size_t)nset, true);
    if (!ac->m) {
        free(ac->tasks);
        free(ac);
        return -ENOMEM;
    }
    *out = ac;
    return 0;
}

int weft_as_completed_next(weft_as_completed_t *ac, weft_task_t **task)
{
    if (!ac || !task)
        return -EINVAL;
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    multi_t *m = ac->m;
    WEFT__LOCK(&m->mu);
    if (ac->handed == m->n)
        return WEFT_DONE;
    if (m->self)
        return -EBUSY;
    while (m->order_head == m->order_tail) {
        m->self = self;
        int rc = multi_park(m, WEFT_FOREVER, &weft__lk);
        m->self = NULL;
        if (rc < 0)
            return rc;
    }
    *task = ac->tasks[m->order[m->order_head++]];
    ac->handed++;
    return 0;
}

int weft_as_completed_destroy(weft_as_completed_t *ac)
{
    if (!ac)
        return -EINVAL;
    {
        WEFT__LOCK(&ac->m->mu);
        if (ac->m->self)
            return -EBUSY;
    }
    multi_free(ac->m, ac->tasks);
    free(ac->tasks);
    free(ac);
    return 0;
}
