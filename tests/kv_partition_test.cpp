// The KV store as a partitioned service (include/pbft/service.h, kv.h): the
// bucket hash, the canonical bucket encoding that checkpoint digests and state
// transfer rely on, installing fetched buckets, dirty tracking and the
// copy-on-write snapshots a replica serves checkpoints from (PBFT.md
// "Checkpoints and garbage collection", "State transfer").

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pbft/kv.h"
#include "pbft/partitioned_state.h"

namespace pbft::kv {
namespace {

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }

Op put_op(const Bytes& key, std::string_view value) { return {OpType::put, key, b(value)}; }
Op get_op(const Bytes& key) { return {OpType::get, key, {}}; }
Op del_op(const Bytes& key) { return {OpType::del, key, {}}; }
Op append_op(const Bytes& key, std::string_view value) { return {OpType::append, key, b(value)}; }

void append_u32(Bytes& out, uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A bucket encoded by hand, as kv.h specifies it: count u32, then per key
// (in the order given, which tests may get wrong on purpose) key length u32,
// key, owner u32 (client 0 here), value length u32, value.
Bytes encode_bucket(const std::vector<std::pair<Bytes, Bytes>>& entries) {
  Bytes out;
  append_u32(out, entries.size());
  for (const auto& [key, value] : entries) {
    append_u32(out, key.size());
    out.insert(out.end(), key.begin(), key.end());
    append_u32(out, 0);
    append_u32(out, value.size());
    out.insert(out.end(), value.begin(), value.end());
  }
  return out;
}

// The first `count` keys "<prefix><i>" that hash into bucket `index`.
std::vector<Bytes> keys_in_bucket(uint64_t partitions, uint64_t index, size_t count,
                                  const std::string& prefix = "k") {
  std::vector<Bytes> keys;
  for (uint64_t i = 0; keys.size() < count; ++i) {
    Bytes key = b(prefix + std::to_string(i));
    if (Store::partition_of(key, partitions) == index) keys.push_back(std::move(key));
  }
  return keys;
}

// A key of `size` bytes that hashes into bucket `index`.
Bytes key_of_size_in_bucket(size_t size, uint64_t partitions, uint64_t index) {
  Bytes key(size, 'x');
  for (uint64_t i = 0;; ++i) {
    for (size_t k = 0; k < std::min<size_t>(8, size); ++k) {
      key[k] = static_cast<uint8_t>(i >> (8 * k));
    }
    if (Store::partition_of(key, partitions) == index) return key;
  }
}

// Every bucket's encoding in the current state.
std::vector<Bytes> all_partitions(const Store& store, std::optional<Seq> snapshot = std::nullopt) {
  std::vector<Bytes> out;
  for (uint64_t i = 0; i < store.partition_count(); ++i) {
    out.push_back(store.read_partition(snapshot, i));
  }
  return out;
}

std::vector<uint64_t> take_dirty(Store& store) {
  std::vector<uint64_t> dirty;
  store.take_dirty_partitions(dirty);
  return dirty;
}

// --- partition_of -----------------------------------------------------------

// The bucket of a key is part of the replicated state's layout: every replica
// of a cluster, on any platform and any build, must compute the same one, or
// their checkpoint digests differ. These values come from an independent
// implementation of SipHash-2-4 (checked against the reference vectors of
// Aumasson and Bernstein's paper), with the all-zero key and with 00..0f.
TEST(KvPartition, PartitionOfIsPinned) {
  constexpr uint64_t all = std::numeric_limits<uint64_t>::max();  // h % (2^64-1) is h here
  EXPECT_EQ(Store::partition_of(b(""), all), 0x1e924b9d737700d7ull);
  EXPECT_EQ(Store::partition_of(b("a"), all), 0x96c20860cd93a249ull);
  EXPECT_EQ(Store::partition_of(b("key"), all), 0x6a3ab4165861bf49ull);
  EXPECT_EQ(Store::partition_of(b("k0"), all), 0xbdc3cc54b337d405ull);
  EXPECT_EQ(Store::partition_of(Bytes{0x00, 0xff}, all), 0x3f9f87dd1d07ed48ull);

  EXPECT_EQ(Store::partition_of(b(""), Store::default_partitions), 215u);
  EXPECT_EQ(Store::partition_of(b("a"), Store::default_partitions), 585u);
  EXPECT_EQ(Store::partition_of(b("key"), Store::default_partitions), 3913u);
  EXPECT_EQ(Store::partition_of(b("k0"), Store::default_partitions), 1029u);
  EXPECT_EQ(Store::partition_of(Bytes{0x00, 0xff}, Store::default_partitions), 3400u);
  EXPECT_EQ(Store::partition_of(b("key"), 7), 5u);
  EXPECT_EQ(Store::partition_of(b("key"), 1), 0u);

  BucketKey key{};
  for (size_t i = 0; i < key.size(); i++) key[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Store::partition_of(b("key"), all, key), 0xec0271bc30fd5a31ull);
  EXPECT_EQ(Store::partition_of(b("key"), Store::default_partitions, key), 2609u);
}

// A key the clients do not know moves every key's bucket: a client that
// computed colliding keys under one key has scattered keys under another.
TEST(KvPartition, TheBucketKeyDecidesTheBuckets) {
  BucketKey secret{};
  secret[0] = 1;
  const auto aimed = keys_in_bucket(Store::default_partitions, 7, 64);
  Store keyed(Store::default_partitions, Limits{}, secret);
  size_t still_in_7 = 0;
  for (const Bytes& k : aimed) still_in_7 += keyed.partition_of(k) == 7;
  EXPECT_LE(still_in_7, 2u);
}

// Pearson's chi-squared statistic of `counts` against a uniform spread.
double chi_squared(const std::vector<uint64_t>& counts, uint64_t total) {
  const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
  double chi2 = 0;
  for (uint64_t c : counts) {
    const double d = static_cast<double>(c) - expected;
    chi2 += d * d / expected;
  }
  return chi2;
}

// Keys spread evenly over buckets, so a checkpoint after a few writes
// touches few buckets and a state transfer moves little. Both a textual key
// pattern and the fixed-width binary counters a benchmark would use are
// checked. For B buckets the statistic has mean B-1 and standard deviation
// sqrt(2(B-1)) (about 90 for 4096): six deviations above the mean would
// reject a uniform hash with probability below 1e-8, and a clustered one
// (say, only the low byte of the key mattering) lands orders of magnitude
// above it.
TEST(KvPartition, KeysSpreadEvenlyOverBuckets) {
  constexpr uint64_t buckets = Store::default_partitions;
  constexpr uint64_t keys = 200'000;
  const double bound = (buckets - 1) + 6 * std::sqrt(2.0 * (buckets - 1));
  std::vector<uint64_t> textual(buckets, 0), binary(buckets, 0);
  for (uint64_t i = 0; i < keys; ++i) {
    textual[Store::partition_of(b("user:" + std::to_string(i)), buckets)]++;
    Bytes key(16, 0);
    for (int k = 0; k < 8; ++k) key[k] = static_cast<uint8_t>(i >> (8 * k));
    binary[Store::partition_of(key, buckets)]++;
  }
  EXPECT_LT(chi_squared(textual, keys), bound);
  EXPECT_LT(chi_squared(binary, keys), bound);
  // No bucket is empty or holds twice its share (expected ~49 each).
  for (const auto* counts : {&textual, &binary}) {
    for (uint64_t c : *counts) {
      EXPECT_GT(c, 0u);
      EXPECT_LT(c, 2 * keys / buckets);
    }
  }

  // A partition count that is not a power of two spreads just as well.
  std::vector<uint64_t> seven(7, 0);
  for (uint64_t i = 0; i < 70'000; ++i) seven[Store::partition_of(b(std::to_string(i)), 7)]++;
  for (uint64_t c : seven) EXPECT_NEAR(static_cast<double>(c), 10'000.0, 300.0);
}

// --- read_partition ---------------------------------------------------------

TEST(KvPartition, BucketEncodingLayoutIsPinned) {
  Store store(1);  // one bucket: every key lands in it
  EXPECT_EQ(store.read_partition(std::nullopt, 0), (Bytes{0, 0, 0, 0}));
  store.apply(0, put_op(b("b"), "xy"));
  store.apply(0x0102, put_op(b("a"), ""));
  // Keys in byte order whatever the insertion order; lengths and owners
  // (the client that wrote the key) little-endian.
  const Bytes expected{2, 0, 0, 0,                               // count
                       1, 0, 0, 0, 'a', 2, 1, 0, 0, 0, 0, 0, 0,  // "a" -> "", client 0x0102
                       1, 0, 0, 0, 'b', 0, 0, 0, 0, 2, 0, 0, 0, 'x', 'y'};
  EXPECT_EQ(store.read_partition(std::nullopt, 0), expected);
}

// Equal contents give equal bytes however they came about: insertion order,
// overwrites, deletes and re-inserts, appends. Checkpoint digests of correct
// replicas depend on it.
TEST(KvPartition, EncodingIsCanonicalWhateverTheHistory) {
  constexpr uint64_t partitions = 32;
  std::vector<Bytes> keys;
  for (int i = 0; i < 500; ++i) keys.push_back(b("key-" + std::to_string(i)));

  Store forward(partitions);
  for (const Bytes& k : keys) forward.apply(0, put_op(k, "v" + to_string(k)));

  Store shuffled(partitions);
  std::vector<Bytes> order = keys;
  std::mt19937_64 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  for (const Bytes& k : order) shuffled.apply(0, put_op(k, "stale"));     // overwritten below
  for (size_t i = 0; i < order.size(); i += 3) shuffled.apply(0, del_op(order[i]));
  for (const Bytes& k : order) {
    shuffled.apply(0, put_op(k, "v"));
    shuffled.apply(0, append_op(k, to_string(k)));  // "v" + key, by another route
  }

  ASSERT_EQ(forward.size(), shuffled.size());
  EXPECT_EQ(all_partitions(forward), all_partitions(shuffled));
}

// --- install_partition ------------------------------------------------------

// Reading every bucket of one store and installing it into another gives an
// equal store, whatever the second one held before.
TEST(KvPartition, InstallRoundTrip) {
  constexpr uint64_t partitions = 64;
  Store source(partitions);
  for (int i = 0; i < 2000; ++i) {
    const std::string value(i % 50, static_cast<char>('a' + i % 26));
    source.apply(0, put_op(b("k" + std::to_string(i)), value));
  }
  Store target(partitions);
  for (int i = 0; i < 300; ++i) target.apply(0, put_op(b("other" + std::to_string(i)), "x"));
  for (int i = 0; i < 2000; i += 7) target.apply(0, put_op(b("k" + std::to_string(i)), "old"));

  for (uint64_t p = 0; p < partitions; ++p) {
    Status s = target.install_partition(p, source.read_partition(std::nullopt, p));
    ASSERT_TRUE(s.is_ok()) << p << ": " << s.reason();
  }
  EXPECT_EQ(target.size(), source.size());
  EXPECT_EQ(target.size(), 2000u);
  for (int i = 0; i < 2000; ++i) {
    const Bytes key = b("k" + std::to_string(i));
    EXPECT_EQ(target.get(key), source.get(key)) << i;
  }
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(target.get(b("other" + std::to_string(i))), std::nullopt);
  }
  EXPECT_EQ(all_partitions(target), all_partitions(source));
}

// What a failed install must leave alone: contents, size, dirty set.
struct StoreImage {
  std::vector<Bytes> partitions;
  size_t size;
  friend bool operator==(const StoreImage&, const StoreImage&) = default;
};
StoreImage image(const Store& store) { return {all_partitions(store), store.size()}; }

// A bucket from state transfer is checked (it matched a proven digest, so it
// comes from correct replicas, but the check is cheap and keeps the store's
// invariants local), and a bad one changes nothing.
TEST(KvPartition, InstallRejectsMalformedBucketsAndChangesNothing) {
  constexpr uint64_t partitions = 8;
  constexpr uint64_t index = 3;
  Store store(partitions);
  for (int i = 0; i < 200; ++i) store.apply(0, put_op(b("k" + std::to_string(i)), "value"));
  (void)take_dirty(store);
  const StoreImage before = image(store);
  ASSERT_FALSE(store.read_partition(std::nullopt, index).empty());

  std::vector<Bytes> sorted = keys_in_bucket(partitions, index, 2, "fresh");
  std::sort(sorted.begin(), sorted.end());
  const Bytes& k0 = sorted[0];
  const Bytes& k1 = sorted[1];
  Bytes wrong_bucket_key;
  for (uint64_t i = 0;; ++i) {
    wrong_bucket_key = b("w" + std::to_string(i));
    if (Store::partition_of(wrong_bucket_key, partitions) != index) break;
  }
  // Over-limit keys that hash into the bucket, so that only the limit is wrong.
  const Bytes long_key = key_of_size_in_bucket(key_size_max + 1, partitions, index);
  const Bytes long_value(value_size_max + 1, 'v');

  const Bytes good = encode_bucket({{k0, b("a")}, {k1, b("b")}});
  ASSERT_TRUE(Store(partitions).install_partition(index, good).is_ok()) << "the control is valid";

  Bytes count_too_large = good;
  count_too_large[0] = 0xff;
  count_too_large[1] = 0xff;
  count_too_large[2] = 0xff;
  count_too_large[3] = 0xff;
  Bytes count_one_more = good;
  count_one_more[0] = 3;
  Bytes key_length_beyond_buffer = good;
  key_length_beyond_buffer[4] = 0xff;  // first key length
  Bytes trailing = good;
  trailing.push_back(0);

  struct Case {
    const char* what;
    uint64_t index;
    Bytes bytes;
  };
  std::vector<Case> cases = {
      {"empty", index, {}},
      {"truncated count", index, {1, 0, 0}},
      {"count over the entries", index, count_one_more},
      {"count over what the bytes could hold", index, count_too_large},
      {"key length beyond the buffer", index, key_length_beyond_buffer},
      {"trailing bytes", index, trailing},
      {"key in the wrong bucket", index, encode_bucket({{k0, b("a")}, {wrong_bucket_key, b("b")}})},
      {"keys out of order", index, encode_bucket({{k1, b("b")}, {k0, b("a")}})},
      {"duplicate key", index, encode_bucket({{k0, b("a")}, {k0, b("b")}})},
      {"key over key_size_max", index, encode_bucket({{long_key, b("a")}})},
      {"value over value_size_max", index, encode_bucket({{k0, long_value}})},
      {"index out of range", partitions, good},
      // A good entry followed by a bad one: nothing of it is installed.
      {"good then bad", index,
       encode_bucket({{k0, b("a")}, {k1, b("b")}, {wrong_bucket_key, b("c")}})},
  };
  // Every strict prefix of a valid non-empty bucket is truncated.
  for (size_t n = 0; n < good.size(); ++n) {
    const Bytes prefix(good.begin(), good.begin() + static_cast<ptrdiff_t>(n));
    cases.push_back({"prefix", index, prefix});
  }
  for (const Case& c : cases) {
    Status s = store.install_partition(c.index, c.bytes);
    EXPECT_FALSE(s.is_ok()) << c.what << " (" << c.bytes.size() << " bytes)";
    EXPECT_FALSE(s.reason().empty()) << c.what;
    EXPECT_TRUE(image(store) == before) << c.what;
    EXPECT_TRUE(take_dirty(store).empty()) << c.what;
  }

  // The limits are inclusive: a key of exactly key_size_max and a value of
  // exactly value_size_max are fine.
  const Bytes max_key = key_of_size_in_bucket(key_size_max, partitions, index);
  const Bytes max_value(value_size_max, 'v');
  Store fresh(partitions);
  EXPECT_TRUE(fresh.install_partition(index, encode_bucket({{k0, max_value}})).is_ok());
  EXPECT_TRUE(fresh.install_partition(index, encode_bucket({{max_key, b("")}})).is_ok());
  EXPECT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh.get(max_key), b(""));
}

// An empty bucket installs over a full one: the keys go and size() follows.
TEST(KvPartition, InstallingAnEmptyBucketClearsIt) {
  constexpr uint64_t partitions = 4;
  Store store(partitions);
  for (const Bytes& k : keys_in_bucket(partitions, 1, 10)) store.apply(0, put_op(k, "v"));
  for (const Bytes& k : keys_in_bucket(partitions, 2, 5)) store.apply(0, put_op(k, "v"));
  ASSERT_EQ(store.size(), 15u);
  ASSERT_TRUE(store.install_partition(1, Bytes{0, 0, 0, 0}).is_ok());
  EXPECT_EQ(store.size(), 5u);
  for (const Bytes& k : keys_in_bucket(partitions, 1, 10)) EXPECT_EQ(store.get(k), std::nullopt);
  for (const Bytes& k : keys_in_bucket(partitions, 2, 5)) EXPECT_EQ(store.get(k), b("v"));
}

// --- take_dirty_partitions --------------------------------------------------

// A checkpoint rehashes exactly the buckets written since the previous one:
// reads, deletes of absent keys and rejected writes mark nothing (else a
// read-heavy load would cost as much as a write-heavy one); each written
// bucket is reported once, in increasing order.
TEST(KvPartition, DirtyPartitionsAreExactlyTheBucketsWritten) {
  constexpr uint64_t partitions = 64;
  Store store(partitions);
  EXPECT_TRUE(take_dirty(store).empty());

  const Bytes a = keys_in_bucket(partitions, 40, 1)[0];
  const std::vector<Bytes> in_5 = keys_in_bucket(partitions, 5, 3);
  store.apply(0, put_op(a, "1"));
  for (const Bytes& k : in_5) store.apply(0, put_op(k, "1"));
  EXPECT_EQ(take_dirty(store), (std::vector<uint64_t>{5, 40}));
  EXPECT_TRUE(take_dirty(store).empty()) << "taking clears the set";

  // Reads and no-ops.
  store.apply(0, get_op(a));
  store.apply(0, get_op(b("absent")));
  store.apply(0, del_op(b("absent")));
  EXPECT_EQ(store.get(a), b("1"));
  EXPECT_TRUE(take_dirty(store).empty());

  // Writes that fail their limits change nothing and mark nothing.
  const Bytes big_key(key_size_max + 1, 'k');
  EXPECT_EQ(store.apply(0, put_op(big_key, "v")).code, Code::too_large);
  EXPECT_EQ(store.apply(0, {OpType::put, a, Bytes(value_size_max + 1, 'v')}).code, Code::too_large);
  store.apply(0, {OpType::put, in_5[0], Bytes(value_size_max, 'v')});
  (void)take_dirty(store);
  EXPECT_EQ(store.apply(0, append_op(in_5[0], "x")).code, Code::too_large);
  EXPECT_TRUE(take_dirty(store).empty());

  // Execute with a malformed operation marks nothing either.
  std::vector<Bytes> results;
  const Bytes garbage{0x77};
  const Operation malformed{1, 1, garbage};
  store.execute(1, {&malformed, 1}, results);
  EXPECT_TRUE(take_dirty(store).empty());

  // Each kind of write marks its bucket.
  const Bytes c = keys_in_bucket(partitions, 63, 1)[0];
  const Bytes d = keys_in_bucket(partitions, 0, 1)[0];
  store.apply(0, del_op(a));                  // 40
  store.apply(0, append_op(c, "new"));        // 63: creates
  store.apply(0, append_op(in_5[1], "more")); // 5: extends
  store.apply(0, put_op(d, "1"));             // 0
  EXPECT_EQ(take_dirty(store), (std::vector<uint64_t>{0, 5, 40, 63}));

  // So does an install, and a failed one does not.
  ASSERT_TRUE(store.install_partition(17, Bytes{0, 0, 0, 0}).is_ok());
  EXPECT_FALSE(store.install_partition(18, Bytes{1, 0, 0, 0}).is_ok());
  EXPECT_EQ(take_dirty(store), (std::vector<uint64_t>{17}));

  // take_dirty_partitions appends to what the caller passed.
  store.apply(0, put_op(a, "2"));
  std::vector<uint64_t> out{999};
  store.take_dirty_partitions(out);
  EXPECT_EQ(out, (std::vector<uint64_t>{999, 40}));
}

// --- snapshots --------------------------------------------------------------

// A replica serves a checkpoint's buckets (to peers fetching it) while it
// executes past it: writes after snapshot(s) leave read_partition(s, i)
// as it was, for buckets written before and after the snapshot alike.
TEST(KvPartition, SnapshotsAreCopyOnWrite) {
  constexpr uint64_t partitions = 600;  // spans three copy-on-write pages
  Store store(partitions);
  for (int i = 0; i < 3000; ++i) store.apply(0, put_op(b("k" + std::to_string(i)), "a"));
  store.snapshot(10);
  const std::vector<Bytes> at_10 = all_partitions(store);
  EXPECT_EQ(all_partitions(store, 10), at_10);

  for (int i = 0; i < 3000; i += 2) store.apply(0, put_op(b("k" + std::to_string(i)), "b"));
  for (int i = 1; i < 3000; i += 10) store.apply(0, del_op(b("k" + std::to_string(i))));
  for (int i = 3; i < 3000; i += 10) store.apply(0, append_op(b("k" + std::to_string(i)), "c"));
  ASSERT_TRUE(store.install_partition(599, Bytes{0, 0, 0, 0}).is_ok());
  store.snapshot(20);
  const std::vector<Bytes> at_20 = all_partitions(store);
  ASSERT_NE(at_20, at_10);
  for (int i = 0; i < 3000; ++i) store.apply(0, put_op(b("k" + std::to_string(i)), "d"));

  EXPECT_EQ(all_partitions(store, 10), at_10);
  EXPECT_EQ(all_partitions(store, 20), at_20);
  EXPECT_NE(all_partitions(store), at_20);
  EXPECT_EQ(store.get(b("k0")), b("d"));

  // Snapshots below 20 go; 20 and the current state stay.
  store.release_snapshots_below(20);
  EXPECT_EQ(all_partitions(store, 20), at_20);
  EXPECT_EQ(store.get(b("k0")), b("d"));
}

// Reading a released snapshot is a broken invariant of the caller (the
// replica asks only for checkpoints it holds), which stays checked in
// release builds.
TEST(KvPartitionDeathTest, ReadingAReleasedSnapshotIsAnInvariantViolation) {
  Store store(4);
  store.apply(0, put_op(b("k"), "v"));
  store.snapshot(10);
  store.snapshot(20);
  store.release_snapshots_below(20);
  EXPECT_DEATH((void)store.read_partition(10, 0), "invariant violated");
  EXPECT_EQ(store.read_partition(20, 0), store.read_partition(std::nullopt, 0));
}

// A partition type that counts its live instances, to see what copy-on-write
// copies and what releasing a snapshot frees.
struct Counted {
  static inline int64_t live = 0;
  int value = 0;
  Counted() { live++; }
  Counted(const Counted& other) : value(other.value) { live++; }
  Counted& operator=(const Counted&) = default;
  ~Counted() { live--; }
};

// A snapshot copies no partition; the first write after it copies exactly
// the partition written (once); releasing the snapshot frees the copies it
// alone held.
TEST(KvPartition, SnapshotCopiesOnlyWhatIsWrittenAndReleaseFreesIt) {
  Counted::live = 0;
  {
    PartitionedState<Counted> state(1000);
    EXPECT_EQ(Counted::live, 1) << "every partition shares one empty instance";
    state.mutate(3).value = 1;  // not shared with a snapshot yet: copied from the empty one
    EXPECT_EQ(Counted::live, 2);
    state.snapshot(1);
    EXPECT_EQ(Counted::live, 2) << "a snapshot copies no partition";
    state.mutate(3).value = 2;
    state.mutate(3).value = 3;
    state.mutate(700).value = 4;
    EXPECT_EQ(Counted::live, 4) << "one copy per partition written, not per write";
    EXPECT_EQ(state.get(1, 3).value, 1);
    EXPECT_EQ(state.get(3).value, 3);
    EXPECT_EQ(state.get(1, 700).value, 0);

    state.snapshot(2);
    state.release_below(2);
    EXPECT_FALSE(state.has_snapshot(1));
    EXPECT_TRUE(state.has_snapshot(2));
    EXPECT_EQ(state.snapshot_count(), 1u);
    EXPECT_EQ(Counted::live, 3) << "the value only snapshot 1 held is freed";
    state.release_below(3);
    EXPECT_EQ(state.snapshot_count(), 0u);
    EXPECT_EQ(Counted::live, 3);
  }
  EXPECT_EQ(Counted::live, 0);
}

// --- size() -----------------------------------------------------------------

// size() counts keys through every kind of change, installs included,
// checked against a plain map driven by the same random operations.
TEST(KvPartition, SizeStaysRightAcrossPutDeleteAppendAndInstall) {
  constexpr uint64_t partitions = 16;
  Store store(partitions);
  Store donor(partitions);  // buckets to install from
  std::map<Bytes, Bytes> model;
  std::map<Bytes, Bytes> donor_model;
  std::mt19937_64 rng(42);
  auto key = [&] { return b("k" + std::to_string(rng() % 400)); };

  for (int step = 0; step < 20'000; ++step) {
    const uint64_t what = rng() % 100;
    if (what < 35) {
      const Bytes k = key();
      store.apply(0, put_op(k, "p"));
      model[k] = b("p");
    } else if (what < 60) {
      const Bytes k = key();
      store.apply(0, del_op(k));
      model.erase(k);
    } else if (what < 85) {
      const Bytes k = key();
      store.apply(0, append_op(k, "a"));
      model[k].push_back('a');
    } else if (what < 97) {
      const Bytes k = key();
      donor.apply(0, put_op(k, "d"));
      donor_model[k] = b("d");
    } else {
      const uint64_t p = rng() % partitions;
      ASSERT_TRUE(store.install_partition(p, donor.read_partition(std::nullopt, p)).is_ok());
      std::erase_if(model,
                    [&](const auto& e) { return Store::partition_of(e.first, partitions) == p; });
      for (const auto& [k, v] : donor_model) {
        if (Store::partition_of(k, partitions) == p) model[k] = v;
      }
    }
    ASSERT_EQ(store.size(), model.size()) << "step " << step;
  }
  for (int i = 0; i < 400; ++i) {
    const Bytes k = b("k" + std::to_string(i));
    auto it = model.find(k);
    const std::optional<Bytes> expected =
        it == model.end() ? std::nullopt : std::optional<Bytes>(it->second);
    EXPECT_EQ(store.get(k), expected) << i;
  }
}

}  // namespace
}  // namespace pbft::kv
