// iam-gateway — an example HTTP + WebSocket gateway, wire-compatible with TrustGraph's API,
// enforcing with the iam library. Forwarded service routes go to an ECHO BACKEND (no real
// services here); the IAM and auth routes are real.
//
//   iam-gateway --bootstrap-mode bootstrap                 # ./iam.db, http://127.0.0.1:8888
//   iam-gateway --store memory --regime noauth             # development only
//   iam-gateway --regime roles+oidc --oidc-config oidc.json  # also trust an identity provider (docs/oidc.md)
//
// The private signing keys are sealed with the key file beside the store (./iam.key, or
// --key-file); the first start creates it and prints {"event":"key_file_created","path":…}.
// Prints one JSON line per request on stderr, and on start a line
// {"event":"listening","address":…,"port":…} (with --port 0 the port is chosen freely).
// On SIGUSR1 and at exit a line {"event":"stats"|"stopped","store_reads":…,"store_writes":…,
// "cached_identities":…,"connections":…,"rss_kib":…}.
// With --audit-log PATH, audit events go to PATH as hash-chained JSON lines (SIGHUP
// reopens it for log rotation).
// With --metrics-port, Prometheus metrics at GET /metrics on a listener of their own
// (docs/metrics.md), announced by a line {"event":"metrics_listening","address":…,"port":…}.
// Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 usage or configuration error,
// 3 the store or the port could not be opened.
#include <CLI/CLI.hpp>
#include <algorithm>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "audit_log.h"
#include "backend.h"
#include "deployment.h"
#include "handler.h"
#include "iam/gateway.h"
#include "key_rotation.h"
#include "iam/roles.h"
#include "metrics_listener.h"
#include "server.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 3;

struct Options {
  gateway::ServerOptions server;
  examples::DeploymentOptions deployment;
  int auth_ttl = 60;
  std::size_t auth_cache_entries = 10'000;
  std::size_t decision_cache_entries = 100'000;
  unsigned address_free_failures = 20;  // failed logins per client address before throttling
  int idle_timeout = 30;
  int read_timeout = 30;
  gateway::AuditLogOptions audit;
  int metrics_port = -1;  // -1: no metrics listener; 0: any free port
  std::string metrics_bind = "127.0.0.1";
  std::string key_rotation_interval;  // empty: rotate only on request
};

int fail(int code, const std::string& message) {
  std::cerr << "iam-gateway: " << message << "\n";
  return code;
}

// stderr carries one JSON line per request; the library's own lines are kept to warnings
// and errors (refusal reasons are already in the request's line).
iam::Logger warnings_only() {
  return [log = iam::stderr_logger()](iam::LogLevel level, std::string_view message) {
    if (level == iam::LogLevel::warning || level == iam::LogLevel::error) log(level, message);
  };
}

// VmRSS from /proc/self/status; 0 where there is no procfs.
std::uint64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmRSS:")) return std::strtoull(line.c_str() + 6, nullptr, 10);
  return 0;
}

int exit_code_for(const iam::Error& error) {
  return error.code == iam::ErrorCode::internal_error ? kExitUnavailable : kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"iam-gateway: a TrustGraph-compatible HTTP + WebSocket gateway on the iam library"};
  app.add_option("--port", o.server.port, "TCP port (0: any free port)")->capture_default_str();
  app.add_option("--bind", o.server.bind, "address to listen on")->capture_default_str();
  examples::add_deployment_options(app, o.deployment);
  app.add_option("--auth-ttl", o.auth_ttl, "seconds an authentication or decision is cached (0: no cache)")
      ->capture_default_str();
  app.add_option("--auth-cache-entries", o.auth_cache_entries, "bound of the authentication cache")->capture_default_str();
  app.add_option("--decision-cache-entries", o.decision_cache_entries, "bound of the decision cache")
      ->capture_default_str();
  app.add_option("--address-free-failures", o.address_free_failures,
                 "failed logins from one client address before it is throttled (0: off)")
      ->capture_default_str();
  bool no_console = false;
  app.add_flag("--no-console", no_console, "do not serve the admin console at /console/");
  app.add_option("--threads", o.server.io_threads, "I/O threads")->capture_default_str();
  app.add_option("--workers", o.server.workers, "threads for password hashing")->capture_default_str();
  app.add_option("--max-body", o.server.max_iam_body, "largest IAM/auth request body in bytes (413 above)")
      ->capture_default_str();
  app.add_option("--max-service-body", o.server.max_service_body, "largest forwarded request body in bytes")
      ->capture_default_str();
  app.add_option("--max-socket-message", o.server.max_socket_message,
                 "largest WebSocket message in bytes (the connection closes with 1009 above)")
      ->capture_default_str();
  app.add_option("--max-header-bytes", o.server.max_header_bytes, "largest request head in bytes (431 above)")
      ->capture_default_str();
  app.add_option("--max-headers", o.server.max_headers, "most header fields in a request (431 above)")
      ->capture_default_str();
  app.add_option("--max-request-line", o.server.max_request_line, "longest request line in bytes (414 above)")
      ->capture_default_str();
  app.add_option("--max-connections", o.server.max_connections, "open connections before new ones get 503")
      ->capture_default_str();
  app.add_option("--idle-timeout", o.idle_timeout, "seconds a connection may wait for a request")->capture_default_str();
  app.add_option("--read-timeout", o.read_timeout, "seconds a request may take to arrive once begun")
      ->capture_default_str();
  gateway::add_audit_log_options(app, o.audit);
  app.add_option("--metrics-port", o.metrics_port,
                 "serve Prometheus metrics at GET /metrics on this separate port (0: any free port; default: off)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-bind", o.metrics_bind, "address of the metrics listener")->capture_default_str();
  app.add_option("--key-rotation-interval", o.key_rotation_interval,
                 "rotate the signing key when it has signed this long, e.g. 30d, 12h, 90m (gateways sharing a "
                 "store rotate once between them)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  o.server.console = !no_console;
  if (o.auth_ttl < 0) return fail(kExitUsage, "--auth-ttl must not be negative");
  if (o.idle_timeout <= 0 || o.read_timeout <= 0) return fail(kExitUsage, "timeouts must be positive");
  if (o.server.max_connections == 0 || o.server.max_headers == 0 || o.server.max_header_bytes == 0 ||
      o.server.max_request_line == 0 || o.server.max_socket_message == 0)
    return fail(kExitUsage, "limits must be positive");
  std::optional<std::chrono::seconds> rotation_interval;
  if (!o.key_rotation_interval.empty()) {
    rotation_interval = iam::parse_key_rotation_interval(o.key_rotation_interval);
    if (!rotation_interval)
      return fail(kExitUsage, "--key-rotation-interval must be a positive whole number and a unit s, m, h or d "
                              "(e.g. 30d, 12h, 90m), at most ten years, not '" + o.key_rotation_interval + "'");
  }
  o.server.idle_timeout = std::chrono::seconds(o.idle_timeout);
  o.server.read_timeout = std::chrono::seconds(o.read_timeout);

  auto audit = gateway::open_audit_log(o.audit);  // before the regime, which reports to it
  if (!audit) return fail(exit_code_for(audit.error()), audit.error().message);
  if (*audit) {
    o.deployment.audit = *audit;
    o.server.audit = *audit;
    o.server.on_reopen = [sink = *audit] { sink->reopen(); };
  }

  auto deployment = examples::open_deployment(o.deployment, std::nullopt, warnings_only());
  if (!deployment) return fail(exit_code_for(deployment.error()), deployment.error().message);
  if (!deployment->created_key_file.empty())  // said once: later starts reuse the file
    std::cerr << nlohmann::json{{"event", "key_file_created"},
                                {"path", deployment->created_key_file},
                                {"note", "the signing keys are sealed with this key: back it up apart from the "
                                         "database; without it they cannot be read"}}
                     .dump()
              << std::endl;
  const std::shared_ptr<iam::Regime> regime = deployment->regime;
  if (rotation_interval && !deployment->roles)
    return fail(kExitUsage, "--key-rotation-interval needs the roles regime (it holds the signing keys)");

  iam::GatewayConfig config;
  config.regime = regime;
  config.authentication_ttl = std::chrono::seconds(o.auth_ttl);
  config.decision_ttl = std::chrono::seconds(o.auth_ttl);
  config.authentication_cache_entries = o.auth_cache_entries;
  config.decision_cache_entries = o.decision_cache_entries;
  config.logger = warnings_only();
  // The OIDC regime keeps no workspace registry: the provider names each caller's workspace
  // and authorise confines the caller to it, so every workspace exists. (roles+oidc: the
  // roles regime's registry, through the chain.)
  if (o.deployment.regime == "oidc") config.workspace_exists = [](std::string_view) -> iam::Result<bool> { return true; };
  // The enforcer parses whatever the server let in: its size bound follows the largest limit.
  config.max_body_bytes = std::max({o.server.max_iam_body, o.server.max_service_body, o.server.max_socket_message});
  auto enforcer = iam::make_enforcer(std::move(config));
  if (!enforcer) return fail(exit_code_for(enforcer.error()), enforcer.error().message);

  iam::ThrottleConfig address_throttle;  // doubling from 1 s, capped at 5 min
  address_throttle.enabled = o.address_free_failures > 0;
  address_throttle.free_failures = o.address_free_failures;
  auto handler = std::make_shared<gateway::Handler>(regime, *enforcer, std::make_shared<gateway::EchoBackend>(),
                                                    address_throttle, deployment->roles);
  const std::shared_ptr<examples::StoreMeter> meter = deployment->store_meter;
  auto counters = [meter, handler](std::string_view event, std::size_t connections) {
    return nlohmann::json{{"event", event},
                          {"store_reads", meter->reads.load()},
                          {"store_writes", meter->writes.load()},
                          {"cached_identities", handler->enforcer().cached_identities()},
                          {"connections", connections},
                          {"rss_kib", resident_kib()}};
  };
  o.server.on_report = [counters](std::size_t connections) { std::cerr << counters("stats", connections).dump() << std::endl; };
  std::unique_ptr<gateway::MetricsListener> metrics_listener;
  if (o.metrics_port >= 0) {
    gateway::MetricSources sources{*enforcer, meter, handler, deployment->roles, {}, {}, {}};
    if (*audit) sources.audit_events_dropped = [sink = *audit] { return sink->dropped(); };
    if (deployment->oidc) {
      sources.jwks_fetches_succeeded = [oidc = deployment->oidc] { return oidc->jwks_fetches().succeeded; };
      sources.jwks_fetches_failed = [oidc = deployment->oidc] { return oidc->jwks_fetches().failed; };
    }
    auto metrics = gateway::make_gateway_metrics(sources);
    if (!metrics) return fail(kExitUsage, metrics.error().message);
    std::shared_ptr<const gateway::GatewayMetrics> shared_metrics = std::move(*metrics);
    o.server.on_response = [shared_metrics](const gateway::RouteMatch& route, int status, double seconds) {
      shared_metrics->record(route, status, seconds);
    };
    metrics_listener = std::make_unique<gateway::MetricsListener>(shared_metrics, o.metrics_bind,
                                                                  static_cast<unsigned short>(o.metrics_port));
  }
  gateway::Server server(handler, o.server);
  auto port = server.listen();
  if (!port) return fail(exit_code_for(port.error()), port.error().message);
  if (metrics_listener) {
    auto metrics_port = metrics_listener->start();
    if (!metrics_port) return fail(exit_code_for(metrics_port.error()), metrics_port.error().message);
    std::cerr << nlohmann::json{{"event", "metrics_listening"}, {"address", o.metrics_bind}, {"port", *metrics_port}}.dump()
              << std::endl;
  }

  const nlohmann::json listening = {{"event", "listening"},
                                    {"address", o.server.bind},
                                    {"port", *port},
                                    {"regime", o.deployment.regime},
                                    {"backend", "echo (example: forwarded routes are echoed, not served)"}};
  std::cerr << listening.dump() << std::endl;
  std::optional<gateway::KeyRotationSchedule> rotation;
  if (rotation_interval) rotation.emplace(deployment->roles, *rotation_interval);
  server.run();
  rotation.reset();
  std::cerr << counters("stopped", 0).dump() << std::endl;
  return 0;
}
