/* pool.c - the thread pool for blocking work: weft_to_thread and weft's
 * own pool-backed calls (see pool.h).
 *
 * Owns: one pool per loop, made at its first job: a FIFO queue of job
 * records and up to L->pool_max threads, started when a job finds no idle
 * thread; idle threads wait for more work until the loop closes, which
 * lets running jobs end and joins every thread (none outlives weft_run).
 * Pool threads block every signal but the synchronous ones, and take
 * the loop's pool_nice as their nice value (Linux keeps one per thread;
 * weft_run checked that it may be set), else the loop thread's.
 *
 * A job record is malloc'd (never on the waiting task's stack, which may
 * be gone by the time a detached job ends). Its life:
 *   QUEUED --a thread takes it--> RUNNING --fn returns--> DONE (posted to
 *   the loop's inbox, whose callback wakes the task).
 * The task stops waiting early only through unpark_job, on the loop's
 * thread, under the pool's lock; what it found decides who finishes the
 * record (kept in the task's waiter.aux, since the record may be freed
 * by the time the task runs):
 *   QUEUED   unlinked, never runs: the task drops arg and frees the record;
 *   RUNNING  detached: the pool thread drops arg and the result, frees it;
 *   DONE     detached: the task drops arg and the result (taken from the
 *            record into waiter.slot), the inbox callback frees it.
 * `state` and `detached` change only under the lock. L->inflight counts
 * the jobs whose completion the loop still expects in its inbox.
 */
#include "pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

const weft__wait_kind_t weft__wait_pool = {.name = "the thread pool"};

enum { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE };

/* What unpark_job found, for the task that wakes after it. */
enum { OUT_WAITING = 0, OUT_NOT_STARTED, OUT_RUNNING, OUT_FINISHED, OUT_HANDED };

typedef struct weft__job weft__job_t;
struct weft__job {
    weft__post_t post;        /* its completion, posted to the loop */
    weft__job_t *prev, *next; /* in the pool's queue while QUEUED */
    struct weft__pool *pool;
    weft_task_fn fn;
    void *arg;
    void *result;
    weft_drop_fn drop;
    weft_task_t *task; /* who waits; read on the loop's thread only */
    int status;
    uint8_t state;
    bool detached;
    bool handed; /* job_done has run for it (its wake may have lost the claim) */
};

typedef struct weft__pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    weft__job_t *head, *tail;
    size_t nqueued;
    int nthreads, nidle, max, cap;
    int nice; /* 0: as the thread that starts them */
    bool stop;
    weft__loop_t *loop;
    pthread_t *threads; /* cap slots, nthreads started */
} weft__pool_t;

static void queue_push(weft__pool_t *p, weft__job_t *j)
{
    j->next = NULL;
    j->prev = p->tail;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->nqueued++;
}

static void queue_remove(weft__pool_t *p, weft__job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        p->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        p->tail = j->prev;
    j->prev = j->next = NULL;
    p->nqueued--;
}

static void *pool_thread(void *arg)
{
    weft__pool_t *p = arg;
    if (p->nice) /* per thread on Linux: this one only */
        setpriority(PRIO_PROCESS, (id_t)gettid(), p->nice);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) {
            p->nidle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->nidle--;
        }
        weft__job_t *j = p->head;
        if (!j)
            break; /* stopping, and nothing left to run */
        queue_remove(p, j);
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&p->mu);

        void *res = NULL;
        int st = j->fn(j->arg, &res);

        pthread_mutex_lock(&p->mu);
        if (j->detached) {
            pthread_mutex_unlock(&p->mu);
            if (j->drop)
                j->drop(j->arg, res);
            free(j);
        } else {
            j->status = st;
            j->result = res;
            j->state = JOB_DONE;
            pthread_mutex_unlock(&p->mu);
            /* the loop outlives this thread, and may free j once posted */
            weft__loop_post(p->loop, &j->post);
        }
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Starts one more thread; under the lock. */
static int spawn_thread(weft__pool_t *p)
{
    if (p->nthreads == p->cap) {
        int cap = p->cap ? 2 * p->cap : 4;
        cap = cap < p->max ? cap : p->max;
        pthread_t *v = realloc(p->threads, (size_t)cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->threads = v;
        p->cap = cap;
    }
    sigset_t all, old;
    sigfillset(&all);
    /* blocked, these would turn a fault into a silent kill */
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->threads[p->nthreads], NULL, pool_thread, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -rc;
    pthread_setname_np(p->threads[p->nthreads], "weft-pool");
    p->nthreads++;
    return 0;
}

static weft__pool_t *pool_get(weft__loop_t *L)
{
    if (L->pool)
        return L->pool;
    weft__pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    p->max = L->pool_max;
    p->nice = L->pool_nice;
    p->loop = L;
    L->pool = p;
    return p;
}

static int submit(weft__pool_t *p, weft__job_t *j)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    if ((size_t)p->nidle <= p->nqueued && p->nthreads < p->max) {
        rc = spawn_thread(p);
        if (rc < 0 && p->nthreads > 0)
            rc = 0; /* the threads there are will get to it */
    }
    if (rc == 0) {
        queue_push(p, j);
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc < 0 ? -EAGAIN : 0;
}

/* The pool posted a finished job: hand it to its task. */
static void job_done(weft__loop_t *L, weft__post_t *post)
{
    weft__job_t *j = WEFT_CONTAINER_OF(post, weft__job_t, post);
    L->inflight--;
    pthread_mutex_lock(&j->pool->mu);
    bool detached = j->detached;
    j->handed = !detached;
    pthread_mutex_unlock(&j->pool->mu);
    if (detached)
        free(j); /* the task took the result to drop it */
    else
        weft__wake(j->task, 0); /* an interruption may have claimed it first */
}

/* Cancellation or the deadline ends the wait (see the header comment). */
static void unpark_job(weft_task_t *t)
{
    weft__job_t *j = t->b->waiter.slot;
    weft__pool_t *p = j->pool;
    pthread_mutex_lock(&p->mu);
    j->detached = true;
    switch (j->state) {
    case JOB_QUEUED:
        queue_remove(p, j);
        t->b->waiter.aux = OUT_NOT_STARTED;
        t->loop->inflight--;
        break;
    case JOB_RUNNING:
        t->b->waiter.aux = OUT_RUNNING;
        t->loop->inflight--;
        break;
    default:
        /* finished: job_done frees the record, unless it has run already
         * (its wake lost to this interruption): then it is ours */
        t->b->waiter.aux = j->handed ? OUT_HANDED : OUT_FINISHED;
        t->b->waiter.slot = j->result;
        break;
    }
    pthread_mutex_unlock(&p->mu);
}

int weft__pool_run(weft_task_fn fn, void *arg, void **result, bool detachable, weft_drop_fn drop)
{
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    if (!fn)
        return -EINVAL;
    int rc = weft__wait_check(t);
    if (rc) {
        /* detached before it started: the same contract as later on */
        if (detachable && drop)
            drop(arg, NULL);
        return rc;
    }
    weft__loop_t *L = t->loop;
    weft__pool_t *p = pool_get(L);
    if (!p)
        return -ENOMEM;
    weft__job_t *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->post.fn = job_done;
    j->pool = p;
    j->fn = fn;
    j->arg = arg;
    j->drop = drop;
    j->task = t;
    rc = submit(p, j);
    if (rc < 0) {
        free(j);
        return rc;
    }
    L->inflight++;
    t->b->waiter.slot = j;
    t->b->waiter.aux = OUT_WAITING;
    if (!detachable)
        t->b->nocancel++;
    rc = weft__park(t, &weft__wait_pool, j, unpark_job, WEFT_FOREVER, NULL);
    if (!detachable)
        t->b->nocancel--;
    switch (t->b->waiter.aux) {
    case OUT_WAITING:
        /* job_done woke us: the record is ours */
        rc = j->status;
        if (result)
            *result = j->result;
        free(j);
        return rc;
    case OUT_NOT_STARTED:
        if (drop)
            drop(arg, NULL);
        free(j);
        return rc;
    case OUT_FINISHED:
        if (drop)
            drop(arg, t->b->waiter.slot);
        return rc;
    case OUT_HANDED:
        if (drop)
            drop(arg, j->result);
        free(j);
        return rc;
    default: /* OUT_RUNNING: the pool thread drops when fn returns */
        return rc;
    }
}

int weft_to_thread(weft_task_fn fn, void *arg, void **result, weft_drop_fn drop)
{
    return weft__pool_run(fn, arg, result, true, drop);
}

void weft__pool_close(weft__loop_t *L)
{
    weft__pool_t *p = L->pool;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* every job was taken by a thread: the queue is empty */
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
    L->pool = NULL;
}
