#!/usr/bin/python3
"""JWT interoperability and signing-key rotation over HTTP: a token from
/api/v1/auth/login verifies with PyJWT (Debian python3-jwt) given the PEM of
get-signing-key-public and given the JWKS of GET /api/v1/auth/jwks; its claims are those
of docs/protocol.md; after rotate-signing-key the old token keeps working through the grace
period, the JWKS lists both keys (and the next key, published a rotation before it
signs), and after the grace the old key leaves the JWKS and the
old token is refused.

Timing: the grace cannot be shorter than the JWT lifetime + the verification leeway, and
the leeway is the library's fixed 60 s (no gateway flag), so with --jwt-lifetime 2 and
--key-grace 3 the grace is raised to 62 s and this script takes a little over a minute.
(Past the grace the old token is also past exp + leeway: by design no token outlives its
key, so the 401 after the grace cannot be told apart from expiry; the JWKS can.)

Usage: /usr/bin/python3 gateway_jwt_interop.py IAM_GATEWAY"""
import base64
import json
import sys
import time

import jwt  # Debian python3-jwt (PyJWT 2.6) with python3-cryptography
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
LIFETIME = 2        # --jwt-lifetime
GRACE_ASKED = 3     # --key-grace, below the minimum on purpose
LEEWAY = 60         # iam::JwtConfig::leeway default
GRACE = LIFETIME + LEEWAY  # what the library must raise the grace to
ISSUER = "trustgraph-iam"
AUTH_FAILURE = '{"error":"auth failure"}'

c = Checks()


def b64json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def login(gw, username, password):
    status, text = gw.post("/api/v1/auth/login", {"username": username, "password": password})
    c.equal(status, 200, f"login {username}")
    return json.loads(text).get("jwt", "") if status == 200 else ""


def jwks(gw):
    status, text = gw.request("GET", "/api/v1/auth/jwks")
    c.equal(status, 200, "GET /api/v1/auth/jwks")
    return json.loads(text) if status == 200 else {"keys": []}


def kids(document):
    return sorted(k.get("kid") for k in document.get("keys", []))


def pem(gw):
    status, body = gw.iam({"operation": "get-signing-key-public"})
    c.equal(status, 200, "get-signing-key-public")
    return body.get("signing_key_public", "") if isinstance(body, dict) else ""


def pyjwt_decode(token, key, what, expect_ok=True):
    """Verifies with PyJWT. exp is checked with the gateway's own leeway so a slow machine
    does not fail a 2-second token; the signature, alg and issuer are checked strictly."""
    try:
        claims = jwt.decode(token, key, algorithms=["EdDSA"], issuer=ISSUER, leeway=LEEWAY,
                            options={"require": ["exp", "iat", "iss", "sub"]})
        c.check(expect_ok, f"{what}: PyJWT accepted a token it should refuse")
        return claims
    except jwt.PyJWTError as err:
        c.check(not expect_ok, f"{what}: PyJWT refused: {err!r}")
        return None


def jwk_key(document, kid, what):
    """The key for `kid` from the JWKS document, through PyJWKSet / PyJWK."""
    try:
        keyset = jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWTError as err:
        c.check(False, f"{what}: PyJWKSet rejects the gateway's JWKS: {err!r}")
        return None
    found = [k for k in keyset.keys if k.key_id == kid]
    c.equal(len(found), 1, f"{what}: JWKS has exactly one key {kid}")
    if found:
        c.equal((found[0].key_type, found[0].public_key_use, isinstance(found[0].key, Ed25519PublicKey)),
                ("OKP", "sig", True), f"{what}: PyJWK kty, use, an Ed25519 public key")
        return found[0].key
    return None


with Gateway(EXE, "--bootstrap-mode", "bootstrap", "--jwt-lifetime", str(LIFETIME),
             "--key-grace", str(GRACE_ASKED)) as gw:
    started = time.monotonic()
    admin = c.bootstrap(gw)
    status, body = gw.iam({"operation": "create-user", "user": {"username": "alice", "password": "changeme1",
                                                                "roles": ["writer"]}}, admin)
    c.equal(status, 200, "create-user alice")
    alice_id = body.get("user", {}).get("id", "") if isinstance(body, dict) else ""

    # ---------------------------------------------------------------- a token and its claims
    before = int(time.time())
    old_jwt = login(gw, "alice", "changeme1")
    after = int(time.time())
    head, payload, _ = old_jwt.split(".")
    header, claims = b64json(head), b64json(payload)
    old_kid = header.get("kid")
    c.equal(set(header), {"alg", "typ", "kid"}, "JWT header fields")
    c.equal((header.get("alg"), header.get("typ")), ("EdDSA", "JWT"), "JWT header alg/typ")
    c.equal(set(claims), {"iss", "sub", "workspace", "default_workspace", "iat", "exp"}, "JWT claim names")
    c.equal((claims.get("iss"), claims.get("sub"), claims.get("workspace"), claims.get("default_workspace")),
            (ISSUER, alice_id, "default", "default"), "JWT iss, sub, workspace, default_workspace")
    c.check(isinstance(claims.get("iat"), int) and before - 1 <= claims["iat"] <= after + 1,
            f"iat is now in whole seconds: {claims.get('iat')} in [{before}, {after}]")
    c.check(isinstance(claims.get("exp"), int) and claims["exp"] - claims.get("iat", 0) == LIFETIME,
            f"exp = iat + --jwt-lifetime: {claims}")

    # ---------------------------------------------------------------- PyJWT with the PEM and the JWKS
    old_pem = pem(gw)
    verified = pyjwt_decode(old_jwt, old_pem, "login JWT with the PEM")
    c.equal(verified, claims, "PyJWT (PEM) sees the same claims")
    document = jwks(gw)
    published_next = [k for k in kids(document) if k != old_kid]
    c.equal(len(published_next), 1, f"JWKS before rotation: the active key and the next one: {kids(document)}")
    next_kid = published_next[0] if published_next else None
    c.equal(kids(document), sorted([old_kid, next_kid]), "JWKS before rotation: the active key and the next one")
    key = jwk_key(document, old_kid, "before rotation")
    if key is not None:
        c.equal(pyjwt_decode(old_jwt, key, "login JWT with the JWKS"), claims, "PyJWT (JWKS) sees the same claims")
    # The same verification fails on a tampered token (so the checks above can fail).
    forged = dict(claims, sub="someone-else")
    tampered = head + "." + base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=") + "." + \
        old_jwt.split(".")[2]
    pyjwt_decode(tampered, old_pem, "tampered claims with the PEM", expect_ok=False)
    c.equal(gw.post("/api/v1/iam", {"operation": "whoami"}, tampered), (401, AUTH_FAILURE), "the gateway refuses it too")
    c.equal(gw.iam({"operation": "whoami"}, old_jwt)[0], 200, "whoami with the login JWT")

    # ---------------------------------------------------------------- rotation
    c.equal(gw.post("/api/v1/iam", {"operation": "rotate-signing-key"}, admin), (200, "{}"), "rotate-signing-key")
    rotated_at = time.time()
    new_jwt = login(gw, "alice", "changeme1")
    new_kid = b64json(new_jwt.split(".")[0]).get("kid")
    c.check(new_kid and new_kid != old_kid, f"a login after rotation uses a new kid ({old_kid} -> {new_kid})")
    c.equal(new_kid, next_kid, "the new key is the one the JWKS published before the rotation")
    # A client that cached the JWKS before the rotation verifies the new tokens with it.
    key = jwk_key(document, new_kid, "JWKS cached before rotation")
    if key is not None:
        pyjwt_decode(new_jwt, key, "new JWT with the JWKS cached before the rotation")
    new_pem = pem(gw)
    c.check(new_pem and new_pem != old_pem, "get-signing-key-public shows the new active key")
    pyjwt_decode(new_jwt, new_pem, "new JWT with the new PEM")
    pyjwt_decode(old_jwt, new_pem, "old JWT with the new PEM", expect_ok=False)
    document = jwks(gw)
    following = [k for k in kids(document) if k not in (old_kid, new_kid)]
    c.equal(len(following), 1, f"JWKS during the grace: old, new and a fresh next key: {kids(document)}")
    next_kid = following[0] if following else None
    c.equal(kids(document), sorted([old_kid, new_kid, next_kid]), "JWKS during the grace lists the old and new kids")
    for kid, token, what in ((old_kid, old_jwt, "old JWT"), (new_kid, new_jwt, "new JWT")):
        key = jwk_key(document, kid, f"during grace, {kid}")
        if key is not None:
            pyjwt_decode(token, key, f"{what} with its key from the JWKS during the grace")
    c.equal(gw.iam({"operation": "whoami"}, old_jwt)[0], 200, "old JWT authenticates right after rotation")
    c.equal(gw.iam({"operation": "whoami"}, new_jwt)[0], 200, "new JWT authenticates")

    # Well past the --key-grace asked for (3 s) but inside the raised grace (62 s).
    time.sleep(max(0.0, rotated_at + GRACE - 6 - time.time()))
    late = time.time() - rotated_at
    c.equal(kids(jwks(gw)), sorted([old_kid, new_kid, next_kid]),
            f"JWKS still lists the old kid {late:.1f} s after rotation")
    c.equal(gw.iam({"operation": "whoami"}, old_jwt)[0], 200,
            f"old JWT still authenticates {late:.1f} s after rotation (grace raised from {GRACE_ASKED} s to {GRACE} s)")

    # After the grace: the old kid leaves the JWKS and the old token is refused.
    dropped_at = None
    deadline = rotated_at + GRACE + 5
    while time.time() < deadline:
        if old_kid not in kids(jwks(gw)):
            dropped_at = time.time() - rotated_at
            break
        time.sleep(0.25)
    print(f"old kid left the JWKS {dropped_at if dropped_at is None else round(dropped_at, 2)} s after rotation "
          f"(grace {GRACE} s)", flush=True)
    c.check(dropped_at is not None and dropped_at >= GRACE - 1.5,
            f"the old kid leaves the JWKS once the {GRACE} s grace is over, not before: {dropped_at}")
    c.equal(kids(jwks(gw)), sorted([new_kid, next_kid]), "JWKS after the grace: the active and the next key")
    c.equal(gw.post("/api/v1/iam", {"operation": "whoami"}, old_jwt), (401, AUTH_FAILURE),
            "old JWT refused after the grace")
    fresh = login(gw, "alice", "changeme1")
    c.equal(gw.iam({"operation": "whoami"}, fresh)[0], 200, "a fresh login still works after the grace")
    c.equal(b64json(fresh.split(".")[0]).get("kid"), new_kid, "and is signed by the active key")
    key = jwk_key(jwks(gw), new_kid, "after grace")
    if key is not None:
        pyjwt_decode(fresh, key, "fresh JWT with the JWKS after the grace")
    elapsed = time.monotonic() - started

print(f"took {elapsed:.1f} s")
c.done()
