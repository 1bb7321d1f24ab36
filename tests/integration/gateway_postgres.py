#!/usr/bin/python3
"""Three iam-gateway processes on one PostgreSQL store (issue 7): a change made through
one reaches the other two through NOTIFY, well inside their 60 s cache TTL.

Run under tests/postgres/with_postgres.py (which starts the server and sets PG*):
    with_postgres.py -- /usr/bin/python3 gateway_postgres.py IAM_GATEWAY"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
STORE = "postgres:dbname=postgres"  # host, port, user and passfile come from PG*
TTL = "60"  # so that only a notification can explain a refusal within a second
LIMIT = 1.0
checks = Checks()


def whoami(gw, token):
    return gw.iam({"operation": "whoami"}, token)[0]


def seconds_until_refused(gw, token, timeout=10.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if whoami(gw, token) == 401:
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def kid_of(jwt):
    header = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def login(gw, username, password):
    status, text = gw.post("/api/v1/auth/login", {"username": username, "password": password})
    checks.equal(status, 200, f"login {username} on :{gw.port}")
    return json.loads(text).get("jwt", "") if status == 200 else ""


# A postgres store has no "beside": without a named key file the gateway refuses to start.
os.environ.pop("IAM_KEY_ENCRYPTION_KEY_FILE", None)
refused = subprocess.run([EXE, "--port", "0", "--store", STORE, "--bootstrap-mode", "bootstrap"],
                         capture_output=True, text=True, timeout=60)
checks.check(refused.returncode == 2 and "--key-file" in refused.stderr,
             f"no key file named for postgres: refused ({refused.returncode}: {refused.stderr.strip()})")
# One key file for the three processes: the first creates it, the others read it.
key_dir = tempfile.TemporaryDirectory(prefix="iam-pg-key-")
os.environ["IAM_KEY_ENCRYPTION_KEY_FILE"] = os.path.join(key_dir.name, "iam.key")

gateways = [Gateway(EXE, "--bootstrap-mode", "bootstrap", "--auth-ttl", TTL, "--key-grace", "600", store=STORE)
            for _ in range(3)]
for gw in gateways:
    gw.start()
try:
    a, b, c = gateways
    status, text = a.post("/api/v1/auth/bootstrap")
    checks.equal(status, 200, "bootstrap through the first gateway")
    admin = json.loads(text)["bootstrap_admin_api_key"]
    for gw in (b, c):
        checks.equal(gw.post("/api/v1/auth/bootstrap")[0], 401, f"bootstrap refused on :{gw.port} (shared store)")

    def new_user(name, role="writer"):
        status, body = a.iam({"operation": "create-user",
                              "user": {"username": name, "password": f"{name}-password-1", "roles": [role]}}, admin)
        checks.equal(status, 200, f"create-user {name}")
        uid = body["user"]["id"]
        status, body = a.iam({"operation": "create-api-key", "key": {"user_id": uid, "name": "laptop"}}, admin)
        checks.equal(status, 200, f"create-api-key for {name}")
        return uid, body["api_key_plaintext"], body["api_key"]["id"]

    # 1. A key revoked through one gateway is refused by the other two within a second.
    _, alice_key, alice_key_id = new_user("alice")
    for gw in gateways:
        checks.equal(whoami(gw, alice_key), 200, f"alice's key works on :{gw.port} (and is now cached)")
    checks.equal(a.iam({"operation": "revoke-api-key", "key_id": alice_key_id}, admin)[0], 200, "revoke through A")
    checks.equal(whoami(a, alice_key), 401, "revoked key refused at once on A")
    for gw in (b, c):
        took = seconds_until_refused(gw, alice_key)
        print(f"revoked key refused on :{gw.port} after {took if took is None else round(took, 3)} s (TTL {TTL} s)",
              flush=True)
        checks.check(took is not None and took <= LIMIT, f"revocation reached :{gw.port} within {LIMIT} s: {took}")

    # 2. A user disabled through one gateway is locked out on all, key and JWT alike.
    bob_id, bob_key, _ = new_user("bob")
    bob_jwt = login(c, "bob", "bob-password-1")
    for gw in gateways:
        checks.equal(whoami(gw, bob_key), 200, f"bob's key works on :{gw.port}")
        checks.equal(whoami(gw, bob_jwt), 200, f"bob's JWT works on :{gw.port}")
    checks.equal(b.iam({"operation": "disable-user", "user_id": bob_id}, admin)[0], 200, "disable bob through B")
    for gw in (a, c):
        for what, token in (("key", bob_key), ("JWT", bob_jwt)):
            took = seconds_until_refused(gw, token)
            print(f"disabled user's {what} refused on :{gw.port} after {took if took is None else round(took, 3)} s",
                  flush=True)
            checks.check(took is not None and took <= LIMIT, f"disable reached :{gw.port} ({what}) in {LIMIT} s: {took}")
    # ... and enable-user does not bring the JWT back (issue 14 item 11).
    checks.equal(b.iam({"operation": "enable-user", "user_id": bob_id}, admin)[0], 200, "enable bob through B")
    for gw in gateways:
        checks.equal(whoami(gw, bob_jwt), 401, f"bob's JWT from before the disable stays refused on :{gw.port}")

    # 2b. A password changed through one gateway ends the user's JWTs on all within a second;
    #     a login right after the change works everywhere.
    dan_id, _, _ = new_user("dan")
    dan_jwt = login(a, "dan", "dan-password-1")
    for gw in gateways:
        checks.equal(whoami(gw, dan_jwt), 200, f"dan's JWT works on :{gw.port} (and is now cached)")
    status, _ = b.post("/api/v1/auth/change-password",
                       {"current_password": "dan-password-1", "new_password": "dan-password-2"}, dan_jwt)
    checks.equal(status, 200, "dan changes his password through B")
    dan_new_jwt = login(b, "dan", "dan-password-2")
    for gw in (a, c):
        took = seconds_until_refused(gw, dan_jwt)
        print(f"JWT from before change-password refused on :{gw.port} after "
              f"{took if took is None else round(took, 3)} s", flush=True)
        checks.check(took is not None and took <= LIMIT, f"change-password reached :{gw.port} in {LIMIT} s: {took}")
    for gw in gateways:
        checks.equal(whoami(gw, dan_new_jwt), 200, f"the JWT from right after the change works on :{gw.port}")

    # 3. Rotation: tokens from before verify everywhere through the grace period; new logins
    #    on every instance carry the new kid.
    new_user("carol")
    old_jwts = [login(gw, "carol", "carol-password-1") for gw in gateways]
    old_kid = kid_of(old_jwts[0])
    checks.equal(c.iam({"operation": "rotate-signing-key"}, admin)[0], 200, "rotate through C")
    time.sleep(LIMIT)
    for gw in gateways:
        for i, token in enumerate(old_jwts):
            checks.equal(whoami(gw, token), 200, f"pre-rotation JWT from gateway {i} still works on :{gw.port}")
    new_kids = {kid_of(login(gw, "carol", "carol-password-1")) for gw in gateways}
    checks.equal(len(new_kids), 1, f"every instance signs with one new kid {new_kids}")
    checks.check(old_kid not in new_kids, "the new kid differs from the old")
finally:
    for gw in gateways:
        gw.stop()
    for gw in gateways:
        for line in gw.log_lines:
            if "alice" in line and "password" in line:
                checks.check(False, "a password-looking value reached a log line")
checks.done()
