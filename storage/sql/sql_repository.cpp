// The SQL repository core (storage/sql/sql_repository.h).
//
// Every statement is written once, in a neutral spelling that expand() turns into the
// dialect's: `{t}name` is a table, `{bytes:col}` a bytes column as the dialect selects it,
// `$n` a placeholder. The rules of repository.h are checked with explicit queries before
// each mutation writes (storage/preconditions.h); the schema's constraints stand behind
// them for races between processes.
#include "storage/sql/sql_repository.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "iam/key_at_rest.h"
#include "storage/key_at_rest.h"
#include "storage/preconditions.h"
#include "storage/username_keys.h"

namespace iam::sql {
namespace {

using storage_detail::key_opens_check;
using storage_detail::meta_key_check;
using storage_detail::meta_private_keys;
using storage_detail::seal;
using storage_detail::unseal;

std::string expand(const SqlDialect& d, std::string_view text) {
  std::string out;
  out.reserve(text.size() + 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '$') {
      out += d.placeholder;
    } else if (c == '{' && text.substr(i, 3) == "{t}") {
      out += d.table_prefix;
      i += 2;
    } else if (c == '{' && text.substr(i, 7) == "{bytes:") {
      const auto end = text.find('}', i);
      const auto column = text.substr(i + 7, end - i - 7);
      if (d.bytes_as_hex) out += "encode(" + std::string(column) + ", 'hex')";
      else out += column;
      i = end;
    } else {
      out += c;
    }
  }
  return out;
}

// Runs `body` on `s` between begin_schema_change() and end_schema_change(); rolled back
// unless commit() was reached.
class SchemaChange {
 public:
  explicit SchemaChange(SqlSession& s) : s_(s) { s_.begin_schema_change(); }
  ~SchemaChange() {
    if (!committed_) s_.rollback();
    s_.end_schema_change();
  }
  SchemaChange(const SchemaChange&) = delete;
  SchemaChange& operator=(const SchemaChange&) = delete;
  void commit() {
    s_.commit();
    committed_ = true;
  }

 private:
  SqlSession& s_;
  bool committed_ = false;
};

// A change's transaction: rolled back unless commit() was reached.
class Transaction {
 public:
  explicit Transaction(SqlSession& s) : s_(s) { s_.begin(); }
  ~Transaction() {
    if (!committed_) s_.rollback();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    s_.commit();
    committed_ = true;
  }

 private:
  SqlSession& s_;
  bool committed_ = false;
};

// Statements on one session, spelled for its dialect.
class Sql {
 public:
  Sql(SqlSession& s, const SqlDialect& d) : s_(s), d_(d) {}

  void query(std::string_view text, Params params, FunctionRef<void(const SqlRow&)> row) {
    s_.query(expand(d_, text), params, row);
  }
  std::int64_t execute(std::string_view text, Params params) { return s_.execute(expand(d_, text), params); }
  bool exists(std::string_view text, Params params) {
    bool found = false;
    query(text, params, [&](const SqlRow&) { found = true; });
    return found;
  }
  template <class T, class Read>
  std::vector<T> all(std::string_view text, Params params, Read read) {
    std::vector<T> out;
    query(text, params, [&](const SqlRow& r) { out.push_back(read(r)); });
    return out;
  }
  template <class T, class Read>
  Result<T> one(std::string_view text, Params params, Read read, std::string_view missing) {
    std::optional<T> out;
    query(text, params, [&](const SqlRow& r) { out = read(r); });
    if (!out) return Error{ErrorCode::not_found, std::string(missing)};
    return std::move(*out);
  }

  std::optional<std::vector<std::uint8_t>> read_meta(std::string_view name) {
    std::optional<std::vector<std::uint8_t>> value;
    query("SELECT {bytes:value} FROM {t}meta WHERE name = $1", {text(name)}, [&](const SqlRow& r) {
      const SecretBytes v = r.bytes(0);
      value.emplace(v.data(), v.data() + v.size());
    });
    return value;
  }
  void write_meta(std::string_view name, std::span<const std::uint8_t> value) {
    execute("INSERT INTO {t}meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            {text(name), bytes(value)});
  }
  bool key_fits(const SecretBytes& key) { return key_opens_check(key, read_meta(meta_key_check), d_.key_check_text); }

  SqlSession& session() { return s_; }
  const SqlDialect& dialect() const { return d_; }
  std::string table(std::string_view name) const { return d_.table_prefix + std::string(name); }
  [[noreturn]] void refuse(ErrorCode code, std::string_view problem) const {
    throw Refusal{Error{code, d_.label + ": " + std::string(problem)}};
  }

 private:
  SqlSession& s_;
  const SqlDialect& d_;
};

// ---------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------

#define IAM_WORKSPACE_COLUMNS "id, name, enabled, created"
#define IAM_USER_COLUMNS \
  "id, workspace_id, username, name, email, roles, enabled, must_change_password, created, password_hash, " \
  "credentials_epoch"
#define IAM_KEY_COLUMNS "id, user_id, name, prefix, expires, created, last_used, key_hash"
#define IAM_SIGNING_COLUMNS \
  "kid, {bytes:public_key}, {bytes:secret_key}, secret_encrypted, created, retired, activated"

WorkspaceRecord read_workspace(const SqlRow& r) {
  WorkspaceRecord w;
  w.id = r.text(0);
  w.name = r.text(1);
  w.enabled = r.boolean(2);
  w.created = r.time(3);
  return w;
}

StoredUser read_user(const SqlRow& r) {
  StoredUser u;
  u.record.id = r.text(0);
  u.record.workspace = r.text(1);
  u.record.username = r.text(2);
  u.record.name = r.text(3);
  u.record.email = r.text(4);
  u.record.roles = r.text_list(5);
  u.record.enabled = r.boolean(6);
  u.record.must_change_password = r.boolean(7);
  u.record.created = r.time(8);
  u.password_hash = r.text(9);
  const std::int64_t epoch = r.integer(10);
  if (epoch < 0) corrupt("the credentials epoch of user '" + u.record.id + "' is negative");
  u.credentials_epoch = static_cast<std::uint64_t>(epoch);
  return u;
}

// The columns authorise needs (read_user_authorisation), owned for the view made of them.
struct UserAuthorisation {
  std::string id;
  std::string workspace;
  std::vector<std::string> roles;
  bool enabled = false;
};
#define IAM_USER_AUTHORISATION_COLUMNS "id, workspace_id, roles, enabled"

UserAuthorisation read_user_authorisation_row(const SqlRow& r) {
  return UserAuthorisation{r.text(0), r.text(1), r.text_list(2), r.boolean(3)};
}

StoredApiKey read_key(const SqlRow& r) {
  StoredApiKey k;
  k.record.id = r.text(0);
  k.record.user_id = r.text(1);
  k.record.name = r.text(2);
  k.record.prefix = r.text(3);
  k.record.expires = r.optional_time(4);
  k.record.created = r.time(5);
  k.record.last_used = r.optional_time(6);
  k.key_hash = r.text(7);
  return k;
}

// SQL integers are signed: an epoch past INT64_MAX (never reached by +1 steps) is refused.
std::int64_t epoch_value(std::uint64_t epoch) {
  if (epoch > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw Refusal{Error{ErrorCode::invalid_argument, "credentials epoch out of range"}};
  return static_cast<std::int64_t>(epoch);
}

// The questions of storage/preconditions.h, asked inside the change's transaction.
class Facts final : public storage_detail::StoreFacts {
 public:
  explicit Facts(Sql& sql) : sql_(sql) {}
  bool has_workspaces_or_users() override {
    return sql_.exists("SELECT 1 FROM {t}workspaces LIMIT 1", {}) || sql_.exists("SELECT 1 FROM {t}users LIMIT 1", {});
  }
  bool workspace_exists(std::string_view id) override {
    return sql_.exists("SELECT 1 FROM {t}workspaces WHERE id = $1", {text(id)});
  }
  bool user_exists(std::string_view id) override { return sql_.exists("SELECT 1 FROM {t}users WHERE id = $1", {text(id)}); }
  bool username_key_taken(std::string_view key) override {
    return sql_.exists("SELECT 1 FROM {t}users WHERE username_key = $1", {text(key)});
  }
  bool api_key_exists(std::string_view id) override {
    return sql_.exists("SELECT 1 FROM {t}api_keys WHERE id = $1", {text(id)});
  }
  bool api_key_hash_taken(std::string_view key_hash) override {
    return sql_.exists("SELECT 1 FROM {t}api_keys WHERE key_hash = $1", {text(key_hash)});
  }
  bool signing_key_exists(std::string_view kid) override {
    return sql_.exists("SELECT 1 FROM {t}signing_keys WHERE kid = $1", {text(kid)});
  }
  std::optional<TimePoint> current_signing_key_activated() override {
    std::optional<TimePoint> activated;
    sql_.query("SELECT activated FROM {t}signing_keys WHERE retired IS NULL AND activated IS NOT NULL", {},
               [&](const SqlRow& r) { activated = r.time(0); });
    return activated;
  }
  bool next_signing_key_exists() override {
    return sql_.exists("SELECT 1 FROM {t}signing_keys WHERE retired IS NULL AND activated IS NULL", {});
  }

 private:
  Sql& sql_;
};

// A row that another transaction removed after the preconditions looked (READ COMMITTED).
Status changed_or(std::int64_t rows, std::string_view missing) {
  if (rows == 0) return Error{ErrorCode::not_found, std::string(missing)};
  return {};
}

// ---------------------------------------------------------------------------------------
// The repository
// ---------------------------------------------------------------------------------------

class SqlRepository final : public Repository {
 public:
  SqlRepository(std::unique_ptr<SqlBackend> backend, std::optional<SecretBytes> key)
      : backend_(std::move(backend)), key_(std::move(key)) {}

  Result<WorkspaceRecord> find_workspace(std::string_view id) override {
    return read<WorkspaceRecord>("find_workspace", [&](Sql& sql) {
      return sql.one<WorkspaceRecord>("SELECT " IAM_WORKSPACE_COLUMNS " FROM {t}workspaces WHERE id = $1", {text(id)},
                                      read_workspace, "workspace not found");
    });
  }

  Result<std::vector<WorkspaceRecord>> list_workspaces() override {
    return read<std::vector<WorkspaceRecord>>("list_workspaces", [&](Sql& sql) {
      return sql.all<WorkspaceRecord>("SELECT " IAM_WORKSPACE_COLUMNS " FROM {t}workspaces ORDER BY id", {},
                                      read_workspace);
    });
  }

  Result<StoredUser> find_user(std::string_view id) override {
    return read<StoredUser>("find_user", [&](Sql& sql) {
      return sql.one<StoredUser>("SELECT " IAM_USER_COLUMNS " FROM {t}users WHERE id = $1", {text(id)}, read_user,
                                 "user not found");
    });
  }

  // The row is read inside the read transaction; `reader` runs after it ends.
  Status read_user_authorisation(std::string_view id, FunctionRef<void(const UserAuthorisationView&)> reader) override {
    IAM_ASSIGN_OR_RETURN(const UserAuthorisation user, read<UserAuthorisation>("read_user_authorisation", [&](Sql& sql) {
      return sql.one<UserAuthorisation>("SELECT " IAM_USER_AUTHORISATION_COLUMNS " FROM {t}users WHERE id = $1",
                                        {text(id)}, read_user_authorisation_row, "user not found");
    }));
    reader(UserAuthorisationView{user.id, user.workspace, user.roles, user.enabled});
    return {};
  }

  Result<StoredUser> find_user_by_username(std::string_view username) override {
    const auto key = username_key(username);
    if (!key) return Error{ErrorCode::not_found, "user not found"};
    return read<StoredUser>("find_user_by_username", [&](Sql& sql) {
      return sql.one<StoredUser>("SELECT " IAM_USER_COLUMNS " FROM {t}users WHERE username_key = $1", {text(*key)},
                                 read_user, "user not found");
    });
  }

  Result<std::vector<StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    return read<std::vector<StoredUser>>("list_users", [&](Sql& sql) {
      if (workspace)
        return sql.all<StoredUser>(
            "SELECT " IAM_USER_COLUMNS " FROM {t}users WHERE workspace_id = $1 ORDER BY username_key",
            {text(*workspace)}, read_user);
      return sql.all<StoredUser>("SELECT " IAM_USER_COLUMNS " FROM {t}users ORDER BY username_key", {}, read_user);
    });
  }

  Result<StoredApiKey> find_api_key(std::string_view id) override {
    return read<StoredApiKey>("find_api_key", [&](Sql& sql) {
      return sql.one<StoredApiKey>("SELECT " IAM_KEY_COLUMNS " FROM {t}api_keys WHERE id = $1", {text(id)}, read_key,
                                   "API key not found");
    });
  }

  Result<StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    return read<StoredApiKey>("find_api_key_by_hash", [&](Sql& sql) {
      return sql.one<StoredApiKey>("SELECT " IAM_KEY_COLUMNS " FROM {t}api_keys WHERE key_hash = $1",
                                   {text(key_hash)}, read_key, "API key not found");
    });
  }

  Result<std::vector<StoredApiKey>> list_api_keys(std::string_view user_id) override {
    return read<std::vector<StoredApiKey>>("list_api_keys", [&](Sql& sql) {
      return sql.all<StoredApiKey>(
          "SELECT " IAM_KEY_COLUMNS " FROM {t}api_keys WHERE user_id = $1 ORDER BY created, id", {text(user_id)},
          read_key);
    });
  }

  Result<std::vector<SigningKey>> list_signing_keys() override {
    return read<std::vector<SigningKey>>("list_signing_keys", [&](Sql& sql) {
      return sql.all<SigningKey>("SELECT " IAM_SIGNING_COLUMNS " FROM {t}signing_keys ORDER BY created, seq", {},
                                 [&](const SqlRow& r) { return read_signing_key(r); });
    });
  }

  Result<bool> is_empty() override {
    return read<bool>("is_empty", [&](Sql& sql) -> Result<bool> {
      Facts facts(sql);
      return !facts.has_workspaces_or_users();
    });
  }

  Status apply(std::span<const Mutation> change) override {
    if (change.empty()) return {};
    const bool drops_private_keys = std::any_of(change.begin(), change.end(), [](const Mutation& m) {
      return std::holds_alternative<mutation::RetireSigningKeys>(m) ||
             std::holds_alternative<mutation::PromoteNextSigningKey>(m) ||
             std::holds_alternative<mutation::DeleteSigningKeysRetiredBefore>(m);
    });
    return backend_->run("apply", Access::write, [&](SqlSession& session) -> Status {
      Sql sql(session, backend_->dialect());
      Facts facts(sql);
      Transaction tx(session);
      for (const auto& m : change) {
        // Racing bootstraps run one after another, each seeing what the earlier committed.
        if (std::holds_alternative<mutation::RequireEmpty>(m))
          session.lock_tables(sql.table("workspaces") + ", " + sql.table("users"));
        IAM_RETURN_IF_ERROR(storage_detail::check_preconditions(m, facts));
        IAM_RETURN_IF_ERROR(std::visit([&](const auto& step) { return apply_one(sql, step); }, m));
      }
      tx.commit();
      if (drops_private_keys) session.private_keys_rewritten();
      return {};
    });
  }

  void publish(const Invalidation& what) noexcept override { backend_->publish(what); }
  void add_change_listener(InvalidationListener listener) override {
    backend_->add_change_listener(std::move(listener));
  }

 private:
  template <class T, class F>
  Result<T> read(std::string_view what, F&& body) {
    std::optional<T> out;
    IAM_RETURN_IF_ERROR(backend_->run(what, Access::read, [&](SqlSession& session) -> Status {
      Sql sql(session, backend_->dialect());
      IAM_ASSIGN_OR_RETURN(out, Result<T>(body(sql)));
      return {};
    }));
    return std::move(*out);
  }

  [[noreturn]] void refuse(std::string_view problem) const {
    throw Refusal{Error{ErrorCode::invalid_argument, backend_->dialect().label + ": " + std::string(problem)}};
  }

  SigningKey read_signing_key(const SqlRow& r) const {
    SigningKey k;
    k.kid = r.text(0);
    {
      const SecretBytes pub = r.bytes(1);
      if (pub.size() != k.public_key.size()) corrupt("signing key '" + k.kid + "' has a malformed public key");
      std::copy(pub.data(), pub.data() + pub.size(), k.public_key.begin());
    }
    if (!r.is_null(2)) {
      SecretBytes stored = r.bytes(2);
      if (r.boolean(3)) {
        if (!key_) refuse("signing keys are encrypted and this repository was opened without the key");
        auto plain = unseal(*key_, stored.span());
        if (!plain) corrupt("the private half of signing key '" + k.kid + "' does not decrypt");
        k.secret_key = std::move(*plain);
      } else {
        k.secret_key = std::move(stored);
      }
      // libsodium's secret key is seed || public key: a swapped or damaged row shows here.
      if (k.secret_key.size() != ed25519_secret_key_bytes ||
          !std::equal(k.public_key.begin(), k.public_key.end(), k.secret_key.data() + ed25519_seed_bytes))
        corrupt("the private half of signing key '" + k.kid + "' does not match its public key");
    }
    k.created = r.time(4);
    k.retired = r.optional_time(5);
    k.activated = r.optional_time(6);
    return k;
  }

  // ---- mutations, after their preconditions held (inside the change's transaction) ----

  static Status apply_one(Sql&, const mutation::RequireEmpty&) { return {}; }

  static Status apply_one(Sql& sql, const mutation::InsertWorkspace& m) {
    const auto& w = m.workspace;
    sql.execute("INSERT INTO {t}workspaces (id, name, enabled, created) VALUES ($1, $2, $3, $4)",
                {text(w.id), text(w.name), boolean(w.enabled), time(w.created)});
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::UpdateWorkspace& m) {
    const auto& w = m.workspace;
    return changed_or(sql.execute("UPDATE {t}workspaces SET name = $2, enabled = $3 WHERE id = $1",
                                  {text(w.id), text(w.name), boolean(w.enabled)}),
                      "workspace not found");
  }

  static Status apply_one(Sql& sql, const mutation::InsertUser& m) {
    const auto& u = m.user;
    const auto key = username_key(u.record.username);  // a key: the preconditions held
    sql.execute("INSERT INTO {t}users (id, workspace_id, username, username_key, name, email, roles, enabled, "
                "must_change_password, created, password_hash, credentials_epoch) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                {text(u.record.id), text(u.record.workspace), text(u.record.username), text(key.value()),
                 text(u.record.name), text(u.record.email), text_list(u.record.roles), boolean(u.record.enabled),
                 boolean(u.record.must_change_password), time(u.record.created), text(u.password_hash),
                 integer(epoch_value(u.credentials_epoch))});
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::UpdateUser& m) {
    const auto& u = m.user;
    return changed_or(sql.execute("UPDATE {t}users SET workspace_id = $2, name = $3, email = $4, roles = $5, "
                                  "enabled = $6, must_change_password = $7, password_hash = $8 WHERE id = $1",
                                  {text(u.record.id), text(u.record.workspace), text(u.record.name),
                                   text(u.record.email), text_list(u.record.roles), boolean(u.record.enabled),
                                   boolean(u.record.must_change_password), text(u.password_hash)}),
                      "user not found");
  }

  static Status apply_one(Sql& sql, const mutation::DeleteUser& m) {
    sql.execute("DELETE FROM {t}api_keys WHERE user_id = $1", {text(m.user_id)});
    return changed_or(sql.execute("DELETE FROM {t}users WHERE id = $1", {text(m.user_id)}), "user not found");
  }

  static Status apply_one(Sql& sql, const mutation::DisableUsersInWorkspace& m) {
    sql.execute("UPDATE {t}users SET enabled = false, credentials_epoch = credentials_epoch + 1 WHERE workspace_id = $1",
                {text(m.workspace_id)});
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::AdvanceCredentialsEpoch& m) {
    return changed_or(
        sql.execute("UPDATE {t}users SET credentials_epoch = credentials_epoch + 1 WHERE id = $1", {text(m.user_id)}),
        "user not found");
  }

  static Status apply_one(Sql& sql, const mutation::InsertApiKey& m) {
    const auto& k = m.key;
    sql.execute("INSERT INTO {t}api_keys (id, user_id, key_hash, name, prefix, expires, created, last_used) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                {text(k.record.id), text(k.record.user_id), text(k.key_hash), text(k.record.name),
                 text(k.record.prefix), time(k.record.expires), time(k.record.created), time(k.record.last_used)});
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::DeleteApiKey& m) {
    return changed_or(sql.execute("DELETE FROM {t}api_keys WHERE id = $1", {text(m.key_id)}), "API key not found");
  }

  static Status apply_one(Sql& sql, const mutation::DeleteApiKeysOfUser& m) {
    sql.execute("DELETE FROM {t}api_keys WHERE user_id = $1", {text(m.user_id)});
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::DeleteApiKeysInWorkspace& m) {
    sql.execute("DELETE FROM {t}api_keys WHERE user_id IN (SELECT id FROM {t}users WHERE workspace_id = $1)",
                {text(m.workspace_id)});
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::TouchApiKey& m) {
    sql.execute("UPDATE {t}api_keys SET last_used = $2 WHERE id = $1", {text(m.key_id), time(m.last_used)});
    return {};
  }

  Status apply_one(Sql& sql, const mutation::InsertSigningKey& m) const {
    const auto& k = m.key;
    std::vector<std::uint8_t> sealed;  // declared first: bound without a copy, so it outlives the call
    SqlParam secret = null();
    if (!k.secret_key.empty()) {
      if (key_) sealed = seal(*key_, k.secret_key.span());
      secret = key_ ? bytes(sealed) : bytes(k.secret_key.span());
    }
    sql.execute("INSERT INTO {t}signing_keys (kid, public_key, secret_key, secret_encrypted, created, retired, "
                "activated) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                {text(k.kid), bytes(k.public_key), secret, boolean(key_ && !k.secret_key.empty()), time(k.created),
                 time(k.retired), time(k.activated)});
    // Another process may have turned encryption on, or replaced the key, since this one
    // opened the store. Checked after the insert: where the other process holds a lock
    // (PostgreSQL) the insert waited for it, so this query sees its commit; the change then
    // rolls back and no private key is committed beside keys sealed otherwise.
    if (k.secret_key.empty()) return {};
    if (!key_ && sql.exists("SELECT 1 FROM {t}meta WHERE name = $1", {text(meta_private_keys)}))
      return Error{ErrorCode::invalid_argument,
                   sql.dialect().label + ": the database now holds encrypted private keys; reopen it with the "
                                         "encryption key"};
    if (key_ && !sql.key_fits(*key_))
      return Error{ErrorCode::invalid_argument,
                   sql.dialect().label + ": the database's encryption key was replaced; reopen it with the new key"};
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::RetireSigningKeys& m) {
    sql.execute("UPDATE {t}signing_keys SET retired = $1, secret_key = NULL, secret_encrypted = false "
                "WHERE retired IS NULL",
                {time(m.at)});
    return {};
  }

  static Status apply_one(Sql& sql, const mutation::PromoteNextSigningKey& m) {
    // Each UPDATE re-checks its condition on the row it changes: of two processes rotating
    // at once (READ COMMITTED), the second waits for the first's row lock, then finds the
    // current key retired and changes nothing, and the change is refused as a whole.
    if (m.only_if_current_activated_by) {
      if (sql.execute("UPDATE {t}signing_keys SET retired = $1, secret_key = NULL, secret_encrypted = false "
                      "WHERE retired IS NULL AND activated IS NOT NULL AND activated <= $2",
                      {time(m.at), time(*m.only_if_current_activated_by)}) != 1)
        return storage_detail::not_due();
    } else {
      sql.execute("UPDATE {t}signing_keys SET retired = $1, secret_key = NULL, secret_encrypted = false "
                  "WHERE retired IS NULL AND activated IS NOT NULL",
                  {time(m.at)});
    }
    // (a next key that another process inserted meanwhile would become a second current
    // key: the unique index refuses that as duplicate)
    return changed_or(
        sql.execute("UPDATE {t}signing_keys SET activated = $1 WHERE retired IS NULL AND activated IS NULL", {time(m.at)}),
        "no next signing key");
  }

  static Status apply_one(Sql& sql, const mutation::DeleteSigningKeysRetiredBefore& m) {
    // Stored seconds r are before `before` exactly when r < ceil(before).
    const auto before = std::chrono::ceil<std::chrono::seconds>(m.before.time_since_epoch()).count();
    sql.execute("DELETE FROM {t}signing_keys WHERE retired IS NOT NULL AND retired < $1", {integer(before)});
    return {};
  }

  const std::unique_ptr<SqlBackend> backend_;
  const std::optional<SecretBytes> key_;
};

// ---------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------

void migrate(Sql& sql) {
  const int latest = static_cast<int>(sql.dialect().migration_steps.size());
  auto check = [&](int version) {
    if (version > latest)
      sql.refuse(ErrorCode::not_supported, "the database has schema version " + std::to_string(version) +
                                               ", newer than this build supports (" + std::to_string(latest) +
                                               "); open it with a newer version of iam");
    if (version < 0) corrupt("the schema version is negative");
  };
  int version = sql.session().schema_version();
  check(version);
  if (version == latest) return;
  SchemaChange change(sql.session());
  version = sql.session().schema_version();  // another process may have migrated meanwhile
  check(version);
  for (int v = version; v < latest; ++v)
    sql.session().execute_script(sql.dialect().migration_steps[static_cast<std::size_t>(v)]);
  change.commit();
}

// Rewrites every username key computed by an older username_key() (see
// storage/username_keys.h), once: a code step rather than a schema version, as SQL cannot
// compute NFKC. Refuses the open, changing nothing, when two users would share a key.
void rekey_usernames(Sql& sql) {
  using namespace storage_detail;
  auto current = [&] {
    const auto form = sql.read_meta(username_keys_meta);
    return form && crypto::as_text(*form) == username_keys_form;
  };
  if (current()) return;
  SchemaChange change(sql.session());
  // Holds off inserts (by processes still on the old keys) until the new keys are in.
  sql.session().lock_tables(sql.table("users"));
  if (current()) return;  // another process got here first
  const auto users = sql.all<StoredUsername>("SELECT id, username, username_key FROM {t}users ORDER BY created, id",
                                             {}, [](const SqlRow& r) {
                                               return StoredUsername{r.text(0), r.text(1), r.text(2)};
                                             });
  auto plan = plan_username_rekey(users);
  if (!plan) sql.refuse(plan.error().code, plan.error().message);
  // Through a placeholder no key can equal (keys never hold control characters), so no
  // intermediate state trips the UNIQUE constraint.
  for (const auto& r : *plan)
    sql.execute("UPDATE {t}users SET username_key = $2 || id WHERE id = $1", {text(r.id), text("\x01")});
  for (const auto& r : *plan) sql.execute("UPDATE {t}users SET username_key = $2 WHERE id = $1", {text(r.id), text(r.key)});
  sql.write_meta(username_keys_meta, crypto::as_bytes(username_keys_form));
  change.commit();
}

// The private keys (seq, stored bytes) stored sealed or plain.
std::vector<std::pair<std::int64_t, SecretBytes>> private_keys(Sql& sql, bool sealed) {
  return sql.all<std::pair<std::int64_t, SecretBytes>>(
      sealed ? "SELECT seq, {bytes:secret_key} FROM {t}signing_keys WHERE secret_key IS NOT NULL AND secret_encrypted"
             : "SELECT seq, {bytes:secret_key} FROM {t}signing_keys WHERE secret_key IS NOT NULL AND NOT "
               "secret_encrypted",
      {}, [](const SqlRow& r) { return std::pair{r.integer(0), r.bytes(1)}; });
}

// With a key: checks it against the database's check value, or (first use) records the
// check value and seals every plaintext private key. Without one: refuses a database that
// holds sealed keys.
void setup_encryption(Sql& sql, const std::optional<SecretBytes>& key) {
  const auto& d = sql.dialect();
  auto verify = [&] {
    const auto check = sql.read_meta(meta_key_check);
    if (!check) corrupt("the database holds encrypted keys but no key check value");
    if (!key_opens_check(*key, check, d.key_check_text))
      sql.refuse(ErrorCode::invalid_argument,
                 "the private key encryption key is not the one this database was encrypted with");
  };
  const bool sealed = sql.read_meta(meta_private_keys).has_value();
  if (!key) {
    if (sealed)
      sql.refuse(ErrorCode::invalid_argument,
                 "the database holds encrypted private keys and no encryption key was given (set "
                 "private_key_encryption_key, or " + std::string(key_encryption_key_file_env) + ")");
    return;
  }
  if (sealed) return verify();
  SchemaChange change(sql.session());
  // Holds off inserts of plaintext keys by processes opened without the key (they check
  // for encryption after their insert, see InsertSigningKey).
  sql.session().lock_tables(sql.table("signing_keys"));
  if (sql.read_meta(meta_private_keys)) return verify();  // another process got here first
  sql.write_meta(meta_key_check, seal(*key, crypto::as_bytes(d.key_check_text)));
  sql.write_meta(meta_private_keys, crypto::as_bytes(storage_detail::meta_private_keys_value));
  for (const auto& [seq, plain] : private_keys(sql, false)) {
    const auto box = seal(*key, plain.span());
    sql.execute("UPDATE {t}signing_keys SET secret_key = $2, secret_encrypted = true WHERE seq = $1",
                {integer(seq), bytes(box)});
  }
  change.commit();
  sql.session().private_keys_rewritten();
}

// Re-seals every private key and the check value from `key` (already verified) under
// `replacement`, in one transaction that holds off inserts of signing keys meanwhile.
void replace_encryption_key(Sql& sql, const SecretBytes& key, const SecretBytes& replacement) {
  SchemaChange change(sql.session());
  sql.session().lock_tables(sql.table("signing_keys"));
  if (!sql.key_fits(key))  // replaced meanwhile
    sql.refuse(ErrorCode::invalid_argument,
               "the private key encryption key is not the one this database was encrypted with");
  for (const auto& [seq, box] : private_keys(sql, true)) {
    auto plain = unseal(key, box.span());
    if (!plain) corrupt("a private signing key does not decrypt with the current key");
    const auto resealed = seal(replacement, plain->span());
    sql.execute("UPDATE {t}signing_keys SET secret_key = $2 WHERE seq = $1", {integer(seq), bytes(resealed)});
  }
  sql.write_meta(meta_key_check, seal(replacement, crypto::as_bytes(sql.dialect().key_check_text)));
  change.commit();
  sql.session().private_keys_rewritten();
}

}  // namespace

ErrorCode error_code(SqlFailure::Kind kind) {
  switch (kind) {
    case SqlFailure::Kind::duplicate: return ErrorCode::duplicate;
    case SqlFailure::Kind::missing_reference: return ErrorCode::not_found;
    case SqlFailure::Kind::invalid_data:
    case SqlFailure::Kind::unstorable_text: return ErrorCode::invalid_argument;
    default: return ErrorCode::internal_error;
  }
}

Status check_key_options(std::string_view label, const std::optional<SecretBytes>& key,
                         const std::optional<SecretBytes>& replacement) {
  const std::string bytes = std::to_string(key_encryption_key_bytes) + " bytes";
  if (key && key->size() != key_encryption_key_bytes)
    return Error{ErrorCode::invalid_argument,
                 std::string(label) + ": the private key encryption key must be " + bytes};
  if (replacement && (!key || replacement->size() != key_encryption_key_bytes))
    return Error{ErrorCode::invalid_argument,
                 std::string(label) + ": a replacement key needs the current key, and must be " + bytes};
  return {};
}

void open_database(SqlSession& session, const SqlDialect& dialect, const std::optional<SecretBytes>& key,
                   const std::optional<SecretBytes>& replacement) {
  crypto::ensure_initialised();
  Sql sql(session, dialect);
  migrate(sql);
  rekey_usernames(sql);
  setup_encryption(sql, key);
  if (replacement) replace_encryption_key(sql, *key, *replacement);
}

std::shared_ptr<Repository> make_sql_repository(std::unique_ptr<SqlBackend> backend, std::optional<SecretBytes> key) {
  return std::make_shared<SqlRepository>(std::move(backend), std::move(key));
}

}  // namespace iam::sql
