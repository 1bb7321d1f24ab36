// tests/conformance/suite.h — what the files of the storage conformance suite share.
//
// The suite: what every iam::Repository backend must do, tested through the Repository
// interface only, in files by concern (records, changes, concurrency, persistence). Each
// backend builds them with its own definition of conformance::make_backend_under_test()
// (backend.h); see meson.build here.
//
// The contract tested, beyond what repository.h states in words:
// - Timestamps: a backend keeps at least whole seconds. Every fixture uses whole-second
//   TimePoints, and they must come back exactly equal (so storing seconds, milliseconds
//   or nanoseconds all pass; rounding to minutes or losing dates past 2038 does not).
// - Strings are kept byte for byte (UTF-8, quotes, empty strings). Roles keep their order.
// - Ids (workspace, user, key, kid) and key hashes compare exactly (case matters); only
//   usernames compare by username_key() (NFKC + full case folding: "Émile", "ÉMILE" and
//   "émile" are one user, as are "admin" and full-width "ａdmin"); a username without a
//   key (not UTF-8) is refused with invalid-argument and found by no lookup.
// - "Ordered by username key" and "ordered by id" mean byte-wise order (std::string's <),
//   as a C collation gives; list_api_keys breaks ties in `created` by id.
// - Failures: the error codes of repository.h (not-found, duplicate); a failed apply()
//   leaves every index exactly as before. Under contention (N threads racing the same
//   username or the same bootstrap) exactly one wins and every loser gets duplicate: a
//   backend must retry its own serialisation failures, not report them.
// - Lists of absent owners (list_api_keys of an unknown user, list_users of an unknown
//   workspace) and bulk mutations naming an absent owner are not tested: repository.h
//   does not say whether they are empty/ignored or not_found.
//
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "backend.h"
#include "crypto/crypto.h"
#include "iam/clock.h"
#include "iam/jwt.h"
#include "iam/repository.h"
#include "iam/status.h"
#include "tests/support/records.h"
#include "tests/support/threads.h"

namespace suite {

using namespace records;
namespace m = iam::mutation;
using iam::Repository;
using iam::TimePoint;

// ---- rendering: one line per record with every field, so a mismatch prints both sides ----

inline std::string stamp(TimePoint t) {
  return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()) + "ns";
}
inline std::string stamp(const std::optional<TimePoint>& t) { return t ? stamp(*t) : std::string("none"); }

using iam::crypto::hex_encode;  // the library's own (libsodium)

inline std::string render(const iam::WorkspaceRecord& w) {
  std::ostringstream o;
  o << "workspace{id=" << w.id << " name=" << w.name << " enabled=" << w.enabled << " created=" << stamp(w.created)
    << "}";
  return o.str();
}

inline std::string render(const iam::StoredUser& u) {
  std::ostringstream o;
  o << "user{id=" << u.record.id << " workspace=" << u.record.workspace << " username=" << u.record.username
    << " name=" << u.record.name << " email=" << u.record.email << " roles=[";
  for (std::size_t i = 0; i < u.record.roles.size(); ++i) o << (i ? "," : "") << u.record.roles[i];
  o << "] enabled=" << u.record.enabled << " must_change_password=" << u.record.must_change_password
    << " created=" << stamp(u.record.created) << " password_hash=" << u.password_hash
    << " credentials_epoch=" << u.credentials_epoch << "}";
  return o.str();
}

inline std::string render(const iam::UserAuthorisationView& v) {
  std::ostringstream o;
  o << "authorisation{id=" << v.id << " workspace=" << v.workspace << " roles=[";
  for (std::size_t i = 0; i < v.roles.size(); ++i) o << (i ? "," : "") << v.roles[i];
  o << "] enabled=" << v.enabled << "}";
  return o.str();
}

// What read_user_authorisation must show of a stored user.
inline std::string authorisation_of(const iam::StoredUser& u) {
  return render(iam::UserAuthorisationView{u.record.id, u.record.workspace, u.record.roles, u.record.enabled});
}

// What read_user_authorisation shows of `id`: the view, rendered while it lives, or the
// error's wire name. The reader runs exactly once on success and never on an error.
inline std::string authorisation(Repository& repo, std::string_view id) {
  int calls = 0;
  std::string seen;
  const iam::Status status = repo.read_user_authorisation(id, [&](const iam::UserAuthorisationView& v) {
    ++calls;
    seen = render(v);
  });
  if (!status.ok()) {
    CHECK(calls == 0);
    return std::string(iam::error_type_name(status.error().code));
  }
  CHECK(calls == 1);
  return seen;
}

inline std::string render(const iam::StoredApiKey& k) {
  std::ostringstream o;
  o << "key{id=" << k.record.id << " user=" << k.record.user_id << " name=" << k.record.name
    << " prefix=" << k.record.prefix << " expires=" << stamp(k.record.expires) << " created=" << stamp(k.record.created)
    << " last_used=" << stamp(k.record.last_used) << " hash=" << k.key_hash << "}";
  return o.str();
}

inline std::string render(const iam::SigningKey& k) {
  std::ostringstream o;
  o << "signing{kid=" << k.kid << " public=" << hex_encode(k.public_key) << " secret=" << hex_encode(k.secret_key.span())
    << " created=" << stamp(k.created) << " activated=" << stamp(k.activated) << " retired=" << stamp(k.retired)
    << "}";
  return o.str();
}

template <class T>
inline std::string render(const std::vector<T>& items) {
  std::string out;
  for (const auto& item : items) out += render(item) + "\n";
  return out;
}

inline std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

inline std::shared_ptr<Repository> fresh() {
  auto repo = conformance::make_backend_under_test();
  REQUIRE(repo != nullptr);
  REQUIRE(must(repo->is_empty()));
  return repo;
}

// Everything the repository shows, in a fixed order, cross-checked across every index:
// each listed record must be found by id (and by username in any case, or by hash), the
// per-workspace lists must partition the full list, and keys must belong to their lister.
inline std::string dump(Repository& repo) {
  std::ostringstream out;
  out << "empty=" << must(repo.is_empty()) << "\n";
  const auto workspaces = must(repo.list_workspaces());
  for (const auto& w : workspaces) {
    out << render(w) << "\n";
    CHECK(render(must(repo.find_workspace(w.id))) == render(w));
  }
  const auto users = must(repo.list_users(std::nullopt));
  std::size_t in_workspaces = 0;
  for (const auto& w : workspaces) {
    for (const auto& u : must(repo.list_users(w.id))) {
      CHECK(u.record.workspace == w.id);
      ++in_workspaces;
    }
  }
  CHECK(in_workspaces == users.size());
  for (const auto& u : users) {
    out << render(u) << "\n";
    CHECK(render(must(repo.find_user(u.record.id))) == render(u));
    CHECK(authorisation(repo, u.record.id) == authorisation_of(u));
    CHECK(render(must(repo.find_user_by_username(u.record.username))) == render(u));
    CHECK(render(must(repo.find_user_by_username(ascii_upper(u.record.username)))) == render(u));
    CHECK(render(must(repo.find_user_by_username(iam::username_key(u.record.username).value()))) == render(u));
    for (const auto& k : must(repo.list_api_keys(u.record.id))) {
      out << "  " << render(k) << "\n";
      CHECK(k.record.user_id == u.record.id);
      CHECK(render(must(repo.find_api_key(k.record.id))) == render(k));
      CHECK(render(must(repo.find_api_key_by_hash(k.key_hash))) == render(k));
    }
  }
  for (const auto& k : must(repo.list_signing_keys())) out << render(k) << "\n";
  return out.str();
}

// No keys for `user_id`: an empty list, or not-found when the user is absent (repository.h
// leaves that open).
inline bool no_keys(Repository& repo, std::string_view user_id) {
  const auto keys = repo.list_api_keys(user_id);
  return keys.ok() ? keys->empty() : keys.error().code == iam::ErrorCode::not_found;
}

inline std::vector<std::string> usernames(const std::vector<iam::StoredUser>& users) {
  std::vector<std::string> out;
  for (const auto& u : users) out.push_back(u.record.username);
  return out;
}

inline std::vector<std::string> key_ids(const std::vector<iam::StoredApiKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.record.id);
  return out;
}

inline std::vector<std::string> kids(const std::vector<iam::SigningKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.kid);
  return out;
}

inline std::vector<std::string> workspace_ids(const std::vector<iam::WorkspaceRecord>& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(w.id);
  return out;
}

inline std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : " ") + s;
  return out;
}

using test_support::run_threads;

// What threads found wrong; checked on the main thread (doctest asserts stay there).
class Violations {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    if (list_.size() < 10) list_.push_back(std::move(what));
    ++count_;
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string first() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& s : list_) out += s + "\n";
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> list_;
  std::size_t count_ = 0;
};

inline constexpr int threads_n = 8;

// A standard little world: workspaces acme and beta; alice (2 keys) and bob (1 key) in
// acme, carol (2 keys) in beta.
inline void seed_world(Repository& repo) {
  auto alice = user("u-alice", "acme", "Alice", {"admin"});
  auto bob = user("u-bob", "acme", "bob");
  auto carol = user("u-carol", "beta", "carol", {"writer", "reader"});
  auto k1 = api_key("k-alice-1", "u-alice", at(t0 + 10));
  k1.record.expires = at(far);
  auto k2 = api_key("k-alice-2", "u-alice", at(t0 + 11));
  k2.record.last_used = at(t0 + 12);
  REQUIRE(detail(apply(repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")},
                       m::InsertUser{alice}, m::InsertUser{bob}, m::InsertUser{carol}, m::InsertApiKey{k1},
                       m::InsertApiKey{k2}, m::InsertApiKey{api_key("k-bob-1", "u-bob")},
                       m::InsertApiKey{api_key("k-carol-1", "u-carol")},
                       m::InsertApiKey{api_key("k-carol-2", "u-carol", at(t0 + 1))})) == "ok");
}

// What the roles regime's bootstrap does: the store must be empty, then seed it.
inline iam::Change bootstrap_change(const std::string& tag, const std::string& workspace_id, const std::string& username) {
  auto admin = user("u-admin-" + tag, workspace_id, username, {"admin"});
  admin.record.must_change_password = true;
  return change(m::RequireEmpty{}, m::InsertWorkspace{workspace(workspace_id, "Default")}, m::InsertUser{admin},
                m::InsertApiKey{api_key("k-bootstrap-" + tag, "u-admin-" + tag)},
                m::InsertSigningKey{signing_key("kid-" + tag, static_cast<std::uint8_t>(tag.size() * 7), at(t0))});
}


}  // namespace suite
