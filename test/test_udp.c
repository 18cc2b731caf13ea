/* test_udp.c - UDP sockets: unconnected sendto/recvfrom with the sender's
 * address reported, connected sockets (only the peer's datagrams arrive,
 * a refused peer reports -ECONNREFUSED), truncation of a long datagram,
 * a receive that waits and is cancelled, one that times out, close while
 * a task waits (-EBADF), IPv6 when the machine has a loopback for it,
 * many datagrams through a small receive buffer (the EAGAIN path on both
 * sides), and bad arguments.
 *
 * Covers: src/udp.c.
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static weft_udp_t *open_loopback(const char *host)
{
    weft_addr_t a;
    weft_udp_t *u = NULL;
    assert_int_equal(weft_addr_parse(&a, host, 0), 0);
    assert_int_equal(weft_udp_open(&u, &a, 0), 0);
    return u;
}

/* ---- unconnected: the sender's address is reported ---- */

static void roundtrip(const char *host)
{
    weft_udp_t *a = open_loopback(host), *b = open_loopback(host);
    weft_addr_t aa, ba, from;
    assert_int_equal(weft_udp_local_addr(a, &aa), 0);
    assert_int_equal(weft_udp_local_addr(b, &ba), 0);
    assert_true(weft_addr_port(&aa) > 0);

    assert_int_equal(weft_udp_sendto(a, "ping", 4, &ba), 4);
    char buf[64];
    assert_int_equal(weft_udp_recvfrom(b, buf, sizeof buf, &from), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(from.len, aa.len);
    assert_memory_equal(&from.ss, &aa.ss, aa.len);

    assert_int_equal(weft_udp_sendto(b, "pong!", 5, &from), 5);
    assert_int_equal(weft_udp_recvfrom(a, buf, sizeof buf, NULL), 5);
    assert_memory_equal(buf, "pong!", 5);

    /* an empty datagram is a datagram */
    assert_int_equal(weft_udp_sendto(a, NULL, 0, &ba), 0);
    assert_int_equal(weft_udp_recvfrom(b, buf, sizeof buf, NULL), 0);

    assert_int_equal(weft_udp_close(a), 0);
    assert_int_equal(weft_udp_close(b), 0);
}

static int t_unconnected(void *arg, void **res)
{
    roundtrip("127.0.0.1");
    return 0;
}

static void test_udp_unconnected_datagrams_report_the_senders_address(void **state)
{
    run(t_unconnected, NULL);
}

static int t_ipv6(void *arg, void **res)
{
    roundtrip("::1");
    return 0;
}

static void test_udp_ipv6_datagrams_report_the_senders_address(void **state)
{
    if (!have_ipv6(SOCK_DGRAM)) {
        printf("no IPv6 loopback here: skipped\n");
        skip();
    }
    run(t_ipv6, NULL);
}

/* ---- connected: only the peer's datagrams, refusals reported ---- */

static int t_connected(void *arg, void **res)
{
    weft_udp_t *a = open_loopback("127.0.0.1"), *b = open_loopback("127.0.0.1");
    weft_udp_t *other = open_loopback("127.0.0.1");
    weft_addr_t aa, ba;
    weft_udp_local_addr(a, &aa);
    weft_udp_local_addr(b, &ba);
    assert_int_equal(weft_udp_connect(a, &ba), 0);
    assert_int_equal(weft_udp_connect(b, &aa), 0);

    /* a stranger's datagram to a is dropped by the kernel */
    assert_int_equal(weft_udp_sendto(other, "xx", 2, &aa), 2);
    assert_int_equal(weft_udp_sendto(b, "hello", 5, NULL), 5);
    char buf[16];
    weft_addr_t from;
    assert_int_equal(weft_udp_recvfrom(a, buf, sizeof buf, &from), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_memory_equal(&from.ss, &ba.ss, ba.len);
    weft_udp_close(a);
    weft_udp_close(b);
    weft_udp_close(other);
    return 0;
}

static void test_udp_connected_socket_gets_only_its_peers_datagrams(void **state)
{
    run(t_connected, NULL);
}

static int t_refused(void *arg, void **res)
{
    weft_udp_t *a = open_loopback("127.0.0.1"), *b = open_loopback("127.0.0.1");
    weft_addr_t aa, ba;
    char buf[16];
    weft_udp_local_addr(a, &aa);
    weft_udp_local_addr(b, &ba);
    assert_int_equal(weft_udp_connect(a, &ba), 0);
    assert_int_equal(weft_udp_connect(b, &aa), 0);
    /* a connected socket whose peer is gone learns it from the ICMP */
    weft_udp_close(b);
    assert_int_equal(weft_udp_sendto(a, "x", 1, NULL), 1);
    ssize_t r = 0;
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(5));
    r = weft_udp_recvfrom(a, buf, sizeof buf, NULL);
    weft_deadline_pop(&d);
    assert_int_equal(r, -ECONNREFUSED);
    weft_udp_close(a);
    return 0;
}

static void test_udp_connected_socket_learns_its_peer_is_gone_from_icmp(void **state)
{
    run(t_refused, NULL);
}

/* ---- truncation: the rest of a long datagram is dropped ---- */

static int t_truncation(void *arg, void **res)
{
    weft_udp_t *a = open_loopback("127.0.0.1"), *b = open_loopback("127.0.0.1");
    weft_addr_t ba;
    weft_udp_local_addr(b, &ba);
    char big[1000], buf[10];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)i;
    assert_int_equal(weft_udp_sendto(a, big, sizeof big, &ba), (ssize_t)sizeof big);
    assert_int_equal(weft_udp_sendto(a, "next", 4, &ba), 4);
    assert_int_equal(weft_udp_recvfrom(b, buf, sizeof buf, NULL), (ssize_t)sizeof buf);
    assert_memory_equal(buf, big, sizeof buf);
    /* the next receive gets the next datagram, not the tail of the first */
    assert_int_equal(weft_udp_recvfrom(b, buf, sizeof buf, NULL), 4);
    assert_memory_equal(buf, "next", 4);
    weft_udp_close(a);
    weft_udp_close(b);
    return 0;
}

static void test_udp_short_buffer_truncates_one_datagram_only(void **state)
{
    run(t_truncation, NULL);
}

/* ---- waiting receivers: cancel, deadline, close ---- */

typedef struct {
    weft_udp_t *u;
    ssize_t rc;
    bool done;
    char buf[16];
} recv_t;

static int receiver(void *arg, void **res)
{
    recv_t *r = arg;
    r->rc = weft_udp_recvfrom(r->u, r->buf, sizeof r->buf, NULL);
    r->done = true;
    return 0;
}

static int t_waiting(void *arg, void **res)
{
    weft_udp_t *a = open_loopback("127.0.0.1"), *b = open_loopback("127.0.0.1");
    weft_addr_t ba;
    weft_udp_local_addr(b, &ba);

    /* a waiting receive gets the datagram sent later */
    recv_t r = {.u = b};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, receiver, &r, NULL), 0);
    for (int i = 0; i < 4; i++)
        weft_yield();
    assert_false(r.done);
    assert_int_equal(weft_udp_sendto(a, "late", 4, &ba), 4);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(r.rc, 4);
    weft_udp_close(a);
    weft_udp_close(b);
    return 0;
}

static void test_udp_waiting_receive_gets_a_later_datagram(void **state)
{
    run(t_waiting, NULL);
}

static int t_recv_cancel(void *arg, void **res)
{
    weft_udp_t *b = open_loopback("127.0.0.1");
    weft_task_t *t;
    /* cancelled while waiting */
    recv_t r = {.u = b};
    assert_int_equal(weft_spawn(&t, receiver, &r, NULL), 0);
    for (int i = 0; i < 4; i++)
        weft_yield();
    assert_false(r.done);
    weft_cancel(t);
    weft_await(t, NULL);
    weft_task_release(t);
    assert_int_equal(r.rc, -ECANCELED);
    weft_udp_close(b);
    return 0;
}

static void test_udp_receive_cancelled_while_waiting_returns_ecanceled(void **state)
{
    run(t_recv_cancel, NULL);
}

static int t_recv_busy_close(void *arg, void **res)
{
    weft_udp_t *b = open_loopback("127.0.0.1");
    weft_task_t *t;
    /* a second receiver while one waits: -EBUSY */
    recv_t r = {.u = b};
    assert_int_equal(weft_spawn(&t, receiver, &r, NULL), 0);
    weft_yield();
    char buf[4];
    assert_int_equal(weft_udp_recvfrom(b, buf, sizeof buf, NULL), -EBUSY);

    /* closed while waiting: -EBADF, and the socket still works for nobody */
    assert_int_equal(weft_udp_close(b), 0);
    weft_await(t, NULL);
    weft_task_release(t);
    assert_int_equal(r.rc, -EBADF);
    return 0;
}

static void test_udp_second_receiver_is_ebusy_and_close_wakes_the_first(void **state)
{
    run(t_recv_busy_close, NULL);
}

static int t_recv_deadline(void *arg, void **res)
{
    weft_udp_t *a = open_loopback("127.0.0.1");
    char buf[4];
    /* a deadline */
    weft_deadline_t d;
    int64_t t0 = weft_now(); /* before the push: the deadline counts from there */
    weft_deadline_push(&d, WEFT_MSEC(20));
    assert_int_equal(weft_udp_recvfrom(a, buf, sizeof buf, NULL), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(20));
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    weft_udp_close(a);
    return 0;
}

static void test_udp_receive_times_out_under_a_deadline(void **state)
{
    run(t_recv_deadline, NULL);
}

/* ---- many datagrams through a small buffer: both sides wait ---- */

typedef struct {
    weft_udp_t *u;
    weft_addr_t to;
    int n;
    int got;
    uint64_t sum;
} flood_t;

static int flooder(void *arg, void **res)
{
    flood_t *f = arg;
    for (int i = 0; i < f->n; i++) {
        uint32_t v = (uint32_t)i;
        char buf[512];
        memset(buf, 0, sizeof buf);
        memcpy(buf, &v, sizeof v);
        ssize_t r = weft_udp_sendto(f->u, buf, sizeof buf, &f->to);
        if (r != (ssize_t)sizeof buf)
            return (int)r;
        if (i % 16 == 0)
            weft_yield();
    }
    uint32_t end = UINT32_MAX;
    for (int i = 0; i < 50; i++) {
        weft_udp_sendto(f->u, &end, sizeof end, &f->to);
        weft_sleep(WEFT_MSEC(2));
    }
    return 0;
}

static int t_flood(void *arg, void **res)
{
    weft_udp_t *a = open_loopback("127.0.0.1"), *b = open_loopback("127.0.0.1");
    int small = 4096;
    setsockopt(weft_udp_fd(a), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(weft_udp_fd(b), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    flood_t f = {.u = a, .n = (int)(5000 * test_scale()) + 10};
    weft_udp_local_addr(b, &f.to);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, flooder, &f, NULL), 0);
    /* datagrams may be dropped when the receiver lags (it is UDP): count
     * what arrives, in order, and expect the end marker */
    int64_t last = -1;
    for (;;) {
        char buf[600];
        ssize_t r = weft_udp_recvfrom(b, buf, sizeof buf, NULL);
        assert_true(r == 512 || r == 4);
        uint32_t v;
        memcpy(&v, buf, sizeof v);
        if (v == UINT32_MAX)
            break;
        assert_true((int64_t)v > last);
        last = v;
        f.got++;
    }
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_true(f.got > 0);
    weft_udp_close(a);
    weft_udp_close(b);
    return 0;
}

static void test_udp_flood_through_small_buffers_arrives_in_order(void **state)
{
    run(t_flood, NULL);
}

/* ---- bad arguments ---- */

static int t_bad_args(void *arg, void **res)
{
    weft_udp_t *u;
    weft_addr_t a, un;
    assert_int_equal(weft_addr_parse(&a, "127.0.0.1", 0), 0);
    assert_int_equal(weft_addr_parse(&un, "/tmp/x", 0), 0);
    assert_int_equal(weft_udp_open(NULL, &a, 0), -EINVAL);
    assert_int_equal(weft_udp_open(&u, NULL, 0), -EINVAL);
    assert_int_equal(weft_udp_open(&u, NULL, AF_UNIX), -EINVAL);
    assert_int_equal(weft_udp_open(&u, &un, 0), -EINVAL);
    assert_int_equal(weft_udp_open(&u, &a, AF_INET6), -EINVAL);

    /* the port is taken */
    weft_udp_t *x = open_loopback("127.0.0.1");
    weft_addr_t xa;
    weft_udp_local_addr(x, &xa);
    assert_int_equal(weft_udp_open(&u, &xa, 0), -EADDRINUSE);
    weft_udp_close(x);
    return 0;
}

static void test_udp_open_refuses_bad_arguments_and_a_port_in_use(void **state)
{
    run(t_bad_args, NULL);
}

static int t_unbound(void *arg, void **res)
{
    weft_udp_t *u;
    weft_addr_t un;
    char buf[4];
    assert_int_equal(weft_addr_parse(&un, "/tmp/x", 0), 0);
    weft_udp_t *x = open_loopback("127.0.0.1");
    weft_addr_t xa;
    weft_udp_local_addr(x, &xa);
    /* unbound socket of a family: sending binds it */
    assert_int_equal(weft_udp_open(&u, NULL, AF_INET), 0);
    assert_int_equal(weft_udp_sendto(u, "a", 1, &xa), 1);
    weft_addr_t ua;
    assert_int_equal(weft_udp_local_addr(u, &ua), 0);
    assert_true(weft_addr_port(&ua) > 0);
    assert_int_equal(weft_udp_recvfrom(x, buf, sizeof buf, NULL), 1);

    assert_int_equal(weft_udp_sendto(NULL, "a", 1, &xa), -EINVAL);
    assert_int_equal(weft_udp_sendto(u, NULL, 1, &xa), -EINVAL);
    assert_int_equal(weft_udp_recvfrom(NULL, buf, 1, NULL), -EINVAL);
    assert_int_equal(weft_udp_recvfrom(u, NULL, 1, NULL), -EINVAL);
    /* not connected and no destination */
    assert_true(weft_udp_sendto(u, "a", 1, NULL) < 0);
    assert_int_equal(weft_udp_connect(NULL, &xa), -EINVAL);
    assert_int_equal(weft_udp_connect(u, NULL), -EINVAL);
    assert_int_equal(weft_udp_connect(u, &un), -EINVAL);
    assert_int_equal(weft_udp_local_addr(NULL, &ua), -EINVAL);
    assert_int_equal(weft_udp_local_addr(u, NULL), -EINVAL);
    assert_int_equal(weft_udp_fd(NULL), -EINVAL);
    assert_true(weft_udp_fd(u) >= 0);
    assert_int_equal(weft_udp_close(NULL), -EINVAL);
    weft_udp_close(u);
    weft_udp_close(x);
    return 0;
}

static void test_udp_first_send_binds_an_unbound_socket_and_null_is_einval(void **state)
{
    run(t_unbound, NULL);
}

static int t_cancelled(void *arg, void **res)
{
    weft_udp_t *u = open_loopback("127.0.0.1"), *x = open_loopback("127.0.0.1");
    weft_addr_t xa;
    char buf[4];
    weft_udp_local_addr(x, &xa);
    /* a cancelled task does not send */
    weft_cancel(weft_current());
    assert_int_equal(weft_udp_sendto(u, "a", 1, &xa), -ECANCELED);
    assert_int_equal(weft_udp_recvfrom(x, buf, sizeof buf, NULL), -ECANCELED);
    weft_uncancel();

    weft_udp_close(u);
    weft_udp_close(x);
    return 0;
}

static void test_udp_cancelled_task_neither_sends_nor_receives(void **state)
{
    run(t_cancelled, NULL);
}

static void test_udp_open_outside_a_loop_is_enoloop(void **state)
{
    /* no loop: nothing can be opened */
    weft_udp_t *u;
    weft_addr_t a;
    weft_addr_parse(&a, "127.0.0.1", 0);
    assert_int_equal(weft_udp_open(&u, &a, 0), -WEFT_ENOLOOP);
}

/* outside a task (a callback) a send that may wait is refused */
static void cb_send(void *arg)
{
    weft_udp_t *u = arg;
    weft_addr_t a;
    weft_udp_local_addr(u, &a);
    assert_int_equal(weft_udp_sendto(u, "a", 1, &a), -WEFT_ENOTASK);
}

static int t_callback(void *arg, void **res)
{
    weft_udp_t *u = open_loopback("127.0.0.1");
    assert_int_equal(weft_call_soon(NULL, cb_send, u), 0);
    weft_sleep(WEFT_MSEC(1));
    weft_udp_close(u);
    return 0;
}

static void test_udp_send_from_a_callback_is_enotask(void **state)
{
    run(t_callback, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_unconnected_datagrams_report_the_senders_address),
        cmocka_unit_test(test_udp_ipv6_datagrams_report_the_senders_address),
        cmocka_unit_test(test_udp_connected_socket_gets_only_its_peers_datagrams),
        cmocka_unit_test(test_udp_connected_socket_learns_its_peer_is_gone_from_icmp),
        cmocka_unit_test(test_udp_short_buffer_truncates_one_datagram_only),
        cmocka_unit_test(test_udp_waiting_receive_gets_a_later_datagram),
        cmocka_unit_test(test_udp_receive_cancelled_while_waiting_returns_ecanceled),
        cmocka_unit_test(test_udp_second_receiver_is_ebusy_and_close_wakes_the_first),
        cmocka_unit_test(test_udp_receive_times_out_under_a_deadline),
        cmocka_unit_test(test_udp_flood_through_small_buffers_arrives_in_order),
        cmocka_unit_test(test_udp_open_refuses_bad_arguments_and_a_port_in_use),
        cmocka_unit_test(test_udp_first_send_binds_an_unbound_socket_and_null_is_einval),
        cmocka_unit_test(test_udp_cancelled_task_neither_sends_nor_receives),
        cmocka_unit_test(test_udp_open_outside_a_loop_is_enoloop),
        cmocka_unit_test(test_udp_send_from_a_callback_is_enotask),
    };
    return run_suite(tests, NULL, NULL);
}
