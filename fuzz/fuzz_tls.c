/* fuzz_tls.c - libFuzzer target for the TLS record path of src/tls.c: its
 * transport (tr_recv, tr_send and their gathering of small writes into
 * one record, close_notify), its BIO over the stream's fd and readiness
 * cache, and its handshake loop and failure reporting.
 *
 * Both ends live in one event loop over a socketpair (an in-memory
 * transport: no network). The first byte picks a mode:
 *   0  raw bytes to a server: the fuzzed bytes, sent in chunks, are a
 *      client's handshake records (weft_tls_wrap as a server);
 *   1  raw bytes to a client: they are the server's (weft_tls_wrap as a
 *      client, with SNI and ALPN);
 *   2+ records after a real handshake between two weft TLS streams: the
 *      server sends the payload as application data (writes and writevs
 *      of a few bytes to over 64 KiB, flushes, yields), may inject the
 *      fuzzed bytes raw into the record stream, and ends with a
 *      close_notify, a shutdown or an abort; the client reads it with a
 *      mix of read, read_line, read_exactly, peek/consume and fill, and
 *      sends a pattern back, read by a second task on the server.
 * Checks: a failed handshake returns a negative errno with a reason
 * (weft_tls_error); every byte the client reads is the next one the
 * server sent (a corrupted record is an error, never data); an error
 * is one a peer can cause (-EPROTO, -ECONNRESET, -EPIPE); and nothing
 * leaks or is touched after it is freed (ASan).
 *
 * The certificate (ECDSA P-256, self-signed) is made at start-up with
 * OpenSSL's API into a temporary folder, removed once the contexts hold
 * it. The client does not verify it: the fuzzer is the peer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <weft.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

#define MAX_SEND (2u << 20) /* application bytes the server sends per input, at most */
#define BACK_PERIOD 251u    /* the client's pattern */

static weft_tls_ctx_t *server_ctx, *client_ctx;

/* ---- the certificate ---- */

static void make_ctxs(void)
{
    char dir[] = "/tmp/weft-fuzz-tls-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cert[64], key[64];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);

    EVP_PKEY *pk = EVP_EC_gen("P-256");
    CHECK(pk);
    X509 *x = X509_new();
    CHECK(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
    X509_set_pubkey(x, pk);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, nm);
    CHECK(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *f = fopen(cert, "w");
    CHECK(f && PEM_write_X509(f, x) == 1);
    fclose(f);
    f = fopen(key, "w");
    CHECK(f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);

    /* Handshakes never wait for their timeout here (every peer ends); a
     * hang is libFuzzer's -timeout to report. A short timeout fired on a
     * starved machine (a 10-minute run at load 30 trapped in records_mode
     * on an input that takes 18 ms alone). */
    weft_tls_opts_t so = {.server = true,
                          .cert_file = cert,
                          .key_file = key,
                          .alpn = "h2,http/1.1",
                          .handshake_timeout = WEFT_SEC(600)};
    CHECK(weft_tls_ctx_create(&server_ctx, &so) == 0);
    weft_tls_opts_t co = {.no_verify = true, .alpn = "http/1.1,h2",
                          .handshake_timeout = WEFT_SEC(600)};
    CHECK(weft_tls_ctx_create(&client_ctx, &co) == 0);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

/* ---- the script ---- */

typedef struct script {
    const uint8_t *ctl;
    size_t nctl;
    const uint8_t *payload;
    size_t npayload;
    size_t limit;
    /* records mode */
    weft_stream_t *srv, *cli;
    size_t sent;   /* application bytes the server's writes accepted */
    size_t got;    /* bytes the client checked */
    size_t back;   /* bytes the client's writes accepted */
    size_t back_got;
    bool injected; /* raw bytes went into the record stream */
    bool aborted;  /* the server aborted: what it queued may be lost */
    bool srv_done;
} script_t;

static uint8_t ctl_at(const script_t *sc, size_t i)
{
    return sc->nctl ? sc->ctl[i % sc->nctl] : 0;
}

static bool peer_error(ssize_t rc)
{
    return rc == -EPROTO || rc == -ECONNRESET || rc == -EPIPE;
}

/* ---- modes 0 and 1: a handshake against raw bytes ---- */

typedef struct raw {
    script_t *sc;
    weft_stream_t *s;
} raw_t;

/* Sends the payload raw, in chunks, then ends its side and reads
 * whatever the TLS end says until it closes. */
static int raw_peer(void *arg, void **result)
{
    raw_t *r = arg;
    script_t *sc = r->sc;
    (void)result;
    size_t off = 0;
    for (size_t i = 0; off < sc->npayload; i++) {
        uint8_t c = ctl_at(sc, i);
        size_t chunk = c >= 0xf0 ? (size_t)(c - 0xef) * 1024 : (size_t)c % 96 + 1;
        if (chunk > sc->npayload - off)
            chunk = sc->npayload - off;
        if (weft_stream_write(r->s, sc->payload + off, chunk) || weft_stream_flush(r->s))
            break;
        off += chunk;
        for (int y = c >> 6; y > 0; y--)
            CHECK(weft_yield() == 0);
    }
    /* the end of the records: the handshake fails now, not at its timeout */
    weft_stream_shutdown(r->s);
    char buf[4096];
    while (weft_stream_read(r->s, buf, sizeof buf) > 0) {
    }
    weft_stream_abort(r->s);
    return 0;
}

static int raw_mode(script_t *sc, bool server)
{
    int sv[2];
    raw_t r = {.sc = sc};
    weft_stream_t *s;
    weft_task_t *t;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(weft_stream_open(&s, sv[0], &(weft_stream_opts_t){.limit = sc->limit}) == 0);
    CHECK(weft_stream_open(&r.s, sv[1], NULL) == 0);
    CHECK(weft_spawn(&t, raw_peer, &r, NULL) == 0);

    int rc = server ? weft_tls_wrap(s, server_ctx, NULL)
                    : weft_tls_wrap(s, client_ctx, (ctl_at(sc, 1) & 1) ? "localhost" : "127.0.0.1");
    if (rc) {
        CHECK(rc < 0 && rc != -ETIMEDOUT);
        const char *why = weft_tls_error(s);
        CHECK(why && *why);
        CHECK(weft_tls_version(s) == NULL);
        /* the error sticks */
        char b[16];
        CHECK(weft_stream_read(s, b, sizeof b) == rc);
    } else {
        /* a handshake the fuzzer completed: read what follows */
        char b[4096];
        ssize_t n;
        while ((n = weft_stream_read(s, b, sizeof b)) > 0) {
        }
        CHECK(n == 0 || peer_error(n));
    }
    weft_stream_abort(s);
    CHECK(weft_await(t, NULL) == 0);
    weft_task_release(t);
    return 0;
}

/* ---- mode 2: records after a real handshake ---- */

/* got[0..n) must be the next n bytes the server sent. */
static void expect(script_t *sc, const void *got, size_t n, bool consume)
{
    const uint8_t *g = got;
    CHECK(sc->got + n <= sc->sent);
    for (size_t i = 0; i < n;) {
        size_t at = (sc->got + i) % sc->npayload, m = sc->npayload - at;
        if (m > n - i)
            m = n - i;
        CHECK(memcmp(g + i, sc->payload + at, m) == 0);
        i += m;
    }
    if (consume)
        sc->got += n;
}

static int hs_server(void *arg, void **result)
{
    script_t *sc = arg;
    (void)result;
    return weft_tls_wrap(sc->srv, server_ctx, NULL);
}

/* On the server: reads the client's pattern until the end. */
static int back_reader(void *arg, void **result)
{
    script_t *sc = arg;
    char buf[8192];
    (void)result;
    for (;;) {
        ssize_t n = weft_stream_read(sc->srv, buf, sizeof buf);
        if (n <= 0) {
            CHECK(n == 0 || peer_error(n) || n == -ECANCELED);
            return 0;
        }
        for (ssize_t i = 0; i < n; i++)
            CHECK((uint8_t)buf[i] == (uint8_t)((sc->back_got + (size_t)i) % BACK_PERIOD));
        sc->back_got += (size_t)n;
        CHECK(sc->back_got <= sc->back);
    }
}

/* Sends n bytes from position sc->sent with writev: the payload repeats,
 * so a piece that wraps is two (or more) iovecs. */
static int send_span(script_t *sc, size_t n)
{
    struct iovec v[16];
    size_t pos = sc->sent, left = n;
    while (left) {
        int k = 0;
        size_t batch = 0;
        while (left && k < 16) {
            size_t at = pos % sc->npayload, m = sc->npayload - at;
            if (m > left)
                m = left;
            v[k++] = (struct iovec){(void *)(sc->payload + at), m};
            pos += m;
            left -= m;
            batch += m;
        }
        int rc = weft_stream_writev(sc->srv, v, k);
        if (rc)
            return rc;
        sc->sent += batch;
    }
    return 0;
}

/* Cancels the back reader before its stream goes away under it. */
static void stop_task(weft_task_t **t)
{
    weft_cancel(*t);
    int rc = weft_await(*t, NULL);
    CHECK(rc == 0 || rc == -ECANCELED);
    weft_task_release(*t);
    *t = NULL;
}
#define stop(t) stop_task(&(t))

static int srv_script(void *arg, void **result)
{
    script_t *sc = arg;
    weft_task_t *br;
    (void)result;
    CHECK(weft_spawn(&br, back_reader, sc, NULL) == 0);
    int err = 0;
    for (size_t i = 0; i + 1 < sc->nctl && !err && !sc->injected && sc->sent < MAX_SEND; i += 2) {
        uint8_t op = sc->ctl[i], a = sc->ctl[i + 1];
        switch (op % 8) {
        case 0:
        case 1: /* a write of a few bytes */
            err = send_span(sc, a % 48u + 1);
            break;
        case 2: /* a larger one, up to past 64 KiB */
            err = send_span(sc, (size_t)a * 300 + 1);
            break;
        case 3:
            err = weft_stream_flush(sc->srv);
            break;
        case 4:
            err = weft_stream_drain(sc->srv);
            break;
        case 5:
        case 6:
            for (int y = a % 3; y >= 0; y--)
                CHECK(weft_yield() == 0);
            break;
        default: /* inject raw bytes into the record stream (rarely) */
            if (a < 32) {
                err = weft_stream_flush(sc->srv);
                if (err)
                    break;
                size_t n = (size_t)a % sc->npayload + 1;
                ssize_t w = send(weft_stream_fd(sc->srv), sc->payload + i % sc->npayload,
                                 n > sc->npayload - i % sc->npayload ? sc->npayload - i % sc->npayload
                                                                       : n,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                (void)w;
                sc->injected = true;
            }
            break;
        }
    }
    if (err)
        CHECK(peer_error(err));
    uint8_t end = ctl_at(sc, sc->nctl ? sc->nctl - 1 : 0);
    if (sc->injected || err || end % 3 == 0) {
        sc->aborted = true;
        sc->srv_done = true;
        stop(br);
        weft_stream_abort(sc->srv);
        sc->srv = NULL;
    } else {
        int rc = end % 3 == 1 ? weft_stream_shutdown(sc->srv) : weft_stream_flush(sc->srv);
        sc->srv_done = true;
        if (rc)
            CHECK(peer_error(rc));
        if (end % 3 == 2) {
            /* close: close_notify, after which the client reads the end */
            stop(br);
            rc = weft_stream_close(sc->srv);
            sc->srv = NULL;
            if (rc)
                CHECK(peer_error(rc));
        }
    }
    if (br) {
        CHECK(weft_await(br, NULL) == 0);
        weft_task_release(br);
    }
    if (sc->srv)
        weft_stream_close(sc->srv);
    sc->srv = NULL;
    return 0;
}

static const struct {
    const char *s;
    size_t n;
} seps[] = {{"\n", 1}, {"\r\n", 2}, {"a", 1}, {"\0\0", 2}};

/* One client read chosen by op: MORE to go on, else 0 at the end or the
 * error. */
#define MORE 1
static ssize_t cli_step(script_t *sc, uint8_t op, uint8_t arg)
{
    weft_stream_t *c = sc->cli;
    const char *data;
    static char buf[70000];
    ssize_t n;
    switch (op % 6) {
    case 0: /* read, small or past 64 KiB */
        n = weft_stream_read(c, buf, arg < 200 ? (size_t)arg + 1 : sizeof buf);
        if (n <= 0)
            return n;
        expect(sc, buf, (size_t)n, true);
        return MORE;
    case 1: { /* read_until */
        size_t k = arg % (sizeof seps / sizeof seps[0]);
        n = weft_stream_read_until(c, seps[k].s, seps[k].n, &data);
        if (n > 0) {
            expect(sc, data, (size_t)n, true);
            return MORE;
        }
        if (n == -EMSGSIZE) {
            /* the over-long line was dropped (through its separator, or
             * as far as the bytes went): those bytes are gone */
            size_t d = weft_stream_overrun_consumed(c);
            CHECK(sc->got + d <= sc->sent);
            sc->got += d;
            ssize_t p = weft_stream_peek(c, &data);
            CHECK(p >= 0);
            expect(sc, data, (size_t)p, false);
            return MORE;
        }
        if (n == -WEFT_EINCOMPLETE) {
            ssize_t p = weft_stream_peek(c, &data);
            CHECK(p >= 0);
            expect(sc, data, (size_t)p, false);
            if (n == -WEFT_EINCOMPLETE) {
                /* the end came: take what is left, then read the end */
                expect(sc, data, (size_t)p, true);
                CHECK(weft_stream_consume(c, (size_t)p) == 0);
            } else {
                size_t m = (size_t)p < 64 ? (size_t)p : 64;
                expect(sc, data, m, true);
                CHECK(weft_stream_consume(c, m) == 0);
            }
            return MORE;
        }
        return n;
    }
    case 2: { /* read_exactly, past the limit too */
        size_t want = (size_t)arg * 277 + 1, got = 0;
        if (want > sizeof buf)
            want = sizeof buf;
        int rc = weft_stream_read_exactly(c, buf, want, &got);
        expect(sc, buf, got, true);
        if (rc == 0)
            return MORE;
        return rc == -WEFT_EINCOMPLETE ? 0 : rc;
    }
    case 3: /* fill, then peek and consume part */
        n = weft_stream_fill(c);
        if (n < 0 && n != -EMSGSIZE)
            return n;
        n = weft_stream_peek(c, &data);
        CHECK(n >= 0);
        expect(sc, data, (size_t)n, false);
        n = n ? arg % (n + 1) : 0;
        expect(sc, data, (size_t)n, true);
        CHECK(weft_stream_consume(c, (size_t)n) == 0);
        if (n == 0 && weft_stream_at_eof(c))
            return 0;
        return MORE;
    case 4: { /* the client writes back: pieces gathered into records */
        char piece[3][700];
        struct iovec v[3];
        int k = arg % 3 + 1;
        for (int j = 0; j < k; j++) {
            size_t len = (size_t)(arg * (j + 3)) % sizeof piece[j];
            for (size_t q = 0; q < len; q++)
                piece[j][q] = (char)((sc->back + q) % BACK_PERIOD);
            v[j] = (struct iovec){piece[j], len};
            sc->back += len;
        }
        int rc = weft_stream_writev(c, v, k);
        if (rc) {
            for (int j = 0; j < k; j++)
                sc->back -= v[j].iov_len;
            CHECK(peer_error(rc));
        }
        return MORE;
    }
    default:
        CHECK(weft_yield() == 0);
        return MORE;
    }
}

static int records_mode(script_t *sc)
{
    int sv[2];
    weft_task_t *hs, *srv;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(weft_stream_open(&sc->cli, sv[0], &(weft_stream_opts_t){.limit = sc->limit}) == 0);
    CHECK(weft_stream_open(&sc->srv, sv[1], NULL) == 0);
    CHECK(weft_spawn(&hs, hs_server, sc, NULL) == 0);
    CHECK(weft_tls_wrap(sc->cli, client_ctx, "localhost") == 0);
    CHECK(weft_await(hs, NULL) == 0);
    weft_task_release(hs);
    CHECK(weft_tls_alpn(sc->cli) && strcmp(weft_tls_alpn(sc->cli), "h2") == 0);
    CHECK(weft_stream_is_tls(sc->cli));

    CHECK(weft_spawn(&srv, srv_script, sc, NULL) == 0);
    ssize_t end = MORE;
    for (size_t i = 0; end == MORE; i++) {
        uint8_t op = ctl_at(sc, sc->nctl ? sc->nctl - 1 - i % sc->nctl : 0);
        end = cli_step(sc, (uint8_t)(op ^ (op >> 3)) ^ (uint8_t)(i / (sc->nctl ? sc->nctl : 1)),
                       ctl_at(sc, i * 5 + 1));
    }
    if (end == 0) {
        /* the end: everything sent, unless the server aborted */
        CHECK(sc->srv_done);
        CHECK(sc->aborted || sc->got == sc->sent);
    } else {
        CHECK(peer_error(end));
        CHECK(sc->aborted);
        CHECK(weft_tls_error(sc->cli) != NULL);
    }
    int rc = weft_stream_close(sc->cli);
    if (rc)
        CHECK(peer_error(rc) || rc == end);
    sc->cli = NULL;
    CHECK(weft_await(srv, NULL) == 0);
    weft_task_release(srv);
    return 0;
}

typedef struct input {
    script_t sc;
    int mode;
} input_t;

static int entry(void *arg, void **result)
{
    input_t *in = arg;
    (void)result;
    if (in->mode == 0)
        return raw_mode(&in->sc, true);
    if (in->mode == 1)
        return raw_mode(&in->sc, false);
    return records_mode(&in->sc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_ctxs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    input_t in = {0};
    in.mode = data[0] % 4 < 2 ? data[0] % 4 : 2;
    in.sc.limit = 64 + (size_t)data[1] * 512;
    size_t nctl = data[2] < size - 3 ? data[2] : size - 3;
    in.sc.ctl = data + 3;
    in.sc.nctl = nctl;
    in.sc.payload = data + 3 + nctl;
    in.sc.npayload = size - 3 - nctl;
    if (in.mode == 2 && in.sc.npayload == 0)
        return 0;
    CHECK(weft_run_config(&(weft_config_t){.workers = 1}, entry, &in, NULL) == 0);
    return 0;
}
