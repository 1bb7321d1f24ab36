// The audit log's hash chain: writing a chained line and checking a file (chain.h).
#include "audit/chain.h"

#include <algorithm>

#include "crypto/crypto.h"
#include "iam/audit.h"

namespace iam::audit {
namespace {

constexpr std::string_view genesis_prefix = R"({"genesis":")";
constexpr std::string_view chain_prefix = R"(,"chain":")";
constexpr std::string_view record_end = R"("})";

bool is_lower_hex(std::string_view text) {
  return text.size() == chain_hex_size &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The genesis of a genesis record, or nullopt.
std::optional<std::string_view> genesis_of(std::string_view line) {
  if (line.size() != genesis_prefix.size() + chain_hex_size + record_end.size() || !line.starts_with(genesis_prefix) ||
      !line.ends_with(record_end))
    return std::nullopt;
  const std::string_view value = line.substr(genesis_prefix.size(), chain_hex_size);
  if (!is_lower_hex(value)) return std::nullopt;
  return value;
}

// An event line split into its envelope's bytes (without the final '}') and its chain value.
struct SplitLine {
  std::string_view envelope_head;
  std::string_view chain;
};
std::optional<SplitLine> split_event_line(std::string_view line) {
  const std::size_t tail = chain_prefix.size() + chain_hex_size + record_end.size();
  if (line.size() <= tail || !line.starts_with('{') || !line.ends_with(record_end)) return std::nullopt;
  const std::string_view suffix = line.substr(line.size() - tail);
  if (!suffix.starts_with(chain_prefix)) return std::nullopt;
  const std::string_view chain = suffix.substr(chain_prefix.size(), chain_hex_size);
  if (!is_lower_hex(chain)) return std::nullopt;
  return SplitLine{line.substr(0, line.size() - tail), chain};
}

}  // namespace

std::string genesis_record(std::string_view genesis) {
  return std::string(genesis_prefix) + std::string(genesis) + std::string(record_end);
}

std::string next_chain(std::string_view previous, std::string_view envelope) {
  std::string hashed(previous);
  hashed += envelope;
  return crypto::sha256_hex(hashed);
}

std::string chained_line(std::string_view envelope, std::string_view chain) {
  std::string line(envelope.substr(0, envelope.size() - 1));  // without its closing '}'
  line += chain_prefix;
  line += chain;
  line += record_end;
  return line;
}

std::optional<std::string> value_handed_on(std::string_view line) {
  if (auto genesis = genesis_of(line)) return std::string(*genesis);
  if (auto split = split_event_line(line)) return std::string(split->chain);
  return std::nullopt;
}

}  // namespace iam::audit

namespace iam {

AuditChainCheck verify_audit_chain(std::string_view text, std::optional<std::string_view> expected_genesis) {
  AuditChainCheck check;
  std::size_t line_number = 0;
  auto broken = [&](std::string problem) {
    check.broken_line = line_number;
    check.problem = std::move(problem);
    return check;
  };
  std::string previous;
  while (!text.empty()) {
    ++line_number;
    const std::size_t end = text.find('\n');
    if (end == std::string_view::npos) return broken("the last line has no newline: the file was cut short");
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (line_number == 1) {
      const auto genesis = audit::genesis_of(line);
      if (!genesis) return broken("the first line is not a genesis record");
      check.genesis = std::string(*genesis);
      if (expected_genesis && *expected_genesis != *genesis)
        return broken("the genesis does not continue the previous file's chain");
      previous = check.genesis;
      check.last_chain = previous;
      continue;
    }
    const auto split = audit::split_event_line(line);
    if (!split) return broken("not a chained event line");
    std::string envelope(split->envelope_head);
    envelope += '}';
    if (audit::next_chain(previous, envelope) != split->chain)
      return broken("the chain breaks: this line, or one before it, was edited, removed or reordered");
    previous = std::string(split->chain);
    check.last_chain = previous;
    ++check.events;
  }
  if (line_number == 0) {
    line_number = 1;
    return broken("the file is empty: no genesis record");
  }
  check.intact = true;
  return check;
}

}  // namespace iam
