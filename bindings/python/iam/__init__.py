"""iam: identity and access management, in-process (docs/python.md).

    import iam
    store = iam.open_store("sqlite:./iam.db")
    regime = iam.roles_regime(store, bootstrap_mode="token", bootstrap_token="tg_...")
    who = regime.authenticate(api_key_or_jwt)            # iam.Identity, or raises iam.AuthenticationFailed
    if regime.authorise(who, "users:read", {"workspace": "default"}):
        ...

Every call releases the GIL while it works, and a regime may be shared between threads;
in asyncio, run slow calls (login: PBKDF2) in an executor. Errors derive from iam.Error.
"""
from ._iam import *  # noqa: F401,F403  (the extension module; its names are the API)
from ._iam import __doc__ as _extension_doc  # noqa: F401

__all__ = [name for name in dir(__import__("iam._iam", fromlist=["_"])) if not name.startswith("_")]
