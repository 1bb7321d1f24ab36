#!/usr/bin/python3
"""Durability of the SQLite store, driving the sqlite-writer child program.

  sqlite_durability.py kill WRITER [KILLS]     kill a writer with SIGKILL at random moments
  sqlite_durability.py concurrent WRITER [N]   two writers on one file at once

kill: one database file; again and again a writer is started on it and killed with SIGKILL
after a random number of acknowledged writes (sometimes none: during start-up and
recovery, or after a random bounded wait for its output). After every kill the file must
pass PRAGMA integrity_check and foreign_key_check, every write the writer acknowledged
must be there, nothing it did not attempt may be, and no cascade may be half applied.

concurrent: two writers insert N users each (with their keys, disables and key
rotations) into one file at the same time; both must finish, and every write of both must
be there.

The file is read with Python's sqlite3 module, independently of the library.
"""

import os
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time


class Writer:
    """A running sqlite-writer and the lines it has acknowledged so far."""

    def __init__(self, exe, path, tag, count):
        self.tag = tag
        self.proc = subprocess.Popen([exe, path, tag, str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buffer = b""
        self.lines = []

    def _take(self, data):
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        self.lines += [line.decode() for line in complete]

    def read_until(self, n_lines, timeout):
        """Reads output until n_lines lines are acknowledged, EOF, or timeout seconds pass."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while len(self.lines) < n_lines:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return
            data = os.read(fd, 65536)
            if not data:
                return
            self._take(data)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        # whatever reached the pipe before the kill was acknowledged
        self._take(self.proc.stdout.read())
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err

    def finish(self, timeout):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"writer {self.tag} did not finish within {timeout} s")
        self._take(out)
        return self.proc.returncode, err.decode(errors="replace")


class Expectations:
    """What the writers acknowledged, and what they may have committed without saying so."""

    def __init__(self):
        self.inserted = set()    # "A id" acknowledged
        self.disabled = set()    # "B id" acknowledged
        self.kids = set()        # "R id" acknowledged
        self.maybe_inserted = set()
        self.maybe_disabled = set()
        self.maybe_kids = set()
        self.acknowledged = 0

    def add(self, lines, complete):
        """lines: what one writer acknowledged. complete: the writer ended on its own, so it
        attempted nothing beyond its lines; otherwise the write after the last line may or may
        not have committed."""
        last = None
        for line in lines:
            kind, ident = line.split(" ", 1)
            {"A": self.inserted, "B": self.disabled, "R": self.kids}[kind].add(ident)
            last = (kind, ident)
            self.acknowledged += 1
        if complete:
            return
        # the write in flight at the kill: the one after the last acknowledged line
        if last is None:
            return  # its first write is "A TAG-0", handled by the caller
        kind, ident = last
        tag, index = ident.rsplit("-", 1)
        index = int(index)
        if kind == "A":
            self.maybe_disabled.add(ident)
        elif kind == "B":
            if index % 5 == 0:
                self.maybe_kids.add(ident)
            else:
                self.maybe_inserted.add(f"{tag}-{index + 1}")
        else:
            self.maybe_inserted.add(f"{tag}-{index + 1}")


def check_database(path, expected):
    """Returns a list of problems (empty when the file is as expected)."""
    problems = []
    db = sqlite3.connect(path, timeout=30)
    try:
        integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            return [f"integrity_check: {integrity[:5]}"]
        fk = list(db.execute("PRAGMA foreign_key_check"))
        if fk:
            problems.append(f"foreign_key_check: {fk[:5]}")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        users, keys, kids = {}, {}, {}
        if tables:  # a writer killed before it created the schema leaves none
            if not {"schema_version", "workspaces", "users", "api_keys", "signing_keys"} <= tables:
                return [f"a partial schema: {sorted(tables)}"]
            users = {row[0]: row[1] for row in db.execute("SELECT id, enabled FROM users")}
            for key_id, user_id in db.execute("SELECT id, user_id FROM api_keys"):
                keys.setdefault(user_id, set()).add(key_id)
            kids = {row[0]: row[1] for row in db.execute("SELECT kid, retired FROM signing_keys")}
    finally:
        db.close()

    for ident, enabled in users.items():
        have = keys.get(ident, set())
        if enabled == 1 and have != {ident + "-k1", ident + "-k2"}:
            problems.append(f"partial cascade: enabled user {ident} has keys {sorted(have)}")
        if enabled == 0 and have:
            problems.append(f"partial cascade: disabled user {ident} still has keys {sorted(have)}")
        if ident not in expected.inserted and ident not in expected.maybe_inserted:
            problems.append(f"user {ident} was never acknowledged nor in flight")
        if enabled == 0 and ident not in expected.disabled and ident not in expected.maybe_disabled:
            problems.append(f"user {ident} disabled but that was never acknowledged nor in flight")
    for user_id in keys:
        if user_id not in users:
            problems.append(f"keys of absent user {user_id}")
    for ident in expected.inserted:
        if ident not in users:
            problems.append(f"acknowledged insert of {ident} is lost")
    for ident in expected.disabled:
        if users.get(ident) != 0:
            problems.append(f"acknowledged disable of {ident} is lost")
    for kid in expected.kids:
        if kid not in kids:
            problems.append(f"acknowledged signing key {kid} is lost")
    for kid in kids:
        if kid not in expected.kids and kid not in expected.maybe_kids:
            problems.append(f"signing key {kid} was never acknowledged nor in flight")
    active = [kid for kid, retired in kids.items() if retired is None]
    if len(active) > 1:
        problems.append(f"{len(active)} active signing keys: {active}")
    if kids and len(active) != 1:
        problems.append("no active signing key")
    return problems


def run_kills(exe, kills):
    workdir = tempfile.mkdtemp(prefix="iam-durability-")
    path = os.path.join(workdir, "iam.db")
    expected = Expectations()
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))
    started = time.monotonic()
    early = 0
    try:
        for round_ in range(kills):
            tag = f"k{round_}"
            writer = Writer(exe, path, tag, 0)
            style = rng.random()
            if style < 0.1:
                early += 1                                   # during start-up, open or recovery
            elif style < 0.3:
                writer.read_until(1 << 30, rng.uniform(0.0, 0.05))   # a random moment
            else:
                writer.read_until(rng.randint(1, 12), 30.0)  # just after an acknowledged write
            err = writer.kill()
            if writer.proc.returncode != -signal.SIGKILL:
                print(f"round {round_}: the writer ended by itself ({writer.proc.returncode}): {err}")
                return 1
            expected.add(writer.lines, complete=False)
            if not writer.lines:
                expected.maybe_inserted.add(f"{tag}-0")
            problems = check_database(path, expected)
            if problems:
                print(f"round {round_} ({len(writer.lines)} lines acknowledged before the kill):")
                for p in problems[:20]:
                    print("  " + p)
                return 1
        elapsed = time.monotonic() - started
        print(f"{kills} kills ({early} during start-up), {expected.acknowledged} acknowledged writes verified "
              f"({len(expected.inserted)} inserts, {len(expected.disabled)} disables, "
              f"{len(expected.kids)} key rotations) in {elapsed:.1f} s")
        if expected.acknowledged < kills:
            print("too few acknowledged writes to mean anything")
            return 1
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_concurrent(exe, n):
    workdir = tempfile.mkdtemp(prefix="iam-concurrent-")
    path = os.path.join(workdir, "iam.db")
    try:
        writers = [Writer(exe, path, tag, n) for tag in ("p1", "p2")]
        expected = Expectations()
        for w in writers:
            code, err = w.finish(timeout=120)
            if code != 0:
                print(f"writer {w.tag} failed ({code}): {err}")
                return 1
            expected.add(w.lines, complete=True)
        want = 2 * (2 * n + (n + 4) // 5)
        if expected.acknowledged != want:
            print(f"{expected.acknowledged} writes acknowledged, expected {want}")
            return 1
        problems = check_database(path, expected)
        for tag in ("p1", "p2"):
            for i in range(n):
                if f"{tag}-{i}" not in expected.disabled:
                    problems.append(f"{tag}-{i} not acknowledged")
        if problems:
            for p in problems[:20]:
                print("  " + p)
            return 1
        print(f"two writers, {expected.acknowledged} acknowledged writes, all present")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("kill", "concurrent"):
        print(__doc__)
        return 64
    exe = sys.argv[2]
    if sys.argv[1] == "kill":
        return run_kills(exe, int(sys.argv[3]) if len(sys.argv) > 3 else 200)
    return run_concurrent(exe, int(sys.argv[3]) if len(sys.argv) > 3 else 150)


if __name__ == "__main__":
    sys.exit(main())
