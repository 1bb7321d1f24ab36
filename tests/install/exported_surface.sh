#!/bin/sh
# The exported surface of the built shared libraries (docs/architecture.md "The exported
# surface"): libiam.so exports the iam namespace's public API only (no internal namespace,
# no nlohmann/json or other template instances), carries the SONAME of the versioning
# policy, and has neither make_test_iam nor the roles regime's low-iteration door, which
# libiam-testing.so does have.
#
# Usage: exported_surface.sh <nm> <readelf> <libiam.so> <libiam-testing.so> <soversion>
set -eu
if [ "$#" -ne 5 ]; then
  echo "usage: $0 <nm> <readelf> <libiam.so> <libiam-testing.so> <soversion>" >&2
  exit 2
fi
nm=$1 readelf=$2 lib=$3 testing_lib=$4 soversion=$5
fail() { echo "FAIL: $*"; exit 1; }
for file in "$lib" "$testing_lib"; do [ -f "$file" ] || fail "$file does not exist"; done

exported() { "$nm" -D --defined-only -C "$1" | cut -d' ' -f3-; }
exports=$(exported "$lib")
count=$(printf '%s\n' "$exports" | wc -l)
echo "libiam.so exports $count symbols"
[ "$count" -gt 50 ] || fail "libiam.so exports only $count symbols: is the public API exported at all?"
for function in make_roles_regime make_chain_regime make_oidc_regime parse_oidc_config OidcConfig::validate; do
  printf '%s\n' "$exports" | grep -q "^iam::$function(" || fail "iam::$function is not exported"
done

# Everything exported names the iam namespace (or its type information and vtables).
others=$(printf '%s\n' "$exports" | grep -Ev '^(iam::|(typeinfo|typeinfo name|vtable|VTT) for iam::)' || true)
[ -z "$others" ] || { printf '%s\n' "$others" | head -20; fail "libiam.so exports symbols outside the iam namespace"; }
# ... but none of its internal namespaces (src/: credentials, crypto, text, ...) or types.
internal='^(typeinfo for |typeinfo name for |vtable for )?iam::(detail|credentials|crypto|gateway|protocol|oidc|storage_detail|sqlite_detail|postgres_detail|text|testing)::'
leaked=$(printf '%s\n' "$exports" | grep -E "$internal" || true)
[ -z "$leaked" ] || { printf '%s\n' "$leaked" | head -20; fail "libiam.so exports internal symbols"; }
printf '%s\n' "$exports" | grep -q nlohmann && fail "libiam.so exports nlohmann/json symbols"
echo "ok   libiam.so exports the public API of the iam namespace and nothing else"

# The SONAME of the versioning policy, for both libraries.
for file in "$lib" "$testing_lib"; do
  name=$(basename "$file" | sed 's/\.so.*//')
  "$readelf" -d "$file" | grep -q "(SONAME).*\[$name\.so\.$soversion\]" ||
    fail "$(basename "$file") has not the SONAME $name.so.$soversion"
done
echo "ok   SONAMEs libiam.so.$soversion and libiam-testing.so.$soversion"

# The test helper and the door: in libiam-testing.so, absent from libiam.so (whole symbol
# table, not just the exported one).
door=create_roles_regime_for_testing
exported "$testing_lib" | grep -q '^iam::testing::make_test_iam(' || fail "libiam-testing.so does not export make_test_iam"
"$nm" -C "$testing_lib" | grep -q "$door" || fail "libiam-testing.so has no $door: is this check still looking for the right name?"
"$nm" -C "$lib" | grep -q 'iam::testing::' && fail "libiam.so contains the test helper (iam::testing)"
"$nm" -C "$lib" | grep -q "$door" && fail "libiam.so contains the low-iteration door ($door)"
echo "ok   make_test_iam and the low-iteration door are in libiam-testing.so only"
