#!/bin/sh
# Builds the "jumbo-user" peers as a user of libjumbo builds a program:
# install the build into a scratch prefix, then compile against the
# installed headers with pkg-config's flags.
#
#   user-build.sh BUILD_DIR PREFIX BENCH_SRC SUPPORT_DIR OUT_DIR CC [CFLAGS...]
#
# OUT_DIR gets libjb_user.so (linked with -ljumbo: the shared library)
# and libjb_user_static.so (libjumbo.a linked in, its symbols kept
# private), and named_pair and run_search (user/, programs of their
# own linked with -ljumbo).  CFLAGS are the build's extra flags (sanitizers),
# nothing else.
set -eu
build=$1 prefix=$2 src=$3 support=$4 out=$5 cc=$6
shift 6
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name jumbo.pc | head -n 1)
export PKG_CONFIG_PATH="${pc%/jumbo.pc}"
cflags=$(pkg-config --cflags jumbo)
libdir=$(pkg-config --variable=libdir jumbo)
# The harness's header and helpers: the workload template is the bench's,
# not the library's.
common="-O2 -g -fPIC -shared -fvisibility=hidden -I$src -I$support $cflags"
# shellcheck disable=SC2086 # word splitting of the flags is intended
"$cc" "$@" $common -o "$out/libjb_user.so" "$src/user/seed_user.c" \
	"$src/sys.c" $(pkg-config --libs jumbo) $(pkg-config --variable=rpath jumbo)
# shellcheck disable=SC2086
"$cc" "$@" $common -o "$out/libjb_user_static.so" "$src/user/seed_user.c" \
	"$src/sys.c" -Wl,--exclude-libs,ALL "$libdir/libjumbo.a" \
	$(pkg-config --static --libs-only-other --libs-only-l jumbo | sed 's/-ljumbo//')
# A named pool against a private one, as a program links the shared
# library: only the installed header, no harness.
# shellcheck disable=SC2086,SC2046 # word splitting of the flags is intended
"$cc" "$@" -O2 -g $cflags -o "$out/named_pair" "$src/user/named_pair.c" \
	$(pkg-config --libs jumbo) $(pkg-config --variable=rpath jumbo)
# Runs found again after frees (jumbo_pool_alloc_contig), the same way.
# shellcheck disable=SC2086,SC2046
"$cc" "$@" -O2 -g $cflags -o "$out/run_search" "$src/user/run_search.c" \
	$(pkg-config --libs jumbo) $(pkg-config --variable=rpath jumbo)
