// The operation registry (gateway.md "Authorising a request: the operation registry").
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>
#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "iam/operation_registry.h"
#include "iam/operation_table.h"

using nlohmann::json;
using iam::OperationRegistry;
using iam::OperationSpec;
using iam::ParametersExtractor;
using iam::ResourceExtractor;
using iam::ResourceLevel;

namespace {

// TrustGraph's registry as the specification gives it, carried in tests/fixtures (the
// library derives its own from the operation table and src/gateway/service_operations.json).
// Missing is a failure.
std::string reference_operations_json() {
  const char* fixtures = std::getenv("IAM_FIXTURES_DIR");
  REQUIRE_MESSAGE(fixtures != nullptr, "IAM_FIXTURES_DIR is not set (tests/meson.build sets it)");
  const auto path = std::filesystem::path(fixtures) / "trustgraph_operations.json";
  std::ifstream in(path, std::ios::binary);
  const std::string why = "cannot read " + path.string();
  REQUIRE_MESSAGE(in.good(), why);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

OperationRegistry defaults() {
  auto registry = OperationRegistry::with_defaults();
  REQUIRE(registry.ok());
  return std::move(*registry);
}

json default_document() {
  const auto text = OperationRegistry::default_operations_json();
  REQUIRE(text.ok());
  return json::parse(*text);
}

OperationSpec spec(std::string name, std::string capability, ResourceLevel level = ResourceLevel::system) {
  OperationSpec s;
  s.name = std::move(name);
  s.capability = std::move(capability);
  s.level = level;
  s.resource = level == ResourceLevel::system      ? ResourceExtractor::empty
               : level == ResourceLevel::workspace ? ResourceExtractor::workspace_from_body
                                                   : ResourceExtractor::flow_from_address;
  return s;
}

std::string entry(std::string_view fields) { return R"({"operations":[)" + std::string(fields) + "]}"; }

}  // namespace

// The routes gateway.md lists that TrustGraph gates outside its registry (issue 15 item 6).
const std::vector<json> outside_registry_routes = {
    {{"name", "http:import-core"}, {"capability", "users:admin"}, {"level", "system"}, {"resource", "empty"}, {"parameters", "none"}},
    {{"name", "http:export-core"}, {"capability", "users:admin"}, {"level", "system"}, {"resource", "empty"}, {"parameters", "none"}},
    {{"name", "http:document-stream"}, {"capability", "documents:read"}, {"level", "workspace"}, {"resource", "workspace_from_body"}, {"parameters", "none"}},
    {{"name", "http:metrics"}, {"capability", "metrics:read"}, {"level", "system"}, {"resource", "empty"}, {"parameters", "none"}},
    {{"name", "http:i18n-packs"}, {"capability", "PUBLIC"}, {"level", "system"}, {"resource", "empty"}, {"parameters", "none"}},
};

// Where we deliberately differ from the specification's (TrustGraph's) registry, as
// docs/trustgraph-differences.md lists: the operations reaching every workspace carry
// "all_workspaces": true. Nothing else may differ.
const std::set<std::string> all_workspace_operations{"config:getvalues-all-ws", "list-workspaces", "rotate-signing-key",
                                                     "list-signing-keys"};

// Our additions to the specification's operations (docs/trustgraph-differences.md), as
// the specification would list them (all_workspaces, being a difference, is checked above).
const json extension_operations = json::array({
    {{"name", "list-signing-keys"}, {"capability", "iam:admin"}, {"level", "system"}, {"resource", "empty"}, {"parameters", "none"}},
});

TEST_CASE("the default registry is the specification's operations plus the outside-registry routes, but for the documented differences") {
  const json spec = json::parse(reference_operations_json());
  REQUIRE(spec["operations"].size() == 111);
  // By name: the defaults are derived (table rows and service file), in name order.
  std::map<std::string, json> ours;
  std::set<std::string> marked;
  const json document = default_document();
  for (json op : document["operations"]) {
    const std::string name = op["name"];
    if (op.contains("all_workspaces")) {
      CHECK(op["all_workspaces"] == true);
      marked.insert(name);
      op.erase("all_workspaces");
    }
    CHECK_MESSAGE(ours.emplace(name, std::move(op)).second, (name + " is listed twice"));
  }
  CHECK(marked == all_workspace_operations);
  std::map<std::string, json> expected;
  for (const auto& op : spec["operations"])
    CHECK_MESSAGE(expected.emplace(op["name"].get<std::string>(), op).second, op["name"]);
  // A later spec that lists them itself needs no extras added.
  for (const auto& route : outside_registry_routes) expected.emplace(route["name"].get<std::string>(), route);
  for (const auto& extension : extension_operations) {
    CHECK_MESSAGE(!expected.contains(extension["name"].get<std::string>()), "the specification now lists an extension");
    expected.emplace(extension["name"].get<std::string>(), extension);
  }
  // Named copies, not structured bindings: clang 14 (the thread-safety build) cannot capture
  // a binding in doctest's message lambdas.
  for (const auto& entry : expected) {
    const std::string& name = entry.first;
    CAPTURE(name);
    const auto found = ours.find(name);
    REQUIRE(found != ours.end());
    CHECK(found->second == entry.second);
  }
  for (const auto& entry : ours) {
    const std::string& name = entry.first;
    CHECK_MESSAGE(expected.contains(name), (name + " is not the specification's"));
  }
}

TEST_CASE("all 117 default operations load with their capability, level and extractors") {
  const auto registry = defaults();
  CHECK(registry.size() == 117);

  const json document = default_document();
  REQUIRE(document["operations"].size() == 117);
  for (const auto& op : document["operations"]) {
    const std::string name = op["name"];
    CAPTURE(name);
    const OperationSpec* found = registry.find(name);
    REQUIRE(found != nullptr);
    CHECK(found->name == name);
    CHECK(found->capability == op["capability"].get<std::string>());
    CHECK(iam::resource_level_name(found->level) == op["level"].get<std::string>());
    CHECK(iam::resource_extractor_name(found->resource) == op["resource"].get<std::string>());
    CHECK(iam::parameters_extractor_name(found->parameters) == op["parameters"].get<std::string>());
    CHECK(found->all_workspaces == op.value("all_workspaces", false));
    CHECK(found->all_workspaces == (all_workspace_operations.count(name) == 1));
  }

  // Spot checks against gateway.md and contract.md.
  CHECK(registry.find("create-user")->capability == "users:admin");
  CHECK(registry.find("create-user")->parameters == ParametersExtractor::workspace_parameter);
  CHECK(registry.find("login")->is_public());
  CHECK(registry.find("get-signing-key-public")->is_public());
  CHECK(registry.find("whoami")->is_authenticated());
  CHECK(registry.find("config:put")->capability == "config:write");
  CHECK(registry.find("config:put")->level == ResourceLevel::workspace);
  CHECK(registry.find("flow-service:agent")->level == ResourceLevel::flow);
  CHECK(registry.find("flow-import:triples")->capability == "triples:write");
  CHECK(registry.find("resolve-effective-permissions")->capability == "iam:admin");

  std::map<ResourceLevel, int> by_level;
  int groups = 0;
  for (const auto* op : registry.operations()) {
    ++by_level[op->level];
    if (op->capability == "iam:admin" && op->name != "rotate-signing-key" && op->name != "list-signing-keys") ++groups;
  }
  CHECK(by_level[ResourceLevel::system] == 44);
  CHECK(by_level[ResourceLevel::workspace] == 46);
  CHECK(by_level[ResourceLevel::flow] == 27);
  CHECK(groups == 15);  // the group/grant operations, for enterprise regimes
}

TEST_CASE("the registry does not know operations outside it") {
  const auto registry = defaults();
  CHECK(registry.find("") == nullptr);
  CHECK(registry.find("no-such-op") == nullptr);
  CHECK(registry.find("config:no-such-op") == nullptr);
  CHECK(registry.find("authorise") == nullptr);        // the dispatcher's, never a gateway's
  CHECK(registry.find("resolve-api-key") == nullptr);  // likewise
  CHECK(registry.find("CREATE-USER") == nullptr);      // names are exact
}

TEST_CASE("flow-service:thru/<anything> is AUTHENTICATED flow-level passthrough") {
  const auto registry = defaults();
  for (std::string name : {"flow-service:thru/x", "flow-service:thru/a/b/c", "flow-service:thru/v1/chat?q=1"}) {
    CAPTURE(name);
    const OperationSpec* found = registry.find(name);
    REQUIRE(found != nullptr);
    CHECK(found->is_authenticated());
    CHECK(found->level == ResourceLevel::flow);
    CHECK(found->resource == ResourceExtractor::flow_from_address);
    CHECK(found->parameters == ParametersExtractor::none);
  }
  CHECK(registry.find("flow-service:thru/") == nullptr);
  CHECK(registry.find("flow-service:thru") == nullptr);
  CHECK(registry.find("flow-service:thrux") == nullptr);
  CHECK(registry.find("flow-import:thru/x") == nullptr);
}

TEST_CASE("kinds are the prefixes of registered names") {
  const auto registry = defaults();
  for (std::string kind : {"config", "flow", "librarian", "knowledge", "collection-management", "flow-service",
                           "flow-import", "flow-export"})
    CHECK_MESSAGE(registry.has_kind(kind), kind);
  CHECK_FALSE(registry.has_kind("iam"));
  CHECK_FALSE(registry.has_kind("nope"));
  CHECK_FALSE(registry.has_kind(""));
}

TEST_CASE("an application adds its own operations") {
  auto extended = OperationRegistry::with_defaults(
      {spec("helpdesk:reset", "users:write"), spec("reports:get", "metrics:read", ResourceLevel::workspace)});
  REQUIRE(extended.ok());
  CHECK(extended->size() == 119);
  CHECK(extended->find("helpdesk:reset")->capability == "users:write");
  CHECK(extended->find("reports:get")->level == ResourceLevel::workspace);
  CHECK(extended->has_kind("reports"));

  // An explicit thru registration wins over the passthrough rule.
  auto thru = OperationRegistry::create({spec("flow-service:thru/admin", "iam:admin", ResourceLevel::flow)});
  REQUIRE(thru.ok());
  CHECK(thru->find("flow-service:thru/admin")->capability == "iam:admin");
  CHECK(thru->find("flow-service:thru/other")->is_authenticated());
}

TEST_CASE("construction fails on a duplicate name or a missing capability: no permissive default") {
  SUBCASE("a name twice") {
    auto r = OperationRegistry::create({spec("a", "users:read"), spec("a", "users:admin")});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == iam::ErrorCode::invalid_argument);
  }
  SUBCASE("a default name again") {
    auto r = OperationRegistry::with_defaults({spec("create-user", "PUBLIC")});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == iam::ErrorCode::invalid_argument);
  }
  SUBCASE("an empty capability") {
    auto r = OperationRegistry::create({spec("a", "")});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == iam::ErrorCode::invalid_argument);
  }
  SUBCASE("an empty name") { CHECK_FALSE(OperationRegistry::create({spec("", "users:read")}).ok()); }
  SUBCASE("an extractor that does not match the level") {
    auto s = spec("a", "users:read", ResourceLevel::workspace);
    s.resource = ResourceExtractor::empty;
    CHECK_FALSE(OperationRegistry::create({s}).ok());
  }
  SUBCASE("JSON: a duplicate") {
    const auto one = R"({"name":"a","capability":"x","level":"system","resource":"empty","parameters":"none"})";
    CHECK_FALSE(OperationRegistry::from_json(entry(std::string(one) + "," + one)).ok());
  }
  SUBCASE("JSON: no capability") {
    auto r = OperationRegistry::from_json(entry(R"({"name":"a","level":"system","resource":"empty","parameters":"none"})"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("capability") != std::string::npos);
  }
  SUBCASE("JSON: a capability that is not a string") {
    CHECK_FALSE(OperationRegistry::from_json(
                    entry(R"({"name":"a","capability":null,"level":"system","resource":"empty","parameters":"none"})"))
                    .ok());
  }
  SUBCASE("JSON: unknown level, resource or parameters names") {
    CHECK_FALSE(OperationRegistry::from_json(
                    entry(R"({"name":"a","capability":"x","level":"galaxy","resource":"empty","parameters":"none"})"))
                    .ok());
    CHECK_FALSE(OperationRegistry::from_json(
                    entry(R"({"name":"a","capability":"x","level":"system","resource":"all","parameters":"none"})"))
                    .ok());
    CHECK_FALSE(OperationRegistry::from_json(
                    entry(R"({"name":"a","capability":"x","level":"system","resource":"empty","parameters":"some"})"))
                    .ok());
  }
  SUBCASE("JSON: not a registry") {
    CHECK_FALSE(OperationRegistry::from_json("").ok());
    CHECK_FALSE(OperationRegistry::from_json("{").ok());
    CHECK_FALSE(OperationRegistry::from_json("[]").ok());
    CHECK_FALSE(OperationRegistry::from_json("{}").ok());
    CHECK_FALSE(OperationRegistry::from_json(R"({"operations":{}})").ok());
    CHECK_FALSE(OperationRegistry::from_json(R"({"operations":[1]})").ok());
  }
}

TEST_CASE("a JSON registry of its own works") {
  auto r = OperationRegistry::from_json(
      entry(R"({"name":"reports:get","capability":"metrics:read","level":"workspace","resource":"workspace_from_body","parameters":"none"})"));
  REQUIRE(r.ok());
  CHECK(r->size() == 1);
  CHECK(r->find("reports:get")->capability == "metrics:read");
  CHECK(r->find("create-user") == nullptr);
}

TEST_CASE("all_workspaces: an optional boolean, for system- and workspace-level operations only") {
  const auto with = [](std::string_view level, std::string_view resource, std::string_view capability,
                       std::string_view all) {
    return OperationRegistry::from_json(entry(R"({"name":"a:b","capability":")" + std::string(capability) +
                                              R"(","level":")" + std::string(level) + R"(","resource":")" +
                                              std::string(resource) + R"(","parameters":"none","all_workspaces":)" +
                                              std::string(all) + "}"));
  };
  auto ok = with("workspace", "workspace_from_body", "config:read", "true");
  REQUIRE(ok.ok());
  CHECK(ok->find("a:b")->all_workspaces);
  CHECK(with("system", "empty", "AUTHENTICATED", "true").ok());
  CHECK_FALSE(with("workspace", "workspace_from_body", "config:read", "false")->find("a:b")->all_workspaces);
  CHECK_FALSE(with("workspace", "workspace_from_body", "config:read", R"("yes")").ok());
  CHECK_FALSE(with("workspace", "workspace_from_body", "config:read", "1").ok());
  CHECK_FALSE(with("flow", "flow_from_address", "agent", "true").ok());  // a flow lives in one workspace
  CHECK_FALSE(with("system", "empty", "PUBLIC", "true").ok());           // nobody to scope
  auto absent = OperationRegistry::from_json(
      entry(R"({"name":"a","capability":"x","level":"system","resource":"empty","parameters":"none"})"));
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->find("a")->all_workspaces);
}

// ---------------------------------------------------------------- the one operation table

TEST_CASE("the operation table: one row per Operation, unique names, lookups both ways") {
  const auto table = iam::operation_table();
  REQUIRE(table.size() == 44);
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const iam::OperationInfo& row = table[i];
    CAPTURE(row.name);
    CHECK(static_cast<std::size_t>(row.operation) == i);
    CHECK(names.insert(row.name).second);
    CHECK(iam::find_operation(row.name) == row.operation);
    CHECK(iam::operation_name(row.operation) == row.name);
    CHECK(&iam::operation_info(row.operation) == &row);
    // Only authorise and authorise-many are answered from decisions.
    CHECK((row.answer == iam::OperationAnswer::decision) ==
          (row.operation == iam::Operation::authorise || row.operation == iam::Operation::authorise_many));
  }
  CHECK_FALSE(iam::find_operation("").has_value());
  CHECK_FALSE(iam::find_operation("CREATE-USER").has_value());
  CHECK_FALSE(iam::find_operation("config:get").has_value());  // a service operation, not IAM's
  CHECK(std::count_if(table.begin(), table.end(), [](const auto& row) { return row.group; }) == 15);
}

TEST_CASE("the defaults' IAM operations are exactly the table's gateway rules, each once; the service file holds none") {
  const auto registry = defaults();
  // Table → registry: every operation a gateway serves is registered with the table's rule.
  const auto specs = iam::gateway_operation_specs();
  CHECK(specs.size() == 40);
  std::set<std::string> from_table;
  for (const OperationSpec& expected : specs) {
    CAPTURE(expected.name);
    from_table.insert(expected.name);
    const OperationSpec* found = registry.find(expected.name);
    REQUIRE(found != nullptr);
    CHECK(*found == expected);
  }
  // Registry → table: every bare (IAM) name of the defaults has its row; `kind:op` names
  // are the services' and http: routes, which the table does not hold. The defaults join the
  // table's rows and service_operations.json, and a name given twice is refused, so a bare
  // name in the service file would either fail with_defaults or show up here.
  std::set<std::string> bare_in_registry;
  for (const OperationSpec* op : registry.operations())
    if (op->name.find(':') == std::string::npos) bare_in_registry.insert(op->name);
  CHECK(bare_in_registry == from_table);
  CHECK(registry.size() - specs.size() == 77);  // the service file's entries
  // The derived document lists each table row exactly once.
  std::map<std::string, int> listed;
  const json document = default_document();
  for (const auto& op : document["operations"]) ++listed[op["name"].get<std::string>()];
  for (const std::string& name : from_table) CHECK_MESSAGE(listed[name] == 1, name);
  // Only trusted callers send these: never a gateway's.
  for (const iam::OperationInfo& row : iam::operation_table()) {
    CAPTURE(row.name);
    CHECK(row.gateway.has_value() == (registry.find(row.name) != nullptr));
  }
}

// ---------------------------------------------------------------- the registry as JSON

TEST_CASE("to_json writes from_json's format, in name order, and reads back to the same operations") {
  auto all = spec("z:all", "config:read", ResourceLevel::workspace);
  all.all_workspaces = true;
  auto param = spec("m-op", "users:admin");
  param.parameters = ParametersExtractor::workspace_parameter;
  const auto registry = OperationRegistry::create({all, spec("a:flow", "agent", ResourceLevel::flow), param});
  REQUIRE(registry.ok());
  const auto text = registry->to_json();
  REQUIRE(text.ok());
  const json document = json::parse(*text);
  CHECK(document == json::parse(R"({"operations":[
    {"name":"a:flow","capability":"agent","level":"flow","resource":"flow_from_address","parameters":"none"},
    {"name":"m-op","capability":"users:admin","level":"system","resource":"empty","parameters":"workspace_parameter"},
    {"name":"z:all","capability":"config:read","level":"workspace","resource":"workspace_from_body","parameters":"none","all_workspaces":true}]})"));

  const auto back = OperationRegistry::from_json(*text);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 3);
  for (const OperationSpec* op : registry->operations()) {
    CAPTURE(op->name);
    REQUIRE(back->find(op->name) != nullptr);
    CHECK(*back->find(op->name) == *op);
  }

  SUBCASE("the defaults read back whole") {
    const auto defaults_text = OperationRegistry::default_operations_json();
    REQUIRE(defaults_text.ok());
    const auto reread = OperationRegistry::from_json(*defaults_text);
    REQUIRE(reread.ok());
    const auto original = defaults();
    REQUIRE(reread->size() == original.size());
    for (const OperationSpec* op : original.operations()) {
      CAPTURE(op->name);
      REQUIRE(reread->find(op->name) != nullptr);
      CHECK(*reread->find(op->name) == *op);
    }
  }
  SUBCASE("an empty registry is an empty list") {
    const auto empty = OperationRegistry::create({});
    REQUIRE(empty.ok());
    CHECK(empty->to_json().value() == R"({"operations":[]})");
  }
}

TEST_CASE("to_json refuses a name or capability that JSON cannot carry") {
  for (const auto& [name, capability] : {std::pair<std::string, std::string>{"bad\xff", "users:read"},
                                         std::pair<std::string, std::string>{"ok", "users:\xc3"}}) {
    const auto registry = OperationRegistry::create({spec(name, capability)});
    REQUIRE(registry.ok());
    const auto text = registry->to_json();
    REQUIRE_FALSE(text.ok());
    CHECK(text.error().code == iam::ErrorCode::invalid_argument);
    CHECK(text.error().message.find("UTF-8") != std::string::npos);
  }
}
