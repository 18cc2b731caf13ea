#!/bin/sh
# Usage: test/docs/guide.sh SOURCE_DIR CC LIBWEFT_A "LIBS"
# Every C block of docs/guide.md compiles and runs. A C block opens with
# a line "```c file=NAME.c" (a block opened with a bare "```c" fails the
# test: the guide has no fragments that cannot be built); it is written
# to NAME.c, compiled with CC -Wall -Wextra -Wno-unused-parameter -Werror
# against SOURCE_DIR/include and LIBWEFT_A (the build's libweft.a) with
# LIBS (the libraries it needs, as weft-static.pc lists them), and run:
# it must exit 0 within 60 s. A block marked "stop=TERM" is a server: it
# runs until it has printed its first line, then gets SIGTERM, and must
# exit 0.
set -eu

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[ $# -eq 4 ] || { sed -n '2p' "$0" >&2; exit 2; }
src=$(cd "$1" && pwd)
cc=$2
lib=$3
libs=$4
guide=$src/docs/guide.md
[ -f "$guide" ] || fail "$guide does not exist"
[ -f "$lib" ] || fail "$lib does not exist (build the weft_static target)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-guide.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Writes each block to $tmp/NAME and lists "NAME LINE STOP" in $tmp/list.
awk -v dir="$tmp" '
    /^```/ && inblock { inblock = 0; close(out); next }
    inblock { print > out; next }
    /^```c[ \t]*$/ { print "line " NR ": a C block without file=NAME.c"; bad = 1; next }
    /^```c[ \t]/ {
        name = ""; stop = "-"
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^file=[A-Za-z0-9_]+\.c$/) name = substr($i, 6)
            else if ($i == "stop=TERM") stop = "TERM"
            else { print "line " NR ": unknown marker " $i; bad = 1 }
        }
        if (name == "") { print "line " NR ": no file=NAME.c"; bad = 1; next }
        if (name in seen) { print "line " NR ": " name " twice"; bad = 1 }
        seen[name] = 1
        out = dir "/" name
        printf "" > out
        print name, NR, stop >> (dir "/list")
        inblock = 1
        next
    }
    /^```/ { other = !other }
    END { if (inblock) { print "a block is never closed"; bad = 1 } exit bad }
' "$guide" >"$tmp/bad" || { cat "$tmp/bad" >&2; fail "docs/guide.md's C blocks are not all marked"; }
[ -s "$tmp/list" ] || fail "docs/guide.md has no C block marked file=NAME.c"

timeout_cmd=""
if command -v timeout >/dev/null 2>&1; then timeout_cmd="timeout 60"; fi

# Build them all at once (a busy machine takes seconds for each), then run
# them one by one.
while read -r name line stop; do
    exe=$tmp/${name%.c}
    # shellcheck disable=SC2086
    { $cc -Wall -Wextra -Wno-unused-parameter -Werror -I"$src/include" -o "$exe" "$tmp/$name" \
        "$lib" $libs >"$exe.log" 2>&1; echo $? >"$exe.rc"; } &
done <"$tmp/list"
wait

n=0
while read -r name line stop; do
    exe=$tmp/${name%.c}
    printf '== %s (docs/guide.md line %s)\n' "$name" "$line"
    cat "$exe.log"
    [ "$(cat "$exe.rc")" = 0 ] || fail "$name (docs/guide.md line $line) does not build"
    if [ "$stop" = TERM ]; then
        "$exe" >"$tmp/out" 2>&1 &
        pid=$!
        i=0
        while [ ! -s "$tmp/out" ] && [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do
            sleep 0.1
            i=$((i + 1))
        done
        [ -s "$tmp/out" ] || { kill -KILL $pid 2>/dev/null || :; fail "$name printed nothing in 60 s"; }
        kill -TERM $pid
        status=0
        wait $pid || status=$?
        cat "$tmp/out"
        [ $status -eq 0 ] || fail "$name exited $status after SIGTERM (wanted 0)"
    else
        status=0
        $timeout_cmd "$exe" || status=$?
        [ $status -eq 0 ] || fail "$name (docs/guide.md line $line) exited $status"
    fi
    n=$((n + 1))
done <"$tmp/list"
echo "every C block of docs/guide.md builds and runs: $n programs"
