#!/bin/sh
# The library's exported symbols, its version map and its headers agree:
# every symbol libjumbo.so exports is listed in src/libjumbo.map under the
# node it carries, and is declared JUMBO_API in include/jumbo/; nothing is
# listed or declared that the library does not export.
#
#   symbols.sh LIBJUMBO_SO SOURCE_DIR
set -eu
so=$1 src=$2
map=$src/src/libjumbo.map
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v nm >/dev/null || { echo "skip: no nm (binutils)"; exit 77; }

# name@NODE for every defined dynamic symbol (not the version nodes).
nm -D --defined-only "$so" | awk '{ print $3 }' | sed 's/@@*/@/' |
	grep -Ev '^JUMBO_[0-9.]+(@|$)' | sort >"$tmp/lib"
# name@NODE from the map: the names listed under each node's global:.
sed 's,/\*.*\*/,,' "$map" | awk '
	/^[A-Z_0-9.]+ *\{/ { node = $1; glob = 0; next }
	/global:/ { glob = 1; next }
	/local:|\}/ { glob = 0; next }
	glob && /;/ { gsub(/[ \t;]/, ""); if ($0 != "") print $0 "@" node }
' | sort >"$tmp/map"
# The functions declared JUMBO_API: the identifier before the first "(";
# and the objects declared JUMBO_API extern: the identifier before ";".
grep -hv '^#' "$src"/include/jumbo/*.h | tr '\n' ' ' >"$tmp/h"
{ grep -o 'JUMBO_API [^;(]*(' "$tmp/h" | grep -v 'JUMBO_API extern' |
	sed 's/($//; s/.*[ *]//'
  grep -o 'JUMBO_API extern [^;(]*;' "$tmp/h" | sed 's/;$//; s/.*[ *]//'
} | sort >"$tmp/api"

rc=0
if ! diff -u "$tmp/map" "$tmp/lib" >"$tmp/d1"; then
	echo "symbols: exported (+) and listed in libjumbo.map (-) differ:"
	cat "$tmp/d1"; rc=1
fi
sed 's/@.*//' "$tmp/lib" >"$tmp/libnames"
if ! diff -u "$tmp/api" "$tmp/libnames" >"$tmp/d2"; then
	echo "symbols: exported (+) and declared JUMBO_API (-) differ:"
	cat "$tmp/d2"; rc=1
fi
[ $rc = 0 ] && echo "symbols: $(wc -l <"$tmp/lib") exported, map and headers agree"
exit $rc
