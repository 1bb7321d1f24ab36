"""iam.gateway — a TrustGraph-compatible HTTP + WebSocket gateway on aiohttp, enforcing with
the library in-process: the Python twin of iam-gateway (examples/gateway), with the same
routes, masked answers, limits, WebSocket first-frame authentication, flags and
environment variables. Forwarded service routes go to an ECHO BACKEND (no real services);
the IAM and auth routes are real.

    python3 -m iam.gateway --bootstrap-mode bootstrap        # ./iam.db, http://127.0.0.1:8888
    python3 -m iam.gateway --store memory --regime noauth    # development only

Every decision comes from the binding's gateway kit (iam.Enforcer, iam.WebSocketSession,
iam.IamService): this module only moves bytes. Password hashing (login, change-password,
reset-password, create-user) runs on a thread pool (run_in_executor) while the C++ code
holds no GIL, so the event loop keeps serving.

stderr carries one JSON line per request (never a body, a header or a query string), and
on start {"event":"listening","address":…,"port":…}. SIGINT/SIGTERM: a clean shutdown,
exit 0. Exit 2 for a usage or configuration error, 3 when the store or port cannot be
opened. docs/python.md "The Python gateway" lists the differences from iam-gateway."""
import argparse
import asyncio
import concurrent.futures
import datetime
import ipaddress
import json
import logging
import os
import secrets
import signal
import sys
import time
import weakref

from aiohttp import WSMsgType, web

from . import _iam
from .middleware import (IAM_BODY_LIMIT, JWKS, SERVICE_BODY_LIMIT, SOCKET, STREAM, answer, expect_handler,
                         match_route, middleware, next_request_id, note, request_id)

__all__ = ["middleware", "match_route", "EchoBackend", "Gateway", "main"]

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

# The IAM operations that run PBKDF2 (600k iterations): off the event loop.
SLOW_OPERATIONS = frozenset({"login", "change-password", "reset-password", "create-user"})
# The operations that test a password: their failures count against the client address.
PASSWORD_GUESSES = frozenset({"login", "change-password"})

# ------------------------------------------------------------------ the echo backend

NOTE = "iam-gateway example: no real service behind this route; this is what it would receive"


def _dump(value):
    # As iam-gateway's nlohmann::json dump: keys sorted, no spaces, UTF-8 kept.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parsed(text):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text if isinstance(text, str) else text.decode("utf-8", "replace")


class Forwarded:
    """An authorised request as the gateway rewrote it: its body carries the authorised
    workspace and `actor` (the caller's handle)."""
    __slots__ = ("operation", "workspace", "flow", "body", "actor")

    def __init__(self, operation, workspace, flow, body, actor):
        self.operation, self.workspace, self.flow, self.body, self.actor = operation, workspace, flow, body, actor


class EchoBackend:
    """NOT A REAL SERVICE (as examples/gateway/backend.cpp): answers every call with
    {"echo-backend": true, ...} describing what it received. An application passes its own
    object with these three methods to Gateway."""

    @staticmethod
    def _describe(request):
        out = {"echo-backend": True, "note": NOTE, "operation": request.operation, "actor": request.actor}
        if request.workspace:
            out["workspace"] = request.workspace
        if request.flow:
            out["flow"] = request.flow
        return out

    def call(self, request):
        """A request/response call: (status, JSON object text)."""
        out = self._describe(request)
        out["request"] = _parsed(request.body)
        return 200, _dump(out)

    def stream_opened(self, stream):
        """A flow import/export stream opened: a first frame to send, or None."""
        return _dump(self._describe(stream))

    def stream_frame(self, stream, frame):
        """A frame received on a stream: a frame to send back, or None."""
        out = self._describe(stream)
        out["received"] = _parsed(frame)
        return _dump(out)


# ------------------------------------------------------------------ logging

def _now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_line(fields):
    sys.stderr.write(json.dumps(fields, separators=(",", ":"), ensure_ascii=False) + "\n")
    sys.stderr.flush()


class _JsonLogHandler(logging.Handler):
    """aiohttp's and asyncio's own complaints as JSON lines (stderr holds nothing else but
    the library's "iam warning:" lines). The message only: a traceback may quote a request."""

    def emit(self, record):
        _write_line({"event": "server_log", "level": record.levelname.lower(), "logger": record.name,
                     "message": record.getMessage()[:500]})


def library_logger(level, message):
    """The library's warnings and errors on stderr as iam-gateway writes them; info lines
    are dropped (refusal reasons are already in the request's access-log line)."""
    name = str(getattr(level, "name", level)).lower()
    if name in ("warning", "error"):
        sys.stderr.write(f"iam {name}: {message}\n")
        sys.stderr.flush()


def address_throttle_key(address):
    """The client-address throttle's key: an IPv4 address as is (also IPv4-mapped), an IPv6
    address as its /64 (one subscriber commonly holds a whole /64)."""
    text = (address or "").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return address or ""
    if ip.version == 4:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return f"{ipaddress.IPv6Network((ip, 64), strict=False).network_address}/64"


def _resident_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ------------------------------------------------------------------ the gateway

class Gateway:
    """The aiohttp application of the gateway: Gateway(...).app(). `regime` answers the IAM
    operations; `enforcer` (an iam.Enforcer on it) enforces; `signing_keys` (a RolesRegime,
    default `regime` when it is one) is published at /api/v1/auth/jwks."""

    def __init__(self, regime, enforcer, *, backend=None, signing_keys=None, address_free_failures=20,
                 workers=2, max_iam_body=IAM_BODY_LIMIT, max_service_body=SERVICE_BODY_LIMIT,
                 max_socket_message=16 << 20, audit=None):
        self.enforcer = enforcer
        self.audit = audit  # an iam.AuditSink for gateway.request events, or None
        self.iam = _iam.IamService(regime)
        self.backend = backend or EchoBackend()
        self.signing_keys = signing_keys if signing_keys is not None else (
            regime if hasattr(regime, "jwks") else None)
        self.address_throttle = _iam.Throttle(free_failures=address_free_failures,
                                              enabled=address_free_failures > 0)
        self.workers = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers),
                                                             thread_name_prefix="iam-password")
        self.max_iam_body = max_iam_body
        self.max_service_body = max_service_body
        self.max_socket_message = max_socket_message
        self.sockets = weakref.WeakSet()

    def app(self):
        app = web.Application(middlewares=[self._access_log, middleware(
            self.enforcer, max_iam_body=self.max_iam_body, max_service_body=self.max_service_body)],
            client_max_size=max(self.max_iam_body, self.max_service_body))
        app.router.add_route("*", "/{tail:.*}", self._handle,
                             expect_handler=expect_handler(self.max_iam_body, self.max_service_body))
        app.on_response_prepare.append(self._headers)
        app.on_shutdown.append(self._close_sockets)
        return app

    # -------------------------------------------------------------- plumbing

    @staticmethod
    async def _headers(request, response):
        response.headers["Server"] = "iam-gateway"
        response.headers["X-Request-Id"] = str(request_id(request))

    def access_line(self, request, status):
        """The request's line: never a body, a header or the query (a ?token= credential)."""
        fields = {"time": _now_rfc3339(), "request_id": request_id(request), "method": request.method,
                  "path": request.raw_path.split("?", 1)[0], "status": status}
        noted = request.get("iam_log", {})
        for key in ("principal", "operation", "reason"):
            if noted.get(key):
                fields[key] = noted[key]
        fields["latency_ms"] = (time.monotonic() - request["iam_started"]) * 1000.0
        self.finished(fields, request.remote or "", noted.get("workspace", ""))

    def finished(self, line, client, workspace=""):
        """A finished request or frame: its access-log line, and TrustGraph's gateway.request
        audit event (the line's fields, the authorised workspace and the client's address)."""
        _write_line(line)
        if self.audit is None:
            return
        fields = [(key, value if isinstance(value, str) else json.dumps(value))
                  for key, value in ((k, line.get(k)) for k in ("method", "path", "operation", "status", "principal"))
                  if value is not None]
        if workspace:
            fields.append(("workspace", workspace))
        fields += [(key, json.dumps(line[key])) for key in ("latency_ms", "request_id") if key in line]
        if client:
            fields.append(("client_ip", client))
        _iam.record_gateway_request(self.audit, fields)

    @web.middleware
    async def _access_log(self, request, handler):
        request_id(request)
        try:
            response = await handler(request)
        except web.HTTPException as refused:  # aiohttp's own (never ours)
            response = refused
        except asyncio.CancelledError:
            raise
        except Exception as error:  # fail closed, and never a traceback to the client
            logging.getLogger("iam.gateway").error("request %s failed: %s", request_id(request), type(error).__name__)
            note(request, reason="internal error")
            response = answer(500, _iam.MASKED["internal_error"])
        if not request.get("iam_logged"):
            self.access_line(request, response.status)
        return response

    async def _close_sockets(self, _app):
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"")

    # -------------------------------------------------------------- routes

    async def _handle(self, request):
        match = request["iam_route"]
        if match.kind == JWKS:
            note(request, operation="jwks")
            document = self.signing_keys.jwks() if self.signing_keys is not None else '{"keys":[]}'
            return answer(200, document.encode())
        if match.kind == SOCKET:
            return await self._socket(request)
        if match.kind == STREAM:
            return await self._stream(request)
        outcome = request["iam"]
        if match.to_backend or match.route not in (_iam.Route.IAM, _iam.Route.NAMED):
            return self._backend_answer(outcome)
        return await self._iam_answer(request, outcome)

    def _backend_answer(self, outcome):
        try:
            status, body = self.backend.call(Forwarded(outcome.operation, outcome.workspace, outcome.flow,
                                                       outcome.body, outcome.handle))
            return answer(status, body.encode() if isinstance(body, str) else body)
        except Exception:  # a backend failure is a 500, never a traceback
            return answer(500, _iam.MASKED["internal_error"])

    async def _iam_answer(self, request, outcome):
        operation, body = outcome.operation, outcome.body
        if operation == "change-password" and outcome.handle:
            # The HTTP route's body is {current_password, new_password}; the IAM operation
            # takes `password` and acts on the caller, never on a user named in the body.
            fields = _parsed(body)
            if isinstance(fields, dict):
                if "current_password" in fields:
                    fields["password"] = fields.pop("current_password")
                fields["user_id"] = outcome.handle
                body = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
        client = address_throttle_key(request.remote)
        guesses = operation in PASSWORD_GUESSES
        if guesses and not self.address_throttle.allowed(client):
            note(request, reason="throttled (client address)")
            return answer(401, _iam.MASKED["auth_failure"])
        context = {"request_id": str(request_id(request)), "client": request.remote or ""}
        if operation in SLOW_OPERATIONS:
            loop = asyncio.get_running_loop()
            status, text, reason = await loop.run_in_executor(
                self.workers, lambda: self.iam.answer(operation, body, **context))
        else:
            status, text, reason = self.iam.answer(operation, body, **context)
        # A success never resets the address: logins to one's own account must not refund
        # guesses at others'.
        if guesses and status == 401:
            self.address_throttle.failed(client)
        note(request, reason=reason)
        return answer(status, text)

    # -------------------------------------------------------------- WebSockets

    def _websocket(self):
        ws = web.WebSocketResponse(max_msg_size=self.max_socket_message, autoping=True, heartbeat=None)
        self.sockets.add(ws)
        return ws

    def _upgraded(self, request):
        self.access_line(request, 101)
        request["iam_logged"] = True

    async def _stream(self, request):
        """A flow import/export stream, authorised at the upgrade (the middleware) and again
        before every frame it forwards: a revoked key, a disabled user or an expired token
        closes it with 1008."""
        outcome, again = request["iam"], request["iam_request"]
        stream = Forwarded(outcome.operation, outcome.workspace, outcome.flow, outcome.body, outcome.handle)
        ws = self._websocket()
        await ws.prepare(request)
        self._upgraded(request)
        first = self.backend.stream_opened(stream)
        if first is not None:
            await ws.send_str(first)
        client = request.remote or ""
        async for message in ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            rid = next_request_id()
            check = self.enforcer.enforce(again, request_id=str(rid), client=client)
            if not check.forward:
                self.finished({"time": _now_rfc3339(), "request_id": rid, "method": "WS",
                               "path": request.raw_path.split("?", 1)[0], "principal": outcome.handle,
                               "outcome": "closed", "status": check.status, "reason": check.reason},
                              client, outcome.workspace)
                await ws.close(code=1008, message=b"")
                break
            data = message.data if message.type == WSMsgType.TEXT else message.data.decode("utf-8", "replace")
            reply = self.backend.stream_frame(stream, data)
            if reply is not None:
                await ws.send_str(reply)
        return ws

    async def _socket(self, request):
        """/api/v1/socket: TrustGraph's first-frame authentication (iam.WebSocketSession),
        per-frame authorisation, replies routed by id."""
        session = _iam.WebSocketSession(self.enforcer)
        ws = self._websocket()
        await ws.prepare(request)
        self._upgraded(request)
        client = request.remote or ""
        pending = set()
        async for message in ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            started = time.monotonic()
            rid = next_request_id()
            frames, forward = session.on_frame(message.data)
            for frame in frames:
                await ws.send_str(frame)
            line = {"time": _now_rfc3339(), "request_id": rid, "method": "WS", "path": "/api/v1/socket"}
            if forward is None:
                line["outcome"] = "answered" if session.authenticated else "unauthenticated"
                line["latency_ms"] = (time.monotonic() - started) * 1000.0
                self.finished(line, client)
                continue
            line.update(principal=forward.handle, operation=forward.operation, outcome="forwarded")
            if forward.service == "iam" and forward.operation in SLOW_OPERATIONS:
                task = asyncio.ensure_future(self._slow_socket_answer(ws, forward, client, rid, line, started))
                pending.add(task)
                task.add_done_callback(pending.discard)
                continue
            await ws.send_str(self.socket_answer(forward, client, rid))
            line["latency_ms"] = (time.monotonic() - started) * 1000.0
            self.finished(line, client, forward.workspace)
        for task in list(pending):
            task.cancel()
        return ws

    async def _slow_socket_answer(self, ws, forward, client, rid, line, started):
        loop = asyncio.get_running_loop()
        frame = await loop.run_in_executor(self.workers, self.socket_answer, forward, client, rid)
        line["latency_ms"] = (time.monotonic() - started) * 1000.0
        self.finished(line, client, forward.workspace)
        if not ws.closed:
            await ws.send_str(frame)

    def socket_answer(self, forward, client, rid):
        """The answer frame for a forwarded socket request (thread-safe: runs on the pool for
        password operations)."""
        if forward.service == "iam":
            # The same per-address budget as the HTTP routes.
            guesses = forward.operation in PASSWORD_GUESSES
            key = address_throttle_key(client) if guesses else ""
            if guesses and not self.address_throttle.allowed(key):
                return _iam.WebSocketSession.auth_failure_frame(forward.id_json)
            frame, status = self.iam.socket_answer(forward.id_json, forward.operation, forward.request,
                                                   request_id=str(rid), client=client)
            if guesses and status == 401:
                self.address_throttle.failed(key)
            return frame
        try:
            status, body = self.backend.call(Forwarded(forward.operation, forward.workspace, forward.flow,
                                                       forward.request, forward.handle))
            if status == 200:
                return _iam.WebSocketSession.response_frame(forward.id_json, body, True)
        except Exception:
            pass
        return _iam.WebSocketSession.internal_error_frame(forward.id_json)


# ------------------------------------------------------------------ deployment

def _parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m iam.gateway",
                                description="A TrustGraph-compatible HTTP + WebSocket gateway on the iam library "
                                            "(aiohttp). Forwarded service routes go to an echo backend.")
    p.add_argument("--port", type=int, default=8888, help="TCP port (0: any free port; default 8888)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--store", default="sqlite:./iam.db", help="memory | sqlite:PATH | postgres:CONNINFO")
    p.add_argument("--regime", default="roles", help="roles | noauth | oidc | roles+oidc")
    p.add_argument("--oidc-config", default="", help="the OIDC regime's JSON file (--regime oidc or roles+oidc)")
    p.add_argument("--bootstrap-mode", default="", help="token | bootstrap (default: $IAM_BOOTSTRAP_MODE)")
    p.add_argument("--bootstrap-token", default="",
                   help="admin API key for token mode (prefer $IAM_BOOTSTRAP_TOKEN: arguments show in ps)")
    p.add_argument("--jwt-lifetime", type=int, default=3600, help="seconds a login JWT lives")
    p.add_argument("--key-grace", type=int, default=0, help="seconds a retired signing key keeps verifying")
    p.add_argument("--password-iterations", type=int, default=600000, help="PBKDF2 iterations for new hashes")
    p.add_argument("--key-file", default="",
                   help="key-encryption key file sealing the signing keys, created (0600) on first use (default: "
                        "$IAM_KEY_ENCRYPTION_KEY_FILE, else for sqlite:PATH the PATH with extension .key)")
    p.add_argument("--auth-ttl", type=int, default=60, help="seconds an authentication or decision is cached")
    p.add_argument("--auth-cache-entries", type=int, default=10000, help="bound of the authentication cache")
    p.add_argument("--decision-cache-entries", type=int, default=100000, help="bound of the decision cache")
    p.add_argument("--address-free-failures", type=int, default=20,
                   help="failed logins from one client address before it is throttled (0: off)")
    p.add_argument("--threads", type=int, default=2,
                   help="iam-gateway's I/O threads; accepted for its command lines (this gateway serves on one "
                        "asyncio event loop: the library's calls release the GIL, password hashing has --workers)")
    p.add_argument("--workers", type=int, default=2, help="threads for password hashing")
    p.add_argument("--max-body", type=int, default=IAM_BODY_LIMIT, help="largest IAM/auth request body (413 above)")
    p.add_argument("--max-service-body", type=int, default=SERVICE_BODY_LIMIT, help="largest forwarded request body")
    p.add_argument("--max-socket-message", type=int, default=16 << 20,
                   help="largest WebSocket message (the connection closes with 1009 above)")
    p.add_argument("--max-header-bytes", type=int, default=16 * 1024,
                   help="largest header line (aiohttp limits each field, not the whole head)")
    p.add_argument("--max-headers", type=int, default=100, help="most header fields in a request")
    p.add_argument("--max-request-line", type=int, default=8 * 1024, help="longest request line in bytes")
    p.add_argument("--idle-timeout", type=int, default=30, help="seconds a connection may wait for a request")
    p.add_argument("--key-rotation-interval", default="",
                   help="rotate the signing key when it has signed this long, e.g. 30d, 12h, 90m (gateways sharing a "
                        "store rotate once between them)")
    p.add_argument("--audit-log", default="",
                   help="append audit events (TrustGraph's AuditEvent envelope, hash-chained JSON lines) to this "
                        "file; SIGHUP reopens it after rotation; check it with iamctl audit-verify")
    p.add_argument("--audit-fsync", default="1000",
                   help="never, every-event, or a number of milliseconds (the binding's sink syncs at its own "
                        "interval for any number)")
    p.add_argument("--audit-authorise-allows", action="store_true",
                   help="also write iam.authorise events that allow (denies are always written)")
    return p.parse_args(argv)


class UsageError(Exception):
    """A configuration the operator must fix (exit 2)."""


def _is_postgres(spec):
    return spec.startswith("postgres:") or spec.startswith("postgresql://")


def key_file_path(options):
    """The key-encryption key file of the store, as iam-gateway finds it
    (examples/common/deployment.cpp): --key-file, $IAM_KEY_ENCRYPTION_KEY_FILE, else beside
    a SQLite file; '' for memory."""
    if options.store == "memory":
        return ""
    if options.key_file:
        return options.key_file
    if os.environ.get("IAM_KEY_ENCRYPTION_KEY_FILE"):
        return os.environ["IAM_KEY_ENCRYPTION_KEY_FILE"]
    if options.store.startswith("sqlite:"):
        path = options.store[len("sqlite:"):]
        if not path:
            return ""
        root, ext = os.path.splitext(path)
        return root + ".key" if ext != ".key" else path + ".key"
    if _is_postgres(options.store):
        raise UsageError("a postgres store needs its key-encryption key file named: --key-file PATH or "
                         "$IAM_KEY_ENCRYPTION_KEY_FILE (the same file for every process using the database; "
                         "created there on first use)")
    return ""


def _create_key_file(path):
    """Writes a fresh random key (64 hex characters, mode 0600) unless one is there; True
    when this call made it. Linked into place from a temporary file: nobody reads half a key."""
    directory = os.path.dirname(path) or "."
    temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp-{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)


def open_store(options):
    """(store, created key file or ''), creating the key file on first use as iam-gateway does."""
    path = key_file_path(options)
    if not path:
        return _iam.open_store(options.store), ""
    if os.path.exists(path):
        return _iam.open_store(options.store, key_file=path), ""
    # No key file: only a store holding no encrypted keys may have one made for it (a store
    # refuses to open without its key exactly when it holds encrypted keys).
    from_environment = os.environ.pop("IAM_KEY_ENCRYPTION_KEY_FILE", None)
    try:
        _iam.open_store(options.store)
    except _iam.InvalidArgument as error:
        if os.path.exists(path):  # another process made it meanwhile
            return _iam.open_store(options.store, key_file=path), ""
        raise UsageError(f"key-encryption key file {path}: missing, and the store holds signing keys encrypted "
                         f"with it: restore the file from its backup, or name it with --key-file ({error})")
    finally:
        if from_environment is not None:
            os.environ["IAM_KEY_ENCRYPTION_KEY_FILE"] = from_environment
    created = _create_key_file(path)
    return _iam.open_store(options.store, key_file=path), (path if created else "")


def open_audit_log(options):
    """The --audit-log sink, or None."""
    if not options.audit_log:
        return None
    fsync = options.audit_fsync
    if fsync not in ("never", "every-event"):
        if not fsync.isdigit() or int(fsync) <= 0:
            raise UsageError("--audit-fsync must be never, every-event or a positive number of milliseconds")
        fsync = "interval"
    return _iam.audit_file_sink(options.audit_log, producer="iam-gateway", fsync=fsync,
                                authorise_allows=options.audit_authorise_allows, logger=library_logger)


def open_regime(options, audit=None):
    """(regime, signing keys regime or None, created key file) for --regime; the regimes
    report to `audit` (an iam.AuditSink) when given."""
    if options.regime not in ("roles", "noauth", "oidc", "roles+oidc"):
        raise UsageError("--regime must be roles, noauth, oidc or roles+oidc")
    oidc_mode = options.regime in ("oidc", "roles+oidc")
    if oidc_mode and not options.oidc_config:
        raise UsageError(f"--regime {options.regime} needs --oidc-config FILE")
    if not oidc_mode and options.oidc_config:
        raise UsageError(f"--oidc-config is only for --regime oidc or roles+oidc (not {options.regime})")
    oidc = None
    if oidc_mode:
        try:
            with open(options.oidc_config, encoding="utf-8") as config:
                text = config.read(1 << 20 + 1)
        except OSError as error:
            raise UsageError(f"--oidc-config {options.oidc_config}: cannot be read: {error.strerror}")
        if len(text) > 1 << 20:
            raise UsageError(f"--oidc-config {options.oidc_config}: larger than 1 MiB")
        try:
            oidc = _iam.oidc_regime(text, logger=library_logger, audit=audit)
        except _iam.InvalidArgument as error:
            raise UsageError(f"--oidc-config {options.oidc_config}: {error}")
        if options.regime == "oidc":
            return oidc, None, ""
    store, created = open_store(options)
    if options.regime == "noauth":
        return _iam.noauth_regime(logger=library_logger), None, created
    if options.bootstrap_mode and options.bootstrap_mode not in ("token", "bootstrap"):
        raise UsageError("--bootstrap-mode must be token or bootstrap")
    roles = _iam.roles_regime(store, bootstrap_mode=options.bootstrap_mode or None,
                              bootstrap_token=options.bootstrap_token or None, logger=library_logger, audit=audit,
                              password_iterations=options.password_iterations, jwt_lifetime=options.jwt_lifetime,
                              key_grace=options.key_grace)
    options.bootstrap_token = ""  # not kept around longer than needed
    if oidc is not None:
        # OIDC first: it recognises only JWTs whose `iss` it trusts; the roles regime takes the rest.
        return _iam.chain_regime([oidc, roles]), roles, created
    return roles, roles, created


def _fail(code, message):
    sys.stderr.write(f"iam-gateway (python): {message}\n")
    return code


async def _serve(options, gateway):
    # Signals first: a SIGTERM right after the "listening" line must be a clean stop, not
    # the default action.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(gateway.app(), handle_signals=False, access_log=None,
                           keepalive_timeout=options.idle_timeout, max_line_size=options.max_request_line,
                           max_field_size=options.max_header_bytes, max_headers=options.max_headers)
    await runner.setup()
    site = web.TCPSite(runner, options.bind, options.port, shutdown_timeout=5, reuse_address=True)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        return _fail(EXIT_UNAVAILABLE, f"cannot listen on {options.bind}:{options.port}: {error.strerror}")
    loop.add_signal_handler(signal.SIGUSR1, lambda: _write_line(
        gateway_counters(gateway, "stats", len(runner.server.connections))))
    if gateway.audit is not None:
        loop.add_signal_handler(signal.SIGHUP, gateway.audit.reopen)  # after log rotation
    port = runner.addresses[0][1]
    _write_line({"event": "listening", "address": options.bind, "port": port, "regime": options.regime,
                 "backend": "echo (example: forwarded routes are echoed, not served)", "server": "python"})
    rotation = None
    if options.rotation_seconds:
        rotation = asyncio.ensure_future(rotate_keys(gateway.signing_keys, options.rotation_seconds, gateway.workers))
    await stop.wait()
    if rotation is not None:
        rotation.cancel()
    await runner.cleanup()
    gateway.workers.shutdown(wait=True, cancel_futures=True)
    if gateway.audit is not None:
        gateway.audit.flush()
    _write_line(gateway_counters(gateway, "stopped", 0))
    return 0


async def rotate_keys(roles, interval, executor):
    """--key-rotation-interval: rotates the signing key once it has signed for `interval`
    seconds, checking at start and every interval/10 (1 s to 1 min), as iam-gateway does
    (examples/gateway/key_rotation.cpp); the store arbitrates between gateways."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            if await loop.run_in_executor(executor, roles.rotate_signing_key_if_due, interval):
                _write_line({"event": "signing_key_rotated", "kid": roles.active_kid or ""})
        except _iam.Error as error:
            _write_line({"event": "key_rotation_failed", "error": str(error)})
        await asyncio.sleep(min(max(interval / 10, 1), 60))


def gateway_counters(gateway, event, connections):
    """The stats / stopped line (iam-gateway's, without its store counters)."""
    return {"event": event, "cached_identities": gateway.enforcer.cached_identities, "connections": connections,
            "rss_kib": _resident_kib()}


def main(argv=None):
    """`python3 -m iam.gateway [flags]`; returns the exit code."""
    options = _parse_args(sys.argv[1:] if argv is None else argv)
    if options.auth_ttl < 0:
        return _fail(EXIT_USAGE, "--auth-ttl must not be negative")
    if options.threads <= 0 or options.workers <= 0:
        return _fail(EXIT_USAGE, "--threads and --workers must be positive")
    if options.idle_timeout <= 0:
        return _fail(EXIT_USAGE, "timeouts must be positive")
    options.rotation_seconds = None
    if options.key_rotation_interval:
        options.rotation_seconds = _iam.parse_key_rotation_interval(options.key_rotation_interval)
        if options.rotation_seconds is None:
            return _fail(EXIT_USAGE, "--key-rotation-interval must be a positive whole number and a unit s, m, h or d "
                                     f"(e.g. 30d, 12h, 90m), at most ten years, not '{options.key_rotation_interval}'")
    if min(options.max_headers, options.max_header_bytes, options.max_request_line, options.max_socket_message) <= 0:
        return _fail(EXIT_USAGE, "limits must be positive")
    handler = _JsonLogHandler()
    for name in ("aiohttp", "asyncio", "iam.gateway"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    try:
        audit = open_audit_log(options)  # before the regime, which reports to it
        regime, signing_keys, created = open_regime(options, audit)
        enforcer = _iam.Enforcer(regime, authentication_ttl=options.auth_ttl, decision_ttl=options.auth_ttl,
                                 authentication_cache_entries=options.auth_cache_entries,
                                 decision_cache_entries=options.decision_cache_entries,
                                 every_workspace_exists=options.regime == "oidc",
                                 max_body_bytes=max(options.max_body, options.max_service_body,
                                                    options.max_socket_message))
    except UsageError as error:
        return _fail(EXIT_USAGE, str(error))
    except _iam.Error as error:
        return _fail(EXIT_UNAVAILABLE if isinstance(error, _iam.InternalError) else EXIT_USAGE, str(error))
    if options.rotation_seconds and signing_keys is None:
        return _fail(EXIT_USAGE, "--key-rotation-interval needs the roles regime (it holds the signing keys)")
    if created:
        _write_line({"event": "key_file_created", "path": created,
                     "note": "the signing keys are sealed with this key: back it up apart from the database; "
                             "without it they cannot be read"})
    gateway = Gateway(regime, enforcer, signing_keys=signing_keys,
                      address_free_failures=options.address_free_failures, workers=options.workers,
                      max_iam_body=options.max_body, max_service_body=options.max_service_body,
                      max_socket_message=options.max_socket_message, audit=audit)
    return asyncio.run(_serve(options, gateway))


if __name__ == "__main__":
    sys.exit(main())
