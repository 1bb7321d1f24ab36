#include "gateway/caches.h"

#include <sodium.h>

#include <array>
#include <cstring>

#include "crypto/crypto.h"

namespace iam::gateway {

CacheKey credential_key(std::string_view credential) noexcept {
  crypto::ensure_initialised();
  // Plain SHA-256, as the store keys an API key and an api_key invalidation names it.
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(credential.data()), credential.size());
  CacheKey key{};
  std::memcpy(key.data(), digest.data(), key.size());
  return key;
}

namespace {

// The SipHash key of this process: random, so bucket placement cannot be predicted.
const unsigned char* exact_key_secret() noexcept {
  static const auto secret = [] {
    crypto::ensure_initialised();
    std::array<unsigned char, crypto_shorthash_KEYBYTES> key{};
    crypto_shorthash_keygen(key.data());
    return key;
  }();
  return secret.data();
}

// LEB128: short, and unambiguous wherever it ends.
void append_number(std::string& out, std::size_t n) {
  do {
    const auto low = static_cast<unsigned char>(n & 0x7f);
    n >>= 7;
    out.push_back(static_cast<char>(n ? (low | 0x80) : low));
  } while (n);
}

// A length prefix before every field keeps ("ab","c") and ("a","bc") apart.
void append_field(std::string& out, std::string_view field) {
  append_number(out, field.size());
  out.append(field);
}

ExactKey finish(std::string bytes) {
  ExactKey key{std::move(bytes), 0};
  unsigned char digest[crypto_shorthash_BYTES];
  crypto_shorthash(digest, reinterpret_cast<const unsigned char*>(key.bytes.data()), key.bytes.size(),
                   exact_key_secret());
  std::memcpy(&key.hash, digest, sizeof key.hash);
  return key;
}

}  // namespace

ExactKey decision_key(std::string_view handle, std::string_view capability, const Resource& resource,
                      const Parameters& parameters) {
  std::string bytes;
  bytes.reserve(handle.size() + capability.size() + 64);
  append_field(bytes, handle);
  append_field(bytes, capability);
  // std::map iterates in key order: the serialisation is canonical. The counts keep
  // resource components and parameters apart.
  append_number(bytes, resource.components().size());
  for (const auto& [name, value] : resource.components()) {
    append_field(bytes, name);
    append_field(bytes, value);
  }
  append_number(bytes, parameters.size());
  for (const auto& [name, value] : parameters) {
    append_field(bytes, name);
    append_field(bytes, value);
  }
  return finish(std::move(bytes));
}

ExactKey workspace_key(std::string_view workspace) { return finish(std::string(workspace)); }

CachedIdentity CachedIdentity::from(const Identity& identity) {
  const bool same = identity.principal_id == identity.handle;
  return CachedIdentity{identity.handle, identity.workspace, same ? std::string() : identity.principal_id, same,
                        identity.source, identity.expires};
}

Identity CachedIdentity::to_identity() const {
  return Identity{handle, workspace, principal_is_handle ? handle : distinct_principal_id, source, expires};
}

std::optional<CacheKey> key_from_hex(std::string_view hex) noexcept {
  if (hex.size() != 2 * crypto_hash_sha256_BYTES) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  CacheKey key{};
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;  // the whole digest must be hex
    if (i / 2 < key.size()) key[i / 2] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return key;
}

void GatewayCaches::apply(const Invalidation& event) {
  switch (event.kind) {
    case Invalidation::Kind::api_key:
      // The id is the key's SHA-256, which is exactly the identity cache's key. An id we
      // cannot read drops every identity rather than risk keeping a revoked key.
      if (auto key = key_from_hex(event.id))
        identities.erase(*key);
      else
        identities.clear();
      return;
    case Invalidation::Kind::user:
      identities.erase_if([&](const CachedIdentity& identity) { return identity.handle == event.id; });
      decisions.erase_if([&](const CachedDecision& cached) { return cached.handle == event.id; });
      return;
    case Invalidation::Kind::workspace:
      // Disabling a workspace disables every user whose home it is, and an identity only
      // names the workspace its credential is bound to (an administrator's JWT may be bound
      // elsewhere), so every identity and decision goes. Workspace changes are rare.
      identities.clear();
      decisions.clear();
      workspaces.erase(workspace_key(event.id));
      return;
    case Invalidation::Kind::signing_keys:
      identities.erase_if([](const CachedIdentity& identity) { return identity.source == CredentialSource::jwt; });
      return;
    case Invalidation::Kind::everything:
      clear();
      return;
  }
  clear();  // an event kind this code does not know: fail safe
}

void GatewayCaches::clear() {
  identities.clear();
  decisions.clear();
  workspaces.clear();
}

}  // namespace iam::gateway
