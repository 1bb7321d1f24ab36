#!/usr/bin/python3
"""iamctl's subcommands through the real binary on a SQLite store: stdout carries only the
one-time secret or the listing, context goes to stderr, exit codes say what happened
(0 ok, 1 refused, 2 usage, 3 internal). Usage: iamctl_cli.py IAMCTL"""
import json
import os
import subprocess
import sys
import tempfile

IAMCTL = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="iamctl-cli-")
STORE = f"sqlite:{tmp}/iam.db"
failures = []


def run(*args, stdin="", store=True, env=None):
    argv = [IAMCTL, *args] + (["--store", STORE] if store else [])
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("IAM_BOOTSTRAP_MODE", None)
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120, env=full_env)
    return done.returncode, done.stdout, done.stderr


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f" {detail}"))
    if not condition:
        failures.append(name)


# bootstrap: the admin key is the only stdout line
code, out, err = run("bootstrap")
admin_key = out.strip()
check("bootstrap prints only the key", code == 0 and admin_key.startswith("tg_") and len(out.splitlines()) == 1
      and "admin user id" in err and admin_key not in err, (code, out, err))
code, out, err = run("bootstrap")
check("second bootstrap refused with exit 1", code == 1 and out == "" and "auth-failed" in err, (code, out, err))

# create-user with the password on stdin (not a terminal), then list
code, out, err = run("create-user", "--username", "alice", "--role", "writer", "--name", "Alice",
                     stdin="changeme1\n")
check("create-user", code == 0 and "alice" in out and "changeme1" not in out + err, (code, out, err))
alice = next(line.split()[1] for line in out.splitlines() if line.startswith("id "))
code, out, err = run("list-users")
lines = out.splitlines()
check("list-users prints an aligned table", code == 0 and lines[0].startswith("ID") and "USERNAME" in lines[0]
      and any("alice" in l for l in lines) and len(lines) == 3, out)
header = lines[0]
check("columns aligned", all(l[header.index("USERNAME") - 2:header.index("USERNAME")] == "  " for l in lines[1:]), out)
code, out, err = run("list-users", "--json")
check("--json prints the raw response", code == 0 and {u["username"] for u in json.loads(out)["users"]} ==
      {"admin", "alice"}, out)

# create-api-key: KEY=$(iamctl create-api-key ...) works
code, out, err = run("create-api-key", "--user-id", alice, "--name", "laptop")
key = out.strip()
check("create-api-key prints only the key", code == 0 and key.startswith("tg_") and len(key) == 35
      and len(out.splitlines()) == 1 and key not in err and key[:7] in err, (code, out, err))
code, out, err = run("whoami", "--token", key)
check("whoami with the new key", code == 0 and "alice" in out, (code, out, err))
code, out, err = run("list-api-keys", "--user-id", alice)
check("list-api-keys table", code == 0 and "laptop" in out and key not in out and key[:7] in out, out)
key_id = next(l.split()[0] for l in out.splitlines()[1:])

# login: the JWT is the only stdout line; wrong password exits 1
code, out, err = run("login", "--username", "alice", stdin="changeme1\n")
check("login prints only the JWT", code == 0 and out.count(".") == 2 and len(out.splitlines()) == 1, (code, out, err))
jwt_token = out.strip()
code, out, err = run("login", "--username", "alice", stdin="wrong-password\n")
check("bad login exits 1", code == 1 and out == "" and "auth-failed" in err, (code, out, err))
code, out, err = run("whoami", "--token", jwt_token)
check("whoami with the JWT", code == 0 and "alice" in out, (code, out, err))

# change-password as alice (self-service through her token)
code, out, err = run("change-password", "--token", key, stdin="changeme1\nn3wer-pass\n")
check("change-password", code == 0 and out == "", (code, out, err))
code, out, err = run("login", "--username", "alice", stdin="n3wer-pass\n")
check("new password works", code == 0, (code, out, err))

# reset-password: the temporary password is the only stdout line
code, out, err = run("reset-password", "--user-id", alice)
check("reset-password prints only the temporary password", code == 0 and len(out.strip()) == 16
      and len(out.splitlines()) == 1, (code, out, err))

# workspaces
code, out, err = run("create-workspace", "--id", "acme", "--name", "Acme Corp")
check("create-workspace", code == 0 and "Acme Corp" in out, (code, out, err))
code, out, err = run("create-workspace", "--id", "_acme")
check("reserved workspace id exits 1", code == 1 and "invalid-argument" in err, (code, out, err))
code, out, err = run("list-workspaces")
check("list-workspaces", code == 0 and "acme" in out and "default" in out, out)
code, out, err = run("update-workspace", "--id", "acme", "--name", "Acme Inc")
check("update-workspace", code == 0 and "Acme Inc" in out, (code, out, err))
code, out, err = run("get-workspace", "--id", "nope")
check("get-workspace of a missing id exits 1", code == 1 and "not-found" in err, (code, out, err))
code, out, err = run("disable-workspace", "--id", "acme")
check("disable-workspace", code == 0, (code, out, err))

# users
code, out, err = run("update-user", "--user-id", alice, "--name", "Alice A.")
check("update-user", code == 0 and "Alice A." in out, (code, out, err))
code, out, err = run("get-user", "--user-id", alice)
check("get-user", code == 0 and "Alice A." in out, (code, out, err))
code, out, err = run("revoke-api-key", "--key-id", key_id)
check("revoke-api-key", code == 0, (code, out, err))
code, out, err = run("whoami", "--token", key)
check("revoked key refused", code == 1, (code, out, err))
code, out, err = run("disable-user", "--user-id", alice)
check("disable-user", code == 0, (code, out, err))
code, out, err = run("enable-user", "--user-id", alice)
check("enable-user", code == 0, (code, out, err))
code, out, err = run("delete-user", "--user-id", alice)
check("delete-user", code == 0, (code, out, err))
code, out, err = run("get-user", "--user-id", alice)
check("deleted user is gone", code == 1 and "not-found" in err, (code, out, err))

# signing keys
code, out, err = run("jwks")
before = json.loads(out)["keys"] if code == 0 else []
check("jwks: the active key and the next one", code == 0 and len(before) == 2 and
      all(k["kty"] == "OKP" for k in before), (code, out, err))
code, out, err = run("rotate-signing-key")
check("rotate-signing-key", code == 0, (code, out, err))
code, out, err = run("jwks")
check("jwks lists the retired key in grace too (and a fresh next key)",
      code == 0 and len(json.loads(out)["keys"]) == 3, out)
code, out, err = run("list-signing-keys")
statuses = sorted(line.split()[1] for line in out.splitlines()[1:]) if code == 0 else []
check("list-signing-keys: one current, one next, one retired", statuses == ["current", "next", "retired"],
      (code, out, err))
check("list-signing-keys has a GRACE ENDS column", code == 0 and "GRACE ENDS" in out.splitlines()[0], out)

# usage errors exit 2, internal failures exit 3, --help works everywhere
code, out, err = run("create-user", store=True)
check("missing required option exits 2", code == 2, (code, out, err))
code, out, err = run("no-such-command", store=False)
check("unknown subcommand exits 2", code == 2, (code, out, err))
code, out, err = run("list-users", "--store", "bogus:x", store=False)
check("unknown store exits 2", code == 2, (code, out, err))
code, out, err = run("list-users", "--store", f"sqlite:{tmp}/no/such/dir/iam.db", store=False)
check("unopenable store exits 3", code == 3, (code, out, err))
for sub in ["stdio", "bootstrap", "login", "whoami", "create-user", "list-users", "get-user", "update-user",
            "disable-user", "enable-user", "delete-user", "change-password", "reset-password", "create-api-key",
            "list-api-keys", "revoke-api-key", "create-workspace", "list-workspaces", "get-workspace",
            "update-workspace", "disable-workspace", "rotate-signing-key", "list-signing-keys", "jwks"]:
    code, out, err = run(sub, "--help", store=False)
    check(f"{sub} --help", code == 0 and "--store" in out, (code, out[:200], err[:200]))

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
