// Authorisation: cached through the gateway kit, uncached in the roles regime, and a
// batch of 50 checks against 50 single calls.
//
// The caller is a reader in the default workspace, authenticated once with an API key
// (the cached path runs on a regime of its own, whose storage counts lookups);
// every check asks for a capability the reader role grants there, so every answer must be
// allow (checked, so a broken setup cannot produce a fast deny).
//   BM_AuthoriseCached    Enforcer::authorise, its decision cache warmed first
//   BM_AuthoriseUncached  RolesRegime::authorise on memory storage (a user lookup and the
//                         role table each time)
//   BM_AuthoriseMany50    one RolesRegime::authorise_many of 50 checks
//   BM_AuthoriseSingle50  the same 50 checks as 50 RolesRegime::authorise calls
// After the run:
//   RESULT authorise_cached_ns, authorise_uncached_ns, authorise_many50_ratio
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
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

void BM_AuthoriseUncached(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    const iam::Decision d = s.roles.regime->authorise(s.identity, s.capability, s.resource, s.no_parameters);
    if (!d.allow) {
      state.SkipWithError("denied");
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_AuthoriseUncached);

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
  const double uncached = reporter.seconds_of("BM_AuthoriseUncached");
  const double many = reporter.seconds_of("BM_AuthoriseMany50");
  const double single = reporter.seconds_of("BM_AuthoriseSingle50");
  if (cached > 0) bench::result("authorise_cached_ns", cached * 1e9);
  if (uncached > 0) bench::result("authorise_uncached_ns", uncached * 1e9);
  if (many > 0 && single > 0) bench::result("authorise_many50_ratio", many / single);
  return 0;
}
