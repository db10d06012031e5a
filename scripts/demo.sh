#!/usr/bin/env bash
# Builds libjumbo and runs its main job, `jumbo demo`: jumbo frames sent
# over loopback, received into pool pages, verified and delivered by
# zero-copy receive, beside a plain malloc + recv receiver.
#   scripts/demo.sh [jumbo demo options, e.g. --duration 10 or --help]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# One line for the build; its output in a log, named if it fails.
mkdir -p build
log=build/build.log
echo "demo: building jumbo in build/ (log: $log)..."
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&
       cmake --build build -j"$(nproc)" --target jumbo; } >"$log" 2>&1; then
	echo "demo: the build failed; the last lines of $log:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
echo "demo: built; running jumbo demo"
exec ./build/tools/jumbo demo "$@"
