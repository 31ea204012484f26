// The in-memory model of a disk (include/pbft/storage.h, MemoryStorage).
//
// What is claimed, and checked here: the guarantees every Storage gives,
// in the model's terms.
// - a write is visible at once, durable only once a synced write (an empty
//   one will do) follows it or is it;
// - a crash keeps a prefix of the batches written since the last sync,
//   never a later batch without an earlier one, never part of a batch (the
//   next one is the torn write, dropped whole);
// - erase_range erases [begin, end), and an empty range nothing;
// - a failed write changes nothing, durable or visible, and counts nothing.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "pbft/storage.h"

namespace pbft::storage {
namespace {

Bytes b(std::string_view s) {
  const ByteView v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

WriteBatch puts(std::initializer_list<std::pair<std::string_view, std::string_view>> kvs) {
  WriteBatch batch;
  for (const auto& [k, v] : kvs) batch.put(b(k), b(v));
  return batch;
}

// What a scan with `prefix` sees, as strings.
std::map<std::string, std::string> scan(const Storage& storage, std::string_view prefix = "") {
  std::map<std::string, std::string> out;
  const Status s = storage.scan(as_bytes(prefix), [&](ByteView key, ByteView value) {
    out.emplace(to_string(key), to_string(value));
  });
  EXPECT_TRUE(s.is_ok()) << s.reason();
  return out;
}

std::map<std::string, std::string> durable(const MemoryStorage& storage) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : storage.durable()) out.emplace(to_string(k), to_string(v));
  return out;
}

using Map = std::map<std::string, std::string>;

TEST(MemoryStorage, UnsyncedWritesAreVisibleButNotDurable) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.write(puts({{"a", "1"}}), false).is_ok());
  EXPECT_EQ(scan(storage), (Map{{"a", "1"}}));
  EXPECT_TRUE(storage.durable().empty());
  EXPECT_EQ(storage.in_flight(), 1u);
  storage.crash(0);
  EXPECT_TRUE(scan(storage).empty());
}

TEST(MemoryStorage, SyncMakesEveryEarlierBatchDurable) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.write(puts({{"a", "1"}}), false).is_ok());
  ASSERT_TRUE(storage.write(puts({{"b", "2"}}), false).is_ok());
  ASSERT_TRUE(storage.write(puts({{"c", "3"}}), true).is_ok());
  EXPECT_EQ(storage.in_flight(), 0u);
  EXPECT_EQ(storage.syncs(), 1u);
  storage.crash(0);
  EXPECT_EQ(scan(storage), (Map{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
}

TEST(MemoryStorage, EmptySyncedWriteIsASync) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.write(puts({{"a", "1"}}), false).is_ok());
  ASSERT_TRUE(storage.write(WriteBatch{}, true).is_ok());
  EXPECT_EQ(durable(storage), (Map{{"a", "1"}}));
  EXPECT_EQ(storage.syncs(), 1u);
}

TEST(MemoryStorage, CrashKeepsAPrefixOfTheInFlightBatches) {
  for (size_t keep = 0; keep <= 3; keep++) {
    MemoryStorage storage;
    ASSERT_TRUE(storage.write(puts({{"base", "x"}}), true).is_ok());
    ASSERT_TRUE(storage.write(puts({{"a", "1"}, {"base", "y"}}), false).is_ok());
    ASSERT_TRUE(storage.write(puts({{"b", "2"}}), false).is_ok());
    ASSERT_TRUE(storage.write(puts({{"c", "3"}, {"a", "3"}}), false).is_ok());
    storage.crash(keep);
    const Map expected[] = {
        {{"base", "x"}},
        {{"base", "y"}, {"a", "1"}},
        {{"base", "y"}, {"a", "1"}, {"b", "2"}},
        {{"base", "y"}, {"a", "3"}, {"b", "2"}, {"c", "3"}},
    };
    EXPECT_EQ(scan(storage), expected[keep]) << "keep " << keep;
    EXPECT_EQ(durable(storage), expected[keep]) << "keep " << keep;
    EXPECT_EQ(storage.in_flight(), 0u);
  }
}

// The batch after the kept ones is torn: none of it survives, not its
// first operation either.
TEST(MemoryStorage, TornBatchIsDroppedWhole) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.write(puts({{"a", "1"}}), false).is_ok());
  ASSERT_TRUE(storage.write(puts({{"b", "2"}, {"c", "3"}, {"d", "4"}}), false).is_ok());
  storage.crash(1);
  EXPECT_EQ(scan(storage), (Map{{"a", "1"}}));
}

TEST(MemoryStorage, WritesAfterACrashStartFromWhatSurvived) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.write(puts({{"a", "1"}}), false).is_ok());
  storage.crash(0);
  ASSERT_TRUE(storage.write(puts({{"b", "2"}}), true).is_ok());
  storage.crash(0);
  EXPECT_EQ(scan(storage), (Map{{"b", "2"}}));
}

TEST(MemoryStorage, ScanReadsAPrefixInKeyOrder) {
  MemoryStorage storage;
  WriteBatch batch;
  for (std::string_view k : {"s2", "s10", "r", "s1", "t", "s"}) batch.put(b(k), b("v"));
  ASSERT_TRUE(storage.write(batch, false).is_ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(
      storage.scan(as_bytes("s"), [&](ByteView key, ByteView) { keys.push_back(to_string(key)); })
          .is_ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"s", "s1", "s10", "s2"}));
}

TEST(MemoryStorage, EraseAndEraseRange) {
  MemoryStorage storage;
  ASSERT_TRUE(
      storage.write(puts({{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}}), true)
          .is_ok());
  WriteBatch batch;
  batch.erase_range(b("b"), b("d"));  // b and c; d is the exclusive end
  batch.erase(b("e"));
  batch.erase_range(b("z"), b("a"));  // inverted: nothing
  ASSERT_TRUE(storage.write(batch, true).is_ok());
  EXPECT_EQ(scan(storage), (Map{{"a", "1"}, {"d", "4"}}));
}

// Operations of one batch apply in order: a put after an erase_range in
// the same batch survives it.
TEST(MemoryStorage, OperationsOfABatchApplyInOrder) {
  MemoryStorage storage;
  WriteBatch batch;
  batch.put(b("k1"), b("old"));
  batch.erase_range(b("k"), b("l"));
  batch.put(b("k2"), b("new"));
  ASSERT_TRUE(storage.write(batch, true).is_ok());
  EXPECT_EQ(scan(storage), (Map{{"k2", "new"}}));
}

TEST(MemoryStorage, FailedWriteChangesNothing) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.write(puts({{"a", "1"}}), true).is_ok());
  ASSERT_TRUE(storage.write(puts({{"b", "2"}}), false).is_ok());
  const uint64_t bytes = storage.bytes_written();
  storage.fail_writes("No space left on device");
  const Status s = storage.write(puts({{"c", "3"}}), true);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.reason(), "No space left on device");
  EXPECT_EQ(scan(storage), (Map{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(durable(storage), (Map{{"a", "1"}}));  // the failed sync synced nothing
  EXPECT_EQ(storage.in_flight(), 1u);
  EXPECT_EQ(storage.syncs(), 1u);
  EXPECT_EQ(storage.bytes_written(), bytes);

  storage.fail_writes("");  // space freed
  ASSERT_TRUE(storage.write(puts({{"c", "3"}}), true).is_ok());
  EXPECT_EQ(durable(storage), (Map{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
}

TEST(MemoryStorage, CountsBytesAndSyncs) {
  MemoryStorage storage;
  WriteBatch batch = puts({{"key", "value"}});
  batch.erase(b("gone"));
  batch.erase_range(b("x"), b("y"));
  EXPECT_EQ(batch.bytes(), 3u + 5u + 4u + 2u);
  ASSERT_TRUE(storage.write(batch, false).is_ok());
  ASSERT_TRUE(storage.write(batch, true).is_ok());
  EXPECT_EQ(storage.bytes_written(), 2 * batch.bytes());
  EXPECT_EQ(storage.syncs(), 1u);
}

}  // namespace
}  // namespace pbft::storage
