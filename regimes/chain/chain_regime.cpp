// The chain regime (iam/chain.h): credentials to the first member that recognises them,
// everything about an identity to the first member that issued it.
#include "iam/chain.h"

#include <string>
#include <utility>
#include <vector>

namespace iam {
namespace {

class ChainRegime final : public Regime, public Administration {
 public:
  explicit ChainRegime(std::vector<std::shared_ptr<Regime>> members) : members_(std::move(members)) {
    for (const auto& member : members_) {
      if (!name_.empty()) name_ += '+';
      name_ += member->name();
    }
  }

  // The members' names joined by '+', in chain order ("oidc+roles").
  std::string_view name() const noexcept override { return name_; }

  Result<Identity> authenticate(std::string_view credential) override {
    for (const auto& member : members_)
      if (member->recognises(credential)) return member->authenticate(credential);
    return auth_failure();
  }
  Result<Identity> authenticate_anonymous() override { return members_.front()->authenticate_anonymous(); }

  bool recognises(std::string_view credential) const override {
    for (const auto& member : members_)
      if (member->recognises(credential)) return true;
    return false;
  }
  bool issued(const Identity& identity) const override { return issuer_of(identity) != nullptr; }

  Decision authorise(const Identity& identity, std::string_view capability, const Resource& resource,
                     const Parameters& parameters) override {
    Regime* member = issuer_of(identity);
    if (!member) return Decision::denied(std::chrono::seconds(0));
    return member->authorise(identity, capability, resource, parameters);
  }
  std::vector<Decision> authorise_many(const Identity& identity, std::span<const AuthorisationCheck> checks) override {
    Regime* member = issuer_of(identity);
    if (!member) return std::vector<Decision>(checks.size(), Decision::denied(std::chrono::seconds(0)));
    return member->authorise_many(identity, checks);
  }

  void add_invalidation_listener(InvalidationListener listener) override {
    for (const auto& member : members_) member->add_invalidation_listener(listener);
  }

  Administration* administration() noexcept override {
    for (const auto& member : members_)
      if (member->administration()) return this;
    return nullptr;
  }

  // A request about someone (its actor, or from a trusted caller the user it names) goes
  // to the member that issued that identity, and to no other: an identity provider's user
  // never reaches another member's management as one of that member's users. A trusted
  // request about no one goes to the first member with an administration that supports
  // the operation (docs/decisions.md).
  Result<OperationResponse> execute(const OperationRequest& request) override {
    const std::optional<std::string>& about = request.actor ? request.actor : request.user_id;
    if (about) {
      Regime* member = issuer_of(Identity{*about, "", *about, CredentialSource::anonymous, std::nullopt});
      if (!member) return auth_failure();
      Administration* administration = member->administration();
      if (!administration) return unsupported(request);
      return administration->execute(request);
    }
    for (const auto& member : members_) {
      Administration* administration = member->administration();
      if (!administration) continue;
      auto answer = administration->execute(request);
      if (answer.ok() || answer.error().code != ErrorCode::not_supported) return answer;
    }
    return unsupported(request);
  }

 private:
  Regime* issuer_of(const Identity& identity) const {
    for (const auto& member : members_)
      if (member->issued(identity)) return member.get();
    return nullptr;
  }

  static Error unsupported(const OperationRequest& request) {
    return Error{ErrorCode::not_supported, "no regime of the chain supports '" + request.operation + "'"};
  }

  const std::vector<std::shared_ptr<Regime>> members_;
  std::string name_;
};

}  // namespace

Result<std::shared_ptr<Regime>> make_chain_regime(std::vector<std::shared_ptr<Regime>> members) {
  if (members.empty()) return Error{ErrorCode::invalid_argument, "a chain needs at least one regime"};
  for (std::size_t i = 0; i < members.size(); ++i)
    if (!members[i]) return Error{ErrorCode::invalid_argument, "chain member " + std::to_string(i) + " is null"};
  return std::shared_ptr<Regime>(std::make_shared<ChainRegime>(std::move(members)));
}

}  // namespace iam
