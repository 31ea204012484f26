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

bool BackPressure::fits(Share share, size_t frame_bytes, const Promised& promised) const {
  return bytes_in_use_ + promised.all + frame_bytes <= limits_.bytes_max &&
         (share != Share::stranger || stranger_bytes_in_use_ + promised.stranger + frame_bytes <=
                                          limits_.stranger_bytes_max) &&
         (share != Share::client ||
          client_bytes_in_use_ + promised.client + frame_bytes <= limits_.client_bytes_max);
}

bool BackPressure::reserve(Connection& c, size_t frame_bytes) {
  const Share share = share_of(c);
  if (c.in_verification >= limits_.frames_per_connection_max ||
      !fits(share, frame_bytes, Promised{})) {
    paused_.push_back(Paused{c.weak_from_this(), frame_bytes});
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
  resume_what_fits();
}

void BackPressure::resume_what_fits() {
  // Replicas first, then oldest first: each paused connection whose frame
  // now fits (counting the frames of those resumed before it in this pass)
  // is resumed; the others stay paused without being woken, so that a
  // release costs the connections it can serve, not every paused one.
  // A connection paused for its own frames in verification fits once one
  // of them is handed on (Reordering counts it down before the release).
  std::deque<Paused> still;
  std::vector<std::shared_ptr<Connection>> resuming;
  Promised promised;
  auto pass = [&](bool replicas) {
    for (const Paused& p : paused_) {
      std::shared_ptr<Connection> c = p.connection.lock();
      if (!c || !c->is_open() || !c->paused()) continue;
      const Share share = share_of(*c);
      if ((share == Share::replica) != replicas) continue;
      if (c->in_verification < limits_.frames_per_connection_max &&
          fits(share, p.frame_bytes, promised)) {
        promised.all += p.frame_bytes;
        if (share == Share::stranger) promised.stranger += p.frame_bytes;
        if (share == Share::client) promised.client += p.frame_bytes;
        resuming.push_back(std::move(c));
      } else {
        still.push_back(p);
      }
    }
  };
  pass(true);
  pass(false);
  paused_ = std::move(still);
  // (A resumed connection reserves again from a handler of its own.)
  for (const std::shared_ptr<Connection>& c : resuming) c->resume();
}

void BackPressure::on_closed(Connection& c) {
  if (c.read_reservation() > 0) release(c.read_reservation(), c.reserved_from);
}


}  // namespace pbft::runtime
