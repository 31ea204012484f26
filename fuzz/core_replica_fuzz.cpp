// libFuzzer target for the replica core (include/pbft/replica.h) under any
// sequence of authentic messages.
//
// One replica runs with the fake crypto (crypto.h), so the fuzzer holds
// every other replica's and every client's keys: it can send any message,
// correctly signed, in anyone's name. All n-1 peers may lie at once, which
// is more than PBFT tolerates (f), so what is checked here is what the
// replica guarantees on its own, whatever its peers do:
//   - no crash, assertion or sanitizer report, and no restart that fails
//     from the records the replica itself persisted;
//   - bounded memory: every slot above h, log_size() <= 2L (L in the window
//     (h, H], and a NEW-VIEW whose min-s is above the window places its O,
//     at most L, above H: restore.cpp), pending requests,
//     checkpoints held (<= L/K + 1), view-changes held (<= n), checkpoint
//     claims (<= checkpoint_claims_per_replica_max per peer);
//   - h a multiple of K, H = h + L, h <= last_executed;
//   - no equivocation: never two different PRE-PREPAREs, PREPAREs or
//     COMMITs for one (view, seq), nor two CHECKPOINTs for one seq, nor
//     two VIEW-CHANGEs or NEW-VIEWs for one view, across
//     crashes and restarts (the write-ahead rule; a wipe starts a new
//     lineage, which votes nothing while it recovers);
//   - execution: in order (s after s-1, or after a state transfer to s-1),
//     never two different batches at one seq (across restarts, for what was
//     durable: the host lost the rest); a request runs fresh only above
//     its client's last (exactly once);
//   - effects in order (sim::WriteAheadChecker): every binding message is
//     sent after the Persist that records it, never in a view above the
//     recorded one, and the recorded view never goes back.
//
// Each message takes the one receive path of every host (replica.h):
// encode, peek_type, decode, screen, verify, step.
//
// Input: a config byte, the replica's id, then actions, each an opcode
// byte and its operands (Input below: bytes past the end read as 0, and 0
// is always the plain choice: the replica's view, its next sequence number,
// a correct signature). How many bytes an action reads depends on the
// bytes it reads and on the config, never on the replica's state, so that
// a generator can write inputs without running the replica. Field values
// are drawn by the pick_* functions, biased towards what matters: the
// replica's view and view+1, sequence numbers around its watermarks, digests
// of batches it knows, proofs and certificates that are valid (or nearly).
// Messages are built by the make_* functions, one per type: a new field
// goes there.
//
// Seeds: fuzz/corpus/core_replica/, written by
// fuzz/corpus/make_core_replica_corpus.py (scenarios: the normal case,
// checkpoints, a view change, crashes, a wipe, status and fetch).
//   build-fuzz/fuzz/core_replica_fuzz -max_total_time=300 -rss_limit_mb=2048 \
//       /tmp/core-corpus fuzz/corpus/core_replica
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "pbft/constants.h"
#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/messages.h"
#include "pbft/replica.h"
#include "pbft/storage.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "sim/checkers.h"

namespace {

using namespace pbft;

[[noreturn]] void violated(const std::string& invariant) {
  std::fprintf(stderr, "core_replica_fuzz: invariant violated: %s\n", invariant.c_str());
  std::abort();
}

// The input, read front to back; past its end every byte is 0.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= static_cast<uint64_t>(byte()) << (8 * i);
    return v;
  }
  // A choice among `count` (0 when count is 0; one byte read all the same).
  size_t choice(size_t count) {
    const uint8_t b = byte();
    return count == 0 ? 0 : b % count;
  }
  // A rare twist (a forged tag, a wrong digest): one value in 16.
  bool rarely() { return byte() % 16 == 15; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

constexpr uint64_t universe = 0x5eed;
constexpr uint32_t client_count = 4;
constexpr uint64_t service_partitions = 16;  // few partitions: a quick start
constexpr size_t remembered_max = 64;        // messages kept for replays, batches for reuse
constexpr size_t actions_max = 512;          // per input: each one costs

enum class Action : uint8_t {
  request,
  pre_prepare,
  prepare,
  commit,
  checkpoint,
  view_change,
  new_view,
  status,
  fetch,
  fetch_reply,
  replay,
  tick,
  crash,
  wipe,
  count,
};
// The opcode's top bit holds the effects back (the host takes them after
// several inputs, as the runtime's group commit does).
constexpr uint8_t hold_effects = 0x80;

// Config byte: bit 0 n = 7 (else 4); bits 1-2 K and L; bit 3 signed
// requests; bits 4-5 the view-change timeout; bits 6-7 batching.
ProtocolConfig make_config(uint8_t b) {
  ProtocolConfig c;
  c.f = (b & 1) ? 2 : 1;
  c.n = 3 * c.f + 1;
  static constexpr std::pair<uint64_t, uint64_t> windows[] = {{4, 8}, {2, 8}, {4, 16}, {8, 16}};
  c.checkpoint_interval = windows[(b >> 1) & 3].first;
  c.log_window = windows[(b >> 1) & 3].second;
  c.client_auth = (b & 8) ? RequestAuth::signature : RequestAuth::authenticator;
  static constexpr uint64_t timeouts[] = {20, 5, 60, 1'000'000};
  c.view_change_timeout_ticks = timeouts[(b >> 4) & 3];
  static constexpr std::pair<uint32_t, uint64_t> batching[] = {{1, 2}, {4, 4}, {1, 1}, {8, 8}};
  c.batch_size_max = batching[(b >> 6) & 3].first;
  c.in_flight_max = batching[(b >> 6) & 3].second;
  c.status_interval_ticks = 3;
  return c;
}

// A digest no honest party computes, named by a salt.
Digest salted(uint8_t salt) {
  Digest d{};
  d.fill(salt);
  d[0] = 0xd1;
  return d;
}

class Harness {
 public:
  Harness(const ProtocolConfig& config, ReplicaId self)
      : config_(config), self_(self), write_ahead_() {
    for (ReplicaId r = 0; r < config_.n; r++) {
      replica_crypto_.push_back(
          fake::make_crypto(Principal::replica(r), universe, config_.n, client_count));
    }
    for (ClientId c = 0; c < client_count; c++) {
      client_crypto_.push_back(
          fake::make_crypto(Principal::client(c), universe, config_.n, client_count));
    }
    timestamps_.assign(client_count, 0);
    null_digest_ = batch_digest(own_crypto(), {});
    verifier_ = std::make_unique<Verifier>(config_, own_crypto());
    disk_ = std::make_unique<storage::MemoryStorage>();
    start(ReplicaOptions{});
  }

  void run(Input& in) {
    for (size_t i = 0; i < actions_max && !in.done(); i++) {
      const uint8_t op = in.byte();
      const auto action = static_cast<Action>((op & 0x7f) % static_cast<uint8_t>(Action::count));
      recovering_before_ = replica_->recovering();
      act(action, in);
      if (!(op & hold_effects)) drain();
      if (trace_) trace(action);
      check_bounds();
    }
    drain();
    check_bounds();
  }

 private:
  // CORE_FUZZ_TRACE=1 prints where the replica stands after each action
  // (to see what a seed or a crashing input does).
  void trace(Action action) const {
    static constexpr const char* names[] = {
        "request", "pre-prepare", "prepare", "commit", "checkpoint", "view-change", "new-view",
        "status", "fetch", "fetch-reply", "replay", "tick", "crash", "wipe"};
    const Replica& r = *replica_;
    const auto range = r.log_range().value_or(std::pair<Seq, Seq>{0, 0});
    std::fprintf(
        stderr, "%-12s view %llu%s executed %llu h %llu log %zu in [%llu, %llu] pending %zu%s%s\n",
        names[static_cast<size_t>(action)], static_cast<unsigned long long>(r.view()),
        r.view_changing() ? " (changing)" : "", static_cast<unsigned long long>(r.last_executed()),
        static_cast<unsigned long long>(r.low_watermark()), r.log_size(),
        static_cast<unsigned long long>(range.first), static_cast<unsigned long long>(range.second),
        r.pending_requests(), r.recovering() ? " recovering" : "",
        r.transferring() ? " transferring" : "");
  }

  // ---------------------------------------------------------------- host

  const Crypto& own_crypto() const { return *replica_crypto_[self_]; }
  const Crypto& crypto_of(ReplicaId r) const { return *replica_crypto_[r]; }

  // A new incarnation of the replica on the current disk, with a new
  // service (restored from the disk, if options say so); what it does on
  // starting (executing again what it recorded) is carried out.
  void start(ReplicaOptions options) {
    replica_.reset();
    store_ = std::make_unique<kv::Store>(service_partitions);
    journal_ = std::make_unique<storage::Journal>(*disk_);
    Result<std::unique_ptr<Replica>> replica =
        Replica::create(config_, self_, own_crypto(), *store_, std::move(options));
    if (!replica) violated("the replica cannot start from its own records: " + replica.reason());
    replica_ = std::move(replica).value();
    // What it executed beyond what reached the disk is forgotten; the rest
    // it executes again now, with the same batches.
    executed_.erase(executed_.upper_bound(replica_->last_executed()), executed_.end());
    next_executed_ = replica_->low_watermark() + 1;
    last_fresh_.clear();  // what ran above its checkpoint runs again now
    recovering_before_ = replica_->recovering();
    drain();
  }

  // The replica receives a message: the receive path of every host.
  void deliver(const Message& message, bool remember = true) {
    const Bytes frame = wire::encode(message);
    const std::optional<MessageType> type = wire::peek_type(frame);
    if (!type) violated("peek_type rejects an encoded message");
    Result<Message> decoded = wire::decode(frame);
    if (!decoded) return;  // beyond the decoder's limits: never reaches a core
    if (remember) remember_delivered(*decoded);
    Checks checks;
    if (replica_->refuse_size(*type, frame.size())) return;
    if (replica_->screens(*type)) {
      Replica::Screening screening = replica_->screen(*decoded);
      if (screening.taken) return;
      checks = std::move(screening.checks);
    }
    Result<Verified> verified = verifier_->verify(std::move(decoded).value(), std::move(checks));
    if (!verified) return;
    replica_->step(std::move(verified).value());
  }

  // Carries out the effects in order (the first `limit` of them; a crash
  // interrupts the rest), each Persist written to the disk.
  void drain(size_t limit = SIZE_MAX) {
    Effects effects = replica_->take_effects();
    if (effects.list.size() > limit) effects.list.resize(limit);
    write_ahead_.observe(self_, effects);
    if (write_ahead_.failure()) violated(write_ahead_.failure()->details);
    const bool recovering_after = replica_->recovering();
    for (const Effect& effect : effects.list) {
      std::visit(Overloaded{[&](const Persist& p) {
                              const Status written = journal_->append(p);
                              if (!written) {
                                violated("the memory disk refused: " + written.reason());
                              }
                            },
                            [&](const Send& s) { observe_send(s, recovering_after); },
                            [&](const Executed& x) { observe_executed(x); },
                            [&](const StateInstalled& x) { observe_installed(x); }},
                 effect);
    }
    recovering_before_ = recovering_after;
  }

  // The process dies after carrying out a prefix of its effects, with
  // some of its unsynced writes, and starts again from its disk.
  void crash(Input& in) {
    drain(in.byte());
    (void)replica_->take_effects();  // the rest dies with the process
    disk_->crash(in.choice(disk_->in_flight() + 1));
    storage::Journal reader(*disk_);
    Result<PersistedState> persisted = reader.load();
    if (!persisted) violated("its own records do not load: " + persisted.reason());
    ReplicaOptions options;
    options.restore = std::make_shared<const PersistedState>(std::move(persisted).value());
    start(std::move(options));
  }

  // The replica loses its disk and starts again, recovering.
  void wipe() {
    drain();
    // The lost incarnation serves the new one's state transfer.
    donor_ = std::move(replica_);
    donor_store_ = std::move(store_);
    journal_.reset();
    disk_ = std::make_unique<storage::MemoryStorage>();
    write_ahead_.forget(self_);
    votes_.clear();
    executed_.clear();
    ReplicaOptions options;
    options.recovering = true;
    options.recovery_nonce = ++incarnation_;
    start(options);
  }

  // ---------------------------------------------------------------- checks

  void observe_send(const Send& send, bool recovering_after) {
    const Message& m = *send.message;
    learn(m, send.to);
    remember(sent_, send.message);
    if (sender_of(m) != Principal::replica(self_)) return;  // a relay binds nobody
    std::visit(
        Overloaded{
            [&](const PrePrepare& pp) {
              vote(MessageType::pre_prepare, pp.view, pp.seq, pp.digest);
            },
            [&](const Prepare& p) { vote(MessageType::prepare, p.view, p.seq, p.digest); },
            [&](const Commit& c) { vote(MessageType::commit, c.view, c.seq, c.digest); },
            [&](const Checkpoint& c) { vote(MessageType::checkpoint, 0, c.seq, c.state_digest); },
            [&](const ViewChange& vc) {
              vote(MessageType::view_change, vc.new_view, 0,
                   own_crypto().digest(wire::auth_payload(vc)));
            },
            [&](const NewView& nv) {
              vote(MessageType::new_view, nv.view, 0, own_crypto().digest(wire::auth_payload(nv)));
              for (const PrePrepare& pp : nv.pre_prepares) {
                vote(MessageType::pre_prepare, pp.view, pp.seq, pp.digest);
              }
            },
            [](const auto&) {}},
        m);
    const MessageType type = type_of(m);
    if (recovering_before_ && recovering_after &&
        (type == MessageType::pre_prepare || type == MessageType::prepare ||
         type == MessageType::commit)) {
      violated("a recovering replica voted: " + sim::describe(m));
    }
  }

  void vote(MessageType type, View v, Seq s, const Digest& d) {
    auto [it, fresh] = votes_.try_emplace({type, v, s}, d);
    if (!fresh && it->second != d) {
      violated(std::string("two different ") + type_name(type) + "s for view " + std::to_string(v) +
               ", seq " + std::to_string(s));
    }
  }

  void observe_executed(const Executed& x) {
    if (x.seq != next_executed_) {
      violated("executed seq " + std::to_string(x.seq) + ", expected " +
               std::to_string(next_executed_));
    }
    next_executed_ = x.seq + 1;
    auto [it, fresh] = executed_.try_emplace(x.seq, x.batch_digest);
    if (!fresh && it->second != x.batch_digest) {
      violated("two different batches executed at seq " + std::to_string(x.seq));
    }
    // Exactly once: a request runs fresh only above its client's last.
    for (const ExecutedRequest& r : x.requests) {
      if (!r.fresh) continue;
      auto [last, first] = last_fresh_.try_emplace(r.client, r.timestamp);
      if (!first && r.timestamp <= last->second) {
        violated("client " + std::to_string(r.client) + "'s request " +
                 std::to_string(r.timestamp) + " ran fresh after " + std::to_string(last->second));
      }
      last->second = r.timestamp;
    }
  }

  void observe_installed(const StateInstalled& x) {
    if (x.seq < next_executed_) {
      violated("a state transfer to " + std::to_string(x.seq) + " below what it executed");
    }
    next_executed_ = x.seq + 1;
    last_fresh_.clear();  // the installed state's reply table says what ran
  }

  void check_bounds() const {
    const Replica& r = *replica_;
    const Seq h = r.low_watermark();
    const uint64_t L = config_.log_window, K = config_.checkpoint_interval;
    if (h % K != 0) violated("a low watermark off the checkpoint interval");
    if (r.high_watermark() != h + L) violated("H != h + L");
    if (h > r.last_executed()) violated("a stable checkpoint above what it executed");
    // The window's slots, and a NEW-VIEW's O where its min-s is above the
    // window (restore.cpp): at most L of each.
    if (r.log_size() > 2 * L) violated("log_size " + std::to_string(r.log_size()) + " > 2L");
    if (auto range = r.log_range(); range && range->first <= h) violated("a slot at or below h");
    if (r.pending_requests() > constants::pending_requests_max) violated("pending requests");
    if (r.checkpoints_held() > L / K + 1) violated("checkpoints held > L/K + 1");
    if (r.view_changes_held() > config_.n) violated("view-changes held > n");
    if (r.checkpoint_claims_held() > config_.n * constants::checkpoint_claims_per_replica_max) {
      violated("checkpoint claims held");
    }
  }

  // ---------------------------------------------------------------- model
  //
  // What the fuzzer knows, to draw interesting values: batches, digests
  // per sequence number, the replica's checkpoints and its last questions.

  void learn(const Message& m, const Destination& to) {
    std::visit(Overloaded{[&](const PrePrepare& pp) { learn_pre_prepare(pp); },
                          [&](const Checkpoint& c) {
                            if (c.sender == self_) own_checkpoints_[c.seq] = c;
                          },
                          [&](const ViewChange& vc) {
                            if (vc.sender == self_) own_view_changes_[vc.new_view] = vc;
                          },
                          [&](const Fetch& f) {
                            if (f.sender != self_ || to.kind != Destination::Kind::replica) return;
                            fetches_.emplace_back(f, to.id);
                            if (fetches_.size() > constants::fetch_in_flight_max) {
                              fetches_.pop_front();
                            }
                          },
                          [&](const StatusMessage& s) {
                            if (s.sender == self_ && s.recovering) recovery_nonce_ = s.nonce;
                          },
                          [&](const auto&) {}},
               m);
  }

  void learn_pre_prepare(const PrePrepare& pp) {
    auto& digests = digests_[pp.seq];
    if (std::find(digests.begin(), digests.end(), pp.digest) == digests.end() &&
        digests.size() < 4) {
      digests.push_back(pp.digest);
    }
    if (!pp.batch.empty() && batch_digest(own_crypto(), pp.batch) == pp.digest) {
      remember_batch(pp.batch, pp.digest);
    }
    PrePrepare bare = pp;
    bare.batch.clear();
    pre_prepares_[{pp.seq, pp.view}] = bare;
    while (digests_.size() > remembered_max) digests_.erase(digests_.begin());
    while (pre_prepares_.size() > remembered_max) pre_prepares_.erase(pre_prepares_.begin());
  }

  void remember_batch(const std::vector<Request>& batch, const Digest& digest) {
    for (const auto& known : batches_) {
      if (known.second == digest) return;
    }
    batches_.emplace_back(batch, digest);
    if (batches_.size() > remembered_max) batches_.pop_front();
  }

  void remember_delivered(const Message& m) {
    remember(delivered_, std::make_shared<const Message>(m));
    if (const auto* pp = std::get_if<PrePrepare>(&m)) learn_pre_prepare(*pp);
  }

  static void remember(std::deque<std::shared_ptr<const Message>>& ring,
                       std::shared_ptr<const Message> m) {
    ring.push_back(std::move(m));
    if (ring.size() > remembered_max) ring.pop_front();
  }

  // ---------------------------------------------------------------- values

  View pick_view(Input& in) {
    const View v = replica_->view();
    switch (in.choice(8)) {
      case 0: return v;
      case 1: return v + 1;
      case 2: return v == 0 ? 0 : v - 1;
      case 3: return v + 2;
      case 4: return v + in.byte();
      case 5: return 0;
      case 6: return v + constants::view_ahead_max + in.byte();
      default: return in.u64();
    }
  }

  Seq pick_seq(Input& in) {
    const Seq h = replica_->low_watermark(), e = replica_->last_executed();
    const uint64_t L = config_.log_window;
    switch (in.choice(10)) {
      case 0: return e + 1;
      case 1: return e + 2;
      case 2: return h + 1;
      case 3: return h + L;
      case 4: return h + L + 1;
      case 5: return h + in.choice(L + 1);
      case 6: return e;
      case 7: {
        const uint8_t i = in.byte();
        return digests_.empty() ? e + 1 : std::next(digests_.begin(), i % digests_.size())->first;
      }
      case 8: return h + 2 * L + in.byte();
      default: return in.u64();
    }
  }

  // A checkpoint's sequence number: mostly a multiple of K near the window.
  Seq pick_checkpoint_seq(Input& in) {
    const Seq h = replica_->low_watermark(), e = replica_->last_executed();
    const uint64_t K = config_.checkpoint_interval, L = config_.log_window;
    switch (in.choice(7)) {
      case 0: return own_checkpoints_.empty() ? h + K : own_checkpoints_.rbegin()->first;
      case 1: return h + K;
      case 2: return e / K * K;
      case 3: return h + K * (1 + in.choice(2 * L / K + 2));
      case 4: return (e / K + 1) * K;
      case 5: return h + 10 * L;
      default: return in.u64();
    }
  }

  // The state digest at checkpoint s: the replica's own when known.
  Digest pick_state_digest(Input& in, Seq s) {
    auto own = own_checkpoints_.find(s);
    switch (in.choice(4)) {
      case 0:
        if (own != own_checkpoints_.end()) return own->second.state_digest;
        [[fallthrough]];
      case 1:
        if (!own_checkpoints_.empty()) return own_checkpoints_.begin()->second.state_digest;
        [[fallthrough]];
      case 2: return salted(static_cast<uint8_t>(s));
      default: return salted(in.byte());
    }
  }

  // A batch digest for sequence number s.
  Digest pick_digest(Input& in, Seq s) {
    auto known = digests_.find(s);
    const size_t how = in.choice(6);
    const uint8_t detail = in.byte();
    switch (how) {
      case 0:
        if (known != digests_.end()) return known->second[detail % known->second.size()];
        [[fallthrough]];
      case 1:
        if (!batches_.empty()) return batches_[detail % batches_.size()].second;
        [[fallthrough]];
      case 2: return null_digest_;
      case 3:
        if (known != digests_.end()) return known->second.back();
        return null_digest_;
      default: return salted(detail);
    }
  }

  // A replica other than the replica under test, in turn (0 is the next
  // one), or `preferred`, or any (itself included: its own replayed).
  ReplicaId pick_sender(Input& in, std::optional<ReplicaId> preferred = std::nullopt) {
    const size_t c = in.choice(config_.n + 2);
    if (c == 0 && preferred) return *preferred;
    if (c <= 1) {
      do {
        rotation_ = (rotation_ + 1) % config_.n;
      } while (rotation_ == self_);
      return rotation_;
    }
    return static_cast<ReplicaId>(c - 2);
  }

  // The backups of view v other than the replica under test, in turn from `first`.
  std::vector<ReplicaId> backups(View v, size_t count, size_t first) const {
    std::vector<ReplicaId> out;
    for (size_t i = 0; i < config_.n && out.size() < count; i++) {
      const ReplicaId r = static_cast<ReplicaId>((first + i) % config_.n);
      if (r != config_.primary(v) && r != self_) out.push_back(r);
    }
    return out;
  }

  // Signs or MACs m as `sender`; rarely, a forgery that must not verify.
  template <typename M>
  void sign(Input& in, M& m, ReplicaId sender) {
    authenticate(m, crypto_of(sender), config_.n);
    if (in.rarely()) forge(m);
  }
  template <typename M>
  static void forge(M& m) {
    if constexpr (requires { m.signature; }) {
      m.signature[7] ^= 0x5a;
    } else {
      for (Mac& mac : m.authenticator) mac[0] ^= 0x5a;
    }
  }

  // ---------------------------------------------------------------- messages

  Request make_request(Input& in) {
    Request r;
    r.client = static_cast<ClientId>(in.choice(client_count));
    Timestamp& last = timestamps_[r.client];
    switch (in.choice(5)) {
      case 0: r.timestamp = ++last; break;
      case 1: r.timestamp = last; break;  // a retransmission
      case 2: r.timestamp = last == 0 ? 0 : last - 1; break;
      case 3: r.timestamp = (last += 2); break;
      default: r.timestamp = in.u64(); break;
    }
    kv::Op op;
    const uint8_t key = in.byte() % 4;
    op.key = Bytes{static_cast<uint8_t>('k'), key};
    switch (in.choice(4)) {
      case 0: {
        op.type = kv::OpType::put;
        const size_t size = 1 + in.choice(8);
        op.value = Bytes(size, in.byte());
        break;
      }
      case 1: op.type = kv::OpType::get; break;
      case 2:
        op.type = kv::OpType::append;
        op.value = Bytes{in.byte()};
        break;
      default:
        op.type = kv::OpType::null;
        op.reply_size = in.byte();
        break;
    }
    r.operation = kv::encode_op(op);
    const bool read_only = in.rarely();
    r.read_only = op.type == kv::OpType::get && read_only;
    const size_t replier = in.choice(config_.n + 2);
    r.replier = replier == 0 ? every_replica : static_cast<ReplicaId>(replier - 1);
    r.auth = config_.client_auth;
    if (in.rarely()) {
      r.auth =
          r.auth == RequestAuth::signature ? RequestAuth::authenticator : RequestAuth::signature;
    }
    authenticate(r, *client_crypto_[r.client], config_.n);
    if (in.rarely()) {
      if (r.auth == RequestAuth::signature) {
        r.signature[0] ^= 1;
      } else {
        for (Mac& mac : r.authenticator) mac[0] ^= 1;
      }
    }
    return r;
  }

  std::vector<Request> make_batch(Input& in) {
    std::vector<Request> batch;
    switch (in.choice(5)) {
      case 0: batch.push_back(make_request(in)); break;
      case 1:
        for (int i = 0; i < 2; i++) batch.push_back(make_request(in));
        break;
      case 2: {
        const uint8_t i = in.byte();
        if (!batches_.empty()) return batches_[i % batches_.size()].first;
        break;
      }
      case 3: break;  // empty: the null request's batch
      default:
        for (size_t i = 0, count = 3 + in.choice(config_.batch_size_max); i < count; i++) {
          batch.push_back(make_request(in));
        }
    }
    return batch;
  }

  PrePrepare make_pre_prepare(Input& in) {
    PrePrepare pp;
    pp.view = pick_view(in);
    pp.seq = pick_seq(in);
    pp.batch = make_batch(in);
    pp.digest = in.rarely() ? pick_digest(in, pp.seq) : batch_digest(own_crypto(), pp.batch);
    sign(in, pp, pick_sender(in, config_.primary(pp.view)));
    return pp;
  }

  // A PREPARE or COMMIT (same fields).
  template <typename M>
  M make_vote(Input& in) {
    M m;
    m.view = pick_view(in);
    m.seq = pick_seq(in);
    m.digest = pick_digest(in, m.seq);
    sign(in, m, pick_sender(in));
    return m;
  }

  Checkpoint make_checkpoint(Seq s, const Digest& d, ReplicaId sender) const {
    Checkpoint c;
    c.seq = s;
    c.state_digest = d;
    authenticate(c, crypto_of(sender), config_.n);
    return c;
  }

  // C: 2f+1 CHECKPOINTs for (s, d) from distinct replicas (the replica's
  // own real one first when it has it), or rarely a proof short, mixed or
  // with a forged signature.
  std::vector<Checkpoint> make_proof(Input& in, Seq s, const Digest& d) {
    size_t count = config_.quorum();
    switch (in.choice(5)) {
      case 1: count = config_.weak_quorum(); break;
      case 2: count = config_.n; break;
      case 3: count = config_.quorum() - 1; break;
      default: break;
    }
    const bool mixed = in.rarely(), forged = in.rarely();
    std::vector<Checkpoint> proof;
    auto own = own_checkpoints_.find(s);
    if (own != own_checkpoints_.end() && own->second.state_digest == d) {
      proof.push_back(own->second);
    }
    for (ReplicaId r = 0; r < config_.n && proof.size() < count; r++) {
      if (r != self_) proof.push_back(make_checkpoint(s, d, r));
    }
    if (mixed && !proof.empty()) proof.back() = make_checkpoint(s, salted(1), proof.back().sender);
    if (forged && !proof.empty()) forge(proof.back());
    return proof;
  }

  // A prepared certificate for seq s from a view below `below`: mostly of
  // the pre-prepare the fuzzer knows for s (of its latest view).
  PreparedCertificate make_certificate(Input& in, Seq s, View below) {
    const size_t how = in.choice(3);
    View v = below == 0 ? 0 : below - 1;
    Digest d = pick_digest(in, s);
    if (how == 1) v = pick_view(in);
    auto known = pre_prepares_.lower_bound({s + 1, 0});
    if (how == 0 && known != pre_prepares_.begin() && std::prev(known)->first.first == s &&
        std::prev(known)->second.view < below) {
      v = std::prev(known)->second.view;
      d = std::prev(known)->second.digest;
    }
    size_t count = 2 * config_.f;
    if (in.rarely()) count = in.choice(config_.n + 1);
    const bool forged = in.rarely();
    PreparedCertificate cert;
    cert.pre_prepare.view = v;
    cert.pre_prepare.seq = s;
    cert.pre_prepare.digest = d;
    authenticate(cert.pre_prepare, crypto_of(config_.primary(v)), config_.n);
    for (ReplicaId r = 0; r < config_.n && cert.prepares.size() < count; r++) {
      if (r == config_.primary(v)) continue;
      Prepare p{v, s, d, 0, {}};
      authenticate(p, crypto_of(r), config_.n);
      cert.prepares.push_back(p);
    }
    if (forged && !cert.prepares.empty()) forge(cert.prepares.back());
    return cert;
  }

  ViewChange make_view_change(Input& in, ReplicaId sender, View new_view) {
    ViewChange vc;
    vc.new_view = new_view;
    Digest stable_digest{};
    switch (in.choice(3)) {
      case 0:  // the replica's latest checkpoint, or 0
        if (!own_checkpoints_.empty()) {
          vc.stable_seq = own_checkpoints_.rbegin()->first;
          stable_digest = own_checkpoints_.rbegin()->second.state_digest;
        }
        break;
      case 1: break;
      default:
        vc.stable_seq = pick_checkpoint_seq(in);
        stable_digest = pick_state_digest(in, vc.stable_seq);
    }
    vc.checkpoint_proof = make_proof(in, vc.stable_seq, stable_digest);
    const bool proof_for_zero = in.rarely();  // a proof where none belongs
    if (vc.stable_seq == 0 && !proof_for_zero) vc.checkpoint_proof.clear();
    const size_t certificates = in.choice(5);
    Seq s = vc.stable_seq;
    for (size_t i = 0; i < certificates; i++) {
      s += 1 + in.choice(3);
      const bool beyond = in.rarely();
      if (s - vc.stable_seq > config_.log_window && !beyond) break;
      vc.prepared.push_back(make_certificate(in, s, new_view));
    }
    sign(in, vc, sender);
    return vc;
  }

  // NEW-VIEW(v, V, O) from v's primary: V of 2f+1 VIEW-CHANGEs, O what V implies
  // (PBFT.md, "View change"), or rarely not quite.
  NewView make_new_view(Input& in) {
    NewView nv;
    switch (in.choice(4)) {
      case 0: nv.view = replica_->view_changing() ? replica_->view() : replica_->view() + 1; break;
      case 1: nv.view = replica_->view() + 2; break;
      case 2: nv.view = replica_->view(); break;
      default: nv.view = pick_view(in);
    }
    const ReplicaId primary = config_.primary(nv.view);
    size_t count = config_.quorum();
    if (in.rarely()) count = in.choice(config_.n + 1);
    const bool with_own = in.choice(2) == 0;
    for (ReplicaId r = 0; r < config_.n && nv.view_changes.size() < count; r++) {
      const ReplicaId sender = static_cast<ReplicaId>((primary + r) % config_.n);
      if (sender != self_) nv.view_changes.push_back(make_view_change(in, sender, nv.view));
    }
    if (auto own = own_view_changes_.find(nv.view); own != own_view_changes_.end() && with_own) {
      nv.view_changes.insert(nv.view_changes.begin(), own->second);
      nv.view_changes.resize(std::max<size_t>(count, 1));
    }
    // O: min-s the highest stable checkpoint in V; each seq up to max-s
    // the certificate of the highest view, or the null request.
    Seq min_s = 0, max_s = 0;
    for (const ViewChange& vc : nv.view_changes) min_s = std::max(min_s, vc.stable_seq);
    std::map<Seq, std::pair<View, Digest>> chosen;
    for (const ViewChange& vc : nv.view_changes) {
      for (const PreparedCertificate& cert : vc.prepared) {
        const PrePrepare& pp = cert.pre_prepare;
        if (pp.seq <= min_s) continue;
        max_s = std::max(max_s, pp.seq);
        auto [it, fresh] = chosen.try_emplace(pp.seq, pp.view, pp.digest);
        if (!fresh && pp.view > it->second.first) it->second = {pp.view, pp.digest};
      }
    }
    for (Seq s = min_s + 1; s <= max_s && s - min_s <= 2 * config_.log_window; s++) {
      PrePrepare pp;
      pp.view = nv.view;
      pp.seq = s;
      auto it = chosen.find(s);
      pp.digest = it == chosen.end() ? null_digest_ : it->second.second;
      nv.pre_prepares.push_back(pp);
    }
    // Rarely O is not what V implies: one digest changed, or one missing.
    const bool changed = in.rarely();
    const size_t which = in.byte();
    const Digest other = pick_digest(in, min_s + 1 + which);
    const bool shortened = in.rarely();
    if (changed && !nv.pre_prepares.empty()) {
      nv.pre_prepares[which % nv.pre_prepares.size()].digest = other;
    }
    if (shortened && !nv.pre_prepares.empty()) nv.pre_prepares.pop_back();
    for (PrePrepare& pp : nv.pre_prepares) authenticate(pp, crypto_of(primary), config_.n);
    sign(in, nv, pick_sender(in, primary));
    return nv;
  }

  StatusMessage make_status(Input& in) {
    StatusMessage s;
    s.view = pick_view(in);
    s.last_executed = pick_seq(in);
    s.last_stable = in.choice(2) == 0 ? replica_->low_watermark() : pick_checkpoint_seq(in);
    const uint8_t flags = in.byte();
    s.recovering = flags & 1;
    s.view_changing = flags & 2;
    switch (in.choice(3)) {
      case 0: s.nonce = 0; break;
      case 1: s.nonce = recovery_nonce_; break;  // an answer to the replica's recovery
      default: s.nonce = in.u64();
    }
    // Fresh (above every earlier one): stale ones come from the replay
    // action. Not drawn from the input, so the seeds' layout stays.
    s.counter = ++freshness_counter_;
    sign(in, s, pick_sender(in));
    return s;
  }

  Fetch make_fetch(Input& in) {
    Fetch f;
    switch (in.choice(3)) {
      case 0: f.checkpoint = own_checkpoints_.empty() ? 0 : own_checkpoints_.rbegin()->first; break;
      case 1: f.checkpoint = replica_->low_watermark(); break;
      default: f.checkpoint = pick_checkpoint_seq(in);
    }
    f.level = in.choice(5);
    f.index = in.choice(3) == 2 ? in.u64() : in.byte();
    switch (in.choice(3)) {
      case 0: f.offset = 0; break;
      case 1: f.offset = in.byte(); break;
      default: f.offset = in.u64();
    }
    f.counter = ++freshness_counter_;
    sign(in, f, pick_sender(in));
    return f;
  }

  // The answer of the replica's previous incarnation (the donor) to `f`,
  // as `server` would send it: real state for a state transfer.
  std::optional<FetchReply> ask_donor(const Fetch& f, ReplicaId server) {
    if (donor_ == nullptr) return std::nullopt;
    Fetch asked = f;
    authenticate(asked, crypto_of(server), config_.n);
    Result<Verified> verified = verifier_->verify(Message(asked));
    if (!verified) violated("a FETCH the fuzzer signed does not verify");
    donor_->step(std::move(verified).value());
    for (const Send& send : donor_->take_effects().all<Send>()) {
      if (const auto* answer = std::get_if<FetchReply>(send.message.get())) {
        FetchReply reply = *answer;
        authenticate(reply, crypto_of(server), config_.n);
        return reply;
      }
    }
    return std::nullopt;
  }

  // An answer to one of the replica's last FETCHes (from whom it asked,
  // with real state when the donor has it), mostly.
  FetchReply make_fetch_reply(Input& in) {
    FetchReply reply;
    // Everything is read first: how much is read must not depend on the
    // replica's state.
    const bool answer = in.choice(4) != 3;
    ReplicaId sender = pick_sender(in);
    reply.checkpoint = pick_checkpoint_seq(in);
    reply.level = in.choice(4);
    reply.index = in.byte();
    reply.offset = in.byte();
    std::vector<Digest> digests(in.choice(constants::state_tree_fanout + 2));
    for (Digest& d : digests) d = salted(in.byte());
    const size_t data_size = in.byte();
    Bytes data(data_size, in.byte());
    const bool exact_size = in.choice(2) == 0;
    const uint64_t total_size = in.u64();
    const uint8_t which = in.byte();
    const bool forged = in.rarely();
    if (answer && !fetches_.empty()) {
      const auto it = fetches_.begin() + which % fetches_.size();
      const auto [f, server] = *it;
      fetches_.erase(it);
      if (std::optional<FetchReply> real = ask_donor(f, server)) {
        if (forged) forge(*real);
        return *real;
      }
      sender = server;
      reply.checkpoint = f.checkpoint;
      reply.level = f.level;
      reply.index = f.index;
      reply.offset = f.offset;
    }
    if (reply.level > 0) {
      reply.digests = std::move(digests);
    } else {
      reply.data = std::move(data);
      reply.total_size = exact_size ? reply.offset + reply.data.size() : total_size;
    }
    authenticate(reply, crypto_of(sender), config_.n);
    if (forged) forge(reply);
    return reply;
  }

  // A message seen before, again: one delivered, or one the replica sent.
  void replay(Input& in) {
    auto& ring = in.choice(2) == 0 ? delivered_ : sent_;
    const uint8_t i = in.byte();
    if (!ring.empty()) deliver(*ring[i % ring.size()], false);
  }

  void act(Action action, Input& in) {
    switch (action) {
      case Action::request: deliver(make_request(in)); break;
      case Action::pre_prepare: deliver(make_pre_prepare(in)); break;
      case Action::prepare: deliver(make_vote<Prepare>(in)); break;
      case Action::commit: deliver(make_vote<Commit>(in)); break;
      case Action::checkpoint: {
        const Seq s = pick_checkpoint_seq(in);
        const Digest d = pick_state_digest(in, s);
        Checkpoint c = make_checkpoint(s, d, pick_sender(in));
        if (in.rarely()) forge(c);
        deliver(c);
        break;
      }
      case Action::view_change: {
        const ReplicaId sender = pick_sender(in);
        const View v = in.choice(2) == 0 ? replica_->view() + 1 : pick_view(in);
        deliver(make_view_change(in, sender, v));
        break;
      }
      case Action::new_view: deliver(make_new_view(in)); break;
      case Action::status: deliver(make_status(in)); break;
      case Action::fetch: deliver(make_fetch(in)); break;
      case Action::fetch_reply: deliver(make_fetch_reply(in)); break;
      case Action::replay: replay(in); break;
      case Action::tick: {
        const size_t ticks =
            in.choice(4) == 3 ? config_.view_change_timeout_ticks : 1 + in.choice(8);
        for (size_t t = 0; t < ticks && t < 64; t++) replica_->tick();
        break;
      }
      case Action::crash: crash(in); break;
      case Action::wipe: wipe(); break;
      case Action::count: break;
    }
  }

  const ProtocolConfig config_;
  const ReplicaId self_;
  std::vector<std::unique_ptr<Crypto>> replica_crypto_;  // index = replica id
  std::vector<std::unique_ptr<Crypto>> client_crypto_;   // index = client id
  Digest null_digest_{};

  // The host of the replica under test.
  std::unique_ptr<Verifier> verifier_;
  std::unique_ptr<storage::MemoryStorage> disk_;
  std::unique_ptr<storage::Journal> journal_;
  std::unique_ptr<kv::Store> store_;
  std::unique_ptr<Replica> replica_;
  uint64_t incarnation_ = 0;
  // The incarnation before the last wipe, which answers FETCHes.
  std::unique_ptr<kv::Store> donor_store_;
  std::unique_ptr<Replica> donor_;
  const bool trace_ = std::getenv("CORE_FUZZ_TRACE") != nullptr;

  // The invariants' ledgers.
  sim::WriteAheadChecker write_ahead_;
  std::map<std::tuple<MessageType, View, Seq>, Digest> votes_;  // what it sent, per lineage
  std::map<Seq, Digest> executed_;            // what it executed (and did not forget)
  std::map<ClientId, Timestamp> last_fresh_;  // per client, the last request run fresh
  Seq next_executed_ = 1;
  bool recovering_before_ = false;

  // The model.
  std::vector<Timestamp> timestamps_;  // per client, the last one used
  std::deque<std::pair<std::vector<Request>, Digest>> batches_;
  std::map<Seq, std::vector<Digest>> digests_;               // batch digests seen per seq
  std::map<std::pair<Seq, View>, PrePrepare> pre_prepares_;  // seen, without batches
  std::map<Seq, Checkpoint> own_checkpoints_;                // the replica's CHECKPOINTs
  std::map<View, ViewChange> own_view_changes_;              // the replica's VIEW-CHANGEs
  std::deque<std::pair<Fetch, ReplicaId>> fetches_;          // its last FETCHes, and to whom
  uint64_t recovery_nonce_ = 0;                              // its last recovering STATUS's
  uint64_t freshness_counter_ = 0;  // STATUS and FETCH counters, each above the last
  std::deque<std::shared_ptr<const Message>> delivered_;
  std::deque<std::shared_ptr<const Message>> sent_;
  ReplicaId rotation_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const ProtocolConfig config = make_config(in.byte());
  if (Status valid = config.validate(); !valid)
    violated("a fuzz config is invalid: " + valid.reason());
  const ReplicaId self = static_cast<ReplicaId>(in.byte() % config.n);
  Harness harness(config, self);
  harness.run(in);
  return 0;
}
