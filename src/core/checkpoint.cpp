// Checkpoints and garbage collection (Castro and Liskov, section 4.3;
// PBFT.md "Checkpoints and garbage collection").
//
// After executing a multiple of K a replica snapshots its state, rehashes
// the partitions that changed into the digest tree, and multicasts
// CHECKPOINT(s, d, i) with d the tree's root. The state is the service's
// partitions and the last-reply table (exactly-once must survive a state
// transfer). 2f+1 matching CHECKPOINTs, its own among them, make the
// checkpoint stable: h moves to s, H to s + L, and the log, older
// checkpoints and their proofs are discarded.

#include <algorithm>

#include "pbft/assert.h"
#include "pbft/wire.h"
#include "replica_state.h"

namespace pbft {

namespace {

constexpr char leaf_domain[] = "pbft/state-leaf/v1";

void append_u32(Bytes& out, uint64_t v) {
  for (int i = 0; i < 4; i++) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void append_u64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; i++) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t read_le(ByteView b, size_t& at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; i++) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
  at += width;
  return v;
}

// A reply partition's canonical encoding: count u32, then per client in id
// order: client u32, timestamp u64, result length u32, result.
Bytes encode_reply_partition(const ReplyPartition& partition) {
  Bytes out;
  append_u32(out, partition.size());
  for (const auto& [client, last] : partition) {
    append_u32(out, client);
    append_u64(out, last.timestamp);
    append_u32(out, last.result.size());
    out.insert(out.end(), last.result.begin(), last.result.end());
  }
  return out;
}

Result<ReplyPartition> decode_reply_partition(ByteView b, uint64_t partition_index) {
  ReplyPartition partition;
  size_t at = 0;
  if (b.size() < 4) return Status::error("reply partition: truncated");
  const uint64_t count = read_le(b, at, 4);
  if (count > (b.size() - at) / 16) return Status::error("reply partition: count too large");
  for (uint64_t i = 0; i < count; i++) {
    if (b.size() - at < 16) return Status::error("reply partition: truncated");
    const auto client = static_cast<ClientId>(read_le(b, at, 4));
    const Timestamp t = read_le(b, at, 8);
    const uint64_t size = read_le(b, at, 4);
    if (size > constants::result_size_max || size > b.size() - at) {
      return Status::error("reply partition: bad result size");
    }
    if (client % constants::reply_partitions != partition_index ||
        (!partition.empty() && partition.rbegin()->first >= client)) {
      return Status::error("reply partition: clients out of place or order");
    }
    partition[client] = LastReply{t, Bytes(b.begin() + static_cast<ptrdiff_t>(at),
                                           b.begin() + static_cast<ptrdiff_t>(at + size))};
    at += size;
  }
  if (at != b.size()) return Status::error("reply partition: trailing bytes");
  return partition;
}

}  // namespace

// The leaves of the state tree: the service's partitions, then the reply
// table's.
Bytes ReplicaState::read_leaf(std::optional<Seq> snapshot, uint64_t leaf) const {
  const uint64_t service_leaves = service_.partition_count();
  if (leaf < service_leaves) return service_.read_partition(snapshot, leaf);
  const uint64_t index = leaf - service_leaves;
  return encode_reply_partition(snapshot ? replies_.get(*snapshot, index) : replies_.get(index));
}

Digest ReplicaState::leaf_digest(uint64_t leaf, ByteView bytes) const {
  // The index is hashed with the bytes, so equal contents at different
  // places give different leaves.
  Bytes prefixed(leaf_domain, leaf_domain + sizeof(leaf_domain) - 1);
  append_u64(prefixed, leaf);
  prefixed.insert(prefixed.end(), bytes.begin(), bytes.end());
  return crypto_.digest(prefixed);
}

Status ReplicaState::install_leaf(uint64_t leaf, ByteView bytes) {
  const uint64_t service_leaves = service_.partition_count();
  if (leaf < service_leaves) return service_.install_partition(leaf, bytes);
  auto partition = decode_reply_partition(bytes, leaf - service_leaves);
  if (!partition) return partition.status();
  replies_.replace(leaf - service_leaves, std::move(partition.value()));
  return Status::ok();
}

// Rehashes the partitions changed since the last update (read from
// `snapshot`, or from the current state) into the working tree.
void ReplicaState::update_working_tree(std::optional<Seq> snapshot) {
  std::vector<uint64_t> dirty;
  service_.take_dirty_partitions(dirty);
  const uint64_t service_leaves = service_.partition_count();
  std::vector<uint64_t> reply_dirty;
  replies_.take_dirty(reply_dirty);
  for (uint64_t r : reply_dirty) dirty.push_back(service_leaves + r);
  for (uint64_t leaf : dirty) {
    PBFT_ASSERT(leaf < leaf_count());
    working_tree_.set_leaf(leaf, leaf_digest(leaf, read_leaf(snapshot, leaf)));
  }
  working_tree_.update(crypto_);
}

void ReplicaState::take_checkpoint(Seq s) {
  service_.snapshot(s);
  replies_.snapshot(s);
  update_working_tree(s);

  Checkpoint checkpoint;
  checkpoint.seq = s;
  checkpoint.state_digest = working_tree_.root();
  authenticate(checkpoint);
  auto message = std::make_shared<const Message>(checkpoint);
  own_checkpoints_[s] = OwnCheckpoint{checkpoint.state_digest, working_tree_, message};
  counters.checkpoints_taken++;
  checkpoint_votes_[s].received.insert_or_assign(self_, checkpoint);
  send_binding(message);
  check_stable(s);
}

void ReplicaState::on_checkpoint(const Checkpoint& checkpoint) {
  saw(checkpoint.sender, checkpoint.seq);
  if (checkpoint.sender == self_) {
    counters.drop(DropReason::own_message);
    return;
  }
  if (checkpoint.seq % config_.checkpoint_interval != 0) {
    counters.drop(DropReason::checkpoint_off_interval);
    return;
  }
  record_claim(checkpoint);
  if (in_window(checkpoint.seq)) {
    CheckpointVotes& votes = checkpoint_votes_[checkpoint.seq];
    if (votes.received.emplace(checkpoint.sender, checkpoint).second) check_stable(checkpoint.seq);
  }
  if (!transfer_) {
    maybe_start_transfer();
  } else if (auto proven = proven_claim(); proven && proven->first > transfer_->target) {
    start_transfer(proven->first, proven->second);  // the target moved on
  }
}

void ReplicaState::check_stable(Seq s) {
  auto own = own_checkpoints_.find(s);
  auto votes = checkpoint_votes_.find(s);
  if (own == own_checkpoints_.end() || votes == checkpoint_votes_.end() || s <= low_watermark_) {
    return;
  }
  const Digest& d = own->second.digest;
  const uint32_t matching = static_cast<uint32_t>(
      std::count_if(votes->second.received.begin(), votes->second.received.end(),
                    [&](const auto& r) { return r.second.state_digest == d; }));
  if (matching < (PBFT_MUTANT(stable_on_f_plus_1) ? config_.weak_quorum() : quorum())) {
    return;
  }
  make_stable(s, d);
}

void ReplicaState::make_stable(Seq s, const Digest& d) {
  PBFT_ASSERT(s > low_watermark_ && s <= last_executed_);
  stable_proof_.clear();
  for (const auto& [sender, checkpoint] : checkpoint_votes_.at(s).received) {
    if (checkpoint.state_digest == d) stable_proof_.push_back(checkpoint);
  }
  PBFT_ASSERT(stable_proof_.size() >= quorum() || PBFT_MUTANT(stable_on_f_plus_1));
  record_checkpoint(s);
  discard_below(s);
  last_progress_tick_ = ticks_;
  counters.checkpoints_stable++;
  maybe_send_pre_prepare();  // the window moved
}

void ReplicaState::record_checkpoint(Seq s) {
  const OwnCheckpoint& own = own_checkpoints_.at(s);
  CheckpointRecord record{s, own.digest, stable_proof_, {}};
  // Down the tree where it differs from the one recorded: the cost is the
  // changed leaves (and their paths), not the whole state.
  std::vector<std::pair<uint32_t, uint64_t>> stack{{own.tree.level_count() - 1, 0}};
  while (!stack.empty()) {
    const auto [level, index] = stack.back();
    stack.pop_back();
    if (own.tree.node(level, index) == recorded_tree_.node(level, index)) continue;
    if (level == 0) {
      record.leaves.emplace_back(index, std::make_shared<const Bytes>(read_leaf(s, index)));
      continue;
    }
    const uint64_t first = index * StateTree::fanout;
    const uint64_t end = std::min(first + StateTree::fanout, own.tree.width(level - 1));
    for (uint64_t child = end; child-- > first;) stack.emplace_back(level - 1, child);
  }
  std::sort(record.leaves.begin(), record.leaves.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  recorded_tree_ = own.tree;
  persist(std::move(record));
}

// Garbage collection at a new stable checkpoint s: the log up to s, older
// checkpoints, their votes, proofs and snapshots.
void ReplicaState::discard_below(Seq s) {
  low_watermark_ = s;
  log_.erase(log_.begin(), log_.upper_bound(s));
  checkpoint_votes_.erase(checkpoint_votes_.begin(), checkpoint_votes_.upper_bound(s));
  own_checkpoints_.erase(own_checkpoints_.begin(), own_checkpoints_.lower_bound(s));
  if (serve_cache_ && serve_cache_->checkpoint < s) serve_cache_.reset();
  service_.release_snapshots_below(s);
  replies_.release_below(s);
  for (auto& [sender, claims] : claims_) {
    claims.erase(claims.begin(), claims.lower_bound(std::make_pair(s + 1, Digest{})));
  }
}

// Claims: CHECKPOINTs above what this replica executed, kept (a few per
// sender, the highest) even beyond the window, to find a stable checkpoint
// it does not have.
//
// When a sender has too many, claims below what f+1 replicas claim go; then
// the claim the fewest other replicas support (the highest of those on a
// tie): a faulty replica's made-up claims have no support, so they cannot
// push out its real signature, which a lagging replica may need for a proof
// (with 2f correct peers, every proof it can get includes a faulty
// replica's signature).
void ReplicaState::record_claim(const Checkpoint& checkpoint) {
  if (checkpoint.seq <= last_executed_) return;
  auto& claims = claims_[checkpoint.sender];
  claims.emplace(std::make_pair(checkpoint.seq, checkpoint.state_digest), checkpoint);
  if (claims.size() <= constants::checkpoint_claims_per_replica_max) return;
  // Once f+1 replicas claim checkpoints at or above X, a correct one has
  // reached X and the other correct ones will: claims below X are never
  // needed again (a transfer keeps its own copy of its proof), and a faulty
  // replica alone cannot raise X. Without this, old claims with more
  // support would push out every new one, which has one supporter when it
  // arrives, and a lagging replica would never learn of newer checkpoints.
  std::vector<Seq> highest;
  for (const auto& [sender, others] : claims_) {
    if (!others.empty()) highest.push_back(others.rbegin()->first.first);
  }
  if (highest.size() >= config_.weak_quorum()) {
    std::sort(highest.begin(), highest.end(), std::greater<>());
    const auto below = std::make_pair(highest[config_.f], Digest{});
    for (auto& [sender, others] : claims_) others.erase(others.begin(), others.lower_bound(below));
    if (claims.size() <= constants::checkpoint_claims_per_replica_max) return;
  }
  auto support = [&](const std::pair<Seq, Digest>& key) {
    uint32_t n = 0;
    for (const auto& [sender, others] : claims_) n += others.count(key) ? 1 : 0;
    return n;
  };
  auto victim = claims.begin();
  uint32_t victim_support = support(victim->first);
  for (auto it = std::next(claims.begin()); it != claims.end(); ++it) {
    const uint32_t s = support(it->first);
    if (s <= victim_support) {  // ties: the later (higher) one
      victim = it;
      victim_support = s;
    }
  }
  claims.erase(victim);
}

// The highest checkpoint above last_executed_ that 2f+1 replicas claim with
// one digest: a stable checkpoint (at least f+1 correct replicas have it).
std::optional<std::pair<Seq, Digest>> ReplicaState::proven_claim() const {
  std::map<std::pair<Seq, Digest>, uint32_t> counts;
  for (const auto& [sender, claims] : claims_) {
    for (const auto& [key, checkpoint] : claims) {
      if (key.first > last_executed_) counts[key]++;
    }
  }
  std::optional<std::pair<Seq, Digest>> best;
  for (const auto& [key, count] : counts) {
    if (count >= quorum() && (!best || key.first > best->first)) best = key;
  }
  return best;
}

}  // namespace pbft
