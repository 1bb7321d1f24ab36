#!/usr/bin/python3
"""The Python gateway (python3 -m iam.gateway) against iam-gateway: whoami throughput under
wrk on loopback, same run, same settings (run with /usr/bin/python3; stdlib only).

    bench/python_gateway_load.py --build BUILD [--quick] [--rounds N] [--duration S]

Starts both gateways on fresh SQLite stores (bench/gateway_load.py's harness: bootstrap, a
writer with an API key), then alternates rounds of POST /api/v1/iam {"operation":"whoami"}
with the API key against each (iam-gateway, python, iam-gateway, ...) so that drift on a
shared machine hits both alike, and reports the median round of each and their ratio.
Both run one I/O thread (iam-gateway --threads 1; the Python gateway is one event loop) and
one password worker. Prints `RESULT key value` lines; wrk's own output goes to stderr."""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gateway_load  # noqa: E402  (the shared harness beside this script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="the meson build directory (release build for real figures)")
    ap.add_argument("--quick", action="store_true", help="short runs, to check the script works")
    ap.add_argument("--duration", type=float, default=5, help="seconds per round (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per gateway; median reported (default 3)")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    a = ap.parse_args()
    if a.quick:
        a.duration, a.rounds = 1, 1
    build = os.path.abspath(a.build)
    os.environ["PYTHONPATH"] = os.path.join(build, "bindings", "python")
    executables = {"iam_gateway": os.path.join(build, "examples", "gateway", "iam-gateway"),
                   "python_gateway": os.path.join(ROOT, "tests", "integration", "python_gateway")}
    with tempfile.TemporaryDirectory(prefix="iam-bench-pygw-") as tmp:
        gateways, scripts = {}, {}
        try:
            for name, exe in executables.items():
                os.makedirs(os.path.join(tmp, name))
                gw = gateway_load.Gateway(exe, os.path.join(tmp, name), ["--threads", "1", "--workers", "1"])
                gateways[name] = gw.start()
                key, _ = gateway_load.setup_credentials(gw)
                scripts[name] = gateway_load.lua_script(os.path.join(tmp, name), "whoami", "/api/v1/iam",
                                                        {"operation": "whoami"}, key)
                gateway_load.wrk(a, scripts[name], gw.url, 1, 1, a.connections, what=f"warm-up {name}")
            rps = {name: [] for name in gateways}
            for r in range(a.rounds):
                for name, gw in gateways.items():
                    rps[name].append(gateway_load.wrk(a, scripts[name], gw.url, max(1, round(a.duration)), 1,
                                                      a.connections, what=f"round {r + 1} {name}")["rps"])
        finally:
            for gw in gateways.values():
                gw.stop()
    median = {name: statistics.median(values) for name, values in rps.items()}
    print(f"RESULT iam_gateway_whoami_apikey_rps {round(median['iam_gateway'])}", flush=True)
    print(f"RESULT python_gateway_whoami_apikey_rps {round(median['python_gateway'])}", flush=True)
    print(f"RESULT python_to_cpp_whoami_ratio {median['python_gateway'] / median['iam_gateway']:.3f}", flush=True)


if __name__ == "__main__":
    main()
