"""iam-gateway's Prometheus metrics (issue 18, docs/metrics.md), driven as a real process:
--metrics-port serves GET /metrics on a listener of its own; requests with a good API key,
a bad one, a JWT, a forbidden operation and throttled logins move the counters by exactly
what was done; the text parses with Debian's python3-prometheus-client; the API port does
not serve it (its /api/metrics stays TrustGraph's gated http:metrics route); no secret or
user name appears in it.

Usage: /usr/bin/python3 gateway_metrics.py IAM_GATEWAY   (PYTHONPATH has gateway_process.py;
needs Debian's python3-prometheus-client)."""
import json
import subprocess
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from gateway_process import Checks, Gateway

if len(sys.argv) != 2:
    raise SystemExit("usage: gateway_metrics.py IAM_GATEWAY")

EXE = sys.argv[1]
c = Checks()


def metrics_port(gw):
    def listening():
        found = [json.loads(line)["port"] for line in gw.log_lines if '"metrics_listening"' in line]
        return found[0] if found else None

    gw.wait_until(lambda: listening() is not None)
    found = [p for p in [listening()] if p is not None]
    if not found:
        print("no metrics_listening line:\n" + "\n".join(gw.log_lines))
        c.done()
    return found[0]


def fetch(port, path="/metrics", method="GET"):
    """(status, content type, body text) from the metrics listener."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read().decode()


def scrape(port):
    """{(sample name, frozenset of labels): value}, parsed by prometheus_client; and the
    families by name."""
    status, _, text = fetch(port)
    c.equal(status, 200, "GET /metrics")
    samples, families = {}, {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, families, text


def delta(before, after, name, **labels):
    key = (name, frozenset(labels.items()))
    return after.get(key, 0) - before.get(key, 0)


with Gateway(EXE, "--bootstrap-mode", "bootstrap", "--metrics-port", "0", "--address-free-failures", "2") as gw:
    port = metrics_port(gw)
    c.check(port != gw.port, "the metrics listener is not the API port")

    # ---------------------------------------------------------------- the listener itself
    status, content_type, text = fetch(port)
    c.equal(status, 200, "GET /metrics")
    c.equal(content_type, "text/plain; version=0.0.4; charset=utf-8", "the exposition's content type")
    c.check("# TYPE iam_http_requests_total counter" in text, "HELP/TYPE lines are there before any request")
    c.equal(fetch(port, "/")[0], 404, "the listener serves nothing but /metrics")
    c.equal(fetch(port, "/api/v1/iam")[0], 404, "the listener has no API route")
    c.equal(fetch(port, "/metrics", "POST")[0], 405, "POST /metrics")
    # The API port: no /metrics there, and /api/metrics is still the gated backend route.
    c.equal(gw.request("GET", "/metrics")[0], 404, "the API port does not serve /metrics")
    c.equal(gw.request("GET", "/api/metrics")[0], 401, "the API port's /api/metrics still needs a credential")

    before, _, _ = scrape(port)

    # ---------------------------------------------------------------- traffic
    admin = c.bootstrap(gw)                                                     # auth/bootstrap 200 (public)
    for i in range(3):                                                          # good key: 3 x 200
        c.iam_ok(gw, {"operation": "list-users"}, admin, f"list-users with the admin key ({i})")
    bad_key = "tg_" + "A" * 32
    c.equal(gw.iam({"operation": "list-users"}, bad_key)[0], 401, "a well-formed unknown key")  # api-key failure
    c.equal(gw.iam({"operation": "list-users"}, "not-a-credential")[0], 401, "a malformed credential")
    c.iam_ok(gw, {"operation": "create-user",
                  "user": {"username": "rita", "password": "rita-password-1", "roles": ["reader"]}}, admin,
             "create-user rita")                                                # good key: 200
    status, text = gw.post("/api/v1/auth/login", {"username": "rita", "password": "rita-password-1"})
    c.equal(status, 200, "rita logs in")
    jwt = json.loads(text).get("jwt", "") if status == 200 else ""
    c.iam_ok(gw, {"operation": "whoami"}, jwt, "whoami with rita's JWT")          # jwt success, authenticated only
    c.equal(gw.iam({"operation": "list-users"}, jwt)[0], 403, "rita may not list users")  # jwt success, deny
    # The address throttle: two free failures (unknown names, so no account lock), then
    # the address is locked and the next attempt is refused without a password check.
    for name in ("nobody-1", "nobody-2"):
        c.equal(gw.post("/api/v1/auth/login", {"username": name, "password": "wrong-password-1"})[0], 401,
                f"failed login {name}")
    c.equal(gw.post("/api/v1/auth/login", {"username": "nobody-3", "password": "wrong-password-1"})[0], 401,
            "the third failure locks the address")
    c.equal(gw.post("/api/v1/auth/login", {"username": "nobody-4", "password": "wrong-password-1"})[0], 401,
            "a login from the locked address is refused")

    after, families, text = scrape(port)

    # ---------------------------------------------------------------- what moved
    req = "iam_http_requests_total"
    c.equal(delta(before, after, req, route="/api/v1/auth/bootstrap", status="200"), 1, "bootstrap requests")
    c.equal(delta(before, after, req, route="/api/v1/iam", status="200"), 5, "IAM 200s")
    c.equal(delta(before, after, req, route="/api/v1/iam", status="401"), 2, "IAM 401s")
    c.equal(delta(before, after, req, route="/api/v1/iam", status="403"), 1, "IAM 403s")
    c.equal(delta(before, after, req, route="/api/v1/auth/login", status="200"), 1, "login 200s")
    c.equal(delta(before, after, req, route="/api/v1/auth/login", status="401"), 4, "login 401s")
    # The scrapes before "before" were answered by the listener, not the API: only the two
    # API-port probes above count, as unmatched 404 and /api/metrics 401 (both before `before`).
    c.equal(delta(before, after, req, route="unmatched", status="404"), 0, "no unmatched requests since")
    c.equal(after.get((req, frozenset({("route", "unmatched"), ("status", "404")}))), 1, "GET /metrics on the API port")
    c.equal(after.get((req, frozenset({("route", "/api/metrics"), ("status", "401")}))), 1, "GET /api/metrics")
    c.equal(delta(before, after, "iam_http_request_duration_seconds_count", route="/api/v1/iam"), 8,
            "latency observations for /api/v1/iam")
    c.equal(delta(before, after, "iam_http_request_duration_seconds_bucket", route="/api/v1/iam", le="+Inf"), 8,
            "the +Inf bucket equals the count")
    c.check(delta(before, after, "iam_http_request_duration_seconds_sum", route="/api/v1/iam") > 0,
            "latency sum grows")

    auth = "iam_authentications_total"
    c.equal(delta(before, after, auth, source="api-key", outcome="success"), 4, "API key authentications")
    c.equal(delta(before, after, auth, source="api-key", outcome="failure"), 1, "failed API key authentications")
    c.equal(delta(before, after, auth, source="malformed", outcome="failure"), 1, "malformed credentials")
    c.equal(delta(before, after, auth, source="jwt", outcome="success"), 2, "JWT authentications")
    c.equal(delta(before, after, auth, source="jwt", outcome="failure"), 0, "no failed JWT authentication")
    c.equal(delta(before, after, "iam_authorisations_total", outcome="deny"), 1, "denied authorisations")
    c.equal(delta(before, after, "iam_authorisations_total", outcome="allow"), 4, "allowed authorisations")
    c.equal(delta(before, after, "iam_cache_hits_total", cache="identity"), 4,
            "identity cache hits (the admin key's 2nd..4th use, rita's JWT's 2nd)")
    c.equal(delta(before, after, "iam_cache_misses_total", cache="identity"), 3,
            "identity cache misses (the admin key's, the unknown key's and the JWT's first use)")
    c.check(after.get(("iam_cache_entries", frozenset({("cache", "identity")}))) == 2, "two identities cached")
    c.equal(delta(before, after, "iam_login_throttled_total", scope="client-address"), 1,
            "logins refused by the address throttle")
    c.equal(delta(before, after, "iam_login_throttled_total", scope="account"), 0, "no account was locked")
    c.check(delta(before, after, "iam_store_operations_total", kind="read") > 0, "store reads counted")
    c.check(delta(before, after, "iam_store_operations_total", kind="write") >= 2, "store writes counted")
    c.equal(delta(before, after, "iam_store_errors_total", kind="read"), 0, "no store read errors")
    c.equal(after.get(("iam_audit_events_dropped_total", frozenset())), 0, "no audit events dropped (no audit log)")
    c.equal(after.get(("iam_jwks_fetches_total", frozenset({("outcome", "success")}))), 0, "no JWKS fetches (roles)")
    c.equal(after.get(("iam_postgres_connections_in_use", frozenset())), 0, "no PostgreSQL pool (sqlite)")
    c.equal(after.get(("iam_postgres_reconnects_total", frozenset())), 0, "no PostgreSQL reconnects")
    build = [labels for (name, labels), value in after.items() if name == "iam_build_info" and value == 1]
    c.check(len(build) == 1 and dict(build[0]).get("version"), f"iam_build_info{{version=...}} 1: {build}")

    # The parser's view of the types.
    for name, kind in (("iam_http_requests", "counter"), ("iam_http_request_duration_seconds", "histogram"),
                       ("iam_cache_entries", "gauge"), ("iam_authentications", "counter"), ("iam_build_info", "gauge")):
        c.equal(families[name].type if name in families else None, kind, f"{name} is a {kind}")

    # Never a credential, password or user name in the text.
    for secret in (admin, bad_key, jwt, "rita", "rita-password-1", "nobody-1", "wrong-password-1"):
        c.check(secret and secret not in text, f"{secret[:12]}... is not in the metrics")

# Without --metrics-port there is no listener; a bad --metrics-bind is a usage error.
with Gateway(EXE, "--bootstrap-mode", "bootstrap") as gw:
    c.check(not any('"metrics_listening"' in l for l in gw.log_lines), "no metrics listener unless asked")
bad = subprocess.run([EXE, "--store", "memory", "--bootstrap-mode", "bootstrap", "--port", "0",
                      "--metrics-port", "0", "--metrics-bind", "not-an-address"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
c.equal(bad.returncode, 2, f"a bad --metrics-bind exits 2 ({bad.stderr.strip()})")
c.done()
