// gateway.md "WebSocket first-frame authentication". Frames are built with ordered JSON so
// their keys come out in TrustGraph's order ({"id","error","complete"}, ...).
#include "iam/websocket_session.h"

#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "gateway/answers.h"

namespace iam {

namespace {

using ordered = nlohmann::ordered_json;

// The only part of a frame ever repeated before authentication: a string of at most
// max_id_bytes or a number (whose text is short); anything else is not an id.
bool is_echoable_id(const ordered& id) {
  return (id.is_string() && id.get_ref<const std::string&>().size() <= WebSocketSession::max_id_bytes) || id.is_number();
}

// An id as JSON text (Forward::id_json), or nullopt. Depth 0: a scalar; every byte of the
// string may be a six-byte escape.
std::optional<ordered> id_from_json(std::string_view id_json) {
  auto id = parse_ordered_json_bounded(id_json, JsonLimits{0, 6 * WebSocketSession::max_id_bytes + 2});
  if (!id || !is_echoable_id(*id)) return std::nullopt;
  return std::move(*id);
}

ordered error_object(std::string_view message, std::string_view type) {
  ordered error = ordered::object();
  error["message"] = message;
  error["type"] = type;
  return error;
}

// {"id":…,"error":{…},"complete":true}; without an id, {"error":{…},"complete":true}.
std::string error_frame_with(const ordered* id, ordered error) {
  ordered frame = ordered::object();
  if (id != nullptr) frame["id"] = *id;
  frame["error"] = std::move(error);
  frame["complete"] = true;
  return gateway::to_text(frame);
}

std::string bad_message(const ordered* id = nullptr) {
  return error_frame_with(id, error_object("bad message", "error"));
}

std::string auth_failed_frame() {
  ordered frame = ordered::object();
  frame["type"] = "auth-failed";
  frame["error"] = "auth failure";
  return gateway::to_text(frame);
}

std::string auth_ok_frame(const Identity& identity) {
  ordered frame = ordered::object();
  frame["type"] = "auth-ok";
  frame["workspace"] = identity.workspace;
  frame["default_workspace"] = identity.workspace;  // both TrustGraph generations
  return gateway::to_text(frame);
}

// A string member: "" when absent or null; nullopt when present with another type.
std::optional<std::string> string_member(const ordered& object, const char* name) {
  const auto found = object.find(name);
  if (found == object.end() || found->is_null()) return std::string();
  if (!found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

// How a refused request frame is answered.
ordered refusal_error(const Outcome& outcome) {
  switch (outcome.refusal) {
    case Refusal::unknown_operation:
    case Refusal::unknown_kind: return error_object("unknown service", "unknown-service");
    case Refusal::access_denied: return error_object("access denied", "access-denied");
    case Refusal::workspace_not_found: return error_object("workspace not found", "workspace-not-found");
    case Refusal::auth_failure: return error_object("auth failure", "auth-required");
    case Refusal::bad_request: {
      // The HTTP body is {"error":{"type","message"}} or {"error":"invalid json"}-like text.
      const auto body = parse_ordered_json_bounded(outcome.body);
      if (body && body->is_object()) {
        const auto error = body->find("error");
        if (error != body->end() && error->is_object()) {
          auto message = string_member(*error, "message");
          auto type = string_member(*error, "type");
          if (message && type) return error_object(*message, *type);
        }
      }
      return error_object("bad message", "error");
    }
    case Refusal::internal_error:
    case Refusal::none: break;
  }
  return error_object("internal error", "internal-error");
}

}  // namespace

WebSocketSession::WebSocketSession(std::shared_ptr<const Enforcer> enforcer) : enforcer_(std::move(enforcer)) {}

std::optional<Identity> WebSocketSession::current_identity() {
  // Re-checked every frame through the enforcer's cache, so revocation, disabling and a
  // JWT's expiry take effect mid-session.
  Result<Identity> identity = Error{ErrorCode::auth_failed, "unauthenticated"};
  if (state_ == State::anonymous)
    identity = enforcer_->authenticate(std::nullopt);
  else if (state_ == State::credential)
    identity = enforcer_->authenticate(credential_.view());
  if (identity) return std::move(*identity);
  state_ = State::unauthenticated;
  credential_.clear();
  return std::nullopt;
}

WebSocketSession::Reply WebSocketSession::on_frame(std::string_view text) {
  Reply reply;
  try {
    if (!enforcer_) {
      reply.frames.push_back(error_frame_with(nullptr, error_object("internal error", "internal-error")));
      return reply;
    }
    // The envelope is one level above a request the HTTP routes would accept.
    auto parsed = parse_ordered_json_bounded(
        text, JsonLimits{enforcer_->max_json_depth() + 1, enforcer_->max_body_bytes()});
    if (!parsed || !parsed->is_object()) {
      reply.frames.push_back(bad_message());
      return reply;
    }
    ordered& frame = *parsed;

    // Auth frame: authenticate (or re-authenticate) the socket. It stays open either way.
    if (const auto type = frame.find("type"); type != frame.end() && type->is_string() && *type == "auth") {
      state_ = State::unauthenticated;
      credential_.clear();
      const auto token = frame.find("token");
      Result<Identity> identity = auth_failure();
      if (token == frame.end() || token->is_null() || (token->is_string() && token->get_ref<const std::string&>().empty())) {
        identity = enforcer_->authenticate(std::nullopt);  // no credential: authenticate-anonymous
        if (identity) state_ = State::anonymous;
      } else if (token->is_string()) {
        auto& value = token->get_ref<std::string&>();
        identity = enforcer_->authenticate(value);
        if (identity) {
          credential_ = SecretString(std::string_view(value));
          state_ = State::credential;
        }
        wipe(value);
      }
      reply.frames.push_back(identity ? auth_ok_frame(*identity) : auth_failed_frame());
      return reply;
    }

    const auto id_it = frame.find("id");
    if (id_it == frame.end() || !is_echoable_id(*id_it)) {
      reply.frames.push_back(bad_message());
      return reply;
    }
    const ordered id = *id_it;

    // Nothing reaches a backend before a successful auth.
    if (state_ == State::unauthenticated) {
      reply.frames.push_back(error_frame_with(&id, error_object("auth failure", "auth-required")));
      return reply;
    }

    auto service = string_member(frame, "service");
    auto flow = string_member(frame, "flow");
    auto workspace = string_member(frame, "workspace");
    const auto request_it = frame.find("request");
    if (!service || !flow || !workspace || request_it == frame.end() || !request_it->is_object()) {
      reply.frames.push_back(bad_message(&id));
      return reply;
    }
    if (service->empty()) {
      reply.frames.push_back(error_frame_with(&id, error_object("unknown service", "unknown-service")));
      return reply;
    }

    const auto identity = current_identity();
    if (!identity) {
      reply.frames.push_back(error_frame_with(&id, error_object("auth failure", "auth-required")));
      return reply;
    }

    Request request;
    if (!flow->empty()) {
      request.route = Route::flow_service;
      request.name = *service;
      request.flow = *flow;
    } else if (*service == "iam") {
      request.route = Route::iam;
    } else {
      request.route = Route::service;
      request.name = *service;
    }
    request.workspace = *workspace;  // wins over the inner request's, except for system-level operations
    request.body = gateway::to_text(*request_it);

    Outcome outcome = enforcer_->enforce_as(*identity, request);
    if (!outcome.forward()) {
      reply.frames.push_back(error_frame_with(&id, refusal_error(outcome)));
      return reply;
    }
    Forward forward;
    forward.id_json = gateway::to_text(id);
    forward.service = std::move(*service);
    forward.flow = std::move(*flow);
    forward.workspace = std::move(outcome.workspace);
    forward.operation = std::move(outcome.operation);
    forward.request = std::move(outcome.body);
    forward.identity = outcome.identity ? std::move(*outcome.identity) : *identity;
    reply.forward = std::move(forward);
    return reply;
  } catch (const std::exception&) {
    Reply failed;
    failed.frames.push_back(error_frame_with(nullptr, error_object("internal error", "internal-error")));
    return failed;
  }
}

std::string WebSocketSession::response_frame(std::string_view id_json, std::string_view response_json, bool complete) {
  const auto id = id_from_json(id_json);
  const ordered* id_ptr = id ? &*id : nullptr;
  auto response = parse_ordered_json_bounded(response_json, answer_json_limits);
  if (!response || !response->is_object())
    return error_frame_with(id_ptr, error_object("internal error", "internal-error"));
  ordered frame = ordered::object();
  if (id_ptr != nullptr) frame["id"] = *id;
  frame["response"] = std::move(*response);
  frame["complete"] = complete;
  return gateway::to_text(frame);
}

std::string WebSocketSession::error_frame(std::string_view id_json, const Error& error) {
  const auto id = id_from_json(id_json);
  return error_frame_with(id ? &*id : nullptr, gateway::websocket_error_object(error));
}

std::string WebSocketSession::iam_response_frame(std::string_view id_json, std::string_view operation,
                                                 std::string_view dispatcher_json) {
  if (auto error = gateway::dispatcher_error(dispatcher_json))
    return error_frame(id_json, gateway::error_for_operation(operation, std::move(*error)));
  return response_frame(id_json, dispatcher_json, true);
}

}  // namespace iam
