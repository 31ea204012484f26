// The replica core's throughput without I/O: a whole n-replica cluster and
// closed-loop clients in one thread, messages passed in memory through the
// Verifier (encode/decode skipped), with the fake or the real crypto. What it
// measures is the protocol's own cost per operation: handlers, log, digests,
// authentication, execution of the KV store.

#include <benchmark/benchmark.h>

#include <deque>
#include <memory>

#include "pbft/client.h"
#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/replica.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"

namespace pbft {
namespace {

struct InMemoryCluster {
  struct Envelope {
    Principal from;
    Destination to;
    std::shared_ptr<const Message> message;
  };

  InMemoryCluster(uint32_t f, uint32_t client_count, bool real_crypto) {
    config.f = f;
    config.n = 3 * f + 1;
    config.batch_size_max = 64;
    config.in_flight_max = 16;
    config.log_window = constants::log_window_max;
    config.checkpoint_interval = 128;
    // MAC'd requests, as measured since this benchmark was written (the
    // default is signed requests).
    config.client_auth = RequestAuth::authenticator;
    std::shared_ptr<KeyDirectory> directory;
    std::vector<KeyPair> keys;
    if (real_crypto) {
      sodium::initialize();
      directory = std::make_shared<KeyDirectory>();
      for (uint32_t i = 0; i < config.n + client_count; i++) keys.push_back(sodium::generate_keypair());
      for (uint32_t i = 0; i < config.n; i++) directory->replicas.push_back(keys[i].public_key);
      for (uint32_t c = 0; c < client_count; c++) directory->clients[c] = keys[config.n + c].public_key;
    }
    auto make = [&](Principal p, uint32_t key_index) {
      if (!real_crypto) return fake::make_crypto(p, 7, config.n, client_count);
      auto c = sodium::make_crypto(p, keys[key_index].secret_key, directory);
      if (!c) std::abort();
      return std::move(c.value());
    };
    for (ReplicaId i = 0; i < config.n; i++) {
      crypto.push_back(make(Principal::replica(i), i));
      stores.push_back(std::make_unique<kv::Store>());
      verifiers.push_back(std::make_unique<Verifier>(config, *crypto.back()));
      replicas.push_back(std::move(Replica::create(config, i, *crypto.back(), *stores.back()).value()));
    }
    for (ClientId c = 0; c < client_count; c++) {
      client_crypto.push_back(make(Principal::client(c), config.n + c));
      client_verifiers.push_back(std::make_unique<Verifier>(config, *client_crypto.back()));
      clients.push_back(
          std::move(Client::create(config, c, *client_crypto.back(), ClientOptions{}).value()));
    }
  }

  void drain_replica(ReplicaId i) {
    Effects e = replicas[i]->take_effects();
    for (Send& s : e.all<Send>()) {
      queue.push_back({Principal::replica(i), s.to, std::move(s.message)});
    }
  }
  void drain_client(ClientId c) {
    ClientEffects e = clients[c]->take_effects();
    if (e.completed) completed++;
    for (Send& s : e.sends) queue.push_back({Principal::client(c), s.to, std::move(s.message)});
  }
  void deliver(bool to_client, uint32_t id, const Message& m) {
    messages++;
    if (to_client) {
      auto v = client_verifiers[id]->verify(m);
      if (v) clients[id]->step(v.value());
      drain_client(id);
    } else {
      auto v = verifiers[id]->verify(m);
      if (v) replicas[id]->step(v.value());
      drain_replica(id);
    }
  }
  // Runs until every client has completed `ops` more operations.
  void run_ops(uint64_t ops) {
    const uint64_t target = completed + ops;
    uint64_t next_value = 0;
    while (completed < target) {
      for (auto& c : clients) {
        if (!c->busy()) {
          kv::Op op{kv::OpType::put, Bytes{'k', static_cast<uint8_t>(c->id() % 16)},
                    Bytes(8, static_cast<uint8_t>(next_value++))};
          (void)c->submit(kv::encode_op(op));
          drain_client(c->id());
        }
      }
      while (!queue.empty()) {
        Envelope env = std::move(queue.front());
        queue.pop_front();
        switch (env.to.kind) {
          case Destination::Kind::replica: deliver(false, env.to.id, *env.message); break;
          case Destination::Kind::client: deliver(true, env.to.id, *env.message); break;
          case Destination::Kind::all_replicas:
            for (ReplicaId i = 0; i < config.n; i++) {
              if (env.from != Principal::replica(i)) deliver(false, i, *env.message);
            }
            break;
        }
        if (completed >= target) break;
      }
    }
  }

  ProtocolConfig config;
  std::vector<std::unique_ptr<Crypto>> crypto, client_crypto;
  std::vector<std::unique_ptr<kv::Store>> stores;
  std::vector<std::unique_ptr<Verifier>> verifiers, client_verifiers;
  std::vector<std::unique_ptr<Replica>> replicas;
  std::vector<std::unique_ptr<Client>> clients;
  std::deque<Envelope> queue;
  uint64_t completed = 0;
  uint64_t messages = 0;
};

// Operations per second through a whole cluster in one thread; the window
// limits a run to log_window_max batches until checkpoints move it, so each
// iteration uses a fresh cluster.
void BM_ClusterOps(benchmark::State& state) {
  const uint32_t f = static_cast<uint32_t>(state.range(0));
  const uint32_t clients = static_cast<uint32_t>(state.range(1));
  const bool real = state.range(2) != 0;
  const uint64_t ops = 2000;
  uint64_t messages = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto cluster = std::make_unique<InMemoryCluster>(f, clients, real);
    state.ResumeTiming();
    cluster->run_ops(ops);
    messages += cluster->messages;
    state.PauseTiming();
    cluster.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ops));
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ClusterOps)
    ->ArgNames({"f", "clients", "real_crypto"})
    ->Args({1, 1, 0})
    ->Args({1, 64, 0})
    ->Args({2, 64, 0})
    ->Args({1, 1, 1})
    ->Args({1, 64, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pbft
