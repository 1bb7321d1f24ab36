// iam/noauth.h — the noauth regime: every request is allowed (contract.md "The noauth regime").
//
// For development, and for deployments behind an external authentication proxy. It must
// never be selected by accident: an application names it explicitly through
// make_noauth_regime, and it logs a warning when constructed.
//
// Behaviour: authenticate accepts any credential except a JWT-shaped one (exactly two dots:
// noauth issues no JWTs, so such a credential is an auth failure), and
// authenticate_anonymous accepts; both give the configured default identity with source
// anonymous. authorise always allows (TTL 3600 s); authorise_many allows every check.
// Management operations (its administration(), never nullptr) answer stub successes of the
// right shape, as TrustGraph's noauth handler does, so its tools work in development: nothing is stored, stub records carry a
// fixed all-zero id and the name "noauth", and each stub answer is logged as a warning.
// noauth_regime.cpp lists each operation's answer.
//
// THREAD SAFETY: the regime is immutable after construction and safe to call from many
// threads at once. The on_create_workspace hook and the logger are called from whichever
// thread runs the request, possibly several at once.
// OWNERSHIP: the regime holds copies of the configuration's hook, logger and clock.
// ERRORS: authenticate fails only with auth_failure(); execute answers invalid_argument
// or not_supported as listed, or internal_error when the hook throws.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "iam/clock.h"
#include "iam/export.h"
#include "iam/log.h"
#include "iam/operations.h"
#include "iam/regime.h"

namespace iam {

struct NoauthConfig {
  // The identity every caller gets. An empty value falls back to the default (logged).
  std::string user_id = "anonymous";
  std::string workspace = "default";
  // Called by create-workspace with the record it answers, so the application can create
  // the workspace in its own storage. May be called again for an existing id (TrustGraph's
  // create-workspace is idempotent), so it must be too. An exception from it becomes an
  // internal-error answer.
  std::function<void(const WorkspaceRecord&)> on_create_workspace;
  Logger logger = stderr_logger();
  // Timestamps of stub records; the system clock when null.
  std::shared_ptr<Clock> clock;
};

// The noauth regime. Named explicitly on purpose; logs a warning at construction that
// every request is allowed.
IAM_EXPORT std::shared_ptr<Regime> make_noauth_regime(NoauthConfig config);

}  // namespace iam
