#!/bin/sh
# test_fast.c as a user builds it: against the INSTALLED <jumbo/jumbo.h>
# with pkg-config, linked with libjumbo.so, so that the checks run through
# the fast paths the program inlines; and once with -DJUMBO_NO_INLINE,
# which must not reference the inline code's symbol at all.  COMPILER
# (default cc) is the program's: fast.cmake runs this with cc and again
# with clang, whose inline paths the header spells differently.
#   fast_installed.sh BUILD_DIR SOURCE_DIR [SANITIZERS] [COMPILER]
set -eu
build=$1 src=$2 san=${3:-} cc=${4:-cc}
command -v "$cc" >/dev/null 2>&1 || { echo "skip: no compiler $cc"; exit 77; }
case $cc in
*clang*)
	# The library's sanitizer runtime is GCC's; a Clang program brings
	# its own, and the two do not load together.
	[ -z "$san" ] || { echo "skip: clang against a -fsanitize=$san build"
			   exit 77; } ;;
esac
CC="$cc${san:+ -fsanitize=$san}"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -path '*/pkgconfig/jumbo.pc' | head -1)
export PKG_CONFIG_PATH="${pc%/jumbo.pc}"
for v in inline noinline; do
	def=
	[ $v = noinline ] && def=-DJUMBO_NO_INLINE
	# shellcheck disable=SC2046
	$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Werror $def -I"$src/tests" \
		-o "$prefix/fast_$v" "$src/tests/test_fast.c" -pthread \
		$(pkg-config --cflags --libs jumbo) $(pkg-config --variable=rpath jumbo)
	# Inlined, alloc_one and free_one read the thread pointer themselves
	# (the %fs-relative load of jumbo_fast_seed@JUMBO_1.1); not inlined,
	# they only call the library.
	if command -v objdump >/dev/null; then
		n=$(objdump -d --no-show-raw-insn "$prefix/fast_$v" |
			awk '/<(alloc_one|free_one)>:/ { f = 1; next } /^$/ { f = 0 }
			     f && /%fs:/ { n++ } END { print n + 0 }')
		if [ $v = inline ] && [ "$n" -lt 2 ]; then
			echo "fast_$v: the fast paths were not inlined"; exit 1
		fi
		if [ $v = noinline ] && [ "$n" -ne 0 ]; then
			echo "fast_$v: JUMBO_NO_INLINE, yet inline code"; exit 1
		fi
	fi
	nm -D "$prefix/fast_$v" | grep -q 'jumbo_fast_seed@JUMBO_1.1'
	rc=0
	"$prefix/fast_$v" >"$prefix/out" || rc=$?
	cat "$prefix/out"
	[ $rc = 0 ] || exit $rc
	# Inlined, the program ran pairs with the library's jumbo_pg_alloc
	# and jumbo_pg_free unreadable (test_fast.c, inline_calls_no_library).
	if [ $v = inline ] &&
	   ! grep -q 'inline paths call neither library function' "$prefix/out"; then
		echo "fast_$v: the no-call check did not run"; exit 1
	fi
done
