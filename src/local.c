/* local.c - task-local values (Python's contextvars).
 *
 * Owns: the maps of task-local values and the boxes that hold each value.
 *
 * A task's values are a map (struct weft__locals): an array of entries
 * sorted by key id, each pointing at a box {value, destructor}. A spawned
 * task takes a reference to its spawner's map and allocates nothing
 * (weft__local_inherit); the map is immutable while shared. A task that
 * writes to a shared map first makes its own copy (copy-on-write): the
 * copy takes a reference on every box, so both maps see the old values
 * until one of them replaces one. A box's destructor runs when its last
 * reference goes: when the last map holding it is freed (its last task
 * finished) or the value is replaced or removed in the last map holding
 * it. So each value is destroyed exactly once, by whichever task lets go
 * of it last.
 *
 * References are atomic: a child may run on another worker and finish
 * there. A map's reference count is 1 only while one task holds it, and
 * only that task can hand out more (by spawning, on its own thread), so
 * "refs == 1: write in place" is safe without a lock.
 */
#include "local.h"

#include <stdlib.h>
#include <string.h>

typedef struct weft__lbox {
    atomic_size_t refs;
    void *value;
    void (*dtor)(void *value);
} weft__lbox_t;

typedef struct {
    uint64_t id;
    weft__lbox_t *box;
} weft__lentry_t;

struct weft__locals {
    atomic_size_t refs;
    uint32_t n, cap;
    weft__lentry_t e[];
};

static atomic_uint_fast64_t next_key = 1;

static void box_ref(weft__lbox_t *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

static void box_unref(weft__lbox_t *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (b->dtor)
        b->dtor(b->value);
    free(b);
}

static void map_unref(struct weft__locals *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < m->n; i++)
        box_unref(m->e[i].box);
    free(m);
}

struct weft__locals *weft__local_inherit(weft_task_t *parent)
{
    struct weft__locals *m = parent ? parent->locals : NULL;
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void weft__local_release(weft_task_t *t)
{
    struct weft__locals *m = t->locals;
    t->locals = NULL;
    map_unref(m);
}

/* The index of id in m, or where it would go; *found says which. */
static uint32_t search(const struct weft__locals *m, uint64_t id, bool *found)
{
    uint32_t lo = 0, hi = m ? m->n : 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = m && lo < m->n && m->e[lo].id == id;
    return lo;
}

/* Makes t's map its own and able to hold `need` entries; NULL when out
 * of memory (t's map is then unchanged). */
static struct weft__locals *map_private(weft_task_t *t, uint32_t need)
{
    struct weft__locals *m = t->locals;
    bool mine = m && atomic_load_explicit(&m->refs, memory_order_acquire) == 1;
    if (mine && m->cap >= need)
        return m;
    uint32_t cap;
    if (mine)
        cap = m->cap * 2 > need ? m->cap * 2 : need;
    else
        cap = need < 4 ? 4 : need;
    if (mine) {
        struct weft__locals *g = realloc(m, sizeof *m + (size_t)cap * sizeof m->e[0]);
        if (!g)
            return NULL;
        g->cap = cap;
        t->locals = g;
        return g;
    }
    struct weft__locals *c = malloc(sizeof *c + (size_t)cap * sizeof c->e[0]);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->cap = cap;
    c->n = m ? m->n : 0;
    for (uint32_t i = 0; i < c->n; i++) {
        c->e[i] = m->e[i];
        box_ref(c->e[i].box);
    }
    t->locals = c;
    map_unref(m); /* the others keep it; our copy holds the boxes */
    return c;
}

int weft_local_key_create(weft_local_key_t *key, void (*dtor)(void *value))
{
    if (!key)
        return -EINVAL;
    key->id = atomic_fetch_add_explicit(&next_key, 1, memory_order_relaxed);
    key->dtor = dtor;
    return 0;
}

int weft_local_get(const weft_local_key_t *key, void **value)
{
    if (value)
        *value = NULL;
    if (!key || key->id == 0)
        return -EINVAL;
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    bool found;
    uint32_t i = search(t->locals, key->id, &found);
    if (!found)
        return -ENOENT;
    if (value)
        *value = t->locals->e[i].box->value;
    return 0;
}

int weft_local_set(const weft_local_key_t *key, void *value)
{
    if (!key || key->id == 0)
        return -EINVAL;
    weft_task_t *t = weft__task();
    if (!t)
        return -WEFT_ENOTASK;
    bool found;
    uint32_t i = search(t->locals, key->id, &found);
    if (found ? t->locals->e[i].box->value == value : !value)
        return 0; /* nothing changes (and a value is never destroyed under its user) */
    weft__lbox_t *b = NULL;
    if (value) {
        b = malloc(sizeof *b);
        if (!b)
            return -ENOMEM;
        atomic_init(&b->refs, 1);
        b->value = value;
        b->dtor = key->dtor;
    }
    struct weft__locals *m = map_private(t, t->locals ? t->locals->n + !found : 1);
    if (!m) {
        free(b);
        return -ENOMEM;
    }
    if (found) {
        weft__lbox_t *old = m->e[i].box;
        if (b) {
            m->e[i].box = b;
        } else {
            memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof m->e[0]);
            m->n--;
        }
        box_unref(old); /* the last holder: its destructor runs now */
    } else {
        memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof m->e[0]);
        m->e[i] = (weft__lentry_t){key->id, b};
        m->n++;
    }
    return 0;
}
