// The cost of every Crypto primitive, real (libsodium) and fake, at the two
// sizes that matter: 64 B (a digest or a small protocol message) and 1 KiB
// (a request). Authenticators at n = 4 and n = 7 (f = 1 and f = 2).
//
//   build-x/bench/crypto_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "pbft/crypto.h"

namespace pbft {
namespace {

constexpr uint32_t replica_count = 7;  // enough for both authenticator sizes
constexpr uint32_t client_count = 2;

// One client and one replica of a universe: the client signs and MACs, the
// replica verifies (the direction requests travel).
struct Pair {
  std::unique_ptr<Crypto> client;
  std::unique_ptr<Crypto> replica;
};

struct Sodium {
  static const Pair& pair() {
    static const Pair p = [] {
      sodium::initialize();
      auto directory = std::make_shared<KeyDirectory>();
      std::vector<KeyPair> replicas;
      for (ReplicaId r = 0; r < replica_count; ++r) {
        replicas.push_back(sodium::generate_keypair());
        directory->replicas.push_back(replicas.back().public_key);
      }
      std::vector<KeyPair> clients;
      for (ClientId c = 0; c < client_count; ++c) {
        clients.push_back(sodium::generate_keypair());
        directory->clients[c] = clients.back().public_key;
      }
      Pair made;
      made.client =
          std::move(sodium::make_crypto(Principal::client(0), clients[0].secret_key, directory))
              .value();
      made.replica =
          std::move(sodium::make_crypto(Principal::replica(0), replicas[0].secret_key, directory))
              .value();
      return made;
    }();
    return p;
  }
};

struct Fake {
  static const Pair& pair() {
    static const Pair p = [] {
      Pair made;
      made.client = fake::make_crypto(Principal::client(0), 1, replica_count, client_count);
      made.replica = fake::make_crypto(Principal::replica(0), 1, replica_count, client_count);
      return made;
    }();
    return p;
  }
};

Bytes message(int64_t size) {
  Bytes b(static_cast<size_t>(size));
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 31 + 7);
  return b;
}

template <typename Impl>
void BM_digest(benchmark::State& state) {
  const Crypto& crypto = *Impl::pair().client;
  const Bytes data = message(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(crypto.digest(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

template <typename Impl>
void BM_sign(benchmark::State& state) {
  const Crypto& crypto = *Impl::pair().client;
  const Bytes data = message(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(crypto.sign(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

template <typename Impl>
void BM_verify(benchmark::State& state) {
  const Pair& pair = Impl::pair();
  const Bytes data = message(state.range(0));
  const Signature signature = pair.client->sign(data);
  for (auto _ : state) {
    bool ok = pair.replica->verify(Principal::client(0), data, signature);
    benchmark::DoNotOptimize(ok);
    if (!ok) state.SkipWithError("signature did not verify");
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

template <typename Impl>
void BM_mac(benchmark::State& state) {
  const Crypto& crypto = *Impl::pair().client;
  const Bytes data = message(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(crypto.mac(Principal::replica(0), data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

template <typename Impl>
void BM_verify_mac(benchmark::State& state) {
  const Pair& pair = Impl::pair();
  const Bytes data = message(state.range(0));
  const Mac tag = pair.client->mac(Principal::replica(0), data);
  for (auto _ : state) {
    bool ok = pair.replica->verify_mac(Principal::client(0), data, tag);
    benchmark::DoNotOptimize(ok);
    if (!ok) state.SkipWithError("MAC did not verify");
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// range(0) = message size, range(1) = n.
template <typename Impl>
void BM_make_authenticator(benchmark::State& state) {
  const Crypto& crypto = *Impl::pair().client;
  const Bytes data = message(state.range(0));
  const auto n = static_cast<uint32_t>(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(make_authenticator(crypto, n, data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// What a replica pays at start-up per principal in the directory (X25519 +
// key derivation), with n = 7 and 100 clients.
void BM_sodium_make_crypto(benchmark::State& state) {
  sodium::initialize();
  auto directory = std::make_shared<KeyDirectory>();
  const KeyPair self = sodium::generate_keypair();
  directory->replicas.push_back(self.public_key);
  for (ReplicaId r = 1; r < replica_count; ++r) {
    directory->replicas.push_back(sodium::generate_keypair().public_key);
  }
  constexpr ClientId clients = 100;
  for (ClientId c = 0; c < clients; ++c) {
    directory->clients[c] = sodium::generate_keypair().public_key;
  }
  for (auto _ : state) {
    auto crypto = sodium::make_crypto(Principal::replica(0), self.secret_key, directory);
    if (!crypto) state.SkipWithError(crypto.reason().c_str());
    benchmark::DoNotOptimize(crypto);
  }
  state.counters["principals"] = replica_count + clients;
}

void BM_fake_make_crypto(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(fake::make_crypto(Principal::replica(0), 1, replica_count, 100));
  }
  state.counters["principals"] = replica_count + 100;
}

#define PBFT_CRYPTO_BENCH(impl)                                \
  BENCHMARK_TEMPLATE(BM_digest, impl)->Arg(64)->Arg(1024);     \
  BENCHMARK_TEMPLATE(BM_sign, impl)->Arg(64)->Arg(1024);       \
  BENCHMARK_TEMPLATE(BM_verify, impl)->Arg(64)->Arg(1024);     \
  BENCHMARK_TEMPLATE(BM_mac, impl)->Arg(64)->Arg(1024);        \
  BENCHMARK_TEMPLATE(BM_verify_mac, impl)->Arg(64)->Arg(1024); \
  BENCHMARK_TEMPLATE(BM_make_authenticator, impl)->ArgsProduct({{64, 1024}, {4, 7}})

PBFT_CRYPTO_BENCH(Sodium);
PBFT_CRYPTO_BENCH(Fake);
BENCHMARK(BM_sodium_make_crypto)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_fake_make_crypto);

}  // namespace
}  // namespace pbft
