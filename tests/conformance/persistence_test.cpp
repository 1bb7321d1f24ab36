// The storage conformance suite (see suite.h): what a reopened store still holds. A backend
// that keeps nothing beyond the object (backend_persists false) has this case skipped, and
// doctest reports the skip; one that says it persists must reopen.
#include "suite.h"

using namespace suite;

namespace conformance {

// For backends that do not persist (see backend.h): a strong definition in a backend's
// source replaces this one at link time.
[[gnu::weak]] std::shared_ptr<iam::Repository> reopen_backend(std::shared_ptr<iam::Repository>) { return nullptr; }

}  // namespace conformance

TEST_CASE("persistence: everything survives a reopen, and the rules still hold" *
          doctest::skip(!conformance::backend_persists)) {
  auto repo = fresh();
  seed_world(*repo);
  auto extra = user("u-zoe", "beta", "Zoë", {});
  extra.record.enabled = false;
  extra.record.must_change_password = true;
  extra.record.created = at(far);
  extra.credentials_epoch = 5;
  REQUIRE(detail(apply(*repo, m::InsertUser{extra}, m::AdvanceCredentialsEpoch{"u-bob"},
                       m::InsertSigningKey{signing_key("kid-old", 1, at(t0), at(t0 + 1))},
                       m::InsertSigningKey{signing_key("kid-new", 2, at(t0 + 1))},
                       m::TouchApiKey{"k-bob-1", at(far)})) == "ok");
  const auto before = dump(*repo);

  auto reopened = conformance::reopen_backend(std::move(repo));
  REQUIRE_MESSAGE(reopened != nullptr, "the backend says it persists but reopen_backend answered null");
  CHECK(dump(*reopened) == before);
  CHECK(outcome(apply(*reopened, m::InsertUser{user("u-x", "acme", "ALICE")})) == "duplicate");
  CHECK(outcome(apply(*reopened, m::InsertSigningKey{signing_key("kid-3", 3, at(t0 + 2))})) == "duplicate");
  CHECK(detail(apply(*reopened, m::DeleteUser{"u-alice"})) == "ok");
  CHECK(outcome(reopened->find_api_key_by_hash(fake_hash("key:k-alice-1"))) == "not-found");
  const auto after = dump(*reopened);
  auto again = conformance::reopen_backend(std::move(reopened));
  REQUIRE(again != nullptr);
  CHECK(dump(*again) == after);
}
