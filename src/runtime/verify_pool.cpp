#include "src/runtime/verify_pool.h"

namespace pbft::runtime {

VerifyPool::VerifyPool(asio::io_context& io, unsigned threads) : io_(io) {
  for (unsigned i = 0; i < threads; i++) threads_.emplace_back([this] { run(); });
}

VerifyPool::~VerifyPool() { stop(); }

void VerifyPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    queues_ = {};
    queued_ = 0;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void VerifyPool::push(Lane lane, std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    ClassQueue& queue = queues_[static_cast<size_t>(lane.cls)];
    std::deque<std::function<void()>>& jobs = queue.lanes[lane.id];
    if (jobs.empty()) queue.turn.push_back(lane.id);
    jobs.push_back(std::move(job));
    queued_++;
  }
  wake_.notify_one();
}

bool VerifyPool::pop(std::function<void()>& job) {
  for (ClassQueue& queue : queues_) {
    if (queue.turn.empty()) continue;
    const uint64_t id = queue.turn.front();
    queue.turn.pop_front();
    auto lane = queue.lanes.find(id);
    job = std::move(lane->second.front());
    lane->second.pop_front();
    if (lane->second.empty()) {
      queue.lanes.erase(lane);
    } else {
      queue.turn.push_back(id);  // its next job waits for the other lanes' turn
    }
    queued_--;
    return true;
  }
  return false;
}

void VerifyPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || queued_ > 0; });
      if (stopping_) return;
      pop(job);
    }
    job();
  }
}

}  // namespace pbft::runtime
