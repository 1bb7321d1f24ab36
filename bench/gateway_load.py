#!/usr/bin/python3
"""iam-gateway under load with wrk on loopback, next to nginx as the HTTP floor (run with
/usr/bin/python3; stdlib only).

    bench/gateway_load.py --gateway BUILD/examples/gateway/iam-gateway [--quick] [options]

Starts the gateway on a fresh SQLite store in a temporary directory, bootstraps it, creates
a writer user with an API key and logs that user in for a JWT, then measures with wrk:

  throughput  interleaved rounds (median round per route reported, so drift on a shared
              machine hits every route alike), identical wrk settings:
                - forwarded: POST /api/v1/config {"operation":"get","keys":[]} with the API
                  key: authenticated, authorised and forwarded to the example's echo
                  backend, the gateway's main path;
                - nginx: the HTTP floor, Debian nginx-light (`worker_processes 1`, no access
                  log) answering every request with the very bytes of the forwarded
                  response (same size, same Content-Type), same core, same wrk load;
                - whoami (API key, JWT) and the PUBLIC bootstrap-status: figures only;
                - forwarded on a second gateway with --threads 2 on the same store (the
                  scaling figure: threads 2 ÷ threads 1).
  latency     whoami (API key) p99 at a fixed, lower load (wrk's per-request delay() holds
              each connection below saturation, so p99 is service time, not the queue of a
              closed loop at full speed), first idle, then while a second wrk hammers
              POST /api/v1/auth/login with the correct password (PBKDF2, 600,000 iterations).

Every answer is checked: each wrk run must see only 2xx (a 401 is faster than a real
request and would flatter a figure), and before the load the forwarded answer must be the
echo backend's, naming the writer as actor, and nginx's answer must be the same bytes.

Prints `RESULT key value` lines for bench/run; wrk's own output goes to stderr.

Pinning (taskset, when there are 2 cores or more; --no-pin turns it off): the
single-threaded servers (gateway --threads 1, nginx) run on --server-cpu (default the last
core), wrk and this script on --client-cpu (default core 0), so server and client never
share a core. The --threads 2 gateway runs on both, and with only two cores wrk then
shares a core with one of its threads: on a 2-core machine that figure is a lower bound of
what two cores give, and says so in its name. The whoami latency, idle and during a login
storm, is measured on a third gateway (--threads 1, the same --workers) allowed both cores,
so that its password-hashing worker and its I/O thread can run at once.

Machine notes:
  * gateway --workers 1: password hashing runs on its own pool; with one worker a login
    storm can take at most one core and the I/O thread keeps the other. That is the
    configuration to deploy with (workers <= cores - 1); with --workers equal to the core
    count, PBKDF2 competes with the I/O thread for every core and p99 rises accordingly.
  * The gateway writes one JSON access-log line per request on stderr. It is sent to
    /dev/null (not a pipe that this script would have to drain, which would cost CPU on
    the same cores and could become the bottleneck). The port is therefore chosen here (a
    free port, then --port N) rather than read from the "listening" line; if the gateway
    fails to start it is started once more with stderr captured, to show why.
"""
import argparse
import json
import os
import re
import shutil
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


def pinned(cpus, cmd):
    """cmd run on the CPUs `cpus` (taskset -c syntax); unpinned when cpus is None."""
    return ["taskset", "-c", cpus, *cmd] if cpus is not None else cmd


def launch(server, cmd, port, timeout):
    """Starts cmd as server.proc and waits until it accepts on `port` (then sets
    server.port): True; False (the process stopped) when it exits or the time runs out."""
    server.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            server.port = port
            return True
        except OSError:
            time.sleep(0.05)
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()
    return False


class Gateway:
    def __init__(self, exe, tmp, extra, cpus=None):
        self.exe, self.tmp, self.extra, self.cpus = exe, tmp, extra, cpus
        self.proc = None
        self.port = None

    def command(self, port):
        return pinned(self.cpus, [self.exe, "--port", str(port), "--store", f"sqlite:{self.tmp}/iam.db",
                                  "--bootstrap-mode", "bootstrap", *self.extra])

    def start(self):
        for _ in range(3):  # a chosen free port can be taken in between: try another
            port = free_port()
            if launch(self, self.command(port), port, 60):
                return self
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
        status, raw, _ = post_raw(self.url + path, body, token)
        return status, (json.loads(raw or b"{}") if status == 200 else raw.decode())


def post_raw(url, body, token=None):
    """POST a JSON body: (status, body bytes, Content-Type)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("Content-Type")


class Nginx:
    """Debian nginx-light as the HTTP floor: one process (no master), no access log,
    answering every request on 127.0.0.1 with `body` (200, `content_type`)."""

    def __init__(self, exe, tmp, body, content_type, cpus=None):
        self.exe, self.tmp, self.cpus = exe, os.path.join(tmp, "nginx"), cpus
        os.makedirs(self.tmp, exist_ok=True)
        self.body, self.content_type = body, content_type
        self.proc = None
        self.port = None

    def config(self, port):
        text = self.body.decode()
        if "'" in text or "\\" in text or "$" in text:  # nginx string syntax: keep it literal
            raise SystemExit("the forwarded answer holds ' \\ or $: cannot put it in nginx's config as is")
        t = self.tmp
        return f"""daemon off;
master_process off;
worker_processes 1;
pid {t}/nginx.pid;
error_log {t}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {t}/body;
  proxy_temp_path {t}/proxy;
  fastcgi_temp_path {t}/fastcgi;
  uwsgi_temp_path {t}/uwsgi;
  scgi_temp_path {t}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type {self.content_type};
      return 200 '{text}';
    }}
  }}
}}
"""

    def start(self):
        for _ in range(3):
            port = free_port()
            conf = os.path.join(self.tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self.config(port))
            if launch(self, pinned(self.cpus, [self.exe, "-p", self.tmp, "-e", f"{self.tmp}/error.log", "-c", conf]),
                      port, 20):
                return self
        try:
            error = open(os.path.join(self.tmp, "error.log")).read()[-4000:]
        except OSError:
            error = "(no error log)"
        raise SystemExit(f"nginx did not start:\n{error}")

    stop = Gateway.stop
    url = Gateway.url


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
    requests = re.search(r"(\d+) requests in", text)
    result = {"rps": float(rps.group(1)), "requests": int(requests.group(1)) if requests else 0, "non2xx": int(bad.group(1)) if bad else 0,
              "socket_errors": sum(map(int, errors.groups())) if errors else 0}
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if p99:
        result["p99_ms"] = float(p99.group(1)) * UNITS[p99.group(2)]
    return result


def wrk(args, script, url, duration, threads, connections, latency=False, check=True, what=""):
    cmd = [*pinned(args.client_cpu, []), "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", script]
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


def cpu_seconds(pid):
    """User + system CPU time of process `pid` so far (all its threads), in seconds. The
    servers run under taskset, which execs them: Popen's pid is the server's."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def default_cpus():
    """(server CPU, client CPU, both) for taskset, or Nones when pinning is off or useless."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    if len(cpus) < 2:
        return None, None, None
    return str(cpus[-1]), str(cpus[0]), f"{cpus[0]},{cpus[-1]}"


def main():
    server_cpu, client_cpu, both_cpus = default_cpus()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", required=True, help="path to a release-built iam-gateway")
    ap.add_argument("--nginx", default="/usr/sbin/nginx", help="nginx binary for the HTTP floor (default /usr/sbin/nginx)")
    ap.add_argument("--quick", action="store_true", help="short runs, to check the script works (figures meaningless)")
    ap.add_argument("--duration", type=float, default=5, help="seconds per throughput run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds; median reported (default 3)")
    ap.add_argument("--latency-duration", type=float, default=10, help="seconds per latency run (default 10)")
    ap.add_argument("--gateway-workers", type=int, default=1, help="gateway --workers, password hashing (default 1)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk -t for every run (default 1)")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c for the throughput runs (default 32)")
    ap.add_argument("--latency-connections", type=int, default=8, help="wrk -c for the latency runs (default 8)")
    ap.add_argument("--latency-delay-ms", type=int, default=5,
                    help="pause before each latency request, per connection (default 5 ms: at most ~200 req/s "
                         "per connection, ~1600 req/s with 8 connections, well below saturation)")
    ap.add_argument("--storm-connections", type=int, default=0,
                    help="concurrent logins in the storm (default: 2 x gateway workers, so the pool never idles)")
    ap.add_argument("--server-cpu", default=server_cpu,
                    help=f"taskset CPU of the one-threaded gateway and nginx (default {server_cpu})")
    ap.add_argument("--client-cpu", default=client_cpu, help=f"taskset CPU of wrk (default {client_cpu})")
    ap.add_argument("--two-thread-cpus", default=both_cpus,
                    help=f"taskset CPUs of the --threads 2 gateway (default {both_cpus})")
    ap.add_argument("--no-pin", action="store_true", help="no taskset at all")
    a = ap.parse_args()
    if a.no_pin or not shutil.which("taskset"):
        a.server_cpu = a.client_cpu = a.two_thread_cpus = None
    if a.quick:
        a.duration, a.rounds, a.latency_duration = 1, 1, 2
    storm_connections = a.storm_connections or 2 * a.gateway_workers
    dur = lambda x: max(1, round(x))  # wrk takes whole seconds
    workers = ["--workers", str(a.gateway_workers)]

    with tempfile.TemporaryDirectory(prefix="iam-bench-gw-") as tmp:
        servers = []
        try:
            gw = Gateway(os.path.abspath(a.gateway), tmp, ["--threads", "1", *workers], a.server_cpu).start()
            servers.append(gw)
            key, jwt = setup_credentials(gw)
            # The same store, so the same key: a second gateway with two I/O threads.
            gw2 = Gateway(os.path.abspath(a.gateway), tmp, ["--threads", "2", *workers], a.two_thread_cpus).start()
            servers.append(gw2)

            whoami = {"operation": "whoami"}
            config = {"operation": "get", "keys": []}
            forwarded = check_forwarded(gw, key, config, "the forwarded request")
            check_forwarded(gw2, key, config, "the forwarded request (--threads 2)")
            nginx = Nginx(a.nginx, tmp, forwarded["raw"], forwarded["content_type"], a.server_cpu).start()
            servers.append(nginx)
            status, raw, _ = post_raw(nginx.url + "/api/v1/config", config, key)
            if status != 200 or raw != forwarded["raw"]:
                raise SystemExit(f"nginx answered {status} {raw[:200]!r}, not the forwarded answer")
            log(f"forwarded answer ({len(forwarded['raw'])} bytes, nginx answers the same): {forwarded['raw'].decode()}")

            config_script = lua_script(tmp, "config", "/api/v1/config", config, key)
            targets = {  # name: (script, server)
                "forwarded": (config_script, gw),
                "nginx": (config_script, nginx),
                "bootstrap_status": (lua_script(tmp, "status", "/api/v1/auth/bootstrap-status", {}), gw),
                "whoami_apikey": (lua_script(tmp, "apikey", "/api/v1/iam", whoami, key), gw),
                "whoami_jwt": (lua_script(tmp, "jwt", "/api/v1/iam", whoami, jwt), gw),
                "forwarded_threads2": (config_script, gw2),
            }
            log(f"gateway {a.gateway}: --threads 1 on {gw.url} (cpu {a.server_cpu}), --threads 2 on {gw2.url} "
                f"(cpus {a.two_thread_cpus}), --workers {a.gateway_workers}, access log -> /dev/null; nginx on "
                f"{nginx.url} (cpu {a.server_cpu}); wrk on cpu {a.client_cpu}")

            # Warm-up: connections, caches (authentication, decisions), page cache of the store.
            for name, (script, server) in targets.items():
                wrk(a, script, server.url, 1, a.wrk_threads, a.connections, what=f"warm-up {name}")

            # Throughput, and the server's CPU time per request: on a shared machine the
            # pinned core is not ours alone, and CPU per request is what other work on
            # that core disturbs least.
            rps = {name: [] for name in targets}
            cpu = {name: [] for name in targets}
            for r in range(a.rounds):
                for name, (script, server) in targets.items():
                    before = cpu_seconds(server.proc.pid)
                    res = wrk(a, script, server.url, dur(a.duration), a.wrk_threads, a.connections,
                              what=f"round {r + 1} {name}")
                    rps[name].append(res["rps"])
                    if res["requests"]:
                        cpu[name].append((cpu_seconds(server.proc.pid) - before) / res["requests"])
            med = {name: statistics.median(v) for name, v in rps.items()}
            cpu_med = {name: statistics.median(v) for name, v in cpu.items() if v}
            log("server CPU µs per request (median round): " +
                ", ".join(f"{name} {v * 1e6:.1f}" for name, v in cpu_med.items()))
            nginx.stop()
            gw2.stop()

            # Latency: paced whoami, idle and then during a login storm, on a one-threaded
            # gateway free to use both cores (the same store): pinned to one core, its
            # PBKDF2 worker and I/O thread would share that core, and p99 would measure
            # the scheduler's time slice (about 4 ms) rather than the gateway.
            gw.stop()
            lat = Gateway(os.path.abspath(a.gateway), tmp, ["--threads", "1", *workers], a.two_thread_cpus).start()
            servers.append(lat)
            paced = lua_script(tmp, "paced", "/api/v1/iam", whoami, key, a.latency_delay_ms)
            idle = wrk(a, paced, lat.url, dur(a.latency_duration), 1, a.latency_connections, latency=True,
                       what="whoami p99 idle")

            login = lua_script(tmp, "login", "/api/v1/auth/login", {"username": "bench", "password": PASSWORD})
            storm_result = {}

            def storm():
                # Longer than the measured run: started first, it is in full swing throughout.
                storm_result.update(wrk(a, login, lat.url, dur(a.latency_duration) + 3, 1, storm_connections,
                                        check=False, what="login storm"))

            storm_thread = threading.Thread(target=storm)
            storm_thread.start()
            time.sleep(1.5)
            stormy = wrk(a, paced, lat.url, dur(a.latency_duration), 1, a.latency_connections, latency=True,
                         what="whoami p99 during the login storm")
            storm_thread.join()
            if not storm_result or storm_result["rps"] <= 0 or storm_result["non2xx"]:
                raise SystemExit(f"the login storm did not run as intended: {storm_result}")
        finally:
            for server in servers:
                server.stop()

    results = {
        "forwarded_rps": round(med["forwarded"]),
        "nginx_rps": round(med["nginx"]),
        "forwarded_nginx_ratio": round(med["forwarded"] / med["nginx"], 3),
        "forwarded_cpu_us": round(cpu_med["forwarded"] * 1e6, 2),
        "nginx_cpu_us": round(cpu_med["nginx"] * 1e6, 2),
        "forwarded_nginx_cpu_ratio": round(cpu_med["nginx"] / cpu_med["forwarded"], 3),
        "whoami_apikey_rps": round(med["whoami_apikey"]),
        "whoami_jwt_rps": round(med["whoami_jwt"]),
        "bootstrap_status_rps": round(med["bootstrap_status"]),
        "forwarded_threads2_rps": round(med["forwarded_threads2"]),
        "gateway_threads_ratio": round(med["forwarded_threads2"] / med["forwarded"], 3),
        "whoami_p99_idle_ms": round(idle["p99_ms"], 3),
        "whoami_p99_storm_ms": round(stormy["p99_ms"], 3),
        "whoami_p99_storm_ratio": round(stormy["p99_ms"] / idle["p99_ms"], 3),
        "login_storm_per_second": round(storm_result["rps"], 2),
    }
    for k, v in results.items():
        print(f"RESULT {k} {v}", flush=True)


def check_forwarded(gw, key, body, what):
    """The forwarded request reaches the echo backend as the writer: its answer, raw."""
    status, raw, content_type = post_raw(gw.url + "/api/v1/config", body, key)
    if status != 200:
        raise SystemExit(f"{what}: HTTP {status} {raw[:300]!r}")
    answer = json.loads(raw)
    if not answer.get("echo-backend") or answer.get("operation") != "config:get" or not answer.get("actor"):
        raise SystemExit(f"{what}: not the echo backend's answer for the writer: {answer}")
    return {"raw": raw, "content_type": content_type or "application/json"}


if __name__ == "__main__":
    main()
