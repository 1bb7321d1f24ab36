#!/usr/bin/python3
"""The OIDC regime through iam-gateway, against tokens minted by an independent
implementation (PyJWT with python3-cryptography) and keys served by a local JWKS server
(http.server on loopback, counting its hits):

- every algorithm (RS256 RS384 RS512 PS256 ES256 ES384 EdDSA) accepted when allowed, over
  HTTP and as a WebSocket's first frame; an algorithm left out of the allow-list refused;
- every forgery a 401 identical to a bad API key's (alg none, HS256 keyed with the RSA
  public key's PEM, a kid naming another key type, tampered claims, another key, wrong
  iss, wrong aud, expired, not yet valid, oversized, duplicate JSON keys), in the oidc and
  the roles+oidc modes;
- roles mapped through real operations (reader 403 on a writer's operation, writer allowed,
  unmapped values grant nothing, workspace scope), whoami built from the claims;
- refetches under a flood of unknown kids bounded by elapsed / min_refresh + 2, concurrent
  first requests for a new kid sharing one fetch, the provider down after start (cached
  keys keep working), the provider down from the start (401, the gateway alive, then
  recovering once the provider answers).

Given IAMCTL too: iamctl --regime oidc --oidc-config builds the same regime locally (whoami
with a provider token; list-users not supported).

Usage: /usr/bin/python3 oidc_pyjwt.py IAM_GATEWAY [IAMCTL]   (Debian's python3-jwt imports only there)"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt  # Debian python3-jwt (PyJWT 2.6)
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from gateway_process import Checks, Gateway
from oidc_keys import jwk_of

if len(sys.argv) not in (2, 3):
    raise SystemExit("usage: oidc_pyjwt.py IAM_GATEWAY [IAMCTL]")
EXE = sys.argv[1]
IAMCTL = sys.argv[2] if len(sys.argv) == 3 else None
AUDIENCE = "iam-gateway"
MIN_REFRESH = 2  # jwks_min_refresh_seconds
LEEWAY = 5       # leeway_seconds
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
ROLE_MAP = {"idp-reader": "reader", "idp-writer": "writer", "idp-admin": "admin"}
ACCESS_DENIED = (403, '{"error":"access denied"}')

c = Checks()
tmp = tempfile.TemporaryDirectory(prefix="iam-oidc-pyjwt-")


# ---------------------------------------------------------------- keys and tokens

def new_key(algorithm):
    if algorithm.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(kid, algorithm, private_key):
    return jwk_of(private_key, kid)


# One key per algorithm, its kid the algorithm's name.
KEYS = {alg: new_key(alg) for alg in ALGORITHMS}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(header_text, payload_text, algorithm, key):
    """A compact JWS over the exact header and payload texts given (duplicate keys and all),
    signed by PyJWT's own algorithm implementation."""
    signing_input = f"{b64(header_text.encode())}.{b64(payload_text.encode())}"
    signature = get_default_algorithms()[algorithm].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


class Issuer:
    """A JWKS server on loopback standing for one identity provider: its discovery document
    and its keys, every hit counted per path. Stoppable and restartable on the same port."""

    def __init__(self, port=0):
        self.keys = [public_jwk(alg, alg, key) for alg, key in KEYS.items()]
        self.hits = {}
        self.lock = threading.Lock()
        self.port = port
        self.server = None
        if port == 0:
            self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with issuer.lock:
                    issuer.hits[self.path] = issuer.hits.get(self.path, 0) + 1
                    keys = list(issuer.keys)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks/discovered"}
                elif self.path.startswith("/jwks/"):
                    body = {"keys": keys}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                # Long, so the only fetches in a window are the ones the test provokes.
                self.send_header("Cache-Control", "max-age=3600")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def add_key(self, kid, algorithm, private_key):
        with self.lock:
            self.keys.append(public_jwk(kid, algorithm, private_key))


def claims(issuer, roles=("idp-writer",), **changes):
    now = int(time.time())
    body = {"iss": issuer.url, "sub": "u-" + uuid.uuid4().hex[:12], "aud": AUDIENCE, "iat": now, "nbf": now,
            "exp": now + 300, "preferred_username": "pat", "realm_access": {"roles": list(roles)},
            "jti": uuid.uuid4().hex}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def mint(issuer, algorithm="RS256", kid=None, key=None, **claim_changes):
    return jwt.encode(claims(issuer, **claim_changes), key or KEYS[algorithm], algorithm=algorithm,
                      headers={"kid": kid or algorithm})


def config_file(name, issuer, jwks_path, algorithms=ALGORITHMS):
    entry = {"issuer": issuer.url, "jwks_uri": issuer.url + jwks_path, "audiences": ["other-api", AUDIENCE],
             "algorithms": algorithms, "roles_claim": "realm_access.roles", "role_map": ROLE_MAP,
             "workspace_claim": "tenant", "default_workspace": "default"}
    path = os.path.join(tmp.name, name)
    with open(path, "w") as out:
        json.dump({"issuers": [entry], "leeway_seconds": LEEWAY, "jwks_min_refresh_seconds": MIN_REFRESH}, out)
    return path


def oidc_gateway(mode, config, *extra):
    # Tokens up to 64 KiB fit in a request head, so the oversized token reaches the regime
    # (and is refused there, not by the HTTP limits).
    return Gateway(EXE, "--regime", mode, "--oidc-config", config, "--bootstrap-mode", "bootstrap",
                   "--max-header-bytes", "65536", *extra)


def expected_handle(issuer_url, subject):
    return "oidc:" + b64(hashlib.sha256(issuer_url.encode() + b"\0" + subject.encode()).digest())


def whoami(gw, token):
    return gw.iam({"operation": "whoami"}, token)


def add_document(gw, token):
    return gw.post("/api/v1/librarian", {"operation": "add-document", "document_metadata": {"id": "d1"}}, token)


def start_flow(gw, token):
    return gw.post("/api/v1/flow", {"operation": "start-flow"}, token)


def list_flows(gw, token):
    return gw.post("/api/v1/flow", {"operation": "list-flows"}, token)


# ---------------------------------------------------------------- WebSocket first frame

async def first_frame(gw, token):
    async with websockets.connect(f"ws://127.0.0.1:{gw.port}/api/v1/socket", open_timeout=15, close_timeout=5,
                                  max_size=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        return json.loads(await asyncio.wait_for(ws.recv(), 15))


def socket_auth(gw, token):
    try:
        return asyncio.run(first_frame(gw, token))
    except Exception as err:  # the check that uses it fails with the reason
        return f"no answer: {err!r}"


# ---------------------------------------------------------------- the checks

def algorithms_accepted(gw, issuer):
    for alg in ALGORITHMS:
        subject = f"user-{alg}"
        token = mint(issuer, alg, sub=subject, tenant="acme", preferred_username=f"pat-{alg.lower()}")
        status, body = whoami(gw, token)
        c.equal(status, 200, f"{alg}: whoami")
        user = body.get("user", {}) if isinstance(body, dict) else {}
        c.equal(user.get("id"), expected_handle(issuer.url, subject), f"{alg}: whoami id is the (issuer, sub) handle")
        c.equal(user.get("username"), f"pat-{alg.lower()}", f"{alg}: whoami username from preferred_username")
        c.equal(user.get("roles"), ["writer"], f"{alg}: whoami roles mapped")
        c.equal(user.get("workspace"), "acme", f"{alg}: whoami workspace from the tenant claim")
        c.equal(socket_auth(gw, token), {"type": "auth-ok", "workspace": "acme", "default_workspace": "acme"},
                f"{alg}: WebSocket first frame")


def forgeries(issuer):
    """(name, token) pairs; each must be refused exactly like a bad API key."""
    rsa_pem = KEYS["RS256"].public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    body = claims(issuer, roles=("idp-admin",))
    payload_text = json.dumps(body)
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'RS256', 'typ': 'JWT'}).encode())}.{b64(payload_text.encode())}"
    hs256 = f"{signing_input}.{b64(hmac.new(rsa_pem, signing_input.encode(), hashlib.sha256).digest())}"
    none = f"{b64(json.dumps({'alg': 'none', 'kid': 'RS256'}).encode())}.{b64(payload_text.encode())}."
    genuine = mint(issuer, "RS256", roles=("idp-reader",))
    head, payload, signature = genuine.split(".")
    tampered_claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered_claims["realm_access"] = {"roles": ["idp-admin"]}
    tampered = f"{head}.{b64(json.dumps(tampered_claims).encode())}.{signature}"
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    duplicate_payload = payload_text[:-1] + ', "realm_access": {"roles": ["idp-admin"]}}'
    duplicate_header = '{"alg":"RS256","kid":"RS256","alg":"RS256"}'
    dup_claims = json.dumps(claims(issuer, roles=("idp-reader",)))[:-1] + ', "sub": "someone-else"}'
    now = int(time.time())
    return [
        ("alg none", none),
        ("alg none, no signature segment", none[:-1]),
        ("HS256 keyed with the RSA public key PEM", hs256),
        ("RS256 with the kid of the P-256 key", mint(issuer, "RS256", kid="ES256")),
        ("ES256 with the kid of an RSA key", mint(issuer, "ES256", kid="RS256")),
        ("EdDSA with the kid of an RSA key", mint(issuer, "EdDSA", kid="RS256")),
        ("PS256 signature under the kid of the ES384 key", mint(issuer, "PS256", kid="ES384")),
        ("tampered claims (roles raised)", tampered),
        ("signature altered", f"{head}.{payload}.{flipped}"),
        ("signed by an unpublished key under a published kid", mint(issuer, "RS256", key=new_key("RS256"))),
        ("wrong iss", mint(issuer, "RS256", iss=issuer.url + "/other")),
        ("wrong aud", mint(issuer, "RS256", aud="someone-else")),
        ("no aud", mint(issuer, "RS256", aud=None)),
        ("expired", mint(issuer, "RS256", iat=now - 600, nbf=now - 600, exp=now - 120)),
        ("no exp", mint(issuer, "RS256", exp=None)),
        ("not yet valid", mint(issuer, "RS256", nbf=now + 120)),
        ("oversized (over 16 KiB)", mint(issuer, "RS256", padding="x" * (17 * 1024))),
        ("duplicate JSON key in the payload", sign_raw('{"alg":"RS256","kid":"RS256"}', duplicate_payload, "RS256",
                                                       KEYS["RS256"])),
        ("duplicate sub in the payload", sign_raw('{"alg":"ES256","kid":"ES256"}', dup_claims, "ES256", KEYS["ES256"])),
        ("duplicate JSON key in the header", sign_raw(duplicate_header, payload_text, "RS256", KEYS["RS256"])),
        ("HS256 in the allow-list's place", jwt.encode(body, "secret", algorithm="HS256", headers={"kid": "RS256"})),
    ]


def forgeries_masked(gw, issuer, mode):
    bad_key = ("tg_" + "x" * 40)
    refusal = gw.post("/api/v1/flow", {"operation": "list-flows"}, bad_key)
    c.equal(refusal[0], 401, f"{mode}: a bad API key is refused")
    bad_frame = socket_auth(gw, bad_key)
    c.equal(bad_frame, {"type": "auth-failed", "error": "auth failure"}, f"{mode}: a bad API key's first frame")
    for name, token in forgeries(issuer):
        c.equal(gw.post("/api/v1/flow", {"operation": "list-flows"}, token), refusal,
                f"{mode}: {name}: the same answer as a bad API key")
        c.equal(gw.iam({"operation": "whoami"}, token)[0], 401, f"{mode}: {name}: whoami refused")
        c.equal(socket_auth(gw, token), bad_frame, f"{mode}: {name}: WebSocket first frame as a bad API key's")
    # The bound is the token's size, not the header's: a large token under it still works.
    c.equal(list_flows(gw, mint(issuer, "RS256", padding="x" * (10 * 1024)))[0], 200,
            f"{mode}: a 10 KiB token under the bound is accepted")


def roles_mapped(gw, issuer):
    reader = mint(issuer, "ES256", roles=("idp-reader",))
    writer = mint(issuer, "ES256", roles=("idp-writer",))
    both = mint(issuer, "ES256", roles=("idp-reader", "idp-writer", "idp-unknown"))
    unmapped = mint(issuer, "ES256", roles=("idp-unknown", "writer"))  # "writer" is not an IdP value in role_map
    c.equal(list_flows(gw, reader)[0], 200, "IdP reader lists flows")
    c.equal(add_document(gw, reader), ACCESS_DENIED, "IdP reader may not add a document (a writer's operation)")
    c.equal(add_document(gw, writer)[0], 200, "IdP writer adds a document")
    c.equal(start_flow(gw, writer), ACCESS_DENIED, "IdP writer may not start a flow (an admin's operation)")
    c.equal(add_document(gw, both)[0], 200, "reader + writer + an unmapped value: the writer's capabilities")
    c.equal(list_flows(gw, unmapped), ACCESS_DENIED, "unmapped values grant nothing")
    status, body = whoami(gw, unmapped)
    c.equal((status, body.get("user", {}).get("roles") if isinstance(body, dict) else body), (200, []),
            "unmapped values: whoami answers, with no role")
    # Workspace scope: a writer of acme acts in acme, not in default.
    acme_writer = mint(issuer, "EdDSA", roles=("idp-writer",), tenant="acme")
    service = "/api/v1/flow/f1/service/agent"
    c.equal(gw.post(service, {"workspace": "acme", "model": "m"}, acme_writer)[0], 200,
            "acme writer: service call in acme")
    c.equal(gw.post(service, {"workspace": "default", "model": "m"}, acme_writer), ACCESS_DENIED,
            "acme writer: service call in default refused")
    c.equal(gw.post(service, {"workspace": "acme", "model": "m"}, writer), ACCESS_DENIED,
            "default writer: service call in acme refused")
    status, body = gw.iam({"operation": "list-my-workspaces"}, acme_writer)
    c.equal(status, 200, "list-my-workspaces")
    c.equal([w.get("id") for w in body.get("workspaces", [])] if isinstance(body, dict) else body, ["acme"],
            "list-my-workspaces names the home workspace")
    # Users live in the provider: an IdP admin manages nothing here.
    admin = mint(issuer, "RS256", roles=("idp-admin",))
    c.equal(start_flow(gw, admin)[0], 200, "IdP admin starts a flow")
    status, body = gw.iam({"operation": "list-users"}, admin)
    c.check(status != 200, f"IdP admin: list-users is not supported by the oidc regime: {status} {body}")


def hammer(gw, tokens, workers=8):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda t: list_flows(gw, t)[0], tokens))


def refetch_rate_limited(gw, issuer, path):
    """A flood of tokens naming unknown kids: the JWKS server sees at most one refetch per
    min_refresh (+2: one at the window's start, one for timing slack); known keys keep working."""
    time.sleep(MIN_REFRESH + 0.5)  # whatever fetched before is out of the window
    before = issuer.count(path)
    started = time.monotonic()
    statuses = []
    known_ok = []
    while time.monotonic() - started < 3 * MIN_REFRESH:
        batch = [mint(issuer, "ES256", kid=f"unknown-{uuid.uuid4().hex}") for _ in range(16)]
        statuses += hammer(gw, batch)
        known_ok.append(list_flows(gw, mint(issuer, "RS256"))[0] == 200)
    elapsed = time.monotonic() - started
    fetched = issuer.count(path) - before
    c.check(len(statuses) >= 48 and set(statuses) == {401}, f"unknown kids: every one refused ({len(statuses)} tokens)")
    c.check(all(known_ok), "a known key keeps verifying during the flood")
    bound = int(elapsed / MIN_REFRESH) + 2
    c.check(1 <= fetched <= bound, f"unknown-kid flood: {fetched} JWKS fetches in {elapsed:.1f}s, bound {bound}")
    print(f"unknown-kid flood: {len(statuses)} tokens, {fetched} JWKS fetches in {elapsed:.1f}s", flush=True)


def concurrent_new_kid(gw, issuer, path):
    """A key the provider has just published: many first requests at once, one fetch."""
    rotated = new_key("ES256")
    issuer.add_key("rotated-es256", "ES256", rotated)
    time.sleep(MIN_REFRESH + 0.5)  # the last refetch is out of the window
    before = issuer.count(path)
    tokens = [mint(issuer, "ES256", kid="rotated-es256", key=rotated) for _ in range(16)]
    barrier = threading.Barrier(len(tokens))

    def first(token):
        barrier.wait()
        return list_flows(gw, token)[0]

    with ThreadPoolExecutor(len(tokens)) as pool:
        statuses = list(pool.map(first, tokens))
    c.equal(statuses, [200] * len(tokens), "concurrent first requests with a new kid: all accepted")
    c.equal(issuer.count(path) - before, 1, "concurrent first requests with a new kid: one JWKS fetch")


def provider_down_after_start(gw, issuer):
    issuer.stop()
    for alg in ("RS256", "ES384", "EdDSA"):
        c.equal(list_flows(gw, mint(issuer, alg))[0], 200, f"provider down: cached {alg} key keeps verifying")
    c.equal(list_flows(gw, mint(issuer, "ES256", kid="never-published"))[0], 401,
            "provider down: an unknown kid is refused")
    c.check(gw.proc.poll() is None, "provider down: the gateway is alive")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provider_down_from_start():
    issuer = Issuer(port=free_port())  # not serving yet
    config = config_file("down.json", issuer, "/jwks/down")
    with oidc_gateway("oidc", config) as gw:
        c.equal(list_flows(gw, mint(issuer, "RS256"))[0], 401, "provider down from the start: 401")
        c.equal(list_flows(gw, "tg_" + "y" * 40)[0], 401, "provider down from the start: the gateway answers")
        issuer.start()
        # It has never fetched: it tries again at most once per min_refresh, so it recovers soon.
        recovered = gw.wait_until(lambda: list_flows(gw, mint(issuer, "RS256"))[0] == 200,
                                  timeout=3 * MIN_REFRESH + 10, interval=0.25)
        c.check(recovered, "provider up later: its tokens are accepted without a restart")
        c.check(issuer.count("/jwks/down") >= 1, "provider up later: the gateway fetched its keys")
        issuer.stop()


def algorithm_not_allowed(issuer):
    config = config_file("es256-only.json", issuer, "/jwks/strict", algorithms=["ES256"])
    with oidc_gateway("oidc", config) as gw:
        c.equal(list_flows(gw, mint(issuer, "ES256"))[0], 200, "ES256-only issuer: ES256 accepted")
        for alg in ("RS256", "PS256", "ES384", "EdDSA"):
            c.equal(list_flows(gw, mint(issuer, alg))[0], 401, f"ES256-only issuer: {alg} refused")


def discovery(issuer):
    """No jwks_uri: the keys' address comes from the discovery document."""
    path = os.path.join(tmp.name, "discovery.json")
    with open(path, "w") as out:
        json.dump({"issuers": [{"issuer": issuer.url, "audiences": [AUDIENCE], "algorithms": ["RS256"],
                                "roles_claim": "realm_access.roles", "role_map": ROLE_MAP}]}, out)
    with oidc_gateway("oidc", path) as gw:
        c.equal(list_flows(gw, mint(issuer, "RS256"))[0], 200, "discovered jwks_uri: token accepted")
    c.check(issuer.count("/.well-known/openid-configuration") >= 1, "discovery document fetched")
    c.check(issuer.count("/jwks/discovered") >= 1, "discovered jwks_uri fetched")


def audit_log(issuer):
    """--audit-log: the OIDC regime's authentications reach the file, a failure with its real
    reason and never the token."""
    config = config_file("audited.json", issuer, "/jwks/audited")
    log_path = os.path.join(tmp.name, "oidc-audit.jsonl")
    good = mint(issuer, "RS256")
    expired = mint(issuer, "RS256", exp=int(time.time()) - 3600)
    with oidc_gateway("oidc", config, "--audit-log", log_path, "--audit-fsync", "every-event") as gw:
        c.equal(list_flows(gw, good)[0], 200, "audited: a good token is accepted")
        c.equal(list_flows(gw, expired)[0], 401, "audited: an expired token is refused")
    with open(log_path) as f:
        text = f.read()
    events = [json.loads(line) for line in text.splitlines() if '"event_type"' in line]
    authentications = [json.loads(e["payload_json"]) for e in events if e["event_type"] == "iam.authenticate"]
    outcomes = sorted(a.get("outcome", "") for a in authentications)
    c.check("success" in outcomes and "failure" in outcomes, f"audited: both outcomes written ({outcomes})")
    failures = [a for a in authentications if a.get("outcome") == "failure"]
    c.check(any("exp" in a.get("failure_reason", "") for a in failures),
            f"audited: the failure's real reason is written ({failures})")
    for token in (good, expired):
        c.check(token not in text and token.split(".")[2] not in text, "audited: no token in the audit file")


def iamctl_local(issuer):
    config = config_file("iamctl.json", issuer, "/jwks/iamctl")
    token = mint(issuer, "ES384", sub="cli-user", preferred_username="cli-pat", roles=("idp-reader",))
    done = subprocess.run([IAMCTL, "whoami", "--regime", "oidc", "--oidc-config", config, "--json"],
                          env=dict(os.environ, IAM_TOKEN=token), capture_output=True, text=True, timeout=60)
    c.equal(done.returncode, 0, f"iamctl --regime oidc whoami: exit code ({done.stderr.strip()})")
    user = json.loads(done.stdout).get("user", {}) if done.returncode == 0 else {}
    c.equal((user.get("id"), user.get("username"), user.get("roles")),
            (expected_handle(issuer.url, "cli-user"), "cli-pat", ["reader"]), "iamctl --regime oidc whoami: the claims")
    done = subprocess.run([IAMCTL, "list-users", "--regime", "oidc", "--oidc-config", config],
                          capture_output=True, text=True, timeout=60)
    c.equal(done.returncode, 1, "iamctl --regime oidc list-users: refused")
    c.check("not-supported" in done.stderr, f"iamctl --regime oidc list-users: not supported: {done.stderr!r}")


issuer = Issuer()
if IAMCTL:
    iamctl_local(issuer)
algorithm_not_allowed(issuer)
discovery(issuer)
audit_log(issuer)
with oidc_gateway("roles+oidc", config_file("chain.json", issuer, "/jwks/chain")) as gw:
    c.bootstrap(gw)  # the roles regime's store holds the workspaces: "default" from now on
    forgeries_masked(gw, issuer, "roles+oidc")
with oidc_gateway("oidc", config_file("main.json", issuer, "/jwks/main")) as gw:
    c.equal(issuer.count("/jwks/main"), 1, "keys fetched once at start")
    algorithms_accepted(gw, issuer)
    forgeries_masked(gw, issuer, "oidc")
    roles_mapped(gw, issuer)
    refetch_rate_limited(gw, issuer, "/jwks/main")
    concurrent_new_kid(gw, issuer, "/jwks/main")
    provider_down_after_start(gw, issuer)
provider_down_from_start()
c.done()
