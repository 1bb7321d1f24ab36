// tests/support/rotation_race.h — two "processes" (roles regimes sharing one store)
// checking for a due signing key rotation at once, as gateways running
// --key-rotation-interval do: two threads each, released together.
#pragma once

#include <atomic>
#include <chrono>

#include "iam/roles.h"
#include "threads.h"

namespace test_support {

struct RotationRace {
  int rotated = 0;  // calls that answered true
  int failed = 0;   // calls that answered an error
};

inline RotationRace race_scheduled_rotation(iam::RolesRegime& a, iam::RolesRegime& b, std::chrono::seconds interval,
                                            int calls_per_thread) {
  std::atomic<int> rotated{0};
  std::atomic<int> failed{0};
  iam::RolesRegime* const regimes[] = {&a, &b, &a, &b};
  run_threads(4, [&](int t) {
    for (int i = 0; i < calls_per_thread; ++i) {
      const auto outcome = regimes[t]->rotate_signing_key_if_due(interval);
      if (!outcome.ok()) ++failed;
      else if (*outcome) ++rotated;
    }
  });
  return {rotated.load(), failed.load()};
}

}  // namespace test_support
