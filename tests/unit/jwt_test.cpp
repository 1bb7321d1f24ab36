// Behaviour of the EdDSA JWT key set (protocol.md "JWT"): signing, every verification
// rule, rotation with its grace period, key export, and the RFC 8037 A.4 example.
//
// Time is driven by iam::ManualClock; nothing sleeps. Tokens that the library would never
// produce are crafted here by signing arbitrary header/payload bytes with the same Ed25519
// key the KeySet holds, so each rejection is caused by the one property under test and not
// by a bad signature.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "iam/clock.h"
#include "iam/jwt.h"
#include "iam/status.h"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace crypto = iam::crypto;

constexpr std::int64_t start_s = 1'800'000'000;  // ManualClock's default start

std::array<std::uint8_t, iam::ed25519_seed_bytes> seed_of(std::uint8_t fill) {
  std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(fill + i);
  return seed;
}

iam::SigningKey make_key(std::string kid, std::uint8_t fill, iam::TimePoint created) {
  const auto seed = seed_of(fill);
  auto key = iam::SigningKey::from_seed(std::move(kid), seed, created);
  REQUIRE(key.ok());
  return std::move(key).value();
}

std::string b64(std::string_view text) { return crypto::base64url_encode(crypto::as_bytes(text)); }

std::string decode_text(std::string_view segment) {
  const auto bytes = crypto::base64url_decode(segment);
  REQUIRE(bytes.has_value());
  return std::string(crypto::as_text(*bytes));
}

// `signing_input` + "." + base64url(Ed25519 signature over exactly those bytes).
std::string sign_input(const iam::SecretBytes& secret, std::string_view signing_input) {
  const auto signature = crypto::ed25519_sign(crypto::as_bytes(signing_input), secret);
  return std::string(signing_input) + '.' + crypto::base64url_encode(signature);
}

std::vector<std::string> split(std::string_view token) {
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (;;) {
    const auto dot = token.find('.', from);
    parts.emplace_back(token.substr(from, dot == std::string_view::npos ? std::string_view::npos : dot - from));
    if (dot == std::string_view::npos) break;
    from = dot + 1;
  }
  return parts;
}

// The rejection every failed verification must produce: auth_failed, "auth failure".
bool rejected(const iam::Result<iam::JwtClaims>& result) {
  return !result.ok() && result.error().code == iam::ErrorCode::auth_failed &&
         result.error().message == "auth failure" && result.error() == iam::auth_failure();
}

// The error code of a failed call; nullopt when it succeeded (so a CHECK reads safely).
template <class R>
std::optional<iam::ErrorCode> code_of(const R& result) {
  if (result.ok()) return std::nullopt;
  return result.error().code;
}

std::string hex_of(std::span<const std::uint8_t> bytes) { return crypto::hex_encode(bytes); }

// HMAC-SHA256 through OpenSSL's one-shot HMAC(), as an attacker would compute it.
std::string hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  const unsigned char* out = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &length);
  REQUIRE(out != nullptr);
  REQUIRE(length == 32);
  return crypto::base64url_encode(std::span<const std::uint8_t>(mac.data(), length));
}

// One key set with one active key "k1" loaded from a fixed seed; the test keeps its own
// copy of the private half to craft tokens.
struct Fixture {
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  iam::JwtConfig config;
  std::unique_ptr<iam::KeySet> keys;
  iam::SigningKey k1;

  explicit Fixture(iam::JwtConfig cfg = {}) : config(std::move(cfg)) {
    keys = std::make_unique<iam::KeySet>(config, clock);
    k1 = make_key("k1", 1, clock->now());
    std::vector<iam::SigningKey> set;
    set.push_back(k1.copy());
    REQUIRE(keys->load(std::move(set)).ok());
  }

  std::int64_t now_s() const { return iam::unix_seconds(clock->now()); }

  json header(std::string_view kid = "k1") const {
    return json{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", std::string(kid)}};
  }
  json claims() const {
    return json{{"iss", config.issuer},     {"sub", "user-1"},          {"workspace", "ws-a"},
                {"default_workspace", "ws-a"}, {"iat", now_s()}, {"exp", now_s() + config.lifetime.count()}};
  }
  // Signs raw header and payload texts (base64url-encoded canonically) with k1's private half.
  std::string craft(std::string_view header_text, std::string_view payload_text) const {
    return sign_input(k1.secret_key, b64(header_text) + '.' + b64(payload_text));
  }
  std::string craft_j(const json& h, const json& c) const { return craft(h.dump(), c.dump()); }
  std::string craft_claims(const json& c) const { return craft_j(header(), c); }

  iam::Result<iam::JwtClaims> verify(std::string_view token) const { return keys->verify(token); }
};

// Changes the last character of an unpadded base64url segment so that the bits it carries
// beyond the encoded bytes are no longer zero; lenient decoders give the same bytes.
std::string with_nonzero_trailing_bits(std::string segment) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  REQUIRE(segment.size() % 4 != 0);  // only a partial final quantum has spare bits
  const auto index = alphabet.find(segment.back());
  REQUIRE(index != std::string_view::npos);
  segment.back() = alphabet[index | 1];
  REQUIRE(segment.back() != alphabet[index]);
  return segment;
}

}  // namespace

// ------------------------------------------------------------------ signing and format

TEST_CASE("a signed token verifies and yields its claims") {
  Fixture f;
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  const auto claims = f.verify(*token);
  REQUIRE(claims.ok());
  CHECK(claims->issuer == "trustgraph-iam");
  CHECK(claims->subject == "user-1");
  CHECK(claims->workspace == "ws-a");
  CHECK(claims->issued_at == f.clock->now());
  CHECK(claims->expires_at == f.clock->now() + 3600s);
}

TEST_CASE("tokens carry the protocol's header and claims") {
  Fixture f;
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  const auto parts = split(*token);
  REQUIRE(parts.size() == 3);
  CHECK(json::parse(decode_text(parts[0])) == json{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "k1"}});
  CHECK(json::parse(decode_text(parts[1])) == json{{"iss", "trustgraph-iam"},
                                                    {"sub", "user-1"},
                                                    {"workspace", "ws-a"},
                                                    {"default_workspace", "ws-a"},
                                                    {"iat", start_s},
                                                    {"exp", start_s + 3600}});
  const auto signature = crypto::base64url_decode(parts[2]);
  REQUIRE(signature.has_value());
  CHECK(signature->size() == iam::ed25519_signature_bytes);
  CHECK(crypto::ed25519_verify(crypto::as_bytes(parts[0] + '.' + parts[1]), *signature, f.k1.public_key));
}

TEST_CASE("issuer and lifetime come from the configuration") {
  iam::JwtConfig cfg;
  cfg.issuer = "other-issuer";
  cfg.lifetime = 600s;
  Fixture f(cfg);
  const auto token = f.keys->sign("u", "w");
  REQUIRE(token.ok());
  const auto claims = f.verify(*token);
  REQUIRE(claims.ok());
  CHECK(claims->issuer == "other-issuer");
  CHECK(claims->expires_at == f.clock->now() + 600s);
  f.clock->advance(600s + 59s);
  CHECK(f.verify(*token).ok());
  f.clock->advance(1s);
  CHECK(rejected(f.verify(*token)));
}

TEST_CASE("crafted control token with the protocol's shape is accepted") {
  // Guards the negative tests below: the crafting helpers themselves produce good tokens.
  Fixture f;
  const auto claims = f.verify(f.craft_j(f.header(), f.claims()));
  REQUIRE(claims.ok());
  CHECK(claims->subject == "user-1");
}

TEST_CASE("signing without an active key is not_found, and so is the PEM") {
  iam::KeySet keys(iam::JwtConfig{}, std::make_shared<iam::ManualClock>());
  const auto token = keys.sign("u", "w");
  REQUIRE_FALSE(token.ok());
  CHECK(code_of(token) == iam::ErrorCode::not_found);
  const auto pem = keys.active_public_pem();
  REQUIRE_FALSE(pem.ok());
  CHECK(code_of(pem) == iam::ErrorCode::not_found);
  CHECK_FALSE(keys.active_kid().has_value());
  CHECK(json::parse(keys.jwks()) == json{{"keys", json::array()}});
}

TEST_CASE("verification with an empty key set rejects") {
  Fixture f;
  iam::KeySet empty(iam::JwtConfig{}, f.clock);
  CHECK(rejected(empty.verify(f.craft_j(f.header(), f.claims()))));
}

// ------------------------------------------------------------------ algorithm and key id

TEST_CASE("alg other than EdDSA is rejected") {
  Fixture f;
  const json c = f.claims();
  SUBCASE("alg none, empty signature") {
    const std::string token = b64(R"({"alg":"none","typ":"JWT","kid":"k1"})") + '.' + b64(c.dump()) + '.';
    CHECK(rejected(f.verify(token)));
  }
  SUBCASE("alg none, signed anyway") { CHECK(rejected(f.verify(f.craft(R"({"alg":"none","typ":"JWT","kid":"k1"})", c.dump())))); }
  SUBCASE("alg None / NONE") {
    CHECK(rejected(f.verify(f.craft(R"({"alg":"None","typ":"JWT","kid":"k1"})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"NONE","typ":"JWT","kid":"k1"})", c.dump()))));
  }
  SUBCASE("alg HS256 with an Ed25519 signature") {
    CHECK(rejected(f.verify(f.craft(R"({"alg":"HS256","typ":"JWT","kid":"k1"})", c.dump()))));
  }
  SUBCASE("alg RS256 with an Ed25519 signature") {
    CHECK(rejected(f.verify(f.craft(R"({"alg":"RS256","typ":"JWT","kid":"k1"})", c.dump()))));
  }
  SUBCASE("alg missing, wrong case, or not a string") {
    CHECK(rejected(f.verify(f.craft(R"({"typ":"JWT","kid":"k1"})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"eddsa","typ":"JWT","kid":"k1"})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"Ed25519","typ":"JWT","kid":"k1"})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA ","typ":"JWT","kid":"k1"})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":["EdDSA"],"typ":"JWT","kid":"k1"})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":null,"typ":"JWT","kid":"k1"})", c.dump()))));
  }
}

TEST_CASE("HS256 keyed with the public key (algorithm confusion) is rejected") {
  Fixture f;
  const std::string input = b64(R"({"alg":"HS256","typ":"JWT","kid":"k1"})") + '.' + b64(f.claims().dump());
  const auto pem = f.keys->active_public_pem();
  REQUIRE(pem.ok());
  SUBCASE("HMAC key = the PEM text") {
    CHECK(rejected(f.verify(input + '.' + hmac_sha256(crypto::as_bytes(*pem), input))));
  }
  SUBCASE("HMAC key = the raw 32 public key bytes") {
    CHECK(rejected(f.verify(input + '.' + hmac_sha256(f.k1.public_key, input))));
  }
  SUBCASE("same trick with alg EdDSA in the header") {
    const std::string eddsa = b64(f.header().dump()) + '.' + b64(f.claims().dump());
    CHECK(rejected(f.verify(eddsa + '.' + hmac_sha256(crypto::as_bytes(*pem), eddsa))));
    CHECK(rejected(f.verify(eddsa + '.' + hmac_sha256(f.k1.public_key, eddsa))));
  }
}

TEST_CASE("kid must name a key in the set") {
  Fixture f;
  const json c = f.claims();
  SUBCASE("missing kid") { CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT"})", c.dump())))); }
  SUBCASE("unknown kid") { CHECK(rejected(f.verify(f.craft_j(f.header("k2"), c)))); }
  SUBCASE("empty kid") { CHECK(rejected(f.verify(f.craft_j(f.header(""), c)))); }
  SUBCASE("kid differing only in case or whitespace") {
    CHECK(rejected(f.verify(f.craft_j(f.header("K1"), c))));
    CHECK(rejected(f.verify(f.craft_j(f.header("k1 "), c))));
  }
  SUBCASE("kid not a string") {
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":1})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":["k1"]})", c.dump()))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":null})", c.dump()))));
  }
  SUBCASE("kid of one key, signature of another key in the set") {
    auto k2 = make_key("k2", 2, f.clock->now());
    const std::string input = b64(f.header("k1").dump()) + '.' + b64(c.dump());
    REQUIRE(f.keys->rotate(k2.copy()).ok());  // k1 retired (in grace), k2 active
    CHECK(f.verify(sign_input(f.k1.secret_key, input)).ok());
    CHECK(rejected(f.verify(sign_input(k2.secret_key, input))));
  }
  SUBCASE("a key the set does not hold, claiming kid k1") {
    auto stranger = make_key("k1", 99, f.clock->now());
    CHECK(rejected(f.verify(sign_input(stranger.secret_key, b64(f.header().dump()) + '.' + b64(c.dump())))));
  }
}

TEST_CASE("kid of a retired key past its grace is rejected") {
  Fixture f;
  const json long_lived = [&] {
    json c = f.claims();
    c["exp"] = f.now_s() + 30 * 24 * 3600;  // outlives the grace, so only the grace can end it
    return c;
  }();
  const std::string old_token = f.craft_claims(long_lived);
  REQUIRE(f.keys->rotate(make_key("k2", 2, f.clock->now())).ok());
  f.clock->advance(f.config.effective_grace() - 1s);
  CHECK(f.verify(old_token).ok());
  f.clock->advance(1s);
  CHECK(rejected(f.verify(old_token)));
  // Also when it is reloaded from storage with its retirement time.
  iam::SigningKey retired = f.k1.copy();
  retired.retired = f.clock->now() - f.config.effective_grace();
  std::vector<iam::SigningKey> set;
  set.push_back(std::move(retired));
  set.push_back(make_key("k2", 2, f.clock->now()));
  REQUIRE(f.keys->load(std::move(set)).ok());
  CHECK(rejected(f.verify(old_token)));
}

TEST_CASE("a crit header is rejected") {
  Fixture f;
  const json c = f.claims();
  CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","crit":["exp"],"exp":1})", c.dump()))));
  CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","crit":[]})", c.dump()))));
  CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","crit":null})", c.dump()))));
}

// ------------------------------------------------------------------ compact serialisation

TEST_CASE("exactly three segments") {
  Fixture f;
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  const auto parts = split(*token);
  REQUIRE(parts.size() == 3);
  SUBCASE("two segments") {
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1])));
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + parts[2])));
  }
  SUBCASE("four segments") {
    CHECK(rejected(f.verify(*token + ".")));
    CHECK(rejected(f.verify(*token + '.' + parts[2])));
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + ".." + parts[2])));
    // Four segments whose first three are signed as such.
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, parts[0] + '.' + parts[1] + '.' + parts[1]))));
  }
  SUBCASE("one segment, empty and dots only") {
    CHECK(rejected(f.verify(parts[0])));
    CHECK(rejected(f.verify("")));
    CHECK(rejected(f.verify("..")));
    CHECK(rejected(f.verify("...")));
  }
  SUBCASE("empty segments") {
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + '.')));
    CHECK(rejected(f.verify('.' + parts[1] + '.' + parts[2])));
    CHECK(rejected(f.verify(parts[0] + ".." + parts[2])));
  }
  SUBCASE("surrounding whitespace") {
    CHECK(rejected(f.verify(*token + "\n")));
    CHECK(rejected(f.verify(" " + *token)));
  }
}

TEST_CASE("segments must be canonical unpadded base64url") {
  Fixture f;
  // Header and payload lengths chosen so no segment is a whole number of quanta: each
  // then has a partial final quantum (spare bits) and a padded form.
  std::string header_text = f.header().dump();
  while (header_text.size() % 3 == 0) header_text.insert(header_text.size() - 1, " ");
  json c = f.claims();
  std::string payload_text = c.dump();
  while (payload_text.size() % 3 == 0) payload_text.insert(payload_text.size() - 1, " ");
  const std::string h = b64(header_text);
  const std::string p = b64(payload_text);
  REQUIRE(f.verify(sign_input(f.k1.secret_key, h + '.' + p)).ok());  // control

  SUBCASE("padding appended to a segment (signature made over the padded text)") {
    const std::string hp = h + std::string((4 - h.size() % 4) % 4, '=');
    const std::string pp = p + std::string((4 - p.size() % 4) % 4, '=');
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, hp + '.' + p))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + pp))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + "=." + p))));
    const std::string good = sign_input(f.k1.secret_key, h + '.' + p);
    CHECK(rejected(f.verify(good + "==")));  // 64-byte signature, padded form
    CHECK(rejected(f.verify(good + "=")));
  }
  SUBCASE("non-zero trailing bits (signature made over the altered text)") {
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, with_nonzero_trailing_bits(h) + '.' + p))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + with_nonzero_trailing_bits(p)))));
    const auto parts = split(sign_input(f.k1.secret_key, h + '.' + p));
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + '.' + with_nonzero_trailing_bits(parts[2]))));
  }
  SUBCASE("every spelling of the last character but the canonical one") {
    // Replaces the final character of each segment by every byte value: only the original
    // decodes canonically to the signed bytes. Lenient decoders accept up to 15 others.
    const std::string good = sign_input(f.k1.secret_key, h + '.' + p);
    const auto parts = split(good);
    for (std::size_t which = 0; which < 3; ++which) {
      for (int byte = 0; byte < 256; ++byte) {
        auto variant = parts;
        const char original = variant[which].back();
        variant[which].back() = static_cast<char>(byte);
        const std::string input = variant[0] + '.' + variant[1];
        const std::string token = which == 2 ? input + '.' + variant[2] : sign_input(f.k1.secret_key, input);
        CAPTURE(which);
        CAPTURE(byte);
        if (static_cast<char>(byte) == original) {
          CHECK(f.verify(token).ok());
        } else {
          CHECK(rejected(f.verify(token)));
        }
      }
    }
  }
  SUBCASE("standard-alphabet characters and foreign bytes") {
    // '+' and '/' are base64's 62 and 63; base64url spells them '-' and '_'.
    std::string std_alphabet = p;
    bool changed = false;
    for (char& ch : std_alphabet) {
      if (ch == '-') { ch = '+'; changed = true; }
      if (ch == '_') { ch = '/'; changed = true; }
    }
    if (changed) CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + std_alphabet))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + ".+" + p.substr(1)))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + "./" + p.substr(1)))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + p.substr(0, 4) + ' ' + p.substr(4)))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + p.substr(0, 4) + '\n' + p.substr(4)))));
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + p.substr(0, 4) + std::string(1, '\0') + p.substr(4)))));
  }
  SUBCASE("impossible length (1 mod 4)") {
    std::string odd = p;
    while (odd.size() % 4 != 1) odd += 'A';
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + odd))));
  }
}

TEST_CASE("segments using the whole base64url alphabet decode correctly") {
  Fixture f;
  // A claim whose text makes the payload segment use all 64 characters of the alphabet
  // (both '-' and '_' included), so a decoding slip on any character would break the JSON.
  std::string filler;
  for (int round = 0; round < 4; ++round)
    for (int c = 0x20; c < 0x7f; ++c) filler += static_cast<char>(c == '"' || c == '\\' ? 'q' : c + (round & 1));
  filler += "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x94\x91~~~>>>?~?~?";  // é 中 🔑 and bytes that map to '-' / '_'
  json c = f.claims();
  c["note"] = filler;
  const std::string token = f.craft_claims(c);
  const std::string payload_segment = split(token)[1];
  for (const char ch : std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")) {
    CAPTURE(ch);
    REQUIRE(payload_segment.find(ch) != std::string::npos);
  }
  const auto claims = f.verify(token);
  REQUIRE(claims.ok());
  CHECK(claims->subject == "user-1");
}

TEST_CASE("tampering with any byte is rejected") {
  Fixture f;
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  const auto parts = split(*token);
  const auto header = *crypto::base64url_decode(parts[0]);
  const auto payload = *crypto::base64url_decode(parts[1]);
  const auto signature = *crypto::base64url_decode(parts[2]);

  SUBCASE("one header byte flipped") {
    for (std::size_t i = 0; i < header.size(); ++i) {
      auto t = header;
      t[i] ^= 0x01;
      CAPTURE(i);
      CHECK(rejected(f.verify(crypto::base64url_encode(t) + '.' + parts[1] + '.' + parts[2])));
    }
  }
  SUBCASE("one payload byte flipped") {
    for (std::size_t i = 0; i < payload.size(); ++i) {
      auto t = payload;
      t[i] ^= 0x01;
      CAPTURE(i);
      CHECK(rejected(f.verify(parts[0] + '.' + crypto::base64url_encode(t) + '.' + parts[2])));
    }
  }
  SUBCASE("one signature byte flipped") {
    for (std::size_t i = 0; i < signature.size(); ++i) {
      auto t = signature;
      t[i] ^= 0x01;
      CAPTURE(i);
      CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + '.' + crypto::base64url_encode(t))));
    }
  }
  SUBCASE("a semantically meaningful one-byte change (user-1 to user-2)") {
    std::string text(crypto::as_text(payload));
    const auto at = text.find("user-1");
    REQUIRE(at != std::string::npos);
    text[at + 5] = '2';
    CHECK(rejected(f.verify(parts[0] + '.' + b64(text) + '.' + parts[2])));
  }
  SUBCASE("signature truncated, extended or empty") {
    REQUIRE(signature.size() == 64);
    const std::vector<std::uint8_t> shorter(signature.begin(), signature.begin() + 63);
    std::vector<std::uint8_t> longer(signature.begin(), signature.end());
    longer.push_back(0);
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + '.' + crypto::base64url_encode(shorter))));
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + '.' + crypto::base64url_encode(longer))));
    CHECK(rejected(f.verify(parts[0] + '.' + parts[1] + '.' + std::string(86, 'A'))));
  }
}

// ------------------------------------------------------------------ time claims

TEST_CASE("exp: required, and in the future within the leeway") {
  Fixture f;  // lifetime 3600 s, leeway 60 s
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  SUBCASE("just before expiry") {
    f.clock->advance(3599s);
    CHECK(f.verify(*token).ok());
  }
  SUBCASE("expired but within the leeway is accepted") {
    f.clock->advance(3600s + 30s);
    CHECK(f.verify(*token).ok());
    f.clock->advance(29s);  // exp + 59 s
    CHECK(f.verify(*token).ok());
  }
  SUBCASE("expired beyond the leeway is rejected") {
    f.clock->advance(3600s + 60s);
    CHECK(rejected(f.verify(*token)));
    f.clock->advance(24h);
    CHECK(rejected(f.verify(*token)));
  }
  SUBCASE("exp in the past when crafted") {
    json c = f.claims();
    c["exp"] = f.now_s() - 61;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = f.now_s() - 59;
    CHECK(f.verify(f.craft_claims(c)).ok());
  }
  SUBCASE("exp missing or not a number") {
    json c = f.claims();
    c.erase("exp");
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = std::to_string(f.now_s() + 3600);
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = nullptr;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = true;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["exp"] = json::array({f.now_s() + 3600});
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("a fractional NumericDate is a number of seconds") {
    json c = f.claims();
    c["exp"] = static_cast<double>(f.now_s()) + 100.5;
    const auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->expires_at == iam::from_unix_seconds(f.now_s() + 100));
  }
  SUBCASE("exp and iat beyond TimePoint's range saturate (found by fuzz/jwt_verify)") {
    json c = f.claims();
    c["exp"] = 18'000'036'000;  // overflowed nanoseconds in from_unix_seconds before the fix
    c["iat"] = -1e300;
    auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->expires_at == iam::TimePoint::max());
    CHECK(claims->issued_at == iam::TimePoint::min());
    c["exp"] = std::numeric_limits<std::uint64_t>::max();
    c["iat"] = std::numeric_limits<std::int64_t>::min();
    claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->expires_at == iam::TimePoint::max());
    CHECK(claims->issued_at == iam::TimePoint::min());
  }
  SUBCASE("a leeway of zero") {
    iam::JwtConfig cfg;
    cfg.leeway = 0s;
    Fixture g(cfg);
    const auto t = g.keys->sign("u", "w");
    REQUIRE(t.ok());
    g.clock->advance(3599s);
    CHECK(g.verify(*t).ok());
    g.clock->advance(1s);
    CHECK(rejected(g.verify(*t)));
  }
}

TEST_CASE("nbf and iat: not in the future beyond the leeway") {
  Fixture f;
  for (const char* name : {"nbf", "iat"}) {
    CAPTURE(name);
    json c = f.claims();
    c[name] = f.now_s() + 61;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c[name] = f.now_s() + 3000;
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c[name] = f.now_s() + 60;  // within the leeway
    CHECK(f.verify(f.craft_claims(c)).ok());
    c[name] = f.now_s() - 1000;
    CHECK(f.verify(f.craft_claims(c)).ok());
    c[name] = "soon";
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c[name] = nullptr;
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("absent nbf and iat are fine") {
    json c = f.claims();
    c.erase("iat");
    CHECK_FALSE(c.contains("nbf"));
    CHECK(f.verify(f.craft_claims(c)).ok());
  }
  SUBCASE("a token whose nbf is ahead becomes valid once the clock catches up") {
    json c = f.claims();
    c["nbf"] = f.now_s() + 600;
    const std::string t = f.craft_claims(c);
    CHECK(rejected(f.verify(t)));
    f.clock->advance(600s - 60s);
    CHECK(f.verify(t).ok());
  }
}

// ------------------------------------------------------------------ identity claims

TEST_CASE("iss must match the configured issuer") {
  Fixture f;
  json c = f.claims();
  c["iss"] = "someone-else";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["iss"] = "trustgraph-iam ";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["iss"] = "";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["iss"] = json::array({"trustgraph-iam"});
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c.erase("iss");
  CHECK(rejected(f.verify(f.craft_claims(c))));
  // A token from a key set with another issuer, same key.
  iam::JwtConfig other;
  other.issuer = "other-issuer";
  iam::KeySet foreign(other, f.clock);
  std::vector<iam::SigningKey> set;
  set.push_back(f.k1.copy());
  REQUIRE(foreign.load(std::move(set)).ok());
  const auto t = foreign.sign("user-1", "ws-a");
  REQUIRE(t.ok());
  CHECK(foreign.verify(*t).ok());
  CHECK(rejected(f.verify(*t)));
}

TEST_CASE("sub must be a non-empty string") {
  Fixture f;
  json c = f.claims();
  c.erase("sub");
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["sub"] = "";
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["sub"] = 42;
  CHECK(rejected(f.verify(f.craft_claims(c))));
  c["sub"] = nullptr;
  CHECK(rejected(f.verify(f.craft_claims(c))));
}

TEST_CASE("workspace claims: at least one, and both agree") {
  Fixture f;
  SUBCASE("both missing") {
    json c = f.claims();
    c.erase("workspace");
    c.erase("default_workspace");
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("both present and different") {
    json c = f.claims();
    c["default_workspace"] = "ws-b";
    CHECK(rejected(f.verify(f.craft_claims(c))));
    c["default_workspace"] = "WS-A";
    CHECK(rejected(f.verify(f.craft_claims(c))));
  }
  SUBCASE("only workspace present is accepted") {
    json c = f.claims();
    c.erase("default_workspace");
    const auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->workspace == "ws-a");
  }
  SUBCASE("only default_workspace present is accepted") {
    json c = f.claims();
    c.erase("workspace");
    c["default_workspace"] = "ws-legacy";
    const auto claims = f.verify(f.craft_claims(c));
    REQUIRE(claims.ok());
    CHECK(claims->workspace == "ws-legacy");
  }
  SUBCASE("empty or non-string workspace claims") {
    for (const char* name : {"workspace", "default_workspace"}) {
      CAPTURE(name);
      json c = f.claims();
      c[name] = "";
      CHECK(rejected(f.verify(f.craft_claims(c))));
      c[name] = 7;
      CHECK(rejected(f.verify(f.craft_claims(c))));
      c[name] = nullptr;
      CHECK(rejected(f.verify(f.craft_claims(c))));
      json only = f.claims();
      only.erase(std::string(name) == "workspace" ? "default_workspace" : "workspace");
      only[name] = "";
      CHECK(rejected(f.verify(f.craft_claims(only))));
    }
  }
}

// ------------------------------------------------------------------ JSON shape

TEST_CASE("header and payload must be JSON objects") {
  Fixture f;
  const std::string good_header = f.header().dump();
  const std::string good_payload = f.claims().dump();
  for (const std::string& not_object :
       {std::string("[") + good_header + "]", std::string("\"EdDSA\""), std::string("42"), std::string("null"),
        std::string("true"), std::string(""), std::string("{"), std::string("{\"alg\":\"EdDSA\",}"),
        good_header + " x", std::string("[") + good_payload + "]"}) {
    CAPTURE(not_object);
    CHECK(rejected(f.verify(f.craft(not_object, good_payload))));
  }
  for (const std::string& not_object :
       {std::string("[") + good_payload + "]", std::string("\"user-1\""), std::string("0"), std::string("null"),
        std::string(""), good_payload + "{}", std::string("not json at all")}) {
    CAPTURE(not_object);
    CHECK(rejected(f.verify(f.craft(good_header, not_object))));
  }
}

TEST_CASE("deeply nested JSON is rejected or parsed without harm") {
  Fixture f;
  // Nesting as deep as the size limit allows, in the (unauthenticated) header and in the
  // signed payload: the verifier must answer, not overflow its stack.
  const std::size_t depth = 3000;
  const std::string nest = std::string(depth, '[') + std::string(depth, ']');
  CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","x":)" + nest + "}", f.claims().dump()))));
  CHECK(rejected(f.verify(f.craft(std::string(depth, '['), f.claims().dump()))));
  std::string payload = f.claims().dump();
  payload.insert(payload.size() - 1, R"(,"x":)" + nest);
  const auto deep = f.verify(f.craft(f.header().dump(), payload));
  CHECK((deep.ok() || rejected(deep)));
}

TEST_CASE("duplicate JSON keys are rejected") {
  Fixture f;
  const std::string payload = f.claims().dump();
  const std::string exp = std::to_string(f.now_s() + 3600);
  const std::string iat = std::to_string(f.now_s());
  SUBCASE("in the header") {
    CHECK(rejected(f.verify(f.craft(R"({"alg":"none","alg":"EdDSA","typ":"JWT","kid":"k1"})", payload))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","alg":"EdDSA"})", payload))));
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k2","kid":"k1"})", payload))));
    // The same key spelled with an escape is the same key.
    CHECK(rejected(f.verify(f.craft(R"({"alg":"EdDSA","typ":"JWT","kid":"k1","\u006bid":"k1"})", payload))));
  }
  SUBCASE("in the payload") {
    const std::string base =
        R"("iss":"trustgraph-iam","workspace":"ws-a","default_workspace":"ws-a","iat":)" + iat + R"(,"exp":)" + exp;
    CHECK(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1"})")).ok());  // control
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"admin","sub":"user-1"})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","sub":"user-1"})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","exp":1})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","iss":"x"})"))));
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"sub":"user-1","workspace":"ws-a"})"))));
  }
  SUBCASE("in a nested object of the payload") {
    const std::string base =
        R"("iss":"trustgraph-iam","sub":"user-1","workspace":"ws-a","iat":)" + iat + R"(,"exp":)" + exp;
    CHECK(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"extra":{"a":1,"b":2}})")).ok());  // control
    CHECK(rejected(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"extra":{"a":1,"a":2}})"))));
  }
  SUBCASE("equal keys in different objects are not duplicates") {
    const std::string base =
        R"("iss":"trustgraph-iam","sub":"user-1","workspace":"ws-a","iat":)" + iat + R"(,"exp":)" + exp;
    CHECK(f.verify(f.craft(f.header().dump(), "{" + base + R"(,"x":{"sub":"y"},"y":[{"sub":1},{"sub":2}]})")).ok());
  }
}

TEST_CASE("oversized tokens are rejected") {
  // Pads the payload with a claim of `n` bytes: a valid token of growing size.
  const auto padded = [](const Fixture& f, std::size_t n) {
    json c = f.claims();
    c["pad"] = std::string(n, 'x');
    return f.craft_claims(c);
  };
  // The largest padded token not above `limit` is accepted; the next one, above it, is not.
  const auto check_boundary = [&](const Fixture& f, std::size_t limit) {
    std::size_t n = 0;
    while (padded(f, n + 1).size() <= limit) ++n;
    const std::string at_limit = padded(f, n);
    const std::string over = padded(f, n + 1);
    CAPTURE(at_limit.size());
    CAPTURE(over.size());
    CHECK(at_limit.size() <= limit);
    CHECK(at_limit.size() + 3 > limit);
    CHECK(over.size() > limit);
    CHECK(f.verify(at_limit).ok());
    CHECK(rejected(f.verify(over)));
  };
  SUBCASE("default limit: 8 KiB") {
    Fixture f;
    CHECK(f.config.max_token_bytes == 8192);
    check_boundary(f, 8192);
    CHECK(rejected(f.verify(padded(f, 1 << 20))));
  }
  SUBCASE("a configured smaller limit") {
    iam::JwtConfig cfg;
    cfg.max_token_bytes = 512;
    Fixture f(cfg);
    const auto normal = f.keys->sign("user-1", "ws-a");
    REQUIRE(normal.ok());
    REQUIRE(normal->size() < 512);
    CHECK(f.verify(*normal).ok());
    check_boundary(f, 512);
    CHECK(rejected(f.verify(padded(f, 1000))));
  }
}

// ------------------------------------------------------------------ reasons

TEST_CASE("verify_with_reason tells the operator why, the caller still sees the opaque failure") {
  Fixture f;
  json c = f.claims();
  c["iss"] = "someone-else";
  const std::vector<std::string> bad = {"", "a.b", f.craft(R"({"alg":"none","kid":"k1"})", f.claims().dump()),
                                        f.craft_j(f.header("nope"), f.claims()), f.craft_claims(c)};
  for (const auto& token : bad) {
    CAPTURE(token);
    std::string reason;
    const auto result = f.keys->verify_with_reason(token, &reason);
    CHECK(rejected(result));
    CHECK_FALSE(reason.empty());
    CHECK(result.error().message.find(reason) == std::string::npos);
  }
  std::string reason;
  CHECK(f.keys->verify_with_reason(f.craft_claims(f.claims()), &reason).ok());
  CHECK(rejected(f.keys->verify_with_reason("x.y.z", nullptr)));  // no reason wanted
}

// ------------------------------------------------------------------ rotation

TEST_CASE("rotation: new tokens carry the new kid, old tokens verify during the grace") {
  Fixture f;
  const auto before = f.keys->sign("user-1", "ws-a");
  REQUIRE(before.ok());
  CHECK(f.keys->active_kid() == "k1");

  f.clock->advance(10min);
  auto k2 = make_key("k2", 2, f.clock->now());
  REQUIRE(f.keys->rotate(k2.copy()).ok());
  CHECK(f.keys->active_kid() == "k2");

  const auto after = f.keys->sign("user-2", "ws-b");
  REQUIRE(after.ok());
  CHECK(json::parse(decode_text(split(*after)[0]))["kid"] == "k2");
  CHECK(crypto::ed25519_verify(crypto::as_bytes(split(*after)[0] + '.' + split(*after)[1]),
                               *crypto::base64url_decode(split(*after)[2]), k2.public_key));
  CHECK(f.verify(*before).ok());
  CHECK(f.verify(*after).ok());

  // The pre-rotation token lives its full life (plus leeway), not cut short by rotation.
  f.clock->set(iam::from_unix_seconds(start_s + 3600 + 59));
  CHECK(f.verify(*before).ok());
  f.clock->advance(1s);
  CHECK(rejected(f.verify(*before)));
  CHECK(f.verify(*after).ok());
}

TEST_CASE("rotation: the grace period") {
  // Each old token outlives any grace, so only the grace period can end it.
  const auto long_token = [](const Fixture& f) {
    json c = f.claims();
    c["exp"] = f.now_s() + 30 * 24 * 3600;
    return f.craft_claims(c);
  };
  const auto check_grace = [&](Fixture& f, std::chrono::seconds expected) {
    CHECK(f.config.effective_grace() == expected);
    const std::string old_token = long_token(f);
    f.clock->advance(5min);
    REQUIRE(f.keys->rotate(make_key("k2", 2, f.clock->now())).ok());  // retired = now
    const iam::TimePoint retired = f.clock->now();
    f.clock->set(retired + expected - 1s);
    CHECK(f.verify(old_token).ok());
    CHECK(json::parse(f.keys->jwks())["keys"].size() == 2);
    f.clock->set(retired + expected);
    CHECK(rejected(f.verify(old_token)));
    CHECK(json::parse(f.keys->jwks())["keys"].size() == 1);
    f.clock->advance(365 * 24h);
    CHECK(rejected(f.verify(old_token)));
  };
  SUBCASE("default: lifetime + leeway") {
    Fixture f;
    check_grace(f, 3660s);
  }
  SUBCASE("a configured grace below lifetime + leeway is raised to it") {
    iam::JwtConfig cfg;
    cfg.grace = 10s;
    Fixture f(cfg);
    check_grace(f, 3660s);
  }
  SUBCASE("the minimum follows a configured lifetime and leeway") {
    iam::JwtConfig cfg;
    cfg.lifetime = 900s;
    cfg.leeway = 30s;
    cfg.grace = 100s;
    Fixture f(cfg);
    check_grace(f, 930s);
  }
  SUBCASE("a larger configured grace is honoured") {
    iam::JwtConfig cfg;
    cfg.grace = 48h;
    Fixture f(cfg);
    check_grace(f, 48h);
  }
}

TEST_CASE("rotation: a retired key never signs again") {
  Fixture f;
  REQUIRE(f.keys->rotate(make_key("k2", 2, f.clock->now())).ok());
  for (int i = 0; i < 3; ++i) {
    const auto t = f.keys->sign("u", "w");
    REQUIRE(t.ok());
    CHECK(json::parse(decode_text(split(*t)[0]))["kid"] == "k2");
  }
  SUBCASE("a set holding only a retired key cannot sign, even if it was given the private half") {
    iam::SigningKey retired = f.k1.copy();
    REQUIRE_FALSE(retired.secret_key.empty());
    retired.retired = f.clock->now();
    std::vector<iam::SigningKey> set;
    set.push_back(std::move(retired));
    REQUIRE(f.keys->load(std::move(set)).ok());
    const auto t = f.keys->sign("u", "w");
    REQUIRE_FALSE(t.ok());
    CHECK(code_of(t) == iam::ErrorCode::not_found);
    CHECK_FALSE(f.keys->active_kid().has_value());
    CHECK(code_of(f.keys->active_public_pem()) == iam::ErrorCode::not_found);
    // It still verifies what it signed before retirement.
    CHECK(f.verify(f.craft_claims(f.claims())).ok());
  }
}

TEST_CASE("rotation and load refuse malformed key sets") {
  Fixture f;
  SUBCASE("rotate to a key whose kid is already in the set") {
    auto again = make_key("k1", 5, f.clock->now());
    CHECK(code_of(f.keys->rotate(std::move(again))) == iam::ErrorCode::duplicate);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("rotate to a key without a private half") {
    auto k = make_key("k3", 3, f.clock->now());
    k.secret_key.clear();
    CHECK(code_of(f.keys->rotate(std::move(k))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load two active keys") {
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("a", 1, f.clock->now()));
    set.push_back(make_key("b", 2, f.clock->now()));
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load two keys sharing a kid") {
    // Verification looks a key up by kid; two keys under one kid would make the answer
    // depend on their order (a retired twin could shadow the active key).
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("twin", 1, f.clock->now()));
    set.back().retired = f.clock->now() - 48h;  // long past its grace
    set.push_back(make_key("twin", 2, f.clock->now()));
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
    CHECK(f.keys->active_kid() == "k1");
  }
  SUBCASE("load an active key without its private half") {
    std::vector<iam::SigningKey> set;
    set.push_back(make_key("a", 1, f.clock->now()));
    set.back().secret_key.clear();
    CHECK(code_of(f.keys->load(std::move(set))) == iam::ErrorCode::invalid_argument);
  }
  SUBCASE("a key from a bad seed or without kid") {
    const std::array<std::uint8_t, 31> short_seed{};
    CHECK(code_of(iam::SigningKey::from_seed("x", short_seed, f.clock->now())) ==
          iam::ErrorCode::invalid_argument);
    CHECK(code_of(iam::SigningKey::from_seed("", seed_of(1), f.clock->now())) ==
          iam::ErrorCode::invalid_argument);
  }
}

TEST_CASE("from_seed is deterministic and generate makes distinct keys") {
  const auto a = make_key("a", 7, iam::TimePoint{});
  const auto b = make_key("b", 7, iam::TimePoint{});
  CHECK(a.public_key == b.public_key);
  CHECK(a.secret_key.size() == iam::ed25519_secret_key_bytes);
  iam::ManualClock clock;
  auto random = iam::system_random();
  const auto g1 = iam::SigningKey::generate(*random, clock);
  const auto g2 = iam::SigningKey::generate(*random, clock);
  CHECK(g1.kid != g2.kid);
  CHECK(g1.kid.size() == 36);
  CHECK(g1.public_key != g2.public_key);
  CHECK(g1.created == clock.now());
  CHECK_FALSE(g1.retired.has_value());
}

// ------------------------------------------------------------------ key export

TEST_CASE("jwks lists every key still in grace as an RFC 8037 OKP key") {
  Fixture f;
  auto k2 = make_key("k2", 2, f.clock->now());
  REQUIRE(f.keys->rotate(k2.copy()).ok());
  const json doc = json::parse(f.keys->jwks());
  REQUIRE(doc.is_object());
  REQUIRE(doc.contains("keys"));
  REQUIRE(doc["keys"].size() == 2);
  std::vector<std::string> kids;
  for (const auto& jwk : doc["keys"]) {
    CHECK(jwk["kty"] == "OKP");
    CHECK(jwk["crv"] == "Ed25519");
    CHECK(jwk["use"] == "sig");
    CHECK(jwk["alg"] == "EdDSA");
    CHECK_FALSE(jwk.contains("d"));
    const auto kid = jwk["kid"].get<std::string>();
    kids.push_back(kid);
    const auto& expected = kid == "k1" ? f.k1.public_key : k2.public_key;
    CHECK(jwk["x"] == crypto::base64url_encode(expected));
    const auto parsed = iam::public_key_from_jwk(jwk.dump());
    REQUIRE(parsed.ok());
    CHECK(*parsed == expected);
  }
  std::sort(kids.begin(), kids.end());
  CHECK(kids == std::vector<std::string>{"k1", "k2"});
}

TEST_CASE("active_public_pem is the active key's SubjectPublicKeyInfo") {
  Fixture f;
  const auto pem = f.keys->active_public_pem();
  REQUIRE(pem.ok());
  CHECK(pem->rfind("-----BEGIN PUBLIC KEY-----", 0) == 0);
  const auto parsed = iam::public_key_from_pem(*pem);
  REQUIRE(parsed.ok());
  CHECK(*parsed == f.k1.public_key);
  auto k2 = make_key("k2", 2, f.clock->now());
  REQUIRE(f.keys->rotate(k2.copy()).ok());
  const auto pem2 = f.keys->active_public_pem();
  REQUIRE(pem2.ok());
  CHECK(iam::public_key_from_pem(*pem2).value() == k2.public_key);
}

// ------------------------------------------------------------------ concurrency

TEST_CASE("verifiers keep working while keys rotate") {
  Fixture f;
  const auto token = f.keys->sign("user-1", "ws-a");
  REQUIRE(token.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!f.keys->verify(*token).ok()) failures.fetch_add(1);
        const auto fresh = f.keys->sign("u", "w");
        if (!fresh.ok() || !f.keys->verify(*fresh).ok()) failures.fetch_add(1);
      }
    });
  }
  bool rotated = true;
  for (int i = 0; i < 50 && rotated; ++i) {
    // The clock stands still, so every retired key stays within its grace.
    const auto seed = seed_of(static_cast<std::uint8_t>(10 + i));
    auto key = iam::SigningKey::from_seed("r" + std::to_string(i), seed, f.clock->now());
    rotated = key.ok() && f.keys->rotate(std::move(key).value()).ok();
  }
  stop.store(true);
  for (auto& r : readers) r.join();
  CHECK(rotated);
  CHECK(failures.load() == 0);
}

// ------------------------------------------------------------------ RFC 8037 appendix A.4

namespace {
json load_rfc8037_fixture() {
  const char* dir = std::getenv("IAM_FIXTURES_DIR");
  REQUIRE(dir != nullptr);
  std::ifstream in(std::string(dir) + "/rfc8037_a4.json");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}
}  // namespace

TEST_CASE("RFC 8037 A.4: the Ed25519 example signature") {
  const json v = load_rfc8037_fixture();
  const auto seed = crypto::hex_decode(v["seed_hex"].get<std::string>());
  const auto pub = crypto::hex_decode(v["public_key_hex"].get<std::string>());
  const auto signature = crypto::base64url_decode(v["signature"].get<std::string>());
  const std::string input = v["signing_input"].get<std::string>();
  REQUIRE(seed.has_value());
  REQUIRE(pub.has_value());
  REQUIRE(signature.has_value());
  // The fixture's hex and JWK spellings agree.
  CHECK(crypto::base64url_decode(v["jwk_private"]["d"].get<std::string>()) == seed);
  CHECK(crypto::base64url_decode(v["jwk_private"]["x"].get<std::string>()) == pub);
  CHECK(input == b64(v["protected_header"].get<std::string>()) + '.' + b64(v["payload"].get<std::string>()));
  CHECK(v["jws"].get<std::string>() == input + '.' + v["signature"].get<std::string>());

  SUBCASE("(a) the A.4 signature verifies over its signing input with the A.1 public key") {
    CHECK(crypto::ed25519_verify(crypto::as_bytes(input), *signature, *pub));
    CHECK_FALSE(crypto::ed25519_verify(crypto::as_bytes(input + "x"), *signature, *pub));
  }
  SUBCASE("(b) signing the same input with the A.1 key gives the identical signature") {
    auto key = iam::SigningKey::from_seed("rfc8037", *seed, iam::TimePoint{});
    REQUIRE(key.ok());
    CHECK(hex_of(key->public_key) == v["public_key_hex"].get<std::string>());
    const auto ours = crypto::ed25519_sign(crypto::as_bytes(input), key->secret_key);
    CHECK(hex_of(ours) == hex_of(*signature));  // Ed25519 is deterministic
  }
  SUBCASE("(c) KeySet::verify rejects the A.4 token as it stands") {
    // The A.4 JWS is a valid EdDSA JWS, but not a token of this protocol: its header has
    // no kid (so it names no key of the set) and its payload is a sentence, not a claims
    // object (no iss, sub, workspace or exp). Our rules are stricter than RFC 8037's, so it
    // must be rejected even by a key set that holds exactly the A.1 key.
    auto clock = std::make_shared<iam::ManualClock>();
    iam::KeySet keys(iam::JwtConfig{}, clock);
    auto key = iam::SigningKey::from_seed("rfc8037", *seed, clock->now());
    REQUIRE(key.ok());
    std::vector<iam::SigningKey> set;
    set.push_back(std::move(key).value());
    REQUIRE(keys.load(std::move(set)).ok());
    std::string reason;
    CHECK(rejected(keys.verify_with_reason(v["jws"].get<std::string>(), &reason)));
    CHECK_FALSE(reason.empty());
    // The same key does sign and verify tokens of the protocol's shape.
    const auto ours = keys.sign("user-1", "ws-a");
    REQUIRE(ours.ok());
    CHECK(keys.verify(*ours).ok());
  }
}
