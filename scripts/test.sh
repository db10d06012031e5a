#!/usr/bin/env bash
# Builds libjumbo and runs its whole test suite with CTest.
#
#   scripts/test.sh [--sanitize KIND] [CTEST ARGS...]
#                                       normal build in build/; KIND:
#                                       address,undefined | thread, in
#                                       build-KIND/; CTEST ARGS (e.g.
#                                       -R stat) go to ctest
#
# Installs what the build and the tests need first (Debian packages, as
# root); tests that need root or a kernel feature skip with a reason.
#
# The suite must leave nothing in /dev/shm (statistics segments, named
# pools, rings): what it leaves there fails the run, listed.  As root the
# run gets a /dev/shm of its own, a tmpfs in a private mount namespace that
# goes with the run, so that what is left there is this run's alone and
# other runs on the machine neither add to it nor take its names; else (or
# with JUMBO_TEST_SHM=shared) /dev/shm is compared before and after, and
# files another program makes meanwhile are listed too.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${JUMBO_TEST_SHM:-}" ] && [ "$(id -u)" -eq 0 ] &&
   unshare --mount true 2>/dev/null; then
	exec env JUMBO_TEST_SHM=private unshare --mount --propagation private \
		"$PWD/scripts/test.sh" "$@"
fi
if [ "${JUMBO_TEST_SHM:-}" = private ] &&
   ! mount -t tmpfs -o mode=1777 jumbo-test-shm /dev/shm; then
	echo "test: cannot mount a private /dev/shm" >&2
	exit 1
fi
shm_list() { (cd /dev/shm && find . -mindepth 1 -maxdepth 1 | LC_ALL=C sort); }
shm_before=$(shm_list)

scripts/install-deps.sh bench

san="" dir=build
if [ "${1:-}" = --sanitize ]; then
	san=${2:?"--sanitize needs a kind: address,undefined or thread"}
	dir=build-${san//,/-}
	shift 2
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
rc=0
ctest --test-dir "$dir" --output-on-failure -j2 --timeout 1500 \
	-LE 'soak|fuzz-long|^long$' "$@" || rc=$?

left=$(LC_ALL=C comm -13 <(echo "$shm_before") <(shm_list) |
	sed 's|^\./|/dev/shm/|')
if [ -n "$left" ]; then
	n=$(echo "$left" | wc -l)
	if [ "${JUMBO_TEST_SHM:-}" = private ]; then
		echo "test: the suite left $n file(s) in its /dev/shm:" >&2
	else
		echo "test: $n file(s) appeared in /dev/shm during the run (the" \
		     "suite's, or another program's):" >&2
	fi
	ls -ld -- $(echo "$left" | head -n 50) >&2 || true
	[ "$n" -le 50 ] || echo "test: ... and $((n - 50)) more" >&2
	exit 1
fi
exit $rc
