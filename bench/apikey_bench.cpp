// API key authentication through the gateway kit's identity cache, against one SHA-256.
//
// BM_Sha256 hashes one API key with the library's SHA-256 (crypto::sha256, libsodium: the
// digest the gateway cache is keyed by and the roles regime stores keys under).
// BM_ApiKeyCached/N calls Enforcer::authenticate with N keys stored in memory storage and
// all N already cached; every iteration presents a different key picked at random among
// the N, so the cost of a large hash map (cache misses in the CPU, not in the identity
// cache) is part of the figure; the presented key's own bytes are prefetched (a request's
// credential is hot in the CPU cache), the cache's structures are not. A counting wrapper around the repository proves that the
// timed loop never reached storage, i.e. that every call was a cache hit.
//
// BM_ApiKeyFloor/N is the physical floor of the same question: one SHA-256 of the key, then
// one probe of an ideal table of N entries (32-byte slots of the digest's first 16 bytes
// and a pointer, linear probing at most 50 % full, in the caches' huge-page blocks), i.e.
// the digest plus about one main-memory access at a million. floor ÷ SHA-256 is the best
// ratio any cache could reach here; the gap between it and BM_ApiKeyCached is ours.
//
// cached_identity_bytes: the memory the gateway holds for its caches, divided by the
// identities cached, at the largest N: the growth of malloc's in-use bytes (mallinfo2:
// in-use chunks plus mmapped blocks) plus the cache tables' own huge-page blocks
// (gateway::table_bytes_mapped(), counted by the tables' allocator, which malloc does not
// see), from before the enforcer is made until every key is cached. So the tables' empty
// slots, the shared identity records and the enforcer itself are all in the figure.
//
// After the run:
//   RESULT sha256_ns, apikey_cached_ns_{1k,100k,1m}, apikey_cached_ratio_{1k,100k,1m},
//   apikey_floor_ns_{1k,100k,1m}, apikey_floor_ratio_{1k,100k,1m} (floor ÷ SHA-256),
//   cached_identity_bytes
// Flags (besides Google Benchmark's): --max-keys=N leaves out the sizes above N (for quick
// checks; cached_identity_bytes is then measured at the largest size left).
#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.h"
#include "credentials/api_key.h"
#include "crypto/crypto.h"
#include "gateway/caches.h"
#include "iam/gateway.h"
#include "iam/memory_store.h"
#include "iam/repository.h"

namespace {

// Memory in use: small chunks in every arena plus malloc's mmapped large blocks, plus
// the cache tables' huge-page blocks, which bypass malloc.
std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd + iam::gateway::table_bytes_mapped();
}

struct KeyedGateway {
  std::size_t n = 0;
  std::shared_ptr<bench::CountingRepository> repository;
  bench::RolesSetup roles;
  std::shared_ptr<iam::Enforcer> enforcer;
  std::string keys;  // n plaintexts of api_key_text_length characters, back to back
  double bytes_per_identity = -1;

  std::string_view key(std::size_t i) const {
    return std::string_view(keys).substr(i * bench::api_key_text_length, bench::api_key_text_length);
  }
};

// The floor's table: open addressing over 32-byte slots, a power of two at least twice N.
class FloorTable {
 public:
  struct Slot {
    iam::gateway::CacheKey key;
    const void* value = nullptr;  // nullptr: empty
    std::uint64_t expires = 0;  // never read: pads the slot to the 32 bytes of a real entry
  };
  static_assert(sizeof(Slot) == 32);

  FloorTable(const KeyedGateway& g) {
    capacity_ = 1;
    while (capacity_ < 2 * g.n) capacity_ *= 2;
    bytes_ = capacity_ * sizeof(Slot);
    slots_ = static_cast<Slot*>(iam::gateway::map_table_block(bytes_));  // zeroed: all empty
    for (std::size_t i = 0; i < g.n; ++i) {
      const auto key = iam::gateway::credential_key(g.key(i));
      std::size_t at = index_of(key);
      while (slots_[at].value) at = (at + 1) & (capacity_ - 1);
      slots_[at] = Slot{key, &g, ~std::uint64_t{0}};
    }
  }
  ~FloorTable() { iam::gateway::unmap_table_block(slots_, bytes_); }
  FloorTable(const FloorTable&) = delete;
  FloorTable& operator=(const FloorTable&) = delete;

  const void* find(std::string_view credential) const {
    const auto key = iam::gateway::credential_key(credential);
    for (std::size_t at = index_of(key);; at = (at + 1) & (capacity_ - 1)) {
      const Slot& slot = slots_[at];
      if (!slot.value) return nullptr;
      if (iam::gateway::CacheKeyEq{}(slot.key, key)) return slot.value;
    }
  }

 private:
  std::size_t index_of(const iam::gateway::CacheKey& key) const {
    return iam::gateway::CacheKeyHash{}(key) & (capacity_ - 1);
  }
  Slot* slots_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t bytes_ = 0;
};

std::map<std::size_t, std::unique_ptr<FloorTable>>& floors() {
  static std::map<std::size_t, std::unique_ptr<FloorTable>> all;
  return all;
}

std::map<std::size_t, std::unique_ptr<KeyedGateway>>& gateways() {
  static std::map<std::size_t, std::unique_ptr<KeyedGateway>> all;
  return all;
}

std::unique_ptr<KeyedGateway> build(std::size_t n) {
  const auto started = std::chrono::steady_clock::now();
  auto g = std::make_unique<KeyedGateway>();
  g->n = n;
  g->repository = std::make_shared<bench::CountingRepository>(iam::make_memory_repository());
  g->roles = bench::make_roles_setup({"reader"}, std::chrono::hours(24), g->repository);

  // The keys go straight into the repository (the regime's create-api-key would work too,
  // but one by one with its audit and checks it is much slower for a million). They are
  // stored exactly as create-api-key stores them: lowercase hex SHA-256 of the plaintext.
  const auto created = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  g->keys.reserve(n * bench::api_key_text_length);
  constexpr std::size_t chunk = 10'000;
  for (std::size_t first = 0; first < n; first += chunk) {
    iam::Change change;
    for (std::size_t i = first; i < std::min(n, first + chunk); ++i) {
      const std::string text = bench::api_key_text(i);
      g->keys += text;
      iam::StoredApiKey key;
      char id[48];
      std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012zx", i);  // shaped like the regime's UUIDs
      key.record.id = id;
      key.record.user_id = g->roles.user_id;
      key.record.name = "bench";
      key.record.prefix = iam::credentials::api_key_display_prefix(text);
      key.record.created = created;
      key.key_hash = iam::credentials::api_key_hash(text);
      change.emplace_back(iam::mutation::InsertApiKey{std::move(key)});
    }
    if (auto s = g->repository->apply(change); !s.ok()) bench::fail("inserting API keys: " + s.error().message);
  }

  const std::size_t heap_before = heap_in_use();  // before the enforcer and its caches exist
  iam::GatewayConfig config;
  config.regime = g->roles.regime;
  config.logger = iam::null_logger();
  // Long TTLs so nothing expires during the run; the system clock, as in production.
  config.authentication_ttl = std::chrono::hours(24);
  config.decision_ttl = std::chrono::hours(24);
  // Room for every key: the bound is split evenly between shards and the keys are not,
  // so leave headroom rather than have a full shard evict.
  config.authentication_cache_entries = n + n / 4 + 1024;
  auto enforcer = iam::make_enforcer(std::move(config));
  if (!enforcer) bench::fail("make_enforcer: " + enforcer.error().message);
  g->enforcer = std::move(*enforcer);
  const auto seeded = std::chrono::steady_clock::now();

  // Warm-up: every key authenticated once (a miss each, stored in the cache). The memory
  // growth since before make_enforcer is what the caches hold (the regime's temporaries
  // are freed).
  for (std::size_t i = 0; i < n; ++i) {
    auto identity = g->enforcer->authenticate(g->key(i));
    if (!identity || identity->handle != g->roles.user_id) bench::fail("a stored API key did not authenticate");
  }
  const std::size_t heap_after = heap_in_use();
  if (g->enforcer->cached_identities() != n) bench::fail("the identity cache does not hold every key");
  g->bytes_per_identity = static_cast<double>(heap_after - heap_before) / static_cast<double>(n);

  // A second pass must not reach storage: every key is a hit now.
  const std::uint64_t lookups = g->repository->key_lookups();
  for (std::size_t i = 0; i < n; ++i)
    if (!g->enforcer->authenticate(g->key(i))) bench::fail("a cached API key did not authenticate");
  if (g->repository->key_lookups() != lookups) bench::fail("warmed keys missed the cache");

  const auto warmed = std::chrono::steady_clock::now();
  using ms = std::chrono::milliseconds;
  std::fprintf(stderr, "setup N=%zu: seeding %lld ms, warm-up %lld ms, %.1f bytes per cached identity\n", n,
               static_cast<long long>(std::chrono::duration_cast<ms>(seeded - started).count()),
               static_cast<long long>(std::chrono::duration_cast<ms>(warmed - seeded).count()), g->bytes_per_identity);
  return g;
}

// The random keys a timed loop presents, the same sequence for every loop of one size. A
// real credential has just been read off the socket, so its bytes are in the CPU cache:
// the next key is chosen one call ahead and prefetched, which leaves only the table's own
// memory accesses to miss.
class KeySequence {
 public:
  explicit KeySequence(const KeyedGateway& g) : g_(g), rng_(0x5eed0000 + g.n), next_(g.key(rng_.below(g.n))) {}
  std::string_view next() {
    const std::string_view key = next_;
    next_ = g_.key(rng_.below(g_.n));
    __builtin_prefetch(next_.data());
    __builtin_prefetch(next_.data() + next_.size() - 1);
    return key;
  }

 private:
  const KeyedGateway& g_;
  bench::Rng rng_;
  std::string_view next_;
};

void BM_Sha256(benchmark::State& state) {
  const std::string key = bench::api_key_text(123456);
  const auto bytes = iam::crypto::as_bytes(key);
  for (auto _ : state) {
    auto digest = iam::crypto::sha256(bytes);
    benchmark::DoNotOptimize(digest);
  }
  if (iam::credentials::api_key_hash(key) != iam::crypto::hex_encode(iam::crypto::sha256(bytes)))
    state.SkipWithError("sha256 disagrees with the API key hash");
}

void BM_ApiKeyCached(benchmark::State& state) {
  const KeyedGateway& g = *gateways().at(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t lookups = g.repository->key_lookups();
  KeySequence keys(g);
  for (auto _ : state) {
    const std::string_view credential = keys.next();
    auto identity = g.enforcer->authenticate(credential);
    if (!identity) {
      state.SkipWithError("a cached API key did not authenticate");
      break;
    }
    benchmark::DoNotOptimize(identity);
  }
  if (g.repository->key_lookups() != lookups) state.SkipWithError("the timed loop missed the cache");
}

void BM_ApiKeyFloor(benchmark::State& state) {
  const KeyedGateway& g = *gateways().at(static_cast<std::size_t>(state.range(0)));
  const FloorTable& table = *floors().at(g.n);
  KeySequence keys(g);  // the same sequence of keys as BM_ApiKeyCached
  for (auto _ : state) {
    const std::string_view credential = keys.next();
    const void* found = table.find(credential);
    if (found != &g) {
      state.SkipWithError("the floor's table did not find a key");
      break;
    }
    benchmark::DoNotOptimize(found);
  }
}

const char* size_label(std::size_t n) {
  switch (n) {
    case 1'000: return "1k";
    case 100'000: return "100k";
    case 1'000'000: return "1m";
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t max_keys = std::stoull(bench::take_flag(argc, argv, "max-keys", "1000000"));
  if (!bench::initialise(argc, argv, 10)) return 1;

  benchmark::RegisterBenchmark("BM_Sha256", BM_Sha256);
  std::vector<std::size_t> sizes;
  for (std::size_t n : {1'000, 100'000, 1'000'000})
    if (n <= max_keys) sizes.push_back(n);
  if (sizes.empty()) bench::fail("--max-keys leaves no size to run");
  for (std::size_t n : sizes) {
    gateways()[n] = build(n);  // before any timing
    benchmark::RegisterBenchmark("BM_ApiKeyCached", BM_ApiKeyCached)->Arg(static_cast<std::int64_t>(n));
  }
  // After every gateway is built, so the floor's tables are not in cached_identity_bytes.
  for (std::size_t n : sizes) {
    floors()[n] = std::make_unique<FloorTable>(*gateways().at(n));
    benchmark::RegisterBenchmark("BM_ApiKeyFloor", BM_ApiKeyFloor)->Arg(static_cast<std::int64_t>(n));
  }

  bench::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const double sha = reporter.seconds_of("BM_Sha256");
  if (sha > 0) bench::result("sha256_ns", sha * 1e9);
  for (std::size_t n : sizes) {
    const double cached = reporter.seconds_of("BM_ApiKeyCached/" + std::to_string(n));
    if (cached <= 0) continue;
    bench::result(std::string("apikey_cached_ns_") + size_label(n), cached * 1e9);
    if (sha > 0) bench::result(std::string("apikey_cached_ratio_") + size_label(n), cached / sha);
  }
  for (std::size_t n : sizes) {
    const double floor = reporter.seconds_of("BM_ApiKeyFloor/" + std::to_string(n));
    if (floor <= 0) continue;
    bench::result(std::string("apikey_floor_ns_") + size_label(n), floor * 1e9);
    if (sha > 0) bench::result(std::string("apikey_floor_ratio_") + size_label(n), floor / sha);
  }
  const KeyedGateway& largest = *gateways().at(sizes.back());
  if (largest.n != 1'000'000)
    std::fprintf(stderr, "note: cached_identity_bytes measured with %zu identities, not 1000000\n", largest.n);
  bench::result("cached_identity_bytes", largest.bytes_per_identity);
  return 0;
}
