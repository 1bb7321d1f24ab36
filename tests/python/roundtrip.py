"""A round trip through a store, shared by the store tests: what one regime writes, a
regime opened afresh on the same store reads back."""
import os

import iam
from conftest import BOOTSTRAP_TOKEN, PASSWORD, make_regime


def write(store):
    """Creates a workspace, a user and an API key; answers what read() must find."""
    regime = make_regime(store)
    regime.create_workspace("roundtrip", name="Round trip")
    user = regime.create_user("roundtrip", username="rita", password=PASSWORD, roles=["writer"])
    key = regime.create_api_key(user.id, "rt").plaintext
    return {"user_id": user.id, "key": key, "kid": regime.active_kid}


def read(store, written):
    regime = make_regime(store)
    assert regime.authenticate(BOOTSTRAP_TOKEN).source == "api-key"
    who = regime.authenticate(written["key"])
    assert who.handle == written["user_id"] and who.workspace == "roundtrip"
    assert regime.authorise(who, "graph:write", {"workspace": "roundtrip"})
    assert regime.get_workspace("roundtrip").name == "Round trip"
    assert regime.active_kid == written["kid"]  # the signing key came back from the store
    assert regime.authenticate(regime.login("rita", PASSWORD).jwt).handle == written["user_id"]


def new_key():
    return os.urandom(32)
