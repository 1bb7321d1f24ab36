// The tests' decorators (failure injection, temporary stores, signalling stores) derive from
// the library's own forwarding base.
#pragma once

#include "iam/forwarding_repository.h"

namespace test_support {
using ForwardingRepository = iam::ForwardingRepository;
}  // namespace test_support
