#!/bin/sh
# run.sh BUILD_DIR [SECONDS] - runs every fuzz target in BUILD_DIR/fuzz for
# SECONDS each (default 20), starting from the committed seeds in
# fuzz/corpus/<target>/ (copied to a temporary folder, so the repository
# is not written to). A crash leaves its input in BUILD_DIR/fuzz/ as
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
for target in fuzz_http fuzz_resp fuzz_stream; do
    exe=$build/fuzz/$target
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
    # -timeout: one input taking 10 s is a hang; -max_len keeps inputs small
    # enough that each run stays quick.
    if ! "$exe" $dict -max_total_time="$seconds" -timeout=10 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz/$target-" "$work/$target"; then
        echo "run.sh: $target FAILED (see the artifact above)" >&2
        status=1
    fi
done
exit $status
