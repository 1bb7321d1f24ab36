#!/usr/bin/python3
"""The Python binding's per-call cost, and JWT verification against PyJWT.

    PYTHONPATH=<build>/bindings/python /usr/bin/python3 bench/python_bench.py [SECONDS]

Times, through the binding (iam), on a roles regime on memory storage with a reader and
an API key (the calls bench-authorise and bench-apikey time in C++):
  python_authorise_ns              Regime.authorise of a granted capability (uncached: the
                                   regime itself, like bench-authorise's authorise_uncached_ns)
  python_authenticate_apikey_ns    Regime.authenticate of the API key (the regime: SHA-256
                                   and a store lookup; nothing cached)
  python_authenticate_cached_ns    the gateway kit's cached authenticate of the same key
                                   (iam.Enforcer), when the binding has the gateway kit
  python_jwt_per_second            Regime.authenticate of a JWT the regime issued: Ed25519
                                   verification, claims, user lookup
  python_pyjwt_per_second          PyJWT (Debian python3-jwt) verifying that same token with
                                   the key from the regime's JWKS, time claims off (as
                                   bench/peers/pyjwt_verify.py), in this same process
  python_jwt_vs_pyjwt_ratio        the two throughputs: iam ÷ PyJWT (> 1: iam is faster,
                                   although it also looks the user up)
Each figure is the median of 5 batches of process CPU time (single-threaded: CPU time ~
wall time), printed as `RESULT key value`. bench/run's part `python` runs bench-authorise
and bench-apikey in the same run and divides (python_*_ratio)."""
import base64
import json
import os
import statistics
import sys

import iam

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from cpu_batches import cpu_batches  # noqa: E402

TOKEN = "tg_" + "p" * 40
PASSWORD = "benchmark password"


def per_call_seconds(fn, seconds):
    """Median over 5 batches of CPU seconds per call of fn."""
    return statistics.median(elapsed / calls for calls, elapsed in cpu_batches(fn, seconds, per_round=200))


def result(key, value):
    print(f"RESULT {key} {value:.6g}", flush=True)


def pyjwt_verifier(regime, token):
    try:
        import jwt
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as e:
        print(f"PyJWT not available ({e}): python_pyjwt_per_second not measured", file=sys.stderr)
        return None
    kid = regime.active_kid
    jwk = next(k for k in json.loads(regime.jwks())["keys"] if k["kid"] == kid)
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4)))
    options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp", "iat", "sub"]}

    def verify():
        return jwt.decode(token, key, algorithms=["EdDSA"], issuer="trustgraph-iam", options=options)
    if not verify().get("sub"):
        raise SystemExit("PyJWT verified the token but found no subject")
    return verify


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    regime = iam.roles_regime(iam.open_store("memory"), bootstrap_mode="token", bootstrap_token=TOKEN,
                              read_environment=False, clock=iam.ManualClock(), logger=lambda level, message: None)
    user = regime.create_user("default", username="reader", password=PASSWORD, roles=["reader"])
    key = regime.create_api_key(user.id, "bench").plaintext
    identity = regime.authenticate(key)
    resource = {"workspace": "default"}
    if not regime.authorise(identity, "config:read", resource):
        raise SystemExit("the regime denied the reader config:read: the figures would mean nothing")

    result("python_authorise_ns", 1e9 * per_call_seconds(lambda: regime.authorise(identity, "config:read", resource),
                                                           seconds))
    result("python_authenticate_apikey_ns", 1e9 * per_call_seconds(lambda: regime.authenticate(key), seconds))

    enforcer = iam.Enforcer(regime)
    if enforcer.authenticate(key).handle != user.id:  # also warms the cache
        raise SystemExit("the enforcer did not authenticate the key")
    result("python_authenticate_cached_ns", 1e9 * per_call_seconds(lambda: enforcer.authenticate(key), seconds))

    token = regime.login("reader", PASSWORD).jwt
    if regime.authenticate(token).handle != user.id:
        raise SystemExit("the JWT did not authenticate")
    iam_per_second = 1 / per_call_seconds(lambda: regime.authenticate(token), seconds)
    result("python_jwt_per_second", iam_per_second)
    verify = pyjwt_verifier(regime, token)
    if verify:
        pyjwt_per_second = 1 / per_call_seconds(verify, seconds)
        result("python_pyjwt_per_second", pyjwt_per_second)
        result("python_jwt_vs_pyjwt_ratio", iam_per_second / pyjwt_per_second)


if __name__ == "__main__":
    main()
