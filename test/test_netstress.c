/* test_netstress.c - reliability under load: 10,000 TCP connections open
 * at once (scaled by WEFT_TEST_SCALE; fewer, with a note, when the hard
 * RLIMIT_NOFILE is too low) between this process (the clients) and a
 * server process (helper_netstress, an echo weft_server). Both raise
 * their soft fd limit to the hard one.
 *
 * Each connection sends a few chunks of random size from its own seeded
 * PRNG stream and reads each back, compared byte for byte; every
 * connection waits, after its first echo, until all are connected, so
 * they really are open together (the server reports the peak it saw).
 * Then it ends its side and expects the server's end. Two rounds: after
 * each the server reports its open fds and allocated bytes; the second
 * round must leave them where the first did (nothing per connection
 * leaks), and after closing the server its fds are back where they
 * started.
 *
 * Covers: src/net.c, src/server.c (with src/stream.c under them).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Connections in the kernel's accept queue at most: keeps the server's
 * backlog from overflowing (a dropped SYN costs a second). */
#define GATE 512
#define MAXCHUNK 4096

typedef struct {
    weft_addr_t la;
    int n, round;
    weft_sem_t *gate;
    weft_event_t *all;
    int arrived;
    uint64_t sent, verified;
} ctx_t;

typedef struct {
    ctx_t *x;
    int idx;
    int rc;
} cl_t;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void arrive(ctx_t *x, bool *gated)
{
    if (*gated) {
        weft_sem_release(x->gate);
        *gated = false;
    }
    if (++x->arrived == x->n)
        weft_event_set(x->all);
}

static int client(void *arg, void **res)
{
    cl_t *c = arg;
    ctx_t *x = c->x;
    uint64_t seed = (uint64_t)x->round * 1000003u + (uint64_t)c->idx;
    char out[MAXCHUNK], in[MAXCHUNK];
    bool gated = false, arrived = false;
    weft_stream_t *s = NULL;
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(90));

    int rc = weft_sem_acquire(x->gate);
    if (rc < 0)
        goto out;
    gated = true;
    if ((rc = weft_addr_connect(&s, &x->la, NULL)) < 0)
        goto out;
    int chunks = 2 + (int)(splitmix(&seed) % 3);
    for (int k = 0; k < chunks; k++) {
        size_t len = 1 + splitmix(&seed) % MAXCHUNK;
        for (size_t i = 0; i < len; i += 8) {
            uint64_t v = splitmix(&seed);
            memcpy(out + i, &v, len - i < 8 ? len - i : 8);
        }
        if ((rc = weft_stream_write(s, out, len)) < 0)
            goto out;
        x->sent += len;
        size_t got = 0;
        if ((rc = weft_stream_read_exactly(s, in, len, &got)) < 0)
            goto out;
        if (memcmp(in, out, len) != 0) {
            rc = -EPROTO;
            goto out;
        }
        x->verified += len;
        if (k == 0) {
            /* all connections open at once before any goes on */
            arrive(x, &gated);
            arrived = true;
            if ((rc = weft_event_wait(x->all)) < 0)
                goto out;
        }
    }
    /* our end, then the server's */
    if ((rc = weft_stream_shutdown(s)) < 0)
        goto out;
    ssize_t r = weft_stream_read(s, in, sizeof in);
    rc = r == 0 ? 0 : r < 0 ? (int)r : -EPROTO;
out:
    if (!arrived)
        arrive(x, &gated);
    if (s)
        weft_stream_close(s);
    weft_deadline_pop(&d);
    c->rc = rc;
    return 0;
}

static void round_of(ctx_t *x)
{
    x->arrived = 0;
    assert_int_equal(weft_sem_create(&x->gate, GATE, 0), 0);
    assert_int_equal(weft_event_create(&x->all), 0);
    cl_t *c = calloc((size_t)x->n, sizeof *c);
    weft_task_t **t = calloc((size_t)x->n, sizeof *t);
    assert_non_null(c);
    assert_non_null(t);
    weft_task_opts_t o = {.stack_size = 64 * 1024};
    for (int i = 0; i < x->n; i++) {
        c[i] = (cl_t){.x = x, .idx = i, .rc = 1};
        assert_int_equal(weft_spawn(&t[i], client, &c[i], &o), 0);
    }
    assert_int_equal(weft_gather(t, (size_t)x->n, NULL, NULL, WEFT_GATHER_COLLECT), 0);
    int bad = 0;
    for (int i = 0; i < x->n; i++) {
        if (c[i].rc != 0 && bad++ < 5)
            fprintf(stderr, "connection %d: %s\n", i, weft_strerror(c[i].rc));
        weft_task_release(t[i]);
    }
    assert_int_equal(bad, 0);
    assert_true(x->sent > 0);
    assert_true(x->sent == x->verified);
    weft_sem_destroy(x->gate);
    weft_event_destroy(x->all);
    free(c);
    free(t);
}

typedef struct {
    int to_child, from_child;
    int n;
} proc_t;

static void command(weft_stream_t *out, const char *cmd)
{
    assert_int_equal(weft_stream_write(out, cmd, strlen(cmd)), 0);
    assert_int_equal(weft_stream_flush(out), 0);
}

static const char *reply(weft_stream_t *in)
{
    static char line[256];
    const char *p;
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(60));
    ssize_t n = weft_stream_read_line(in, &p);
    weft_deadline_pop(&d);
    assert_true(n > 0 && (size_t)n < sizeof line);
    memcpy(line, p, (size_t)n);
    line[n] = '\0';
    return line;
}

static int t_stress(void *arg, void **res)
{
    proc_t *p = arg;
    weft_stream_t *in, *out;
    assert_int_equal(weft_stream_open(&out, p->to_child, NULL), 0);
    assert_int_equal(weft_stream_open(&in, p->from_child, NULL), 0);

    int port;
    long fds0, fds[2];
    long long mem0, mem[2];
    assert_int_equal(sscanf(reply(in), "port %d fds %ld mem %lld", &port, &fds0, &mem0), 3);
    ctx_t x = {.n = p->n};
    assert_int_equal(weft_addr_parse(&x.la, "127.0.0.1", port), 0);

    int64_t t0 = weft_now();
    for (int r = 0; r < 2; r++) {
        x.round = r;
        x.sent = x.verified = 0;
        round_of(&x);
        command(out, "stat\n");
        size_t conns;
        int peak;
        const char *l = reply(in);
        assert_int_equal(
            sscanf(l, "stat conns %zu peak %d fds %ld mem %lld", &conns, &peak, &fds[r], &mem[r]),
            4);
        printf("round %d: %d connections, %.1f MB each way, server: peak %d open, %ld fds, "
               "%lld bytes allocated (%.2f s)\n",
               r, x.n, (double)x.sent / 1e6, peak, fds[r], mem[r], (double)(weft_now() - t0) / 1e9);
        assert_int_equal(conns, 0);
        assert_int_equal(peak, x.n);        /* every connection was open at once */
        assert_int_equal(fds[r], fds0 + 1); /* the listener, nothing else */
    }
    /* the second round leaves nothing behind that the first did not:
     * allow a little slack for allocator and cache noise, far less than
     * one small object per connection */
    long long grow = mem[1] - mem[0];
    printf("server memory: %lld at start, %lld after round 1, %lld after round 2\n", mem0, mem[0],
           mem[1]);
    assert_true(grow < 65536 + 8LL * x.n);

    command(out, "quit\n");
    int rc;
    long fds_end;
    long long mem_end;
    assert_int_equal(sscanf(reply(in), "closed rc %d fds %ld mem %lld", &rc, &fds_end, &mem_end),
                     3);
    printf("server closed: %ld fds (%ld at start), %lld bytes allocated\n", fds_end, fds0, mem_end);
    assert_int_equal(rc, 0);
    assert_int_equal(fds_end, fds0);
    weft_stream_close(out);
    weft_stream_close(in);
    return 0;
}

static int raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
}

static void test_ten_thousand_connections_echo_every_byte_and_leak_nothing(void **state)
{
    int n = (int)(10000 * test_scale());
    if (n < 20)
        n = 20;
    int lim = raise_nofile();
    if (n > lim - 200) {
        printf("RLIMIT_NOFILE's hard limit is %d: %d connections instead of %d\n", lim, lim - 200,
               n);
        n = lim - 200;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s", helper_path("helper_netstress"));

    int down[2], up[2];
    assert_int_equal(pipe2(down, O_CLOEXEC), 0);
    assert_int_equal(pipe2(up, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(down[0], 0);
        dup2(up[1], 1);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(down[0]);
    close(up[1]);
    proc_t p = {.to_child = down[1], .from_child = up[0], .n = n};
    int rc = weft_run(t_stress, &p, NULL);
    if (rc != 0)
        kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(rc, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_thousand_connections_echo_every_byte_and_leak_nothing),
    };
    return run_suite(tests, NULL, NULL);
}
