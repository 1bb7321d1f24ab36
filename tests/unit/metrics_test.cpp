// iam/metrics.h: the Prometheus text exposition (exact text, escaping, histogram buckets,
// registration errors), counters under concurrent updates, and the gateway kit's
// enforcer and cache statistics the exporter reads.
#include <doctest/doctest.h>

#include <array>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gateway/caches.h"
#include "gateway_fakes.h"
#include "iam/metrics.h"
#include "iam/throttle.h"

using namespace gateway_test;

namespace {
const std::string key_a = "tg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string key_b = "tg_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const std::string jwt_a = "header.payload.signature";
}  // namespace

TEST_CASE("the exposition text of a small registry, exactly") {
  iam::MetricsRegistry registry;
  auto* b = registry.counter("zz_requests_total", "Requests.", {{"route", "b"}}).value();
  auto* a = registry.counter("zz_requests_total", "Requests.", {{"route", "a"}}).value();
  auto* gauge = registry.gauge("aa_temperature", "Degrees.").value();
  a->inc();
  b->inc(41);
  gauge->set(-2.5);
  REQUIRE(registry.gauge_callback("mm_entries", "Entries.", {{"cache", "x"}}, [] { return 7.0; }).ok());
  // Families by name, series by label: registration order does not matter.
  CHECK(registry.text() ==
        "# HELP aa_temperature Degrees.\n"
        "# TYPE aa_temperature gauge\n"
        "aa_temperature -2.5\n"
        "# HELP mm_entries Entries.\n"
        "# TYPE mm_entries gauge\n"
        "mm_entries{cache=\"x\"} 7\n"
        "# HELP zz_requests_total Requests.\n"
        "# TYPE zz_requests_total counter\n"
        "zz_requests_total{route=\"a\"} 1\n"
        "zz_requests_total{route=\"b\"} 41\n");
  // Registering a series again hands back the same object.
  CHECK(registry.counter("zz_requests_total", "Requests.", {{"route", "a"}}).value() == a);
}

TEST_CASE("label values and help text are escaped as the format says") {
  iam::MetricsRegistry registry;
  registry.counter("odd_total", "Back\\slash and\nnewline \"quoted\".", {{"value", "a\\b\"c\nd"}}).value()->inc();
  CHECK(registry.text() ==
        "# HELP odd_total Back\\\\slash and\\nnewline \"quoted\".\n"
        "# TYPE odd_total counter\n"
        "odd_total{value=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_CASE("a histogram prints cumulative buckets with le, then _sum and _count") {
  iam::MetricsRegistry registry;
  auto* h = registry.histogram("op_seconds", "Latency.", {1.0, 0.125, 0.5}, {{"route", "r"}}).value();
  CHECK(h->bounds() == std::vector<double>{0.125, 0.5, 1.0});  // sorted
  h->observe(0.0625);
  h->observe(0.125);  // on a bound: that bucket (le is "less or equal")
  h->observe(0.75);
  h->observe(3);
  CHECK(registry.text() ==
        "# HELP op_seconds Latency.\n"
        "# TYPE op_seconds histogram\n"
        "op_seconds_bucket{route=\"r\",le=\"0.125\"} 2\n"
        "op_seconds_bucket{route=\"r\",le=\"0.5\"} 2\n"
        "op_seconds_bucket{route=\"r\",le=\"1\"} 3\n"
        "op_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n"
        "op_seconds_sum{route=\"r\"} 3.9375\n"
        "op_seconds_count{route=\"r\"} 4\n");
}

TEST_CASE("series registered once_nonzero appear only once they count something") {
  iam::MetricsRegistry registry;
  auto* counter = registry.counter("c_total", "C.", {{"k", "v"}}, iam::Visibility::once_nonzero).value();
  auto* h = registry.histogram("h_seconds", "H.", {1}, {}, iam::Visibility::once_nonzero).value();
  CHECK(registry.text() == "# HELP c_total C.\n# TYPE c_total counter\n# HELP h_seconds H.\n# TYPE h_seconds histogram\n");
  counter->inc();
  h->observe(2);
  CHECK(registry.text() ==
        "# HELP c_total C.\n# TYPE c_total counter\nc_total{k=\"v\"} 1\n"
        "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
        "h_seconds_bucket{le=\"1\"} 0\nh_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 2\nh_seconds_count 1\n");
}

TEST_CASE("registration refuses names the format does not allow and families of another shape") {
  iam::MetricsRegistry registry;
  using iam::ErrorCode;
  CHECK(registry.counter("", "x").error().code == ErrorCode::invalid_argument);
  CHECK(registry.counter("9lives_total", "x").error().code == ErrorCode::invalid_argument);
  CHECK(registry.counter("has-dash_total", "x").error().code == ErrorCode::invalid_argument);
  CHECK(registry.counter("ok_total", "x", {{"bad-label", "v"}}).error().code == ErrorCode::invalid_argument);
  CHECK(registry.counter("ok_total", "x", {{"__reserved", "v"}}).error().code == ErrorCode::invalid_argument);
  CHECK(registry.counter("ok_total", "x", {{"a", "1"}, {"a", "2"}}).error().code == ErrorCode::invalid_argument);
  CHECK(registry.histogram("h", "x", {1}, {{"le", "1"}}).error().code == ErrorCode::invalid_argument);
  REQUIRE(registry.counter("ok_total", "x", {{"a", "1"}}).ok());
  CHECK(registry.gauge("ok_total", "x", {{"a", "1"}}).error().code == ErrorCode::invalid_argument);  // another type
  CHECK(registry.counter("ok_total", "other help", {{"a", "2"}}).error().code == ErrorCode::invalid_argument);
  CHECK(registry.counter("ok_total", "x", {{"b", "1"}}).error().code == ErrorCode::invalid_argument);  // other labels
  CHECK(registry.counter_callback("ok_total", "x", {{"a", "1"}}, [] { return 1.0; }).error().code == ErrorCode::duplicate);
  REQUIRE(registry.counter_callback("cb_total", "x", {}, [] { return 1.0; }).ok());
  CHECK(registry.counter_callback("cb_total", "x", {}, [] { return 2.0; }).error().code == ErrorCode::duplicate);
  CHECK(registry.counter("cb_total", "x").error().code == ErrorCode::duplicate);
  CHECK(registry.gauge_callback("nofn", "x", {}, {}).error().code == ErrorCode::invalid_argument);
  // What was refused left nothing behind: only the two good families print.
  CHECK(registry.text() == "# HELP cb_total x\n# TYPE cb_total counter\ncb_total 1\n"
                           "# HELP ok_total x\n# TYPE ok_total counter\nok_total{a=\"1\"} 0\n");
}

TEST_CASE("a callback that throws leaves only its own series out") {
  iam::MetricsRegistry registry;
  REQUIRE(registry.gauge_callback("g", "G.", {{"s", "bad"}}, []() -> double { throw std::runtime_error("x"); }).ok());
  REQUIRE(registry.gauge_callback("g", "G.", {{"s", "good"}}, [] { return 0.25; }).ok());
  CHECK(registry.text() == "# HELP g G.\n# TYPE g gauge\ng{s=\"good\"} 0.25\n");
}

TEST_CASE("counters, gauges and histograms lose no update under concurrent threads") {
  iam::MetricsRegistry registry;
  auto* counter = registry.counter("n_total", "N.").value();
  auto* gauge = registry.gauge("g", "G.").value();
  auto* h = registry.histogram("h_seconds", "H.", {0.5}).value();
  constexpr int threads = 4;
  constexpr int per_thread = 20000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        counter->inc();
        gauge->add(1);
        h->observe(i % 2 == 0 ? 0.25 : 1.0);
        if (i % 1000 == 0) (void)registry.text();  // scrapes race with updates
      }
    });
  for (auto& w : workers) w.join();
  CHECK(counter->value() == threads * per_thread);
  CHECK(gauge->value() == threads * per_thread);
  const auto buckets = h->bucket_counts();
  CHECK(buckets == std::vector<std::uint64_t>{threads * per_thread / 2, threads * per_thread / 2});
  CHECK(h->sum() == doctest::Approx(threads * per_thread / 2 * 1.25));
}

TEST_CASE("RequestMetrics: pre-made series by route and status, other statuses as \"other\"") {
  iam::MetricsRegistry registry;
  const std::array<std::string_view, 2> routes{"/a", "/b"};
  auto metrics = iam::make_request_metrics(registry, routes).value();
  metrics.record(0, 200, 0.002);
  metrics.record(0, 200, 0.002);
  metrics.record(1, 418, 0.5);
  metrics.record(2, 200, 0.1);  // no such route: ignored
  const std::string text = registry.text();
  CHECK(text.find("iam_http_requests_total{route=\"/a\",status=\"200\"} 2\n") != std::string::npos);
  CHECK(text.find("iam_http_requests_total{route=\"/b\",status=\"other\"} 1\n") != std::string::npos);
  CHECK(text.find("status=\"404\"") == std::string::npos);  // never happened: not printed
  CHECK(text.find("iam_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.0025\"} 2\n") != std::string::npos);
  CHECK(text.find("iam_http_request_duration_seconds_count{route=\"/b\"} 1\n") != std::string::npos);
  CHECK(text.find("iam_http_request_duration_seconds_count{route=\"/a\"} 2\n") != std::string::npos);
}

TEST_CASE("cache statistics: hits, misses (expired included) and evictions") {
  const iam::TimePoint t0{std::chrono::seconds(1000)};
  iam::gateway::ShardedCache<int> cache(1, 1);
  const auto a = iam::gateway::credential_key("a");
  const auto b = iam::gateway::credential_key("b");
  CHECK_FALSE(cache.get(a, t0));  // miss
  cache.put(a, 1, t0 + 10s, t0, cache.generation());
  CHECK(cache.get(a, t0) == 1);  // hit
  cache.put(b, 2, t0 + 10s, t0, cache.generation());  // evicts a
  CHECK_FALSE(cache.get(a, t0));  // miss
  CHECK_FALSE(cache.get(b, t0 + 10s));  // expired: a miss
  CHECK(cache.hits() == 1);
  CHECK(cache.misses() == 3);
  CHECK(cache.evictions() == 1);
}

TEST_CASE("enforcer statistics count authentications by source and outcome, and decisions") {
  FakeGateway gw([](iam::GatewayConfig& c) { c.authentication_cache_entries = 1; });
  gw.regime->credentials.emplace(key_a, identity("alice"));
  gw.regime->credentials.emplace(jwt_a, identity("alice", "default", iam::CredentialSource::jwt));
  gw.regime->credentials.emplace(key_b, iam::Error{iam::ErrorCode::internal_error, "down"});
  REQUIRE(gw.enforcer->authenticate(key_a).ok());
  REQUIRE(gw.enforcer->authenticate(key_a).ok());  // a cache hit counts as an authentication too
  REQUIRE(gw.enforcer->authenticate(jwt_a).ok());  // evicts key_a (one entry)
  CHECK_FALSE(gw.enforcer->authenticate(key_b).ok());
  CHECK_FALSE(gw.enforcer->authenticate("tg_" + std::string(33, 'c')).ok());
  CHECK_FALSE(gw.enforcer->authenticate("garbage").ok());
  CHECK_FALSE(gw.enforcer->authenticate(std::nullopt).ok());  // the fake refuses anonymous

  gw.regime->decide = [](const iam::Identity&, std::string_view capability, const iam::Resource&,
                         const iam::Parameters&) {
    return capability == "users:read" ? iam::Decision::allowed(60s) : iam::Decision::denied(60s);
  };
  const auto who = identity("alice");
  CHECK(gw.enforcer->authorise(who, "users:read", iam::Resource::system(), {}).allow);
  CHECK(gw.enforcer->authorise(who, "users:read", iam::Resource::system(), {}).allow);  // cached
  CHECK_FALSE(gw.enforcer->authorise(who, "users:write", iam::Resource::system(), {}).allow);

  const iam::EnforcerStats stats = gw.enforcer->stats();
  using O = iam::AuthenticationOutcome;
  const auto at = [&](std::size_t source, O outcome) { return stats.authentications[source][static_cast<std::size_t>(outcome)]; };
  const auto api_key = static_cast<std::size_t>(iam::CredentialSource::api_key);
  const auto jwt = static_cast<std::size_t>(iam::CredentialSource::jwt);
  const auto anonymous = static_cast<std::size_t>(iam::CredentialSource::anonymous);
  CHECK(at(api_key, O::success) == 2);
  CHECK(at(api_key, O::error) == 1);
  CHECK(at(api_key, O::failure) == 1);
  CHECK(at(jwt, O::success) == 1);
  CHECK(at(3, O::failure) == 1);  // malformed
  CHECK(at(anonymous, O::failure) == 1);
  CHECK(stats.authorisations_allowed == 2);
  CHECK(stats.authorisations_denied == 1);
  CHECK(stats.identities.hits == 1);
  CHECK(stats.identities.misses == 4);  // key_a, jwt_a, key_b, tg_ccc
  CHECK(stats.identities.evictions == 1);
  CHECK(stats.identities.entries == 1);
  CHECK(stats.decisions.hits == 1);
  CHECK(stats.decisions.misses == 2);
  CHECK(stats.decisions.entries == 2);

  iam::MetricsRegistry registry;
  REQUIRE(iam::register_enforcer_metrics(registry, gw.enforcer).ok());
  const std::string text = registry.text();
  CHECK(text.find("iam_authentications_total{source=\"api-key\",outcome=\"success\"} 2\n") != std::string::npos);
  CHECK(text.find("iam_authentications_total{source=\"malformed\",outcome=\"failure\"} 1\n") != std::string::npos);
  CHECK(text.find("iam_authorisations_total{outcome=\"deny\"} 1\n") != std::string::npos);
  CHECK(text.find("iam_cache_evictions_total{cache=\"identity\"} 1\n") != std::string::npos);
  CHECK(text.find("iam_cache_entries{cache=\"decision\"} 2\n") != std::string::npos);
  CHECK(iam::register_enforcer_metrics(registry, gw.enforcer).error().code == iam::ErrorCode::duplicate);
  CHECK(iam::register_enforcer_metrics(registry, nullptr).error().code == iam::ErrorCode::invalid_argument);
}

TEST_CASE("a login throttle counts its refusals (iam_login_throttled_total's source)") {
  auto clock = std::make_shared<iam::ManualClock>();
  iam::ThrottleConfig config;
  config.free_failures = 1;
  iam::Throttle throttle(config, clock);
  CHECK(throttle.allowed("k"));
  throttle.failed("k");
  CHECK(throttle.allowed("k"));
  throttle.failed("k");  // past the free failure: locked for first_delay (1 s)
  CHECK_FALSE(throttle.allowed("k"));
  CHECK_FALSE(throttle.allowed("k"));
  CHECK(throttle.allowed("other"));
  CHECK(throttle.refusals() == 2);
  clock->advance(1s);
  CHECK(throttle.allowed("k"));
  CHECK(throttle.refusals() == 2);
}
