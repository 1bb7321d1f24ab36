// RolesRegime::execute: the typed request of iam/operations.h onto one method per operation.
#include <functional>
#include <unordered_map>

#include "iam/operation_table.h"
#include "iam/roles.h"

namespace iam {
namespace {

using Handler = std::function<Result<OperationResponse>(RolesRegime&, const OperationRequest&)>;

std::optional<std::string_view> view(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  return std::string_view(*value);
}
std::string_view text(const std::optional<std::string>& value) { return value ? std::string_view(*value) : ""; }
std::string_view secret(const std::optional<SecretString>& value) { return value ? value->view() : ""; }
// The actor, or with no actor the user the request names (trusted internal callers).
std::string_view self(const OperationRequest& r) { return r.actor ? std::string_view(*r.actor) : text(r.user_id); }

// The in-process re-check for the workspace registry's readers (contract.md): with an
// actor, `workspaces:admin` must reach the workspace read, and every workspace ("*") for
// the whole list. Checked before the lookup, so a missing workspace and an out-of-scope
// one are the same refusal.
Status check_workspaces_admin(RolesRegime& g, const OperationRequest& r, std::string_view workspace) {
  if (!r.actor) return {};
  const Identity actor{*r.actor, "", *r.actor, CredentialSource::api_key, std::nullopt};
  if (g.authorise(actor, "workspaces:admin", Resource::workspace(std::string(workspace)), {}).allow) return {};
  return Error{ErrorCode::operation_not_permitted, "access denied"};
}

Result<OperationResponse> empty_or_error(Status s) {
  if (!s.ok()) return s.error();
  return OperationResponse{};
}

template <class T, class Set>
Result<OperationResponse> respond(Result<T> r, Set set) {
  if (!r) return std::move(r).error();
  OperationResponse out;
  set(out, std::move(*r));
  return out;
}

const std::unordered_map<Operation, Handler>& handlers() {
  static const std::unordered_map<Operation, Handler> table = {
      {Operation::bootstrap,
       [](RolesRegime& g, const OperationRequest&) {
         return respond(g.bootstrap(), [](OperationResponse& o, BootstrapResult b) {
           o.bootstrap_admin_user_id = std::move(b.admin_user_id);
           o.bootstrap_admin_api_key = std::move(b.admin_api_key);
         });
       }},
      {Operation::bootstrap_status,
       [](RolesRegime& g, const OperationRequest&) -> Result<OperationResponse> {
         OperationResponse o;
         o.bootstrap_available = g.bootstrap_available();
         return o;
       }},
      {Operation::login,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.login(text(r.username), secret(r.password), view(r.workspace)),
                        [](OperationResponse& o, LoginResult l) {
                          o.jwt = std::move(l.jwt);
                          o.jwt_expires = l.expires;
                        });
       }},
      {Operation::whoami,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.whoami(self(r)), [](OperationResponse& o, UserRecord u) { o.user = std::move(u); });
       }},
      {Operation::authenticate_anonymous,
       [](RolesRegime& g, const OperationRequest&) -> Result<OperationResponse> {
         return g.authenticate_anonymous().error();
       }},
      {Operation::resolve_api_key,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.resolve_api_key(secret(r.api_key)), [](OperationResponse& o, ResolvedKey k) {
           o.resolved_user_id = std::move(k.user_id);
           o.resolved_workspace = std::move(k.workspace);
           o.resolved_roles = std::move(k.roles);
         });
       }},
      {Operation::get_signing_key_public,
       [](RolesRegime& g, const OperationRequest&) {
         return respond(g.signing_key_public(),
                        [](OperationResponse& o, std::string pem) { o.signing_key_public = std::move(pem); });
       }},
      {Operation::rotate_signing_key,
       [](RolesRegime& g, const OperationRequest& r) { return empty_or_error(g.rotate_signing_key(r.actor)); }},
      {Operation::list_signing_keys,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.list_signing_keys(r.actor), [](OperationResponse& o, std::vector<SigningKeyRecord> k) {
           o.signing_keys = std::move(k);
         });
       }},
      {Operation::change_password,
       [](RolesRegime& g, const OperationRequest& r) {
         return empty_or_error(g.change_password(r.actor, text(r.user_id), secret(r.password), secret(r.new_password)));
       }},
      {Operation::reset_password,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.reset_password(r.actor, text(r.user_id), view(r.workspace)),
                        [](OperationResponse& o, SecretString p) { o.temporary_password = std::move(p); });
       }},
      {Operation::create_user,
       [](RolesRegime& g, const OperationRequest& r) -> Result<OperationResponse> {
         if (!r.user) return Error{ErrorCode::invalid_argument, "user is required"};
         return respond(g.create_user(r.actor, text(r.workspace), *r.user),
                        [](OperationResponse& o, UserRecord u) { o.user = std::move(u); });
       }},
      {Operation::list_users,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.list_users(r.actor, view(r.workspace)),
                        [](OperationResponse& o, std::vector<UserRecord> u) { o.users = std::move(u); });
       }},
      {Operation::get_user,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.get_user(r.actor, text(r.user_id), view(r.workspace)),
                        [](OperationResponse& o, UserRecord u) { o.user = std::move(u); });
       }},
      {Operation::update_user,
       [](RolesRegime& g, const OperationRequest& r) -> Result<OperationResponse> {
         if (!r.user) return Error{ErrorCode::invalid_argument, "user is required"};
         return respond(g.update_user(r.actor, text(r.user_id), *r.user, view(r.workspace)),
                        [](OperationResponse& o, UserRecord u) { o.user = std::move(u); });
       }},
      {Operation::disable_user,
       [](RolesRegime& g, const OperationRequest& r) {
         return empty_or_error(g.disable_user(r.actor, text(r.user_id), view(r.workspace)));
       }},
      {Operation::enable_user,
       [](RolesRegime& g, const OperationRequest& r) {
         return empty_or_error(g.enable_user(r.actor, text(r.user_id), view(r.workspace)));
       }},
      {Operation::delete_user,
       [](RolesRegime& g, const OperationRequest& r) {
         return empty_or_error(g.delete_user(r.actor, text(r.user_id), view(r.workspace)));
       }},
      {Operation::create_workspace,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.create_workspace(r.actor, r.workspace_record.value_or(WorkspaceInput{})),
                        [](OperationResponse& o, WorkspaceRecord w) { o.workspace = std::move(w); });
       }},
      {Operation::list_workspaces,
       [](RolesRegime& g, const OperationRequest& r) -> Result<OperationResponse> {
         if (auto s = check_workspaces_admin(g, r, every_workspace); !s.ok()) return s.error();
         return respond(g.list_workspaces(),
                        [](OperationResponse& o, std::vector<WorkspaceRecord> w) { o.workspaces = std::move(w); });
       }},
      {Operation::list_my_workspaces,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.list_my_workspaces(self(r)),
                        [](OperationResponse& o, std::vector<WorkspaceRecord> w) { o.workspaces = std::move(w); });
       }},
      {Operation::get_workspace,
       [](RolesRegime& g, const OperationRequest& r) -> Result<OperationResponse> {
         const auto id = r.workspace_record ? r.workspace_record->id : std::nullopt;
         if (auto s = check_workspaces_admin(g, r, text(id)); !s.ok()) return s.error();
         return respond(g.get_workspace(text(id)),
                        [](OperationResponse& o, WorkspaceRecord w) { o.workspace = std::move(w); });
       }},
      {Operation::update_workspace,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.update_workspace(r.actor, r.workspace_record.value_or(WorkspaceInput{})),
                        [](OperationResponse& o, WorkspaceRecord w) { o.workspace = std::move(w); });
       }},
      {Operation::disable_workspace,
       [](RolesRegime& g, const OperationRequest& r) {
         const auto id = r.workspace_record ? r.workspace_record->id : std::nullopt;
         return empty_or_error(g.disable_workspace(r.actor, text(id)));
       }},
      {Operation::create_api_key,
       [](RolesRegime& g, const OperationRequest& r) -> Result<OperationResponse> {
         if (!r.key) return Error{ErrorCode::invalid_argument, "key is required"};
         return respond(g.create_api_key(r.actor, *r.key, view(r.workspace)),
                        [](OperationResponse& o, CreatedApiKey k) {
                          o.api_key_plaintext = std::move(k.plaintext);
                          o.api_key = std::move(k.record);
                        });
       }},
      {Operation::list_api_keys,
       [](RolesRegime& g, const OperationRequest& r) {
         return respond(g.list_api_keys(r.actor, text(r.user_id), view(r.workspace)),
                        [](OperationResponse& o, std::vector<ApiKeyRecord> k) { o.api_keys = std::move(k); });
       }},
      {Operation::revoke_api_key,
       [](RolesRegime& g, const OperationRequest& r) {
         return empty_or_error(g.revoke_api_key(r.actor, text(r.key_id), view(r.workspace)));
       }},
  };
  return table;
}

}  // namespace

Result<OperationResponse> RolesRegime::execute(const OperationRequest& request) noexcept {
  try {
    const auto operation = find_operation(request.operation);
    if (!operation) return Error{ErrorCode::invalid_argument, "unknown operation"};
    const auto& table = handlers();
    if (const auto it = table.find(*operation); it != table.end()) return it->second(*this, request);
    // authorise / authorise-many (the dispatcher answers them from authorise) and the
    // group/grant operations of enterprise regimes: not-supported, which a gateway maps to
    // 501, not 400.
    return Error{ErrorCode::not_supported, "the roles regime does not support '" + request.operation + "'"};
  } catch (...) {
    return Error{ErrorCode::internal_error, "operation failed unexpectedly"};
  }
}

}  // namespace iam
