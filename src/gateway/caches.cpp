#include "gateway/caches.h"

#include <sodium.h>
#include <sys/mman.h>

#include <absl/hash/hash.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

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

// The hash seed of this process: random, so bucket and shard placement cannot be predicted
// from outside.
std::uint64_t exact_key_seed() noexcept {
  static const std::uint64_t seed = [] {
    crypto::ensure_initialised();
    std::uint64_t value = 0;
    randombytes_buf(&value, sizeof value);
    return value;
  }();
  return seed;
}

}  // namespace

namespace {
std::atomic<std::size_t> mapped_table_bytes{0};
constexpr std::size_t huge_page = TableAllocator<char>::huge_page;
// Whole 4 KiB pages: a partly used last huge page would cost up to 2 MiB per table, so the
// tail is mapped in small pages.
std::size_t rounded_to_page(std::size_t bytes) { return (bytes + 4095) / 4096 * 4096; }
}  // namespace

std::size_t table_bytes_mapped() noexcept { return mapped_table_bytes.load(std::memory_order_relaxed); }

void* map_table_block(std::size_t bytes) {
  // Map one huge page more than needed and give back the unaligned head and the tail.
  const std::size_t size = rounded_to_page(bytes);
  void* mapped = mmap(nullptr, size + huge_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(mapped);
  const std::uintptr_t aligned = (start + huge_page - 1) / huge_page * huge_page;
  if (aligned > start) munmap(mapped, aligned - start);
  if (const std::size_t tail = start + size + huge_page - (aligned + size); tail > 0)
    munmap(reinterpret_cast<void*>(aligned + size), tail);
  void* block = reinterpret_cast<void*>(aligned);
  madvise(block, size, MADV_HUGEPAGE);  // advice only: without huge pages it still works
  mapped_table_bytes.fetch_add(size, std::memory_order_relaxed);
  return block;
}

void unmap_table_block(void* block, std::size_t bytes) noexcept {
  const std::size_t size = rounded_to_page(bytes);
  munmap(block, size);
  mapped_table_bytes.fetch_sub(size, std::memory_order_relaxed);
}

std::size_t this_thread_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % stripe_count;
  return mine;
}

void ExactKeyBuilder::grow(std::size_t more) {
  const std::size_t capacity = std::max(2 * capacity_, size_ + more);
  auto grown = std::make_unique<char[]>(capacity);
  std::memcpy(grown.get(), data_, size_);
  heap_ = std::move(grown);
  data_ = heap_.get();
  capacity_ = capacity;
}

void ExactKeyBuilder::append_long_number(std::size_t n) {
  char bytes[10];
  std::size_t count = 0;
  do {
    const auto low = static_cast<unsigned char>(n & 0x7f);
    n >>= 7;
    bytes[count++] = static_cast<char>(n ? (low | 0x80) : low);
  } while (n);
  if (count > capacity_ - size_) grow(count);
  std::memcpy(data_ + size_, bytes, count);
  size_ += count;
}

// absl::Hash (fast on short inputs, unlike a cryptographic PRF) over the seed and the
// bytes. It is not a PRF: bucket flooding is made hard by the secret seed, not impossible,
// and its worst case is bounded by one shard's capacity (docs/decisions.md).
ExactKeyRef ExactKeyBuilder::finish() noexcept {
  const absl::string_view bytes(data_, size_);
  return ExactKeyRef{std::string_view(data_, size_),
                     absl::Hash<std::pair<std::uint64_t, absl::string_view>>{}({exact_key_seed(), bytes})};
}

ExactKeyRef decision_key(ExactKeyBuilder& out, std::string_view handle, std::string_view capability,
                         const Resource& resource, const Parameters& parameters) {
  out.append_field(handle);
  out.append_field(capability);
  // std::map iterates in key order: the serialisation is canonical. The counts keep
  // resource components and parameters apart.
  out.append_number(resource.components().size());
  for (const auto& [name, value] : resource.components()) {
    out.append_field(name);
    out.append_field(value);
  }
  out.append_number(parameters.size());
  for (const auto& [name, value] : parameters) {
    out.append_field(name);
    out.append_field(value);
  }
  return out.finish();
}

ExactKey decision_key(std::string_view handle, std::string_view capability, const Resource& resource,
                      const Parameters& parameters) {
  ExactKeyBuilder builder;
  return owned(decision_key(builder, handle, capability, resource, parameters));
}

ExactKey workspace_key(std::string_view workspace) {
  ExactKeyBuilder builder;
  builder.append_field(workspace);
  return owned(builder.finish());
}

CachedIdentity CachedIdentity::from(const Identity& identity) {
  const bool same = identity.principal_id == identity.handle;
  return CachedIdentity{identity.handle, identity.workspace, same ? std::string() : identity.principal_id, same,
                        identity.source, identity.expires};
}

Identity CachedIdentity::to_identity() const {
  return Identity{handle, workspace, principal_is_handle ? handle : distinct_principal_id, source, expires};
}

std::shared_ptr<const CachedIdentity> IdentityRecords::intern(const Identity& identity) {
  CachedIdentity record = CachedIdentity::from(identity);
  // Every field, length-prefixed, so two different identities never share a name.
  ExactKeyBuilder name;
  name.append_field(record.handle);
  name.append_field(record.workspace);
  name.append_field(record.distinct_principal_id);
  name.append_number(record.principal_is_handle ? 1 : 0);
  name.append_number(static_cast<std::size_t>(record.source));
  if (record.expires) name.append_field(std::to_string(record.expires->time_since_epoch().count()));
  const std::string_view bytes = name.finish().bytes;

  MutexLock lock(mutex_);
  auto& slot = records_[std::string(bytes)];
  if (auto alive = slot.lock()) return alive;
  auto fresh = std::make_shared<const CachedIdentity>(std::move(record));
  slot = fresh;
  if (records_.size() >= sweep_at_) {
    absl::erase_if(records_, [](const auto& entry) { return entry.second.expired(); });
    sweep_at_ = std::max<std::size_t>(64, 2 * records_.size());
  }
  return fresh;
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
      identities.erase_if([&](const auto& identity) { return identity->handle == event.id; });
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
      identities.erase_if([](const auto& identity) { return identity->source == CredentialSource::jwt; });
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
