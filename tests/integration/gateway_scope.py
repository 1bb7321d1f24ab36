#!/usr/bin/python3
"""Workspace scope over HTTP against a real iam-gateway process (issue 14, items 8, 9, 14,
16, 17): POST /api/v1/flow reaches the backend; passthrough stays inside the caller's
scope with identical 403s for another and a missing workspace; default_workspace in a
service body names the authorised workspace; a disabled workspace refuses data-plane
writes, even an admin's, while its management keeps working; getvalues-all-ws needs a
role whose scope is every workspace.

Usage: /usr/bin/python3 gateway_scope.py IAM_GATEWAY"""
import json
import sys

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
ACCESS_DENIED = '{"error":"access denied"}'
NOT_FOUND = '{"error":"workspace not found"}'

c = Checks()


def parsed(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def echoed(text):
    """The request body the echo backend says it received."""
    body = parsed(text)
    return body.get("request", {}) if isinstance(body, dict) else {}


def user_with_key(gw, admin, username, roles, workspace="default"):
    status, body = gw.iam({"operation": "create-user", "workspace": workspace, "user": {
        "username": username, "password": "changeme1", "roles": roles}}, admin)
    c.equal(status, 200, f"create-user {username}")
    user_id = body.get("user", {}).get("id", "") if isinstance(body, dict) else ""
    status, body = gw.iam({"operation": "create-api-key", "key": {"user_id": user_id, "name": "k"}}, admin)
    c.equal(status, 200, f"create-api-key for {username}")
    return body.get("api_key_plaintext", "") if isinstance(body, dict) else ""


with Gateway(EXE, "--bootstrap-mode", "bootstrap") as gw:
    status, text = gw.post("/api/v1/auth/bootstrap")
    c.equal(status, 200, "bootstrap")
    admin = parsed(text).get("bootstrap_admin_api_key", "") if status == 200 else ""
    if not admin:
        c.done()
    for ws in ("acme", "beta"):
        c.equal(gw.iam({"operation": "create-workspace", "workspace_record": {"id": ws}}, admin)[0], 200,
                f"create-workspace {ws}")
    writer = user_with_key(gw, admin, "wendy", ["writer"])
    reader = user_with_key(gw, admin, "rita", ["reader"])

    # ---------------------------------------------------------------- item 8: POST /api/v1/flow
    for operation in ("list-flows", "start-flow"):
        status, text = gw.post("/api/v1/flow", {"operation": operation}, admin)
        c.equal(status, 200, f"POST /api/v1/flow {operation} reaches the backend")
        c.equal(parsed(text).get("operation") if isinstance(parsed(text), dict) else None, f"flow:{operation}",
                f"POST /api/v1/flow {operation}: the backend got flow:{operation}")
    c.equal(gw.post("/api/v1/flow", {"operation": "list-flows"}, reader)[0], 200, "a reader lists flows")
    c.equal(gw.post("/api/v1/flow", {"operation": "start-flow"}, reader), (403, ACCESS_DENIED),
            "a reader may not start a flow")

    # ---------------------------------------------------------------- item 9: passthrough scope
    thru = "/api/v1/flow/f1/service/thru/v1/chat/completions"
    c.equal(gw.post(thru, {"model": "m"}, writer)[0], 200, "writer's passthrough in her own workspace")
    other = gw.post(thru, {"workspace": "acme", "model": "m"}, writer)
    missing = gw.post(thru, {"workspace": "ghost", "model": "m"}, writer)
    c.equal(other, (403, ACCESS_DENIED), "writer of default: passthrough on a flow of acme")
    c.equal(missing, other, "passthrough on a missing workspace: the same 403, byte for byte")
    c.equal(gw.post(thru, {"workspace": "acme"}, admin)[0], 200, "admin's passthrough in acme")

    # ---------------------------------------------------------------- item 14: default_workspace
    status, text = gw.post("/api/v1/config", {"operation": "get", "keys": []}, writer)
    c.equal(status, 200, "writer reads her config")
    c.check("default_workspace" not in echoed(text), "no default_workspace invented when none was sent")
    c.equal(gw.post("/api/v1/config", {"operation": "get", "default_workspace": "acme"}, writer),
            (403, ACCESS_DENIED), "default_workspace naming another workspace is authorised as that workspace")
    c.equal(gw.post("/api/v1/config", {"operation": "get", "workspace": "default", "default_workspace": "acme"},
                    writer)[0], 400, "workspace and default_workspace disagreeing: 400, never forwarded")
    status, text = gw.post("/api/v1/config", {"operation": "put", "default_workspace": "acme", "values": []}, admin)
    c.equal(status, 200, "admin writes acme's config naming it by default_workspace")
    c.equal((echoed(text).get("workspace"), echoed(text).get("default_workspace")), ("acme", "acme"),
            "both generations of the field forwarded as the authorised workspace")
    status, text = gw.post("/api/v1/flow/f1/service/agent", {"workspace": "default", "default_workspace": ""}, writer)
    c.equal(status, 200, "agent with an empty default_workspace")
    c.equal(echoed(text).get("default_workspace"), "default", "an empty default_workspace is rewritten too")

    # ---------------------------------------------------------------- item 16: disabled workspace
    add_doc = {"operation": "add-document", "workspace": "beta"}
    c.equal(gw.post("/api/v1/librarian", add_doc, admin)[0], 200, "admin writes to beta while it is enabled")
    c.equal(gw.iam({"operation": "disable-workspace", "workspace_record": {"id": "beta"}}, admin)[0], 200,
            "disable-workspace beta")
    c.equal(gw.post("/api/v1/librarian", add_doc, admin), (404, NOT_FOUND),
            "a disabled workspace refuses an admin's data-plane write, as a missing one")
    c.equal(gw.post("/api/v1/flow/f1/service/agent", {"workspace": "beta"}, admin), (404, NOT_FOUND),
            "a disabled workspace refuses flow-level requests")
    status, body = gw.iam({"operation": "get-workspace", "workspace_record": {"id": "beta"}}, admin)
    c.equal((status, body.get("workspace", {}).get("enabled") if isinstance(body, dict) else None), (200, False),
            "the disabled workspace is still managed through IAM")
    c.equal(gw.iam({"operation": "update-workspace", "workspace_record": {"id": "beta", "enabled": True}}, admin)[0],
            200, "enable it again")
    c.equal(gw.post("/api/v1/librarian", add_doc, admin)[0], 200, "writes work again once it is enabled")

    # ---------------------------------------------------------------- item 17: every workspace
    all_ws = {"operation": "getvalues-all-ws", "type": "prompt"}
    c.equal(gw.post("/api/v1/config", all_ws, reader), (403, ACCESS_DENIED),
            "getvalues-all-ws refused to a workspace-scoped reader")
    c.equal(gw.post("/api/v1/config", all_ws, writer), (403, ACCESS_DENIED),
            "getvalues-all-ws refused to a workspace-scoped writer")
    c.equal(gw.post("/api/v1/config", all_ws, admin)[0], 200, "getvalues-all-ws for the admin (every workspace)")
    c.equal(gw.post("/api/v1/config", {"operation": "getvalues", "type": "prompt"}, reader)[0], 200,
            "getvalues in her own workspace still works for the reader")

c.done()
