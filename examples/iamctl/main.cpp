// iamctl — the admin command line of an embedded iam deployment.
//
//   iamctl stdio --store memory --bootstrap-mode bootstrap
//
// reads one IAM request per line on stdin and writes exactly one JSON response line per
// request on stdout, flushed after each. Requests are trusted, as on TrustGraph's service
// bus: `actor` is taken from the request. Logs go to stderr only.
//
// Exit codes: 0 success, 1 refused operation, 2 usage or configuration error, 3 internal
// failure (e.g. the store cannot be opened).
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "iam/iam.h"
#include "iam/noauth.h"
#include "iam/protocol.h"
#include "iam/store.h"

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInternal = 3;
constexpr std::size_t kMaxLineBytes = 1 << 20;

struct RegimeOptions {
  std::string store = "sqlite:./iam.db";
  std::string regime = "roles";
  std::string bootstrap_mode;   // empty: IAM_BOOTSTRAP_MODE
  std::string bootstrap_token;  // empty: IAM_BOOTSTRAP_TOKEN
  int jwt_lifetime = 3600;
  int key_grace = 0;
  std::uint32_t password_iterations = iam::minimum_password_iterations;
};

void add_regime_options(CLI::App& cmd, RegimeOptions& o) {
  cmd.add_option("--store", o.store, "memory | sqlite:PATH | postgres:CONNINFO")->capture_default_str();
  cmd.add_option("--regime", o.regime, "roles | noauth")->capture_default_str();
  cmd.add_option("--bootstrap-mode", o.bootstrap_mode, "token | bootstrap (default: $IAM_BOOTSTRAP_MODE)");
  cmd.add_option("--bootstrap-token", o.bootstrap_token,
                 "the admin API key in token mode (prefer $IAM_BOOTSTRAP_TOKEN: arguments are visible to ps)");
  cmd.add_option("--jwt-lifetime", o.jwt_lifetime, "JWT lifetime in seconds")->capture_default_str();
  cmd.add_option("--key-grace", o.key_grace, "seconds a retired signing key keeps verifying (min lifetime+60)");
  cmd.add_option("--password-iterations", o.password_iterations, "PBKDF2 iterations for new hashes (>= 600000)")
      ->capture_default_str();
}

struct Opened {
  std::shared_ptr<iam::Regime> regime;
  int exit_code = 0;
};

Opened open_regime(RegimeOptions& o) {
  auto repository = iam::open_repository(o.store);
  if (!repository) {
    std::cerr << "iamctl: " << repository.error().message << "\n";
    return {nullptr, repository.error().code == iam::ErrorCode::internal_error ? kExitInternal : kExitUsage};
  }
  if (o.regime == "noauth") {
    iam::NoauthConfig config;
    return {iam::make_noauth_regime(std::move(config)), 0};
  }
  if (o.regime != "roles") {
    std::cerr << "iamctl: unknown regime '" << o.regime << "' (roles | noauth)\n";
    return {nullptr, kExitUsage};
  }
  iam::RolesConfig config;
  config.repository = std::move(*repository);
  if (!o.bootstrap_mode.empty()) {
    config.bootstrap_mode = iam::parse_bootstrap_mode(o.bootstrap_mode);
    if (!config.bootstrap_mode) {
      std::cerr << "iamctl: --bootstrap-mode must be token or bootstrap\n";
      return {nullptr, kExitUsage};
    }
  }
  if (!o.bootstrap_token.empty()) config.bootstrap_token = iam::SecretString(std::move(o.bootstrap_token));
  config.jwt.lifetime = std::chrono::seconds(o.jwt_lifetime);
  config.jwt.grace = std::chrono::seconds(o.key_grace);
  config.password_iterations = o.password_iterations;
  auto regime = iam::RolesRegime::create(std::move(config));
  if (!regime) {
    std::cerr << "iamctl: " << regime.error().message << "\n";
    return {nullptr, regime.error().code == iam::ErrorCode::internal_error ? kExitInternal : kExitUsage};
  }
  return {std::move(*regime), 0};
}

int run_stdio(RegimeOptions& options) {
  auto opened = open_regime(options);
  if (!opened.regime) return opened.exit_code;
  const iam::JsonDispatcher dispatcher(opened.regime);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not requests
    std::string response = line.size() > kMaxLineBytes
                                ? R"({"error":{"type":"invalid-argument","message":"request line too long"}})"
                                : dispatcher.handle(line);
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
  RegimeOptions options;

  auto* stdio = app.add_subcommand("stdio", "Serve IAM requests as JSON lines on stdin/stdout");
  add_regime_options(*stdio, options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (stdio->parsed()) return run_stdio(options);
  return kExitRefused;
}
