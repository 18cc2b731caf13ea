/* soak_http_hello.c - examples/http_hello against the hostile clients of
 * issue 22 (test/soak.h): slowloris (a request head that never ends, a
 * byte a second) and silent clients in waves, fast readers (pipelined
 * GETs sent and every answer read as it comes), never-reading clients
 * (20,000 pipelined GETs, no answer read), garbage and resets, and a
 * normal client's GET throughout; then no fd left behind and a prompt
 * exit on SIGINT under a fresh load. WEFT_SOAK_SECONDS sets the length
 * (32 s); `make soak` runs it. test/soak_slowloris.c sets a thousand
 * slowloris clients on it at once.
 *
 * Covers: examples/http_hello.c (its request-head deadline), the
 * server's timeouts and output cap (src/server.c, src/stream.c).
 */
#include "harness.h"

#include "soak.h"

#define GET "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
#define GETS 64

static char gets[GETS * (sizeof GET - 1)];
static const char slow[] = "GET /a-long-path-that-never-ends-because-nobody-finishes-it";

static void test_http_hello_survives_slowloris_fast_never_reading_and_garbage_clients(void **state)
{
    (void)state;
    for (int i = 0; i < GETS; i++)
        memcpy(gets + i * (sizeof GET - 1), GET, sizeof GET - 1);
    soak_server_t sv = {.name = "http_hello",
                        .args = "",
                        .ping = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        .pong = "hello",
                        .slowloris = slow,
                        .slowloris_len = sizeof slow - 1,
                        .flood = gets,
                        .flood_len = sizeof gets,
                        .pipeline = gets,
                        .pipeline_len = sizeof gets,
                        .pipeline_times = 20000 / GETS,
                        .slow = (int)scaled(200, 10),
                        .silent = (int)scaled(50, 5),
                        .fast = 2,
                        .stalled = 2};
    soak_stats_t st = soak_run(&sv);
    /* slowloris waves came and went, the normal client was asked for */
    assert_true(st.waves >= 1);
    assert_true(st.asks > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_hello_survives_slowloris_fast_never_reading_and_garbage_clients),
    };
    return run_suite(tests, NULL, NULL);
}
