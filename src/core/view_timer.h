// The view-change timer: liveness policy only (PBFT.md "View change",
// "Liveness"). When it fires is a matter of timing; what a replica may do
// when it fires is decided by the safety rules in view_change.cpp, which do
// not depend on it. Times are the host's ticks.
#pragma once

#include <cstdint>
#include <optional>

#include "pbft/constants.h"

namespace pbft {

class ViewTimer {
 public:
  explicit ViewTimer(uint64_t base_ticks) : base_(base_ticks) {}

  // Starts the timer unless it runs already.
  void start(uint64_t now) {
    if (!started_) started_ = now;
  }
  void restart(uint64_t now) { started_ = now; }
  void stop() { started_.reset(); }
  bool running() const { return started_.has_value(); }
  bool expired(uint64_t now) const { return started_ && now - *started_ >= timeout(); }

  // A view failed: the next one gets twice as long (up to a bound).
  void back_off() {
    if (doublings_ < constants::view_change_backoff_max) doublings_++;
  }
  // A request executed: the current view works.
  void reset_backoff() { doublings_ = 0; }

  uint64_t timeout() const { return base_ << doublings_; }

 private:
  uint64_t base_;
  uint32_t doublings_ = 0;
  std::optional<uint64_t> started_;
};

}  // namespace pbft
