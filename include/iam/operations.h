// iam/operations.h — typed management requests and responses (protocol.md "Operations").
//
// OperationRequest mirrors the wire request's fields and OperationResponse the response's;
// the JSON dispatcher (iam/protocol.h) converts between these and JSON, and regimes
// answer them through Administration::execute (iam/administration.h). Operation names are
// those of iam/operation_table.h. An absent optional is a field the client omitted
// (request) or that the operation does not return (response).
//
// THREAD SAFETY: plain values. OWNERSHIP: values own their contents; password fields are
// SecretString and wipe themselves.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "iam/clock.h"
#include "iam/resource.h"
#include "iam/secret.h"

namespace iam {

// ---- records (never carry a password hash, key hash or private key) ----

struct UserRecord {
  std::string id;
  std::string workspace;  // home workspace; on the wire both `workspace` and `default_workspace`
  std::string username;
  std::string name;
  std::string email;
  std::vector<std::string> roles;
  bool enabled = true;
  bool must_change_password = false;
  TimePoint created{};
};

struct WorkspaceRecord {
  std::string id;
  std::string name;
  bool enabled = true;
  TimePoint created{};
};

struct ApiKeyRecord {
  std::string id;
  std::string user_id;
  std::string name;
  std::string prefix;  // first 7 characters of the plaintext ("tg_" + 4)
  std::optional<TimePoint> expires;
  TimePoint created{};
  std::optional<TimePoint> last_used;
};

// A JWT signing key as list-signing-keys shows it: its state and times, never key material.
enum class SigningKeyStatus { next, current, retired };  // iam/signing_key.h's three states

struct SigningKeyRecord {
  std::string kid;
  SigningKeyStatus status = SigningKeyStatus::next;
  TimePoint created{};
  std::optional<TimePoint> activated;  // began signing (current and retired keys)
  std::optional<TimePoint> retired;
  std::optional<TimePoint> grace_ends;  // retired keys: when they stop verifying (retired + grace)
};

// ---- request ----

struct UserInput {
  std::optional<std::string> username;
  std::optional<std::string> name;
  std::optional<std::string> email;
  std::optional<SecretString> password;
  std::optional<std::vector<std::string>> roles;
  std::optional<bool> enabled;
  std::optional<bool> must_change_password;
  std::optional<std::string> workspace;  // `workspace` or `default_workspace` in user
};

struct WorkspaceInput {
  std::optional<std::string> id;
  std::optional<std::string> name;
  std::optional<bool> enabled;
};

struct KeyInput {
  std::optional<std::string> user_id;
  std::optional<std::string> name;
  std::optional<std::string> expires;  // ISO 8601, as parse_request_time reads it; empty = never
};

struct OperationRequest {
  std::string operation;
  std::optional<std::string> workspace;  // `workspace` or `default_workspace`
  std::optional<std::string> actor;      // set by a gateway; absent = trusted internal caller
  std::optional<std::string> user_id;
  std::optional<std::string> username;
  std::optional<std::string> key_id;
  std::optional<SecretString> api_key;
  std::optional<SecretString> password;
  std::optional<SecretString> new_password;
  std::optional<UserInput> user;
  std::optional<WorkspaceInput> workspace_record;
  std::optional<KeyInput> key;
  // authorise: the one check (on the wire: capability, resource_json, parameters_json).
  std::optional<AuthorisationCheck> check;
  // authorise-many: the checks in order (on the wire: authorise_checks). A check with an
  // empty capability (what a malformed wire entry reads as) is denied without asking the
  // regime.
  std::optional<std::vector<AuthorisationCheck>> checks;
};

// ---- response ----

struct OperationResponse {
  std::optional<UserRecord> user;
  std::optional<std::vector<UserRecord>> users;
  std::optional<WorkspaceRecord> workspace;
  std::optional<std::vector<WorkspaceRecord>> workspaces;
  std::optional<SecretString> api_key_plaintext;
  std::optional<ApiKeyRecord> api_key;
  std::optional<std::vector<ApiKeyRecord>> api_keys;
  std::optional<SecretString> jwt;
  std::optional<TimePoint> jwt_expires;
  std::optional<std::string> signing_key_public;
  std::optional<std::vector<SigningKeyRecord>> signing_keys;
  std::optional<std::string> resolved_user_id;
  std::optional<std::string> resolved_workspace;  // on the wire also resolved_default_workspace
  std::optional<std::vector<std::string>> resolved_roles;
  std::optional<SecretString> temporary_password;
  std::optional<std::string> bootstrap_admin_user_id;
  std::optional<SecretString> bootstrap_admin_api_key;
  std::optional<bool> bootstrap_available;
  std::optional<Decision> decision;                // authorise (wire: decision_allow, decision_ttl_seconds)
  std::optional<std::vector<Decision>> decisions;  // authorise-many (wire: decisions_json)
};

}  // namespace iam
