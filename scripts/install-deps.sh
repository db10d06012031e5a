#!/usr/bin/env bash
# Installs the Debian packages that libjumbo's build, tests and benchmarks
# use. Idempotent: packages already present are left alone, and nothing is
# fetched when everything is there. Run as root on Debian 12.
#
#   scripts/install-deps.sh          build + tests (the default)
#   scripts/install-deps.sh bench    + the peers the benchmarks compare with
set -euo pipefail

base=(build-essential cmake pkg-config clang libclang-rt-14-dev
      liburing-dev libbpf-dev libxdp-dev iproute2 socat iperf procps)
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
