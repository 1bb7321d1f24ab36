#include "storage/sqlite/sqlite_roles.h"

#include <cstdint>

namespace iam::sqlite_detail {
namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}


}  // namespace

std::string encode_roles(const std::vector<std::string>& roles) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "[";
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (const char ch : roles[i]) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += ch;
      } else if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0x0f];
      } else {
        out += ch;
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

std::optional<std::vector<std::string>> decode_roles(std::string_view text) {
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  auto hex4 = [&](std::uint32_t& value) {
    if (text.size() - i < 4) return false;
    value = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  std::vector<std::string> roles;
  skip_space();
  if (i >= text.size() || text[i++] != '[') return std::nullopt;
  skip_space();
  if (i < text.size() && text[i] == ']') {
    ++i;
  } else {
    for (;;) {
      skip_space();
      if (i >= text.size() || text[i++] != '"') return std::nullopt;
      std::string role;
      for (;;) {
        if (i >= text.size()) return std::nullopt;
        const char c = text[i++];
        if (c == '"') break;
        if (c != '\\') {
          role += c;
          continue;
        }
        if (i >= text.size()) return std::nullopt;
        const char e = text[i++];
        switch (e) {
          case '"': role += '"'; break;
          case '\\': role += '\\'; break;
          case '/': role += '/'; break;
          case 'b': role += '\b'; break;
          case 'f': role += '\f'; break;
          case 'n': role += '\n'; break;
          case 'r': role += '\r'; break;
          case 't': role += '\t'; break;
          case 'u': {
            std::uint32_t cp = 0;
            if (!hex4(cp)) return std::nullopt;
            if (cp >= 0xd800 && cp < 0xdc00) {
              std::uint32_t low = 0;
              if (text.size() - i < 6 || text[i] != '\\' || text[i + 1] != 'u') return std::nullopt;
              i += 2;
              if (!hex4(low) || low < 0xdc00 || low >= 0xe000) return std::nullopt;
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
              return std::nullopt;
            }
            append_utf8(role, cp);
            break;
          }
          default: return std::nullopt;
        }
      }
      roles.push_back(std::move(role));
      skip_space();
      if (i >= text.size()) return std::nullopt;
      const char sep = text[i++];
      if (sep == ']') break;
      if (sep != ',') return std::nullopt;
    }
  }
  skip_space();
  if (i != text.size()) return std::nullopt;
  return roles;
}

}  // namespace iam::sqlite_detail
