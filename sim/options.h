// What one simulation run does: the cluster, the workload, the network
// faults and their rates, the phases and their lengths. Every field has a
// default that `pbft sim` uses; the command line overrides some of them.
// All times are virtual nanoseconds.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pbft/client.h"
#include "pbft/config.h"
#include "pbft/status.h"

namespace pbft::sim {

constexpr uint64_t ns_per_ms = 1'000'000;
constexpr uint64_t ns_per_s = 1'000'000'000;

// The faults injected during the fault phase: network faults, and node
// faults that strike whole replicas. At any moment at most f replicas are
// faulty under the node faults together (a badstate replica for the whole
// run). Any replica may be struck, the primary included: a view change
// replaces a primary that fails.
struct FaultSet {
  bool drop = false;       // a message is lost
  bool dup = false;        // a message is delivered twice
  bool reorder = false;    // a message is held back so that later ones overtake it
  bool delay = false;      // heavy-tailed latency: occasionally tens of milliseconds
  bool partition = false;  // the nodes split into two sides that cannot talk, then heal
  // The conductor (sim/conductor.h): drops and isolations chosen to make one
  // sequence number prepare with one batch in a view and commit with another
  // in a later one, then change views with both certificates in V. It
  // runs in every seed when it is the only fault, in half of them (the
  // seed picks) with others.
  bool conflict = false;
  // A replica's process dies and restarts from its disk, which lost what
  // was not synced (maybe tearing the last write).
  bool crash = false;
  // The power goes: up to all n replicas crash at once, and restart from
  // their disks together.
  bool powerloss = false;
  bool wipe = false;       // a replica stops, then restarts with empty state (recovering)
  bool lag = false;        // a replica is cut off until the others are more than L ahead
  bool badstate = false;   // a Byzantine replica answers FETCH with wrong or stale data
  // Byzantine replicas (sim/byzantine.h says what each does), up to f of
  // them with the node faults above, any replica, the primary included.
  bool silent = false;
  bool equivocate = false;
  bool slow = false;
  bool censor = false;
  bool forge = false;
  bool replay = false;
  bool wrong_digest = false;
  bool bad_checkpoint = false;
  bool bad_view_change = false;
  bool bad_new_view = false;
  bool twins = false;
  bool bad_reply = false;
  bool replay_requests = false;
  bool collude = false;
  // Byzantine clients, beside the workload's.
  bool client_timestamps = false;
  bool big_mac = false;
  bool client_flood = false;

  bool any_network() const { return drop || dup || reorder || delay || partition || conflict; }
  bool any_node() const {
    return crash || powerloss || wipe || lag || badstate || any_byzantine_replica();
  }
  bool any_byzantine_replica() const {
    return silent || equivocate || slow || censor || forge || replay || wrong_digest ||
           bad_checkpoint || bad_view_change || bad_new_view || twins || bad_reply ||
           replay_requests || collude;
  }
  bool any_byzantine_client() const { return client_timestamps || big_mac || client_flood; }
  // Every Byzantine replica behaviour and client attack ("byzantine").
  static FaultSet byzantine();
  // Everything ("all").
  static FaultSet all();
  friend bool operator==(const FaultSet&, const FaultSet&) = default;
};

// Parses a comma-separated list of fault names: drop, dup, reorder, delay,
// partition, conflict, crash, powerloss, wipe, lag, badstate, the Byzantine ones, or
// the single words none or all. An
// unknown name is an error whose reason lists the valid ones.
Result<FaultSet> parse_faults(std::string_view list);
// The canonical list form ("none" when empty), which parse_faults accepts.
std::string to_string(const FaultSet& faults);

// How often and how badly each fault strikes while it is enabled.
struct FaultRates {
  double drop_probability = 0.05;
  double dup_probability = 0.05;
  double reorder_probability = 0.10;
  uint64_t reorder_delay_max_ns = 5 * ns_per_ms;
  double delay_probability = 0.05;
  // Heavy tail: the extra latency is uniform below 1 ms doubled a geometric
  // number of times, capped here.
  uint64_t delay_max_ns = 100 * ns_per_ms;
  // Partitions start after a random quiet gap and last a random duration.
  uint64_t partition_gap_min_ns = 50 * ns_per_ms;
  uint64_t partition_gap_max_ns = 300 * ns_per_ms;
  uint64_t partition_duration_min_ns = 20 * ns_per_ms;
  uint64_t partition_duration_max_ns = 300 * ns_per_ms;
  // Node faults (crash, wipe, lag) come one after another in each of the
  // f fault slots (f - 1 with a badstate replica), after a random quiet gap.
  // A crashed or wiped replica is down for a random time; a lagging one is
  // cut off until the others executed more than L sequence numbers past it,
  // or the fault phase ends.
  uint64_t node_fault_gap_min_ns = 20 * ns_per_ms;
  uint64_t node_fault_gap_max_ns = 200 * ns_per_ms;
  uint64_t down_time_min_ns = 10 * ns_per_ms;
  uint64_t down_time_max_ns = 300 * ns_per_ms;
  // A power cut comes once per run, at a random time in the fault phase,
  // and takes down from f+1 to n replicas (n in half of the runs).
  // Every disk sync takes a random time in this range (the replica keeps
  // stepping meanwhile; its effects wait: the host's group commit).
  uint64_t sync_min_ns = 50'000;
  uint64_t sync_max_ns = 500'000;
  // How often the badstate replica corrupts a FETCH-REPLY it sends (the
  // others go out intact, so that transfers also meet a mixed server).
  double badstate_probability = 0.75;
  friend bool operator==(const FaultRates&, const FaultRates&) = default;
};

// A node fault that strikes one replica for a while.
enum class NodeFault : uint8_t { crash, wipe, lag };
const char* to_string(NodeFault fault);

// Node faults given by hand instead of drawn from the seed (scenario
// tests). Each episode starts at start_ns; crash and wipe keep the replica
// down for down_ns; a lag lasts until the others are more than L ahead or
// the fault phase ends. The script must respect the budget of f faulty
// replicas.
struct ScriptedNodeFault {
  NodeFault fault = NodeFault::crash;
  uint32_t replica = 1;
  uint64_t start_ns = 0;
  uint64_t down_ns = 0;  // crash and wipe only
};
struct NodeFaultScript {
  std::vector<ScriptedNodeFault> episodes;
  std::optional<uint32_t> badstate;  // the Byzantine state server, if any
};

// The network: base latency always, faults only during the fault phase.
struct NetworkOptions {
  uint64_t latency_min_ns = 100'000;  // 0.1 ms
  uint64_t latency_max_ns = 1 * ns_per_ms;
  FaultSet faults;
  FaultRates rates;
  // Faults are injected in [0, fault_phase_end_ns); afterwards the network
  // is reliable (base latency only), which is the liveness phase.
  uint64_t fault_phase_end_ns = 0;
};

struct Options {
  uint64_t seed = 1;

  // The cluster: n replicas (n = 3f+1, f = (n-1)/3) and c clients.
  uint32_t replicas = 4;
  uint32_t clients = 4;

  // The workload: each client runs `requests` operations one after the
  // other, pausing a random think time in [0, think_time_max_ns] between
  // them, on keys drawn from a set of `keys` keys (small, for contention).
  uint32_t requests = 20;
  uint32_t keys = 5;
  uint64_t think_time_max_ns = 40 * ns_per_ms;

  // The network and its faults.
  uint64_t latency_min_ns = 100'000;
  uint64_t latency_max_ns = 1 * ns_per_ms;
  FaultSet faults;
  FaultRates rates;

  // Phases. Faults are injected during the first fault_phase_ns; then the
  // network is reliable and every client must complete all its requests
  // within liveness_bound_ns, or the liveness checker fails. The default
  // workload takes about half a second without faults and longer with
  // them, so the fault phase covers its start and the liveness phase its end.
  uint64_t fault_phase_ns = 1 * ns_per_s;
  uint64_t liveness_bound_ns = 30 * ns_per_s;
  // After the last client completes, the run goes on this long so that
  // in-flight batches execute everywhere and reach the checkers.
  uint64_t settle_ns = 50 * ns_per_ms;

  // One tick of every node's clock.
  uint64_t tick_ns = 1 * ns_per_ms;

  // The protocol's parameters; n and f are taken from `replicas`. The
  // defaults are simulation_protocol_defaults() (options.cpp says why).
  ProtocolConfig protocol = simulation_protocol_defaults();
  ClientOptions client;
  // A known bug switched on in every replica and client of the run
  // (include/pbft/mutant.h; only in a build with PBFT_MUTANTS).
  mutant::Id mutant = mutant::Id::none;

  // When set, the node faults come from this script and the node-fault
  // flags of `faults` are ignored.
  std::optional<NodeFaultScript> script;

  // States the linearizability search may explore per key before it gives
  // up (a give-up is reported as a failure: the history was not checked).
  uint64_t linearizability_budget = 10'000'000;

  // Diagnostics, off by default: with verbosity 1 the run reports node-level
  // events (partitions, view changes, executions, client operations) to
  // `log`, one line each; with 2 also every message delivered or lost.
  // They do not change the run.
  int verbosity = 0;
  std::function<void(std::string_view line)> log;

  static ProtocolConfig simulation_protocol_defaults();
};

// Every rule between the fields; the reason names the field.
Status validate(const Options& options);
// options.protocol with n and f set from options.replicas.
ProtocolConfig protocol_config(const Options& options);
// The network's part of the options.
NetworkOptions network_options(const Options& options);

}  // namespace pbft::sim
