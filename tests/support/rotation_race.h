// tests/support/rotation_race.h — two "processes" (roles regimes sharing one store)
// checking for a due signing key rotation at once, as gateways running
// --key-rotation-interval do: two threads each, released together.
#pragma once

#include <atomic>
#include <chrono>
#include <vector>

#include "iam/roles.h"
#include "iam/signing_key.h"
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

// How many stored keys are current and how many next (each should be exactly one).
struct KeyStates {
  int current = 0;
  int next = 0;
};

inline KeyStates count_key_states(const std::vector<iam::SigningKey>& stored) {
  KeyStates states;
  for (const auto& k : stored) {
    states.current += k.is_current() ? 1 : 0;
    states.next += k.is_next() ? 1 : 0;
  }
  return states;
}

}  // namespace test_support
