#!/bin/sh
# bench/hostile.sh - issue 22's figures for a full-speed TLS reader:
# the latency of a normal client's requests to examples/https_hello while
# full-speed downloaders of /bytes/N run on the same worker(s), and the
# time from SIGINT to the server's exit under that load.
#
#   sh bench/hostile.sh [BUILD_DIR [RUNS [PROBES]]]     (build, 3, 300)
#
# CASES="1:1 2:4" picks the cases (WORKERS:DOWNLOADERS). HELPER=path
# picks another helper_httpload (to measure an older https_hello with
# this one).
#
# For each case (1 worker and 1 downloader, 2 workers and 4 downloaders,
# and each without downloaders as the baseline) and each of RUNS runs: a
# fresh https_hello, the downloaders (build/test/helper_httpload download,
# a process of their own), then a probe (helper_httpload probe: PROBES
# times 10 ms apart, a fresh connection with its handshake and a request
# on a kept-alive one), then SIGINT, timed until the server has exited
# (the example's close ends idle connections at once, its /bytes/N
# answers stop between writes once they see weft_server_closing, and
# whatever is left is cancelled after 1 s). Prints one
# line per run, then the medians. Each run also says what share of the
# time the server's threads were runnable during the probe they spent
# waiting for a CPU (/proc/PID/task/*/schedstat): on a loaded machine
# that, not weft's scheduling, is what a p99 of several ms is made of. Needs the openssl command (a
# self-signed certificate for localhost).
set -eu
B=${1:-build}
RUNS=${2:-3}
PROBES=${3:-300}
SRV=$B/examples/https_hello
HL=${HELPER:-$B/test/helper_httpload}
[ -x "$SRV" ] && [ -x "$HL" ] || { echo "hostile.sh: build $B first (make build)" >&2; exit 1; }
T=$(mktemp -d /tmp/weft-hostile-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# waits until file $1 has a line starting with $2 (30 s)
wait_line() {
  i=0
  while ! grep -q "^$2" "$1" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 3000 ] || { echo "hostile.sh: no \"$2\" in $1" >&2; exit 1; }
    sleep 0.01
  done
}

# the server's threads' run and run-queue wait times so far, in ns
# ("RUN WAIT", summed over /proc/PID/task/*/schedstat)
sched() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{r+=$1; w+=$2} END {printf "%.0f %.0f\n", r, w}'; }

median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

one() { # workers downloaders run
  w=$1; d=$2
  # the last run's files go first: the shell truncates them only once the
  # background child runs, and wait_line could meanwhile read the old
  # "listening" line and then an emptied file (an empty port: -EINVAL)
  rm -f "$T/srv.out" "$T/dl.out" "$T/probe.out"
  WEFT_WORKERS=$w "$SRV" 0 "$T/cert.pem" "$T/key.pem" >"$T/srv.out" &
  spid=$!
  wait_line "$T/srv.out" "https_hello: listening"
  port=$(sed -n 's/.*:\([0-9]*\) .*/\1/p' "$T/srv.out" | head -1)
  dpid=
  if [ "$d" -gt 0 ]; then
    "$HL" download "$port" "$T/cert.pem" 1099511627776 "$d" >"$T/dl.out" &
    dpid=$!
    wait_line "$T/dl.out" "download: started"
  fi
  s0=$(sched $spid)
  "$HL" probe "$port" "$T/cert.pem" "$PROBES" 10 >"$T/probe.out"
  s1=$(sched $spid)
  # of the time the server's threads were runnable during the probe, the
  # share they waited for a CPU (the machine's load, not weft's turns)
  rq=$(echo "$s0 $s1" | awk '{r=$3-$1; w=$4-$2; printf "%.0f", ((r+w) > 0 ? 100*w/(r+w) : 0)}')
  t0=$(now_ms)
  kill -INT $spid
  wait $spid
  t1=$(now_ms)
  [ -z "$dpid" ] || { kill $dpid 2>/dev/null || true; wait $dpid 2>/dev/null || true; }
  p=$(cat "$T/probe.out")
  echo "workers $w downloaders $d run $3: $p; server waited for a CPU $rq%; SIGINT to exit $((t1 - t0)) ms"
}

echo "hostile.sh: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for c in ${CASES:-1:0 1:1 2:0 2:4}; do
  set -- "${c%:*}" "${c#*:}"
  : >"$T/runs"
  for r in $(seq "$RUNS"); do
    one "$1" "$2" "$r" | tee -a "$T/runs"
  done
  cp99=$(sed -n 's/.*connect ms p50 [0-9.]* p99 \([0-9.]*\).*/\1/p' "$T/runs" | median)
  rp99=$(sed -n 's/.*request ms p50 [0-9.]* p99 \([0-9.]*\).*/\1/p' "$T/runs" | median)
  sig=$(sed -n 's/.*SIGINT to exit \([0-9]*\) ms/\1/p' "$T/runs" | median)
  rq=$(sed -n 's/.*waited for a CPU \([0-9]*\)%.*/\1/p' "$T/runs" | median)
  echo "== workers $1, downloaders $2, median of $RUNS: request p99 $rp99 ms, connect (handshake) p99 $cp99 ms, SIGINT to exit $sig ms, server waited for a CPU $rq%"
done
