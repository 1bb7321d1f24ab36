// regimes/policy/regime_audit.h — the iam.authenticate and iam.authorise audit events
// (protocol.md "Audit events") as every role-based regime writes them (internal header).
//
// THREAD SAFETY: pure functions; record_audit calls the sink, which must be thread-safe.
// ERRORS: none; a sink that throws is ignored (an audit failure never changes a decision).
#pragma once

#include <string_view>

#include "iam/audit.h"
#include "iam/resource.h"
#include "regimes/policy/role_policy.h"

namespace iam {

// credential_type, outcome, identity ("unknown" on failure) and failure_reason on failure.
AuditEvent authenticate_event(TimePoint time, std::string_view credential_type, bool ok, std::string_view identity,
                              std::string_view reason);
// identity, capability, workspace (when there is one), outcome and denial_reason on a deny.
AuditEvent authorise_event(TimePoint time, std::string_view identity, std::string_view capability,
                           std::string_view workspace, const Verdict& verdict);
// Hands `event` to `sink`, swallowing whatever the sink throws.
void record_audit(AuditSink& sink, const AuditEvent& event) noexcept;

// The workspace an authorisation check is about: the resource's, else the `workspace`
// parameter, else none (a system-level check).
std::string_view target_workspace(const Resource& resource, const Parameters& parameters);

}  // namespace iam
