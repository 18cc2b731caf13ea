/* A program outside the project, built against an installed weft the ways
 * the README shows (pkg-config weft / weft-static / --static, CMake's
 * find_package), as strict ISO C11 (-std=c11 -pedantic-errors). It runs
 * a loop with two tasks passing a value, so the linked library really
 * works, and prints "weft VERSION: ok" (run.sh checks the line). */
#include <stdint.h>
#include <stdio.h>

#include <weft.h>

static int doubler(void *arg, void **result)
{
    int rc = weft_sleep(WEFT_MSEC(1));
    if (rc < 0)
        return rc;
    *result = (void *)((intptr_t)arg * 2);
    return 0;
}

static int main_task(void *arg, void **result)
{
    weft_task_t *t;
    int rc = weft_spawn(&t, doubler, arg, NULL);
    if (rc < 0)
        return rc;
    rc = weft_await(t, result);
    weft_task_release(t);
    return rc;
}

int main(void)
{
    void *out = NULL;
    int rc = weft_run(main_task, (void *)(intptr_t)21, &out);
    if (rc < 0 || (intptr_t)out != 42) {
        fprintf(stderr, "consumer: weft_run returned %d (%s), result %ld\n", rc,
                weft_strerror(rc), (long)(intptr_t)out);
        return 1;
    }
    printf("weft %s: ok\n", weft_version());
    return 0;
}
