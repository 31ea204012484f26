// Decoding and verification of incoming frames off the event-loop thread.
//
// A fixed set of worker threads takes jobs and posts each job's outcome back
// to the io_context, where the owner puts it in order. Jobs are queued per
// principal (a lane: each replica, each client, each unauthenticated
// connection) and served as Aardvark serves its separate queues: replicas'
// first, then clients', then strangers', round robin among the lanes of a
// class, so that one principal's flood delays only its own frames. The
// queues hold only frames the owner reserved budget for (see
// ConnectionOwner::reserve), so they are bounded by constants::verify_bytes_max.
// With zero threads a job runs on the calling (loop) thread.
//
// Thread safety: submit() from the loop thread; the job itself must only
// touch thread-safe state (wire::decode and Verifier::verify are).
#pragma once

#include "src/runtime/asio.h"

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace pbft::runtime {

// Whose frame a job checks. Classes are served in this order.
struct Lane {
  enum class Class : uint8_t { replica = 0, client = 1, stranger = 2 };
  Class cls = Class::stranger;
  uint64_t id = 0;  // the replica or client id; a stranger's connection serial
};

class VerifyPool {
 public:
  VerifyPool(asio::io_context& io, unsigned threads);
  ~VerifyPool();  // stops and joins; outcomes not yet posted are dropped
  VerifyPool(const VerifyPool&) = delete;
  VerifyPool& operator=(const VerifyPool&) = delete;

  // Runs work() on a worker, then done() on the loop thread.
  template <typename Outcome>
  void submit(Lane lane, std::function<Outcome()> work, std::function<void(Outcome)> done) {
    if (threads_.empty()) {
      done(work());
      return;
    }
    push(lane, [this, work = std::move(work), done = std::move(done)]() mutable {
      Outcome outcome = work();
      asio::post(io_, [done = std::move(done), outcome = std::move(outcome)]() mutable {
        done(std::move(outcome));
      });
    });
  }
  void stop();
  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

 private:
  // The queued jobs of one class: a queue per lane, and the lanes with
  // jobs in the order they are served.
  struct ClassQueue {
    std::map<uint64_t, std::deque<std::function<void()>>> lanes;
    std::deque<uint64_t> turn;
  };
  void push(Lane lane, std::function<void()> job);
  // The next job by class, then round robin; the lock is held.
  bool pop(std::function<void()>& job);
  void run();

  asio::io_context& io_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::array<ClassQueue, 3> queues_;
  size_t queued_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace pbft::runtime
