#!/usr/bin/python3
"""Signing keys encrypted at rest by default (issue 14, item 7). iam-gateway on a fresh SQLite
store with no key options creates the key-encryption key file beside the store (mode 0600,
its path said once) and stores private keys sealed with it; a retired key leaves no bytes in
the database or its WAL; a restart reuses the file; without it the gateway and iamctl refuse
to start and create no new key; iamctl on the same store uses the same file, and its
rotate-key-encryption-key re-encrypts under a new key.
Usage: gateway_key_at_rest.py IAM-GATEWAY IAMCTL"""
import ctypes
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile

from gateway_process import Checks, Gateway

EXE, IAMCTL = sys.argv[1], sys.argv[2]
for name in ("IAM_KEY_ENCRYPTION_KEY_FILE", "IAM_BOOTSTRAP_MODE", "IAM_BOOTSTRAP_TOKEN"):
    os.environ.pop(name, None)
checks = Checks()
tmp = tempfile.TemporaryDirectory(prefix="iam-at-rest-")
DB = os.path.join(tmp.name, "iam.db")
KEY_FILE = os.path.join(tmp.name, "iam.key")
STORE = f"sqlite:{DB}"

sodium = ctypes.CDLL("libsodium.so.23")
assert sodium.sodium_init() >= 0
NONCE, MAC = 24, 16


def load_key(path):
    with open(path, "rb") as f:
        data = f.read()
    return data if len(data) == 32 else bytes.fromhex(data.decode().strip())


def unseal(key, box):
    """nonce || crypto_secretbox_easy(plaintext), as the store writes it; None if it does not open."""
    out = ctypes.create_string_buffer(len(box) - NONCE - MAC)
    rc = sodium.crypto_secretbox_open_easy(out, box[NONCE:], ctypes.c_ulonglong(len(box) - NONCE), box[:NONCE], key)
    return out.raw if rc == 0 else None


def signing_rows():
    """(kid, public key, secret blob, encrypted flag) of every signing key, read as another process would."""
    with sqlite3.connect(f"file:{DB}?mode=ro", uri=True) as db:
        return db.execute("SELECT kid, public_key, secret_key, secret_encrypted, activated FROM signing_keys ORDER BY seq").fetchall()


def stored_bytes():
    """The database file and its WAL, as a copy of the directory would hold them."""
    data = b""
    for path in (DB, DB + "-wal", DB + "-journal"):
        if os.path.exists(path):
            with open(path, "rb") as f:
                data += f.read()
    return data


def iamctl(*args, store=STORE):
    done = subprocess.run([IAMCTL, *args, "--store", store], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def gateway_refusal(*args, store=STORE):
    """Runs iam-gateway expecting it not to start: (exit code, stderr)."""
    done = subprocess.run([EXE, "--port", "0", "--store", store, "--bootstrap-mode", "bootstrap", *args],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr


# ---- first start: the key file is created beside the store, and the keys are sealed with it
gw = Gateway(EXE, "--bootstrap-mode", "bootstrap", store=STORE)
gw.start()
checks.check(os.path.exists(KEY_FILE), f"the first start creates {KEY_FILE}")
if not os.path.exists(KEY_FILE):
    gw.stop()
    checks.done()
checks.equal(stat.S_IMODE(os.stat(KEY_FILE).st_mode), 0o600, "the key file's mode")
checks.equal(sum(KEY_FILE in line for line in gw.log_lines), 1, "the key file's path is said once")
key = load_key(KEY_FILE)
checks.equal(len(key), 32, "the key file holds a 32-byte key")

status, body = gw.post("/api/v1/auth/bootstrap")
admin = json.loads(body).get("bootstrap_admin_api_key", "") if status == 200 else ""
checks.equal(status, 200, "bootstrap")

rows = signing_rows()
# The current key and the next one (published before it signs) hold private halves.
checks.equal(sum(r[2] is not None for r in rows), 2, "two signing keys hold a private half: current and next")
active = [r for r in rows if r[2] is not None and r[4] is not None]
checks.equal(len(active), 1, "one current signing key")
old_kid, old_public, old_box, old_flag, _ = active[0]
checks.equal(old_flag, 1, "the private half is marked encrypted")
old_secret = unseal(key, old_box)
checks.check(old_secret is not None and old_secret[32:] == old_public,
             "the private half opens with the key file and matches its public key")
old_seed = old_secret[:32] if old_secret else b"\x00" * 32
checks.check(old_seed not in stored_bytes(), "the Ed25519 seed is not stored in plaintext")

# ---- rotation retires the key: neither its seed nor its sealed bytes remain in the files
status, body = gw.iam({"operation": "rotate-signing-key"}, token=admin)
checks.equal(status, 200, "rotate-signing-key")
rows = signing_rows()
checks.check(all(r[2] is None for r in rows if r[0] == old_kid), "the retired key's private half is dropped")
new_rows = [r for r in rows if r[2] is not None and r[4] is not None]
checks.check(len(new_rows) == 1 and new_rows[0][3] == 1, "the new key is stored encrypted")
checks.check(all(r[3] == 1 for r in rows if r[2] is not None), "so is the fresh next key")
new_secret = unseal(key, new_rows[0][2]) if new_rows else None
checks.check(new_secret is not None and new_secret[32:] == new_rows[0][1], "the new key opens with the key file")
files = stored_bytes()
checks.check(old_seed not in files, "the retired key's seed is in neither the database nor the WAL")
checks.check(old_box not in files, "the retired key's sealed bytes are in neither the database nor the WAL")
checks.check(new_secret is None or new_secret[:32] not in files, "the new key's seed is not stored in plaintext")
gw.stop()

# ---- a restart reuses the key file, and says nothing about creating one
key_before = load_key(KEY_FILE)
gw = Gateway(EXE, "--bootstrap-mode", "bootstrap", store=STORE)
gw.start()
status, reply = gw.iam({"operation": "whoami"}, token=admin)
checks.equal(status, 200, "the restarted gateway serves the stored admin key")
checks.equal(sum(KEY_FILE in line for line in gw.log_lines), 0, "a restart does not announce a key file")
gw.stop()
checks.equal(load_key(KEY_FILE), key_before, "a restart keeps the key file as it was")

# ---- iamctl on the same store uses the same key file
code, out, err = iamctl("list-users")
checks.check(code == 0 and "admin" in out, f"iamctl reads the store with the same key file: {code} {err}")
checks.check(KEY_FILE not in err, "iamctl does not announce an existing key file")
code, out, err = iamctl("rotate-signing-key")
checks.equal(code, 0, f"iamctl rotate-signing-key ({err.strip()})")
rows = signing_rows()
checks.check(all(r[3] == 1 and unseal(key, r[2]) is not None for r in rows if r[2] is not None),
             "iamctl sealed its new signing key with the same key file")

# ---- without the key file both refuse to start, and create no new key
hidden = KEY_FILE + ".away"
os.rename(KEY_FILE, hidden)
code, err = gateway_refusal()
checks.check(code != 0, "iam-gateway refuses to start without the key file")
checks.check(KEY_FILE in err and "missing" in err, f"the gateway's refusal names the missing key file: {err.strip()}")
checks.check(not os.path.exists(KEY_FILE), "the gateway did not create a new key file")
code, out, err = iamctl("list-users")
checks.check(code != 0 and out == "", "iamctl refuses the store without the key file")
checks.check(KEY_FILE in err and "missing" in err, f"iamctl's refusal names the missing key file: {err.strip()}")
checks.check(not os.path.exists(KEY_FILE), "iamctl did not create a new key file")
os.rename(hidden, KEY_FILE)

# ---- --key-file names another file: created there on first use, nothing beside the store
other_db = os.path.join(tmp.name, "other.db")
other_key = os.path.join(tmp.name, "keys", "other-kek")
os.mkdir(os.path.dirname(other_key), 0o700)
gw = Gateway(EXE, "--bootstrap-mode", "bootstrap", "--key-file", other_key, store=f"sqlite:{other_db}")
gw.start()
gw.stop()
checks.check(os.path.exists(other_key) and stat.S_IMODE(os.stat(other_key).st_mode) == 0o600,
             "--key-file creates the named file (0600)")
checks.check(not os.path.exists(os.path.join(tmp.name, "other.key")), "no key file beside the store with --key-file")
code, err = gateway_refusal(store=f"sqlite:{other_db}")
checks.check(code != 0 and "missing" in err, "without --key-file the default path is missing: refused")
done = subprocess.run([IAMCTL, "list-users", "--store", f"sqlite:{other_db}"], capture_output=True, text=True,
                      timeout=120, env=dict(os.environ, IAM_KEY_ENCRYPTION_KEY_FILE=other_key))
checks.check(done.returncode == 0 and "created" not in done.stderr, f"$IAM_KEY_ENCRYPTION_KEY_FILE names the file: "
             f"{done.returncode} {done.stderr.strip()}")

# ---- an interrupted rotation (its .new file left behind) is refused, and changes nothing
with open(KEY_FILE + ".new", "w") as f:
    f.write("00" * 32 + "\n")
code, out, err = iamctl("rotate-key-encryption-key")
checks.check(code == 2 and "interrupted" in err, f"a leftover .new file is refused: {code} {err.strip()}")
checks.equal(load_key(KEY_FILE), key, "the refused rotation left the key file as it was")
os.unlink(KEY_FILE + ".new")

# ---- rotating the key-encryption key: the store re-encrypted under a new key file
code, out, err = iamctl("rotate-key-encryption-key")
checks.equal(code, 0, f"iamctl rotate-key-encryption-key ({err.strip()})")
new_key = load_key(KEY_FILE)
checks.check(new_key != key, "the key file now holds a new key")
checks.equal(stat.S_IMODE(os.stat(KEY_FILE).st_mode), 0o600, "the new key file's mode")
checks.check(not os.path.exists(KEY_FILE + ".new"), "the rotation leaves no .new file")
rows = signing_rows()
sealed = [r for r in rows if r[2] is not None]
checks.check(sealed and all(unseal(new_key, r[2]) is not None and unseal(key, r[2]) is None for r in sealed),
             "every private half opens with the new key and not with the old one")
code, out, err = iamctl("list-users")
checks.check(code == 0 and "admin" in out, f"the store opens with the new key file: {err.strip()}")
gw = Gateway(EXE, "--bootstrap-mode", "bootstrap", store=STORE)
gw.start()
status, _ = gw.iam({"operation": "rotate-signing-key"}, token=admin)
checks.equal(status, 200, "the gateway signs with keys under the new key file")
gw.stop()

checks.done()
