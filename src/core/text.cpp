#include "core/text.h"

#include <utf8proc.h>

#include <cstdio>

namespace iam::text {
namespace {

bool is_control(utf8proc_int32_t c) noexcept {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029;
}

bool is_space(utf8proc_int32_t c) noexcept {
  if (is_control(c)) return true;
  const auto category = utf8proc_category(c);
  return category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL || category == UTF8PROC_CATEGORY_ZP;
}

// Decodes the code point at s[i], advancing i; -1 (and one byte) for an invalid sequence.
utf8proc_int32_t next(std::string_view s, std::size_t& i) noexcept {
  utf8proc_int32_t c = -1;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                  static_cast<utf8proc_ssize_t>(s.size() - i), &c);
  if (n <= 0) {
    ++i;
    return -1;
  }
  i += static_cast<std::size_t>(n);
  return c;
}

}  // namespace

bool is_plain(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = next(s, i);
    if (c < 0 || is_control(c)) return false;
  }
  return true;
}

bool has_outer_whitespace(std::string_view s) noexcept {
  if (s.empty()) return false;
  std::size_t i = 0;
  if (const auto first = next(s, i); first >= 0 && is_space(first)) return true;
  // The last code point starts at the last byte that is not a continuation byte.
  std::size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
  std::size_t j = start;
  const auto last = next(s, j);
  return last >= 0 && j == s.size() && is_space(last);
}

std::string escape_controls(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  char buffer[16];
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t at = i;
    const auto c = next(s, i);
    if (c < 0) {
      std::snprintf(buffer, sizeof buffer, "\\x%02X", static_cast<unsigned>(static_cast<unsigned char>(s[at])));
      out += buffer;
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == 0x1b) {
      out += "\\e";
    } else if (c < 0x80 && is_control(c)) {
      std::snprintf(buffer, sizeof buffer, "\\x%02X", static_cast<unsigned>(c));
      out += buffer;
    } else if (is_control(c)) {
      std::snprintf(buffer, sizeof buffer, "\\u{%04X}", static_cast<unsigned>(c));
      out += buffer;
    } else {
      out.append(s.substr(at, i - at));
    }
  }
  return out;
}

}  // namespace iam::text
