// Internal: what a free-text field (a name, an email, a username) may hold, and how to show
// stored text safely. Thread-safe; no state.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace iam::text {

// Valid UTF-8 without a control character: C0 (NUL, ESC, newlines…), DEL, C1 (U+0080 to
// U+009F, CSI among them) or the line and paragraph separators U+2028 and U+2029.
bool is_plain(std::string_view s) noexcept;

// Does `s` begin or end with white space (a space of any width, or a control character)?
// False for an empty or not-UTF-8 string.
bool has_outer_whitespace(std::string_view s) noexcept;

// `s` for a terminal or a log line: every control character above and every byte that is
// not part of valid UTF-8 written as an escape (\n, \t, \e, \xNN, \u{NNNN}); a backslash
// is doubled, so the escaped form cannot be mistaken for other text.
std::string escape_controls(std::string_view s);

// The hash of a string-keyed unordered map that may be probed with a string_view (with
// std::equal_to<>), so a lookup makes no temporary std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace iam::text

#if defined(__GLIBCXX__)
// libstdc++ keeps a node's hash code only for hashes it deems slow (std::hash<std::string>
// is one). Without it, walking a bucket rehashes the next node's key to find the bucket's
// end: a second string hash, and a cache miss on a large map. Strings are slow to hash.
template <>
struct std::__is_fast_hash<iam::text::StringHash> : std::false_type {};
#endif
