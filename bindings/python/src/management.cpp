// The roles regime (iam/roles.h) for Python: its factory, its typed management methods,
// JWKS and signing key rotation, and the records they answer.
#include "bindings.h"
#include "callbacks.h"
#include "iam/roles.h"

namespace iam::python {
namespace {

using release_gil = py::call_guard<py::gil_scoped_release>;
using Roles = iam::RolesRegime;
using OptionalText = std::optional<std::string>;

std::optional<std::string_view> view(const OptionalText& text) {
  if (!text) return std::nullopt;
  return std::string_view(*text);
}

std::string quoted(const std::string& text) { return py::repr(py::str(text)).cast<std::string>(); }

// The methods that act on one record by id, in a workspace, answering nothing
// (disable_user, enable_user, delete_user, revoke_api_key): one wrapper for all.
using RecordAction = iam::Status (Roles::*)(const iam::Actor&, std::string_view, std::optional<std::string_view>);
auto record_action(RecordAction method) {
  return [method](Roles& r, std::string_view id, const OptionalText& workspace, const OptionalText& actor) {
    check((r.*method)(actor, id, view(workspace)));
  };
}

void bind_records(py::module_& m) {
  py::class_<iam::UserRecord>(m, "User", "A user (never carries a password hash).")
      .def_readonly("id", &iam::UserRecord::id)
      .def_readonly("workspace", &iam::UserRecord::workspace, "The home workspace.")
      .def_readonly("username", &iam::UserRecord::username)
      .def_readonly("name", &iam::UserRecord::name)
      .def_readonly("email", &iam::UserRecord::email)
      .def_readonly("roles", &iam::UserRecord::roles)
      .def_readonly("enabled", &iam::UserRecord::enabled)
      .def_readonly("must_change_password", &iam::UserRecord::must_change_password)
      .def_property_readonly("created", [](const iam::UserRecord& u) { return to_datetime(u.created); })
      .def("__repr__", [](const iam::UserRecord& u) {
        return "User(id=" + quoted(u.id) + ", username=" + quoted(u.username) + ", workspace=" + quoted(u.workspace) + ")";
      });
  py::class_<iam::WorkspaceRecord>(m, "Workspace", "A workspace.")
      .def_readonly("id", &iam::WorkspaceRecord::id)
      .def_readonly("name", &iam::WorkspaceRecord::name)
      .def_readonly("enabled", &iam::WorkspaceRecord::enabled)
      .def_property_readonly("created", [](const iam::WorkspaceRecord& w) { return to_datetime(w.created); })
      .def("__repr__", [](const iam::WorkspaceRecord& w) { return "Workspace(id=" + quoted(w.id) + ")"; });
  py::class_<iam::ApiKeyRecord>(m, "ApiKey", "An API key's record (never its plaintext or hash).")
      .def_readonly("id", &iam::ApiKeyRecord::id)
      .def_readonly("user_id", &iam::ApiKeyRecord::user_id)
      .def_readonly("name", &iam::ApiKeyRecord::name)
      .def_readonly("prefix", &iam::ApiKeyRecord::prefix, "The plaintext's first 7 characters.")
      .def_property_readonly("expires", [](const iam::ApiKeyRecord& k) { return to_datetime(k.expires); })
      .def_property_readonly("created", [](const iam::ApiKeyRecord& k) { return to_datetime(k.created); })
      .def_property_readonly("last_used", [](const iam::ApiKeyRecord& k) { return to_datetime(k.last_used); })
      .def("__repr__", [](const iam::ApiKeyRecord& k) {
        return "ApiKey(id=" + quoted(k.id) + ", prefix=" + quoted(k.prefix) + ")";
      });
  py::class_<iam::CreatedApiKey>(m, "CreatedApiKey", "A new API key: its plaintext (shown once) and its record.")
      .def_property_readonly("plaintext", [](const iam::CreatedApiKey& k) { return reveal(k.plaintext); })
      .def_readonly("record", &iam::CreatedApiKey::record)
      .def("__repr__", [](const iam::CreatedApiKey& k) { return "CreatedApiKey(record.id=" + quoted(k.record.id) + ")"; });
  py::class_<iam::BootstrapResult>(m, "BootstrapResult", "The first administrator: user id and API key plaintext.")
      .def_readonly("admin_user_id", &iam::BootstrapResult::admin_user_id)
      .def_property_readonly("admin_api_key", [](const iam::BootstrapResult& b) { return reveal(b.admin_api_key); })
      .def("__repr__", [](const iam::BootstrapResult& b) { return "BootstrapResult(admin_user_id=" + quoted(b.admin_user_id) + ")"; });
  py::class_<iam::LoginResult>(m, "LoginResult", "A JWT and when it expires.")
      .def_property_readonly("jwt", [](const iam::LoginResult& l) { return reveal(l.jwt); })
      .def_property_readonly("expires", [](const iam::LoginResult& l) { return to_datetime(l.expires); })
      .def("__repr__", [](const iam::LoginResult&) { return std::string("LoginResult(jwt=<hidden>)"); });
  py::class_<iam::ResolvedKey>(m, "ResolvedKey", "What an API key resolves to.")
      .def_readonly("user_id", &iam::ResolvedKey::user_id)
      .def_readonly("workspace", &iam::ResolvedKey::workspace)
      .def_readonly("roles", &iam::ResolvedKey::roles)
      .def("__repr__", [](const iam::ResolvedKey& r) { return "ResolvedKey(user_id=" + quoted(r.user_id) + ")"; });
}

iam::UserInput user_input(const OptionalText& username, const OptionalText& password, const OptionalText& name,
                          const OptionalText& email, const std::optional<std::vector<std::string>>& roles,
                          std::optional<bool> enabled, std::optional<bool> must_change_password,
                          const OptionalText& home_workspace) {
  iam::UserInput input;
  input.username = username;
  if (password) input.password = iam::SecretString(*password);
  input.name = name;
  input.email = email;
  input.roles = roles;
  input.enabled = enabled;
  input.must_change_password = must_change_password;
  input.workspace = home_workspace;
  return input;
}

std::shared_ptr<Roles> make_roles(const std::shared_ptr<iam::Repository>& store, const OptionalText& bootstrap_mode,
                                  const OptionalText& bootstrap_token, const py::object& clock, const py::object& random,
                                  const py::object& audit, const py::object& logger, std::uint32_t password_iterations,
                                  const std::string& jwt_issuer, const py::object& jwt_lifetime,
                                  const py::object& jwt_leeway, const py::object& key_grace,
                                  const py::object& decision_ttl, bool login_throttle, bool read_environment) {
  iam::RolesConfig config;
  config.repository = store;
  if (bootstrap_mode) {
    config.bootstrap_mode = iam::parse_bootstrap_mode(*bootstrap_mode);
    if (!config.bootstrap_mode) raise({iam::ErrorCode::invalid_argument, "bootstrap_mode must be 'token' or 'bootstrap'"});
  }
  if (bootstrap_token) config.bootstrap_token = iam::SecretString(*bootstrap_token);
  config.read_environment = read_environment;
  config.jwt.issuer = jwt_issuer;
  config.jwt.lifetime = to_seconds(jwt_lifetime);
  config.jwt.leeway = to_seconds(jwt_leeway);
  config.jwt.grace = to_seconds(key_grace);
  config.decision_ttl = to_seconds(decision_ttl);
  config.password_iterations = password_iterations;
  config.login_throttle.enabled = login_throttle;
  config.clock = to_clock(clock);
  config.random = to_random(random);
  config.audit = to_audit_sink(audit);
  config.logger = to_logger(logger);
  py::gil_scoped_release release;
  return unwrap(iam::make_roles_regime(std::move(config)));
}

void bind_roles_factory(py::module_& m) {
  m.def("roles_regime", &make_roles, py::arg("store"), py::kw_only(), py::arg("bootstrap_mode") = py::none(),
        py::arg("bootstrap_token") = py::none(), py::arg("clock") = py::none(), py::arg("random") = py::none(),
        py::arg("audit") = py::none(), py::arg("logger") = py::none(),
        py::arg("password_iterations") = iam::minimum_password_iterations, py::arg("jwt_issuer") = "trustgraph-iam",
        py::arg("jwt_lifetime") = 3600, py::arg("jwt_leeway") = 60, py::arg("key_grace") = 0,
        py::arg("decision_ttl") = 60, py::arg("login_throttle") = true, py::arg("read_environment") = true,
        "The roles regime on `store`: users with roles reader / writer / admin scoped to workspaces, "
        "API keys, passwords and Ed25519 JWTs.\n\n"
        "bootstrap_mode: 'token' (bootstrap_token becomes the admin's API key, seeded into an empty "
        "store) or 'bootstrap' (the bootstrap() method makes the first admin); from "
        "$IAM_BOOTSTRAP_MODE / $IAM_BOOTSTRAP_TOKEN when None and read_environment.\n"
        "clock (iam.Clock, e.g. ManualClock), random (iam.RandomSource or fn(n) -> bytes), "
        "audit (fn(AuditEvent) or iam.AuditSink), logger (fn(level, message)) are for tests and "
        "embedding. Durations are seconds or timedeltas. password_iterations (PBKDF2) may be "
        "raised, never lowered below 600000. Raises InvalidArgument for a refused configuration.");
}

void bind_roles_regime(py::module_& m) {
  py::class_<Roles, iam::Regime, std::shared_ptr<Roles>> roles(
      m, "RolesRegime",
      "The roles regime: a Regime with management methods. `actor` (a user id) names who "
      "asks, for the regime's in-process re-checks; None is a trusted internal caller "
      "(the application itself), as iamctl.");
  roles
      .def("bootstrap", [](Roles& r) { return unwrap(r.bootstrap()); }, release_gil(),
           "Bootstrap mode, on an empty store: makes the first administrator and a signing key. "
           "Answers a BootstrapResult; raises AuthenticationFailed once bootstrapped (masked).")
      .def_property_readonly("bootstrap_available", [](Roles& r) {
        py::gil_scoped_release release;
        return r.bootstrap_available();
      }, "Would bootstrap() succeed now?")
      .def("login",
           [](Roles& r, std::string_view username, std::string_view password, const OptionalText& workspace) {
             return unwrap(r.login(username, password, view(workspace)));
           },
           py::arg("username"), py::arg("password"), py::arg("workspace") = py::none(), release_gil(),
           "Checks the password (PBKDF2: slow on purpose; in asyncio use run_in_executor) and "
           "answers a LoginResult with a JWT. Any failure raises AuthenticationFailed, the same "
           "whatever the reason.")
      .def("whoami", [](Roles& r, std::string_view user_id) { return unwrap(r.whoami(user_id)); }, py::arg("user_id"),
           release_gil(), "The user record of `user_id`.")
      .def("resolve_api_key", [](Roles& r, std::string_view key) { return unwrap(r.resolve_api_key(key)); },
           py::arg("api_key"), release_gil(), "Who an API key belongs to (ResolvedKey); AuthenticationFailed otherwise.")
      .def("signing_key_public", [](Roles& r) { return unwrap(r.signing_key_public()); }, release_gil(),
           "PEM of the active signing key's public half, for standard JWT libraries.")
      .def("jwks", [](Roles& r) { return r.jwks(); }, release_gil(),
           "{\"keys\": [...]} (JSON text) of every key that verifies: next, current, retired within grace.")
      .def_property_readonly("active_kid", [](Roles& r) { return r.key_set().active_kid(); },
                             "The kid of the key that signs now, or None.")
      .def_property_readonly("next_kid", [](Roles& r) { return r.key_set().next_kid(); },
                             "The kid published to sign after the next rotation, or None.")
      .def("rotate_signing_key", [](Roles& r, const OptionalText& actor) { check(r.rotate_signing_key(actor)); },
           py::kw_only(), py::arg("actor") = py::none(), release_gil(),
           "Staged rotation: the published next key signs from now, the current one retires into its "
           "grace period, a fresh next key is published.")
      .def(
          "rotate_signing_key_if_due",
          [](Roles& r, const py::object& interval) {
            const auto seconds = to_seconds(interval);
            py::gil_scoped_release release;
            return unwrap(r.rotate_signing_key_if_due(seconds));
          },
          py::arg("interval"),
          "Rotates when the current key has signed for `interval` (seconds or timedelta) or longer; "
          "answers whether this call rotated.")
      .def_property_readonly("login_throttle_refusals", [](const Roles& r) { return r.login_throttle_refusals(); },
                             "Logins and password changes the throttle refused since the regime was made.")
      .def(
          "change_password",
          [](Roles& r, std::string_view user_id, std::string_view password, std::string_view new_password,
             const OptionalText& actor) { check(r.change_password(actor, user_id, password, new_password)); },
          py::arg("user_id"), py::arg("password"), py::arg("new_password"), py::kw_only(), py::arg("actor") = py::none(),
          release_gil(), "Changes a password knowing the current one (AuthenticationFailed otherwise).")
      .def(
          "reset_password",
          [](Roles& r, std::string_view user_id, const OptionalText& workspace, const OptionalText& actor) {
            return reveal(unwrap(r.reset_password(actor, user_id, view(workspace))));
          },
          py::arg("user_id"), py::kw_only(), py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "Sets a random temporary password (returned) the user must change.")
      .def(
          "create_user",
          [](Roles& r, std::string_view workspace, const OptionalText& username, const OptionalText& password,
             const OptionalText& name, const OptionalText& email, const std::optional<std::vector<std::string>>& roles,
             std::optional<bool> enabled, std::optional<bool> must_change_password, const OptionalText& actor) {
            const auto input = user_input(username, password, name, email, roles, enabled, must_change_password, std::nullopt);
            return unwrap(r.create_user(actor, workspace, input));
          },
          py::arg("workspace"), py::kw_only(), py::arg("username"), py::arg("password") = py::none(),
          py::arg("name") = py::none(), py::arg("email") = py::none(), py::arg("roles") = py::none(),
          py::arg("enabled") = py::none(), py::arg("must_change_password") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "Creates a user whose home is `workspace`; answers the User.")
      .def(
          "list_users",
          [](Roles& r, const OptionalText& workspace, const OptionalText& actor) {
            return unwrap(r.list_users(actor, view(workspace)));
          },
          py::arg("workspace") = py::none(), py::kw_only(), py::arg("actor") = py::none(), release_gil(),
          "The users of a workspace (every user for None and a trusted caller).")
      .def(
          "get_user",
          [](Roles& r, std::string_view user_id, const OptionalText& workspace, const OptionalText& actor) {
            return unwrap(r.get_user(actor, user_id, view(workspace)));
          },
          py::arg("user_id"), py::kw_only(), py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "One user.")
      .def(
          "update_user",
          [](Roles& r, std::string_view user_id, const OptionalText& username, const OptionalText& name,
             const OptionalText& email, const std::optional<std::vector<std::string>>& roles, std::optional<bool> enabled,
             std::optional<bool> must_change_password, const OptionalText& home_workspace, const OptionalText& workspace,
             const OptionalText& actor) {
            const auto input =
                user_input(username, std::nullopt, name, email, roles, enabled, must_change_password, home_workspace);
            return unwrap(r.update_user(actor, user_id, input, view(workspace)));
          },
          py::arg("user_id"), py::kw_only(), py::arg("username") = py::none(), py::arg("name") = py::none(),
          py::arg("email") = py::none(), py::arg("roles") = py::none(), py::arg("enabled") = py::none(),
          py::arg("must_change_password") = py::none(), py::arg("home_workspace") = py::none(),
          py::arg("workspace") = py::none(), py::arg("actor") = py::none(), release_gil(),
          "Changes the given fields (None: unchanged); answers the User.")
      .def(
          "disable_user", record_action(&Roles::disable_user),
          py::arg("user_id"), py::kw_only(), py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "Disables a user: their credentials stop working, issued JWTs for good.")
      .def(
          "enable_user", record_action(&Roles::enable_user),
          py::arg("user_id"), py::kw_only(), py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "Enables a user again.")
      .def(
          "delete_user", record_action(&Roles::delete_user),
          py::arg("user_id"), py::kw_only(), py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "Deletes a user and their API keys.")
      .def(
          "create_workspace",
          [](Roles& r, const std::string& id, const OptionalText& name, std::optional<bool> enabled,
             const OptionalText& actor) { return unwrap(r.create_workspace(actor, iam::WorkspaceInput{id, name, enabled})); },
          py::arg("id"), py::kw_only(), py::arg("name") = py::none(), py::arg("enabled") = py::none(),
          py::arg("actor") = py::none(), release_gil(), "Creates a workspace; answers the Workspace.")
      .def("list_workspaces", [](Roles& r) { return unwrap(r.list_workspaces()); }, release_gil(), "Every workspace.")
      .def("list_my_workspaces", [](Roles& r, std::string_view user_id) { return unwrap(r.list_my_workspaces(user_id)); },
           py::arg("user_id"), release_gil(), "The workspaces the user's roles reach.")
      .def("get_workspace", [](Roles& r, std::string_view id) { return unwrap(r.get_workspace(id)); }, py::arg("id"),
           release_gil(), "One workspace.")
      .def(
          "update_workspace",
          [](Roles& r, const std::string& id, const OptionalText& name, std::optional<bool> enabled,
             const OptionalText& actor) { return unwrap(r.update_workspace(actor, iam::WorkspaceInput{id, name, enabled})); },
          py::arg("id"), py::kw_only(), py::arg("name") = py::none(), py::arg("enabled") = py::none(),
          py::arg("actor") = py::none(), release_gil(), "Changes a workspace's name or enabled flag.")
      .def(
          "disable_workspace",
          [](Roles& r, std::string_view id, const OptionalText& actor) { check(r.disable_workspace(actor, id)); },
          py::arg("id"), py::kw_only(), py::arg("actor") = py::none(), release_gil(), "Disables a workspace.")
      .def(
          "create_api_key",
          [](Roles& r, const std::string& user_id, const std::string& name, const py::object& expires,
             const OptionalText& workspace, const OptionalText& actor) {
            iam::KeyInput key{user_id, name, std::nullopt};
            if (py::isinstance<py::str>(expires)) {
              key.expires = expires.cast<std::string>();
            } else if (!expires.is_none()) {
              key.expires = iam::format_rfc3339(from_datetime(expires));
            }
            py::gil_scoped_release release;
            return unwrap(r.create_api_key(actor, key, view(workspace)));
          },
          py::arg("user_id"), py::arg("name"), py::kw_only(), py::arg("expires") = py::none(),
          py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          "A new API key for the user (CreatedApiKey: the plaintext is shown once). `expires`: an "
          "aware datetime or ISO 8601 text; None never.")
      .def(
          "list_api_keys",
          [](Roles& r, std::string_view user_id, const OptionalText& workspace, const OptionalText& actor) {
            return unwrap(r.list_api_keys(actor, user_id, view(workspace)));
          },
          py::arg("user_id"), py::kw_only(), py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "The user's API keys (records, never plaintexts).")
      .def(
          "revoke_api_key", record_action(&Roles::revoke_api_key),
          py::arg("key_id"), py::kw_only(), py::arg("workspace") = py::none(), py::arg("actor") = py::none(),
          release_gil(), "Revokes an API key.")
      .def("__repr__", [](const Roles&) { return std::string("<iam.RolesRegime>"); });
}

}  // namespace

void bind_management(py::module_& m) {
  bind_records(m);
  bind_roles_regime(m);
  bind_roles_factory(m);
}

}  // namespace iam::python
