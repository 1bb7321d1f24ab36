#include "iam/repository.h"

#include <utf8proc.h>

#include <cstdlib>
#include <limits>
#include <memory>

namespace iam {

std::optional<std::string> username_key(std::string_view username) {
  // utf8proc_map measures in a signed size and may need several times the input.
  if (username.size() > (std::numeric_limits<std::size_t>::max() >> 6)) return std::nullopt;
  // NFKC_Casefold (UAX #15, UAX #44): compatibility forms composed ('ａ' -> 'a'), full case
  // folding ('ß' -> 'ss'), default-ignorable code points (zero-width, bidi controls) dropped.
  // REJECTNA: an unassigned code point has no key, so a later Unicode version cannot give a
  // stored username a different one. No NULLTERM: an embedded NUL is a character, not an end.
  constexpr auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                                           UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_REJECTNA);
  utf8proc_uint8_t* folded = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(username.data()),
                   static_cast<utf8proc_ssize_t>(username.size()), &folded, options);
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(folded, &std::free);
  if (n <= 0) return std::nullopt;  // invalid UTF-8, an unassigned code point, out of memory, or nothing left
  return std::string(reinterpret_cast<const char*>(folded), static_cast<std::size_t>(n));
}

}  // namespace iam
