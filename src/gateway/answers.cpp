// Failure mapping: gateway.md "What callers see". The precise reason never reaches the
// caller; bodies of one class of failure are byte-identical whatever the cause.
#include "gateway/answers.h"

#include <exception>

#include "core/bounded_json.h"
#include "iam/gateway.h"
#include "protocol/json_protocol.h"

namespace iam {

namespace gateway {

using ordered = nlohmann::ordered_json;

int status_for(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return 400;
    case ErrorCode::not_found: return 404;
    case ErrorCode::duplicate: return 409;
    case ErrorCode::auth_failed: return 401;
    case ErrorCode::weak_password: return 400;
    case ErrorCode::disabled: return 403;
    case ErrorCode::operation_not_permitted: return 403;
    case ErrorCode::not_supported: return 501;
    case ErrorCode::internal_error: return 500;
  }
  return 500;
}

std::string visible_message(const Error& error) {
  switch (error.code) {
    case ErrorCode::invalid_argument:
    case ErrorCode::weak_password: return error.message;
    case ErrorCode::not_found: return "not found";
    case ErrorCode::duplicate: return "already exists";
    case ErrorCode::disabled: return "disabled";
    case ErrorCode::not_supported: return "not supported";
    case ErrorCode::auth_failed: return "auth failure";
    case ErrorCode::operation_not_permitted: return "access denied";
    case ErrorCode::internal_error: return "internal error";
  }
  return "internal error";
}

ordered websocket_error_object(const Error& error) {
  std::string_view type = error_type_name(error.code);
  if (error.code == ErrorCode::operation_not_permitted) type = "access-denied";
  ordered object = ordered::object();
  object["message"] = visible_message(error);
  object["type"] = type;
  return object;
}

std::optional<Error> dispatcher_error(std::string_view response_json) {
  const Error internal{ErrorCode::internal_error, "unreadable IAM answer"};
  // Fast path for the common answer: text with no "error" key (nor a \u escape that could
  // spell one) only needs validating as a JSON object, not building into a tree.
  if (response_json.find("\"error\"") == std::string_view::npos && response_json.find("\\u") == std::string_view::npos) {
    const auto start = response_json.find_first_not_of(" \t\r\n");
    if (start == std::string_view::npos || response_json[start] != '{' ||
        !json_accepted_bounded(response_json, answer_json_limits))
      return internal;
    return std::nullopt;
  }
  const auto parsed = parse_json_bounded(response_json, answer_json_limits);
  if (!parsed || !parsed->is_object()) return internal;
  const auto error = parsed->find("error");
  if (error == parsed->end()) return std::nullopt;
  if (!error->is_object()) return internal;
  const auto type = error->find("type");
  const auto message = error->find("message");
  if (type == error->end() || !type->is_string()) return internal;
  const auto code = error_code_from_name(type->get<std::string>());
  if (!code) return internal;
  Error out{*code, ""};
  if (message != error->end() && message->is_string()) out.message = message->get<std::string>();
  return out;
}

Error error_for_operation(std::string_view operation, Error error) {
  if (operation == "login" && error.code != ErrorCode::internal_error) return auth_failure();
  return error;
}

std::string to_text(const ordered& value) { return value.dump(-1, ' ', false, ordered::error_handler_t::replace); }

}  // namespace gateway

HttpAnswer answer_for_error(const Error& error) {
  switch (error.code) {
    case ErrorCode::auth_failed: return {401, std::string(masked::auth_failure)};
    case ErrorCode::operation_not_permitted: return {403, std::string(masked::access_denied)};
    case ErrorCode::internal_error: return {500, std::string(masked::internal_error)};
    default: break;
  }
  try {
    gateway::ordered inner = gateway::ordered::object();
    inner["type"] = error_type_name(error.code);
    inner["message"] = gateway::visible_message(error);
    gateway::ordered body = gateway::ordered::object();
    body["error"] = std::move(inner);
    return {gateway::status_for(error.code), gateway::to_text(body)};
  } catch (const std::exception&) {
    return {500, std::string(masked::internal_error)};
  }
}

HttpAnswer answer_for_response(std::string_view operation, const Result<OperationResponse>& response) {
  if (!response) return answer_for_error(gateway::error_for_operation(operation, response.error()));
  try {
    auto body = protocol::response_to_json(*response);
    std::string text = protocol::to_text(body);
    protocol::wipe_response_secrets(body);
    return {200, std::move(text)};
  } catch (const std::exception&) {
    return {500, std::string(masked::internal_error)};
  }
}

HttpAnswer answer_for_dispatcher_json(std::string_view operation, std::string_view response_json) {
  try {
    auto error = gateway::dispatcher_error(response_json);
    if (!error) return {200, std::string(response_json)};
    return answer_for_error(gateway::error_for_operation(operation, std::move(*error)));
  } catch (const std::exception&) {
    return {500, std::string(masked::internal_error)};
  }
}

}  // namespace iam
