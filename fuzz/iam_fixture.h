// A roles regime on memory storage (iam/testing.h) with an Enforcer in front, shared by the
// dispatcher, WebSocket and registry targets. Rebuilt every `rebuild_every` inputs so
// what fuzzed requests create (users, keys, workspaces) cannot grow without bound.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "fuzz_common.h"
#include "iam/gateway.h"
#include "iam/protocol.h"
#include "iam/testing.h"

namespace fuzz {

struct IamFixture {
  iam::testing::TestIam t;
  std::shared_ptr<iam::Enforcer> enforcer;
  std::unique_ptr<iam::JsonDispatcher> dispatcher;
  std::string reader_user_id;
  std::string reader_api_key;  // a reader in workspace "default"
  std::string admin_jwt;       // the admin's JWT (login with "fuzz-admin-password")
  iam::Identity admin;
  iam::Identity reader;

  IamFixture() {
    iam::testing::TestIamOptions options;
    options.password_iterations = 1;  // PBKDF2 is OpenSSL's, not under test here
    auto made = iam::testing::make_test_iam(std::move(options));
    check(made.ok(), "make_test_iam");
    t = std::move(*made);
    iam::GatewayConfig config;
    config.regime = t.regime;
    config.clock = t.clock;
    config.logger = iam::null_logger();
    auto created = iam::make_enforcer(std::move(config));
    check(created.ok(), "make_enforcer");
    enforcer = std::move(*created);
    dispatcher = std::make_unique<iam::JsonDispatcher>(t.regime);

    auto user = t.create_user("fuzz-reader", "fuzz-reader-password", {"reader"});
    check(user.ok(), "create reader");
    reader_user_id = user->id;
    auto key = t.create_api_key(reader_user_id);
    check(key.ok(), "reader key");
    reader_api_key = std::move(*key);
    auto writer = t.create_user("fuzz-admin", "fuzz-admin-password", {"admin"});
    check(writer.ok(), "create admin user");
    auto jwt = t.login("fuzz-admin", "fuzz-admin-password");
    check(jwt.ok(), "admin login");
    admin_jwt = std::move(*jwt);
    auto a = enforcer->authenticate(t.admin_api_key);
    auto r = enforcer->authenticate(reader_api_key);
    check(a.ok() && r.ok(), "authenticate fixture keys");
    admin = std::move(*a);
    reader = std::move(*r);
  }
};

// The fixture for this input: a fresh one every `rebuild_every` calls.
inline IamFixture& iam_fixture(std::size_t rebuild_every = 2000) {
  static std::unique_ptr<IamFixture> fixture;
  static std::size_t uses = 0;
  if (!fixture || ++uses % rebuild_every == 0) {
    fixture.reset();
    fixture = std::make_unique<IamFixture>();
  }
  return *fixture;
}

}  // namespace fuzz
