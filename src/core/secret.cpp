#include "iam/secret.h"

#include <sodium.h>

namespace iam {

void wipe(std::string& text) noexcept {
  // Wipe the whole buffer, spare capacity included, before forgetting its length.
  if (text.capacity() > 0) sodium_memzero(text.data(), text.capacity());
  text.clear();
}

SecretBytes::SecretBytes(std::size_t size) : bytes_(size) {}
SecretBytes::SecretBytes(std::span<const std::uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.clear(); }
SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    clear();
    bytes_ = std::move(other.bytes_);
    other.clear();
  }
  return *this;
}
SecretBytes::~SecretBytes() { clear(); }
void SecretBytes::clear() noexcept {
  if (bytes_.capacity() > 0) sodium_memzero(bytes_.data(), bytes_.capacity());
  bytes_.clear();
}

SecretString::SecretString(std::string&& text) noexcept : text_(std::move(text)) { wipe(text); }
SecretString::SecretString(SecretString&& other) noexcept : text_(std::move(other.text_)) { wipe(other.text_); }
SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    wipe(text_);
    text_ = std::move(other.text_);
    wipe(other.text_);
  }
  return *this;
}
SecretString::~SecretString() { wipe(text_); }
void SecretString::clear() noexcept { wipe(text_); }

}  // namespace iam
