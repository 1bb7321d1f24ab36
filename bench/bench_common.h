// Shared helpers of the bench/ programs: a console reporter that keeps each benchmark's
// CPU time per iteration, default flags, the `RESULT <key> <value>` lines a script
// parses, deterministic API key plaintexts and a small PRNG.
#pragma once

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "iam/forwarding_repository.h"
#include "iam/log.h"
#include "iam/memory_store.h"
#include "iam/repository.h"
#include "iam/roles.h"

namespace bench {

// Prints why and aborts: a benchmark whose operation failed must not report a figure.
[[noreturn]] inline void fail(std::string_view why) {
  std::fprintf(stderr, "benchmark setup or sanity check failed: %.*s\n", static_cast<int>(why.size()), why.data());
  std::fflush(stderr);
  std::abort();
}

inline void check(bool ok, std::string_view why) {
  if (!ok) fail(why);
}

// One figure for the results script. The value is always a plain decimal number.
inline void result(std::string_view key, double value) {
  std::printf("RESULT %.*s %.6g\n", static_cast<int>(key.size()), key.data(), value);
  std::fflush(stdout);
}

// The plaintext of benchmark API key `i`: "tg_bench" and 27 zero-padded decimal digits,
// 35 characters like a real key ("tg_" + 32). The store benchmark builds the same text in
// SQL (PostgreSQL: 'tg_bench' || lpad(i::text, 27, '0')), so keep the two in step.
inline std::string api_key_text(std::uint64_t i) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "tg_bench%027llu", static_cast<unsigned long long>(i));
  return buffer;
}
inline constexpr std::size_t api_key_text_length = 35;

// splitmix64: a few cycles per number, so picking a random key costs next to nothing.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) for n < 2^32 by multiply-shift (no division in the timed loop).
  std::uint64_t below(std::uint64_t n) noexcept { return ((next() >> 32) * n) >> 32; }

 private:
  std::uint64_t state_;
};

// The console reporter, remembering the CPU time per iteration of every run: the median
// aggregate when repetitions were run, the single measurement otherwise. Keyed by the
// run's full name (with its argument, e.g. "BM_X/1000").
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  RecordingReporter()
      : ConsoleReporter(isatty(STDOUT_FILENO) != 0 ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") {
          medians_[run.run_name.function_name + args_of(run)] = seconds(run);
          medians_[run.run_name.function_name + args_of(run) + " wall"] = wall_seconds(run);
        }
      } else {
        singles_[run.run_name.function_name + args_of(run)] = seconds(run);
        singles_[run.run_name.function_name + args_of(run) + " wall"] = wall_seconds(run);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // CPU seconds per iteration of `name` ("BM_X", "BM_X/1000" or "BM_X/threads:2");
  // negative when not run. wall_seconds_of: the same in wall-clock time.
  double wall_seconds_of(const std::string& name) const { return seconds_of(name + " wall"); }
  double seconds_of(const std::string& name) const {
    if (auto it = medians_.find(name); it != medians_.end()) return it->second;
    if (auto it = singles_.find(name); it != singles_.end()) return it->second;
    return -1;
  }

 private:
  static std::string args_of(const Run& run) {
    std::string args = run.run_name.args.empty() ? std::string() : "/" + run.run_name.args;
    if (!run.run_name.threads.empty()) args += "/" + run.run_name.threads;  // "threads:2"
    return args;
  }
  static double seconds(const Run& run) {
    // GetAdjustedCPUTime is in the run's time unit; convert to seconds.
    return run.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
  }
  static double wall_seconds(const Run& run) {
    return run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
  }

  std::map<std::string, double> medians_;
  std::map<std::string, double> singles_;
};

// Removes `--name=value` from argv (so Google Benchmark does not reject it) and returns
// the value, or `fallback` when absent.
inline std::string take_flag(int& argc, char** argv, std::string_view name, std::string fallback) {
  const std::string prefix = "--" + std::string(name) + "=";
  std::string value = std::move(fallback);
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with(prefix)) {
      value = std::string(arg.substr(prefix.size()));
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return value;
}

// Initialises Google Benchmark with this suite's defaults (interleaved repetitions, so a
// busy machine disturbs every benchmark alike) placed before the command line's own flags,
// which therefore override them. Returns false on an unknown flag.
inline bool initialise(int argc, char** argv, int repetitions) {
  static std::string reps;
  static std::string interleave = "--benchmark_enable_random_interleaving=true";
  reps = "--benchmark_repetitions=" + std::to_string(repetitions);
  static std::vector<char*> args;
  args = {argv[0], reps.data(), interleave.data()};
  args.insert(args.end(), argv + 1, argv + argc);
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  return !benchmark::ReportUnrecognizedArguments(count, args.data());
}

// Forwards to a repository and counts the lookups a regime makes when a gateway cache
// misses (key by hash for authenticate, user for authorise), so a benchmark can prove
// that its timed loop was served by the cache alone.
class CountingRepository final : public iam::ForwardingRepository {
 public:
  using ForwardingRepository::ForwardingRepository;
  std::uint64_t key_lookups() const { return key_lookups_.load(std::memory_order_relaxed); }
  std::uint64_t user_lookups() const { return user_lookups_.load(std::memory_order_relaxed); }

  iam::Result<iam::StoredUser> find_user(std::string_view id) override {
    user_lookups_.fetch_add(1, std::memory_order_relaxed);
    return inner_->find_user(id);
  }
  iam::Status read_user_authorisation(std::string_view id,
                                      iam::FunctionRef<void(const iam::UserAuthorisationView&)> read) override {
    user_lookups_.fetch_add(1, std::memory_order_relaxed);
    return inner_->read_user_authorisation(id, read);
  }
  iam::Result<iam::StoredApiKey> find_api_key_by_hash(std::string_view key_hash) override {
    key_lookups_.fetch_add(1, std::memory_order_relaxed);
    return inner_->find_api_key_by_hash(key_hash);
  }

 private:
  std::atomic<std::uint64_t> key_lookups_{0};
  std::atomic<std::uint64_t> user_lookups_{0};
};

// A bootstrapped roles regime on `repository` (memory storage when null) with the
// production clock, randomness and PBKDF2 cost, and one user of `roles` in the default
// workspace. Decisions may be cached for `decision_ttl` (long, so that nothing the
// benchmarks cached expires during a run).
struct RolesSetup {
  std::shared_ptr<iam::Repository> repository;
  std::shared_ptr<iam::RolesRegime> regime;
  std::string username = "bench-user";
  std::string password = "bench-password-0123";
  std::string user_id;
  std::string workspace = "default";
};

inline RolesSetup make_roles_setup(std::vector<std::string> roles,
                                   std::chrono::seconds decision_ttl = std::chrono::hours(24),
                                   std::shared_ptr<iam::Repository> repository = nullptr) {
  RolesSetup s;
  s.repository = repository ? std::move(repository) : iam::make_memory_repository();
  iam::RolesConfig config;
  config.repository = s.repository;
  config.bootstrap_mode = iam::BootstrapMode::bootstrap;
  config.read_environment = false;
  config.decision_ttl = decision_ttl;
  config.logger = iam::null_logger();
  auto regime = iam::make_roles_regime(std::move(config));
  if (!regime) fail("make_roles_regime: " + regime.error().message);
  s.regime = std::move(*regime);
  auto admin = s.regime->bootstrap();  // the default workspace and a signing key
  if (!admin) fail("bootstrap: " + admin.error().message);
  iam::UserInput user;
  user.username = s.username;
  user.password = iam::SecretString(std::string_view(s.password));
  user.roles = std::move(roles);
  auto created = s.regime->create_user(std::nullopt, s.workspace, user);
  if (!created) fail("create_user: " + created.error().message);
  s.user_id = created->id;
  return s;
}

}  // namespace bench
