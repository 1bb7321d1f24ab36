// regimes/oidc/jwks_client.h — fetching and caching each trusted issuer's keys (internal).
//
// Keys are fetched at start and refreshed in the background on the provider's
// Cache-Control max-age (bounded). A kid the cached set lacks triggers at most one refetch
// per issuer per `min_refresh`, and concurrent requests for it share that one fetch. While
// a provider is unreachable, the keys already fetched keep verifying; an issuer whose
// provider never answered has no keys, so its tokens fail (fail closed). Nothing throws.
//
// THREAD SAFETY: JwksKeys and JwksRefresher are safe to share between threads.
// OWNERSHIP: a JwksKeys holds its HttpGetter and clock; the refresher holds its sources
// and stops its thread when destroyed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iam/clock.h"
#include "iam/status.h"
#include "jwk.h"

namespace iam::oidc {

struct HttpResponse {
  long status = 0;
  std::string body;
  std::optional<std::chrono::seconds> max_age;  // Cache-Control max-age, when given
};

// An HTTP GET. Implementations bound the body size and the time taken, follow no redirect
// to another scheme, and answer an Error (never throw) when there is no response.
class HttpGetter {
 public:
  virtual ~HttpGetter() = default;
  virtual Result<HttpResponse> get(const std::string& url) = 0;
};

struct HttpLimits {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{5000};
  std::size_t max_body_bytes = max_jwks_bytes;
};
// libcurl, http and https only, TLS peer and host verified.
std::shared_ptr<HttpGetter> make_curl_getter(HttpLimits limits = {});

struct JwksSourceConfig {
  std::string issuer;
  std::optional<std::string> jwks_uri;  // else discovered: {issuer}/.well-known/openid-configuration
  std::chrono::seconds min_refresh{30};          // jwks_min_refresh_seconds
  std::chrono::seconds default_max_age{300};     // when the provider gives no max-age
  std::chrono::seconds max_max_age{24 * 3600};   // the bound on a provider's max-age
  std::chrono::seconds min_max_age{30};          // a shorter max-age counts as this
};

struct JwksStats {
  std::uint64_t fetches = 0;          // HTTP requests made for this issuer (discovery included)
  std::uint64_t fetch_failures = 0;
  std::size_t keys = 0;               // usable keys held now
  bool ever_fetched = false;          // some fetch has succeeded
  std::string last_failure;           // why the last failed fetch failed (no secrets), for operators
};

class JwksKeys {
 public:
  JwksKeys(JwksSourceConfig config, std::shared_ptr<HttpGetter> http, std::shared_ptr<const Clock> clock);
  ~JwksKeys();
  JwksKeys(const JwksKeys&) = delete;
  JwksKeys& operator=(const JwksKeys&) = delete;

  const std::string& issuer() const noexcept;
  // The key for `kid` (a kid-less token gets the only key, when there is exactly one). On a
  // kid it lacks, refetches at most once per min_refresh (shared by concurrent callers)
  // and looks again; nullptr when still missing.
  std::shared_ptr<const PublicJwk> key(std::string_view kid);
  // Fetches now when the cached keys are past their max-age, or none were ever fetched and
  // min_refresh has passed since the last try. Answers when it should be called next.
  TimePoint refresh_if_due();
  JwksStats stats() const;

 private:
  friend class JwksRefresher;  // reads the clock that refresh_if_due's answer is on
  struct State;
  std::unique_ptr<State> state_;
};

// Runs refresh_if_due for every source on one background thread: once at start (before
// start() returns, so keys are there for the first request when the provider answers),
// then whenever each is due.
class JwksRefresher {
 public:
  explicit JwksRefresher(std::vector<std::shared_ptr<JwksKeys>> sources);
  ~JwksRefresher();  // stops and joins the thread
  JwksRefresher(const JwksRefresher&) = delete;
  JwksRefresher& operator=(const JwksRefresher&) = delete;
  void start();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace iam::oidc
