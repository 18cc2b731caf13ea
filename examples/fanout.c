/* fanout.c - ten thousand concurrent TCP clients, one task each.
 *
 * Shows the client side: resolve once (weft_getaddrinfo), then one task
 * per connection that connects, sends, reads the echo back and checks it,
 * all written as straight-line code. A task group waits for them all.
 *
 *   ./echo_server 7000 &
 *   ./fanout 127.0.0.1 7000                 10,000 connections, 1 KiB each
 *   ./fanout 127.0.0.1 7000 200 65536       200 connections, 64 KiB each
 *
 * It prints "conns N bytes B seconds S errors E" (B: bytes per
 * connection, S: wall time for the lot) and exits non-zero if any connection failed or got back
 * other bytes than it sent. It first raises its soft limit on open files
 * to the hard limit, since each connection is one.
 */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <weft.h>

typedef struct fanout {
    const char *host, *port;
    long conns;
    size_t bytes;
    weft_addr_t addr;
    atomic_long errors;
} fanout_t;

typedef struct client {
    fanout_t *f;
    long id;
} client_t;

/* The byte at offset i of connection id's message: differs between
 * connections and along each message, so crossed or shifted data shows. */
static unsigned char pattern(long id, size_t i)
{
    return (unsigned char)(id * 31 + i * 7 + (i >> 8));
}

static void fail(fanout_t *f, long id, const char *what, int rc)
{
    /* Report the first few; the count says the rest. */
    if (atomic_fetch_add(&f->errors, 1) < 5)
        fprintf(stderr, "fanout: connection %ld: %s: %s\n", id, what, weft_strerror(rc));
}

static int client(void *arg, void **result)
{
    client_t *c = arg;
    fanout_t *f = c->f;
    weft_stream_t *s = NULL;
    unsigned char *buf = malloc(f->bytes ? f->bytes : 1);
    size_t got = 0;
    int rc;
    (void)result;

    if (!buf) {
        fail(f, c->id, "malloc", -ENOMEM);
        return 0;
    }
    for (size_t i = 0; i < f->bytes; i++)
        buf[i] = pattern(c->id, i);

    rc = weft_addr_connect(&s, &f->addr, NULL);
    if (rc < 0) {
        fail(f, c->id, "connect", rc);
        goto out;
    }
    /* write never suspends: the stream sends in the background while
     * read_exactly waits for the echo. */
    rc = weft_stream_write(s, buf, f->bytes);
    if (rc == 0) {
        memset(buf, 0, f->bytes);
        rc = weft_stream_read_exactly(s, buf, f->bytes, &got);
    }
    if (rc < 0) {
        fail(f, c->id, "echo", rc);
        goto out;
    }
    for (size_t i = 0; i < f->bytes; i++) {
        if (buf[i] != pattern(c->id, i)) {
            fprintf(stderr, "fanout: connection %ld: wrong byte at offset %zu\n", c->id, i);
            atomic_fetch_add(&f->errors, 1);
            goto out;
        }
    }
out:
    if (s)
        weft_stream_close(s);
    free(buf);
    return 0;
}

static int run(void *arg, void **result)
{
    fanout_t *f = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    weft_group_t *g;
    (void)result;

    /* One lookup for all: each connection then connects to the address. */
    int rc = weft_getaddrinfo(f->host, f->port, &hints, &res);
    if (rc < 0) {
        fprintf(stderr, "fanout: %s:%s: %s\n", f->host, f->port, weft_strerror(rc));
        return rc;
    }
    memcpy(&f->addr.ss, res->ai_addr, res->ai_addrlen);
    f->addr.len = res->ai_addrlen;
    freeaddrinfo(res);

    client_t *clients = calloc((size_t)f->conns, sizeof *clients);
    if (!clients || (rc = weft_group_create(&g)) < 0) {
        free(clients);
        fprintf(stderr, "fanout: out of memory\n");
        return -ENOMEM;
    }
    /* Small stacks: a client needs little, and there are many. */
    weft_task_opts_t opts = {.name = "client", .stack_size = 32 * 1024};
    for (long i = 0; i < f->conns; i++) {
        clients[i] = (client_t){.f = f, .id = i};
        rc = weft_group_spawn(g, NULL, client, &clients[i], &opts);
        if (rc < 0) {
            fail(f, i, "spawn", rc);
            break;
        }
    }
    rc = weft_group_wait(g);
    weft_group_destroy(g);
    free(clients);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [CONNS [BYTES]]\n", argv[0]);
        return 2;
    }
    fanout_t f = {.host = argv[1], .port = argv[2], .conns = 10000, .bytes = 1024};
    if (argc > 3)
        f.conns = strtol(argv[3], NULL, 10);
    if (argc > 4)
        f.bytes = (size_t)strtoull(argv[4], NULL, 10);
    if (f.conns < 1) {
        fprintf(stderr, "fanout: CONNS must be at least 1\n");
        return 2;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int64_t start = weft_now();
    int rc = weft_run(run, &f, NULL);
    double seconds = (double)(weft_now() - start) / 1e9;
    long errors = atomic_load(&f.errors);
    printf("conns %ld bytes %zu seconds %.3f errors %ld\n", f.conns, f.bytes, seconds, errors);
    return rc == 0 && errors == 0 ? 0 : 1;
}
