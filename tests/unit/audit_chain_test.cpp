// The audit log's envelope and hash chain (protocol.md "Audit events", "Audit log file"):
// what AuditFileSink writes, and verify_audit_chain finding every kind of tampering at
// its exact line.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "iam/audit.h"
#include "tests/support/audit_files.h"
#include "tests/support/temp_dir.h"

using test_support::audit_event;
using test_support::joined;
using test_support::lines_of;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

namespace {

iam::AuditFileOptions options_for(const std::string& path) {
  iam::AuditFileOptions o;
  o.path = path;
  o.producer = "test-producer";
  o.fsync = iam::AuditFsync::never;
  return o;
}

// Writes `count` management events to `path` through a sink of its own.
void write_events(const std::string& path, int count, int first = 0) {
  auto sink = iam::make_audit_file_sink(options_for(path));
  REQUIRE(sink.ok());
  for (int i = first; i < first + count; ++i)
    (*sink)->record(audit_event("iam.management", {{"actor", "u" + std::to_string(i)}, {"operation", "create-user"}}));
  (*sink)->flush();
  CHECK((*sink)->written() == static_cast<std::uint64_t>(count));
}

iam::AuditChainCheck verify(const std::string& text) { return iam::verify_audit_chain(text); }

}  // namespace

TEST_CASE("audit envelope: TrustGraph's AuditEvent shape, the payload as a JSON string") {
  const iam::AuditEvent event = audit_event("iam.authenticate", {{"credential_type", "api-key"}, {"outcome", "success"}});
  const auto envelope = nlohmann::ordered_json::parse(event.envelope_json("iam-gateway", "an-id"));
  std::vector<std::string> keys;
  for (const auto& [key, value] : envelope.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"schema_version", "event_id", "event_type", "timestamp", "producer",
                                         "payload_json"});
  CHECK(envelope["schema_version"] == 1);
  CHECK(envelope["event_id"] == "an-id");
  CHECK(envelope["event_type"] == "iam.authenticate");
  CHECK(envelope["producer"] == "iam-gateway");
  CHECK(std::regex_match(envelope["timestamp"].get<std::string>(),
                         std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  REQUIRE(envelope["payload_json"].is_string());
  const auto payload = nlohmann::ordered_json::parse(envelope["payload_json"].get<std::string>());
  CHECK(payload == nlohmann::ordered_json{{"credential_type", "api-key"}, {"outcome", "success"}});
  CHECK(iam::AuditEvent{"x", {}, {}}.payload_json() == "{}");
}

TEST_CASE("audit log file: a genesis record, then chained envelopes with uuid4 event ids") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  write_events(path, 3);
  const auto lines = lines_of(read_file(path));
  REQUIRE(lines.size() == 4);
  CHECK(std::regex_match(lines[0], std::regex(R"(\{"genesis":"[0-9a-f]{64}"\})")));
  std::string previous = nlohmann::json::parse(lines[0])["genesis"];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto record = nlohmann::ordered_json::parse(lines[i]);
    CHECK(record["producer"] == "test-producer");
    CHECK(std::regex_match(record["event_id"].get<std::string>(),
                           std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
    // protocol.md's definition, computed independently: the chain member is the last one
    const std::string chain = record["chain"];
    record.erase("chain");
    CHECK(chain == iam::crypto::sha256_hex(previous + record.dump()));
    previous = chain;
  }
  const auto check = verify(read_file(path));
  CHECK(check.intact);
  CHECK(check.events == 3);
  CHECK(check.broken_line == 0);
  CHECK(check.last_chain == previous);
}

TEST_CASE("audit chain: an edited, removed, reordered or truncated event is found at its line") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  write_events(path, 6);
  const auto lines = lines_of(read_file(path));
  REQUIRE(lines.size() == 7);
  REQUIRE(verify(joined(lines)).intact);

  SUBCASE("edited") {
    auto edited = lines;
    const auto at = edited[3].find("u2");
    REQUIRE(at != std::string::npos);
    edited[3].replace(at, 2, "u9");
    const auto check = verify(joined(edited));
    CHECK_FALSE(check.intact);
    CHECK(check.broken_line == 4);
    CHECK(check.events == 2);
  }
  SUBCASE("edited chain value") {
    auto edited = lines;
    char& c = edited[5][edited[5].size() - 3];
    c = c == '0' ? '1' : '0';
    CHECK(verify(joined(edited)).broken_line == 6);
  }
  SUBCASE("removed") {
    auto removed = lines;
    removed.erase(removed.begin() + 2);
    CHECK(verify(joined(removed)).broken_line == 3);
  }
  SUBCASE("reordered") {
    auto reordered = lines;
    std::swap(reordered[4], reordered[5]);
    CHECK(verify(joined(reordered)).broken_line == 5);
  }
  SUBCASE("truncated mid-line") {
    std::string text = joined(lines);
    text.resize(text.size() - 20);
    const auto check = verify(text);
    CHECK_FALSE(check.intact);
    CHECK(check.broken_line == 7);
    CHECK(check.events == 5);
  }
  SUBCASE("a line cut short but ended with a newline") {
    auto cut = lines;
    cut[6].resize(cut[6].size() / 2);
    CHECK(verify(joined(cut)).broken_line == 7);
  }
  SUBCASE("the genesis replaced") {
    auto edited = lines;
    edited[0] = R"({"genesis":")" + std::string(64, 'a') + R"("})";
    CHECK(verify(joined(edited)).broken_line == 2);
  }
  SUBCASE("the genesis removed") {
    auto removed = lines;
    removed.erase(removed.begin());
    CHECK(verify(joined(removed)).broken_line == 1);
  }
  SUBCASE("a line added") {
    auto added = lines;
    added.insert(added.begin() + 3, lines[3]);
    CHECK(verify(joined(added)).broken_line == 5);
  }
  SUBCASE("empty") {
    const auto check = verify("");
    CHECK_FALSE(check.intact);
    CHECK(check.broken_line == 1);
  }
}

TEST_CASE("audit chain: rotated files chain across, and a missing tail shows in the next file") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  const std::string rotated = dir.file("audit.log.1");
  {
    auto sink = iam::make_audit_file_sink(options_for(path));
    REQUIRE(sink.ok());
    (*sink)->record(audit_event("iam.management", {{"actor", "before"}}));
    (*sink)->record(audit_event("iam.management", {{"actor", "before-too"}}));
    (*sink)->flush();
    REQUIRE(std::rename(path.c_str(), rotated.c_str()) == 0);  // what logrotate does
    (*sink)->record(audit_event("iam.management", {{"actor", "still-old-file"}}));
    (*sink)->reopen();
    (*sink)->record(audit_event("iam.management", {{"actor", "after"}}));
    (*sink)->flush();
    CHECK((*sink)->reopens() == 1);
  }
  const auto first = verify(read_file(rotated));
  REQUIRE(first.intact);
  CHECK(first.events == 3);
  const auto second = iam::verify_audit_chain(read_file(path), first.last_chain);
  CHECK(second.intact);
  CHECK(second.events == 1);
  CHECK(second.genesis == first.last_chain);
  CHECK(read_file(path).find("after") != std::string::npos);

  // the first file's last event removed: that file alone still verifies, the next one says so
  auto shortened = lines_of(read_file(rotated));
  shortened.pop_back();
  const auto cut = verify(joined(shortened));
  REQUIRE(cut.intact);
  const auto across = iam::verify_audit_chain(read_file(path), cut.last_chain);
  CHECK_FALSE(across.intact);
  CHECK(across.broken_line == 1);
}

TEST_CASE("audit log file: reopening or opening an existing file continues its chain") {
  TempDir dir("iam-audit");
  const std::string path = dir.file("audit.log");
  write_events(path, 2);
  write_events(path, 2, 2);  // a restart: appends, no second genesis
  {
    auto sink = iam::make_audit_file_sink(options_for(path));
    REQUIRE(sink.ok());
    (*sink)->reopen();  // not rotated: the same file, the same chain
    (*sink)->record(audit_event("iam.management"));
    (*sink)->flush();
  }
  const std::string text = read_file(path);
  const auto check = verify(text);
  CHECK(check.intact);
  CHECK(check.events == 5);
  CHECK(lines_of(text).size() == 6);
}

TEST_CASE("audit log file: a file that does not end with a chained record is refused") {
  TempDir dir("iam-audit");
  SUBCASE("not an audit log") {
    write_file(dir.file("other"), "hello\n");
    auto sink = iam::make_audit_file_sink(options_for(dir.file("other")));
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().code == iam::ErrorCode::internal_error);
  }
  SUBCASE("cut short") {
    write_events(dir.file("audit.log"), 2);
    std::string text = read_file(dir.file("audit.log"));
    text.pop_back();
    write_file(dir.file("audit.log"), text);
    CHECK_FALSE(iam::make_audit_file_sink(options_for(dir.file("audit.log"))).ok());
  }
  SUBCASE("unopenable") {
    auto sink = iam::make_audit_file_sink(options_for(dir.file("missing-dir/audit.log")));
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().code == iam::ErrorCode::internal_error);
  }
}

TEST_CASE("audit log file: bad options are invalid_argument") {
  TempDir dir("iam-audit");
  auto o = options_for(dir.file("a.log"));
  SUBCASE("no path") { o.path.clear(); }
  SUBCASE("no queue") { o.queue_capacity = 0; }
  SUBCASE("no interval") {
    o.fsync = iam::AuditFsync::interval;
    o.fsync_interval = std::chrono::milliseconds(0);
  }
  auto sink = iam::make_audit_file_sink(o);
  REQUIRE_FALSE(sink.ok());
  CHECK(sink.error().code == iam::ErrorCode::invalid_argument);
}
