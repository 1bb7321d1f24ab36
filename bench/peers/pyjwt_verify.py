#!/usr/bin/python3
"""PyJWT (Debian python3-jwt) verifying the very token bench-jwt times.

    /usr/bin/python3 bench/peers/pyjwt_verify.py TOKEN_JSON [SECONDS]

TOKEN_JSON is what `bench-jwt --token-out=FILE` wrote. Verifies the token in a loop for
about SECONDS (default 5) of CPU time, split into 5 batches, and prints
`RESULT pyjwt_per_second <n>` from the median batch (process CPU time, like Google
Benchmark's CPU time for iam's figure; single-threaded, so CPU time ~ wall time).

Time claims: bench-jwt signs on a ManualClock set to 2027, so relative to real time the
token's iat lies in the future (and in some later year its exp in the past). PyJWT has no
clock to inject, so verify_exp/verify_iat/verify_nbf are off. PyJWT still checks the
signature, parses header and payload, checks the issuer and that exp/iat/sub are present;
iam's verify does those time comparisons too, so if anything the peer does a little less
work than iam."""
import json
import statistics
import sys

import jwt
from cpu_batches import cpu_batches
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def b64url_decode(text):
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    info = json.load(open(sys.argv[1]))
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    token = info["token"]
    key = Ed25519PublicKey.from_public_bytes(b64url_decode(info["public_key_b64url"]))
    options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp", "iat", "sub"]}

    def verify():
        return jwt.decode(token, key, algorithms=["EdDSA"], issuer=info["issuer"], options=options)

    claims = verify()  # raises if PyJWT rejects the token: then the figure would mean nothing
    if not claims.get("sub"):
        raise SystemExit("pyjwt: token verified but has no subject")

    rates = [calls / elapsed for calls, elapsed in cpu_batches(verify, seconds)]
    print(f"pyjwt {jwt.__version__}: batches {[round(r) for r in rates]} verifies/s", file=sys.stderr)
    print(f"RESULT pyjwt_per_second {statistics.median(rates):.0f}", flush=True)


if __name__ == "__main__":
    main()
