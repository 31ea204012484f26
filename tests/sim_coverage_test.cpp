// Coverage (sim/coverage.h): the situation table and its names, what
// --require-coverage accepts, the sweep totals and their lines, what the
// recorder counts (and counts once), and that whole runs reach what they
// should.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/coverage.h"
#include "sim/options.h"
#include "sim/simulator.h"
#include "tests/sim_test_util.h"

namespace pbft::sim {
namespace {

using test::digest_of;

TEST(Situations, NamesAreUniqueSnakeCaseAndParse) {
  for (size_t i = 0; i < situation_count; i++) {
    const std::string_view name = situations[i].name;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string_view::npos)
        << name;
    EXPECT_FALSE(situations[i].help.empty()) << name;
    ASSERT_TRUE(parse_situation(name)) << name;
    EXPECT_EQ(static_cast<size_t>(*parse_situation(name)), i);
  }
  EXPECT_FALSE(parse_situation("default"));
  EXPECT_FALSE(parse_situation(""));
}

TEST(RequireCoverage, DefaultIsTheRequiredListAndNamesAddToIt) {
  Result<std::vector<Situation>> required = parse_required("default");
  ASSERT_TRUE(required);
  EXPECT_EQ(required.value(),
            std::vector<Situation>(required_in_sweeps.begin(), required_in_sweeps.end()));
  required = parse_required("new_view_null_fill,default,new_view_null_fill");
  ASSERT_TRUE(required);
  EXPECT_EQ(required.value().size(), required_in_sweeps.size() + 1);  // once each
  EXPECT_EQ(required.value().front(), Situation::new_view_null_fill);
}

TEST(RequireCoverage, AnUnknownNameListsTheValidOnes) {
  Result<std::vector<Situation>> required = parse_required("new_view_null_fill,bogus");
  ASSERT_FALSE(required);
  EXPECT_NE(required.reason().find("\"bogus\""), std::string::npos) << required.reason();
  EXPECT_NE(required.reason().find("default, view_change_with_prepared_certificates"),
            std::string::npos)
      << required.reason();
  EXPECT_FALSE(parse_required(""));
  EXPECT_FALSE(parse_required("new_view_null_fill,"));
}

TEST(CoverageTotals, CountRunsOnceAndTimesInFull) {
  CoverageTotals totals;
  Coverage first;
  first.add(Situation::new_view_null_fill, 3);
  first.add(Situation::three_consecutive_views);
  Coverage second;
  second.add(Situation::new_view_null_fill);
  totals.add(first);
  totals.add(second);
  totals.add(Coverage{});
  EXPECT_EQ(totals.runs[static_cast<size_t>(Situation::new_view_null_fill)], 2u);
  EXPECT_EQ(totals.times[static_cast<size_t>(Situation::new_view_null_fill)], 4u);
  EXPECT_EQ(totals.runs[static_cast<size_t>(Situation::three_consecutive_views)], 1u);
  EXPECT_EQ(totals.missing({Situation::three_consecutive_views, Situation::new_view_rejected,
                            Situation::new_view_null_fill}),
            std::vector<Situation>{Situation::new_view_rejected});

  const std::string lines =
      format_coverage(totals, {Situation::new_view_rejected, Situation::new_view_null_fill});
  EXPECT_NE(lines.find("coverage new_view_null_fill: 2 runs, 4 times\n"), std::string::npos);
  EXPECT_NE(lines.find("coverage three_consecutive_views: 1 runs, 1 times\n"), std::string::npos);
  EXPECT_NE(lines.find("coverage new_view_rejected: REQUIRED, never reached\n"),
            std::string::npos);
  EXPECT_NE(lines.find("coverage duplicate_request_in_batch: 0 runs, 0 times\n"),
            std::string::npos);
  EXPECT_EQ(static_cast<size_t>(std::count(lines.begin(), lines.end(), '\n')), situation_count);
}

class Recorder : public ::testing::Test {
 protected:
  Recorder() : recorder_(config_) {}
  uint64_t count(Situation s) const { return recorder_.coverage().count(s); }

  static PrePrepare pre_prepare(View v, Seq s, uint8_t d,
                                std::vector<std::pair<ClientId, Timestamp>> requests) {
    PrePrepare pp;
    pp.view = v;
    pp.seq = s;
    pp.digest = digest_of(d);
    pp.sender = static_cast<ReplicaId>(v % 4);
    for (const auto& [client, timestamp] : requests) {
      Request r;
      r.client = client;
      r.timestamp = timestamp;
      pp.batch.push_back(r);
    }
    return pp;
  }

  ProtocolConfig config_;  // n = 4, f = 1
  CoverageRecorder recorder_;
};

TEST_F(Recorder, ARequestProposedAgainInALaterViewCountsOncePerView) {
  recorder_.observe_delivered(pre_prepare(0, 1, 1, {{0, 1}, {1, 1}}));
  recorder_.observe_delivered(pre_prepare(0, 1, 1, {{0, 1}, {1, 1}}));  // to another backup
  EXPECT_EQ(count(Situation::request_reproposed_after_view_change), 0u);
  recorder_.observe_delivered(pre_prepare(1, 1, 1, {{0, 1}}));
  recorder_.observe_delivered(pre_prepare(1, 2, 2, {{0, 1}}));  // the same view again
  EXPECT_EQ(count(Situation::request_reproposed_after_view_change), 1u);
  recorder_.observe_delivered(pre_prepare(0, 3, 3, {{1, 1}}));  // a replay of an old view
  EXPECT_EQ(count(Situation::request_reproposed_after_view_change), 1u);
  recorder_.observe_delivered(pre_prepare(3, 1, 1, {{0, 1}, {1, 1}}));
  EXPECT_EQ(count(Situation::request_reproposed_after_view_change), 3u);
  PrePrepare not_primary = pre_prepare(4, 1, 1, {{0, 1}});
  not_primary.sender = 1;
  recorder_.observe_delivered(not_primary);
  EXPECT_EQ(count(Situation::request_reproposed_after_view_change), 3u);
}

TEST_F(Recorder, ABatchWithOneClientTwiceCountsOnce) {
  recorder_.observe_delivered(pre_prepare(0, 1, 1, {{0, 1}, {0, 2}}));
  recorder_.observe_delivered(pre_prepare(0, 1, 1, {{0, 1}, {0, 2}}));
  recorder_.observe_delivered(pre_prepare(0, 2, 2, {{0, 3}, {1, 3}}));
  EXPECT_EQ(count(Situation::duplicate_request_in_batch), 1u);
}

TEST_F(Recorder, AnInvalidViewChangeCountsEachDefectOnceWhateverItsReceivers) {
  ViewChange vc;
  vc.new_view = 2;
  vc.sender = 3;
  vc.stable_seq = 5;  // off the interval, and no proof: one situation
  PreparedCertificate cert;
  cert.pre_prepare.view = 1;
  cert.pre_prepare.seq = 6;
  cert.pre_prepare.sender = 3;  // not view 1's primary
  Prepare p;
  p.view = 1;
  p.seq = 6;
  p.sender = 3;
  cert.prepares = {p, p};  // padded
  vc.prepared.push_back(cert);
  for (int copy = 0; copy < 3; copy++) recorder_.observe_delivered(vc);
  EXPECT_EQ(count(Situation::checkpoint_proof_rejected), 1u);
  EXPECT_EQ(count(Situation::certificate_rejected_not_primary), 1u);
  EXPECT_EQ(count(Situation::certificate_rejected_duplicate_prepares), 1u);
  EXPECT_EQ(count(Situation::certificate_rejected_too_few_prepares), 1u);
  EXPECT_EQ(count(Situation::certificate_rejected_prepare_mismatch), 0u);
}

TEST_F(Recorder, InstallsCountConsecutiveViewsAndProofsAboveTheOwnWatermark) {
  NewViewVerdict verdict;
  verdict.min_s = 8;
  verdict.certificates_ordered = 1;
  NewView nv;
  for (View v = 1; v <= 4; v++) {
    nv.view = v;
    nv.sender = static_cast<ReplicaId>(v % 4);
    nv.signature[0] = static_cast<uint8_t>(v);
    recorder_.observe_install(0, nv, verdict, v == 1 ? 0 : 8, v == 2);
    recorder_.observe_install(1, nv, verdict, 8, false);
  }
  EXPECT_EQ(count(Situation::three_consecutive_views), 4u);  // views 3 and 4, at two replicas
  EXPECT_EQ(count(Situation::checkpoint_proof_above_own), 1u);
  EXPECT_EQ(count(Situation::view_change_with_prepared_certificates), 4u);  // once per NEW-VIEW
  EXPECT_EQ(count(Situation::view_change_during_recovery), 1u);
  recorder_.observe_wipe(0);
  nv.view = 5;
  nv.signature[0] = 5;
  recorder_.observe_install(0, nv, verdict, 8, false);
  EXPECT_EQ(count(Situation::three_consecutive_views), 4u);  // a new incarnation starts over
}

// Whole runs: a crashed primary leaves a view change that carries the
// certificates of what was in flight, and the checker agrees with it.
TEST(CoverageRuns, APrimaryCrashReachesAViewChangeWithCertificates) {
  CoverageTotals totals;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    Options options;
    options.seed = seed;
    options.requests = 30;
    NodeFaultScript script;
    script.episodes.push_back({NodeFault::crash, 0, 100 * ns_per_ms, 2 * ns_per_s});
    options.script = script;
    const RunReport report = run(options);
    ASSERT_TRUE(report.passed) << "seed " << seed;
    totals.add(report.coverage);
  }
  EXPECT_GT(totals.runs[static_cast<size_t>(Situation::view_change_with_prepared_certificates)],
            0u);
  EXPECT_EQ(totals.runs[static_cast<size_t>(Situation::new_view_rejected)], 0u);
}

}  // namespace
}  // namespace pbft::sim
