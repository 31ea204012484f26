// Reordering: each connection's frames reach the core in the order they
// arrived, although their checks finish in any order (some inline, some on
// the verification pool). A frame takes a ticket when it arrives; its
// outcome, whenever it comes back, is parked until every earlier frame of
// its connection has gone on. Handing a frame on (or dropping it) releases
// its bytes to the back-pressure budget; so does a closed connection, for
// outcomes already back at once and for the others when they arrive.
// Internal to src/runtime.
//
// Thread safety: none; the event-loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>

#include "src/runtime/back_pressure.h"
#include "src/runtime/verification.h"

namespace pbft::runtime {

class Connection;

// A frame's place in its connection's queue, and what it reserved.
struct FrameTicket {
  uint64_t number = 0;
  uint64_t connection = 0;  // the connection's serial
  size_t bytes = 0;
  Share share = Share::stranger;  // whose part of the budget it was reserved from
};

class Reordering {
 public:
  // Called, in arrival order, for each frame of c whose turn came, with its
  // outcome (ok or a drop); it may close c.
  using HandOn = std::function<void(Connection& c, FrameOutcome&& outcome)>;

  // budget must outlive this object.
  Reordering(BackPressure& budget, HandOn hand_on)
      : budget_(budget), hand_on_(std::move(hand_on)) {}

  // A frame of frame_bytes (reserved by c's last BackPressure::reserve)
  // arrived on c: it takes the next place in c's queue.
  FrameTicket arrive(Connection& c, size_t frame_bytes);
  // The outcome of a ticket's frame is in: hands on every frame of the
  // connection whose turn has come. The connection may have closed since
  // (then only the bytes are released).
  void settle(const std::weak_ptr<Connection>& connection, const FrameTicket& ticket,
              FrameOutcome outcome);
  // c closed: forgets its queue, releasing the frames whose outcome is
  // already back (the others are released when it arrives).
  void on_closed(Connection& c);
  // At shutdown: nothing is handed on or released any more.
  void stop() { stopping_ = true; }

  // Frames waiting for their turn or their outcome, over all connections.
  size_t waiting() const;

 private:
  struct PendingFrame {
    FrameTicket ticket;
    bool ready = false;
    FrameOutcome outcome;
  };
  void flush(Connection& c, std::deque<PendingFrame>& pending);

  BackPressure& budget_;
  HandOn hand_on_;
  std::unordered_map<uint64_t, std::deque<PendingFrame>> pending_;  // by connection serial
  uint64_t next_ticket_ = 1;
  bool stopping_ = false;
};

}  // namespace pbft::runtime
