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
 *
 * Nothing here needs an event loop: coroutines and generators are plain
 * objects you drive by hand. Tasks, sleeping, gather, timeouts and task
 * groups, which do need the loop, come in later sections.
 *
 * weft reports errors as negative errno values (weft_strerror() turns one
 * into text); a few calls return the positive WEFT_DONE to say "finished".
 * A tour keeps error handling short: check() stops at the first surprise.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

    printf("  %s: started, now yielding 1\n", who);
    weft_coro_yield(VAL(1), &in);
    printf("  %s: resumed with %ld, now yielding 2\n", who, (long)INT(in));
    weft_coro_yield(VAL(2), &in);
    printf("  %s: resumed with %ld, returning 3\n", who, (long)INT(in));
    return VAL(3);
}

static void tour_coroutines(void)
{
    section("1. coroutines");

    printf("main: calling a subroutine\n");
    subroutine();

    weft_coro_t *co;
    void *out;
    check(weft_coro_create(&co, chatty, "coroutine", NULL), "weft_coro_create");
    printf("main: created a coroutine; nothing has run yet\n");

    int rc = weft_coro_resume(co, NULL, &out);
    check(rc, "weft_coro_resume");
    printf("main: it yielded %ld, and main runs again\n", (long)INT(out));

    rc = weft_coro_resume(co, VAL(10), &out);
    check(rc, "weft_coro_resume");
    printf("main: it yielded %ld\n", (long)INT(out));

    rc = weft_coro_resume(co, VAL(20), &out);
    check(rc, "weft_coro_resume");
    if (rc == WEFT_DONE) /* not a yield: the function returned */
        printf("main: WEFT_DONE: the coroutine has finished and returned %ld\n", (long)INT(out));

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
    section("2. generators");

    intptr_t limit = 100;
    weft_gen_t *fib;
    check(weft_gen_create(&fib, fibonacci, &limit, NULL), "weft_gen_create");

    printf("Fibonacci numbers below %ld:", (long)limit);
    WEFT_GEN_FOREACH(fib, v)
    {
        printf(" %ld", (long)INT(v));
    }
    printf("\n");
    printf("exhausted: %s\n", weft_gen_done(fib) ? "yes" : "no");

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
    section("3. send");

    double avg;
    weft_gen_t *g;
    check(weft_gen_create(&g, running_average, &avg, NULL), "weft_gen_create");
    check(weft_gen_next(g, NULL), "start it"); /* run up to its first yield */

    int numbers[] = {10, 20, 60, 10};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        void *out;
        check(weft_gen_send(g, VAL(numbers[i]), &out), "weft_gen_send");
        printf("sent %2d -> average so far %.2f\n", numbers[i], *(double *)out);
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
        printf("  read_lines: closed early (weft_gen_yield returned -ECANCELED)\n");
    printf("  read_lines: closing the file\n");
    return 0;
}

static void tour_close(void)
{
    section("4. close");

    static const char *const lines[] = {"first line", "second line", "third line", NULL};
    weft_gen_t *g;
    void *line;
    check(weft_gen_create(&g, read_lines, (void *)lines, NULL), "weft_gen_create");

    check(weft_gen_next(g, &line), "weft_gen_next");
    printf("main: got \"%s\"; that is all we need\n", (const char *)line);
    int rc = weft_gen_close(g);
    printf("main: weft_gen_close returned %d (%s)\n", rc, weft_strerror(rc));

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
    section("5. yield from");

    weft_gen_t *g;
    void *v;
    int rc;
    check(weft_gen_create(&g, two_countdowns, NULL, NULL), "weft_gen_create");
    while ((rc = weft_gen_next(g, &v)) == 0)
        printf("main: got %ld\n", (long)INT(v));
    check(rc, "weft_gen_next");
    printf("main: finished; its final value: %ld values in all\n", (long)INT(v));
    weft_gen_destroy(g);
}

int main(void)
{
    printf("weft %s: a tour\n", weft_version());
    tour_coroutines();
    tour_generators();
    tour_send();
    tour_close();
    tour_yield_from();
    printf("\nend of the tour\n");
    return 0;
}
