// The regime contract end to end, in one process: sign a JWT, verify it, authorise.
// Built until the roles regime exists on the key set alone; see README.md.
#include <iostream>

#include "iam/iam.h"

int main() {
  auto clock = iam::system_clock();
  auto random = iam::system_random();
  iam::KeySet keys(iam::JwtConfig{}, clock);
  if (auto s = keys.rotate(iam::SigningKey::generate(*random, *clock)); !s.ok()) {
    std::cerr << "rotate: " << s.error().message << "\n";
    return 1;
  }
  auto token = keys.sign("user-1", "default");
  if (!token) return 1;
  std::cout << "issued JWT (" << token->size() << " bytes, kid " << *keys.active_kid() << ")\n";
  auto claims = keys.verify(*token);
  std::cout << "verified: " << (claims.ok() ? "sub=" + claims->subject + " workspace=" + claims->workspace : "no")
            << "\n";
  auto tampered = *token;
  tampered[tampered.size() / 2] ^= 1;
  std::cout << "tampered token verifies: " << (keys.verify(tampered).ok() ? "yes" : "no") << "\n";
  return claims.ok() && !keys.verify(tampered).ok() ? 0 : 1;
}
