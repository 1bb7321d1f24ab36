// iam/secret.h — buffers for secrets (private keys, passwords, API key plaintexts) that
// wipe their memory with sodium_memzero when released.
//
// THREAD SAFETY: plain values; share a const one freely, mutate from one thread at a time.
// OWNERSHIP: each object owns its bytes. Moving transfers them and wipes the source;
// copying is explicit (copy()) so a secret is never duplicated by accident.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iam/export.h"

namespace iam {

class IAM_EXPORT SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);
  explicit SecretBytes(std::span<const std::uint8_t> bytes);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  SecretBytes copy() const { return SecretBytes(span()); }
  std::span<std::uint8_t> span() noexcept { return {bytes_.data(), bytes_.size()}; }
  std::span<const std::uint8_t> span() const noexcept { return {bytes_.data(), bytes_.size()}; }
  std::uint8_t* data() noexcept { return bytes_.data(); }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }
  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }
  // Wipes and empties.
  void clear() noexcept;

 private:
  std::vector<std::uint8_t> bytes_;
};

class IAM_EXPORT SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view text) : text_(text) {}
  explicit SecretString(std::string&& text) noexcept;  // takes the buffer; wipes `text`
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  ~SecretString();

  SecretString copy() const { return SecretString(view()); }
  std::string_view view() const noexcept { return text_; }
  bool empty() const noexcept { return text_.empty(); }
  std::size_t size() const noexcept { return text_.size(); }
  void clear() noexcept;

 private:
  std::string text_;
};

// Wipes a std::string's whole buffer (including spare capacity) and empties it.
IAM_EXPORT void wipe(std::string& text) noexcept;

}  // namespace iam
