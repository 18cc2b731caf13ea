## weft — front door. Every target installs what it needs first (scripts/deps.sh).
##
##   make build     configure + build build/ (Release: -O2 -g, assembly context switch)
##   make demo      build only the library and the tour in build-demo/ (no tests, no LTO;
##                  the build's output goes to build-demo/build.log), then run the tour
##   make test      build, then ctest in build/ (unit tests + install test; not soak)
##   make asan      build-asan/ with ASan+UBSan (-O1 -g), run its ctest
##   make tsan      build-tsan/ with TSan (-O1 -g), run its ctest
##   make valgrind  build-valgrind/ (Debug -O1 -g), ctest with every test under valgrind,
##                  WEFT_TEST_SCALE=0.05, 600 s per test
##   make ucontext  build-ucontext/ with -DWEFT_UCONTEXT=ON (Release), run its ctest
##   make aarch64   cross-build build-aarch64/ (aarch64-linux-gnu-gcc, assembly switch) and run
##                  the coroutine, generator, loop and task tests under qemu-aarch64
##   make bench     build, run build/bench/weft-bench 5 times into build/bench/results.jsonl,
##                  draw build/bench/chart.svg (BENCH="spawn switch" picks workloads)
##   make soak      build, run the tests labelled soak (test/soak_*.c) in build/
##   make fuzz      build-fuzz/ with clang (libFuzzer+ASan+UBSan), run each of the eight
##                  targets in fuzz/ FUZZ_SECONDS (20) seconds from the seeds in fuzz/corpus/
##   make format    clang-format -i every C file in include/ src/ test/ bench/ examples/
##   make clean     remove build*/
##   make deps      install the build/test dependencies (scripts/deps.sh build)
##   make help      this text
##
## Environment (WEFT_WORKERS, WEFT_TEST_SCALE, ...) passes through to the programs.

MAKEFLAGS += --no-print-directory
NPROC := $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
CTEST ?= ctest
DEPS := scripts/deps.sh
CTEST_FLAGS := --output-on-failure -j$(NPROC) --timeout 300 --no-tests=error --no-label-summary
BENCH ?=
BENCH_RUNS ?= 5
FUZZ_SECONDS ?= 20

VALGRIND := valgrind;--error-exitcode=99;--leak-check=full;--errors-for-leak-kinds=definite,indirect;--show-leak-kinds=definite,indirect;--track-fds=no;--quiet

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# Every folder states all of its options, so a stale cache cannot change what it is.
PLAIN := -DWEFT_SANITIZE= -DWEFT_TEST_LAUNCHER= -DWEFT_TEST_SCALE= -DWEFT_TEST_TIMEOUT=120

# $(call cmake_build,DIR,CMAKE ARGS)
define cmake_build
	$(CMAKE) -S . -B $(1) $(2)
	$(CMAKE) --build $(1) -j$(NPROC)
endef

.DEFAULT_GOAL := build
.PHONY: help deps deps-bench deps-format build demo test asan tsan valgrind ucontext aarch64 bench soak fuzz format clean

help:
	@sed -n 's/^## \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

deps:
	@$(DEPS) build

deps-bench:
	@$(DEPS) bench

deps-format:
	@$(DEPS) format

build: deps
	$(call cmake_build,build,-DCMAKE_BUILD_TYPE=Release -DWEFT_UCONTEXT=OFF $(PLAIN))
	@ln -sfn build/compile_commands.json compile_commands.json

# demo: what the tour needs and nothing else (scripts/deps.sh demo), in a
# folder of its own, so `make build` keeps building everything in build/.
# Without link-time optimization: it halves the build, and the tour
# measures nothing.
DEMO_LOG := build-demo/build.log
demo:
	@$(DEPS) demo
	@mkdir -p build-demo
	@echo "make demo: building the library and examples/tour (log: $(DEMO_LOG))"
	@{ $(CMAKE) -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DWEFT_UCONTEXT=OFF $(PLAIN) \
		-DWEFT_LTO=OFF -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=ON -DWEFT_BUILD_BENCH=OFF \
		-DWEFT_MAN=OFF && \
	  $(CMAKE) --build build-demo -j$(NPROC) --target example_tour; } >$(DEMO_LOG) 2>&1 || \
	  { tail -n 30 $(DEMO_LOG); echo "make demo: the build failed (all of it: $(DEMO_LOG))" >&2; exit 1; }
	./build-demo/examples/tour

test: build
	$(CTEST) --test-dir build $(CTEST_FLAGS) -LE soak

asan: deps
	$(call cmake_build,build-asan,-DCMAKE_BUILD_TYPE=Debug -DWEFT_UCONTEXT=OFF $(PLAIN) -DWEFT_SANITIZE=address)
	$(ASAN_ENV) $(CTEST) --test-dir build-asan $(CTEST_FLAGS) -LE soak

# tsan: ThreadSanitizer counts each coroutine's fiber as a thread (at most
# 8128 at once), so the suite runs scaled down there. 300 s per test: the
# loop suite takes about 40 s alone under TSan and passed 120 s (loop_w2,
# loop_w4) beside other builds on a 2-core machine.
tsan: deps
	$(call cmake_build,build-tsan,-DCMAKE_BUILD_TYPE=Debug -DWEFT_UCONTEXT=OFF $(PLAIN) -DWEFT_SANITIZE=thread \
		-DWEFT_TEST_SCALE=0.2 -DWEFT_TEST_TIMEOUT=300)
	$(TSAN_ENV) $(CTEST) --test-dir build-tsan $(CTEST_FLAGS) -LE soak

valgrind: deps
	$(call cmake_build,build-valgrind,-DCMAKE_BUILD_TYPE=Debug -DWEFT_UCONTEXT=OFF $(PLAIN) \
		"-DWEFT_TEST_LAUNCHER=$(VALGRIND)" -DWEFT_TEST_SCALE=0.05 -DWEFT_TEST_TIMEOUT=600)
	$(CTEST) --test-dir build-valgrind $(subst --timeout 300,--timeout 900,$(CTEST_FLAGS)) -LE soak

ucontext: deps
	$(call cmake_build,build-ucontext,-DCMAKE_BUILD_TYPE=Release -DWEFT_UCONTEXT=ON $(PLAIN))
	$(CTEST) --test-dir build-ucontext $(CTEST_FLAGS) -LE soak

# aarch64: the switch for aarch64 run under user-mode QEMU. Tests run as
# `qemu-aarch64 test_x`, which loads arm64 libraries (libc, cmocka) from the
# multiarch folders scripts/deps.sh installs. Not here: test_stack (QEMU
# ignores the guard-page madvise, and without binfmt_misc a test cannot
# exec an aarch64 helper) and the network suites (the emulated socket
# calls are not what they test).
AARCH64_TESTS := coro gen loop task copystack sync queue chan group gather local
AARCH64_RE := ^($(subst $(eval) ,|,$(strip $(AARCH64_TESTS))))(_copystack)?$$
aarch64:
	@$(DEPS) aarch64
	PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
	$(CMAKE) -S . -B build-aarch64 -DCMAKE_BUILD_TYPE=Release -DWEFT_UCONTEXT=OFF $(PLAIN) \
		-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
		-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc -DWEFT_TEST_LAUNCHER=qemu-aarch64 \
		-DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=OFF -DWEFT_BENCH_PEERS=OFF
	$(CMAKE) --build build-aarch64 -j$(NPROC) --target $(addprefix test_,$(AARCH64_TESTS))
	$(CTEST) --test-dir build-aarch64 $(CTEST_FLAGS) -R '$(AARCH64_RE)'

bench: deps-bench build
	@set -e; out=build/bench/results.jsonl; : > $$out; \
	for i in $$(seq $(BENCH_RUNS)); do \
		echo "== weft-bench run $$i/$(BENCH_RUNS)" >&2; \
		./build/bench/weft-bench $(BENCH) >> $$out; \
	done; \
	cat $$out; \
	python3 scripts/bench_chart.py $$out build/bench/chart.svg; \
	echo "chart: build/bench/chart.svg" >&2

soak: build
	$(CTEST) --test-dir build --output-on-failure --no-tests=ignore -L soak

fuzz:
	@$(DEPS) fuzz
	$(call cmake_build,build-fuzz,-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug $(PLAIN) -DWEFT_FUZZ=ON \
		-DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=OFF)
	sh fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

format: deps-format
	@files=$$(find $(wildcard include src test bench examples) -name '*.[ch]' -type f 2>/dev/null); \
	if [ -n "$$files" ]; then clang-format -i $$files; fi

clean:
	rm -rf build build-*/
	@if [ -L compile_commands.json ]; then rm -f compile_commands.json; fi
