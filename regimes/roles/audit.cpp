// The roles regime's audit events (contract.md "Audit"): iam.authenticate, iam.authorise
// and iam.management. Never a secret: credentials, passwords and keys are not fields.
#include "regimes/roles/roles_regime_impl.h"

namespace iam {

void RolesRegimeImpl::emit(std::string name, std::vector<std::pair<std::string, std::string>> fields) {
  if (!audit_on_) return;
  try {
    AuditEvent event{std::move(name), now(), std::move(fields)};
    cfg_.audit->record(event);
  } catch (...) {
    // A failing sink must not change any decision.
  }
}

void RolesRegimeImpl::audit_authenticate(std::string_view type, bool ok, std::string_view identity,
                                         std::string_view reason) {
  if (!audit_on_) return;
  std::vector<std::pair<std::string, std::string>> f{{"credential_type", std::string(type)},
                                                      {"outcome", ok ? "success" : "failure"},
                                                      {"identity", ok ? std::string(identity) : "unknown"}};
  if (!ok) f.emplace_back("failure_reason", std::string(reason));
  emit("iam.authenticate", std::move(f));
}

void RolesRegimeImpl::audit_authorise(std::string_view identity, std::string_view capability,
                                      std::string_view workspace, const Verdict& verdict) {
  if (!audit_on_) return;
  std::vector<std::pair<std::string, std::string>> f{{"identity", std::string(identity)},
                                                      {"capability", std::string(capability)}};
  if (!workspace.empty()) f.emplace_back("workspace", std::string(workspace));
  f.emplace_back("outcome", verdict.allow ? "allow" : "deny");
  if (!verdict.allow) f.emplace_back("denial_reason", verdict.reason);
  emit("iam.authorise", std::move(f));
}

void RolesRegimeImpl::audit_management(const Actor& actor, std::string_view operation, const Error* error,
                                       const OperationTarget& target) {
  if (!audit_on_) return;
  std::vector<std::pair<std::string, std::string>> f{{"actor", actor.value_or("")},
                                                      {"operation", std::string(operation)},
                                                      {"outcome", error ? "failure" : "success"}};
  if (!target.identity.empty()) f.emplace_back("target_identity", target.identity);
  if (!target.workspace.empty()) f.emplace_back("target_workspace", target.workspace);
  if (error) f.emplace_back("error_type", std::string(error_type_name(error->code)));
  emit("iam.management", std::move(f));
}

}  // namespace iam
