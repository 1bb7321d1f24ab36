"""A round trip through the PostgreSQL store, against the throw-away server
tests/postgres/with_postgres.py starts around this file (PG* in the environment). Without
the server, or in a build without the backend, this fails: it never skips."""
import os
import subprocess

import pytest

import iam
import roundtrip

# One key for the one database both tests use: its signing keys are sealed with it.
KEY = roundtrip.new_key()


def test_postgres_round_trip():
    assert iam.features["postgres"], "this build has no PostgreSQL store"
    assert os.environ.get("PGHOST"), "run under tests/postgres/with_postgres.py"
    written = roundtrip.write(iam.open_store("postgres:", key=KEY))
    roundtrip.read(iam.open_store("postgres:", key=KEY), written)
    with pytest.raises(iam.InvalidArgument):
        iam.open_store("postgres:", key=roundtrip.new_key())  # not the key it was sealed with


def test_postgres_down_is_an_internal_error():
    store = iam.open_store("postgres:", key=KEY)
    regime = roundtrip.make_regime(store)
    control = os.environ["IAM_PG_CONTROL"]
    subprocess.run(control + " stop", shell=True, check=True)
    try:
        with pytest.raises(iam.InternalError):
            regime.list_workspaces()
    finally:
        subprocess.run(control + " start", shell=True, check=True)
