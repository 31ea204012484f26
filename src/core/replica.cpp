// The normal case of PBFT (Castro and Liskov, OSDI 1999, section 4.2;
// TOCS 2002, section 2.3): pre-prepare, prepare, commit, in-order execution
// with exactly-once replies, and status-driven retransmission of lost
// protocol messages (Castro's thesis, section 5.2).
//
// Each handler reads: early returns (counted) for messages the rules say to
// ignore, then the state change.

#include "replica_state.h"

#include <algorithm>

#include "pbft/assert.h"
#include "pbft/wire.h"

namespace pbft {

ReplicaState::ReplicaState(const ProtocolConfig& config, ReplicaId self, const Crypto& crypto,
                           Service& service)
    : config_(config), self_(self), crypto_(crypto), service_(service) {}

void ReplicaState::send(Destination to, Message m) {
  effects.sends.push_back({to, std::make_shared<const Message>(std::move(m))});
}

void ReplicaState::send_shared(Destination to, std::shared_ptr<const Message> m) {
  effects.sends.push_back({to, std::move(m)});
}

// ---------------------------------------------------------------------------
// Dispatch

void ReplicaState::step(const Message& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Request>) {
          on_request(m);
        } else if constexpr (std::is_same_v<T, PrePrepare>) {
          on_pre_prepare(std::make_shared<const Message>(m), m);
        } else if constexpr (std::is_same_v<T, Prepare>) {
          on_prepare(m);
        } else if constexpr (std::is_same_v<T, Commit>) {
          on_commit(m);
        } else if constexpr (std::is_same_v<T, StatusMessage>) {
          on_status(m);
        } else {
          // Replies are never delivered to replicas (the verifier rejects
          // them); checkpoints, view changes and new views arrive with the
          // checkpoint and view-change work.
          counters.messages_ignored++;
        }
      },
      message);
}

void ReplicaState::tick() {
  ticks_++;
  if (waiting() && ticks_ - last_progress_tick_ >= config_.status_interval_ticks &&
      ticks_ - last_status_sent_tick_ >= config_.status_interval_ticks) {
    on_status_timeout();
  }
}

// ---------------------------------------------------------------------------
// Client requests (section 4.1, 4.2)

void ReplicaState::on_request(const Request& request) {
  // Exactly-once: a request at or below the client's last executed timestamp
  // is not ordered again; the last one gets its cached reply re-sent.
  if (auto it = last_replies_.find(request.client); it != last_replies_.end()) {
    const LastReply& last = it->second;
    if (request.timestamp < last.timestamp) {
      counters.requests_ignored++;
      return;
    }
    if (request.timestamp == last.timestamp) {
      send_shared(Destination::client(request.client), last.reply);
      return;
    }
  }
  if (auto it = ordered_.find(request.client);
      it != ordered_.end() && request.timestamp <= it->second) {
    counters.requests_ignored++;  // already in a batch; its reply will come
    return;
  }
  if (auto it = pending_.find(request.client);
      it != pending_.end() && request.timestamp < it->second.request.timestamp) {
    counters.requests_ignored++;  // the client has moved on
    return;
  }

  if (!is_primary()) {
    // A backup relays the request to the primary (the client sends to all
    // when it suspects the primary) and watches it.
    send(Destination::replica(primary()), request);
    add_pending(request);
    return;
  }
  add_pending(request);
  maybe_send_pre_prepare();
}

void ReplicaState::add_pending(const Request& request) {
  if (auto it = pending_.find(request.client); it != pending_.end()) {
    Request& held = it->second.request;
    if (held.timestamp == request.timestamp) return;  // a retransmission
    pending_bytes_ -= held.operation.size();
    pending_bytes_ += request.operation.size();
    held = request;  // a newer request keeps its client's place in the order
    return;
  }
  if (pending_.size() >= constants::pending_requests_max ||
      pending_bytes_ + request.operation.size() > constants::pending_bytes_max) {
    counters.requests_ignored++;
    return;
  }
  if (!waiting()) last_progress_tick_ = ticks_;  // the wait starts now
  // Drop stale order entries before they outnumber the live ones, so the
  // queue stays within 2 * pending_requests_max.
  if (pending_order_.size() >= 2 * pending_.size() + 64) {
    std::erase_if(pending_order_, [&](const auto& e) { return !pending_order_live(e); });
  }
  const uint64_t arrival = ++arrivals_;
  pending_.emplace(request.client, PendingRequest{request, arrival});
  pending_order_.emplace_back(request.client, arrival);
  pending_bytes_ += request.operation.size();
}

bool ReplicaState::pending_order_live(const std::pair<ClientId, uint64_t>& entry) const {
  auto it = pending_.find(entry.first);
  return it != pending_.end() && it->second.arrival == entry.second;
}

void ReplicaState::remove_pending(ClientId client, Timestamp executed) {
  auto it = pending_.find(client);
  if (it == pending_.end() || it->second.request.timestamp > executed) return;
  pending_bytes_ -= it->second.request.operation.size();
  pending_.erase(it);
}

namespace {
// An upper bound of a request's encoded size inside a batch.
size_t batch_entry_size(const Request& r) {
  return 96 + r.operation.size() + r.authenticator.size() * mac_size;
}
}  // namespace

// The primary assigns the next sequence number to a batch of pending
// requests while the window allows (liveness policy: batch as much as has
// arrived, never wait for more).
void ReplicaState::maybe_send_pre_prepare() {
  if (!is_primary() || view_changing_) return;
  while (!pending_.empty() && last_assigned_ - last_executed_ < config_.in_flight_max &&
         last_assigned_ + 1 <= high_watermark()) {
    std::vector<Request> batch;
    size_t batch_bytes = 0;
    while (!pending_order_.empty() && batch.size() < config_.batch_size_max) {
      if (!pending_order_live(pending_order_.front())) {
        pending_order_.pop_front();  // executed or batched meanwhile
        continue;
      }
      auto it = pending_.find(pending_order_.front().first);
      Request& request = it->second.request;
      const size_t size = batch_entry_size(request);
      if (!batch.empty() && batch_bytes + size > constants::batch_bytes_max) break;
      pending_order_.pop_front();
      batch_bytes += size;
      ordered_[request.client] = std::max(ordered_[request.client], request.timestamp);
      pending_bytes_ -= request.operation.size();
      batch.push_back(std::move(request));
      pending_.erase(it);
    }
    if (batch.empty()) {
      PBFT_ASSERT(pending_.empty());
      return;
    }

    PrePrepare pp;
    pp.view = view_;
    pp.seq = ++last_assigned_;
    pp.sender = self_;
    pp.digest = batch_digest(crypto_, batch);
    pp.batch = std::move(batch);
    pp.signature = crypto_.sign(wire::auth_payload(pp));
    auto message = std::make_shared<const Message>(std::move(pp));
    Slot& s = slot(std::get<PrePrepare>(*message).seq);
    s.pre_prepare_message = message;
    s.pre_prepare = &std::get<PrePrepare>(*message);
    send_shared(Destination::all_replicas(), message);
    check_prepared(s.pre_prepare->seq, s);
  }
}

// ---------------------------------------------------------------------------
// Pre-prepare (section 4.2): a backup accepts PRE-PREPARE(v, s, d) if it is
// authentic (the verifier), it is in view v and not changing views, it has
// accepted no other pre-prepare for (v, s) with another digest, h < s <= H,
// the digest matches the batch and every request is authentic (verifier).

void ReplicaState::on_pre_prepare(const std::shared_ptr<const Message>& message,
                                  const PrePrepare& pp) {
  if (pp.sender != config_.primary(pp.view) || pp.sender == self_) {
    counters.pre_prepares_rejected++;  // only the view's primary pre-prepares
    return;
  }
  if (pp.view != view_ || view_changing_) {
    counters.messages_ignored++;
    return;
  }
  if (!in_window(pp.seq)) {
    counters.messages_ignored++;
    return;
  }
  if (auto it = log_.find(pp.seq); it != log_.end() && it->second.pre_prepare != nullptr) {
    if (it->second.pre_prepare->digest != pp.digest) {
      counters.pre_prepares_rejected++;  // equivocation: keep the first
    } else {
      counters.messages_ignored++;  // duplicate
    }
    return;
  }
  if (batch_digest(crypto_, pp.batch) != pp.digest) {
    counters.pre_prepares_rejected++;
    return;
  }
  if (pp.seq <= last_executed_) {
    counters.messages_ignored++;  // executed already (retransmission)
    return;
  }

  Slot& s = slot(pp.seq);
  s.pre_prepare_message = message;
  s.pre_prepare = &std::get<PrePrepare>(*message);

  Prepare prepare;
  prepare.view = view_;
  prepare.seq = pp.seq;
  prepare.digest = pp.digest;
  prepare.sender = self_;
  prepare.signature = crypto_.sign(wire::auth_payload(prepare));
  s.prepares.emplace(self_, prepare);
  s.own_prepare = std::make_shared<const Message>(std::move(prepare));
  send_shared(Destination::all_replicas(), s.own_prepare);
  if (!waiting()) last_progress_tick_ = ticks_;
  check_prepared(pp.seq, s);
}

// ---------------------------------------------------------------------------
// Prepare: accepted in the current view, within the watermarks, from a
// backup of that view; prepared(m, v, s, i) once the log holds the
// pre-prepare and 2f matching prepares from distinct backups.

void ReplicaState::on_prepare(const Prepare& prepare) {
  if (prepare.view != view_ || view_changing_ || !in_window(prepare.seq) ||
      prepare.seq <= last_executed_) {
    counters.messages_ignored++;
    return;
  }
  if (prepare.sender == config_.primary(prepare.view)) {
    counters.messages_ignored++;  // the primary's pre-prepare stands for its prepare
    return;
  }
  Slot& s = slot(prepare.seq);
  if (!s.prepares.emplace(prepare.sender, prepare).second) {
    counters.messages_ignored++;  // one prepare per sender and slot
    return;
  }
  check_prepared(prepare.seq, s);
}

void ReplicaState::check_prepared(Seq seq, Slot& s) {
  if (s.prepared || s.pre_prepare == nullptr) return;
  const Digest& d = s.pre_prepare->digest;
  const uint32_t matching = static_cast<uint32_t>(std::count_if(
      s.prepares.begin(), s.prepares.end(), [&](const auto& p) { return p.second.digest == d; }));
  if (matching < 2 * config_.f) return;

  s.prepared = true;
  Commit commit;
  commit.view = view_;
  commit.seq = seq;
  commit.digest = d;
  commit.sender = self_;
  commit.authenticator = make_authenticator(crypto_, config_.n, wire::auth_payload(commit));
  s.commits.emplace(self_, d);
  s.own_commit = std::make_shared<const Message>(std::move(commit));
  send_shared(Destination::all_replicas(), s.own_commit);
  check_committed(seq, s);
}

// ---------------------------------------------------------------------------
// Commit: accepted in the current view within the watermarks;
// committed-local(m, v, s, i) once prepared and 2f+1 matching commits (its
// own included) are in the log.

void ReplicaState::on_commit(const Commit& commit) {
  if (commit.view != view_ || view_changing_ || !in_window(commit.seq) ||
      commit.seq <= last_executed_) {
    counters.messages_ignored++;
    return;
  }
  Slot& s = slot(commit.seq);
  if (!s.commits.emplace(commit.sender, commit.digest).second) {
    counters.messages_ignored++;
    return;
  }
  check_committed(commit.seq, s);
}

void ReplicaState::check_committed(Seq seq, Slot& s) {
  (void)seq;
  if (s.committed || !s.prepared) return;
  const Digest& d = s.pre_prepare->digest;
  const uint32_t matching = static_cast<uint32_t>(std::count_if(
      s.commits.begin(), s.commits.end(), [&](const auto& c) { return c.second == d; }));
  if (matching < config_.quorum()) return;
  s.committed = true;
  execute_committed();
}

// ---------------------------------------------------------------------------
// Execution: batch s runs once committed-local and every batch below it has
// run. For each request with t above the client's last executed t: execute,
// store the reply, send it. An old t gets the cached reply (t equal) or nothing.

void ReplicaState::execute_committed() {
  for (;;) {
    auto it = log_.find(last_executed_ + 1);
    if (it == log_.end() || !it->second.committed) break;
    execute(it->first, it->second);
  }
  maybe_send_pre_prepare();
}

void ReplicaState::execute(Seq seq, Slot& s) {
  PBFT_ASSERT(seq == last_executed_ + 1);
  PBFT_ASSERT(s.committed && s.pre_prepare != nullptr);
  const std::vector<Request>& batch = s.pre_prepare->batch;

  Executed executed{seq, view_, s.pre_prepare->digest, {}};
  executed.requests.reserve(batch.size());

  // Decide freshness in batch order: a client may appear twice in one batch.
  std::vector<Operation> operations;
  std::vector<size_t> fresh_index;
  std::unordered_map<ClientId, Timestamp> batch_last;  // within this batch
  for (size_t i = 0; i < batch.size(); i++) {
    const Request& r = batch[i];
    Timestamp last = 0;
    if (auto b = batch_last.find(r.client); b != batch_last.end()) {
      last = b->second;
    } else if (auto l = last_replies_.find(r.client); l != last_replies_.end()) {
      last = l->second.timestamp;
    }
    const bool fresh = r.timestamp > last;
    executed.requests.push_back({r.client, r.timestamp, fresh, request_digest(crypto_, r)});
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
    Reply reply;
    reply.view = view_;
    reply.timestamp = r.timestamp;
    reply.client = r.client;
    reply.sender = self_;
    reply.result = std::move(results[k]);
    reply.mac = crypto_.mac(Principal::client(r.client), wire::auth_payload(reply));
    auto message = std::make_shared<const Message>(std::move(reply));
    last_replies_[r.client] = LastReply{r.timestamp, message};
    send_shared(Destination::client(r.client), message);
  }
  // Requests with an old timestamp that equals the last executed one get the
  // cached reply (the client may have missed it).
  for (const ExecutedRequest& e : executed.requests) {
    if (e.fresh) continue;
    auto l = last_replies_.find(e.client);
    if (l != last_replies_.end() && l->second.timestamp == e.timestamp) {
      send_shared(Destination::client(e.client), l->second.reply);
    }
  }
  for (const Request& r : batch) {
    remove_pending(r.client, r.timestamp);
    if (auto o = ordered_.find(r.client); o != ordered_.end() && o->second <= r.timestamp) {
      ordered_.erase(o);
    }
  }

  last_executed_ = seq;
  last_progress_tick_ = ticks_;
  counters.batches_executed++;
  counters.requests_executed += operations.size();
  effects.executed.push_back(std::move(executed));
}

// ---------------------------------------------------------------------------
// Retransmission (Castro's thesis, section 5.2). A replica that has work
// outstanding (unexecuted slots or pending requests) and has made no
// progress for a status interval multicasts STATUS; a peer answers with what
// it holds above the sender's last executed sequence number: the primary's
// pre-prepare and the prepares it has (signed: relaying them is safe) and its
// own commit. Answers are rate-limited per peer.

bool ReplicaState::waiting() const {
  return !pending_.empty() || (!log_.empty() && log_.rbegin()->first > last_executed_);
}

void ReplicaState::on_status_timeout() {
  last_status_sent_tick_ = ticks_;
  StatusMessage status;
  status.view = view_;
  status.last_executed = last_executed_;
  status.last_stable = low_watermark_;
  status.sender = self_;
  status.authenticator = make_authenticator(crypto_, config_.n, wire::auth_payload(status));
  send(Destination::all_replicas(), std::move(status));
}

void ReplicaState::on_status(const StatusMessage& status) {
  if (status.sender == self_ || status.view != view_) {
    counters.messages_ignored++;
    return;
  }
  uint64_t& answered = last_status_answered_tick_[status.sender];
  if (answered != 0 && ticks_ - answered < config_.status_interval_ticks) {
    counters.messages_ignored++;  // rate limit: a faulty peer cannot make us flood
    return;
  }
  answered = std::max<uint64_t>(ticks_, 1);

  const Destination to = Destination::replica(status.sender);
  const Seq from = std::max(status.last_executed, low_watermark_) + 1;
  const Seq to_seq = from + constants::retransmit_seqs_max;
  for (auto it = log_.lower_bound(from); it != log_.end() && it->first < to_seq; ++it) {
    const Slot& s = it->second;
    if (s.pre_prepare_message != nullptr) {
      send_shared(to, s.pre_prepare_message);
      counters.retransmissions++;
    }
    for (const auto& [sender, prepare] : s.prepares) {
      if (sender == status.sender) continue;
      if (sender == self_ && s.own_prepare != nullptr) {
        send_shared(to, s.own_prepare);
      } else {
        send(to, prepare);
      }
      counters.retransmissions++;
    }
    if (s.own_commit != nullptr) {
      send_shared(to, s.own_commit);
      counters.retransmissions++;
    }
  }
  // A lagging peer that was primary-bound may also need the primary to order
  // what it holds; nothing else to do here in the normal case.
}

// ---------------------------------------------------------------------------
// Public face

Result<std::unique_ptr<Replica>> Replica::create(const ProtocolConfig& config, ReplicaId self,
                                                 const Crypto& crypto, Service& service) {
  if (auto s = config.validate(); !s) return s;
  if (self >= config.n) return Status::error("replica id out of range");
  if (crypto.self() != Principal::replica(self)) {
    return Status::error("crypto belongs to another principal");
  }
  return std::unique_ptr<Replica>(
      new Replica(std::make_unique<ReplicaState>(config, self, crypto, service)));
}

Replica::Replica(std::unique_ptr<ReplicaState> state) : state_(std::move(state)) {}
Replica::~Replica() = default;

void Replica::step(const Verified& message) { state_->step(message.message()); }
void Replica::tick() { state_->tick(); }
Effects Replica::take_effects() { return std::exchange(state_->effects, Effects{}); }

ReplicaId Replica::id() const { return state_->self_; }
View Replica::view() const { return state_->view_; }
Seq Replica::last_executed() const { return state_->last_executed_; }
Seq Replica::low_watermark() const { return state_->low_watermark_; }
Seq Replica::high_watermark() const { return state_->high_watermark(); }
bool Replica::is_primary() const { return state_->is_primary(); }
size_t Replica::log_size() const { return state_->log_.size(); }
size_t Replica::pending_requests() const { return state_->pending_.size(); }
const ReplicaCounters& Replica::counters() const { return state_->counters; }

}  // namespace pbft
