#include "src/runtime/reordering.h"

#include <vector>

#include "src/runtime/connection.h"

namespace pbft::runtime {

FrameTicket Reordering::arrive(Connection& c, size_t frame_bytes) {
  c.in_verification++;
  const FrameTicket ticket{next_ticket_++, c.serial(), frame_bytes, c.reserved_from};
  pending_[c.serial()].push_back(PendingFrame{ticket, false, {}});
  return ticket;
}

void Reordering::settle(const std::weak_ptr<Connection>& connection, const FrameTicket& ticket,
                        FrameOutcome outcome) {
  if (stopping_) return;
  auto it = pending_.find(ticket.connection);
  std::shared_ptr<Connection> c = connection.lock();
  if (it == pending_.end() || !c) {
    budget_.release(ticket.bytes, ticket.share);  // the connection closed meanwhile
    return;
  }
  for (PendingFrame& p : it->second) {
    if (p.ticket.number != ticket.number) continue;
    p.ready = true;
    p.outcome = std::move(outcome);
    break;
  }
  flush(*c, it->second);
}

void Reordering::flush(Connection& c, std::deque<PendingFrame>& pending) {
  while (!pending.empty() && pending.front().ready) {
    PendingFrame p = std::move(pending.front());
    pending.pop_front();
    c.in_verification--;
    budget_.release(p.ticket.bytes, p.ticket.share);
    hand_on_(c, std::move(p.outcome));
    if (stopping_ || !c.is_open()) return;  // pending may be gone
  }
}

void Reordering::on_closed(Connection& c) {
  auto it = pending_.find(c.serial());
  if (it == pending_.end()) return;
  // Frames whose outcome is back are released here; the others when
  // their outcome arrives and finds no entry.
  std::vector<PendingFrame> ready;
  for (PendingFrame& p : it->second) {
    if (p.ready) ready.push_back(std::move(p));
  }
  pending_.erase(it);
  for (const PendingFrame& p : ready) budget_.release(p.ticket.bytes, p.ticket.share);
}

size_t Reordering::waiting() const {
  size_t n = 0;
  for (const auto& [serial, frames] : pending_) n += frames.size();
  return n;
}

}  // namespace pbft::runtime
