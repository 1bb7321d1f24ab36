#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <memory>

#include "crypto/crypto.h"

namespace iam::crypto {

Ed25519KeyPair ed25519_from_seed(std::span<const std::uint8_t, ed25519_seed_bytes> seed) {
  ensure_initialised();
  Ed25519KeyPair pair;
  pair.secret_key = SecretBytes(ed25519_secret_key_bytes);
  crypto_sign_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed.data());
  return pair;
}

std::array<std::uint8_t, ed25519_signature_bytes> ed25519_sign(std::span<const std::uint8_t> message,
                                                                const SecretBytes& secret_key) {
  std::array<std::uint8_t, ed25519_signature_bytes> signature{};
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), secret_key.data());
  return signature;
}

bool ed25519_verify(std::span<const std::uint8_t> message, std::span<const std::uint8_t> signature,
                    std::span<const std::uint8_t> public_key) {
  if (signature.size() != crypto_sign_BYTES || public_key.size() != crypto_sign_PUBLICKEYBYTES) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), public_key.data()) == 0;
}

}  // namespace iam::crypto

namespace iam {
namespace {
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
}  // namespace

std::string public_key_to_pem(const PublicKey& key) {
  Pkey pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  Bio bio(BIO_new(BIO_s_mem()));
  if (!pkey || !bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) return {};
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

Result<PublicKey> public_key_from_pem(std::string_view pem) {
  if (pem.size() > 4096) return Error{ErrorCode::invalid_argument, "PEM too long"};
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Error{ErrorCode::internal_error, "out of memory"};
  Pkey pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey || EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519)
    return Error{ErrorCode::invalid_argument, "not an Ed25519 SubjectPublicKeyInfo PEM"};
  PublicKey key{};
  std::size_t length = key.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), key.data(), &length) != 1 || length != key.size())
    return Error{ErrorCode::invalid_argument, "not an Ed25519 public key"};
  return key;
}

}  // namespace iam
