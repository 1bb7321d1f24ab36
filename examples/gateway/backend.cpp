#include "backend.h"

#include "core/bounded_json.h"  // the library's bounded parser (this example links the static library)
#include "json_text.h"

namespace gateway {
namespace {

// The fields describing a request, as an unclosed JSON object text ("{...").
std::string described(const Forwarded& request, std::size_t room) {
  std::string out;
  out.reserve(200 + request.operation.size() + request.identity.handle.size() + room);
  out.append(R"({"echo-backend":true,"note":"iam-gateway example: no real service behind this route; )"
             R"(this is what it would receive")");
  json_text::append_member(out, "operation", request.operation);
  json_text::append_member(out, "actor", request.identity.handle);
  if (!request.workspace.empty()) json_text::append_member(out, "workspace", request.workspace);
  if (!request.flow.empty()) json_text::append_member(out, "flow", request.flow);
  return out;
}

// The description with `name` added and closed: `text` as the JSON value it is (checked
// without building a tree; bounded like every request), else as a string.
std::string described_with(const Forwarded& request, std::string_view name, std::string_view text) {
  std::string out = described(request, text.size() + name.size() + 8);
  if (iam::json_accepted_bounded(text)) {
    json_text::append_name(out, name);
    out.append(text);
  } else {
    json_text::append_member(out, name, text);
  }
  out.push_back('}');
  return out;
}

}  // namespace

iam::HttpAnswer EchoBackend::call(const Forwarded& request) {
  return iam::HttpAnswer{200, described_with(request, "request", request.body)};
}

std::optional<std::string> EchoBackend::stream_opened(const Forwarded& stream) {
  return described(stream, 1) + "}";
}

std::optional<std::string> EchoBackend::stream_frame(const Forwarded& stream, const std::string& frame) {
  return described_with(stream, "received", frame);
}

}  // namespace gateway
