// src/core/string_map.h — an open-addressing map keyed by std::string and looked up by
// std::string_view (internal).
//
// absl::flat_hash_map with absl's string hash and text::equal: a lookup is a short hash,
// one probe and a compare without a call.
// Debian's absl has its own string_view type, so the hash takes std::string_view here and
// hands absl one of its own.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/hash/hash.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "core/text.h"

namespace iam {

struct StringViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size()));
  }
};

struct TextEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return text::equal(a, b); }
};

template <class T>
using FlatStringMap = absl::flat_hash_map<std::string, T, StringViewHash, TextEqual>;

}  // namespace iam
