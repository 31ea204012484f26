// The seeded random generator: the simulator's only source of randomness,
// and the load generator's (pbft bench's key-value workload). A xoshiro256**
// generator with its own bounded-uniform and probability functions. The std::
// distributions are implementation-defined (libstdc++ and libc++ draw
// differently), so a seed would not replay across standard libraries; these
// functions are specified here and give the same numbers everywhere.
//
// Thread safety: none; one simulation (or one load generator) owns one Random.
#pragma once

#include <array>
#include <cstdint>

namespace pbft {

class Random {
 public:
  // The state is expanded from the seed with splitmix64, as the xoshiro
  // authors recommend, so that nearby seeds give unrelated streams.
  explicit Random(uint64_t seed);

  // The next 64 uniformly random bits.
  uint64_t next();

  // Uniform in [0, bound), without modulo bias. bound must be > 0.
  uint64_t uniform(uint64_t bound);
  // Uniform in [low, high] (inclusive). Requires low <= high.
  uint64_t uniform_between(uint64_t low, uint64_t high);
  // True with probability p (p <= 0: never; p >= 1: always).
  bool chance(double p);

 private:
  std::array<uint64_t, 4> state_;
};

}  // namespace pbft
