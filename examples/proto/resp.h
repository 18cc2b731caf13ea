/* resp.h - a RESP2 command parser for the examples (mini_redis).
 *
 * A pure function over bytes: it copies nothing and allocates nothing.
 * Each argument it returns points into the bytes given, so a server can
 * run it over what a stream has buffered (weft_stream_peek) and answer
 * before consuming. The fuzzer (fuzz/fuzz_resp.c) feeds it arbitrary
 * input.
 *
 * Two forms, as Redis reads them:
 *   multibulk  *<argc>\r\n then, per argument, $<len>\r\n<len bytes>\r\n
 *              (binary-safe; what redis-cli and client libraries send)
 *   inline     a line of words separated by spaces or tabs, ending in
 *              \n or \r\n (what `telnet` and redis-benchmark's
 *              PING_INLINE send). Quotes are not interpreted.
 */
#ifndef WEFT_EXAMPLES_PROTO_RESP_H
#define WEFT_EXAMPLES_PROTO_RESP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct resp_arg {
    const char *p; /* points into the parsed bytes, not NUL-terminated */
    size_t len;
} resp_arg_t;

/* Most arguments one command may have here (Redis allows far more; this
 * keeps the argument array on the handler's stack). */
#define RESP_MAX_ARGS 1024
/* Longest bulk argument accepted (Redis's default proto-max-bulk-len). */
#define RESP_MAX_BULK ((size_t)512 << 20)

enum { RESP_PARTIAL = 0, RESP_ERROR = -1 };

/* Reads a decimal integer ended by \r\n at p; returns the bytes used
 * (digits and \r\n), 0 if the line is not complete yet, -1 if malformed. */
static inline long resp_number(const char *p, const char *end, long long *out)
{
    const char *q = p;
    int neg = 0;
    long long v = 0;
    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    const char *digits = q;
    while (q < end && *q >= '0' && *q <= '9') {
        /* A cap on digits, not only on the value, so that a prefix of a
         * number is never refused where the whole would be accepted. */
        if (q - digits == 18)
            return -1;
        v = v * 10 + (*q - '0');
        q++;
    }
    if (q == end || (q + 1 == end && *q == '\r'))
        return 0;
    if (q == digits || q[0] != '\r' || q[1] != '\n')
        return -1;
    *out = neg ? -v : v;
    return q + 2 - p;
}

/* Parses one command at the start of buf[0..len). Returns the bytes it
 * takes (> 0) with its arguments in argv[0..*argc) (*argc may be 0: an
 * empty line or `*0`, which Redis ignores), RESP_PARTIAL when more bytes
 * are needed, or RESP_ERROR with *err set to Redis's text for the protocol
 * error (the server replies "-ERR Protocol error: <err>" and closes).
 * argv has room for RESP_MAX_ARGS entries. */
static inline long resp_parse(const char *buf, size_t len, resp_arg_t *argv, int *argc,
                              const char **err)
{
    const char *p = buf, *end = buf + len;
    *argc = 0;
    if (len == 0)
        return RESP_PARTIAL;

    if (*p != '*') {
        const char *lf = memchr(p, '\n', len);
        if (!lf)
            return RESP_PARTIAL;
        const char *le = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
        int n = 0;
        for (const char *q = p; q < le;) {
            while (q < le && (*q == ' ' || *q == '\t'))
                q++;
            if (q == le)
                break;
            const char *w = q;
            while (q < le && *q != ' ' && *q != '\t')
                q++;
            if (n == RESP_MAX_ARGS) {
                *err = "too many arguments in inline request";
                return RESP_ERROR;
            }
            argv[n].p = w;
            argv[n].len = (size_t)(q - w);
            n++;
        }
        *argc = n;
        return lf + 1 - buf;
    }

    long long count = 0;
    long used = resp_number(p + 1, end, &count);
    if (used == 0)
        return RESP_PARTIAL;
    if (used < 0 || count > 1024 * 1024) {
        *err = "invalid multibulk length";
        return RESP_ERROR;
    }
    p += 1 + used;
    if (count <= 0)
        return p - buf;
    if (count > RESP_MAX_ARGS) {
        *err = "invalid multibulk length";
        return RESP_ERROR;
    }
    for (long long i = 0; i < count; i++) {
        if (p == end)
            return RESP_PARTIAL;
        if (*p != '$') {
            /* Redis quotes the offending byte; keep the text static. */
            *err = "expected '$'";
            return RESP_ERROR;
        }
        long long blen = 0;
        used = resp_number(p + 1, end, &blen);
        if (used == 0)
            return RESP_PARTIAL;
        if (used < 0 || blen < 0 || (unsigned long long)blen > RESP_MAX_BULK) {
            *err = "invalid bulk length";
            return RESP_ERROR;
        }
        p += 1 + used;
        if ((size_t)(end - p) < (size_t)blen + 2)
            return RESP_PARTIAL;
        if (p[blen] != '\r' || p[blen + 1] != '\n') {
            *err = "invalid bulk terminator";
            return RESP_ERROR;
        }
        argv[i].p = p;
        argv[i].len = (size_t)blen;
        p += blen + 2;
    }
    *argc = (int)count;
    return p - buf;
}

#endif
