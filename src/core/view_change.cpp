// View changes (Castro and Liskov, OSDI 1999, section 4.4; TOCS 2002,
// section 2.4; PBFT.md "View change").
//
// A backup whose requests wait too long, or whose view change takes too
// long, moves to the next view: it multicasts VIEW-CHANGE(v+1, s, C, P)
// with its stable checkpoint s, the proof C, and a prepared certificate for
// each sequence number above s that it prepared (in the latest view it did).
// The new primary collects 2f+1 valid ones (V), computes O from them and
// multicasts NEW-VIEW(v+1, V, O); every replica checks V and recomputes O
// before it installs the view. What to put in O is a function of V alone
// (plan_new_view), so a primary that omits or alters a prepared request is
// caught by every correct backup.
//
// Timing (when to give up on a view) is liveness policy: the ViewTimer and
// on_view_timer. Everything else here is safety and does not depend on it.

#include <algorithm>

#include "pbft/assert.h"
#include "pbft/wire.h"
#include "replica_state.h"

namespace pbft {

// What a NEW-VIEW's V implies: the checkpoint to start from (min-s, with
// its proof) and the digest to order at each sequence number in
// (min-s, max-s].
struct ReplicaState::NewViewPlan {
  View view = 0;
  Seq min_s = 0;
  std::vector<Checkpoint> proof;  // 2f+1 matching CHECKPOINTs for min_s (empty for 0)
  std::vector<std::pair<Seq, Digest>> order;  // (min_s, max_s], in order
};

// ---------------------------------------------------------------------------
// Liveness policy: when a view has failed.
//
// In a working view, a replica with requests waiting (pending, or in
// batches not yet executed) starts the timer, and restarts it whenever a
// batch executes (execute() does); if it runs out, or one request has waited
// four timeouts at a backup (a primary that serves everybody but one
// client), the replica moves to the next view. While changing views
// the timer runs once 2f+1 VIEW-CHANGEs for the new view or later ones are in (so a
// replica alone cannot race through views); if the new view is not
// installed in time, the replica moves on with the timeout doubled.

void ReplicaState::on_view_timer() {
  if (view_changing_) {
    primary_monitor_.stop();
    // Replicas that moved past this view count too: each keeps only its
    // latest VIEW-CHANGE per sender, and one that went on to v+1 gave up on
    // v-1 as well. Counting v alone could leave 2f+1 replicas split
    // between v and v+1 with no timer running anywhere.
    if (!view_timer_.running() && view_changes_from(view_) >= quorum()) {
      view_timer_.start(ticks_);
    }
    if (view_timer_.expired(ticks_)) {
      view_timer_.back_off();
      start_view_change(view_ + 1);
    }
    return;
  }
  // Waiting for requests to execute: pending ones, or ones in batches that
  // were ordered but have not executed. This holds for the primary too: a
  // primary whose batches do not commit (its backups moved on) must ask
  // for a view change like anybody else, or the view would never end. A
  // replica fetching state or recovering is not waiting on the primary.
  auto unexecuted = log_.upper_bound(last_executed_);
  while (unexecuted != log_.end() && unexecuted->second.pre_prepare() == nullptr) ++unexecuted;
  const bool holding = !pending_.empty() || unexecuted != log_.end();
  // A primary that orders, but too slowly (primary_monitor.h).
  primary_monitor_.working(view_, primary(), view_working_since_tick_);
  const PrimaryMonitor::Verdict verdict =
      primary_monitor_.tick(ticks_, pending_.size(), !is_primary() && !silent() && !transfer_);
  if (verdict != PrimaryMonitor::Verdict::fine) {
    if (verdict == PrimaryMonitor::Verdict::too_slow) {
      counters.primaries_too_slow++;
    } else {
      counters.primaries_untried++;
    }
    start_view_change(view_ + 1);
    return;
  }
  if (silent() || transfer_ || !holding) {
    view_timer_.stop();
    return;
  }
  view_timer_.start(ticks_);
  bool starved = false;
  const RequestQueue::Entry* oldest = pending_.oldest();
  if (!is_primary() && oldest != nullptr) {
    // Counted from when this view started working here at the earliest: a
    // request that waited through earlier views is the new primary's only
    // from then on.
    const uint64_t since = std::max(oldest->since_tick, view_working_since_tick_);
    starved = ticks_ - since >= 4 * view_timer_.timeout();
  }
  if (view_timer_.expired(ticks_) || starved) {
    // A view installed by a NEW-VIEW in which no request executed failed
    // like a view change that timed out: the next one gets longer.
    if (new_view_message_ != nullptr && !executed_in_view_) view_timer_.back_off();
    start_view_change(view_ + 1);
  }
}

// ---------------------------------------------------------------------------
// Starting a view change: enter view v (not yet active) and multicast
// VIEW-CHANGE(v, h, C, P).

std::optional<PreparedCertificate> ReplicaState::certificate_of(const Slot& s) const {
  if (!s.prepared) return s.earlier;
  PreparedCertificate cert;
  cert.pre_prepare = *s.pre_prepare();
  cert.pre_prepare.batch.clear();  // the signature does not cover it
  const Digest& d = s.pre_prepare()->digest;
  for (const auto& [sender, prepare] : s.prepares) {
    if (prepare.digest != d) continue;
    cert.prepares.push_back(prepare);
    if (cert.prepares.size() == 2 * static_cast<size_t>(config_.f)) break;
  }
  // (A mutant that weakens "prepared", quorum_2f, makes short ones.)
  PBFT_ASSERT(cert.prepares.size() == 2 * static_cast<size_t>(config_.f) ||
              mutant_ != mutant::Id::none);
  return cert;
}

void ReplicaState::start_view_change(View v) {
  PBFT_ASSERT(v > view_);
  set_view(v, true);
  new_view_message_.reset();
  view_timer_.stop();
  counters.view_changes_started++;
  // VIEW-CHANGEs for views below the new one are of no use any more.
  std::erase_if(view_changes_, [&](const auto& entry) {
    return std::get<ViewChange>(*entry.second).new_view < v;
  });

  // A replica that lost its state may have prepared things it no longer
  // knows: its P would hide them. It waits for the others' NEW-VIEW.
  if (silent()) return;

  ViewChange vc;
  vc.new_view = v;
  vc.stable_seq = low_watermark_;
  // 2f+1 CHECKPOINTs prove it; more would be refused as oversized.
  vc.checkpoint_proof.assign(
      stable_proof_.begin(),
      stable_proof_.begin() + static_cast<ptrdiff_t>(std::min<size_t>(stable_proof_.size(), quorum())));
  for (const auto& [seq, s] : log_) {
    if (seq <= low_watermark_) continue;
    if (auto cert = certificate_of(s)) vc.prepared.push_back(std::move(*cert));
  }
  authenticate(vc);
  auto message = std::make_shared<const Message>(std::move(vc));
  view_changes_[self_] = message;
  send_binding(message);
  maybe_send_new_view();
}

uint32_t ReplicaState::view_changes_for(View v) const {
  return static_cast<uint32_t>(std::count_if(view_changes_.begin(), view_changes_.end(),
                                             [&](const auto& entry) {
                                               return std::get<ViewChange>(*entry.second)
                                                          .new_view == v;
                                             }));
}

uint32_t ReplicaState::view_changes_from(View v) const {
  return static_cast<uint32_t>(std::count_if(view_changes_.begin(), view_changes_.end(),
                                             [&](const auto& entry) {
                                               return std::get<ViewChange>(*entry.second)
                                                          .new_view >= v;
                                             }));
}

// ---------------------------------------------------------------------------
// Receiving VIEW-CHANGE.

// The rules a VIEW-CHANGE must satisfy beyond its signatures (the verifier
// checked those): a proven stable checkpoint, and certificates that are
// real prepared certificates inside the window above it, one per sequence
// number, from views before the new one.
Status ReplicaState::check_view_change(const ViewChange& vc) const {
  if (vc.stable_seq % config_.checkpoint_interval != 0) {
    return Status::error("stable checkpoint is not at a checkpoint interval");
  }
  if (vc.stable_seq == 0) {
    if (!vc.checkpoint_proof.empty()) return Status::error("proof for the initial state");
  } else {
    std::set<ReplicaId> signers;
    for (const Checkpoint& c : vc.checkpoint_proof) {
      if (c.seq != vc.stable_seq || c.state_digest != vc.checkpoint_proof.front().state_digest) {
        return Status::error("checkpoint proof does not match");
      }
      signers.insert(c.sender);
    }
    const uint32_t needed =
        PBFT_MUTANT(stable_on_f_plus_1) ? config_.weak_quorum() : quorum();
    if (signers.size() < needed) return Status::error("checkpoint proof too small");
  }
  Seq previous = vc.stable_seq;
  for (const PreparedCertificate& cert : vc.prepared) {
    const PrePrepare& pp = cert.pre_prepare;
    if (pp.seq <= previous) return Status::error("certificates out of order");
    previous = pp.seq;
    if (pp.seq - vc.stable_seq > config_.log_window) {
      return Status::error("certificate above the window");
    }
    if (pp.view >= vc.new_view) return Status::error("certificate from a later view");
    if (pp.sender != config_.primary(pp.view)) {
      return Status::error("certificate pre-prepare not from its view's primary");
    }
    std::set<ReplicaId> backups;
    for (const Prepare& p : cert.prepares) {
      if (p.view != pp.view || p.seq != pp.seq ||
          (p.digest != pp.digest && !PBFT_MUTANT(certificate_any_digest))) {
        return Status::error("certificate prepare does not match its pre-prepare");
      }
      if (p.sender == pp.sender && !PBFT_MUTANT(certificate_prepare_from_primary)) {
        return Status::error("certificate prepare from the primary");
      }
      backups.insert(p.sender);
    }
    const size_t counted =
        PBFT_MUTANT(certificate_duplicate_prepares) ? cert.prepares.size() : backups.size();
    if (counted < 2 * static_cast<size_t>(config_.f) - (PBFT_MUTANT(certificate_short) ? 1 : 0)) {
      return Status::error("certificate has fewer than 2f prepares");
    }
  }
  return Status::ok();
}

// The rules that need no cryptography, in the order of their cost: the
// view (stale, too far), one per sender (the highest), the sizes n, f and
// L allow, then the certificates' structure. Replica::screen applies them
// before any signature is checked, on_view_change again after: each holds
// from then on once it refuses (the view and the one held per sender only
// grow), so a refusal on arrival is never one that step would have taken.
std::optional<DropReason> ReplicaState::refuse_view_change(const ViewChange& vc) const {
  if (vc.sender == self_) return DropReason::own_message;
  const bool useful = vc.new_view > view_ || (vc.new_view == view_ && view_changing_);
  if (!useful) return DropReason::view_change_stale;
  if (vc.new_view - view_ > constants::view_ahead_max) return DropReason::view_change_too_far;
  if (auto it = view_changes_.find(vc.sender);
      it != view_changes_.end() && std::get<ViewChange>(*it->second).new_view >= vc.new_view) {
    return DropReason::view_change_not_newer;  // one per sender: the highest
  }
  if (view_change_oversized(vc)) return DropReason::view_change_oversized;
  if (!check_view_change(vc)) return DropReason::view_change_invalid;
  return std::nullopt;
}

// More than a correct replica ever sends: a proof of more than 2f+1
// CHECKPOINTs, more certificates than the window holds, a certificate of
// more than 2f prepares (start_view_change sends exactly that many).
bool ReplicaState::view_change_oversized(const ViewChange& vc) const {
  if (vc.checkpoint_proof.size() > config_.quorum() || vc.prepared.size() > config_.log_window) {
    return true;
  }
  return std::any_of(vc.prepared.begin(), vc.prepared.end(), [&](const PreparedCertificate& c) {
    return c.prepares.size() > 2 * static_cast<size_t>(config_.f);
  });
}

// Whether the verifier checks a VIEW-CHANGE's embedded signatures: only
// the new view's primary uses its certificates (plan_new_view), and only
// once it is changing to that view; everybody else counts it by its view
// alone (its own signature is checked), and the primary of a later view
// checks the contents when it gets there (check_held_view_changes).
bool ReplicaState::needs_view_change_contents(const ViewChange& vc) const {
  return config_.primary(vc.new_view) == self_ && vc.new_view == view_ && view_changing_;
}

void ReplicaState::on_view_change(const ViewChange& vc, bool contents_checked) {
  if (auto reason = refuse_view_change(vc)) {
    counters.drop(*reason);
    return;
  }
  view_changes_[vc.sender] = std::make_shared<const Message>(vc);
  if (contents_checked) {
    view_change_contents_unchecked_.erase(vc.sender);
  } else {
    view_change_contents_unchecked_.insert(vc.sender);
  }
  maybe_join_higher_view();
  maybe_send_new_view();
}

// The embedded signatures of the VIEW-CHANGEs held for the view this
// replica is about to lead, checked now that it needs them (a Byzantine
// replica's made-up certificates cost nothing until then, and then once).
void ReplicaState::check_held_view_changes() {
  for (auto it = view_change_contents_unchecked_.begin();
       it != view_change_contents_unchecked_.end();) {
    auto held = view_changes_.find(*it);
    if (held == view_changes_.end()) {
      it = view_change_contents_unchecked_.erase(it);
      continue;
    }
    const ViewChange& vc = std::get<ViewChange>(*held->second);
    if (vc.new_view != view_) {
      ++it;
      continue;
    }
    if (!verifier_.verify_view_change_contents(vc)) {
      counters.drop(DropReason::view_change_invalid);
      view_changes_.erase(held);
    }
    it = view_change_contents_unchecked_.erase(it);
  }
}

// f+1 replicas want views above this one: at least one of them is correct,
// so this replica joins at once (the smallest view that f+1 of them want),
// rather than wait for its own timer. Fewer than f+1 cannot move it.
void ReplicaState::maybe_join_higher_view() {
  std::vector<View> higher;
  for (const auto& [sender, message] : view_changes_) {
    const View v = std::get<ViewChange>(*message).new_view;
    if (v > view_) higher.push_back(v);
  }
  if (higher.size() < config_.weak_quorum()) return;
  std::sort(higher.begin(), higher.end(), std::greater<>());
  start_view_change(higher[config_.f]);  // f+1 replicas want this view or above
}

// ---------------------------------------------------------------------------
// The new primary: NEW-VIEW(v, V, O) once 2f+1 VIEW-CHANGEs for v are in.

ReplicaState::NewViewPlan ReplicaState::plan_new_view(
    const std::vector<const ViewChange*>& view_changes) const {
  NewViewPlan plan;
  for (const ViewChange* vc : view_changes) {
    if (vc->stable_seq > plan.min_s || (vc->stable_seq == plan.min_s && plan.proof.empty())) {
      plan.min_s = vc->stable_seq;
      plan.proof = vc->checkpoint_proof;
    }
  }
  // For each sequence number above min-s: the certificate of the latest view.
  std::map<Seq, const PrePrepare*> chosen;
  for (const ViewChange* vc : view_changes) {
    for (const PreparedCertificate& cert : vc->prepared) {
      const PrePrepare& pp = cert.pre_prepare;
      if (pp.seq <= plan.min_s) continue;
      auto [it, inserted] = chosen.emplace(pp.seq, &pp);
      if (PBFT_MUTANT(new_view_last_certificate)) {
        it->second = &pp;
      } else if (!inserted && (PBFT_MUTANT(new_view_lowest_certificate)
                                   ? pp.view < it->second->view
                                   : pp.view > it->second->view)) {
        it->second = &pp;
      }
    }
  }
  const Seq max_s = chosen.empty() ? plan.min_s : chosen.rbegin()->first;
  for (Seq s = plan.min_s + 1; s <= max_s && s > plan.min_s; s++) {
    auto it = chosen.find(s);
    plan.order.emplace_back(s, it == chosen.end() ? null_digest_ : it->second->digest);
  }
  return plan;
}

void ReplicaState::maybe_send_new_view() {
  if (!view_changing_ || !is_primary() || silent()) return;
  if (view_changes_for(view_) < quorum()) return;
  check_held_view_changes();
  if (view_changes_for(view_) < quorum()) return;
  // V: this replica's own VIEW-CHANGE and the first 2f others' by id.
  NewView nv;
  nv.view = view_;
  nv.sender = self_;
  std::vector<const ViewChange*> chosen;
  auto take = [&](const ViewChange& vc) {
    nv.view_changes.push_back(vc);
    return nv.view_changes.size() == quorum();
  };
  if (auto own = view_changes_.find(self_); own != view_changes_.end()) {
    take(std::get<ViewChange>(*own->second));
  }
  for (const auto& [sender, message] : view_changes_) {
    const ViewChange& vc = std::get<ViewChange>(*message);
    if (sender == self_ || vc.new_view != view_) continue;
    if (take(vc)) break;
  }
  for (const ViewChange& vc : nv.view_changes) chosen.push_back(&vc);
  NewViewPlan plan = plan_new_view(chosen);
  plan.view = view_;
  for (const auto& [seq, digest] : plan.order) {
    PrePrepare pp;
    pp.view = view_;
    pp.seq = seq;
    pp.digest = digest;
    authenticate(pp);
    nv.pre_prepares.push_back(std::move(pp));
  }
  authenticate(nv);
  auto message = std::make_shared<const Message>(std::move(nv));
  send_binding(message);
  install_new_view(message, plan);
}

// ---------------------------------------------------------------------------
// Receiving NEW-VIEW: check V, recompute O, compare, install.

// Everything a NEW-VIEW must satisfy but its signatures: a view above
// this replica's, its primary's, V of 2f+1 to n valid VIEW-CHANGEs for it
// from distinct replicas, and O exactly what V implies (plan_new_view).
// No cryptography: Replica::screen applies it before the signatures are
// checked (a refusal holds from then on: the view only grows, the rest is
// a function of the message), on_new_view again after.
std::optional<DropReason> ReplicaState::refuse_new_view(const NewView& nv,
                                                        NewViewPlan* plan_out) const {
  if (nv.sender == self_) return DropReason::own_message;
  const bool useful = nv.view > view_ || (nv.view == view_ && view_changing_);
  if (!useful) return DropReason::new_view_stale;
  if (nv.view_changes.size() > config_.n || nv.pre_prepares.size() > config_.log_window ||
      std::any_of(nv.view_changes.begin(), nv.view_changes.end(),
                  [&](const ViewChange& vc) { return view_change_oversized(vc); })) {
    return DropReason::new_view_oversized;
  }
  if (nv.sender != config_.primary(nv.view)) return DropReason::new_view_invalid;
  if (nv.view_changes.size() < quorum()) return DropReason::new_view_invalid;
  std::set<ReplicaId> senders;
  std::vector<const ViewChange*> view_changes;
  for (const ViewChange& vc : nv.view_changes) {
    if (vc.new_view != nv.view || !senders.insert(vc.sender).second) {
      return DropReason::new_view_invalid;
    }
    if (!check_view_change(vc)) return DropReason::new_view_invalid;
    view_changes.push_back(&vc);
  }
  NewViewPlan plan = plan_new_view(view_changes);
  plan.view = nv.view;
  if (PBFT_MUTANT(new_view_unchecked)) {
    plan.order.clear();
    for (const PrePrepare& pp : nv.pre_prepares) plan.order.emplace_back(pp.seq, pp.digest);
  }
  if (nv.pre_prepares.size() != plan.order.size()) return DropReason::new_view_invalid;
  for (size_t i = 0; i < plan.order.size(); i++) {
    const PrePrepare& pp = nv.pre_prepares[i];
    if (pp.view != nv.view || pp.sender != nv.sender || pp.seq != plan.order[i].first ||
        pp.digest != plan.order[i].second || !pp.batch.empty()) {
      return DropReason::new_view_invalid;
    }
  }
  if (plan_out != nullptr) *plan_out = std::move(plan);
  return std::nullopt;
}

void ReplicaState::on_new_view(const std::shared_ptr<const Message>& message,
                               const NewView& nv) {
  NewViewPlan plan;
  if (auto reason = refuse_new_view(nv, &plan)) {
    counters.drop(*reason);
    return;
  }
  install_new_view(message, plan);
}

// Takes the batch for a slot that lacks it from a PRE-PREPARE (of any view)
// whose batch has the slot's digest.
bool ReplicaState::adopt_batch(Slot& s, const std::shared_ptr<const Message>& message,
                               const PrePrepare& pp) {
  if (s.pre_prepare() == nullptr || s.batch() != nullptr || pp.digest != s.pre_prepare()->digest) {
    return false;
  }
  if (batch_digest(crypto_, pp.batch) != pp.digest) return false;
  s.set_batch(message);
  return true;
}

void ReplicaState::install_new_view(const std::shared_ptr<const Message>& message,
                                    const NewViewPlan& plan) {
  const NewView& nv = std::get<NewView>(*message);
  set_view(plan.view, false);
  new_view_message_ = message;
  std::erase_if(view_changes_, [&](const auto& entry) {
    return std::get<ViewChange>(*entry.second).new_view <= view_;
  });
  counters.new_views_installed++;

  // The log of the new view: a slot for each pre-prepare in O above the low
  // watermark. What this replica knew of a sequence number carries over: the
  // batch when the digest matches, and its latest prepared certificate (for
  // the next VIEW-CHANGE, should this view fail too).
  std::map<Seq, Slot> old = std::move(log_);
  log_.clear();
  last_assigned_ = std::max(plan.min_s, last_executed_);
  ordered_.clear();
  for (const PrePrepare& pp : nv.pre_prepares) {
    last_assigned_ = std::max(last_assigned_, pp.seq);
    if (pp.seq <= low_watermark_) continue;  // this replica has a later stable checkpoint
    Slot& s = slot(pp.seq);
    s.set_pre_prepare(std::make_shared<const Message>(pp));
    if (pp.digest == null_digest_) s.set_null_batch();
    auto it = old.find(pp.seq);
    if (it == old.end()) continue;
    Slot& before = it->second;
    s.earlier = certificate_of(before);
    s.earlier_batch = before.prepared ? before.batch_message() : before.earlier_batch;
    if (s.batch() == nullptr && before.batch_message() != nullptr) {
      adopt_batch(s, before.batch_message(), std::get<PrePrepare>(*before.batch_message()));
    }
    if (s.batch() == nullptr && before.earlier_batch != nullptr) {
      adopt_batch(s, before.earlier_batch, std::get<PrePrepare>(*before.earlier_batch));
    }
  }

  // The checkpoint at min-s: its proof goes through the checkpoint rules,
  // which make it stable here (this replica has it) or fetch it.
  for (const Checkpoint& c : plan.proof) {
    if (c.sender != self_) on_checkpoint(c);
  }
  if (plan.min_s > last_executed_) {
    if (auto proven = proven_claim();
        proven && proven->first >= plan.min_s && (!transfer_ || transfer_->target < proven->first)) {
      start_transfer(proven->first, proven->second);
    }
  }

  if (is_primary()) {
    // The primary sends the batches it has with O's pre-prepares (the
    // signature covers (v, s, d) only, so O's signature stands); backups
    // take the others from any replica that has them (STATUS).
    for (auto& [seq, s] : log_) {
      if (s.batch() == nullptr || s.batch()->empty()) continue;
      PrePrepare full = *s.pre_prepare();
      full.batch = *s.batch();
      auto whole = std::make_shared<const Message>(std::move(full));
      s.set_pre_prepare(whole);
      s.set_batch(whole);
      send_shared(Destination::all_replicas(), std::move(whole));
    }
  }
  for (auto& [seq, s] : log_) {
    if (s.batch() != nullptr && seq > last_executed_) {
      for (const Request& r : *s.batch()) {
        Timestamp& t = ordered_[r.client];
        t = std::max(t, r.timestamp);
        if (is_primary()) pending_.remove(r.client, r.timestamp);
      }
    }
    // Every backup prepares O again, executed or not: the others may need
    // its votes to commit what it executed already.
    if (!is_primary() && !silent()) send_prepare(seq, s);
  }
  // Prepares that arrived with the batches may complete slots now; a slot
  // that completes can execute, make a checkpoint stable and discard slots,
  // so this walks sequence numbers, not the log's iterators.
  std::vector<Seq> seqs;
  for (const auto& entry : log_) seqs.push_back(entry.first);
  for (const Seq seq : seqs) {
    if (auto it = log_.find(seq); it != log_.end() && !view_changing_) {
      check_prepared(seq, it->second);
    }
  }

  // A backup hands what it waits for to the new primary, which may never
  // have seen it (the client sent it to the old primary).
  if (!is_primary() && !silent()) {
    pending_.for_each([&](const RequestQueue::Entry& pending) {
      send(Destination::replica(primary()), pending.request);
    });
  }
  executed_in_view_ = false;
  view_working_since_tick_ = ticks_;
  view_timer_.restart(ticks_);  // the new view has a timeout's time to execute something
  last_progress_tick_ = ticks_;
  execute_committed();
}

// ---------------------------------------------------------------------------
// STATUS answers about views: a peer in an older view, or in this view
// without its NEW-VIEW, gets the NEW-VIEW; a peer changing to the same view
// gets this replica's VIEW-CHANGE (the new primary may have lost it).
// Returns whether the peer is in this replica's view and working in it.

bool ReplicaState::answer_view_status(const StatusMessage& status) {
  const Destination to = Destination::replica(status.sender);
  if (status.view < view_ || (status.view == view_ && status.view_changing)) {
    if (!view_changing_ && new_view_message_ != nullptr) {
      send_shared(to, new_view_message_);
      counters.retransmissions++;
    } else if (view_changing_) {
      if (auto own = view_changes_.find(self_); own != view_changes_.end()) {
        send_shared(to, own->second);
        counters.retransmissions++;
      }
    }
  }
  return status.view == view_ && !status.view_changing && !view_changing_;
}

}  // namespace pbft
