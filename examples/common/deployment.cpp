#include "deployment.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "iam/chain.h"
#include "iam/noauth.h"
#include "iam/oidc.h"
#include "iam/sqlite_store.h"
#include "iam/store.h"

namespace examples {
namespace {

bool is_postgres(std::string_view spec) { return spec.starts_with("postgres:") || spec.starts_with("postgresql://"); }

iam::Error key_file_error(const std::string& path, const std::string& problem) {
  return iam::Error{iam::ErrorCode::invalid_argument, "key-encryption key file " + path + ": " + problem};
}

std::string errno_text() { return std::strerror(errno); }

// Makes a rename or link into `path`'s directory survive a crash.
void sync_directory_of(const std::string& path) {
  const auto dir = std::filesystem::path(path).parent_path();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

struct KeyFile {
  iam::SecretBytes key;
  bool created = false;  // false: another process had written it first
};

// Writes a new random key to `path` unless a file is there. It is written to a temporary
// file (mode 0600) and linked into place, so no process ever reads half a key and of two
// processes starting at once one key wins.
iam::Result<KeyFile> create_key_file(const std::string& path) {
  std::string temporary = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temporary.data());
  if (fd < 0) return key_file_error(path, "cannot be created: " + errno_text());
  iam::SecretBytes key(iam::sqlite_encryption_key_bytes);
  randombytes_buf(key.data(), key.size());
  iam::SecretBytes text(2 * key.size() + 1);  // hex, then a newline where bin2hex puts its NUL
  sodium_bin2hex(reinterpret_cast<char*>(text.data()), text.size(), key.data(), key.size());
  text.data()[text.size() - 1] = '\n';
  bool written = ::fchmod(fd, 0600) == 0;
  for (std::size_t done = 0; written && done < text.size();) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    written = n > 0;
    if (written) done += static_cast<std::size_t>(n);
  }
  written = written && ::fsync(fd) == 0;
  const std::string problem = written ? "" : errno_text();
  ::close(fd);
  if (!written) {
    ::unlink(temporary.c_str());
    return key_file_error(path, "cannot be written: " + problem);
  }
  const bool linked = ::link(temporary.c_str(), path.c_str()) == 0;
  const int link_errno = errno;
  ::unlink(temporary.c_str());
  if (!linked && link_errno == EEXIST) {
    IAM_ASSIGN_OR_RETURN(auto existing, iam::load_key_file(path));
    return KeyFile{std::move(existing), false};
  }
  if (!linked) return key_file_error(path, "cannot be created: " + std::string(std::strerror(link_errno)));
  sync_directory_of(path);
  return KeyFile{std::move(key), true};
}

struct OpenedStore {
  std::shared_ptr<iam::Repository> repository;
  std::string created_key_file;
};

// Opens the store with its key file, creating the file on first use (see deployment.h).
iam::Result<OpenedStore> open_store(const DeploymentOptions& o) {
  IAM_ASSIGN_OR_RETURN(const std::string path, key_file_path(o));
  if (path.empty()) {
    IAM_ASSIGN_OR_RETURN(auto opened, iam::make_repository(o.store, std::nullopt));
    return OpenedStore{std::move(opened), {}};
  }
  auto open_with_file = [&]() -> iam::Result<OpenedStore> {
    IAM_ASSIGN_OR_RETURN(auto key, iam::load_key_file(path));
    auto opened = iam::make_repository(o.store, std::move(key));
    if (!opened.ok()) {
      auto error = std::move(opened).error();
      if (error.code == iam::ErrorCode::invalid_argument) error.message += " (key file " + path + ")";
      return error;
    }
    return OpenedStore{std::move(opened).value(), {}};
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return open_with_file();
  if (errno != ENOENT) return key_file_error(path, "cannot be read: " + errno_text());
  // No key file: only a store holding no encrypted keys may have one made for it. A store
  // refuses to open without a key exactly when it holds encrypted keys (invalid_argument).
  {
    auto probe = iam::make_repository(o.store, std::nullopt);
    if (!probe.ok()) {
      auto error = std::move(probe).error();
      if (error.code != iam::ErrorCode::invalid_argument) return error;
      // Another process starting at the same time may have made the file and sealed the store since.
      if (::stat(path.c_str(), &st) == 0) return open_with_file();
      return key_file_error(path, "missing, and the store holds signing keys encrypted with it: restore the file "
                                   "from its backup, or name it with --key-file (" + error.message + ")");
    }
  }
  IAM_ASSIGN_OR_RETURN(auto created, create_key_file(path));
  IAM_ASSIGN_OR_RETURN(auto opened, iam::make_repository(o.store, std::move(created.key)));
  return OpenedStore{std::move(opened), created.created ? path : std::string()};
}

iam::Error usage(std::string message) { return iam::Error{iam::ErrorCode::invalid_argument, std::move(message)}; }

bool is_oidc_mode(std::string_view regime) { return regime == "oidc" || regime == "roles+oidc"; }

// The --oidc-config file's text. A config file is small: a larger one is refused unread.
iam::Result<std::string> read_oidc_config_file(const std::string& path) {
  constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;
  std::error_code size_error;
  const auto size = std::filesystem::file_size(path, size_error);
  if (size_error) return usage("--oidc-config " + path + ": cannot be read: " + size_error.message());
  if (size > kMaxConfigBytes) return usage("--oidc-config " + path + ": larger than 1 MiB");
  std::ifstream file(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file.good() && !file.eof()) return usage("--oidc-config " + path + ": cannot be read");
  return text;
}

// The OIDC regime of the --oidc-config file; errors name the file and the field at fault.
iam::Result<std::shared_ptr<iam::OidcRegime>> open_oidc_regime(const DeploymentOptions& o, iam::Logger logger) {
  IAM_ASSIGN_OR_RETURN(const std::string text, read_oidc_config_file(o.oidc_config));
  auto config = iam::parse_oidc_config(text);
  if (!config) return usage("--oidc-config " + o.oidc_config + ": " + config.error().message);
  iam::OidcOptions options;
  if (logger) options.logger = std::move(logger);
  if (o.audit) options.audit = o.audit;  // --audit-log: the OIDC regime's events go where the roles regime's do
  auto regime = iam::make_oidc_regime(std::move(*config), std::move(options));
  if (!regime) return usage("--oidc-config " + o.oidc_config + ": " + regime.error().message);
  return std::move(*regime);
}

// The --regime and --oidc-config flags agree: the file is needed by the oidc modes and
// refused by the others (a file given but never read would look trusted).
iam::Status check_regime_flags(const DeploymentOptions& o) {
  if (o.regime != "roles" && o.regime != "noauth" && !is_oidc_mode(o.regime))
    return usage("--regime must be roles, noauth, oidc or roles+oidc");
  if (is_oidc_mode(o.regime) && o.oidc_config.empty()) return usage("--regime " + o.regime + " needs --oidc-config FILE");
  if (!is_oidc_mode(o.regime) && !o.oidc_config.empty())
    return usage("--oidc-config is only for --regime oidc or roles+oidc (not " + o.regime + ")");
  return {};
}

}  // namespace

iam::Result<std::string> key_file_path(const DeploymentOptions& o) {
  if (o.store == "memory") return std::string();  // nothing is stored
  if (!o.key_file.empty()) return o.key_file;
  if (const char* from_env = std::getenv(iam::sqlite_key_file_env); from_env && *from_env) return std::string(from_env);
  if (o.store.starts_with("sqlite:")) {
    const std::filesystem::path store = o.store.substr(7);
    if (store.empty()) return std::string();  // make_repository says what is wrong
    auto key = store;
    key.replace_extension(".key");
    if (key == store) key += ".key";
    return key.string();
  }
  if (is_postgres(o.store))
    return iam::Error{iam::ErrorCode::invalid_argument,
                      "a postgres store needs its key-encryption key file named: --key-file PATH or $" +
                          std::string(iam::sqlite_key_file_env) +
                          " (the same file for every process using the database; created there on first use)"};
  return std::string();  // an unknown kind: make_repository says so
}

iam::Result<std::string> rotate_key_encryption_key(const DeploymentOptions& o) {
  IAM_ASSIGN_OR_RETURN(std::string path, key_file_path(o));
  if (path.empty())
    return iam::Error{iam::ErrorCode::invalid_argument, "the store " + o.store + " has no key-encryption key"};
  IAM_ASSIGN_OR_RETURN(auto current, iam::load_key_file(path));
  const std::string next_path = path + ".new";
  IAM_ASSIGN_OR_RETURN(auto next, create_key_file(next_path));
  if (!next.created)
    return key_file_error(next_path, "exists: an earlier rotation was interrupted. If the store opens with it (--key-file " +
                                         next_path + "), rename it to " + path + "; otherwise delete it");
  auto rekeyed = iam::make_repository(o.store, current.copy(), std::move(next.key));
  if (!rekeyed.ok()) {
    // Unchanged (it still opens with the current key): the new key is not needed.
    if (iam::make_repository(o.store, std::move(current)).ok()) ::unlink(next_path.c_str());
    return std::move(rekeyed).error();
  }
  rekeyed->reset();
  if (::rename(next_path.c_str(), path.c_str()) != 0)
    return key_file_error(next_path, "the store was re-encrypted under this key, but it cannot be renamed to " +
                                         path + " (" + errno_text() + "): rename it by hand");
  sync_directory_of(path);
  return path;
}

void add_deployment_options(CLI::App& app, DeploymentOptions& o, const std::string& store_note) {
  app.add_option("--store", o.store, "memory | sqlite:PATH | postgres:CONNINFO" + store_note)->capture_default_str();
  app.add_option("--regime", o.regime,
                 "roles | noauth | oidc | roles+oidc (noauth: development only, allows everything; oidc: trust the "
                 "identity providers of --oidc-config; roles+oidc: both, the providers' tokens to oidc)")
      ->capture_default_str();
  app.add_option("--oidc-config", o.oidc_config, "the OIDC regime's JSON file (docs/oidc.md); --regime oidc or roles+oidc only");
  app.add_option("--bootstrap-mode", o.bootstrap_mode, "token | bootstrap (default: $IAM_BOOTSTRAP_MODE)");
  app.add_option("--bootstrap-token", o.bootstrap_token,
                 "admin API key for token mode (prefer $IAM_BOOTSTRAP_TOKEN: arguments show in ps)");
  app.add_option("--jwt-lifetime", o.jwt_lifetime, "seconds a login JWT lives")->capture_default_str();
  app.add_option("--key-grace", o.key_grace, "seconds a retired signing key keeps verifying (min lifetime+60)");
  app.add_option("--password-iterations", o.password_iterations, "PBKDF2 iterations for new hashes (>= 600000)")
      ->capture_default_str();
  app.add_option("--key-file", o.key_file,
                 "key-encryption key file sealing the signing keys, created (0600) on first use (default: "
                 "$IAM_KEY_ENCRYPTION_KEY_FILE, else for sqlite:PATH the PATH with extension .key)");
}

iam::Result<Deployment> open_deployment(DeploymentOptions& o, std::optional<iam::BootstrapMode> fallback_mode,
                                        iam::Logger logger) {
  IAM_RETURN_IF_ERROR(check_regime_flags(o));
  // The file is checked before the store is touched: a typo in it changes nothing on disk.
  std::shared_ptr<iam::OidcRegime> oidc;
  if (is_oidc_mode(o.regime)) {
    IAM_ASSIGN_OR_RETURN(oidc, open_oidc_regime(o, logger));
    if (o.regime == "oidc") return Deployment{oidc, nullptr, oidc, std::make_shared<StoreMeter>(), {}};  // users live in the providers
  }
  IAM_ASSIGN_OR_RETURN(auto opened, open_store(o));
  auto meter = std::make_shared<StoreMeter>();
  std::shared_ptr<iam::Repository> repository = std::make_shared<MeteredRepository>(std::move(opened.repository), meter);
  if (o.regime == "noauth")
    return Deployment{iam::make_noauth_regime(iam::NoauthConfig{}), nullptr, nullptr, meter, opened.created_key_file};

  iam::RolesConfig config;
  config.repository = std::move(repository);
  if (!o.bootstrap_mode.empty()) {
    config.bootstrap_mode = iam::parse_bootstrap_mode(o.bootstrap_mode);
    if (!config.bootstrap_mode)
      return iam::Error{iam::ErrorCode::invalid_argument, "--bootstrap-mode must be token or bootstrap"};
  } else if (fallback_mode && !std::getenv("IAM_BOOTSTRAP_MODE")) {
    config.bootstrap_mode = fallback_mode;
  }
  if (!o.bootstrap_token.empty()) {
    config.bootstrap_token = iam::SecretString(std::string_view(o.bootstrap_token));
    sodium_memzero(o.bootstrap_token.data(), o.bootstrap_token.size());
    o.bootstrap_token.clear();
  }
  config.jwt.lifetime = std::chrono::seconds(o.jwt_lifetime);
  config.jwt.grace = std::chrono::seconds(o.key_grace);
  config.password_iterations = o.password_iterations;
  if (logger) config.logger = std::move(logger);
  if (o.audit) config.audit = o.audit;
  IAM_ASSIGN_OR_RETURN(auto roles, iam::make_roles_regime(std::move(config)));
  if (oidc) {
    // OIDC first: it recognises only JWTs whose `iss` it trusts; the roles regime takes the rest.
    IAM_ASSIGN_OR_RETURN(auto chain, iam::make_chain_regime({oidc, roles}));
    return Deployment{std::move(chain), roles, oidc, meter, opened.created_key_file};
  }
  return Deployment{roles, roles, nullptr, meter, opened.created_key_file};
}

}  // namespace examples
