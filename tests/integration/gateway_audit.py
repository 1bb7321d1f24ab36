#!/usr/bin/python3
"""The audit trail of a running iam-gateway (--audit-log, issue 18): logins, API keys,
password changes, JWTs, denials and refusals are written in TrustGraph's AuditEvent
envelope with the request's id and client address; SIGHUP after a rename continues the
hash chain in a new file; `iamctl audit-verify` finds both files intact (the live one
while the gateway still writes it) and names the line of an edit; and the files hold no
password, API key plaintext, JWT or stored hash used in the test.
Usage: gateway_audit.py IAM-GATEWAY IAMCTL"""
import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys

import websockets

from gateway_process import Checks, Gateway

EXE, IAMCTL = sys.argv[1], sys.argv[2]
for name in ("IAM_BOOTSTRAP_MODE", "IAM_BOOTSTRAP_TOKEN"):
    os.environ.pop(name, None)
c = Checks()
secrets = set()  # every password, key plaintext, JWT and hash this test uses


def audit_verify(*files):
    done = subprocess.run([IAMCTL, "audit-verify", *files], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def records(path):
    with open(path) as f:
        lines = f.read().splitlines()
    return [json.loads(line) for line in lines[1:]]  # after the genesis record


async def socket_frames(gw, admin):
    """Over /api/v1/socket: authenticate, a whoami, and a login with a wrong password."""
    async with websockets.connect(f"ws://127.0.0.1:{gw.port}/api/v1/socket", open_timeout=15, close_timeout=5) as ws:
        async def ask(frame):
            await ws.send(json.dumps(frame))
            return json.loads(await asyncio.wait_for(ws.recv(), 30))

        c.equal((await ask({"type": "auth", "token": admin})).get("type"), "auth-ok", "socket auth")
        whoami = await ask({"id": "w1", "service": "iam", "request": {"operation": "whoami"}})
        c.check("error" not in whoami, f"socket whoami: {whoami}")
        secrets.add("Socket-wrong-3")
        refused = await ask({"id": "w2", "service": "iam",
                             "request": {"operation": "login", "username": "alice", "password": "Socket-wrong-3"}})
        c.check("error" in refused, f"socket login with a wrong password fails: {refused}")


def login(gw, username, password):
    secrets.add(password)
    status, text = gw.post("/api/v1/auth/login", {"username": username, "password": password})
    if status == 200:
        jwt = json.loads(text)["jwt"]
        secrets.update({jwt, jwt.split(".")[2]})
        return jwt
    return None


gw = Gateway(EXE, "--bootstrap-mode", "bootstrap", "--audit-fsync", "every-event")
LOG = os.path.join(gw.tmp.name, "audit.log")
ROTATED = LOG + ".1"
gw.args += ["--audit-log", LOG]
gw.start()
try:
    admin = c.bootstrap(gw)
    secrets.add(admin)
    body = c.iam_ok(gw, {"operation": "create-user", "user": {"username": "alice", "password": "Alice-pass-1",
                                                              "roles": ["writer"]}}, admin, "create-user alice")
    secrets.add("Alice-pass-1")
    alice_id = body.get("user", {}).get("id", "")
    body = c.iam_ok(gw, {"operation": "create-api-key", "key": {"user_id": alice_id, "name": "laptop"}}, admin,
                    "create-api-key")
    alice_key = body.get("api_key_plaintext", "")
    c.check(alice_key.startswith("tg_"), "an API key plaintext came back")
    secrets.add(alice_key)

    jwt = login(gw, "alice", "Alice-pass-1")
    c.check(jwt is not None, "alice logs in")
    c.check(login(gw, "alice", "Wrong-pass-9") is None, "a wrong password fails")
    c.equal(gw.iam({"operation": "whoami"}, jwt)[0], 200, "whoami with the JWT")
    c.equal(gw.iam({"operation": "list-users"}, alice_key)[0], 403, "a writer may not list users (a deny)")
    c.equal(gw.iam({"operation": "whoami"}, "tg_" + "x" * 32)[0], 401, "an unknown key fails")
    secrets.add("New-alice-pass-2")
    c.equal(gw.post("/api/v1/auth/change-password", {"current_password": "Alice-pass-1",
                                                     "new_password": "New-alice-pass-2"}, jwt)[0],
            200, "change-password")
    body = c.iam_ok(gw, {"operation": "reset-password", "user_id": alice_id}, admin, "reset-password")
    temporary = body.get("temporary_password", "")
    c.check(bool(temporary), "reset-password answers a temporary password")
    secrets.add(temporary)
    jwt2 = login(gw, "alice", temporary)
    c.check(jwt2 is not None, "login with the temporary password")

    asyncio.run(socket_frames(gw, admin))

    c.check(gw.wait_until(lambda: os.path.exists(LOG) and any(
        r["event_type"] == "gateway.request" and json.loads(r["payload_json"]).get("path") == "/api/v1/auth/login"
        for r in records(LOG))), "the events reach the file while the gateway runs")
    code, out = audit_verify(LOG)
    c.equal(code, 0, f"the live file verifies: {out.strip()}")
    c.check("chain intact" in out, f"audit-verify says chain intact: {out.strip()}")

    # ---- rotation: rename, SIGHUP, the next file continues the chain
    before = len(records(LOG))
    os.rename(LOG, ROTATED)
    gw.proc.send_signal(signal.SIGHUP)
    c.check(gw.wait_until(lambda: os.path.exists(LOG)), "SIGHUP reopens the audit log at its path")
    c.equal(gw.iam({"operation": "whoami"}, admin)[0], 200, "whoami after the rotation")
    c.check(gw.wait_until(lambda: any(r["event_type"] == "gateway.request" for r in records(LOG))),
            "events after the SIGHUP go to the new file")
    c.check(len(records(ROTATED)) >= before, "the rotated file kept its events")
finally:
    gw.stop()

with sqlite3.connect(f"file:{gw.tmp.name}/iam.db?mode=ro", uri=True) as db:
    for (stored,) in db.execute("SELECT password_hash FROM users"):
        secrets.add(stored)
        secrets.update(part for part in stored.split("$") if len(part) >= 16)
    for (stored,) in db.execute("SELECT key_hash FROM api_keys"):
        secrets.add(stored)
for secret in list(secrets):  # what a cache might key on
    secrets.add(hashlib.sha256(secret.encode()).hexdigest())

code, out = audit_verify(ROTATED, LOG)
c.equal(code, 0, f"both files verify, chained across: {out.strip()}")
c.equal(out.count("chain intact"), 2, "each file's chain intact")
with open(ROTATED) as f:
    last_chain = json.loads(f.read().splitlines()[-1])["chain"]
with open(LOG) as f:
    c.equal(json.loads(f.readline())["genesis"], last_chain, "the new file's genesis is the old file's last chain value")

events = records(ROTATED) + records(LOG)
text = open(ROTATED).read() + open(LOG).read()
for secret in sorted(secrets):
    c.check(secret not in text, f"no secret in the audit log ({len(secret)} characters, starting {secret[:4]!r})")

for r in events:
    c.equal(list(r), ["schema_version", "event_id", "event_type", "timestamp", "producer", "payload_json", "chain"],
            "the envelope's members")
    c.equal((r["schema_version"], r["producer"]), (1, "iam-gateway"), "schema_version and producer")
payloads = [(r["event_type"], json.loads(r["payload_json"])) for r in events]


def of(event_type, **fields):
    return [p for t, p in payloads if t == event_type and all(p.get(k) == v for k, v in fields.items())]


c.check(of("iam.authenticate", credential_type="login-password", outcome="success"), "a successful login")
c.check(of("iam.authenticate", credential_type="login-password", outcome="failure"), "a failed login")
c.check(of("iam.authenticate", credential_type="jwt", outcome="success"), "a JWT authenticated")
c.check(of("iam.authenticate", credential_type="api-key", outcome="failure"), "an unknown key")
c.check(of("iam.authorise", outcome="deny", capability="users:read") or of("iam.authorise", outcome="deny"),
        "the writer's list-users denied")
c.equal(of("iam.authorise", outcome="allow"), [], "allows are not written by default")
for operation in ("create-user", "create-api-key", "change-password", "reset-password", "bootstrap"):
    c.check(of("iam.management", operation=operation, outcome="success"), f"iam.management for {operation}")
for t, p in payloads:
    if t.startswith("iam.") and t != "iam.audit_dropped":
        c.check(p.get("request_id", "").isdigit() and p.get("client_ip") == "127.0.0.1",
                f"{t} carries the request id and client address: {p}")
logins = of("gateway.request", path="/api/v1/auth/login")
c.check(len(logins) >= 3, "gateway.request for each login")
for p in logins:
    c.check({"method", "path", "operation", "status", "latency_ms", "request_id", "client_ip"} <= set(p),
            f"gateway.request fields: {sorted(p)}")
c.check(of("gateway.request", path="/api/v1/iam", operation="list-users", status="403", principal=alice_id),
        "the denied request's status and principal")
c.check(of("gateway.request", path="/api/v1/iam", operation="create-user", status="200", workspace="default"),
        "a request's authorised workspace")
frames = of("gateway.request", method="WS", path="/api/v1/socket", operation="login")
c.equal(len(frames), 1, "gateway.request for the socket's login frame")
frame_ids = {p["request_id"] for p in frames}
c.check(any(p.get("request_id") in frame_ids and p.get("client_ip") == "127.0.0.1"
            for p in of("iam.authenticate", credential_type="login-password", outcome="failure")),
        "the socket login's iam.authenticate carries the frame's request id and client address")
c.check(of("gateway.request", method="WS", path="/api/v1/socket", operation="whoami", client_ip="127.0.0.1"),
        "gateway.request for the socket's whoami frame")
ids = [p["request_id"] for t, p in payloads if t == "gateway.request"]
c.equal(len(ids), len(set(ids)), "one gateway.request per request id")

# ---- tampering shows at its line
lines = open(ROTATED).read().splitlines(keepends=True)
tampered = os.path.join(gw.tmp.name, "tampered.log")
with open(tampered, "w") as f:
    f.write("".join(lines[:2] + [lines[2].replace("whoami", "whoamx")] + lines[3:]) if "whoami" in lines[2]
            else "".join(lines[:2] + [lines[2].replace('"iam-gateway"', '"iam-gatewax"')] + lines[3:]))
code, out = audit_verify(tampered)
c.equal(code, 1, "an edited file fails verification")
c.check(f"{tampered}:3:" in out, f"the edited line is named: {out.strip()}")
code, out = audit_verify("--genesis", "0" * 64, ROTATED)
c.equal(code, 1, "a first file that does not continue the given genesis fails")
c.check(f"{ROTATED}:1:" in out, f"at its genesis record: {out.strip()}")
code, out = audit_verify(os.path.join(gw.tmp.name, "no-such.log"))
c.equal(code, 2, f"an unreadable file is a usage error: {out.strip()}")


def refused_start(*args):
    done = subprocess.run([EXE, "--port", "0", "--store", "memory", "--bootstrap-mode", "bootstrap", *args],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr


code, err = refused_start("--audit-log", LOG, "--audit-fsync", "sometimes")
c.check(code == 2 and "--audit-fsync" in err, f"a bad --audit-fsync is a usage error: {code} {err.strip()}")
code, err = refused_start("--audit-log", os.path.join(gw.tmp.name, "missing-dir", "audit.log"))
c.check(code == 3 and "cannot open audit log" in err,
        f"an audit log that cannot be opened stops the start: {code} {err.strip()}")
cut = os.path.join(gw.tmp.name, "cut.log")
with open(cut, "w") as f:
    f.write(open(LOG).read()[:-5])
code, err = refused_start("--audit-log", cut)
c.check(code == 3 and "does not end with a chained record" in err,
        f"a log cut short is not silently restarted: {code} {err.strip()}")
c.done()
