/* loadgen.c - weft-loadgen: an echo load generator on plain epoll.
 *
 *   weft-loadgen -p PORT [-H HOST] [-c CONNS] [-d SECONDS] [-w WARMUP_S]
 *                [-s SIZE] [--pid PID]
 *
 * Opens CONNS connections; each keeps exactly one SIZE-byte message (64 by
 * default) outstanding: it sends one, waits until all of it has come back,
 * checks it byte for byte, and sends the next. Once every connection has
 * had one round trip, it runs WARMUP_S seconds unmeasured, then DURATION
 * seconds measured, and prints one JSON object on stdout:
 *
 *   {"msgs":N,"seconds":S,"msgs_per_s":R,"p50_us":A,"p99_us":B,"errors":E,
 *    "conns":C,"client_cpu_s":U[,"server_cpu_s":V]}
 *
 * Latency is per message, from the first write to the last echoed byte,
 * kept in a histogram of 0.1 us buckets up to 100 ms (10 us above, to
 * 10.1 s), so p50 and p99 are exact to a bucket. server_cpu_s is the
 * utime + stime of --pid over the measured window (from /proc/PID/stat);
 * client_cpu_s ours, so a reader can tell when the generator itself was
 * the bottleneck. errors counts connections lost or answers that differ.
 *
 * It is deliberately not built on weft: every server meets the same
 * client. Exit status 0 if any message was measured, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 4096
#define MAX_CONNS 100000

/* Histogram: fine buckets where the figures live, coarse ones for stalls. */
#define FINE_NS 100
#define FINE_N 1000000 /* 0 .. 100 ms */
#define COARSE_NS 10000
#define COARSE_N 1000000 /* 100 ms .. 10.1 s; the last bucket holds the rest */
static uint32_t hist[FINE_N + COARSE_N];

typedef struct conn {
    int fd;
    uint32_t id;
    uint64_t seq;
    size_t sent, got;
    int64_t t_send;
    bool want_out; /* EPOLLOUT is armed: the last write was short */
    bool done_one; /* had a full round trip */
    unsigned char out[MAX_SIZE], in[MAX_SIZE];
} conn_t;

static size_t msg_size = 64;
static int ep = -1;
static conn_t *conns;
static int n_conns, n_alive, n_ready;
static bool measuring;
static int64_t window_start, window_end;
static uint64_t msgs, errors;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "weft-loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void record(int64_t ns)
{
    size_t i;
    if (ns < 0)
        ns = 0;
    if (ns < (int64_t)FINE_NS * FINE_N)
        i = (size_t)(ns / FINE_NS);
    else {
        int64_t c = (ns - (int64_t)FINE_NS * FINE_N) / COARSE_NS;
        i = FINE_N + (size_t)(c < COARSE_N - 1 ? c : COARSE_N - 1);
    }
    hist[i]++;
}

/* The latency in microseconds below which a fraction q of the messages
 * fall (the middle of that bucket). */
static double percentile_us(double q)
{
    if (msgs == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)msgs);
    if (want < 1)
        want = 1;
    uint64_t cum = 0;
    for (size_t i = 0; i < FINE_N + COARSE_N; i++) {
        cum += hist[i];
        if (cum >= want) {
            double lo, width;
            if (i < FINE_N) {
                lo = (double)i * FINE_NS;
                width = FINE_NS;
            } else {
                lo = (double)FINE_NS * FINE_N + (double)(i - FINE_N) * COARSE_NS;
                width = COARSE_NS;
            }
            return (lo + width / 2) / 1000.0;
        }
    }
    return 0;
}

/* utime + stime of pid in seconds, or -1. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: skip past the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut, st;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void conn_lost(conn_t *c, const char *why)
{
    if (c->fd < 0)
        return;
    if (errors < 10)
        fprintf(stderr, "weft-loadgen: connection %u: %s\n", c->id, why);
    errors++;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    n_alive--;
    if (!c->done_one)
        n_ready++; /* nothing to wait for any more */
}

static void set_out(conn_t *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl");
    c->want_out = on;
}

static void flush_out(conn_t *c)
{
    while (c->sent < msg_size) {
        ssize_t w = write(c->fd, c->out + c->sent, msg_size - c->sent);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            if (!c->want_out)
                set_out(c, true);
            return;
        }
        if (w < 0) {
            conn_lost(c, strerror(errno));
            return;
        }
        c->sent += (size_t)w;
    }
    if (c->want_out)
        set_out(c, false);
}

/* The next message: its sequence number and connection id up front, the
 * rest a pattern of both, so a reordered or misrouted echo shows. */
static void start_msg(conn_t *c, int64_t now)
{
    c->seq++;
    memcpy(c->out, &c->seq, sizeof c->seq < msg_size ? sizeof c->seq : msg_size);
    for (size_t i = sizeof c->seq; i < msg_size; i++)
        c->out[i] = (unsigned char)(c->seq * 131 + c->id * 7 + i);
    c->sent = c->got = 0;
    c->t_send = now;
    flush_out(c);
}

static void on_readable(conn_t *c)
{
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->got, msg_size - c->got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0) {
            conn_lost(c, r == 0 ? "closed by the server" : strerror(errno));
            return;
        }
        c->got += (size_t)r;
        if (c->got < msg_size)
            continue;
        if (memcmp(c->in, c->out, msg_size) != 0) {
            conn_lost(c, "echo differs from the message sent");
            return;
        }
        int64_t now = now_ns();
        if (measuring && now >= window_start) {
            record(now - c->t_send);
            msgs++;
        }
        if (!c->done_one) {
            c->done_one = true;
            n_ready++;
        }
        start_msg(c, now);
        return; /* one outstanding message: nothing more can be waiting */
    }
}

/* Runs the event loop until `deadline`, or (ready_only) until every
 * connection has had a round trip. */
static void run_until(int64_t deadline, bool ready_only)
{
    struct epoll_event evs[512];
    while (n_alive > 0) {
        if (ready_only && n_ready >= n_conns)
            return;
        int64_t left = deadline - now_ns();
        if (left <= 0)
            return;
        int ms = left > 10000000 ? 10 : (int)(left / 1000000) + 1;
        int n = epoll_wait(ep, evs, 512, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
                flush_out(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                on_readable(c);
        }
    }
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: weft-loadgen -p PORT [-H HOST] [-c CONNS] [-d SECONDS] [-w WARMUP_S]\n"
               "                    [-s SIZE] [--pid SERVER_PID]\n");
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = NULL;
    double dur = 3, warm = 0.5;
    long pid = 0;
    n_conns = 1;
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},
        {"conns", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"size", required_argument, NULL, 's'},
        {"pid", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "p:H:c:d:w:s:P:h", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            port = optarg;
            break;
        case 'H':
            host = optarg;
            break;
        case 'c':
            n_conns = atoi(optarg);
            break;
        case 'd':
            dur = atof(optarg);
            break;
        case 'w':
            warm = atof(optarg);
            break;
        case 's':
            msg_size = (size_t)atol(optarg);
            break;
        case 'P':
            pid = atol(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!port || n_conns < 1 || n_conns > MAX_CONNS || dur <= 0 || warm < 0 || msg_size < 1 ||
        msg_size > MAX_SIZE) {
        usage(stderr);
        return 2;
    }
    raise_nofile();

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "weft-loadgen: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 1;
    }
    conns = calloc((size_t)n_conns, sizeof *conns);
    if (!conns)
        die("calloc");
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");

    /* Blocking connects, one after another: a server with a short listen
     * backlog sees them at the pace it accepts (the kernel retries a
     * dropped handshake), and the ready phase below waits for the stragglers. */
    int64_t t_connect = now_ns();
    for (int i = 0; i < n_conns; i++) {
        conn_t *c = &conns[i];
        c->id = (uint32_t)i;
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            die("socket");
        struct timeval tv = {.tv_sec = 10};
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            fprintf(stderr, "weft-loadgen: connect %s:%s (connection %d): %s\n", host, port, i,
                    strerror(errno));
            return 1;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            die("epoll_ctl");
        n_alive++;
        start_msg(c, now_ns());
    }
    freeaddrinfo(ai);

    run_until(now_ns() + 30 * (int64_t)1000000000, true);
    if (n_ready < n_conns || n_alive < n_conns) {
        fprintf(stderr, "weft-loadgen: only %d of %d connections answered within 30 s\n",
                n_alive < n_ready ? n_alive : n_ready, n_conns);
        return 1;
    }
    fprintf(stderr, "weft-loadgen: %d connection(s) ready after %.3f s\n", n_conns,
            (double)(now_ns() - t_connect) / 1e9);

    run_until(now_ns() + (int64_t)(warm * 1e9), false);

    double srv0 = pid > 0 ? proc_cpu_s((pid_t)pid) : -1;
    double cli0 = self_cpu_s();
    window_start = now_ns();
    measuring = true;
    run_until(window_start + (int64_t)(dur * 1e9), false);
    window_end = now_ns();
    measuring = false;
    double cli1 = self_cpu_s();
    double srv1 = pid > 0 ? proc_cpu_s((pid_t)pid) : -1;

    double secs = (double)(window_end - window_start) / 1e9;
    printf("{\"msgs\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"errors\":%llu,\"conns\":%d,\"client_cpu_s\":%.3f",
           (unsigned long long)msgs, secs, (double)msgs / secs, percentile_us(0.50),
           percentile_us(0.99), (unsigned long long)errors, n_conns, cli1 - cli0);
    if (srv0 >= 0 && srv1 >= 0)
        printf(",\"server_cpu_s\":%.3f", srv1 - srv0);
    printf("}\n");
    fflush(stdout);
    return msgs > 0 ? 0 : 1;
}
