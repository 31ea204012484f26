// DurableLog (src/runtime/durable_log.h), the replica's disk thread, on the
// memory model of a disk: once a write failed, nothing more is written, even
// when the disk heals before the replica has stopped. A batch made durable
// after a lost one would leave a hole in the records (a later record
// without the earlier ones it depends on), and the journal has already
// counted the lost batch's pre-prepares and batches as written; RocksDB,
// for its part, may abort the process when a log writer that failed is used
// again. The replica stops on the first failure (exit_disk_failed, see
// integration_disk_test.cpp for real disks that fill up or fail).
#include <gtest/gtest.h>

#include <optional>

#include "pbft/storage.h"
#include "src/runtime/durable_log.h"

namespace pbft::runtime {
namespace {

class DurableLogTest : public ::testing::Test {
 protected:
  DurableLogTest() {
    auto memory = std::make_unique<storage::MemoryStorage>();
    disk_ = memory.get();
    auto journal = std::make_unique<storage::Journal>(*memory);
    EXPECT_TRUE(journal->initialize(storage::Identity{}).is_ok());
    log_ = std::make_unique<DurableLog>(io_, std::move(memory), std::move(journal));
  }

  // Writes the view (synced) and waits for the outcome, as the host does.
  Status write_view(View v) {
    std::optional<Status> outcome;
    log_->write(Persist{{ViewRecord{v, false}}, true}, [&](Status s) { outcome = std::move(s); });
    while (!outcome) io_.run_one();
    return *outcome;
  }
  Status mark_recovered() {
    std::optional<Status> outcome;
    log_->mark_recovered([&](Status s) { outcome = std::move(s); });
    while (!outcome) io_.run_one();
    return *outcome;
  }

  // What a restart would find (the disk thread is idle between writes).
  View durable_view() {
    disk_->crash(0);
    storage::Journal journal(*disk_);
    Result<PersistedState> state = journal.load();
    EXPECT_TRUE(state.is_ok()) << state.reason();
    return state ? state->view : 0;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  storage::MemoryStorage* disk_ = nullptr;  // owned by log_
  std::unique_ptr<DurableLog> log_;
};

TEST_F(DurableLogTest, NothingIsWrittenAfterAWriteFailedEvenWhenTheDiskHeals) {
  ASSERT_TRUE(write_view(1).is_ok());
  disk_->fail_writes("No space left on device");
  EXPECT_EQ(write_view(2).reason(), "No space left on device");
  disk_->fail_writes("");  // space freed before the replica stopped
  EXPECT_EQ(write_view(3).reason(), "No space left on device");
  EXPECT_EQ(mark_recovered().reason(), "No space left on device");
  log_->stop();
  EXPECT_EQ(durable_view(), 1u);
}

}  // namespace
}  // namespace pbft::runtime
