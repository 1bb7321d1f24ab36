// The example gateway's HTTP/1.1 + WebSocket server on Boost.Beast/Asio. It moves bytes
// and nothing else: every decision is the Handler's (and, behind it, the library's).
//
// Threads: `io_threads` run the sockets; requests that hash a password (login,
// change-password, reset-password, create-user) run on a separate pool of `workers`, so
// a burst of logins does not stall other requests.
//
// THREAD SAFETY: construct, listen() and run() from one thread; stop() from any thread
// (signal handlers included: run() installs SIGINT/SIGTERM handlers that call it).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "handler.h"
#include "iam/status.h"

namespace gateway {

struct ServerOptions {
  std::string bind = "127.0.0.1";
  unsigned short port = 8088;  // 0: any free port (listen() returns it)
  std::size_t io_threads = 2;
  std::size_t workers = 2;
  std::size_t max_iam_body = 1 << 20;       // /api/v1/iam and /api/v1/auth/*: 413 above this
  std::size_t max_service_body = 16 << 20;  // forwarded service routes and WebSocket messages
  std::chrono::seconds idle_timeout{30};    // an idle keep-alive connection is closed after this
  std::chrono::seconds shutdown_grace{5};   // in-flight requests get this long on SIGTERM
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
