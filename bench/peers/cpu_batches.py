"""Timing shared by the Python benchmarks (bench/python_bench.py, bench/peers/pyjwt_verify.py):
process CPU time, like Google Benchmark's CPU time for the C++ figures."""
import time


def cpu_batches(call, seconds, batches=5, per_round=100):
    """Calls `call` in rounds of `per_round` for about `seconds` in all, split into
    `batches` batches; returns (calls, CPU seconds) of each batch."""
    batch_seconds = seconds / batches
    out = []
    for _ in range(batches):
        calls = 0
        start = time.process_time()
        while True:
            for _ in range(per_round):
                call()
            calls += per_round
            elapsed = time.process_time() - start
            if elapsed >= batch_seconds:
                break
        out.append((calls, elapsed))
    return out
