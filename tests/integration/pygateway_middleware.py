#!/usr/bin/python3
"""iam.gateway.middleware used on its own by an aiohttp application (docs/gateway.md "The
Python gateway"): the application's handler sees only authorised requests, rewritten;
every refusal is the masked answer, byte for byte; unknown paths are 404.

Usage: PYTHONPATH=<build>/bindings/python:tests/integration /usr/bin/python3 pygateway_middleware.py"""
import asyncio
import json

import aiohttp
from aiohttp import web

import iam
from iam.gateway import middleware
from gateway_process import Checks

ADMIN_KEY = "tg_" + "A1b2C3d4" * 4
c = Checks()


async def main():
    regime = iam.roles_regime(iam.open_store("memory"), bootstrap_mode="token", bootstrap_token=ADMIN_KEY,
                              read_environment=False)
    reader = regime.execute({"operation": "create-user", "workspace": "default", "user": {"username": "rita", "password": "rita-pass-1",
                                                                  "roles": ["reader"]}})["user"]
    reader_key = regime.execute({"operation": "create-api-key", "workspace": "default",
                                 "key": {"user_id": reader["id"], "name": "k"}})["api_key_plaintext"]
    seen = []

    async def config(request):
        outcome = request["iam"]
        seen.append(outcome)
        return web.json_response({"workspace": outcome.workspace, "actor": outcome.handle,
                                  "operation": outcome.operation, "body": json.loads(outcome.body)})

    app = web.Application(middlewares=[middleware(regime)])
    app.router.add_post("/api/v1/config", config)
    app.router.add_post("/elsewhere", config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            async def post(path, body, token=None):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.post(url + path, data=json.dumps(body), headers=headers) as resp:
                    return resp.status, await resp.read()

            c.equal(await post("/api/v1/config", {"operation": "get"}), (401, b'{"error":"auth failure"}'),
                    "no credential: the masked 401")
            c.equal(await post("/api/v1/config", {"operation": "get"}, "tg_" + "x" * 32),
                    (401, b'{"error":"auth failure"}'), "an unknown key: the same 401")
            c.equal(await post("/api/v1/config", {"operation": "put", "values": []}, reader_key),
                    (403, b'{"error":"access denied"}'), "a reader writing config: the masked 403")
            c.equal(await post("/api/v1/config", {"operation": "get", "workspace": "nowhere"}, ADMIN_KEY),
                    (404, b'{"error":"workspace not found"}'), "an unknown workspace: 404")
            c.equal(await post("/api/v1/config", {"operation": "no-such-op"}, ADMIN_KEY),
                    (400, b'{"error":"unknown operation"}'), "an unknown operation: 400")
            c.equal(await post("/elsewhere", {}, ADMIN_KEY), (404, b'{"error":"not found"}'),
                    "a path outside the route table: 404 (fail closed)")
            c.equal(len(seen), 0, "no refused request reached the handler")
            status, body = await post("/api/v1/config", {"operation": "get", "keys": [], "actor": "mallory"},
                                      reader_key)
            answer = json.loads(body) if status == 200 else {}
            c.equal((status, answer.get("workspace"), answer.get("actor"), answer.get("operation")),
                    (200, "default", reader["id"], "config:get"), "an allowed request reaches the handler")
            c.equal(answer.get("body"), {"operation": "get", "keys": [], "workspace": "default", "actor": reader["id"]},
                    "the handler sees the rewritten body (workspace written in, the client's actor replaced)")
    finally:
        await runner.cleanup()


asyncio.run(main())
c.done()
