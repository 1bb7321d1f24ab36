#!/usr/bin/env python3
"""The OIDC regime's libcurl getter and key fetching against real HTTP(S) servers on
loopback: `oidc_jwks_fetch.py TEST_EXE [doctest args]`.

Starts an HTTP server and an HTTPS server (a self-signed certificate the client must
refuse), both counting their hits per path, then runs TEST_EXE (tests/integration/
oidc_curl_getter_test.cpp) with their addresses in the environment:
IAM_OIDC_HTTP (http://127.0.0.1:PORT), IAM_OIDC_HTTPS (https://localhost:PORT),
IAM_OIDC_CLOSED_PORT (a loopback port nothing listens on). Exits with TEST_EXE's status."""
import base64
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(kid):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid, "x": b64url(raw)}


JWKS = json.dumps({"keys": [public_jwk("k1"), public_jwk("k2")]}).encode()
hits = {}
hits_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        with hits_lock:
            hits[url.path] = hits.get(url.path, 0) + 1
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if url.path == "/hits":
            with hits_lock:
                count = hits.get(query["path"][0], 0)
            self.send(200, json.dumps({"hits": count}).encode())
        elif url.path == "/jwks":
            self.send(200, JWKS, [("Content-Type", "application/json"), ("Cache-Control", "public, max-age=120")])
        elif url.path == "/jwks-plain":
            self.send(200, JWKS)
        elif url.path == "/jwks-two-lines":
            self.send(200, JWKS, [("Cache-Control", "public"), ("cache-control", "max-age=45")])
        elif url.path == "/.well-known/openid-configuration":
            self.send(200, json.dumps({"issuer": base, "jwks_uri": base + "/jwks"}).encode())
        elif url.path == "/big":
            self.send(200, b"x" * int(query["size"][0]))
        elif url.path == "/big-chunked":
            # No Content-Length: the client learns the size only while reading.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 4096
            try:
                for _ in range(int(query["size"][0]) // len(chunk)):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should
            self.close_connection = True
        elif url.path == "/redirect":
            self.send(302, b"", [("Location", base + "/jwks")])
        elif url.path == "/redirect-file":
            self.send(302, b"", [("Location", "file:///etc/passwd")])
        elif url.path == "/slow":
            time.sleep(3)
            self.send(200, JWKS)
        elif url.path == "/status-500":
            self.send(500, JWKS)
        else:
            self.send(404, b"not found")


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    exe = sys.argv[1]
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    plain.daemon_threads = True
    serve(plain)

    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        serve(tls)

        env = dict(os.environ)
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            env.pop(proxy, None)  # loopback, not through whatever proxy the machine has
        env["IAM_OIDC_HTTP"] = f"http://127.0.0.1:{plain.server_address[1]}"
        env["IAM_OIDC_HTTPS"] = f"https://localhost:{tls.server_address[1]}"
        env["IAM_OIDC_CLOSED_PORT"] = str(closed_port())
        status = subprocess.run([exe] + sys.argv[2:], env=env).returncode
    plain.shutdown()
    tls.shutdown()
    sys.exit(status)


if __name__ == "__main__":
    main()
