#include "backend.h"

#include <nlohmann/json.hpp>

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
  out["request"] = json::parse(request.body, nullptr, false);
  return iam::HttpAnswer{200, out.dump()};
}

std::optional<std::string> EchoBackend::stream_opened(const Forwarded& stream) {
  return describe(stream).dump();
}

std::optional<std::string> EchoBackend::stream_frame(const Forwarded& stream, const std::string& frame) {
  json out = describe(stream);
  out["received"] = json::parse(frame, nullptr, false);
  if (out["received"].is_discarded()) out["received"] = frame;
  return out.dump();
}

}  // namespace gateway
