/* fuzz_http.c - libFuzzer target for the HTTP request parser
 * (examples/proto/http.h).
 *
 * Runs the parser over the input as a server would (request after request
 * until one is incomplete or malformed) and checks what it claims: lengths
 * within the input, pointers inside the request, the same answer twice,
 * and that every proper prefix of a complete request is only "need more"
 * (never an error, never a shorter request). Each prefix is parsed from an
 * exact-size copy, so AddressSanitizer catches a read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static long parse_copy(const char *p, size_t n)
{
    char *copy = malloc(n ? n : 1);
    http_req_t req;
    memcpy(copy, p, n);
    long r = http_parse(copy, n, &req);
    free(copy);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t off = 0;

    for (int i = 0; i < 64 && off < size; i++) {
        http_req_t req, again;
        long r = http_parse(buf + off, size - off, &req);
        CHECK(http_parse(buf + off, size - off, &again) == r);
        if (r <= 0) {
            CHECK(r == HTTP_PARTIAL || r == HTTP_BAD_REQUEST || r == HTTP_NOT_IMPLEMENTED ||
                  r == HTTP_BAD_VERSION);
            if (r == HTTP_PARTIAL)
                CHECK(req.head_len <= size - off);
            break;
        }
        size_t n = (size_t)r;
        const char *start = buf + off, *end = start + n;
        CHECK(n <= size - off);
        CHECK(req.head_len > 0 && req.head_len + req.content_length == n);
        CHECK(req.method >= start && req.method + req.method_len <= end && req.method_len > 0);
        CHECK(req.target >= start && req.target + req.target_len <= end && req.target_len > 0);
        CHECK(req.minor >= 0 && req.minor <= 9);
        for (size_t j = 0; j < req.method_len; j++)
            CHECK(http_is_tchar((unsigned char)req.method[j]));
        for (size_t j = 0; j < req.target_len; j++)
            CHECK((unsigned char)req.target[j] > ' ' && req.target[j] != 0x7f);
        CHECK(parse_copy(start, n) == r);
        CHECK(parse_copy(start, n - 1) == HTTP_PARTIAL);
        CHECK(parse_copy(start, n / 2) == HTTP_PARTIAL);
        CHECK(parse_copy(start, req.head_len - 1) == HTTP_PARTIAL);
        off += n;
    }
    return 0;
}
