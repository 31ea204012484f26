#include "pbft/config.h"

#include <string>

namespace pbft {

Status ProtocolConfig::validate() const {
  if (f < 1) return Status::error("f must be at least 1");
  if (n != 3 * f + 1) {
    return Status::error("n must be 3f+1: n=" + std::to_string(n) + ", f=" + std::to_string(f));
  }
  if (n > constants::replicas_max) {
    return Status::error("n must be at most " + std::to_string(constants::replicas_max));
  }
  if (batch_size_max < 1 || batch_size_max > constants::batch_requests_max) {
    return Status::error("batch_size_max must be in 1.." +
                         std::to_string(constants::batch_requests_max));
  }
  if (checkpoint_interval < 1) return Status::error("checkpoint_interval must be at least 1");
  if (log_window < checkpoint_interval || log_window > constants::log_window_max) {
    return Status::error("log_window must be in checkpoint_interval.." +
                         std::to_string(constants::log_window_max));
  }
  if (in_flight_max < 1 || in_flight_max > log_window) {
    return Status::error("in_flight_max must be in 1..log_window");
  }
  if (status_interval_ticks < 1) return Status::error("status_interval_ticks must be at least 1");
  return Status::ok();
}

}  // namespace pbft
