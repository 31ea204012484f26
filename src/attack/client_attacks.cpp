// The client family: an authorised client of the cluster file (its own ids
// and keys, AttackOptions::clients) that sends what a client may send, with
// intent.
//
//   replay-requests  has a few requests executed, then re-sends them (the
//                    last one executed, whose reply a replica re-sends, and
//                    older ones, which get a stale reply) to every replica
//                    as fast as its links take them;
//   partial-auth     requests whose authenticator is right for the primary
//                    only (CorruptingCrypto), sent to the primary of the
//                    view a probe client's replies show;
//   memory-fill      closed-loop clients (a ClientPool) that put unique keys
//                    with the largest values allowed, and go on whatever the
//                    store answers (quota, full).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>

#include "pbft/assert.h"
#include "pbft/client.h"
#include "pbft/kv.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "src/attack/campaign.h"
#include "src/attack/corrupting_crypto.h"
#include "src/attack/links.h"

namespace pbft::attack {

namespace {

using std::chrono::milliseconds;

uint64_t wall_clock_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::unique_ptr<Crypto> crypto_of(const ClusterConfig& cluster,
                                  const runtime::ClientPool::Member& m) {
  Result<std::unique_ptr<Crypto>> crypto =
      sodium::make_crypto(Principal::client(m.id), m.secret_key,
                          std::make_shared<const KeyDirectory>(cluster.key_directory()));
  // Attacker::start checked the ids against the file; the keys are the
  // caller's (loaded against the file's public keys).
  PBFT_ASSERT(crypto.is_ok());
  return std::move(crypto).value();
}

// The papers' null operation with an argument that makes it unique.
Bytes null_operation(uint64_t tag) {
  kv::Op op{kv::OpType::null, {}, Bytes(8), 0};
  for (int i = 0; i < 8; i++) op.value[i] = static_cast<uint8_t>(tag >> (8 * i));
  return kv::encode_op(op);
}

Request make_request(const ClusterConfig& cluster, ClientId client, Timestamp t,
                     const Crypto& crypto, Bytes operation) {
  Request r;
  r.client = client;
  r.timestamp = t;
  r.operation = std::move(operation);
  r.auth = cluster.protocol.client_auth;
  authenticate(r, crypto, cluster.protocol.n);
  return r;
}

// The attacker's own queues: deep enough to keep a socket busy.
constexpr runtime::QueueLimits attacker_queue{4096, 16 * 1024 * 1024};

// ----------------------------------------------------------- replay-requests

class ReplayRequests final : public Campaign {
 public:
  explicit ReplayRequests(Context& context)
      : cluster_(context.options.cluster),
        links_(context.io, cluster_, LinkIdentity::clients(context.options.clients),
               attacker_queue, [this](ReplicaId from, Bytes frame) { on_frame(from, frame); }),
        pump_(context.io, milliseconds(1), [this] { pump(); }) {
    for (const runtime::ClientPool::Member& m : context.options.clients) {
      members_.push_back(Member{m.id, crypto_of(cluster_, m), wall_clock_ns(), {}});
    }
  }

  void start() override {
    links_.start();
    pump_.start();
  }
  void stop() override {
    pump_.stop();
    links_.stop();
  }
  AttackCounters counters() const override {
    AttackCounters c = counters_;
    links_.add_to(c);
    return c;
  }

 private:
  // How many requests of each client are executed before the replays begin,
  // and how long the attacker waits for them at most.
  static constexpr size_t primed_max = 8;
  static constexpr auto priming_time_max = std::chrono::seconds(5);

  struct Member {
    ClientId id;
    std::unique_ptr<Crypto> crypto;
    Timestamp last;  // the last timestamp it used
    std::vector<std::shared_ptr<const Bytes>> executed;  // its requests that completed, encoded
  };

  // Priming: each member sends one request at a time to every replica and
  // the next once f+1 replicas answered it.
  void send_next(Member& m) {
    const Timestamp t = ++m.last;
    Request r = make_request(cluster_, m.id, t, *m.crypto, null_operation(t));
    auto frame = std::make_shared<const Bytes>(wire::encode(Message(std::move(r))));
    for (ReplicaId to = 0; to < cluster_.protocol.n; to++) links_.send(to, frame);
    counters_.requests_sent++;
    in_flight_[m.id] = frame;
  }

  void on_frame(ReplicaId from, const Bytes& frame) {
    if (replaying_) return;  // read and dropped: the replies are not the point now
    Result<Message> decoded = wire::decode(frame);
    if (!decoded) return;
    const auto* reply = std::get_if<Reply>(&*decoded);
    if (reply == nullptr) return;
    Member* m = member(reply->client);
    if (m == nullptr || reply->timestamp != m->last || !in_flight_.count(m->id)) return;
    std::set<ReplicaId>& answered = answers_[m->id];
    answered.insert(from);
    if (answered.size() < cluster_.protocol.f + 1) return;
    answers_.erase(m->id);
    counters_.requests_completed++;
    m->executed.push_back(in_flight_[m->id]);
    in_flight_.erase(m->id);
    if (m->executed.size() < primed_max) send_next(*m);
  }

  Member* member(ClientId id) {
    for (Member& m : members_) {
      if (m.id == id) return &m;
    }
    return nullptr;
  }

  void pump() {
    if (!replaying_) {
      if (!priming_started_) {
        // Once a link is up: requests sent before would be dropped.
        bool all_up = true;
        for (ReplicaId r = 0; r < cluster_.protocol.n; r++) all_up = all_up && links_.up(r);
        if (!all_up) return;
        priming_started_ = true;
        priming_since_ = std::chrono::steady_clock::now();
        for (Member& m : members_) send_next(m);
        return;
      }
      bool primed = true;
      for (const Member& m : members_) primed = primed && m.executed.size() >= primed_max;
      if (!primed && std::chrono::steady_clock::now() - priming_since_ < priming_time_max) return;
      for (const Member& m : members_) {
        replays_.insert(replays_.end(), m.executed.begin(), m.executed.end());
        // One still in flight is replayed too: a copy of a request being ordered.
        if (auto it = in_flight_.find(m.id); it != in_flight_.end()) replays_.push_back(it->second);
      }
      replaying_ = !replays_.empty();
      return;
    }
    // Every replica, as many replays as its link takes this millisecond.
    constexpr size_t per_link_per_pump = 256;
    for (ReplicaId to = 0; to < cluster_.protocol.n; to++) {
      for (size_t k = 0; k < per_link_per_pump; k++) {
        const std::shared_ptr<const Bytes>& frame = replays_[next_replay_++ % replays_.size()];
        if (links_.send(to, frame) != runtime::SendResult::queued) break;
        counters_.requests_sent++;
      }
    }
  }

  const ClusterConfig& cluster_;
  LinkSet links_;
  Ticker pump_;
  std::vector<Member> members_;
  std::map<ClientId, std::shared_ptr<const Bytes>> in_flight_;
  std::map<ClientId, std::set<ReplicaId>> answers_;
  std::vector<std::shared_ptr<const Bytes>> replays_;
  size_t next_replay_ = 0;
  bool priming_started_ = false;
  std::chrono::steady_clock::time_point priming_since_;
  bool replaying_ = false;
  AttackCounters counters_;
};

// -------------------------------------------------------------- partial-auth

class PartialAuth final : public Campaign {
 public:
  explicit PartialAuth(Context& context)
      : cluster_(context.options.cluster),
        links_(context.io, cluster_, LinkIdentity::clients(context.options.clients),
               attacker_queue, [this](ReplicaId, Bytes frame) { on_frame(frame); }),
        tick_(context.io, milliseconds(cluster_.tick_ms), [this] { tick(); }),
        attack_(context.io, milliseconds(2), [this] { send_partial(); }) {
    const std::vector<runtime::ClientPool::Member>& clients = context.options.clients;
    // The first client is the probe: a correct client whose replies tell
    // the view. The others attack.
    probe_crypto_ = crypto_of(cluster_, clients[0]);
    probe_verifier_ = std::make_unique<Verifier>(cluster_.protocol, *probe_crypto_);
    ClientOptions options;
    options.retransmit_ticks = cluster_.client_retransmit_ticks;
    options.retransmit_ticks_max = std::max<uint64_t>(cluster_.client_retransmit_ticks * 16, 1);
    options.first_timestamp = wall_clock_ns();
    Result<std::unique_ptr<Client>> probe =
        Client::create(cluster_.protocol, clients[0].id, *probe_crypto_, options);
    PBFT_ASSERT(probe.is_ok());
    probe_ = std::move(probe).value();
    for (size_t i = 1; i < clients.size(); i++) {
      forgers_.push_back(Forger{clients[i].id,
                                std::make_unique<CorruptingCrypto>(crypto_of(cluster_, clients[i])),
                                wall_clock_ns()});
    }
  }

  void start() override {
    links_.start();
    tick_.start();
    attack_.start();
  }
  void stop() override {
    attack_.stop();
    tick_.stop();
    links_.stop();
  }
  AttackCounters counters() const override {
    AttackCounters c = counters_;
    links_.add_to(c);
    return c;
  }

 private:
  // A client that sends partial authenticators.
  struct Forger {
    ClientId id;
    std::unique_ptr<CorruptingCrypto> crypto;
    Timestamp last;
  };

  // The probe: one correct request at a time, a new one at most every
  // probe_period, for the view its replies show.
  void tick() {
    probe_->tick();
    const auto now = std::chrono::steady_clock::now();
    if (!probe_->busy() && now - last_probe_ >= probe_period) {
      last_probe_ = now;
      (void)probe_->submit(null_operation(++probe_tag_));
    }
    drain_probe();
  }

  void drain_probe() {
    ClientEffects effects = probe_->take_effects();
    for (const Send& s : effects.sends) {
      auto frame = std::make_shared<const Bytes>(wire::encode(*s.message));
      for (ReplicaId to = 0; to < cluster_.protocol.n; to++) {
        if (s.to.kind == Destination::Kind::all_replicas || s.to.id == to) links_.send(to, frame);
      }
    }
    if (effects.completed && effects.completed->is_ok()) {
      view_ = std::max(view_, effects.completed->value().view);
      raise(counters_.view_seen, view_);
    }
  }

  void on_frame(const Bytes& frame) {
    Result<Message> decoded = wire::decode(frame);
    if (!decoded) return;
    const auto* reply = std::get_if<Reply>(&*decoded);
    if (reply == nullptr || reply->client != probe_->id() || !probe_->wants(*reply)) return;
    Result<Verified> verified = probe_verifier_->verify(std::move(decoded).value());
    if (!verified) return;
    probe_->step(verified.value());
    drain_probe();
  }

  // The next attacker's next request, right for the primary only, to it.
  void send_partial() {
    Forger& a = forgers_[next_forger_++ % forgers_.size()];
    const ReplicaId primary = cluster_.protocol.primary(view_);
    a.crypto->corrupt_all_but(primary, cluster_.protocol.n);
    a.last = std::max(a.last + 1, wall_clock_ns());
    Request r = make_request(cluster_, a.id, a.last, *a.crypto, null_operation(a.last));
    auto frame = std::make_shared<const Bytes>(wire::encode(Message(std::move(r))));
    if (links_.send(primary, frame) == runtime::SendResult::queued) counters_.requests_sent++;
  }

  static constexpr auto probe_period = milliseconds(100);

  const ClusterConfig& cluster_;
  LinkSet links_;
  Ticker tick_;
  Ticker attack_;
  std::unique_ptr<Crypto> probe_crypto_;
  std::unique_ptr<Verifier> probe_verifier_;
  std::unique_ptr<Client> probe_;
  std::chrono::steady_clock::time_point last_probe_;
  uint64_t probe_tag_ = 0;
  std::vector<Forger> forgers_;
  size_t next_forger_ = 0;
  View view_ = 0;
  AttackCounters counters_;
};

// --------------------------------------------------------------- memory-fill

class MemoryFill final : public Campaign {
 public:
  explicit MemoryFill(Context& context) : context_(context) {}

  void start() override {
    const AttackOptions& o = context_.options;
    Result<std::unique_ptr<runtime::ClientPool>> pool =
        runtime::ClientPool::start(o.cluster, o.clients, wall_clock_ns());
    if (!pool) return;  // counted as nothing sent
    pool_ = std::move(pool).value();
    for (size_t i = 0; i < pool_->size(); i++) submit(i);
  }
  void stop() override {
    stopped_ = true;
    if (!pool_) return;
    last_pool_counters_ = pool_->counters();
    pool_->stop();
  }
  AttackCounters counters() const override {
    AttackCounters c;
    const runtime::RuntimeCounters rc = pool_ && !stopped_ ? pool_->counters() : last_pool_counters_;
    c.frames_sent = rc.frames_sent;
    c.bytes_sent = rc.bytes_sent;
    c.frames_received = rc.frames_received;
    c.connect_attempts = rc.connect_attempts;
    // The pool's links: every attempt that did not fail connected.
    c.connections_opened = rc.connect_attempts - rc.connect_failures;
    c.requests_sent = sent_;
    c.requests_completed = ok_ + quota_ + full_ + other_;
    c.writes_ok = ok_;
    c.writes_quota = quota_;
    c.writes_full = full_;
    c.writes_refused_other = other_;
    return c;
  }

 private:
  // A put of a key never written before with the largest value a key may
  // have (kv::value_size_max; key and value fit operation_size_max).
  void submit(size_t index) {
    if (stopped_) return;
    const ClientId id = context_.options.clients[index].id;
    const std::string key = fmt::format("memory-fill/{}/{}", id, next_key_++);
    kv::Op op{kv::OpType::put, Bytes(key.begin(), key.end()), Bytes(kv::value_size_max, 'x'), 0};
    sent_++;
    pool_->submit(index, kv::encode_op(op), [this, index](Result<Completion> done) {
      on_done(index, std::move(done));
    });
  }

  // On the pool's thread.
  void on_done(size_t index, Result<Completion> done) {
    if (done) {
      Result<kv::OpResult> result = kv::decode_result(done->result);
      const kv::Code code = result ? result->code : kv::Code::malformed;
      (code == kv::Code::ok      ? ok_
       : code == kv::Code::quota ? quota_
       : code == kv::Code::full  ? full_
                                 : other_)++;
    } else {
      other_++;
    }
    submit(index);
  }

  Context& context_;
  std::unique_ptr<runtime::ClientPool> pool_;
  runtime::RuntimeCounters last_pool_counters_;
  // Written on the pool's thread, read on the attacker's.
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> next_key_{0}, sent_{0}, ok_{0}, quota_{0}, full_{0}, other_{0};
};

}  // namespace

std::unique_ptr<Campaign> make_client_campaign(Context& context) {
  switch (context.options.mode) {
    case Mode::replay_requests: return std::make_unique<ReplayRequests>(context);
    case Mode::partial_auth: return std::make_unique<PartialAuth>(context);
    case Mode::memory_fill: return std::make_unique<MemoryFill>(context);
    default: PBFT_ASSERT(false); return nullptr;
  }
}

}  // namespace pbft::attack
