#include "backend.h"

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"  // the library's bounded parser (this example links the static library)

namespace gateway {
namespace {

using nlohmann::json;

json describe(const Forwarded& request) {
  json out = {{"echo-backend", true},
              {"note", "iam-gateway example: no real service behind this route; this is what it would receive"},
              {"operation", request.operation},
              {"actor", request.identity.handle}};
  if (!request.workspace.empty()) out["workspace"] = request.workspace;
  if (!request.flow.empty()) out["flow"] = request.flow;
  return out;
}

}  // namespace

iam::HttpAnswer EchoBackend::call(const Forwarded& request) {
  json out = describe(request);
  // The body the Enforcer forwards is already within the request bounds.
  auto body = iam::parse_json_bounded(request.body);
  out["request"] = body ? std::move(*body) : json(request.body);
  return iam::HttpAnswer{200, out.dump()};
}

std::optional<std::string> EchoBackend::stream_opened(const Forwarded& stream) {
  return describe(stream).dump();
}

std::optional<std::string> EchoBackend::stream_frame(const Forwarded& stream, const std::string& frame) {
  json out = describe(stream);
  // A stream frame comes straight from the client: bounded like every request.
  auto received = iam::parse_json_bounded(frame);
  out["received"] = received ? std::move(*received) : json(frame);
  return out.dump();
}

}  // namespace gateway
