// Reading the data files the tests need (tests/vectors, tests/fixtures). tests/meson.build
// names their directories in IAM_VECTORS_DIR and IAM_FIXTURES_DIR; a variable that is not
// set, a file that is missing or JSON that does not parse fails the test, never skips it.
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace test_support {

inline std::filesystem::path env_dir(const char* name) {
  const char* value = std::getenv(name);
  INFO("environment variable " << std::string(name) << " must name the directory (tests/meson.build sets it)");
  REQUIRE(value != nullptr);
  REQUIRE(*value != '\0');
  return value;
}

inline std::filesystem::path vectors_dir() { return env_dir("IAM_VECTORS_DIR"); }
inline std::filesystem::path fixtures_dir() { return env_dir("IAM_FIXTURES_DIR"); }

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.is_open(), "file missing: " << path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline nlohmann::json load_json(const std::filesystem::path& path) {
  INFO("reading " << path.string());
  nlohmann::json doc = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  REQUIRE_FALSE(doc.is_discarded());
  return doc;
}

// The first line of a file, which must have one.
inline std::string first_line(const std::filesystem::path& path) {
  std::istringstream text(read_file(path));
  std::string line;
  REQUIRE_MESSAGE(static_cast<bool>(std::getline(text, line)), "empty file: " << path.string());
  return line;
}

}  // namespace test_support
