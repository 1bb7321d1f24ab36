#include "iam/regime.h"

#include "core/text.h"

namespace iam {

std::string_view credential_source_name(CredentialSource source) noexcept {
  switch (source) {
    case CredentialSource::api_key: return "api-key";
    case CredentialSource::jwt: return "jwt";
    case CredentialSource::anonymous: return "anonymous";
  }
  return "anonymous";
}

Resource Resource::workspace(std::string workspace) {
  Resource r;
  r.set(std::string(component::workspace), std::move(workspace));
  return r;
}

Resource Resource::flow(std::string workspace, std::string flow) {
  Resource r = Resource::workspace(std::move(workspace));
  r.set(std::string(component::flow), std::move(flow));
  return r;
}

std::string_view Resource::get(std::string_view name) const {
  // A resource has a few components (workspace, flow, ...): comparing names for equality
  // costs less than the map's ordered compares (a call to memcmp each).
  if (components_.size() <= 4) {
    for (const auto& [component, value] : components_)
      if (text::equal(component, name)) return value;
    return {};
  }
  const auto it = components_.find(name);
  return it == components_.end() ? std::string_view{} : std::string_view{it->second};
}

void Resource::set(std::string name, std::string value) { components_[std::move(name)] = std::move(value); }

}  // namespace iam
