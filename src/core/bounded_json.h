// Internal: the one JSON parser of the library, its gateway kit and the examples. Every
// JSON text read anywhere goes through it, so a size and a nesting-depth bound hold
// everywhere: a text over either bound is refused while it is read, before any tree deeper
// than the bound exists, so nothing later (copy, serialisation, recursion over the tree)
// can exhaust the stack on it.
//
// THREAD SAFETY: pure functions. ERRORS: a refused text is an invalid_argument Error whose
// message never repeats the input; std::bad_alloc may escape as from any allocation.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iam/status.h"

namespace iam {

// Objects and arrays nested deeper than this are refused. TrustGraph's requests nest a
// handful of levels; 64 leaves room and keeps every recursive walk shallow.
inline constexpr std::size_t default_max_json_depth = 64;
// Texts longer than this are refused: iam-gateway's largest default body and message.
inline constexpr std::size_t default_max_json_bytes = 16u << 20;

struct JsonLimits {
  std::size_t max_depth = default_max_json_depth;  // `{}`, `[]` are depth 1; a scalar 0
  std::size_t max_bytes = default_max_json_bytes;
};

// For answers read back from a backend, the JSON dispatcher or a gateway: an answer may
// wrap a request at the limits above (an echo, a list of many records), so it gets twice
// the depth and four times the size; still bounded, as a peer may be broken.
inline constexpr JsonLimits answer_json_limits{2 * default_max_json_depth, 4 * default_max_json_bytes};

// Exactly one JSON value (RFC 8259, the whole text, UTF-8 checked) within `limits`.
// Errors (invalid_argument): "malformed JSON", "JSON text too large", "JSON nested too deeply".
Result<nlohmann::json> parse_json_bounded(std::string_view text, const JsonLimits& limits = {});
Result<nlohmann::ordered_json> parse_ordered_json_bounded(std::string_view text, const JsonLimits& limits = {});
// The same checks without building anything: true when parse_json_bounded would succeed.
bool json_accepted_bounded(std::string_view text, const JsonLimits& limits = {});

}  // namespace iam
