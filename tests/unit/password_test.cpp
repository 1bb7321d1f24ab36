// Password hashes (`pbkdf2-sha256$<iterations>$<base64 salt>$<base64 hash>`, docs/protocol.md
// "Credentials"), interoperability with Python's hashlib, the password policy and
// temporary passwords.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "credentials/password.h"
#include "crypto/crypto.h"
#include "iam/random.h"
#include "iam/status.h"
#include "../support/counting_random.h"
#include "../support/data_files.h"

namespace {

using iam::credentials::check_password_policy;
using iam::credentials::parse_password_hash;
using iam::credentials::PasswordPolicy;
using iam::credentials::verify_password;
using test_support::CountingRandom;

std::vector<std::uint8_t> counting(std::uint8_t from, std::size_t n) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(from + i);
  return out;
}

// A well-formed stored hash: Python's hashlib.pbkdf2_hmac of "correct horse battery
// staple", salt "iam-fixture-salt!", 1000 iterations (the same value as the fixture file,
// which the interoperability test reads from disk).
constexpr std::string_view kValid =
    "pbkdf2-sha256$1000$aWFtLWZpeHR1cmUtc2FsdCE=$CKMcF8S1ag4hPMqLsBml7goxRLPvhdAZEgk4q8P/XHo=";
constexpr std::string_view kSalt = "aWFtLWZpeHR1cmUtc2FsdCE=";
constexpr std::string_view kHash = "CKMcF8S1ag4hPMqLsBml7goxRLPvhdAZEgk4q8P/XHo=";

std::string with(std::string_view scheme, std::string_view iterations, std::string_view salt,
                 std::string_view hash) {
  return std::string(scheme) + '$' + std::string(iterations) + '$' + std::string(salt) + '$' + std::string(hash);
}

}  // namespace

// ---------------------------------------------------------------- format / parse

TEST_CASE("format_password_hash writes scheme, decimal count and padded standard base64") {
  iam::credentials::PasswordHash h;
  h.iterations = 1000;
  h.salt = counting(0x00, 16);
  h.hash = counting(0x20, 32);
  CHECK(iam::credentials::format_password_hash(h) ==
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=");
}

TEST_CASE("parse_password_hash reads back what format_password_hash writes") {
  iam::credentials::PasswordHash h;
  h.iterations = 600'000;
  h.salt = counting(0x90, 16);
  h.hash = counting(0xe0, 32);
  const auto parsed = parse_password_hash(iam::credentials::format_password_hash(h));
  REQUIRE(parsed.has_value());
  CHECK(parsed->iterations == h.iterations);
  CHECK(parsed->salt == h.salt);
  CHECK(parsed->hash == h.hash);
}

TEST_CASE("parse_password_hash reads the fields of a known string") {
  const auto parsed = parse_password_hash(kValid);
  REQUIRE(parsed.has_value());
  CHECK(parsed->iterations == 1000);
  CHECK(std::string(parsed->salt.begin(), parsed->salt.end()) == "iam-fixture-salt!");
  CHECK(parsed->hash.size() == 32);
}

TEST_CASE("hash_password produces a parseable hash with a 16-byte salt from the random source") {
  CountingRandom random;
  const std::string encoded = iam::credentials::hash_password("correct horse", 1000, random);
  const auto parsed = parse_password_hash(encoded);
  REQUIRE(parsed.has_value());
  CHECK(parsed->iterations == 1000);
  CHECK(parsed->salt == counting(0x00, 16));
  CHECK(parsed->hash.size() == 32);
  CHECK(encoded.starts_with("pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$"));
}

TEST_CASE("hash_password uses a fresh salt each time") {
  auto random = iam::system_random();
  const std::string a = iam::credentials::hash_password("same password", 1000, *random);
  const std::string b = iam::credentials::hash_password("same password", 1000, *random);
  CHECK(a != b);
  CHECK(verify_password("same password", a));
  CHECK(verify_password("same password", b));
}

TEST_CASE("verify_password accepts the right password") {
  auto random = iam::system_random();
  const std::string encoded = iam::credentials::hash_password("correct horse", 1000, *random);
  CHECK(verify_password("correct horse", encoded));
}

TEST_CASE("verify_password rejects a wrong password") {
  auto random = iam::system_random();
  const std::string encoded = iam::credentials::hash_password("correct horse", 1000, *random);
  CHECK_FALSE(verify_password("correct horsf", encoded));
  CHECK_FALSE(verify_password("Correct horse", encoded));
  CHECK_FALSE(verify_password("correct horse ", encoded));
  CHECK_FALSE(verify_password("correct hors", encoded));
  CHECK_FALSE(verify_password("", encoded));
}

TEST_CASE("verify_password reads the iteration count from the stored string") {
  auto random = iam::system_random();
  const std::string encoded = iam::credentials::hash_password("pw-at-1", 1, *random);
  auto parsed = parse_password_hash(encoded);
  REQUIRE(parsed.has_value());
  REQUIRE(verify_password("pw-at-1", encoded));
  parsed->iterations = 2;  // same salt and hash, other count: no longer matches
  CHECK_FALSE(verify_password("pw-at-1", iam::credentials::format_password_hash(*parsed)));
}

// ---------------------------------------------------------------- malformed stored strings

TEST_CASE("parse_password_hash rejects a wrong scheme") {
  REQUIRE(parse_password_hash(kValid).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha512", "1000", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("PBKDF2-SHA256", "1000", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2_sha256", "1000", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2", "1000", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("", "1000", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with(" pbkdf2-sha256", "1000", kSalt, kHash)).has_value());
  CHECK_FALSE(verify_password("correct horse battery staple", with("pbkdf2-sha512", "1000", kSalt, kHash)));
}

TEST_CASE("parse_password_hash rejects a leading zero in the iteration count") {
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "01000", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "00", kSalt, kHash)).has_value());
  CHECK_FALSE(verify_password("correct horse battery staple", with("pbkdf2-sha256", "01000", kSalt, kHash)));
}

TEST_CASE("parse_password_hash rejects zero iterations") {
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "0", kSalt, kHash)).has_value());
}

TEST_CASE("parse_password_hash rejects counts above max_password_iterations") {
  using iam::credentials::max_password_iterations;
  REQUIRE(max_password_iterations == 10'000'000);
  CHECK(parse_password_hash(with("pbkdf2-sha256", "10000000", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "10000001", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "4294967295", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "4294967296", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "99999999999999999999", kSalt, kHash)).has_value());
}

TEST_CASE("parse_password_hash rejects signs, spaces and non-digits in the count") {
  for (const std::string_view count : {"+1000", "-1000", " 1000", "1000 ", "1e3", "1,000", "0x3e8", ""}) {
    CAPTURE(count);
    CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", count, kSalt, kHash)).has_value());
  }
}

TEST_CASE("parse_password_hash rejects non-canonical base64") {
  // trailing bits set ('E' -> 'F' keeps the length but sets an unused bit)
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", "aWFtLWZpeHR1cmUtc2FsdCF=", kHash)).has_value());
  // padding dropped or doubled
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", "aWFtLWZpeHR1cmUtc2FsdCE", kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", "aWFtLWZpeHR1cmUtc2FsdCE==", kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", kSalt,
                                       "CKMcF8S1ag4hPMqLsBml7goxRLPvhdAZEgk4q8P/XHo")).has_value());
  // URL-safe alphabet instead of the standard one
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", kSalt,
                                       "CKMcF8S1ag4hPMqLsBml7goxRLPvhdAZEgk4q8P_XHo=")).has_value());
  // whitespace inside
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", "aWFtLWZpeHR1 cmUtc2FsdCE=", kHash)).has_value());
  CHECK_FALSE(parse_password_hash(std::string(kValid) + "\n").has_value());
}

TEST_CASE("parse_password_hash rejects a hash that is not 32 bytes") {
  const std::string bytes31 = iam::crypto::base64_encode(std::vector<std::uint8_t>(31, 0x41));
  const std::string bytes33 = iam::crypto::base64_encode(std::vector<std::uint8_t>(33, 0x41));
  const std::string bytes64 = iam::crypto::base64_encode(std::vector<std::uint8_t>(64, 0x41));
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", kSalt, bytes31)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", kSalt, bytes33)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", kSalt, bytes64)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", kSalt, "")).has_value());
}

TEST_CASE("parse_password_hash rejects an empty salt") {
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", "", kHash)).has_value());
}

TEST_CASE("parse_password_hash rejects missing parts") {
  CHECK_FALSE(parse_password_hash("").has_value());
  CHECK_FALSE(parse_password_hash("pbkdf2-sha256").has_value());
  CHECK_FALSE(parse_password_hash("pbkdf2-sha256$1000").has_value());
  CHECK_FALSE(parse_password_hash(std::string("pbkdf2-sha256$1000$") + std::string(kSalt)).has_value());
  CHECK_FALSE(parse_password_hash(std::string("pbkdf2-sha256$") + std::string(kSalt) + "$" + std::string(kHash))
                  .has_value());
  CHECK_FALSE(parse_password_hash(std::string("1000$") + std::string(kSalt) + "$" + std::string(kHash)).has_value());
}

TEST_CASE("parse_password_hash rejects an extra '$'") {
  CHECK_FALSE(parse_password_hash(std::string(kValid) + "$").has_value());
  CHECK_FALSE(parse_password_hash(std::string(kValid) + "$extra").has_value());
  CHECK_FALSE(parse_password_hash(std::string("$") + std::string(kValid)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000$", kSalt, kHash)).has_value());
  CHECK_FALSE(parse_password_hash(with("pbkdf2-sha256", "1000", std::string(kSalt) + "$", kHash)).has_value());
  CHECK_FALSE(verify_password("correct horse battery staple", std::string(kValid) + "$"));
}

// ---------------------------------------------------------------- interoperability

TEST_CASE("verify_password accepts a hash made by Python's hashlib.pbkdf2_hmac") {
  const std::string stored = test_support::first_line(test_support::fixtures_dir() / "python_pbkdf2_hash.txt");
  const auto parsed = parse_password_hash(stored);
  REQUIRE(parsed.has_value());
  CHECK(parsed->iterations == 1000);
  CHECK(verify_password("correct horse battery staple", stored));
}

TEST_CASE("verify_password rejects another password against the Python-made hash") {
  const std::string stored = test_support::first_line(test_support::fixtures_dir() / "python_pbkdf2_hash.txt");
  CHECK_FALSE(verify_password("correct horse battery stapler", stored));
  CHECK_FALSE(verify_password("Correct horse battery staple", stored));
  CHECK_FALSE(verify_password("", stored));
}

// ---------------------------------------------------------------- policy

TEST_CASE("password policy accepts 8 characters and refuses 7") {
  const PasswordPolicy policy;
  CHECK(check_password_policy(policy, "abcdefgh", "alice").ok());
  const auto short_one = check_password_policy(policy, "abcdefg", "alice");
  REQUIRE_FALSE(short_one.ok());
  CHECK(short_one.error().code == iam::ErrorCode::weak_password);
  const auto empty = check_password_policy(policy, "", "alice");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == iam::ErrorCode::weak_password);
}

TEST_CASE("password policy counts the minimum in UTF-8 code points, not bytes") {
  const PasswordPolicy policy;
  // Four 2-byte characters: 8 bytes but only 4 characters.
  const auto four = check_password_policy(policy, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "alice");
  REQUIRE_FALSE(four.ok());
  CHECK(four.error().code == iam::ErrorCode::weak_password);
  // Two 4-byte characters: 8 bytes, 2 characters.
  const auto two = check_password_policy(policy, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", "alice");
  REQUIRE_FALSE(two.ok());
  CHECK(two.error().code == iam::ErrorCode::weak_password);
  // Eight 2-byte characters are enough.
  CHECK(check_password_policy(policy, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "alice").ok());
  // Seven ASCII characters and one 3-byte one: 8 characters.
  CHECK(check_password_policy(policy, "abcdefg\xe2\x82\xac", "alice").ok());
}

TEST_CASE("password policy allows 1024 bytes and refuses 1025") {
  const PasswordPolicy policy;
  CHECK(check_password_policy(policy, std::string(1024, 'a'), "alice").ok());
  const auto long_one = check_password_policy(policy, std::string(1025, 'a'), "alice");
  REQUIRE_FALSE(long_one.ok());
  CHECK(long_one.error().code == iam::ErrorCode::weak_password);
}

TEST_CASE("password policy counts the maximum in bytes, not characters") {
  const PasswordPolicy policy;
  std::string text;
  for (int i = 0; i < 513; ++i) text += "\xc3\xa9";  // 513 characters, 1026 bytes
  const auto status = check_password_policy(policy, text, "alice");
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == iam::ErrorCode::weak_password);
}

TEST_CASE("password policy refuses the username, ignoring ASCII case") {
  const PasswordPolicy policy;
  for (const std::string_view password : {"alicesmith", "AliceSmith", "ALICESMITH"}) {
    CAPTURE(password);
    const auto status = check_password_policy(policy, password, "aliceSmith");
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == iam::ErrorCode::weak_password);
  }
  CHECK(check_password_policy(policy, "alicesmith1", "alicesmith").ok());
  CHECK(check_password_policy(policy, "alicesmit", "alicesmith").ok());
}

TEST_CASE("password policy settings can be relaxed") {
  PasswordPolicy policy;
  policy.forbid_username = false;
  CHECK(check_password_policy(policy, "alicesmith", "alicesmith").ok());
  policy.min_characters = 6;
  CHECK(check_password_policy(policy, "abcdef", "alice").ok());
  CHECK_FALSE(check_password_policy(policy, "abcde", "alice").ok());
}

// ---------------------------------------------------------------- temporary passwords

TEST_CASE("generate_temporary_password is 16 base64url characters of 12 random bytes") {
  auto random = iam::system_random();
  const auto password = iam::credentials::generate_temporary_password(*random);
  CHECK(password.size() == 16);
  const auto bytes = iam::crypto::base64url_decode(password.view());
  REQUIRE(bytes.has_value());
  CHECK(bytes->size() == 12);
  CHECK(check_password_policy(PasswordPolicy{}, password.view(), "alice").ok());
}

TEST_CASE("generate_temporary_password encodes exactly the bytes the random source gives") {
  CountingRandom random;  // bytes 0x00..0x0b
  CHECK(iam::credentials::generate_temporary_password(random).view() == "AAECAwQFBgcICQoL");
}

TEST_CASE("generate_temporary_password differs between calls") {
  auto random = iam::system_random();
  const auto a = iam::credentials::generate_temporary_password(*random);
  const auto b = iam::credentials::generate_temporary_password(*random);
  CHECK(a.view() != b.view());
}
