/* switch.c - the `switch` workload: two coroutines pass control back and
 * forth N (10^7) round trips; ns_per_op is one switch = wall / (2N).
 *
 * impls: weft (main resumes a coroutine that yields in a loop),
 * ucontext (glibc swapcontext, same shape; it saves and restores the
 * signal mask with a system call each switch, as ucontext users pay),
 * boost-fcontext (jump_fcontext, same shape). All three run on a stack of
 * weft_stack_default_size() bytes.
 */
#include "bench.h"

#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#define SWITCH_N 10000000L
#define SWITCH_WARMUP 10000L

static const char *const W = "switch";

static void report(const char *impl, int64_t ns, long n)
{
    bench_json(W, impl, "\"ns_per_op\":%.2f,\"n\":%ld", (double)ns / (2.0 * (double)n), n);
}

/* ---- weft ---- */

static void *weft_body(void *arg)
{
    (void)arg;
    for (;;)
        if (weft_coro_yield(NULL, NULL) != 0)
            return NULL;
}

static int run_weft(long n, size_t stack)
{
    weft_coro_t *co;
    weft_coro_opts_t opts = {.stack_size = stack, .name = "switch"};
    int rc = weft_coro_create(&co, weft_body, NULL, &opts);
    if (rc != 0) {
        bench_skip(W, "weft", weft_strerror(rc));
        return -1;
    }
    for (long i = 0; i < SWITCH_WARMUP && rc == 0; i++)
        rc = weft_coro_resume(co, NULL, NULL);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n && rc == 0; i++)
        rc = weft_coro_resume(co, NULL, NULL);
    int64_t t1 = bench_now_ns();
    int drc = weft_coro_destroy(co);
    if (rc != 0 || drc != 0) {
        bench_skip(W, "weft", weft_strerror(rc != 0 ? rc : drc));
        return -1;
    }
    report("weft", t1 - t0, n);
    return 0;
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

static int run_fcontext(long n, size_t stack)
{
    char *sp = malloc(stack);
    if (!sp) {
        bench_skip(W, "boost-fcontext", "out of memory");
        return -1;
    }
    fcontext_t co = make_fcontext(sp + stack, stack, fc_body);
    for (long i = 0; i < SWITCH_WARMUP; i++)
        co = jump_fcontext(co, NULL).fctx;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        co = jump_fcontext(co, NULL).fctx;
    int64_t t1 = bench_now_ns();
    free(sp); /* the context is abandoned where it stands */
    report("boost-fcontext", t1 - t0, n);
    return 0;
}
#endif

int bench_switch(void)
{
    long n = bench_n(SWITCH_N);
    size_t stack = weft_stack_default_size();
    int rc = 0;
    bench_note("switch: weft");
    rc |= run_weft(n, stack);
    bench_note("switch: ucontext");
    rc |= run_ucontext(n, stack);
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
    bench_note("switch: boost-fcontext");
    rc |= run_fcontext(n, stack);
#else
    bench_skip(W, "boost-fcontext", "built without libboost-context-dev");
#endif
    return rc;
}
