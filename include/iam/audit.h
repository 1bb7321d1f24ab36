// iam/audit.h — structured audit events (protocol.md "Audit events").
//
// A regime reports what happened to an AuditSink the application supplies. Events never
// carry a secret (password, key plaintext, token or hash).
// THREAD SAFETY: a sink is called from many threads at once and must be safe for that.
// A sink that throws changes nothing: the regime catches and drops the exception. A slow
// sink slows only the call that emits, so applications should hand events off quickly.
// OWNERSHIP: regimes hold sinks by std::shared_ptr.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iam/clock.h"
#include "iam/export.h"

namespace iam {

struct IAM_EXPORT AuditEvent {
  std::string name;  // "iam.authenticate", "iam.authorise", "iam.management"
  TimePoint time{};
  // The event's fields in the order they were added (protocol.md lists them per event).
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of a field, or nullptr when absent.
  const std::string* field(std::string_view key) const;
  // {"event": name, "time": RFC 3339, fields...} as one line of JSON.
  std::string to_json() const;
};

class IAM_EXPORT AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void record(const AuditEvent& event) = 0;
};

// Discards every event (the default).
IAM_EXPORT std::shared_ptr<AuditSink> null_audit_sink();

}  // namespace iam
