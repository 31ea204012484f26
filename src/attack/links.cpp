#include "src/attack/links.h"

#include <fmt/format.h>

#include <algorithm>

#include "pbft/assert.h"

namespace pbft::attack {

using runtime::Connection;
using runtime::Hello;

LinkIdentity LinkIdentity::clients(const std::vector<runtime::ClientPool::Member>& members) {
  PBFT_ASSERT(!members.empty() && members.size() <= constants::client_group_max);
  LinkIdentity identity{Principal::client(members.front().id),
                        static_cast<uint16_t>(members.size()), {}};
  for (const runtime::ClientPool::Member& m : members) identity.keys.push_back(m.secret_key);
  return identity;
}

std::shared_ptr<const runtime::LinkSecurity> LinkIdentity::security(
    const ClusterConfig& cluster) const {
  const bool replica = first.kind == PrincipalKind::replica;
  Result<std::shared_ptr<const runtime::LinkSecurity>> made = runtime::LinkSecurity::make(
      cluster, Hello{replica ? Hello::Kind::replica : Hello::Kind::client, first.id, count}, keys);
  // Only a key count that does not match, or OpenSSL out of memory.
  PBFT_ASSERT(static_cast<bool>(made));
  return std::move(made).value();
}

std::unique_ptr<runtime::OutgoingLink> open_link(asio::io_context& io, const ClusterConfig& cluster,
                                                 ReplicaId to, const LinkIdentity& self,
                                                 std::shared_ptr<const runtime::LinkSecurity> security,
                                                 runtime::ConnectionOwner& owner,
                                                 runtime::RuntimeCounters& counters,
                                                 runtime::QueueLimits limits,
                                                 runtime::OutgoingLink::StateChange on_state) {
  PBFT_ASSERT(to < cluster.replicas.size());
  const bool replica = self.first.kind == PrincipalKind::replica;
  const ReplicaEndpoint& r = cluster.replicas[to];
  const std::string name =
      replica ? fmt::format("attacker as replica {}, link to replica {}", self.first.id, to)
              : fmt::format("attacker as clients {}..{}, link to replica {}", self.first.id,
                            self.first.id + self.count - 1, to);
  auto link = std::make_unique<runtime::OutgoingLink>(
      io, r.host, r.port, to, std::move(security), owner, counters, limits, name,
      std::move(on_state));
  link->start();
  return link;
}

// ----------------------------------------------------------------- LinkSet

LinkSet::LinkSet(asio::io_context& io, const ClusterConfig& cluster, LinkIdentity self,
                 runtime::QueueLimits limits, FrameHandler on_frame)
    : io_(io),
      cluster_(cluster),
      self_(std::move(self)),
      security_(self_.security(cluster)),
      limits_(limits),
      on_frame_(std::move(on_frame)) {}

LinkSet::~LinkSet() { stop(); }

void LinkSet::start() {
  owners_.resize(cluster_.protocol.n);
  links_.resize(cluster_.protocol.n);
  for (ReplicaId r = 0; r < cluster_.protocol.n; r++) {
    if (self_.first == Principal::replica(r)) continue;
    owners_[r] = std::make_unique<Owner>(*this, r);
    links_[r] = open_link(io_, cluster_, r, self_, security_, *owners_[r], counters_, limits_,
                          [this](bool up, const std::string&) {
                            if (up) {
                              opened_++;
                              open_++;
                              open_max_ = std::max(open_max_, open_);
                            } else {
                              closed_++;
                              open_--;
                            }
                          });
  }
}

void LinkSet::stop() {
  for (auto& link : links_) {
    if (link) link->stop();
  }
}

runtime::SendResult LinkSet::send(ReplicaId to, std::shared_ptr<const Bytes> frame) {
  if (to >= links_.size() || !links_[to]) return runtime::SendResult::closed;
  return links_[to]->send(std::move(frame));
}

bool LinkSet::up(ReplicaId to) const {
  return to < links_.size() && links_[to] && links_[to]->up();
}

void LinkSet::add_to(AttackCounters& c) const {
  c.frames_sent += counters_.frames_sent;
  c.bytes_sent += counters_.bytes_sent;
  c.frames_received += counters_.frames_received;
  c.connect_attempts += counters_.connect_attempts;
  c.connections_opened += opened_;
  c.connections_closed += closed_;
  c.connections_open += open_;
  c.connections_open_max += open_max_;
}

// ---------------------------------------------------------------- listener

PeerListener::PeerListener(asio::io_context& io, const ClusterConfig& cluster,
                           const LinkIdentity& self, runtime::ConnectionOwner& owner,
                           runtime::RuntimeCounters& counters)
    : io_(io),
      cluster_(cluster),
      self_(self.first.id),
      security_(self.security(cluster)),
      owner_(owner),
      counters_(counters),
      acceptor_(io) {
  PBFT_ASSERT(self.first.kind == PrincipalKind::replica);
}

PeerListener::~PeerListener() { stop(); }

Status PeerListener::start() {
  // As the replica it replaces listens (replica_host.cpp).
  const ReplicaEndpoint& e = cluster_.replicas[self_];
  if (Status s = runtime::listen_on(acceptor_, e.listen_host, e.listen_port); !s) return s;
  accept();
  return Status::ok();
}

void PeerListener::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  // Closing calls on_closed, which erases from accepted_: close a copy.
  std::vector<std::shared_ptr<Connection>> open = accepted_;
  for (auto& c : open) c->close("attacker stopping");
  accepted_.clear();
}

void PeerListener::accept() {
  acceptor_.async_accept([this](const std::error_code& ec, asio::ip::tcp::socket socket) {
    if (stopped_) return;
    if (!ec) {
      counters_.connections_accepted++;
      auto c = std::make_shared<Connection>(
          std::move(socket), *this, counters_,
          runtime::QueueLimits{constants::peer_send_queue_frames_max,
                               constants::peer_send_queue_bytes_max},
          security_, std::nullopt, std::chrono::milliseconds(5000), "peer of the attacker");
      accepted_.push_back(c);
      c->start();
    }
    accept();
  });
}

void PeerListener::on_hello(Connection& c, const Hello& hello) {
  if (hello.kind != Hello::Kind::replica || hello.id >= cluster_.protocol.n || hello.id == self_) {
    counters_.hello_rejected++;
    c.close("not a peer's hello");
    return;
  }
  c.hello = hello;
}

void PeerListener::on_closed(Connection& c, const std::string& reason) {
  std::erase_if(accepted_, [&](const std::shared_ptr<Connection>& a) { return a.get() == &c; });
  owner_.on_closed(c, reason);
}

}  // namespace pbft::attack
