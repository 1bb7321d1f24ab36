// Checks of the JSON protocol's wire shapes, shared by the protocol tests.
#pragma once

#include <doctest/doctest.h>

#include <string_view>

#include <nlohmann/json.hpp>

namespace test_support {

// `out` is an error answer of exactly this type: {"error": {"type": …, "message": …}} and
// nothing else.
inline void check_error(const nlohmann::json& out, std::string_view type) {
  CAPTURE(out.dump());
  REQUIRE(out.size() == 1);
  REQUIRE(out.contains("error"));
  const nlohmann::json& error = out["error"];
  REQUIRE(error.is_object());
  CHECK(error.size() == 2);
  CHECK(error["type"] == type);
  CHECK(error["message"].is_string());
}

}  // namespace test_support
