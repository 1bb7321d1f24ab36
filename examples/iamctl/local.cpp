#include "local.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "core/bounded_json.h"  // the library's bounded parser (iamctl links the static library)
#include "iam/noauth.h"
#include "iam/store.h"

namespace iamctl {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLineBytes = 1 << 20;

// The dispatcher's and the key set's own output, read back through the bounded parser
// like every JSON text.
json parse_answer(const std::string& text) {
  auto parsed = iam::parse_json_bounded(text, iam::answer_json_limits);
  if (!parsed) throw std::runtime_error("unreadable answer: " + parsed.error().message);
  return std::move(*parsed);
}

}  // namespace

LocalBackend::LocalBackend(StoreOptions& o, bool admin_default) {
  auto fallback = admin_default ? std::optional(iam::BootstrapMode::bootstrap) : std::nullopt;
  auto deployment = examples::open_deployment(o, fallback);
  if (!deployment) {
    if (deployment.error().code == iam::ErrorCode::internal_error) throw std::runtime_error(deployment.error().message);
    throw UsageError{deployment.error().message};
  }
  if (!deployment->created_key_file.empty())
    std::cerr << "iamctl: created the key-encryption key file " << deployment->created_key_file
              << " (mode 0600): the signing keys are sealed with it; back it up apart from the database\n";
  roles_ = deployment->roles;
  dispatcher_ = std::make_unique<iam::JsonDispatcher>(std::move(deployment->regime));
}

bool LocalBackend::act_as(std::string_view token) {
  auto identity = dispatcher_->regime()->authenticate(token);
  if (!identity) return false;
  actor_ = identity->handle;
  return true;
}

Reply LocalBackend::call(const json& request) {
  json sent = request;
  if (actor_) sent["actor"] = *actor_;
  std::string text = sent.dump();
  Reply reply;
  reply.body = parse_answer(dispatcher_->handle(text));
  iam::wipe(text);  // it may have held a password
  if (reply.body.contains("error")) {
    const json& error = reply.body["error"];
    const bool internal = !error.is_object() || error.value("type", "internal-error") == "internal-error";
    reply.outcome = internal ? Outcome::internal : Outcome::refused;
  }
  return reply;
}

Reply LocalBackend::jwks() {
  Reply reply;
  if (roles_) {
    reply.body = parse_answer(roles_->jwks());
  } else {
    reply.outcome = Outcome::refused;
    reply.body = {{"error", {{"type", "not-supported"}, {"message", "this regime has no signing keys"}}}};
  }
  return reply;
}

int serve_stdio(StoreOptions& options) {
  const LocalBackend backend(options, /*admin_default=*/false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not requests
    std::string response = line.size() > kMaxLineBytes
                               ? R"({"error":{"type":"invalid-argument","message":"request line too long"}})"
                               : backend.dispatcher().handle(line);
    iam::wipe(line);  // it may have held a password
    response += '\n';
    std::cout << response << std::flush;
  }
  return 0;
}

}  // namespace iamctl
