"""The gateway's per-address login throttle, driven as a real process (issue 14, items 4
and 5): logins over /api/v1/socket count against the client address and are refused by it
like HTTP logins, and a successful login never clears the address's failures. The failed
logins use names that do not exist, so only the address throttle (not the per-username
one) can refuse the right password afterwards.

Usage: /usr/bin/python3 gateway_throttle.py IAM_GATEWAY   (PYTHONPATH has gateway_process.py;
needs Debian's python3-websockets)."""
import asyncio
import json
import sys

import websockets

from gateway_process import Checks, Gateway

if len(sys.argv) != 2:
    raise SystemExit("usage: gateway_throttle.py IAM_GATEWAY")

EXE = sys.argv[1]
FREE_FAILURES = 2  # the address locks (1 s, doubling) at the third failure
AUTH_FAILURE = '{"error":"auth failure"}'
c = Checks()


def setup(gw):
    """Bootstraps; creates wendy and mallory (the attacker's own account). The admin key."""
    status, body = gw.post("/api/v1/auth/bootstrap")
    if status != 200:
        raise SystemExit(f"bootstrap failed: {status} {body}")
    admin = json.loads(body)["bootstrap_admin_api_key"]
    for name in ("wendy", "mallory"):
        status, body = gw.iam({"operation": "create-user",
                               "user": {"username": name, "password": f"{name}-password-1", "roles": ["reader"]}},
                              admin)
        if status != 200:
            raise SystemExit(f"create-user {name} failed: {status} {body}")
    return admin


def http_login(gw, username, password):
    return gw.post("/api/v1/auth/login", {"username": username, "password": password})


def login_frame(frame_id, username, password):
    return {"id": frame_id, "service": "iam",
            "request": {"operation": "login", "username": username, "password": password}}


def auth_failed(frame_id):
    return {"id": frame_id, "error": {"message": "auth failure", "type": "auth-failed"}, "complete": True}


async def socket_logins(gw, admin):
    async with websockets.connect(f"ws://127.0.0.1:{gw.port}/api/v1/socket", open_timeout=15, close_timeout=5) as ws:
        async def ask(frame):
            await ws.send(json.dumps(frame))
            return json.loads(await asyncio.wait_for(ws.recv(), 30))

        c.equal(await ask({"type": "auth", "token": admin}), {"type": "auth-ok", "workspace": "default",
                                                               "default_workspace": "default"}, "socket auth")
        for i in range(FREE_FAILURES + 1):
            c.equal(await ask(login_frame(f"w{i}", f"ghost-{i}", "wrong-password")), auth_failed(f"w{i}"),
                    f"socket login failure {i + 1}")
        # The address is locked now: the right password is refused, masked, on both surfaces.
        c.equal(await ask(login_frame("r1", "wendy", "wendy-password-1")), auth_failed("r1"),
                "after the address's free failures over the socket, the right password over the socket is refused")
        c.equal(http_login(gw, "wendy", "wendy-password-1"), (401, AUTH_FAILURE),
                "socket failures lock the address for HTTP logins too")


# Item 4: socket logins are throttled per address.
with Gateway(EXE, "--bootstrap-mode", "bootstrap", "--address-free-failures", str(FREE_FAILURES)) as gw:
    admin = setup(gw)
    asyncio.run(socket_logins(gw, admin))
    # The log is read by another thread: wait for the line rather than read it at once.
    def throttled_logged():
        lines = [json.loads(line) for line in list(gw.log_lines) if line.startswith("{")]
        return any(line.get("reason") == "throttled (client address)" for line in lines)
    c.check(gw.wait_until(throttled_logged, timeout=10.0), "the HTTP refusal is logged as the address throttle's")

# Item 5: a success from the address (the attacker's own account) does not refund guesses.
with Gateway(EXE, "--bootstrap-mode", "bootstrap", "--address-free-failures", str(FREE_FAILURES)) as gw:
    setup(gw)
    for i in range(FREE_FAILURES + 1):
        c.equal(http_login(gw, "ghost", f"guess-{i}"), (401, AUTH_FAILURE), f"guess {i + 1}")
        if i < FREE_FAILURES:
            c.equal(http_login(gw, "mallory", "mallory-password-1")[0], 200, f"own login after guess {i + 1}")
    c.equal(http_login(gw, "wendy", "wendy-password-1"), (401, AUTH_FAILURE),
            "interleaved successes did not reset the address: the right password is refused")

c.done()
