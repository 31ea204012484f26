// Small helpers the simulator's test suites share.
#pragma once

#include <cstdint>
#include <string>

#include "pbft/messages.h"
#include "sim/simulator.h"

namespace pbft::sim::test {

// A digest whose every byte is b: distinct, readable digests for checkers.
inline Digest digest_of(uint8_t b) {
  Digest d{};
  d.fill(b);
  return d;
}

// The failed checker and its details, or "" for a run that passed.
inline std::string failure_of(const RunReport& report) {
  return report.failure ? report.failure->checker + ": " + report.failure->details : "";
}

}  // namespace pbft::sim::test
