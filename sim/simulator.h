// The deterministic simulator (TigerBeetle's VOPR, FoundationDB's simulation):
// a whole PBFT cluster, n replicas and c clients built from the production
// cores, runs in one thread on virtual time. One seeded generator drives the
// workload and every network fault, so a seed replays exactly. Messages
// cross the simulated network as bytes: encoded by the sender, decoded and
// verified by the receiver, as in production.
//
// A run has two phases. During the fault phase the network drops,
// duplicates, reorders, delays and partitions messages, and replicas crash,
// are wiped, lag behind or serve bad state (the faults in Options::faults);
// afterwards the network is reliable and every replica is up, and every
// client must finish its workload within Options::liveness_bound_ns.
// Checkers watch every execution and state transfer (agreement,
// exactly-once, execution order), every replica's memory (log and pending
// requests within their bounds), every vote a recovering replica might send,
// every NEW-VIEW a correct replica installs (against V, recomputed apart
// from the core) and every client result; they judge the client history at
// the end (linearizability, liveness) and whether every replica that failed
// caught up. After the last client finished, the run goes on until every
// replica is up again and caught up (or the liveness bound), then settles.
// The run also counts the protocol situations it reached (sim/coverage.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pbft/history.h"
#include "sim/checkers.h"
#include "sim/coverage.h"
#include "sim/options.h"

namespace pbft::sim {

// One checker's verdict on one run.
struct CheckerOutcome {
  enum class State : uint8_t { ok, failed, skipped };
  std::string name;
  State state = State::ok;
  std::string details;  // why it failed or was skipped; empty when ok
};
const char* to_string(CheckerOutcome::State state);

struct RunReport {
  uint64_t seed = 0;
  uint32_t replicas = 0;
  uint32_t f = 0;
  uint32_t clients = 0;
  FaultSet faults;
  uint64_t fault_phase_ns = 0;
  uint64_t liveness_bound_ns = 0;

  bool passed = false;
  // The first checker that failed, in the order of `checkers`.
  std::optional<Failure> failure;
  // Every checker, in a fixed order: the safety checkers fed as the run goes
  // (agreement, commit-quorum, exactly-once, execution-order,
  // bounded-memory, recovery-silence, write-ahead, new-view,
  // client-results), then those that judge the end (linearizability,
  // liveness, catch-up). A safety violation stops the run at once; liveness
  // and catch-up are then skipped.
  std::vector<CheckerOutcome> checkers;

  uint64_t trace_hash = 0;
  uint64_t virtual_time_ns = 0;  // when the run stopped

  uint64_t ops_total = 0;  // clients * requests
  uint64_t ops_completed = 0;

  // Messages, counted per destination (a multicast to 3 replicas is 3).
  uint64_t messages_sent = 0;
  uint64_t messages_delivered = 0;   // copies handed to a receiver (duplicates included)
  uint64_t messages_dropped = 0;
  uint64_t messages_partitioned = 0; // blocked by a partition
  uint64_t messages_duplicated = 0;
  uint64_t decode_failures = 0;      // copies the receiver's decoder rejected
  uint64_t verify_failures = 0;      // copies the receiver's verifier rejected
  uint64_t votes_unwanted = 0;       // votes dropped unchecked (Replica::wants), as hosts do
  uint64_t records_persisted = 0;    // write-ahead records the replicas asked to persist
  uint64_t syncs = 0;                // disk syncs (each covers the records that queued up)
  uint64_t misaddressed = 0;         // sends to a replica or client that does not exist
  uint64_t messages_lost_node_faults = 0;  // to a down replica, or to or from a cut-off one
  uint64_t messages_conducted = 0;   // dropped by the conductor (fault `conflict`)

  uint64_t batches_executed = 0;  // distinct sequence numbers executed by some replica
  View view_max = 0;              // the highest view any replica reached

  // Node faults.
  std::optional<ReplicaId> badstate_replica;
  uint64_t crashes = 0;  // each replica a power cut took down counts once
  uint64_t power_cuts = 0;
  uint64_t restarts_replayed = 0;  // batches executed again from the disk after crashes
  uint64_t wipes = 0;
  uint64_t lags = 0;
  uint64_t lags_beyond_window = 0;       // healed with the others more than L ahead
  uint64_t fetch_replies_corrupted = 0;  // sent by the badstate replica
  // Byzantine replicas and clients (sim/byzantine.h): who, doing what.
  struct ByzantineReplicaPlan {
    ReplicaId replica = 0;
    std::vector<std::string> behaviours;
  };
  std::vector<ByzantineReplicaPlan> byzantine_replicas;
  std::vector<std::string> byzantine_clients;  // one attack each
  uint64_t byzantine_lies = 0;                 // messages rewritten, forged or withheld
  uint64_t attacker_requests = 0;              // requests the Byzantine clients sent

  // View changes: NEW-VIEWs installed (by any replica), VIEW-CHANGEs sent
  // by correct replicas, and the longest stretch of virtual time in which
  // no correct replica executed a batch while clients were waiting.
  uint64_t new_views_installed = 0;
  uint64_t view_changes_started = 0;
  // Of those, started because the primary ordered too slowly while clients
  // waited (src/core/primary_monitor.h: too slow, or untried).
  uint64_t primaries_too_slow = 0;
  uint64_t longest_stall_ns = 0;

  // The conductor (fault `conflict`, sim/conductor.h): whether this seed
  // ran it, its attempts, the furthest stage one reached (0..3: H alone
  // prepared A; B committed in a later view without H; the NEW-VIEW of the
  // view after that went out), and whether that NEW-VIEW's V carried both
  // certificates for the sequence number.
  bool conflict_ran = false;
  uint32_t conflict_attempts = 0;
  uint32_t conflict_stage_reached = 0;
  bool conflict_both_certificates = false;

  // Checkpoints and state transfer.
  Seq stable_checkpoint_max = 0;         // the highest low watermark at the end
  uint64_t state_transfers = 0;          // completed (StateInstalled effects)
  uint64_t state_bytes_fetched = 0;      // sum of StateInstalled::bytes_fetched
  // The state's size: the encoded partitions of the store of a replica
  // that never failed, at the end.
  uint64_t state_size_bytes = 0;
  uint64_t fetch_replies_rejected = 0;   // by every replica, wiped incarnations included
  size_t peak_log_size = 0;              // the most sequence numbers any replica's log held

  // Per replica, index = replica id.
  struct ReplicaOutcome {
    uint32_t crashes = 0;
    uint32_t wipes = 0;
    uint32_t lags = 0;
    bool badstate = false;
    bool byzantine = false;  // one of the Byzantine replicas (sim/byzantine.h)
    // Every restart after a wipe came up recovering (silent).
    bool restarted_recovering = true;
    Seq last_executed = 0;
    Seq low_watermark = 0;
    bool recovering = false;  // at the end
    uint64_t state_transfers = 0;
    uint64_t state_bytes_fetched = 0;
    uint64_t fetch_replies_rejected = 0;
  };
  std::vector<ReplicaOutcome> replica_outcomes;

  std::vector<history::Entry> history;  // one entry per client operation, in call order

  // The protocol situations the run reached (sim/coverage.h).
  Coverage coverage;
};

// Runs one simulation. Requires validate(options) to be ok.
RunReport run(const Options& options);

}  // namespace pbft::sim
