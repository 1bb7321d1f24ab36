#include "key_rotation.h"

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

namespace gateway {

KeyRotationSchedule::KeyRotationSchedule(std::shared_ptr<iam::RolesRegime> regime, std::chrono::seconds interval)
    : regime_(std::move(regime)),
      interval_(interval),
      check_every_(std::clamp<std::chrono::seconds>(interval / 10, std::chrono::seconds(1), std::chrono::minutes(1))),
      thread_([this](std::stop_token stop) { run(stop); }) {}

KeyRotationSchedule::~KeyRotationSchedule() {
  thread_.request_stop();
  thread_.join();
}

void KeyRotationSchedule::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const auto rotated = regime_->rotate_signing_key_if_due(interval_);
    if (!rotated.ok())
      std::cerr << nlohmann::json{{"event", "key_rotation_failed"}, {"error", rotated.error().message}}.dump()
                << std::endl;
    else if (*rotated)
      std::cerr << nlohmann::json{{"event", "signing_key_rotated"},
                                  {"kid", regime_->key_set().active_kid().value_or("")}}
                       .dump()
                << std::endl;
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, stop, check_every_, [] { return false; });
  }
}

}  // namespace gateway
