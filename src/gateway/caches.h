// Internal: the gateway kit's bounded, sharded TTL caches (gateway.md "Authenticating a
// request" step 4 and "Then, per request" step 6).
//
// Identities are keyed by (a prefix of) the credential's SHA-256 digest, so a credential's plaintext
// never sits in a cache and the shard and bucket can be taken straight from the
// (uniformly distributed) key bytes. Decisions and workspaces are keyed by their exact
// inputs (ExactKey). Each shard has its own mutex and LRU list: a hit locks one shard
// only, and a full shard evicts its least recently used entry, so a flood of random
// credentials cannot grow memory beyond the configured bound.
//
// Invalidation races: a request that asked the regime before a change was committed must
// not store its (now stale) answer after the change's invalidation ran. Callers take
// generation() before asking the regime and pass it to put(); every invalidation bumps the
// generation first, so such a put is dropped.
//
// THREAD SAFETY: every member function may be called from many threads at once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "iam/clock.h"
#include "iam/regime.h"

namespace iam::gateway {

// The first 16 bytes of a SHA-256 digest. Finding another credential with the same
// 128-bit prefix as a given one is a second-preimage problem (2^128 work); collisions among
// an attacker's own credentials gain nothing. Half the bytes of the full digest per entry.
using CacheKey = std::array<std::uint8_t, 16>;

struct CacheKeyHash {
  std::size_t operator()(const CacheKey& key) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, key.data(), sizeof h);  // the key is a digest: any 8 bytes are a good hash
    return h;
  }
};
// Bytes 8..15 pick the shard: independent of the bytes the bucket hash uses.
inline std::uint64_t shard_hash(const CacheKey& key) noexcept {
  std::uint64_t h = 0;
  std::memcpy(&h, key.data() + 8, sizeof h);
  return h;
}

// An exact key: the canonical bytes themselves, compared in full on every hit (so two
// different inputs can never share an entry), with a keyed SipHash-2-4 of them (random
// key per process) for the buckets, so crafted inputs cannot pile up in one bucket.
// Cheaper than a SHA-256 digest for the longer inputs of decisions.
struct ExactKey {
  std::string bytes;
  std::uint64_t hash = 0;
  friend bool operator==(const ExactKey& a, const ExactKey& b) noexcept {
    return a.hash == b.hash && a.bytes == b.bytes;
  }
};
struct ExactKeyHash {
  std::size_t operator()(const ExactKey& key) const noexcept { return key.hash; }
};
inline std::uint64_t shard_hash(const ExactKey& key) noexcept { return (key.hash >> 32) | (key.hash << 32); }

// SHA-256 of a credential (the digest the roles regime stores an API key under), cut to
// CacheKey's 16 bytes.
CacheKey credential_key(std::string_view credential) noexcept;
// The canonical, length-prefixed serialisation of the decision's inputs.
ExactKey decision_key(std::string_view handle, std::string_view capability, const Resource& resource,
                      const Parameters& parameters);
ExactKey workspace_key(std::string_view workspace);
// The key of a hex SHA-256 (Invalidation::id of an api_key event): all 64 digits must be
// hex; the first 32 make the key.
std::optional<CacheKey> key_from_hex(std::string_view hex) noexcept;

// A bounded map from Key to Value with a TTL per entry, split into shards that each have
// their own mutex, bound and least-recently-used order. One allocation per entry: the
// LRU links live in the hash map's own node (whose address never changes).
template <class Value, class Key = CacheKey, class Hash = CacheKeyHash>
class ShardedLruCache {
 public:
  ShardedLruCache(std::size_t capacity, std::size_t shard_count) {
    if (capacity == 0) capacity = 1;
    if (shard_count == 0) shard_count = 1;
    if (shard_count > capacity) shard_count = capacity;
    shards_.reserve(shard_count);
    // Spread the capacity so the shards' bounds add up to exactly `capacity`.
    for (std::size_t i = 0; i < shard_count; ++i) {
      auto shard = std::make_unique<Shard>();
      shard->capacity = capacity / shard_count + (i < capacity % shard_count ? 1 : 0);
      shards_.push_back(std::move(shard));
    }
  }

  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  // project(value) for the live entry of `key` (copying out only what the caller needs);
  // an expired entry is dropped and counts as a miss.
  template <class Project>
  auto get(const Key& key, TimePoint now, Project project) -> std::optional<decltype(project(std::declval<const Value&>()))> {
    Shard& shard = shard_for(key);
    MutexLock lock(shard.mutex);
    auto found = shard.index.find(key);
    if (found == shard.index.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    Slot& slot = found->second;
    if (slot.expires <= now) {
      shard.unlink(slot);
      shard.index.erase(found);
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    shard.unlink(slot);
    shard.push_front(slot);  // most recently used first
    return project(slot.value);
  }
  std::optional<Value> get(const Key& key, TimePoint now) {
    return get(key, now, [](const Value& value) { return value; });
  }

  // Stores `value` until `expires`, unless an invalidation ran since `generation` was read
  // or the entry would already be expired.
  void put(const Key& key, Value value, TimePoint expires, TimePoint now, std::uint64_t generation_seen) {
    if (expires <= now) return;
    Shard& shard = shard_for(key);
    MutexLock lock(shard.mutex);
    if (generation() != generation_seen) return;
    if (auto found = shard.index.find(key); found != shard.index.end()) {
      Slot& slot = found->second;
      slot.value = std::move(value);
      slot.expires = expires;
      shard.unlink(slot);
      shard.push_front(slot);
      return;
    }
    while (shard.index.size() >= shard.capacity && shard.oldest) {
      shard.erase(*shard.oldest);
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    auto [inserted, ok] = shard.index.try_emplace(key, std::move(value), expires);
    (void)ok;
    inserted->second.key = &inserted->first;
    shard.push_front(inserted->second);
  }

  void erase(const Key& key) {
    invalidate_generation();
    Shard& shard = shard_for(key);
    MutexLock lock(shard.mutex);
    if (auto found = shard.index.find(key); found != shard.index.end()) {
      shard.unlink(found->second);
      shard.index.erase(found);
    }
  }

  // Drops every entry whose value matches. Linear, but invalidations are rare.
  template <class Predicate>
  void erase_if(Predicate matches) {
    invalidate_generation();
    for (auto& shard : shards_) {
      MutexLock lock(shard->mutex);
      for (auto entry = shard->index.begin(); entry != shard->index.end();) {
        if (matches(std::as_const(entry->second.value))) {
          shard->unlink(entry->second);
          entry = shard->index.erase(entry);
        } else {
          ++entry;
        }
      }
    }
  }

  void clear() {
    invalidate_generation();
    for (auto& shard : shards_) {
      MutexLock lock(shard->mutex);
      shard->index.clear();
      shard->newest = shard->oldest = nullptr;
    }
  }

  std::size_t size() const {
    std::size_t total = 0;
    for (const auto& shard : shards_) {
      MutexLock lock(shard->mutex);
      total += shard->index.size();
    }
    return total;
  }

  // Since construction, for metrics: lookups answered, lookups not answered (expired
  // entries included), entries dropped to make room.
  std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }
  std::uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    Slot(Value v, TimePoint e) : value(std::move(v)), expires(e) {}
    Value value;
    TimePoint expires;
    Slot* newer = nullptr;
    Slot* older = nullptr;
    const Key* key = nullptr;  // the index node's own key, for eviction
  };
  struct Shard {
    mutable Mutex mutex;
    std::size_t capacity = 1;  // set before the cache is shared, then only read
    std::unordered_map<Key, Slot, Hash> index IAM_GUARDED_BY(mutex);
    Slot* newest IAM_GUARDED_BY(mutex) = nullptr;
    Slot* oldest IAM_GUARDED_BY(mutex) = nullptr;

    void unlink(Slot& slot) noexcept IAM_REQUIRES(mutex) {
      (slot.newer ? slot.newer->older : newest) = slot.older;
      (slot.older ? slot.older->newer : oldest) = slot.newer;
      slot.newer = slot.older = nullptr;
    }
    void push_front(Slot& slot) noexcept IAM_REQUIRES(mutex) {
      slot.older = newest;
      slot.newer = nullptr;
      (newest ? newest->newer : oldest) = &slot;
      newest = &slot;
    }
    void erase(Slot& slot) IAM_REQUIRES(mutex) {
      unlink(slot);
      index.erase(index.find(*slot.key));
    }
  };

  Shard& shard_for(const Key& key) { return *shards_[shard_hash(key) % shards_.size()]; }
  void invalidate_generation() noexcept { generation_.fetch_add(1, std::memory_order_acq_rel); }

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

// What the identity cache keeps: an Identity, without storing principal_id a second time
// when it equals the handle (as it does for the roles regime), to keep entries small.
struct CachedIdentity {
  std::string handle;
  std::string workspace;
  std::string distinct_principal_id;  // empty when principal_id == handle
  bool principal_is_handle = true;
  CredentialSource source = CredentialSource::api_key;
  std::optional<TimePoint> expires;

  static CachedIdentity from(const Identity& identity);
  Identity to_identity() const;
};

// A cached decision remembers whose it is, so a change to that user drops it.
struct CachedDecision {
  Decision decision;
  std::string handle;
};

// The three caches of one Enforcer, and how each invalidation event touches them.
struct GatewayCaches {
  GatewayCaches(std::size_t identities_capacity, std::size_t decisions_capacity, std::size_t workspaces_capacity,
                std::size_t shards)
      : identities(identities_capacity, shards),
        decisions(decisions_capacity, shards),
        workspaces(workspaces_capacity, shards) {}

  ShardedLruCache<CachedIdentity> identities;
  ShardedLruCache<CachedDecision, ExactKey, ExactKeyHash> decisions;
  ShardedLruCache<bool, ExactKey, ExactKeyHash> workspaces;  // only "exists" answers are cached

  void apply(const Invalidation& event);
  void clear();
};

}  // namespace iam::gateway
