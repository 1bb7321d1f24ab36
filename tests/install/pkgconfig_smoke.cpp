// A consumer of the installed library: built with nothing but the flags of
// `pkg-config --cflags --libs iam` (install_smoke.sh) or CMake's iam::iam (cmake_smoke.sh),
// it signs and verifies a JWT through the public API.
#include <iam/clock.h>
#include <iam/jwt.h>
#include <iam/random.h>
#include <iam/status.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

int main() {
  using namespace std::chrono_literals;
  auto clock = std::make_shared<iam::ManualClock>();
  iam::KeySet keys(iam::JwtConfig{}, clock);
  std::vector<iam::SigningKey> set;
  set.push_back(iam::SigningKey::generate(*iam::system_random(), *clock));
  if (!keys.load(std::move(set))) {
    std::puts("load failed");
    return 1;
  }
  const auto token = keys.sign("user-1", "default");
  if (!token) {
    std::puts("sign failed");
    return 1;
  }
  const auto claims = keys.verify(*token);
  if (!claims || claims->subject != "user-1" || claims->workspace != "default") {
    std::puts("verify failed");
    return 1;
  }
  std::string tampered = *token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  const auto bad = keys.verify(tampered);
  if (bad || bad.error().code != iam::ErrorCode::auth_failed) {
    std::puts("a tampered token was not rejected");
    return 1;
  }
  clock->advance(2h);
  if (keys.verify(*token)) {
    std::puts("an expired token was accepted");
    return 1;
  }
  std::printf("signed and verified a %zu-byte JWT with kid %s\n", token->size(), keys.active_kid().value_or("?").c_str());
  return 0;
}
