/* fuzz_udp.c - libFuzzer target for src/udp.c over loopback: datagrams
 * of every size (empty, truncated by a short buffer, up to and past the
 * 64 KiB limit of one datagram), received into buffers of every size,
 * connected and unconnected sends, and addresses that are malformed
 * (family, length past the storage) or parsed from fuzzed text.
 *
 * The input: a flags byte (IPv4 or IPv6), then (operation, argument)
 * pairs; the bytes after the first 64 pairs are the datagrams' payload.
 * Two sockets A and B are bound to loopback port 0 in one event loop;
 * A sends, B receives. The target keeps the datagrams it expects B to
 * hold, in order, and checks each receive: its length (the datagram's,
 * or the buffer's when shorter), its bytes, and its sender. A send of
 * more than one datagram can carry returns -EMSGSIZE; an address of the
 * wrong family or a bad length returns an error (never a crash, never a
 * datagram elsewhere: only the family and length are mangled, the bytes
 * stay B's); the bound of queued bytes stays under B's receive buffer,
 * so loopback drops nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weft.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

#define MAX_OPS 64
#define QMAX 16
#define QBYTES 150000
#define BIG 70000 /* past the largest datagram */

typedef struct dgram {
    size_t off, len; /* bytes [off, off + len) of the payload, repeated */
    weft_addr_t from;
} dgram_t;

typedef struct script {
    const uint8_t *ops;
    size_t nops;
    const uint8_t *payload;
    size_t npayload;
    int family;
    weft_udp_t *a, *b;
    weft_addr_t aa, ba;
    bool a_connected;
    dgram_t q[QMAX];
    size_t qhead, qn, qbytes;
    size_t cursor; /* the next datagram's first payload byte */
} script_t;

/* The payload repeated: datagram bytes from offset off start at
 * rep + off % period. */
static uint8_t rep[BIG + 4096 + 1], recvbuf[BIG + 16];
static size_t period;

static bool same(const weft_addr_t *x, const weft_addr_t *y)
{
    return x->len == y->len && memcmp(&x->ss, &y->ss, x->len) == 0;
}

static void make_rep(const script_t *sc)
{
    period = sc->npayload && sc->npayload <= 4096 ? sc->npayload : 251;
    for (size_t i = 0; i < sizeof rep; i++)
        rep[i] = sc->npayload ? sc->payload[i % sc->npayload] : (uint8_t)i;
}

static const uint8_t *bytes_at(size_t off)
{
    return rep + off % period;
}

/* B receives the oldest datagram into a buffer of `cap` bytes. */
static void receive(script_t *sc, size_t cap, bool want_from)
{
    CHECK(sc->qn > 0);
    dgram_t *d = &sc->q[sc->qhead];
    weft_addr_t from;
    memset(&from, 0x77, sizeof from);
    weft_deadline_t dl;
    CHECK(weft_deadline_push(&dl, WEFT_SEC(5)) == 0);
    ssize_t n = weft_udp_recvfrom(sc->b, cap ? recvbuf : NULL, cap, want_from ? &from : NULL);
    CHECK(weft_deadline_pop(&dl) == 0);
    size_t expect = d->len < cap ? d->len : cap;
    CHECK(n == (ssize_t)expect);
    CHECK(memcmp(recvbuf, bytes_at(d->off), expect) == 0);
    if (want_from)
        CHECK(same(&from, &d->from));
    sc->qhead = (sc->qhead + 1) % QMAX;
    sc->qn--;
    sc->qbytes -= d->len;
}

static void expect_queued(script_t *sc, size_t off, size_t len, const weft_addr_t *from)
{
    CHECK(sc->qn < QMAX);
    dgram_t *d = &sc->q[(sc->qhead + sc->qn) % QMAX];
    d->off = off;
    d->len = len;
    d->from = *from;
    sc->qn++;
    sc->qbytes += len;
}

/* Room for a datagram of len bytes: receive old ones first. */
static void make_room(script_t *sc, size_t len)
{
    while (sc->qn && (sc->qn == QMAX || sc->qbytes + len > QBYTES))
        receive(sc, BIG + 16, true);
}

static size_t dgram_len(uint8_t a)
{
    switch (a & 3) {
    case 0:
        return a >> 2; /* 0..63 */
    case 1:
        return (size_t)a * 97; /* up to ~25 KiB */
    case 2:
        return 65400 + (size_t)(a >> 2) * 3; /* around the limit: 65400..65589 */
    default:
        return a & 4 ? BIG : 1500;
    }
}

/* Sends len payload bytes from `from` to `to` (NULL: the connected peer). */
static void send_one(script_t *sc, weft_udp_t *from, const weft_addr_t *fa, size_t len,
                     const weft_addr_t *to, bool to_b)
{
    make_room(sc, len);
    ssize_t n = weft_udp_sendto(from, len ? bytes_at(sc->cursor) : NULL, len, to);
    if (n >= 0) {
        CHECK((size_t)n == len);
        CHECK(to_b);
        expect_queued(sc, sc->cursor, len, fa);
        sc->cursor += len;
        return;
    }
    /* too big for one datagram, or an address the kernel refuses */
    if (n == -EMSGSIZE)
        CHECK(len > 65000);
    else
        CHECK(n == -EINVAL || n == -EAFNOSUPPORT || n == -EDESTADDRREQ || n == -ENOTCONN ||
              n == -EISCONN);
}

/* B's address with its family and length mangled by a. */
static weft_addr_t mangle(const script_t *sc, uint8_t a)
{
    weft_addr_t m = sc->ba;
    static const int fams[] = {-1, AF_UNSPEC, AF_UNIX, 0x7fff};
    int f = fams[a & 3];
    if (f >= 0)
        m.ss.ss_family = (sa_family_t)f;
    switch ((a >> 2) & 3) {
    case 0:
        break;
    case 1:
        m.len = (socklen_t)(a >> 4); /* too short */
        break;
    case 2:
        m.len = (socklen_t)(sizeof m.ss + (a >> 4)); /* past the storage */
        break;
    default:
        m.len = (socklen_t)(sizeof m.ss);
        break;
    }
    return m;
}

static int run(void *arg, void **result)
{
    script_t *sc = arg;
    (void)result;
    weft_addr_t lo;
    CHECK(weft_addr_parse(&lo, sc->family == AF_INET ? "127.0.0.1" : "::1", 0) == 0);
    if (weft_udp_open(&sc->a, &lo, 0) != 0)
        return 0; /* no IPv6 here */
    CHECK(weft_udp_open(&sc->b, &lo, sc->family) == 0);
    make_rep(sc);
    CHECK(weft_udp_local_addr(sc->a, &sc->aa) == 0);
    CHECK(weft_udp_local_addr(sc->b, &sc->ba) == 0);
    CHECK(weft_udp_fd(sc->b) >= 0);
    int big = 1 << 20;
    setsockopt(weft_udp_fd(sc->b), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);

    for (size_t i = 0; i + 1 < sc->nops; i += 2) {
        uint8_t op = sc->ops[i], a = sc->ops[i + 1];
        switch (op % 9) {
        case 0:
        case 1: /* A to B by address */
            send_one(sc, sc->a, &sc->aa, dgram_len(a), &sc->ba, true);
            break;
        case 2: /* A to the connected peer (B), or nowhere yet */
            send_one(sc, sc->a, &sc->aa, dgram_len(a), NULL, sc->a_connected);
            break;
        case 3:
        case 4: /* B receives into a buffer of some size */
            if (sc->qn) {
                size_t cap = a & 1 ? BIG + 16 : a & 2 ? (size_t)(a >> 2) : (size_t)a * 300;
                receive(sc, cap, a & 4);
            }
            break;
        case 5: { /* A to a mangled address of B */
            weft_addr_t m = mangle(sc, a);
            send_one(sc, sc->a, &sc->aa, dgram_len(op >> 4), &m, true);
            break;
        }
        case 6: { /* connect A to B, or to a mangled address */
            weft_addr_t m = a & 1 ? sc->ba : mangle(sc, a);
            int rc = weft_udp_connect(sc->a, &m);
            if (rc == 0)
                sc->a_connected = true;
            else
                CHECK(rc == -EINVAL || rc == -EAFNOSUPPORT);
            break;
        }
        case 7: { /* a third socket bound to a loopback address from text */
            char text[48];
            size_t n = sc->npayload < sizeof text - 1 ? sc->npayload : sizeof text - 1;
            n = n ? (size_t)a % (n + 1) : 0;
            memcpy(text, sc->payload, n);
            text[n] = '\0';
            weft_addr_t c;
            if (weft_addr_parse(&c, text, 0) != 0 || c.ss.ss_family != sc->family)
                break;
            bool loop = sc->family == AF_INET
                            ? ((uint8_t *)&((struct sockaddr_in *)&c.ss)->sin_addr)[0] == 127
                            : IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&c.ss)->sin6_addr);
            if (!loop)
                break;
            weft_udp_t *u;
            if (weft_udp_open(&u, &c, sc->family) != 0)
                break;
            weft_addr_t ca;
            CHECK(weft_udp_local_addr(u, &ca) == 0);
            send_one(sc, u, &ca, dgram_len(op >> 3), &sc->ba, true);
            CHECK(weft_udp_close(u) == 0);
            break;
        }
        default: /* bad arguments */
            CHECK(weft_udp_sendto(sc->a, NULL, 1 + a, &sc->ba) == -EINVAL);
            CHECK(weft_udp_recvfrom(sc->b, NULL, 1 + a, NULL) == -EINVAL);
            CHECK(weft_udp_connect(sc->a, NULL) == -EINVAL);
            CHECK(weft_yield() == 0);
            break;
        }
    }
    while (sc->qn)
        receive(sc, BIG + 16, true);
    CHECK(weft_udp_close(sc->a) == 0);
    CHECK(weft_udp_close(sc->b) == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    script_t sc = {0};
    sc.family = data[0] & 1 ? AF_INET6 : AF_INET;
    sc.ops = data + 1;
    sc.nops = size - 1 < 2 * MAX_OPS ? size - 1 : 2 * MAX_OPS;
    sc.payload = data + 1 + sc.nops;
    sc.npayload = size - 1 - sc.nops;
    CHECK(weft_run_config(&(weft_config_t){.workers = 1}, run, &sc, NULL) == 0);
    return 0;
}
