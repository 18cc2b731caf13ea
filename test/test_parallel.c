/* test_parallel.c - examples/parallel: commands run at most N at a time,
 * each output line prefixed with the command's number and name, a last
 * line without a newline kept, a summary of exit statuses, and exit
 * status 1 when a command failed (0 when none did, 2 on bad usage).
 *
 * Covers: examples/parallel.c.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs `parallel ARGS` through the shell; returns its exit status and
 * its whole stdout in out. */
static int run_parallel(const char *args, char *out, size_t cap)
{
    assert_true(strlen(args) < 4096);
    const char *path = example_path("parallel");
    if (access(path, X_OK) != 0)
        skip(); /* built without the examples */
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "%s %s", path, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_outputs_are_prefixed_and_summarised(void **state)
{
    (void)state;
    char out[4096];
    int rc =
        run_parallel("-j 2 'echo one; echo more' 'sleep 0.05; echo two' 'exit 3' 'printf partial'",
                     out, sizeof out);
    assert_int_equal(rc, 1); /* one command failed */
    assert_non_null(strstr(out, "[1 echo] one\n"));
    assert_non_null(strstr(out, "[1 echo] more\n"));
    assert_non_null(strstr(out, "[2 sleep] two\n"));
    assert_non_null(strstr(out, "[4 printf] partial\n"));
    const char *sum = strstr(out, "--\n");
    assert_non_null(sum);
    assert_non_null(strstr(sum, "[1 echo] exit 0\n"));
    assert_non_null(strstr(sum, "[2 sleep] exit 0\n"));
    assert_non_null(strstr(sum, "[3 exit] exit 3\n"));
    assert_non_null(strstr(sum, "[4 printf] exit 0\n"));
    /* lines of one command keep their order */
    assert_true(strstr(out, "[1 echo] one") < strstr(out, "[1 echo] more"));
}

static void test_at_most_n_run_at_once(void **state)
{
    (void)state;
    char out[4096];
    /* each command holds a lock file for a while and reports whether
     * another held one too: with -j 1 none ever overlaps */
    char dir[] = "/tmp/weft-parallel-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[4096];
    const char *body = "if mkdir %s/busy 2>/dev/null; then sleep 0.02; rmdir %s/busy; echo alone; "
                       "else echo overlap; fi";
    char one[512];
    snprintf(one, sizeof one, body, dir, dir);
    snprintf(args, sizeof args, "-j 1 '%s' '%s' '%s' '%s'", one, one, one, one);
    assert_int_equal(run_parallel(args, out, sizeof out), 0);
    assert_null(strstr(out, "overlap"));
    int alone = 0;
    for (const char *p = out; (p = strstr(p, "] alone")); p++)
        alone++;
    assert_int_equal(alone, 4);
    rmdir(dir);
}

static void test_exit_status_is_0_when_every_command_succeeds(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(run_parallel("true 'echo x'", out, sizeof out), 0);
    assert_non_null(strstr(out, "[2 echo] x\n"));
}

static void test_bad_usage_exits_2(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(run_parallel("2>/dev/null", out, sizeof out), 2);
    assert_int_equal(run_parallel("-j 0 true 2>/dev/null", out, sizeof out), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_are_prefixed_and_summarised),
        cmocka_unit_test(test_at_most_n_run_at_once),
        cmocka_unit_test(test_exit_status_is_0_when_every_command_succeeds),
        cmocka_unit_test(test_bad_usage_exits_2),
    };
    return run_suite(tests, NULL, NULL);
}
