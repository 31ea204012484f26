// What every attack mode implements, and what it is given. Internal to
// src/attack: attacker.cpp runs one Campaign on the attacker's event-loop
// thread; network_attacks.cpp, client_attacks.cpp and replica_attacks.cpp
// make them, one family each.
//
// Thread safety: a Campaign is created on the thread that starts the
// attacker and then used only on the attacker's event-loop thread.
#pragma once

#include "src/runtime/asio.h"

#include <chrono>
#include <functional>
#include <memory>

#include "src/attack/attacker.h"
#include "src/workload/random.h"

namespace pbft::attack {

struct Context {
  asio::io_context& io;
  const AttackOptions& options;
  Random random;
};

class Campaign {
 public:
  virtual ~Campaign() = default;
  // Opens the first connections and arms the timers (on the loop).
  virtual void start() = 0;
  // Closes everything; no handler may touch the campaign afterwards (on
  // the loop, before the loop ends).
  virtual void stop() = 0;
  // The counters so far (on the loop).
  virtual AttackCounters counters() const = 0;
};

// One per family; `context` outlives the campaign.
std::unique_ptr<Campaign> make_network_campaign(Context& context);
std::unique_ptr<Campaign> make_client_campaign(Context& context);
std::unique_ptr<Campaign> make_replica_campaign(Context& context);

// A repeating timer on the loop: calls `tick` every `period` until stop().
class Ticker {
 public:
  Ticker(asio::io_context& io, std::chrono::milliseconds period, std::function<void()> tick)
      : timer_(io), period_(period), tick_(std::move(tick)) {}
  ~Ticker() { *alive_ = false; }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  void start() { arm(); }
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void arm() {
    timer_.expires_after(period_);
    timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
      if (ec || !*alive || stopped_) return;
      tick_();
      arm();
    });
  }
  asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  std::function<void()> tick_;
  bool stopped_ = false;
  // A handler that runs after the ticker is gone (the loop delivers the
  // cancellation later) checks this first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Raises a gauge to `value` if it is higher.
inline void raise(uint64_t& gauge, uint64_t value) {
  if (value > gauge) gauge = value;
}

}  // namespace pbft::attack
