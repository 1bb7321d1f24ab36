// Private signing keys at rest (storage/key_at_rest.h) and the key-encryption key file
// (iam/key_at_rest.h).
#include "storage/key_at_rest.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "crypto/crypto.h"
#include "iam/key_at_rest.h"

namespace iam {
namespace storage_detail {

std::vector<std::uint8_t> seal(const SecretBytes& key, std::span<const std::uint8_t> plaintext) {
  std::vector<std::uint8_t> box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size());
  randombytes_buf(box.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box.data() + crypto_secretbox_NONCEBYTES, plaintext.data(), plaintext.size(), box.data(),
                        key.data());
  return box;
}

std::optional<SecretBytes> unseal(const SecretBytes& key, std::span<const std::uint8_t> box) {
  constexpr std::size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
  if (box.size() <= overhead) return std::nullopt;
  SecretBytes plaintext(box.size() - overhead);
  if (crypto_secretbox_open_easy(plaintext.data(), box.data() + crypto_secretbox_NONCEBYTES,
                                 box.size() - crypto_secretbox_NONCEBYTES, box.data(), key.data()) != 0)
    return std::nullopt;
  return plaintext;
}

bool key_opens_check(const SecretBytes& key, const std::optional<std::vector<std::uint8_t>>& check,
                     std::string_view check_text) {
  const auto plain = check ? unseal(key, *check) : std::nullopt;
  return plain && crypto::as_text(plain->span()) == check_text;
}

}  // namespace storage_detail

Result<SecretBytes> load_key_file(const std::string& path) {
  auto bad = [&](std::string_view problem) {
    return Error{ErrorCode::invalid_argument, "encryption key file " + path + ": " + std::string(problem)};
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bad(std::string("cannot be read: ") + std::strerror(errno));
  constexpr std::size_t limit = 256;
  SecretBytes buffer(limit + 1);
  std::size_t size = 0;
  for (;;) {
    const auto n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return bad(std::string("cannot be read: ") + std::strerror(e));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
    if (size == buffer.size()) break;
  }
  ::close(fd);
  if (size == key_encryption_key_bytes) return SecretBytes(buffer.span().first(size));
  std::size_t begin = 0;
  std::size_t end = size;
  auto space = [](std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (begin < end && space(buffer.data()[begin])) ++begin;
  while (end > begin && space(buffer.data()[end - 1])) --end;
  if (end - begin == 2 * key_encryption_key_bytes) {
    SecretBytes key(key_encryption_key_bytes);
    std::size_t written = 0;
    const char* end_of_hex = nullptr;
    if (sodium_hex2bin(key.data(), key.size(), reinterpret_cast<const char*>(buffer.data() + begin), end - begin,
                       nullptr, &written, &end_of_hex) == 0 &&
        written == key.size() && end_of_hex == reinterpret_cast<const char*>(buffer.data() + end))
      return key;
  }
  return bad("must hold exactly 32 raw bytes or 64 hexadecimal characters");
}

Result<std::optional<SecretBytes>> load_key_from_environment() {
  const char* path = std::getenv(key_encryption_key_file_env);
  if (!path || !*path) return std::optional<SecretBytes>{};
  IAM_ASSIGN_OR_RETURN(auto key, load_key_file(path));
  return std::optional<SecretBytes>(std::move(key));
}

}  // namespace iam
