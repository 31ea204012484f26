// Back-pressure: the byte budgets of frames read but not yet handed to the
// core. A connection reserves a frame's bytes when its header is read,
// before the body is allocated (ConnectionOwner::reserve); when the frame is
// done with, or its connection closes, the bytes are released. A connection
// that does not fit pauses (TCP then pushes back on its sender) and is
// resumed, oldest first, as bytes are released. Internal to src/runtime;
// docs/design.md ("Backpressure and bounds") says why the limits are what
// they are.
//
// Thread safety: none; the event-loop thread only.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>

#include "pbft/constants.h"

namespace pbft::runtime {

class Connection;

class BackPressure {
 public:
  struct Limits {
    // Frames of one connection reserved and not yet handed on.
    size_t frames_per_connection_max = constants::verify_frames_per_connection_max;
    // Bytes reserved over all connections.
    size_t bytes_max = constants::verify_bytes_max;
    // The part of bytes_max that connections which never delivered an
    // authentic frame (strangers) may hold, so that strangers cannot
    // starve known peers and clients.
    size_t stranger_bytes_max = constants::verify_bytes_unauthenticated_max;
  };
  BackPressure() = default;
  explicit BackPressure(Limits limits) : limits_(limits) {}

  // May c read a frame of frame_bytes now? On true the bytes are reserved
  // (from the strangers' part too if c is not authentic yet; recorded in
  // c.reserved_as_stranger); on false c is remembered, to be resumed by a
  // later release.
  bool reserve(Connection& c, size_t frame_bytes);
  // Gives back a reservation, then resumes the paused connections, oldest
  // first (one that still does not fit pauses again).
  void release(size_t bytes, bool from_stranger);
  // c closed: releases the reservation of a frame it was reading.
  void on_closed(Connection& c);

  size_t bytes_in_use() const { return bytes_in_use_; }
  size_t stranger_bytes_in_use() const { return stranger_bytes_in_use_; }
  size_t paused_connections() const { return paused_.size(); }

 private:
  Limits limits_;
  size_t bytes_in_use_ = 0;
  size_t stranger_bytes_in_use_ = 0;  // the part reserved by strangers
  std::deque<std::weak_ptr<Connection>> paused_;
};

}  // namespace pbft::runtime
