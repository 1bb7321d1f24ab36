#!/usr/bin/python3
"""PostgreSQL restarted under load (issue 7): a gateway keeps serving a client loop that
authenticates and writes while the server goes away and comes back. Asserted: no request
that ran entirely inside the outage was allowed or acknowledged, the gateway did not
crash, service resumed by itself, and no acknowledged write was lost.

Run under tests/postgres/with_postgres.py:
    with_postgres.py -- /usr/bin/python3 gateway_postgres_restart.py IAM_GATEWAY"""
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
checks = Checks()


def control(action):
    subprocess.run(shlex.split(os.environ["IAM_PG_CONTROL"]) + [action], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


key_dir = tempfile.TemporaryDirectory(prefix="iam-pg-key-")  # a postgres store needs its key file named
os.environ["IAM_KEY_ENCRYPTION_KEY_FILE"] = os.path.join(key_dir.name, "iam.key")
# --auth-ttl 0: every request reaches the store, so the outage is visible to all of them.
gw = Gateway(EXE, "--bootstrap-mode", "bootstrap", "--auth-ttl", "0", store="postgres:dbname=postgres")
gw.start()
try:
    status, text = gw.post("/api/v1/auth/bootstrap")
    checks.equal(status, 200, "bootstrap")
    admin = json.loads(text)["bootstrap_admin_api_key"]

    samples = []  # (started, finished, kind, status, workspace id or None)
    samples_lock = threading.Lock()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            t0 = time.monotonic()
            status = gw.iam({"operation": "whoami"}, admin)[0]
            with samples_lock:
                samples.append((t0, time.monotonic(), "whoami", status, None))
            time.sleep(0.005)

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            ws = f"w{n}"
            t0 = time.monotonic()
            status = gw.iam({"operation": "create-workspace", "workspace_record": {"id": ws, "name": ws}}, admin)[0]
            with samples_lock:
                samples.append((t0, time.monotonic(), "write", status, ws))
            time.sleep(0.005)

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    time.sleep(2)
    control("stop")
    outage_began = time.monotonic()
    time.sleep(3)
    outage_ended = time.monotonic()
    control("start")
    restarted = time.monotonic()
    recovered = gw.wait_until(lambda: gw.iam({"operation": "whoami"}, admin)[0] == 200, timeout=30, interval=0.1)
    print(f"service resumed {time.monotonic() - restarted:.2f} s after the server restarted", flush=True)
    checks.check(recovered, "service resumed by itself after the restart")
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join()

    inside = [s for s in samples if s[0] >= outage_began and s[1] <= outage_ended]
    checks.check(len(inside) >= 10, f"requests ran during the outage ({len(inside)})")
    allowed = [s for s in inside if s[3] == 200]
    checks.equal(len(allowed), 0, "no request inside the outage was allowed or acknowledged")
    codes = sorted({s[3] for s in inside})
    print(f"{len(inside)} requests inside the outage answered {codes}", flush=True)
    checks.check(all(c in (401, 500, 503) for c in codes), f"outage answers are 401/500/503 only: {codes}")
    before = [s for s in samples if s[1] < outage_began and s[3] == 200]
    after = [s for s in samples if s[0] > restarted and s[3] == 200]
    checks.check(len(before) > 0 and len(after) > 0, "requests succeeded before and after the outage")
    checks.check(gw.proc.poll() is None, "the gateway is still running")

    acknowledged = {s[4] for s in samples if s[2] == "write" and s[3] == 200}
    status, body = gw.iam({"operation": "list-workspaces"}, admin)
    checks.equal(status, 200, "list-workspaces after the restart")
    stored = {w["id"] for w in body.get("workspaces", [])} if status == 200 else set()
    lost = acknowledged - stored
    print(f"{len(acknowledged)} acknowledged writes, {len(lost)} lost", flush=True)
    checks.check(len(acknowledged) > 0, "some writes were acknowledged")
    checks.equal(sorted(lost), [], "every acknowledged write is in the store")
finally:
    gw.stop()
checks.done()
