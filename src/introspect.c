/* introspect.c - what the loop can tell about itself: the task tree,
 * reports of tasks that failed unseen or were still pending, and the
 * debug mode's slow-step warnings, and the names of task states; and
 * the memory counts (what trims gave back, what the pools hold).
 * Reports that repeat are rate-limited (weft__report, below).
 *
 * The tree places each live task under the task that awaits it (who
 * awaits whom, as `python -m asyncio pstree` shows), else under the
 * live task that spawned it, else at the top. Each line also shows the
 * task's stack mode and its saved (copy-stack) or resident stack bytes.
 */
#include "task.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

const char *weft_task_state_name(int state)
{
    static const char *const names[] = {"pending", "ready", "running", "waiting", "done"};
    return state >= WEFT_TASK_PENDING && state <= WEFT_TASK_DONE ? names[state] : "unknown";
}

static void describe_wait(FILE *out, const weft_task_t *t)
{
    if (!t->b) /* not started, or finished */
        return;
    const weft__wait_kind_t *k = t->b->wait_kind;
    if (t->tstate != WEFT_TASK_WAITING) {
        if (t->tstate == WEFT_TASK_READY && k == &weft__wait_yield)
            fputs(" (yielded)", out);
        return;
    }
    if (!k)
        fputs(" on something", out);
    else if (k->describe)
        k->describe(out, t->b->wait_obj);
    else
        fprintf(out, " on %s", k->name);
    if (t->b->timer.idx != WEFT__NO_INDEX) {
        double ms = (double)(t->b->timer.when - weft_now()) / 1e6;
        fprintf(out, " until %+.3f ms", ms);
    }
}

/* " [cancelling: deadline]", with the reason's message if it has one. */
static void describe_cancel(FILE *out, const weft_task_t *t)
{
    const char *msg;
    int why = weft_task_cancel_reason(t, &msg);
    if (why < 0) {
        fputs(" [cancelling]", out);
        return;
    }
    fprintf(out, " [cancelling: %s", weft_cancel_reason_name(why));
    if (why >= WEFT_CANCEL_USER)
        fprintf(out, " %d", why);
    if (msg)
        fprintf(out, ", \"%s\"", msg);
    fputc(']', out);
}

/* The task's stack mode and what its stack holds: the bytes saved (or
 * live on the shared stack) for a copy-stack task, the resident bytes of
 * its own stack otherwise (mincore: a debugging aid, not a hot path). */
static void describe_stack(FILE *out, const weft_task_t *t)
{
    if (!t->b) { /* not started: it has no stack yet */
        fprintf(out, " [%s, not started]", t->copy ? "copy-stack" : "own stack");
        return;
    }
    const weft_coro_t *co = &t->b->co;
    if (co->copy) {
        size_t bytes = co->saved_len;
        const weft__thread_t *thr = &weft__self;
        if (thr->shared_owner == co) {
            const char *top = (const char *)thr->shared.base + thr->shared.size;
            const char *sp = weft__ctx_saved_sp(&co->ctx);
            bytes =
                sp && sp >= (const char *)thr->shared.base && sp <= top ? (size_t)(top - sp) : 0;
        }
        fprintf(out, " [copy-stack, %zu B saved]", bytes);
        return;
    }
    size_t resident = 0;
    if (co->stack.base) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t npages = co->stack.size / page;
        unsigned char vec[256];
        for (size_t i = 0; i < npages; i += sizeof vec) {
            size_t k = npages - i < sizeof vec ? npages - i : sizeof vec;
            if (mincore((char *)co->stack.base + i * page, k * page, vec) != 0)
                break;
            for (size_t j = 0; j < k; j++)
                resident += (vec[j] & 1) ? page : 0;
        }
    }
    fprintf(out, " [own stack, %zu B resident]", resident);
}

static int by_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (weft_task_t *const *)a, y = (uintptr_t) * (weft_task_t *const *)b;
    return x < y ? -1 : x > y;
}

static long find(weft_task_t **sorted, size_t n, const weft_task_t *t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sorted[mid] == t)
            return (long)mid;
        if ((uintptr_t)sorted[mid] < (uintptr_t)t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int weft_task_tree(FILE *out)
{
    if (!out)
        return -EINVAL;
    weft__loop_t *L = weft__loop();
    if (!L)
        return -WEFT_ENOLOOP;
    size_t n = L->ntasks;
    weft_task_t **v = malloc((n ? n : 1) * sizeof *v);
    long *parent = malloc((n ? n : 1) * sizeof *parent);
    long *first = malloc((n ? n : 1) * sizeof *first);
    long *next = malloc((n ? n : 1) * sizeof *next);
    long *stack = malloc((n ? n : 1) * 2 * sizeof *stack);
    if (!v || !parent || !first || !next || !stack) {
        free(v), free(parent), free(first), free(next), free(stack);
        return -ENOMEM;
    }
    size_t i = 0;
    for (weft_task_t *t = L->all; t && i < n; t = t->all_next)
        v[i++] = t;
    n = i;
    qsort(v, n, sizeof *v, by_ptr);
    for (i = 0; i < n; i++) {
        first[i] = next[i] = -1;
        parent[i] = -1;
        /* an awaiter wins over the spawner */
        for (weft__waiter_t *w = v[i]->done_waiters.head; w && parent[i] < 0; w = w->next)
            if (w->task)
                parent[i] = find(v, n, w->task);
        if (parent[i] < 0 && v[i]->parent)
            parent[i] = find(v, n, v[i]->parent);
        if (parent[i] == (long)i)
            parent[i] = -1;
    }
    /* break cycles (tasks awaiting each other): walk up at most n steps */
    for (i = 0; i < n; i++) {
        long p = parent[i];
        size_t steps = 0;
        while (p >= 0 && steps++ <= n)
            p = parent[p] == (long)i ? -2 : parent[p];
        if (p == -2)
            parent[i] = -1;
    }
    /* children in spawn order: link them newest first. L->all is newest
     * first, so walk it as it is */
    long *roots = stack; /* reused: the roots, oldest first */
    size_t nroots = 0;
    for (weft_task_t *t = L->all; t; t = t->all_next) {
        long k = find(v, n, t);
        if (k < 0)
            continue;
        if (parent[k] >= 0) {
            next[k] = first[parent[k]];
            first[parent[k]] = k;
        }
    }
    for (weft_task_t *t = L->all; t; t = t->all_next) {
        long k = find(v, n, t);
        if (k >= 0 && parent[k] < 0)
            roots[nroots++] = k;
    }
    int written = 0;
    fprintf(out, "weft: %zu task%s\n", n, n == 1 ? "" : "s");
    long *work = malloc((n ? n : 1) * 2 * sizeof *work);
    if (!work) {
        free(v), free(parent), free(first), free(next), free(stack);
        return -ENOMEM;
    }
    for (size_t r = nroots; r-- > 0;) {
        long *stack2 = work;
        size_t sp = 0;
        stack2[sp++] = roots[r];
        stack2[sp++] = 0;
        while (sp > 0) {
            long depth = stack2[--sp];
            long k = stack2[--sp];
            const weft_task_t *t = v[k];
            char lb[32];
            fprintf(out, "%*s%s#%llu \"%s\" %s", (int)(depth * 4), "", depth ? "└── " : "",
                    (unsigned long long)t->id, weft__task_label(t, lb),
                    weft_task_state_name(t->tstate));
            describe_wait(out, t);
            describe_stack(out, t);
            if (t->cancel_req)
                describe_cancel(out, t);
            fputc('\n', out);
            written++;
            /* push children in reverse so they print in order */
            long kids[64];
            int nk = 0;
            for (long c = first[k]; c >= 0; c = next[c]) {
                if (nk < 64)
                    kids[nk++] = c;
                else if (sp + 2 <= 2 * n) {
                    stack2[sp++] = c;
                    stack2[sp++] = depth + 1;
                }
            }
            while (nk > 0 && sp + 2 <= 2 * n) {
                stack2[sp++] = kids[--nk];
                stack2[sp++] = depth + 1;
            }
        }
    }
    free(work);
    free(v), free(parent), free(first), free(next), free(stack);
    return written;
}

int weft_mem_stats(weft_mem_stats_t *out)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    weft__trim_totals(out);
    weft__stack_counts(&out->stacks_free, &out->stacks_warm);
    out->segments_warm = weft__slab_warm();
    return 0;
}

/* ---- rate-limited reports ----
 *
 * A flood of identical reports (a million tasks that each failed for
 * want of a stack, a server dropping connections at its memory limit)
 * must not become a million lines. A report's key is its text without
 * what differs from one instance to the next (a task's id): the first
 * report of a key is printed whole; the same key again within a second
 * of that line only counts, and the next one after the second prints
 * "... and N more like it", one line a second however long the flood
 * lasts. weft__report_flush (weft_run's end) prints every count still
 * held and forgets the keys. A few keys are held at once (REPORT_KEYS,
 * the least recently used one gives way, its count printed first), so
 * two floods that interleave are each limited. Process-wide, as stderr
 * is: a mutex guards the table (reports are rare, never a hot path). */

#define REPORT_KEYS 8
#define REPORT_KEY_MAX 240
#define REPORT_PERIOD WEFT_SEC(1)

typedef struct {
    char key[REPORT_KEY_MAX];
    uint64_t more; /* counted since the last line printed for this key */
    int64_t since; /* when that line was printed */
    int64_t used;  /* the last report of this key */
} report_key_t;

static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;
static report_key_t report_keys[REPORT_KEYS];

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void key_print_more(report_key_t *k)
{
    if (k->more)
        fprintf(stderr, "weft: ... and %llu more like it (%s)\n", (unsigned long long)k->more,
                k->key);
    k->more = 0;
}

void weft__report(const char *line, const char *key)
{
    int64_t now = mono_now();
    pthread_mutex_lock(&report_mu);
    report_key_t *k = NULL, *lru = &report_keys[0];
    for (int i = 0; i < REPORT_KEYS; i++) {
        report_key_t *x = &report_keys[i];
        if (x->key[0] && strncmp(x->key, key, REPORT_KEY_MAX - 1) == 0) {
            k = x;
            break;
        }
        if (!x->key[0] || (lru->key[0] && x->used < lru->used))
            lru = x;
    }
    if (k && now - k->since < REPORT_PERIOD) {
        k->more++;
        k->used = now;
    } else if (k && k->more) {
        k->more++;
        key_print_more(k);
        k->since = k->used = now;
    } else {
        if (!k) {
            k = lru;
            key_print_more(k);
            snprintf(k->key, sizeof k->key, "%s", key);
        }
        fprintf(stderr, "weft: %s\n", line);
        k->since = k->used = now;
    }
    pthread_mutex_unlock(&report_mu);
}

void weft__report_flush(void)
{
    pthread_mutex_lock(&report_mu);
    for (int i = 0; i < REPORT_KEYS; i++) {
        key_print_more(&report_keys[i]);
        report_keys[i].key[0] = '\0';
    }
    pthread_mutex_unlock(&report_mu);
}

void weft__report_unretrieved(weft_task_t *t)
{
    /* the key leaves out what differs between like failures: the id, and
     * an unnamed task's Task-N */
    char lb[32], key[REPORT_KEY_MAX], line[REPORT_KEY_MAX + 64];
    snprintf(key, sizeof key, "task \"%s\" failed with %d (%s) and nobody retrieved it",
             t->name ? t->name : "Task-N", t->status, weft_strerror(t->status));
    snprintf(line, sizeof line, "task #%llu \"%s\" failed with %d (%s) and nobody retrieved it",
             (unsigned long long)t->id, weft__task_label(t, lb), t->status,
             weft_strerror(t->status));
    weft__report(line, key);
}

void weft__report_pending(weft_task_t *t)
{
    char lb[32];
    fprintf(stderr, "weft: task #%llu \"%s\" was destroyed while still pending (%s",
            (unsigned long long)t->id, weft__task_label(t, lb), weft_task_state_name(t->tstate));
    describe_wait(stderr, t);
    fputs(")\n", stderr);
}

void weft__report_slow(weft_task_t *t, int64_t ns)
{
    char lb[32];
    fprintf(stderr, "weft: task #%llu \"%s\" held the loop for %.3f ms in one step\n",
            (unsigned long long)t->id, weft__task_label(t, lb), (double)ns / 1e6);
}
