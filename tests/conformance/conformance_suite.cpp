// The storage conformance suite: what every iam::Repository backend must do, tested through
// the Repository interface only. Each backend builds this file with its own definition of
// conformance::make_backend_under_test() (backend.h); see meson.build here.
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
// No sleeps and no timing assertions; concurrency tests are bounded by iteration counts.
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

#include "crypto/crypto.h"
#include "backend.h"
#include "iam/clock.h"
#include "iam/jwt.h"
#include "iam/repository.h"
#include "iam/status.h"

namespace conformance {

// The default for backends that do not persist (see backend.h): a strong definition in a
// backend's source replaces this one at link time.
[[gnu::weak]] std::shared_ptr<iam::Repository> reopen_backend(std::shared_ptr<iam::Repository>) { return nullptr; }

}  // namespace conformance

namespace {

namespace m = iam::mutation;
using iam::Repository;
using iam::TimePoint;

constexpr std::int64_t t0 = 1'800'000'000;   // 2027-01-15
constexpr std::int64_t far = 4'102'444'800;  // 2100-01-01: past 2038, past 32-bit seconds

TimePoint at(std::int64_t unix_seconds) { return iam::from_unix_seconds(unix_seconds); }

// ---- rendering: one line per record with every field, so a mismatch prints both sides ----

std::string stamp(TimePoint t) {
  return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()) + "ns";
}
std::string stamp(const std::optional<TimePoint>& t) { return t ? stamp(*t) : std::string("none"); }

using iam::crypto::hex_encode;  // the library's own (libsodium)

std::string render(const iam::WorkspaceRecord& w) {
  std::ostringstream o;
  o << "workspace{id=" << w.id << " name=" << w.name << " enabled=" << w.enabled << " created=" << stamp(w.created)
    << "}";
  return o.str();
}

std::string render(const iam::StoredUser& u) {
  std::ostringstream o;
  o << "user{id=" << u.record.id << " workspace=" << u.record.workspace << " username=" << u.record.username
    << " name=" << u.record.name << " email=" << u.record.email << " roles=[";
  for (std::size_t i = 0; i < u.record.roles.size(); ++i) o << (i ? "," : "") << u.record.roles[i];
  o << "] enabled=" << u.record.enabled << " must_change_password=" << u.record.must_change_password
    << " created=" << stamp(u.record.created) << " password_hash=" << u.password_hash
    << " credentials_epoch=" << u.credentials_epoch << "}";
  return o.str();
}

std::string render(const iam::StoredApiKey& k) {
  std::ostringstream o;
  o << "key{id=" << k.record.id << " user=" << k.record.user_id << " name=" << k.record.name
    << " prefix=" << k.record.prefix << " expires=" << stamp(k.record.expires) << " created=" << stamp(k.record.created)
    << " last_used=" << stamp(k.record.last_used) << " hash=" << k.key_hash << "}";
  return o.str();
}

std::string render(const iam::SigningKey& k) {
  std::ostringstream o;
  o << "signing{kid=" << k.kid << " public=" << hex_encode(k.public_key) << " secret=" << hex_encode(k.secret_key.span())
    << " created=" << stamp(k.created) << " retired=" << stamp(k.retired) << "}";
  return o.str();
}

template <class T>
std::string render(const std::vector<T>& items) {
  std::string out;
  for (const auto& item : items) out += render(item) + "\n";
  return out;
}

// ---- results ----

// "ok", or the wire name of the error code ("not-found", "duplicate", ...).
template <class T>
std::string outcome(const iam::Result<T>& r) {
  return r.ok() ? std::string("ok") : std::string(iam::error_type_name(r.error().code));
}

// "ok", or the code and the message: for checks that expect success.
template <class T>
std::string detail(const iam::Result<T>& r) {
  return r.ok() ? std::string("ok") : std::string(iam::error_type_name(r.error().code)) + ": " + r.error().message;
}

template <class T>
T must(iam::Result<T> r) {
  if (!r.ok()) FAIL("expected success, got " << detail(r));
  return std::move(r).value();
}

// A Change from mutations (some are move-only, so no initializer list).
template <class... M>
iam::Change change(M&&... steps) {
  iam::Change c;
  c.reserve(sizeof...(M));
  (c.emplace_back(std::forward<M>(steps)), ...);
  return c;
}

template <class... M>
iam::Status apply(Repository& repo, M&&... steps) {
  const iam::Change c = change(std::forward<M>(steps)...);
  return repo.apply(c);
}

// ---- fixtures ----

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// 64 lowercase hex characters derived from `seed` (stands in for a SHA-256).
std::string fake_hash(std::string_view seed) {
  std::string out;
  for (std::uint64_t salt = 1; salt <= 4; ++salt) {
    std::uint64_t h = 1469598103934665603ull ^ (salt * 0x9e3779b97f4a7c15ull);
    for (const char c : seed) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
    std::array<std::uint8_t, 8> bytes{};
    for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(h >> (8 * i));
    out += hex_encode(bytes);
  }
  return out;
}

iam::WorkspaceRecord workspace(std::string id, std::string name, bool enabled = true, TimePoint created = at(t0)) {
  iam::WorkspaceRecord w;
  w.id = std::move(id);
  w.name = std::move(name);
  w.enabled = enabled;
  w.created = created;
  return w;
}
iam::WorkspaceRecord workspace(const std::string& id) { return workspace(id, "Workspace " + id); }

iam::StoredUser user(std::string id, std::string ws, std::string username, std::vector<std::string> roles = {"reader"}) {
  iam::StoredUser u;
  u.record.name = "Name of " + id;
  u.record.email = id + "@example.com";
  u.password_hash = "pbkdf2-sha256$600000$c2FsdC0" + id + "$" + fake_hash(id).substr(0, 43);
  u.record.id = std::move(id);
  u.record.workspace = std::move(ws);
  u.record.username = std::move(username);
  u.record.roles = std::move(roles);
  u.record.enabled = true;
  u.record.must_change_password = false;
  u.record.created = at(t0 + 1);
  return u;
}

iam::StoredApiKey api_key(std::string id, std::string user_id, TimePoint created = at(t0 + 2)) {
  iam::StoredApiKey k;
  k.key_hash = fake_hash("key:" + id);
  k.record.prefix = "tg_" + k.key_hash.substr(0, 4);
  k.record.name = "key " + id;
  k.record.id = std::move(id);
  k.record.user_id = std::move(user_id);
  k.record.created = created;
  return k;
}

// A real Ed25519 key from a seed; a retired one has no private half.
iam::SigningKey signing_key(std::string kid, std::uint8_t seed_byte, TimePoint created,
                            std::optional<TimePoint> retired = std::nullopt) {
  std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(seed_byte + i);
  auto key = must(iam::SigningKey::from_seed(std::move(kid), seed, created));
  if (retired) {
    key.retired = retired;
    key.secret_key.clear();
  }
  return key;
}

std::shared_ptr<Repository> fresh() {
  auto repo = conformance::make_backend_under_test();
  REQUIRE(repo != nullptr);
  REQUIRE(must(repo->is_empty()));
  return repo;
}

// Everything the repository shows, in a fixed order, cross-checked across every index:
// each listed record must be found by id (and by username in any case, or by hash), the
// per-workspace lists must partition the full list, and keys must belong to their lister.
std::string dump(Repository& repo) {
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
bool no_keys(Repository& repo, std::string_view user_id) {
  const auto keys = repo.list_api_keys(user_id);
  return keys.ok() ? keys->empty() : keys.error().code == iam::ErrorCode::not_found;
}

std::vector<std::string> usernames(const std::vector<iam::StoredUser>& users) {
  std::vector<std::string> out;
  for (const auto& u : users) out.push_back(u.record.username);
  return out;
}

std::vector<std::string> key_ids(const std::vector<iam::StoredApiKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.record.id);
  return out;
}

std::vector<std::string> kids(const std::vector<iam::SigningKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.kid);
  return out;
}

std::vector<std::string> workspace_ids(const std::vector<iam::WorkspaceRecord>& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(w.id);
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : " ") + s;
  return out;
}

// Runs body(t) for t in [0, n) on n threads released together.
template <class F>
void run_threads(int n, F body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int t = 0; t < n; ++t)
    threads.emplace_back([&start, &body, t] {
      start.arrive_and_wait();
      body(t);
    });
  for (auto& th : threads) th.join();
}

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

constexpr int threads_n = 8;

// A standard little world: workspaces acme and beta; alice (2 keys) and bob (1 key) in
// acme, carol (2 keys) in beta.
void seed_world(Repository& repo) {
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

}  // namespace

// =====================================================================================
// Emptiness and lookups of absent records
// =====================================================================================

TEST_CASE("a new repository is empty and answers not-found") {
  auto repo = fresh();
  CHECK(must(repo->list_workspaces()).empty());
  CHECK(must(repo->list_users(std::nullopt)).empty());
  CHECK(must(repo->list_signing_keys()).empty());
  CHECK(outcome(repo->find_workspace("default")) == "not-found");
  CHECK(outcome(repo->find_workspace("")) == "not-found");
  CHECK(outcome(repo->find_user("u1")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("admin")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("")) == "not-found");
  CHECK(outcome(repo->find_api_key("k1")) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("k1"))) == "not-found");
  CHECK(detail(apply(*repo)) == "ok");  // an empty change is fine and changes nothing
  CHECK(must(repo->is_empty()));
}

TEST_CASE("is_empty counts workspaces and users, not signing keys") {
  auto repo = fresh();
  CHECK(detail(apply(*repo, m::InsertSigningKey{signing_key("kid-1", 1, at(t0))})) == "ok");
  CHECK(must(repo->is_empty()));
  CHECK(detail(apply(*repo, m::RequireEmpty{})) == "ok");

  CHECK(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(outcome(apply(*repo, m::RequireEmpty{})) == "duplicate");

  CHECK(detail(apply(*repo, m::InsertUser{user("u1", "acme", "alice")})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(detail(apply(*repo, m::DeleteUser{"u1"})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));  // the workspace is still there
}

// =====================================================================================
// Workspaces
// =====================================================================================

TEST_CASE("workspaces: every field round-trips; update changes name and enabled only") {
  auto repo = fresh();
  const auto acme = workspace("acme", "Acme Corporation", true, at(t0));
  const auto beta = workspace("beta", "", false, at(far));  // empty name, disabled, past 2038
  const auto uni = workspace("uni", "Ünïcödé ✓ 'quoted' \"double\" ; --", true, at(t0 + 86399));
  CHECK(detail(apply(*repo, m::InsertWorkspace{acme})) == "ok");
  CHECK(detail(apply(*repo, m::InsertWorkspace{beta}, m::InsertWorkspace{uni})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(render(must(repo->find_workspace("acme"))) == render(acme));
  CHECK(render(must(repo->find_workspace("beta"))) == render(beta));
  CHECK(render(must(repo->find_workspace("uni"))) == render(uni));
  CHECK(outcome(repo->find_workspace("gamma")) == "not-found");
  CHECK(render(must(repo->list_workspaces())) == render(std::vector{acme, beta, uni}));

  SUBCASE("update") {
    auto next = acme;
    next.name = "Acme Ltd";
    next.enabled = false;
    next.created = at(t0 + 999);  // ignored: created is not updated
    CHECK(detail(apply(*repo, m::UpdateWorkspace{next})) == "ok");
    auto expected = acme;
    expected.name = "Acme Ltd";
    expected.enabled = false;
    CHECK(render(must(repo->find_workspace("acme"))) == render(expected));
    CHECK(render(must(repo->find_workspace("beta"))) == render(beta));

    next.enabled = true;
    CHECK(detail(apply(*repo, m::UpdateWorkspace{next})) == "ok");
    expected.enabled = true;
    CHECK(render(must(repo->find_workspace("acme"))) == render(expected));
    CHECK(render(must(repo->list_workspaces())) == render(std::vector{expected, beta, uni}));
  }

  SUBCASE("update of an absent workspace is not-found and changes nothing") {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::UpdateWorkspace{workspace("ghost")})) == "not-found");
    CHECK(outcome(repo->find_workspace("ghost")) == "not-found");
    CHECK(dump(*repo) == before);
  }

  SUBCASE("a duplicate id is duplicate and changes nothing") {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::InsertWorkspace{workspace("acme", "Impostor", false, at(t0 + 5))})) ==
          "duplicate");
    CHECK(render(must(repo->find_workspace("acme"))) == render(acme));
    CHECK(dump(*repo) == before);
  }

  SUBCASE("workspace ids are compared exactly (case matters)") {
    const auto upper = workspace("ACME", "Upper Acme");
    CHECK(detail(apply(*repo, m::InsertWorkspace{upper})) == "ok");
    CHECK(render(must(repo->find_workspace("ACME"))) == render(upper));
    CHECK(render(must(repo->find_workspace("acme"))) == render(acme));
    CHECK(outcome(repo->find_workspace("Acme")) == "not-found");
  }
}

TEST_CASE("list_workspaces is ordered by id, byte-wise") {
  auto repo = fresh();
  for (const char* id : {"beta", "alpha", "Alpha", "a.b", "a-b", "a_b", "0rigin", "gamma", "Zulu"})
    CHECK(detail(apply(*repo, m::InsertWorkspace{workspace(id)})) == "ok");
  CHECK(joined(workspace_ids(must(repo->list_workspaces()))) == "0rigin Alpha Zulu a-b a.b a_b alpha beta gamma");
}

// =====================================================================================
// Users
// =====================================================================================

TEST_CASE("users: every field round-trips") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")})) == "ok");

  auto none = user("u-none", "acme", "NoRoles", {});
  none.record.name = "";
  none.record.email = "";
  none.record.enabled = false;
  none.record.must_change_password = true;
  none.record.created = at(far);
  auto one = user("u-one", "beta", "one", {"reader"});
  auto two = user("u-two", "acme", "two.users", {"admin", "reader"});
  two.record.created = at(t0 + 3600);
  auto three = user("u-three", "beta", "Zoë", {"writer", "admin", "reader"});  // order kept, not sorted
  three.record.name = "Zoë O'Brien \"the third\"; DROP TABLE users; --";
  three.record.email = "zoe+tag@example.co.uk";
  three.record.must_change_password = true;
  three.password_hash = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$" + std::string(43, 'x');
  three.credentials_epoch = 7;
  two.credentials_epoch = std::uint64_t{1} << 40;  // past 32 bits

  CHECK(detail(apply(*repo, m::InsertUser{none})) == "ok");
  CHECK(detail(apply(*repo, m::InsertUser{one}, m::InsertUser{two}, m::InsertUser{three})) == "ok");

  for (const auto* u : {&none, &one, &two, &three}) {
    INFO("user " << u->record.id);
    CHECK(render(must(repo->find_user(u->record.id))) == render(*u));
    CHECK(render(must(repo->find_user_by_username(u->record.username))) == render(*u));
  }
  CHECK(must(repo->find_user("u-none")).record.roles.empty());
  CHECK(must(repo->find_user("u-three")).record.roles == std::vector<std::string>{"writer", "admin", "reader"});
  CHECK(outcome(repo->find_user("u-ghost")) == "not-found");
  CHECK(outcome(repo->find_user("U-ONE")) == "not-found");  // ids compare exactly
  CHECK(outcome(repo->find_user_by_username("ghost")) == "not-found");
  CHECK(render(must(repo->list_users(std::nullopt))) == render(std::vector{none, one, two, three}));
  CHECK(render(must(repo->list_users("acme"))) == render(std::vector{none, two}));
  CHECK(render(must(repo->list_users("beta"))) == render(std::vector{one, three}));
  dump(*repo);  // every index agrees
}

TEST_CASE("results are copies: changing one does not change the store") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  auto u = must(repo->find_user("u-alice"));
  u.record.roles.clear();
  u.record.enabled = false;
  auto users = must(repo->list_users(std::nullopt));
  users.front().record.username = "changed";
  auto k = must(repo->find_api_key("k-alice-1"));
  k.record.name = "changed";
  auto w = must(repo->find_workspace("acme"));
  w.name = "changed";
  CHECK(dump(*repo) == before);
}

TEST_CASE("users: update changes every field but id, username, created and credentials epoch") {
  auto repo = fresh();
  seed_world(*repo);
  const auto alice = must(repo->find_user("u-alice"));

  auto next = alice;
  next.record.workspace = "beta";
  next.record.username = "mallory";  // ignored
  next.record.created = at(t0 + 5000);  // ignored
  next.record.name = "Alice Liddell";
  next.record.email = "alice@wonderland.example";
  next.record.roles = {"reader", "writer", "admin"};
  next.record.enabled = false;
  next.record.must_change_password = true;
  next.password_hash = "pbkdf2-sha256$600000$bmV3c2FsdA$" + std::string(43, 'n');
  next.credentials_epoch = alice.credentials_epoch + 5;  // ignored: only AdvanceCredentialsEpoch moves it
  CHECK(detail(apply(*repo, m::UpdateUser{next})) == "ok");

  auto expected = next;
  expected.record.username = "Alice";
  expected.record.created = alice.record.created;
  expected.credentials_epoch = alice.credentials_epoch;
  CHECK(render(must(repo->find_user("u-alice"))) == render(expected));
  CHECK(render(must(repo->find_user_by_username("alice"))) == render(expected));
  CHECK(outcome(repo->find_user_by_username("mallory")) == "not-found");
  CHECK(joined(usernames(must(repo->list_users("acme")))) == "bob");
  CHECK(joined(usernames(must(repo->list_users("beta")))) == "Alice carol");
  CHECK(must(repo->list_api_keys("u-alice")).size() == 2);  // an update alone keeps the keys

  // roles 3 → 0 → 2, enabled back on
  next.record.roles = {};
  next.record.enabled = true;
  CHECK(detail(apply(*repo, m::UpdateUser{next})) == "ok");
  CHECK(must(repo->find_user("u-alice")).record.roles.empty());
  CHECK(must(repo->find_user("u-alice")).record.enabled);
  next.record.roles = {"writer", "reader"};
  CHECK(detail(apply(*repo, m::UpdateUser{next})) == "ok");
  CHECK(must(repo->find_user("u-alice")).record.roles == std::vector<std::string>{"writer", "reader"});
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-m", "acme", "Mallory")})) == "ok");  // never reserved

  SUBCASE("update of an absent user is not-found and changes nothing") {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::UpdateUser{user("u-ghost", "acme", "ghost")})) == "not-found");
    CHECK(outcome(repo->find_user("u-ghost")) == "not-found");
    CHECK(outcome(repo->find_user_by_username("ghost")) == "not-found");
    CHECK(dump(*repo) == before);
  }

  SUBCASE("moving a user to an absent workspace is not-found and changes nothing") {
    const auto before = dump(*repo);
    auto moved = must(repo->find_user("u-bob"));
    moved.record.workspace = "nowhere";
    CHECK(outcome(apply(*repo, m::UpdateUser{moved})) == "not-found");
    CHECK(dump(*repo) == before);
  }
}

TEST_CASE("users: delete removes the user, its username and all its keys") {
  auto repo = fresh();
  seed_world(*repo);
  const auto alice_keys = must(repo->list_api_keys("u-alice"));
  REQUIRE(alice_keys.size() == 2);

  {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::DeleteUser{"u-ghost"})) == "not-found");
    CHECK(dump(*repo) == before);
  }

  CHECK(detail(apply(*repo, m::DeleteUser{"u-alice"})) == "ok");
  CHECK(outcome(repo->find_user("u-alice")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("Alice")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("alice")) == "not-found");
  for (const auto& k : alice_keys) {
    CHECK(outcome(repo->find_api_key(k.record.id)) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  }
  CHECK(no_keys(*repo, "u-alice"));
  CHECK(joined(usernames(must(repo->list_users(std::nullopt)))) == "bob carol");
  CHECK(joined(key_ids(must(repo->list_api_keys("u-bob")))) == "k-bob-1");
  CHECK(joined(key_ids(must(repo->list_api_keys("u-carol")))) == "k-carol-2 k-carol-1");
  CHECK(outcome(apply(*repo, m::DeleteUser{"u-alice"})) == "not-found");

  // the username is free again, in any case
  const auto again = user("u-alice-2", "beta", "ALICE");
  CHECK(detail(apply(*repo, m::InsertUser{again})) == "ok");
  CHECK(render(must(repo->find_user_by_username("alice"))) == render(again));

  // the same id can come back, with no keys resurrected; the key ids and hashes are free
  CHECK(detail(apply(*repo, m::InsertUser{user("u-alice", "acme", "alice-returns")})) == "ok");
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  auto reused = api_key("k-alice-1", "u-alice-2");
  reused.key_hash = alice_keys[0].key_hash;
  CHECK(detail(apply(*repo, m::InsertApiKey{reused})) == "ok");
  CHECK(render(must(repo->find_api_key_by_hash(reused.key_hash))) == render(reused));
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  dump(*repo);
}

TEST_CASE("usernames are unique without regard to case and stored as given") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  const auto alice = user("u1", "acme", "Alice");
  CHECK(detail(apply(*repo, m::InsertUser{alice})) == "ok");

  const auto before = dump(*repo);
  for (const char* name : {"Alice", "alice", "ALICE", "aLiCe"}) {
    INFO("username " << name);
    CHECK(outcome(apply(*repo, m::InsertUser{user("u2", "acme", name)})) == "duplicate");
    CHECK(render(must(repo->find_user_by_username(name))) == render(alice));
  }
  CHECK(outcome(repo->find_user("u2")) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(joined(usernames(must(repo->list_users(std::nullopt)))) == "Alice");

  // a duplicate id under another username is duplicate too
  CHECK(outcome(apply(*repo, m::InsertUser{user("u1", "acme", "someone-else")})) == "duplicate");
  CHECK(outcome(repo->find_user_by_username("someone-else")) == "not-found");

  // two spellings of one name within one change: duplicate, and neither is kept
  CHECK(outcome(apply(*repo, m::InsertUser{user("u3", "acme", "bob")}, m::InsertUser{user("u4", "acme", "BOB")})) ==
        "duplicate");
  CHECK(outcome(repo->find_user("u3")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("bob")) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(detail(apply(*repo, m::InsertUser{user("u4", "acme", "Bob")})) == "ok");
  CHECK(must(repo->find_user_by_username("BOB")).record.username == "Bob");

  // letters beyond ASCII fold too: one user
  const auto e1 = user("e1", "acme", "Émile");
  CHECK(detail(apply(*repo, m::InsertUser{e1})) == "ok");
  CHECK(outcome(apply(*repo, m::InsertUser{user("e2", "acme", "émile")})) == "duplicate");
  CHECK(must(repo->find_user_by_username("Émile")).record.id == "e1");
  CHECK(must(repo->find_user_by_username("ÉMILE")).record.id == "e1");
  CHECK(must(repo->find_user_by_username("émile")).record.id == "e1");
  CHECK(must(repo->find_user_by_username("E\xcc\x81mile")).record.id == "e1");  // E + combining acute
  CHECK(outcome(apply(*repo, m::InsertUser{user("e3", "acme", "ÉMILE")})) == "duplicate");

  // a near miss is another user
  CHECK(outcome(repo->find_user_by_username("alice ")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("alic")) == "not-found");
}

TEST_CASE("usernames equal after NFKC and case folding are one: 'admin' and full-width 'ａdmin'") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  const auto admin = user("u-admin", "acme", "admin");
  CHECK(detail(apply(*repo, m::InsertUser{admin})) == "ok");
  const auto before = dump(*repo);
  for (const char* name : {"\xef\xbd\x81" "dmin",         // full-width a
                           "\xef\xbc\xa1\xef\xbc\xa4\xef\xbc\xad\xef\xbc\xa9\xef\xbc\xae",  // ＡＤＭＩＮ
                           "ad\xe2\x80\x8bmin",            // a zero-width space inside
                           "\xe2\x80\xae" "admin"}) {      // a bidi override before
    INFO("username " << name);
    CHECK(outcome(apply(*repo, m::InsertUser{user("u-other", "acme", name)})) == "duplicate");
    CHECK(render(must(repo->find_user_by_username(name))) == render(admin));
  }
  CHECK(dump(*repo) == before);

  // full case folding: 'ß' folds to "ss"
  const auto strasse = user("u-strasse", "acme", "Stra\xc3\x9f" "e");
  CHECK(detail(apply(*repo, m::InsertUser{strasse})) == "ok");
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-upper", "acme", "STRASSE")})) == "duplicate");
  CHECK(must(repo->find_user_by_username("strasse")).record.id == "u-strasse");

  // no key, no user: invalid UTF-8 is refused and found by nothing
  const auto before_invalid = dump(*repo);
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-bad", "acme", "adm\xffin")})) == "invalid-argument");
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-bad", "acme", "\xe2\x80\x8b")})) == "invalid-argument");
  CHECK(outcome(repo->find_user_by_username("adm\xffin")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("\xc0\xa1" "dmin")) == "not-found");  // overlong 'a'
  CHECK(outcome(repo->find_user("u-bad")) == "not-found");
  CHECK(dump(*repo) == before_invalid);
}

TEST_CASE("InsertUser into an absent workspace is not-found and reserves nothing") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  const auto before = dump(*repo);
  CHECK(outcome(apply(*repo, m::InsertUser{user("u1", "nowhere", "alice")})) == "not-found");
  CHECK(outcome(apply(*repo, m::InsertUser{user("u1", "ACME", "alice")})) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_user("u1")) == "not-found");
  CHECK(detail(apply(*repo, m::InsertUser{user("u1", "acme", "alice")})) == "ok");
}

TEST_CASE("list_users is ordered by username key, byte-wise, and filters by home workspace") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")},
                       m::InsertWorkspace{workspace("empty")})) == "ok");
  const std::vector<std::pair<const char*, const char*>> people = {
      {"bob", "acme"},    {"Alice", "beta"}, {"carol", "acme"}, {"a_b", "beta"},  {"ab", "acme"},
      {"a-b", "acme"},    {"9lives", "beta"}, {"Zed", "acme"},  {"émile", "beta"},
  };
  int n = 0;
  for (const auto& [name, ws] : people)
    CHECK(detail(apply(*repo, m::InsertUser{user("id-" + std::to_string(n++), ws, name)})) == "ok");
  CHECK(joined(usernames(must(repo->list_users(std::nullopt)))) == "9lives a-b a_b ab Alice bob carol Zed émile");
  CHECK(joined(usernames(must(repo->list_users("acme")))) == "a-b ab bob carol Zed");
  CHECK(joined(usernames(must(repo->list_users("beta")))) == "9lives a_b Alice émile");
  CHECK(must(repo->list_users("empty")).empty());
}

// =====================================================================================
// API keys
// =====================================================================================

TEST_CASE("api keys: every field round-trips; lookups by id and by hash") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "alice")},
                       m::InsertUser{user("u2", "acme", "bob")})) == "ok");
  auto plain = api_key("k1", "u1", at(t0 + 10));  // no expiry, never used
  auto both = api_key("k2", "u1", at(t0 + 20));
  both.record.expires = at(far);
  both.record.last_used = at(t0 + 21);
  auto expiring = api_key("k3", "u2", at(far));
  expiring.record.expires = at(t0 + 30);  // already expired: storage does not judge
  expiring.record.name = "CI key for 'deploy'; ünïcödé";
  auto used = api_key("k4", "u2", at(t0));
  used.record.last_used = at(far);
  used.record.name = "";
  CHECK(detail(apply(*repo, m::InsertApiKey{plain})) == "ok");
  CHECK(detail(apply(*repo, m::InsertApiKey{both}, m::InsertApiKey{expiring}, m::InsertApiKey{used})) == "ok");

  for (const auto* k : {&plain, &both, &expiring, &used}) {
    INFO("key " << k->record.id);
    CHECK(render(must(repo->find_api_key(k->record.id))) == render(*k));
    CHECK(render(must(repo->find_api_key_by_hash(k->key_hash))) == render(*k));
  }
  CHECK_FALSE(must(repo->find_api_key("k1")).record.expires.has_value());
  CHECK_FALSE(must(repo->find_api_key("k1")).record.last_used.has_value());
  CHECK(outcome(repo->find_api_key("k-ghost")) == "not-found");
  CHECK(outcome(repo->find_api_key("K1")) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("ghost"))) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(ascii_upper(plain.key_hash))) == "not-found");  // hashes compare exactly
  CHECK(outcome(repo->find_api_key_by_hash("")) == "not-found");
  CHECK(render(must(repo->list_api_keys("u1"))) == render(std::vector{plain, both}));
  CHECK(render(must(repo->list_api_keys("u2"))) == render(std::vector{used, expiring}));

  SUBCASE("duplicate id, duplicate hash, absent user") {
    const auto before = dump(*repo);
    auto same_id = api_key("k1", "u2");
    CHECK(outcome(apply(*repo, m::InsertApiKey{same_id})) == "duplicate");
    auto same_hash = api_key("k9", "u2");
    same_hash.key_hash = plain.key_hash;
    CHECK(outcome(apply(*repo, m::InsertApiKey{same_hash})) == "duplicate");
    same_hash.record.user_id = "u1";
    CHECK(outcome(apply(*repo, m::InsertApiKey{same_hash})) == "duplicate");
    CHECK(outcome(apply(*repo, m::InsertApiKey{api_key("k9", "u-ghost")})) == "not-found");
    CHECK(outcome(apply(*repo, m::InsertApiKey{api_key("k9", "U1")})) == "not-found");
    // two keys with one hash within one change
    auto twin = api_key("k10", "u1");
    twin.key_hash = fake_hash("key:k9");
    CHECK(outcome(apply(*repo, m::InsertApiKey{api_key("k9", "u1")}, m::InsertApiKey{twin})) == "duplicate");
    CHECK(outcome(repo->find_api_key("k9")) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:k9"))) == "not-found");
    CHECK(dump(*repo) == before);
  }

  SUBCASE("delete one key") {
    {
      const auto before = dump(*repo);
      CHECK(outcome(apply(*repo, m::DeleteApiKey{"k-ghost"})) == "not-found");
      CHECK(dump(*repo) == before);
    }
    CHECK(detail(apply(*repo, m::DeleteApiKey{"k2"})) == "ok");
    CHECK(outcome(repo->find_api_key("k2")) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(both.key_hash)) == "not-found");
    CHECK(render(must(repo->list_api_keys("u1"))) == render(std::vector{plain}));
    CHECK(render(must(repo->list_api_keys("u2"))) == render(std::vector{used, expiring}));
    CHECK(outcome(apply(*repo, m::DeleteApiKey{"k2"})) == "not-found");
    CHECK(must(repo->find_user("u1")).record.enabled);  // the user is untouched
    dump(*repo);
  }
}

TEST_CASE("list_api_keys lists only that user's keys, ordered by created then id") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "alice")},
                       m::InsertUser{user("u2", "acme", "bob")}, m::InsertUser{user("u3", "acme", "carol")})) ==
          "ok");
  for (const auto& [id, owner, created] : std::vector<std::tuple<const char*, const char*, std::int64_t>>{
           {"kc", "u1", t0 + 3},
           {"kb2", "u1", t0 + 2},
           {"kz", "u2", t0},
           {"ka", "u1", t0 + 1},
           {"kB", "u1", t0 + 2},
           {"kb1", "u1", t0 + 2},
           {"ky", "u2", far},
           {"k0", "u1", far},
       })
    CHECK(detail(apply(*repo, m::InsertApiKey{api_key(id, owner, at(created))})) == "ok");
  CHECK(joined(key_ids(must(repo->list_api_keys("u1")))) == "ka kB kb1 kb2 kc k0");
  CHECK(joined(key_ids(must(repo->list_api_keys("u2")))) == "kz ky");
  CHECK(must(repo->list_api_keys("u3")).empty());
}

TEST_CASE("TouchApiKey sets last_used and ignores absent keys") {
  auto repo = fresh();
  seed_world(*repo);
  auto k1 = must(repo->find_api_key("k-alice-1"));  // never used
  auto k2 = must(repo->find_api_key("k-alice-2"));  // used at t0 + 12
  REQUIRE_FALSE(k1.record.last_used.has_value());

  CHECK(detail(apply(*repo, m::TouchApiKey{"k-alice-1", at(t0 + 100)})) == "ok");
  k1.record.last_used = at(t0 + 100);
  CHECK(render(must(repo->find_api_key("k-alice-1"))) == render(k1));
  CHECK(render(must(repo->find_api_key_by_hash(k1.key_hash))) == render(k1));

  CHECK(detail(apply(*repo, m::TouchApiKey{"k-alice-2", at(far)})) == "ok");
  k2.record.last_used = at(far);
  CHECK(render(must(repo->list_api_keys("u-alice"))) == render(std::vector{k1, k2}));

  // in order within a change: the last touch wins
  CHECK(detail(apply(*repo, m::TouchApiKey{"k-alice-1", at(t0 + 300)}, m::TouchApiKey{"k-alice-1", at(t0 + 400)})) ==
        "ok");
  CHECK(stamp(must(repo->find_api_key("k-alice-1")).record.last_used) == stamp(at(t0 + 400)));

  const auto before = dump(*repo);
  CHECK(detail(apply(*repo, m::TouchApiKey{"k-ghost", at(t0 + 500)})) == "ok");
  CHECK(outcome(repo->find_api_key("k-ghost")) == "not-found");
  CHECK(dump(*repo) == before);

  // a touch inside a failed change is undone
  CHECK(outcome(apply(*repo, m::TouchApiKey{"k-bob-1", at(t0 + 600)}, m::InsertWorkspace{workspace("acme")})) ==
        "duplicate");
  CHECK_FALSE(must(repo->find_api_key("k-bob-1")).record.last_used.has_value());
  CHECK(dump(*repo) == before);
}

TEST_CASE("DeleteApiKeysOfUser deletes that user's keys only") {
  auto repo = fresh();
  seed_world(*repo);
  const auto alice_keys = must(repo->list_api_keys("u-alice"));
  const auto alice = must(repo->find_user("u-alice"));
  const auto bob_keys = render(must(repo->list_api_keys("u-bob")));
  const auto carol_keys = render(must(repo->list_api_keys("u-carol")));
  CHECK(detail(apply(*repo, m::DeleteApiKeysOfUser{"u-alice"})) == "ok");
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  for (const auto& k : alice_keys) {
    CHECK(outcome(repo->find_api_key(k.record.id)) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  }
  CHECK(render(must(repo->list_api_keys("u-bob"))) == bob_keys);
  CHECK(render(must(repo->list_api_keys("u-carol"))) == carol_keys);
  CHECK(render(must(repo->find_user("u-alice"))) == render(alice));
  // again, with nothing left to delete: still fine
  CHECK(detail(apply(*repo, m::DeleteApiKeysOfUser{"u-alice"})) == "ok");
  dump(*repo);
}

TEST_CASE("DisableUsersInWorkspace disables that workspace's users only, and nothing else") {
  auto repo = fresh();
  seed_world(*repo);
  auto already = user("u-dave", "acme", "dave", {"writer"});
  already.record.enabled = false;
  auto erin = user("u-erin", "acme", "erin", {});
  erin.record.must_change_password = true;
  REQUIRE(detail(apply(*repo, m::InsertUser{already}, m::InsertUser{erin})) == "ok");

  std::vector<iam::StoredUser> expected_acme = must(repo->list_users("acme"));
  for (auto& u : expected_acme) {
    u.record.enabled = false;
    ++u.credentials_epoch;  // every user homed there, the already disabled too
  }
  const auto beta_users = render(must(repo->list_users("beta")));
  const auto workspaces = render(must(repo->list_workspaces()));
  std::string keys;
  for (const auto& u : must(repo->list_users(std::nullopt))) keys += render(must(repo->list_api_keys(u.record.id)));

  CHECK(detail(apply(*repo, m::DisableUsersInWorkspace{"acme"})) == "ok");
  CHECK(render(must(repo->list_users("acme"))) == render(expected_acme));
  CHECK(render(must(repo->list_users("beta"))) == beta_users);
  CHECK(render(must(repo->list_workspaces())) == workspaces);  // the workspace itself is untouched
  std::string keys_after;
  for (const auto& u : must(repo->list_users(std::nullopt)))
    keys_after += render(must(repo->list_api_keys(u.record.id)));
  CHECK(keys_after == keys);  // disabling alone deletes no key
  CHECK_FALSE(must(repo->find_user_by_username("ALICE")).record.enabled);
  CHECK(must(repo->find_user("u-carol")).record.enabled);
  dump(*repo);
}

TEST_CASE("AdvanceCredentialsEpoch: one step for that user only; an absent user is not-found") {
  auto repo = fresh();
  seed_world(*repo);
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 0);  // a new user starts at what was inserted
  std::string others;
  for (const auto& u : must(repo->list_users(std::nullopt)))
    if (u.record.id != "u-alice") others += render(u);

  CHECK(detail(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"})) == "ok");
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 1);
  CHECK(detail(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"}, m::AdvanceCredentialsEpoch{"u-alice"})) == "ok");
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 3);
  CHECK(must(repo->find_user_by_username("ALICE")).credentials_epoch == 3);

  // In one change with an UpdateUser (as disable-user writes it), in either order.
  auto alice = must(repo->find_user("u-alice"));
  alice.record.enabled = false;
  CHECK(detail(apply(*repo, m::UpdateUser{alice}, m::AdvanceCredentialsEpoch{"u-alice"})) == "ok");
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 4);
  alice.record.enabled = true;
  CHECK(detail(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"}, m::UpdateUser{alice})) == "ok");
  const auto now = must(repo->find_user("u-alice"));
  CHECK(now.credentials_epoch == 5);
  CHECK(now.record.enabled);

  std::string others_after;
  for (const auto& u : must(repo->list_users(std::nullopt)))
    if (u.record.id != "u-alice") others_after += render(u);
  CHECK(others_after == others);

  const auto before = dump(*repo);
  CHECK(outcome(apply(*repo, m::AdvanceCredentialsEpoch{"u-ghost"})) == "not-found");
  // A failed change changed nothing, the steps before the failing one included.
  CHECK(outcome(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"}, m::AdvanceCredentialsEpoch{"u-ghost"})) ==
        "not-found");
  CHECK(dump(*repo) == before);
}

TEST_CASE("DeleteApiKeysInWorkspace deletes the keys of users homed there only") {
  auto repo = fresh();
  seed_world(*repo);
  // frank's home was acme when his key was made; he now lives in beta
  REQUIRE(detail(apply(*repo, m::InsertUser{user("u-frank", "acme", "frank")},
                       m::InsertApiKey{api_key("k-frank-1", "u-frank")})) == "ok");
  auto frank = must(repo->find_user("u-frank"));
  frank.record.workspace = "beta";
  REQUIRE(detail(apply(*repo, m::UpdateUser{frank})) == "ok");

  std::vector<iam::StoredApiKey> acme_keys;
  for (const auto& u : must(repo->list_users("acme")))
    for (auto& k : must(repo->list_api_keys(u.record.id))) acme_keys.push_back(std::move(k));
  REQUIRE(acme_keys.size() == 3);
  std::string beta_keys;
  for (const auto& u : must(repo->list_users("beta"))) beta_keys += render(must(repo->list_api_keys(u.record.id)));
  const auto users = render(must(repo->list_users(std::nullopt)));

  CHECK(detail(apply(*repo, m::DeleteApiKeysInWorkspace{"acme"})) == "ok");
  for (const auto& k : acme_keys) {
    CHECK(outcome(repo->find_api_key(k.record.id)) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  }
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  CHECK(must(repo->list_api_keys("u-bob")).empty());
  std::string beta_after;
  for (const auto& u : must(repo->list_users("beta"))) beta_after += render(must(repo->list_api_keys(u.record.id)));
  CHECK(beta_after == beta_keys);
  CHECK(joined(key_ids(must(repo->list_api_keys("u-frank")))) == "k-frank-1");
  CHECK(render(must(repo->list_users(std::nullopt))) == users);  // users untouched
  dump(*repo);
}

// =====================================================================================
// Signing keys
// =====================================================================================

TEST_CASE("signing keys: round trip, one active key, order by created, retirement, deletion") {
  auto repo = fresh();
  const auto k1 = signing_key("kid-1", 10, at(t0 + 10));
  REQUIRE(k1.secret_key.size() == iam::ed25519_secret_key_bytes);
  CHECK(detail(apply(*repo, m::InsertSigningKey{k1.copy()})) == "ok");
  CHECK(render(must(repo->list_signing_keys())) == render(k1) + "\n");

  {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::InsertSigningKey{signing_key("kid-2", 20, at(t0 + 11))})) == "duplicate");
    CHECK(outcome(apply(*repo, m::InsertSigningKey{signing_key("kid-1", 30, at(t0 + 1), at(t0 + 2))})) ==
          "duplicate");
    CHECK(dump(*repo) == before);
  }

  // a retired key created earlier, stored later, lists first
  const auto k0 = signing_key("kid-0", 40, at(t0), at(t0 + 5));
  CHECK(detail(apply(*repo, m::InsertSigningKey{k0.copy()})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-0 kid-1");
  CHECK(render(must(repo->list_signing_keys())) == render(k0) + "\n" + render(k1) + "\n");

  // retire: the active key only gets retired = at and loses its private half
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 20)})) == "ok");
  auto k1_retired = k1.copy();
  k1_retired.retired = at(t0 + 20);
  k1_retired.secret_key.clear();
  CHECK(render(must(repo->list_signing_keys())) == render(k0) + "\n" + render(k1_retired) + "\n");
  {
    const auto keys = must(repo->list_signing_keys());
    REQUIRE(keys.size() == 2);
    CHECK(keys[1].secret_key.empty());
    CHECK(keys[1].public_key == k1.public_key);
  }

  // nothing active: retiring again changes nothing
  {
    const auto before = dump(*repo);
    CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 25)})) == "ok");
    CHECK(dump(*repo) == before);
  }

  const auto k2 = signing_key("kid-2", 50, at(t0 + 20));
  CHECK(detail(apply(*repo, m::InsertSigningKey{k2.copy()})) == "ok");
  CHECK(render(must(repo->list_signing_keys())) ==
        render(k0) + "\n" + render(k1_retired) + "\n" + render(k2) + "\n");
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 30)})) == "ok");
  auto k2_retired = k2.copy();
  k2_retired.retired = at(t0 + 30);
  k2_retired.secret_key.clear();
  CHECK(render(must(repo->list_signing_keys())) ==
        render(k0) + "\n" + render(k1_retired) + "\n" + render(k2_retired) + "\n");

  // strictly before: a key retired exactly at `before` stays
  CHECK(detail(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(t0 + 20)})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-1 kid-2");
  CHECK(detail(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(t0 + 20)})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-1 kid-2");

  // an active key is never deleted by age
  const auto k3 = signing_key("kid-3", 60, at(t0 + 40));
  CHECK(detail(apply(*repo, m::InsertSigningKey{k3.copy()})) == "ok");
  CHECK(detail(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(far)})) == "ok");
  CHECK(render(must(repo->list_signing_keys())) == render(k3) + "\n");

  // a deleted kid may be used again (as a retired key, since kid-3 is active)
  CHECK(detail(apply(*repo, m::InsertSigningKey{signing_key("kid-1", 70, at(t0 + 50), at(t0 + 51))})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-3 kid-1");
  CHECK(must(repo->is_empty()));  // signing keys never count
}

TEST_CASE("key rotation is atomic and applied in order") {
  auto repo = fresh();
  const auto k1 = signing_key("kid-1", 1, at(t0));
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertSigningKey{k1.copy()})) == "ok");
  const auto before = dump(*repo);

  // a failing step after the rotation: the old key keeps its private half, no new key
  CHECK(outcome(apply(*repo, m::RetireSigningKeys{at(t0 + 10)}, m::InsertSigningKey{signing_key("kid-2", 2, at(t0 + 10))},
                      m::InsertWorkspace{workspace("acme")})) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(render(must(repo->list_signing_keys())) == render(k1) + "\n");

  // insert before retire: the new key meets the still-active one
  CHECK(outcome(apply(*repo, m::InsertSigningKey{signing_key("kid-2", 2, at(t0 + 10))},
                      m::RetireSigningKeys{at(t0 + 10)})) == "duplicate");
  CHECK(dump(*repo) == before);

  // retire then insert: the rotation
  const auto k2 = signing_key("kid-2", 2, at(t0 + 10));
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 10)}, m::InsertSigningKey{k2.copy()})) == "ok");
  auto k1_retired = k1.copy();
  k1_retired.retired = at(t0 + 10);
  k1_retired.secret_key.clear();
  CHECK(render(must(repo->list_signing_keys())) == render(k1_retired) + "\n" + render(k2) + "\n");

  // pruning in a failed change is undone
  const auto rotated = dump(*repo);
  CHECK(outcome(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(far)}, m::InsertSigningKey{signing_key("kid-2", 3, at(t0 + 20), at(t0 + 21))})) ==
        "duplicate");
  CHECK(dump(*repo) == rotated);
  // a full rotation with pruning in one change
  const auto k3 = signing_key("kid-3", 3, at(t0 + 20));
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 20)}, m::InsertSigningKey{k3.copy()},
                     m::DeleteSigningKeysRetiredBefore{at(t0 + 15)})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-2 kid-3");
  const auto keys = must(repo->list_signing_keys());
  REQUIRE(keys.size() == 2);
  CHECK(stamp(keys[0].retired) == stamp(at(t0 + 20)));
  CHECK(keys[0].secret_key.empty());
  CHECK_FALSE(keys[1].retired.has_value());
  CHECK(hex_encode(keys[1].secret_key.span()) == hex_encode(k3.secret_key.span()));
}

// =====================================================================================
// Atomic cascades: a Change is applied whole or not at all
// =====================================================================================

TEST_CASE("disable-user cascade: all or nothing") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  const auto alice_keys = must(repo->list_api_keys("u-alice"));
  auto disabled = must(repo->find_user("u-alice"));
  disabled.record.enabled = false;

  CHECK(outcome(apply(*repo, m::UpdateUser{disabled}, m::DeleteApiKeysOfUser{"u-alice"},
                      m::InsertWorkspace{workspace("acme")})) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(must(repo->find_user("u-alice")).record.enabled);
  CHECK(must(repo->find_user_by_username("alice")).record.enabled);
  CHECK(render(must(repo->list_api_keys("u-alice"))) == render(alice_keys));
  for (const auto& k : alice_keys) {
    CHECK(render(must(repo->find_api_key(k.record.id))) == render(k));
    CHECK(render(must(repo->find_api_key_by_hash(k.key_hash))) == render(k));
  }

  CHECK(detail(apply(*repo, m::UpdateUser{disabled}, m::DeleteApiKeysOfUser{"u-alice"})) == "ok");
  CHECK(render(must(repo->find_user("u-alice"))) == render(disabled));
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  for (const auto& k : alice_keys) CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  CHECK(joined(key_ids(must(repo->list_api_keys("u-bob")))) == "k-bob-1");
  dump(*repo);
}

TEST_CASE("delete-user cascade: all or nothing") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);

  // fails at the end: an absent user
  CHECK(outcome(apply(*repo, m::DeleteApiKeysOfUser{"u-alice"}, m::DeleteUser{"u-alice"},
                      m::UpdateUser{user("u-ghost", "acme", "ghost")})) == "not-found");
  CHECK(dump(*repo) == before);
  // fails because a later step needs what an earlier one removed
  CHECK(outcome(apply(*repo, m::DeleteUser{"u-alice"}, m::InsertApiKey{api_key("k-new", "u-alice")})) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_api_key("k-new")) == "not-found");
  // the username is still taken
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-x", "acme", "ALICE")})) == "duplicate");

  CHECK(detail(apply(*repo, m::DeleteUser{"u-alice"})) == "ok");
  CHECK(outcome(repo->find_user("u-alice")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-alice-1")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-alice-2")) == "not-found");
  dump(*repo);
}

TEST_CASE("disable-workspace cascade: all or nothing") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  auto off = must(repo->find_workspace("acme"));
  off.enabled = false;

  CHECK(outcome(apply(*repo, m::UpdateWorkspace{off}, m::DisableUsersInWorkspace{"acme"},
                      m::DeleteApiKeysInWorkspace{"acme"}, m::InsertUser{user("u-x", "beta", "Carol")})) ==
        "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(must(repo->find_workspace("acme")).enabled);
  CHECK(must(repo->find_user("u-alice")).record.enabled);
  CHECK(must(repo->find_user("u-bob")).record.enabled);
  CHECK(must(repo->list_api_keys("u-alice")).size() == 2);
  CHECK(must(repo->list_api_keys("u-bob")).size() == 1);
  CHECK(must(repo->find_api_key_by_hash(fake_hash("key:k-bob-1"))).record.id == "k-bob-1");

  CHECK(detail(apply(*repo, m::UpdateWorkspace{off}, m::DisableUsersInWorkspace{"acme"},
                     m::DeleteApiKeysInWorkspace{"acme"})) == "ok");
  CHECK_FALSE(must(repo->find_workspace("acme")).enabled);
  for (const auto& u : must(repo->list_users("acme"))) {
    CHECK_FALSE(u.record.enabled);
    CHECK(must(repo->list_api_keys(u.record.id)).empty());
  }
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:k-bob-1"))) == "not-found");
  CHECK(must(repo->find_workspace("beta")).enabled);
  CHECK(must(repo->find_user("u-carol")).record.enabled);
  CHECK(must(repo->list_api_keys("u-carol")).size() == 2);
  dump(*repo);
}

TEST_CASE("records created in a failed change leave no trace; later steps see earlier ones") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  auto build = [](bool with_failure) {
    auto c = change(m::InsertWorkspace{workspace("gamma")}, m::InsertUser{user("u-gus", "gamma", "Gus")},
                    m::InsertApiKey{api_key("k-gus", "u-gus")}, m::TouchApiKey{"k-gus", at(t0 + 77)},
                    m::InsertSigningKey{signing_key("kid-g", 7, at(t0))});
    if (with_failure) {
      auto clash = api_key("k-other", "u-gus");
      clash.key_hash = fake_hash("key:k-bob-1");  // bob's hash
      c.emplace_back(m::InsertApiKey{clash});
    }
    return c;
  };

  const auto failing = build(true);
  CHECK(outcome(repo->apply(failing)) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_workspace("gamma")) == "not-found");
  CHECK(outcome(repo->find_user("u-gus")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("gus")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-gus")) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:k-gus"))) == "not-found");
  CHECK(no_keys(*repo, "u-gus"));
  CHECK(must(repo->list_signing_keys()).empty());
  CHECK(must(repo->find_api_key_by_hash(fake_hash("key:k-bob-1"))).record.user_id == "u-bob");

  // every id, username, hash and kid is free: the same change without the clash succeeds
  const auto succeeding = build(false);
  CHECK(detail(repo->apply(succeeding)) == "ok");
  CHECK(must(repo->find_user_by_username("GUS")).record.workspace == "gamma");
  CHECK(stamp(must(repo->find_api_key_by_hash(fake_hash("key:k-gus"))).record.last_used) == stamp(at(t0 + 77)));
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-g");

  // delete and re-create a username within one change
  CHECK(detail(apply(*repo, m::DeleteUser{"u-gus"}, m::InsertUser{user("u-gus-2", "gamma", "GUS")})) == "ok");
  CHECK(must(repo->find_user_by_username("gus")).record.id == "u-gus-2");
  CHECK(outcome(repo->find_api_key("k-gus")) == "not-found");
  dump(*repo);
}

namespace {

// What the roles regime's bootstrap does: the store must be empty, then seed it.
iam::Change bootstrap_change(const std::string& tag, const std::string& workspace_id, const std::string& username) {
  auto admin = user("u-admin-" + tag, workspace_id, username, {"admin"});
  admin.record.must_change_password = true;
  return change(m::RequireEmpty{}, m::InsertWorkspace{workspace(workspace_id, "Default")}, m::InsertUser{admin},
                m::InsertApiKey{api_key("k-bootstrap-" + tag, "u-admin-" + tag)},
                m::InsertSigningKey{signing_key("kid-" + tag, static_cast<std::uint8_t>(tag.size() * 7), at(t0))});
}

}  // namespace

TEST_CASE("bootstrap: RequireEmpty + seeding succeeds once, then fails with duplicate and changes nothing") {
  auto repo = fresh();
  const auto first = bootstrap_change("a", "default", "admin");
  CHECK(detail(repo->apply(first)) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(must(repo->find_user_by_username("admin")).record.id == "u-admin-a");
  CHECK(must(repo->find_user("u-admin-a")).record.must_change_password);
  CHECK(joined(key_ids(must(repo->list_api_keys("u-admin-a")))) == "k-bootstrap-a");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-a");
  const auto before = dump(*repo);

  // all new ids: only RequireEmpty stands in the way
  const auto second = bootstrap_change("b", "other", "root");
  CHECK(outcome(repo->apply(second)) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_workspace("other")) == "not-found");
  CHECK(outcome(repo->find_user("u-admin-b")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-bootstrap-b")) == "not-found");

  // a workspace alone makes the store non-empty
  auto repo2 = fresh();
  REQUIRE(detail(apply(*repo2, m::InsertWorkspace{workspace("lonely")})) == "ok");
  const auto before2 = dump(*repo2);
  const auto third = bootstrap_change("c", "default", "admin");
  CHECK(outcome(repo2->apply(third)) == "duplicate");
  CHECK(dump(*repo2) == before2);
}

TEST_CASE("bootstrap race: exactly one of many concurrent bootstraps wins") {
  constexpr int rounds = 10;
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    auto repo = fresh();
    // even rounds: the realistic race (same workspace and username, own ids);
    // odd rounds: nothing shared at all, so only RequireEmpty can stop the losers
    const bool shared = round % 2 == 0;
    std::vector<iam::Change> changes;
    for (int t = 0; t < threads_n; ++t) {
      const std::string tag = "r" + std::to_string(round) + "t" + std::to_string(t);
      changes.push_back(bootstrap_change(tag, shared ? "default" : "ws-" + tag, shared ? "admin" : "admin-" + tag));
    }
    std::vector<std::string> results(threads_n);
    run_threads(threads_n, [&](int t) {
      results[static_cast<std::size_t>(t)] = outcome(repo->apply(changes[static_cast<std::size_t>(t)]));
    });
    int winners = 0;
    int winner = -1;
    for (int t = 0; t < threads_n; ++t) {
      const auto& r = results[static_cast<std::size_t>(t)];
      if (r == "ok") {
        ++winners;
        winner = t;
      } else {
        CHECK(r == "duplicate");
      }
    }
    REQUIRE(winners == 1);
    const std::string tag = "r" + std::to_string(round) + "t" + std::to_string(winner);
    CHECK(joined(workspace_ids(must(repo->list_workspaces()))) == (shared ? "default" : "ws-" + tag));
    const auto users = must(repo->list_users(std::nullopt));
    REQUIRE(users.size() == 1);
    CHECK(users[0].record.id == "u-admin-" + tag);
    CHECK(joined(key_ids(must(repo->list_api_keys("u-admin-" + tag)))) == "k-bootstrap-" + tag);
    CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-" + tag);
    for (int t = 0; t < threads_n; ++t) {
      if (t == winner) continue;
      const std::string loser = "r" + std::to_string(round) + "t" + std::to_string(t);
      CHECK(outcome(repo->find_user("u-admin-" + loser)) == "not-found");
      CHECK(outcome(repo->find_api_key("k-bootstrap-" + loser)) == "not-found");
    }
    dump(*repo);
  }
}

// =====================================================================================
// Concurrency
// =====================================================================================

TEST_CASE("concurrent inserts of one username: exactly one wins, the others get duplicate") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")})) == "ok");
  constexpr int rounds = 20;
  // results[round][thread]
  std::vector<std::vector<std::string>> results(rounds, std::vector<std::string>(threads_n));
  run_threads(threads_n, [&](int t) {
    for (int round = 0; round < rounds; ++round) {
      std::string name = "Racer" + std::to_string(round);
      if (t % 3 == 1) name = iam::username_key(name).value();
      if (t % 3 == 2) name = ascii_upper(name);
      const auto c = change(m::InsertUser{
          user("u-" + std::to_string(round) + "-" + std::to_string(t), t % 2 ? "acme" : "beta", name)});
      results[static_cast<std::size_t>(round)][static_cast<std::size_t>(t)] = outcome(repo->apply(c));
    }
  });
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    int winners = 0;
    int winner = -1;
    for (int t = 0; t < threads_n; ++t) {
      const auto& r = results[static_cast<std::size_t>(round)][static_cast<std::size_t>(t)];
      if (r == "ok") {
        ++winners;
        winner = t;
      } else {
        CHECK(r == "duplicate");
      }
    }
    REQUIRE(winners == 1);
    CHECK(must(repo->find_user_by_username("racer" + std::to_string(round))).record.id ==
          "u-" + std::to_string(round) + "-" + std::to_string(winner));
  }
  CHECK(must(repo->list_users(std::nullopt)).size() == rounds);
  dump(*repo);
}

TEST_CASE("concurrent inserts of distinct users and keys all succeed and are all listed") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")})) == "ok");
  constexpr int per_thread = 40;
  Violations violations;
  run_threads(threads_n, [&](int t) {
    for (int i = 0; i < per_thread; ++i) {
      const std::string id = "u-" + std::to_string(t) + "-" + std::to_string(i);
      const auto c = change(m::InsertUser{user(id, (t + i) % 2 ? "acme" : "beta", "User-" + id)},
                            m::InsertApiKey{api_key("k-" + id, id)});
      const auto s = repo->apply(c);
      if (!s.ok()) violations.add(id + ": " + detail(s));
    }
  });
  INFO(violations.first());
  CHECK(violations.count() == 0);
  const auto users = must(repo->list_users(std::nullopt));
  CHECK(users.size() == static_cast<std::size_t>(threads_n * per_thread));
  CHECK(must(repo->list_users("acme")).size() + must(repo->list_users("beta")).size() == users.size());
  CHECK(std::is_sorted(users.begin(), users.end(), [](const iam::StoredUser& a, const iam::StoredUser& b) {
    return iam::username_key(a.record.username) < iam::username_key(b.record.username);
  }));
  for (int t = 0; t < threads_n; ++t)
    for (int i = 0; i < per_thread; ++i) {
      const std::string id = "u-" + std::to_string(t) + "-" + std::to_string(i);
      CHECK(must(repo->find_user_by_username("user-" + id)).record.id == id);
      CHECK(must(repo->find_api_key_by_hash(fake_hash("key:k-" + id))).record.user_id == id);
    }
  dump(*repo);
}

TEST_CASE("readers and writers in parallel: every read is consistent, the final state is exact") {
  auto repo = fresh();
  constexpr int writers = 4;
  constexpr int readers = 4;
  constexpr int iterations = 120;      // per writer
  constexpr int reads = 250;           // per reader
  constexpr int rotations = 60;
  for (int w = 0; w < writers; ++w)
    REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("ws-" + std::to_string(w))})) == "ok");
  REQUIRE(detail(apply(*repo, m::InsertSigningKey{signing_key("kid-initial", 1, at(t0))})) == "ok");

  Violations violations;
  // contended[n]: how many writers won username "Contended-n"
  std::vector<std::atomic<int>> contended(iterations);
  std::atomic<int> rotation_failures{0};

  auto writer = [&](int w) {
    const std::string ws = "ws-" + std::to_string(w);
    for (int n = 0; n < iterations; ++n) {
      const std::string id = "w" + std::to_string(w) + "-u" + std::to_string(n);
      // keys come and go in pairs: a reader must never see one of a pair
      if (auto s = apply(*repo, m::InsertUser{user(id, ws, "Writer" + std::to_string(w) + "-" + std::to_string(n))},
                         m::InsertApiKey{api_key(id + "-a", id, at(t0 + n))},
                         m::InsertApiKey{api_key(id + "-b", id, at(t0 + n))});
          !s.ok())
        violations.add("insert " + id + ": " + detail(s));
      if (auto s = apply(*repo, m::TouchApiKey{id + "-a", at(t0 + 1000 + n)}); !s.ok())
        violations.add("touch " + id + ": " + detail(s));
      if (n % 3 == 1) {
        auto u = user(id, ws, "ignored");
        u.record.enabled = false;
        if (auto s = apply(*repo, m::UpdateUser{u}, m::DeleteApiKeysOfUser{id}); !s.ok())
          violations.add("disable " + id + ": " + detail(s));
      } else if (n % 3 == 2) {
        if (auto s = apply(*repo, m::DeleteUser{id}); !s.ok()) violations.add("delete " + id + ": " + detail(s));
      }
      const auto s = apply(*repo, m::InsertUser{user("c" + std::to_string(n) + "-w" + std::to_string(w), ws,
                                                     w % 2 ? "contended-" + std::to_string(n)
                                                           : "CONTENDED-" + std::to_string(n))});
      if (s.ok())
        contended[static_cast<std::size_t>(n)].fetch_add(1);
      else if (s.error().code != iam::ErrorCode::duplicate)
        violations.add("contended " + std::to_string(n) + ": " + detail(s));
    }
  };

  auto rotator = [&] {
    for (int n = 1; n <= rotations; ++n) {
      const auto c = change(m::RetireSigningKeys{at(t0 + n)},
                            m::InsertSigningKey{signing_key("kid-" + std::to_string(n),
                                                            static_cast<std::uint8_t>(n), at(t0 + n))},
                            m::DeleteSigningKeysRetiredBefore{at(t0 + n - 5)});
      if (!repo->apply(c).ok()) rotation_failures.fetch_add(1);
    }
  };

  auto reader = [&](int r) {
    for (int i = 0; i < reads; ++i) {
      const auto users = repo->list_users(std::nullopt);
      if (!users.ok()) {
        violations.add("list_users: " + detail(users));
        continue;
      }
      for (std::size_t j = 1; j < users->size(); ++j)
        if (!(iam::username_key((*users)[j - 1].record.username) < iam::username_key((*users)[j].record.username)))
          violations.add("list_users out of order at " + (*users)[j].record.username);
      const std::string ws = "ws-" + std::to_string((r + i) % writers);
      if (const auto in_ws = repo->list_users(ws); in_ws.ok()) {
        for (const auto& u : *in_ws)
          if (u.record.workspace != ws) violations.add("list_users(" + ws + ") gave " + u.record.id);
      } else {
        violations.add("list_users(ws): " + detail(in_ws));
      }
      // a few users: their keys come in whole pairs, and every index agrees
      for (std::size_t j = static_cast<std::size_t>(i) % 7; j < users->size(); j += users->size() / 4 + 1) {
        const auto& u = (*users)[j];
        const auto keys = repo->list_api_keys(u.record.id);
        if (!keys.ok()) {
          violations.add("list_api_keys: " + detail(keys));
          continue;
        }
        if (keys->size() != 0 && keys->size() != 2)
          violations.add("user " + u.record.id + " has " + std::to_string(keys->size()) + " keys");
        for (const auto& k : *keys) {
          if (k.record.user_id != u.record.id) violations.add("key " + k.record.id + " listed for " + u.record.id);
          const auto by_hash = repo->find_api_key_by_hash(k.key_hash);
          if (by_hash.ok() && by_hash->record.id != k.record.id)
            violations.add("hash of " + k.record.id + " finds " + by_hash->record.id);
          if (!by_hash.ok() && by_hash.error().code != iam::ErrorCode::not_found)
            violations.add("find_api_key_by_hash: " + detail(by_hash));
        }
        const auto by_name = repo->find_user_by_username(ascii_upper(u.record.username));
        if (by_name.ok() && by_name->record.id != u.record.id)
          violations.add("username " + u.record.username + " finds " + by_name->record.id);
        if (!by_name.ok() && by_name.error().code != iam::ErrorCode::not_found)
          violations.add("find_user_by_username: " + detail(by_name));
      }
      const auto signing = repo->list_signing_keys();
      if (!signing.ok()) {
        violations.add("list_signing_keys: " + detail(signing));
        continue;
      }
      int active = 0;
      for (std::size_t j = 0; j < signing->size(); ++j) {
        const auto& k = (*signing)[j];
        if (!k.retired) {
          ++active;
          if (k.secret_key.size() != iam::ed25519_secret_key_bytes) violations.add("active key without secret");
        } else if (!k.secret_key.empty()) {
          violations.add("retired key " + k.kid + " keeps its secret");
        }
        if (j > 0 && k.created < (*signing)[j - 1].created) violations.add("signing keys out of order");
      }
      if (active != 1) violations.add(std::to_string(active) + " active signing keys");
    }
  };

  {
    std::latch start(writers + readers + 1);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
      threads.emplace_back([&, w] {
        start.arrive_and_wait();
        writer(w);
      });
    for (int r = 0; r < readers; ++r)
      threads.emplace_back([&, r] {
        start.arrive_and_wait();
        reader(r);
      });
    threads.emplace_back([&] {
      start.arrive_and_wait();
      rotator();
    });
    for (auto& th : threads) th.join();
  }

  INFO(violations.first());
  CHECK(violations.count() == 0);
  CHECK(rotation_failures.load() == 0);
  for (int n = 0; n < iterations; ++n) {
    INFO("contended " << n);
    CHECK(contended[static_cast<std::size_t>(n)].load() == 1);
    CHECK(must(repo->find_user_by_username("Contended-" + std::to_string(n))).record.username ==
          must(repo->find_user_by_username("contended-" + std::to_string(n))).record.username);
  }
  for (int w = 0; w < writers; ++w) {
    const std::string ws = "ws-" + std::to_string(w);
    std::size_t expected_in_ws = 0;
    for (int n = 0; n < iterations; ++n) {
      const std::string id = "w" + std::to_string(w) + "-u" + std::to_string(n);
      INFO("user " << id);
      if (n % 3 == 2) {
        CHECK(outcome(repo->find_user(id)) == "not-found");
        CHECK(outcome(repo->find_api_key(id + "-a")) == "not-found");
        CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:" + id + "-b"))) == "not-found");
        continue;
      }
      ++expected_in_ws;
      const auto u = must(repo->find_user(id));
      const auto keys = must(repo->list_api_keys(id));
      if (n % 3 == 0) {
        CHECK(u.record.enabled);
        REQUIRE(keys.size() == 2);
        CHECK(stamp(keys[0].record.last_used) == stamp(at(t0 + 1000 + n)));  // "-a" sorts first
        CHECK_FALSE(keys[1].record.last_used.has_value());
      } else {
        CHECK_FALSE(u.record.enabled);
        CHECK(keys.empty());
      }
    }
    std::size_t contended_here = 0;
    for (const auto& u : must(repo->list_users(ws)))
      if (u.record.id.starts_with("c")) ++contended_here;
    CHECK(must(repo->list_users(ws)).size() == expected_in_ws + contended_here);
  }
  const auto signing = must(repo->list_signing_keys());
  REQUIRE_FALSE(signing.empty());
  CHECK(signing.back().kid == "kid-" + std::to_string(rotations));
  CHECK_FALSE(signing.back().retired.has_value());
  CHECK(joined(kids(signing)) == "kid-54 kid-55 kid-56 kid-57 kid-58 kid-59 kid-60");
  dump(*repo);
}

// =====================================================================================
// Persistence (only for backends that define reopen_backend)
// =====================================================================================

TEST_CASE("persistence: everything survives a reopen, and the rules still hold") {
  auto repo = fresh();
  seed_world(*repo);
  auto extra = user("u-zoe", "beta", "Zoë", {});
  extra.record.enabled = false;
  extra.record.must_change_password = true;
  extra.record.created = at(far);
  extra.credentials_epoch = 5;
  REQUIRE(detail(apply(*repo, m::InsertUser{extra}, m::AdvanceCredentialsEpoch{"u-bob"}, m::InsertSigningKey{signing_key("kid-old", 1, at(t0), at(t0 + 1))},
                       m::InsertSigningKey{signing_key("kid-new", 2, at(t0 + 1))},
                       m::TouchApiKey{"k-bob-1", at(far)})) == "ok");
  const auto before = dump(*repo);

  auto reopened = conformance::reopen_backend(std::move(repo));
  if (!reopened) {
    MESSAGE("this backend does not persist (no reopen_backend): persistence not tested");
    return;
  }
  CHECK(dump(*reopened) == before);
  CHECK(outcome(apply(*reopened, m::InsertUser{user("u-x", "acme", "ALICE")})) == "duplicate");
  CHECK(outcome(apply(*reopened, m::InsertSigningKey{signing_key("kid-3", 3, at(t0 + 2))})) == "duplicate");
  CHECK(detail(apply(*reopened, m::DeleteUser{"u-alice"})) == "ok");
  CHECK(outcome(reopened->find_api_key_by_hash(fake_hash("key:k-alice-1"))) == "not-found");
  const auto after = dump(*reopened);
  auto again = conformance::reopen_backend(std::move(reopened));
  REQUIRE(again != nullptr);
  CHECK(dump(*again) == after);
}
