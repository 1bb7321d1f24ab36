// tests/support/audit_files.h — reading and altering audit log files in tests.
#pragma once

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "iam/audit.h"

namespace test_support {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// The file's lines without their newlines (a last line without one included).
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// An event with the given name and fields, stamped now.
inline iam::AuditEvent audit_event(std::string name, std::vector<std::pair<std::string, std::string>> fields = {}) {
  return iam::AuditEvent{std::move(name), std::chrono::system_clock::now(), std::move(fields)};
}

}  // namespace test_support
