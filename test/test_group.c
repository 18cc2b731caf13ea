/* test_group.c - task groups (structured concurrency) and the task tree.
 *
 * Each test checks one behaviour weft.h documents for weft_group_*: wait
 * waits for every child; the first failure cancels the siblings and the
 * owner (who gets the failure from wait, and its cancellation taken back);
 * no spawning into a failing or cancelled group; cancelling the owner in
 * wait cancels the children; destroy refuses live children; a limit on
 * running children (at most N at once, held children start in spawn
 * order and none is lost, spawn_wait waits for room, try_spawn returns
 * -EAGAIN, a raised limit starts held children, cancellation and a
 * failure end held children without running them, across workers too);
 * groups nest; a group serves one round (a spawn after its wait returned
 * is refused with -WEFT_EGROUPDONE, also from callbacks; a group needs a
 * task to own it); weft_group_errors gives every failed child; children
 * read why they were cancelled (WEFT_CANCEL_GROUP for a sibling's
 * failure, WEFT_CANCEL_DEADLINE for the owner's deadline, the owner's own
 * reason when it was cancelled); every group spawn honours eager; once
 * wait returns every child's handle reads finished (children on eight
 * workers).
 * Then weft_task_tree's output.
 *
 * Covers: src/group.c and the task tree of src/introspect.c.
 */
#include "harness.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A child: sleeps `ms` (0: 1000 s), then returns `status`. */
typedef struct {
    int64_t ms;
    int status;
    atomic_int started, sleep_rc, cleaned; /* read by other tasks, on any worker */
} child_t;

static int child(void *arg, void **result)
{
    child_t *c = arg;
    c->started++;
    c->sleep_rc = weft_sleep(c->ms ? WEFT_MSEC(c->ms) : WEFT_SEC(1000));
    c->cleaned++;
    *result = c;
    return c->sleep_rc < 0 ? c->sleep_rc : c->status;
}

static void group_spawn_all(weft_group_t *g, weft_task_t **t, child_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(weft_group_spawn(g, &t[i], child, &c[i], NULL), 0);
}

/* ---- waiting ---- */

static int wait_all_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t c[3];
    memset(c, 0, sizeof c);
    c[0].ms = 10, c[1].ms = 1, c[2].ms = 5;
    weft_group_t *g;
    weft_task_t *t[3];
    assert_int_equal(weft_group_create(&g), 0);
    int64_t t0 = weft_now(); /* before the spawns: a child may start at once elsewhere */
    group_spawn_all(g, t, c, 3);
    assert_int_equal(weft_group_wait(g), 0);
    assert_true(weft_now() - t0 >= WEFT_MSEC(10));
    for (int i = 0; i < 3; i++) {
        assert_true(weft_task_done(t[i]));
        void *res = NULL;
        assert_int_equal(weft_task_result(t[i], &res), 0);
        assert_ptr_equal(res, &c[i]);
        assert_int_equal(c[i].cleaned, 1);
    }
    /* waiting again on a finished group returns at once */
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    /* an empty group */
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    assert_int_equal(weft_group_create(NULL), -EINVAL);
    assert_int_equal(weft_group_wait(NULL), -EINVAL);
    assert_int_equal(weft_group_destroy(NULL), -EINVAL);
    assert_int_equal(weft_group_cancel(NULL), -EINVAL);
    return 0;
}

static void test_group_wait_waits_for_all_children(void **state)
{
    run(wait_all_main, NULL);
}

static int first_failure_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t c[4];
    memset(c, 0, sizeof c);
    c[0].ms = 0;
    c[1].ms = 5, c[1].status = -EIO;
    c[2].ms = 0;
    /* would fail later: never the first, even when a stalled loop finds
     * both sleeps due in one turn (it did at 10 ms on a loaded machine,
     * and c[3] ended with -EPIPE before the group's cancel came) */
    c[3].ms = 1000, c[3].status = -EPIPE;
    weft_group_t *g;
    weft_task_t *t[4];
    assert_int_equal(weft_group_create(&g), 0);
    group_spawn_all(g, t, c, 4);
    assert_int_equal(weft_group_wait(g), -EIO);
    for (int i = 0; i < 4; i++)
        assert_true(weft_task_done(t[i]));
    assert_int_equal(c[0].cleaned, 1);
    assert_int_equal(c[2].cleaned, 1);
    assert_int_equal(c[3].cleaned, 1);
    assert_int_equal(weft_task_result(t[0], NULL), -ECANCELED);
    assert_int_equal(weft_task_result(t[1], NULL), -EIO);
    assert_int_equal(weft_task_result(t[2], NULL), -ECANCELED);
    assert_int_equal(weft_task_result(t[3], NULL), -ECANCELED);
    /* the owner was in wait: it is not left cancelled */
    assert_false(weft_task_cancelled(weft_current()));
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_first_failure_cancels_siblings(void **state)
{
    run(first_failure_main, NULL);
}

static int owner_sleeping_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t c[2], late;
    memset(c, 0, sizeof c);
    memset(&late, 0, sizeof late);
    c[0].ms = 0;
    c[1].ms = 2, c[1].status = -EIO;
    weft_group_t *g;
    weft_task_t *t[2];
    assert_int_equal(weft_group_create(&g), 0);
    group_spawn_all(g, t, c, 2);
    int64_t t0 = weft_now();
    /* the owner is busy elsewhere when the child fails */
    assert_int_equal(weft_sleep(WEFT_SEC(100)), -ECANCELED);
    assert_true(weft_now() - t0 < WEFT_SEC(10));
    assert_true(weft_task_cancelled(weft_current()));
    /* a failing group takes no new child */
    weft_task_t *nt = (weft_task_t *)&late;
    assert_int_equal(weft_group_spawn(g, &nt, child, &late, NULL), -ECANCELED);
    assert_ptr_equal(nt, (weft_task_t *)&late); /* not written */
    assert_int_equal(weft_group_wait(g), -EIO);
    assert_int_equal(late.started, 0);
    assert_int_equal(c[0].cleaned, 1);
    assert_int_equal(weft_task_result(t[0], NULL), -ECANCELED);
    /* wait took the group's cancellation back */
    assert_false(weft_task_cancelled(weft_current()));
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_owner_sleeping_is_cancelled_and_wait_returns_failure(void **state)
{
    run(owner_sleeping_main, NULL);
}

/* A child that, once cancelled (its group failing), tries to spawn a
 * sibling into the same group. */
static weft_group_t *respawn_group;
static int respawn_rc;
static child_t respawn_extra;

static int respawning_child(void *arg, void **result)
{
    (void)arg, (void)result;
    int rc = weft_sleep(WEFT_SEC(1000));
    respawn_rc = weft_group_spawn(respawn_group, NULL, child, &respawn_extra, NULL);
    return rc;
}

static int failing_while_spawning_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t bad;
    memset(&bad, 0, sizeof bad);
    memset(&respawn_extra, 0, sizeof respawn_extra);
    bad.ms = 2, bad.status = -EIO;
    respawn_rc = 1;
    assert_int_equal(weft_group_create(&respawn_group), 0);
    assert_int_equal(weft_group_spawn(respawn_group, NULL, respawning_child, NULL, NULL), 0);
    assert_int_equal(weft_group_spawn(respawn_group, NULL, child, &bad, NULL), 0);
    assert_int_equal(weft_group_wait(respawn_group), -EIO);
    assert_int_equal(respawn_rc, -ECANCELED);
    assert_int_equal(respawn_extra.started, 0);
    assert_int_equal(weft_group_destroy(respawn_group), 0);
    respawn_group = NULL;
    return 0;
}

static void test_group_spawn_while_failing_returns_ecanceled(void **state)
{
    run(failing_while_spawning_main, NULL);
}

/* ---- cancelling ---- */

typedef struct {
    child_t c[3];
    weft_task_t *t[3];
    int wait_rc;
    int all_done_at_return;
} owner_t;

static int owner_task(void *arg, void **result)
{
    (void)result;
    owner_t *o = arg;
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    group_spawn_all(g, o->t, o->c, 3);
    o->wait_rc = weft_group_wait(g);
    o->all_done_at_return = 1;
    for (int i = 0; i < 3; i++)
        o->all_done_at_return &= weft_task_done(o->t[i]) && o->c[i].cleaned == 1;
    assert_int_equal(weft_group_destroy(g), 0);
    return o->wait_rc;
}

static int cancel_owner_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static owner_t o;
    memset(&o, 0, sizeof o);
    o.c[2].ms = 1; /* one child finishes normally first */
    o.wait_rc = 1;
    weft_task_t *ot;
    assert_int_equal(weft_spawn(&ot, owner_task, &o, NULL), 0);
    /* until that child is done, however slow the machine */
    while (o.c[2].cleaned == 0)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_task_state(ot), WEFT_TASK_WAITING);
    assert_int_equal(weft_cancel(ot), 0);
    assert_int_equal(weft_await(ot, NULL), -ECANCELED);
    assert_int_equal(o.wait_rc, -ECANCELED);
    assert_true(o.all_done_at_return);
    assert_int_equal(o.c[0].sleep_rc, -ECANCELED);
    assert_int_equal(o.c[1].sleep_rc, -ECANCELED);
    assert_int_equal(o.c[2].sleep_rc, 0);
    weft_task_release(ot);
    return 0;
}

static void test_group_cancelling_owner_in_wait_cancels_children(void **state)
{
    run(cancel_owner_main, NULL);
}

static int group_deadline_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t c[2];
    memset(c, 0, sizeof c);
    weft_group_t *g;
    weft_task_t *t[2];
    assert_int_equal(weft_group_create(&g), 0);
    group_spawn_all(g, t, c, 2);
    weft_deadline_t d;
    int64_t t0 = weft_now();
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(10)), 0);
    assert_int_equal(weft_group_wait(g), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_true(weft_now() - t0 >= WEFT_MSEC(10));
    assert_true(weft_now() - t0 < WEFT_SEC(2));
    for (int i = 0; i < 2; i++) {
        assert_true(weft_task_done(t[i]));
        assert_int_equal(c[i].cleaned, 1);
    }
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_wait_deadline_cancels_children(void **state)
{
    run(group_deadline_main, NULL);
}

static int group_cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t c[3], extra;
    memset(c, 0, sizeof c);
    memset(&extra, 0, sizeof extra);
    weft_group_t *g;
    weft_task_t *t[3];
    assert_int_equal(weft_group_create(&g), 0);
    group_spawn_all(g, t, c, 3);
    for (int i = 0; i < 3; i++) /* each started (they may run on any worker) */
        wait_state(t[i], WEFT_TASK_WAITING);
    assert_int_equal(weft_group_cancel(g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, child, &extra, NULL), -ECANCELED);
    assert_int_equal(weft_group_wait(g), 0); /* cancelled children are no failure */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_task_result(t[i], NULL), -ECANCELED);
        assert_int_equal(c[i].cleaned, 1);
    }
    assert_false(weft_task_cancelled(weft_current()));
    assert_int_equal(extra.started, 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_cancel_cancels_every_child(void **state)
{
    run(group_cancel_main, NULL);
}

static int destroy_busy_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t c[2];
    memset(c, 0, sizeof c);
    c[0].ms = 2, c[1].ms = 3;
    weft_group_t *g;
    weft_task_t *t[2];
    assert_int_equal(weft_group_create(&g), 0);
    group_spawn_all(g, t, c, 2);
    assert_int_equal(weft_group_destroy(g), -WEFT_EGROUPLIVE);
    assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_group_destroy(g), -WEFT_EGROUPLIVE);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_destroy_with_live_children_returns_egrouplive(void **state)
{
    run(destroy_busy_main, NULL);
}

/* ---- a limit on running children (errgroup.SetLimit) ---- */

/* A limited child: counts itself running (atomically: it may run on any
 * worker), notes its start order and the most seen running at once,
 * yields a few times so that siblings would overlap if they could, and
 * returns `status`. */
typedef struct {
    atomic_int running, max, started, ended;
    int order[64]; /* order[k]: the index of the k-th child to start */
    int status;
    weft_event_t *gate; /* non-NULL: wait for it before ending */
} lim_t;

typedef struct {
    lim_t *l;
    int index;
} lim_child_t;

static int lim_child(void *arg, void **result)
{
    (void)result;
    lim_child_t *c = arg;
    lim_t *l = c->l;
    int k = atomic_fetch_add(&l->started, 1);
    if (k < 64)
        l->order[k] = c->index;
    int now = atomic_fetch_add(&l->running, 1) + 1;
    int m = atomic_load(&l->max);
    while (now > m && !atomic_compare_exchange_weak(&l->max, &m, now))
        ;
    int rc = 0;
    for (int i = 0; i < 5 && rc == 0; i++)
        rc = weft_yield();
    if (rc == 0 && l->gate)
        rc = weft_event_wait(l->gate);
    atomic_fetch_sub(&l->running, 1);
    atomic_fetch_add(&l->ended, 1);
    return rc < 0 ? rc : l->status;
}

static int limit_fifo_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l;
    static lim_child_t c[20];
    memset(&l, 0, sizeof l);
    weft_group_t *g;
    weft_task_t *t[20];
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_set_limit(g, 3), 0);
    for (int i = 0; i < 20; i++) {
        c[i] = (lim_child_t){.l = &l, .index = i};
        assert_int_equal(weft_group_spawn(g, &t[i], lim_child, &c[i], HERE), 0);
    }
    /* the spawns never waited: nothing ran yet, and the held ones stay
     * pending while three run */
    assert_int_equal(atomic_load(&l.started), 0);
    settle();
    assert_int_equal(weft_task_state(t[19]), WEFT_TASK_PENDING);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(atomic_load(&l.started), 20);
    assert_int_equal(atomic_load(&l.ended), 20);
    assert_int_equal(atomic_load(&l.max), 3);
    for (int k = 0; k < 20; k++)
        assert_int_equal(l.order[k], k); /* held children start in spawn order */
    for (int i = 0; i < 20; i++)
        assert_int_equal(weft_task_result(t[i], NULL), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_limit_runs_at_most_n_children_in_spawn_order_and_loses_none(void **state)
{
    run(limit_fifo_main, NULL);
}

typedef struct {
    weft_group_t *g;
    lim_child_t *c;
    weft_task_t *first; /* must be done when spawn_wait returns */
    int rc;
    bool first_done;
} spawner_t;

static int spawner(void *arg, void **result)
{
    (void)result;
    spawner_t *s = arg;
    s->rc = weft_group_spawn_wait(s->g, NULL, lim_child, s->c, HERE);
    s->first_done = s->first && weft_task_done(s->first);
    return 0;
}

static int spawn_wait_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l;
    static lim_child_t c[2];
    memset(&l, 0, sizeof l);
    weft_group_t *g;
    weft_task_t *first, *sp;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_event_create(&l.gate), 0);
    assert_int_equal(weft_group_set_limit(g, 1), 0);
    c[0] = (lim_child_t){.l = &l, .index = 0};
    c[1] = (lim_child_t){.l = &l, .index = 1};
    /* with room, spawn_wait spawns at once */
    assert_int_equal(weft_group_spawn_wait(g, &first, lim_child, &c[0], HERE), 0);
    spawner_t s = {.g = g, .c = &c[1], .first = first};
    assert_int_equal(weft_spawn(&sp, spawner, &s, HERE), 0);
    wait_state(sp, WEFT_TASK_WAITING); /* at the limit: it waits */
    settle();
    assert_int_equal(atomic_load(&l.started), 1);
    assert_false(weft_task_done(sp));
    assert_int_equal(weft_event_set(l.gate), 0); /* the first child ends */
    await_release(sp);
    assert_int_equal(s.rc, 0);
    assert_true(s.first_done);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(atomic_load(&l.started), 2);
    assert_int_equal(atomic_load(&l.max), 1);
    assert_int_equal(weft_group_destroy(g), 0);
    weft_event_destroy(l.gate);
    return 0;
}

static void test_group_spawn_wait_blocks_at_the_limit_and_resumes_when_a_child_ends(void **state)
{
    run(spawn_wait_main, NULL);
}

static int try_spawn_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l;
    static lim_child_t c[4];
    memset(&l, 0, sizeof l);
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_event_create(&l.gate), 0);
    for (int i = 0; i < 4; i++)
        c[i] = (lim_child_t){.l = &l, .index = i};
    assert_int_equal(weft_group_set_limit(g, 2), 0);
    assert_int_equal(weft_group_try_spawn(g, NULL, lim_child, &c[0], NULL), 0);
    assert_int_equal(weft_group_try_spawn(g, NULL, lim_child, &c[1], NULL), 0);
    assert_int_equal(weft_group_try_spawn(g, NULL, lim_child, &c[2], NULL), -EAGAIN);
    /* a higher limit makes room; no limit at all too */
    assert_int_equal(weft_group_set_limit(g, 3), 0);
    assert_int_equal(weft_group_try_spawn(g, NULL, lim_child, &c[2], NULL), 0);
    assert_int_equal(weft_group_try_spawn(g, NULL, lim_child, &c[3], NULL), -EAGAIN);
    assert_int_equal(weft_group_set_limit(g, 0), 0);
    assert_int_equal(weft_group_try_spawn(g, NULL, lim_child, &c[3], NULL), 0);
    assert_int_equal(weft_event_set(l.gate), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(atomic_load(&l.ended), 4);
    assert_int_equal(weft_group_destroy(g), 0);
    weft_event_destroy(l.gate);
    return 0;
}

static void test_group_try_spawn_at_the_limit_returns_eagain(void **state)
{
    run(try_spawn_main, NULL);
}

/* Yields until n children of l have started; fails after 30 s. */
static void wait_limited_started(lim_t *l, int n)
{
    int64_t end = weft_now() + WEFT_SEC(30);
    while (atomic_load(&l->started) < n) {
        assert_true(weft_now() < end);
        assert_int_equal(weft_yield(), 0);
    }
}

static int limit_raise_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l;
    static lim_child_t c[6];
    memset(&l, 0, sizeof l);
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_event_create(&l.gate), 0);
    assert_int_equal(weft_group_set_limit(g, 1), 0);
    for (int i = 0; i < 6; i++) {
        c[i] = (lim_child_t){.l = &l, .index = i};
        assert_int_equal(weft_group_spawn(g, NULL, lim_child, &c[i], NULL), 0);
    }
    /* the children may run on any worker: wait for the first, then let
     * every ready task run; the limit holds the others back */
    wait_limited_started(&l, 1);
    settle();
    assert_int_equal(atomic_load(&l.started), 1);
    /* raising the limit starts held children at once */
    assert_int_equal(weft_group_set_limit(g, 4), 0);
    wait_limited_started(&l, 4);
    settle();
    assert_int_equal(atomic_load(&l.started), 4);
    assert_int_equal(weft_event_set(l.gate), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(atomic_load(&l.ended), 6);
    assert_int_equal(atomic_load(&l.max), 4);
    assert_int_equal(weft_group_destroy(g), 0);
    weft_event_destroy(l.gate);
    return 0;
}

static void test_group_raising_the_limit_starts_held_children(void **state)
{
    run(limit_raise_main, NULL);
}

static int limit_cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l;
    static lim_child_t c[6];
    memset(&l, 0, sizeof l);
    weft_group_t *g;
    weft_task_t *t[5], *sp;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_event_create(&l.gate), 0); /* never set */
    assert_int_equal(weft_group_set_limit(g, 1), 0);
    for (int i = 0; i < 5; i++) {
        c[i] = (lim_child_t){.l = &l, .index = i};
        assert_int_equal(weft_group_spawn(g, &t[i], lim_child, &c[i], HERE), 0);
    }
    c[5] = (lim_child_t){.l = &l, .index = 5};
    spawner_t s = {.g = g, .c = &c[5]};
    assert_int_equal(weft_spawn(&sp, spawner, &s, HERE), 0);
    wait_state(sp, WEFT_TASK_WAITING);
    assert_int_equal(atomic_load(&l.started), 1);
    /* cancelling the group ends the held children unrun and the
     * waiting spawner with -ECANCELED */
    assert_int_equal(weft_group_cancel(g), 0);
    await_release(sp);
    assert_int_equal(s.rc, -ECANCELED);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(atomic_load(&l.started), 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(weft_task_result(t[i], NULL), -ECANCELED);
    assert_int_equal(weft_group_destroy(g), 0);
    weft_event_destroy(l.gate);
    return 0;
}

static void test_group_cancel_ends_held_children_unrun_and_waiting_spawners(void **state)
{
    run(limit_cancel_main, NULL);
}

static int limit_fail_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l, bad;
    static lim_child_t c[6];
    memset(&l, 0, sizeof l);
    memset(&bad, 0, sizeof bad);
    bad.status = -EIO;
    weft_group_t *g;
    weft_task_t *t[6];
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_event_create(&l.gate), 0); /* never set */
    assert_int_equal(weft_group_set_limit(g, 2), 0);
    c[0] = (lim_child_t){.l = &l, .index = 0};
    c[1] = (lim_child_t){.l = &bad, .index = 1}; /* fails after a few yields */
    for (int i = 2; i < 6; i++)
        c[i] = (lim_child_t){.l = &l, .index = i};
    for (int i = 0; i < 6; i++)
        assert_int_equal(weft_group_spawn(g, &t[i], lim_child, &c[i], NULL), 0);
    /* the failure cancels the running sibling and ends the held ones
     * without running them; wait returns it */
    assert_int_equal(weft_group_wait(g), -EIO);
    assert_int_equal(weft_task_result(t[0], NULL), -ECANCELED);
    assert_int_equal(weft_task_result(t[1], NULL), -EIO);
    for (int i = 2; i < 6; i++)
        assert_int_equal(weft_task_result(t[i], NULL), -ECANCELED);
    assert_int_equal(atomic_load(&l.started), 1);
    assert_false(weft_task_cancelled(weft_current()));
    /* its wait has returned: the group takes no more children */
    assert_int_equal(weft_group_spawn_wait(g, NULL, lim_child, &c[0], NULL), -WEFT_EGROUPDONE);
    assert_int_equal(weft_group_try_spawn(g, NULL, lim_child, &c[0], NULL), -WEFT_EGROUPDONE);
    assert_int_equal(weft_group_destroy(g), 0);
    weft_event_destroy(l.gate);
    return 0;
}

static void test_group_limit_failure_cancels_held_children_and_propagates(void **state)
{
    run(limit_fail_main, NULL);
}

static int spawn_wait_interrupted_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l;
    static lim_child_t c[3];
    memset(&l, 0, sizeof l);
    weft_group_t *g;
    weft_task_t *sp;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_event_create(&l.gate), 0);
    assert_int_equal(weft_group_set_limit(g, 1), 0);
    for (int i = 0; i < 3; i++)
        c[i] = (lim_child_t){.l = &l, .index = i};
    assert_int_equal(weft_group_spawn(g, NULL, lim_child, &c[0], NULL), 0);
    /* a deadline ends the wait: nothing spawned */
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(20)), 0);
    assert_int_equal(weft_group_spawn_wait(g, NULL, lim_child, &c[1], NULL), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    /* so does a cancellation */
    spawner_t s = {.g = g, .c = &c[2]};
    assert_int_equal(weft_spawn(&sp, spawner, &s, NULL), 0);
    wait_state(sp, WEFT_TASK_WAITING);
    assert_int_equal(weft_cancel(sp), 0);
    await_release(sp);
    assert_int_equal(s.rc, -ECANCELED);
    assert_int_equal(weft_event_set(l.gate), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(atomic_load(&l.started), 1);
    assert_int_equal(weft_group_destroy(g), 0);
    weft_event_destroy(l.gate);
    return 0;
}

static void test_group_spawn_wait_cancelled_or_timed_out_spawns_nothing(void **state)
{
    run(spawn_wait_interrupted_main, NULL);
}

static int limit_workers_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static lim_t l;
    static lim_child_t c[60];
    memset(&l, 0, sizeof l);
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_set_limit(g, 2), 0);
    weft_task_opts_t any = {.place = WEFT_PLACE_ANY};
    /* children anywhere: they end on either worker, and room that comes
     * on one worker starts a held child or a spawner of the other */
    for (int i = 0; i < 60; i++) {
        c[i] = (lim_child_t){.l = &l, .index = i};
        int rc = i % 2 ? weft_group_spawn(g, NULL, lim_child, &c[i], &any)
                       : weft_group_spawn_wait(g, NULL, lim_child, &c[i], &any);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(atomic_load(&l.ended), 60);
    assert_true(atomic_load(&l.max) <= 2);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_limit_holds_across_workers(void **state)
{
    run_workers(2, limit_workers_main, NULL);
}

static int limit_args_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_group_t *g;
    assert_int_equal(weft_group_set_limit(NULL, 1), -EINVAL);
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn_wait(NULL, NULL, child, NULL, NULL), -EINVAL);
    assert_int_equal(weft_group_spawn_wait(g, NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(weft_group_try_spawn(NULL, NULL, child, NULL, NULL), -EINVAL);
    assert_int_equal(weft_group_try_spawn(g, NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_limit_calls_refuse_bad_arguments(void **state)
{
    run(limit_args_main, NULL);
    assert_int_equal(weft_group_spawn_wait(NULL, NULL, child, NULL, NULL), -WEFT_ENOTASK);
}

/* ---- nesting ---- */

static child_t nested_inner[2];
static child_t nested_sibling;
static int nested_inner_rc;

static int inner_owner(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_group_t *g;
    weft_task_t *t[2];
    assert_int_equal(weft_group_create(&g), 0);
    group_spawn_all(g, t, nested_inner, 2);
    nested_inner_rc = weft_group_wait(g);
    assert_int_equal(weft_group_destroy(g), 0);
    return nested_inner_rc;
}

static int nested_main(void *arg, void **result)
{
    (void)arg, (void)result;
    memset(nested_inner, 0, sizeof nested_inner);
    memset(&nested_sibling, 0, sizeof nested_sibling);
    nested_inner[0].ms = 0;
    nested_inner[1].ms = 3, nested_inner[1].status = -EPROTO;
    nested_inner_rc = 1;
    weft_group_t *outer;
    weft_task_t *io, *sib;
    assert_int_equal(weft_group_create(&outer), 0);
    assert_int_equal(weft_group_spawn(outer, &io, inner_owner, NULL, NULL), 0);
    assert_int_equal(weft_group_spawn(outer, &sib, child, &nested_sibling, NULL), 0);
    assert_int_equal(weft_group_wait(outer), -EPROTO);
    assert_int_equal(nested_inner_rc, -EPROTO);
    assert_int_equal(nested_inner[0].cleaned, 1);
    assert_int_equal(nested_inner[0].sleep_rc, -ECANCELED);
    assert_int_equal(nested_sibling.cleaned, 1);
    assert_int_equal(weft_task_result(sib, NULL), -ECANCELED);
    assert_int_equal(weft_task_result(io, NULL), -EPROTO);
    assert_int_equal(weft_group_destroy(outer), 0);

    /* nested, all succeeding */
    memset(nested_inner, 0, sizeof nested_inner);
    memset(&nested_sibling, 0, sizeof nested_sibling);
    nested_inner[0].ms = 1, nested_inner[1].ms = 2, nested_sibling.ms = 1;
    assert_int_equal(weft_group_create(&outer), 0);
    assert_int_equal(weft_group_spawn(outer, NULL, inner_owner, NULL, NULL), 0);
    assert_int_equal(weft_group_spawn(outer, NULL, child, &nested_sibling, NULL), 0);
    assert_int_equal(weft_group_wait(outer), 0);
    assert_int_equal(nested_inner_rc, 0);
    assert_int_equal(weft_group_destroy(outer), 0);
    return 0;
}

static void test_group_nested_failure_propagates_outward(void **state)
{
    run(nested_main, NULL);
}

/* ---- the task tree ---- */

static int tree_awaiter(void *arg, void **result)
{
    (void)result;
    return weft_await(arg, NULL);
}

static int tree_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static child_t nap, tgt;
    memset(&nap, 0, sizeof nap);
    memset(&tgt, 0, sizeof tgt);
    weft_task_opts_t on = {.name = "napper", .place = WEFT_PLACE_HERE};
    weft_task_opts_t tn = {.name = "target", .place = WEFT_PLACE_HERE};
    weft_task_opts_t bn = {.name = "boss", .place = WEFT_PLACE_HERE};
    weft_task_opts_t gn = {.name = "grouped", .place = WEFT_PLACE_HERE};
    weft_task_t *napper, *target, *boss;
    assert_int_equal(weft_spawn(&napper, child, &nap, &on), 0);
    assert_int_equal(weft_spawn(&target, child, &tgt, &tn), 0);
    assert_int_equal(weft_spawn(&boss, tree_awaiter, target, &bn), 0);
    weft_group_t *g;
    static child_t gc;
    memset(&gc, 0, sizeof gc);
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, child, &gc, &gn), 0);
    assert_int_equal(weft_yield(), 0);

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    int n = weft_task_tree(out);
    fclose(out);
    printf("%s", buf);
    assert_int_equal(n, 5);
    assert_non_null(strstr(buf, "\"main\""));
    assert_non_null(strstr(buf, "\"napper\" waiting on sleep"));
    assert_non_null(strstr(buf, "\"grouped\" waiting on sleep"));
    const char *b = strstr(buf, "\"boss\" waiting on task");
    assert_non_null(b);
    const char *eol = strchr(b, '\n');
    assert_non_null(eol);
    const char *tq = strstr(b, "\"target\"");
    assert_non_null(tq);
    assert_true(tq < eol); /* "boss ... waiting on task #N "target"" */
    /* the target is drawn under its awaiter, after it */
    const char *tline = strstr(eol, "\"target\" waiting on sleep");
    assert_non_null(tline);
    free(buf);

    assert_int_equal(weft_task_tree(NULL), -EINVAL);

    assert_int_equal(weft_cancel(napper), 0);
    assert_int_equal(weft_cancel(target), 0);
    assert_int_equal(weft_await(boss, NULL), -ECANCELED);
    assert_int_equal(weft_await(napper, NULL), -ECANCELED);
    assert_int_equal(weft_group_cancel(g), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    weft_task_release(napper);
    weft_task_release(target);
    weft_task_release(boss);

    /* with only main left */
    out = open_memstream(&buf, &len);
    assert_int_equal(weft_task_tree(out), 1);
    fclose(out);
    assert_non_null(strstr(buf, "\"main\" running"));
    free(buf);
    return 0;
}

static void test_task_tree_names_tasks_and_what_they_wait_on(void **state)
{
    run(tree_main, NULL);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(weft_task_tree(f), -WEFT_ENOLOOP);
    fclose(f);
}

/* ---- a group serves one round; every failure; reasons ---- */

/* A child that returns `status` after `ms` (0: waits until cancelled,
 * then records why and returns `on_cancel`). */
typedef struct {
    int64_t ms;
    int status, on_cancel;
    int reason;
} why_child_t;

static int why_child(void *arg, void **result)
{
    (void)result;
    why_child_t *c = arg;
    __atomic_store_n(&c->reason, -1, __ATOMIC_RELEASE); /* started (read from other workers) */
    if (c->ms)
        return weft_sleep(WEFT_MSEC(c->ms)) < 0 ? -EPROTO : c->status;
    int rc = weft_sleep(WEFT_SEC(1000));
    c->reason = weft_task_cancel_reason(weft_current(), NULL);
    return rc == -ECANCELED || rc == -ETIMEDOUT ? c->on_cancel : -EPROTO;
}

static int quick(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}

static int after_wait_main(void *arg, void **result)
{
    (void)arg, (void)result;
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, quick, NULL, NULL), 0);
    assert_int_equal(weft_group_wait(g), 0);
    weft_task_t *t = (weft_task_t *)&t; /* untouched on refusal */
    assert_int_equal(weft_group_spawn(g, &t, quick, NULL, NULL), -WEFT_EGROUPDONE);
    assert_ptr_equal(t, (weft_task_t *)&t);
    assert_int_equal(weft_group_try_spawn(g, NULL, quick, NULL, NULL), -WEFT_EGROUPDONE);
    assert_int_equal(weft_group_spawn_wait(g, NULL, quick, NULL, NULL), -WEFT_EGROUPDONE);
    assert_int_equal(weft_group_wait(g), 0); /* again: at once */
    assert_int_equal(weft_group_destroy(g), 0);
    /* an empty group too */
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, quick, NULL, NULL), -WEFT_EGROUPDONE);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_spawn_after_wait_returned_is_refused_with_egroupdone(void **state)
{
    (void)state;
    run(after_wait_main, NULL);
}

typedef struct {
    weft_group_t *g;
    int rc;
    int ran;
} late_spawn_t;

static void spawn_from_callback(void *arg)
{
    late_spawn_t *l = arg;
    l->rc = weft_group_spawn(l->g, NULL, quick, NULL, NULL);
    l->ran = 1;
}

static void spawn_from_done(weft_task_t *t, void *arg)
{
    (void)t;
    spawn_from_callback(arg);
}

static int callback_spawn_main(void *arg, void **result)
{
    (void)arg, (void)result;
    late_spawn_t cb = {0}, done = {0};
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    cb.g = done.g = g;
    weft_task_t *c;
    assert_int_equal(weft_group_spawn(g, &c, quick, NULL, NULL), 0);
    assert_int_equal(weft_group_wait(g), 0);
    /* a loop callback after the wait */
    assert_int_equal(weft_call_soon(NULL, spawn_from_callback, &cb), 0);
    /* a done callback of a child, registered after the wait */
    assert_int_equal(weft_task_on_done(c, spawn_from_done, &done), 0);
    for (int i = 0; i < 10 && !(cb.ran && done.ran); i++)
        assert_int_equal(weft_yield(), 0);
    assert_int_equal(cb.ran, 1);
    assert_int_equal(cb.rc, -WEFT_EGROUPDONE);
    assert_int_equal(done.ran, 1);
    assert_int_equal(done.rc, -WEFT_EGROUPDONE);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_spawn_from_a_callback_after_wait_is_refused(void **state)
{
    (void)state;
    run(callback_spawn_main, NULL);
}

static void create_in_callback(void *arg)
{
    int *rc = arg;
    weft_group_t *g = NULL;
    *rc = weft_group_create(&g);
    if (*rc == 0)
        weft_group_destroy(g);
}

static int create_cb_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int rc = 1;
    assert_int_equal(weft_call_soon(NULL, create_in_callback, &rc), 0);
    for (int i = 0; i < 10 && rc == 1; i++)
        assert_int_equal(weft_yield(), 0);
    assert_int_equal(rc, -WEFT_ENOTASK);
    return 0;
}

static void test_group_create_outside_a_task_returns_enotask(void **state)
{
    (void)state;
    run(create_cb_main, NULL);
    weft_group_t *g = NULL;
    assert_int_equal(weft_group_create(&g), -WEFT_ENOLOOP);
}

static int errors_main(void *arg, void **result)
{
    (void)arg, (void)result;
    /* a fails; b fails in its clean-up; c unwinds cancelled; d succeeded
     * (at its first step: no timer of its own to race a's) */
    why_child_t c[3] = {{.ms = 2, .status = -EIO},
                        {.on_cancel = -ENOENT},
                        {.on_cancel = -ECANCELED}};
    weft_group_t *g;
    weft_task_t *t[4];
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_group_spawn(g, &t[i], why_child, &c[i], HERE), 0);
    assert_int_equal(weft_group_spawn(g, &t[3], quick, NULL, HERE), 0);
    assert_int_equal(weft_group_wait(g), -EIO); /* the first, as before */
    int errs[4] = {0};
    weft_task_t *who[4] = {0};
    assert_int_equal(weft_group_errors(g, errs, who, 4), 2);
    assert_int_equal(errs[0], -EIO);
    assert_ptr_equal(who[0], t[0]);
    assert_int_equal(errs[1], -ENOENT);
    assert_ptr_equal(who[1], t[1]);
    /* fewer slots than failures: the first ones, and the full count */
    int one = 0;
    assert_int_equal(weft_group_errors(g, &one, NULL, 1), 2);
    assert_int_equal(one, -EIO);
    assert_int_equal(weft_group_errors(g, NULL, NULL, 0), 2);
    assert_int_equal(weft_group_errors(g, NULL, NULL, 1), -EINVAL);
    assert_int_equal(weft_group_errors(NULL, errs, NULL, 4), -EINVAL);
    /* the siblings were cancelled because of the group */
    assert_int_equal(c[1].reason, WEFT_CANCEL_GROUP);
    assert_int_equal(c[2].reason, WEFT_CANCEL_GROUP);
    assert_int_equal(weft_group_destroy(g), 0);
    /* a group without failures has none */
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, quick, NULL, HERE), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_errors(g, errs, NULL, 4), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_errors_gives_every_failed_child_in_spawn_order(void **state)
{
    (void)state;
    run(errors_main, NULL);
}

static int deadline_reason_main(void *arg, void **result)
{
    (void)arg, (void)result;
    why_child_t c[2] = {{.on_cancel = -ECANCELED}, {.on_cancel = -ECANCELED}};
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_group_spawn(g, NULL, why_child, &c[i], HERE), 0);
    settle(); /* started: a child cancelled before it starts sees nothing */
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(2)), 0);
    assert_int_equal(weft_group_wait(g), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    for (int i = 0; i < 2; i++)
        assert_int_equal(c[i].reason, WEFT_CANCEL_DEADLINE);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_children_of_a_timed_out_wait_read_cancel_deadline(void **state)
{
    (void)state;
    run(deadline_reason_main, NULL);
}

static int waiter_in_group(void *arg, void **result)
{
    (void)result;
    weft_group_t *g;
    if (weft_group_create(&g) < 0)
        return -ENOMEM;
    if (weft_group_spawn(g, NULL, why_child, arg, NULL) < 0)
        return -ENOMEM;
    int rc = weft_group_wait(g);
    weft_group_destroy(g);
    return rc;
}

static int passed_reason_main(void *arg, void **result)
{
    (void)arg, (void)result;
    why_child_t c = {.on_cancel = -ECANCELED};
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, waiter_in_group, &c, NULL), 0);
    /* the child has started: one cancelled before it starts sees nothing
     * (spread on 8 workers under TSan, 1 ms was not always enough) */
    for (int i = 0; __atomic_load_n(&c.reason, __ATOMIC_ACQUIRE) != -1; i++) {
        assert_true(i < 30000);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    }
    assert_int_equal(weft_cancel_with(t, WEFT_CANCEL_USER + 3, "stop"), 0);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_int_equal(c.reason, WEFT_CANCEL_USER + 3); /* the owner's, passed on */
    weft_task_release(t);
    return 0;
}

static void test_group_children_of_a_cancelled_wait_read_the_owners_reason(void **state)
{
    (void)state;
    run(passed_reason_main, NULL);
}

static int first_step(void *arg, void **result)
{
    (void)result;
    int *step = arg;
    *step = 1;
    if (weft_sleep(WEFT_MSEC(1)) < 0)
        return -EPROTO;
    *step = 2;
    return 0;
}

static int group_eager_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int a = 0, b = 0, c = 0;
    const weft_task_opts_t eager = {.place = WEFT_PLACE_HERE, .eager = true};
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, first_step, &a, &eager), 0);
    assert_int_equal(a, 1); /* its first step ran inside the spawn */
    assert_int_equal(weft_group_try_spawn(g, NULL, first_step, &b, &eager), 0);
    assert_int_equal(b, 1);
    assert_int_equal(weft_group_spawn_wait(g, NULL, first_step, &c, &eager), 0);
    assert_int_equal(c, 1);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(a + b + c, 6);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_spawns_honour_eager(void **state)
{
    (void)state;
    run(group_eager_main, NULL);
}

/* ---- the reason children are cancelled with ---- */

static int group_reasons_main(void *arg, void **result)
{
    reason_seen_t seen[3] = {{0}};
    weft_group_t *g;
    /* the waiter's deadline: the children see WEFT_CANCEL_DEADLINE */
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, reason_child, &seen[0], NULL), 0);
    wait_started(&seen[0]);
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(5)), 0);
    assert_int_equal(weft_group_wait(g), -ETIMEDOUT);
    assert_int_equal(weft_deadline_pop(&d), -ETIMEDOUT);
    assert_int_equal(weft_group_destroy(g), 0);
    assert_int_equal(atomic_load(&seen[0].why), WEFT_CANCEL_DEADLINE);
    /* a sibling's failure: WEFT_CANCEL_GROUP */
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, reason_child, &seen[1], NULL), 0);
    wait_started(&seen[1]);
    assert_int_equal(weft_group_spawn(g, NULL, failing_child, NULL, NULL), 0);
    assert_int_equal(weft_group_wait(g), -EIO);
    assert_int_equal(weft_group_destroy(g), 0);
    assert_int_equal(atomic_load(&seen[1].why), WEFT_CANCEL_GROUP);
    /* weft_group_cancel: WEFT_CANCEL_REQUESTED */
    assert_int_equal(weft_group_create(&g), 0);
    assert_int_equal(weft_group_spawn(g, NULL, reason_child, &seen[2], NULL), 0);
    wait_started(&seen[2]);
    assert_int_equal(weft_group_cancel(g), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    assert_int_equal(atomic_load(&seen[2].why), WEFT_CANCEL_REQUESTED);
    return 0;
}

static void test_group_children_learn_why_they_were_cancelled(void **state)
{
    run(group_reasons_main, NULL);
}

/* ---- every child reads finished once the wait returns ---- */

static int returns_at_once(void *arg, void **res)
{
    (void)res;
    return (int)I(arg);
}

/* Rounds of children spread over eight workers (more than this machine
 * has cores, so a worker may be preempted anywhere): after weft_group_wait
 * every child's handle reads finished, with its own status. */
static int all_done_main(void *arg, void **res)
{
    (void)arg, (void)res;
    enum { N = 16 };
    weft_task_opts_t any = {.place = WEFT_PLACE_ANY};
    int rounds = (int)scaled(300, 20);
    for (int r = 0; r < rounds; r++) {
        weft_group_t *g;
        weft_task_t *t[N];
        assert_int_equal(weft_group_create(&g), 0);
        for (int i = 0; i < N; i++)
            assert_int_equal(weft_group_spawn(g, &t[i], returns_at_once, P(0), &any), 0);
        assert_int_equal(weft_group_wait(g), 0);
        for (int i = 0; i < N; i++) {
            assert_true(weft_task_done(t[i]));
            assert_int_equal(weft_task_result(t[i], NULL), 0);
        }
        assert_int_equal(weft_group_destroy(g), 0);
    }
    return 0;
}

static void test_group_wait_returns_with_every_child_reading_finished(void **state)
{
    (void)state;
    run_workers(8, all_done_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_wait_waits_for_all_children),
        cmocka_unit_test(test_group_children_learn_why_they_were_cancelled),
        cmocka_unit_test(test_group_first_failure_cancels_siblings),
        cmocka_unit_test(test_group_owner_sleeping_is_cancelled_and_wait_returns_failure),
        cmocka_unit_test(test_group_spawn_while_failing_returns_ecanceled),
        cmocka_unit_test(test_group_cancelling_owner_in_wait_cancels_children),
        cmocka_unit_test(test_group_wait_deadline_cancels_children),
        cmocka_unit_test(test_group_cancel_cancels_every_child),
        cmocka_unit_test(test_group_destroy_with_live_children_returns_egrouplive),
        cmocka_unit_test(test_group_limit_runs_at_most_n_children_in_spawn_order_and_loses_none),
        cmocka_unit_test(test_group_spawn_wait_blocks_at_the_limit_and_resumes_when_a_child_ends),
        cmocka_unit_test(test_group_try_spawn_at_the_limit_returns_eagain),
        cmocka_unit_test(test_group_raising_the_limit_starts_held_children),
        cmocka_unit_test(test_group_cancel_ends_held_children_unrun_and_waiting_spawners),
        cmocka_unit_test(test_group_limit_failure_cancels_held_children_and_propagates),
        cmocka_unit_test(test_group_spawn_wait_cancelled_or_timed_out_spawns_nothing),
        cmocka_unit_test(test_group_limit_holds_across_workers),
        cmocka_unit_test(test_group_limit_calls_refuse_bad_arguments),
        cmocka_unit_test(test_group_nested_failure_propagates_outward),
        cmocka_unit_test(test_task_tree_names_tasks_and_what_they_wait_on),
        cmocka_unit_test(test_group_spawn_after_wait_returned_is_refused_with_egroupdone),
        cmocka_unit_test(test_group_spawn_from_a_callback_after_wait_is_refused),
        cmocka_unit_test(test_group_create_outside_a_task_returns_enotask),
        cmocka_unit_test(test_group_errors_gives_every_failed_child_in_spawn_order),
        cmocka_unit_test(test_group_children_of_a_timed_out_wait_read_cancel_deadline),
        cmocka_unit_test(test_group_children_of_a_cancelled_wait_read_the_owners_reason),
        cmocka_unit_test(test_group_spawns_honour_eager),
        cmocka_unit_test(test_group_wait_returns_with_every_child_reading_finished),
    };
    return run_suite(tests, NULL, NULL);
}
