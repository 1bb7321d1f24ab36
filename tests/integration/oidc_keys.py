"""JWKs of python3-cryptography keys for the OIDC tests (oidc_pyjwt.py, oidc_provider.py).

Written here rather than by PyJWT's to_jwk: Debian's PyJWT 2.6 drops leading zero bytes of
EC coordinates, and RFC 7518 (6.2.1.2) requires them at the curve's full size, so about one
P-256 key in 64 came out as a JWK the regime rightly refuses."""
import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value, size=None):
    """Big-endian bytes of an integer: minimal (RSA's n, e, ...) or `size` bytes (EC)."""
    size = size or max(1, (value.bit_length() + 7) // 8)
    return _b64(value.to_bytes(size, "big"))


def jwk_of(key, kid, private=False):
    """The JWK of `key` (RSA, EC P-256/P-384 or Ed25519), public unless `private`."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        numbers = (key.public_key() if private or isinstance(key, rsa.RSAPrivateKey) else key).public_numbers()
        jwk = {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        if private:
            p = key.private_numbers()
            jwk.update(d=_uint(p.d), p=_uint(p.p), q=_uint(p.q), dp=_uint(p.dmp1), dq=_uint(p.dmq1), qi=_uint(p.iqmp))
    elif isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
        size = (public.curve.key_size + 7) // 8
        numbers = public.public_numbers()
        jwk = {"kty": "EC", "crv": {256: "P-256", 384: "P-384"}[public.curve.key_size],
               "x": _uint(numbers.x, size), "y": _uint(numbers.y, size)}
        if private:
            jwk["d"] = _uint(key.private_numbers().private_value, size)
    else:
        public = key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey) else key
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}
        if private:
            jwk["d"] = _b64(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption()))
    jwk.update(kid=kid, use="sig")
    return jwk
