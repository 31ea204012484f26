#include "src/runtime/durable_log.h"

#include <utility>

namespace pbft::runtime {

DurableLog::DurableLog(asio::io_context& io, std::unique_ptr<storage::Storage> storage,
                       std::unique_ptr<storage::Journal> journal)
    : io_(io), storage_(std::move(storage)), journal_(std::move(journal)) {
  thread_ = std::thread([this] { run(); });
}

DurableLog::~DurableLog() { stop(); }

void DurableLog::write(Persist persist, std::function<void(Status)> done) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::move(persist), std::move(done)});
  }
  wake_.notify_one();
}

void DurableLog::mark_recovered(std::function<void(Status)> done) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::nullopt, std::move(done)});
  }
  wake_.notify_one();
}

void DurableLog::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  *alive_ = false;
}

void DurableLog::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and everything queued is written
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    // After a failure nothing more is written (failed_): the job reports it.
    Status status = failed_;
    if (status) {
      status = job.persist ? journal_->append(*job.persist) : journal_->mark_recovered();
      if (!job.persist || job.persist->sync) syncs_++;
      batches_++;
      if (!status) failed_ = status;
    }
    if (!job.done) continue;
    // Back on the loop, unless the host is gone by then.
    asio::post(io_, [alive = alive_, done = std::move(job.done), status = std::move(status)] {
      if (*alive) done(status);
    });
  }
}

}  // namespace pbft::runtime
