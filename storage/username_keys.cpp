#include "storage/username_keys.h"

#include <unordered_map>

#include "core/text.h"
#include "iam/repository.h"

namespace iam::storage_detail {
namespace {
std::string describe(const StoredUsername& u) { return "user " + u.id + " ('" + text::escape_controls(u.username) + "')"; }
}  // namespace

Result<std::vector<Rekey>> plan_username_rekey(const std::vector<StoredUsername>& users) {
  constexpr std::size_t kMaxNamed = 5;  // the message names this many problems, then counts
  std::vector<Rekey> changes;
  std::unordered_map<std::string, const StoredUsername*> owner;
  std::vector<std::string> problems;
  for (const auto& u : users) {
    auto key = username_key(u.username);
    if (!key) {
      problems.push_back(describe(u) + " has a username that is not UTF-8 or has no usable characters");
      continue;
    }
    if (const auto [it, fresh] = owner.emplace(*key, &u); !fresh) {
      problems.push_back(describe(*it->second) + " and " + describe(u) + " have one username under the new rules");
      continue;
    }
    if (*key != u.key) changes.push_back(Rekey{u.id, std::move(*key)});
  }
  if (problems.empty()) return changes;
  std::string message =
      "cannot move usernames to the new comparison (NFKC and case folding), nothing was changed: ";
  for (std::size_t i = 0; i < problems.size() && i < kMaxNamed; ++i) message += (i ? "; " : "") + problems[i];
  if (problems.size() > kMaxNamed) message += "; and " + std::to_string(problems.size() - kMaxNamed) + " more";
  message += ". Delete or rename one user of each pair (with the previous version of iam, or in SQL), then open "
             "the store again.";
  return Error{ErrorCode::internal_error, std::move(message)};
}

}  // namespace iam::storage_detail
