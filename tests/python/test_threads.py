"""Sharing a regime between threads, and the GIL released while the library works."""
import concurrent.futures
import hashlib
import threading
import time

import iam
from conftest import PASSWORD, make_regime


def test_many_threads_authenticate_and_authorise_at_once(world):
    regime = world.regime
    admin_key = regime.create_api_key(world.admin.handle, "threads").plaintext
    expected = {world.reader_key: world.reader_user.id, admin_key: world.admin.handle}
    errors = []
    start = threading.Barrier(16)

    def work(index):
        start.wait()
        for round_ in range(300):
            key = world.reader_key if (index + round_) % 2 else admin_key
            who = regime.authenticate(key)
            if who.handle != expected[key]:
                errors.append(("identity", index, who.handle))
            allowed = regime.authorise(who, "users:admin", {"workspace": "default"}).allow
            if allowed != (key == admin_key):
                errors.append(("decision", index, key == admin_key))
            many = regime.authorise_many(who, [("graph:read", {"workspace": "default"}),
                                               ("graph:read", {"workspace": "elsewhere"})])
            if [d.allow for d in many] != [True, key == admin_key]:
                errors.append(("many", index))
            try:
                regime.authenticate("tg_" + "q" * 40)
                errors.append(("accepted a bad key", index))
            except iam.AuthenticationFailed:
                pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_management_from_many_threads():
    regime = make_regime()
    admin = regime.authenticate("tg_" + "b" * 40).handle
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda i: regime.create_api_key(admin, f"k{i}"), range(64)))
        identities = list(pool.map(lambda c: regime.authenticate(c.plaintext), created))
    assert len({c.record.id for c in created}) == 64
    assert all(who.handle == admin for who in identities)
    assert len(regime.list_api_keys(admin)) == 65  # and the bootstrap key


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def test_the_gil_is_released_during_login():
    """Two concurrent logins (PBKDF2, 600 000 iterations each) take about the time of one on
    two cores: neither waits for the other's GIL. The machine is shared, so the bound is
    generous and the measurement is repeated: any of three attempts meeting it passes."""
    regime = make_regime(login_throttle=False)
    regime.create_user("default", username="alice", password=PASSWORD)
    regime.create_user("default", username="bob", password=PASSWORD)

    def one():
        regime.login("alice", PASSWORD)

    def two():
        threads = [threading.Thread(target=regime.login, args=(name, PASSWORD)) for name in ("alice", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    one()  # warm up
    ratios = []
    for _ in range(3):
        single = min(timed(one), timed(one))
        double = timed(two)
        ratios.append(round(double / single, 2))
        if double < 1.6 * single:
            return
    # For the diagnosis: the same measurement on hashlib's PBKDF2, which releases the GIL
    # too. About 2 there as well means the machine had no second core free for this test.
    def hashlib_one():
        hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 300_000)

    def hashlib_two():
        threads = [threading.Thread(target=hashlib_one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    reference = round(timed(hashlib_two) / timed(hashlib_one), 2)
    raise AssertionError(f"two concurrent logins took {ratios} times one; want < 1.6 "
                         f"(hashlib's GIL-free PBKDF2 on this machine now: {reference})")


def test_python_threads_run_while_a_login_works():
    """Independent of the core count: while a login hashes in one thread, another thread
    keeps executing Python (it could not if the login held the GIL)."""
    regime = make_regime(login_throttle=False)
    regime.create_user("default", username="carl", password=PASSWORD)
    done = threading.Event()
    ticks = []

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        started = time.perf_counter()
        regime.login("carl", PASSWORD)
        finished = time.perf_counter()
    finally:
        done.set()
        thread.join()
    during = [t for t in ticks if started < t < finished]
    # At one tick per 5 ms, a login of several hundred ms leaves many ticks; a held GIL
    # would leave at most a couple (Python's switch interval is 5 ms).
    assert len(during) >= 10, (len(during), finished - started)


def test_asyncio_login_in_an_executor_keeps_the_loop_serving():
    """docs/python.md's advice: the loop runs other tasks while a login hashes in an executor."""
    import asyncio

    regime = make_regime(login_throttle=False)
    regime.create_user("default", username="dora", password=PASSWORD)
    admin_key = "tg_" + "b" * 40

    async def main():
        loop = asyncio.get_running_loop()
        login = loop.run_in_executor(None, regime.login, "dora", PASSWORD)
        served = 0
        while not login.done():
            assert regime.authenticate(admin_key).source == "api-key"  # cheap: on the loop
            served += 1
            await asyncio.sleep(0.005)
        return (await login), served

    result, served = asyncio.run(main())
    assert result.jwt and served >= 10, served
