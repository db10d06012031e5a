#!/bin/sh
# Installs the build into a scratch prefix and builds an example against it
# the way a user would: with pkg-config (shared, and once statically), and
# with CMake's find_package(jumbo CONFIG) (jumbo::jumbo, jumbo::jumbo_static).
#   install.sh BUILD_DIR SOURCE_DIR [SANITIZERS]
set -eu
build=$1 src=$2 san=${3:-}
# A sanitized library needs a sanitized program around it.
CC="cc${san:+ -fsanitize=$san}"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
# lib, lib64 or a multiarch lib/x86_64-linux-gnu (a Debian build).
pc=$(find "$prefix" -path '*/pkgconfig/jumbo.pc' | head -1)
libdir=${pc%/pkgconfig/jumbo.pc}
test -f "$prefix/include/jumbo/jumbo.h"
test -f "$libdir/pkgconfig/jumbo.pc"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Werror -o "$prefix/ti_rx" "$src/examples/ti_rx.c" \
	$(pkg-config --cflags --libs jumbo)
LD_LIBRARY_PATH="$libdir" "$prefix/ti_rx"
# Outside the linker's search path the program needs a run path: without
# one it fails to start; with the .pc file's rpath variable it runs.
if "$prefix/ti_rx" >/dev/null 2>&1; then
	echo "install: ti_rx ran without LD_LIBRARY_PATH or a run path (is libjumbo installed system-wide?)" >&2
else
	# shellcheck disable=SC2046
	$CC -std=c11 -Wall -Werror -o "$prefix/ti_rx_rpath" "$src/examples/ti_rx.c" \
		$(pkg-config --cflags --libs jumbo) $(pkg-config --variable=rpath jumbo)
	"$prefix/ti_rx_rpath" >/dev/null
fi
# shellcheck disable=SC2046
$CC -std=c11 -o "$prefix/ti_rx_static" "$src/examples/ti_rx.c" \
	$(pkg-config --cflags jumbo) "$libdir/libjumbo.a" \
	$(pkg-config --libs-only-other --static jumbo) -pthread \
	$(pkg-config --libs liburing 2>/dev/null || true)
"$prefix/ti_rx_static" >/dev/null
# CMake: a consumer project that knows only the prefix.
mkdir "$prefix/app"
cat >"$prefix/app/CMakeLists.txt" <<EOF2
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(jumbo 1.0 CONFIG REQUIRED)
add_executable(app_shared $src/examples/ti_rx.c)
target_link_libraries(app_shared PRIVATE jumbo::jumbo)
add_executable(app_static $src/examples/ti_rx.c)
target_link_libraries(app_static PRIVATE jumbo::jumbo_static)
EOF2
cmake -S "$prefix/app" -B "$prefix/app/build" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_C_FLAGS="${san:+-fsanitize=$san}" >/dev/null
cmake --build "$prefix/app/build" >/dev/null
"$prefix/app/build/app_shared" >/dev/null
"$prefix/app/build/app_static" >/dev/null
# The shared one found the installed library through its run path.
readelf -d "$prefix/app/build/app_shared" | grep -q 'NEEDED.*libjumbo.so.1'
# Another major version is refused.
sed -i 's/find_package(jumbo 1.0/find_package(jumbo 2.0/' "$prefix/app/CMakeLists.txt"
if cmake -S "$prefix/app" -B "$prefix/app/build2" \
	-DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then
	echo "install: find_package(jumbo 2.0) accepted version 1" >&2
	exit 1
fi
# The shared library exports only the public names, with a version.
nm -D --defined-only "$libdir/libjumbo.so" | awk '{print $3}' |
	grep -v '^JUMBO_' | grep -Ev '^(jumbo_|m_)' && {
	echo "install: libjumbo.so exports non-public symbols (above)" >&2
	exit 1
}
objdump -T "$libdir/libjumbo.so" | grep -q 'JUMBO_1.0.*jumbo_pg_alloc'
objdump -T "$libdir/libjumbo.so" | grep -q 'JUMBO_1.1.*jumbo_tx_open'
readelf -d "$libdir/libjumbo.so" | grep -q 'SONAME.*libjumbo.so.1'
# Every function has a page: "man jumbo_pool_alloc" reaches jumbo_pool(3)
# through a .so stub; mandoc resolves it if it is installed.
man3=$(find "$prefix" -type d -path '*/man/man3' | head -1)
for f in jumbo_pool_alloc:jumbo_pool jumbo_rx_open:jumbo_rx \
	jumbo_tx_backend_name:jumbo_tx m_freem:jumbo_mbuf \
	jumbo_stat_read:jumbo_stat jumbo_default_pool:jumbo; do
	name=${f%%:*} page=${f#*:}
	grep -qx ".so man3/$page.3" "$man3/$name.3" || {
		echo "install: no man page link $name.3 -> $page.3" >&2
		exit 1
	}
	if command -v mandoc >/dev/null; then
		(cd "${man3%/man3}" && mandoc -T ascii "man3/$name.3") |
			grep -q . || { echo "install: $name.3 renders empty" >&2; exit 1; }
	fi
done
echo "install: ok"
