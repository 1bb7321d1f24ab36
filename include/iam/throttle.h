// iam/throttle.h — slows down password guessing. After repeated consecutive failures for
// one key (an account's normalised username in the roles regime, a client address at a
// gateway), further attempts are refused for a time that doubles with each further
// failure, up to a cap.
//
// What it guarantees: a refusal is the caller's ordinary failure (the roles regime answers
// auth_failure(), byte-identical to a wrong password); succeeded() forgets a key (callers
// decide which keys a success may reset: an account's, never an address's); a key is never
// locked for longer than max_delay after its last failure, and attempts refused while
// locked do not extend the lock, so nobody can lock an account out forever; memory stays
// bounded by max_entries and max_bytes (least recently failed dropped first), and a key
// costs the same whatever its length: only a 16-byte keyed digest of it is kept (BLAKE2b
// under a random per-table secret), never the key. Keys are throttled whether or not
// they name a real account, so a refusal says nothing about existence. Callers normalise
// keys themselves (two spellings are two keys) and should bound their length: hashing
// an oversized key still costs time.
//
// THREAD SAFETY: a Throttle is safe to share between threads (one internal mutex; it is
// consulted once per password check, which costs far more).
// OWNERSHIP: shares its clock; keeps digests of the keys it tracks, not the keys.
// ERRORS: none; the constructor clamps nonsensical settings (a zero cap means "no delay").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "iam/clock.h"
#include "iam/export.h"

namespace iam {

struct ThrottleConfig {
  bool enabled = true;
  unsigned free_failures = 5;                   // consecutive failures allowed without delay
  std::chrono::seconds first_delay{1};          // after failure free_failures+1; doubles after each further one
  std::chrono::seconds max_delay{300};          // the cap
  std::size_t max_entries = 100'000;            // keys tracked at most
  std::size_t max_bytes = 16 * 1024 * 1024;     // memory_bytes() at most (about 100 bytes a key)
};

namespace credentials {
struct ThrottleTable;  // internal (src/credentials/throttle.cpp)
}  // namespace credentials

class IAM_EXPORT Throttle {
 public:
  explicit Throttle(ThrottleConfig config = {}, std::shared_ptr<Clock> clock = nullptr);
  ~Throttle();
  Throttle(const Throttle&) = delete;
  Throttle& operator=(const Throttle&) = delete;

  // May an attempt for `key` go ahead now? false while the key is locked (a refusal).
  bool allowed(std::string_view key);
  // An attempt for `key` failed: counts it, and locks the key once past free_failures.
  void failed(std::string_view key);
  // An attempt for `key` succeeded: forgets the key's failures.
  void succeeded(std::string_view key);

  // How long `key` is still locked (zero when allowed). For tests and metrics.
  std::chrono::nanoseconds locked_for(std::string_view key);
  std::size_t tracked() const;
  // The table's accounted size in bytes (entries times a fixed per-entry estimate), never
  // above max_bytes. For tests and metrics.
  std::size_t memory_bytes() const;
  // How many times allowed() answered false since construction. For metrics.
  std::uint64_t refusals() const noexcept;

 private:
  std::unique_ptr<credentials::ThrottleTable> table_;
};

}  // namespace iam
