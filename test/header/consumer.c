/* consumer.c - an application's use of weft.h, built by test/CMakeLists.txt
 * as strict ISO C (-std=c11 and -std=c17 with -pedantic) and as C++
 * (consumer.cpp includes this file): the header must need no feature macro
 * (_GNU_SOURCE, _POSIX_C_SOURCE) and no compiler extension. The program
 * links against libweft and makes a few real calls, so a declaration that
 * compiles but does not match the library shows too.
 *
 * Written in the common subset of C and C++: explicit casts from void *,
 * no designated initializers, no compound literals.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "consumer: %s: %d (%s)\n", what, rc, weft_strerror(rc));
    return 1;
}

static int count_to_three(void *arg, void **result)
{
    (void)arg;
    (void)result;
    for (intptr_t i = 1; i <= 3; i++)
        if (weft_gen_yield((void *)i, NULL) < 0)
            return 0;
    return 0;
}

static int napper(void *arg, void **result)
{
    int rc = weft_sleep(WEFT_MSEC(1));
    if (rc < 0)
        return rc;
    *result = arg;
    return 0;
}

static int main_task(void *arg, void **result)
{
    weft_task_t *t;
    int rc = weft_spawn(&t, napper, arg, NULL);
    if (rc < 0)
        return rc;
    rc = weft_await(t, result);
    weft_task_release(t);
    return rc;
}

int main(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
             WEFT_VERSION_PATCH);
    if (strcmp(weft_version(), want) != 0) {
        fprintf(stderr, "consumer: weft_version() is %s, weft.h says %s\n", weft_version(), want);
        return 1;
    }

    weft_gen_t *g;
    int rc = weft_gen_create(&g, count_to_three, NULL, NULL);
    if (rc < 0)
        return fail("weft_gen_create", rc);
    intptr_t sum = 0;
    WEFT_GEN_FOREACH(g, v) {
        sum += (intptr_t)v;
    }
    weft_gen_destroy(g);
    if (sum != 6) {
        fprintf(stderr, "consumer: the generator summed to %ld, not 6\n", (long)sum);
        return 1;
    }

    weft_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 1;
    static char done[] = "done";
    void *out = NULL;
    rc = weft_run_config(&cfg, main_task, done, &out);
    if (rc < 0 || out != (void *)done)
        return fail("weft_run_config", rc);

    /* the signal set is an array of numbers: strict C has no sigset_t */
    const int stop[] = {SIGINT, SIGTERM};
    rc = weft_signal_wait(stop, sizeof stop / sizeof stop[0], NULL);
    if (rc != -WEFT_ENOTASK) /* outside a task */
        return fail("weft_signal_wait outside a task", rc);

#ifdef __cplusplus
    printf("consumer: ok (C++ %ld)\n", (long)__cplusplus);
#else
    printf("consumer: ok (C %ld)\n", (long)__STDC_VERSION__);
#endif
    return 0;
}
