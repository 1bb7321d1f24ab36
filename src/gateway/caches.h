// Internal: the gateway kit's bounded, sharded TTL caches (gateway.md "Authenticating a
// request" step 4 and "Then, per request" step 6).
//
// Keys are 32-byte SHA-256 digests, so a credential's plaintext never sits in a cache and
// the shard and bucket can be taken straight from the (uniformly distributed) key bytes.
// Each shard has its own mutex and LRU list: a hit locks one shard only, and a full shard
// evicts its least recently used entry, so a flood of random credentials cannot grow
// memory beyond the configured bound.
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
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iam/clock.h"
#include "iam/regime.h"

namespace iam::gateway {

using CacheKey = std::array<std::uint8_t, 32>;

struct CacheKeyHash {
  std::size_t operator()(const CacheKey& key) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, key.data(), sizeof h);  // the key is a digest: any 8 bytes are a good hash
    return h;
  }
};

// SHA-256 of a credential (the same digest the roles regime stores an API key under).
CacheKey credential_key(std::string_view credential) noexcept;
// SHA-256 of a canonical, length-prefixed serialisation of the decision's inputs.
CacheKey decision_key(std::string_view handle, std::string_view capability, const Resource& resource,
                      const Parameters& parameters) noexcept;
// SHA-256 of a workspace id.
CacheKey workspace_key(std::string_view workspace) noexcept;
// The key of a lowercase-hex SHA-256 (Invalidation::id of an api_key event).
std::optional<CacheKey> key_from_hex(std::string_view hex) noexcept;

template <class Value>
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

  // The live value for `key`; an expired entry is dropped and counts as a miss.
  std::optional<Value> get(const CacheKey& key, TimePoint now) {
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    auto found = shard.index.find(key);
    if (found == shard.index.end()) return std::nullopt;
    auto entry = found->second;
    if (entry->expires <= now) {
      shard.index.erase(found);
      shard.lru.erase(entry);
      return std::nullopt;
    }
    shard.lru.splice(shard.lru.begin(), shard.lru, entry);  // most recently used first
    return entry->value;
  }

  // Stores `value` until `expires`, unless an invalidation ran since `generation` was read
  // or the entry would already be expired.
  void put(const CacheKey& key, Value value, TimePoint expires, TimePoint now, std::uint64_t generation_seen) {
    if (expires <= now) return;
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    if (generation() != generation_seen) return;
    if (auto found = shard.index.find(key); found != shard.index.end()) {
      found->second->value = std::move(value);
      found->second->expires = expires;
      shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
      return;
    }
    while (shard.lru.size() >= shard.capacity) {
      shard.index.erase(shard.lru.back().key);
      shard.lru.pop_back();
    }
    shard.lru.push_front(Entry{key, std::move(value), expires});
    shard.index.emplace(key, shard.lru.begin());
  }

  void erase(const CacheKey& key) {
    invalidate_generation();
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    if (auto found = shard.index.find(key); found != shard.index.end()) {
      shard.lru.erase(found->second);
      shard.index.erase(found);
    }
  }

  // Drops every entry whose value matches. Linear, but invalidations are rare.
  template <class Predicate>
  void erase_if(Predicate matches) {
    invalidate_generation();
    for (auto& shard : shards_) {
      std::lock_guard lock(shard->mutex);
      for (auto entry = shard->lru.begin(); entry != shard->lru.end();) {
        if (matches(entry->value)) {
          shard->index.erase(entry->key);
          entry = shard->lru.erase(entry);
        } else {
          ++entry;
        }
      }
    }
  }

  void clear() {
    invalidate_generation();
    for (auto& shard : shards_) {
      std::lock_guard lock(shard->mutex);
      shard->index.clear();
      shard->lru.clear();
    }
  }

  std::size_t size() const {
    std::size_t total = 0;
    for (const auto& shard : shards_) {
      std::lock_guard lock(shard->mutex);
      total += shard->lru.size();
    }
    return total;
  }

 private:
  struct Entry {
    CacheKey key;
    Value value;
    TimePoint expires;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::size_t capacity = 1;
    std::list<Entry> lru;
    std::unordered_map<CacheKey, typename std::list<Entry>::iterator, CacheKeyHash> index;
  };

  Shard& shard_for(const CacheKey& key) {
    // Bytes 8..15: independent of the bytes the bucket hash uses.
    std::uint64_t h = 0;
    std::memcpy(&h, key.data() + 8, sizeof h);
    return *shards_[h % shards_.size()];
  }
  void invalidate_generation() noexcept { generation_.fetch_add(1, std::memory_order_acq_rel); }

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> generation_{0};
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

  ShardedLruCache<Identity> identities;
  ShardedLruCache<CachedDecision> decisions;
  ShardedLruCache<bool> workspaces;  // only "exists" answers are cached

  void apply(const Invalidation& event);
  void clear();
};

}  // namespace iam::gateway
