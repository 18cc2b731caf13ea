/* trim.c - memory given back to the kernel once a worker has been quiet.
 *
 * Owns: when a worker trims (the quiet period and its bookkeeping in the
 * loop record), what one trim does, and the process-wide counters that
 * weft_mem_stats reads.
 *
 * A burst (ten thousand connections at once) leaves its memory in the
 * pools that made it cheap: free stacks keep their pages, empty slab
 * segments stay warm, and malloc keeps the freed heap. That is right
 * while more bursts come and wrong once the program sits idle, so a
 * worker that has been quiet for a whole quiet period (weft_config_t
 * .trim_quiet_ns) trims once, on its own thread, just before it would
 * block in the backend (never on the path a busy worker takes):
 *   - free stacks past the warm floor give their pages back (stack.c);
 *   - the worker's empty slab segments past the floor likewise (slab.c);
 *   - glibc's heap gives back its free pages (malloc_trim(0)).
 * What stays is the warm floor (weft_config_t.trim_floor): the stacks
 * and segments a trickle of work needs, so it pays no page fault.
 *
 * Quiet: the worker ended no more tasks during the period than its floor
 * keeps default-size stacks for (a trickle the floor serves). The count
 * of tasks ended on the loop (L->ended) is the churn signal: a task that
 * ends gives back its stack, its task object and, usually, the streams
 * it used. It is read only where the loop is about to block, so a busy
 * loop pays nothing; a loop with a trim pending reads the clock there
 * and blocks no longer than the trim is due; a loop that trimmed and
 * ended no task since blocks exactly as it would without this file: an
 * idle process is woken once per quiet period at most, and only after
 * it did something.
 */
#include "worker.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* ---- counters (process-wide: the stack store is) ---- */

static _Atomic uint64_t n_trims, n_stacks, n_stack_bytes, n_segments, n_segment_bytes, n_heap_bytes;

static void add(_Atomic uint64_t *c, uint64_t v)
{
    if (v)
        atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

void weft__trim_totals(weft_mem_stats_t *st)
{
    st->trims = atomic_load_explicit(&n_trims, memory_order_relaxed);
    st->stacks_returned = atomic_load_explicit(&n_stacks, memory_order_relaxed);
    st->stack_bytes_returned = atomic_load_explicit(&n_stack_bytes, memory_order_relaxed);
    st->segments_returned = atomic_load_explicit(&n_segments, memory_order_relaxed);
    st->segment_bytes_returned = atomic_load_explicit(&n_segment_bytes, memory_order_relaxed);
    st->heap_bytes_returned = atomic_load_explicit(&n_heap_bytes, memory_order_relaxed);
    st->bytes_returned =
        st->stack_bytes_returned + st->segment_bytes_returned + st->heap_bytes_returned;
}

/* ---- configuration ---- */

/* WEFT_TRIM_QUIET: the quiet period in milliseconds, "off" (or a negative
 * number) for never; anything else unreadable is ignored. */
static int64_t env_quiet(void)
{
    const char *e = getenv("WEFT_TRIM_QUIET");
    if (!e || !*e)
        return 0;
    if (strcmp(e, "off") == 0)
        return WEFT_TRIM_NEVER;
    char *end;
    long long ms = strtoll(e, &end, 10);
    if (*end || ms == 0)
        return 0;
    if (ms < 0)
        return WEFT_TRIM_NEVER;
    if (ms > WEFT_TRIM_QUIET_MAX / WEFT_MSEC(1))
        ms = WEFT_TRIM_QUIET_MAX / WEFT_MSEC(1);
    return WEFT_MSEC(ms);
}

int weft__trim_check(const weft_config_t *cfg)
{
    if (!cfg)
        return 0;
    if (cfg->trim_quiet_ns > 0 &&
        (cfg->trim_quiet_ns < WEFT_TRIM_QUIET_MIN || cfg->trim_quiet_ns > WEFT_TRIM_QUIET_MAX))
        return -EINVAL;
    if (cfg->trim_floor > WEFT_TRIM_FLOOR_MAX)
        return -EINVAL;
    return 0;
}

void weft__trim_setup(weft__loop_t *L, const weft_config_t *cfg)
{
    int64_t q = cfg ? cfg->trim_quiet_ns : 0;
    if (q == 0)
        q = env_quiet();
    if (q == 0)
        q = WEFT_TRIM_QUIET_DEFAULT;
    L->trim_quiet_ns = q < 0 ? 0 : q;
    /* the trim gives back the thread's empty slab segments: until then
     * they stay warm (slab.c) */
    L->thr->slab_defer = L->trim_quiet_ns > 0;
    L->trim_floor = cfg && cfg->trim_floor ? cfg->trim_floor : WEFT_TRIM_FLOOR_DEFAULT;
    /* a trickle: no more tasks ended in a period than the floor keeps
     * default-size stacks for */
    L->trim_trickle = L->trim_floor / weft_stack_default_size();
    L->trim_at = 0;
    L->trim_base = 0;
}

/* ---- the trim ---- */

size_t weft__resident(const void *p, size_t len)
{
    static size_t page;
    if (!page)
        page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char vec[64];
    size_t npages = len / page, bytes = 0;
    for (size_t i = 0; i < npages; i += sizeof vec) {
        size_t k = npages - i < sizeof vec ? npages - i : sizeof vec;
        if (mincore((char *)p + i * page, k * page, vec) != 0)
            return bytes;
        for (size_t j = 0; j < k; j++)
            bytes += (vec[j] & 1) ? page : 0;
    }
    return bytes;
}

#if defined(__GLIBC__)
/* The process's resident bytes (/proc/self/statm), 0 if unknown. */
static uint64_t rss_now(void)
{
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size, res;
    if (sscanf(buf, "%llu %llu", &size, &res) != 2)
        return 0;
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}
#endif

static void trim(weft__loop_t *L)
{
    int64_t t0 = L->debug ? weft_now() : 0;
    weft__trim_counts_t n = {0};
    weft__stack_trim(L->trim_floor, &n);
    weft__slab_trim(L->trim_floor, &n);
    uint64_t heap = 0;
#if defined(__GLIBC__)
    /* how much malloc gave back is seen only in the process's RSS: other
     * threads' work meanwhile blurs it, so it is a floor of zero and an
     * estimate above it */
    uint64_t before = rss_now();
    if (malloc_trim(0)) {
        uint64_t after = rss_now();
        heap = before > after ? before - after : 0;
    }
#endif
    add(&n_trims, 1);
    add(&n_stacks, n.stacks);
    add(&n_stack_bytes, n.stack_bytes);
    add(&n_segments, n.segments);
    add(&n_segment_bytes, n.segment_bytes);
    add(&n_heap_bytes, heap);
    if (L->debug)
        fprintf(stderr,
                "weft: worker %d quiet: gave back %llu stacks (%.1f MB), %llu slab segments "
                "(%.1f MB), heap (%.1f MB) in %.1f ms\n",
                L->index, (unsigned long long)n.stacks, (double)n.stack_bytes / 1e6,
                (unsigned long long)n.segments, (double)n.segment_bytes / 1e6, (double)heap / 1e6,
                (double)(weft_now() - t0) / 1e6);
}

int64_t weft__trim_idle(weft__loop_t *L)
{
    unsigned long ended = atomic_load_explicit(&L->ended, memory_order_relaxed);
    if (L->trim_at == 0 && ended == L->trim_base)
        return -1; /* nothing ended since the last trim: block as asked */
    if (L->closing || atomic_load_explicit(&L->rt->closing, memory_order_relaxed))
        return -1;
    int64_t now = weft_now();
    if (L->trim_at == 0 || ended - L->trim_base > L->trim_trickle) {
        /* the first churn since the last trim, or more than a trickle
         * since the period began: a new period begins now */
        L->trim_base = ended;
        L->trim_at = now + L->trim_quiet_ns;
    } else if (now >= L->trim_at) {
        trim(L);
        L->trim_at = 0;
        L->trim_base = atomic_load_explicit(&L->ended, memory_order_relaxed);
        /* the trim took time (a timer may be due now): no block this
         * turn, the next one works out its wait afresh */
        return 0;
    }
    return L->trim_at - now;
}
