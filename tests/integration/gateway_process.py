"""Runs a real iam-gateway process for integration tests: a free port, a temporary store,
its stderr collected (JSON log lines), and small HTTP helpers on urllib (no third-party
packages). Imported by the gateway_*.py tests; run them with /usr/bin/python3."""
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request


class Gateway:
    """`with Gateway(exe, "--bootstrap-mode", "bootstrap") as gw:` starts iam-gateway on a
    free port (or `port`; None: its default) with a fresh SQLite file (unless `store` is
    given) and stops it with SIGTERM, checking that it shuts down cleanly."""

    def __init__(self, exe, *args, store=None, env=None, port=0):
        self.exe = exe
        self.port_arg = port  # None: no --port at all (the gateway's default)
        self.args = list(args)
        self.tmp = tempfile.TemporaryDirectory(prefix="iam-gw-")
        self.store = store or f"sqlite:{self.tmp.name}/iam.db"
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.log_lines = []  # every stderr line, in order

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.proc = subprocess.Popen(
            [self.exe, *([] if self.port_arg is None else ["--port", str(self.port_arg)]), "--store", self.store,
             *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env)
        listening = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log_lines.append(line.rstrip("\n"))
                if '"event":"listening"' in line:
                    self.port = json.loads(line)["port"]
                    listening.set()
            listening.set()

        threading.Thread(target=pump, daemon=True).start()
        if not listening.wait(60) or self.port is None:
            self.proc.kill()
            raise SystemExit("iam-gateway did not start:\n" + "\n".join(self.log_lines))
        return self

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            code = self.proc.wait(timeout=timeout)
            if code != 0:
                raise SystemExit(f"iam-gateway exited {code} on SIGTERM:\n" + "\n".join(self.log_lines[-20:]))
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, token=None, headers=None, raw=None):
        """Returns (status, body text). `body` is JSON-encoded unless `raw` bytes are given."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def post(self, path, body=None, token=None, **kw):
        return self.request("POST", path, body if body is not None else {}, token, **kw)

    def iam(self, request, token=None):
        """POST /api/v1/iam; returns (status, parsed JSON or the text if not JSON)."""
        status, text = self.post("/api/v1/iam", request, token)
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def wait_until(self, predicate, timeout=10.0, interval=0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()


class Checks:
    """Collects failures instead of stopping at the first; `done()` exits non-zero if any."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, condition, what):
        self.count += 1
        if not condition:
            self.failures.append(what)
            print("FAIL:", what, flush=True)

    def equal(self, got, want, what):
        self.check(got == want, f"{what}: got {got!r}, want {want!r}")

    def iam_ok(self, gw, request, token, what):
        """An IAM request that must succeed: checks for 200 and returns the body (an empty
        dict when it is not an object, so a failed step does not crash the next one)."""
        status, body = gw.iam(request, token)
        self.equal(status, 200, what)
        if status != 200:
            print("   answer:", body)
        return body if isinstance(body, dict) else {}

    def bootstrap(self, gw, what="bootstrap"):
        """Bootstraps a fresh gateway and returns the admin API key; stops the test (done())
        when bootstrap fails, since nothing after it can run."""
        status, text = gw.post("/api/v1/auth/bootstrap")
        self.equal(status, 200, what)
        if status != 200:
            self.done()
        return json.loads(text)["bootstrap_admin_api_key"]

    def done(self):
        print(f"{self.count - len(self.failures)} of {self.count} checks passed", flush=True)
        raise SystemExit(1 if self.failures else 0)
