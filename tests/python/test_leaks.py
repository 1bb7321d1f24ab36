"""No leak over 100 000 calls: Python's own allocations (tracemalloc) and the process's
resident size stay bounded while authenticate and authorise run in a loop."""
import gc
import tracemalloc

import iam

CALLS = 100_000


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_no_leak_over_100000_calls(world):
    regime, key = world.regime, world.reader_key
    resource = {"workspace": "default"}
    checks = [("graph:read", resource), ("users:admin", resource)]

    def batch(n):
        for _ in range(n):
            who = regime.authenticate(key)
            regime.authorise(who, "graph:read", resource)
            regime.authorise_many(who, checks)
            try:
                regime.authenticate("tg_not_a_key")
            except iam.AuthenticationFailed:
                pass

    batch(2_000)  # warm up: caches, allocator pools
    gc.collect()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    rss_before = rss_bytes()
    for _ in range(CALLS // 10_000):
        batch(10_000)
    gc.collect()
    traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
    rss_growth = rss_bytes() - rss_before
    tracemalloc.stop()
    # A leak of even one small object per call would be > 3 MB over 100 000 calls.
    assert traced_growth < 256 * 1024, traced_growth
    assert rss_growth < 8 * 1024 * 1024, rss_growth
