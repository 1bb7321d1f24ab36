// Internal: what a free-text field (a name, an email, a username) may hold, how to show
// stored text safely, and equality of short strings. Thread-safe; no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
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

// Equality of the short strings a decision compares (ids, role names, capabilities,
// workspaces, decision keys) in a few word loads instead of a call to memcmp: at these
// lengths the call cost more than the compare (a profile put memcmp at a sixth of an
// uncached decision). Not constant-time: never for secrets.
inline bool equal(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  const char* p = a.data();
  const char* q = b.data();
  const auto word = [](const char* at) {
    std::uint64_t w;
    std::memcpy(&w, at, sizeof w);
    return w;
  };
  if (n > 128) return std::memcmp(p, q, n) == 0;  // long: memcmp's vector loop wins
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8)
      if (word(p + i) != word(q + i)) return false;
    return word(p + n - 8) == word(q + n - 8);  // the last word overlaps the one before
  }
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != q[i]) return false;
  return true;
}

}  // namespace iam::text
