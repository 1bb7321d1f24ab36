// iamctl — the admin command line of an iam deployment.
//
//   iamctl stdio --store memory --bootstrap-mode bootstrap   JSON lines on stdin/stdout
//   iamctl create-user --store sqlite:./iam.db --username alice --role writer
//   KEY=$(iamctl create-api-key --user-id ID --name laptop)
//   IAM_URL=http://localhost:8888 IAM_TOKEN=tg_... iamctl list-users   (remote: a gateway)
//   IAM_TOKEN=<provider token> iamctl whoami --regime oidc --oidc-config oidc.json   (docs/oidc.md)
//
// Subcommands mirror TrustGraph's tg-* IAM tools. A one-time secret (API key, temporary
// password, JWT) is the only thing printed on stdout; context goes to stderr. Passwords
// are prompted for without echo when not given (read from stdin when it is not a
// terminal). Against a local store, commands are trusted administrator actions (no
// actor); whoami, change-password and list-my-workspaces act on the user whose --token
// is given. Against a gateway (a URL from --url, $IAM_URL or $TRUSTGRAPH_URL), every
// command is made by the token's user and the gateway authorises it. A local store's
// signing keys are sealed with the key file the gateway uses (./iam.key beside ./iam.db,
// or --key-file); rotate-key-encryption-key replaces that key.
//
// Exit codes: 0 success, 1 refused operation, 2 usage or configuration error, 3 internal
// failure (also: gateway unreachable, 5xx, or an answer that is not JSON).
#include <CLI/CLI.hpp>
#include <termios.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/text.h"

#include "audit_verify.h"
#include "backend.h"
#include "local.h"
#if IAMCTL_REMOTE
#include "remote.h"
#endif

namespace {

using iamctl::Backend;
using iamctl::Outcome;
using iamctl::Reply;
using iamctl::UsageError;
using nlohmann::json;

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInternal = 3;

constexpr const char* kFooter =
    "Against a gateway: --url http://host:port[/base], or $IAM_URL, then $TRUSTGRAPH_URL; the credential\n"
    "from --token, or $IAM_TOKEN, then $TRUSTGRAPH_TOKEN. Prefer the environment for the token:\n"
    "command-line arguments are visible to other users in ps.\n"
    "Exit codes: 0 ok, 1 refused, 2 usage, 3 internal error or gateway unreachable.";

// ---------------------------------------------------------------- options

struct Options {
  iamctl::StoreOptions store;
  bool json_output = false;
  std::string url;    // --url; else the environment
  std::string token;  // --token; else the environment
};

// The options that only mean something for a store opened in this process.
const std::vector<std::string> kLocalOnlyOptions = {"--store",       "--regime",    "--bootstrap-mode",
                                                    "--bootstrap-token", "--jwt-lifetime", "--key-grace",
                                                    "--password-iterations", "--key-file", "--oidc-config"};

void add_store_options(CLI::App& cmd, iamctl::StoreOptions& o) {
  examples::add_deployment_options(cmd, o, " (local store only)");
}

void add_remote_options(CLI::App& cmd, Options& o) {
  cmd.add_option("--url", o.url,
                 "send the command to the gateway at http://host:port[/base] (default: $IAM_URL, then $TRUSTGRAPH_URL)");
  cmd.add_option("--token,-t", o.token,
                 "API key or JWT of the caller (default: $IAM_TOKEN, then $TRUSTGRAPH_TOKEN; prefer those: arguments "
                 "show in ps). Used by every command at a gateway; on a local store only by whoami, change-password "
                 "and list-my-workspaces");
}

// The first non-empty of the flag and the environment variables, and where it came from.
struct Setting {
  std::string value;
  std::string source;  // "--url", "$IAM_URL", ...; never the value (it may be a secret)
};

std::optional<Setting> first_set(const std::string& flag_value, const char* flag,
                                 std::initializer_list<const char*> variables) {
  if (!flag_value.empty()) return Setting{flag_value, flag};
  for (const char* name : variables) {
    const char* value = std::getenv(name);
    if (value && *value) return Setting{value, std::string("$") + name};
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- terminal

// A secret from the terminal without echo, or a line of stdin when it is not a terminal.
std::string read_secret(const std::string& prompt) {
  std::string value;
  if (isatty(STDIN_FILENO)) {
    std::cerr << prompt << std::flush;
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, value);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  } else {
    std::getline(std::cin, value);
  }
  if (!value.empty() && value.back() == '\r') value.pop_back();
  return value;
}

// What the store or a gateway sent, fit for a terminal: control characters (an ESC that
// would recolour the screen, a newline that would forge a line) are shown escaped.
std::string shown(std::string_view text) { return iam::text::escape_controls(text); }
std::string shown(const json& object, const char* field) {
  const auto it = object.is_object() ? object.find(field) : object.end();
  return it != object.end() && it->is_string() ? shown(it->get<std::string>()) : std::string();
}
// JSON for a terminal: ASCII only, so no control character, C1 included, goes out raw.
std::string json_text(const json& value, int indent = -1) {
  return value.dump(indent, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
}

std::string text_of(const json& value) {
  if (value.is_string()) return shown(value.get<std::string>());
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) out += (out.empty() ? "" : ",") + text_of(item);
    return out;
  }
  if (value.is_null()) return "";
  return value.dump();
}

void print_table(const json& rows, const std::vector<std::pair<std::string, std::string>>& columns) {
  std::vector<std::size_t> width;
  for (const auto& [key, title] : columns) width.push_back(title.size());
  for (const auto& row : rows)
    for (std::size_t i = 0; i < columns.size(); ++i)
      width[i] = std::max(width[i], text_of(row.value(columns[i].first, json())).size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  std::vector<std::string> titles;
  for (const auto& [key, title] : columns) titles.push_back(title);
  line(titles);
  for (const auto& row : rows) {
    std::vector<std::string> cells;
    for (const auto& [key, title] : columns) cells.push_back(text_of(row.value(key, json())));
    line(cells);
  }
}

void print_record(const json& record) {
  std::size_t width = 0;
  for (const auto& [key, value] : record.items()) width = std::max(width, key.size());
  for (const auto& [key, value] : record.items())
    std::cout << shown(key) << std::string(width - key.size() + 2, ' ') << text_of(value) << "\n";
}

const std::vector<std::pair<std::string, std::string>> kUserColumns = {
    {"id", "ID"}, {"username", "USERNAME"}, {"name", "NAME"}, {"workspace", "WORKSPACE"},
    {"roles", "ROLES"}, {"enabled", "ENABLED"}, {"must_change_password", "MUST CHANGE PASSWORD"}};
const std::vector<std::pair<std::string, std::string>> kWorkspaceColumns = {
    {"id", "ID"}, {"name", "NAME"}, {"enabled", "ENABLED"}, {"created", "CREATED"}};
const std::vector<std::pair<std::string, std::string>> kKeyColumns = {
    {"id", "ID"}, {"name", "NAME"}, {"prefix", "PREFIX"}, {"expires", "EXPIRES"},
    {"created", "CREATED"}, {"last_used", "LAST USED"}};
const std::vector<std::pair<std::string, std::string>> kSigningKeyColumns = {
    {"kid", "KID"}, {"status", "STATUS"}, {"created", "CREATED"}, {"activated", "ACTIVATED"},
    {"retired", "RETIRED"}, {"grace_ends", "GRACE ENDS"}};

// ---------------------------------------------------------------- commands

using Printer = std::function<void(const json&)>;

struct Command {
  CLI::App* app = nullptr;
  std::function<Reply(Backend&)> request;  // builds and sends the request
  Printer print;                           // prints a successful response
  bool self_service = false;               // on a local store: acts as the --token's user
};

std::string string_field(const json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int report(const Reply& reply, const Options& o, const Printer& print) {
  if (reply.outcome == Outcome::ok) {
    if (o.json_output) {
      std::cout << json_text(reply.body) << "\n";
    } else {
      print(reply.body);
    }
    return 0;
  }
  if (o.json_output) std::cout << json_text(reply.body) << "\n";
  const bool refused = reply.outcome == Outcome::refused;
  // IAM errors are {type, message}; a gateway's masked ones are a bare string.
  const json error = reply.body.is_object() ? reply.body.value("error", json()) : json();
  std::string type = string_field(error, "type");
  std::string message = error.is_object() ? string_field(error, "message") : text_of(error);
  if (type.empty()) type = refused ? "refused" : "internal-error";
  if (reply.http_status && message.empty()) {
    message = "HTTP " + std::to_string(reply.http_status);
  } else if (reply.http_status && !refused) {
    message += " (HTTP " + std::to_string(reply.http_status) + ")";
  }
  std::cerr << "iamctl: " << shown(type) << ": " << shown(message) << "\n";
  if (!reply.hint.empty()) std::cerr << "iamctl: " << shown(reply.hint) << "\n";
  return refused ? kExitRefused : kExitInternal;
}

// Remote mode: a gateway URL is set somewhere, so the command goes there.
std::unique_ptr<Backend> open_remote(const Command& command, const Setting& url, const std::optional<Setting>& token) {
  for (const auto& name : kLocalOnlyOptions)
    if (command.app->get_option(name)->count() > 0)
      throw UsageError{name + " is for a local store; it cannot be combined with a gateway URL (" + url.source + ")"};
#if IAMCTL_REMOTE
  iamctl::RemoteTarget target;
  target.url = url.value;
  if (token) target.token = token->value;
  return iamctl::make_remote_backend(std::move(target));
#else
  (void)token;
  throw UsageError{"remote mode not built: this iamctl was compiled without Boost, so it cannot use the gateway URL (" +
                   url.source + ")"};
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"iamctl: administer an iam deployment, on a local store or through a gateway"};
  app.footer(kFooter);
  app.require_subcommand(1);
  Options o;

  auto* stdio = app.add_subcommand("stdio", "Serve IAM requests as JSON lines on stdin/stdout (local store only)");
  add_store_options(*stdio, o.store);
  stdio->add_option("--url", o.url)->group("");  // accepted only to refuse it clearly
  stdio->footer("The trusted JSON-lines service of a local store: a gateway URL (--url, $IAM_URL, $TRUSTGRAPH_URL)\n"
                "is refused. Exit codes: 0 ok, 2 usage, 3 internal error.");

  std::vector<Command> commands;
  // Fields the subcommands fill in.
  std::string username, password, new_password, workspace, user_id, name, email, key_id, expires, ws_id;
  std::vector<std::string> roles;
  std::optional<bool> enabled, must_change;
  bool flag_must_change = false, flag_disabled = false;

  auto add = [&](const char* cmd_name, const char* help) {
    CLI::App* cmd = app.add_subcommand(cmd_name, help);
    add_store_options(*cmd, o.store);
    add_remote_options(*cmd, o);
    cmd->add_flag("--json", o.json_output, "print the raw JSON response");
    commands.push_back(Command{cmd, nullptr, nullptr, false});
    return cmd;
  };
  auto simple = [](const char* operation) {
    return [operation](Backend& b) { return b.call({{"operation", operation}}); };
  };
  auto secret_out = [](const char* field, const char* context) {
    return [field, context](const json& r) {
      std::cerr << context << "\n";
      std::cout << shown(r, field) << "\n";
    };
  };
  auto record_out = [](const char* field) { return [field](const json& r) { print_record(r.value(field, json::object())); }; };
  auto done_out = [](const char* what) { return [what](const json&) { std::cerr << what << "\n"; }; };

  // bootstrap
  add("bootstrap", "Create the first administrator (bootstrap mode, empty store); prints its API key");
  commands.back().request = simple("bootstrap");
  commands.back().print = [](const json& r) {
    std::cerr << "admin user id: " << shown(r, "bootstrap_admin_user_id") << "\n";
    std::cout << shown(r, "bootstrap_admin_api_key") << "\n";
  };

  add("bootstrap-status", "Say whether bootstrap is still available");
  commands.back().request = simple("bootstrap-status");
  commands.back().print = [](const json& r) { print_record(r); };

  // login
  auto* login = add("login", "Log in with a password; prints a JWT");
  login->add_option("--username,-u", username, "username")->required();
  login->add_option("--password", password, "password (prompted for without echo when omitted)");
  login->add_option("--workspace,-w", workspace, "workspace to bind the token to");
  commands.back().request = [&](Backend& b) {
    if (password.empty()) password = read_secret("Password: ");
    json req = {{"operation", "login"}, {"username", username}, {"password", password}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return b.call(req);
  };
  commands.back().print = [](const json& r) {
    std::cerr << "expires: " << shown(r, "jwt_expires") << "\n";
    std::cout << shown(r, "jwt") << "\n";
  };

  // self-service
  add("whoami", "Show the user a credential belongs to");
  commands.back().self_service = true;
  commands.back().request = simple("whoami");
  commands.back().print = record_out("user");

  add("list-my-workspaces", "List the workspaces a credential's user may use");
  commands.back().self_service = true;
  commands.back().request = simple("list-my-workspaces");
  commands.back().print = [](const json& r) { print_table(r.value("workspaces", json::array()), kWorkspaceColumns); };

  auto* change_password = add("change-password", "Change your own password (the --token's user)");
  change_password->add_option("--current-password", password, "(prompted for without echo when omitted)");
  change_password->add_option("--new-password", new_password, "(prompted for without echo when omitted)");
  commands.back().self_service = true;
  commands.back().request = [&](Backend& b) {
    if (password.empty()) password = read_secret("Current password: ");
    if (new_password.empty()) new_password = read_secret("New password: ");
    return b.call({{"operation", "change-password"}, {"password", password}, {"new_password", new_password}});
  };
  commands.back().print = done_out("password changed");

  // users
  auto* create_user = add("create-user", "Create a user");
  create_user->add_option("--username,-u", username, "username (unique, case-insensitive)")->required();
  create_user->add_option("--name", name, "display name");
  create_user->add_option("--email", email, "email address");
  create_user->add_option("--password", password, "initial password (prompted for without echo when omitted)");
  create_user->add_option("--role,-r", roles, "role (repeatable; default reader)");
  // No default_val: CLI11 assigns it to the shared `workspace` at once, which then sent
  // "workspace":"default" with every other subcommand too.
  create_user->add_option("--workspace,-w", workspace, "home workspace (default: default)");
  create_user->add_flag("--must-change-password", flag_must_change, "force a password change at next login");
  commands.back().request = [&](Backend& b) {
    if (password.empty()) password = read_secret("Password for " + username + ": ");
    json user = {{"username", username}, {"password", password}, {"must_change_password", flag_must_change}};
    if (!name.empty()) user["name"] = name;
    if (!email.empty()) user["email"] = email;
    if (!roles.empty()) user["roles"] = roles;
    return b.call({{"operation", "create-user"}, {"workspace", workspace.empty() ? "default" : workspace}, {"user", user}});
  };
  commands.back().print = record_out("user");

  auto* list_users = add("list-users", "List users");
  list_users->add_option("--workspace,-w", workspace, "only users of this workspace");
  commands.back().request = [&](Backend& b) {
    json req = {{"operation", "list-users"}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return b.call(req);
  };
  commands.back().print = [](const json& r) { print_table(r.value("users", json::array()), kUserColumns); };

  auto user_command = [&](const char* cmd_name, const char* help, const char* operation, Printer print) {
    auto* cmd = add(cmd_name, help);
    cmd->add_option("--user-id,-i", user_id, "user id")->required();
    cmd->add_option("--workspace,-w", workspace, "require the user to be in this workspace");
    commands.back().request = [&, operation](Backend& b) {
      json req = {{"operation", operation}, {"user_id", user_id}};
      if (!workspace.empty()) req["workspace"] = workspace;
      return b.call(req);
    };
    commands.back().print = std::move(print);
    return cmd;
  };
  user_command("get-user", "Show a user", "get-user", record_out("user"));
  user_command("disable-user", "Disable a user and revoke all its API keys", "disable-user", done_out("disabled"));
  user_command("enable-user", "Enable a user (revoked keys stay revoked)", "enable-user", done_out("enabled"));
  user_command("delete-user", "Delete a user and its API keys", "delete-user", done_out("deleted"));
  user_command("reset-password", "Set a random temporary password; prints it", "reset-password",
               secret_out("temporary_password", "temporary password (must be changed at next login):"));
  user_command("list-api-keys", "List a user's API keys", "list-api-keys",
               [](const json& r) { print_table(r.value("api_keys", json::array()), kKeyColumns); });

  auto* update_user = add("update-user", "Change a user's name, email, roles or flags");
  update_user->add_option("--user-id,-i", user_id, "user id")->required();
  update_user->add_option("--workspace,-w", workspace, "require the user to be in this workspace");
  update_user->add_option("--name", name, "display name");
  update_user->add_option("--email", email, "email address");
  update_user->add_option("--role,-r", roles, "replace the roles (repeatable)");
  update_user->add_option("--enabled", enabled, "true or false (false also revokes its API keys)");
  update_user->add_option("--must-change-password", must_change, "true or false");
  commands.back().request = [&](Backend& b) {
    json user = json::object();
    if (!name.empty()) user["name"] = name;
    if (!email.empty()) user["email"] = email;
    if (!roles.empty()) user["roles"] = roles;
    if (enabled) user["enabled"] = *enabled;
    if (must_change) user["must_change_password"] = *must_change;
    json req = {{"operation", "update-user"}, {"user_id", user_id}, {"user", user}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return b.call(req);
  };
  commands.back().print = record_out("user");

  // API keys
  auto* create_key = add("create-api-key", "Create an API key for a user; prints it (shown once)");
  create_key->add_option("--user-id,-i", user_id, "user id")->required();
  create_key->add_option("--name,-n", name, "a name to recognise the key by")->required();
  create_key->add_option("--expires", expires, "expiry, ISO 8601: 2031-12-31 (midnight UTC) or 2031-12-31T23:59[:SS][Z or ±HH:MM] (default: never)");
  create_key->add_option("--workspace,-w", workspace, "require the user to be in this workspace");
  commands.back().request = [&](Backend& b) {
    json req = {{"operation", "create-api-key"}, {"key", {{"user_id", user_id}, {"name", name}, {"expires", expires}}}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return b.call(req);
  };
  commands.back().print = [](const json& r) {
    const json key = r.value("api_key", json::object());
    std::cerr << "API key " << shown(key, "id") << " (" << shown(key, "prefix") << "…) for user "
              << shown(key, "user_id") << "; store it now, it is shown only once\n";
    std::cout << shown(r, "api_key_plaintext") << "\n";
  };

  auto* revoke_key = add("revoke-api-key", "Revoke (delete) an API key");
  revoke_key->add_option("--key-id,-k", key_id, "API key id")->required();
  revoke_key->add_option("--workspace,-w", workspace, "require the key's user to be in this workspace");
  commands.back().request = [&](Backend& b) {
    json req = {{"operation", "revoke-api-key"}, {"key_id", key_id}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return b.call(req);
  };
  commands.back().print = done_out("revoked");

  // workspaces
  auto* create_ws = add("create-workspace", "Create a workspace (an existing id is returned unchanged)");
  create_ws->add_option("--id", ws_id, "workspace id")->required();
  create_ws->add_option("--name", name, "display name");
  create_ws->add_flag("--disabled", flag_disabled, "create it disabled");
  commands.back().request = [&](Backend& b) {
    json record = {{"id", ws_id}, {"enabled", !flag_disabled}};
    if (!name.empty()) record["name"] = name;
    return b.call({{"operation", "create-workspace"}, {"workspace_record", record}});
  };
  commands.back().print = record_out("workspace");

  add("list-workspaces", "List workspaces");
  commands.back().request = simple("list-workspaces");
  commands.back().print = [](const json& r) { print_table(r.value("workspaces", json::array()), kWorkspaceColumns); };

  auto* get_ws = add("get-workspace", "Show a workspace");
  get_ws->add_option("--id", ws_id, "workspace id")->required();
  commands.back().request = [&](Backend& b) {
    return b.call({{"operation", "get-workspace"}, {"workspace_record", {{"id", ws_id}}}});
  };
  commands.back().print = record_out("workspace");

  auto* update_ws = add("update-workspace", "Rename, enable or disable a workspace");
  update_ws->add_option("--id", ws_id, "workspace id")->required();
  update_ws->add_option("--name", name, "display name");
  update_ws->add_option("--enabled", enabled, "true or false (false disables its users and revokes their keys)");
  commands.back().request = [&](Backend& b) {
    json record = {{"id", ws_id}};
    if (!name.empty()) record["name"] = name;
    if (enabled) record["enabled"] = *enabled;
    return b.call({{"operation", "update-workspace"}, {"workspace_record", record}});
  };
  commands.back().print = record_out("workspace");

  auto* disable_ws = add("disable-workspace", "Disable a workspace, its users and their API keys");
  disable_ws->add_option("--id", ws_id, "workspace id")->required();
  commands.back().request = [&](Backend& b) {
    return b.call({{"operation", "disable-workspace"}, {"workspace_record", {{"id", ws_id}}}});
  };
  commands.back().print = done_out("disabled");

  // signing keys
  add("rotate-signing-key", "Make a new JWT signing key; the old one verifies through its grace period");
  commands.back().request = simple("rotate-signing-key");
  commands.back().print = done_out("rotated");

  add("list-signing-keys", "List the JWT signing keys: next, current, retired (with the end of its grace period)");
  commands.back().request = simple("list-signing-keys");
  commands.back().print = [](const json& r) { print_table(r.value("signing_keys", json::array()), kSigningKeyColumns); };

  // Local only: it is about the files of a store, not an IAM operation.
  auto* rotate_kek = app.add_subcommand(
      "rotate-key-encryption-key",
      "Re-encrypt the store's signing keys under a new key-encryption key and replace the key file (local store "
      "only; stop every gateway on the store first)");
  add_store_options(*rotate_kek, o.store);
  const iamctl::AuditVerify audit_verify(app);  // local files only

  add("jwks", "Print the JWKS document of every signing key still verifying");
  commands.back().request = [](Backend& b) { return b.jwks(); };
  commands.back().print = [](const json& r) { std::cout << json_text(r, 2) << "\n"; };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  int code = kExitUsage;
  try {
    if (stdio->parsed()) {
      if (const auto url = first_set(o.url, "--url", {"IAM_URL", "TRUSTGRAPH_URL"}))
        throw UsageError{"stdio serves a local store only; it cannot be combined with a gateway URL (" +
                         url->source + ")"};
      return iamctl::serve_stdio(o.store);
    }
    if (audit_verify.parsed()) return audit_verify.run();
    if (rotate_kek->parsed()) {
      auto rotated = examples::rotate_key_encryption_key(o.store);
      if (!rotated.ok()) {
        if (rotated.error().code == iam::ErrorCode::internal_error) throw std::runtime_error(rotated.error().message);
        throw UsageError{rotated.error().message};
      }
      std::cerr << "iamctl: the signing keys are now sealed with the new key in " << *rotated
                << "; back it up. Database backups taken before still need the previous key.\n";
      return 0;
    }
    for (auto& command : commands) {
      if (!command.app->parsed()) continue;
      const auto url = first_set(o.url, "--url", {"IAM_URL", "TRUSTGRAPH_URL"});
      const auto token = first_set(o.token, "--token", {"IAM_TOKEN", "TRUSTGRAPH_TOKEN"});
      std::unique_ptr<Backend> backend;
      if (url) {
        backend = open_remote(command, *url, token);
      } else {
        auto local = std::make_unique<iamctl::LocalBackend>(o.store, /*admin_default=*/true);
        if (command.self_service) {
          if (!token) throw UsageError{command.app->get_name() + " needs --token (or $IAM_TOKEN)"};
          if (!local->act_as(token->value)) {
            std::cerr << "iamctl: auth-failed: the token was not accepted\n";
            return kExitRefused;
          }
        }
        backend = std::move(local);
      }
      const Reply reply = command.request(*backend);
      code = report(reply, o, command.print);
      break;
    }
  } catch (const UsageError& e) {
    std::cerr << "iamctl: " << shown(e.message) << "\n";
    code = kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "iamctl: internal error: " << shown(e.what()) << "\n";
    code = kExitInternal;
  }
  iam::wipe(password);
  iam::wipe(new_password);
  iam::wipe(o.token);
  return code;
}
