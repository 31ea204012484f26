// State transfer and recovery (PBFT.md "State transfer"; Castro's thesis,
// section 5.3.2).
//
// Fetching. A replica that learns of a stable checkpoint (2f+1 matching
// CHECKPOINT claims) above what it executed, and cannot reach it by
// executing (it is beyond the window, or no progress was made for two
// status intervals), fetches that checkpoint's state: top-down by the
// digest tree, asking for a node's children only when the node's digest
// differs from its own state's, and for a partition's bytes only when its
// leaf differs. Every answer is checked against the proven root before it is
// used: children against their parent's digest, a partition's bytes against
// its leaf. Requests go round robin to the replicas that signed the proof, at
// most fetch_in_flight_max at once; a server that sends bad data or is slow
// is passed over. If a newer stable checkpoint appears meanwhile, the
// transfer retargets: what was installed and matches is not fetched again.
// The last-reply table is part of the tree, so exactly-once survives.
//
// Recovery. A replica that restarted without its state may have voted,
// before it lost it, on any sequence number up to its old high watermark.
// Voting again there could contradict what it said, so it stays silent
// (no PRE-PREPARE, PREPARE or COMMIT; it still executes on the others'
// certificates, and fetches state) until it has executed past a horizon:
// L above the highest last-executed number that 2f+1 other replicas report.
// Its old low watermark was a checkpoint that at least f+1 correct replicas
// executed, and any 2f+1 other replicas include one of them, so the horizon
// is above every sequence number it could have voted on.

#include <algorithm>

#include "pbft/assert.h"
#include "pbft/wire.h"
#include "replica_state.h"

namespace pbft {

// ---------------------------------------------------------------------------
// Serving

// Freshness (constants::fetch_replay_window): a counter among the last
// window's worth seen from the sender, and not seen before. A replayed
// FETCH is refused before anything is read or sent for it.
std::optional<DropReason> ReplicaState::refuse_fetch(const Fetch& fetch) const {
  if (fetch.sender == self_) return DropReason::own_message;
  auto it = fetch_counters_.find(fetch.sender);
  if (it == fetch_counters_.end()) return std::nullopt;
  const FetchCounters& seen = it->second;
  if (fetch.counter > seen.highest) return std::nullopt;
  const uint64_t behind = seen.highest - fetch.counter;
  if (behind >= constants::fetch_replay_window || (seen.window >> behind & 1) != 0) {
    return DropReason::fetch_replayed;
  }
  return std::nullopt;
}

void ReplicaState::note_fetch_counter(const Fetch& fetch) {
  auto [it, first] = fetch_counters_.try_emplace(fetch.sender);
  FetchCounters& seen = it->second;
  if (first || fetch.counter > seen.highest) {
    const uint64_t ahead = first ? constants::fetch_replay_window : fetch.counter - seen.highest;
    seen.window = ahead >= constants::fetch_replay_window ? 0 : seen.window << ahead;
    seen.window |= 1;
    seen.highest = fetch.counter;
  } else {
    seen.window |= uint64_t{1} << (seen.highest - fetch.counter);
  }
}

void ReplicaState::on_fetch(const Fetch& fetch) {
  if (auto reason = refuse_fetch(fetch)) {
    counters.drop(*reason);
    return;
  }
  note_fetch_counter(fetch);
  // Rate limit, charged for every fetch, answered or not: a faulty peer
  // cannot make this replica do unbounded work per tick. A correct fetcher
  // that hits it retries after a status interval.
  ServeBudget& budget = fetches_answered_[fetch.sender];
  if (budget.fetches >= constants::fetch_serve_count_per_tick ||
      budget.bytes >= constants::fetch_serve_bytes_per_tick) {
    counters.drop(DropReason::fetch_over_budget);
    return;
  }
  budget.fetches++;
  auto it = own_checkpoints_.find(fetch.checkpoint);
  if (it == own_checkpoints_.end()) {
    // Not held (any more): the fetcher asks another replica.
    counters.drop(DropReason::fetch_not_held);
    return;
  }
  const StateTree& tree = it->second.tree;
  FetchReply reply;
  reply.checkpoint = fetch.checkpoint;
  reply.level = fetch.level;
  reply.index = fetch.index;
  reply.offset = fetch.offset;
  reply.sender = self_;
  if (fetch.level > 0) {
    if (fetch.level >= tree.level_count() || fetch.index >= tree.width(fetch.level) ||
        fetch.offset != 0) {
      counters.drop(DropReason::fetch_bad_node);
      return;
    }
    reply.digests = tree.children(fetch.level, fetch.index);
  } else {
    if (fetch.index >= tree.leaf_count()) {
      counters.drop(DropReason::fetch_bad_node);
      return;
    }
    if (!serve_cache_ || serve_cache_->checkpoint != fetch.checkpoint ||
        serve_cache_->leaf != fetch.index) {
      serve_cache_ =
          ServeCache{fetch.checkpoint, fetch.index, read_leaf(fetch.checkpoint, fetch.index)};
      budget.bytes += serve_cache_->bytes.size();  // reading it (sending is charged below)
    }
    const Bytes& bytes = serve_cache_->bytes;
    if (fetch.offset > bytes.size()) {
      counters.drop(DropReason::fetch_bad_offset);
      return;
    }
    reply.total_size = bytes.size();
    const size_t n = std::min<size_t>(constants::fetch_chunk_max, bytes.size() - fetch.offset);
    const auto begin = bytes.begin() + static_cast<ptrdiff_t>(fetch.offset);
    reply.data.assign(begin, begin + static_cast<ptrdiff_t>(n));
  }
  // Every byte served is charged to the peer, whether the partition was
  // read for it or was at hand: a peer that asks for one cached chunk
  // again and again pays for each answer.
  budget.bytes += reply.data.size() + reply.digests.size() * digest_size;
  authenticate(reply);
  counters.fetches_served++;
  send(Destination::replica(fetch.sender), std::move(reply));
}

// ---------------------------------------------------------------------------
// Fetching

void ReplicaState::maybe_start_transfer() {
  if (transfer_) return;
  auto proven = proven_claim();
  if (!proven) return;
  const Seq target = proven->first;
  // A replica that can get there by executing does so; one beyond the
  // window, or stuck, fetches.
  const bool stuck = ticks_ - last_progress_tick_ >= 2 * config_.status_interval_ticks;
  if (target > high_watermark() || stuck || recovering_) start_transfer(target, proven->second);
}

void ReplicaState::start_transfer(Seq target, const Digest& root) {
  PBFT_ASSERT(target > last_executed_);
  if (!transfer_) counters.state_transfers_started++;
  const uint64_t carried_bytes = transfer_ ? transfer_->bytes_fetched : 0;
  std::map<uint64_t, Transfer::Assembly> carried;
  size_t carried_reserved = 0;
  if (transfer_) {
    carried = std::move(transfer_->carried);
    carried.merge(transfer_->assemblies);
    carried_reserved = transfer_->assembly_bytes;
  }
  transfer_.emplace();
  transfer_->target = target;
  transfer_->root = root;
  transfer_->bytes_fetched = carried_bytes;
  transfer_->carried = std::move(carried);
  transfer_->assembly_bytes = carried_reserved;
  for (const auto& [sender, claims] : claims_) {
    auto it = claims.find({target, root});
    if (it != claims.end()) transfer_->proof.push_back(it->second);
  }
  PBFT_ASSERT(transfer_->proof.size() >= quorum());
  // Compare against the current state: bring the tree up to date first.
  update_working_tree(std::nullopt);
  transfer_->queue.push_back({working_tree_.level_count() - 1, 0, root});
  pump_transfer();
}

// Sends fetches for queued nodes while there is room; skips nodes that
// already match; finishes when nothing is left.
void ReplicaState::pump_transfer() {
  Transfer& t = *transfer_;
  while (!t.queue.empty() && t.in_flight.size() < constants::fetch_in_flight_max) {
    Transfer::Node node = t.queue.front();
    if (working_tree_.node(node.level, node.index) == node.digest) {
      t.queue.pop_front();  // this subtree already matches
      continue;
    }
    if (node.level == 0) {
      if (auto c = t.carried.find(node.index); c != t.carried.end()) {
        if (c->second.digest == node.digest) {
          // Resume the partition where the earlier target's fetch stopped.
          t.queue.pop_front();
          const uint64_t offset = c->second.bytes.size();
          t.assemblies.insert(t.carried.extract(c));
          send_fetch(node, offset);
          continue;
        }
        t.assembly_bytes -= c->second.total_size;
        t.carried.erase(c);
      }
      if (t.assembly_bytes + constants::fetch_chunk_max > constants::fetch_assembly_bytes_max &&
          !t.carried.empty()) {
        // Room is needed now: give up what earlier targets left.
        for (const auto& [leaf, assembly] : t.carried) t.assembly_bytes -= assembly.total_size;
        t.carried.clear();
      }
      if (t.assembly_bytes + constants::fetch_chunk_max > constants::fetch_assembly_bytes_max) {
        break;  // wait until partitions being assembled are done
      }
    }
    t.queue.pop_front();
    send_fetch(node, 0);
  }
  if (t.queue.empty() && t.in_flight.empty()) finish_transfer();
}

void ReplicaState::send_fetch(Transfer::Node node, uint64_t offset,
                              std::optional<ReplicaId> same_server) {
  Transfer& t = *transfer_;
  if (same_server) {
    send_fetch_to(*same_server, node, offset);
    return;
  }
  // Round robin over the proof's signers that are not suspects (all of them
  // again once every one is).
  std::vector<ReplicaId> servers;
  for (const Checkpoint& c : t.proof) {
    if (c.sender != self_ && !t.suspects.count(c.sender)) servers.push_back(c.sender);
  }
  if (servers.empty()) {
    t.suspects.clear();
    for (const Checkpoint& c : t.proof) {
      if (c.sender != self_) servers.push_back(c.sender);
    }
  }
  PBFT_ASSERT(!servers.empty());
  send_fetch_to(servers[t.next_server++ % servers.size()], node, offset);
}

void ReplicaState::send_fetch_to(ReplicaId server, Transfer::Node node, uint64_t offset) {
  Transfer& t = *transfer_;
  t.in_flight[{node.level, node.index}] = Transfer::InFlight{node, server, ticks_, offset};

  Fetch fetch;
  fetch.checkpoint = t.target;
  fetch.level = node.level;
  fetch.index = node.index;
  fetch.offset = offset;
  fetch.counter = next_freshness_counter();
  authenticate(fetch);
  send(Destination::replica(server), std::move(fetch));
}

void ReplicaState::on_fetch_reply(const FetchReply& reply) {
  if (!transfer_ || reply.checkpoint != transfer_->target) {
    counters.drop(DropReason::fetch_reply_not_fetching);
    return;
  }
  Transfer& t = *transfer_;
  auto it = t.in_flight.find({reply.level, reply.index});
  if (it == t.in_flight.end() || it->second.server != reply.sender ||
      it->second.offset != reply.offset) {
    // Not asked of this sender (a late or forged answer).
    counters.drop(DropReason::fetch_reply_unasked);
    return;
  }
  const Transfer::InFlight request = it->second;
  t.in_flight.erase(it);
  t.bytes_fetched += reply.data.size() + reply.digests.size() * digest_size;
  counters.fetch_bytes_received += reply.data.size() + reply.digests.size() * digest_size;

  auto drop_assembly = [&](uint64_t leaf) {
    auto a = t.assemblies.find(leaf);
    if (a == t.assemblies.end()) return;
    t.assembly_bytes -= a->second.total_size;
    t.assemblies.erase(a);
  };
  auto reject = [&] {
    counters.fetch_replies_rejected++;
    t.suspects.insert(reply.sender);
    if (request.node.level == 0) drop_assembly(request.node.index);
    t.queue.push_front(request.node);  // ask someone else, from the start
  };

  if (request.node.level > 0) {
    // Children: they must hash to the (proven) parent, and the tree shapes
    // must agree.
    const uint32_t child_level = request.node.level - 1;
    const uint64_t first = request.node.index * StateTree::fanout;
    const uint64_t expected =
        std::min<uint64_t>(working_tree_.width(child_level) - first, StateTree::fanout);
    if (!reply.data.empty() || reply.digests.size() != expected ||
        StateTree::parent_digest(crypto_, reply.digests) != request.node.digest) {
      reject();
    } else {
      working_tree_.update(crypto_);
      for (uint64_t c = 0; c < expected; c++) {
        if (working_tree_.node(child_level, first + c) != reply.digests[c]) {
          t.queue.push_back({child_level, first + c, reply.digests[c]});
        }
      }
    }
  } else {
    const uint64_t leaf = request.node.index;
    auto a = t.assemblies.find(leaf);
    const bool first_chunk = a == t.assemblies.end();
    const uint64_t expected_offset = first_chunk ? 0 : a->second.bytes.size();
    if (!reply.digests.empty() || reply.total_size > constants::partition_size_max ||
        (!first_chunk && reply.total_size != a->second.total_size) ||
        reply.offset != expected_offset || reply.offset + reply.data.size() > reply.total_size ||
        (reply.data.empty() && reply.offset != reply.total_size)) {
      reject();
    } else if (first_chunk && t.assembly_bytes + reply.total_size >
                                  constants::fetch_assembly_bytes_max) {
      // No room to assemble it now: fetch it again once others are done.
      t.queue.push_back(request.node);
    } else {
      if (first_chunk) {
        a = t.assemblies.emplace(leaf, Transfer::Assembly{{}, reply.total_size, request.node.digest})
                .first;
        a->second.bytes.reserve(reply.total_size);
        t.assembly_bytes += reply.total_size;
      }
      Bytes& assembly = a->second.bytes;
      assembly.insert(assembly.end(), reply.data.begin(), reply.data.end());
      if (assembly.size() < reply.total_size) {
        // The next chunk, from the same server: if the whole leaf does not
        // match its digest, the blame is that server's.
        send_fetch(request.node, assembly.size(), request.server);
      } else if (leaf_digest(leaf, assembly) != request.node.digest ||
                 !install_leaf(leaf, assembly).is_ok()) {
        reject();
      } else {
        working_tree_.set_leaf(leaf, request.node.digest);
        drop_assembly(leaf);
      }
    }
  }
  pump_transfer();
}

// Fetches unanswered for a status interval go to another server.
void ReplicaState::on_fetch_timeout() {
  Transfer& t = *transfer_;
  std::vector<Transfer::InFlight> late;
  for (auto it = t.in_flight.begin(); it != t.in_flight.end();) {
    if (ticks_ - it->second.sent_tick >= config_.status_interval_ticks) {
      late.push_back(it->second);
      it = t.in_flight.erase(it);
    } else {
      ++it;
    }
  }
  for (const Transfer::InFlight& f : late) {
    t.suspects.insert(f.server);
    if (f.node.level == 0 && f.offset > 0) {
      // A leaf comes whole from one server: start it over elsewhere.
      auto a = t.assemblies.find(f.node.index);
      if (a != t.assemblies.end()) {
        t.assembly_bytes -= a->second.total_size;
        t.assemblies.erase(a);
      }
    }
    send_fetch(f.node, 0);
  }
}

void ReplicaState::finish_transfer() {
  Transfer& t = *transfer_;
  // Partitions that differed are installed; the tree must now be the proven one.
  std::vector<uint64_t> ignored;
  service_.take_dirty_partitions(ignored);  // installed leaves are already in the tree
  replies_.take_dirty(ignored);
  working_tree_.update(crypto_);
  if (working_tree_.root() != t.root) {
    // Cannot happen with a collision-resistant digest unless the state
    // changed under the transfer; start over from the root.
    counters.fetch_replies_rejected++;
    t.queue.push_back({working_tree_.level_count() - 1, 0, t.root});
    pump_transfer();
    return;
  }

  const Seq target = t.target;
  if (PBFT_MUTANT(drop_reply_table_on_transfer)) {
    for (uint64_t p = 0; p < constants::reply_partitions; p++) replies_.mutate(p).clear();
  }
  service_.snapshot(target);
  replies_.snapshot(target);
  own_checkpoints_.clear();
  own_checkpoints_[target] = OwnCheckpoint{t.root, working_tree_, nullptr};
  stable_proof_ = t.proof;
  record_checkpoint(target);
  last_executed_ = target;
  last_assigned_ = std::max(last_assigned_, target);
  discard_below(target);
  // Requests the installed state already executed are no longer pending.
  for (auto it = ordered_.begin(); it != ordered_.end();) {
    const LastReply* last = last_reply(it->first);
    it = (last != nullptr && last->timestamp >= it->second) ? ordered_.erase(it) : std::next(it);
  }
  pending_.remove_if([&](const RequestQueue::Entry& pending) {
    const LastReply* last = last_reply(pending.request.client);
    return last != nullptr && last->timestamp >= pending.request.timestamp;
  });
  counters.state_transfers_completed++;
  effects.list.emplace_back(StateInstalled{target, t.root, t.bytes_fetched});
  transfer_.reset();
  last_progress_tick_ = ticks_;
  view_working_since_tick_ = ticks_;

  // This replica now holds the checkpoint: its own CHECKPOINT for it, for
  // peers that still need votes.
  Checkpoint mine;
  mine.seq = target;
  mine.state_digest = own_checkpoints_[target].digest;
  authenticate(mine);
  own_checkpoints_[target].message = std::make_shared<const Message>(mine);
  // Not sent now, but re-sent to any peer that asks (on_status): it binds
  // this replica from here on.
  persist(SentRecord{own_checkpoints_[target].message});

  check_recovered();
  execute_committed();  // slots above the checkpoint may be committed already
  maybe_start_transfer();
}

// ---------------------------------------------------------------------------
// Recovery

// On leaving silence: the votes this replica held back for slots above the
// horizon that it logged while silent, so those slots do not depend on it
// staying quiet.
void ReplicaState::vote_on_logged_slots() {
  // Votes belong to a view: none while changing views (the NEW-VIEW's slots
  // get them when it is installed), and none for a slot of an earlier view.
  // A vote can complete a slot, execute it, make a checkpoint stable and
  // discard slots: walk sequence numbers, not the log's iterators.
  std::vector<Seq> seqs;
  for (const auto& entry : log_) seqs.push_back(entry.first);
  for (const Seq seq : seqs) {
    auto it = log_.find(seq);
    if (view_changing_ || it == log_.end()) continue;
    Slot& s = it->second;
    if (seq <= last_executed_ || s.pre_prepare() == nullptr || is_primary() ||
        s.pre_prepare()->view != view_) {
      continue;
    }
    if (s.own_prepare == nullptr && !s.batch_unchecked) {  // (unchecked: see check_unchecked_batches)
      send_prepare(seq, s);
      check_prepared(seq, s);  // sends the commit if this prepare completes it
    }
    if (s.prepared && s.own_commit == nullptr) send_commit(seq, s);
  }
  execute_committed();
}

void ReplicaState::check_recovered() {
  if (!recovering_) return;
  if (!recovery_horizon_) {
    if (recovery_reports_.size() < quorum()) return;
    Seq highest = 0;
    for (const auto& [sender, executed] : recovery_reports_) highest = std::max(highest, executed);
    // Saturating: a faulty report near 2^64 must not wrap the horizon around.
    recovery_horizon_ = highest > UINT64_MAX - config_.log_window ? UINT64_MAX
                                                                  : highest + config_.log_window;
  }
  if (last_executed_ >= *recovery_horizon_) {
    recovering_ = false;
    recovery_reports_.clear();
    view_working_since_tick_ = ticks_;
    vote_on_logged_slots();
  }
}

}  // namespace pbft
