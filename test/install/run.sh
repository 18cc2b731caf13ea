#!/bin/sh
# Usage: test/install/run.sh BUILD_DIR SOURCE_DIR
# Installs BUILD_DIR into a temporary prefix and checks what is there (the
# header, the libraries, the CMake and pkg-config files, the man pages),
# then builds consumer.c against it the ways the README shows, each as
# strict C11 (-std=c11 -pedantic-errors -Werror), and runs every program
# it built with LD_LIBRARY_PATH unset: a documented way that needs it does
# not work.
#   pkg-config weft                 libweft.so, found through the run path weft.pc adds
#   pkg-config weft-static          libweft.a, system libraries shared
#   cc -static, pkg-config --static everything static (where libc.a and, with
#                                   TLS, libssl.a are installed)
#   find_package(weft)              weft::weft and weft::weft_static, run from the
#                                   build tree and once more after `cmake --install`
# and examples/echo_server.c with pkg-config weft: it runs until SIGTERM,
# which must stop it with exit status 0.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
here=$src/test/install
cc=${CC:-cc}
unset LD_LIBRARY_PATH

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
out=$tmp/out
mkdir -p "$out"

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
needs_libweft_so() { readelf -d "$1" | grep -q 'NEEDED.*libweft\.so\.0'; }

step "install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }

[ -f "$prefix/include/weft.h" ] || fail "include/weft.h not installed"
pc=$(find "$prefix" -name weft.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "weft.pc not installed"
[ -f "$(dirname "$pc")/weft-static.pc" ] || fail "weft-static.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in libweft.a libweft.so libweft.so.0; do
    [ -e "$libdir/$f" ] || fail "$libdir/$f not installed"
done
soname=$(readelf -d "$libdir/libweft.so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libweft.so.0" ] || fail "SONAME is '$soname', expected libweft.so.0"
[ -f "$libdir/cmake/weft/weftConfig.cmake" ] || fail "weftConfig.cmake not installed"
if [ -d "$build/man/man3" ]; then
    # the man pages: as many as were built, and found by man(1) through MANPATH
    n_built=$(find "$build/man/man3" -name '*.3' | wc -l)
    n_inst=$(find "$prefix/share/man/man3" -name '*.3' 2>/dev/null | wc -l)
    [ "$n_inst" -eq "$n_built" ] && [ "$n_built" -gt 0 ] \
        || fail "$n_inst man pages installed in share/man/man3, $n_built built"
    if command -v man >/dev/null 2>&1; then
        found=$(MANPATH="$prefix/share/man" man -w weft_spawn 2>/dev/null) || found=""
        [ "$found" = "$prefix/share/man/man3/weft_spawn.3" ] \
            || fail "man -w weft_spawn found '$found' with MANPATH=$prefix/share/man"
    fi
fi

PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
std="-std=c11 -pedantic-errors -Wall -Wextra -Werror"

# The README's commands, word for word but for the warning flags.
step "pkg-config weft (shared)"
# shellcheck disable=SC2046,SC2086
$cc $std -o "$out/pc_shared" "$here/consumer.c" $(pkg-config --cflags --libs weft) \
    || fail "pkg-config weft build"
needs_libweft_so "$out/pc_shared" || fail "pc_shared does not need libweft.so.0"
readelf -d "$out/pc_shared" | grep -Eq '(RUNPATH|RPATH)' || fail "pc_shared has no run path"

step "pkg-config weft-static (libweft.a)"
# shellcheck disable=SC2046,SC2086
$cc $std -o "$out/pc_static" "$here/consumer.c" $(pkg-config --cflags --libs weft-static) \
    || fail "pkg-config weft-static build"
if needs_libweft_so "$out/pc_static"; then fail "pc_static links libweft.so"; fi

built="pc_shared pc_static"
# A fully static program needs the static C library, and libssl.a and
# libcrypto.a when weft was built with TLS.
have_archives=yes
for l in $(pkg-config --static --libs-only-l weft); do
    case $l in -lweft) continue ;; esac
    a=lib${l#-l}.a
    [ "$($cc -print-file-name="$a")" != "$a" ] || have_archives=no
done
[ "$($cc -print-file-name=libc.a)" != libc.a ] || have_archives=no
if [ $have_archives = yes ]; then
    step "cc -static, pkg-config --static weft"
    # shellcheck disable=SC2046,SC2086
    $cc -static $std -o "$out/pc_all_static" "$here/consumer.c" \
        $(pkg-config --cflags --static --libs weft) >"$tmp/static.log" 2>&1 \
        || { cat "$tmp/static.log"; fail "cc -static build"; }
    if readelf -d "$out/pc_all_static" 2>/dev/null | grep -q NEEDED; then
        fail "pc_all_static needs shared libraries"
    fi
    built="$built pc_all_static"
else
    step "cc -static: skipped (no libc.a, or no static archive of a library weft uses)"
fi

step "find_package(weft)"
cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$tmp/app" -DCMAKE_C_COMPILER="$cc" \
    "-DCMAKE_C_FLAGS=-pedantic-errors -Wall -Wextra -Werror" >"$tmp/cmake.log" 2>&1 \
    || { cat "$tmp/cmake.log"; fail "find_package configure"; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "find_package build"; }
grep -q -- '-std=c11' "$tmp/cmake-build/CMakeFiles/consumer_cmake_shared.dir/flags.make" \
    || fail "the CMake consumer is not built with -std=c11"
cmake --install "$tmp/cmake-build" >"$tmp/app-install.log" 2>&1 \
    || { cat "$tmp/app-install.log"; fail "consumer install"; }
for b in consumer_cmake_shared consumer_cmake_static; do
    cp "$tmp/cmake-build/$b" "$out/$b"
    cp "$tmp/app/bin/$b" "$out/${b}_installed"
done
needs_libweft_so "$out/consumer_cmake_shared" || fail "consumer_cmake_shared does not need libweft.so.0"
if needs_libweft_so "$out/consumer_cmake_static"; then fail "consumer_cmake_static links libweft.so"; fi
built="$built consumer_cmake_shared consumer_cmake_static consumer_cmake_shared_installed"
built="$built consumer_cmake_static_installed"

# The canonical example, which needs nothing but weft.h: built as its
# header comment says, started, and stopped with SIGTERM (the signal a
# service manager sends; weft_signal_wait_stop takes it), after which it
# must exit 0.
step "examples/echo_server.c with pkg-config weft, stopped by SIGTERM"
# shellcheck disable=SC2046,SC2086
$cc $std -o "$out/echo_server" "$src/examples/echo_server.c" $(pkg-config --cflags --libs weft) \
    || fail "echo_server build"
"$out/echo_server" 0 >"$tmp/echo.out" 2>&1 &
echo_pid=$!
i=0
while ! grep -q '^echo_server: listening on 127\.0\.0\.1:' "$tmp/echo.out" && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
done
if ! grep -q '^echo_server: listening on 127\.0\.0\.1:' "$tmp/echo.out"; then
    kill -KILL "$echo_pid" 2>/dev/null || true
    cat "$tmp/echo.out" >&2
    fail "echo_server did not start"
fi
kill -TERM "$echo_pid"
if wait "$echo_pid"; then echo_status=0; else echo_status=$?; fi
[ "$echo_status" -eq 0 ] || { cat "$tmp/echo.out" >&2; fail "echo_server exited $echo_status after SIGTERM"; }

want="weft $(sed -n 's/^Version: //p' "$pc"): ok"
status=0
for b in $built; do
    step "run $b"
    if got=$("$out/$b"); then
        if [ "$got" != "$want" ]; then
            echo "FAIL: $b printed '$got', expected '$want'" >&2
            status=1
        fi
    else
        echo "FAIL: $b exited $?: $got" >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "install test passed"
exit $status
