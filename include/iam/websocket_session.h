// iam/websocket_session.h — TrustGraph's WebSocket first-frame authentication as a
// transport-independent state machine (gateway.md "WebSocket first-frame authentication").
//
// A server accepts every upgrade, makes one WebSocketSession per socket, feeds it each
// text frame, sends the frames it returns in order, and hands `forward` (if any) to a
// backend. The backend's answers go back through response_frame (or iam_response_frame
// for service "iam", which masks IAM errors as the HTTP surface does).
//
// States: unauthenticated → (auth frame accepted) authenticated; any auth frame
// re-authenticates, and a failed one leaves the socket unauthenticated (it stays open).
// The session keeps the accepted credential, not just the identity, and re-checks it
// through the Enforcer's cache on every request frame: a revoked key or a disabled user
// stops working at once, and a JWT that expires mid-session stops authorising frames (the
// socket then counts as unauthenticated until the client sends a new auth frame).
//
// Frames (TrustGraph's shapes exactly):
//   in  {"type":"auth","token":"…"}            out {"type":"auth-ok","workspace":W,"default_workspace":W}
//                                                  or {"type":"auth-failed","error":"auth failure"}
//   in  {"id","service","flow"?,"workspace"?,"request":{…}}
//       → forward, or {"id":…,"error":{"message":…,"type":…},"complete":true} with type
//         auth-required, unknown-service, workspace-not-found, access-denied, or the
//         HTTP surface's typed error for invalid input and internal errors
//   in  anything without an id that is not an auth frame, or whose id is not a string of
//       at most max_id_bytes or a number (such an id is never repeated), or a frame over
//       the Enforcer's max_body_bytes or nested deeper than its max_json_depth + 1
//       → {"error":{"message":"bad message","type":"error"},"complete":true}
//   out responses {"id":…,"response":{…},"complete":bool}
//
// A request frame with `flow` is authorised as flow-service:<service> on {workspace, flow};
// without it as <service>:<request.operation>, and service "iam" as the bare IAM operation.
// For workspace- and flow-level operations the envelope's workspace (else the inner
// request's, else the identity's) is the one authorised, and it is written into the
// forwarded inner request with `actor`. System-level operations (every IAM operation)
// ignore the envelope's workspace: the inner request stands, authorised as over HTTP.
//
// THREAD SAFETY: a session belongs to one socket; call it from one thread at a time. The
// Enforcer it uses is shared and thread-safe. The static frame builders are pure.
// OWNERSHIP: the session shares ownership of the Enforcer and holds the accepted
// credential in a SecretString (wiped when replaced or destroyed).
// ERRORS: none thrown; every problem is an answer frame.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iam/export.h"
#include "iam/gateway.h"
#include "iam/regime.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace iam {

class IAM_EXPORT WebSocketSession {
 public:
  explicit WebSocketSession(std::shared_ptr<const Enforcer> enforcer);

  // The longest string id a frame may carry (bytes); TrustGraph's ids are far shorter.
  static constexpr std::size_t max_id_bytes = 256;

  // A request frame that passed authorisation, for a backend.
  struct Forward {
    std::string id_json;    // the frame's `id` as JSON text (e.g. "\"r1\""), to quote back
    std::string service;    // the envelope's service
    std::string flow;       // the envelope's flow; empty without one
    std::string workspace;  // the authorised workspace (empty for system-level IAM operations)
    std::string operation;  // the registry key it was authorised as
    std::string request;    // the inner request's JSON text, rewritten (workspace, actor)
    Identity identity;
  };
  struct Reply {
    std::vector<std::string> frames;  // to send now, in order
    std::optional<Forward> forward;   // to hand to a backend
  };

  // One text frame in.
  Reply on_frame(std::string_view text);

  bool authenticated() const noexcept { return state_ != State::unauthenticated; }

  // {"id":<id>,"response":<response>,"complete":<complete>}; a response text that is not
  // a JSON object (or is over 64 MiB or nested over 128 deep) is sent as an internal
  // error instead. An id_json that is not a valid id is left out.
  static std::string response_frame(std::string_view id_json, std::string_view response_json, bool complete);
  // {"id":<id>,"error":{…},"complete":true} for an error of the taxonomy, masked as
  // answer_for_error masks it (auth-failed → auth-failed "auth failure",
  // operation-not-permitted → access-denied "access denied", internal → "internal error").
  static std::string error_frame(std::string_view id_json, const Error& error);
  // For service "iam": the JsonDispatcher's answer as a response frame, or its error as
  // error_frame. `operation` is the IAM operation (login failures are all auth failures).
  static std::string iam_response_frame(std::string_view id_json, std::string_view operation,
                                        std::string_view dispatcher_json);

 private:
  enum class State { unauthenticated, anonymous, credential };

  std::optional<Identity> current_identity();

  std::shared_ptr<const Enforcer> enforcer_;
  State state_ = State::unauthenticated;
  SecretString credential_;
};

}  // namespace iam
