#include <doctest/doctest.h>

#include "iam/status.h"

TEST_CASE("error type names round trip") {
  for (auto code : {iam::ErrorCode::invalid_argument, iam::ErrorCode::not_found, iam::ErrorCode::duplicate,
                    iam::ErrorCode::auth_failed, iam::ErrorCode::weak_password, iam::ErrorCode::disabled,
                    iam::ErrorCode::operation_not_permitted, iam::ErrorCode::not_supported,
                    iam::ErrorCode::internal_error}) {
    CHECK(iam::error_code_from_name(iam::error_type_name(code)) == code);
  }
  CHECK(iam::error_type_name(iam::ErrorCode::operation_not_permitted) == "operation-not-permitted");
  CHECK_FALSE(iam::error_code_from_name("access-denied").has_value());
}

TEST_CASE("Result holds a value or an error") {
  iam::Result<int> good(7);
  REQUIRE(good.ok());
  CHECK(*good == 7);
  iam::Result<int> bad(iam::ErrorCode::not_found, "nope");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == iam::ErrorCode::not_found);
  iam::Status fine;
  CHECK(fine.ok());
  CHECK(iam::auth_failure().message == "auth failure");
}
