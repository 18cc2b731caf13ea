/* http.h - a small HTTP/1.x request-head parser for the examples.
 *
 * A pure function over bytes: it copies nothing, allocates nothing and
 * keeps no state between calls, so a server can run it over the bytes a
 * stream has buffered (weft_stream_peek) and call it again once more have
 * arrived. The fuzzer (fuzz/fuzz_http.c) feeds it arbitrary input.
 *
 * What it accepts: a request line `METHOD SP TARGET SP HTTP/1.<digit>`,
 * header lines `name: value`, an empty line, then Content-Length bytes of
 * body. Lines may end in CRLF or a bare LF, and empty lines before the
 * request line are skipped (both as RFC 9112 allows). It refuses what a
 * small server cannot handle safely: folded header lines, a bad or
 * conflicting Content-Length, and Transfer-Encoding (no chunked bodies).
 */
#ifndef WEFT_EXAMPLES_PROTO_HTTP_H
#define WEFT_EXAMPLES_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct http_req {
    const char *method; /* points into the parsed bytes, not NUL-terminated */
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor;             /* HTTP/1.<minor> */
    bool keep_alive;       /* the connection stays open after this request */
    size_t head_len;       /* bytes up to and including the empty line */
    size_t content_length; /* body bytes after the head */
} http_req_t;

/* What http_parse returns besides a length. The errors are the status a
 * server should answer with before it closes the connection. */
enum {
    HTTP_PARTIAL = 0,            /* need more bytes */
    HTTP_BAD_REQUEST = -400,     /* malformed */
    HTTP_NOT_IMPLEMENTED = -501, /* Transfer-Encoding */
    HTTP_BAD_VERSION = -505,     /* not HTTP/1.x */
};

/* The largest body accepted; a bigger Content-Length is malformed here. */
#define HTTP_MAX_BODY ((size_t)1 << 30)

/* RFC 9110 token characters (method, header names). */
static inline bool http_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static inline char http_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static inline bool http_ieq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (http_lower(a[i]) != lit[i])
            return false;
    return true;
}

/* Finds the end of the line starting at p: returns the length of the line
 * without its terminator and stores the terminator's length in *eol, or
 * returns SIZE_MAX when no LF is in [p, end). A CR anywhere but right
 * before the LF makes *eol 0 (the caller treats that as malformed). */
static inline size_t http_line(const char *p, const char *end, size_t *eol)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf)
        return SIZE_MAX;
    size_t n = (size_t)(lf - p);
    *eol = 1;
    if (n > 0 && p[n - 1] == '\r') {
        n--;
        *eol = 2;
    }
    if (memchr(p, '\r', n))
        *eol = 0;
    return n;
}

/* Notes the "close" and "keep-alive" tokens of a Connection header value. */
static inline void http_connection_tokens(const char *v, size_t n, bool *close_seen,
                                          bool *keep_seen)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (http_ieq(v + start, i - start, "close"))
            *close_seen = true;
        else if (http_ieq(v + start, i - start, "keep-alive"))
            *keep_seen = true;
    }
}

/* Parses the request at the start of buf[0..len). Returns its whole
 * length (head and body) when it is all there, HTTP_PARTIAL when more
 * bytes are needed (req->head_len is then non-zero if the head is complete
 * and only body bytes are missing), or a negative HTTP_* error. */
static inline long http_parse(const char *buf, size_t len, http_req_t *req)
{
    const char *p = buf, *end = buf + len;
    size_t n, eol;

    memset(req, 0, sizeof *req);
    /* Empty lines before a request are leftovers of a previous message. */
    for (;;) {
        n = http_line(p, end, &eol);
        if (n == SIZE_MAX)
            break;
        if (n != 0)
            break;
        if (eol == 0)
            return HTTP_BAD_REQUEST;
        p += eol;
    }
    if (n == SIZE_MAX) {
        /* Refuse early what can never become a request line. */
        for (const char *q = p; q < end && *q != ' '; q++)
            if (!http_is_tchar((unsigned char)*q) && *q != '\r')
                return HTTP_BAD_REQUEST;
        return HTTP_PARTIAL;
    }
    if (eol == 0)
        return HTTP_BAD_REQUEST;

    /* Request line: METHOD SP TARGET SP HTTP/1.d */
    const char *line = p, *le = p + n, *q = line;
    while (q < le && http_is_tchar((unsigned char)*q))
        q++;
    if (q == line || q == le || *q != ' ')
        return HTTP_BAD_REQUEST;
    req->method = line;
    req->method_len = (size_t)(q - line);
    req->target = ++q;
    while (q < le && (unsigned char)*q > ' ' && *q != 0x7f)
        q++;
    req->target_len = (size_t)(q - req->target);
    if (req->target_len == 0 || q == le || *q != ' ')
        return HTTP_BAD_REQUEST;
    q++;
    if (le - q != 8 || memcmp(q, "HTTP/", 5) != 0 || q[6] != '.' || q[5] < '0' || q[5] > '9' ||
        q[7] < '0' || q[7] > '9')
        return HTTP_BAD_REQUEST;
    if (q[5] != '1')
        return HTTP_BAD_VERSION;
    req->minor = q[7] - '0';
    p += n + eol;

    /* Header lines up to the empty one. */
    bool close_seen = false, keep_seen = false, have_cl = false;
    size_t cl = 0;
    for (;;) {
        n = http_line(p, end, &eol);
        if (n == SIZE_MAX)
            return HTTP_PARTIAL;
        if (eol == 0)
            return HTTP_BAD_REQUEST;
        if (n == 0) {
            p += eol;
            break;
        }
        const char *h = p, *he = p + n, *c = h;
        while (c < he && http_is_tchar((unsigned char)*c))
            c++;
        /* No name (this also refuses obsolete line folding) or no colon. */
        if (c == h || c == he || *c != ':')
            return HTTP_BAD_REQUEST;
        size_t name_len = (size_t)(c - h);
        const char *v = c + 1;
        while (v < he && (*v == ' ' || *v == '\t'))
            v++;
        const char *ve = he;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *x = v; x < ve; x++)
            if ((unsigned char)*x < ' ' && *x != '\t')
                return HTTP_BAD_REQUEST;
        size_t vlen = (size_t)(ve - v);

        if (http_ieq(h, name_len, "content-length")) {
            size_t val = 0;
            if (vlen == 0)
                return HTTP_BAD_REQUEST;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return HTTP_BAD_REQUEST;
                val = val * 10 + (size_t)(v[i] - '0');
                if (val > HTTP_MAX_BODY)
                    return HTTP_BAD_REQUEST;
            }
            /* Two different lengths: a request smuggling attempt. */
            if (have_cl && val != cl)
                return HTTP_BAD_REQUEST;
            have_cl = true;
            cl = val;
        } else if (http_ieq(h, name_len, "transfer-encoding")) {
            return HTTP_NOT_IMPLEMENTED;
        } else if (http_ieq(h, name_len, "connection")) {
            http_connection_tokens(v, vlen, &close_seen, &keep_seen);
        }
        p += n + eol;
    }

    req->head_len = (size_t)(p - buf);
    req->content_length = cl;
    /* HTTP/1.1 keeps the connection by default, HTTP/1.0 only when asked. */
    req->keep_alive = !close_seen && (req->minor >= 1 || keep_seen);
    if ((size_t)(end - p) < cl)
        return HTTP_PARTIAL;
    return (long)(req->head_len + cl);
}

#endif
