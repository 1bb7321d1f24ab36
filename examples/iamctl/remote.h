// iamctl against a running gateway, over the HTTP surface of gateway.md. Built only when
// Boost is found (IAMCTL_REMOTE).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "backend.h"

namespace iamctl {

struct RemoteTarget {
  std::string url;    // http://host[:port][/base]
  std::string token;  // API key or JWT; empty: none sent (the gateway answers 401)
  std::chrono::seconds timeout{30};  // for each of resolve, connect, write, read
};

// Throws UsageError for a URL this client cannot use (https, userinfo, query, ...) or a
// token that cannot travel in a header.
std::unique_ptr<Backend> make_remote_backend(RemoteTarget target);

}  // namespace iamctl
