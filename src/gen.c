/* gen.c - generators over coroutines: next, send, throw, close, yield from.
 *
 * Owns: a generator's coroutine, its final value and status, the error a
 * throw delivers, and the close protocol. A generator is a coroutine of
 * kind GEN whose body is gen_body; weft_gen_yield is its yield.
 *
 * Invariants: once `finished` is set the coroutine never runs again.  A
 * failure status is reported once, by the call that saw the body end. A close
 * sets co.closing before resuming, so the pending weft_gen_yield returns
 * -ECANCELED; a body that yields again instead of returning is caught by
 * weft_gen_close and discarded rather than run on. A throw sets `thrown`
 * before resuming, and the pending weft_gen_yield takes it (clearing it)
 * as its return: `thrown` is non-zero only between those two points.
 * Delegation (yield from) follows PEP 380: what is sent or thrown to the
 * delegator goes to the sub-generator first; a close closes the
 * sub-generator, and an error of its clean-up replaces the -ECANCELED the
 * delegator would have seen, so the close reports it.
 *
 * A generator first advanced on a loop's thread is on that loop's list
 * (`loop`, oldest first) until it finishes or is destroyed; when weft_run
 * ends, close_worker closes every one still suspended there, after the
 * loop's last task ended (weft__gen_close_all), so a body's clean-up runs
 * before weft_run returns, as asyncio.run shuts down async generators.
 */
#include "loop.h"

#include <stdlib.h>

struct weft_gen {
    weft_coro_t co;
    weft_gen_fn fn;
    void *arg;
    void *result; /* the body's final value */
    int status;   /* the body's return status */
    int thrown;   /* a throw's error for the pending yield, or 0 */
    bool finished;
    /* while started and not finished on a loop's thread: on that loop's
     * list, which weft_run closes (weft__gen_close_all) */
    weft__loop_t *loop;
    weft_gen_t *lprev, *lnext;
};

/* ---- the loop's list of started generators ---- */

/* A generator's first advance on a thread with a loop puts it on that
 * loop's list: weft_run closes those left suspended when it ends, as
 * asyncio.run shuts down async generators. */
static void track(weft_gen_t *g)
{
    weft__loop_t *L = weft__loop();
    if (!L || g->loop)
        return;
    WEFT__LOCK(&L->gens_mu);
    g->loop = L;
    g->lnext = NULL;
    g->lprev = L->gens_tail; /* oldest first: a delegator before its sub */
    if (L->gens_tail)
        L->gens_tail->lnext = g;
    else
        L->gens = g;
    L->gens_tail = g;
}

static void untrack(weft_gen_t *g)
{
    weft__loop_t *L = g->loop;
    if (!L)
        return;
    WEFT__LOCK(&L->gens_mu);
    if (g->lprev)
        g->lprev->lnext = g->lnext;
    else
        L->gens = g->lnext;
    if (g->lnext)
        g->lnext->lprev = g->lprev;
    else
        L->gens_tail = g->lprev;
    g->loop = NULL;
    g->lprev = g->lnext = NULL;
}

/* Oldest first, so a delegating generator closes its sub-generator
 * itself (and reports that one's clean-up error, PEP 380). */
void weft__gen_close_all(weft__loop_t *L)
{
    for (;;) {
        weft_gen_t *g;
        {
            WEFT__LOCK(&L->gens_mu);
            g = L->gens;
        }
        if (!g)
            return;
        /* a generator running now (a body that closes others) is no one's
         * to close here: only a suspended one */
        if (g->co.state == WEFT_CORO_SUSPENDED)
            weft_gen_close(g); /* its body's clean-up runs; untracks it */
        untrack(g);
    }
}

static void *gen_body(void *p)
{
    weft_gen_t *g = p;
    g->result = NULL;
    g->status = g->fn(g->arg, &g->result);
    return NULL;
}

int weft_gen_create(weft_gen_t **out, weft_gen_fn fn, void *arg, const weft_coro_opts_t *opts)
{
    if (!out || !fn)
        return -EINVAL;
    weft_gen_t *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    int rc = weft__coro_init(&g->co, WEFT__KIND_GEN, gen_body, g, opts);
    if (rc < 0) {
        free(g);
        return rc;
    }
    g->fn = fn;
    g->arg = arg;
    *out = g;
    return 0;
}

/* The body returned (not during a close): record how, and report it the
 * way send does. -ECANCELED is a failure here like any other: outside a
 * close it comes from the task's cancellation (a sleep in the body) or a
 * throw, and reading it as "exhausted" would hide it. */
static int finish(weft_gen_t *g, void **out)
{
    g->finished = true;
    untrack(g);
    weft__coro_release(&g->co); /* a finished generator holds no stack */
    if (g->status < 0) {
        if (out)
            *out = NULL;
        return g->status;
    }
    if (out)
        *out = g->result;
    return WEFT_DONE;
}

int weft_gen_send(weft_gen_t *g, void *value, void **out)
{
    if (!g)
        return -EINVAL;
    if (g->finished) {
        if (out)
            *out = NULL;
        return WEFT_DONE;
    }
    if (WEFT_UNLIKELY(g->co.state == WEFT_CORO_CREATED))
        track(g);
    int rc = weft_coro_resume(&g->co, value, out);
    if (rc == WEFT_DONE)
        return finish(g, out);
    return rc;
}

int weft_gen_next(weft_gen_t *g, void **out)
{
    return weft_gen_send(g, NULL, out);
}

static weft_gen_t *current_gen(void)
{
    weft_coro_t *co = weft__thr()->current;
    return co->kind == WEFT__KIND_GEN ? WEFT_CONTAINER_OF(co, weft_gen_t, co) : NULL;
}

int weft_gen_yield(void *value, void **sent)
{
    weft_gen_t *g = current_gen();
    if (!g)
        return -WEFT_ENOTCORO;
    /* a yield while closing really yields: weft_gen_close sees it and
     * discards the generator (Python's "generator ignored GeneratorExit") */
    void *r = weft__coro_yield_to_resumer(&g->co, value);
    if (g->co.closing)
        return -ECANCELED;
    if (g->thrown) {
        int err = g->thrown;
        g->thrown = 0;
        return err;
    }
    if (sent)
        *sent = r;
    return 0;
}

int weft_gen_yield_from(weft_gen_t *sub, void **result)
{
    weft_gen_t *g = current_gen();
    if (!g)
        return -WEFT_ENOTCORO;
    if (!sub || sub == g)
        return -EINVAL;
    void *val = NULL, *sent = NULL;
    int rc = weft_gen_send(sub, NULL, &val);
    for (;;) {
        if (rc == WEFT_DONE) {
            if (result)
                *result = val;
            return 0;
        }
        if (rc < 0)
            return rc;
        int yr = weft_gen_yield(val, &sent);
        if (yr == -ECANCELED) {
            /* closed (or -ECANCELED thrown, Python's GeneratorExit): the
             * sub goes first, and its clean-up's error is what we report */
            int cr = weft_gen_close(sub);
            return cr < 0 ? cr : -ECANCELED;
        }
        if (yr < 0)
            rc = weft_gen_throw(sub, yr, &val); /* thrown: to the sub first */
        else
            rc = weft_gen_send(sub, sent, &val);
    }
}

int weft_gen_throw(weft_gen_t *g, int err, void **out)
{
    if (out)
        *out = NULL;
    if (!g || err >= 0)
        return -EINVAL;
    if (g->co.state == WEFT_CORO_RUNNING)
        return -EBUSY;
    if (g->finished)
        return err; /* nothing left to catch it: it comes straight back */
    if (g->co.state == WEFT_CORO_CREATED) {
        /* raised before the body's first line, where nothing catches it:
         * the body never runs */
        g->finished = true;
        g->co.state = WEFT_CORO_DEAD;
        return err;
    }
    g->thrown = err;
    int rc = weft_coro_resume(&g->co, NULL, out);
    if (rc < 0) {
        g->thrown = 0; /* refused (another thread): nothing was delivered */
        return rc;
    }
    if (rc == WEFT_DONE)
        return finish(g, out);
    return rc;
}

int weft_gen_close_value(weft_gen_t *g, void **result)
{
    if (result)
        *result = NULL;
    if (!g)
        return -EINVAL;
    if (g->co.state == WEFT_CORO_RUNNING)
        return -EBUSY;
    if (g->finished)
        return 0;
    if (g->co.state == WEFT_CORO_CREATED) {
        g->finished = true;
        g->co.state = WEFT_CORO_DEAD;
        return 0;
    }
    g->co.closing = 1;
    int rc = weft_coro_resume(&g->co, NULL, NULL);
    if (rc == WEFT_DONE) {
        g->finished = true;
        untrack(g);
        if (g->status == 0 && result)
            *result = g->result; /* it returned a value on being closed */
        return (g->status < 0 && g->status != -ECANCELED) ? g->status : 0;
    }
    if (rc == 0) {
        /* the body yielded instead of returning: it cannot be run on */
        g->finished = true;
        untrack(g);
        g->co.state = WEFT_CORO_DEAD;
        weft__coro_fini(&g->co);
        return -EPROTO;
    }
    g->co.closing = 0; /* not resumed (-WEFT_ETHREAD): the close never reached it */
    return rc;
}

int weft_gen_close(weft_gen_t *g)
{
    return weft_gen_close_value(g, NULL);
}

bool weft_gen_running(const weft_gen_t *g)
{
    return g && g->co.state == WEFT_CORO_RUNNING;
}

bool weft_gen_done(const weft_gen_t *g)
{
    return g ? g->finished : true;
}

int weft_gen_destroy(weft_gen_t *g)
{
    if (!g)
        return -EINVAL;
    if (g->co.state == WEFT_CORO_RUNNING)
        return -EBUSY;
    if (g->co.state == WEFT_CORO_SUSPENDED)
        weft_gen_close(g);
    untrack(g);
    weft__coro_fini(&g->co);
    free(g);
    return 0;
}
