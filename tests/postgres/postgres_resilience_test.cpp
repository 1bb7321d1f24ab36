// The PostgreSQL store when several repositories race (separate pools, as separate
// processes would have), connections are lost and the server goes away and comes back.
#include "tests/postgres/store_test_support.h"

using namespace pgstore;

// Races between repositories (each its own pool: as two processes)
// =====================================================================================

TEST_CASE("postgres: two repositories creating one username: exactly one succeeds, the other gets duplicate") {
  pgtest::TempDatabase db;
  auto a = open_ok(db);
  auto b = open_ok(db);
  REQUIRE(detail(apply(*a, m::InsertWorkspace{workspace("acme")})) == "ok");
  constexpr int rounds = 15;
  constexpr int threads = 6;
  std::vector<std::vector<std::string>> results(rounds, std::vector<std::string>(threads));
  run_threads(threads, [&](int t) {
    auto& repo = t % 2 ? *a : *b;
    for (int round = 0; round < rounds; ++round) {
      const std::string name = (t % 3 ? "racer-" : "RACER-") + std::to_string(round);
      results[static_cast<std::size_t>(round)][static_cast<std::size_t>(t)] = outcome(
          apply(repo, m::InsertUser{user("u-" + std::to_string(round) + "-" + std::to_string(t), "acme", name)}));
    }
  });
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    int winners = 0;
    for (const auto& r : results[static_cast<std::size_t>(round)]) {
      if (r == "ok") ++winners;
      else CHECK(r == "duplicate");
    }
    CHECK(winners == 1);
    CHECK(a->find_user_by_username("Racer-" + std::to_string(round)).ok());
  }
  CHECK(a->list_users(std::nullopt)->size() == rounds);
}

TEST_CASE("postgres: bootstraps racing from several repositories: exactly one wins") {
  constexpr int rounds = 4;
  constexpr int threads = 6;
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    pgtest::TempDatabase db;
    std::vector<std::shared_ptr<iam::Repository>> repos = {open_ok(db), open_ok(db), open_ok(db)};
    std::vector<iam::Change> changes;
    for (int t = 0; t < threads; ++t) changes.push_back(bootstrap_change("t" + std::to_string(t)));
    std::vector<std::string> results(threads);
    run_threads(threads, [&](int t) {
      const auto i = static_cast<std::size_t>(t);
      results[i] = outcome(repos[i % repos.size()]->apply(changes[i]));
    });
    int winners = 0;
    for (const auto& r : results) {
      if (r == "ok") ++winners;
      else CHECK(r == "duplicate");
    }
    REQUIRE(winners == 1);
    CHECK(repos[0]->list_users(std::nullopt)->size() == 1);
    CHECK(repos[1]->list_signing_keys()->size() == 1);
    CHECK(repos[2]->list_workspaces()->size() == 1);
    CHECK(!repos[0]->is_empty().value());
  }
}

TEST_CASE("postgres: deadlocks between changes are retried, so every change succeeds") {
  pgtest::TempDatabase db;
  auto a = open_ok(db);
  auto b = open_ok(db);
  REQUIRE(detail(apply(*a, m::InsertWorkspace{workspace("w1")}, m::InsertWorkspace{workspace("w2")})) == "ok");
  constexpr int iterations = 30;
  std::vector<std::string> failures;
  std::mutex mutex;
  run_threads(4, [&](int t) {
    auto& repo = t % 2 ? *a : *b;
    for (int i = 0; i < iterations; ++i) {
      auto w1 = workspace("w1");
      auto w2 = workspace("w2");
      w1.name = w2.name = "t" + std::to_string(t) + "-" + std::to_string(i);
      // opposite orders: the classic deadlock
      const auto s = t % 2 ? apply(repo, m::UpdateWorkspace{w1}, m::UpdateWorkspace{w2})
                           : apply(repo, m::UpdateWorkspace{w2}, m::UpdateWorkspace{w1});
      if (!s.ok()) {
        std::lock_guard lock(mutex);
        failures.push_back(detail(s));
      }
    }
  });
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
  CHECK(a->find_workspace("w1")->name == a->find_workspace("w2")->name);
}

// =====================================================================================
// Connections lost and servers gone
// =====================================================================================

TEST_CASE("postgres: connections killed by the server are replaced without the caller noticing") {
  pgtest::TempDatabase db;
  auto repo = open_ok(db);
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  run_threads(4, [&](int) { CHECK(repo->find_workspace("acme").ok()); });  // several pooled connections
  const auto killed = pgtest::query_value(
      "", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + db.name() + "'");
  CHECK(killed != "0");
  const auto lost_before = iam::postgres_pool_stats().connections_lost;
  CHECK(detail(repo->find_workspace("acme")) == "ok");
  CHECK(iam::postgres_pool_stats().connections_lost > lost_before);  // the metric's source (docs/metrics.md)
  CHECK(detail(apply(*repo, m::InsertUser{user("u1", "acme", "alice")})) == "ok");
  run_threads(4, [&](int) { CHECK(detail(repo->list_users(std::nullopt)) == "ok"); });
  CHECK(iam::postgres_pool_stats().in_use == 0);  // every loan returned
}

TEST_CASE("postgres: server stopped: every call answers internal_error; restarted: calls succeed again") {
  pgtest::TempDatabase db;
  ServerBack server;
  auto repo = open_ok(db);
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "alice")},
                       m::InsertApiKey{api_key("k1", "u1")}, m::InsertSigningKey{signing_key("kid-1", 1, t0)})) ==
          "ok");

  REQUIRE(server.stop());
  const auto started = Clock::now();
  std::vector<std::pair<std::string, std::string>> answers;  // (call, outcome: message)
  auto note = [&](const char* call, const auto& result) {
    answers.emplace_back(call, result.ok() ? std::string("ok") : detail(result));
  };
  for (int i = 0; i < 2; ++i) {
    note("find_workspace", repo->find_workspace("acme"));
    note("list_workspaces", repo->list_workspaces());
    note("find_user", repo->find_user("u1"));
    note("find_user_by_username", repo->find_user_by_username("alice"));
    note("list_users", repo->list_users(std::nullopt));
    note("find_api_key", repo->find_api_key("k1"));
    note("find_api_key_by_hash", repo->find_api_key_by_hash(api_key("k1", "u1").key_hash));
    note("list_api_keys", repo->list_api_keys("u1"));
    note("list_signing_keys", repo->list_signing_keys());
    note("is_empty", repo->is_empty());
    note("apply", apply(*repo, m::InsertUser{user("u2", "acme", "bob")}));
  }
  for (const auto& [call, answer] : answers) {
    const auto& call_ = call;  // clang 14 cannot capture a structured binding
    INFO(call_);
    CHECK(answer.starts_with("internal-error: "));
  }
  // Fails fast (connection refused), from many threads at once as well.
  run_threads(8, [&](int) {
    for (int i = 0; i < 5; ++i) CHECK(outcome(repo->find_user("u1")) == "internal-error");
  });
  CHECK(Clock::now() - started < std::chrono::seconds(20));
  // An unreachable server at open is internal_error too.
  CHECK(open_error(options_for(db)).code == iam::ErrorCode::internal_error);

  REQUIRE(server.start());
  // The same repository, not reopened: every call works again.
  CHECK(detail(repo->find_user("u1")) == "ok");
  CHECK(detail(repo->list_signing_keys()) == "ok");
  CHECK(detail(apply(*repo, m::InsertUser{user("u2", "acme", "bob")})) == "ok");
  run_threads(8, [&](int t) {
    CHECK(detail(repo->find_user_by_username("BOB")) == "ok");
    CHECK(detail(apply(*repo, m::TouchApiKey{"k1", at(t0 + t)})) == "ok");
  });
  CHECK(repo->list_users(std::nullopt)->size() == 2);  // the failed applies left nothing
}

TEST_CASE("postgres: server stopped and restarted while calls are running: no crash, only ok or internal_error") {
  pgtest::TempDatabase db;
  ServerBack server;
  auto repo = open_ok(db);
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");

  std::atomic<bool> done{false};
  std::atomic<int> ok{0};
  std::atomic<int> down{0};
  std::mutex mutex;
  std::vector<std::string> unexpected;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; !done.load(); ++i) {
        const std::string id = "u-" + std::to_string(t) + "-" + std::to_string(i);
        iam::Status s;
        if (t % 2) s = apply(*repo, m::InsertUser{user(id, "acme", id)});
        else if (auto r = repo->find_workspace("acme"); !r.ok()) s = r.error();
        if (s.ok()) {
          ok.fetch_add(1);
        } else if (s.error().code == iam::ErrorCode::internal_error) {
          down.fetch_add(1);
        } else {
          std::lock_guard lock(mutex);
          unexpected.push_back(detail(s));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(server.stop());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(server.start());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  done = true;
  for (auto& th : threads) th.join();
  INFO((unexpected.empty() ? std::string() : unexpected.front()));
  CHECK(unexpected.empty());
  CHECK(ok.load() > 0);
  CHECK(down.load() > 0);
  // Back to normal, from every thread.
  run_threads(4, [&](int t) {
    CHECK(detail(repo->find_workspace("acme")) == "ok");
    CHECK(detail(apply(*repo, m::InsertUser{user("after-" + std::to_string(t), "acme", "after-" + std::to_string(t))})) ==
          "ok");
  });
}
