/* test_coro.c - coroutines: create, resume, yield, status, destroy.
 *
 * Each test checks one behaviour of weft_coro_* as weft.h documents it:
 * values passed both ways, the four statuses, nesting, the errors of
 * misuse, stack reuse, names, the thread rule, deep frames across a
 * yield, custom stack sizes and the floating-point control state; plus
 * weft_strerror and weft_version.
 *
 * Covers: src/coro.c and src/arch/.
 */
#include "harness.h"

#include <errno.h>
#include <fenv.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h" /* only for co->stack.size in the stack size test */

static int maps_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* ---- values both ways ---- */

/* Yields arg+1, then each value it receives plus 10, three times; returns
 * the sum of what it received. */
static void *adder(void *arg)
{
    intptr_t sum = 0;
    void *in = NULL;
    assert_int_equal(weft_coro_yield((void *)((intptr_t)arg + 1), &in), 0);
    for (int i = 0; i < 3; i++) {
        sum += (intptr_t)in;
        assert_int_equal(weft_coro_yield((void *)((intptr_t)in + 10), &in), 0);
    }
    sum += (intptr_t)in;
    return (void *)sum;
}

static void test_resume_passes_value_each_way(void **state)
{
    weft_coro_t *co;
    void *out = NULL;
    assert_int_equal(weft_coro_create(&co, adder, (void *)41, NULL), 0);
    /* the first resume's value is ignored; arg reaches the body */
    assert_int_equal(weft_coro_resume(co, (void *)999, &out), 0);
    assert_int_equal((intptr_t)out, 42);
    for (intptr_t v = 1; v <= 3; v++) {
        assert_int_equal(weft_coro_resume(co, (void *)v, &out), 0);
        assert_int_equal((intptr_t)out, v + 10);
    }
    assert_int_equal(weft_coro_resume(co, (void *)4, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, 1 + 2 + 3 + 4);
    assert_int_equal(weft_coro_destroy(co), 0);
}

static void *yield_once_returns_arg(void *arg)
{
    weft_coro_yield(NULL, NULL);
    return arg;
}

static void test_resume_accepts_null_out(void **state)
{
    weft_coro_t *co;
    assert_int_equal(weft_coro_create(&co, yield_once_returns_arg, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    assert_int_equal(weft_coro_destroy(co), 0);
}

static void test_return_value_comes_with_weft_done(void **state)
{
    weft_coro_t *co;
    void *out = NULL;
    int token;
    assert_int_equal(weft_coro_create(&co, yield_once_returns_arg, &token, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, &out), 0);
    assert_null(out);
    assert_int_equal(weft_coro_resume(co, NULL, &out), WEFT_DONE);
    assert_ptr_equal(out, &token);
    assert_int_equal(weft_coro_status(co), WEFT_CORO_DEAD);
    assert_int_equal(weft_coro_destroy(co), 0);
}

/* ---- statuses ---- */

static void *status_probe(void *arg)
{
    weft_coro_t **self = arg;
    assert_non_null(weft_coro_current());
    assert_ptr_equal(weft_coro_current(), *self);
    assert_int_equal(weft_coro_status(weft_coro_current()), WEFT_CORO_RUNNING);
    weft_coro_yield(NULL, NULL);
    assert_int_equal(weft_coro_status(*self), WEFT_CORO_RUNNING);
    return NULL;
}

static void test_status_goes_created_running_suspended_dead(void **state)
{
    weft_coro_t *co;
    assert_null(weft_coro_current());
    assert_int_equal(weft_coro_create(&co, status_probe, &co, NULL), 0);
    assert_int_equal(weft_coro_status(co), WEFT_CORO_CREATED);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(weft_coro_status(co), WEFT_CORO_SUSPENDED);
    assert_null(weft_coro_current());
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    assert_int_equal(weft_coro_status(co), WEFT_CORO_DEAD);
    assert_null(weft_coro_current());
    assert_int_equal(weft_coro_destroy(co), 0);
}

static void *name_own_status(void *arg)
{
    (void)arg;
    return (void *)weft_coro_status_name(weft_coro_status(weft_coro_current()));
}

static void test_status_names_are_static_words_and_unknown_otherwise(void **state)
{
    assert_string_equal(weft_coro_status_name(WEFT_CORO_CREATED), "created");
    assert_string_equal(weft_coro_status_name(WEFT_CORO_RUNNING), "running");
    assert_string_equal(weft_coro_status_name(WEFT_CORO_SUSPENDED), "suspended");
    assert_string_equal(weft_coro_status_name(WEFT_CORO_DEAD), "dead");
    const int bad[] = {WEFT_CORO_DEAD + 1, -1, -EINVAL, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal(weft_coro_status_name(bad[i]), "unknown");
    assert_string_equal(weft_coro_status_name(weft_coro_status(NULL)), "unknown");
    weft_coro_t *co;
    void *out = NULL;
    assert_int_equal(weft_coro_create(&co, name_own_status, NULL, NULL), 0);
    assert_string_equal(weft_coro_status_name(weft_coro_status(co)), "created");
    assert_int_equal(weft_coro_resume(co, NULL, &out), WEFT_DONE);
    assert_string_equal((const char *)out, "running");
    assert_string_equal(weft_coro_status_name(weft_coro_status(co)), "dead");
    assert_int_equal(weft_coro_destroy(co), 0);
}

/* ---- nesting ---- */

typedef struct nest {
    weft_coro_t *co[3];
    char trace[64];
    int len;
} nest_t;

static void mark(nest_t *n, char c)
{
    n->trace[n->len++] = c;
    n->trace[n->len] = '\0';
}

/* Level 2 (innermost): yields to level 1, which must be its resumer. */
static void *nest_c(void *arg)
{
    nest_t *n = arg;
    mark(n, 'c');
    /* everyone outside is running (resuming another) */
    assert_int_equal(weft_coro_status(n->co[0]), WEFT_CORO_RUNNING);
    assert_int_equal(weft_coro_status(n->co[1]), WEFT_CORO_RUNNING);
    assert_ptr_equal(weft_coro_current(), n->co[2]);
    void *in = NULL;
    assert_int_equal(weft_coro_yield((void *)3, &in), 0);
    assert_int_equal((intptr_t)in, 30);
    mark(n, 'C');
    return (void *)300;
}

static void *nest_b(void *arg)
{
    nest_t *n = arg;
    void *out = NULL;
    mark(n, 'b');
    assert_int_equal(weft_coro_resume(n->co[2], NULL, &out), 0);
    assert_int_equal((intptr_t)out, 3); /* c yielded to b, not to a or main */
    assert_ptr_equal(weft_coro_current(), n->co[1]);
    assert_int_equal(weft_coro_status(n->co[2]), WEFT_CORO_SUSPENDED);
    void *in = NULL;
    assert_int_equal(weft_coro_yield((void *)2, &in), 0);
    assert_int_equal((intptr_t)in, 20);
    assert_int_equal(weft_coro_resume(n->co[2], (void *)30, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, 300);
    mark(n, 'B');
    return (void *)200;
}

static void *nest_a(void *arg)
{
    nest_t *n = arg;
    void *out = NULL;
    mark(n, 'a');
    assert_int_equal(weft_coro_resume(n->co[1], NULL, &out), 0);
    assert_int_equal((intptr_t)out, 2);
    assert_ptr_equal(weft_coro_current(), n->co[0]);
    void *in = NULL;
    assert_int_equal(weft_coro_yield((void *)1, &in), 0);
    assert_int_equal((intptr_t)in, 10);
    assert_int_equal(weft_coro_resume(n->co[1], (void *)20, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, 200);
    mark(n, 'A');
    return (void *)100;
}

static void test_nested_three_deep_each_yields_to_its_resumer(void **state)
{
    nest_t n = {0};
    assert_int_equal(weft_coro_create(&n.co[0], nest_a, &n, NULL), 0);
    assert_int_equal(weft_coro_create(&n.co[1], nest_b, &n, NULL), 0);
    assert_int_equal(weft_coro_create(&n.co[2], nest_c, &n, NULL), 0);
    void *out = NULL;
    assert_int_equal(weft_coro_resume(n.co[0], NULL, &out), 0);
    assert_int_equal((intptr_t)out, 1);
    assert_string_equal(n.trace, "abc");
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_coro_status(n.co[i]), WEFT_CORO_SUSPENDED);
    assert_null(weft_coro_current());
    assert_int_equal(weft_coro_resume(n.co[0], (void *)10, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, 100);
    assert_string_equal(n.trace, "abcCBA");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_coro_status(n.co[i]), WEFT_CORO_DEAD);
        assert_int_equal(weft_coro_destroy(n.co[i]), 0);
    }
}

/* ---- misuse ---- */

static void *return_at_once(void *arg)
{
    return arg;
}

static void test_resume_of_dead_coroutine_returns_esrch(void **state)
{
    weft_coro_t *co;
    assert_int_equal(weft_coro_create(&co, return_at_once, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    void *out = (void *)1;
    assert_int_equal(weft_coro_resume(co, NULL, &out), -ESRCH);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), -ESRCH);
    assert_int_equal(weft_coro_destroy(co), 0);
}

static void *resume_self(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_coro_resume(weft_coro_current(), NULL, NULL);
}

static void test_resume_of_itself_returns_ebusy(void **state)
{
    weft_coro_t *co;
    void *out = NULL;
    assert_int_equal(weft_coro_create(&co, resume_self, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, -EBUSY);
    assert_int_equal(weft_coro_destroy(co), 0);
}

static void *resume_resumer(void *arg)
{
    weft_coro_t **outer = arg;
    return (void *)(intptr_t)weft_coro_resume(*outer, NULL, NULL);
}

static void *resume_inner(void *arg)
{
    weft_coro_t *inner = arg;
    void *out = NULL;
    assert_int_equal(weft_coro_resume(inner, NULL, &out), WEFT_DONE);
    return out;
}

static void *resume_inner_rc(void *arg)
{
    return (void *)(intptr_t)weft_coro_resume(arg, NULL, NULL);
}

static void test_resume_of_resumer_from_inside_returns_ebusy(void **state)
{
    weft_coro_t *outer, *inner;
    void *out = NULL;
    assert_int_equal(weft_coro_create(&inner, resume_resumer, &outer, NULL), 0);
    assert_int_equal(weft_coro_create(&outer, resume_inner, inner, NULL), 0);
    assert_int_equal(weft_coro_resume(outer, NULL, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, -EBUSY);
    assert_int_equal(weft_coro_destroy(inner), 0);
    assert_int_equal(weft_coro_destroy(outer), 0);
}

static void test_yield_outside_any_coroutine_returns_enotcoro(void **state)
{
    void *in = (void *)1;
    assert_int_equal(weft_coro_yield(NULL, &in), -WEFT_ENOTCORO);
    assert_int_equal(weft_coro_yield(NULL, NULL), -WEFT_ENOTCORO);
}

static void *destroy_self_and_resumer(void *arg)
{
    weft_coro_t **outer = arg;
    assert_int_equal(weft_coro_destroy(weft_coro_current()), -EBUSY);
    assert_int_equal(weft_coro_destroy(*outer), -EBUSY);
    weft_coro_yield(NULL, NULL);
    return (void *)7;
}

static void test_destroy_of_running_coroutine_returns_ebusy(void **state)
{
    weft_coro_t *outer, *inner;
    void *out = NULL;
    assert_int_equal(weft_coro_create(&inner, destroy_self_and_resumer, &outer, NULL), 0);
    assert_int_equal(weft_coro_create(&outer, resume_inner_rc, inner, NULL), 0);
    assert_int_equal(weft_coro_resume(outer, NULL, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, 0); /* inner yielded to outer */
    /* both were left untouched: they run on to the end */
    assert_int_equal(weft_coro_status(inner), WEFT_CORO_SUSPENDED);
    assert_int_equal(weft_coro_resume(inner, NULL, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, 7);
    assert_int_equal(weft_coro_destroy(inner), 0);
    assert_int_equal(weft_coro_destroy(outer), 0);
}

static void test_coro_null_arguments_return_einval(void **state)
{
    weft_coro_t *co = NULL;
    assert_int_equal(weft_coro_create(NULL, return_at_once, NULL, NULL), -EINVAL);
    assert_int_equal(weft_coro_create(&co, NULL, NULL, NULL), -EINVAL);
    assert_null(co);
    assert_int_equal(weft_coro_resume(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(weft_coro_status(NULL), -EINVAL);
    assert_int_equal(weft_coro_destroy(NULL), -EINVAL);
    assert_null(weft_coro_name(NULL));
}

static void test_create_with_stack_over_1gib_returns_einval(void **state)
{
    weft_coro_t *co = NULL;
    weft_coro_opts_t o = {.stack_size = ((size_t)1 << 30) + 1};
    assert_int_equal(weft_coro_create(&co, return_at_once, NULL, &o), -EINVAL);
    assert_null(co);
    o.stack_size = SIZE_MAX;
    assert_int_equal(weft_coro_create(&co, return_at_once, NULL, &o), -EINVAL);
    assert_null(co);
}

/* ---- destroy and reuse ---- */

static void *yield_forever(void *arg)
{
    volatile int *cleaned = arg;
    for (;;)
        weft_coro_yield(NULL, NULL);
    *cleaned = 1; /* never: a destroyed coroutine does not run on */
    return NULL;
}

static void test_destroy_of_suspended_coroutine_discards_it(void **state)
{
    weft_coro_t *co;
    volatile int cleaned = 0;
    assert_int_equal(weft_coro_create(&co, yield_forever, (void *)&cleaned, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(weft_coro_status(co), WEFT_CORO_SUSPENDED);
    assert_int_equal(weft_coro_destroy(co), 0);
    assert_int_equal(cleaned, 0);
    /* and one never resumed */
    assert_int_equal(weft_coro_create(&co, yield_forever, (void *)&cleaned, NULL), 0);
    assert_int_equal(weft_coro_destroy(co), 0);
}

static void test_destroyed_coroutines_stacks_are_reused(void **state)
{
    enum { BATCH = 100 };
    weft_coro_t *co[BATCH];
    volatile int cleaned = 0;
    int total = (int)(10000 * test_scale());
    if (total < 2 * BATCH)
        total = 2 * BATCH;
    int before = 0;
    for (int done = 0; done < total; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            assert_int_equal(weft_coro_create(&co[i], yield_forever, (void *)&cleaned, NULL), 0);
            assert_int_equal(weft_coro_resume(co[i], NULL, NULL), 0); /* takes a stack */
        }
        for (int i = 0; i < BATCH; i++)
            assert_int_equal(weft_coro_destroy(co[i]), 0);
        if (done == 0)
            before = maps_count(); /* after the first batch has carved its slabs */
    }
    int after = maps_count();
    print_message("/proc/self/maps: %d lines after the first batch, %d after %d coroutines\n",
                  before, after, total);
    assert_true(after < before + 10);
    assert_int_equal(cleaned, 0);
}

/* ---- names ---- */

static void test_coroutine_name_is_copied_and_truncated(void **state)
{
    weft_coro_t *co, *anon;
    char name[] = "worker-7";
    weft_coro_opts_t o = {.name = name};
    assert_int_equal(weft_coro_create(&co, return_at_once, NULL, &o), 0);
    name[0] = 'X'; /* the caller keeps its string: weft copied it */
    assert_string_equal(weft_coro_name(co), "worker-7");
    assert_int_equal(weft_coro_create(&anon, return_at_once, NULL, NULL), 0);
    assert_string_equal(weft_coro_name(anon), "");
    assert_int_equal(weft_coro_destroy(anon), 0);
    assert_int_equal(weft_coro_destroy(co), 0);

    char longname[64];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    o.name = longname;
    assert_int_equal(weft_coro_create(&co, return_at_once, NULL, &o), 0);
    assert_int_equal(strlen(weft_coro_name(co)), 31);
    assert_int_equal(strncmp(weft_coro_name(co), longname, 31), 0);
    assert_int_equal(weft_coro_destroy(co), 0);
}

/* ---- threads ---- */

typedef struct xdev {
    weft_coro_t *started, *fresh;
    int started_rc, fresh_rc, status_rc;
} xdev_t;

static void *xdev_thread(void *arg)
{
    xdev_t *x = arg;
    x->started_rc = weft_coro_resume(x->started, NULL, NULL);
    x->status_rc = weft_coro_status(x->started);
    /* a coroutine that never ran is not bound to a thread yet */
    x->fresh_rc = weft_coro_resume(x->fresh, NULL, NULL);
    return NULL;
}

static void test_resume_from_another_thread_returns_ethread(void **state)
{
    xdev_t x = {0};
    volatile int cleaned = 0;
    assert_int_equal(weft_coro_create(&x.started, yield_forever, (void *)&cleaned, NULL), 0);
    assert_int_equal(weft_coro_create(&x.fresh, return_at_once, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(x.started, NULL, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, xdev_thread, &x), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(x.started_rc, -WEFT_ETHREAD);
    assert_int_equal(x.status_rc, WEFT_CORO_SUSPENDED);
    assert_int_equal(x.fresh_rc, WEFT_DONE);
    /* its own thread can still resume it */
    assert_int_equal(weft_coro_resume(x.started, NULL, NULL), 0);
    assert_int_equal(weft_coro_destroy(x.started), 0);
    assert_int_equal(weft_coro_destroy(x.fresh), 0);
}

/* ---- deep frames across a yield ---- */

enum { FRAME = 1024, DEPTH = 64 }; /* 64 KiB of frames */

static long __attribute__((noinline)) deep(int depth)
{
    volatile unsigned char buf[FRAME];
    for (int i = 0; i < FRAME; i++)
        buf[i] = (unsigned char)(depth * 31 + i);
    long bad = 0;
    if (depth + 1 < DEPTH)
        bad += deep(depth + 1);
    else
        weft_coro_yield((void *)1, NULL); /* suspend at the bottom */
    for (int i = 0; i < FRAME; i++)
        bad += buf[i] != (unsigned char)(depth * 31 + i);
    return bad;
}

static void *deep_body(void *arg)
{
    (void)arg;
    return (void *)deep(0);
}

/* The resumer's own deep use of its stack while the coroutine waits. */
static long __attribute__((noinline)) scribble(int depth)
{
    volatile unsigned char buf[FRAME];
    memset((void *)buf, 0xA5, sizeof buf);
    long r = depth > 0 ? scribble(depth - 1) : 0;
    return r + buf[depth % FRAME];
}

static void test_deep_recursion_survives_a_yield(void **state)
{
    weft_coro_t *co;
    weft_coro_opts_t o = {.stack_size = 256 * 1024};
    void *out = NULL;
    assert_int_equal(weft_coro_create(&co, deep_body, NULL, &o), 0);
    assert_int_equal(weft_coro_resume(co, NULL, &out), 0);
    assert_int_equal((intptr_t)out, 1);
    assert_true(scribble(DEPTH) > 0);
    assert_int_equal(weft_coro_resume(co, NULL, &out), WEFT_DONE);
    assert_int_equal((intptr_t)out, 0); /* no frame byte changed */
    assert_int_equal(weft_coro_destroy(co), 0);
}

/* ---- custom stack sizes ---- */

static void *use_40k(void *arg)
{
    volatile unsigned char buf[40 * 1024];
    memset((void *)buf, 1, sizeof buf);
    weft_coro_yield(NULL, NULL);
    size_t sum = 0;
    for (size_t i = 0; i < sizeof buf; i += 4096)
        sum += buf[i];
    return (void *)sum;
}

static void test_custom_stack_size_is_used_and_rounded_to_pages(void **state)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t sizes[][2] = {
        /* asked, given */
        {64 * 1024, 64 * 1024},
        {64 * 1024 + 1, 64 * 1024 + page},
        {512 * 1024, 512 * 1024},
    };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        weft_coro_t *co;
        weft_coro_opts_t o = {.stack_size = sizes[k][0]};
        void *out = NULL;
        assert_int_equal(weft_coro_create(&co, use_40k, NULL, &o), 0);
        assert_int_equal(weft_coro_resume(co, NULL, &out), 0);
        assert_int_equal(co->stack.size, sizes[k][1]);
        assert_int_equal(weft_coro_resume(co, NULL, &out), WEFT_DONE);
        assert_int_equal((size_t)out, 10); /* 40 KiB written and read back */
        assert_int_equal(weft_coro_destroy(co), 0);
    }
    /* at least 16 KiB */
    weft_coro_t *co;
    weft_coro_opts_t o = {.stack_size = 1000};
    volatile int cleaned = 0;
    assert_int_equal(weft_coro_create(&co, yield_forever, (void *)&cleaned, &o), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(co->stack.size, 16 * 1024);
    assert_int_equal(weft_coro_destroy(co), 0);
}

/* ---- floating-point control state ---- */

/* The rounding mode, set and read without libm (the tests do not link it):
 * both the x87 control word and MXCSR, as fesetround does. Only x86_64's
 * switch promises to keep them per context (its ABI makes them
 * callee-saved); elsewhere the test is skipped. */
#if defined(__x86_64__)
#define HAVE_ROUNDING 1
static void set_round(int mode)
{
    unsigned short cw;
    unsigned int csr;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    cw = (unsigned short)((cw & ~0xC00) | mode);
    __asm__ volatile("fldcw %0" : : "m"(cw));
    __asm__ volatile("stmxcsr %0" : "=m"(csr));
    csr = (csr & ~0x6000u) | ((unsigned)mode << 3);
    __asm__ volatile("ldmxcsr %0" : : "m"(csr));
}
static int get_round(void) /* x87's */
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw & 0xC00;
}
static int get_sse_round(void) /* MXCSR's, in the same encoding */
{
    unsigned int csr;
    __asm__ volatile("stmxcsr %0" : "=m"(csr));
    return (int)(csr >> 3) & 0xC00;
}

static double __attribute__((noinline)) third(void)
{
    volatile double one = 1.0, three = 3.0;
    return one / three;
}

typedef struct fp {
    int mode_after_resume, sse_mode_after_resume;
    double third_after_resume;
} fp_t;

static void *fp_body(void *arg)
{
    fp_t *f = arg;
    set_round(FE_DOWNWARD);
    weft_coro_yield(NULL, NULL);
    f->mode_after_resume = get_round();
    f->sse_mode_after_resume = get_sse_round();
    f->third_after_resume = third();
    return NULL;
}
#endif

static void test_rounding_mode_set_inside_does_not_leak_to_resumer(void **state)
{
#if !defined(HAVE_ROUNDING)
    skip();
#else
    fp_t f = {0};
    weft_coro_t *co;
    /* Valgrind keeps the modes in its registers but computes to nearest */
    int arith = !under_valgrind();
    set_round(FE_DOWNWARD);
    volatile double third_down = third();
    set_round(FE_UPWARD);
    volatile double third_up = third();
    assert_true(!arith || third_up > third_down);

    assert_int_equal(weft_coro_create(&co, fp_body, &f, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    /* the coroutine set FE_DOWNWARD and yielded: ours is still FE_UPWARD,
     * for x87 and SSE alike */
    assert_int_equal(get_round(), FE_UPWARD);
    assert_int_equal(get_sse_round(), FE_UPWARD);
    assert_true(!arith || third() == third_up);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    /* and the coroutine kept its own across the switch */
    assert_int_equal(f.mode_after_resume, FE_DOWNWARD);
    assert_int_equal(f.sse_mode_after_resume, FE_DOWNWARD);
    assert_true(!arith || f.third_after_resume == third_down);
    set_round(FE_TONEAREST);
    assert_int_equal(weft_coro_destroy(co), 0);
#endif
}

#if defined(HAVE_ROUNDING)
/* MXCSR alone differs (flush-to-zero), the x87 word does not: the switch
 * compares each separately and loads only the one that changed. */
#define MXCSR_FTZ 0x8000u
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
static void *ftz_body(void *arg)
{
    unsigned *seen = arg;
    set_mxcsr(get_mxcsr() | MXCSR_FTZ);
    weft_coro_yield(NULL, NULL);
    *seen = get_mxcsr();
    return NULL;
}
#endif

static void test_mxcsr_alone_set_inside_does_not_leak_to_resumer(void **state)
{
#if !defined(HAVE_ROUNDING)
    skip();
#else
    unsigned seen = 0, before = get_mxcsr();
    int cw_before = get_round();
    weft_coro_t *co;
    assert_int_equal(before & MXCSR_FTZ, 0);
    assert_int_equal(weft_coro_create(&co, ftz_body, &seen, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(get_mxcsr(), before);
    assert_int_equal(get_round(), cw_before);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    /* Valgrind keeps only MXCSR's rounding bits */
    if (!under_valgrind())
        assert_int_equal(seen & MXCSR_FTZ, MXCSR_FTZ);
    assert_int_equal(get_mxcsr(), before);
    assert_int_equal(weft_coro_destroy(co), 0);
#endif
}

/* ---- strerror, version ---- */

static void test_strerror_has_text_for_every_status(void **state)
{
    int statuses[] = {0,      WEFT_DONE, -ECANCELED, -ETIMEDOUT, -EINVAL,
                      ENOENT, -ENOENT,   -99999,     99999};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        const char *s = weft_strerror(statuses[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
    }
    assert_string_not_equal(weft_strerror(-ECANCELED), weft_strerror(-ETIMEDOUT));
    assert_string_not_equal(weft_strerror(0), weft_strerror(WEFT_DONE));
    assert_string_equal(weft_strerror(ENOENT), weft_strerror(-ENOENT));
}

static void test_version_is_0_1_0(void **state)
{
    assert_string_equal(weft_version(), "0.1.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_passes_value_each_way),
        cmocka_unit_test(test_resume_accepts_null_out),
        cmocka_unit_test(test_return_value_comes_with_weft_done),
        cmocka_unit_test(test_status_goes_created_running_suspended_dead),
        cmocka_unit_test(test_status_names_are_static_words_and_unknown_otherwise),
        cmocka_unit_test(test_nested_three_deep_each_yields_to_its_resumer),
        cmocka_unit_test(test_resume_of_dead_coroutine_returns_esrch),
        cmocka_unit_test(test_resume_of_itself_returns_ebusy),
        cmocka_unit_test(test_resume_of_resumer_from_inside_returns_ebusy),
        cmocka_unit_test(test_yield_outside_any_coroutine_returns_enotcoro),
        cmocka_unit_test(test_destroy_of_running_coroutine_returns_ebusy),
        cmocka_unit_test(test_coro_null_arguments_return_einval),
        cmocka_unit_test(test_create_with_stack_over_1gib_returns_einval),
        cmocka_unit_test(test_destroy_of_suspended_coroutine_discards_it),
        cmocka_unit_test(test_destroyed_coroutines_stacks_are_reused),
        cmocka_unit_test(test_coroutine_name_is_copied_and_truncated),
        cmocka_unit_test(test_resume_from_another_thread_returns_ethread),
        cmocka_unit_test(test_deep_recursion_survives_a_yield),
        cmocka_unit_test(test_custom_stack_size_is_used_and_rounded_to_pages),
        cmocka_unit_test(test_rounding_mode_set_inside_does_not_leak_to_resumer),
        cmocka_unit_test(test_mxcsr_alone_set_inside_does_not_leak_to_resumer),
        cmocka_unit_test(test_strerror_has_text_for_every_status),
        cmocka_unit_test(test_version_is_0_1_0),
    };
    return run_suite(tests, NULL, NULL);
}
