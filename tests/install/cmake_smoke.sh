#!/bin/sh
# `meson install` into a temporary staging directory, then a CMake project
# (tests/install/cmake_consumer) finds the staged package with find_package(iam CONFIG),
# links iam::iam and iam::testing, and its programs run against the staged libraries. The
# package's version file must accept this version and refuse the next minor one.
#
# Usage: cmake_smoke.sh <meson> <build dir> <cmake> <consumer source dir> <version>
#                       <prefix> <libdir> <includedir>
set -eu
if [ "$#" -ne 8 ]; then
  echo "usage: $0 <meson> <build dir> <cmake> <consumer dir> <version> <prefix> <libdir> <includedir>" >&2
  exit 2
fi
meson=$1 build=$2 cmake=$3 consumer=$4 version=$5 prefix=$6 libdir=$7 includedir=$8
. "$(dirname "$0")/stage_install.sh"

for file in iamConfig.cmake iamConfigVersion.cmake; do
  [ -f "$staged_lib/cmake/iam/$file" ] || fail "$file not installed in $staged_lib/cmake/iam"
done
echo "ok   CMake package files installed in $libdir/cmake/iam"

configure() {  # configure <build dir> <version wanted>
  "$cmake" -S "$consumer" -B "$1" -DCMAKE_PREFIX_PATH="$staged_prefix" -DIAM_VERSION_WANTED="$2" \
    -DCMAKE_BUILD_TYPE=Release >"$1.log" 2>&1
}

configure "$stage/consumer" "$version" || { cat "$stage/consumer.log"; fail "find_package(iam $version CONFIG) failed"; }
"$cmake" --build "$stage/consumer" >"$stage/build.log" 2>&1 || { cat "$stage/build.log"; fail "the CMake consumer does not build"; }
echo "ok   find_package(iam $version CONFIG) found the staged package; iam::iam and iam::testing link"

for program in jwt-consumer testing-consumer; do
  "$stage/consumer/$program" || fail "$program failed"
done
LD_LIBRARY_PATH= ldd "$stage/consumer/jwt-consumer" | grep -q "$staged_lib/libiam.so" ||
  fail "jwt-consumer did not load the staged libiam.so"
LD_LIBRARY_PATH= ldd "$stage/consumer/testing-consumer" | grep -q "$staged_lib/libiam-testing.so" ||
  fail "testing-consumer did not load the staged libiam-testing.so"
echo "ok   the consumer's programs run against the staged libraries"

# SameMinorVersion before 1.0 (the SONAME rule): the next minor version is not offered.
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
if [ "$major" = 0 ]; then next="0.$((minor + 1))"; else next="$((major + 1)).0"; fi
if configure "$stage/consumer-next" "$next"; then
  fail "find_package(iam $next CONFIG) accepted version $version"
fi
grep -q "$version" "$stage/consumer-next.log" || { cat "$stage/consumer-next.log"; fail "no version mismatch reported"; }
echo "ok   find_package(iam $next CONFIG) refuses version $version"
