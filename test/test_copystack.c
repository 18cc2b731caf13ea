/* test_copystack.c - copy-stack tasks: a task that runs on its thread's
 * shared stack and whose live frames are saved while others run there.
 *
 * Checks that a deep recursion suspends and resumes intact beside other
 * copy-stack tasks, that many interleaved tasks keep their locals, that
 * every waiting primitive works unchanged on such tasks (sleep, await,
 * cancellation, deadlines, groups, locks, events, futures, queues,
 * channels, streams, generators resumed inside the task), that the modes
 * are chosen per task and loop-wide, that a debug build catches a break
 * of the one rule (a pointer into a suspended task's stack used from
 * elsewhere) in a child process, and that the slabs under task objects
 * and saved stacks reuse what is freed, also from another thread.
 *
 * Covers: src/coro.c, src/slab.c, src/introspect.c.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h" /* the slabs: weft__slab_alloc, weft__slab_free */

static const weft_task_opts_t COPY = {.stack_mode = WEFT_STACK_COPY};
/* a loop whose tasks are copy-stack unless they choose */
static const weft_config_t copy_loop = {.stack_mode = WEFT_STACK_COPY};

/* ---- deep recursion ---- */

/* Each frame keeps 256 bytes that depend on its depth; at the bottom the
 * task suspends (sleeps, then yields a few times), and every frame checks
 * its bytes on the way up. */
static int __attribute__((noinline)) deep(int depth, int max, int *bad)
{
    volatile unsigned char buf[256];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(depth * 7 + i);
    if (depth < max) {
        int r = deep(depth + 1, max, bad);
        if (r < 0)
            return r;
    } else {
        int rc = weft_sleep(WEFT_MSEC(2));
        for (int i = 0; rc == 0 && i < 3; i++)
            rc = weft_yield();
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != (unsigned char)(depth * 7 + i))
            (*bad)++;
    return 0;
}

static int deep_task(void *arg, void **result)
{
    int bad = 0;
    int rc = deep(0, (int)(intptr_t)arg, &bad);
    *result = (void *)(intptr_t)bad;
    return rc;
}

/* Scribbles over its own frames while the deep one is suspended. */
static int scribbler(void *arg, void **result)
{
    (void)arg, (void)result;
    for (int i = 0; i < 5; i++) {
        volatile unsigned char junk[4096];
        memset((void *)junk, 0x5A + i, sizeof junk);
        int rc = weft_yield();
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int deep_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *d1, *d2, *s;
    /* 1,500 frames of about 300 bytes: some 450 KiB live when suspended */
    assert_int_equal(weft_spawn(&d1, deep_task, (void *)(intptr_t)1000, &COPY), 0);
    assert_int_equal(weft_spawn(&d2, deep_task, (void *)(intptr_t)700, &COPY), 0);
    assert_int_equal(weft_spawn(&s, scribbler, NULL, &COPY), 0);
    void *bad1 = (void *)1, *bad2 = (void *)1;
    assert_int_equal(weft_await(d1, &bad1), 0);
    assert_int_equal(weft_await(d2, &bad2), 0);
    assert_int_equal(weft_await(s, NULL), 0);
    assert_ptr_equal(bad1, NULL);
    assert_ptr_equal(bad2, NULL);
    weft_task_release(d1);
    weft_task_release(d2);
    weft_task_release(s);
    return 0;
}

static void test_deep_recursion_suspends_and_resumes_intact(void **state)
{
    run(deep_main, NULL);
    run_config(&copy_loop, deep_main, NULL); /* the scribbler's own frames reach 4 KiB more */
}

/* ---- many tasks interleaved ---- */

static int counter_task(void *arg, void **result)
{
    intptr_t id = (intptr_t)arg;
    long local[16];
    for (int i = 0; i < 16; i++)
        local[i] = id * 100 + i;
    for (int round = 0; round < 20; round++) {
        int rc = round % 3 ? weft_yield() : weft_sleep(WEFT_USEC(50 + id));
        if (rc < 0)
            return rc;
        for (int i = 0; i < 16; i++) {
            if (local[i] != id * 100 + i + round)
                return -EIO;
            local[i]++;
        }
    }
    *result = (void *)(id + 1);
    return 0;
}

static int many_main(void *arg, void **result)
{
    (void)arg, (void)result;
    enum { N = 200 };
    weft_task_t *t[N];
    for (intptr_t i = 0; i < N; i++) {
        /* every other task on its own stack: the modes mix */
        weft_task_opts_t o = {.stack_mode = i % 2 ? WEFT_STACK_OWN : WEFT_STACK_COPY};
        assert_int_equal(weft_spawn(&t[i], counter_task, (void *)i, &o), 0);
    }
    for (intptr_t i = 0; i < N; i++) {
        void *r = NULL;
        assert_int_equal(weft_await(t[i], &r), 0);
        assert_ptr_equal(r, (void *)(i + 1));
        weft_task_release(t[i]);
    }
    return 0;
}

static void test_many_interleaved_tasks_keep_their_locals(void **state)
{
    run_config(&copy_loop, many_main, NULL);
}

/* ---- every primitive ---- */

typedef struct {
    weft_lock_t *lock;
    weft_event_t *ev;
    weft_future_t *fut;
    weft_queue_t *q;
    weft_chan_t *ch;
    int fds[2];
    int shared;
} prims_t;

static int locker(void *arg, void **result)
{
    (void)result;
    prims_t *p = arg;
    for (int i = 0; i < 10; i++) {
        int rc = weft_lock_acquire(p->lock);
        if (rc < 0)
            return rc;
        int v = p->shared;
        weft_yield();
        p->shared = v + 1;
        weft_lock_release(p->lock);
    }
    return 0;
}

static int producer(void *arg, void **result)
{
    (void)result;
    prims_t *p = arg;
    for (intptr_t i = 1; i <= 50; i++) {
        int rc = weft_queue_put(p->q, (void *)i);
        if (rc == 0)
            rc = weft_chan_send(p->ch, (void *)(i * 2));
        if (rc < 0)
            return rc;
    }
    weft_event_set(p->ev);
    weft_future_set_result(p->fut, (void *)77);
    const char msg[] = "hello from a copy-stack task\n";
    return (int)write(p->fds[1], msg, sizeof msg - 1) == (int)sizeof msg - 1 ? 0 : -EIO;
}

static int consumer(void *arg, void **result)
{
    prims_t *p = arg;
    intptr_t sum = 0;
    for (int i = 0; i < 50; i++) {
        void *a, *b;
        int rc = weft_queue_get(p->q, &a);
        if (rc == 0)
            rc = weft_chan_recv(p->ch, &b);
        if (rc < 0)
            return rc;
        sum += (intptr_t)a + (intptr_t)b;
    }
    int rc = weft_event_wait(p->ev);
    void *fr = NULL;
    if (rc == 0)
        rc = weft_future_await(p->fut, &fr);
    if (rc < 0)
        return rc;
    weft_stream_t *s;
    rc = weft_stream_open(&s, p->fds[0], NULL);
    if (rc < 0)
        return rc;
    const char *line;
    ssize_t n = weft_stream_read_line(s, &line);
    char copy[64] = {0};
    if (n > 0)
        memcpy(copy, line, (size_t)n < sizeof copy - 1 ? (size_t)n : sizeof copy - 1);
    weft_stream_close(s);
    if (n < 0)
        return (int)n;
    if (strcmp(copy, "hello from a copy-stack task\n") != 0)
        return -EBADMSG;
    *result = (void *)(sum + (intptr_t)fr);
    return 0;
}

static int sleeps_forever(void *arg, void **result)
{
    (void)result;
    int *seen = arg;
    int rc = weft_sleep(WEFT_SEC(1000));
    *seen = rc;
    return rc;
}

static int deadline_task(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_MSEC(5));
    int rc = weft_sleep(WEFT_SEC(1000));
    int prc = weft_deadline_pop(&d);
    return rc == -ETIMEDOUT && prc == -ETIMEDOUT ? 0 : -EPROTO;
}

static int gen_squares(void *arg, void **result)
{
    (void)arg, (void)result;
    for (intptr_t i = 1; i <= 4; i++) {
        /* suspends the task that resumes us */
        if (weft_sleep(WEFT_USEC(100)) < 0)
            return -ECANCELED;
        if (weft_gen_yield((void *)(i * i), NULL) < 0)
            return 0;
    }
    return 0;
}

static int gen_user(void *arg, void **result)
{
    (void)arg;
    weft_gen_t *g;
    int rc = weft_gen_create(&g, gen_squares, NULL, NULL);
    if (rc < 0)
        return rc;
    intptr_t sum = 0;
    void *v;
    while ((rc = weft_gen_next(g, &v)) == 0)
        sum += (intptr_t)v;
    weft_gen_destroy(g);
    *result = (void *)sum;
    return rc == WEFT_DONE ? 0 : rc;
}

static int prims_main(void *arg, void **result)
{
    (void)arg, (void)result;
    prims_t p = {0};
    prims_t *hp = calloc(1, sizeof *hp); /* shared with other tasks: never on a stack */
    assert_non_null(hp);
    assert_int_equal(weft_lock_create(&hp->lock), 0);
    assert_int_equal(weft_event_create(&hp->ev), 0);
    assert_int_equal(weft_future_create(&hp->fut), 0);
    assert_int_equal(weft_queue_create(&hp->q, WEFT_QUEUE_FIFO, 4, NULL), 0);
    assert_int_equal(weft_chan_create(&hp->ch, 0), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, hp->fds), 0);
    (void)p;

    /* a group of lockers */
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(weft_group_spawn(g, NULL, locker, hp, &COPY), 0);
    weft_task_t *prod, *cons, *dl, *gu, *sl;
    int seen = 0;
    assert_int_equal(weft_spawn(&prod, producer, hp, &COPY), 0);
    assert_int_equal(weft_spawn(&cons, consumer, hp, &COPY), 0);
    assert_int_equal(weft_spawn(&dl, deadline_task, NULL, &COPY), 0);
    assert_int_equal(weft_spawn(&gu, gen_user, NULL, &COPY), 0);
    int *seenp = malloc(sizeof *seenp);
    assert_non_null(seenp);
    *seenp = 0;
    assert_int_equal(weft_spawn(&sl, sleeps_forever, seenp, &COPY), 0);

    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(hp->shared, 40);
    void *r = NULL;
    assert_int_equal(weft_await(prod, NULL), 0);
    assert_int_equal(weft_await(cons, &r), 0);
    /* sum of i + 2i for i = 1..50, plus the future's 77 */
    assert_int_equal((intptr_t)r, 3 * 1275 + 77);
    assert_int_equal(weft_await(dl, NULL), 0);
    assert_int_equal(weft_await(gu, &r), 0);
    assert_int_equal((intptr_t)r, 1 + 4 + 9 + 16);
    weft_sleep(WEFT_MSEC(1));
    assert_int_equal(weft_cancel(sl), 0);
    assert_int_equal(weft_await(sl, NULL), -ECANCELED);
    assert_int_equal(*seenp, -ECANCELED);
    /* wait_for times out and cancels a copy-stack task */
    weft_task_t *sl2;
    assert_int_equal(weft_spawn(&sl2, sleeps_forever, seenp, &COPY), 0);
    assert_int_equal(weft_wait_for(sl2, WEFT_MSEC(3), NULL), -ETIMEDOUT);
    assert_true(weft_task_done(sl2));
    (void)seen;

    weft_task_release(prod);
    weft_task_release(cons);
    weft_task_release(dl);
    weft_task_release(gu);
    weft_task_release(sl);
    weft_task_release(sl2);
    weft_group_destroy(g);
    weft_lock_destroy(hp->lock);
    weft_event_destroy(hp->ev);
    weft_future_destroy(hp->fut);
    weft_queue_destroy(hp->q);
    weft_chan_destroy(hp->ch);
    close(hp->fds[1]);
    free(hp);
    free(seenp);
    return 0;
}

static void test_every_primitive_works_on_copy_stack_tasks(void **state)
{
    run_config(&copy_loop, prims_main, NULL);
}

/* ---- calls handed pointers into the caller's own stack ----
 *
 * These pointers are the caller's to hand out: weft may only use them
 * while the caller runs, never while it is suspended (under ASan every
 * vacated region is poisoned, so a write from a pool thread or a waker
 * would be reported). */

static int add_one(void *arg, void **result)
{
    *result = (void *)((intptr_t)arg + 1);
    return 0;
}

static int give_later(void *arg, void **result)
{
    (void)result;
    weft_sleep(WEFT_MSEC(1));
    return weft_chan_send(arg, (void *)99);
}

static int stack_pointers(void *arg, void **result)
{
    (void)arg, (void)result;
    /* gather: its result and status arrays on our stack */
    weft_task_t *kids[3];
    void *results[3];
    int statuses[3];
    for (intptr_t i = 0; i < 3; i++)
        if (weft_spawn(&kids[i], add_one, (void *)i, &COPY) < 0)
            return -ENOMEM;
    int rc = weft_gather(kids, 3, results, statuses, WEFT_GATHER_COLLECT);
    for (int i = 0; i < 3; i++)
        weft_task_release(kids[i]);
    if (rc < 0)
        return rc;
    for (intptr_t i = 0; i < 3; i++)
        if (statuses[i] != 0 || results[i] != (void *)(i + 1))
            return -EIO;
    /* to_thread: the result slot on our stack */
    void *r = NULL;
    rc = weft_to_thread(add_one, (void *)41, &r, NULL);
    if (rc < 0 || r != (void *)42)
        return rc < 0 ? rc : -EIO;
    /* select: the cases on our stack, filled by another task's send */
    weft_chan_t *ch;
    if (weft_chan_create(&ch, 0) < 0)
        return -ENOMEM;
    weft_task_t *giver = NULL;
    rc = weft_spawn(&giver, give_later, ch, &COPY);
    weft_select_case_t cases[1] = {{.ch = ch, .op = WEFT_SELECT_RECV}};
    if (rc == 0)
        rc = weft_select(cases, 1, WEFT_SEC(10));
    if (rc == 0 && cases[0].value != (void *)99)
        rc = -EIO;
    if (giver) {
        weft_await(giver, NULL);
        weft_task_release(giver);
    }
    weft_chan_destroy(ch);
    if (rc < 0)
        return rc;
    /* a child process: input, outputs and code through our stack */
    weft_proc_t *p;
    weft_proc_opts_t po = {.in = WEFT_STDIO_PIPE, .out = WEFT_STDIO_PIPE};
    rc = weft_proc_shell(&p, "tr a-z A-Z", &po);
    if (rc < 0)
        return rc;
    char in[] = "copy-stack\n";
    char *out = NULL;
    size_t outlen = 0;
    int code = -1;
    rc = weft_proc_communicate(p, in, sizeof in - 1, &out, &outlen, NULL, NULL, &code);
    weft_proc_destroy(p);
    if (rc == 0 && (code != 0 || outlen != 11 || memcmp(out, "COPY-STACK\n", 11) != 0))
        rc = -EIO;
    free(out);
    return rc;
}

static int stack_pointers_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, stack_pointers, NULL, &COPY), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    return 0;
}

static void test_calls_handed_pointers_into_the_callers_stack(void **state)
{
    run_config(&copy_loop, stack_pointers_main, NULL);
}

/* ---- modes ---- */

static int nothing(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}

static int big_request(void *arg, void **result)
{
    (void)arg, (void)result;
    volatile char big[1536 * 1024]; /* more than the shared stack holds */
    big[0] = 1;
    big[sizeof big - 1] = 2;
    weft_yield();
    return big[0] + big[sizeof big - 1] == 3 ? 0 : -EIO;
}

static int modes_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_opts_t bad = {.stack_mode = 7};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, nothing, NULL, &bad), -EINVAL);
    /* a copy-stack request for a stack above the shared one gets its own */
    weft_task_opts_t big = {.stack_mode = WEFT_STACK_COPY, .stack_size = 4 << 20};
    assert_int_equal(weft_spawn(&t, big_request, NULL, &big), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    /* the tree shows the mode and the stack bytes */
    weft_task_t *s;
    int seen2 = 0;
    weft_task_t *o;
    weft_task_opts_t own = {.stack_mode = WEFT_STACK_OWN, .name = "own"};
    int *seenp = malloc(sizeof *seenp); /* written while we wait: not on our stack */
    assert_non_null(seenp);
    assert_int_equal(weft_spawn(&s, sleeps_forever, seenp, &COPY), 0);
    assert_int_equal(weft_spawn(&o, sleeps_forever, seenp, &own), 0);
    char *buf = NULL;
    size_t len = 0;
    /* not started: no body, no stack yet */
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_true(weft_task_tree(f) >= 3);
    fclose(f);
    assert_non_null(strstr(buf, "[copy-stack, not started]"));
    assert_non_null(strstr(buf, "[own stack, not started]"));
    free(buf);
    buf = NULL;
    /* parked: the body lives on (own) or beside (copy) the stack */
    assert_int_equal(weft_yield(), 0);
    while (weft_task_state(o) != WEFT_TASK_WAITING || weft_task_state(s) != WEFT_TASK_WAITING)
        assert_int_equal(weft_yield(), 0);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_true(weft_task_tree(f) >= 3);
    fclose(f);
    assert_non_null(strstr(buf, "B saved]"));
    assert_non_null(strstr(buf, "B resident]"));
    assert_null(strstr(buf, "not started"));
    assert_non_null(strstr(buf, "\"own\""));
    free(buf);
    weft_cancel(s);
    weft_cancel(o);
    weft_await(s, NULL);
    weft_await(o, NULL);
    weft_task_release(s);
    weft_task_release(o);
    free(seenp);
    (void)seen2;
    return 0;
}

static void test_modes_are_chosen_per_task_and_checked(void **state)
{
    weft_config_t cfg = {.stack_mode = 9};
    assert_int_equal(weft_run_config(&cfg, nothing, NULL, NULL), -EINVAL);
    run(modes_main, NULL);
}

/* ---- the rule, broken ---- */

static int *volatile leaked;
static weft_event_t *leak_go;

/* The leaker waits on an event, not a timer: the writer must write while
 * it is suspended however slowly the build turns (with a 20 ms sleep
 * against the writer's 5 ms, a TSan run on a loaded machine sometimes
 * resumed the leaker first and nothing was caught). */
static int leaker(void *arg, void **result)
{
    (void)arg, (void)result;
    int local = 1;
    leaked = &local; /* breaks the rule: published, then used while we wait */
    int rc = weft_event_wait(leak_go);
    return rc < 0 ? rc : local;
}

static int writer(void *arg, void **result)
{
    (void)arg, (void)result;
    *leaked = 42; /* the leaker is suspended: its stack is elsewhere */
    return 0;
}

static int violation_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_task_t *a, *b;
    weft_task_opts_t own = {.stack_mode = WEFT_STACK_OWN, .place = WEFT_PLACE_HERE};
    weft_task_opts_t copy = COPY;
    copy.place = WEFT_PLACE_HERE;
    if (weft_event_create(&leak_go) != 0)
        return -1;
    weft_spawn(&a, leaker, NULL, &copy);
    while (weft_task_state(a) != WEFT_TASK_WAITING) /* it has published and left */
        weft_yield();
    weft_spawn(&b, writer, NULL, &own);
    weft_await(b, NULL);
    weft_event_set(leak_go); /* its stack comes back: the check runs */
    weft_await(a, NULL);
    weft_task_release(a);
    weft_task_release(b);
    return 0;
}

static void test_rule_violation_is_caught_in_debug_mode(void **state)
{
    if (under_valgrind())
        skip(); /* the child would run under Valgrind's own reports */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        weft_config_t cfg = {.debug = true};
        weft_run_config(&cfg, violation_main, NULL, NULL);
        _exit(0); /* not caught */
    }
    close(fds[1]);
    char out[16384];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], out + n, sizeof out - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (n += (size_t)r) == sizeof out - 1)
            break;
    }
    out[n] = '\0';
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (under_asan())
        assert_non_null(strstr(out, "use-after-poison"));
    else
        assert_non_null(strstr(out, "copy-stack rule was broken"));
}

/* ---- the slabs under task objects and saved stacks ---- */

#define SLAB_N 20000

static void *slab_objs[SLAB_N];

static void *free_all(void *arg)
{
    (void)arg;
    for (int i = 0; i < SLAB_N; i++)
        weft__slab_free(slab_objs[i], 200);
    return NULL;
}

static void test_slabs_reuse_memory_and_take_frees_from_other_threads(void **state)
{
    assert_int_equal(weft__slab_round(1), 16);
    assert_int_equal(weft__slab_round(424), 432);
    assert_int_equal(weft__slab_round(600), 640);
    assert_int_equal(weft__slab_round(5000), 5120);
    /* sizes past the slabs are plain malloc, and come back as such */
    void *big = weft__slab_alloc(WEFT__SLAB_MAX + 1);
    assert_non_null(big);
    memset(big, 1, WEFT__SLAB_MAX + 1);
    weft__slab_free(big, WEFT__SLAB_MAX + 1);

    /* objects freed on this thread are handed out again */
    void *a = weft__slab_alloc(200);
    assert_non_null(a);
    memset(a, 0xAB, 200);
    weft__slab_free(a, 200);
    void *b = weft__slab_alloc(200);
    assert_non_null(b);
    weft__slab_free(b, 200);

    /* many objects, freed by another thread, then allocated again here */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < SLAB_N; i++) {
            slab_objs[i] = weft__slab_alloc(200);
            assert_non_null(slab_objs[i]);
            memset(slab_objs[i], i & 0xFF, 200);
        }
        for (int i = 0; i < SLAB_N; i++)
            assert_int_equal(((unsigned char *)slab_objs[i])[199], i & 0xFF);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, free_all, NULL), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_recursion_suspends_and_resumes_intact),
        cmocka_unit_test(test_many_interleaved_tasks_keep_their_locals),
        cmocka_unit_test(test_every_primitive_works_on_copy_stack_tasks),
        cmocka_unit_test(test_calls_handed_pointers_into_the_callers_stack),
        cmocka_unit_test(test_modes_are_chosen_per_task_and_checked),
        cmocka_unit_test(test_rule_violation_is_caught_in_debug_mode),
        cmocka_unit_test(test_slabs_reuse_memory_and_take_frees_from_other_threads),
    };
    return run_suite(tests, NULL, NULL);
}
