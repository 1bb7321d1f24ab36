#include <algorithm>
#include <exception>
#include <iterator>
#include <span>
#include <utility>

#include "core/bounded_json.h"
#include "iam/operation_table.h"
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
    const auto operation = find_operation(request.operation);
    if (!operation) return invalid("unknown operation");
    if (*operation == Operation::authorise) return authorise(request);
    if (*operation == Operation::authorise_many) return authorise_many(request);
    Administration* administration = regime_->administration();
    if (administration == nullptr)
      return Error{ErrorCode::not_supported,
                   "the " + std::string(regime_->name()) + " regime has no management operations"};
    return administration->execute(request);
  } catch (const std::exception&) {
    return Error{ErrorCode::internal_error, "internal error"};
  } catch (...) {
    return Error{ErrorCode::internal_error, "internal error"};
  }
}

Result<OperationResponse> JsonDispatcher::authorise(const OperationRequest& request) const {
  auto identity = identity_to_authorise(request);
  if (!identity) return invalid("authorise needs user_id (or actor)");
  if (!request.check || request.check->capability.empty()) return invalid("authorise needs a capability");
  const AuthorisationCheck& check = *request.check;
  OperationResponse response;
  response.decision = regime_->authorise(*identity, check.capability, check.resource, check.parameters);
  return response;
}

Result<OperationResponse> JsonDispatcher::authorise_many(const OperationRequest& request) const {
  auto identity = identity_to_authorise(request);
  if (!identity) return invalid("authorise-many needs user_id (or actor)");
  const std::vector<AuthorisationCheck> no_checks;
  const std::vector<AuthorisationCheck>& entries = request.checks ? *request.checks : no_checks;

  // Only well-formed checks reach the regime, in one call (one user lookup for the
  // batch); those without a capability are denied in place. The batch is copied only
  // when it holds such a check.
  const auto malformed = [](const AuthorisationCheck& check) { return check.capability.empty(); };
  std::vector<AuthorisationCheck> well_formed;
  const bool any_malformed = std::any_of(entries.begin(), entries.end(), malformed);
  if (any_malformed) std::remove_copy_if(entries.begin(), entries.end(), std::back_inserter(well_formed), malformed);
  const std::vector<Decision> answers =
      regime_->authorise_many(*identity, any_malformed ? std::span(well_formed) : std::span(entries));

  OperationResponse response;
  auto& decisions = response.decisions.emplace();
  decisions.reserve(entries.size());
  std::size_t next_answer = 0;
  for (const auto& entry : entries) {
    if (malformed(entry)) {
      decisions.push_back(Decision::denied(std::chrono::seconds(0)));
      continue;
    }
    // A regime that answers fewer decisions than checks fails closed for the rest.
    decisions.push_back(next_answer < answers.size() ? answers[next_answer] : Decision::denied(std::chrono::seconds(0)));
    ++next_answer;
  }
  return response;
}

}  // namespace iam
