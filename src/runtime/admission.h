// Admission: which accepted connections a replica keeps. It holds the table
// of accepted connections, at most max_connections of them: when the table
// is full, the oldest connection that never delivered an authentic frame (a
// stranger) is closed to make room, so that a flood of silent or junk
// connections cannot lock correct peers and clients out. It applies the
// hello rules: a replica hello must name a peer, a client hello only clients
// of the cluster file. Internal to src/runtime; docs/design.md
// ("Connections", "Backpressure and bounds").
//
// Thread safety: none; the event-loop thread only.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "pbft/runtime.h"
#include "src/runtime/connection.h"

namespace pbft::runtime {

class Admission {
 public:
  // options (the cluster, this replica's id, the limits and timeouts) and
  // counters must outlive this object.
  Admission(const ReplicaHostOptions& options, RuntimeCounters& counters);

  // A socket the listener accepted: makes room if the table is full (or
  // refuses the socket when every connection in it is authentic), then
  // starts a connection on it that reports to `owner`.
  void admit(asio::ip::tcp::socket socket, ConnectionOwner& owner);
  // The hello of an accepted connection: true when it is accepted (and
  // recorded in c.hello); false when c was closed for it.
  bool on_hello(Connection& c, const Hello& hello);
  // c closed: it leaves the table.
  void on_closed(Connection& c, const std::string& reason);
  // Closes every connection in the table (at shutdown).
  void close_all(const std::string& reason);

  size_t connections() const { return accepted_.size(); }

 private:
  const ReplicaHostOptions& options_;
  RuntimeCounters& counters_;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> accepted_;  // by serial
};

}  // namespace pbft::runtime
