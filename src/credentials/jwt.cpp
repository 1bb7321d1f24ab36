// EdDSA compact JWS and the key set (protocol.md "JWT").
#include "iam/jwt.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bounded_json.h"
#include "core/mutex.h"
#include "crypto/crypto.h"

namespace iam {
namespace {

using nlohmann::json;

// A JSON value as the verifier sees it: absent, or one of the JSON types with its value
// kept for the types the rules read.
struct Member {
  enum class Kind : std::uint8_t { absent, string, integer, unsigned_integer, floating, other };
  Kind kind = Kind::absent;
  std::string text;                    // Kind::string
  std::int64_t integer = 0;            // Kind::integer
  std::uint64_t unsigned_integer = 0;  // Kind::unsigned_integer
  double floating = 0;                 // Kind::floating

  bool present() const noexcept { return kind != Kind::absent; }
  bool is_string() const noexcept { return kind == Kind::string; }
};

// A SAX handler for nlohmann::json::sax_parse: accepts only text that is one JSON object
// with no duplicate key in any object at any depth (nlohmann would silently keep the last
// one, and two parsers disagreeing about a claim is how confusions start), and captures the
// top-level members named in `wanted`. Like every JSON reader here it refuses text over
// the library's size and depth bounds (core/bounded_json.h). It builds no DOM, which keeps
// token verification close to the cost of the signature check. nlohmann's parser still
// checks the whole grammar (UTF-8, escapes, number range, nothing after the value) before
// reporting success.
class ObjectScanner {
 public:
  ObjectScanner(const std::string_view* wanted, std::size_t count, Member* members)
      : wanted_(wanted), count_(count), members_(members) {}

  // True when `text` is a JSON object without duplicate keys; members are filled in.
  bool scan(std::string_view text) {
    if (text.size() > default_max_json_bytes) return false;
    return json::sax_parse(text.data(), text.data() + text.size(), this) && root_seen_ && depth_ == 0;
  }

  // ---- the SAX interface (each returns false to stop the parse: a rejection)
  bool null() { return scalar(Member::Kind::other); }
  bool boolean(bool) { return scalar(Member::Kind::other); }
  bool number_integer(json::number_integer_t value) {
    if (Member* m = target()) m->integer = value;
    return scalar(Member::Kind::integer);
  }
  bool number_unsigned(json::number_unsigned_t value) {
    if (Member* m = target()) m->unsigned_integer = value;
    return scalar(Member::Kind::unsigned_integer);
  }
  bool number_float(json::number_float_t value, const json::string_t&) {
    if (Member* m = target()) m->floating = value;
    return scalar(Member::Kind::floating);
  }
  bool string(json::string_t& value) {
    if (Member* m = target()) m->text.assign(value);
    return scalar(Member::Kind::string);
  }
  bool binary(json::binary_t&) { return false; }  // not produced by JSON text
  bool start_object(std::size_t) {
    if (depth_ >= default_max_json_depth) return false;
    if (depth_ == 0) {
      if (root_seen_) return false;
      root_seen_ = true;
    } else if (!container()) {
      return false;
    }
    ++depth_;
    keys_.open_object();
    return true;
  }
  bool key(json::string_t& name) {
    pending_ = nullptr;
    if (depth_ == 1) {
      for (std::size_t i = 0; i < count_; ++i)
        if (wanted_[i] == name) pending_ = &members_[i];
    }
    keys_.add_key(name);
    return true;
  }
  bool end_object() {
    if (!keys_.close_object()) return false;
    --depth_;
    return true;
  }
  bool start_array(std::size_t) {
    // The root must be an object.
    if (depth_ == 0 || depth_ >= default_max_json_depth || !container()) return false;
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }

 private:
  // The member the value now being read belongs to (a wanted top-level one), if any.
  Member* target() const { return depth_ == 1 ? pending_ : nullptr; }
  bool scalar(Member::Kind kind) {
    if (depth_ == 0) return false;  // the root must be an object
    if (Member* m = target()) m->kind = kind;
    pending_ = nullptr;
    return true;
  }
  bool container() {
    if (Member* m = target()) m->kind = Member::Kind::other;
    pending_ = nullptr;
    return true;
  }

  const std::string_view* wanted_;
  std::size_t count_;
  Member* members_;
  Member* pending_ = nullptr;
  std::size_t depth_ = 0;
  bool root_seen_ = false;
  DuplicateKeyCheck keys_;
};

// Parses a JSON object with the same strictness as token verification (no duplicate keys
// at any depth); for documents read rarely, such as a JWK.
std::optional<json> parse_object_strict(std::string_view text) {
  auto value = parse_json_bounded_unique_keys(text);
  if (!value || !value->is_object()) return std::nullopt;
  return std::move(*value);
}

// A NumericDate as whole seconds; nullopt when absent or not a number.
std::optional<std::int64_t> numeric_date(const Member& m) {
  switch (m.kind) {
    case Member::Kind::integer: return m.integer;
    case Member::Kind::unsigned_integer:
      return m.unsigned_integer > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                 ? std::numeric_limits<std::int64_t>::max()
                 : static_cast<std::int64_t>(m.unsigned_integer);
    case Member::Kind::floating: {
      const double d = m.floating;
      if (!std::isfinite(d)) return std::nullopt;
      if (d >= 9.2e18) return std::numeric_limits<std::int64_t>::max();
      if (d <= -9.2e18) return std::numeric_limits<std::int64_t>::min();
      return static_cast<std::int64_t>(std::floor(d));
    }
    default: return std::nullopt;
  }
}

// Absent, or a non-empty string. False for any other type or an empty string.
bool absent_or_nonempty_string(const Member& m) {
  return !m.present() || (m.is_string() && !m.text.empty());
}

// ---- strict base64url for token segments

// All ones when lo <= c <= hi, else zero; computed without branching on c (0..255).
constexpr std::uint32_t in_range(std::uint32_t c, std::uint32_t lo, std::uint32_t hi) noexcept {
  // Both differences stay below 256 exactly when c is in range; a wrapped one sets bit 8.
  return ((((c - lo) | (hi - c)) >> 8) & 1u) - 1u;
}

// The 6-bit value of a base64url character; `bad` gets bits set for any other byte.
inline std::uint32_t sextet(char ch, std::uint32_t& bad) noexcept {
  const std::uint32_t c = static_cast<unsigned char>(ch);
  const std::uint32_t upper = in_range(c, 'A', 'Z');
  const std::uint32_t lower = in_range(c, 'a', 'z');
  const std::uint32_t digit = in_range(c, '0', '9');
  const std::uint32_t dash = in_range(c, '-', '-');
  const std::uint32_t underscore = in_range(c, '_', '_');
  bad |= ~(upper | lower | digit | dash | underscore) & 1u;
  return (upper & (c - 'A')) | (lower & (c - 'a' + 26)) | (digit & (c - '0' + 52)) | (dash & 62u) |
         (underscore & 63u);
}

// Eight characters at once (SWAR): `word` holds them one per byte lane, the first in the
// lowest lane. Answers their 6-bit values in the same lanes and sets bits of `bad` for any
// lane that is not a base64url character. Lane arithmetic never borrows or carries into a
// neighbour: every lane is first brought to 0x80..0xff (or 0..0x7f) before subtracting.
inline std::uint64_t sextets8(std::uint64_t word, std::uint64_t& bad) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t high = ones * 0x80;
  bad |= word & high;                    // bytes >= 0x80
  const std::uint64_t x = word & ~high;  // lanes 0..0x7f
  const std::uint64_t xh = x | high;     // lanes 0x80..0xff
  std::uint64_t value = 0;
  std::uint64_t valid = 0;
  const auto range = [&](std::uint64_t lo, std::uint64_t hi, std::uint64_t add) {
    const std::uint64_t from_lo = xh - ones * lo;        // bit 7: x >= lo; low bits: x - lo
    const std::uint64_t to_hi = ones * (0x80 + hi) - x;  // bit 7: x <= hi
    const std::uint64_t mask = ((from_lo & to_hi & high) >> 7) * 0xff;
    value |= ((from_lo & ~high) + ones * add) & mask;  // at most 0x7f + 52 per lane: no carry
    valid |= mask;
  };
  range('A', 'Z', 0);
  range('a', 'z', 26);
  range('0', '9', 52);
  range('-', '-', 62);
  range('_', '_', 63);
  bad |= ~valid;
  return value;
}

// Decodes one segment with exactly the rules of crypto::base64url_decode (RFC 4648 §5
// alphabet, no padding, no other byte, zero trailing bits, length not 1 mod 4) into `out`,
// which has room for text.size() * 3 / 4 bytes. Answers the decoded length. Written for the
// verify path: no allocation, and no branch or table lookup on the characters' values (a
// token is a bearer credential).
std::optional<std::size_t> decode_segment(std::string_view text, std::uint8_t* out) noexcept {
  const std::size_t n = text.size();
  if (n % 4 == 1) return std::nullopt;
  std::uint64_t bad_lanes = 0;
  std::uint32_t bad = 0;
  std::size_t o = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word = 0;
    for (std::size_t k = 0; k < 8; ++k)  // compiles to one load on little-endian targets
      word |= std::uint64_t{static_cast<unsigned char>(text[i + k])} << (8 * k);
    const std::uint64_t v = sextets8(word, bad_lanes);
    const auto lane = [v](unsigned k) { return static_cast<std::uint32_t>(v >> (8 * k)) & 0x3fu; };
    const std::uint32_t first = lane(0) << 18 | lane(1) << 12 | lane(2) << 6 | lane(3);
    const std::uint32_t second = lane(4) << 18 | lane(5) << 12 | lane(6) << 6 | lane(7);
    out[o++] = static_cast<std::uint8_t>(first >> 16);
    out[o++] = static_cast<std::uint8_t>(first >> 8);
    out[o++] = static_cast<std::uint8_t>(first);
    out[o++] = static_cast<std::uint8_t>(second >> 16);
    out[o++] = static_cast<std::uint8_t>(second >> 8);
    out[o++] = static_cast<std::uint8_t>(second);
  }
  for (; i + 4 <= n; i += 4) {
    const std::uint32_t quantum = sextet(text[i], bad) << 18 | sextet(text[i + 1], bad) << 12 |
                                  sextet(text[i + 2], bad) << 6 | sextet(text[i + 3], bad);
    out[o++] = static_cast<std::uint8_t>(quantum >> 16);
    out[o++] = static_cast<std::uint8_t>(quantum >> 8);
    out[o++] = static_cast<std::uint8_t>(quantum);
  }
  if (n - i == 2) {
    const std::uint32_t a = sextet(text[i], bad);
    const std::uint32_t b = sextet(text[i + 1], bad);
    bad |= b & 0x0fu;  // the 4 bits past the last byte must be zero
    out[o++] = static_cast<std::uint8_t>(a << 2 | b >> 4);
  } else if (n - i == 3) {
    const std::uint32_t a = sextet(text[i], bad);
    const std::uint32_t b = sextet(text[i + 1], bad);
    const std::uint32_t c = sextet(text[i + 2], bad);
    bad |= c & 0x03u;  // the 2 bits past the last byte must be zero
    out[o++] = static_cast<std::uint8_t>(a << 2 | b >> 4);
    out[o++] = static_cast<std::uint8_t>((b & 0x0fu) << 4 | c >> 2);
  }
  if (bad != 0 || bad_lanes != 0) return std::nullopt;
  return o;
}

// The header members verification reads, and the claims.
constexpr std::string_view header_names[] = {"alg", "kid", "crit"};
enum HeaderMember : std::size_t { h_alg, h_kid, h_crit, header_member_count };
constexpr std::string_view claim_names[] = {"iss", "sub",  "workspace", "default_workspace",
                                            "exp", "nbf", "iat",       "credentials_epoch"};
enum ClaimMember : std::size_t {
  c_iss, c_sub, c_workspace, c_default_workspace, c_exp, c_nbf, c_iat, c_credentials_epoch, claim_member_count
};
static_assert(std::size(header_names) == header_member_count && std::size(claim_names) == claim_member_count);

std::string encode_segment(const json& value) { return crypto::base64url_encode(crypto::as_bytes(value.dump())); }

}  // namespace

// ---------------------------------------------------------------- JWK

namespace {
json jwk_object(const PublicKey& key, std::string_view kid) {
  json jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", crypto::base64url_encode(key)},
              {"use", "sig"}, {"alg", "EdDSA"}};
  if (!kid.empty()) jwk["kid"] = std::string(kid);
  return jwk;
}
}  // namespace

std::string public_key_to_jwk(const PublicKey& key, std::string_view kid) { return jwk_object(key, kid).dump(); }

Result<PublicKey> public_key_from_jwk(std::string_view jwk_json) {
  const auto jwk = parse_object_strict(jwk_json);
  if (!jwk) return Error{ErrorCode::invalid_argument, "JWK is not a JSON object"};
  const auto field = [&](const char* name) -> std::string {
    const auto it = jwk->find(name);
    return it != jwk->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (field("kty") != "OKP" || field("crv") != "Ed25519")
    return Error{ErrorCode::invalid_argument, "JWK is not an Ed25519 OKP key"};
  if (jwk->contains("d")) return Error{ErrorCode::invalid_argument, "JWK holds a private key"};
  const auto x = crypto::base64url_decode(field("x"));
  if (!x || x->size() != ed25519_public_key_bytes)
    return Error{ErrorCode::invalid_argument, "JWK x is not a 32-byte base64url value"};
  PublicKey key{};
  std::copy(x->begin(), x->end(), key.begin());
  return key;
}

// ---------------------------------------------------------------- config

std::chrono::seconds JwtConfig::effective_grace() const { return std::max(grace, lifetime + leeway); }

Status JwtConfig::validate() const {
  if (issuer.empty()) return Error{ErrorCode::invalid_argument, "JWT issuer must not be empty"};
  if (lifetime.count() <= 0) return Error{ErrorCode::invalid_argument, "JWT lifetime must be positive"};
  if (leeway.count() < 0) return Error{ErrorCode::invalid_argument, "JWT leeway must not be negative"};
  if (grace.count() < 0) return Error{ErrorCode::invalid_argument, "key grace must not be negative"};
  if (max_token_bytes < 64) return Error{ErrorCode::invalid_argument, "maximum token size is too small"};
  return {};
}

// ---------------------------------------------------------------- key set

struct KeySet::State {
  std::vector<SigningKey> keys;  // at most one current and one next key
  const SigningKey* active() const {
    for (const auto& k : keys)
      if (k.is_current()) return &k;
    return nullptr;
  }
  const SigningKey* next() const {
    for (const auto& k : keys)
      if (k.is_next()) return &k;
    return nullptr;
  }
};

// Readers copy the snapshot pointer under `current_mutex` (held only for that copy);
// writers, serialised by `writer`, build a new snapshot and swap it in. A plain mutex
// rather than std::atomic<std::shared_ptr>: g++ 12's implementation of the latter races.
struct KeySet::Snapshots {
  mutable Mutex current_mutex;
  std::shared_ptr<const State> current IAM_GUARDED_BY(current_mutex) = std::make_shared<const State>();
  Mutex writer;  // held by load and rotate from reading the current State to publishing the next

  std::shared_ptr<const State> read() const IAM_EXCLUDES(current_mutex) {
    const MutexLock lock(current_mutex);
    return current;
  }
  void publish(std::shared_ptr<const State> next) IAM_REQUIRES(writer) IAM_EXCLUDES(current_mutex) {
    const MutexLock lock(current_mutex);
    current.swap(next);
    // `next` now holds the old snapshot; it is released after the lock, outside it.
  }
};

KeySet::KeySet(JwtConfig config, std::shared_ptr<const Clock> clock)
    : config_(std::move(config)),
      clock_(clock ? std::move(clock) : system_clock()),
      snapshots_(std::make_unique<Snapshots>()) {
  crypto::ensure_initialised();
}

KeySet::~KeySet() = default;

std::shared_ptr<const KeySet::State> KeySet::snapshot() const { return snapshots_->read(); }

Status KeySet::load(std::vector<SigningKey> keys) {
  int current = 0;
  int next = 0;
  for (auto& k : keys) {
    if (k.kid.empty()) return Error{ErrorCode::invalid_argument, "signing key without kid"};
    if (k.retired) {
      k.secret_key.clear();  // a retired key never signs again
      continue;
    }
    if (k.activated) ++current;
    else ++next;
    if (k.secret_key.size() != ed25519_secret_key_bytes)
      return Error{ErrorCode::invalid_argument, "a current or next signing key has no private half"};
  }
  if (current > 1) return Error{ErrorCode::invalid_argument, "more than one current signing key"};
  if (next > 1) return Error{ErrorCode::invalid_argument, "more than one next signing key"};
  // verify looks a key up by kid: two keys under one kid would make the answer depend on
  // their order (a retired twin past its grace would shadow the active key).
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j)
      if (keys[i].kid == keys[j].kid) return Error{ErrorCode::invalid_argument, "two signing keys share a kid"};
  auto state = std::make_shared<State>();
  state->keys = std::move(keys);
  const MutexLock lock(snapshots_->writer);
  snapshots_->publish(std::move(state));
  return {};
}

namespace {
// A key that is to become the next key: a kid, a private half, no state yet.
Status check_new_next(SigningKey& key) {
  if (key.kid.empty() || key.secret_key.size() != ed25519_secret_key_bytes || key.retired)
    return Error{ErrorCode::invalid_argument, "a new signing key needs a kid and a private half"};
  key.activated.reset();
  return {};
}
}  // namespace

Status KeySet::publish_next(SigningKey key) {
  IAM_RETURN_IF_ERROR(check_new_next(key));
  const MutexLock lock(snapshots_->writer);
  const auto current = this->snapshot();
  if (current->next()) return Error{ErrorCode::duplicate, "the set already holds a next key"};
  auto state = std::make_shared<State>();
  for (const auto& k : current->keys) {
    if (k.kid == key.kid) return Error{ErrorCode::duplicate, "a signing key with this kid exists"};
    state->keys.push_back(k.copy());
  }
  state->keys.push_back(std::move(key));
  snapshots_->publish(std::move(state));
  return {};
}

Status KeySet::rotate(SigningKey next) {
  IAM_RETURN_IF_ERROR(check_new_next(next));
  const MutexLock lock(snapshots_->writer);
  const auto current = this->snapshot();
  if (!current->next()) return Error{ErrorCode::not_found, "no next key to promote"};
  const TimePoint now = clock_->now();
  auto state = std::make_shared<State>();
  for (const auto& k : current->keys) {
    if (k.kid == next.kid) return Error{ErrorCode::duplicate, "a signing key with this kid exists"};
    if (k.retired && *k.retired + config_.effective_grace() <= now) continue;  // past grace: gone
    SigningKey kept = k.copy();
    if (kept.is_current()) {
      kept.retired = now;
      kept.secret_key.clear();
    } else if (kept.is_next()) {
      kept.activated = now;
    }
    state->keys.push_back(std::move(kept));
  }
  state->keys.push_back(std::move(next));
  snapshots_->publish(std::move(state));
  return {};
}

Result<std::string> KeySet::sign(std::string_view subject, std::string_view workspace) const {
  const TimePoint now = clock_->now();
  return sign(JwtClaims{config_.issuer, std::string(subject), std::string(workspace), now, now + config_.lifetime});
}

Result<std::string> KeySet::sign(const JwtClaims& claims) const {
  const auto snapshot = this->snapshot();
  const SigningKey* key = snapshot->active();
  if (!key) return Error{ErrorCode::not_found, "no active signing key"};
  const json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", key->kid}};
  json payload = {{"iss", claims.issuer},
                  {"sub", claims.subject},
                  {"workspace", claims.workspace},
                  {"default_workspace", claims.workspace},
                  {"iat", unix_seconds(claims.issued_at)},
                  {"exp", unix_seconds(claims.expires_at)}};
  if (claims.credentials_epoch != 0) payload["credentials_epoch"] = claims.credentials_epoch;
  std::string token = encode_segment(header) + '.' + encode_segment(payload);
  const auto signature = crypto::ed25519_sign(crypto::as_bytes(token), key->secret_key);
  token += '.';
  token += crypto::base64url_encode(signature);
  return token;
}

Result<JwtClaims> KeySet::verify(std::string_view token) const { return verify_with_reason(token, nullptr); }

Result<JwtClaims> KeySet::verify_with_reason(std::string_view token, std::string* reason) const {
  const auto fail = [reason](const char* why) -> Result<JwtClaims> {
    if (reason) *reason = why;
    return auth_failure();
  };
  if (token.size() > config_.max_token_bytes) return fail("token too large");
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail("not three segments");
  const std::string_view signed_part = token.substr(0, dot2);
  // One buffer for the three decoded segments (together at most 3/4 of the token): on the
  // stack for tokens of ordinary size.
  std::array<std::uint8_t, 2048> small_buffer;
  std::vector<std::uint8_t> large_buffer;
  std::uint8_t* buffer = small_buffer.data();
  if (token.size() > small_buffer.size()) {
    large_buffer.resize(token.size());
    buffer = large_buffer.data();
  }
  const auto header_size = decode_segment(token.substr(0, dot1), buffer);
  if (!header_size) return fail("segment is not canonical base64url");
  std::uint8_t* const payload_at = buffer + *header_size;
  const auto payload_size = decode_segment(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_at);
  if (!payload_size) return fail("segment is not canonical base64url");
  std::uint8_t* const signature_at = payload_at + *payload_size;
  const auto signature_size = decode_segment(token.substr(dot2 + 1), signature_at);
  if (!signature_size) return fail("segment is not canonical base64url");
  const std::string_view header_text = crypto::as_text({buffer, *header_size});
  const std::string_view payload_text = crypto::as_text({payload_at, *payload_size});
  const std::span<const std::uint8_t> signature(signature_at, *signature_size);

  std::array<Member, header_member_count> header;
  if (!ObjectScanner(header_names, header.size(), header.data()).scan(header_text))
    return fail("header is not a JSON object without duplicate keys");
  if (!header[h_alg].is_string() || header[h_alg].text != "EdDSA") return fail("alg is not EdDSA");
  if (header[h_crit].present()) return fail("crit header present");
  if (!header[h_kid].is_string()) return fail("kid missing");
  const std::string& kid = header[h_kid].text;

  const auto snapshot = this->snapshot();
  const TimePoint now = clock_->now();
  const SigningKey* key = nullptr;
  for (const auto& k : snapshot->keys) {
    if (k.kid != kid) continue;
    if (k.retired && *k.retired + config_.effective_grace() <= now) return fail("kid past its grace period");
    key = &k;
    break;
  }
  if (!key) return fail("unknown kid");
  if (!crypto::ed25519_verify(crypto::as_bytes(signed_part), signature, key->public_key))
    return fail("bad signature");

  std::array<Member, claim_member_count> claims;
  if (!ObjectScanner(claim_names, claims.size(), claims.data()).scan(payload_text))
    return fail("payload is not a JSON object without duplicate keys");
  const std::int64_t now_s = unix_seconds(now);
  const std::int64_t leeway = config_.leeway.count();
  const auto exp = numeric_date(claims[c_exp]);
  if (!exp) return fail("exp missing");
  if (*exp <= now_s - leeway) return fail("expired");
  for (const Member* m : {&claims[c_nbf], &claims[c_iat]}) {
    if (!m->present()) continue;
    const auto t = numeric_date(*m);
    if (!t) return fail("nbf or iat is not a number");
    if (*t > now_s + leeway) return fail("nbf or iat in the future");
  }
  if (!claims[c_iss].is_string() || claims[c_iss].text != config_.issuer) return fail("wrong issuer");
  Member& sub = claims[c_sub];
  if (!sub.present() || !absent_or_nonempty_string(sub)) return fail("sub missing");
  Member& workspace = claims[c_workspace];
  Member& default_workspace = claims[c_default_workspace];
  if (!absent_or_nonempty_string(workspace) || !absent_or_nonempty_string(default_workspace))
    return fail("workspace claim is not a non-empty string");
  if (!workspace.present() && !default_workspace.present()) return fail("no workspace claim");
  if (workspace.present() && default_workspace.present() && workspace.text != default_workspace.text)
    return fail("workspace claims disagree");
  const Member& epoch = claims[c_credentials_epoch];
  if (epoch.present() && epoch.kind != Member::Kind::unsigned_integer)
    return fail("credentials_epoch is not a non-negative integer");

  JwtClaims out;
  out.issuer = config_.issuer;
  out.subject = std::move(sub.text);
  out.workspace = std::move(workspace.present() ? workspace.text : default_workspace.text);
  out.issued_at = from_unix_seconds(numeric_date(claims[c_iat]).value_or(0));
  out.expires_at = from_unix_seconds(*exp);
  out.credentials_epoch = epoch.present() ? epoch.unsigned_integer : 0;
  out.kid = kid;
  return out;
}

Result<std::string> KeySet::active_public_pem() const {
  const auto snapshot = this->snapshot();
  const SigningKey* key = snapshot->active();
  if (!key) return Error{ErrorCode::not_found, "no signing key yet"};
  return public_key_to_pem(key->public_key);
}

std::string KeySet::jwks() const {
  const auto snapshot = this->snapshot();
  const TimePoint now = clock_->now();
  json keys = json::array();
  for (const auto& k : snapshot->keys) {
    if (k.retired && *k.retired + config_.effective_grace() <= now) continue;
    keys.push_back(jwk_object(k.public_key, k.kid));
  }
  return json{{"keys", keys}}.dump();
}

std::optional<std::string> KeySet::active_kid() const {
  const auto snapshot = this->snapshot();
  const SigningKey* key = snapshot->active();
  if (!key) return std::nullopt;
  return key->kid;
}

std::optional<TimePoint> KeySet::active_since() const {
  const auto snapshot = this->snapshot();
  const SigningKey* key = snapshot->active();
  if (!key) return std::nullopt;
  return key->activated;
}

std::optional<std::string> KeySet::next_kid() const {
  const auto snapshot = this->snapshot();
  const SigningKey* key = snapshot->next();
  if (!key) return std::nullopt;
  return key->kid;
}

}  // namespace iam
