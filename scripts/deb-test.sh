#!/usr/bin/env bash
# Builds the Debian packages (libjumbo1, libjumbo-dev, jumbo-tools) from the
# working tree, checks them with lintian (errors fail, warnings are shown),
# installs them with apt, builds examples/ti_rx.c against the installed
# package with pkg-config and with CMake, runs it, runs "jumbo demo --quick"
# and "jumbo stat", then purges the packages again.
#
#   scripts/deb-test.sh [--nocheck]    --nocheck: skip the test suite
#                                      inside the package build
#
# Not part of the default test run: it installs packages system-wide.
# Root on Debian 12; installs debhelper, lintian and the build dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
if [ "$(id -u)" -ne 0 ]; then
	echo "deb-test: skipped: needs root (apt-get, dpkg -i)" >&2
	exit 77
fi
nocheck=
[ "${1:-}" = --nocheck ] && nocheck=nocheck

export DEBIAN_FRONTEND=noninteractive
need=(debhelper devscripts lintian dpkg-dev fakeroot build-essential)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Build-Depends of debian/control.
apt-get build-dep -y -qq "$src" >/dev/null

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
work=$(mktemp -d)
pkgs=(libjumbo1 libjumbo-dev jumbo-tools)
cleanup() {
	apt-get purge -y -qq "${pkgs[@]}" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# The files of the working tree that git would track (edits included).
tree=$work/libjumbo-$version
mkdir "$tree"
git ls-files -z -c -o --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$tree"
(cd "$tree" && DEB_BUILD_OPTIONS="$nocheck" dpkg-buildpackage -b -us -uc) \
	>"$work/build.log" 2>&1 || {
	tail -50 "$work/build.log" >&2
	echo "deb-test: dpkg-buildpackage failed" >&2
	exit 1
}
changes=$(ls "$work"/libjumbo_"${version}"_*.changes)
echo "deb-test: built $(cd "$work" && ls ./*.deb | tr '\n' ' ')"
lintian --fail-on error --tag-display-limit 0 "$changes" || {
	echo "deb-test: lintian found errors (above)" >&2
	exit 1
}

apt-get install -y -qq "$work"/*.deb >/dev/null
dpkg -s "${pkgs[@]}" >/dev/null

# A program built against the installed package, the two ways users do.
cc -std=c11 -Wall -Werror -o "$work/ti_rx" "$src/examples/ti_rx.c" \
	$(pkg-config --cflags --libs jumbo)
"$work/ti_rx" >/dev/null
mkdir "$work/app"
cat >"$work/app/CMakeLists.txt" <<EOF2
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(jumbo 1 CONFIG REQUIRED)
add_executable(app $src/examples/ti_rx.c)
target_link_libraries(app PRIVATE jumbo::jumbo)
EOF2
cmake -S "$work/app" -B "$work/app/build" >/dev/null
cmake --build "$work/app/build" >/dev/null
"$work/app/build/app" >/dev/null

# The tools, from PATH; the manual pages where man finds them.
jumbo demo --quick >/dev/null
JUMBO_STAT_DIR=$work jumbo stat --json | grep -q '"processes":\[\]'
man -w jumbo_stat >/dev/null 2>&1 || test -f /usr/share/man/man3/jumbo_stat.3.gz
test -f /usr/share/man/man1/jumbo.1.gz
test -x /usr/bin/jumbo-plot-rx
echo "deb-test: ok"
