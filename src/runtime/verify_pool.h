// Decoding and verification of incoming frames off the event-loop thread.
//
// A fixed set of worker threads takes jobs from one queue and posts each
// job's outcome back to the io_context, where the owner puts it in order.
// The queue holds only frames the owner reserved budget for (see
// ConnectionOwner::reserve), so it is bounded by constants::verify_bytes_max.
// With zero threads a job runs on the calling (loop) thread.
//
// Thread safety: submit() from the loop thread; the job itself must only
// touch thread-safe state (wire::decode and Verifier::verify are).
#pragma once

#include "src/runtime/asio.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pbft::runtime {

class VerifyPool {
 public:
  VerifyPool(asio::io_context& io, unsigned threads);
  ~VerifyPool();  // stops and joins; outcomes not yet posted are dropped
  VerifyPool(const VerifyPool&) = delete;
  VerifyPool& operator=(const VerifyPool&) = delete;

  // Runs work() on a worker, then done() on the loop thread.
  template <typename Outcome>
  void submit(std::function<Outcome()> work, std::function<void(Outcome)> done) {
    if (threads_.empty()) {
      done(work());
      return;
    }
    push([this, work = std::move(work), done = std::move(done)]() mutable {
      Outcome outcome = work();
      asio::post(io_, [done = std::move(done), outcome = std::move(outcome)]() mutable {
        done(std::move(outcome));
      });
    });
  }
  void stop();
  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

 private:
  void push(std::function<void()> job);
  void run();

  asio::io_context& io_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace pbft::runtime
