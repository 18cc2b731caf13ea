/* tls.c - TLS over weft's buffered streams, through OpenSSL.
 *
 * Owns: weft_tls_ctx_t (an SSL_CTX plus what weft adds: the ALPN list in
 * wire format, the handshake timeout, the user's SNI callback, a
 * reference count shared by the streams that use it, atomic because
 * workers share contexts), and per TLS stream one `tls` record: its SSL,
 * its BIO, the reason text of its last failure, and a scratch buffer for
 * gathering small writes into one record.
 *
 * How it sits on streams: a TLS stream is an ordinary weft stream whose
 * reads and writes go through a transport (stream.h) instead of the fd's
 * own calls. The transport calls SSL_read / SSL_write; OpenSSL reaches the
 * socket through a BIO of our own whose read and write use recv/send
 * (MSG_NOSIGNAL) and keep the fd's readiness cache (io.c) the way the
 * plain path does: a short read or write means the kernel had no more
 * room or data, EAGAIN clears the readiness, and a BIO asked to read or
 * write while the cache says "not ready" answers "retry" without a
 * system call. SSL_ERROR_WANT_READ / WANT_WRITE become the stream's
 * "wait until readable / writable", so a TLS stream parks on its fd
 * exactly as a plain one does (loop.h's protocol, in io.c).
 *
 * Writes: each SSL_write takes at most one record (16 KiB). After a
 * WANT_WRITE OpenSSL holds that record half sent and must be called again
 * with at least as many bytes, the same ones first (the stream queues
 * what was not taken, so they are); `pend` remembers that length and
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets the bytes come from the
 * stream's ring instead of the caller's buffer.
 *
 * Errors: negative errno values, plus text. -EPROTO for a protocol
 * failure (a peer speaking plain text, an alert, a bad record),
 * -WEFT_ECERT when the peer's certificate did not verify (the text is
 * OpenSSL's verify error: "certificate has expired", "hostname
 * mismatch", ...), -ECONNRESET when the peer left mid-handshake, the
 * socket's own -errno, -ETIMEDOUT / -ECANCELED from the task. The text is
 * kept per stream (weft_tls_error) and per thread (weft_tls_last_error,
 * for weft_tls_connect, whose stream is gone on failure).
 *
 * No session resumption: servers send no tickets and keep no session
 * cache, clients offer none; every handshake is a full one.
 */
#include "stream.h"
#include "io.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WEFT__TLS_WHY 200      /* reason text, bytes */
#define WEFT__TLS_RECORD 16384 /* plaintext per SSL_write */
#define WEFT__TLS_HS_TIMEOUT_DEFAULT WEFT_SEC(30)

static _Thread_local char last_why[WEFT__TLS_WHY];

static void why_set(char *dst, const char *a, const char *b)
{
    snprintf(dst, WEFT__TLS_WHY, "%s%s%s", a, b && *b ? ": " : "", b ? b : "");
}

const char *weft_tls_last_error(void)
{
    return last_why;
}

#if WEFT_HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>

struct weft_tls_ctx {
    SSL_CTX *ssl;
    atomic_uint refs;
    bool server;
    bool verify; /* a client checks the server's name */
    int64_t hs_timeout;
    unsigned char *alpn; /* wire format: length-prefixed names */
    unsigned alpn_len;
    weft_tls_ctx_t *(*sni)(const char *name, void *arg);
    void *sni_arg;
};

typedef struct tls {
    SSL *ssl;
    weft_tls_ctx_t *ctx;
    weft__io_t *io;
    unsigned char *scratch; /* WEFT__TLS_RECORD bytes, for gathering */
    size_t pend;            /* an SSL_write to repeat with at least this many bytes */
    int sys_err;            /* errno of the BIO's last failed system call */
    bool failed;            /* no close_notify after a failure */
    char alpn[64];
    char why[WEFT__TLS_WHY];
} tls_t;

static void ctx_unref(weft_tls_ctx_t *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        SSL_CTX_free(c->ssl);
        free(c->alpn);
        free(c);
    }
}

/* ---- the BIO: recv/send on the stream's fd, through its readiness cache ---- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *b, char *buf, int len)
{
    tls_t *t = BIO_get_data(b);
    weft__io_t *io = t->io;
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (!(io->ready & WEFT__EV_IN)) {
        BIO_set_retry_read(b);
        return -1;
    }
    for (;;) {
        ssize_t r = recv(io->bio.fd, buf, (size_t)len, 0);
        if (r > 0) {
            /* short: the kernel had no more (as stream.c's plain read) */
            if (r < len && !(io->ready & WEFT__EV_RDHUP))
                weft__io_clear(io, WEFT__EV_IN);
            return (int)r;
        }
        if (r == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            weft__io_clear(io, WEFT__EV_IN);
            BIO_set_retry_read(b);
        } else {
            t->sys_err = errno;
        }
        return -1;
    }
}

static int bio_write(BIO *b, const char *buf, int len)
{
    tls_t *t = BIO_get_data(b);
    weft__io_t *io = t->io;
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (!(io->ready & WEFT__EV_OUT)) {
        BIO_set_retry_write(b);
        return -1;
    }
    for (;;) {
        ssize_t r = send(io->bio.fd, buf, (size_t)len, MSG_NOSIGNAL);
        if (r >= 0) {
            if (r < len)
                weft__io_clear(io, WEFT__EV_OUT); /* the kernel is full */
            return (int)r;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            weft__io_clear(io, WEFT__EV_OUT);
            BIO_set_retry_write(b);
        } else {
            t->sys_err = errno;
        }
        return -1;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
        return 1;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int bio_destroy(BIO *b)
{
    (void)b;
    return 1;
}

static void bio_setup(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft");
    if (m && BIO_meth_set_read(m, bio_read) && BIO_meth_set_write(m, bio_write) &&
        BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create) &&
        BIO_meth_set_destroy(m, bio_destroy))
        bio_method = m;
    else if (m)
        BIO_meth_free(m);
}

/* ---- errors ---- */

/* Records why t failed (also as the thread's last error); returns rc. */
static int fail_text(tls_t *t, int rc, const char *a, const char *b)
{
    why_set(t->why, a, b);
    memcpy(last_why, t->why, sizeof last_why);
    t->failed = true;
    return rc;
}

/* The status and text of an SSL call that failed with SSL_get_error's
 * `e`, in the handshake (hs) or after it. WANT_* are not failures. */
static int ssl_fail(tls_t *t, int e, bool hs)
{
    const char *what = hs ? "TLS handshake failed" : "TLS error";
    if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
        int se = t->sys_err;
        ERR_clear_error();
        if (se)
            return fail_text(t, -se, what, strerror(se));
        return fail_text(t, -ECONNRESET, what, "the peer closed the connection");
    }
    unsigned long err = ERR_peek_last_error();
    long vr = SSL_get_verify_result(t->ssl);
    int rc = -EPROTO;
    char buf[WEFT__TLS_WHY];
    const char *why;
    if (ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
        vr != X509_V_OK) {
        rc = -WEFT_ECERT;
        why = X509_verify_cert_error_string(vr);
    } else if (ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST) {
        why = "the peer spoke plain HTTP, not TLS";
    } else if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
               ERR_GET_REASON(err) == SSL_R_WRONG_VERSION_NUMBER) {
        why = "wrong version number (is the peer speaking TLS?)";
    } else if (err) {
        const char *r = ERR_reason_error_string(err);
        if (r) {
            why = r;
        } else {
            ERR_error_string_n(err, buf, sizeof buf);
            why = buf;
        }
    } else {
        why = "protocol error";
    }
    fail_text(t, rc, what, why);
    ERR_clear_error();
    return rc;
}

/* ---- the transport ---- */

static ssize_t tr_recv(void *ctx, char *p, size_t n)
{
    tls_t *t = ctx;
    ERR_clear_error();
    t->sys_err = 0;
    int r = SSL_read(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return WEFT__TR_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return WEFT__TR_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return 0; /* close_notify (or an end without one: IGNORE_UNEXPECTED_EOF) */
    case SSL_ERROR_SYSCALL:
        if (!t->sys_err)
            return 0;
        /* fall through */
    default:
        return ssl_fail(t, e, false);
    }
}

static ssize_t tr_send(void *ctx, const struct iovec *v, int k)
{
    tls_t *t = ctx;
    size_t total = 0;
    for (int i = 0; i < k && total < WEFT__TLS_RECORD; i++)
        total += v[i].iov_len;
    size_t len = total < WEFT__TLS_RECORD ? total : WEFT__TLS_RECORD;
    const void *buf = v[0].iov_base;
    if (v[0].iov_len < len) {
        /* several small pieces (or a ring that wraps): one record */
        if (!t->scratch && !(t->scratch = malloc(WEFT__TLS_RECORD)))
            return -ENOMEM;
        size_t at = 0;
        for (int i = 0; i < k && at < len; i++) {
            size_t m = v[i].iov_len < len - at ? v[i].iov_len : len - at;
            memcpy(t->scratch + at, v[i].iov_base, m);
            at += m;
        }
        buf = t->scratch;
    }
    ERR_clear_error();
    t->sys_err = 0;
    int r = SSL_write(t->ssl, buf, (int)len);
    if (r > 0) {
        t->pend = 0;
        return r;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        if (len > t->pend)
            t->pend = len;
        return e == SSL_ERROR_WANT_WRITE ? WEFT__TR_WANT_WRITE : WEFT__TR_WANT_READ;
    }
    if (e == SSL_ERROR_SYSCALL && !t->sys_err)
        t->sys_err = EPIPE;
    return ssl_fail(t, e, false);
}

static int tr_close_notify(void *ctx)
{
    tls_t *t = ctx;
    if (t->failed || (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN && !SSL_want_write(t->ssl)))
        return 0;
    ERR_clear_error();
    t->sys_err = 0;
    int r = SSL_shutdown(t->ssl);
    if (r >= 0)
        return 0;
    int e = SSL_get_error(t->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_WRITE)
        return WEFT__TR_WANT_WRITE;
    return 0; /* the peer is gone or the session broken: nothing to say goodbye to */
}

static void tr_free(void *ctx)
{
    tls_t *t = ctx;
    SSL_free(t->ssl);
    ctx_unref(t->ctx);
    free(t->scratch);
    free(t);
}

static const weft__transport_t tls_transport = {
    .recv = tr_recv, .send = tr_send, .close_notify = tr_close_notify, .free = tr_free};

/* ---- contexts ---- */

/* "h2,http/1.1" in wire format into c->alpn. 0 or -EINVAL / -ENOMEM. */
static int alpn_parse(weft_tls_ctx_t *c, const char *list)
{
    size_t n = strlen(list);
    if (!n || n > 1024)
        return -EINVAL;
    unsigned char *w = malloc(n + 1);
    if (!w)
        return -ENOMEM;
    size_t at = 0;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len > 255) {
            free(w);
            return -EINVAL;
        }
        w[at++] = (unsigned char)len;
        memcpy(w + at, p, len);
        at += len;
        if (!e)
            break;
        p = e + 1;
    }
    c->alpn = w;
    c->alpn_len = (unsigned)at;
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    weft_tls_ctx_t *c = arg;
    unsigned char *o;
    if (SSL_select_next_proto(&o, outlen, c->alpn, c->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301: no_application_protocol */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* SNI on a server: the user's choice of context for the name asked for. */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    weft_tls_ctx_t *c = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    weft_tls_ctx_t *other = c->sni(name, c->sni_arg);
    if (other && other != c && other->server && !SSL_set_SSL_CTX(ssl, other->ssl))
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

/* A PEM file OpenSSL is about to read: -errno if it cannot be read. */
static int readable(const char *path)
{
    if (access(path, R_OK) < 0) {
        int e = errno;
        why_set(last_why, path, strerror(e));
        return -e;
    }
    return 0;
}

static int ctx_error(const char *what)
{
    unsigned long err = ERR_peek_last_error();
    const char *r = err ? ERR_reason_error_string(err) : NULL;
    why_set(last_why, what, r ? r : "failed");
    ERR_clear_error();
    return -EINVAL;
}

int weft_tls_ctx_create(weft_tls_ctx_t **out, const weft_tls_opts_t *o)
{
    last_why[0] = '\0';
    if (!out)
        return -EINVAL;
    *out = NULL;
    weft_tls_opts_t def = {0};
    if (!o)
        o = &def;
    if (o->handshake_timeout < 0 || (o->server && (!o->cert_file || !*o->cert_file)) ||
        (o->key_file && !o->cert_file) || (o->verify_client && !o->server) ||
        (o->verify_client && !o->ca_file && !o->ca_path) || (o->sni && !o->server)) {
        why_set(last_why, "bad TLS options", NULL);
        return -EINVAL;
    }
    int rc;
    if ((o->cert_file && (rc = readable(o->cert_file))) ||
        (o->key_file && (rc = readable(o->key_file))) ||
        (o->ca_file && (rc = readable(o->ca_file))) || (o->ca_path && (rc = readable(o->ca_path))))
        return rc;
    pthread_once(&bio_once, bio_setup);
    if (!bio_method)
        return -ENOMEM;
    weft_tls_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    atomic_init(&c->refs, 1);
    c->server = o->server;
    c->verify = !o->server && !o->no_verify;
    c->hs_timeout = o->handshake_timeout ? o->handshake_timeout : WEFT__TLS_HS_TIMEOUT_DEFAULT;
    ERR_clear_error();
    c->ssl = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl) {
        free(c);
        return -ENOMEM;
    }
    SSL_CTX *s = c->ssl;
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_clear_mode(s, SSL_MODE_AUTO_RETRY);
    SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF /* OpenSSL 3: an end without close_notify reads as the end */
    SSL_CTX_set_options(s, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(s, 1);
    if (o->server) {
        SSL_CTX_set_num_tickets(s, 0);
        /* AES-128-GCM first (as Go and BoringSSL do): as safe, and its
         * SHA-256 key schedule and cipher cost less than AES-256's */
        SSL_CTX_set_ciphersuites(s, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                    "TLS_CHACHA20_POLY1305_SHA256");
        SSL_CTX_set_options(s, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    rc = 0;
    if (o->cert_file) {
        const char *key = o->key_file ? o->key_file : o->cert_file;
        if (SSL_CTX_use_certificate_chain_file(s, o->cert_file) != 1)
            rc = ctx_error(o->cert_file);
        else if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1)
            rc = ctx_error(key);
        else if (SSL_CTX_check_private_key(s) != 1)
            rc = ctx_error("the key does not match the certificate");
    }
    if (!rc && (o->ca_file || o->ca_path)) {
        if (SSL_CTX_load_verify_locations(s, o->ca_file, o->ca_path) != 1)
            rc = ctx_error(o->ca_file ? o->ca_file : o->ca_path);
    } else if (!rc && c->verify && SSL_CTX_set_default_verify_paths(s) != 1) {
        rc = ctx_error("the system's certificate store");
    }
    if (!rc) {
        if (c->verify)
            SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
        else if (o->verify_client)
            SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        else
            SSL_CTX_set_verify(s, SSL_VERIFY_NONE, NULL);
    }
    if (!rc && o->alpn) {
        rc = alpn_parse(c, o->alpn);
        if (rc == -EINVAL)
            why_set(last_why, "bad ALPN list", o->alpn);
        else if (!rc && !o->server && SSL_CTX_set_alpn_protos(s, c->alpn, c->alpn_len) != 0)
            rc = -ENOMEM;
        else if (!rc && o->server)
            SSL_CTX_set_alpn_select_cb(s, alpn_select, c);
    }
    if (!rc && o->sni) {
        c->sni = o->sni;
        c->sni_arg = o->sni_arg;
        SSL_CTX_set_tlsext_servername_callback(s, sni_select);
        SSL_CTX_set_tlsext_servername_arg(s, c);
    }
    if (rc) {
        ctx_unref(c);
        return rc;
    }
    *out = c;
    return 0;
}

int weft_tls_ctx_release(weft_tls_ctx_t *c)
{
    if (!c)
        return -EINVAL;
    ctx_unref(c);
    return 0;
}

/* ---- handshakes ---- */

static bool is_ip(const char *name)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* Sets up t's SSL for s. 0 or -errno (text in last_why). */
static int tls_setup(tls_t *t, weft_tls_ctx_t *c, weft_stream_t *s, const char *name)
{
    t->io = weft__stream_io(s);
    t->ssl = SSL_new(c->ssl);
    BIO *b = t->ssl ? BIO_new(bio_method) : NULL;
    if (!b)
        return -ENOMEM;
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    if (c->server) {
        SSL_set_accept_state(t->ssl);
        return 0;
    }
    SSL_set_connect_state(t->ssl);
    if (!name)
        return 0;
    bool ip = is_ip(name);
    if (!ip && SSL_set_tlsext_host_name(t->ssl, name) != 1)
        return -EINVAL;
    if (c->verify) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        if (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1 : SSL_set1_host(t->ssl, name) != 1)
            return -EINVAL;
        if (!ip)
            X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    return 0;
}

int weft_tls_wrap(weft_stream_t *s, weft_tls_ctx_t *c, const char *server_name)
{
    last_why[0] = '\0';
    if (!s || !c || (server_name && !*server_name))
        return -EINVAL;
    int fd = weft__stream_fd(s, "weft_tls_wrap"); /* -EBADF: closed, or stale */
    if (fd < 0)
        return fd;
    if (weft__stream_transport(s, &tls_transport))
        return -EINVAL;
    if (weft__stream_is_file(s)) {
        why_set(last_why, "TLS needs a socket or a pipe, not a file", NULL);
        return -ENOTSOCK;
    }
    if (!c->server && c->verify && !server_name) {
        why_set(last_why, "verification needs the server's name", NULL);
        return -EINVAL;
    }
    if (!weft__task())
        return -WEFT_ENOTASK;
    int rc = weft_stream_flush(s);
    if (rc)
        return rc;
    if (weft__stream_buffered(s))
        return -EINVAL; /* bytes read past the plain part: they belong to TLS */
    tls_t *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    t->ctx = c;
    ERR_clear_error();
    rc = tls_setup(t, c, s, server_name);
    if (rc) {
        ERR_clear_error();
        tr_free(t);
        return rc;
    }
    weft__stream_set_transport(s, &tls_transport, t);

    weft_deadline_t d;
    bool scoped = c->hs_timeout != WEFT_FOREVER && weft_deadline_push(&d, c->hs_timeout) == 0;
    for (;;) {
        ERR_clear_error();
        t->sys_err = 0;
        int r = SSL_do_handshake(t->ssl);
        if (r == 1) {
            rc = 0;
            break;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            rc = ssl_fail(t, e, true);
            break;
        }
        rc = weft__stream_wait(s, e == SSL_ERROR_WANT_READ ? WEFT__EV_IN : WEFT__EV_OUT);
        if (rc == -EBADF) {
            /* closed by another task meanwhile: s and t may be gone */
            if (scoped)
                weft_deadline_pop(&d);
            why_set(last_why, "TLS handshake failed", "the stream was closed");
            return rc;
        }
        if (rc) {
            fail_text(t, rc, "TLS handshake failed",
                      rc == -ETIMEDOUT   ? "timed out"
                      : rc == -ECANCELED ? "cancelled"
                                         : strerror(-rc));
            break;
        }
    }
    if (scoped)
        weft_deadline_pop(&d);
    if (rc) {
        weft__stream_fail(s, rc);
        return rc;
    }
    const unsigned char *a;
    unsigned alen;
    SSL_get0_alpn_selected(t->ssl, &a, &alen);
    if (a && alen < sizeof t->alpn) {
        memcpy(t->alpn, a, alen);
        t->alpn[alen] = '\0';
    }
    return 0;
}

int weft_tls_connect(weft_stream_t **s, const char *host, const char *port, weft_tls_ctx_t *c,
                     const weft_stream_opts_t *opts)
{
    last_why[0] = '\0';
    if (s)
        *s = NULL;
    if (!s || !host || !*host || !port || !*port || !c || c->server)
        return -EINVAL;
    weft_stream_t *x;
    int rc = weft_tcp_connect(&x, host, port, opts);
    if (rc) {
        why_set(last_why, "connect failed", weft_strerror(rc));
        return rc;
    }
    rc = weft_tls_wrap(x, c, host);
    if (rc) {
        if (rc != -EBADF)
            weft_stream_abort(x);
        return rc;
    }
    *s = x;
    return 0;
}

/* ---- what a TLS stream tells ---- */

/* s's TLS state, or NULL: not TLS, or a stale stream (told: weft__stale). */
static tls_t *tls_of(const weft_stream_t *s, const char *call)
{
    if (s && !weft__stream_live(s)) {
        weft__stale("stream", s, call);
        return NULL;
    }
    return weft__stream_transport(s, &tls_transport);
}

const char *weft_tls_error(const weft_stream_t *s)
{
    tls_t *t = tls_of(s, "weft_tls_error");
    return t ? t->why : NULL;
}

const char *weft_tls_alpn(const weft_stream_t *s)
{
    tls_t *t = tls_of(s, "weft_tls_alpn");
    return t && t->alpn[0] ? t->alpn : NULL;
}

const char *weft_tls_server_name(const weft_stream_t *s)
{
    tls_t *t = tls_of(s, "weft_tls_server_name");
    return t ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

const char *weft_tls_version(const weft_stream_t *s)
{
    tls_t *t = tls_of(s, "weft_tls_version");
    return t && !t->failed ? SSL_get_version(t->ssl) : NULL;
}

bool weft_stream_is_tls(const weft_stream_t *s)
{
    return tls_of(s, "weft_stream_is_tls") != NULL;
}

#else /* !WEFT_HAVE_OPENSSL: every call says TLS is not there */

static int no_tls(void)
{
    why_set(last_why, "weft was built without OpenSSL", NULL);
    return -ENOTSUP;
}

int weft_tls_ctx_create(weft_tls_ctx_t **out, const weft_tls_opts_t *o)
{
    (void)o;
    if (out)
        *out = NULL;
    return out ? no_tls() : -EINVAL;
}

int weft_tls_ctx_release(weft_tls_ctx_t *c)
{
    (void)c;
    return -EINVAL;
}

int weft_tls_wrap(weft_stream_t *s, weft_tls_ctx_t *c, const char *server_name)
{
    (void)server_name;
    return s && c ? no_tls() : -EINVAL;
}

int weft_tls_connect(weft_stream_t **s, const char *host, const char *port, weft_tls_ctx_t *c,
                     const weft_stream_opts_t *opts)
{
    (void)host;
    (void)port;
    (void)opts;
    if (s)
        *s = NULL;
    return s && c ? no_tls() : -EINVAL;
}

const char *weft_tls_error(const weft_stream_t *s)
{
    (void)s;
    return NULL;
}

const char *weft_tls_alpn(const weft_stream_t *s)
{
    (void)s;
    return NULL;
}

const char *weft_tls_server_name(const weft_stream_t *s)
{
    (void)s;
    return NULL;
}

const char *weft_tls_version(const weft_stream_t *s)
{
    (void)s;
    return NULL;
}

bool weft_stream_is_tls(const weft_stream_t *s)
{
    (void)s;
    return false;
}

#endif
