// The gateway kit for Python (include/iam/gateway.h, operation_registry.h,
// websocket_session.h, throttle.h): what an HTTP server written in Python needs to enforce
// exactly as iam-gateway does. Python moves bytes; every decision is made here, in C++.
//
// Credentials cross into C++ as soon as they are seen (an Authorization header value or a
// query string) and are never handed back to Python. Every call that may take time (a
// store read, a signature check, PBKDF2) releases the GIL.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bindings.h"
#include "iam/audit.h"
#include "iam/gateway.h"
#include "iam/operation_registry.h"
#include "iam/protocol.h"
#include "iam/roles.h"
#include "iam/throttle.h"
#include "iam/websocket_session.h"

namespace iam::python {
namespace {

using namespace pybind11::literals;

// Text the kit produced (JSON it dumped) as a Python str; a byte that is not UTF-8 (a
// client's own bytes echoed back) becomes U+FFFD instead of raising.
py::str text_of(std::string_view text) {
  PyObject* decoded = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

py::bytes bytes_of(std::string_view text) { return py::bytes(text.data(), text.size()); }

// A str or bytes argument as bytes (str as UTF-8).
std::string bytes_arg(const py::object& value) {
  if (py::isinstance<py::bytes>(value)) return value.cast<std::string>();
  if (py::isinstance<py::bytearray>(value)) return std::string(py::bytearray(value));
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  throw py::type_error("expected str or bytes");
}

// The library's warnings and errors on stderr ("iam warning: …"); info lines are dropped,
// since the gateway's refusal reasons already reach its access log.
iam::Logger warnings_only() {
  return [log = iam::stderr_logger()](iam::LogLevel level, std::string_view message) {
    if (level == iam::LogLevel::warning || level == iam::LogLevel::error) log(level, message);
  };
}

// The identity's fields as a dict (the handle is the caller's id, for `actor` and logs).
py::object identity_dict(const std::optional<iam::Identity>& identity) {
  if (!identity) return py::none();
  return py::dict("handle"_a = identity->handle, "workspace"_a = identity->workspace,
                  "principal_id"_a = identity->principal_id,
                  "source"_a = std::string(iam::credential_source_name(identity->source)));
}

// An IAM request's masked answer over HTTP.
struct Dispatched {
  int status;
  std::string body;
  std::string reason;  // the error's type, for the access log (never its values)
};

// Runs one IAM request through JsonDispatcher and masks its answer as iam-gateway does.
class IamService {
 public:
  explicit IamService(std::shared_ptr<iam::Regime> regime) : dispatcher_(std::move(regime)) {}

  std::string handle(std::string_view request) const { return dispatcher_.handle(request); }

  Dispatched answer(std::string_view operation, std::string_view request) const {
    const std::string json = dispatcher_.handle(request);
    iam::HttpAnswer answer = iam::answer_for_dispatcher_json(operation, json);
    std::string reason;
    if (answer.status != 200) reason = error_type_of(json);
    return Dispatched{answer.status, std::move(answer.body), std::move(reason)};
  }

  // The answer frame, and the status the same answer has over HTTP (401: a failed password
  // attempt, for the address throttle).
  std::pair<std::string, int> socket_answer(const std::string& id_json, std::string_view operation,
                                            std::string_view request) const {
    const std::string json = dispatcher_.handle(request);
    return {iam::WebSocketSession::iam_response_frame(id_json, operation, json),
            iam::answer_for_dispatcher_json(operation, json).status};
  }

 private:
  // The "type" of {"error":{"type":"…",…}}, found without a JSON library: the dispatcher
  // writes it first, and a type is a short lower-case word.
  static std::string error_type_of(std::string_view json) {
    constexpr std::string_view prefix = R"({"error":{"type":")";
    if (!json.starts_with(prefix)) return "error";
    const auto end = json.find('"', prefix.size());
    if (end == std::string_view::npos || end - prefix.size() > 64) return "error";
    return std::string(json.substr(prefix.size(), end - prefix.size()));
  }

  iam::JsonDispatcher dispatcher_;
};

void bind_enums(py::module_& m) {
  py::enum_<iam::Route>(m, "Route", "How a request arrived, which decides its registry key (iam/gateway.h).")
      .value("IAM", iam::Route::iam, "POST /api/v1/iam: key = body.operation")
      .value("NAMED", iam::Route::named, "a fixed operation (/api/v1/auth/login): key = name")
      .value("SERVICE", iam::Route::service, "POST /api/v1/{kind}: key = kind:body.operation")
      .value("FLOW_SERVICE", iam::Route::flow_service, "/api/v1/flow/{flow}/service/{kind}")
      .value("FLOW_IMPORT", iam::Route::flow_import, "/api/v1/flow/{flow}/import/{kind}")
      .value("FLOW_EXPORT", iam::Route::flow_export, "/api/v1/flow/{flow}/export/{kind}");
  py::enum_<iam::Refusal>(m, "Refusal", "Why a request was refused (Refusal.NONE: forwarded).")
      .value("NONE", iam::Refusal::none)
      .value("BAD_REQUEST", iam::Refusal::bad_request)
      .value("UNKNOWN_OPERATION", iam::Refusal::unknown_operation)
      .value("UNKNOWN_KIND", iam::Refusal::unknown_kind)
      .value("AUTH_FAILURE", iam::Refusal::auth_failure)
      .value("ACCESS_DENIED", iam::Refusal::access_denied)
      .value("WORKSPACE_NOT_FOUND", iam::Refusal::workspace_not_found)
      .value("INTERNAL_ERROR", iam::Refusal::internal_error);
}

void bind_request_and_outcome(py::module_& m) {
  py::class_<iam::Request>(m, "GatewayRequest",
                           "One request for Enforcer.enforce: the route, the URL's parts, the body, and the "
                           "credential. The credential is set from an Authorization header value or a query "
                           "string and is never readable from Python.")
      .def(py::init([](iam::Route route, std::string name, std::string flow, std::string workspace,
                       const py::object& body) {
             iam::Request request;
             request.route = route;
             request.name = std::move(name);
             request.flow = std::move(flow);
             request.workspace = std::move(workspace);
             if (!body.is_none()) request.body = bytes_arg(body);
             return request;
           }),
           py::arg("route"), py::kw_only(), py::arg("name") = "", py::arg("flow") = "", py::arg("workspace") = "",
           py::arg("body") = py::none())
      .def_readwrite("route", &iam::Request::route)
      .def_readwrite("name", &iam::Request::name)
      .def_readwrite("flow", &iam::Request::flow)
      .def_readwrite("workspace", &iam::Request::workspace, "the address's workspace (?workspace=), if any")
      .def_property(
          "body", [](const iam::Request& r) { return bytes_of(r.body); },
          [](iam::Request& r, const py::object& body) { r.body = body.is_none() ? std::string() : bytes_arg(body); },
          "the JSON object text (bytes); empty counts as {}")
      .def_property_readonly("has_credential", [](const iam::Request& r) { return r.credential.has_value(); })
      .def(
          "set_authorization",
          [](iam::Request& r, std::optional<std::string_view> header) {
            r.credential = iam::credential_from_authorization(header);
          },
          py::arg("header"),
          "The credential of an Authorization header value (Bearer, any case); None or another scheme: none.")
      .def(
          "set_query_token",
          [](iam::Request& r, std::string_view query) { r.credential = iam::credential_from_query(query); },
          py::arg("query"), "The credential of a query string's token= parameter (streaming endpoints only).")
      .def(
          "clear_credential", [](iam::Request& r) { r.credential.reset(); }, "No credential (anonymous).");

  py::class_<iam::Outcome>(m, "Outcome",
                           "Enforcer.enforce's answer: forward the rewritten body as the identity, or send "
                           "status and body (the exact masked answer).")
      .def_property_readonly("forward", &iam::Outcome::forward)
      .def_readonly("refusal", &iam::Outcome::refusal)
      .def_readonly("status", &iam::Outcome::status)
      .def_property_readonly(
          "body", [](const iam::Outcome& o) { return bytes_of(o.body); },
          "forwarded: the rewritten request (workspace, actor); refused: the response body")
      .def_readonly("operation", &iam::Outcome::operation)
      .def_readonly("workspace", &iam::Outcome::workspace)
      .def_readonly("flow", &iam::Outcome::flow)
      .def_readonly("reason", &iam::Outcome::reason, "a refusal's precise reason, for the server log only")
      .def_property_readonly(
          "handle", [](const iam::Outcome& o) { return o.identity ? o.identity->handle : std::string(); },
          "the caller's handle (user id); empty for a PUBLIC operation")
      .def_property_readonly(
          "identity", [](const iam::Outcome& o) { return identity_dict(o.identity); },
          "{handle, workspace, principal_id, source} or None");
}

// Enforcer statistics as plain dicts (for metrics endpoints and tests).
py::dict stats_dict(const iam::EnforcerStats& stats) {
  auto cache = [](const iam::CacheStats& c) {
    return py::dict("hits"_a = c.hits, "misses"_a = c.misses, "evictions"_a = c.evictions, "entries"_a = c.entries);
  };
  py::list authentications;
  for (const auto& by_outcome : stats.authentications)
    authentications.append(py::make_tuple(by_outcome[0], by_outcome[1], by_outcome[2]));
  return py::dict("authentications"_a = authentications, "authorisations_allowed"_a = stats.authorisations_allowed,
                  "authorisations_denied"_a = stats.authorisations_denied, "identities"_a = cache(stats.identities),
                  "decisions"_a = cache(stats.decisions));
}

void bind_enforcer(py::module_& m) {
  py::class_<iam::Enforcer, std::shared_ptr<iam::Enforcer>>(
      m, "Enforcer",
      "The gateway's enforcement path (docs/gateway.md), with bounded caches of identities and decisions "
      "that the regime's changes invalidate. Safe to share between threads and asyncio tasks.")
      .def(py::init([](std::shared_ptr<iam::Regime> regime, int authentication_ttl, int decision_ttl,
                       std::size_t authentication_cache_entries, std::size_t decision_cache_entries,
                       std::size_t workspace_cache_entries, std::size_t cache_shards, bool every_workspace_exists,
                       std::size_t max_body_bytes, std::size_t max_json_depth, bool log_warnings) {
             if (authentication_ttl < 0 || decision_ttl < 0) raise({iam::ErrorCode::invalid_argument, "a TTL must not be negative"});
             iam::GatewayConfig config;
             config.regime = std::move(regime);
             config.authentication_ttl = std::chrono::seconds(authentication_ttl);
             config.decision_ttl = std::chrono::seconds(decision_ttl);
             config.authentication_cache_entries = authentication_cache_entries;
             config.decision_cache_entries = decision_cache_entries;
             config.workspace_cache_entries = workspace_cache_entries;
             config.cache_shards = cache_shards;
             // A regime that keeps no workspace registry (OIDC) names each caller's workspace
             // itself: every workspace exists.
             if (every_workspace_exists)
               config.workspace_exists = [](std::string_view) -> iam::Result<bool> { return true; };
             config.max_body_bytes = max_body_bytes;
             config.max_json_depth = max_json_depth;
             config.logger = log_warnings ? warnings_only() : iam::null_logger();
             auto enforcer = iam::make_enforcer(std::move(config));
             return unwrap(std::move(enforcer));
           }),
           py::arg("regime"), py::kw_only(), py::arg("authentication_ttl") = 60, py::arg("decision_ttl") = 60,
           py::arg("authentication_cache_entries") = 10'000, py::arg("decision_cache_entries") = 100'000,
           py::arg("workspace_cache_entries") = 1'000, py::arg("cache_shards") = 16,
           py::arg("every_workspace_exists") = false, py::arg("max_body_bytes") = std::size_t{16} << 20,
           py::arg("max_json_depth") = 64, py::arg("log_warnings") = true,
           "Builds the enforcer (InvalidArgument for a bad configuration). TTLs are in seconds (0: no cache).")
      .def(
          "enforce",
          [](const iam::Enforcer& enforcer, const iam::Request& request, std::string request_id, std::string client) {
            const iam::ScopedAuditContext context({std::move(request_id), std::move(client)});
            return enforcer.enforce(request);
          },
          py::arg("request"), py::kw_only(), py::arg("request_id") = "", py::arg("client") = "",
          py::call_guard<py::gil_scoped_release>(),
          "Route, body, operation, authentication, authorisation, workspace, rewrite: an Outcome. "
          "request_id and client go to the audit events the regime writes meanwhile.")
      .def(
          "authenticate",
          [](const iam::Enforcer& e, std::optional<std::string_view> credential) {
            return unwrap(e.authenticate(credential));
          },
          py::arg("credential"), py::call_guard<py::gil_scoped_release>(),
          "The Identity of a credential through the authentication cache (None: anonymous, never cached). "
          "Raises AuthenticationFailed (one message, whatever the reason) or InternalError.")
      .def_property_readonly("cached_identities", &iam::Enforcer::cached_identities)
      .def_property_readonly("cached_decisions", &iam::Enforcer::cached_decisions)
      .def("stats", [](const iam::Enforcer& e) { return stats_dict(e.stats()); })
      .def("clear_caches", &iam::Enforcer::clear_caches)
      .def_property_readonly("max_body_bytes", &iam::Enforcer::max_body_bytes)
      .def_property_readonly("max_json_depth", &iam::Enforcer::max_json_depth)
      .def(
          "operation_exists",
          [](const iam::Enforcer& e, std::string_view name) { return e.registry().find(name) != nullptr; },
          py::arg("name"), "Is `name` a registry key (e.g. 'config:get', 'login')?")
      .def(
          "has_kind", [](const iam::Enforcer& e, std::string_view kind) { return e.registry().has_kind(kind); },
          py::arg("kind"), "Does some registered operation start with '<kind>:'?");
}

void bind_socket_session(py::module_& m) {
  using Session = iam::WebSocketSession;
  py::class_<Session::Forward>(m, "SocketForward", "A request frame that passed authorisation, for a backend.")
      .def_readonly("id_json", &Session::Forward::id_json, "the frame's id as JSON text, to quote back")
      .def_readonly("service", &Session::Forward::service)
      .def_readonly("flow", &Session::Forward::flow)
      .def_readonly("workspace", &Session::Forward::workspace)
      .def_readonly("operation", &Session::Forward::operation)
      .def_property_readonly(
          "request", [](const Session::Forward& f) { return text_of(f.request); },
          "the inner request's JSON text, rewritten (workspace, actor)")
      .def_property_readonly("handle", [](const Session::Forward& f) { return f.identity.handle; })
      .def_property_readonly("identity", [](const Session::Forward& f) { return identity_dict(f.identity); });

  py::class_<Session>(m, "WebSocketSession",
                      "TrustGraph's first-frame authentication for one socket (iam/websocket_session.h). "
                      "Feed it each text frame; send the frames it returns in order; hand `forward` to a "
                      "backend. One socket's session is used by one task at a time.")
      .def(py::init([](std::shared_ptr<iam::Enforcer> enforcer) {
             return std::make_unique<Session>(std::shared_ptr<const iam::Enforcer>(std::move(enforcer)));
           }),
           py::arg("enforcer"))
      .def(
          "on_frame",
          [](Session& session, const py::object& frame) {
            std::string text = bytes_arg(frame);
            Session::Reply reply;
            {
              py::gil_scoped_release release;
              reply = session.on_frame(text);
            }
            py::list frames;
            for (const auto& f : reply.frames) frames.append(text_of(f));
            py::object forward = reply.forward ? py::cast(std::move(*reply.forward)) : py::none();
            return py::make_tuple(frames, forward);
          },
          py::arg("frame"), "One text frame in: (frames to send now, SocketForward or None).")
      .def_property_readonly("authenticated", &Session::authenticated)
      .def_static(
          "response_frame",
          [](std::string_view id_json, std::string_view response, bool complete) {
            return text_of(Session::response_frame(id_json, response, complete));
          },
          py::arg("id_json"), py::arg("response_json"), py::arg("complete") = true,
          "{id, response, complete}; a response that is not a JSON object is sent as an internal error.")
      .def_static(
          "internal_error_frame",
          [](std::string_view id_json) {
            return text_of(Session::error_frame(id_json, iam::Error{iam::ErrorCode::internal_error, "backend"}));
          },
          py::arg("id_json"), "{id, error: internal error, complete: true}, for a backend that failed.")
      .def_static(
          "auth_failure_frame",
          [](std::string_view id_json) { return text_of(Session::error_frame(id_json, iam::auth_failure())); },
          py::arg("id_json"), "{id, error: auth failure, complete: true} (a throttled password attempt).");
}

void bind_iam_service(py::module_& m) {
  py::class_<IamService>(m, "IamService",
                         "IAM operations (protocol.md) answered as the gateway answers them: the "
                         "dispatcher's JSON masked into the status and body a caller may see. "
                         "Safe to share between threads; every call releases the GIL.")
      .def(py::init<std::shared_ptr<iam::Regime>>(), py::arg("regime"))
      .def(
          "answer",
          [](const IamService& service, std::string_view operation, const py::object& request, std::string request_id,
             std::string client) {
            std::string text = bytes_arg(request);
            Dispatched answer;
            {
              py::gil_scoped_release release;
              const iam::ScopedAuditContext context({std::move(request_id), std::move(client)});
              answer = service.answer(operation, text);
            }
            return py::make_tuple(answer.status, bytes_of(answer.body), answer.reason);
          },
          py::arg("operation"), py::arg("request"), py::kw_only(), py::arg("request_id") = "", py::arg("client") = "",
          "(status, body bytes, error type or '') for an enforced IAM request's rewritten body.")
      .def(
          "socket_answer",
          [](const IamService& service, std::string id_json, std::string_view operation, const py::object& request,
             std::string request_id, std::string client) {
            std::string text = bytes_arg(request);
            std::pair<std::string, int> answer;
            {
              py::gil_scoped_release release;
              const iam::ScopedAuditContext context({std::move(request_id), std::move(client)});
              answer = service.socket_answer(id_json, operation, text);
            }
            return py::make_tuple(text_of(answer.first), answer.second);
          },
          py::arg("id_json"), py::arg("operation"), py::arg("request"), py::kw_only(), py::arg("request_id") = "",
          py::arg("client") = "",
          "(answer frame, the status the same answer has over HTTP) for service 'iam' on a socket (errors "
          "masked as over HTTP).")
      .def(
          "handle",
          [](const IamService& service, const py::object& request) {
            std::string text = bytes_arg(request);
            std::string answer;
            {
              py::gil_scoped_release release;
              answer = service.handle(text);
            }
            return text_of(answer);
          },
          py::arg("request"), "The dispatcher's own JSON answer (unmasked), for trusted callers.");
}

void bind_throttle(py::module_& m) {
  py::class_<iam::Throttle>(m, "Throttle",
                            "Slows down password guessing per key (a client address at a gateway): "
                            "doubling delays after free_failures consecutive failures, capped. "
                            "Thread-safe; keeps keyed digests, never the keys.")
      .def(py::init([](unsigned free_failures, int first_delay, int max_delay, bool enabled) {
             iam::ThrottleConfig config;
             config.enabled = enabled;
             config.free_failures = free_failures;
             config.first_delay = std::chrono::seconds(first_delay);
             config.max_delay = std::chrono::seconds(max_delay);
             return std::make_unique<iam::Throttle>(config);
           }),
           py::kw_only(), py::arg("free_failures") = 5, py::arg("first_delay") = 1, py::arg("max_delay") = 300,
           py::arg("enabled") = true)
      .def("allowed", &iam::Throttle::allowed, py::arg("key"), py::call_guard<py::gil_scoped_release>())
      .def("failed", &iam::Throttle::failed, py::arg("key"), py::call_guard<py::gil_scoped_release>())
      .def("succeeded", &iam::Throttle::succeeded, py::arg("key"), py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("refusals", &iam::Throttle::refusals)
      .def_property_readonly("tracked", &iam::Throttle::tracked);
}

void bind_free_functions(py::module_& m) {
  m.def(
      "record_gateway_request",
      [](const std::shared_ptr<iam::AuditSink>& sink, std::vector<std::pair<std::string, std::string>> fields) {
        iam::AuditEvent event{"gateway.request", std::chrono::system_clock::now(), std::move(fields)};
        try {
          sink->record(event);
        } catch (...) {
          // an audit sink never changes a response
        }
      },
      py::arg("sink"), py::arg("fields"), py::call_guard<py::gil_scoped_release>(),
      "Records TrustGraph's gateway.request audit event with these (name, value) fields, in order "
      "(method, path, operation, status, principal, workspace, latency_ms, request_id, client_ip: "
      "never a credential). A failing sink is ignored.");
  m.def(
      "answer_for_dispatcher_json",
      [](std::string_view operation, std::string_view json) {
        const iam::HttpAnswer answer = iam::answer_for_dispatcher_json(operation, json);
        return py::make_tuple(answer.status, bytes_of(answer.body));
      },
      py::arg("operation"), py::arg("response_json"),
      "(status, masked body bytes) for a JsonDispatcher answer (gateway.md \"What callers see\").");
  m.def(
      "parse_key_rotation_interval",
      [](std::string_view text) -> std::optional<std::int64_t> {
        const auto interval = iam::parse_key_rotation_interval(text);
        if (!interval) return std::nullopt;
        return interval->count();
      },
      py::arg("text"),
      "Seconds of a key rotation interval (\"30d\", \"12h\", \"90m\", \"45s\": a positive whole number and one "
      "unit, at most ten years), or None, as iam-gateway --key-rotation-interval reads it.");
  m.def(
      "default_operations_json",
      [] {
        return text_of(unwrap(iam::OperationRegistry::default_operations_json()));
      },
      "The library's default operation registry as a JSON document.");

  py::dict masked;
  masked["auth_failure"] = bytes_of(iam::masked::auth_failure);
  masked["access_denied"] = bytes_of(iam::masked::access_denied);
  masked["internal_error"] = bytes_of(iam::masked::internal_error);
  masked["unknown_operation"] = bytes_of(iam::masked::unknown_operation);
  masked["unknown_kind"] = bytes_of(iam::masked::unknown_kind);
  masked["workspace_not_found"] = bytes_of(iam::masked::workspace_not_found);
  masked["invalid_json"] = bytes_of(iam::masked::invalid_json);
  masked["not_an_object"] = bytes_of(iam::masked::not_an_object);
  m.attr("MASKED") = masked;
}

}  // namespace

void bind_gateway_kit(py::module_& m) {
  bind_enums(m);
  bind_request_and_outcome(m);
  bind_enforcer(m);
  bind_socket_session(m);
  bind_iam_service(m);
  bind_throttle(m);
  bind_free_functions(m);
}

}  // namespace iam::python
