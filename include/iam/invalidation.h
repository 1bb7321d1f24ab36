// iam/invalidation.h — what a change made through a regime affects, so caches can drop it
// at once (Regime::add_invalidation_listener; repositories report the same events).
//
// THREAD SAFETY: Invalidation is a plain value; a listener may be called from any thread.
#pragma once

#include <functional>
#include <string>

namespace iam {

struct Invalidation {
  enum class Kind {
    user,          // id = user id: roles, enabled, deletion, password
    api_key,       // id = the key's SHA-256 hex (what caches are keyed by)
    workspace,     // id = workspace id
    signing_keys,  // id empty: the key set changed (rotation)
    everything,    // id empty: drop all cached state
  };
  Kind kind = Kind::everything;
  std::string id;
};
using InvalidationListener = std::function<void(const Invalidation&)>;

}  // namespace iam
