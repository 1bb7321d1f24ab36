#!/usr/bin/python3
"""A flood of 1 M random credentials against a real iam-gateway (issue: abuse resistance).

wrk (Debian's) sends POST /api/v1/iam whoami with a fresh random bearer credential on every
request, in three phases:

  malformed    600 000  shapes no key or JWT can have: too short or too long tg_ text,
                        spaces, empty or extra JWT segments, arbitrary bytes
  jwt-shaped   200 000  three random base64url segments (parsing/signature refuse them)
  random keys  200 000  tg_ + 32 random base64url characters: well-formed, unknown

Every answer must be 401. Between phases the gateway is asked (SIGUSR1) for its counters:
the store must see no read at all during the first two phases and one read per request
(the indexed key lookup) in the third; no failure is cached; and the resident memory
stays within a bound set by the cache limits, printed before and after. A real key still
works afterwards.

Usage: /usr/bin/python3 gateway_flood.py IAM_GATEWAY [TOTAL]  (TOTAL defaults to 1 000 000)"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from gateway_process import Checks

EXE = sys.argv[1]
TOTAL = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
WRK = "/usr/bin/wrk"
AUTH_CACHE = 1000
DECISION_CACHE = 1000
# The caches hold at most a few thousand small entries: whatever the flood, the process
# may not grow by more than this (allocator slack and thread arenas included).
RSS_GROWTH_LIMIT_KIB = 64 * 1024
CONNECTIONS = 32

c = Checks()

LUA = r'''
local threads = {}
function setup(thread) table.insert(threads, thread) end

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local junk = "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"
local function pick(alphabet, n)
  local out = {}
  for i = 1, n do
    local k = math.random(#alphabet)
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end

local makers = {
  malformed = function(i)
    local kind = i % 6
    if kind == 0 then return "tg_" .. pick(b64, math.random(0, 16)) end          -- too short
    if kind == 1 then return "tg_" .. pick(b64, math.random(254, 400)) end       -- too long
    if kind == 2 then return "tg_" .. pick(b64, 12) .. " " .. pick(b64, 20) end  -- a space inside
    if kind == 3 then return "ey" .. pick(b64, 30) .. ".." .. pick(b64, 40) end  -- an empty segment
    if kind == 4 then return "ey" .. pick(b64, 20) .. "." .. pick(b64, 20) .. "." .. pick(b64, 20) .. "." .. pick(b64, 20) end
    return "?" .. pick(junk, math.random(0, 120))                                 -- not a token at all
  end,
  jwt = function(i) return "ey" .. pick(b64, 34) .. "." .. pick(b64, 60) .. "." .. pick(b64, 86) end,
  keys = function(i) return "tg_" .. pick(b64, 32) end,
}

-- Globals, so that done() can read them from each thread with thread:get().
count, non401 = 0, 0
local make, quota, marker
local sent = 0
function init(args)
  make = makers[args[1]]
  quota = tonumber(args[2])
  marker = args[3] .. "." .. tostring({}):match("0x(%x+)")
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  sent = sent + 1
  return wrk.format("POST", "/api/v1/iam",
    {["Authorization"] = "Bearer " .. make(sent), ["Content-Type"] = "application/json"},
    '{"operation":"whoami"}')
end

function response(status, headers, body)
  count = count + 1
  if status ~= 401 then non401 = non401 + 1 end
  if count == quota then
    -- wrk runs for its duration whatever its threads do: tell the test, which stops it
    local f = io.open(marker, "w")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total, bad = 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("count")
    bad = bad + t:get("non401")
  end
  io.write(string.format("FLOOD %d %d %d\n", total, bad, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
'''


class Gateway:
    """The gateway with its (large) access log going to a file rather than a pipe."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="iam-flood-")
        self.log_path = os.path.join(self.tmp.name, "gateway.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [EXE, "--port", "0", "--store", f"sqlite:{self.tmp.name}/iam.db", "--bootstrap-mode", "bootstrap",
             "--auth-cache-entries", str(AUTH_CACHE), "--decision-cache-entries", str(DECISION_CACHE),
             "--threads", "2"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.offset = 0
        listening = self.wait_for_event("listening", 60)
        if not listening:
            self.proc.kill()
            raise SystemExit("iam-gateway did not start:\n" + open(self.log_path).read()[-3000:])
        self.port = listening["port"]

    def wait_for_event(self, event, timeout):
        """The next log line {"event": event, ...} written after the last one read."""
        deadline = time.monotonic() + timeout
        with open(self.log_path) as log:
            log.seek(self.offset)
            pending = ""
            while time.monotonic() < deadline:
                chunk = log.read()
                if not chunk:
                    time.sleep(0.05)
                    continue
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    if f'"event":"{event}"' in line:
                        self.offset = log.tell() - len(pending.encode())
                        return json.loads(line)
        return None

    def stats(self):
        with open(self.log_path) as log:  # only events written from now on count
            log.seek(0, os.SEEK_END)
            self.offset = log.tell()
        self.proc.send_signal(signal.SIGUSR1)
        stats = self.wait_for_event("stats", 30)
        if stats is None:
            raise SystemExit("no stats line after SIGUSR1")
        return stats

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def post(self, path, body, token=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(), method="POST")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code


def flood(gw, script, kind, count):
    threads = 2
    per_thread = count // threads
    started = time.monotonic()
    markers = os.path.join(gw.tmp.name, f"done-{kind}")
    wrk = subprocess.Popen(
        [WRK, "-t", str(threads), "-c", str(CONNECTIONS), "-d", "900s", "-s", script,
         f"http://127.0.0.1:{gw.port}", "--", kind, str(per_thread), markers],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Each wrk thread leaves a marker file when it has its quota of answers; then SIGINT
    # makes wrk stop and report (it would otherwise wait out its whole duration).
    while wrk.poll() is None:
        if len([n for n in os.listdir(gw.tmp.name) if n.startswith(f"done-{kind}.")]) == threads:
            wrk.send_signal(signal.SIGINT)
            break
        time.sleep(0.1)
    out, err = wrk.communicate(timeout=60)
    seconds = time.monotonic() - started
    line = next((l for l in out.splitlines() if l.startswith("FLOOD ")), None)
    if line is None:
        raise SystemExit(f"wrk failed ({wrk.returncode}):\n{out}\n{err}")
    answered, non401, errors = (int(x) for x in line.split()[1:])
    print(f"{kind}: {answered} answered in {seconds:.1f} s ({answered / seconds:.0f}/s), "
          f"{non401} not 401, {errors} socket errors", flush=True)
    return answered, non401, errors


if not os.path.exists(WRK):
    raise SystemExit(f"{WRK} is missing: scripts/install-deps installs Debian's wrk")

gw = Gateway()
try:
    status, boot = gw.post("/api/v1/auth/bootstrap", {})
    c.equal(status, 200, "bootstrap")
    admin_key = boot["bootstrap_admin_api_key"]
    c.equal(gw.post("/api/v1/iam", {"operation": "whoami"}, admin_key)[0], 200, "the admin key works")
    script = os.path.join(gw.tmp.name, "flood.lua")
    with open(script, "w") as f:
        f.write(LUA)

    before = gw.stats()
    rss_before = gw.rss_kib()
    print(f"before: rss {rss_before} KiB, store reads {before['store_reads']}, "
          f"cached identities {before['cached_identities']}", flush=True)

    phases = [("malformed", TOTAL * 6 // 10, False), ("jwt", TOTAL * 2 // 10, False), ("keys", TOTAL * 2 // 10, True)]
    sent_total = 0
    previous = before
    for kind, count, reaches_store in phases:
        answered, non401, errors = flood(gw, script, kind, count)
        sent_total += answered
        now = gw.stats()
        reads = now["store_reads"] - previous["store_reads"]
        c.check(answered >= count - 2, f"{kind}: all {count} requests answered (got {answered})")
        c.equal(non401, 0, f"{kind}: every answer is 401")
        c.equal(errors, 0, f"{kind}: no socket errors")
        if reaches_store:
            # one indexed lookup per request; up to CONNECTIONS more were in flight when wrk stopped
            c.check(answered <= reads <= answered + CONNECTIONS,
                    f"{kind}: one store read per request ({reads} reads for {answered} requests)")
        else:
            c.equal(reads, 0, f"{kind}: no store read at all")
        c.equal(now["store_writes"] - previous["store_writes"], 0, f"{kind}: no store write")
        c.equal(now["cached_identities"], before["cached_identities"], f"{kind}: no failure is cached")
        print(f"after {kind}: rss {gw.rss_kib()} KiB, store reads +{reads}", flush=True)
        previous = now

    rss_after = gw.rss_kib()
    growth = rss_after - rss_before
    print(f"RSS before {rss_before} KiB, after {sent_total} random credentials {rss_after} KiB "
          f"(growth {growth} KiB; bound {RSS_GROWTH_LIMIT_KIB} KiB with caches of {AUTH_CACHE}/{DECISION_CACHE} entries)",
          flush=True)
    c.check(sent_total >= TOTAL - 10, f"{TOTAL} requests in all (sent {sent_total})")
    c.check(growth <= RSS_GROWTH_LIMIT_KIB, f"memory stays bounded (grew {growth} KiB)")
    c.equal(gw.post("/api/v1/iam", {"operation": "whoami"}, admin_key)[0], 200, "the admin key still works")
finally:
    code = gw.stop()
c.equal(code, 0, "clean shutdown after the flood")
c.done()
