// A password login through the roles regime against the PBKDF2 it is built on.
//
// BM_Login calls RolesRegime::login (user lookup, PBKDF2-HMAC-SHA256 verification, key
// reload, EdDSA JWT) with the right password; BM_Pbkdf2 runs OpenSSL's PKCS5_PBKDF2_HMAC
// with SHA-256 at the iteration count, salt length and output length read back from the
// user's stored hash, so both sides do the same key stretching. The ratio is what a login
// costs beyond that. Only successful logins are timed, so the login throttle (which counts
// failures) never engages. Each login takes a good fraction of a second: a few iterations
// per repetition and fewer, interleaved, repetitions than the other programs.
// After the run:
//   RESULT login_ms, pbkdf2_ms, login_pbkdf2_ratio
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.h"
#include "credentials/password.h"
#include "iam/jwt.h"

namespace {

struct Setup {
  bench::RolesSetup roles = bench::make_roles_setup({"reader"});  // production cost: 600,000
  std::uint32_t iterations = 0;
  std::vector<std::uint8_t> salt;
  std::size_t hash_bytes = 0;

  Setup() {
    auto stored = roles.repository->find_user(roles.user_id);
    if (!stored) bench::fail("the user is not stored");
    auto parsed = iam::credentials::parse_password_hash(stored->password_hash);
    if (!parsed) bench::fail("the stored password hash does not parse");
    iterations = parsed->iterations;
    salt = parsed->salt;
    hash_bytes = parsed->hash.size();
    std::fprintf(stderr, "PBKDF2-HMAC-SHA256: %u iterations, %zu-byte salt, %zu-byte hash\n", iterations,
                 salt.size(), hash_bytes);
    // The raw call must give the stored hash, or the two sides are not doing the same work.
    std::vector<std::uint8_t> out(hash_bytes);
    if (PKCS5_PBKDF2_HMAC(roles.password.data(), static_cast<int>(roles.password.size()), salt.data(),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(out.size()), out.data()) != 1 ||
        out != parsed->hash)
      bench::fail("raw PBKDF2 does not reproduce the stored hash");
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_Login(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    auto result = s.roles.regime->login(s.roles.username, s.roles.password, std::nullopt);
    if (!result) {
      state.SkipWithError("login failed");
      break;
    }
    benchmark::DoNotOptimize(result);
    state.PauseTiming();
    // The token must verify and name the user (outside the timing).
    auto claims = s.roles.regime->key_set().verify(result->jwt.view());
    if (!claims || claims->subject != s.roles.user_id) state.SkipWithError("login returned a bad token");
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Login)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Pbkdf2(benchmark::State& state) {
  const Setup& s = setup();
  std::vector<std::uint8_t> out(s.hash_bytes);
  for (auto _ : state) {
    const int ok = PKCS5_PBKDF2_HMAC(s.roles.password.data(), static_cast<int>(s.roles.password.size()), s.salt.data(),
                                     static_cast<int>(s.salt.size()), static_cast<int>(s.iterations), EVP_sha256(),
                                     static_cast<int>(out.size()), out.data());
    if (ok != 1) {
      state.SkipWithError("PKCS5_PBKDF2_HMAC failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Pbkdf2)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
  if (!bench::initialise(argc, argv, 25)) return 1;  // ±4% noise per repetition here: a robust median
  setup();

  bench::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const double login = reporter.seconds_of("BM_Login");
  const double pbkdf2 = reporter.seconds_of("BM_Pbkdf2");
  if (login > 0) bench::result("login_ms", login * 1e3);
  if (pbkdf2 > 0) bench::result("pbkdf2_ms", pbkdf2 * 1e3);
  if (login > 0 && pbkdf2 > 0) bench::result("login_pbkdf2_ratio", login / pbkdf2);
  return 0;
}
