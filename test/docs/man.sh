#!/bin/sh
# Usage: test/docs/man.sh comments SOURCE_DIR AWK
#        test/docs/man.sh pages SOURCE_DIR MAN_DIR
# comments: every WEFT_API function in include/weft.h has a comment
#   directly above it (scripts/weft-man.awk -v check=1), and the check
#   itself catches a function without one.
# pages: MAN_DIR (the build's man/man3, what `cmake --install` installs)
#   has a page for every WEFT_API function, with its NAME, SYNOPSIS (the
#   #include and the prototype) and a DESCRIPTION; weft(3) lists every
#   call; every page renders without a warning (groff -ww, or mandoc
#   -Tlint; with neither installed only the checks above run).
set -eu

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[ $# -eq 3 ] || { sed -n '2,3p' "$0" >&2; exit 2; }
mode=$1
src=$(cd "$2" && pwd)
header=$src/include/weft.h

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

case $mode in
comments)
    awk=$3
    "$awk" -v check=1 -f "$src/scripts/weft-man.awk" "$header" \
        || fail "a WEFT_API function in include/weft.h has no comment directly above it (see above)"
    # the check finds what it must: no comment, a blank line between, a
    # comment shared with the declaration before
    cat >"$tmp/h.h" <<'H'
/* Documented. */
WEFT_API int weft_good(void);
WEFT_API int weft_shares_a_comment(void);

WEFT_API int weft_bare(int a,
                       int b);
/* A comment, then a blank line. */

WEFT_API int weft_too_far(void);
H
    if "$awk" -v check=1 -f "$src/scripts/weft-man.awk" "$tmp/h.h" 2>"$tmp/err"; then
        fail "the comment check passed a header with undocumented functions"
    fi
    for f in weft_shares_a_comment weft_bare weft_too_far; do
        grep -q "$f has no comment" "$tmp/err" || fail "the comment check missed $f"
    done
    if grep -q weft_good "$tmp/err"; then fail "the comment check flagged weft_good"; fi
    echo "every WEFT_API function has its comment"
    ;;
pages)
    man=$3
    [ -d "$man" ] || fail "$man does not exist (build the weft_man target)"
    names=$(sed -n '/^WEFT_API/{s/(.*//;s/.*[^A-Za-z0-9_]//;p;}' "$header")
    want=$(grep -c '^WEFT_API' "$header")
    got=$(printf '%s\n' $names | grep -c .)
    [ "$got" -eq "$want" ] && [ "$want" -gt 0 ] || fail "found $got names for $want WEFT_API lines"
    for n in $names; do
        [ -f "$man/$n.3" ] || fail "no man page for $n"
    done
    # one awk over every page (a handful of greps per page takes long on a
    # busy machine): prints what a page lacks
    printf '%s\n' $names >"$tmp/names"
    awk -v names="$tmp/names" -v overview="$man/weft.3" '
        function check(    n, up) {
            if (file == "") return
            n = file; sub(/.*\//, "", n); sub(/\.3$/, "", n)
            if (!(n in want)) return
            up = toupper(n)
            if (!th) print n ".3: no .TH " up " 3"
            if (!nm) print n ".3: no NAME line"
            if (!inc) print n ".3: no #include <weft.h> in the SYNOPSIS"
            if (!proto) print n ".3: no prototype of " n " in the SYNOPSIS"
            if (!desc) print n ".3: empty DESCRIPTION"
        }
        BEGIN { while ((getline l < names) > 0) want[l] = 1 }
        FNR == 1 { check(); file = FILENAME; th = nm = inc = proto = desc = 0; after = "" }
        FILENAME == overview && /^\.BR [^ ]+ \(3\)$/ { listed[$2] = 1 }
        { e = file; sub(/.*\//, "", e); sub(/\.3$/, "", e) }
        index($0, ".TH " toupper(e) " 3 ") == 1 { th = 1 }
        index($0, e " \\- ") == 1 && length($0) > length(e) + 4 { nm = 1 }
        $0 == ".B #include <weft.h>" { inc = 1 }
        index($0, "\\fB" e "\\fP(") { proto = 1 }
        after == ".SH DESCRIPTION" && $0 !~ /^[.(]/ && $0 != "" { desc = 1 }
        { after = $0 }
        END {
            check()
            for (n in want) if (!(n in listed)) print "weft.3 does not list " n
        }' "$man"/*.3 >"$tmp/bad"
    [ ! -s "$tmp/bad" ] || { cat "$tmp/bad" >&2; fail "pages lack what they must have"; }
    echo "$want functions, each with its page"
    rendered=""
    if command -v groff >/dev/null 2>&1; then
        # one run for all (a run per page takes a minute on a busy machine);
        # groff names the file in a warning
        groff -man -Tutf8 -ww -z "$man"/*.3 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "groff failed"; }
        [ ! -s "$tmp/err" ] || { cat "$tmp/err" >&2; fail "groff warns about a page"; }
        groff -man -Tascii -P-cbou "$man/weft_spawn.3" >"$tmp/out" 2>/dev/null
        grep -q '^SYNOPSIS' "$tmp/out" && grep -q 'int weft_spawn(weft_task_t \*\*task' "$tmp/out" \
            || { cat "$tmp/out"; fail "weft_spawn.3 does not render its synopsis"; }
        rendered=groff
    elif command -v mandoc >/dev/null 2>&1; then
        for p in "$man"/*.3; do
            mandoc -Tlint -W warning "$p" >"$tmp/err" 2>&1 || { cat "$tmp/err" >&2; fail "mandoc warns about $p"; }
        done
        rendered=mandoc
    fi
    if [ -n "$rendered" ]; then
        echo "every page renders without a warning ($rendered)"
    else
        echo "neither groff nor mandoc installed: pages not rendered (scripts/deps.sh build installs groff-base)"
    fi
    ;;
*)
    sed -n '2,3p' "$0" >&2
    exit 2
    ;;
esac
