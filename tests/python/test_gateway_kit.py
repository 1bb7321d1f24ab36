"""The gateway kit through the binding (bindings/python/src/gateway_kit.cpp): Enforcer,
GatewayRequest / Outcome, WebSocketSession, IamService, Throttle and the answer helpers.
The same C++ the Python gateway (iam.gateway) is built from."""
import json
import threading

import pytest

import iam
from conftest import BOOTSTRAP_TOKEN, PASSWORD, World

AUTH_FAILURE = b'{"error":"auth failure"}'
ACCESS_DENIED = b'{"error":"access denied"}'


@pytest.fixture(scope="module")
def kit():
    world = World()
    world.enforcer = iam.Enforcer(world.regime, log_warnings=False)
    return world


def request(route, body, authorization=None, **address):
    r = iam.GatewayRequest(route, body=json.dumps(body).encode(), **address)
    r.set_authorization(authorization)
    return r


def test_masked_bodies_are_the_gateway_md_ones():
    assert iam.MASKED["auth_failure"] == AUTH_FAILURE
    assert iam.MASKED["access_denied"] == ACCESS_DENIED
    assert iam.MASKED["internal_error"] == b'{"error":"internal error"}'
    assert iam.MASKED["invalid_json"] == b'{"error":"invalid json"}'


def test_credentials_come_from_bearer_only_and_are_never_readable():
    r = iam.GatewayRequest(iam.Route.IAM)
    assert not r.has_credential
    r.set_authorization("bEaReR  tg_abc ")
    assert r.has_credential
    for header in (None, "Basic YWRtaW46YWRtaW4=", "Bearer ", ""):
        r.set_authorization(header)
        assert not r.has_credential, header
    r.set_query_token("?workspace=x&token=tg_%41")
    assert r.has_credential
    r.clear_credential()
    assert not r.has_credential
    assert not hasattr(r, "credential")


def test_forwarded_request_is_rewritten(kit):
    outcome = kit.enforcer.enforce(request(iam.Route.SERVICE, {"operation": "get", "actor": "mallory"},
                                           f"Bearer {kit.reader_key}", name="config"),
                                   request_id="r1", client="127.0.0.1")
    assert outcome.forward and outcome.refusal == iam.Refusal.NONE and outcome.status == 200
    assert (outcome.operation, outcome.workspace, outcome.handle) == ("config:get", "default", kit.reader_user.id)
    assert json.loads(outcome.body) == {"operation": "get", "workspace": "default", "actor": kit.reader_user.id}
    assert outcome.identity["handle"] == kit.reader_user.id and outcome.identity["source"] == "api-key"


@pytest.mark.parametrize("route, body, token, address, status, refusal, answer", [
    (iam.Route.IAM, {"operation": "list-users"}, None, {}, 401, iam.Refusal.AUTH_FAILURE, AUTH_FAILURE),
    (iam.Route.IAM, {"operation": "list-users"}, "tg_" + "x" * 32, {}, 401, iam.Refusal.AUTH_FAILURE, AUTH_FAILURE),
    (iam.Route.IAM, {"operation": "list-users"}, "reader", {}, 403, iam.Refusal.ACCESS_DENIED, ACCESS_DENIED),
    (iam.Route.SERVICE, {"operation": "put"}, "reader", {"name": "config"}, 403, iam.Refusal.ACCESS_DENIED,
     ACCESS_DENIED),
    (iam.Route.SERVICE, {"operation": "get"}, "admin", {"name": "nosuchkind"}, 404, iam.Refusal.UNKNOWN_KIND,
     b'{"error":"unknown kind"}'),
    (iam.Route.IAM, {"operation": "no-such-op"}, None, {}, 400, iam.Refusal.UNKNOWN_OPERATION,
     b'{"error":"unknown operation"}'),
    (iam.Route.SERVICE, {"operation": "get", "workspace": "nowhere"}, "admin", {"name": "config"}, 404,
     iam.Refusal.WORKSPACE_NOT_FOUND, b'{"error":"workspace not found"}'),
])
def test_refusals_are_masked(kit, route, body, token, address, status, refusal, answer):
    token = {"reader": kit.reader_key, "admin": BOOTSTRAP_TOKEN}.get(token, token)
    outcome = kit.enforcer.enforce(request(route, body, token and f"Bearer {token}", **address))
    assert (outcome.forward, outcome.status, outcome.refusal, outcome.body) == (False, status, refusal, answer)
    assert outcome.reason  # the precise reason is for the server log


def test_malformed_bodies(kit):
    bad = iam.GatewayRequest(iam.Route.IAM, body=b'{"operation":')
    assert (kit.enforcer.enforce(bad).status, kit.enforcer.enforce(bad).body) == (400, b'{"error":"invalid json"}')
    array = iam.GatewayRequest(iam.Route.IAM, body=b"[1]")
    assert kit.enforcer.enforce(array).body == b'{"error":"request must be a JSON object"}'


def test_caches_stats_and_registry(kit):
    kit.enforcer.clear_caches()
    assert kit.enforcer.cached_identities == 0
    for _ in range(3):
        kit.enforcer.enforce(request(iam.Route.IAM, {"operation": "whoami"}, f"Bearer {kit.reader_key}"))
    assert kit.enforcer.cached_identities == 1
    stats = kit.enforcer.stats()
    assert stats["identities"]["hits"] >= 2 and stats["identities"]["entries"] == 1
    assert kit.enforcer.operation_exists("config:get") and not kit.enforcer.operation_exists("config:nope")
    assert kit.enforcer.has_kind("config") and not kit.enforcer.has_kind("nosuchkind")
    assert kit.enforcer.max_body_bytes == 16 << 20 and kit.enforcer.max_json_depth == 64
    names = {op["name"] for op in json.loads(iam.default_operations_json())["operations"]}
    assert {"login", "config:get", "flow-service:agent"} <= names


def test_cached_authenticate(kit):
    kit.enforcer.clear_caches()
    assert kit.enforcer.authenticate(kit.reader_key).handle == kit.reader_user.id
    assert kit.enforcer.authenticate(kit.reader_key).handle == kit.reader_user.id
    assert kit.enforcer.cached_identities == 1
    for bad in ("tg_" + "0" * 40, "", "not a credential"):
        with pytest.raises(iam.AuthenticationFailed) as caught:
            kit.enforcer.authenticate(bad)
        assert str(caught.value) == str(pytest.raises(iam.AuthenticationFailed, kit.regime.authenticate, bad).value)


def test_bad_configurations_raise(kit):
    with pytest.raises(iam.InvalidArgument):
        iam.Enforcer(kit.regime, authentication_ttl=-1)
    with pytest.raises(iam.InvalidArgument):
        iam.Enforcer(kit.regime, authentication_cache_entries=0)
    with pytest.raises(iam.InvalidArgument):
        iam.Enforcer(kit.regime, max_body_bytes=0)


def test_enforcer_is_shared_between_threads(kit):
    failures = []

    def work():
        for _ in range(200):
            outcome = kit.enforcer.enforce(request(iam.Route.SERVICE, {"operation": "get"},
                                                   f"Bearer {kit.reader_key}", name="config"))
            if not outcome.forward:
                failures.append(outcome.status)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_websocket_session_first_frame_auth(kit):
    session = iam.WebSocketSession(kit.enforcer)
    assert not session.authenticated
    frames, forward = session.on_frame('{"id":"r1","service":"config","request":{"operation":"get"}}')
    assert forward is None and json.loads(frames[0]) == {
        "id": "r1", "error": {"message": "auth failure", "type": "auth-required"}, "complete": True}
    frames, forward = session.on_frame(json.dumps({"type": "auth", "token": "tg_" + "x" * 32}))
    assert json.loads(frames[0]) == {"type": "auth-failed", "error": "auth failure"} and not session.authenticated
    frames, _ = session.on_frame(json.dumps({"type": "auth", "token": kit.reader_key}))
    assert json.loads(frames[0]) == {"type": "auth-ok", "workspace": "default", "default_workspace": "default"}
    frames, forward = session.on_frame(b'{"id":7,"service":"config","request":{"operation":"get"}}')
    assert frames == [] and forward.id_json == "7" and forward.operation == "config:get"
    assert (forward.service, forward.workspace, forward.handle) == ("config", "default", kit.reader_user.id)
    assert json.loads(forward.request)["actor"] == kit.reader_user.id
    frames, forward = session.on_frame('{"id":8,"service":"config","request":{"operation":"put"}}')
    assert forward is None and json.loads(frames[0])["error"]["type"] == "access-denied"
    frames, _ = session.on_frame("not json")
    assert json.loads(frames[0]) == {"error": {"message": "bad message", "type": "error"}, "complete": True}


def test_frame_builders():
    assert json.loads(iam.WebSocketSession.response_frame('"a"', '{"x":1}', True)) == {
        "id": "a", "response": {"x": 1}, "complete": True}
    assert json.loads(iam.WebSocketSession.response_frame('"a"', '[1]'))["error"]["message"] == "internal error"
    assert json.loads(iam.WebSocketSession.internal_error_frame("3")) == {
        "id": 3, "error": {"message": "internal error", "type": "internal-error"}, "complete": True}
    assert json.loads(iam.WebSocketSession.auth_failure_frame('"z"'))["error"]["message"] == "auth failure"


def test_iam_service_answers_masked(kit):
    service = iam.IamService(kit.regime)
    status, body, reason = service.answer("login", json.dumps({"operation": "login", "username": "reader",
                                                                    "password": "wrong"}))
    assert (status, body) == (401, AUTH_FAILURE) and reason
    status, body, reason = service.answer("login", json.dumps({"operation": "login", "username": "reader",
                                                                    "password": PASSWORD}),
                                          request_id="r9", client="10.0.0.1")
    assert status == 200 and set(json.loads(body)) == {"jwt", "jwt_expires"} and reason == ""
    status, body, _ = service.answer("whoami", json.dumps({"operation": "whoami", "user_id": kit.reader_user.id}))
    assert status == 200 and json.loads(body)["user"]["username"] == "reader"
    frame, status = service.socket_answer('"q"', "login", json.dumps(
        {"operation": "login", "username": "reader", "password": "wrong"}))
    assert status == 401 and json.loads(frame) == {
        "id": "q", "error": {"message": "auth failure", "type": "auth-failed"}, "complete": True}
    assert json.loads(service.handle('{"operation":"nope"}'))["error"]["type"] == "invalid-argument"
    assert iam.answer_for_dispatcher_json("login", '{"error":{"type":"not-found","message":"x"}}') == (401, AUTH_FAILURE)


def test_throttle_locks_after_free_failures():
    throttle = iam.Throttle(free_failures=2, first_delay=60)
    for _ in range(2):
        assert throttle.allowed("10.0.0.1")
        throttle.failed("10.0.0.1")
    assert throttle.allowed("10.0.0.1")
    throttle.failed("10.0.0.1")
    assert not throttle.allowed("10.0.0.1") and throttle.allowed("10.0.0.2")
    assert throttle.refusals == 1 and throttle.tracked == 1
    assert iam.Throttle(enabled=False).allowed("x")
