// The in-memory repository. Atomicity comes from an undo journal: every primitive write
// records how to put back what it replaced, and a failed change replays the journal
// backwards before anyone else can look (the writer holds the lock throughout). The rules
// a change must satisfy are storage/preconditions.h's, checked before each mutation writes.
#include "iam/memory_store.h"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include <absl/container/inlined_vector.h>

#include "core/mutex.h"
#include "core/string_map.h"
#include "core/text.h"
#include "storage/preconditions.h"

namespace iam {
namespace {

class MemoryRepository final : public Repository {
 public:
  Result<WorkspaceRecord> find_workspace(std::string_view id) override {
    ReaderLock lock(mutex_);
    const auto it = workspaces_.find(std::string(id));
    if (it == workspaces_.end()) return Error{ErrorCode::not_found, "workspace not found"};
    return it->second;
  }

  Result<std::vector<WorkspaceRecord>> list_workspaces() override {
    ReaderLock lock(mutex_);
    std::vector<WorkspaceRecord> out;
    for (const auto& [id, w] : workspaces_) out.push_back(w);
    return out;
  }

  Result<StoredUser> find_user(std::string_view id) override {
    ReaderLock lock(mutex_);
    const auto it = users_.find(id);
    if (it == users_.end()) return Error{ErrorCode::not_found, "user not found"};
    return it->second;
  }

  Status read_user_authorisation(std::string_view id, FunctionRef<void(const UserAuthorisationView&)> read) override {
    ReaderLock lock(mutex_);
    const auto it = authorisation_.find(id);
    if (it == authorisation_.end()) return Error{ErrorCode::not_found, "user not found"};
    const AuthorisationEntry& u = it->second;
    read(UserAuthorisationView{id_view(it->first), u.workspace, {u.roles.data(), u.roles.size()}, u.enabled});
    return {};
  }

  Result<StoredUser> find_user_by_username(std::string_view username) override {
    ReaderLock lock(mutex_);
    const auto key = username_key(username);
    const auto name = key ? user_by_name_.find(*key) : user_by_name_.end();
    if (name == user_by_name_.end()) return Error{ErrorCode::not_found, "user not found"};
    return users_.at(name->second);
  }

  Result<std::vector<StoredUser>> list_users(std::optional<std::string_view> workspace) override {
    ReaderLock lock(mutex_);
    std::vector<StoredUser> out;
    for (const auto& [key, id] : user_by_name_) {  // ordered by username key
      const StoredUser& u = users_.at(id);
      if (!workspace || u.record.workspace == *workspace) out.push_back(u);
    }
    return out;
  }

  Result<StoredApiKey> find_api_key(std::string_view id) override {
    ReaderLock lock(mutex_);
    const auto it = keys_.find(std::string(id));
    if (it == keys_.end()) return Error{ErrorCode::not_found, "API key not found"};
    return it->second;
  }

  Result<StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    ReaderLock lock(mutex_);
    const auto it = key_by_hash_.find(std::string(key_hash));
    if (it == key_by_hash_.end()) return Error{ErrorCode::not_found, "API key not found"};
    return keys_.at(it->second);
  }

  Result<std::vector<StoredApiKey>> list_api_keys(std::string_view user_id) override {
    ReaderLock lock(mutex_);
    std::vector<StoredApiKey> out;
    if (const auto it = keys_by_user_.find(std::string(user_id)); it != keys_by_user_.end())
      for (const auto& id : it->second) out.push_back(keys_.at(id));
    std::sort(out.begin(), out.end(), [](const StoredApiKey& a, const StoredApiKey& b) {
      return std::tie(a.record.created, a.record.id) < std::tie(b.record.created, b.record.id);
    });
    return out;
  }

  Result<std::vector<SigningKey>> list_signing_keys() override {
    ReaderLock lock(mutex_);
    std::vector<SigningKey> out;
    for (const auto& k : signing_) out.push_back(k.copy());
    // Ordered by created (repository.h), not by insertion: a key may be stored after a
    // newer one (an imported or restored retired key). Ties keep insertion order.
    std::stable_sort(out.begin(), out.end(),
                     [](const SigningKey& a, const SigningKey& b) { return a.created < b.created; });
    return out;
  }

  Result<bool> is_empty() override {
    ReaderLock lock(mutex_);
    return workspaces_.empty() && users_.empty();
  }

  Status apply(std::span<const Mutation> change) override {
    WriterLock lock(mutex_);
    undo_.clear();
    Facts facts(*this);
    for (const auto& m : change) {
      Status s = storage_detail::check_preconditions(m, facts);
      if (s.ok()) s = std::visit([this](const auto& step) IAM_REQUIRES(mutex_) { return apply_one(step); }, m);
      if (!s.ok()) {
        for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
        undo_.clear();
        return s;
      }
    }
    undo_.clear();
    return {};
  }

 private:
  // The questions of storage/preconditions.h, answered from the maps (the writer lock held).
  class Facts final : public storage_detail::StoreFacts {
   public:
    explicit Facts(MemoryRepository& repo) IAM_REQUIRES(repo.mutex_) : r_(repo) {}
    bool has_workspaces_or_users() override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return !r_.workspaces_.empty() || !r_.users_.empty();
    }
    bool workspace_exists(std::string_view id) override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return r_.workspaces_.count(std::string(id)) != 0;
    }
    bool user_exists(std::string_view id) override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return r_.users_.count(std::string(id)) != 0;
    }
    bool username_key_taken(std::string_view key) override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return r_.user_by_name_.count(std::string(key)) != 0;
    }
    bool api_key_exists(std::string_view id) override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return r_.keys_.count(std::string(id)) != 0;
    }
    bool api_key_hash_taken(std::string_view key_hash) override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return r_.key_by_hash_.count(std::string(key_hash)) != 0;
    }
    bool signing_key_exists(std::string_view kid) override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return std::any_of(r_.signing_.begin(), r_.signing_.end(), [&](const SigningKey& k) { return k.kid == kid; });
    }
    std::optional<TimePoint> current_signing_key_activated() override IAM_NO_THREAD_SAFETY_ANALYSIS {
      for (const auto& k : r_.signing_)
        if (k.is_current()) return k.activated;
      return std::nullopt;
    }
    bool next_signing_key_exists() override IAM_NO_THREAD_SAFETY_ANALYSIS {
      return std::any_of(r_.signing_.begin(), r_.signing_.end(), [](const SigningKey& k) { return k.is_next(); });
    }

   private:
    MemoryRepository& r_;  // constructed under the writer lock, used only while it is held
  };

  // ---- primitive writes; each journals its inverse ----

  void put_workspace(const WorkspaceRecord& w) IAM_REQUIRES(mutex_) {
    const auto it = workspaces_.find(w.id);
    if (it == workspaces_.end())
      undo_.push_back([this, id = w.id]() IAM_REQUIRES(mutex_) { workspaces_.erase(id); });
    else
      undo_.push_back([this, old = it->second]() IAM_REQUIRES(mutex_) { workspaces_[old.id] = old; });
    workspaces_[w.id] = w;
  }

  void put_user(const StoredUser& u) IAM_REQUIRES(mutex_) {
    const auto it = users_.find(u.record.id);
    if (it == users_.end()) {
      undo_.push_back([this, id = u.record.id]() IAM_REQUIRES(mutex_) { erase_user_raw(id); });
    } else {
      undo_.push_back([this, old = it->second]() IAM_REQUIRES(mutex_) { put_user_raw(old); });
    }
    put_user_raw(u);
  }

  void erase_user(const std::string& id) IAM_REQUIRES(mutex_) {
    const auto it = users_.find(id);
    if (it == users_.end()) return;
    undo_.push_back([this, old = it->second]() IAM_REQUIRES(mutex_) { put_user_raw(old); });
    erase_user_raw(id);
  }

  void put_key(const StoredApiKey& k) IAM_REQUIRES(mutex_) {
    const auto it = keys_.find(k.record.id);
    if (it == keys_.end())
      undo_.push_back([this, id = k.record.id]() IAM_REQUIRES(mutex_) { erase_key_raw(id); });
    else
      undo_.push_back([this, old = it->second]() IAM_REQUIRES(mutex_) { put_key_raw(old); });
    put_key_raw(k);
  }

  void erase_key(const std::string& id) IAM_REQUIRES(mutex_) {
    const auto it = keys_.find(id);
    if (it == keys_.end()) return;
    undo_.push_back([this, old = it->second]() IAM_REQUIRES(mutex_) { put_key_raw(old); });
    erase_key_raw(id);
  }

  void journal_signing_keys() IAM_REQUIRES(mutex_) {
    auto saved = std::make_shared<std::vector<SigningKey>>();
    for (const auto& k : signing_) saved->push_back(k.copy());
    undo_.push_back([this, saved]() IAM_REQUIRES(mutex_) {
      signing_.clear();
      for (auto& k : *saved) signing_.push_back(std::move(k));
    });
  }

  // ---- index maintenance (no journalling) ----

  // Every stored user has a key: InsertUser refuses a username without one.
  static std::string key_of(const StoredUser& u) { return username_key(u.record.username).value(); }

  void put_user_raw(const StoredUser& u) IAM_REQUIRES(mutex_) {
    if (const auto it = users_.find(u.record.id); it != users_.end())
      user_by_name_.erase(key_of(it->second));
    users_[u.record.id] = u;
    user_by_name_[key_of(u)] = u.record.id;
    authorisation_.insert_or_assign(IdBytes(u.record.id.begin(), u.record.id.end()),
                                    AuthorisationEntry{u.record.workspace,
                                                       {u.record.roles.begin(), u.record.roles.end()},
                                                       u.record.enabled});
  }
  void erase_user_raw(const std::string& id) IAM_REQUIRES(mutex_) {
    const auto it = users_.find(id);
    if (it == users_.end()) return;
    user_by_name_.erase(key_of(it->second));
    users_.erase(it);
    authorisation_.erase(id);
  }
  void put_key_raw(const StoredApiKey& k) IAM_REQUIRES(mutex_) {
    if (const auto it = keys_.find(k.record.id); it != keys_.end()) erase_key_raw(k.record.id);
    keys_[k.record.id] = k;
    key_by_hash_[k.key_hash] = k.record.id;
    keys_by_user_[k.record.user_id].insert(k.record.id);
  }
  void erase_key_raw(const std::string& id) IAM_REQUIRES(mutex_) {
    const auto it = keys_.find(id);
    if (it == keys_.end()) return;
    key_by_hash_.erase(it->second.key_hash);
    if (auto u = keys_by_user_.find(it->second.record.user_id); u != keys_by_user_.end()) {
      u->second.erase(id);
      if (u->second.empty()) keys_by_user_.erase(u);
    }
    keys_.erase(it);
  }

  std::vector<std::string> key_ids_of_user(const std::string& user_id) const IAM_REQUIRES(mutex_) {
    const auto it = keys_by_user_.find(user_id);
    if (it == keys_by_user_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

  // ---- mutations ----

  Status apply_one(const mutation::RequireEmpty&) IAM_REQUIRES(mutex_) { return {}; }
  Status apply_one(const mutation::InsertWorkspace& m) IAM_REQUIRES(mutex_) {
    put_workspace(m.workspace);
    return {};
  }
  Status apply_one(const mutation::UpdateWorkspace& m) IAM_REQUIRES(mutex_) {
    WorkspaceRecord next = workspaces_.at(m.workspace.id);
    next.name = m.workspace.name;
    next.enabled = m.workspace.enabled;
    put_workspace(next);
    return {};
  }
  Status apply_one(const mutation::InsertUser& m) IAM_REQUIRES(mutex_) {
    put_user(m.user);
    return {};
  }
  Status apply_one(const mutation::UpdateUser& m) IAM_REQUIRES(mutex_) {
    const StoredUser& stored = users_.at(m.user.record.id);
    StoredUser next = m.user;
    next.record.username = stored.record.username;  // immutable
    next.record.created = stored.record.created;
    next.credentials_epoch = stored.credentials_epoch;  // only AdvanceCredentialsEpoch moves it
    put_user(next);
    return {};
  }
  Status apply_one(const mutation::DeleteUser& m) IAM_REQUIRES(mutex_) {
    for (const auto& id : key_ids_of_user(m.user_id)) erase_key(id);
    erase_user(m.user_id);
    return {};
  }
  Status apply_one(const mutation::DisableUsersInWorkspace& m) IAM_REQUIRES(mutex_) {
    std::vector<StoredUser> changed;
    for (const auto& [id, u] : users_)
      if (u.record.workspace == m.workspace_id) changed.push_back(u);
    for (auto& u : changed) {
      u.record.enabled = false;
      ++u.credentials_epoch;
      put_user(u);
    }
    return {};
  }
  Status apply_one(const mutation::AdvanceCredentialsEpoch& m) IAM_REQUIRES(mutex_) {
    StoredUser next = users_.at(m.user_id);
    ++next.credentials_epoch;
    put_user(next);
    return {};
  }
  Status apply_one(const mutation::InsertApiKey& m) IAM_REQUIRES(mutex_) {
    put_key(m.key);
    return {};
  }
  Status apply_one(const mutation::DeleteApiKey& m) IAM_REQUIRES(mutex_) {
    erase_key(m.key_id);
    return {};
  }
  Status apply_one(const mutation::DeleteApiKeysOfUser& m) IAM_REQUIRES(mutex_) {
    for (const auto& id : key_ids_of_user(m.user_id)) erase_key(id);
    return {};
  }
  Status apply_one(const mutation::DeleteApiKeysInWorkspace& m) IAM_REQUIRES(mutex_) {
    std::vector<std::string> ids;
    for (const auto& [id, u] : users_)
      if (u.record.workspace == m.workspace_id)
        for (auto& k : key_ids_of_user(id)) ids.push_back(std::move(k));
    for (const auto& id : ids) erase_key(id);
    return {};
  }
  Status apply_one(const mutation::TouchApiKey& m) IAM_REQUIRES(mutex_) {
    const auto it = keys_.find(m.key_id);
    if (it == keys_.end()) return {};
    StoredApiKey next = it->second;
    next.record.last_used = m.last_used;
    put_key(next);
    return {};
  }
  Status apply_one(const mutation::InsertSigningKey& m) IAM_REQUIRES(mutex_) {
    journal_signing_keys();
    signing_.push_back(m.key.copy());
    return {};
  }
  Status apply_one(const mutation::RetireSigningKeys& m) IAM_REQUIRES(mutex_) {
    journal_signing_keys();
    for (auto& k : signing_)
      if (!k.retired) {
        k.retired = m.at;
        k.secret_key.clear();
      }
    return {};
  }
  Status apply_one(const mutation::PromoteNextSigningKey& m) IAM_REQUIRES(mutex_) {
    journal_signing_keys();
    const auto next = std::find_if(signing_.begin(), signing_.end(), [](const SigningKey& k) { return k.is_next(); });
    for (auto& k : signing_)
      if (k.is_current()) {
        k.retired = m.at;
        k.secret_key.clear();
      }
    if (next != signing_.end()) next->activated = m.at;  // the preconditions saw one
    return {};
  }
  Status apply_one(const mutation::DeleteSigningKeysRetiredBefore& m) IAM_REQUIRES(mutex_) {
    journal_signing_keys();
    std::erase_if(signing_, [&](const SigningKey& k) { return k.retired && *k.retired < m.before; });
    return {};
  }

  SharedMutex mutex_;
  std::map<std::string, WorkspaceRecord> workspaces_ IAM_GUARDED_BY(mutex_);
  FlatStringMap<StoredUser> users_ IAM_GUARDED_BY(mutex_);
  // What read_user_authorisation reads, beside the full records and kept with them by
  // put_user_raw / erase_user_raw: small and inline, the id (up to 40 bytes: the regime's
  // are 36-character UUIDs) and the roles (up to two) too, so an uncached decision reads
  // the slot it probes and not a whole stored user or strings elsewhere on the heap.
  using IdBytes = absl::InlinedVector<char, 40>;
  static std::string_view id_view(const IdBytes& id) { return {id.data(), id.size()}; }
  static std::string_view id_view(std::string_view id) { return id; }
  struct IdHash {
    using is_transparent = void;
    template <class Id>
    std::size_t operator()(const Id& id) const noexcept {
      return StringViewHash{}(id_view(id));
    }
  };
  struct IdEq {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return text::equal(id_view(a), id_view(b));
    }
  };
  struct AuthorisationEntry {
    std::string workspace;
    absl::InlinedVector<std::string, 2> roles;
    bool enabled = false;
  };
  absl::flat_hash_map<IdBytes, AuthorisationEntry, IdHash, IdEq> authorisation_ IAM_GUARDED_BY(mutex_);
  // username key → id, ordered for listing
  std::map<std::string, std::string> user_by_name_ IAM_GUARDED_BY(mutex_);
  std::unordered_map<std::string, StoredApiKey> keys_ IAM_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::string> key_by_hash_ IAM_GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::set<std::string>> keys_by_user_ IAM_GUARDED_BY(mutex_);
  std::vector<SigningKey> signing_ IAM_GUARDED_BY(mutex_);  // in creation order
  std::vector<std::function<void()>> undo_ IAM_GUARDED_BY(mutex_);  // held exclusively
};

}  // namespace

std::shared_ptr<Repository> make_memory_repository() { return std::make_shared<MemoryRepository>(); }

}  // namespace iam
