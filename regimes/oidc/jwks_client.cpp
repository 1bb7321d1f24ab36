// regimes/oidc/jwks_client.cpp — fetching and caching each trusted issuer's keys (see
// jwks_client.h).
//
// One fetch at a time per issuer: the caller that claims it (`fetching`) does the HTTP work
// with the mutex released, and every caller that needs keys meanwhile waits for it and
// reads its result, so a burst of requests for a new kid costs one fetch. Every attempt,
// successful or not, starts the min_refresh interval.
#include "jwks_client.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <thread>
#include <utility>

#include "core/bounded_json.h"
#include "core/mutex.h"

namespace iam::oidc {
namespace {

// A discovery document is a flat object of a few KiB; this leaves ample room.
constexpr JsonLimits discovery_json_limits{8, max_jwks_bytes};

// http:// or https:// (scheme in any case) and something after it.
bool is_http_url(std::string_view url) {
  const auto end = url.find("://");
  if (end == std::string_view::npos || end + 3 == url.size()) return false;
  std::string scheme(url.substr(0, end));
  for (char& c : scheme)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return scheme == "http" || scheme == "https";
}

// OpenID Connect Discovery 1.0 §4: a terminating "/" of the issuer is removed first.
std::string discovery_url(std::string_view issuer) {
  if (!issuer.empty() && issuer.back() == '/') issuer.remove_suffix(1);
  return std::string(issuer) + "/.well-known/openid-configuration";
}

Result<std::string> jwks_uri_from_discovery(const HttpResponse& response, const std::string& issuer) {
  if (response.status != 200)
    return Error{ErrorCode::invalid_argument, "discovery answered HTTP " + std::to_string(response.status)};
  auto document = parse_json_bounded(response.body, discovery_json_limits);
  if (!document) return Error{ErrorCode::invalid_argument, "discovery document: " + document.error().message};
  const nlohmann::json& json = document.value();
  if (!json.is_object()) return Error{ErrorCode::invalid_argument, "discovery document is not an object"};
  // A provider answering for another issuer must not supply this one's keys (Discovery §4.3).
  const auto named = json.find("issuer");
  if (named == json.end() || !named->is_string() || named->get_ref<const std::string&>() != issuer)
    return Error{ErrorCode::invalid_argument, "discovery document names another issuer"};
  const auto uri = json.find("jwks_uri");
  if (uri == json.end() || !uri->is_string() || !is_http_url(uri->get_ref<const std::string&>()))
    return Error{ErrorCode::invalid_argument, "discovery document has no http(s) jwks_uri"};
  return uri->get<std::string>();
}

struct Fetched {
  std::vector<std::shared_ptr<const PublicJwk>> keys;
  std::optional<std::chrono::seconds> max_age;
};

}  // namespace

struct JwksKeys::State {
  State(JwksSourceConfig c, std::shared_ptr<HttpGetter> h, std::shared_ptr<const Clock> k)
      : config(std::move(c)), http(std::move(h)), clock(std::move(k)) {}

  const JwksSourceConfig config;
  const std::shared_ptr<HttpGetter> http;
  const std::shared_ptr<const Clock> clock;

  mutable Mutex mu;
  std::condition_variable_any fetch_done;  // waits on mu for `fetching` to clear
  bool fetching IAM_GUARDED_BY(mu) = false;
  std::vector<std::shared_ptr<const PublicJwk>> keys IAM_GUARDED_BY(mu);
  std::optional<TimePoint> last_attempt IAM_GUARDED_BY(mu);
  TimePoint stale_after IAM_GUARDED_BY(mu){};  // the keys' max-age ends
  std::optional<std::string> discovered_jwks_uri IAM_GUARDED_BY(mu);
  JwksStats stats IAM_GUARDED_BY(mu);

  std::shared_ptr<const PublicJwk> find(std::string_view kid) const IAM_REQUIRES(mu) {
    if (kid.empty()) return keys.size() == 1 ? keys.front() : nullptr;
    for (const auto& key : keys)
      if (key->kid() == kid) return key;
    return nullptr;
  }

  // min_refresh has passed since the last attempt (or there was none). A clock set back
  // counts as passed, so a step backwards cannot silence an issuer for that long.
  bool may_fetch(TimePoint now) const IAM_REQUIRES(mu) {
    return !last_attempt || now < *last_attempt || now - *last_attempt >= config.min_refresh;
  }

  TimePoint next_due() const IAM_REQUIRES(mu) {
    const TimePoint retry = last_attempt ? *last_attempt + config.min_refresh : clock->now();
    return stats.ever_fetched ? std::max(stale_after, retry) : retry;
  }

  // Claims the one fetch (the caller then calls fetch_claimed). False when another caller
  // holds it (after waiting for it to finish) or min_refresh forbids one now.
  bool claim_fetch() IAM_REQUIRES(mu) {
    if (fetching) {
      fetch_done.wait(mu, [&]() IAM_REQUIRES(mu) { return !fetching; });
      return false;
    }
    const TimePoint now = clock->now();
    if (!may_fetch(now)) return false;
    fetching = true;
    last_attempt = now;
    return true;
  }

  // The claimed fetch: HTTP with the mutex released, then the result installed. Nothing
  // escapes, so `fetching` is always cleared and no waiter hangs.
  void fetch_claimed() IAM_EXCLUDES(mu) {
    Result<Fetched> fetched = Error{ErrorCode::internal_error, "no fetch"};
    try {
      fetched = download();
    } catch (const std::exception& e) {
      fetched = Error{ErrorCode::internal_error, std::string("fetch failed: ") + e.what()};
    } catch (...) {
      fetched = Error{ErrorCode::internal_error, "fetch failed"};
    }
    MutexLock lock(mu);
    if (fetched) {
      keys = std::move(fetched.value().keys);
      const auto max_age = std::clamp(fetched.value().max_age.value_or(config.default_max_age),
                                      config.min_max_age, config.max_max_age);
      stale_after = *last_attempt + max_age;
      stats.ever_fetched = true;
    } else {
      ++stats.fetch_failures;
      stats.last_failure = config.issuer + ": " + fetched.error().message;
    }
    fetching = false;
    fetch_done.notify_all();
  }

  Result<HttpResponse> get(const std::string& url) IAM_EXCLUDES(mu) {
    {
      MutexLock lock(mu);
      ++stats.fetches;
    }
    return http->get(url);
  }

  Result<std::string> jwks_uri() IAM_EXCLUDES(mu) {
    if (config.jwks_uri) return *config.jwks_uri;
    {
      MutexLock lock(mu);
      if (discovered_jwks_uri) return *discovered_jwks_uri;
    }
    auto response = get(discovery_url(config.issuer));
    if (!response) return std::move(response).error();
    auto uri = jwks_uri_from_discovery(response.value(), config.issuer);
    if (!uri) return std::move(uri).error();
    MutexLock lock(mu);
    discovered_jwks_uri = uri.value();
    return uri;
  }

  Result<Fetched> download() IAM_EXCLUDES(mu) {
    auto uri = jwks_uri();
    if (!uri) return std::move(uri).error();
    auto response = get(uri.value());
    if (!response || response.value().status != 200) {
      // The provider may have moved its keys: discover again next time.
      MutexLock lock(mu);
      discovered_jwks_uri.reset();
      if (!response) return std::move(response).error();
      return Error{ErrorCode::invalid_argument, "JWKS answered HTTP " + std::to_string(response.value().status)};
    }
    auto parsed = parse_jwks(response.value().body);
    if (!parsed) return Error{ErrorCode::invalid_argument, "JWKS document: " + parsed.error().message};
    Fetched out;
    out.max_age = response.value().max_age;
    for (PublicJwk& key : parsed.value()) out.keys.push_back(std::make_shared<const PublicJwk>(std::move(key)));
    return out;
  }
};

JwksKeys::JwksKeys(JwksSourceConfig config, std::shared_ptr<HttpGetter> http, std::shared_ptr<const Clock> clock)
    : state_(std::make_unique<State>(std::move(config), std::move(http), std::move(clock))) {}

JwksKeys::~JwksKeys() = default;

const std::string& JwksKeys::issuer() const noexcept { return state_->config.issuer; }

std::shared_ptr<const PublicJwk> JwksKeys::key(std::string_view kid) {
  State& s = *state_;
  {
    MutexLock lock(s.mu);
    if (auto found = s.find(kid)) return found;
    if (!s.claim_fetch()) return s.find(kid);  // another caller's fetch, or too soon
  }
  s.fetch_claimed();
  MutexLock lock(s.mu);
  return s.find(kid);
}

TimePoint JwksKeys::refresh_if_due() {
  State& s = *state_;
  {
    MutexLock lock(s.mu);
    const bool due = !s.stats.ever_fetched || s.clock->now() >= s.stale_after;
    if (!due || !s.claim_fetch()) return s.next_due();
  }
  s.fetch_claimed();
  MutexLock lock(s.mu);
  return s.next_due();
}

JwksStats JwksKeys::stats() const {
  MutexLock lock(state_->mu);
  JwksStats out = state_->stats;
  out.keys = state_->keys.size();
  return out;
}

// ---------------------------------------------------------------------------------------

struct JwksRefresher::State {
  explicit State(std::vector<std::shared_ptr<JwksKeys>> s) : sources(std::move(s)) {}

  const std::vector<std::shared_ptr<JwksKeys>> sources;
  Mutex mu;
  std::condition_variable_any wake;  // waits on mu for `stop`
  bool stop IAM_GUARDED_BY(mu) = false;
  std::thread thread;  // started and joined by the owner's thread only

  // Refreshes what is due; answers how long until the next source is due (each source's
  // due time is on its own clock).
  std::chrono::nanoseconds refresh_due_sources() IAM_EXCLUDES(mu) {
    std::optional<std::chrono::nanoseconds> wait;
    for (const auto& source : sources) {
      const TimePoint due = source->refresh_if_due();
      const auto until = due - source->state_->clock->now();
      if (!wait || until < *wait) wait = until;
    }
    return wait.value_or(std::chrono::hours(24));
  }

  void run() IAM_EXCLUDES(mu) {
    for (;;) {
      const auto wait = std::max(refresh_due_sources(), std::chrono::nanoseconds(0));
      MutexLock lock(mu);
      // wait_for with a huge duration overflows some implementations; a day is plenty.
      const auto bounded = std::min<std::chrono::nanoseconds>(wait, std::chrono::hours(24));
      if (wake.wait_for(mu, bounded, [&]() IAM_REQUIRES(mu) { return stop; })) return;
    }
  }
};

JwksRefresher::JwksRefresher(std::vector<std::shared_ptr<JwksKeys>> sources)
    : state_(std::make_unique<State>(std::move(sources))) {}

JwksRefresher::~JwksRefresher() {
  {
    MutexLock lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

void JwksRefresher::start() {
  if (state_->thread.joinable()) return;
  state_->refresh_due_sources();
  state_->thread = std::thread([state = state_.get()] { state->run(); });
}

}  // namespace iam::oidc
