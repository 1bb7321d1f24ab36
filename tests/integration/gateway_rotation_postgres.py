#!/usr/bin/python3
"""Scheduled signing key rotation with two iam-gateway processes on one PostgreSQL store
(issue 18): both run --key-rotation-interval 4s; the store lets exactly one of them rotate
per interval (each rotation is logged by one process, and the activation times in the
store are an interval or more apart), and after a rotation both sign with the new key and
accept each other's tokens. Also: a malformed interval is refused at start.

Run under tests/postgres/with_postgres.py (which starts the server and sets PG*):
    with_postgres.py -- /usr/bin/python3 gateway_rotation_postgres.py IAM_GATEWAY"""
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
INTERVAL = 4
OBSERVE = 15  # seconds: three rotations or so
checks = Checks()


def kid_of(jwt):
    header = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("kid")


def psql(query):
    """Rows of `query` on the test server, as lists of strings."""
    exe = os.path.join(os.environ.get("IAM_PG_BINDIR", ""), "psql")
    out = subprocess.run([exe if os.path.exists(exe) else "psql", "-At", "-F", "|", "-c", query],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def rotations_logged(gw):
    return [json.loads(line)["kid"] for line in gw.log_lines if '"event":"signing_key_rotated"' in line]


def login(gw):
    status, text = gw.post("/api/v1/auth/login", {"username": "alice", "password": "alice-password-1"})
    checks.equal(status, 200, f"login on :{gw.port}")
    return json.loads(text).get("jwt", "") if status == 200 else ""


def jwks_kids(gw):
    status, text = gw.request("GET", "/api/v1/auth/jwks")
    return sorted(k.get("kid") for k in json.loads(text).get("keys", [])) if status == 200 else []


# ---- a malformed interval is a start-up error (exit 2, saying what is wrong)
for bad in ("4", "0d", "1.5h", "30x", "-1d", " 4s"):
    refused = subprocess.run([EXE, "--port", "0", "--store", "memory", "--regime", "noauth",
                              "--key-rotation-interval", bad], capture_output=True, text=True, timeout=60)
    checks.check(refused.returncode == 2 and "--key-rotation-interval" in refused.stderr,
                 f"--key-rotation-interval {bad!r} refused ({refused.returncode}: {refused.stderr.strip()})")

refused = subprocess.run([EXE, "--port", "0", "--store", "memory", "--regime", "noauth",
                          "--key-rotation-interval", "4s"], capture_output=True, text=True, timeout=60)
checks.check(refused.returncode == 2 and "roles regime" in refused.stderr,
             f"--key-rotation-interval without the roles regime refused ({refused.returncode}: {refused.stderr.strip()})")

key_dir = tempfile.TemporaryDirectory(prefix="iam-pg-key-")
os.environ["IAM_KEY_ENCRYPTION_KEY_FILE"] = os.path.join(key_dir.name, "iam.key")
flags = ("--bootstrap-mode", "bootstrap", "--key-grace", "600", "--key-rotation-interval", f"{INTERVAL}s")
a = Gateway(EXE, *flags, store=STORE)
a.start()  # first: creates the key file the other reads
b = Gateway(EXE, *flags, store=STORE)
b.start()
try:
    admin = checks.bootstrap(a, "bootstrap through A")
    checks.iam_ok(a, {"operation": "create-user", "user": {"username": "alice", "password": "alice-password-1",
                                                            "roles": ["reader"]}}, admin, "create-user alice")
    first = psql("SELECT kid FROM iam_signing_keys WHERE retired IS NULL AND activated IS NOT NULL")
    checks.equal(len(first), 1, "one current key after bootstrap")
    checks.equal(len(psql("SELECT kid FROM iam_signing_keys WHERE retired IS NULL AND activated IS NULL")), 1,
                 "and one next key, published before it signs")

    time.sleep(OBSERVE)

    # ---- exactly one rotation per interval
    rows = psql("SELECT kid, activated, coalesce(retired::text, '') FROM iam_signing_keys "
                "WHERE activated IS NOT NULL ORDER BY activated, seq")
    activations = [int(r[1]) for r in rows]
    promoted = [r[0] for r in rows[1:]]
    # A process logs its rotation just after committing it: wait for the lines to arrive.
    deadline = time.monotonic() + 3
    while not set(promoted) <= set(rotations_logged(a) + rotations_logged(b)) and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = rotations_logged(a) + rotations_logged(b)
    print(f"rotations logged: A {len(rotations_logged(a))}, B {len(rotations_logged(b))}", flush=True)
    checks.check(len(promoted) >= 2, f"the keys rotated on schedule within {OBSERVE} s: {len(promoted)} rotations")
    checks.equal([kid for kid in promoted if logged.count(kid) != 1], [],
                 "every rotation in the store was made (and logged) by exactly one process")
    checks.equal(len(set(logged)), len(logged), "no rotation was logged twice")
    stored = {r[0] for r in psql("SELECT kid FROM iam_signing_keys")}
    checks.equal([kid for kid in logged if kid not in stored], [], "every logged rotation is in the store")
    gaps = [later - earlier for earlier, later in zip(activations, activations[1:])]
    checks.check(all(gap >= INTERVAL for gap in gaps), f"activations at least {INTERVAL} s apart: gaps {gaps}")
    checks.equal(len([r for r in rows if r[2] == ""]), 1, "one current key")
    checks.equal(len(psql("SELECT kid FROM iam_signing_keys WHERE retired IS NULL AND activated IS NULL")), 1,
                 "one next key")

    # ---- right after a rotation, both processes sign with the new key and accept each other's tokens
    before = len(rotations_logged(a) + rotations_logged(b))
    deadline = time.monotonic() + INTERVAL * 3
    while len(rotations_logged(a) + rotations_logged(b)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    current = psql("SELECT kid FROM iam_signing_keys WHERE retired IS NULL AND activated IS NOT NULL")
    current = current[0][0] if current else None
    next_row = psql("SELECT kid FROM iam_signing_keys WHERE retired IS NULL AND activated IS NULL")
    following = next_row[0][0] if next_row else None
    from_a, from_b = login(a), login(b)
    checks.equal(kid_of(from_a), current, "A signs with the new key")
    checks.equal(kid_of(from_b), current, "B signs with the new key (it learnt of A's or its own rotation)")
    checks.equal(b.iam({"operation": "whoami"}, from_a)[0], 200, "B accepts A's new token")
    checks.equal(a.iam({"operation": "whoami"}, from_b)[0], 200, "A accepts B's new token")
    for gw in (a, b):
        kids = jwks_kids(gw)
        checks.check(current in kids and following in kids,
                     f"the JWKS of :{gw.port} has the current key and the next one: {kids}")
finally:
    a.stop()
    b.stop()
checks.done()
