// The example gateway's HTTP/1.1 + WebSocket server on Boost.Beast/Asio. It moves bytes
// and nothing else: every decision is the Handler's (and, behind it, the library's).
//
// Threads: `io_threads` run the sockets; requests that hash a password (login,
// change-password, reset-password, create-user) run on a separate pool of `workers`, so
// a burst of logins does not stall other requests.
//
// THREAD SAFETY: construct, listen() and run() from one thread; stop() from any thread
// (signal handlers included: run() installs SIGINT/SIGTERM handlers that call it, and a
// SIGUSR1 handler that calls options.on_report, and a SIGHUP one that calls options.on_reopen).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "handler.h"
#include "iam/audit.h"
#include "iam/status.h"

namespace gateway {

struct ServerOptions {
  std::string bind = "127.0.0.1";
  unsigned short port = 8888;  // TrustGraph's default; 0: any free port (listen() returns it)
  std::size_t io_threads = 2;
  std::size_t workers = 2;
  std::size_t max_iam_body = 1 << 20;       // /api/v1/iam and /api/v1/auth/*: 413 above this
  std::size_t max_service_body = 16 << 20;  // forwarded service routes and WebSocket messages
  std::size_t max_socket_message = 16 << 20;  // largest WebSocket message (close 1009 above)
  // Request heads: 431 when the head (request line + headers) exceeds max_header_bytes or
  // holds more than max_headers fields; 414 when the request line exceeds max_request_line.
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_headers = 100;
  std::size_t max_request_line = 8 * 1024;
  // Connections beyond this are answered 503 and closed (WebSockets count too).
  std::size_t max_connections = 10'000;
  // Serve the admin console's files at /console/ (console.h); false: those paths are 404.
  bool console = true;
  std::chrono::seconds idle_timeout{30};    // a connection waiting for a request closes after this
  std::chrono::seconds read_timeout{30};    // a request, once begun, must arrive in full within this
  std::chrono::seconds shutdown_grace{5};   // in-flight requests get this long on SIGTERM
  // Called on SIGUSR1 (on an I/O thread), e.g. to log counters; `connections` is the
  // number open.
  std::function<void(std::size_t connections)> on_report;
  // Called on SIGHUP (on an I/O thread): reopen log files after rotation.
  std::function<void()> on_reopen;
  // Receives a gateway.request event per request (and per WebSocket frame); none when null.
  // Every request also sets its thread's iam::ScopedAuditContext (request id, client
  // address) around the calls into the library.
  std::shared_ptr<iam::AuditSink> audit;
  // Called once per HTTP answer (on an I/O thread, so it must be cheap and not throw) with
  // the request's route (not_found when refused before routing), its status (101 for a
  // WebSocket upgrade) and the seconds since its head began arriving. For metrics.
  std::function<void(const RouteMatch& route, int status, double seconds)> on_response;
};

class Server {
 public:
  Server(std::shared_ptr<const Handler> handler, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Returns the bound port, or invalid_argument / internal_error with
  // a message fit for the operator (bad address, port in use).
  iam::Result<unsigned short> listen();
  // Serves until stop() or SIGINT/SIGTERM, then finishes in-flight requests (up to
  // shutdown_grace) and returns.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gateway
