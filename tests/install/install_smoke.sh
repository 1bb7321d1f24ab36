#!/bin/sh
# `meson install` into a temporary staging directory, then build a consumer of the staged
# library with nothing but `pkg-config --cflags --libs iam` and run it.
#
# The same for iam-testing (iam-testing.pc, make_test_iam).
#
# Usage: install_smoke.sh <meson> <build dir> <source include dir> <smoke .cpp>
#                         <testing smoke .cpp> <prefix> <libdir> <includedir> <c++ compiler command...>
set -eu
if [ "$#" -lt 9 ]; then
  echo "usage: $0 <meson> <build dir> <include dir> <smoke.cpp> <testing_smoke.cpp> <prefix> <libdir> <includedir> <compiler...>" >&2
  exit 2
fi
meson=$1 build=$2 src_include=$3 smoke=$4 testing_smoke=$5 prefix=$6 libdir=$7 includedir=$8
shift 8
. "$(dirname "$0")/stage_install.sh"

# Headers: every public header of the source tree is installed.
for header in "$src_include"/iam/*.h; do
  name=$(basename "$header")
  [ -f "$staged_include/iam/$name" ] || fail "header iam/$name not installed in $staged_include"
  cmp -s "$header" "$staged_include/iam/$name" || fail "installed iam/$name differs from the source"
done
echo "ok   headers installed: $(ls "$staged_include/iam" | wc -l) files in $includedir/iam"

# Libraries and the pkg-config file.
[ -e "$staged_lib/libiam.so" ] || fail "libiam.so not installed in $staged_lib"
[ -e "$staged_lib/libiam.a" ] || fail "libiam.a not installed in $staged_lib"
[ -f "$staged_lib/pkgconfig/iam.pc" ] || fail "iam.pc not installed in $staged_lib/pkgconfig"
echo "ok   libraries installed: $(cd "$staged_lib" && ls libiam.* | tr '\n' ' ')"
echo "---- iam.pc"
cat "$staged_lib/pkgconfig/iam.pc"
echo "----"
grep -q '^Libs:.*-liam' "$staged_lib/pkgconfig/iam.pc" || fail "iam.pc has no 'Libs: ... -liam'"
grep -q '^Cflags:.*-I' "$staged_lib/pkgconfig/iam.pc" || fail "iam.pc has no include path in Cflags"

# pkg-config resolves the staged package, with paths inside the staging directory.
PKG_CONFIG_PATH=$staged_lib/pkgconfig
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pkg-config --exists --print-errors iam || fail "pkg-config does not find iam"
flags=$(pkg-config --cflags --libs iam) || fail "pkg-config --cflags --libs iam"
echo "pkg-config --cflags --libs iam: $flags"
case $flags in *"-I$staged_include"*) ;; *) fail "cflags do not point into the staging dir" ;; esac
case $flags in *"-L$staged_lib"*) ;; *) fail "libs do not point into the staging dir" ;; esac

# The consumer: only pkg-config's flags (plus the language standard the headers need).
# shellcheck disable=SC2086  # $flags is a list of words
"$@" -std=c++20 -o "$stage/smoke" "$smoke" $flags || fail "the smoke program does not build"
LD_LIBRARY_PATH=$staged_lib "$stage/smoke" || fail "the smoke program (shared library) failed"
LD_LIBRARY_PATH=$staged_lib ldd "$stage/smoke" | grep -q "$staged_lib/libiam.so" ||
  fail "the smoke program did not load the staged libiam.so"
echo "ok   smoke program built from pkg-config flags runs against the staged libiam.so"

# iam-testing: its own library and pkg-config file; a test program built from its flags
# alone gets make_test_iam (and loads libiam-testing.so, not libiam.so).
[ -e "$staged_lib/libiam-testing.so" ] || fail "libiam-testing.so not installed in $staged_lib"
[ -f "$staged_lib/pkgconfig/iam-testing.pc" ] || fail "iam-testing.pc not installed in $staged_lib/pkgconfig"
testing_flags=$(pkg-config --cflags --libs iam-testing) || fail "pkg-config --cflags --libs iam-testing"
echo "pkg-config --cflags --libs iam-testing: $testing_flags"
case " $testing_flags " in *" -liam-testing "*) ;; *) fail "iam-testing.pc does not link -liam-testing" ;; esac
# shellcheck disable=SC2086
"$@" -std=c++20 -o "$stage/testing-smoke" "$testing_smoke" $testing_flags || fail "the testing smoke program does not build"
LD_LIBRARY_PATH=$staged_lib "$stage/testing-smoke" || fail "the testing smoke program failed"
LD_LIBRARY_PATH=$staged_lib ldd "$stage/testing-smoke" | grep -q "$staged_lib/libiam-testing.so" ||
  fail "the testing smoke program did not load the staged libiam-testing.so"
echo "ok   make_test_iam from pkg-config iam-testing runs against the staged libiam-testing.so"

# The static archive, with the private requirements pkg-config lists for static links.
static_flags=$(pkg-config --static --cflags --libs iam) || fail "pkg-config --static"
# With the PostgreSQL store or the OIDC regime: Debian's libpq.pc and libcurl.pc list
# private libraries that their -dev packages do not ship (libpq: -lpgcommon, -lpgport with
# postgresql-server-dev, -lgssapi_krb5's link name with libkrb5-dev; libcurl: -lssh2, -lldap,
# -lpsl, ... with their own -dev packages). Only a fully static libpq or libcurl needs them;
# here they link shared, so those the toolchain cannot find are dropped (and only those).
for dep in libpq libcurl; do
  pkg-config --exists "$dep" || continue
  own=$(pkg-config --libs-only-l "$dep")
  own=${own%% *}  # -lpq, -lcurl
  case " $static_flags " in *" $own "*)
    for lib in $(pkg-config --static --libs-only-l "$dep"); do
      [ "$lib" = "$own" ] && continue
      name=${lib#-l}
      if ! "$@" -print-file-name="lib$name.so" | grep -q / && ! "$@" -print-file-name="lib$name.a" | grep -q /; then
        static_flags=$(echo " $static_flags " | sed "s# $lib # #g")
        echo "note: $lib (a private library of $dep) is not installed; dropped, $dep links shared here"
      fi
    done ;;
  esac
done
# shellcheck disable=SC2086
"$@" -std=c++20 -o "$stage/smoke-static" "$smoke" $(echo "$static_flags" | sed 's/-liam/-Wl,-Bstatic -liam -Wl,-Bdynamic/') ||
  fail "the smoke program does not link statically with pkg-config --static flags"
"$stage/smoke-static" || fail "the smoke program (static library) failed"
echo "ok   smoke program linked with libiam.a and pkg-config --static flags runs"
