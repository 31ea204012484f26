// Closed-loop load over the TCP runtime, for `pbft bench`, `pbft demo` and
// the integration tests: sessions (client ids), each with one operation
// outstanding at a time (a PBFT client has at most one), each issuing its
// next operation as soon as the last one completes. Latencies go into a
// log-linear histogram; with record_history, every operation goes into a
// client history (history.h) that the linearizability checker can read.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/history.h"
#include "pbft/runtime.h"
#include "pbft/status.h"

namespace pbft::load {

// Latencies in microseconds: exact below 128 us, then 64 buckets per power
// of two (at most 1.6% above the true value), up to 2^40 us. Not
// thread-safe; merge copies taken under the owner's lock.
class LatencyHistogram {
 public:
  LatencyHistogram();
  void record(uint64_t us);
  void merge(const LatencyHistogram& other);
  void clear();
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / count_; }
  // The smallest recorded bucket's upper bound at or above fraction q of
  // the values (q in [0, 1]); 0 when empty.
  uint64_t percentile(double q) const;

 private:
  static constexpr int sub_bits = 6;  // 64 buckets per power of two
  static constexpr int exact_bits = 7;
  static constexpr int max_bits = 40;
  static size_t bucket_of(uint64_t us);
  static uint64_t bucket_upper(size_t bucket);
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

struct Workload {
  enum class Kind : uint8_t {
    // The simulator's key-value mix (src/workload/workload.h): get, put, append and
    // delete over keys k0..k{keys-1}, every written value unique, so the
    // history can be checked for linearizability.
    kv,
    // The papers' null operation (kv::OpType::null): request_size bytes of
    // argument, reply_size bytes of result, no state touched.
    null,
    // Puts of request_size-byte values to keys f0, f1, ... in turn, wrapping
    // at `keys`: fills the store with about keys x request_size bytes (to
    // measure what a large state costs, e.g. a restart). No history.
    fill,
  };
  Kind kind = Kind::kv;
  uint32_t keys = 32;
  uint32_t request_size = 0;
  uint32_t reply_size = 0;
  // null only: this fraction of the operations is sent as read-only.
  double read_only_ratio = 0;
  bool record_history = true;
  uint64_t seed = 42;
};

// What completed in some interval.
struct LoadWindow {
  uint64_t completed = 0;
  LatencyHistogram latency;
};

class LoadGenerator {
 public:
  // One ClientPool (one event-loop thread) per entry of `pools`, each with
  // its sessions; the sessions' ids must be distinct clients of the cluster
  // file. first_timestamp as for ClientPool::start.
  static Result<std::unique_ptr<LoadGenerator>> start(
      const ClusterConfig& cluster, std::vector<std::vector<runtime::ClientPool::Member>> pools,
      const Workload& workload, Timestamp first_timestamp);
  ~LoadGenerator();  // stops

  // Stops issuing; operations in flight stay unknown in the history.
  void stop();
  // Operations completed since the start.
  uint64_t completed() const;
  // What completed since the last call (or the start).
  LoadWindow take_window();
  // The history so far (record_history only), in call order.
  std::vector<history::Entry> history() const;
  // How long the oldest operation still in flight has waited so far, in
  // microseconds (0 when none is): a stuck operation's wait, which no
  // latency figure holds until it completes.
  uint64_t longest_wait_us() const;
  // The first client error (an operation that could not start, or a result
  // that does not decode).
  std::optional<std::string> error() const;
  size_t sessions() const;
  // Replicas to which the first pool's lowest ids have a connection.
  size_t replicas_connected() const;
  runtime::RuntimeCounters counters() const;  // summed over the pools

 private:
  struct Impl;
  explicit LoadGenerator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pbft::load
