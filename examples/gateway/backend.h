// What the example gateway forwards authorised requests to. TrustGraph's gateway forwards
// them to its services over a message bus; this example ships only EchoBackend, which
// answers with what it was given, clearly labelled, so the enforcement path can be seen
// and tested end to end. An application implements Backend to plug in its services.
//
// THREAD SAFETY: a Backend is called from many threads at once and must be safe for it.
#pragma once

#include <optional>
#include <string>

#include "iam/gateway.h"
#include "iam/regime.h"

namespace gateway {

// An authorised request, as the gateway rewrote it: the body carries the authorised
// workspace and `actor` (the caller's handle).
struct Forwarded {
  std::string operation;  // the registry key it was authorised as (e.g. "config:get")
  std::string workspace;  // the authorised workspace, if the operation has one
  std::string flow;       // the flow, for flow-level operations
  std::string body;       // JSON object text
  iam::Identity identity;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // A request/response service call (HTTP routes and WebSocket request frames): the
  // status and JSON object body to answer with.
  virtual iam::HttpAnswer call(const Forwarded& request) = 0;
  // A streaming endpoint (flow import/export) opened: an optional first frame to send.
  virtual std::optional<std::string> stream_opened(const Forwarded& stream) = 0;
  // A frame received on a streaming endpoint: an optional frame to send back.
  virtual std::optional<std::string> stream_frame(const Forwarded& stream, const std::string& frame) = 0;
};

// NOT A REAL SERVICE: answers every call with {"echo-backend":true, ...} describing the
// request it received, so a client can see what the gateway forwarded.
class EchoBackend final : public Backend {
 public:
  iam::HttpAnswer call(const Forwarded& request) override;
  std::optional<std::string> stream_opened(const Forwarded& stream) override;
  std::optional<std::string> stream_frame(const Forwarded& stream, const std::string& frame) override;
};

}  // namespace gateway
