// Encode and decode cost of the messages on the normal-case path
// (include/pbft/wire.h). Tags are filler bytes: the codec does not look at
// them, and crypto has its own benchmark. Requests carry an authenticator for
// n = 4, the default client authentication (config.h).
//
//   build/bench/wire_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <array>
#include <string>
#include <vector>

#include "pbft/messages.h"
#include "pbft/wire.h"

namespace pbft {
namespace {

constexpr uint32_t n = 4;

template <size_t N>
std::array<uint8_t, N> filler(uint8_t seed) {
  std::array<uint8_t, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<uint8_t>(seed + i);
  return a;
}

Request request(size_t operation_size, Timestamp t) {
  Request r;
  r.client = 7;
  r.timestamp = t;
  r.operation.assign(operation_size, 0x61);
  r.auth = RequestAuth::authenticator;
  for (uint32_t i = 0; i < n; ++i) r.authenticator.push_back(filler<mac_size>(static_cast<uint8_t>(i)));
  return r;
}

Message prepare() {
  return Prepare{3, 1000, filler<digest_size>(1), 2, filler<signature_size>(2)};
}

Message commit() {
  Commit c{3, 1000, filler<digest_size>(1), 2, {}};
  for (uint32_t i = 0; i < n; ++i) c.authenticator.push_back(filler<mac_size>(static_cast<uint8_t>(i)));
  return c;
}

Message pre_prepare(size_t operation_size) {
  PrePrepare pp{3, 1000, filler<digest_size>(1), 3, {}, filler<signature_size>(2)};
  for (Timestamp t = 0; t < 64; ++t) pp.batch.push_back(request(operation_size, t));
  return pp;
}

void encode_bench(benchmark::State& state, const Message& m) {
  size_t bytes = 0;
  for (auto _ : state) {
    Bytes frame = wire::encode(m);
    bytes = frame.size();
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["frame_bytes"] = static_cast<double>(bytes);
}

void decode_bench(benchmark::State& state, const Message& m) {
  const Bytes frame = wire::encode(m);
  for (auto _ : state) {
    Result<Message> decoded = wire::decode(frame);
    if (!decoded) {
      state.SkipWithError(decoded.reason().c_str());
      break;
    }
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
}

void BM_EncodePrepare(benchmark::State& s) { encode_bench(s, prepare()); }
void BM_DecodePrepare(benchmark::State& s) { decode_bench(s, prepare()); }
void BM_EncodeCommit(benchmark::State& s) { encode_bench(s, commit()); }
void BM_DecodeCommit(benchmark::State& s) { decode_bench(s, commit()); }
void BM_EncodeRequest(benchmark::State& s) {
  encode_bench(s, request(static_cast<size_t>(s.range(0)), 1));
}
void BM_DecodeRequest(benchmark::State& s) {
  decode_bench(s, request(static_cast<size_t>(s.range(0)), 1));
}
void BM_EncodePrePrepare64(benchmark::State& s) {
  encode_bench(s, pre_prepare(static_cast<size_t>(s.range(0))));
}
void BM_DecodePrePrepare64(benchmark::State& s) {
  decode_bench(s, pre_prepare(static_cast<size_t>(s.range(0))));
}

BENCHMARK(BM_EncodePrepare);
BENCHMARK(BM_DecodePrepare);
BENCHMARK(BM_EncodeCommit);
BENCHMARK(BM_DecodeCommit);
BENCHMARK(BM_EncodeRequest)->Arg(0)->Arg(1024);
BENCHMARK(BM_DecodeRequest)->Arg(0)->Arg(1024);
BENCHMARK(BM_EncodePrePrepare64)->Arg(0)->Arg(1024);
BENCHMARK(BM_DecodePrePrepare64)->Arg(0)->Arg(1024);

}  // namespace
}  // namespace pbft
