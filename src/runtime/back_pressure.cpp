#include "src/runtime/back_pressure.h"

#include <algorithm>
#include <vector>

#include "pbft/assert.h"
#include "src/runtime/connection.h"

namespace pbft::runtime {

Share BackPressure::share_of(const Connection& c) {
  if (!c.authentic) return Share::stranger;
  if (c.hello && c.hello->kind == Hello::Kind::replica) return Share::replica;
  return Share::client;
}

bool BackPressure::reserve(Connection& c, size_t frame_bytes) {
  const Share share = share_of(c);
  const bool fits =
      c.in_verification < limits_.frames_per_connection_max &&
      bytes_in_use_ + frame_bytes <= limits_.bytes_max &&
      (share != Share::stranger ||
       stranger_bytes_in_use_ + frame_bytes <= limits_.stranger_bytes_max) &&
      (share != Share::client || client_bytes_in_use_ + frame_bytes <= limits_.client_bytes_max);
  if (!fits) {
    paused_.push_back(c.weak_from_this());
    return false;
  }
  bytes_in_use_ += frame_bytes;
  if (share == Share::stranger) stranger_bytes_in_use_ += frame_bytes;
  if (share == Share::client) client_bytes_in_use_ += frame_bytes;
  c.reserved_from = share;
  return true;
}

void BackPressure::release(size_t bytes, Share share) {
  PBFT_ASSERT(bytes_in_use_ >= bytes);
  bytes_in_use_ -= bytes;
  if (share == Share::stranger) {
    PBFT_ASSERT(stranger_bytes_in_use_ >= bytes);
    stranger_bytes_in_use_ -= bytes;
  } else if (share == Share::client) {
    PBFT_ASSERT(client_bytes_in_use_ >= bytes);
    client_bytes_in_use_ -= bytes;
  }
  // Give paused connections another chance, replicas first, then oldest
  // first; one that still does not fit puts itself back on the list.
  std::vector<std::shared_ptr<Connection>> waiting;
  waiting.reserve(paused_.size());
  for (const std::weak_ptr<Connection>& weak : paused_) {
    std::shared_ptr<Connection> c = weak.lock();
    if (c && c->is_open() && c->paused()) waiting.push_back(std::move(c));
  }
  paused_.clear();
  std::stable_partition(waiting.begin(), waiting.end(), [](const auto& c) {
    return share_of(*c) == Share::replica;
  });
  for (const std::shared_ptr<Connection>& c : waiting) c->resume();
}

void BackPressure::on_closed(Connection& c) {
  if (c.read_reservation() > 0) release(c.read_reservation(), c.reserved_from);
}

}  // namespace pbft::runtime
