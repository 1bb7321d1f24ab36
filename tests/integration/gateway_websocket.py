"""The example gateway's WebSocket surface, driven as a real process with the websockets
client (docs/gateway.md "WebSocket first-frame authentication" and "What callers see"):

  /api/v1/socket       first-frame auth, re-auth, per-frame authorisation, the exact
                       TrustGraph frame shapes, replies routed by id;
  /api/v1/flow/{flow}/import|export/{kind}
                       streams authorised at the upgrade by ?token= (401 / 403
                       refuse the upgrade), then frames go to the echo backend (re-checked per frame:
                       gateway_stream_revocation.py).

Usage: /usr/bin/python3 gateway_websocket.py IAM_GATEWAY   (PYTHONPATH has gateway_process.py;
needs Debian's python3-websockets, 10.x asyncio client)."""
import asyncio
import json
import sys

import websockets
from websockets.exceptions import InvalidStatusCode

from gateway_process import Checks, Gateway

if len(sys.argv) != 2:
    raise SystemExit("usage: gateway_websocket.py IAM_GATEWAY")

EXE = sys.argv[1]
c = Checks()
RECV_TIMEOUT = 15  # a missing reply fails the check instead of hanging the test

AUTH_FAILED = {"type": "auth-failed", "error": "auth failure"}
BAD_MESSAGE = {"error": {"message": "bad message", "type": "error"}, "complete": True}


def auth_ok(workspace):
    return {"type": "auth-ok", "workspace": workspace, "default_workspace": workspace}


def error_frame(frame_id, message, kind):
    return {"id": frame_id, "error": {"message": message, "type": kind}, "complete": True}


def auth_required(frame_id):
    return error_frame(frame_id, "auth failure", "auth-required")


def access_denied(frame_id):
    return error_frame(frame_id, "access denied", "access-denied")


def unknown_service(frame_id):
    return error_frame(frame_id, "unknown service", "unknown-service")


def workspace_not_found(frame_id):
    return error_frame(frame_id, "workspace not found", "workspace-not-found")


# Every reply to a request frame (one with an id), checked at the end for the envelope:
# exactly id + (response | error) + complete.
request_replies = []


class Sock:
    """One WebSocket connection; frames are JSON (or raw text)."""

    def __init__(self, ws, label):
        self.ws = ws
        self.label = label

    async def send(self, frame):
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, what):
        """The next frame, parsed; None (and a failed check) on timeout, close or non-JSON."""
        try:
            text = await asyncio.wait_for(self.ws.recv(), RECV_TIMEOUT)
        except asyncio.TimeoutError:
            c.check(False, f"{self.label}: {what}: no frame within {RECV_TIMEOUT}s")
            return None
        except websockets.ConnectionClosed as closed:
            c.check(False, f"{self.label}: {what}: socket closed ({closed})")
            return None
        try:
            frame = json.loads(text)
        except json.JSONDecodeError:
            c.check(False, f"{self.label}: {what}: reply is not JSON: {text!r}")
            return None
        if isinstance(frame, dict) and "id" in frame:
            request_replies.append(frame)
        return frame

    async def ask(self, frame, what):
        await self.send(frame)
        return await self.recv(what)

    async def auth(self, token, what):
        return await self.ask({"type": "auth", "token": token}, what)

    async def quiet(self, what, wait=0.3):
        """No further frame is pending (nothing answered twice, nothing stray)."""
        try:
            text = await asyncio.wait_for(self.ws.recv(), wait)
            c.check(False, f"{self.label}: {what}: unexpected extra frame {text!r}")
        except asyncio.TimeoutError:
            pass
        except websockets.ConnectionClosed as closed:
            c.check(False, f"{self.label}: {what}: socket closed ({closed})")


def socket_url(gw, path="/api/v1/socket"):
    return f"ws://127.0.0.1:{gw.port}{path}"


async def open_socket(gw, label, path="/api/v1/socket", **kw):
    ws = await websockets.connect(socket_url(gw, path), open_timeout=RECV_TIMEOUT, close_timeout=5,
                                  max_size=None, **kw)
    return Sock(ws, label)


async def upgrade_status(gw, path):
    """The HTTP status an upgrade to `path` gets: 101 if accepted, else the refusal's."""
    try:
        ws = await websockets.connect(socket_url(gw, path), open_timeout=RECV_TIMEOUT, close_timeout=5)
    except InvalidStatusCode as refused:
        return refused.status_code
    await ws.close()
    return 101


def whoami(frame_id):
    return {"id": frame_id, "service": "iam", "request": {"operation": "whoami"}}


def config(frame_id, operation, workspace=None, **request):
    frame = {"id": frame_id, "service": "config", "request": {"operation": operation, **request}}
    if workspace is not None:
        frame["workspace"] = workspace
    return frame


def echo_of(reply):
    """The echo backend's labelled answer inside a response frame, or {}."""
    if isinstance(reply, dict) and isinstance(reply.get("response"), dict) and reply["response"].get("echo-backend") is True:
        return reply["response"]
    return {}


# ------------------------------------------------------------------ setup over HTTP

gw = Gateway(EXE, "--bootstrap-mode", "bootstrap")
gw.start()
try:
    status, body = gw.post("/api/v1/auth/bootstrap")
    assert status == 200, (status, body)
    boot = json.loads(body)
    ADMIN_KEY = boot["bootstrap_admin_api_key"]
    ADMIN_ID = boot["bootstrap_admin_user_id"]

    def must(answer, what):
        status, parsed = answer
        if status != 200 or not isinstance(parsed, dict):
            raise SystemExit(f"setup {what} failed: {status} {parsed!r}")
        return parsed

    def create_user(username, roles, workspace=None):
        request = {"operation": "create-user",
                   "user": {"username": username, "password": f"{username}-password-1", "roles": roles}}
        if workspace:
            request["workspace"] = workspace
        return must(gw.iam(request, ADMIN_KEY), f"create-user {username}")["user"]

    def create_key(user_id, name):
        made = must(gw.iam({"operation": "create-api-key", "key": {"user_id": user_id, "name": name}}, ADMIN_KEY),
                    f"create-api-key {name}")
        return made["api_key_plaintext"], made["api_key"]["id"]

    must(gw.iam({"operation": "create-workspace", "workspace_record": {"id": "acme", "name": "Acme"}}, ADMIN_KEY),
         "create-workspace acme")
    wendy = create_user("wendy", ["writer"])
    rita = create_user("rita", ["reader"])
    alice = create_user("alice", ["writer"], workspace="acme")
    WENDY_KEY, _ = create_key(wendy["id"], "wendy-main")
    WENDY_KEY2, WENDY_KEY2_ID = create_key(wendy["id"], "wendy-doomed")  # revoked mid-session below
    RITA_KEY, _ = create_key(rita["id"], "rita-main")
    ALICE_KEY, _ = create_key(alice["id"], "alice-main")
    status, body = gw.post("/api/v1/auth/login", {"username": "wendy", "password": "wendy-password-1"})
    assert status == 200, (status, body)
    WENDY_JWT = json.loads(body)["jwt"]
    c.check(WENDY_JWT.count(".") == 2, "login returns a JWT")
except BaseException:
    gw.stop()
    raise

BOGUS_KEY = "tg_" + "x" * 32


# ------------------------------------------------------------------ /api/v1/socket

async def first_frame_auth():
    s = await open_socket(gw, "auth")
    c.equal(await s.auth(ADMIN_KEY, "admin key"), auth_ok("default"), "auth-ok with an API key")
    await s.ws.close()

    s = await open_socket(gw, "jwt")
    c.equal(await s.auth(WENDY_JWT, "wendy jwt"), auth_ok("default"), "auth-ok with a JWT")
    reply = await s.ask(whoami("j1"), "whoami over JWT")
    c.equal((reply or {}).get("response", {}).get("user", {}).get("id"), wendy["id"], "JWT socket is wendy")
    await s.ws.close()

    # A user homed in acme: the auth-ok names acme.
    s = await open_socket(gw, "alice")
    c.equal(await s.auth(ALICE_KEY, "alice key"), auth_ok("acme"), "auth-ok names the home workspace (acme)")
    reply = await s.ask(config("a1", "get"), "alice config get")
    c.equal(echo_of(reply).get("workspace"), "acme", "alice's workspace default-filled as acme")
    c.equal(echo_of(reply).get("request", {}).get("workspace"), "acme", "acme written into alice's inner request")
    await s.ws.close()


async def failed_auth_keeps_socket():
    s = await open_socket(gw, "failed-auth")
    bad_tokens = {
        "bogus API key": BOGUS_KEY,
        "garbage": "hello",
        "empty": "",
        "JWT-shaped garbage": "aaa.bbb.ccc",
        "tampered JWT": WENDY_JWT[:-4] + ("AAAA" if not WENDY_JWT.endswith("AAAA") else "BBBB"),
        "revoked-looking key": ADMIN_KEY[:-1] + ("A" if ADMIN_KEY[-1] != "A" else "B"),
    }
    for what, token in bad_tokens.items():
        c.equal(await s.auth(token, what), AUTH_FAILED, f"auth-failed exactly ({what})")
    c.equal(await s.ask({"type": "auth"}, "auth without token"), AUTH_FAILED, "auth-failed exactly (no token)")
    c.equal(await s.ask({"type": "auth", "token": 12345}, "non-string token"), AUTH_FAILED,
            "auth-failed exactly (token not a string)")
    # Still open: a retry on the same socket succeeds.
    c.equal(await s.auth(WENDY_KEY, "retry"), auth_ok("default"), "retry with a good key on the same socket")
    reply = await s.ask(whoami("after-retry"), "whoami after retry")
    c.equal((reply or {}).get("response", {}).get("user", {}).get("username"), "wendy", "retry authenticated as wendy")
    await s.quiet("after retry")
    await s.ws.close()


async def before_auth():
    s = await open_socket(gw, "before-auth")
    for frame_id in ["r1", 42, 0, "x\"y\u00e9", "", -7]:
        frame = config(frame_id, "get")
        c.equal(await s.ask(frame, f"config before auth id={frame_id!r}"), auth_required(frame_id),
                f"auth-required before auth (id {frame_id!r})")
    c.equal(await s.ask(whoami("w0"), "whoami before auth"), auth_required("w0"), "iam whoami before auth: auth-required")
    c.equal(await s.ask({"id": "f0", "service": "agent", "flow": "f1", "request": {}}, "flow before auth"),
            auth_required("f0"), "flow frame before auth: auth-required")
    # Even a PUBLIC operation: nothing reaches a backend before a successful auth.
    c.equal(await s.ask({"id": "l0", "service": "iam", "request": {"operation": "login", "username": "wendy",
                                                                   "password": "wendy-password-1"}}, "login before auth"),
            auth_required("l0"), "iam login (PUBLIC) before auth: auth-required")
    c.equal(await s.ask({"id": "u0", "service": "nosuch", "request": {}}, "unknown service before auth"),
            auth_required("u0"), "unknown service before auth: auth-required (nothing about the registry leaks)")
    # Without an id and not an auth frame: bad message.
    for what, frame in [("no id", {"service": "config", "request": {"operation": "get"}}),
                        ("empty object", {}),
                        ("array", [1, 2]),
                        ("not JSON", "hello there"),
                        ("other type", {"type": "ping"})]:
        c.equal(await s.ask(frame, f"bad message ({what})"), BAD_MESSAGE, f"bad message before auth ({what})")
    await s.quiet("before auth")
    # Credentials in the URL or headers are not used: the socket authenticates by first frame only.
    s2 = await open_socket(gw, "url-token", path=f"/api/v1/socket?token={ADMIN_KEY}",
                           extra_headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    c.equal(await s2.ask(whoami("q1"), "whoami with URL/header credential"), auth_required("q1"),
            "?token= and Authorization on /api/v1/socket do not authenticate")
    await s2.ws.close()
    c.equal(await upgrade_status(gw, f"/api/v1/socket?token={BOGUS_KEY}"), 101,
            "/api/v1/socket upgrade accepted whatever the URL holds")
    await s.ws.close()


async def reauth():
    s = await open_socket(gw, "reauth")
    c.equal(await s.auth(WENDY_KEY, "wendy"), auth_ok("default"), "auth as wendy")
    reply = await s.ask(whoami("1"), "whoami wendy")
    c.equal(reply, {"id": "1", "response": {"user": wendy}, "complete": True}, "whoami answers wendy's record")
    c.equal(await s.auth(ADMIN_KEY, "admin"), auth_ok("default"), "re-auth as admin")
    reply = await s.ask(whoami("1"), "whoami admin")
    c.equal((reply or {}).get("response", {}).get("user", {}).get("id"), ADMIN_ID, "after re-auth whoami is admin")
    c.equal((reply or {}).get("response", {}).get("user", {}).get("username"), "admin", "after re-auth username admin")
    reply = await s.ask(config("p1", "put", key="k", value="v"), "admin config put")
    c.equal(echo_of(reply).get("actor"), ADMIN_ID, "after re-auth frames act as admin")
    # Back to the lesser identity: admin's rights are gone.
    c.equal(await s.auth(RITA_KEY, "rita"), auth_ok("default"), "re-auth as rita")
    c.equal(await s.ask(config("p2", "put", key="k", value="v"), "rita put after admin"), access_denied("p2"),
            "re-auth to rita drops admin's rights")
    # A failed re-auth leaves the socket unauthenticated.
    c.equal(await s.auth(BOGUS_KEY, "bad re-auth"), AUTH_FAILED, "failed re-auth answers auth-failed")
    c.equal(await s.ask(config("g1", "get"), "get after failed re-auth"), auth_required("g1"),
            "after a failed re-auth: auth-required")
    c.equal(await s.ask(whoami(9), "whoami after failed re-auth"), auth_required(9),
            "after a failed re-auth: whoami auth-required")
    c.equal(await s.auth(WENDY_JWT, "re-auth by JWT"), auth_ok("default"), "re-auth with a JWT after failure")
    reply = await s.ask(whoami("2"), "whoami after JWT re-auth")
    c.equal((reply or {}).get("response", {}).get("user", {}).get("id"), wendy["id"], "JWT re-auth is wendy")
    await s.quiet("reauth")
    await s.ws.close()


async def per_frame_authorisation():
    s = await open_socket(gw, "rita")
    c.equal(await s.auth(RITA_KEY, "rita"), auth_ok("default"), "auth as rita")
    c.equal(await s.ask(config("d1", "put", key="k", value="v"), "rita put"), access_denied("d1"),
            "reader config put: access-denied")
    c.equal(await s.ask(config(77, "delete", key="k"), "rita delete"), access_denied(77),
            "reader config delete: access-denied (numeric id)")
    c.equal(await s.ask({"id": "d3", "service": "iam", "request": {"operation": "create-user", "user": {
        "username": "mallory", "password": "mallory-password-1", "roles": ["admin"]}}}, "rita create-user"),
        access_denied("d3"), "reader iam create-user: access-denied")
    c.equal(await s.ask({"id": "d4", "service": "iam", "request": {"operation": "list-users"}}, "rita list-users"),
            access_denied("d4"), "reader iam list-users: access-denied")
    reply = await s.ask({"id": "d5", "service": "triples", "flow": "f1", "request": {}}, "rita triples (read)")
    c.equal(echo_of(reply).get("operation"), "flow-service:triples", "reader flow triples (triples:read) allowed")

    reply = await s.ask(config("ok1", "get", keys=["a"]), "rita get")
    c.equal(set((reply or {}).keys()), {"id", "response", "complete"}, "allowed frame: id/response/complete")
    c.equal((reply or {}).get("id"), "ok1", "allowed frame keeps its id")
    c.equal((reply or {}).get("complete"), True, "allowed frame complete:true")
    echo = echo_of(reply)
    c.check(bool(echo), f"config get answered by the labelled echo backend: {reply!r}")
    c.equal(echo.get("operation"), "config:get", "echo: operation config:get")
    c.equal(echo.get("workspace"), "default", "echo: workspace default-filled")
    c.equal(echo.get("actor"), rita["id"], "echo: actor is rita")
    c.equal(echo.get("request"), {"operation": "get", "keys": ["a"], "workspace": "default", "actor": rita["id"]},
            "echo: inner request rewritten with workspace and actor only")
    reply = await s.ask(whoami("ok2"), "rita whoami")
    c.equal(reply, {"id": "ok2", "response": {"user": rita}, "complete": True}, "iam whoami: the IAM service's real answer")
    await s.quiet("rita")
    await s.ws.close()


async def workspace_enforcement():
    s = await open_socket(gw, "wendy-ws")
    c.equal(await s.auth(WENDY_KEY, "wendy"), auth_ok("default"), "auth as wendy")
    c.equal(await s.ask(config("w1", "get", workspace="acme"), "wendy get acme"), access_denied("w1"),
            "writer in default, envelope workspace acme: access-denied")
    c.equal(await s.ask(config("w2", "put", workspace="acme", key="k", value="v"), "wendy put acme"),
            access_denied("w2"), "writer put into acme: access-denied")
    # Without an envelope workspace the inner request's is the one authorised (no smuggling).
    c.equal(await s.ask({"id": "w3", "service": "config", "request": {"operation": "get", "workspace": "acme"}},
                        "wendy inner acme"), access_denied("w3"),
            "inner request workspace acme (no envelope): access-denied")
    # The envelope's workspace wins and is the one written into the inner request.
    reply = await s.ask({"id": "w4", "service": "config", "workspace": "default",
                         "request": {"operation": "get", "workspace": "acme"}}, "envelope default, inner acme")
    c.equal(echo_of(reply).get("workspace"), "default", "envelope workspace is the authorised one")
    c.equal(echo_of(reply).get("request", {}).get("workspace"), "default",
            "envelope workspace overwrites the inner request's")
    # Flow frames across workspaces, and the actor the client claims is overwritten.
    c.equal(await s.ask({"id": "w5", "service": "agent", "flow": "f1", "workspace": "acme", "request": {}},
                        "wendy agent acme"), access_denied("w5"), "flow frame in acme: access-denied")
    reply = await s.ask({"id": "w6", "service": "agent", "flow": "f1", "request": {"actor": ADMIN_ID, "q": "hi"}},
                        "wendy agent f1")
    echo = echo_of(reply)
    c.equal((reply or {}).get("id"), "w6", "flow frame reply keeps its id")
    c.equal(echo.get("operation"), "flow-service:agent", "flow frame authorised as flow-service:agent")
    c.equal(echo.get("workspace"), "default", "flow frame workspace default-filled")
    c.equal(echo.get("flow"), "f1", "flow frame forwarded with its flow")
    c.equal(echo.get("actor"), wendy["id"], "flow frame actor is wendy")
    c.equal(echo.get("request"), {"q": "hi", "actor": wendy["id"], "workspace": "default"},
            "flow frame inner request: client's actor overwritten, workspace written")
    # A reader asking about a workspace that does not exist learns nothing (deny first).
    r = await open_socket(gw, "rita-ws")
    c.equal(await r.auth(RITA_KEY, "rita"), auth_ok("default"), "auth as rita")
    c.equal(await r.ask(config("n1", "get", workspace="nosuch"), "rita get nosuch"), access_denied("n1"),
            "unprivileged caller, unknown workspace: access-denied (no probing)")
    await r.ws.close()
    await s.ws.close()

    a = await open_socket(gw, "admin-ws")
    c.equal(await a.auth(ADMIN_KEY, "admin"), auth_ok("default"), "auth as admin")
    c.equal(await a.ask(config("n2", "get", workspace="nosuch"), "admin get nosuch"), workspace_not_found("n2"),
            "admin, envelope workspace nosuch: workspace-not-found")
    c.equal(await a.ask({"id": "n3", "service": "agent", "flow": "f1", "workspace": "nosuch", "request": {}},
                        "admin agent nosuch"), workspace_not_found("n3"), "admin flow frame in nosuch: workspace-not-found")
    reply = await a.ask(config("n4", "put", workspace="acme", key="k", value="v"), "admin put acme")
    c.equal(echo_of(reply).get("workspace"), "acme", "admin may act in acme")
    c.equal(echo_of(reply).get("request", {}).get("workspace"), "acme", "acme written into admin's inner request")
    # Unknown services and operations.
    c.equal(await a.ask({"id": "u1", "service": "nosuch", "request": {"operation": "get"}}, "unknown service"),
            unknown_service("u1"), "unknown service: unknown-service")
    c.equal(await a.ask({"id": "u2", "service": "nosuch", "flow": "f1", "request": {}}, "unknown flow service"),
            unknown_service("u2"), "unknown flow service: unknown-service")
    c.equal(await a.ask(config("u3", "nosuch-op"), "unknown config op"), unknown_service("u3"),
            "unknown operation on a known service: unknown-service")
    c.equal(await a.ask({"id": "u4", "service": "iam", "request": {"operation": "nosuch-op"}}, "unknown iam op"),
            unknown_service("u4"), "unknown iam operation: unknown-service")
    # Authenticated frames without an id are still bad messages.
    c.equal(await a.ask({"service": "config", "request": {"operation": "get"}}, "no id after auth"), BAD_MESSAGE,
            "bad message after auth (no id)")
    c.equal(await a.ask("{not json", "not JSON after auth"), BAD_MESSAGE, "bad message after auth (not JSON)")
    await a.quiet("admin")
    await a.ws.close()


async def revocation():
    global RITA_KEY
    s = await open_socket(gw, "revoke")
    c.equal(await s.auth(WENDY_KEY2, "doomed key"), auth_ok("default"), "auth with the key to be revoked")
    reply = await s.ask(config("v1", "get"), "get before revoke")
    c.equal(echo_of(reply).get("actor"), wendy["id"], "frame works before revoke")
    status, answer = gw.iam({"operation": "revoke-api-key", "key_id": WENDY_KEY2_ID}, ADMIN_KEY)
    c.equal(status, 200, f"revoke-api-key over HTTP ({answer!r})")
    c.equal(await s.ask(config("v2", "get"), "get after revoke"), auth_required("v2"),
            "revoked key stops working on the next frame")
    c.equal(await s.ask(whoami("v3"), "whoami after revoke"), auth_required("v3"),
            "revoked key: whoami auth-required too")
    c.equal(await s.auth(WENDY_KEY2, "revoked key re-auth"), AUTH_FAILED, "re-auth with the revoked key fails")
    c.equal(await s.auth(WENDY_KEY, "other key"), auth_ok("default"), "socket still usable with another key")
    reply = await s.ask(config("v4", "get"), "get with other key")
    c.equal(echo_of(reply).get("actor"), wendy["id"], "other key works after revoke")
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/export/triples?token={WENDY_KEY2}"), 401,
            "revoked key refused at a stream upgrade (401)")
    await s.ws.close()

    # A user disabled over HTTP stops working too.
    r = await open_socket(gw, "disable")
    c.equal(await r.auth(RITA_KEY, "rita"), auth_ok("default"), "auth as rita before disable")
    reply = await r.ask(config("x1", "get"), "rita get before disable")
    c.equal(echo_of(reply).get("actor"), rita["id"], "rita works before disable")
    status, answer = gw.iam({"operation": "disable-user", "user_id": rita["id"]}, ADMIN_KEY)
    c.equal(status, 200, f"disable-user over HTTP ({answer!r})")
    c.equal(await r.ask(config("x2", "get"), "rita get after disable"), auth_required("x2"),
            "disabled user stops working on the next frame")
    c.equal(await r.auth(RITA_KEY, "disabled re-auth"), AUTH_FAILED, "disabled user's re-auth fails")
    status, answer = gw.iam({"operation": "enable-user", "user_id": rita["id"]}, ADMIN_KEY)
    c.equal(status, 200, f"enable-user over HTTP ({answer!r})")
    # disable-user revoked rita's keys and enable-user does not restore them (docs/protocol.md).
    c.equal(await r.auth(RITA_KEY, "re-enabled, old key"), AUTH_FAILED, "keys are not restored by enable-user")
    RITA_KEY, _ = create_key(rita["id"], "rita-again")
    c.equal(await r.auth(RITA_KEY, "re-enabled, new key"), auth_ok("default"), "re-enabled rita with a new key")
    reply = await r.ask(config("x3", "get"), "rita get after enable")
    c.equal(echo_of(reply).get("actor"), rita["id"], "rita works again with the new key")
    await r.ws.close()


async def interleaving():
    s = await open_socket(gw, "interleave")
    c.equal(await s.auth(ADMIN_KEY, "admin"), auth_ok("default"), "auth as admin")
    expected = {}
    frames = []
    # A slow IAM operation (create-user hashes a password on a worker thread) first, so its
    # answer may overtake nothing and be overtaken by everything after it.
    frames.append({"id": "slow", "service": "iam", "request": {"operation": "create-user", "user": {
        "username": "ivy", "password": "ivy-password-1", "roles": ["reader"]}}})
    expected["slow"] = lambda r: r.get("response", {}).get("user", {}).get("username") == "ivy"
    for i in range(8):
        fid = f"c{i}" if i % 2 else i
        frames.append(config(fid, "get", keys=[f"k{i}"]))
        expected[fid] = (lambda i: lambda r: echo_of(r).get("request", {}).get("keys") == [f"k{i}"])(i)
    frames.append({"id": "flow", "service": "agent", "flow": "f9", "request": {}})
    expected["flow"] = lambda r: echo_of(r).get("flow") == "f9"
    frames.append({"id": "who", "service": "iam", "request": {"operation": "whoami"}})
    expected["who"] = lambda r: r.get("response", {}).get("user", {}).get("id") == ADMIN_ID
    frames.append({"id": "nope", "service": "nosuch", "request": {}})
    expected["nope"] = lambda r: r == unknown_service("nope")
    frames.append({"id": "ghost", "service": "config", "workspace": "nosuch", "request": {"operation": "get"}})
    expected["ghost"] = lambda r: r == workspace_not_found("ghost")
    for frame in frames:
        await s.send(frame)
    seen = {}
    for _ in frames:
        reply = await s.recv("interleaved reply")
        if reply is None:
            break
        fid = reply.get("id")
        c.check(fid in expected, f"interleaved reply for an id that was sent: {reply!r}")
        c.check(fid not in seen, f"interleaved id {fid!r} answered once")
        seen[fid] = reply
    c.equal(sorted(map(str, seen)), sorted(map(str, expected)), "every interleaved frame answered")
    for fid, ok in expected.items():
        if fid in seen:
            c.check(ok(seen[fid]), f"interleaved reply {fid!r} routed to its own request: {seen[fid]!r}")
    await s.quiet("interleave")
    await s.ws.close()


async def streams():
    # Export: the backend's first frame arrives on connect.
    s = await open_socket(gw, "export", path=f"/api/v1/flow/f1/export/triples?token={WENDY_KEY}")
    first = await s.recv("export first frame")
    c.check(isinstance(first, dict) and first.get("echo-backend") is True, f"export: labelled echo first frame: {first!r}")
    first = first if isinstance(first, dict) else {}
    c.equal(first.get("operation"), "flow-export:triples", "export: operation")
    c.equal(first.get("flow"), "f1", "export: flow")
    c.equal(first.get("workspace"), "default", "export: workspace default-filled")
    c.equal(first.get("actor"), wendy["id"], "export: actor wendy")
    await s.ws.close()

    # Import: a sent frame comes back, labelled.
    s = await open_socket(gw, "import", path=f"/api/v1/flow/f2/import/triples?token={WENDY_KEY}")
    opened = await s.recv("import opened frame")
    c.equal((opened or {}).get("operation"), "flow-import:triples", "import: opened frame from the echo backend")
    reply = await s.ask({"triples": [{"s": "a", "p": "b", "o": "c"}]}, "import echo")
    c.check(isinstance(reply, dict) and reply.get("echo-backend") is True, f"import: labelled echo reply: {reply!r}")
    c.equal((reply or {}).get("received"), {"triples": [{"s": "a", "p": "b", "o": "c"}]}, "import: frame echoed back")
    c.equal((reply or {}).get("flow"), "f2", "import: flow f2")
    c.equal((reply or {}).get("actor"), wendy["id"], "import: actor wendy")
    await s.ws.close()

    # A JWT works as ?token= too; a reader may export triples (triples:read).
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/export/triples?token={WENDY_JWT}"), 101, "export with a JWT token")
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/export/triples?token={RITA_KEY}"), 101,
            "reader export triples (triples:read): accepted")
    # Refusals happen at the upgrade.
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/export/triples?token={BOGUS_KEY}"), 401, "bad token: 401")
    c.equal(await upgrade_status(gw, "/api/v1/flow/f1/export/triples?token=hello"), 401, "garbage token: 401")
    c.equal(await upgrade_status(gw, "/api/v1/flow/f1/export/triples"), 401, "no token: 401")
    c.equal(await upgrade_status(gw, "/api/v1/flow/f1/import/triples"), 401, "import without token: 401")
    c.equal(await upgrade_status(gw, "/api/v1/flow/f1/export/triples?token="), 401, "empty token: 401")
    # reader lacks triples:write and rows:write (docs/contract.md role table).
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/import/triples?token={RITA_KEY}"), 403,
            "reader import triples (needs triples:write): 403")
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/import/rows?token={RITA_KEY}"), 403,
            "reader import rows (needs rows:write): 403")
    c.equal(await upgrade_status(gw, f"/api/v1/flow/f1/export/nosuch?token={WENDY_KEY}"), 404,
            "unknown export kind: 404")


async def envelope_check():
    c.check(len(request_replies) > 30, f"collected replies to request frames ({len(request_replies)})")
    for reply in request_replies:
        keys = set(reply)
        c.check(keys in ({"id", "response", "complete"}, {"id", "error", "complete"}),
                f"reply envelope is exactly id + response|error + complete: {reply!r}")
        c.check(isinstance(reply.get("complete"), bool), f"complete is a bool: {reply!r}")
        if "error" in reply:
            err = reply["error"]
            c.check(isinstance(err, dict) and set(err) == {"message", "type"}
                    and all(isinstance(v, str) for v in err.values()),
                    f"error is exactly {{message, type}} strings: {reply!r}")
            c.equal(reply.get("complete"), True, f"error reply complete:true ({reply.get('id')!r})")


async def main():
    for step in [first_frame_auth, failed_auth_keeps_socket, before_auth, reauth, per_frame_authorisation,
                 workspace_enforcement, revocation, interleaving, streams, envelope_check]:
        try:
            await step()
        except Exception as exc:  # a crash in one step is a failure, the others still run
            c.check(False, f"{step.__name__} raised {type(exc).__name__}: {exc}")


try:
    asyncio.run(main())
    # Credentials never reach the log (the streams carried them in the URL).
    log = "\n".join(gw.log_lines)
    for name, secret in [("admin key", ADMIN_KEY), ("wendy key", WENDY_KEY), ("rita key", RITA_KEY), ("jwt", WENDY_JWT)]:
        c.check(secret not in log, f"{name} does not appear in the gateway log")
    c.check(any('"WS"' in line and "/api/v1/socket" in line for line in gw.log_lines), "socket frames are access-logged")
finally:
    gw.stop()
c.done()
