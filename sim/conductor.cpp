#include "sim/conductor.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <variant>

#include "pbft/assert.h"

namespace pbft::sim {

namespace {

std::string short_hex(const Digest& d) { return to_hex(ByteView(d.data(), 4)); }

}  // namespace

bool conductor_runs(const FaultSet& faults, uint64_t seed) {
  if (!faults.conflict) return false;
  FaultSet others = faults;
  others.conflict = false;
  if (others == FaultSet{}) return true;
  // A generator of its own: the simulation's draws stay as they were.
  return Random(seed ^ 0x5e1ec7c0add0c7ull).chance(0.5);
}

Conductor::Conductor(const ProtocolConfig& config, uint64_t tick_ns, uint64_t fault_phase_end_ns,
                     uint64_t seed, Cluster cluster, std::function<void(const std::string&)> log)
    : config_(config),
      timeout_ns_(config.view_change_timeout_ticks * tick_ns),
      fault_phase_end_ns_(fault_phase_end_ns),
      random_(seed ^ 0xc0add0c7c0add0c7ull),
      cluster_(std::move(cluster)),
      log_(std::move(log)) {
  PBFT_ASSERT(cluster_.replica && cluster_.faulty && cluster_.absent);
  // The first attempt starts with a primary's PRE-PREPARE soon after the
  // run starts, the seed says how soon: s varies, and the two view changes
  // (a view-change timeout each) fit in the fault phase.
  next_attempt_ns_ = random_.uniform_between(0, timeout_ns_ / 2);
}

void Conductor::log(const std::string& line) const {
  if (log_) log_("conflict: " + line);
}

Conductor::Verdict Conductor::route(NodeIndex from, NodeIndex to, const Message& message,
                                    uint64_t now_ns) {
  if (phase_ == Phase::done) return Verdict::deliver;
  note(from, message, now_ns);
  return judge(from, to, message);
}

// What the replicas' messages say about the attempt, and when to move on.
void Conductor::note(NodeIndex from, const Message& message, uint64_t now_ns) {
  if (from >= config_.n) return;  // a client's
  if (const auto* pp = std::get_if<PrePrepare>(&message)) {
    // A fresh PRE-PREPARE (not one re-sent with a NEW-VIEW's O, nor a copy
    // of this one to another replica) from its view's primary.
    if (pp->sender != from || config_.primary(pp->view) != from || pp->seq <= highest_pre_prepared_) {
      return;
    }
    highest_pre_prepared_ = pp->seq;
    if (phase_ == Phase::waiting && now_ns >= next_attempt_ns_) try_start(from, *pp, now_ns);
    return;
  }
  if (const auto* c = std::get_if<Commit>(&message)) {
    if (c->sender != from || c->seq != s_) return;
    if (phase_ == Phase::preparing && from == holder_ && c->view == v_) {
      // H prepared (it commits once it has): stage 1 is done.
      stage_reached_ = std::max(stage_reached_, 1u);
      phase_ = Phase::isolated;
      deadline_ns_ = now_ns + 3 * timeout_ns_;
      log(fmt::format("stage 1: r{} alone prepared batch {} at s{} in view {}; it is cut off "
                      "until another batch commits at s{}",
                      holder_, short_hex(a_), s_, v_, s_));
      return;
    }
    if ((phase_ == Phase::isolated || phase_ == Phase::switching) && c->view > v_ &&
        c->digest != a_) {
      const bool seen = std::any_of(later_commits_.begin(), later_commits_.end(),
                                    [&](const CommitSeen& x) {
                                      return x.view == c->view && x.sender == c->sender;
                                    });
      if (!seen) later_commits_.push_back({c->view, c->digest, c->sender});
    }
    return;
  }
  if (const auto* nv = std::get_if<NewView>(&message)) {
    if (nv->sender != from || config_.primary(nv->view) != from) return;
    if (phase_ == Phase::preparing && nv->view > v_) {
      give_up(fmt::format("view {} started before r{} prepared", nv->view, holder_), now_ns);
    } else if (phase_ == Phase::switching && nv->view > w_) {
      finish(*nv);
    }
  }
}

void Conductor::try_start(NodeIndex from, const PrePrepare& pp, uint64_t now_ns) {
  // Two view changes must fit before the fault phase ends.
  if (now_ns + 2 * timeout_ns_ + timeout_ns_ / 2 > fault_phase_end_ns_) {
    phase_ = Phase::done;
    log("no time left in the fault phase for another attempt");
    return;
  }
  const View v = pp.view;
  if (pp.batch.empty() || !correct(from) || one_too_many_absent(std::nullopt)) return;
  // The correct replicas all work in v: every one of them gets this
  // PRE-PREPARE in the view it was made for.
  for (ReplicaId r = 0; r < config_.n; r++) {
    const Replica& replica = cluster_.replica(r);
    if (correct(r) && (replica.view() != v || replica.view_changing())) return;
  }
  // H: a correct backup of v that will not lead v+1 (it is cut off then).
  // The seed says whether it should lead v+2 (the header says why both).
  std::vector<ReplicaId> candidates;
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (r != from && r != config_.primary(v + 1) && correct(r)) candidates.push_back(r);
  }
  if (candidates.empty()) return;
  const bool lead_v2 = random_.chance(0.5);
  std::vector<ReplicaId> preferred;
  for (ReplicaId r : candidates) {
    if ((r == config_.primary(v + 2)) == lead_v2) preferred.push_back(r);
  }
  if (preferred.empty()) preferred = candidates;
  holder_ = preferred[random_.uniform(preferred.size())];
  v_ = v;
  s_ = pp.seq;
  a_ = pp.digest;
  later_commits_.clear();
  phase_ = Phase::preparing;
  // A few message delays, and retransmissions after drops.
  deadline_ns_ = now_ns + timeout_ns_ / 4;
  attempts_++;
  log(fmt::format("attempt {}: r{} pre-prepares batch {} at s{} in view {}; only r{} gets the "
                  "prepares",
                  attempts_, from, short_hex(a_), s_, v_, holder_));
}

void Conductor::observe(ReplicaId r, const Executed& executed, uint64_t now_ns) {
  if (phase_ != Phase::isolated || executed.seq != s_ || executed.view <= v_ || r == holder_ ||
      !correct(r)) {
    return;
  }
  if (executed.batch_digest == a_) {
    // The later view ordered the same requests in the same batch: the two
    // certificates would agree.
    give_up(fmt::format("view {} committed the same batch {} at s{}", executed.view,
                        short_hex(a_), s_),
            now_ns);
    return;
  }
  start_switching(r, executed, now_ns);
}

void Conductor::start_switching(ReplicaId executor, const Executed& executed, uint64_t now_ns) {
  stage_reached_ = std::max(stage_reached_, 2u);
  w_ = std::max(executed.view, cluster_.replica(executor).view());
  b_ = executed.batch_digest;
  cut_primary_ = config_.primary(w_);
  if (cut_primary_ == holder_) {
    give_up(fmt::format("r{} leads view {}", holder_, w_), now_ns);
    return;
  }
  // Only H and 2f-1 others get their VIEW-CHANGE for w+1 to its primary,
  // so that V must hold H's; among the others, those that prepared B
  // first (their certificate is B's), correct ones before faulty ones.
  const ReplicaId next = config_.primary(w_ + 1);
  view_change_to_primary_.assign(config_.n, true);
  if (next != holder_) {
    std::vector<ReplicaId> order;
    auto add = [&](ReplicaId r) {
      if (r != holder_ && r != cut_primary_ && r != next &&
          std::find(order.begin(), order.end(), r) == order.end()) {
        order.push_back(r);
      }
    };
    for (const CommitSeen& c : later_commits_) {
      if (c.view == executed.view && c.digest == b_ && c.sender < config_.n && correct(c.sender)) {
        add(c.sender);
      }
    }
    for (ReplicaId r = 0; r < config_.n; r++) {
      if (correct(r)) add(r);
    }
    for (ReplicaId r = 0; r < config_.n; r++) add(r);
    view_change_to_primary_.assign(config_.n, false);
    view_change_to_primary_[holder_] = true;
    const size_t others = 2 * static_cast<size_t>(config_.f) - 1;
    for (size_t i = 0; i < order.size() && i < others; i++) view_change_to_primary_[order[i]] = true;
  }
  phase_ = Phase::switching;
  deadline_ns_ = now_ns + 3 * timeout_ns_;
  std::string senders;
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (view_change_to_primary_[r] && r != next && r != cut_primary_) {
      senders += fmt::format(" r{}", r);
    }
  }
  log(fmt::format("stage 2: r{} executed batch {} at s{} in view {}; r{} is back, r{} (primary "
                  "of view {}) is cut off; {}",
                  executor, short_hex(b_), s_, executed.view, holder_, cut_primary_, w_,
                  next == holder_
                      ? fmt::format("r{} leads view {}", holder_, w_ + 1)
                      : fmt::format("VIEW-CHANGEs for view {} reach r{} from{}", w_ + 1, next,
                                    senders)));
}

void Conductor::finish(const NewView& nv) {
  stage_reached_ = 3;
  bool a = false;
  bool b = false;
  for (const ViewChange& vc : nv.view_changes) {
    for (const PreparedCertificate& cert : vc.prepared) {
      const PrePrepare& pp = cert.pre_prepare;
      if (pp.seq != s_) continue;
      a = a || (pp.view == v_ && pp.digest == a_);
      b = b || (pp.view > v_ && pp.digest == b_);
    }
  }
  both_certificates_ = both_certificates_ || (a && b);
  phase_ = Phase::done;
  log(fmt::format("stage 3: r{} sends the NEW-VIEW for view {}; its V carries {} for s{}; "
                  "everything is healed",
                  nv.sender, nv.view,
                  a && b ? "both certificates"
                         : a   ? "only A's certificate"
                         : b   ? "only B's certificate"
                               : "no certificate",
                  s_));
}

Conductor::Verdict Conductor::judge(NodeIndex from, NodeIndex to, const Message& message) const {
  if (phase_ == Phase::waiting || phase_ == Phase::done) return Verdict::deliver;
  if (phase_ == Phase::isolated && (from == holder_ || to == holder_)) return Verdict::drop;
  if (phase_ == Phase::switching && (from == cut_primary_ || to == cut_primary_)) {
    return Verdict::drop;
  }
  const bool drop = std::visit(
      Overloaded{
          // Stage 1 on: (v, s) prepares only at H, and commits nowhere.
          [&](const Prepare& p) { return p.view == v_ && p.seq == s_ && to != holder_; },
          [&](const Commit& c) { return c.view == v_ && c.seq == s_; },
          // No stable checkpoint may pass s before V is formed.
          [&](const Checkpoint& c) { return c.seq >= s_; },
          // H keeps its certificate from v: it installs no view up to w.
          [&](const NewView& nv) {
            return phase_ == Phase::switching && to == holder_ && nv.view <= w_;
          },
          [&](const ViewChange& vc) {
            return phase_ == Phase::switching && vc.new_view == w_ + 1 &&
                   to == config_.primary(w_ + 1) &&
                   (vc.sender >= config_.n || !view_change_to_primary_[vc.sender]);
          },
          [](const auto&) { return false; }},
      message);
  return drop ? Verdict::drop : Verdict::deliver;
}

void Conductor::tick(uint64_t now_ns) {
  if (phase_ == Phase::done) return;
  if (now_ns >= fault_phase_end_ns_) {
    if (phase_ != Phase::waiting) log("the fault phase ends: everything is healed");
    phase_ = Phase::done;
    return;
  }
  if (phase_ == Phase::waiting) return;
  // The others must make progress without the replica cut off (H, then
  // w's primary): with more than f-1 more away, they cannot.
  const std::optional<ReplicaId> cut =
      phase_ == Phase::switching ? std::optional<ReplicaId>(cut_primary_)
      : phase_ == Phase::isolated ? std::optional<ReplicaId>(holder_)
                                  : std::nullopt;
  if (const std::optional<ReplicaId> away = one_too_many_absent(cut)) {
    give_up(fmt::format("r{} is away too: the others cannot make progress", *away), now_ns);
    return;
  }
  if (now_ns <= deadline_ns_) return;
  switch (phase_) {
    case Phase::preparing:
      give_up(fmt::format("r{} did not prepare s{} in time", holder_, s_), now_ns);
      return;
    case Phase::isolated:
      give_up(fmt::format("no other batch committed at s{} in time", s_), now_ns);
      return;
    case Phase::switching:
      give_up(fmt::format("no NEW-VIEW above view {} in time", w_), now_ns);
      return;
    case Phase::waiting:
    case Phase::done:
      return;
  }
}

std::optional<ReplicaId> Conductor::one_too_many_absent(std::optional<ReplicaId> except) const {
  uint32_t away = 0;
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (r == except || !cluster_.absent(r)) continue;
    if (++away > config_.f - 1) return r;
  }
  return std::nullopt;
}

void Conductor::give_up(const std::string& why, uint64_t now_ns) {
  log(fmt::format("gives up attempt {}: {}; everything is healed", attempts_, why));
  phase_ = Phase::waiting;
  later_commits_.clear();
  // Let the cluster settle before the next attempt.
  next_attempt_ns_ = now_ns + timeout_ns_ / 2;
}

}  // namespace pbft::sim
