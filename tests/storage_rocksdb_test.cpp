// RocksDB under the Storage interface (include/pbft/storage.h,
// open_rocksdb; src/storage/rocksdb/rocks_storage.cpp).
//
// What is claimed, and checked here:
// - the Storage operations (put, erase, erase_range, scan by prefix in key
//   order) do what the memory model does, and what was written survives a
//   close and a reopen;
// - a data directory is opened by one process at a time; a missing one is
//   refused and left missing; error_if_exists refuses an existing database;
// - damage is detected and named: a flipped byte in a table file (.sst) by
//   verify() and by a scan, a flipped byte in the write-ahead log (.log) at
//   open (the recovery mode refuses it, where kPointInTimeRecovery would
//   silently drop every synced batch after it), a flipped byte in the
//   MANIFEST at open, each error naming the directory and the file;
// - a log cut inside its last record (the write a crash tears) is dropped
//   whole: the store holds exactly the batches before it.
// Every test works in its own directory beside the test binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "pbft/storage.h"

namespace pbft::storage {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Map = std::map<std::string, std::string>;

Bytes b(std::string_view s) {
  const ByteView v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

class RocksStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::canonical("/proc/self/exe").parent_path() / "storage_rocksdb_test.d" / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_.parent_path());
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::unique_ptr<Storage> open(RocksOptions options = {.create_if_missing = true}) {
    Result<std::unique_ptr<Storage>> storage = open_rocksdb(dir_, options);
    EXPECT_TRUE(storage.is_ok()) << storage.reason();
    return storage ? std::move(storage).value() : nullptr;
  }

  static Map scan(const Storage& storage, std::string_view prefix = "") {
    Map out;
    const Status s = storage.scan(as_bytes(prefix), [&](ByteView key, ByteView value) {
      out.emplace(to_string(key), to_string(value));
    });
    EXPECT_TRUE(s.is_ok()) << s.reason();
    return out;
  }

  // Writes `count` synced batches of one key each, "k000".."k<count-1>".
  static void write_keys(Storage& storage, int count, size_t value_size = 100) {
    for (int i = 0; i < count; i++) {
      WriteBatch batch;
      char key[16];
      std::snprintf(key, sizeof key, "k%03d", i);
      batch.put(b(key), Bytes(value_size, static_cast<uint8_t>(i)));
      ASSERT_TRUE(storage.write(batch, true).is_ok());
    }
  }

  // The one file in the directory with this extension that is not empty.
  fs::path file_with(const std::string& extension) const {
    fs::path found;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().extension() == extension && entry.file_size() > 0) {
        EXPECT_TRUE(found.empty())
            << "two " << extension << " files: " << found << ", " << entry.path();
        found = entry.path();
      }
    }
    EXPECT_FALSE(found.empty()) << "no " << extension << " file in " << dir_;
    return found;
  }

  static void flip_byte(const fs::path& file, uint64_t offset) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << file;
    char c = 0;
    f.seekg(static_cast<std::streamoff>(offset));
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0xff);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
    ASSERT_TRUE(f.good()) << file;
  }

  fs::path dir_;
};

TEST_F(RocksStorageTest, PutEraseAndScanByPrefix) {
  auto storage = open();
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->describe(), dir_.string());
  WriteBatch batch;
  for (std::string_view k : {"s2", "s10", "r", "s1", "t", "s", "s3"}) batch.put(b(k), b(k));
  ASSERT_TRUE(storage->write(batch, true).is_ok());
  EXPECT_EQ(scan(*storage, "s"),
            (Map{{"s", "s"}, {"s1", "s1"}, {"s10", "s10"}, {"s2", "s2"}, {"s3", "s3"}}));

  WriteBatch erase;
  erase.erase_range(b("s1"), b("s3"));  // s1, s10, s2; s3 is the exclusive end
  erase.erase(b("t"));
  erase.erase_range(b("z"), b("a"));  // inverted: nothing
  erase.put(b("s2"), b("again"));     // after the range in the same batch: survives
  ASSERT_TRUE(storage->write(erase, false).is_ok());
  EXPECT_EQ(scan(*storage), (Map{{"r", "r"}, {"s", "s"}, {"s2", "again"}, {"s3", "s3"}}));
  EXPECT_TRUE(storage->write(WriteBatch{}, true).is_ok());  // a bare sync
  EXPECT_TRUE(storage->verify().is_ok());
}

TEST_F(RocksStorageTest, ReopenKeepsWhatWasWritten) {
  {
    auto storage = open();
    ASSERT_NE(storage, nullptr);
    write_keys(*storage, 3);
    WriteBatch unsynced;
    unsynced.put(b("u"), b("1"));
    ASSERT_TRUE(storage->write(unsynced, false).is_ok());
  }
  auto storage = open({});
  ASSERT_NE(storage, nullptr);
  const Map all = scan(*storage);
  EXPECT_EQ(all.size(), 4u);
  EXPECT_EQ(all.count("k002"), 1u);
  EXPECT_EQ(all.count("u"), 1u);  // a clean close loses nothing
  EXPECT_TRUE(storage->verify().is_ok());
}

TEST_F(RocksStorageTest, MissingDirectoryIsRefusedAndLeftAlone) {
  Result<std::unique_ptr<Storage>> missing = open_rocksdb(dir_, {});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_THAT(missing.reason(), HasSubstr(dir_.string()));
  EXPECT_THAT(missing.reason(), HasSubstr("no such directory"));
  EXPECT_FALSE(fs::exists(dir_));

  fs::create_directories(dir_);
  Result<std::unique_ptr<Storage>> empty = open_rocksdb(dir_, {});
  ASSERT_FALSE(empty.is_ok());
  EXPECT_THAT(empty.reason(), HasSubstr("no database there"));
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(RocksStorageTest, ASecondOpenOfTheSameDirectoryFails) {
  auto first = open();
  ASSERT_NE(first, nullptr);
  Result<std::unique_ptr<Storage>> second = open_rocksdb(dir_, {});
  ASSERT_FALSE(second.is_ok());
  EXPECT_THAT(second.reason(), HasSubstr(dir_.string()));
  EXPECT_THAT(second.reason(), HasSubstr("in use"));
  EXPECT_THAT(second.reason(), HasSubstr("LOCK"));
  // The first is undisturbed.
  write_keys(*first, 1);
  EXPECT_EQ(scan(*first).size(), 1u);
}

TEST_F(RocksStorageTest, ErrorIfExistsRefusesAnExistingDatabase) {
  open().reset();
  Result<std::unique_ptr<Storage>> again =
      open_rocksdb(dir_, {.create_if_missing = true, .error_if_exists = true});
  ASSERT_FALSE(again.is_ok());
  EXPECT_THAT(again.reason(), HasSubstr(dir_.string()));
  EXPECT_THAT(again.reason(), HasSubstr("exists"));
  fs::remove_all(dir_);
  EXPECT_NE(open({.create_if_missing = true, .error_if_exists = true}), nullptr);
}

// A byte flipped in a table file: the block checksums catch it, and the
// error names the file.
TEST_F(RocksStorageTest, CorruptTableFileIsDetected) {
  {
    auto storage = open();
    ASSERT_NE(storage, nullptr);
    write_keys(*storage, 50, 1000);
  }
  {
    // Move everything from the log into a table file (the interface has no
    // flush: a replica never needs one).
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  const fs::path table = file_with(".sst");
  ASSERT_GT(fs::file_size(table), 4096u);
  flip_byte(table, 100);  // inside the first data block

  Result<std::unique_ptr<Storage>> storage = open_rocksdb(dir_, {});
  if (!storage.is_ok()) {  // an open that reads the block fails, naming the file
    EXPECT_THAT(storage.reason(), HasSubstr(table.string()));
    return;
  }
  const Status verified = (*storage)->verify();
  ASSERT_FALSE(verified.is_ok());
  EXPECT_THAT(verified.reason(), HasSubstr("RocksDB in " + dir_.string()));
  EXPECT_THAT(verified.reason(), HasSubstr("Corruption"));
  EXPECT_THAT(verified.reason(), HasSubstr(table.filename().string()));
  const Status scanned = (*storage)->scan({}, [](ByteView, ByteView) {});
  ASSERT_FALSE(scanned.is_ok());
  EXPECT_THAT(scanned.reason(), HasSubstr("Corruption"));
}

// A byte flipped in the middle of the write-ahead log: synced batches are
// damaged, and the store refuses to open rather than silently dropping
// them and everything after.
TEST_F(RocksStorageTest, CorruptLogIsRefusedAtOpen) {
  {
    auto storage = open();
    ASSERT_NE(storage, nullptr);
    write_keys(*storage, 100);
  }
  const fs::path log = file_with(".log");
  flip_byte(log, fs::file_size(log) / 2);
  Result<std::unique_ptr<Storage>> storage = open_rocksdb(dir_, {});
  ASSERT_FALSE(storage.is_ok());
  EXPECT_THAT(storage.reason(), HasSubstr("RocksDB in " + dir_.string()));
  EXPECT_THAT(storage.reason(), HasSubstr("Corruption"));
  EXPECT_THAT(storage.reason(), HasSubstr(log.filename().string()));
}

// The MANIFEST (which table files make up the database) is checked too.
TEST_F(RocksStorageTest, CorruptManifestIsRefusedAtOpen) {
  for (int round = 0; round < 2; round++) {  // the second open records a table file
    auto storage = open();
    ASSERT_NE(storage, nullptr);
    write_keys(*storage, 20);
  }
  fs::path manifest;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().filename().string().starts_with("MANIFEST-")) manifest = entry.path();
  }
  ASSERT_FALSE(manifest.empty());
  flip_byte(manifest, fs::file_size(manifest) / 2);
  Result<std::unique_ptr<Storage>> storage = open_rocksdb(dir_, {});
  ASSERT_FALSE(storage.is_ok());
  EXPECT_THAT(storage.reason(), HasSubstr("RocksDB in " + dir_.string()));
  EXPECT_THAT(storage.reason(), HasSubstr("Corruption"));
  EXPECT_THAT(storage.reason(), HasSubstr(manifest.filename().string()));
}

// A crash in the middle of a write leaves the log ending inside its last
// record: that batch is dropped whole, every one before it is kept.
TEST_F(RocksStorageTest, TornLastRecordIsDropped) {
  {
    auto storage = open();
    ASSERT_NE(storage, nullptr);
    write_keys(*storage, 10);
    WriteBatch last;
    last.put(b("last-a"), Bytes(200, 1));
    last.put(b("last-b"), Bytes(200, 2));
    ASSERT_TRUE(storage->write(last, true).is_ok());
  }
  const fs::path log = file_with(".log");
  fs::resize_file(log, fs::file_size(log) - 150);  // inside the last batch's record
  auto storage = open({});
  ASSERT_NE(storage, nullptr);
  const Map all = scan(*storage);
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(all.count("k009"), 1u);
  EXPECT_EQ(all.count("last-a") + all.count("last-b"), 0u);
}

}  // namespace
}  // namespace pbft::storage
