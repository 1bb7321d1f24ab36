#include "protocol/json_protocol.h"

#include <string>
#include <utility>

#include "core/bounded_json.h"
#include "iam/operation_table.h"

namespace iam::protocol {

using json = nlohmann::json;

namespace {

Error invalid(std::string message) { return {ErrorCode::invalid_argument, std::move(message)}; }

// The value of `key` in `object`, or nullptr when absent. JSON null counts as absent:
// clients that serialise unset optional fields as null must keep working.
const json* find_field(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads typed fields of one JSON object and keeps the first type error. Error messages
// name the field (with its path, e.g. "user.roles") and the expected type, never the
// value: the value may be a password.
class FieldReader {
 public:
  FieldReader(const json& object, std::string path_prefix)
      : object_(object), prefix_(std::move(path_prefix)) {}

  std::optional<std::string> text(std::string_view key) {
    const json* value = find_field(object_, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) return fail(key, "a string");
    return value->get_ref<const std::string&>();
  }

  std::optional<SecretString> secret(std::string_view key) {
    const json* value = find_field(object_, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) return fail(key, "a string");
    return SecretString(std::string_view(value->get_ref<const std::string&>()));
  }

  std::optional<bool> boolean(std::string_view key) {
    const json* value = find_field(object_, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) return fail(key, "a boolean");
    return value->get<bool>();
  }

  std::optional<std::vector<std::string>> string_list(std::string_view key) {
    const json* value = find_field(object_, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) return fail(key, "an array of strings");
    std::vector<std::string> out;
    out.reserve(value->size());
    for (const json& item : *value) {
      if (!item.is_string()) return fail(key, "an array of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  // A nested object field; nullptr when absent or of the wrong type (then failed()).
  const json* object(std::string_view key) {
    const json* value = find_field(object_, key);
    if (value == nullptr) return nullptr;
    if (!value->is_object()) {
      fail(key, "an object");
      return nullptr;
    }
    return value;
  }

  // The home workspace under either TrustGraph generation's name. An empty string counts
  // as "not given" for the agreement check, because TrustGraph's schema fills unset
  // string fields with "".
  std::optional<std::string> home_workspace() {
    auto older = text("workspace");
    auto newer = text("default_workspace");
    if (!older) return newer;
    if (!newer || newer->empty()) return older;
    if (older->empty()) return newer;
    if (*older != *newer) {
      set_error(invalid("fields '" + prefix_ + "workspace' and '" + prefix_ +
                        "default_workspace' disagree; send one, or both with the same value"));
      return std::nullopt;
    }
    return older;
  }

  bool failed() const noexcept { return error_.has_value(); }
  const Error& error() const { return *error_; }
  void set_error(Error error) {
    if (!error_) error_ = std::move(error);
  }

 private:
  std::nullopt_t fail(std::string_view key, std::string_view expected) {
    set_error(invalid("field '" + prefix_ + std::string(key) + "' must be " + std::string(expected)));
    return std::nullopt;
  }

  const json& object_;
  std::string prefix_;
  std::optional<Error> error_;
};

UserInput parse_user(FieldReader& reader) {
  UserInput user;
  user.username = reader.text("username");
  user.name = reader.text("name");
  user.email = reader.text("email");
  user.password = reader.secret("password");
  user.roles = reader.string_list("roles");
  user.enabled = reader.boolean("enabled");
  user.must_change_password = reader.boolean("must_change_password");
  user.workspace = reader.home_workspace();
  return user;
}

WorkspaceInput parse_workspace_record(FieldReader& reader) {
  WorkspaceInput workspace;
  workspace.id = reader.text("id");
  workspace.name = reader.text("name");
  workspace.enabled = reader.boolean("enabled");
  return workspace;
}

KeyInput parse_key(FieldReader& reader) {
  KeyInput key;
  key.user_id = reader.text("user_id");
  key.name = reader.text("name");
  key.expires = reader.text("expires");
  return key;
}

// Wipes the string at `key` of `object` if there is one.
void wipe_string_field(json& object, std::string_view key) noexcept {
  try {
    if (!object.is_object()) return;
    const auto it = object.find(key);
    if (it != object.end() && it->is_string()) wipe(it->get_ref<std::string&>());
  } catch (...) {
    // Best effort: the document is released soon anyway.
  }
}

// A JSON object of string components as a Resource; nullopt when it is not an object or a
// component is not a string (null components count as omitted).
std::optional<Resource> resource_from_json(const json& value) {
  if (!value.is_object()) return std::nullopt;
  Resource resource;
  for (const auto& [name, component] : value.items()) {
    if (component.is_null()) continue;
    if (!component.is_string()) return std::nullopt;
    resource.set(name, component.get<std::string>());
  }
  return resource;
}

// A JSON object's string values as Parameters (other values are ignored); nullopt when it
// is not an object.
std::optional<Parameters> parameters_from_json(const json& value) {
  if (!value.is_object()) return std::nullopt;
  Parameters parameters;
  for (const auto& [name, parameter] : value.items())
    if (parameter.is_string()) parameters[name] = parameter.get<std::string>();
  return parameters;
}

std::optional<AuthorisationCheck> check_from_json(const json& entry) {
  if (!entry.is_object()) return std::nullopt;
  const json* capability = find_field(entry, "capability");
  if (capability == nullptr || !capability->is_string() || capability->get_ref<const std::string&>().empty())
    return std::nullopt;
  AuthorisationCheck check;
  check.capability = capability->get<std::string>();
  if (const json* resource = find_field(entry, "resource")) {
    auto parsed = resource_from_json(*resource);
    if (!parsed) return std::nullopt;
    check.resource = std::move(*parsed);
  }
  if (const json* parameters = find_field(entry, "parameters")) {
    auto parsed = parameters_from_json(*parameters);
    if (!parsed) return std::nullopt;
    check.parameters = std::move(*parsed);
  }
  return check;
}

// RFC 3339, or "" for a time that was never set (the epoch is TimePoint{}'s value).
std::string time_text(TimePoint t) {
  if (t.time_since_epoch().count() == 0) return "";
  return format_rfc3339(t);
}

std::string time_text(const std::optional<TimePoint>& t) { return t ? time_text(*t) : std::string(); }

}  // namespace

Result<OperationRequest> parse_request(const json& request) {
  if (!request.is_object()) return invalid("request must be a JSON object");
  const json* operation = find_field(request, "operation");
  if (operation == nullptr) return invalid("missing field 'operation'");
  if (!operation->is_string()) return invalid("field 'operation' must be a string");

  OperationRequest out;
  out.operation = operation->get<std::string>();

  FieldReader reader(request, "");
  out.workspace = reader.home_workspace();
  out.actor = reader.text("actor");
  out.user_id = reader.text("user_id");
  out.username = reader.text("username");
  out.key_id = reader.text("key_id");
  out.api_key = reader.secret("api_key");
  out.password = reader.secret("password");
  out.new_password = reader.secret("new_password");
  // Type-checked for every operation, read only for the two that use them.
  const auto capability = reader.text("capability");
  const auto resource_json = reader.text("resource_json");
  const auto parameters_json = reader.text("parameters_json");
  const auto authorise_checks = reader.text("authorise_checks");

  if (const json* user = reader.object("user")) {
    FieldReader user_reader(*user, "user.");
    out.user = parse_user(user_reader);
    if (user_reader.failed()) reader.set_error(user_reader.error());
  }
  if (const json* workspace = reader.object("workspace_record")) {
    FieldReader workspace_reader(*workspace, "workspace_record.");
    out.workspace_record = parse_workspace_record(workspace_reader);
    if (workspace_reader.failed()) reader.set_error(workspace_reader.error());
  }
  if (const json* key = reader.object("key")) {
    FieldReader key_reader(*key, "key.");
    out.key = parse_key(key_reader);
    if (key_reader.failed()) reader.set_error(key_reader.error());
  }

  if (reader.failed()) return reader.error();
  if (out.operation == operation_name(Operation::authorise)) {
    auto check = parse_check(capability, resource_json, parameters_json);
    if (!check) return std::move(check).error();
    out.check = std::move(*check);
  } else if (out.operation == operation_name(Operation::authorise_many)) {
    auto checks = parse_authorise_checks(authorise_checks);
    if (!checks) return std::move(checks).error();
    out.checks = std::move(*checks);
  }
  return out;
}

void wipe_request_secrets(json& request) noexcept {
  if (!request.is_object()) return;
  wipe_string_field(request, "password");
  wipe_string_field(request, "new_password");
  wipe_string_field(request, "api_key");
  const auto user = request.find("user");
  if (user != request.end()) wipe_string_field(*user, "password");
}

Result<Resource> parse_resource_text(const std::optional<std::string>& text) {
  if (!text || text->empty()) return Resource::system();
  const auto doc = parse_json_bounded(*text);
  if (!doc) return invalid("resource_json: " + doc.error().message);
  if (!doc->is_object()) return invalid("resource_json must be the text of a JSON object");
  auto resource = resource_from_json(*doc);
  if (!resource) return invalid("resource_json components must be strings");
  return std::move(*resource);
}

Result<Parameters> parse_parameters_text(const std::optional<std::string>& text) {
  if (!text || text->empty()) return Parameters{};
  const auto doc = parse_json_bounded(*text);
  if (!doc) return invalid("parameters_json: " + doc.error().message);
  if (!doc->is_object()) return invalid("parameters_json must be the text of a JSON object");
  return std::move(*parameters_from_json(*doc));
}

Result<AuthorisationCheck> parse_check(const std::optional<std::string>& capability,
                                       const std::optional<std::string>& resource_json,
                                       const std::optional<std::string>& parameters_json) {
  auto resource = parse_resource_text(resource_json);
  if (!resource) return std::move(resource).error();
  auto parameters = parse_parameters_text(parameters_json);
  if (!parameters) return std::move(parameters).error();
  return AuthorisationCheck{capability.value_or(""), std::move(*resource), std::move(*parameters)};
}

Result<std::vector<AuthorisationCheck>> parse_authorise_checks(const std::optional<std::string>& text) {
  std::vector<AuthorisationCheck> checks;
  // Absent or empty is an empty batch, as TrustGraph's services read it.
  if (!text || text->empty()) return checks;
  const auto doc = parse_json_bounded(*text);
  if (!doc) return invalid("authorise_checks: " + doc.error().message);
  if (!doc->is_array()) return invalid("authorise_checks must be the text of a JSON array");
  checks.reserve(doc->size());
  // A malformed entry becomes a check with no capability, which is denied in place.
  for (const json& entry : *doc) checks.push_back(check_from_json(entry).value_or(AuthorisationCheck{}));
  return checks;
}

std::string decisions_to_json_text(const std::vector<Decision>& decisions) {
  json out = json::array();
  for (const Decision& decision : decisions) out.push_back({{"allow", decision.allow}, {"ttl", decision.ttl.count()}});
  return to_text(out);
}

json user_to_json(const UserRecord& user) {
  return {
      {"id", user.id},
      {"workspace", user.workspace},
      {"default_workspace", user.workspace},
      {"username", user.username},
      {"name", user.name},
      {"email", user.email},
      {"roles", user.roles},
      {"enabled", user.enabled},
      {"must_change_password", user.must_change_password},
      {"created", time_text(user.created)},
  };
}

json workspace_to_json(const WorkspaceRecord& workspace) {
  return {
      {"id", workspace.id},
      {"name", workspace.name},
      {"enabled", workspace.enabled},
      {"created", time_text(workspace.created)},
  };
}

json api_key_to_json(const ApiKeyRecord& key) {
  return {
      {"id", key.id},
      {"user_id", key.user_id},
      {"name", key.name},
      {"prefix", key.prefix},
      {"expires", time_text(key.expires)},
      {"created", time_text(key.created)},
      {"last_used", time_text(key.last_used)},
  };
}

namespace {
std::string_view signing_key_status_name(SigningKeyStatus status) {
  switch (status) {
    case SigningKeyStatus::next: return "next";
    case SigningKeyStatus::current: return "current";
    case SigningKeyStatus::retired: return "retired";
  }
  return "retired";
}
}  // namespace

json signing_key_to_json(const SigningKeyRecord& key) {
  return {
      {"kid", key.kid},
      {"status", signing_key_status_name(key.status)},
      {"created", time_text(key.created)},
      {"activated", time_text(key.activated)},
      {"retired", time_text(key.retired)},
      {"grace_ends", time_text(key.grace_ends)},
  };
}

json response_to_json(const OperationResponse& response) {
  json out = json::object();
  if (response.user) out["user"] = user_to_json(*response.user);
  if (response.users) {
    json users = json::array();
    for (const UserRecord& user : *response.users) users.push_back(user_to_json(user));
    out["users"] = std::move(users);
  }
  if (response.workspace) out["workspace"] = workspace_to_json(*response.workspace);
  if (response.workspaces) {
    json workspaces = json::array();
    for (const WorkspaceRecord& workspace : *response.workspaces) workspaces.push_back(workspace_to_json(workspace));
    out["workspaces"] = std::move(workspaces);
  }
  if (response.api_key_plaintext) out["api_key_plaintext"] = std::string(response.api_key_plaintext->view());
  if (response.api_key) out["api_key"] = api_key_to_json(*response.api_key);
  if (response.api_keys) {
    json keys = json::array();
    for (const ApiKeyRecord& key : *response.api_keys) keys.push_back(api_key_to_json(key));
    out["api_keys"] = std::move(keys);
  }
  if (response.jwt) out["jwt"] = std::string(response.jwt->view());
  if (response.jwt_expires) out["jwt_expires"] = time_text(*response.jwt_expires);
  if (response.signing_key_public) out["signing_key_public"] = *response.signing_key_public;
  if (response.signing_keys) {
    json keys = json::array();
    for (const SigningKeyRecord& key : *response.signing_keys) keys.push_back(signing_key_to_json(key));
    out["signing_keys"] = std::move(keys);
  }
  if (response.resolved_user_id) out["resolved_user_id"] = *response.resolved_user_id;
  if (response.resolved_workspace) {
    out["resolved_workspace"] = *response.resolved_workspace;
    out["resolved_default_workspace"] = *response.resolved_workspace;
  }
  if (response.resolved_roles) out["resolved_roles"] = *response.resolved_roles;
  if (response.temporary_password) out["temporary_password"] = std::string(response.temporary_password->view());
  if (response.bootstrap_admin_user_id) out["bootstrap_admin_user_id"] = *response.bootstrap_admin_user_id;
  if (response.bootstrap_admin_api_key)
    out["bootstrap_admin_api_key"] = std::string(response.bootstrap_admin_api_key->view());
  if (response.bootstrap_available) out["bootstrap_available"] = *response.bootstrap_available;
  if (response.decision) {
    out["decision_allow"] = response.decision->allow;
    out["decision_ttl_seconds"] = response.decision->ttl.count();
  }
  // TrustGraph's shape: the decisions as JSON text inside a string field.
  if (response.decisions) out["decisions_json"] = decisions_to_json_text(*response.decisions);
  return out;
}

json error_to_json(const Error& error) {
  return {{"error", {{"type", std::string(error_type_name(error.code))}, {"message", error.message}}}};
}

void wipe_response_secrets(json& response) noexcept {
  wipe_string_field(response, "api_key_plaintext");
  wipe_string_field(response, "jwt");
  wipe_string_field(response, "temporary_password");
  wipe_string_field(response, "bootstrap_admin_api_key");
}

std::string to_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace iam::protocol
