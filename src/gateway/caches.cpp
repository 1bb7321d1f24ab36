#include "gateway/caches.h"

#include <sodium.h>

#include "crypto/crypto.h"

namespace iam::gateway {

namespace {

// Incremental SHA-256, so a decision key is hashed without building a buffer first.
class Hasher {
 public:
  Hasher() noexcept { crypto_hash_sha256_init(&state_); }

  void bytes(std::string_view data) noexcept {
    crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  }
  // A length prefix before every field keeps ("ab","c") and ("a","bc") apart.
  void field(std::string_view data) noexcept {
    number(data.size());
    bytes(data);
  }
  void number(std::uint64_t value) noexcept {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(value >> (8 * i));
    crypto_hash_sha256_update(&state_, le, sizeof le);
  }
  CacheKey finish() noexcept {
    CacheKey key{};
    crypto_hash_sha256_final(&state_, key.data());
    return key;
  }

 private:
  crypto_hash_sha256_state state_{};
};

}  // namespace

CacheKey credential_key(std::string_view credential) noexcept {
  crypto::ensure_initialised();
  Hasher h;
  h.bytes(credential);  // plain SHA-256: equal to the hash an api_key invalidation names
  return h.finish();
}

CacheKey decision_key(std::string_view handle, std::string_view capability, const Resource& resource,
                      const Parameters& parameters) noexcept {
  Hasher h;
  h.field("iam-gateway-decision-v1");
  h.field(handle);
  h.field(capability);
  // std::map iterates in key order: the serialisation is canonical.
  h.number(resource.components().size());
  for (const auto& [name, value] : resource.components()) {
    h.field(name);
    h.field(value);
  }
  h.number(parameters.size());
  for (const auto& [name, value] : parameters) {
    h.field(name);
    h.field(value);
  }
  return h.finish();
}

CacheKey workspace_key(std::string_view workspace) noexcept {
  Hasher h;
  h.field("iam-gateway-workspace-v1");
  h.field(workspace);
  return h.finish();
}

std::optional<CacheKey> key_from_hex(std::string_view hex) noexcept {
  if (hex.size() != 64) return std::nullopt;
  CacheKey key{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < key.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key[i] = static_cast<std::uint8_t>(hi * 16 + lo);
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
      identities.erase_if([&](const Identity& identity) { return identity.handle == event.id; });
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
      identities.erase_if([](const Identity& identity) { return identity.source == CredentialSource::jwt; });
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
