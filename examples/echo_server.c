/* echo_server.c - a TCP echo server: every byte a client sends comes back.
 *
 * Shows the shape of every weft server: weft_server_listen with a
 * handler, which the server runs as one task per connection, then
 * weft_signal_wait_stop until Ctrl-C or SIGTERM, then weft_server_close
 * with a grace for the clients still connected (a handler waiting for
 * its client's next bytes, everything sent so far echoed, sees the end of
 * the stream at once, so idle clients do not hold it). The handler is plain
 * sequential code; each read or drain suspends only its own task, so
 * thousands of clients are served at once. It needs nothing but weft.h:
 *
 *   cc -o echo_server echo_server.c $(pkg-config --cflags --libs weft)
 *
 * The streams defer their writes (defer_writes): the echoes of one loop
 * turn leave together just before the loop polls, and under load the
 * loop naps rather than block, so that many clients' next messages come
 * in one batch (docs/design.md, "Streams"; in the `echo` benchmark this
 * is worth 5-8% more messages a second at 50 and 1,000 connections).
 *
 *   ./echo_server 7000          (port 0 picks a free one)
 *   nc 127.0.0.1 7000           type a line, it comes back
 *   ./fanout 127.0.0.1 7000     10,000 clients at once (examples/fanout.c)
 *
 * It prints "echo_server: listening on 127.0.0.1:PORT (N workers)" once
 * it accepts connections, and stops cleanly on Ctrl-C (SIGINT) or
 * SIGTERM. The number of loops comes from the environment:
 * WEFT_WORKERS=2 ./echo_server 7000 accepts and serves on two cores.
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static int echo(weft_stream_t *s, void *arg)
{
    char buf[16384];
    (void)arg;
    for (;;) {
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return 0; /* end of stream, a reset, or the server closing */
        /* write queues what the kernel does not take at once; drain
         * waits only if the client reads slower than it sends. */
        if (weft_stream_write(s, buf, (size_t)n) < 0 || weft_stream_drain(s) < 0)
            return 0;
    }
}

static int serve(void *arg, void **result)
{
    const char *port = arg;
    (void)result;
    /* one listener per worker (WEFT_WORKERS; SO_REUSEPORT spreads the
     * connections), or a plain server with one worker */
    weft_server_opts_t opts = {.stream = {.defer_writes = true}, .per_worker = true};
    /* A client that sends nothing for 10 s after connecting, moves no
     * byte either way for 60 s, or takes none of its echoes for 60 s is
     * closed (the server's defaults, spelled out here): nobody holds a
     * connection for ever. */
    opts.first_bytes_timeout = WEFT_SEC(10);
    opts.idle_timeout = WEFT_SEC(60);
    opts.send_timeout = WEFT_SEC(60);
    weft_server_t *srv;
    int rc = weft_server_listen(&srv, "127.0.0.1", port, echo, NULL, &opts);
    if (rc < 0) {
        fprintf(stderr, "echo_server: listen on port %s: %s\n", port, weft_strerror(rc));
        return rc;
    }
    weft_addr_t a;
    char addr[64];
    weft_server_addr(srv, &a);
    weft_addr_format(&a, addr, sizeof addr);
    int n = weft_server_workers(srv);
    printf("echo_server: listening on %s (%d worker%s)\n", addr, n, n == 1 ? "" : "s");
    fflush(stdout);

    /* until Ctrl-C or SIGTERM; then idle clients (between requests) are
     * closed at once and the others get a second to finish */
    weft_signal_wait_stop(NULL);
    weft_server_close(srv, WEFT_SEC(1));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    return weft_run(serve, argv[1], NULL) == 0 ? 0 : 1;
}
