#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (deterministic; re-run after a change).

The JWT seeds are signed with the key fuzz/jwt_verify.cpp loads (Ed25519 seed bytes
0..31, kid fuzz-key-1) at its ManualClock's time (1.8e9 s), so they are byte for byte the
tokens the target signs itself and are the only ones it lets verify. Needs the Python
`cryptography` package.
"""
import base64
import hashlib
import json
import pathlib
import re
import shutil

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"
NOW = 1_800_000_000


def compact(value):
    # nlohmann::json's dump(): sorted keys, no spaces.
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header, claims, seed_first=0):
    key = Ed25519PrivateKey.from_private_bytes(bytes((seed_first + i) % 256 for i in range(32)))
    signing_input = b64url(compact(header).encode()) + "." + b64url(compact(claims).encode())
    return signing_input + "." + b64url(key.sign(signing_input.encode()))


def write(target, files):
    directory = ROOT / target
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (directory / name).write_bytes(data)


HEADER = {"alg": "EdDSA", "typ": "JWT", "kid": "fuzz-key-1"}


def claims(workspace, **extra):
    c = {"iss": "trustgraph-iam", "sub": "fuzz-user", "workspace": workspace,
         "default_workspace": workspace, "iat": NOW, "exp": NOW + 3600}
    c.update(extra)
    return c


# ---- jwt_verify: '0' + token (verify as presented), '1' + header '\n' payload (signed here)
write("jwt_verify", {
    "token-default": "0" + jwt(HEADER, claims("default")),
    "token-research": "0" + jwt(HEADER, claims("research")),
    "token-expired": "0" + jwt(HEADER, claims("default", exp=NOW - 7200)),
    "token-retired-kid": "0" + jwt(dict(HEADER, kid="fuzz-key-0"), claims("default"), seed_first=100),
    "token-unknown-kid": "0" + jwt(dict(HEADER, kid="nobody"), claims("default")),
    "token-alg-none": "0" + b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(compact(claims("default")).encode()) + ".",
    "token-garbage": "0a.b.c",
    "signed-claims": "1" + compact(HEADER) + "\n" + compact(claims("default")),
    "signed-old-claims": "1" + compact(HEADER) + "\n" + json.dumps({"iss": "trustgraph-iam", "sub": "u", "workspace": "w", "exp": NOW + 60, "nbf": NOW - 1.5}),
    "signed-float-exp": "1" + compact(HEADER) + "\n" + compact(claims("w", exp=1.8e9 + 0.5)),
    "signed-dup-keys": "1" + compact(HEADER) + '\n{"sub":"a","sub":"b","exp":1800003600}',
    # regression: exp/iat beyond TimePoint's range overflowed from_unix_seconds (UBSan)
    "signed-exp-beyond-2262": "1" + compact(HEADER) + "\n" + compact(claims("default", exp=18000036000, iat=-10**19)),
    "signed-crit": "1" + compact(dict(HEADER, crit=["exp"])) + "\n" + compact(claims("default")),
})

# ---- base64_decode: text tried as base64, base64url and hex, and as bytes to encode
write("base64_decode", {
    "empty": "",
    "b64-padded-1": base64.b64encode(b"a").decode(),
    "b64-padded-2": base64.b64encode(b"ab").decode(),
    "b64-plain": base64.b64encode(b"hello world!").decode(),
    "b64-plus-slash": base64.b64encode(bytes([0xfb, 0xff, 0xbf])).decode(),
    "b64url": b64url(bytes([0xfb, 0xff, 0xbf, 0x00, 0x10])),
    "b64-salt": base64.b64encode(hashlib.sha256(b"salt").digest()[:16]).decode(),
    "b64-bad-trailing-bits": "YR==",
    "hex": "00ff10deadBEEF",
    "binary": bytes(range(0, 256, 7)),
})

# ---- password_hash_parse
salt = base64.b64encode(hashlib.sha256(b"fuzz-salt").digest()[:16]).decode()
digest = base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"password", base64.b64decode(salt), 2)).decode()
write("password_hash_parse", {
    "valid-2": f"pbkdf2-sha256$2${salt}${digest}",
    "valid-600000": f"pbkdf2-sha256$600000${salt}${digest}",
    "max-iterations": f"pbkdf2-sha256$10000000${salt}${digest}",
    "too-many-iterations": f"pbkdf2-sha256$10000001${salt}${digest}",
    "leading-zero": f"pbkdf2-sha256$02${salt}${digest}",
    "short-hash": f"pbkdf2-sha256$1${salt}${salt}",
    "wrong-scheme": f"pbkdf2-sha512$1${salt}${digest}",
    "extra-field": f"pbkdf2-sha256$1${salt}${digest}$x",
    "password": "correct horse battery staple",
})

# ---- issue 14: JSON nested just within and just beyond the 64-level bound
def nested(depth):
    return "[" * depth + "]" * depth


# ---- json_dispatcher: requests of docs/protocol.md (the fixture's admin exists; ids are guesses)
REQUESTS = [
    {"operation": "bootstrap-status"},
    {"operation": "bootstrap"},
    {"operation": "login", "username": "fuzz-admin", "password": "fuzz-admin-password"},
    {"operation": "login", "username": "fuzz-reader", "password": "wrong", "workspace": "default"},
    {"operation": "whoami", "actor": "nobody"},
    {"operation": "authenticate-anonymous"},
    {"operation": "resolve-api-key", "api_key": "tg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"operation": "get-signing-key-public"},
    {"operation": "rotate-signing-key"},
    {"operation": "change-password", "user_id": "u", "password": "a", "new_password": "b"},
    {"operation": "reset-password", "user_id": "u", "workspace": "default"},
    {"operation": "create-user", "workspace": "default", "user": {"username": "alice", "name": "Alice", "email": "a@example.com", "password": "alice-password-1", "roles": ["reader", "writer"], "enabled": True, "must_change_password": False}},
    {"operation": "create-user", "default_workspace": "default", "user": {"username": "bob", "password": "bob-password-1"}},
    {"operation": "create-user", "workspace": "a", "default_workspace": "b", "user": {}},
    {"operation": "list-users", "workspace": "default"},
    {"operation": "get-user", "user_id": "u", "workspace": "default"},
    {"operation": "update-user", "user_id": "u", "user": {"name": "N", "roles": ["admin"], "enabled": False}},
    {"operation": "disable-user", "user_id": "u"},
    {"operation": "enable-user", "user_id": "u"},
    {"operation": "delete-user", "user_id": "u"},
    {"operation": "create-workspace", "workspace_record": {"id": "research", "name": "Research", "enabled": True}},
    {"operation": "list-workspaces"},
    {"operation": "list-my-workspaces", "actor": "u"},
    {"operation": "get-workspace", "workspace_record": {"id": "default"}},
    {"operation": "update-workspace", "workspace_record": {"id": "default", "name": "D", "enabled": True}},
    {"operation": "disable-workspace", "workspace_record": {"id": "research"}},
    {"operation": "create-api-key", "key": {"user_id": "u", "name": "ci", "expires": "2027-01-01T00:00:00Z"}},
    {"operation": "list-api-keys", "user_id": "u"},
    {"operation": "revoke-api-key", "key_id": "k"},
    {"operation": "authorise", "user_id": "u", "capability": "users:read", "resource_json": "{\"workspace\":\"default\"}", "parameters_json": "{}"},
    {"operation": "authorise-many", "user_id": "u", "authorise_checks": "[{\"capability\":\"config:read\",\"resource\":{\"workspace\":\"default\"},\"parameters\":{}}]"},
]
dispatcher = {f"request-{i:02d}-{r['operation']}": compact(r) for i, r in enumerate(REQUESTS)}
dispatcher.update({"not-object": "[1,2,3]", "wrong-type": '{"operation":7}', "unknown": '{"operation":"make-coffee"}'})
dispatcher.update({"depth-64": '{"operation":"whoami","user":' + nested(63) + "}",
                   "depth-65": '{"operation":"whoami","user":' + nested(64) + "}",
                   "authorise-deep-resource": compact({"operation": "authorise", "user_id": "u", "capability": "users:read",
                                                       "resource_json": nested(65)})})
write("json_dispatcher", dispatcher)

# ---- websocket_session: frames separated by '\n'; @KEY@ / @READER@ / @JWT@ are real credentials
def frames(*items):
    return "\n".join(i if isinstance(i, str) else compact(i) for i in items)

AUTH_KEY = {"type": "auth", "token": "@KEY@"}
write("websocket_session", {
    "auth-key-then-iam": frames(AUTH_KEY, {"id": "r1", "service": "iam", "request": {"operation": "list-users"}}),
    "auth-jwt-then-config": frames({"type": "auth", "token": "@JWT@"}, {"id": 2, "service": "config", "workspace": "default", "request": {"operation": "get"}}),
    "auth-jwt-expires": frames({"type": "auth", "token": "@JWT@"}, "@TICK@", "@TICK@", "@TICK@", {"id": "late", "service": "iam", "request": {"operation": "whoami"}}),
    "reader-denied": frames({"type": "auth", "token": "@READER@"}, {"id": "d", "service": "iam", "request": {"operation": "create-workspace", "workspace_record": {"id": "x"}}}),
    "flow-service": frames(AUTH_KEY, {"id": "f", "service": "agent", "flow": "default", "request": {"question": "hi"}}),
    "passthrough": frames(AUTH_KEY, {"id": "t", "service": "thru/custom", "flow": "f1", "workspace": "default", "request": {}}),
    "unauthenticated": frames({"id": "x", "service": "iam", "request": {"operation": "whoami"}}),
    "anonymous-then-bad": frames({"type": "auth"}, "not json", {"no": "id"}, {"id": None}),
    "reauth-failure": frames(AUTH_KEY, {"type": "auth", "token": "tg_wrong"}, {"id": 1, "service": "iam", "request": {}}),
    "unknown-service": frames(AUTH_KEY, {"id": [1], "service": "nope", "request": {"operation": "x"}}, {"id": {}, "service": "", "request": {}}),
    "deep-id": frames('{"id":' + nested(65) + "}", {"id": "r" * 257, "service": "iam", "request": {"operation": "whoami"}}),
    "deep-request": frames(AUTH_KEY, '{"id":"d","service":"config","request":{"operation":"get","keys":' + nested(63) + "}}",
                           '{"id":"e","service":"config","request":{"operation":"get","keys":' + nested(64) + "}}"),
})

# ---- registry_extractors: byte 0 < 0x40 → registry JSON; else route/identity byte + fields
# The default registry as OperationRegistry::default_operations_json() writes it (name order):
# IAM's operations are the gateway rows of the operation table (src/protocol/operation_table.cpp,
# read here), the services' come from src/gateway/service_operations.json.
SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
TABLE_ROW = re.compile(r'OperationInfo\{\w+,\s*"([a-z-]+)",\s*\w+,\s*(?:true|false),\s*(?:std::nullopt|GatewayRule\{([^}]*)\})\}')


def table_rows():
    text = (SRC / "protocol" / "operation_table.cpp").read_text()
    rows = TABLE_ROW.findall(text)
    if len(rows) != text.count("OperationInfo{"):
        raise SystemExit("make_corpus.py: cannot read every row of src/protocol/operation_table.cpp; update TABLE_ROW")
    return rows


def gateway_entry(name, rule):
    # GatewayRule{capability, parameters = none, all_workspaces = false}
    args = [a.strip() for a in rule.split(",")]
    entry = {"name": name, "capability": args[0] if args[0] in ("PUBLIC", "AUTHENTICATED") else json.loads(args[0]),
             "level": "system", "resource": "empty",
             "parameters": "workspace_parameter" if len(args) > 1 and args[1] == "workspace_parameter" else "none"}
    if len(args) > 2 and args[2] == "true":
        entry["all_workspaces"] = True
    return entry


iam_rows = table_rows()
service_operations = json.loads((SRC / "gateway" / "service_operations.json").read_text())["operations"]
default_operations = sorted([gateway_entry(name, rule) for name, rule in iam_rows if rule] + service_operations,
                            key=lambda op: op["name"])
ROUTE = {"iam": 0, "named": 1, "service": 2, "flow_service": 3, "flow_import": 4, "flow_export": 5}

def enforce(route, admin, name="", flow="", workspace="", body=""):
    byte = 0x48 + ROUTE[route]  # 0x48 % 6 == 0
    if admin:
        byte |= 0x40
    else:
        byte = 0x80 + ROUTE[route] + 4  # 0x84 % 6 == 0, bit 6 clear
    return bytes([byte]) + "\n".join([name, flow, workspace, body if isinstance(body, str) else compact(body)]).encode()

write("registry_extractors", {
    # a sample of the defaults (fuzz/run caps inputs at 4096 bytes)
    "registry-defaults-sample": b"\x00" + compact({"operations": default_operations[::8]}).encode(),
    "registry-small": b"\x01" + compact({"operations": [{"name": "demo:run", "capability": "demo:run", "level": "workspace", "resource": "workspace_from_body", "parameters": "none"}]}).encode(),
    "registry-bad-level": b"\x02" + compact({"operations": [{"name": "x", "capability": "PUBLIC", "level": "galaxy", "resource": "empty", "parameters": "none"}]}).encode(),
    "iam-create-user": enforce("iam", True, body={"operation": "create-user", "workspace": "default", "user": {"username": "z", "workspace": "default"}}),
    "iam-list-users": enforce("iam", False, body={"operation": "list-users", "user": {"workspace": "default"}}),
    "iam-workspace-record": enforce("iam", True, body={"operation": "get-workspace", "workspace_record": {"id": "default"}}),
    "named-login": enforce("named", False, name="login", body={"username": "a", "password": "b"}),
    "service-config": enforce("service", True, name="config", workspace="default", body={"operation": "get"}),
    "service-unknown-kind": enforce("service", True, name="nokind", body={"operation": "get"}),
    "flow-service": enforce("flow_service", False, name="agent", flow="f1", body={"workspace": "default"}),
    "flow-thru": enforce("flow_service", True, name="thru/x", flow="f1", workspace="default", body=""),
    "flow-import": enforce("flow_import", True, name="triples", flow="f1", body="{}"),
    "flow-export-bad-json": enforce("flow_export", True, name="triples", flow="f1", body="{"),
    "flow-deep-body": enforce("flow_service", True, name="agent", flow="f1", workspace="default", body='{"q":' + nested(64) + "}"),
    "registry-deep": b"\x03" + ('{"operations":' + nested(64) + "}").encode(),
})
# ---- oidc_jwks: "<dotted claim path>\n<document>" (a JWKS, claims, or a token); from the
# fixtures tests/fixtures/oidc/make_fixtures.py wrote. Tokens that verify there are cut
# short: the target holds that nothing it is given verifies.
OIDC = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "oidc"
oidc_tokens = json.loads((OIDC / "tokens.json").read_text())["tokens"]
oidc_cases = json.loads((OIDC / "jwk_cases.json").read_text())
VERIFYING = {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "aud_array_with_ours", "float_dates",
             "no_nbf_no_iat"}
rs256_claims = json.loads(base64.urlsafe_b64decode(oidc_tokens["RS256"].split(".")[1] + "=="))
oidc = {
    "jwks-fixture": "realm_access.roles\n" + (OIDC / "jwks.json").read_text(),
    "jwks-empty": "groups\n" + '{"keys":[]}',
    "jwks-duplicate-kid": "x\n" + compact({"keys": [dict(oidc_cases["ed25519"], kid="a"), dict(oidc_cases["ec_p256"], kid="a")]}),
    "jwks-refused-keys": "x\n" + compact({"keys": [oidc_cases[n] for n in ("rsa_1024", "rsa_private", "ec_off_curve", "ec_p521")]}),
    "jwks-duplicate-member": "x\n" + '{"keys":[{"kty":"OKP","kty":"OKP","crv":"Ed25519","x":"' + oidc_cases["ed25519"]["x"] + '"}]}',
    "claims-roles": "realm_access.roles\n" + compact(rs256_claims),
    "claims-groups": "groups\n" + compact(rs256_claims),
    "claims-username": "preferred_username\n" + compact(rs256_claims),
    "claims-deep": "resource_access.app.roles\n" + compact({"resource_access": {"app": {"roles": ["admin", 1]}}}),
    "claims-empty-segment": "realm_access..roles\n" + compact(rs256_claims),
}
for name, token in sorted(oidc_tokens.items()):
    oidc[f"token-{name}"] = "groups\n" + (token[:-1] if name in VERIFYING else token)
write("oidc_jwks", oidc)

# ---- iam.dict: libFuzzer dictionary for the JSON targets (operation and field names: every
# row of the operation table, also those only trusted callers send, and the registry's)
names = sorted({name for name, _ in iam_rows} | {op["name"] for op in default_operations})
fields = ["operation", "workspace", "default_workspace", "actor", "user_id", "username", "key_id", "api_key",
          "password", "new_password", "user", "workspace_record", "key", "capability", "resource_json",
          "parameters_json", "authorise_checks", "roles", "enabled", "expires", "id", "service", "flow",
          "request", "type", "auth", "token", "must_change_password", "name", "email"]
tokens = ["{", "}", "[", "]", ":", ",", "null", "true", "false", "\\u0000", "@KEY@", "@READER@", "@JWT@", "@TICK@"]
with open(ROOT.parent / "iam.dict", "w") as out:
    out.write("# Generated by fuzz/make_corpus.py: JSON tokens, field and operation names.\n")
    for t in tokens:
        out.write(json.dumps(t) + "\n")
    for f in fields:
        out.write(json.dumps('"' + f + '"') + "\n")
    for n in names:
        out.write(json.dumps('"' + n + '"') + "\n")
print("corpora written under", ROOT)
