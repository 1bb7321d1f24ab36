#include <sodium.h>

#include <algorithm>

#include "crypto/crypto.h"

namespace iam::crypto {

void ensure_initialised() {
  // sodium_init is thread-safe and idempotent; a failure means no usable randomness, and
  // carrying on would be unsafe.
  static const bool ready = [] {
    if (sodium_init() < 0) std::abort();
    return true;
  }();
  (void)ready;
}

namespace {
std::string encode(std::span<const std::uint8_t> bytes, int variant) {
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
  out.resize(out.size() - 1);  // drop the terminating NUL libsodium writes
  return out;
}

std::optional<Bytes> decode(std::string_view text, int variant) {
  if (text.empty()) return Bytes{};  // libsodium's arguments are declared non-null
  // libsodium 1.0.18 reads a byte >= 0x80 as the digit 63 instead of stopping at it (its
  // constant-time range checks assume a non-negative char), so such bytes would decode
  // as '/' or '_'. Refuse them before libsodium sees the text.
  if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
    return std::nullopt;
  Bytes out(text.size() / 4 * 3 + 3);
  std::size_t length = 0;
  const char* end = nullptr;
  // libsodium stops at the first character outside the alphabet (end tells where),
  // checks padding for the padded variants and rejects non-zero trailing bits.
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, &end, variant) != 0)
    return std::nullopt;
  if (end != text.data() + text.size()) return std::nullopt;
  out.resize(length);
  return out;
}
}  // namespace

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  return encode(bytes, sodium_base64_VARIANT_ORIGINAL);
}
std::string base64url_encode(std::span<const std::uint8_t> bytes) {
  return encode(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
std::optional<Bytes> base64_decode(std::string_view text) { return decode(text, sodium_base64_VARIANT_ORIGINAL); }
std::optional<Bytes> base64url_decode(std::string_view text) {
  // Unpadded base64 can never have a length of 1 mod 4.
  if (text.size() % 4 == 1) return std::nullopt;
  return decode(text, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::string hex_encode(std::span<const std::uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::optional<Bytes> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  if (text.empty()) return Bytes{};  // libsodium's buffers are declared non-null
  Bytes out(text.size() / 2);
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, &end) != 0 ||
      end != text.data() + text.size() || length != out.size())
    return std::nullopt;
  return out;
}

std::string uuid_v4(RandomSource& random) {
  std::array<std::uint8_t, 16> b{};
  random.fill(b);
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10xx (RFC 4122)
  const std::string hex = hex_encode(b);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' + hex.substr(16, 4) + '-' +
         hex.substr(20);
}

}  // namespace iam::crypto
