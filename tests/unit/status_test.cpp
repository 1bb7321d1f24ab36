#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

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

namespace {
iam::Result<int> half(int n) {
  if (n % 2 != 0) return iam::Error{iam::ErrorCode::invalid_argument, "odd"};
  return n / 2;
}

iam::Result<int> quarter(int n) {
  IAM_ASSIGN_OR_RETURN(int h, half(n));
  IAM_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

iam::Status check_even(int n) {
  IAM_RETURN_IF_ERROR(half(n));
  return {};
}

// Runs `misuse` in a child process and reports whether it died of SIGABRT.
template <class F>
bool aborts(F misuse) {
  pid_t child = fork();
  if (child == 0) {
    misuse();
    _exit(0);  // reached only if the misuse did not abort
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}
}  // namespace

TEST_CASE("propagation helpers return the first error and pass values through") {
  CHECK(*quarter(12) == 3);
  auto odd_first = quarter(7);
  REQUIRE_FALSE(odd_first.ok());
  CHECK(odd_first.error().message == "odd");
  CHECK_FALSE(quarter(6).ok());  // 6 / 2 = 3 is odd: the second step fails
  CHECK(check_even(4).ok());
  CHECK(check_even(5).error().code == iam::ErrorCode::invalid_argument);
}

TEST_CASE("wrong-alternative access aborts instead of throwing or reading nothing") {
  CHECK(aborts([] { (void)iam::Result<int>(iam::ErrorCode::not_found, "x").value(); }));
  CHECK(aborts([] { (void)*iam::Result<std::string>(iam::ErrorCode::not_found, "x"); }));
  CHECK(aborts([] { (void)iam::Result<int>(5).error(); }));
  CHECK(aborts([] { (void)iam::Status().error(); }));
  CHECK(aborts([] { (void)std::move(iam::Status()).error(); }));
  CHECK_FALSE(aborts([] { (void)iam::Result<int>(5).value(); }));  // the check itself can tell
}
