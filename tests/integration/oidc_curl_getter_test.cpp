// The libcurl getter (make_curl_getter) and JwksKeys over it, against the real HTTP and
// HTTPS servers that oidc_jwks_fetch.py starts on loopback and names in the environment.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/clock.h"
#include "regimes/oidc/jwks_client.h"

using namespace std::chrono_literals;
namespace oidc = iam::oidc;

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  REQUIRE_MESSAGE(value != nullptr, name << " is not set: run this through oidc_jwks_fetch.py");
  return value;
}

std::string http_base() { return env("IAM_OIDC_HTTP"); }

// How often the server has been asked for `path` (asked through a plain getter).
int hits(const std::string& path) {
  const auto response = oidc::make_curl_getter()->get(http_base() + "/hits?path=" + path);
  REQUIRE(response);
  REQUIRE(response.value().status == 200);
  return nlohmann::json::parse(response.value().body).at("hits").get<int>();
}

}  // namespace

TEST_CASE("a JWKS document, its status and its Cache-Control max-age") {
  const auto getter = oidc::make_curl_getter();
  const auto response = getter->get(http_base() + "/jwks");
  REQUIRE(response);
  CHECK(response.value().status == 200);
  CHECK(response.value().max_age == 120s);
  const auto keys = oidc::parse_jwks(response.value().body);
  REQUIRE(keys);
  CHECK(keys.value().size() == 2);

  const auto plain = getter->get(http_base() + "/jwks-plain");
  REQUIRE(plain);
  CHECK_FALSE(plain.value().max_age.has_value());

  const auto two_lines = getter->get(http_base() + "/jwks-two-lines");
  REQUIRE(two_lines);
  CHECK(two_lines.value().max_age == 45s);

  const auto failed = getter->get(http_base() + "/status-500");
  REQUIRE(failed);  // an answer, which the caller refuses
  CHECK(failed.value().status == 500);
}

TEST_CASE("redirects are not followed") {
  const auto getter = oidc::make_curl_getter();
  const int before = hits("/jwks");
  const auto redirected = getter->get(http_base() + "/redirect");
  REQUIRE(redirected);
  CHECK(redirected.value().status == 302);
  CHECK(hits("/jwks") == before);
  const auto to_file = getter->get(http_base() + "/redirect-file");
  REQUIRE(to_file);
  CHECK(to_file.value().status == 302);
  CHECK(to_file.value().body.empty());
}

TEST_CASE("the body is bounded: a larger answer is an error, with or without Content-Length") {
  oidc::HttpLimits limits;
  limits.max_body_bytes = 64 * 1024;
  const auto getter = oidc::make_curl_getter(limits);
  const auto at_limit = getter->get(http_base() + "/big?size=65536");
  REQUIRE(at_limit);
  CHECK(at_limit.value().body.size() == 65536);

  const auto over = getter->get(http_base() + "/big?size=65537");
  REQUIRE_FALSE(over);
  CHECK(over.error().message.find("over 65536 bytes") != std::string::npos);

  const auto started = std::chrono::steady_clock::now();
  const auto chunked = getter->get(http_base() + "/big-chunked?size=104857600");  // 100 MiB offered
  REQUIRE_FALSE(chunked);
  CHECK(chunked.error().message.find("over 65536 bytes") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < 5s);  // aborted, not read to the end
}

TEST_CASE("a slow server is cut off at the total timeout") {
  oidc::HttpLimits limits;
  limits.total_timeout = 500ms;
  const auto started = std::chrono::steady_clock::now();
  const auto response = oidc::make_curl_getter(limits)->get(http_base() + "/slow");
  CHECK_FALSE(response);
  CHECK(std::chrono::steady_clock::now() - started < 2500ms);
}

TEST_CASE("http and https only; nothing listening is an error") {
  const auto getter = oidc::make_curl_getter();
  for (const std::string url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/x", "dict://127.0.0.1/x"}) {
    CAPTURE(url);
    CHECK_FALSE(getter->get(url));
  }
  const auto refused = getter->get("http://127.0.0.1:" + env("IAM_OIDC_CLOSED_PORT") + "/jwks");
  CHECK_FALSE(refused);
}

TEST_CASE("TLS: a certificate the system does not trust is refused") {
  const auto getter = oidc::make_curl_getter();
  const auto response = getter->get(env("IAM_OIDC_HTTPS") + "/jwks");
  REQUIRE_FALSE(response);
  CHECK(response.error().message.find("certificate") != std::string::npos);
}

TEST_CASE("JwksKeys over libcurl: discovery, then unknown kids cost one fetch per min_refresh") {
  oidc::JwksSourceConfig config;
  config.issuer = http_base();  // the server's discovery document names itself
  auto keys = std::make_shared<oidc::JwksKeys>(config, oidc::make_curl_getter(), iam::system_clock());
  const int discovery_before = hits("/.well-known/openid-configuration");
  const int jwks_before = hits("/jwks");
  {
    oidc::JwksRefresher refresher({keys});
    refresher.start();
    CHECK(keys->stats().keys == 2);
    CHECK(keys->key("k1") != nullptr);
    CHECK(keys->key("k2") != nullptr);

    // Eight threads at once, each asking 25 kids the provider does not have.
    std::latch go(8);
    std::atomic<int> found{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 8; ++t) {
      pool.emplace_back([&, t] {
        go.arrive_and_wait();
        for (int i = 0; i < 25; ++i)
          if (keys->key("unknown-" + std::to_string(t) + "-" + std::to_string(i)) != nullptr) ++found;
      });
    }
    for (auto& thread : pool) thread.join();
    CHECK(found.load() == 0);
  }
  CHECK(hits("/.well-known/openid-configuration") == discovery_before + 1);
  // The first fetch at start; 200 unknown kids within min_refresh (30 s) add none.
  CHECK(hits("/jwks") == jwks_before + 1);
  CHECK(keys->stats().fetch_failures == 0);
}

TEST_CASE("JwksKeys over libcurl: concurrent first requests share one fetch") {
  oidc::JwksSourceConfig config;
  config.issuer = "https://idp.invalid";
  config.jwks_uri = http_base() + "/jwks";
  auto keys = std::make_shared<oidc::JwksKeys>(config, oidc::make_curl_getter(), iam::system_clock());
  const int before = hits("/jwks");
  std::latch go(8);
  std::atomic<int> found{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t) {
    pool.emplace_back([&] {
      go.arrive_and_wait();
      if (keys->key("k1") != nullptr) ++found;
    });
  }
  for (auto& thread : pool) thread.join();
  CHECK(found.load() == 8);
  CHECK(hits("/jwks") == before + 1);
}

TEST_CASE("JwksKeys over libcurl: a provider down from the start fails closed") {
  oidc::JwksSourceConfig config;
  config.issuer = "https://idp.invalid";
  config.jwks_uri = "http://127.0.0.1:" + env("IAM_OIDC_CLOSED_PORT") + "/jwks";
  auto keys = std::make_shared<oidc::JwksKeys>(config, oidc::make_curl_getter(), iam::system_clock());
  {
    oidc::JwksRefresher refresher({keys});
    refresher.start();
  }
  CHECK(keys->key("k1") == nullptr);
  CHECK(keys->key("") == nullptr);
  const auto stats = keys->stats();
  CHECK(stats.fetches == 1);  // the retry waits for min_refresh
  CHECK(stats.fetch_failures == 1);
  CHECK_FALSE(stats.ever_fetched);
  CHECK_FALSE(stats.last_failure.empty());
}
