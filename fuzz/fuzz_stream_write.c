/* fuzz_stream_write.c - libFuzzer target for the write side of
 * src/stream.c: the output ring, deferred writes (defer_writes), writev,
 * drain and flush, shutdown, close and abort, and a peer that goes away.
 *
 * The input is a script. Its first byte picks the options (defer_writes,
 * high_water, a small SO_SNDBUF, whether the reader leaves early), the
 * rest is a sequence of (operation, argument) pairs for the writer;
 * the reader takes its chunk sizes and pauses from the same bytes read
 * backwards. Over a socketpair in one event loop, the writer runs the
 * operations: write and writev of 0 bytes to over 1 MiB (writev with up
 * to 80 pieces, some empty, more than one send's batch), drain, flush,
 * yields, bad arguments. The bytes written follow a fixed pattern by
 * position, so the reader, which reads at the script's pace, checks that
 * every byte it gets is the next one written: nothing lost, repeated or
 * reordered. The writer checks each call's contract: pending never
 * exceeds what was written and not read, drain leaves at most high_water
 * queued and flush nothing, write never suspends, and once the reader
 * has gone an error (-EPIPE, -ECONNRESET) sticks to every later call.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <weft.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

#define PERIOD 65521u            /* the pattern repeats after this many bytes (a prime) */
#define MAX_WRITE (1100u * 1024) /* largest single write: past 1 MiB */
#define MAX_TOTAL (3u << 19)     /* bytes written per input, at most (1.5 MiB) */

static uint8_t pattern[PERIOD + MAX_WRITE];

typedef struct script {
    const uint8_t *ops;
    size_t nops;
    bool defer, early_close;
    size_t high, low;
    size_t close_after; /* the reader leaves after this many bytes (early_close) */
    size_t written;     /* bytes the writer's calls accepted */
    size_t got;         /* bytes the reader checked */
    bool reader_gone;
    bool writer_done; /* the writer closed (or aborted) */
    bool aborted;
    weft_stream_t *w, *r;
} script_t;

static uint8_t op_at(const script_t *sc, size_t i)
{
    return sc->nops ? sc->ops[i % sc->nops] : 0;
}

static const uint8_t *pat(size_t pos)
{
    return pattern + pos % PERIOD;
}

/* Once the reader has gone, a failing call must fail with a peer's error. */
static bool peer_error(int rc)
{
    return rc == -EPIPE || rc == -ECONNRESET;
}

/* A write-side call's status: 0, or, after the reader left, its error,
 * which then sticks. Returns true if it failed. */
static bool status(script_t *sc, int rc, int *sticky)
{
    if (*sticky) {
        CHECK(rc == *sticky);
        return true;
    }
    if (rc == 0)
        return false;
    CHECK(sc->reader_gone && peer_error(rc));
    *sticky = rc;
    return true;
}

static int reader(void *arg, void **result)
{
    script_t *sc = arg;
    weft_stream_t *r = sc->r;
    static char buf[70000];
    (void)result;
    for (size_t i = 0;; i++) {
        uint8_t c = op_at(sc, sc->nops ? sc->nops - 1 - i % sc->nops : 0);
        size_t want;
        switch (c & 7) {
        case 0:
            want = (size_t)(c >> 3) + 1; /* 1..32 */
            break;
        case 1:
        case 2:
            want = 4096;
            break;
        default:
            want = sizeof buf;
            break;
        }
        if (sc->early_close && sc->got + want > sc->close_after)
            want = sc->close_after - sc->got;
        if (want == 0)
            break;
        ssize_t n = weft_stream_read(r, buf, want);
        if (n == 0) {
            /* end of stream: all of it, unless the writer aborted */
            CHECK(sc->writer_done);
            CHECK(sc->aborted || sc->got == sc->written);
            break;
        }
        CHECK(n > 0 && (size_t)n <= want);
        CHECK(sc->got + (size_t)n <= sc->written);
        for (size_t k = 0; k < (size_t)n;) {
            size_t pos = sc->got + k, m = (size_t)n - k;
            if (m > PERIOD - pos % PERIOD)
                m = PERIOD - pos % PERIOD;
            CHECK(memcmp(buf + k, pat(pos), m) == 0);
            k += m;
        }
        sc->got += (size_t)n;
        /* a slow reader: pauses of up to three turns */
        for (int y = (c >> 5) & 3; y > 0; y--)
            CHECK(weft_yield() == 0);
    }
    sc->reader_gone = true;
    weft_stream_abort(r);
    return 0;
}

static int writer_ops(script_t *sc)
{
    weft_stream_t *w = sc->w;
    int sticky = 0;
    struct iovec iov[80];
    for (size_t i = 0; i + 1 < sc->nops && sc->written < MAX_TOTAL; i += 2) {
        uint8_t op = sc->ops[i], a = sc->ops[i + 1];
        size_t n;
        int rc;
        switch (op % 10) {
        case 0: /* a small write, sometimes empty */
        case 1: /* a medium one */
        case 2: /* a large one, up to past 1 MiB */
            n = op % 10 == 0 ? a % 65u : op % 10 == 1 ? (size_t)a * 64 : (size_t)a * 4349;
            if (n > MAX_WRITE)
                n = MAX_WRITE;
            rc = weft_stream_write(w, pat(sc->written), n);
            if (!status(sc, rc, &sticky))
                sc->written += n;
            break;
        case 3: { /* writev with up to 80 pieces, some empty */
            int cnt = a % 80 + 1;
            size_t at = sc->written, total = 0;
            for (int k = 0; k < cnt; k++) {
                uint8_t s = op_at(sc, i + 2 + (size_t)k);
                size_t len = s < 64 ? 0 : s < 192 ? s % 32u + 1 : (size_t)s * 37;
                iov[k].iov_base = len ? (void *)pat(at) : NULL;
                iov[k].iov_len = len;
                at += len;
                total += len;
            }
            rc = weft_stream_writev(w, iov, cnt);
            if (!status(sc, rc, &sticky))
                sc->written += total;
            break;
        }
        case 4: /* drain: at most high_water left */
            rc = weft_stream_drain(w);
            if (!status(sc, rc, &sticky))
                CHECK(weft_stream_pending(w) <= sc->high);
            break;
        case 5: /* flush: nothing left */
            rc = weft_stream_flush(w);
            if (!status(sc, rc, &sticky))
                CHECK(weft_stream_pending(w) == 0);
            break;
        case 6: /* let the reader run */
        case 7:
            for (int y = a % 4; y >= 0; y--)
                CHECK(weft_yield() == 0);
            break;
        case 8: /* bad arguments change nothing */
            CHECK(weft_stream_write(w, NULL, 1 + a) == -EINVAL);
            CHECK(weft_stream_writev(w, iov, -1 - a) == -EINVAL);
            iov[0] = (struct iovec){NULL, 1};
            CHECK(weft_stream_writev(w, iov, 1) == -EINVAL);
            iov[0] = (struct iovec){(void *)pattern, SIZE_MAX / 2 + 1};
            iov[1] = (struct iovec){(void *)pattern, SIZE_MAX / 2 + 1};
            CHECK(weft_stream_writev(w, iov, 2) == -EINVAL);
            /* nothing to send: the stream's error, if any, and no more */
            status(sc, weft_stream_write(w, pattern, 0), &sticky);
            status(sc, weft_stream_writev(w, NULL, 0), &sticky);
            break;
        default: /* what is queued was written and not yet read */
            CHECK(weft_stream_pending(w) <= sc->written - sc->got);
            break;
        }
        CHECK(weft_stream_pending(w) <= sc->written - sc->got);
    }
    return sticky;
}

static int run(void *arg, void **result)
{
    script_t *sc = arg;
    int sv[2];
    weft_task_t *t;
    (void)result;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    if (op_at(sc, 0) & 1) {
        int small = 4096;
        CHECK(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    }
    weft_stream_opts_t wo = {.high_water = sc->high, .low_water = sc->low, .defer_writes = sc->defer};
    CHECK(weft_stream_open(&sc->r, sv[0], NULL) == 0);
    CHECK(weft_stream_open(&sc->w, sv[1], &wo) == 0);
    CHECK(weft_spawn(&t, reader, sc, NULL) == 0);

    int sticky = writer_ops(sc);
    uint8_t end = sc->nops ? sc->ops[sc->nops - 1] : 0;
    sc->writer_done = true;
    if (end % 4 == 0) {
        sc->aborted = true;
        CHECK(weft_stream_abort(sc->w) == 0);
    } else {
        if (end % 4 == 1) {
            int rc = weft_stream_shutdown(sc->w);
            if (rc == 0)
                CHECK(weft_stream_write(sc->w, "x", 1) == -ESHUTDOWN);
            else if (sticky)
                CHECK(rc == sticky);
            else
                CHECK(sc->reader_gone && peer_error(rc));
        }
        int crc = weft_stream_close(sc->w);
        if (sticky)
            CHECK(crc == sticky);
        else if (crc)
            CHECK(sc->reader_gone && peer_error(crc));
    }
    sc->w = NULL;
    CHECK(weft_await(t, NULL) == 0);
    weft_task_release(t);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof pattern; i++) {
        size_t p = i % PERIOD;
        pattern[i] = (uint8_t)(p * 131u + (p >> 8) * 7u + (p >> 15));
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t highs[4] = {0, 1024, 16384, 300000};
    if (size < 1)
        return 0;
    script_t sc = {0};
    uint8_t o = data[0];
    sc.defer = o & 1;
    sc.high = highs[(o >> 1) & 3];
    sc.low = (o & 0x40) && sc.high ? sc.high / 2 : 0;
    sc.early_close = (o & 0x30) == 0x30;
    sc.ops = data + 1;
    sc.nops = size - 1;
    sc.close_after = sc.nops ? (size_t)op_at(&sc, 1) * op_at(&sc, 2) * 61 : 0;
    if (!sc.high)
        sc.high = 65536;
    CHECK(weft_run_config(&(weft_config_t){.workers = 1}, run, &sc, NULL) == 0);
    return 0;
}
