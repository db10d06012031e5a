#!/usr/bin/env bash
# Forwarding of 9000-byte UDP frames over loopback: jumbo fwd against socat
# relaying the same stream and a plain recv/send relay with one reused
# buffer (jumbo-fwd-plain), side by side, RUNS times each in turn.
#
# The relay has CPU 1 to itself and jumbo tx, sending as fast as its
# socket takes frames for SECS seconds, has CPU 0: the sender does one
# copy per frame and the relay two, so the relay is the bottleneck.  The
# sink binds the output port and never reads (jumbo-fwd-plain --sink):
# a frame costs the receiving side only the kernel's drop, and it counts
# what arrived.  Per relay, medians: frames/s and Gbit/s through it, and
# its CPU time per frame.  Prints the ratios; never passes or fails.
#
#   bench/fwd.sh [BUILD_DIR] [RUNS] [SECS]      (defaults: build 5 3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} runs=${2:-5} secs=${3:-3}
J=$build/tools/jumbo P=$build/bench/jumbo-fwd-plain
IN=19101 OUT=19102
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
for b in "$J" "$P"; do [ -x "$b" ] || { echo "fwd.sh: $b not built" >&2; exit 1; }; done
for p in socat taskset bc /usr/bin/time; do
	command -v $p >/dev/null || { echo "fwd.sh: $p not installed" >&2; exit 1; }
done

one() { # relay -> "frames_per_s gbit_per_s cpu_us_per_frame"
	local relay=$1 rp sink T="/usr/bin/time -f %U+%S -o $tmp/cpu taskset -c 1"
	$P --sink $OUT $((secs + 3)) >"$tmp/sink.txt" & sink=$!
	pids+=($sink)
	case $relay in
	jumbo) $T $J fwd --from udp:127.0.0.1:$IN --to udp:127.0.0.1:$OUT --quiet \
			--idle 1.5 --duration 120 >/dev/null 2>&1 & rp=$! ;;
	socat) $T socat -T 1.5 -b 65536 UDP-RECV:$IN,bind=127.0.0.1,rcvbuf=16777216 \
			UDP-SENDTO:127.0.0.1:$OUT,sndbuf=16777216 & rp=$! ;;
	plain) $T $P $IN $OUT 1.5 >/dev/null 2>&1 & rp=$! ;;
	esac
	pids+=($rp)
	sleep 0.5
	taskset -c 0 $J tx --port $IN --frame 9000 --duration "$secs" \
		>/dev/null 2>&1 || true
	wait $rp 2>/dev/null || true
	wait $sink
	local f c
	f=$(awk '{ print $2 }' "$tmp/sink.txt") c=$(tail -1 "$tmp/cpu" | bc)
	awk -v f="$f" -v s="$secs" -v c="$c" 'BEGIN {
		printf "%.0f %.3f %.2f\n", f / s, f * 9000 * 8 / s / 1e9, c * 1e6 / f }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "jumbo fwd vs socat vs plain relay: 9000-byte UDP frames on loopback,"
echo "$runs runs of $secs s each, $(nproc) CPUs, $(uname -r), $(git rev-parse --short HEAD)"
declare -A fps gbs cpu
for r in $(seq "$runs"); do
	for relay in jumbo socat plain; do
		read -r f g c < <(one $relay)
		fps[$relay]+="$f "; gbs[$relay]+="$g "; cpu[$relay]+="$c "
		echo "  run $r $relay: $f frames/s, $g Gbit/s, $c us of CPU per frame" >&2
	done
done
printf "%-8s %12s %10s %14s\n" relay "frames/s" "Gbit/s" "CPU us/frame"
declare -A med mc
for relay in jumbo socat plain; do
	med[$relay]=$(tr ' ' '\n' <<<"${fps[$relay]}" | grep . | median)
	mc[$relay]=$(tr ' ' '\n' <<<"${cpu[$relay]}" | grep . | median)
	g=$(tr ' ' '\n' <<<"${gbs[$relay]}" | grep . | median)
	printf "%-8s %12s %10s %14s\n" "$relay" "${med[$relay]}" "$g" "${mc[$relay]}"
done
# The rates move with whatever else the machine runs; the CPU per frame
# hardly does: both ratios, the second as frames per CPU-second.
awk -v j="${med[jumbo]}" -v s="${med[socat]}" -v p="${med[plain]}" \
    -v cj="${mc[jumbo]}" -v cs="${mc[socat]}" -v cp="${mc[plain]}" 'BEGIN {
	printf "by rate:          jumbo fwd / socat %.2f (target 1.5), jumbo fwd / plain %.2f (target 1.0)\n", j / s, j / p
	printf "by CPU per frame: jumbo fwd / socat %.2f, jumbo fwd / plain %.2f\n", cs / cj, cp / cj }'
