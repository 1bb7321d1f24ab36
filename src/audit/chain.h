// src/audit/chain.h — the audit log's hash chain (internal; protocol.md "Audit log file").
//
// A file is a genesis record, then event lines:
//   {"genesis":"<64 hex>"}
//   <envelope without its last '}'>,"chain":"<64 hex>"}
// where chain = lowercase hex SHA-256(previous chain value as 64 ASCII hex characters ||
// the envelope's bytes), and the previous chain value of the first event is the genesis.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace iam::audit {

inline constexpr std::size_t chain_hex_size = 64;

// {"genesis":"<genesis>"}
std::string genesis_record(std::string_view genesis);
// The chain value following `previous` for an envelope.
std::string next_chain(std::string_view previous, std::string_view envelope);
// The envelope with its chain member added (the envelope must end with '}').
std::string chained_line(std::string_view envelope, std::string_view chain);
// The value a line hands on: a genesis record's genesis or an event line's chain (without
// checking it); nullopt when the line is neither.
std::optional<std::string> value_handed_on(std::string_view line);

}  // namespace iam::audit
