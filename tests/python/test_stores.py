"""open_store: each backend of this build, round trips, keys at rest, and its errors.
(PostgreSQL: test_postgres.py, under a throw-away server.)"""
import pytest

import iam
import roundtrip


def test_memory_store_round_trip_within_one_store():
    store = iam.open_store("memory")
    written = roundtrip.write(store)
    roundtrip.read(store, written)  # a second regime on the same store
    assert repr(store) == "<iam.Store>"
    # Each open is a store of its own.
    with pytest.raises(iam.AuthenticationFailed):
        roundtrip.make_regime(iam.open_store("memory")).authenticate(written["key"])


def test_sqlite_round_trip_with_a_key(tmp_path):
    assert iam.features["sqlite"], "this build has no SQLite store"
    spec = "sqlite:" + str(tmp_path / "iam.db")
    key = roundtrip.new_key()
    written = roundtrip.write(iam.open_store(spec, key=key))
    roundtrip.read(iam.open_store(spec, key=key), written)
    # The private signing keys are sealed: no key, or another, does not open it.
    with pytest.raises(iam.InvalidArgument):
        iam.open_store(spec, key=None, key_file=None)
    with pytest.raises(iam.Error):
        roundtrip.read(iam.open_store(spec, key=roundtrip.new_key()), written)


def test_sqlite_round_trip_with_a_key_file_and_key_rotation(tmp_path):
    spec = "sqlite:" + str(tmp_path / "iam.db")
    key_file = tmp_path / "iam.key"
    old = roundtrip.new_key()
    key_file.write_text(old.hex() + "\n")
    key_file.chmod(0o600)
    written = roundtrip.write(iam.open_store(spec, key_file=str(key_file)))
    new = roundtrip.new_key()
    iam.open_store(spec, key=old, replacement_key=new)  # re-encrypts under the new key
    roundtrip.read(iam.open_store(spec, key=new), written)
    with pytest.raises(iam.InvalidArgument):
        iam.open_store(spec, key=old, key_file=str(key_file))


def test_open_store_errors(tmp_path):
    with pytest.raises(iam.InvalidArgument):
        iam.open_store("floppy:disk")
    with pytest.raises(iam.InvalidArgument):
        iam.open_store("sqlite:")
    with pytest.raises(iam.Error):
        iam.open_store("sqlite:" + str(tmp_path / "no" / "such" / "dir" / "iam.db"))
    with pytest.raises(iam.Error):
        iam.open_store("sqlite:" + str(tmp_path / "x.db"), key_file=str(tmp_path / "missing.key"))
