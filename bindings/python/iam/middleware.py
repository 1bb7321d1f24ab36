"""iam.middleware — the aiohttp middleware that enforces TrustGraph's HTTP surface with the
library's gateway kit (also iam.gateway.middleware); iam.gateway's server is built on it.

Python does the HTTP plumbing only: which route a URL names (as iam-gateway matches them,
examples/gateway/handler.cpp), reading the body within its limit, and sending the answer.
Authentication, authorisation, the workspace checks and the masked refusals are the kit's
Enforcer's (C++), byte for byte those of iam-gateway.

    from aiohttp import web
    import iam, iam.middleware

    regime = iam.roles_regime(iam.open_store("sqlite:app.db"))
    async def config(request):
        outcome = request["iam"]          # authorised: outcome.body is the rewritten request
        return web.json_response({"workspace": outcome.workspace, "actor": outcome.handle})
    app = web.Application(middlewares=[iam.middleware.middleware(regime)])
    app.router.add_post("/api/v1/config", config)
"""
import itertools
import time
from dataclasses import dataclass

from aiohttp import web

from ._iam import Enforcer, GatewayRequest, Route

NOT_FOUND = "not_found"      # 404 {"error":"not found"}
BAD_METHOD = "bad_method"    # 405 {"error":"method not allowed"}
ENFORCED = "enforced"        # a GatewayRequest goes through the Enforcer
JWKS = "jwks"                # GET /api/v1/auth/jwks
SOCKET = "socket"            # GET /api/v1/socket: WebSocket, first-frame auth
STREAM = "stream"            # GET /api/v1/flow/{flow}/import|export/{kind}: WebSocket, ?token=

# Workspace ids have at most 64 characters (protocol.md): a longer ?workspace= is refused.
MAX_QUERY_WORKSPACE = 64


@dataclass
class RouteMatch:
    kind: str = NOT_FOUND
    route: Route = Route.IAM
    name: str = ""
    flow: str = ""
    workspace: str = ""
    ignore_body: bool = False  # bootstrap, bootstrap-status: the body is not read as JSON
    iam_route: bool = False    # /api/v1/iam and /api/v1/auth/*: the smaller body limit applies
    to_backend: bool = False   # a named route served by the backend, not the IAM dispatcher
    bad_query: bool = False    # a ?workspace= no workspace id can match (400 before anything else)


def path_of(target):
    """The path part of a target, without the query (which may hold a ?token= credential)."""
    return target.split("?", 1)[0]


def _hex(c):
    return int(c, 16) if c in "0123456789abcdefABCDEF" else -1


def query_value(target, name):
    """The percent-decoded value of the first `name=` in the target's query; '' when absent."""
    _, sep, query = target.partition("?")
    if not sep:
        return ""
    for pair in query.split("&"):
        key, eq, raw = pair.partition("=")
        if not eq or key != name:
            continue
        out = bytearray()
        i = 0
        data = raw.encode("utf-8", "surrogateescape")
        while i < len(data):
            c = chr(data[i])
            if c == "%" and i + 2 < len(data) and _hex(chr(data[i + 1])) >= 0 and _hex(chr(data[i + 2])) >= 0:
                out.append(_hex(chr(data[i + 1])) * 16 + _hex(chr(data[i + 2])))
                i += 3
                continue
            out.append(ord(" ") if c == "+" else data[i])
            i += 1
        return out.decode("utf-8", "surrogateescape")
    return ""


def _with_method(match, method, wanted):
    if method != wanted:
        return RouteMatch(kind=BAD_METHOD, iam_route=match.iam_route)
    return match


def _enforced(route, name="", flow=""):
    return RouteMatch(kind=ENFORCED, route=route, name=name, flow=flow)


def _outside_registry(name, method, wanted):
    # A route TrustGraph gates outside its registry, served by the backend; its body is not read.
    return _with_method(RouteMatch(kind=ENFORCED, route=Route.NAMED, name=name, to_backend=True, ignore_body=True),
                        method, wanted)


def _take_query_workspace(match, target):
    match.workspace = query_value(target, "workspace")
    if len(match.workspace) > MAX_QUERY_WORKSPACE:
        match.workspace = ""
        match.bad_query = True
    return match


def match_route(method, target):
    """Method ("GET", "POST", ...) and raw target (path plus optional query) to a RouteMatch."""
    parts = [p for p in path_of(target).split("/") if p]  # empty segments ("//") dropped
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "metrics":
        return _outside_registry("http:metrics", method, "GET")
    if len(parts) < 3 or parts[0] != "api" or parts[1] != "v1":
        return RouteMatch()
    head = parts[2]
    if len(parts) == 3 and head == "import-core":
        return _outside_registry("http:import-core", method, "POST")
    if len(parts) == 3 and head == "export-core":
        return _outside_registry("http:export-core", method, "GET")
    if len(parts) == 3 and head == "document-stream":
        return _take_query_workspace(_outside_registry("http:document-stream", method, "GET"), target)
    if len(parts) == 5 and head == "i18n" and parts[3] == "packs":
        return _outside_registry("http:i18n-packs", method, "GET")
    if head == "iam" and len(parts) == 3:
        match = _enforced(Route.IAM)
        match.iam_route = True
        return _with_method(match, method, "POST")
    if head == "auth":
        if len(parts) != 4:
            return RouteMatch()
        what = parts[3]
        if what == "jwks":
            return _with_method(RouteMatch(kind=JWKS, iam_route=True), method, "GET")
        if what not in ("login", "bootstrap", "bootstrap-status", "change-password"):
            return RouteMatch()
        match = _enforced(Route.NAMED, what)
        match.iam_route = True
        match.ignore_body = what in ("bootstrap", "bootstrap-status")
        return _with_method(match, method, "POST")
    if head == "socket" and len(parts) == 3:
        return _with_method(RouteMatch(kind=SOCKET), method, "GET")
    # POST /api/v1/flow alone is the `flow` service; only longer paths are flow-level.
    if head == "flow" and len(parts) > 3:
        if len(parts) < 6:
            return RouteMatch()
        flow = parts[3]
        if parts[4] == "service":
            return _with_method(_enforced(Route.FLOW_SERVICE, "/".join(parts[5:]), flow), method, "POST")
        if parts[4] in ("import", "export") and len(parts) == 6:
            match = _enforced(Route.FLOW_IMPORT if parts[4] == "import" else Route.FLOW_EXPORT, parts[5], flow)
            match.kind = STREAM
            return _with_method(_take_query_workspace(match, target), method, "GET")
        return RouteMatch()
    if len(parts) == 3:
        return _with_method(_enforced(Route.SERVICE, head), method, "POST")
    return RouteMatch()


IAM_BODY_LIMIT = 1 << 20        # /api/v1/iam and /api/v1/auth/*: 413 above this
SERVICE_BODY_LIMIT = 16 << 20   # forwarded service routes

NOT_FOUND_BODY = b'{"error":"not found"}'
BAD_METHOD_BODY = b'{"error":"method not allowed"}'
BAD_QUERY_BODY = b'{"error":"invalid query"}'
TOO_LARGE_BODY = b'{"error":"request body too large"}'
UPGRADE_REQUIRED_BODY = b'{"error":"websocket upgrade required"}'

_request_ids = itertools.count(1)


def next_request_id():
    """A fresh id (WebSocket frames share the HTTP requests' sequence)."""
    return next(_request_ids)


def request_id(request):
    """This request's id (X-Request-Id, the access log's request_id), given on first use."""
    if "iam_request_id" not in request:
        request["iam_request_id"] = next(_request_ids)
        request["iam_started"] = time.monotonic()
    return request["iam_request_id"]


def note(request, **fields):
    """Adds fields (principal, operation, reason, workspace) to the request's access-log line."""
    request.setdefault("iam_log", {}).update({k: v for k, v in fields.items() if v})


# Reason phrases where Python's (RFC 2616) differ from iam-gateway's (RFC 9110).
_REASONS = {413: "Payload Too Large"}


def answer(status, body):
    """A JSON answer with exactly the status line and headers iam-gateway sends (Server and
    X-Request-Id are added for every response by iam.gateway's on_response_prepare hook)."""
    return web.Response(status=status, reason=_REASONS.get(status), body=body,
                        headers={"Content-Type": "application/json"})


class BodyTooLarge(Exception):
    pass


async def read_body(request, limit):
    """The whole body, or BodyTooLarge as soon as it (announced or received) exceeds `limit`."""
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge()
    chunks, total = [], 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge()
        chunks.append(chunk)


def too_large(request):
    """413, and the connection closes after it (the rest of the body is read and dropped
    first, up to aiohttp's lingering time, so a client still sending reads the answer)."""
    note(request, reason="body too large")
    response = answer(413, TOO_LARGE_BODY)
    response.force_close()
    return response


def body_limit(match, max_iam_body, max_service_body):
    return max_iam_body if match.iam_route else max_service_body


def expect_handler(max_iam_body=IAM_BODY_LIMIT, max_service_body=SERVICE_BODY_LIMIT, route=match_route):
    """An aiohttp expect_handler for `Expect: 100-continue`: 100 Continue only when the
    announced length fits the route's limit; otherwise nothing, and the middleware answers
    413 from Content-Length alone, without reading the body."""
    async def expect(request):
        if request.version < (1, 1) or request.headers.get("Expect", "").lower() != "100-continue":
            return
        match = route(request.method, request.raw_path)
        length = request.content_length
        if length is not None and length > body_limit(match, max_iam_body, max_service_body):
            return
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    return expect


def _gateway_request(match, body):
    return GatewayRequest(match.route, name=match.name, flow=match.flow, workspace=match.workspace, body=body)


def middleware(enforcer, *, max_iam_body=IAM_BODY_LIMIT, max_service_body=SERVICE_BODY_LIMIT,
               route=match_route):
    """An aiohttp middleware enforcing TrustGraph's HTTP surface (docs/gateway.md).

    `enforcer` is an iam.Enforcer, or a regime (an Enforcer with default caches is built
    for it). For each request the route table (`route(method, raw_target)`, default
    TrustGraph's) names the operation; the Enforcer authenticates the Bearer credential,
    authorises, checks the workspace and rewrites the body. A refusal is answered here with
    the masked status and body; a forwarded request reaches the handler with
    `request["iam"]`: an iam.Outcome whose `.body` is the rewritten JSON (authorised
    `workspace` and `actor` written in), `.operation`, `.workspace`, `.flow`, `.handle`
    (the caller's id) and `.identity`. Unknown paths are 404 (fail closed). WebSocket
    routes: /api/v1/socket reaches the handler unauthenticated (first-frame auth is the
    handler's, with iam.WebSocketSession); a flow import/export stream is enforced with its
    ?token= and reaches the handler with request["iam"] and request["iam_request"] (the
    GatewayRequest to enforce again before each frame)."""
    if not isinstance(enforcer, Enforcer):
        enforcer = Enforcer(enforcer)

    @web.middleware
    async def iam_enforcement(request, handler):
        rid = request_id(request)
        match = route(request.method, request.raw_path)
        request["iam_route"] = match
        if match.kind == NOT_FOUND:
            note(request, reason="no such route")
            return answer(404, NOT_FOUND_BODY)
        if match.kind == BAD_METHOD:
            note(request, reason="method not allowed")
            return answer(405, BAD_METHOD_BODY)
        if match.kind == JWKS:
            return await handler(request)
        try:
            body = await read_body(request, body_limit(match, max_iam_body, max_service_body))
        except BodyTooLarge:
            if request.headers.get("Expect", "").lower() == "100-continue":
                # The client waits for 100 Continue and will never send the body: end the
                # payload so the connection closes at once, not after aiohttp's lingering time.
                request.content.feed_eof()
            return too_large(request)
        if match.kind in (SOCKET, STREAM):
            if not web.WebSocketResponse().can_prepare(request).ok:
                note(request, reason="not a websocket upgrade")
                return answer(426, UPGRADE_REQUIRED_BODY)
            if match.kind == SOCKET:
                return await handler(request)
        if match.bad_query:
            note(request, reason="workspace in the query too long")
            return answer(400, BAD_QUERY_BODY)
        if match.ignore_body or match.kind == STREAM:
            body = b""
        gateway_request = _gateway_request(match, body)
        if match.kind == STREAM:
            gateway_request.set_query_token(request.raw_path.partition("?")[2])
        else:
            gateway_request.set_authorization(request.headers.get("Authorization"))
        outcome = enforcer.enforce(gateway_request, request_id=str(rid), client=request.remote or "")
        note(request, principal=outcome.handle, operation=outcome.operation, workspace=outcome.workspace)
        if not outcome.forward:
            note(request, reason=outcome.reason)
            return answer(outcome.status, outcome.body)
        request["iam"] = outcome
        if match.kind == STREAM:
            request["iam_request"] = gateway_request
        else:
            gateway_request.clear_credential()
        return await handler(request)

    return iam_enforcement
