#!/usr/bin/python3
"""iam-gateway under load with wrk on loopback (run with /usr/bin/python3; stdlib only).

    bench/gateway_load.py --gateway BUILD/examples/gateway/iam-gateway [--quick] [options]

Starts the gateway on a fresh SQLite store in a temporary directory, bootstraps it, creates
a writer user with an API key and logs that user in for a JWT, then measures with wrk:

  throughput  POST /api/v1/iam {"operation":"whoami"} with the API key, the same with the
              JWT, and the PUBLIC POST /api/v1/auth/bootstrap-status, with identical wrk
              settings (the gateway's cost of authenticating + executing whoami against a
              route that needs neither). Rounds are interleaved (status, key, jwt, status,
              ...) and the median round per route is reported, so drift on a shared machine
              hits all three alike.
  latency     whoami (API key) p99 at a fixed, lower load (wrk's per-request delay() holds
              each connection below saturation, so p99 is service time, not the queue of a
              closed loop at full speed), first idle, then while a second wrk hammers
              POST /api/v1/auth/login with the correct password (PBKDF2, 600,000 iterations).

Prints `RESULT key value` lines for bench/run; wrk's own output goes to stderr.

Machine notes (the defaults are for the 2-core machine this was written on; see --help):
  * gateway --threads 1 and wrk -t1: one core each, so neither steals the other's core and
    the gateway, not wrk, is the bottleneck (wrk needs far less CPU per request).
  * gateway --workers 1: password hashing runs on its own pool; with one worker a login
    storm can take at most one core and the I/O thread keeps the other. That is the
    configuration to deploy with (workers <= cores - 1); with --workers equal to the core
    count, PBKDF2 competes with the I/O thread for every core and p99 rises accordingly.
  * The gateway writes one JSON access-log line per request on stderr. It is sent to
    /dev/null (not a pipe that this script would have to drain, which would cost CPU on
    the same two cores and could become the bottleneck). The port is therefore chosen
    here (a free port, then --port N) rather than read from the "listening" line; if the
    gateway fails to start it is started once more with stderr captured, to show why.
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PASSWORD = "bench-password-1"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    def __init__(self, exe, tmp, extra):
        self.exe, self.tmp, self.extra = exe, tmp, extra
        self.proc = None
        self.port = None

    def command(self, port):
        return [self.exe, "--port", str(port), "--store", f"sqlite:{self.tmp}/iam.db",
                "--bootstrap-mode", "bootstrap", *self.extra]

    def start(self):
        for _ in range(3):  # a chosen free port can be taken in between: try another
            port = free_port()
            self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    self.port = port
                    return self
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        # Show why: once more with stderr captured.
        out = subprocess.run(self.command(free_port()), stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=10)
        raise SystemExit(f"iam-gateway did not start (exit {out.returncode}):\n{out.stderr[-4000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def post(self, path, body, token=None):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()


def setup_credentials(gw):
    """Bootstrap; create a writer with a password and an API key; log in. Returns (key, jwt)."""
    def ok(result, what):
        status, body = result
        if status != 200:
            raise SystemExit(f"{what}: HTTP {status} {body}")
        return body

    admin = ok(gw.post("/api/v1/auth/bootstrap", {}), "bootstrap")["bootstrap_admin_api_key"]
    user = ok(gw.post("/api/v1/iam", {"operation": "create-user", "user": {
        "username": "bench", "name": "Bench", "password": PASSWORD, "roles": ["writer"]}}, admin),
        "create-user")["user"]
    key = ok(gw.post("/api/v1/iam", {"operation": "create-api-key", "key": {
        "user_id": user["id"], "name": "bench"}}, admin), "create-api-key")["api_key_plaintext"]
    jwt = ok(gw.post("/api/v1/auth/login", {"username": "bench", "password": PASSWORD}), "login")["jwt"]
    for token, what in ((key, "whoami with the API key"), (jwt, "whoami with the JWT")):
        body = ok(gw.post("/api/v1/iam", {"operation": "whoami"}, token), what)
        if body.get("user", {}).get("username") != "bench":
            raise SystemExit(f"{what}: unexpected answer {body}")
    return key, jwt


def lua_script(tmp, name, path, body, token=None, delay_ms=0):
    """A wrk script sending POST `path` with a JSON body (and a bearer token): wrk's command
    line cannot set the method or body. delay_ms > 0 paces each connection (wrk's delay())."""
    lines = ['wrk.method = "POST"',
             f"wrk.path = {json.dumps(path)}",
             f"wrk.body = {json.dumps(json.dumps(body))}",
             'wrk.headers["Content-Type"] = "application/json"']
    if token:
        lines.append(f'wrk.headers["Authorization"] = {json.dumps("Bearer " + token)}')
    if delay_ms > 0:
        lines.append(f"function delay() return {int(delay_ms)} end")
    file = os.path.join(tmp, name + ".lua")
    with open(file, "w") as f:
        f.write("\n".join(lines) + "\n")
    return file


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text, what):
    rps = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if not rps:
        raise SystemExit(f"{what}: cannot read wrk's output:\n{text}")
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    result = {"rps": float(rps.group(1)), "non2xx": int(bad.group(1)) if bad else 0,
              "socket_errors": sum(map(int, errors.groups())) if errors else 0}
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if p99:
        result["p99_ms"] = float(p99.group(1)) * UNITS[p99.group(2)]
    return result


def wrk(args, script, url, duration, threads, connections, latency=False, check=True, what=""):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", script]
    if latency:
        cmd.append("--latency")
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True)
    log(f"--- {what}: {' '.join(cmd)}\n{out.stdout.rstrip()}")
    if out.returncode != 0:
        raise SystemExit(f"{what}: wrk exited {out.returncode}: {out.stderr}")
    result = parse_wrk(out.stdout, what)
    # A 401 or 503 is answered faster than a real whoami: such a run would flatter the figure.
    if check and (result["non2xx"] or result["socket_errors"]):
        raise SystemExit(f"{what}: {result['non2xx']} non-2xx responses, {result['socket_errors']} socket errors")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", required=True, help="path to a release-built iam-gateway")
    ap.add_argument("--quick", action="store_true", help="short runs, to check the script works (figures meaningless)")
    ap.add_argument("--duration", type=float, default=5, help="seconds per throughput run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds; median reported (default 3)")
    ap.add_argument("--latency-duration", type=float, default=10, help="seconds per latency run (default 10)")
    ap.add_argument("--gateway-threads", type=int, default=1, help="gateway --threads (default 1)")
    ap.add_argument("--gateway-workers", type=int, default=1, help="gateway --workers, password hashing (default 1)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk -t for every run (default 1)")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c for the throughput runs (default 32)")
    ap.add_argument("--latency-connections", type=int, default=8, help="wrk -c for the latency runs (default 8)")
    ap.add_argument("--latency-delay-ms", type=int, default=5,
                    help="pause before each latency request, per connection (default 5 ms: at most ~200 req/s "
                         "per connection, ~1600 req/s with 8 connections, well below saturation)")
    ap.add_argument("--storm-connections", type=int, default=0,
                    help="concurrent logins in the storm (default: 2 x gateway workers, so the pool never idles)")
    a = ap.parse_args()
    if a.quick:
        a.duration, a.rounds, a.latency_duration = 1, 1, 2
    storm_connections = a.storm_connections or 2 * a.gateway_workers
    dur = lambda x: max(1, round(x))  # wrk takes whole seconds

    with tempfile.TemporaryDirectory(prefix="iam-bench-gw-") as tmp:
        gw = Gateway(os.path.abspath(a.gateway), tmp,
                     ["--threads", str(a.gateway_threads), "--workers", str(a.gateway_workers)]).start()
        try:
            key, jwt = setup_credentials(gw)
            whoami = {"operation": "whoami"}
            scripts = {
                "bootstrap_status": lua_script(tmp, "status", "/api/v1/auth/bootstrap-status", {}),
                "whoami_apikey": lua_script(tmp, "apikey", "/api/v1/iam", whoami, key),
                "whoami_jwt": lua_script(tmp, "jwt", "/api/v1/iam", whoami, jwt),
            }
            url = gw.url
            log(f"gateway {a.gateway} on {url}: --threads {a.gateway_threads} --workers {a.gateway_workers}; "
                f"access log -> /dev/null")

            # Warm-up: connections, caches (authentication, decisions), page cache of the store.
            for name, script in scripts.items():
                wrk(a, script, url, 1, a.wrk_threads, a.connections, what=f"warm-up {name}")

            rps = {name: [] for name in scripts}
            for r in range(a.rounds):
                for name, script in scripts.items():
                    res = wrk(a, script, url, dur(a.duration), a.wrk_threads, a.connections,
                              what=f"round {r + 1} {name}")
                    rps[name].append(res["rps"])
            med = {name: statistics.median(v) for name, v in rps.items()}

            # Latency: paced whoami, idle and then during a login storm.
            paced = lua_script(tmp, "paced", "/api/v1/iam", whoami, key, a.latency_delay_ms)
            idle = wrk(a, paced, url, dur(a.latency_duration), 1, a.latency_connections, latency=True,
                       what="whoami p99 idle")

            login = lua_script(tmp, "login", "/api/v1/auth/login", {"username": "bench", "password": PASSWORD})
            storm_result = {}

            def storm():
                # Longer than the measured run: started first, it is in full swing throughout.
                storm_result.update(wrk(a, login, url, dur(a.latency_duration) + 3, 1, storm_connections,
                                        check=False, what="login storm"))

            storm_thread = threading.Thread(target=storm)
            storm_thread.start()
            time.sleep(1.5)
            stormy = wrk(a, paced, url, dur(a.latency_duration), 1, a.latency_connections, latency=True,
                         what="whoami p99 during the login storm")
            storm_thread.join()
            if not storm_result or storm_result["rps"] <= 0 or storm_result["non2xx"]:
                raise SystemExit(f"the login storm did not run as intended: {storm_result}")
        finally:
            gw.stop()

    results = {
        "whoami_apikey_rps": round(med["whoami_apikey"]),
        "whoami_jwt_rps": round(med["whoami_jwt"]),
        "bootstrap_status_rps": round(med["bootstrap_status"]),
        "whoami_apikey_ratio": round(med["whoami_apikey"] / med["bootstrap_status"], 3),
        "whoami_jwt_ratio": round(med["whoami_jwt"] / med["bootstrap_status"], 3),
        "whoami_p99_idle_ms": round(idle["p99_ms"], 3),
        "whoami_p99_storm_ms": round(stormy["p99_ms"], 3),
        "whoami_p99_storm_ratio": round(stormy["p99_ms"] / idle["p99_ms"], 3),
        "login_storm_per_second": round(storm_result["rps"], 2),
    }
    for k, v in results.items():
        print(f"RESULT {k} {v}", flush=True)


if __name__ == "__main__":
    main()
