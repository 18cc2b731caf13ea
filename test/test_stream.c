/* test_stream.c - buffered streams over socketpairs and pipes: read,
 * read_exactly (also past the limit), read_line and read_until (a multi-byte
 * separator split across chunks that another task delivers one by one),
 * peek/fill/consume, an overlong line (-EMSGSIZE: dropped through its
 * separator, also when it comes in pieces, and its count; a deadline or
 * the end cutting it short), a line of limit bytes plus its separator,
 * end of stream mid-record (-WEFT_EINCOMPLETE with the partial bytes),
 * at_eof (also when the end came with or after the last line), counts
 * no buffer holds (-EINVAL), set_error, pause/resume_reading, is_closing;
 * the cap on queued output (max_pending: -ENOBUFS, nothing queued) and a
 * server's default cap against a pipeliner that never reads;
 * writes that the kernel cannot take at once: drain keeps the queue
 * bounded against a slow reader, writev (more iovecs than one system call
 * takes; empty NULL pieces behind queued output), the queue leaves in the background while the writer waits on
 * something else, close flushes, shutdown ends only the write side; a
 * closed or resetting peer (sticky -EPIPE / -ECONNRESET, no SIGPIPE);
 * close and abort while another task waits in read or drain (also one
 * already woken, not yet run), under ASan; cancellation and deadlines of
 * a waiting read, read_exactly, read_until and drain, with no byte lost;
 * pipes at both ends; bad arguments and calls outside a task; deferred
 * writes (defer_writes): one send per turn over SOCK_SEQPACKET, also when
 * the writer parks or ends, flush and close send at once, abort drops,
 * a send error sticks, a large write leaves at once; the nap after a
 * flush: a lone client's round trips meet few (they back off), none when
 * the workers take every CPU, requests from many connections all
 * answered, none while a timer is due within it.
 *
 * Covers: src/stream.c, src/io.c, the deferred-write flush, spin and nap
 * in src/loop.c, the nap in src/backend/epoll.c.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pthread.h>

#include "flush.h" /* weft__flush_naps */

static unsigned char pat(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 9) * 7 + 1);
}

static void fill_pat(unsigned char *p, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(from + i);
}

static void check_pat(const unsigned char *p, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(from + i))
            fail_msg("byte %zu: got %u, want %u", from + i, p[i], pat(from + i));
}

/* Two connected streams. */
static void spair(weft_stream_t **a, weft_stream_t **b, const weft_stream_opts_t *oa,
                  const weft_stream_opts_t *ob, int sndbuf)
{
    int sv[2];
    socket_pair(sv, sndbuf);
    assert_int_equal(weft_stream_open(a, sv[0], oa), 0);
    assert_int_equal(weft_stream_open(b, sv[1], ob), 0);
}

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

/* got is read after n was computed (argument order is unspecified) */
/* t waits: lets it wake (the fd became ready), run, and wait again. */
static void wait_woken(weft_task_t *t)
{
    for (int i = 0; i < 10000 && weft_task_state(t) == WEFT_TASK_WAITING; i++)
        assert_int_equal(weft_yield(), 0);
    wait_state(t, WEFT_TASK_WAITING);
}

static void check_line(ssize_t n, const char *const *got, const char *want)
{
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(*got, want, strlen(want));
}

/* ---- reading ---- */

static int basic_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_true(weft_stream_fd(s) == sv[0]);
    put(sv[1], "hello\nworld\r\nabcXYZtail");
    const char *p;
    check_line(weft_stream_read_line(s, &p), &p, "hello\n");
    check_line(weft_stream_read_until(s, "\r\n", 2, &p), &p, "world\r\n");
    char buf[100];
    size_t got = 99;
    assert_int_equal(weft_stream_read_exactly(s, buf, 3, &got), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "abc", 3);
    check_line(weft_stream_peek(s, &p), &p, "XYZtail");
    assert_int_equal(weft_stream_consume(s, 3), 0);
    assert_int_equal(weft_stream_read(s, buf, 2), 2);
    assert_memory_equal(buf, "ta", 2);
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), 2);
    assert_memory_equal(buf, "il", 2);
    assert_false(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_read(s, buf, 0), 0);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_stream_reads_lines_records_exact_counts_and_peeks(void **state)
{
    run(basic_main, NULL);
}

static int large_read_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    /* a large read with nothing buffered goes straight to the caller */
    static char big[40000];
    memset(big, 'q', sizeof big);
    assert_int_equal(write(sv[1], big, sizeof big), (ssize_t)sizeof big);
    static char in[50000];
    size_t total = 0;
    while (total < sizeof big) {
        ssize_t r = weft_stream_read(s, in + total, sizeof in - total);
        assert_true(r > 0);
        total += (size_t)r;
    }
    assert_int_equal(total, sizeof big);
    assert_memory_equal(in, big, sizeof big);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_large_read_with_nothing_buffered_goes_straight_to_the_caller(void **state)
{
    run(large_read_main, NULL);
}

static int eof_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    char buf[100];
    const char *p;
    close(sv[1]);
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), 0);
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), 0); /* sticky */
    assert_int_equal(weft_stream_fill(s), 0);
    assert_int_equal(weft_stream_read_line(s, &p), -WEFT_EINCOMPLETE);
    assert_int_equal(weft_stream_peek(s, &p), 0);
    assert_int_equal(weft_stream_close(s), 0);
    return 0;
}

static void test_end_of_stream_is_sticky_and_an_unended_line_incomplete(void **state)
{
    run(eof_main, NULL);
}

/* The separator "<END>" arrives split over chunks (also a false start
 * "<EN" right before it); the feeder sends each chunk only once the
 * reader has taken the previous one and waits again. */
typedef struct {
    int fd;
    weft_task_t *reader;
    const char **chunks;
} feed_t;

static int feeder(void *arg, void **res)
{
    feed_t *f = arg;
    wait_state(f->reader, WEFT_TASK_WAITING);
    for (const char **c = f->chunks; *c; c++) {
        put(f->fd, *c);
        if (c[1])
            wait_woken(f->reader);
    }
    return 0;
}

typedef struct {
    weft_stream_t *s;
    int n;
    char lines[4][32];
    ssize_t rc;
} until_t;

static int until_reader(void *arg, void **res)
{
    until_t *u = arg;
    for (u->n = 0; u->n < 2; u->n++) {
        const char *p;
        ssize_t r = weft_stream_read_until(u->s, "<END>", 5, &p);
        u->rc = r;
        if (r < 0)
            return (int)r;
        assert_true(r < 32);
        memcpy(u->lines[u->n], p, (size_t)r);
        u->lines[u->n][r] = 0;
    }
    return 0;
}

static int split_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_opts_t o = {.limit = 64};
    until_t u = {0};
    assert_int_equal(weft_stream_open(&u.s, sv[0], &o), 0);
    static const char *chunks[] = {"ab<E", "N<EN", "D", ">x", "y<", "E", "N", "D", "><", NULL};
    weft_task_t *r, *f;
    assert_int_equal(weft_spawn(&r, until_reader, &u, NULL), 0);
    feed_t fd = {sv[1], r, chunks};
    assert_int_equal(weft_spawn(&f, feeder, &fd, NULL), 0);
    assert_int_equal(weft_await(r, NULL), 0);
    assert_int_equal(weft_await(f, NULL), 0);
    weft_task_release(r);
    weft_task_release(f);
    assert_string_equal(u.lines[0], "ab<EN<END>");
    assert_string_equal(u.lines[1], "xy<END>");
    const char *p;
    check_line(weft_stream_peek(u.s, &p), &p, "<");
    assert_int_equal(weft_stream_close(u.s), 0);
    close(sv[1]);
    return 0;
}

static void test_read_until_finds_a_separator_split_over_chunks(void **state)
{
    run(split_main, NULL);
}

static int long_line_main(void *arg, void **res)
{
    int sv[2];
    const char *p;
    /* a line longer than the first buffer: it grows, the line comes whole */
    static char line[40001];
    memset(line, 'z', sizeof line - 2);
    line[sizeof line - 2] = '\n';
    socket_pair(sv, 0);
    weft_stream_opts_t o2 = {.limit = 65536};
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], &o2), 0);
    assert_int_equal(write(sv[1], line, sizeof line - 1), (ssize_t)sizeof line - 1);
    check_line(weft_stream_read_line(s, &p), &p, line);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_read_line_grows_the_buffer_for_a_line_longer_than_it(void **state)
{
    run(long_line_main, NULL);
}

/* End of stream in the middle of a record. */
static int incomplete_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    put(sv[1], "partial");
    shutdown(sv[1], SHUT_WR);
    const char *p;
    assert_int_equal(weft_stream_read_until(s, "--", 2, &p), -WEFT_EINCOMPLETE);
    check_line(weft_stream_peek(s, &p), &p, "partial");
    assert_false(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_read_line(s, &p), -WEFT_EINCOMPLETE);
    char buf[16] = {0};
    size_t got = 99;
    assert_int_equal(weft_stream_read_exactly(s, buf, 10, &got), -WEFT_EINCOMPLETE);
    assert_int_equal(got, 7);
    assert_memory_equal(buf, "partial", 7);
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_read_exactly(s, buf, 1, &got), -WEFT_EINCOMPLETE);
    assert_int_equal(got, 0);
    assert_int_equal(weft_stream_read_exactly(s, buf, 0, &got), 0);
    assert_int_equal(weft_stream_read_line(s, &p), -WEFT_EINCOMPLETE);
    /* the write side is still open */
    assert_int_equal(weft_stream_write(s, "ok", 2), 0);
    assert_int_equal(weft_stream_flush(s), 0);
    assert_int_equal(read(sv[1], buf, sizeof buf), 2);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_end_of_stream_mid_record_is_eincomplete_and_keeps_the_bytes(void **state)
{
    run(incomplete_main, NULL);
}

/* ---- a writer and a reader task over two streams ---- */

typedef struct {
    weft_stream_t *s;
    size_t total, chunk;
    size_t got;
    int rc;
    bool slow;      /* yield between reads */
    bool until_eof; /* then expect end of stream */
    weft_event_t *done;
} rdr_t;

static int pat_reader(void *arg, void **res)
{
    rdr_t *r = arg;
    unsigned char *buf = malloc(r->chunk);
    assert_non_null(buf);
    while (r->got < r->total) {
        size_t want = r->total - r->got < r->chunk ? r->total - r->got : r->chunk;
        ssize_t n = weft_stream_read(r->s, buf, want);
        if (n <= 0) {
            r->rc = n ? (int)n : -WEFT_EINCOMPLETE;
            break;
        }
        check_pat(buf, r->got, (size_t)n);
        r->got += (size_t)n;
        if (r->slow)
            assert_int_equal(weft_yield(), 0);
    }
    if (!r->rc && r->until_eof)
        r->rc = (int)weft_stream_read(r->s, buf, r->chunk);
    free(buf);
    if (r->done)
        weft_event_set(r->done);
    return 0;
}

/* read_exactly past the limit: buffered bytes first, then straight in. */
static int exact_main(void *arg, void **res)
{
    weft_stream_t *a, *b;
    weft_stream_opts_t o = {.limit = 1024};
    spair(&a, &b, &o, NULL, 0);
    size_t n = scaled(1 << 20, 300000);
    unsigned char *src = malloc(n), *dst = malloc(n);
    assert_non_null(src);
    assert_non_null(dst);
    fill_pat(src, 0, n);
    assert_int_equal(weft_stream_write(b, src, n), 0);
    size_t got;
    assert_int_equal(weft_stream_read_exactly(a, dst, 10, &got), 0);
    assert_int_equal(weft_stream_read_exactly(a, dst + 10, 20, &got), 0);
    assert_int_equal(got, 20);
    assert_int_equal(weft_stream_read_exactly(a, dst + 30, n - 30, &got), 0);
    assert_int_equal(got, n - 30);
    check_pat(dst, 0, n);
    assert_int_equal(weft_stream_pending(b), 0);
    free(src);
    free(dst);
    assert_int_equal(weft_stream_close(a), 0);
    assert_int_equal(weft_stream_close(b), 0);
    return 0;
}

static void test_read_exactly_past_the_limit_takes_buffered_bytes_then_the_rest(void **state)
{
    run(exact_main, NULL);
}

/* A writer that drains after every write keeps at most high_water plus one
 * write queued, however slowly the peer reads. */
static int drain_main(void *arg, void **res)
{
    weft_stream_t *w, *rs;
    weft_stream_opts_t ow = {.high_water = 16384, .low_water = 4096};
    spair(&w, &rs, &ow, NULL, 4096);
    rdr_t r = {
        .s = rs, .total = scaled(4 << 20, 200000), .chunk = 1000, .slow = true, .until_eof = true};
    weft_task_t *rt;
    assert_int_equal(weft_spawn(&rt, pat_reader, &r, NULL), 0);
    const size_t chunk = 5000;
    unsigned char *buf = malloc(chunk);
    size_t sent = 0, blocked = 0, maxpend = 0;
    while (sent < r.total) {
        size_t n = r.total - sent < chunk ? r.total - sent : chunk;
        fill_pat(buf, sent, n);
        assert_int_equal(weft_stream_write(w, buf, n), 0);
        sent += n;
        size_t pend = weft_stream_pending(w);
        assert_true(pend <= ow.high_water + chunk);
        if (pend > maxpend)
            maxpend = pend;
        if (pend > ow.high_water)
            blocked++;
        assert_int_equal(weft_stream_drain(w), 0);
        size_t after = weft_stream_pending(w);
        if (pend > ow.high_water)
            assert_true(after <= ow.low_water);
        else
            assert_int_equal(after, pend); /* returned at once, sent nothing */
    }
    free(buf);
    assert_true(blocked > 0);
    assert_true(maxpend > ow.high_water);
    assert_int_equal(weft_stream_close(w), 0);
    assert_int_equal(weft_await(rt, NULL), 0);
    weft_task_release(rt);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, r.total);
    assert_true(weft_stream_at_eof(rs));
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_drain_after_each_write_bounds_the_queue_by_high_water(void **state)
{
    run(drain_main, NULL);
}

/* writev: empty pieces, more pieces than one system call takes, and a
 * large piece that is partly queued. */
static int writev_main(void *arg, void **res)
{
    weft_stream_t *w, *rs;
    spair(&w, &rs, NULL, NULL, 4096);
    size_t big = scaled(300000, 100000);
    size_t total = 0;
    unsigned char *src = malloc(big + 200);
    fill_pat(src, 0, big + 200);
    struct iovec v[150];
    int k = 0;
    v[k++] = (struct iovec){src, 2};
    v[k++] = (struct iovec){NULL, 0};
    v[k++] = (struct iovec){src + 2, 4};
    total = 6;
    for (int i = 0; i < 100; i++, total++)
        v[k++] = (struct iovec){src + total, 1};
    v[k++] = (struct iovec){src + total, big};
    total += big;
    v[k++] = (struct iovec){src + total, 50};
    total += 50;
    assert_int_equal(weft_stream_writev(w, v, k), 0);
    assert_true(weft_stream_pending(w) > 0);
    /* queued bytes go first, then the next writev */
    assert_int_equal(weft_stream_writev(w, (struct iovec[]){{src + total, 44}}, 1), 0);
    total += 44;
    assert_int_equal(weft_stream_writev(w, v, 0), 0);
    rdr_t r = {.s = rs, .total = total, .chunk = 7000, .until_eof = true};
    weft_task_t *rt;
    assert_int_equal(weft_spawn(&rt, pat_reader, &r, NULL), 0);
    assert_int_equal(weft_stream_flush(w), 0);
    assert_int_equal(weft_stream_pending(w), 0);
    assert_int_equal(weft_stream_close(w), 0);
    assert_int_equal(weft_await(rt, NULL), 0);
    weft_task_release(rt);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, total);
    free(src);
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_writev_sends_empty_many_and_large_pieces_in_order(void **state)
{
    run(writev_main, NULL);
}

/* An empty piece ({NULL, 0}, which writev accepts) behind output the
 * kernel could not take is skipped when the rest is queued (fuzz_stream_write
 * found NULL + 0 there: undefined behaviour, caught by UBSan). */
static int writev_empty_queued_main(void *arg, void **res)
{
    weft_stream_t *w, *rs;
    spair(&w, &rs, NULL, NULL, 4096);
    size_t big = 200000, total = 0;
    unsigned char *src = malloc(big + 100);
    fill_pat(src, 0, big + 100);
    assert_int_equal(weft_stream_write(w, src, big), 0);
    total = big;
    assert_true(weft_stream_pending(w) > 0);
    struct iovec v[] = {{NULL, 0}, {src + total, 10}, {NULL, 0}, {src + total + 10, 5}, {NULL, 0}};
    assert_int_equal(weft_stream_writev(w, v, 5), 0);
    total += 15;
    rdr_t r = {.s = rs, .total = total, .chunk = 7000, .until_eof = true};
    weft_task_t *rt;
    assert_int_equal(weft_spawn(&rt, pat_reader, &r, NULL), 0);
    assert_int_equal(weft_stream_close(w), 0);
    assert_int_equal(weft_await(rt, NULL), 0);
    weft_task_release(rt);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, total);
    free(src);
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_writev_skips_empty_null_pieces_when_it_queues(void **state)
{
    run(writev_empty_queued_main, NULL);
}

/* The writer queues a lot and then only waits on an event the reader sets
 * after reading everything: the queue must leave without the writer. */
static int background_main(void *arg, void **res)
{
    weft_stream_t *w, *rs;
    spair(&w, &rs, NULL, NULL, 4096);
    size_t n = scaled(1 << 20, 200000);
    unsigned char *src = malloc(n);
    fill_pat(src, 0, n);
    weft_event_t *ev;
    assert_int_equal(weft_event_create(&ev), 0);
    rdr_t r = {.s = rs, .total = n, .chunk = 3000, .slow = true, .done = ev};
    weft_task_t *rt;
    assert_int_equal(weft_spawn(&rt, pat_reader, &r, NULL), 0);
    assert_int_equal(weft_stream_write(w, src, n), 0);
    free(src);
    assert_true(weft_stream_pending(w) > 0);
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(20)); /* only a broken flush hits this */
    assert_int_equal(weft_event_wait(ev), 0);
    weft_deadline_pop(&d);
    assert_int_equal(weft_stream_pending(w), 0);
    assert_int_equal(r.got, n);
    assert_int_equal(weft_await(rt, NULL), 0);
    weft_task_release(rt);
    weft_event_destroy(ev);
    assert_int_equal(weft_stream_close(w), 0);
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_queued_output_leaves_while_the_writer_waits_elsewhere(void **state)
{
    run(background_main, NULL);
}

static int close_flush_main(void *arg, void **res)
{
    weft_stream_t *w, *rs;
    spair(&w, &rs, NULL, NULL, 4096);
    size_t n = scaled(1 << 20, 200000);
    unsigned char *src;
    weft_task_t *rt;
    /* close flushes too: queue, close at once, the reader gets it all */
    rdr_t r = {.s = rs, .total = n, .chunk = 5000, .until_eof = true};
    assert_int_equal(weft_spawn(&rt, pat_reader, &r, NULL), 0);
    src = malloc(n);
    fill_pat(src, 0, n);
    assert_int_equal(weft_stream_write(w, src, n), 0);
    free(src);
    assert_true(weft_stream_pending(w) > 0);
    assert_int_equal(weft_stream_close(w), 0);
    assert_int_equal(weft_await(rt, NULL), 0);
    weft_task_release(rt);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, n);
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_close_flushes_queued_output_to_the_reader(void **state)
{
    run(close_flush_main, NULL);
}

/* shutdown ends the write side only. */
static int shutdown_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_int_equal(weft_stream_write(s, "bye", 3), 0);
    assert_int_equal(weft_stream_shutdown(s), 0);
    assert_int_equal(weft_stream_shutdown(s), 0);
    char buf[8];
    assert_int_equal(read(sv[1], buf, sizeof buf), 3);
    assert_int_equal(read(sv[1], buf, sizeof buf), 0); /* end of stream */
    assert_int_equal(weft_stream_write(s, "x", 1), -ESHUTDOWN);
    put(sv[1], "still\n");
    const char *p;
    check_line(weft_stream_read_line(s, &p), &p, "still\n");
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_stream_shutdown_ends_the_write_side_only(void **state)
{
    run(shutdown_main, NULL);
}

static int shutdown_pipe_main(void *arg, void **res)
{
    weft_stream_t *s;
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    assert_int_equal(weft_stream_open(&s, pp[1], NULL), 0);
    assert_int_equal(weft_stream_shutdown(s), -ENOTSOCK);
    assert_int_equal(weft_stream_close(s), 0);
    close(pp[0]);
    return 0;
}

static void test_stream_shutdown_of_a_pipe_is_enotsock(void **state)
{
    run(shutdown_pipe_main, NULL);
}

static bool is_broken(int rc)
{
    return rc == -EPIPE || rc == -ECONNRESET;
}

/* A peer that went away: sticky errors, no SIGPIPE. */
static int peer_closed_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    close(sv[1]);
    int rc = weft_stream_write(s, "x", 1);
    assert_true(is_broken(rc));
    assert_int_equal(weft_stream_write(s, "y", 1), rc);
    assert_int_equal(weft_stream_drain(s), rc);
    assert_int_equal(weft_stream_flush(s), rc);
    assert_int_equal(weft_stream_close(s), rc);
    return 0;
}

static void test_write_to_a_closed_peer_fails_sticky_without_sigpipe(void **state)
{
    run(peer_closed_main, NULL);
}

static int peer_left_main(void *arg, void **res)
{
    int rc;
    /* the peer leaves while output is queued: the flush reports it */
    weft_stream_t *a, *b;
    spair(&a, &b, NULL, NULL, 4096);
    size_t n = 300000;
    char *big = calloc(1, n);
    assert_int_equal(weft_stream_write(a, big, n), 0);
    free(big);
    assert_true(weft_stream_pending(a) > 0);
    assert_int_equal(weft_stream_abort(b), 0);
    rc = weft_stream_flush(a);
    assert_true(is_broken(rc));
    assert_int_equal(weft_stream_pending(a), 0);
    assert_int_equal(weft_stream_write(a, "z", 1), rc);
    assert_int_equal(weft_stream_close(a), rc);
    return 0;
}

static void test_flush_reports_a_peer_that_left_with_output_queued(void **state)
{
    run(peer_left_main, NULL);
}

static int peer_reset_main(void *arg, void **res)
{
    int sv[2], rc;
    weft_stream_t *s;
    /* a reset seen by a read sticks too */
    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_int_equal(weft_stream_write(s, "unread", 6), 0);
    close(sv[1]); /* with our bytes unread: a reset */
    char buf[8];
    rc = (int)weft_stream_read(s, buf, sizeof buf);
    assert_int_equal(rc, -ECONNRESET);
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), -ECONNRESET);
    const char *p;
    assert_int_equal(weft_stream_read_line(s, &p), -ECONNRESET);
    weft_stream_abort(s);
    return 0;
}

static void test_reset_seen_by_a_read_sticks(void **state)
{
    run(peer_reset_main, NULL);
}

static int pipe_reader_gone_main(void *arg, void **res)
{
    weft_stream_t *s;
    /* a pipe whose reader is gone */
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    assert_int_equal(weft_stream_open(&s, pp[1], NULL), 0);
    close(pp[0]);
    assert_int_equal(weft_stream_write(s, "x", 1), -EPIPE);
    assert_int_equal(weft_stream_close(s), -EPIPE);
    return 0;
}

static void test_write_to_a_pipe_whose_reader_is_gone_is_epipe(void **state)
{
    run(pipe_reader_gone_main, NULL);
}

/* ---- close and abort under a waiting task ---- */

typedef struct {
    weft_stream_t *s;
    ssize_t rc;
    int64_t timeout;
    char buf[64];
    size_t n, got;
    int op; /* 0 read, 1 drain, 2 read_exactly, 3 read_until */
} op_t;

static int op_task(void *arg, void **res)
{
    op_t *o = arg;
    weft_deadline_t d;
    if (o->timeout)
        weft_deadline_push(&d, o->timeout);
    const char *p;
    switch (o->op) {
    case 0:
        o->rc = weft_stream_read(o->s, o->buf, o->n ? o->n : sizeof o->buf);
        break;
    case 1:
        o->rc = weft_stream_drain(o->s);
        break;
    case 2:
        o->rc = weft_stream_read_exactly(o->s, o->buf, o->n, &o->got);
        break;
    default:
        o->rc = weft_stream_read_until(o->s, "\r\n", 2, &p);
        break;
    }
    if (o->timeout)
        weft_deadline_pop(&d);
    return 0;
}

static weft_task_t *start_op_with(op_t *o, const weft_task_opts_t *opts)
{
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, op_task, o, opts), 0);
    wait_state(t, WEFT_TASK_WAITING);
    return t;
}

static weft_task_t *start_op(op_t *o)
{
    return start_op_with(o, NULL);
}

static void finish_op(weft_task_t *t)
{
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
}

/* Fills w's kernel buffer and queue past high_water. */
static void stuff(weft_stream_t *w, size_t n)
{
    char *buf = malloc(n);
    fill_pat((unsigned char *)buf, 0, n);
    assert_int_equal(weft_stream_write(w, buf, n), 0);
    free(buf);
    assert_true(weft_stream_pending(w) > 65536);
}

static int close_waiter_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    /* close while another task waits in read */
    op_t o = {0};
    assert_int_equal(weft_stream_open(&o.s, sv[0], NULL), 0);
    weft_task_t *t = start_op(&o);
    assert_int_equal(weft_stream_close(o.s), 0);
    finish_op(t);
    assert_int_equal(o.rc, -EBADF);
    close(sv[1]);
    return 0;
}

static void test_close_wakes_a_task_waiting_in_read_with_ebadf(void **state)
{
    run(close_waiter_main, NULL);
}

static int abort_waiter_main(void *arg, void **res)
{
    int sv[2];
    /* abort while another task waits in read_until */
    socket_pair(sv, 0);
    op_t o = {.op = 3};
    assert_int_equal(weft_stream_open(&o.s, sv[0], NULL), 0);
    put(sv[1], "no end yet");
    weft_task_t *t = start_op(&o);
    assert_int_equal(weft_stream_abort(o.s), 0);
    finish_op(t);
    assert_int_equal(o.rc, -EBADF);
    close(sv[1]);
    return 0;
}

static void test_abort_wakes_a_task_waiting_in_read_until_with_ebadf(void **state)
{
    run(abort_waiter_main, NULL);
}

static int close_woken_main(void *arg, void **res)
{
    int sv[2];
    /* close while the reader was woken with data but has not run yet */
    socket_pair(sv, 0);
    op_t o = {0};
    assert_int_equal(weft_stream_open(&o.s, sv[0], NULL), 0);
    /* on this worker: elsewhere it would run as soon as it is woken */
    weft_task_t *t = start_op_with(&o, HERE);
    put(sv[1], "x");
    wait_state(t, WEFT_TASK_READY);
    assert_int_equal(weft_stream_close(o.s), 0);
    finish_op(t);
    assert_int_equal(o.rc, -EBADF);
    close(sv[1]);
    return 0;
}

static void test_close_gives_ebadf_to_a_reader_woken_but_not_yet_run(void **state)
{
    run(close_woken_main, NULL);
}

static int abort_drainer_main(void *arg, void **res)
{
    /* abort while another task waits in drain */
    weft_stream_t *peer;
    op_t o = {.op = 1};
    spair(&o.s, &peer, NULL, NULL, 4096);
    stuff(o.s, 200000);
    weft_task_t *t = start_op(&o);
    assert_int_equal(weft_stream_abort(o.s), 0);
    finish_op(t);
    assert_int_equal(o.rc, -EBADF);
    char buf[4096];
    ssize_t r;
    size_t total = 0;
    while ((r = weft_stream_read(peer, buf, sizeof buf)) > 0)
        total += (size_t)r;
    assert_int_equal(r, 0);
    assert_true(total < 200000); /* the queue was dropped */
    assert_int_equal(weft_stream_close(peer), 0);
    return 0;
}

static void test_abort_wakes_a_drainer_with_ebadf_and_drops_the_queue(void **state)
{
    run(abort_drainer_main, NULL);
}

static int close_drainer_main(void *arg, void **res)
{
    weft_stream_t *peer;
    /* close while another task waits in drain: the drainer gets -EBADF */
    op_t o = {.op = 1};
    spair(&o.s, &peer, NULL, NULL, 4096);
    stuff(o.s, 200000);
    weft_task_t *t = start_op(&o);
    int rc = weft_stream_close(o.s);
    assert_true(rc == 0 || rc == -EBUSY);
    finish_op(t);
    assert_int_equal(o.rc, -EBADF);
    assert_int_equal(weft_stream_close(peer), 0);
    return 0;
}

static void test_close_wakes_a_task_waiting_in_drain_with_ebadf(void **state)
{
    run(close_drainer_main, NULL);
}

/* ---- cancellation and deadlines: nothing consumed is lost ---- */

static int cancel_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    char buf[64];

    /* a cancelled read */
    op_t o = {.s = s};
    weft_task_t *t = start_op(&o);
    assert_int_equal(weft_cancel(t), 0);
    finish_op(t);
    assert_int_equal(o.rc, -ECANCELED);
    put(sv[1], "hello");
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);

    /* a read past its deadline (awaited at once: in a slow build the
     * 1 ms may pass before it could be seen waiting) */
    o = (op_t){.s = s, .timeout = WEFT_MSEC(1)};
    assert_int_equal(weft_spawn(&t, op_task, &o, NULL), 0);
    finish_op(t);
    assert_int_equal(o.rc, -ETIMEDOUT);
    put(sv[1], "again");
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), 5);
    assert_memory_equal(buf, "again", 5);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_cancelled_or_timed_out_read_loses_no_bytes(void **state)
{
    run(cancel_main, NULL);
}

static int cancel_exactly_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    char buf[64];
    /* read_exactly: the bytes that came are in buf and counted */
    op_t o = {.s = s, .op = 2, .n = 10};
    weft_task_t *t = start_op(&o);
    put(sv[1], "abc");
    wait_woken(t);
    assert_int_equal(weft_cancel(t), 0);
    finish_op(t);
    assert_int_equal(o.rc, -ECANCELED);
    assert_int_equal(o.got, 3);
    assert_memory_equal(o.buf, "abc", 3);
    put(sv[1], "defghij");
    size_t got;
    assert_int_equal(weft_stream_read_exactly(s, buf, 7, &got), 0);
    assert_memory_equal(buf, "defghij", 7);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_cancelled_read_exactly_keeps_the_bytes_that_came(void **state)
{
    run(cancel_exactly_main, NULL);
}

static int timeout_until_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    /* read_until: the partial record stays buffered */
    op_t o = {.s = s, .op = 3, .timeout = WEFT_MSEC(1)};
    put(sv[1], "GET /");
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, op_task, &o, NULL), 0); /* awaited at once: see cancel_main */
    finish_op(t);
    assert_int_equal(o.rc, -ETIMEDOUT);
    const char *p;
    check_line(weft_stream_peek(s, &p), &p, "GET /");
    put(sv[1], " HTTP/1.1\r\nrest");
    check_line(weft_stream_read_until(s, "\r\n", 2, &p), &p, "GET / HTTP/1.1\r\n");
    check_line(weft_stream_peek(s, &p), &p, "rest");
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_timed_out_read_until_keeps_the_partial_record(void **state)
{
    run(timeout_until_main, NULL);
}

static int cancel_drain_main(void *arg, void **res)
{
    /* a cancelled drain and a drain past its deadline lose nothing */
    weft_stream_t *w, *rs;
    spair(&w, &rs, NULL, NULL, 4096);
    size_t n = scaled(400000, 200000);
    stuff(w, n);
    op_t o = {.s = w, .op = 1};
    weft_task_t *t = start_op(&o);
    assert_int_equal(weft_cancel(t), 0);
    finish_op(t);
    assert_int_equal(o.rc, -ECANCELED);
    o = (op_t){.s = w, .op = 1, .timeout = WEFT_MSEC(1)};
    assert_int_equal(weft_spawn(&t, op_task, &o, NULL), 0); /* awaited at once: see cancel_main */
    finish_op(t);
    assert_int_equal(o.rc, -ETIMEDOUT);
    rdr_t r = {.s = rs, .total = n, .chunk = 4000, .until_eof = true};
    assert_int_equal(weft_spawn(&t, pat_reader, &r, NULL), 0);
    assert_int_equal(weft_stream_flush(w), 0);
    assert_int_equal(weft_stream_close(w), 0);
    finish_op(t);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, n);
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_cancelled_or_timed_out_drain_loses_no_queued_bytes(void **state)
{
    run(cancel_drain_main, NULL);
}

static int cancelled_close_main(void *arg, void **res)
{
    weft_stream_t *w, *rs;
    size_t n = scaled(400000, 200000);
    /* a cancelled task's close does not wait for the flush */
    spair(&w, &rs, NULL, NULL, 4096);
    stuff(w, n);
    weft_cancel(weft_current());
    assert_int_equal(weft_stream_close(w), -ECANCELED);
    assert_true(weft_uncancel() > 0);
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_close_by_a_cancelled_task_does_not_wait_for_the_flush(void **state)
{
    run(cancelled_close_main, NULL);
}

/* ---- pipes ---- */

static int pipe_writer(void *arg, void **res)
{
    rdr_t *r = arg; /* reused: s is the writer, total the size */
    size_t sent = 0;
    unsigned char buf[7777];
    while (sent < r->total) {
        size_t n = r->total - sent < sizeof buf ? r->total - sent : sizeof buf;
        fill_pat(buf, sent, n);
        assert_int_equal(weft_stream_write(r->s, buf, n), 0);
        assert_int_equal(weft_stream_drain(r->s), 0);
        sent += n;
    }
    r->rc = weft_stream_close(r->s);
    return 0;
}

static int pipes_main(void *arg, void **res)
{
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    weft_stream_t *rs, *ws;
    weft_stream_opts_t o = {.limit = 4096, .high_water = 8192};
    assert_int_equal(weft_stream_open(&rs, pp[0], &o), 0);
    assert_int_equal(weft_stream_open(&ws, pp[1], &o), 0);
    assert_true(fcntl(pp[0], F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(pp[1], F_GETFD) & FD_CLOEXEC);
    size_t n = scaled(2 << 20, 300000);
    rdr_t w = {.s = ws, .total = n};
    rdr_t r = {.s = rs, .total = n, .chunk = 999, .slow = true, .until_eof = true};
    weft_task_t *wt, *rt;
    assert_int_equal(weft_spawn(&wt, pipe_writer, &w, NULL), 0);
    assert_int_equal(weft_spawn(&rt, pat_reader, &r, NULL), 0);
    finish_op(wt);
    finish_op(rt);
    assert_int_equal(w.rc, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, n);
    assert_true(weft_stream_at_eof(rs));
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_pipe_streams_carry_bytes_in_order_under_backpressure(void **state)
{
    run(pipes_main, NULL);
}

static int pipe_lines_main(void *arg, void **res)
{
    int pp[2];
    weft_stream_t *rs, *ws;
    /* lines over a pipe */
    assert_int_equal(pipe(pp), 0);
    assert_int_equal(weft_stream_open(&rs, pp[0], NULL), 0);
    assert_int_equal(weft_stream_open(&ws, pp[1], NULL), 0);
    assert_int_equal(weft_stream_write(ws, "one\ntwo\nthr", 11), 0);
    assert_int_equal(weft_stream_close(ws), 0);
    const char *p;
    check_line(weft_stream_read_line(rs, &p), &p, "one\n");
    check_line(weft_stream_read_line(rs, &p), &p, "two\n");
    assert_int_equal(weft_stream_read_line(rs, &p), -WEFT_EINCOMPLETE);
    check_line(weft_stream_peek(rs, &p), &p, "thr");
    assert_int_equal(weft_stream_close(rs), 0);
    return 0;
}

static void test_pipe_streams_carry_lines_and_a_partial_last_one(void **state)
{
    run(pipe_lines_main, NULL);
}

/* ---- fill / peek / consume, for parsers that work in place ---- */

static int fill_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    const char *p;
    assert_int_equal(weft_stream_peek(s, &p), 0);
    put(sv[1], "GET / HT");
    assert_int_equal(weft_stream_fill(s), 8);
    put(sv[1], "TP/1.1\r\n\r\nNEXT");
    ssize_t n;
    while ((n = weft_stream_peek(s, &p)) < 4 || !memmem(p, (size_t)n, "\r\n\r\n", 4))
        assert_true(weft_stream_fill(s) > 0);
    const char *end = memmem(p, (size_t)n, "\r\n\r\n", 4);
    assert_int_equal(weft_stream_consume(s, (size_t)(end + 4 - p)), 0);
    check_line(weft_stream_peek(s, &p), &p, "NEXT");
    /* fill under a deadline */
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_MSEC(1));
    assert_int_equal(weft_stream_fill(s), -ETIMEDOUT);
    weft_deadline_pop(&d);
    check_line(weft_stream_peek(s, &p), &p, "NEXT");
    assert_int_equal(weft_stream_consume(s, 4), 0);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_fill_peek_and_consume_parse_in_place_and_fill_times_out(void **state)
{
    run(fill_main, NULL);
}

/* ---- bad arguments, and calls that would wait outside a task ---- */

typedef struct {
    weft_stream_t *s;
    ssize_t rd, fl;
} cb_t;

static void in_callback(void *arg)
{
    cb_t *c = arg;
    char b[4];
    c->rd = weft_stream_read(c->s, b, sizeof b);
    c->fl = weft_stream_flush(c->s);
}

static int args_main(void *arg, void **res)
{
    weft_stream_t *s = (weft_stream_t *)&s;
    weft_stream_opts_t bad = {.high_water = 100, .low_water = 200};
    int sv[2];
    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, -1, NULL), -EINVAL);
    assert_null(s);
    assert_int_equal(weft_stream_open(NULL, sv[1], NULL), -EINVAL);
    assert_int_equal(fcntl(sv[1], F_GETFD), -1); /* closed anyway */
    assert_int_equal(weft_stream_open(&s, sv[0], &bad), -EINVAL);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);

    const char *p;
    char b[4];
    size_t got = 5;
    assert_int_equal(weft_stream_read(NULL, b, 1), -EINVAL);
    assert_int_equal(weft_stream_read_exactly(NULL, b, 1, &got), -EINVAL);
    assert_int_equal(got, 0);
    assert_int_equal(weft_stream_read_until(NULL, "x", 1, &p), -EINVAL);
    assert_int_equal(weft_stream_read_line(NULL, &p), -EINVAL);
    assert_int_equal(weft_stream_peek(NULL, &p), -EINVAL);
    assert_int_equal(weft_stream_fill(NULL), -EINVAL);
    assert_int_equal(weft_stream_consume(NULL, 0), -EINVAL);
    assert_false(weft_stream_at_eof(NULL));
    assert_int_equal(weft_stream_write(NULL, "x", 1), -EINVAL);
    assert_int_equal(weft_stream_writev(NULL, NULL, 0), -EINVAL);
    assert_int_equal(weft_stream_drain(NULL), -EINVAL);
    assert_int_equal(weft_stream_flush(NULL), -EINVAL);
    assert_int_equal(weft_stream_shutdown(NULL), -EINVAL);
    assert_int_equal(weft_stream_close(NULL), -EINVAL);
    assert_int_equal(weft_stream_abort(NULL), -EINVAL);
    assert_int_equal(weft_stream_fd(NULL), -EINVAL);
    assert_int_equal(weft_stream_pending(NULL), 0);

    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_int_equal(weft_stream_read(s, NULL, 1), -EINVAL);
    assert_int_equal(weft_stream_read_exactly(s, NULL, 1, NULL), -EINVAL);
    assert_int_equal(weft_stream_read_until(s, NULL, 1, &p), -EINVAL);
    assert_int_equal(weft_stream_read_until(s, "x", 0, &p), -EINVAL);
    assert_int_equal(weft_stream_read_until(s, "x", 1, NULL), -EINVAL);
    assert_int_equal(weft_stream_read_until(s, "x", 65537, &p), -EINVAL);
    assert_int_equal(weft_stream_peek(s, NULL), -EINVAL);
    assert_int_equal(weft_stream_consume(s, 1), -EINVAL);
    assert_int_equal(weft_stream_write(s, NULL, 1), -EINVAL);
    assert_int_equal(weft_stream_write(s, NULL, 0), 0);
    assert_int_equal(weft_stream_writev(s, NULL, 1), -EINVAL);
    assert_int_equal(weft_stream_writev(s, (struct iovec[]){{NULL, 1}}, 1), -EINVAL);
    assert_int_equal(weft_stream_writev(s, (struct iovec[]){{b, 1}}, -1), -EINVAL);
    assert_int_equal(weft_stream_writev(s, (struct iovec[]){{b, SIZE_MAX}, {b, 2}}, 2), -EINVAL);
    assert_int_equal(weft_stream_pending(s), 0);
    assert_int_equal(weft_stream_abort(s), 0);
    close(sv[1]);
    return 0;
}

static void test_stream_bad_arguments_are_einval_and_close_the_fd_on_open(void **state)
{
    run(args_main, NULL);
}

static int callback_main(void *arg, void **res)
{
    weft_stream_t *s;
    int sv[2];
    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    /* from a callback: what would wait returns -WEFT_ENOTASK */
    cb_t c = {.s = s};
    stuff(s, 300000);
    assert_int_equal(weft_call_soon(NULL, in_callback, &c), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(c.rd, -WEFT_ENOTASK);
    assert_int_equal(c.fl, -WEFT_ENOTASK);
    assert_int_equal(weft_stream_abort(s), 0);
    close(sv[1]);
    return 0;
}

static void test_stream_read_and_flush_in_a_callback_are_enotask(void **state)
{
    run(callback_main, NULL);
}

static void test_stream_open_outside_a_loop_is_enoloop_and_closes_the_fd(void **state)
{
    /* no loop: -WEFT_ENOLOOP, and the fd is closed */
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), -WEFT_ENOLOOP);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);
    close(sv[1]);
}

/* ---- deferred writes (defer_writes) ----
 *
 * Over SOCK_SEQPACKET, where each send is one record the peer receives
 * whole, so the raw peer fd counts the system calls the stream made. */

static const weft_stream_opts_t defer_opts = {.defer_writes = true};

/* One record from the raw fd into buf (NUL-terminated): its length, or
 * -1 with nothing there (the fd is non-blocking). */
static ssize_t rec(int fd, char *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = 0;
    return n;
}

static void seqpair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
}

static int defer_writer(void *arg, void **res)
{
    weft_stream_t *s = ((void **)arg)[0];
    weft_event_t *ev = ((void **)arg)[1];
    assert_int_equal(weft_stream_write(s, "park", 4), 0);
    assert_int_equal(weft_stream_write(s, "ed", 2), 0);
    assert_int_equal(weft_event_wait(ev), 0); /* parks: the loop sends */
    assert_int_equal(weft_stream_write(s, "end", 3), 0);
    return 0; /* ends: the loop sends */
}

static int defer_main(void *arg, void **res)
{
    int sv[2];
    char buf[256];
    weft_stream_t *s;
    /* writes of one turn leave as one send, at the next turn */
    seqpair(sv);
    assert_int_equal(weft_stream_open(&s, sv[0], &defer_opts), 0);
    assert_int_equal(weft_stream_write(s, "a", 1), 0);
    assert_int_equal(weft_stream_write(s, "bc", 2), 0);
    struct iovec v[2] = {{"d", 1}, {"ef", 2}};
    assert_int_equal(weft_stream_writev(s, v, 2), 0);
    assert_int_equal(weft_stream_pending(s), 6);
    assert_int_equal(rec(sv[1], buf, sizeof buf), -1); /* nothing sent yet */
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_stream_pending(s), 0);
    assert_int_equal(rec(sv[1], buf, sizeof buf), 6);
    assert_string_equal(buf, "abcdef");
    assert_int_equal(rec(sv[1], buf, sizeof buf), -1); /* in one send */
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_deferred_writes_of_one_turn_leave_as_one_send_at_the_next(void **state)
{
    run(defer_main, NULL);
}

static int defer_park_main(void *arg, void **res)
{
    int sv[2];
    char buf[256];
    weft_stream_t *s;
    seqpair(sv);
    assert_int_equal(weft_stream_open(&s, sv[0], &defer_opts), 0);
    /* the writer parks, then ends: its writes leave all the same */
    weft_event_t *ev;
    assert_int_equal(weft_event_create(&ev), 0);
    void *wa[2] = {s, ev};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, defer_writer, wa, HERE), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(rec(sv[1], buf, sizeof buf), 6);
    assert_string_equal(buf, "parked");
    weft_event_set(ev);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    weft_event_destroy(ev);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(rec(sv[1], buf, sizeof buf), 3);
    assert_string_equal(buf, "end");
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_deferred_writes_leave_when_their_task_parks_or_ends(void **state)
{
    run(defer_park_main, NULL);
}

static int defer_flush_main(void *arg, void **res)
{
    int sv[2];
    char buf[256];
    weft_stream_t *s;
    seqpair(sv);
    assert_int_equal(weft_stream_open(&s, sv[0], &defer_opts), 0);
    /* flush sends at once, without a turn */
    assert_int_equal(weft_stream_write(s, "now", 3), 0);
    assert_int_equal(weft_stream_flush(s), 0);
    assert_int_equal(rec(sv[1], buf, sizeof buf), 3);
    assert_string_equal(buf, "now");
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_flush_sends_deferred_writes_without_a_turn(void **state)
{
    run(defer_flush_main, NULL);
}

static int defer_close_main(void *arg, void **res)
{
    int sv[2];
    char buf[256];
    weft_stream_t *s;
    seqpair(sv);
    assert_int_equal(weft_stream_open(&s, sv[0], &defer_opts), 0);
    /* close right after a write delivers it, then the end */
    assert_int_equal(weft_stream_write(s, "last", 4), 0);
    assert_int_equal(weft_stream_close(s), 0);
    assert_int_equal(rec(sv[1], buf, sizeof buf), 4);
    assert_string_equal(buf, "last");
    assert_int_equal(rec(sv[1], buf, sizeof buf), 0);
    close(sv[1]);
    return 0;
}

static void test_close_right_after_a_deferred_write_delivers_it_then_the_end(void **state)
{
    run(defer_close_main, NULL);
}

static int defer_abort_main(void *arg, void **res)
{
    int sv[2];
    char buf[256];
    weft_stream_t *s;
    /* abort drops what is held; nothing is sent later (the loop's list
     * forgets the stream: under ASan a stale link would be a
     * use-after-free at the next turn) */
    seqpair(sv);
    assert_int_equal(weft_stream_open(&s, sv[0], &defer_opts), 0);
    assert_int_equal(weft_stream_write(s, "gone", 4), 0);
    assert_int_equal(weft_stream_abort(s), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(rec(sv[1], buf, sizeof buf), 0); /* the end only */
    close(sv[1]);
    return 0;
}

static void test_abort_drops_deferred_writes_and_nothing_is_sent_later(void **state)
{
    run(defer_abort_main, NULL);
}

static int defer_list_main(void *arg, void **res)
{
    char buf[256];
    /* several streams held at once; ones leaving the list from its tail
     * and its middle do not break it for the others */
    {
        int p[4][2];
        weft_stream_t *m[4];
        for (int i = 0; i < 4; i++) {
            seqpair(p[i]);
            assert_int_equal(weft_stream_open(&m[i], p[i][0], &defer_opts), 0);
        }
        for (int i = 0; i < 3; i++)
            assert_int_equal(weft_stream_write(m[i], &"abc"[i], 1), 0);
        assert_int_equal(weft_stream_abort(m[2]), 0); /* the tail */
        assert_int_equal(weft_stream_write(m[3], "d", 1), 0);
        assert_int_equal(weft_stream_abort(m[1]), 0);         /* the middle */
        assert_int_equal(weft_stream_write(m[0], "A", 1), 0); /* linked already */
        assert_int_equal(weft_yield(), 0);
        assert_int_equal(rec(p[0][1], buf, sizeof buf), 2);
        assert_string_equal(buf, "aA");
        assert_int_equal(rec(p[3][1], buf, sizeof buf), 1);
        assert_string_equal(buf, "d");
        assert_int_equal(rec(p[1][1], buf, sizeof buf), 0);
        assert_int_equal(rec(p[2][1], buf, sizeof buf), 0);
        assert_int_equal(weft_stream_close(m[0]), 0);
        assert_int_equal(weft_stream_close(m[3]), 0);
        for (int i = 0; i < 4; i++)
            close(p[i][1]);
    }
    return 0;
}

static void test_deferred_streams_leaving_the_list_keep_the_others_on_it(void **state)
{
    run(defer_list_main, NULL);
}

static int defer_error_main(void *arg, void **res)
{
    int sv[2];
    weft_stream_t *s;
    /* a send error at the flush sticks for the next call */
    seqpair(sv);
    assert_int_equal(weft_stream_open(&s, sv[0], &defer_opts), 0);
    close(sv[1]);
    assert_int_equal(weft_stream_write(s, "lost", 4), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_stream_write(s, "x", 1), -EPIPE);
    assert_int_equal(weft_stream_close(s), -EPIPE);
    return 0;
}

static void test_deferred_send_error_sticks_for_the_next_call(void **state)
{
    run(defer_error_main, NULL);
}

static int defer_big_main(void *arg, void **res)
{
    /* a write that would hold more than 32 KiB goes out at once */
    weft_stream_t *a, *b;
    spair(&a, &b, &defer_opts, NULL, 0);
    size_t n = 40000;
    unsigned char *src = malloc(n), *dst = malloc(n);
    fill_pat(src, 0, n);
    assert_int_equal(weft_stream_write(a, src, 100), 0);
    assert_int_equal(weft_stream_pending(a), 100);
    assert_int_equal(weft_stream_write(a, src + 100, n - 100), 0);
    assert_true(weft_stream_pending(a) < n);
    assert_int_equal(weft_stream_read_exactly(b, dst, n, NULL), 0);
    check_pat(dst, 0, n);
    free(src);
    free(dst);
    assert_int_equal(weft_stream_close(a), 0);
    assert_int_equal(weft_stream_close(b), 0);
    return 0;
}

static void test_deferred_write_holding_over_32_kib_goes_out_at_once(void **state)
{
    run(defer_big_main, NULL);
}

/* ---- the nap after a flush (loop.c, spin_poll) ----
 *
 * A defer_writes echo in the loop; a thread plays the clients over plain
 * blocking fds. */

#define NAP_CONNS 16

typedef struct napclient {
    int fds[NAP_CONNS];
    int nconn, rounds, gap_us;
    int bad; /* answers that differed from their request */
} napclient_t;

static void *nap_client(void *arg)
{
    napclient_t *c = arg;
    char want[32], got[32];
    for (int r = 0; r < c->rounds; r++) {
        for (int i = 0; i < c->nconn; i++) {
            int n = snprintf(want, sizeof want, "%d.%d\n", i, r);
            if (write(c->fds[i], want, (size_t)n) != n)
                c->bad++;
        }
        for (int i = 0; i < c->nconn; i++) {
            int n = snprintf(want, sizeof want, "%d.%d\n", i, r), have = 0;
            while (have < n) {
                ssize_t k = read(c->fds[i], got + have, (size_t)(n - have));
                if (k <= 0)
                    break;
                have += (int)k;
            }
            if (have != n || memcmp(got, want, (size_t)n) != 0)
                c->bad++;
        }
        if (c->gap_us)
            usleep((useconds_t)c->gap_us);
    }
    for (int i = 0; i < c->nconn; i++)
        shutdown(c->fds[i], SHUT_WR);
    return NULL;
}

static int nap_echo(void *arg, void **res)
{
    weft_stream_t *s = arg;
    const char *line;
    ssize_t n;
    while ((n = weft_stream_read_line(s, &line)) > 0)
        assert_int_equal(weft_stream_write(s, line, (size_t)n), 0);
    assert_int_equal(n, -WEFT_EINCOMPLETE);
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_close(s), 0);
    return 0;
}

/* Serves nconn connections to a client thread until it is done; returns
 * the naps the loop took meanwhile. */
static uint64_t nap_serve(int nconn, int rounds, int gap_us)
{
    napclient_t c = {.nconn = nconn, .rounds = rounds, .gap_us = gap_us};
    weft_task_t *t[NAP_CONNS];
    uint64_t naps = weft__flush_naps(weft__loop());
    for (int i = 0; i < nconn; i++) {
        int sv[2];
        socket_pair(sv, 0);
        weft_stream_t *s;
        assert_int_equal(weft_stream_open(&s, sv[0], &defer_opts), 0);
        assert_int_equal(weft_spawn(&t[i], nap_echo, s, NULL), 0);
        c.fds[i] = sv[1];
    }
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, nap_client, &c), 0);
    for (int i = 0; i < nconn; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    pthread_join(th, NULL);
    for (int i = 0; i < nconn; i++)
        close(c.fds[i]);
    assert_int_equal(c.bad, 0);
    return weft__flush_naps(weft__loop()) - naps;
}

static int nap_ticker(void *arg, void **res)
{
    while (!*(volatile bool *)arg)
        assert_int_equal(weft_sleep(WEFT_USEC(20)), 0);
    return 0;
}

static int nap_main(void *arg, void **res)
{
    /* A lone client's round trips, 5 ms apart: each first spin finds
     * nothing, the naps gather nothing and back off with the spins (naps
     * at round trips 1, 6 and 37 of 40: at most 6, whatever the timing). */
    weft__loop_t *L = weft__loop();
    assert_int_equal(L->spare_cpu, weft_worker_count() < sysconf(_SC_NPROCESSORS_ONLN));
    uint64_t naps = nap_serve(1, 40, 5000);
    if (L->spare_cpu) {
        assert_true(naps >= 1);
        assert_true(naps <= 6);
    } else {
        assert_int_equal(naps, 0); /* every CPU has a worker: no spin, no nap */
    }

    /* Many connections whose requests come together: every answer right,
     * whether or not a nap gathered them. */
    nap_serve(NAP_CONNS, (int)scaled(300, 30), 0);

    /* A timer due within the nap forbids it: none while a task sleeps
     * 20 us at a time (a precise timer is never late by a nap). */
    bool stop = false;
    weft_task_t *tick;
    assert_int_equal(weft_spawn(&tick, nap_ticker, &stop, NULL), 0);
    assert_int_equal(nap_serve(1, 20, 5000), 0);
    stop = true;
    assert_int_equal(weft_await(tick, NULL), 0);
    weft_task_release(tick);
    return 0;
}

static void test_flush_nap_backs_off_answers_every_request_and_yields_to_timers(void **state)
{
    run(nap_main, NULL);
}

/* ---- issue 21: over-long lines, at_eof, absurd counts, set_error, pause, is_closing ---- */

/* A line over the limit is dropped through its separator, however the
 * separator comes, and the next line follows (asyncio's readline). */
static int overlong_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_opts_t o = {.limit = 16};
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], &o), 0);
    assert_int_equal(weft_stream_overrun_consumed(s), 0);
    const char *p;
    /* the whole line and the next one are there at once */
    put(sv[1], "0123456789abcdefghij\nnext\n");
    assert_int_equal(weft_stream_read_line(s, &p), -EMSGSIZE);
    assert_int_equal(weft_stream_overrun_consumed(s), 21);
    check_line(weft_stream_read_line(s, &p), &p, "next\n");
    assert_int_equal(weft_stream_overrun_consumed(s), 21); /* until the next overrun */
    /* more of the line than the buffer holds: read on and dropped */
    put(sv[1], "0123456789abcdefghijklmnopqrstuvwxyz");
    put(sv[1], "0123456789abcdefghijklmnopqrstuvwxyz");
    put(sv[1], "0123\nafter\n");
    assert_int_equal(weft_stream_read_line(s, &p), -EMSGSIZE);
    assert_int_equal(weft_stream_overrun_consumed(s), 36 + 36 + 5);
    check_line(weft_stream_read_line(s, &p), &p, "after\n");
    /* a separator of several bytes, split where the buffer is dropped */
    put(sv[1], "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx<EN");
    put(sv[1], "D>tail<END>");
    assert_int_equal(weft_stream_read_until(s, "<END>", 5, &p), -EMSGSIZE);
    assert_int_equal(weft_stream_overrun_consumed(s), 40 + 5);
    check_line(weft_stream_read_until(s, "<END>", 5, &p), &p, "tail<END>");
    /* fill still refuses to grow the buffer past the limit */
    put(sv[1], "0123456789abcdefghij");
    assert_int_equal(weft_stream_read_exactly(s, (char[4]){0}, 1, NULL), 0);
    while (weft_stream_peek(s, &p) < 16)
        assert_true(weft_stream_fill(s) > 0);
    assert_int_equal(weft_stream_fill(s), -EMSGSIZE);
    assert_int_equal(weft_stream_read_until(s, "01234567890123456", 17, &p), -EINVAL);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_line_over_the_limit_is_dropped_through_its_separator(void **state)
{
    run(overlong_main, NULL);
}

/* The over-long line arrives in pieces, each only once the reader waits
 * again: the call returns only when the separator came. */
static int overlong_pieces_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_opts_t o = {.limit = 64};
    until_t u = {0};
    assert_int_equal(weft_stream_open(&u.s, sv[0], &o), 0);
    static char big[1000];
    memset(big, 'y', sizeof big - 1);
    static const char *chunks[] = {big, big, big, "y<END>ok<END>", NULL};
    weft_task_t *r, *f;
    assert_int_equal(weft_spawn(&r, until_reader, &u, NULL), 0);
    feed_t fd = {sv[1], r, chunks};
    assert_int_equal(weft_spawn(&f, feeder, &fd, NULL), 0);
    assert_int_equal(weft_await(f, NULL), 0);
    assert_int_equal(weft_await(r, NULL), -EMSGSIZE);
    assert_int_equal(u.n, 0);
    assert_int_equal(weft_stream_overrun_consumed(u.s), 3 * 999 + 6);
    const char *p;
    check_line(weft_stream_read_until(u.s, "<END>", 5, &p), &p, "ok<END>");
    weft_task_release(r);
    weft_task_release(f);
    assert_int_equal(weft_stream_close(u.s), 0);
    close(sv[1]);
    return 0;
}

static void test_line_over_the_limit_arriving_in_pieces_is_dropped_whole(void **state)
{
    run(overlong_pieces_main, NULL);
}

typedef struct {
    weft_stream_t *s;
    ssize_t rc;
    char line[64];
} line_t;

static int line_reader(void *arg, void **res)
{
    line_t *l = arg;
    const char *p;
    l->rc = weft_stream_read_line(l->s, &p);
    if (l->rc > 0 && (size_t)l->rc < sizeof l->line)
        memcpy(l->line, p, (size_t)l->rc);
    return 0;
}

/* The limit counts the line without its separator. */
static int limit_sep_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_opts_t o = {.limit = 7};
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], &o), 0);
    const char *p;
    put(sv[1], "1234567\n");
    check_line(weft_stream_read_line(s, &p), &p, "1234567\n");
    put(sv[1], "abcdefg\r\n");
    check_line(weft_stream_read_until(s, "\r\n", 2, &p), &p, "abcdefg\r\n");
    put(sv[1], "12345678\nok\n");
    assert_int_equal(weft_stream_read_line(s, &p), -EMSGSIZE);
    assert_int_equal(weft_stream_overrun_consumed(s), 9);
    check_line(weft_stream_read_line(s, &p), &p, "ok\n");
    /* limit bytes first, the separator after the reader waits again */
    line_t l = {.s = s};
    weft_task_t *t;
    put(sv[1], "7654321");
    assert_int_equal(weft_spawn(&t, line_reader, &l, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    put(sv[1], "\n");
    await_release(t);
    assert_int_equal(l.rc, 8);
    assert_memory_equal(l.line, "7654321\n", 8);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_line_of_limit_bytes_plus_its_separator_fits(void **state)
{
    run(limit_sep_main, NULL);
}

/* The over-long line's separator has not come when the deadline passes,
 * or the stream ends first: -EMSGSIZE all the same; the next read_line
 * drops the rest of the line before it reads the next one. */
static int overlong_cut_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_opts_t o = {.limit = 8};
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], &o), 0);
    const char *p;
    put(sv[1], "xxxxxxxxxxxxxxxxxxxx");
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(20)), 0);
    assert_int_equal(weft_stream_read_line(s, &p), -EMSGSIZE);
    assert_int_equal(weft_stream_read_line(s, &p), -ETIMEDOUT); /* the deadline stays */
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(weft_stream_overrun_consumed(s), 20);
    put(sv[1], "yyyyyyyyyyyy\nnext\n");
    check_line(weft_stream_read_line(s, &p), &p, "next\n");
    assert_int_equal(weft_stream_overrun_consumed(s), 33);
    /* the stream ends inside an over-long line */
    put(sv[1], "zzzzzzzzzzzzzzzzzzzzzz");
    shutdown(sv[1], SHUT_WR);
    assert_int_equal(weft_stream_read_line(s, &p), -EMSGSIZE);
    assert_int_equal(weft_stream_overrun_consumed(s), 22);
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_read_line(s, &p), -WEFT_EINCOMPLETE);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_line_over_the_limit_cut_by_a_deadline_or_the_end_is_still_emsgsize(void **state)
{
    run(overlong_cut_main, NULL);
}

/* at_eof once the last line has been read, when the end came with it or
 * after it, before any read met the end. */
static int eof_after_lines_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    const char *p;
    put(sv[1], "a\nb\n");
    shutdown(sv[1], SHUT_WR);
    check_line(weft_stream_read_line(s, &p), &p, "a\n");
    assert_false(weft_stream_at_eof(s));
    check_line(weft_stream_read_line(s, &p), &p, "b\n");
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);

    /* the end comes after the last line was read; bytes that came
     * instead stay buffered */
    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    put(sv[1], "c\n");
    check_line(weft_stream_read_line(s, &p), &p, "c\n");
    assert_false(weft_stream_at_eof(s));
    put(sv[1], "d\n");
    assert_false(weft_stream_at_eof(s));
    check_line(weft_stream_read_line(s, &p), &p, "d\n");
    close(sv[1]);
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_close(s), 0);

    /* a pipe */
    int pf[2];
    assert_int_equal(pipe(pf), 0);
    assert_int_equal(weft_stream_open(&s, pf[0], NULL), 0);
    put(pf[1], "e\n");
    close(pf[1]);
    check_line(weft_stream_read_line(s, &p), &p, "e\n");
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_close(s), 0);
    return 0;
}

static void test_at_eof_is_true_after_the_last_line_when_the_end_has_come(void **state)
{
    run(eof_after_lines_main, NULL);
}

/* A count no buffer can hold is -EINVAL, and nothing is read. */
static int absurd_count_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    put(sv[1], "abc");
    char buf[8];
    size_t got = 99;
    assert_int_equal(weft_stream_read_exactly(s, buf, SIZE_MAX, &got), -EINVAL);
    assert_int_equal(got, 0);
    assert_int_equal(weft_stream_read_exactly(s, buf, (size_t)SSIZE_MAX + 1, &got), -EINVAL);
    assert_int_equal(weft_stream_read(s, buf, SIZE_MAX), -EINVAL);
    /* one that fits ssize_t but runs past the end of memory */
    assert_int_equal(weft_stream_read_exactly(s, (void *)(UINTPTR_MAX - 16), 1000, &got), -EINVAL);
    assert_int_equal(weft_stream_read_exactly(s, buf, 3, &got), 0);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_read_exactly_of_a_count_no_buffer_holds_is_einval(void **state)
{
    run(absurd_count_main, NULL);
}

/* set_error: a waiting reader wakes with the error; every later read
 * returns it, before buffered bytes; writing goes on. */
static int set_error_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    line_t l = {.s = s};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, line_reader, &l, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(weft_stream_set_error(s, -EPROTO), 0);
    await_release(t);
    assert_int_equal(l.rc, -EPROTO);
    put(sv[1], "buffered\n");
    const char *p;
    char buf[16];
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), -EPROTO);
    assert_int_equal(weft_stream_read_line(s, &p), -EPROTO);
    assert_int_equal(weft_stream_read_exactly(s, buf, 2, NULL), -EPROTO);
    assert_int_equal(weft_stream_peek(s, &p), -EPROTO);
    assert_int_equal(weft_stream_fill(s), -EPROTO);
    assert_int_equal(weft_stream_set_error(s, -WEFT_EINCOMPLETE), 0); /* replaced */
    assert_int_equal(weft_stream_read(s, buf, sizeof buf), -WEFT_EINCOMPLETE);
    assert_int_equal(weft_stream_write(s, "w", 1), 0);
    assert_int_equal(weft_stream_flush(s), 0);
    assert_int_equal(read(sv[1], buf, sizeof buf), 1);
    assert_false(weft_stream_is_closing(s));
    assert_int_equal(weft_stream_set_error(s, 0), -EINVAL);
    assert_int_equal(weft_stream_set_error(s, 5), -EINVAL);
    assert_int_equal(weft_stream_set_error(NULL, -EIO), -EINVAL);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_set_error_wakes_the_reader_and_every_later_read_returns_it(void **state)
{
    run(set_error_main, NULL);
}

/* pause_reading: a read that needs bytes waits, though they are there,
 * until resume_reading (or set_error, or close); buffered bytes still
 * come. */
static int pause_main(void *arg, void **res)
{
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    const char *p;
    put(sv[1], "one\ntwo\n");
    check_line(weft_stream_read_line(s, &p), &p, "one\n");
    assert_int_equal(weft_stream_pause_reading(s), 0);
    assert_int_equal(weft_stream_pause_reading(s), 0);
    check_line(weft_stream_read_line(s, &p), &p, "two\n"); /* buffered */
    put(sv[1], "three\n");
    line_t l = {.s = s};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, line_reader, &l, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    settle();
    assert_int_equal(weft_task_state(t), WEFT_TASK_WAITING);
    assert_int_equal(weft_stream_peek(s, &p), 0); /* nothing was read */
    close(sv[1]);
    assert_false(weft_stream_at_eof(s)); /* nor is the end looked for */
    assert_int_equal(weft_stream_resume_reading(s), 0);
    await_release(t);
    assert_int_equal(l.rc, 6);
    assert_memory_equal(l.line, "three\n", 6);
    assert_int_equal(weft_stream_resume_reading(s), 0);
    assert_true(weft_stream_at_eof(s));
    assert_int_equal(weft_stream_close(s), 0);

    /* set_error and close wake a reader waiting for the resume */
    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_int_equal(weft_stream_pause_reading(s), 0);
    l = (line_t){.s = s};
    assert_int_equal(weft_spawn(&t, line_reader, &l, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(weft_stream_set_error(s, -ECONNABORTED), 0);
    await_release(t);
    assert_int_equal(l.rc, -ECONNABORTED);
    assert_int_equal(weft_stream_abort(s), 0);
    close(sv[1]);
    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_int_equal(weft_stream_pause_reading(s), 0);
    l = (line_t){.s = s};
    assert_int_equal(weft_spawn(&t, line_reader, &l, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(weft_stream_close(s), 0);
    await_release(t);
    assert_int_equal(l.rc, -EBADF);
    close(sv[1]);
    /* and a cancelled one leaves */
    socket_pair(sv, 0);
    assert_int_equal(weft_stream_open(&s, sv[0], NULL), 0);
    assert_int_equal(weft_stream_pause_reading(s), 0);
    l = (line_t){.s = s};
    assert_int_equal(weft_spawn(&t, line_reader, &l, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_int_equal(weft_cancel(t), 0);
    await_release(t);
    assert_int_equal(l.rc, -ECANCELED);
    assert_int_equal(weft_stream_pause_reading(NULL), -EINVAL);
    assert_int_equal(weft_stream_resume_reading(NULL), -EINVAL);
    assert_int_equal(weft_stream_close(s), 0);
    close(sv[1]);
    return 0;
}

static void test_paused_stream_reads_nothing_until_resumed(void **state)
{
    run(pause_main, NULL);
}

static int close_task(void *arg, void **res)
{
    weft_stream_close(arg);
    return 0;
}

/* is_closing: while close flushes in another task, and once the
 * connection is lost; not after end of stream or shutdown. */
static int closing_main(void *arg, void **res)
{
    weft_stream_t *a, *b;
    spair(&a, &b, NULL, NULL, 4096);
    assert_false(weft_stream_is_closing(a));
    assert_false(weft_stream_is_closing(NULL));
    assert_int_equal(weft_stream_shutdown(b), 0);
    char c;
    assert_int_equal(weft_stream_read(a, &c, 1), 0);
    assert_false(weft_stream_is_closing(a));
    assert_false(weft_stream_is_closing(b));
    /* a close that waits for a peer that does not read */
    stuff(a, 300000);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, close_task, a, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_true(weft_stream_is_closing(a));
    assert_int_equal(weft_stream_abort(b), 0); /* the close then fails, and ends */
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    /* the connection lost */
    spair(&a, &b, NULL, NULL, 0);
    assert_int_equal(weft_stream_abort(b), 0);
    while (weft_stream_write(a, "x", 1) == 0 && weft_stream_flush(a) == 0)
        ;
    assert_true(weft_stream_is_closing(a));
    assert_int_equal(weft_stream_abort(a), 0);
    return 0;
}

static void test_is_closing_while_close_flushes_and_once_the_connection_is_lost(void **state)
{
    run(closing_main, NULL);
}

/* ---- issue 22: the cap on queued output ---- */

/* max_pending: a write that finds the cap reached is -ENOBUFS and queues
 * nothing; drain waits for room; every byte taken arrives, in order. */
static int cap_main(void *arg, void **res)
{
    weft_stream_t *w, *rs;
    weft_stream_opts_t ow = {.max_pending = 20000};
    spair(&w, &rs, &ow, NULL, 4096);
    static unsigned char buf[3000];
    size_t sent = 0;
    int rc;
    for (;;) {
        fill_pat(buf, sent, sizeof buf);
        if ((rc = weft_stream_write(w, buf, sizeof buf)) != 0)
            break;
        sent += sizeof buf;
        assert_true(weft_stream_pending(w) < 20000 + sizeof buf);
    }
    assert_int_equal(rc, -ENOBUFS);
    size_t pend = weft_stream_pending(w);
    assert_true(pend >= 20000);
    assert_int_equal(weft_stream_writev(w, (struct iovec[]){{buf, 1}}, 1), -ENOBUFS);
    assert_int_equal(weft_stream_pending(w), pend); /* nothing queued */
    rdr_t r = {.s = rs, .total = sent + sizeof buf, .chunk = 1000, .until_eof = true};
    weft_task_t *rt;
    assert_int_equal(weft_spawn(&rt, pat_reader, &r, NULL), 0);
    assert_int_equal(weft_stream_drain(w), 0); /* high_water: 10000, low_water: 2500 */
    assert_true(weft_stream_pending(w) <= 2500);
    assert_int_equal(weft_stream_write(w, buf, sizeof buf), 0);
    assert_int_equal(weft_stream_close(w), 0);
    await_release(rt);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, r.total);
    assert_int_equal(weft_stream_close(rs), 0);

    /* high_water must be below the cap */
    int sv[2];
    socket_pair(sv, 0);
    weft_stream_opts_t bad = {.max_pending = 1000, .high_water = 1000};
    assert_int_equal(weft_stream_open(&w, sv[0], &bad), -EINVAL);
    close(sv[1]);
    return 0;
}

static void test_write_finding_the_cap_reached_is_enobufs_and_queues_nothing(void **state)
{
    run(cap_main, NULL);
}

/* The hostile client: it pipelines 400 requests for a 512 KiB reply and
 * never reads. A handler written without drain meets the server's
 * default cap: its queued output stays within the cap plus one reply,
 * and its write fails with -ENOBUFS, instead of queueing 200 MiB. */
#define PIPE_REPLY (512 * 1024)

typedef struct {
    size_t max_pending;
    int rc, replies;
    bool done;
} piped_t;

static int greedy_handler(weft_stream_t *s, void *arg)
{
    piped_t *st = arg;
    static char reply[PIPE_REPLY];
    const char *line;
    int snd = 65536;
    setsockopt(weft_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
    while (weft_stream_read_line(s, &line) > 0) {
        st->rc = weft_stream_write(s, reply, sizeof reply); /* no drain: the obvious mistake */
        size_t p = weft_stream_pending(s);
        if (p > st->max_pending)
            st->max_pending = p;
        if (st->rc < 0)
            break;
        st->replies++;
    }
    st->done = true;
    return 0;
}

static int pipeliner_main(void *arg, void **res)
{
    piped_t st = {0};
    weft_listener_t *l;
    weft_server_t *srv;
    weft_addr_t la;
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    assert_int_equal(weft_listener_addr(l, &la), 0);
    assert_int_equal(weft_server_start(&srv, l, greedy_handler, &st, NULL), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    int rcv = 65536;
    setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    assert_int_equal(connect(c, (struct sockaddr *)&la.ss, la.len), 0);
    static char reqs[400 * 8];
    for (int i = 0; i < 400; i++)
        memcpy(reqs + 8 * i, "GET key\n", 8);
    assert_int_equal(send(c, reqs, sizeof reqs, 0), (ssize_t)sizeof reqs);
    for (int i = 0; i < 10000 && !st.done; i++)
        weft_sleep(WEFT_MSEC(1));
    assert_true(st.done);
    assert_int_equal(st.rc, -ENOBUFS);
    assert_true(st.replies < 400);
    assert_true(st.max_pending >= WEFT_SERVER_MAX_PENDING);
    assert_true(st.max_pending < WEFT_SERVER_MAX_PENDING + PIPE_REPLY);
    close(c);
    assert_int_equal(weft_server_close(srv, WEFT_SEC(1)), 0);
    return 0;
}

static void test_server_caps_the_output_queued_for_a_pipeliner_that_never_reads(void **state)
{
    run(pipeliner_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_reads_lines_records_exact_counts_and_peeks),
        cmocka_unit_test(test_large_read_with_nothing_buffered_goes_straight_to_the_caller),
        cmocka_unit_test(test_end_of_stream_is_sticky_and_an_unended_line_incomplete),
        cmocka_unit_test(test_read_until_finds_a_separator_split_over_chunks),
        cmocka_unit_test(test_read_line_grows_the_buffer_for_a_line_longer_than_it),
        cmocka_unit_test(test_line_over_the_limit_is_dropped_through_its_separator),
        cmocka_unit_test(test_line_over_the_limit_arriving_in_pieces_is_dropped_whole),
        cmocka_unit_test(test_line_of_limit_bytes_plus_its_separator_fits),
        cmocka_unit_test(test_line_over_the_limit_cut_by_a_deadline_or_the_end_is_still_emsgsize),
        cmocka_unit_test(test_at_eof_is_true_after_the_last_line_when_the_end_has_come),
        cmocka_unit_test(test_read_exactly_of_a_count_no_buffer_holds_is_einval),
        cmocka_unit_test(test_set_error_wakes_the_reader_and_every_later_read_returns_it),
        cmocka_unit_test(test_paused_stream_reads_nothing_until_resumed),
        cmocka_unit_test(test_is_closing_while_close_flushes_and_once_the_connection_is_lost),
        cmocka_unit_test(test_write_finding_the_cap_reached_is_enobufs_and_queues_nothing),
        cmocka_unit_test(test_server_caps_the_output_queued_for_a_pipeliner_that_never_reads),
        cmocka_unit_test(test_end_of_stream_mid_record_is_eincomplete_and_keeps_the_bytes),
        cmocka_unit_test(test_read_exactly_past_the_limit_takes_buffered_bytes_then_the_rest),
        cmocka_unit_test(test_drain_after_each_write_bounds_the_queue_by_high_water),
        cmocka_unit_test(test_writev_sends_empty_many_and_large_pieces_in_order),
        cmocka_unit_test(test_writev_skips_empty_null_pieces_when_it_queues),
        cmocka_unit_test(test_queued_output_leaves_while_the_writer_waits_elsewhere),
        cmocka_unit_test(test_close_flushes_queued_output_to_the_reader),
        cmocka_unit_test(test_stream_shutdown_ends_the_write_side_only),
        cmocka_unit_test(test_stream_shutdown_of_a_pipe_is_enotsock),
        cmocka_unit_test(test_write_to_a_closed_peer_fails_sticky_without_sigpipe),
        cmocka_unit_test(test_flush_reports_a_peer_that_left_with_output_queued),
        cmocka_unit_test(test_reset_seen_by_a_read_sticks),
        cmocka_unit_test(test_write_to_a_pipe_whose_reader_is_gone_is_epipe),
        cmocka_unit_test(test_close_wakes_a_task_waiting_in_read_with_ebadf),
        cmocka_unit_test(test_abort_wakes_a_task_waiting_in_read_until_with_ebadf),
        cmocka_unit_test(test_close_gives_ebadf_to_a_reader_woken_but_not_yet_run),
        cmocka_unit_test(test_abort_wakes_a_drainer_with_ebadf_and_drops_the_queue),
        cmocka_unit_test(test_close_wakes_a_task_waiting_in_drain_with_ebadf),
        cmocka_unit_test(test_cancelled_or_timed_out_read_loses_no_bytes),
        cmocka_unit_test(test_cancelled_read_exactly_keeps_the_bytes_that_came),
        cmocka_unit_test(test_timed_out_read_until_keeps_the_partial_record),
        cmocka_unit_test(test_cancelled_or_timed_out_drain_loses_no_queued_bytes),
        cmocka_unit_test(test_close_by_a_cancelled_task_does_not_wait_for_the_flush),
        cmocka_unit_test(test_pipe_streams_carry_bytes_in_order_under_backpressure),
        cmocka_unit_test(test_pipe_streams_carry_lines_and_a_partial_last_one),
        cmocka_unit_test(test_fill_peek_and_consume_parse_in_place_and_fill_times_out),
        cmocka_unit_test(test_stream_bad_arguments_are_einval_and_close_the_fd_on_open),
        cmocka_unit_test(test_stream_read_and_flush_in_a_callback_are_enotask),
        cmocka_unit_test(test_stream_open_outside_a_loop_is_enoloop_and_closes_the_fd),
        cmocka_unit_test(test_deferred_writes_of_one_turn_leave_as_one_send_at_the_next),
        cmocka_unit_test(test_deferred_writes_leave_when_their_task_parks_or_ends),
        cmocka_unit_test(test_flush_sends_deferred_writes_without_a_turn),
        cmocka_unit_test(test_close_right_after_a_deferred_write_delivers_it_then_the_end),
        cmocka_unit_test(test_abort_drops_deferred_writes_and_nothing_is_sent_later),
        cmocka_unit_test(test_deferred_streams_leaving_the_list_keep_the_others_on_it),
        cmocka_unit_test(test_deferred_send_error_sticks_for_the_next_call),
        cmocka_unit_test(test_deferred_write_holding_over_32_kib_goes_out_at_once),
        cmocka_unit_test(test_flush_nap_backs_off_answers_every_request_and_yields_to_timers),
    };
    return run_suite(tests, NULL, NULL);
}
