// iam/administration.h — the optional management half of a regime: the operations of
// protocol.md "Operations" that create, read and change users, workspaces, API keys and
// signing keys.
//
// A regime that manages its own state offers it through Regime::administration(); a
// decision-only regime (one that only authenticates and authorises, its state kept
// elsewhere) returns nullptr there, and the JSON dispatcher and the gateway kit answer
// every management operation not-supported for it.
//
// THREAD SAFETY: implementations must be safe to call from many threads at once, like the
// Regime that owns them.
// OWNERSHIP: owned by its regime and valid for the regime's lifetime.
// ERRORS: execute answers the error codes protocol.md lists per operation, and
// not_supported for an operation of the table (iam/operation_table.h) it does not offer.
// Names outside the table never reach it through the JSON dispatcher (invalid-argument
// there); called directly, the roles regime answers them invalid_argument, noauth
// not_supported. Like Regime, not declared noexcept so that an application's
// implementation that throws is caught by its callers (internal-error).
#pragma once

#include "iam/export.h"
#include "iam/operations.h"
#include "iam/status.h"

namespace iam {

class IAM_EXPORT Administration {
 public:
  virtual ~Administration() = default;

  // One management operation (protocol.md "Operations"); request.operation names it.
  virtual Result<OperationResponse> execute(const OperationRequest& request) = 0;
};

}  // namespace iam
