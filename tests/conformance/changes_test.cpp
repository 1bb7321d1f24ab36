// The storage conformance suite (see suite.h): signing keys, and changes applied whole or not at all.
#include "suite.h"

using namespace suite;

TEST_CASE("signing keys: round trip, one active key, order by created, retirement, deletion") {
  auto repo = fresh();
  const auto k1 = signing_key("kid-1", 10, at(t0 + 10));
  REQUIRE(k1.secret_key.size() == iam::ed25519_secret_key_bytes);
  CHECK(detail(apply(*repo, m::InsertSigningKey{k1.copy()})) == "ok");
  CHECK(render(must(repo->list_signing_keys())) == render(k1) + "\n");

  {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::InsertSigningKey{signing_key("kid-2", 20, at(t0 + 11))})) == "duplicate");
    CHECK(outcome(apply(*repo, m::InsertSigningKey{signing_key("kid-1", 30, at(t0 + 1), at(t0 + 2))})) ==
          "duplicate");
    CHECK(dump(*repo) == before);
  }

  // a retired key created earlier, stored later, lists first
  const auto k0 = signing_key("kid-0", 40, at(t0), at(t0 + 5));
  CHECK(detail(apply(*repo, m::InsertSigningKey{k0.copy()})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-0 kid-1");
  CHECK(render(must(repo->list_signing_keys())) == render(k0) + "\n" + render(k1) + "\n");

  // retire: the active key only gets retired = at and loses its private half
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 20)})) == "ok");
  auto k1_retired = k1.copy();
  k1_retired.retired = at(t0 + 20);
  k1_retired.secret_key.clear();
  CHECK(render(must(repo->list_signing_keys())) == render(k0) + "\n" + render(k1_retired) + "\n");
  {
    const auto keys = must(repo->list_signing_keys());
    REQUIRE(keys.size() == 2);
    CHECK(keys[1].secret_key.empty());
    CHECK(keys[1].public_key == k1.public_key);
  }

  // nothing active: retiring again changes nothing
  {
    const auto before = dump(*repo);
    CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 25)})) == "ok");
    CHECK(dump(*repo) == before);
  }

  const auto k2 = signing_key("kid-2", 50, at(t0 + 20));
  CHECK(detail(apply(*repo, m::InsertSigningKey{k2.copy()})) == "ok");
  CHECK(render(must(repo->list_signing_keys())) ==
        render(k0) + "\n" + render(k1_retired) + "\n" + render(k2) + "\n");
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 30)})) == "ok");
  auto k2_retired = k2.copy();
  k2_retired.retired = at(t0 + 30);
  k2_retired.secret_key.clear();
  CHECK(render(must(repo->list_signing_keys())) ==
        render(k0) + "\n" + render(k1_retired) + "\n" + render(k2_retired) + "\n");

  // strictly before: a key retired exactly at `before` stays
  CHECK(detail(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(t0 + 20)})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-1 kid-2");
  CHECK(detail(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(t0 + 20)})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-1 kid-2");

  // an active key is never deleted by age
  const auto k3 = signing_key("kid-3", 60, at(t0 + 40));
  CHECK(detail(apply(*repo, m::InsertSigningKey{k3.copy()})) == "ok");
  CHECK(detail(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(far)})) == "ok");
  CHECK(render(must(repo->list_signing_keys())) == render(k3) + "\n");

  // a deleted kid may be used again (as a retired key, since kid-3 is active)
  CHECK(detail(apply(*repo, m::InsertSigningKey{signing_key("kid-1", 70, at(t0 + 50), at(t0 + 51))})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-3 kid-1");
  CHECK(must(repo->is_empty()));  // signing keys never count
}

TEST_CASE("key rotation is atomic and applied in order") {
  auto repo = fresh();
  const auto k1 = signing_key("kid-1", 1, at(t0));
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertSigningKey{k1.copy()})) == "ok");
  const auto before = dump(*repo);

  // a failing step after the rotation: the old key keeps its private half, no new key
  CHECK(outcome(apply(*repo, m::RetireSigningKeys{at(t0 + 10)}, m::InsertSigningKey{signing_key("kid-2", 2, at(t0 + 10))},
                      m::InsertWorkspace{workspace("acme")})) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(render(must(repo->list_signing_keys())) == render(k1) + "\n");

  // insert before retire: the new key meets the still-active one
  CHECK(outcome(apply(*repo, m::InsertSigningKey{signing_key("kid-2", 2, at(t0 + 10))},
                      m::RetireSigningKeys{at(t0 + 10)})) == "duplicate");
  CHECK(dump(*repo) == before);

  // retire then insert: the rotation
  const auto k2 = signing_key("kid-2", 2, at(t0 + 10));
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 10)}, m::InsertSigningKey{k2.copy()})) == "ok");
  auto k1_retired = k1.copy();
  k1_retired.retired = at(t0 + 10);
  k1_retired.secret_key.clear();
  CHECK(render(must(repo->list_signing_keys())) == render(k1_retired) + "\n" + render(k2) + "\n");

  // pruning in a failed change is undone
  const auto rotated = dump(*repo);
  CHECK(outcome(apply(*repo, m::DeleteSigningKeysRetiredBefore{at(far)}, m::InsertSigningKey{signing_key("kid-2", 3, at(t0 + 20), at(t0 + 21))})) ==
        "duplicate");
  CHECK(dump(*repo) == rotated);
  // a full rotation with pruning in one change
  const auto k3 = signing_key("kid-3", 3, at(t0 + 20));
  CHECK(detail(apply(*repo, m::RetireSigningKeys{at(t0 + 20)}, m::InsertSigningKey{k3.copy()},
                     m::DeleteSigningKeysRetiredBefore{at(t0 + 15)})) == "ok");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-2 kid-3");
  const auto keys = must(repo->list_signing_keys());
  REQUIRE(keys.size() == 2);
  CHECK(stamp(keys[0].retired) == stamp(at(t0 + 20)));
  CHECK(keys[0].secret_key.empty());
  CHECK_FALSE(keys[1].retired.has_value());
  CHECK(hex_encode(keys[1].secret_key.span()) == hex_encode(k3.secret_key.span()));
}

// =====================================================================================
// Atomic cascades: a Change is applied whole or not at all
// =====================================================================================

TEST_CASE("disable-user cascade: all or nothing") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  const auto alice_keys = must(repo->list_api_keys("u-alice"));
  auto disabled = must(repo->find_user("u-alice"));
  disabled.record.enabled = false;

  CHECK(outcome(apply(*repo, m::UpdateUser{disabled}, m::DeleteApiKeysOfUser{"u-alice"},
                      m::InsertWorkspace{workspace("acme")})) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(must(repo->find_user("u-alice")).record.enabled);
  CHECK(must(repo->find_user_by_username("alice")).record.enabled);
  CHECK(render(must(repo->list_api_keys("u-alice"))) == render(alice_keys));
  for (const auto& k : alice_keys) {
    CHECK(render(must(repo->find_api_key(k.record.id))) == render(k));
    CHECK(render(must(repo->find_api_key_by_hash(k.key_hash))) == render(k));
  }

  CHECK(detail(apply(*repo, m::UpdateUser{disabled}, m::DeleteApiKeysOfUser{"u-alice"})) == "ok");
  CHECK(render(must(repo->find_user("u-alice"))) == render(disabled));
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  for (const auto& k : alice_keys) CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  CHECK(joined(key_ids(must(repo->list_api_keys("u-bob")))) == "k-bob-1");
  dump(*repo);
}

TEST_CASE("delete-user cascade: all or nothing") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);

  // fails at the end: an absent user
  CHECK(outcome(apply(*repo, m::DeleteApiKeysOfUser{"u-alice"}, m::DeleteUser{"u-alice"},
                      m::UpdateUser{user("u-ghost", "acme", "ghost")})) == "not-found");
  CHECK(dump(*repo) == before);
  // fails because a later step needs what an earlier one removed
  CHECK(outcome(apply(*repo, m::DeleteUser{"u-alice"}, m::InsertApiKey{api_key("k-new", "u-alice")})) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_api_key("k-new")) == "not-found");
  // the username is still taken
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-x", "acme", "ALICE")})) == "duplicate");

  CHECK(detail(apply(*repo, m::DeleteUser{"u-alice"})) == "ok");
  CHECK(outcome(repo->find_user("u-alice")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-alice-1")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-alice-2")) == "not-found");
  dump(*repo);
}

TEST_CASE("disable-workspace cascade: all or nothing") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  auto off = must(repo->find_workspace("acme"));
  off.enabled = false;

  CHECK(outcome(apply(*repo, m::UpdateWorkspace{off}, m::DisableUsersInWorkspace{"acme"},
                      m::DeleteApiKeysInWorkspace{"acme"}, m::InsertUser{user("u-x", "beta", "Carol")})) ==
        "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(must(repo->find_workspace("acme")).enabled);
  CHECK(must(repo->find_user("u-alice")).record.enabled);
  CHECK(must(repo->find_user("u-bob")).record.enabled);
  CHECK(must(repo->list_api_keys("u-alice")).size() == 2);
  CHECK(must(repo->list_api_keys("u-bob")).size() == 1);
  CHECK(must(repo->find_api_key_by_hash(fake_hash("key:k-bob-1"))).record.id == "k-bob-1");

  CHECK(detail(apply(*repo, m::UpdateWorkspace{off}, m::DisableUsersInWorkspace{"acme"},
                     m::DeleteApiKeysInWorkspace{"acme"})) == "ok");
  CHECK_FALSE(must(repo->find_workspace("acme")).enabled);
  for (const auto& u : must(repo->list_users("acme"))) {
    CHECK_FALSE(u.record.enabled);
    CHECK(must(repo->list_api_keys(u.record.id)).empty());
  }
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:k-bob-1"))) == "not-found");
  CHECK(must(repo->find_workspace("beta")).enabled);
  CHECK(must(repo->find_user("u-carol")).record.enabled);
  CHECK(must(repo->list_api_keys("u-carol")).size() == 2);
  dump(*repo);
}

TEST_CASE("records created in a failed change leave no trace; later steps see earlier ones") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  auto build = [](bool with_failure) {
    auto c = change(m::InsertWorkspace{workspace("gamma")}, m::InsertUser{user("u-gus", "gamma", "Gus")},
                    m::InsertApiKey{api_key("k-gus", "u-gus")}, m::TouchApiKey{"k-gus", at(t0 + 77)},
                    m::InsertSigningKey{signing_key("kid-g", 7, at(t0))});
    if (with_failure) {
      auto clash = api_key("k-other", "u-gus");
      clash.key_hash = fake_hash("key:k-bob-1");  // bob's hash
      c.emplace_back(m::InsertApiKey{clash});
    }
    return c;
  };

  const auto failing = build(true);
  CHECK(outcome(repo->apply(failing)) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_workspace("gamma")) == "not-found");
  CHECK(outcome(repo->find_user("u-gus")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("gus")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-gus")) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:k-gus"))) == "not-found");
  CHECK(no_keys(*repo, "u-gus"));
  CHECK(must(repo->list_signing_keys()).empty());
  CHECK(must(repo->find_api_key_by_hash(fake_hash("key:k-bob-1"))).record.user_id == "u-bob");

  // every id, username, hash and kid is free: the same change without the clash succeeds
  const auto succeeding = build(false);
  CHECK(detail(repo->apply(succeeding)) == "ok");
  CHECK(must(repo->find_user_by_username("GUS")).record.workspace == "gamma");
  CHECK(stamp(must(repo->find_api_key_by_hash(fake_hash("key:k-gus"))).record.last_used) == stamp(at(t0 + 77)));
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-g");

  // delete and re-create a username within one change
  CHECK(detail(apply(*repo, m::DeleteUser{"u-gus"}, m::InsertUser{user("u-gus-2", "gamma", "GUS")})) == "ok");
  CHECK(must(repo->find_user_by_username("gus")).record.id == "u-gus-2");
  CHECK(outcome(repo->find_api_key("k-gus")) == "not-found");
  dump(*repo);
}


TEST_CASE("bootstrap: RequireEmpty + seeding succeeds once, then fails with duplicate and changes nothing") {
  auto repo = fresh();
  const auto first = bootstrap_change("a", "default", "admin");
  CHECK(detail(repo->apply(first)) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(must(repo->find_user_by_username("admin")).record.id == "u-admin-a");
  CHECK(must(repo->find_user("u-admin-a")).record.must_change_password);
  CHECK(joined(key_ids(must(repo->list_api_keys("u-admin-a")))) == "k-bootstrap-a");
  CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-a");
  const auto before = dump(*repo);

  // all new ids: only RequireEmpty stands in the way
  const auto second = bootstrap_change("b", "other", "root");
  CHECK(outcome(repo->apply(second)) == "duplicate");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_workspace("other")) == "not-found");
  CHECK(outcome(repo->find_user("u-admin-b")) == "not-found");
  CHECK(outcome(repo->find_api_key("k-bootstrap-b")) == "not-found");

  // a workspace alone makes the store non-empty
  auto repo2 = fresh();
  REQUIRE(detail(apply(*repo2, m::InsertWorkspace{workspace("lonely")})) == "ok");
  const auto before2 = dump(*repo2);
  const auto third = bootstrap_change("c", "default", "admin");
  CHECK(outcome(repo2->apply(third)) == "duplicate");
  CHECK(dump(*repo2) == before2);
}


TEST_CASE("staged rotation: one next and one current key, promotion, the conditional promotion") {
  auto repo = fresh();
  const auto c1 = signing_key("kid-c1", 1, at(t0));
  const auto n1 = next_signing_key("kid-n1", 2, at(t0));
  REQUIRE(detail(apply(*repo, m::InsertSigningKey{c1.copy()}, m::InsertSigningKey{n1.copy()})) == "ok");
  CHECK(render(must(repo->list_signing_keys())) == render(c1) + "\n" + render(n1) + "\n");
  {
    const auto keys = must(repo->list_signing_keys());
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].is_current());
    CHECK(keys[1].is_next());
    CHECK_FALSE(keys[1].secret_key.empty());  // the next key keeps its private half: it will sign
  }
  const auto initial = dump(*repo);
  CHECK(outcome(apply(*repo, m::InsertSigningKey{next_signing_key("kid-n2", 3, at(t0 + 1))})) == "duplicate");
  CHECK(dump(*repo) == initial);

  SUBCASE("the condition: only a current key activated at or before the time is promoted") {
    CHECK(outcome(apply(*repo, m::PromoteNextSigningKey{at(t0 + 50), at(t0 - 1)})) == "duplicate");
    CHECK(dump(*repo) == initial);
    const auto n2 = next_signing_key("kid-n2", 3, at(t0 + 100));
    CHECK(detail(apply(*repo, m::PromoteNextSigningKey{at(t0 + 100), at(t0)}, m::InsertSigningKey{n2.copy()})) ==
          "ok");
    auto c1_retired = c1.copy();
    c1_retired.retired = at(t0 + 100);
    c1_retired.secret_key.clear();
    auto n1_current = n1.copy();
    n1_current.activated = at(t0 + 100);
    CHECK(render(must(repo->list_signing_keys())) ==
          render(c1_retired) + "\n" + render(n1_current) + "\n" + render(n2) + "\n");
    // The same scheduled rotation again, as a second process would try it: refused whole.
    const auto rotated = dump(*repo);
    CHECK(outcome(apply(*repo, m::PromoteNextSigningKey{at(t0 + 101), at(t0 + 99)},
                        m::InsertSigningKey{next_signing_key("kid-n3", 4, at(t0 + 101))})) == "duplicate");
    CHECK(dump(*repo) == rotated);
    // Due again one interval after the last activation.
    CHECK(detail(apply(*repo, m::PromoteNextSigningKey{at(t0 + 200), at(t0 + 100)},
                       m::InsertSigningKey{next_signing_key("kid-n3", 4, at(t0 + 200))})) == "ok");
    CHECK(joined(kids(must(repo->list_signing_keys()))) == "kid-c1 kid-n1 kid-n2 kid-n3");
  }
  SUBCASE("unconditional promotion; without a next key, not_found") {
    CHECK(detail(apply(*repo, m::PromoteNextSigningKey{at(t0 + 10), std::nullopt})) == "ok");
    const auto keys = must(repo->list_signing_keys());
    REQUIRE(keys.size() == 2);
    CHECK(stamp(keys[0].retired) == stamp(at(t0 + 10)));
    CHECK(keys[0].secret_key.empty());
    CHECK(keys[1].is_current());
    CHECK(stamp(keys[1].activated) == stamp(at(t0 + 10)));
    const auto promoted = dump(*repo);
    CHECK(outcome(apply(*repo, m::PromoteNextSigningKey{at(t0 + 20), std::nullopt})) == "not-found");
    CHECK(dump(*repo) == promoted);
  }
  SUBCASE("a promotion in a failed change is undone") {
    REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::PromoteNextSigningKey{at(t0 + 10), std::nullopt},
                        m::InsertSigningKey{next_signing_key("kid-n2", 3, at(t0 + 10))},
                        m::InsertWorkspace{workspace("acme")})) == "duplicate");
    CHECK(dump(*repo) == before);
  }
  SUBCASE("promotion then a new current key is a second current key: refused") {
    CHECK(outcome(apply(*repo, m::PromoteNextSigningKey{at(t0 + 10), std::nullopt},
                        m::InsertSigningKey{signing_key("kid-c2", 3, at(t0 + 10))})) == "duplicate");
    CHECK(dump(*repo) == initial);
  }
}

TEST_CASE("staged rotation: of many conditional promotions at once exactly one applies") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertSigningKey{signing_key("kid-c", 1, at(t0))},
                       m::InsertSigningKey{next_signing_key("kid-n", 2, at(t0))})) == "ok");
  constexpr int contenders = 6;
  std::atomic<int> won{0};
  std::atomic<int> lost{0};
  Violations violations;
  std::vector<std::thread> threads;
  for (int i = 0; i < contenders; ++i)
    threads.emplace_back([&, i] {
      const auto s = apply(*repo, m::PromoteNextSigningKey{at(t0 + 100), at(t0 + 50)},
                           m::InsertSigningKey{next_signing_key("kid-" + std::to_string(i),
                                                                static_cast<std::uint8_t>(10 + i), at(t0 + 100))});
      if (s.ok()) won.fetch_add(1);
      else if (s.error().code == iam::ErrorCode::duplicate) lost.fetch_add(1);
      else violations.add(detail(s));
    });
  for (auto& t : threads) t.join();
  CHECK_MESSAGE(violations.count() == 0, violations.first());
  CHECK(won.load() == 1);
  CHECK(lost.load() == contenders - 1);
  const auto keys = must(repo->list_signing_keys());
  int current = 0;
  int next = 0;
  for (const auto& k : keys) {
    current += k.is_current() ? 1 : 0;
    next += k.is_next() ? 1 : 0;
  }
  CHECK(keys.size() == 3);
  CHECK(current == 1);
  CHECK(next == 1);
}
