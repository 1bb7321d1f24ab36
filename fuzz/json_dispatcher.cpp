// JsonDispatcher::handle (src/protocol/): any bytes as a request to a real roles regime.
// Properties: handle never throws; the answer is exactly one JSON object; an error answer
// is {"error":{"type":<string>,"message":<string>}} and nothing else; a request nested
// deeper than the JSON depth bound is invalid-argument (issue 14); the bounded parser's own
// properties hold on the input (fuzz_common.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "iam_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& f = fuzz::iam_fixture();
  const std::string_view request = fuzz::as_view(data, size);
  fuzz::check_bounded_parser(request);
  const std::string answer = f.dispatcher->handle(request);
  const auto parsed = nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
  fuzz::check(!parsed.is_discarded() && parsed.is_object(), "the answer is one JSON object");
  if (const auto error = parsed.find("error"); error != parsed.end()) {
    fuzz::check(parsed.size() == 1, "an error answer has no other field");
    fuzz::check(error->is_object() && error->size() == 2, "error is {type, message}");
    fuzz::check(error->contains("type") && (*error)["type"].is_string(), "error.type is a string");
    fuzz::check(error->contains("message") && (*error)["message"].is_string(), "error.message is a string");
  }
  if (const auto depth = fuzz::json_depth(request); depth && *depth > iam::default_max_json_depth)
    fuzz::check(parsed.contains("error") && parsed["error"]["type"] == "invalid-argument",
                "a request nested too deeply is invalid-argument");
  return 0;
}
