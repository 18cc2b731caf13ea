/* fuzz_addr.c - libFuzzer target for addresses and the resolver's inputs:
 * src/addr.c (weft_addr_parse, weft_addr_format, weft_addr_port), the
 * host and port text of src/net.c (weft_tcp_listen, weft_tcp_connect)
 * and src/resolve.c (weft_getaddrinfo).
 *
 * The input: a flags byte, four bytes of port (any int: negative, past
 * 65535), then a host, a service and the bytes of a raw weft_addr_t,
 * separated by NULs. Checks:
 *   - weft_addr_parse accepts exactly what inet_pton, a scope and the
 *     Unix-domain rules accept; a parsed address formats to text that
 *     parses back to the same bytes; a Unix-domain one formats to the
 *     host given; the port reads back;
 *   - weft_addr_format into every buffer size returns the length
 *     written, NUL-terminates, and writes a prefix of the full text,
 *     also for raw addresses of any family and length (no read past the
 *     address: ASan);
 *   - weft_getaddrinfo agrees with getaddrinfo called directly with the
 *     same hints (always with AI_NUMERICHOST, so no DNS query leaves the
 *     machine): success, and the same addresses in the same order;
 *   - a loopback host with the fuzzed port text (digits, leading zeros,
 *     a service name) listens through weft_tcp_listen, and
 *     weft_tcp_connect reaches it by the text the listener reports; an
 *     abstract Unix-domain name listens and connects the same way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <weft.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

typedef struct input {
    uint8_t flags;
    int port;
    const char *host, *service;
    const uint8_t *raw;
    size_t nraw;
} input_t;

/* Formats a into every buffer size up to past its length: each result is
 * a prefix of the full text. Returns the full length, or -EINVAL. */
static int format_all(const weft_addr_t *a, char *full, size_t fullsize)
{
    int n = weft_addr_format(a, full, fullsize);
    if (n < 0) {
        CHECK(n == -EINVAL);
        return n;
    }
    CHECK((size_t)n < fullsize && full[n] == '\0' && strlen(full) == (size_t)n);
    char buf[300];
    for (size_t size = 1; size <= (size_t)n + 2 && size <= sizeof buf; size++) {
        memset(buf, 'Z', sizeof buf);
        int m = weft_addr_format(a, buf, size);
        CHECK(m == ((size_t)n < size ? n : (int)size - 1));
        CHECK(buf[m] == '\0');
        CHECK(memcmp(buf, full, (size_t)m) == 0);
        CHECK(size >= sizeof buf || buf[size] == 'Z'); /* nothing past size */
    }
    CHECK(weft_addr_format(a, buf, 0) == -EINVAL);
    return n;
}

static bool same(const weft_addr_t *a, const weft_addr_t *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void check_parse(const input_t *in)
{
    weft_addr_t a;
    memset(&a, 0xa5, sizeof a);
    int rc = weft_addr_parse(&a, in->host, in->port);
    const char *h = in->host;
    size_t hl = strlen(h);
    char full[300];

    if (h[0] == '/' || h[0] == '@') {
        /* a path: up to sizeof sun_path - 1 bytes and its NUL; an abstract
         * name: up to sizeof sun_path bytes after its leading NUL */
        size_t max = h[0] == '/' ? sizeof((struct sockaddr_un *)0)->sun_path - 1
                                 : sizeof((struct sockaddr_un *)0)->sun_path;
        CHECK((rc == 0) == (hl <= max));
        if (rc)
            return;
        CHECK(a.ss.ss_family == AF_UNIX && a.len <= sizeof a.ss);
        CHECK(format_all(&a, full, sizeof full) == (int)hl);
        CHECK(strcmp(full, h) == 0);
        CHECK(weft_addr_port(&a) == -EINVAL);
        return;
    }
    if (in->port < 0 || in->port > 65535) {
        CHECK(rc == -EINVAL);
        return;
    }
    /* what inet_pton says, brackets and a numeric scope aside */
    unsigned char bin[16];
    if (hl && strcmp(h, "*") != 0 && inet_pton(AF_INET, h, bin) == 1)
        CHECK(rc == 0 && a.ss.ss_family == AF_INET);
    if (!hl)
        CHECK(rc == 0 && a.ss.ss_family == AF_INET);
    if (strcmp(h, "*") == 0)
        CHECK(rc == 0 && a.ss.ss_family == AF_INET6);
    if (inet_pton(AF_INET6, h, bin) == 1)
        CHECK(rc == 0 && a.ss.ss_family == AF_INET6);
    if (rc) {
        CHECK(rc == -EINVAL);
        return;
    }
    CHECK(weft_addr_port(&a) == in->port);
    int n = format_all(&a, full, sizeof full);
    CHECK(n > 0);
    /* the text parses back to the same address */
    char *colon = strrchr(full, ':');
    CHECK(colon);
    *colon = '\0';
    CHECK(atoi(colon + 1) == in->port);
    weft_addr_t b;
    memset(&b, 0x5a, sizeof b);
    CHECK(weft_addr_parse(&b, full, in->port) == 0);
    CHECK(same(&a, &b));
}

static void check_raw(const input_t *in)
{
    weft_addr_t a;
    memset(&a, 0, sizeof a);
    size_t n = in->nraw < sizeof a.ss ? in->nraw : sizeof a.ss;
    memcpy(&a.ss, in->raw, n);
    /* a length of any size, including past the storage */
    a.len = (socklen_t)(in->flags & 0x80 ? n + (in->flags & 0x3f) : n);
    if (in->flags & 0x40)
        a.ss.ss_family = (sa_family_t)(in->flags & 1 ? AF_UNIX : in->flags & 2 ? AF_INET6 : AF_INET);
    char full[300];
    int m = format_all(&a, full, sizeof full);
    int f = a.ss.ss_family;
    CHECK((m >= 0) == (f == AF_INET || f == AF_INET6 || f == AF_UNIX));
    int p = weft_addr_port(&a);
    CHECK((p >= 0) == (f == AF_INET || f == AF_INET6));
}

/* ---- inside the loop: the resolver and net.c's text ---- */

static bool same_ai(const struct addrinfo *x, const struct addrinfo *y)
{
    for (; x && y; x = x->ai_next, y = y->ai_next) {
        if (x->ai_family != y->ai_family || x->ai_socktype != y->ai_socktype ||
            x->ai_protocol != y->ai_protocol || x->ai_addrlen != y->ai_addrlen ||
            memcmp(x->ai_addr, y->ai_addr, x->ai_addrlen) != 0)
            return false;
    }
    return !x && !y;
}

static void check_resolve(const input_t *in)
{
    static const int families[] = {AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX};
    static const int types[] = {0, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW};
    uint8_t f = in->flags;
    struct addrinfo hints = {0};
    hints.ai_flags = AI_NUMERICHOST | (f & 1 ? AI_PASSIVE : 0) | (f & 2 ? AI_NUMERICSERV : 0) |
                     (f & 4 ? AI_V4MAPPED | AI_ALL : 0) | (f & 8 ? AI_ADDRCONFIG : 0);
    hints.ai_family = families[(f >> 4) & 3];
    hints.ai_socktype = types[(f >> 6) & 3];
    const char *host = in->host[0] || (f & 0x10) ? in->host : NULL;
    const char *service = in->service[0] || (f & 0x20) ? in->service : NULL;

    struct addrinfo *mine = NULL, *ref = NULL;
    int rc = weft_getaddrinfo(host, service, &hints, &mine);
    if (!host && !service) {
        CHECK(rc == -EINVAL && mine == NULL);
        return;
    }
    int eai = getaddrinfo(host, service, &hints, &ref);
    CHECK((rc == 0) == (eai == 0));
    if (rc == 0) {
        CHECK(mine && same_ai(mine, ref));
        freeaddrinfo(mine);
        freeaddrinfo(ref);
    } else {
        CHECK(mine == NULL);
        CHECK(rc == -WEFT_ENOTFOUND || rc == -EAFNOSUPPORT || rc == -EINVAL || rc == -EIO ||
              rc == -EAGAIN || rc == -ENOMEM || rc < 0);
        if (ref)
            freeaddrinfo(ref);
    }
}

/* A host that parses to loopback, or NULL. */
static bool loopback(const char *host)
{
    weft_addr_t a;
    if (!host[0] || host[0] == '/' || host[0] == '@' || weft_addr_parse(&a, host, 0) != 0)
        return false;
    if (a.ss.ss_family == AF_INET)
        return ((const uint8_t *)&((struct sockaddr_in *)&a.ss)->sin_addr)[0] == 127;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a.ss;
    return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) && s6->sin6_scope_id == 0;
}

/* Port text that picks port 0 or names a service (never a fixed number,
 * which another program on the machine may be using). */
static bool listenable_port(const char *p)
{
    bool digits = *p != '\0';
    unsigned long v = 0;
    for (const char *c = p; *c; c++) {
        if (*c < '0' || *c > '9')
            digits = false;
        else if (v < 100000)
            v = v * 10 + (unsigned long)(*c - '0');
    }
    return !digits || v == 0 || v > 65535;
}

static void connect_back(weft_listener_t *l, const char *host)
{
    weft_addr_t la;
    CHECK(weft_listener_addr(l, &la) == 0);
    char port[16];
    snprintf(port, sizeof port, "%d", weft_addr_port(&la));
    weft_stream_t *s = NULL;
    weft_stream_t *acc = NULL;
    weft_addr_t peer, local;
    int rc = weft_tcp_connect(&s, host, port, NULL);
    CHECK(rc == 0);
    CHECK(weft_listener_accept(l, &acc, &peer, NULL) == 0);
    CHECK(weft_stream_local_addr(s, &local) == 0);
    CHECK(same(&local, &peer));
    weft_stream_abort(acc);
    weft_stream_abort(s);
}

static void check_net(const input_t *in)
{
    if (in->host[0] == '@') {
        /* an abstract name: no file is made */
        weft_addr_t a, b;
        if (weft_addr_parse(&a, in->host, 0) != 0)
            return;
        weft_listener_t *l;
        if (weft_addr_listen(&l, &a, NULL) != 0)
            return; /* taken */
        CHECK(weft_listener_addr(l, &b) == 0);
        CHECK(same(&a, &b));
        weft_stream_t *s, *acc;
        CHECK(weft_addr_connect(&s, &a, NULL) == 0);
        CHECK(weft_listener_accept(l, &acc, NULL, NULL) == 0);
        CHECK(weft_stream_peer_addr(s, &b) == 0);
        CHECK(same(&a, &b));
        char t[300];
        CHECK(weft_addr_format(&b, t, sizeof t) == (int)strlen(in->host));
        weft_stream_abort(acc);
        weft_stream_abort(s);
        CHECK(weft_listener_close(l) == 0);
        return;
    }
    if (!loopback(in->host) || !listenable_port(in->service))
        return;
    weft_listener_t *l;
    int rc = weft_tcp_listen(&l, in->host, in->service, NULL);
    if (rc) {
        CHECK(rc < 0);
        return;
    }
    connect_back(l, in->host);
    CHECK(weft_listener_close(l) == 0);
}

static int in_loop(void *arg, void **result)
{
    input_t *in = arg;
    (void)result;
    check_resolve(in);
    check_net(in);
    return 0;
}

/* The next NUL-terminated piece of [*p, end), copied to buf (at most
 * cap - 1 bytes; the rest of the piece is skipped). */
static const char *piece(const uint8_t **p, const uint8_t *end, char *buf, size_t cap)
{
    size_t n = 0;
    while (*p < end && **p) {
        if (n < cap - 1)
            buf[n++] = (char)**p;
        (*p)++;
    }
    if (*p < end)
        (*p)++;
    buf[n] = '\0';
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    static char host[260], service[64];
    input_t in = {.flags = data[0]};
    uint32_t port;
    memcpy(&port, data + 1, 4);
    /* mostly small ports, now and then any int */
    in.port = data[0] & 0x0c ? (int)(port % 70000) : (int)port;
    const uint8_t *p = data + 5, *end = data + size;
    in.host = piece(&p, end, host, sizeof host);
    in.service = piece(&p, end, service, sizeof service);
    in.raw = p;
    in.nraw = (size_t)(end - p);

    check_parse(&in);
    check_raw(&in);
    CHECK(weft_addr_parse(NULL, in.host, in.port) == -EINVAL);
    CHECK(weft_addr_port(NULL) == -EINVAL);
    /* the loop (and its thread pool) only for inputs that ask for it */
    if (data[0] & 0x03)
        CHECK(weft_run_config(&(weft_config_t){.workers = 1}, in_loop, &in, NULL) == 0);
    return 0;
}
