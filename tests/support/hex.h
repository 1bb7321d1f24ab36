// Hex parsing for test vectors, written here rather than taken from the library so that a
// vector never depends on the code under test. Fails the current doctest test on input
// that is not an even number of hex digits.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace test_support {

inline std::vector<std::uint8_t> from_hex(std::string_view hex) {
  REQUIRE_MESSAGE(hex.size() % 2 == 0, "odd-length hex: " << hex);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out;
  out.reserve(hex.size() / 2);
  bool well_formed = true;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    well_formed = well_formed && hi >= 0 && lo >= 0;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  REQUIRE_MESSAGE(well_formed, "not hex: " << hex);
  return out;
}

// Exactly N bytes of hex, for fixed-size keys and signatures.
template <std::size_t N>
std::array<std::uint8_t, N> fixed_from_hex(std::string_view hex) {
  const auto bytes = from_hex(hex);
  REQUIRE(bytes.size() == N);
  std::array<std::uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

}  // namespace test_support
