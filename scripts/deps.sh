#!/bin/sh
# Usage: scripts/deps.sh MODE      installs what MODE needs
#        scripts/deps.sh list MODE lists the packages MODE adds (the README's
#                                  table names the same; ctest deps_readme checks)
# Modes, each with the packages of the one it builds on:
#   demo    what `make demo` needs: C compiler, make, cmake, liburing (the
#           child reaper's io_uring) and OpenSSL (the library's TLS, and the
#           openssl command the tour's TLS section makes its certificate with)
#   build   demo + what building and testing needs: g++ (weft.h is test-built
#           as C++), pkg-config, cmocka, valgrind, libcurl and the curl
#           command, groff-base (a test renders the man pages)
#   bench   build + the benchmark peers and load generators
#   fuzz    build + clang (libFuzzer)
#   format  clang-format
#   aarch64 cross compiler, qemu-user and arm64 cmocka and liburing (adds the
#           arm64 architecture to dpkg for them) for `make aarch64`
# Installs what is missing (Debian/Ubuntu, as root), or prints the command to
# run and exits 1. Quiet when nothing is missing; apt's own output goes to a
# log that is shown only if it fails.
set -eu

mode=${1:-build}

demo_pkgs="cmake make gcc libc6-dev liburing-dev libssl-dev openssl"
build_pkgs="g++ pkg-config libcmocka-dev valgrind libcurl4-openssl-dev curl groff-base"
bench_pkgs="libboost-context-dev golang-go python3 python3-uvloop libuv1-dev wrk nginx-light redis-server redis-tools"
format_pkgs="clang-format"
fuzz_pkgs="clang"
aarch64_pkgs="cmake make pkg-config gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcmocka-dev:arm64 liburing-dev:arm64"

if [ "$mode" = list ]; then
    case ${2:-} in
        demo) echo $demo_pkgs ;;
        build) echo $build_pkgs ;;
        bench) echo $bench_pkgs ;;
        format) echo $format_pkgs ;;
        fuzz) echo $fuzz_pkgs ;;
        aarch64) echo $aarch64_pkgs ;;
        *) echo "usage: $0 list demo|build|bench|fuzz|format|aarch64" >&2; exit 2 ;;
    esac | tr ' ' '\n'
    exit 0
fi

case $mode in
    demo) want=$demo_pkgs ;;
    build) want="$demo_pkgs $build_pkgs" ;;
    bench) want="$demo_pkgs $build_pkgs $bench_pkgs" ;;
    format) want=$format_pkgs ;;
    fuzz) want="$demo_pkgs $build_pkgs $fuzz_pkgs" ;;
    aarch64) want=$aarch64_pkgs ;;
    *) echo "usage: $0 demo|build|bench|fuzz|format|aarch64" >&2; exit 2 ;;
esac

if [ ! -f /etc/debian_version ] || ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: check the tools we can name, and say what else is needed.
    missing=""
    for c in cmake make cc pkg-config; do
        command -v $c >/dev/null 2>&1 || missing="$missing $c"
    done
    case $mode in
        build | bench | fuzz) pkg-config --exists cmocka 2>/dev/null || missing="$missing cmocka" ;;
    esac
    if [ "$mode" != format ] && ! pkg-config --exists liburing 2>/dev/null; then missing="$missing liburing"; fi
    if [ "$mode" = format ] && ! command -v clang-format >/dev/null 2>&1; then missing="$missing clang-format"; fi
    if [ -n "$missing" ]; then
        echo "deps.sh: not a Debian system; please install:$missing (needed for '$mode': $want)" >&2
        exit 1
    fi
    exit 0
fi

missing=""
for p in $want; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case $status in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages for '$mode':$missing" >&2
    echo "run:  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

# arm64 packages (cmocka) need the architecture known to dpkg first
if [ "$mode" = aarch64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "deps.sh: adding the arm64 architecture to dpkg" >&2
    dpkg --add-architecture arm64
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run rather than failing on its lock.
lock="-o DPkg::Lock::Timeout=600"
log=$(mktemp "${TMPDIR:-/tmp}/weft-deps.XXXXXX")
# shellcheck disable=SC2086
if ! { apt-get $lock update -q && apt-get $lock install -y -q --no-install-recommends $missing; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    echo "deps.sh: apt-get failed (its output is above)" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
