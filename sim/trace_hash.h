// A 64-bit fingerprint of a run: every delivery (time, from, to, bytes) and
// every execution is folded in, in the order they happen. Two runs with the
// same seed and options must end with the same value; a different value
// means the run diverged somewhere (nondeterminism in the simulator or the
// core). Not cryptographic: it only has to make accidental equality unlikely.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#include "pbft/types.h"

namespace pbft::sim {

class TraceHash {
 public:
  void add(uint64_t word) {
    state_ = rotl(state_ ^ (word * k1), 31) * k2;
  }

  void add(ByteView bytes) {
    add(bytes.size());
    size_t i = 0;
    // Words are read little-endian on every machine, so that a trace hash
    // means the same everywhere.
    for (; i + 8 <= bytes.size(); i += 8) {
      uint64_t word = 0;
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&word, bytes.data() + i, 8);
      } else {
        for (size_t j = 0; j < 8; j++) word |= uint64_t{bytes[i + j]} << (8 * j);
      }
      add(word);
    }
    uint64_t tail = 0;
    for (size_t j = 0; i + j < bytes.size(); j++) tail |= uint64_t{bytes[i + j]} << (8 * j);
    add(tail);
  }

  // The finalized value: the state run through a mixer so that every bit of
  // the input affects every bit of the output.
  uint64_t value() const {
    uint64_t z = state_;
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return z ^ (z >> 33);
  }

 private:
  static constexpr uint64_t k1 = 0x87c37b91114253d5ull;
  static constexpr uint64_t k2 = 0x4cf5ad432745937full;
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t state_ = 0x6a09e667f3bcc908ull;
};

// 16 lowercase hex digits.
std::string format_trace_hash(uint64_t hash);

}  // namespace pbft::sim
