// iam/random.h — where the library gets randomness (keys, salts, ids, passwords).
//
// THREAD SAFETY: implementations must be safe to call from many threads at once; the
// default one (libsodium's randombytes) is. OWNERSHIP: held by std::shared_ptr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "iam/export.h"

namespace iam {

class IAM_EXPORT RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with unpredictable bytes. Must not fail.
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

// Cryptographically secure randomness from libsodium (randombytes_buf).
IAM_EXPORT std::shared_ptr<RandomSource> system_random();

}  // namespace iam
