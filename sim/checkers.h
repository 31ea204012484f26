// The simulator's checkers: each watches one property of PBFT (PBFT.md,
// "What correct means") and, when it is violated, says which property and
// gives the details needed to find the cause. The execution checkers are
// fed online, one Executed or StateInstalled effect at a time (and told of
// wipes), so a violation is caught at the step that made it; catch-up,
// linearizability and liveness are judged at the end of a run. Every
// checker keeps its first failure only: later ones are usually
// consequences of the first.
//
// A replica's state has a lineage: it starts empty, grows by executing
// batches in order, jumps to a checkpoint's state by state transfer, and
// starts over empty when the replica is wiped. The execution checkers
// follow each replica's lineage (keyed by replica id, across wipes).
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "pbft/config.h"
#include "pbft/crypto.h"
#include "pbft/history.h"
#include "pbft/replica.h"
#include "sim/options.h"

namespace pbft::sim {

// A violated property: the checker's name and what it saw.
struct Failure {
  std::string checker;
  std::string details;
  friend bool operator==(const Failure&, const Failure&) = default;
};

// The key fields of a message, for logs and failure details.
std::string describe(const Message& message);

// The checkers' names, as reports print them.
namespace checker_name {
inline constexpr const char* agreement = "agreement";
inline constexpr const char* exactly_once = "exactly-once";
inline constexpr const char* execution_order = "execution-order";
inline constexpr const char* commit_quorum = "commit-quorum";
inline constexpr const char* bounded_memory = "bounded-memory";
inline constexpr const char* recovery_silence = "recovery-silence";
inline constexpr const char* write_ahead = "write-ahead";
inline constexpr const char* new_view = "new-view";
inline constexpr const char* catch_up = "catch-up";
inline constexpr const char* client_results = "client-results";
inline constexpr const char* linearizability = "linearizability";
inline constexpr const char* liveness = "liveness";
}  // namespace checker_name

// Write-ahead (replica.h, Persist): a replica sends a message that binds it
// (PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT, VIEW-CHANGE, NEW-VIEW in its
// own name) only after a Persist recorded it, and never in a view above the
// last view it recorded. Effects are observed in the order the host carries
// them out; a record covers later effects only. A NEW-VIEW's record covers
// the pre-prepares of its O, which the new primary re-sends with batches. A
// wiped replica lost its records (forget); a crashed one keeps them, and its
// recorded view never goes back: after a restart it never records or votes
// in a view below one it recorded before.
class WriteAheadChecker {
 public:
  void observe(ReplicaId replica, const Effects& effects);
  void forget(ReplicaId replica);
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  // (message type, view, sequence number, digest): what a vote binds.
  using Key = std::tuple<uint8_t, View, Seq, Digest>;
  struct Recorded {
    std::set<Key> messages;
    View view = 0;
  };
  void record(Recorded& recorded, const Message& message);
  std::map<ReplicaId, Recorded> recorded_;
  std::optional<Failure> failure_;
};

// What can be wrong with a VIEW-CHANGE, as the new-view checker reads
// PBFT.md ("View change") on its own: none of this calls the core's
// check_view_change, so a bug there shows up as a disagreement.
enum class ViewChangeDefect : uint8_t {
  checkpoint_off_interval,  // the stable checkpoint is not at a checkpoint interval
  checkpoint_proof,         // C is not 2f+1 distinct matching CHECKPOINTs for it (none for 0)
  out_of_order,             // P's certificates not in ascending seq above the stable checkpoint
  above_window,             // a certificate more than the log window above the checkpoint
  later_view,               // a certificate from the new view or later
  not_primary,              // a certificate's pre-prepare not from its view's primary
  prepare_mismatch,         // a prepare whose view, seq or digest differs from the pre-prepare
  prepare_from_primary,     // a prepare from the view's primary
  // 2f or more prepares, but a sender twice among them and fewer than 2f
  // distinct backups: padded to look complete. (A certificate with 2f
  // distinct matching backups and a repeat besides is as strong as one
  // without; the rule asks for 2f distinct backups, so it is valid.)
  duplicate_prepares,
  too_few_prepares,  // fewer than 2f distinct backups with a matching prepare
  signature,         // a signature that does not verify (checked only when asked)
};
const char* to_string(ViewChangeDefect defect);

// Every defect of `vc`, each kind once, in enum order; empty when valid.
// With a crypto, every signature in it (its own, C's, P's) is checked too;
// without, the caller trusts that a verifier did.
std::vector<ViewChangeDefect> view_change_defects(const ProtocolConfig& config,
                                                  const ViewChange& vc,
                                                  const Crypto* crypto = nullptr);

// What the new-view checker made of one NEW-VIEW.
struct NewViewVerdict {
  std::optional<std::string> violation;  // why it is not what V implies; nullopt when it is
  Seq min_s = 0;  // the highest stable checkpoint in V
  // Some sequence number in (min-s, max-s] has certificates in V from two
  // views; from two views with different digests.
  bool certificates_of_two_views = false;
  bool conflicting_certificates = false;
  size_t certificates_ordered = 0;  // O's pre-prepares with a digest other than the null's
  size_t nulls_ordered = 0;         // O's null requests (gaps in V's certificates)
};

// The NEW-VIEW oracle: for every NEW-VIEW a correct replica installs, V
// must be 2f+1 or more valid VIEW-CHANGEs for its view from distinct
// replicas (view_change_defects, signatures included), the sender its
// view's primary, and O exactly what V implies: min-s the highest stable
// checkpoint in V, and for each seq in (min-s, max-s] a pre-prepare of the
// new view by its sender with the digest of the certificate of the highest
// view for seq, or the null request's digest where V has none. A
// reference implementation of PBFT.md's rules, apart from the core's
// (plan_new_view), so that a wrong choice among certificates or a wrong
// idea of a valid one is caught even when it does no visible harm yet.
//
// Each NEW-VIEW is judged once (keyed by its sender and signature, which
// covers V and O): its receivers' verifiers checked that signature, so a
// second receiver of the same signed message gets the same verdict.
class NewViewChecker {
 public:
  // `crypto`: any principal's, to verify the replicas' signatures; it and
  // `config` must outlive the checker.
  NewViewChecker(const ProtocolConfig& config, const Crypto& crypto);
  // The verdict on `nv`, computed on its first sight.
  const NewViewVerdict& judge(const NewView& nv);
  // A correct `replica` installed `nv`: a violation is a failure.
  void observe_install(ReplicaId replica, const NewView& nv);
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  NewViewVerdict compute(const NewView& nv) const;
  const ProtocolConfig& config_;
  const Crypto& crypto_;
  Digest null_digest_;
  std::map<std::pair<ReplicaId, Signature>, NewViewVerdict> verdicts_;
  std::optional<Failure> failure_;
};

// Commit quorum: a replica executes a batch in view v at sequence number s
// only after 2f+1 distinct replicas sent COMMIT(v, s, d) for its digest
// (their cores' own commits, as sent, or as written to the disk: a replica
// counts its own COMMIT once it made it, and a crash may come between the
// write and the send, yet the replica executes the batch again after the
// restart and will send that COMMIT). A replica that executes on fewer,
// or before committing at all, breaks the rule that makes agreement hold
// across view changes, even in a run where no disagreement shows yet.
class CommitQuorumChecker {
 public:
  explicit CommitQuorumChecker(uint32_t f) : f_(f) {}
  void observe_commit(ReplicaId replica, const Commit& commit);
  void observe(ReplicaId replica, const Executed& executed);
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  uint32_t f_;
  std::map<std::tuple<View, Seq, Digest>, std::set<ReplicaId>> commits_;
  std::optional<Failure> failure_;
};

// Agreement: no two replicas execute different batches (digests) at the
// same sequence number, whatever views they executed them in; and no two
// replicas announce different state digests in CHECKPOINTs for the same
// sequence number (the states after it, last-reply tables included, agree).
class AgreementChecker {
 public:
  void observe(ReplicaId replica, const Executed& executed);
  // A CHECKPOINT(seq, digest) signed by `replica`, seen on the network.
  void observe_checkpoint(ReplicaId replica, Seq seq, const Digest& digest);
  const std::optional<Failure>& failure() const { return failure_; }
  // Sequence numbers executed by at least one replica.
  size_t decided() const { return decided_.size(); }
  // The state digest announced for checkpoint `seq`, if any replica did.
  std::optional<Digest> checkpoint_digest(Seq seq) const;

 private:
  struct Decision {
    Digest batch_digest;
    ReplicaId replica;  // the first replica that executed it
    View view;
  };
  struct Announcement {
    Digest state_digest;
    ReplicaId replica;  // the first replica that announced it
  };
  std::map<Seq, Decision> decided_;
  std::map<Seq, Announcement> checkpoints_;
  std::optional<Failure> failure_;
};

// Exactly-once: a replica executes a request fresh only if its timestamp is
// above every timestamp it executed fresh for that client before; so no
// (client, timestamp) runs twice and no old request runs after a newer one.
//
// The record of what a replica executed follows its state's lineage: a wipe
// empties it (the service state is gone, so executing a request again on
// the new, empty state is no violation); an install at seq s sets it to what
// the state after s holds: the requests executed fresh at sequence numbers
// up to s, as the first replica to execute each one did. So a request that
// is part of the installed state and runs fresh again afterwards (a
// last-reply table lost in the transfer) is caught.
class ExactlyOnceChecker {
 public:
  explicit ExactlyOnceChecker(uint32_t replica_count) : last_fresh_(replica_count) {}
  void observe(ReplicaId replica, const Executed& executed);
  void observe_install(ReplicaId replica, Seq seq);
  void observe_wipe(ReplicaId replica);
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  struct LastFresh {
    Timestamp timestamp;
    Seq seq;  // where it executed
  };
  struct FreshRequest {
    ClientId client;
    Timestamp timestamp;
  };
  std::vector<std::map<ClientId, LastFresh>> last_fresh_;  // index = replica
  // The fresh requests of each sequence number as first executed: the
  // lineage every correct state follows, to rebuild a record at an install.
  std::map<Seq, std::vector<FreshRequest>> reference_;
  std::optional<Failure> failure_;
};

// Execution order: each replica executes sequence numbers 1, 2, 3, ... with
// no gap and no repeat ("batch s runs once every batch below s has run").
// State transfer is the one allowed jump: an install at s moves a replica
// from below s to the state after s, which must be the state other replicas
// announced for checkpoint s (`announced`, from their CHECKPOINTs; nullopt
// when none did, itself a violation); it continues at s + 1. A wipe starts
// the replica over at 0.
class ExecutionOrderChecker {
 public:
  explicit ExecutionOrderChecker(uint32_t replica_count) : last_executed_(replica_count, 0) {}
  void observe(ReplicaId replica, const Executed& executed);
  void observe_install(ReplicaId replica, const StateInstalled& installed,
                       const std::optional<Digest>& announced);
  void observe_wipe(ReplicaId replica);
  // Restarted from its disk at its checkpoint `seq`: it executes from there again.
  void observe_restart(ReplicaId replica, Seq seq) { last_executed_.at(replica) = seq; }
  const std::optional<Failure>& failure() const { return failure_; }
  Seq last_executed(ReplicaId replica) const { return last_executed_.at(replica); }

 private:
  std::vector<Seq> last_executed_;  // index = replica
  std::optional<Failure> failure_;
};

// Recovery silence: a replica that restarted without its state sends no
// PRE-PREPARE, PREPARE or COMMIT while it is recovering (PBFT.md, proactive
// recovery; state_transfer.cpp): it may have voted before it lost its state
// and must not contradict itself. The checker also holds every vote each
// replica id ever sent, across wipes, and fails on a vote that contradicts
// an earlier one: another digest for the same (type, view, seq). That is
// the harm silence prevents, and a correct replica never does it anyway.
//
// Memory: one entry per vote sent over the run (the simulator's runs are
// short).
class RecoverySilenceChecker {
 public:
  // A message `replica` sends. `recovering`: the replica was recovering
  // before the input that produced it and still is after it, so the
  // message was certainly sent while recovering.
  void observe_send(ReplicaId replica, bool recovering, const Message& message);
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  using VoteKey = std::tuple<ReplicaId, MessageType, View, Seq>;
  std::map<VoteKey, Digest> votes_;
  std::optional<Failure> failure_;
};

// Bounded memory: whatever the network does, a replica's log holds at most
// the log window's sequence numbers and its pending queue at most
// constants::pending_requests_max requests (PBFT.md, "Bounded memory").
class BoundedMemoryChecker {
 public:
  BoundedMemoryChecker(uint64_t log_window, size_t pending_max)
      : log_window_(log_window), pending_max_(pending_max) {}
  void observe(ReplicaId replica, size_t log_size, size_t pending_requests);
  // Messages and timers queued in the simulated network. The replicas'
  // traffic is bounded by their windows and timers, so a queue past
  // network_queued_max means traffic that feeds on itself (a message storm):
  // the run fails at once instead of growing until memory runs out.
  void observe_network(size_t queued);
  static constexpr size_t network_queued_max = 500'000;
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  uint64_t log_window_;
  size_t pending_max_;
  std::optional<Failure> failure_;
};

// Where a replica stands at the end of a run, for the catch-up checker.
struct ReplicaEnd {
  ReplicaId replica = 0;
  // Crashed, wiped or lagged during the run: it must have caught up.
  std::vector<NodeFault> faults;
  // Correct all run long (no node fault, not the badstate replica): its
  // stable checkpoint is the mark the others must reach.
  bool reference = false;
  Seq last_executed = 0;
  Seq low_watermark = 0;
};

// Catch-up: every replica that crashed, was wiped or lagged has, by the end
// of the run, executed (or installed) at least up to the highest stable
// checkpoint of the replicas that stayed correct. That it executed the same
// batches is agreement's and execution order's business.
std::optional<Failure> check_catch_up(const std::vector<ReplicaEnd>& replicas);

// Linearizability of the client history for the key-value service. A search
// that ran out of budget is a failure too: the history was not checked.
std::optional<Failure> check_linearizability(const std::vector<history::Entry>& entries,
                                             uint64_t search_budget);

// How far one client got.
struct ClientProgress {
  ClientId client = 0;
  uint32_t completed = 0;
  uint32_t required = 0;
  uint64_t last_completion_ns = 0;
  std::optional<uint64_t> outstanding_since_ns;  // the call time of an unfinished request
};

// Liveness: after the fault phase ends at fault_phase_end_ns, every client
// completes all its requests within bound_ns.
std::optional<Failure> check_liveness(const std::vector<ClientProgress>& clients,
                                      uint64_t fault_phase_end_ns, uint64_t bound_ns);

// Virtual nanoseconds as seconds with millisecond precision, e.g. "2.013 s".
std::string format_seconds(uint64_t ns);

}  // namespace pbft::sim
