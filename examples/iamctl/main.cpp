// iamctl — the admin command line of an iam deployment.
//
//   iamctl stdio --store memory --bootstrap-mode bootstrap   JSON lines on stdin/stdout
//   iamctl create-user --store sqlite:./iam.db --username alice --role writer
//   KEY=$(iamctl create-api-key --user-id ID --name laptop)
//
// Subcommands mirror TrustGraph's tg-* IAM tools. A one-time secret (API key, temporary
// password, JWT) is the only thing printed on stdout; context goes to stderr. Passwords
// are prompted for without echo when not given (read from stdin when it is not a
// terminal). Against a local store, commands are trusted administrator actions (no
// actor); whoami, change-password and list-my-workspaces act on the user whose --token
// is given.
//
// Exit codes: 0 success, 1 refused operation, 2 usage or configuration error, 3 internal
// failure.
#include <CLI/CLI.hpp>
#include <termios.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "iam/iam.h"
#include "iam/noauth.h"
#include "iam/protocol.h"
#include "iam/store.h"

namespace {

using nlohmann::json;

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInternal = 3;
constexpr std::size_t kMaxLineBytes = 1 << 20;

struct UsageError {
  std::string message;
};

// ---------------------------------------------------------------- options

struct Options {
  std::string store = "sqlite:./iam.db";
  std::string regime = "roles";
  std::string bootstrap_mode;   // empty: $IAM_BOOTSTRAP_MODE
  std::string bootstrap_token;  // empty: $IAM_BOOTSTRAP_TOKEN
  int jwt_lifetime = 3600;
  int key_grace = 0;
  std::uint32_t password_iterations = iam::minimum_password_iterations;
  bool json_output = false;
  std::string token;  // the caller's credential, for commands that act on "me"
};

void add_store_options(CLI::App& cmd, Options& o) {
  cmd.add_option("--store", o.store, "memory | sqlite:PATH | postgres:CONNINFO")->capture_default_str();
  cmd.add_option("--regime", o.regime, "roles | noauth")->capture_default_str();
  cmd.add_option("--bootstrap-mode", o.bootstrap_mode, "token | bootstrap (default: $IAM_BOOTSTRAP_MODE)");
  cmd.add_option("--bootstrap-token", o.bootstrap_token,
                 "admin API key for token mode (prefer $IAM_BOOTSTRAP_TOKEN: arguments show in ps)");
  cmd.add_option("--jwt-lifetime", o.jwt_lifetime, "JWT lifetime in seconds")->capture_default_str();
  cmd.add_option("--key-grace", o.key_grace, "seconds a retired signing key keeps verifying (min lifetime+60)");
  cmd.add_option("--password-iterations", o.password_iterations, "PBKDF2 iterations for new hashes (>= 600000)")
      ->capture_default_str();
}

// ---------------------------------------------------------------- reaching IAM

class Session {
 public:
  // admin_default: administrator subcommands on a local store default to bootstrap mode
  // (which seeds nothing); the stdio service, like a gateway, needs the mode said.
  static Session open(Options& o, bool admin_default) {
    auto repository = iam::open_repository(o.store);
    if (!repository) {
      if (repository.error().code == iam::ErrorCode::internal_error) throw std::runtime_error(repository.error().message);
      throw UsageError{repository.error().message};
    }
    if (o.regime == "noauth") return Session(iam::make_noauth_regime(iam::NoauthConfig{}), nullptr);
    if (o.regime != "roles") throw UsageError{"unknown regime '" + o.regime + "' (roles | noauth)"};
    iam::RolesConfig config;
    config.repository = std::move(*repository);
    if (!o.bootstrap_mode.empty()) {
      config.bootstrap_mode = iam::parse_bootstrap_mode(o.bootstrap_mode);
      if (!config.bootstrap_mode) throw UsageError{"--bootstrap-mode must be token or bootstrap"};
    } else if (admin_default && !std::getenv("IAM_BOOTSTRAP_MODE")) {
      config.bootstrap_mode = iam::BootstrapMode::bootstrap;
    }
    if (!o.bootstrap_token.empty()) config.bootstrap_token = iam::SecretString(std::move(o.bootstrap_token));
    config.jwt.lifetime = std::chrono::seconds(o.jwt_lifetime);
    config.jwt.grace = std::chrono::seconds(o.key_grace);
    config.password_iterations = o.password_iterations;
    auto regime = iam::RolesRegime::create(std::move(config));
    if (!regime) {
      if (regime.error().code == iam::ErrorCode::internal_error) throw std::runtime_error(regime.error().message);
      throw UsageError{regime.error().message};
    }
    auto roles = *regime;
    return Session(std::move(*regime), std::move(roles));
  }

  json call(json request) const {
    if (actor_) request["actor"] = *actor_;
    return json::parse(dispatcher_.handle(request.dump()));
  }
  // Later requests are made on behalf of this user (self-service commands).
  void act_as(std::string user_id) { actor_ = std::move(user_id); }

  // The user a --token stands for, as the actor of a self-service request.
  std::optional<std::string> actor_for(std::string_view token) const {
    auto identity = dispatcher_.regime()->authenticate(token);
    if (!identity) return std::nullopt;
    return identity->handle;
  }

  const iam::JsonDispatcher& dispatcher() const { return dispatcher_; }
  const std::shared_ptr<iam::RolesRegime>& roles() const { return roles_; }

 private:
  Session(std::shared_ptr<iam::Regime> regime, std::shared_ptr<iam::RolesRegime> roles)
      : dispatcher_(std::move(regime)), roles_(std::move(roles)) {}
  iam::JsonDispatcher dispatcher_;
  std::shared_ptr<iam::RolesRegime> roles_;
  std::optional<std::string> actor_;
};

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

std::string text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
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
    std::cout << key << std::string(width - key.size() + 2, ' ') << text_of(value) << "\n";
}

const std::vector<std::pair<std::string, std::string>> kUserColumns = {
    {"id", "ID"}, {"username", "USERNAME"}, {"name", "NAME"}, {"workspace", "WORKSPACE"},
    {"roles", "ROLES"}, {"enabled", "ENABLED"}, {"must_change_password", "MUST CHANGE PASSWORD"}};
const std::vector<std::pair<std::string, std::string>> kWorkspaceColumns = {
    {"id", "ID"}, {"name", "NAME"}, {"enabled", "ENABLED"}, {"created", "CREATED"}};
const std::vector<std::pair<std::string, std::string>> kKeyColumns = {
    {"id", "ID"}, {"name", "NAME"}, {"prefix", "PREFIX"}, {"expires", "EXPIRES"},
    {"created", "CREATED"}, {"last_used", "LAST USED"}};

// ---------------------------------------------------------------- commands

struct Command {
  CLI::App* app = nullptr;
  std::function<json(const Session&, Options&)> request;  // builds and sends the request
  std::function<void(const json&)> print;                 // prints a successful response
  bool self_service = false;                              // needs --token for the actor
};

int report(const json& response, const Options& o, const std::function<void(const json&)>& print) {
  if (response.contains("error")) {
    const json& error = response["error"];
    const std::string type = error.is_object() ? error.value("type", "internal-error") : "internal-error";
    const std::string message = error.is_object() ? error.value("message", "") : text_of(error);
    if (o.json_output) std::cout << response.dump() << "\n";
    std::cerr << "iamctl: " << type << ": " << message << "\n";
    return type == "internal-error" ? kExitInternal : kExitRefused;
  }
  if (o.json_output) {
    std::cout << response.dump() << "\n";
  } else {
    print(response);
  }
  return 0;
}

int run_stdio(Options& options) {
  const Session session = Session::open(options, /*admin_default=*/false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not requests
    std::string response = line.size() > kMaxLineBytes
                                ? R"({"error":{"type":"invalid-argument","message":"request line too long"}})"
                                : session.dispatcher().handle(line);
    iam::wipe(line);  // it may have held a password
    response += '\n';
    std::cout << response << std::flush;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"iamctl: administer an iam deployment"};
  app.require_subcommand(1);
  Options o;

  auto* stdio = app.add_subcommand("stdio", "Serve IAM requests as JSON lines on stdin/stdout");
  add_store_options(*stdio, o);

  std::vector<Command> commands;
  // Fields the subcommands fill in.
  std::string username, password, new_password, workspace, user_id, name, email, key_id, expires, ws_id;
  std::vector<std::string> roles;
  std::optional<bool> enabled, must_change;
  bool flag_must_change = false, flag_disabled = false;

  auto add = [&](const char* cmd_name, const char* help) {
    CLI::App* cmd = app.add_subcommand(cmd_name, help);
    add_store_options(*cmd, o);
    cmd->add_flag("--json", o.json_output, "print the raw JSON response");
    commands.push_back(Command{cmd, nullptr, nullptr, false});
    return cmd;
  };
  auto secret_out = [](const char* field, const char* context) {
    return [field, context](const json& r) {
      std::cerr << context << "\n";
      std::cout << r.value(field, "") << "\n";
    };
  };
  auto record_out = [](const char* field) { return [field](const json& r) { print_record(r.value(field, json::object())); }; };
  auto done_out = [](const char* what) { return [what](const json&) { std::cerr << what << "\n"; }; };

  // bootstrap
  add("bootstrap", "Create the first administrator (bootstrap mode, empty store); prints its API key");
  commands.back().request = [](const Session& s, Options&) { return s.call({{"operation", "bootstrap"}}); };
  commands.back().print = [](const json& r) {
    std::cerr << "admin user id: " << r.value("bootstrap_admin_user_id", "") << "\n";
    std::cout << r.value("bootstrap_admin_api_key", "") << "\n";
  };

  // login
  auto* login = add("login", "Log in with a password; prints a JWT");
  login->add_option("--username,-u", username, "username")->required();
  login->add_option("--password", password, "password (prompted for without echo when omitted)");
  login->add_option("--workspace,-w", workspace, "workspace to bind the token to");
  commands.back().request = [&](const Session& s, Options&) {
    if (password.empty()) password = read_secret("Password: ");
    json req = {{"operation", "login"}, {"username", username}, {"password", password}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return s.call(req);
  };
  commands.back().print = [](const json& r) {
    std::cerr << "expires: " << r.value("jwt_expires", "") << "\n";
    std::cout << r.value("jwt", "") << "\n";
  };

  // whoami
  auto* whoami = add("whoami", "Show the user a credential belongs to");
  whoami->add_option("--token,-t", o.token, "API key or JWT (default: $IAM_TOKEN)")->envname("IAM_TOKEN")->required();
  commands.back().self_service = true;
  commands.back().request = [](const Session& s, Options&) { return s.call({{"operation", "whoami"}}); };
  commands.back().print = record_out("user");

  // users
  auto* create_user = add("create-user", "Create a user");
  create_user->add_option("--username,-u", username, "username (unique, case-insensitive)")->required();
  create_user->add_option("--name", name, "display name");
  create_user->add_option("--email", email, "email address");
  create_user->add_option("--password", password, "initial password (prompted for without echo when omitted)");
  create_user->add_option("--role,-r", roles, "role (repeatable; default reader)");
  create_user->add_option("--workspace,-w", workspace, "home workspace")->default_val("default");
  create_user->add_flag("--must-change-password", flag_must_change, "force a password change at next login");
  commands.back().request = [&](const Session& s, Options&) {
    if (password.empty()) password = read_secret("Password for " + username + ": ");
    json user = {{"username", username}, {"password", password}, {"must_change_password", flag_must_change}};
    if (!name.empty()) user["name"] = name;
    if (!email.empty()) user["email"] = email;
    if (!roles.empty()) user["roles"] = roles;
    return s.call({{"operation", "create-user"}, {"workspace", workspace}, {"user", user}});
  };
  commands.back().print = record_out("user");

  auto* list_users = add("list-users", "List users");
  list_users->add_option("--workspace,-w", workspace, "only users of this workspace");
  commands.back().request = [&](const Session& s, Options&) {
    json req = {{"operation", "list-users"}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return s.call(req);
  };
  commands.back().print = [](const json& r) { print_table(r.value("users", json::array()), kUserColumns); };

  auto user_command = [&](const char* cmd_name, const char* help, const char* operation,
                          std::function<void(const json&)> print) {
    auto* cmd = add(cmd_name, help);
    cmd->add_option("--user-id,-i", user_id, "user id")->required();
    cmd->add_option("--workspace,-w", workspace, "require the user to be in this workspace");
    commands.back().request = [&, operation](const Session& s, Options&) {
      json req = {{"operation", operation}, {"user_id", user_id}};
      if (!workspace.empty()) req["workspace"] = workspace;
      return s.call(req);
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
  commands.back().request = [&](const Session& s, Options&) {
    json user = json::object();
    if (!name.empty()) user["name"] = name;
    if (!email.empty()) user["email"] = email;
    if (!roles.empty()) user["roles"] = roles;
    if (enabled) user["enabled"] = *enabled;
    if (must_change) user["must_change_password"] = *must_change;
    json req = {{"operation", "update-user"}, {"user_id", user_id}, {"user", user}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return s.call(req);
  };
  commands.back().print = record_out("user");

  auto* change_password = add("change-password", "Change your own password");
  change_password->add_option("--token,-t", o.token, "your API key or JWT (default: $IAM_TOKEN)")
      ->envname("IAM_TOKEN")
      ->required();
  change_password->add_option("--current-password", password, "(prompted for without echo when omitted)");
  change_password->add_option("--new-password", new_password, "(prompted for without echo when omitted)");
  commands.back().self_service = true;
  commands.back().request = [&](const Session& s, Options&) {
    if (password.empty()) password = read_secret("Current password: ");
    if (new_password.empty()) new_password = read_secret("New password: ");
    return s.call({{"operation", "change-password"}, {"password", password}, {"new_password", new_password}});
  };
  commands.back().print = done_out("password changed");

  // API keys
  auto* create_key = add("create-api-key", "Create an API key for a user; prints it (shown once)");
  create_key->add_option("--user-id,-i", user_id, "user id")->required();
  create_key->add_option("--name,-n", name, "a name to recognise the key by")->required();
  create_key->add_option("--expires", expires, "RFC 3339 UTC expiry (default: never)");
  create_key->add_option("--workspace,-w", workspace, "require the user to be in this workspace");
  commands.back().request = [&](const Session& s, Options&) {
    json req = {{"operation", "create-api-key"}, {"key", {{"user_id", user_id}, {"name", name}, {"expires", expires}}}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return s.call(req);
  };
  commands.back().print = [](const json& r) {
    const json key = r.value("api_key", json::object());
    std::cerr << "API key " << key.value("id", "") << " (" << key.value("prefix", "") << "…) for user "
              << key.value("user_id", "") << "; store it now, it is shown only once\n";
    std::cout << r.value("api_key_plaintext", "") << "\n";
  };

  auto* revoke_key = add("revoke-api-key", "Revoke (delete) an API key");
  revoke_key->add_option("--key-id,-k", key_id, "API key id")->required();
  revoke_key->add_option("--workspace,-w", workspace, "require the key's user to be in this workspace");
  commands.back().request = [&](const Session& s, Options&) {
    json req = {{"operation", "revoke-api-key"}, {"key_id", key_id}};
    if (!workspace.empty()) req["workspace"] = workspace;
    return s.call(req);
  };
  commands.back().print = done_out("revoked");

  // workspaces
  auto* create_ws = add("create-workspace", "Create a workspace (an existing id is returned unchanged)");
  create_ws->add_option("--id", ws_id, "workspace id")->required();
  create_ws->add_option("--name", name, "display name");
  create_ws->add_flag("--disabled", flag_disabled, "create it disabled");
  commands.back().request = [&](const Session& s, Options&) {
    json record = {{"id", ws_id}, {"enabled", !flag_disabled}};
    if (!name.empty()) record["name"] = name;
    return s.call({{"operation", "create-workspace"}, {"workspace_record", record}});
  };
  commands.back().print = record_out("workspace");

  add("list-workspaces", "List workspaces");
  commands.back().request = [](const Session& s, Options&) { return s.call({{"operation", "list-workspaces"}}); };
  commands.back().print = [](const json& r) { print_table(r.value("workspaces", json::array()), kWorkspaceColumns); };

  auto* get_ws = add("get-workspace", "Show a workspace");
  get_ws->add_option("--id", ws_id, "workspace id")->required();
  commands.back().request = [&](const Session& s, Options&) {
    return s.call({{"operation", "get-workspace"}, {"workspace_record", {{"id", ws_id}}}});
  };
  commands.back().print = record_out("workspace");

  auto* update_ws = add("update-workspace", "Rename, enable or disable a workspace");
  update_ws->add_option("--id", ws_id, "workspace id")->required();
  update_ws->add_option("--name", name, "display name");
  update_ws->add_option("--enabled", enabled, "true or false (false disables its users and revokes their keys)");
  commands.back().request = [&](const Session& s, Options&) {
    json record = {{"id", ws_id}};
    if (!name.empty()) record["name"] = name;
    if (enabled) record["enabled"] = *enabled;
    return s.call({{"operation", "update-workspace"}, {"workspace_record", record}});
  };
  commands.back().print = record_out("workspace");

  auto* disable_ws = add("disable-workspace", "Disable a workspace, its users and their API keys");
  disable_ws->add_option("--id", ws_id, "workspace id")->required();
  commands.back().request = [&](const Session& s, Options&) {
    return s.call({{"operation", "disable-workspace"}, {"workspace_record", {{"id", ws_id}}}});
  };
  commands.back().print = done_out("disabled");

  // signing keys
  add("rotate-signing-key", "Make a new JWT signing key; the old one verifies through its grace period");
  commands.back().request = [](const Session& s, Options&) { return s.call({{"operation", "rotate-signing-key"}}); };
  commands.back().print = done_out("rotated");

  add("jwks", "Print the JWKS document of every signing key still verifying");
  commands.back().request = [](const Session& s, Options&) -> json {
    if (!s.roles()) return {{"error", {{"type", "not-supported"}, {"message", "this regime has no signing keys"}}}};
    return json::parse(s.roles()->jwks());
  };
  commands.back().print = [](const json& r) { std::cout << r.dump(2) << "\n"; };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  try {
    if (stdio->parsed()) return run_stdio(o);
    for (auto& command : commands) {
      if (!command.app->parsed()) continue;
      Session session = Session::open(o, /*admin_default=*/true);
      if (command.self_service) {
        auto actor = session.actor_for(o.token);
        if (!actor) {
          std::cerr << "iamctl: auth-failed: the token was not accepted\n";
          return kExitRefused;
        }
        session.act_as(std::move(*actor));
      }
      const json response = command.request(session, o);
      const int code = report(response, o, command.print);
      iam::wipe(password);
      iam::wipe(new_password);
      return code;
    }
  } catch (const UsageError& e) {
    std::cerr << "iamctl: " << e.message << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "iamctl: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitUsage;
}
