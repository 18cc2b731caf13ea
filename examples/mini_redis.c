/* mini_redis.c - a small Redis-compatible key-value server.
 *
 * Shows a request/response protocol served at full speed: each handler
 * parses every complete command the stream has buffered, in place
 * (weft_stream_peek and examples/proto/resp.h), runs them, and sends all
 * the replies with one write. Pipelining clients (redis-benchmark -P 16)
 * thus cost one read and one write per batch, not per command. A batch
 * stops once its replies pass OUT_HIGH (64 KiB): the handler sends them
 * and waits in weft_stream_drain before it runs the next command, so a
 * client that pipelines and never reads cannot make the server queue a
 * reply per command (the server's cap on queued output, 1 MiB by
 * default, stops a handler that forgets). The
 * streams defer their writes (defer_writes): the loop reads every ready
 * connection first and sends all the replies just before it polls, as
 * redis-server does, so the client finds them together. Under load the
 * loop then naps 50 us rather than block, so that the next requests
 * come together without the clients paying to wake it (docs/design.md,
 * "Streams").
 *
 *   ./mini_redis 6380           (port 0 picks a free one)
 *   redis-cli -p 6380 set greeting hello
 *   redis-cli -p 6380 get greeting
 *   redis-benchmark -p 6380 -t ping,set,get -P 16 -q
 *
 * Commands: PING [msg], ECHO msg, GET key, SET key value [EX s | PX ms]
 * [NX | XX], DEL key..., EXISTS key..., INCR key, and CONFIG GET (which
 * knows only "save" and "appendonly", for redis-benchmark). Keys and
 * values are binary-safe; replies and error texts are Redis's. A command
 * must fit in the stream's buffer (1 MiB here); an expired key is dropped
 * when it is next touched. The table is shared by every worker
 * (WEFT_WORKERS=N), under a mutex that is never held across a suspension.
 * It prints "mini_redis: listening on 127.0.0.1:PORT" once it accepts
 * connections and stops cleanly on SIGINT or SIGTERM.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <weft.h>

#include "proto/resp.h"

#define MAX_COMMAND (1 << 20)
/* Replies one batch may make before the handler stops running commands
 * and drains: a client that pipelines requests and never reads the
 * replies holds about this plus one reply and the stream's high water
 * of the server's memory, not a reply for every command it sent. */
#define OUT_HIGH (64 * 1024)

/* ------------------------------------------------------------------------
 * The table: chained hashing, doubling when it holds as many keys as it
 * has buckets. An entry is one allocation: the key, then room for the
 * value, so a SET that fits overwrites in place.
 * --------------------------------------------------------------------- */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    int64_t expires; /* weft_now() instant; 0: never */
    size_t klen, vlen, vcap;
    char data[]; /* klen key bytes, then vcap bytes of room for the value */
} entry_t;

typedef struct table {
    entry_t **slot;
    size_t mask, count;
    uint64_t seed; /* random, so clients cannot aim keys at one bucket */
    pthread_mutex_t lock;
} table_t;

static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull), w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static int table_init(table_t *t)
{
    t->mask = 1023;
    t->count = 0;
    t->slot = calloc(t->mask + 1, sizeof *t->slot);
    if (getrandom(&t->seed, sizeof t->seed, 0) != sizeof t->seed)
        t->seed = (uint64_t)weft_now();
    pthread_mutex_init(&t->lock, NULL);
    return t->slot ? 0 : -ENOMEM;
}

static void table_free(table_t *t)
{
    for (size_t i = 0; i <= t->mask; i++) {
        for (entry_t *e = t->slot[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->slot);
    pthread_mutex_destroy(&t->lock);
}

static void table_grow(table_t *t)
{
    size_t mask = t->mask * 2 + 1;
    entry_t **slot = calloc(mask + 1, sizeof *slot);
    if (!slot)
        return; /* longer chains, still correct */
    for (size_t i = 0; i <= t->mask; i++) {
        for (entry_t *e = t->slot[i], *next; e; e = next) {
            next = e->next;
            e->next = slot[e->hash & mask];
            slot[e->hash & mask] = e;
        }
    }
    free(t->slot);
    t->slot = slot;
    t->mask = mask;
}

/* Returns the link that points at key's entry, or, if the key is absent,
 * the chain's final NULL link; an expired entry is removed on the way. */
static entry_t **table_find(table_t *t, const resp_arg_t *key, uint64_t h)
{
    entry_t **link = &t->slot[h & t->mask], *e;
    while ((e = *link) != NULL) {
        if (e->hash == h && e->klen == key->len && memcmp(e->data, key->p, key->len) == 0) {
            if (!e->expires || e->expires > weft_now())
                return link;
            /* Expired: drop it and go on to the chain's end, where a new
             * entry for the key would be linked. */
            *link = e->next;
            free(e);
            t->count--;
            continue;
        }
        link = &e->next;
    }
    return link;
}

static entry_t *table_get(table_t *t, const resp_arg_t *key)
{
    return *table_find(t, key, hash_bytes(key->p, key->len, t->seed));
}

/* Stores value under key. Returns the entry, or NULL when out of memory. */
static entry_t *table_set(table_t *t, const resp_arg_t *key, const char *val, size_t vlen,
                          int64_t expires)
{
    uint64_t h = hash_bytes(key->p, key->len, t->seed);
    entry_t **link = table_find(t, key, h), *e = *link;
    if (e && e->vcap < vlen) {
        entry_t *bigger = realloc(e, sizeof *e + e->klen + vlen);
        if (!bigger)
            return NULL;
        e = *link = bigger;
        e->vcap = vlen;
    } else if (!e) {
        e = malloc(sizeof *e + key->len + vlen);
        if (!e)
            return NULL;
        e->next = NULL;
        e->hash = h;
        e->klen = key->len;
        e->vcap = vlen;
        memcpy(e->data, key->p, key->len);
        *link = e;
        if (++t->count > t->mask)
            table_grow(t);
    }
    memcpy(e->data + e->klen, val, vlen);
    e->vlen = vlen;
    e->expires = expires;
    return e;
}

static bool table_del(table_t *t, const resp_arg_t *key)
{
    entry_t **link = table_find(t, key, hash_bytes(key->p, key->len, t->seed)), *e = *link;
    if (!e)
        return false;
    *link = e->next;
    free(e);
    t->count--;
    return true;
}

/* ------------------------------------------------------------------------
 * Replies, gathered in a buffer and written once per batch.
 * --------------------------------------------------------------------- */

typedef struct out {
    weft_stream_t *s;
    int err;
    size_t len;
    size_t batch; /* reply bytes made since the handler last drained */
    char buf[16384];
} out_t;

static void out_add(out_t *o, const void *p, size_t n)
{
    o->batch += n;
    if (o->len + n > sizeof o->buf) {
        if (o->len > 0 && o->err == 0)
            o->err = weft_stream_write(o->s, o->buf, o->len);
        o->len = 0;
        if (n > sizeof o->buf) {
            if (o->err == 0)
                o->err = weft_stream_write(o->s, p, n);
            return;
        }
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}
#define OUT_LIT(o, lit) out_add((o), (lit), sizeof(lit) - 1)

static int out_flush(out_t *o)
{
    if (o->len > 0 && o->err == 0)
        o->err = weft_stream_write(o->s, o->buf, o->len);
    o->len = 0;
    return o->err;
}

/* Writes the decimal form of v after the prefix byte, then CRLF. */
static void out_number(out_t *o, char prefix, long long v)
{
    char tmp[32], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    *--p = '\n';
    *--p = '\r';
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    *--p = prefix;
    out_add(o, p, (size_t)(tmp + sizeof tmp - p));
}

static void out_bulk(out_t *o, const char *p, size_t n)
{
    out_number(o, '$', (long long)n);
    out_add(o, p, n);
    OUT_LIT(o, "\r\n");
}

/* An error reply of one line: CR and LF in text become spaces. */
static void out_error(out_t *o, const char *text, size_t n)
{
    char line[600];
    if (n > sizeof line)
        n = sizeof line;
    for (size_t i = 0; i < n; i++)
        line[i] = text[i] == '\r' || text[i] == '\n' ? ' ' : text[i];
    OUT_LIT(o, "-");
    out_add(o, line, n);
    OUT_LIT(o, "\r\n");
}

static void wrong_args(out_t *o, const char *cmd)
{
    char text[128];
    int n = snprintf(text, sizeof text, "ERR wrong number of arguments for '%s' command", cmd);
    out_error(o, text, (size_t)n);
}

static void unknown_command(out_t *o, const resp_arg_t *argv, int argc)
{
    char text[512];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "ERR unknown command '%.*s', with args beginning with: ",
                                (int)(argv[0].len > 128 ? 128 : argv[0].len), argv[0].p);
    /* Like Redis: quote arguments until about 128 bytes of them are shown. */
    size_t shown = 0;
    for (int i = 1; i < argc && shown < 128 && n < sizeof text; i++) {
        size_t room = 128 - shown, len = argv[i].len < room ? argv[i].len : room;
        int w = snprintf(text + n, sizeof text - n, "'%.*s' ", (int)len, argv[i].p);
        shown += (size_t)w;
        n += (size_t)w;
    }
    out_error(o, text, n < sizeof text ? n : sizeof text - 1);
}

/* ------------------------------------------------------------------------
 * Commands.
 * --------------------------------------------------------------------- */

static bool is(const resp_arg_t *a, const char *upper)
{
    size_t n = strlen(upper);
    if (a->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a->p[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        if (c != upper[i])
            return false;
    }
    return true;
}

/* Redis's strict integer syntax: an optional '-', no '+', no spaces, no
 * leading zeros, within 64 bits. */
static bool parse_ll(const char *p, size_t n, long long *out)
{
    bool neg = n > 0 && p[0] == '-';
    size_t i = neg;
    unsigned long long v = 0, limit = neg ? (unsigned long long)INT64_MAX + 1 : INT64_MAX;
    if (i == n || n - i > 20 || (p[i] == '0' && (n - i > 1 || neg)))
        return false;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0ull - v) : (long long)v;
    return true;
}

static const char NOT_INTEGER[] = "ERR value is not an integer or out of range";
static const char SYNTAX[] = "ERR syntax error";
static const char NO_MEMORY[] = "ERR out of memory";

static void cmd_set(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    int64_t expires = 0;
    bool nx = false, xx = false, have_ttl = false;

    for (int i = 3; i < argc; i++) {
        const resp_arg_t *a = &argv[i];
        if (is(a, "NX") && !xx) {
            nx = true;
        } else if (is(a, "XX") && !nx) {
            xx = true;
        } else if ((is(a, "EX") || is(a, "PX")) && !have_ttl && i + 1 < argc) {
            long long v;
            if (!parse_ll(argv[i + 1].p, argv[i + 1].len, &v)) {
                out_error(o, NOT_INTEGER, sizeof NOT_INTEGER - 1);
                return;
            }
            int64_t unit = is(a, "EX") ? WEFT_SEC(1) : WEFT_MSEC(1), now = weft_now();
            if (v <= 0 || v > (INT64_MAX - now) / unit) {
                const char msg[] = "ERR invalid expire time in 'set' command";
                out_error(o, msg, sizeof msg - 1);
                return;
            }
            expires = now + v * unit;
            have_ttl = true;
            i++;
        } else {
            out_error(o, SYNTAX, sizeof SYNTAX - 1);
            return;
        }
    }
    if (nx || xx) {
        bool exists = table_get(t, &argv[1]) != NULL;
        if (exists != xx) {
            OUT_LIT(o, "$-1\r\n");
            return;
        }
    }
    if (table_set(t, &argv[1], argv[2].p, argv[2].len, expires))
        OUT_LIT(o, "+OK\r\n");
    else
        out_error(o, NO_MEMORY, sizeof NO_MEMORY - 1);
}

static void cmd_incr(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    const resp_arg_t *key = &argv[1];
    entry_t *e = table_get(t, key);
    long long v = 0;
    if (e && !parse_ll(e->data + e->klen, e->vlen, &v)) {
        out_error(o, NOT_INTEGER, sizeof NOT_INTEGER - 1);
        return;
    }
    if (v == INT64_MAX) {
        const char msg[] = "ERR increment or decrement would overflow";
        out_error(o, msg, sizeof msg - 1);
        return;
    }
    v++;
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lld", v);
    /* INCR keeps the key's time to live. */
    if (!table_set(t, key, digits, (size_t)n, e ? e->expires : 0)) {
        out_error(o, NO_MEMORY, sizeof NO_MEMORY - 1);
        return;
    }
    out_number(o, ':', v);
}

static void cmd_config(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    if (argc != 3 || !is(&argv[1], "GET")) {
        out_error(o, SYNTAX, sizeof SYNTAX - 1);
        return;
    }
    if (is(&argv[2], "SAVE"))
        OUT_LIT(o, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    else if (is(&argv[2], "APPENDONLY"))
        OUT_LIT(o, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    else
        OUT_LIT(o, "*0\r\n");
}

/* The command table: name, the argument counts it takes (argv[0]
 * included; max 0 for no upper bound), and what runs it. */
typedef void (*cmd_fn)(table_t *t, out_t *o, const resp_arg_t *argv, int argc);

static void cmd_get(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    entry_t *e = table_get(t, &argv[1]);
    if (e)
        out_bulk(o, e->data + e->klen, e->vlen);
    else
        OUT_LIT(o, "$-1\r\n");
}

static void cmd_ping(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    if (argc == 2)
        out_bulk(o, argv[1].p, argv[1].len);
    else
        OUT_LIT(o, "+PONG\r\n");
}

static void cmd_echo(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    out_bulk(o, argv[1].p, argv[1].len);
}

static void cmd_del(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    long long n = 0;
    for (int i = 1; i < argc; i++)
        n += table_del(t, &argv[i]);
    out_number(o, ':', n);
}

static void cmd_exists(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    long long n = 0;
    for (int i = 1; i < argc; i++)
        n += table_get(t, &argv[i]) != NULL;
    out_number(o, ':', n);
}

static const struct command {
    const char *name, *lower;
    int min, max;
    cmd_fn fn;
} commands[] = {
    /* The benchmarked commands first: the lookup is a linear scan. */
    /* clang-format off */
    {"GET", "get", 2, 2, cmd_get},
    {"SET", "set", 3, 0, cmd_set},
    {"PING", "ping", 1, 2, cmd_ping},
    {"ECHO", "echo", 2, 2, cmd_echo},
    {"DEL", "del", 2, 0, cmd_del},
    {"EXISTS", "exists", 2, 0, cmd_exists},
    {"INCR", "incr", 2, 2, cmd_incr},
    {"CONFIG", "config", 2, 0, cmd_config},
    /* clang-format on */
};

static void execute(table_t *t, out_t *o, const resp_arg_t *argv, int argc)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *c = &commands[i];
        if (!is(&argv[0], c->name))
            continue;
        if (argc < c->min || (c->max && argc > c->max))
            wrong_args(o, c->lower);
        else
            c->fn(t, o, argv, argc);
        return;
    }
    unknown_command(o, argv, argc);
}

/* ------------------------------------------------------------------------
 * The server.
 * --------------------------------------------------------------------- */

static void protocol_error(out_t *o, const char *why)
{
    char text[128];
    int n = snprintf(text, sizeof text, "ERR Protocol error: %s", why);
    out_error(o, text, (size_t)n);
    out_flush(o);
}

static int handle(weft_stream_t *s, void *arg)
{
    table_t *t = arg;
    out_t o = {.s = s, .err = 0, .len = 0};
    resp_arg_t argv[RESP_MAX_ARGS];

    for (;;) {
        const char *data, *err = NULL;
        size_t have = (size_t)weft_stream_peek(s, &data), used = 0;
        int argc;
        long n = resp_parse(data, have, argv, &argc, &err);

        if (n > 0) {
            pthread_mutex_lock(&t->lock);
            do {
                if (argc > 0)
                    execute(t, &o, argv, argc);
                used += (size_t)n;
            } while (o.batch < OUT_HIGH &&
                     (n = resp_parse(data + used, have - used, argv, &argc, &err)) > 0);
            pthread_mutex_unlock(&t->lock);
        }
        if (n < 0) {
            protocol_error(&o, err);
            return 0; /* the server closes the stream after the replies */
        }
        weft_stream_consume(s, used);
        /* above the high-water mark, the rest of the batch waits until the
         * client has taken the replies (drain) */
        bool more = o.batch >= OUT_HIGH;
        o.batch = 0;
        if (out_flush(&o) < 0 || weft_stream_drain(s) < 0)
            return 0;
        if (more)
            continue;

        ssize_t got = weft_stream_fill(s);
        if (got == -EMSGSIZE) {
            weft_stream_peek(s, &data);
            protocol_error(&o, data[0] != '*' ? "too big inline request" : "too big request");
            return 0;
        }
        if (got <= 0)
            return 0; /* the client left (or the server is closing) */
    }
}

static int serve(void *arg, void **result)
{
    const char *port = arg;
    weft_server_t *srv;
    weft_addr_t a;
    char name[64];
    table_t table;
    (void)result;

    if (table_init(&table) < 0) {
        fprintf(stderr, "mini_redis: out of memory\n");
        return -ENOMEM;
    }
    weft_server_opts_t opts = {.stream = {.limit = MAX_COMMAND, .defer_writes = true}};
    /* A client that sends nothing for 10 s after connecting, or takes
     * none of its replies for 60 s, is closed; an idle client may stay
     * 5 minutes (redis-server's own default keeps them for ever). */
    opts.first_bytes_timeout = WEFT_SEC(10);
    opts.idle_timeout = WEFT_SEC(300);
    opts.send_timeout = WEFT_SEC(60);
    int rc = weft_server_listen(&srv, "127.0.0.1", port, handle, &table, &opts);
    if (rc < 0) {
        fprintf(stderr, "mini_redis: listen on port %s: %s\n", port, weft_strerror(rc));
        table_free(&table);
        return rc;
    }
    weft_server_addr(srv, &a);
    weft_addr_format(&a, name, sizeof name);
    printf("mini_redis: listening on %s\n", name);
    fflush(stdout);

    /* until Ctrl-C or SIGTERM; then idle clients (between requests) are
     * closed at once and the others get a second to finish */
    weft_signal_wait_stop(NULL);
    weft_server_close(srv, WEFT_SEC(1));
    table_free(&table);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    return weft_run(serve, argv[1], NULL) == 0 ? 0 : 1;
}
