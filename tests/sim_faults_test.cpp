// The node faults of `pbft sim --faults` on scripted scenarios: each one
// must do what it says to the cluster (a wiped replica restarts recovering
// and fetches the state, a lagging replica falls more than L behind and
// catches up by state transfer, a badstate replica's corrupted fetch
// replies are rejected by the fetcher) while every checker stays green.
#include <gtest/gtest.h>

#include <string>

#include "sim/options.h"
#include "sim/simulator.h"
#include "tests/sim_test_util.h"

namespace pbft::sim {
namespace {

using test::failure_of;

const CheckerOutcome& checker(const RunReport& report, const std::string& name) {
  for (const CheckerOutcome& c : report.checkers) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no checker " << name;
  static const CheckerOutcome none;
  return none;
}

Options scripted(uint32_t replicas, NodeFaultScript script, uint64_t seed = 11) {
  Options options;
  options.seed = seed;
  options.replicas = replicas;
  options.faults = parse_faults("drop,dup,reorder,delay").value();
  options.script = std::move(script);
  return options;
}

TEST(NodeFaults, AWipedReplicaRestartsRecoveringAndCatchesUp) {
  NodeFaultScript script;
  script.episodes.push_back({NodeFault::wipe, 2, 250 * ns_per_ms, 50 * ns_per_ms});
  const RunReport report = run(scripted(4, script));
  ASSERT_TRUE(report.passed) << failure_of(report);
  const RunReport::ReplicaOutcome& wiped = report.replica_outcomes.at(2);
  EXPECT_EQ(wiped.wipes, 1u);
  EXPECT_TRUE(wiped.restarted_recovering);
  // Its state came back by transfer, not by executing from seq 1 again.
  EXPECT_GE(wiped.state_transfers, 1u);
  EXPECT_GT(wiped.state_bytes_fetched, 0u);
  EXPECT_GE(wiped.last_executed, report.replica_outcomes.at(0).low_watermark);
  EXPECT_EQ(checker(report, "catch-up").state, CheckerOutcome::State::ok);
  EXPECT_EQ(checker(report, "recovery-silence").state, CheckerOutcome::State::ok);
  EXPECT_GT(report.messages_lost_node_faults, 0u);
}

TEST(NodeFaults, ALaggingReplicaFallsBeyondTheWindowAndTransfersState) {
  NodeFaultScript script;
  script.episodes.push_back({NodeFault::lag, 3, 30 * ns_per_ms, 0});
  const RunReport report = run(scripted(4, script));
  ASSERT_TRUE(report.passed) << failure_of(report);
  EXPECT_EQ(report.lags, 1u);
  EXPECT_EQ(report.lags_beyond_window, 1u);
  const RunReport::ReplicaOutcome& lagged = report.replica_outcomes.at(3);
  EXPECT_GE(lagged.state_transfers, 1u);
  EXPECT_GE(lagged.last_executed, report.replica_outcomes.at(0).low_watermark);
  // The correct replicas collected garbage: no log ever held more than L.
  EXPECT_LE(report.peak_log_size, Options().protocol.log_window);
}

TEST(NodeFaults, ACrashedReplicaResumesWithItsState) {
  NodeFaultScript script;
  script.episodes.push_back({NodeFault::crash, 1, 100 * ns_per_ms, 150 * ns_per_ms});
  const RunReport report = run(scripted(4, script));
  ASSERT_TRUE(report.passed) << failure_of(report);
  EXPECT_EQ(report.crashes, 1u);
  EXPECT_EQ(report.replica_outcomes.at(1).crashes, 1u);
  EXPECT_GT(report.messages_lost_node_faults, 0u);
  EXPECT_GE(report.replica_outcomes.at(1).last_executed,
            report.replica_outcomes.at(0).low_watermark);
}

TEST(NodeFaults, BadStateRepliesAreRejectedByTheFetcher) {
  // n = 7 tolerates the badstate replica and the lagging one together.
  NodeFaultScript script;
  script.badstate = 3;
  script.episodes.push_back({NodeFault::lag, 1, 30 * ns_per_ms, 0});
  const RunReport report = run(scripted(7, script));
  ASSERT_TRUE(report.passed) << failure_of(report);
  EXPECT_EQ(report.badstate_replica, 3u);
  EXPECT_TRUE(report.replica_outcomes.at(3).badstate);
  EXPECT_GT(report.fetch_replies_corrupted, 0u);
  const RunReport::ReplicaOutcome& fetcher = report.replica_outcomes.at(1);
  EXPECT_GE(fetcher.state_transfers, 1u);
  EXPECT_GT(fetcher.fetch_replies_rejected, 0u);
}

TEST(NodeFaults, RandomNodeFaultsStrikeAndReplayExactly) {
  Options options;
  options.faults = FaultSet::all();
  uint64_t crashes = 0;
  uint64_t wipes = 0;
  uint64_t lags = 0;
  uint64_t badstate = 0;
  uint64_t primary_faults = 0;
  // Each kind strikes in about a quarter of the runs: 40 seeds see them all.
  for (uint64_t seed = 1; seed <= 40; seed++) {
    options.seed = seed;
    const RunReport report = run(options);
    crashes += report.crashes;
    wipes += report.wipes;
    lags += report.lags;
    badstate += report.badstate_replica ? 1 : 0;
    // The first primary fails too, now and then (a view change replaces it).
    const RunReport::ReplicaOutcome& first_primary = report.replica_outcomes.at(0);
    primary_faults += first_primary.crashes + first_primary.wipes + first_primary.lags +
                      (first_primary.badstate ? 1 : 0);
    EXPECT_EQ(run(options).trace_hash, report.trace_hash) << "seed " << seed;
  }
  EXPECT_GT(crashes, 0u);
  EXPECT_GT(wipes, 0u);
  EXPECT_GT(lags, 0u);
  EXPECT_GT(badstate, 0u);
  EXPECT_GT(primary_faults, 0u);
}

// Seeds in which two replicas were wiped (silent while recovering), so that
// every quorum of n = 7 needed all five others. Each failed liveness before
// the fix: a replica that executed a slot before a view change lost one
// PREPARE of the new view for it and never committed it again, and one
// behind waited on its COMMIT forever (core test:
// Liveness.AReplicaBehindGetsTheCommitOfAPeerThatExecutedTheSlotBeforeTheNewView).
TEST(NodeFaults, TwoWipedReplicasOfSevenDoNotStallTheOthers) {
  Options options;
  options.replicas = 7;
  options.faults = parse_faults("drop,dup,reorder,delay,partition,crash,wipe,lag").value();
  for (uint64_t seed : {109, 136, 175, 193, 212, 264, 297, 348, 440}) {
    options.seed = seed;
    const RunReport report = run(options);
    EXPECT_TRUE(report.passed) << "seed " << seed << ": " << failure_of(report);
    EXPECT_EQ(checker(report, "liveness").state, CheckerOutcome::State::ok) << "seed " << seed;
  }
}

TEST(NodeFaults, TheScriptIsValidated) {
  NodeFaultScript script;
  script.episodes.push_back({NodeFault::crash, 0, 0, 10});
  EXPECT_TRUE(validate(scripted(4, script)).is_ok());  // the primary may fail
  script.episodes[0].replica = 4;
  EXPECT_NE(validate(scripted(4, script)).reason().find("out of range"), std::string::npos);
  script.episodes[0].replica = 2;
  script.badstate = 2;
  EXPECT_NE(validate(scripted(4, script)).reason().find("badstate"), std::string::npos);
  script.badstate = 1;
  EXPECT_TRUE(validate(scripted(4, script)));
}

}  // namespace
}  // namespace pbft::sim
