// Checkpoint cost against how much changed (issue 4; PBFT.md "Checkpoints
// and garbage collection"): a KV store of 1,000,000 keys (16-byte keys,
// 100-byte values, ~116 MB of key and value bytes), with 1% or 100% of the
// keys rewritten since the previous checkpoint. The claim to check: the cost
// grows with what changed, not with the size of the state.
//
// Timed is what a replica does at a checkpoint (src/core/checkpoint.cpp,
// take_checkpoint): snapshot the service (copy-on-write), take the dirty
// partitions, read each from the snapshot and hash it into its leaf
// (digest("pbft/state-leaf/v1" || le64 index || bytes)), update the digest
// tree, keep a copy of the tree to serve the checkpoint from, and sign the
// CHECKPOINT. Not timed: executing the writes (that is execution's cost,
// copy-on-write copies included) and releasing the previous snapshot.
//
// The partition count decides how many buckets a few writes dirty. With B
// buckets and c changed keys, about B (1 - e^(-c/B)) buckets are dirty: for
// c = 10,000 (1%), 2^16 buckets are 14% dirty, 2^18 are 3.7%, 2^20 are
// 0.95%. More buckets mean less rehashing per changed key but a larger tree
// (leaves + leaves/15 digests) and more per-bucket overhead; 2^18 (~4 keys,
// ~500 bytes per bucket) is the middle of that trade-off, and the runs
// below show all three.
//
// Crypto: BLAKE2b through libsodium (what a replica uses) and the simulator's
// fake (a fast multiply-mix hash), to separate hashing from everything else.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "pbft/constants.h"
#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/messages.h"
#include "pbft/wire.h"
#include "src/core/state_tree.h"

namespace pbft {
namespace {

// The states measured here (up to 1 GiB, one writer) are above the store's
// default limits, which bound what clients may make a replica hold.
kv::Limits unlimited() {
  kv::Limits limits;
  limits.bytes_max = uint64_t{1} << 40;
  limits.client_bytes_max = uint64_t{1} << 40;
  return limits;
}

constexpr uint64_t key_count = 1'000'000;
constexpr size_t key_size = 16;
constexpr size_t value_size = 100;

Bytes key_of(uint64_t i) {
  Bytes key(key_size);
  const uint64_t mixed = i * 0x9e3779b97f4a7c15ull;
  for (int b = 0; b < 8; b++) {
    key[b] = static_cast<uint8_t>(i >> (8 * b));
    key[8 + b] = static_cast<uint8_t>(mixed >> (8 * b));
  }
  return key;
}

Bytes value_of(uint64_t i, uint64_t version) {
  Bytes value(value_size, static_cast<uint8_t>(version));
  for (int b = 0; b < 8; b++) value[b] = static_cast<uint8_t>(i >> (8 * b));
  return value;
}

// The replica's leaf digest (ReplicaState::leaf_digest), including its copy
// of the bytes behind the domain and index.
Digest leaf_digest(const Crypto& crypto, uint64_t leaf, const Bytes& bytes) {
  static constexpr char domain[] = "pbft/state-leaf/v1";
  Bytes prefixed(domain, domain + sizeof(domain) - 1);
  for (int b = 0; b < 8; b++) prefixed.push_back(static_cast<uint8_t>(leaf >> (8 * b)));
  prefixed.insert(prefixed.end(), bytes.begin(), bytes.end());
  return crypto.digest(prefixed);
}

std::unique_ptr<Crypto> make_crypto(bool real) {
  constexpr uint32_t n = 4;
  if (!real) return fake::make_crypto(Principal::replica(0), 1, n, 0);
  sodium::initialize();
  auto directory = std::make_shared<KeyDirectory>();
  std::vector<KeyPair> keys;
  for (uint32_t i = 0; i < n; i++) {
    keys.push_back(sodium::generate_keypair());
    directory->replicas.push_back(keys.back().public_key);
  }
  auto crypto = sodium::make_crypto(Principal::replica(0), keys[0].secret_key, directory);
  if (!crypto) std::abort();
  return std::move(crypto.value());
}

// One replica's service and digest tree, loaded and hashed like a replica
// that just started (ReplicaState's constructor). The tree has the reply
// table's partitions after the service's, as a replica's does; they stay
// clean here.
struct Checkpointer {
  Checkpointer(uint64_t partitions, bool real_crypto)
      : crypto(make_crypto(real_crypto)), store(partitions, unlimited()) {
    for (uint64_t i = 0; i < key_count; i++) {
      store.apply(0, {kv::OpType::put, key_of(i), value_of(i, 0)});
    }
    std::vector<uint64_t> ignored;
    store.take_dirty_partitions(ignored);
    const uint64_t leaves = partitions + constants::reply_partitions;
    tree = StateTree(leaves, Digest{}, *crypto);
    const Bytes empty_reply_partition{0, 0, 0, 0};
    for (uint64_t leaf = 0; leaf < leaves; leaf++) {
      const Bytes bytes = leaf < partitions ? store.read_partition(std::nullopt, leaf)
                                            : empty_reply_partition;
      tree.set_leaf(leaf, leaf_digest(*crypto, leaf, bytes));
    }
    tree.update(*crypto);
  }

  // Rewrites `count` keys (all of them when count == key_count; otherwise
  // distinct keys drawn at random).
  void execute_writes(uint64_t count) {
    version++;
    if (count >= key_count) {
      for (uint64_t i = 0; i < key_count; i++) {
        store.apply(0, {kv::OpType::put, key_of(i), value_of(i, version)});
      }
      return;
    }
    std::vector<uint64_t> chosen(key_count);
    for (uint64_t i = 0; i < key_count; i++) chosen[i] = i;
    for (uint64_t i = 0; i < count; i++) {  // a partial Fisher-Yates shuffle
      std::swap(chosen[i], chosen[i + rng() % (key_count - i)]);
      store.apply(0, {kv::OpType::put, key_of(chosen[i]), value_of(chosen[i], version)});
    }
  }

  // The checkpoint at s. Returns how long each part took.
  struct Timing {
    double total_s = 0, rehash_s = 0, tree_s = 0;
    uint64_t dirty = 0, bytes_hashed = 0;
  };
  Timing checkpoint(Seq s) {
    using clock = std::chrono::steady_clock;
    Timing t;
    const auto start = clock::now();
    store.snapshot(s);
    dirty.clear();
    store.take_dirty_partitions(dirty);
    for (uint64_t leaf : dirty) {
      const Bytes bytes = store.read_partition(s, leaf);
      t.bytes_hashed += bytes.size();
      tree.set_leaf(leaf, leaf_digest(*crypto, leaf, bytes));
    }
    const auto rehashed = clock::now();
    tree.update(*crypto);
    const auto updated = clock::now();
    held_tree = tree;  // kept to serve fetches of this checkpoint
    Checkpoint message{s, tree.root(), 0, {}};
    message.signature = crypto->sign(wire::auth_payload(message));
    benchmark::DoNotOptimize(message);
    const auto end = clock::now();
    t.total_s = std::chrono::duration<double>(end - start).count();
    t.rehash_s = std::chrono::duration<double>(rehashed - start).count();
    t.tree_s = std::chrono::duration<double>(updated - rehashed).count();
    t.dirty = dirty.size();
    return t;
  }

  std::unique_ptr<Crypto> crypto;
  kv::Store store;
  StateTree tree;
  StateTree held_tree;
  std::vector<uint64_t> dirty;
  std::mt19937_64 rng{2024};
  uint64_t version = 0;
};

// Args: log2 of the partition count, percent of keys changed, real crypto.
void BM_Checkpoint(benchmark::State& state) {
  const uint64_t partitions = uint64_t{1} << state.range(0);
  const uint64_t changed = key_count * static_cast<uint64_t>(state.range(1)) / 100;
  Checkpointer replica(partitions, state.range(2) != 0);
  Seq s = 0;
  double rehash_s = 0, tree_s = 0;
  uint64_t dirty = 0, bytes_hashed = 0;
  for (auto _ : state) {
    replica.execute_writes(changed);
    s += 128;
    const Checkpointer::Timing t = replica.checkpoint(s);
    state.SetIterationTime(t.total_s);
    rehash_s += t.rehash_s;
    tree_s += t.tree_s;
    dirty += t.dirty;
    bytes_hashed += t.bytes_hashed;
    // The previous checkpoint is garbage once this one is stable.
    replica.store.release_snapshots_below(s);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dirty_partitions"] = static_cast<double>(dirty) / n;
  state.counters["dirty_pct"] =
      100.0 * static_cast<double>(dirty) / n / static_cast<double>(partitions);
  state.counters["MB_hashed"] = static_cast<double>(bytes_hashed) / n / 1e6;
  state.counters["rehash_ms"] = 1e3 * rehash_s / n;
  state.counters["tree_ms"] = 1e3 * tree_s / n;
}

// Each run loads a fresh store (a few seconds), so iteration counts are
// fixed rather than estimated.
BENCHMARK(BM_Checkpoint)
    ->ArgNames({"log2_partitions", "changed_pct", "real_crypto"})
    ->ArgsProduct({{16, 18, 20}, {1}, {0, 1}})
    ->Iterations(20)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Checkpoint)
    ->ArgNames({"log2_partitions", "changed_pct", "real_crypto"})
    ->ArgsProduct({{16, 18, 20}, {100}, {0, 1}})
    ->Iterations(4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pbft
