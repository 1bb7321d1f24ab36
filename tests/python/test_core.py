"""The Regime contract through the binding: authenticate, authorise, authorise_many,
execute, identities, decisions, clocks, randomness, audit and logging callbacks."""
import datetime
import json
import sys

import pytest

import iam
from conftest import BOOTSTRAP_TOKEN, PASSWORD, make_regime, quiet, utc


def test_package_exports_the_extension_and_is_documented():
    assert iam.RolesRegime.__mro__[1] is iam.Regime
    assert {"open_store", "roles_regime", "Regime", "AuthenticationFailed"} <= set(iam.__all__)
    assert "open_store" in iam.__doc__
    for name in iam.__all__:
        obj = getattr(iam, name)
        if callable(obj) and not isinstance(obj, dict):
            assert obj.__doc__, name
    assert "release" in iam.Regime.__doc__ and "AuthenticationFailed" in iam.Regime.authenticate.__doc__


def test_authenticate_an_api_key(world):
    who = world.regime.authenticate(world.reader_key)
    assert who.handle == world.reader_user.id
    assert who.workspace == "default"
    assert who.source == "api-key"
    assert who.principal_id
    assert who.expires is None
    assert who == world.reader
    assert "Identity(" in repr(who) and world.reader_key not in repr(who)


def test_authenticate_a_jwt_from_login(world):
    login = world.regime.login("reader", PASSWORD)
    who = world.regime.authenticate(login.jwt)
    assert who.source == "jwt" and who.handle == world.reader_user.id
    assert who.expires == login.expires == world.clock.now() + datetime.timedelta(hours=1)
    assert "<hidden>" in repr(login) and login.jwt not in repr(login)


def test_a_jwt_expires_with_the_injected_clock():
    clock = iam.ManualClock(utc(2030, 1, 1))
    regime = make_regime(clock=clock, jwt_lifetime=datetime.timedelta(minutes=5), jwt_leeway=10)
    regime.create_user("default", username="u", password=PASSWORD, roles=["reader"])
    token = regime.login("u", PASSWORD).jwt
    clock.advance(300)
    assert regime.authenticate(token).source == "jwt"  # within the leeway
    clock.advance(11)
    with pytest.raises(iam.AuthenticationFailed):
        regime.authenticate(token)


def test_authorise(world):
    reader, admin = world.reader, world.admin
    assert world.regime.authorise(reader, "graph:read", {"workspace": "default"})
    assert not world.regime.authorise(reader, "graph:read", {"workspace": "elsewhere"})
    assert not world.regime.authorise(reader, "users:admin", {"workspace": "default"})
    decision = world.regime.authorise(admin, "users:read", {"workspace": "default"}, {"workspace": "default"})
    assert decision.allow is True and decision.ttl == 60
    assert decision == iam.Decision(True, 60) and repr(decision) == "Decision(allow=True, ttl=60)"
    flow = world.regime.authorise(reader, "graph:read", {"workspace": "default", "flow": "f1"})
    assert flow.allow
    # Every way of saying "system level" is the same question.
    assert world.regime.authorise(reader, "graph:read") == world.regime.authorise(reader, "graph:read", {})
    assert not world.regime.authorise(reader, iam_public := "PUBLIC", {"workspace": "default"}), iam_public


def test_authorise_of_an_unknown_identity_is_a_deny(world):
    stranger = iam.Identity(handle="not-a-user", workspace="default", source="api-key")
    assert not world.regime.authorise(stranger, "graph:read", {"workspace": "default"})


def test_authorise_refuses_a_resource_that_is_not_a_mapping_of_str(world):
    with pytest.raises(iam.InvalidArgument):
        world.regime.authorise(world.reader, "graph:read", ["default"])
    with pytest.raises(iam.InvalidArgument):
        world.regime.authorise(world.reader, "graph:read", {"workspace": 7})
    # Any mapping will do, not only a dict.
    import types
    assert world.regime.authorise(world.reader, "graph:read", types.MappingProxyType({"workspace": "default"}))
    with pytest.raises(iam.InvalidArgument):
        world.regime.authorise(world.reader, "graph:read", types.MappingProxyType({"workspace": 7}))


def test_authorise_many_in_request_order(world):
    decisions = world.regime.authorise_many(world.reader, [
        ("graph:read", {"workspace": "default"}),
        {"capability": "users:admin", "resource": {"workspace": "default"}},
        ("graph:read", {"workspace": "other"}, {}),
        ["graph:read", {"workspace": "default"}],
        ("graph:read",),
    ])
    assert [d.allow for d in decisions] == [True, False, False, True, True]
    assert world.regime.authorise_many(world.reader, []) == []
    with pytest.raises(iam.InvalidArgument):
        world.regime.authorise_many(world.reader, ["graph:read"])
    with pytest.raises(iam.InvalidArgument):
        world.regime.authorise_many(world.reader, [{"resource": {}}])


def test_execute_speaks_the_json_protocol(world):
    answer = world.regime.execute({"operation": "resolve-api-key", "api_key": world.reader_key})
    assert answer["resolved_user_id"] == world.reader_user.id
    assert answer["resolved_workspace"] == answer["resolved_default_workspace"] == "default"
    check = world.regime.execute({"operation": "authorise", "user_id": world.reader_user.id,
                                  "capability": "graph:read", "resource_json": json.dumps({"workspace": "default"})})
    assert check["decision_allow"] is True
    with pytest.raises(iam.NotFound):
        world.regime.execute({"operation": "get-user", "user_id": "nobody", "workspace": "default"})
    with pytest.raises(iam.InvalidArgument):
        world.regime.execute({"operation": "no-such-operation"})


def test_execute_json_answers_errors_as_json(world):
    answer = json.loads(world.regime.execute_json('{"operation":"get-workspace","workspace_record":{"id":"default"}}'))
    assert answer["workspace"]["id"] == "default"
    error = json.loads(world.regime.execute_json("not json"))
    assert error["error"]["type"] == "invalid-argument"


def test_identity_and_decision_values():
    expires = utc(2031, 2, 3, 4, 5, 6)
    who = iam.Identity(handle="h", workspace="w", principal_id="p", source="jwt", expires=expires)
    assert (who.handle, who.workspace, who.principal_id, who.source, who.expires) == ("h", "w", "p", "jwt", expires)
    with pytest.raises(iam.InvalidArgument):
        iam.Identity(handle="h", source="password")
    with pytest.raises(iam.InvalidArgument):
        iam.Identity(handle="h", expires=datetime.datetime(2031, 1, 1))  # naive: refused
    assert not iam.Decision(False) and iam.Decision(True, datetime.timedelta(minutes=1)).ttl == 60


def test_manual_clock():
    clock = iam.ManualClock()
    assert clock.now() == utc(2027, 1, 15, 8, 0, 0)
    clock.advance(1.5)
    clock.advance(datetime.timedelta(seconds=1))
    assert clock.now() == utc(2027, 1, 15, 8, 0, 2, 500000)
    clock.set(utc(2030, 6, 1))
    assert clock.now() == utc(2030, 6, 1)
    with pytest.raises(iam.InvalidArgument):
        clock.advance("soon")
    with pytest.raises(iam.InvalidArgument):
        clock.advance(True)
    assert abs(iam.system_clock().now() - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(seconds=5)


def counter_random():
    calls = []

    def fill(n):
        calls.append(n)
        return bytes((len(calls) + i) % 256 for i in range(n))
    return fill, calls


def test_injected_randomness_makes_the_regime_deterministic():
    answers = []
    for _ in range(2):
        fill, calls = counter_random()
        regime = make_regime(bootstrap_mode="bootstrap", bootstrap_token=None, random=fill)
        result = regime.bootstrap()
        assert calls
        answers.append((result.admin_user_id, result.admin_api_key, regime.active_kid))
    assert answers[0] == answers[1]
    assert iam.RandomSource(lambda n: b"\x07" * n).bytes(3) == b"\x07\x07\x07"
    assert len(iam.system_random().bytes(16)) == 16


def test_a_failing_random_callable_falls_back_to_system_randomness(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u))
    short = iam.RandomSource(lambda n: b"x")
    first, second = short.bytes(32), short.bytes(32)
    assert len(first) == 32 and first != second  # not the callable's answer, and random
    assert reported and "random" in str(reported[0].object)

    def broken(n):
        raise RuntimeError("no entropy today")
    regime = make_regime(bootstrap_mode="bootstrap", bootstrap_token=None, random=broken)
    assert regime.bootstrap().admin_api_key.startswith("tg_")
    assert any(isinstance(u.exc_value, RuntimeError) for u in reported)


def test_audit_events_reach_a_python_callable():
    events = []
    regime = make_regime(audit=events.append)
    regime.authenticate(BOOTSTRAP_TOKEN)
    with pytest.raises(iam.AuthenticationFailed):
        regime.authenticate("tg_" + "z" * 40)
    authentications = [e for e in events if e.name == "iam.authenticate"]
    assert [e.field("outcome") for e in authentications][-2:] == ["success", "failure"]
    last = authentications[-1]
    assert last.fields["credential_type"] == "api-key" and last.field("absent") is None
    assert isinstance(last.time, datetime.datetime) and json.loads(last.to_json())["event"] == "iam.authenticate"
    assert "z" * 40 not in last.to_json()  # never the credential
    assert repr(last) == "<iam.AuditEvent iam.authenticate>"


def test_an_audit_callable_that_raises_does_not_break_the_regime(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u))

    def broken(event):
        raise ValueError("sink down")
    regime = make_regime(audit=iam.AuditSink(broken))
    assert regime.authenticate(BOOTSTRAP_TOKEN).source == "api-key"
    assert reported and isinstance(reported[0].exc_value, ValueError)
    with pytest.raises(iam.InvalidArgument):
        make_regime(audit="not callable")


def test_audit_file_sink(tmp_path):
    path = tmp_path / "audit.jsonl"
    sink = iam.audit_file_sink(str(path), producer="pytest", fsync="never")
    regime = make_regime(audit=sink)
    regime.authenticate(BOOTSTRAP_TOKEN)
    sink.flush()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert any(line.get("event_type") == "iam.authenticate" for line in lines)
    assert sink.written >= 1 and sink.dropped == 0
    with pytest.raises(iam.InvalidArgument):
        iam.audit_file_sink(str(path), fsync="sometimes")


def test_logger_callable_hears_the_library():
    heard = []
    iam.noauth_regime(logger=lambda level, message: heard.append((level, message)))
    assert heard and heard[0][0] == "warning" and "noauth" in heard[0][1].lower()


def test_noauth_regime_allows_everything():
    created = []
    regime = iam.noauth_regime(user_id="dev", workspace="ws", logger=quiet, on_create_workspace=created.append)
    assert regime.name == "noauth"
    who = regime.authenticate_anonymous()
    assert (who.handle, who.workspace, who.source) == ("dev", "ws", "anonymous")
    assert regime.authenticate("anything").handle == "dev"
    with pytest.raises(iam.AuthenticationFailed):
        regime.authenticate("a.jwt.shape")
    assert regime.authorise(who, "users:admin", {"workspace": "x"}).ttl == 3600
    regime.execute({"operation": "create-workspace", "workspace_record": {"id": "new"}})
    assert [w.id for w in created] == ["new"]


def test_roles_regime_refuses_anonymous_requests(world):
    with pytest.raises(iam.AuthenticationFailed):
        world.regime.authenticate_anonymous()


OIDC_CONFIG = {"issuers": [{"issuer": "https://idp.invalid", "jwks_uri": "http://127.0.0.1:9/jwks",
                            "audiences": ["iam"], "algorithms": ["EdDSA"], "roles_claim": "roles",
                            "role_map": {"r": "reader"}}]}


def test_oidc_and_chain_regimes(world):
    oidc = iam.oidc_regime(OIDC_CONFIG, logger=quiet)
    assert oidc.name == "oidc"
    assert iam.oidc_regime(json.dumps(OIDC_CONFIG), logger=quiet).name == "oidc"
    with pytest.raises(iam.AuthenticationFailed):
        oidc.authenticate("a.b.c")  # no keys: the provider never answered
    with pytest.raises(iam.NotSupported):
        oidc.execute({"operation": "create-workspace", "workspace_record": {"id": "x"}})
    chain = iam.chain_regime([oidc, world.regime])
    assert chain.authenticate(world.reader_key).handle == world.reader_user.id
    assert chain.authorise(world.reader, "graph:read", {"workspace": "default"})
    with pytest.raises(iam.InvalidArgument):
        iam.oidc_regime({"issuers": []}, logger=quiet)
    with pytest.raises(iam.InvalidArgument):
        iam.chain_regime([])


def test_features_say_what_this_build_has():
    assert set(iam.features) == {"sqlite", "postgres", "oidc_key_fetching"}
    assert all(isinstance(v, bool) for v in iam.features.values())
