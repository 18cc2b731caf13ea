/* helper_netstress.c - the server process of test_netstress: an echo
 * server on 127.0.0.1, port 0, driven through its stdin and stdout.
 *
 * At start it raises RLIMIT_NOFILE's soft limit to the hard limit, counts
 * its open fds and the bytes malloc has handed out, starts a weft_server
 * and prints "port P fds F mem M". Then, for each line on stdin:
 *   "stat"  waits until every connection has ended, prints
 *           "stat conns C peak K fds F mem M" (K: most connections open
 *           at once since the last stat) ;
 *   "quit"  (or end of input) closes the server and prints
 *           "closed fds F mem M", then exits.
 * Memory is what the allocator has handed out and not taken back: the
 * sanitizer's count under ASan, mallinfo2 otherwise (0 under Valgrind,
 * whose own leak check stands in).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "weft.h"

size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static long long mem_used(void)
{
    if (__sanitizer_get_current_allocated_bytes)
        return (long long)__sanitizer_get_current_allocated_bytes();
    struct mallinfo2 mi = mallinfo2();
    return (long long)mi.uordblks + (long long)mi.hblkhd;
}

static int open_now, peak;

static int echo(weft_stream_t *s, void *arg)
{
    char buf[4096];
    (void)arg;
    if (++open_now > peak)
        peak = open_now;
    int rc = 0;
    for (;;) {
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        if ((rc = weft_stream_write(s, buf, (size_t)n)) < 0 || (rc = weft_stream_drain(s)) < 0)
            break;
    }
    open_now--;
    return rc;
}

__attribute__((format(printf, 2, 3))) static void say(weft_stream_t *out, const char *fmt, ...)
{
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    weft_stream_write(out, line, (size_t)n);
    weft_stream_flush(out);
}

static int serve(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_stream_t *in, *out;
    if (weft_stream_open(&in, 0, NULL) < 0 || weft_stream_open(&out, 1, NULL) < 0)
        return -EIO;
    long fds0 = count_fds();
    long long mem0 = mem_used();

    weft_listener_t *l;
    weft_server_t *srv;
    weft_addr_t la;
    int rc = weft_tcp_listen(&l, "127.0.0.1", "0", NULL);
    if (rc < 0)
        return rc;
    weft_listener_addr(l, &la);
    /* no first-bytes or idle time-out: the clients hold their connections
     * open, silent, until all are connected, which a slow build (TSan,
     * valgrind) may take longer than the defaults to reach */
    weft_server_opts_t o = {.stream = {.limit = 4096},
                            .stack_size = 32 * 1024,
                            .first_bytes_timeout = WEFT_FOREVER,
                            .idle_timeout = WEFT_FOREVER};
    if ((rc = weft_server_start(&srv, l, echo, NULL, &o)) < 0)
        return rc;
    say(out, "port %d fds %ld mem %lld\n", weft_addr_port(&la), fds0, mem0);

    for (;;) {
        const char *line;
        ssize_t n = weft_stream_read_line(in, &line);
        if (n <= 0 || strncmp(line, "quit", 4) == 0)
            break;
        if (strncmp(line, "stat", 4) == 0) {
            for (int i = 0; i < 20000 && weft_server_conns(srv) > 0; i++)
                weft_sleep(WEFT_MSEC(1));
            say(out, "stat conns %zu peak %d fds %ld mem %lld\n", weft_server_conns(srv), peak,
                count_fds(), mem_used());
            peak = open_now;
        }
    }
    rc = weft_server_close(srv, WEFT_SEC(5));
    say(out, "closed rc %d fds %ld mem %lld\n", rc, count_fds(), mem_used());
    weft_stream_close(in);
    weft_stream_close(out);
    return 0;
}

int main(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return weft_run(serve, NULL, NULL) == 0 ? 0 : 1;
}
