// iam-gateway's metrics (docs/metrics.md): the registry of everything it reports, and the
// separate listener that serves it (--metrics-port, --metrics-bind). GET /metrics there
// answers the Prometheus text format; nothing else is served on it, and the API port
// never serves it (its /api/metrics is TrustGraph's http:metrics route, unchanged).
//
// THREAD SAFETY: GatewayMetrics::record may be called from every I/O thread (relaxed
// atomics, no lock, no allocation); the listener runs on a thread of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "handler.h"
#include "iam/metrics.h"
#include "iam/roles.h"
#include "iam/status.h"
#include "metered_repository.h"

namespace gateway {

// What the metrics read at a scrape. Null members report nothing for their metrics.
struct MetricSources {
  std::shared_ptr<const iam::Enforcer> enforcer;
  std::shared_ptr<examples::StoreMeter> store;
  std::shared_ptr<const Handler> handler;            // its client-address login throttle
  std::shared_ptr<iam::RolesRegime> roles;           // its per-account login throttle
  // Hooks for components that keep their own counters; unset, the metric reads 0.
  // The audit sink's events dropped because its queue was full (--audit-log).
  std::function<std::uint64_t()> audit_events_dropped;
  // The OIDC regime's JWKS fetches from its issuer, by outcome.
  std::function<std::uint64_t()> jwks_fetches_succeeded;
  std::function<std::uint64_t()> jwks_fetches_failed;
};

class GatewayMetrics;
// Registers every metric of docs/metrics.md; an error only for a programming error (a
// name taken twice).
iam::Result<std::unique_ptr<GatewayMetrics>> make_gateway_metrics(const MetricSources& sources);

class GatewayMetrics {
 public:
  // One answered request (ServerOptions::on_response).
  void record(const RouteMatch& route, int status, double seconds) const noexcept;
  std::string text() const { return registry_.text(); }

 private:
  friend iam::Result<std::unique_ptr<GatewayMetrics>> make_gateway_metrics(const MetricSources& sources);
  GatewayMetrics() = default;
  iam::MetricsRegistry registry_;
  std::optional<iam::RequestMetrics> requests_;
};

// The route label of a matched request: its path template ("/api/v1/auth/login",
// "/api/v1/{kind}", ...), an index into route_labels(); "unmatched" for 404/405 routing.
std::span<const std::string_view> route_labels() noexcept;
std::size_t route_label(const RouteMatch& route) noexcept;

// Serves GET /metrics from `metrics` on its own thread until destroyed.
class MetricsListener {
 public:
  MetricsListener(std::shared_ptr<const GatewayMetrics> metrics, std::string bind, unsigned short port);
  ~MetricsListener();
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;

  // Binds, listens and starts serving. Returns the bound port; invalid_argument for a bad
  // address, internal_error when the port cannot be had.
  iam::Result<unsigned short> start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gateway
