/* test_net.c - addresses and TCP / Unix-domain sockets: address parse and
 * format round trips (IPv4, IPv6 with brackets and scopes, Unix paths,
 * abstract names, bad inputs, truncation); connect + accept over IPv4,
 * IPv6 (skipped cleanly without an IPv6 loopback) and Unix-domain
 * sockets, with data both ways at once; local and peer addresses; nodelay
 * and keep-alive read back with getsockopt; v6only; a refused connect; a
 * connect that times out or is cancelled against a full backlog; a name
 * ("localhost") through the resolver for connect and listen; accept
 * cancelled, timed out, and a listener closed under a waiting acceptor
 * and under one already woken; EADDRINUSE and SO_REUSEPORT; stale and
 * live Unix socket files; a Unix connect that waits for room in a full
 * backlog; socket options on a non-socket; bad arguments.
 *
 * Covers: src/addr.c, src/net.c.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <netdb.h>

static char tmpdir[64];

static int setup_dir(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-net-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown_dir(void **state)
{
    rmdir(tmpdir);
    return 0;
}

/* ---- addresses ---- */

static void round_trip(const char *host, int port, const char *want)
{
    weft_addr_t a;
    char buf[160];
    assert_int_equal(weft_addr_parse(&a, host, port), 0);
    int n = weft_addr_format(&a, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_addr_parse_and_format_round_trip_every_family(void **state)
{
    round_trip("127.0.0.1", 80, "127.0.0.1:80");
    round_trip("10.1.2.3", 65535, "10.1.2.3:65535");
    round_trip(NULL, 7, "0.0.0.0:7");
    round_trip("", 0, "0.0.0.0:0");
    round_trip("::1", 443, "[::1]:443");
    round_trip("[::1]", 443, "[::1]:443");
    round_trip("*", 9, "[::]:9");
    round_trip("::", 9, "[::]:9");
    round_trip("2001:db8::a:b", 1, "[2001:db8::a:b]:1");
    round_trip("fe80::1%7", 5, "[fe80::1%7]:5");
    round_trip("::ffff:1.2.3.4", 5, "[::ffff:1.2.3.4]:5");
    round_trip("/tmp/x.sock", 0, "/tmp/x.sock");
    round_trip("/tmp/y.sock", -5, "/tmp/y.sock"); /* the port is ignored */
    round_trip("@weft-abstract", 0, "@weft-abstract");

    weft_addr_t a;
    assert_int_equal(weft_addr_parse(&a, "127.0.0.1", 8080), 0);
    assert_int_equal(a.ss.ss_family, AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_int_equal(weft_addr_port(&a), 8080);
    assert_int_equal(weft_addr_parse(&a, "::1", 8081), 0);
    assert_int_equal(a.ss.ss_family, AF_INET6);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    assert_int_equal(weft_addr_port(&a), 8081);
    assert_int_equal(weft_addr_parse(&a, "/a/b", 0), 0);
    assert_int_equal(a.ss.ss_family, AF_UNIX);
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + 5);
    assert_int_equal(weft_addr_port(&a), -EINVAL);
    assert_int_equal(weft_addr_parse(&a, "@ab", 0), 0);
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + 3);
    assert_int_equal(((struct sockaddr_un *)&a.ss)->sun_path[0], '\0');
}

static void test_addr_unix_path_fits_sun_path_with_its_nul(void **state)
{
    weft_addr_t a;
    /* a path fills sun_path with its NUL at most */
    char path[200];
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[max - 1] = '\0';
    assert_int_equal(weft_addr_parse(&a, path, 0), 0);
    path[max - 1] = 'p';
    path[max] = '\0';
    assert_int_equal(weft_addr_parse(&a, path, 0), -EINVAL);
    path[0] = '@'; /* an abstract name has no NUL: one byte more fits */
    assert_int_equal(weft_addr_parse(&a, path, 0), 0);
    path[max] = 'p';
    path[max + 1] = '\0';
    assert_int_equal(weft_addr_parse(&a, path, 0), -EINVAL);
}

static void test_addr_parse_refuses_bad_hosts_and_ports(void **state)
{
    weft_addr_t a;
    /* bad inputs */
    const char *bad[] = {"1.2.3",    "256.1.1.1", "1.2.3.4.5",   "localhost",
                         "::g",      "[::1",      "::1]",        "[]",
                         "fe80::1%", "1.2.3.4 ",  "example.com", "fe80::1%no-such-interface-here"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(weft_addr_parse(&a, bad[i], 80), -EINVAL);
    assert_int_equal(weft_addr_parse(&a, "127.0.0.1", -1), -EINVAL);
    assert_int_equal(weft_addr_parse(&a, "127.0.0.1", 65536), -EINVAL);
    assert_int_equal(weft_addr_parse(&a, "::1", 70000), -EINVAL);
    assert_int_equal(weft_addr_parse(NULL, "127.0.0.1", 1), -EINVAL);
}

static void test_addr_format_truncates_and_refuses_bad_arguments(void **state)
{
    weft_addr_t a;
    /* formatting: truncation, bad arguments */
    char small[6];
    assert_int_equal(weft_addr_parse(&a, "127.0.0.1", 80), 0);
    assert_int_equal(weft_addr_format(&a, small, sizeof small), 5);
    assert_string_equal(small, "127.0");
    assert_int_equal(weft_addr_format(&a, small, 1), 0);
    assert_string_equal(small, "");
    assert_int_equal(weft_addr_format(&a, small, 0), -EINVAL);
    assert_int_equal(weft_addr_format(&a, NULL, 10), -EINVAL);
    assert_int_equal(weft_addr_format(NULL, small, sizeof small), -EINVAL);
    weft_addr_t unk;
    memset(&unk, 0, sizeof unk);
    unk.ss.ss_family = AF_APPLETALK;
    assert_int_equal(weft_addr_format(&unk, small, sizeof small), -EINVAL);
    assert_int_equal(weft_addr_port(&unk), -EINVAL);
    assert_int_equal(weft_addr_port(NULL), -EINVAL);
}

/* ---- a connected pair through a listener ---- */

typedef struct {
    weft_listener_t *l;
    weft_stream_t *s;
    weft_addr_t peer;
    int rc;
    bool done;
} acc_t;

static int acceptor(void *arg, void **res)
{
    acc_t *a = arg;
    a->rc = weft_listener_accept(a->l, &a->s, &a->peer, NULL);
    a->done = true;
    return 0;
}

static int getopt_int(int fd, int level, int opt)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, opt, &v, &len), 0);
    return v;
}

typedef struct {
    weft_stream_t *s;
    size_t n;
    uint32_t seed;
    int rc;
} xfer_t;

static uint8_t pattern(uint32_t seed, size_t i)
{
    uint32_t x = seed ^ (uint32_t)(i * 2654435761u);
    x ^= x >> 13;
    return (uint8_t)(x * 0x5bd1e995u >> 24);
}

static int sender(void *arg, void **res)
{
    xfer_t *x = arg;
    uint8_t buf[8192];
    for (size_t off = 0; off < x->n;) {
        size_t k = x->n - off < sizeof buf ? x->n - off : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern(x->seed, off + i);
        if ((x->rc = weft_stream_write(x->s, buf, k)) < 0)
            return 0;
        if ((x->rc = weft_stream_drain(x->s)) < 0)
            return 0;
        off += k;
    }
    x->rc = weft_stream_flush(x->s);
    return 0;
}

static int receiver(void *arg, void **res)
{
    xfer_t *x = arg;
    uint8_t buf[8192];
    for (size_t off = 0; off < x->n;) {
        ssize_t r = weft_stream_read(x->s, buf, sizeof buf);
        if (r <= 0) {
            x->rc = r == 0 ? -WEFT_EINCOMPLETE : (int)r;
            return 0;
        }
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pattern(x->seed, off + (size_t)i)) {
                x->rc = -EPROTO;
                return 0;
            }
        off += (size_t)r;
    }
    x->rc = 0;
    return 0;
}

/* Sends n bytes each way at once over a and b, and checks every byte. */
static void exchange(weft_stream_t *a, weft_stream_t *b, size_t n)
{
    xfer_t x[4] = {{a, n, 1, 1}, {b, n, 1, 1}, {b, n, 2, 1}, {a, n, 2, 1}};
    weft_task_t *t[4];
    assert_int_equal(weft_spawn(&t[0], sender, &x[0], NULL), 0);
    assert_int_equal(weft_spawn(&t[1], receiver, &x[1], NULL), 0);
    assert_int_equal(weft_spawn(&t[2], sender, &x[2], NULL), 0);
    assert_int_equal(weft_spawn(&t[3], receiver, &x[3], NULL), 0);
    assert_int_equal(weft_gather(t, 4, NULL, NULL, WEFT_GATHER_COLLECT), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(x[i].rc, 0);
        weft_task_release(t[i]);
    }
}

/* Connects to l's address with connect(c) and accepts; checks the data
 * and the addresses both ends see. */
typedef int (*connect_fn)(weft_stream_t **s, const weft_addr_t *la, void *arg);

static void connect_accept(weft_listener_t *l, connect_fn conn, void *carg, weft_stream_t **cs,
                           weft_stream_t **ss)
{
    acc_t a = {.l = l};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, acceptor, &a, NULL), 0);
    weft_addr_t la;
    assert_int_equal(weft_listener_addr(l, &la), 0);
    assert_int_equal(conn(cs, &la, carg), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(a.rc, 0);
    *ss = a.s;

    /* the server's peer is the client's local address and vice versa */
    weft_addr_t cl, cp, sl, sp;
    assert_int_equal(weft_stream_local_addr(*cs, &cl), 0);
    assert_int_equal(weft_stream_peer_addr(*cs, &cp), 0);
    assert_int_equal(weft_stream_local_addr(*ss, &sl), 0);
    assert_int_equal(weft_stream_peer_addr(*ss, &sp), 0);
    assert_int_equal(cp.len, la.len);
    assert_memory_equal(&cp.ss, &la.ss, la.len);
    assert_int_equal(sl.len, la.len);
    assert_memory_equal(&sl.ss, &la.ss, la.len);
    assert_int_equal(sp.len, cl.len);
    assert_memory_equal(&sp.ss, &cl.ss, cl.len);
    assert_int_equal(a.peer.len, cl.len);
    assert_memory_equal(&a.peer.ss, &cl.ss, cl.len);

    exchange(*cs, *ss, 1 << 20);
}

static int by_addr(weft_stream_t **s, const weft_addr_t *la, void *arg)
{
    return weft_addr_connect(s, la, NULL);
}

static int by_name(weft_stream_t **s, const weft_addr_t *la, void *arg)
{
    char port[16];
    snprintf(port, sizeof port, "%d", weft_addr_port(la));
    return weft_tcp_connect(s, arg, port, NULL);
}

static void check_tcp_opts(weft_stream_t *s)
{
    int fd = weft_stream_fd(s);
    assert_int_equal(getopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_int_equal(weft_stream_set_nodelay(s, false), 0);
    assert_int_equal(getopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    assert_int_equal(weft_stream_set_nodelay(s, true), 0);
    assert_int_equal(getopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);

    assert_int_equal(weft_stream_set_keepalive(s, true, 42, 7), 0);
    assert_int_equal(getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 42);
    assert_int_equal(getopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 7);
    assert_int_equal(weft_stream_set_keepalive(s, false, 0, 0), 0);
    assert_int_equal(getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    assert_int_equal(weft_stream_set_keepalive(s, true, -1, 0), -EINVAL);
}

static void tcp_case(const char *host)
{
    weft_listener_t *l;
    assert_int_equal(weft_tcp_listen(&l, host, "0", NULL), 0);
    weft_addr_t la;
    assert_int_equal(weft_listener_addr(l, &la), 0);
    assert_true(weft_addr_port(&la) > 0);
    assert_true(weft_listener_fd(l) >= 0);

    weft_stream_t *cs, *ss;
    connect_accept(l, by_addr, NULL, &cs, &ss);
    check_tcp_opts(cs);
    check_tcp_opts(ss);
    assert_int_equal(weft_stream_close(cs), 0);
    assert_int_equal(weft_stream_close(ss), 0);

    /* by host and port text, numeric: no resolver involved */
    connect_accept(l, by_name, (void *)host, &cs, &ss);
    assert_int_equal(getopt_int(weft_stream_fd(cs), IPPROTO_TCP, TCP_NODELAY), 1);
    weft_stream_close(cs);
    weft_stream_close(ss);
    assert_int_equal(weft_listener_close(l), 0);
}

static int t_tcp4(void *arg, void **res)
{
    tcp_case("127.0.0.1");
    return 0;
}

static void test_tcp4_connect_accept_carries_data_both_ways_with_options(void **state)
{
    run(t_tcp4, NULL);
}

static int t_tcp6(void *arg, void **res)
{
    tcp_case("::1");
    return 0;
}

static void skip_without_ipv6(void)
{
    if (!have_ipv6(SOCK_STREAM)) {
        printf("no IPv6 loopback here: skipped\n");
        skip();
    }
}

static void test_tcp6_connect_accept_carries_data_both_ways_with_options(void **state)
{
    skip_without_ipv6();
    run(t_tcp6, NULL);
}

static int t_v6only(void *arg, void **res)
{
    /* "::" takes IPv4 too, unless v6only */
    weft_listener_t *l;
    weft_addr_t la, v4;
    weft_stream_t *cs, *ss;
    weft_listen_opts_t o = {.v6only = false};
    assert_int_equal(weft_tcp_listen(&l, "::", "0", &o), 0);
    weft_listener_addr(l, &la);
    assert_int_equal(weft_addr_parse(&v4, "127.0.0.1", weft_addr_port(&la)), 0);
    acc_t a = {.l = l};
    weft_task_t *t;
    weft_spawn(&t, acceptor, &a, NULL);
    assert_int_equal(weft_addr_connect(&cs, &v4, NULL), 0);
    weft_await(t, NULL);
    weft_task_release(t);
    assert_int_equal(a.rc, 0);
    ss = a.s;
    exchange(cs, ss, 4096);
    weft_stream_close(cs);
    weft_stream_close(ss);
    weft_listener_close(l);

    o.v6only = true;
    assert_int_equal(weft_tcp_listen(&l, "::", "0", &o), 0);
    assert_int_equal(getopt_int(weft_listener_fd(l), IPPROTO_IPV6, IPV6_V6ONLY), 1);
    weft_listener_addr(l, &la);
    assert_int_equal(weft_addr_parse(&v4, "127.0.0.1", weft_addr_port(&la)), 0);
    int rc = weft_addr_connect(&cs, &v4, NULL);
    if (rc == 0) /* the port was free on IPv4 only by chance: someone else has it */
        weft_stream_close(cs);
    else
        assert_int_equal(rc, -ECONNREFUSED);
    weft_listener_close(l);
    return 0;
}

static void test_tcp6_any_address_takes_ipv4_unless_v6only(void **state)
{
    skip_without_ipv6();
    run(t_v6only, NULL);
}

/* ---- Unix-domain sockets ---- */

static int by_path(weft_stream_t **s, const weft_addr_t *la, void *arg)
{
    return weft_unix_connect(s, arg, NULL);
}

typedef struct {
    const char *path;
    int rc;
} uconn_t;

static int unix_connector(void *arg, void **res)
{
    uconn_t *u = arg;
    weft_stream_t *s;
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(10));
    int rc = weft_unix_connect(&s, u->path, NULL);
    weft_deadline_pop(&d);
    if (rc == 0)
        weft_stream_close(s);
    u->rc = rc;
    return 0;
}

/* The socket path every Unix-domain test uses, in the suite's folder. */
static char *sock_path(void)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/s.sock", tmpdir);
    return path;
}

static int t_unix(void *arg, void **res)
{
    char *path = sock_path();
    weft_listener_t *l, *l2;
    assert_int_equal(weft_unix_listen(&l, path, NULL), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));

    weft_addr_t la;
    char buf[160];
    assert_int_equal(weft_listener_addr(l, &la), 0);
    assert_true(weft_addr_format(&la, buf, sizeof buf) > 0);
    assert_string_equal(buf, path);

    weft_stream_t *cs, *ss;
    connect_accept(l, by_path, path, &cs, &ss);
    /* no TCP options on a Unix socket */
    assert_int_equal(weft_stream_set_nodelay(cs, true), -ENOPROTOOPT);
    assert_int_equal(weft_stream_set_keepalive(ss, true, 1, 1), -ENOPROTOOPT);
    weft_stream_close(cs);
    weft_stream_close(ss);

    /* a live listener keeps its name */
    assert_int_equal(weft_unix_listen(&l2, path, NULL), -EADDRINUSE);
    assert_int_equal(weft_listener_close(l), 0);
    assert_int_equal(stat(path, &st), -1); /* removed on close */
    return 0;
}

static void test_unix_listener_keeps_its_name_while_open_and_removes_it_on_close(void **state)
{
    run(t_unix, NULL);
}

static int t_unix_stale(void *arg, void **res)
{
    char *path = sock_path();
    weft_listener_t *l;
    weft_stream_t *cs, *ss;
    struct stat st;
    /* a stale socket file (its owner died without removing it) is replaced */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    strcpy(su.sun_path, path);
    assert_int_equal(bind(fd, (struct sockaddr *)&su, sizeof su), 0);
    close(fd);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(weft_unix_listen(&l, path, NULL), 0);
    connect_accept(l, by_path, path, &cs, &ss);
    weft_stream_close(cs);
    weft_stream_close(ss);
    weft_listener_close(l);
    return 0;
}

static void test_unix_listen_replaces_a_stale_socket_file(void **state)
{
    run(t_unix_stale, NULL);
}

static int t_unix_not_socket(void *arg, void **res)
{
    char *path = sock_path();
    weft_listener_t *l;
    /* a file that is not a socket is left alone */
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(weft_unix_listen(&l, path, NULL), -EADDRINUSE);
    assert_int_equal(unlink(path), 0);
    return 0;
}

static void test_unix_listen_leaves_a_file_that_is_not_a_socket(void **state)
{
    run(t_unix_not_socket, NULL);
}

static int t_unix_own_file(void *arg, void **res)
{
    char *path = sock_path();
    weft_listener_t *l;
    struct stat st;
    int fd;
    /* close removes only its own file, not one that took the name since */
    assert_int_equal(weft_unix_listen(&l, path, NULL), 0);
    assert_int_equal(unlink(path), 0);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    weft_listener_close(l);
    assert_int_equal(stat(path, &st), 0);
    unlink(path);
    return 0;
}

static void test_unix_close_removes_only_its_own_file(void **state)
{
    run(t_unix_own_file, NULL);
}

static int t_unix_abstract(void *arg, void **res)
{
    weft_listener_t *l;
    weft_stream_t *cs, *ss;
    weft_addr_t la;
    char buf[160];
    /* the abstract namespace: no file at all */
    char name[64];
    snprintf(name, sizeof name, "@weft-test-%d", (int)getpid());
    assert_int_equal(weft_unix_listen(&l, name, NULL), 0);
    weft_listener_addr(l, &la);
    weft_addr_format(&la, buf, sizeof buf);
    assert_string_equal(buf, name);
    connect_accept(l, by_path, name, &cs, &ss);
    weft_stream_close(cs);
    weft_stream_close(ss);
    weft_listener_close(l);
    return 0;
}

static void test_unix_abstract_name_needs_no_file(void **state)
{
    run(t_unix_abstract, NULL);
}

static int t_unix_backlog(void *arg, void **res)
{
    char *path = sock_path();
    weft_listener_t *l;
    weft_stream_t *ss;
    /* a full backlog refuses with EAGAIN and says nothing when there is
     * room again: the connect tries again until it gets in */
    weft_listen_opts_t o = {.backlog = 1};
    assert_int_equal(weft_unix_listen(&l, path, &o), 0);
    int raw[16], nraw = 0;
    struct sockaddr_un to = {.sun_family = AF_UNIX};
    strcpy(to.sun_path, path);
    for (; nraw < 16; nraw++) {
        raw[nraw] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(raw[nraw], (struct sockaddr *)&to, sizeof to) < 0) {
            assert_int_equal(errno, EAGAIN);
            close(raw[nraw]);
            break;
        }
    }
    assert_true(nraw < 16);
    weft_task_t *t;
    uconn_t u = {.path = path, .rc = 1};
    assert_int_equal(weft_spawn(&t, unix_connector, &u, NULL), 0);
    weft_sleep(WEFT_MSEC(20));
    assert_int_equal(u.rc, 1); /* still trying */
    assert_int_equal(weft_listener_accept(l, &ss, NULL, NULL), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(u.rc, 0);
    weft_stream_close(ss);
    for (int i = 0; i < nraw; i++)
        close(raw[i]);
    weft_listener_close(l);
    return 0;
}

static void test_unix_connect_waits_for_room_in_a_full_backlog(void **state)
{
    run(t_unix_backlog, NULL);
}

static int t_unix_nobody(void *arg, void **res)
{
    char *path = sock_path();
    weft_stream_t *cs;
    char name[64];
    snprintf(name, sizeof name, "@weft-test-%d", (int)getpid());
    /* nobody there */
    assert_int_equal(weft_unix_connect(&cs, path, NULL), -ENOENT);
    assert_int_equal(weft_unix_connect(&cs, name, NULL), -ECONNREFUSED);
    return 0;
}

static void test_unix_connect_with_nobody_there_fails(void **state)
{
    run(t_unix_nobody, NULL);
}

/* ---- names go through the resolver ---- */

static int t_names(void *arg, void **res)
{
    /* the listener on IPv4 only: if localhost resolves to ::1 first, that
     * is refused and the next address is tried */
    weft_listener_t *l;
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    weft_stream_t *cs, *ss;
    connect_accept(l, by_name, "localhost", &cs, &ss);
    weft_stream_close(cs);
    weft_stream_close(ss);
    weft_listener_close(l);

    assert_int_equal(weft_tcp_listen(&l, "localhost", "0", NULL), 0);
    weft_addr_t la;
    weft_listener_addr(l, &la);
    assert_true(weft_addr_port(&la) > 0);
    connect_accept(l, by_addr, NULL, &cs, &ss);
    weft_stream_close(cs);
    weft_stream_close(ss);
    weft_listener_close(l);
    return 0;
}

static void test_tcp_connect_and_listen_by_name_go_through_the_resolver(void **state)
{
    if (!localhost_resolves())
        skip();
    run(t_names, NULL);
}

/* ---- failures: refused, timed out, cancelled ---- */

typedef struct {
    weft_addr_t to;
    int rc;
} conn_t;

static int connector(void *arg, void **res)
{
    conn_t *c = arg;
    weft_stream_t *s;
    c->rc = weft_addr_connect(&s, &c->to, NULL);
    if (c->rc == 0)
        weft_stream_close(s);
    return 0;
}

static int t_refused(void *arg, void **res)
{
    weft_listener_t *l;
    weft_addr_t la;
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    weft_listener_addr(l, &la);
    weft_listener_close(l);
    weft_stream_t *s;
    assert_int_equal(weft_addr_connect(&s, &la, NULL), -ECONNREFUSED);
    char port[16];
    snprintf(port, sizeof port, "%d", weft_addr_port(&la));
    assert_int_equal(weft_tcp_connect(&s, "127.0.0.1", port, NULL), -ECONNREFUSED);
    return 0;
}

static void test_tcp_connect_to_a_closed_port_is_refused(void **state)
{
    run(t_refused, NULL);
}

static int t_backlog_full(void *arg, void **res)
{
    weft_listener_t *l;
    weft_addr_t la;
    weft_stream_t *s;
    /* a listener that never accepts, with its backlog full: a connect
     * waits for the handshake until its deadline, or until cancelled */
    weft_listen_opts_t o = {.backlog = 1};
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", &o), 0);
    weft_listener_addr(l, &la);
    int raw[8], nraw = 0;
    for (; nraw < 8; nraw++) {
        raw[nraw] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(raw[nraw], (struct sockaddr *)&la.ss, la.len);
    }
    weft_sleep(WEFT_MSEC(20)); /* let the handshakes settle */
    weft_deadline_t d;
    int64_t t0 = weft_now(); /* before the push: the deadline counts from there */
    weft_deadline_push(&d, WEFT_MSEC(50));
    int rc = weft_addr_connect(&s, &la, NULL);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(50));

    conn_t c = {.to = la};
    weft_task_t *t;
    weft_spawn(&t, connector, &c, NULL);
    weft_sleep(WEFT_MSEC(5));
    assert_false(weft_task_done(t));
    weft_cancel(t);
    weft_await(t, NULL);
    weft_task_release(t);
    assert_int_equal(c.rc, -ECANCELED);
    for (int i = 0; i < nraw; i++)
        close(raw[i]);
    weft_listener_close(l);
    return 0;
}

static void test_tcp_connect_to_a_full_backlog_waits_until_deadline_or_cancel(void **state)
{
    run(t_backlog_full, NULL);
}

static int t_connect_late(void *arg, void **res)
{
    weft_deadline_t d;
    weft_stream_t *s;
    /* a deadline already passed: no connect at all */
    weft_deadline_push(&d, 0);
    assert_int_equal(weft_tcp_connect(&s, "127.0.0.1", "1", NULL), -ETIMEDOUT);
    assert_int_equal(weft_tcp_connect(&s, "localhost", "1", NULL), -ETIMEDOUT);
    weft_deadline_pop(&d);
    return 0;
}

static void test_tcp_connect_past_its_deadline_does_not_try(void **state)
{
    run(t_connect_late, NULL);
}

/* ---- accept: cancelled, timed out, listener closed ---- */

static int t_accept(void *arg, void **res)
{
    weft_listener_t *l;
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);

    /* cancelled while waiting */
    acc_t a = {.l = l};
    weft_task_t *t;
    weft_spawn(&t, acceptor, &a, NULL);
    wait_state(t, WEFT_TASK_WAITING); /* not a timed guess (harness.h) */
    assert_false(a.done);
    weft_cancel(t);
    weft_await(t, NULL);
    weft_task_release(t);
    assert_int_equal(a.rc, -ECANCELED);

    /* a deadline */
    weft_deadline_t d;
    weft_stream_t *s;
    weft_deadline_push(&d, WEFT_MSEC(10));
    assert_int_equal(weft_listener_accept(l, &s, NULL, NULL), -ETIMEDOUT);
    weft_deadline_pop(&d);
    weft_listener_close(l);
    return 0;
}

static void test_accept_cancelled_or_timed_out_returns_no_stream(void **state)
{
    run(t_accept, NULL);
}

static int t_accept_close(void *arg, void **res)
{
    weft_listener_t *l;
    weft_stream_t *s;
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    /* one acceptor at a time */
    acc_t a = {.l = l};
    weft_task_t *t;
    weft_spawn(&t, acceptor, &a, NULL);
    wait_state(t, WEFT_TASK_WAITING); /* not a timed guess (harness.h) */
    assert_int_equal(weft_listener_accept(l, &s, NULL, NULL), -EBUSY);

    /* the listener closed under a waiting acceptor */
    assert_int_equal(weft_listener_close(l), 0);
    weft_await(t, NULL);
    weft_task_release(t);
    assert_int_equal(a.rc, -EBADF);
    return 0;
}

static void test_accept_takes_one_acceptor_and_close_wakes_it_with_ebadf(void **state)
{
    run(t_accept_close, NULL);
}

static int t_accept_woken_close(void *arg, void **res)
{
    weft_listener_t *l;
    /* ... and under one woken by a connection that has not run yet */
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    weft_addr_t la;
    weft_listener_addr(l, &la);
    acc_t a = {.l = l};
    weft_task_t *t;
    weft_spawn(&t, acceptor, &a, HERE);
    wait_state(t, WEFT_TASK_WAITING); /* not a timed guess (harness.h) */
    int raw = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(raw, (struct sockaddr *)&la.ss, la.len), 0);
    bool woken = false;
    for (int i = 0; i < 100000 && !woken; i++) {
        weft_yield();
        woken = weft_task_state(t) == WEFT_TASK_READY;
    }
    assert_true(woken);
    weft_listener_close(l);
    weft_await(t, NULL);
    weft_task_release(t);
    assert_int_equal(a.rc, -EBADF);
    close(raw);
    return 0;
}

static void test_listener_close_gives_ebadf_to_an_acceptor_woken_but_not_run(void **state)
{
    run(t_accept_woken_close, NULL);
}

/* ---- addresses in use ---- */

static int t_inuse(void *arg, void **res)
{
    weft_listener_t *l, *l2;
    weft_addr_t la;
    char port[16];
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    weft_listener_addr(l, &la);
    snprintf(port, sizeof port, "%d", weft_addr_port(&la));
    assert_int_equal(weft_tcp_listen(&l2, "127.0.0.1", port, NULL), -EADDRINUSE);
    assert_int_equal(weft_addr_listen(&l2, &la, NULL), -EADDRINUSE);
    weft_listener_close(l);
    return 0;
}

static void test_tcp_listen_on_a_port_in_use_is_eaddrinuse(void **state)
{
    run(t_inuse, NULL);
}

static int t_reuseport(void *arg, void **res)
{
    weft_listener_t *l, *l2;
    weft_addr_t la;
    /* SO_REUSEPORT: several listeners share the port */
    weft_listen_opts_t o = {.reuseport = true};
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", &o), 0);
    weft_listener_addr(l, &la);
    assert_int_equal(weft_addr_listen(&l2, &la, &o), 0);
    assert_int_equal(getopt_int(weft_listener_fd(l2), SOL_SOCKET, SO_REUSEPORT), 1);
    assert_int_equal(getopt_int(weft_listener_fd(l2), SOL_SOCKET, SO_REUSEADDR), 1);
    weft_listener_close(l2);
    weft_listener_close(l);
    return 0;
}

static void test_tcp_listeners_with_reuseport_share_a_port(void **state)
{
    run(t_reuseport, NULL);
}

/* ---- bad arguments ---- */

static int t_bad_args(void *arg, void **res)
{
    weft_listener_t *l;
    weft_stream_t *s;
    weft_addr_t a, unk;
    memset(&unk, 0, sizeof unk);
    unk.ss.ss_family = AF_APPLETALK;
    unk.len = 16;
    weft_addr_parse(&a, "127.0.0.1", 1);

    assert_int_equal(weft_tcp_listen(NULL, "127.0.0.1", "0", NULL), -EINVAL);
    assert_int_equal(weft_tcp_listen(&l, "/tmp/x", "0", NULL), -EINVAL);
    weft_listen_opts_t o = {.backlog = -1};
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", &o), -EINVAL);
    assert_int_equal(weft_addr_listen(NULL, &a, NULL), -EINVAL);
    assert_int_equal(weft_addr_listen(&l, NULL, NULL), -EINVAL);
    assert_int_equal(weft_addr_listen(&l, &unk, NULL), -EINVAL);
    assert_int_equal(weft_unix_listen(&l, NULL, NULL), -EINVAL);
    assert_int_equal(weft_unix_listen(&l, "", NULL), -EINVAL);
    assert_int_equal(weft_unix_listen(NULL, "/tmp/x", NULL), -EINVAL);

    assert_int_equal(weft_tcp_connect(NULL, "127.0.0.1", "1", NULL), -EINVAL);
    assert_int_equal(weft_tcp_connect(&s, NULL, "1", NULL), -EINVAL);
    assert_int_equal(weft_tcp_connect(&s, "127.0.0.1", NULL, NULL), -EINVAL);
    assert_int_equal(weft_tcp_connect(&s, "", "1", NULL), -EINVAL);
    assert_int_equal(weft_tcp_connect(&s, "/tmp/x", "1", NULL), -EINVAL);
    assert_int_equal(weft_addr_connect(NULL, &a, NULL), -EINVAL);
    assert_int_equal(weft_addr_connect(&s, NULL, NULL), -EINVAL);
    assert_int_equal(weft_addr_connect(&s, &unk, NULL), -EINVAL);
    assert_int_equal(weft_unix_connect(&s, NULL, NULL), -EINVAL);
    assert_int_equal(weft_unix_connect(NULL, "/x", NULL), -EINVAL);

    assert_int_equal(weft_listener_accept(NULL, &s, NULL, NULL), -EINVAL);
    assert_int_equal(weft_listener_addr(NULL, &a), -EINVAL);
    assert_int_equal(weft_listener_fd(NULL), -EINVAL);
    assert_int_equal(weft_listener_close(NULL), -EINVAL);
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    assert_int_equal(weft_listener_accept(l, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(weft_listener_addr(l, NULL), -EINVAL);
    weft_listener_close(l);
    return 0;
}

static void test_net_bad_arguments_are_einval(void **state)
{
    run(t_bad_args, NULL);
}

static int t_cancelled(void *arg, void **res)
{
    weft_listener_t *l;
    weft_stream_t *s;
    weft_addr_t a;
    weft_addr_parse(&a, "127.0.0.1", 1);
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), 0);
    /* a cancelled task accepts nothing, even with a connection waiting */
    weft_cancel(weft_current());
    assert_int_equal(weft_listener_accept(l, &s, NULL, NULL), -ECANCELED);
    assert_int_equal(weft_addr_connect(&s, &a, NULL), -ECANCELED);
    weft_uncancel();
    weft_listener_close(l);
    return 0;
}

static void test_cancelled_task_neither_accepts_nor_connects(void **state)
{
    run(t_cancelled, NULL);
}

static int t_not_socket(void *arg, void **res)
{
    weft_stream_t *s;
    weft_addr_t a;
    /* stream socket calls on something that is not a socket */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(weft_stream_open(&s, p[0], NULL), 0);
    close(p[1]);
    assert_int_equal(weft_stream_set_nodelay(s, true), -ENOTSOCK);
    assert_int_equal(weft_stream_set_keepalive(s, true, 0, 0), -ENOTSOCK);
    assert_int_equal(weft_stream_local_addr(s, &a), -ENOTSOCK);
    assert_int_equal(weft_stream_peer_addr(s, &a), -ENOTSOCK);
    assert_int_equal(weft_stream_local_addr(s, NULL), -EINVAL);
    weft_stream_close(s);
    assert_int_equal(weft_stream_set_nodelay(NULL, true), -EINVAL);
    assert_int_equal(weft_stream_set_keepalive(NULL, true, 0, 0), -EINVAL);
    assert_int_equal(weft_stream_local_addr(NULL, &a), -EINVAL);
    assert_int_equal(weft_stream_peer_addr(NULL, &a), -EINVAL);
    return 0;
}

static void test_socket_calls_on_a_non_socket_stream_are_enotsock(void **state)
{
    run(t_not_socket, NULL);
}

static void test_net_calls_outside_a_loop_are_enoloop_or_enotask(void **state)
{
    /* outside any loop */
    weft_listener_t *l;
    weft_stream_t *s;
    weft_addr_t a;
    weft_addr_parse(&a, "127.0.0.1", 1);
    assert_int_equal(weft_tcp_listen(&l, "127.0.0.1", "0", NULL), -WEFT_ENOLOOP);
    assert_int_equal(weft_tcp_listen(&l, "localhost", "0", NULL), -WEFT_ENOTASK);
    assert_int_equal(weft_addr_connect(&s, &a, NULL), -WEFT_ENOTASK);
    assert_int_equal(weft_tcp_connect(&s, "127.0.0.1", "1", NULL), -WEFT_ENOTASK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_and_format_round_trip_every_family),
        cmocka_unit_test(test_addr_unix_path_fits_sun_path_with_its_nul),
        cmocka_unit_test(test_addr_parse_refuses_bad_hosts_and_ports),
        cmocka_unit_test(test_addr_format_truncates_and_refuses_bad_arguments),
        cmocka_unit_test(test_tcp4_connect_accept_carries_data_both_ways_with_options),
        cmocka_unit_test(test_tcp6_connect_accept_carries_data_both_ways_with_options),
        cmocka_unit_test(test_tcp6_any_address_takes_ipv4_unless_v6only),
        cmocka_unit_test(test_unix_listener_keeps_its_name_while_open_and_removes_it_on_close),
        cmocka_unit_test(test_unix_listen_replaces_a_stale_socket_file),
        cmocka_unit_test(test_unix_listen_leaves_a_file_that_is_not_a_socket),
        cmocka_unit_test(test_unix_close_removes_only_its_own_file),
        cmocka_unit_test(test_unix_abstract_name_needs_no_file),
        cmocka_unit_test(test_unix_connect_waits_for_room_in_a_full_backlog),
        cmocka_unit_test(test_unix_connect_with_nobody_there_fails),
        cmocka_unit_test(test_tcp_connect_and_listen_by_name_go_through_the_resolver),
        cmocka_unit_test(test_tcp_connect_to_a_closed_port_is_refused),
        cmocka_unit_test(test_tcp_connect_to_a_full_backlog_waits_until_deadline_or_cancel),
        cmocka_unit_test(test_tcp_connect_past_its_deadline_does_not_try),
        cmocka_unit_test(test_accept_cancelled_or_timed_out_returns_no_stream),
        cmocka_unit_test(test_accept_takes_one_acceptor_and_close_wakes_it_with_ebadf),
        cmocka_unit_test(test_listener_close_gives_ebadf_to_an_acceptor_woken_but_not_run),
        cmocka_unit_test(test_tcp_listen_on_a_port_in_use_is_eaddrinuse),
        cmocka_unit_test(test_tcp_listeners_with_reuseport_share_a_port),
        cmocka_unit_test(test_net_bad_arguments_are_einval),
        cmocka_unit_test(test_cancelled_task_neither_accepts_nor_connects),
        cmocka_unit_test(test_socket_calls_on_a_non_socket_stream_are_enotsock),
        cmocka_unit_test(test_net_calls_outside_a_loop_are_enoloop_or_enotask),
    };
    return run_suite(tests, setup_dir, teardown_dir);
}
