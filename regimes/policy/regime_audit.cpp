// The audit events shared by the role-based regimes (regime_audit.h).
#include "regimes/policy/regime_audit.h"

#include <string>
#include <utility>
#include <vector>

namespace iam {

AuditEvent authenticate_event(TimePoint time, std::string_view credential_type, bool ok, std::string_view identity,
                              std::string_view reason) {
  std::vector<std::pair<std::string, std::string>> f{{"credential_type", std::string(credential_type)},
                                                      {"outcome", ok ? "success" : "failure"},
                                                      {"identity", ok ? std::string(identity) : "unknown"}};
  if (!ok) f.emplace_back("failure_reason", std::string(reason));
  return AuditEvent{"iam.authenticate", time, std::move(f)};
}

AuditEvent authorise_event(TimePoint time, std::string_view identity, std::string_view capability,
                           std::string_view workspace, const Verdict& verdict) {
  std::vector<std::pair<std::string, std::string>> f{{"identity", std::string(identity)},
                                                      {"capability", std::string(capability)}};
  if (!workspace.empty()) f.emplace_back("workspace", std::string(workspace));
  f.emplace_back("outcome", verdict.allow ? "allow" : "deny");
  if (!verdict.allow) f.emplace_back("denial_reason", verdict.reason);
  return AuditEvent{"iam.authorise", time, std::move(f)};
}

void record_audit(AuditSink& sink, const AuditEvent& event) noexcept {
  try {
    sink.record(event);
  } catch (...) {
    // A failing sink must not change any decision.
  }
}

std::string_view target_workspace(const Resource& resource, const Parameters& parameters) {
  std::string_view target = resource.workspace_id();
  if (target.empty())
    if (const auto it = parameters.find(component::workspace); it != parameters.end()) target = it->second;
  return target;
}

}  // namespace iam
