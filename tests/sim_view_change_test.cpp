// View changes in whole simulated clusters: a primary that crashes under
// load is replaced, and the service is unavailable for about one view-change
// timeout; each Byzantine behaviour, alone, keeps every checker green.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "sim/options.h"
#include "sim/simulator.h"
#include "tests/sim_test_util.h"

namespace pbft::sim {
namespace {

using test::failure_of;

// The primary of view 0 crashes at 200 ms, under a steady load of 4
// clients, and stays down for 3 s; the network is reliable. The stall (the
// longest time in which no correct replica executed a batch) is the time
// the service was unavailable: the backups' throughput expectation gives
// up on the primary at the end of the monitor period after clients start
// waiting (within a timeout of the last execution), then the view change
// itself takes a few message delays.
TEST(PrimaryCrash, TheServiceIsUnavailableForAtMostOneTimeout) {
  std::vector<double> stalls;  // in timeouts
  for (uint64_t seed = 1; seed <= 10; seed++) {
    Options options;
    options.seed = seed;
    options.replicas = 4;
    options.requests = 60;
    options.think_time_max_ns = 5 * ns_per_ms;
    NodeFaultScript script;
    script.episodes.push_back({NodeFault::crash, 0, 200 * ns_per_ms, 3 * ns_per_s});
    options.script = script;
    const RunReport report = run(options);
    ASSERT_TRUE(report.passed) << "seed " << seed << ": " << failure_of(report);
    EXPECT_GE(report.view_max, 1u);
    EXPECT_GE(report.new_views_installed, 3u);  // every correct replica installed view 1
    const double timeout_ns =
        static_cast<double>(options.protocol.view_change_timeout_ticks * options.tick_ns);
    stalls.push_back(static_cast<double>(report.longest_stall_ns) / timeout_ns);
  }
  std::sort(stalls.begin(), stalls.end());
  const double median = (stalls[4] + stalls[5]) / 2;
  std::cout << "primary crash under load: unavailable for " << median
            << " timeouts (median of 10 seeds), " << stalls.front() << " to " << stalls.back()
            << "\n";
  RecordProperty("unavailable_timeouts_median", std::to_string(median));
  // Under load the backups' throughput expectation (primary_monitor.h)
  // sees that nothing executes while clients wait at the end of a monitor
  // period (half a timeout), before the timer runs out; then the view
  // change takes a few message delays (milliseconds).
  EXPECT_GE(stalls.front(), 0.25);
  EXPECT_LE(stalls.back(), 1.5);
}

// A primary that holds every pre-prepare back most of a view-change timeout
// (behaviour `slow`) keeps its view under the timer alone, which restarts
// with each batch executed; the backups' throughput expectation
// (src/core/primary_monitor.h) replaces it. In seeds where it is view 0's
// primary, a correct replica leaves its view for it, and the clients finish
// in a fraction of the time the slow primary would take.
TEST(SlowPrimary, IsReplacedByTheThroughputExpectation) {
  int slow_first_primaries = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    Options options;
    options.seed = seed;
    options.requests = 60;
    options.think_time_max_ns = 5 * ns_per_ms;
    options.faults = parse_faults("slow").value();
    const RunReport report = run(options);
    ASSERT_TRUE(report.passed) << "seed " << seed << ": " << failure_of(report);
    ASSERT_EQ(report.byzantine_replicas.size(), 1u);
    if (report.byzantine_replicas[0].replica != 0) continue;
    slow_first_primaries++;
    EXPECT_GE(report.primaries_too_slow, 1u) << "seed " << seed;
    EXPECT_GE(report.view_max, 1u) << "seed " << seed;
    // 60 requests per client, one batch per slow pre-prepare (at least half
    // a timeout each) would take 30 timeouts; replaced, far fewer.
    const uint64_t timeout_ns = options.protocol.view_change_timeout_ticks * options.tick_ns;
    EXPECT_LT(report.virtual_time_ns, 15 * timeout_ns) << "seed " << seed;
  }
  EXPECT_GE(slow_first_primaries, 5);
}

// Each Byzantine behaviour on its own, over a few seeds: everything holds.
class ByzantineBehaviour : public ::testing::TestWithParam<std::string> {};

TEST_P(ByzantineBehaviour, KeepsEveryCheckerGreen) {
  Options options;
  options.faults = parse_faults(GetParam()).value();
  for (uint64_t seed = 1; seed <= 20; seed++) {
    options.seed = seed;
    const RunReport report = run(options);
    ASSERT_TRUE(report.passed) << GetParam() << " seed " << seed << ": " << failure_of(report);
    if (options.faults.any_byzantine_replica()) {
      ASSERT_EQ(report.byzantine_replicas.size(), 1u);
      EXPECT_EQ(report.byzantine_replicas[0].behaviours.front(), GetParam());
    } else {
      EXPECT_EQ(report.byzantine_clients.size(), 1u);
      EXPECT_GT(report.attacker_requests, 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sim, ByzantineBehaviour,
    ::testing::Values("silent", "equivocate", "slow", "censor", "forge", "replay", "wrong-digest",
                      "bad-checkpoint", "bad-view-change", "bad-new-view", "twins", "bad-reply",
                      "replay-requests", "collude",
                      "client-timestamps", "big-mac", "client-flood"),
    [](const auto& param_info) {
      std::string name = param_info.param;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace pbft::sim
