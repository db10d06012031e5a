#!/usr/bin/env bash
# Line and branch coverage of the library by the test suite, per layer.
#
#   scripts/coverage.sh [BUILD_DIR]      default build-coverage/
#
# Builds with --coverage (gcc, -O0; counters updated atomically, since
# the tests run threads: plain ones lose counts and gcovr rejects them),
# runs the default suite (ctest, as CI does, but for the fuzzer, built
# with clang, and the install test), and prints gcovr's line and branch
# figures for each layer: the page pool, mbufs and delivery, the receive
# backends; then the whole library.
# gcovr's per-file report with the missed lines is left in
# BUILD_DIR/coverage/.  Installs gcovr (Debian) if it is missing.
# docs/COVERAGE.md has the figures of the last run and what they miss.
# Code that runs only in forked children that _exit (death tests,
# test_refusal's children) writes no counts: it shows as unexecuted.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-coverage}

if ! command -v gcovr >/dev/null; then
	[ "$(id -u)" -eq 0 ] || { echo "coverage: install gcovr (apt-get install gcovr)" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcovr >/dev/null
fi

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DJUMBO_BUILD_BENCH=OFF \
	-DJUMBO_LONG_TESTS=OFF -DCMAKE_C_FLAGS="--coverage -fprofile-update=atomic -O0" \
	-DCMAKE_EXE_LINKER_FLAGS=--coverage -DCMAKE_SHARED_LINKER_FLAGS=--coverage >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
find "$dir" -name '*.gcda' -delete
ctest --test-dir "$dir" -j2 --timeout 300 -E '^(fuzz|install)$' >"$dir/ctest.log" 2>&1 ||
	echo "coverage: some tests failed (see $dir/ctest.log); figures follow anyway"

mkdir -p "$dir/coverage"
layer() {
	local name=$1
	shift
	local filt=()
	for f in "$@"; do filt+=(--filter "src/$f"); done
	gcovr -r . --object-directory "$dir" "${filt[@]}" \
		--exclude-unreachable-branches >"$dir/coverage/$name-lines.txt" 2>>"$dir/coverage/gcovr.log"
	gcovr -r . --object-directory "$dir" "${filt[@]}" \
		--exclude-unreachable-branches --branches >"$dir/coverage/$name-branches.txt" \
		2>>"$dir/coverage/gcovr.log"
	local l b
	l=$(awk '/^TOTAL/ {print $4}' "$dir/coverage/$name-lines.txt")
	b=$(awk '/^TOTAL/ {print $4}' "$dir/coverage/$name-branches.txt")
	printf '%-10s lines %6s   branches %6s\n' "$name" "$l" "$b"
}
layer common 'common/'
layer pool 'pool/'
layer mbufs 'mbuf/'
layer rx 'rx/'
layer tx 'tx/'
layer ring 'ring/'
layer all '.*'
echo "coverage: per-file reports in $dir/coverage/"
