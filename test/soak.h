/* soak.h - what the soak tests share (test/soak_*.c, label soak): an
 * example server started as a process of its own, its resident memory
 * and open fds read from /proc, and one driver, soak_run(), that sets
 * the hostile clients of issue 22 on a server for WEFT_SOAK_SECONDS
 * (default 32; at least 16) and checks what the issue asks:
 *
 *  - slowloris clients (a byte of a request that never ends, every
 *    second) and silent ones (connect, then nothing) come in waves, one
 *    every 16 s; every one of a wave is closed by the server within
 *    14 s of connecting (the examples' 10 s timeouts and a 1 s tick, with
 *    room), and none before 9 s;
 *  - fast readers (a request sent again and again, every answer read as
 *    it comes: over TLS, test/helper_httpload's downloaders) are served
 *    all along;
 *  - never-reading clients (a pipeline of requests, nothing read; over
 *    TLS, helper_httpload's stallers) are held (until the server's send
 *    timeout, 60 s, in a longer soak), and the server's
 *    RSS grows by no more than twice the output cap
 *    (WEFT_SERVER_MAX_PENDING) for each fast reader and never-reading
 *    client, plus SOAK_CONN_KIB for every other connection open at once
 *    (its task's stack, its read buffer, its TLS state);
 *  - garbage and resets (a burst of random bytes then a reset, a connect
 *    then a reset, ten a second) leave the server serving;
 *  - a normal client is answered within 2 s every half second (over TLS,
 *    a helper_httpload probe that runs throughout);
 *  - once every client has gone, the server's sockets come back to
 *    what they were before the first client (no connection's fd
 *    leaked);
 *  - under a fresh load (a fast reader, a never-reading client, slowloris
 *    and silent clients), SIGINT ends the server with status 0 within
 *    3 s (the examples give their clients 1 s).
 *
 * Plain sockets and poll on the client side, in one thread; the TLS
 * clients are helper processes. Bounds grow as WEFT_TEST_SCALE shrinks
 * (slow builds); under ASan the RSS is printed, not checked. Include
 * after harness.h. Every function is static, so a soak file uses what
 * it needs. */
#ifndef WEFT_TEST_SOAK_H
#define WEFT_TEST_SOAK_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Memory a connection may cost the server besides queued output: its
 * task's stack, its read buffer, its TLS state. */
#define SOAK_CONN_KIB 128

static inline int64_t soak_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void soak_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* A bound of ms, stretched for slow builds (WEFT_TEST_SCALE < 1). */
static inline int64_t soak_bound_ms(int64_t ms)
{
    return (int64_t)((double)ms / test_scale());
}

/* WEFT_SOAK_SECONDS, or 32 (two waves of slowloris); at least 16. */
static inline int soak_seconds(void)
{
    const char *s = getenv("WEFT_SOAK_SECONDS");
    int v = s && *s ? atoi(s) : 32;
    return v < 16 ? 16 : v;
}

/* VmRSS of process pid in KiB, or -1. */
static inline long soak_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
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

/* The number of sockets process pid has open (its listeners and
 * connections; not the fds a loop makes once, lazily), or -1. */
static inline int soak_fds(pid_t pid)
{
    char path[64], link[320], to[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t len = readlink(link, to, sizeof to - 1);
        n += len > 7 && memcmp(to, "socket:", 7) == 0;
    }
    closedir(d);
    return n;
}

/* A blocking TCP connection to 127.0.0.1:port (rcvbuf > 0 sets a small
 * receive buffer first). */
static inline int soak_dial(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Closes fd with a reset (SO_LINGER 0). */
static inline void soak_reset(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Raises RLIMIT_NOFILE to its hard limit; false if that is under n. */
static inline bool soak_fd_room(long n)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)n) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur >= (rlim_t)n;
}

/* A child process with its stdout piped to us. */
typedef struct soak_proc {
    pid_t pid;
    int out; /* its stdout, or -1 */
} soak_proc_t;

/* Starts path with argv (argv[0] included), its stdout piped, and reads
 * it until a line that starts with `want` (30 s, stretched), copied into
 * line; fails the test otherwise. want NULL: returns at once. */
static inline soak_proc_t soak_start(const char *path, char *const argv[], const char *want,
                                     char *line, size_t size)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    soak_proc_t c = {.pid = fork()};
    assert_true(c.pid >= 0);
    if (c.pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execv(path, argv);
        _exit(127);
    }
    close(p[1]);
    c.out = p[0];
    if (!want)
        return c;
    size_t len = 0;
    int64_t end = soak_now_ms() + soak_bound_ms(30000);
    for (;;) {
        char *nl = memchr(line, '\n', len);
        if (nl) {
            if (strncmp(line, want, strlen(want)) == 0) {
                *nl = 0;
                return c;
            }
            len -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, len);
            continue;
        }
        struct pollfd pfd = {.fd = c.out, .events = POLLIN};
        int64_t left = end - soak_now_ms();
        if (len + 1 >= size || left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = read(c.out, line + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = 0;
    kill(c.pid, SIGKILL);
    waitpid(c.pid, NULL, 0);
    fail_msg("%s did not say \"%s\": \"%s\"", path, want, line);
    return c;
}

/* Waits up to ms for the child to end: its wait status, or -1 (still
 * running). */
static inline int soak_wait(soak_proc_t *c, int64_t ms)
{
    int64_t end = soak_now_ms() + ms;
    int status;
    for (;;) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid) {
            c->pid = -1;
            if (c->out >= 0)
                close(c->out);
            c->out = -1;
            return status;
        }
        if (soak_now_ms() >= end)
            return -1;
        soak_sleep_ms(5);
    }
}

/* Reads the child's stdout into buf (a string) until it ends or ms pass. */
static inline void soak_read_out(soak_proc_t *c, char *buf, size_t size, int64_t ms)
{
    size_t len = 0;
    int64_t end = soak_now_ms() + ms;
    while (c->out >= 0 && len + 1 < size) {
        struct pollfd pfd = {.fd = c->out, .events = POLLIN};
        int64_t left = end - soak_now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = read(c->out, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    if (len && buf[len - 1] == '\n')
        buf[len - 1] = 0;
}

/* Kills the child (if it runs) and reaps it. */
static inline void soak_kill(soak_proc_t *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        soak_wait(c, 10000);
    }
}

/* ---- the driver ---- */

/* A server under soak: an example and what its clients say. */
typedef struct soak_server {
    const char *name; /* the example (examples/<name>) */
    const char *args; /* its arguments after the port ("" or " cert key") */
    bool tls;         /* TLS: the fast and never-reading clients are helpers */
    const char *ca;   /* TLS: the CA file for helper_httpload */
    /* a normal request and a string its answer contains (plain servers) */
    const char *ping, *pong;
    /* sent once, answered with reply_prefix, before anything else */
    const char *setup, *setup_reply;
    size_t setup_len;
    /* a request that never ends, a byte a second (NULL: no slowloris,
     * where every byte is a whole request) */
    const char *slowloris;
    size_t slowloris_len;
    /* a fast reader's request, sent again and again (plain servers) */
    const char *flood;
    size_t flood_len;
    /* a never-reading client's pipeline, sent once (plain servers) */
    const char *pipeline;
    size_t pipeline_len, pipeline_times;
    int slow, silent, fast, stalled; /* how many of each at once */
} soak_server_t;

enum { SOAK_SLOW, SOAK_SILENT, SOAK_FAST, SOAK_STALL };

typedef struct soak_client {
    int fd, kind;
    int64_t opened, closed; /* ms since the start; closed 0: open */
    size_t sent;            /* of the flood or the pipeline */
    long long got;
} soak_client_t;

/* What one round of soak_run saw. */
typedef struct soak_stats {
    int waves, slow_left, slow_early, asks, asks_ok, garbage;
    long rss_before, rss_peak, rss_bound;
    long long fast_bytes;
} soak_stats_t;

/* A normal client: one ping on a fresh connection, pong in its answer
 * within 2 s (stretched). */
static inline bool soak_ask(int port, const soak_server_t *sv)
{
    int fd = soak_dial(port, 0);
    size_t len = strlen(sv->ping), got = 0;
    bool ok = send(fd, sv->ping, len, MSG_NOSIGNAL) == (ssize_t)len;
    char buf[1024];
    int64_t end = soak_now_ms() + soak_bound_ms(2000);
    while (ok && got + 1 < sizeof buf && soak_now_ms() < end) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = 0;
        if (memmem(buf, got, sv->pong, strlen(sv->pong)))
            break;
    }
    close(fd);
    return ok && memmem(buf, got, sv->pong, strlen(sv->pong));
}

static inline void soak_setup(int port, const soak_server_t *sv)
{
    if (!sv->setup)
        return;
    int fd = soak_dial(port, 0);
    size_t off = 0;
    while (off < sv->setup_len) {
        ssize_t n = send(fd, sv->setup + off, sv->setup_len - off, MSG_NOSIGNAL);
        assert_true(n > 0);
        off += (size_t)n;
    }
    char buf[64] = {0};
    assert_true(recv(fd, buf, sizeof buf - 1, 0) > 0);
    assert_memory_equal(buf, sv->setup_reply, strlen(sv->setup_reply));
    close(fd);
}

/* Opens `n` clients of `kind` at time t into c (from index at). */
static inline int soak_open(soak_client_t *c, int at, int n, int kind, int port, int64_t t)
{
    for (int i = 0; i < n; i++)
        c[at + i] = (soak_client_t){
            .fd = soak_dial(port, kind == SOAK_STALL ? 4096 : 0), .kind = kind, .opened = t};
    for (int i = 0; i < n; i++)
        fcntl(c[at + i].fd, F_SETFL, O_NONBLOCK);
    return at + n;
}

/* Moves the clients one step: slowloris bytes due at t, the fast
 * readers' and never-reading clients' sends, the reads; marks the ones
 * the server closed. Waits at most wait_ms in poll. */
static inline void soak_step(soak_client_t *c, int n, const soak_server_t *sv, int64_t t,
                             struct pollfd *pfd, int wait_ms, soak_stats_t *st)
{
    static char buf[1 << 16];
    int k = 0;
    for (int i = 0; i < n; i++) {
        soak_client_t *x = &c[i];
        if (x->closed)
            continue;
        if (x->kind == SOAK_SLOW && t - x->opened >= (int64_t)x->sent * 1000) {
            size_t len = sv->slowloris_len;
            if (send(x->fd, &sv->slowloris[x->sent % len], 1, MSG_NOSIGNAL) < 0 &&
                errno != EAGAIN) {
                x->closed = t ? t : 1;
                close(x->fd);
                continue;
            }
            x->sent++;
        }
        if (x->kind == SOAK_FAST ||
            (x->kind == SOAK_STALL && x->sent < sv->pipeline_len * sv->pipeline_times)) {
            const char *m = x->kind == SOAK_FAST ? sv->flood : sv->pipeline;
            size_t mlen = x->kind == SOAK_FAST ? sv->flood_len : sv->pipeline_len;
            for (int burst = 0; burst < 16; burst++) {
                size_t off = x->sent % mlen;
                ssize_t w = send(x->fd, m + off, mlen - off, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                x->sent += (size_t)w;
                if (x->kind == SOAK_STALL && x->sent >= mlen * sv->pipeline_times)
                    break;
            }
        }
        if (x->kind != SOAK_STALL)
            pfd[k++] = (struct pollfd){.fd = x->fd, .events = POLLIN};
    }
    if (k && poll(pfd, (nfds_t)k, wait_ms) > 0) {
        for (int j = 0, i = 0; j < k; j++) {
            if (!pfd[j].revents)
                continue;
            while (c[i].fd != pfd[j].fd || c[i].closed)
                i++;
            for (;;) {
                ssize_t r = recv(c[i].fd, buf, sizeof buf, MSG_DONTWAIT);
                if (r > 0) {
                    c[i].got += r;
                    if (c[i].kind == SOAK_FAST)
                        st->fast_bytes += r;
                    if (c[i].kind == SOAK_FAST)
                        continue;
                }
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    c[i].closed = t ? t : 1;
                    close(c[i].fd);
                }
                break;
            }
        }
    } else if (!k) {
        soak_sleep_ms(wait_ms);
    }
}

/* A burst of garbage then a reset, and a connect then a reset. */
static inline void soak_garbage(int port, unsigned *seed)
{
    char junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)rand_r(seed);
    int fd = soak_dial(port, 0);
    send(fd, junk, 1 + (size_t)rand_r(seed) % sizeof junk, MSG_NOSIGNAL);
    soak_reset(fd);
    soak_reset(soak_dial(port, 0));
}

static inline void soak_helper(soak_proc_t *h, const char *mode, int port, const soak_server_t *sv,
                               const char *n1, const char *n2, const char *want)
{
    static char path[4200], line[256];
    char port_s[16];
    snprintf(path, sizeof path, "%s", helper_path("helper_httpload"));
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[] = {path, (char *)mode, port_s, (char *)sv->ca, (char *)n1, (char *)n2, NULL};
    *h = soak_start(path, argv, want, line, sizeof line);
}

/* Runs the soak against sv; prints what it saw, checks what every server
 * must hold (see the top of this file) and returns it, for the checks
 * that are the caller's own. */
static inline soak_stats_t soak_run(const soak_server_t *sv)
{
    static char path[4200], line[256];
    snprintf(path, sizeof path, "%s", example_path(sv->name));
    if (access(path, X_OK) != 0) {
        printf("soak %s: %s not built: skipped\n", sv->name, path);
        skip();
    }
    int per_wave = sv->slow + sv->silent, most = 2 * per_wave + sv->fast + sv->stalled + 16;
    if (!soak_fd_room(most + 64))
        skip();
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "%s 0%s", sv->name, sv->args);
    char *argv[8];
    int argc = 0;
    for (char *tok = strtok(cmd, " "); tok && argc < 7; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    char want[64];
    snprintf(want, sizeof want, "%s: listening on", sv->name);
    soak_proc_t srv = soak_start(path, argv, want, line, sizeof line);
    int port = atoi(strrchr(line, ':') + 1);
    assert_true(port > 0);
    soak_sleep_ms(200);
    int fds_before = soak_fds(srv.pid);
    soak_setup(port, sv);
    soak_stats_t st = {.rss_before = soak_rss_kib(srv.pid)};
    st.rss_peak = st.rss_before;

    int seconds = soak_seconds();
    soak_client_t *c = calloc((size_t)most, sizeof *c);
    struct pollfd *pfd = calloc((size_t)most, sizeof *pfd);
    assert_non_null(c);
    assert_non_null(pfd);
    soak_proc_t fast = {-1, -1}, stalled = {-1, -1}, probe = {-1, -1};
    int n = 0;
    if (sv->tls) {
        char count[16];
        snprintf(count, sizeof count, "%d", seconds * 2);
        if (sv->fast)
            soak_helper(&fast, "download", port, sv, "1099511627776", "1", "download: started");
        if (sv->stalled)
            soak_helper(&stalled, "stall", port, sv, "1099511627776", "1", "stall: sent");
        soak_helper(&probe, "probe", port, sv, count, "400", NULL);
    } else {
        n = soak_open(c, n, sv->fast, SOAK_FAST, port, 0);
        n = soak_open(c, n, sv->stalled, SOAK_STALL, port, 0);
    }
    int holders = sv->fast + sv->stalled;
    int64_t t0 = soak_now_ms(); /* the hostile load is there: the clock starts */
    int64_t next_ask = 0, next_wave = 0, next_garbage = 0, next_rss = 0;
    int wave_at = -1; /* index of the current wave's first client */
    int64_t wave_t = 0;
    unsigned seed = 22;
    for (;;) {
        int64_t t = soak_now_ms() - t0;
        if (t >= (int64_t)seconds * 1000)
            break;
        /* a wave of slowloris and silent clients every 16 s, in the
         * slots of the one before (closed by now, or counted) */
        if (t >= next_wave && t + 14500 <= (int64_t)seconds * 1000) {
            int base = sv->fast * !sv->tls + sv->stalled * !sv->tls;
            int at = base + (st.waves % 2) * per_wave;
            for (int i = at; i < at + per_wave; i++)
                if (i < n && !c[i].closed)
                    close(c[i].fd), c[i].closed = t;
            if (sv->slowloris)
                soak_open(c, at, sv->slow, SOAK_SLOW, port, t);
            else
                for (int i = at; i < at + sv->slow; i++)
                    c[i] = (soak_client_t){.fd = -1, .kind = SOAK_SLOW, .closed = -1};
            soak_open(c, at + sv->slow, sv->silent, SOAK_SILENT, port, t);
            if (at + per_wave > n)
                n = at + per_wave;
            wave_at = at;
            wave_t = t;
            st.waves++;
            next_wave = t + 16000;
        }
        if (wave_at >= 0 && t >= wave_t + 14000) {
            for (int i = wave_at; i < wave_at + per_wave; i++) {
                if (c[i].closed < 0)
                    continue;
                st.slow_left += !c[i].closed;
                st.slow_early += c[i].closed && c[i].closed - c[i].opened < 9000;
            }
            wave_at = -1;
        }
        if (!sv->tls && t >= next_ask) {
            st.asks++;
            st.asks_ok += soak_ask(port, sv);
            next_ask = t + 500;
        }
        if (t >= next_garbage) {
            soak_garbage(port, &seed);
            st.garbage++;
            next_garbage = t + 100;
        }
        if (t >= next_rss) {
            long r = soak_rss_kib(srv.pid);
            if (r > st.rss_peak)
                st.rss_peak = r;
            next_rss = t + 100;
        }
        soak_step(c, n, sv, t, pfd, 20, &st);
    }
    /* every hostile client stays connected to the end but for the
     * slowloris and silent ones */
    int holders_left = 0;
    for (int i = 0; i < n; i++)
        holders_left += c[i].kind == SOAK_FAST && !c[i].closed;
    char probe_line[256] = "";
    if (sv->tls) {
        soak_read_out(&probe, probe_line, sizeof probe_line, soak_bound_ms(60000));
        int status = soak_wait(&probe, soak_bound_ms(5000));
        int ok = 0, all = -1;
        sscanf(probe_line, "probe: %d ok of %d", &ok, &all);
        st.asks = seconds * 4; /* a fresh connection and a kept-alive request each time */
        st.asks_ok = status == 0 && ok == all ? ok : 0;
        printf("soak %s: normal client: %s\n", sv->name, probe_line);
        holders_left = fast.pid > 0 && soak_wait(&fast, 0) == -1;
        soak_kill(&fast);
        soak_kill(&stalled);
    }
    for (int i = 0; i < n; i++)
        if (c[i].fd >= 0 && !c[i].closed)
            close(c[i].fd);
    /* every client gone: the server's fds come back to where they were */
    int fds_after = -1;
    for (int64_t end = soak_now_ms() + soak_bound_ms(5000); soak_now_ms() < end; soak_sleep_ms(50))
        if ((fds_after = soak_fds(srv.pid)) <= fds_before)
            break;

    if (fds_after > fds_before) { /* say which, for the failure below */
        char cmd2[160];
        snprintf(cmd2, sizeof cmd2, "ls -l /proc/%d/fd; ss -tanp | grep 'pid=%d,'", (int)srv.pid,
                 (int)srv.pid);
        if (system(cmd2) < 0)
            printf("soak %s: fds %d before, %d after\n", sv->name, fds_before, fds_after);
    }
    /* a fresh load, then Ctrl-C */
    n = 0;
    if (sv->tls) {
        soak_helper(&fast, "download", port, sv, "1099511627776", "1", "download: started");
        soak_helper(&stalled, "stall", port, sv, "1099511627776", "1", "stall: sent");
    } else {
        n = soak_open(c, n, sv->fast ? 1 : 0, SOAK_FAST, port, 0);
        n = soak_open(c, n, sv->stalled ? 1 : 0, SOAK_STALL, port, 0);
    }
    n = soak_open(c, n, sv->slowloris ? 10 : 0, SOAK_SLOW, port, 0);
    n = soak_open(c, n, 10, SOAK_SILENT, port, 0);
    int64_t t1 = soak_now_ms();
    while (soak_now_ms() - t1 < 1000)
        soak_step(c, n, sv, soak_now_ms() - t1, pfd, 20, &st);
    int64_t sig = soak_now_ms();
    assert_int_equal(kill(srv.pid, SIGINT), 0);
    int status = -1;
    while (soak_now_ms() - sig < soak_bound_ms(3000) && (status = soak_wait(&srv, 0)) == -1)
        soak_step(c, n, sv, soak_now_ms() - t1, pfd, 5, &st);
    int64_t exit_ms = soak_now_ms() - sig;
    soak_kill(&srv);
    soak_kill(&fast);
    soak_kill(&stalled);
    for (int i = 0; i < n; i++)
        if (!c[i].closed)
            close(c[i].fd);
    st.rss_bound = holders * 2 * (long)(WEFT_SERVER_MAX_PENDING / 1024) +
                   (long)(per_wave + holders + 8) * SOAK_CONN_KIB;
    printf("soak %s: %d s, %d wave%s of %d slowloris + %d silent: %d left after 14 s, %d closed "
           "before 9 s; %d fast reader%s (%lld bytes read%s, %d still served at the end), %d "
           "never-reading client%s; %d garbage and reset bursts; normal client answered %d of %d; "
           "RSS %ld KiB before, %ld KiB at peak (+%ld KiB, bound %ld KiB); sockets %d before, %d "
           "after; "
           "SIGINT to exit %lld ms under load (status %d)\n",
           sv->name, seconds, st.waves, st.waves == 1 ? "" : "s", sv->slowloris ? sv->slow : 0,
           sv->silent, st.slow_left, st.slow_early, sv->fast, sv->fast == 1 ? "" : "s",
           st.fast_bytes, sv->tls ? " here: the TLS one is a helper" : "", holders_left,
           sv->stalled, sv->stalled == 1 ? "" : "s", st.garbage, st.asks_ok, st.asks, st.rss_before,
           st.rss_peak, st.rss_peak - st.rss_before, st.rss_bound, fds_before, fds_after,
           (long long)exit_ms, status);
    fflush(stdout);
    free(c);
    free(pfd);
    assert_true(st.waves >= 1);
    assert_int_equal(st.slow_left, 0);
    assert_int_equal(st.slow_early, 0);
    assert_int_equal(st.asks_ok, st.asks);
    if (!under_asan()) /* its shadow memory and quarantine are no server's */
        assert_true(st.rss_peak - st.rss_before <= st.rss_bound);
    assert_true(fds_after <= fds_before);
    assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(exit_ms < soak_bound_ms(3000));
    if (!sv->tls)
        assert_true(sv->fast == 0 || st.fast_bytes > 0);
    assert_int_equal(holders_left, sv->fast);
    return st;
}

#endif
