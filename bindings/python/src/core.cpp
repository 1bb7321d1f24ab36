// The core of the binding: stores, clocks, randomness, audit events, identities and
// decisions, the Regime contract (authenticate / authorise / authorise_many / execute),
// and the noauth, OIDC and chain regimes.
#include <pybind11/functional.h>

#include "bindings.h"
#include "callbacks.h"
#include "iam/audit.h"
#include "iam/chain.h"
#include "iam/key_at_rest.h"
#include "iam/noauth.h"
#include "iam/oidc.h"
#include "iam/protocol.h"
#include "iam/store.h"

namespace iam::python {
namespace {

using release_gil = py::call_guard<py::gil_scoped_release>;

// ---------------------------------------------------------------- stores

std::shared_ptr<iam::Repository> open_store(const std::string& spec, const std::optional<py::bytes>& key,
                                            const std::optional<std::string>& key_file,
                                            const std::optional<py::bytes>& replacement_key) {
  if (key && key_file) raise({iam::ErrorCode::invalid_argument, "give key or key_file, not both"});
  auto secret = [](const py::bytes& bytes) {
    const std::string_view view = bytes;
    return iam::SecretBytes(std::span(reinterpret_cast<const std::uint8_t*>(view.data()), view.size()));
  };
  std::optional<iam::SecretBytes> replacement;
  if (replacement_key) replacement = secret(*replacement_key);
  std::optional<iam::SecretBytes> sealing;
  if (key) sealing = secret(*key);
  py::gil_scoped_release release;
  if (key_file) sealing = unwrap(iam::load_key_file(*key_file));
  if (!key && !key_file && !replacement) return unwrap(iam::make_repository(spec));
  return unwrap(iam::make_repository(spec, std::move(sealing), std::move(replacement)));
}

// ---------------------------------------------------------------- regime calls

std::vector<iam::AuthorisationCheck> to_checks(const py::iterable& checks) {
  std::vector<iam::AuthorisationCheck> out;
  for (py::handle item : checks) {
    iam::AuthorisationCheck check;
    if (py::isinstance<py::dict>(item)) {
      py::dict entry = py::reinterpret_borrow<py::dict>(item);
      if (!entry.contains("capability"))
        raise({iam::ErrorCode::invalid_argument, "a check mapping needs a capability"});
      check.capability = entry["capability"].cast<std::string>();
      if (entry.contains("resource")) check.resource = to_resource(entry["resource"]);
      if (entry.contains("parameters")) check.parameters = to_parameters(entry["parameters"]);
    } else if (py::isinstance<py::tuple>(item) || py::isinstance<py::list>(item)) {
      py::sequence entry = py::reinterpret_borrow<py::sequence>(item);
      if (entry.size() < 1 || entry.size() > 3 || !py::isinstance<py::str>(entry[0]))
        raise({iam::ErrorCode::invalid_argument, "a check is (capability, resource, parameters)"});
      check.capability = entry[0].cast<std::string>();
      if (entry.size() > 1) check.resource = to_resource(entry[1]);
      if (entry.size() > 2) check.parameters = to_parameters(entry[2]);
    } else {
      raise({iam::ErrorCode::invalid_argument,
             "a check is a (capability, resource, parameters) tuple or a mapping with those keys"});
    }
    out.push_back(std::move(check));
  }
  return out;
}

// The JSON protocol: one request object in, its response out, raising the error of an
// error response.
py::object execute(const std::shared_ptr<iam::Regime>& regime, const py::object& request) {
  py::module_ json = py::module_::import("json");
  const std::string request_text = json.attr("dumps")(request).cast<std::string>();
  std::string response_text;
  {
    py::gil_scoped_release release;
    response_text = iam::JsonDispatcher(regime).handle(request_text);
  }
  py::object response = json.attr("loads")(response_text);
  if (py::isinstance<py::dict>(response) && response.contains("error")) {
    py::dict error = response["error"].cast<py::dict>();
    const auto code = iam::error_code_from_name(error["type"].cast<std::string>());
    raise({code.value_or(iam::ErrorCode::internal_error), error["message"].cast<std::string>()});
  }
  return response;
}

std::string execute_json(const std::shared_ptr<iam::Regime>& regime, const std::string& request) {
  return iam::JsonDispatcher(regime).handle(request);
}

std::string identity_repr(const iam::Identity& identity) {
  return "Identity(handle=" + py::repr(py::str(identity.handle)).cast<std::string>() +
         ", workspace=" + py::repr(py::str(identity.workspace)).cast<std::string>() + ", source='" +
         std::string(iam::credential_source_name(identity.source)) + "')";
}

iam::CredentialSource to_source(const std::string& name) {
  for (auto source : {iam::CredentialSource::api_key, iam::CredentialSource::jwt, iam::CredentialSource::anonymous})
    if (iam::credential_source_name(source) == name) return source;
  raise({iam::ErrorCode::invalid_argument, "source must be 'api-key', 'jwt' or 'anonymous'"});
}

void bind_values(py::module_& m) {
  py::class_<iam::Repository, std::shared_ptr<iam::Repository>>(
      m, "Store", "An open store (users, workspaces, API keys, signing keys): what open_store returns.")
      .def("__repr__", [](const iam::Repository&) { return "<iam.Store>"; });

  py::class_<iam::Clock, std::shared_ptr<iam::Clock>> clock(m, "Clock", "Where the library reads the time.");
  clock.def("now", [](const iam::Clock& c) { return to_datetime(c.now()); }, "The time now (aware UTC datetime).");
  py::class_<iam::ManualClock, iam::Clock, std::shared_ptr<iam::ManualClock>>(
      m, "ManualClock", "A clock that moves only when told to: tests control expiry and TTLs without sleeping.")
      .def(py::init([](const py::object& start) {
             if (start.is_none()) return std::make_shared<iam::ManualClock>();
             return std::make_shared<iam::ManualClock>(from_datetime(start));
           }),
           py::arg("start") = py::none(), "Starts at `start` (aware datetime), by default 2027-01-15T08:00:00Z.")
      .def("set", [](iam::ManualClock& c, const py::object& t) { c.set(from_datetime(t)); }, py::arg("time"),
           "Sets the time (aware datetime).")
      .def("advance", [](iam::ManualClock& c, const py::object& by) { c.advance(to_duration(by)); }, py::arg("by"),
           "Moves the clock on by seconds (int or float) or a timedelta.");
  m.def("system_clock", &iam::system_clock, "The wall clock (the default).");

  py::class_<iam::RandomSource, std::shared_ptr<iam::RandomSource>>(
      m, "RandomSource",
      "Where the library gets randomness (keys, salts, ids, passwords). Build one from a callable "
      "`fn(n) -> bytes` for tests; a failing callable is reported and system randomness used instead.")
      .def(py::init([](py::object callable) {
             if (!PyCallable_Check(callable.ptr())) raise({iam::ErrorCode::invalid_argument, "not a callable"});
             return callable_random(std::move(callable));
           }),
           py::arg("fn"))
      .def(
          "bytes",
          [](iam::RandomSource& r, std::size_t n) {
            std::string out(n, '\0');
            r.fill(std::span(reinterpret_cast<std::uint8_t*>(out.data()), n));
            return py::bytes(out);
          },
          py::arg("n"), "n bytes from this source.");
  m.def("system_random", &iam::system_random, "Cryptographically secure randomness from libsodium (the default).");

  py::class_<iam::AuditEvent>(m, "AuditEvent",
                              "One audit event (protocol.md \"Audit events\"). Never carries a secret.")
      .def_readonly("name", &iam::AuditEvent::name, "\"iam.authenticate\", \"iam.authorise\", \"iam.management\", ...")
      .def_property_readonly("time", [](const iam::AuditEvent& e) { return to_datetime(e.time); })
      .def_property_readonly(
          "fields",
          [](const iam::AuditEvent& e) {
            py::dict fields;
            for (const auto& [key, value] : e.fields) fields[py::str(key)] = value;
            return fields;
          },
          "The event's fields as a dict (in the order they were added).")
      .def(
          "field",
          [](const iam::AuditEvent& e, const std::string& key) -> std::optional<std::string> {
            if (const std::string* value = e.field(key)) return *value;
            return std::nullopt;
          },
          py::arg("key"), "The value of a field, or None.")
      .def("to_json", &iam::AuditEvent::to_json, "{\"event\": name, \"time\": ..., fields...} as one line of JSON.")
      .def("__repr__", [](const iam::AuditEvent& e) { return "<iam.AuditEvent " + e.name + ">"; });

  py::class_<iam::AuditSink, std::shared_ptr<iam::AuditSink>>(
      m, "AuditSink", "Where a regime reports audit events. Pass a callable taking an AuditEvent instead to receive them in Python.")
      .def(py::init([](py::object callable) {
             if (!PyCallable_Check(callable.ptr())) raise({iam::ErrorCode::invalid_argument, "not a callable"});
             return callable_audit_sink(std::move(callable));
           }),
           py::arg("fn"), "A sink calling fn(event) with the GIL held; an exception in fn is reported, never raised into the regime.")
      .def("record", &iam::AuditSink::record, py::arg("event"), release_gil());

  py::class_<iam::AuditFileSink, iam::AuditSink, std::shared_ptr<iam::AuditFileSink>>(
      m, "AuditFileSink", "Writes events as hash-chained JSON lines (protocol.md \"Audit log file\"); never blocks on the disk.")
      .def("flush", &iam::AuditFileSink::flush, release_gil(), "Blocks until every event recorded so far is written.")
      .def("reopen", &iam::AuditFileSink::reopen, "Reopens the file before the next write (log rotation).")
      .def_property_readonly("dropped", &iam::AuditFileSink::dropped, "Events lost: queue full or a failed write.")
      .def_property_readonly("written", &iam::AuditFileSink::written, "Event lines written.");
  m.def(
      "audit_file_sink",
      [](std::string path, std::string producer, const std::string& fsync, bool authorise_allows, const py::object& logger) {
        iam::AuditFileOptions options;
        options.path = std::move(path);
        options.producer = std::move(producer);
        if (fsync == "never") options.fsync = iam::AuditFsync::never;
        else if (fsync == "every-event") options.fsync = iam::AuditFsync::every_event;
        else if (fsync == "interval") options.fsync = iam::AuditFsync::interval;
        else raise({iam::ErrorCode::invalid_argument, "fsync must be 'never', 'every-event' or 'interval'"});
        options.authorise_allows = authorise_allows;
        if (auto l = to_logger(logger)) options.logger = std::move(l);
        py::gil_scoped_release release;
        return unwrap(iam::make_audit_file_sink(std::move(options)));
      },
      py::arg("path"), py::kw_only(), py::arg("producer") = "iam", py::arg("fsync") = "interval",
      py::arg("authorise_allows") = false, py::arg("logger") = py::none(),
      "An audit sink appending to `path` (created 0600), as iam-gateway --audit-log writes it. "
      "Pass it as a regime's `audit`.");

  py::class_<iam::Identity>(m, "Identity",
                            "Who a caller is, as authenticate answers. Quote it back to authorise.")
      .def(py::init([](std::string handle, std::string workspace, std::string principal_id, const std::string& source,
                       const py::object& expires) {
             iam::Identity identity{std::move(handle), std::move(workspace), std::move(principal_id), to_source(source),
                                    std::nullopt};
             if (!expires.is_none()) identity.expires = from_datetime(expires);
             return identity;
           }),
           py::kw_only(), py::arg("handle"), py::arg("workspace") = "", py::arg("principal_id") = "",
           py::arg("source") = "anonymous", py::arg("expires") = py::none())
      .def_readonly("handle", &iam::Identity::handle, "Opaque to callers; for the roles regime, the user id.")
      .def_readonly("workspace", &iam::Identity::workspace, "The credential's default workspace (never policy).")
      .def_readonly("principal_id", &iam::Identity::principal_id, "Stable id for audit logs.")
      .def_property_readonly(
          "source", [](const iam::Identity& i) { return std::string(iam::credential_source_name(i.source)); },
          "How the credential came: 'api-key', 'jwt' or 'anonymous'.")
      .def_property_readonly(
          "expires", [](const iam::Identity& i) { return to_datetime(i.expires); },
          "When the credential expires (aware datetime), or None.")
      .def("__eq__",
           [](const iam::Identity& a, const iam::Identity& b) {
             return a.handle == b.handle && a.workspace == b.workspace && a.principal_id == b.principal_id &&
                    a.source == b.source && a.expires == b.expires;
           })
      .def("__repr__", &identity_repr);

  py::class_<iam::Decision>(m, "Decision", "allow or deny, and how long it may be cached. True when it allows.")
      .def(py::init([](bool allow, const py::object& ttl) { return iam::Decision{allow, to_seconds(ttl)}; }),
           py::arg("allow"), py::arg("ttl") = 0)
      .def_readonly("allow", &iam::Decision::allow)
      .def_property_readonly(
          "ttl", [](const iam::Decision& d) { return d.ttl.count(); }, "Seconds the answer may be cached.")
      .def("__bool__", [](const iam::Decision& d) { return d.allow; })
      .def("__eq__", [](const iam::Decision& a, const iam::Decision& b) { return a == b; })
      .def("__repr__", [](const iam::Decision& d) {
        return std::string("Decision(allow=") + (d.allow ? "True" : "False") + ", ttl=" + std::to_string(d.ttl.count()) + ")";
      });
}

void bind_regime(py::module_& m) {
  py::class_<iam::Regime, std::shared_ptr<iam::Regime>>(
      m, "Regime",
      "Who is this caller, and may they do this? Safe to share between threads; every call "
      "releases the GIL while it works.")
      .def_property_readonly("name", [](const iam::Regime& r) { return std::string(r.name()); },
                             "The regime's name: 'roles', 'noauth', 'oidc', 'chain'.")
      .def(
          "authenticate",
          [](iam::Regime& r, std::string_view credential) { return unwrap(r.authenticate(credential)); },
          py::arg("credential"), release_gil(),
          "The Identity of an API key or a JWT. Raises AuthenticationFailed (always the same "
          "message, whatever the reason) or InternalError (storage down).")
      .def(
          "authenticate_anonymous", [](iam::Regime& r) { return unwrap(r.authenticate_anonymous()); }, release_gil(),
          "The identity of a request with no credential; AuthenticationFailed where the regime refuses them.")
      .def(
          "recognises", [](const iam::Regime& r, std::string_view credential) { return r.recognises(credential); },
          py::arg("credential"), release_gil(), "Is this credential of a kind this regime issues or trusts? Verifies nothing.")
      .def(
          "authorise",
          [](iam::Regime& r, const iam::Identity& identity, const std::string& capability, const py::object& resource,
             const py::object& parameters) {
            const iam::Resource target = to_resource(resource);
            const iam::Parameters params = to_parameters(parameters);
            py::gil_scoped_release release;
            return r.authorise(identity, capability, target, params);
          },
          py::arg("identity"), py::arg("capability"), py::arg("resource") = py::none(),
          py::arg("parameters") = py::none(),
          "May `identity` use `capability` on `resource` (a dict of components: {} system level, "
          "{'workspace': w}, {'workspace': w, 'flow': f})? Answers a Decision; never raises for a deny.")
      .def(
          "authorise_many",
          [](iam::Regime& r, const iam::Identity& identity, const py::iterable& checks) {
            const auto batch = to_checks(checks);
            py::gil_scoped_release release;
            return r.authorise_many(identity, batch);
          },
          py::arg("identity"), py::arg("checks"),
          "Many checks at once: each a (capability, resource, parameters) tuple (resource and "
          "parameters optional) or a mapping with those keys. Decisions in request order.")
      .def("execute", &execute, py::arg("request"),
           "One operation of the JSON protocol (protocol.md): a request dict such as "
           "{'operation': 'create-user', 'workspace': 'default', 'user': {...}} in, the response "
           "dict out. An error response raises its exception. No authorisation happens here: "
           "the caller is trusted (set 'actor' for the roles regime's re-checks).")
      .def("execute_json", &execute_json, py::arg("request"), release_gil(),
           "The JSON protocol on text: a request object's JSON in, the response's JSON out, "
           "errors included ({\"error\": {\"type\", \"message\"}}). Never raises.")
      .def("__repr__", [](const iam::Regime& r) { return "<iam.Regime " + std::string(r.name()) + ">"; });
}

void bind_regime_factories(py::module_& m) {
  m.def("open_store", &open_store, py::arg("spec"), py::kw_only(), py::arg("key") = py::none(),
        py::arg("key_file") = py::none(), py::arg("replacement_key") = py::none(),
        "Opens a store from its specification, as iamctl's --store takes it: 'memory', "
        "'sqlite:PATH', 'postgres:CONNINFO' (or a postgresql:// URI). `key` (32 bytes) or "
        "`key_file` (iamctl's key file) seals the private signing keys at rest; without "
        "either, $IAM_KEY_ENCRYPTION_KEY_FILE is read. `replacement_key` re-encrypts them "
        "under a new key. Raises InvalidArgument for a bad spec, NotSupported for a backend "
        "this build lacks, InternalError when the store cannot be opened.");

  m.def(
      "noauth_regime",
      [](std::string user_id, std::string workspace, const py::object& on_create_workspace, const py::object& logger,
         const py::object& clock) {
        iam::NoauthConfig config;
        config.user_id = std::move(user_id);
        config.workspace = std::move(workspace);
        if (!on_create_workspace.is_none()) {
          auto held = std::make_shared<HeldObject>(on_create_workspace);
          config.on_create_workspace = [held](const iam::WorkspaceRecord& record) {
            py::gil_scoped_acquire gil;
            try {
              held->get()(py::cast(record, py::return_value_policy::copy));
            } catch (py::error_already_set& error) {
              error.discard_as_unraisable(py::str("iam noauth on_create_workspace"));
              throw std::runtime_error("on_create_workspace raised");  // internal-error (noauth.h)
            }
          };
        }
        if (auto l = to_logger(logger)) config.logger = std::move(l);
        config.clock = to_clock(clock);
        return iam::make_noauth_regime(std::move(config));
      },
      py::kw_only(), py::arg("user_id") = "anonymous", py::arg("workspace") = "default",
      py::arg("on_create_workspace") = py::none(), py::arg("logger") = py::none(), py::arg("clock") = py::none(),
      "The noauth regime: EVERY request is allowed (development, or behind an authenticating "
      "proxy). Logs a warning. on_create_workspace(record) is called by create-workspace.");

  m.def(
      "oidc_regime",
      [](const py::object& config, const py::object& clock, const py::object& audit, const py::object& logger) {
        std::string text = py::isinstance<py::str>(config)
                               ? config.cast<std::string>()
                               : py::module_::import("json").attr("dumps")(config).cast<std::string>();
        iam::OidcOptions options;
        options.clock = to_clock(clock);
        options.audit = to_audit_sink(audit);
        options.logger = to_logger(logger);
        py::gil_scoped_release release;
        auto parsed = unwrap(iam::parse_oidc_config(text));
        return std::static_pointer_cast<iam::Regime>(unwrap(iam::make_oidc_regime(std::move(parsed), std::move(options))));
      },
      py::arg("config"), py::kw_only(), py::arg("clock") = py::none(), py::arg("audit") = py::none(),
      py::arg("logger") = py::none(),
      "The OIDC regime (docs/oidc.md): trusts identity providers' JWTs. `config` is the "
      "--oidc-config file's JSON, as text or as a dict. Fetches each issuer's keys before "
      "returning (a provider that does not answer is logged; its tokens fail until it does). "
      "In a build without libcurl (-Doidc=disabled) no keys can be fetched: see iam.features.");

  m.def(
      "chain_regime",
      [](std::vector<std::shared_ptr<iam::Regime>> members) { return unwrap(iam::make_chain_regime(std::move(members))); },
      py::arg("members"),
      "A regime made of regimes: a credential goes to the first member that recognises it, "
      "an identity back to the member that issued it (e.g. [oidc, roles]).");
}

}  // namespace

void bind_core(py::module_& m) {
  bind_values(m);
  bind_regime(m);
  bind_regime_factories(m);
  py::dict features;
  features["sqlite"] = IAM_PYTHON_HAVE_SQLITE != 0;
  features["postgres"] = IAM_PYTHON_HAVE_POSTGRES != 0;
  features["oidc_key_fetching"] = IAM_PYTHON_HAVE_CURL != 0;
  m.attr("features") = features;
}

}  // namespace iam::python
