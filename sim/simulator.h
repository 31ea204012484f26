// The deterministic simulator (TigerBeetle's VOPR, FoundationDB's simulation):
// a whole PBFT cluster, n replicas and c clients built from the production
// cores, runs in one thread on virtual time. One seeded generator drives the
// workload and every network fault, so a seed replays exactly. Messages
// cross the simulated network as bytes: encoded by the sender, decoded and
// verified by the receiver, as in production.
//
// A run has two phases. During the fault phase the network drops,
// duplicates, reorders, delays and partitions messages (the faults in
// Options::faults); afterwards it is reliable, and every client must finish
// its workload within Options::liveness_bound_ns. Checkers watch every
// execution (agreement, exactly-once, execution order), every replica's
// memory (log and pending requests within their bounds) and every client
// result, and judge the client history at the end (linearizability,
// liveness).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pbft/history.h"
#include "sim/checkers.h"
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
  // Every checker, in a fixed order: agreement, exactly-once,
  // execution-order, bounded-memory, client-results, linearizability,
  // liveness. A safety violation stops the run at once; liveness is then
  // skipped.
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
  uint64_t misaddressed = 0;         // sends to a replica or client that does not exist

  uint64_t batches_executed = 0;  // distinct sequence numbers executed by some replica
  View view_max = 0;              // the highest view any replica reached

  std::vector<history::Entry> history;  // one entry per client operation, in call order
};

// Runs one simulation. Requires validate(options) to be ok.
RunReport run(const Options& options);

}  // namespace pbft::sim
