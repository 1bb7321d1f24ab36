// Strict base64 / base64url / hex decoding (src/crypto/encoding.cpp).
// Properties: whatever decodes re-encodes to exactly the input (one canonical spelling per
// byte string), and encode then decode gives the bytes back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "crypto/crypto.h"
#include "fuzz_common.h"

using namespace iam::crypto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_view(data, size);
  const std::span<const std::uint8_t> bytes(data, size);

  if (const auto decoded = base64_decode(text))
    fuzz::check(base64_encode(*decoded) == text, "base64: decoded text re-encodes canonically");
  if (const auto decoded = base64url_decode(text))
    fuzz::check(base64url_encode(*decoded) == text, "base64url: decoded text re-encodes canonically");
  if (const auto decoded = hex_decode(text)) {
    fuzz::check(decoded->size() * 2 == size, "hex: two digits per byte");
    fuzz::check(hex_decode(hex_encode(*decoded)) == decoded, "hex: decode(encode(decode(x)))");
  }

  const auto b64 = base64_encode(bytes);
  const auto back = base64_decode(b64);
  fuzz::check(back && std::equal(back->begin(), back->end(), bytes.begin(), bytes.end()), "base64: decode(encode(x)) == x");
  const auto b64url = base64url_encode(bytes);
  fuzz::check(b64url.find('=') == std::string::npos, "base64url: no padding");
  const auto back_url = base64url_decode(b64url);
  fuzz::check(back_url && std::equal(back_url->begin(), back_url->end(), bytes.begin(), bytes.end()),
              "base64url: decode(encode(x)) == x");
  const auto back_hex = hex_decode(hex_encode(bytes));
  fuzz::check(back_hex && std::equal(back_hex->begin(), back_hex->end(), bytes.begin(), bytes.end()),
              "hex: decode(encode(x)) == x");
  return 0;
}
