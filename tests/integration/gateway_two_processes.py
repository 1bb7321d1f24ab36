#!/usr/bin/python3
"""Two iam-gateway processes on one SQLite file (docs/gateway.md "Authenticating a request",
point 4): a change made through gateway A takes effect on A at once and on B within the
authentication TTL (--auth-ttl 2), since SQLite does not notify other processes.

Usage: /usr/bin/python3 gateway_two_processes.py IAM_GATEWAY"""
import json
import sys
import tempfile
import time

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
TTL = 2.0
SLACK = 1.5  # scheduling and request time on a loaded machine
AUTH_FAILURE = '{"error":"auth failure"}'

c = Checks()


def until_status(send, want, limit, start=None):
    """Polls `send()` (returns a status) until it answers `want`; the seconds since `start`
    (default: now) until it did, or None after `limit` seconds."""
    start = time.monotonic() if start is None else start
    while True:
        if send() == want:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            return None
        time.sleep(0.05)


def whoami(gw, token):
    return lambda: gw.iam({"operation": "whoami"}, token)[0]


def report(what, seconds):
    print(f"{what}: {'never (within the limit)' if seconds is None else f'{seconds:.2f} s'}", flush=True)
    c.check(seconds is not None and seconds <= TTL + SLACK,
            f"{what} within the TTL ({TTL} s + {SLACK} s): {seconds}")


with tempfile.TemporaryDirectory(prefix="iam-gw2-") as tmp:
    store = f"sqlite:{tmp}/shared.db"
    flags = ("--bootstrap-mode", "bootstrap", "--auth-ttl", str(int(TTL)))
    with Gateway(EXE, *flags, store=store) as a:
        admin = c.bootstrap(a, "bootstrap through A")
        with Gateway(EXE, *flags, store=store) as b:
            started = time.monotonic()
            c.equal(b.post("/api/v1/auth/bootstrap-status"), (200, '{"bootstrap_available":false}'),
                    "B sees the bootstrapped store")
            c.equal(b.post("/api/v1/auth/bootstrap"), (401, AUTH_FAILURE), "bootstrap through B is refused")
            c.equal(b.iam({"operation": "whoami"}, admin)[0], 200, "the admin key works on B")

            # ---------------------------------------------------------- API key: create on A, revoke on A
            carol = c.iam_ok(a, {"operation": "create-user", "user": {"username": "carol", "password": "carol-pass-1",
                                                                "roles": ["writer"]}}, admin, "create-user carol on A")
            carol_id = carol.get("user", {}).get("id", "")
            created = c.iam_ok(a, {"operation": "create-api-key", "key": {"user_id": carol_id, "name": "carol-key"}}, admin,
                         "create-api-key on A")
            carol_key, carol_key_id = created.get("api_key_plaintext", ""), created.get("api_key", {}).get("id", "")
            status, body = b.iam({"operation": "whoami"}, carol_key)
            c.equal((status, body.get("user", {}).get("id") if isinstance(body, dict) else None), (200, carol_id),
                    "a key created through A works on B")
            c.equal(a.iam({"operation": "whoami"}, carol_key)[0], 200, "and on A")
            # Both now hold the identity in their caches.
            c.equal(b.iam({"operation": "whoami"}, carol_key)[0], 200, "B (cached)")
            c.iam_ok(a, {"operation": "revoke-api-key", "key_id": carol_key_id}, admin, "revoke-api-key on A")
            revoked_at = time.monotonic()
            c.equal(a.post("/api/v1/iam", {"operation": "whoami"}, carol_key), (401, AUTH_FAILURE),
                    "the revoked key fails on A immediately")
            report("revoked key refused on B after", until_status(whoami(b, carol_key), 401, TTL + 10, revoked_at))
            c.equal(b.post("/api/v1/iam", {"operation": "whoami"}, carol_key), (401, AUTH_FAILURE),
                    "and stays refused on B")

            # A key created through B works on A (the other direction).
            other = c.iam_ok(b, {"operation": "create-api-key", "key": {"user_id": carol_id, "name": "carol-key-2"}}, admin,
                       "create-api-key on B")
            c.equal(a.iam({"operation": "whoami"}, other.get("api_key_plaintext", ""))[0], 200,
                    "a key created through B works on A")

            # ---------------------------------------------------------- JWTs across processes
            status, text = a.post("/api/v1/auth/login", {"username": "carol", "password": "carol-pass-1"})
            c.equal(status, 200, "login on A")
            carol_jwt = json.loads(text).get("jwt", "") if status == 200 else ""
            c.equal(b.iam({"operation": "whoami"}, carol_jwt)[0], 200, "a JWT issued by A verifies on B")

            c.iam_ok(a, {"operation": "rotate-signing-key"}, admin, "rotate-signing-key on A")
            changed_at = time.monotonic()
            status, text = a.post("/api/v1/auth/login", {"username": "carol", "password": "carol-pass-1"})
            c.equal(status, 200, "login on A after rotation")
            rotated_jwt = json.loads(text).get("jwt", "") if status == 200 else ""
            c.equal(a.iam({"operation": "whoami"}, rotated_jwt)[0], 200, "the post-rotation JWT works on A")
            report("a JWT signed with A's new key accepted on B after",
                   until_status(whoami(b, rotated_jwt), 200, TTL + 10, changed_at))
            c.equal(b.iam({"operation": "whoami"}, carol_jwt)[0], 200, "the pre-rotation JWT still works on B (grace)")

            # ---------------------------------------------------------- disable-user on A
            c.equal(b.iam({"operation": "whoami"}, rotated_jwt)[0], 200, "carol's JWT on B before disable (cached)")
            c.iam_ok(a, {"operation": "disable-user", "user_id": carol_id}, admin, "disable-user carol on A")
            changed_at = time.monotonic()
            c.equal(a.post("/api/v1/iam", {"operation": "whoami"}, rotated_jwt), (401, AUTH_FAILURE),
                    "the disabled user's JWT fails on A immediately")
            report("the disabled user's JWT refused on B after",
                   until_status(whoami(b, rotated_jwt), 401, TTL + 10, changed_at))

            # ---------------------------------------------------------- a role change on A, decisions on B
            dave = c.iam_ok(a, {"operation": "create-user", "user": {"username": "dave", "password": "dave-pass-11",
                                                               "roles": ["reader"]}}, admin, "create-user dave (reader)")
            dave_id = dave.get("user", {}).get("id", "")
            dave_key = c.iam_ok(a, {"operation": "create-api-key", "key": {"user_id": dave_id, "name": "dave-key"}}, admin,
                          "create-api-key dave").get("api_key_plaintext", "")

            def add_document(gw):
                return lambda: gw.post("/api/v1/librarian", {"operation": "add-document"}, dave_key)[0]

            c.equal(add_document(b)(), 403, "a reader may not add documents on B (the deny is cached)")
            c.equal(add_document(a)(), 403, "nor on A")
            c.iam_ok(a, {"operation": "update-user", "user_id": dave_id, "user": {"roles": ["writer"]}}, admin,
               "update-user dave -> writer on A")
            changed_at = time.monotonic()
            c.equal(add_document(a)(), 200, "A allows the new role at once")
            report("B allows the new role after", until_status(add_document(b), 200, TTL + 10, changed_at))
            elapsed = time.monotonic() - started

print(f"took {elapsed:.1f} s")
c.done()
