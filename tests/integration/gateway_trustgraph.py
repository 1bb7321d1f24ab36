"""TrustGraph's current clients against a real iam-gateway (issue 15), reproducing the
requests and frames of its tg-* tools, SocketClient and bulk clients (read from TrustGraph's
trustgraph-cli and trustgraph-base/trustgraph/api; TrustGraph itself is not installed):

  socket    IAM requests over /api/v1/socket keep their own workspace whatever the
            envelope's (SocketClient always sends one); services still take the envelope's
  bulk      /api/v1/flow/{flow}/import|export/{kind}?token=…&workspace=…
  expires   create-api-key's `expires` in the ISO 8601 forms fromisoformat reads
  routes    import-core, export-core, document-stream, metrics, i18n packs
  revoked   a socket's identity is re-checked on every frame (we differ from TrustGraph)
  iamctl    iamctl list-my-workspaces through the gateway, as tg-list-my-workspaces
  noauth    stub successes for the management operations, nothing stored

Usage: /usr/bin/python3 gateway_trustgraph.py IAM_GATEWAY IAMCTL
       /usr/bin/python3 gateway_trustgraph.py --default-port IAM_GATEWAY
The second form starts the gateway with no --port and reaches it on 8888 (exit 77, meson's
skip, with a message when 8888 is already taken on this machine)."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.request

import websockets
from websockets.exceptions import InvalidStatusCode

from gateway_process import Checks, Gateway

c = Checks()
RECV_TIMEOUT = 15
PASSWORD = "changeme1"


def default_port(exe):
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the gateway does: TIME_WAIT is no obstacle
    try:
        probe.bind(("127.0.0.1", 8888))
    except OSError:
        print("SKIP: port 8888 is taken on this machine, so the default port cannot be tested here", flush=True)
        raise SystemExit(77)
    finally:
        probe.close()
    with Gateway(exe, "--bootstrap-mode", "bootstrap", port=None) as gw:
        c.equal(gw.port, 8888, "the port iam-gateway listens on without --port")
        # Reached the way TrustGraph's tools do with no TRUSTGRAPH_URL: http://localhost:8888/
        req = urllib.request.Request("http://localhost:8888/api/v1/auth/bootstrap-status", data=b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                got = (resp.status, json.loads(resp.read()))
        except OSError as e:
            got = repr(e)
        c.equal(got, (200, {"bootstrap_available": True}), "bootstrap-status at http://localhost:8888/")
    c.done()


if len(sys.argv) == 3 and sys.argv[1] == "--default-port":
    default_port(sys.argv[2])
if len(sys.argv) != 3:
    raise SystemExit("usage: gateway_trustgraph.py IAM_GATEWAY IAMCTL | --default-port IAM_GATEWAY")
EXE, IAMCTL = sys.argv[1], sys.argv[2]


def ok_json(gw, request, token, what):
    status, body = gw.iam(request, token)
    c.equal(status, 200, f"{what}: status ({body})")
    return body if isinstance(body, dict) else {}


def create_user(gw, admin, username, roles, workspace):
    body = ok_json(gw, {"operation": "create-user", "workspace": workspace,
                        "user": {"username": username, "password": PASSWORD, "roles": roles}}, admin,
                   f"create-user {username}")
    return body.get("user", {}).get("id", "")


def create_key(gw, admin, user_id, name="k", **extra):
    body = ok_json(gw, {"operation": "create-api-key", "key": {"user_id": user_id, "name": name, **extra}}, admin,
                   f"create-api-key {name}")
    return body.get("api_key_plaintext", ""), body.get("api_key", {})


# ---------------------------------------------------------------- WebSocket helpers

async def recv(ws, what):
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
    except (asyncio.TimeoutError, websockets.ConnectionClosed, json.JSONDecodeError) as e:
        c.check(False, f"{what}: no JSON frame ({e!r})")
        return None


async def socket_client(gw, token, workspace):
    """A connection as TrustGraph's SocketClient makes it: /api/v1/socket, first-frame auth,
    then frames {"id": "req-N", "workspace": <its own>, "service", "request"[, "flow"]}."""
    ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}/api/v1/socket", open_timeout=RECV_TIMEOUT)
    await ws.send(json.dumps({"type": "auth", "token": token or ""}))
    auth = await recv(ws, "auth reply")
    c.equal((auth or {}).get("type"), "auth-ok", "SocketClient auth")
    counter = 0

    async def send(service, request, flow=None):
        nonlocal counter
        counter += 1
        message = {"id": f"req-{counter}", "workspace": workspace, "service": service, "request": request}
        if flow:
            message["flow"] = flow
        await ws.send(json.dumps(message))
        reply = await recv(ws, f"reply to {service} {request.get('operation', '')}")
        c.equal((reply or {}).get("id"), message["id"], "replies are routed by id")
        return reply or {}

    return ws, send


async def upgrade(gw, path):
    """(status, first frame or None): 101 and the echo backend's opening frame, or the refusal."""
    try:
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}{path}", open_timeout=RECV_TIMEOUT)
    except InvalidStatusCode as refused:
        return refused.status_code, None
    first = await recv(ws, f"first frame of {path.split('?')[0]}")
    await ws.send(json.dumps({"t": ["s", "p", "o"]}))
    echoed = await recv(ws, "echo of a frame")
    await ws.close()
    return 101, (first, echoed)


# ---------------------------------------------------------------- roles regime

def roles_checks():
    with Gateway(EXE, "--bootstrap-mode", "bootstrap") as gw:
        status, boot = gw.post("/api/v1/auth/bootstrap")
        admin = json.loads(boot)["bootstrap_admin_api_key"]
        ok_json(gw, {"operation": "create-workspace", "workspace_record": {"id": "acme"}}, admin, "create-workspace acme")
        writer_id = create_user(gw, admin, "wally", ["writer"], "acme")
        writer, _ = create_key(gw, admin, writer_id, "wally")
        reader_id = create_user(gw, admin, "rita", ["reader"], "default")
        reader, _ = create_key(gw, admin, reader_id, "rita")

        # -- socket: TrustGraph's SocketClient on workspace "acme" administering "default"
        async def socket_iam():
            ws, send = await socket_client(gw, admin, "acme")
            reply = await send("iam", {"operation": "create-user", "workspace": "default",
                                       "user": {"username": "bob", "password": PASSWORD, "roles": ["reader"]}})
            user = reply.get("response", {}).get("user", {})
            c.equal((user.get("username"), user.get("workspace")), ("bob", "default"),
                    "create-user over the socket: the inner workspace stands, not the envelope's")
            reply = await send("iam", {"operation": "list-users", "workspace": "default"})
            names = sorted(u["username"] for u in reply.get("response", {}).get("users", []))
            c.equal(names, ["admin", "bob", "rita"], "list-users default over an acme socket")
            reply = await send("iam", {"operation": "list-users", "workspace": "acme"})
            c.equal([u["username"] for u in reply.get("response", {}).get("users", [])], ["wally"],
                    "list-users acme over the same socket")
            reply = await send("iam", {"operation": "create-api-key", "key": {"user_id": user.get("id", ""), "name": "s",
                                                                              "expires": "2031-12-31"}})
            c.equal(reply.get("response", {}).get("api_key", {}).get("expires"), "2031-12-31T00:00:00Z",
                    "create-api-key over the socket, bare-date expiry")
            # A workspace-level service still takes the envelope's workspace.
            reply = await send("config", {"operation": "get", "keys": [], "workspace": "default"})
            c.equal(reply.get("response", {}).get("workspace"), "acme", "config over the socket: envelope workspace")
            await ws.close()

            # Authorisation of the IAM operation follows its body: acme's writer may not list
            # default's users (nor acme's: writers have no users:read) whatever the envelope.
            ws, send = await socket_client(gw, writer, "acme")
            reply = await send("iam", {"operation": "list-users", "workspace": "default"})
            c.equal(reply.get("error"), {"message": "access denied", "type": "access-denied"},
                    "writer: list-users of another workspace over the socket")
            reply = await send("iam", {"operation": "whoami"})
            c.equal(reply.get("response", {}).get("user", {}).get("username"), "wally", "writer whoami over the socket")
            await ws.close()

        asyncio.run(socket_iam())

        # -- bulk: ?token=…&workspace=… as TrustGraph's BulkClient builds it
        async def bulk():
            for kind in ("import", "export"):
                path = f"/api/v1/flow/default/{kind}/triples"
                status, frames = await upgrade(gw, f"{path}?token={writer}&workspace=acme")
                c.equal(status, 101, f"writer {kind} in its own workspace")
                if frames:
                    c.equal(frames[0].get("workspace"), "acme", f"{kind}: the backend is told the query's workspace")
                    c.equal(frames[1].get("received"), {"t": ["s", "p", "o"]}, f"{kind}: frames reach the backend")
                status, _ = await upgrade(gw, f"{path}?token={writer}&workspace=default")
                c.equal(status, 403, f"writer {kind} naming another workspace is refused")
                status, frames = await upgrade(gw, f"{path}?token={writer}")
                c.equal((status, frames and frames[0].get("workspace")), (101, "acme"),
                        f"{kind} without ?workspace=: the caller's own")
                status, frames = await upgrade(gw, f"{path}?token={admin}&workspace=acme")
                c.equal((status, frames and frames[0].get("workspace")), (101, "acme"),
                        f"admin {kind} naming any workspace")
                status, _ = await upgrade(gw, f"{path}?token={admin}&workspace=nowhere")
                c.equal(status, 404, f"admin {kind} naming an unknown workspace")
                status, _ = await upgrade(gw, f"{path}?workspace=acme")
                c.equal(status, 401, f"{kind} without a token")
                status, _ = await upgrade(gw, f"{path}?token={admin}&workspace={'w' * 65}")
                c.equal(status, 400, f"{kind} naming a workspace longer than any id")

        asyncio.run(bulk())

        # -- expires: what tg-create-api-key --expires passes on, and what is refused
        for given, stored in [("2031-12-31", "2031-12-31T00:00:00Z"), ("2031-12-31T23:59", "2031-12-31T23:59:00Z"),
                              ("2031-12-31 23:59:30.5", "2031-12-31T23:59:30Z"),
                              ("2031-12-31T12:00:00+02:00", "2031-12-31T10:00:00Z"),
                              ("2031-12-31T12:00:00Z", "2031-12-31T12:00:00Z")]:
            _, record = create_key(gw, admin, reader_id, "exp", expires=given)
            c.equal(record.get("expires"), stored, f"expires {given!r}")
        for refused in ["31/12/2031", "2031-12-31T25:00", "soon", "2020-01-01", "2020-01-01T00:00:00Z"]:
            status, body = gw.iam({"operation": "create-api-key",
                                   "key": {"user_id": reader_id, "name": "x", "expires": refused}}, admin)
            err = body.get("error", {}) if isinstance(body, dict) else {}
            c.check(status == 400 and err.get("type") == "invalid-argument" and "key.expires" in err.get("message", ""),
                    f"expires {refused!r} refused with invalid-argument naming the field: {status} {body}")

        # -- routes TrustGraph gates outside its registry
        def call(method, path, token=None):
            status, text = gw.request(method, path, body={} if method == "POST" else None, token=token)
            try:
                return status, json.loads(text)
            except json.JSONDecodeError:
                return status, text

        for method, path, allowed, denied in [
                ("POST", "/api/v1/import-core", admin, writer),
                ("GET", "/api/v1/export-core?id=core1", admin, writer),
                ("GET", "/api/metrics", admin, writer),
                ("GET", "/api/metrics/query?query=up", admin, reader),
                ("GET", "/api/v1/document-stream?document-id=d1", reader, None)]:
            status, body = call(method, path, allowed)
            c.check(status == 200 and isinstance(body, dict) and body.get("echo-backend"),
                    f"{method} {path}: allowed caller reaches the backend: {status} {body}")
            if denied:
                c.equal(call(method, path, denied), (403, {"error": "access denied"}), f"{method} {path}: denied")
            c.equal(call(method, path)[0], 401, f"{method} {path}: no credential")
        status, body = call("GET", "/api/v1/document-stream", reader)
        c.equal(body.get("workspace") if isinstance(body, dict) else body, "default", "document-stream: caller's workspace")
        c.equal(call("GET", "/api/v1/document-stream?workspace=acme", reader), (403, {"error": "access denied"}),
                "document-stream: another workspace is denied to a reader")
        status, body = call("GET", "/api/v1/document-stream?workspace=acme", admin)
        c.equal((status, body.get("workspace") if isinstance(body, dict) else body), (200, "acme"),
                "document-stream: an admin names any workspace")
        status, body = call("GET", "/api/v1/i18n/packs/en")
        c.check(status == 200 and isinstance(body, dict) and body.get("operation") == "http:i18n-packs",
                f"i18n packs are public: {status} {body}")
        c.equal(call("GET", "/api/v1/import-core", admin)[0], 405, "import-core is POST only")
        c.equal(call("POST", "/api/v1/http", admin)[0], 404, "the http: kind is not a service route")
        c.equal(gw.iam({"operation": "http:metrics"}, admin)[0], 400, "http: names are not IAM operations")

        # -- revoked: a socket's identity is re-checked on every frame
        async def revoked():
            doomed, record = create_key(gw, admin, writer_id, "doomed")
            ws, send = await socket_client(gw, doomed, "acme")
            c.check("response" in await send("iam", {"operation": "whoami"}), "whoami before the revocation")
            ok_json(gw, {"operation": "revoke-api-key", "key_id": record.get("id", "")}, admin, "revoke mid-socket")
            reply = await send("iam", {"operation": "whoami"})
            c.equal(reply, {"id": reply.get("id"), "error": {"message": "auth failure", "type": "auth-required"},
                            "complete": True}, "the frame after a revocation")
            await ws.close()

        asyncio.run(revoked())

        # -- iamctl list-my-workspaces through the gateway, configured like tg-list-my-workspaces
        env = dict(os.environ, TRUSTGRAPH_URL=gw.url + "/", TRUSTGRAPH_TOKEN=admin)
        env.pop("IAM_URL", None)
        env.pop("IAM_TOKEN", None)
        run = subprocess.run([IAMCTL, "list-my-workspaces", "--json"], env=env, capture_output=True, text=True,
                             timeout=60)
        c.equal(run.returncode, 0, f"iamctl list-my-workspaces exit code ({run.stderr.strip()})")
        try:
            ids = sorted(w["id"] for w in json.loads(run.stdout).get("workspaces", []))
        except (json.JSONDecodeError, AttributeError, KeyError):
            ids = run.stdout
        c.equal(ids, ["acme", "default"], "iamctl list-my-workspaces (admin: every workspace)")
        run = subprocess.run([IAMCTL, "create-api-key", "--user-id", writer_id, "--name", "cli", "--expires", "2031-12-31"],
                             env=env, capture_output=True, text=True, timeout=60)
        c.check(run.returncode == 0 and run.stdout.startswith("tg_"),
                f"iamctl create-api-key --expires 2031-12-31: {run.returncode} {run.stderr.strip()!r}")
        keys = ok_json(gw, {"operation": "list-api-keys", "user_id": writer_id}, admin, "list-api-keys").get("api_keys", [])
        c.equal([k.get("expires") for k in keys if k.get("name") == "cli"], ["2031-12-31T00:00:00Z"],
                "the key iamctl created expires at midnight UTC")
        env["TRUSTGRAPH_TOKEN"] = writer
        run = subprocess.run([IAMCTL, "list-my-workspaces"], env=env, capture_output=True, text=True, timeout=60)
        c.check(run.returncode == 0 and "acme" in run.stdout and "default" not in run.stdout,
                f"iamctl list-my-workspaces as acme's writer: {run.returncode} {run.stdout!r} {run.stderr!r}")


# ---------------------------------------------------------------- noauth regime

def noauth_checks():
    with Gateway(EXE, "--regime", "noauth", store="memory") as gw:
        stub_id = "00000000-0000-0000-0000-000000000000"
        # tg-create-user, tg-create-api-key, tg-reset-password, tg-list-users, ... with no token
        body = ok_json(gw, {"operation": "create-user", "user": {"username": "bob", "password": "x", "roles": ["reader"]}},
                       None, "noauth create-user")
        c.equal((body.get("user", {}).get("id"), body.get("user", {}).get("username"), body.get("user", {}).get("name")),
                (stub_id, "bob", "noauth"), "noauth create-user: an obviously fake stub")
        body = ok_json(gw, {"operation": "create-api-key", "key": {"user_id": stub_id, "name": "laptop",
                                                                   "expires": "2031-12-31"}}, None, "noauth create-api-key")
        c.check(body.get("api_key_plaintext", "").startswith("tg_NOAUTH-STUB"), f"noauth stub key: {body}")
        c.equal(body.get("api_key", {}).get("id"), stub_id, "noauth stub key record id")
        body = ok_json(gw, {"operation": "reset-password", "user_id": stub_id}, None, "noauth reset-password")
        c.equal(body, {"temporary_password": "noauth-stub-password"}, "noauth reset-password")
        for op, extra in [("update-user", {"user_id": stub_id, "user": {"name": "B"}}),
                          ("disable-user", {"user_id": stub_id}), ("enable-user", {"user_id": stub_id}),
                          ("get-user", {"user_id": stub_id}), ("delete-user", {"user_id": stub_id}),
                          ("revoke-api-key", {"key_id": stub_id}), ("rotate-signing-key", {}),
                          ("update-workspace", {"workspace_record": {"id": "default", "name": "D"}}),
                          ("disable-workspace", {"workspace_record": {"id": "default"}})]:
            ok_json(gw, {"operation": op, **extra}, None, f"noauth {op}")
        status, body = gw.post("/api/v1/auth/change-password", {"current_password": "a", "new_password": "b"})
        c.equal(status, 200, f"noauth change-password ({body})")
        body = ok_json(gw, {"operation": "list-users"}, None, "noauth list-users")
        c.equal([u.get("name") for u in body.get("users", [])], ["noauth"], "noauth list-users: one stub user")
        c.check(any("noauth" in line and "create-user" in line and "stub" in line for line in gw.log_lines),
                "the log says noauth answered create-user with a stub")


roles_checks()
noauth_checks()
c.done()
