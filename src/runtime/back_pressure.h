// Back-pressure: the byte budgets of frames read but not yet handed to the
// core. A connection reserves a frame's bytes when its header is read,
// before the body is allocated (ConnectionOwner::reserve); when the frame is
// done with, or its connection closes, the bytes are released. The budget
// is shared as Aardvark shares its resources: replicas may use all of it,
// authenticated clients at most their part, strangers at most theirs, so a
// flood of clients or strangers cannot stop the replicas' traffic. A
// connection that does not fit pauses (TCP then pushes back on its sender)
// and is resumed when a release makes room for the frame it waits for:
// replicas first, then the others, oldest first; the rest stay paused
// without being woken. Internal to src/runtime;
// docs/design.md ("Backpressure and bounds") says why the limits are what
// they are.
//
// Thread safety: none; the event-loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

#include "pbft/constants.h"

namespace pbft::runtime {

class Connection;

// Whose part of the budget a connection's frames take: a replica's, an
// authenticated client's, or a stranger's (a connection that never
// delivered an authentic frame).
enum class Share : uint8_t { replica, client, stranger };

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
    // The part of bytes_max that authenticated clients may hold in all.
    size_t client_bytes_max = constants::verify_bytes_clients_max;
  };
  BackPressure() = default;
  explicit BackPressure(Limits limits) : limits_(limits) {}

  // Whose part c's frames take now.
  static Share share_of(const Connection& c);
  // May c read a frame of frame_bytes now? On true the bytes are reserved
  // (from c's part too, recorded in c.reserved_from); on false c is
  // remembered, to be resumed by a later release.
  bool reserve(Connection& c, size_t frame_bytes);
  // Gives back a reservation, then resumes the paused connections whose
  // frames now fit, replicas' first, then oldest first.
  void release(size_t bytes, Share share);
  // c closed: releases the reservation of a frame it was reading.
  void on_closed(Connection& c);

  size_t bytes_in_use() const { return bytes_in_use_; }
  size_t stranger_bytes_in_use() const { return stranger_bytes_in_use_; }
  size_t client_bytes_in_use() const { return client_bytes_in_use_; }
  size_t paused_connections() const { return paused_.size(); }

 private:
  struct Paused {
    std::weak_ptr<Connection> connection;
    size_t frame_bytes;  // the frame it waits to read
  };
  // Bytes promised to connections resumed in this pass (not yet reserved).
  struct Promised {
    size_t all = 0, stranger = 0, client = 0;
  };
  bool fits(Share share, size_t frame_bytes, const Promised& promised) const;
  void resume_what_fits();

  Limits limits_;
  size_t bytes_in_use_ = 0;
  size_t stranger_bytes_in_use_ = 0;  // the part reserved by strangers
  size_t client_bytes_in_use_ = 0;    // the part reserved by authenticated clients
  std::deque<Paused> paused_;
};

}  // namespace pbft::runtime
