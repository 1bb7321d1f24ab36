// tests/support/records.h — what the storage tests share: whole-second times, results as
// short words, Changes from mutations, and records with every field set.
//
// THREAD SAFETY: pure functions (must() fails the current doctest test case).
// OWNERSHIP: everything returned is the caller's.
#pragma once

#include <doctest/doctest.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "iam/clock.h"
#include "iam/jwt.h"
#include "iam/key_at_rest.h"
#include "iam/repository.h"
#include "iam/status.h"

namespace records {

inline constexpr std::int64_t t0 = 1'800'000'000;   // 2027-01-15
inline constexpr std::int64_t far = 4'102'444'800;  // 2100-01-01: past 2038, past 32-bit seconds

inline iam::TimePoint at(std::int64_t unix_seconds) { return iam::from_unix_seconds(unix_seconds); }

// "ok", or the wire name of the error code ("not-found", "duplicate", ...).
template <class T>
std::string outcome(const iam::Result<T>& r) {
  return r.ok() ? std::string("ok") : std::string(iam::error_type_name(r.error().code));
}

// "ok", or the code and the message: for checks that expect success.
template <class T>
std::string detail(const iam::Result<T>& r) {
  return r.ok() ? std::string("ok") : std::string(iam::error_type_name(r.error().code)) + ": " + r.error().message;
}

template <class T>
T must(iam::Result<T> r) {
  if (!r.ok()) FAIL("expected success, got " << detail(r));
  return std::move(r).value();
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A Change from mutations (some are move-only, so no initializer list).
template <class... M>
iam::Change change(M&&... steps) {
  iam::Change c;
  c.reserve(sizeof...(M));
  (c.emplace_back(std::forward<M>(steps)), ...);
  return c;
}

template <class... M>
iam::Status apply(iam::Repository& repo, M&&... steps) {
  const iam::Change c = change(std::forward<M>(steps)...);
  return repo.apply(c);
}

// 64 lowercase hex characters derived from `seed` (stands in for a SHA-256).
inline std::string fake_hash(std::string_view seed) {
  std::string out;
  for (std::uint64_t salt = 1; salt <= 4; ++salt) {
    std::uint64_t h = 1469598103934665603ull ^ (salt * 0x9e3779b97f4a7c15ull);
    for (const char c : seed) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
    std::array<std::uint8_t, 8> bytes{};
    for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(h >> (8 * i));
    out += iam::crypto::hex_encode(bytes);
  }
  return out;
}

inline iam::WorkspaceRecord workspace(std::string id, std::string name, bool enabled = true,
                                      iam::TimePoint created = at(t0)) {
  iam::WorkspaceRecord w;
  w.id = std::move(id);
  w.name = std::move(name);
  w.enabled = enabled;
  w.created = created;
  return w;
}
inline iam::WorkspaceRecord workspace(const std::string& id) { return workspace(id, "Workspace " + id); }

inline iam::StoredUser user(std::string id, std::string ws, std::string username,
                            std::vector<std::string> roles = {"reader"}) {
  iam::StoredUser u;
  u.record.name = "Name of " + id;
  u.record.email = id + "@example.com";
  u.password_hash = "pbkdf2-sha256$600000$c2FsdC0" + id + "$" + fake_hash(id).substr(0, 43);
  u.record.id = std::move(id);
  u.record.workspace = std::move(ws);
  u.record.username = std::move(username);
  u.record.roles = std::move(roles);
  u.record.enabled = true;
  u.record.must_change_password = false;
  u.record.created = at(t0 + 1);
  return u;
}

// key_hash is fake_hash("key:" + id).
inline iam::StoredApiKey api_key(std::string id, std::string user_id, iam::TimePoint created = at(t0 + 2)) {
  iam::StoredApiKey k;
  k.key_hash = fake_hash("key:" + id);
  k.record.prefix = "tg_" + k.key_hash.substr(0, 4);
  k.record.name = "key " + id;
  k.record.id = std::move(id);
  k.record.user_id = std::move(user_id);
  k.record.created = created;
  return k;
}

// A real Ed25519 key from a seed; a retired one has no private half.
inline iam::SigningKey signing_key(std::string kid, std::uint8_t seed_byte, iam::TimePoint created,
                                   std::optional<iam::TimePoint> retired = std::nullopt) {
  std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(seed_byte + i);
  auto key = must(iam::SigningKey::from_seed(std::move(kid), seed, created));
  if (retired) {
    key.retired = retired;
    key.secret_key.clear();
  }
  return key;
}
inline iam::SigningKey signing_key(std::string kid, std::uint8_t seed_byte, std::int64_t created) {
  return signing_key(std::move(kid), seed_byte, at(created));
}

// A next key (iam/signing_key.h): published, not yet activated.
inline iam::SigningKey next_signing_key(std::string kid, std::uint8_t seed_byte, iam::TimePoint created) {
  auto key = signing_key(std::move(kid), seed_byte, created);
  key.activated.reset();
  return key;
}

// A fresh random key-encryption key.
inline iam::SecretBytes random_key() {
  REQUIRE(sodium_init() >= 0);
  iam::SecretBytes key(iam::key_encryption_key_bytes);
  randombytes_buf(key.data(), key.size());
  return key;
}

}  // namespace records
