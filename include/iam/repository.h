// iam/repository.h — the storage plug-in point: users, workspaces, API keys, signing keys.
//
// Backends (storage/memory, storage/sqlite, storage/postgres) implement Repository and must
// pass the conformance suite in tests/conformance. Regimes know storage only through this.
//
// THREAD SAFETY: every Repository must be safe to call from many threads at once.
// OWNERSHIP: results are copies owned by the caller; the repository keeps its own.
// ERRORS: lookups of an absent record answer not_found; apply() answers duplicate for a
// uniqueness violation (user id, username, workspace id, key id, key hash, kid), not_found
// for a change to an absent record, invalid_argument for a failed precondition, and
// internal_error when the store itself failed. A failed apply() changed nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "iam/clock.h"
#include "iam/export.h"
#include "iam/function_ref.h"
#include "iam/operations.h"
#include "iam/invalidation.h"
#include "iam/signing_key.h"
#include "iam/status.h"

namespace iam {

struct StoredUser {
  UserRecord record;
  std::string password_hash;  // pbkdf2-sha256$…; never leaves the regime
  // Advanced by every change that must end the user's sessions (password changed or reset,
  // user disabled); a JWT carries the value it was issued under and dies when it moves.
  // Never decreases: only AdvanceCredentialsEpoch and DisableUsersInWorkspace change it.
  std::uint64_t credentials_epoch = 0;
};

// What an authorisation decision needs of a stored user, and nothing more (no password
// hash, no profile): borrowed from the store for the length of one read_user_authorisation
// call, so authorise copies nothing.
struct UserAuthorisationView {
  std::string_view id;
  std::string_view workspace;  // home workspace
  std::span<const std::string> roles;
  bool enabled = false;
};

struct StoredApiKey {
  ApiKeyRecord record;
  std::string key_hash;  // lowercase hex SHA-256 of the plaintext
};

// The form of a username that uniqueness and lookup compare: Unicode NFKC_Casefold, so
// 'ADMIN', 'admin' and full-width 'ａdmin' share one key ("admin"), as do 'Straße' and
// 'STRASSE'; default-ignorable code points (zero-width, bidi controls) are dropped. nullopt
// when `username` is not valid UTF-8, holds an unassigned code point, or folds to nothing:
// no user can have such a name (lookups answer not_found, inserts invalid_argument).
// Thread-safe; allocates.
IAM_EXPORT std::optional<std::string> username_key(std::string_view username);

// One step of an atomic change. A Change is applied whole or not at all.
namespace mutation {
struct RequireEmpty {};  // fails with duplicate unless there are no workspaces and no users
struct InsertWorkspace { WorkspaceRecord workspace; };
struct UpdateWorkspace { WorkspaceRecord workspace; };      // by id; name, enabled
struct InsertUser { StoredUser user; };                      // workspace must exist (not_found)
struct UpdateUser { StoredUser user; };                      // by id; every field but id, username, created, credentials_epoch
struct DeleteUser { std::string user_id; };                  // and all its API keys
struct DisableUsersInWorkspace { std::string workspace_id; };  // and advances their credentials epochs
struct InsertApiKey { StoredApiKey key; };                   // user must exist (not_found)
struct DeleteApiKey { std::string key_id; };
struct DeleteApiKeysOfUser { std::string user_id; };
struct DeleteApiKeysInWorkspace { std::string workspace_id; };  // keys of every user whose home it is
struct TouchApiKey { std::string key_id; TimePoint last_used; };  // absent key: ignored
// At most one current and one next key (iam/signing_key.h): inserting a second is duplicate.
struct InsertSigningKey { SigningKey key; };
struct RetireSigningKeys { TimePoint at; };                  // every unretired key: retired = at, private half dropped
// The staged rotation: the current key (if any) is retired at `at`, its private half
// dropped, and the next key becomes current (activated = at). not_found without a next key.
// With `only_if_current_activated_by`, the store arbitrates between processes: unless
// a current key activated at or before that time exists when the change applies,
// duplicate (a rotation by another process came first) and nothing changes.
struct PromoteNextSigningKey { TimePoint at; std::optional<TimePoint> only_if_current_activated_by; };
struct DeleteSigningKeysRetiredBefore { TimePoint before; };
struct AdvanceCredentialsEpoch { std::string user_id; };     // credentials_epoch + 1; absent user: not_found
}  // namespace mutation

using Mutation = std::variant<mutation::RequireEmpty, mutation::InsertWorkspace, mutation::UpdateWorkspace,
                              mutation::InsertUser, mutation::UpdateUser, mutation::DeleteUser,
                              mutation::DisableUsersInWorkspace, mutation::InsertApiKey, mutation::DeleteApiKey,
                              mutation::DeleteApiKeysOfUser, mutation::DeleteApiKeysInWorkspace,
                              mutation::TouchApiKey, mutation::InsertSigningKey, mutation::RetireSigningKeys,
                              mutation::PromoteNextSigningKey, mutation::DeleteSigningKeysRetiredBefore,
                              mutation::AdvanceCredentialsEpoch>;

// A list of mutations applied in order, atomically.
using Change = std::vector<Mutation>;

class IAM_EXPORT Repository {
 public:
  virtual ~Repository() = default;

  virtual Result<WorkspaceRecord> find_workspace(std::string_view id) = 0;
  virtual Result<std::vector<WorkspaceRecord>> list_workspaces() = 0;  // ordered by id

  virtual Result<StoredUser> find_user(std::string_view id) = 0;
  // authorise's read: hands `read` a view of user `id`'s authorisation record, once, and
  // answers ok; not_found (without calling `read`) when there is no such user. The view
  // lives only during the call. `read` must be short, must not throw and must not call
  // the repository: a store may hold its read lock meanwhile.
  virtual Status read_user_authorisation(std::string_view id, FunctionRef<void(const UserAuthorisationView&)> read) = 0;
  // By username_key(): without regard to case or compatibility forms.
  virtual Result<StoredUser> find_user_by_username(std::string_view username) = 0;
  // Every user, or those whose home workspace is `workspace`; ordered by username key.
  virtual Result<std::vector<StoredUser>> list_users(std::optional<std::string_view> workspace) = 0;

  virtual Result<StoredApiKey> find_api_key(std::string_view id) = 0;
  virtual Result<StoredApiKey> find_api_key_by_hash(std::string_view key_hash) = 0;
  virtual Result<std::vector<StoredApiKey>> list_api_keys(std::string_view user_id) = 0;  // ordered by created, id

  // Every stored signing key, next, current and retired, ordered by created.
  virtual Result<std::vector<SigningKey>> list_signing_keys() = 0;

  // True when there are no workspaces and no users (what bootstrap needs).
  virtual Result<bool> is_empty() = 0;

  // Applies every mutation of `change` in order as one atomic unit of work.
  virtual Status apply(std::span<const Mutation> change) = 0;

  // Cross-process invalidation, for stores that several processes share and that can
  // signal between them (PostgreSQL LISTEN/NOTIFY). publish() tells the other processes
  // sharing this store that what they cached about `what` is stale (the roles regime
  // calls it after each change that revokes or alters access). add_change_listener()
  // registers a callback for what the others published; it is called from a background
  // thread, must be fast and must not throw, and also receives Invalidation::everything
  // when notifications may have been missed (the channel was lost and re-established).
  // The defaults do nothing: other processes then learn within their caches' TTL.
  // publish() never fails the caller: the change it describes is already committed.
  virtual void publish(const Invalidation& what) noexcept { (void)what; }
  virtual void add_change_listener(InvalidationListener listener) { (void)listener; }
};

}  // namespace iam
