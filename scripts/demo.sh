#!/usr/bin/env bash
# Builds libjumbo and runs its main job, `jumbo demo`: jumbo frames sent
# over loopback, received into pool pages, verified and delivered by
# zero-copy receive, beside a plain malloc + recv receiver.
#   scripts/demo.sh [jumbo demo options, e.g. --seconds 10 or --help]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target jumbo >/dev/null
exec ./build/tools/jumbo demo "$@"
