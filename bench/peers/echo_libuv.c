/* echo_libuv.c - the libuv peer of the `echo` workload: a TCP echo server
 * on 127.0.0.1:PORT, written the way libuv's guide shows (uv_listen,
 * uv_accept, uv_read_start, write back what was read), until SIGINT or
 * SIGTERM.
 *
 * Not crippled: the read buffer is one static block (the loop is
 * single-threaded and each read is consumed before the next alloc_cb), and
 * uv_try_write answers at once when the socket takes it all, which it
 * does for small echoes; only a short write copies the rest into a
 * uv_write request.
 */
#include <uv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uv_write_t req;
    char data[];
} write_req_t;

static uv_loop_t *loop;
static char read_buf[65536];

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void close_cb(uv_handle_t *handle)
{
    free(handle);
}

static void write_cb(uv_write_t *req, int status)
{
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, close_cb);
    free(req);
}

static void read_cb(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) {
        uv_close((uv_handle_t *)client, close_cb);
        return;
    }
    if (nread == 0)
        return;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    int done = uv_try_write(client, &out, 1);
    if (done == UV_EAGAIN)
        done = 0;
    if (done < 0) {
        uv_close((uv_handle_t *)client, close_cb);
        return;
    }
    if (done == nread)
        return;
    size_t rest = (size_t)nread - (size_t)done;
    write_req_t *w = malloc(sizeof *w + rest);
    if (!w) {
        uv_close((uv_handle_t *)client, close_cb);
        return;
    }
    memcpy(w->data, buf->base + done, rest);
    uv_buf_t wb = uv_buf_init(w->data, (unsigned)rest);
    if (uv_write(&w->req, client, &wb, 1, write_cb) != 0) {
        free(w);
        uv_close((uv_handle_t *)client, close_cb);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *client = malloc(sizeof *client);
    if (!client)
        return;
    uv_tcp_init(loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0)
        uv_read_start((uv_stream_t *)client, alloc_cb, read_cb);
    else
        uv_close((uv_handle_t *)client, close_cb);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    (void)signum;
    uv_stop(sig->loop);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
    if (rc != 0) {
        fprintf(stderr, "echo-libuv: listen on port %s: %s\n", argv[1], uv_strerror(rc));
        return 1;
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
