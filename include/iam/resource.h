// iam/resource.h — what an authorisation question is about: the resource vocabulary,
// operation parameters, a check, and the decision (contract.md "Resource").
//
// Its own header so that the typed requests of iam/operations.h can carry authorise
// checks without pulling in the Regime contract.
//
// THREAD SAFETY: plain values. OWNERSHIP: values own their contents.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include "iam/export.h"

namespace iam {

// Component names of the resource vocabulary (contract.md "Resource").
namespace component {
inline constexpr std::string_view workspace = "workspace";
inline constexpr std::string_view flow = "flow";
inline constexpr std::string_view collection = "collection";
inline constexpr std::string_view document = "document";
}  // namespace component

// A workspace component (or parameter) of "*" means every workspace at once: a regime
// allows it only to a caller whose scope is every workspace. "*" is never a workspace id.
inline constexpr std::string_view every_workspace = "*";

using StringMap = std::map<std::string, std::string, std::less<>>;

// A partial mapping of component name to value. System level is {}, workspace level
// {workspace}, flow level {workspace, flow}. Regimes ignore components they do not know.
class IAM_EXPORT Resource {
 public:
  Resource() = default;
  static Resource system() { return {}; }
  static Resource workspace(std::string workspace);
  static Resource flow(std::string workspace, std::string flow);

  // The value of a component, or empty when absent.
  std::string_view get(std::string_view name) const;
  std::string_view workspace_id() const { return get(component::workspace); }
  void set(std::string name, std::string value);
  const StringMap& components() const noexcept { return components_; }

  friend bool operator==(const Resource&, const Resource&) = default;

 private:
  StringMap components_;
};

// Operation parameters the policy may read (e.g. {workspace} for create-user).
using Parameters = StringMap;

// allow or deny, and how long the caller may cache the answer.
struct Decision {
  bool allow = false;
  std::chrono::seconds ttl{0};

  static Decision allowed(std::chrono::seconds ttl) { return {true, ttl}; }
  static Decision denied(std::chrono::seconds ttl) { return {false, ttl}; }
  friend bool operator==(const Decision&, const Decision&) = default;
};

// One question: may the caller use `capability` on `resource` (with `parameters`)?
struct AuthorisationCheck {
  std::string capability;
  Resource resource;
  Parameters parameters;

  friend bool operator==(const AuthorisationCheck&, const AuthorisationCheck&) = default;
};

}  // namespace iam
