// The roles regime's audit events (contract.md "Audit"): iam.authenticate, iam.authorise
// and iam.management. Never a secret: credentials, passwords and keys are not fields.
#include "regimes/policy/regime_audit.h"
#include "regimes/roles/roles_regime_impl.h"

namespace iam {

void RolesRegimeImpl::emit(std::string name, std::vector<std::pair<std::string, std::string>> fields) {
  if (!audit_on_) return;
  try {
    record_audit(*cfg_.audit, AuditEvent{std::move(name), now(), std::move(fields)});
  } catch (...) {
    // Building the event failed (memory): the decision stands without it.
  }
}

void RolesRegimeImpl::audit_authenticate(std::string_view type, bool ok, std::string_view identity,
                                         std::string_view reason) {
  if (!audit_on_) return;
  record_audit(*cfg_.audit, authenticate_event(now(), type, ok, identity, reason));
}

void RolesRegimeImpl::audit_authorise(std::string_view identity, std::string_view capability,
                                      std::string_view workspace, const Verdict& verdict) {
  if (!audit_on_) return;
  record_audit(*cfg_.audit, authorise_event(now(), identity, capability, workspace, verdict));
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
