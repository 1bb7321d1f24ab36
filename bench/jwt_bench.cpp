// JWT benchmarks: KeySet::verify against the bare Ed25519 check it is built on, and
// KeySet::sign.
//
// BM_VerifyLibrary and BM_VerifyRawSodium check the same token: the second runs only
// libsodium's crypto_sign_verify_detached over the token's signing input and signature
// bytes (decoded once, outside the loop). After the run the program prints
//
//   jwt_verify_ratio <library/raw>
//   RESULT jwt_verify_ratio <library/raw>
//   RESULT jwt_verify_per_second <1 s / library CPU time per verify>
//
// from the measured CPU time per iteration of the two (the median over repetitions when
// repetitions were asked for, the single measurement otherwise; the RESULT lines are what
// bench/run collects). The ratio is the cost of everything verify does beyond the
// signature check: parsing, base64url, JSON with duplicate detection, key lookup and claim
// rules. By default the program runs 10 interleaved repetitions so a busy machine disturbs
// both sides alike (command-line flags override that).
//
// --token-out=FILE (consumed here, not passed to Google Benchmark) writes
//   {"token":…, "public_key_b64url":…, "issuer":…, "now":…}
// before any timing: the very token timed here, the raw 32-byte Ed25519 public key in
// base64url (a JWK's "x"), the issuer and the bench clock's time in Unix seconds (a
// ManualClock, so the token's iat/exp are not relative to real time). bench/peers verify
// that same token with PyJWT and jose.
#include <benchmark/benchmark.h>
#include <sodium.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "iam/clock.h"
#include "iam/jwt.h"

namespace {

constexpr const char* verify_library = "BM_VerifyLibrary";
constexpr const char* verify_raw = "BM_VerifyRawSodium";

struct Setup {
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();
  iam::KeySet keys{iam::JwtConfig{}, clock};
  iam::PublicKey public_key{};
  std::string token;
  std::string signing_input;
  std::vector<std::uint8_t> signature;

  Setup() {
    std::vector<std::uint8_t> seed(iam::ed25519_seed_bytes);
    for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i * 7 + 1);
    auto key = iam::SigningKey::from_seed("bench-key-0001", seed, clock->now());
    public_key = key.value().public_key;
    std::vector<iam::SigningKey> set;
    set.push_back(std::move(key).value());
    if (!keys.load(std::move(set))) std::abort();
    token = keys.sign("user-0123456789", "workspace-default").value();
    const auto dot = token.rfind('.');
    signing_input = token.substr(0, dot);
    signature = iam::crypto::base64url_decode(std::string_view(token).substr(dot + 1)).value();
    // Both sides must accept the token, or the comparison is meaningless.
    if (!keys.verify(token) ||
        crypto_sign_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                                    signing_input.size(), public_key.data()) != 0)
      std::abort();
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_VerifyLibrary(benchmark::State& state) {
  const Setup& s = setup();
  for (auto _ : state) {
    auto claims = s.keys.verify(s.token);
    if (!claims) state.SkipWithError("verify rejected the token");
    benchmark::DoNotOptimize(claims);
  }
}
BENCHMARK(BM_VerifyLibrary);

void BM_VerifyRawSodium(benchmark::State& state) {
  const Setup& s = setup();
  const auto* message = reinterpret_cast<const unsigned char*>(s.signing_input.data());
  for (auto _ : state) {
    const int rc = crypto_sign_verify_detached(s.signature.data(), message, s.signing_input.size(), s.public_key.data());
    if (rc != 0) state.SkipWithError("libsodium rejected the signature");
    benchmark::DoNotOptimize(rc);
  }
}
BENCHMARK(BM_VerifyRawSodium);

void BM_Sign(benchmark::State& state) {
  const Setup& s = setup();
  for (auto _ : state) {
    auto token = s.keys.sign("user-0123456789", "workspace-default");
    if (!token) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_Sign);

// The console reporter, also remembering CPU time per iteration of each benchmark: the
// median aggregate when there is one, otherwise the plain measurement.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  explicit RecordingReporter(OutputOptions options) : ConsoleReporter(options) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      const std::string name = run.run_name.function_name;
      // Also in seconds (the adjusted time is in the run's unit) for per_second_of.
      const double seconds = run.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") {
          median_[name] = run.GetAdjustedCPUTime();
          median_seconds_[name] = seconds;
        }
      } else {
        single_[name] = run.GetAdjustedCPUTime();
        single_seconds_[name] = seconds;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // CPU time per iteration in the reporter's time unit; negative when not measured.
  double time_of(const std::string& name) const {
    if (const auto it = median_.find(name); it != median_.end()) return it->second;
    if (const auto it = single_.find(name); it != single_.end()) return it->second;
    return -1;
  }

  // Iterations per CPU second, from the same measurement as time_of; negative when not measured.
  double per_second_of(const std::string& name) const {
    if (const auto it = median_seconds_.find(name); it != median_seconds_.end() && it->second > 0) return 1 / it->second;
    if (const auto it = single_seconds_.find(name); it != single_seconds_.end() && it->second > 0) return 1 / it->second;
    return -1;
  }

 private:
  std::map<std::string, double> median_;
  std::map<std::string, double> single_;
  std::map<std::string, double> median_seconds_;
  std::map<std::string, double> single_seconds_;
};

bool write_token(const std::string& path) {
  const Setup& s = setup();
  const nlohmann::json out = {{"token", s.token},
                              {"public_key_b64url", iam::crypto::base64url_encode(s.public_key)},
                              {"issuer", s.keys.config().issuer},
                              {"now", iam::unix_seconds(s.clock->now())}};
  std::ofstream file(path, std::ios::trunc);
  file << out.dump() << "\n";
  return static_cast<bool>(file.flush());
}

}  // namespace

int main(int argc, char** argv) {
  // Defaults first, so that flags given on the command line override them.
  std::string repetitions = "--benchmark_repetitions=10";
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  std::vector<char*> args{argv[0], repetitions.data(), interleave.data()};
  std::string token_out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--token-out=")) {
      token_out = arg.substr(std::string_view("--token-out=").size());
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  setup();  // build the token before any timing
  if (!token_out.empty() && !write_token(token_out)) {
    std::fprintf(stderr, "bench-jwt: cannot write %s\n", token_out.c_str());
    return 1;
  }

  // Colours only on a terminal (a custom reporter does not see --benchmark_color).
  RecordingReporter reporter(isatty(STDOUT_FILENO) != 0 ? benchmark::ConsoleReporter::OO_Defaults
                                                        : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const double library = reporter.time_of(verify_library);
  const double raw = reporter.time_of(verify_raw);
  if (library > 0 && raw > 0) {
    std::printf("jwt_verify_ratio %.3f\n", library / raw);
    std::printf("RESULT jwt_verify_ratio %.3f\n", library / raw);
  } else {
    std::printf("jwt_verify_ratio unavailable (run both %s and %s)\n", verify_library, verify_raw);
  }
  if (reporter.per_second_of(verify_library) > 0) {
    std::printf("RESULT jwt_verify_per_second %.0f\n", reporter.per_second_of(verify_library));
  }
  return 0;
}
