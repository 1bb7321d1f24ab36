// A flood of random credentials through the gateway kit and the real roles regime, with
// the repository counting every read: malformed shapes never reach storage, JWT-shaped
// garbage never does either, well-formed random API keys cost exactly one indexed lookup
// each, and no failure takes room in the identity cache.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "iam/clock.h"
#include "iam/forwarding_repository.h"
#include "iam/gateway.h"
#include "iam/memory_store.h"
#include "iam/roles.h"

namespace {

// Counts the reads that reach storage; writes pass through uncounted.
class ReadCountingRepository final : public iam::ForwardingRepository {
 public:
  using ForwardingRepository::ForwardingRepository;
  std::atomic<int> reads{0};
  std::atomic<int> key_lookups{0};

  iam::Result<iam::WorkspaceRecord> find_workspace(std::string_view id) override {
    ++reads;
    return ForwardingRepository::find_workspace(id);
  }
  iam::Result<std::vector<iam::WorkspaceRecord>> list_workspaces() override {
    ++reads;
    return ForwardingRepository::list_workspaces();
  }
  iam::Result<iam::StoredUser> find_user(std::string_view id) override {
    ++reads;
    return ForwardingRepository::find_user(id);
  }
  iam::Status read_user_authorisation(std::string_view id,
                                      iam::FunctionRef<void(const iam::UserAuthorisationView&)> read) override {
    ++reads;
    return ForwardingRepository::read_user_authorisation(id, read);
  }
  iam::Result<iam::StoredUser> find_user_by_username(std::string_view username) override {
    ++reads;
    return ForwardingRepository::find_user_by_username(username);
  }
  iam::Result<std::vector<iam::StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    ++reads;
    return ForwardingRepository::list_users(workspace);
  }
  iam::Result<iam::StoredApiKey> find_api_key(std::string_view id) override {
    ++reads;
    return ForwardingRepository::find_api_key(id);
  }
  iam::Result<iam::StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    ++reads;
    ++key_lookups;
    return ForwardingRepository::find_api_key_by_hash(key_hash);
  }
  iam::Result<std::vector<iam::StoredApiKey>> list_api_keys(std::string_view user_id) override {
    ++reads;
    return ForwardingRepository::list_api_keys(user_id);
  }
  iam::Result<std::vector<iam::SigningKey>> list_signing_keys() override {
    ++reads;
    return ForwardingRepository::list_signing_keys();
  }
  iam::Result<bool> is_empty() override {
    ++reads;
    return ForwardingRepository::is_empty();
  }
};

struct Flood {
  std::shared_ptr<ReadCountingRepository> store =
      std::make_shared<ReadCountingRepository>(iam::make_memory_repository());
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  std::shared_ptr<iam::RolesRegime> regime;
  std::shared_ptr<iam::Enforcer> enforcer;
  std::string admin_key;
  std::mt19937_64 rng{20261123};

  Flood() {
    iam::RolesConfig config;
    config.repository = store;
    config.clock = clock;
    config.bootstrap_mode = iam::BootstrapMode::bootstrap;
    config.read_environment = false;
    config.logger = iam::null_logger();
    regime = iam::make_roles_regime(std::move(config)).value();
    admin_key = std::string(regime->bootstrap().value().admin_api_key.view());
    iam::GatewayConfig gateway;
    gateway.regime = regime;
    gateway.clock = clock;
    gateway.authentication_cache_entries = 1000;
    gateway.logger = iam::null_logger();
    enforcer = iam::make_enforcer(std::move(gateway)).value();
  }

  std::string random_text(std::size_t length, std::string_view alphabet) {
    std::string text(length, ' ');
    for (auto& c : text) c = alphabet[rng() % alphabet.size()];
    return text;
  }
  static constexpr std::string_view base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  static constexpr std::string_view printable =
      " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

  // A credential of no valid shape, of one of several kinds.
  std::string malformed(int i) {
    switch (i % 6) {
      case 0: return "?" + random_text(rng() % 200, printable);                   // anything, not even base64url
      case 1: return "tg_" + random_text(rng() % 17, base64url);                  // too short for any key
      case 2: return "tg_" + random_text(254 + rng() % 50, base64url);            // too long
      case 3: return "tg_" + random_text(10, base64url) + " " + random_text(22, base64url);  // a space inside
      // JWT-like ones start "ey" as real ones do (a random start could be "tg_", a key's shape)
      case 4: return "ey" + random_text(40, base64url) + ".." + random_text(40, base64url);  // an empty segment
      default: return "ey" + random_text(20, base64url) + "." + random_text(20, base64url) + "." + random_text(20, base64url) +
                      "." + random_text(20, base64url);  // four segments
    }
  }
};

}  // namespace

TEST_CASE("a flood of malformed credentials never reaches storage or the cache") {
  Flood f;
  REQUIRE(f.enforcer->authenticate(f.admin_key).ok());  // one cached identity
  const int reads_before = f.store->reads.load();
  for (int i = 0; i < 200'000; ++i) REQUIRE_FALSE(f.enforcer->authenticate(f.malformed(i)).ok());
  CHECK(f.store->reads.load() == reads_before);
  CHECK(f.enforcer->cached_identities() == 1);
}

TEST_CASE("JWT-shaped garbage is refused by parsing and signature, without storage") {
  Flood f;
  const int reads_before = f.store->reads.load();
  for (int i = 0; i < 50'000; ++i) {
    const std::string token = f.random_text(36, Flood::base64url) + "." + f.random_text(60, Flood::base64url) + "." +
                              f.random_text(86, Flood::base64url);
    REQUIRE_FALSE(f.enforcer->authenticate(token).ok());
  }
  CHECK(f.store->reads.load() == reads_before);
  CHECK(f.enforcer->cached_identities() == 0);
}

TEST_CASE("well-formed random API keys cost one key lookup each and are not cached") {
  Flood f;
  const int lookups_before = f.store->key_lookups.load();
  const int reads_before = f.store->reads.load();
  constexpr int keys = 20'000;
  for (int i = 0; i < keys; ++i) REQUIRE_FALSE(f.enforcer->authenticate("tg_" + f.random_text(32, Flood::base64url)).ok());
  CHECK(f.store->key_lookups.load() - lookups_before == keys);
  CHECK(f.store->reads.load() - reads_before == keys);  // nothing but the lookup
  CHECK(f.enforcer->cached_identities() == 0);
  REQUIRE(f.enforcer->authenticate(f.admin_key).ok());  // the real key still works
}
