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
 *
 * weft and boost-fcontext run interleaved, CREATE_SLICES slices of
 * N / CREATE_SLICES coroutines each: ns_per_op is the whole wall time / N,
 * median_ns_per_op the median over the slices (see switch.c).
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#define CREATE_N 1000000L
#define CREATE_WARMUP 1000L
#define CREATE_SLICES 100L
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

/* n creates; adds their wall time to *ns */
static int weft_slice(long n, int64_t *ns)
{
    int rc = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = weft_once();
    *ns += bench_now_ns() - t0;
    return rc;
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

static int fc_slice(pool_t *p, long n, int64_t *ns)
{
    int rc = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = fc_once(p);
    *ns += bench_now_ns() - t0;
    return rc;
}
#endif

static void report_sliced(const char *impl, int64_t ns, long n, double *slice_ns, long slices)
{
    bench_json(W, impl, "\"ns_per_op\":%.2f,\"median_ns_per_op\":%.2f,\"slices\":%ld,\"n\":%ld",
               (double)ns / (double)n, bench_median(slice_ns, (size_t)slices), slices, n);
}

/* weft and boost-fcontext, slice by slice (see the header). */
static int run_weft_and_fcontext(long n, size_t stack)
{
    int wrc = 0;
    for (long i = 0; i < CREATE_WARMUP && wrc == 0; i++)
        wrc = weft_once();
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
    pool_t p = {.size = stack};
    int frc = 0;
    for (long i = 0; i < CREATE_WARMUP && frc == 0; i++)
        frc = fc_once(&p);
    double fc_slice_ns[CREATE_SLICES];
    int64_t fc_ns = 0;
#else
    (void)stack;
#endif
    double weft_slice_ns[CREATE_SLICES];
    int64_t weft_ns = 0;
    long slices = n < CREATE_SLICES ? 1 : CREATE_SLICES, done = 0;
    for (long k = 0; k < slices; k++) {
        long m = n / slices + (k < n % slices);
        int64_t before = weft_ns;
        if (wrc == 0)
            wrc = weft_slice(m, &weft_ns);
        weft_slice_ns[k] = (double)(weft_ns - before) / (double)m;
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
        before = fc_ns;
        if (frc == 0)
            frc = fc_slice(&p, m, &fc_ns);
        fc_slice_ns[k] = (double)(fc_ns - before) / (double)m;
#endif
        done += m;
    }
    int ret = 0;
    if (wrc != 0) {
        bench_skip(W, "weft", weft_strerror(wrc == 0 ? -EPROTO : wrc));
        ret = -1;
    } else
        report_sliced("weft", weft_ns, done, weft_slice_ns, slices);
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
    pool_drain(&p);
    if (frc != 0) {
        bench_skip(W, "boost-fcontext", "out of memory or a bad transfer");
        ret = -1;
    } else
        report_sliced("boost-fcontext", fc_ns, done, fc_slice_ns, slices);
#else
    bench_skip(W, "boost-fcontext", "built without libboost-context-dev");
#endif
    return ret;
}

int bench_create(void)
{
    long n = bench_n(CREATE_N);
    size_t stack = weft_stack_default_size();
    int rc = 0;
    bench_note("create: weft and boost-fcontext, interleaved");
    rc |= run_weft_and_fcontext(n, stack);
    bench_note("create: ucontext");
    rc |= run_ucontext(n, stack);
    return rc;
}
