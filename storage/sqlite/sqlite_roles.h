// Internal: how the SQLite store keeps a user's roles: a JSON array of strings in one
// TEXT column.
//
// THREAD SAFETY: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iam::sqlite_detail {

// Written by hand so that every byte is kept (nlohmann refuses strings that are not
// UTF-8); the output is valid JSON for UTF-8 roles.
std::string encode_roles(const std::vector<std::string>& roles);

// Parses any JSON array of strings (so rows edited with SQLite's JSON functions read too);
// nullopt for anything else.
std::optional<std::vector<std::string>> decode_roles(std::string_view text);

}  // namespace iam::sqlite_detail
