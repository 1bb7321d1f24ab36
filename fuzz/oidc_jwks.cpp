// The OIDC regime's parsers (regimes/oidc): the JWKS parser, the claim-path lookup and
// token verification against fixed keys. The input is "<dotted path>\n<document>":
//   - the document goes to parse_jwks. Properties: what it accepts is within the bounds,
//     has no two keys with one kid, and each key fits at least one algorithm; it never
//     accepts a text the bounded duplicate-refusing parser refuses.
//   - the document, when it is a JSON object, is the claims of find_claim/claim_strings at
//     the path. Properties: claim_strings agrees with find_claim (a string → itself, an
//     array → its string elements, anything else → nothing); a path with an empty segment
//     finds nothing.
//   - the document is also a token for verify_token with the keys of every kind in
//     tests/fixtures/oidc/jwks.json (its path is compiled in: IAM_OIDC_JWKS). Property:
//     it never verifies (the fuzzer holds no private key), and a refusal is the masked
//     failure with a reason.
// Seeds: fuzz/corpus/oidc_jwks (fuzz/make_corpus.py, from tests/fixtures/oidc).
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "fuzz_common.h"
#include "regimes/oidc/jwk.h"
#include "regimes/oidc/oidc_token.h"

namespace {

using iam::oidc::Algorithm;

constexpr Algorithm all_algorithms[] = {Algorithm::rs256, Algorithm::rs384, Algorithm::rs512, Algorithm::ps256,
                                        Algorithm::es256, Algorithm::es384, Algorithm::eddsa};

void check_jwks(std::string_view document) {
  const auto keys = iam::oidc::parse_jwks(document);
  if (!keys) {
    fuzz::check(!keys.error().message.empty(), "a refused JWKS has a message");
    return;
  }
  fuzz::check(document.size() <= iam::oidc::max_jwks_bytes, "an accepted JWKS is within the size bound");
  fuzz::check(keys->size() <= iam::oidc::max_jwks_keys, "an accepted JWKS is within the key bound");
  fuzz::check(iam::parse_json_bounded_unique_keys(document).ok(), "an accepted JWKS is JSON without duplicate keys");
  std::set<std::string, std::less<>> kids;
  for (const auto& key : *keys) {
    fuzz::check(kids.insert(key.kid()).second, "no two accepted keys share a kid");
    bool fits_one = false;
    for (const Algorithm a : all_algorithms) fits_one = fits_one || key.fits(a);
    fuzz::check(fits_one, "an accepted key fits some algorithm");
    if (key.alg()) fuzz::check(key.fits(*key.alg()), "a key fits its own alg");
    // No signature verifies under a key the fuzzer made up without its private half;
    // this exercises every verify path (lengths, DER conversion) on garbage.
    for (const Algorithm a : all_algorithms)
      fuzz::check(!key.verify(a, document, iam::crypto::as_bytes(document)), "garbage never verifies");
  }
}

void check_claims(std::string_view path, std::string_view document) {
  const auto claims = iam::parse_json_bounded(document);
  if (!claims) return;
  const nlohmann::json* found = iam::oidc::find_claim(*claims, path);
  const auto strings = iam::oidc::claim_strings(*claims, path);
  if (path.empty() || path.front() == '.' || path.back() == '.' || path.find("..") != std::string_view::npos)
    fuzz::check(found == nullptr, "a path with an empty segment finds nothing");
  if (!found) {
    fuzz::check(strings.empty(), "nothing found, no strings");
  } else if (found->is_string()) {
    fuzz::check(strings.size() == 1 && strings[0] == found->get_ref<const std::string&>(), "a string claim is itself");
  } else if (found->is_array()) {
    std::size_t count = 0;
    for (const auto& element : *found) count += element.is_string() ? 1 : 0;
    fuzz::check(strings.size() == count, "an array claim gives its string elements");
  } else {
    fuzz::check(strings.empty(), "other claims give no strings");
  }
}

struct Keys {
  std::vector<std::shared_ptr<const iam::oidc::PublicJwk>> keys;

  Keys() {
    std::ifstream file(IAM_OIDC_JWKS, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    auto parsed = iam::oidc::parse_jwks(text);
    if (!parsed || parsed->size() < 5) fuzz::violated("the fixture JWKS (" IAM_OIDC_JWKS ") loads with its five keys");
    for (auto& k : *parsed) keys.push_back(std::make_shared<const iam::oidc::PublicJwk>(std::move(k)));
  }
};

void check_token(std::string_view token, const Keys& fixture) {
  iam::oidc::TokenRules rules;
  rules.issuer = "https://idp.example.test/realms/iam";
  rules.audiences = {"api://iam"};
  rules.algorithms.assign(std::begin(all_algorithms), std::end(all_algorithms));
  const iam::oidc::KeyLookup lookup = [&](std::string_view kid) -> std::shared_ptr<const iam::oidc::PublicJwk> {
    for (const auto& k : fixture.keys)
      if (k->kid() == kid) return k;
    return nullptr;
  };
  std::string reason;
  const auto verified = iam::oidc::verify_token(token, rules, lookup, iam::from_unix_seconds(1'800'000'000), &reason);
  fuzz::check(!verified, "no token the fuzzer made verifies");
  fuzz::check(verified.error() == iam::auth_failure(), "a refusal is the masked failure");
  fuzz::check(!reason.empty(), "a refusal has a reason");
  (void)iam::oidc::peek_issuer(token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Keys fixture;
  const std::string_view input = fuzz::as_view(data, size);
  const auto newline = input.find('\n');
  const std::string_view path = newline == std::string_view::npos ? std::string_view() : input.substr(0, newline);
  const std::string_view document = newline == std::string_view::npos ? input : input.substr(newline + 1);
  check_jwks(document);
  check_claims(path, document);
  check_token(document, fixture);
  return 0;
}
