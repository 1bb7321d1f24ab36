// Cross-process invalidation through the Repository (publish / add_change_listener): what
// the roles regime tells other processes, and what it does when they tell it something.
// A decorating repository stands in for a store that can signal (PostgreSQL NOTIFY).
#include <doctest/doctest.h>

#include <mutex>
#include <vector>

#include "../support/forwarding_repository.h"
#include "iam/memory_store.h"
#include "iam/roles.h"
#include "roles_test_support.h"

using namespace roles_test;

namespace {

using Kind = iam::Invalidation::Kind;

// Forwards storage to a shared memory repository; records what is published and lets the
// test deliver "another process's" notifications.
class SignallingRepository final : public test_support::ForwardingRepository {
 public:
  using ForwardingRepository::ForwardingRepository;

  void publish(const iam::Invalidation& what) noexcept override {
    const std::lock_guard lock(mutex_);
    published.push_back(what);
  }
  void add_change_listener(iam::InvalidationListener listener) override {
    const std::lock_guard lock(mutex_);
    listeners_.push_back(std::move(listener));
  }
  void deliver(const iam::Invalidation& what) {
    std::vector<iam::InvalidationListener> listeners;
    {
      const std::lock_guard lock(mutex_);
      listeners = listeners_;
    }
    for (auto& listener : listeners) listener(what);
  }
  std::size_t listener_count() {
    const std::lock_guard lock(mutex_);
    return listeners_.size();
  }

  std::vector<iam::Invalidation> published;

 private:
  std::mutex mutex_;
  std::vector<iam::InvalidationListener> listeners_;
};

std::shared_ptr<iam::RolesRegime> regime_on(std::shared_ptr<iam::Repository> repository) {
  iam::RolesConfig config;
  config.repository = std::move(repository);
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.logger = iam::null_logger();
  auto regime = iam::make_roles_regime(std::move(config));
  REQUIRE(regime.ok());
  return *regime;
}

}  // namespace

TEST_CASE("changes that revoke access are published to the other processes sharing the store") {
  auto store = std::make_shared<SignallingRepository>(iam::make_memory_repository());
  auto regime = regime_on(store);
  auto admin = regime->bootstrap();
  REQUIRE(admin.ok());

  iam::KeyInput input;
  input.user_id = admin->admin_user_id;
  input.name = "laptop";
  auto key = regime->create_api_key(std::nullopt, input, std::nullopt);
  REQUIRE(key.ok());
  store->published.clear();

  REQUIRE(regime->revoke_api_key(std::nullopt, key->record.id, std::nullopt).ok());
  REQUIRE(store->published.size() == 1);
  CHECK(store->published[0].kind == Kind::api_key);
  CHECK(store->published[0].id.size() == 64);  // the key's SHA-256, never the plaintext
  CHECK(store->published[0].id.find(key->plaintext.view()) == std::string::npos);

  REQUIRE(regime->disable_user(std::nullopt, admin->admin_user_id, std::nullopt).ok());
  CHECK(store->published.back().kind == Kind::user);
  CHECK(store->published.back().id == admin->admin_user_id);

  REQUIRE(regime->rotate_signing_key(std::nullopt).ok());
  CHECK(store->published.back().kind == Kind::signing_keys);

  REQUIRE(regime->disable_workspace(std::nullopt, "default").ok());
  CHECK(store->published.back().kind == Kind::workspace);
  CHECK(store->published.back().id == "default");
}

TEST_CASE("another process's change reaches this process's caches, and a rotation reloads the key set at once") {
  auto shared_store = iam::make_memory_repository();
  auto there = regime_on(std::make_shared<SignallingRepository>(shared_store));  // "another process"
  REQUIRE(there->bootstrap().ok());
  auto here_store = std::make_shared<SignallingRepository>(shared_store);
  auto here = regime_on(here_store);
  REQUIRE(here_store->listener_count() == 1);

  std::vector<iam::Invalidation> seen;
  here->add_invalidation_listener([&](const iam::Invalidation& what) { seen.push_back(what); });

  here_store->deliver(iam::Invalidation{Kind::user, "u-1"});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].kind == Kind::user);
  CHECK(seen[0].id == "u-1");
  CHECK(here_store->published.empty());  // not echoed back to the others

  // The other process rotates; the notification makes this one load the new key now.
  REQUIRE(here->key_set().active_kid().has_value());
  REQUIRE(there->rotate_signing_key(std::nullopt).ok());
  const auto new_kid = there->key_set().active_kid();
  REQUIRE(new_kid.has_value());
  CHECK(here->key_set().active_kid() != new_kid);
  here_store->deliver(iam::Invalidation{Kind::signing_keys, ""});
  CHECK(here->key_set().active_kid() == new_kid);
  CHECK(seen.back().kind == Kind::signing_keys);
}

TEST_CASE("a notification arriving after the regime is gone is ignored safely") {
  auto store = std::make_shared<SignallingRepository>(iam::make_memory_repository());
  {
    auto regime = regime_on(store);
    REQUIRE(regime->bootstrap().ok());
  }
  store->deliver(iam::Invalidation{Kind::everything, ""});  // no crash (ASan would see a use after free)
  CHECK(store->listener_count() == 1);
}

// Changes made through this process, told to its own listeners:
TEST_CASE("invalidation: every mutation through the regime notifies listeners at once") {
  auto t = make_iam();
  auto& g = *t.regime;
  std::mutex m;
  std::vector<iam::Invalidation> seen;
  g.add_invalidation_listener([&](const iam::Invalidation& i) {
    std::lock_guard lock(m);
    seen.push_back(i);
  });
  g.add_invalidation_listener([](const iam::Invalidation&) { throw std::runtime_error("bad listener"); });
  auto take = [&] {
    std::lock_guard lock(m);
    auto out = seen;
    seen.clear();
    return out;
  };
  auto single = [&](iam::Invalidation::Kind kind, const std::string& id) {
    const auto got = take();
    REQUIRE(got.size() == 1);
    CHECK(got.front().kind == kind);
    CHECK(got.front().id == id);
  };
  using Kind = iam::Invalidation::Kind;

  const auto uid = created_user_id(t.create_user("alice", kPassword, {"reader"}, "ws-a"));
  take();
  auto key = g.create_api_key(kTrusted, key_input(uid), std::nullopt);
  REQUIRE(key.ok());
  take();

  REQUIRE(g.revoke_api_key(kTrusted, key->record.id, std::nullopt).ok());
  single(Kind::api_key, iam::crypto::sha256_hex(key->plaintext.view()));
  CHECK_FALSE(g.revoke_api_key(kTrusted, key->record.id, std::nullopt).ok());
  CHECK(take().empty());  // a failed operation changed nothing

  REQUIRE(g.disable_user(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);
  REQUIRE(g.enable_user(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);
  iam::UserInput change;
  change.roles = std::vector<std::string>{"writer"};
  REQUIRE(g.update_user(kTrusted, uid, change, std::nullopt).ok());
  single(Kind::user, uid);
  REQUIRE(g.reset_password(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);

  REQUIRE(g.disable_workspace(kTrusted, "ws-a").ok());
  single(Kind::workspace, "ws-a");
  REQUIRE(g.update_workspace(kTrusted, workspace_input("ws-a", std::nullopt, true)).ok());
  single(Kind::workspace, "ws-a");

  REQUIRE(g.rotate_signing_key(kTrusted).ok());
  single(Kind::signing_keys, "");

  REQUIRE(g.delete_user(kTrusted, uid, std::nullopt).ok());
  single(Kind::user, uid);

  // reads notify nothing
  CHECK(g.list_users(kTrusted, std::nullopt).ok());
  CHECK(g.list_workspaces().ok());
  CHECK(g.whoami(t.admin_user_id).ok());
  CHECK(g.authorise(iam::Identity{t.admin_user_id, "default", t.admin_user_id, iam::CredentialSource::api_key, {}},
                    "users:read", {}, {})
            .allow);
  CHECK(take().empty());
}
