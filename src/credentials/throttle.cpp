#include "iam/throttle.h"

#include <algorithm>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace iam {

struct Throttle::Impl {
  struct Entry {
    unsigned failures = 0;
    TimePoint locked_until{};
    std::list<std::string>::iterator recency;  // position in `order`
  };

  ThrottleConfig config;
  std::shared_ptr<Clock> clock;
  mutable std::mutex mutex;
  std::unordered_map<std::string, Entry> entries;
  std::list<std::string> order;  // most recently failed first; the back is dropped when full

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

Throttle::Throttle(ThrottleConfig config, std::shared_ptr<Clock> clock) : impl_(std::make_unique<Impl>()) {
  config.first_delay = std::max(config.first_delay, std::chrono::seconds(0));
  config.max_delay = std::max(config.max_delay, std::chrono::seconds(0));
  config.max_entries = std::max<std::size_t>(config.max_entries, 1);
  impl_->config = config;
  impl_->clock = clock ? std::move(clock) : system_clock();
}

Throttle::~Throttle() = default;

bool Throttle::allowed(std::string_view key) { return locked_for(key) == std::chrono::nanoseconds(0); }

std::chrono::nanoseconds Throttle::locked_for(std::string_view key) {
  if (!impl_->config.enabled) return std::chrono::nanoseconds(0);
  const std::lock_guard lock(impl_->mutex);
  const auto found = impl_->entries.find(std::string(key));
  return found == impl_->entries.end() ? std::chrono::nanoseconds(0) : impl_->remaining(found->second);
}

void Throttle::failed(std::string_view key) {
  if (!impl_->config.enabled) return;
  const std::lock_guard lock(impl_->mutex);
  auto& entries = impl_->entries;
  auto found = entries.find(std::string(key));
  if (found == entries.end()) {
    if (entries.size() >= impl_->config.max_entries) {
      entries.erase(impl_->order.back());
      impl_->order.pop_back();
    }
    impl_->order.emplace_front(key);
    found = entries.emplace(std::string(key), Impl::Entry{0, {}, impl_->order.begin()}).first;
  } else {
    impl_->order.splice(impl_->order.begin(), impl_->order, found->second.recency);
  }
  Impl::Entry& entry = found->second;
  const TimePoint now = impl_->clock->now();
  // Quiet for a whole cap period since the last failure (or lock end): old failures are
  // forgiven, so occasional typos spread over weeks never add up to a lock.
  if (entry.failures > 0 && now >= entry.locked_until + impl_->config.max_delay) entry.failures = 0;
  // An attempt refused while locked never reaches failed(); one that did is counted.
  entry.failures = entry.failures == ~0u ? entry.failures : entry.failures + 1;
  entry.locked_until = now + impl_->delay_after(entry.failures);
}

void Throttle::succeeded(std::string_view key) {
  if (!impl_->config.enabled) return;
  const std::lock_guard lock(impl_->mutex);
  const auto found = impl_->entries.find(std::string(key));
  if (found == impl_->entries.end()) return;
  impl_->order.erase(found->second.recency);
  impl_->entries.erase(found);
}

std::size_t Throttle::tracked() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->entries.size();
}

}  // namespace iam
