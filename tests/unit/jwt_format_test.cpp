// The EdDSA JWT key set (docs/protocol.md "JWT"), part one: signing and the token's format,
// the algorithm and key id rules, and the compact serialisation (segments, base64url,
// tampering). Claims: jwt_claims_test.cpp; rotation and export: jwt_rotation_test.cpp.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <span>
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "jwt_test_support.h"

using namespace jwt_test;

namespace {

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
    REQUIRE(f.rotate_to(k2.copy()).ok());  // k1 retired (in grace), k2 active
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
  REQUIRE(f.rotate_to(make_key("k2", 2, f.clock->now())).ok());
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
    // '+' and '/' are base64's 62 and 63; base64url spells them '-' and '_'. Six '?'
    // (0x3f) and six '>' (0x3e) hold an aligned 3-byte group of each whatever their
    // offset, and such a group ends in '_' (63) or '-' (62) respectively.
    json marked_claims = f.claims();
    marked_claims["note"] = std::string(6, '?') + std::string(6, '>');
    const std::string marked = b64(marked_claims.dump());
    REQUIRE(f.verify(sign_input(f.k1.secret_key, h + '.' + marked)).ok());  // control
    std::string std_alphabet = marked;
    std::size_t changed = 0;
    for (char& ch : std_alphabet) {
      if (ch == '-') { ch = '+'; ++changed; }
      if (ch == '_') { ch = '/'; ++changed; }
    }
    REQUIRE(changed >= 2);
    CHECK(rejected(f.verify(sign_input(f.k1.secret_key, h + '.' + std_alphabet))));
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

