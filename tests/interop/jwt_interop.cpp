// A command-line face of the JWT key set for the PyJWT interoperability check
// (pyjwt_check.py). Every answer is one JSON object on stdout.
//
//   jwt-interop sign   <seed-hex> <kid> <sub> <workspace>
//       loads the key made from the 32-byte seed as the active key, signs a token for
//       sub/workspace and prints {"token", "kid", "pem", "jwks"}.
//   jwt-interop verify <seed-hex> <kid> <token>
//       loads the key (public half is enough, but the seed is what the script holds) and
//       verifies; prints {"ok":true, "iss", "sub", "workspace", "iat", "exp"} and exits 0,
//       or {"ok":false, "code", "message", "reason"} and exits 1.
//
// Exit status 2 is a usage or setup error. The key set uses the default JwtConfig
// (issuer "trustgraph-iam") and the system clock.
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/crypto.h"
#include "iam/clock.h"
#include "iam/jwt.h"
#include "iam/status.h"

namespace {

using nlohmann::json;

int usage() {
  std::cerr << "usage: jwt-interop sign <seed-hex> <kid> <sub> <workspace>\n"
               "       jwt-interop verify <seed-hex> <kid> <token>\n";
  return 2;
}

// A key set holding the key made from `seed_hex` as its active key; nullptr (after a
// message on stderr) when the seed or kid is unusable.
std::unique_ptr<iam::KeySet> key_set(std::string_view seed_hex, std::string kid) {
  const auto seed = iam::crypto::hex_decode(seed_hex);
  if (!seed) {
    std::cerr << "seed is not hex\n";
    return nullptr;
  }
  auto clock = iam::system_clock();
  auto key = iam::SigningKey::from_seed(std::move(kid), *seed, clock->now());
  if (!key) {
    std::cerr << key.error().message << '\n';
    return nullptr;
  }
  auto keys = std::make_unique<iam::KeySet>(iam::JwtConfig{}, clock);
  std::vector<iam::SigningKey> set;
  set.push_back(std::move(key).value());
  if (const auto loaded = keys->load(std::move(set)); !loaded) {
    std::cerr << loaded.error().message << '\n';
    return nullptr;
  }
  return keys;
}

int sign(const std::vector<std::string>& args) {
  if (args.size() != 4) return usage();
  const auto keys = key_set(args[0], args[1]);
  if (!keys) return 2;
  const auto token = keys->sign(args[2], args[3]);
  const auto pem = keys->active_public_pem();
  if (!token || !pem) {
    std::cerr << "signing failed\n";
    return 2;
  }
  std::cout << json{{"token", *token}, {"kid", keys->active_kid().value_or("")}, {"pem", *pem}, {"jwks", keys->jwks()}}.dump()
            << '\n';
  return 0;
}

int verify(const std::vector<std::string>& args) {
  if (args.size() != 3) return usage();
  const auto keys = key_set(args[0], args[1]);
  if (!keys) return 2;
  std::string reason;
  const auto claims = keys->verify_with_reason(args[2], &reason);
  if (!claims) {
    std::cout << json{{"ok", false},
                      {"code", std::string(iam::error_type_name(claims.error().code))},
                      {"message", claims.error().message},
                      {"reason", reason}}
                     .dump()
              << '\n';
    return 1;
  }
  std::cout << json{{"ok", true},
                    {"iss", claims->issuer},
                    {"sub", claims->subject},
                    {"workspace", claims->workspace},
                    {"iat", iam::unix_seconds(claims->issued_at)},
                    {"exp", iam::unix_seconds(claims->expires_at)}}
                   .dump()
            << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "sign") return sign(args);
  if (command == "verify") return verify(args);
  return usage();
}
