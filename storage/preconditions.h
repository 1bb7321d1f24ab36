// Internal: the rules of repository.h that every backend enforces before a mutation writes
// anything (duplicate ids and names, the records a record refers to, valid usernames), in
// one place and one order, so that every backend answers a broken change with the same
// error. A backend answers the questions (StoreFacts) from inside the change being applied,
// so that earlier steps of the change are seen; its schema's constraints stand behind the
// answers for races with other processes.
//
// THREAD SAFETY: as the StoreFacts given. ERRORS: duplicate, not_found, invalid_argument.
#pragma once

#include <optional>
#include <string_view>

#include "iam/repository.h"

namespace iam::storage_detail {

class StoreFacts {
 public:
  virtual bool has_workspaces_or_users() = 0;
  virtual bool workspace_exists(std::string_view id) = 0;
  virtual bool user_exists(std::string_view id) = 0;
  virtual bool username_key_taken(std::string_view key) = 0;  // a key from username_key()
  virtual bool api_key_exists(std::string_view id) = 0;
  virtual bool api_key_hash_taken(std::string_view key_hash) = 0;
  virtual bool signing_key_exists(std::string_view kid) = 0;
  // When the current signing key was activated; nullopt without a current key.
  virtual std::optional<TimePoint> current_signing_key_activated() = 0;
  virtual bool next_signing_key_exists() = 0;

 protected:
  ~StoreFacts() = default;
};

// The first rule `m` breaks, or ok. Mutations without rules (TouchApiKey ignores an absent
// key, the bulk deletes and disables match nothing) are always ok.
Status check_preconditions(const Mutation& m, StoreFacts& facts);

// PromoteNextSigningKey's refusal when its condition does not hold (also when another
// process's rotation won a race after the preconditions looked).
Error not_due();

}  // namespace iam::storage_detail
