#!/usr/bin/env bash
# Builds libjumbo and runs its whole test suite with CTest.
#
#   scripts/test.sh                     normal build, in build/
#   scripts/test.sh --sanitize KIND     KIND: address,undefined | thread,
#                                       in build-KIND/
#
# Installs what the build and the tests need first (Debian packages, as
# root); tests that need root or a kernel feature skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh bench

san="" dir=build
if [ "${1:-}" = --sanitize ]; then
	san=${2:?"--sanitize needs a kind: address,undefined or thread"}
	dir=build-${san//,/-}
fi
# One line for the build; its output in a log, named if it fails.
mkdir -p "$dir"
log=$dir/build.log
echo "test: building in $dir/ (log: $log)..."
if ! { cmake -S . -B "$dir" -DJUMBO_SANITIZE="$san" &&
       cmake --build "$dir" -j"$(nproc)"; } >"$log" 2>&1; then
	echo "test: the build failed; the last lines of $log:" >&2
	tail -n 30 "$log" >&2
	exit 1
fi
echo "test: built; running the tests"
# Sanitizers: a failed allocation is a NULL the tests expect, not a crash;
# UBSan findings fail the test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-allocator_may_return_null=1:halt_on_error=1:second_deadlock_stack=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# The long runs (JUMBO_LONG_TESTS=ON) never run here: see docs/TESTING.md.
ctest --test-dir "$dir" --output-on-failure -j2 --timeout 300 -LE 'soak|fuzz-long|^long$'
