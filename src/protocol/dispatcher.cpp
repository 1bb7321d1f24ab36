#include <exception>
#include <utility>

#include "core/bounded_json.h"
#include "iam/protocol.h"
#include "protocol/json_protocol.h"

namespace iam {

namespace {

using nlohmann::json;

// Written out by hand so the last-resort answer needs no JSON machinery that could fail
// again.
constexpr std::string_view internal_error_text = R"({"error":{"message":"internal error","type":"internal-error"}})";

Error invalid(std::string message) { return {ErrorCode::invalid_argument, std::move(message)}; }

// The identity being authorised: TrustGraph puts its handle in user_id; actor is accepted
// too. An empty string counts as absent (TrustGraph's schema default).
std::optional<Identity> identity_to_authorise(const OperationRequest& request) {
  const std::string* handle = nullptr;
  if (request.user_id && !request.user_id->empty())
    handle = &*request.user_id;
  else if (request.actor && !request.actor->empty())
    handle = &*request.actor;
  if (handle == nullptr) return std::nullopt;
  Identity identity;
  identity.handle = *handle;
  identity.principal_id = *handle;
  return identity;
}

}  // namespace

JsonDispatcher::JsonDispatcher(std::shared_ptr<Regime> regime) : regime_(std::move(regime)) {}

std::string JsonDispatcher::handle(std::string_view request_json) const noexcept {
  try {
    // Bounded while parsing (size and depth); its messages never quote the input, which
    // may hold a password.
    auto parsed_json = parse_json_bounded(request_json);
    if (!parsed_json) return protocol::to_text(protocol::error_to_json(parsed_json.error()));
    json& request = *parsed_json;
    if (!request.is_object())
      return protocol::to_text(protocol::error_to_json(invalid("request must be a JSON object")));

    auto parsed = protocol::parse_request(request);
    protocol::wipe_request_secrets(request);
    if (!parsed) return protocol::to_text(protocol::error_to_json(parsed.error()));

    auto response = handle(*parsed);
    if (!response) return protocol::to_text(protocol::error_to_json(response.error()));

    json out = protocol::response_to_json(*response);
    std::string text = protocol::to_text(out);
    protocol::wipe_response_secrets(out);
    return text;
  } catch (...) {
    return std::string(internal_error_text);
  }
}

Result<OperationResponse> JsonDispatcher::handle(const OperationRequest& request) const noexcept {
  try {
    if (!regime_) return Error{ErrorCode::internal_error, "no regime configured"};
    if (!protocol::is_known_operation(request.operation)) return invalid("unknown operation");
    if (request.operation == "authorise") return authorise(request);
    if (request.operation == "authorise-many") return authorise_many(request);
    return regime_->execute(request);
  } catch (const std::exception&) {
    return Error{ErrorCode::internal_error, "internal error"};
  } catch (...) {
    return Error{ErrorCode::internal_error, "internal error"};
  }
}

Result<OperationResponse> JsonDispatcher::authorise(const OperationRequest& request) const {
  auto identity = identity_to_authorise(request);
  if (!identity) return invalid("authorise needs user_id (or actor)");
  if (!request.capability || request.capability->empty()) return invalid("authorise needs a capability");
  auto resource = protocol::parse_resource_text(request.resource_json);
  if (!resource) return std::move(resource).error();
  auto parameters = protocol::parse_parameters_text(request.parameters_json);
  if (!parameters) return std::move(parameters).error();

  const Decision decision = regime_->authorise(*identity, *request.capability, *resource, *parameters);
  OperationResponse response;
  response.decision_allow = decision.allow;
  response.decision_ttl_seconds = decision.ttl.count();
  return response;
}

Result<OperationResponse> JsonDispatcher::authorise_many(const OperationRequest& request) const {
  auto identity = identity_to_authorise(request);
  if (!identity) return invalid("authorise-many needs user_id (or actor)");
  auto entries = protocol::parse_authorise_checks(request.authorise_checks);
  if (!entries) return std::move(entries).error();

  // Only well-formed entries reach the regime, in one call (one user lookup for the
  // batch); malformed ones are denied in place.
  std::vector<AuthorisationCheck> checks;
  checks.reserve(entries->size());
  // (A moved-from entry stays engaged, so the loop below still tells them apart.)
  for (auto& entry : *entries)
    if (entry) checks.push_back(std::move(*entry));
  const std::vector<Decision> answers = regime_->authorise_many(*identity, checks);

  std::vector<Decision> decisions;
  decisions.reserve(entries->size());
  std::size_t next_answer = 0;
  for (const auto& entry : *entries) {
    if (!entry) {
      decisions.push_back(Decision::denied(std::chrono::seconds(0)));
      continue;
    }
    // A regime that answers fewer decisions than checks fails closed for the rest.
    decisions.push_back(next_answer < answers.size() ? answers[next_answer] : Decision::denied(std::chrono::seconds(0)));
    ++next_answer;
  }

  OperationResponse response;
  response.decisions_json = protocol::decisions_to_json_text(decisions);
  return response;
}

}  // namespace iam
