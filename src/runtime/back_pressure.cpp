#include "src/runtime/back_pressure.h"

#include "pbft/assert.h"
#include "src/runtime/connection.h"

namespace pbft::runtime {

bool BackPressure::reserve(Connection& c, size_t frame_bytes) {
  const bool stranger = !c.authentic;
  if (c.in_verification >= limits_.frames_per_connection_max ||
      bytes_in_use_ + frame_bytes > limits_.bytes_max ||
      (stranger && stranger_bytes_in_use_ + frame_bytes > limits_.stranger_bytes_max)) {
    paused_.push_back(c.weak_from_this());
    return false;
  }
  bytes_in_use_ += frame_bytes;
  if (stranger) stranger_bytes_in_use_ += frame_bytes;
  c.reserved_as_stranger = stranger;
  return true;
}

void BackPressure::release(size_t bytes, bool from_stranger) {
  PBFT_ASSERT(bytes_in_use_ >= bytes);
  bytes_in_use_ -= bytes;
  if (from_stranger) {
    PBFT_ASSERT(stranger_bytes_in_use_ >= bytes);
    stranger_bytes_in_use_ -= bytes;
  }
  // Give paused connections another chance, oldest first; one that still
  // does not fit puts itself back on the list.
  const size_t waiting = paused_.size();
  for (size_t i = 0; i < waiting && !paused_.empty(); i++) {
    std::shared_ptr<Connection> c = paused_.front().lock();
    paused_.pop_front();
    if (c && c->is_open() && c->paused()) c->resume();
  }
}

void BackPressure::on_closed(Connection& c) {
  if (c.read_reservation() > 0) release(c.read_reservation(), c.reserved_as_stranger);
}

}  // namespace pbft::runtime
