// Seeds per second of the simulator: what bounds how many seeds CI sweeps.
#include <benchmark/benchmark.h>

#include "sim/simulator.h"

namespace pbft::sim {
namespace {

void BM_SimulateSeed(benchmark::State& state) {
  Options options;
  options.replicas = static_cast<uint32_t>(state.range(0));
  options.faults = state.range(1) != 0 ? FaultSet::all() : FaultSet{};
  uint64_t seed = 0;
  uint64_t ops = 0;
  for (auto _ : state) {
    options.seed = ++seed;
    const RunReport report = run(options);
    ops += report.ops_completed;
    benchmark::DoNotOptimize(report.trace_hash);
  }
  state.counters["seeds/s"] = benchmark::Counter(double(seed), benchmark::Counter::kIsRate);
  state.counters["ops/s"] = benchmark::Counter(double(ops), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SimulateSeed)
    ->ArgNames({"n", "faults"})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Args({7, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pbft::sim
