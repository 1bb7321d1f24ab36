// The storage conformance suite (see suite.h): workspaces, users and API keys: every field, every lookup, every rule.
#include "suite.h"

using namespace suite;


// =====================================================================================
// Emptiness and lookups of absent records
// =====================================================================================

TEST_CASE("a new repository is empty and answers not-found") {
  auto repo = fresh();
  CHECK(must(repo->list_workspaces()).empty());
  CHECK(must(repo->list_users(std::nullopt)).empty());
  CHECK(must(repo->list_signing_keys()).empty());
  CHECK(outcome(repo->find_workspace("default")) == "not-found");
  CHECK(outcome(repo->find_workspace("")) == "not-found");
  CHECK(outcome(repo->find_user("u1")) == "not-found");
  CHECK(authorisation(*repo, "u1") == "not-found");
  CHECK(outcome(repo->find_user_by_username("admin")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("")) == "not-found");
  CHECK(outcome(repo->find_api_key("k1")) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("k1"))) == "not-found");
  CHECK(detail(apply(*repo)) == "ok");  // an empty change is fine and changes nothing
  CHECK(must(repo->is_empty()));
}

TEST_CASE("is_empty counts workspaces and users, not signing keys") {
  auto repo = fresh();
  CHECK(detail(apply(*repo, m::InsertSigningKey{signing_key("kid-1", 1, at(t0))})) == "ok");
  CHECK(must(repo->is_empty()));
  CHECK(detail(apply(*repo, m::RequireEmpty{})) == "ok");

  CHECK(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(outcome(apply(*repo, m::RequireEmpty{})) == "duplicate");

  CHECK(detail(apply(*repo, m::InsertUser{user("u1", "acme", "alice")})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(detail(apply(*repo, m::DeleteUser{"u1"})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));  // the workspace is still there
}

// =====================================================================================
// Workspaces
// =====================================================================================

TEST_CASE("workspaces: every field round-trips; update changes name and enabled only") {
  auto repo = fresh();
  const auto acme = workspace("acme", "Acme Corporation", true, at(t0));
  const auto beta = workspace("beta", "", false, at(far));  // empty name, disabled, past 2038
  const auto uni = workspace("uni", "Ünïcödé ✓ 'quoted' \"double\" ; --", true, at(t0 + 86399));
  CHECK(detail(apply(*repo, m::InsertWorkspace{acme})) == "ok");
  CHECK(detail(apply(*repo, m::InsertWorkspace{beta}, m::InsertWorkspace{uni})) == "ok");
  CHECK_FALSE(must(repo->is_empty()));
  CHECK(render(must(repo->find_workspace("acme"))) == render(acme));
  CHECK(render(must(repo->find_workspace("beta"))) == render(beta));
  CHECK(render(must(repo->find_workspace("uni"))) == render(uni));
  CHECK(outcome(repo->find_workspace("gamma")) == "not-found");
  CHECK(render(must(repo->list_workspaces())) == render(std::vector{acme, beta, uni}));

  SUBCASE("update") {
    auto next = acme;
    next.name = "Acme Ltd";
    next.enabled = false;
    next.created = at(t0 + 999);  // ignored: created is not updated
    CHECK(detail(apply(*repo, m::UpdateWorkspace{next})) == "ok");
    auto expected = acme;
    expected.name = "Acme Ltd";
    expected.enabled = false;
    CHECK(render(must(repo->find_workspace("acme"))) == render(expected));
    CHECK(render(must(repo->find_workspace("beta"))) == render(beta));

    next.enabled = true;
    CHECK(detail(apply(*repo, m::UpdateWorkspace{next})) == "ok");
    expected.enabled = true;
    CHECK(render(must(repo->find_workspace("acme"))) == render(expected));
    CHECK(render(must(repo->list_workspaces())) == render(std::vector{expected, beta, uni}));
  }

  SUBCASE("update of an absent workspace is not-found and changes nothing") {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::UpdateWorkspace{workspace("ghost")})) == "not-found");
    CHECK(outcome(repo->find_workspace("ghost")) == "not-found");
    CHECK(dump(*repo) == before);
  }

  SUBCASE("a duplicate id is duplicate and changes nothing") {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::InsertWorkspace{workspace("acme", "Impostor", false, at(t0 + 5))})) ==
          "duplicate");
    CHECK(render(must(repo->find_workspace("acme"))) == render(acme));
    CHECK(dump(*repo) == before);
  }

  SUBCASE("workspace ids are compared exactly (case matters)") {
    const auto upper = workspace("ACME", "Upper Acme");
    CHECK(detail(apply(*repo, m::InsertWorkspace{upper})) == "ok");
    CHECK(render(must(repo->find_workspace("ACME"))) == render(upper));
    CHECK(render(must(repo->find_workspace("acme"))) == render(acme));
    CHECK(outcome(repo->find_workspace("Acme")) == "not-found");
  }
}

TEST_CASE("list_workspaces is ordered by id, byte-wise") {
  auto repo = fresh();
  for (const char* id : {"beta", "alpha", "Alpha", "a.b", "a-b", "a_b", "0rigin", "gamma", "Zulu"})
    CHECK(detail(apply(*repo, m::InsertWorkspace{workspace(id)})) == "ok");
  CHECK(joined(workspace_ids(must(repo->list_workspaces()))) == "0rigin Alpha Zulu a-b a.b a_b alpha beta gamma");
}

// =====================================================================================
// Users
// =====================================================================================

TEST_CASE("users: every field round-trips") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")})) == "ok");

  auto none = user("u-none", "acme", "NoRoles", {});
  none.record.name = "";
  none.record.email = "";
  none.record.enabled = false;
  none.record.must_change_password = true;
  none.record.created = at(far);
  auto one = user("u-one", "beta", "one", {"reader"});
  auto two = user("u-two", "acme", "two.users", {"admin", "reader"});
  two.record.created = at(t0 + 3600);
  auto three = user("u-three", "beta", "Zoë", {"writer", "admin", "reader"});  // order kept, not sorted
  three.record.name = "Zoë O'Brien \"the third\"; DROP TABLE users; --";
  three.record.email = "zoe+tag@example.co.uk";
  three.record.must_change_password = true;
  three.password_hash = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$" + std::string(43, 'x');
  three.credentials_epoch = 7;
  two.credentials_epoch = std::uint64_t{1} << 40;  // past 32 bits

  CHECK(detail(apply(*repo, m::InsertUser{none})) == "ok");
  CHECK(detail(apply(*repo, m::InsertUser{one}, m::InsertUser{two}, m::InsertUser{three})) == "ok");

  for (const auto* u : {&none, &one, &two, &three}) {
    INFO("user " << u->record.id);
    CHECK(render(must(repo->find_user(u->record.id))) == render(*u));
    CHECK(render(must(repo->find_user_by_username(u->record.username))) == render(*u));
  }
  CHECK(must(repo->find_user("u-none")).record.roles.empty());
  CHECK(must(repo->find_user("u-three")).record.roles == std::vector<std::string>{"writer", "admin", "reader"});
  CHECK(outcome(repo->find_user("u-ghost")) == "not-found");
  CHECK(outcome(repo->find_user("U-ONE")) == "not-found");  // ids compare exactly
  // authorise's read: only the fields a decision needs, roles in order
  CHECK(authorisation(*repo, "u-none") == "authorisation{id=u-none workspace=acme roles=[] enabled=0}");
  CHECK(authorisation(*repo, "u-three") == "authorisation{id=u-three workspace=beta roles=[writer,admin,reader] enabled=1}");
  CHECK(authorisation(*repo, "u-ghost") == "not-found");
  CHECK(authorisation(*repo, "U-ONE") == "not-found");
  CHECK(authorisation(*repo, "") == "not-found");
  // Ids of any length: a UUID, and two long ids alike in their first 101 bytes.
  const std::string long_id = "u-" + std::string(100, 'l');
  std::vector<iam::StoredUser> more;
  for (const std::string& id : {std::string("0b5f2f4e-8d47-4c1e-9a63-4f3e2d1c0b9a"), long_id + "a", long_id + "b"}) {
    iam::StoredUser u = three;
    u.record.id = id;
    u.record.username = "name-" + std::to_string(more.size());
    u.record.roles = {"reader"};
    more.push_back(u);
    CHECK(detail(apply(*repo, m::InsertUser{u})) == "ok");
  }
  for (const auto& u : more) CHECK(authorisation(*repo, u.record.id) == authorisation_of(u));
  CHECK(authorisation(*repo, long_id) == "not-found");
  CHECK(authorisation(*repo, long_id + "ab") == "not-found");
  for (const auto& u : more) CHECK(detail(apply(*repo, m::DeleteUser{u.record.id})) == "ok");
  for (const auto& u : more) CHECK(authorisation(*repo, u.record.id) == "not-found");
  CHECK(outcome(repo->find_user_by_username("ghost")) == "not-found");
  CHECK(render(must(repo->list_users(std::nullopt))) == render(std::vector{none, one, two, three}));
  CHECK(render(must(repo->list_users("acme"))) == render(std::vector{none, two}));
  CHECK(render(must(repo->list_users("beta"))) == render(std::vector{one, three}));
  dump(*repo);  // every index agrees
}

TEST_CASE("results are copies: changing one does not change the store") {
  auto repo = fresh();
  seed_world(*repo);
  const auto before = dump(*repo);
  auto u = must(repo->find_user("u-alice"));
  u.record.roles.clear();
  u.record.enabled = false;
  auto users = must(repo->list_users(std::nullopt));
  users.front().record.username = "changed";
  auto k = must(repo->find_api_key("k-alice-1"));
  k.record.name = "changed";
  auto w = must(repo->find_workspace("acme"));
  w.name = "changed";
  CHECK(dump(*repo) == before);
}

TEST_CASE("users: update changes every field but id, username, created and credentials epoch") {
  auto repo = fresh();
  seed_world(*repo);
  const auto alice = must(repo->find_user("u-alice"));

  auto next = alice;
  next.record.workspace = "beta";
  next.record.username = "mallory";  // ignored
  next.record.created = at(t0 + 5000);  // ignored
  next.record.name = "Alice Liddell";
  next.record.email = "alice@wonderland.example";
  next.record.roles = {"reader", "writer", "admin"};
  next.record.enabled = false;
  next.record.must_change_password = true;
  next.password_hash = "pbkdf2-sha256$600000$bmV3c2FsdA$" + std::string(43, 'n');
  next.credentials_epoch = alice.credentials_epoch + 5;  // ignored: only AdvanceCredentialsEpoch moves it
  CHECK(detail(apply(*repo, m::UpdateUser{next})) == "ok");

  auto expected = next;
  expected.record.username = "Alice";
  expected.record.created = alice.record.created;
  expected.credentials_epoch = alice.credentials_epoch;
  CHECK(render(must(repo->find_user("u-alice"))) == render(expected));
  // authorise sees the new home, roles and disabled flag at once
  CHECK(authorisation(*repo, "u-alice") == "authorisation{id=u-alice workspace=beta roles=[reader,writer,admin] enabled=0}");
  CHECK(render(must(repo->find_user_by_username("alice"))) == render(expected));
  CHECK(outcome(repo->find_user_by_username("mallory")) == "not-found");
  CHECK(joined(usernames(must(repo->list_users("acme")))) == "bob");
  CHECK(joined(usernames(must(repo->list_users("beta")))) == "Alice carol");
  CHECK(must(repo->list_api_keys("u-alice")).size() == 2);  // an update alone keeps the keys

  // roles 3 → 0 → 2, enabled back on
  next.record.roles = {};
  next.record.enabled = true;
  CHECK(detail(apply(*repo, m::UpdateUser{next})) == "ok");
  CHECK(must(repo->find_user("u-alice")).record.roles.empty());
  CHECK(must(repo->find_user("u-alice")).record.enabled);
  CHECK(authorisation(*repo, "u-alice") == "authorisation{id=u-alice workspace=beta roles=[] enabled=1}");
  next.record.roles = {"writer", "reader"};
  CHECK(detail(apply(*repo, m::UpdateUser{next})) == "ok");
  CHECK(must(repo->find_user("u-alice")).record.roles == std::vector<std::string>{"writer", "reader"});
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-m", "acme", "Mallory")})) == "ok");  // never reserved

  SUBCASE("update of an absent user is not-found and changes nothing") {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::UpdateUser{user("u-ghost", "acme", "ghost")})) == "not-found");
    CHECK(outcome(repo->find_user("u-ghost")) == "not-found");
    CHECK(outcome(repo->find_user_by_username("ghost")) == "not-found");
    CHECK(dump(*repo) == before);
  }

  SUBCASE("moving a user to an absent workspace is not-found and changes nothing") {
    const auto before = dump(*repo);
    auto moved = must(repo->find_user("u-bob"));
    moved.record.workspace = "nowhere";
    CHECK(outcome(apply(*repo, m::UpdateUser{moved})) == "not-found");
    CHECK(dump(*repo) == before);
  }
}

TEST_CASE("users: delete removes the user, its username and all its keys") {
  auto repo = fresh();
  seed_world(*repo);
  const auto alice_keys = must(repo->list_api_keys("u-alice"));
  REQUIRE(alice_keys.size() == 2);

  {
    const auto before = dump(*repo);
    CHECK(outcome(apply(*repo, m::DeleteUser{"u-ghost"})) == "not-found");
    CHECK(dump(*repo) == before);
  }

  CHECK(detail(apply(*repo, m::DeleteUser{"u-alice"})) == "ok");
  CHECK(outcome(repo->find_user("u-alice")) == "not-found");
  CHECK(authorisation(*repo, "u-alice") == "not-found");
  CHECK(outcome(repo->find_user_by_username("Alice")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("alice")) == "not-found");
  for (const auto& k : alice_keys) {
    CHECK(outcome(repo->find_api_key(k.record.id)) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  }
  CHECK(no_keys(*repo, "u-alice"));
  CHECK(joined(usernames(must(repo->list_users(std::nullopt)))) == "bob carol");
  CHECK(joined(key_ids(must(repo->list_api_keys("u-bob")))) == "k-bob-1");
  CHECK(joined(key_ids(must(repo->list_api_keys("u-carol")))) == "k-carol-2 k-carol-1");
  CHECK(outcome(apply(*repo, m::DeleteUser{"u-alice"})) == "not-found");

  // the username is free again, in any case
  const auto again = user("u-alice-2", "beta", "ALICE");
  CHECK(detail(apply(*repo, m::InsertUser{again})) == "ok");
  CHECK(render(must(repo->find_user_by_username("alice"))) == render(again));

  // the same id can come back, with no keys resurrected; the key ids and hashes are free
  CHECK(detail(apply(*repo, m::InsertUser{user("u-alice", "acme", "alice-returns")})) == "ok");
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  auto reused = api_key("k-alice-1", "u-alice-2");
  reused.key_hash = alice_keys[0].key_hash;
  CHECK(detail(apply(*repo, m::InsertApiKey{reused})) == "ok");
  CHECK(render(must(repo->find_api_key_by_hash(reused.key_hash))) == render(reused));
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  dump(*repo);
}

TEST_CASE("usernames are unique without regard to case and stored as given") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  const auto alice = user("u1", "acme", "Alice");
  CHECK(detail(apply(*repo, m::InsertUser{alice})) == "ok");

  const auto before = dump(*repo);
  for (const char* name : {"Alice", "alice", "ALICE", "aLiCe"}) {
    INFO("username " << name);
    CHECK(outcome(apply(*repo, m::InsertUser{user("u2", "acme", name)})) == "duplicate");
    CHECK(render(must(repo->find_user_by_username(name))) == render(alice));
  }
  CHECK(outcome(repo->find_user("u2")) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(joined(usernames(must(repo->list_users(std::nullopt)))) == "Alice");

  // a duplicate id under another username is duplicate too
  CHECK(outcome(apply(*repo, m::InsertUser{user("u1", "acme", "someone-else")})) == "duplicate");
  CHECK(outcome(repo->find_user_by_username("someone-else")) == "not-found");

  // two spellings of one name within one change: duplicate, and neither is kept
  CHECK(outcome(apply(*repo, m::InsertUser{user("u3", "acme", "bob")}, m::InsertUser{user("u4", "acme", "BOB")})) ==
        "duplicate");
  CHECK(outcome(repo->find_user("u3")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("bob")) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(detail(apply(*repo, m::InsertUser{user("u4", "acme", "Bob")})) == "ok");
  CHECK(must(repo->find_user_by_username("BOB")).record.username == "Bob");

  // letters beyond ASCII fold too: one user
  const auto e1 = user("e1", "acme", "Émile");
  CHECK(detail(apply(*repo, m::InsertUser{e1})) == "ok");
  CHECK(outcome(apply(*repo, m::InsertUser{user("e2", "acme", "émile")})) == "duplicate");
  CHECK(must(repo->find_user_by_username("Émile")).record.id == "e1");
  CHECK(must(repo->find_user_by_username("ÉMILE")).record.id == "e1");
  CHECK(must(repo->find_user_by_username("émile")).record.id == "e1");
  CHECK(must(repo->find_user_by_username("E\xcc\x81mile")).record.id == "e1");  // E + combining acute
  CHECK(outcome(apply(*repo, m::InsertUser{user("e3", "acme", "ÉMILE")})) == "duplicate");

  // a near miss is another user
  CHECK(outcome(repo->find_user_by_username("alice ")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("alic")) == "not-found");
}

TEST_CASE("usernames equal after NFKC and case folding are one: 'admin' and full-width 'ａdmin'") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  const auto admin = user("u-admin", "acme", "admin");
  CHECK(detail(apply(*repo, m::InsertUser{admin})) == "ok");
  const auto before = dump(*repo);
  for (const char* name : {"\xef\xbd\x81" "dmin",         // full-width a
                           "\xef\xbc\xa1\xef\xbc\xa4\xef\xbc\xad\xef\xbc\xa9\xef\xbc\xae",  // ＡＤＭＩＮ
                           "ad\xe2\x80\x8bmin",            // a zero-width space inside
                           "\xe2\x80\xae" "admin"}) {      // a bidi override before
    INFO("username " << name);
    CHECK(outcome(apply(*repo, m::InsertUser{user("u-other", "acme", name)})) == "duplicate");
    CHECK(render(must(repo->find_user_by_username(name))) == render(admin));
  }
  CHECK(dump(*repo) == before);

  // full case folding: 'ß' folds to "ss"
  const auto strasse = user("u-strasse", "acme", "Stra\xc3\x9f" "e");
  CHECK(detail(apply(*repo, m::InsertUser{strasse})) == "ok");
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-upper", "acme", "STRASSE")})) == "duplicate");
  CHECK(must(repo->find_user_by_username("strasse")).record.id == "u-strasse");

  // no key, no user: invalid UTF-8 is refused and found by nothing
  const auto before_invalid = dump(*repo);
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-bad", "acme", "adm\xffin")})) == "invalid-argument");
  CHECK(outcome(apply(*repo, m::InsertUser{user("u-bad", "acme", "\xe2\x80\x8b")})) == "invalid-argument");
  CHECK(outcome(repo->find_user_by_username("adm\xffin")) == "not-found");
  CHECK(outcome(repo->find_user_by_username("\xc0\xa1" "dmin")) == "not-found");  // overlong 'a'
  CHECK(outcome(repo->find_user("u-bad")) == "not-found");
  CHECK(dump(*repo) == before_invalid);
}

TEST_CASE("InsertUser into an absent workspace is not-found and reserves nothing") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")})) == "ok");
  const auto before = dump(*repo);
  CHECK(outcome(apply(*repo, m::InsertUser{user("u1", "nowhere", "alice")})) == "not-found");
  CHECK(outcome(apply(*repo, m::InsertUser{user("u1", "ACME", "alice")})) == "not-found");
  CHECK(dump(*repo) == before);
  CHECK(outcome(repo->find_user("u1")) == "not-found");
  CHECK(detail(apply(*repo, m::InsertUser{user("u1", "acme", "alice")})) == "ok");
}

TEST_CASE("list_users is ordered by username key, byte-wise, and filters by home workspace") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertWorkspace{workspace("beta")},
                       m::InsertWorkspace{workspace("empty")})) == "ok");
  const std::vector<std::pair<const char*, const char*>> people = {
      {"bob", "acme"},    {"Alice", "beta"}, {"carol", "acme"}, {"a_b", "beta"},  {"ab", "acme"},
      {"a-b", "acme"},    {"9lives", "beta"}, {"Zed", "acme"},  {"émile", "beta"},
  };
  int n = 0;
  for (const auto& [name, ws] : people)
    CHECK(detail(apply(*repo, m::InsertUser{user("id-" + std::to_string(n++), ws, name)})) == "ok");
  CHECK(joined(usernames(must(repo->list_users(std::nullopt)))) == "9lives a-b a_b ab Alice bob carol Zed émile");
  CHECK(joined(usernames(must(repo->list_users("acme")))) == "a-b ab bob carol Zed");
  CHECK(joined(usernames(must(repo->list_users("beta")))) == "9lives a_b Alice émile");
  CHECK(must(repo->list_users("empty")).empty());
}

// =====================================================================================
// API keys
// =====================================================================================

TEST_CASE("api keys: every field round-trips; lookups by id and by hash") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "alice")},
                       m::InsertUser{user("u2", "acme", "bob")})) == "ok");
  auto plain = api_key("k1", "u1", at(t0 + 10));  // no expiry, never used
  auto both = api_key("k2", "u1", at(t0 + 20));
  both.record.expires = at(far);
  both.record.last_used = at(t0 + 21);
  auto expiring = api_key("k3", "u2", at(far));
  expiring.record.expires = at(t0 + 30);  // already expired: storage does not judge
  expiring.record.name = "CI key for 'deploy'; ünïcödé";
  auto used = api_key("k4", "u2", at(t0));
  used.record.last_used = at(far);
  used.record.name = "";
  CHECK(detail(apply(*repo, m::InsertApiKey{plain})) == "ok");
  CHECK(detail(apply(*repo, m::InsertApiKey{both}, m::InsertApiKey{expiring}, m::InsertApiKey{used})) == "ok");

  for (const auto* k : {&plain, &both, &expiring, &used}) {
    INFO("key " << k->record.id);
    CHECK(render(must(repo->find_api_key(k->record.id))) == render(*k));
    CHECK(render(must(repo->find_api_key_by_hash(k->key_hash))) == render(*k));
  }
  CHECK_FALSE(must(repo->find_api_key("k1")).record.expires.has_value());
  CHECK_FALSE(must(repo->find_api_key("k1")).record.last_used.has_value());
  CHECK(outcome(repo->find_api_key("k-ghost")) == "not-found");
  CHECK(outcome(repo->find_api_key("K1")) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(fake_hash("ghost"))) == "not-found");
  CHECK(outcome(repo->find_api_key_by_hash(ascii_upper(plain.key_hash))) == "not-found");  // hashes compare exactly
  CHECK(outcome(repo->find_api_key_by_hash("")) == "not-found");
  CHECK(render(must(repo->list_api_keys("u1"))) == render(std::vector{plain, both}));
  CHECK(render(must(repo->list_api_keys("u2"))) == render(std::vector{used, expiring}));

  SUBCASE("duplicate id, duplicate hash, absent user") {
    const auto before = dump(*repo);
    auto same_id = api_key("k1", "u2");
    CHECK(outcome(apply(*repo, m::InsertApiKey{same_id})) == "duplicate");
    auto same_hash = api_key("k9", "u2");
    same_hash.key_hash = plain.key_hash;
    CHECK(outcome(apply(*repo, m::InsertApiKey{same_hash})) == "duplicate");
    same_hash.record.user_id = "u1";
    CHECK(outcome(apply(*repo, m::InsertApiKey{same_hash})) == "duplicate");
    CHECK(outcome(apply(*repo, m::InsertApiKey{api_key("k9", "u-ghost")})) == "not-found");
    CHECK(outcome(apply(*repo, m::InsertApiKey{api_key("k9", "U1")})) == "not-found");
    // two keys with one hash within one change
    auto twin = api_key("k10", "u1");
    twin.key_hash = fake_hash("key:k9");
    CHECK(outcome(apply(*repo, m::InsertApiKey{api_key("k9", "u1")}, m::InsertApiKey{twin})) == "duplicate");
    CHECK(outcome(repo->find_api_key("k9")) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(fake_hash("key:k9"))) == "not-found");
    CHECK(dump(*repo) == before);
  }

  SUBCASE("delete one key") {
    {
      const auto before = dump(*repo);
      CHECK(outcome(apply(*repo, m::DeleteApiKey{"k-ghost"})) == "not-found");
      CHECK(dump(*repo) == before);
    }
    CHECK(detail(apply(*repo, m::DeleteApiKey{"k2"})) == "ok");
    CHECK(outcome(repo->find_api_key("k2")) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(both.key_hash)) == "not-found");
    CHECK(render(must(repo->list_api_keys("u1"))) == render(std::vector{plain}));
    CHECK(render(must(repo->list_api_keys("u2"))) == render(std::vector{used, expiring}));
    CHECK(outcome(apply(*repo, m::DeleteApiKey{"k2"})) == "not-found");
    CHECK(must(repo->find_user("u1")).record.enabled);  // the user is untouched
    dump(*repo);
  }
}

TEST_CASE("list_api_keys lists only that user's keys, ordered by created then id") {
  auto repo = fresh();
  REQUIRE(detail(apply(*repo, m::InsertWorkspace{workspace("acme")}, m::InsertUser{user("u1", "acme", "alice")},
                       m::InsertUser{user("u2", "acme", "bob")}, m::InsertUser{user("u3", "acme", "carol")})) ==
          "ok");
  for (const auto& [id, owner, created] : std::vector<std::tuple<const char*, const char*, std::int64_t>>{
           {"kc", "u1", t0 + 3},
           {"kb2", "u1", t0 + 2},
           {"kz", "u2", t0},
           {"ka", "u1", t0 + 1},
           {"kB", "u1", t0 + 2},
           {"kb1", "u1", t0 + 2},
           {"ky", "u2", far},
           {"k0", "u1", far},
       })
    CHECK(detail(apply(*repo, m::InsertApiKey{api_key(id, owner, at(created))})) == "ok");
  CHECK(joined(key_ids(must(repo->list_api_keys("u1")))) == "ka kB kb1 kb2 kc k0");
  CHECK(joined(key_ids(must(repo->list_api_keys("u2")))) == "kz ky");
  CHECK(must(repo->list_api_keys("u3")).empty());
}

TEST_CASE("TouchApiKey sets last_used and ignores absent keys") {
  auto repo = fresh();
  seed_world(*repo);
  auto k1 = must(repo->find_api_key("k-alice-1"));  // never used
  auto k2 = must(repo->find_api_key("k-alice-2"));  // used at t0 + 12
  REQUIRE_FALSE(k1.record.last_used.has_value());

  CHECK(detail(apply(*repo, m::TouchApiKey{"k-alice-1", at(t0 + 100)})) == "ok");
  k1.record.last_used = at(t0 + 100);
  CHECK(render(must(repo->find_api_key("k-alice-1"))) == render(k1));
  CHECK(render(must(repo->find_api_key_by_hash(k1.key_hash))) == render(k1));

  CHECK(detail(apply(*repo, m::TouchApiKey{"k-alice-2", at(far)})) == "ok");
  k2.record.last_used = at(far);
  CHECK(render(must(repo->list_api_keys("u-alice"))) == render(std::vector{k1, k2}));

  // in order within a change: the last touch wins
  CHECK(detail(apply(*repo, m::TouchApiKey{"k-alice-1", at(t0 + 300)}, m::TouchApiKey{"k-alice-1", at(t0 + 400)})) ==
        "ok");
  CHECK(stamp(must(repo->find_api_key("k-alice-1")).record.last_used) == stamp(at(t0 + 400)));

  const auto before = dump(*repo);
  CHECK(detail(apply(*repo, m::TouchApiKey{"k-ghost", at(t0 + 500)})) == "ok");
  CHECK(outcome(repo->find_api_key("k-ghost")) == "not-found");
  CHECK(dump(*repo) == before);

  // a touch inside a failed change is undone
  CHECK(outcome(apply(*repo, m::TouchApiKey{"k-bob-1", at(t0 + 600)}, m::InsertWorkspace{workspace("acme")})) ==
        "duplicate");
  CHECK_FALSE(must(repo->find_api_key("k-bob-1")).record.last_used.has_value());
  CHECK(dump(*repo) == before);
}

TEST_CASE("DeleteApiKeysOfUser deletes that user's keys only") {
  auto repo = fresh();
  seed_world(*repo);
  const auto alice_keys = must(repo->list_api_keys("u-alice"));
  const auto alice = must(repo->find_user("u-alice"));
  const auto bob_keys = render(must(repo->list_api_keys("u-bob")));
  const auto carol_keys = render(must(repo->list_api_keys("u-carol")));
  CHECK(detail(apply(*repo, m::DeleteApiKeysOfUser{"u-alice"})) == "ok");
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  for (const auto& k : alice_keys) {
    CHECK(outcome(repo->find_api_key(k.record.id)) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  }
  CHECK(render(must(repo->list_api_keys("u-bob"))) == bob_keys);
  CHECK(render(must(repo->list_api_keys("u-carol"))) == carol_keys);
  CHECK(render(must(repo->find_user("u-alice"))) == render(alice));
  // again, with nothing left to delete: still fine
  CHECK(detail(apply(*repo, m::DeleteApiKeysOfUser{"u-alice"})) == "ok");
  dump(*repo);
}

TEST_CASE("DisableUsersInWorkspace disables that workspace's users only, and nothing else") {
  auto repo = fresh();
  seed_world(*repo);
  auto already = user("u-dave", "acme", "dave", {"writer"});
  already.record.enabled = false;
  auto erin = user("u-erin", "acme", "erin", {});
  erin.record.must_change_password = true;
  REQUIRE(detail(apply(*repo, m::InsertUser{already}, m::InsertUser{erin})) == "ok");

  std::vector<iam::StoredUser> expected_acme = must(repo->list_users("acme"));
  for (auto& u : expected_acme) {
    u.record.enabled = false;
    ++u.credentials_epoch;  // every user homed there, the already disabled too
  }
  const auto beta_users = render(must(repo->list_users("beta")));
  const auto workspaces = render(must(repo->list_workspaces()));
  std::string keys;
  for (const auto& u : must(repo->list_users(std::nullopt))) keys += render(must(repo->list_api_keys(u.record.id)));

  CHECK(detail(apply(*repo, m::DisableUsersInWorkspace{"acme"})) == "ok");
  CHECK(render(must(repo->list_users("acme"))) == render(expected_acme));
  CHECK(render(must(repo->list_users("beta"))) == beta_users);
  CHECK(render(must(repo->list_workspaces())) == workspaces);  // the workspace itself is untouched
  std::string keys_after;
  for (const auto& u : must(repo->list_users(std::nullopt)))
    keys_after += render(must(repo->list_api_keys(u.record.id)));
  CHECK(keys_after == keys);  // disabling alone deletes no key
  CHECK_FALSE(must(repo->find_user_by_username("ALICE")).record.enabled);
  CHECK(must(repo->find_user("u-carol")).record.enabled);
  CHECK(contains(authorisation(*repo, "u-alice"), " enabled=0}"));
  CHECK(contains(authorisation(*repo, "u-carol"), " enabled=1}"));
  dump(*repo);
}

TEST_CASE("AdvanceCredentialsEpoch: one step for that user only; an absent user is not-found") {
  auto repo = fresh();
  seed_world(*repo);
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 0);  // a new user starts at what was inserted
  std::string others;
  for (const auto& u : must(repo->list_users(std::nullopt)))
    if (u.record.id != "u-alice") others += render(u);

  CHECK(detail(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"})) == "ok");
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 1);
  CHECK(detail(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"}, m::AdvanceCredentialsEpoch{"u-alice"})) == "ok");
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 3);
  CHECK(must(repo->find_user_by_username("ALICE")).credentials_epoch == 3);

  // In one change with an UpdateUser (as disable-user writes it), in either order.
  auto alice = must(repo->find_user("u-alice"));
  alice.record.enabled = false;
  CHECK(detail(apply(*repo, m::UpdateUser{alice}, m::AdvanceCredentialsEpoch{"u-alice"})) == "ok");
  CHECK(must(repo->find_user("u-alice")).credentials_epoch == 4);
  alice.record.enabled = true;
  CHECK(detail(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"}, m::UpdateUser{alice})) == "ok");
  const auto now = must(repo->find_user("u-alice"));
  CHECK(now.credentials_epoch == 5);
  CHECK(now.record.enabled);

  std::string others_after;
  for (const auto& u : must(repo->list_users(std::nullopt)))
    if (u.record.id != "u-alice") others_after += render(u);
  CHECK(others_after == others);

  const auto before = dump(*repo);
  CHECK(outcome(apply(*repo, m::AdvanceCredentialsEpoch{"u-ghost"})) == "not-found");
  // A failed change changed nothing, the steps before the failing one included.
  CHECK(outcome(apply(*repo, m::AdvanceCredentialsEpoch{"u-alice"}, m::AdvanceCredentialsEpoch{"u-ghost"})) ==
        "not-found");
  CHECK(dump(*repo) == before);
}

TEST_CASE("DeleteApiKeysInWorkspace deletes the keys of users homed there only") {
  auto repo = fresh();
  seed_world(*repo);
  // frank's home was acme when his key was made; he now lives in beta
  REQUIRE(detail(apply(*repo, m::InsertUser{user("u-frank", "acme", "frank")},
                       m::InsertApiKey{api_key("k-frank-1", "u-frank")})) == "ok");
  auto frank = must(repo->find_user("u-frank"));
  frank.record.workspace = "beta";
  REQUIRE(detail(apply(*repo, m::UpdateUser{frank})) == "ok");

  std::vector<iam::StoredApiKey> acme_keys;
  for (const auto& u : must(repo->list_users("acme")))
    for (auto& k : must(repo->list_api_keys(u.record.id))) acme_keys.push_back(std::move(k));
  REQUIRE(acme_keys.size() == 3);
  std::string beta_keys;
  for (const auto& u : must(repo->list_users("beta"))) beta_keys += render(must(repo->list_api_keys(u.record.id)));
  const auto users = render(must(repo->list_users(std::nullopt)));

  CHECK(detail(apply(*repo, m::DeleteApiKeysInWorkspace{"acme"})) == "ok");
  for (const auto& k : acme_keys) {
    CHECK(outcome(repo->find_api_key(k.record.id)) == "not-found");
    CHECK(outcome(repo->find_api_key_by_hash(k.key_hash)) == "not-found");
  }
  CHECK(must(repo->list_api_keys("u-alice")).empty());
  CHECK(must(repo->list_api_keys("u-bob")).empty());
  std::string beta_after;
  for (const auto& u : must(repo->list_users("beta"))) beta_after += render(must(repo->list_api_keys(u.record.id)));
  CHECK(beta_after == beta_keys);
  CHECK(joined(key_ids(must(repo->list_api_keys("u-frank")))) == "k-frank-1");
  CHECK(render(must(repo->list_users(std::nullopt))) == users);  // users untouched
  dump(*repo);
}

// =====================================================================================
// Signing keys
// =====================================================================================

