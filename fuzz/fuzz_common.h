// Shared helpers of the libFuzzer targets: a property check that aborts (so libFuzzer
// records a crash with the input), a JSON-object test, and the bounded-parser properties.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"

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

// The deepest nesting of objects and arrays in `text`, or nullopt when it is not one JSON
// value: the reference the bounded parser is checked against. nlohmann's SAX parse is
// iterative and builds nothing, so any depth is safe here.
inline std::optional<std::size_t> json_depth(std::string_view text) {
  struct Counter : nlohmann::detail::json_sax_acceptor<nlohmann::json> {
    std::size_t depth = 0, deepest = 0;
    bool start_object(std::size_t) { return enter(); }
    bool start_array(std::size_t) { return enter(); }
    bool end_object() { return leave(); }
    bool end_array() { return leave(); }
    bool leave() {
      --depth;
      return true;
    }
    bool enter() {
      deepest = std::max(deepest, ++depth);
      return true;
    }
  } counter;
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &counter)) return std::nullopt;
  return counter.deepest;
}

// Properties of the one bounded JSON parser (src/core/bounded_json.h) on `text`, at the
// default limits and at small ones: it accepts exactly the JSON texts within both bounds,
// refuses the others with the matching reason, and what it accepts is nlohmann's reading.
inline void check_bounded_parser(std::string_view text) {
  const auto depth = json_depth(text);
  for (const iam::JsonLimits limits : {iam::JsonLimits{}, iam::JsonLimits{4, 256}, iam::JsonLimits{0, 16}}) {
    const bool within = depth && *depth <= limits.max_depth && text.size() <= limits.max_bytes;
    const auto parsed = iam::parse_json_bounded(text, limits);
    if (parsed.ok() != within) violated("the bounded parser accepts exactly the JSON within its limits");
    if (iam::json_accepted_bounded(text, limits) != within) violated("json_accepted_bounded agrees");
    if (iam::parse_ordered_json_bounded(text, limits).ok() != within) violated("the ordered parser agrees");
    if (parsed) {
      if (*parsed != nlohmann::json::parse(text.begin(), text.end())) violated("the bounded parser reads what nlohmann reads");
      continue;
    }
    const std::string& why = parsed.error().message;
    if (text.size() > limits.max_bytes) {
      if (why != "JSON text too large") violated("too large is refused as too large");
    } else if (!depth) {
      if (why != "malformed JSON" && why != "JSON nested too deeply") violated("malformed is refused as malformed");
    } else if (why != "JSON nested too deeply") {
      violated("too deep is refused as too deep");
    }
  }
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace fuzz
