#include "metrics_listener.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>

#include "iam/postgres_store.h"
#include "listen.h"

#ifndef IAM_GATEWAY_VERSION
#define IAM_GATEWAY_VERSION "unknown"
#endif

namespace gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Kind = RouteMatch::Kind;

// Fixed: a label value never comes from the caller's path.
constexpr std::array<std::string_view, 17> kRoutes{
    "/api/v1/iam",
    "/api/v1/auth/login",
    "/api/v1/auth/bootstrap",
    "/api/v1/auth/bootstrap-status",
    "/api/v1/auth/change-password",
    "/api/v1/auth/jwks",
    "/api/v1/socket",
    "/api/v1/{kind}",
    "/api/v1/flow/{flow}/service/{kind}",
    "/api/v1/flow/{flow}/import/{kind}",
    "/api/v1/flow/{flow}/export/{kind}",
    "/api/metrics",
    "/api/v1/import-core",
    "/api/v1/export-core",
    "/api/v1/document-stream",
    "/api/v1/i18n/packs/{pack}",
    "unmatched",
};

std::size_t index_of(std::string_view label) {
  for (std::size_t i = 0; i < kRoutes.size(); ++i)
    if (kRoutes[i] == label) return i;
  return kRoutes.size() - 1;
}

// The label of a named route: its own name, or the backend route TrustGraph gates outside
// its registry.
std::size_t named_route(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> names{{
      {"login", "/api/v1/auth/login"},
      {"bootstrap", "/api/v1/auth/bootstrap"},
      {"bootstrap-status", "/api/v1/auth/bootstrap-status"},
      {"change-password", "/api/v1/auth/change-password"},
      {"http:metrics", "/api/metrics"},
      {"http:import-core", "/api/v1/import-core"},
      {"http:export-core", "/api/v1/export-core"},
      {"http:document-stream", "/api/v1/document-stream"},
      {"http:i18n-packs", "/api/v1/i18n/packs/{pack}"},
  }};
  for (const auto& [known, label] : names)
    if (known == name) return index_of(label);
  return kRoutes.size() - 1;
}

std::uint64_t read(const std::function<std::uint64_t()>& hook) { return hook ? hook() : 0; }

}  // namespace

std::span<const std::string_view> route_labels() noexcept { return kRoutes; }

std::size_t route_label(const RouteMatch& route) noexcept {
  switch (route.kind) {
    case Kind::not_found:
    case Kind::bad_method: return index_of("unmatched");
    case Kind::jwks: return index_of("/api/v1/auth/jwks");
    case Kind::socket: return index_of("/api/v1/socket");
    case Kind::stream:
    case Kind::enforced: break;
  }
  switch (route.request.route) {
    case iam::Route::iam: return index_of("/api/v1/iam");
    case iam::Route::named: return named_route(route.request.name);
    case iam::Route::service: return index_of("/api/v1/{kind}");
    case iam::Route::flow_service: return index_of("/api/v1/flow/{flow}/service/{kind}");
    case iam::Route::flow_import: return index_of("/api/v1/flow/{flow}/import/{kind}");
    case iam::Route::flow_export: return index_of("/api/v1/flow/{flow}/export/{kind}");
  }
  return index_of("unmatched");
}

iam::Result<std::unique_ptr<GatewayMetrics>> make_gateway_metrics(const MetricSources& sources) {
  std::unique_ptr<GatewayMetrics> metrics(new GatewayMetrics());
  iam::MetricsRegistry& r = metrics->registry_;
  IAM_ASSIGN_OR_RETURN(auto requests, iam::make_request_metrics(r, kRoutes));
  metrics->requests_.emplace(std::move(requests));
  IAM_ASSIGN_OR_RETURN(auto* build, r.gauge("iam_build_info", "The running iam-gateway's version (always 1).",
                                            {{"version", IAM_GATEWAY_VERSION}}));
  build->set(1);
  if (sources.enforcer) IAM_RETURN_IF_ERROR(iam::register_enforcer_metrics(r, sources.enforcer));

  const auto counter = [&r](std::string_view name, std::string_view help, iam::MetricLabels labels,
                            std::function<std::uint64_t()> value) {
    return r.counter_callback(name, help, labels, [value = std::move(value)] { return static_cast<double>(value()); });
  };
  if (auto store = sources.store) {
    constexpr std::string_view ops = "Repository calls that reached the store, by kind (write: one per change).";
    constexpr std::string_view errors = "Repository calls the store could not answer (internal error), by kind.";
    IAM_RETURN_IF_ERROR(counter("iam_store_operations_total", ops, {{"kind", "read"}}, [store] { return store->reads.load(); }));
    IAM_RETURN_IF_ERROR(counter("iam_store_operations_total", ops, {{"kind", "write"}}, [store] { return store->writes.load(); }));
    IAM_RETURN_IF_ERROR(counter("iam_store_errors_total", errors, {{"kind", "read"}}, [store] { return store->read_errors.load(); }));
    IAM_RETURN_IF_ERROR(counter("iam_store_errors_total", errors, {{"kind", "write"}}, [store] { return store->write_errors.load(); }));
  }
  constexpr std::string_view throttled = "Password attempts refused by a login throttle, by what it keys on.";
  if (auto handler = sources.handler)
    IAM_RETURN_IF_ERROR(counter("iam_login_throttled_total", throttled, {{"scope", "client-address"}},
                                [handler] { return handler->address_throttle_refusals(); }));
  if (auto roles = sources.roles)
    IAM_RETURN_IF_ERROR(counter("iam_login_throttled_total", throttled, {{"scope", "account"}},
                                [roles] { return roles->login_throttle_refusals(); }));
  IAM_RETURN_IF_ERROR(counter("iam_audit_events_dropped_total",
                              "Audit events dropped because the audit sink's queue was full (0 without --audit-log).", {},
                              [hook = sources.audit_events_dropped] { return read(hook); }));
  constexpr std::string_view jwks = "JWKS documents fetched from an OIDC issuer, by outcome (0 for other regimes).";
  IAM_RETURN_IF_ERROR(counter("iam_jwks_fetches_total", jwks, {{"outcome", "success"}},
                              [hook = sources.jwks_fetches_succeeded] { return read(hook); }));
  IAM_RETURN_IF_ERROR(counter("iam_jwks_fetches_total", jwks, {{"outcome", "failure"}},
                              [hook = sources.jwks_fetches_failed] { return read(hook); }));
  IAM_RETURN_IF_ERROR(r.gauge_callback("iam_postgres_connections_in_use",
                                       "PostgreSQL pool connections on loan to a call (0 for other stores).", {},
                                       [] { return static_cast<double>(iam::postgres_pool_stats().in_use); }));
  IAM_RETURN_IF_ERROR(counter("iam_postgres_reconnects_total",
                              "PostgreSQL connections found lost and replaced by new ones (0 for other stores).", {},
                              [] { return iam::postgres_pool_stats().connections_lost; }));
  return metrics;
}

void GatewayMetrics::record(const RouteMatch& route, int status, double seconds) const noexcept {
  requests_->record(route_label(route), status, seconds);
}

// ------------------------------------------------------------------ the listener

struct MetricsListener::Impl {
  std::shared_ptr<const GatewayMetrics> metrics;
  std::string bind;
  unsigned short port;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  // One request per connection (answered with Connection: close): a scraper asks once a
  // few seconds, so there is nothing to keep alive.
  struct Exchange : std::enable_shared_from_this<Exchange> {
    beast::tcp_stream stream;
    beast::flat_buffer buffer{8 * 1024};
    http::request<http::empty_body> request;
    http::response<http::string_body> response;
    std::shared_ptr<const GatewayMetrics> metrics;

    Exchange(tcp::socket socket, std::shared_ptr<const GatewayMetrics> m) : stream(std::move(socket)), metrics(std::move(m)) {}

    void start() {
      stream.expires_after(std::chrono::seconds(10));
      http::async_read(stream, buffer, request, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (!ec) self->answer();
      });
    }

    void answer() {
      response.version(request.version());
      response.keep_alive(false);
      response.set(http::field::server, "iam-gateway");
      const auto target = std::string_view(request.target().data(), request.target().size());
      if (target.substr(0, target.find('?')) != "/metrics") {
        response.result(http::status::not_found);
        response.set(http::field::content_type, "text/plain");
        response.body() = "not found\n";
      } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "GET, HEAD");
        response.set(http::field::content_type, "text/plain");
        response.body() = "method not allowed\n";
      } else {
        response.result(http::status::ok);
        response.set(http::field::content_type, std::string(iam::prometheus_content_type));
        response.body() = metrics->text();
      }
      response.prepare_payload();
      if (request.method() == http::verb::head) response.body().clear();
      http::async_write(stream, response, [self = shared_from_this()](beast::error_code, std::size_t) {
        beast::error_code ignored;
        self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      });
    }
  };

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec) std::make_shared<Exchange>(std::move(socket), metrics)->start();
      accept();
    });
  }
};

MetricsListener::MetricsListener(std::shared_ptr<const GatewayMetrics> metrics, std::string bind, unsigned short port)
    : impl_(std::make_unique<Impl>()) {
  impl_->metrics = std::move(metrics);
  impl_->bind = std::move(bind);
  impl_->port = port;
}

MetricsListener::~MetricsListener() {
  if (impl_->thread.joinable()) {
    net::post(impl_->ioc, [this] {
      beast::error_code ignored;
      impl_->acceptor.close(ignored);
      impl_->ioc.stop();
    });
    impl_->thread.join();
  }
}

iam::Result<unsigned short> MetricsListener::start() {
  IAM_ASSIGN_OR_RETURN(const unsigned short bound,
                       listen_on(impl_->acceptor, impl_->bind, impl_->port, "--metrics-bind", "listen for metrics on"));
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
  return bound;
}

}  // namespace gateway
