// iam/protocol.h — the JSON dispatcher: one IAM request object in, one response object out
// (protocol.md), in front of any Regime.
//
// The wire format is TrustGraph's IAM protocol, both generations: every output that carries
// a user's home workspace carries `workspace` and `default_workspace` (records) or
// `resolved_workspace` and `resolved_default_workspace` (resolve-api-key); every input
// accepts either name, and both given with different values is invalid-argument.
//
// The dispatcher trusts its caller as protocol.md "Who is calling" describes: it does not
// authorise management operations (a gateway does that first and sets `actor`). It answers
// `authorise` and `authorise-many` itself by calling Regime::authorise / authorise_many,
// since regimes know nothing of JSON; every other operation goes to the regime's
// Administration (iam/administration.h), and is not-supported for a regime without one.
//
// THREAD SAFETY: a JsonDispatcher is immutable after construction; any number of threads
// may call handle() at once (regimes are thread-safe by contract).
// OWNERSHIP: shares ownership of its regime; returns freshly allocated strings/values.
// ERRORS: handle() never throws. Every failure is a response: malformed JSON, a non-object
// request, a field of the wrong type, an operation outside protocol.md's table, or a
// disagreeing workspace/default_workspace pair are invalid-argument; an error from the
// regime is passed through; anything unexpected (an exception, a null regime) is
// internal-error. Error messages never repeat a field's value, so no secret is echoed.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "iam/export.h"
#include "iam/operations.h"
#include "iam/regime.h"
#include "iam/status.h"

namespace iam {

class IAM_EXPORT JsonDispatcher {
 public:
  explicit JsonDispatcher(std::shared_ptr<Regime> regime);

  // One request object's JSON text in, exactly one JSON object's text out: the response
  // fields the operation returns (`{}` when none), or {"error":{"type","message"}} alone.
  // Unknown fields are ignored; JSON null counts as an omitted field.
  std::string handle(std::string_view request_json) const noexcept;

  // The same dispatch on typed values, for callers that already hold an OperationRequest:
  // the operation must be one of iam/operation_table.h (unknown: invalid_argument);
  // authorise reads `check` and authorise-many `checks` and call the regime's authorise /
  // authorise_many; everything else goes to regime()->administration()->execute
  // (not_supported when administration() is nullptr).
  Result<OperationResponse> handle(const OperationRequest& request) const noexcept;

  const std::shared_ptr<Regime>& regime() const noexcept { return regime_; }

 private:
  Result<OperationResponse> authorise(const OperationRequest& request) const;
  Result<OperationResponse> authorise_many(const OperationRequest& request) const;

  std::shared_ptr<Regime> regime_;
};

}  // namespace iam
