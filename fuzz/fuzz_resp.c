/* fuzz_resp.c - libFuzzer target for the RESP command parser
 * (examples/proto/resp.h).
 *
 * Runs the parser over the input as mini_redis does (command after command
 * until one is incomplete or malformed) and checks what it claims: a
 * length within the input, arguments inside the command and at most
 * RESP_MAX_ARGS of them, an error text on every error, the same answer
 * twice, and that proper prefixes of a complete command are only "need
 * more" (parsed from exact-size copies, so AddressSanitizer catches a read
 * past the end). For the multibulk form, the arguments re-encoded in the
 * canonical form must parse back to themselves.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static resp_arg_t argv[RESP_MAX_ARGS], argv2[RESP_MAX_ARGS];

static long parse_copy(const char *p, size_t n)
{
    char *copy = malloc(n ? n : 1);
    const char *err = NULL;
    int argc;
    memcpy(copy, p, n);
    long r = resp_parse(copy, n, argv2, &argc, &err);
    free(copy);
    return r;
}

/* Encodes argv[0..argc) canonically and checks it parses back equal. */
static void round_trip(int argc)
{
    size_t n = 32;
    for (int i = 0; i < argc; i++)
        n += argv[i].len + 32;
    char *enc = malloc(n), *p = enc;
    p += sprintf(p, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        p += sprintf(p, "$%zu\r\n", argv[i].len);
        memcpy(p, argv[i].p, argv[i].len);
        p += argv[i].len;
        *p++ = '\r';
        *p++ = '\n';
    }
    const char *err = NULL;
    int argc2;
    CHECK(resp_parse(enc, (size_t)(p - enc), argv2, &argc2, &err) == p - enc);
    CHECK(argc2 == argc);
    for (int i = 0; i < argc; i++)
        CHECK(argv2[i].len == argv[i].len && memcmp(argv2[i].p, argv[i].p, argv[i].len) == 0);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t off = 0;

    for (int i = 0; i < 64 && off < size; i++) {
        const char *err = NULL, *err2 = NULL;
        int argc = -1, argc2 = -1;
        long r = resp_parse(buf + off, size - off, argv, &argc, &err);
        CHECK(resp_parse(buf + off, size - off, argv2, &argc2, &err2) == r);
        if (r <= 0) {
            CHECK(r == RESP_PARTIAL || (r == RESP_ERROR && err && *err && err == err2));
            break;
        }
        size_t n = (size_t)r;
        const char *start = buf + off, *end = start + n;
        CHECK(n <= size - off);
        CHECK(argc == argc2 && argc >= 0 && argc <= RESP_MAX_ARGS);
        for (int j = 0; j < argc; j++)
            CHECK(argv[j].p >= start && argv[j].p + argv[j].len <= end);
        if (start[0] == '*' && argc > 0)
            round_trip(argc);
        CHECK(parse_copy(start, n) == r);
        CHECK(parse_copy(start, n - 1) == RESP_PARTIAL);
        CHECK(parse_copy(start, n / 2) == RESP_PARTIAL);
        off += n;
    }
    return 0;
}
