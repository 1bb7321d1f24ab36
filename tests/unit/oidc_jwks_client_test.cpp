// The OIDC regime's key fetching and caching (regimes/oidc/jwks_client.h) against a
// scripted HTTP getter and a manual clock; the refresher thread against the real clock.
// Cache-Control parsing (regimes/oidc/cache_control.h) at the end.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "iam/clock.h"
#include "regimes/oidc/cache_control.h"
#include "regimes/oidc/jwks_client.h"

using namespace std::chrono_literals;
namespace oidc = iam::oidc;

namespace {

// Ed25519 public keys generated for these tests, so that the real JWKS parser takes them.
const char* const test_keys[] = {"QOTdWbtyKYMLvmXmTU6E247DliMRO7h2uXG9-g3NPz4",
                                 "bW2islAjL3rr9Tgk_uPPd3aJy2_YTvE2MCEZRefCjVI",
                                 "rYFP9Fv_3WdUIEw1tXXGBVFYCQSBvli8NSLbYE---78"};

// A JWKS document with one key per kid (at most three).
std::string jwks(const std::vector<std::string>& kids) {
  std::string out = R"({"keys":[)";
  for (std::size_t i = 0; i < kids.size(); ++i) {
    if (i > 0) out += ',';
    out += R"({"kty":"OKP","crv":"Ed25519","use":"sig","x":")" + std::string(test_keys[i]) + R"(","kid":")" +
           kids[i] + R"("})";
  }
  return out + "]}";
}

oidc::HttpResponse answer(long status, std::string body, std::optional<std::chrono::seconds> max_age = std::nullopt) {
  return oidc::HttpResponse{status, std::move(body), max_age};
}

// Answers each URL as told (an Error for "unreachable"), records every request, and can
// take its time.
class ScriptedHttp final : public oidc::HttpGetter {
 public:
  void set(const std::string& url, iam::Result<oidc::HttpResponse> response) {
    std::lock_guard lock(mu_);
    answers_.insert_or_assign(url, std::move(response));
  }
  void unreachable(const std::string& url) {
    set(url, iam::Error{iam::ErrorCode::internal_error, "connection refused"});
  }
  void set_delay(std::chrono::milliseconds delay) {
    std::lock_guard lock(mu_);
    delay_ = delay;
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t count() const { return requests().size(); }

  iam::Result<oidc::HttpResponse> get(const std::string& url) override {
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(url);
      delay = delay_;
    }
    std::this_thread::sleep_for(delay);
    std::lock_guard lock(mu_);
    const auto found = answers_.find(url);
    if (found == answers_.end()) return iam::Error{iam::ErrorCode::not_found, "no such host"};
    return found->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, iam::Result<oidc::HttpResponse>> answers_;
  std::vector<std::string> requests_;
  std::chrono::milliseconds delay_{0};
};

class ThrowingHttp final : public oidc::HttpGetter {
 public:
  iam::Result<oidc::HttpResponse> get(const std::string&) override { throw std::runtime_error("boom"); }
};

const std::string issuer = "https://idp.example.com/realms/acme";
const std::string jwks_url = "https://idp.example.com/realms/acme/protocol/openid-connect/certs";
const std::string discovery_url = "https://idp.example.com/realms/acme/.well-known/openid-configuration";

struct Fixture {
  std::shared_ptr<ScriptedHttp> http = std::make_shared<ScriptedHttp>();
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  oidc::JwksSourceConfig config;
  Fixture() {
    config.issuer = issuer;
    config.jwks_uri = jwks_url;
  }
  std::unique_ptr<oidc::JwksKeys> make() const { return std::make_unique<oidc::JwksKeys>(config, http, clock); }
  // Keys whose first fetch took a JWKS document with `kids`.
  std::unique_ptr<oidc::JwksKeys> started(const std::vector<std::string>& kids,
                                          std::optional<std::chrono::seconds> max_age = std::nullopt) const {
    http->set(jwks_url, answer(200, jwks(kids), max_age));
    auto keys = make();
    keys->refresh_if_due();
    return keys;
  }
};

// Runs body(i) on `threads` threads released together; returns when all are done.
void concurrently(int threads, const std::function<void(int)>& body) {
  std::latch go(threads);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      go.arrive_and_wait();
      body(i);
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace

TEST_CASE("the first refresh fetches the issuer's keys; key() answers them by kid") {
  Fixture f;
  f.http->set(jwks_url, answer(200, jwks({"k1", "k2"})));
  const auto keys = f.make();
  CHECK(keys->issuer() == issuer);
  CHECK(keys->stats().fetches == 0);
  CHECK_FALSE(keys->stats().ever_fetched);

  keys->refresh_if_due();
  const auto stats = keys->stats();
  CHECK(stats.fetches == 1);
  CHECK(stats.fetch_failures == 0);
  CHECK(stats.keys == 2);
  CHECK(stats.ever_fetched);
  REQUIRE(keys->key("k1") != nullptr);
  CHECK(keys->key("k1")->kid() == "k1");
  REQUIRE(keys->key("k2") != nullptr);
  CHECK(keys->key("k2")->kid() == "k2");
  CHECK(f.http->requests() == std::vector<std::string>{jwks_url});
}

TEST_CASE("keys are refreshed on the provider's max-age, clamped to [min_max_age, max_max_age]") {
  struct Case {
    std::optional<std::chrono::seconds> given;
    std::chrono::seconds used;
  };
  const Case cases[] = {
      {std::nullopt, 300s},  // default_max_age
      {100s, 100s},
      {5s, 30s},            // below min_max_age
      {0s, 30s},            // no-cache
      {864000s, 86400s},    // ten days: max_max_age
  };
  for (const Case& c : cases) {
    const auto used_seconds = c.used.count();
    CAPTURE(used_seconds);
    Fixture f;
    f.http->set(jwks_url, answer(200, jwks({"k1"}), c.given));
    const auto keys = f.make();
    const iam::TimePoint start = f.clock->now();
    CHECK(keys->refresh_if_due() == start + c.used);
    f.clock->advance(c.used - 1s);
    CHECK(keys->refresh_if_due() == start + c.used);
    CHECK(f.http->count() == 1);
    f.clock->advance(1s);
    CHECK(keys->refresh_if_due() == f.clock->now() + c.used);
    CHECK(f.http->count() == 2);
  }
}

TEST_CASE("a refreshed document replaces the keys: a rotated-out kid is gone") {
  Fixture f;
  const auto keys = f.started({"old"}, 60s);
  REQUIRE(keys->key("old") != nullptr);
  f.http->set(jwks_url, answer(200, jwks({"new"}), 60s));
  f.clock->advance(60s);
  keys->refresh_if_due();
  CHECK(keys->key("new") != nullptr);
  CHECK(keys->key("old") == nullptr);
}

TEST_CASE("an unknown kid refetches at once, then at most once per min_refresh") {
  Fixture f;
  const auto keys = f.started({"k1"});
  f.clock->advance(f.config.min_refresh);

  // The provider rotated in k2: the first request for it finds it.
  f.http->set(jwks_url, answer(200, jwks({"k1", "k2"})));
  REQUIRE(keys->key("k2") != nullptr);
  CHECK(f.http->count() == 2);

  // A kid the provider does not have: no fetch until min_refresh has passed.
  CHECK(keys->key("k3") == nullptr);
  CHECK(f.http->count() == 2);
  f.clock->advance(f.config.min_refresh - 1s);
  CHECK(keys->key("k3") == nullptr);
  CHECK(f.http->count() == 2);
  f.clock->advance(1s);
  CHECK(keys->key("k3") == nullptr);
  CHECK(f.http->count() == 3);
  // The rate limit holds for the scheduled refresh too: it is not due yet.
  keys->refresh_if_due();
  CHECK(f.http->count() == 3);
}

TEST_CASE("a flood of distinct unknown kids: fetches bounded by elapsed / min_refresh + 1") {
  Fixture f;
  const auto keys = f.started({"k1"});
  const auto elapsed = 2000s;
  for (int i = 0; i < elapsed.count(); ++i) {
    f.clock->advance(1s);
    CHECK(keys->key("unknown-" + std::to_string(i)) == nullptr);
    CHECK(keys->key("k1") != nullptr);
  }
  const auto flood_fetches = f.http->count() - 1;
  const auto bound = static_cast<std::size_t>(elapsed / f.config.min_refresh) + 1;
  CHECK(flood_fetches <= bound);
  CHECK(flood_fetches == static_cast<std::size_t>(elapsed / f.config.min_refresh));  // one per interval
}

TEST_CASE("concurrent requests for one unknown kid share one fetch") {
  Fixture f;
  const auto keys = f.started({"k1"});
  f.clock->advance(f.config.min_refresh);
  f.http->set(jwks_url, answer(200, jwks({"k1", "k2"})));
  f.http->set_delay(300ms);

  constexpr int threads = 8;
  std::atomic<int> found{0};
  concurrently(threads, [&](int) {
    if (keys->key("k2") != nullptr) ++found;
  });
  // A caller that missed the one fetch would get nullptr (min_refresh forbids another).
  CHECK(found.load() == threads);
  CHECK(f.http->count() == 2);
}

TEST_CASE("concurrent requests for many distinct unknown kids: still one fetch") {
  Fixture f;
  const auto keys = f.started({"k1"});
  f.clock->advance(f.config.min_refresh);
  f.http->set_delay(100ms);

  constexpr int threads = 8;
  std::atomic<int> missing{0};
  concurrently(threads, [&](int i) {
    for (int j = 0; j < 20; ++j)
      if (keys->key("unknown-" + std::to_string(i) + "-" + std::to_string(j)) == nullptr) ++missing;
  });
  CHECK(missing.load() == threads * 20);
  CHECK(f.http->count() == 2);
}

TEST_CASE("provider unreachable after start: the cached keys keep verifying, failures counted") {
  Fixture f;
  const auto keys = f.started({"k1"}, 60s);
  f.http->unreachable(jwks_url);

  f.clock->advance(60s);
  CHECK(keys->refresh_if_due() == f.clock->now() + f.config.min_refresh);  // retried after min_refresh
  auto stats = keys->stats();
  CHECK(stats.fetches == 2);
  CHECK(stats.fetch_failures == 1);
  CHECK(stats.keys == 1);
  CHECK(stats.ever_fetched);
  CHECK(stats.last_failure.find("connection refused") != std::string::npos);
  CHECK(keys->key("k1") != nullptr);

  f.clock->advance(10 * f.config.max_max_age);  // however long it stays down
  keys->refresh_if_due();
  CHECK(keys->stats().fetch_failures == 2);
  CHECK(keys->key("k1") != nullptr);

  // Back again: the next due refresh takes its document.
  f.http->set(jwks_url, answer(200, jwks({"k2"}), 60s));
  f.clock->advance(f.config.min_refresh);
  keys->refresh_if_due();
  CHECK(keys->key("k2") != nullptr);
  CHECK(keys->stats().fetch_failures == 2);
}

TEST_CASE("provider down from the start: key() answers nullptr, never throws, retries only every min_refresh") {
  Fixture f;
  f.http->unreachable(jwks_url);
  const auto keys = f.make();
  const iam::TimePoint start = f.clock->now();
  CHECK(keys->refresh_if_due() == start + f.config.min_refresh);
  CHECK(keys->key("k1") == nullptr);
  CHECK(keys->key("") == nullptr);
  auto stats = keys->stats();
  CHECK(stats.fetches == 1);
  CHECK(stats.fetch_failures == 1);
  CHECK(stats.keys == 0);
  CHECK_FALSE(stats.ever_fetched);

  f.clock->advance(f.config.min_refresh - 1s);
  CHECK(keys->key("k1") == nullptr);
  keys->refresh_if_due();
  CHECK(f.http->count() == 1);
  f.clock->advance(1s);
  CHECK(keys->key("k1") == nullptr);
  CHECK(f.http->count() == 2);

  // It comes up: the first request after min_refresh fetches and finds the key.
  f.http->set(jwks_url, answer(200, jwks({"k1"})));
  f.clock->advance(f.config.min_refresh);
  CHECK(keys->key("k1") != nullptr);
  CHECK(keys->stats().ever_fetched);
}

TEST_CASE("a getter that throws is a failed fetch, not an exception") {
  Fixture f;
  oidc::JwksKeys keys(f.config, std::make_shared<ThrowingHttp>(), f.clock);
  std::shared_ptr<const oidc::PublicJwk> key;
  CHECK_NOTHROW(keys.refresh_if_due());
  CHECK_NOTHROW(key = keys.key("k1"));
  CHECK(key == nullptr);
  CHECK(keys.stats().fetch_failures == 1);
  CHECK(keys.stats().last_failure.find("boom") != std::string::npos);
}

TEST_CASE("a fetched document that fails to parse, or a status other than 200, keeps the previous keys") {
  struct Case {
    const char* name;
    iam::Result<oidc::HttpResponse> response;
  };
  const Case cases[] = {
      {"500 with a JWKS body", answer(500, jwks({"k2"}))},
      {"302 with a JWKS body", answer(302, jwks({"k2"}))},
      {"204", answer(204, "")},
      {"malformed JSON", answer(200, R"({"keys":[)")},
      {"not a JWKS", answer(200, R"({"keys":5})")},
      {"an array", answer(200, R"([])")},
      {"empty body", answer(200, "")},
      {"body too large", iam::Error{iam::ErrorCode::invalid_argument, "response body over 524288 bytes"}},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    Fixture f;
    const auto keys = f.started({"k1"}, 60s);
    f.http->set(jwks_url, c.response);
    f.clock->advance(60s);
    keys->refresh_if_due();
    CHECK(f.http->count() == 2);
    CHECK(keys->stats().fetch_failures == 1);
    CHECK(keys->stats().keys == 1);
    CHECK(keys->key("k1") != nullptr);
    CHECK(keys->key("k2") == nullptr);
  }
}

TEST_CASE("a kid-less token gets the only key, and none when there are several") {
  Fixture f;
  const auto keys = f.started({"k1"}, 60s);
  REQUIRE(keys->key("") != nullptr);
  CHECK(keys->key("")->kid() == "k1");

  f.http->set(jwks_url, answer(200, jwks({"k1", "k2"}), 60s));
  f.clock->advance(60s);
  keys->refresh_if_due();
  CHECK(keys->stats().keys == 2);
  CHECK(keys->key("") == nullptr);
}

TEST_CASE("discovery: jwks_uri from {issuer}/.well-known/openid-configuration") {
  const std::string document = R"({"issuer":")" + issuer + R"(","jwks_uri":")" + jwks_url + R"("})";

  SUBCASE("found, then remembered; rediscovered after the JWKS fetch fails") {
    Fixture f;
    f.config.jwks_uri.reset();
    f.http->set(discovery_url, answer(200, document));
    const auto keys = f.started({"k1"}, 60s);
    CHECK(f.http->requests() == std::vector<std::string>{discovery_url, jwks_url});
    CHECK(keys->key("k1") != nullptr);
    CHECK(keys->stats().fetches == 2);  // discovery counts

    f.clock->advance(60s);
    keys->refresh_if_due();
    CHECK(f.http->requests() == std::vector<std::string>{discovery_url, jwks_url, jwks_url});

    f.http->set(jwks_url, answer(404, "moved"));
    f.clock->advance(60s);
    keys->refresh_if_due();
    f.http->set(jwks_url, answer(200, jwks({"k1"}), 60s));
    f.clock->advance(f.config.min_refresh);
    keys->refresh_if_due();
    CHECK(f.http->requests() ==
          std::vector<std::string>{discovery_url, jwks_url, jwks_url, jwks_url, discovery_url, jwks_url});
  }

  SUBCASE("an issuer ending in / loses it before the well-known path, and must match exactly") {
    Fixture f;
    f.config.issuer = "https://idp.example.com/";
    f.config.jwks_uri.reset();
    const std::string url = "https://idp.example.com/.well-known/openid-configuration";
    f.http->set(url, answer(200, R"({"issuer":"https://idp.example.com","jwks_uri":")" + jwks_url + R"("})"));
    const auto keys = f.started({"k1"});
    CHECK(f.http->requests() == std::vector<std::string>{url});  // "…com" is not "…com/"
    CHECK(keys->key("k1") == nullptr);

    f.http->set(url, answer(200, R"({"issuer":"https://idp.example.com/","jwks_uri":")" + jwks_url + R"("})"));
    f.clock->advance(f.config.min_refresh);
    CHECK(keys->key("k1") != nullptr);
  }

  SUBCASE("refused documents: nothing more is fetched, no key") {
    const std::pair<const char*, iam::Result<oidc::HttpResponse>> refused[] = {
        {"another issuer", answer(200, R"({"issuer":"https://evil.example.com/realms/acme","jwks_uri":")" + jwks_url + R"("})")},
        {"issuer missing", answer(200, R"({"jwks_uri":")" + jwks_url + R"("})")},
        {"issuer not a string", answer(200, R"({"issuer":1,"jwks_uri":")" + jwks_url + R"("})")},
        {"jwks_uri a file", answer(200, R"({"issuer":")" + issuer + R"(","jwks_uri":"file:///etc/passwd"})")},
        {"jwks_uri ftp", answer(200, R"({"issuer":")" + issuer + R"(","jwks_uri":"ftp://idp.example.com/certs"})")},
        {"jwks_uri a bare scheme", answer(200, R"({"issuer":")" + issuer + R"(","jwks_uri":"https://"})")},
        {"jwks_uri relative", answer(200, R"({"issuer":")" + issuer + R"(","jwks_uri":"/certs"})")},
        {"jwks_uri missing", answer(200, R"({"issuer":")" + issuer + R"("})")},
        {"jwks_uri not a string", answer(200, R"({"issuer":")" + issuer + R"(","jwks_uri":["x"]})")},
        {"not JSON", answer(200, "<html>")},
        {"an array", answer(200, "[]")},
        {"nested too deeply", answer(200, std::string(100, '[') + std::string(100, ']'))},
        {"status 404", answer(404, document)},
        {"unreachable", iam::Error{iam::ErrorCode::internal_error, "connection refused"}},
    };
    for (const auto& entry : refused) {
      const std::string name = entry.first;
      CAPTURE(name);
      Fixture f;
      f.config.jwks_uri.reset();
      f.http->set(discovery_url, entry.second);
      const auto keys = f.started({"k1"});
      CHECK(f.http->requests() == std::vector<std::string>{discovery_url});
      CHECK(keys->stats().fetch_failures == 1);
      CHECK(keys->key("k1") == nullptr);
    }
  }

  SUBCASE("an http jwks_uri is taken (the scheme in any case)") {
    Fixture f;
    f.config.jwks_uri.reset();
    const std::string plain = "HTTP://127.0.0.1:8080/certs";
    f.http->set(discovery_url, answer(200, R"({"issuer":")" + issuer + R"(","jwks_uri":")" + plain + R"("})"));
    f.http->set(plain, answer(200, jwks({"k1"})));
    const auto keys = f.make();
    keys->refresh_if_due();
    CHECK(keys->key("k1") != nullptr);
  }
}

// --- the refresher thread, on the real clock ---------------------------------------------

namespace {

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

oidc::JwksSourceConfig fast_config(const std::string& name) {
  oidc::JwksSourceConfig config;
  config.issuer = "https://" + name + ".example.com";
  config.jwks_uri = config.issuer + "/certs";
  config.min_refresh = 1s;
  config.min_max_age = 1s;
  return config;
}

}  // namespace

TEST_CASE("refresher: the first fetch is done when start() returns, then each source on its max-age") {
  auto http = std::make_shared<ScriptedHttp>();
  const auto up = fast_config("up");
  const auto down = fast_config("down");
  http->set(*up.jwks_uri, answer(200, jwks({"k1"}), 1s));
  http->unreachable(*down.jwks_uri);
  auto up_keys = std::make_shared<oidc::JwksKeys>(up, http, iam::system_clock());
  auto down_keys = std::make_shared<oidc::JwksKeys>(down, http, iam::system_clock());

  const auto started = std::chrono::steady_clock::now();
  {
    oidc::JwksRefresher refresher({up_keys, down_keys});
    refresher.start();
    CHECK(up_keys->stats().fetches == 1);
    CHECK(up_keys->stats().keys == 1);
    CHECK(down_keys->stats().fetch_failures == 1);

    CHECK(eventually([&] { return up_keys->stats().fetches >= 3 && down_keys->stats().fetches >= 3; }));
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  // Once per second each (max-age and min_refresh are 1 s), never more often.
  const auto bound = static_cast<std::uint64_t>(elapsed / 1s) + 1;
  CHECK(up_keys->stats().fetches <= bound);
  CHECK(down_keys->stats().fetches <= bound);
  CHECK(up_keys->stats().fetch_failures == 0);
  // Stopped: nothing more is fetched.
  const auto fetched = http->count();
  std::this_thread::sleep_for(1500ms);
  CHECK(http->count() == fetched);
}

TEST_CASE("refresher: destruction stops the thread promptly while it sleeps") {
  auto http = std::make_shared<ScriptedHttp>();
  const auto config = fast_config("idle");
  http->set(*config.jwks_uri, answer(200, jwks({"k1"}), 3600s));
  auto keys = std::make_shared<oidc::JwksKeys>(config, http, iam::system_clock());
  auto refresher = std::make_unique<oidc::JwksRefresher>(std::vector<std::shared_ptr<oidc::JwksKeys>>{keys});
  refresher->start();
  std::this_thread::sleep_for(50ms);
  const auto before = std::chrono::steady_clock::now();
  refresher.reset();
  CHECK(std::chrono::steady_clock::now() - before < 1s);
  CHECK(http->count() == 1);
}

// --- Cache-Control -------------------------------------------------------------------------

TEST_CASE("Cache-Control max-age") {
  using oidc::parse_cache_control_max_age;
  CHECK(parse_cache_control_max_age("max-age=60") == 60s);
  CHECK(parse_cache_control_max_age("public, max-age=3600, must-revalidate") == 3600s);
  CHECK(parse_cache_control_max_age("  MAX-AGE=7 ") == 7s);
  CHECK(parse_cache_control_max_age(R"(max-age="15")") == 15s);
  CHECK(parse_cache_control_max_age("max-age=60, max-age=10") == 60s);  // the first counts
  CHECK(parse_cache_control_max_age("max-age=0") == 0s);
  CHECK(parse_cache_control_max_age("no-cache") == 0s);
  CHECK(parse_cache_control_max_age("max-age=60, no-store") == 0s);
  CHECK(parse_cache_control_max_age("max-age=99999999999999999999999") == std::chrono::seconds(2147483647));
  CHECK_FALSE(parse_cache_control_max_age("").has_value());
  CHECK_FALSE(parse_cache_control_max_age("public").has_value());
  CHECK_FALSE(parse_cache_control_max_age("s-maxage=60").has_value());
  CHECK_FALSE(parse_cache_control_max_age("max-age").has_value());
  CHECK_FALSE(parse_cache_control_max_age("max-age=").has_value());
  CHECK_FALSE(parse_cache_control_max_age("max-age=-5").has_value());
  CHECK_FALSE(parse_cache_control_max_age("max-age=1h").has_value());
  CHECK_FALSE(parse_cache_control_max_age("max-age = 60").has_value());
  CHECK_FALSE(parse_cache_control_max_age("max-age=abc, max-age=60").has_value());  // the first counts
  CHECK_FALSE(parse_cache_control_max_age(R"(max-age=")").has_value());
}
