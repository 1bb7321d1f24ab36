// iam/operation_registry.h — which operations a gateway serves and what each one needs
// (gateway.md "Authorising a request: the operation registry").
//
// The registry is data: every operation has a name, a required capability (or the
// sentinels PUBLIC / AUTHENTICATED of iam/regime.h), a resource level, and named extractors
// for its resource and parameters, and whether it reaches every workspace at once
// (`all_workspaces`). The library ships TrustGraph's gateway operations plus
// get-signing-key-public (docs/gateway.md): IAM's own operations from the operation table
// (iam/operation_table.h), the services' operations and http: routes from
// src/gateway/service_operations.json (compiled in); an application may add its own. Names `flow-service:thru/<anything>` that are not
// registered explicitly resolve to one AUTHENTICATED flow-level passthrough operation.
//
// Key conventions: a bare name is an IAM operation (`create-user`); `<kind>:<op>` is a
// workspace-level service operation (`config:get`); `flow-service:<kind>`,
// `flow-import:<kind>` and `flow-export:<kind>` are flow-level.
//
// THREAD SAFETY: an OperationRegistry is immutable after construction; any number of
// threads may look operations up at once.
// OWNERSHIP: the registry owns its specs; find() returns a pointer into the registry,
// valid for the registry's lifetime.
// ERRORS: construction fails with invalid_argument (no permissive default) for a duplicate
// name, an empty name, an operation without a capability, an unknown level or extractor
// name, a resource extractor that does not match the level, `all_workspaces` on a
// flow-level or PUBLIC operation (or not a boolean in JSON), or JSON that is not an
// object with an "operations" array of such entries. Lookups never fail: an unknown name
// is nullptr.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "iam/export.h"
#include "iam/status.h"

namespace iam {

// Where the resource of an operation sits (contract.md "Resource").
enum class ResourceLevel { system, workspace, flow };
// How the resource is taken from a request (gateway.md "Extractors").
enum class ResourceExtractor {
  empty,                // {}
  workspace_from_body,  // {workspace: body.workspace or identity.workspace}
  flow_from_address,    // {workspace, flow}: flow from the URL path or WebSocket envelope
};
// How the parameters are taken from a request.
enum class ParametersExtractor {
  none,                 // {}
  workspace_parameter,  // {workspace: body.user.workspace or body.workspace_record.id or body.workspace or identity.workspace}
};

// Wire names, as in the registry's JSON format: "system", "workspace_from_body", "none", ...
IAM_EXPORT std::string_view resource_level_name(ResourceLevel level) noexcept;
IAM_EXPORT std::string_view resource_extractor_name(ResourceExtractor extractor) noexcept;
IAM_EXPORT std::string_view parameters_extractor_name(ParametersExtractor extractor) noexcept;

struct IAM_EXPORT OperationSpec {
  std::string name;        // the registry key, e.g. "create-user", "config:get", "flow-service:agent"
  std::string capability;  // e.g. "users:admin", or "PUBLIC" / "AUTHENTICATED"
  ResourceLevel level = ResourceLevel::system;
  ResourceExtractor resource = ResourceExtractor::empty;
  ParametersExtractor parameters = ParametersExtractor::none;
  // The operation reads or changes every workspace at once (config:getvalues-all-ws,
  // list-workspaces, rotate-signing-key): the gateway authorises it against the workspace
  // `*` (iam::every_workspace), which only a caller whose scope is every workspace passes.
  bool all_workspaces = false;

  bool is_public() const noexcept;         // capability == PUBLIC: no credential needed
  bool is_authenticated() const noexcept;  // capability == AUTHENTICATED: any valid credential

  friend bool operator==(const OperationSpec&, const OperationSpec&) = default;
};

// Name prefix of the passthrough operations, and the spec every such name resolves to.
inline constexpr std::string_view passthrough_prefix = "flow-service:thru/";
inline constexpr std::string_view passthrough_name = "flow-service:thru";

class IAM_EXPORT OperationRegistry {
 public:
  // Exactly these operations (see ERRORS above).
  static Result<OperationRegistry> create(std::vector<OperationSpec> operations);
  // Parses the registry's JSON format: {"operations":[{"name","capability","level",
  // "resource","parameters","all_workspaces"?}, ...]} (all_workspaces: optional boolean,
  // default false); other top-level keys are ignored.
  static Result<OperationRegistry> from_json(std::string_view json_text);
  // The library's default operations plus `additions` (a name already in the defaults is
  // a duplicate, not an override). The defaults are the operation table's gateway rows
  // (gateway_operation_specs()) and the compiled-in service_operations.json.
  static Result<OperationRegistry> with_defaults(std::vector<OperationSpec> additions = {});
  // The default registry (with_defaults()) as one document in from_json's format.
  static Result<std::string> default_operations_json();

  // This registry as a document in from_json's format, entries in name order, fields as
  // above ("all_workspaces" only when true); from_json of it gives the same operations.
  // invalid_argument when a name or capability is not valid UTF-8 (create() allows any
  // bytes; JSON cannot carry them).
  Result<std::string> to_json() const;

  // The operation registered under `name`; for an unregistered `flow-service:thru/<x>`
  // (x non-empty) the passthrough spec (AUTHENTICATED, flow level); else nullptr.
  const OperationSpec* find(std::string_view name) const noexcept;

  // True when some registered operation is named `<kind>:...` (for an unknown {kind} in a
  // URL, answered 404 rather than 400).
  bool has_kind(std::string_view kind) const noexcept;

  // Registered operations in name order (the passthrough rule is not listed).
  std::vector<const OperationSpec*> operations() const;
  std::size_t size() const noexcept { return operations_.size(); }

 private:
  OperationRegistry() = default;

  std::map<std::string, OperationSpec, std::less<>> operations_;
  std::set<std::string, std::less<>> kinds_;
  OperationSpec passthrough_;
};

}  // namespace iam
