// iam/clock.h — where the library reads the time.
//
// Time comes in through this interface so that tests control token expiry, key grace
// periods and cache TTLs without sleeping.
//
// THREAD SAFETY: implementations must be safe to call from many threads at once; both
// clocks here are. OWNERSHIP: the library holds clocks by std::shared_ptr.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "iam/export.h"

namespace iam {

using TimePoint = std::chrono::system_clock::time_point;

class IAM_EXPORT Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // The time for cache deadlines only: it may lag now() by a few milliseconds and costs
  // less to read (the gateway kit reads it on every cache hit). Defaults to now().
  virtual TimePoint coarse_now() const { return now(); }
};

// The wall clock (std::chrono::system_clock); its coarse_now() is CLOCK_REALTIME_COARSE
// (the time of the last timer tick: at most a few milliseconds behind, about a quarter of
// the cost of now()).
IAM_EXPORT std::shared_ptr<Clock> system_clock();

// A clock that moves only when told to. Starts at `start`.
class IAM_EXPORT ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::seconds(1'800'000'000)));
  TimePoint now() const override;
  void set(TimePoint t);
  void advance(std::chrono::nanoseconds by);

 private:
  std::atomic<std::int64_t> nanos_;
};

// Whole seconds since the Unix epoch. from_unix_seconds saturates at TimePoint's range
// (years 1677..2262): earlier is TimePoint::min(), later TimePoint::max().
IAM_EXPORT std::int64_t unix_seconds(TimePoint t) noexcept;
IAM_EXPORT TimePoint from_unix_seconds(std::int64_t seconds) noexcept;

// RFC 3339 UTC with second precision: "2026-11-22T10:15:00Z".
IAM_EXPORT std::string format_rfc3339(TimePoint t);
// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)"; nullopt for anything else.
IAM_EXPORT std::optional<TimePoint> parse_rfc3339(std::string_view text);
// A time in a request, read as TrustGraph reads it (Python's datetime.fromisoformat), in
// its unambiguous forms: "YYYY-MM-DD" (midnight UTC), or the date, then 'T', 't' or ' ',
// then "HH:MM[:SS[.fraction]]" with "Z", "±HH:MM", "±HHMM" or nothing (UTC). Years outside
// 1678..2261 (TimePoint's range) and texts over 64 bytes are refused; nullopt for anything
// else. Fractions of a second are truncated.
IAM_EXPORT std::optional<TimePoint> parse_request_time(std::string_view text);

}  // namespace iam
