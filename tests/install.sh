#!/bin/sh
# Installs the build into a scratch prefix and builds an example against it
# the way a user would: with pkg-config, and once statically.
#   install.sh BUILD_DIR SOURCE_DIR [SANITIZERS]
set -eu
build=$1 src=$2 san=${3:-}
# A sanitized library needs a sanitized program around it.
CC="cc${san:+ -fsanitize=$san}"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1)
libdir=${libdir%/pkgconfig}
test -f "$prefix/include/jumbo/jumbo.h"
test -f "$libdir/pkgconfig/jumbo.pc"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Werror -o "$prefix/ti_rx" "$src/examples/ti_rx.c" \
	$(pkg-config --cflags --libs jumbo)
LD_LIBRARY_PATH="$libdir" "$prefix/ti_rx"
# shellcheck disable=SC2046
$CC -std=c11 -o "$prefix/ti_rx_static" "$src/examples/ti_rx.c" \
	$(pkg-config --cflags jumbo) "$libdir/libjumbo.a" \
	$(pkg-config --libs-only-other --static jumbo) -pthread \
	$(pkg-config --libs liburing 2>/dev/null || true)
"$prefix/ti_rx_static" >/dev/null
# The shared library exports only the public names, with a version.
nm -D --defined-only "$libdir/libjumbo.so" | awk '{print $3}' |
	grep -v '^JUMBO_' | grep -Ev '^(jumbo_|m_)' && {
	echo "install: libjumbo.so exports non-public symbols (above)" >&2
	exit 1
}
objdump -T "$libdir/libjumbo.so" | grep -q 'JUMBO_1.0.*jumbo_pg_alloc'
readelf -d "$libdir/libjumbo.so" | grep -q 'SONAME.*libjumbo.so.1'
echo "install: ok"
