// RocksDB under the Storage interface (contract: include/pbft/storage.h).
//
// Nothing here is a file format: RocksDB's write-ahead log gives the
// atomic, ordered batches and the sync, its block checksums the detection
// of corruption. What this file chooses is how RocksDB recovers after a
// crash, that every failure names the directory and the cause, and a LOG
// that a failing disk cannot turn into an abort.
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <system_error>

#include "pbft/storage.h"

namespace pbft::storage {

namespace {

// RocksDB's informational LOG: two small files at most (LOG, LOG.old),
// so that a replica running for months does not fill its disk with them.
constexpr size_t info_log_size_max = 1 << 20;
// Memory and CPU: most of what is written is the log of the window (each
// batch, its votes), deleted once a checkpoint above it is stable, a few
// hundred milliseconds to seconds later. A memtable that holds that span
// drops a record and its deletion together at the flush; one that does not
// flushes them to level-0 files that compaction must read and rewrite: with
// 8 MiB memtables and 4 KiB requests, flushes and compactions took a sixth
// of a backup's CPU. Two memtables of 32 MiB bound that memory at 64 MiB.
constexpr size_t write_buffer_size = 32 << 20;
constexpr size_t block_cache_size = 8 << 20;
constexpr uint64_t manifest_size_max = 8 << 20;

rocksdb::Slice slice(ByteView bytes) {
  // An empty span may have no data pointer; RocksDB hands it to memcmp.
  if (bytes.empty()) return rocksdb::Slice();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

ByteView view(const rocksdb::Slice& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// RocksDB's LOG in the database's directory, written with plain appends
// that drop what cannot be written. RocksDB's own file logger writes
// through a WritableFileWriter, which fails an assertion on the write
// after one that failed (Debian's RocksDB 7.8.3 keeps them on): on a full
// or failing disk, the first error RocksDB logged after its LOG had failed
// aborted the process before the replica could say why.
class FileLogger final : public rocksdb::Logger {
 public:
  // Appends to dir/LOG, after moving a LOG of an earlier open to LOG.old.
  explicit FileLogger(std::filesystem::path dir)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), dir_(std::move(dir)) {
    rotate();
  }
  ~FileLogger() override {
    if (fd_ >= 0) ::close(fd_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[4096];
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
        1000000;
    std::tm local{};
    localtime_r(&seconds, &local);
    size_t length = std::strftime(line, sizeof line, "%Y/%m/%d-%H:%M:%S", &local);
    length += static_cast<size_t>(std::snprintf(line + length, sizeof line - length, ".%06lld ",
                                                static_cast<long long>(micros)));
    va_list copy;
    va_copy(copy, ap);
    const int written = std::vsnprintf(line + length, sizeof line - length, format, copy);
    va_end(copy);
    if (written > 0) length = std::min(length + static_cast<size_t>(written), sizeof line - 2);
    if (line[length - 1] != '\n') line[length++] = '\n';
    std::lock_guard lock(mutex_);
    if (size_ + length > info_log_size_max) rotate();
    if (fd_ >= 0 && ::write(fd_, line, length) == static_cast<ssize_t>(length)) size_ += length;
  }

 private:
  void rotate() {
    if (fd_ >= 0) ::close(fd_);
    std::error_code ignored;
    std::filesystem::rename(dir_ / "LOG", dir_ / "LOG.old", ignored);
    fd_ = ::open((dir_ / "LOG").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    size_ = 0;
  }

  const std::filesystem::path dir_;
  std::mutex mutex_;
  int fd_ = -1;  // -1: LOG could not be opened, lines are dropped
  size_t size_ = 0;
};

// A LOG that goes nowhere, for a read-only open (it leaves the directory
// as it found it).
class DiscardingLogger final : public rocksdb::Logger {
 public:
  DiscardingLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

// Writes RocksDB's LOG through another logger, and remembers the first
// corruption RocksDB reports in it. The status of an open that found a damaged
// write-ahead log says only "Corruption: checksum mismatch"; the LOG line
// before it names the file, and an operator needs the file.
class CapturingLogger final : public rocksdb::Logger {
 public:
  explicit CapturingLogger(std::shared_ptr<rocksdb::Logger> base)
      : rocksdb::Logger(base->GetInfoLogLevel()), base_(std::move(base)) {}
  ~CapturingLogger() override { base_->Close().PermitUncheckedError(); }

  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level >= rocksdb::InfoLogLevel::WARN_LEVEL) remember(format, ap);
    base_->Logv(level, format, ap);
  }
  void LogHeader(const char* format, va_list ap) override { base_->LogHeader(format, ap); }
  size_t GetLogFileSize() const override { return base_->GetLogFileSize(); }
  void Flush() override { base_->Flush(); }
  void SetInfoLogLevel(const rocksdb::InfoLogLevel level) override {
    rocksdb::Logger::SetInfoLogLevel(level);
    base_->SetInfoLogLevel(level);
  }

  std::string first_corruption() const {
    std::lock_guard lock(mutex_);
    return first_corruption_;
  }

 private:
  void remember(const char* format, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    char line[1024];
    std::vsnprintf(line, sizeof line, format, copy);
    va_end(copy);
    std::string text(line);
    // RocksDB starts its lines with the source position: "[db/x.cc:12] ".
    if (text.starts_with('[')) {
      if (const size_t end = text.find("] "); end != std::string::npos) text.erase(0, end + 2);
    }
    std::lock_guard lock(mutex_);
    // RocksDB's own summary of a failed open repeats its status: not a cause.
    if (text.starts_with("DB::Open() failed")) return;
    if (first_corruption_.empty() && text.find("Corruption") != std::string::npos) {
      first_corruption_ = text;
    }
  }

  std::shared_ptr<rocksdb::Logger> base_;
  mutable std::mutex mutex_;
  std::string first_corruption_;
};

class RocksStorage final : public Storage {
 public:
  RocksStorage(std::filesystem::path dir, std::unique_ptr<rocksdb::DB> db)
      : dir_(std::move(dir)), db_(std::move(db)) {}
  ~RocksStorage() override {
    // Close() reports a failure to release what the database holds; at
    // this point there is no one left to tell, and the data is as durable
    // as the last synced write made it either way.
    db_->Close().PermitUncheckedError();
  }

  Status write(const WriteBatch& batch, bool sync) override {
    rocksdb::WriteOptions options;
    options.sync = sync;
    if (batch.empty()) {
      // Nothing to add, but the caller needs what it wrote before durable
      // now; RocksDB syncs the log it appended to.
      return sync ? check(db_->SyncWAL()) : Status::ok();
    }
    rocksdb::WriteBatch rocks_batch;
    for (const WriteBatch::Op& op : batch.ops()) {
      if (Status s = add(rocks_batch, op); !s) return s;
    }
    return check(db_->Write(options, &rocks_batch));
  }

  Status scan(ByteView prefix,
              const std::function<void(ByteView key, ByteView value)>& f) const override {
    rocksdb::ReadOptions options;
    options.verify_checksums = true;
    options.fill_cache = false;  // a scan reads each key once, at start-up
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
    const rocksdb::Slice start = slice(prefix);
    for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next()) {
      f(view(it->key()), view(it->value()));
    }
    return check(it->status());
  }

  Status verify() const override {
    rocksdb::ReadOptions options;
    options.verify_checksums = true;
    options.fill_cache = false;  // it reads everything once
    return check(db_->VerifyChecksum(options));
  }

  std::string describe() const override { return dir_.string(); }

 private:
  Status add(rocksdb::WriteBatch& out, const WriteBatch::Op& op) const {
    switch (op.kind) {
      case WriteBatch::Op::Kind::put:
        return check(out.Put(slice(op.key), slice(op.value)));
      case WriteBatch::Op::Kind::erase:
        return check(out.Delete(slice(op.key)));
      case WriteBatch::Op::Kind::erase_range:
        // RocksDB refuses an inverted range; the contract erases nothing.
        if (!(op.key < op.value)) return Status::ok();
        return check(out.DeleteRange(slice(op.key), slice(op.value)));
    }
    return Status::ok();
  }

  // RocksDB's status names the file of a corrupt block itself.
  Status check(const rocksdb::Status& s) const {
    if (s.ok()) return Status::ok();
    return Status::error("RocksDB in " + dir_.string() + ": " + s.ToString());
  }

  std::filesystem::path dir_;
  std::unique_ptr<rocksdb::DB> db_;  // holds the logger too (its options)
};

rocksdb::Options make_options(const RocksOptions& options) {
  rocksdb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.error_if_exists = options.error_if_exists;
  o.paranoid_checks = true;
  // Recovery of the write-ahead log after a crash. What the contract needs:
  // the batches up to some point and none after (a prefix), and never less
  // than what a synced write made durable. The write that a crash tears is
  // the last one, and it is incomplete: the log ends inside it.
  //   - kTolerateCorruptedTailRecords drops such an incomplete last record
  //     (and the zeros of preallocated space), and refuses to open on any
  //     record that fails its checksum: that is damage to what was written,
  //     synced writes among it, which the operator must hear about.
  //   - kPointInTimeRecovery stops replaying at the first bad record and
  //     opens without a word: a bit flipped in the middle of the log
  //     silently drops every synced batch after it (tried with RocksDB
  //     7.8.3: half the synced keys gone, the open succeeds). A replica
  //     that forgot a vote it sent can contradict it, so this is refused.
  //   - kAbsoluteConsistency refuses even the incomplete last record that
  //     every crash in the middle of a write leaves; kSkipAnyCorruptedRecords
  //     replays around a bad record, which is a hole, not a prefix.
  // The price: a power cut that leaves garbage (not zeros, not a short file)
  // in the last record makes the replica refuse to start, and it recovers
  // from the others (state transfer) instead of resuming; it never resumes
  // with less than it promised. A log cut exactly at a record boundary
  // looks like a crash before those writes: no mode can tell.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Every write reaches the log file (the OS) before it returns, and a
  // synced one the disk: no buffer in the process to lose on a kill -9.
  o.manual_wal_flush = false;
  o.stats_dump_period_sec = 0;
  o.max_manifest_file_size = manifest_size_max;
  o.write_buffer_size = write_buffer_size;
  o.max_write_buffer_number = 2;
  o.max_background_jobs = 2;
  // No compression where the short-lived log lives (levels 0 and 1): it
  // was compressed at the flush and decompressed at the compaction that
  // deleted it, ~9% of a backup's CPU at 4 KiB requests, on a machine
  // whose CPU, not its disk, bounds throughput. Deeper levels hold the
  // long-lived service state and checkpoints: LZ4, cheap to decompress.
  o.compression_per_level = {rocksdb::kNoCompression, rocksdb::kNoCompression,
                             rocksdb::kLZ4Compression};
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(block_cache_size);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

// The reason an open failed, for an operator: the directory, the cause,
// and for a lock the likely culprit.
std::string open_error(const std::filesystem::path& dir, const rocksdb::Status& s,
                       const CapturingLogger* logger) {
  std::string reason = "RocksDB in " + dir.string() + ": ";
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    reason += "the directory is in use by another process (or already open in this one): ";
  }
  reason += s.ToString();
  if (logger != nullptr && s.IsCorruption()) {
    const std::string logged = logger->first_corruption();
    if (!logged.empty() && logged != s.ToString()) reason += " (" + logged + ")";
  }
  return reason;
}

}  // namespace

Result<std::unique_ptr<Storage>> open_rocksdb(const std::filesystem::path& dir,
                                              const RocksOptions& options) {
  // RocksDB creates the directory for its LOG before it looks for a
  // database, even when it is not to create one: a missing or empty data
  // directory must stay as it is, for the replica to refuse it cleanly.
  if (!options.create_if_missing) {
    std::error_code error;
    if (!std::filesystem::exists(dir / "CURRENT", error)) {
      return Status::error(
          "RocksDB in " + dir.string() + ": no database there (" +
          (std::filesystem::exists(dir, error) ? "no CURRENT file" : "no such directory") + ")");
    }
  }
  rocksdb::Options o = make_options(options);
  std::shared_ptr<rocksdb::Logger> base;
  if (options.read_only) {
    base = std::make_shared<DiscardingLogger>();
  } else {
    std::error_code error;
    std::filesystem::create_directories(dir, error);  // for the LOG; RocksDB says if it failed
    base = std::make_shared<FileLogger>(dir);
  }
  auto logger = std::make_shared<CapturingLogger>(std::move(base));
  o.info_log = logger;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status s = options.read_only ? rocksdb::DB::OpenForReadOnly(o, dir.string(), &db)
                                              : rocksdb::DB::Open(o, dir.string(), &db);
  if (!s.ok()) return Status::error(open_error(dir, s, logger.get()));
  return std::unique_ptr<Storage>(
      std::make_unique<RocksStorage>(dir, std::unique_ptr<rocksdb::DB>(db)));
}

}  // namespace pbft::storage
