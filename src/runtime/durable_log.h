// A replica's disk, driven from a thread of its own (docs/design.md,
// "Durability"). The event loop hands it the core's Persist effects in
// order and carries on stepping the core; a write that asked for a sync
// reports back on the loop once it is durable, and the effects after it
// wait until then. Meanwhile the records of later inputs queue up, and the
// host writes them all in the next batch under one sync: group commit, the
// way batching amortises signatures.
//
// Thread safety: write(), mark_recovered() and stop() from the loop's
// thread; the callbacks run on the loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "pbft/replica.h"
#include "pbft/storage.h"
#include "src/runtime/asio.h"

namespace pbft::runtime {

class DurableLog {
 public:
  // Takes the store and its journal, already opened and checked.
  DurableLog(asio::io_context& io, std::unique_ptr<storage::Storage> storage,
             std::unique_ptr<storage::Journal> journal);
  ~DurableLog();  // stops (what is queued is written first)
  DurableLog(const DurableLog&) = delete;
  DurableLog& operator=(const DurableLog&) = delete;

  // Queues the records; `done` runs on the loop once they are written (and
  // synced if persist.sync), or with the reason they could not be. Once a
  // write failed, nothing more is written: every later one reports that
  // failure (the replica is to stop).
  void write(Persist persist, std::function<void(Status)> done);
  // Queues the end of a recovery: a restart from here on resumes.
  void mark_recovered(std::function<void(Status)> done);
  // Writes what is queued, then ends the thread. Callbacks not run yet are
  // dropped.
  void stop();

  std::string describe() const { return storage_->describe(); }
  // Totals so far (read on the loop; approximate while writes run).
  uint64_t syncs() const { return syncs_.load(); }
  uint64_t batches() const { return batches_.load(); }

 private:
  struct Job {
    std::optional<Persist> persist;  // nothing: mark_recovered
    std::function<void(Status)> done;
  };
  void run();

  asio::io_context& io_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<storage::Journal> journal_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  // The first write that failed (disk thread only). Nothing is written
  // after it: a later write that succeeded would leave a hole in what is
  // durable, the journal's note of the batches it wrote counts the failed
  // one as written, and RocksDB aborts the process (a failed assertion in
  // Debian's 7.8.3) on a log writer that has failed before.
  Status failed_;
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> batches_{0};
  // False once stop() returned: callbacks still posted to the loop are dropped.
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
  std::thread thread_;
};

}  // namespace pbft::runtime
