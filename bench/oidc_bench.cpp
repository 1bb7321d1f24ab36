// OIDC token verification with a cached key (regimes/oidc/oidc_token.h) against raw
// OpenSSL EVP verification of the same bytes, for RS256 and ES256.
//
// The tokens and keys are the PyJWT-minted fixtures of tests/fixtures/oidc (their
// directory is compiled in: IAM_OIDC_FIXTURES). BM_Oidc<alg> runs verify_token with a key
// lookup that hands back one parsed key; BM_Raw<alg> runs only EVP_DigestVerifyInit +
// EVP_DigestVerify over the token's signing input and signature (decoded once, outside
// the loop; ES256's r||s given as DER, as OpenSSL takes it, converted by the fixture
// script), with the same public key loaded from PEM. After the run it prints
//
//   RESULT oidc_rs256_verify_ratio <library/raw>
//   RESULT oidc_es256_verify_ratio <library/raw>
//
// from the CPU time per iteration of each pair (the median over the interleaved
// repetitions). The ratio is the cost of everything beyond the signature check: size
// bound, base64url, strict JSON of header and claims, the claim rules.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_common.h"
#include "core/bounded_json.h"
#include "crypto/crypto.h"
#include "regimes/oidc/oidc_token.h"

namespace {

using iam::oidc::Algorithm;

std::string read_fixture(const std::string& name) {
  const std::string path = std::string(IAM_OIDC_FIXTURES) + "/" + name;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) bench::fail("cannot read " + path);
  std::string text;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) text.append(buffer, n);
  return text;
}

struct Case {
  std::string token;
  iam::oidc::TokenRules rules;
  iam::TimePoint now;
  iam::oidc::KeyLookup lookup;
  std::shared_ptr<EVP_PKEY> raw_key;
  const EVP_MD* digest = nullptr;
  std::string signing_input;
  std::vector<std::uint8_t> raw_signature;

  Case(const char* alg_name, Algorithm alg, const char* kid, const char* pem_file, const EVP_MD* md) : digest(md) {
    const auto doc = iam::parse_json_bounded(read_fixture("tokens.json"));
    bench::check(doc.ok(), "tokens.json parses");
    token = doc->at("tokens").at(alg_name).get<std::string>();
    rules.issuer = doc->at("issuer").get<std::string>();
    rules.audiences = {doc->at("audience").get<std::string>()};
    rules.algorithms = {alg};
    now = iam::from_unix_seconds(doc->at("now").get<std::int64_t>());

    auto keys = iam::oidc::parse_jwks(read_fixture("jwks.json"));
    bench::check(keys.ok(), "jwks.json parses");
    std::shared_ptr<const iam::oidc::PublicJwk> key;
    for (auto& k : *keys)
      if (k.kid() == kid) key = std::make_shared<const iam::oidc::PublicJwk>(std::move(k));
    bench::check(key != nullptr, "the fixture key is in jwks.json");
    lookup = [key](std::string_view) { return key; };  // a cached key: no fetch, no search

    const std::string pem = read_fixture(pem_file);
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    raw_key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    bench::check(raw_key != nullptr, "the fixture PEM loads");

    const auto dot = token.rfind('.');
    signing_input = token.substr(0, dot);
    const std::string signature_b64 =
        alg == Algorithm::es256 ? doc->at("ES256_signature_der").get<std::string>() : token.substr(dot + 1);
    auto signature = iam::crypto::base64url_decode(signature_b64);
    bench::check(signature.has_value(), "the signature decodes");
    raw_signature = std::move(*signature);
    // Both sides must accept the token, or the comparison is meaningless.
    bench::check(library_verifies(), "verify_token accepts the token");
    bench::check(raw_verifies(), "raw OpenSSL accepts the signature");
  }

  bool library_verifies() const { return iam::oidc::verify_token(token, rules, lookup, now).ok(); }

  bool raw_verifies() const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, digest, nullptr, raw_key.get()) == 1 &&
                    EVP_DigestVerify(ctx, raw_signature.data(), raw_signature.size(),
                                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  }
};

const Case& rs256() {
  static const Case c("RS256", Algorithm::rs256, "rsa-2048", "rsa_2048_public.pem", EVP_sha256());
  return c;
}
const Case& es256() {
  static const Case c("ES256", Algorithm::es256, "ec-p256", "ec_p256_public.pem", EVP_sha256());
  return c;
}

void run_library(benchmark::State& state, const Case& c) {
  for (auto _ : state) {
    auto verified = iam::oidc::verify_token(c.token, c.rules, c.lookup, c.now);
    if (!verified) state.SkipWithError("verify_token rejected the token");
    benchmark::DoNotOptimize(verified);
  }
}
void run_raw(benchmark::State& state, const Case& c) {
  for (auto _ : state) {
    const bool ok = c.raw_verifies();
    if (!ok) state.SkipWithError("OpenSSL rejected the signature");
    benchmark::DoNotOptimize(ok);
  }
}

void BM_OidcRS256(benchmark::State& state) { run_library(state, rs256()); }
void BM_RawRS256(benchmark::State& state) { run_raw(state, rs256()); }
void BM_OidcES256(benchmark::State& state) { run_library(state, es256()); }
void BM_RawES256(benchmark::State& state) { run_raw(state, es256()); }
BENCHMARK(BM_OidcRS256);
BENCHMARK(BM_RawRS256);
BENCHMARK(BM_OidcES256);
BENCHMARK(BM_RawES256);

}  // namespace

int main(int argc, char** argv) {
  if (!bench::initialise(argc, argv, 10)) return 1;
  rs256();  // load and check both cases before any timing
  es256();
  bench::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  for (const auto& [figure, library, raw] : {std::tuple{"oidc_rs256_verify_ratio", "BM_OidcRS256", "BM_RawRS256"},
                                             std::tuple{"oidc_es256_verify_ratio", "BM_OidcES256", "BM_RawES256"}}) {
    const double a = reporter.seconds_of(library);
    const double b = reporter.seconds_of(raw);
    if (a > 0 && b > 0) bench::result(figure, a / b);
  }
  return 0;
}
