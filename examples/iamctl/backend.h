// What every iamctl subcommand talks to: a local store (local.h) or a running gateway
// (remote.h). Subcommands build protocol.md requests and print the answers; they never
// know which of the two carried them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace iamctl {

// A bad command line or configuration: exit 2.
struct UsageError {
  std::string message;
};

enum class Outcome {
  ok,        // exit 0
  refused,   // exit 1: the operation was refused (IAM error, HTTP 4xx)
  internal,  // exit 3: internal error, HTTP 5xx
};

struct Reply {
  Outcome outcome = Outcome::ok;
  nlohmann::json body;  // the IAM response object (or the gateway's error body)
  int http_status = 0;  // remote only, for the operator's message
  std::string hint;     // a line for the operator after the error, if any
};

class Backend {
 public:
  virtual ~Backend() = default;
  // One IAM operation (protocol.md request object, without `actor`). Throws
  // std::runtime_error when the answer cannot be had at all (exit 3).
  virtual Reply call(const nlohmann::json& request) = 0;
  // The JWKS document of every signing key still verifying.
  virtual Reply jwks() = 0;
};

}  // namespace iamctl
