// The OIDC regime (iam/oidc.h): an identity provider's JWTs verified against its published
// keys, its roles mapped onto the role table, decisions by the shared RolePolicy.
#include "regimes/oidc/oidc_regime.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/text.h"
#include "crypto/crypto.h"
#include "iam/operation_table.h"
#include "regimes/oidc/oidc_token.h"
#include "regimes/policy/regime_audit.h"
#include "regimes/policy/role_policy.h"

namespace iam {
namespace oidc {
namespace {

constexpr std::string_view kHandlePrefix = "oidc:";
constexpr std::size_t kMaxClaimTextBytes = 256;  // a username or workspace taken from a claim

// What authorise and the management operations know of an identity: what its newest
// token said.
struct Session {
  std::vector<std::string> roles;
  std::string workspace;
  std::string username;
  TimePoint expires{};
};

// One trusted issuer: its configuration, the rules its tokens must meet and its keys.
struct TrustedIssuer {
  OidcIssuer config;
  TokenRules rules;
  std::shared_ptr<JwksKeys> keys;
};

// A claim that names something (a username, a workspace): a non-empty plain string, bounded.
std::optional<std::string> name_claim(const nlohmann::json& claims, std::string_view path) {
  const nlohmann::json* value = find_claim(claims, path);
  if (!value || !value->is_string()) return std::nullopt;
  const auto& text_value = value->get_ref<const std::string&>();
  if (text_value.empty() || text_value.size() > kMaxClaimTextBytes || !text::is_plain(text_value)) return std::nullopt;
  return text_value;
}

class OidcRegimeImpl final : public OidcRegime {
 public:
  OidcRegimeImpl(OidcConfig config, OidcOptions options, std::shared_ptr<HttpGetter> http, std::size_t max_sessions)
      : clock_(options.clock ? std::move(options.clock) : system_clock()),
        audit_(options.audit ? std::move(options.audit) : null_audit_sink()),
        logger_(options.logger ? std::move(options.logger) : stderr_logger()),
        policy_(std::move(options.roles), logger_),
        max_sessions_(max_sessions) {
    std::vector<std::shared_ptr<JwksKeys>> sources;
    for (auto& issuer : config.issuers) {
      TokenRules rules{issuer.issuer, issuer.audiences, {}, config.leeway};
      for (const auto& name : issuer.algorithms) rules.algorithms.push_back(*algorithm_from_name(name));
      JwksSourceConfig source;
      source.issuer = issuer.issuer;
      source.jwks_uri = issuer.jwks_uri;
      source.min_refresh = config.jwks_min_refresh;
      auto keys = std::make_shared<JwksKeys>(std::move(source), http, clock_);
      sources.push_back(keys);
      std::string name = issuer.issuer;
      issuers_.emplace(std::move(name), TrustedIssuer{std::move(issuer), std::move(rules), std::move(keys)});
    }
    refresher_ = std::make_unique<JwksRefresher>(std::move(sources));
  }

  // Fetches every issuer's keys once; a provider that did not answer is logged.
  void start() {
    refresher_->start();
    for (const auto& [name, issuer] : issuers_)
      if (!issuer.keys->stats().ever_fetched)
        log(LogLevel::warning, "OIDC issuer " + text::escape_controls(name) +
                                   ": no keys fetched yet; its tokens fail until its provider answers");
  }

  std::string_view name() const noexcept override { return "oidc"; }

  bool trusts_issuer_of(std::string_view credential) const noexcept override {
    return find_issuer(credential) != nullptr;
  }
  bool recognises(std::string_view credential) const noexcept override { return trusts_issuer_of(credential); }

  JwksFetches jwks_fetches() const noexcept override {
    JwksFetches total;
    for (const auto& [name, issuer] : issuers_) {
      const JwksStats stats = issuer.keys->stats();
      total.failed += stats.fetch_failures;
      total.succeeded += stats.fetches - stats.fetch_failures;
    }
    return total;
  }
  bool issued(const Identity& identity) const noexcept override {
    return std::string_view(identity.handle).substr(0, kHandlePrefix.size()) == kHandlePrefix;
  }

  Result<Identity> authenticate(std::string_view credential) noexcept override {
    try {
      std::string reason;
      auto identity = verify(credential, reason);
      audit(authenticate_event(clock_->now(), "jwt", identity.ok(), identity.ok() ? identity->handle : "", reason));
      return identity;
    } catch (...) {
      return auth_failure();
    }
  }

  Decision authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                     const Parameters& parameters) noexcept override {
    try {
      return decide(identity, session(identity), capability, resource, parameters);
    } catch (...) {
      return Decision::denied(std::chrono::seconds(0));
    }
  }

  std::vector<Decision> authorise_many(const Identity& identity,
                                       std::span<const AuthorisationCheck> checks) noexcept override {
    std::vector<Decision> out;
    try {
      out.reserve(checks.size());
      const auto known = session(identity);  // one lookup for the batch
      for (const auto& check : checks)
        out.push_back(decide(identity, known, check.capability, check.resource, check.parameters));
    } catch (...) {
      out.assign(checks.size(), Decision::denied(std::chrono::seconds(0)));
    }
    return out;
  }

  Administration* administration() noexcept override { return this; }

  Result<OperationResponse> execute(const OperationRequest& request) noexcept override {
    try {
      const auto operation = find_operation(request.operation);
      if (!operation) return Error{ErrorCode::invalid_argument, "unknown operation"};
      if (*operation == Operation::whoami || *operation == Operation::list_my_workspaces)
        return answer_about_self(*operation, request);
      return Error{ErrorCode::not_supported, "the oidc regime does not support '" + request.operation + "'"};
    } catch (...) {
      return Error{ErrorCode::internal_error, "operation failed unexpectedly"};
    }
  }

 private:
  const TrustedIssuer* find_issuer(std::string_view credential) const {
    if (credential.size() > max_token_bytes) return nullptr;
    const auto issuer = peek_issuer(credential);
    if (!issuer) return nullptr;
    const auto it = issuers_.find(*issuer);
    return it == issuers_.end() ? nullptr : &it->second;
  }

  // Verifies the token and maps its claims; `reason` says why not (for the audit event).
  Result<Identity> verify(std::string_view credential, std::string& reason) {
    if (credential.size() > max_token_bytes) {
      reason = "token too large";
      return auth_failure();
    }
    const TrustedIssuer* issuer = find_issuer(credential);
    if (!issuer) {
      reason = peek_issuer(credential) ? "untrusted issuer" : "not a JWT with an issuer";
      return auth_failure();
    }
    JwksKeys& keys = *issuer->keys;
    const KeyLookup lookup = [&keys](std::string_view kid) { return keys.key(kid); };
    auto token = verify_token(credential, issuer->rules, lookup, clock_->now(), &reason);
    if (!token) return auth_failure();

    Session mapped;
    mapped.expires = token->expires;
    mapped.username = name_claim(token->claims, issuer->config.username_claim).value_or(token->subject);
    mapped.roles = map_roles(issuer->config, token->claims);
    mapped.workspace = issuer->config.default_workspace;
    if (const auto& claim = issuer->config.workspace_claim; claim && find_claim(token->claims, *claim)) {
      auto workspace = name_claim(token->claims, *claim);
      if (!workspace) {
        reason = "workspace claim is not a workspace name";
        return auth_failure();
      }
      mapped.workspace = std::move(*workspace);
    }

    Identity identity{oidc_handle(token->issuer, token->subject), mapped.workspace,
                      token->issuer + "#" + token->subject, CredentialSource::jwt, token->expires};
    remember(identity.handle, std::move(mapped));
    return identity;
  }

  // The provider's values at roles_claim through role_map: unmapped values grant nothing,
  // several values mapping to one role give it once.
  static std::vector<std::string> map_roles(const OidcIssuer& issuer, const nlohmann::json& claims) {
    std::set<std::string> roles;
    for (const auto& value : claim_strings(claims, issuer.roles_claim))
      if (const auto it = issuer.role_map.find(value); it != issuer.role_map.end()) roles.insert(it->second);
    return {roles.begin(), roles.end()};
  }

  // ---- what authorise knows (the newest token of each identity wins) ----

  void remember(const std::string& handle, Session mapped) IAM_EXCLUDES(sessions_mutex_) {
    MutexLock lock(sessions_mutex_);
    if (sessions_.size() >= max_sessions_ && sessions_.find(handle) == sessions_.end()) make_room();
    sessions_[handle] = std::move(mapped);
  }

  // Drops every expired entry; when none had expired, the one that expires first.
  void make_room() IAM_REQUIRES(sessions_mutex_) {
    const TimePoint now = clock_->now();
    std::erase_if(sessions_, [now](const auto& entry) { return entry.second.expires <= now; });
    if (sessions_.size() < max_sessions_ || sessions_.empty()) return;
    const auto first = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    });
    sessions_.erase(first);
  }

  // The identity's entry while both it and the identity are unexpired; nullopt otherwise.
  std::optional<Session> session(std::string_view handle, std::optional<TimePoint> identity_expires = std::nullopt)
      IAM_EXCLUDES(sessions_mutex_) {
    const TimePoint now = clock_->now();
    if (identity_expires && *identity_expires <= now) return std::nullopt;
    MutexLock lock(sessions_mutex_);
    const auto it = sessions_.find(std::string(handle));
    if (it == sessions_.end() || it->second.expires <= now) return std::nullopt;
    return it->second;
  }
  std::optional<Session> session(const Identity& identity) { return session(identity.handle, identity.expires); }

  Decision decide(const Identity& identity, const std::optional<Session>& known, std::string_view capability,
                  const Resource& resource, const Parameters& parameters) {
    const std::string_view workspace = target_workspace(resource, parameters);
    Verdict verdict{false, "identity-unknown-or-expired"};
    if (known) verdict = policy_.allows(RoleHolder{identity.handle, known->roles, known->workspace}, capability, workspace);
    audit(authorise_event(clock_->now(), identity.handle, capability, workspace, verdict));
    // Never cached: a newer token may change the roles, and the lookup is cheap.
    return Decision{verdict.allow, std::chrono::seconds(0)};
  }

  // whoami and list-my-workspaces, about the actor (or, from a trusted caller, user_id).
  Result<OperationResponse> answer_about_self(Operation operation, const OperationRequest& request) {
    const std::string handle = request.actor ? *request.actor : request.user_id.value_or("");
    if (handle.empty()) return Error{ErrorCode::invalid_argument, request.operation + " needs an actor"};
    const auto known = session(handle);
    if (!known) return Error{ErrorCode::not_found, "user not found"};
    OperationResponse out;
    if (operation == Operation::whoami) {
      UserRecord user;
      user.id = handle;
      user.workspace = known->workspace;
      user.username = known->username;
      user.roles = known->roles;
      out.user = std::move(user);
    } else {
      // The regime keeps no workspace registry: the home workspace is the one it can name.
      out.workspaces = std::vector<WorkspaceRecord>{WorkspaceRecord{known->workspace, known->workspace, true, {}}};
    }
    return out;
  }

  void audit(const AuditEvent& event) { record_audit(*audit_, event); }

  void log(LogLevel level, const std::string& message) const {
    try {
      logger_(level, message);
    } catch (...) {
      // A logger that throws changes nothing.
    }
  }

  const std::shared_ptr<const Clock> clock_;
  const std::shared_ptr<AuditSink> audit_;
  const Logger logger_;
  const RolePolicy policy_;
  const std::size_t max_sessions_;
  std::map<std::string, TrustedIssuer, std::less<>> issuers_;  // filled by the constructor only
  std::unique_ptr<JwksRefresher> refresher_;
  Mutex sessions_mutex_;
  std::unordered_map<std::string, Session> sessions_ IAM_GUARDED_BY(sessions_mutex_);
};

}  // namespace

std::string oidc_handle(std::string_view issuer, std::string_view subject) {
  std::string input;
  input.reserve(issuer.size() + 1 + subject.size());
  input.append(issuer).push_back('\0');
  input.append(subject);
  const auto digest = crypto::sha256(crypto::as_bytes(input));
  return std::string(kHandlePrefix) + crypto::base64url_encode(digest);
}

Result<std::shared_ptr<OidcRegime>> make_oidc_regime_with(OidcConfig config, OidcOptions options,
                                                          std::shared_ptr<HttpGetter> http, std::size_t max_sessions) {
  try {
    IAM_RETURN_IF_ERROR(config.validate(options.roles));
    if (!http) return Error{ErrorCode::invalid_argument, "OIDC regime: no HTTP getter"};
    if (max_sessions == 0) return Error{ErrorCode::invalid_argument, "OIDC regime: max_sessions must be positive"};
    auto regime = std::make_shared<OidcRegimeImpl>(std::move(config), std::move(options), std::move(http), max_sessions);
    regime->start();
    return std::shared_ptr<OidcRegime>(std::move(regime));
  } catch (...) {
    return Error{ErrorCode::internal_error, "OIDC regime: start-up failed unexpectedly"};
  }
}

}  // namespace oidc

Result<std::shared_ptr<OidcRegime>> make_oidc_regime(OidcConfig config, OidcOptions options) {
  try {
    IAM_RETURN_IF_ERROR(config.validate(options.roles));
    auto http = oidc::make_curl_getter();
    if (!http)
      return Error{ErrorCode::not_supported, "this build of the library has no OIDC regime (built without libcurl)"};
    return oidc::make_oidc_regime_with(std::move(config), std::move(options), std::move(http));
  } catch (...) {
    return Error{ErrorCode::internal_error, "OIDC regime: start-up failed unexpectedly"};
  }
}

}  // namespace iam
