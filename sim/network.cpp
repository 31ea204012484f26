#include "sim/network.h"

#include <algorithm>
#include <array>

#include "pbft/assert.h"

namespace pbft::sim {

Network::Network(const NetworkOptions& options, uint32_t replica_count, uint32_t client_count,
                 Random& random)
    : options_(options), replica_count_(replica_count), client_count_(client_count),
      random_(random) {
  PBFT_ASSERT(replica_count >= 2);
  PBFT_ASSERT(options.latency_min_ns <= options.latency_max_ns);
  if (options_.faults.partition) schedule_partitions();
}

void Network::schedule_partitions() {
  const FaultRates& r = options_.rates;
  uint64_t t = 0;
  for (;;) {
    t += random_.uniform_between(r.partition_gap_min_ns, r.partition_gap_max_ns);
    if (t >= options_.fault_phase_end_ns) return;
    Partition p;
    p.start_ns = t;
    p.end_ns = std::min(options_.fault_phase_end_ns,
                        t + random_.uniform_between(r.partition_duration_min_ns,
                                                    r.partition_duration_max_ns));
    // Both sides get at least one replica; otherwise the "partition" would
    // only cut some clients off, which drop already exercises.
    p.side.assign(node_count(), 0);
    std::array<bool, 2> has_side = {false, false};
    while (!has_side[0] || !has_side[1]) {
      has_side[0] = has_side[1] = false;
      for (NodeIndex i = 0; i < replica_count_; i++) {
        p.side[i] = static_cast<uint8_t>(random_.uniform(2));
        has_side[p.side[i]] = true;
      }
    }
    for (NodeIndex i = replica_count_; i < node_count(); i++) {
      p.side[i] = static_cast<uint8_t>(random_.uniform(2));
    }
    t = p.end_ns;
    partitions_.push_back(std::move(p));
  }
}

const Partition* Network::partition_at(uint64_t t) const {
  // The last partition that started at or before t, if it has not ended.
  auto it = std::upper_bound(partitions_.begin(), partitions_.end(), t,
                             [](uint64_t time, const Partition& p) { return time < p.start_ns; });
  if (it == partitions_.begin()) return nullptr;
  --it;
  return t < it->end_ns ? &*it : nullptr;
}

bool Network::partitioned(NodeIndex a, NodeIndex b, uint64_t t) const {
  const Partition* p = partition_at(t);
  return p != nullptr && p->side[a] != p->side[b];
}

uint64_t Network::base_latency() {
  return random_.uniform_between(options_.latency_min_ns, options_.latency_max_ns);
}

uint64_t Network::heavy_tail_delay() {
  // Doubling the range on each coin flip that comes up heads gives a
  // geometric number of doublings: most extra delays are around a
  // millisecond, a few are tens of milliseconds.
  uint64_t range = ns_per_ms;
  while (range < options_.rates.delay_max_ns && random_.chance(0.5)) range *= 2;
  return random_.uniform_between(0, std::min(range, options_.rates.delay_max_ns));
}

Route Network::route(NodeIndex from, NodeIndex to, uint64_t now_ns) {
  PBFT_ASSERT(from != to && from < node_count() && to < node_count());
  counters_.routed++;
  Route route;
  if (!faulty(now_ns)) {
    route.copies = 1;
    route.delay_ns[0] = base_latency();
    return route;
  }
  const FaultSet& faults = options_.faults;
  const FaultRates& rates = options_.rates;
  if (faults.partition && partitioned(from, to, now_ns)) {
    route.partitioned = true;
    counters_.partitioned++;
    return route;
  }
  if (faults.drop && random_.chance(rates.drop_probability)) {
    route.dropped = true;
    counters_.dropped++;
    return route;
  }
  route.copies = 1;
  if (faults.dup && random_.chance(rates.dup_probability)) {
    route.copies = 2;
    route.duplicated = true;
    counters_.duplicated++;
  }
  for (uint32_t i = 0; i < route.copies; i++) {
    uint64_t delay = base_latency();
    if (faults.reorder && random_.chance(rates.reorder_probability)) {
      delay += random_.uniform_between(0, rates.reorder_delay_max_ns);
      counters_.reordered++;
    }
    if (faults.delay && random_.chance(rates.delay_probability)) {
      delay += heavy_tail_delay();
      counters_.delayed++;
    }
    route.delay_ns[i] = delay;
  }
  return route;
}

}  // namespace pbft::sim
