/* bench.c - shared helpers of weft-bench (see bench.h): the clock, scale,
 * JSON lines, /proc/self/status and getrusage readings, and running peer
 * programs whose JSON lines are copied to our stdout. Measures nothing by
 * itself.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------ time */

int64_t bench_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        abort(); /* cannot happen with CLOCK_MONOTONIC on Linux */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ----------------------------------------------------------------- scale */

double bench_scale(void)
{
    static double scale = 0;
    if (scale > 0)
        return scale;
    scale = 1;
    const char *env = getenv("WEFT_BENCH_SCALE");
    if (env && *env) {
        char *end;
        errno = 0;
        double v = strtod(env, &end);
        if (errno == 0 && *end == '\0' && v > 0 && isfinite(v))
            scale = v;
        else
            bench_note("ignoring WEFT_BENCH_SCALE=%s (want a number > 0)", env);
    }
    return scale;
}

long bench_n(long n)
{
    double v = (double)n * bench_scale();
    if (v < 1)
        return 1;
    if (v > 1e15)
        return 1000000000000000L;
    return (long)llround(v);
}

/* ------------------------------------------------------------ statistics */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---------------------------------------------------------------- output */

/* The CPU vendor every line carries ("cpu"): these machines change vendor
 * from day to day, and a figure is only compared with one of its own
 * vendor (BENCH.md). From /proc/cpuinfo's vendor_id (x86) or "CPU
 * implementer" (arm). */
const char *bench_cpu(void)
{
    static char vendor[32];
    if (vendor[0])
        return vendor;
    snprintf(vendor, sizeof vendor, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return vendor;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "vendor_id", 9) == 0) {
            if (strstr(line, "AuthenticAMD") || strstr(line, "HygonGenuine"))
                snprintf(vendor, sizeof vendor, "amd");
            else if (strstr(line, "GenuineIntel"))
                snprintf(vendor, sizeof vendor, "intel");
            break;
        }
        if (strncmp(line, "CPU implementer", 15) == 0) {
            snprintf(vendor, sizeof vendor, "arm");
            break;
        }
    }
    fclose(f);
    return vendor;
}

void bench_json(const char *workload, const char *impl, const char *fmt, ...)
{
    printf("{\"workload\":\"%s\",\"impl\":\"%s\",\"cpu\":\"%s\"", workload, impl,
           bench_cpu());
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        putchar(',');
        vprintf(fmt, ap);
        va_end(ap);
    }
    fputs("}\n", stdout);
    fflush(stdout);
}

/* Writes s as a JSON string body (no quotes) to f. */
static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

/* The skipped line, with `fields` (may be NULL) after "impl". */
static void skip_fields(const char *workload, const char *impl, const char *fields,
                        const char *reason)
{
    printf("{\"workload\":\"%s\",\"impl\":\"%s\",\"cpu\":\"%s\",", workload, impl,
           bench_cpu());
    if (fields && *fields)
        printf("%s,", fields);
    fputs("\"skipped\":\"", stdout);
    json_escape(stdout, reason);
    fputs("\"}\n", stdout);
    fflush(stdout);
    bench_note("%s/%s skipped: %s", workload, impl, reason);
}

void bench_skip(const char *workload, const char *impl, const char *reason)
{
    skip_fields(workload, impl, NULL, reason);
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("weft-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------ memory and faults */

long bench_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    size_t len = strlen(field);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            char *end;
            long v = strtol(line + len + 1, &end, 10);
            if (end != line + len + 1)
                kb = v;
            break;
        }
    }
    fclose(f);
    return kb;
}

long long bench_rss_pte_bytes(void)
{
    long rss = bench_status_kb("VmRSS");
    long pte = bench_status_kb("VmPTE");
    if (rss < 0 || pte < 0)
        return -1;
    return ((long long)rss + pte) * 1024;
}

int bench_peak_reset(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, "5", 1);
    int rc = close(fd);
    return (w == 1 && rc == 0) ? 0 : -1;
}

double bench_peak_rss_mb(void)
{
    long kb = bench_status_kb("VmHWM");
    if (kb < 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) != 0)
            return -1;
        kb = ru.ru_maxrss;
    }
    return (double)kb / 1024.0;
}

long bench_minor_faults(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_minflt;
}

/* ----------------------------------------------------------------- peers */

char **bench_env(const char *const extra[])
{
    size_t n_env = 0, n_extra = 0;
    while (environ && environ[n_env])
        n_env++;
    while (extra && extra[n_extra])
        n_extra++;
    char **env = malloc((n_env + n_extra + 1) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t key = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < n_extra && !replaced; j++)
            replaced = strncmp(environ[i], extra[j], key) == 0;
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        env[k++] = (char *)extra[j];
    env[k] = NULL;
    return env;
}

/* Copies one line of a peer's stdout: JSON objects to stdout, the rest to
 * stderr. Returns 1 if it was a JSON object. */
static int peer_line(char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    line[len] = '\0';
    if (len >= 2 && line[0] == '{' && line[len - 1] == '}') {
        /* the peer's line gains the CPU it ran on, after "impl" when it
         * has one (peers print workload, impl first) */
        char *impl = strstr(line, "\"impl\":\"");
        char *end = impl ? strchr(impl + 8, '"') : NULL;
        if (end && !strstr(line, "\"cpu\":"))
            printf("%.*s,\"cpu\":\"%s\"%s\n", (int)(end + 1 - line), line, bench_cpu(), end + 1);
        else
            printf("%s\n", line);
        fflush(stdout);
        return 1;
    }
    if (len > 0)
        fprintf(stderr, "peer: %s\n", line);
    return 0;
}

int run_peer(const char *workload, const char *impl, char *const argv[], const char *const extra[],
             int timeout_s)
{
    /* "procs":P for a skipped line of a Go run. */
    char fields[64] = "";
    for (size_t j = 0; extra && extra[j]; j++) {
        if (strncmp(extra[j], "GOMAXPROCS=", 11) == 0)
            snprintf(fields, sizeof fields, "\"procs\":%d", atoi(extra[j] + 11));
    }
    char reason[512];

    if (access(argv[0], X_OK) != 0) {
        snprintf(reason, sizeof reason, "%s not found", argv[0]);
        skip_fields(workload, impl, fields, reason);
        return 0;
    }

    char **env = bench_env(extra);
    if (!env) {
        skip_fields(workload, impl, fields, "out of memory");
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(reason, sizeof reason, "pipe: %s", strerror(errno));
        free(env);
        skip_fields(workload, impl, fields, reason);
        return 0;
    }

    posix_spawn_file_actions_t fa;
    int err = posix_spawn_file_actions_init(&fa);
    if (err == 0)
        err = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    pid_t pid = -1;
    fflush(stdout);
    fflush(stderr);
    if (err == 0)
        err = posix_spawn(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fds[1]);
    if (err != 0) {
        snprintf(reason, sizeof reason, "cannot start %s: %s", argv[0], strerror(err));
        close(fds[0]);
        skip_fields(workload, impl, fields, reason);
        return 0;
    }

    int copied = 0;
    bool timed_out = false;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int64_t deadline = bench_now_ns() + (int64_t)timeout_s * 1000000000;
    for (;;) {
        int64_t left_ms = (deadline - bench_now_ns()) / 1000000;
        if (left_ms <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, left_ms > 60000 ? 60000 : (int)left_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            bench_note("poll: %s", strerror(errno));
            break;
        }
        if (r == 0)
            continue;
        if (!buf || len + 1024 > cap) {
            char *nb = buf ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                bench_note("out of memory reading the %s peer", impl);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fds[0], buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* EOF (or an error): the peer is done with stdout */
        len += (size_t)got;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', (size_t)(buf + len - start))) != NULL) {
            copied += peer_line(start, (size_t)(nl - start));
            start = nl + 1;
        }
        len = (size_t)(buf + len - start);
        memmove(buf, start, len);
    }
    if (buf && len > 0 && !timed_out)
        copied += peer_line(buf, len); /* a last line without a newline */
    free(buf);
    close(fds[0]);
    if (timed_out && kill(pid, SIGKILL) != 0)
        bench_note("kill %d: %s", (int)pid, strerror(errno));

    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (w < 0) {
        snprintf(reason, sizeof reason, "waitpid: %s", strerror(errno));
    } else if (timed_out) {
        snprintf(reason, sizeof reason, "timed out after %d s", timeout_s);
    } else if (WIFSIGNALED(status)) {
        snprintf(reason, sizeof reason, "killed by signal %d", WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
        snprintf(reason, sizeof reason, "exited with status %d", WEXITSTATUS(status));
    } else if (copied == 0) {
        snprintf(reason, sizeof reason, "printed no result");
    } else {
        return copied;
    }
    if (copied == 0) {
        skip_fields(workload, impl, fields, reason);
    } else {
        bench_note("%s/%s: %s after %d line(s)", workload, impl, reason, copied);
    }
    return copied;
}

/* argv = {prog, [script], args..., NULL}, malloc'd; NULL on no memory. */
static char **peer_argv(const char *prog, const char *script, const char *const args[])
{
    size_t n = 0;
    while (args && args[n])
        n++;
    char **argv = malloc((n + 3) * sizeof *argv);
    if (!argv)
        return NULL;
    size_t k = 0;
    argv[k++] = (char *)prog;
    if (script)
        argv[k++] = (char *)script;
    for (size_t i = 0; i < n; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    return argv;
}

void run_go_peer(const char *workload, const char *name, const char *const args[], int timeout_s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench/peers/%s-go", WEFT_BINARY_DIR, name);
    if (access(path, X_OK) != 0) {
        char reason[4200];
        snprintf(reason, sizeof reason, "%s not built (needs go)", path);
        bench_skip(workload, "go", reason);
        return;
    }
    char **argv = peer_argv(path, NULL, args);
    if (!argv) {
        bench_skip(workload, "go", "out of memory");
        return;
    }
    static const char *const procs[][2] = {{"GOMAXPROCS=1", NULL}, {"GOMAXPROCS=2", NULL}};
    for (size_t i = 0; i < 2; i++) {
        bench_note("%s: go (%s)", workload, procs[i][0]);
        run_peer(workload, "go", argv, procs[i], timeout_s);
    }
    free(argv);
}

void run_py_peer(const char *workload, const char *name, const char *const args[], int timeout_s)
{
    char script[4096];
    snprintf(script, sizeof script, "%s/bench/peers/%s.py", WEFT_SOURCE_DIR, name);
    if (access(script, R_OK) != 0) {
        char reason[4200];
        snprintf(reason, sizeof reason, "%s not found", script);
        bench_skip(workload, "asyncio", reason);
        return;
    }
    char **argv = peer_argv(BENCH_PYTHON, script, args);
    if (!argv) {
        bench_skip(workload, "asyncio", "out of memory");
        return;
    }
    bench_note("%s: asyncio", workload);
    run_peer(workload, "asyncio", argv, NULL, timeout_s);
    free(argv);
}
