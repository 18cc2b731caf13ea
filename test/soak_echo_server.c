/* soak_echo_server.c - examples/echo_server against the hostile clients of
 * issue 22 (test/soak.h): fast readers (64 KiB blocks sent and every echo
 * read as it comes), never-reading clients (8 MiB sent, no echo read),
 * silent clients, garbage and resets, and a normal client's "ping"
 * throughout; then no fd left behind and a prompt exit on SIGINT under a
 * fresh load. No slowloris: to an echo server every byte is a whole
 * request. WEFT_SOAK_SECONDS sets the length (32 s); `make soak` runs it.
 *
 * Covers: examples/echo_server.c, the server's timeouts and output cap
 * (src/server.c, src/stream.c), the cooperative budget (src/loop.c).
 */
#include "harness.h"

#include "soak.h"

static char block[1 << 16];

static void test_echo_server_survives_fast_never_reading_silent_and_garbage_clients(void **state)
{
    (void)state;
    memset(block, 'e', sizeof block);
    soak_server_t sv = {.name = "echo_server",
                        .args = "",
                        .ping = "ping\n",
                        .pong = "ping\n",
                        .flood = block,
                        .flood_len = sizeof block,
                        .pipeline = block,
                        .pipeline_len = sizeof block,
                        .pipeline_times = 128,
                        .silent = (int)scaled(50, 5),
                        .fast = 2,
                        .stalled = 2};
    soak_stats_t st = soak_run(&sv);
    /* the normal client was asked for at all, and the garbage went in */
    assert_true(st.asks > 0);
    assert_true(st.garbage > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_server_survives_fast_never_reading_silent_and_garbage_clients),
    };
    return run_suite(tests, NULL, NULL);
}
