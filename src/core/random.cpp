#include "iam/random.h"

#include <sodium.h>

#include "crypto/crypto.h"

namespace iam {
namespace {
class SodiumRandom final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override { randombytes_buf(out.data(), out.size()); }
};
}  // namespace

std::shared_ptr<RandomSource> system_random() {
  crypto::ensure_initialised();
  static const auto random = std::make_shared<SodiumRandom>();
  return random;
}

}  // namespace iam
