#!/bin/sh
# Usage: test/docs/asyncio.sh SOURCE_DIR
# docs/asyncio.md names only what exists: every weft_* and WEFT_* word
# in it is declared or defined in include/weft.h (a call, a type, a
# field, a constant), and every conformance test it cites
# (test_<file>__<method>) is a test in test/conformance/.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 SOURCE_DIR" >&2; exit 2; }
src=$(cd "$1" && pwd)
doc="$src/docs/asyncio.md"
hdr="$src/include/weft.h"
[ -f "$doc" ] || { echo "FAIL: no docs/asyncio.md" >&2; exit 1; }

status=0
names=$(grep -o '\b[wW][eE][fF][tT]_[A-Za-z0-9_]*' "$doc" | sort -u)
# the header's words of that shape, read once (one grep per name took
# 7 s alone and passed ctest's 60 s at load 15)
have=$(mktemp)
trap 'rm -f "$have"' EXIT
grep -o '\b[wW][eE][fF][tT]_[A-Za-z0-9_]*' "$hdr" | sort -u >"$have"
n=0
for w in $names; do
    n=$((n + 1))
done
for w in $(printf '%s\n' $names | grep -vxF -f "$have"); do
    echo "FAIL: docs/asyncio.md names $w, which weft.h does not have" >&2
    status=1
done
tests=$(grep -o '\btest_[a-z0-9]*__[a-z0-9_]*' "$doc" | sort -u)
t=0
for w in $tests; do
    t=$((t + 1))
    grep -q "\\b$w\\b" "$src"/test/conformance/test_conf_*.c ||
        { echo "FAIL: docs/asyncio.md cites $w, which test/conformance/ does not have" >&2; status=1; }
done
[ $status -eq 0 ] && echo "docs/asyncio.md: $n weft names, all in weft.h; $t conformance tests, all there"
exit $status
