// An Enforcer (the gateway kit) in front of the real roles regime of a TestIam, on its
// ManualClock, with the default caches and logging off.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <utility>

#include "iam/gateway.h"
#include "iam/testing.h"

namespace test_support {

inline std::shared_ptr<iam::Enforcer> enforcer_for(const iam::testing::TestIam& t) {
  iam::GatewayConfig config;
  config.regime = t.regime;
  config.clock = t.clock;
  config.logger = iam::null_logger();
  auto enforcer = iam::make_enforcer(std::move(config));
  REQUIRE(enforcer.ok());
  return std::move(*enforcer);
}

}  // namespace test_support
