// The normal case of PBFT (Castro and Liskov, OSDI 1999, section 4.2;
// TOCS 2002, section 2.3): pre-prepare, prepare, commit, in-order execution
// with exactly-once replies, and status-driven retransmission of lost
// protocol messages (Castro's thesis, section 5.2). Checkpoints are in
// checkpoint.cpp, state transfer and recovery in state_transfer.cpp.
//
// Each handler reads: early returns (counted) for messages the rules say to
// ignore, then the state change.

#include "replica_state.h"

#include <algorithm>

#include "pbft/assert.h"
#include "pbft/wire.h"

namespace pbft {

namespace {
// An idle replica multicasts STATUS every this many status intervals.
constexpr uint64_t idle_status_intervals = 4;
}  // namespace

ReplicaState::ReplicaState(const ProtocolConfig& config, ReplicaId self, const Crypto& crypto,
                           Service& service, const ReplicaOptions& options)
    : config_(config),
      self_(self),
      crypto_(crypto),
      service_(service),
      mutant_(options.mutant),
      pending_(RequestQueue::BatchLimits{config.batch_size_max, constants::batch_bytes_max,
                                         config.in_flight_max}),
      replies_(constants::reply_partitions),
      recovering_(options.recovering),
      recovery_nonce_(options.recovery_nonce),
      freshness_counter_(options.freshness_base),
      view_timer_(config.view_change_timeout_ticks),
      primary_monitor_(config.view_change_timeout_ticks / 2),
      null_digest_(batch_digest(crypto, {})),
      verifier_(config_, crypto_, options.mutant),
      skipping_pause_(unchecked_batch_horizon()) {
  // The tree of the initial state: every partition hashed once.
  working_tree_ = StateTree(leaf_count(), Digest{}, crypto_);
  for (uint64_t leaf = 0; leaf < leaf_count(); leaf++) {
    working_tree_.set_leaf(leaf, leaf_digest(leaf, read_leaf(std::nullopt, leaf)));
  }
  working_tree_.update(crypto_);
  std::vector<uint64_t> ignored;
  service_.take_dirty_partitions(ignored);
  replies_.take_dirty(ignored);
  // Sequence number 0 is the initial state: a checkpoint every replica
  // starts from (unless it restarted without its state), stable by fiat.
  own_checkpoints_[0] = OwnCheckpoint{working_tree_.root(), working_tree_, nullptr};
  recorded_tree_ = working_tree_;
  service_.snapshot(0);
  replies_.snapshot(0);
}

void ReplicaState::send(Destination to, Message m) {
  effects.list.emplace_back(Send{to, std::make_shared<const Message>(std::move(m))});
}

void ReplicaState::send_shared(Destination to, std::shared_ptr<const Message> m) {
  effects.list.emplace_back(Send{to, std::move(m)});
}

void ReplicaState::persist(Record record) {
  // One Persist at the head of the pending effects: what the replica sends
  // after this record may depend on it, and persisting it ahead of effects
  // queued earlier is always safe. So every send waits for one barrier, and
  // one sync covers all the records of the inputs since take_effects.
  if (effects.list.empty() || !std::holds_alternative<Persist>(effects.list.front())) {
    effects.list.insert(effects.list.begin(), Persist{});
  }
  Persist& head = std::get<Persist>(effects.list.front());
  head.sync = head.sync || needs_sync(record);
  head.records.push_back(std::move(record));
}

void ReplicaState::send_binding(std::shared_ptr<const Message> m) {
  PBFT_ASSERT(binds_sender(*m) && sender_of(*m) == Principal::replica(self_));
  persist(SentRecord{m});
  send_shared(Destination::all_replicas(), std::move(m));
}

void ReplicaState::set_view(View v, bool changing) {
  view_ = v;
  view_changing_ = changing;
  persist(ViewRecord{v, changing});
}

bool needs_sync(const Record& record) {
  return !std::holds_alternative<ExecutedRecord>(record) &&
         !std::holds_alternative<CheckpointRecord>(record);
}

// The slot's pre-prepare and batch, for the records of a vote or an
// execution (the journal writes each batch once however often it is named).
void ReplicaState::persist_accepted(Slot& s) {
  PBFT_ASSERT(s.pre_prepare() != nullptr);
  if (s.accepted_recorded) return;
  s.accepted_recorded = true;
  persist(AcceptedRecord{s.pre_prepare_message(), s.batch_message()});
}

bool binds_sender(const Message& message) {
  return std::holds_alternative<PrePrepare>(message) || std::holds_alternative<Prepare>(message) ||
         std::holds_alternative<Commit>(message) || std::holds_alternative<Checkpoint>(message) ||
         std::holds_alternative<ViewChange>(message) || std::holds_alternative<NewView>(message);
}

// ---------------------------------------------------------------------------
// The log's slots

namespace {
// The batch of the null request (O's filler for sequence numbers that no
// certificate in V covers): empty, executed as a no-op.
const std::vector<Request>& null_batch() {
  static const std::vector<Request> empty;
  return empty;
}
}  // namespace

void Slot::set_pre_prepare(std::shared_ptr<const Message> message) {
  accepted_recorded = false;
  PBFT_ASSERT(message != nullptr && std::holds_alternative<PrePrepare>(*message));
  pre_prepare_message_ = std::move(message);
  pre_prepare_ = &std::get<PrePrepare>(*pre_prepare_message_);
}

void Slot::set_batch(std::shared_ptr<const Message> message) {
  accepted_recorded = false;
  PBFT_ASSERT(message != nullptr && std::holds_alternative<PrePrepare>(*message));
  batch_message_ = std::move(message);
  batch_ = &std::get<PrePrepare>(*batch_message_).batch;
}

void Slot::set_null_batch() {
  accepted_recorded = false;
  batch_message_ = nullptr;
  batch_ = &null_batch();
}

void Slot::clear_pre_prepare() {
  accepted_recorded = false;
  pre_prepare_message_ = nullptr;
  pre_prepare_ = nullptr;
  batch_message_ = nullptr;
  batch_ = nullptr;
}

// ---------------------------------------------------------------------------
// Dispatch

void ReplicaState::step(const Message& message, std::shared_ptr<const Message> owned,
                        bool batch_checked, std::span<const Digest> request_digests,
                        bool view_change_contents_checked) {
  // A replica never sends itself anything: a message in its own name is a
  // replay of one it sent before (perhaps before it lost its state), and
  // must not count as a vote it makes now.
  if (sender_of(message) == Principal::replica(self_)) {
    counters.drop(DropReason::own_message);
    return;
  }
  // Pre-prepares and new views are kept whole (batches, certificates): the
  // caller's shared copy when it gave one, else a copy made here.
  auto keep = [&](const auto& m) {
    return owned != nullptr ? owned : std::make_shared<const Message>(m);
  };
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Request>) {
          on_request(m, request_digests.size() == 1 ? request_digests[0]
                                                    : request_digest(crypto_, m));
        } else if constexpr (std::is_same_v<T, PrePrepare>) {
          on_pre_prepare(keep(m), m, batch_checked, request_digests);
        } else if constexpr (std::is_same_v<T, Prepare>) {
          on_prepare(m);
        } else if constexpr (std::is_same_v<T, Commit>) {
          on_commit(m);
        } else if constexpr (std::is_same_v<T, Checkpoint>) {
          on_checkpoint(m);
        } else if constexpr (std::is_same_v<T, StatusMessage>) {
          on_status(m);
        } else if constexpr (std::is_same_v<T, Fetch>) {
          on_fetch(m);
        } else if constexpr (std::is_same_v<T, FetchReply>) {
          on_fetch_reply(m);
        } else if constexpr (std::is_same_v<T, ViewChange>) {
          on_view_change(m, view_change_contents_checked);
        } else if constexpr (std::is_same_v<T, NewView>) {
          on_new_view(keep(m), m);
        } else {
          counters.drop(DropReason::not_for_replicas);  // replies (the verifier rejects them)
        }
      },
      message);
}

void ReplicaState::tick() {
  ticks_++;
  fetches_answered_.clear();
  // STATUS goes out every status interval while this replica waits for
  // something (or recovers), and every few intervals regardless: a replica
  // that was cut off while the cluster went quiet learns from the others'
  // STATUS that it is behind (Castro's thesis, section 5.2).
  const uint64_t since_status = ticks_ - last_status_sent_tick_;
  const bool waiting_long =
      waiting() && ticks_ - last_progress_tick_ >= config_.status_interval_ticks;
  if ((since_status >= config_.status_interval_ticks &&
       (recovering_ || view_changing_ || waiting_long)) ||
      since_status >= idle_status_intervals * config_.status_interval_ticks) {
    on_status_timeout();
  }
  on_view_timer();
  check_unchecked_batches();
  if (transfer_) {
    on_fetch_timeout();
  } else {
    maybe_start_transfer();
  }
}

// ---------------------------------------------------------------------------
// Screening (Replica::screen): before a message's authentication is
// checked, the rules that need no cryptography. Each refusal here is one
// that step() would make too, now and from then on, so a host may screen a
// frame on arrival, before earlier frames are stepped.

std::optional<DropReason> ReplicaState::refuse(const Message& message) const {
  if (sender_of(message) == Principal::replica(self_)) return DropReason::own_message;
  return std::visit(
      [&](const auto& m) -> std::optional<DropReason> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, PrePrepare>) {
          // (Not the view: a pre-prepare of another view may still supply
          // a batch, and one of the next view may arrive before its NEW-VIEW.)
          if (m.sender != config_.primary(m.view)) return DropReason::pre_prepare_not_primary;
          if (m.seq <= low_watermark_) return DropReason::pre_prepare_outside_window;
        } else if constexpr (std::is_same_v<T, ViewChange>) {
          return refuse_view_change(m);
        } else if constexpr (std::is_same_v<T, NewView>) {
          return refuse_new_view(m);
        } else if constexpr (std::is_same_v<T, StatusMessage>) {
          return refuse_status(m);
        } else if constexpr (std::is_same_v<T, Fetch>) {
          return refuse_fetch(m);
        }
        return std::nullopt;
      },
      message);
}

Checks ReplicaState::checks_for(const Message& message) const {
  Checks checks;
  if (const auto* pp = std::get_if<PrePrepare>(&message)) {
    if (leaves_batch_unchecked(*pp)) {
      checks.requests = BatchRequests::unchecked;
      return checks;
    }
    // Requests this replica executed already: execution will skip them
    // (every correct replica executes the batch above what this one has
    // executed, so the client's last timestamp there is at least this
    // one's), and their tags are not worth a check.
    for (uint32_t i = 0; i < pp->batch.size(); i++) {
      const Request& r = pp->batch[i];
      const LastReply* last = last_reply(r.client);
      if (last != nullptr && r.timestamp <= last->timestamp) checks.executed_requests.push_back(i);
    }
  } else if (const auto* vc = std::get_if<ViewChange>(&message)) {
    checks.view_change_contents = needs_view_change_contents(*vc);
  }
  return checks;
}

// ---------------------------------------------------------------------------
// Client requests (section 4.1, 4.2)

void ReplicaState::on_request(const Request& request, const Digest& digest) {
  // Exactly-once: a request at or below the client's last executed timestamp
  // is not ordered again; the last one gets its cached reply re-sent.
  if (answer_executed(request)) return;
  if (auto it = ordered_.find(request.client);
      it != ordered_.end() && request.timestamp <= it->second) {
    counters.drop(DropReason::request_ordered);  // already in a batch; its reply will come
    if (request.timestamp == it->second) resent_[request.client] = request.timestamp;
    return;
  }
  const RequestQueue::Entry* held = pending_.find(request.client);
  if (held != nullptr && request.timestamp < held->request.timestamp) {
    counters.drop(DropReason::request_superseded);  // the client has moved on
    return;
  }
  // The primary's first copy comes from the client; any other copy means
  // the client has re-sent the request to every replica.
  if (!is_primary() ||
      (held != nullptr && held->request.timestamp == request.timestamp)) {
    resent_[request.client] = request.timestamp;
  }
  if (!is_primary()) {
    // A backup relays the request to the primary (the client sends to all
    // when it suspects the primary) and watches it. It relays one request at
    // most once per status interval, however many copies arrive: the copies
    // may be its peers' relays, and relaying every copy back and forth
    // between two replicas that disagree on the primary (one of them
    // Byzantine, or behind) multiplies with every duplicate the network adds.
    RequestQueue::Entry* pending = add_pending(request, digest);
    if (pending == nullptr || pending->request.timestamp != request.timestamp) return;
    if (pending->forwarded_tick &&
        ticks_ - *pending->forwarded_tick < config_.status_interval_ticks) {
      return;
    }
    pending->forwarded_tick = ticks_;
    send(Destination::replica(primary()), request);
    return;
  }
  add_pending(request, digest);
  maybe_send_pre_prepare();
}

RequestQueue::Entry* ReplicaState::add_pending(const Request& request, const Digest& digest) {
  const bool idle = !waiting();
  RequestQueue::Entry* entry = pending_.add(request, digest, ticks_);
  if (entry == nullptr) {
    counters.drop(DropReason::request_pending_full);
    return nullptr;
  }
  if (idle) last_progress_tick_ = ticks_;  // the wait starts now
  return entry;
}

// The primary assigns the next sequence number to a batch of pending
// requests while the window allows (liveness policy: batch as much as has
// arrived; wait for more only while an earlier batch is in flight, whose
// execution calls this again).
void ReplicaState::maybe_send_pre_prepare() {
  if (!is_primary() || view_changing_ || silent() || transfer_) return;
  // When a batch starts and what it holds is the queue's batching policy;
  // the window is the protocol's. (The primary never executes past what it
  // assigned, so the difference is the batches in flight.)
  while (pending_.starts_batch(last_assigned_ - last_executed_) &&
         last_assigned_ + 1 <= high_watermark()) {
    RequestQueue::Batch batch = pending_.take_batch();
    PBFT_ASSERT(!batch.requests.empty());
    // Not to be ordered again while the batch has not executed (on_request).
    for (const Request& request : batch.requests) {
      ordered_[request.client] = std::max(ordered_[request.client], request.timestamp);
    }

    PrePrepare pp;
    pp.view = view_;
    pp.seq = ++last_assigned_;
    pp.digest = batch_digest_of(crypto_, batch.digests);
    pp.batch = std::move(batch.requests);
    authenticate(pp);
    auto message = std::make_shared<const Message>(std::move(pp));
    Slot& s = slot(std::get<PrePrepare>(*message).seq);
    s.set_pre_prepare(message);
    s.set_batch(message);
    send_binding(message);
    s.accepted_recorded = true;  // its record carries the batch
    check_prepared(s.pre_prepare()->seq, s);
  }
}

// ---------------------------------------------------------------------------
// Pre-prepare (section 4.2): a backup accepts PRE-PREPARE(v, s, d) if it is
// authentic (the verifier), it is in view v and not changing views, it has
// accepted no other pre-prepare for (v, s) with another digest, h < s <= H,
// the digest matches the batch and every request is authentic (verifier).
//
// A slot that a NEW-VIEW assigned may lack its batch: any PRE-PREPARE, of
// any view, whose batch has the slot's digest supplies it.

void ReplicaState::on_pre_prepare(const std::shared_ptr<const Message>& message,
                                  const PrePrepare& pp, bool batch_checked,
                                  std::span<const Digest> request_digests) {
  if (pp.sender != config_.primary(pp.view) || pp.sender == self_) {
    counters.drop(DropReason::pre_prepare_not_primary);  // only the view's primary pre-prepares
    return;
  }
  if (auto it = log_.find(pp.seq); it != log_.end() && it->second.batch() == nullptr &&
                                   it->second.pre_prepare() != nullptr &&
                                   it->second.pre_prepare()->digest == pp.digest) {
    Slot& s = it->second;
    if (!adopt_batch(s, message, pp)) {
      counters.drop(DropReason::pre_prepare_batch_mismatch);  // the batch does not have the digest
      return;
    }
    counters.batches_adopted++;
    // The same view's pre-prepare with its batch: relay it whole from now on.
    // (Another view's only supplies the batch: the slot stays in its view.)
    if (pp.view == s.pre_prepare()->view) {
      s.set_pre_prepare(message);
    }
    execute_committed();
    return;
  }
  if (pp.view != view_ || view_changing_) {
    counters.drop(DropReason::pre_prepare_wrong_view);
    return;
  }
  saw(pp.sender, pp.seq);
  if (!in_window(pp.seq)) {
    counters.drop(DropReason::pre_prepare_outside_window);
    return;
  }
  if (auto it = log_.find(pp.seq); it != log_.end() && it->second.pre_prepare() != nullptr) {
    if (it->second.pre_prepare()->digest != pp.digest) {
      counters.drop(DropReason::pre_prepare_equivocation);  // equivocation: keep the first
    } else {
      counters.drop(DropReason::pre_prepare_duplicate);
    }
    return;
  }
  // The verifier's request digests (it hashes every batch it sees), else hashed here.
  const Digest digest = request_digests.size() == pp.batch.size() && !pp.batch.empty()
                            ? batch_digest_of(crypto_, request_digests)
                            : batch_digest(crypto_, pp.batch);
  if (digest != pp.digest && !PBFT_MUTANT(skip_digest_check)) {
    counters.drop(DropReason::pre_prepare_bad_digest);
    return;
  }
  if (pp.seq <= last_executed_) {
    counters.drop(DropReason::pre_prepare_executed);  // executed already (retransmission)
    return;
  }

  Slot& s = slot(pp.seq);
  s.set_pre_prepare(message);
  s.set_batch(message);
  if (!waiting()) last_progress_tick_ = ticks_;
  if (!batch_checked) {
    // Its prepare would vouch for requests it did not check: wait for the
    // others' certificate (or check them later: check_unchecked_batches).
    s.batch_unchecked = true;
    s.unchecked_since_tick = ticks_;
    counters.batches_left_unchecked++;
    check_prepared(pp.seq, s);
    return;
  }
  if (silent()) {
    check_prepared(pp.seq, s);  // on the others' prepares only
    return;
  }

  send_prepare(pp.seq, s);
  check_prepared(pp.seq, s);
}

// PREPARE(v, s, d, i) for the logged pre-prepare, multicast and logged.
void ReplicaState::send_prepare(Seq seq, Slot& s) {
  PBFT_ASSERT(!view_changing_ && s.pre_prepare()->view == view_);  // votes are for this view
  Prepare prepare;
  prepare.view = view_;
  prepare.seq = seq;
  prepare.digest = s.pre_prepare()->digest;
  authenticate(prepare);
  s.prepares.insert_or_assign(self_, prepare);
  s.own_prepare = std::make_shared<const Message>(std::move(prepare));
  persist_accepted(s);  // what it votes for, batch included: it may have to execute it
  if (PBFT_MUTANT(send_before_persist)) {
    send_shared(Destination::all_replicas(), s.own_prepare);
    effects.list.emplace_back(Persist{{SentRecord{s.own_prepare}}, true});
    return;
  }
  send_binding(s.own_prepare);
}

// COMMIT(v, s, d, i) for a prepared slot, multicast and logged.
void ReplicaState::send_commit(Seq seq, Slot& s) {
  PBFT_ASSERT(!view_changing_ && s.pre_prepare()->view == view_);  // votes are for this view
  Commit commit;
  commit.view = view_;
  commit.seq = seq;
  commit.digest = s.pre_prepare()->digest;
  authenticate(commit);
  s.commits.insert_or_assign(self_, commit.digest);
  s.own_commit = std::make_shared<const Message>(std::move(commit));
  // Its certificate, which its VIEW-CHANGEs must report from now on, and
  // the batch (a restarted replica that committed can execute it).
  persist_accepted(s);
  persist(PreparedRecord{*certificate_of(s)});
  send_binding(s.own_commit);
}

// ---------------------------------------------------------------------------
// Prepare: accepted in the current view, within the watermarks, from a
// backup of that view; prepared(m, v, s, i) once the log holds the
// pre-prepare and 2f matching prepares from distinct backups.

void ReplicaState::on_prepare(const Prepare& prepare) {
  if (prepare.view == view_) saw(prepare.sender, prepare.seq);
  // Slots this replica executed still take votes in a new view (the others
  // may need its commit); otherwise an executed sequence number is done.
  if (prepare.view != view_ || view_changing_) {
    counters.drop(DropReason::prepare_wrong_view);
    return;
  }
  if (!in_window(prepare.seq) || (prepare.seq <= last_executed_ && !log_.contains(prepare.seq))) {
    counters.drop(DropReason::prepare_outside_window);
    return;
  }
  if (prepare.sender == config_.primary(prepare.view)) {
    // The primary's pre-prepare stands for its prepare.
    counters.drop(DropReason::prepare_from_primary);
    return;
  }
  Seq& voted = last_prepare_from_[prepare.sender];
  voted = std::max(voted, prepare.seq);
  Slot& s = slot(prepare.seq);
  if (!s.prepares.emplace(prepare.sender, prepare).second) {
    counters.drop(DropReason::prepare_duplicate);  // one prepare per sender and slot
    return;
  }
  check_prepared(prepare.seq, s);
}

bool ReplicaState::wants(const Message& message) const {
  const auto* prepare = std::get_if<Prepare>(&message);
  const auto* commit = std::get_if<Commit>(&message);
  if (prepare == nullptr && commit == nullptr) return true;
  const View v = prepare != nullptr ? prepare->view : commit->view;
  const Seq seq = prepare != nullptr ? prepare->seq : commit->seq;
  // Slots belong to the current view: done there means done for good (a
  // later view ignores this message's view anyway).
  if (v != view_ || view_changing_) return true;
  auto it = log_.find(seq);
  if (it == log_.end()) return true;
  if (commit != nullptr) return !it->second.committed;
  if (!it->second.prepared) return true;
  // A prepare for a slot already prepared changes nothing there, but it is
  // also how this replica learns who is voting (leaves_batch_unchecked
  // counts checked prepares only). Were every late prepare skipped, a
  // backup whose prepares always arrive second would never count as voting
  // with a fixed arrival order, and nobody would leave batches to it: so
  // one prepare per sender per half horizon is wanted anyway.
  auto voted = last_prepare_from_.find(prepare->sender);
  return voted == last_prepare_from_.end() ||
         voted->second + unchecked_batch_horizon() / 2 < prepare->seq;
}

bool ReplicaState::signed_by_its_sender(const Prepare& prepare) const {
  return crypto_.verify(Principal::replica(prepare.sender), wire::auth_payload(prepare),
                        prepare.signature);
}

void ReplicaState::keep_unchecked(Prepare&& prepare) {
  if (prepare.view != view_ || view_changing_ || prepare.sender >= config_.n ||
      prepare.sender == self_ || prepare.sender == config_.primary(view_)) {
    return;
  }
  auto it = log_.find(prepare.seq);
  if (it == log_.end() || !it->second.prepared) return;
  Slot& s = it->second;
  if (s.prepares.contains(prepare.sender)) return;
  auto [held, inserted] = s.unchecked_prepares.try_emplace(prepare.sender, std::move(prepare));
  if (inserted) return;
  // A second one from the same sender: one of the two is forged (anyone
  // may send bytes in a replica's name), and keeping the first blindly
  // would let a forgery shut the real one out. Check the one held: a good
  // one is a checked prepare from now on, a forged one gives way.
  const Prepare& p = held->second;
  if (signed_by_its_sender(p)) {
    s.prepares.emplace(p.sender, p);
    s.unchecked_prepares.erase(held);
  } else {
    counters.unchecked_prepares_forged++;
    held->second = std::move(prepare);
  }
}

// Checking each signed request costs an Ed25519 verification at every
// replica. A prepared certificate (the pre-prepare and 2f prepares: 2f+1
// replicas, at most f of them faulty) already shows that f+1 correct
// replicas checked every request of the batch, so f backups per sequence
// number (rotating) may leave them unchecked: they send no prepare and
// commit on the others' certificate. They do so only while every backup
// the certificate needs is voting (else it would wait for them), and check
// the batch themselves when the certificate is late. With MACs the checks
// are cheap (and the big-MAC attack wants each replica to check its own).
bool ReplicaState::leaves_batch_unchecked(const PrePrepare& pp) const {
  if (config_.client_auth != RequestAuth::signature || pp.batch.empty()) return false;
  if (pp.view != view_ || view_changing_ || recovering_ || is_primary() ||
      pp.sender != config_.primary(view_) || !in_window(pp.seq) || pp.seq <= last_executed_) {
    return false;
  }
  // No late certificate lately: a faulty backup that withholds its vote on
  // someone's turn pauses the skipping, for longer each time.
  if (pp.seq < skipping_resumes_at_) return false;
  const uint32_t backups = config_.n - 1;
  const ReplicaId primary = config_.primary(view_);
  // The backups' turns: backup k (counted from the primary) skips s when
  // (k - s) mod (n - 1) < f.
  const auto skips = [&](ReplicaId r, Seq seq) {
    const uint64_t k = (r + config_.n - primary - 1) % config_.n;
    return (k + backups - seq % backups) % backups < config_.f;
  };
  if (!skips(self_, pp.seq)) return false;
  // Every backup whose prepare the certificate needs voted lately: at its
  // previous turns its prepares were needed, hence checked (prepares kept
  // unchecked do not count: anyone can send bytes in a replica's name).
  const Seq lately = unchecked_batch_horizon();
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (r == primary || skips(r, pp.seq)) continue;
    auto it = last_prepare_from_.find(r);
    if (it == last_prepare_from_.end() || it->second + lately < pp.seq) return false;
  }
  return true;
}

void ReplicaState::check_unchecked_batches() {
  if (config_.client_auth != RequestAuth::signature || view_changing_) return;
  // Checked well before the view-change timer could give up on the slot.
  const uint64_t wait =
      std::max<uint64_t>(1, std::min(config_.status_interval_ticks,
                                     config_.view_change_timeout_ticks / 2));
  std::vector<Seq> late;
  for (const auto& [seq, s] : log_) {
    if (s.batch_unchecked && !s.prepared && ticks_ - s.unchecked_since_tick >= wait) {
      late.push_back(seq);
    }
  }
  for (const Seq seq : late) {
    auto it = log_.find(seq);
    if (it == log_.end() || !it->second.batch_unchecked || view_changing_) continue;
    Slot& s = it->second;
    s.batch_unchecked = false;
    counters.batches_checked_late++;
    skipping_resumes_at_ = std::max(skipping_resumes_at_, seq + skipping_pause_);
    skipping_pause_ = std::min(2 * skipping_pause_, skipping_pause_max * unchecked_batch_horizon());
    if (auto status = verifier_.verify_batch(*s.pre_prepare()); !status) {
      // A faulty primary's batch: as if its pre-prepare had been refused.
      counters.drop(DropReason::pre_prepare_bad_request);
      s.clear_pre_prepare();
      continue;
    }
    if (!silent() && s.pre_prepare()->view == view_) send_prepare(seq, s);
    check_prepared(seq, s);
  }
}

void ReplicaState::check_prepared(Seq seq, Slot& s) {
  if (s.prepared || s.pre_prepare() == nullptr) return;
  const Digest& d = s.pre_prepare()->digest;
  const uint32_t matching = static_cast<uint32_t>(std::count_if(
      s.prepares.begin(), s.prepares.end(), [&](const auto& p) { return p.second.digest == d; }));
  if (matching + 1 < quorum()) return;  // the pre-prepare and 2f prepares

  s.prepared = true;
  if (s.batch_unchecked) {  // 2f+1 replicas vouch for it, f+1 of them correct
    s.batch_unchecked = false;
    skipping_pause_ = std::max(unchecked_batch_horizon(), skipping_pause_ / 2);  // on time
  }
  if (PBFT_MUTANT(execute_on_prepared)) {
    s.committed = true;
    execute_committed();
  }
  if (silent()) {
    check_committed(s);  // on the others' commits only
    return;
  }
  send_commit(seq, s);
  check_committed(s);
}

// ---------------------------------------------------------------------------
// Commit: accepted in the current view within the watermarks;
// committed-local(m, v, s, i) once prepared and 2f+1 matching commits (its
// own included) are in the log.

void ReplicaState::on_commit(const Commit& commit) {
  if (commit.view == view_) saw(commit.sender, commit.seq);
  if (commit.view != view_ || view_changing_) {
    counters.drop(DropReason::commit_wrong_view);
    return;
  }
  if (!in_window(commit.seq) || (commit.seq <= last_executed_ && !log_.contains(commit.seq))) {
    counters.drop(DropReason::commit_outside_window);
    return;
  }
  Slot& s = slot(commit.seq);
  if (!s.commits.emplace(commit.sender, commit.digest).second) {
    counters.drop(DropReason::commit_duplicate);
    return;
  }
  check_committed(s);
}

void ReplicaState::check_committed(Slot& s) {
  if (s.committed || !s.prepared) return;
  const Digest& d = s.pre_prepare()->digest;
  const uint32_t matching = static_cast<uint32_t>(std::count_if(
      s.commits.begin(), s.commits.end(), [&](const auto& c) { return c.second == d; }));
  if (matching < quorum()) return;
  s.committed = true;
  execute_committed();
}

// ---------------------------------------------------------------------------
// Execution: batch s runs once committed-local and every batch below it has
// run. For each request with t above the client's last executed t: execute,
// store the reply, send it. An old t gets the cached reply (t equal) or nothing.

void ReplicaState::execute_committed() {
  if (transfer_) return;  // the state is being replaced
  for (;;) {
    auto it = log_.find(last_executed_ + 1);
    if (it == log_.end() || !it->second.committed || it->second.batch() == nullptr) break;
    execute(it->first, it->second);
  }
  maybe_send_pre_prepare();
}

void ReplicaState::execute(Seq seq, Slot& s, std::optional<View> committed_in) {
  PBFT_ASSERT(seq == last_executed_ + 1);
  PBFT_ASSERT(s.committed && s.pre_prepare() != nullptr && s.batch() != nullptr);
  const std::vector<Request>& batch = *s.batch();

  // The view in which the batch committed (a replica may execute it later,
  // during a view change or after waiting for its batch; a restart replays
  // it with the view it recorded).
  Executed executed{seq, committed_in.value_or(s.pre_prepare()->view), s.pre_prepare()->digest,
                    {}};
  executed.requests.reserve(batch.size());

  // Decide freshness in batch order: a client may appear twice in one batch.
  std::vector<Operation> operations;
  std::vector<size_t> fresh_index;
  std::unordered_map<ClientId, Timestamp> batch_last;  // within this batch
  for (size_t i = 0; i < batch.size(); i++) {
    const Request& r = batch[i];
    Timestamp last = 0;
    if (auto b = batch_last.find(r.client);
        b != batch_last.end() && !PBFT_MUTANT(fresh_ignores_batch)) {
      last = b->second;
    } else if (const LastReply* l = last_reply(r.client)) {
      last = l->timestamp;
    }
    const bool fresh = PBFT_MUTANT(fresh_at_equal_timestamp) ? r.timestamp >= last
                                                             : r.timestamp > last;
    executed.requests.push_back({r.client, r.timestamp, fresh});
    if (!fresh) continue;
    batch_last[r.client] = r.timestamp;
    operations.push_back({r.client, r.timestamp, r.operation});
    fresh_index.push_back(i);
  }

  std::vector<Bytes> results;
  if (!operations.empty()) {
    service_.execute(seq, operations, results);
    PBFT_ASSERT(results.size() == operations.size());
  }

  for (size_t k = 0; k < fresh_index.size(); k++) {
    const Request& r = batch[fresh_index[k]];
    LastReply& last =
        replies_.mutate(r.client % constants::reply_partitions)[r.client];
    last = LastReply{r.timestamp, std::move(results[k])};
    send_reply(r.client, last, reply_form(r, last.result));
  }
  // Requests with an old timestamp that equals the last executed one get the
  // cached reply (the client may have missed it).
  for (const ExecutedRequest& e : executed.requests) {
    if (e.fresh) continue;
    const LastReply* last = last_reply(e.client);
    if (last != nullptr && last->timestamp == e.timestamp) send_reply(e.client, *last);
  }
  for (const Request& r : batch) {
    pending_.remove(r.client, r.timestamp);
    if (auto it = resent_.find(r.client); it != resent_.end() && it->second <= r.timestamp) {
      resent_.erase(it);
    }
    if (auto o = ordered_.find(r.client); o != ordered_.end() && o->second <= r.timestamp) {
      ordered_.erase(o);
    }
  }

  last_executed_ = seq;
  last_progress_tick_ = ticks_;
  if (!view_changing_) {
    // The view makes progress (view_timer.h); it works once requests execute.
    view_timer_.restart(ticks_);
    if (!operations.empty()) {
      view_timer_.reset_backoff();
      executed_in_view_ = true;
      primary_monitor_.executed(operations.size());
    }
  }
  // Not synced for its own sake (durable.h, needs_sync): a replica that
  // loses it executes the batch again, from its certificate.
  persist_accepted(s);
  persist(ExecutedRecord{seq, executed.view, s.pre_prepare()->digest});
  counters.batches_executed++;
  counters.requests_executed += operations.size();
  effects.list.emplace_back(std::move(executed));
  if (seq % config_.checkpoint_interval == 0) take_checkpoint(seq);
  check_recovered();
}

const LastReply* ReplicaState::last_reply(ClientId client) const {
  const ReplyPartition& partition = replies_.get(client % constants::reply_partitions);
  auto it = partition.find(client);
  return it == partition.end() ? nullptr : &it->second;
}

ReplicaState::ReplyForm ReplicaState::reply_form(const Request& request,
                                                 const Bytes& result) const {
  const bool replier = request.replier == self_ || request.replier >= config_.n;
  auto resent = resent_.find(request.client);
  const bool re_sent = resent != resent_.end() && resent->second == request.timestamp;
  return replier || re_sent || result.size() <= digest_size ? ReplyForm::full
                                                            : ReplyForm::digest;
}

// REPLY(v, t, c, i, r), MAC'd for the client; built on each send since the
// view and the MAC are this replica's, not part of the checkpointed state.
void ReplicaState::send_reply(ClientId client, const LastReply& last, ReplyForm form) {
  Reply reply;
  reply.view = view_;
  reply.timestamp = last.timestamp;
  reply.client = client;
  reply.sender = self_;
  reply.full = form == ReplyForm::full;
  if (reply.full) {
    reply.result = last.result;
  } else {
    reply.result_digest = crypto_.digest(last.result);
  }
  authenticate(reply);
  send(Destination::client(client), std::move(reply));
}

bool ReplicaState::answer_executed(const Request& request) {
  const LastReply* last = last_reply(request.client);
  if (last == nullptr || request.timestamp > last->timestamp) return false;
  auto [it, first] = reply_resent_.try_emplace(request.client);
  if (!first && it->second.last == last->timestamp &&
      ticks_ - it->second.tick < config_.status_interval_ticks) {
    counters.drop(DropReason::reply_rate_limited);
    return true;
  }
  it->second = ReplyResent{last->timestamp, ticks_};
  if (request.timestamp < last->timestamp) {
    counters.drop(DropReason::request_old);
    // It will never execute (it did before the last one, or never): say
    // so, rather than leave the client to time out forever (a client whose
    // clock went back; Client acts on f+1 of these).
    send_stale_reply(request, last->timestamp);
  } else {
    send_reply(request.client, *last);
  }
  return true;
}

// REPLY(v, t, c, i) marked stale, with the client's last executed timestamp
// here: not part of the checkpointed state, and MAC'd like any reply.
void ReplicaState::send_stale_reply(const Request& request, Timestamp executed) {
  Reply reply;
  reply.view = view_;
  reply.timestamp = request.timestamp;
  reply.client = request.client;
  reply.full = false;
  reply.stale = true;
  reply.executed_timestamp = executed;
  authenticate(reply);
  send(Destination::client(request.client), std::move(reply));
}

// ---------------------------------------------------------------------------
// Retransmission (Castro's thesis, section 5.2). A replica that has work
// outstanding (unexecuted slots or pending requests) and has made no
// progress for a status interval multicasts STATUS; a peer answers with what
// it holds above the sender's last executed sequence number: the primary's
// pre-prepare and the prepares it has (signed: relaying them is safe) and its
// own commit. Answers are rate-limited per peer.

bool ReplicaState::waiting() const {
  return !pending_.empty() || (!log_.empty() && log_.rbegin()->first > last_executed_) ||
         behind();
}

void ReplicaState::saw(ReplicaId sender, Seq s) {
  Seq& highest = highest_seen_[sender];
  highest = std::max(highest, s);
}

bool ReplicaState::behind() const {
  // f+1 replicas past us: at least one of them is correct.
  const auto ahead = std::count_if(highest_seen_.begin(), highest_seen_.end(),
                                   [&](const auto& seen) { return seen.second > last_executed_; });
  return static_cast<uint32_t>(ahead) >= config_.weak_quorum();
}

void ReplicaState::on_status_timeout() {
  last_status_sent_tick_ = ticks_;
  StatusMessage status;
  status.view = view_;
  status.last_executed = last_executed_;
  status.last_stable = low_watermark_;
  status.recovering = recovering_;
  status.view_changing = view_changing_;
  status.nonce = recovering_ ? recovery_nonce_ : 0;
  status.counter = next_freshness_counter();
  authenticate(status);
  send(Destination::all_replicas(), std::move(status));
}

// Freshness: a STATUS is taken only if its counter is above the last one
// taken from its sender, so a STATUS replayed (by the network, or by a
// replica that received it: its authenticator holds every replica's MAC)
// is refused before its MACs are checked, and answers nothing: it neither
// makes this replica re-send its log nor uses up the sender's rate limit.
std::optional<DropReason> ReplicaState::refuse_status(const StatusMessage& status) const {
  if (status.sender == self_) return DropReason::own_message;
  auto it = status_counters_.find(status.sender);
  if (it != status_counters_.end() && status.counter <= it->second) {
    return DropReason::status_replayed;
  }
  return std::nullopt;
}

void ReplicaState::on_status(const StatusMessage& status) {
  if (auto reason = refuse_status(status)) {
    counters.drop(*reason);
    return;
  }
  status_counters_[status.sender] = status.counter;
  saw(status.sender, status.last_executed);
  // Only answers to this incarnation's question count: a STATUS the peer
  // sent before this replica lost its state might predate its old votes.
  if (recovering_ && !status.recovering && status.nonce == recovery_nonce_) {
    recovery_reports_[status.sender] = status.last_executed;
    check_recovered();
  }
  // Rate limit: at most one answer per peer per status interval, so a faulty
  // peer cannot make this replica flood.
  auto [answered, first] = last_status_answered_tick_.try_emplace(status.sender, ticks_);
  if (!first) {
    if (ticks_ - answered->second < config_.status_interval_ticks) {
      counters.drop(DropReason::status_too_soon);
      return;
    }
    answered->second = ticks_;
  }

  const Destination to = Destination::replica(status.sender);
  if (answer_view_status(status)) retransmit_slots(status);
  // Checkpoints the peer may have missed: the proof of our stable one (for a
  // peer behind it, the start of a state transfer), and our own CHECKPOINT
  // for each newer one, so that it can move its watermarks.
  if (status.last_executed < low_watermark_ || status.last_stable < low_watermark_) {
    for (const Checkpoint& c : stable_proof_) {
      if (c.sender != status.sender) send(to, c);
    }
  }
  for (const auto& [seq, own] : own_checkpoints_) {
    if (seq > status.last_stable && own.message != nullptr) send_shared(to, own.message);
  }
  // A recovering peer needs to know how far this replica got.
  if (status.recovering && !recovering_) {
    StatusMessage mine;
    mine.view = view_;
    mine.view_changing = view_changing_;
    mine.last_executed = last_executed_;
    mine.last_stable = low_watermark_;
    mine.nonce = status.nonce;
    mine.counter = next_freshness_counter();
    authenticate(mine);
    send(to, std::move(mine));
  }
}

// The log above a peer's last executed sequence number, for a peer in this
// view: pre-prepares (or, for a slot whose NEW-VIEW pre-prepare came
// without its batch, a PRE-PREPARE that carries it), prepares and commits.
// Prepares kept unchecked (keep_unchecked) are worth their signature check
// only now: a peer that lags may need them (their sender may be down). Good
// ones join the slot's prepares; forged ones go.
void ReplicaState::check_unchecked_prepares(Slot& s, ReplicaId peer) {
  for (auto it = s.unchecked_prepares.begin(); it != s.unchecked_prepares.end();) {
    const Prepare& p = it->second;
    if (p.sender == peer) {
      ++it;
      continue;
    }
    if (signed_by_its_sender(p)) {
      s.prepares.emplace(p.sender, p);
    } else {
      counters.unchecked_prepares_forged++;
    }
    it = s.unchecked_prepares.erase(it);
  }
}

void ReplicaState::retransmit_slots(const StatusMessage& status) {
  const Destination to = Destination::replica(status.sender);
  prepares_for_peer_commits(status);
  // Only slots inside the peer's window are any use to it (a peer far
  // behind catches up by state transfer instead).
  // (Clamped first: the peer's numbers may be anything, and must not wrap.)
  const Seq from = std::min(std::max(status.last_executed, low_watermark_), high_watermark()) + 1;
  const Seq peer_high = std::min(status.last_stable, high_watermark()) + config_.log_window;
  const Seq to_seq = std::min(from + constants::retransmit_seqs_max, peer_high + 1);
  for (auto it = log_.lower_bound(from); it != log_.end() && it->first < to_seq; ++it) {
    Slot& s = it->second;
    // A slot younger than a status interval is most likely still on its way
    // to the peer, or in its disk's queue: the peer asked because it waited
    // a status interval for something older. Re-sending the young ones too
    // (full batches) cost a backup ~15% more bytes received per operation at
    // 4 KiB requests, every idle STATUS re-sending the whole pipeline. If
    // one was lost after all, the peer's next STATUS gets it.
    if (ticks_ - s.created_tick < config_.status_interval_ticks) continue;
    if (s.pre_prepare_message() != nullptr) {
      send_shared(to, s.pre_prepare_message());
      counters.retransmissions++;
    }
    if (s.batch_message() != nullptr && s.batch_message() != s.pre_prepare_message()) {
      send_shared(to, s.batch_message());
      counters.retransmissions++;
    }
    relay_prepares(s, status.sender, nullptr);
    if (s.own_commit != nullptr) {
      send_shared(to, s.own_commit);
      counters.retransmissions++;
    }
  }
}

// A peer ahead of this replica executed slots that this replica still
// waits on, and only the peer's COMMIT in this view is missing here. Having
// executed them, the peer asks nobody for their votes (its STATUS asks from
// its last executed sequence number on), yet in a new view it commits them
// again only once prepared there: one PREPARE it lost (say, one that came
// before the NEW-VIEW) and it never does. When this replica's quorum needs
// that commit (with f replicas down, it needs every other one), it would
// wait forever. So it sends the peer the prepares it holds for those slots:
// signed messages, safe to relay; the peer's own rules decide whether it
// prepares and commits.
void ReplicaState::prepares_for_peer_commits(const StatusMessage& status) {
  if (status.recovering) return;  // silent: it sends no commit anyway
  // Slots the peer discarded (at or below its stable checkpoint) take no votes there.
  const Seq from = std::max({last_executed_, low_watermark_, status.last_stable}) + 1;
  if (from > high_watermark()) return;  // (also keeps the peer's numbers from wrapping)
  const Seq to_seq = std::min({status.last_executed, high_watermark(),
                               from + constants::retransmit_seqs_max - 1});
  for (auto it = log_.lower_bound(from); it != log_.end() && it->first <= to_seq; ++it) {
    Slot& s = it->second;
    if (s.committed || s.pre_prepare() == nullptr || s.pre_prepare()->view != view_ ||
        s.commits.contains(status.sender)) {
      continue;
    }
    relay_prepares(s, status.sender, &s.pre_prepare()->digest);
  }
}

// The prepares a slot holds, to `peer` (not its own back to it): those for
// `digest` only, or all of them (nullptr). Unchecked ones are checked first.
void ReplicaState::relay_prepares(Slot& s, ReplicaId peer, const Digest* digest) {
  const Destination to = Destination::replica(peer);
  check_unchecked_prepares(s, peer);
  for (const auto& [sender, prepare] : s.prepares) {
    if (sender == peer || (digest != nullptr && prepare.digest != *digest)) continue;
    if (sender == self_ && s.own_prepare != nullptr) {
      send_shared(to, s.own_prepare);
    } else {
      send(to, prepare);
    }
    counters.retransmissions++;
  }
}

// ---------------------------------------------------------------------------
// Public face

Result<std::unique_ptr<Replica>> Replica::create(const ProtocolConfig& config, ReplicaId self,
                                                 const Crypto& crypto, Service& service,
                                                 ReplicaOptions options) {
  if (auto s = config.validate(); !s) return s;
  if (self >= config.n) return Status::error("replica id out of range");
  if (crypto.self() != Principal::replica(self)) {
    return Status::error("crypto belongs to another principal");
  }
  if (service.partition_count() < 1) return Status::error("the service has no partitions");
  if (options.recovering && options.recovery_nonce == 0) {
    return Status::error("a recovering replica needs a nonzero recovery_nonce");
  }
  if (options.recovering && options.restore != nullptr && !options.restore->empty()) {
    return Status::error("a replica restores its persisted state or recovers, not both");
  }
  auto state = std::make_unique<ReplicaState>(config, self, crypto, service, options);
  if (options.restore != nullptr) {
    if (Status s = state->restore(*options.restore); !s) return s;
  }
  return std::unique_ptr<Replica>(new Replica(std::move(state)));
}

namespace {

// The encoded size of the largest VIEW-CHANGE a correct replica sends: its
// fixed fields, 2f+1 CHECKPOINTs and L certificates of a pre-prepare
// (without its batch) and 2f prepares. Each element encodes to a fixed
// size, so the size is linear in their counts; measured on encodings of one
// of each rather than written down, so it follows the codec.
size_t view_change_bytes_max(const ProtocolConfig& config) {
  ViewChange vc;
  const size_t empty = wire::encode(Message{vc}).size();
  vc.checkpoint_proof.emplace_back();
  const size_t one_checkpoint = wire::encode(Message{vc}).size() - empty;
  vc.checkpoint_proof.clear();
  PreparedCertificate certificate;
  certificate.prepares.resize(2 * static_cast<size_t>(config.f));
  vc.prepared.push_back(certificate);
  const size_t one_certificate = wire::encode(Message{vc}).size() - empty;
  return empty + config.quorum() * one_checkpoint + config.log_window * one_certificate;
}

}  // namespace

Replica::Replica(std::unique_ptr<ReplicaState> state)
    : state_(std::move(state)), view_change_bytes_max_(view_change_bytes_max(state_->config_)) {}

bool Replica::refuse_size(MessageType type, size_t frame_bytes) {
  if (type == MessageType::view_change && frame_bytes > view_change_bytes_max_) {
    state_->counters.drop(DropReason::view_change_oversized);
    return true;
  }
  return false;
}
Replica::~Replica() = default;

void Replica::step(const Verified& message) {
  state_->step(message.message(), nullptr, message.batch_checked(), message.request_digests(),
               message.view_change_contents_checked());
}
void Replica::step(Verified&& message) {
  const bool batch_checked = message.batch_checked();
  const bool contents_checked = message.view_change_contents_checked();
  const std::vector<Digest>& digests = message.request_digests();  // take() leaves them
  auto owned = std::make_shared<const Message>(std::move(message).take());
  state_->step(*owned, owned, batch_checked, digests, contents_checked);
}
bool Replica::leaves_batch_unchecked(const Message& message) const {
  const auto* pp = std::get_if<PrePrepare>(&message);
  return pp != nullptr && state_->leaves_batch_unchecked(*pp);
}
bool Replica::screens(MessageType type) const {
  switch (type) {
    case MessageType::prepare:
    case MessageType::commit:
    case MessageType::view_change:
    case MessageType::new_view:
    case MessageType::status:
    case MessageType::fetch:
    // An executed request is answered from the last-reply table, unverified.
    case MessageType::request:
      return true;
    case MessageType::pre_prepare:
      // With MACs a batch's requests cost little to check, and decoding
      // every batch on the host's loop would cost more than it saves.
      return state_->config_.client_auth == RequestAuth::signature;
    default:
      return false;
  }
}
Replica::Screening Replica::screen(Message& message) {
  if (const auto* request = std::get_if<Request>(&message)) {
    // At or below its client's last executed timestamp: answered from the
    // last-reply table (rate-limited) without a signature check, as the
    // verified path would answer it.
    if (state_->answer_executed(*request)) return Screening{.taken = true, .checks = {}};
    return Screening{};
  }
  if (std::optional<DropReason> reason = state_->refuse(message)) {
    state_->counters.drop(*reason);
    return Screening{.taken = true, .checks = {}};
  }
  if (!wants(message)) {
    keep_unchecked(std::move(message));
    return Screening{.taken = true, .checks = {}};
  }
  return Screening{.checks = state_->checks_for(message)};
}
bool Replica::wants(const Message& message) const { return state_->wants(message); }
void Replica::keep_unchecked(Message&& message) {
  if (auto* prepare = std::get_if<Prepare>(&message)) state_->keep_unchecked(std::move(*prepare));
}
void Replica::tick() { state_->tick(); }
Effects Replica::take_effects() { return std::exchange(state_->effects, Effects{}); }

ReplicaId Replica::id() const { return state_->self_; }
View Replica::view() const { return state_->view_; }
bool Replica::view_changing() const { return state_->view_changing_; }
Seq Replica::last_executed() const { return state_->last_executed_; }
Seq Replica::low_watermark() const { return state_->low_watermark_; }
Seq Replica::high_watermark() const { return state_->high_watermark(); }
bool Replica::is_primary() const { return state_->is_primary(); }
size_t Replica::log_size() const { return state_->log_.size(); }
size_t Replica::pending_requests() const { return state_->pending_.size(); }
size_t Replica::checkpoints_held() const { return state_->own_checkpoints_.size(); }
std::optional<std::pair<Seq, Seq>> Replica::log_range() const {
  if (state_->log_.empty()) return std::nullopt;
  return std::pair{state_->log_.begin()->first, state_->log_.rbegin()->first};
}
size_t Replica::view_changes_held() const { return state_->view_changes_.size(); }
size_t Replica::checkpoint_claims_held() const {
  size_t held = 0;
  for (const auto& [replica, claims] : state_->claims_) held += claims.size();
  return held;
}
bool Replica::recovering() const { return state_->recovering_; }
bool Replica::transferring() const { return state_->transfer_.has_value(); }
std::optional<Seq> Replica::transfer_target() const {
  if (!state_->transfer_) return std::nullopt;
  return state_->transfer_->target;
}
const ReplicaCounters& Replica::counters() const { return state_->counters; }

}  // namespace pbft
