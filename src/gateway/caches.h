// Internal: the gateway kit's bounded, sharded TTL caches (gateway.md "Authenticating a
// request" step 4 and "Then, per request" step 6).
//
// Identities are keyed by (a prefix of) the credential's SHA-256 digest, so a credential's plaintext
// never sits in a cache and the shard and bucket can be taken straight from the
// (uniformly distributed) key bytes. Decisions and workspaces are keyed by their exact
// inputs (ExactKey). Each shard has its own mutex and an open-addressing table
// (absl::flat_hash_map: the 16-byte key and a small entry inline, so a hit at a million
// entries is a probe of the control bytes and one slot, not a walk down node chains).
// A full shard evicts by CLOCK (second chance): a hit marks its entry referenced, and
// eviction sweeps the table from where it last stopped, clearing marks, until it meets an
// unreferenced entry. That approximates least-recently-used without the LRU list's
// writes to two neighbouring entries on every hit, and a flood of new credentials (never
// referenced) evicts itself first; memory never grows beyond the configured bound.
//
// Counters on the hit path (hits, misses, evictions) are striped per thread, so two
// threads answering from the cache never write the same cache line.
//
// Invalidation races: a request that asked the regime before a change was committed must
// not store its (now stale) answer after the change's invalidation ran. Callers take
// generation() before asking the regime and pass it to put(); every invalidation bumps the
// generation first, so such a put is dropped.
//
// THREAD SAFETY: every member function may be called from many threads at once.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/text.h"
#include "iam/clock.h"
#include "iam/regime.h"

namespace iam::gateway {

// ------------------------------------------------------------------ striped counters

// This thread's stripe among `stripe_count`: threads take stripes round-robin on first use.
inline constexpr std::size_t stripe_count = 16;
std::size_t this_thread_stripe() noexcept;

// N monotonic counters, each split into per-thread stripes on separate cache lines (128
// bytes: the adjacent-line prefetcher pairs lines), summed when read. Incrementing never
// touches a line another thread increments, unless more than stripe_count threads run.
template <std::size_t N>
class StripedCounters {
 public:
  void add(std::size_t which, std::uint64_t n = 1) noexcept {
    stripes_[this_thread_stripe()].values[which].fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t load(std::size_t which) const noexcept {
    std::uint64_t total = 0;
    for (const auto& stripe : stripes_) total += stripe.values[which].load(std::memory_order_relaxed);
    return total;
  }

 private:
  struct alignas(128) Stripe {
    std::array<std::atomic<std::uint64_t>, N> values{};
  };
  std::array<Stripe, stripe_count> stripes_{};
};

// ------------------------------------------------------------------ table memory

// Bytes the caches' tables hold in blocks of their own (below), for the benchmark's
// memory figure: such blocks bypass malloc, so malloc's statistics do not see them.
std::size_t table_bytes_mapped() noexcept;
void* map_table_block(std::size_t bytes);
void unmap_table_block(void* block, std::size_t bytes) noexcept;

// The tables' allocator: a block of 2 MiB or more is mapped on its own, 2 MiB aligned and
// marked for transparent huge pages, so a probe into a table of a million entries costs a
// cache miss but rarely a page walk as well; smaller blocks come from operator new.
template <class T>
struct TableAllocator {
  using value_type = T;
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  TableAllocator() = default;
  template <class U>
  TableAllocator(const TableAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= huge_page) return static_cast<T*>(map_table_block(bytes));
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= huge_page)
      unmap_table_block(p, bytes);
    else
      std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  friend bool operator==(const TableAllocator&, const TableAllocator<U>&) noexcept {
    return true;
  }
};

// ------------------------------------------------------------------ keys

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
struct CacheKeyEq {  // two word compares, inline (std::array's == calls memcmp)
  bool operator()(const CacheKey& a, const CacheKey& b) const noexcept {
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a.data(), 8);
    std::memcpy(&a1, a.data() + 8, 8);
    std::memcpy(&b0, b.data(), 8);
    std::memcpy(&b1, b.data() + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
};
// Bytes 8..15 pick the shard: independent of the bytes the bucket hash uses.
inline std::uint64_t shard_hash(const CacheKey& key) noexcept {
  std::uint64_t h = 0;
  std::memcpy(&h, key.data() + 8, sizeof h);
  return h;
}

// An exact key: the canonical bytes themselves, compared in full on every hit (so two
// different inputs can never share an entry), with a seeded hash of them (a random seed
// per process) for the buckets and the shard.
struct ExactKey {
  std::string bytes;
  std::uint64_t hash = 0;
};
// The same key without owning its bytes: what a lookup builds (on the stack, no allocation).
struct ExactKeyRef {
  std::string_view bytes;
  std::uint64_t hash = 0;
};
struct ExactKeyHash {
  using is_transparent = void;
  std::size_t operator()(const ExactKey& key) const noexcept { return key.hash; }
  std::size_t operator()(const ExactKeyRef& key) const noexcept { return key.hash; }
};
struct ExactKeyEq {
  using is_transparent = void;
  static std::string_view bytes(const ExactKey& key) noexcept { return key.bytes; }
  static std::string_view bytes(const ExactKeyRef& key) noexcept { return key.bytes; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return a.hash == b.hash && text::equal(bytes(a), bytes(b));
  }
};
inline bool operator==(const ExactKey& a, const ExactKey& b) noexcept { return ExactKeyEq{}(a, b); }
inline std::uint64_t shard_hash(const ExactKey& key) noexcept { return (key.hash >> 32) | (key.hash << 32); }
inline std::uint64_t shard_hash(const ExactKeyRef& key) noexcept { return (key.hash >> 32) | (key.hash << 32); }

// An exact key's bytes while they are being built: inline up to a size that holds every
// ordinary decision key, so the hit path allocates nothing.
class ExactKeyBuilder {
 public:
  ExactKeyBuilder() = default;
  ExactKeyBuilder(const ExactKeyBuilder&) = delete;
  ExactKeyBuilder& operator=(const ExactKeyBuilder&) = delete;

  // LEB128: short, and unambiguous wherever it ends.
  void append_number(std::size_t n) {
    if (n < 0x80 && size_ < capacity_) {  // nearly every length
      data_[size_++] = static_cast<char>(n);
      return;
    }
    append_long_number(n);
  }
  // A length prefix before every field keeps ("ab","c") and ("a","bc") apart.
  void append_field(std::string_view field) {
    append_number(field.size());
    if (field.size() > capacity_ - size_) grow(field.size());
    std::memcpy(data_ + size_, field.data(), field.size());
    size_ += field.size();
  }
  // The key over what was appended (hashed once, here); valid while this builder lives.
  ExactKeyRef finish() noexcept;

 private:
  void append_long_number(std::size_t n);
  void grow(std::size_t more);  // room for `more` bytes after size_

  char inline_[192];
  std::unique_ptr<char[]> heap_;  // once the key outgrows inline_
  char* data_ = inline_;
  std::size_t size_ = 0;
  std::size_t capacity_ = sizeof inline_;
};

// SHA-256 of a credential (the digest the roles regime stores an API key under), cut to
// CacheKey's 16 bytes.
CacheKey credential_key(std::string_view credential) noexcept;
// The canonical, length-prefixed serialisation of the decision's inputs, into `out`.
ExactKeyRef decision_key(ExactKeyBuilder& out, std::string_view handle, std::string_view capability,
                         const Resource& resource, const Parameters& parameters);
// The same, owning its bytes (what a cache entry stores).
ExactKey decision_key(std::string_view handle, std::string_view capability, const Resource& resource,
                      const Parameters& parameters);
ExactKey workspace_key(std::string_view workspace);
inline ExactKey owned(const ExactKeyRef& key) { return ExactKey{std::string(key.bytes), key.hash}; }
// The key of a hex SHA-256 (Invalidation::id of an api_key event): all 64 digits must be
// hex; the first 32 make the key.
std::optional<CacheKey> key_from_hex(std::string_view hex) noexcept;

// ------------------------------------------------------------------ the cache

// A bounded map from Key to Value with a TTL per entry, split into shards that each have
// their own mutex, bound and CLOCK hand. Lookups may use any type the Hash and Eq accept
// (ExactKeyRef for ExactKey) that has a shard_hash.
template <class Value, class Key = CacheKey, class Hash = CacheKeyHash, class Eq = CacheKeyEq>
class ShardedCache {
 public:
  ShardedCache(std::size_t capacity, std::size_t shard_count) {
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
  template <class Lookup, class Project>
  auto get(const Lookup& key, TimePoint now, Project project)
      -> std::optional<decltype(project(std::declval<const Value&>()))> {
    Shard& shard = shard_for(key);
    MutexLock lock(shard.mutex);
    // The control bytes and the first slot of the probe are fetched at once, not one
    // after the other: in a large table both are cache misses.
    shard.index.prefetch(key);
    auto found = shard.index.find(key);
    if (found == shard.index.end()) {
      counters_.add(misses_counter);
      return std::nullopt;
    }
    Entry& entry = found->second;
    if (entry.expires <= now) {
      shard.index.erase(found);
      counters_.add(misses_counter);
      return std::nullopt;
    }
    counters_.add(hits_counter);
    if (!entry.referenced) entry.referenced = true;  // written once, not on every hit
    return project(entry.value);
  }
  template <class Lookup>
  std::optional<Value> get(const Lookup& key, TimePoint now) {
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
      found->second.value = std::move(value);
      found->second.expires = expires;
      return;
    }
    while (shard.index.size() >= shard.capacity && !shard.index.empty()) {
      shard.evict_one();
      counters_.add(evictions_counter);
    }
    shard.index.try_emplace(key, Entry{std::move(value), expires, false});
  }

  void erase(const Key& key) {
    invalidate_generation();
    Shard& shard = shard_for(key);
    MutexLock lock(shard.mutex);
    shard.index.erase(key);
  }

  // Drops every entry whose value matches. Linear, but invalidations are rare.
  template <class Predicate>
  void erase_if(Predicate matches) {
    invalidate_generation();
    for (auto& shard : shards_) {
      MutexLock lock(shard->mutex);
      absl::erase_if(shard->index, [&](const auto& entry) { return matches(std::as_const(entry.second.value)); });
    }
  }

  void clear() {
    invalidate_generation();
    for (auto& shard : shards_) {
      MutexLock lock(shard->mutex);
      shard->index.clear();
      shard->hand.reset();
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
  std::uint64_t hits() const noexcept { return counters_.load(hits_counter); }
  std::uint64_t misses() const noexcept { return counters_.load(misses_counter); }
  std::uint64_t evictions() const noexcept { return counters_.load(evictions_counter); }

 private:
  struct Entry {
    Value value;
    TimePoint expires;
    bool referenced;  // hit since the CLOCK hand last passed
  };
  // Not alignas(128): aligning shards put each one's mutex on the line of its table's
  // header, and two threads then scaled 1.5x instead of 1.9x (bench-scaling, same run).
  struct Shard {
    mutable Mutex mutex;
    std::size_t capacity = 1;  // set before the cache is shared, then only read
    absl::flat_hash_map<Key, Entry, Hash, Eq, TableAllocator<std::pair<const Key, Entry>>> index IAM_GUARDED_BY(mutex);
    // Where the next eviction sweep starts: a key, since the table's iterators do not
    // survive an insertion. Gone (erased meanwhile): the sweep starts at the beginning.
    std::optional<Key> hand IAM_GUARDED_BY(mutex);

    // CLOCK: clear marks from the hand on until an unreferenced entry, and drop it. Ends
    // within two passes (the first clears every mark). The index must not be empty.
    void evict_one() IAM_REQUIRES(mutex) {
      auto at = hand ? index.find(*hand) : index.end();
      if (at == index.end()) at = index.begin();
      for (;; ++at) {
        if (at == index.end()) at = index.begin();
        if (!at->second.referenced) break;
        at->second.referenced = false;
      }
      auto next = std::next(at);
      if (next == index.end())
        hand.reset();
      else
        hand = next->first;
      index.erase(at);
    }
  };

  template <class Lookup>
  Shard& shard_for(const Lookup& key) {
    return *shards_[shard_hash(key) % shards_.size()];
  }
  void invalidate_generation() noexcept { generation_.fetch_add(1, std::memory_order_acq_rel); }

  static constexpr std::size_t hits_counter = 0, misses_counter = 1, evictions_counter = 2;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> generation_{0};
  StripedCounters<3> counters_;
};

// ------------------------------------------------------------------ what the caches hold

// An Identity as the cache keeps it, without storing principal_id a second time when it
// equals the handle (as it does for the roles regime).
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

// One shared, immutable record per distinct identity: the many keys of one principal point
// at the same record, so a cache entry is its key, deadline and a pointer (48 bytes).
class IdentityRecords {
 public:
  std::shared_ptr<const CachedIdentity> intern(const Identity& identity);

 private:
  Mutex mutex_;
  // The serialised identity -> its record while any cache entry holds it. Records no entry
  // holds any more are forgotten when the map has doubled since the last sweep.
  absl::flat_hash_map<std::string, std::weak_ptr<const CachedIdentity>> records_ IAM_GUARDED_BY(mutex_);
  std::size_t sweep_at_ IAM_GUARDED_BY(mutex_) = 64;
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

  ShardedCache<std::shared_ptr<const CachedIdentity>> identities;
  IdentityRecords identity_records;  // what `identities` entries point at
  ShardedCache<CachedDecision, ExactKey, ExactKeyHash, ExactKeyEq> decisions;
  ShardedCache<bool, ExactKey, ExactKeyHash, ExactKeyEq> workspaces;  // only "exists" answers are cached

  void apply(const Invalidation& event);
  void clear();
};

}  // namespace iam::gateway
