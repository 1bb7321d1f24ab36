// tests/postgres/store_test_support.h — what the PostgreSQL store tests share (beyond
// pg_test_support.h's server and databases): opening a repository on a fresh database,
// the roles regime's bootstrap change, threads released together, and a server that is
// started again however a test that stopped it ends.
//
// THREAD SAFETY: call from the test's main thread (run_threads runs `body` on others).
#pragma once

#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "iam/gateway.h"
#include "iam/log.h"
#include "iam/postgres_store.h"
#include "iam/repository.h"
#include "iam/roles.h"
#include "iam/store.h"
#include "storage/postgres/postgres_schema.h"
#include "tests/postgres/pg_test_support.h"
#include "tests/support/records.h"
#include "tests/support/threads.h"

namespace pgstore {

using namespace records;
namespace m = iam::mutation;
using Clock = std::chrono::steady_clock;
using iam::crypto::hex_encode;  // the library's own (libsodium)

inline iam::PostgresOptions options_for(const pgtest::TempDatabase& db, const iam::SecretBytes* key = nullptr) {
  iam::PostgresOptions o;
  o.conninfo = db.conninfo();
  if (key) o.private_key_encryption_key = key->copy();
  return o;
}

inline std::shared_ptr<iam::Repository> open_ok(const pgtest::TempDatabase& db, const iam::SecretBytes* key = nullptr) {
  auto r = iam::make_postgres_repository(options_for(db, key));
  if (!r.ok()) FAIL("open " << db.name() << ": " << r.error().message);
  return std::move(r).value();
}

inline iam::Error open_error(iam::PostgresOptions options) {
  auto r = iam::make_postgres_repository(std::move(options));
  REQUIRE_FALSE(r.ok());
  return r.error();
}

// The bootstrap of the roles regime: the store must be empty, then seed it.
inline iam::Change bootstrap_change(const std::string& tag) {
  auto admin = user("u-admin-" + tag, "default", "admin");
  admin.record.must_change_password = true;
  iam::Change c;
  c.emplace_back(m::RequireEmpty{});
  c.emplace_back(m::InsertWorkspace{workspace("default")});
  c.emplace_back(m::InsertUser{admin});
  c.emplace_back(m::InsertApiKey{api_key("k-" + tag, "u-admin-" + tag)});
  c.emplace_back(m::InsertSigningKey{signing_key("kid-" + tag, 7, t0)});
  return c;
}

using test_support::run_threads;

// Starts the server again when a test that stopped it ends, however it ends.
class ServerBack {
 public:
  ~ServerBack() {
    if (stopped_) pgtest::server_control("start");
  }
  bool stop() {
    stopped_ = pgtest::server_control("stop");
    return stopped_;
  }
  bool start() {
    const bool ok = pgtest::server_control("start");
    if (ok) stopped_ = false;
    return ok;
  }

 private:
  bool stopped_ = false;
};

}  // namespace pgstore
