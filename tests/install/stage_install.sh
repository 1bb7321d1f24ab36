# Sourced by the install tests: `meson install` of the build tree into a private staging
# directory, removed on exit. Expects $meson $build $prefix $libdir $includedir; sets
# $stage, $root (the staged file system), $staged_prefix, $staged_lib, $staged_include,
# and fail().
# --no-rebuild: the test must never start a build inside the build tree running it.
fail() { echo "FAIL: $*"; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/iam-install.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM

# Relative libdir/includedir are under the prefix.
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $includedir in /*) ;; *) includedir=$prefix/$includedir ;; esac
root=$stage/root
staged_prefix=$root$prefix
staged_lib=$root$libdir
staged_include=$root$includedir

"$meson" install -C "$build" --destdir "$root" --no-rebuild --quiet >"$stage/install.log" 2>&1 || {
  cat "$stage/install.log"; fail "meson install"; }
