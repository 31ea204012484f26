#include "sim/checkers.h"

#include <fmt/format.h>

#include "sim/trace_hash.h"

namespace pbft::sim {

namespace {

std::string short_digest(const Digest& d) { return to_hex(ByteView(d.data(), 8)); }

}  // namespace

std::string format_seconds(uint64_t ns) {
  return fmt::format("{}.{:03} s", ns / 1'000'000'000, ns / 1'000'000 % 1000);
}

std::string format_trace_hash(uint64_t hash) { return fmt::format("{:016x}", hash); }

void AgreementChecker::observe(ReplicaId replica, const Executed& executed) {
  auto [it, inserted] = decided_.try_emplace(
      executed.seq, Decision{executed.batch_digest, replica, executed.view});
  if (inserted || it->second.batch_digest == executed.batch_digest || failure_) return;
  const Decision& first = it->second;
  failure_ = Failure{
      checker_name::agreement,
      fmt::format("seq {}: replica {} executed batch {} (view {}), but replica {} executed "
                  "batch {} (view {})",
                  executed.seq, first.replica, short_digest(first.batch_digest), first.view,
                  replica, short_digest(executed.batch_digest), executed.view)};
}

void ExactlyOnceChecker::observe(ReplicaId replica, const Executed& executed) {
  if (failure_) return;
  std::map<ClientId, LastFresh>& last = last_fresh_.at(replica);
  for (const ExecutedRequest& request : executed.requests) {
    if (!request.fresh) continue;
    auto [it, inserted] =
        last.try_emplace(request.client, LastFresh{request.timestamp, executed.seq});
    if (inserted) continue;
    const LastFresh previous = it->second;
    if (request.timestamp > previous.timestamp) {
      it->second = LastFresh{request.timestamp, executed.seq};
      continue;
    }
    const char* what = request.timestamp == previous.timestamp
                           ? "executed the same request twice"
                           : "executed an old request after a newer one";
    failure_ = Failure{
        checker_name::exactly_once,
        fmt::format("replica {} {}: client {} timestamp {} at seq {}, after timestamp {} at "
                    "seq {}",
                    replica, what, request.client, request.timestamp, executed.seq,
                    previous.timestamp, previous.seq)};
    return;
  }
}

void ExecutionOrderChecker::observe(ReplicaId replica, const Executed& executed) {
  Seq& last = last_executed_.at(replica);
  if (!failure_ && executed.seq != last + 1) {
    const char* what = executed.seq <= last ? "re-executed" : "skipped to";
    failure_ = Failure{checker_name::execution_order,
                       fmt::format("replica {} {} seq {} after executing seq {}", replica, what,
                                   executed.seq, last)};
  }
  if (executed.seq > last) last = executed.seq;
}

void BoundedMemoryChecker::observe(ReplicaId replica, size_t log_size, size_t pending_requests) {
  if (failure_) return;
  if (log_size > log_window_) {
    failure_ = Failure{checker_name::bounded_memory,
                       fmt::format("replica {} holds {} sequence numbers in its log, more than "
                                   "the log window of {}",
                                   replica, log_size, log_window_)};
  } else if (pending_requests > pending_max_) {
    failure_ = Failure{checker_name::bounded_memory,
                       fmt::format("replica {} holds {} pending requests, more than {}", replica,
                                   pending_requests, pending_max_)};
  }
}

std::optional<Failure> check_linearizability(const std::vector<history::Entry>& entries,
                                             uint64_t search_budget) {
  const history::CheckResult result = history::check_linearizable(entries, search_budget);
  if (!result.complete) {
    // Not a verdict on the cluster, but a run whose history went unchecked
    // must not pass.
    return Failure{checker_name::linearizability,
                   fmt::format("the check of {} operations did not finish (search budget {} "
                               "states per key): {}",
                               entries.size(), search_budget, result.explanation)};
  }
  if (!result.linearizable) {
    return Failure{checker_name::linearizability, result.explanation};
  }
  return std::nullopt;
}

std::optional<Failure> check_liveness(const std::vector<ClientProgress>& clients,
                                      uint64_t fault_phase_end_ns, uint64_t bound_ns) {
  const uint64_t deadline = fault_phase_end_ns + bound_ns;
  const std::string bound = fmt::format("the bound is {} after the fault phase ended at {}",
                                        format_seconds(bound_ns),
                                        format_seconds(fault_phase_end_ns));
  for (const ClientProgress& c : clients) {
    if (c.completed < c.required) {
      std::string details = fmt::format("client {} completed {} of {} requests; {}", c.client,
                                        c.completed, c.required, bound);
      if (c.outstanding_since_ns) {
        details += fmt::format("; request {} was outstanding since {}", c.completed + 1,
                               format_seconds(*c.outstanding_since_ns));
      }
      return Failure{checker_name::liveness, std::move(details)};
    }
    if (c.last_completion_ns > deadline) {
      return Failure{checker_name::liveness,
                     fmt::format("client {} completed its last request at {}; {}", c.client,
                                 format_seconds(c.last_completion_ns), bound)};
    }
  }
  return std::nullopt;
}

}  // namespace pbft::sim
