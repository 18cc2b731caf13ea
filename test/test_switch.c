/* test_switch.c - the machine context switch and, on x86_64, the choice
 * between its two shapes ("compare" and "reload", switch_x86_64.S).
 *
 * Each test checks one promise: the shape a process runs follows its CPU
 * vendor (or WEFT_SWITCH), and whichever shape runs, each context keeps
 * its own MXCSR control bits and x87 control word across switches, when
 * only one of them differs as when both do. ctest runs this suite (with
 * the coroutine, generator and task suites) once more with each shape
 * forced, so both are exercised on any CPU: <name>_compare, <name>_reload.
 *
 * Covers: src/arch/ (switch_x86_64.S, select_x86_64.c) through
 * src/coro.c; the reload shape also called directly, outside coroutines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "internal.h"

#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__x86_64__) && !defined(WEFT_ARCH_UCONTEXT)
#define HAVE_SHAPES 1
#include <cpuid.h>
#endif

#if defined(__x86_64__)
#define MXCSR_FTZ 0x8000u   /* flush to zero */
#define MXCSR_RC_UP 0x4000u /* rounding: toward +infinity */
#define MXCSR_RC_MASK 0x6000u
#define CW_RC_DOWN 0x0400u /* x87 rounding: toward -infinity */
#define CW_RC_MASK 0x0C00u

static unsigned get_mxcsr(void)
{
    unsigned csr;
    __asm__ volatile("stmxcsr %0" : "=m"(csr));
    return csr;
}
static void set_mxcsr(unsigned csr)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(csr));
}
static unsigned get_cw(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}
static void set_cw(unsigned cw)
{
    unsigned short v = (unsigned short)cw;
    __asm__ volatile("fldcw %0" : : "m"(v));
}
#endif

/* ---- which shape runs ---- */

#if defined(HAVE_SHAPES)
static int expected_shape(void)
{
    const char *env = getenv("WEFT_SWITCH");
    if (env && strcmp(env, "compare") == 0)
        return WEFT__SWITCH_COMPARE;
    if (env && strcmp(env, "reload") == 0)
        return WEFT__SWITCH_RELOAD;
    unsigned a, b, c, d;
    char v[13] = {0};
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        memcpy(v, &b, 4);
        memcpy(v + 4, &d, 4);
        memcpy(v + 8, &c, 4);
    }
    return strcmp(v, "AuthenticAMD") == 0 || strcmp(v, "HygonGenuine") == 0
               ? WEFT__SWITCH_RELOAD
               : WEFT__SWITCH_COMPARE;
}
#endif

#if defined(HAVE_SHAPES)
static void *yield_once(void *arg)
{
    weft_coro_yield(NULL, NULL);
    return arg;
}
#endif

static void test_shape_follows_cpu_vendor_unless_weft_switch_names_one(void **state)
{
    (void)state;
#if !defined(HAVE_SHAPES)
    skip();
#else
    weft_coro_t *co;
    assert_int_equal(weft_coro_create(&co, yield_once, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(weft__ctx_shape(), expected_shape());
    /* the process's first switch came after the choice: both ways work */
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    assert_int_equal(weft_coro_destroy(co), 0);
#endif
}

/* ---- control words, through coroutines (the shape this process runs;
 * the ucontext build's swapcontext keeps them too) ---- */

#if defined(__x86_64__)
typedef struct seen {
    unsigned mxcsr, cw;
} seen_t;

/* Sets what the test asks for, yields, then records what it finds. */
typedef struct fp_job {
    unsigned mxcsr_or, cw_rc;
    seen_t after_resume;
} fp_job_t;

static void *fp_body(void *arg)
{
    fp_job_t *j = arg;
    if (j->mxcsr_or)
        set_mxcsr(get_mxcsr() | j->mxcsr_or);
    if (j->cw_rc)
        set_cw((get_cw() & ~CW_RC_MASK) | j->cw_rc);
    weft_coro_yield(NULL, NULL);
    j->after_resume.mxcsr = get_mxcsr();
    j->after_resume.cw = get_cw();
    return NULL;
}

/* Runs fp_body with job j and checks that neither side sees the other's
 * control words. */
static void check_fp_isolated(fp_job_t *j)
{
    unsigned mxcsr = get_mxcsr(), cw = get_cw();
    weft_coro_t *co;
    assert_int_equal(weft_coro_create(&co, fp_body, j, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(get_mxcsr() & ~0x3Fu, mxcsr & ~0x3Fu);
    assert_int_equal(get_cw(), cw);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    if (j->mxcsr_or && !RUNNING_ON_VALGRIND) /* Valgrind keeps only the rounding bits */
        assert_int_equal(j->after_resume.mxcsr & j->mxcsr_or, j->mxcsr_or);
    if (j->cw_rc)
        assert_int_equal(j->after_resume.cw & CW_RC_MASK, j->cw_rc);
    assert_int_equal(get_mxcsr() & ~0x3Fu, mxcsr & ~0x3Fu);
    assert_int_equal(get_cw(), cw);
    assert_int_equal(weft_coro_destroy(co), 0);
}
#endif

static void test_x87_control_word_alone_set_inside_stays_inside(void **state)
{
    (void)state;
#if !defined(__x86_64__)
    skip();
#else
    fp_job_t j = {.cw_rc = CW_RC_DOWN};
    check_fp_isolated(&j);
#endif
}

static void test_mxcsr_alone_set_inside_stays_inside(void **state)
{
    (void)state;
#if !defined(__x86_64__)
    skip();
#else
    fp_job_t j = {.mxcsr_or = MXCSR_FTZ | MXCSR_RC_UP};
    check_fp_isolated(&j);
#endif
}

static void test_both_control_words_set_inside_stay_inside(void **state)
{
    (void)state;
#if !defined(__x86_64__)
    skip();
#else
    fp_job_t j = {.mxcsr_or = MXCSR_FTZ, .cw_rc = CW_RC_DOWN};
    check_fp_isolated(&j);
#endif
}

/* The resumer's own modes, set before the coroutine first runs, come back
 * to it after every yield, however many times control crosses. */
#if defined(__x86_64__)
typedef struct flip {
    int rounds, wrong_inside;
    unsigned first_mxcsr, first_cw; /* what it found when it started */
} flip_t;

static void *flip_body(void *arg)
{
    flip_t *f = arg;
    f->first_mxcsr = get_mxcsr() & ~0x3Fu;
    f->first_cw = get_cw();
    for (int i = 0; i < f->rounds; i++) {
        /* inside: its own modes at every resume */
        f->wrong_inside += (get_mxcsr() & ~0x3Fu) != f->first_mxcsr || get_cw() != f->first_cw;
        weft_coro_yield(NULL, NULL);
    }
    return NULL;
}
#endif

static void test_resumer_modes_survive_many_round_trips(void **state)
{
    (void)state;
#if !defined(__x86_64__)
    skip();
#else
    unsigned mxcsr = get_mxcsr(), cw = get_cw();
    set_mxcsr((mxcsr & ~MXCSR_RC_MASK) | MXCSR_RC_UP | MXCSR_FTZ);
    set_cw((cw & ~CW_RC_MASK) | CW_RC_DOWN);
    unsigned want_mxcsr = get_mxcsr() & ~0x3Fu, want_cw = get_cw();
    flip_t f = {.rounds = 1000};
    weft_coro_t *co;
    assert_int_equal(weft_coro_create(&co, flip_body, &f, NULL), 0);
    int rc, wrong_outside = 0;
    while ((rc = weft_coro_resume(co, NULL, NULL)) == 0)
        wrong_outside += (get_mxcsr() & ~0x3Fu) != want_mxcsr || get_cw() != want_cw;
    assert_int_equal(rc, WEFT_DONE);
#if defined(HAVE_SHAPES)
    /* the assembly switch starts a context with the default modes (the
     * ucontext one with its creator's: getcontext copies them) */
    assert_int_equal(f.first_mxcsr, 0x1F80u);
    assert_int_equal(f.first_cw, 0x037Fu);
#endif
    assert_int_equal(f.wrong_inside, 0);
    assert_int_equal(wrong_outside, 0);
    assert_int_equal(weft_coro_destroy(co), 0);
    set_mxcsr(mxcsr);
    set_cw(cw);
#endif
}

/* ---- the reload shape called directly, on any x86_64 CPU ---- */

#if defined(HAVE_SHAPES) && !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
/* Outside weft's coroutines, so the sanitizers (which need to be told of
 * every stack change) sit these out; the suites above cover both shapes
 * under them through the _compare and _reload runs. */
#define HAVE_DIRECT 1
static weft__ctx_t d_main, d_co;

static void direct_entry(void *data, void *value)
{
    seen_t *s = data;
    (void)value;
    set_mxcsr((get_mxcsr() & ~MXCSR_RC_MASK) | MXCSR_RC_UP);
    void *v = weft__ctx_switch_reload(&d_co, &d_main, (void *)(uintptr_t)1);
    s->mxcsr = get_mxcsr();
    s->cw = get_cw();
    for (;;)
        v = weft__ctx_switch_reload(&d_co, &d_main, (void *)((uintptr_t)v + 1));
}
#endif

static void test_reload_shape_called_directly_keeps_each_sides_modes(void **state)
{
    (void)state;
#if !defined(HAVE_DIRECT)
    skip();
#else
    size_t size = 64 * 1024;
    void *stack = malloc(size);
    assert_non_null(stack);
#if defined(WEFT_HAVE_VALGRIND)
    unsigned vg = VALGRIND_STACK_REGISTER(stack, (char *)stack + size);
#endif
    seen_t s = {0};
    unsigned mxcsr = get_mxcsr(), cw = get_cw();
    set_cw((cw & ~CW_RC_MASK) | CW_RC_DOWN);
    weft__ctx_make(&d_co, stack, size, direct_entry, &s);
    /* first run: sets its rounding up and switches back with 1 */
    assert_int_equal((uintptr_t)weft__ctx_switch_reload(&d_main, &d_co, NULL), 1);
    assert_int_equal(get_mxcsr() & ~0x3Fu, mxcsr & ~0x3Fu);
    assert_int_equal(get_cw() & CW_RC_MASK, CW_RC_DOWN);
    /* second: it records its modes, and hands back what it got plus one */
    assert_int_equal((uintptr_t)weft__ctx_switch_reload(&d_main, &d_co, (void *)(uintptr_t)41),
                     42);
    assert_int_equal(s.mxcsr & MXCSR_RC_MASK, MXCSR_RC_UP);
    assert_int_equal(s.cw, 0x037Fu); /* a fresh context's default, not ours */
    assert_int_equal(get_mxcsr() & ~0x3Fu, mxcsr & ~0x3Fu);
    assert_int_equal(get_cw() & CW_RC_MASK, CW_RC_DOWN);
    set_cw(cw);
    /* d_co is abandoned mid-loop: nothing runs on its stack again */
#if defined(WEFT_HAVE_VALGRIND)
    VALGRIND_STACK_DEREGISTER(vg);
#endif
    free(stack);
#endif
}

/* Every test starts from the default modes, whatever a failed one left. */
static int default_modes(void **state)
{
    (void)state;
#if defined(__x86_64__)
    set_mxcsr(0x1F80u);
    set_cw(0x037Fu);
#endif
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_follows_cpu_vendor_unless_weft_switch_names_one),
        cmocka_unit_test_setup(test_x87_control_word_alone_set_inside_stays_inside,
                               default_modes),
        cmocka_unit_test_setup(test_mxcsr_alone_set_inside_stays_inside, default_modes),
        cmocka_unit_test_setup(test_both_control_words_set_inside_stay_inside, default_modes),
        cmocka_unit_test_setup(test_resumer_modes_survive_many_round_trips, default_modes),
        cmocka_unit_test_setup(test_reload_shape_called_directly_keeps_each_sides_modes,
                               default_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
