#!/usr/bin/python3
"""Masked errors over HTTP (docs/gateway.md "What callers see"): every authentication failure
answers the same 401 body, every access-control failure the same 403 body, whatever the
cause, and the responses carry the same headers apart from X-Request-Id / Date /
Content-Length.

The expired-JWT case is real: the gateway runs with --jwt-lifetime 1, a token is taken
first thing, and the script waits until exp + the library's fixed 60 s verification leeway
has passed (the gateway has no flag for the leeway), doing the other cases meanwhile. That
wait makes this script take a little over a minute.

Usage: /usr/bin/python3 gateway_masking.py IAM_GATEWAY"""
import base64
import http.client
import json
import sys
import time

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
LIFETIME = 1   # --jwt-lifetime
LEEWAY = 60    # iam::JwtConfig::leeway default; not configurable through the gateway
AUTH_FAILURE = b'{"error":"auth failure"}'
ACCESS_DENIED = b'{"error":"access denied"}'
IGNORED_HEADERS = {"x-request-id", "date", "content-length"}

c = Checks()


def raw(gw, method, path, body=None, headers=None):
    """(status, body bytes, {lower-case header: value}) through http.client, so the exact
    bytes and every header are visible."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read()
        names = [name.lower() for name, _ in resp.getheaders()]
        c.check(len(names) == len(set(names)), f"{method} {path}: no repeated header: {names}")
        return resp.status, payload, {name.lower(): value for name, value in resp.getheaders()}
    finally:
        conn.close()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def create_user(gw, admin, username, password, roles, workspace=None):
    request = {"operation": "create-user", "user": {"username": username, "name": username, "email": "",
                                                    "password": password, "roles": roles}}
    if workspace:
        request["workspace"] = workspace
    return c.iam_ok(gw, request, admin, f"create-user {username}").get("user", {}).get("id", "")


def create_key(gw, admin, user_id, name):
    return c.iam_ok(gw, {"operation": "create-api-key", "key": {"user_id": user_id, "name": name}}, admin,
                      f"create-api-key {name}").get("api_key_plaintext", "")


def login(gw, username, password):
    status, text = gw.post("/api/v1/auth/login", {"username": username, "password": password})
    c.equal(status, 200, f"login {username}")
    return json.loads(text).get("jwt", "") if status == 200 else ""


def flip_signature_byte(token):
    head, payload, sig = token.split(".")
    raw_sig = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw_sig[10] ^= 0x01  # a whole byte inside the signature (the last base64 char also holds padding bits)
    return f"{head}.{payload}." + base64.urlsafe_b64encode(bytes(raw_sig)).decode().rstrip("=")


with Gateway(EXE, "--bootstrap-mode", "bootstrap", "--jwt-lifetime", str(LIFETIME)) as gw:
    started = time.monotonic()
    admin = c.bootstrap(gw)

    # The token that will expire: taken first so the wait overlaps everything else.
    wally_id = create_user(gw, admin, "wally", "wally-pass-1", ["writer"])
    expiring_login_at = time.time()
    expiring_jwt = login(gw, "wally", "wally-pass-1")
    expiring_exp = json.loads(base64.urlsafe_b64decode(expiring_jwt.split(".")[1] + "==="))["exp"] if expiring_jwt else 0
    c.check(expiring_exp - expiring_login_at <= LIFETIME + 1, f"exp is iat + {LIFETIME} s")

    # Workspaces and the cast.
    for ws in ("acme", "beta"):
        c.iam_ok(gw, {"operation": "create-workspace", "workspace_record": {"id": ws, "name": ws}}, admin,
                   f"create-workspace {ws}")
    wally_key = create_key(gw, admin, wally_id, "wally-key")
    rita_id = create_user(gw, admin, "rita", "rita-pass-1", ["reader"])
    rita_key = create_key(gw, admin, rita_id, "rita-key")
    bob_id = create_user(gw, admin, "bob", "bob-pass-11", ["writer"], workspace="acme")
    bob_key = create_key(gw, admin, bob_id, "bob-key")
    revoked_key_id = c.iam_ok(gw, {"operation": "create-api-key", "key": {"user_id": wally_id, "name": "old"}},
                                admin, "create-api-key old")
    revoked_key = revoked_key_id.get("api_key_plaintext", "")
    dan_id = create_user(gw, admin, "dan", "dan-pass-11", ["writer"])
    dan_key = create_key(gw, admin, dan_id, "dan-key")
    dan_jwt = login(gw, "dan", "dan-pass-11")
    eve_id = create_user(gw, admin, "eve", "eve-pass-11", ["writer"], workspace="beta")
    eve_key = create_key(gw, admin, eve_id, "eve-key")
    eve_jwt = login(gw, "eve", "eve-pass-11")
    good_jwt = login(gw, "rita", "rita-pass-1")

    # Every credential works before it is broken (so the later 401s are caused by the
    # break, and any cached identity has to be dropped).
    for name, token in (("wally key", wally_key), ("revoked key", revoked_key), ("dan key", dan_key),
                        ("dan JWT", dan_jwt), ("eve key", eve_key), ("eve JWT", eve_jwt), ("rita JWT", good_jwt),
                        ("wally expiring JWT", expiring_jwt)):
        c.equal(gw.iam({"operation": "whoami"}, token)[0], 200, f"{name} works before")

    c.iam_ok(gw, {"operation": "revoke-api-key", "key_id": revoked_key_id.get("api_key", {}).get("id")}, admin,
               "revoke-api-key")
    c.iam_ok(gw, {"operation": "disable-user", "user_id": dan_id}, admin, "disable-user dan")
    c.iam_ok(gw, {"operation": "disable-workspace", "workspace_record": {"id": "beta"}}, admin,
               "disable-workspace beta")

    whoami = {"operation": "whoami"}
    unauthenticated = {
        "no Authorization header": {},
        "empty Bearer": {"Authorization": "Bearer "},
        "Basic scheme": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "garbage": bearer("garbage"),
        "a.b": bearer("a.b"),
        "tg_": bearer("tg_"),
        "x.y.z": bearer("x.y.z"),
        "unknown tg_ key": bearer("tg_" + "A" * 32),
        "revoked key": bearer(revoked_key),
        "JWT with a flipped signature byte": bearer(flip_signature_byte(good_jwt)),
        "JWT with alg none": bearer(base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=") + "."
                                    + good_jwt.split(".")[1] + "."),
        "disabled user's key": bearer(dan_key),
        "disabled user's JWT": bearer(dan_jwt),
        "disabled workspace's user's key": bearer(eve_key),
        "disabled workspace's user's JWT": bearer(eve_jwt),
    }
    refusals = {}  # cause -> (status, body, headers)
    for cause, headers in unauthenticated.items():
        refusals[cause] = raw(gw, "POST", "/api/v1/iam", whoami, headers)
    # The same masking on the other routes.
    refusals["no credential on /api/v1/config"] = raw(gw, "POST", "/api/v1/config", {"operation": "get"})
    refusals["revoked key on a flow service"] = raw(gw, "POST", "/api/v1/flow/f1/service/agent", {}, bearer(revoked_key))
    refusals["disabled user's JWT on change-password"] = raw(
        gw, "POST", "/api/v1/auth/change-password", {"current_password": "dan-pass-11", "new_password": "x-pass-123"},
        bearer(dan_jwt))
    refusals["login with a wrong password"] = raw(gw, "POST", "/api/v1/auth/login",
                                                  {"username": "rita", "password": "wrong-pass"})
    refusals["login of a disabled user"] = raw(gw, "POST", "/api/v1/auth/login",
                                               {"username": "dan", "password": "dan-pass-11"})
    refusals["second bootstrap"] = raw(gw, "POST", "/api/v1/auth/bootstrap", {})

    # Access-control failures.
    forbidden = {
        "writer list-users": ("/api/v1/iam", {"operation": "list-users"}, wally_key),
        "writer create-user": ("/api/v1/iam", {"operation": "create-user", "user": {
            "username": "mallory", "password": "mallory-pass-1", "roles": ["admin"]}}, wally_key),
        "writer disable-user": ("/api/v1/iam", {"operation": "disable-user", "user_id": rita_id}, wally_key),
        "writer create-api-key for another user": ("/api/v1/iam", {"operation": "create-api-key",
                                                                   "key": {"user_id": rita_id, "name": "k"}}, wally_key),
        "writer create-api-key for self": ("/api/v1/iam", {"operation": "create-api-key",
                                                           "key": {"user_id": wally_id, "name": "k"}}, wally_key),
        "writer list-api-keys": ("/api/v1/iam", {"operation": "list-api-keys", "user_id": rita_id}, wally_key),
        "writer revoke-api-key": ("/api/v1/iam", {"operation": "revoke-api-key", "key_id": "x"}, wally_key),
        "writer create-workspace": ("/api/v1/iam", {"operation": "create-workspace",
                                                    "workspace_record": {"id": "evil"}}, wally_key),
        "writer disable-workspace": ("/api/v1/iam", {"operation": "disable-workspace",
                                                     "workspace_record": {"id": "acme"}}, wally_key),
        "writer list-workspaces": ("/api/v1/iam", {"operation": "list-workspaces"}, wally_key),
        "writer rotate-signing-key": ("/api/v1/iam", {"operation": "rotate-signing-key"}, wally_key),
        "writer list-signing-keys": ("/api/v1/iam", {"operation": "list-signing-keys"}, wally_key),
        "writer (JWT) list-users": ("/api/v1/iam", {"operation": "list-users"}, expiring_jwt),
        "writer of acme reading default's config": ("/api/v1/config", {"operation": "get", "workspace": "default"},
                                                    bob_key),
        "writer of default reading acme's config": ("/api/v1/config", {"operation": "get", "workspace": "acme"},
                                                    wally_key),
        "writer of default reading an unknown workspace's config": (
            "/api/v1/config", {"operation": "get", "workspace": "no-such-ws"}, wally_key),
        "writer of acme on a flow of default": ("/api/v1/flow/f1/service/agent", {"workspace": "default"}, bob_key),
        "reader writing config": ("/api/v1/config", {"operation": "put", "values": []}, rita_key),
        "reader (JWT) writing config": ("/api/v1/config", {"operation": "delete", "keys": []}, good_jwt),
        "reader writing documents": ("/api/v1/librarian", {"operation": "add-document"}, rita_key),
    }
    denials = {cause: raw(gw, "POST", path, body, bearer(token)) for cause, (path, body, token) in forbidden.items()}
    # The same callers are allowed what their roles grant (the 403s are about the cause).
    c.equal(raw(gw, "POST", "/api/v1/config", {"operation": "get"}, bearer(rita_key))[0], 200, "reader reads config")
    c.equal(raw(gw, "POST", "/api/v1/config", {"operation": "get"}, bearer(bob_key))[0], 200, "acme writer reads acme")
    c.equal(raw(gw, "POST", "/api/v1/iam", whoami, bearer(good_jwt))[0], 200, "a sound JWT is accepted")

    # The expired JWT: still accepted before exp + leeway, refused after.
    c.equal(raw(gw, "POST", "/api/v1/iam", whoami, bearer(expiring_jwt))[0], 200,
            f"the short-lived JWT still works inside the {LEEWAY} s leeway")
    wait = expiring_exp + LEEWAY + 1.5 - time.time()
    print(f"waiting {max(wait, 0):.1f} s for the short-lived JWT to expire (exp + {LEEWAY} s leeway)", flush=True)
    if wait > 0:
        time.sleep(wait)
    refusals["expired JWT"] = raw(gw, "POST", "/api/v1/iam", whoami, bearer(expiring_jwt))
    refusals["expired JWT on a flow service"] = raw(gw, "POST", "/api/v1/flow/f1/service/agent", {},
                                                    bearer(expiring_jwt))

    # ---- the 401s
    reference_401 = refusals["no Authorization header"]
    for cause, (status, body, headers) in refusals.items():
        c.equal((status, body), (401, AUTH_FAILURE), f"401 body for: {cause}")
        c.equal({k: v for k, v in headers.items() if k not in IGNORED_HEADERS},
                {k: v for k, v in reference_401[2].items() if k not in IGNORED_HEADERS}, f"401 headers for: {cause}")
    # ---- the 403s
    reference_403 = denials["writer list-users"]
    for cause, (status, body, headers) in denials.items():
        c.equal((status, body), (403, ACCESS_DENIED), f"403 body for: {cause}")
        c.equal({k: v for k, v in headers.items() if k not in IGNORED_HEADERS},
                {k: v for k, v in reference_403[2].items() if k not in IGNORED_HEADERS}, f"403 headers for: {cause}")
    # 401 and 403 differ only in status and body.
    c.equal(set(reference_401[2]) - IGNORED_HEADERS, set(reference_403[2]) - IGNORED_HEADERS,
            "401 and 403 carry the same header names")
    c.equal({k: v for k, v in reference_401[2].items() if k not in IGNORED_HEADERS},
            {k: v for k, v in reference_403[2].items() if k not in IGNORED_HEADERS}, "401 and 403 header values")
    c.check("x-request-id" in reference_401[2], "X-Request-Id is present")
    c.equal(reference_401[2].get("content-type"), "application/json", "Content-Type of a refusal")
    elapsed = time.monotonic() - started

print(f"{len(refusals)} 401 causes, {len(denials)} 403 causes; took {elapsed:.1f} s")
c.done()
