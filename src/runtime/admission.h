// Admission: which accepted connections a replica keeps. It holds the table
// of accepted connections, at most max_connections of them: when the table
// is full, the oldest connection that never delivered an authentic frame (a
// stranger) is closed to make room, so that a flood of silent or junk
// connections cannot lock correct peers and clients out. Within the table,
// one remote address holds at most max_connections_per_address, and one
// principal (a replica, a client id) at most max_connections_per_principal
// (a new one closes its oldest). An address whose connection broke a rule
// of the link (a failed TLS handshake or hello, a frame of its own
// principal that fails authentication, a frame from the wrong sender:
// Connection::misbehaved) backs off: its new connections are refused for a
// while (AddressBackoff). Once the link authenticated, it is the principal
// that backs off (its hellos are refused, from any address), not the
// address, which correct principals may share. After the authenticated hello (connection.h) it
// applies the rules of whom: a replica hello must name a peer, not this
// replica. Internal to src/runtime; docs/design.md ("Links", "Backpressure
// and bounds").
//
// Thread safety: none; the event-loop thread only.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "pbft/runtime.h"
#include "src/runtime/connection.h"

namespace pbft::runtime {

// Addresses refused for a while after a failure: the first failure refuses
// an address for `base`, each failure while it is remembered doubles that,
// up to `max`; an address is forgotten once it stayed quiet for as long
// again after its back-off ended. At most `capacity` addresses are
// remembered (the one whose back-off ends first is forgotten first), so a
// flood from many addresses takes bounded memory.
class AddressBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  AddressBackoff(std::chrono::milliseconds base, std::chrono::milliseconds max,
                 size_t capacity = constants::backoff_addresses_max)
      : base_(base), max_(max), capacity_(capacity) {}

  // Is `address` refused at `now`?
  bool refuses(const std::string& address, Clock::time_point now);
  // A failure from `address` at `now`: returns how long it is refused.
  std::chrono::milliseconds fail(const std::string& address, Clock::time_point now);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Clock::time_point until;
    std::chrono::milliseconds backoff;
  };
  std::chrono::milliseconds base_;
  std::chrono::milliseconds max_;
  size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
};

class Admission {
 public:
  // options (the cluster, this replica's id, the limits and timeouts),
  // counters and security must outlive this object.
  Admission(const ReplicaHostOptions& options, RuntimeCounters& counters);

  // The links' security (this replica's identity); set once before admit.
  void set_security(std::shared_ptr<const LinkSecurity> security) {
    security_ = std::move(security);
  }

  // A socket the listener accepted: refused when its address is backing
  // off or holds its share already; else makes room if the table is full
  // (or refuses the socket when every connection in it is authentic), then
  // starts a connection on it that reports to `owner`.
  void admit(asio::ip::tcp::socket socket, ConnectionOwner& owner);
  // The authenticated hello of an accepted connection: true when it is
  // kept; false when c was closed for it. Closes the oldest connections of
  // its principals past their share.
  bool on_hello(Connection& c, const Hello& hello);
  // c closed: it leaves the table; a misbehaved connection's address backs
  // off.
  void on_closed(Connection& c, const std::string& reason);
  // Closes every connection in the table (at shutdown).
  void close_all(const std::string& reason);

  size_t connections() const { return accepted_.size(); }
  const AddressBackoff& backoff() const { return backoff_; }

 private:
  static uint64_t principal_key(Hello::Kind kind, uint32_t id) {
    return uint64_t{static_cast<uint8_t>(kind)} << 32 | id;
  }

  const ReplicaHostOptions& options_;
  RuntimeCounters& counters_;
  std::shared_ptr<const LinkSecurity> security_;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> accepted_;  // by serial
  std::unordered_map<std::string, size_t> per_address_;  // accepted, by remote address
  // Each principal's authenticated connections, oldest first.
  std::unordered_map<uint64_t, std::deque<std::weak_ptr<Connection>>> per_principal_;
  AddressBackoff backoff_;            // addresses (failures before the hello)
  AddressBackoff principal_backoff_;  // principals (failures after it)
};

}  // namespace pbft::runtime
