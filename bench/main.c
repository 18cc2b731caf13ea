/* main.c - weft-bench: runs the benchmark workloads and prints one JSON
 * line per (workload, impl, parameters) on stdout (/work/shared/BENCH.md).
 *
 *   weft-bench             every workload, in registry order
 *   weft-bench NAME...     the named ones (unknown name: exit 2)
 *   weft-bench --list      the names, one a line
 *
 * WEFT_BENCH_SCALE (float, default 1) scales every N for quick runs.
 *
 * Adding a workload: write bench/<name>.c with `int bench_<name>(void)`
 * (it prints its lines with bench_json / bench_skip / run_go_peer /
 * run_py_peer), declare it in bench.h, and add one line to `workloads`.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

/* The registry: one line a workload, run in this order. */
/* clang-format off */
static const bench_workload_t workloads[] = {
    {"switch", bench_switch},
    {"create", bench_create},
    {"spawn", bench_spawn},
    {"sleepers", bench_sleepers},
    {"yield", bench_yield},
    {"queue", bench_queue},
    {"chan", bench_chan},
    {"echo", bench_echo},
    {"http", bench_http},
    {"redis", bench_redis},
    {"tls_handshake", bench_tls_handshake},
    {"tls_bulk", bench_tls_bulk},
    {"spawn_proc", bench_spawn_proc},
    {"tick", bench_tick},
    {"cpu_fanout", bench_cpu_fanout},
    {"chan_pairs", bench_chan_pairs},
    {"queue_fanin", bench_queue_fanin},
    {"pipeline", bench_pipeline},
};
/* clang-format on */

#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

static const bench_workload_t *find(const char *name)
{
    for (size_t i = 0; i < N_WORKLOADS; i++)
        if (strcmp(workloads[i].name, name) == 0)
            return &workloads[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: weft-bench [--list] [NAME...]\nworkloads:");
    for (size_t i = 0; i < N_WORKLOADS; i++)
        fprintf(f, " %s", workloads[i].name);
    fputc('\n', f);
}

int main(int argc, char **argv)
{
    const bench_workload_t *run[64];
    size_t n_run = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < N_WORKLOADS; k++)
                printf("%s\n", workloads[k].name);
            return 0;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        const bench_workload_t *w = find(argv[i]);
        if (!w) {
            fprintf(stderr, "weft-bench: unknown workload '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (n_run == sizeof run / sizeof run[0]) {
            fprintf(stderr, "weft-bench: too many workloads named\n");
            return 2;
        }
        run[n_run++] = w;
    }
    if (n_run == 0)
        for (size_t k = 0; k < N_WORKLOADS; k++)
            run[n_run++] = &workloads[k];

    int failed = 0;
    for (size_t i = 0; i < n_run; i++) {
        bench_note("== %s (scale %g)", run[i]->name, bench_scale());
        if (run[i]->fn() != 0) {
            bench_note("%s failed", run[i]->name);
            failed = 1;
        }
    }
    return failed;
}
