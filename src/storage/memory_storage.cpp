// The write batch and the in-memory model of a disk (contract:
// include/pbft/storage.h).
//
// The model keeps what a crash would leave apart from what a reader sees:
// durable_ is the disk after a crash at this instant, visible_ what the
// process reads now, and in_flight_ the batches written since the last
// sync, in order. A sync makes all of them durable at once (an fsync of
// the write-ahead log covers everything appended before it); a crash keeps
// a prefix of them (the order of a log), the next one being the torn write
// that the real store's checksums discard.
#include <algorithm>

#include "pbft/assert.h"
#include "pbft/storage.h"

namespace pbft::storage {

void WriteBatch::put(Bytes key, Bytes value) {
  bytes_ += key.size() + value.size();
  ops_.push_back({Op::Kind::put, std::move(key), std::move(value)});
}

void WriteBatch::erase(Bytes key) {
  bytes_ += key.size();
  ops_.push_back({Op::Kind::erase, std::move(key), {}});
}

void WriteBatch::erase_range(Bytes begin, Bytes end) {
  bytes_ += begin.size() + end.size();
  ops_.push_back({Op::Kind::erase_range, std::move(begin), std::move(end)});
}

void MemoryStorage::apply(std::map<Bytes, Bytes>& map, const WriteBatch& batch) {
  for (const WriteBatch::Op& op : batch.ops()) {
    switch (op.kind) {
      case WriteBatch::Op::Kind::put:
        map[op.key] = op.value;
        break;
      case WriteBatch::Op::Kind::erase:
        map.erase(op.key);
        break;
      case WriteBatch::Op::Kind::erase_range:
        // An empty or inverted range erases nothing, as in RocksDB.
        if (op.key < op.value) map.erase(map.lower_bound(op.key), map.lower_bound(op.value));
        break;
    }
  }
}

Status MemoryStorage::write(const WriteBatch& batch, bool sync) {
  // An injected failure happens before anything is applied: a failed write
  // leaves the store as it was (the contract), which is what RocksDB does
  // with a batch whose log append or sync failed.
  if (!failure_.empty()) return Status::error(failure_);
  bytes_written_ += batch.bytes();
  apply(visible_, batch);
  if (!sync) {
    in_flight_.push_back(batch);
    return Status::ok();
  }
  for (const WriteBatch& earlier : in_flight_) apply(durable_, earlier);
  in_flight_.clear();
  apply(durable_, batch);
  syncs_++;
  return Status::ok();
}

Status MemoryStorage::scan(ByteView prefix,
                           const std::function<void(ByteView key, ByteView value)>& f) const {
  const Bytes first(prefix.begin(), prefix.end());
  for (auto it = visible_.lower_bound(first); it != visible_.end(); ++it) {
    const Bytes& key = it->first;
    if (key.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), key.begin())) {
      break;
    }
    f(key, it->second);
  }
  return Status::ok();
}

void MemoryStorage::crash(size_t keep) {
  PBFT_ASSERT(keep <= in_flight_.size());
  for (size_t i = 0; i < keep; i++) apply(durable_, in_flight_[i]);
  in_flight_.clear();
  visible_ = durable_;
}

}  // namespace pbft::storage
