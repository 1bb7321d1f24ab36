#!/usr/bin/env python3
"""A throw-away PostgreSQL server for tests.

    with_postgres.py -- CMD ARGS...      start a server, run CMD with PG* set, stop the server
    with_postgres.py control stop|start  (from inside CMD) stop or start that same server

The server lives in a fresh temporary directory (initdb there; removed afterwards) and
listens on 127.0.0.1 on a free port, with password (SCRAM) authentication for one
superuser. CMD gets PGHOST, PGPORT, PGUSER, PGDATABASE=postgres and PGPASSFILE (a 0600
passfile holding the random password, so no password is ever on a command line or in the
environment), PGSSLMODE=disable, PGCONNECT_TIMEOUT, and for `control`: IAM_PG_CONTROL
(the command line of `control`, to which "stop" or "start" is appended), IAM_PG_DATADIR,
IAM_PG_BINDIR, IAM_PG_RUN_AS, IAM_PG_LOG. The exit status is CMD's.

PostgreSQL refuses to run as root: when this script runs as root, initdb and the server
run as the unprivileged user IAM_PG_RUN_AS (default `nobody`), switched to by subprocess
(setuid/setgid, no supplementary groups), and the temporary directory is chowned to it.

The server binaries are looked for in IAM_PG_BINDIR, else the newest
/usr/lib/postgresql/*/bin. Without them this FAILS (exit 1), never skips: a CI that enables
the postgres feature must install them (scripts/install-deps: postgresql).

Importable too: `with PostgresServer() as pg: ... pg.env ..., pg.psql("CREATE DATABASE x")`
for harnesses that start several processes on one server (e.g. `--store postgres:` with
pg.env in their environment)."""
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SUPERUSER = "iam_test"


def find_bindir():
    explicit = os.environ.get("IAM_PG_BINDIR")
    candidates = [explicit] if explicit else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
        reverse=True)
    for d in candidates:
        if d and all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise SystemExit("FAIL: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
                     + (explicit or "/usr/lib/postgresql/*/bin")
                     + "; install the Debian package postgresql (scripts/install-deps) or set IAM_PG_BINDIR")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runner:
    """Runs the server binaries, as an unprivileged user when we are root."""

    def __init__(self, bindir, run_as=None):
        self.bindir = bindir
        self.user = None
        if os.geteuid() == 0:
            name = run_as or os.environ.get("IAM_PG_RUN_AS") or "nobody"
            try:
                self.user = pwd.getpwnam(name)
            except KeyError:
                raise SystemExit(f"FAIL: running as root and the user '{name}' (IAM_PG_RUN_AS) does not exist")

    @property
    def user_name(self):
        return self.user.pw_name if self.user else ""

    def chown(self, path):
        if self.user:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def run(self, binary, *args, check=True, timeout=120):
        kwargs = {}
        if self.user:
            kwargs = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}
        proc = subprocess.run([os.path.join(self.bindir, binary), *args], env=env, cwd="/",
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, **kwargs)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{binary} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}")
        return proc


def pg_ctl(runner, datadir, log, action):
    """start / stop (fast, then immediate) the server of `datadir`."""
    if action == "start":
        runner.run("pg_ctl", "-D", datadir, "-l", log, "-w", "-t", "60", "start")
    elif action == "stop":
        if runner.run("pg_ctl", "-D", datadir, "-m", "fast", "-w", "-t", "30", "stop", check=False).returncode != 0:
            runner.run("pg_ctl", "-D", datadir, "-m", "immediate", "-w", "-t", "30", "stop", check=False)
    elif action == "status":
        return runner.run("pg_ctl", "-D", datadir, "status", check=False).returncode == 0
    else:
        raise SystemExit(f"unknown control action '{action}': use start, stop or status")
    return True


def temp_base():
    """A base directory the server user can reach (TMPDIR may sit under a private dir)."""
    base = tempfile.gettempdir()
    if os.geteuid() == 0:
        path = os.path.abspath(base)
        while path != "/":
            if not os.stat(path).st_mode & 0o001:
                return "/tmp"
            path = os.path.dirname(path)
    return base


class PostgresServer:
    def __init__(self):
        self.bindir = find_bindir()
        self.runner = Runner(self.bindir)
        self.tmp = None
        self.port = None
        self.env = {}

    @property
    def datadir(self):
        return os.path.join(self.tmp, "data")

    @property
    def log(self):
        return os.path.join(self.tmp, "server.log")

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="iam-pg-", dir=temp_base())
        os.chmod(self.tmp, 0o700)
        self.runner.chown(self.tmp)
        password = secrets.token_urlsafe(24)
        pwfile = os.path.join(self.tmp, "initdb.pw")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(password + "\n")
        self.runner.chown(pwfile)
        self.runner.run("initdb", "-D", self.datadir, "-U", SUPERUSER, "--pwfile", pwfile,
                        "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        os.unlink(pwfile)
        sockdir = os.path.join(self.tmp, "sock")
        os.mkdir(sockdir, 0o700)
        self.runner.chown(sockdir)
        # Throw-away data: no fsync. Enough connections for several processes with pools.
        base_conf = ("\n# iam tests\nlisten_addresses = '127.0.0.1'\n"
                     f"unix_socket_directories = '{sockdir}'\n"
                     "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                     "max_connections = 300\nshared_buffers = 32MB\ndeadlock_timeout = 100ms\n")
        conf = os.path.join(self.datadir, "postgresql.conf")
        with open(conf) as f:
            original = f.read()
        for attempt in range(5):  # the free port may be taken between probe and bind
            self.port = free_port()
            with open(conf, "w") as f:
                f.write(original + base_conf + f"port = {self.port}\n")
            try:
                pg_ctl(self.runner, self.datadir, self.log, "start")
                break
            except RuntimeError:
                if attempt == 4 or "could not bind" not in self.log_text():
                    raise RuntimeError("the PostgreSQL test server did not start:\n" + self.log_text())
        passfile = os.path.join(self.tmp, "pgpass")  # owned by us, 0600 as libpq demands
        with open(os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(f"127.0.0.1:{self.port}:*:{SUPERUSER}:{password}\n")
        script = os.path.abspath(__file__)
        self.env = {
            "PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": SUPERUSER, "PGDATABASE": "postgres",
            "PGPASSFILE": passfile, "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "10",
            "IAM_PG_CONTROL": f"{sys.executable} {script} control",
            "IAM_PG_DATADIR": self.datadir, "IAM_PG_BINDIR": self.bindir,
            "IAM_PG_RUN_AS": self.runner.user_name, "IAM_PG_LOG": self.log,
        }
        return self

    def psql(self, sql, dbname="postgres"):
        """Runs SQL as the superuser (the server's own psql); returns the bare output."""
        return subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-d", dbname, "-c", sql], env=dict(os.environ, **self.env), check=True,
                              capture_output=True, text=True).stdout.strip()

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.tmp and os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            pg_ctl(self.runner, self.datadir, self.log, "stop")

    def cleanup(self):
        if not self.tmp:
            return
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def control(action):
    datadir = os.environ.get("IAM_PG_DATADIR")
    if not datadir:
        raise SystemExit("control: IAM_PG_DATADIR is not set (run under with_postgres.py)")
    runner = Runner(os.environ.get("IAM_PG_BINDIR") or find_bindir(), os.environ.get("IAM_PG_RUN_AS") or None)
    log = os.environ.get("IAM_PG_LOG", os.path.join(os.path.dirname(datadir), "server.log"))
    return 0 if pg_ctl(runner, datadir, log, action) else 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "control":
        return control(argv[1])
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]

    # meson's timeout sends SIGTERM: stop the server on the way out.
    def terminate(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)

    started = time.monotonic()
    with PostgresServer() as pg:
        print(f"with_postgres: server on 127.0.0.1:{pg.port} (data {pg.datadir}, run as "
              f"{pg.runner.user_name or 'self'}) up in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        child = subprocess.Popen(cmd, env=dict(os.environ, **pg.env))
        try:
            code = child.wait()
        except BaseException:
            child.kill()
            child.wait()
            raise
        if code != 0:
            tail = pg.log_text().splitlines()[-40:]
            print("with_postgres: the command failed; server log tail:\n" + "\n".join(tail), file=sys.stderr)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
