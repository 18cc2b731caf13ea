/* test_misuse.c - weft's own misuse codes, as a catalogue: each lies
 * beyond errno's range, each has weft_strerror text that says what
 * happened and, after a colon, what to do, and each comes back where
 * weft.h says: -WEFT_ENOTASK from a callback or plain main(),
 * -WEFT_ENOLOOP outside weft_run and from a pool thread while it runs,
 * -WEFT_ENOTOWNER for a lock or condition whose lock the caller does
 * not hold, -WEFT_EGROUPLIVE for a group destroyed before its wait,
 * -WEFT_ETHREAD for a coroutine resumed on a thread it did not start on,
 * -WEFT_ENOTCORO for a yield outside a coroutine's or generator's body.
 * The other suites check the same codes call by call.
 *
 * Covers: src/error.c and the misuse checks of src/task.c, src/loop.c,
 * src/sync.c, src/group.c, src/coro.c and src/gen.c.
 */
#include "harness.h"

#include <pthread.h>
#include <string.h>

static const struct {
    int code;
    const char *text;
} misuse[] = {
    {WEFT_ENOTASK, "not called from a task: call it from a task's function (weft_run's main, or "
                   "one started with weft_spawn)"},
    {WEFT_ENOLOOP, "no weft loop runs on this thread: call it inside weft_run"},
    {WEFT_EGROUPLIVE,
     "the group still has running children: call weft_group_wait before weft_group_destroy"},
    {WEFT_ETHREAD,
     "started on another thread: a coroutine is resumed only on the thread it first ran on"},
    {WEFT_ENOTOWNER, "the calling task does not hold this lock: acquire it first (only its holder "
                     "may release it, or wait on or notify a condition over it)"},
    {WEFT_ENOTCORO,
     "not called from a coroutine: weft_coro_yield works only in the function of a "
     "coroutine (weft_coro_create), weft_gen_yield in a generator's (weft_gen_create)"},
    {WEFT_EGROUPDONE, "the task group's wait has returned, so it takes no more children: spawn "
                      "them into a new group (weft_group_create)"},
};
#define N_MISUSE (sizeof misuse / sizeof misuse[0])

/* ---- the codes and their text ---- */

static void test_strerror_gives_each_misuse_code_its_text_of_either_sign(void **state)
{
    for (size_t i = 0; i < N_MISUSE; i++) {
        assert_string_equal(weft_strerror(-misuse[i].code), misuse[i].text);
        assert_string_equal(weft_strerror(misuse[i].code), misuse[i].text);
        /* what happened, then what to do */
        assert_non_null(strstr(misuse[i].text, ": "));
    }
}

static void test_misuse_codes_are_distinct_and_beyond_errno(void **state)
{
    const int outcomes[] = {WEFT_EINCOMPLETE, WEFT_ENOTFOUND, WEFT_ECERT};
    for (size_t i = 0; i < N_MISUSE; i++) {
        /* libc has no text of its own for them */
        assert_true(misuse[i].code >= 1000);
        assert_null(strerrordesc_np(misuse[i].code));
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(misuse[i].code, misuse[j].code);
        for (size_t j = 0; j < sizeof outcomes / sizeof outcomes[0]; j++)
            assert_int_not_equal(misuse[i].code, outcomes[j]);
    }
    /* numbered as documented, so programs built against weft.h agree */
    assert_int_equal(WEFT_ENOTASK, 1003);
    assert_int_equal(WEFT_ENOLOOP, 1004);
    assert_int_equal(WEFT_EGROUPLIVE, 1005);
    assert_int_equal(WEFT_ETHREAD, 1006);
    assert_int_equal(WEFT_ENOTOWNER, 1007);
    assert_int_equal(WEFT_ENOTCORO, 1008);
    assert_int_equal(WEFT_EGROUPDONE, 1009);
}

/* ---- outside a task, outside a loop ---- */

/* Tries to spawn a task from wherever it runs: its status is the result. */
static int spawn_job(void *arg, void **result)
{
    (void)arg;
    *result = P(weft_spawn(NULL, spawn_job, NULL, NULL));
    return 0;
}

static void test_plain_main_gets_enoloop_for_loop_calls_and_enotask_for_waits(void **state)
{
    weft_lock_t *l;
    assert_int_equal(weft_spawn(NULL, spawn_job, NULL, NULL), -WEFT_ENOLOOP);
    assert_int_equal(weft_lock_create(&l), -WEFT_ENOLOOP);
    assert_int_equal(weft_worker_count(), -WEFT_ENOLOOP);
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), -WEFT_ENOTASK);
    assert_int_equal(weft_uncancel(), -WEFT_ENOTASK);
}

typedef struct cb {
    weft_lock_t *l;
    int acquire, release, sleep;
} cb_t;

static void in_callback(void *arg)
{
    cb_t *c = arg;
    c->acquire = weft_lock_acquire(c->l);
    c->release = weft_lock_release(c->l);
    c->sleep = weft_sleep(0);
}

static int outside_main(void *arg, void **res)
{
    (void)arg, (void)res;
    /* a callback runs on the loop, not in a task */
    cb_t c = {.acquire = 1, .release = 1, .sleep = 1};
    assert_int_equal(weft_lock_create(&c.l), 0);
    assert_int_equal(weft_call_soon(NULL, in_callback, &c), 0);
    settle();
    assert_int_equal(c.acquire, -WEFT_ENOTASK);
    assert_int_equal(c.release, -WEFT_ENOTASK);
    assert_int_equal(c.sleep, -WEFT_ENOTASK);
    assert_false(weft_lock_locked(c.l));
    assert_int_equal(weft_lock_destroy(c.l), 0);
    /* a pool thread is a plain thread: no loop there, while weft_run runs */
    void *out = NULL;
    assert_int_equal(weft_to_thread(spawn_job, NULL, &out, NULL), 0);
    assert_int_equal(I(out), -WEFT_ENOLOOP);
    return 0;
}

static void test_callback_gets_enotask_and_pool_thread_enoloop(void **state)
{
    run(outside_main, NULL);
}

/* ---- locks and conditions ---- */

static int hold_lock(void *arg, void **res)
{
    (void)res;
    weft_lock_t *l = arg;
    assert_int_equal(weft_lock_acquire(l), 0);
    weft_sleep(WEFT_SEC(10)); /* until cancelled */
    return weft_lock_release(l);
}

static int owner_main(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_lock_t *l;
    weft_cond_t *c;
    assert_int_equal(weft_lock_create(&l), 0);
    assert_int_equal(weft_cond_create(&c, l), 0);
    /* nobody holds it */
    assert_int_equal(weft_lock_release(l), -WEFT_ENOTOWNER);
    assert_int_equal(weft_cond_wait(c), -WEFT_ENOTOWNER);
    assert_int_equal(weft_cond_notify(c, 1), -WEFT_ENOTOWNER);
    /* another task holds it */
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, hold_lock, l, NULL), 0);
    wait_state(t, WEFT_TASK_WAITING);
    assert_true(weft_lock_locked(l));
    assert_int_equal(weft_lock_release(l), -WEFT_ENOTOWNER);
    assert_int_equal(weft_cond_notify_all(c), -WEFT_ENOTOWNER);
    assert_true(weft_lock_locked(l)); /* still the other task's */
    weft_cancel(t);
    assert_int_equal(weft_await(t, NULL), 0); /* its own release worked */
    weft_task_release(t);
    assert_int_equal(weft_cond_destroy(c), 0);
    assert_int_equal(weft_lock_destroy(l), 0);
    return 0;
}

static void test_releasing_or_using_a_lock_not_held_is_enotowner(void **state)
{
    run(owner_main, NULL);
}

/* ---- groups ---- */

static int nap(void *arg, void **res)
{
    (void)arg, (void)res;
    return weft_sleep(WEFT_MSEC(5));
}

static int group_main(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, nap, NULL, NULL), 0);
    assert_int_equal(weft_group_destroy(g), -WEFT_EGROUPLIVE);
    /* nothing was freed: the group waits as usual */
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_destroyed_before_its_wait_is_egrouplive(void **state)
{
    run(group_main, NULL);
}

/* ---- coroutines ---- */

static void *yield_twice(void *arg)
{
    (void)arg;
    weft_coro_yield(NULL, NULL);
    weft_coro_yield(NULL, NULL);
    return NULL;
}

static void *resume_there(void *arg)
{
    return P(weft_coro_resume(arg, NULL, NULL));
}

static void test_coroutine_resumed_on_another_thread_is_ethread(void **state)
{
    weft_coro_t *co;
    assert_int_equal(weft_coro_create(&co, yield_twice, NULL, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    pthread_t th;
    void *rc = NULL;
    assert_int_equal(pthread_create(&th, NULL, resume_there, co), 0);
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal(I(rc), -WEFT_ETHREAD);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), 0);
    assert_int_equal(weft_coro_destroy(co), 0);
}

static int gen_yield_in_task(void *arg, void **res)
{
    (void)arg, (void)res;
    assert_int_equal(weft_gen_yield(NULL, NULL), -WEFT_ENOTCORO);
    assert_int_equal(weft_coro_yield(NULL, NULL), -WEFT_ENOTCORO);
    return 0;
}

static void test_yield_outside_a_coroutine_is_enotcoro(void **state)
{
    assert_int_equal(weft_coro_yield(NULL, NULL), -WEFT_ENOTCORO);
    assert_int_equal(weft_gen_yield(NULL, NULL), -WEFT_ENOTCORO);
    run(gen_yield_in_task, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_gives_each_misuse_code_its_text_of_either_sign),
        cmocka_unit_test(test_misuse_codes_are_distinct_and_beyond_errno),
        cmocka_unit_test(test_plain_main_gets_enoloop_for_loop_calls_and_enotask_for_waits),
        cmocka_unit_test(test_callback_gets_enotask_and_pool_thread_enoloop),
        cmocka_unit_test(test_releasing_or_using_a_lock_not_held_is_enotowner),
        cmocka_unit_test(test_group_destroyed_before_its_wait_is_egrouplive),
        cmocka_unit_test(test_coroutine_resumed_on_another_thread_is_ethread),
        cmocka_unit_test(test_yield_outside_a_coroutine_is_enotcoro),
    };
    return run_suite(tests, NULL, NULL);
}
