// Internal: private signing keys at rest. A sealed value is
// nonce || crypto_secretbox_easy(plaintext) under the key-encryption key (iam/key_at_rest.h);
// a store records a sealed check text beside them so that opening it with another key is
// refused instead of failing later.
//
// THREAD SAFETY: pure functions (libsodium must be initialised: crypto::ensure_initialised).
// OWNERSHIP: plaintexts come back in SecretBytes that wipe themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "iam/secret.h"

namespace iam::storage_detail {

// The meta entries of a store whose private keys are sealed.
inline constexpr std::string_view meta_private_keys = "private_keys";  // value "encrypted"
inline constexpr std::string_view meta_private_keys_value = "encrypted";
inline constexpr std::string_view meta_key_check = "key_check";  // seal(key, the store's check text)

// `plaintext` sealed under `key` (32 bytes) with a fresh random nonce.
std::vector<std::uint8_t> seal(const SecretBytes& key, std::span<const std::uint8_t> plaintext);

// The plaintext of `box`, or nullopt when it is malformed or was sealed under another key.
std::optional<SecretBytes> unseal(const SecretBytes& key, std::span<const std::uint8_t> box);

// True when `check` (the stored key_check value, if any) unseals under `key` to `check_text`.
bool key_opens_check(const SecretBytes& key, const std::optional<std::vector<std::uint8_t>>& check,
                     std::string_view check_text);

}  // namespace iam::storage_detail
