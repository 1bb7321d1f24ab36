// Authorisation: cached through the gateway kit, uncached in the roles regime, and a
// batch of 50 checks against 50 single calls.
//
// The caller is a reader in the default workspace, authenticated once with an API key
// (the cached path runs on a regime of its own, whose storage counts lookups);
// every check asks for a capability the reader role grants there, so every answer must be
// allow (checked, so a broken setup cannot produce a fast deny).
//   BM_AuthoriseCached    Enforcer::authorise, its decision cache warmed first
//   BM_AuthoriseUncached/N  RolesRegime::authorise on memory storage holding N users (1,
//                         10 000, 100 000): each iteration asks for the next user of a
//                         shuffled sequence, alternately a capability its role grants in its
//                         home workspace (allow) and the same one in another workspace (deny)
//   BM_AuthoriseFloor/N   the physical floor of the same sequence of questions: one
//                         std::unordered_map lookup of the user by id (a record of its home
//                         workspace and a capability bitset) and one probe of the capability's
//                         bit (a hash lookup of its name in the capability index)
//   BM_AuthoriseMany50    one RolesRegime::authorise_many of 50 checks
//   BM_AuthoriseSingle50  the same 50 checks as 50 RolesRegime::authorise calls
// After the run:
//   RESULT authorise_cached_ns, authorise_uncached_ns (1 user), authorise_many50_ratio,
//          authorise_{uncached,floor}_ns_{1,10k,100k}, authorise_uncached_floor_ratio_{1,10k,100k}
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench_common.h"
#include "iam/gateway.h"

namespace {

constexpr std::size_t batch = 50;

// A reader's identity, authenticated once with a new API key.
iam::Identity reader_identity(const bench::RolesSetup& roles) {
  iam::KeyInput key;
  key.user_id = roles.user_id;
  key.name = "bench";
  auto api_key = roles.regime->create_api_key(std::nullopt, key, std::nullopt);
  if (!api_key) bench::fail("create_api_key: " + api_key.error().message);
  auto identity = roles.regime->authenticate(api_key->plaintext.view());
  if (!identity || identity->handle != roles.user_id) bench::fail("the API key did not authenticate");
  return std::move(*identity);
}

struct Setup {
  // The regime timed directly (plain memory storage) ...
  bench::RolesSetup roles = bench::make_roles_setup({"reader"});
  iam::Identity identity = reader_identity(roles);
  // ... and, separately, the gateway's regime, whose storage counts user lookups: the
  // cached loop must not make any (a hit never reaches the regime).
  std::shared_ptr<bench::CountingRepository> counted =
      std::make_shared<bench::CountingRepository>(iam::make_memory_repository());
  bench::RolesSetup gateway_roles = bench::make_roles_setup({"reader"}, std::chrono::hours(24), counted);
  iam::Identity gateway_identity = reader_identity(gateway_roles);
  std::shared_ptr<iam::Enforcer> enforcer;

  std::vector<iam::AuthorisationCheck> checks;  // `batch` checks, all allowed
  iam::Resource resource = iam::Resource::workspace("default");
  iam::Parameters no_parameters;
  std::string capability = "config:read";

  Setup() {
    iam::GatewayConfig config;
    config.regime = gateway_roles.regime;
    config.logger = iam::null_logger();
    config.authentication_ttl = std::chrono::hours(24);
    config.decision_ttl = std::chrono::hours(24);  // nothing expires during the run
    auto created = iam::make_enforcer(std::move(config));
    if (!created) bench::fail("make_enforcer: " + created.error().message);
    enforcer = std::move(*created);

    // Cycle through the reader role's capabilities (all granted in its home workspace).
    const auto& granted = roles.regime->role_table().at("reader").capabilities;
    std::vector<std::string> capabilities(granted.begin(), granted.end());
    for (std::size_t i = 0; i < batch; ++i)
      checks.push_back({capabilities[i % capabilities.size()], iam::Resource::workspace("default"), {}});

    // Sanity: every path allows, and the cached one is warm.
    if (!roles.regime->authorise(identity, capability, resource, no_parameters).allow)
      bench::fail("the regime denied the reader config:read");
    if (!enforcer->authorise(gateway_identity, capability, resource, no_parameters).allow)
      bench::fail("the enforcer denied the reader config:read");
    const auto lookups = counted->user_lookups();
    if (!enforcer->authorise(gateway_identity, capability, resource, no_parameters).allow ||
        counted->user_lookups() != lookups)
      bench::fail("the decision was not served from the cache");
    for (const auto& d : roles.regime->authorise_many(identity, checks))
      if (!d.allow) bench::fail("authorise_many denied a reader capability");
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_AuthoriseCached(benchmark::State& state) {
  const Setup& s = setup();
  const auto lookups = s.counted->user_lookups();
  for (auto _ : state) {
    const iam::Decision d = s.enforcer->authorise(s.gateway_identity, s.capability, s.resource, s.no_parameters);
    if (!d.allow) {
      state.SkipWithError("denied");
      break;
    }
    benchmark::DoNotOptimize(d);
  }
  if (s.counted->user_lookups() != lookups) state.SkipWithError("the timed loop reached the regime");
}
BENCHMARK(BM_AuthoriseCached);

// ---- uncached authorise over a population of users, and its floor ----

constexpr std::size_t kWorkspaces = 100;
constexpr std::size_t kProbes = 1 << 16;  // questions per sequence (cycled)

// One question of the sequence: who, which capability where, and the expected answer.
struct Probe {
  const iam::Identity* identity;
  const std::string* capability;
  const iam::Resource* resource;
  std::string_view workspace;  // the resource's, read once here: the floor does not parse resources
  bool allow;
};

// The floor's user record: only what the answer needs.
struct FloorUser {
  std::string workspace;
  std::uint64_t capabilities = 0;  // bits of the capability index
  bool enabled = true;
};

// `users` users over `kWorkspaces` workspaces, stored directly in memory storage (no
// password hashing: a realistic-length hash string instead), each a reader or a writer.
struct Population {
  bench::RolesSetup roles = bench::make_roles_setup({"reader"});
  std::vector<iam::Identity> identities;
  std::vector<iam::Resource> workspaces;
  std::vector<std::string> capabilities;  // the reader role's, cycled through by the probes
  std::vector<Probe> probes;
  // The floor's own copy of the same users and of the role table's capabilities.
  std::unordered_map<std::string, unsigned> capability_bit;
  std::unordered_map<std::string, FloorUser> floor_users;

  explicit Population(std::size_t users) {
    const iam::RoleTable& table = roles.regime->role_table();
    for (const auto& [name, role] : table)
      for (const auto& c : role.capabilities) capability_bit.emplace(c, static_cast<unsigned>(capability_bit.size()));
    if (capability_bit.size() > 64) bench::fail("the floor's bitset holds 64 capabilities");
    // Only the population below: the setup's own user goes.
    iam::Change change;
    change.emplace_back(iam::mutation::DeleteUser{roles.user_id});
    apply(change);

    const std::size_t workspace_count = std::min(users, kWorkspaces) + 1;  // + 1: a deny always has another
    for (std::size_t w = 0; w < workspace_count; ++w) {
      workspaces.push_back(iam::Resource::workspace("bench-ws-" + std::to_string(w)));
      change.emplace_back(iam::mutation::InsertWorkspace{
          iam::WorkspaceRecord{std::string(workspaces.back().workspace_id()), "Bench " + std::to_string(w), true, {}}});
    }
    apply(change);

    bench::Rng rng(20261207);
    const std::vector<std::string> role_names = {"reader", "writer"};
    identities.reserve(users);
    std::vector<std::size_t> home(users);
    std::vector<std::size_t> role_of(users);
    for (std::size_t i = 0; i < users; ++i) {
      iam::StoredUser user;
      char id[40];  // uuid-shaped, as the regime makes them
      std::snprintf(id, sizeof id, "%08llx-0000-4000-8000-%012llx", static_cast<unsigned long long>(rng.next() >> 32),
                    static_cast<unsigned long long>(i));
      home[i] = i % (workspace_count - 1);
      role_of[i] = (i / 2) % role_names.size();
      user.record.id = id;
      user.record.workspace = workspaces[home[i]].workspace_id();
      user.record.username = "bench-user-" + std::to_string(i);
      user.record.name = "Bench User " + std::to_string(i);
      user.record.email = "bench-user-" + std::to_string(i) + "@example.com";
      user.record.roles = {role_names[role_of[i]]};
      user.password_hash = "pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0c2FsdA$" + std::string(43, 'h');
      FloorUser floor_user{user.record.workspace, 0, true};
      for (const auto& c : table.at(role_names[role_of[i]]).capabilities) floor_user.capabilities |= 1ULL << capability_bit.at(c);
      floor_users.emplace(user.record.id, std::move(floor_user));
      identities.push_back(iam::Identity{user.record.id, user.record.workspace, user.record.id,
                                         iam::CredentialSource::api_key, std::nullopt});
      change.emplace_back(iam::mutation::InsertUser{std::move(user)});
      if (change.size() == 1000) apply(change);
    }
    apply(change);

    // The questions: a shuffled walk over the users (every one visited before any repeats
    // when there are at least kProbes / 2 of them), alternately allowed and denied.
    const auto& reader_capabilities = table.at("reader").capabilities;
    capabilities.assign(reader_capabilities.begin(), reader_capabilities.end());
    std::vector<std::size_t> order(users);
    for (std::size_t i = 0; i < users; ++i) order[i] = i;
    for (std::size_t i = users; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    for (std::size_t k = 0; k < kProbes; ++k) {
      const std::size_t u = order[k % users];
      const bool allow = k % 2 == 0;
      const std::size_t where = allow ? home[u] : (home[u] + 1) % workspace_count;
      probes.push_back(Probe{&identities[u], &capabilities[k % capabilities.size()], &workspaces[where],
                             workspaces[where].workspace_id(), allow});
    }
    // Sanity: the regime and the floor agree with every expected answer.
    for (const Probe& p : probes) {
      if (roles.regime->authorise(*p.identity, *p.capability, *p.resource, {}).allow != p.allow)
        bench::fail("the regime's answer differs from the expected one");
      if (floor_allows(p) != p.allow) bench::fail("the floor's answer differs from the expected one");
    }
  }

  void apply(iam::Change& change) {
    if (const auto s = roles.repository->apply(change); !s.ok()) bench::fail("seeding users: " + s.error().message);
    change.clear();
  }

  bool floor_allows(const Probe& p) const {
    const auto user = floor_users.find(p.identity->handle);
    if (user == floor_users.end() || !user->second.enabled) return false;
    const auto bit = capability_bit.find(*p.capability);
    return bit != capability_bit.end() && (user->second.capabilities >> bit->second & 1) != 0 &&
           user->second.workspace == p.workspace;
  }
};

Population& population(std::size_t users) {
  static std::map<std::size_t, std::unique_ptr<Population>> made;
  auto& p = made[users];
  if (!p) p = std::make_unique<Population>(users);
  return *p;
}

void BM_AuthoriseUncached(benchmark::State& state) {
  Population& p = population(static_cast<std::size_t>(state.range(0)));
  const iam::Parameters no_parameters;
  std::size_t k = 0;
  for (auto _ : state) {
    const Probe& probe = p.probes[k++ & (kProbes - 1)];
    const iam::Decision d = p.roles.regime->authorise(*probe.identity, *probe.capability, *probe.resource, no_parameters);
    if (d.allow != probe.allow) {
      state.SkipWithError("an answer differs from the expected one");
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_AuthoriseUncached)->Arg(1)->Arg(10000)->Arg(100000);

void BM_AuthoriseFloor(benchmark::State& state) {
  const Population& p = population(static_cast<std::size_t>(state.range(0)));
  std::size_t k = 0;
  for (auto _ : state) {
    const Probe& probe = p.probes[k++ & (kProbes - 1)];
    const bool allow = p.floor_allows(probe);
    if (allow != probe.allow) {
      state.SkipWithError("an answer differs from the expected one");
      break;
    }
    benchmark::DoNotOptimize(allow);
  }
}
BENCHMARK(BM_AuthoriseFloor)->Arg(1)->Arg(10000)->Arg(100000);

void BM_AuthoriseMany50(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    auto decisions = s.roles.regime->authorise_many(s.identity, s.checks);
    if (decisions.size() != batch || !decisions.front().allow || !decisions.back().allow) {
      state.SkipWithError("authorise_many did not allow the batch");
      break;
    }
    benchmark::DoNotOptimize(decisions);
  }
}
BENCHMARK(BM_AuthoriseMany50);

void BM_AuthoriseSingle50(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    bool all = true;
    for (const auto& check : s.checks) {
      const iam::Decision d = s.roles.regime->authorise(s.identity, check.capability, check.resource, check.parameters);
      all = all && d.allow;
      benchmark::DoNotOptimize(d);
    }
    if (!all) {
      state.SkipWithError("a single authorise denied");
      break;
    }
  }
}
BENCHMARK(BM_AuthoriseSingle50);

}  // namespace

int main(int argc, char** argv) {
  if (!bench::initialise(argc, argv, 10)) return 1;
  setup();  // regime, user, key and warm cache before any timing

  bench::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const double cached = reporter.seconds_of("BM_AuthoriseCached");
  const double many = reporter.seconds_of("BM_AuthoriseMany50");
  const double single = reporter.seconds_of("BM_AuthoriseSingle50");
  if (cached > 0) bench::result("authorise_cached_ns", cached * 1e9);
  if (const double one = reporter.seconds_of("BM_AuthoriseUncached/1"); one > 0)
    bench::result("authorise_uncached_ns", one * 1e9);
  for (const auto& [users, suffix] : {std::pair{"1", "1"}, {"10000", "10k"}, {"100000", "100k"}}) {
    const double uncached = reporter.seconds_of(std::string("BM_AuthoriseUncached/") + users);
    const double floor = reporter.seconds_of(std::string("BM_AuthoriseFloor/") + users);
    if (uncached > 0) bench::result(std::string("authorise_uncached_ns_") + suffix, uncached * 1e9);
    if (floor > 0) bench::result(std::string("authorise_floor_ns_") + suffix, floor * 1e9);
    if (uncached > 0 && floor > 0) bench::result(std::string("authorise_uncached_floor_ratio_") + suffix, uncached / floor);
  }
  if (many > 0 && single > 0) bench::result("authorise_many50_ratio", many / single);
  return 0;
}
