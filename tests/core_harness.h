// A scripted cluster for scenario tests of the replica and client cores, in
// the style of etcd raft's paper tests: the test decides which message is
// delivered, dropped or forged, then asserts on the effects.
//
// Every message a test delivers goes through a Verifier, like in production
// and in the simulator, so forged messages are rejected where they would be.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "pbft/client.h"
#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/replica.h"
#include "pbft/storage.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "sim/checkers.h"

namespace pbft::testing {

constexpr uint64_t universe = 42;

inline ProtocolConfig small_config(uint32_t f = 1) {
  ProtocolConfig c;
  c.f = f;
  c.n = 3 * f + 1;
  c.batch_size_max = 8;
  c.in_flight_max = 4;
  c.checkpoint_interval = 16;
  c.log_window = 32;
  c.status_interval_ticks = 5;
  // MAC authenticators, not the default signatures: the core tests script
  // the rules a MAC'd request meets (a backup that cannot authenticate a
  // request the primary ordered); signed_config() opts into signatures.
  c.client_auth = RequestAuth::authenticator;
  return c;
}

// Checkpoints every 4 sequence numbers, a window of 8, one request per
// batch and two in flight: checkpoints, transfers and restarts come quickly.
inline ProtocolConfig checkpoint_config() {
  ProtocolConfig c = small_config();
  c.checkpoint_interval = 4;
  c.log_window = 8;
  c.in_flight_max = 2;
  c.batch_size_max = 1;
  return c;
}

// `config` with the view-change timer set to `ticks` (the base timeout).
inline ProtocolConfig with_view_change_timeout(ProtocolConfig config, uint64_t ticks) {
  config.view_change_timeout_ticks = ticks;
  return config;
}

// A message in flight: who sent it, and to whom it goes.
struct Envelope {
  Principal from;
  Destination to;
  std::shared_ptr<const Message> message;
};

// Drop rules for Cluster::run: nothing, and everything to and from replica
// r (a crashed or silent replica).
inline auto no_drop() {
  return [](const Envelope&, bool, uint32_t) { return false; };
}
inline auto isolate(ReplicaId r) {
  return [r](const Envelope& e, bool to_client, uint32_t id) {
    return (!to_client && id == r) || e.from == Principal::replica(r);
  };
}

class Cluster {
 public:
  explicit Cluster(ProtocolConfig config = small_config(), uint32_t clients = 2)
      : config_(config) {
    for (ReplicaId i = 0; i < config_.n; i++) {
      crypto_.push_back(fake::make_crypto(Principal::replica(i), universe, config_.n, clients));
      stores_.push_back(std::make_unique<kv::Store>());
      disks_.push_back(std::make_unique<storage::MemoryStorage>());
      journals_.push_back(std::make_unique<storage::Journal>(*disks_.back()));
      verifiers_.push_back(std::make_unique<Verifier>(config_, *crypto_.back()));
      auto r = Replica::create(config_, i, *crypto_.back(), *stores_.back());
      EXPECT_TRUE(r.is_ok()) << r.status().reason();
      replicas_.push_back(std::move(r.value()));
    }
    for (ClientId c = 0; c < clients; c++) {
      client_crypto_.push_back(fake::make_crypto(Principal::client(c), universe, config_.n, clients));
      client_verifiers_.push_back(std::make_unique<Verifier>(config_, *client_crypto_.back()));
      auto cl = Client::create(config_, c, *client_crypto_.back(), ClientOptions{});
      EXPECT_TRUE(cl.is_ok()) << cl.status().reason();
      clients_.push_back(std::move(cl.value()));
    }
  }

  const ProtocolConfig& config() const { return config_; }
  Replica& replica(ReplicaId i) { return *replicas_[i]; }
  Client& client(ClientId c) { return *clients_[c]; }
  kv::Store& store(ReplicaId i) { return *stores_[i]; }
  const Crypto& crypto(ReplicaId i) const { return *crypto_[i]; }
  const Crypto& client_crypto(ClientId c) const { return *client_crypto_[c]; }

  // Delivers m to replica i through its verifier. Returns the verifier's
  // verdict: false means the replica never saw the message.
  bool deliver(ReplicaId i, const Message& m) {
    // The receive path of every host (Replica::screen): a message the core
    // takes unchecked counts as delivered.
    Message copy = m;
    Replica::Screening screening = replicas_[i]->screen(copy);
    if (screening.taken) return true;
    auto v = verifiers_[i]->verify(std::move(copy), std::move(screening.checks));
    if (!v) return false;
    replicas_[i]->step(v.value());
    return true;
  }
  bool deliver_to_client(ClientId c, const Message& m) {
    auto v = client_verifiers_[c]->verify(m);
    if (!v) return false;
    clients_[c]->step(v.value());
    return true;
  }

  // Drains replica i's effects into the in-flight queue, returns the sends.
  std::vector<Send> drain(ReplicaId i) {
    Effects e = replicas_[i]->take_effects();
    // Hosts carry effects out in order, each Persist a barrier; the harness
    // writes them to the replica's disk (synced at once) and checks that no
    // send came before its record.
    write_ahead_.observe(i, e);
    EXPECT_FALSE(write_ahead_.failure()) << write_ahead_.failure()->details;
    std::vector<Send> sends;
    for (Effect& effect : e.list) {
      std::visit(Overloaded{[&](Persist& p) {
                              const Status written = journals_[i]->append(p);
                              EXPECT_TRUE(written.is_ok()) << written.reason();
                            },
                            [&](Send& s) {
                              in_flight_.push_back({Principal::replica(i), s.to, s.message});
                              sends.push_back(std::move(s));
                            },
                            [&](Executed& x) { executed_[i].push_back(std::move(x)); },
                            [&](StateInstalled& x) { installed_[i].push_back(x); }},
                 effect);
    }
    return sends;
  }
  std::vector<Send> drain_client(ClientId c) {
    ClientEffects e = clients_[c]->take_effects();
    if (e.completed && *e.completed) completions_[c].push_back(e.completed->value());
    if (e.completed && !*e.completed) failures_[c].push_back(e.completed->reason());
    for (const Send& s : e.sends) in_flight_.push_back({Principal::client(c), s.to, s.message});
    return e.sends;
  }

  // Delivers everything in flight (and what that causes) until quiet.
  // drop(envelope, to_client, receiver) may veto single deliveries;
  // transform(message) may replace a message (a Byzantine sender's lie).
  template <typename Drop, typename Transform>
  void run(Drop drop, Transform transform) {
    for (ReplicaId i = 0; i < config_.n; i++) drain(i);
    for (ClientId c = 0; c < clients_.size(); c++) drain_client(c);
    while (!in_flight_.empty()) {
      Envelope env = in_flight_.front();
      in_flight_.pop_front();
      for_each_receiver(env, [&](bool to_client, uint32_t id) {
        if (drop(env, to_client, id)) return;
        const Message m = transform(env, *env.message);
        if (to_client) {
          deliver_to_client(id, m);
          drain_client(id);
        } else {
          deliver(id, m);
          drain(id);
        }
      });
    }
  }
  template <typename Drop>
  void run(Drop drop) {
    run(drop, [](const Envelope&, const Message& m) { return m; });
  }

  // Replaces replica i by a new one with an empty store, as after a restart
  // that lost the state.
  void restart_empty(ReplicaId i) {
    stores_[i] = std::make_unique<kv::Store>();
    disks_[i] = std::make_unique<storage::MemoryStorage>();
    journals_[i] = std::make_unique<storage::Journal>(*disks_[i]);
    ReplicaOptions options;
    options.recovering = true;
    options.recovery_nonce = ++restarts_;
    options.freshness_base = restarts_ << 40;  // above what the last incarnation used
    auto r = Replica::create(config_, i, *crypto_[i], *stores_[i], options);
    EXPECT_TRUE(r.is_ok()) << r.status().reason();
    replicas_[i] = std::move(r.value());
    executed_[i].clear();
  }
  // Replaces replica i by one restarted from its disk (after a crash that
  // kept everything written: the harness syncs every write). Fails (in
  // the test) if the replica cannot restart.
  void restart_from_disk(ReplicaId i) {
    (void)drain(i);
    stores_[i] = std::make_unique<kv::Store>();
    journals_[i] = std::make_unique<storage::Journal>(*disks_[i]);
    Result<PersistedState> persisted = journals_[i]->load();
    ASSERT_TRUE(persisted.is_ok()) << persisted.reason();
    ReplicaOptions options;
    options.restore = std::make_shared<const PersistedState>(std::move(persisted).value());
    options.freshness_base = ++restarts_ << 40;  // above what the last incarnation used
    auto r = Replica::create(config_, i, *crypto_[i], *stores_[i], options);
    ASSERT_TRUE(r.is_ok()) << r.status().reason();
    replicas_[i] = std::move(r.value());
    executed_[i].clear();
  }
  storage::MemoryStorage& disk(ReplicaId i) { return *disks_[i]; }
  void run() {
    run([](const Envelope&, bool, uint32_t) { return false; });
  }

  void tick_all(int ticks = 1) {
    for (int t = 0; t < ticks; t++) {
      for (auto& r : replicas_) r->tick();
      for (auto& c : clients_) c->tick();
    }
  }

  // Ticks everyone and delivers what follows (under drop) until done()
  // holds. Returns the ticks it took, or nullopt if it did not within
  // max_ticks.
  template <typename Done, typename Drop>
  std::optional<int> tick_until(Done done, Drop drop, int max_ticks = 1000) {
    for (int t = 0;; t++) {
      if (done()) return t;
      if (t == max_ticks) return std::nullopt;
      tick_all();
      run(drop);
    }
  }

  std::vector<Executed>& executed(ReplicaId i) { return executed_[i]; }
  std::vector<StateInstalled>& installed(ReplicaId i) { return installed_[i]; }
  std::vector<Completion>& completions(ClientId c) { return completions_[c]; }
  // Requests that failed (ClientEffects::completed with an error), by reason.
  std::vector<std::string>& failures(ClientId c) { return failures_[c]; }
  std::deque<Envelope>& in_flight() { return in_flight_; }

  // Signed or MAC'd messages as replica i would make them.
  PrePrepare make_pre_prepare(ReplicaId i, View v, Seq s, std::vector<Request> batch) const {
    PrePrepare pp;
    pp.view = v;
    pp.seq = s;
    pp.digest = batch_digest(*crypto_[i], batch);
    pp.batch = std::move(batch);
    authenticate(pp, *crypto_[i], config_.n);
    return pp;
  }
  Prepare make_prepare(ReplicaId i, View v, Seq s, const Digest& d) const {
    Prepare p{v, s, d, i, {}};
    authenticate(p, *crypto_[i], config_.n);
    return p;
  }
  Commit make_commit(ReplicaId i, View v, Seq s, const Digest& d) const {
    Commit c{v, s, d, i, {}};
    authenticate(c, *crypto_[i], config_.n);
    return c;
  }
  Checkpoint make_checkpoint(ReplicaId i, Seq s, const Digest& d) const {
    Checkpoint cp{s, d, i, {}};
    authenticate(cp, *crypto_[i], config_.n);
    return cp;
  }
  // A prepared certificate for (v, s, d): the pre-prepare of v's primary
  // (without its batch) and a prepare from each of `backups`.
  PreparedCertificate make_certificate(View v, Seq s, const Digest& d,
                                       const std::vector<ReplicaId>& backups) const {
    PreparedCertificate cert;
    const ReplicaId p = config_.primary(v);
    cert.pre_prepare = PrePrepare{v, s, d, p, {}, {}};
    authenticate(cert.pre_prepare, *crypto_[p], config_.n);
    for (ReplicaId b : backups) cert.prepares.push_back(make_prepare(b, v, s, d));
    return cert;
  }
  ViewChange make_view_change(ReplicaId i, View new_view, Seq stable_seq = 0,
                              std::vector<Checkpoint> proof = {},
                              std::vector<PreparedCertificate> prepared = {}) const {
    ViewChange vc;
    vc.new_view = new_view;
    vc.stable_seq = stable_seq;
    vc.checkpoint_proof = std::move(proof);
    vc.prepared = std::move(prepared);
    authenticate(vc, *crypto_[i], config_.n);
    return vc;
  }
  // NEW-VIEW(v, V, O) from replica i, O being i's pre-prepares (without
  // batches) for `order`.
  NewView make_new_view(ReplicaId i, View v, std::vector<ViewChange> view_changes,
                        const std::vector<std::pair<Seq, Digest>>& order) const {
    NewView nv;
    nv.view = v;
    nv.view_changes = std::move(view_changes);
    for (const auto& [s, d] : order) {
      PrePrepare pp{v, s, d, i, {}, {}};
      authenticate(pp, *crypto_[i], config_.n);
      nv.pre_prepares.push_back(std::move(pp));
    }
    authenticate(nv, *crypto_[i], config_.n);
    return nv;
  }
  StatusMessage make_status(ReplicaId i, View v, bool view_changing, Seq last_executed,
                            Seq last_stable) const {
    StatusMessage s;
    s.view = v;
    s.view_changing = view_changing;
    s.last_executed = last_executed;
    s.last_stable = last_stable;
    s.counter = ++status_counter_;  // fresh: each one above the last
    authenticate(s, *crypto_[i], config_.n);
    return s;
  }
  // D(the null request): the digest of the empty batch.
  Digest null_digest() const { return batch_digest(*crypto_[0], {}); }
  Request make_request(ClientId c, Timestamp t, const kv::Op& op) const {
    Request r;
    r.client = c;
    r.timestamp = t;
    r.operation = kv::encode_op(op);
    r.auth = config_.client_auth;
    authenticate(r, *client_crypto_.at(c), config_.n);
    return r;
  }

 private:
  template <typename F>
  void for_each_receiver(const Envelope& env, F f) {
    switch (env.to.kind) {
      case Destination::Kind::replica:
        f(false, env.to.id);
        break;
      case Destination::Kind::client:
        f(true, env.to.id);
        break;
      case Destination::Kind::all_replicas:
        for (ReplicaId i = 0; i < config_.n; i++) {
          if (env.from == Principal::replica(i)) continue;
          f(false, i);
        }
        break;
    }
  }

  ProtocolConfig config_;
  std::vector<std::unique_ptr<Crypto>> crypto_;
  std::vector<std::unique_ptr<kv::Store>> stores_;
  std::vector<std::unique_ptr<storage::MemoryStorage>> disks_;
  std::vector<std::unique_ptr<storage::Journal>> journals_;
  std::vector<std::unique_ptr<Verifier>> verifiers_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<std::unique_ptr<Crypto>> client_crypto_;
  std::vector<std::unique_ptr<Verifier>> client_verifiers_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::deque<Envelope> in_flight_;
  std::map<ReplicaId, std::vector<Executed>> executed_;
  sim::WriteAheadChecker write_ahead_;
  std::map<ReplicaId, std::vector<StateInstalled>> installed_;
  uint64_t restarts_ = 0;
  mutable uint64_t status_counter_ = 0;
  std::map<ClientId, std::vector<Completion>> completions_;
  std::map<ClientId, std::vector<std::string>> failures_;
};

// The sends of one type among effects.
template <typename T>
std::vector<T> sent(const std::vector<Send>& sends) {
  std::vector<T> out;
  for (const Send& s : sends) {
    if (const auto* m = std::get_if<T>(s.message.get())) out.push_back(*m);
  }
  return out;
}

inline kv::Op put(std::string key, std::string value) {
  return {kv::OpType::put, Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end())};
}
inline kv::Op get(std::string key) { return {kv::OpType::get, Bytes(key.begin(), key.end()), {}}; }

}  // namespace pbft::testing
