// Routing: where the core's messages go. Peers are reached on the links
// this replica dialed; a client on the connection its route names. A
// client's route is provisional when only a (not authenticated) hello set
// it, authentic once an authentic request from that client arrived on the
// connection (the latest such connection wins). Every Send is encoded once,
// whatever the number of destinations. Internal to src/runtime;
// docs/design.md ("Connections") says why a forged hello can do little.
//
// Thread safety: none; the event-loop thread only.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "pbft/replica.h"
#include "pbft/runtime.h"
#include "src/runtime/connection.h"

namespace pbft::runtime {

class Routing {
 public:
  // A replica `self` of n; counters must outlive this object.
  Routing(ReplicaId self, uint32_t n, RuntimeCounters& counters);

  // The link to peer r (r != self); called once per peer at start.
  void set_link(ReplicaId r, std::unique_ptr<OutgoingLink> link);
  // Stops every link (at shutdown; idempotent).
  void stop_links();

  // An accepted client hello: its clients' replies go to c until an
  // authentic request says otherwise, unless another live connection
  // already claimed the client (a stranger's hello must not divert replies
  // from a connection that works).
  void on_client_hello(Connection& c, const Hello& hello);
  // An authentic request from `client` arrived on c. On a client connection
  // it routes the client's replies to c; it returns false (and counts
  // frames_wrong_client) when c's hello does not carry that client, and the
  // request must be dropped. On a replica link it is a backup's forward: it
  // routes nothing.
  bool on_request(Connection& c, ClientId client);
  // c closed: the routes to it go.
  void on_closed(Connection& c);

  // Sends s to its destinations (dropped and counted when a peer is not
  // connected, a client has no route or a queue is full).
  void send(const Send& s);

 private:
  struct ClientRoute {
    std::weak_ptr<Connection> connection;
    bool authentic = false;  // set by an authentic request on that connection
  };

  ReplicaId self_;
  uint32_t n_;
  RuntimeCounters& counters_;
  std::vector<std::unique_ptr<OutgoingLink>> links_;  // index = replica id; self empty
  std::unordered_map<ClientId, ClientRoute> client_routes_;
};

}  // namespace pbft::runtime
