#!/bin/sh
# run.sh BUILD_DIR [SECONDS] - runs every fuzz target in BUILD_DIR/fuzz for
# SECONDS each (default 20; eight targets, so the whole run takes about
# eight times that, plus a second or two each to start), starting from
# the committed seeds in fuzz/corpus/<target>/ (copied to a temporary
# folder, so the repository is not written to) with fuzz/<target>.dict
# where there is one. A crash leaves its input in BUILD_DIR/fuzz/ as
# <target>-crash-<sha1>; reproduce it with BUILD_DIR/fuzz/<target> FILE.
# Exits non-zero if any target found a problem.
#
# Build first:
#   CC=clang cmake -S . -B build-fuzz -DWEFT_FUZZ=ON -DWEFT_BUILD_TESTS=OFF \
#       -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=OFF
#   cmake --build build-fuzz -j
set -u
if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

status=0
# Each target with its -max_len: inputs large enough to reach the limits
# its code has (64 KiB stream buffers and datagrams, records past 64 KiB,
# over 1 MiB through a pipe), small where sizes come from the script.
targets="fuzz_http:8192 fuzz_resp:8192 fuzz_stream:8192 fuzz_stream_write:4096
fuzz_tls:70000 fuzz_udp:4096 fuzz_addr:1024 fuzz_proc:70000"

for entry in $targets; do
    target=${entry%%:*}
    max_len=${entry#*:}
    exe=$build/fuzz/$target
    if [ "$target" = fuzz_tls ] && [ ! -x "$exe" ] && [ -x "$build/fuzz/fuzz_stream" ]; then
        echo "== $target: not built (no OpenSSL), skipped"
        continue
    fi
    if [ ! -x "$exe" ]; then
        echo "run.sh: $exe not built (configure with CC=clang -DWEFT_FUZZ=ON)" >&2
        status=1
        continue
    fi
    mkdir -p "$work/$target"
    cp "$here/corpus/$target/"* "$work/$target/" 2>/dev/null || true
    dict=
    [ -f "$here/$target.dict" ] && dict=-dict=$here/$target.dict
    echo "== $target: $seconds s"
    # -timeout: one input taking 10 s is a hang.
    if ! "$exe" $dict -max_total_time="$seconds" -timeout=10 -max_len="$max_len" \
        -print_final_stats=1 -artifact_prefix="$build/fuzz/$target-" "$work/$target"; then
        echo "run.sh: $target FAILED (see the artifact above)" >&2
        status=1
    fi
done
exit $status
