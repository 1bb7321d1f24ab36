"""Issue 14, items 1 and 2, against a real iam-gateway process: JSON nested 100 000 deep
used to kill the process (stack exhaustion copying or serialising the parsed tree) with
one unauthenticated request or WebSocket frame. Now every such text is refused while it
is parsed: 400 {"error":"invalid json"} over HTTP, a bad message over the socket, and the
gateway keeps serving.

Usage: /usr/bin/python3 gateway_deep_json.py IAM_GATEWAY   (PYTHONPATH has gateway_process.py;
needs Debian's python3-websockets)."""
import asyncio
import json
import sys

import websockets

from gateway_process import Checks, Gateway

if len(sys.argv) != 2:
    raise SystemExit("usage: gateway_deep_json.py IAM_GATEWAY")

EXE = sys.argv[1]
c = Checks()
RECV_TIMEOUT = 15
DEPTH = 100_000
DEEP = "[" * DEPTH + "]" * DEPTH  # 200 kB: under every body limit, so only depth decides
INVALID_JSON = (400, '{"error":"invalid json"}')
BAD_MESSAGE = {"error": {"message": "bad message", "type": "error"}, "complete": True}


def post(gw, path, raw, token=None):
    """(status, body), or (None, the exception) when the connection broke (a crash)."""
    try:
        return gw.request("POST", path, token=token, raw=raw.encode(), headers={"Content-Type": "application/json"})
    except Exception as exc:  # connection reset: the process died mid-request
        return None, repr(exc)


def alive(gw, what):
    """The process is still running and still answers an ordinary request."""
    c.check(gw.proc.poll() is None, f"{what}: iam-gateway is still running (exit {gw.proc.poll()})")
    if gw.proc.poll() is None:
        status, _ = post(gw, "/api/v1/auth/login", json.dumps({"username": "admin", "password": "wrong"}))
        c.equal(status, 401, f"{what}: the gateway still answers a login")


async def recv(ws, what):
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
    except Exception as exc:  # timeout, closed socket (the process died), not JSON
        c.check(False, f"{what}: no reply frame ({type(exc).__name__}: {exc})")
        return None


async def socket_checks(gw, admin_key):
    url = f"ws://127.0.0.1:{gw.port}/api/v1/socket"
    # Item 2: an unauthenticated first frame whose id is 100 000 deep.
    async with websockets.connect(url, open_timeout=RECV_TIMEOUT, close_timeout=5, max_size=None) as ws:
        await ws.send('{"id":' + DEEP + "}")
        c.equal(await recv(ws, "deep id"), BAD_MESSAGE, "a first frame with a 100 000-deep id is a bad message")
        # An id that is not a string or number is never echoed, however shallow.
        await ws.send(json.dumps({"id": {"x": "y"}, "service": "iam", "request": {"operation": "whoami"}}))
        c.equal(await recv(ws, "object id"), BAD_MESSAGE, "an object id is a bad message, not echoed")
        await ws.send(json.dumps({"id": "r" * 257, "service": "iam", "request": {"operation": "whoami"}}))
        c.equal(await recv(ws, "long id"), BAD_MESSAGE, "a 257-byte id is a bad message, not echoed")
        # The socket still works: authenticate, then a 100 000-deep request.
        await ws.send(json.dumps({"type": "auth", "token": admin_key}))
        reply = await recv(ws, "auth")
        c.equal((reply or {}).get("type"), "auth-ok", "the socket still authenticates")
        await ws.send('{"id":"d1","service":"config","request":{"operation":"get","keys":' + DEEP + "}}")
        c.equal(await recv(ws, "deep request"), BAD_MESSAGE, "an authenticated 100 000-deep request is a bad message")
        await ws.send(json.dumps({"id": "w1", "service": "iam", "request": {"operation": "whoami"}}))
        reply = await recv(ws, "whoami")
        c.equal((reply or {}).get("id"), "w1", "the socket still serves requests")
        c.check("response" in (reply or {}), f"whoami answered: {reply!r}")
    alive(gw, "after the WebSocket frames")

    # A flow import stream: its frames go to the (echo) backend, which must not crash either.
    stream = f"ws://127.0.0.1:{gw.port}/api/v1/flow/f1/import/triples?token={admin_key}"
    async with websockets.connect(stream, open_timeout=RECV_TIMEOUT, close_timeout=5, max_size=None) as ws:
        await recv(ws, "stream opened")
        await ws.send(DEEP)
        reply = await recv(ws, "deep stream frame")
        c.check(isinstance(reply, dict) and reply.get("received") == DEEP,
                "the echo backend answers a 100 000-deep stream frame as text")
    alive(gw, "after the stream frame")


def http_checks(gw, admin_key):
    # Item 1: one unauthenticated login whose username is 100 000 deep.
    got = post(gw, "/api/v1/auth/login", '{"username":' + DEEP + ',"password":"x"}')
    c.equal(got, INVALID_JSON, "a login with a 100 000-deep username is 400 invalid json")
    alive(gw, "after the deep login")
    # The same through /api/v1/iam, unauthenticated and authenticated.
    got = post(gw, "/api/v1/iam", '{"operation":"login","username":' + DEEP + "}")
    c.equal(got, INVALID_JSON, "a deep IAM login is 400 invalid json")
    got = post(gw, "/api/v1/iam", '{"operation":"whoami","x":' + DEEP + "}", token=admin_key)
    c.equal(got, INVALID_JSON, "an authenticated deep IAM request is 400 invalid json")
    # An authenticated service route (forwarded to the backend after re-serialisation).
    got = post(gw, "/api/v1/config", '{"operation":"get","keys":' + DEEP + "}", token=admin_key)
    c.equal(got, INVALID_JSON, "an authenticated deep service request is 400 invalid json")
    # Within the bound (64 levels in all) is still served.
    status, _ = post(gw, "/api/v1/config", '{"operation":"get","keys":' + "[" * 63 + "]" * 63 + "}", token=admin_key)
    c.equal(status, 200, "a request 64 levels deep is still forwarded")
    alive(gw, "after the HTTP requests")


def on_fresh_gateway(step):
    """Runs `step(gw, admin_key)` against a gateway of its own, so each item is judged alone."""
    gw = Gateway(EXE, "--bootstrap-mode", "bootstrap")
    gw.start()
    try:
        status, body = gw.post("/api/v1/auth/bootstrap")
        assert status == 200, (status, body)
        step(gw, json.loads(body)["bootstrap_admin_api_key"])
    except Exception as exc:  # e.g. the socket refused: the process is gone
        c.check(False, f"{step.__name__} raised {type(exc).__name__}: {exc}")
    finally:
        if gw.proc is not None and gw.proc.poll() is not None:
            c.check(False, f"{step.__name__}: iam-gateway died (exit {gw.proc.poll()})")
            gw.proc = None  # nothing left to stop
        gw.stop()


def websocket_checks(gw, admin_key):
    asyncio.run(socket_checks(gw, admin_key))


on_fresh_gateway(http_checks)
on_fresh_gateway(websocket_checks)
c.done()
