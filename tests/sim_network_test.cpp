// The simulator's building blocks: the seeded generator, the event queue's
// deterministic order, and the network model's faults.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sim/event_queue.h"
#include "sim/network.h"
#include "src/workload/random.h"

namespace pbft::sim {
namespace {

// Known answers, computed independently from the xoshiro256** and
// splitmix64 definitions: a seed must replay on every standard library.
TEST(Random, ProducesTheSpecifiedStream) {
  Random random(1);
  EXPECT_EQ(random.next(), 0xb3f2af6d0fc710c5ull);
  EXPECT_EQ(random.next(), 0x853b559647364ceaull);
  EXPECT_EQ(random.next(), 0x92f89756082a4514ull);

  Random bounded(42);
  const uint64_t expected[] = {2, 2, 9, 3, 6, 4, 4, 7, 8, 5};
  for (uint64_t e : expected) EXPECT_EQ(bounded.uniform(10), e);
  EXPECT_EQ(bounded.uniform(1000003), 834280u);
}

TEST(Random, UniformStaysInBoundsAndCoversThem) {
  Random random(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 10000; i++) {
    const uint64_t v = random.uniform_between(5, 12);
    ASSERT_GE(v, 5u);
    ASSERT_LE(v, 12u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(random.uniform_between(9, 9), 9u);
}

TEST(Random, ChanceMatchesItsProbability) {
  Random random(3);
  int hits = 0;
  for (int i = 0; i < 100000; i++) hits += random.chance(0.25) ? 1 : 0;
  EXPECT_NEAR(hits / 100000.0, 0.25, 0.01);
  EXPECT_FALSE(random.chance(0));
  EXPECT_TRUE(random.chance(1));
}

TEST(EventQueue, OrdersByTimeThenByInsertion) {
  EventQueue<std::string> queue;
  queue.push(20, "c");
  queue.push(10, "a");
  queue.push(20, "d");
  queue.push(10, "b");
  queue.push(5, "first");
  std::string order;
  while (!queue.empty()) order += queue.pop().payload + " ";
  EXPECT_EQ(order, "first a b c d ");
}

NetworkOptions faulty(FaultSet faults) {
  NetworkOptions options;
  options.faults = faults;
  options.fault_phase_end_ns = 10 * ns_per_s;
  return options;
}

TEST(Network, ReliableWithoutFaultsWithinTheBaseLatency) {
  Random random(1);
  NetworkOptions options = faulty(FaultSet{});
  Network network(options, 4, 2, random);
  for (int i = 0; i < 1000; i++) {
    const Route route = network.route(0, 1 + i % 5, i * 1000);
    ASSERT_EQ(route.copies, 1u);
    EXPECT_GE(route.delay_ns[0], options.latency_min_ns);
    EXPECT_LE(route.delay_ns[0], options.latency_max_ns);
  }
}

TEST(Network, DropLosesAboutTheConfiguredFraction) {
  Random random(11);
  NetworkOptions options = faulty(FaultSet{.drop = true});
  options.rates.drop_probability = 0.1;
  Network network(options, 4, 4, random);
  const int messages = 100000;
  int lost = 0;
  for (int i = 0; i < messages; i++) {
    const Route route = network.route(i % 4, 4 + i % 4, 1000);
    if (route.copies == 0) {
      EXPECT_TRUE(route.dropped);
      lost++;
    }
  }
  EXPECT_NEAR(lost / double(messages), 0.1, 0.005);
  EXPECT_EQ(network.counters().dropped, uint64_t(lost));
}

TEST(Network, DupDeliversTwiceWithIndependentLatencies) {
  Random random(5);
  NetworkOptions options = faulty(FaultSet{.dup = true});
  options.rates.dup_probability = 1.0;
  Network network(options, 4, 1, random);
  bool latencies_differ = false;
  for (int i = 0; i < 100; i++) {
    const Route route = network.route(1, 2, 0);
    ASSERT_EQ(route.copies, 2u);
    EXPECT_TRUE(route.duplicated);
    for (uint64_t delay : route.delay_ns) {
      EXPECT_GE(delay, options.latency_min_ns);
      EXPECT_LE(delay, options.latency_max_ns);
    }
    latencies_differ |= route.delay_ns[0] != route.delay_ns[1];
  }
  EXPECT_TRUE(latencies_differ);
}

TEST(Network, ReorderLetsLaterMessagesOvertake) {
  Random random(9);
  NetworkOptions options = faulty(FaultSet{.reorder = true});
  Network network(options, 4, 0, random);
  // Messages sent 0.1 ms apart; without reordering (and a base latency
  // range of 0.9 ms) few could overtake by more than the range.
  int overtaken = 0;
  uint64_t latest_arrival = 0;
  for (int i = 0; i < 10000; i++) {
    const uint64_t sent = uint64_t(i) * 100'000;
    const Route route = network.route(0, 1, sent);
    ASSERT_EQ(route.copies, 1u);
    const uint64_t arrival = sent + route.delay_ns[0];
    if (arrival + options.latency_max_ns < latest_arrival) overtaken++;
    latest_arrival = std::max(latest_arrival, arrival);
  }
  EXPECT_GT(overtaken, 100);
  EXPECT_GT(network.counters().reordered, 800u);
}

TEST(Network, DelayHasAHeavyTailWithinItsCap) {
  Random random(13);
  NetworkOptions options = faulty(FaultSet{.delay = true});
  options.rates.delay_probability = 1.0;
  Network network(options, 4, 0, random);
  uint64_t longest = 0;
  int over_10ms = 0;
  for (int i = 0; i < 10000; i++) {
    const uint64_t delay = network.route(2, 3, 0).delay_ns[0];
    ASSERT_LE(delay, options.latency_max_ns + options.rates.delay_max_ns);
    longest = std::max(longest, delay);
    over_10ms += delay > 10 * ns_per_ms ? 1 : 0;
  }
  EXPECT_GT(longest, 30 * ns_per_ms);
  // Occasional: most delays stay short.
  EXPECT_GT(over_10ms, 0);
  EXPECT_LT(over_10ms, 2000);
}

TEST(Network, PartitionBlocksCrossSideTrafficOnly) {
  Random random(17);
  NetworkOptions options = faulty(FaultSet{.partition = true});
  const uint32_t replicas = 7;
  const uint32_t clients = 3;
  Network network(options, replicas, clients, random);
  ASSERT_GE(network.partitions().size(), 5u);
  uint64_t previous_end = 0;
  for (const Partition& p : network.partitions()) {
    ASSERT_LT(p.start_ns, p.end_ns);
    ASSERT_GE(p.start_ns, previous_end);  // disjoint and ordered
    ASSERT_LE(p.end_ns, options.fault_phase_end_ns);
    previous_end = p.end_ns;
    std::set<uint8_t> replica_sides(p.side.begin(), p.side.begin() + replicas);
    EXPECT_EQ(replica_sides.size(), 2u) << "each side must hold a replica";

    const uint64_t during = (p.start_ns + p.end_ns) / 2;
    for (NodeIndex a = 0; a < replicas + clients; a++) {
      for (NodeIndex b = 0; b < replicas + clients; b++) {
        if (a == b) continue;
        const Route route = network.route(a, b, during);
        if (p.side[a] != p.side[b]) {
          EXPECT_EQ(route.copies, 0u);
          EXPECT_TRUE(route.partitioned);
        } else {
          EXPECT_EQ(route.copies, 1u);
        }
        // Healed once it ends (unless the next one has begun: gaps are >= 1 ns).
        EXPECT_EQ(network.route(a, b, p.end_ns).copies, 1u);
      }
    }
  }
}

TEST(Network, FaultsStopWhenTheFaultPhaseEnds) {
  Random random(19);
  NetworkOptions options = faulty(FaultSet::all());
  options.rates.drop_probability = 0.5;
  options.rates.dup_probability = 0.5;
  options.rates.delay_probability = 0.5;
  options.rates.reorder_probability = 0.5;
  Network network(options, 4, 4, random);
  for (int i = 0; i < 10000; i++) {
    const Route route = network.route(i % 8, (i + 1) % 8, options.fault_phase_end_ns + i);
    ASSERT_EQ(route.copies, 1u);
    ASSERT_LE(route.delay_ns[0], options.latency_max_ns);
  }
}

TEST(Network, TheSameSeedGivesTheSameRoutes) {
  auto trace = [](uint64_t seed) {
    Random random(seed);
    Network network(faulty(FaultSet::all()), 4, 2, random);
    std::string out;
    for (int i = 0; i < 2000; i++) {
      const Route r = network.route(i % 6, (i + 1) % 6, uint64_t(i) * 1'000'000);
      out += std::to_string(r.copies) + ":" + std::to_string(r.delay_ns[0]) + ",";
    }
    return out;
  };
  EXPECT_EQ(trace(23), trace(23));
  EXPECT_NE(trace(23), trace(24));
}

}  // namespace
}  // namespace pbft::sim
