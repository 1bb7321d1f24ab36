// The example gateway's request handling, independent of the HTTP library: which route a
// method and path name (gateway.md "HTTP surface"), enforcement through iam::Enforcer, and
// the IAM dispatch or backend call that answers it. server.cpp only moves bytes.
//
// THREAD SAFETY: a Handler is immutable after construction and safe to call from many
// threads at once (the Enforcer, JsonDispatcher and Backend it holds are).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "backend.h"
#include "iam/gateway.h"
#include "iam/protocol.h"
#include "iam/regime.h"
#include "iam/roles.h"
#include "iam/throttle.h"
#include "iam/websocket_session.h"

namespace gateway {

// What a method and path ask for, before any body is read.
struct RouteMatch {
  enum class Kind {
    not_found,       // 404 {"error":"not found"}
    bad_method,      // 405
    enforced,        // an iam::Request goes through the Enforcer
    jwks,            // GET /api/v1/auth/jwks
    socket,          // GET /api/v1/socket: WebSocket, first-frame auth
    stream,          // GET /api/v1/flow/{flow}/import|export/{kind}: WebSocket, ?token=, ?workspace=
  };
  Kind kind = Kind::not_found;
  iam::Request request;       // enforced / stream: route, name, flow (body and credential added later)
  bool ignore_body = false;   // bootstrap, bootstrap-status: the body is not read as JSON
  bool iam_route = false;     // /api/v1/iam and /api/v1/auth/*: the smaller body limit applies
  bool to_backend = false;    // a named route served by the Backend, not the IAM dispatcher
  bool bad_query = false;     // a ?workspace= no workspace id can match (400 before anything else)
};

// Pure: method ("GET", "POST", ...) and target (path plus optional query) to a route.
RouteMatch match_route(std::string_view method, std::string_view target);

// The path part of a target, without the query (which may hold a ?token= credential and
// must never reach a log).
std::string_view path_of(std::string_view target);

// The address throttle's key for a peer address: an IPv4 address as it is (also written
// IPv4-mapped), an IPv6 address as its /64 prefix ("2001:db8:1:2::/64"), since one
// subscriber commonly holds a whole /64 and could otherwise take a fresh address per guess.
std::string address_throttle_key(std::string_view address);

struct Response {
  int status = 200;
  std::string body;
  // For the access log (never a secret): who, what, and why a refusal happened.
  std::string principal;
  std::string operation;
  std::string reason;
  std::string workspace{};  // the authorised workspace, when the request has one (audit)
  std::string content_type{"application/json"};
  // Set after the defaults (Cache-Control: no-store), replacing a default of the same name.
  std::vector<std::pair<std::string, std::string>> headers{};
};

// An enforced request that still has IAM work to do, and whether that work hashes a
// password (and so belongs off the I/O threads).
struct Pending {
  iam::Outcome outcome;
  bool to_backend = false;  // a service call for the Backend; otherwise an IAM operation
  bool slow = false;
  std::string client;       // the caller's address_throttle_key()
};

class Handler {
 public:
  // `address_throttle` limits failed password guesses (login, change-password; HTTP and
  // WebSocket alike) per client address, on top of the roles regime's per-account
  // throttle; a refusal is the ordinary auth failure, and no success resets an address.
  // `signing_keys`: the roles regime whose keys GET /api/v1/auth/jwks publishes when
  // `regime` is a chain holding it (default: `regime` itself when it is a roles regime).
  Handler(std::shared_ptr<iam::Regime> regime, std::shared_ptr<const iam::Enforcer> enforcer,
          std::shared_ptr<Backend> backend, iam::ThrottleConfig address_throttle = {},
          std::shared_ptr<iam::RolesRegime> signing_keys = nullptr);

  // Step 1, cheap, on the I/O thread: enforce. Returns either a finished Response or a
  // Pending to finish with complete() (the caller may run that elsewhere).
  std::variant<Response, Pending> begin(const RouteMatch& route, std::string body,
                                        std::optional<std::string> credential, std::string_view client = {}) const;
  // Step 2: the IAM dispatch or backend call for an enforced request.
  Response complete(const Pending& pending) const;

  // GET /api/v1/auth/jwks: every key still in grace ({"keys":[]} for a regime without keys).
  Response jwks() const;

  // WebSocket frames forwarded by iam::WebSocketSession: the answer frame. `client` is the
  // socket's peer address: its password guesses share the HTTP routes' address throttle.
  std::string socket_answer(const iam::WebSocketSession::Forward& forward, std::string_view client) const;
  static bool is_slow_operation(std::string_view operation);

  const iam::Enforcer& enforcer() const { return *enforcer_; }
  const std::shared_ptr<const iam::Enforcer>& shared_enforcer() const { return enforcer_; }
  Backend& backend() const { return *backend_; }
  // Password attempts the client-address throttle refused (for metrics).
  std::uint64_t address_throttle_refusals() const noexcept { return address_throttle_.refusals(); }

 private:
  Response dispatch_iam(const iam::Outcome& outcome) const;

  std::shared_ptr<iam::RolesRegime> signing_keys_;  // null: no keys to publish
  std::shared_ptr<const iam::Enforcer> enforcer_;
  std::shared_ptr<Backend> backend_;
  iam::JsonDispatcher dispatcher_;
  mutable iam::Throttle address_throttle_;
};

}  // namespace gateway
