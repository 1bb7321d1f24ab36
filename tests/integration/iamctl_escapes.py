#!/usr/bin/python3
"""iamctl never prints a control character it did not write itself (issue 14, item 15).
The regime now refuses them in every text field, so this test plants them the way an older
release could have stored them (raw SQL into the SQLite store) and checks every listing,
record, error and --json output of iamctl for raw ESC, C1 controls and forged newlines.
Usage: iamctl_escapes.py IAMCTL"""
import os
import sqlite3
import subprocess
import sys
import tempfile

IAMCTL = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="iamctl-escapes-")
DB = f"{tmp}/iam.db"
STORE = f"sqlite:{DB}"
failures = []

ESC = "\x1b"
HOSTILE = {
    "user name": "Eve\x1b[2J\x1b]0;pwned\x07",
    "email": "eve@example.org\nFORGED LINE",
    "workspace name": "Acme\u009b31m",        # C1 CSI
    "key name": "laptop\x1b[31m\r",
}
# Nothing iamctl prints may hold these bytes; a newline only ends a line it wrote itself.
FORBIDDEN = [b"\x1b", b"\x07", b"\r", "\u009b".encode(), b"\nFORGED LINE"]


def run(*args, stdin=""):
    argv = [IAMCTL, *args, "--store", STORE]
    env = dict(os.environ)
    env.pop("IAM_BOOTSTRAP_MODE", None)
    done = subprocess.run(argv, input=stdin.encode(), capture_output=True, timeout=120, env=env)
    return done.returncode, done.stdout, done.stderr


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f" {detail!r}"))
    if not condition:
        failures.append(name)


def clean(out, err):
    return not any(bad in out or bad in err for bad in FORBIDDEN)


code, out, err = run("bootstrap")
check("bootstrap", code == 0, (code, out, err))
code, out, err = run("create-user", "--username", "eve", "--name", "Eve", "--email", "eve@example.org",
                     stdin="changeme1\n")
check("create-user", code == 0, (code, out, err))
eve = next(line.split()[1] for line in out.decode().splitlines() if line.startswith("id "))
code, out, err = run("create-api-key", "--user-id", eve, "--name", "laptop")
check("create-api-key", code == 0, (code, out, err))

# Through iamctl, the regime refuses every one of them, and the refusal does not echo it.
for field, option in (("user name", "--name"), ("email", "--email")):
    code, out, err = run("update-user", "--user-id", eve, option, HOSTILE[field])
    check(f"update-user refuses a {field} with control characters", code == 1 and b"invalid-argument" in err,
          (code, out, err))
    check(f"  and echoes none of it", clean(out, err), (out, err))
code, out, err = run("create-user", "--username", "mal\x1b[2Jlory", stdin="changeme1\n")
check("create-user refuses a username with ESC", code == 1 and b"invalid-argument" in err, (code, out, err))
check("  and echoes none of it", clean(out, err), (out, err))
code, out, err = run("update-workspace", "--id", "default", "--name", HOSTILE["workspace name"])
check("update-workspace refuses a C1 control", code == 1 and b"invalid-argument" in err, (code, out, err))

# What an older release may have stored: planted behind iamctl's back.
with sqlite3.connect(DB) as db:
    db.execute("UPDATE users SET name = ?, email = ? WHERE id = ?", (HOSTILE["user name"], HOSTILE["email"], eve))
    db.execute("UPDATE workspaces SET name = ? WHERE id = 'default'", (HOSTILE["workspace name"],))
    db.execute("UPDATE api_keys SET name = ? WHERE user_id = ?", (HOSTILE["key name"], eve))
    db.execute("INSERT INTO users (id, workspace_id, username, username_key, name, email, roles, enabled, "
               "must_change_password, created, password_hash) "
               "SELECT 'u-esc', workspace_id, ?, ?, '', '', roles, enabled, must_change_password, "
               "created, password_hash FROM users WHERE id = ?", ("mal\x1b[2Jlory", "mal\x1b[2jlory", eve))

views = [
    ("list-users",), ("list-users", "--json"),
    ("get-user", "--user-id", eve), ("get-user", "--user-id", eve, "--json"),
    ("get-user", "--user-id", "u-esc"),
    ("list-workspaces",), ("list-workspaces", "--json"),
    ("get-workspace", "--id", "default"), ("get-workspace", "--id", "default", "--json"),
    ("list-api-keys", "--user-id", eve), ("list-api-keys", "--user-id", eve, "--json"),
]
for view in views:
    code, out, err = run(*view)
    check(" ".join(view) + " succeeds", code == 0, (code, out, err))
    check(" ".join(view) + " prints no raw control character", clean(out, err), (out, err))

# The escaped forms are there, readable.
code, out, err = run("get-user", "--user-id", eve)
check("get-user shows the name escaped", b"Eve\\e[2J\\e]0;pwned\\x07" in out, out)
check("get-user shows the newline escaped", b"eve@example.org\\nFORGED LINE" in out, out)
code, out, err = run("list-workspaces")
check("list-workspaces shows the C1 control escaped", b"Acme\\u{009B}31m" in out, out)
code, out, err = run("list-users")
check("list-users: one line per user, plus the header", code == 0 and len(out.splitlines()) == 4, out)

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("all passed")
