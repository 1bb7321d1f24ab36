// JWT parsing and verification (src/credentials/jwt.cpp), two ways, chosen by the first byte:
//   even: the rest is a token as a caller would present it. Property: only a token this
//         key set's keys signed verifies (the fuzzer cannot forge an Ed25519 signature; the
//         strict decoders and verifier leave no second spelling of a signed token).
//   odd:  the rest is "<header JSON>\n<payload JSON>", signed here with the active key, so
//         the claim checks behind the signature are reached. Property: what verifies has a
//         non-empty subject and workspace and the configured issuer; a header or payload
//         nested deeper than the JSON depth bound never verifies (issue 14), and the
//         bounded parser's own properties hold on both (fuzz_common.h).
// Seeds: fuzz/corpus/jwt_verify (made by fuzz/make_corpus.py with the same key and clock).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "fuzz_common.h"
#include "iam/clock.h"
#include "iam/jwt.h"

namespace {

// The seed every fuzz key is made from: bytes 0..31 (fuzz/make_corpus.py uses the same).
std::vector<std::uint8_t> seed_bytes(std::uint8_t first) {
  std::vector<std::uint8_t> seed(iam::ed25519_seed_bytes);
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(first + i);
  return seed;
}

struct Fixture {
  std::shared_ptr<iam::ManualClock> clock = std::make_shared<iam::ManualClock>();  // 1.8e9 s
  std::unique_ptr<iam::KeySet> keys;
  iam::SigningKey active;
  std::set<std::string, std::less<>> signed_tokens;

  Fixture() {
    const auto created = clock->now() - std::chrono::hours(24);
    auto old = iam::SigningKey::from_seed("fuzz-key-0", seed_bytes(100), created);
    auto current = iam::SigningKey::from_seed("fuzz-key-1", seed_bytes(0), created);
    if (!old || !current) fuzz::violated("fixture keys");
    {  // what the retired key signed while it was active still verifies (grace period)
      iam::KeySet before(iam::JwtConfig{}, clock);
      std::vector<iam::SigningKey> set;
      set.push_back(old->copy());
      if (!before.load(std::move(set))) fuzz::violated("fixture load (old key)");
      auto token = before.sign("fuzz-user", "default");
      if (!token) fuzz::violated("fixture sign (old key)");
      signed_tokens.insert(std::move(*token));
    }
    old->secret_key = iam::SecretBytes();
    old->retired = clock->now() - std::chrono::minutes(10);  // still within its grace
    active = current->copy();
    keys = std::make_unique<iam::KeySet>(iam::JwtConfig{}, clock);
    std::vector<iam::SigningKey> set;
    set.push_back(std::move(*old));
    set.push_back(std::move(*current));
    if (!keys->load(std::move(set))) fuzz::violated("fixture load");
    for (const char* workspace : {"default", "research"}) {
      auto token = keys->sign("fuzz-user", workspace);
      if (!token) fuzz::violated("fixture sign");
      signed_tokens.insert(std::move(*token));
    }
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void check_claims(const iam::Result<iam::JwtClaims>& claims, const Fixture& f) {
  if (!claims) return;
  fuzz::check(!claims->subject.empty(), "verified token has a subject");
  fuzz::check(!claims->workspace.empty(), "verified token has a workspace");
  fuzz::check(claims->issuer == f.keys->config().issuer, "verified token has our issuer");
  fuzz::check(claims->expires_at > f.clock->now() - f.keys->config().leeway, "verified token is not expired");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Fixture& f = fixture();
  const std::string_view rest = fuzz::as_view(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    std::string reason;
    const auto claims = f.keys->verify_with_reason(rest, &reason);
    fuzz::check(claims.ok() == f.keys->verify(rest).ok(), "verify and verify_with_reason agree");
    fuzz::check(claims.ok() || !reason.empty(), "a rejection has a reason");
    fuzz::check(!claims || f.signed_tokens.contains(rest), "only a token we signed verifies");
    check_claims(claims, f);
  } else {
    const auto newline = rest.find('\n');
    const std::string_view header = rest.substr(0, newline);
    const std::string_view payload = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    std::string token = iam::crypto::base64url_encode(iam::crypto::as_bytes(header)) + '.' +
                        iam::crypto::base64url_encode(iam::crypto::as_bytes(payload));
    const auto signature = iam::crypto::ed25519_sign(iam::crypto::as_bytes(token), f.active.secret_key);
    token += '.';
    token += iam::crypto::base64url_encode(signature);
    const auto claims = f.keys->verify(token);
    check_claims(claims, f);
    for (const std::string_view part : {header, payload}) {
      fuzz::check_bounded_parser(part);
      if (const auto depth = fuzz::json_depth(part); depth && *depth > iam::default_max_json_depth)
        fuzz::check(!claims, "a header or payload nested too deeply never verifies");
    }
  }
  return 0;
}
