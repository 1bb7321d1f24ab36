#!/usr/bin/python3
"""iamctl's remote mode against a real iam-gateway: the same subcommands, output and exit
codes as on a local store (0 ok, 1 refused, 2 usage, 3 internal/unreachable), the URL and
token from IAM_URL/IAM_TOKEN, --url/--token or TRUSTGRAPH_URL/TRUSTGRAPH_TOKEN, and no
token ever on stderr. Usage: iamctl_remote.py IAMCTL IAM_GATEWAY (run with /usr/bin/python3)"""
import json
import os
import socket
import subprocess
import sys

from gateway_process import Checks, Gateway

IAMCTL, GATEWAY = sys.argv[1], sys.argv[2]
CONTROLLED = ("IAM_URL", "IAM_TOKEN", "TRUSTGRAPH_URL", "TRUSTGRAPH_TOKEN", "IAM_BOOTSTRAP_MODE")
c = Checks()
tokens = []  # every credential iamctl was given: none may appear on its stderr


def run(*args, env=None, stdin=""):
    full_env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    full_env.update(env or {})
    done = subprocess.run([IAMCTL, *args], input=stdin, capture_output=True, text=True, timeout=120, env=full_env)
    for token in tokens:
        c.check(token not in done.stderr, f"iamctl {args[0]}: a token appeared on stderr")
    return done.returncode, done.stdout, done.stderr


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


with Gateway(GATEWAY, "--bootstrap-mode", "bootstrap") as gw:
    url = {"IAM_URL": gw.url}

    # bootstrap through the gateway's public auth routes
    code, out, err = run("bootstrap-status", env=url)
    c.check(code == 0 and "bootstrap_available" in out and "yes" in out, f"bootstrap-status before: {(code, out, err)}")
    code, out, err = run("bootstrap", env=url)
    admin_key = out.strip()
    tokens.append(admin_key)
    c.check(code == 0 and admin_key.startswith("tg_") and len(out.splitlines()) == 1 and "admin user id" in err,
            f"bootstrap prints only the admin key: {(code, out, err)}")
    code, out, err = run("bootstrap-status", env=url)
    c.check(code == 0 and "no" in out.split(), f"bootstrap-status after: {(code, out, err)}")
    code, out, err = run("bootstrap", env=url)
    c.check(code == 1 and out == "" and "refused: auth failure" in err, f"second bootstrap refused: {(code, out, err)}")

    admin = {"IAM_URL": gw.url, "IAM_TOKEN": admin_key}

    # users
    code, out, err = run("create-user", "--username", "alice", "--role", "writer", "--name", "Alice",
                         env=admin, stdin="changeme1\n")
    c.check(code == 0 and "alice" in out and "changeme1" not in out + err, f"create-user: {(code, out, err)}")
    alice = next((line.split()[1] for line in out.splitlines() if line.startswith("id ")), "")
    code, out, err = run("list-users", env=admin)
    lines = out.splitlines()
    c.check(code == 0 and lines and lines[0].startswith("ID") and "USERNAME" in lines[0]
            and any("alice" in l and alice in l for l in lines[1:]) and len(lines) == 3, f"list-users table: {out}")
    code, out, err = run("list-users", "--json", env=admin)
    c.check(code == 0 and {u["username"] for u in json.loads(out)["users"]} == {"admin", "alice"},
            f"list-users --json: {out}")

    # create-api-key: only the key on stdout
    code, out, err = run("create-api-key", "--user-id", alice, "--name", "laptop", env=admin)
    alice_key = out.strip()
    tokens.append(alice_key)
    c.check(code == 0 and alice_key.startswith("tg_") and len(alice_key) == 35 and len(out.splitlines()) == 1
            and alice_key[:7] in err, f"create-api-key prints only the key: {(code, out, err)}")

    # whoami with that key, three ways of naming the gateway and the token
    alice_env = {"IAM_URL": gw.url, "IAM_TOKEN": alice_key}
    code, out, err = run("whoami", env=alice_env)
    c.check(code == 0 and "alice" in out, f"whoami via IAM_URL/IAM_TOKEN: {(code, out, err)}")
    code, out, err = run("whoami", "--url", gw.url, "--token", alice_key)
    c.check(code == 0 and "alice" in out, f"whoami via --url/--token: {(code, out, err)}")
    code, out, err = run("whoami", env={"TRUSTGRAPH_URL": gw.url, "TRUSTGRAPH_TOKEN": alice_key})
    c.check(code == 0 and "alice" in out, f"whoami via TRUSTGRAPH_URL/TRUSTGRAPH_TOKEN: {(code, out, err)}")
    code, out, err = run("list-my-workspaces", env=alice_env)
    c.check(code == 0 and "default" in out and out.startswith("ID"), f"list-my-workspaces: {(code, out, err)}")

    # precedence: the flag over IAM_* over TRUSTGRAPH_*
    dead = f"http://127.0.0.1:{closed_port()}"
    code, out, err = run("whoami", "--url", gw.url, env={"IAM_URL": dead, "IAM_TOKEN": alice_key})
    c.check(code == 0 and "alice" in out, f"--url wins over IAM_URL: {(code, out, err)}")
    code, out, err = run("whoami", env={"IAM_URL": gw.url, "TRUSTGRAPH_URL": dead, "IAM_TOKEN": alice_key,
                                        "TRUSTGRAPH_TOKEN": admin_key})
    c.check(code == 0 and "alice" in out, f"IAM_URL/IAM_TOKEN win over TRUSTGRAPH_*: {(code, out, err)}")
    code, out, err = run("whoami", "--token", admin_key, env=alice_env)
    c.check(code == 0 and "admin" in out and "alice" not in out, f"--token wins over IAM_TOKEN: {(code, out, err)}")

    # API keys
    code, out, err = run("list-api-keys", "--user-id", alice, env=admin)
    c.check(code == 0 and "laptop" in out and alice_key not in out and alice_key[:7] in out,
            f"list-api-keys: {(code, out, err)}")
    key_id = next((l.split()[0] for l in out.splitlines()[1:]), "")

    # refusals exit 1 with the gateway's masked error on stderr
    code, out, err = run("create-user", "--username", "mallory", "--password", "changeme2", env=alice_env)
    c.check(code == 1 and out == "" and "access denied" in err, f"writer's create-user refused: {(code, out, err)}")
    code, out, err = run("list-users", env={"IAM_URL": gw.url, "IAM_TOKEN": "tg_not-a-real-key-aaaaaaaaaaaaaaaaaaa"})
    c.check(code == 1 and out == "" and "auth failure" in err and "tg_not-a-real" not in err,
            f"bad token exits 1: {(code, out, err)}")
    code, out, err = run("list-users", env=url)
    c.check(code == 1 and "auth failure" in err and "IAM_TOKEN" in err, f"no token exits 1 with a hint: {(code, out, err)}")
    code, out, err = run("get-user", "--user-id", "no-such-user", "--json", env=admin)
    c.check(code == 1 and json.loads(out).get("error", {}).get("type") == "not-found" and "not-found" in err,
            f"get-user of a missing id, --json: {(code, out, err)}")

    # login: the JWT alone on stdout; it works as a token
    code, out, err = run("login", "--username", "alice", env=url, stdin="changeme1\n")
    jwt = out.strip()
    tokens.append(jwt)
    c.check(code == 0 and jwt.count(".") == 2 and len(out.splitlines()) == 1 and "expires" in err,
            f"login prints only the JWT: {(code, out, err)}")
    code, out, err = run("whoami", env={"IAM_URL": gw.url, "IAM_TOKEN": jwt})
    c.check(code == 0 and "alice" in out, f"whoami with the JWT: {(code, out, err)}")
    code, out, err = run("login", "--username", "alice", env=url, stdin="wrong-password\n")
    c.check(code == 1 and out == "" and "auth failure" in err, f"bad login exits 1: {(code, out, err)}")

    # change-password on the caller, through /api/v1/auth/change-password
    code, out, err = run("change-password", env=alice_env, stdin="changeme1\nn3wer-pass\n")
    c.check(code == 0 and out == "" and "password changed" in err, f"change-password: {(code, out, err)}")
    code, out, err = run("login", "--username", "alice", "--password", "n3wer-pass", env=url)
    c.check(code == 0 and out.count(".") == 2, f"the new password logs in: {(code, out, err)}")
    code, out, err = run("login", "--username", "alice", "--password", "changeme1", env=url)
    c.check(code == 1, f"the old password no longer does: {(code, out, err)}")
    code, out, err = run("change-password", "--current-password", "wrong-one", "--new-password", "an0ther-pass",
                         env=alice_env)
    c.check(code == 1 and "auth failure" in err, f"change-password with a wrong current password: {(code, out, err)}")

    # more admin operations
    code, out, err = run("reset-password", "--user-id", alice, env=admin)
    c.check(code == 0 and len(out.strip()) == 16 and len(out.splitlines()) == 1, f"reset-password: {(code, out, err)}")
    code, out, err = run("create-workspace", "--id", "acme", "--name", "Acme Corp", env=admin)
    c.check(code == 0 and "Acme Corp" in out, f"create-workspace: {(code, out, err)}")
    code, out, err = run("list-workspaces", env=admin)
    c.check(code == 0 and "acme" in out and "default" in out, f"list-workspaces: {(code, out, err)}")
    code, out, err = run("jwks", env=url)
    c.check(code == 0 and len(json.loads(out)["keys"]) == 2, f"jwks (the active and the next key): {(code, out, err)}")
    code, out, err = run("rotate-signing-key", env=admin)
    c.check(code == 0, f"rotate-signing-key: {(code, out, err)}")
    code, out, err = run("jwks", env=url)
    c.check(code == 0 and len(json.loads(out)["keys"]) == 3, f"jwks after rotation (retired, active, next): {(code, out, err)}")

    # revoke the key; it stops working
    code, out, err = run("revoke-api-key", "--key-id", key_id, env=admin)
    c.check(code == 0 and "revoked" in err, f"revoke-api-key: {(code, out, err)}")
    code, out, err = run("whoami", env=alice_env)
    c.check(code == 1 and "auth failure" in err, f"revoked key refused: {(code, out, err)}")

    # usage errors (2) and an unreachable gateway (3)
    code, out, err = run("list-users", env={"IAM_URL": dead, "IAM_TOKEN": admin_key})
    c.check(code == 3 and out == "" and "cannot connect" in err, f"closed port exits 3: {(code, out, err)}")
    code, out, err = run("list-users", "--url", gw.url, "--store", "memory", env={"IAM_TOKEN": admin_key})
    c.check(code == 2 and "--store" in err, f"--store with --url exits 2: {(code, out, err)}")
    code, out, err = run("list-users", "--store", "memory", env=admin)
    c.check(code == 2 and "IAM_URL" in err, f"--store with IAM_URL exits 2: {(code, out, err)}")
    code, out, err = run("stdio", "--store", "memory", "--bootstrap-mode", "bootstrap", env=url)
    c.check(code == 2 and "local store only" in err, f"stdio with a URL exits 2: {(code, out, err)}")
    code, out, err = run("list-users", "--url", "https://127.0.0.1:8443", env={"IAM_TOKEN": admin_key})
    c.check(code == 2 and "https not supported" in err, f"https exits 2: {(code, out, err)}")
    code, out, err = run("list-users", "--url", "http://user:secret@127.0.0.1:1", env={"IAM_TOKEN": admin_key})
    c.check(code == 2 and "secret" not in err, f"credentials in the URL exit 2: {(code, out, err)}")
    code, out, err = run("whoami", "--help")
    c.check(code == 0 and "--url" in out and "IAM_TOKEN" in out and "ps" in out, f"--help: {(code, out[:300], err)}")

c.done()
