/* gen.c - generators over coroutines: next, send, close, yield from.
 *
 * Owns: a generator's coroutine, its final value and status, and the
 * close protocol. A generator is a coroutine of kind GEN whose body is
 * gen_body; weft_gen_yield is its yield.
 *
 * Invariants: once `finished` is set the coroutine never runs again.  A
 * failure status is reported once, by the call that saw the body end. A close
 * sets co.closing before resuming, so the pending weft_gen_yield returns
 * -ECANCELED; a body that yields again instead of returning is caught by
 * weft_gen_close and discarded rather than run on.
 */
#include "internal.h"

#include <stdlib.h>

struct weft_gen {
    weft_coro_t co;
    weft_gen_fn fn;
    void *arg;
    void *result; /* the body's final value */
    int status;   /* the body's return status */
    bool finished;
};

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

/* The body returned: record how, and report it the way send does. */
static int finish(weft_gen_t *g, void **out)
{
    g->finished = true;
    weft__coro_release(&g->co); /* a finished generator holds no stack */
    if (g->status < 0 && g->status != -ECANCELED) {
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
            weft_gen_close(sub);
            return -ECANCELED;
        }
        rc = weft_gen_send(sub, sent, &val);
    }
}

int weft_gen_close(weft_gen_t *g)
{
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
        return (g->status < 0 && g->status != -ECANCELED) ? g->status : 0;
    }
    if (rc == 0) {
        /* the body yielded instead of returning: it cannot be run on */
        g->finished = true;
        g->co.state = WEFT_CORO_DEAD;
        weft__coro_fini(&g->co);
        return -EPROTO;
    }
    g->co.closing = 0; /* not resumed (-WEFT_ETHREAD): the close never reached it */
    return rc;
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
    weft__coro_fini(&g->co);
    free(g);
    return 0;
}
