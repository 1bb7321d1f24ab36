// The JWT tests' shared helpers: fixed keys, a key set with one active key "k1" on a
// ManualClock, and crafting of tokens the library would never produce (arbitrary header
// and payload bytes signed with k1's private half, so each rejection comes from the one
// property under test and not from a bad signature). Time is driven by the ManualClock;
// nothing sleeps.
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "iam/clock.h"
#include "iam/jwt.h"
#include "iam/status.h"

namespace jwt_test {

using nlohmann::json;
using namespace std::chrono_literals;
namespace crypto = iam::crypto;

constexpr std::int64_t start_s = 1'800'000'000;  // ManualClock's default start

inline std::array<std::uint8_t, iam::ed25519_seed_bytes> seed_of(std::uint8_t fill) {
  std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(fill + i);
  return seed;
}

inline iam::SigningKey make_key(std::string kid, std::uint8_t fill, iam::TimePoint created) {
  const auto seed = seed_of(fill);
  auto key = iam::SigningKey::from_seed(std::move(kid), seed, created);
  REQUIRE(key.ok());
  return std::move(key).value();
}

inline std::string b64(std::string_view text) { return crypto::base64url_encode(crypto::as_bytes(text)); }

inline std::string decode_text(std::string_view segment) {
  const auto bytes = crypto::base64url_decode(segment);
  REQUIRE(bytes.has_value());
  return std::string(crypto::as_text(*bytes));
}

// `signing_input` + "." + base64url(Ed25519 signature over exactly those bytes).
inline std::string sign_input(const iam::SecretBytes& secret, std::string_view signing_input) {
  const auto signature = crypto::ed25519_sign(crypto::as_bytes(signing_input), secret);
  return std::string(signing_input) + '.' + crypto::base64url_encode(signature);
}

inline std::vector<std::string> split(std::string_view token) {
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
inline bool rejected(const iam::Result<iam::JwtClaims>& result) {
  return !result.ok() && result.error().code == iam::ErrorCode::auth_failed &&
         result.error().message == "auth failure" && result.error() == iam::auth_failure();
}

// The error code of a failed call; nullopt when it succeeded (so a CHECK reads safely).
template <class R>
inline std::optional<iam::ErrorCode> code_of(const R& result) {
  if (result.ok()) return std::nullopt;
  return result.error().code;
}

inline std::string hex_of(std::span<const std::uint8_t> bytes) { return crypto::hex_encode(bytes); }

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

  // The staged rotation to `key` in a set without a next key: `key` is published as the
  // next key, then promoted, and a fresh next key (kid `key.kid + "-next"`) is published
  // behind it.
  iam::Status rotate_to(iam::SigningKey key) {
    const std::string follower = key.kid + "-next";
    if (auto published = keys->publish_next(std::move(key)); !published.ok()) return published;
    return keys->rotate(make_key(follower, ++follower_seed, clock->now()));
  }
  std::uint8_t follower_seed = 200;
};

// Changes the last character of an unpadded base64url segment so that the bits it carries
// beyond the encoded bytes are no longer zero; lenient decoders give the same bytes.
inline std::string with_nonzero_trailing_bits(std::string segment) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  REQUIRE(segment.size() % 4 != 0);  // only a partial final quantum has spare bits
  const auto index = alphabet.find(segment.back());
  REQUIRE(index != std::string_view::npos);
  segment.back() = alphabet[index | 1];
  REQUIRE(segment.back() != alphabet[index]);
  return segment;
}


}  // namespace jwt_test
