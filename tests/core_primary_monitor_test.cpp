// The throughput a backup expects of its primary (src/core/primary_monitor.h;
// issue 18, "A slow primary is replaced"): each rule of the policy on its
// own, driven tick by tick.

#include <gtest/gtest.h>

#include "src/core/primary_monitor.h"

namespace pbft {
namespace {

using Verdict = PrimaryMonitor::Verdict;

constexpr uint64_t period = 100;

// Runs one period from `now`: `executed` requests, clients waiting for the
// first `waited` ticks; returns the verdict at its end (and moves now on).
Verdict run_period(PrimaryMonitor& monitor, uint64_t& now, uint64_t executed, uint64_t waited,
                   bool judge = true, size_t clients = 3) {
  Verdict verdict = Verdict::fine;
  for (uint64_t t = 0; t < period; t++) {
    now++;
    if (t == 0) monitor.executed(executed);
    const Verdict v = monitor.tick(now, t < waited ? clients : 0, judge);
    if (t + 1 < period) {
      EXPECT_EQ(v, Verdict::fine) << "a verdict before the period's end, tick " << t;
    } else {
      verdict = v;
    }
  }
  return verdict;
}

// Two views with different primaries, both at `peak` per period: the
// history has another primary measured.
void two_good_views(PrimaryMonitor& monitor, uint64_t& now, uint64_t peak) {
  monitor.working(0, 0, now);
  EXPECT_EQ(run_period(monitor, now, peak, 0), Verdict::fine);  // grace
  EXPECT_EQ(run_period(monitor, now, peak, 0), Verdict::fine);
  monitor.stop();
  monitor.working(1, 1, now);
  EXPECT_EQ(run_period(monitor, now, peak, 0), Verdict::fine);  // grace
}

TEST(PrimaryMonitor, AViewsFirstPeriodIsNotJudged) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  two_good_views(monitor, now, 1000);
  monitor.stop();
  monitor.working(2, 2, now);
  // Nothing executed while clients waited all along: grace.
  EXPECT_EQ(run_period(monitor, now, 0, period), Verdict::fine);
  // The same in the next period: too slow.
  EXPECT_EQ(run_period(monitor, now, 0, period), Verdict::too_slow);
}

TEST(PrimaryMonitor, UnderHalfTheRecentBestWhileClientsWaitIsTooSlow) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  two_good_views(monitor, now, 1000);
  EXPECT_EQ(monitor.expected_peak(), 1000u);
  EXPECT_EQ(run_period(monitor, now, 500, period), Verdict::fine);  // exactly half holds
  EXPECT_EQ(run_period(monitor, now, 499, period), Verdict::too_slow);
}

TEST(PrimaryMonitor, AFallingLoadIsNotASlowPrimary) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  two_good_views(monitor, now, 1000);
  // Clients waited less than a quarter of the period: the primary had no
  // backlog, so its low throughput is the load's.
  EXPECT_EQ(run_period(monitor, now, 10, period / 4 - 1), Verdict::fine);
  EXPECT_EQ(run_period(monitor, now, 0, 0), Verdict::fine);
  // A quarter is enough to judge.
  EXPECT_EQ(run_period(monitor, now, 10, period / 4), Verdict::too_slow);
}

TEST(PrimaryMonitor, OnlyABackupThatCanJudgeDoes) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  two_good_views(monitor, now, 1000);
  EXPECT_EQ(run_period(monitor, now, 0, period, /*judge=*/false), Verdict::fine);
  EXPECT_EQ(run_period(monitor, now, 0, period, /*judge=*/true), Verdict::too_slow);
}

TEST(PrimaryMonitor, ASlowFirstPrimaryIsLeftToMeasureAnother) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  monitor.working(0, 0, now);
  EXPECT_EQ(run_period(monitor, now, 3, period), Verdict::fine);  // grace
  // Its own best is all there is to compare with: clients waiting for half
  // the period or more make the backup measure another primary.
  EXPECT_EQ(run_period(monitor, now, 3, period / 2 - 1), Verdict::fine);
  // One client alone waiting is not a slow primary (the view-change
  // timer's four timeouts are for it).
  EXPECT_EQ(run_period(monitor, now, 3, period, true, 1), Verdict::fine);
  EXPECT_EQ(run_period(monitor, now, 3, period / 2), Verdict::untried);
  monitor.stop();
  monitor.working(1, 1, now);
  EXPECT_EQ(run_period(monitor, now, 900, period), Verdict::fine);  // grace
  // Another primary was measured: only the throughput rule applies now.
  EXPECT_EQ(run_period(monitor, now, 900, period), Verdict::fine);
  EXPECT_EQ(run_period(monitor, now, 400, period), Verdict::too_slow);
}

TEST(PrimaryMonitor, TheSamePrimaryInAnotherViewDoesNotCountAsAnother) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  monitor.working(0, 0, now);
  EXPECT_EQ(run_period(monitor, now, 3, 0), Verdict::fine);
  monitor.stop();
  monitor.working(4, 0, now);  // n = 4: view 4's primary is replica 0 again
  EXPECT_EQ(run_period(monitor, now, 3, period), Verdict::fine);  // grace
  EXPECT_EQ(run_period(monitor, now, 3, period), Verdict::untried);
}

TEST(PrimaryMonitor, ThePeakOfAViewOlderThanTheHistoryIsForgotten) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  monitor.working(0, 0, now);
  EXPECT_EQ(run_period(monitor, now, 5000, 0), Verdict::fine);
  for (View v = 1; v <= PrimaryMonitor::history_views; v++) {
    monitor.stop();
    monitor.working(v, static_cast<ReplicaId>(v % 4), now);
    EXPECT_EQ(run_period(monitor, now, 100, 0), Verdict::fine);
  }
  EXPECT_EQ(monitor.expected_peak(), 100u);
  EXPECT_EQ(run_period(monitor, now, 60, period), Verdict::fine);
}

TEST(PrimaryMonitor, ANewStartInTheSameViewRestartsTheGrace) {
  PrimaryMonitor monitor(period);
  uint64_t now = 0;
  two_good_views(monitor, now, 1000);
  // The replica caught up by state transfer: it works in view 1 again from
  // now, and its first period there is grace.
  monitor.working(1, 1, now);
  EXPECT_EQ(run_period(monitor, now, 0, 0), Verdict::fine);
  monitor.working(1, 1, now + 7);
  now += 7;
  EXPECT_EQ(run_period(monitor, now, 0, period), Verdict::fine);
  EXPECT_EQ(run_period(monitor, now, 0, period), Verdict::too_slow);
  EXPECT_EQ(monitor.expected_peak(), 1000u);  // the same view's entry, not a new one
}

}  // namespace
}  // namespace pbft
