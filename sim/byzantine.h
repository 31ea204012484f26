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
#include <optional>
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
  forge,            // messages with a wrong sender, a bad signature or MAC, or corrupted bytes
                    // (STATUS with the highest freshness counter among them); as primary,
                    // batches with a request whose client authentication is bad
  replay,           // old messages (earlier views, below the window; others' STATUS and
                    // FETCH, whose authenticators hold every replica's MAC) sent again
  wrong_digest,     // prepares and commits for digests nobody pre-prepared
  bad_checkpoint,   // wrong checkpoint digests, and claims far above the window
  bad_view_change,  // view changes with made-up certificates or an unproven checkpoint
  bad_new_view,     // as new primary: a NEW-VIEW whose O is not what V implies
  twins,            // a second instance with the same keys, driven independently
  bad_reply,        // replies with a made-up result (MAC'd: only f+1 matching catches it),
                    // or only the digest where it should send the result
  replay_requests,  // as primary: batches that repeat a request, or carry one executed before
  collude,          // a cabal (every Byzantine replica of the run): its primary equivocates,
                    // its members vote for both batches, and their VIEW-CHANGEs carry a
                    // certificate assembled from the real messages that fell short of one
};
constexpr size_t behaviour_count = 14;
const char* to_string(Behaviour behaviour);
// Whether the behaviour does anything only while its replica is primary.
bool acts_as_primary(Behaviour behaviour);

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

// What the colluding replicas of one run share (Behaviour::collude). Its
// primary, in some view v, sends PRE-PREPARE(v, s, A) to the next view's
// primary and a few correct replicas after it (group A) and PRE-PREPARE(v,
// s, B) to everybody else, then proposes nothing more: B prepares and
// commits among the others, A gathers up to 2f-1 real prepares, and the
// view times out. Every member's VIEW-CHANGE then claims A
// prepared at s, with a certificate made of the real pre-prepare for A and
// the real prepares for it, filled up to 2f entries in one of the ways a
// certificate must not be (Shortfall). A correct replica refuses such a
// VIEW-CHANGE; one that takes it lets NEW-VIEW order A where B committed.
class Cabal {
 public:
  // How the assembled certificate falls short of 2f prepares from distinct
  // backups for its pre-prepare.
  enum class Shortfall : uint8_t {
    short_by_one,    // 2f-1 prepares
    duplicates,      // one sender's prepare repeated
    from_primary,    // the primary's own prepare for A
    other_digest,    // prepares for B (the batch the others prepared)
  };
  static constexpr size_t shortfall_count = 4;

  struct Attack {
    View view = 0;
    Seq seq = 0;
    ReplicaId primary = 0;
    const Crypto* primary_crypto = nullptr;
    PrePrepare pre_prepare_a;  // signed, batch included
    Digest digest_b{};
    std::vector<ReplicaId> group_a;  // got A: the next view's primary
    // Real prepares a member received or sent for (view, seq), by digest.
    std::vector<Prepare> prepares;
  };

  void join(ReplicaId member) { members_.push_back(member); }
  bool member(ReplicaId r) const;
  // The attack in `view`, if the cabal mounted one.
  const Attack* attack_in(View view) const;
  Attack* attack_in(View view);
  // The latest attack below `view`.
  const Attack* attack_before(View view) const;
  Attack& start(Attack attack);
  void observe_prepare(const Prepare& prepare);
  uint64_t attacks() const { return attacks_.size(); }

 private:
  std::vector<ReplicaId> members_;
  // One per view at most, in order; a run mounts a few. A deque, so that
  // the pointers attack_in() returned stay valid across start().
  std::deque<Attack> attacks_;
};

class ByzantineReplica {
 public:
  // crypto is the replica's own; config and crypto must outlive this. A
  // colluding replica shares `cabal` with the others of its run.
  ByzantineReplica(const ProtocolConfig& config, const Crypto& crypto,
                   std::vector<Behaviour> behaviours, uint64_t tick_ns,
                   std::shared_ptr<Cabal> cabal = nullptr);

  const std::vector<Behaviour>& behaviours() const { return behaviours_; }
  bool has(Behaviour b) const;

  // What goes out instead of one send of the core.
  std::vector<Outgoing> rewrite(const Send& send, Random& random);
  // Messages of its own, once per tick. `view` and `low_watermark` are its
  // core's.
  std::vector<Outgoing> on_tick(View view, Seq low_watermark, Random& random);
  // Everything the replica receives (replay material, requests to replay,
  // the cabal's prepares).
  void observe_received(const Message& message, Random& random);

  uint64_t lies() const { return lies_; }

 private:
  std::shared_ptr<const Message> sign(Message m) const;
  std::vector<Outgoing> equivocate(const Send& send, const PrePrepare& pp, Random& random);
  std::shared_ptr<const Message> forge(const Message& m, Random& random) const;
  ViewChange lie_in_view_change(const ViewChange& vc, Random& random) const;
  NewView lie_in_new_view(const NewView& nv, Random& random) const;
  PrePrepare replay_requests(const PrePrepare& pp, Random& random);
  void remember_batch(const std::vector<Request>& batch);
  // Behaviour::collude: what the cabal sends instead of one own message,
  // or nothing when it leaves the message alone.
  std::optional<std::vector<Outgoing>> collude(const Send& send, Random& random);
  std::vector<Outgoing> equivocate_for_cabal(const Send& send, const PrePrepare& pp);
  std::optional<ViewChange> claim_assembled_certificate(const ViewChange& vc,
                                                      Random& random) const;
  std::vector<Outgoing> split(const Destination& destination, const Cabal::Attack& a,
                              const std::shared_ptr<const Message>& to_a,
                              const std::shared_ptr<const Message>& to_others);

  const ProtocolConfig& config_;
  const Crypto& crypto_;
  const ReplicaId self_;
  std::vector<Behaviour> behaviours_;
  uint64_t tick_ns_;
  ClientId censored_ = 0;  // censor: the client left out (the first one seen)
  bool censored_chosen_ = false;
  std::deque<std::shared_ptr<const Message>> seen_;  // replay material, bounded
  static constexpr size_t seen_max = 512;
  std::deque<Request> ordered_;  // requests of batches seen (replay_requests), bounded
  static constexpr size_t ordered_max = 256;
  std::shared_ptr<Cabal> cabal_;
  Seq highest_proposed_ = 0;  // collude: the highest sequence number it pre-prepared
  uint64_t lies_ = 0;
};

// Requests of a Byzantine client for one tick.
std::vector<Request> client_attack(ClientAttack attack, ClientId id, const ProtocolConfig& config,
                                   const Crypto& crypto, Timestamp& next_timestamp,
                                   Random& random);

}  // namespace pbft::sim
