/* echo_server.c - a TCP echo server: every byte a client sends comes back.
 *
 * Shows the shape of every weft server: listen, hand the listener to
 * weft_server_start with a handler, and let the server run one task per
 * connection. The handler is plain sequential code; each read or drain
 * suspends only its own task, so thousands of clients are served at once.
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
 * It prints "echo_server: listening on 127.0.0.1:PORT" once it accepts
 * connections, and stops cleanly on Ctrl-C (SIGINT) or SIGTERM. The number
 * of loops comes from the environment: WEFT_WORKERS=2 ./echo_server 7000.
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

#include "proto/sig.h"

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

/* one listener per worker (WEFT_WORKERS; SO_REUSEPORT spreads the
 * connections), or a plain server with one worker */
static int serve(void *arg, void **result)
{
    (void)result;
    static const weft_serve_opts_t opts = {.server = {.stream = {.defer_writes = true}}};
    return serve_until_stopped("echo_server", arg, echo, NULL, &opts);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    stop_signals_block();
    return weft_run(serve, argv[1], NULL) == 0 ? 0 : 1;
}
