// Internal: the masked failure answers shared by the HTTP helpers (iam/gateway.h) and the
// WebSocket session, so both surfaces mask the same way (gateway.md "What callers see").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iam/status.h"

namespace iam::gateway {

// The HTTP status for an error of the taxonomy.
int status_for(ErrorCode code) noexcept;
// The message a caller may see for an error: the masked text for auth, access and internal
// failures, a fixed text per type for not-found / duplicate / disabled / not-supported, and
// the error's own message for invalid-argument and weak-password (about the caller's own
// input; protocol messages never repeat a value).
std::string visible_message(const Error& error);

// {"message":…,"type":…}: the WebSocket shape of an error (auth-failed, access-denied,
// internal-error, or the taxonomy's type).
nlohmann::ordered_json websocket_error_object(const Error& error);

// The error of a JsonDispatcher answer ({"error":{"type","message"}}): nullopt for a
// success; an unreadable answer or unknown type is internal-error.
std::optional<Error> dispatcher_error(std::string_view response_json);
// gateway.md: login answers every failure as an auth failure, so it cannot tell which part
// was wrong.
Error error_for_operation(std::string_view operation, Error error);

// Compact JSON text; invalid UTF-8 is replaced rather than thrown on.
std::string to_text(const nlohmann::ordered_json& value);

}  // namespace iam::gateway
