// AuditFileSink: a bounded queue in front of one writer thread that appends hash-chained
// envelope lines to a file (audit.h; protocol.md "Audit log file").
//
// The request path only copies the event onto the queue (or counts a drop): building the
// envelope, hashing, writing and syncing all happen on the writer thread, so a slow or
// full disk never holds up a decision.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <thread>

#include "audit/chain.h"
#include "core/mutex.h"
#include "crypto/crypto.h"
#include "iam/audit.h"

namespace iam {
namespace {

using SteadyClock = std::chrono::steady_clock;

// An open log file and the chain value its next line continues from.
struct OpenedLog {
  int fd = -1;
  std::string last_chain;     // what the next line continues from
  bool needs_genesis = true;  // a new (empty) file, a pipe or a device: starts with a genesis record
  bool regular_file = true;   // pipes and character devices cannot be synced or read back
};

std::string errno_text() { return std::strerror(errno); }

// Writes all of `bytes` (one write(2) in the usual case, so concurrent readers see whole
// lines). false on an error.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The last line of a non-empty regular file, read from its end in growing chunks. nullopt
// when the file cannot be read or does not end with a newline.
std::optional<std::string> last_line(const std::string& path, off_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> line;
  for (off_t chunk = 4096;; chunk *= 2) {
    const off_t take = std::min(chunk, size);
    std::string tail(static_cast<std::size_t>(take), '\0');
    if (::pread(fd, tail.data(), tail.size(), size - take) != static_cast<ssize_t>(take)) break;
    if (tail.back() != '\n') break;
    tail.pop_back();
    const std::size_t start = tail.rfind('\n');
    if (start != std::string::npos || take == size) {
      line = start == std::string::npos ? tail : tail.substr(start + 1);
      break;
    }
  }
  ::close(fd);
  return line;
}

// Opens `path` for appending; for a non-empty regular file, reads the chain value its last
// line hands on. A message fit for the operator on failure.
Result<OpenedLog> open_log(const std::string& path) {
  OpenedLog log;
  log.fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (log.fd < 0) return Error{ErrorCode::internal_error, "cannot open audit log " + path + ": " + errno_text()};
  struct stat st {};
  if (::fstat(log.fd, &st) != 0) {
    ::close(log.fd);
    return Error{ErrorCode::internal_error, "cannot stat audit log " + path + ": " + errno_text()};
  }
  log.regular_file = S_ISREG(st.st_mode);
  if (!log.regular_file || st.st_size == 0) return log;
  std::optional<std::string> last;
  if (auto line = last_line(path, st.st_size)) last = audit::value_handed_on(*line);
  if (!last) {
    ::close(log.fd);
    return Error{ErrorCode::internal_error, "audit log " + path +
                                                " does not end with a chained record (cut short or not an audit "
                                                "log): check it with iamctl audit-verify and move it aside"};
  }
  log.last_chain = std::move(*last);
  log.needs_genesis = false;
  return log;
}

bool is_unrequested_allow(const AuditEvent& event) {
  if (event.name != "iam.authorise") return false;
  const std::string* outcome = event.field("outcome");
  return outcome && *outcome == "allow";
}

}  // namespace

struct AuditFileSink::State {
  AuditFileOptions options;

  Mutex mu;
  std::condition_variable_any wake;     // the writer: work, a reopen, a stop
  std::condition_variable_any drained;  // flush(): the writer finished a batch
  std::deque<AuditEvent> queue IAM_GUARDED_BY(mu);
  std::uint64_t accepted IAM_GUARDED_BY(mu) = 0;   // events ever queued
  std::uint64_t processed IAM_GUARDED_BY(mu) = 0;  // of those, written or lost by the writer
  std::uint64_t unreported_drops IAM_GUARDED_BY(mu) = 0;
  // Set by reopen(): the number of events queued before the call, which still go to the
  // file open then (they happened before the rotation).
  std::optional<std::uint64_t> reopen_after IAM_GUARDED_BY(mu);
  bool stopping IAM_GUARDED_BY(mu) = false;

  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> syncs{0};
  std::atomic<std::uint64_t> reopens{0};

  // The writer thread's alone once it runs.
  OpenedLog log;
  bool unsynced = false;
  SteadyClock::time_point last_sync = SteadyClock::now();
  std::uint64_t failed_unreported = 0;  // write failures not yet in an iam.audit_dropped event

  std::thread writer;

  explicit State(AuditFileOptions o) : options(std::move(o)) {}

  // Writes the genesis record a new file starts with: it continues `log.last_chain` (the
  // previous file's last value), or starts a new log from 32 random bytes.
  bool start_file_if_new() {
    if (!log.needs_genesis) return true;
    if (log.last_chain.empty()) {
      std::array<std::uint8_t, 32> seed{};
      options.random->fill(seed);
      log.last_chain = crypto::hex_encode(seed);
    }
    if (!write_all(log.fd, audit::genesis_record(log.last_chain) + "\n")) return false;
    log.needs_genesis = false;
    unsynced = true;
    return true;
  }

  // Appends the event's chained line; false (nothing chained) when the write fails.
  bool write_line(const AuditEvent& event) {
    if (!start_file_if_new()) return false;
    std::string chain;
    std::string line;
    try {  // out of memory loses this event, not the writer thread
      const std::string envelope = event.envelope_json(options.producer, crypto::uuid_v4(*options.random));
      chain = audit::next_chain(log.last_chain, envelope);
      line = audit::chained_line(envelope, chain) + "\n";
    } catch (...) {
      return false;
    }
    if (!write_all(log.fd, line)) {
      // The chain stays where it was; a partly written line shows up in audit-verify.
      options.logger(LogLevel::error, "audit log " + options.path + ": write failed: " + errno_text());
      return false;
    }
    log.last_chain = chain;
    unsynced = true;
    if (options.fsync == AuditFsync::every_event) sync();
    return true;
  }

  void write_event(const AuditEvent& event) {
    if (write_line(event)) {
      ++written;
    } else {
      ++dropped;
      ++failed_unreported;
    }
  }

  // An iam.audit_dropped event for `count` lost events; if it cannot be written either, the
  // count waits for the next report.
  void write_dropped_report(std::uint64_t count) {
    const AuditEvent report{"iam.audit_dropped", std::chrono::system_clock::now(), {{"count", std::to_string(count)}}};
    if (write_line(report)) {
      ++written;
      failed_unreported = 0;
    } else {
      failed_unreported = count;
    }
  }

  void sync() {
    if (options.fsync == AuditFsync::never || !unsynced) return;
    last_sync = SteadyClock::now();
    unsynced = false;
    if (!log.regular_file) return;
    if (::fdatasync(log.fd) == 0) ++syncs;
    else options.logger(LogLevel::error, "audit log " + options.path + ": fdatasync failed: " + errno_text());
  }

  void reopen_file() {
    auto opened = open_log(options.path);
    if (!opened) {
      options.logger(LogLevel::error, opened.error().message + " (still writing to the file open before)");
      return;
    }
    sync();
    ::close(log.fd);
    if (opened->needs_genesis) opened->last_chain = log.last_chain;  // rotated: continue the chain
    log = std::move(*opened);
    ++reopens;
    if (!start_file_if_new())
      options.logger(LogLevel::error, "audit log " + options.path + ": write failed: " + errno_text());
  }

  // When the writer should wake up without new work: when an interval sync falls due.
  SteadyClock::time_point next_deadline() const {
    if (options.fsync == AuditFsync::interval && unsynced) return last_sync + options.fsync_interval;
    return SteadyClock::time_point::max();
  }

  void run() {
    for (;;) {
      std::deque<AuditEvent> batch;
      std::uint64_t drops = 0;
      std::optional<std::uint64_t> reopen_after_event;
      std::uint64_t first_event = 0;  // the batch's first event's number (events counted from 0)
      bool stop = false;
      {
        MutexLock lock(mu);
        auto has_work = [&]() IAM_REQUIRES(mu) { return !queue.empty() || reopen_after || stopping; };
        const auto deadline = next_deadline();
        if (deadline == SteadyClock::time_point::max()) wake.wait(mu, has_work);
        else wake.wait_until(mu, deadline, has_work);
        batch.swap(queue);
        drops = std::exchange(unreported_drops, 0);
        reopen_after_event = std::exchange(reopen_after, std::nullopt);
        first_event = processed;
        stop = stopping;
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (reopen_after_event && *reopen_after_event == first_event + i) reopen_file();
        write_event(batch[i]);
      }
      if (reopen_after_event && *reopen_after_event >= first_event + batch.size()) reopen_file();
      if (const std::uint64_t lost = drops + failed_unreported; lost > 0) write_dropped_report(lost);
      if (options.fsync == AuditFsync::interval && unsynced && SteadyClock::now() >= last_sync + options.fsync_interval)
        sync();
      {
        MutexLock lock(mu);
        processed += batch.size();
        drained.notify_all();
        if (stop && queue.empty() && unreported_drops == 0) return;
      }
    }
  }
};

Result<std::shared_ptr<AuditFileSink>> make_audit_file_sink(AuditFileOptions options) {
  if (options.path.empty()) return Error{ErrorCode::invalid_argument, "the audit log needs a path"};
  if (options.queue_capacity == 0) return Error{ErrorCode::invalid_argument, "the audit queue needs room for an event"};
  if (options.fsync == AuditFsync::interval && options.fsync_interval <= std::chrono::milliseconds::zero())
    return Error{ErrorCode::invalid_argument, "the audit fsync interval must be positive"};
  if (!options.random) options.random = system_random();
  if (!options.logger) options.logger = null_logger();
  auto state = std::make_unique<AuditFileSink::State>(std::move(options));
  IAM_ASSIGN_OR_RETURN(state->log, open_log(state->options.path));
  if (!state->start_file_if_new()) {
    ::close(state->log.fd);
    return Error{ErrorCode::internal_error, "cannot write audit log " + state->options.path + ": " + errno_text()};
  }
  state->writer = std::thread([raw = state.get()] { raw->run(); });
  return std::shared_ptr<AuditFileSink>(new AuditFileSink(std::move(state)));
}

AuditFileSink::AuditFileSink(std::unique_ptr<State> state) : state_(std::move(state)) {}

AuditFileSink::~AuditFileSink() {
  {
    MutexLock lock(state_->mu);
    state_->stopping = true;
    state_->wake.notify_one();
  }
  state_->writer.join();
  state_->sync();
  ::close(state_->log.fd);
}

void AuditFileSink::record(const AuditEvent& event) {
  if (!state_->options.authorise_allows && is_unrequested_allow(event)) return;
  AuditEvent copy = event;
  if (const AuditContext* context = current_audit_context()) {
    if (!context->request_id.empty() && !copy.field("request_id")) copy.fields.emplace_back("request_id", context->request_id);
    if (!context->client_ip.empty() && !copy.field("client_ip")) copy.fields.emplace_back("client_ip", context->client_ip);
  }
  MutexLock lock(state_->mu);
  if (state_->queue.size() >= state_->options.queue_capacity) {
    ++state_->unreported_drops;
    ++state_->dropped;
    return;
  }
  state_->queue.push_back(std::move(copy));
  ++state_->accepted;
  state_->wake.notify_one();
}

void AuditFileSink::reopen() {
  MutexLock lock(state_->mu);
  state_->reopen_after = state_->accepted;
  state_->wake.notify_one();
}

void AuditFileSink::flush() {
  MutexLock lock(state_->mu);
  const std::uint64_t target = state_->accepted;
  state_->drained.wait(state_->mu, [&]() IAM_REQUIRES(state_->mu) { return state_->processed >= target; });
}

std::uint64_t AuditFileSink::dropped() const noexcept { return state_->dropped.load(); }
std::uint64_t AuditFileSink::written() const noexcept { return state_->written.load(); }
std::uint64_t AuditFileSink::syncs() const noexcept { return state_->syncs.load(); }
std::uint64_t AuditFileSink::reopens() const noexcept { return state_->reopens.load(); }

}  // namespace iam
