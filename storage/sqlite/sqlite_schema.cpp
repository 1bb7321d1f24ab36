// The SQLite schema, as a list of forward migrations.
//
// Conventions: ids, usernames and hashes are TEXT compared with the default BINARY
// collation (byte-wise, like std::string's <); timestamps are INTEGER Unix seconds, NULL
// for an absent optional; booleans are INTEGER 0/1; a user's roles are a JSON array of
// strings in one TEXT column. Every lookup the repository makes has an index (primary
// keys and UNIQUE constraints make their own), and the constraints make the database
// itself refuse an inconsistent row: a user of an absent workspace, a key of an absent
// user, two users with one username key, two keys with one hash, two current or two next signing keys.
#include "storage/sqlite/sqlite_schema.h"

#include <array>

namespace iam::sqlite_detail {
namespace {

// Version 1: the records.
constexpr const char* v1 = R"sql(
PRAGMA application_id = 1767992625;  -- 0x69616d31, "iam1"

CREATE TABLE schema_version (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO schema_version (id, version) VALUES (1, 1);

CREATE TABLE workspaces (
  id      TEXT PRIMARY KEY NOT NULL,
  name    TEXT NOT NULL,
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created INTEGER NOT NULL
);

CREATE TABLE users (
  id                   TEXT PRIMARY KEY NOT NULL,
  workspace_id         TEXT NOT NULL REFERENCES workspaces (id),
  username             TEXT NOT NULL,
  username_key         TEXT NOT NULL UNIQUE,
  name                 TEXT NOT NULL,
  email                TEXT NOT NULL,
  roles                TEXT NOT NULL,
  enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  must_change_password INTEGER NOT NULL CHECK (must_change_password IN (0, 1)),
  created              INTEGER NOT NULL,
  password_hash        TEXT NOT NULL
);
CREATE INDEX users_by_workspace ON users (workspace_id, username_key);

CREATE TABLE api_keys (
  id        TEXT PRIMARY KEY NOT NULL,
  user_id   TEXT NOT NULL REFERENCES users (id),
  key_hash  TEXT NOT NULL UNIQUE,
  name      TEXT NOT NULL,
  prefix    TEXT NOT NULL,
  expires   INTEGER,
  created   INTEGER NOT NULL,
  last_used INTEGER
);
CREATE INDEX api_keys_by_user ON api_keys (user_id, created, id);

CREATE TABLE signing_keys (
  seq        INTEGER PRIMARY KEY,
  kid        TEXT NOT NULL UNIQUE,
  public_key BLOB NOT NULL CHECK (length(public_key) = 32),
  secret_key BLOB,
  created    INTEGER NOT NULL,
  retired    INTEGER
);
CREATE INDEX signing_keys_by_created ON signing_keys (created, seq);
)sql";

// Version 2: private keys encrypted at rest (a metadata table records that the database
// holds encrypted keys, with a key check value), and at most one active signing key.
constexpr const char* v2 = R"sql(
CREATE TABLE meta (
  name  TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
);
ALTER TABLE signing_keys ADD COLUMN secret_encrypted INTEGER NOT NULL DEFAULT 0
  CHECK (secret_encrypted IN (0, 1));
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired IS NULL)) WHERE retired IS NULL;
UPDATE schema_version SET version = 2 WHERE id = 1;
)sql";

// Version 3: a user's credentials epoch (advanced when the user's JWTs must stop working).
constexpr const char* v3 = R"sql(
ALTER TABLE users ADD COLUMN credentials_epoch INTEGER NOT NULL DEFAULT 0 CHECK (credentials_epoch >= 0);
UPDATE schema_version SET version = 3 WHERE id = 1;
)sql";

// Version 4: staged key rotation (protocol.md "Signing key rotation"). `activated` says
// when a key began signing; a key neither activated nor retired is the next key, published
// before it signs. At most one current and one next key. A store from before keeps its
// active key as the current one; the roles regime adds the next key at its first start.
constexpr const char* v4 = R"sql(
ALTER TABLE signing_keys ADD COLUMN activated INTEGER;
UPDATE signing_keys SET activated = created;
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired IS NULL))
  WHERE retired IS NULL AND activated IS NOT NULL;
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys ((retired IS NULL))
  WHERE retired IS NULL AND activated IS NULL;
UPDATE schema_version SET version = 4 WHERE id = 1;
)sql";

constexpr std::array<const char*, 4> steps = {v1, v2, v3, v4};

}  // namespace

std::span<const char* const> migration_steps() { return steps; }

int latest_schema_version() { return static_cast<int>(steps.size()); }

}  // namespace iam::sqlite_detail
