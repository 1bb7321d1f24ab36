#include "iam/log.h"

#include "core/text.h"

#include <cstdio>
#include <string>

namespace iam {

std::string_view log_level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
  }
  return "info";
}

Logger stderr_logger() {
  return [](LogLevel level, std::string_view message) {
    std::string line = "iam ";
    line += log_level_name(level);
    line += ": ";
    line += text::escape_controls(message);  // messages quote stored names: no forged lines, no escapes
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line keeps lines whole
  };
}

Logger null_logger() {
  return [](LogLevel, std::string_view) {};
}

}  // namespace iam
