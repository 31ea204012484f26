// How a run's report reads: a summary for people and a JSON object for
// tools (one line, so that many runs make a JSON-lines stream).
#pragma once

#include <string>

#include "sim/simulator.h"

namespace pbft::sim {

// Several lines: seed, cluster, faults, operations, virtual time, messages,
// batches, node faults, checkpoints and state transfer, each checker
// ok/FAILED/skipped with its details, the situations reached (those that
// occurred, with their counts), the trace hash. Ends with a newline.
std::string format_summary(const RunReport& report);

// part / whole as a percentage with one decimal ("2.4%"), "n/a" when whole is 0.
std::string format_ratio(uint64_t part, uint64_t whole);

// One JSON object on one line, without the history; no trailing newline.
// "coverage" maps every situation's name to its count, zeros included.
std::string to_json_line(const RunReport& report);

}  // namespace pbft::sim
