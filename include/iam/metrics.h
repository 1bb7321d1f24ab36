// iam/metrics.h — counters, gauges and histograms, and a registry that writes them in the
// Prometheus text exposition format (version 0.0.4), for an operator's scraper. The gateway
// kit's own metrics (authentications, authorisations, caches, requests by route) are
// registered by register_enforcer_metrics and RequestMetrics below; docs/metrics.md lists
// every metric iam-gateway exposes.
//
// LABELS: label values must come from fixed sets (route names, status codes, outcome
// names): never a user id, a workspace or a credential. A series is created once, at
// registration; the request path then holds a Counter* / Histogram* resolved in advance.
// OUTPUT: families in name order, series in label order, so equal states print equal
// text. HELP text and label values are escaped as the format says (\\, \", \n).
//
// THREAD SAFETY: Counter, Gauge and Histogram updates are lock-free relaxed atomics and
// never allocate; call them from any thread. Registration and text() take the registry's
// mutex (startup and scrapes only). A callback metric's function is called during text()
// with that mutex held: it must be cheap, safe to call from the scraping thread, and must
// not use the registry.
// OWNERSHIP: the registry owns every metric it hands out; the pointers stay valid for the
// registry's lifetime. Callbacks are kept (with whatever they capture) as long.
// ERRORS: registration returns invalid_argument for a name or label name the format does
// not allow, a reserved label name ("le", or one starting "__"), or a family registered
// again with another type, help text or label names; duplicate for a callback series
// registered twice. Registering an existing non-callback series returns the same object.
// Nothing else fails: updates and text() never do.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iam/export.h"
#include "iam/status.h"

namespace iam {

// Label name/value pairs, in the order the family's every series names them.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// The Content-Type of text().
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

class IAM_EXPORT Counter {
 public:
  void inc(std::uint64_t by = 1) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class IAM_EXPORT Gauge {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(double by) noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed upper bounds (ascending, finite); an observation lands in the first bucket whose
// bound is >= it, or in +Inf. _count is the total of the buckets read, so a scrape taken
// during an observation still prints a consistent histogram (its _sum may lag by one).
class IAM_EXPORT Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value) noexcept;
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  // Per bucket (not cumulative), the last for +Inf.
  std::vector<std::uint64_t> bucket_counts() const;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Request latencies: 1 ms to 10 s.
IAM_EXPORT std::vector<double> default_latency_buckets();

// Whether a series is printed while it is zero (a histogram: while it counts nothing).
// once_nonzero keeps pre-created series (every route by every status) out of the text
// until they happen.
enum class Visibility { always, once_nonzero };

class IAM_EXPORT MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Result<Counter*> counter(std::string_view name, std::string_view help, const MetricLabels& labels = {},
                           Visibility visibility = Visibility::always);
  Result<Gauge*> gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Result<Histogram*> histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                               const MetricLabels& labels = {}, Visibility visibility = Visibility::always);
  // Series whose value is read when text() runs: for values another component keeps
  // (cache sizes, store counters, an audit sink's dropped events). A callback counter must
  // never go down; one that throws prints nothing for that series.
  Status counter_callback(std::string_view name, std::string_view help, const MetricLabels& labels,
                          std::function<double()> read);
  Status gauge_callback(std::string_view name, std::string_view help, const MetricLabels& labels,
                        std::function<double()> read);

  // The exposition text: "# HELP", "# TYPE" and the samples of every family.
  std::string text() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ---------------------------------------------------------------- the gateway kit's metrics

class Enforcer;

// Registers, read from enforcer->stats() at each scrape (nothing is added to the request
// path beyond the enforcer's own relaxed counters):
//   iam_authentications_total{source,outcome}, iam_authorisations_total{outcome},
//   iam_cache_hits_total / iam_cache_misses_total / iam_cache_evictions_total{cache},
//   iam_cache_entries{cache}  (cache: "identity", "decision").
// Errors: as registration's (the names are taken already).
IAM_EXPORT Status register_enforcer_metrics(MetricsRegistry& registry, std::shared_ptr<const Enforcer> enforcer);

// Requests by route and status, and their latency, for a server whose routes are a fixed
// list: iam_http_requests_total{route,status} and iam_http_request_duration_seconds{route}.
// Every (route, status) series is created by make_request_metrics, so record() is an array
// index and two relaxed increments. Statuses outside status_codes() count as status="other".
class RequestMetrics;
IAM_EXPORT Result<RequestMetrics> make_request_metrics(MetricsRegistry& registry,
                                                       std::span<const std::string_view> routes);

class IAM_EXPORT RequestMetrics {
 public:
  // The statuses with a series of their own.
  static std::span<const int> status_codes() noexcept;

  // `route` indexes the list given to make_request_metrics; an index out of range is ignored.
  void record(std::size_t route, int status, double seconds) const noexcept;

 private:
  friend Result<RequestMetrics> make_request_metrics(MetricsRegistry&, std::span<const std::string_view>);
  RequestMetrics() = default;
  std::vector<Counter*> requests_;          // [route * (statuses + 1) + status index]
  std::vector<Histogram*> durations_;       // [route]
};

}  // namespace iam
