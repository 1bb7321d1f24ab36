// The enforcement path of gateway.md ("Authenticating a request", "Then, per request"),
// step by step, over a transport-neutral Request.
#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "core/text.h"
#include "gateway/answers.h"
#include "gateway/caches.h"
#include "iam/gateway.h"

namespace iam {

namespace {

using nlohmann::json;

// Longer than any API key or JWT this library issues, with room for other regimes'
// tokens; anything longer is refused before it is even hashed.
constexpr std::size_t max_credential_bytes = 16 * 1024;

// gateway.md step 4: create-user is the one system-level operation whose workspace is
// default-filled (its home workspace).
constexpr std::string_view create_user = "create-user";

// Kinds reached only through their own addresses, never as /api/v1/{kind} ("http:" names
// the routes TrustGraph gates outside its registry).
bool is_flow_kind(std::string_view kind) {
  return kind == "flow-service" || kind == "flow-import" || kind == "flow-export" || kind == "http";
}

std::string_view flow_prefix(Route route) {
  switch (route) {
    case Route::flow_service: return "flow-service:";
    case Route::flow_import: return "flow-import:";
    case Route::flow_export: return "flow-export:";
    default: return "";
  }
}

std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// A string member: "" when absent, null or empty (TrustGraph's schema default); an error
// when present with another type.
Result<std::string> string_member(const json& object, std::string_view name) {
  if (!object.is_object()) return std::string();
  const auto found = object.find(name);
  if (found == object.end() || found->is_null()) return std::string();
  if (!found->is_string()) return Error{ErrorCode::invalid_argument, std::string(name) + " must be a string"};
  return found->get<std::string>();
}

const json* object_member(const json& object, std::string_view name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_object() ? &*found : nullptr;
}

// A caller's text quoted in a refusal reason (the log's, never the body's): bounded, and
// with control characters escaped so it cannot forge log lines or drive a terminal.
std::string shown_for_log(std::string_view text) {
  constexpr std::size_t shown = 64;
  if (text.size() <= shown) return "'" + text::escape_controls(text) + "'";
  return "'" + text::escape_controls(text.substr(0, shown)) + "'... (" + std::to_string(text.size()) + " bytes)";
}

Error normalised_auth_error(const Error& error) {
  // Only "could not decide" keeps its identity (503); every other failure is the one
  // opaque auth failure, whatever a regime said.
  if (error.code == ErrorCode::internal_error) return error;
  return auth_failure();
}

}  // namespace

// ---------------------------------------------------------------- state

// What an Enforcer holds, kept out of iam/gateway.h.
struct gateway::EnforcerState {
  std::shared_ptr<Regime> regime;
  std::shared_ptr<const OperationRegistry> registry;
  std::shared_ptr<Clock> clock;
  std::chrono::seconds authentication_ttl{60};
  std::chrono::seconds decision_ttl{60};
  WorkspaceExists workspace_exists;
  Logger logger;
  std::shared_ptr<gateway::GatewayCaches> caches;
  JsonLimits body_limits;
  // EnforcerStats' counters: authentications [source][outcome] as there (at source * 3 +
  // outcome), then allowed and denied. Striped per thread: they are on the hit path.
  static constexpr std::size_t outcomes = 3, allowed_counter = 12, denied_counter = 13;
  mutable gateway::StripedCounters<14> counters;

  static constexpr std::size_t malformed_source = 3;
  void count_authentication(std::size_t source, const Result<Identity>& result) const noexcept {
    const auto outcome = result.ok() ? AuthenticationOutcome::success
                         : result.error().code == ErrorCode::internal_error ? AuthenticationOutcome::error
                                                                            : AuthenticationOutcome::failure;
    counters.add(source * outcomes + static_cast<std::size_t>(outcome));
  }

  void log(LogLevel level, std::string_view message) const noexcept {
    try {
      if (logger) logger(level, message);
    } catch (...) {
    }
  }

  Outcome refuse(Refusal refusal, std::string operation, std::string reason, int status = 0,
                 std::string body = {}) const {
    Outcome out;
    out.refusal = refusal;
    // An unknown name is the caller's text: keep a bounded prefix for the access log.
    if (operation.size() > 128) operation.resize(128);
    out.operation = std::move(operation);
    out.reason = std::move(reason);
    switch (refusal) {
      case Refusal::unknown_operation: out.status = 400, out.body = masked::unknown_operation; break;
      case Refusal::unknown_kind: out.status = 404, out.body = masked::unknown_kind; break;
      case Refusal::auth_failure: out.status = 401, out.body = masked::auth_failure; break;
      case Refusal::access_denied: out.status = 403, out.body = masked::access_denied; break;
      case Refusal::workspace_not_found: out.status = 404, out.body = masked::workspace_not_found; break;
      case Refusal::internal_error: out.status = 500, out.body = masked::internal_error; break;
      case Refusal::bad_request: out.status = 400; break;
      case Refusal::none: break;
    }
    if (status != 0) out.status = status;
    if (!body.empty()) out.body = std::move(body);
    log(LogLevel::info, "gateway refused " + shown_for_log(out.operation) + " (" + std::to_string(out.status) + "): " + out.reason);
    return out;
  }

  Outcome bad_request(std::string operation, const Error& error) const {
    auto answer = answer_for_error(error);
    return refuse(Refusal::bad_request, std::move(operation), error.message, answer.status, std::move(answer.body));
  }

  Outcome from_auth_error(std::string operation, const Error& error) const {
    if (error.code == ErrorCode::internal_error)
      return refuse(Refusal::internal_error, std::move(operation), "authentication could not decide: " + error.message,
                    503);
    return refuse(Refusal::auth_failure, std::move(operation), "authentication failed");
  }

  // Counted by source: the identity's; for a failure, the credential's shape (anonymous
  // when there is none), which costs a second look only on the failure path.
  Result<Identity> authenticate(std::optional<std::string_view> credential) const {
    Result<Identity> result = authenticate_uncounted(credential);
    std::size_t source = static_cast<std::size_t>(CredentialSource::anonymous);
    if (result.ok()) {
      source = static_cast<std::size_t>(result->source);
    } else if (credential && !credential->empty()) {
      const auto shape = credential->size() > max_credential_bytes ? CredentialShape::malformed : credential_shape(*credential);
      source = shape == CredentialShape::api_key ? static_cast<std::size_t>(CredentialSource::api_key)
               : shape == CredentialShape::jwt   ? static_cast<std::size_t>(CredentialSource::jwt)
                                                 : malformed_source;
    }
    count_authentication(source, result);
    return result;
  }

  Result<Identity> authenticate_uncounted(std::optional<std::string_view> credential) const {
    // An empty credential is the empty Bearer: no credential at all.
    if (!credential || credential->empty()) {
      auto anonymous = regime->authenticate_anonymous();
      if (!anonymous) return normalised_auth_error(anonymous.error());
      return anonymous;
    }
    // Shape first: a malformed credential never reaches the regime, the cache or anonymous.
    if (credential->size() > max_credential_bytes || credential_shape(*credential) == CredentialShape::malformed)
      return auth_failure();

    const auto key = gateway::credential_key(*credential);
    const TimePoint now = clock->coarse_now();
    if (auto hit = caches->identities.get(key, now, [](const auto& cached) { return cached->to_identity(); }))
      return std::move(*hit);

    const auto generation = caches->identities.generation();
    auto result = regime->authenticate(*credential);
    if (!result) return normalised_auth_error(result.error());
    // An identity past its `expires` (inside the regime's leeway) is the regime's call to
    // accept, but it is not cached.
    TimePoint expires = now + authentication_ttl;
    if (result->expires) expires = std::min(expires, *result->expires);  // never past a JWT's exp or a key's expiry
    caches->identities.put(key, caches->identity_records.intern(*result), expires, now, generation);
    return result;
  }

  Decision authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                     const Parameters& parameters) const {
    Decision decision = authorise_uncounted(identity, capability, resource, parameters);
    counters.add(decision.allow ? allowed_counter : denied_counter);
    return decision;
  }

  Decision authorise_uncounted(const Identity& identity, std::string_view capability, const Resource& resource,
                               const Parameters& parameters) const {
    gateway::ExactKeyBuilder key_bytes;  // on the stack: a hit allocates nothing
    const auto key = gateway::decision_key(key_bytes, identity.handle, capability, resource, parameters);
    const TimePoint now = clock->coarse_now();
    if (auto hit = caches->decisions.get(key, now, [](const gateway::CachedDecision& cached) { return cached.decision; }))
      return *hit;

    const auto generation = caches->decisions.generation();
    const Decision decision = regime->authorise(identity, capability, resource, parameters);
    const auto ttl = std::clamp(decision.ttl, std::chrono::seconds(0), decision_ttl);
    caches->decisions.put(gateway::owned(key), gateway::CachedDecision{decision, identity.handle}, now + ttl, now,
                          generation);
    return decision;
  }

  Result<bool> workspace_known(std::string_view workspace) const {
    const auto key = gateway::workspace_key(workspace);
    const TimePoint now = clock->coarse_now();
    if (caches->workspaces.get(key, now)) return true;
    const auto generation = caches->workspaces.generation();
    Result<bool> exists = [&]() -> Result<bool> {
      try {
        return workspace_exists(workspace);
      } catch (...) {
        return Error{ErrorCode::internal_error, "workspace_exists threw"};
      }
    }();
    // Only "exists" is remembered: a workspace created a moment later must not stay 404.
    if (exists.ok() && *exists) caches->workspaces.put(key, true, now + decision_ttl, now, generation);
    return exists;
  }

  Outcome run(const Request& request, const Identity* preset) const;
};

Outcome gateway::EnforcerState::run(const Request& request, const Identity* preset) const {
  // 1. Route: an unknown {kind} in a URL is 404.
  std::string key;
  const OperationSpec* spec = nullptr;
  if (request.route == Route::service) {
    if (request.name.empty() || is_flow_kind(request.name) || !registry->has_kind(request.name))
      return refuse(Refusal::unknown_kind, request.name, "unknown kind " + shown_for_log(request.name));
  } else if (const auto prefix = flow_prefix(request.route); !prefix.empty()) {
    key = std::string(prefix) + request.name;
    spec = request.name.empty() ? nullptr : registry->find(key);
    if (spec == nullptr || spec->level != ResourceLevel::flow)
      return refuse(Refusal::unknown_kind, key, "unknown kind " + shown_for_log(request.name));
  }

  // 2. Body: a JSON object (empty text counts as {}).
  json body = json::object();
  if (request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    // Bounded while parsing: a tree nested deeper than the limit is never built, so the
    // copies and serialisations below stay shallow.
    auto parsed = parse_json_bounded(request.body, body_limits);
    if (!parsed) return refuse(Refusal::bad_request, key, parsed.error().message, 400, std::string(masked::invalid_json));
    body = std::move(*parsed);
    if (!body.is_object())
      return refuse(Refusal::bad_request, key, "body is not an object", 400, std::string(masked::not_an_object));
  }

  // 3. Operation: unknown is 400, before authentication.
  if (request.route == Route::iam || request.route == Route::service) {
    auto operation = string_member(body, "operation");
    if (!operation || operation->empty()) return refuse(Refusal::unknown_operation, key, "no operation in the body");
    if (request.route == Route::iam) {
      if (operation->find(':') != std::string::npos)
        return refuse(Refusal::unknown_operation, *operation, "not an IAM operation");
      key = std::move(*operation);
    } else {
      key = request.name + ":" + *operation;
    }
    spec = registry->find(key);
    if (spec != nullptr && request.route == Route::service && spec->level == ResourceLevel::flow) spec = nullptr;
  } else if (request.route == Route::named) {
    key = request.name;
    spec = registry->find(key);
  }
  if (spec == nullptr) return refuse(Refusal::unknown_operation, key, "operation not in the registry");
  if (request.route == Route::named) body["operation"] = request.name;
  // The address's workspace (WebSocket envelope, a stream's ?workspace=) is the one routed
  // and authorised, for workspace- and flow-level operations only: a system-level request
  // (every IAM operation) keeps its own fields, since TrustGraph's clients always send one.
  if (!request.workspace.empty() && spec->level != ResourceLevel::system) body["workspace"] = request.workspace;

  Outcome out;
  out.operation = key;

  // 4. PUBLIC: no credential needed, any sent is ignored; nobody to act as.
  if (spec->is_public()) {
    body.erase("actor");
    out.body = dump(body);
    return out;
  }

  // 5. Authenticate (401; 503 when the regime could not decide).
  Identity identity;
  if (preset != nullptr) {
    identity = *preset;
  } else {
    std::optional<std::string_view> credential;
    if (request.credential) credential = *request.credential;
    auto authenticated = authenticate(credential);
    if (!authenticated) return from_auth_error(key, authenticated.error());
    identity = std::move(*authenticated);
  }

  // 6. Resource and parameters, with the workspace default-filled from the identity.
  Resource resource;
  std::string workspace;
  if (spec->level != ResourceLevel::system) {
    // Both generations of the field: `default_workspace` counts as `workspace` (they must
    // agree), so a backend reading either acts on the workspace authorised. An envelope's
    // workspace was written into `workspace` above and wins.
    auto named = string_member(body, "workspace");
    auto legacy = string_member(body, "default_workspace");
    if (!named) return bad_request(key, named.error());
    if (!legacy) return bad_request(key, legacy.error());
    if (request.workspace.empty() && !named->empty() && !legacy->empty() && *named != *legacy)
      return bad_request(key, Error{ErrorCode::invalid_argument, "workspace and default_workspace disagree"});
    workspace = !named->empty() ? std::move(*named) : !legacy->empty() ? std::move(*legacy) : identity.workspace;
    if (workspace.empty()) return bad_request(key, Error{ErrorCode::invalid_argument, "workspace is required"});
    if (spec->level == ResourceLevel::flow) {
      if (request.flow.empty()) return bad_request(key, Error{ErrorCode::invalid_argument, "flow is required"});
      resource = Resource::flow(workspace, request.flow);
      out.flow = request.flow;
    } else {
      resource = Resource::workspace(workspace);
    }
  }
  Parameters parameters;
  const bool is_create_user = key == create_user;
  if (spec->parameters == ParametersExtractor::workspace_parameter) {
    std::string target;
    if (is_create_user) {
      // The home workspace it will actually write: workspace (default_workspace counts as
      // workspace, and both must agree), else user.workspace, else the identity's.
      auto w = string_member(body, "workspace");
      auto dw = string_member(body, "default_workspace");
      if (!w) return bad_request(key, w.error());
      if (!dw) return bad_request(key, dw.error());
      if (!w->empty() && !dw->empty() && *w != *dw)
        return bad_request(key, Error{ErrorCode::invalid_argument, "workspace and default_workspace disagree"});
      target = !w->empty() ? *w : *dw;
      if (const json* user = object_member(body, "user"); user != nullptr && target.empty()) {
        for (const char* field : {"workspace", "default_workspace"}) {
          auto uw = string_member(*user, field);
          if (!uw) return bad_request(key, uw.error());
          if (target.empty()) target = std::move(*uw);
        }
      }
      if (target.empty()) target = identity.workspace;
      if (target.empty()) return bad_request(key, Error{ErrorCode::invalid_argument, "workspace is required"});
      workspace = target;
    } else {
      // body.user.workspace or body.workspace_record.id or body.workspace or identity.workspace
      // (default_workspace counting as workspace, as the IAM protocol reads it).
      std::vector<std::pair<const json*, const char*>> candidates;
      if (const json* user = object_member(body, "user")) {
        candidates.emplace_back(user, "workspace");
        candidates.emplace_back(user, "default_workspace");
      }
      if (const json* record = object_member(body, "workspace_record")) candidates.emplace_back(record, "id");
      candidates.emplace_back(&body, "workspace");
      candidates.emplace_back(&body, "default_workspace");
      for (const auto& [object, field] : candidates) {
        auto value = string_member(*object, field);
        if (!value) return bad_request(key, value.error());
        if (target.empty()) target = std::move(*value);
      }
      if (target.empty()) target = identity.workspace;
    }
    if (!target.empty()) parameters.emplace(std::string(component::workspace), target);
  }

  // An operation reaching every workspace is authorised against "*", whatever the body names.
  if (spec->all_workspaces) {
    if (spec->level == ResourceLevel::workspace) resource = Resource::workspace(std::string(every_workspace));
    else parameters.insert_or_assign(std::string(component::workspace), std::string(every_workspace));
  }

  // 7. Authorise (403). AUTHENTICATED skips it only when there is no workspace to check;
  //    otherwise the caller's scope must still cover the workspace (capability::in_scope),
  //    and a missing workspace is denied exactly like an out-of-scope one.
  const bool scope_free = spec->level == ResourceLevel::system && !spec->all_workspaces;
  if (!spec->is_authenticated() || !scope_free) {
    const std::string_view asked = spec->is_authenticated() ? capability::in_scope : spec->capability;
    const Decision decision = authorise(identity, asked, resource, parameters);
    if (!decision.allow) {
      Outcome refused = refuse(Refusal::access_denied, key, "denied " + std::string(asked) + " to " + identity.principal_id);
      refused.identity = std::move(identity);
      return refused;
    }
  }

  // 8. The workspace must exist and be enabled (a disabled one is missing to the data
  //    plane), checked only now so that unprivileged callers cannot probe which exist.
  if (spec->level != ResourceLevel::system) {
    auto exists = workspace_known(workspace);
    if (!exists) return refuse(Refusal::internal_error, key, "workspace lookup failed: " + exists.error().message);
    if (!*exists) return refuse(Refusal::workspace_not_found, key, "workspace " + shown_for_log(workspace) + " does not exist or is disabled");
  }

  // 9. Forward what was authorised: the workspace, and the caller as actor.
  if (spec->level != ResourceLevel::system || is_create_user) {
    body["workspace"] = workspace;
    if (body.contains("default_workspace")) body["default_workspace"] = workspace;
    out.workspace = workspace;
  }
  body["actor"] = identity.handle;
  out.body = dump(body);
  out.identity = std::move(identity);
  return out;
}

// ---------------------------------------------------------------- Enforcer

WorkspaceExists workspace_exists_from_regime(std::shared_ptr<Regime> regime) {
  return [regime = std::move(regime)](std::string_view workspace) -> Result<bool> {
    if (!regime) return Error{ErrorCode::internal_error, "no regime"};
    OperationRequest request;
    request.operation = "get-workspace";
    request.workspace_record = WorkspaceInput{std::string(workspace), std::nullopt, std::nullopt};
    Administration* administration = regime->administration();
    if (administration == nullptr)  // a decision-only regime: the application must say (workspace_exists)
      return Error{ErrorCode::not_supported, "the regime has no administration to look workspaces up in"};
    auto found = administration->execute(request);  // no actor: the gateway asks as a trusted internal caller
    if (found) return found->workspace.has_value() && found->workspace->enabled;  // disabled: as missing
    if (found.error().code == ErrorCode::not_found || found.error().code == ErrorCode::invalid_argument) return false;
    return found.error();
  };
}

Result<std::shared_ptr<Enforcer>> make_enforcer(GatewayConfig config) {
  try {
    if (!config.regime) return Error{ErrorCode::invalid_argument, "the gateway needs a regime"};
    if (config.authentication_ttl.count() < 0 || config.decision_ttl.count() < 0)
      return Error{ErrorCode::invalid_argument, "cache TTL ceilings must not be negative"};
    if (config.authentication_cache_entries == 0 || config.decision_cache_entries == 0 ||
        config.workspace_cache_entries == 0)
      return Error{ErrorCode::invalid_argument, "cache sizes must be at least 1"};
    if (config.cache_shards == 0 || config.cache_shards > 256)
      return Error{ErrorCode::invalid_argument, "cache_shards must be 1 to 256"};
    if (config.max_body_bytes == 0 || config.max_json_depth == 0)
      return Error{ErrorCode::invalid_argument, "max_body_bytes and max_json_depth must be at least 1"};
    if (!config.registry) {
      IAM_ASSIGN_OR_RETURN(auto defaults, OperationRegistry::with_defaults());
      config.registry = std::make_shared<const OperationRegistry>(std::move(defaults));
    }

    auto state = std::make_unique<gateway::EnforcerState>();
    state->regime = config.regime;
    state->registry = std::move(config.registry);
    state->clock = config.clock ? std::move(config.clock) : system_clock();
    state->authentication_ttl = config.authentication_ttl;
    state->decision_ttl = config.decision_ttl;
    state->workspace_exists =
        config.workspace_exists ? std::move(config.workspace_exists) : workspace_exists_from_regime(config.regime);
    state->logger = config.logger ? std::move(config.logger) : null_logger();
    state->body_limits = JsonLimits{config.max_json_depth, config.max_body_bytes};
    state->caches = std::make_shared<gateway::GatewayCaches>(
        config.authentication_cache_entries, config.decision_cache_entries, config.workspace_cache_entries,
        config.cache_shards);

    // Weak: the regime may outlive this enforcer, and must not keep its caches alive.
    std::weak_ptr<gateway::GatewayCaches> weak = state->caches;
    try {
      state->regime->add_invalidation_listener([weak](const Invalidation& event) {
        if (auto caches = weak.lock()) {
          try {
            caches->apply(event);
          } catch (...) {
            caches->clear();
          }
        }
      });
    } catch (...) {
      return Error{ErrorCode::internal_error, "the regime refused the gateway's invalidation listener"};
    }
    return std::shared_ptr<Enforcer>(new Enforcer(std::move(state)));  // the constructor is private
  } catch (...) {
    return Error{ErrorCode::internal_error, "could not create the gateway enforcer"};
  }
}

Enforcer::Enforcer(std::unique_ptr<gateway::EnforcerState> state) : state_(std::move(state)) {}
Enforcer::~Enforcer() = default;

namespace {
// The last resort when enforcement itself failed (out of memory, a bug): fail closed.
Outcome internal_outcome() noexcept {
  Outcome out;
  out.refusal = Refusal::internal_error;
  out.status = 500;
  try {
    out.body = masked::internal_error;
  } catch (...) {
  }
  return out;
}
}  // namespace

Outcome Enforcer::enforce(const Request& request) const noexcept {
  try {
    return state_->run(request, nullptr);
  } catch (...) {
    state_->log(LogLevel::error, "gateway: enforcement failed unexpectedly");
    return internal_outcome();
  }
}

Outcome Enforcer::enforce_as(const Identity& identity, const Request& request) const noexcept {
  try {
    return state_->run(request, &identity);
  } catch (...) {
    state_->log(LogLevel::error, "gateway: enforcement failed unexpectedly");
    return internal_outcome();
  }
}

Result<Identity> Enforcer::authenticate(std::optional<std::string_view> credential) const noexcept {
  try {
    return state_->authenticate(credential);
  } catch (...) {
    return Error{ErrorCode::internal_error, "authentication failed unexpectedly"};
  }
}

Decision Enforcer::authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                             const Parameters& parameters) const noexcept {
  try {
    return state_->authorise(identity, capability, resource, parameters);
  } catch (...) {
    return Decision::denied(std::chrono::seconds(0));  // fail closed
  }
}

std::size_t Enforcer::cached_identities() const noexcept {
  try {
    return state_->caches->identities.size();
  } catch (...) {
    return 0;
  }
}

std::size_t Enforcer::cached_decisions() const noexcept {
  try {
    return state_->caches->decisions.size();
  } catch (...) {
    return 0;
  }
}

EnforcerStats Enforcer::stats() const noexcept {
  EnforcerStats stats;
  for (std::size_t s = 0; s < stats.authentications.size(); ++s)
    for (std::size_t o = 0; o < stats.authentications[s].size(); ++o)
      stats.authentications[s][o] = state_->counters.load(s * gateway::EnforcerState::outcomes + o);
  stats.authorisations_allowed = state_->counters.load(gateway::EnforcerState::allowed_counter);
  stats.authorisations_denied = state_->counters.load(gateway::EnforcerState::denied_counter);
  const auto& caches = *state_->caches;
  stats.identities = {caches.identities.hits(), caches.identities.misses(), caches.identities.evictions(),
                      cached_identities()};
  stats.decisions = {caches.decisions.hits(), caches.decisions.misses(), caches.decisions.evictions(),
                     cached_decisions()};
  return stats;
}

void Enforcer::clear_caches() noexcept {
  try {
    state_->caches->clear();
  } catch (...) {
  }
}

const OperationRegistry& Enforcer::registry() const noexcept { return *state_->registry; }
const std::shared_ptr<Regime>& Enforcer::regime() const noexcept { return state_->regime; }
const std::shared_ptr<Clock>& Enforcer::clock() const noexcept { return state_->clock; }
std::size_t Enforcer::max_body_bytes() const noexcept { return state_->body_limits.max_bytes; }
std::size_t Enforcer::max_json_depth() const noexcept { return state_->body_limits.max_depth; }

}  // namespace iam
