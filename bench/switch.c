/* switch.c - the `switch` workload: two coroutines pass control back and
 * forth N (10^7) round trips; ns_per_op is one switch = wall / (2N).
 *
 * impls: weft (main resumes a coroutine that yields in a loop),
 * ucontext (glibc swapcontext, same shape; it saves and restores the
 * signal mask with a system call each switch, as ucontext users pay),
 * boost-fcontext (jump_fcontext, same shape). All three run on a stack of
 * weft_stack_default_size() bytes.
 *
 * weft and boost-fcontext, whose ratio is the target, run interleaved:
 * SWITCH_SLICES slices of N / SWITCH_SLICES round trips each, weft's then
 * fcontext's, so a burst of other work on a shared machine lands on both
 * alike. Each line's ns_per_op is still the whole wall time / (2N);
 * median_ns_per_op is the median over its slices, which such bursts
 * barely move.
 *
 * weft-copystack: only tasks have the copy-stack mode, and a task switches
 * only through the loop, so this line is two copy-stack tasks handing
 * control to each other with weft_yield while each sits four calls deep
 * with 1 KiB of live locals: every hand-over saves one task's frames off
 * the shared stack and copies the other's back. Read it beside the `yield`
 * workload's weft line (the same path without the copies).
 */
#include "bench.h"

#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define SWITCH_N 10000000L
#define SWITCH_WARMUP 10000L
#define SWITCH_SLICES 100L

static const char *const W = "switch";

static void report(const char *impl, int64_t ns, long n)
{
    bench_json(W, impl, "\"ns_per_op\":%.2f,\"n\":%ld", (double)ns / (2.0 * (double)n), n);
}

/* The line of an interleaved impl: whole-run figure and slice median. */
static void report_sliced(const char *impl, int64_t ns, long n, double *slice_ns, long slices)
{
    bench_json(W, impl, "\"ns_per_op\":%.2f,\"median_ns_per_op\":%.2f,\"slices\":%ld,\"n\":%ld",
               (double)ns / (2.0 * (double)n), bench_median(slice_ns, (size_t)slices), slices, n);
}

/* ---- weft ---- */

static void *weft_body(void *arg)
{
    (void)arg;
    for (;;)
        if (weft_coro_yield(NULL, NULL) != 0)
            return NULL;
}

static int weft_open(weft_coro_t **co, size_t stack)
{
    weft_coro_opts_t opts = {.stack_size = stack, .name = "switch"};
    int rc = weft_coro_create(co, weft_body, NULL, &opts);
    for (long i = 0; i < SWITCH_WARMUP && rc == 0; i++)
        rc = weft_coro_resume(*co, NULL, NULL);
    return rc;
}

/* n round trips; adds their wall time to *ns */
static int weft_slice(weft_coro_t *co, long n, int64_t *ns)
{
    int rc = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = weft_coro_resume(co, NULL, NULL);
    *ns += bench_now_ns() - t0;
    return rc;
}

/* ---- ucontext ---- */

static ucontext_t uc_main, uc_co;

static void uc_body(void)
{
    for (;;)
        if (swapcontext(&uc_co, &uc_main) != 0)
            abort();
}

static int run_ucontext(long n, size_t stack)
{
    void *sp = malloc(stack);
    if (!sp || getcontext(&uc_co) != 0) {
        free(sp);
        bench_skip(W, "ucontext", "cannot set up a context");
        return -1;
    }
    uc_co.uc_stack.ss_sp = sp;
    uc_co.uc_stack.ss_size = stack;
    uc_co.uc_link = NULL; /* uc_body never returns */
    makecontext(&uc_co, uc_body, 0);
    int rc = 0;
    for (long i = 0; i < SWITCH_WARMUP && rc == 0; i++)
        rc = swapcontext(&uc_main, &uc_co);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = swapcontext(&uc_main, &uc_co);
    int64_t t1 = bench_now_ns();
    free(sp); /* uc_co is suspended for good: nothing runs on sp again */
    if (rc != 0) {
        bench_skip(W, "ucontext", "swapcontext failed");
        return -1;
    }
    report("ucontext", t1 - t0, n);
    return 0;
}

/* ---- boost-fcontext ---- */

#if defined(WEFT_BENCH_HAVE_FCONTEXT)
static void fc_body(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, NULL);
}

static fcontext_t fc_open(char *sp, size_t stack)
{
    fcontext_t co = make_fcontext(sp + stack, stack, fc_body);
    for (long i = 0; i < SWITCH_WARMUP; i++)
        co = jump_fcontext(co, NULL).fctx;
    return co;
}

static fcontext_t fc_slice(fcontext_t co, long n, int64_t *ns)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        co = jump_fcontext(co, NULL).fctx;
    *ns += bench_now_ns() - t0;
    return co;
}
#endif

/* weft and boost-fcontext, slice by slice (see the header). */
static int run_weft_and_fcontext(long n, size_t stack)
{
    weft_coro_t *co = NULL;
    int rc = weft_open(&co, stack);
    if (rc != 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        if (co)
            weft_coro_destroy(co);
        co = NULL;
    }
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
    char *sp = malloc(stack);
    fcontext_t fc = NULL;
    if (sp)
        fc = fc_open(sp, stack);
    else
        bench_skip(W, "boost-fcontext", "out of memory");
#endif
    long slices = n < SWITCH_SLICES ? 1 : SWITCH_SLICES;
    int64_t weft_ns = 0, fc_ns = 0;
    double weft_slice_ns[SWITCH_SLICES], fc_slice_ns[SWITCH_SLICES];
    long done = 0;
    for (long k = 0; k < slices; k++) {
        long m = n / slices + (k < n % slices);
        int64_t before = weft_ns;
        if (co && (rc = weft_slice(co, m, &weft_ns)) != 0) {
            bench_skip(W, "weft", weft_strerror(rc));
            weft_coro_destroy(co);
            co = NULL;
        }
        weft_slice_ns[k] = (double)(weft_ns - before) / (2.0 * (double)m);
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
        before = fc_ns;
        if (sp)
            fc = fc_slice(fc, m, &fc_ns);
        fc_slice_ns[k] = (double)(fc_ns - before) / (2.0 * (double)m);
#endif
        done += m;
    }
    (void)fc_ns;
    (void)fc_slice_ns;
    int ret = co ? 0 : -1;
    if (co) {
        int drc = weft_coro_destroy(co);
        if (drc != 0) {
            bench_skip(W, "weft", weft_strerror(drc));
            ret = -1;
        } else
            report_sliced("weft", weft_ns, done, weft_slice_ns, slices);
    }
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
    if (sp) {
        report_sliced("boost-fcontext", fc_ns, done, fc_slice_ns, slices);
        free(sp); /* the context is abandoned where it stands */
    } else
        ret = -1;
#else
    bench_skip(W, "boost-fcontext", "built without libboost-context-dev");
#endif
    return ret;
}

/* ---- weft-copystack ---- */

typedef struct cs_run {
    long n;
    int64_t ns;
} cs_run_t;

/* Four frames of 256 live bytes each, then the yields at the bottom. */
static int __attribute__((noinline)) cs_nest(int depth, long n)
{
    volatile unsigned char buf[256];
    memset((void *)buf, depth, sizeof buf);
    int rc = 0;
    if (depth < 4)
        rc = cs_nest(depth + 1, n);
    else
        for (long i = 0; i < n && rc == 0; i++)
            rc = weft_yield();
    return rc == 0 && buf[0] == (unsigned char)depth ? 0 : rc ? rc : -1;
}

static int cs_body(void *arg, void **result)
{
    (void)result;
    return cs_nest(1, *(const long *)arg);
}

static int cs_main(void *arg, void **result)
{
    (void)result;
    cs_run_t *r = arg;
    weft_task_opts_t opts = {.stack_mode = WEFT_STACK_COPY, .name = "switch"};
    weft_task_t *t[2] = {NULL, NULL};
    int64_t t0 = bench_now_ns();
    int rc = weft_spawn(&t[0], cs_body, &r->n, &opts);
    if (rc == 0)
        rc = weft_spawn(&t[1], cs_body, &r->n, &opts);
    for (int i = 0; i < 2; i++) {
        if (!t[i])
            continue;
        int arc = weft_await(t[i], NULL);
        if (arc != 0 && rc == 0)
            rc = arc;
        weft_task_release(t[i]);
    }
    r->ns = bench_now_ns() - t0;
    return rc;
}

static int run_copystack(long n)
{
    cs_run_t r = {.n = n};
    int rc = weft_run(cs_main, &r, NULL);
    if (rc != 0) {
        bench_skip(W, "weft-copystack", weft_strerror(rc));
        return -1;
    }
    report("weft-copystack", r.ns, n);
    return 0;
}

int bench_switch(void)
{
    long n = bench_n(SWITCH_N);
    size_t stack = weft_stack_default_size();
    int rc = 0;
    bench_note("switch: weft and boost-fcontext, interleaved");
    rc |= run_weft_and_fcontext(n, stack);
    bench_note("switch: weft-copystack");
    rc |= run_copystack(n);
    bench_note("switch: ucontext");
    rc |= run_ucontext(n, stack);
    return rc;
}
