// AuditFileSink's delivery (audit.h): a bounded queue that never blocks the caller, the
// dropped-events counter and event, fsync policies, reopening, the request context and
// the iam.authorise allow filter. Threads: run again under ThreadSanitizer (concurrency
// suite).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "iam/audit.h"
#include "tests/support/audit_files.h"
#include "tests/support/temp_dir.h"
#include "tests/support/threads.h"

using namespace std::chrono_literals;
using test_support::audit_event;
using test_support::lines_of;
using test_support::read_file;
using test_support::TempDir;

namespace {

iam::AuditFileOptions options_for(const std::string& path, iam::AuditFsync fsync = iam::AuditFsync::never) {
  iam::AuditFileOptions o;
  o.path = path;
  o.fsync = fsync;
  return o;
}

std::shared_ptr<iam::AuditFileSink> open_sink(iam::AuditFileOptions o) {
  auto sink = iam::make_audit_file_sink(std::move(o));
  REQUIRE(sink.ok());
  return *sink;
}

// The payloads of the file's events of one type.
std::vector<nlohmann::json> payloads(const std::string& text, std::string_view type) {
  std::vector<nlohmann::json> out;
  const auto lines = lines_of(text);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto record = nlohmann::json::parse(lines[i]);
    if (record["event_type"] == type) out.push_back(nlohmann::json::parse(record["payload_json"].get<std::string>()));
  }
  return out;
}

bool eventually(const std::function<bool()>& condition) {
  for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

}  // namespace

TEST_CASE("audit sink: events from many threads are all written, in one intact chain") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  auto sink = open_sink(options_for(path));
  constexpr int threads = 8;
  constexpr int each = 200;
  test_support::run_threads(threads, [&](int t) {
    for (int i = 0; i < each; ++i)
      sink->record(audit_event("iam.management", {{"actor", std::to_string(t)}, {"n", std::to_string(i)}}));
  });
  sink->flush();
  CHECK(sink->dropped() == 0);
  CHECK(sink->written() == threads * each);
  const auto check = iam::verify_audit_chain(read_file(path));
  CHECK(check.intact);
  CHECK(check.events == threads * each);
}

TEST_CASE("audit sink: a full queue drops and counts, never blocks, and reports the drops as an event") {
  // The log is a pipe nobody reads yet: the writer blocks on it, the queue fills, and
  // record() must still return at once.
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.fifo");
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  auto o = options_for(path);
  o.queue_capacity = 8;
  auto sink = open_sink(o);

  const std::string filler(4096, 'x');  // a few of these fill the pipe's buffer
  constexpr int recorded = 2000;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < recorded; ++i) sink->record(audit_event("iam.management", {{"filler", filler}}));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < 5s);  // nothing waited for the blocked writer
  const std::uint64_t dropped = sink->dropped();
  // the pipe (64 KiB) holds about 16 events, the queue 8, the writer's batch 8 more
  CHECK(dropped >= recorded - 64);

  // Drain the pipe while the writer catches up.
  std::string text;
  std::atomic<bool> done{false};
  std::thread drain([&] {
    ::fcntl(reader, F_SETFL, 0);  // blocking from now on
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(reader, buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    done = true;
  });
  sink->flush();
  sink->record(audit_event("iam.management", {{"after", "room again"}}));
  sink->flush();
  CHECK(sink->dropped() == dropped);  // nothing lost once the queue had room
  const std::uint64_t written = sink->written();
  sink.reset();  // closes the pipe's write end: the reader sees its end
  drain.join();
  REQUIRE(done);

  // every drop reported (in one event, or more if some came before the writer blocked)
  const auto reports = payloads(text, "iam.audit_dropped");
  REQUIRE_FALSE(reports.empty());
  std::uint64_t reported = 0;
  for (const auto& report : reports) reported += std::stoull(report["count"].get<std::string>());
  CHECK(reported == dropped);
  CHECK(payloads(text, "iam.management").size() == recorded - dropped + 1);
  CHECK(written == recorded - dropped + 1 + reports.size());
  const auto check = iam::verify_audit_chain(text);
  CHECK(check.intact);
  CHECK(check.events == written);
  ::close(reader);
}

TEST_CASE("audit sink: fsync policies") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  SUBCASE("never") {
    auto sink = open_sink(options_for(path, iam::AuditFsync::never));
    for (int i = 0; i < 5; ++i) sink->record(audit_event("iam.management"));
    sink->flush();
    CHECK(sink->written() == 5);
    CHECK(sink->syncs() == 0);
  }
  SUBCASE("every event") {
    auto sink = open_sink(options_for(path, iam::AuditFsync::every_event));
    for (int i = 0; i < 5; ++i) {
      sink->record(audit_event("iam.management"));
      sink->flush();
    }
    CHECK(sink->syncs() == 5);
  }
  SUBCASE("interval: not per event, and soon after a write") {
    auto o = options_for(path, iam::AuditFsync::interval);
    o.fsync_interval = 24h;
    auto slow = open_sink(o);
    for (int i = 0; i < 5; ++i) slow->record(audit_event("iam.management"));
    slow->flush();
    CHECK(slow->syncs() == 0);
    slow.reset();

    o.fsync_interval = 20ms;
    auto sink = open_sink(o);
    sink->record(audit_event("iam.management"));
    sink->flush();
    CHECK(eventually([&] { return sink->syncs() >= 1; }));
    std::this_thread::sleep_for(200ms);  // the genesis and the event may be synced apart
    const auto settled = sink->syncs();
    CHECK(settled <= 2);
    std::this_thread::sleep_for(200ms);  // nothing new written: nothing more to sync
    CHECK(sink->syncs() == settled);
  }
}

TEST_CASE("audit sink: reopen after a failed reopen keeps writing to the old file") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  auto o = options_for(path);
  auto errors = std::make_shared<std::atomic<int>>(0);
  o.logger = [errors](iam::LogLevel level, std::string_view) { errors->fetch_add(level == iam::LogLevel::error); };
  auto sink = open_sink(o);
  sink->record(audit_event("iam.management", {{"n", "1"}}));
  sink->flush();
  REQUIRE(std::rename(path.c_str(), dir.file("moved").c_str()) == 0);
  test_support::write_file(path, "not an audit log\n");  // the path now holds something else
  sink->reopen();
  sink->record(audit_event("iam.management", {{"n", "2"}}));
  sink->flush();
  CHECK(sink->reopens() == 0);
  CHECK(errors->load() == 1);  // said once, to the operator
  CHECK(read_file(path) == "not an audit log\n");
  const auto check = iam::verify_audit_chain(read_file(dir.file("moved")));
  CHECK(check.intact);
  CHECK(check.events == 2);
}

TEST_CASE("audit sink: the request context goes into each event's payload") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  auto sink = open_sink(options_for(path));
  CHECK(iam::current_audit_context() == nullptr);
  {
    iam::ScopedAuditContext outer({"req-1", "192.0.2.7"});
    sink->record(audit_event("iam.authenticate", {{"outcome", "failure"}}));
    {
      iam::ScopedAuditContext inner({"req-2", ""});
      sink->record(audit_event("iam.authenticate", {{"outcome", "success"}}));
    }
    REQUIRE(iam::current_audit_context() != nullptr);
    CHECK(iam::current_audit_context()->request_id == "req-1");
    // fields the event already has are kept
    sink->record(audit_event("gateway.request", {{"request_id", "own"}, {"client_ip", "198.51.100.1"}}));
  }
  CHECK(iam::current_audit_context() == nullptr);
  sink->record(audit_event("iam.authenticate", {{"outcome", "none"}}));
  sink->flush();
  const std::string text = read_file(path);
  const auto events = payloads(text, "iam.authenticate");
  REQUIRE(events.size() == 3);
  CHECK(events[0] == nlohmann::json{{"outcome", "failure"}, {"request_id", "req-1"}, {"client_ip", "192.0.2.7"}});
  CHECK(events[1] == nlohmann::json{{"outcome", "success"}, {"request_id", "req-2"}});
  CHECK(events[2] == nlohmann::json{{"outcome", "none"}});
  const auto requests = payloads(text, "gateway.request");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0] == nlohmann::json{{"request_id", "own"}, {"client_ip", "198.51.100.1"}});
}

TEST_CASE("audit sink: iam.authorise allows only when asked for, denies always") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  auto o = options_for(path);
  bool allows = false;
  SUBCASE("default") {}
  SUBCASE("asked for") { allows = o.authorise_allows = true; }
  {
    auto sink = open_sink(o);
    sink->record(audit_event("iam.authorise", {{"outcome", "allow"}}));
    sink->record(audit_event("iam.authorise", {{"outcome", "deny"}}));
  }
  const auto events = payloads(read_file(path), "iam.authorise");
  REQUIRE(events.size() == (allows ? 2u : 1u));
  CHECK(events.back()["outcome"] == "deny");
}
