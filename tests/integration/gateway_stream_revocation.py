"""Flow import/export streams stop when their credential stops working (issue 14, items 11
and 13), driven against a real iam-gateway process:

  - a stream whose API key is revoked, or whose user is disabled, is closed (1008) at its
    next frame instead of forwarding it;
  - a stream opened with a JWT is closed after the user's password is changed, and the
    old JWT stays refused after disable-user / enable-user, while a JWT from a login right
    after the change works.

Usage: /usr/bin/python3 gateway_stream_revocation.py IAM_GATEWAY   (PYTHONPATH has
gateway_process.py; needs Debian's python3-websockets, 10.x asyncio client)."""
import asyncio
import json
import sys

import websockets
from websockets.exceptions import InvalidStatusCode

from gateway_process import Checks, Gateway

if len(sys.argv) != 2:
    raise SystemExit("usage: gateway_stream_revocation.py IAM_GATEWAY")

EXE = sys.argv[1]
c = Checks()
RECV_TIMEOUT = 15
POLICY_VIOLATION = 1008


def must(answer, what):
    status, parsed = answer
    if status != 200 or not isinstance(parsed, dict):
        raise SystemExit(f"setup {what} failed: {status} {parsed!r}")
    return parsed


async def open_stream(gw, path, label):
    ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}{path}", open_timeout=RECV_TIMEOUT, close_timeout=5)
    try:
        opened = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
    except Exception as exc:  # noqa: BLE001 - any failure here is a failed check
        c.check(False, f"{label}: no opening frame ({exc!r})")
        opened = {}
    c.equal(opened.get("echo-backend"), True, f"{label}: the backend's opening frame")
    return ws


async def echoed(ws, frame, label):
    """Sends a frame; True when the backend's echo of it comes back."""
    await ws.send(json.dumps(frame))
    try:
        reply = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
    except websockets.ConnectionClosed as closed:
        c.check(False, f"{label}: stream closed ({closed})")
        return False
    except asyncio.TimeoutError:
        c.check(False, f"{label}: no reply within {RECV_TIMEOUT}s")
        return False
    return reply.get("echo-backend") is True and reply.get("received") == frame


async def closed_instead(ws, frame, label):
    """Sends a frame; checks that the stream closes with 1008 and nothing is forwarded."""
    await ws.send(json.dumps(frame))
    try:
        text = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
        c.check(False, f"{label}: the frame was forwarded after the credential stopped working: {text!r}")
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if getattr(closed, "rcvd", None) else getattr(closed, "code", None)
        c.equal(code, POLICY_VIOLATION, f"{label}: closed with 1008")
    except asyncio.TimeoutError:
        c.check(False, f"{label}: neither a reply nor a close within {RECV_TIMEOUT}s")
    await ws.close()


async def upgrade_status(gw, path):
    try:
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}{path}", open_timeout=RECV_TIMEOUT, close_timeout=5)
    except InvalidStatusCode as refused:
        return refused.status_code
    await ws.close()
    return 101


def login(gw, username, password):
    status, body = gw.post("/api/v1/auth/login", {"username": username, "password": password})
    return json.loads(body)["jwt"] if status == 200 else None


async def main(gw, admin_key):
    def create_user(username):
        request = {"operation": "create-user",
                   "user": {"username": username, "password": f"{username}-password-1", "roles": ["writer"]}}
        return must(gw.iam(request, admin_key), f"create-user {username}")["user"]["id"]

    def create_key(user_id, name):
        made = must(gw.iam({"operation": "create-api-key", "key": {"user_id": user_id, "name": name}}, admin_key),
                    f"create-api-key {name}")
        return made["api_key_plaintext"], made["api_key"]["id"]

    frame = {"triples": [{"s": "a", "p": "b", "o": "c"}]}

    # 1. Revoking the stream's API key closes it at the next frame.
    wendy = create_user("wendy")
    doomed, doomed_id = create_key(wendy, "doomed")
    kept, _ = create_key(wendy, "kept")
    ws = await open_stream(gw, f"/api/v1/flow/f1/import/triples?token={doomed}", "revoke")
    c.check(await echoed(ws, frame, "revoke: before"), "revoke: a frame is forwarded before the revocation")
    other = await open_stream(gw, f"/api/v1/flow/f1/import/triples?token={kept}", "revoke, other key")
    must(gw.iam({"operation": "revoke-api-key", "key_id": doomed_id}, admin_key), "revoke-api-key")
    await closed_instead(ws, frame, "revoke: after")
    c.check(await echoed(other, frame, "revoke: other key"), "revoke: a stream on the user's other key goes on")
    await other.close()

    # 2. Disabling the stream's user closes an export stream opened with an API key.
    rita = create_user("rita")
    rita_key, _ = create_key(rita, "main")
    ws = await open_stream(gw, f"/api/v1/flow/f1/export/triples?token={rita_key}", "disable")
    c.check(await echoed(ws, frame, "disable: before"), "disable: a frame is forwarded before disable-user")
    must(gw.iam({"operation": "disable-user", "user_id": rita}, admin_key), "disable-user")
    await closed_instead(ws, frame, "disable: after")

    # 3. A JWT stream closes after change-password; a login right after the change works.
    ivy = create_user("ivy")
    old_jwt = login(gw, "ivy", "ivy-password-1")
    c.check(old_jwt is not None, "ivy logs in")
    ws = await open_stream(gw, f"/api/v1/flow/f1/import/triples?token={old_jwt}", "password")
    c.check(await echoed(ws, frame, "password: before"), "password: a frame is forwarded before change-password")
    status, answer = gw.post("/api/v1/auth/change-password",
                             {"current_password": "ivy-password-1", "new_password": "ivy-password-2"}, old_jwt)
    c.equal(status, 200, f"change-password ({answer!r})")
    await closed_instead(ws, frame, "password: after")
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/import/triples?token={old_jwt}"), 401,
            "password: the old JWT is refused at an upgrade")
    new_jwt = login(gw, "ivy", "ivy-password-2")
    c.check(new_jwt is not None, "ivy logs in with the new password right after the change")
    ws = await open_stream(gw, f"/api/v1/flow/f1/import/triples?token={new_jwt}", "password, new JWT")
    c.check(await echoed(ws, frame, "password: new JWT"), "password: the new JWT's stream works")

    # 4. disable-user closes it; after enable-user the old JWT stays refused.
    must(gw.iam({"operation": "disable-user", "user_id": ivy}, admin_key), "disable-user ivy")
    await closed_instead(ws, frame, "disable JWT: after")
    must(gw.iam({"operation": "enable-user", "user_id": ivy}, admin_key), "enable-user ivy")
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/import/triples?token={new_jwt}"), 401,
            "enable-user does not bring the JWT back")
    status, _ = gw.iam({"operation": "whoami"}, new_jwt)
    c.equal(status, 401, "enable-user does not bring the JWT back (HTTP)")
    newest = login(gw, "ivy", "ivy-password-2")
    c.check(newest is not None, "ivy logs in after enable-user")
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/import/triples?token={newest}"), 101,
            "a JWT from after enable-user opens a stream")


gw = Gateway(EXE, "--bootstrap-mode", "bootstrap")
gw.start()
try:
    status, body = gw.post("/api/v1/auth/bootstrap")
    assert status == 200, (status, body)
    admin_key = json.loads(body)["bootstrap_admin_api_key"]
    asyncio.run(main(gw, admin_key))
    c.check(any('"outcome":"closed"' in line for line in gw.log_lines), "closing a stream is access-logged")
finally:
    gw.stop()
c.done()
