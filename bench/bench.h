/* bench.h - shared helpers of weft-bench: the workload registry's types,
 * the clock, scaling, JSON lines, memory and fault counters, and running a
 * peer program (Go, Python) whose JSON lines are copied to our stdout.
 *
 * Output rules (docs: /work/shared/BENCH.md "Output"): stdout carries only
 * JSON objects, one per line; progress and diagnostics go to stderr.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifndef WEFT_SOURCE_DIR
#define WEFT_SOURCE_DIR "."
#endif
#ifndef WEFT_BINARY_DIR
#define WEFT_BINARY_DIR "build"
#endif

/* The interpreter for the asyncio peers: Debian's optimized build. */
#define BENCH_PYTHON "/usr/bin/python3"

/* One workload: runs every impl of it and prints one JSON line per
 * (impl, parameters). Returns 0, or -1 if something failed so badly that
 * weft-bench should exit non-zero (a peer that cannot run is not that: it
 * prints a skipped line). */
typedef int (*bench_fn)(void);

typedef struct bench_workload {
    const char *name;
    bench_fn fn;
} bench_workload_t;

/* ---- workloads (one file each) ---- */
int bench_switch(void);
int bench_create(void);
int bench_spawn(void);
int bench_sleepers(void);
int bench_yield(void);
int bench_cpu_fanout(void);
int bench_chan_pairs(void);
int bench_queue_fanin(void);
int bench_pipeline(void);
int bench_queue(void);
int bench_chan(void);
/* the network workloads: a server and a client each (netbench.h) */
int bench_echo(void);
int bench_http(void);
int bench_redis(void);
/* TLS: https_hello against nginx, one client (tls.c, tlsload/) */
int bench_tls_handshake(void);
int bench_tls_bulk(void);
int bench_spawn_proc(void);
int bench_tick(void);

/* ---- time ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* ---- scale ---- */

/* WEFT_BENCH_SCALE (a float > 0, default 1). */
double bench_scale(void);
/* n scaled by bench_scale(), at least 1. */
long bench_n(long n);

/* ---- statistics ---- */

/* The median of v[0..n) (sorts v in place); 0 when n is 0. */
double bench_median(double *v, size_t n);

/* ---- output ---- */

/* The CPU vendor: "amd", "intel", "arm" or "unknown" (every line's
 * "cpu" field). */
const char *bench_cpu(void);

/* Prints {"workload":W,"impl":I,"cpu":V,<fields>} and a newline on stdout and
 * flushes. `fmt` (printf-style, may be NULL or "") gives the remaining
 * fields without braces or a leading comma, e.g. "\"ns_per_op\":%.2f". */
void bench_json(const char *workload, const char *impl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints {"workload":W,"impl":I,"skipped":REASON} (REASON is escaped). */
void bench_skip(const char *workload, const char *impl, const char *reason);

/* Progress on stderr: "weft-bench: <msg>\n". */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- memory and faults ---- */

/* A field of /proc/self/status in kB (VmRSS, VmPTE, VmHWM...), or -1. */
long bench_status_kb(const char *field);
/* VmRSS + VmPTE in bytes (page tables count), or -1. */
long long bench_rss_pte_bytes(void);
/* Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs), so
 * that a later bench_peak_rss_mb() sees this workload's peak only.
 * Returns 0 or -1 (then the peak covers the whole process so far). */
int bench_peak_reset(void);
/* VmHWM in MiB (ru_maxrss if /proc is unreadable), or -1. */
double bench_peak_rss_mb(void);
/* Minor page faults of this process so far (getrusage). */
long bench_minor_faults(void);

/* ---- peers ---- */

/* Our environment minus the keys `extra` sets ("KEY=VALUE", NULL-
 * terminated, may be NULL), plus `extra`: a malloc'd array (free it; the
 * strings are borrowed), or NULL on no memory. */
char **bench_env(const char *const extra[]);

/* Runs argv (argv[0] an absolute path) with our environment plus `extra`
 * ("KEY=VALUE" strings, NULL-terminated; may be NULL; they replace the
 * inherited value of the same key), its stdout read through a pipe: each
 * line that is a JSON object is copied to our stdout, anything else goes
 * to stderr. Its stderr is ours. If argv[0] is missing, cannot be
 * started, exits non-zero, is killed or runs past timeout_s without
 * printing a JSON line, prints {"workload":W,"impl":I,"skipped":REASON}
 * (with "procs":P when extra sets GOMAXPROCS=P) so a peer never leaves
 * nothing. Returns the number of JSON lines copied (0 when skipped). */
int run_peer(const char *workload, const char *impl, char *const argv[], const char *const extra[],
             int timeout_s);

/* Runs the Go peer WEFT_BINARY_DIR/bench/peers/<name>-go with `args`
 * (NULL-terminated, may be NULL) twice, at GOMAXPROCS=1 and =2 (the peer
 * prints "procs"). A missing binary gives one skipped line. */
void run_go_peer(const char *workload, const char *name, const char *const args[], int timeout_s);

/* Runs BENCH_PYTHON WEFT_SOURCE_DIR/bench/peers/<name>.py `args`. */
void run_py_peer(const char *workload, const char *name, const char *const args[], int timeout_s);

/* ---- Boost.Context (Debian's libboost-context-dev, C linkage) ---- */
#if defined(WEFT_BENCH_HAVE_FCONTEXT)
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
/* Jumps to `to`, handing it vp; returns when someone jumps back, with the
 * context it came from and its data. */
transfer_t jump_fcontext(fcontext_t const to, void *vp);
/* A context that runs fn on the stack whose TOP is sp. fn must never
 * return (that exits the process): it ends by jumping away. */
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
#endif

#endif /* WEFT_BENCH_H */
