// The storage conformance suite (see suite.h): many threads on one repository.
#include "suite.h"

using namespace suite;

TEST_CASE("bootstrap race: exactly one of many concurrent bootstraps wins") {
  constexpr int rounds = 10;
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    auto repo = fresh();
    // even rounds: the realistic race (same workspace and username, own ids);
    // odd rounds: nothing shared at all, so only RequireEmpty can stop the losers
    const bool shared = round % 2 == 0;
    std::vector<iam::Change> changes;
    for (int t = 0; t < threads_n; ++t) {
      const std::string tag = "r" + std::to_string(round) + "t" + std::to_string(t);
      changes.push_back(bootstrap_change(tag, shared ? "default" : "ws-" + tag, shared ? "admin" : "admin-" + tag));
    }
    std::vector<std::string> results(threads_n);
    run_threads(threads_n, [&](int t) {
      results[static_cast<std::size_t>(t)] = outcome(repo->apply(changes[static_cast<std::size_t>(t)]));
    });
    int winners = 0;
    int winner = -1;
    for (int t = 0; t < threads_n; ++t) {
      const auto& r = results[static_cast<std::size_t>(t)];
      if (r == "ok") {
        ++winners;
        winner = t;
      } else {
        CHECK(r == "duplicate");
      }
    }
    REQUIRE(winners == 1);
    const std::string tag = "r" + std::to_string(round) + "t" + std::to_string(winner);
    CHECK(joined(workspace_ids(must(repo->list_workspaces()))) == (shared ? "default" : "ws-" + tag));
    const auto users = must(repo->list_users(std::nullopt));
    REQUIRE(users.size() == 1);
    CHECK(users[0].record.id == "u-admin-" + tag);
    CHECK(joined(key_ids(must(repo->list_api_keys("u-admin-" + tag)))) == "k-bootstrap-" + tag);
    CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-" + tag);
    for (int t = 0; t < threads_n; ++t) {
      if (t == winner) continue;
      const std::string loser = "r" + std::to_string(round) + "t" + std::to_string(t);
      CHECK(outcome(repo->find_user("u-admin-" + loser)) == "not-found");
      CHECK(outcome(repo->find_api_key("k-bootstrap-" + loser)) == "not-found");
    }
    dump(*repo);
  }
}

// =====================================================================================
// Concurrency
// =====================================================================================

TEST_CASE("concurrent inserts of one username: exactly one wins, the others get duplicate") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")})) == "ok");
  constexpr int rounds = 20;
  // results[round][thread]
  std::vector<std::vector<std::string>> results(rounds, std::vector<std::string>(threads_n));
  run_threads(threads_n, [&](int t) {
    for (int round = 0; round < rounds; ++round) {
      std::string name = "Racer" + std::to_string(round);
      if (t % 3 == 1) name = iam::username_key(name).value();
      if (t % 3 == 2) name = ascii_upper(name);
      const auto c = change(m::InsertUser{
          user("u-" + std::to_string(round) + "-" + std::to_string(t), t % 2 ? "acme" : "beta", name)});
      results[static_cast<std::size_t>(round)][static_cast<std::size_t>(t)] = outcome(repo->apply(c));
    }
  });
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    int winners = 0;
    int winner = -1;
    for (int t = 0; t < threads_n; ++t) {
      const auto& r = results[static_cast<std::size_t>(round)][static_cast<std::size_t>(t)];
      if (r == "ok") {
        ++winners;
        winner = t;
      } else {
        CHECK(r == "duplicate");
      }
    }
    REQUIRE(winners == 1);
    CHECK(must(repo->find_user_by_username("racer" + std::to_string(round))).record.id ==
          "u-" + std::to_string(round) + "-" + std::to_string(winner));
  }
  CHECK(must(repo->list_users(std::nullopt)).size() == rounds);
  dump(*repo);
}

TEST_CASE("concurrent inserts of distinct users and keys all succeed and are all listed") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")})) == "ok");
  constexpr int per_thread = 40;
  Violations violations;
  run_threads(threads_n, [&](int t) {
    for (int i = 0; i < per_thread; ++i) {
      const std::string id = "u-" + std::to_string(t) + "-" + std::to_string(i);
      const auto c = change(m::InsertUser{user(id, (t + i) % 2 ? "acme" : "beta", "User-" + id)},
                            m::InsertApiKey{api_key("k-" + id, id)});
      const auto s = repo->apply(c);
      if (!s.ok()) violations.add(id + ": " + detail(s));
    }
  });
  INFO(violations.first());
  CHECK(violations.count() == 0);
  const auto users = must(repo->list_users(std::nullopt));
  CHECK(users.size() == static_cast<std::size_t>(threads_n * per_thread));
  CHECK(must(repo->list_users("acme")).size() + must(repo->list_users("beta")).size() == users.size());
  CHECK(std::is_sorted(users.begin(), users.end(), [](const iam::StoredUser& a, const iam::StoredUser& b) {
    return iam::username_key(a.record.username) < iam::username_key(b.record.username);
  }));
  for (int t = 0; t < threads_n; ++t)
    for (int i = 0; i < per_thread; ++i) {
      const std::string id = "u-" + std::to_string(t) + "-" + std::to_string(i);
      CHECK(must(repo->find_user_by_username("user-" + id)).record.id == id);
      CHECK(must(repo->find_api_key_by_hash(fake_hash("key:k-" + id))).record.user_id == id);
    }
  dump(*repo);
}

TEST_CASE("readers and writers in parallel: every read is consistent, the final state is exact") {
  auto repo = fresh();
  constexpr int writers = 4;
  constexpr int readers = 4;
  constexpr int iterations = 120;      // per writer
  constexpr int reads = 250;           // per reader
  constexpr int rotations = 60;
  for (int w = 0; w < writers; ++w)
    REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("ws-" + std::to_string(w))})) == "ok");
  REQUIRE(detail(apply(*repo, m::InsertSigningKey{signing_key("kid-initial", 1, at(t0))})) == "ok");

  Violations violations;
  // contended[n]: how many writers won username "Contended-n"
  std::vector<std::atomic<int>> contended(iterations);
  std::atomic<int> rotation_failures{0};

  auto writer = [&](int w) {
    const std::string ws = "ws-" + std::to_string(w);
    for (int n = 0; n < iterations; ++n) {
      const std::string id = "w" + std::to_string(w) + "-u" + std::to_string(n);
      // keys come and go in pairs: a reader must never see one of a pair
      if (auto s = apply(*repo, m::InsertUser{user(id, ws, "Writer" + std::to_string(w) + "-" + std::to_string(n))},
                         m::InsertApiKey{api_key(id + "-a", id, at(t0 + n))},
                         m::InsertApiKey{api_key(id + "-b", id, at(t0 + n))});
          !s.ok())
        violations.add("insert " + id + ": " + detail(s));
      if (auto s = apply(*repo, m::TouchApiKey{id + "-a", at(t0 + 1000 + n)}); !s.ok())
        violations.add("touch " + id + ": " + detail(s));
      if (n % 3 == 1) {
        auto u = user(id, ws, "ignored");
        u.record.enabled = false;
        if (auto s = apply(*repo, m::UpdateUser{u}, m::DeleteApiKeysOfUser{id}); !s.ok())
          violations.add("disable " + id + ": " + detail(s));
      } else if (n % 3 == 2) {
        if (auto s = apply(*repo, m::DeleteUser{id}); !s.ok()) violations.add("delete " + id + ": " + detail(s));
      }
      const auto s = apply(*repo, m::InsertUser{user("c" + std::to_string(n) + "-w" + std::to_string(w), ws,
                                                     w % 2 ? "contended-" + std::to_string(n)
                                                           : "CONTENDED-" + std::to_string(n))});
      if (s.ok())
        contended[static_cast<std::size_t>(n)].fetch_add(1);
      else if (s.error().code != iam::ErrorCode::duplicate)
        violations.add("contended " + std::to_string(n) + ": " + detail(s));
    }
  };

  auto rotator = [&] {
    for (int n = 1; n <= rotations; ++n) {
      const auto c = change(m::RetireSigningKeys{at(t0 + n)},
                            m::InsertSigningKey{signing_key("kid-" + std::to_string(n),
                                                            static_cast<std::uint8_t>(n), at(t0 + n))},
                            m::DeleteSigningKeysRetiredBefore{at(t0 + n - 5)});
      if (!repo->apply(c).ok()) rotation_failures.fetch_add(1);
    }
  };

  auto reader = [&](int r) {
    for (int i = 0; i < reads; ++i) {
      const auto users = repo->list_users(std::nullopt);
      if (!users.ok()) {
        violations.add("list_users: " + detail(users));
        continue;
      }
      for (std::size_t j = 1; j < users->size(); ++j)
        if (!(iam::username_key((*users)[j - 1].record.username) < iam::username_key((*users)[j].record.username)))
          violations.add("list_users out of order at " + (*users)[j].record.username);
      const std::string ws = "ws-" + std::to_string((r + i) % writers);
      if (const auto in_ws = repo->list_users(ws); in_ws.ok()) {
        for (const auto& u : *in_ws)
          if (u.record.workspace != ws) violations.add("list_users(" + ws + ") gave " + u.record.id);
      } else {
        violations.add("list_users(ws): " + detail(in_ws));
      }
      // a few users: their keys come in whole pairs, and every index agrees
      for (std::size_t j = static_cast<std::size_t>(i) % 7; j < users->size(); j += users->size() / 4 + 1) {
        const auto& u = (*users)[j];
        const auto keys = repo->list_api_keys(u.record.id);
        if (!keys.ok()) {
          violations.add("list_api_keys: " + detail(keys));
          continue;
        }
        if (keys->size() != 0 && keys->size() != 2)
          violations.add("user " + u.record.id + " has " + std::to_string(keys->size()) + " keys");
        for (const auto& k : *keys) {
          if (k.record.user_id != u.record.id) violations.add("key " + k.record.id + " listed for " + u.record.id);
          const auto by_hash = repo->find_api_key_by_hash(k.key_hash);
          if (by_hash.ok() && by_hash->record.id != k.record.id)
            violations.add("hash of " + k.record.id + " finds " + by_hash->record.id);
          if (!by_hash.ok() && by_hash.error().code != iam::ErrorCode::not_found)
            violations.add("find_api_key_by_hash: " + detail(by_hash));
        }
        const auto by_name = repo->find_user_by_username(ascii_upper(u.record.username));
        if (by_name.ok() && by_name->record.id != u.record.id)
          violations.add("username " + u.record.username + " finds " + by_name->record.id);
        if (!by_name.ok() && by_name.error().code != iam::ErrorCode::not_found)
          violations.add("find_user_by_username: " + detail(by_name));
      }
      const auto signing = repo->list_signing_keys();
      if (!signing.ok()) {
        violations.add("list_signing_keys: " + detail(signing));
        continue;
      }
      int active = 0;
      for (std::size_t j = 0; j < signing->size(); ++j) {
        const auto& k = (*signing)[j];
        if (!k.retired) {
          ++active;
          if (k.secret_key.size() != iam::ed25519_secret_key_bytes) violations.add("active key without secret");
        } else if (!k.secret_key.empty()) {
          violations.add("retired key " + k.kid + " keeps its secret");
        }
        if (j > 0 && k.created < (*signing)[j - 1].created) violations.add("signing keys out of order");
      }
      if (active != 1) violations.add(std::to_string(active) + " active signing keys");
    }
  };

  {
    std::latch start(writers + readers + 1);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
      threads.emplace_back([&, w] {
        start.arrive_and_wait();
        writer(w);
      });
    for (int r = 0; r < readers; ++r)
      threads.emplace_back([&, r] {
        start.arrive_and_wait();
        reader(r);
      });
    threads.emplace_back([&] {
      start.arrive_and_wait();
      rotator();
    });
    for (auto& th : threads) th.join();
  }

  INFO(violations.first());
  CHECK(violations.count() == 0);
  CHECK(rotation_failures.load() == 0);
  for (int n = 0; n < iterations; ++n) {
    INFO("contended " << n);
    CHECK(contended[static_cast<std::size_t>(n)].load() == 1);
    CHECK(must(repo->find_user_by_username("Contended-" + std::to_string(n))).record.username ==
          must(repo->find_user_by_username("contended-" + std::to_string(n))).record.username);
  }
  for (int w = 0; w < writers; ++w) {
    const std::string ws = "ws-" + std::to_string(w);
    std::size_t expected_in_ws = 0;
    for (int n = 0; n < iterations; ++n) {
      const std::string id = "w" + std::to_string(w) + "-u" + std::to_string(n);
      INFO("user " << id);
      if (n % 3 == 2) {
        CHECK(outcome(repo->find_user(id)) == "not-found");
        CHECK(outcome(repo->find_api_key(id + "-a")) == "not-found");
        CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:" + id + "-b"))) == "not-found");
        continue;
      }
      ++expected_in_ws;
      const auto u = must(repo->find_user(id));
      const auto keys = must(repo->list_api_keys(id));
      if (n % 3 == 0) {
        CHECK(u.record.enabled);
        REQUIRE(keys.size() == 2);
        CHECK(stamp(keys[0].record.last_used) == stamp(at(t0 + 1000 + n)));  // "-a" sorts first
        CHECK_FALSE(keys[1].record.last_used.has_value());
      } else {
        CHECK_FALSE(u.record.enabled);
        CHECK(keys.empty());
      }
    }
    std::size_t contended_here = 0;
    for (const auto& u : must(repo->list_users(ws)))
      if (u.record.id.starts_with("c")) ++contended_here;
    CHECK(must(repo->list_users(ws)).size() == expected_in_ws + contended_here);
  }
  const auto signing = must(repo->list_signing_keys());
  REQUIRE_FALSE(signing.empty());
  CHECK(signing.back().kid == "kid-" + std::to_string(rotations));
  CHECK_FALSE(signing.back().retired.has_value());
  CHECK(joined(kids(signing)) == "kid-54 kid-55 kid-56 kid-57 kid-58 kid-59 kid-60");
  dump(*repo);
}

// =====================================================================================
// Persistence (only for backends that define reopen_backend)
// =====================================================================================

