// How an application tests its own access checks with iam::testing::make_test_iam.
//
// The application below has one function, `may_write_documents`, that asks a Regime
// whether the caller behind a credential may write documents in a workspace. Its tests get a
// real roles regime on in-memory storage in one call, create users and keys with the
// helper's methods, and move the ManualClock to test expiry, all without a database,
// a network or a 600k-iteration password hash. Built and run by `meson test` (suite
// examples) so this example cannot rot.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "iam/testing.h"

namespace app {

// The application code under test: depends on the Regime contract only.
bool may_write_documents(iam::Regime& regime, std::string_view credential, const std::string& workspace) {
  const auto identity = regime.authenticate(credential);
  if (!identity) return false;  // every authentication failure looks the same: deny
  return regime.authorise(*identity, "documents:write", iam::Resource::workspace(workspace), {}).allow;
}

}  // namespace app

TEST_CASE("writers may write documents in their own workspace, readers may not") {
  auto iam = iam::testing::make_test_iam();
  REQUIRE(iam.ok());

  auto writer = iam->create_user("wendy", "wendy-password", {"writer"});
  auto reader = iam->create_user("rita", "rita-password", {"reader"});
  REQUIRE(writer.ok());
  REQUIRE(reader.ok());
  auto writer_key = iam->create_api_key(writer->id);
  auto reader_key = iam->create_api_key(reader->id);
  REQUIRE(writer_key.ok());
  REQUIRE(reader_key.ok());

  CHECK(app::may_write_documents(*iam->regime, *writer_key, "default"));
  CHECK_FALSE(app::may_write_documents(*iam->regime, *writer_key, "other"));  // not her workspace
  CHECK_FALSE(app::may_write_documents(*iam->regime, *reader_key, "default"));
  CHECK_FALSE(app::may_write_documents(*iam->regime, "tg_not-a-real-key", "default"));
}

TEST_CASE("a JWT stops working when it expires: the test moves the clock") {
  auto iam = iam::testing::make_test_iam();
  REQUIRE(iam.ok());
  REQUIRE(iam->create_user("wendy", "wendy-password", {"writer"}).ok());
  auto jwt = iam->login("wendy", "wendy-password");
  REQUIRE(jwt.ok());

  CHECK(app::may_write_documents(*iam->regime, *jwt, "default"));
  iam->clock->advance(std::chrono::hours(2));  // past the default one-hour lifetime
  CHECK_FALSE(app::may_write_documents(*iam->regime, *jwt, "default"));
}

TEST_CASE("the bootstrapped administrator may write documents in any workspace") {
  auto iam = iam::testing::make_test_iam();
  REQUIRE(iam.ok());
  CHECK(app::may_write_documents(*iam->regime, iam->admin_api_key, "default"));
  CHECK(app::may_write_documents(*iam->regime, iam->admin_api_key, "anywhere"));
}
