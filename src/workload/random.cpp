#include "src/workload/random.h"

#include "pbft/assert.h"

namespace pbft {

namespace {

uint64_t splitmix64(uint64_t& x) {
  x += 0x9e3779b97f4a7c15ull;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Random::Random(uint64_t seed) {
  for (uint64_t& word : state_) word = splitmix64(seed);
}

uint64_t Random::next() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

uint64_t Random::uniform(uint64_t bound) {
  PBFT_ASSERT(bound > 0);
  // Reject the lowest (2^64 mod bound) values so that every residue is
  // equally likely; fewer than half the draws are ever rejected.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = next();
    if (r >= threshold) return r % bound;
  }
}

uint64_t Random::uniform_between(uint64_t low, uint64_t high) {
  PBFT_ASSERT(low <= high);
  if (high - low == UINT64_MAX) return next();
  return low + uniform(high - low + 1);
}

bool Random::chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  // 53 random bits make a double in [0, 1) exactly, so the comparison is
  // the same on every IEEE-754 machine.
  const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
  return u < p;
}

}  // namespace pbft
