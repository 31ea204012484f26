// Where a replica keeps what it must not forget (durable.h): a small
// ordered key-value interface of the project's own, with two
// implementations that give the same guarantees:
//
//   - open_rocksdb: RocksDB in a directory (the real replica); its
//     write-ahead log and block checksums are the file format, nothing is
//     hand-written;
//   - MemoryStorage: an in-memory model of a disk for the simulator and
//     the tests, which on a crash loses what was not synced (and may lose
//     a torn last write) exactly as the guarantees below allow.
//
// The Journal maps the core's records onto keys of a Storage and reads them
// back into a PersistedState.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pbft/durable.h"
#include "pbft/replica.h"
#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft::storage {

// Changes applied together: all of them or none.
class WriteBatch {
 public:
  struct Op {
    enum class Kind : uint8_t { put, erase, erase_range };
    Kind kind;
    Bytes key;    // erase_range: the first key erased
    Bytes value;  // put: the value; erase_range: the first key kept (exclusive end)
  };
  void put(Bytes key, Bytes value);
  void erase(Bytes key);
  void erase_range(Bytes begin, Bytes end);
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t bytes() const { return bytes_; }  // keys and values
  void clear() {
    ops_.clear();
    bytes_ = 0;
  }

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

// The guarantees every implementation gives:
//   - a batch is applied atomically;
//   - batches are applied in the order written: after a crash the store
//     holds every batch up to some point and none after it;
//   - once write(batch, sync = true) returns ok, that batch and every one
//     before it survive any crash (an empty batch written with sync = true
//     is a sync of everything before it).
// A failed write (disk full, I/O error) leaves the store as it was before
// that batch as far as this process reads it; after a crash the batch may
// yet be found (RocksDB: its bytes reached the log and only the sync
// failed). So the caller must not carry on as if it were durable, nor count
// on it being absent.
// Thread safety: one thread at a time.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual Status write(const WriteBatch& batch, bool sync) = 0;
  // Calls f(key, value) for every key that starts with `prefix`, in key
  // order (bytewise). Fails (a reason naming the cause) on corruption.
  virtual Status scan(ByteView prefix,
                      const std::function<void(ByteView key, ByteView value)>& f) const = 0;
  // Reads and checks everything stored against its checksums (start-up).
  virtual Status verify() const = 0;
  // Where it lives, for messages ("memory" for the model).
  virtual std::string describe() const = 0;
};

// ------------------------------------------------------------------ model

// An ordered map that models a disk. Writes with sync = false stay
// "in flight" until a later synced write (an empty one will do) makes them
// durable;
// crash() drops in-flight batches but the first `keep` of them (the next
// one is the torn write, which the real store's checksums discard).
// Failures can be injected (full disk, I/O error) for tests.
class MemoryStorage : public Storage {
 public:
  Status write(const WriteBatch& batch, bool sync) override;
  Status scan(ByteView prefix,
              const std::function<void(ByteView key, ByteView value)>& f) const override;
  Status verify() const override { return Status::ok(); }
  std::string describe() const override { return "memory"; }

  // Batches written without a sync that are not durable yet.
  size_t in_flight() const { return in_flight_.size(); }
  // Power is cut: what was not durable is lost, but the first `keep`
  // in-flight batches (keep <= in_flight()).
  void crash(size_t keep);
  // Every later write fails with `reason` (an empty reason heals it).
  void fail_writes(std::string reason) { failure_ = std::move(reason); }
  // Durable keys and values (for tests).
  const std::map<Bytes, Bytes>& durable() const { return durable_; }
  uint64_t syncs() const { return syncs_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  static void apply(std::map<Bytes, Bytes>& map, const WriteBatch& batch);
  std::map<Bytes, Bytes> durable_;  // survives a crash
  std::map<Bytes, Bytes> visible_;  // durable_ with the in-flight batches applied
  std::vector<WriteBatch> in_flight_;
  std::string failure_;
  uint64_t syncs_ = 0;
  uint64_t bytes_written_ = 0;
};

// ---------------------------------------------------------------- RocksDB

struct RocksOptions {
  bool create_if_missing = false;
  // Fail if the directory already holds a database (a first start).
  bool error_if_exists = false;
  // Read only, and write nothing into the directory, not even RocksDB's
  // LOG (every write fails): to learn whose state a directory holds before
  // opening it for writing, which rewrites files (the log replayed into a
  // table, a new MANIFEST, the LOG rotated).
  bool read_only = false;
};
// Opens (or creates) the RocksDB database in `dir`. Fails with a reason that
// names the directory and the cause (missing, locked by another process,
// corrupt: the file RocksDB names).
Result<std::unique_ptr<Storage>> open_rocksdb(const std::filesystem::path& dir,
                                              const RocksOptions& options);

// ---------------------------------------------------------------- journal

// Whose records a store holds: a data directory of another cluster or
// another replica is refused.
struct Identity {
  Digest cluster{};  // a digest of the cluster's membership and keys
  ReplicaId replica = 0;
  friend bool operator==(const Identity&, const Identity&) = default;
};

// The records of the write-ahead rule on a Storage (docs/design.md,
// "Durability", has the key layout). One Persist is one atomic batch. The
// journal remembers which batches it wrote (by sequence number and digest)
// so that a batch's bytes are written once however many records name it.
// Thread safety: one thread at a time (it may be another thread than the
// core's: records are immutable).
class Journal {
 public:
  explicit Journal(Storage& storage) : storage_(storage) {}

  // Marks an empty store as this replica's (synced); `recovering` marks it
  // as a recovering replica's too (mark_recovered ends that). Fails if the
  // store holds anything.
  Status initialize(const Identity& identity, bool recovering = false);
  // Fails unless the store was initialized for exactly this identity (the
  // reason says whose it is, or that it is empty).
  Status check_identity(const Identity& identity) const;
  // True only when the store names, readably, another replica or another
  // cluster (not when it is empty, damaged or of another format version).
  bool belongs_to_another(const Identity& identity) const;
  // The replica was recovering when it stopped (or the marker cannot be
  // read): what the store holds is no state to vote from.
  bool recovering() const;
  // Recovery is over (synced): from here on a restart resumes.
  Status mark_recovered();
  // True when the store holds nothing at all (a new or lost data directory).
  bool empty() const;

  // Writes the records of one Persist as one batch, synced when
  // persist.sync. On failure nothing of it is durable
  // and the replica must stop: it may not send what depends on it.
  Status append(const Persist& persist);
  // The encoding of one Persist (append without the write). It notes the
  // batches and pre-prepares in it as written: the caller writes the result
  // before anything else is encoded, or stops.
  WriteBatch encode(const Persist& persist);

  // Reads everything back. Fails, naming the key, on a record that does not
  // decode: the store is corrupt. It also tells the journal what the store
  // holds (for writing each batch once): after a crash of the store, load
  // before appending again.
  Result<PersistedState> load();

  uint64_t batches_written() const { return batches_written_; }
  uint64_t syncs() const { return syncs_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Storage& storage_;
  // Batches written for sequence numbers above the last checkpoint, by
  // (seq, digest), and pre-prepares by (seq, view): written once.
  std::set<std::pair<Seq, Digest>> batches_;
  std::set<std::pair<Seq, View>> pre_prepares_;
  uint64_t batches_written_ = 0;
  uint64_t syncs_ = 0;
  uint64_t bytes_written_ = 0;
};

}  // namespace pbft::storage
