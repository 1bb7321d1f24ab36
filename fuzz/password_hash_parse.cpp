// `pbkdf2-sha256$<iterations>$<b64 salt>$<b64 hash>` parsing (src/credentials/password.cpp).
// Properties: a string that parses is in canonical form (format(parse(s)) == s) and within
// the documented bounds, so never longer than the longest canonical string (issue 14's
// size property: no parser accepts input beyond its bound); verification of a parsed string runs (for small counts) without
// fault; the password policy check never faults.
#include <cstddef>
#include <cstdint>
#include <string>

#include "credentials/password.h"
#include "fuzz_common.h"

using namespace iam::credentials;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::size_t longest = format_password_hash(PasswordHash{
      max_password_iterations, std::vector<std::uint8_t>(1024), std::vector<std::uint8_t>(password_hash_bytes)}).size();
  const std::string_view text = fuzz::as_view(data, size);
  if (const auto parsed = parse_password_hash(text)) {
    fuzz::check(text.size() <= longest, "a parsed hash string is within the size bound");
    fuzz::check(parsed->iterations >= 1 && parsed->iterations <= max_password_iterations, "iterations in range");
    fuzz::check(!parsed->salt.empty() && parsed->salt.size() <= 1024, "salt length in range");
    fuzz::check(parsed->hash.size() == password_hash_bytes, "hash is 32 bytes");
    fuzz::check(format_password_hash(*parsed) == text, "a parsed hash string is canonical");
    // PBKDF2 itself is OpenSSL's; run it only where it is cheap.
    if (parsed->iterations <= 64) (void)verify_password("password", text);
  } else {
    fuzz::check(!verify_password("password", text), "a malformed hash string never verifies");
  }
  (void)check_password_policy(PasswordPolicy{}, text, "admin");
  return 0;
}
