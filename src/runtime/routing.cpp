#include "src/runtime/routing.h"

#include "pbft/assert.h"
#include "pbft/wire.h"

namespace pbft::runtime {

Routing::Routing(ReplicaId self, uint32_t n, RuntimeCounters& counters)
    : self_(self), n_(n), counters_(counters), links_(n) {}

void Routing::set_link(ReplicaId r, std::unique_ptr<OutgoingLink> link) {
  PBFT_ASSERT(r < n_ && r != self_);
  links_[r] = std::move(link);
}

void Routing::stop_links() {
  for (auto& link : links_) {
    if (link) link->stop();
  }
}

void Routing::on_client_hello(Connection& c, const Hello& hello) {
  for (uint32_t k = 0; k < hello.count; k++) {
    ClientRoute& route = client_routes_[hello.id + k];
    if (route.connection.expired()) route = ClientRoute{c.shared_from_this(), false};
  }
}

bool Routing::on_request(Connection& c, ClientId client) {
  if (!c.hello || c.hello->kind != Hello::Kind::client) return true;  // a backup's forward
  if (!c.hello->carries(client)) {
    counters_.frames_wrong_client++;
    return false;
  }
  client_routes_[client] = ClientRoute{c.shared_from_this(), true};
  c.note_authentic_client(client);
  return true;
}

void Routing::on_closed(Connection& c) {
  if (!c.hello || c.hello->kind != Hello::Kind::client) return;
  for (uint32_t k = 0; k < c.hello->count; k++) {
    auto route = client_routes_.find(c.hello->id + k);
    if (route == client_routes_.end()) continue;
    // A dead weak pointer may be this connection too: it is going away.
    std::shared_ptr<Connection> routed = route->second.connection.lock();
    if (!routed || routed.get() == &c) client_routes_.erase(route);
  }
}

void Routing::send(const Send& s) {
  auto bytes = std::make_shared<const Bytes>(wire::encode(*s.message));
  switch (s.to.kind) {
    case Destination::Kind::replica:
      if (s.to.id >= n_ || s.to.id == self_) {
        counters_.send_dropped_misaddressed++;
        return;
      }
      if (links_[s.to.id]->send(bytes) == SendResult::closed) counters_.send_dropped_no_link++;
      return;
    case Destination::Kind::all_replicas:
      for (ReplicaId r = 0; r < n_; r++) {
        if (r == self_) continue;
        if (links_[r]->send(bytes) == SendResult::closed) counters_.send_dropped_no_link++;
      }
      return;
    case Destination::Kind::client: {
      auto route = client_routes_.find(s.to.id);
      std::shared_ptr<Connection> c =
          route == client_routes_.end() ? nullptr : route->second.connection.lock();
      if (!c || c->send(bytes) == SendResult::closed) counters_.send_dropped_no_route++;
      return;
    }
  }
  PBFT_ASSERT(false);
}

}  // namespace pbft::runtime
