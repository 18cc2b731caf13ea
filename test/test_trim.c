/* test_trim.c - memory given back to the kernel once a worker is quiet.
 *
 * A burst of tasks (each touching 16 KiB of its stack) and of streams
 * leaves free stacks, slab segments and heap in the pools; with a short
 * quiet period (50 ms) the worker then trims once: weft_mem_stats counts
 * the stacks and bytes that went back, and what stays warm is at most the
 * floor. A worker that keeps ending tasks never trims; an idle one trims
 * once, not again; trimming can be turned off; bad settings are refused.
 * Never a timed guess: a test waits for the counter (polled for up to
 * 20 s), and a busy worker is busy by construction (every time it blocks,
 * more tasks than the floor's trickle have ended since it last did).
 *
 * Empty slab segments past the 64 MiB mark stay warm while a loop that
 * trims runs on the thread (a burst does not give them back one by one
 * in its middle): the quiet trim gives them back, and so does the loop's
 * close, down to the mark; with trimming off the mark holds throughout.
 *
 * Covers: src/trim.c, weft__stack_trim (src/stack.c), weft__slab_trim
 * and the deferred mark (src/slab.c), the trim's place in the loop's poll
 * phase and the close (src/loop.c), weft_mem_stats (src/introspect.c),
 * the config checks (src/runtime.c).
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h" /* the slabs: weft__slab_alloc, weft__slab_free */

#define QUIET WEFT_MSEC(50)
#define FLOOR ((size_t)1 << 20)

static weft_config_t trim_config(void)
{
    weft_config_t cfg = {.trim_quiet_ns = QUIET, .trim_floor = FLOOR};
    return cfg;
}

static weft_mem_stats_t stats(void)
{
    weft_mem_stats_t st;
    assert_int_equal(weft_mem_stats(&st), 0);
    return st;
}

/* A task that touches 16 KiB of its stack, so its pages are resident,
 * then sleeps: all of a burst are alive at once. */
static int toucher(void *arg, void **result)
{
    (void)arg;
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = 0x5a;
    int rc = weft_sleep(WEFT_MSEC(1));
    *result = P(buf[128] + buf[16000]);
    return rc;
}

/* n tasks at once, each checked. */
static void burst(long n)
{
    weft_task_t **t = calloc((size_t)n, sizeof *t);
    assert_non_null(t);
    for (long i = 0; i < n; i++)
        assert_int_equal(weft_spawn(&t[i], toucher, NULL, NULL), 0);
    for (long i = 0; i < n; i++) {
        void *r;
        assert_int_equal(weft_await(t[i], &r), 0);
        assert_int_equal(I(r), 2 * 0x5a);
        weft_task_release(t[i]);
    }
    free(t);
}

/* A few streams that carry a message each way, then close. */
static void streams(int n)
{
    char out[4096], in[4096];
    memset(out, 'x', sizeof out);
    for (int i = 0; i < n; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        weft_stream_t *a, *b;
        assert_int_equal(weft_stream_open(&a, sv[0], NULL), 0);
        assert_int_equal(weft_stream_open(&b, sv[1], NULL), 0);
        assert_int_equal(weft_stream_write(a, out, sizeof out), 0);
        assert_int_equal(weft_stream_read_exactly(b, in, 100, NULL), 0);
        assert_int_equal(weft_stream_read_exactly(b, in, sizeof out - 100, NULL), 0);
        assert_int_equal(weft_stream_close(a), 0);
        assert_int_equal(weft_stream_close(b), 0);
    }
}

/* Sleeps (ending no task, so the worker stays quiet) until more than
 * `trims` trims have run; fails after 20 s. */
static weft_mem_stats_t wait_trim(uint64_t trims)
{
    int64_t end = weft_now() + WEFT_SEC(20);
    for (;;) {
        weft_mem_stats_t st = stats();
        if (st.trims > trims)
            return st;
        assert_true(weft_now() < end);
        assert_int_equal(weft_sleep(WEFT_MSEC(10)), 0);
    }
}

/* ---- a quiet worker trims ---- */

static int burst_then_quiet(void *arg, void **result)
{
    (void)arg, (void)result;
    long n = scaled(2000, 200);
    weft_mem_stats_t before = stats();
    burst(n);
    streams(16);
    weft_mem_stats_t after = wait_trim(before.trims);
    /* nearly every stack of the burst went back: all but the floor kept
     * in the cache and in the store (and those a task of the runtime
     * holds), each with the 16 KiB its task touched */
    long floor_stacks = (long)(FLOOR / weft_stack_default_size());
    uint64_t stacks = after.stacks_returned - before.stacks_returned;
    assert_true(stacks >= (uint64_t)(n - 2 * floor_stacks - 64));
    assert_true(after.stack_bytes_returned - before.stack_bytes_returned >=
                (uint64_t)(n - 2 * floor_stacks - 64) * 16384);
    assert_true(after.bytes_returned >= after.stack_bytes_returned);
    /* what stays warm is the floor: the cache's share and the store's */
    assert_true(after.stacks_warm <= (uint64_t)(2 * floor_stacks) + 2);
    assert_true(after.stacks_free >= (uint64_t)n - 64);
    assert_true(after.segments_warm <= FLOOR / 65536);
    /* the stacks given back work as before: their pages come back zeroed
     * and are touched again */
    burst(n);
    return 0;
}

static void test_trim_gives_back_stacks_once_the_worker_is_quiet(void **state)
{
    (void)state;
    weft_config_t cfg = trim_config();
    run_config(&cfg, burst_then_quiet, NULL);
}

/* ---- an idle worker trims once ---- */

static int quiet_stays_trimmed(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_mem_stats_t before = stats();
    burst(scaled(500, 100));
    weft_mem_stats_t after = wait_trim(before.trims);
    /* ten more quiet periods, ending no task: no second trim */
    assert_int_equal(weft_sleep(10 * QUIET), 0);
    assert_int_equal(stats().trims, after.trims);
    /* work again, then quiet again: one more */
    burst(scaled(500, 100));
    wait_trim(after.trims);
    return 0;
}

static void test_trim_runs_once_per_quiet_spell(void **state)
{
    (void)state;
    weft_config_t cfg = trim_config();
    run_config(&cfg, quiet_stays_trimmed, NULL);
}

/* ---- a busy worker does not ---- */

static int quick(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}

static int busy_then_quiet(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_mem_stats_t before = stats();
    /* every time the worker blocks (the sleep), 64 tasks have ended since
     * it last did, far more than the floor's trickle (8): for ten quiet
     * periods and more it never counts as quiet */
    int64_t end = weft_now() + 12 * QUIET;
    while (weft_now() < end) {
        weft_task_t *t[64];
        for (int i = 0; i < 64; i++)
            assert_int_equal(weft_spawn(&t[i], quick, NULL, NULL), 0);
        for (int i = 0; i < 64; i++)
            await_release(t[i]);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    }
    assert_int_equal(stats().trims, before.trims);
    /* and once it stops, it trims */
    wait_trim(before.trims);
    return 0;
}

static void test_trim_never_runs_while_the_worker_keeps_ending_tasks(void **state)
{
    (void)state;
    weft_config_t cfg = trim_config();
    run_config(&cfg, busy_then_quiet, NULL);
}

/* ---- turned off ---- */

static int burst_then_wait(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_mem_stats_t before = stats();
    burst(scaled(500, 100));
    assert_int_equal(weft_sleep(10 * QUIET), 0);
    assert_int_equal(stats().trims, before.trims);
    return 0;
}

static void test_trim_never_runs_when_turned_off(void **state)
{
    (void)state;
    weft_config_t cfg = {.trim_quiet_ns = WEFT_TRIM_NEVER, .trim_floor = FLOOR};
    run_config(&cfg, burst_then_wait, NULL);
}

/* ---- empty slab segments: the 64 MiB mark waits for the trim ---- */

#define SEG ((size_t)65536)
#define MARK_SEGS (((size_t)64 << 20) / SEG) /* slab.c's WEFT__SLAB_KEEP */
#define OBJ ((size_t)16384)                 /* four to a segment */
#define NOBJ (4 * (MARK_SEGS + 64))         /* 64 segments past the mark */

static void **slab_objs;

/* NOBJ objects of 16 KiB from the calling thread's slabs, each written,
 * then all freed: MARK_SEGS + 64 segments or so fall empty. Returns false
 * where the slabs are plain malloc (ASan, Valgrind): nothing to check. */
static bool fill_and_empty_slabs(void)
{
    slab_objs = calloc(NOBJ, sizeof *slab_objs);
    assert_non_null(slab_objs);
    for (size_t i = 0; i < NOBJ; i++) {
        slab_objs[i] = weft__slab_alloc(OBJ);
        assert_non_null(slab_objs[i]);
        memset(slab_objs[i], (int)(i & 0xff), OBJ);
    }
    for (size_t i = 0; i < NOBJ; i++)
        assert_int_equal(((unsigned char *)slab_objs[i])[OBJ - 1], i & 0xff);
    for (size_t i = 0; i < NOBJ; i++)
        weft__slab_free(slab_objs[i], OBJ);
    free(slab_objs);
    return stats().segments_warm > 0;
}

static int slabs_wait_for_the_trim(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_mem_stats_t before = stats();
    if (!fill_and_empty_slabs())
        return 0;
    /* all still warm: none went back in the middle of the burst */
    assert_true(stats().segments_warm >= MARK_SEGS + 32);
    assert_int_equal(stats().segments_returned, before.segments_returned);
    burst(1); /* a trim follows work: a task that ended */
    weft_mem_stats_t after = wait_trim(before.trims);
    assert_true(after.segments_warm <= FLOOR / SEG);
    assert_true(after.segments_returned - before.segments_returned >= MARK_SEGS + 32 - FLOOR / SEG);
    /* the segments given back serve again: zeroed pages, written anew */
    assert_true(fill_and_empty_slabs());
    return 0;
}

static void test_trim_gives_back_empty_slab_segments_only_once_quiet(void **state)
{
    (void)state;
    weft_config_t cfg = trim_config();
    run_config(&cfg, slabs_wait_for_the_trim, NULL);
}

static int slabs_fill(void *arg, void **result)
{
    (void)result;
    if (!fill_and_empty_slabs())
        return 0;
    size_t warm = stats().segments_warm;
    if (arg) /* trimming on: deferred */
        assert_true(warm >= MARK_SEGS + 32);
    else /* trimming off: the mark holds at once */
        assert_true(warm <= MARK_SEGS);
    return 0;
}

static void test_trim_loop_close_gives_back_slab_segments_past_the_mark(void **state)
{
    (void)state;
    weft_config_t cfg = {.trim_quiet_ns = WEFT_SEC(600)}; /* no trim during the run */
    run_config(&cfg, slabs_fill, &cfg);
    assert_true(stats().segments_warm <= MARK_SEGS);
}

static void test_trim_off_keeps_the_slab_mark(void **state)
{
    (void)state;
    weft_config_t cfg = {.trim_quiet_ns = WEFT_TRIM_NEVER};
    run_config(&cfg, slabs_fill, NULL);
    assert_true(stats().segments_warm <= MARK_SEGS);
}

/* ---- arguments ---- */

static void test_trim_settings_out_of_range_are_refused(void **state)
{
    (void)state;
    weft_config_t cfg = {.trim_quiet_ns = WEFT_TRIM_QUIET_MIN - 1};
    assert_int_equal(run_status(&cfg, quick, NULL), -EINVAL);
    cfg.trim_quiet_ns = WEFT_TRIM_QUIET_MAX + 1;
    assert_int_equal(run_status(&cfg, quick, NULL), -EINVAL);
    cfg = (weft_config_t){.trim_floor = WEFT_TRIM_FLOOR_MAX + 1};
    assert_int_equal(run_status(&cfg, quick, NULL), -EINVAL);
    weft_runtime_t *rt;
    assert_int_equal(weft_runtime_start(&rt, &cfg, quick, NULL), -EINVAL);
    /* the bounds themselves, and "never", are fine */
    cfg = (weft_config_t){.trim_quiet_ns = WEFT_TRIM_QUIET_MIN, .trim_floor = WEFT_TRIM_FLOOR_MAX};
    assert_int_equal(run_status(&cfg, quick, NULL), 0);
    cfg = (weft_config_t){.trim_quiet_ns = WEFT_TRIM_QUIET_MAX};
    assert_int_equal(run_status(&cfg, quick, NULL), 0);
    cfg = (weft_config_t){.trim_quiet_ns = -5};
    assert_int_equal(run_status(&cfg, quick, NULL), 0);
    assert_int_equal(weft_mem_stats(NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_gives_back_stacks_once_the_worker_is_quiet),
        cmocka_unit_test(test_trim_runs_once_per_quiet_spell),
        cmocka_unit_test(test_trim_never_runs_while_the_worker_keeps_ending_tasks),
        cmocka_unit_test(test_trim_never_runs_when_turned_off),
        cmocka_unit_test(test_trim_settings_out_of_range_are_refused),
        cmocka_unit_test(test_trim_gives_back_empty_slab_segments_only_once_quiet),
        cmocka_unit_test(test_trim_loop_close_gives_back_slab_segments_past_the_mark),
        cmocka_unit_test(test_trim_off_keeps_the_slab_mark),
    };
    return run_suite(tests, NULL, NULL);
}
