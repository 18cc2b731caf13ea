/* netbench.c - shared helpers of the network workloads (see netbench.h).
 * Measures nothing by itself.
 */
#include "netbench.h"

#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int nb_pick_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* In the child after fork: pin, raise the fd limit, die with the parent,
 * route stdout to `out_fd` (-1: /dev/null), exec. Never returns. */
static void child_exec(char *const argv[], char **env, int cpu, int out_fd)
{
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            _exit(126);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* a server must not outlive an interrupted weft-bench */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (out_fd < 0)
        out_fd = open("/dev/null", O_WRONLY);
    if (out_fd < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(126);
    execve(argv[0], argv, env);
    _exit(127);
}

/* Waits for pid without blocking; true (and *status) if it has exited. */
static bool reaped(pid_t pid, int *status)
{
    pid_t w;
    while ((w = waitpid(pid, status, WNOHANG)) < 0 && errno == EINTR) {
    }
    return w == pid;
}

static void describe_exit(int status, char *reason, size_t len, const char *when)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        snprintf(reason, len, "could not execute (%s)", when);
    else if (WIFEXITED(status))
        snprintf(reason, len, "exited with status %d %s", WEXITSTATUS(status), when);
    else
        snprintf(reason, len, "killed by signal %d %s", WTERMSIG(status), when);
}

static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int nb_server_start(nb_server_t *s, char *const argv[], const char *const extra[], int cpu,
                    int port, char *reason, size_t reason_len)
{
    s->pid = 0;
    s->port = port;
    if (access(argv[0], X_OK) != 0) {
        snprintf(reason, reason_len, "%.400s not found", argv[0]);
        return -1;
    }
    char **env = bench_env(extra);
    if (!env) {
        snprintf(reason, reason_len, "out of memory");
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, env, cpu, -1);
    free(env);
    if (pid < 0) {
        snprintf(reason, reason_len, "fork: %s", strerror(errno));
        return -1;
    }
    s->pid = pid;
    int64_t deadline = bench_now_ns() + 15 * (int64_t)1000000000;
    for (;;) {
        int status;
        if (reaped(pid, &status)) {
            s->pid = 0;
            describe_exit(status, reason, reason_len, "before listening");
            return -1;
        }
        if (port_accepts(port))
            return 0;
        if (bench_now_ns() > deadline) {
            nb_server_stop(s);
            snprintf(reason, reason_len, "port %d not accepting after 15 s", port);
            return -1;
        }
        sleep_ms(20);
    }
}

void nb_server_stop(nb_server_t *s)
{
    if (s->pid <= 0)
        return;
    int status;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (reaped(s->pid, &status)) {
            s->pid = 0;
            return;
        }
        sleep_ms(10);
    }
    bench_note("server %d ignored SIGTERM for 3 s; killing it", (int)s->pid);
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
}

int64_t nb_cpu_us(pid_t pid)
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
    /* the command name may hold spaces and ')': the fields follow the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut, st;
    /* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (int64_t)((ut + st) * 1000000ULL / (unsigned long long)(hz > 0 ? hz : 100));
}

int nb_run_capture(char *const argv[], int cpu, int timeout_s, char **out, char *reason,
                   size_t reason_len)
{
    *out = NULL;
    if (access(argv[0], X_OK) != 0) {
        snprintf(reason, reason_len, "%.400s not found", argv[0]);
        return -1;
    }
    char **env = bench_env(NULL);
    int fds[2];
    if (!env || pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(reason, reason_len, "pipe: %s", strerror(errno));
        free(env);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, env, cpu, fds[1]);
    free(env);
    close(fds[1]);
    if (pid < 0) {
        snprintf(reason, reason_len, "fork: %s", strerror(errno));
        close(fds[0]);
        return -1;
    }

    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    bool timed_out = false;
    int64_t deadline = bench_now_ns() + (int64_t)timeout_s * 1000000000;
    while (buf) {
        int64_t left_ms = (deadline - bench_now_ns()) / 1000000;
        if (left_ms <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, left_ms > 1000 ? 1000 : (int)left_ms);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (len + 1024 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fds[0], buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!buf) {
        snprintf(reason, reason_len, "out of memory");
        return -1;
    }
    buf[len] = '\0';
    *out = buf;
    if (timed_out) {
        snprintf(reason, reason_len, "timed out after %d s", timeout_s);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
        describe_exit(status, reason, reason_len, "");
        return -1;
    }
    return WEXITSTATUS(status);
}

bool nb_write_conf(const char *tpl_name, const char *dir, int port, char *reason, size_t len)
{
    char tpl_path[4096], conf_path[4200];
    snprintf(tpl_path, sizeof tpl_path, "%s/bench/peers/%s", WEFT_SOURCE_DIR, tpl_name);
    snprintf(conf_path, sizeof conf_path, "%s/nginx.conf", dir);
    FILE *in = fopen(tpl_path, "re");
    if (!in) {
        snprintf(reason, len, "%.400s not found", tpl_path);
        return false;
    }
    FILE *out = fopen(conf_path, "we");
    if (!out) {
        fclose(in);
        snprintf(reason, len, "cannot write %.400s", conf_path);
        return false;
    }
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        for (char *p = line; *p;) {
            if (strncmp(p, "@DIR@", 5) == 0) {
                fputs(dir, out);
                p += 5;
            } else if (strncmp(p, "@PORT@", 6) == 0) {
                fprintf(out, "%d", port);
                p += 6;
            } else {
                fputc(*p++, out);
            }
        }
    }
    fclose(in);
    bool ok = fclose(out) == 0;
    if (!ok)
        snprintf(reason, len, "cannot write %.400s", conf_path);
    return ok;
}

bool nb_find_program(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin:/usr/local/sbin",
             path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (*d != '/')
            continue;
        snprintf(buf, len, "%s/%s", d, name);
        if (access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

double nb_json_num(const char *s, const char *key, double dflt)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = s ? strstr(s, pat) : NULL;
    if (!p)
        return dflt;
    char *end;
    double v = strtod(p + strlen(pat), &end);
    return end == p + strlen(pat) ? dflt : v;
}

double nb_seconds(double base, double min)
{
    double v = base * bench_scale();
    return v < min ? min : v;
}

void nb_skip(const char *workload, const char *impl, const char *fields, const char *reason)
{
    printf("{\"workload\":\"%s\",\"impl\":\"%s\",", workload, impl);
    if (fields && *fields)
        printf("%s,", fields);
    fputs("\"skipped\":\"", stdout);
    for (const char *c = reason; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '"' || u == '\\')
            printf("\\%c", u);
        else if (u < 0x20)
            printf("\\u%04x", u);
        else
            putchar(u);
    }
    fputs("\"}\n", stdout);
    fflush(stdout);
    bench_note("%s/%s skipped: %s", workload, impl, reason);
}
