"""Fixtures of the Python binding's tests (tests/python, run by meson as suite 'python'
with PYTHONPATH=<build>/bindings/python)."""
import datetime

import pytest

import iam

BOOTSTRAP_TOKEN = "tg_" + "b" * 40
PASSWORD = "correct horse battery staple"


def quiet(level, message):
    """A logger that drops the library's messages (noauth warns at construction)."""


def make_regime(store=None, **options):
    """A roles regime in token mode on `store` (default: memory) with a ManualClock."""
    options.setdefault("bootstrap_mode", "token")
    options.setdefault("bootstrap_token", BOOTSTRAP_TOKEN)
    options.setdefault("read_environment", False)
    options.setdefault("logger", quiet)
    options.setdefault("clock", iam.ManualClock())
    return iam.roles_regime(store or iam.open_store("memory"), **options)


@pytest.fixture
def clock():
    return iam.ManualClock()


@pytest.fixture
def regime(clock):
    return make_regime(clock=clock)


@pytest.fixture
def admin(regime):
    """The bootstrapped administrator's Identity."""
    return regime.authenticate(BOOTSTRAP_TOKEN)


class World:
    """A regime with an admin and a reader (each user costs a PBKDF2 hash at the production
    minimum, 600 000 iterations: the binding has no low-cost door, so users are few)."""

    def __init__(self):
        self.clock = iam.ManualClock()
        self.regime = make_regime(clock=self.clock)
        self.admin = self.regime.authenticate(BOOTSTRAP_TOKEN)
        self.reader_user = self.regime.create_user("default", username="reader", password=PASSWORD, roles=["reader"])
        self.reader_key = self.regime.create_api_key(self.reader_user.id, "test").plaintext
        self.reader = self.regime.authenticate(self.reader_key)


@pytest.fixture(scope="module")
def world():
    """One World per test module, for tests that change nothing in it."""
    return World()


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.timezone.utc)
