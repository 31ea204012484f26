// A restart from what the replica persisted (durable.h; docs/design.md,
// "Durability"). The replica comes back as it was when its last record
// became durable, less what it may forget:
//
//   - the state at its last recorded stable checkpoint, checked against
//     the checkpoint's digest, then the batches it executed above it,
//     executed again (the service is deterministic, so the state and the
//     reply table come back as they were, and exactly-once holds);
//   - its view, and whether it was changing views (its VIEW-CHANGE, to
//     send again; the NEW-VIEW it sent as the primary);
//   - for each sequence number in the window: the pre-prepare and votes it
//     sent (so it never votes otherwise in that view), and its prepared
//     certificate (so its next VIEW-CHANGE reports it).
//
// What it forgets are other replicas' votes and requests: they come back
// by retransmission (STATUS), as for a replica that missed messages.

#include <algorithm>
#include <string>

#include "pbft/assert.h"
#include "replica_state.h"

namespace pbft {

namespace {

std::string str(uint64_t v) { return std::to_string(v); }

Status corrupt(const std::string& what) {
  return Status::error("the persisted state is inconsistent: " + what);
}

}  // namespace

Status ReplicaState::restore(const PersistedState& persisted) {
  // The stable checkpoint: the leaves recorded over the initial state.
  const Seq h = persisted.stable_seq;
  if (h % config_.checkpoint_interval != 0) {
    return corrupt("stable checkpoint " + str(h) + " is not a multiple of " +
                   str(config_.checkpoint_interval));
  }
  for (const auto& [leaf, bytes] : persisted.leaves) {
    if (leaf >= leaf_count()) {
      return corrupt("state leaf " + str(leaf) + " out of range (the service has " +
                     str(leaf_count()) + " leaves)");
    }
    if (Status s = install_leaf(leaf, *bytes); !s) {
      return corrupt("state leaf " + str(leaf) + " does not decode: " + s.reason());
    }
  }
  update_working_tree(std::nullopt);
  if (h != 0 || !persisted.leaves.empty()) {
    if (working_tree_.root() != persisted.stable_digest) {
      return corrupt("the state at checkpoint " + str(h) + " does not match its digest");
    }
    if (h == 0) return corrupt("state leaves recorded without a checkpoint");
    if (persisted.stable_proof.size() < config_.weak_quorum()) {
      return corrupt("checkpoint " + str(h) + " has a proof of only " +
                     str(persisted.stable_proof.size()) + " CHECKPOINTs");
    }
    for (const Checkpoint& c : persisted.stable_proof) {
      if (c.seq != h || c.state_digest != persisted.stable_digest) {
        return corrupt("checkpoint " + str(h) + "'s proof holds another checkpoint");
      }
    }
    own_checkpoints_.clear();
    service_.snapshot(h);
    replies_.snapshot(h);
    Checkpoint mine;
    mine.seq = h;
    mine.state_digest = working_tree_.root();
    authenticate(mine);
    own_checkpoints_[h] =
        OwnCheckpoint{working_tree_.root(), working_tree_, std::make_shared<const Message>(mine)};
    stable_proof_ = persisted.stable_proof;
    recorded_tree_ = working_tree_;
    last_executed_ = h;
    last_assigned_ = h;
    discard_below(h);  // low watermark, snapshot 0
  }

  // The view. A VIEW-CHANGE or NEW-VIEW of another view is an older one.
  if (!PBFT_MUTANT(forget_view_on_restart)) {
    view_ = persisted.view;
    view_changing_ = persisted.changing;
  }
  if (persisted.view_change != nullptr) {
    const auto* vc = std::get_if<ViewChange>(persisted.view_change.get());
    if (vc == nullptr || vc->sender != self_) return corrupt("the VIEW-CHANGE record");
    if (vc->new_view > persisted.view) {
      return corrupt("a VIEW-CHANGE for view " + str(vc->new_view) + " beyond the recorded view " +
                     str(persisted.view));
    }
    if (view_changing_ && vc->new_view == view_) view_changes_[self_] = persisted.view_change;
  }
  if (persisted.new_view != nullptr) {
    const auto* nv = std::get_if<NewView>(persisted.new_view.get());
    if (nv == nullptr || nv->sender != self_) return corrupt("the NEW-VIEW record");
    if (nv->view > persisted.view) {
      return corrupt("a NEW-VIEW for view " + str(nv->view) + " beyond the recorded view " +
                     str(persisted.view));
    }
    if (!view_changing_ && nv->view == view_) new_view_message_ = persisted.new_view;
  }

  // The log above the checkpoint: all of it, as a NEW-VIEW installs O above
  // the low watermark even beyond the window (a replica whose checkpoint is
  // below O's min-s), and what it voted for there binds it too.
  for (const auto& [seq, slot_record] : persisted.slots) {
    if (seq <= low_watermark_) continue;
    restore_slot(seq, slot_record);
  }
  if (new_view_message_ != nullptr) {
    // The primary of this view records O inside its NEW-VIEW, not slot by
    // slot; it never assigns a sequence number of O again.
    for (const PrePrepare& pp : std::get<NewView>(*new_view_message_).pre_prepares) {
      last_assigned_ = std::max(last_assigned_, pp.seq);
      if (pp.seq <= low_watermark_) continue;
      Slot& s = slot(pp.seq);
      if (s.pre_prepare() != nullptr && s.pre_prepare()->view == view_) continue;
      s.set_pre_prepare(std::make_shared<const Message>(pp));
      if (pp.digest == null_digest_) s.set_null_batch();
    }
  }

  // The batches it executed above the checkpoint, executed again in order.
  for (Seq seq = low_watermark_ + 1;; seq++) {
    auto record = persisted.slots.find(seq);
    if (record == persisted.slots.end() || !record->second.executed) break;
    auto it = log_.find(seq);
    if (it == log_.end() || it->second.pre_prepare() == nullptr ||
        it->second.pre_prepare()->digest != *record->second.executed || it->second.batch() == nullptr) {
      return corrupt("sequence number " + str(seq) + " executed, but its batch is not recorded");
    }
    it->second.committed = true;
    it->second.accepted_recorded = true;
    execute(seq, it->second, record->second.executed_view);
    // What it executed matches what it said at the time.
    if (seq % config_.checkpoint_interval == 0 && record->second.checkpoint != nullptr) {
      const auto* said = std::get_if<Checkpoint>(record->second.checkpoint.get());
      if (said == nullptr || said->state_digest != own_checkpoints_.at(seq).digest) {
        return corrupt("executing up to " + str(seq) +
                       " again gives another state than before (is the service deterministic?)");
      }
    }
  }
  // Slots it committed but had not executed wait for the others' commits.

  // A primary never assigns a sequence number twice in its view.
  last_assigned_ = std::max(last_assigned_, last_executed_);
  for (const auto& [seq, s] : log_) {
    if (s.pre_prepare() != nullptr && s.pre_prepare()->view == view_) {
      last_assigned_ = std::max(last_assigned_, seq);
    }
  }
  view_working_since_tick_ = ticks_;
  last_progress_tick_ = ticks_;
  if (!view_changing_) view_timer_.restart(ticks_);
  return Status::ok();
}

// One sequence number's records, back into its slot: the pre-prepare of
// the current view (with its batch), the votes this replica sent in it, and
// its latest prepared certificate (of this view: the slot is prepared; of
// an earlier one: it is carried, as a NEW-VIEW carries it).
void ReplicaState::restore_slot(Seq seq, const PersistedState::Slot& record) {
  Slot& s = slot(seq);
  auto batch_of = [&](const Digest& d) -> std::shared_ptr<const Message> {
    auto it = record.batches.find(d);
    return it == record.batches.end() ? nullptr : it->second;
  };
  auto set_pre_prepare = [&](std::shared_ptr<const Message> message) {
    const PrePrepare& pp = std::get<PrePrepare>(*message);
    s.set_pre_prepare(message);
    if (pp.digest == null_digest_) {
      s.set_null_batch();
    } else if (auto batch = batch_of(pp.digest)) {
      s.set_batch(std::move(batch));
    }
  };

  const std::optional<PreparedCertificate>& cert = record.certificate;
  if (!view_changing_) {
    if (auto pp = record.pre_prepares.find(view_); pp != record.pre_prepares.end()) {
      set_pre_prepare(pp->second);
    } else if (cert && cert->pre_prepare.view == view_) {
      set_pre_prepare(std::make_shared<const Message>(cert->pre_prepare));
    }
    if (auto p = record.prepares.find(view_); p != record.prepares.end()) {
      s.own_prepare = p->second;
      s.prepares.insert_or_assign(self_, std::get<Prepare>(*p->second));
    }
    if (auto c = record.commits.find(view_); c != record.commits.end()) {
      s.own_commit = c->second;
      s.commits.insert_or_assign(self_, std::get<Commit>(*c->second).digest);
    }
  }
  if (cert && cert->pre_prepare.view == view_ && !view_changing_ && s.pre_prepare() != nullptr &&
      s.pre_prepare()->digest == cert->pre_prepare.digest) {
    for (const Prepare& p : cert->prepares) s.prepares.insert_or_assign(p.sender, p);
    s.prepared = true;
  } else if (cert && cert->pre_prepare.view < view_) {
    s.earlier = cert;
    s.earlier_batch = batch_of(cert->pre_prepare.digest);
  }
  // A slot executed in an earlier view: its pre-prepare of that view
  // stands for it (execution needs the batch and its digest).
  if (record.executed && (s.pre_prepare() == nullptr || s.pre_prepare()->digest != *record.executed)) {
    for (auto it = record.pre_prepares.rbegin(); it != record.pre_prepares.rend(); ++it) {
      if (std::get<PrePrepare>(*it->second).digest == *record.executed) {
        set_pre_prepare(it->second);
        break;
      }
    }
    if (s.pre_prepare() == nullptr && *record.executed != null_digest_) {
      if (auto batch = batch_of(*record.executed)) set_pre_prepare(batch);
    }
  }
  s.accepted_recorded = s.pre_prepare() != nullptr;
}

}  // namespace pbft
