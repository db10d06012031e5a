#!/usr/bin/env bash
# Installs the Debian packages that libjumbo's build, tests and benchmarks
# use. Idempotent: packages already present are left alone, and nothing is
# fetched when everything is there. Run as root on Debian 12.
#
#   scripts/install-deps.sh          build + tests (the default)
#   scripts/install-deps.sh bench    + the peers the benchmarks compare with
set -euo pipefail

base=(build-essential cmake pkg-config clang libclang-rt-14-dev
      liburing-dev libbpf-dev libxdp-dev iproute2 socat iperf netcat-openbsd
      procps mandoc groff-base valgrind)
bench=(libdpdk-dev libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev
       gnuplot-nox)

want=("${base[@]}")
[ "${1:-}" = bench ] && want+=("${bench[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# One line while it works, one when done; apt's own output goes to a log
# that is named if anything fails.
log=${TMPDIR:-/tmp}/jumbo-install-deps.log
echo "install-deps: installing ${missing[*]} (log: $log)..."
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends \
	"${missing[@]}"; } >"$log" 2>&1; then
	echo "install-deps: failed; the last lines of $log:" >&2
	tail -n 5 "$log" >&2
	exit 1
fi
echo "install-deps: installed ${#missing[@]} packages"
