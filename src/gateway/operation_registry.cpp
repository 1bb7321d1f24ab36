#include "iam/operation_registry.h"

#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "iam/operation_table.h"
#include "iam/regime.h"

namespace iam {

namespace gateway {
extern const std::string_view service_operations_json;  // service_operations_data.cpp (generated)
}  // namespace gateway

namespace {

using nlohmann::json;

Error invalid(std::string message) { return {ErrorCode::invalid_argument, std::move(message)}; }

std::optional<ResourceLevel> parse_level(std::string_view name) {
  if (name == "system") return ResourceLevel::system;
  if (name == "workspace") return ResourceLevel::workspace;
  if (name == "flow") return ResourceLevel::flow;
  return std::nullopt;
}
std::optional<ResourceExtractor> parse_resource(std::string_view name) {
  if (name == "empty") return ResourceExtractor::empty;
  if (name == "workspace_from_body") return ResourceExtractor::workspace_from_body;
  if (name == "flow_from_address") return ResourceExtractor::flow_from_address;
  return std::nullopt;
}
std::optional<ParametersExtractor> parse_parameters(std::string_view name) {
  if (name == "none") return ParametersExtractor::none;
  if (name == "workspace_parameter") return ParametersExtractor::workspace_parameter;
  return std::nullopt;
}

// The resource extractor decides the level; a mismatch is a mistake in the data.
ResourceExtractor extractor_for(ResourceLevel level) {
  switch (level) {
    case ResourceLevel::system: return ResourceExtractor::empty;
    case ResourceLevel::workspace: return ResourceExtractor::workspace_from_body;
    case ResourceLevel::flow: return ResourceExtractor::flow_from_address;
  }
  return ResourceExtractor::empty;
}

Result<std::string> string_field(const json& entry, const char* field, std::size_t index) {
  const auto found = entry.find(field);
  if (found == entry.end() || !found->is_string())
    return invalid("operation #" + std::to_string(index) + ": \"" + field + "\" must be a string");
  return found->get<std::string>();
}

Result<OperationSpec> parse_entry(const json& entry, std::size_t index) {
  if (!entry.is_object()) return invalid("operation #" + std::to_string(index) + " is not an object");
  OperationSpec spec;
  IAM_ASSIGN_OR_RETURN(spec.name, string_field(entry, "name", index));
  // A missing capability is refused, never defaulted (gateway.md: no permissive default).
  auto capability = string_field(entry, "capability", index);
  if (!capability) return invalid("operation '" + spec.name + "' has no capability");
  spec.capability = std::move(*capability);
  auto level = string_field(entry, "level", index);
  auto resource = string_field(entry, "resource", index);
  auto parameters = string_field(entry, "parameters", index);
  if (!level || !resource || !parameters)
    return invalid("operation '" + spec.name + "' needs string level, resource and parameters");
  const auto l = parse_level(*level);
  const auto r = parse_resource(*resource);
  const auto p = parse_parameters(*parameters);
  if (!l) return invalid("operation '" + spec.name + "': unknown level '" + *level + "'");
  if (!r) return invalid("operation '" + spec.name + "': unknown resource extractor '" + *resource + "'");
  if (!p) return invalid("operation '" + spec.name + "': unknown parameters extractor '" + *parameters + "'");
  spec.level = *l;
  spec.resource = *r;
  spec.parameters = *p;
  if (const auto all = entry.find("all_workspaces"); all != entry.end()) {
    if (!all->is_boolean()) return invalid("operation '" + spec.name + "': \"all_workspaces\" must be a boolean");
    spec.all_workspaces = all->get<bool>();
  }
  return spec;
}

// The entries of a document in from_json's format, not yet checked as a registry.
Result<std::vector<OperationSpec>> parse_operations(std::string_view json_text) {
  try {
    auto parsed = parse_json_bounded(json_text);
    if (!parsed) return invalid("the operation registry is not valid JSON: " + parsed.error().message);
    const json& document = *parsed;
    if (!document.is_object()) return invalid("the operation registry must be a JSON object");
    const auto list = document.find("operations");
    if (list == document.end() || !list->is_array())
      return invalid("the operation registry needs an \"operations\" array");
    std::vector<OperationSpec> operations;
    operations.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      IAM_ASSIGN_OR_RETURN(auto spec, parse_entry((*list)[i], i));
      operations.push_back(std::move(spec));
    }
    return operations;
  } catch (const std::exception&) {
    return Error{ErrorCode::internal_error, "could not read the operation registry"};
  }
}

}  // namespace

std::string_view resource_level_name(ResourceLevel level) noexcept {
  switch (level) {
    case ResourceLevel::system: return "system";
    case ResourceLevel::workspace: return "workspace";
    case ResourceLevel::flow: return "flow";
  }
  return "system";
}

std::string_view resource_extractor_name(ResourceExtractor extractor) noexcept {
  switch (extractor) {
    case ResourceExtractor::empty: return "empty";
    case ResourceExtractor::workspace_from_body: return "workspace_from_body";
    case ResourceExtractor::flow_from_address: return "flow_from_address";
  }
  return "empty";
}

std::string_view parameters_extractor_name(ParametersExtractor extractor) noexcept {
  switch (extractor) {
    case ParametersExtractor::none: return "none";
    case ParametersExtractor::workspace_parameter: return "workspace_parameter";
  }
  return "none";
}

bool OperationSpec::is_public() const noexcept { return capability == capability::public_access; }
bool OperationSpec::is_authenticated() const noexcept { return capability == capability::authenticated; }

Result<OperationRegistry> OperationRegistry::create(std::vector<OperationSpec> operations) {
  try {
    OperationRegistry registry;
    for (auto& spec : operations) {
      if (spec.name.empty()) return invalid("an operation has an empty name");
      if (spec.capability.empty()) return invalid("operation '" + spec.name + "' has no capability");
      if (spec.resource != extractor_for(spec.level))
        return invalid("operation '" + spec.name + "': resource extractor '" +
                       std::string(resource_extractor_name(spec.resource)) + "' does not match level '" +
                       std::string(resource_level_name(spec.level)) + "'");
      // "*" means every workspace; a flow lives in one, and PUBLIC has nobody to scope.
      if (spec.all_workspaces && (spec.level == ResourceLevel::flow || spec.is_public()))
        return invalid("operation '" + spec.name + "': all_workspaces needs a system- or workspace-level, non-PUBLIC operation");
      if (registry.operations_.contains(spec.name))
        return invalid("operation '" + spec.name + "' is registered twice");
      if (const auto colon = spec.name.find(':'); colon != std::string::npos)
        registry.kinds_.emplace(spec.name.substr(0, colon));
      std::string name = spec.name;
      registry.operations_.emplace(std::move(name), std::move(spec));
    }
    registry.passthrough_ = OperationSpec{std::string(passthrough_name), std::string(capability::authenticated),
                                          ResourceLevel::flow, ResourceExtractor::flow_from_address,
                                          ParametersExtractor::none, false};
    return registry;
  } catch (const std::exception&) {
    return Error{ErrorCode::internal_error, "could not build the operation registry"};
  }
}

Result<OperationRegistry> OperationRegistry::from_json(std::string_view json_text) {
  IAM_ASSIGN_OR_RETURN(auto operations, parse_operations(json_text));
  return create(std::move(operations));
}

Result<OperationRegistry> OperationRegistry::with_defaults(std::vector<OperationSpec> additions) {
  // IAM's operations come from the one operation table, the services' from the compiled-in
  // file; a name in both (or in `additions` too) is refused as registered twice.
  IAM_ASSIGN_OR_RETURN(auto services, parse_operations(gateway::service_operations_json));
  std::vector<OperationSpec> all = gateway_operation_specs();
  all.reserve(all.size() + services.size() + additions.size());
  for (auto& spec : services) all.push_back(std::move(spec));
  for (auto& spec : additions) all.push_back(std::move(spec));
  return create(std::move(all));
}

Result<std::string> OperationRegistry::default_operations_json() {
  IAM_ASSIGN_OR_RETURN(const auto defaults, with_defaults());
  return defaults.to_json();
}

Result<std::string> OperationRegistry::to_json() const {
  try {
    // The fields in the order service_operations.json writes them.
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& [name, spec] : operations_) {
      nlohmann::ordered_json entry{{"name", spec.name},
                                   {"capability", spec.capability},
                                   {"level", resource_level_name(spec.level)},
                                   {"resource", resource_extractor_name(spec.resource)},
                                   {"parameters", parameters_extractor_name(spec.parameters)}};
      if (spec.all_workspaces) entry["all_workspaces"] = true;
      list.push_back(std::move(entry));
    }
    return nlohmann::ordered_json{{"operations", std::move(list)}}.dump();
  } catch (const nlohmann::json::type_error&) {
    // dump() refuses text that is not UTF-8; create() accepts any bytes as a name.
    return invalid("an operation name or capability is not valid UTF-8");
  } catch (const std::exception&) {
    return Error{ErrorCode::internal_error, "could not write the operation registry"};
  }
}

const OperationSpec* OperationRegistry::find(std::string_view name) const noexcept {
  if (const auto found = operations_.find(name); found != operations_.end()) return &found->second;
  if (name.size() > passthrough_prefix.size() && name.starts_with(passthrough_prefix)) return &passthrough_;
  return nullptr;
}

bool OperationRegistry::has_kind(std::string_view kind) const noexcept { return kinds_.find(kind) != kinds_.end(); }

std::vector<const OperationSpec*> OperationRegistry::operations() const {
  std::vector<const OperationSpec*> out;
  out.reserve(operations_.size());
  for (const auto& [name, spec] : operations_) out.push_back(&spec);
  return out;
}

}  // namespace iam
