#include "handler.h"

#include <arpa/inet.h>
#include <sodium.h>

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/bounded_json.h"  // the library's bounded parser (this example links the static library)
#include "iam/roles.h"

namespace gateway {
namespace {

using nlohmann::json;
using Kind = RouteMatch::Kind;

constexpr std::string_view not_found_body = R"({"error":"not found"})";
constexpr std::string_view bad_method_body = R"({"error":"method not allowed"})";
constexpr std::string_view bad_query_body = R"({"error":"invalid query"})";

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) parts.push_back(path.substr(start, end - start));  // empty segments ("//") dropped
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

RouteMatch plain(Kind kind, bool iam_route = false) {
  RouteMatch match;
  match.kind = kind;
  match.iam_route = iam_route;
  return match;
}

RouteMatch with_method(RouteMatch route, std::string_view method, std::string_view wanted) {
  if (method != wanted) return plain(Kind::bad_method, route.iam_route);
  return route;
}

RouteMatch enforced(iam::Route route, std::string name = {}, std::string flow = {}) {
  RouteMatch match;
  match.kind = Kind::enforced;
  match.request.route = route;
  match.request.name = std::move(name);
  match.request.flow = std::move(flow);
  return match;
}

// A route TrustGraph gates outside its registry, served by the backend. Its body is not
// read as JSON (import-core streams msgpack), so the backend sees only what was authorised.
RouteMatch outside_registry(std::string name, std::string_view method, std::string_view wanted) {
  auto match = enforced(iam::Route::named, std::move(name));
  match.to_backend = true;
  match.ignore_body = true;
  return with_method(std::move(match), method, wanted);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The percent-decoded value of the first `name=` in the target's query; empty when absent.
// Its size is bounded by the request-line limit the server applies before routing.
std::string query_value(std::string_view target, std::string_view name) {
  const auto start = target.find('?');
  if (start == std::string_view::npos) return {};
  std::string_view query = target.substr(start + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    const std::string_view raw = pair.substr(eq + 1);
    std::string value;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%' && i + 2 < raw.size() && hex_digit(raw[i + 1]) >= 0 && hex_digit(raw[i + 2]) >= 0) {
        value.push_back(static_cast<char>(hex_digit(raw[i + 1]) * 16 + hex_digit(raw[i + 2])));
        i += 2;
      } else {
        value.push_back(raw[i] == '+' ? ' ' : raw[i]);
      }
    }
    return value;
  }
  return {};
}

// ?workspace= for the address's workspace. Workspace ids have at most 64 characters
// (protocol.md), so a longer value is refused before it reaches a cache or a log line.
void take_query_workspace(RouteMatch& match, std::string_view target) {
  match.request.workspace = query_value(target, "workspace");  // empty: the caller's own
  if (match.request.workspace.size() > 64) {
    match.request.workspace.clear();
    match.bad_query = true;
  }
}

void wipe(std::string& text) {
  if (!text.empty()) sodium_memzero(text.data(), text.size());
  text.clear();
}

// The operations that test a password: their failures count against the client address.
bool guesses_password(std::string_view operation) { return operation == "login" || operation == "change-password"; }

}  // namespace

std::string address_throttle_key(std::string_view address) {
  std::string text(address.substr(0, address.find('%')));  // an IPv6 zone ("%eth0") names no host
  unsigned char bytes[16];
  if (inet_pton(AF_INET6, text.c_str(), bytes) != 1) return std::string(address);  // IPv4, or as given
  char out[INET6_ADDRSTRLEN];
  static constexpr unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes, v4_mapped, sizeof v4_mapped) == 0) {
    inet_ntop(AF_INET, bytes + 12, out, sizeof out);
    return out;
  }
  std::memset(bytes + 8, 0, 8);  // one subscriber gets a /64 at least: it is one key
  inet_ntop(AF_INET6, bytes, out, sizeof out);
  return std::string(out) + "/64";
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

RouteMatch match_route(std::string_view method, std::string_view target) {
  const auto parts = split_path(path_of(target));
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "metrics")  // /api/metrics[/{path...}]
    return outside_registry("http:metrics", method, "GET");
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") return {};
  const std::string_view head = parts[2];

  if (parts.size() == 3 && head == "import-core") return outside_registry("http:import-core", method, "POST");
  if (parts.size() == 3 && head == "export-core") return outside_registry("http:export-core", method, "GET");
  if (parts.size() == 3 && head == "document-stream") {
    auto match = outside_registry("http:document-stream", method, "GET");
    take_query_workspace(match, target);
    return match;
  }
  if (parts.size() == 5 && head == "i18n" && parts[3] == "packs") return outside_registry("http:i18n-packs", method, "GET");

  if (head == "iam" && parts.size() == 3) {
    auto match = enforced(iam::Route::iam);
    match.iam_route = true;
    return with_method(std::move(match), method, "POST");
  }
  if (head == "auth") {
    if (parts.size() != 4) return {};
    const std::string_view what = parts[3];
    if (what == "jwks") return with_method(plain(Kind::jwks, true), method, "GET");
    if (what != "login" && what != "bootstrap" && what != "bootstrap-status" && what != "change-password") return {};
    auto match = enforced(iam::Route::named, std::string(what));
    match.iam_route = true;
    match.ignore_body = what == "bootstrap" || what == "bootstrap-status";
    return with_method(std::move(match), method, "POST");
  }
  if (head == "socket" && parts.size() == 3) return with_method(plain(Kind::socket), method, "GET");
  // POST /api/v1/flow alone is the `flow` service (list-flows, start-flow, ...); only
  // longer paths are flow-level.
  if (head == "flow" && parts.size() > 3) {
    if (parts.size() < 6) return {};
    const std::string flow(parts[3]);
    if (parts[4] == "service") {
      std::string kind;  // thru/<rest...> keeps its slashes
      for (std::size_t i = 5; i < parts.size(); ++i) kind += (i > 5 ? "/" : "") + std::string(parts[i]);
      return with_method(enforced(iam::Route::flow_service, std::move(kind), flow), method, "POST");
    }
    if ((parts[4] == "import" || parts[4] == "export") && parts.size() == 6) {
      auto match = enforced(parts[4] == "import" ? iam::Route::flow_import : iam::Route::flow_export,
                            std::string(parts[5]), flow);
      match.kind = Kind::stream;
      take_query_workspace(match, target);  // TrustGraph's bulk clients name it in the query
      return with_method(std::move(match), method, "GET");
    }
    return {};
  }
  if (parts.size() == 3) return with_method(enforced(iam::Route::service, std::string(head)), method, "POST");
  return {};
}

Handler::Handler(std::shared_ptr<iam::Regime> regime, std::shared_ptr<const iam::Enforcer> enforcer,
                 std::shared_ptr<Backend> backend, iam::ThrottleConfig address_throttle,
                 std::shared_ptr<iam::RolesRegime> signing_keys)
    : signing_keys_(signing_keys ? std::move(signing_keys) : std::dynamic_pointer_cast<iam::RolesRegime>(regime)),
      enforcer_(std::move(enforcer)),
      backend_(std::move(backend)),
      dispatcher_(std::move(regime)),
      address_throttle_(address_throttle, enforcer_->clock()) {}

bool Handler::is_slow_operation(std::string_view operation) {
  // The operations that run PBKDF2 (600k iterations): keep them off the I/O threads.
  static constexpr std::array slow{std::string_view("login"), std::string_view("change-password"),
                                   std::string_view("reset-password"), std::string_view("create-user")};
  for (auto name : slow)
    if (operation == name) return true;
  return false;
}

std::variant<Response, Pending> Handler::begin(const RouteMatch& route, std::string body,
                                               std::optional<std::string> credential, std::string_view client) const {
  switch (route.kind) {
    case Kind::not_found:
      return Response{404, std::string(not_found_body), {}, {}, "no such route"};
    case Kind::bad_method:
      return Response{405, std::string(bad_method_body), {}, {}, "method not allowed"};
    case Kind::jwks:
      return jwks();
    case Kind::socket:
    case Kind::stream:
    case Kind::enforced:
      break;
  }
  if (route.bad_query) return Response{400, std::string(bad_query_body), {}, {}, "workspace in the query too long"};
  iam::Request request = route.request;
  if (route.ignore_body)
    wipe(body);
  request.body = std::move(body);
  request.credential = std::move(credential);
  iam::Outcome outcome = enforcer_->enforce(request);
  wipe(request.body);
  if (!outcome.forward()) {
    Response refused{outcome.status, std::move(outcome.body), {}, outcome.operation, std::move(outcome.reason),
                     outcome.workspace};
    if (outcome.identity) refused.principal = outcome.identity->handle;
    return refused;
  }
  const bool iam_operation =
      (route.request.route == iam::Route::iam || route.request.route == iam::Route::named) && !route.to_backend;
  std::string client_key = iam_operation ? address_throttle_key(client) : std::string();
  if (iam_operation && guesses_password(outcome.operation) && !address_throttle_.allowed(client_key)) {
    wipe(outcome.body);
    Response refused{401, std::string(iam::masked::auth_failure), {}, outcome.operation, "throttled (client address)"};
    if (outcome.identity) refused.principal = outcome.identity->handle;
    return refused;
  }
  Pending pending{std::move(outcome), !iam_operation, false, std::move(client_key)};
  pending.slow = iam_operation && is_slow_operation(pending.outcome.operation);
  return pending;
}

Response Handler::complete(const Pending& pending) const {
  const iam::Outcome& outcome = pending.outcome;
  if (!pending.to_backend) {
    Response response = dispatch_iam(outcome);
    // A success never resets the address: an attacker's logins to their own account
    // must not refund guesses at others'.
    if (guesses_password(outcome.operation) && response.status == 401) address_throttle_.failed(pending.client);
    return response;
  }
  Forwarded forwarded{outcome.operation, outcome.workspace, outcome.flow, outcome.body,
                      outcome.identity.value_or(iam::Identity{})};
  iam::HttpAnswer answer;
  try {
    answer = backend_->call(forwarded);
  } catch (...) {
    answer = iam::HttpAnswer{500, std::string(iam::masked::internal_error)};
  }
  return Response{answer.status, std::move(answer.body), forwarded.identity.handle, outcome.operation, {},
                  outcome.workspace};
}

Response Handler::dispatch_iam(const iam::Outcome& outcome) const {
  std::string request = outcome.body;
  if (outcome.operation == "change-password" && outcome.identity) {
    // The HTTP route's body is {current_password, new_password}; the IAM operation takes
    // `password` and acts on the caller, never on a user named in the body.
    auto parsed = iam::parse_json_bounded(request);
    if (parsed && parsed->is_object()) {
      json& body = *parsed;
      if (body.contains("current_password")) {
        body["password"] = body["current_password"];
        body.erase("current_password");
      }
      body["user_id"] = outcome.identity->handle;
      wipe(request);
      request = body.dump();
      body = json();  // its strings held the passwords; dump() copies were wiped above
    }
  }
  std::string answer_json = dispatcher_.handle(request);
  wipe(request);
  iam::HttpAnswer answer = iam::answer_for_dispatcher_json(outcome.operation, answer_json);
  Response response{answer.status, std::move(answer.body), {}, outcome.operation, {}, outcome.workspace};
  if (outcome.identity) response.principal = outcome.identity->handle;
  if (answer.status != 200) {
    // The caller sees the masked body; the log gets the error's type (never its values).
    const auto parsed = iam::parse_json_bounded(answer_json, iam::answer_json_limits);
    if (parsed && parsed->is_object() && parsed->contains("error") && (*parsed)["error"].is_object())
      response.reason = (*parsed)["error"].value("type", "error");
  }
  wipe(answer_json);
  return response;
}

Response Handler::jwks() const {
  if (signing_keys_) return Response{200, signing_keys_->jwks(), {}, "jwks", {}};
  return Response{200, R"({"keys":[]})", {}, "jwks", {}};
}

std::string Handler::socket_answer(const iam::WebSocketSession::Forward& forward, std::string_view client) const {
  if (forward.service == "iam") {
    // The same per-address budget as the HTTP routes (begin / complete).
    const bool counted = guesses_password(forward.operation);
    const std::string client_key = counted ? address_throttle_key(client) : std::string();
    if (counted && !address_throttle_.allowed(client_key))
      return iam::WebSocketSession::error_frame(forward.id_json, iam::auth_failure());
    std::string answer_json = dispatcher_.handle(forward.request);
    if (counted && iam::answer_for_dispatcher_json(forward.operation, answer_json).status == 401)
      address_throttle_.failed(client_key);
    std::string frame = iam::WebSocketSession::iam_response_frame(forward.id_json, forward.operation, answer_json);
    wipe(answer_json);
    return frame;
  }
  Forwarded forwarded{forward.operation, forward.workspace, forward.flow, forward.request, forward.identity};
  try {
    const iam::HttpAnswer answer = backend_->call(forwarded);
    if (answer.status == 200) return iam::WebSocketSession::response_frame(forward.id_json, answer.body, true);
    return iam::WebSocketSession::error_frame(forward.id_json, iam::Error{iam::ErrorCode::internal_error, "backend"});
  } catch (...) {
    return iam::WebSocketSession::error_frame(forward.id_json, iam::Error{iam::ErrorCode::internal_error, "backend"});
  }
}

}  // namespace gateway
