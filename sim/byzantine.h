// Byzantine replicas and clients for the simulator (issue 5's list). A
// Byzantine replica runs the correct core; what it sends is rewritten on the
// way out, authenticated again with its own keys where that lets the lie
// pass the receivers' verifiers (so that only the protocol's rules can catch
// it), and it sends messages of its own on ticks. The behaviours are active
// during the fault phase only: afterwards the replica sends what its core
// sends, so that the liveness phase can require progress.
//
// Byzantine clients send requests of their own under client ids beyond the
// workload's, on keys the workload never uses (so that the correct clients'
// histories stay theirs to check).
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "pbft/config.h"
#include "pbft/crypto.h"
#include "pbft/messages.h"
#include "pbft/replica.h"
#include "src/workload/random.h"

namespace pbft::sim {

enum class Behaviour : uint8_t {
  silent,           // sends nothing (a crashed replica that still listens), primary or not
  equivocate,       // as primary: a different batch for half of the backups
  slow,             // as primary: each pre-prepare held back most of a view-change timeout
  censor,           // as primary: one client's requests left out of every batch
  forge,            // messages with a wrong sender, a bad signature or MAC, or corrupted bytes;
                    // as primary, batches with a request whose client authentication is bad
  replay,           // old messages (earlier views, below the window) sent again
  wrong_digest,     // prepares and commits for digests nobody pre-prepared
  bad_checkpoint,   // wrong checkpoint digests, and claims far above the window
  bad_view_change,  // view changes with made-up certificates or an unproven checkpoint
  bad_new_view,     // as new primary: a NEW-VIEW whose O is not what V implies
  twins,            // a second instance with the same keys, driven independently
  bad_reply,        // replies with a made-up result (MAC'd: only f+1 matching catches it),
                    // or only the digest where it should send the result
};
constexpr size_t behaviour_count = 12;
const char* to_string(Behaviour behaviour);

enum class ClientAttack : uint8_t {
  timestamps,  // reused and out-of-order timestamps
  big_mac,     // MACs valid for the primary only (the "big MAC" attack)
  flood,       // many requests per tick
};
const char* to_string(ClientAttack attack);

// One message a Byzantine replica sends, and how.
struct Outgoing {
  Destination to;
  std::shared_ptr<const Message> message;
  bool corrupt_bytes = false;  // flip one byte of the encoding
  uint64_t extra_delay_ns = 0;
};

class ByzantineReplica {
 public:
  // crypto is the replica's own; config and crypto must outlive this.
  ByzantineReplica(const ProtocolConfig& config, const Crypto& crypto,
                   std::vector<Behaviour> behaviours, uint64_t tick_ns);

  const std::vector<Behaviour>& behaviours() const { return behaviours_; }
  bool has(Behaviour b) const;

  // What goes out instead of one send of the core.
  std::vector<Outgoing> rewrite(const Send& send, Random& random);
  // Messages of its own, once per tick. `view` and `low_watermark` are its
  // core's.
  std::vector<Outgoing> on_tick(View view, Seq low_watermark, Random& random);
  // Everything the replica receives (replay material).
  void observe_received(const std::shared_ptr<const Message>& message);

  uint64_t lies() const { return lies_; }

 private:
  std::shared_ptr<const Message> sign(Message m) const;
  std::vector<Outgoing> equivocate(const Send& send, const PrePrepare& pp, Random& random);
  std::shared_ptr<const Message> forge(const Message& m, Random& random) const;
  ViewChange lie_in_view_change(const ViewChange& vc, Random& random) const;
  NewView lie_in_new_view(const NewView& nv, Random& random) const;

  const ProtocolConfig& config_;
  const Crypto& crypto_;
  const ReplicaId self_;
  std::vector<Behaviour> behaviours_;
  uint64_t tick_ns_;
  ClientId censored_ = 0;  // censor: the client left out (the first one seen)
  bool censored_chosen_ = false;
  std::deque<std::shared_ptr<const Message>> seen_;  // replay material, bounded
  static constexpr size_t seen_max = 512;
  uint64_t lies_ = 0;
};

// Requests of a Byzantine client for one tick.
std::vector<Request> client_attack(ClientAttack attack, ClientId id, const ProtocolConfig& config,
                                   const Crypto& crypto, Timestamp& next_timestamp,
                                   Random& random);

}  // namespace pbft::sim
