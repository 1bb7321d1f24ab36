// The metrics registry and its Prometheus text exposition (format 0.0.4), written by hand:
// the format is a few line shapes, and a client library would bring its own registry and
// threading for what is here a map walk under one mutex.
#include "iam/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <variant>

#include "core/mutex.h"
#include "iam/gateway.h"

namespace iam {

namespace {

void add_to(std::atomic<double>& target, double by) noexcept {
  double seen = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(seen, seen + by, std::memory_order_relaxed)) {
  }
}

bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// HELP text escapes \ and newline; label values also ".
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    std::array<char, 32> buffer{};
    const auto written = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    out.append(buffer.data(), written.ptr);
  }
}

void append_number(std::string& out, std::uint64_t value) { out += std::to_string(value); }

enum class Type { counter, gauge, histogram };
std::string_view type_name(Type type) {
  switch (type) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

using Callback = std::function<double()>;

struct Series {
  std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>, Callback> value;
  Visibility visibility = Visibility::always;
};

struct Family {
  Type type = Type::counter;
  std::string help;
  std::vector<std::string> label_names;
  std::map<std::string, Series> series;  // by rendered labels: `a="x",b="y"`
};

}  // namespace

void Gauge::add(double by) noexcept { add_to(value_, by); }

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::remove_if(bounds_.begin(), bounds_.end(), [](double b) { return !std::isfinite(b); }), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::observe(double value) noexcept {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  add_to(sum_, value);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
  std::vector<std::uint64_t> counts(bounds_.size() + 1);
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] = counts_[i].load(std::memory_order_relaxed);
  return counts;
}

std::vector<double> default_latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

struct MetricsRegistry::State {
  mutable Mutex mutex;
  std::map<std::string, Family, std::less<>> families IAM_GUARDED_BY(mutex);

  // The family `name` (created if new) and the series key for `labels`, after checking
  // both against the format and against the family's earlier registrations.
  Result<std::pair<Family*, std::string>> place(std::string_view name, std::string_view help, Type type,
                                                const MetricLabels& labels) IAM_REQUIRES(mutex) {
    if (!valid_name(name, true)) return Error{ErrorCode::invalid_argument, "invalid metric name"};
    std::vector<std::string> names;
    std::string key;
    for (const auto& [label, value] : labels) {
      if (!valid_name(label, false) || label.starts_with("__") || (type == Type::histogram && label == "le"))
        return Error{ErrorCode::invalid_argument, "invalid or reserved label name for " + std::string(name)};
      if (std::find(names.begin(), names.end(), label) != names.end())
        return Error{ErrorCode::invalid_argument, "label named twice for " + std::string(name)};
      names.push_back(label);
      if (!key.empty()) key += ',';
      key += label;
      key += "=\"";
      append_escaped(key, value, true);
      key += '"';
    }
    auto found = families.find(name);
    if (found == families.end()) {
      found = families.emplace(std::string(name), Family{type, std::string(help), std::move(names), {}}).first;
    } else if (found->second.type != type || found->second.help != help || found->second.label_names != names) {
      return Error{ErrorCode::invalid_argument, "metric " + std::string(name) + " registered with another shape"};
    }
    return std::pair<Family*, std::string>{&found->second, std::move(key)};
  }

  template <class Metric, class... Args>
  Result<Metric*> object(std::string_view name, std::string_view help, Type type, const MetricLabels& labels,
                         Visibility visibility, Args&&... args) {
    MutexLock lock(mutex);
    IAM_ASSIGN_OR_RETURN(auto placed, place(name, help, type, labels));
    auto& series = placed.first->series;
    if (auto existing = series.find(placed.second); existing != series.end()) {
      auto* held = std::get_if<std::unique_ptr<Metric>>(&existing->second.value);
      if (held == nullptr) return Error{ErrorCode::duplicate, "series of " + std::string(name) + " is a callback"};
      return held->get();
    }
    auto metric = std::make_unique<Metric>(std::forward<Args>(args)...);
    Metric* raw = metric.get();
    series.emplace(std::move(placed.second), Series{std::move(metric), visibility});
    return raw;
  }

  Status callback(std::string_view name, std::string_view help, Type type, const MetricLabels& labels, Callback read) {
    if (!read) return Error{ErrorCode::invalid_argument, "callback metric without a function"};
    MutexLock lock(mutex);
    IAM_ASSIGN_OR_RETURN(auto placed, place(name, help, type, labels));
    if (!placed.first->series.emplace(std::move(placed.second), Series{std::move(read), Visibility::always}).second)
      return Error{ErrorCode::duplicate, "series of " + std::string(name) + " registered twice"};
    return {};
  }
};

MetricsRegistry::MetricsRegistry() : state_(std::make_unique<State>()) {}
MetricsRegistry::~MetricsRegistry() = default;

Result<Counter*> MetricsRegistry::counter(std::string_view name, std::string_view help, const MetricLabels& labels,
                                          Visibility visibility) {
  return state_->object<Counter>(name, help, Type::counter, labels, visibility);
}

Result<Gauge*> MetricsRegistry::gauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  return state_->object<Gauge>(name, help, Type::gauge, labels, Visibility::always);
}

Result<Histogram*> MetricsRegistry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                                              const MetricLabels& labels, Visibility visibility) {
  return state_->object<Histogram>(name, help, Type::histogram, labels, visibility, std::move(bounds));
}

Status MetricsRegistry::counter_callback(std::string_view name, std::string_view help, const MetricLabels& labels,
                                         std::function<double()> read) {
  return state_->callback(name, help, Type::counter, labels, std::move(read));
}

Status MetricsRegistry::gauge_callback(std::string_view name, std::string_view help, const MetricLabels& labels,
                                       std::function<double()> read) {
  return state_->callback(name, help, Type::gauge, labels, std::move(read));
}

namespace {

void append_sample(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
                   std::string_view extra_label, auto value) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra_label.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra_label.empty()) out += ',';
    out += extra_label;
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

void append_histogram(std::string& out, std::string_view name, std::string_view labels, const Histogram& histogram,
                      Visibility visibility) {
  const auto counts = histogram.bucket_counts();
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0 && visibility == Visibility::once_nonzero) return;
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    le = "le=\"";
    if (i < histogram.bounds().size()) append_number(le, histogram.bounds()[i]);
    else le += "+Inf";
    le += '"';
    append_sample(out, name, "_bucket", labels, le, cumulative);
  }
  append_sample(out, name, "_sum", labels, {}, histogram.sum());
  append_sample(out, name, "_count", labels, {}, total);
}

}  // namespace

std::string MetricsRegistry::text() const {
  std::string out;
  MutexLock lock(state_->mutex);
  for (const auto& [name, family] : state_->families) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(family.type);
    out += '\n';
    for (const auto& [labels, series] : family.series) {
      if (const auto* counter = std::get_if<std::unique_ptr<Counter>>(&series.value)) {
        const std::uint64_t value = (*counter)->value();
        if (value != 0 || series.visibility == Visibility::always) append_sample(out, name, {}, labels, {}, value);
      } else if (const auto* gauge = std::get_if<std::unique_ptr<Gauge>>(&series.value)) {
        append_sample(out, name, {}, labels, {}, (*gauge)->value());
      } else if (const auto* histogram = std::get_if<std::unique_ptr<Histogram>>(&series.value)) {
        append_histogram(out, name, labels, **histogram, series.visibility);
      } else {
        try {
          const double value = std::get<Callback>(series.value)();
          append_sample(out, name, {}, labels, {}, value);
        } catch (...) {  // a failing source leaves its series out of this scrape
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- the gateway kit's metrics

Status register_enforcer_metrics(MetricsRegistry& registry, std::shared_ptr<const Enforcer> enforcer) {
  if (!enforcer) return Error{ErrorCode::invalid_argument, "register_enforcer_metrics needs an enforcer"};
  const auto add = [&](std::string_view name, std::string_view help, MetricLabels labels,
                       std::function<double(const EnforcerStats&)> read) {
    return registry.counter_callback(name, help, labels, [enforcer, read] { return read(enforcer->stats()); });
  };
  static constexpr std::array<std::string_view, 4> sources{"api-key", "jwt", "anonymous", "malformed"};
  static constexpr std::array<std::string_view, 3> outcomes{"success", "failure", "error"};
  for (std::size_t s = 0; s < sources.size(); ++s)
    for (std::size_t o = 0; o < outcomes.size(); ++o) {
      if (sources[s] == "malformed" && outcomes[o] != "failure") continue;  // refused before any regime
      IAM_RETURN_IF_ERROR(add("iam_authentications_total",
                              "Authentications by credential source and outcome (cached answers included; error: the "
                              "regime could not decide).",
                              {{"source", std::string(sources[s])}, {"outcome", std::string(outcomes[o])}},
                              [s, o](const EnforcerStats& st) { return static_cast<double>(st.authentications[s][o]); }));
    }
  constexpr std::string_view authorisations_help = "Authorisation decisions by outcome (cached answers included).";
  IAM_RETURN_IF_ERROR(add("iam_authorisations_total", authorisations_help, {{"outcome", "allow"}},
                          [](const EnforcerStats& st) { return static_cast<double>(st.authorisations_allowed); }));
  IAM_RETURN_IF_ERROR(add("iam_authorisations_total", authorisations_help, {{"outcome", "deny"}},
                          [](const EnforcerStats& st) { return static_cast<double>(st.authorisations_denied); }));

  struct CacheView {
    std::string_view label;
    CacheStats EnforcerStats::*stats;
  };
  for (const CacheView cache : {CacheView{"identity", &EnforcerStats::identities}, CacheView{"decision", &EnforcerStats::decisions}}) {
    const MetricLabels labels{{"cache", std::string(cache.label)}};
    const auto member = cache.stats;
    const auto field = [&](std::string_view name, std::string_view help, std::uint64_t CacheStats::*value) {
      return add(name, help, labels, [member, value](const EnforcerStats& st) { return static_cast<double>(st.*member.*value); });
    };
    IAM_RETURN_IF_ERROR(field("iam_cache_hits_total", "Cache lookups answered from the cache.", &CacheStats::hits));
    IAM_RETURN_IF_ERROR(field("iam_cache_misses_total", "Cache lookups that asked the regime (expired entries included).",
                              &CacheStats::misses));
    IAM_RETURN_IF_ERROR(field("iam_cache_evictions_total", "Entries dropped to make room (least recently used first).",
                              &CacheStats::evictions));
    IAM_RETURN_IF_ERROR(registry.gauge_callback("iam_cache_entries", "Entries currently cached.", labels,
                                                [enforcer, member] { return static_cast<double>((enforcer->stats().*member).entries); }));
  }
  return {};
}

namespace {
constexpr std::array<int, 16> kStatusCodes{101, 200, 400, 401, 403, 404, 405, 409, 413, 414, 426, 429, 431, 500, 501, 503};
}  // namespace

std::span<const int> RequestMetrics::status_codes() noexcept { return kStatusCodes; }

Result<RequestMetrics> make_request_metrics(MetricsRegistry& registry, std::span<const std::string_view> routes) {
  RequestMetrics metrics;
  for (const std::string_view route : routes) {
    for (std::size_t s = 0; s <= kStatusCodes.size(); ++s) {
      const std::string status = s < kStatusCodes.size() ? std::to_string(kStatusCodes[s]) : "other";
      IAM_ASSIGN_OR_RETURN(auto* counter,
                           registry.counter("iam_http_requests_total", "HTTP requests answered, by route and status.",
                                            {{"route", std::string(route)}, {"status", status}}, Visibility::once_nonzero));
      metrics.requests_.push_back(counter);
    }
    IAM_ASSIGN_OR_RETURN(auto* histogram,
                         registry.histogram("iam_http_request_duration_seconds",
                                            "Time from a request's head to its answer, by route.",
                                            default_latency_buckets(), {{"route", std::string(route)}},
                                            Visibility::once_nonzero));
    metrics.durations_.push_back(histogram);
  }
  return metrics;
}

void RequestMetrics::record(std::size_t route, int status, double seconds) const noexcept {
  if (route >= durations_.size()) return;
  const auto found = std::find(kStatusCodes.begin(), kStatusCodes.end(), status);
  const auto index = static_cast<std::size_t>(found - kStatusCodes.begin());  // size(): "other"
  requests_[route * (kStatusCodes.size() + 1) + index]->inc();
  durations_[route]->observe(seconds);
}

}  // namespace iam
