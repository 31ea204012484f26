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
    jobs_.clear();
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void VerifyPool::push(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void VerifyPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace pbft::runtime
