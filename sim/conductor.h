// The conductor (fault `conflict`, issue 16): a network adversary that
// steers a run, on purpose, into a corner that random faults almost never
// reach. One sequence number s prepares with batch A in view v at one
// replica only, the holder H; while H is cut off, the others change views
// without its certificate and commit another batch B at s in a later view
// w; then H comes back, w's primary is cut off, and the view change to w+1
// gathers a V that carries both certificates for s: A's from v (H's) and
// B's from w. Correct PBFT orders B again in w+1, the certificate of the
// latest view (PBFT.md, "View change"); a core that chose A (the lowest
// view, the first certificate found) would make H execute A at s where the
// others executed B, and the agreement checker would fail the run.
//
// It acts by network control only, which PBFT must survive: it drops chosen
// messages and isolates replicas for a while, so it does not count against
// the f faulty replicas. Since it takes one replica away at a time, it
// starts, and goes on, only while at most f-1 others are down, cut off or
// recovering. The stages, each given a bounded time (after which the
// conductor heals everything and, if the fault phase leaves time, starts
// over with a new s):
//   1. A primary P of view v sends the PRE-PREPARE of a new sequence number
//      s with batch A; it reaches everyone. The PREPAREs for (v, s) reach H
//      only, and no COMMIT for (v, s) is delivered: H, alone, prepares A.
//   2. H is isolated (nothing to or from it). The others time out on s and
//      move to a view w > v without H's certificate, so s is free or null
//      there; the conductor waits until a correct replica executes a batch
//      B != A at s in w.
//   3. At once, H is healed (but gets no NEW-VIEW of a view up to w, so it
//      keeps its certificate from v) and w's primary is isolated. The
//      others time out into w+1; the VIEW-CHANGEs for w+1 reach its primary
//      from H and 2f-1 others only (those that prepared B first), so that
//      V holds H's. The stage ends at the NEW-VIEW of a view above w; then
//      everything is healed.
// CHECKPOINTs for s and above are dropped from stage 1 to the end, so that
// no stable checkpoint passes s before V is formed (it would make s fall
// below min-s).
//
// The holder is a correct backup of v other than the primary of v+1. Half
// the attempts (by the seed) make it the primary of v+2, whose own
// VIEW-CHANGE comes first in V, the others a replica that is not. A core
// that keeps the first certificate it finds is caught by attempts of the
// first kind only: with n = 4, B commits only if every replica but H
// prepared it, so the primary of v+2 carries B whenever it is not H (and
// with n = 7 and 10 no attempt of the second kind caught it either). A
// core that keeps the last one found is caught mostly by the second kind.
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pbft/config.h"
#include "pbft/messages.h"
#include "pbft/replica.h"
#include "sim/network.h"
#include "sim/options.h"
#include "src/workload/random.h"

namespace pbft::sim {

// Whether a run with these faults has a conductor: always when `conflict`
// is the only fault; with others (`all`, say) in half the seeds, so that
// they keep runs of their own.
bool conductor_runs(const FaultSet& faults, uint64_t seed);

class Conductor {
 public:
  // What the conductor may look at: the replicas through their public
  // interface, which of them are faulty (down, cut off, recovering,
  // Byzantine, serving bad state), so that it picks correct ones, and which
  // cannot take part in the protocol now (down, cut off, recovering).
  struct Cluster {
    std::function<const Replica&(ReplicaId)> replica;
    std::function<bool(ReplicaId)> faulty;
    std::function<bool(ReplicaId)> absent;
  };
  enum class Verdict : uint8_t { deliver, drop };

  // Acts during [0, fault_phase_end_ns) only; `seed` gives it a generator
  // of its own, so that the simulation's draws do not shift. `log` gets
  // one line per stage (the simulator's verbosity 1); may be empty.
  Conductor(const ProtocolConfig& config, uint64_t tick_ns, uint64_t fault_phase_end_ns,
            uint64_t seed, Cluster cluster, std::function<void(const std::string&)> log);

  // Whether one copy of a message, from node `from` to node `to` (replica
  // r is node r, clients come after the replicas), is delivered or lost.
  // Every message the network carries during the fault phase passes here:
  // this is also where the conductor sees what the replicas send.
  Verdict route(NodeIndex from, NodeIndex to, const Message& message, uint64_t now_ns);
  // A batch a replica executed.
  void observe(ReplicaId r, const Executed& executed, uint64_t now_ns);
  // Once per tick during the fault phase: gives up on a stage that took too
  // long, and on everything once the fault phase ends.
  void tick(uint64_t now_ns);

  // How far the run got, over all attempts: 0 (no attempt got H to
  // prepare), 1 (H alone prepared A), 2 (B committed in a later view
  // without H), 3 (the NEW-VIEW of the view after that was sent after H came back).
  uint32_t stage_reached() const { return stage_reached_; }
  // That NEW-VIEW's V carried A's certificate from v and B's from w.
  bool both_certificates() const { return both_certificates_; }
  uint32_t attempts() const { return attempts_; }

 private:
  enum class Phase : uint8_t {
    waiting,    // for a primary's next PRE-PREPARE
    preparing,  // stage 1: H prepares A alone
    isolated,   // stage 2: H is cut off; the others order B at s
    switching,  // stage 3: H is back, w's primary is cut off
    done,       // nothing more: everything is delivered
  };

  void try_start(NodeIndex from, const PrePrepare& pp, uint64_t now_ns);
  void note(NodeIndex from, const Message& message, uint64_t now_ns);
  void start_switching(ReplicaId executor, const Executed& executed, uint64_t now_ns);
  void finish(const NewView& nv);
  Verdict judge(NodeIndex from, NodeIndex to, const Message& message) const;
  void give_up(const std::string& why, uint64_t now_ns);
  // A replica the simulator took away (down, cut off, recovering) beyond
  // the f-1 that the others can spare once the conductor cuts off one
  // replica itself, ignoring `except`; nullopt if there is none.
  std::optional<ReplicaId> one_too_many_absent(std::optional<ReplicaId> except) const;
  bool correct(ReplicaId r) const { return !cluster_.faulty(r); }
  void log(const std::string& line) const;

  const ProtocolConfig& config_;
  const uint64_t timeout_ns_;  // the base view-change timeout, in virtual ns
  const uint64_t fault_phase_end_ns_;
  Random random_;
  Cluster cluster_;
  std::function<void(const std::string&)> log_;

  Phase phase_ = Phase::waiting;
  uint64_t deadline_ns_ = 0;      // the current stage gives up after this
  uint64_t next_attempt_ns_ = 0;  // waiting: no attempt before this
  Seq highest_pre_prepared_ = 0;  // the highest seq any primary pre-prepared (fresh ones only)

  // The attempt in progress.
  View v_ = 0;           // the view in which H prepares A
  Seq s_ = 0;            // the target sequence number
  ReplicaId holder_ = 0;  // H
  Digest a_ = {};        // A's digest
  View w_ = 0;           // the view in which B committed
  Digest b_ = {};        // B's digest
  ReplicaId cut_primary_ = 0;        // w's primary, isolated in stage 3
  std::vector<bool> view_change_to_primary_;  // stage 3: whose VIEW-CHANGE(w+1) reaches its primary
  // COMMITs for s in views after v seen so far, in order: who prepared
  // what there (a replica commits once it prepared).
  struct CommitSeen {
    View view;
    Digest digest;
    ReplicaId sender;
  };
  std::vector<CommitSeen> later_commits_;

  uint32_t stage_reached_ = 0;
  bool both_certificates_ = false;
  uint32_t attempts_ = 0;
};

}  // namespace pbft::sim
