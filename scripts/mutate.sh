#!/usr/bin/env bash
# Mutation testing: does the suite notice a realistic one-line fault?
#
#   scripts/mutate.sh [--check] [--only N[,N...]] [FAULTS]
#
# FAULTS (default scripts/mutations.txt) lists faults, one a line:
#   file @@ pattern @@ replacement @@ description
# The pattern is a fixed string that must occur on exactly one line of the
# file; its first occurrence there is replaced.  Faults are found by
# pattern, not line number, so the list survives edits; one whose pattern
# no longer matches is reported "stale", one that matches several lines
# "ambiguous", and neither is run.
#
# The tree (the working copy, uncommitted changes included) is copied to a
# scratch directory once and built there; then each fault in turn is
# applied, the build brought up to date, and the suite run (ctest, default
# labels, a timeout per test), and the file restored.  A fault the suite
# fails on is "killed"; one it passes is "survived": a gap in the tests.
# One that does not compile is "nobuild".  Tests that already fail
# without any fault are left out of every run (and named).
#
#   --check      only check the patterns (stale / ambiguous), build nothing
#   --only N,M   run only the faults numbered N, M (as printed)
# Environment: MUTATE_TIMEOUT (seconds per test, default 120),
# MUTATE_CMAKE (extra cmake arguments, e.g. -DJUMBO_BUILD_BENCH=OFF),
# MUTATE_DIR (scratch directory, default a new one under /tmp, removed
# at the end unless MUTATE_KEEP=1), MUTATE_JOBS (default 2).
#
# It takes a while (a build and a suite run per fault): run it with nice,
# never in CI's default run.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

check_only=0 only=""
while [ $# -gt 0 ]; do
	case $1 in
	--check) check_only=1; shift ;;
	--only) only=",$2,"; shift 2 ;;
	-h|--help) sed -n '2,28p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
faults=${1:-scripts/mutations.txt}
[ -r "$faults" ] || { echo "mutate: cannot read $faults" >&2; exit 2; }
faults=$(readlink -f "$faults")
tmo=${MUTATE_TIMEOUT:-120}
jobs=${MUTATE_JOBS:-2}

# One fault per array slot: file, pattern, replacement, description.
F=() P=() R=() D=()
while IFS= read -r line; do
	case $line in ''|'#'*) continue ;; esac
	if [[ $line != *" @@ "*" @@ "*" @@ "* ]]; then
		echo "mutate: malformed entry: $line" >&2
		exit 2
	fi
	rest=$line
	f=${rest%% @@ *}; rest=${rest#* @@ }
	p=${rest%% @@ *}; rest=${rest#* @@ }
	r=${rest%% @@ *}; d=${rest#* @@ }
	[ "$r" = "''" ] && r=""
	F+=("$f") P+=("$p") R+=("$r") D+=("$d")
done <"$faults"

# Lines of file $1 that contain the fixed string $2.
matches() {
	PAT=$2 perl -ne '$n++ if index($_, $ENV{PAT}) >= 0; END { print $n + 0 }' "$1"
}

# Replace, in file $1, the first occurrence of $2 on its (only) matching
# line by $3.
apply() {
	PAT=$2 REP=$3 perl -i -pe '
		if (!$done && (my $i = index($_, $ENV{PAT})) >= 0) {
			substr($_, $i, length $ENV{PAT}) = $ENV{REP};
			$done = 1;
		}' "$1"
}

status=() nstale=0
for i in "${!F[@]}"; do
	if [ ! -f "$top/${F[i]}" ]; then
		status[i]=stale
	else
		case $(matches "$top/${F[i]}" "${P[i]}") in
		0) status[i]=stale ;;
		1) status[i]=ok ;;
		*) status[i]=ambiguous ;;
		esac
	fi
	[ "${status[i]}" = ok ] || nstale=$((nstale + 1))
done

if [ $check_only = 1 ]; then
	for i in "${!F[@]}"; do
		printf '%3d %-9s %s: %s\n' $((i + 1)) "${status[i]}" "${F[i]}" "${D[i]}"
	done
	echo "mutate: ${#F[@]} faults, $nstale stale or ambiguous"
	[ $nstale = 0 ]
	exit
fi

scratch=${MUTATE_DIR:-$(mktemp -d /tmp/jumbo-mutate.XXXXXX)}
mkdir -p "$scratch/src"
cleanup() { [ "${MUTATE_KEEP:-0}" = 1 ] || rm -rf "$scratch"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "mutate: ${#F[@]} faults from $faults; scratch tree $scratch"
# The working copy as it is, without build trees.
(git ls-files -z --cached --others --exclude-standard |
	tar --null -T - -cf - 2>/dev/null) | tar -xf - -C "$scratch/src"
cd "$scratch/src" || exit 2
mkdir -p "$scratch/log"
build() { cmake --build "$scratch/build" -j"$jobs" >"$1" 2>&1; }
# ctest's own list of labels to leave out: the long runs are never part
# of the suite a fault is judged by.
suite() {
	ctest --test-dir "$scratch/build" -j"$jobs" --timeout "$tmo" \
		--stop-on-failure -LE 'soak|fuzz-long' ${exclude:+-E "$exclude"} \
		>"$1" 2>&1
}
export ASAN_OPTIONS=allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1

cmake -S . -B "$scratch/build" -DJUMBO_LONG_TESTS=OFF ${MUTATE_CMAKE:-} >"$scratch/log/configure" 2>&1 &&
	build "$scratch/log/build-0" || {
	echo "mutate: the unmutated tree does not build; see $scratch/log" >&2
	MUTATE_KEEP=1
	exit 2
}
exclude=""
if ! ctest --test-dir "$scratch/build" -j"$jobs" --timeout "$tmo" \
	-LE 'soak|fuzz-long' >"$scratch/log/suite-0" 2>&1; then
	bad=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (.*/\1/p' "$scratch/log/suite-0" | paste -sd'|')
	echo "mutate: failing without any fault, left out: ${bad:-?}"
	[ -n "$bad" ] && exclude="^($bad)\$"
fi

killed=0 survived=0 nobuild=0 survivors=()
for i in "${!F[@]}"; do
	n=$((i + 1))
	[ -n "$only" ] && [[ $only != *",$n,"* ]] && continue
	if [ "${status[i]}" != ok ]; then
		printf '%3d %-9s %s: %s\n' $n "${status[i]}" "${F[i]}" "${D[i]}"
		continue
	fi
	file=${F[i]}
	cp -p "$file" "$scratch/orig"
	apply "$file" "${P[i]}" "${R[i]}"
	if ! build "$scratch/log/build-$n"; then
		res=nobuild nobuild=$((nobuild + 1))
	elif suite "$scratch/log/suite-$n"; then
		res=SURVIVED survived=$((survived + 1))
		survivors+=("$n ${file}: ${D[i]}")
	else
		res=killed killed=$((killed + 1))
		by=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (.*/\1/p' "$scratch/log/suite-$n" | head -3 | paste -sd,)
		res="killed${by:+ ($by)}"
	fi
	# A fresh mtime, so the next build recompiles what the fault touched.
	cp "$scratch/orig" "$file"
	touch "$file"
	printf '%3d %-9s %s: %s\n' $n "$res" "$file" "${D[i]}"
done
build "$scratch/log/build-final" || true

echo "mutate: $killed killed, $survived survived, $nobuild did not build," \
	"$nstale stale or ambiguous (of ${#F[@]})"
for s in "${survivors[@]}"; do
	echo "  survived: $s"
done
[ $nstale = 0 ]
