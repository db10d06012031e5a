#!/bin/sh
# test_wrapper.c built as a user builds it: against the INSTALLED
# <jumbo/jumbo.h> with pkg-config, GCC -O2, and -Winline -Werror, so that
# GCC's refusal to inline the program's own wrapper of jumbo_pg_alloc()
# and the translation ("max-inline-insns-single limit reached") fails the
# build.  The inliner's size estimate is GCC's own and changes between
# releases: the limit is checked with GCC 12, the compiler the figures in
# bench/README.md were taken with, and skipped with others.
#   wrapper_inlined.sh BUILD_DIR SOURCE_DIR [SANITIZERS]
set -eu
build=$1 src=$2 san=${3:-}
cc=${CC:-cc}
[ -z "$san" ] || { echo "skip: a -fsanitize=$san build (its own estimates)"; exit 77; }
ver=$($cc -dumpfullversion 2>/dev/null || true)
case $($cc --version 2>/dev/null | head -n 1) in
*clang*) echo "skip: $cc is Clang, whose inliner is another"; exit 77 ;;
esac
case $ver in
12.*) ;;
*) echo "skip: GCC $ver; the size limit was measured with GCC 12"; exit 77 ;;
esac
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -path '*/pkgconfig/jumbo.pc' | head -1)
export PKG_CONFIG_PATH="${pc%/jumbo.pc}"
# shellcheck disable=SC2046
if ! $cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Winline -Werror -I"$src/tests" \
	-o "$prefix/wrapper" "$src/tests/test_wrapper.c" -pthread \
	$(pkg-config --cflags --libs jumbo) $(pkg-config --variable=rpath jumbo); then
	echo "wrapper_inlined: GCC -O2 did not inline the seed's wrapper"
	exit 1
fi
"$prefix/wrapper"
