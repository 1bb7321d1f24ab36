// Scheduled signing key rotation for iam-gateway (--key-rotation-interval): a thread asks
// the roles regime now and then whether the current key has signed for the interval
// (RolesRegime::rotate_signing_key_if_due). Gateways sharing a store may all run one: the
// store lets exactly one rotate per interval, and the others reload the new key.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "iam/roles.h"

namespace gateway {

class KeyRotationSchedule {
 public:
  // Checks at once, then every interval / 10 (between 1 s and 1 min), so a rotation is at
  // most that late. Prints a JSON line on stderr for each rotation this process made and
  // for each failed attempt (the error's message only).
  KeyRotationSchedule(std::shared_ptr<iam::RolesRegime> regime, std::chrono::seconds interval);
  ~KeyRotationSchedule();  // stops the thread and waits for it
  KeyRotationSchedule(const KeyRotationSchedule&) = delete;
  KeyRotationSchedule& operator=(const KeyRotationSchedule&) = delete;

 private:
  void run(std::stop_token stop);

  const std::shared_ptr<iam::RolesRegime> regime_;
  const std::chrono::seconds interval_;
  const std::chrono::seconds check_every_;
  // Guards no data: it only pairs with wake_, which the stop request interrupts.
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: started after everything it reads
};

}  // namespace gateway
