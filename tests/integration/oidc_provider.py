#!/usr/bin/python3
"""The OIDC regime through iam-gateway against a real OpenID provider: npm oidc-provider
(tests/oidc/provider.mjs, installed from its lockfile by scripts/install-npm), started on
loopback, issuing JWT access tokens by the client credentials grant with RS256 and ES256
keys and a roles claim. The gateway finds the provider's keys by discovery.

- --regime oidc: the provider's tokens are accepted and their roles mapped; the provider
  rotates its keys (restarted with a new signing key) and the gateway picks the new key up
  without a restart; a retired key stops verifying once the gateway has refetched.
- --regime roles+oidc: API keys and the roles regime's own login JWTs work beside the
  provider's tokens; a provider token whose sub and preferred_username are the roles
  admin's id and username is still an "oidc:" identity and gets nothing from the roles
  regime's management operations.

Fails (does not skip) when node or the npm package is missing.
Usage: /usr/bin/python3 oidc_provider.py IAM_GATEWAY"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt  # Debian python3-jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm  # Debian python3-jwt

from gateway_process import Checks, Gateway
from oidc_keys import jwk_of

if len(sys.argv) != 2:
    raise SystemExit("usage: oidc_provider.py IAM_GATEWAY")
EXE = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "..", "oidc")
SCRIPT = os.path.join(PROJECT, "provider.mjs")
NODE = shutil.which("node")
if NODE is None:
    raise SystemExit("FAIL: node not found: this test needs Node.js (scripts/install-npm installs it)")
if not os.path.isfile(os.path.join(PROJECT, "node_modules", "oidc-provider", "package.json")):
    raise SystemExit(f"FAIL: npm package oidc-provider not installed in {PROJECT}: run scripts/install-npm")

AUDIENCE = "iam-gateway"
MIN_REFRESH = 2
ROLE_MAP = {"idp-reader": "reader", "idp-writer": "writer", "idp-admin": "admin"}
RS256 = "urn:iam:test:rs256"  # resource indicators: each names the algorithm its tokens use
ES256 = "urn:iam:test:es256"
ACCESS_DENIED = (403, '{"error":"access denied"}')

c = Checks()
tmp = tempfile.TemporaryDirectory(prefix="iam-oidc-provider-")


def private_jwk(kid, private_key):
    jwk = jwk_of(private_key, kid, private=True)
    jwk["alg"] = "RS256" if isinstance(private_key, rsa.RSAPrivateKey) else "ES256"
    return jwk


def rsa_jwk(kid):
    return private_jwk(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_jwk(kid):
    return private_jwk(kid, ec.generate_private_key(ec.SECP256R1()))


def client(client_id, roles, username, **extra):
    return {"client_id": client_id, "client_secret": "secret-of-" + client_id + "-0123456789abcdef",
            "claims": {"realm_access": {"roles": roles}, "preferred_username": username}, **extra}


CLIENTS = [client("reader-app", ["idp-reader"], "rita-idp"),
           client("writer-app", ["idp-writer", "offline"], "wendy-idp"),
           client("acme-app", ["idp-writer"], "ann-idp")]
CLIENTS[2]["claims"]["tenant"] = "acme"


class Provider:
    """tests/oidc/provider.mjs as a child process. restart() keeps the port (so the issuer)
    and takes a new key list: how the test rotates the provider's keys."""

    def __init__(self, keys, signing, clients):
        self.port = 0
        self.proc = None
        self.issuer = None
        self.start(keys, signing, clients)

    def start(self, keys, signing, clients):
        self.clients = {entry["client_id"]: entry for entry in clients}
        config = {"port": self.port, "keys": keys, "clients": clients,
                  "resources": {RS256: {"audience": AUDIENCE, "alg": "RS256", "kid": signing["RS256"]},
                                ES256: {"audience": AUDIENCE, "alg": "ES256", "kid": signing["ES256"]}}}
        path = os.path.join(tmp.name, "provider.json")
        with open(path, "w") as out:
            json.dump(config, out)
        self.proc = subprocess.Popen([NODE, SCRIPT, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()  # drain warnings
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None and '"listening"' not in line:
            line = self.proc.stdout.readline()
        if '"listening"' not in line:
            self.proc.kill()
            raise SystemExit("FAIL: the OpenID provider did not start (tests/oidc/provider.mjs)")
        started = json.loads(line)
        self.port, self.issuer = started["port"], started["issuer"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def restart(self, keys, signing, clients=None):
        self.stop()
        for _ in range(50):  # the port is ours again once the old process has gone
            try:
                self.start(keys, signing, clients or list(self.clients.values()))
                return
            except SystemExit:
                time.sleep(0.2)
        raise SystemExit("FAIL: the OpenID provider did not restart on its port")

    def token(self, client_id, resource):
        """An access token by the client credentials grant (a JWT: the resource says so)."""
        secret = self.clients[client_id]["client_secret"]
        request = urllib.request.Request(
            self.issuer + "/token", method="POST",
            data=urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource}).encode())
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())["access_token"]
        except urllib.error.HTTPError as err:
            raise SystemExit(f"FAIL: token request for {client_id} refused: {err.code} {err.read()!r}")


def header_of(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def sign_with(private, provider):
    """A reader's token signed with `private` (an RSA JWK) as the provider signs: for a key
    the provider no longer holds."""
    now = int(time.time())
    return jwt.encode({"iss": provider.issuer, "sub": "reader-app", "aud": AUDIENCE, "iat": now, "exp": now + 300,
                       "jti": os.urandom(8).hex(), "realm_access": {"roles": ["idp-reader"]}},
                      RSAAlgorithm.from_jwk(json.dumps(private)), algorithm="RS256",
                      headers={"kid": private["kid"], "typ": "at+jwt"})


def handle_of(issuer, subject):
    digest = hashlib.sha256(issuer.encode() + b"\0" + subject.encode()).digest()
    return "oidc:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def config_file(provider):
    path = os.path.join(tmp.name, "oidc.json")
    with open(path, "w") as out:
        json.dump({"issuers": [{"issuer": provider.issuer, "audiences": [AUDIENCE], "algorithms": ["RS256", "ES256"],
                                "roles_claim": "realm_access.roles", "role_map": ROLE_MAP, "workspace_claim": "tenant"}],
                   "leeway_seconds": 5, "jwks_min_refresh_seconds": MIN_REFRESH}, out)
    return path


def list_flows(gw, token):
    return gw.post("/api/v1/flow", {"operation": "list-flows"}, token)


def add_document(gw, token):
    return gw.post("/api/v1/librarian", {"operation": "add-document", "document_metadata": {"id": "d1"}}, token)


def whoami(gw, token):
    status, body = gw.iam({"operation": "whoami"}, token)
    return status, body.get("user", {}) if isinstance(body, dict) else {}


def accepted_soon(gw, provider, client_id, resource, what):
    """The provider's fresh tokens are accepted within a few refetch windows (a new kid
    triggers a refetch at most once per min_refresh)."""
    ok = gw.wait_until(lambda: list_flows(gw, provider.token(client_id, resource))[0] == 200,
                       timeout=3 * MIN_REFRESH + 10, interval=0.25)
    c.check(ok, what)


def oidc_mode():
    keys = [rsa_jwk("rsa-1"), ec_jwk("ec-1")]
    provider = Provider(keys, {"RS256": "rsa-1", "ES256": "ec-1"}, CLIENTS)
    try:
        with Gateway(EXE, "--regime", "oidc", "--oidc-config", config_file(provider)) as gw:
            reader = provider.token("reader-app", RS256)
            writer = provider.token("writer-app", ES256)
            c.equal(header_of(reader).get("alg"), "RS256", "the provider signs RS256 for its RS256 resource")
            c.equal(header_of(writer).get("alg"), "ES256", "the provider signs ES256 for its ES256 resource")
            c.equal(list_flows(gw, reader)[0], 200, "oidc: provider reader (RS256) lists flows")
            c.equal(add_document(gw, reader), ACCESS_DENIED, "oidc: provider reader may not add a document")
            c.equal(add_document(gw, writer)[0], 200, "oidc: provider writer (ES256) adds a document")
            status, user = whoami(gw, writer)
            c.equal(status, 200, "oidc: whoami with a provider token")
            c.equal(user.get("id"), handle_of(provider.issuer, "writer-app"), "oidc: whoami id from (iss, sub)")
            c.equal(user.get("username"), "wendy-idp", "oidc: whoami username from preferred_username")
            c.equal(user.get("roles"), ["writer"], "oidc: whoami roles mapped (unmapped 'offline' ignored)")
            c.equal(user.get("workspace"), "default", "oidc: whoami workspace: the default")
            acme = provider.token("acme-app", RS256)
            service = "/api/v1/flow/f1/service/agent"
            c.equal(gw.post(service, {"workspace": "acme"}, acme)[0], 200, "oidc: acme writer in acme")
            c.equal(gw.post(service, {"workspace": "default"}, acme), ACCESS_DENIED, "oidc: acme writer not in default")

            # Rotation 1: new signing keys; the old ones still published. No gateway restart.
            keys = [rsa_jwk("rsa-2"), ec_jwk("ec-2")] + keys
            provider.restart(keys, {"RS256": "rsa-2", "ES256": "ec-2"})
            c.equal(header_of(provider.token("writer-app", RS256)).get("kid"), "rsa-2", "rotated: rsa-2 signs")
            accepted_soon(gw, provider, "writer-app", RS256, "oidc: a token of the rotated RS256 key is accepted")
            accepted_soon(gw, provider, "writer-app", ES256, "oidc: a token of the rotated ES256 key is accepted")
            c.equal(list_flows(gw, reader)[0], 200, "oidc: a token of the previous key, still published, works")
            c.equal(list_flows(gw, sign_with(keys[2], provider))[0], 200, "oidc: a new token of the previous key works")

            # Rotation 2: rsa-1 and ec-1 retired. Once the gateway refetched (for rsa-3),
            # their tokens stop verifying.
            retired_rsa = keys[2]
            keys = [rsa_jwk("rsa-3"), keys[1]]
            provider.restart(keys, {"RS256": "rsa-3", "ES256": "ec-2"})
            accepted_soon(gw, provider, "reader-app", RS256, "oidc: a token of the newest key (rsa-3) is accepted")
            # A token the gateway has not seen (its authentication cache would answer for one it has).
            c.equal(list_flows(gw, sign_with(retired_rsa, provider))[0], 401,
                    "oidc: a token of a retired key is refused after the refetch")
            c.equal(add_document(gw, provider.token("writer-app", ES256))[0], 200, "oidc: ec-2 still verifies")
    finally:
        provider.stop()


def chain_mode():
    keys = [rsa_jwk("rsa-1"), ec_jwk("ec-1")]
    provider = Provider(keys, {"RS256": "rsa-1", "ES256": "ec-1"}, CLIENTS)
    try:
        with Gateway(EXE, "--regime", "roles+oidc", "--oidc-config", config_file(provider),
                     "--bootstrap-mode", "bootstrap") as gw:
            status, text = gw.post("/api/v1/auth/bootstrap")
            c.equal(status, 200, "chain: bootstrap")
            if status != 200:
                return
            admin_key = json.loads(text)["bootstrap_admin_api_key"]
            admin_id = json.loads(text)["bootstrap_admin_user_id"]
            c.iam_ok(gw, {"operation": "create-workspace", "workspace_record": {"id": "acme"}}, admin_key,
                     "chain: admin (API key) creates a workspace")
            c.iam_ok(gw, {"operation": "create-user", "user": {"username": "alice", "password": "changeme1",
                                                                "roles": ["writer"]}}, admin_key,
                     "chain: admin (API key) creates a user")
            status, text = gw.post("/api/v1/auth/login", {"username": "alice", "password": "changeme1"})
            c.equal(status, 200, "chain: login")
            alice = json.loads(text).get("jwt", "") if status == 200 else ""
            status, user = whoami(gw, alice)
            c.equal((status, user.get("username")), (200, "alice"), "chain: the roles regime's JWT still works")
            c.equal(add_document(gw, alice)[0], 200, "chain: alice (roles JWT) adds a document")
            status, text = gw.request("GET", "/api/v1/auth/jwks")
            c.check(status == 200 and len(json.loads(text).get("keys", [])) >= 1,
                    f"chain: the roles regime's JWKS is published: {status} {text[:200]}")
            status, user = whoami(gw, admin_key)
            c.equal((status, user.get("id")), (200, admin_id), "chain: the admin's API key still works")

            writer = provider.token("writer-app", ES256)
            c.equal(add_document(gw, writer)[0], 200, "chain: provider writer adds a document beside them")
            c.equal(add_document(gw, provider.token("reader-app", RS256)), ACCESS_DENIED,
                    "chain: provider reader may not add a document")
            acme = provider.token("acme-app", RS256)
            c.equal(gw.post("/api/v1/flow/f1/service/agent", {"workspace": "acme"}, acme)[0], 200,
                    "chain: provider writer of acme in acme (the roles regime's workspace)")

            # Provider tokens that claim to be the roles admin: same sub, same username, and
            # with and without the provider's admin role.
            impostors = [client("impostor-app", ["idp-reader"], "admin", subject=admin_id),
                         client("impostor-admin-app", ["idp-admin"], "admin", subject=admin_id)]
            provider.restart(keys, {"RS256": "rsa-1", "ES256": "ec-1"}, CLIENTS + impostors)
            for impostor in ("impostor-app", "impostor-admin-app"):
                token = provider.token(impostor, RS256)
                status, user = whoami(gw, token)
                c.equal(status, 200, f"chain: {impostor}: whoami")
                c.equal(user.get("id"), handle_of(provider.issuer, admin_id), f"chain: {impostor} is an oidc: identity")
                c.check(user.get("id") != admin_id, f"chain: {impostor} is not the roles admin")
                for name, request in [
                        ("list-users", {"operation": "list-users"}),
                        ("get-user admin", {"operation": "get-user", "user_id": admin_id}),
                        ("create-api-key for the admin", {"operation": "create-api-key",
                                                          "key": {"user_id": admin_id, "name": "stolen"}}),
                        ("reset-password of the admin", {"operation": "reset-password", "user_id": admin_id}),
                        ("create-user", {"operation": "create-user", "user": {
                            "username": "mallory", "password": "changeme1", "roles": ["admin"]}}),
                        ("rotate-signing-key", {"operation": "rotate-signing-key"}),
                        ("list-signing-keys", {"operation": "list-signing-keys"})]:
                    status, body = gw.iam(request, token)
                    # A reader is refused by authorisation; the provider's admin passes it, and the
                    # operation goes to the regime that issued the identity, the OIDC regime,
                    # which manages nothing: not-supported, never the roles regime's answer.
                    wanted = (403, {"error": "access denied"}) if impostor == "impostor-app" else (
                        501, {"error": {"type": "not-supported", "message": "not supported"}})
                    c.equal((status, body), wanted, f"chain: {impostor}: {name} refused")
            status, body = gw.iam({"operation": "list-users"}, admin_key)
            users = [u.get("username") for u in body.get("users", [])] if isinstance(body, dict) else []
            c.equal(sorted(users), ["admin", "alice"], "chain: no user was made by the impostors")
            status, body = gw.iam({"operation": "list-api-keys", "user_id": admin_id}, admin_key)
            names = [k.get("name") for k in body.get("api_keys", [])] if isinstance(body, dict) else None
            c.check(names is not None and "stolen" not in names, f"chain: no key was made for the admin: {names}")
            c.equal(whoami(gw, admin_key)[0], 200, "chain: the admin's key still works afterwards")
    finally:
        provider.stop()


oidc_mode()
chain_mode()
c.done()
