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
#include <string>
#include <string_view>
#include <vector>

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

// For texts whose meaning must not depend on the reader (tokens, keys): as
// parse_json_bounded, and an object naming a key twice at any depth is refused too, with
// "duplicate JSON key" (nlohmann would silently keep the last one, and two parsers
// disagreeing about a claim is how confusions start).
Result<nlohmann::json> parse_json_bounded_unique_keys(std::string_view text, const JsonLimits& limits = {});

// The duplicate-key rule for SAX handlers: call open_object, add_key for each key and
// close_object as the parser reports them; close_object answers false when the object it
// closes named a key twice. O(n log n) per object, however many keys it is stuffed with.
class DuplicateKeyCheck {
 public:
  DuplicateKeyCheck() {
    keys_.reserve(16);  // a token's header and claims fit without growing
    object_starts_.reserve(4);
  }
  void open_object() { object_starts_.push_back(keys_.size()); }
  void add_key(std::string_view key) { keys_.emplace_back(key); }
  bool close_object();

 private:
  std::vector<std::string> keys_;           // keys of the open objects, innermost last
  std::vector<std::size_t> object_starts_;  // where each open object's keys begin in keys_
};

}  // namespace iam
