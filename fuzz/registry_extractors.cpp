// The operation registry and its resource / parameters extractors, as the Enforcer applies
// them (src/gateway/enforcer.cpp, operation_registry.cpp). The first byte chooses:
//   0x00-0x3f  OperationRegistry::from_json(rest). Property: a registry that loads finds
//              every operation it lists under its own name, with the same spec.
//   otherwise  an Enforcer request: route = byte % 6, identity admin or reader (bit 6),
//              then name, flow, workspace and body separated by '\n'.
//              Properties: the answer body is one JSON object; a forwarded body carries
//              actor = the identity's handle, and for workspace/flow-level operations the
//              authorised, non-empty workspace (a PUBLIC operation: no identity, no actor);
//              a refusal has an error status; a body nested deeper than the depth bound
//              is 400 invalid json (issue 14).
// Both: a registry document nested too deeply does not load, and the bounded parser's own
// properties hold on the text (fuzz_common.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "iam/operation_registry.h"
#include "iam_fixture.h"

namespace {
std::string take_field(std::string_view& input) {
  const auto newline = input.find('\n');
  std::string field(input.substr(0, newline));
  input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);
  return field;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view rest = fuzz::as_view(data + 1, size - 1);
  if (data[0] < 0x40) {
    fuzz::check_bounded_parser(rest);
    auto registry = iam::OperationRegistry::from_json(rest);
    if (const auto depth = fuzz::json_depth(rest); depth && *depth > iam::default_max_json_depth)
      fuzz::check(!registry, "a registry nested too deeply does not load");
    if (registry) {
      for (const auto* spec : registry->operations()) {
        const auto* found = registry->find(spec->name);
        fuzz::check(found != nullptr && *found == *spec, "a loaded operation is found under its name");
      }
      (void)registry->find(rest);
      (void)registry->has_kind(rest);
    }
    return 0;
  }

  auto& f = fuzz::iam_fixture();
  iam::Request request;
  request.route = static_cast<iam::Route>(data[0] % 6);
  const iam::Identity& identity = (data[0] & 0x40) != 0 ? f.admin : f.reader;
  request.name = take_field(rest);
  request.flow = take_field(rest);
  request.workspace = take_field(rest);
  request.body = std::string(rest);
  fuzz::check_bounded_parser(request.body);
  const iam::Outcome out = f.enforcer->enforce_as(identity, request);
  fuzz::check(fuzz::is_json_object(out.body), "the answer body is one JSON object");
  if (const auto depth = fuzz::json_depth(request.body); depth && *depth > f.enforcer->max_json_depth())
    fuzz::check(out.refusal == iam::Refusal::unknown_kind || (out.status == 400 && out.body == iam::masked::invalid_json),
                "a body nested too deeply is 400 invalid json (unless its route is unknown)");
  if (out.forward()) {
    const auto body = nlohmann::json::parse(out.body);
    const auto* spec = f.enforcer->registry().find(out.operation);
    fuzz::check(spec != nullptr, "a forwarded operation is registered");
    if (spec->is_public()) {
      fuzz::check(!out.identity && !body.contains("actor"), "a PUBLIC operation acts as nobody");
      return 0;
    }
    fuzz::check(out.identity && out.identity->handle == identity.handle, "forwarded as the caller");
    fuzz::check(body.contains("actor") && body["actor"] == identity.handle, "actor is the caller");
    if (spec->level != iam::ResourceLevel::system) {
      fuzz::check(!out.workspace.empty(), "a workspace-level operation has a workspace");
      fuzz::check(body.contains("workspace") && body["workspace"] == out.workspace, "the body names the authorised workspace");
    }
    if (spec->level == iam::ResourceLevel::flow) fuzz::check(out.flow == request.flow && !out.flow.empty(), "flow kept");
  } else {
    fuzz::check(out.status >= 400, "a refusal has an error status");
  }
  return 0;
}
