#!/bin/sh
# Every public header compiles on its own (include-what-you-use at the header level).
# Usage: check_headers.sh <include dir> <c++ compiler command...>
# New headers are found by globbing <include dir>/iam/*.h; nothing to register.
set -u
if [ "$#" -lt 2 ]; then
  echo "usage: $0 <include dir> <compiler...>" >&2
  exit 2
fi
include_dir=$1
shift
count=0
failed=0
for header in "$include_dir"/iam/*.h; do
  [ -e "$header" ] || { echo "no headers under $include_dir/iam" >&2; exit 1; }
  name=$(basename "$header")
  count=$((count + 1))
  if printf '#include "iam/%s"\n' "$name" |
      "$@" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I"$include_dir" -x c++ -; then
    echo "ok   iam/$name"
  else
    echo "FAIL iam/$name does not compile on its own"
    failed=$((failed + 1))
  fi
done
echo "$count headers checked, $failed failed"
[ "$failed" -eq 0 ]
