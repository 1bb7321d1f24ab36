// The PostgreSQL schema, as a list of forward migrations.
//
// Conventions: every table is named iam_* so the store can share a database (schema) with
// an application's own tables. Ids, username keys, hashes and kids are text COLLATE "C":
// byte-wise equality and order (std::string's <) whatever the database's default
// collation. Timestamps are bigint Unix seconds, NULL for an absent optional. Every lookup
// the repository makes has an index (primary keys and UNIQUE constraints make their own;
// the foreign keys' referencing columns lead an index each), and the constraints make the
// database itself refuse an inconsistent row: a user of an absent workspace, a key of an
// absent user, two users with one username key, two keys with one hash, two active
// signing keys.
#include "storage/postgres/postgres_schema.h"

#include <array>

namespace iam::postgres_detail {
namespace {

// Version 1: the records, and the metadata of private keys encrypted at rest.
constexpr const char* v1 = R"sql(
CREATE TABLE iam_schema_version (
  id      integer PRIMARY KEY CHECK (id = 1),
  version integer NOT NULL
);
INSERT INTO iam_schema_version (id, version) VALUES (1, 1);

CREATE TABLE iam_meta (
  name  text COLLATE "C" PRIMARY KEY,
  value bytea NOT NULL
);

CREATE TABLE iam_workspaces (
  id      text COLLATE "C" PRIMARY KEY,
  name    text NOT NULL,
  enabled boolean NOT NULL,
  created bigint NOT NULL
);

CREATE TABLE iam_users (
  id                   text COLLATE "C" PRIMARY KEY,
  workspace_id         text COLLATE "C" NOT NULL REFERENCES iam_workspaces (id),
  username             text NOT NULL,
  username_key         text COLLATE "C" NOT NULL CONSTRAINT iam_users_username_key_unique UNIQUE,
  name                 text NOT NULL,
  email                text NOT NULL,
  roles                text[] NOT NULL
                       CHECK (array_position(roles, NULL) IS NULL AND coalesce(array_ndims(roles), 1) = 1),
  enabled              boolean NOT NULL,
  must_change_password boolean NOT NULL,
  created              bigint NOT NULL,
  password_hash        text NOT NULL
);
CREATE INDEX iam_users_by_workspace ON iam_users (workspace_id, username_key);

-- ON DELETE CASCADE: a key inserted by another transaction while its user is being
-- deleted goes with the user instead of failing the delete.
CREATE TABLE iam_api_keys (
  id        text COLLATE "C" PRIMARY KEY,
  user_id   text COLLATE "C" NOT NULL REFERENCES iam_users (id) ON DELETE CASCADE,
  key_hash  text COLLATE "C" NOT NULL CONSTRAINT iam_api_keys_key_hash_unique UNIQUE,
  name      text NOT NULL,
  prefix    text NOT NULL,
  expires   bigint,
  created   bigint NOT NULL,
  last_used bigint
);
CREATE INDEX iam_api_keys_by_user ON iam_api_keys (user_id, created, id);

-- seq: insertion order, which breaks ties in `created`.
CREATE TABLE iam_signing_keys (
  seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kid              text COLLATE "C" NOT NULL CONSTRAINT iam_signing_keys_kid_unique UNIQUE,
  public_key       bytea NOT NULL CHECK (octet_length(public_key) = 32),
  secret_key       bytea,
  secret_encrypted boolean NOT NULL DEFAULT false,
  created          bigint NOT NULL,
  retired          bigint
);
CREATE UNIQUE INDEX iam_signing_keys_one_active ON iam_signing_keys ((retired IS NULL)) WHERE retired IS NULL;
CREATE INDEX iam_signing_keys_by_created ON iam_signing_keys (created, seq);
CREATE INDEX iam_signing_keys_by_retired ON iam_signing_keys (retired) WHERE retired IS NOT NULL;
)sql";

// Version 2: a user's credentials epoch (advanced when the user's JWTs must stop working).
constexpr const char* v2 = R"sql(
ALTER TABLE iam_users ADD COLUMN credentials_epoch bigint NOT NULL DEFAULT 0 CHECK (credentials_epoch >= 0);
UPDATE iam_schema_version SET version = 2 WHERE id = 1;
)sql";

// Version 3: staged key rotation (protocol.md "Signing key rotation"). `activated` says
// when a key began signing; a key neither activated nor retired is the next key, published
// before it signs. At most one current and one next key. A store from before keeps its
// active key as the current one; the roles regime adds the next key at its first start.
constexpr const char* v3 = R"sql(
ALTER TABLE iam_signing_keys ADD COLUMN activated bigint;
UPDATE iam_signing_keys SET activated = created;
DROP INDEX iam_signing_keys_one_active;
CREATE UNIQUE INDEX iam_signing_keys_one_current ON iam_signing_keys ((retired IS NULL))
  WHERE retired IS NULL AND activated IS NOT NULL;
CREATE UNIQUE INDEX iam_signing_keys_one_next ON iam_signing_keys ((retired IS NULL))
  WHERE retired IS NULL AND activated IS NULL;
UPDATE iam_schema_version SET version = 3 WHERE id = 1;
)sql";

constexpr std::array<const char*, 3> steps = {v1, v2, v3};

}  // namespace

std::span<const char* const> migration_steps() { return steps; }

int latest_schema_version() { return static_cast<int>(steps.size()); }

}  // namespace iam::postgres_detail
