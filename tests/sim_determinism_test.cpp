// Whole-cluster runs: a seed replays exactly (same trace hash, same
// history), different seeds explore different runs, and the options are
// parsed and validated as the command line relies on.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/options.h"
#include "sim/simulator.h"
#include "sim/trace_hash.h"

namespace pbft::sim {
namespace {

Options all_faults(uint64_t seed, uint32_t replicas = 4) {
  Options options;
  options.seed = seed;
  options.replicas = replicas;
  options.faults = FaultSet::all();
  return options;
}

TEST(Simulator, ASeedReplaysExactly) {
  for (uint32_t replicas : {4u, 7u}) {
    const RunReport first = run(all_faults(42, replicas));
    const RunReport second = run(all_faults(42, replicas));
    EXPECT_EQ(first.trace_hash, second.trace_hash) << "n=" << replicas;
    EXPECT_EQ(first.history, second.history);
    EXPECT_EQ(first.messages_sent, second.messages_sent);
    EXPECT_EQ(first.messages_dropped, second.messages_dropped);
    EXPECT_EQ(first.virtual_time_ns, second.virtual_time_ns);
    EXPECT_EQ(first.passed, second.passed);
  }
}

TEST(Simulator, DifferentSeedsGiveDifferentRuns) {
  EXPECT_NE(run(all_faults(1)).trace_hash, run(all_faults(2)).trace_hash);
}

TEST(Simulator, LoggingDoesNotChangeTheRun) {
  Options options = all_faults(7);
  const uint64_t quiet = run(options).trace_hash;
  std::string log;
  options.verbosity = 2;
  options.log = [&log](std::string_view line) { log.append(line).push_back('\n'); };
  EXPECT_EQ(run(options).trace_hash, quiet);
  EXPECT_NE(log.find("executed s1"), std::string::npos);
  EXPECT_NE(log.find("pre-prepare"), std::string::npos);
}

TEST(Simulator, AFaultFreeRunPassesEveryChecker) {
  Options options;
  options.seed = 3;
  const RunReport report = run(options);
  EXPECT_TRUE(report.passed) << (report.failure ? report.failure->checker + ": " +
                                                      report.failure->details
                                                : "");
  EXPECT_EQ(report.ops_completed, report.ops_total);
  EXPECT_EQ(report.history.size(), report.ops_total);
  EXPECT_EQ(report.messages_dropped + report.messages_duplicated + report.messages_partitioned,
            0u);
  EXPECT_EQ(report.decode_failures + report.verify_failures, 0u);
  // Every checker, in the order RunReport::checkers documents.
  std::vector<std::string> names;
  for (const CheckerOutcome& c : report.checkers) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "agreement", "commit-quorum", "exactly-once", "execution-order",
                       "bounded-memory", "recovery-silence", "write-ahead", "new-view",
                       "client-results", "linearizability", "liveness", "catch-up"}));
  for (const CheckerOutcome& c : report.checkers) {
    EXPECT_EQ(c.state, CheckerOutcome::State::ok) << c.name << ": " << c.details;
  }
  // Every operation completed, in a window when its client had no other.
  for (const history::Entry& e : report.history) {
    ASSERT_EQ(e.status, history::Outcome::ok);
    ASSERT_TRUE(e.return_ns);
    EXPECT_LT(e.call_ns, *e.return_ns);
  }
}

TEST(Simulator, TheRunStopsAtTheLivenessBound) {
  Options options;
  options.fault_phase_ns = 1 * ns_per_ms;
  options.liveness_bound_ns = 1 * ns_per_ms;
  const RunReport report = run(options);
  EXPECT_FALSE(report.passed);
  ASSERT_TRUE(report.failure);
  EXPECT_EQ(report.failure->checker, "liveness");
  EXPECT_LE(report.virtual_time_ns, 2 * ns_per_ms);
  // The operations still in progress are recorded with an unknown outcome.
  EXPECT_LT(report.ops_completed, report.ops_total);
  EXPECT_GT(report.history.size(), report.ops_completed);
  for (const history::Entry& e : report.history) {
    EXPECT_EQ(e.status == history::Outcome::unknown, !e.return_ns.has_value());
  }
}

TEST(TraceHash, PrintsSixteenHexDigits) {
  EXPECT_EQ(format_trace_hash(0x1f), "000000000000001f");
  TraceHash a;
  TraceHash b;
  a.add(as_bytes("abc"));
  b.add(as_bytes("abd"));
  EXPECT_NE(a.value(), b.value());
}

TEST(Options, ParsesFaultLists) {
  Result<FaultSet> faults = parse_faults("drop,partition");
  ASSERT_TRUE(faults);
  EXPECT_TRUE(faults->drop && faults->partition);
  EXPECT_FALSE(faults->dup || faults->reorder || faults->delay);
  EXPECT_FALSE(faults->any_node());
  EXPECT_EQ(to_string(faults.value()), "drop,partition");
  Result<FaultSet> conflict = parse_faults("conflict,crash");
  ASSERT_TRUE(conflict);
  EXPECT_TRUE(conflict->conflict && conflict->any_network() && conflict->crash);
  EXPECT_EQ(to_string(conflict.value()), "conflict,crash");
  EXPECT_EQ(to_string(parse_faults("none").value()), "none");
  EXPECT_EQ(parse_faults("all").value(), FaultSet::all());
  EXPECT_EQ(to_string(FaultSet::all()), "all");
  EXPECT_EQ(to_string(FaultSet::byzantine()), "byzantine");
  EXPECT_EQ(parse_faults("drop,byzantine").value(), parse_faults(to_string(
                                                         parse_faults("drop,byzantine").value()))
                                                         .value());
  EXPECT_EQ(to_string(parse_faults("drop,byzantine").value()), "drop,byzantine");
  Result<FaultSet> byzantine = parse_faults("equivocate,twins,big-mac");
  ASSERT_TRUE(byzantine);
  EXPECT_TRUE(byzantine->equivocate && byzantine->twins && byzantine->big_mac);
  EXPECT_TRUE(byzantine->any_byzantine_replica() && byzantine->any_byzantine_client());
  EXPECT_FALSE(byzantine->any_network());
  EXPECT_EQ(to_string(byzantine.value()), "equivocate,twins,big-mac");
  Result<FaultSet> node = parse_faults("wipe,badstate");
  ASSERT_TRUE(node);
  EXPECT_TRUE(node->wipe && node->badstate && node->any_node());
  EXPECT_FALSE(node->crash || node->lag || node->any_network());
}

TEST(Options, AnUnknownFaultListsTheValidOnes) {
  Result<FaultSet> faults = parse_faults("drop,jitter");
  ASSERT_FALSE(faults);
  EXPECT_NE(faults.reason().find("'jitter'"), std::string::npos);
  EXPECT_NE(faults.reason().find(
                "drop, dup, reorder, delay, partition, conflict, crash, powerloss, wipe, lag, badstate, "
                "silent, "
                "equivocate, slow, censor, forge, replay, wrong-digest, bad-checkpoint, "
                "bad-view-change, bad-new-view, twins, bad-reply, replay-requests, collude, "
                "client-timestamps, big-mac, "
                "client-flood, "
                "none, byzantine, all"),
            std::string::npos);
  EXPECT_FALSE(parse_faults(""));
  EXPECT_FALSE(parse_faults("drop,"));
  EXPECT_FALSE(parse_faults("none,drop"));
}

TEST(Options, ValidationNamesTheBadField) {
  Options options;
  EXPECT_TRUE(validate(options));
  options.replicas = 5;
  EXPECT_NE(validate(options).reason().find("n must be 3f+1"), std::string::npos);
  options.replicas = 7;
  EXPECT_TRUE(validate(options));
  EXPECT_EQ(protocol_config(options).f, 2u);
  options.clients = 0;
  EXPECT_NE(validate(options).reason().find("clients"), std::string::npos);
}

}  // namespace
}  // namespace pbft::sim
