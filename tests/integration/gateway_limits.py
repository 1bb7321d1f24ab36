#!/usr/bin/python3
"""iam-gateway's protocol limits, each pushed just past its bound on a real process:
request head size (431), number of header fields (431), request line length (414), the
idle timeout, the read timeout (a client trickling bytes is cut off however active it
looks, and other clients are served meanwhile), the connection limit (503, and capacity
returns when connections close), and the WebSocket message size (close code 1009).
Each limit is also checked from below: a request at the bound is served.

Raw sockets throughout, so the exact bytes on the wire are under the test's control.

Usage: /usr/bin/python3 gateway_limits.py IAM_GATEWAY"""
import asyncio
import json
import socket
import sys
import threading
import time

import websockets

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
MAX_HEADER_BYTES = 4096
MAX_HEADERS = 20
MAX_REQUEST_LINE = 1024
IDLE_TIMEOUT = 2
READ_TIMEOUT = 2
MAX_CONNECTIONS = 8
MAX_SOCKET_MESSAGE = 4096
STATUS_PATH = "/api/v1/auth/bootstrap-status"

c = Checks()


def connect(gw, timeout=10):
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(target=STATUS_PATH, fields=None, body=b"", method="POST"):
    """A request's bytes: the request line, Host, Content-Length, then `fields`."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (fields or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_response(sock):
    """(status, body bytes, closed after) for one response; status None if the connection
    closed (or timed out) without one."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None, b"", True
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, rest[:length], False
    except (socket.timeout, ConnectionResetError):
        return None, b"", True


def closed_by_server(sock, within):
    """True if the server closes the connection (EOF or reset) within `within` seconds,
    with nothing else sent."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def exchange(gw, data):
    with connect(gw) as sock:
        sock.sendall(data)
        status, body, _ = read_response(sock)
        after_close = closed_by_server(sock, 5)
        return status, body, after_close


def served_quickly(gw):
    """A plain request on a fresh connection is answered 200 within 1.5 s (a blocked server would take the read timeout)."""
    started = time.monotonic()
    status, _, _ = exchange_once(gw, head())
    return status == 200 and time.monotonic() - started < 1.5


def exchange_once(gw, data):
    with connect(gw) as sock:
        sock.sendall(data)
        return read_response(sock)


def check_head_limits(gw):
    # Baseline and keep-alive: two requests on one connection.
    with connect(gw) as sock:
        sock.sendall(head())
        first = read_response(sock)
        sock.sendall(head())
        second = read_response(sock)
    c.equal(first[0], 200, "bootstrap-status answers 200")
    c.equal(second[0], 200, "a second request on the same connection answers 200")

    # Head size: a head just under the bound is served; one over it is 431 and the
    # connection closes (the rest of the request is never read).
    base = len(head(fields=[("X-Fill", "")]))
    status, _, _ = exchange(gw, head(fields=[("X-Fill", "a" * (MAX_HEADER_BYTES - base - 16))]))
    c.equal(status, 200, "a head just under --max-header-bytes is served")
    status, body, closed = exchange(gw, head(fields=[("X-Fill", "a" * (MAX_HEADER_BYTES + 100))]))
    c.equal(status, 431, "a head over --max-header-bytes")
    c.equal(body, b'{"error":"request header too large"}', "431 body")
    c.check(closed, "the connection closes after a 431")

    # Number of header fields: Host and Content-Length count too.
    at_bound = [(f"X-Field-{i}", "v") for i in range(MAX_HEADERS - 2)]
    status, _, _ = exchange(gw, head(fields=at_bound))
    c.equal(status, 200, f"{MAX_HEADERS} header fields are served")
    status, body, closed = exchange(gw, head(fields=at_bound + [("X-One-More", "v")]))
    c.equal(status, 431, f"{MAX_HEADERS + 1} header fields")
    c.equal(body, b'{"error":"request header too large"}', "431 body (too many fields)")
    c.check(closed, "the connection closes after 431 (too many fields)")

    # Request line: "POST <target> HTTP/1.1" within the bound is served (the query string
    # does not change the route), over it 414 — also when the line alone overflows the
    # whole head limit.
    fixed = len(f"POST {STATUS_PATH}?q= HTTP/1.1")
    status, _, _ = exchange(gw, head(target=f"{STATUS_PATH}?q=" + "a" * (MAX_REQUEST_LINE - fixed)))
    c.equal(status, 200, "a request line of exactly --max-request-line is served")
    status, body, closed = exchange(gw, head(target=f"{STATUS_PATH}?q=" + "a" * (MAX_REQUEST_LINE - fixed + 1)))
    c.equal(status, 414, "a request line one byte over --max-request-line")
    c.equal(body, b'{"error":"request line too long"}', "414 body")
    c.check(closed, "the connection closes after a 414")
    status, _, _ = exchange(gw, head(target=f"{STATUS_PATH}?q=" + "a" * (MAX_HEADER_BYTES * 2)))
    c.equal(status, 414, "a request line longer than the whole head limit")

    # A limit answer on a kept-alive connection: the earlier request was served, the
    # oversized one is refused, and nothing after it is read.
    with connect(gw) as sock:
        sock.sendall(head())
        first = read_response(sock)
        sock.sendall(head(fields=[("X-Fill", "a" * (MAX_HEADER_BYTES + 1))]) + head())
        second = read_response(sock)
        closed = closed_by_server(sock, 5)
    c.equal((first[0], second[0]), (200, 431), "200 then 431 on one connection")
    c.check(closed, "the pipelined request after the 431 is not answered")


def check_timeouts(gw):
    # Idle: a connection that never sends is closed after --idle-timeout.
    with connect(gw) as sock:
        started = time.monotonic()
        closed = closed_by_server(sock, IDLE_TIMEOUT + 3)
        waited = time.monotonic() - started
    c.check(closed and IDLE_TIMEOUT - 0.5 <= waited <= IDLE_TIMEOUT + 2.5,
            f"an idle connection closes after --idle-timeout ({waited:.2f} s)")

    # Idle after a response: the keep-alive connection closes after the idle timeout too.
    with connect(gw) as sock:
        sock.sendall(head())
        status, _, _ = read_response(sock)
        started = time.monotonic()
        closed = closed_by_server(sock, IDLE_TIMEOUT + 3)
        waited = time.monotonic() - started
    c.check(status == 200 and closed and waited <= IDLE_TIMEOUT + 2.5,
            f"an idle keep-alive connection closes after --idle-timeout ({waited:.2f} s)")

    # Slow clients: several connections trickle one byte every 0.2 s — always active, so
    # an idle timeout alone would never fire — into the head, and one into the body.
    # Each is cut off within --read-timeout of its first byte, and meanwhile other
    # clients are served at once.
    request = head(fields=[("X-Slow", "s" * 200)])
    results = {}

    def trickle(name, prefix, rest):
        with connect(gw) as sock:
            started = time.monotonic()
            sock.sendall(prefix)
            cut = False
            for byte in rest:
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    cut = True
                    break
                sock.settimeout(0.2)
                try:
                    if sock.recv(1) == b"":
                        cut = True
                        break
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    cut = True
                    break
                if time.monotonic() - started > READ_TIMEOUT + 6:
                    break
            results[name] = (cut, time.monotonic() - started)

    body = b"x" * 200
    slow_body = head(body=body)[: -len(body)]
    threads = [threading.Thread(target=trickle, args=(f"head-{i}", b"P", request[1:])) for i in range(4)]
    threads.append(threading.Thread(target=trickle, args=("body", slow_body, body)))
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    c.check(all(served_quickly(gw) for _ in range(5)), "other clients are served while slow clients trickle")
    for thread in threads:
        thread.join()
    for name, (cut, seconds) in sorted(results.items()):
        c.check(cut and seconds <= READ_TIMEOUT + 2.5,
                f"slow client {name} is cut off within --read-timeout ({cut}, {seconds:.2f} s)")


def check_connection_limit(gw):
    held = [connect(gw) for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.3)  # let the server accept them all
    with connect(gw) as extra:
        status, body, _ = read_response(extra)
    c.equal(status, 503, "a connection beyond --max-connections is answered 503")
    c.equal(body, b'{"error":"too many connections"}', "503 body")
    # The held connections still work.
    held[0].sendall(head())
    c.equal(read_response(held[0])[0], 200, "a held connection is still served at the limit")
    # Capacity returns as connections close.
    for sock in held[:2]:
        sock.close()
    c.check(gw.wait_until(lambda: exchange_once(gw, head())[0] == 200, timeout=5),
            "a new connection is served once others have closed")
    for sock in held[2:]:
        sock.close()
    # A flood of connections far past the limit: every one is refused or closed, none hangs,
    # and afterwards the server serves again.
    flood = [connect(gw) for _ in range(MAX_CONNECTIONS * 4)]
    refused = 0
    for sock in flood[MAX_CONNECTIONS:]:
        sock.settimeout(5)
        status, _, closed = read_response(sock)
        refused += status == 503 or (status is None and closed)
    for sock in flood:
        sock.close()
    c.equal(refused, MAX_CONNECTIONS * 3, "every connection past the limit is refused")
    c.check(gw.wait_until(lambda: exchange_once(gw, head())[0] == 200, timeout=5),
            "served again after the flood")


async def check_socket_message(gw, admin_key):
    async with websockets.connect(f"ws://127.0.0.1:{gw.port}/api/v1/socket", max_size=None, close_timeout=5) as ws:
        await ws.send(json.dumps({"type": "auth", "token": admin_key}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        c.equal(answer.get("type"), "auth-ok", "socket: first-frame auth")
        frame = {"id": "w1", "service": "iam", "request": {"operation": "whoami"}, "pad": ""}
        frame["pad"] = "p" * (MAX_SOCKET_MESSAGE - len(json.dumps(frame)))
        c.equal(len(json.dumps(frame)), MAX_SOCKET_MESSAGE, "socket: frame of exactly the limit")
        await ws.send(json.dumps(frame))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        c.equal(answer.get("id"), "w1", "socket: a message of exactly --max-socket-message is answered")
        frame["pad"] += "p"
        await ws.send(json.dumps(frame))
        try:
            extra = await asyncio.wait_for(ws.recv(), 10)
            c.check(False, f"socket: an oversized message was answered: {extra[:80]!r}")
        except websockets.ConnectionClosed as closed:
            c.equal(closed.code, 1009, "socket: an oversized message closes the connection with 1009")


limits = ["--max-header-bytes", str(MAX_HEADER_BYTES), "--max-headers", str(MAX_HEADERS),
          "--max-request-line", str(MAX_REQUEST_LINE), "--idle-timeout", str(IDLE_TIMEOUT),
          "--read-timeout", str(READ_TIMEOUT), "--max-socket-message", str(MAX_SOCKET_MESSAGE)]

with Gateway(EXE, "--bootstrap-mode", "bootstrap", *limits) as gw:
    check_head_limits(gw)
    check_timeouts(gw)
    status, text = gw.post("/api/v1/auth/bootstrap")
    c.equal(status, 200, "bootstrap")
    asyncio.run(check_socket_message(gw, json.loads(text)["bootstrap_admin_api_key"]))
    log = "\n".join(gw.log_lines)

# Connection limit on its own process, with a long idle timeout so held connections stay.
with Gateway(EXE, "--bootstrap-mode", "bootstrap", "--max-connections", str(MAX_CONNECTIONS),
             "--idle-timeout", "60") as gw:
    check_connection_limit(gw)

c.check("a" * 64 not in log and "X-Fill" not in log, "no header or query text reaches the access log")
c.done()
