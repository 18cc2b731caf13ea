/* fuzz_stream.c - libFuzzer target for the buffered stream reader
 * (src/stream.c).
 *
 * The input is a script: its first byte picks the stream's read limit,
 * its second how many control bytes follow; the rest is the payload. In
 * one event loop, a writer task sends the payload over a socketpair in
 * chunks whose sizes come from the control bytes, flushing and yielding
 * between chunks, then closes its end. The reader runs a sequence of
 * operations chosen by the control bytes (read, read_line, read_until,
 * read_exactly, peek, consume, fill, at_eof) until the end of the stream,
 * and checks that every byte it gets is the next byte sent, that each
 * call's status agrees with its contract (a separator found is the first
 * one, -EMSGSIZE only for a line longer than the limit, which is
 * dropped through its separator (weft_stream_overrun_consumed), end of stream
 * only after the last byte) and that nothing is lost or repeated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

typedef struct script {
    const uint8_t *ctl;
    size_t nctl;
    const uint8_t *payload;
    size_t npayload;
    size_t limit;
    size_t pos; /* payload bytes the reader has consumed */
    weft_stream_t *w;
} script_t;

static uint8_t ctl_at(const script_t *sc, size_t i)
{
    return sc->nctl ? sc->ctl[i % sc->nctl] : 0;
}

static int writer(void *arg, void **result)
{
    script_t *sc = arg;
    size_t off = 0;
    (void)result;
    for (size_t i = 0; off < sc->npayload; i++) {
        uint8_t c = ctl_at(sc, i);
        /* Mostly small chunks, sometimes large ones. */
        size_t chunk = c >= 0xf0 ? (size_t)(c - 0xef) * 512 : (size_t)c % 64 + 1;
        if (chunk > sc->npayload - off)
            chunk = sc->npayload - off;
        CHECK(weft_stream_write(sc->w, sc->payload + off, chunk) == 0);
        off += chunk;
        CHECK(weft_stream_flush(sc->w) == 0);
        CHECK(weft_yield() == 0);
    }
    CHECK(weft_stream_close(sc->w) == 0);
    sc->w = NULL;
    return 0;
}

/* got[0..n) must be the next n payload bytes; consume them if asked. */
static void expect(script_t *sc, const void *got, size_t n, bool consume)
{
    CHECK(n <= sc->npayload - sc->pos);
    CHECK(n == 0 || memcmp(got, sc->payload + sc->pos, n) == 0);
    if (consume)
        sc->pos += n;
}

/* Peeks and checks what is buffered; returns its count. */
static size_t peek_check(script_t *sc, weft_stream_t *r, const char **data)
{
    ssize_t c = weft_stream_peek(r, data);
    CHECK(c >= 0);
    expect(sc, *data, (size_t)c, false);
    return (size_t)c;
}

static const struct {
    const char *s;
    size_t n;
} seps[] = {{"\n", 1}, {"\r\n", 2}, {"\r\n\r\n", 4}, {"a", 1}, {"ab", 2}, {"\0\0", 2}};

/* One read operation chosen by op. Returns true at the end of stream. */
static bool step(script_t *sc, weft_stream_t *r, uint8_t op, uint8_t arg)
{
    const char *data;
    char buf[4096];
    size_t c;
    ssize_t n;

    switch (op % 8) {
    case 0: /* read */
        n = weft_stream_read(r, buf, (size_t)arg % sizeof buf + 1);
        CHECK(n >= 0);
        if (n == 0) {
            CHECK(sc->pos == sc->npayload);
            return true;
        }
        expect(sc, buf, (size_t)n, true);
        return false;
    case 1:   /* read_line */
    case 2: { /* read_until */
        const char *sep = "\n";
        size_t seplen = 1;
        if (op % 8 == 2) {
            sep = seps[arg % (sizeof seps / sizeof seps[0])].s;
            seplen = seps[arg % (sizeof seps / sizeof seps[0])].n;
            n = weft_stream_read_until(r, sep, seplen, &data);
        } else {
            n = weft_stream_read_line(r, &data);
        }
        if (n > 0) {
            CHECK((size_t)n >= seplen);
            CHECK(memcmp(data + n - seplen, sep, seplen) == 0);
            /* It stops at the first separator. */
            CHECK((const char *)memmem(data, (size_t)n, sep, seplen) == data + n - seplen);
            expect(sc, data, (size_t)n, true);
            return false;
        }
        if (n == -EMSGSIZE) {
            /* the over-long line was dropped through its separator, or
             * to the end of the stream: no separator within its first
             * limit + seplen bytes */
            size_t d = weft_stream_overrun_consumed(r);
            const uint8_t *line = sc->payload + sc->pos;
            CHECK(d <= sc->npayload - sc->pos && d > sc->limit);
            const uint8_t *first = memmem(line, d, sep, seplen);
            if (first)
                CHECK((size_t)(first - line) == d - seplen && d - seplen > sc->limit);
            else
                CHECK(sc->pos + d == sc->npayload);
            sc->pos += d;
            peek_check(sc, r, &data);
            return false;
        }
        c = peek_check(sc, r, &data);
        CHECK(n == -WEFT_EINCOMPLETE);
        CHECK(sc->pos + c == sc->npayload);
        CHECK(memmem(data, c, sep, seplen) == NULL);
        return false;
    }
    case 3: { /* read_exactly, also beyond the limit */
        size_t want = (size_t)arg * 16 % sizeof buf + 1, got = 0;
        int rc = weft_stream_read_exactly(r, buf, want, &got);
        if (rc == 0) {
            CHECK(got == want);
        } else {
            CHECK(rc == -WEFT_EINCOMPLETE && got < want);
            CHECK(sc->pos + got == sc->npayload);
        }
        expect(sc, buf, got, true);
        return false;
    }
    case 4: /* peek */
        peek_check(sc, r, &data);
        return false;
    case 5: /* consume part of what is buffered */
        c = peek_check(sc, r, &data);
        c = c ? arg % (c + 1) : 0;
        CHECK(weft_stream_consume(r, c) == 0);
        sc->pos += c;
        return false;
    case 6: /* fill */
        n = weft_stream_fill(r);
        c = peek_check(sc, r, &data);
        if (n == -EMSGSIZE)
            CHECK(c >= sc->limit);
        else if (n == 0)
            CHECK(sc->pos + c == sc->npayload);
        else
            CHECK(n > 0 && (size_t)n <= c);
        return false;
    default: /* at_eof */
        if (weft_stream_at_eof(r)) {
            CHECK(sc->pos == sc->npayload);
            return true;
        }
        return false;
    }
}

static int reader(void *arg, void **result)
{
    script_t *sc = arg;
    int sv[2];
    weft_stream_t *r;
    weft_task_t *t;
    (void)result;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    weft_stream_opts_t opts = {.limit = sc->limit};
    CHECK(weft_stream_open(&r, sv[0], &opts) == 0);
    CHECK(weft_stream_open(&sc->w, sv[1], NULL) == 0);
    CHECK(weft_spawn(&t, writer, sc, NULL) == 0);

    /* Operations that consume nothing could go on for ever: after a few
     * in a row, a read makes progress. */
    int idle = 0;
    bool done = false;
    for (size_t i = 0; !done; i++) {
        size_t before = sc->pos;
        uint8_t op = ctl_at(sc, sc->nctl - 1 - i % (sc->nctl ? sc->nctl : 1));
        uint8_t arg2 = ctl_at(sc, i * 7 + 3);
        done = step(sc, r, idle >= 4 ? 0 : (uint8_t)((op >> 3) ^ op), arg2);
        idle = sc->pos == before ? idle + 1 : 0;
    }
    CHECK(weft_await(t, NULL) == 0);
    weft_task_release(t);
    weft_stream_close(r);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    script_t sc = {0};
    sc.limit = 16 + (size_t)data[0] * 4;
    sc.nctl = data[1] < size - 2 ? data[1] : size - 2;
    sc.ctl = data + 2;
    sc.payload = data + 2 + sc.nctl;
    sc.npayload = size - 2 - sc.nctl;
    weft_config_t cfg = {.workers = 1};
    CHECK(weft_run_config(&cfg, reader, &sc, NULL) == 0);
    return 0;
}
