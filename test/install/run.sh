#!/bin/sh
# Usage: test/install/run.sh BUILD_DIR SOURCE_DIR
# Installs BUILD_DIR into a temporary prefix, then builds and runs
# test/install/consumer.c against it four ways: pkg-config shared,
# pkg-config static, find_package weft::weft, find_package weft::weft_static.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
here=$src/test/install
cc=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
out=$tmp/out
mkdir -p "$out"

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

step "install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }

[ -f "$prefix/include/weft.h" ] || fail "include/weft.h not installed"
pc=$(find "$prefix" -name weft.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "weft.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in libweft.a libweft.so libweft.so.0; do
    [ -e "$libdir/$f" ] || fail "$libdir/$f not installed"
done
soname=$(readelf -d "$libdir/libweft.so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libweft.so.0" ] || fail "SONAME is '$soname', expected libweft.so.0"
[ -f "$libdir/cmake/weft/weftConfig.cmake" ] || fail "weftConfig.cmake not installed"

PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
warn="-Wall -Wextra -Werror"

step "pkg-config, shared"
# shellcheck disable=SC2046,SC2086
$cc $warn $(pkg-config --cflags weft) -o "$out/pc_shared" "$here/consumer.c" \
    $(pkg-config --libs weft) -Wl,-rpath,"$libdir" || fail "pkg-config shared build"
readelf -d "$out/pc_shared" | grep -q 'NEEDED.*libweft\.so\.0' || fail "pc_shared does not need libweft.so.0"

step "pkg-config --static, libweft.a"
libs=""
for w in $(pkg-config --static --libs weft); do
    if [ "$w" = "-lweft" ]; then w="-Wl,-Bstatic -lweft -Wl,-Bdynamic"; fi
    libs="$libs $w"
done
# shellcheck disable=SC2046,SC2086
$cc $warn $(pkg-config --static --cflags weft) -o "$out/pc_static" "$here/consumer.c" $libs \
    || fail "pkg-config static build"
if readelf -d "$out/pc_static" | grep -q 'NEEDED.*libweft'; then fail "pc_static links libweft.so"; fi

step "find_package(weft)"
cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$warn" >"$tmp/cmake.log" 2>&1 \
    || { cat "$tmp/cmake.log"; fail "find_package configure"; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "find_package build"; }
cp "$tmp/cmake-build/consumer_cmake_shared" "$tmp/cmake-build/consumer_cmake_static" "$out/"
readelf -d "$out/consumer_cmake_shared" | grep -q 'NEEDED.*libweft\.so\.0' || fail "consumer_cmake_shared does not need libweft.so.0"
if readelf -d "$out/consumer_cmake_static" | grep -q 'NEEDED.*libweft'; then fail "consumer_cmake_static links libweft.so"; fi

status=0
for b in pc_shared pc_static consumer_cmake_shared consumer_cmake_static; do
    step "run $b"
    if [ "$b" = pc_shared ] || [ "$b" = consumer_cmake_shared ]; then
        LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$out/$b" || { echo "FAIL: $b exited $?" >&2; status=1; }
    else
        "$out/$b" || { echo "FAIL: $b exited $?" >&2; status=1; }
    fi
done
[ $status -eq 0 ] && echo "install test passed"
exit $status
