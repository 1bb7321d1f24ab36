// Internal: password hashes in the `pbkdf2-sha256$<iterations>$<b64 salt>$<b64 hash>` format
// (protocol.md "Credentials"), and password policy. Thread-safe; no storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iam/random.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace iam::credentials {

inline constexpr std::uint32_t default_password_iterations = 600'000;
// Parsing refuses counts above this, so a planted hash string cannot pin a CPU for minutes.
inline constexpr std::uint32_t max_password_iterations = 10'000'000;
inline constexpr std::size_t password_salt_bytes = 16;
inline constexpr std::size_t password_hash_bytes = 32;
inline constexpr std::size_t temporary_password_random_bytes = 12;  // 16 base64url characters

struct PasswordHash {
  std::uint32_t iterations = 0;
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> hash;
};

// nullopt unless the text is exactly the format above (strict base64, 32-byte hash,
// 1..max_password_iterations iterations written without sign or leading zero).
std::optional<PasswordHash> parse_password_hash(std::string_view encoded);
std::string format_password_hash(const PasswordHash& hash);

// A new hash with a random 16-byte salt.
std::string hash_password(std::string_view password, std::uint32_t iterations, RandomSource& random);
// Runs PBKDF2 with the stored count and salt and compares in constant time. False for a
// malformed stored string.
bool verify_password(std::string_view password, std::string_view encoded);
// Burns the same PBKDF2 work as a verification, so unknown users cost what known ones do.
void dummy_password_work(std::string_view password, std::uint32_t iterations);

struct PasswordPolicy {
  std::size_t min_characters = 8;   // counted in UTF-8 code points
  std::size_t max_bytes = 1024;
  bool forbid_username = true;      // the password may not equal the username (ASCII case-insensitive)
};
// weak_password with a message saying which rule failed.
Status check_password_policy(const PasswordPolicy& policy, std::string_view password, std::string_view username);

// base64url of 12 random bytes, as TrustGraph's reset-password.
SecretString generate_temporary_password(RandomSource& random);

}  // namespace iam::credentials
