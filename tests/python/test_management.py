"""Every management method of iam.RolesRegime, and every exception class of the binding
raised by the call that should raise it."""
import datetime
import json

import pytest

import iam
from conftest import BOOTSTRAP_TOKEN, PASSWORD, make_regime, quiet, utc

NEW_PASSWORD = "another fine password"


def test_exception_hierarchy():
    classes = {
        "invalid-argument": iam.InvalidArgument, "not-found": iam.NotFound, "duplicate": iam.Duplicate,
        "auth-failed": iam.AuthenticationFailed, "weak-password": iam.WeakPassword, "disabled": iam.Disabled,
        "operation-not-permitted": iam.OperationNotPermitted, "not-supported": iam.NotSupported,
        "internal-error": iam.InternalError,
    }
    for code, cls in classes.items():
        assert issubclass(cls, iam.Error) and cls.code == code and iam.error_class(code) is cls
        assert cls.__doc__
    assert issubclass(iam.Error, Exception) and iam.Error.code is None
    assert issubclass(iam.InvalidArgument, ValueError) and issubclass(iam.NotFound, LookupError)
    with pytest.raises(iam.InvalidArgument):
        iam.error_class("teapot")


def test_users(regime, admin):
    user = regime.create_user("default", username="carol", password=PASSWORD, name="Carol", email="c@example.org",
                              roles=["writer"], must_change_password=False)
    assert (user.username, user.name, user.email, user.roles, user.enabled, user.workspace) == \
        ("carol", "Carol", "c@example.org", ["writer"], True, "default")
    assert isinstance(user.created, datetime.datetime) and user.id in repr(user)
    assert regime.get_user(user.id, workspace="default").username == "carol"
    assert regime.whoami(user.id).id == user.id
    assert {u.username for u in regime.list_users("default")} == {"admin", "carol"}
    assert {u.username for u in regime.list_users()} == {"admin", "carol"}
    updated = regime.update_user(user.id, name="Caroline", roles=["reader"], workspace="default")
    assert (updated.name, updated.roles, updated.email) == ("Caroline", ["reader"], "c@example.org")

    regime.disable_user(user.id, workspace="default")
    assert not regime.get_user(user.id).enabled
    with pytest.raises(iam.AuthenticationFailed):
        regime.login("carol", PASSWORD)
    with pytest.raises(iam.Disabled):
        regime.create_api_key(user.id, "k")
    regime.enable_user(user.id)
    assert regime.login("carol", PASSWORD).jwt

    regime.delete_user(user.id, workspace="default")
    with pytest.raises(iam.NotFound):
        regime.get_user(user.id)
    with pytest.raises(iam.Duplicate):
        regime.create_user("default", username="admin", password=PASSWORD)
    with pytest.raises(iam.WeakPassword):
        regime.create_user("default", username="dave", password="short")
    with pytest.raises(iam.InvalidArgument):
        regime.create_user("default", username="erin")  # no password


def test_passwords(regime):
    user = regime.create_user("default", username="frank", password=PASSWORD)
    regime.change_password(user.id, PASSWORD, NEW_PASSWORD)
    with pytest.raises(iam.AuthenticationFailed):
        regime.change_password(user.id, PASSWORD, NEW_PASSWORD)
    temporary = regime.reset_password(user.id, workspace="default")
    assert isinstance(temporary, str) and len(temporary) >= 8
    assert regime.login("frank", temporary).jwt
    assert regime.get_user(user.id).must_change_password


def test_login_failures_are_masked(regime):
    regime.create_user("default", username="gina", password=PASSWORD)
    failures = []
    for username, password in [("gina", "wrong password!"), ("nobody", PASSWORD), ("", "")]:
        with pytest.raises(iam.AuthenticationFailed) as caught:
            regime.login(username, password)
        failures.append(str(caught.value))
    for credential in ["tg_" + "x" * 40, "a.b.c", "", "garbage"]:
        with pytest.raises(iam.AuthenticationFailed) as caught:
            regime.authenticate(credential)
        failures.append(str(caught.value))
    assert len(set(failures)) == 1, failures


def test_login_into_a_workspace_and_throttle(regime):
    regime.create_user("default", username="hank", password=PASSWORD)
    assert regime.login("hank", PASSWORD, "default").jwt
    assert regime.login_throttle_refusals == 0
    for _ in range(7):  # five free failures, the sixth locks, the seventh is refused
        with pytest.raises(iam.AuthenticationFailed):
            regime.login("hank", "not the password")
    assert regime.login_throttle_refusals == 1


def test_workspaces(regime):
    created = regime.create_workspace("research", name="Research")
    assert (created.id, created.name, created.enabled) == ("research", "Research", True)
    assert isinstance(created.created, datetime.datetime) and "research" in repr(created)
    assert regime.get_workspace("research").name == "Research"
    assert {w.id for w in regime.list_workspaces()} == {"default", "research"}
    assert regime.update_workspace("research", name="R&D").name == "R&D"
    assert regime.create_workspace("research", name="Other").name == "R&D"  # idempotent: the stored record
    with pytest.raises(iam.InvalidArgument):
        regime.create_workspace("_hidden")
    regime.disable_workspace("research")
    assert not regime.get_workspace("research").enabled
    with pytest.raises(iam.NotFound):
        regime.get_workspace("nowhere")
    admin_id = regime.authenticate(BOOTSTRAP_TOKEN).handle
    assert "default" in {w.id for w in regime.list_my_workspaces(admin_id)}


def test_api_keys(regime, clock):
    admin_id = regime.authenticate(BOOTSTRAP_TOKEN).handle
    created = regime.create_api_key(admin_id, "ci", expires=clock.now() + datetime.timedelta(days=1))
    assert created.plaintext.startswith(created.record.prefix) and created.record.prefix.startswith("tg_")
    assert created.plaintext not in repr(created)
    assert created.record.expires == clock.now() + datetime.timedelta(days=1)
    text_expiry = regime.create_api_key(admin_id, "text", expires="2099-01-01T00:00:00Z")
    assert text_expiry.record.expires == utc(2099, 1, 1)
    assert regime.resolve_api_key(created.plaintext).user_id == admin_id
    resolved = regime.resolve_api_key(created.plaintext)
    assert resolved.workspace == "default" and resolved.roles == ["admin"] and admin_id in repr(resolved)
    assert {k.name for k in regime.list_api_keys(admin_id)} == {"bootstrap", "ci", "text"}
    assert regime.authenticate(created.plaintext).expires == created.record.expires
    clock.advance(datetime.timedelta(days=1, seconds=1))
    with pytest.raises(iam.AuthenticationFailed):
        regime.authenticate(created.plaintext)
    regime.revoke_api_key(text_expiry.record.id)
    with pytest.raises(iam.AuthenticationFailed):
        regime.authenticate(text_expiry.plaintext)
    with pytest.raises(iam.InvalidArgument):
        regime.create_api_key(admin_id, "past", expires=utc(2000, 1, 1))
    with pytest.raises(iam.InvalidArgument):
        regime.create_api_key(admin_id, "naive", expires=datetime.datetime(2099, 1, 1))
    with pytest.raises(iam.NotFound):
        regime.create_api_key("no-such-user", "k")


def test_actor_rechecks(regime):
    reader = regime.create_user("default", username="ivy", password=PASSWORD, roles=["reader"])
    with pytest.raises(iam.OperationNotPermitted):
        regime.create_workspace("mine", actor=reader.id)
    with pytest.raises(iam.OperationNotPermitted):
        regime.create_user("default", username="jack", password=PASSWORD, actor=reader.id)


def test_bootstrap_mode():
    regime = make_regime(bootstrap_mode="bootstrap", bootstrap_token=None)
    assert regime.bootstrap_available
    result = regime.bootstrap()
    assert regime.authenticate(result.admin_api_key).handle == result.admin_user_id
    assert result.admin_user_id in repr(result) and result.admin_api_key not in repr(result)
    assert not regime.bootstrap_available
    with pytest.raises(iam.AuthenticationFailed):
        regime.bootstrap()


def test_signing_keys_jwks_and_rotation(regime, clock):
    regime.create_user("default", username="kim", password=PASSWORD)
    before = regime.login("kim", PASSWORD).jwt
    kids = {k["kid"] for k in json.loads(regime.jwks())["keys"]}
    active, upcoming = regime.active_kid, regime.next_kid
    assert active in kids and upcoming in kids and active != upcoming
    assert regime.signing_key_public().startswith("-----BEGIN PUBLIC KEY-----")
    regime.rotate_signing_key()
    assert regime.active_kid == upcoming and regime.next_kid not in (active, upcoming)
    assert active in {k["kid"] for k in json.loads(regime.jwks())["keys"]}  # retired, in its grace
    assert regime.authenticate(before).source == "jwt"
    assert not regime.rotate_signing_key_if_due(datetime.timedelta(days=30))
    clock.advance(datetime.timedelta(days=31))
    assert regime.rotate_signing_key_if_due(30 * 86400)
    with pytest.raises(iam.InvalidArgument):
        regime.rotate_signing_key_if_due(0)


def test_configuration_errors():
    store = iam.open_store("memory")
    with pytest.raises(iam.InvalidArgument):
        iam.roles_regime(store, read_environment=False, logger=quiet)  # no bootstrap mode
    with pytest.raises(iam.InvalidArgument):
        iam.roles_regime(store, bootstrap_mode="sometimes", read_environment=False)
    with pytest.raises(iam.InvalidArgument):
        iam.roles_regime(store, bootstrap_mode="token", read_environment=False, logger=quiet)  # no token
    with pytest.raises(iam.InvalidArgument):
        make_regime(store, password_iterations=1000)
    with pytest.raises(iam.InvalidArgument):
        make_regime(store, clock="now")
    with pytest.raises(iam.InvalidArgument):
        make_regime(store, jwt_lifetime="an hour")


def test_internal_error_from_an_application_hook(monkeypatch):
    import sys
    monkeypatch.setattr(sys, "unraisablehook", lambda u: None)

    def refuse(record):
        raise RuntimeError("the application's storage is down")
    regime = iam.noauth_regime(logger=quiet, on_create_workspace=refuse)
    with pytest.raises(iam.InternalError):
        regime.execute({"operation": "create-workspace", "workspace_record": {"id": "w"}})


def test_not_supported_for_a_regime_without_administration():
    oidc = iam.oidc_regime({"issuers": [{"issuer": "https://idp.invalid", "jwks_uri": "http://127.0.0.1:9/",
                                         "audiences": ["a"], "algorithms": ["ES256"],
                                         "roles_claim": "roles"}]}, logger=quiet)
    with pytest.raises(iam.NotSupported):
        oidc.execute({"operation": "list-users"})
