// A child process for the SQLite durability tests (sqlite_durability.py): opens a
// database and performs acknowledged writes, printing one line to stdout after each
// commit, until killed or until COUNT indices are done.
//
//   sqlite-writer PATH TAG COUNT      (COUNT 0: forever)
//
// For each index i (id = TAG-i) it makes these writes, each one atomic Change:
//   "A id"  insert user id (enabled) with two API keys id-k1, id-k2
//   "B id"  disable user id and delete its keys
//   "R id"  (every 5th index) retire the active signing key and insert signing key id
// So in any state that a crash may leave, every user is either enabled with two keys or
// disabled with none, and there is at most one active signing key.
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "iam/repository.h"
#include "iam/sqlite_store.h"

namespace {

namespace m = iam::mutation;

[[noreturn]] void die(const std::string& what, const iam::Error& e) {
  std::fprintf(stderr, "sqlite-writer: %s: %s\n", what.c_str(), e.message.c_str());
  std::exit(2);
}

// One line to stdout with one write(2): the driver sees it once it returns.
void acknowledge(const std::string& line) {
  const std::string out = line + "\n";
  std::size_t done = 0;
  while (done < out.size()) {
    const auto n = ::write(1, out.data() + done, out.size() - done);
    if (n <= 0) std::exit(3);
    done += static_cast<std::size_t>(n);
  }
}

template <class... M>
void write(iam::Repository& repo, const std::string& line, M&&... steps) {
  iam::Change change;
  (change.emplace_back(std::forward<M>(steps)), ...);
  if (auto s = repo.apply(change); !s.ok()) die(line, s.error());
  acknowledge(line);
}

iam::StoredApiKey api_key(const std::string& id, const std::string& user, std::int64_t created) {
  iam::StoredApiKey k;
  k.record.id = id;
  k.record.user_id = user;
  k.record.name = "key " + id;
  k.record.prefix = "tg_" + id.substr(0, 4);
  k.record.created = iam::from_unix_seconds(created);
  k.key_hash = "hash-" + id;
  return k;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: sqlite-writer PATH TAG COUNT\n");
    return 64;
  }
  const std::string tag = argv[2];
  const long count = std::strtol(argv[3], nullptr, 10);

  iam::SqliteOptions options;
  options.path = argv[1];
  options.busy_timeout = std::chrono::milliseconds(30000);
  auto opened = iam::make_sqlite_repository(std::move(options));
  if (!opened.ok()) die("open", opened.error());
  auto& repo = **opened;

  iam::WorkspaceRecord ws;
  ws.id = "ws";
  ws.name = "Durability";
  ws.created = iam::from_unix_seconds(1'800'000'000);
  iam::Change create_ws;
  create_ws.emplace_back(m::InsertWorkspace{ws});
  if (auto s = repo.apply(create_ws); !s.ok() && s.error().code != iam::ErrorCode::duplicate) die("workspace", s.error());

  for (long i = 0; count == 0 || i < count; ++i) {
    const std::string id = tag + "-" + std::to_string(i);
    const std::int64_t t = 1'800'000'000 + i;

    iam::StoredUser u;
    u.record.id = id;
    u.record.workspace = "ws";
    u.record.username = "user-" + id;
    u.record.name = "User " + id;
    u.record.email = id + "@example.com";
    u.record.roles = {"reader", "writer"};
    u.record.created = iam::from_unix_seconds(t);
    u.password_hash = "pbkdf2-sha256$1$c2FsdA$" + id;
    write(repo, "A " + id, m::InsertUser{u}, m::InsertApiKey{api_key(id + "-k1", id, t)},
          m::InsertApiKey{api_key(id + "-k2", id, t)});

    u.record.enabled = false;
    write(repo, "B " + id, m::UpdateUser{u}, m::DeleteApiKeysOfUser{id});

    if (i % 5 == 0) {
      std::array<std::uint8_t, iam::ed25519_seed_bytes> seed{};
      for (std::size_t b = 0; b < seed.size(); ++b) seed[b] = static_cast<std::uint8_t>(id[b % id.size()] + b);
      auto key = iam::SigningKey::from_seed(id, seed, iam::from_unix_seconds(t));
      if (!key.ok()) die("signing key", key.error());
      write(repo, "R " + id, m::RetireSigningKeys{iam::from_unix_seconds(t)}, m::InsertSigningKey{std::move(*key)});
    }
  }
  return 0;
}
