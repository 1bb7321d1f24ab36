// AuditEvent's JSON forms (the library's own line and TrustGraph's envelope), the null
// sink and the per-thread request context.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "iam/audit.h"

namespace iam {
namespace {

// "2026-11-22T10:15:00.123Z": RFC 3339 with milliseconds, so events within a second keep
// a visible order.
std::string iso8601_milliseconds(TimePoint time) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds).count();
  std::string text = format_rfc3339(seconds);  // "…:SSZ"
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03dZ", static_cast<int>(millis));
  text.pop_back();
  text += fraction;
  return text;
}

std::string dump(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

thread_local const AuditContext* current_context = nullptr;

}  // namespace

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
  return dump(out);
}

std::string AuditEvent::payload_json() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [k, v] : fields) out[k] = v;
  return dump(out);
}

std::string AuditEvent::envelope_json(std::string_view producer, std::string_view event_id) const {
  nlohmann::ordered_json out;
  out["schema_version"] = 1;
  out["event_id"] = event_id;
  out["event_type"] = name;
  out["timestamp"] = iso8601_milliseconds(time);
  out["producer"] = producer;
  out["payload_json"] = payload_json();
  return dump(out);
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

ScopedAuditContext::ScopedAuditContext(AuditContext context)
    : context_(std::move(context)), previous_(current_context) {
  current_context = &context_;
}

ScopedAuditContext::~ScopedAuditContext() { current_context = previous_; }

const AuditContext* current_audit_context() noexcept { return current_context; }

}  // namespace iam
