// iam/chain.h — a regime made of regimes (docs/oidc.md "Chaining").
//
// A credential goes to the first member that recognises it (Regime::recognises); the
// identity it returns remembers nothing else, so authorise, authorise_many and the
// management operations go to the first member that issued that identity
// (Regime::issued). The roles regime with an OIDC regime: the OIDC regime recognises
// JWTs whose `iss` it trusts and issued the "oidc:" handles; the roles regime, placed
// after it, recognises everything else. Useful beyond OIDC, e.g. moving users from one
// regime to another.
//
// THREAD SAFETY: as safe as its members (every shipped regime is safe to share).
// OWNERSHIP: holds its members by shared_ptr. ERRORS: a credential no member recognises
// is auth_failure(); an identity no member issued is denied; management for it is
// auth_failure; invalid_argument from make_chain_regime for no members or a null one.
#pragma once

#include <memory>
#include <vector>

#include "iam/export.h"
#include "iam/regime.h"
#include "iam/status.h"

namespace iam {

IAM_EXPORT Result<std::shared_ptr<Regime>> make_chain_regime(std::vector<std::shared_ptr<Regime>> members);

}  // namespace iam
