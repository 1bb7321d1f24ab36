// Shared helpers of the OIDC and chain regime tests: an identity provider played by the
// test (Ed25519 keys signed with libsodium through jwt_test_support.h, independent of the
// OpenSSL verifier under test), its JWKS served by a counting fake HTTP getter, a capturing
// audit sink and a regime built on them with a ManualClock.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/audit.h"
#include "iam/jwt.h"
#include "iam/oidc.h"
#include "jwt_test_support.h"
#include "roles_test_support.h"
#include "regimes/oidc/oidc_regime.h"

namespace oidc_test {

using nlohmann::json;
using namespace std::chrono_literals;

// Serves fixed bodies by URL; counts every request; `down` makes every request fail.
class FakeHttp final : public iam::oidc::HttpGetter {
 public:
  void serve(const std::string& url, std::string body) {
    std::lock_guard lock(mu_);
    bodies_[url] = std::move(body);
  }
  void set_down(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }
  std::size_t requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  iam::Result<iam::oidc::HttpResponse> get(const std::string& url) override {
    std::lock_guard lock(mu_);
    ++requests_;
    if (down_) return iam::Error{iam::ErrorCode::internal_error, "connection refused"};
    const auto it = bodies_.find(url);
    if (it == bodies_.end()) return iam::oidc::HttpResponse{404, "", std::nullopt};
    return iam::oidc::HttpResponse{200, it->second, std::nullopt};
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> bodies_;
  std::size_t requests_ = 0;
  bool down_ = false;
};

using roles_test::CapturingSink;

// The last event of that name, or an empty one.
inline iam::AuditEvent last_event(const CapturingSink& sink, std::string_view name) {
  const auto all = sink.named(name);
  return all.empty() ? iam::AuditEvent{} : all.back();
}
// A field of an event, "<absent>" when it has none.
inline std::string field_of(const iam::AuditEvent& event, std::string_view key) {
  const std::string* value = event.field(key);
  return value ? *value : "<absent>";
}

// One identity provider: an issuer URL, its signing key and the JWKS it publishes.
struct Provider {
  std::string issuer;
  iam::SigningKey key;

  Provider(std::string iss, std::uint8_t seed_fill, std::string kid = "k1")
      : issuer(std::move(iss)), key(jwt_test::make_key(std::move(kid), seed_fill, iam::TimePoint{})) {}

  std::string jwks_uri() const { return issuer + "/jwks"; }
  std::string jwks() const { return R"({"keys":[)" + iam::public_key_to_jwk(key.public_key, key.kid) + "]}"; }

  // A token over exactly these claims, signed by this provider's key.
  std::string sign(const json& claims, std::string_view kid = "") const {
    const json header{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", kid.empty() ? key.kid : std::string(kid)}};
    return jwt_test::sign_input(key.secret_key, jwt_test::b64(header.dump()) + '.' + jwt_test::b64(claims.dump()));
  }
};

// The issuer entry the tests use unless they say otherwise: Keycloak-style realm roles.
inline iam::OidcIssuer issuer_rules(const Provider& provider) {
  iam::OidcIssuer rules;
  rules.issuer = provider.issuer;
  rules.jwks_uri = provider.jwks_uri();
  rules.audiences = {"gateway"};
  rules.algorithms = {"EdDSA"};
  rules.roles_claim = "realm_access.roles";
  rules.role_map = {{"idp-reader", "reader"}, {"idp-writer", "writer"}, {"idp-admin", "admin"}};
  rules.workspace_claim = "tenant";
  rules.default_workspace = "ws-default";
  return rules;
}

// An OIDC regime over fake HTTP and a ManualClock, with the providers' keys served.
struct Fixture {
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  std::shared_ptr<CapturingSink> audit = std::make_shared<CapturingSink>();
  std::vector<std::string> log_lines;
  std::shared_ptr<iam::OidcRegime> regime;

  explicit Fixture(const std::vector<const Provider*>& providers, std::vector<iam::OidcIssuer> issuers = {},
                   std::size_t max_sessions = iam::oidc::default_max_sessions) {
    iam::OidcConfig config;
    for (const Provider* p : providers) http->serve(p->jwks_uri(), p->jwks());
    if (issuers.empty())
      for (const Provider* p : providers) issuers.push_back(issuer_rules(*p));
    config.issuers = std::move(issuers);
    auto made = iam::oidc::make_oidc_regime_with(std::move(config), options(), http, max_sessions);
    REQUIRE_MESSAGE(made.ok(), (made.ok() ? "" : made.error().message));
    regime = std::move(made).value();
  }

  iam::OidcOptions options() {
    iam::OidcOptions o;
    o.clock = clock;
    o.audit = audit;
    o.logger = [this](iam::LogLevel, std::string_view line) { log_lines.emplace_back(line); };
    return o;
  }

  std::int64_t now_s() const { return iam::unix_seconds(clock->now()); }

  // Claims of a valid token from `provider` for `sub` with these provider roles.
  json claims(const Provider& provider, std::string sub, std::vector<std::string> roles) const {
    return json{{"iss", provider.issuer},
                {"sub", std::move(sub)},
                {"aud", "gateway"},
                {"iat", now_s()},
                {"exp", now_s() + 600},
                {"preferred_username", "alice"},
                {"realm_access", {{"roles", std::move(roles)}}}};
  }

  iam::Identity login(const Provider& provider, const json& claims) {
    auto identity = regime->authenticate(provider.sign(claims));
    REQUIRE_MESSAGE(identity.ok(), field_of(last_event(*audit, "iam.authenticate"), "failure_reason"));
    return std::move(identity).value();
  }

  bool allowed(const iam::Identity& who, std::string_view capability, std::string workspace) {
    return regime->authorise(who, capability, iam::Resource::workspace(std::move(workspace)), {}).allow;
  }
};

// True when `result` failed with exactly the one masked authentication failure.
template <class T>
bool masked_failure(const iam::Result<T>& result) {
  return !result.ok() && result.error() == iam::auth_failure();
}

}  // namespace oidc_test
