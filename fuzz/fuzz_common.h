// Shared helpers of the libFuzzer targets: a property check that aborts (so libFuzzer
// records a crash with the input), and a JSON-object test.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fuzz {

[[noreturn]] inline void violated(const char* property) {
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}
inline void check(bool ok, const char* property) {
  if (!ok) violated(property);
}

// Exactly one JSON object (strict RFC 8259 parse of the whole text).
inline bool is_json_object(std::string_view text) {
  const auto parsed = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return !parsed.is_discarded() && parsed.is_object();
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace fuzz
