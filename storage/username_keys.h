// Internal: re-keying the usernames of an existing store when username_key() changes
// (ASCII lowercase until the store's meta entry "username_keys" says "nfkc-casefold").
// SQL cannot compute NFKC, so each SQL backend reads its users, asks plan_username_rekey()
// what to write, and writes it in the same transaction.
//
// THREAD SAFETY: pure functions. ERRORS: see plan_username_rekey.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "iam/status.h"

namespace iam::storage_detail {

// The meta entry that records which username_key() computed a store's keys.
inline constexpr std::string_view username_keys_meta = "username_keys";
inline constexpr std::string_view username_keys_form = "nfkc-casefold";

struct StoredUsername {
  std::string id;
  std::string username;
  std::string key;  // as stored
};

struct Rekey {
  std::string id;
  std::string key;  // the new key
};

// The keys to rewrite (only those that change), or, when two users' names share one new
// key or a name has none, an internal_error naming them (ids and escaped usernames, at
// most a few): nothing may be written then, and no user is merged or dropped. `users` in
// a stable order (by created, id) so the message is too.
Result<std::vector<Rekey>> plan_username_rekey(const std::vector<StoredUsername>& users);

}  // namespace iam::storage_detail
