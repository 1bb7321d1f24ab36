// protocol/json_protocol.h — the JSON wire format of protocol.md, and only that: JSON ⇄
// the typed OperationRequest / OperationResponse of iam/operations.h.
//
// Internal to the library (the public entry point is iam/protocol.h). Regimes never see
// JSON; everything about field names, both TrustGraph generations of the home-workspace
// field, and type checking of client input lives here.
//
// THREAD SAFETY: free functions over values; safe from any number of threads.
// ERRORS: input problems are invalid_argument with a message that names the field and
// never contains a field's value (so no secret can be echoed back). These functions may
// throw std::bad_alloc; the dispatcher turns that into internal-error.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iam/operations.h"
#include "iam/resource.h"
#include "iam/status.h"

namespace iam::protocol {

// ---- requests ----

// Converts a request object. `null` counts as an omitted field; a field of the wrong type
// is invalid_argument; unknown fields are ignored. Does not check that the operation is
// known (the dispatcher does). For authorise it reads capability, resource_json and
// parameters_json into `check`, for authorise-many authorise_checks into `checks` (as
// below); text there that is not what it must be is invalid_argument.
Result<OperationRequest> parse_request(const nlohmann::json& request);

// Overwrites the secret strings of a request object (password, new_password, api_key,
// user.password) in place, so the parsed document does not keep plaintext around.
void wipe_request_secrets(nlohmann::json& request) noexcept;

// ---- authorise / authorise-many payloads (JSON text inside string fields) ----

// resource_json: a JSON object whose values are strings. Absent or empty text is the
// system resource {}. Anything else is invalid_argument.
Result<Resource> parse_resource_text(const std::optional<std::string>& text);
// parameters_json: a JSON object; string values are kept, other values ignored. Absent or
// empty text is {}. Text that is not a JSON object is invalid_argument.
Result<Parameters> parse_parameters_text(const std::optional<std::string>& text);

// authorise: the check of the three wire fields (an absent capability is empty).
Result<AuthorisationCheck> parse_check(const std::optional<std::string>& capability,
                                       const std::optional<std::string>& resource_json,
                                       const std::optional<std::string>& parameters_json);

// authorise_checks: a JSON array of {"capability", "resource"?, "parameters"?}. A
// malformed entry reads as a check with an empty capability (the dispatcher denies it
// without asking the regime). Absent or empty text is an empty batch; text that is not a
// JSON array is invalid_argument.
Result<std::vector<AuthorisationCheck>> parse_authorise_checks(const std::optional<std::string>& text);

// decisions_json: `[{"allow": bool, "ttl": int}, ...]` as compact JSON text.
std::string decisions_to_json_text(const std::vector<Decision>& decisions);

// ---- responses ----

nlohmann::json user_to_json(const UserRecord& user);
nlohmann::json workspace_to_json(const WorkspaceRecord& workspace);
nlohmann::json api_key_to_json(const ApiKeyRecord& key);
// {kid, status ("next" | "current" | "retired"), created, activated, retired, grace_ends};
// an absent time is "".
nlohmann::json signing_key_to_json(const SigningKeyRecord& key);

// Only the fields the response holds; `{}` when it holds none. An empty optional list is
// absent, a present empty list is `[]`.
nlohmann::json response_to_json(const OperationResponse& response);
// {"error": {"type": "<taxonomy name>", "message": "..."}} and nothing else.
nlohmann::json error_to_json(const Error& error);

// Overwrites the secret strings of a response object (api_key_plaintext, jwt,
// temporary_password, bootstrap_admin_api_key) in place, once it has been serialised.
void wipe_response_secrets(nlohmann::json& response) noexcept;

// Compact JSON text; invalid UTF-8 in a string is replaced rather than thrown on.
std::string to_text(const nlohmann::json& value);

}  // namespace iam::protocol
