/* test_local.c - task-local values: get and set in one task; a child
 * sees its parent's values as they were at the spawn, through nested
 * spawns and task groups; the child's writes never reach the parent and
 * the parent's later writes never reach the child; removing with NULL;
 * setting the same value again is a no-op; a coroutine a task resumes
 * sees the task's values; a task spawned from a callback starts empty;
 * each value's destructor runs exactly once, when the last task holding
 * it lets go (a replace in the last holder, the last holder finishing,
 * a never-started cancelled child, the loop closing); spawning allocates
 * no map; a thousand keys; bad arguments; children placed on any of four
 * workers share a value, each sets its own, and every value is destroyed
 * exactly once.
 *
 * Covers: src/local.c.
 */
#include "harness.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

static weft_local_key_t k1, k2, kd;

/* Values with a destructor: a counted object. */
typedef struct obj {
    int id;
    int *destroyed; /* counts destructor calls, per object */
} obj_t;

static int dtor_calls;

static void obj_dtor(void *v)
{
    obj_t *o = v;
    (*o->destroyed)++;
    dtor_calls++;
}

static int setup(void **state)
{
    assert_int_equal(weft_local_key_create(&k1, NULL), 0);
    assert_int_equal(weft_local_key_create(&k2, NULL), 0);
    assert_int_equal(weft_local_key_create(&kd, obj_dtor), 0);
    assert_true(k1.id != 0 && k2.id != 0 && k1.id != k2.id);
    return 0;
}

static void *get(const weft_local_key_t *k)
{
    void *v = P(-1);
    int rc = weft_local_get(k, &v);
    assert_true(rc == 0 || rc == -ENOENT);
    if (rc == -ENOENT)
        assert_null(v);
    return v;
}

/* ---- basics ---- */

static int basic_main(void *arg, void **res)
{
    void *v;
    assert_int_equal(weft_local_get(&k1, &v), -ENOENT);
    assert_null(v);
    assert_int_equal(weft_local_set(&k1, P(11)), 0);
    assert_int_equal(weft_local_set(&k2, P(22)), 0);
    assert_int_equal(weft_local_get(&k1, &v), 0);
    assert_int_equal(I(v), 11);
    assert_int_equal(weft_local_get(&k2, NULL), 0);
    assert_int_equal(I(get(&k2)), 22);
    assert_int_equal(weft_local_set(&k1, P(12)), 0);
    assert_int_equal(I(get(&k1)), 12);
    /* NULL removes */
    assert_int_equal(weft_local_set(&k1, NULL), 0);
    assert_int_equal(weft_local_get(&k1, NULL), -ENOENT);
    assert_int_equal(weft_local_set(&k1, NULL), 0); /* removing nothing */
    assert_int_equal(I(get(&k2)), 22);
    return 0;
}

static void test_local_get_returns_what_set_stored_and_null_removes(void **state)
{
    run(basic_main, NULL);
}

/* ---- inheritance through nested spawns ---- */

typedef struct {
    int depth;
    int seen[8][2]; /* what each level saw of k1, k2 at its start */
} nest_t;

static int nested(void *arg, void **res)
{
    nest_t *n = arg;
    int d = n->depth++;
    n->seen[d][0] = I(get(&k1));
    n->seen[d][1] = I(get(&k2));
    /* each level changes k1 before spawning the next */
    assert_int_equal(weft_local_set(&k1, P(100 + d)), 0);
    if (d < 5) {
        weft_task_t *t;
        assert_int_equal(weft_spawn(&t, nested, n, NULL), 0);
        /* changed after the spawn: the child must not see it */
        assert_int_equal(weft_local_set(&k2, P(900 + d)), 0);
        assert_int_equal(weft_await(t, NULL), 0);
        weft_task_release(t);
        /* what the child set is not ours */
        assert_int_equal(I(get(&k1)), 100 + d);
        assert_int_equal(I(get(&k2)), 900 + d);
    }
    return 0;
}

static int nest_main(void *arg, void **res)
{
    nest_t *n = arg;
    assert_int_equal(weft_local_set(&k1, P(1)), 0);
    assert_int_equal(weft_local_set(&k2, P(2)), 0);
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, nested, n, NULL), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(I(get(&k1)), 1);
    assert_int_equal(I(get(&k2)), 2);
    return 0;
}

static void test_local_child_sees_values_as_at_its_spawn_through_nesting(void **state)
{
    nest_t n = {0};
    run(nest_main, &n);
    assert_int_equal(n.depth, 6);
    /* level 0 sees main's values; level d > 0 sees k1 as its parent set
     * it before the spawn, and k2 as it was before the parent changed it
     * (all the way up: nobody's k2 change came before a spawn) */
    assert_int_equal(n.seen[0][0], 1);
    assert_int_equal(n.seen[0][1], 2);
    for (int d = 1; d < 6; d++) {
        assert_int_equal(n.seen[d][0], 100 + d - 1);
        assert_int_equal(n.seen[d][1], 2);
    }
}

/* ---- groups ---- */

static int group_child(void *arg, void **res)
{
    int *seen = arg;
    *seen = I(get(&k1));
    assert_int_equal(weft_local_set(&k1, P(*seen + 1000)), 0);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(I(get(&k1)), *seen + 1000);
    return 0;
}

static int group_main(void *arg, void **res)
{
    enum { N = 10 };
    int seen[N];
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(weft_local_set(&k1, P(i)), 0);
        assert_int_equal(weft_group_spawn(g, NULL, group_child, &seen[i], NULL), 0);
    }
    assert_int_equal(weft_local_set(&k1, P(-5)), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], i);
    assert_int_equal(I(get(&k1)), -5);
    return 0;
}

static void test_local_group_children_see_values_as_at_their_spawn(void **state)
{
    run(group_main, NULL);
}

/* ---- destructors ---- */

static int hold_and_check(void *arg, void **res)
{
    obj_t *o = arg;
    assert_ptr_equal(get(&kd), o);
    assert_int_equal(weft_sleep(WEFT_MSEC(2)), 0);
    assert_ptr_equal(get(&kd), o); /* still ours, whatever the parent did */
    assert_int_equal(*o->destroyed, 0);
    return 0;
}

static int replace_in_child(void *arg, void **res)
{
    obj_t *mine = arg;
    assert_int_equal(weft_local_set(&kd, mine), 0);
    return 0;
}

static int dtor_main(void *arg, void **res)
{
    int da = 0, db = 0, dc = 0, dd = 0;
    static int de; /* e outlives main's stack: its destructor runs after */
    static obj_t e;
    de = 0;
    e = (obj_t){5, &de};
    obj_t a = {1, &da}, b = {2, &db}, c = {3, &dc}, d = {4, &dd};

    /* replaced in its only holder: destroyed at once */
    assert_int_equal(weft_local_set(&kd, &a), 0);
    assert_int_equal(weft_local_set(&kd, &a), 0); /* same value: no-op */
    assert_int_equal(da, 0);
    assert_int_equal(weft_local_set(&kd, &b), 0);
    assert_int_equal(da, 1);

    /* shared with a child: the parent's replace does not destroy it; the
     * child's end does */
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, hold_and_check, &b, HERE), 0); /* its 2 ms nap is this loop's */
    assert_int_equal(weft_yield(), 0); /* the child has started */
    assert_int_equal(weft_local_set(&kd, &c), 0);
    assert_int_equal(db, 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(db, 1);

    /* a child's own value dies with the child; ours (c) lives on */
    assert_int_equal(weft_spawn(&t, replace_in_child, &d, NULL), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(dd, 1);
    assert_int_equal(dc, 0);

    /* a child cancelled before it ran lets go too (pinned here, so that no
     * other worker starts it first) */
    assert_int_equal(weft_spawn(&t, hold_and_check, &c, HERE), 0);
    weft_cancel(t);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    weft_task_release(t);
    assert_int_equal(dc, 0); /* we still hold c */

    /* removed: destroyed */
    assert_int_equal(weft_local_set(&kd, NULL), 0);
    assert_int_equal(dc, 1);

    /* e: held by main when it returns: destroyed as the loop closes */
    assert_int_equal(weft_local_set(&kd, &e), 0);
    assert_int_equal(da + db + dc + dd, 4);
    assert_int_equal(de, 0);
    return 0;
}

static void test_local_destructor_runs_once_when_the_last_holder_lets_go(void **state)
{
    dtor_calls = 0;
    run(dtor_main, NULL);
    /* a, b, c, d during the run; e when main finished */
    assert_int_equal(dtor_calls, 5);
}

/* Many tasks share one value; it is destroyed once, by the last. */
static int sharer(void *arg, void **res)
{
    int n = I(arg);
    for (int i = 0; i < n; i++)
        assert_int_equal(weft_yield(), 0);
    assert_non_null(get(&kd));
    return 0;
}

static int share_main(void *arg, void **res)
{
    int *destroyed = arg;
    static obj_t o;
    o = (obj_t){7, destroyed};
    assert_int_equal(weft_local_set(&kd, &o), 0);
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(weft_group_spawn(g, NULL, sharer, P(i % 7), NULL), 0);
    /* let go of it ourselves: the children still hold it */
    assert_int_equal(weft_local_set(&kd, NULL), 0);
    assert_int_equal(*destroyed, 0);
    assert_int_equal(weft_group_wait(g), 0);
    weft_group_destroy(g);
    assert_int_equal(*destroyed, 1);
    return 0;
}

static void test_local_value_shared_by_many_tasks_is_destroyed_once(void **state)
{
    int destroyed = 0;
    run(share_main, &destroyed);
    assert_int_equal(destroyed, 1);
}

/* ---- spawning allocates nothing: the child shares the map ---- */

static int peek_child(void *arg, void **res)
{
    *(void **)arg = weft_current()->locals;
    return 0;
}

static int share_map_main(void *arg, void **res)
{
    assert_int_equal(weft_local_set(&k1, P(5)), 0);
    void *child_map = NULL;
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, peek_child, &child_map, NULL), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_ptr_equal(child_map, weft_current()->locals);
    return 0;
}

static void test_local_spawn_shares_the_parents_map_without_copying(void **state)
{
    run(share_map_main, NULL);
}

/* ---- coroutines, callbacks ---- */

static void *coro_body(void *arg)
{
    *(int *)arg = I(get(&k1));
    weft_local_set(&k2, P(77));
    return NULL;
}

static int cb_child(void *arg, void **res)
{
    atomic_store((atomic_int *)arg, weft_local_get(&k1, NULL));
    return 0;
}

static void cb_spawn(void *arg)
{
    weft_spawn(NULL, cb_child, arg, NULL);
}

static int coro_main(void *arg, void **res)
{
    assert_int_equal(weft_local_set(&k1, P(31)), 0);
    int seen = 0;
    weft_coro_t *co;
    assert_int_equal(weft_coro_create(&co, coro_body, &seen, NULL), 0);
    assert_int_equal(weft_coro_resume(co, NULL, NULL), WEFT_DONE);
    weft_coro_destroy(co);
    assert_int_equal(seen, 31);
    assert_int_equal(I(get(&k2)), 77); /* the coroutine set the task's */
    return 0;
}

static void test_local_coroutine_sees_and_sets_the_values_of_its_task(void **state)
{
    run(coro_main, NULL);
}

static int callback_main(void *arg, void **res)
{
    assert_int_equal(weft_local_set(&k1, P(31)), 0);
    /* from a callback: no task, no values. The child may run on another
     * worker (WEFT_SPREAD=1), which may be slow to wake: wait for what it
     * stores, not for a number of turns */
    static atomic_int rc;
    atomic_store(&rc, 99);
    assert_int_equal(weft_call_soon(NULL, cb_spawn, &rc), 0);
    int64_t end = weft_now() + WEFT_SEC(30);
    while (atomic_load(&rc) == 99) {
        assert_true(weft_now() < end);
        assert_int_equal(weft_yield(), 0);
    }
    assert_int_equal(atomic_load(&rc), -ENOENT);
    return 0;
}

static void test_local_task_spawned_from_a_callback_starts_empty(void **state)
{
    run(callback_main, NULL);
}

/* ---- many keys ---- */

enum { NKEYS = 1000 };
static weft_local_key_t many[NKEYS];

static int many_child(void *arg, void **res)
{
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(I(get(&many[i])), i + 1);
    /* rewrite every other one: the parent keeps its own */
    for (int i = 0; i < NKEYS; i += 2)
        assert_int_equal(weft_local_set(&many[i], P(-i - 1)), 0);
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(I(get(&many[i])), i % 2 ? i + 1 : -i - 1);
    return 0;
}

static int many_main(void *arg, void **res)
{
    /* set in a scrambled order: lookups must not depend on it */
    for (int k = 0; k < NKEYS; k++) {
        int i = (k * 379) % NKEYS;
        assert_int_equal(weft_local_set(&many[i], P(i + 1)), 0);
    }
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, many_child, NULL, NULL), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(I(get(&many[i])), i + 1);
    for (int i = 0; i < NKEYS; i += 3)
        assert_int_equal(weft_local_set(&many[i], NULL), 0);
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(I(get(&many[i])), i % 3 ? i + 1 : 0);
    return 0;
}

static void test_local_thousand_keys_inherit_and_change_independently(void **state)
{
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(weft_local_key_create(&many[i], NULL), 0);
    run(many_main, NULL);
}

/* ---- bad arguments ---- */

static int bad_main(void *arg, void **res)
{
    weft_local_key_t never = {0};
    void *v = P(1);
    assert_int_equal(weft_local_set(NULL, P(1)), -EINVAL);
    assert_int_equal(weft_local_set(&never, P(1)), -EINVAL);
    assert_int_equal(weft_local_get(NULL, &v), -EINVAL);
    assert_null(v);
    assert_int_equal(weft_local_get(&never, NULL), -EINVAL);
    return 0;
}

static void test_local_null_or_uncreated_keys_are_einval(void **state)
{
    assert_int_equal(weft_local_key_create(NULL, NULL), -EINVAL);
    run(bad_main, NULL);
}

static void test_local_get_and_set_outside_a_task_are_enotask(void **state)
{
    /* outside a task */
    void *v = P(1);
    assert_int_equal(weft_local_set(&k1, P(1)), -WEFT_ENOTASK);
    assert_int_equal(weft_local_get(&k1, &v), -WEFT_ENOTASK);
    assert_null(v);
}

/* ---- across workers: children anywhere share, copy and let go ---- */

static atomic_int xw_destroyed;

static void xw_dtor(void *v)
{
    atomic_fetch_add(&xw_destroyed, 1);
    free(v);
}

static weft_local_key_t kx;

static int xw_child(void *arg, void **res)
{
    void *v = NULL;
    if (weft_local_get(&kx, &v) != 0 || *(int *)v != 4242)
        return -EILSEQ;
    int *own = malloc(sizeof *own);
    *own = I(arg);
    if (weft_local_set(&kx, own) != 0) /* copies the shared map */
        return -ENOMEM;
    for (int i = 0; i < 3; i++)
        if (weft_yield() < 0)
            return -ECANCELED;
    if (weft_local_get(&kx, &v) != 0 || v != own)
        return -EILSEQ;
    return 0;
}

static int xw_main(void *arg, void **res)
{
    enum { N = 64 };
    int *shared = malloc(sizeof *shared);
    *shared = 4242;
    assert_int_equal(weft_local_set(&kx, shared), 0);
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    weft_task_opts_t o = {.place = WEFT_PLACE_ANY};
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_group_spawn(g, NULL, xw_child, P(i), &o), 0);
    assert_int_equal(weft_local_set(&kx, NULL), 0); /* the children still hold it */
    assert_int_equal(weft_group_wait(g), 0);
    weft_group_destroy(g);
    return 0;
}

static void test_local_children_on_four_workers_share_copy_and_destroy_once(void **state)
{
    assert_int_equal(weft_local_key_create(&kx, xw_dtor), 0);
    atomic_store(&xw_destroyed, 0);
    weft_config_t cfg = {.workers = 4};
    run_config(&cfg, xw_main, NULL);
    /* the shared value once, and each child's own */
    assert_int_equal(atomic_load(&xw_destroyed), 1 + 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_get_returns_what_set_stored_and_null_removes),
        cmocka_unit_test(test_local_child_sees_values_as_at_its_spawn_through_nesting),
        cmocka_unit_test(test_local_group_children_see_values_as_at_their_spawn),
        cmocka_unit_test(test_local_destructor_runs_once_when_the_last_holder_lets_go),
        cmocka_unit_test(test_local_value_shared_by_many_tasks_is_destroyed_once),
        cmocka_unit_test(test_local_spawn_shares_the_parents_map_without_copying),
        cmocka_unit_test(test_local_coroutine_sees_and_sets_the_values_of_its_task),
        cmocka_unit_test(test_local_task_spawned_from_a_callback_starts_empty),
        cmocka_unit_test(test_local_thousand_keys_inherit_and_change_independently),
        cmocka_unit_test(test_local_null_or_uncreated_keys_are_einval),
        cmocka_unit_test(test_local_get_and_set_outside_a_task_are_enotask),
        cmocka_unit_test(test_local_children_on_four_workers_share_copy_and_destroy_once),
    };
    return run_suite(tests, setup, NULL);
}
