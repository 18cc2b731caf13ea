/* task.c - tasks: spawn, run, await, cancel, deadlines, wait_for, shield.
 *
 * Owns: task handles and bodies and their lifetimes (loop.h says which
 * is which: the body exists from the first step to the end, at the top of
 * an own-stack task's stack), the list of live tasks, deadline scopes,
 * and what happens when a task finishes (waking whoever awaits it,
 * running its done callbacks, telling its group).
 *
 * Ownership: a task holds one reference for itself while it has not
 * finished, plus one per handle given out (weft_spawn with a non-NULL
 * out, weft_shield). It is freed when the count reaches zero, so it is
 * reclaimed exactly once, whichever comes last: its end or the release of
 * the last handle. A task freed with a failure nobody retrieved (await,
 * task_result, gather, a group) is reported then, like asyncio's "Task
 * exception was never retrieved".
 */
#include "local.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Handles (and copy-stack bodies) come from the thread's slabs (slab.c):
 * reused warm, plain malloc under ASan and Valgrind so that a use after
 * free or a double release of a task is caught. */

/* Copy-stack tasks are saved after every step where the vacated region
 * can be guarded (ASan poisons it); elsewhere only when another
 * copy-stack task needs the shared stack. */
#if defined(WEFT_ASAN)
#define TASK_CS_EAGER 1
#else
#define TASK_CS_EAGER 0
#endif

static weft_task_t *task_alloc(void)
{
    return weft__slab_alloc(sizeof(weft_task_t));
}

static void task_free(weft_task_t *t)
{
    __atomic_store_n(&t->magic, 0, __ATOMIC_RELAXED); /* stale from here (task.h) */
    weft__slab_free(t, sizeof *t);
}

__attribute__((noinline, cold)) int weft__stale(const char *what, const void *obj,
                                                const char *call)
{
    const char *dbg = getenv("WEFT_DEBUG");
    if (dbg && *dbg && *dbg != '0') {
        fprintf(stderr, "weft: %s: %s %p is stale (already freed or released); aborting "
                        "(WEFT_DEBUG)\n", call, what, obj);
        abort();
    }
    return -EBADF;
}

static void *task_body(void *p)
{
    weft_task_t *t = p;
    void *res = NULL;
    int st = t->fn(t->arg, &res);
    t->status = st > 0 ? 0 : st;
    t->result = res;
    return NULL;
}

/* References may be dropped on any worker: atomic while this thread
 * takes locks (spin.h). */
void weft__task_ref(weft_task_t *t)
{
    if (weft__multi_now())
        __atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED);
    else
        t->refs++;
}

void weft__task_unref(weft_task_t *t)
{
    if (weft__multi_now()) {
        if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
            return;
    } else if (--t->refs > 0) {
        return;
    }
    if (t->status < 0 && t->status != -ECANCELED && !t->retrieved)
        weft__report_unretrieved(t);
    if (t->name)
        free(t->name);
    if (t->why && t->why->heap)
        free((void *)t->why);
    task_free(t);
}

static void task_list(weft__loop_t *L, weft_task_t *t);

int weft__task_new(weft__loop_t *L, weft_task_t **out, weft_task_fn fn, void *arg,
                   const weft_task_opts_t *opts, weft__super_t *super)
{
    if (opts && (opts->place < WEFT_PLACE_DEFAULT || opts->place > WEFT_PLACE_WORKER ||
                 (opts->place == WEFT_PLACE_WORKER &&
                  (opts->worker < 0 || opts->worker >= L->rt->n))))
        return -EINVAL;
    size_t req = weft__stack_round(opts && opts->stack_size ? opts->stack_size : L->stack_size);
    if (req == 0)
        return -EINVAL;
    int copy = weft__stack_mode_pick(L->copy_stack, opts);
    if (copy < 0)
        return copy;
    weft_task_t *t = task_alloc();
    if (!t)
        return -ENOMEM;
    weft__zero(t, sizeof *t);
    if (weft__name_dup(opts ? opts->name : NULL, &t->name) < 0) {
        task_free(t);
        return -ENOMEM;
    }
    t->stack_req = (uint32_t)req;
    t->copy = (uint8_t)copy;
    t->q.kind = WEFT__Q_TASK;
    t->loop = L;
    t->fn = fn;
    t->arg = arg;
    t->refs = 1 + (out != NULL);
    t->handles = out != NULL;
    t->magic = WEFT__TASK_LIVE;
    t->parent = weft__task();
    t->locals = weft__local_inherit(t->parent); /* shared, nothing allocated */
    /* unique in the runtime: worker i numbers i+1, i+1+n, ... */
    t->id = L->next_id++ * (uint64_t)L->rt->n + (uint64_t)L->index + 1;
    t->woken = 1; /* not parked: nothing may wake it */
    t->super = super; /* before it is placed: a thief may run it at once */
    t->tstate = WEFT_TASK_PENDING;
    weft__count(&L->live, 1);
    int place = weft__place_of(L, opts);
    if (super && super->hold) {
        /* its supervisor places it later (task.h) */
    } else if (WEFT_LIKELY(L->rt->n == 1 || place == WEFT_PLACE_HERE)) {
        if (WEFT_UNLIKELY(opts && opts->eager)) {
            task_list(L, t); /* its first step comes from weft__task_eager */
            t->eager = 1;
        } else {
            weft__task_adopt(L, t);
        }
    } else {
        /* it may run on another worker: worker 0 takes locks from now on
         * (worker.c). At once when no guard can be held here; a group
         * turns them on before it takes its lock (group.c), and
         * weft__place asks for a later turn otherwise. */
        if (!super)
            weft__rt_lock_before_spawn(opts);
        int rc = weft__place(L, t, place, opts ? opts->worker : 0);
        if (rc < 0) {
            weft__count(&L->live, -1);
            free(t->name);
            task_free(t);
            return rc;
        }
    }
    if (out)
        *out = t;
    return 0;
}

/* The body's room at the top of an own-stack task's stack, whole cache
 * lines so the first frame below starts on a line of its own. */
#define TBODY_RESERVE ((sizeof(weft__tbody_t) + 63) & ~(size_t)63)

/* Gives t its body and stack at its first step (see loop.h). */
static int body_make(weft_task_t *t)
{
    weft__tbody_t *b;
    weft__stack_t st = {0};
    if (t->copy) {
        if (!(b = weft__slab_alloc(sizeof *b)))
            return -ENOMEM;
    } else {
        weft__stack_guard_thread();
        if (weft__stack_get(&st, t->stack_req) != 0)
            return -ENOMEM;
        b = (weft__tbody_t *)((char *)st.base + st.size - TBODY_RESERVE);
    }
    weft__zero(b, sizeof *b);
    weft_coro_t *co = &b->co;
    co->kind = WEFT__KIND_TASK;
    co->state = WEFT_CORO_CREATED;
    co->stack_req = t->stack_req;
    co->fn = task_body;
    co->arg = t;
    co->name = t->name; /* the handle's: the coroutine does not own it */
    co->copy = t->copy;
    co->task = t;
    b->timer.kind = WEFT__TIMER_TASK;
    b->timer.idx = WEFT__NO_INDEX;
    b->deadline = WEFT_FOREVER;
    b->waiter.task = t;
    if (t->copy) {
        if (weft__coro_prepare(co) < 0) {
            weft__slab_free(b, sizeof *b);
            return -ENOMEM;
        }
    } else {
        co->stack = st;
        weft__coro_prepare_held(co, TBODY_RESERVE);
    }
    t->b = b;
    return 0;
}

/* Ends t's body: its coroutine's stack (and with it an own-stack task's
 * body) goes back to the pool. */
static void body_drop(weft_task_t *t)
{
    weft__tbody_t *b = t->b;
    if (!b)
        return;
    t->b = NULL;
    weft__coro_release(&b->co); /* touches nothing of b once the stack is back */
    if (t->copy)
        weft__slab_free(b, sizeof *b);
}

static void task_list(weft__loop_t *L, weft_task_t *t)
{
    /* placed elsewhere, it was set before it was posted; atomic, as every
     * store of a placed task's loop: a cancellation posted to the loop a
     * held group child was made on reads it meanwhile (cancel_post_fn) */
    if (__atomic_load_n(&t->loop, __ATOMIC_RELAXED) != L)
        __atomic_store_n(&t->loop, L, __ATOMIC_RELAXED);
    t->all_prev = NULL;
    t->all_next = L->all;
    if (L->all)
        L->all->all_prev = t;
    L->all = t;
    L->ntasks++;
}

/* t becomes L's: listed and counted, before its first step. */
static inline void task_take(weft__loop_t *L, weft_task_t *t)
{
    task_list(L, t);
    WEFT__STAT(L, started);
    WEFT__STAT_FIRST(L, first_start);
}

void weft__task_adopt(weft__loop_t *L, weft_task_t *t)
{
    task_take(L, t);
    weft__runq_push(&L->ready, &t->q);
}

void weft__task_start(weft__loop_t *L, weft_task_t *t)
{
    task_take(L, t);
    weft__task_run(L, t);
}

void weft__task_eager(weft_task_t *t)
{
    if (WEFT_LIKELY(!t->eager))
        return;
    t->eager = 0;
    weft__loop_t *L = t->loop;
    weft__thread_t *thr = L->thr;
    weft_task_t *self = weft__task();
    if (self) {
        /* weft__task_run, back on the loop's stack, runs t, then us */
        L->eager = t;
        L->eager_back = self;
        weft__step_aside(self);
    } else if (thr->current == &thr->root) {
        weft__task_run(L, t);
    } else {
        weft__runq_push(&L->ready, &t->q);
    }
}

int weft_spawn(weft_task_t **task, weft_task_fn fn, void *arg, const weft_task_opts_t *opts)
{
    if (!fn)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    if (WEFT_LIKELY(!opts || !opts->eager))
        return weft__task_new(L, task, fn, arg, opts, NULL);
    weft_task_t *t;
    int rc = weft__task_new(L, &t, fn, arg, opts, NULL);
    if (rc < 0)
        return rc;
    weft__task_ref(t); /* kept across its first step, which may end it */
    if (task)
        *task = t;
    else
        weft__task_unref(t); /* the handle weft__task_new gave for &t */
    weft__task_eager(t);
    weft__task_unref(t);
    return 0;
}

/* The end of a task, on the loop's stack. Its awaiters and done
 * callbacks are taken off under its lock and woken after it. */
static void finish(weft__loop_t *L, weft_task_t *t)
{
    body_drop(t);
    weft__local_release(t); /* its task-local values; destructors may run */
    if (t->all_prev)
        t->all_prev->all_next = t->all_next;
    else
        L->all = t->all_next;
    if (t->all_next)
        t->all_next->all_prev = t->all_prev;
    t->all_prev = t->all_next = NULL;
    L->ntasks--;
    if (t->super)
        t->super->child_done(t->super, t);
    weft__waiter_t *first = NULL, **tail = &first, *w;
    {
        WEFT__LOCK(&t->mu);
        __atomic_store_n(&t->tstate, WEFT_TASK_DONE, __ATOMIC_RELEASE);
        while ((w = weft__wlist_take(&t->done_waiters))) {
            *tail = w;
            tail = &w->next;
        }
    }
    /* an awaiter may run (and wait again) once woken: read on first */
    weft__batch_begin();
    for (w = first; w;) {
        weft__waiter_t *next = w->next;
        w->next = NULL;
        if (w->task)
            weft__deliver(w->task, 0);
        else
            w->notify(w, t);
        w = next;
    }
    weft__batch_end();
    weft__count(&L->live, -1);
    weft__countu(&L->ended);
    weft__rt_t *rt = L->rt;
    if (WEFT_UNLIKELY(atomic_load_explicit(&rt->closing, memory_order_relaxed)) && rt->n > 1 &&
        weft__rt_live(rt) == 0)
        weft__rt_wake_all(rt); /* the last task of a closing runtime */
    weft__task_unref(t);
}

void weft__task_run(weft__loop_t *L, weft_task_t *t)
{
    weft__thread_t *thr = L->thr;
    if (t->tstate == WEFT_TASK_PENDING) {
        if (weft__cancel_req(t)) {
            /* cancelled before it started: it never runs */
            t->status = -ECANCELED;
            finish(L, t);
            return;
        }
        if (body_make(t) < 0) {
            t->status = -ENOMEM;
            finish(L, t);
            return;
        }
        t->b->co.thread = thr;
        t->b->co.state = WEFT_CORO_RUNNING;
        t->b->co.resumer = &thr->root;
        t->b->top = &t->b->co;
    }
    if (t->b->unpark) {
        /* an interrupter ended its park: off the list it waited on now,
         * under that object's lock (the unpark takes it) */
        void (*unpark)(weft_task_t *) = t->b->unpark;
        t->b->unpark = NULL;
        unpark(t);
    }
    weft__set_tstate(t, WEFT_TASK_RUNNING);
    t->b->wait_kind = NULL;
    t->b->wait_obj = NULL;
    L->current = t;
    thr->current = t->b->top;
    thr->budget = WEFT__BUDGET; /* a new step: the cooperative budget is whole (loop.h) */
    int64_t t0 = L->debug ? weft_now() : 0;
    /* copy-stack: its frames onto the shared stack (see coro.c) */
    if (t->b->co.copy)
        weft__cs_enter(thr, &t->b->co);
    /* the switch hands the waker's status to the parked call */
    weft__coro_switch(&thr->root, t->b->top, (void *)(intptr_t)t->b->wake_status, false);
    L->current = NULL;
    if (L->debug) {
        int64_t d = weft_now() - t0;
        if (d > L->slow_step_ns)
            weft__report_slow(t, d);
    }
    if (t->b->co.state != WEFT_CORO_DEAD && t->b->co.copy && (TASK_CS_EAGER || L->debug))
        weft__cs_leave(thr, &t->b->co, L->debug); /* guard the vacated region */
    weft__task_after(L, t);
}

void weft__task_after(weft__loop_t *L, weft_task_t *t)
{
    if (t->b->co.state == WEFT_CORO_DEAD)
        finish(L, t);
    if (WEFT_UNLIKELY(L->eager != NULL)) {
        /* t stepped aside for a task it spawned eager: that one's first
         * step, then t again, ahead of everything else ready */
        weft_task_t *e = L->eager, *back = L->eager_back;
        L->eager = L->eager_back = NULL;
        weft__task_run(L, e);
        weft__task_run(L, back);
    }
}

/* Reclaims a task that cannot finish by itself (the loop is closing and
 * nothing can wake it). Its stack is discarded where it stands. */
void weft__task_discard(weft__loop_t *L, weft_task_t *t)
{
    weft__report_pending(t);
    if (t->b) {
        t->b->co.state = WEFT_CORO_DEAD; /* weft__discarding(t) from here */
        if (t->tstate == WEFT_TASK_WAITING && weft__claim_any(t) && t->b->unpark)
            t->b->unpark(t);
        t->b->unpark = NULL;
        weft__timer_disarm(L, &t->b->timer);
    }
    t->status = -ECANCELED;
    finish(L, t);
}

void weft__task_watch(weft_task_t *t, weft__waiter_t *w)
{
    {
        WEFT__LOCK(&t->mu);
        if (weft__tstate(t) != WEFT_TASK_DONE) {
            weft__wlist_push(&t->done_waiters, w);
            return;
        }
    }
    w->notify(w, t);
}

/* An awaiter interrupted (cancelled, timed out) leaves the task it
 * awaited, which it still holds a reference to. */
static void unpark_awaiter(weft_task_t *t)
{
    weft_task_t *awaited = (weft_task_t *)t->b->wait_obj;
    WEFT__LOCK(&awaited->mu);
    weft__wlist_remove(&t->b->waiter);
}

static void describe_await(FILE *out, const void *obj)
{
    const weft_task_t *o = obj;
    char buf[32];
    fprintf(out, " on task #%llu \"%s\"", (unsigned long long)o->id, weft__task_label(o, buf));
}

static const weft__wait_kind_t await_kind = {
    .name = "a task", .describe = describe_await, .on_tasks = true};

/* t is done: its status and result (and it counts as retrieved). */
static int collect(weft_task_t *t, void **result)
{
    __atomic_store_n(&t->retrieved, 1, __ATOMIC_RELAXED);
    if (result)
        *result = t->result;
    return t->status;
}

int weft_await(weft_task_t *t, void **result)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!t)
        return -EINVAL;
    if (weft__task_stale(t))
        return weft__stale("task", t, "weft_await");
    if (t == self)
        return -EDEADLK;
    weft__coop_soft(); /* a done task's answer is never replaced */
    if (weft__tstate(t) == WEFT_TASK_DONE)
        return collect(t, result);
    int rc = weft__wait_check(self);
    if (rc)
        return rc;
    weft__task_ref(t); /* the caller may drop its handle while we wait */
    {
        WEFT__LOCK(&t->mu);
        if (weft__tstate(t) != WEFT_TASK_DONE) {
            weft__wlist_push(&t->done_waiters, &self->b->waiter);
            rc = weft__park(self, &await_kind, t, unpark_awaiter, WEFT_FOREVER, &weft__lk);
        }
    }
    if (rc == 0)
        rc = collect(t, result);
    weft__task_unref(t);
    return rc;
}

void weft__task_join_quietly(weft_task_t *t)
{
    weft_task_t *self = weft__task();
    if (!self || t == self || weft__tstate(t) == WEFT_TASK_DONE)
        return;
    weft__task_ref(t);
    self->b->nocancel++;
    {
        WEFT__LOCK(&t->mu);
        while (weft__tstate(t) != WEFT_TASK_DONE) {
            weft__wlist_push(&t->done_waiters, &self->b->waiter);
            weft__park(self, &await_kind, t, unpark_awaiter, WEFT_FOREVER, &weft__lk);
        }
    }
    self->b->nocancel--;
    weft__task_unref(t);
}

int weft_task_release(weft_task_t *t)
{
    if (!t)
        return -EINVAL;
    /* a handle released once too often: the record is freed (stale) or
     * holds no handle any more (the task still runs on its own reference) */
    if (weft__task_stale(t))
        return weft__stale("task", t, "weft_task_release");
    uint32_t h = __atomic_load_n(&t->handles, __ATOMIC_RELAXED);
    do {
        if (WEFT_UNLIKELY(h == 0))
            return weft__stale("task", t, "weft_task_release");
    } while (!__atomic_compare_exchange_n(&t->handles, &h, h - 1, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    weft__task_unref(t);
    return 0;
}

static const weft__why_t why_codes[] = {
    {WEFT_CANCEL_REQUESTED, false, NULL}, {WEFT_CANCEL_DEADLINE, false, NULL},
    {WEFT_CANCEL_GROUP, false, NULL},     {WEFT_CANCEL_SHUTDOWN, false, NULL},
    {WEFT_CANCEL_SIGNAL, false, NULL},    {WEFT_CANCEL_DEADLOCK, false, NULL}};

/* Records why t is cancelled, unless a reason is there already. */
static int set_why(weft_task_t *t, int code, const char *msg)
{
    if (__atomic_load_n(&t->why, __ATOMIC_ACQUIRE))
        return 0;
    const weft__why_t *why;
    weft__why_t *w = NULL;
    if (!msg && code >= 0 && code < (int)(sizeof why_codes / sizeof why_codes[0])) {
        why = &why_codes[code];
    } else {
        size_t len = msg ? strlen(msg) + 1 : 0;
        if (!(w = malloc(sizeof *w + len)))
            return -ENOMEM;
        w->code = code;
        w->heap = true;
        w->msg = msg ? memcpy((char *)(w + 1), msg, len) : NULL;
        why = w;
    }
    const weft__why_t *none = NULL;
    if (!__atomic_compare_exchange_n(&t->why, &none, why, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        free(w); /* another reason came first */
    return 0;
}

int weft__cancel_why(weft_task_t *t, int code, const char *msg)
{
    if (weft__tstate(t) == WEFT_TASK_DONE)
        return -EALREADY;
    int rc = set_why(t, code, msg);
    __atomic_fetch_add(&t->cancel_req, 1, __ATOMIC_RELAXED);
    /* a task not started yet reads cancel_req when it starts */
    weft__loop_t *L = weft__self.loop;
    if (!L || !weft__cancel_local(L, t))
        weft__cancel_remote(t);
    return rc;
}

int weft__own_reason(const weft_task_t *t)
{
    const weft__why_t *why = __atomic_load_n(&t->why, __ATOMIC_ACQUIRE);
    return why ? why->code : WEFT_CANCEL_REQUESTED;
}

int weft_cancel(weft_task_t *t)
{
    if (!t)
        return -EINVAL;
    if (weft__task_stale(t))
        return weft__stale("task", t, "weft_cancel");
    return weft__cancel_why(t, WEFT_CANCEL_REQUESTED, NULL);
}

int weft_cancel_with(weft_task_t *t, int reason, const char *msg)
{
    if (!t || reason < 0)
        return -EINVAL;
    if (weft__task_stale(t))
        return weft__stale("task", t, "weft_cancel_with");
    return weft__cancel_why(t, reason, msg);
}

int weft_task_cancel_reason(const weft_task_t *t, const char **msg)
{
    if (msg)
        *msg = NULL;
    if (!t)
        return -EINVAL;
    const weft__why_t *why = __atomic_load_n(&t->why, __ATOMIC_ACQUIRE);
    if (!why)
        return -ENOENT;
    if (msg)
        *msg = why->msg;
    return why->code;
}

int weft_task_cancelling(const weft_task_t *t)
{
    return t ? (int)weft__cancel_req(t) : -EINVAL;
}

const char *weft_cancel_reason_name(int reason)
{
    static const char *const names[] = {"requested", "deadline", "group",
                                        "shutdown",  "signal",   "deadlock"};
    if (reason >= 0 && reason < (int)(sizeof names / sizeof names[0]))
        return names[reason];
    return reason >= WEFT_CANCEL_USER ? "user" : "unknown";
}

int weft_uncancel(void)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    return (int)__atomic_exchange_n(&self->cancel_req, 0, __ATOMIC_RELAXED);
}

int weft_task_state(const weft_task_t *t)
{
    return t ? weft__tstate(t) : -EINVAL;
}

bool weft_task_done(const weft_task_t *t)
{
    return t && weft__tstate(t) == WEFT_TASK_DONE; /* acquire: what it left is visible */
}

bool weft_task_cancelled(const weft_task_t *t)
{
    return t && weft__cancel_req(t) > 0;
}

int weft_task_result(weft_task_t *t, void **result)
{
    if (!t)
        return -EINVAL;
    if (weft__tstate(t) != WEFT_TASK_DONE)
        return -EAGAIN;
    return collect(t, result);
}

const char *weft__task_label(const weft_task_t *t, char buf[32])
{
    const char *name = __atomic_load_n(&t->name, __ATOMIC_ACQUIRE);
    if (name)
        return name;
    snprintf(buf, 32, "Task-%llu", (unsigned long long)t->id);
    return buf;
}

const char *weft_task_name(const weft_task_t *t)
{
    if (!t)
        return NULL;
    char *name = __atomic_load_n(&t->name, __ATOMIC_ACQUIRE);
    if (name)
        return name;
    /* unnamed: "Task-N", made the first time it is asked for (a spawn
     * makes no name), kept with the handle */
    char buf[32];
    weft__task_label(t, buf);
    char *made = strdup(buf);
    if (!made)
        return "";
    char *none = NULL;
    weft_task_t *w = (weft_task_t *)t; /* the name is the handle's cache */
    if (!__atomic_compare_exchange_n(&w->name, &none, made, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        free(made);
        return none;
    }
    return made;
}

weft_task_t *weft_current(void)
{
    return weft__task();
}

int weft_tasks(weft_task_t **out, size_t max)
{
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    if (!out && max)
        return -EINVAL;
    size_t n = 0;
    for (weft_task_t *t = L->all; t; t = t->all_next, n++)
        if (n < max)
            out[n] = t;
    return (int)n;
}

typedef struct {
    weft__waiter_t w;
    void (*fn)(weft_task_t *, void *);
    void *arg;
} done_cb_t;

static void done_cb_notify(weft__waiter_t *w, void *src)
{
    done_cb_t *d = (done_cb_t *)w;
    d->fn(src, d->arg);
    free(d);
}

int weft_task_on_done(weft_task_t *t, void (*fn)(weft_task_t *, void *), void *arg)
{
    if (!t || !fn)
        return -EINVAL;
    done_cb_t *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->w.notify = done_cb_notify;
    d->fn = fn;
    d->arg = arg;
    weft__task_watch(t, &d->w); /* runs it at once if t is done */
    return 0;
}

/* ---- deadlines ---- */

#define SCOPE_OPEN 0x5c09e0u /* weft_deadline_t.open while pushed */

/* The earliest deadline of the scopes from s outwards. */
static int64_t scopes_earliest(const weft_deadline_t *s)
{
    int64_t when = WEFT_FOREVER;
    for (; s; s = s->up)
        if (s->when < when)
            when = s->when;
    return when;
}

/* Whether d is open in t (on t's chain of scopes). Only pointers are
 * compared: a scope never pushed is uninitialised memory. */
static bool scope_open_in(const weft_deadline_t *d, const weft_task_t *t)
{
    for (const weft_deadline_t *s = t->b->scope; s; s = s->up)
        if (s == d)
            return true;
    return false;
}

int weft_deadline_push_at(weft_deadline_t *d, int64_t when)
{
    if (!d)
        return -EINVAL;
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    if (scope_open_in(d, t))
        return -EALREADY;
    d->when = when;
    d->task = t;
    d->up = t->b->scope;
    d->open = SCOPE_OPEN;
    t->b->scope = d;
    if (when < t->b->deadline)
        t->b->deadline = when;
    return 0;
}

/* now + timeout_ns without overflow: WEFT_FOREVER stays none, a negative
 * timeout lands in the past. */
static int64_t after(int64_t timeout_ns)
{
    if (timeout_ns == WEFT_FOREVER)
        return WEFT_FOREVER;
    int64_t now = weft_now();
    if (timeout_ns > 0 && timeout_ns > WEFT_FOREVER - 1 - now)
        return WEFT_FOREVER - 1;
    if (timeout_ns < 0 && timeout_ns < INT64_MIN + now)
        return INT64_MIN;
    return now + timeout_ns;
}

int weft_deadline_push(weft_deadline_t *d, int64_t timeout_ns)
{
    return weft_deadline_push_at(d, after(timeout_ns));
}

int weft_deadline_reschedule(weft_deadline_t *d, int64_t when)
{
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    if (!d || !scope_open_in(d, t))
        return -EINVAL;
    d->when = when;
    t->b->deadline = scopes_earliest(t->b->scope);
    return 0;
}

int64_t weft_deadline_when(const weft_deadline_t *d)
{
    return d ? d->when : -EINVAL;
}

int weft_deadline_pop(weft_deadline_t *d)
{
    weft_task_t *t = weft__task();
    if (!d || !t || t->b->scope != d || d->task != t || d->open != SCOPE_OPEN)
        return -EINVAL;
    t->b->scope = d->up;
    t->b->deadline = scopes_earliest(d->up);
    d->task = NULL;
    d->up = NULL;
    d->open = 0;
    return d->when != WEFT_FOREVER && weft_now() >= d->when ? -ETIMEDOUT : 0;
}

int weft_wait_for(weft_task_t *t, int64_t timeout_ns, void **result)
{
    weft_task_t *self = weft__task();
    if (!self)
        return -WEFT_ENOTASK;
    if (!t)
        return -EINVAL;
    if (t == self)
        return -EDEADLK;
    weft_deadline_t d = {0};
    weft__task_ref(t); /* the caller may drop its handle while we wait */
    weft_deadline_push(&d, timeout_ns);
    int rc = weft_await(t, result);
    weft_deadline_pop(&d);
    if (weft__tstate(t) == WEFT_TASK_DONE) {
        rc = collect(t, result);
    } else {
        /* we were cancelled or timed out: t is cancelled and let unwind */
        weft__cancel_why(t, rc == -ETIMEDOUT ? WEFT_CANCEL_DEADLINE : weft__own_reason(self),
                         NULL);
        weft__task_join_quietly(t);
        /* what t did stands: an end of its own is its outcome, only a
         * cancellation reads as our time-out or cancellation */
        if (t->status != -ECANCELED)
            rc = collect(t, result);
        else
            __atomic_store_n(&t->retrieved, 1, __ATOMIC_RELAXED);
    }
    weft__task_unref(t);
    return rc;
}

static int shield_body(void *arg, void **result)
{
    return weft_await(arg, result);
}

/* The shield's reference to inner goes when the shield ends, also if it
 * was cancelled before it ever ran. */
static void shield_done(weft_task_t *shield, void *inner)
{
    (void)shield;
    weft__task_unref(inner);
}

int weft_shield(weft_task_t **out, weft_task_t *inner)
{
    if (!out || !inner)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    weft_task_opts_t o = {.name = "shield", .place = WEFT_PLACE_HERE};
    weft__task_ref(inner);
    int rc = weft__task_new(L, out, shield_body, inner, &o, NULL);
    if (rc == 0 && (rc = weft_task_on_done(*out, shield_done, inner)) < 0) {
        weft_cancel(*out);
        weft_task_release(*out);
    }
    if (rc < 0)
        weft__task_unref(inner);
    return rc;
}
