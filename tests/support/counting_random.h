// A RandomSource that hands out 0, 1, 2, ... (wrapping at 255), so values a test makes
// through the library (salts, keys) are predictable.
#pragma once

#include <cstdint>
#include <span>

#include "iam/random.h"

namespace test_support {

class CountingRandom final : public iam::RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = next_++;
  }

 private:
  std::uint8_t next_ = 0;
};

}  // namespace test_support
