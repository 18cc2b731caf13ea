/* create.c - the `create` workload: create, run to its end and destroy a
 * coroutine that returns at once, N (10^6) times; ns_per_op per coroutine.
 *
 * impls: weft (weft_coro_create + resume + destroy, the default stack
 * from weft's pool), ucontext (getcontext + makecontext + swapcontext,
 * back through uc_link) and boost-fcontext (make_fcontext + jump_fcontext;
 * the body jumps back at once, as an fcontext function must instead of
 * returning). For a fair comparison with weft's pool, the ucontext and
 * fcontext stacks come from a simple pool too: malloc'd once, reused for
 * every coroutine, freed at the end. All stacks have
 * weft_stack_default_size() bytes.
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#define CREATE_N 1000000L
#define CREATE_WARMUP 1000L
#define POOL_MAX 16

static const char *const W = "create";

static void report(const char *impl, int64_t ns, long n)
{
    bench_json(W, impl, "\"ns_per_op\":%.2f,\"n\":%ld", (double)ns / (double)n, n);
}

/* ---- a simple stack pool for the peers ---- */

typedef struct pool {
    size_t size;
    int n;
    void *free[POOL_MAX];
} pool_t;

static void *pool_get(pool_t *p)
{
    return p->n > 0 ? p->free[--p->n] : malloc(p->size);
}

static void pool_put(pool_t *p, void *sp)
{
    if (p->n < POOL_MAX)
        p->free[p->n++] = sp;
    else
        free(sp);
}

static void pool_drain(pool_t *p)
{
    while (p->n > 0)
        free(p->free[--p->n]);
}

/* ---- weft ---- */

static void *weft_body(void *arg)
{
    return arg;
}

static int weft_once(void)
{
    weft_coro_t *co;
    int rc = weft_coro_create(&co, weft_body, NULL, NULL);
    if (rc != 0)
        return rc;
    rc = weft_coro_resume(co, NULL, NULL);
    int drc = weft_coro_destroy(co);
    if (rc != WEFT_DONE)
        return rc == 0 ? -EPROTO : rc;
    return drc;
}

static int run_weft(long n)
{
    int rc = 0;
    for (long i = 0; i < CREATE_WARMUP && rc == 0; i++)
        rc = weft_once();
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = weft_once();
    int64_t t1 = bench_now_ns();
    if (rc != 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        return -1;
    }
    report("weft", t1 - t0, n);
    return 0;
}

/* ---- ucontext ---- */

static ucontext_t uc_main;

static void uc_body(void)
{
    /* returns at once: uc_link resumes uc_main */
}

static int uc_once(pool_t *p)
{
    ucontext_t uc;
    void *sp = pool_get(p);
    if (!sp)
        return -1;
    int rc = getcontext(&uc);
    if (rc == 0) {
        uc.uc_stack.ss_sp = sp;
        uc.uc_stack.ss_size = p->size;
        uc.uc_link = &uc_main;
        makecontext(&uc, uc_body, 0);
        rc = swapcontext(&uc_main, &uc);
    }
    pool_put(p, sp);
    return rc;
}

static int run_ucontext(long n, size_t stack)
{
    pool_t p = {.size = stack};
    int rc = 0;
    for (long i = 0; i < CREATE_WARMUP && rc == 0; i++)
        rc = uc_once(&p);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = uc_once(&p);
    int64_t t1 = bench_now_ns();
    pool_drain(&p);
    if (rc != 0) {
        bench_skip(W, "ucontext", "getcontext/swapcontext failed or out of memory");
        return -1;
    }
    report("ucontext", t1 - t0, n);
    return 0;
}

/* ---- boost-fcontext ---- */

#if defined(WEFT_BENCH_HAVE_FCONTEXT)
static int fc_done;

static void fc_body(transfer_t t)
{
    /* "returns" at once: jumps back for good (never resumed) */
    jump_fcontext(t.fctx, &fc_done);
}

static int fc_once(pool_t *p)
{
    char *sp = pool_get(p);
    if (!sp)
        return -1;
    fcontext_t co = make_fcontext(sp + p->size, p->size, fc_body);
    transfer_t t = jump_fcontext(co, NULL);
    pool_put(p, sp);
    return t.data == &fc_done ? 0 : -1;
}

static int run_fcontext(long n, size_t stack)
{
    pool_t p = {.size = stack};
    int rc = 0;
    for (long i = 0; i < CREATE_WARMUP && rc == 0; i++)
        rc = fc_once(&p);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = fc_once(&p);
    int64_t t1 = bench_now_ns();
    pool_drain(&p);
    if (rc != 0) {
        bench_skip(W, "boost-fcontext", "out of memory or a bad transfer");
        return -1;
    }
    report("boost-fcontext", t1 - t0, n);
    return 0;
}
#endif

int bench_create(void)
{
    long n = bench_n(CREATE_N);
    size_t stack = weft_stack_default_size();
    int rc = 0;
    bench_note("create: weft");
    rc |= run_weft(n);
    bench_note("create: ucontext");
    rc |= run_ucontext(n, stack);
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
    bench_note("create: boost-fcontext");
    rc |= run_fcontext(n, stack);
#else
    bench_skip(W, "boost-fcontext", "built without libboost-context-dev");
#endif
    return rc;
}
