// The policy-engine comparison: iam's uncached RolesRegime::authorise on the
// RBAC-with-domains workload that bench/peers/casbin_enforce.mjs gives node-casbin
// (docs/performance.md "The policy-engine workload").
//
// Workload (built here, written with --workload-out=FILE so the peer decides exactly the
// same questions): 30 capabilities; roles reader (the first 10), writer (the first 20),
// admin (all 30, every workspace); 100 workspaces; 10 000 users, user i holding role
// i % 3 in workspace i % 100; 4 096 questions alternating allow and deny (a deny asks a
// reader or writer either for a granted capability in another workspace or for one its
// role lacks at home). Every answer is checked against the expected one, in the sanity
// pass and in the timed loop.
//   BM_AuthoriseDomains10k  RolesRegime::authorise on memory storage, one question per
//                           iteration, cycling through the list
// After the run: RESULT authorise_domains_ns_10k (CPU ns per decision).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

constexpr int capability_count = 30;
constexpr int workspace_count = 100;
constexpr int user_count = 10000;
constexpr std::size_t question_count = 4096;  // a power of two: the loop index is a mask
const char* const role_names[] = {"reader", "writer", "admin"};
constexpr int role_capabilities[] = {10, 20, 30};

std::string capability_name(int i) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "capability-%02d", i);
  return buffer;
}
std::string workspace_name(int i) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "workspace-%03d", i);
  return buffer;
}

struct Question {
  int user;
  std::string workspace;
  std::string capability;
  bool allow;
};

struct Setup {
  std::shared_ptr<iam::Repository> repository = iam::make_memory_repository();
  std::shared_ptr<iam::RolesRegime> regime;
  std::vector<iam::Identity> identities;  // by user index
  std::vector<int> roles;                 // role index by user index
  std::vector<Question> questions;
  std::vector<iam::Resource> resources;  // questions[i].workspace as a Resource
  iam::Parameters no_parameters;

  Setup() {
    iam::RoleTable table;
    for (int r = 0; r < 3; ++r) {
      iam::RoleDefinition role;
      for (int c = 0; c < role_capabilities[r]; ++c) role.capabilities.insert(capability_name(c));
      role.all_workspaces = r == 2;
      table[role_names[r]] = role;
    }
    iam::RolesConfig config;
    config.repository = repository;
    config.bootstrap_mode = iam::BootstrapMode::bootstrap;
    config.read_environment = false;
    config.logger = iam::null_logger();
    config.roles = table;
    auto made = iam::make_roles_regime(std::move(config));
    if (!made) bench::fail("make_roles_regime: " + made.error().message);
    regime = std::move(*made);
    for (int w = 0; w < workspace_count; ++w) {
      iam::WorkspaceInput workspace;
      workspace.id = workspace_name(w);
      workspace.name = workspace_name(w);
      if (auto created = regime->create_workspace(std::nullopt, workspace); !created)
        bench::fail("create_workspace: " + created.error().message);
    }
    // Users straight into the repository, without passwords (create_user requires one,
    // and PBKDF2 for 10 000 users would take half an hour); authorise reads only the id,
    // the roles, the home workspace and whether the user is enabled.
    std::vector<iam::Mutation> inserts;
    for (int u = 0; u < user_count; ++u) {
      iam::StoredUser user;
      user.record.id = "user-" + std::to_string(u);
      user.record.username = user.record.id;
      user.record.name = "Bench user " + std::to_string(u);
      user.record.workspace = workspace_name(u % workspace_count);
      user.record.roles = {role_names[u % 3]};
      user.password_hash = "none: no login";
      iam::Identity identity;
      identity.handle = user.record.id;
      identity.principal_id = user.record.id;
      identity.workspace = user.record.workspace;
      identity.source = iam::CredentialSource::api_key;
      identities.push_back(std::move(identity));
      roles.push_back(u % 3);
      inserts.emplace_back(iam::mutation::InsertUser{std::move(user)});
    }
    if (auto applied = repository->apply(inserts); !applied) bench::fail("insert users: " + applied.error().message);
    bench::Rng rng(21);
    for (std::size_t q = 0; q < question_count; ++q) {
      Question question{};
      if (q % 2 == 0) {  // allow: a granted capability at home (an admin: anywhere)
        question.user = static_cast<int>(rng.below(user_count));
        const int role = roles[question.user];
        question.capability = capability_name(static_cast<int>(rng.below(role_capabilities[role])));
        const int home = question.user % workspace_count;
        question.workspace = workspace_name(role == 2 ? static_cast<int>(rng.below(workspace_count)) : home);
        question.allow = true;
      } else {  // deny: a reader or writer out of its workspace, or past its role at home
        do question.user = static_cast<int>(rng.below(user_count));
        while (roles[question.user] == 2);
        const int role = roles[question.user];
        const int home = question.user % workspace_count;
        if (rng.below(2) == 0) {
          question.capability = capability_name(static_cast<int>(rng.below(role_capabilities[role])));
          question.workspace = workspace_name((home + 1 + static_cast<int>(rng.below(workspace_count - 1))) %
                                              workspace_count);
        } else {
          const int lacking = capability_count - role_capabilities[role];
          question.capability = capability_name(role_capabilities[role] + static_cast<int>(rng.below(lacking)));
          question.workspace = workspace_name(home);
        }
        question.allow = false;
      }
      resources.push_back(iam::Resource::workspace(question.workspace));
      questions.push_back(std::move(question));
    }
    for (std::size_t q = 0; q < question_count; ++q)
      if (decide(q) != questions[q].allow) bench::fail("iam answered question " + std::to_string(q) + " wrongly");
  }

  bool decide(std::size_t q) {
    return regime->authorise(identities[questions[q].user], questions[q].capability, resources[q], no_parameters)
        .allow;
  }

  // The workload as the casbin peer reads it: subjects are iam's user ids.
  bool write(const std::string& path) const {
    nlohmann::json out;
    out["roles"] = nlohmann::json::object();
    for (int r = 0; r < 3; ++r) {
      auto& list = out["roles"][role_names[r]] = nlohmann::json::array();
      for (int c = 0; c < role_capabilities[r]; ++c) list.push_back(capability_name(c));
    }
    out["every_workspace_roles"] = {"admin"};
    auto& users = out["users"] = nlohmann::json::array();
    for (int u = 0; u < user_count; ++u)
      users.push_back({identities[u].handle, role_names[roles[u]], workspace_name(u % workspace_count)});
    auto& list = out["questions"] = nlohmann::json::array();
    for (const auto& q : questions) list.push_back({identities[q.user].handle, q.workspace, q.capability, q.allow});
    std::ofstream file(path);
    file << out.dump() << '\n';
    return static_cast<bool>(file);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_AuthoriseDomains10k(benchmark::State& state) {
  Setup& s = setup();
  std::size_t q = 0;
  for (auto _ : state) {
    if (s.decide(q) != s.questions[q].allow) {
      state.SkipWithError("a wrong answer");
      break;
    }
    q = (q + 1) & (question_count - 1);
  }
}
BENCHMARK(BM_AuthoriseDomains10k);

}  // namespace

int main(int argc, char** argv) {
  const std::string workload_out = bench::take_flag(argc, argv, "workload-out", "");
  if (!bench::initialise(argc, argv, 5)) return 1;
  setup();  // built (and checked) before any timing
  if (!workload_out.empty() && !setup().write(workload_out)) {
    std::fprintf(stderr, "bench-policy: cannot write %s\n", workload_out.c_str());
    return 1;
  }
  bench::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const double seconds = reporter.seconds_of("BM_AuthoriseDomains10k");
  if (seconds <= 0) return 1;
  bench::result("authorise_domains_ns_10k", seconds * 1e9);
  return 0;
}
