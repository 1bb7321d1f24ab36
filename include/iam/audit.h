// iam/audit.h — structured audit events, and writing them out (protocol.md "Audit events").
//
// A regime reports what happened to an AuditSink the application supplies: a callback
// interface (derive from AuditSink), or AuditFileSink, which writes each event as one line
// of JSON in TrustGraph's AuditEvent envelope, hash-chained for tamper evidence. Events
// never carry a secret (password, key plaintext, token or hash).
// THREAD SAFETY: a sink is called from many threads at once and must be safe for that.
// A sink that throws changes nothing: the regime catches and drops the exception. A slow
// sink slows only the call that emits, so applications should hand events off quickly
// (AuditFileSink only queues: it never waits for the disk).
// OWNERSHIP: regimes hold sinks by std::shared_ptr.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iam/clock.h"
#include "iam/export.h"
#include "iam/log.h"
#include "iam/random.h"
#include "iam/status.h"

namespace iam {

struct IAM_EXPORT AuditEvent {
  std::string name;  // "iam.authenticate", "iam.authorise", "iam.management", "gateway.request"
  TimePoint time{};
  // The event's fields in the order they were added (protocol.md lists them per event).
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of a field, or nullptr when absent.
  const std::string* field(std::string_view key) const;
  // {"event": name, "time": RFC 3339, fields...} as one line of JSON.
  std::string to_json() const;
  // The fields as one JSON object (the envelope's payload).
  std::string payload_json() const;
  // TrustGraph's AuditEvent envelope as one line of JSON, members in this order:
  // {"schema_version":1,"event_id":…,"event_type":name,"timestamp":<ISO 8601 UTC, ms>,
  //  "producer":…,"payload_json":<payload_json() as a JSON string>}.
  std::string envelope_json(std::string_view producer, std::string_view event_id) const;
};

class IAM_EXPORT AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void record(const AuditEvent& event) = 0;
};

// Discards every event (the default).
IAM_EXPORT std::shared_ptr<AuditSink> null_audit_sink();

// ---------------------------------------------------------------- request context

// What a server knows about the request a thread is handling. A regime's record() call
// runs on that thread, so AuditFileSink adds these to each event it is given (as
// `request_id` and `client_ip`, when set and not already fields); a callback sink may
// read current_audit_context() itself.
struct AuditContext {
  std::string request_id;
  std::string client_ip;
};

// Makes `context` the calling thread's audit context for this scope (then restores the
// previous one). Set it around the calls a request makes into the library.
class IAM_EXPORT ScopedAuditContext {
 public:
  explicit ScopedAuditContext(AuditContext context);
  ~ScopedAuditContext();
  ScopedAuditContext(const ScopedAuditContext&) = delete;
  ScopedAuditContext& operator=(const ScopedAuditContext&) = delete;

 private:
  AuditContext context_;
  const AuditContext* previous_;
};

// The calling thread's audit context, or nullptr outside any ScopedAuditContext.
IAM_EXPORT const AuditContext* current_audit_context() noexcept;

// ---------------------------------------------------------------- the file sink

enum class AuditFsync {
  never,        // the kernel writes back when it likes (a crash of the machine loses recent events)
  every_event,  // fdatasync after each event (slowest; loses nothing written)
  interval,     // fdatasync at most every fsync_interval, and before close
};

struct AuditFileOptions {
  std::string path;                     // required; appended to, created 0600
  std::string producer = "iam";         // the envelope's producer, e.g. "iam-gateway"
  AuditFsync fsync = AuditFsync::interval;
  std::chrono::milliseconds fsync_interval{1000};  // > 0 for AuditFsync::interval
  std::size_t queue_capacity = 10'000;  // events waiting for the writer; >= 1
  // iam.authorise events that allow: one per request, so written only when asked for.
  // Denies are always written.
  bool authorise_allows = false;
  Logger logger = stderr_logger();             // write and reopen failures (never an event's content)
  std::shared_ptr<RandomSource> random;        // event ids and a new log's genesis; default system_random()
};

// Writes events as JSON lines (protocol.md "Audit log file"). record() never blocks on the
// disk: it puts the event on a bounded queue that one writer thread drains. When the queue
// is full the event is dropped and counted (dropped()); once the writer has room again it
// writes an `iam.audit_dropped` event with the number lost since the last such event.
// Each line carries a `chain` value; the file's first line records the genesis value:
// for a new file, the last chain value this sink wrote (rotation: the next file continues
// the previous one's chain) or, for a new log, 32 random bytes. Opening an existing
// non-empty file continues its chain from its last line.
class AuditFileSink;
// Opens (or creates) options.path and starts the writer. Errors: invalid_argument for bad
// options; internal_error when the file cannot be opened or its last line is not a chained
// record (an audit log is never silently restarted: move the file aside).
IAM_EXPORT Result<std::shared_ptr<AuditFileSink>> make_audit_file_sink(AuditFileOptions options);

class IAM_EXPORT AuditFileSink final : public AuditSink {
 public:
  // Writes what is queued, syncs (unless AuditFsync::never) and closes.
  ~AuditFileSink() override;
  AuditFileSink(const AuditFileSink&) = delete;
  AuditFileSink& operator=(const AuditFileSink&) = delete;

  void record(const AuditEvent& event) override;
  // Log rotation (SIGHUP): the writer closes the file and opens options.path again before
  // its next write; a new file starts with a genesis record continuing the chain. Returns
  // at once; a failure to reopen is logged and the old file kept.
  void reopen();
  // Blocks until every event recorded before the call has been written (or dropped).
  void flush();

  std::uint64_t dropped() const noexcept;  // events lost: queue full or a failed write
  std::uint64_t written() const noexcept;  // event lines written (the genesis records not counted)
  std::uint64_t syncs() const noexcept;    // fdatasync calls made
  std::uint64_t reopens() const noexcept;  // reopens done by the writer

  struct State;  // internal (src/audit/file_sink.cpp)

 private:
  friend Result<std::shared_ptr<AuditFileSink>> make_audit_file_sink(AuditFileOptions options);
  explicit AuditFileSink(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// ---------------------------------------------------------------- verification

// The result of checking one audit log file's hash chain (protocol.md "Audit log file").
struct AuditChainCheck {
  bool intact = false;
  std::size_t events = 0;       // event lines that verified
  std::size_t broken_line = 0;  // 1-based line of the first problem; 0 when intact
  std::string problem;          // what is wrong there
  std::string genesis;          // the genesis value the file records (empty if unreadable)
  std::string last_chain;       // the last verified chain value: the next file's genesis
};

// Checks `text`, a whole audit log file. `expected_genesis`, when given, must be the file's
// genesis (the previous file's last_chain, for rotated files).
IAM_EXPORT AuditChainCheck verify_audit_chain(std::string_view text,
                                              std::optional<std::string_view> expected_genesis = std::nullopt);

}  // namespace iam
