/* test_file.c - files through the thread pool: write, read, pwrite,
 * pread, fsync and fdatasync, close; buffers on the task's stack and on
 * the heap; many tasks reading one file at once; errors (ENOENT, EISDIR,
 * EBADF on a read-only file, bad arguments, -WEFT_ENOTASK outside a task,
 * -EBUSY closing a file in use); cancellation: before the call nothing happens
 * (-ECANCELED, position unchanged), during the call the operation
 * completes and returns its bytes while the cancellation shows at the
 * next suspending call (the same for a deadline); a close when cancelled
 * still closes. A timer task keeps ticking while another task reads:
 * deterministically with a FIFO whose read blocks a pool thread until
 * the ticker has ticked 20 times, and with a large file read over and
 * over until the ticker has seen the reader parked in the pool (wait kind
 * POOL) on several of its ticks; both print the ticker's lateness.
 * Copy-stack tasks read into and write from buffers on their (shared)
 * stack while another task dirties that stack: the data stays right.
 *
 * Covers: src/file.c.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool.h"

static char dir[] = "/tmp/weft_file_XXXXXX";
static char path[256], fifo[256];

static int setup(void **state)
{
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/data", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    return mkfifo(fifo, 0600);
}

static int teardown(void **state)
{
    unlink(path);
    unlink(fifo);
    rmdir(dir);
    return 0;
}

/* ---- read, write, pread, pwrite, sync, close ---- */

static int rw_main(void *arg, void **res)
{
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    assert_true(weft_file_fd(f) >= 0);
    assert_true(fcntl(weft_file_fd(f), F_GETFD) & FD_CLOEXEC);
    /* from the stack (copied through the heap) and from the heap (in place) */
    char line[] = "hello, ";
    assert_int_equal(weft_file_write(f, line, 7), 7);
    char *heap = strdup("world\n");
    assert_int_equal(weft_file_write(f, heap, 6), 6);
    assert_int_equal(weft_file_write(f, heap, 0), 0);
    assert_int_equal(weft_file_pwrite(f, "W", 1, 7), 1);
    assert_int_equal(lseek(weft_file_fd(f), 0, SEEK_CUR), 13); /* pwrite did not move it */
    assert_int_equal(weft_file_sync(f, false), 0);
    assert_int_equal(weft_file_sync(f, true), 0);
    char buf[32];
    memset(buf, 0, sizeof buf);
    assert_int_equal(weft_file_pread(f, buf, sizeof buf, 0), 13);
    assert_string_equal(buf, "hello, World\n");
    memset(heap, 0, 6);
    assert_int_equal(weft_file_pread(f, heap, 5, 7), 5);
    assert_memory_equal(heap, "World", 5);
    free(heap);
    /* read follows the position */
    assert_int_equal(weft_file_read(f, buf, 4), 0); /* at the end */
    assert_int_equal(lseek(weft_file_fd(f), 2, SEEK_SET), 2);
    memset(buf, 0, sizeof buf);
    assert_int_equal(weft_file_read(f, buf, 3), 3);
    assert_string_equal(buf, "llo");
    assert_int_equal(weft_file_read(f, buf, 3), 3);
    assert_memory_equal(buf, ", W", 3);
    assert_int_equal(weft_file_pread(f, buf, 4, 100), 0); /* past the end */
    assert_int_equal(weft_file_close(f), 0);
    return 0;
}

static void test_file_reads_and_writes_at_the_position_or_an_offset(void **state)
{
    run(rw_main, NULL);
}

static int rw_large_main(void *arg, void **res)
{
    weft_file_t *f;
    /* a large write and read back through heap buffers, in one call each */
    size_t big = (size_t)(4 << 20);
    char *w = malloc(big), *r = malloc(big);
    for (size_t i = 0; i < big; i++)
        w[i] = (char)(i * 7 + (i >> 12));
    assert_int_equal(weft_file_open(&f, path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    assert_int_equal(weft_file_write(f, w, big), (ssize_t)big);
    assert_int_equal(weft_file_pread(f, r, big, 0), (ssize_t)big);
    assert_memory_equal(w, r, big);
    assert_int_equal(weft_file_close(f), 0);
    free(w);
    free(r);
    return 0;
}

static void test_file_large_write_and_read_back_take_one_call_each(void **state)
{
    run(rw_large_main, NULL);
}

/* ---- many tasks on one file ---- */

typedef struct {
    weft_file_t *f;
    int i;
} part_t;

static int read_part(void *arg, void **res)
{
    part_t *p = arg;
    char buf[4096];
    if (weft_file_pread(p->f, buf, sizeof buf, (off_t)p->i * 4096) != 4096)
        return -EIO;
    for (int k = 0; k < 4096; k++)
        if (buf[k] != (char)(p->i + k))
            return -EILSEQ;
    return 0;
}

static int many_main(void *arg, void **res)
{
    enum { N = 64 };
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    char *data = malloc((size_t)N * 4096);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 4096; k++)
            data[i * 4096 + k] = (char)(i + k);
    assert_int_equal(weft_file_write(f, data, (size_t)N * 4096), N * 4096);
    free(data);
    part_t parts[N];
    weft_task_t *t[N];
    for (int i = 0; i < N; i++) {
        parts[i] = (part_t){f, i};
        assert_int_equal(weft_spawn(&t[i], read_part, &parts[i], HERE), 0);
    }
    assert_int_equal(weft_yield(), 0);
    /* in use by the readers (some of them at least are in the pool) */
    assert_int_equal(weft_file_close(f), -EBUSY);
    int st[N];
    assert_int_equal(weft_gather(t, N, NULL, st, WEFT_GATHER_COLLECT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(st[i], 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(weft_file_close(f), 0);
    return 0;
}

static void test_file_read_by_many_tasks_at_once_and_close_meanwhile_is_ebusy(void **state)
{
    weft_config_t cfg = {.pool_threads = 4};
    run_config(&cfg, many_main, NULL);
}

/* ---- errors ---- */

static int errors_main(void *arg, void **res)
{
    weft_file_t *f = (weft_file_t *)&f;
    char nopath[300];
    snprintf(nopath, sizeof nopath, "%s/no/such/file", dir);
    assert_int_equal(weft_file_open(&f, nopath, O_RDONLY, 0), -ENOENT);
    assert_null(f);
    assert_int_equal(weft_file_open(&f, dir, O_WRONLY, 0), -EISDIR);
    assert_int_equal(weft_file_open(NULL, path, O_RDONLY, 0), -EINVAL);
    assert_int_equal(weft_file_open(&f, NULL, O_RDONLY, 0), -EINVAL);
    /* read-only: writing fails with the system call's error */
    assert_int_equal(weft_file_open(&f, path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    assert_int_equal(weft_file_close(f), 0);
    assert_int_equal(weft_file_open(&f, path, O_RDONLY, 0), 0);
    assert_int_equal(weft_file_write(f, "x", 1), -EBADF);
    assert_int_equal(weft_file_pwrite(f, "x", 1, 0), -EBADF);
    char buf[4];
    assert_int_equal(weft_file_read(NULL, buf, 1), -EINVAL);
    assert_int_equal(weft_file_read(f, NULL, 1), -EINVAL);
    assert_int_equal(weft_file_read(f, NULL, 0), 0);
    assert_int_equal(weft_file_pread(f, buf, 1, -1), -EINVAL);
    assert_int_equal(weft_file_pwrite(f, buf, 1, -1), -EINVAL);
    assert_int_equal(weft_file_read(f, buf, (size_t)SSIZE_MAX + 1), -EINVAL);
    assert_int_equal(weft_file_write(NULL, buf, 1), -EINVAL);
    assert_int_equal(weft_file_sync(NULL, false), -EINVAL);
    assert_int_equal(weft_file_close(NULL), -EINVAL);
    assert_int_equal(weft_file_fd(NULL), -EINVAL);
    assert_int_equal(weft_file_close(f), 0);
    return 0;
}

static void test_file_open_errors_and_bad_arguments_are_reported(void **state)
{
    run(errors_main, NULL);
}

static void test_file_calls_outside_a_task_are_enotask(void **state)
{
    weft_file_t *f;
    char buf[4];
    assert_int_equal(weft_file_open(&f, path, O_RDONLY, 0), -WEFT_ENOTASK);
    assert_int_equal(weft_file_read((weft_file_t *)buf, buf, 1), -WEFT_ENOTASK);
}

/* ---- cancellation: before the call, during the call ---- */

static int cancel_before_main(void *arg, void **res)
{
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    assert_int_equal(weft_file_write(f, "abcdef", 6), 6);
    assert_int_equal(lseek(weft_file_fd(f), 0, SEEK_SET), 0);
    weft_cancel(weft_current());
    char buf[8] = "zzzzzzz";
    assert_int_equal(weft_file_read(f, buf, 3), -ECANCELED);
    assert_string_equal(buf, "zzzzzzz");                    /* nothing read */
    assert_int_equal(lseek(weft_file_fd(f), 0, SEEK_CUR), 0); /* position unmoved */
    assert_int_equal(weft_file_write(f, "X", 1), -ECANCELED);
    assert_int_equal(weft_file_sync(f, false), -ECANCELED);
    weft_file_t *g = NULL;
    assert_int_equal(weft_file_open(&g, path, O_RDONLY, 0), -ECANCELED);
    assert_null(g);
    assert_int_equal(weft_uncancel(), 1);
    assert_int_equal(weft_file_pread(f, buf, 6, 0), 6);
    assert_memory_equal(buf, "abcdef", 6); /* the write did not happen */
    /* a deadline that has passed: the same */
    weft_deadline_t d;
    weft_deadline_push(&d, 0);
    assert_int_equal(weft_file_pread(f, buf, 6, 0), -ETIMEDOUT);
    weft_deadline_pop(&d);
    assert_int_equal(weft_file_close(f), 0);
    return 0;
}

static void test_file_call_when_cancelled_or_past_deadline_does_nothing(void **state)
{
    run(cancel_before_main, NULL);
}

static int cancelled_close_main(void *arg, void **res)
{
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    /* close closes even when cancelled */
    int fd = weft_file_fd(f);
    weft_cancel(weft_current());
    assert_int_equal(weft_file_close(f), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(weft_uncancel(), 1);
    return 0;
}

static void test_file_close_when_cancelled_still_closes(void **state)
{
    run(cancelled_close_main, NULL);
}

typedef struct {
    weft_file_t *f;
    ssize_t got;
    char buf[16];
    int cancelled_after, next_call, deadline_pop;
    bool use_deadline;
    int64_t deadline;
} blocked_t;

/* Reads the FIFO (blocking a pool thread until someone writes). */
static int fifo_reader(void *arg, void **res)
{
    blocked_t *b = arg;
    weft_deadline_t d;
    if (b->use_deadline) {
        /* generous, so the read surely starts first; it passes during it */
        b->deadline = weft_now() + WEFT_MSEC(100);
        weft_deadline_push_at(&d, b->deadline);
    }
    b->got = weft_file_read(b->f, b->buf, sizeof b->buf);
    b->cancelled_after = weft_task_cancelled(weft_current());
    b->next_call = weft_yield(); /* the request shows here */
    if (b->use_deadline)
        b->deadline_pop = weft_deadline_pop(&d);
    return 0;
}

/* arg 0: the task is cancelled during its read; 1: its deadline passes. */
static int cancel_during_main(void *arg, void **res)
{
    int round = (int)I(arg);
    blocked_t b = {.use_deadline = round == 1};
    assert_int_equal(weft_file_open(&b.f, fifo, O_RDWR, 0), 0);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, fifo_reader, &b, HERE), 0);
    for (int i = 0; !t->b || t->b->wait_kind != &weft__wait_pool; i++) {
        assert_true(i < 1000);
        assert_int_equal(weft_yield(), 0);
    }
    if (round == 0)
        assert_int_equal(weft_cancel(t), 0);
    else
        assert_int_equal(weft_sleep_until(b.deadline + WEFT_MSEC(1)), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(10)), 0);
    /* the read is still under way: the task is held in the pool */
    assert_int_equal(weft_task_state(t), WEFT_TASK_WAITING);
    assert_int_equal(t->b->wait_kind, &weft__wait_pool);
    int w = open(fifo, O_WRONLY | O_NONBLOCK);
    assert_true(w >= 0);
    assert_int_equal(write(w, "data", 4), 4);
    close(w);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    /* it happened, and the call says so */
    assert_int_equal(b.got, 4);
    assert_memory_equal(b.buf, "data", 4);
    if (round == 0) {
        assert_true(b.cancelled_after);
        assert_int_equal(b.next_call, -ECANCELED);
    } else {
        assert_false(b.cancelled_after);
        assert_int_equal(b.next_call, -ETIMEDOUT);
        assert_int_equal(b.deadline_pop, -ETIMEDOUT);
    }
    assert_int_equal(weft_file_close(b.f), 0);
    return 0;
}

static void test_file_cancelled_during_a_call_completes_it_and_sees_it_next(void **state)
{
    run(cancel_during_main, P(0));
}

static void test_file_deadline_passing_during_a_call_completes_it_and_sees_it_next(void **state)
{
    run(cancel_during_main, P(1));
}

/* ---- a ticker keeps ticking while another task reads ---- */

typedef struct {
    weft_task_t *reader;
    volatile bool reading, stop;
    int ticks_during;   /* ticks that found the reader parked in the pool */
    int ticks;
    int64_t max_late;
} tick_t;

static int ticker(void *arg, void **res)
{
    tick_t *k = arg;
    weft_ticker_t *tk;
    assert_int_equal(weft_ticker_create(&tk, WEFT_MSEC(1), 0, WEFT_TICK_SKIP), 0);
    while (!k->stop) {
        int64_t due;
        if (weft_ticker_wait(tk, &due) < 0)
            break;
        int64_t late = weft_now() - due;
        if (late > k->max_late)
            k->max_late = late;
        k->ticks++;
        if (k->reading && k->reader->b && k->reader->b->wait_kind == &weft__wait_pool &&
            k->reader->tstate == WEFT_TASK_WAITING)
            k->ticks_during++;
    }
    weft_ticker_destroy(tk);
    return 0;
}

/* Deterministic: the read blocks in the pool until the ticker has ticked
 * 20 times with the reader parked there. */
static int fifo_tick_reader(void *arg, void **res)
{
    tick_t *k = arg;
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, fifo, O_RDWR, 0), 0);
    char buf[8];
    k->reading = true;
    ssize_t n = weft_file_read(f, buf, sizeof buf);
    k->reading = false;
    assert_int_equal(n, 1);
    assert_int_equal(weft_file_close(f), 0);
    return 0;
}

static int fifo_tick_main(void *arg, void **res)
{
    tick_t k = {0};
    weft_task_t *tt, *rt;
    assert_int_equal(weft_spawn(&rt, fifo_tick_reader, &k, NULL), 0);
    k.reader = rt;
    assert_int_equal(weft_spawn(&tt, ticker, &k, NULL), 0);
    int64_t end = weft_now() + WEFT_SEC(30);
    while (k.ticks_during < 20) {
        assert_true(weft_now() < end);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    }
    int w = open(fifo, O_WRONLY | O_NONBLOCK);
    assert_true(w >= 0);
    assert_int_equal(write(w, "!", 1), 1);
    close(w);
    assert_int_equal(weft_await(rt, NULL), 0);
    k.stop = true;
    assert_int_equal(weft_await(tt, NULL), 0);
    weft_task_release(rt);
    weft_task_release(tt);
    printf("file: %d ticks while a read blocked in the pool, worst lateness %.3f ms\n",
           k.ticks_during, k.max_late / 1e6);
    return 0;
}

static void test_file_ticker_keeps_ticking_while_a_read_blocks_a_pool_thread(void **state)
{
    run(fifo_tick_main, NULL);
}

/* A large file, read in 1 MiB chunks, again and again until the ticker
 * has found the reader in the pool on 5 ticks (or 30 s pass: a loop
 * blocked by the reads would never let it see that). */
static int big_reader(void *arg, void **res)
{
    tick_t *k = arg;
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, path, O_RDONLY, 0), 0);
    size_t chunk = 1 << 20;
    char *buf = malloc(chunk);
    int64_t end = weft_now() + WEFT_SEC(30);
    int64_t t0 = weft_now();
    size_t total = 0;
    int passes = 0;
    k->reading = true;
    while (k->ticks_during < 5) {
        assert_true(weft_now() < end);
        off_t off = 0;
        ssize_t n;
        while ((n = weft_file_pread(f, buf, chunk, off)) > 0) {
            assert_int_equal((unsigned char)buf[0], (unsigned char)(off >> 20));
            off += n;
            total += (size_t)n;
        }
        assert_int_equal(n, 0);
        passes++;
    }
    k->reading = false;
    int64_t dt = weft_now() - t0;
    printf("file: read %zu MiB in %d passes, %.1f ms, %.0f MiB/s; %d ticks in all, %d found "
           "the reader in the pool; worst lateness %.3f ms\n",
           total >> 20, passes, dt / 1e6, (double)total / (1 << 20) / (dt / 1e9), k->ticks,
           k->ticks_during, k->max_late / 1e6);
    free(buf);
    assert_int_equal(weft_file_close(f), 0);
    return 0;
}

static int big_main(void *arg, void **res)
{
    /* the file: 64 MiB (scaled, at least 8), each MiB starting with its index */
    int mib = (int)(64 * test_scale());
    if (mib < 8)
        mib = 8;
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, path, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
    char *buf = calloc(1, 1 << 20);
    for (int i = 0; i < mib; i++) {
        buf[0] = (char)i;
        assert_int_equal(weft_file_write(f, buf, 1 << 20), 1 << 20);
    }
    free(buf);
    assert_int_equal(weft_file_close(f), 0);

    tick_t k = {0};
    weft_task_t *tt, *rt;
    assert_int_equal(weft_spawn(&rt, big_reader, &k, NULL), 0);
    k.reader = rt;
    assert_int_equal(weft_spawn(&tt, ticker, &k, NULL), 0);
    assert_int_equal(weft_await(rt, NULL), 0);
    k.stop = true;
    assert_int_equal(weft_await(tt, NULL), 0);
    weft_task_release(rt);
    weft_task_release(tt);
    assert_true(k.ticks_during >= 5);
    return 0;
}

static void test_file_ticker_keeps_ticking_while_a_large_read_runs(void **state)
{
    run(big_main, NULL);
}

/* ---- copy-stack tasks: buffers on the (shared) stack ---- */

/* Dirties the shared stack while the readers are suspended. */
static int churn(void *arg, void **res)
{
    volatile char junk[8192];
    for (int r = 0; r < 50; r++) {
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)(0xA5 ^ r);
        if (weft_yield() < 0)
            break;
    }
    return junk[0] == 0x42;
}

static int stack_reader(void *arg, void **res)
{
    weft_file_t *f = arg;
    for (int r = 0; r < 20; r++) {
        char buf[4096]; /* on a copy-stack task's stack: bounced by weft */
        memset(buf, 0, sizeof buf);
        off_t off = (off_t)(r % 8) * 4096;
        if (weft_file_pread(f, buf, sizeof buf, off) != (ssize_t)sizeof buf)
            return -EIO;
        for (size_t k = 0; k < sizeof buf; k++)
            if (buf[k] != (char)(off / 4096 + (off_t)k))
                return -EILSEQ;
        char out[64]; /* written from the stack, too */
        memset(out, 'a' + r % 26, sizeof out);
        if (weft_file_pwrite(f, out, sizeof out, 65536 + r * 64) != (ssize_t)sizeof out)
            return -EIO;
    }
    return 0;
}

static int copy_main(void *arg, void **res)
{
    weft_file_t *f;
    assert_int_equal(weft_file_open(&f, path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
    char *data = malloc(8 * 4096);
    for (int i = 0; i < 8 * 4096; i++)
        data[i] = (char)(i / 4096 + i % 4096);
    assert_int_equal(weft_file_write(f, data, 8 * 4096), 8 * 4096);
    free(data);
    weft_task_t *t[3];
    assert_int_equal(weft_spawn(&t[0], stack_reader, f, NULL), 0);
    assert_int_equal(weft_spawn(&t[1], stack_reader, f, NULL), 0);
    assert_int_equal(weft_spawn(&t[2], churn, NULL, NULL), 0);
    int st[3];
    assert_int_equal(weft_gather(t, 3, NULL, st, WEFT_GATHER_COLLECT), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st[i], 0);
        weft_task_release(t[i]);
    }
    char back[64];
    assert_int_equal(weft_file_pread(f, back, 64, 65536 + 19 * 64), 64);
    for (int k = 0; k < 64; k++)
        assert_int_equal(back[k], 'a' + 19 % 26);
    assert_int_equal(weft_file_close(f), 0);
    return 0;
}

static void test_file_copy_stack_tasks_read_and_write_their_stack_buffers_intact(void **state)
{
    weft_config_t cfg = {.stack_mode = WEFT_STACK_COPY};
    run_config(&cfg, copy_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_reads_and_writes_at_the_position_or_an_offset),
        cmocka_unit_test(test_file_large_write_and_read_back_take_one_call_each),
        cmocka_unit_test(test_file_read_by_many_tasks_at_once_and_close_meanwhile_is_ebusy),
        cmocka_unit_test(test_file_open_errors_and_bad_arguments_are_reported),
        cmocka_unit_test(test_file_calls_outside_a_task_are_enotask),
        cmocka_unit_test(test_file_call_when_cancelled_or_past_deadline_does_nothing),
        cmocka_unit_test(test_file_close_when_cancelled_still_closes),
        cmocka_unit_test(test_file_cancelled_during_a_call_completes_it_and_sees_it_next),
        cmocka_unit_test(test_file_deadline_passing_during_a_call_completes_it_and_sees_it_next),
        cmocka_unit_test(test_file_ticker_keeps_ticking_while_a_read_blocks_a_pool_thread),
        cmocka_unit_test(test_file_ticker_keeps_ticking_while_a_large_read_runs),
        cmocka_unit_test(test_file_copy_stack_tasks_read_and_write_their_stack_buffers_intact),
    };
    return run_suite(tests, setup, teardown);
}
