#!/usr/bin/python3
"""The operator scenario of docs/scenario.md, minus its HTTP parts, as JSON lines through
`iamctl stdio`. Usage: scenario_stdio.py IAMCTL [--store SPEC] [--restart]

With --restart every step runs in a fresh iamctl process on the same store (for stores
that persist), proving nothing lives only in one process's memory."""
import base64
import json
import subprocess
import sys

import jwt  # Debian python3-jwt

IAMCTL = sys.argv[1]
STORE = "memory"
RESTART = "--restart" in sys.argv
if "--store" in sys.argv:
    STORE = sys.argv[sys.argv.index("--store") + 1]

failures = []

if STORE.startswith("sqlite:"):  # every run starts from a fresh deployment
    import os
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(STORE[len("sqlite:"):] + suffix)
        except FileNotFoundError:
            pass


class Iamctl:
    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [IAMCTL, "stdio", "--store", STORE, "--bootstrap-mode", "bootstrap"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self):
        if self.proc:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
            self.proc.stderr.read()
            self.proc = None

    def raw(self, line):
        if RESTART or self.proc is None:
            self.stop()
            self.start()
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise SystemExit(f"iamctl died: {self.proc.stderr.read()}")
        return json.loads(out)

    def __call__(self, request):
        return self.raw(json.dumps(request))


def check(name, condition, detail=""):
    if condition:
        print(f"ok   {name}")
    else:
        print(f"FAIL {name} {detail}")
        failures.append(name)


def error_type(response):
    return response.get("error", {}).get("type") if set(response) == {"error"} else None


iam = Iamctl()

# Fresh deployment in bootstrap mode
check("bootstrap-status before", iam({"operation": "bootstrap-status"}) == {"bootstrap_available": True})
boot = iam({"operation": "bootstrap"})
check("bootstrap returns admin id and key", set(boot) == {"bootstrap_admin_user_id", "bootstrap_admin_api_key"}
      and boot["bootstrap_admin_api_key"].startswith("tg_") and len(boot["bootstrap_admin_api_key"]) == 35, boot)
admin = boot["bootstrap_admin_user_id"]
again = iam({"operation": "bootstrap"})
check("second bootstrap refused, masked", again == {"error": {"type": "auth-failed", "message": "auth failure"}}, again)
check("bootstrap-status after", iam({"operation": "bootstrap-status"}) == {"bootstrap_available": False})
admin_key = iam({"operation": "resolve-api-key", "api_key": boot["bootstrap_admin_api_key"]})
check("admin key resolves", admin_key.get("resolved_user_id") == admin and admin_key.get("resolved_roles") == ["admin"]
      and admin_key.get("resolved_workspace") == "default" and admin_key.get("resolved_default_workspace") == "default",
      admin_key)

# 1. Admin creates a writer alice
created = iam({"operation": "create-user", "actor": admin, "workspace": "default",
               "user": {"username": "alice", "name": "Alice", "email": "alice@example.com",
                        "password": "changeme1", "roles": ["writer"]}})
user = created.get("user", {})
check("create-user alice", user.get("username") == "alice" and user.get("workspace") == "default"
      and user.get("default_workspace") == "default" and user.get("roles") == ["writer"]
      and user.get("enabled") is True and "changeme1" not in json.dumps(created), created)
alice = user.get("id")
dup = iam({"operation": "create-user", "actor": admin, "workspace": "default",
           "user": {"username": "ALICE", "password": "changeme1"}})
check("duplicate username refused without regard to case", error_type(dup) == "duplicate", dup)
weak = iam({"operation": "create-user", "workspace": "default", "user": {"username": "carol", "password": "short"}})
check("weak password refused", error_type(weak) == "weak-password", weak)

# 2. An API key for alice: plaintext once, prefix tg_xxxx
made = iam({"operation": "create-api-key", "actor": admin, "key": {"user_id": alice, "name": "alice-laptop"}})
alice_key = made.get("api_key_plaintext", "")
record = made.get("api_key", {})
check("create-api-key", alice_key.startswith("tg_") and record.get("prefix") == alice_key[:7]
      and record.get("name") == "alice-laptop" and record.get("user_id") == alice, made)
key_id = record.get("id")

# 3. Alice's key resolves to alice in workspace default; whoami as alice
resolved = iam({"operation": "resolve-api-key", "api_key": alice_key})
check("alice's key resolves", resolved.get("resolved_user_id") == alice
      and resolved.get("resolved_workspace") == "default", resolved)
me = iam({"operation": "whoami", "actor": alice})
check("whoami as alice", me.get("user", {}).get("id") == alice, me)

# 4. Alice (a writer) may not manage users
denied = iam({"operation": "authorise", "user_id": alice, "capability": "users:read",
              "resource_json": "{}", "parameters_json": json.dumps({"workspace": "default"})})
check("writer lacks users:read", denied == {"decision_allow": False, "decision_ttl_seconds": 60}, denied)
listed = iam({"operation": "list-users", "actor": alice})
check("list-users as alice refused", error_type(listed) == "operation-not-permitted", listed)

# 5. Admin lists alice's keys, then revokes the key
keys = iam({"operation": "list-api-keys", "actor": admin, "user_id": alice})
check("list-api-keys", [k.get("name") for k in keys.get("api_keys", [])] == ["alice-laptop"]
      and alice_key not in json.dumps(keys), keys)
check("revoke-api-key", iam({"operation": "revoke-api-key", "actor": admin, "key_id": key_id}) == {})
# 6. The revoked key no longer authenticates
gone = iam({"operation": "resolve-api-key", "api_key": alice_key})
check("revoked key refused", error_type(gone) == "auth-failed", gone)
check("revoked key not listed", iam({"operation": "list-api-keys", "user_id": alice}) == {"api_keys": []})

# Login and JWTs
login = iam({"operation": "login", "username": "alice", "password": "changeme1"})
token = login.get("jwt", "")
check("login", token.count(".") == 2 and login.get("jwt_expires", "").endswith("Z"), login)
bad = iam({"operation": "login", "username": "alice", "password": "nope-nope"})
nobody = iam({"operation": "login", "username": "nobody", "password": "whatever1"})
check("wrong password and unknown user look the same", error_type(bad) == "auth-failed" and bad == nobody,
      (bad, nobody))
pem = iam({"operation": "get-signing-key-public"}).get("signing_key_public", "")
check("get-signing-key-public", pem.startswith("-----BEGIN PUBLIC KEY-----\n"), pem)
claims = jwt.decode(token, pem, algorithms=["EdDSA"], issuer="trustgraph-iam")
check("JWT verifies with PyJWT", claims["sub"] == alice and claims["workspace"] == "default"
      and claims["default_workspace"] == "default", claims)
first_kid = jwt.get_unverified_header(token)["kid"]

# Self-service password change
changed = iam({"operation": "change-password", "actor": alice, "password": "changeme1", "new_password": "n3wer-pass"})
check("change-password", changed == {}, changed)
check("login with new password", "jwt" in iam({"operation": "login", "username": "alice", "password": "n3wer-pass"}))
check("login with old password fails",
      error_type(iam({"operation": "login", "username": "alice", "password": "changeme1"})) == "auth-failed")
other = iam({"operation": "change-password", "actor": alice, "user_id": admin, "password": "x", "new_password": "y"})
check("change-password for someone else refused", error_type(other) == "operation-not-permitted", other)

# Admin resets alice's password; the temporary one logs in; must_change_password is set
reset = iam({"operation": "reset-password", "actor": admin, "user_id": alice})
temporary = reset.get("temporary_password", "")
check("reset-password", len(temporary) == 16, reset)
check("temporary password logs in", "jwt" in iam({"operation": "login", "username": "alice", "password": temporary}))
record = iam({"operation": "get-user", "actor": admin, "user_id": alice}).get("user", {})
check("must_change_password set", record.get("must_change_password") is True, record)

# Workspaces
acme = {"operation": "create-workspace", "actor": admin,
        "workspace_record": {"id": "acme", "name": "Acme Corp", "enabled": True}}
first = iam(acme)
check("create-workspace", first.get("workspace", {}).get("id") == "acme"
      and first["workspace"].get("name") == "Acme Corp", first)
check("create-workspace is idempotent", iam(acme) == first)
reserved = iam({"operation": "create-workspace", "actor": admin, "workspace_record": {"id": "_acme"}})
check("reserved workspace id refused", error_type(reserved) == "invalid-argument", reserved)
bob = iam({"operation": "create-user", "actor": admin, "workspace": "acme",
           "user": {"username": "bob", "password": "bobs-secret1", "roles": ["writer"]}}).get("user", {})
bob_key = iam({"operation": "create-api-key", "key": {"user_id": bob.get("id"), "name": "bob"}}).get("api_key_plaintext")


def may(user_id, capability, workspace):
    answer = iam({"operation": "authorise", "user_id": user_id, "capability": capability,
                  "resource_json": json.dumps({"workspace": workspace}), "parameters_json": "{}"})
    return answer.get("decision_allow")


check("acme writer may write acme", may(bob.get("id"), "graph:write", "acme") is True)
check("acme writer may not touch default", may(bob.get("id"), "graph:write", "default") is False)
check("admin may touch default and acme", may(admin, "graph:write", "default") and may(admin, "graph:write", "acme"))
many = iam({"operation": "authorise-many", "user_id": bob.get("id"), "authorise_checks": json.dumps([
    {"capability": "graph:read", "resource": {"workspace": "acme"}, "parameters": {}},
    {"capability": "graph:read", "resource": {"workspace": "default"}, "parameters": {}},
    {"capability": 7}])})
check("authorise-many in order, malformed entry denies",
      [d["allow"] for d in json.loads(many.get("decisions_json", "[]"))] == [True, False, False], many)
check("disable-workspace", iam({"operation": "disable-workspace", "actor": admin,
                                "workspace_record": {"id": "acme"}}) == {})
check("acme's keys locked out", error_type(iam({"operation": "resolve-api-key", "api_key": bob_key})) == "auth-failed")
check("acme's users disabled",
      iam({"operation": "get-user", "user_id": bob.get("id")}).get("user", {}).get("enabled") is False)

# Key rotation: new logins use a new kid
check("rotate-signing-key", iam({"operation": "rotate-signing-key", "actor": admin}) == {})
fresh = iam({"operation": "login", "username": "alice", "password": temporary}).get("jwt", "")
check("new logins carry the new kid", fresh and jwt.get_unverified_header(fresh)["kid"] != first_kid)

# Disable alice: her keys are revoked, she cannot log in
iam({"operation": "create-api-key", "key": {"user_id": alice, "name": "second"}})
check("disable-user", iam({"operation": "disable-user", "actor": admin, "user_id": alice}) == {})
check("disabled user's keys revoked", iam({"operation": "list-api-keys", "user_id": alice}) == {"api_keys": []})
check("disabled user cannot log in",
      error_type(iam({"operation": "login", "username": "alice", "password": temporary})) == "auth-failed")

# The protocol's own errors
check("bad JSON line answers invalid-argument", error_type(iam.raw("{not json")) == "invalid-argument")
check("unknown operation", error_type(iam({"operation": "make-coffee"})) == "invalid-argument")
check("loop continues after errors", iam({"operation": "bootstrap-status"}) == {"bootstrap_available": False})

iam.stop()
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
