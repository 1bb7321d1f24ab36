#include "iam/throttle.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <list>
#include <unordered_map>

#include "core/mutex.h"
#include "crypto/crypto.h"

namespace iam {

// What a Throttle holds, kept out of iam/throttle.h.
struct credentials::ThrottleTable {
  std::atomic<std::uint64_t> refusals{0};  // allowed() answered false
  // Keys are kept as a keyed digest, never as given: every entry costs the same whatever
  // the caller sent, and nobody who lacks the per-table secret can aim keys at one bucket.
  using Digest = std::array<unsigned char, 16>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept {
      std::size_t h;
      std::memcpy(&h, d.data(), sizeof h);  // already uniformly random
      return h;
    }
  };
  struct Entry {
    unsigned failures = 0;
    TimePoint locked_until{};
    std::list<Digest>::iterator recency;  // position in `order`
  };
  // What one tracked key costs: the map node (value, next pointer, cached hash), its bucket
  // slot, and the list node (value, two pointers). An estimate, not malloc's exact count.
  static constexpr std::size_t kEntryBytes =
      sizeof(std::pair<const Digest, Entry>) + 3 * sizeof(void*) + sizeof(Digest) + 2 * sizeof(void*);

  ThrottleConfig config;
  std::size_t capacity = 1;  // entries, from max_entries and max_bytes
  std::shared_ptr<Clock> clock;
  std::array<unsigned char, crypto_generichash_KEYBYTES> secret{};
  mutable Mutex mutex;
  std::unordered_map<Digest, Entry, DigestHash> entries IAM_GUARDED_BY(mutex);
  std::list<Digest> order IAM_GUARDED_BY(mutex);  // most recently failed first; the back is dropped when full

  ~ThrottleTable() { sodium_memzero(secret.data(), secret.size()); }

  Digest digest(std::string_view key) const {
    Digest out;
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                       secret.data(), secret.size());
    return out;
  }

  std::chrono::nanoseconds remaining(const Entry& entry) const {
    const TimePoint now = clock->now();
    return entry.locked_until > now ? entry.locked_until - now : std::chrono::nanoseconds(0);
  }

  std::chrono::seconds delay_after(unsigned failures) const {
    if (failures <= config.free_failures) return std::chrono::seconds(0);
    const unsigned doublings = std::min(failures - config.free_failures - 1, 30u);  // no overflow
    const auto delay = config.first_delay * (std::int64_t{1} << doublings);
    return std::min(delay, config.max_delay);
  }
};

using Table = credentials::ThrottleTable;

Throttle::Throttle(ThrottleConfig config, std::shared_ptr<Clock> clock) : table_(std::make_unique<Table>()) {
  config.first_delay = std::max(config.first_delay, std::chrono::seconds(0));
  config.max_delay = std::max(config.max_delay, std::chrono::seconds(0));
  config.max_entries = std::max<std::size_t>(config.max_entries, 1);
  config.max_bytes = std::max(config.max_bytes, Table::kEntryBytes);
  table_->config = config;
  table_->capacity = std::min(config.max_entries, config.max_bytes / Table::kEntryBytes);
  table_->clock = clock ? std::move(clock) : system_clock();
  crypto::ensure_initialised();
  randombytes_buf(table_->secret.data(), table_->secret.size());
}

Throttle::~Throttle() = default;

bool Throttle::allowed(std::string_view key) {
  if (locked_for(key) == std::chrono::nanoseconds(0)) return true;
  table_->refusals.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::uint64_t Throttle::refusals() const noexcept { return table_->refusals.load(std::memory_order_relaxed); }

std::chrono::nanoseconds Throttle::locked_for(std::string_view key) {
  if (!table_->config.enabled) return std::chrono::nanoseconds(0);
  const Table::Digest digest = table_->digest(key);
  const MutexLock lock(table_->mutex);
  const auto found = table_->entries.find(digest);
  return found == table_->entries.end() ? std::chrono::nanoseconds(0) : table_->remaining(found->second);
}

void Throttle::failed(std::string_view key) {
  if (!table_->config.enabled) return;
  const Table::Digest digest = table_->digest(key);
  const MutexLock lock(table_->mutex);
  auto& entries = table_->entries;
  auto found = entries.find(digest);
  if (found == entries.end()) {
    if (entries.size() >= table_->capacity) {
      entries.erase(table_->order.back());
      table_->order.pop_back();
    }
    table_->order.push_front(digest);
    found = entries.emplace(digest, Table::Entry{0, {}, table_->order.begin()}).first;
  } else {
    table_->order.splice(table_->order.begin(), table_->order, found->second.recency);
  }
  Table::Entry& entry = found->second;
  const TimePoint now = table_->clock->now();
  // Quiet for a whole cap period since the last failure (or lock end): old failures are
  // forgiven, so occasional typos spread over weeks never add up to a lock.
  if (entry.failures > 0 && now >= entry.locked_until + table_->config.max_delay) entry.failures = 0;
  // An attempt refused while locked never reaches failed(); one that did is counted.
  entry.failures = entry.failures == ~0u ? entry.failures : entry.failures + 1;
  entry.locked_until = now + table_->delay_after(entry.failures);
}

void Throttle::succeeded(std::string_view key) {
  if (!table_->config.enabled) return;
  const Table::Digest digest = table_->digest(key);
  const MutexLock lock(table_->mutex);
  const auto found = table_->entries.find(digest);
  if (found == table_->entries.end()) return;
  table_->order.erase(found->second.recency);
  table_->entries.erase(found);
}

std::size_t Throttle::tracked() const {
  const MutexLock lock(table_->mutex);
  return table_->entries.size();
}

std::size_t Throttle::memory_bytes() const {
  const MutexLock lock(table_->mutex);
  return table_->entries.size() * Table::kEntryBytes;
}

}  // namespace iam
