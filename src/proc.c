/* proc.c - subprocesses: spawn, the stdio plan, pipes as streams, wait,
 * signals, communicate.
 *
 * Owns: a child's handle: its pipe streams and its record in the reaper
 * (reap.h: pid, status once reaped, and how a wait learns of the end).
 *
 * Children start through posix_spawn, which glibc runs as clone(CLONE_VM |
 * CLONE_VFORK): the parent's memory is not copied, so starting a program
 * from a 4 GiB parent costs what it costs from a small one, and an exec
 * failure comes back as posix_spawn's own return value (checked once per
 * process: where the C library cannot report it, under Valgrind or an
 * emulator that runs the child as a real fork, an access() check before
 * each spawn does). The child gets an empty signal mask and default
 * dispositions (the loop blocks signals it reads through a signalfd and
 * ignores SIGPIPE; neither must leak into programs it starts).
 *
 * Waiting and reaping live in reap.c (a pidfd, polling, or the starting
 * thread's io_uring WAITID ring in backend/uring_reap.c); this file asks
 * it to start, wait, try, and release. Invariant: the pid is never
 * signalled once reaped (it may belong to another process by then), and
 * a handle is not destroyed while a task waits on it (-EBUSY).
 */
#include "io.h"
#include "reap.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>

#endif

extern char **environ;

struct weft_proc {
    weft__child_t child;
    weft_stream_t *in, *out, *err;
};

typedef struct stdio_plan {
    int child_fd[3];  /* what the child gets as 0, 1, 2 (-1: inherit) */
    int parent_fd[3]; /* pipe ends kept by the parent (-1: none) */
    int close_fd[4];  /* fds to close in the parent after the spawn */
    int nclose;
} stdio_plan_t;

static void plan_close_all(stdio_plan_t *pl)
{
    for (int i = 0; i < pl->nclose; i++)
        close(pl->close_fd[i]);
    for (int i = 0; i < 3; i++)
        if (pl->parent_fd[i] >= 0)
            close(pl->parent_fd[i]);
}

static int plan_stdio(stdio_plan_t *pl, const weft_proc_opts_t *o)
{
    weft_stdio_t mode[3] = {o->in, o->out, o->err};
    int fd[3] = {o->in_fd, o->out_fd, o->err_fd};
    int devnull = -1;
    pl->nclose = 0;
    for (int i = 0; i < 3; i++) {
        pl->child_fd[i] = -1;
        pl->parent_fd[i] = -1;
    }
    if (o->in == WEFT_STDIO_STDOUT || o->in == WEFT_STDIO_STDERR || o->out == WEFT_STDIO_STDOUT ||
        o->err == WEFT_STDIO_STDERR || (o->out == WEFT_STDIO_STDERR && o->err == WEFT_STDIO_STDOUT))
        return -EINVAL;
    for (int i = 0; i < 3; i++) {
        switch (mode[i]) {
        case WEFT_STDIO_INHERIT:
        case WEFT_STDIO_STDOUT:
        case WEFT_STDIO_STDERR:
            break;
        case WEFT_STDIO_PIPE: {
            int pp[2];
            if (pipe2(pp, O_CLOEXEC) < 0) {
                int e = errno;
                plan_close_all(pl);
                return -e;
            }
            /* stdin: the child reads pp[0]; stdout/stderr: it writes pp[1] */
            pl->child_fd[i] = i == 0 ? pp[0] : pp[1];
            pl->parent_fd[i] = i == 0 ? pp[1] : pp[0];
            pl->close_fd[pl->nclose++] = pl->child_fd[i];
            break;
        }
        case WEFT_STDIO_DEVNULL:
            if (devnull < 0) {
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (devnull < 0) {
                    int e = errno;
                    plan_close_all(pl);
                    return -e;
                }
                pl->close_fd[pl->nclose++] = devnull;
            }
            pl->child_fd[i] = devnull;
            break;
        case WEFT_STDIO_FD:
            if (fd[i] < 0) {
                plan_close_all(pl);
                return -EINVAL;
            }
            pl->child_fd[i] = fd[i];
            break;
        default:
            plan_close_all(pl);
            return -EINVAL;
        }
    }
    return 0;
}

/* Whether posix_spawn returns an exec failure itself: 0 not known yet,
 * 1 yes, 2 no. glibc and musl run the child as clone(CLONE_VM |
 * CLONE_VFORK) and hand the exec's errno back to the parent; Valgrind
 * and user-mode emulators run it as a real fork, where the failure only
 * shows as exit code 127. */
static _Atomic int spawn_reports_exec_errors;

/* Asks once per process, by starting a path that cannot exist (a file
 * below /dev/null): a C library that reports exec failures returns
 * ENOTDIR; one that does not returns 0 and a child that exits 127 at
 * once, reaped here. Any other failure (no process to spare) leaves the
 * question open, and this spawn checks with access(). Two threads asking
 * at once both probe: harmless. Under Valgrind no probe is made (its
 * forked child would flush the parent's stdio buffers at exit). */
static bool spawn_reports_errors(void)
{
    int v = atomic_load_explicit(&spawn_reports_exec_errors, memory_order_relaxed);
    if (WEFT_LIKELY(v))
        return v == 1;
#ifdef WEFT_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        atomic_store_explicit(&spawn_reports_exec_errors, 2, memory_order_relaxed);
        return false;
    }
#endif
    static char probe_path[] = "/dev/null/weft-exec-probe";
    char *const argv[] = {probe_path, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, probe_path, NULL, NULL, argv, environ);
    if (e == 0) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    v = e == ENOTDIR || e == ENOENT ? 1 : e == 0 ? 2 : 0;
    if (v)
        atomic_store_explicit(&spawn_reports_exec_errors, v, memory_order_relaxed);
    return v == 1;
}

/* Says whether path can be executed, as posix_spawn(p) would find it,
 * for a C library that does not report exec failures itself: one
 * access() per spawn (a few for a PATH search) keeps the error in the
 * caller's hands there too. */
static int check_exec(const char *path, bool search)
{
    if (!search)
        return access(path, X_OK) == 0 ? 0 : -errno;
    const char *dirs = getenv("PATH");
    if (!dirs || !*dirs)
        dirs = "/bin:/usr/bin";
    int err = -ENOENT;
    size_t plen = strlen(path);
    for (const char *d = dirs;;) {
        const char *end = strchr(d, ':');
        size_t dlen = end ? (size_t)(end - d) : strlen(d);
        char buf[4096];
        if (dlen + plen + 2 <= sizeof buf) {
            memcpy(buf, dlen ? d : ".", dlen ? dlen : 1);
            size_t n = dlen ? dlen : 1;
            buf[n++] = '/';
            memcpy(buf + n, path, plen + 1);
            if (access(buf, X_OK) == 0)
                return 0;
            if (errno == EACCES)
                err = -EACCES;
        }
        if (!end)
            return err;
        d = end + 1;
    }
}

static int do_spawn(weft_proc_t **out, const char *path, char *const argv[], bool search,
                    const weft_proc_opts_t *opts)
{
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    static const weft_proc_opts_t defaults;
    const weft_proc_opts_t *o = opts ? opts : &defaults;
    /* a relative path with its own cwd is the child's to find */
    if (!(o->cwd && !search && path[0] != '/') && !spawn_reports_errors()) {
        int rc = check_exec(path, search);
        if (rc)
            return rc;
    }
    weft_proc_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    stdio_plan_t pl;
    int rc = plan_stdio(&pl, o);
    if (rc) {
        free(p);
        return rc;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    for (int i = 0; i < 3; i++)
        if (pl.child_fd[i] >= 0 && pl.child_fd[i] != i)
            posix_spawn_file_actions_adddup2(&fa, pl.child_fd[i], i);
        else if (pl.child_fd[i] == i) /* dup2 onto itself keeps CLOEXEC: clear it */
            posix_spawn_file_actions_adddup2(&fa, i, i);
    if (o->err == WEFT_STDIO_STDOUT)
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (o->out == WEFT_STDIO_STDERR)
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    if (o->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->new_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&at, 0);
    }
    posix_spawnattr_setflags(&at, flags);

    char *const *env = o->env ? o->env : environ;
    pid_t pid;
    int e = search ? posix_spawnp(&pid, path, &fa, &at, argv, env)
                   : posix_spawn(&pid, path, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    for (int i = 0; i < pl.nclose; i++)
        close(pl.close_fd[i]);
    if (e != 0) {
        for (int i = 0; i < 3; i++)
            if (pl.parent_fd[i] >= 0)
                close(pl.parent_fd[i]);
        free(p);
        return -e;
    }

    /* from here the child exists: failures below must still reap it
     * (weft_proc_destroy does); how a wait will learn of its end is
     * settled now */
    weft__reap_start(&p->child, pid, L);
    weft_stream_t **slot[3] = {&p->in, &p->out, &p->err};
    rc = 0;
    for (int i = 0; i < 3; i++) {
        if (pl.parent_fd[i] < 0)
            continue;
        int r = weft_stream_open(slot[i], pl.parent_fd[i], &o->stream);
        if (r < 0 && rc == 0)
            rc = r;
    }
    if (rc) {
        weft_proc_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

int weft_proc_spawn(weft_proc_t **p, const char *const argv[], const weft_proc_opts_t *opts)
{
    if (!p || !argv || !argv[0] || !argv[0][0])
        return -EINVAL;
    return do_spawn(p, argv[0], (char *const *)argv, strchr(argv[0], '/') == NULL, opts);
}

int weft_proc_shell(weft_proc_t **p, const char *cmd, const weft_proc_opts_t *opts)
{
    if (!p || !cmd)
        return -EINVAL;
    const char *argv[] = {"sh", "-c", cmd, NULL};
    return do_spawn(p, "/bin/sh", (char *const *)argv, false, opts);
}

int weft_proc_pid(const weft_proc_t *p)
{
    return p ? (int)p->child.pid : -EINVAL;
}

weft_stream_t *weft_proc_stdin(weft_proc_t *p)
{
    return p ? p->in : NULL;
}

weft_stream_t *weft_proc_stdout(weft_proc_t *p)
{
    return p ? p->out : NULL;
}

weft_stream_t *weft_proc_stderr(weft_proc_t *p)
{
    return p ? p->err : NULL;
}

int weft_proc_close_stdin(weft_proc_t *p)
{
    if (!p)
        return -EINVAL;
    if (!p->in)
        return -EBADF;
    weft_stream_t *s = p->in;
    p->in = NULL;
    int rc = weft_stream_close(s);
    return rc == -EPIPE ? 0 : rc;
}

int weft_proc_wait(weft_proc_t *p, int *code)
{
    if (!p)
        return -EINVAL;
    int rc = weft__reap_wait(&p->child);
    if (rc)
        return rc;
    if (code)
        *code = p->child.code;
    return 0;
}

int weft_proc_returncode(const weft_proc_t *p, int *code)
{
    if (!p)
        return -EINVAL;
    if (!weft__reap_try((weft__child_t *)&p->child))
        return -EAGAIN;
    if (code)
        *code = p->child.code;
    return 0;
}

int weft_proc_signal(weft_proc_t *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG)
        return -EINVAL;
    if (weft__reap_done(&p->child))
        return -ESRCH;
    /* a zombie is still ours (not reaped): signalling it is harmless */
    if (kill(p->child.pid, sig) < 0)
        return -errno;
    return 0;
}

int weft_proc_terminate(weft_proc_t *p)
{
    return weft_proc_signal(p, SIGTERM);
}

int weft_proc_kill(weft_proc_t *p)
{
    return weft_proc_signal(p, SIGKILL);
}

/* ---- communicate ---- */

typedef struct collect {
    weft_stream_t *s;
    char *buf;
    size_t len, cap;
    int rc;
} collect_t;

static int collect_all(collect_t *c)
{
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t ncap = c->cap ? c->cap * 2 : 8192;
            char *nb = realloc(c->buf, ncap);
            if (!nb)
                return -ENOMEM;
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t n = weft_stream_read(c->s, c->buf + c->len, c->cap - c->len - 1);
        if (n == 0)
            break;
        if (n < 0)
            return (int)n;
        c->len += (size_t)n;
    }
    c->buf[c->len] = '\0';
    return 0;
}

static int collect_task(void *arg, void **result)
{
    (void)result;
    collect_t *c = arg;
    c->rc = collect_all(c);
    return c->rc;
}

/* Flushes and closes the child's stdin: the bytes were queued by the
 * caller (weft_stream_write copies), so this task never reads the
 * caller's buffer, which may live on a copy-stack task's stack. */
static int feed_task(void *arg, void **result)
{
    (void)result;
    int rc = weft_proc_close_stdin(arg);
    /* a child that stops reading its stdin is its own business */
    return rc == -EPIPE || rc == -ECONNRESET ? 0 : rc;
}

/* Ends a helper task: awaits it unless `stop`, and cancels and joins it
 * if it has not finished. Stores its status in *status when it finished
 * by itself; returns -ECANCELED / -ETIMEDOUT if the caller was
 * interrupted while awaiting, else 0. */
static int finish(weft_task_t *t, bool stop, int *status)
{
    int rc = 0;
    *status = 0;
    if (!t)
        return 0;
    if (!stop) {
        int r = weft_await(t, NULL);
        if (weft_task_done(t))
            *status = r;
        else
            rc = r;
    }
    if (!weft_task_done(t)) {
        weft_cancel(t);
        weft__task_join_quietly(t);
    }
    weft_task_release(t);
    return rc;
}

int weft_proc_communicate(weft_proc_t *p, const void *in, size_t inlen, char **out,
                          size_t *outlen, char **err, size_t *errlen, int *code)
{
    static const weft_task_opts_t here = {.place = WEFT_PLACE_HERE};
    if (!p || (inlen && !in))
        return -EINVAL;
    if (!weft__task())
        return -WEFT_ENOTASK;
    /* the record the stderr task fills lives on the heap, not on the
     * caller's stack (which a copy-stack task does not keep in place) */
    collect_t *cerr = calloc(1, sizeof *cerr);
    if (!cerr)
        return -ENOMEM;
    collect_t cout = {.s = p->out};
    cerr->s = p->err;
    weft_task_t *tin = NULL, *terr = NULL;
    int rc = 0;
    if (p->in) {
        rc = inlen ? weft_stream_write(p->in, in, inlen) : 0;
        if (rc == -EPIPE || rc == -ECONNRESET)
            rc = 0;
        if (rc == 0)
            rc = weft_spawn(&tin, feed_task, p, &here); /* the pipes are this worker's */
    }
    if (rc == 0 && p->err)
        rc = weft_spawn(&terr, collect_task, cerr, &here);
    if (rc == 0 && p->out)
        rc = collect_all(&cout);
    int s1, s2;
    int r1 = finish(tin, rc != 0, &s1);
    if (rc == 0)
        rc = r1;
    int r2 = finish(terr, rc != 0, &s2);
    if (rc == 0)
        rc = r2 ? r2 : s1 ? s1 : s2;
    if (rc == 0)
        rc = weft_proc_wait(p, code);
    if (rc == 0) {
        if (out) {
            *out = cout.buf;
            cout.buf = NULL;
        }
        if (outlen)
            *outlen = cout.len;
        if (err) {
            *err = cerr->buf;
            cerr->buf = NULL;
        }
        if (errlen)
            *errlen = cerr->len;
    }
    free(cout.buf);
    free(cerr->buf);
    free(cerr);
    return rc;
}

int weft_proc_destroy(weft_proc_t *p)
{
    if (!p)
        return -EINVAL;
    if (weft__reap_busy(&p->child))
        return -EBUSY;
    if (p->in)
        weft_stream_abort(p->in);
    if (p->out)
        weft_stream_abort(p->out);
    if (p->err)
        weft_stream_abort(p->err);
    weft__reap_release(&p->child);
    free(p);
    return 0;
}
