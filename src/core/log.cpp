#include "iam/audit.h"
#include "iam/log.h"

#include "core/text.h"

#include <nlohmann/json.hpp>

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

const std::string* AuditEvent::field(std::string_view key) const {
  for (const auto& [k, v] : fields)
    if (k == key) return &v;
  return nullptr;
}

std::string AuditEvent::to_json() const {
  nlohmann::ordered_json out;
  out["event"] = name;
  out["time"] = format_rfc3339(time);
  for (const auto& [k, v] : fields) out[k] = v;
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {
class NullAuditSink final : public AuditSink {
 public:
  void record(const AuditEvent&) override {}
};
}  // namespace

std::shared_ptr<AuditSink> null_audit_sink() {
  static const auto sink = std::make_shared<NullAuditSink>();
  return sink;
}

}  // namespace iam
