// iam-gateway's audit log flags (--audit-log and its settings) and opening the sink they
// describe: the audit events of the regime and the gateway.request events, written as
// hash-chained JSON lines (protocol.md "Audit log file").
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "iam/audit.h"
#include "iam/status.h"

namespace gateway {

struct AuditLogOptions {
  std::string path;                  // empty: no audit log
  std::string fsync = "1000";        // "never", "every-event" or a number of milliseconds
  std::size_t queue = 10'000;
  bool authorise_allows = false;
};

void add_audit_log_options(CLI::App& app, AuditLogOptions& options);

// The sink, or null without --audit-log. invalid_argument for bad flag values,
// internal_error when the file cannot be opened.
iam::Result<std::shared_ptr<iam::AuditFileSink>> open_audit_log(const AuditLogOptions& options);

}  // namespace gateway
