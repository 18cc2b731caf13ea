/* fuzz_proc.c - libFuzzer target for subprocess pipes (src/proc.c, and
 * src/stream.c over pipes): bytes written to a child's stdin come back on
 * its stdout.
 *
 * One `cat` serves the whole process: a runtime started once
 * (weft_runtime_start) spawns it and keeps it, and each input is handed
 * to that runtime (weft_call_soon_threadsafe), which runs it as a task
 * while libFuzzer's thread waits. The input: a flags byte, a count of
 * control bytes, the control bytes, then the payload, repeated up to 16
 * times, or 1024 (past 1 MiB from a 1 KiB payload). A writer task sends it to cat's stdin in
 * chunks chosen by the control bytes (write, writev, drain, flush,
 * yields); the input's task reads cat's stdout with read, read_exactly,
 * read_line (a line longer than the 64 KiB limit: -EMSGSIZE, the line
 * dropped through its newline) and peek/fill/consume, and checks every byte is the next one
 * sent, until all have come back. So cat's pipes stay in step from one
 * input to the next, and a byte lost or repeated shows at once.
 *
 * One input in eight also starts a child of its own, `head -c N` (N
 * from the input), fed the payload with weft_proc_communicate: its
 * output is the first N bytes, its stdin closes early (the EPIPE that
 * communicate ignores), and it exits 0.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <weft.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

typedef struct job {
    const uint8_t *ctl;
    size_t nctl;
    const uint8_t *payload;
    size_t npayload;
    int reps;
    uint8_t flags;
    size_t sent, got;
    sem_t done;
} job_t;

static weft_runtime_t *rt;
static weft_proc_t *cat; /* the runtime's, used only on its worker */
static char rbuf[1 << 17];

static uint8_t ctl_at(const job_t *j, size_t i)
{
    return j->nctl ? j->ctl[i % j->nctl] : 0;
}

static size_t total(const job_t *j)
{
    return j->npayload * (size_t)j->reps;
}

static uint8_t byte_at(const job_t *j, size_t pos)
{
    return j->payload[pos % j->npayload];
}

static void expect(job_t *j, const void *p, size_t n, bool consume)
{
    const uint8_t *b = p;
    CHECK(j->got + n <= j->sent && j->got + n <= total(j));
    for (size_t i = 0; i < n;) {
        size_t at = (j->got + i) % j->npayload, m = j->npayload - at;
        if (m > n - i)
            m = n - i;
        CHECK(memcmp(b + i, j->payload + at, m) == 0);
        i += m;
    }
    if (consume)
        j->got += n;
}

/* Whether a newline is still to come. */
static bool nl_ahead(const job_t *j)
{
    size_t left = total(j) - j->got, at = j->got % j->npayload;
    if (left >= j->npayload)
        return memchr(j->payload, '\n', j->npayload) != NULL;
    size_t first = j->npayload - at < left ? j->npayload - at : left;
    return memchr(j->payload + at, '\n', first) != NULL ||
           memchr(j->payload, '\n', left - first) != NULL;
}

static int writer(void *arg, void **result)
{
    job_t *j = arg;
    weft_stream_t *in = weft_proc_stdin(cat);
    (void)result;
    size_t left = total(j);
    for (size_t i = 0; left; i++) {
        uint8_t c = ctl_at(j, i);
        size_t pos = j->sent % j->npayload;
        size_t n = c < 128 ? (size_t)c % 32 + 1 : c < 224 ? (size_t)c * 61 : 70000;
        if (n > left)
            n = left;
        if (c & 1) {
            /* writev: up to the end of this copy of the payload, then on
             * from its start */
            struct iovec v[3];
            int k = 0;
            size_t m = n, at = pos;
            while (m && k < 3) {
                size_t piece = j->npayload - at < m ? j->npayload - at : m;
                v[k++] = (struct iovec){(void *)(j->payload + at), piece};
                m -= piece;
                at = 0;
            }
            n -= m;
            CHECK(weft_stream_writev(in, v, k) == 0);
        } else {
            if (n > j->npayload - pos)
                n = j->npayload - pos;
            CHECK(weft_stream_write(in, j->payload + pos, n) == 0);
        }
        j->sent += n;
        left -= n;
        switch ((c >> 4) & 3) {
        case 0:
            CHECK(weft_stream_drain(in) == 0);
            break;
        case 1:
            CHECK(weft_yield() == 0);
            break;
        default:
            break;
        }
    }
    CHECK(weft_stream_flush(in) == 0);
    CHECK(weft_stream_pending(in) == 0);
    return 0;
}

static void echo(job_t *j)
{
    weft_stream_t *out = weft_proc_stdout(cat);
    weft_task_t *w;
    CHECK(weft_spawn(&w, writer, j, NULL) == 0);
    const char *data;
    for (size_t i = 0; j->got < total(j); i++) {
        uint8_t c = ctl_at(j, j->nctl ? j->nctl - 1 - i % j->nctl : 0) ^ (uint8_t)(i >> 4);
        ssize_t n;
        switch (c % 5) {
        case 0: /* read, small or large */
            n = weft_stream_read(out, rbuf, c & 0x80 ? sizeof rbuf : (size_t)(c >> 3) + 1);
            CHECK(n > 0);
            expect(j, rbuf, (size_t)n, true);
            break;
        case 1: { /* read_exactly, at most what is still to come */
            size_t want = (size_t)c * 512 + 1, got = 0;
            if (want > total(j) - j->got)
                want = total(j) - j->got;
            if (want > sizeof rbuf)
                want = sizeof rbuf;
            CHECK(weft_stream_read_exactly(out, rbuf, want, &got) == 0 && got == want);
            expect(j, rbuf, got, true);
            break;
        }
        case 2: /* a line, when a newline is coming (else it would wait for ever) */
        {
            if (!nl_ahead(j))
                break;
            n = weft_stream_read_line(out, &data);
            if (n > 0) {
                CHECK(data[n - 1] == '\n');
                expect(j, data, (size_t)n, true);
            } else {
                /* a line over the 64 KiB limit: dropped through its newline */
                CHECK(n == -EMSGSIZE);
                size_t d = weft_stream_overrun_consumed(out);
                CHECK(d > 65536 && j->got + d <= j->sent && j->got + d <= total(j));
                CHECK(j->payload[(j->got + d - 1) % j->npayload] == '\n');
                j->got += d;
            }
            break;
        }
        case 3: /* fill, peek, consume part */
            n = weft_stream_peek(out, &data);
            if (n == 0) {
                n = weft_stream_fill(out);
                CHECK(n > 0);
                n = weft_stream_peek(out, &data);
            }
            CHECK(n > 0);
            expect(j, data, (size_t)n, false);
            n = (ssize_t)((size_t)c % ((size_t)n + 1));
            expect(j, data, (size_t)n, true);
            CHECK(weft_stream_consume(out, (size_t)n) == 0);
            break;
        default:
            CHECK(weft_yield() == 0);
            break;
        }
    }
    CHECK(weft_await(w, NULL) == 0);
    weft_task_release(w);
    const char *rest;
    CHECK(weft_stream_peek(out, &rest) == 0); /* nothing more than was sent */
}

/* A child of its own: head -c N reads N bytes, writes them, exits. */
static void short_child(job_t *j)
{
    size_t n = (size_t)ctl_at(j, 0) * 41 + ctl_at(j, 1);
    char count[32];
    snprintf(count, sizeof count, "%zu", n);
    const char *argv[] = {"head", "-c", count, NULL};
    weft_proc_opts_t o = {.in = WEFT_STDIO_PIPE, .out = WEFT_STDIO_PIPE, .err = WEFT_STDIO_DEVNULL};
    weft_proc_t *p;
    CHECK(weft_proc_spawn(&p, argv, &o) == 0);
    char *out = NULL;
    size_t outlen = 0;
    int code = -1;
    size_t len = total(j) < (1u << 20) ? total(j) : j->npayload;
    char *in = malloc(len ? len : 1);
    CHECK(in);
    for (size_t i = 0; i < len; i++)
        in[i] = (char)byte_at(j, i);
    CHECK(weft_proc_communicate(p, in, len, &out, &outlen, NULL, NULL, &code) == 0);
    CHECK(code == 0);
    size_t want = n < len ? n : len;
    CHECK(out && outlen == want && out[outlen] == '\0');
    CHECK(memcmp(out, in, want) == 0);
    free(out);
    free(in);
    CHECK(weft_proc_destroy(p) == 0);
}

static int job_task(void *arg, void **result)
{
    job_t *j = arg;
    (void)result;
    if (j->npayload)
        echo(j);
    if ((j->flags & 7) == 7)
        short_child(j);
    sem_post(&j->done);
    return 0;
}

static void on_job(void *arg)
{
    CHECK(weft_spawn(NULL, job_task, arg, NULL) == 0);
}

static int service(void *arg, void **result)
{
    sem_t *ready = arg;
    (void)result;
    const char *argv[] = {"cat", NULL};
    weft_proc_opts_t o = {.in = WEFT_STDIO_PIPE, .out = WEFT_STDIO_PIPE};
    CHECK(weft_proc_spawn(&cat, argv, &o) == 0);
    sem_post(ready);
    for (;;)
        weft_sleep(WEFT_SEC(3600));
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sem_t ready;
    CHECK(sem_init(&ready, 0, 0) == 0);
    CHECK(weft_runtime_start(&rt, &(weft_config_t){.workers = 1}, service, &ready) == 0);
    while (sem_wait(&ready) != 0) {
    }
    sem_destroy(&ready);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    job_t j = {0};
    j.flags = data[0];
    /* 1..16 copies, times 64 with flag 8: past 1 MiB from a 1 KiB payload */
    j.reps = ((data[0] >> 4) + 1) * (data[0] & 8 ? 64 : 1);
    j.nctl = data[1] < size - 2 ? data[1] : size - 2;
    j.ctl = data + 2;
    j.payload = data + 2 + j.nctl;
    j.npayload = size - 2 - j.nctl;
    if (!j.npayload)
        j.reps = 0;
    CHECK(sem_init(&j.done, 0, 0) == 0);
    CHECK(weft_call_soon_threadsafe(rt, 0, on_job, &j) == 0);
    while (sem_wait(&j.done) != 0) {
    }
    sem_destroy(&j.done);
    return 0;
}
