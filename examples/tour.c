/* tour.c - a guided tour of weft, in the order you would learn it.
 *
 * Run it with `make demo` and read along. Each section is one function,
 * called from main in turn; each prints what happens as it happens, so
 * the output shows who runs when.
 *
 *   1. coroutines   a function that can stop in the middle and go on later
 *   2. generators   a coroutine that produces a stream of values
 *   3. send         values travelling into a generator, too
 *   4. close        stopping a generator early, letting it clean up
 *   5. yield from   one generator handing the work to another
 *   6. tasks        the event loop: weft_run, tasks in the background, sleep
 *   7. gather       waiting for several tasks at once
 *   8. timeouts     deadline scopes and wait_for
 *   9. cancel       stopping a task: it unwinds by returning
 *  10. groups       structured concurrency: no child outlives its group
 *  11. the tree     what every task is waiting on, right now
 *  12. queues       producers and consumers, with back-pressure
 *  13. locks        one task at a time in a critical section
 *  14. select       waiting on several channels, with a timeout
 *  15. processes    running a program, talking to it through pipes
 *  16. echo         a TCP server and its clients in one program
 *  17. fetch        several clients fetching from a local HTTP server at once
 *  18. tls          the same streams over TLS, with a certificate checked
 *  19. a C library's fd  driving a library that owns its socket (libcurl's pattern)
 *  20. task-locals  values each task has its own of, inherited by what it spawns
 *  21. files        reading and writing files without stopping the other tasks
 *
 * Sections 1-5 need no event loop: coroutines and generators are plain
 * objects you drive by hand. From section 6 on, weft_run starts a loop and
 * runs a task; tasks take turns whenever one of them waits.
 *
 * weft reports errors as negative errno values (weft_strerror() turns one
 * into text); a few calls return the positive WEFT_DONE to say "finished".
 * A tour keeps error handling short: check() stops at the first surprise.
 *
 * Each section's title names the calls it shows, and each line of output
 * says which call it reports on. Some calls are made to fail on purpose,
 * to show what a failure looks like: those lines read
 * "call -> -ECODE (expected: why)". docs/guide.md is the step-by-step
 * guide, each step a program of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

/* Integers travel through weft's void * values. */
#define VAL(i) ((void *)(intptr_t)(i))
#define INT(p) ((intptr_t)(p))

static void section(const char *title)
{
    printf("\n== %s ==\n\n", title);
}

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "tour: %s: %s\n", what, weft_strerror(rc));
        exit(1);
    }
}

/* The name of a status, as the header writes it: "-ETIMEDOUT". */
static const char *status_name(int rc)
{
    static const struct {
        int rc;
        const char *name;
    } names[] = {
        {0, "0"},
        {WEFT_DONE, "WEFT_DONE"},
        {-ETIMEDOUT, "-ETIMEDOUT"},
        {-ECANCELED, "-ECANCELED"},
        {-EPIPE, "-EPIPE"},
        {-EIO, "-EIO"},
        {-ENOENT, "-ENOENT"},
        {-EAGAIN, "-EAGAIN"},
        {-ECONNREFUSED, "-ECONNREFUSED"},
        {-WEFT_ECERT, "-WEFT_ECERT"},
        {-WEFT_ENOTASK, "-WEFT_ENOTASK"},
        {-WEFT_ENOTOWNER, "-WEFT_ENOTOWNER"},
    };
    static char other[32];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].rc == rc)
            return names[i].name;
    snprintf(other, sizeof other, "%d", rc);
    return other;
}

/* Prints "call -> -ECODE (expected: why)" for a failure the tour causes
 * on purpose; a different outcome is printed as unexpected. */
static void expect(const char *call, int rc, int want, const char *why)
{
    if (rc == want)
        printf("  %s -> %s (expected: %s)\n", call, status_name(rc), why);
    else
        printf("  %s -> %s: %s (unexpected: the tour expected %s)\n", call, status_name(rc),
               weft_strerror(rc), status_name(want));
}

/* ------------------------------------------------------------------------
 * 1. Coroutines
 *
 * A subroutine runs from its start to its end in one call. A coroutine
 * can stop part-way (weft_coro_yield), hand control back to whoever
 * resumed it, and later carry on exactly where it was, its local variables
 * intact: it has a stack of its own. Values pass both ways: yield hands
 * one out, resume hands one in.
 * --------------------------------------------------------------------- */

static void subroutine(void)
{
    printf("  subroutine: start\n");
    printf("  subroutine: end (one call, start to finish)\n");
}

static void *chatty(void *arg)
{
    const char *who = arg;
    void *in = NULL;

    printf("  %s: started, now weft_coro_yield(1)\n", who);
    weft_coro_yield(VAL(1), &in);
    printf("  %s: resumed with %ld, now yielding 2\n", who, (long)INT(in));
    weft_coro_yield(VAL(2), &in);
    printf("  %s: resumed with %ld, returning 3\n", who, (long)INT(in));
    return VAL(3);
}

static void tour_coroutines(void)
{
    section("1. coroutines: weft_coro_create, weft_coro_resume, weft_coro_yield, "
            "weft_coro_destroy");

    printf("main: calling a subroutine\n");
    subroutine();

    weft_coro_t *co;
    void *out;
    check(weft_coro_create(&co, chatty, "coroutine", NULL), "weft_coro_create");
    printf("main: weft_coro_create made a coroutine; nothing has run yet\n");

    int rc = weft_coro_resume(co, NULL, &out);
    check(rc, "weft_coro_resume");
    printf("main: weft_coro_resume -> 0: it yielded %ld, and main runs again\n", (long)INT(out));

    rc = weft_coro_resume(co, VAL(10), &out);
    check(rc, "weft_coro_resume");
    printf("main: weft_coro_resume(10) -> 0: it yielded %ld\n", (long)INT(out));

    rc = weft_coro_resume(co, VAL(20), &out);
    check(rc, "weft_coro_resume");
    if (rc == WEFT_DONE) /* not a yield: the function returned */
        printf("main: weft_coro_resume(20) -> WEFT_DONE: the coroutine has finished and "
               "returned %ld\n",
               (long)INT(out));

    weft_coro_destroy(co);
}

/* ------------------------------------------------------------------------
 * 2. Generators
 *
 * A generator is a coroutine dedicated to producing values: its body
 * calls weft_gen_yield for each one, and the consumer pulls them with
 * weft_gen_next, or with WEFT_GEN_FOREACH. Values are made only when
 * asked for, so a generator may be endless.
 * --------------------------------------------------------------------- */

/* Yields the Fibonacci numbers below *limit. */
static int fibonacci(void *arg, void **result)
{
    intptr_t limit = *(intptr_t *)arg, a = 0, b = 1;
    (void)result;
    while (a < limit) {
        int rc = weft_gen_yield(VAL(a), NULL);
        if (rc < 0)
            return rc;
        intptr_t next = a + b;
        a = b;
        b = next;
    }
    return 0; /* exhausted */
}

static void tour_generators(void)
{
    section("2. generators: weft_gen_create, weft_gen_yield, WEFT_GEN_FOREACH, weft_gen_done");

    intptr_t limit = 100;
    weft_gen_t *fib;
    check(weft_gen_create(&fib, fibonacci, &limit, NULL), "weft_gen_create");

    printf("WEFT_GEN_FOREACH over the Fibonacci numbers below %ld:", (long)limit);
    WEFT_GEN_FOREACH(fib, v)
    {
        printf(" %ld", (long)INT(v));
    }
    printf("\n");
    printf("weft_gen_done -> %s (exhausted)\n", weft_gen_done(fib) ? "true" : "false");

    weft_gen_destroy(fib);
}

/* ------------------------------------------------------------------------
 * 3. Send
 *
 * weft_gen_send(gen, value, &out) resumes a generator and makes its
 * pending weft_gen_yield return `value`: the generator becomes a consumer
 * as well as a producer. The first advance starts the body, which has no
 * yield pending yet, so its value is ignored (as in Python).
 * --------------------------------------------------------------------- */

/* Receives numbers and yields the average of all received so far. */
static int running_average(void *arg, void **result)
{
    double *avg = arg;
    double sum = 0;
    long count = 0;
    void *in;
    (void)result;

    *avg = 0;
    for (;;) {
        int rc = weft_gen_yield(avg, &in); /* hand out the average, wait for a number */
        if (rc < 0)
            return rc == -ECANCELED ? 0 : rc; /* closed: just stop */
        sum += (double)INT(in);
        count++;
        *avg = sum / (double)count;
    }
}

static void tour_send(void)
{
    section("3. send: weft_gen_send, weft_gen_next");

    double avg;
    weft_gen_t *g;
    check(weft_gen_create(&g, running_average, &avg, NULL), "weft_gen_create");
    check(weft_gen_next(g, NULL), "start it"); /* run up to its first yield */

    int numbers[] = {10, 20, 60, 10};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        void *out;
        check(weft_gen_send(g, VAL(numbers[i]), &out), "weft_gen_send");
        printf("weft_gen_send(%2d) -> average so far %.2f\n", numbers[i], *(double *)out);
    }

    weft_gen_destroy(g); /* closes it first */
}

/* ------------------------------------------------------------------------
 * 4. Close
 *
 * weft_gen_close stops a generator before it is exhausted. Its pending
 * weft_gen_yield returns -ECANCELED, and the body does its clean-up and
 * returns, like a Python generator receiving GeneratorExit. (weft_gen_destroy
 * does the same for a generator that is still suspended.)
 * --------------------------------------------------------------------- */

/* Yields the lines of a pretend file; "closes the file" however it ends. */
static int read_lines(void *arg, void **result)
{
    const char *const *lines = arg;
    int rc = 0;
    (void)result;

    printf("  read_lines: opening the file\n");
    for (int i = 0; lines[i] && rc == 0; i++)
        rc = weft_gen_yield((void *)lines[i], NULL);
    if (rc == -ECANCELED)
        expect("read_lines: weft_gen_yield", rc, -ECANCELED, "the consumer closed it early");
    printf("  read_lines: closing the file\n");
    return 0;
}

static void tour_close(void)
{
    section("4. close: weft_gen_close");

    static const char *const lines[] = {"first line", "second line", "third line", NULL};
    weft_gen_t *g;
    void *line;
    check(weft_gen_create(&g, read_lines, (void *)lines, NULL), "weft_gen_create");

    check(weft_gen_next(g, &line), "weft_gen_next");
    printf("main: weft_gen_next gave \"%s\"; that is all we need\n", (const char *)line);
    int rc = weft_gen_close(g);
    printf("main: weft_gen_close -> %d (%s)\n", rc, weft_strerror(rc));

    weft_gen_destroy(g);
}

/* ------------------------------------------------------------------------
 * 5. Yield from
 *
 * weft_gen_yield_from(sub, &result) hands the work to another generator
 * until it is exhausted (Python's `yield from`): whatever sub yields goes
 * straight to our consumer, whatever the consumer sends goes to sub, and
 * sub's final value (what its body stores in *result) comes back to us.
 * --------------------------------------------------------------------- */

/* Yields n, n-1, ..., 1; its final value is how many it yielded. */
static int countdown(void *arg, void **result)
{
    intptr_t n = INT(arg);
    for (intptr_t i = n; i > 0; i--) {
        int rc = weft_gen_yield(VAL(i), NULL);
        if (rc < 0)
            return rc;
    }
    *result = VAL(n);
    return 0;
}

/* Two countdowns back to back, delegated; yields -1 between them. */
static int two_countdowns(void *arg, void **result)
{
    intptr_t total = 0;
    (void)arg;
    for (intptr_t n = 3; n >= 2; n--) {
        weft_gen_t *sub;
        void *count = NULL;
        int rc = weft_gen_create(&sub, countdown, VAL(n), NULL);
        if (rc < 0)
            return rc;
        rc = weft_gen_yield_from(sub, &count); /* sub's values flow through us */
        weft_gen_destroy(sub);
        if (rc < 0)
            return rc;
        printf("  two_countdowns: countdown(%ld) is done, it yielded %ld values\n", (long)n,
               (long)INT(count));
        total += INT(count);
        if (n == 3 && (rc = weft_gen_yield(VAL(-1), NULL)) < 0)
            return rc;
    }
    *result = VAL(total);
    return 0;
}

static void tour_yield_from(void)
{
    section("5. yield from: weft_gen_yield_from");

    weft_gen_t *g;
    void *v;
    int rc;
    check(weft_gen_create(&g, two_countdowns, NULL, NULL), "weft_gen_create");
    while ((rc = weft_gen_next(g, &v)) == 0)
        printf("main: weft_gen_next -> %ld\n", (long)INT(v));
    check(rc, "weft_gen_next");
    printf("main: weft_gen_next -> WEFT_DONE; its final value: %ld values in all\n", (long)INT(v));
    weft_gen_destroy(g);
}

/* ---- 6. tasks ----------------------------------------------------------
 * weft_run(main, arg, &result) starts an event loop and runs main as its
 * first task. weft_spawn starts another task in the background; it runs
 * whenever the running one waits (weft_sleep, weft_yield, weft_await...).
 * weft_await waits for a task and gives its status and result.
 */

static int brew(void *arg, void **result)
{
    const char *what = arg;
    printf("  %s: started, brewing for 20 ms\n", what);
    int rc = weft_sleep(WEFT_MSEC(20));
    if (rc < 0)
        return rc; /* cancelled or timed out: unwind by returning */
    printf("  %s: ready\n", what);
    *result = arg;
    return 0;
}

static void tour_tasks(void)
{
    section("6. tasks: weft_run, weft_spawn, weft_sleep, weft_await, weft_task_release");
    weft_task_t *tea;
    check(weft_spawn(&tea, brew, "tea", &(weft_task_opts_t){.name = "tea"}), "spawn");
    printf("  main: weft_spawn started tea in the background; main calls weft_sleep(5 ms)\n");
    check(weft_sleep(WEFT_MSEC(5)), "sleep");
    printf("  main: awake, now weft_await(tea)\n");
    void *res;
    check(weft_await(tea, &res), "await");
    printf("  main: weft_await -> 0, result \"%s\"\n", (const char *)res);
    weft_task_release(tea); /* we own the handle weft_spawn gave us */
}

/* ---- 7. gather ---------------------------------------------------------
 * gather waits for several tasks and returns their results in order.
 */

static int square_later(void *arg, void **result)
{
    intptr_t n = INT(arg);
    int rc = weft_sleep(WEFT_MSEC(10 * (4 - n))); /* the last finishes first */
    if (rc < 0)
        return rc;
    printf("  square(%d) done\n", (int)n);
    *result = VAL(n * n);
    return 0;
}

static void tour_gather(void)
{
    section("7. gather: weft_gather");
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++)
        check(weft_spawn(&t[i], square_later, VAL(i + 1), NULL), "spawn");
    void *results[3];
    check(weft_gather(t, 3, results, NULL, WEFT_GATHER_FAIL_FAST), "gather");
    printf("  weft_gather -> 0, results in spawn order: %d %d %d\n", (int)INT(results[0]),
           (int)INT(results[1]), (int)INT(results[2]));
    for (int i = 0; i < 3; i++)
        weft_task_release(t[i]);
}

/* ---- 8. timeouts -------------------------------------------------------
 * A deadline scope makes every suspending call inside it return
 * -ETIMEDOUT once the deadline passes; wait_for puts one around an await
 * and cancels the task if it is late.
 */

static void tour_timeouts(void)
{
    section("8. timeouts: weft_deadline_push, weft_deadline_pop, weft_wait_for");
    weft_deadline_t d;
    check(weft_deadline_push(&d, WEFT_MSEC(10)), "weft_deadline_push");
    int rc = weft_sleep(WEFT_SEC(5));
    expect("weft_sleep(5 s) inside weft_deadline_push(10 ms)", rc, -ETIMEDOUT,
           "the scope's deadline passed");
    /* pop reports this scope's own deadline: an outer scope's leaves it 0 */
    expect("weft_deadline_pop", weft_deadline_pop(&d), -ETIMEDOUT,
           "it was this scope that expired, not an outer one");

    weft_task_t *slow;
    check(weft_spawn(&slow, brew, "slow tea", NULL), "spawn");
    rc = weft_wait_for(slow, WEFT_MSEC(5), NULL);
    expect("weft_wait_for(slow tea, 5 ms)", rc, -ETIMEDOUT, "the tea takes 20 ms");
    printf("  slow tea was cancelled (weft_task_cancel_reason: \"%s\") and is done: %s\n",
           weft_cancel_reason_name(weft_task_cancel_reason(slow, NULL)),
           weft_task_done(slow) ? "yes" : "no");
    weft_task_release(slow);
}

/* ---- 9. cancellation ---------------------------------------------------
 * weft_cancel makes the task's current or next suspending call return
 * -ECANCELED. The task cleans up and returns; awaiting it says so.
 * weft_cancel_with does the same with a reason and a message, which the
 * task reads with weft_task_cancel_reason.
 */

static int worker(void *arg, void **result)
{
    (void)arg;
    (void)result;
    for (int i = 0;; i++) {
        int rc = weft_sleep(WEFT_MSEC(3));
        if (rc < 0) {
            const char *msg;
            int why = weft_task_cancel_reason(weft_current(), &msg);
            printf("  worker: after %d rounds\n", i);
            expect("worker: weft_sleep", rc, -ECANCELED, "main cancelled it");
            printf("  worker: weft_task_cancel_reason -> \"%s\", \"%s\"; cleaning up\n",
                   weft_cancel_reason_name(why), msg ? msg : "");
            return rc;
        }
    }
}

static void tour_cancel(void)
{
    section("9. cancel: weft_cancel_with, weft_task_cancel_reason");
    weft_task_t *w;
    check(weft_spawn(&w, worker, NULL, &(weft_task_opts_t){.name = "worker"}), "spawn");
    check(weft_sleep(WEFT_MSEC(10)), "sleep");
    check(weft_cancel_with(w, WEFT_CANCEL_USER, "time to stop"), "weft_cancel_with");
    int rc = weft_await(w, NULL);
    expect("main: weft_await(worker)", rc, -ECANCELED, "the worker returned its -ECANCELED");
    weft_task_release(w);
}

/* ---- 10. task groups ---------------------------------------------------
 * A group's children cannot outlive it: weft_group_wait returns when all
 * have finished. The first to fail cancels its siblings.
 */

static int fail_soon(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_sleep(WEFT_MSEC(5));
    printf("  fail_soon: failing with EIO\n");
    return -EIO;
}

static void tour_groups(void)
{
    section("10. groups: weft_group_create, weft_group_spawn, weft_group_wait");
    weft_group_t *g;
    check(weft_group_create(&g), "group");
    weft_task_t *a, *b;
    check(weft_group_spawn(g, &a, brew, "green tea", NULL), "spawn");
    check(weft_group_spawn(g, &b, fail_soon, NULL, NULL), "spawn");
    int rc = weft_group_wait(g);
    expect("weft_group_wait", rc, -EIO, "fail_soon's failure");
    expect("green tea (weft_task_result)", weft_task_result(a, NULL), -ECANCELED,
           "its sibling failed, so the group cancelled it");
    printf("  green tea's weft_task_cancel_reason -> \"%s\"\n",
           weft_cancel_reason_name(weft_task_cancel_reason(a, NULL)));
    weft_group_destroy(g);
}

/* ---- 11. the task tree -------------------------------------------------
 * weft_task_tree prints every live task, who awaits whom and what each is
 * waiting on, like `python -m asyncio pstree`.
 */

static int nap(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return weft_sleep(WEFT_MSEC(50));
}

static void tour_tree(void)
{
    section("11. the task tree: weft_task_tree");
    weft_task_t *t;
    check(weft_spawn(&t, nap, NULL, &(weft_task_opts_t){.name = "napper"}), "spawn");
    check(weft_yield(), "yield"); /* let it start and fall asleep */
    weft_task_tree(stdout);
    weft_cancel(t);
    weft_await(t, NULL);
    weft_task_release(t);
}

/* ---- 12. queues ---------------------------------------------------------
 * A bounded queue hands work from producers to consumers; a full queue
 * makes producers wait (back-pressure), an empty one makes consumers wait.
 */

static int producer(void *arg, void **result)
{
    (void)result;
    weft_queue_t *q = arg;
    for (int i = 1; i <= 6; i++) {
        int rc = weft_queue_put(q, VAL(i));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int consumer(void *arg, void **result)
{
    weft_queue_t *q = arg;
    intptr_t sum = 0;
    void *item;
    /* get returns -EPIPE once the queue is shut down and empty */
    while (weft_queue_get(q, &item) == 0) {
        sum += INT(item);
        weft_queue_task_done(q);
        weft_sleep(WEFT_MSEC(1)); /* some work per item */
    }
    *result = VAL(sum);
    return 0;
}

static void tour_queues(void)
{
    section("12. queues: weft_queue_put, weft_queue_get, weft_queue_join, weft_queue_shutdown");
    weft_queue_t *q;
    check(weft_queue_create(&q, WEFT_QUEUE_FIFO, 2, NULL), "queue");
    weft_task_t *p[2], *c[2];
    for (int i = 0; i < 2; i++) {
        check(weft_spawn(&p[i], producer, q, NULL), "spawn");
        check(weft_spawn(&c[i], consumer, q, NULL), "spawn");
    }
    check(weft_gather(p, 2, NULL, NULL, WEFT_GATHER_FAIL_FAST), "producers");
    check(weft_queue_join(q), "join"); /* every item processed */
    weft_queue_shutdown(q, false, NULL);
    expect("weft_queue_put on a shut-down queue", weft_queue_put(q, VAL(7)), -EPIPE,
           "weft_queue_shutdown closed it");
    void *s0, *s1;
    check(weft_await(c[0], &s0), "await");
    check(weft_await(c[1], &s1), "await");
    printf("  two producers weft_queue_put 1..6 each through a queue of 2; the consumers "
           "(weft_queue_get) summed "
           "%d + %d = %d\n",
           (int)INT(s0), (int)INT(s1), (int)(INT(s0) + INT(s1)));
    for (int i = 0; i < 2; i++) {
        weft_task_release(p[i]);
        weft_task_release(c[i]);
    }
    weft_queue_destroy(q);
}

/* ---- 13. locks ----------------------------------------------------------
 * A lock keeps a read-modify-write that suspends in the middle from
 * interleaving with another task's.
 */

typedef struct {
    weft_lock_t *lock;
    int balance;
} account_t;

static int deposit(void *arg, void **result)
{
    (void)result;
    account_t *a = arg;
    for (int i = 0; i < 3; i++) {
        int rc = weft_lock_acquire(a->lock);
        if (rc < 0)
            return rc;
        int seen = a->balance;
        weft_sleep(WEFT_MSEC(1)); /* suspends while holding the lock */
        a->balance = seen + 10;
        weft_lock_release(a->lock);
    }
    return 0;
}

static void tour_locks(void)
{
    section("13. locks: weft_lock_acquire, weft_lock_release");
    account_t *a = calloc(1, sizeof *a); /* shared state lives off the stack */
    check(a ? 0 : -ENOMEM, "calloc");
    check(weft_lock_create(&a->lock), "lock");
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++)
        check(weft_spawn(&t[i], deposit, a, NULL), "spawn");
    check(weft_gather(t, 3, NULL, NULL, WEFT_GATHER_FAIL_FAST), "gather");
    printf("  3 tasks x 3 deposits of 10 under weft_lock_acquire: balance %d\n", a->balance);
    expect("weft_lock_release by a task that does not hold it", weft_lock_release(a->lock),
           -WEFT_ENOTOWNER, "only the holder may release a lock");
    for (int i = 0; i < 3; i++)
        weft_task_release(t[i]);
    weft_lock_destroy(a->lock);
    free(a);
}

/* ---- 14. select ---------------------------------------------------------
 * weft_select waits for the first of several channel operations, or a
 * timeout, like Go's select.
 */

static int slow_sender(void *arg, void **result)
{
    (void)result;
    int rc = weft_sleep(WEFT_MSEC(15));
    return rc < 0 ? rc : weft_chan_send(arg, "late news");
}

static void tour_select(void)
{
    section("14. select: weft_chan_send, weft_select");
    weft_chan_t *news, *alerts;
    check(weft_chan_create(&news, 0), "chan");
    check(weft_chan_create(&alerts, 0), "chan");
    weft_task_t *s;
    check(weft_spawn(&s, slow_sender, news, NULL), "spawn");
    for (int round = 0; round < 2; round++) {
        weft_select_case_t cases[2] = {
            {.ch = news, .op = WEFT_SELECT_RECV},
            {.ch = alerts, .op = WEFT_SELECT_RECV},
        };
        int i = weft_select(cases, 2, WEFT_MSEC(10));
        if (i >= 0)
            printf("  round %d: weft_select -> %d: case %d received \"%s\"\n", round, i, i,
                   (const char *)cases[i].value);
        else if (round == 0)
            expect("round 0: weft_select(10 ms)", i, -ETIMEDOUT, "the sender waits 15 ms");
        else
            check(i, "select");
    }
    check(weft_await(s, NULL), "await");
    weft_task_release(s);
    weft_chan_destroy(news);
    weft_chan_destroy(alerts);
}


/* ---- 15. processes ------------------------------------------------------
 * weft_proc_spawn starts a program (posix_spawn: cheap even from a big
 * parent); its pipes are streams. communicate feeds stdin and collects
 * stdout and stderr at once, so no pipe can fill up and deadlock.
 */

static void tour_processes(void)
{
    section("15. processes: weft_proc_spawn, weft_proc_communicate");
    weft_proc_opts_t opts = {.in = WEFT_STDIO_PIPE, .out = WEFT_STDIO_PIPE};
    const char *sort[] = {"sort", NULL};
    weft_proc_t *p;
    check(weft_proc_spawn(&p, sort, &opts), "spawn sort");
    const char *input = "pear\napple\nfig\n";
    char *out;
    size_t n;
    int code;
    check(weft_proc_communicate(p, input, 15, &out, &n, NULL, NULL, &code), "communicate");
    printf("  weft_proc_communicate: sort exited %d and printed:\n%s", code, out);
    free(out);
    weft_proc_destroy(p);
    const char *missing[] = {"no-such-program", NULL};
    expect("weft_proc_spawn(no-such-program)", weft_proc_spawn(&p, missing, NULL), -ENOENT,
           "a missing program fails at once, not as exit 127");
}

/* ---- 16. echo ------------------------------------------------------------
 * weft_server_listen runs one handler task per connection; a client is a
 * plain task that connects, writes and reads. Port 0 lets the kernel pick
 * (weft_server_addr tells which).
 */

static int echo_handler(weft_stream_t *s, void *arg)
{
    (void)arg;
    const char *line;
    ssize_t n;
    while ((n = weft_stream_read_line(s, &line)) > 0) {
        weft_stream_write(s, line, (size_t)n);
        int rc = weft_stream_drain(s);
        if (rc)
            return rc;
    }
    return 0;
}

static int echo_client(void *arg, void **result)
{
    (void)result;
    intptr_t id = INT(arg) >> 16, port = INT(arg) & 0xffff;
    char portstr[8], msg[32];
    snprintf(portstr, sizeof portstr, "%d", (int)port);
    weft_stream_t *s;
    int rc = weft_tcp_connect(&s, "127.0.0.1", portstr, NULL);
    if (rc)
        return rc;
    int len = snprintf(msg, sizeof msg, "hello from client %d\n", (int)id);
    weft_stream_write(s, msg, (size_t)len);
    const char *line;
    ssize_t n = weft_stream_read_line(s, &line);
    if (n > 0)
        printf("  client %d: weft_stream_read_line got back: %.*s", (int)id, (int)n, line);
    weft_stream_close(s);
    return n > 0 ? 0 : (int)n;
}

/* Serves a free port of 127.0.0.1 with handler; returns the port. */
static int serve_local(weft_server_t **srv, weft_conn_fn handler, const weft_server_opts_t *opts)
{
    check(weft_server_listen(srv, "127.0.0.1", "0", handler, NULL, opts), "server");
    weft_addr_t a;
    check(weft_server_addr(*srv, &a), "server addr");
    return weft_addr_port(&a);
}

static void tour_echo(void)
{
    section("16. echo: weft_server_listen, weft_tcp_connect, weft_stream_read_line, "
            "weft_server_close");
    weft_server_t *srv;
    int port = serve_local(&srv, echo_handler, NULL);
    weft_task_t *c[3];
    for (int i = 0; i < 3; i++)
        check(weft_spawn(&c[i], echo_client, VAL(((i + 1) << 16) | port), NULL), "spawn");
    for (int i = 0; i < 3; i++) {
        check(weft_await(c[i], NULL), "client");
        weft_task_release(c[i]);
    }
    check(weft_server_close(srv, WEFT_SEC(1)), "server close");
    printf("  weft_server_close -> 0: every connection was handled by its own task\n");
}

/* ---- 17. fetch -----------------------------------------------------------
 * A tiny HTTP server and several clients fetching from it at once; each
 * client parses the reply with read_line and read_exactly.
 */

static int http_handler(weft_stream_t *s, void *arg)
{
    (void)arg;
    const char *line;
    ssize_t n;
    /* the request line and headers end with an empty line */
    while ((n = weft_stream_read_line(s, &line)) > 0)
        if (n <= 2)
            break;
    if (n <= 0)
        return (int)n;
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
    weft_stream_write(s, reply, sizeof reply - 1);
    return weft_stream_flush(s);
}

static int fetch(void *arg, void **result)
{
    (void)result;
    char port[8];
    snprintf(port, sizeof port, "%d", (int)INT(arg));
    weft_stream_t *s;
    int rc = weft_tcp_connect(&s, "localhost", port, NULL); /* resolved in the pool */
    if (rc)
        return rc;
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    weft_stream_write(s, req, sizeof req - 1);
    const char *line;
    ssize_t n;
    long length = 0;
    char status[64] = "";
    while ((n = weft_stream_read_line(s, &line)) > 2) {
        if (!status[0])
            snprintf(status, sizeof status, "%.*s", (int)n - 2, line);
        if (n > 16 && strncasecmp(line, "Content-Length:", 15) == 0)
            length = strtol(line + 15, NULL, 10);
    }
    char body[64] = "";
    if (n > 0 && length > 0 && length < (long)sizeof body)
        rc = weft_stream_read_exactly(s, body, (size_t)length, NULL);
    weft_stream_close(s);
    if (rc == 0)
        printf("  %s, weft_stream_read_exactly read the body: %s", status, body);
    return rc;
}

static void tour_fetch(void)
{
    section("17. fetch: weft_tcp_connect by name, weft_stream_read_exactly");
    weft_server_t *srv;
    int port = serve_local(&srv, http_handler, NULL);
    weft_task_t *f[4];
    for (int i = 0; i < 4; i++)
        check(weft_spawn(&f[i], fetch, VAL(port), NULL), "spawn");
    int rc = weft_gather(f, 4, NULL, NULL, WEFT_GATHER_FAIL_FAST);
    if (rc == -EAFNOSUPPORT || rc == -WEFT_ENOTFOUND)
        printf("  (this machine cannot resolve localhost: %s)\n", weft_strerror(rc));
    else
        check(rc, "gather");
    for (int i = 0; i < 4; i++)
        weft_task_release(f[i]);
    check(weft_server_close(srv, WEFT_SEC(1)), "server close");
}

/* ---- 18. tls -------------------------------------------------------------
 * A TLS stream is a weft_stream_t: after weft_tls_connect (a TCP connect
 * plus a handshake that checks the server's certificate and name),
 * read_line and write work as before. A server gets TLS from one field of
 * its options. The tour makes a throw-away certificate with the openssl
 * command, and trusts it as its own CA.
 */

static int make_cert(const char *dir, char *cert, char *key, size_t len)
{
    snprintf(cert, len, "%s/cert.pem", dir);
    snprintf(key, len, "%s/key.pem", dir);
    const char *argv[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                          "-subj", "/CN=localhost", "-days", "1", "-addext",
                          "subjectAltName=DNS:localhost,IP:127.0.0.1", NULL};
    weft_proc_opts_t o = {.in = WEFT_STDIO_DEVNULL, .out = WEFT_STDIO_DEVNULL,
                          .err = WEFT_STDIO_DEVNULL};
    weft_proc_t *p;
    int code = -1, rc = weft_proc_spawn(&p, argv, &o);
    if (rc == 0) {
        rc = weft_proc_wait(p, &code);
        weft_proc_destroy(p);
    }
    return rc ? rc : code == 0 ? 0 : -EIO;
}

static void tour_tls(void)
{
    section("18. tls: weft_tls_ctx_create, weft_tls_connect, weft_server_opts_t.tls");
    char dir[] = "/tmp/weft-tour-XXXXXX", cert[64], key[64];
    if (!mkdtemp(dir) || make_cert(dir, cert, key, sizeof cert) < 0) {
        printf("  (no openssl command here to make a certificate: skipped)\n");
        rmdir(dir);
        return;
    }
    weft_tls_ctx_t *server_tls, *client_tls, *strict;
    weft_tls_opts_t so = {.server = true, .cert_file = cert, .key_file = key, .alpn = "echo"};
    weft_tls_opts_t co = {.ca_file = cert, .alpn = "echo"};
    int rc = weft_tls_ctx_create(&server_tls, &so);
    if (rc == -ENOTSUP) {
        printf("  (weft was built without OpenSSL: skipped)\n");
        goto out;
    }
    check(rc, "server TLS context");
    check(weft_tls_ctx_create(&client_tls, &co), "client TLS context");

    char port[8];
    weft_server_t *srv;
    weft_server_opts_t opts = {.tls = server_tls}; /* the one change from section 16 */
    snprintf(port, sizeof port, "%d", serve_local(&srv, echo_handler, &opts));

    weft_stream_t *s;
    check(weft_tls_connect(&s, "127.0.0.1", port, client_tls, NULL), "tls connect");
    printf("  weft_tls_connect -> 0: %s, ALPN \"%s\"\n", weft_tls_version(s), weft_tls_alpn(s));
    weft_stream_write(s, "hello over TLS\n", 15);
    const char *line;
    ssize_t n = weft_stream_read_line(s, &line);
    if (n > 0)
        printf("  weft_stream_read_line: the server echoed: %.*s", (int)n, line);
    weft_stream_close(s); /* sends close_notify */

    /* the system's CAs never signed this certificate: refused, with a reason */
    check(weft_tls_ctx_create(&strict, NULL), "strict TLS context");
    rc = weft_tls_connect(&s, "127.0.0.1", port, strict, NULL);
    expect("weft_tls_connect trusting only the system's CAs", rc, -WEFT_ECERT,
           "no system CA signed this certificate");
    printf("    weft_tls_last_error: %s\n", weft_tls_last_error());
    check(weft_server_close(srv, WEFT_SEC(1)), "server close");
    weft_tls_ctx_release(strict);
    weft_tls_ctx_release(client_tls);
    weft_tls_ctx_release(server_tls);
out:
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

/* ---- 19. a C library's own fd ---------------------------------------------
 * Libraries such as libcurl (its multi-socket interface), libpq or c-ares
 * own their sockets and never block: they answer "call me again when this
 * fd is readable (or writable)". weft_fd_wait is that wait, so a task
 * drives such a library as if it were blocking code, and other tasks run
 * meanwhile. examples/curl_fetch.c does it for real with libcurl. The
 * fd's owner calls weft_fd_forget(fd) before it closes it.
 */

/* A stand-in for such a library: reads one line from its own
 * non-blocking fd; -EAGAIN means "wait until fd is *want, then call again". */
typedef struct minilib {
    int fd;
    char buf[64];
    size_t len;
} minilib_t;

static int minilib_readline(minilib_t *m, int *want)
{
    ssize_t n = read(m->fd, m->buf + m->len, sizeof m->buf - 1 - m->len);
    if (n > 0) {
        m->len += (size_t)n;
        m->buf[m->len] = 0;
        if (strchr(m->buf, '\n') || m->len == sizeof m->buf - 1)
            return 0;
    } else if (n == 0) {
        return -EPIPE;
    } else if (errno != EAGAIN) {
        return -errno;
    }
    *want = WEFT_READABLE;
    return -EAGAIN;
}

static int trickle(void *arg, void **result)
{
    (void)result;
    int fd = (int)INT(arg);
    const char *parts[] = {"hel", "lo, li", "brary\n"};
    for (int i = 0; i < 3; i++) {
        int rc = weft_sleep(WEFT_MSEC(3));
        if (rc < 0)
            return rc;
        if (write(fd, parts[i], strlen(parts[i])) < 0)
            return -errno;
    }
    return 0;
}

static void tour_foreign_fd(void)
{
    section("19. a C library's fd: weft_fd_wait, weft_fd_forget");
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0 ? -errno : 0, "socketpair");
    minilib_t lib = {.fd = sv[0]};
    weft_task_t *t;
    check(weft_spawn(&t, trickle, VAL(sv[1]), NULL), "spawn");
    int want, rc, waits = 0;
    while ((rc = minilib_readline(&lib, &want)) == -EAGAIN) {
        /* only this task waits; the trickle task runs meanwhile */
        check(weft_fd_wait(lib.fd, want, WEFT_SEC(5)), "fd wait");
        waits++;
    }
    check(rc, "minilib");
    printf("  the library read \"%.*s\" after %d weft_fd_wait calls on its fd\n",
           (int)strcspn(lib.buf, "\n"), lib.buf, waits);
    check(weft_await(t, NULL), "await");
    weft_task_release(t);
    weft_fd_forget(sv[0]); /* before closing an fd weft waited on */
    close(sv[0]);
    close(sv[1]);
}

/* ---- 20. task-local values ------------------------------------------------
 * A key names a value each task has its own of (contextvars). A task
 * spawned by another starts with its parent's values; what either sets
 * afterwards stays its own. Good for a request id that every log line
 * of a request's tasks should carry.
 */

static weft_local_key_t request_id;

static void log_line(const char *msg)
{
    void *id = NULL;
    if (weft_local_get(&request_id, &id) == 0)
        printf("  [request %d] %s\n", (int)INT(id), msg);
    else
        printf("  [no request] %s\n", msg);
}

static int lookup_part(void *arg, void **result)
{
    (void)result;
    check(weft_sleep(WEFT_MSEC(1)), "sleep");
    log_line(arg); /* the id its parent had when it spawned it */
    return 0;
}

static int handle_request(void *arg, void **result)
{
    (void)result;
    check(weft_local_set(&request_id, arg), "local set");
    weft_group_t *g;
    check(weft_group_create(&g), "group");
    check(weft_group_spawn(g, NULL, lookup_part, "looking up the user", NULL), "spawn");
    check(weft_group_spawn(g, NULL, lookup_part, "reading the cart", NULL), "spawn");
    check(weft_group_wait(g), "group wait");
    weft_group_destroy(g);
    log_line("done");
    return 0;
}

static void tour_locals(void)
{
    section("20. task-local values: weft_local_key_create, weft_local_set, weft_local_get");
    check(weft_local_key_create(&request_id, NULL), "key"); /* once, for the program */
    weft_task_t *a, *b;
    check(weft_spawn(&a, handle_request, VAL(1), NULL), "spawn");
    check(weft_spawn(&b, handle_request, VAL(2), NULL), "spawn");
    check(weft_await(a, NULL), "await");
    check(weft_await(b, NULL), "await");
    weft_task_release(a);
    weft_task_release(b);
    log_line("main set no id of its own");
}

/* ---- 21. files ------------------------------------------------------------
 * A read or write of a regular file cannot wait in epoll: the kernel
 * always calls a file ready. weft_file_* hand each operation to the
 * thread pool and suspend only the calling task. A cancelled task is
 * never left guessing: a negative return means the operation did not
 * happen; bytes returned mean it did, and the cancellation shows at the
 * next suspending call.
 */

static void tour_files(void)
{
    section("21. files: weft_file_open, weft_file_write, weft_file_pread, weft_file_close");
    char path[] = "/tmp/weft_tour_XXXXXX";
    int fd = mkstemp(path);
    check(fd < 0 ? -errno : 0, "mkstemp");
    close(fd);
    weft_file_t *f;
    check(weft_file_open(&f, path, O_RDWR | O_TRUNC, 0), "open");
    const char text[] = "one line\nanother line\n";
    ssize_t n = weft_file_write(f, text, sizeof text - 1);
    check((int)n, "write");
    check(weft_file_sync(f, false), "fsync");
    char buf[64] = {0};
    ssize_t got = weft_file_pread(f, buf, sizeof buf - 1, 9); /* from the second line */
    check((int)got, "pread");
    printf("  weft_file_write -> %zd bytes, weft_file_pread -> %zd from offset 9: %s", n, got, buf);
    check(weft_file_close(f), "close");
    unlink(path);
}

static int tour_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    tour_tasks();
    tour_gather();
    tour_timeouts();
    tour_cancel();
    tour_groups();
    tour_tree();
    tour_queues();
    tour_locks();
    tour_select();
    tour_processes();
    tour_echo();
    tour_fetch();
    tour_tls();
    tour_foreign_fd();
    tour_locals();
    tour_files();
    return 0;
}

int main(void)
{
    printf("weft %s: a tour\n", weft_version());
    tour_coroutines();
    tour_generators();
    tour_send();
    tour_close();
    tour_yield_from();

    section("before the loop: a call that needs a task");
    expect("weft_sleep outside any task", weft_sleep(WEFT_MSEC(1)), -WEFT_ENOTASK,
           "suspending calls run inside weft_run");
    printf("  weft_strerror says: %s\n", weft_strerror(-WEFT_ENOTASK));

    check(weft_run(tour_main, NULL, NULL), "weft_run");
    printf("\nend of the tour\n");
    return 0;
}
