// The simulator's checkers: each watches one property of PBFT (PBFT.md,
// "What correct means") and, when it is violated, says which property and
// gives the details needed to find the cause. The execution checkers are
// fed online, one Executed effect at a time, so a violation is caught at the
// step that made it; linearizability and liveness are judged at the end of
// a run from the client history. Every checker keeps its first failure only:
// later ones are usually consequences of the first.
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pbft/history.h"
#include "pbft/replica.h"

namespace pbft::sim {

// A violated property: the checker's name and what it saw.
struct Failure {
  std::string checker;
  std::string details;
  friend bool operator==(const Failure&, const Failure&) = default;
};

// The checkers' names, as reports print them.
namespace checker_name {
inline constexpr const char* agreement = "agreement";
inline constexpr const char* exactly_once = "exactly-once";
inline constexpr const char* execution_order = "execution-order";
inline constexpr const char* bounded_memory = "bounded-memory";
inline constexpr const char* client_results = "client-results";
inline constexpr const char* linearizability = "linearizability";
inline constexpr const char* liveness = "liveness";
}  // namespace checker_name

// Agreement: no two replicas execute different batches (digests) at the
// same sequence number, whatever views they executed them in.
class AgreementChecker {
 public:
  void observe(ReplicaId replica, const Executed& executed);
  const std::optional<Failure>& failure() const { return failure_; }
  // Sequence numbers executed by at least one replica.
  size_t decided() const { return decided_.size(); }

 private:
  struct Decision {
    Digest batch_digest;
    ReplicaId replica;  // the first replica that executed it
    View view;
  };
  std::map<Seq, Decision> decided_;
  std::optional<Failure> failure_;
};

// Exactly-once: a replica executes a request fresh only if its timestamp is
// above every timestamp it executed fresh for that client before; so no
// (client, timestamp) runs twice and no old request runs after a newer one.
class ExactlyOnceChecker {
 public:
  explicit ExactlyOnceChecker(uint32_t replica_count) : last_fresh_(replica_count) {}
  void observe(ReplicaId replica, const Executed& executed);
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  struct LastFresh {
    Timestamp timestamp;
    Seq seq;  // where it executed
  };
  std::vector<std::map<ClientId, LastFresh>> last_fresh_;  // index = replica
  std::optional<Failure> failure_;
};

// Execution order: each replica executes sequence numbers 1, 2, 3, ... with
// no gap and no repeat ("batch s runs once every batch below s has run").
class ExecutionOrderChecker {
 public:
  explicit ExecutionOrderChecker(uint32_t replica_count) : last_executed_(replica_count, 0) {}
  void observe(ReplicaId replica, const Executed& executed);
  const std::optional<Failure>& failure() const { return failure_; }
  Seq last_executed(ReplicaId replica) const { return last_executed_.at(replica); }

 private:
  std::vector<Seq> last_executed_;  // index = replica
  std::optional<Failure> failure_;
};

// Bounded memory: whatever the network does, a replica's log holds at most
// the log window's sequence numbers and its pending queue at most
// constants::pending_requests_max requests (PBFT.md, "Bounded memory").
class BoundedMemoryChecker {
 public:
  BoundedMemoryChecker(uint64_t log_window, size_t pending_max)
      : log_window_(log_window), pending_max_(pending_max) {}
  void observe(ReplicaId replica, size_t log_size, size_t pending_requests);
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  uint64_t log_window_;
  size_t pending_max_;
  std::optional<Failure> failure_;
};

// Linearizability of the client history for the key-value service. A search
// that ran out of budget is a failure too: the history was not checked.
std::optional<Failure> check_linearizability(const std::vector<history::Entry>& entries,
                                             uint64_t search_budget);

// How far one client got.
struct ClientProgress {
  ClientId client = 0;
  uint32_t completed = 0;
  uint32_t required = 0;
  uint64_t last_completion_ns = 0;
  std::optional<uint64_t> outstanding_since_ns;  // the call time of an unfinished request
};

// Liveness: after the fault phase ends at fault_phase_end_ns, every client
// completes all its requests within bound_ns.
std::optional<Failure> check_liveness(const std::vector<ClientProgress>& clients,
                                      uint64_t fault_phase_end_ns, uint64_t bound_ns);

// Virtual nanoseconds as seconds with millisecond precision, e.g. "2.013 s".
std::string format_seconds(uint64_t ns);

}  // namespace pbft::sim
