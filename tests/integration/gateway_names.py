#!/usr/bin/python3
"""Names through a real iam-gateway (issue 14, item 15): every text field refuses control
characters with invalid-argument, look-alike usernames ('ａdmin', 'ADMIN', 'admin ') do not
make a second administrator, login accepts any spelling of a name's key, and nothing a
request sent comes back or reaches the log raw.

Usage: /usr/bin/python3 gateway_names.py IAM_GATEWAY"""
import sys

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
c = Checks()


def error_type(body):
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("type")
    return None


HOSTILE = ["Eve\x1b[2J", "eve\nFORGED", "nul\x00here", "c1\u009bcsi", "del\x7f", "ls\u2028x"]

with Gateway(EXE, "--bootstrap-mode", "bootstrap") as gw:
    status, body = gw.iam({"operation": "bootstrap"})
    c.equal(status, 200, "bootstrap")
    admin = body.get("bootstrap_admin_api_key", "") if isinstance(body, dict) else ""

    status, body = gw.iam({"operation": "create-user", "user": {"username": "eve", "password": "changeme1"}}, admin)
    c.equal(status, 200, "create-user eve")
    eve = body.get("user", {}).get("id", "") if isinstance(body, dict) else ""

    for bad in HOSTILE:
        requests = {
            "username": {"operation": "create-user", "user": {"username": bad, "password": "changeme1"}},
            "name": {"operation": "create-user", "user": {"username": "mallory", "name": bad, "password": "changeme1"}},
            "email": {"operation": "create-user", "user": {"username": "mallory", "email": bad, "password": "changeme1"}},
            "update name": {"operation": "update-user", "user_id": eve, "user": {"name": bad}},
            "update email": {"operation": "update-user", "user_id": eve, "user": {"email": bad}},
            "workspace name": {"operation": "create-workspace", "workspace_record": {"id": "ws-x", "name": bad}},
            "update workspace name": {"operation": "update-workspace", "workspace_record": {"id": "default", "name": bad}},
            "key name": {"operation": "create-api-key", "key": {"user_id": eve, "name": bad}},
            "role": {"operation": "create-user", "user": {"username": "mallory", "password": "changeme1", "roles": [bad]}},
        }
        for field, request in requests.items():
            status, body = gw.iam(request, admin)
            c.equal((status, error_type(body)), (400, "invalid-argument"), f"{field} {bad!r}")
            c.check(bad not in str(body), f"{field} {bad!r}: the answer does not echo it: {body!r}")

    # look-alikes of the administrator's name are the administrator's name
    for name in ["ADMIN", "\uff41dmin", "\uff21\uff24\uff2d\uff29\uff2e", "ad\u200bmin"]:
        status, body = gw.iam({"operation": "create-user", "user": {"username": name, "password": "changeme1",
                                                                    "roles": ["admin"]}}, admin)
        c.equal((status, error_type(body)), (409, "duplicate"), f"create-user {name!r}")
    for name in [" admin", "admin ", "\u3000admin"]:
        status, body = gw.iam({"operation": "create-user", "user": {"username": name, "password": "changeme1"}}, admin)
        c.equal((status, error_type(body)), (400, "invalid-argument"), f"create-user {name!r}")

    # login: one account, any spelling of its key
    for name in ["eve", "EVE", "\uff45ve"]:
        status, body = gw.post("/api/v1/auth/login", {"username": name, "password": "changeme1"})
        c.equal(status, 200, f"login as {name!r}")

    status, body = gw.iam({"operation": "list-users"}, admin)
    users = body.get("users", []) if isinstance(body, dict) else []
    c.equal(sorted(u.get("username") for u in users), ["admin", "eve"], "no look-alike user was created")

log = "\n".join(gw.log_lines)
c.check(not any(ch in log for ch in ["\x1b", "\x00", "\u009b", "\x7f", "\u2028"]), "the log holds no raw control character")
c.check("\nFORGED" not in log, "the log holds no forged line")
c.done()
