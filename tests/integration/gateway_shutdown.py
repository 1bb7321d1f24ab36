#!/usr/bin/python3
"""iam-gateway stops cleanly on SIGTERM, again and again: each of CYCLES starts serves one
request, gets SIGTERM, and must exit 0 after its "stopped" line. With several I/O threads a
shutdown once raced the accept handler on another thread (SIGSEGV now and then), so the
starts use --threads 4 and there are many of them; a rare race may still slip past one run.

Usage: /usr/bin/python3 gateway_shutdown.py IAM_GATEWAY"""
import sys

from gateway_process import Checks, Gateway

EXE = sys.argv[1]
CYCLES = 40

c = Checks()
for cycle in range(CYCLES):
    gw = Gateway(EXE, "--bootstrap-mode", "bootstrap", "--threads", "4").start()
    status, _ = gw.post("/api/v1/auth/bootstrap-status", raw=b"")
    c.equal(status, 200, f"cycle {cycle}: bootstrap-status")
    gw.proc.terminate()
    code = gw.proc.wait(timeout=20)
    c.equal(code, 0, f"cycle {cycle}: exit code on SIGTERM")
    c.check(gw.wait_until(lambda: any('"event":"stopped"' in line for line in gw.log_lines), timeout=5),
            f"cycle {cycle}: the stopped line is printed")
    gw.proc = None
c.done()
