#include "audit_log.h"

#include <charconv>

namespace gateway {

void add_audit_log_options(CLI::App& app, AuditLogOptions& o) {
  app.add_option("--audit-log", o.path,
                 "append audit events (TrustGraph's AuditEvent envelope, hash-chained JSON lines) to this file; "
                 "SIGHUP reopens it after rotation; check it with iamctl audit-verify");
  app.add_option("--audit-fsync", o.fsync, "never, every-event, or at most every N milliseconds")
      ->capture_default_str();
  app.add_option("--audit-queue", o.queue, "audit events waiting to be written before new ones are dropped")
      ->capture_default_str();
  app.add_flag("--audit-authorise-allows", o.authorise_allows,
               "also write iam.authorise events that allow (one per uncached decision; denies are always written)");
}

iam::Result<std::shared_ptr<iam::AuditFileSink>> open_audit_log(const AuditLogOptions& o) {
  if (o.path.empty()) return std::shared_ptr<iam::AuditFileSink>();
  iam::AuditFileOptions options;
  options.path = o.path;
  options.producer = "iam-gateway";
  options.queue_capacity = o.queue;
  options.authorise_allows = o.authorise_allows;
  if (o.fsync == "never") {
    options.fsync = iam::AuditFsync::never;
  } else if (o.fsync == "every-event") {
    options.fsync = iam::AuditFsync::every_event;
  } else {
    long long milliseconds = 0;
    const auto [end, ec] = std::from_chars(o.fsync.data(), o.fsync.data() + o.fsync.size(), milliseconds);
    if (ec != std::errc() || end != o.fsync.data() + o.fsync.size() || milliseconds <= 0)
      return iam::Error{iam::ErrorCode::invalid_argument,
                        "--audit-fsync must be never, every-event or a positive number of milliseconds"};
    options.fsync = iam::AuditFsync::interval;
    options.fsync_interval = std::chrono::milliseconds(milliseconds);
  }
  return iam::make_audit_file_sink(std::move(options));
}

}  // namespace gateway
