/* netbench.h - shared helpers of the network workloads (echo, http,
 * redis): start a server pinned to a CPU and wait until its port accepts,
 * read a process's CPU time from /proc, run a client pinned to another CPU
 * and capture its output, and print skipped lines that carry the
 * parameters.
 *
 * Pinning (/work/shared/BENCH.md "Network examples"): single-worker runs put
 * the server on CPU 0 and the client on CPU 1; runs with two workers pin
 * nothing (pass NB_NO_CPU).
 */
#ifndef WEFT_NETBENCH_H
#define WEFT_NETBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NB_SERVER_CPU 0
#define NB_CLIENT_CPU 1
#define NB_NO_CPU (-1)

typedef struct nb_server {
    pid_t pid; /* 0: not running */
    int port;
} nb_server_t;

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int nb_pick_port(void);

/* Starts argv (argv[0] an absolute path) with our environment plus
 * `extra` ("KEY=VALUE", NULL-terminated, may be NULL), on CPU `cpu`
 * (NB_NO_CPU: anywhere), its stdout discarded and its stderr ours, with
 * RLIMIT_NOFILE raised to the hard limit; then waits up to 15 s until
 * 127.0.0.1:port accepts a connection. Returns 0, or -1 with `reason`
 * filled (the process is gone then). */
int nb_server_start(nb_server_t *s, char *const argv[], const char *const extra[], int cpu,
                    int port, char *reason, size_t reason_len);

/* SIGTERM, up to 3 s for it to exit, then SIGKILL; reaps it. */
void nb_server_stop(nb_server_t *s);

/* utime + stime of pid in microseconds (from /proc/PID/stat, all its
 * threads), or -1. */
int64_t nb_cpu_us(pid_t pid);

/* Runs argv (argv[0] an absolute path) on CPU `cpu`, its stdout captured
 * into *out (malloc'd, NUL-terminated; the caller frees it), its stderr
 * ours; kills it after timeout_s. Returns its exit status (0..255), or -1
 * with `reason` filled if it could not run, was killed or timed out. */
int nb_run_capture(char *const argv[], int cpu, int timeout_s, char **out, char *reason,
                   size_t reason_len);

/* The absolute path of program `name` (PATH, then /usr/sbin and /sbin)
 * into buf; false if none is executable. */
bool nb_find_program(const char *name, char *buf, size_t len);

/* The number after "key": in a JSON-ish line, or `dflt`. */
double nb_json_num(const char *s, const char *key, double dflt);

/* Seconds for a measurement of `base` s at WEFT_BENCH_SCALE, at least
 * `min` s. */
double nb_seconds(double base, double min);

/* {"workload":W,"impl":I,<fields>,"skipped":REASON}; fields may be NULL. */
void nb_skip(const char *workload, const char *impl, const char *fields, const char *reason);

/* Writes bench/peers/<tpl_name> into dir/nginx.conf with @DIR@ and @PORT@
 * filled in; false with the reason in `reason` if it cannot. */
bool nb_write_conf(const char *tpl_name, const char *dir, int port, char *reason, size_t len);

#endif /* WEFT_NETBENCH_H */
