// The simulated network: for each message sent, how many copies arrive and
// after what delay. It is a pure model over the simulation's Random; the
// simulator carries the copies through its event queue.
//
// Nodes are numbered 0..node_count-1: replica r is node r, client c is node
// replica_count + c. Every message pays a base latency, uniform in
// [latency_min_ns, latency_max_ns]. During the fault phase, the enabled
// faults apply in this order: a partition blocks a message whose ends are on
// different sides; a drop loses it; a dup adds a second copy with its own
// latency; reorder and delay add extra latency to a copy. From the end of the
// fault phase on, the network is reliable.
//
// Thread safety: none.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "sim/options.h"
#include "src/workload/random.h"

namespace pbft::sim {

using NodeIndex = uint32_t;

// One partition: in [start_ns, end_ns), nodes with different sides cannot
// exchange messages.
struct Partition {
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  std::vector<uint8_t> side;  // 0 or 1 per node; both sides hold a replica
};

// What happens to one message.
struct Route {
  uint32_t copies = 0;            // 0 (lost), 1, or 2 (duplicated)
  std::array<uint64_t, 2> delay_ns{};  // of each copy, from the send
  bool dropped = false;
  bool partitioned = false;  // blocked by a partition (not counted as dropped)
  bool duplicated = false;
};

struct NetworkCounters {
  uint64_t routed = 0;       // messages routed (one per destination)
  uint64_t dropped = 0;
  uint64_t partitioned = 0;  // blocked by a partition
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  uint64_t delayed = 0;      // given heavy-tailed latency
};

class Network {
 public:
  // The partition schedule of the whole fault phase is drawn here, so the
  // draws of later routes do not shift it.
  Network(const NetworkOptions& options, uint32_t replica_count, uint32_t client_count,
          Random& random);

  // Routes one message sent at now_ns. Requires from != to.
  Route route(NodeIndex from, NodeIndex to, uint64_t now_ns);

  // True if a partition separates a and b at time t.
  bool partitioned(NodeIndex a, NodeIndex b, uint64_t t) const;

  const std::vector<Partition>& partitions() const { return partitions_; }
  const NetworkCounters& counters() const { return counters_; }
  uint32_t node_count() const { return replica_count_ + client_count_; }

 private:
  bool faulty(uint64_t t) const { return t < options_.fault_phase_end_ns; }
  uint64_t base_latency();
  uint64_t heavy_tail_delay();
  void schedule_partitions();
  // The partition in force at t, or nullptr.
  const Partition* partition_at(uint64_t t) const;

  NetworkOptions options_;
  uint32_t replica_count_;
  uint32_t client_count_;
  Random& random_;
  std::vector<Partition> partitions_;  // disjoint, ordered by start_ns
  NetworkCounters counters_;
};

}  // namespace pbft::sim
