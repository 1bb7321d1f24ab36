#!/usr/bin/python3
"""PyJWT interoperability of the library's EdDSA tokens (docs/protocol.md "JWT").

Usage: pyjwt_check.py <path to the jwt-interop program>

Drives the C++ program (tests/interop/jwt_interop.cpp) through subprocess and checks:
  (a) a token the library signs verifies with PyJWT, given the PEM from
      KeySet::active_public_pem and given the JWK from KeySet::jwks();
  (b) a token PyJWT signs with an Ed25519 key made here verifies in the library (the
      private key reaches the C++ side as its raw 32-byte seed in hex);
  (c) a PyJWT token with a wrong issuer is rejected by the library.
Exits 0 when every check passes and 1 on a failure, also when PyJWT or cryptography cannot
be imported: scripts/install-deps installs them, so their absence is a broken setup, not a
reason to pass.
"""

import json
import os
import subprocess
import sys
import time

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
except ImportError as missing:  # pragma: no cover - depends on the machine
    print(f"FAIL: {missing} (needs Debian's python3-jwt and python3-cryptography; scripts/install-deps)")
    sys.exit(1)

ISSUER = "trustgraph-iam"  # the library's default JwtConfig issuer
PROGRAM = None


def run(*args, expect_exit=0):
    done = subprocess.run([PROGRAM, *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != expect_exit:
        raise AssertionError(
            f"{args[0]}: exit {done.returncode}, wanted {expect_exit}\nstdout: {done.stdout}\nstderr: {done.stderr}")
    return json.loads(done.stdout)


def new_key():
    """A fresh Ed25519 key, and its raw 32-byte seed in hex for the C++ side."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    assert len(seed) == 32
    return key, seed.hex()


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def check_library_token_verifies_in_pyjwt():
    key, seed_hex = new_key()
    out = run("sign", seed_hex, "kid-lib", "user-7", "ws-lib")
    token = out["token"]

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": "kid-lib"}, header
    # The library's PEM is the same key cryptography derives from the seed.
    assert out["pem"].strip() == public_pem(key).strip(), (out["pem"], public_pem(key))

    def check_claims(claims):
        assert claims["iss"] == ISSUER, claims
        assert claims["sub"] == "user-7", claims
        assert claims["workspace"] == "ws-lib" and claims["default_workspace"] == "ws-lib", claims
        assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int), claims
        assert claims["exp"] - claims["iat"] == 3600, claims
        assert abs(claims["iat"] - time.time()) < 120, claims

    # With the PEM from KeySet::active_public_pem.
    check_claims(jwt.decode(token, out["pem"], algorithms=["EdDSA"], issuer=ISSUER,
                            options={"require": ["exp", "iat", "iss", "sub"]}))
    # PyJWT's issuer check is really on: another expected issuer fails.
    try:
        jwt.decode(token, out["pem"], algorithms=["EdDSA"], issuer="someone-else")
        raise AssertionError("PyJWT accepted the wrong expected issuer")
    except jwt.InvalidIssuerError:
        pass

    # With the JWK from KeySet::jwks(), alone and as a JWKS document looked up by kid.
    jwks = json.loads(out["jwks"])
    assert len(jwks["keys"]) == 1, jwks
    jwk = jwks["keys"][0]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["kid"] == "kid-lib", jwk
    assert jwk["use"] == "sig" and jwk["alg"] == "EdDSA" and "d" not in jwk, jwk
    py_jwk = jwt.PyJWK(jwk)
    check_claims(jwt.decode(token, py_jwk.key, algorithms=["EdDSA"], issuer=ISSUER))
    key_set = jwt.PyJWKSet.from_json(out["jwks"])
    by_kid = {k.key_id: k for k in key_set.keys}
    check_claims(jwt.decode(token, by_kid[header["kid"]].key, algorithms=["EdDSA"], issuer=ISSUER))

    # And PyJWT refuses the library's token once a signature byte changes.
    head, body, sig = token.split(".")
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
    try:
        jwt.decode(f"{head}.{body}.{flipped}", out["pem"], algorithms=["EdDSA"], issuer=ISSUER)
        raise AssertionError("PyJWT accepted a tampered library token")
    except jwt.InvalidSignatureError:
        pass
    print("ok: library-signed token verifies in PyJWT (PEM, JWK and JWKS)")


def protocol_claims(**changes):
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "user-py", "workspace": "ws-py", "default_workspace": "ws-py",
              "iat": now, "exp": now + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def check_pyjwt_token_verifies_in_library():
    key, seed_hex = new_key()
    token = jwt.encode(protocol_claims(), key, algorithm="EdDSA", headers={"kid": "kid-py"})
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == "kid-py", header
    out = run("verify", seed_hex, "kid-py", token)
    assert out["ok"] is True and out["iss"] == ISSUER, out
    assert out["sub"] == "user-py" and out["workspace"] == "ws-py", out
    assert out["exp"] == jwt.decode(token, options={"verify_signature": False})["exp"], out

    # Either workspace claim alone is enough (both TrustGraph generations).
    only_new = jwt.encode(protocol_claims(default_workspace=None), key, algorithm="EdDSA", headers={"kid": "kid-py"})
    assert run("verify", seed_hex, "kid-py", only_new)["workspace"] == "ws-py"
    only_old = jwt.encode(protocol_claims(workspace=None, default_workspace="ws-old"), key, algorithm="EdDSA",
                          headers={"kid": "kid-py"})
    assert run("verify", seed_hex, "kid-py", only_old)["workspace"] == "ws-old"

    # The library's own rules still apply to PyJWT tokens: no kid, another key, expired.
    no_kid = jwt.encode(protocol_claims(), key, algorithm="EdDSA")
    assert run("verify", seed_hex, "kid-py", no_kid, expect_exit=1)["code"] == "auth-failed"
    other, _ = new_key()
    foreign = jwt.encode(protocol_claims(), other, algorithm="EdDSA", headers={"kid": "kid-py"})
    assert run("verify", seed_hex, "kid-py", foreign, expect_exit=1)["code"] == "auth-failed"
    expired = jwt.encode(protocol_claims(exp=int(time.time()) - 3600), key, algorithm="EdDSA",
                         headers={"kid": "kid-py"})
    assert run("verify", seed_hex, "kid-py", expired, expect_exit=1)["code"] == "auth-failed"
    print("ok: PyJWT-signed token verifies in the library")


def check_wrong_issuer_rejected_by_library():
    key, seed_hex = new_key()
    token = jwt.encode(protocol_claims(iss="not-" + ISSUER), key, algorithm="EdDSA", headers={"kid": "kid-py"})
    out = run("verify", seed_hex, "kid-py", token, expect_exit=1)
    assert out["ok"] is False, out
    assert out["code"] == "auth-failed" and out["message"] == "auth failure", out
    assert out["reason"], out  # the operator-facing reason exists, the caller sees only the above
    print("ok: PyJWT token with a wrong issuer is rejected by the library")


def main(argv):
    global PROGRAM
    if len(argv) != 2:
        print(__doc__)
        return 2
    PROGRAM = os.path.abspath(argv[1])
    print(f"PyJWT {jwt.__version__}, python {sys.version.split()[0]}")
    check_library_token_verifies_in_pyjwt()
    check_pyjwt_token_verifies_in_library()
    check_wrong_issuer_rejected_by_library()
    print("all PyJWT interoperability checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
