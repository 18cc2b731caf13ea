/* parallel.c - run shell commands side by side, at most N at a time.
 *
 *   parallel [-j N] COMMAND...
 *
 * Each COMMAND is given to /bin/sh. Up to N (default 4) run at once; each
 * line a command prints (stdout and stderr merged) is shown as it comes,
 * prefixed with the command's number and name:
 *
 *   $ ./build/examples/parallel -j 2 'echo one' 'sleep 0.1; echo two' 'exit 3'
 *   [1 echo] one
 *   [2 sleep] two
 *   --
 *   [1 echo] exit 0
 *   [2 sleep] exit 0
 *   [3 exit] exit 3
 *
 * then a summary of every exit status; the program exits 1 if any
 * command failed. Ctrl-C cancels the main task: every command task
 * unwinds, and destroying its process handle kills the child, so nothing
 * is left running.
 *
 * What it shows: subprocesses with pipes read as streams, a semaphore
 * bounding concurrency, a task group whose children are awaited together.
 */
#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    int index;
    const char *cmd;
    char name[32];
    weft_sem_t *slots;
    int code;   /* exit status, -signal, or a weft error */
    bool ran;
} job_t;

static int run_job(void *arg, void **result)
{
    (void)result;
    job_t *j = arg;
    int rc = weft_sem_acquire(j->slots);
    if (rc)
        return rc;
    weft_proc_opts_t opts = {.out = WEFT_STDIO_PIPE, .err = WEFT_STDIO_STDOUT};
    weft_proc_t *p;
    rc = weft_proc_shell(&p, j->cmd, &opts);
    if (rc == 0) {
        const char *line;
        ssize_t n;
        while ((n = weft_stream_read_line(weft_proc_stdout(p), &line)) > 0)
            printf("[%d %s] %.*s", j->index, j->name, (int)n, line);
        if (n == -WEFT_EINCOMPLETE) {
            /* end of output; a last line may lack its newline */
            n = weft_stream_peek(weft_proc_stdout(p), &line);
            if (n > 0)
                printf("[%d %s] %.*s\n", j->index, j->name, (int)n, line);
        } else if (n < 0) {
            rc = (int)n;
        }
        if (rc == 0)
            rc = weft_proc_wait(p, &j->code);
        weft_proc_destroy(p); /* kills the child if we were cancelled */
        j->ran = rc == 0;
    }
    if (rc)
        j->code = rc;
    weft_sem_release(j->slots);
    return rc == -ECANCELED ? rc : 0;
}

typedef struct args {
    int argc;
    char **argv;
    int failed; /* out: commands that failed or did not run */
} args_t;

static int parallel_main(void *arg, void **result)
{
    (void)result;
    args_t *a = arg;
    int at_once = 4, first = 1;
    if (a->argc > 2 && strcmp(a->argv[1], "-j") == 0) {
        at_once = atoi(a->argv[2]);
        first = 3;
    }
    int n = a->argc - first;
    if (n <= 0 || at_once <= 0) {
        fprintf(stderr, "usage: parallel [-j N] COMMAND...\n");
        return -EINVAL;
    }
    job_t *jobs = calloc((size_t)n, sizeof *jobs);
    weft_sem_t *slots;
    weft_group_t *g;
    if (!jobs || weft_sem_create(&slots, (unsigned)at_once, 0) != 0 || weft_group_create(&g) != 0)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        job_t *j = &jobs[i];
        j->index = i + 1;
        j->cmd = a->argv[first + i];
        j->slots = slots;
        /* the name: the command's first word */
        size_t k = strspn(j->cmd, " \t");
        size_t len = strcspn(j->cmd + k, " \t;|&");
        snprintf(j->name, sizeof j->name, "%.*s", (int)len, j->cmd + k);
        weft_group_spawn(g, NULL, run_job, j, NULL);
    }
    int rc = weft_group_wait(g);
    weft_group_destroy(g);
    weft_sem_destroy(slots);

    int failed = 0;
    printf("--\n");
    for (int i = 0; i < n; i++) {
        job_t *j = &jobs[i];
        if (j->ran)
            printf("[%d %s] exit %d\n", j->index, j->name, j->code);
        else
            printf("[%d %s] not run: %s\n", j->index, j->name, weft_strerror(j->code));
        failed += !j->ran || j->code != 0;
    }
    free(jobs);
    if (rc == -ECANCELED)
        return rc;
    a->failed = failed;
    return 0;
}

int main(int argc, char **argv)
{
    args_t a = {argc, argv, 0};
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = weft_run(parallel_main, &a, NULL);
    if (rc == -EINVAL)
        return 2;
    if (rc != 0) {
        fprintf(stderr, "parallel: %s\n", weft_strerror(rc));
        return 1;
    }
    return a.failed ? 1 : 0;
}
