// The one place where an attacker opens a link that a replica takes as a
// principal's: a client group's link to a replica, a replica's link to a
// peer, and the listener on which the peers of the replica it replaces
// dial it. Everything else in src/attack sends and receives frames on what
// these return.
//
// A link is the runtime's (src/runtime/connection.h): TLS or cleartext,
// then hellos that each principal signs over the link's channel binding.
// The attacker holds real keys (LinkIdentity): a Byzantine client or
// replica authenticates as what it is, and the replicas bind what it sends
// to that principal. memory-fill runs correct client cores in a
// runtime::ClientPool, whose links are the runtime's own.
//
// Thread safety: the loop's (as connection.h).
#pragma once

#include "src/runtime/asio.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/runtime.h"
#include "src/attack/attacker.h"
#include "src/runtime/connection.h"

namespace pbft::attack {

// Who a link speaks for: one replica, or a group of consecutive client ids
// (the first and how many), with their secret keys (one per principal).
struct LinkIdentity {
  Principal first = Principal::client(0);
  uint16_t count = 1;
  std::vector<SecretKey> keys;

  static LinkIdentity replica(ReplicaId id, const SecretKey& key) {
    return LinkIdentity{Principal::replica(id), 1, {key}};
  }
  static LinkIdentity clients(const std::vector<runtime::ClientPool::Member>& members);
  // The runtime's description of this end of its links (keys, TLS).
  // cluster must outlive what is returned.
  std::shared_ptr<const runtime::LinkSecurity> security(const ClusterConfig& cluster) const;
};

// A link to replica `to` that keeps itself connected (reconnecting with the
// runtime's back-off); frames the replica sends on it go to `owner`, and
// `on_state` (may be empty) hears of it going up and down.
std::unique_ptr<runtime::OutgoingLink> open_link(asio::io_context& io, const ClusterConfig& cluster,
                                                 ReplicaId to, const LinkIdentity& self,
                                                 std::shared_ptr<const runtime::LinkSecurity> security,
                                                 runtime::ConnectionOwner& owner,
                                                 runtime::RuntimeCounters& counters,
                                                 runtime::QueueLimits limits,
                                                 runtime::OutgoingLink::StateChange on_state);

// A link to every replica (but the identity's own, for a replica), each
// kept connected; frames the replicas send on them go to `on_frame`.
class LinkSet {
 public:
  using FrameHandler = std::function<void(ReplicaId from, Bytes frame)>;
  LinkSet(asio::io_context& io, const ClusterConfig& cluster, LinkIdentity self,
          runtime::QueueLimits limits, FrameHandler on_frame);
  ~LinkSet();
  LinkSet(const LinkSet&) = delete;
  LinkSet& operator=(const LinkSet&) = delete;

  void start();
  void stop();
  // Queues a frame for replica `to` (SendResult::closed when the link is
  // down or there is none, e.g. to the identity's own replica).
  runtime::SendResult send(ReplicaId to, std::shared_ptr<const Bytes> frame);
  bool up(ReplicaId to) const;
  const LinkIdentity& identity() const { return self_; }
  // Adds what the links did to c (frames and bytes, connections).
  void add_to(AttackCounters& c) const;

 private:
  // What one link's connection reports, with the replica it goes to.
  class Owner final : public runtime::ConnectionOwner {
   public:
    Owner(LinkSet& set, ReplicaId to) : set_(set), to_(to) {}
    void on_hello(runtime::Connection& c, const runtime::Hello&) override {
      c.close("unexpected hello");
    }
    bool reserve(runtime::Connection&, size_t) override { return true; }
    void on_frame(runtime::Connection&, Bytes frame) override {
      set_.on_frame_(to_, std::move(frame));
    }
    void on_closed(runtime::Connection&, const std::string&) override {}

   private:
    LinkSet& set_;
    ReplicaId to_;
  };

  asio::io_context& io_;
  const ClusterConfig& cluster_;
  LinkIdentity self_;
  std::shared_ptr<const runtime::LinkSecurity> security_;
  runtime::QueueLimits limits_;
  FrameHandler on_frame_;
  runtime::RuntimeCounters counters_;
  std::vector<std::unique_ptr<Owner>> owners_;                  // index: replica id
  std::vector<std::unique_ptr<runtime::OutgoingLink>> links_;  // index: replica id
  uint64_t opened_ = 0, closed_ = 0, open_ = 0, open_max_ = 0;
};

// Accepts the links that the cluster's replicas dial to replica `self` (on
// its port, on every address, as a replica listens) and hands their frames
// to `owner` (its on_frame and on_closed; the listener answers the hellos
// and the reservations itself). A connection whose hello is not a peer's
// is closed.
class PeerListener final : public runtime::ConnectionOwner {
 public:
  PeerListener(asio::io_context& io, const ClusterConfig& cluster, const LinkIdentity& self,
               runtime::ConnectionOwner& owner, runtime::RuntimeCounters& counters);
  ~PeerListener() override;
  PeerListener(const PeerListener&) = delete;
  PeerListener& operator=(const PeerListener&) = delete;

  Status start();
  void stop();

 private:
  void accept();
  void on_hello(runtime::Connection& c, const runtime::Hello& hello) override;
  bool reserve(runtime::Connection&, size_t) override { return true; }
  void on_frame(runtime::Connection& c, Bytes frame) override {
    owner_.on_frame(c, std::move(frame));
  }
  void on_closed(runtime::Connection& c, const std::string& reason) override;

  asio::io_context& io_;
  const ClusterConfig& cluster_;
  ReplicaId self_;
  std::shared_ptr<const runtime::LinkSecurity> security_;
  runtime::ConnectionOwner& owner_;
  runtime::RuntimeCounters& counters_;
  asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<runtime::Connection>> accepted_;
  bool stopped_ = false;
};

}  // namespace pbft::attack
