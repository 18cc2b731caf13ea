/* spawn_proc.c - the `spawn_proc` workload: start and wait for 2,000 runs
 * of /bin/true, `at_once` 1 and 16, from a parent holding `parent_mb` 0
 * and 4096 MiB resident; procs_per_s.
 *
 * impls: weft (weft_proc_spawn + weft_proc_wait from at_once tasks),
 * c-posix-spawn (a bare loop of posix_spawn and waitpid: the floor, as the
 * kernel's fork+exec dominates), fork (fork + execv + waitpid, to show what
 * copying a big parent's page tables costs), go (os/exec, GOMAXPROCS 1 and
 * 2) and asyncio (create_subprocess_exec), the last two at parent_mb 0.
 */
#include "bench.h"

#include <weft.h>

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAWN_N 2000L
#define PEER_TIMEOUT_S 600

static const char *const W = "spawn_proc";
static char *const true_argv[] = {"/bin/true", NULL};
extern char **environ;

/* ---- weft ---- */

typedef struct sp_run {
    long n, next, done;
    int at_once;
    int rc;
} sp_run_t;

static int sp_worker(void *arg, void **result)
{
    (void)result;
    sp_run_t *r = arg;
    while (r->next < r->n && r->rc == 0) {
        r->next++;
        weft_proc_t *p;
        int rc = weft_proc_spawn(&p, (const char *const *)true_argv, NULL);
        int code = -1;
        if (rc == 0) {
            rc = weft_proc_wait(p, &code);
            weft_proc_destroy(p);
        }
        if (rc == 0 && code != 0)
            rc = -EIO;
        if (rc)
            r->rc = rc;
        else
            r->done++;
    }
    return 0;
}

static int sp_main(void *arg, void **result)
{
    (void)result;
    sp_run_t *r = arg;
    weft_task_t *t[16];
    for (int i = 0; i < r->at_once; i++)
        if (weft_spawn(&t[i], sp_worker, r, NULL) != 0)
            return -ENOMEM;
    for (int i = 0; i < r->at_once; i++) {
        weft_await(t[i], NULL);
        weft_task_release(t[i]);
    }
    return r->rc;
}

static void run_weft(long n, int at_once, int parent_mb)
{
    sp_run_t r = {.n = n, .at_once = at_once};
    int64_t t0 = bench_now_ns();
    int rc = weft_run(sp_main, &r, NULL);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    if (rc != 0)
        bench_skip(W, "weft", weft_strerror(rc));
    else
        bench_json(W, "weft", "\"at_once\":%d,\"parent_mb\":%d,\"procs_per_s\":%.1f,\"n\":%ld",
                   at_once, parent_mb, (double)r.done / s, n);
}

/* ---- bare C: posix_spawn, or fork + exec ---- */

static pid_t start_one(bool use_fork)
{
    pid_t pid;
    if (use_fork) {
        pid = fork();
        if (pid == 0) {
            execv(true_argv[0], true_argv);
            _exit(127);
        }
        return pid;
    }
    return posix_spawn(&pid, true_argv[0], NULL, NULL, true_argv, environ) == 0 ? pid : -1;
}

static void run_bare(const char *impl, bool use_fork, long n, int at_once, int parent_mb)
{
    long started = 0, done = 0;
    int running = 0;
    int64_t t0 = bench_now_ns();
    while (done < n) {
        while (running < at_once && started < n) {
            if (start_one(use_fork) < 0) {
                bench_skip(W, impl, strerror(errno));
                return;
            }
            started++;
            running++;
        }
        int st;
        if (waitpid(-1, &st, 0) > 0) {
            running--;
            done++;
        }
    }
    double s = (double)(bench_now_ns() - t0) / 1e9;
    bench_json(W, impl, "\"at_once\":%d,\"parent_mb\":%d,\"procs_per_s\":%.1f,\"n\":%ld", at_once,
               parent_mb, (double)done / s, n);
}

/* Makes this process hold mb MiB resident (touched, huge pages where the
 * kernel gives them, so that setting it up does not take a minute).
 * Returns the mapping (NULL if it failed). */
static void *hold_memory(size_t mb)
{
    size_t len = mb << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, len, MADV_HUGEPAGE);
    for (size_t off = 0; off < len; off += 4096)
        p[off] = 1;
    return p;
}

int bench_spawn_proc(void)
{
    long n = bench_n(SPAWN_N);
    static const int at_once[] = {1, 16};
    static const int parent_mb[] = {0, 4096};
    for (int m = 0; m < 2; m++) {
        void *held = NULL;
        if (parent_mb[m]) {
            bench_note("spawn_proc: touching %d MiB", parent_mb[m]);
            held = hold_memory((size_t)parent_mb[m]);
            if (!held) {
                bench_skip(W, "weft", "cannot hold the parent's memory");
                continue;
            }
        }
        for (int a = 0; a < 2; a++) {
            bench_note("spawn_proc: at_once %d, parent %d MiB", at_once[a], parent_mb[m]);
            run_weft(n, at_once[a], parent_mb[m]);
            run_bare("c-posix-spawn", false, n, at_once[a], parent_mb[m]);
            run_bare("fork", true, n, at_once[a], parent_mb[m]);
        }
        if (held)
            munmap(held, (size_t)parent_mb[m] << 20);
    }
    char n_arg[32];
    snprintf(n_arg, sizeof n_arg, "%ld", n);
    for (int a = 0; a < 2; a++) {
        char k[8];
        snprintf(k, sizeof k, "%d", at_once[a]);
        const char *const args[] = {"-n", n_arg, "-at-once", k, NULL};
        run_go_peer(W, "spawn_proc", args, PEER_TIMEOUT_S);
        const char *const pargs[] = {"--n", n_arg, "--at-once", k, NULL};
        run_py_peer(W, "spawn_proc", pargs, PEER_TIMEOUT_S);
    }
    return 0;
}
