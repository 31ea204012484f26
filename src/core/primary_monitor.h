// The throughput a backup expects of its primary: liveness policy only
// (PBFT.md "Liveness"), after Aardvark's adaptive throughput (Clement et
// al., NSDI 2009, section 4.3). The view-change timer (view_timer.h)
// catches a primary that orders nothing; it restarts with every batch
// executed, so a primary that holds each pre-prepare back just under the
// timeout keeps its view while throughput falls to a trickle. This monitor
// catches that primary: a backup measures the requests executed in each
// period (half the base view-change timeout) of a working view and, when clients are waiting on it, expects the
// primary to reach a fraction of the best period of the recent views.
//
// What counts as clients waiting: the backup holds requests not yet
// ordered. A client sends to the primary first and to every replica only
// when its reply is late (client.cpp), so a backup holds requests only
// while some client waited longer than its retransmission timeout. A fast
// primary under light load leaves backups holding nothing, so a load that
// falls is not taken for a slow primary.
//
// A primary slow from the very first view has no better view to be
// compared with: while several clients wait for half a period or more and
// no other primary has been measured in the recent views, the backup moves
// on once to measure another. (One client left waiting while the others
// are served is the view-change timer's case: view_change.cpp.)
//
// Deterministic: everything is in the host's ticks and counts of executed
// requests, so the simulator drives it exactly as production does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

#include "pbft/types.h"

namespace pbft {

class PrimaryMonitor {
 public:
  // How many recent views' best periods the expectation looks at.
  static constexpr size_t history_views = 4;
  // The fraction of the best recent period a primary must sustain.
  static constexpr uint64_t expected_numerator = 1;
  static constexpr uint64_t expected_denominator = 2;

  enum class Verdict : uint8_t {
    fine,
    too_slow,  // below the expected fraction of the recent best while clients waited
    untried,   // clients waited most of a period, and no other primary was measured
  };

  explicit PrimaryMonitor(uint64_t period_ticks) : period_(std::max<uint64_t>(period_ticks, 1)) {}

  // The replica takes part in `view` (whose primary is `primary`) since
  // `since`: a new measurement, whose first period is grace (the view's
  // start, with the previous view's requests re-ordered, is not judged).
  // Calls with the same view and start are no-ops.
  void working(View view, ReplicaId primary, uint64_t since) {
    if (active_ && history_.back().view == view && since_ == since) return;
    if (history_.empty() || history_.back().view != view) {
      history_.push_back(ViewPeak{view, primary, 0});
      if (history_.size() > history_views) history_.pop_front();
    }
    active_ = true;
    since_ = since;
    period_start_ = since;
    executed_ = 0;
    waited_ticks_ = 0;
    crowd_ticks_ = 0;
    grace_ = true;
  }
  // The view ended (a view change started): nothing is measured until the
  // next working().
  void stop() { active_ = false; }

  void executed(uint64_t requests) { executed_ += requests; }

  // One tick of a working view. clients_waiting: the requests not yet
  // ordered that this replica holds (one per client at most). judge: this
  // replica is a backup able to judge (not the primary itself, not silent,
  // not fetching state). The verdict comes at the end of a period; between
  // them it is fine.
  Verdict tick(uint64_t now, size_t clients_waiting, bool judge) {
    if (!active_) return Verdict::fine;
    if (clients_waiting > 0) waited_ticks_++;
    if (clients_waiting > 1) crowd_ticks_++;
    if (now - period_start_ < period_) return Verdict::fine;
    history_.back().peak = std::max(history_.back().peak, executed_);
    Verdict verdict = Verdict::fine;
    if (judge && !grace_) verdict = judge_period();
    period_start_ = now;
    executed_ = 0;
    waited_ticks_ = 0;
    crowd_ticks_ = 0;
    grace_ = false;
    return verdict;
  }

  // The best period of the recent views (the current one included).
  uint64_t expected_peak() const {
    uint64_t best = 0;
    for (const ViewPeak& v : history_) best = std::max(best, v.peak);
    return best;
  }

 private:
  struct ViewPeak {
    View view;
    ReplicaId primary;
    uint64_t peak;  // the most requests executed in one period of the view
  };

  Verdict judge_period() const {
    // Clients waited for a quarter of the period: the primary had work.
    if (4 * waited_ticks_ < period_) return Verdict::fine;
    if (expected_denominator * executed_ < expected_numerator * expected_peak()) {
      return Verdict::too_slow;
    }
    const bool other_measured =
        std::any_of(history_.begin(), history_.end(), [&](const ViewPeak& v) {
          return v.primary != history_.back().primary && v.peak > 0;
        });
    if (!other_measured && 2 * crowd_ticks_ >= period_) return Verdict::untried;
    return Verdict::fine;
  }

  uint64_t period_;
  std::deque<ViewPeak> history_;  // oldest first, at most history_views; the last is measured
  bool active_ = false;           // a view is being measured (history_.back())
  uint64_t since_ = 0;
  uint64_t period_start_ = 0;
  uint64_t executed_ = 0;       // requests executed in the current period
  uint64_t waited_ticks_ = 0;   // ticks of the period in which clients waited
  uint64_t crowd_ticks_ = 0;    // of those, ticks in which several did
  bool grace_ = true;
};

}  // namespace pbft
