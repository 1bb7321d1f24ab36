#!/usr/bin/python3
"""Start-up errors of --regime oidc|roles+oidc and --oidc-config (docs/oidc.md "The
configuration file"), for iam-gateway and iamctl: a missing file, malformed JSON, an
unknown key, a refused algorithm, a role_map naming no role, the flags disagreeing. Each
is exit code 2 with one line on stderr naming the file and the field at fault, before any
port is opened or any store file is made.

Usage: /usr/bin/python3 oidc_config.py IAM_GATEWAY IAMCTL"""
import json
import os
import subprocess
import sys
import tempfile

from gateway_process import Checks

if len(sys.argv) != 3:
    raise SystemExit("usage: oidc_config.py IAM_GATEWAY IAMCTL")
GATEWAY, IAMCTL = sys.argv[1], sys.argv[2]
EXIT_USAGE = 2

c = Checks()
tmp = tempfile.TemporaryDirectory(prefix="iam-oidc-config-")


def issuer(**changes):
    entry = {"issuer": "http://127.0.0.1:9/realms/acme", "audiences": ["iam-gateway"], "algorithms": ["RS256"],
             "roles_claim": "realm_access.roles", "role_map": {"idp-writer": "writer"}}
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def config_file(name, content):
    path = os.path.join(tmp.name, name)
    with open(path, "w") as out:
        out.write(content if isinstance(content, str) else json.dumps(content))
    return path


def run(program, *args):
    """Runs a program that must refuse to start; returns (exit code, stderr)."""
    try:
        done = subprocess.run([program, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None, "did not exit within 30 s (it started?)"
    return done.returncode, done.stderr


def refused(program, args, wanted, what):
    code, stderr = run(program, *args)
    c.equal(code, EXIT_USAGE, f"{what}: exit code")
    c.check(wanted in stderr, f"{what}: stderr names {wanted!r}: {stderr!r}")
    c.check('"event":"listening"' not in stderr, f"{what}: nothing listened")


# (name, file content, what stderr must say beyond the file's name)
BAD_FILES = [
    ("malformed.json", '{"issuers":[', "OIDC configuration: malformed JSON"),
    ("unknown-top.json", {"issuers": [issuer()], "leeway": 30}, "leeway: unknown key"),
    ("unknown-issuer-key.json", {"issuers": [issuer(jwks_url="http://x/jwks")]}, "issuers[0].jwks_url: unknown key"),
    ("hs256.json", {"issuers": [issuer(algorithms=["HS256"])]}, "issuers[0].algorithms: HS256 is not allowed"),
    ("none.json", {"issuers": [issuer(algorithms=["RS256", "none"])]}, "issuers[0].algorithms: none is not allowed"),
    ("no-audience.json", {"issuers": [issuer(audiences=[])]}, "issuers[0].audiences"),
    ("role.json", {"issuers": [issuer(role_map={"idp-boss": "superuser"})]}, "issuers[0].role_map"),
    ("wrong-type.json", {"issuers": [issuer()], "leeway_seconds": "30"}, "leeway_seconds"),
    ("no-issuers.json", {"issuers": []}, "issuers"),
]

for mode in ("oidc", "roles+oidc"):
    for name, content, wanted in BAD_FILES:
        path = config_file(name, content)
        store = os.path.join(tmp.name, f"{mode}-{name}.db")
        refused(GATEWAY, ["--port", "0", "--store", f"sqlite:{store}", "--regime", mode, "--oidc-config", path],
                f"--oidc-config {path}: {wanted}", f"iam-gateway --regime {mode}, {name}")
        c.check(not os.path.exists(store), f"iam-gateway --regime {mode}, {name}: no store file made")
    missing = os.path.join(tmp.name, "missing.json")
    refused(GATEWAY, ["--port", "0", "--store", "memory", "--regime", mode, "--oidc-config", missing],
            f"--oidc-config {missing}: cannot be read", f"iam-gateway --regime {mode}, missing file")
    refused(GATEWAY, ["--port", "0", "--store", "memory", "--regime", mode],
            f"--regime {mode} needs --oidc-config FILE", f"iam-gateway --regime {mode} without --oidc-config")

good = config_file("good.json", {"issuers": [issuer()]})
for mode in ("roles", "noauth"):
    refused(GATEWAY, ["--port", "0", "--store", "memory", "--regime", mode, "--oidc-config", good],
            "--oidc-config is only for --regime oidc or roles+oidc", f"iam-gateway --regime {mode} with --oidc-config")
refused(GATEWAY, ["--port", "0", "--store", "memory", "--regime", "oauth"], "--regime must be roles, noauth, oidc or roles+oidc",
        "iam-gateway --regime oauth")

# iamctl builds the same regime for a local store: the same file, the same errors.
for name, content, wanted in BAD_FILES:
    path = config_file(name, content)
    refused(IAMCTL, ["whoami", "--regime", "oidc", "--oidc-config", path, "--token", "x"],
            f"--oidc-config {path}: {wanted}", f"iamctl --regime oidc, {name}")
refused(IAMCTL, ["list-users", "--store", "memory", "--regime", "roles+oidc", "--oidc-config", config_file("hs.json", {
    "issuers": [issuer(algorithms=["HS512"])]})], "issuers[0].algorithms: HS512 is not allowed", "iamctl --regime roles+oidc, HS512")
refused(IAMCTL, ["list-users", "--store", "memory", "--regime", "oidc"], "--regime oidc needs --oidc-config FILE",
        "iamctl --regime oidc without --oidc-config")
refused(IAMCTL, ["list-users", "--store", "memory", "--oidc-config", good], "--oidc-config is only for --regime oidc",
        "iamctl --oidc-config with the roles regime")
# A gateway URL and a local regime's file do not go together.
refused(IAMCTL, ["whoami", "--url", "http://127.0.0.1:9", "--oidc-config", good], "--oidc-config is for a local store",
        "iamctl --url with --oidc-config")

c.done()
