/* soak_pipeliner.c - the never-reading pipeliner of issue 22 against
 * examples/mini_redis, for a minute (scaled by WEFT_TEST_SCALE): clients
 * that SET a 512 KiB value, pipeline 400 GETs of it and never read a
 * reply, one after another and several at once. The server's resident
 * memory may grow by no more than twice the server's default cap on
 * queued output per such client (WEFT_SERVER_MAX_PENDING), where it used
 * to grow by a reply per GET (about 200 MiB a client).
 *
 * Covers: examples/mini_redis.c (its high-water mark), the cap on queued
 * output in src/stream.c and src/server.c.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VALUE (512 * 1024)
#define GETS 400
#define CLIENTS 4

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static int dial(int port, int rcvbuf)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    if (rcvbuf)
        setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    return c;
}

static int soak_main(void *arg, void **res)
{
    const char *argv[] = {example_path("mini_redis"), "0", NULL};
    if (access(argv[0], X_OK) != 0) {
        printf("soak_pipeliner: %s not built: skipped\n", argv[0]);
        return 0;
    }
    weft_proc_t *p;
    assert_int_equal(weft_proc_spawn(&p, argv, &(weft_proc_opts_t){.out = WEFT_STDIO_PIPE}), 0);
    const char *line;
    ssize_t n = weft_stream_read_line(weft_proc_stdout(p), &line);
    assert_true(n > 0);
    ssize_t at = n - 1;
    while (at > 0 && line[at] != ':')
        at--;
    int port = atoi(line + at + 1);
    assert_true(port > 0);

    /* the value */
    static char set[VALUE + 64];
    int h = snprintf(set, sizeof set, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n", VALUE);
    memset(set + h, 'v', VALUE);
    memcpy(set + h + VALUE, "\r\n", 2);
    int c = dial(port, 0);
    weft_stream_t *s;
    assert_int_equal(weft_stream_open(&s, c, NULL), 0);
    assert_int_equal(weft_stream_write(s, set, (size_t)h + VALUE + 2), 0);
    assert_true(weft_stream_read_line(s, &line) > 0);
    assert_memory_equal(line, "+OK", 3);
    assert_int_equal(weft_sleep(WEFT_MSEC(200)), 0);
    long before = rss_kib(weft_proc_pid(p)), peak = before;
    assert_true(before > 0);

    static char gets[GETS * 24];
    size_t glen = 0;
    static const char get[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    for (int i = 0; i < GETS; i++) {
        memcpy(gets + glen, get, sizeof get - 1);
        glen += sizeof get - 1;
    }
    int64_t end = weft_now() + (int64_t)(WEFT_SEC(60) * test_scale());
    int rounds = 0;
    do {
        int g[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            g[i] = dial(port, 4096);
            assert_int_equal(send(g[i], gets, glen, 0), (ssize_t)glen);
        }
        for (int t = 0; t < 20; t++) {
            assert_int_equal(weft_sleep(WEFT_MSEC(50)), 0);
            long r = rss_kib(weft_proc_pid(p));
            if (r > peak)
                peak = r;
        }
        for (int i = 0; i < CLIENTS; i++)
            close(g[i]);
        rounds++;
    } while (weft_now() < end);
    printf("soak_pipeliner: %d rounds of %d clients, each %d pipelined GETs of %d KiB never "
           "read: mini_redis RSS %ld KiB before, %ld KiB at peak (+%ld KiB)\n",
           rounds, CLIENTS, GETS, VALUE / 1024, before, peak, peak - before);
    assert_true(peak - before <= (long)(CLIENTS * 2 * WEFT_SERVER_MAX_PENDING / 1024));
    assert_int_equal(weft_stream_close(s), 0);
    assert_int_equal(weft_proc_terminate(p), 0);
    int code;
    assert_int_equal(weft_proc_wait(p, &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(weft_proc_destroy(p), 0);
    return 0;
}

static void test_mini_redis_memory_stays_bounded_under_never_reading_pipeliners(void **state)
{
    run(soak_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mini_redis_memory_stays_bounded_under_never_reading_pipeliners),
    };
    return run_suite(tests, NULL, NULL);
}
