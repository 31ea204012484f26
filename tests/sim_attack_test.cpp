// The Byzantine behaviours of issue 16 in whole simulated clusters
// (sim/byzantine.h): a primary that replays executed and duplicated
// requests, and a cabal whose VIEW-CHANGEs carry certificates assembled from
// real messages that fell short of a quorum. Correct PBFT refuses both
// attacks and every checker stays green; here: the attacks happen (the
// situations they aim at are reached, as the coverage counts them), and
// nothing breaks. That they catch the bugs they aim at is the mutants'
// business (include/pbft/mutant.h, `fresh_*` and `certificate_*`).
#include <gtest/gtest.h>

#include <string>

#include "sim/coverage.h"
#include "sim/options.h"
#include "sim/simulator.h"
#include "tests/sim_test_util.h"

namespace pbft::sim {
namespace {

using test::failure_of;

uint64_t rejected_certificates(const RunReport& r) {
  return r.coverage.count(Situation::certificate_rejected_too_few_prepares) +
         r.coverage.count(Situation::certificate_rejected_duplicate_prepares) +
         r.coverage.count(Situation::certificate_rejected_prepare_from_primary) +
         r.coverage.count(Situation::certificate_rejected_prepare_mismatch);
}

class Collude : public ::testing::TestWithParam<uint32_t> {};

// Every Byzantine replica of the run joins the cabal; when one of them is
// primary it equivocates, and the members' VIEW-CHANGEs claim the batch
// that never prepared. The correct replicas refuse those VIEW-CHANGEs (the
// coverage sees the defects), the view changes without them, and the run
// passes.
TEST_P(Collude, TheAssembledCertificatesAreRefusedAndEveryRunPasses) {
  Options options;
  options.replicas = GetParam();
  options.faults = parse_faults("collude").value();
  const uint64_t seeds = 12;
  uint64_t attacked = 0;
  for (uint64_t seed = 1; seed <= seeds; seed++) {
    options.seed = seed;
    const RunReport report = run(options);
    ASSERT_TRUE(report.passed) << "n=" << GetParam() << " seed " << seed << ": "
                               << failure_of(report);
    ASSERT_EQ(report.byzantine_replicas.size(), report.f);  // the whole budget colludes
    for (const auto& plan : report.byzantine_replicas) {
      EXPECT_EQ(plan.behaviours, std::vector<std::string>{"collude"});
    }
    if (rejected_certificates(report) > 0) {
      attacked++;
      EXPECT_GE(report.view_max, 1u);  // the attacked view was given up
    }
  }
  // The cabal holds view 0's primary in most seeds (and attacks its first
  // batch half the time, the next one otherwise); the others wait for a
  // view change that a cabal alone cannot force.
  EXPECT_GE(attacked * 2, seeds) << "the cabal attacked in " << attacked << " of " << seeds;
}

INSTANTIATE_TEST_SUITE_P(Sim, Collude, ::testing::Values(4u, 7u, 10u),
                         [](const auto& param_info) { return "n" + std::to_string(param_info.param); });

// The replaying primary's batches carry a request twice, or one of an
// earlier batch; execution runs each once (the exactly-once checker would
// fail the run otherwise) and the coverage sees both kinds.
TEST(ReplayRequests, RepeatedRequestsAreOrderedButRunOnce) {
  Options options;
  options.faults = parse_faults("replay-requests").value();
  const uint64_t seeds = 20;
  uint64_t duplicated = 0;
  uint64_t replayed = 0;
  for (uint64_t seed = 1; seed <= seeds; seed++) {
    options.seed = seed;
    const RunReport report = run(options);
    ASSERT_TRUE(report.passed) << "seed " << seed << ": " << failure_of(report);
    if (report.coverage.count(Situation::duplicate_request_in_batch) > 0) duplicated++;
    if (report.coverage.count(Situation::executed_request_in_batch) > 0) replayed++;
  }
  EXPECT_GE(duplicated, seeds / 4) << duplicated << " of " << seeds;
  EXPECT_GE(replayed, seeds / 4) << replayed << " of " << seeds;
}

}  // namespace
}  // namespace pbft::sim
