/* test_worker.c - several workers: placement (here, a named worker,
 * anywhere) and stealing of unstarted tasks by an idle worker, in runs
 * that keep pairs spawned together whole, and by a busy worker from a
 * long queue; a burst of spawns at main's start taken by an idle
 * worker while main computes; a small run of spawns started together on
 * its spawner's worker, and left to a thief when its first task computes
 * long; the locality slot (a woken task runs before the ready
 * queue, and a ping-pong pair through it leaves a third task its turns); await,
 * futures, events, locks, semaphores, queues, channels and groups across
 * workers; a lock's waiter on another worker competing for a freed lock
 * (never starved, cancellation anywhere loses nothing); cancellation and deadlines of a task on another worker; a
 * stress run of producers and consumers on different workers under random
 * cancellation that loses and duplicates nothing; stress runs of every
 * other primitive across workers (4, or WEFT_WORKERS), spread, under
 * random cancellation and deadlines: locks, conditions and semaphores
 * (mutual exclusion, no lost update, every id passed once, every permit
 * back), events, barriers, futures and await (every waiter not cancelled
 * is served, a barrier cycle passes for all parties or for none), groups
 * and select (a group's results, sum and errors agree; every id sent
 * through select is received once); weft_call_soon_threadsafe
 * from a plain thread; weft_runtime_start / weft_runtime_join; deadlock
 * detection and shutdown with tasks left on other workers; a
 * stream opened on one worker read, written and closed from another
 * (a server on every worker is test_server.c's); bad arguments; a
 * runtime of two workers whose second runs nothing, and a second worker
 * whose first work (a spawn, a group's child, a plain thread's callback)
 * joins objects worker 0's tasks are inside, in fresh runtimes.
 *
 * Covers: src/worker.c, src/loop.c.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static weft_task_opts_t on_worker(int w)
{
    return (weft_task_opts_t){.place = WEFT_PLACE_WORKER, .worker = w};
}

/* ---- placement ---- */

static int report_worker(void *arg, void **res)
{
    (void)arg;
    *res = P(weft_worker_index());
    return 0;
}

static int placement_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_worker_count(), 3);
    assert_int_equal(weft_worker_index(), 0);
    assert_non_null(weft_runtime());
    for (int w = 0; w < 3; w++) {
        weft_task_t *t;
        weft_task_opts_t o = on_worker(w);
        assert_int_equal(weft_spawn(&t, report_worker, NULL, &o), 0);
        void *r = NULL;
        assert_int_equal(weft_await(t, &r), 0);
        assert_int_equal(I(r), w);
        weft_task_release(t);
    }
    /* the default stays here, unless the runtime spreads (WEFT_SPREAD=1) */
    weft_task_t *t;
    assert_int_equal(weft_spawn(&t, report_worker, NULL, NULL), 0);
    void *r = P(-1);
    assert_int_equal(weft_await(t, &r), 0);
    if (!weft_runtime_spreads(weft_runtime()))
        assert_int_equal(I(r), 0);
    weft_task_release(t);
    /* bad placements */
    weft_task_opts_t bad = on_worker(3);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &bad), -EINVAL);
    bad = on_worker(-1);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &bad), -EINVAL);
    bad = (weft_task_opts_t){.place = 7};
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &bad), -EINVAL);
    return 0;
}

static void test_spawn_places_tasks_on_the_named_worker_and_refuses_bad_ones(void **state)
{
    (void)state;
    run_workers(3, placement_main, NULL);
    assert_int_equal(weft_worker_count(), -WEFT_ENOLOOP);
    assert_int_equal(weft_worker_index(), -WEFT_ENOLOOP);
    assert_null(weft_runtime());
}

/* One worker: every placement is the one loop. */
static int one_worker_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    assert_int_equal(weft_worker_count(), 1);
    weft_task_t *t;
    weft_task_opts_t any = {.place = WEFT_PLACE_ANY};
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &any), 0);
    void *r = P(-1);
    assert_int_equal(weft_await(t, &r), 0);
    assert_int_equal(I(r), 0);
    weft_task_release(t);
    weft_task_opts_t w0 = on_worker(0);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &w0), 0);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_spawn(&t, report_worker, NULL, &w1), -EINVAL);
    return 0;
}

static void test_one_worker_runs_every_placement_on_its_loop(void **state)
{
    (void)state;
    run_workers(1, one_worker_main, NULL);
}

/* ---- stealing ---- */

typedef struct {
    atomic_int ran_elsewhere; /* tasks that ran on a worker other than 0 */
    atomic_int ran;
} steal_t;

/* Holds its worker (no yield) until some task has run on another worker,
 * or 10 s pass: an idle worker must steal from this busy one. */
static int hog(void *arg, void **res)
{
    (void)res;
    steal_t *s = arg;
    atomic_fetch_add(&s->ran, 1);
    if (weft_worker_index() != 0) {
        atomic_fetch_add(&s->ran_elsewhere, 1);
        return 0;
    }
    int64_t end = weft_now() + WEFT_SEC(10);
    while (atomic_load(&s->ran_elsewhere) == 0 && weft_now() < end)
        ;
    return 0;
}

static int steal_main(void *arg, void **res)
{
    (void)res;
    steal_t *s = arg;
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    weft_task_opts_t any = {.place = WEFT_PLACE_ANY};
    for (int i = 0; i < 50; i++)
        assert_int_equal(weft_group_spawn(g, NULL, hog, s, &any), 0);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_idle_worker_steals_unstarted_tasks(void **state)
{
    (void)state;
    steal_t s = {0};
    run_workers(2, steal_main, &s);
    assert_int_equal(atomic_load(&s.ran), 50);
    assert_true(atomic_load(&s.ran_elsewhere) > 0);
}

/* ---- where a thief's run begins and ends ---- */

enum { PAIRS = 8 };

typedef struct {
    atomic_int gate_running, gate_open; /* the task holding worker 1 */
    atomic_int w1_ran, release;         /* the first stolen task holds worker 1 */
    atomic_int where[2 * PAIRS];        /* worker + 1 of each task, 0: not run */
    atomic_int ran;
} pairs_t;

typedef struct {
    pairs_t *p;
    int i;
} member_t;

static void spin_until(atomic_int *flag)
{
    int64_t end = weft_now() + WEFT_SEC(20);
    while (!atomic_load(flag) && weft_now() < end)
        ;
    assert_true(atomic_load(flag));
}

static int gate(void *arg, void **res)
{
    (void)res;
    pairs_t *p = arg;
    atomic_store(&p->gate_running, 1);
    spin_until(&p->gate_open);
    return 0;
}

/* Records its worker; the first to run on worker 1 holds it (no turn, so
 * no second steal) until main releases it. */
static int member(void *arg, void **res)
{
    (void)res;
    member_t *m = arg;
    pairs_t *p = m->p;
    int w = weft_worker_index();
    atomic_store(&p->where[m->i], w + 1);
    atomic_fetch_add(&p->ran, 1);
    if (w == 1 && atomic_exchange(&p->w1_ran, 1) == 0)
        spin_until(&p->release);
    return 0;
}

static int pairs_main(void *arg, void **res)
{
    (void)res;
    pairs_t *p = arg;
    member_t m[2 * PAIRS];
    weft_task_t *t[2 * PAIRS], *g;
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_spawn(&g, gate, p, &w1), 0);
    while (!atomic_load(&p->gate_running))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    /* pairs spawned side by side, plainly, in a runtime that spreads */
    for (int i = 0; i < 2 * PAIRS; i++) {
        m[i] = (member_t){p, i};
        assert_int_equal(weft_spawn(&t[i], member, &m[i], NULL), 0);
    }
    /* one turn of worker 0: it starts the first task of pair 0 */
    assert_int_equal(weft_yield(), 0);
    /* worker 1, free now, steals once (its first task then holds it);
     * worker 0 makes no turn meanwhile */
    atomic_store(&p->gate_open, 1);
    spin_until(&p->w1_ran);
    /* worker 0 starts what is left, one a turn */
    for (int i = 0; i < 4 * PAIRS; i++)
        assert_int_equal(weft_yield(), 0);
    atomic_store(&p->release, 1);
    /* worker 1 starts the rest of its run; worker 0, making no turn, steals
     * nothing back */
    int64_t end = weft_now() + WEFT_SEC(20);
    while (atomic_load(&p->ran) < 2 * PAIRS && weft_now() < end)
        ;
    await_release(g);
    for (int i = 0; i < 2 * PAIRS; i++)
        await_release(t[i]);
    return 0;
}

static void test_steal_takes_whole_pairs_after_the_owner_started_one_task(void **state)
{
    (void)state;
    pairs_t p = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, pairs_main, &p);
    assert_int_equal(atomic_load(&p.ran), 2 * PAIRS);
    int on1 = 0;
    for (int k = 0; k < PAIRS; k++) {
        int a = atomic_load(&p.where[2 * k]), b = atomic_load(&p.where[2 * k + 1]);
        if (a != b)
            fail_msg("pair %d split: worker %d and worker %d", k, a - 1, b - 1);
        on1 += a == 2;
    }
    /* pair 0's first task started on worker 0, so its second stayed */
    assert_int_equal(atomic_load(&p.where[0]), 1);
    assert_true(on1 >= 1);
}

typedef struct {
    atomic_int yielder_running, stop;
    atomic_int on1, ran;
} busy_t;

/* Keeps worker 1 busy: always one task ready there. */
static int yielder(void *arg, void **res)
{
    (void)res;
    busy_t *b = arg;
    atomic_store(&b->yielder_running, 1);
    int64_t end = weft_now() + WEFT_SEC(20);
    while (!atomic_load(&b->stop) && weft_now() < end)
        assert_int_equal(weft_yield(), 0);
    return 0;
}

static int busy_member(void *arg, void **res)
{
    (void)res;
    busy_t *b = arg;
    if (weft_worker_index() == 1)
        atomic_fetch_add(&b->on1, 1);
    atomic_fetch_add(&b->ran, 1);
    return 0;
}

static int busy_main(void *arg, void **res)
{
    (void)res;
    busy_t *b = arg;
    enum { N = 64 };
    weft_task_t *t[N], *y;
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_spawn(&y, yielder, b, &w1), 0);
    while (!atomic_load(&b->yielder_running))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_spawn(&t[i], busy_member, b, NULL), 0);
    /* worker 0 makes no turn: only a steal by busy worker 1 runs any */
    int64_t end = weft_now() + WEFT_SEC(20);
    while (atomic_load(&b->on1) == 0 && weft_now() < end)
        ;
    atomic_store(&b->stop, 1);
    assert_true(atomic_load(&b->on1) > 0);
    await_release(y);
    for (int i = 0; i < N; i++)
        await_release(t[i]);
    assert_int_equal(atomic_load(&b->ran), N);
    return 0;
}

static void test_busy_worker_steals_its_share_of_a_long_queue(void **state)
{
    (void)state;
    busy_t b = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, busy_main, &b);
}

/* ---- an idle worker woken early ---- */

typedef struct {
    atomic_int where[4]; /* worker + 1 of each task, 0: not run */
    atomic_int ran;
} early_t;

typedef struct {
    early_t *e;
    int i;
} early_member_t;

static int early_member(void *arg, void **res)
{
    (void)res;
    early_member_t *m = arg;
    atomic_store(&m->e->where[m->i], weft_worker_index() + 1);
    atomic_fetch_add(&m->e->ran, 1);
    return 0;
}

/* Main spawns at once, as a program's main does, and then computes
 * without a turn: worker 1, woken by a spawn if it parked, or on its
 * first turn if its thread was still starting, starts them meanwhile. */
static int early_main(void *arg, void **res)
{
    (void)res;
    early_t *e = arg;
    early_member_t m[4];
    weft_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (early_member_t){e, i};
        assert_int_equal(weft_spawn(&t[i], early_member, &m[i], NULL), 0);
    }
    int64_t end = weft_now() + WEFT_SEC(20);
    while (atomic_load(&e->ran) == 0 && weft_now() < end)
        ;
    assert_true(atomic_load(&e->ran) > 0);
    for (int i = 0; i < 4; i++)
        await_release(t[i]);
    return 0;
}

static void test_spawn_burst_at_mains_start_is_taken_by_an_idle_worker(void **state)
{
    (void)state;
    early_t e = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, early_main, &e);
    assert_int_equal(atomic_load(&e.ran), 4);
    /* the first task to run ran on worker 1: worker 0 was in main */
    int on1 = 0;
    for (int i = 0; i < 4; i++)
        on1 += atomic_load(&e.where[i]) == 2;
    assert_true(on1 >= 1);
}

/* ---- a small run stays together ----
 *
 * A run of at most 8 tasks spawned together is its spawner's worker's to
 * start for 100 us (worker.c): it starts them back to back and a thief
 * leaves them alone meanwhile; a task whose first step runs long leaves
 * the rest of its run to a thief once that grace is over. */

enum { GROUP = 4 };

typedef struct {
    atomic_int held, go;     /* worker 1's task, polling until main spawns */
    atomic_int where[GROUP]; /* worker + 1 of each member */
    _Atomic int64_t began[GROUP];
    weft_chan_t *ch;
    atomic_int done; /* the long first step's end */
} group_run_t;

static int poll_then_leave(void *arg, void **res)
{
    (void)res;
    group_run_t *g = arg;
    atomic_store(&g->held, 1);
    spin_until(&g->go);
    return 0; /* worker 1 turns at once: an idle thief, there to steal */
}

typedef struct {
    group_run_t *g;
    int i;
} run_member_t;

/* Members 0 and 1 send two values each, 2 and 3 receive two each: a
 * group that talks through one channel. */
static int run_member(void *arg, void **res)
{
    (void)res;
    run_member_t *m = arg;
    group_run_t *g = m->g;
    atomic_store(&g->began[m->i], weft_now());
    atomic_store(&g->where[m->i], weft_worker_index() + 1);
    for (int k = 0; k < 2; k++) {
        void *v;
        if (m->i < 2)
            assert_int_equal(weft_chan_send(g->ch, P(1)), 0);
        else
            assert_int_equal(weft_chan_recv(g->ch, &v), 0);
    }
    return 0;
}

static int group_run_main(void *arg, void **res)
{
    (void)res;
    group_run_t *g = arg;
    weft_task_t *holder, *t[GROUP];
    run_member_t m[GROUP];
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_chan_create(&g->ch, 0), 0);
    assert_int_equal(weft_spawn(&holder, poll_then_leave, g, &w1), 0);
    while (!atomic_load(&g->held))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    int64_t t0 = weft_now(); /* before the run's first spawn */
    atomic_store(&g->go, 1);
    for (int i = 0; i < GROUP; i++) {
        m[i] = (run_member_t){g, i};
        assert_int_equal(weft_spawn(&t[i], run_member, &m[i], NULL), 0);
    }
    for (int i = 0; i < GROUP; i++)
        await_release(t[i]);
    await_release(holder);
    assert_int_equal(weft_chan_destroy(g->ch), 0);
    /* Every member began within the grace (less a margin), so any look
     * a thief took was inside it: all ran here. A slower start (a
     * sanitizer, a preempted thread) leaves them fair game, and says
     * nothing. */
    bool in_grace = true;
    for (int i = 0; i < GROUP; i++)
        in_grace = in_grace && atomic_load(&g->began[i]) - t0 < WEFT_USEC(80);
    if (in_grace)
        for (int i = 0; i < GROUP; i++)
            assert_int_equal(atomic_load(&g->where[i]), 1);
    return 0;
}

static void test_small_run_spawned_together_starts_on_its_spawners_worker(void **state)
{
    (void)state;
    group_run_t g = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, group_run_main, &g);
    for (int i = 0; i < GROUP; i++)
        assert_int_not_equal(atomic_load(&g.where[i]), 0);
}

/* The first member computes until the second has run: only a thief can
 * run it, since worker 0 is inside the first member's first step. */
static int long_first(void *arg, void **res)
{
    (void)res;
    group_run_t *g = arg;
    atomic_store(&g->where[0], weft_worker_index() + 1);
    spin_until(&g->done);
    return 0;
}

static int short_second(void *arg, void **res)
{
    (void)res;
    group_run_t *g = arg;
    atomic_store(&g->where[1], weft_worker_index() + 1);
    atomic_store(&g->done, 1);
    return 0;
}

static int long_step_main(void *arg, void **res)
{
    (void)res;
    group_run_t *g = arg;
    weft_task_t *a, *b;
    assert_int_equal(weft_spawn(&a, long_first, g, NULL), 0);
    assert_int_equal(weft_spawn(&b, short_second, g, NULL), 0);
    await_release(a);
    await_release(b);
    return 0;
}

static void test_small_run_whose_first_task_computes_leaves_the_rest_to_a_thief(void **state)
{
    (void)state;
    group_run_t g = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, long_step_main, &g);
    /* the second ran while the first computed: on the other worker */
    assert_int_not_equal(atomic_load(&g.where[0]), 0);
    assert_int_not_equal(atomic_load(&g.where[1]), 0);
    assert_int_not_equal(atomic_load(&g.where[0]), atomic_load(&g.where[1]));
}

/* ---- the locality slot ----
 *
 * In a runtime that spreads, a task placed anywhere that a running step
 * wakes runs as soon as that step ends, ahead of the ready queue. Worker
 * 1 is held by a task that spins (no turn, so no steal), so every task
 * here runs on worker 0, in an order the tests can predict. */

typedef struct {
    atomic_int held, release; /* worker 1's holder */
    weft_chan_t *ch, *back;
    weft_event_t *go;
    char order[8];
    int norder;
    long trips;
    atomic_int pair_done;
    long other_turns;
} slot_t;

static int hold_worker(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    atomic_store(&s->held, 1);
    spin_until(&s->release);
    return 0;
}

static void hold_worker1(slot_t *s, weft_task_t **holder)
{
    weft_task_opts_t w1 = on_worker(1);
    assert_int_equal(weft_spawn(holder, hold_worker, s, &w1), 0);
    while (!atomic_load(&s->held))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
}

/* Receives once, then notes that it ran. */
static int slot_receiver(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    void *v;
    assert_int_equal(weft_chan_recv(s->ch, &v), 0);
    s->order[s->norder++] = 'X';
    return 0;
}

/* Waits for the event, then notes that it ran. */
static int slot_bystander(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    assert_int_equal(weft_event_wait(s->go), 0);
    s->order[s->norder++] = (char)I(*res);
    return 0;
}

static int slot_bystander_b(void *arg, void **res)
{
    *res = P('B');
    return slot_bystander(arg, res);
}

static int slot_bystander_c(void *arg, void **res)
{
    *res = P('C');
    return slot_bystander(arg, res);
}

static int slot_next_main(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    weft_task_t *holder, *x, *b, *c;
    hold_worker1(s, &holder);
    assert_int_equal(weft_chan_create(&s->ch, 0), 0);
    assert_int_equal(weft_event_create(&s->go), 0);
    /* X is placed anywhere (a plain spawn); B and C are pinned here, so
     * they keep the queue's order */
    assert_int_equal(weft_spawn(&x, slot_receiver, s, NULL), 0);
    assert_int_equal(weft_spawn(&b, slot_bystander_b, s, HERE), 0);
    assert_int_equal(weft_spawn(&c, slot_bystander_c, s, HERE), 0);
    wait_state(x, WEFT_TASK_WAITING);
    wait_state(b, WEFT_TASK_WAITING);
    wait_state(c, WEFT_TASK_WAITING);
    /* B and C go to the ready queue, then X, handed a value by this
     * step, takes the slot and runs first, as soon as this step ends */
    assert_int_equal(weft_event_set(s->go), 0);
    assert_int_equal(weft_chan_send(s->ch, P(1)), 0);
    assert_int_equal(weft_yield(), 0);
    atomic_store(&s->release, 1);
    await_release(x);
    await_release(b);
    await_release(c);
    await_release(holder);
    assert_int_equal(s->norder, 3);
    s->order[3] = 0;
    assert_string_equal(s->order, "XBC");
    assert_int_equal(weft_chan_destroy(s->ch), 0);
    assert_int_equal(weft_event_destroy(s->go), 0);
    return 0;
}

static void test_slot_runs_a_woken_task_before_the_ready_queue(void **state)
{
    (void)state;
    slot_t s = {0};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, slot_next_main, &s);
}

static int slot_ping(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    for (long i = 0; i < s->trips; i++) {
        void *v;
        assert_int_equal(weft_chan_send(s->ch, P(i)), 0);
        assert_int_equal(weft_chan_recv(s->back, &v), 0);
        assert_int_equal(I(v), i);
    }
    atomic_store(&s->pair_done, 1);
    return 0;
}

static int slot_pong(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    for (long i = 0; i < s->trips; i++) {
        void *v;
        assert_int_equal(weft_chan_recv(s->ch, &v), 0);
        assert_int_equal(weft_chan_send(s->back, v), 0);
    }
    return 0;
}

/* Counts its turns while the pair runs. */
static int slot_other(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    while (!atomic_load(&s->pair_done)) {
        s->other_turns++;
        assert_int_equal(weft_yield(), 0);
    }
    return 0;
}

static int slot_budget_main(void *arg, void **res)
{
    (void)res;
    slot_t *s = arg;
    weft_task_t *holder, *ping, *pong, *other;
    hold_worker1(s, &holder);
    assert_int_equal(weft_chan_create(&s->ch, 0), 0);
    assert_int_equal(weft_chan_create(&s->back, 0), 0);
    assert_int_equal(weft_spawn(&other, slot_other, s, HERE), 0);
    assert_int_equal(weft_spawn(&ping, slot_ping, s, NULL), 0);
    assert_int_equal(weft_spawn(&pong, slot_pong, s, NULL), 0);
    await_release(ping);
    await_release(pong);
    await_release(other);
    atomic_store(&s->release, 1);
    await_release(holder);
    assert_int_equal(weft_chan_destroy(s->ch), 0);
    assert_int_equal(weft_chan_destroy(s->back), 0);
    return 0;
}

static void test_slot_hand_offs_share_one_budget_so_a_third_task_gets_turns(void **state)
{
    (void)state;
    /* each round trip is two hand-offs through the slot, each step
     * spending two units and the hand-off one: a chain of one budget
     * carries about WEFT_COOP_BUDGET / 6 round trips, then the third
     * task gets a turn. Without the bound the pair would never leave
     * the slot and the third task would see one turn. */
    slot_t s = {.trips = 4000};
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, slot_budget_main, &s);
    assert_true(s.other_turns >= s.trips / WEFT_COOP_BUDGET);
}

/* ---- coordination across workers ---- */

typedef struct {
    weft_lock_t *lock;
    weft_sem_t *sem;
    weft_event_t *go;
    long counter; /* guarded by lock */
    atomic_int inside; /* holders of sem now */
    atomic_int max_inside;
} shared_t;

static int locker(void *arg, void **res)
{
    (void)res;
    shared_t *sh = arg;
    assert_int_equal(weft_event_wait(sh->go), 0);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(weft_lock_acquire(sh->lock), 0);
        long v = sh->counter;
        if (i % 7 == 0)
            assert_int_equal(weft_yield(), 0); /* others on this worker run meanwhile */
        sh->counter = v + 1;
        assert_int_equal(weft_lock_release(sh->lock), 0);
        assert_int_equal(weft_sem_acquire(sh->sem), 0);
        int n = atomic_fetch_add(&sh->inside, 1) + 1;
        int m = atomic_load(&sh->max_inside);
        while (n > m && !atomic_compare_exchange_weak(&sh->max_inside, &m, n))
            ;
        if (i % 5 == 0)
            assert_int_equal(weft_yield(), 0);
        atomic_fetch_sub(&sh->inside, 1);
        assert_int_equal(weft_sem_release(sh->sem), 0);
    }
    return 0;
}

static int coordination_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    shared_t sh = {0};
    assert_int_equal(weft_lock_create(&sh.lock), 0);
    assert_int_equal(weft_sem_create(&sh.sem, 2, 0), 0);
    assert_int_equal(weft_event_create(&sh.go), 0);
    weft_task_t *t[8];
    for (int i = 0; i < 8; i++) {
        weft_task_opts_t o = on_worker(i % 2);
        assert_int_equal(weft_spawn(&t[i], locker, &sh, &o), 0);
    }
    assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_event_set(sh.go), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(weft_await(t[i], NULL), 0);
        weft_task_release(t[i]);
    }
    assert_int_equal(sh.counter, 8 * 200);
    assert_true(atomic_load(&sh.max_inside) <= 2);
    assert_int_equal(weft_lock_destroy(sh.lock), 0);
    assert_int_equal(weft_sem_destroy(sh.sem), 0);
    assert_int_equal(weft_event_destroy(sh.go), 0);
    return 0;
}

static void test_lock_sem_and_event_coordinate_tasks_across_workers(void **state)
{
    (void)state;
    run_workers(2, coordination_main, NULL);
}

/* A lock released while another worker's task waits is freed for that
 * waiter to compete for: a task hammering the lock on worker 0 without
 * ever yielding may win one race, but the waiter on worker 1 is then
 * handed the lock at the next release, so the loop below ends. */
typedef struct {
    weft_lock_t *lock;
    weft_event_t *b_ready;
    atomic_int b_has;
    long a_iters;
} barge_t;

static int barge_waiter(void *arg, void **res)
{
    (void)res;
    barge_t *s = arg;
    assert_int_equal(weft_event_set(s->b_ready), 0);
    assert_int_equal(weft_lock_acquire(s->lock), 0);
    atomic_store(&s->b_has, 1);
    assert_int_equal(weft_lock_release(s->lock), 0);
    return 0;
}

static int barge_hammer(void *arg, void **res)
{
    (void)res;
    barge_t *s = arg;
    assert_int_equal(weft_lock_acquire(s->lock), 0);
    assert_int_equal(weft_event_wait(s->b_ready), 0); /* B is about to wait */
    assert_int_equal(weft_lock_release(s->lock), 0);
    long i = 0;
    while (!atomic_load(&s->b_has)) {
        assert_int_equal(weft_lock_acquire(s->lock), 0);
        i++;
        assert_int_equal(weft_lock_release(s->lock), 0);
    }
    s->a_iters = i;
    return 0;
}

static int barge_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    for (int round = 0; round < 20; round++) {
        barge_t s = {0};
        assert_int_equal(weft_lock_create(&s.lock), 0);
        assert_int_equal(weft_event_create(&s.b_ready), 0);
        weft_task_t *a, *b;
        weft_task_opts_t o0 = on_worker(0), o1 = on_worker(1);
        assert_int_equal(weft_spawn(&a, barge_hammer, &s, &o0), 0);
        assert_int_equal(weft_spawn(&b, barge_waiter, &s, &o1), 0);
        assert_int_equal(weft_await(a, NULL), 0);
        assert_int_equal(weft_await(b, NULL), 0);
        weft_task_release(a);
        weft_task_release(b);
        assert_int_equal(atomic_load(&s.b_has), 1);
        assert_false(weft_lock_locked(s.lock));
        assert_int_equal(weft_lock_destroy(s.lock), 0);
        assert_int_equal(weft_event_destroy(s.b_ready), 0);
    }
    return 0;
}

static void test_lock_waiter_on_other_worker_is_not_starved(void **state)
{
    (void)state;
    run_workers(2, barge_main, NULL);
}

/* The waiter woken to compete for a freed lock is cancelled before it
 * runs (its worker is busy meanwhile): it returns -ECANCELED without the
 * lock and wakes the next waiter, who gets it. */
typedef struct {
    weft_lock_t *lock;
    atomic_int blocker_in, go;
} wc_t;

static int wc_acquirer(void *arg, void **res)
{
    (void)res;
    wc_t *s = arg;
    int rc = weft_lock_acquire(s->lock);
    if (rc == 0)
        assert_int_equal(weft_lock_release(s->lock), 0);
    return rc;
}

static int wc_blocker(void *arg, void **res)
{
    (void)res;
    wc_t *s = arg;
    atomic_store(&s->blocker_in, 1);
    while (!atomic_load(&s->go))
        ; /* keeps its worker from running anything else */
    return 0;
}

static int woken_cancel_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    wc_t s = {0};
    assert_int_equal(weft_lock_create(&s.lock), 0);
    assert_int_equal(weft_lock_acquire(s.lock), 0);
    weft_task_t *b, *c, *blk;
    weft_task_opts_t o0 = on_worker(0), o1 = on_worker(1);
    assert_int_equal(weft_spawn(&b, wc_acquirer, &s, &o1), 0);
    wait_state(b, WEFT_TASK_WAITING); /* first in line, on worker 1 */
    assert_int_equal(weft_spawn(&c, wc_acquirer, &s, &o0), 0);
    wait_state(c, WEFT_TASK_WAITING); /* second, on this worker */
    assert_int_equal(weft_spawn(&blk, wc_blocker, &s, &o1), 0);
    while (!atomic_load(&s.blocker_in))
        assert_int_equal(weft_yield(), 0);
    assert_int_equal(weft_lock_release(s.lock), 0); /* b is woken to compete */
    assert_int_equal(weft_cancel(b), 0);
    atomic_store(&s.go, 1);
    assert_int_equal(weft_await(b, NULL), -ECANCELED);
    assert_int_equal(weft_await(c, NULL), 0);
    assert_int_equal(weft_await(blk, NULL), 0);
    weft_task_release(b);
    weft_task_release(c);
    weft_task_release(blk);
    assert_false(weft_lock_locked(s.lock));
    assert_int_equal(weft_lock_destroy(s.lock), 0);
    return 0;
}

static void test_lock_woken_waiter_cancelled_wakes_next(void **state)
{
    (void)state;
    run_workers(2, woken_cancel_main, NULL);
}

/* Cross-worker contention with cancellations landing anywhere (while
 * waiting, after being handed the lock, after being woken to compete
 * for it): the count under the lock equals the successful sections, and
 * the lock ends free with nobody waiting. */
typedef struct {
    weft_lock_t *lock;
    long counter; /* guarded by lock */
    atomic_long sections;
} lockc_t;

static int lock_canceled_worker(void *arg, void **res)
{
    (void)res;
    lockc_t *s = arg;
    long mine = 0;
    int rc = 0;
    for (int i = 0; i < 300; i++) {
        if ((rc = weft_lock_acquire(s->lock)) != 0)
            break;
        long v = s->counter;
        if (i % 3 == 0)
            (void)weft_yield(); /* -ECANCELED here still leaves the lock ours */
        s->counter = v + 1;
        mine++;
        assert_int_equal(weft_lock_release(s->lock), 0);
    }
    atomic_fetch_add(&s->sections, mine);
    assert_true(rc == 0 || rc == -ECANCELED);
    return 0;
}

static int lock_cancel_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int rounds = (int)(20 * test_scale()) + 1;
    for (int round = 0; round < rounds; round++) {
        lockc_t s = {0};
        assert_int_equal(weft_lock_create(&s.lock), 0);
        weft_task_t *t[8];
        for (int i = 0; i < 8; i++) {
            weft_task_opts_t o = on_worker(i % 2);
            assert_int_equal(weft_spawn(&t[i], lock_canceled_worker, &s, &o), 0);
        }
        for (int i = 0; i < 8; i++) {
            if (i % 3 == round % 3) {
                for (int k = 0; k < round % 5; k++)
                    assert_int_equal(weft_yield(), 0);
                weft_cancel(t[i]);
            }
        }
        for (int i = 0; i < 8; i++) {
            int rc = weft_await(t[i], NULL); /* -ECANCELED: cancelled before it ran */
            assert_true(rc == 0 || rc == -ECANCELED);
            weft_task_release(t[i]);
        }
        assert_int_equal(s.counter, atomic_load(&s.sections));
        assert_false(weft_lock_locked(s.lock));
        assert_int_equal(weft_lock_try_acquire(s.lock), 0);
        assert_int_equal(weft_lock_release(s.lock), 0);
        assert_int_equal(weft_lock_destroy(s.lock), 0);
    }
    return 0;
}

static void test_lock_across_workers_with_cancellation(void **state)
{
    (void)state;
    run_workers(2, lock_cancel_main, NULL);
    run_workers(4, lock_cancel_main, NULL);
}

/* A future set on worker 1 wakes its awaiter on worker 0, and back. */
static int set_future(void *arg, void **res)
{
    (void)res;
    return weft_future_set_result(arg, P(weft_worker_index() + 100));
}

static int future_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    for (int round = 0; round < 100; round++) {
        weft_future_t *f;
        assert_int_equal(weft_future_create(&f), 0);
        weft_task_opts_t o = on_worker(1);
        assert_int_equal(weft_spawn(NULL, set_future, f, &o), 0);
        void *r = NULL;
        assert_int_equal(weft_future_await(f, &r), 0);
        assert_int_equal(I(r), 101);
        assert_int_equal(weft_future_destroy(f), 0);
    }
    return 0;
}

static void test_future_set_on_one_worker_wakes_its_awaiter_on_another(void **state)
{
    (void)state;
    run_workers(2, future_main, NULL);
}

/* ---- cancellation and deadlines across workers ---- */

static int sleep_long(void *arg, void **res)
{
    (void)res;
    atomic_int *started = arg;
    atomic_store(started, 1);
    return weft_sleep(WEFT_SEC(3600));
}

static int wait_future_with_deadline(void *arg, void **res)
{
    (void)res;
    weft_deadline_t d;
    assert_int_equal(weft_deadline_push(&d, WEFT_MSEC(20)), 0);
    int rc = weft_future_await(arg, NULL);
    weft_deadline_pop(&d);
    return rc;
}

static int cancel_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    atomic_int started = 0;
    weft_task_t *t;
    weft_task_opts_t o = on_worker(1);
    assert_int_equal(weft_spawn(&t, sleep_long, &started, &o), 0);
    while (!atomic_load(&started))
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_int_equal(weft_cancel(t), 0);
    /* twice: one unwinding; worker 1 may have finished it meanwhile */
    int again = weft_cancel(t);
    assert_true(again == 0 || again == -EALREADY);
    assert_int_equal(weft_await(t, NULL), -ECANCELED);
    assert_true(weft_task_done(t));
    assert_int_equal(weft_cancel(t), -EALREADY);
    weft_task_release(t);

    /* a deadline on worker 1 around a wait for worker 0's future */
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    assert_int_equal(weft_spawn(&t, wait_future_with_deadline, f, &o), 0);
    assert_int_equal(weft_await(t, NULL), -ETIMEDOUT);
    weft_task_release(t);
    assert_int_equal(weft_future_destroy(f), 0);

    /* wait_for on another worker's task */
    started = 0;
    assert_int_equal(weft_spawn(&t, sleep_long, &started, &o), 0);
    assert_int_equal(weft_wait_for(t, WEFT_MSEC(10), NULL), -ETIMEDOUT);
    assert_true(weft_task_done(t));
    weft_task_release(t);
    return 0;
}

static void test_cancel_and_deadline_reach_tasks_on_another_worker(void **state)
{
    (void)state;
    run_workers(2, cancel_main, NULL);
}

/* ---- groups ---- */

static int fail_later(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_sleep(WEFT_MSEC(5));
    return -EIO;
}

static int group_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    atomic_int started = 0;
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < 6; i++) {
        weft_task_opts_t o = on_worker(i % 3);
        assert_int_equal(weft_group_spawn(g, NULL, sleep_long, &started, &o), 0);
    }
    weft_task_opts_t o = on_worker(2);
    assert_int_equal(weft_group_spawn(g, NULL, fail_later, NULL, &o), 0);
    assert_int_equal(weft_group_wait(g), -EIO);
    assert_int_equal(weft_group_destroy(g), 0);
    return 0;
}

static void test_group_failure_cancels_siblings_on_every_worker(void **state)
{
    (void)state;
    run_workers(3, group_main, NULL);
}

/* ---- stress: queues and channels, random cancellation ---- */

#define NPROD 4
#define NCONS 6

typedef struct {
    weft_queue_t *q;
    weft_chan_t *ch;
    int per_producer;
    atomic_uchar *seen; /* NPROD * per_producer counters */
    atomic_int got;
    atomic_int dup;
    weft_task_t *cons[NCONS];
} stress_t;

static int producer(void *arg, void **res)
{
    stress_t *s = *(stress_t **)arg;
    int id = (int)(intptr_t)((void **)arg)[1];
    (void)res;
    for (int i = 0; i < s->per_producer; i++) {
        intptr_t item = (intptr_t)id * s->per_producer + i + 1;
        /* half through the queue, half through the channel */
        int rc = (i & 1) ? weft_chan_send(s->ch, P(item)) : weft_queue_put(s->q, P(item));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void record(stress_t *s, void *v)
{
    intptr_t k = I(v) - 1;
    if (atomic_fetch_add(&s->seen[k], 1) != 0)
        atomic_fetch_add(&s->dup, 1);
    atomic_fetch_add(&s->got, 1);
}

/* Takes from both until cancelled; a cancelled get or recv took nothing. */
static int consumer(void *arg, void **res)
{
    (void)res;
    stress_t *s = arg;
    for (unsigned n = 0;; n++) {
        void *v = NULL;
        int rc = (n & 1) ? weft_chan_recv(s->ch, &v) : weft_queue_get(s->q, &v);
        if (rc == -ECANCELED || rc == -EPIPE || rc == -ESHUTDOWN)
            return 0;
        if (rc == -EAGAIN)
            continue;
        assert_int_equal(rc, 0);
        record(s, v);
    }
}

/* Drains what is left once the producers are done. */
static int drainer(void *arg, void **res)
{
    (void)res;
    stress_t *s = arg;
    void *v;
    while (weft_queue_try_get(s->q, &v) == 0)
        record(s, v);
    while (weft_chan_try_recv(s->ch, &v) == 0)
        record(s, v);
    return 0;
}

static int stress_main(void *arg, void **res)
{
    (void)res;
    stress_t *s = arg;
    int nw = weft_worker_count();
    assert_int_equal(weft_queue_create(&s->q, WEFT_QUEUE_FIFO, 8, NULL), 0);
    assert_int_equal(weft_chan_create(&s->ch, 4), 0);
    void *pargs[NPROD][2];
    weft_task_t *prod[NPROD];
    for (int i = 0; i < NCONS; i++) {
        weft_task_opts_t o = on_worker((i + 1) % nw);
        assert_int_equal(weft_spawn(&s->cons[i], consumer, s, &o), 0);
    }
    for (int i = 0; i < NPROD; i++) {
        pargs[i][0] = s;
        pargs[i][1] = P(i);
        weft_task_opts_t o = on_worker(i % nw);
        assert_int_equal(weft_spawn(&prod[i], producer, pargs[i], &o), 0);
    }
    /* cancel consumers at random moments and start fresh ones */
    unsigned seed = 12345;
    for (int round = 0; round < 40; round++) {
        assert_int_equal(weft_sleep(WEFT_USEC(200 + rand_r(&seed) % 500)), 0);
        int k = (int)(rand_r(&seed) % NCONS);
        assert_int_equal(weft_cancel(s->cons[k]), 0);
        int rc = weft_await(s->cons[k], NULL); /* -ECANCELED: it never started */
        assert_true(rc == 0 || rc == -ECANCELED);
        weft_task_release(s->cons[k]);
        weft_task_opts_t o = on_worker(rand_r(&seed) % (unsigned)nw);
        assert_int_equal(weft_spawn(&s->cons[k], consumer, s, &o), 0);
    }
    for (int i = 0; i < NPROD; i++) {
        assert_int_equal(weft_await(prod[i], NULL), 0);
        weft_task_release(prod[i]);
    }
    for (int i = 0; i < NCONS; i++) {
        assert_int_equal(weft_cancel(s->cons[i]), 0);
        int rc = weft_await(s->cons[i], NULL);
        assert_true(rc == 0 || rc == -ECANCELED);
        weft_task_release(s->cons[i]);
    }
    weft_task_t *d;
    weft_task_opts_t o = on_worker(nw - 1);
    assert_int_equal(weft_spawn(&d, drainer, s, &o), 0);
    assert_int_equal(weft_await(d, NULL), 0);
    weft_task_release(d);
    assert_int_equal(weft_queue_destroy(s->q), 0);
    assert_int_equal(weft_chan_destroy(s->ch), 0);
    return 0;
}

static void stress_with(int workers)
{
    stress_t s = {0};
    s.per_producer = (int)(2000 * test_scale());
    if (s.per_producer < 20)
        s.per_producer = 20;
    int total = NPROD * s.per_producer;
    s.seen = calloc((size_t)total, sizeof *s.seen);
    assert_non_null(s.seen);
    run_workers(workers, stress_main, &s);
    assert_int_equal(atomic_load(&s.dup), 0);
    assert_int_equal(atomic_load(&s.got), total);
    for (int i = 0; i < total; i++)
        assert_int_equal(atomic_load(&s.seen[i]), 1);
    free(s.seen);
}

static void test_queues_and_channels_on_2_workers_lose_nothing_under_cancel(void **state)
{
    (void)state;
    stress_with(2);
}

static void test_queues_and_channels_on_4_workers_lose_nothing_under_cancel(void **state)
{
    (void)state;
    stress_with(4);
}

/* ---- every primitive across workers under random cancellation ----
 *
 * Three runs of tasks placed on random workers (4, or WEFT_WORKERS when
 * that asks for 2 or more), in a runtime that spreads, while the main
 * task cancels some of them at random moments and starts fresh ones;
 * waits also end by deadlines. The tasks check nothing with cmocka (they
 * run on other threads): they note the line of the first failed check,
 * and every outcome is checked by counts and sums once the run is over.
 * Each run is a few thousand operations (scaled by WEFT_TEST_SCALE): well
 * under a second in Release, a few seconds under TSan (scale 0.2). */

typedef struct {
    atomic_int bad; /* line of the first failed check inside a task, 0 if none */
    int nw;
    unsigned seed; /* the main task's random numbers (rand_r) */
} px_t;

#define PX_CHECK(px, cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            int px_zero_ = 0;                                                                      \
            atomic_compare_exchange_strong(&(px)->bad, &px_zero_, __LINE__);                       \
        }                                                                                          \
    } while (0)

static int px_workers(void)
{
    const char *w = getenv("WEFT_WORKERS");
    int n = w && *w ? atoi(w) : 0;
    return n >= 2 && n <= 64 ? n : 4;
}

/* A task's own random numbers (xorshift). */
static unsigned px_rnd(unsigned *s)
{
    unsigned x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static weft_task_opts_t px_place(px_t *px)
{
    return on_worker((int)(rand_r(&px->seed) % (unsigned)px->nw));
}

/* What a crew task gets: the run's state and a seed of its own. */
typedef struct {
    void *s;
    unsigned seed;
    int slot;
} px_arg_t;

/* A crew: n tasks running fn on random workers, cancelled at random and
 * started anew (same slot, same arg) until the main task stops them. A
 * body returns 0 when cancelled or told to stop, so awaiting it gives 0,
 * or -ECANCELED when it was cancelled before it started. */
#define CREW_MAX 8

typedef struct {
    px_t *px;
    weft_task_fn fn;
    px_arg_t arg[CREW_MAX];
    weft_task_t *t[CREW_MAX];
    int n;
    int cancels;
} crew_t;

static void crew_init(crew_t *c, px_t *px, weft_task_fn fn, void *s, int n)
{
    c->px = px, c->fn = fn, c->n = n, c->cancels = 0;
    for (int i = 0; i < n; i++)
        c->arg[i] = (px_arg_t){s, 2654435761u * (unsigned)(i + 1) ^ (unsigned)(uintptr_t)fn, i};
}

static void crew_spawn(crew_t *c, int i)
{
    weft_task_opts_t o = px_place(c->px);
    assert_int_equal(weft_spawn(&c->t[i], c->fn, &c->arg[i], &o), 0);
}

static void crew_start(crew_t *c)
{
    for (int i = 0; i < c->n; i++)
        crew_spawn(c, i);
}

static void crew_end(crew_t *c, int i)
{
    int crc = weft_cancel(c->t[i]); /* -EALREADY: it saw `stop` and ended */
    assert_true(crc == 0 || crc == -EALREADY);
    int rc = weft_await(c->t[i], NULL);
    assert_true(rc == 0 || rc == -ECANCELED);
    weft_task_release(c->t[i]);
    c->t[i] = NULL;
}

/* One random cancellation in one of the crews, after a random pause. */
static void crews_chaos(crew_t **crews, int ncrews)
{
    px_t *px = crews[0]->px;
    assert_int_equal(weft_sleep(WEFT_USEC(50 + rand_r(&px->seed) % 400)), 0);
    crew_t *c = crews[rand_r(&px->seed) % (unsigned)ncrews];
    int i = (int)(rand_r(&px->seed) % (unsigned)c->n);
    crew_end(c, i);
    c->cancels++;
    crew_spawn(c, i);
}

static void crew_stop(crew_t *c)
{
    for (int i = 0; i < c->n; i++)
        crew_end(c, i);
}

/* Pushes a deadline of 0.1 .. 1.5 ms on one call in three. */
static bool px_maybe_deadline(weft_deadline_t *d, unsigned *r)
{
    if (px_rnd(r) % 3)
        return false;
    return weft_deadline_push(d, WEFT_USEC(100 + px_rnd(r) % 1400)) == 0;
}

static int px_scaled(int n, int lo)
{
    int v = (int)(n * test_scale());
    return v < lo ? lo : v;
}

/* ---- locks, conditions and semaphores ---- */

#define SEM_PERMITS 3

typedef struct {
    px_t px;
    weft_lock_t *lock;
    weft_cond_t *cond;
    weft_sem_t *sem;
    atomic_bool stop;
    int n; /* ids 0 .. n-1 pass from lockers to consumers */
    /* under lock */
    long plain;    /* bumped by every holder of the lock, unatomically */
    int next_id;   /* the next id a holder puts in the ring */
    int ring_head; /* ids ring_head .. next_id-1 wait in the ring */
    /* atomics */
    atomic_int produced; /* next_id, for the main task to watch */
    atomic_int inside;   /* holders of the lock right now: at most 1 */
    atomic_long acquired;
    atomic_int permits_out; /* holders of a permit right now */
    atomic_long permits_taken;
    atomic_long timeouts;
    atomic_uchar *sent, *recvd;
} lcs_t;

/* Takes the lock (under a deadline now and then), bumps `plain`, puts
 * the next id in the ring and notifies one consumer. */
static int lcs_locker(void *arg, void **res)
{
    (void)res;
    px_arg_t *a = arg;
    lcs_t *s = a->s;
    while (!atomic_load(&s->stop)) {
        weft_deadline_t d;
        bool dl = px_maybe_deadline(&d, &a->seed);
        int rc = weft_lock_acquire(s->lock);
        if (dl)
            weft_deadline_pop(&d);
        if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&s->timeouts, 1);
            continue;
        }
        if (rc == -ECANCELED)
            return 0;
        PX_CHECK(&s->px, rc == 0);
        if (rc != 0)
            return 0;
        PX_CHECK(&s->px, atomic_fetch_add(&s->inside, 1) == 0);
        s->plain++;
        if (s->next_id < s->n) {
            atomic_store(&s->sent[s->next_id], 1);
            s->next_id++;
            atomic_store(&s->produced, s->next_id);
            PX_CHECK(&s->px, weft_cond_notify(s->cond, 1) >= 0);
        }
        bool cancelled = px_rnd(&a->seed) % 4 == 0 && weft_yield() < 0; /* hold it a turn */
        atomic_fetch_sub(&s->inside, 1);
        atomic_fetch_add(&s->acquired, 1);
        PX_CHECK(&s->px, weft_lock_release(s->lock) == 0);
        if (cancelled)
            return 0;
    }
    return 0;
}

static bool lcs_ready(void *arg)
{
    lcs_t *s = arg;
    return s->ring_head < s->next_id || atomic_load(&s->stop);
}

/* Waits on the condition for ids and takes them, one at a time. */
static int lcs_consumer(void *arg, void **res)
{
    (void)res;
    px_arg_t *a = arg;
    lcs_t *s = a->s;
    for (;;) {
        int rc = weft_lock_acquire(s->lock);
        if (rc == -ECANCELED)
            return 0;
        PX_CHECK(&s->px, rc == 0);
        if (rc != 0)
            return 0;
        weft_deadline_t d;
        bool dl = px_maybe_deadline(&d, &a->seed);
        rc = weft_cond_wait_for(s->cond, lcs_ready, s); /* the lock is held again, whatever rc */
        if (dl)
            weft_deadline_pop(&d);
        PX_CHECK(&s->px, rc == 0 || rc == -ECANCELED || rc == -ETIMEDOUT);
        PX_CHECK(&s->px, atomic_fetch_add(&s->inside, 1) == 0);
        s->plain++;
        bool took = false;
        if (rc == 0 && s->ring_head < s->next_id) {
            int id = s->ring_head++;
            PX_CHECK(&s->px, atomic_fetch_add(&s->recvd[id], 1) == 0);
            took = true;
        }
        atomic_fetch_sub(&s->inside, 1);
        atomic_fetch_add(&s->acquired, 1);
        PX_CHECK(&s->px, weft_lock_release(s->lock) == 0);
        if (rc == -ECANCELED || (!took && atomic_load(&s->stop)))
            return 0;
        if (rc == -ETIMEDOUT)
            atomic_fetch_add(&s->timeouts, 1);
    }
}

/* Takes a permit (under a deadline now and then), holds it a moment. */
static int lcs_semer(void *arg, void **res)
{
    (void)res;
    px_arg_t *a = arg;
    lcs_t *s = a->s;
    while (!atomic_load(&s->stop)) {
        weft_deadline_t d;
        bool dl = px_maybe_deadline(&d, &a->seed);
        int rc = weft_sem_acquire(s->sem);
        if (dl)
            weft_deadline_pop(&d);
        if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&s->timeouts, 1);
            continue;
        }
        if (rc == -ECANCELED)
            return 0;
        PX_CHECK(&s->px, rc == 0);
        if (rc != 0)
            return 0;
        PX_CHECK(&s->px, atomic_fetch_add(&s->permits_out, 1) < SEM_PERMITS);
        bool cancelled = px_rnd(&a->seed) % 2 == 0 && weft_yield() < 0;
        atomic_fetch_sub(&s->permits_out, 1);
        atomic_fetch_add(&s->permits_taken, 1);
        PX_CHECK(&s->px, weft_sem_release(s->sem) == 0);
        if (cancelled)
            return 0;
    }
    return 0;
}

static int lcs_main(void *arg, void **res)
{
    (void)res;
    lcs_t *s = arg;
    assert_true(weft_runtime_spreads(weft_runtime()));
    assert_int_equal(weft_lock_create(&s->lock), 0);
    assert_int_equal(weft_cond_create(&s->cond, s->lock), 0);
    assert_int_equal(weft_sem_create(&s->sem, SEM_PERMITS, WEFT_SEM_BOUNDED), 0);
    crew_t lockers, consumers, semers;
    crew_init(&lockers, &s->px, lcs_locker, s, 5);
    crew_init(&consumers, &s->px, lcs_consumer, s, 4);
    crew_init(&semers, &s->px, lcs_semer, s, 6);
    crew_t *all[] = {&lockers, &consumers, &semers};
    for (int i = 0; i < 3; i++)
        crew_start(all[i]);
    int64_t end = weft_now() + WEFT_SEC(60);
    for (int round = 0, least = px_scaled(60, 10); round < least || atomic_load(&s->produced) < s->n;
         round++) {
        crews_chaos(all, 3);
        assert_true(weft_now() < end);
    }
    atomic_store(&s->stop, true);
    /* wake every consumer, so each sees `stop` */
    assert_int_equal(weft_lock_acquire(s->lock), 0);
    assert_true(weft_cond_notify_all(s->cond) >= 0);
    assert_int_equal(weft_lock_release(s->lock), 0);
    for (int i = 0; i < 3; i++)
        crew_stop(all[i]);
    /* what the consumers left in the ring */
    assert_int_equal(weft_lock_acquire(s->lock), 0);
    while (s->ring_head < s->next_id)
        atomic_fetch_add(&s->recvd[s->ring_head++], 1);
    assert_int_equal(weft_lock_release(s->lock), 0);
    /* nothing held, no waiter left behind, every permit back */
    assert_false(weft_lock_locked(s->lock));
    assert_int_equal(weft_lock_waiters(s->lock), 0);
    assert_int_equal(weft_sem_value(s->sem), SEM_PERMITS);
    assert_int_equal(weft_sem_waiters(s->sem), 0);
    assert_int_equal(weft_cond_destroy(s->cond), 0);
    assert_int_equal(weft_lock_destroy(s->lock), 0);
    assert_int_equal(weft_sem_destroy(s->sem), 0);
    assert_true(lockers.cancels + consumers.cancels + semers.cancels > 0);
    return 0;
}

static void test_locks_conditions_and_semaphores_across_workers_lose_nothing_under_cancel(
    void **state)
{
    (void)state;
    lcs_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->px.nw = px_workers();
    s->px.seed = 20261207;
    s->n = px_scaled(1500, 150);
    s->sent = calloc((size_t)s->n, 1);
    s->recvd = calloc((size_t)s->n, 1);
    assert_true(s->sent && s->recvd);
    weft_config_t cfg = {.workers = s->px.nw, .spread = true};
    run_config(&cfg, lcs_main, s);
    assert_int_equal(atomic_load(&s->px.bad), 0);
    /* mutual exclusion: no lost update of the unatomic counter */
    assert_int_equal(s->plain, atomic_load(&s->acquired));
    /* every id put in the ring was taken exactly once */
    assert_int_equal(s->next_id, s->n);
    for (int i = 0; i < s->n; i++) {
        assert_int_equal(s->sent[i], 1);
        assert_int_equal(s->recvd[i], 1);
    }
    assert_true(atomic_load(&s->permits_taken) > 0);
    free(s->sent);
    free(s->recvd);
    free(s);
}

/* ---- events, barriers, futures and await ---- */

#define EBF_K 6       /* waiters a round */
#define EBF_PARTIES 4 /* a barrier's parties */
#define EBF_NONE 1    /* a slot's rc before its task returned */

typedef struct {
    px_t px;
    weft_event_t *e;
    weft_barrier_t *b;
    weft_future_t *f;
    weft_task_t *target;
    atomic_int rc[EBF_K];
    atomic_int arrived[EBF_K];
    void *val[EBF_K];
    int round;
    long woken, cancelled_early, broken_rounds, whole_rounds;
} ebf_t;

typedef struct {
    ebf_t *s;
    int i;
} ebf_arg_t;

static int ebf_event_waiter(void *arg, void **res)
{
    (void)res;
    ebf_arg_t *a = arg;
    atomic_store(&a->s->rc[a->i], weft_event_wait(a->s->e));
    return 0;
}

static int ebf_barrier_waiter(void *arg, void **res)
{
    (void)res;
    ebf_arg_t *a = arg;
    atomic_store(&a->s->arrived[a->i], 1);
    atomic_store(&a->s->rc[a->i], weft_barrier_wait(a->s->b));
    return 0;
}

static int ebf_future_waiter(void *arg, void **res)
{
    (void)res;
    ebf_arg_t *a = arg;
    int rc = weft_future_await(a->s->f, &a->s->val[a->i]);
    atomic_store(&a->s->rc[a->i], rc);
    return 0;
}

static int ebf_future_setter(void *arg, void **res)
{
    (void)res;
    ebf_t *s = arg;
    unsigned r = (unsigned)s->round * 7919u + 1;
    if (weft_sleep(WEFT_USEC(px_rnd(&r) % 300)) == 0)
        PX_CHECK(&s->px, weft_future_set_result(s->f, P(s->round + 1)) == 0);
    else
        PX_CHECK(&s->px, false);
    return 0;
}

static int ebf_target(void *arg, void **res)
{
    ebf_t *s = arg;
    unsigned r = (unsigned)s->round * 104729u + 3;
    int rc = weft_sleep(WEFT_USEC(px_rnd(&r) % 300));
    PX_CHECK(&s->px, rc == 0);
    *res = P(s->round + 7);
    return 0;
}

static int ebf_awaiter(void *arg, void **res)
{
    (void)res;
    ebf_arg_t *a = arg;
    int rc = weft_await(a->s->target, &a->s->val[a->i]);
    atomic_store(&a->s->rc[a->i], rc);
    return 0;
}

/* Spawns k tasks of fn on random workers, cancels each with odds of one
 * in three at a random moment; *cancelled[i] says which. */
static void ebf_spawn_and_cancel(ebf_t *s, weft_task_fn fn, ebf_arg_t *args, weft_task_t **t,
                                 bool *cancelled, int k)
{
    for (int i = 0; i < k; i++) {
        atomic_store(&s->rc[i], EBF_NONE);
        atomic_store(&s->arrived[i], 0);
        s->val[i] = NULL;
        args[i] = (ebf_arg_t){s, i};
        weft_task_opts_t o = px_place(&s->px);
        assert_int_equal(weft_spawn(&t[i], fn, &args[i], &o), 0);
    }
    assert_int_equal(weft_sleep(WEFT_USEC(rand_r(&s->px.seed) % 300)), 0);
    for (int i = 0; i < k; i++) {
        cancelled[i] = false;
        if (rand_r(&s->px.seed) % 3 == 0) {
            int rc = weft_cancel(t[i]); /* -EALREADY: it has finished */
            assert_true(rc == 0 || rc == -EALREADY);
            cancelled[i] = rc == 0;
        }
    }
}

static void ebf_await_all(weft_task_t **t, int k)
{
    for (int i = 0; i < k; i++) {
        int rc = weft_await(t[i], NULL);
        assert_true(rc == 0 || rc == -ECANCELED);
        weft_task_release(t[i]);
    }
}

static void ebf_event_round(ebf_t *s)
{
    ebf_arg_t args[EBF_K];
    weft_task_t *t[EBF_K];
    bool cancelled[EBF_K];
    assert_int_equal(weft_event_clear(s->e), 0);
    ebf_spawn_and_cancel(s, ebf_event_waiter, args, t, cancelled, EBF_K);
    assert_int_equal(weft_event_set(s->e), 0);
    ebf_await_all(t, EBF_K);
    for (int i = 0; i < EBF_K; i++) {
        int rc = atomic_load(&s->rc[i]);
        if (!cancelled[i])
            assert_int_equal(rc, 0); /* a set reaches every waiter */
        else
            assert_true(rc == 0 || rc == -ECANCELED || rc == EBF_NONE);
        s->woken += rc == 0;
        s->cancelled_early += rc == EBF_NONE;
    }
    assert_int_equal(weft_event_waiters(s->e), 0);
}

static void ebf_barrier_round(ebf_t *s)
{
    ebf_arg_t args[EBF_K];
    weft_task_t *t[EBF_K];
    bool cancelled[EBF_K];
    ebf_spawn_and_cancel(s, ebf_barrier_waiter, args, t, cancelled, EBF_PARTIES);
    /* a party cancelled before it arrived never will: break the barrier
     * for the others (a cancelled waiter breaks it itself) */
    for (int i = 0; i < EBF_PARTIES; i++) {
        if (!cancelled[i])
            continue;
        int rc = weft_await(t[i], NULL);
        assert_true(rc == 0 || rc == -ECANCELED);
        if (!atomic_load(&s->arrived[i]))
            assert_int_equal(weft_barrier_abort(s->b), 0);
    }
    ebf_await_all(t, EBF_PARTIES);
    int seen = 0, indexes = 0;
    for (int i = 0; i < EBF_PARTIES; i++) {
        int rc = atomic_load(&s->rc[i]);
        if (rc >= 0 && rc < EBF_PARTIES && atomic_load(&s->arrived[i])) {
            assert_int_equal(seen & (1 << rc), 0); /* each index once */
            seen |= 1 << rc;
            indexes++;
        } else {
            assert_true(cancelled[i] ? rc == -ECANCELED || rc == -EPIPE || rc == EBF_NONE
                                     : rc == -EPIPE);
        }
    }
    /* the cycle completed for all parties, or for none */
    if (!(indexes == 0 || indexes == EBF_PARTIES))
        for (int i = 0; i < EBF_PARTIES; i++)
            fprintf(stderr, "party %d: cancelled %d arrived %d rc %d\n", i, cancelled[i],
                    atomic_load(&s->arrived[i]), atomic_load(&s->rc[i]));
    assert_true(indexes == 0 || indexes == EBF_PARTIES);
    if (indexes == EBF_PARTIES)
        s->whole_rounds++;
    else
        s->broken_rounds++;
    assert_int_equal(weft_barrier_n_waiting(s->b), 0);
    assert_int_equal(weft_barrier_reset(s->b), 0);
}

static void ebf_future_round(ebf_t *s)
{
    ebf_arg_t args[EBF_K];
    weft_task_t *t[EBF_K], *setter;
    bool cancelled[EBF_K];
    assert_int_equal(weft_future_create(&s->f), 0);
    weft_task_opts_t o = px_place(&s->px);
    assert_int_equal(weft_spawn(&setter, ebf_future_setter, s, &o), 0);
    ebf_spawn_and_cancel(s, ebf_future_waiter, args, t, cancelled, EBF_K);
    await_release(setter);
    ebf_await_all(t, EBF_K);
    for (int i = 0; i < EBF_K; i++) {
        int rc = atomic_load(&s->rc[i]);
        if (!cancelled[i] || rc == 0) {
            assert_int_equal(rc, 0);
            assert_ptr_equal(s->val[i], P(s->round + 1));
        } else {
            assert_true(rc == -ECANCELED || rc == EBF_NONE);
        }
    }
    assert_int_equal(weft_future_destroy(s->f), 0);
}

static void ebf_await_round(ebf_t *s)
{
    ebf_arg_t args[EBF_K];
    weft_task_t *t[EBF_K];
    bool cancelled[EBF_K];
    weft_task_opts_t o = px_place(&s->px);
    assert_int_equal(weft_spawn(&s->target, ebf_target, s, &o), 0);
    ebf_spawn_and_cancel(s, ebf_awaiter, args, t, cancelled, EBF_K);
    ebf_await_all(t, EBF_K);
    void *v = NULL;
    assert_int_equal(weft_await(s->target, &v), 0);
    assert_ptr_equal(v, P(s->round + 7));
    for (int i = 0; i < EBF_K; i++) {
        int rc = atomic_load(&s->rc[i]);
        if (!cancelled[i] || rc == 0) {
            assert_int_equal(rc, 0);
            assert_ptr_equal(s->val[i], P(s->round + 7));
        } else {
            assert_true(rc == -ECANCELED || rc == EBF_NONE);
        }
    }
    weft_task_release(s->target);
}

static int ebf_main(void *arg, void **res)
{
    (void)res;
    ebf_t *s = arg;
    assert_int_equal(weft_event_create(&s->e), 0);
    assert_int_equal(weft_barrier_create(&s->b, EBF_PARTIES), 0);
    int rounds = px_scaled(15, 3);
    for (s->round = 0; s->round < rounds; s->round++) {
        ebf_event_round(s);
        ebf_barrier_round(s);
        ebf_future_round(s);
        ebf_await_round(s);
    }
    assert_int_equal(weft_event_destroy(s->e), 0);
    assert_int_equal(weft_barrier_destroy(s->b), 0);
    return 0;
}

static void test_events_barriers_futures_and_await_across_workers_hold_under_cancel(void **state)
{
    (void)state;
    ebf_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->px.nw = px_workers();
    s->px.seed = 77;
    weft_config_t cfg = {.workers = s->px.nw, .spread = true};
    run_config(&cfg, ebf_main, s);
    assert_int_equal(atomic_load(&s->px.bad), 0);
    assert_true(s->woken > 0);
    assert_true(s->whole_rounds + s->broken_rounds > 0);
    free(s);
}

/* ---- groups, deadlines and select ---- */

#define GDS_CHILDREN 8
#define GDS_SENDERS 4

typedef struct {
    px_t px;
    /* groups */
    atomic_long done_sum; /* ids of the children that finished their work */
    int group_round;
    /* select */
    weft_chan_t *ch[2];
    int n;                       /* ids 0 .. n-1 */
    atomic_int next[GDS_SENDERS]; /* sender j's next id: j, j + GDS_SENDERS, ... */
    atomic_int nsent;
    atomic_uchar *sent, *recvd;
    atomic_long sel_timeouts;
} gds_t;

typedef struct {
    gds_t *s;
    int id;
    unsigned seed;
} gds_child_t;

/* Sleeps a random moment under a random deadline; adds its id to the sum
 * only when it finishes the sleep, and then returns 0 at once. */
static int gds_child(void *arg, void **res)
{
    (void)res;
    gds_child_t *c = arg;
    weft_deadline_t d;
    int rc = weft_deadline_push(&d, WEFT_USEC(200 + px_rnd(&c->seed) % 600));
    PX_CHECK(&c->s->px, rc == 0);
    rc = weft_sleep(WEFT_USEC(px_rnd(&c->seed) % 600));
    weft_deadline_pop(&d);
    if (rc < 0)
        return rc; /* -ETIMEDOUT or -ECANCELED */
    atomic_fetch_add(&c->s->done_sum, c->id);
    return 0;
}

static void gds_group_round(gds_t *s)
{
    weft_group_t *g;
    gds_child_t c[GDS_CHILDREN];
    weft_task_t *t[GDS_CHILDREN];
    atomic_store(&s->done_sum, 0);
    assert_int_equal(weft_group_create(&g), 0);
    if (rand_r(&s->px.seed) % 2) /* some children held back at the limit */
        assert_int_equal(weft_group_set_limit(g, 1 + rand_r(&s->px.seed) % 4), 0);
    for (int i = 0; i < GDS_CHILDREN; i++) {
        c[i] = (gds_child_t){s, i + 1, (unsigned)(s->group_round * 31 + i + 1)};
        weft_task_opts_t o = px_place(&s->px);
        assert_int_equal(weft_group_spawn(g, &t[i], gds_child, &c[i], &o), 0);
    }
    /* a child that fails meanwhile cancels its siblings and this task, the
     * group's owner; weft_group_wait takes that cancellation back */
    int sr = weft_sleep(WEFT_USEC(rand_r(&s->px.seed) % 400));
    assert_true(sr == 0 || sr == -ECANCELED);
    unsigned what = rand_r(&s->px.seed) % 4;
    if (what == 0) {
        assert_int_equal(weft_group_cancel(g), 0);
    } else if (what == 1) {
        int crc = weft_cancel(t[rand_r(&s->px.seed) % GDS_CHILDREN]);
        assert_true(crc == 0 || crc == -EALREADY);
    }
    int rc = weft_group_wait(g);
    long sum = 0;
    int failed = 0;
    for (int i = 0; i < GDS_CHILDREN; i++) {
        int r = weft_task_result(t[i], NULL);
        assert_true(r == 0 || r == -ETIMEDOUT || r == -ECANCELED);
        if (r == 0)
            sum += i + 1;
        failed += r == -ETIMEDOUT;
    }
    /* the children that finished their work are those that returned 0 */
    assert_int_equal(sum, atomic_load(&s->done_sum));
    /* a deadline is a child's own failure; cancellation is none */
    assert_int_equal(rc, failed ? -ETIMEDOUT : 0);
    assert_int_equal(weft_group_errors(g, NULL, NULL, 0), failed);
    assert_int_equal(weft_group_destroy(g), 0);
}

/* Sends its ids through whichever channel takes one first (select with a
 * timeout), and carries on where a cancelled predecessor stopped. */
static int gds_sender(void *arg, void **res)
{
    (void)res;
    px_arg_t *a = arg;
    gds_t *s = a->s;
    int j = a->slot;
    for (;;) {
        int id = atomic_load(&s->next[j]);
        if (id >= s->n)
            return 0;
        weft_select_case_t cs[2] = {{s->ch[0], WEFT_SELECT_SEND, P(id + 1), 0},
                                    {s->ch[1], WEFT_SELECT_SEND, P(id + 1), 0}};
        int rc = weft_select(cs, 2, WEFT_USEC(100 + px_rnd(&a->seed) % 900));
        if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&s->sel_timeouts, 1);
            continue;
        }
        if (rc == -ECANCELED)
            return 0;
        PX_CHECK(&s->px, rc == 0 || rc == 1);
        if (rc != 0 && rc != 1)
            return 0;
        PX_CHECK(&s->px, cs[rc].status == 0);
        PX_CHECK(&s->px, atomic_fetch_add(&s->sent[id], 1) == 0);
        atomic_fetch_add(&s->nsent, 1);
        atomic_store(&s->next[j], id + GDS_SENDERS);
    }
}

static void gds_record(gds_t *s, void *v)
{
    intptr_t id = I(v) - 1;
    PX_CHECK(&s->px, id >= 0 && id < s->n);
    if (id >= 0 && id < s->n)
        PX_CHECK(&s->px, atomic_fetch_add(&s->recvd[id], 1) == 0);
}

/* Receives from either channel (select with a timeout, or a deadline). */
static int gds_receiver(void *arg, void **res)
{
    (void)res;
    px_arg_t *a = arg;
    gds_t *s = a->s;
    for (;;) {
        weft_select_case_t cs[2] = {{s->ch[0], WEFT_SELECT_RECV, NULL, 0},
                                    {s->ch[1], WEFT_SELECT_RECV, NULL, 0}};
        weft_deadline_t d;
        bool dl = px_maybe_deadline(&d, &a->seed);
        int rc = weft_select(cs, 2, WEFT_USEC(100 + px_rnd(&a->seed) % 900));
        if (dl)
            weft_deadline_pop(&d);
        if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&s->sel_timeouts, 1);
            continue;
        }
        if (rc == -ECANCELED)
            return 0;
        PX_CHECK(&s->px, rc == 0 || rc == 1);
        if (rc != 0 && rc != 1)
            return 0;
        PX_CHECK(&s->px, cs[rc].status == 0);
        gds_record(s, cs[rc].value);
    }
}

static int gds_main(void *arg, void **res)
{
    (void)res;
    gds_t *s = arg;
    int rounds = px_scaled(30, 5);
    for (s->group_round = 0; s->group_round < rounds; s->group_round++)
        gds_group_round(s);

    assert_int_equal(weft_chan_create(&s->ch[0], 0), 0); /* unbuffered */
    assert_int_equal(weft_chan_create(&s->ch[1], 2), 0);
    for (int j = 0; j < GDS_SENDERS; j++)
        atomic_store(&s->next[j], j);
    crew_t senders, receivers;
    crew_init(&senders, &s->px, gds_sender, s, GDS_SENDERS);
    crew_init(&receivers, &s->px, gds_receiver, s, 4);
    crew_t *all[] = {&senders, &receivers};
    crew_start(&senders);
    crew_start(&receivers);
    int64_t end = weft_now() + WEFT_SEC(60);
    for (int round = 0, least = px_scaled(50, 10); round < least || atomic_load(&s->nsent) < s->n;
         round++) {
        crews_chaos(all, 2);
        assert_true(weft_now() < end);
    }
    crew_stop(&senders);
    crew_stop(&receivers);
    void *v;
    for (int k = 0; k < 2; k++)
        while (weft_chan_try_recv(s->ch[k], &v) == 0)
            gds_record(s, v);
    assert_int_equal(weft_chan_destroy(s->ch[0]), 0);
    assert_int_equal(weft_chan_destroy(s->ch[1]), 0);
    assert_true(senders.cancels + receivers.cancels > 0);
    return 0;
}

static void test_groups_deadlines_and_select_across_workers_lose_nothing_under_cancel(
    void **state)
{
    (void)state;
    gds_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->px.nw = px_workers();
    s->px.seed = 4242;
    s->n = px_scaled(1500, 150);
    s->sent = calloc((size_t)s->n, 1);
    s->recvd = calloc((size_t)s->n, 1);
    assert_true(s->sent && s->recvd);
    weft_config_t cfg = {.workers = s->px.nw, .spread = true};
    run_config(&cfg, gds_main, s);
    assert_int_equal(atomic_load(&s->px.bad), 0);
    assert_int_equal(atomic_load(&s->nsent), s->n);
    for (int i = 0; i < s->n; i++) {
        assert_int_equal(s->sent[i], 1);
        assert_int_equal(s->recvd[i], 1);
    }
    free(s->sent);
    free(s->recvd);
    free(s);
}

/* ---- plain threads ---- */

typedef struct {
    weft_runtime_t *rt;
    weft_future_t *f;
    atomic_int cb_worker;
} ts_t;

static void ts_callback(void *arg)
{
    ts_t *ts = arg;
    atomic_store(&ts->cb_worker, weft_worker_index());
    assert_null(weft_current()); /* a callback, not a task */
    weft_future_set_result(ts->f, P(42));
}

static void *poster_thread(void *arg)
{
    ts_t *ts = arg;
    usleep(2000);
    assert_int_equal(weft_call_soon_threadsafe(ts->rt, 1, ts_callback, ts), 0);
    return NULL;
}

static int threadsafe_main(void *arg, void **res)
{
    (void)res;
    ts_t *ts = arg;
    ts->rt = weft_runtime();
    assert_int_equal(weft_future_create(&ts->f), 0);
    assert_int_equal(weft_call_soon_threadsafe(ts->rt, 5, ts_callback, ts), -EINVAL);
    assert_int_equal(weft_call_soon_threadsafe(ts->rt, 0, NULL, ts), -EINVAL);
    assert_int_equal(weft_call_soon_threadsafe(NULL, 0, ts_callback, ts), -EINVAL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poster_thread, ts), 0);
    void *r = NULL;
    /* a plain thread is about to post: keep the deadlock check quiet */
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(30));
    int rc = weft_future_await(ts->f, &r);
    weft_deadline_pop(&d);
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(I(r), 42);
    assert_int_equal(weft_future_destroy(ts->f), 0);
    return 0;
}

static void test_call_soon_threadsafe_runs_the_callback_on_the_named_worker(void **state)
{
    (void)state;
    ts_t ts = {0};
    atomic_store(&ts.cb_worker, -1);
    run_workers(2, threadsafe_main, &ts);
    assert_int_equal(atomic_load(&ts.cb_worker), 1);
}

typedef struct {
    weft_event_t *ev;
    atomic_int ready;
} started_t;

static void set_event_cb(void *arg)
{
    started_t *st = arg;
    while (!atomic_load(&st->ready))
        ; /* main publishes the event before anything can post */
    weft_event_set(st->ev);
}

static int started_main(void *arg, void **res)
{
    started_t *st = arg;
    assert_int_equal(weft_event_create(&st->ev), 0);
    atomic_store(&st->ready, 1);
    weft_deadline_t d;
    weft_deadline_push(&d, WEFT_SEC(30));
    int rc = weft_event_wait(st->ev);
    weft_deadline_pop(&d);
    weft_event_destroy(st->ev);
    *res = P(7);
    return rc;
}

static void test_runtime_started_on_threads_joins_with_the_mains_result(void **state)
{
    (void)state;
    started_t st = {0};
    weft_runtime_t *rt = NULL;
    weft_config_t cfg = {.workers = 2};
    assert_int_equal(weft_runtime_start(&rt, &cfg, started_main, &st), 0);
    assert_non_null(rt);
    while (!atomic_load(&st.ready))
        usleep(100);
    assert_int_equal(weft_call_soon_threadsafe(rt, 0, set_event_cb, &st), 0);
    void *r = NULL;
    assert_int_equal(weft_runtime_join(rt, &r), 0);
    assert_int_equal(I(r), 7);

    assert_int_equal(weft_runtime_start(NULL, &cfg, started_main, &st), -EINVAL);
    assert_int_equal(weft_runtime_start(&rt, &cfg, NULL, &st), -EINVAL);
    weft_config_t bad = {.workers = -5};
    assert_int_equal(weft_runtime_start(&rt, &bad, started_main, &st), -EINVAL);
    assert_int_equal(weft_runtime_join(NULL, NULL), -EINVAL);
}

/* ---- deadlock and shutdown ---- */

static int deadlock_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    weft_future_t *f;
    assert_int_equal(weft_future_create(&f), 0);
    int rc = weft_future_await(f, NULL); /* nobody will set it */
    weft_future_destroy(f);
    return rc;
}

static void test_deadlock_with_workers_cancels_main(void **state)
{
    (void)state;
    weft_config_t cfg = {.workers = 2};
    assert_int_equal(run_status(&cfg, deadlock_main, NULL), -ECANCELED);
}

typedef struct {
    atomic_int started, cleaned;
} left_t;

static int sleeper_cleans_up(void *arg, void **res)
{
    (void)res;
    left_t *l = arg;
    atomic_fetch_add(&l->started, 1);
    int rc = weft_sleep(WEFT_SEC(3600));
    atomic_fetch_add(&l->cleaned, 1);
    return rc;
}

static int leave_tasks_main(void *arg, void **res)
{
    (void)res;
    for (int i = 0; i < 12; i++) {
        weft_task_opts_t o = {.place = i % 3 == 0 ? WEFT_PLACE_ANY : WEFT_PLACE_WORKER,
                              .worker = i % 4};
        assert_int_equal(weft_spawn(NULL, sleeper_cleans_up, arg, &o), 0);
    }
    /* every one started (a task cancelled before it starts never runs,
     * so it would clean nothing); then main returns with them asleep */
    left_t *l = arg;
    while (atomic_load(&l->started) < 12)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    return 0;
}

static void test_shutdown_unwinds_every_worker(void **state)
{
    (void)state;
    left_t l = {0};
    run_workers(4, leave_tasks_main, &l);
    assert_int_equal(atomic_load(&l.cleaned), 12);
}

/* ---- worker-bound objects ---- */

typedef struct {
    weft_stream_t *s;
    int sv1;          /* the peer's end, a plain fd */
    int rc, wrc;
    char got[8];
} xdev_t;

/* On worker 1: reads what the peer sends (waiting through worker 0's
 * poller, which watches the fd), answers, then closes the stream. */
static int use_elsewhere(void *arg, void **res)
{
    (void)res;
    xdev_t *x = arg;
    size_t got = 0;
    x->rc = weft_stream_read_exactly(x->s, x->got, 5, &got);
    if (x->rc == 0)
        x->wrc = weft_stream_write(x->s, "pong\n", 5);
    if (x->wrc == 0)
        x->wrc = weft_stream_close(x->s); /* flushed, forgotten on worker 0 */
    return 0;
}

static int xdev_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int sv[2];
    socket_pair(sv, 0);
    xdev_t x = {.sv1 = sv[1]};
    assert_int_equal(weft_stream_open(&x.s, sv[0], NULL), 0); /* on worker 0 */
    weft_task_t *t;
    weft_task_opts_t o = on_worker(1);
    assert_int_equal(weft_spawn(&t, use_elsewhere, &x, &o), 0);
    assert_int_equal(weft_sleep(WEFT_MSEC(5)), 0); /* it waits there, on our poller */
    assert_int_equal(write(sv[1], "ping\n", 5), 5);
    assert_int_equal(weft_await(t, NULL), 0);
    weft_task_release(t);
    assert_int_equal(x.rc, 0);
    assert_memory_equal(x.got, "ping\n", 5);
    assert_int_equal(x.wrc, 0);
    char buf[8];
    assert_int_equal(read(sv[1], buf, sizeof buf), 5);
    assert_memory_equal(buf, "pong\n", 5);
    /* the close reached the fd: the peer reads the end */
    for (int i = 0; i < 1000; i++) {
        ssize_t r = read(sv[1], buf, sizeof buf);
        if (r == 0)
            break;
        assert_true(r < 0 && errno == EAGAIN);
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    }
    close(sv[1]);
    return 0;
}

static void test_stream_opened_on_one_worker_is_used_and_closed_from_another(void **state)
{
    (void)state;
    run_workers(2, xdev_main, NULL);
}

static void test_run_refuses_a_worker_count_out_of_range(void **state)
{
    (void)state;
    weft_config_t cfg = {.workers = WEFT_WORKERS_MAX + 1};
    assert_int_equal(weft_run_config(&cfg, one_worker_main, NULL, NULL), -EINVAL);
    cfg.workers = -2;
    assert_int_equal(weft_run_config(&cfg, one_worker_main, NULL, NULL), -EINVAL);
    assert_int_equal(weft_call_soon_threadsafe(NULL, 0, NULL, NULL), -EINVAL);
}

/* ---- the every-core switch ---- */

static atomic_int spread_ran[2], spread_seen_other, spread_done;

/* Records its worker and keeps its worker busy, without yielding, until
 * some task has run on worker 1: the first to start holds worker 0, so
 * the rest, still unstarted, can only go on if worker 1 steals them. */
static int spread_child(void *arg, void **res)
{
    (void)arg, (void)res;
    int w = weft_worker_index();
    atomic_fetch_add(&spread_ran[w], 1);
    if (w == 1)
        atomic_store(&spread_seen_other, 1);
    int64_t end = weft_now() + WEFT_SEC(20);
    while (!atomic_load(&spread_seen_other) && weft_now() < end)
        ;
    atomic_fetch_add(&spread_done, 1);
    return 0;
}

static int spread_main(void *arg, void **res)
{
    (void)arg, (void)res;
    weft_runtime_t *rt = weft_runtime();
    assert_true(weft_runtime_spreads(rt));
    enum { N = 16 };
    weft_task_t *t[N];
    /* plain spawns, opts NULL and zeroed, and a group's */
    weft_task_opts_t zero = {0};
    weft_group_t *g;
    assert_int_equal(weft_group_create(&g), 0);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            assert_int_equal(weft_spawn(&t[i], spread_child, NULL, NULL), 0);
        else if (i % 3 == 1)
            assert_int_equal(weft_spawn(&t[i], spread_child, NULL, &zero), 0);
        else
            assert_int_equal(weft_group_spawn(g, &t[i], spread_child, NULL, NULL), 0);
    }
    for (int i = 0; i < N; i++)
        if (i % 3 != 2)
            await_release(t[i]);
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_group_destroy(g), 0);
    assert_int_equal(atomic_load(&spread_done), N);
    assert_int_equal(atomic_load(&spread_seen_other), 1);
    assert_true(atomic_load(&spread_ran[1]) >= 1);

    /* switched off: plain spawns stay on the spawning worker */
    assert_int_equal(weft_runtime_set_spread(rt, false), 0);
    assert_false(weft_runtime_spreads(rt));
    int here = weft_worker_index();
    for (int i = 0; i < N; i++) {
        weft_task_t *u;
        assert_int_equal(weft_spawn(&u, report_worker, NULL, NULL), 0);
        void *r;
        assert_int_equal(weft_await(u, &r), 0);
        assert_int_equal(I(r), here);
        weft_task_release(u);
    }
    assert_int_equal(weft_runtime_set_spread(NULL, true), -EINVAL);
    assert_false(weft_runtime_spreads(NULL));
    return 0;
}

static void test_spread_runs_plain_spawns_on_every_worker_and_switches_off(void **state)
{
    (void)state;
    weft_config_t cfg = {.workers = 2, .spread = true};
    run_config(&cfg, spread_main, NULL);
}

/* ---- a second worker's first work ----
 *
 * Worker 0 of a runtime of several takes no object locks while no other
 * worker has run anything, and turns them on before one does (spin.h,
 * worker.c). Here tasks on worker 0 hammer a channel, a queue and a lock
 * (a plain counter under it) and are parked inside them when work first
 * reaches worker 1, in one of three ways (a spawn naming worker 1, which
 * turns worker 0's locks on at once; a group's child, placed under the
 * group's lock, for which worker 0 is asked and answers at its next turn;
 * a plain thread's callback posted to worker 1, likewise), and a task
 * there joins in on the same objects. Each run is a fresh runtime, so
 * every run starts with worker 0's locks off. Nothing may be lost or
 * counted twice, and ThreadSanitizer sees the hand-over. */

enum { FIRST_NONE, FIRST_SPAWN, FIRST_GROUP, FIRST_POST };

typedef struct {
    int how;
    long n;
    weft_runtime_t *rt;
    weft_chan_t *ch;
    weft_queue_t *q;
    weft_lock_t *lk;
    long counter; /* under lk */
    atomic_long ch_sum, q_sum;
    atomic_int bad;       /* failed calls, anywhere */
    atomic_int done;      /* the joiner has finished */
    atomic_int joiner_at; /* its worker */
} first_t;

static void first_count(first_t *f)
{
    if (weft_lock_acquire(f->lk) != 0) {
        atomic_fetch_add(&f->bad, 1);
        return;
    }
    f->counter++;
    if (weft_lock_release(f->lk) != 0)
        atomic_fetch_add(&f->bad, 1);
}

static int first_ch_producer(void *arg, void **res)
{
    (void)res;
    first_t *f = arg;
    for (long i = 1; i <= f->n; i++) {
        first_count(f);
        if (weft_chan_send(f->ch, P(i)) != 0)
            atomic_fetch_add(&f->bad, 1);
    }
    return 0;
}

static int first_ch_consumer(void *arg, void **res)
{
    (void)res;
    first_t *f = arg;
    for (long i = 0; i < 2 * f->n; i++) {
        void *v;
        if (weft_chan_recv(f->ch, &v) != 0)
            atomic_fetch_add(&f->bad, 1);
        else
            atomic_fetch_add(&f->ch_sum, I(v));
        first_count(f);
    }
    return 0;
}

static int first_q_producer(void *arg, void **res)
{
    (void)res;
    first_t *f = arg;
    for (long i = 1; i <= f->n; i++) {
        if (weft_queue_put(f->q, P(i)) != 0)
            atomic_fetch_add(&f->bad, 1);
        first_count(f);
    }
    return 0;
}

static void first_q_take(first_t *f, long k)
{
    for (long i = 0; i < k; i++) {
        void *v;
        if (weft_queue_get(f->q, &v) != 0)
            atomic_fetch_add(&f->bad, 1);
        else
            atomic_fetch_add(&f->q_sum, I(v));
        first_count(f);
    }
}

static int first_q_consumer(void *arg, void **res)
{
    (void)res;
    first_t *f = arg;
    first_q_take(f, f->n / 2);
    return 0;
}

/* The newcomer: sends n values of its own, takes the rest of the queue,
 * and counts under the lock as the others do. */
static int first_joiner(void *arg, void **res)
{
    (void)res;
    first_t *f = arg;
    atomic_store(&f->joiner_at, weft_worker_index());
    for (long i = 1; i <= f->n; i++) {
        if (weft_chan_send(f->ch, P(f->n + i)) != 0)
            atomic_fetch_add(&f->bad, 1);
        first_count(f);
    }
    first_q_take(f, f->n - f->n / 2);
    atomic_store(&f->done, 1);
    return 0;
}

static void first_spawn_cb(void *arg)
{
    if (weft_spawn(NULL, first_joiner, arg, HERE) != 0)
        atomic_fetch_add(&((first_t *)arg)->bad, 1);
}

static void *first_poster(void *arg)
{
    first_t *f = arg;
    if (weft_call_soon_threadsafe(f->rt, 1, first_spawn_cb, f) != 0)
        atomic_fetch_add(&f->bad, 1);
    return NULL;
}

static int first_main(void *arg, void **res)
{
    (void)res;
    first_t *f = arg;
    f->rt = weft_runtime();
    assert_int_equal(weft_chan_create(&f->ch, 0), 0);
    assert_int_equal(weft_queue_create(&f->q, WEFT_QUEUE_FIFO, 4, NULL), 0);
    assert_int_equal(weft_lock_create(&f->lk), 0);
    weft_task_fn fns[4] = {first_ch_producer, first_ch_consumer, first_q_producer,
                           first_q_consumer};
    weft_task_t *ts[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(weft_spawn(&ts[i], fns[i], f, HERE), 0);
    /* they run, and wait inside the objects */
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_yield(), 0);
    weft_task_t *j = NULL;
    weft_group_t *g = NULL;
    pthread_t th;
    weft_task_opts_t w1 = on_worker(1);
    switch (f->how) {
    case FIRST_NONE:
        assert_int_equal(weft_spawn(&j, first_joiner, f, HERE), 0);
        break;
    case FIRST_SPAWN:
        assert_int_equal(weft_spawn(&j, first_joiner, f, &w1), 0);
        break;
    case FIRST_GROUP:
        assert_int_equal(weft_group_create(&g), 0);
        assert_int_equal(weft_group_spawn(g, NULL, first_joiner, f, &w1), 0);
        break;
    default:
        assert_int_equal(pthread_create(&th, NULL, first_poster, f), 0);
        break;
    }
    for (int i = 0; i < 4; i++)
        await_release(ts[i]);
    if (j)
        await_release(j);
    if (g) {
        assert_int_equal(weft_group_wait(g), 0);
        assert_int_equal(weft_group_destroy(g), 0);
    }
    if (f->how == FIRST_POST)
        assert_int_equal(pthread_join(th, NULL), 0);
    int64_t end = weft_now() + WEFT_SEC(30);
    while (!atomic_load(&f->done) && weft_now() < end)
        assert_int_equal(weft_sleep(WEFT_MSEC(1)), 0);
    assert_true(atomic_load(&f->done));
    assert_int_equal(weft_chan_destroy(f->ch), 0);
    assert_int_equal(weft_queue_destroy(f->q), 0);
    assert_int_equal(weft_lock_destroy(f->lk), 0);
    return 0;
}

static void first_run(int how, long n)
{
    first_t f = {.how = how, .n = n};
    atomic_store(&f.joiner_at, -1);
    weft_config_t cfg = {.workers = 2};
    run_config(&cfg, first_main, &f);
    assert_int_equal(atomic_load(&f.bad), 0);
    assert_int_equal(atomic_load(&f.ch_sum), n * (2 * n + 1));
    assert_int_equal(atomic_load(&f.q_sum), n * (n + 1) / 2);
    assert_int_equal(f.counter, 6 * n);
    assert_int_equal(atomic_load(&f.joiner_at), how == FIRST_NONE ? 0 : 1);
}

static void test_second_worker_that_runs_nothing_leaves_worker_0_correct(void **state)
{
    (void)state;
    first_run(FIRST_NONE, scaled(2000, 200));
}

static void test_second_worker_joining_objects_in_use_loses_nothing(void **state)
{
    (void)state;
    long runs = scaled(40, 6), n = scaled(200, 20);
    for (long r = 0; r < runs; r++) {
        first_run(FIRST_SPAWN, n);
        first_run(FIRST_GROUP, n);
        first_run(FIRST_POST, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_places_tasks_on_the_named_worker_and_refuses_bad_ones),
        cmocka_unit_test(test_one_worker_runs_every_placement_on_its_loop),
        cmocka_unit_test(test_idle_worker_steals_unstarted_tasks),
        cmocka_unit_test(test_steal_takes_whole_pairs_after_the_owner_started_one_task),
        cmocka_unit_test(test_busy_worker_steals_its_share_of_a_long_queue),
        cmocka_unit_test(test_spawn_burst_at_mains_start_is_taken_by_an_idle_worker),
        cmocka_unit_test(test_small_run_spawned_together_starts_on_its_spawners_worker),
        cmocka_unit_test(test_small_run_whose_first_task_computes_leaves_the_rest_to_a_thief),
        cmocka_unit_test(test_slot_runs_a_woken_task_before_the_ready_queue),
        cmocka_unit_test(test_slot_hand_offs_share_one_budget_so_a_third_task_gets_turns),
        cmocka_unit_test(test_lock_sem_and_event_coordinate_tasks_across_workers),
        cmocka_unit_test(test_lock_waiter_on_other_worker_is_not_starved),
        cmocka_unit_test(test_lock_woken_waiter_cancelled_wakes_next),
        cmocka_unit_test(test_lock_across_workers_with_cancellation),
        cmocka_unit_test(test_future_set_on_one_worker_wakes_its_awaiter_on_another),
        cmocka_unit_test(test_cancel_and_deadline_reach_tasks_on_another_worker),
        cmocka_unit_test(test_group_failure_cancels_siblings_on_every_worker),
        cmocka_unit_test(test_queues_and_channels_on_2_workers_lose_nothing_under_cancel),
        cmocka_unit_test(test_queues_and_channels_on_4_workers_lose_nothing_under_cancel),
        cmocka_unit_test(
            test_locks_conditions_and_semaphores_across_workers_lose_nothing_under_cancel),
        cmocka_unit_test(test_events_barriers_futures_and_await_across_workers_hold_under_cancel),
        cmocka_unit_test(
            test_groups_deadlines_and_select_across_workers_lose_nothing_under_cancel),
        cmocka_unit_test(test_call_soon_threadsafe_runs_the_callback_on_the_named_worker),
        cmocka_unit_test(test_runtime_started_on_threads_joins_with_the_mains_result),
        cmocka_unit_test(test_deadlock_with_workers_cancels_main),
        cmocka_unit_test(test_shutdown_unwinds_every_worker),
        cmocka_unit_test(test_stream_opened_on_one_worker_is_used_and_closed_from_another),
        cmocka_unit_test(test_run_refuses_a_worker_count_out_of_range),
        cmocka_unit_test(test_spread_runs_plain_spawns_on_every_worker_and_switches_off),
        cmocka_unit_test(test_second_worker_that_runs_nothing_leaves_worker_0_correct),
        cmocka_unit_test(test_second_worker_joining_objects_in_use_loses_nothing),
    };
    return run_suite(tests, NULL, NULL);
}
