#include "credentials/password.h"

#include <charconv>

#include "crypto/crypto.h"

namespace iam::credentials {
namespace {
constexpr std::string_view kScheme = "pbkdf2-sha256";

bool ascii_iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::size_t utf8_code_points(std::string_view text) {
  std::size_t count = 0;
  for (const char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  return count;
}
}  // namespace

std::optional<PasswordHash> parse_password_hash(std::string_view encoded) {
  std::string_view parts[4];
  for (int i = 0; i < 3; ++i) {
    const auto dollar = encoded.find('$');
    if (dollar == std::string_view::npos) return std::nullopt;
    parts[i] = encoded.substr(0, dollar);
    encoded.remove_prefix(dollar + 1);
  }
  parts[3] = encoded;
  if (parts[0] != kScheme) return std::nullopt;
  const std::string_view count = parts[1];
  if (count.empty() || count.size() > 10 || count[0] == '0') return std::nullopt;
  std::uint64_t iterations = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), iterations);
  if (ec != std::errc() || end != count.data() + count.size() || iterations == 0 ||
      iterations > max_password_iterations)
    return std::nullopt;
  auto salt = crypto::base64_decode(parts[2]);
  auto hash = crypto::base64_decode(parts[3]);
  if (!salt || salt->empty() || salt->size() > 1024 || !hash || hash->size() != password_hash_bytes)
    return std::nullopt;
  return PasswordHash{static_cast<std::uint32_t>(iterations), std::move(*salt), std::move(*hash)};
}

std::string format_password_hash(const PasswordHash& hash) {
  return std::string(kScheme) + '$' + std::to_string(hash.iterations) + '$' + crypto::base64_encode(hash.salt) +
         '$' + crypto::base64_encode(hash.hash);
}

std::string hash_password(std::string_view password, std::uint32_t iterations, RandomSource& random) {
  PasswordHash h;
  h.iterations = iterations;
  h.salt.resize(password_salt_bytes);
  random.fill(h.salt);
  h.hash.resize(password_hash_bytes);
  if (!crypto::pbkdf2_sha256(password, h.salt, iterations, h.hash)) return {};
  return format_password_hash(h);
}

bool verify_password(std::string_view password, std::string_view encoded) {
  const auto stored = parse_password_hash(encoded);
  if (!stored) return false;
  SecretBytes computed(password_hash_bytes);
  if (!crypto::pbkdf2_sha256(password, stored->salt, stored->iterations, computed.span())) return false;
  return crypto::constant_time_equal(computed.span(), stored->hash);
}

void dummy_password_work(std::string_view password, std::uint32_t iterations) {
  static const std::uint8_t salt[password_salt_bytes] = {};
  SecretBytes computed(password_hash_bytes);
  (void)crypto::pbkdf2_sha256(password, salt, iterations, computed.span());
}

Status check_password_policy(const PasswordPolicy& policy, std::string_view password, std::string_view username) {
  if (password.size() > policy.max_bytes)
    return Error{ErrorCode::weak_password, "password longer than " + std::to_string(policy.max_bytes) + " bytes"};
  if (utf8_code_points(password) < policy.min_characters)
    return Error{ErrorCode::weak_password,
                 "password shorter than " + std::to_string(policy.min_characters) + " characters"};
  if (policy.forbid_username && !username.empty() && ascii_iequal(password, username))
    return Error{ErrorCode::weak_password, "password equals the username"};
  return {};
}

SecretString generate_temporary_password(RandomSource& random) {
  SecretBytes bytes(temporary_password_random_bytes);
  random.fill(bytes.span());
  return SecretString(crypto::base64url_encode(bytes.span()));
}

}  // namespace iam::credentials
