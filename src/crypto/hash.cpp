#include <openssl/evp.h>
#include <sodium.h>

#include <limits>

#include "crypto/crypto.h"

namespace iam::crypto {

Sha256Digest sha256(std::span<const std::uint8_t> bytes) {
  Sha256Digest out{};
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

std::string sha256_hex(std::string_view text) { return hex_encode(sha256(as_bytes(text))); }

bool pbkdf2_sha256(std::string_view password, std::span<const std::uint8_t> salt, std::uint32_t iterations,
                   std::span<std::uint8_t> out) {
  constexpr auto int_max = static_cast<std::size_t>(std::numeric_limits<int>::max());
  if (iterations == 0 || iterations > static_cast<std::uint32_t>(std::numeric_limits<int>::max()) ||
      password.size() > int_max || salt.size() > int_max || out.size() > int_max || out.empty())
    return false;
  return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                           static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                           static_cast<int>(out.size()), out.data()) == 1;
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace iam::crypto
