#!/usr/bin/env python3
"""The include rules of docs/architecture.md "Layers", checked on the source tree: a lower
layer never includes a higher one. Prints each violation and exits 1 if there is any."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# (files, forbidden include prefixes, why)
rules = [
    ("src/core", ("storage/", "regimes/", "credentials/", "gateway/", "protocol/", "iam/sqlite_store.h",
                  "iam/postgres_store.h", "iam/memory_store.h", "iam/store.h"), "core includes no backend or higher layer"),
    ("src/crypto", ("credentials/", "iam/jwt.h", "gateway/", "storage/", "regimes/"), "crypto includes no credentials"),
    ("src/audit", ("storage/", "regimes/", "credentials/", "gateway/", "protocol/", "iam/regime.h", "iam/repository.h"),
     "the audit sinks know events, not who emits them"),
    ("storage", ("regimes/", "gateway/", "protocol/", "iam/jwt.h", "iam/roles.h", "iam/gateway.h"),
     "storage knows records, not regimes or the gateway"),
    ("regimes", ("gateway/", "iam/gateway.h", "storage/"), "regimes know storage only through Repository"),
]
single_files = [
    ("include/iam/repository.h", ("iam/jwt.h", "iam/regime.h"), "repository.h pulls in neither the JWT code nor the contract"),
    ("include/iam/operations.h", ("iam/regime.h",), "typed requests do not need the Regime contract"),
]

checked = 0
violations = []


def check(path, forbidden, why):
    global checked
    checked += 1
    for target in include.findall(path.read_text()):
        if target.startswith(forbidden):
            violations.append(f"{path.relative_to(root)} includes {target}: {why}")


for folder, forbidden, why in rules:
    files = [p for p in (root / folder).rglob("*") if p.suffix in (".h", ".cpp")]
    if not files:
        violations.append(f"{folder}: no sources found (is the tree at {root}?)")
    for path in files:
        check(path, forbidden, why)
for name, forbidden, why in single_files:
    check(root / name, forbidden, why)

for line in violations:
    print(line)
print(f"{checked} files checked, {len(violations)} violations")
sys.exit(1 if violations else 0)
