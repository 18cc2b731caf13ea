/* test_resolve.c - weft_getaddrinfo without a network: "localhost",
 * "127.0.0.1" with the default hints (stream sockets only), "::1" (when
 * the machine has IPv6), a service name ("http" -> 80 when the services
 * database has it), an unknown host and an unknown service
 * (-WEFT_ENOTFOUND), EAI_* codes mapped to statuses (a bad family, bad
 * flags), host and service copied (the caller's buffers change while
 * the lookup runs), lookups cancelled before and during the call (no
 * leak: ASan and valgrind check), many lookups at once, bad arguments.
 *
 * Covers: src/resolve.c.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port_of(const struct addrinfo *ai)
{
    if (ai->ai_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ai->ai_addr)->sin_port);
    if (ai->ai_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
    return -1;
}

static bool is_loopback(const struct addrinfo *ai)
{
    if (ai->ai_family == AF_INET)
        return ntohl(((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) == 0x7f000001;
    if (ai->ai_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    return false;
}

/* ---- names and numbers ---- */

static int localhost_main(void *arg, void **res)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    assert_int_equal(weft_getaddrinfo("localhost", "80", &hints, &ai), 0);
    assert_non_null(ai);
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        assert_int_equal(p->ai_family, AF_INET);
        assert_true(is_loopback(p));
        assert_int_equal(port_of(p), 80);
    }
    freeaddrinfo(ai);

    /* the default hints: stream sockets only (getaddrinfo's own default
     * would add datagram and raw entries). AI_ADDRCONFIG may hide IPv4 on
     * a machine without a non-loopback IPv4 address. */
    ai = NULL;
    int rc = weft_getaddrinfo("127.0.0.1", "8080", NULL, &ai);
    if (rc == 0) {
        assert_non_null(ai);
        for (struct addrinfo *p = ai; p; p = p->ai_next) {
            assert_int_equal(p->ai_socktype, SOCK_STREAM);
            assert_true(is_loopback(p));
            assert_int_equal(port_of(p), 8080);
        }
        freeaddrinfo(ai);
    } else {
        assert_int_equal(rc, -WEFT_ENOTFOUND);
        assert_null(ai);
    }
    return 0;
}

static void test_getaddrinfo_resolves_localhost_to_stream_sockets_by_default(void **state)
{
    if (!localhost_resolves())
        skip();
    run(localhost_main, NULL);
}

static int ipv6_main(void *arg, void **res)
{
    struct addrinfo hints = {.ai_family = AF_INET6,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    assert_int_equal(weft_getaddrinfo("::1", "443", &hints, &ai), 0);
    assert_non_null(ai);
    assert_int_equal(ai->ai_family, AF_INET6);
    assert_true(is_loopback(ai));
    assert_int_equal(port_of(ai), 443);
    freeaddrinfo(ai);
    return 0;
}

static void test_getaddrinfo_takes_a_numeric_ipv6_address(void **state)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    if (s < 0)
        skip();
    close(s);
    run(ipv6_main, NULL);
}

static int service_main(void *arg, void **res)
{
    bool have_http = *(bool *)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = weft_getaddrinfo("127.0.0.1", "http", &hints, &ai);
    if (have_http) {
        assert_int_equal(rc, 0);
        assert_int_equal(port_of(ai), 80);
        freeaddrinfo(ai);
    } else if (rc == 0) {
        freeaddrinfo(ai);
    }
    return 0;
}

static void test_getaddrinfo_resolves_a_service_name_to_its_port(void **state)
{
    bool have_http = getservbyname("http", "tcp") != NULL;
    run(service_main, &have_http);
}

static int no_service_main(void *arg, void **res)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    /* a service with no port in the database */
    ai = (struct addrinfo *)&hints; /* must come back NULL */
    assert_int_equal(weft_getaddrinfo("127.0.0.1", "no-such-service-weft", &hints, &ai),
                     -WEFT_ENOTFOUND);
    assert_null(ai);
    return 0;
}

static void test_getaddrinfo_unknown_service_is_enotfound(void **state)
{
    run(no_service_main, NULL);
}

static int service_alone_main(void *arg, void **res)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    /* a service alone: the loopback address (no AI_PASSIVE) */
    ai = NULL;
    assert_int_equal(weft_getaddrinfo(NULL, "9", &hints, &ai), 0);
    assert_true(is_loopback(ai));
    assert_int_equal(port_of(ai), 9);
    freeaddrinfo(ai);
    return 0;
}

static void test_getaddrinfo_service_alone_gives_the_loopback_address(void **state)
{
    run(service_alone_main, NULL);
}

static int unknown_main(void *arg, void **res)
{
    struct addrinfo *ai = NULL;
    int rc = weft_getaddrinfo("no-such-host.invalid", "80", NULL, &ai);
    /* -EAGAIN where the resolver has no network to ask */
    if (rc != -EAGAIN)
        assert_int_equal(rc, -WEFT_ENOTFOUND);
    assert_null(ai);
    return 0;
}

static void test_getaddrinfo_unknown_host_is_enotfound(void **state)
{
    run(unknown_main, NULL);
}

/* EAI_* codes come back as the statuses weft.h lists. */
static int codes_main(void *arg, void **res)
{
    struct addrinfo *ai = NULL;
    struct addrinfo bad_family = {.ai_family = 12345, .ai_socktype = SOCK_STREAM};
    assert_int_equal(weft_getaddrinfo("127.0.0.1", "80", &bad_family, &ai), -EAFNOSUPPORT);
    struct addrinfo bad_flags = {.ai_family = AF_INET, .ai_flags = 0x7fff0000};
    assert_int_equal(weft_getaddrinfo("127.0.0.1", "80", &bad_flags, &ai), -EINVAL);
    struct addrinfo numeric = {.ai_family = AF_INET, .ai_flags = AI_NUMERICHOST};
    assert_int_equal(weft_getaddrinfo("localhost", "80", &numeric, &ai), -WEFT_ENOTFOUND);
    assert_null(ai);
    return 0;
}

static void test_getaddrinfo_maps_eai_codes_to_weft_statuses(void **state)
{
    run(codes_main, NULL);
}

/* ---- copies, cancellation, many at once ---- */

typedef struct {
    char host[32];
    char service[12];
    int rc;
    struct addrinfo *ai;
} req_t;

static int lookup_task(void *arg, void **res)
{
    req_t *r = arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    r->rc = weft_getaddrinfo(r->host, r->service, &hints, &r->ai);
    return 0;
}

static int copies_main(void *arg, void **res)
{
    req_t *r = calloc(1, sizeof *r);
    strcpy(r->host, "127.0.0.1");
    strcpy(r->service, "81");
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, lookup_task, r, NULL), 0);
    assert_int_equal(weft_yield(), 0); /* the lookup is submitted */
    /* scribble over the caller's strings: the job has its own copies */
    memset(r->host, 'x', sizeof r->host - 1);
    strcpy(r->service, "zz");
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(r->rc, 0);
    assert_true(is_loopback(r->ai));
    assert_int_equal(port_of(r->ai), 81);
    freeaddrinfo(r->ai);
    free(r);
    return 0;
}

static void test_getaddrinfo_copies_the_callers_strings_before_suspending(void **state)
{
    run(copies_main, NULL);
}

static int cancel_main(void *arg, void **res)
{
    /* cancelled before the call: nothing starts, nothing leaks */
    struct addrinfo *ai = (struct addrinfo *)&ai;
    assert_int_equal(weft_cancel(weft_current()), 0);
    assert_int_equal(weft_getaddrinfo("localhost", "80", NULL, &ai), -ECANCELED);
    assert_null(ai);
    return 0;
}

static int cancel_during_main(void *arg, void **res)
{
    /* cancelled at every point of a lookup's life (queued, running, just
     * finished): the detached lookup frees its own list */
    int n = (int)(50 * test_scale()) + 4;
    for (int i = 0; i < n; i++) {
        req_t *r = calloc(1, sizeof *r);
        strcpy(r->host, "localhost");
        strcpy(r->service, "80");
        weft_task_t *t;
        assert_int_equal(weft_spawn(&t, lookup_task, r, NULL), 0);
        /* at least one turn: the task has started and submitted */
        for (int y = 0; y <= i % 4; y++)
            assert_int_equal(weft_yield(), 0);
        weft_cancel(t);
        assert_int_equal(weft_await(t, NULL), 0);
        weft_task_release(t);
        if (r->rc == 0) {
            assert_non_null(r->ai);
            freeaddrinfo(r->ai);
        } else {
            assert_int_equal(r->rc, -ECANCELED);
            assert_null(r->ai);
        }
        free(r);
    }
    return 0;
}

static void test_getaddrinfo_when_cancelled_starts_nothing(void **state)
{
    if (!localhost_resolves())
        skip();
    run(cancel_main, NULL);
}

static void test_getaddrinfo_cancelled_at_any_point_leaks_nothing(void **state)
{
    if (!localhost_resolves())
        skip();
    run(cancel_during_main, NULL);
}

static int many_main(void *arg, void **res)
{
    int n = (int)(100 * test_scale()) + 2;
    req_t *r = calloc((size_t)n, sizeof *r);
    weft_task_t **t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        strcpy(r[i].host, i % 2 ? "localhost" : "127.0.0.1");
        snprintf(r[i].service, sizeof r[i].service, "%d", 1000 + i);
        assert_int_equal(weft_spawn(&t[i], lookup_task, &r[i], NULL), 0);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
        assert_int_equal(r[i].rc, 0);
        assert_int_equal(port_of(r[i].ai), 1000 + i);
        freeaddrinfo(r[i].ai);
    }
    free(t);
    free(r);
    return 0;
}

static void test_getaddrinfo_serves_many_lookups_at_once(void **state)
{
    if (!localhost_resolves())
        skip();
    run(many_main, NULL);
}

/* ---- bad arguments ---- */

static int args_main(void *arg, void **res)
{
    struct addrinfo *ai;
    assert_int_equal(weft_getaddrinfo(NULL, NULL, NULL, &ai), -EINVAL);
    assert_int_equal(weft_getaddrinfo("localhost", "80", NULL, NULL), -EINVAL);
    return 0;
}

static void test_getaddrinfo_outside_a_task_is_enotask(void **state)
{
    struct addrinfo *ai;
    assert_int_equal(weft_getaddrinfo("localhost", "80", NULL, &ai), -WEFT_ENOTASK);
}

static void test_getaddrinfo_without_a_name_or_a_result_is_einval(void **state)
{
    run(args_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_getaddrinfo_resolves_localhost_to_stream_sockets_by_default),
        cmocka_unit_test(test_getaddrinfo_takes_a_numeric_ipv6_address),
        cmocka_unit_test(test_getaddrinfo_resolves_a_service_name_to_its_port),
        cmocka_unit_test(test_getaddrinfo_unknown_service_is_enotfound),
        cmocka_unit_test(test_getaddrinfo_service_alone_gives_the_loopback_address),
        cmocka_unit_test(test_getaddrinfo_unknown_host_is_enotfound),
        cmocka_unit_test(test_getaddrinfo_maps_eai_codes_to_weft_statuses),
        cmocka_unit_test(test_getaddrinfo_copies_the_callers_strings_before_suspending),
        cmocka_unit_test(test_getaddrinfo_when_cancelled_starts_nothing),
        cmocka_unit_test(test_getaddrinfo_cancelled_at_any_point_leaks_nothing),
        cmocka_unit_test(test_getaddrinfo_serves_many_lookups_at_once),
        cmocka_unit_test(test_getaddrinfo_outside_a_task_is_enotask),
        cmocka_unit_test(test_getaddrinfo_without_a_name_or_a_result_is_einval),
    };
    return run_suite(tests, NULL, NULL);
}
