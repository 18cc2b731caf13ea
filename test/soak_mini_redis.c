/* soak_mini_redis.c - examples/mini_redis against the hostile clients of
 * issue 22 (test/soak.h): fast readers (pipelined GETs of a 512 KiB value,
 * every reply read as it comes), never-reading clients (400 pipelined
 * GETs of it, no reply read), silent clients, garbage and resets, and a
 * normal client's PING throughout; then no fd left behind and a prompt
 * exit on SIGINT under a fresh load. No slowloris: mini_redis, like
 * redis-server, gives a command no deadline of its own (a client that
 * trickles one is never idle). WEFT_SOAK_SECONDS sets the length (32 s);
 * `make soak` runs it. test/soak_pipeliner.c sets never-reading
 * pipeliners on it round after round.
 *
 * Covers: examples/mini_redis.c (its high-water mark), the server's
 * timeouts and output cap (src/server.c, src/stream.c).
 */
#include "harness.h"

#include "soak.h"

#define VALUE (512 * 1024)
#define GET "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"

static char set[VALUE + 64];
static char gets[400 * (sizeof GET - 1)];

static void test_mini_redis_survives_fast_never_reading_silent_and_garbage_clients(void **state)
{
    (void)state;
    int h = snprintf(set, sizeof set, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n", VALUE);
    memset(set + h, 'v', VALUE);
    memcpy(set + h + VALUE, "\r\n", 2);
    for (int i = 0; i < 400; i++)
        memcpy(gets + i * (sizeof GET - 1), GET, sizeof GET - 1);
    soak_server_t sv = {.name = "mini_redis",
                        .args = "",
                        .ping = "PING\r\n",
                        .pong = "+PONG",
                        .setup = set,
                        .setup_len = (size_t)h + VALUE + 2,
                        .setup_reply = "+OK",
                        .flood = gets,
                        .flood_len = 4 * (sizeof GET - 1),
                        .pipeline = gets,
                        .pipeline_len = sizeof gets,
                        .pipeline_times = 1,
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
        cmocka_unit_test(test_mini_redis_survives_fast_never_reading_silent_and_garbage_clients),
    };
    return run_suite(tests, NULL, NULL);
}
