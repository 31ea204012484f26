#include "sim/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "sim/trace_hash.h"

namespace pbft::sim {

std::string format_ratio(uint64_t part, uint64_t whole) {
  if (whole == 0) return "n/a";
  return fmt::format("{:.1f}%", 100.0 * double(part) / double(whole));
}

std::string format_summary(const RunReport& r) {
  std::string out;
  out += fmt::format("seed             {}\n", r.seed);
  out += fmt::format("cluster          n={} f={}, {} clients\n", r.replicas, r.f, r.clients);
  out += fmt::format("faults           {} for {}, then reliable (liveness bound {})\n",
                     to_string(r.faults), format_seconds(r.fault_phase_ns),
                     format_seconds(r.liveness_bound_ns));
  out += fmt::format("operations       {} of {} completed\n", r.ops_completed, r.ops_total);
  out += fmt::format("virtual time     {}\n", format_seconds(r.virtual_time_ns));
  out += fmt::format(
      "messages         {} sent, {} delivered, {} dropped, {} partitioned, {} duplicated\n",
      r.messages_sent, r.messages_delivered, r.messages_dropped, r.messages_partitioned,
      r.messages_duplicated);
  if (r.decode_failures + r.verify_failures + r.misaddressed > 0) {
    out += fmt::format("rejected         {} undecodable, {} unverified, {} misaddressed\n",
                       r.decode_failures, r.verify_failures, r.misaddressed);
  }
  out += fmt::format("batches          {} executed, highest view {}\n", r.batches_executed,
                     r.view_max);
  if (r.crashes + r.wipes + r.lags > 0 || r.badstate_replica) {
    out += fmt::format("node faults      {} crashes ({} power cuts, {} batches replayed), {} "
                       "wipes, {} lags ({} beyond the window)",
                       r.crashes, r.power_cuts, r.restarts_replayed, r.wipes, r.lags,
                       r.lags_beyond_window);
    if (r.badstate_replica) {
      out += fmt::format("; r{} served bad state ({} replies corrupted)", *r.badstate_replica,
                         r.fetch_replies_corrupted);
    }
    out += fmt::format(", {} messages lost to them\n", r.messages_lost_node_faults);
  }
  if (!r.byzantine_replicas.empty() || !r.byzantine_clients.empty()) {
    std::string who;
    for (const auto& b : r.byzantine_replicas) {
      who += fmt::format("{}r{} ({})", who.empty() ? "" : ", ", b.replica,
                         fmt::join(b.behaviours, ", "));
    }
    for (const std::string& attack : r.byzantine_clients) {
      who += fmt::format("{}a client ({})", who.empty() ? "" : ", ", attack);
    }
    out += fmt::format("byzantine        {}; {} messages rewritten, forged or withheld, {} "
                       "attacking requests\n",
                       who, r.byzantine_lies, r.attacker_requests);
  }
  out += fmt::format("view changes     {} new views installed, {} view changes started ({} for a "
                     "slow primary); longest stall {}\n",
                     r.new_views_installed, r.view_changes_started, r.primaries_too_slow,
                     format_seconds(r.longest_stall_ns));
  if (r.conflict_ran) {
    out += fmt::format("conflict         stage {} of 3 reached in {} attempt{}, {}; {} messages "
                       "dropped by the conductor\n",
                       r.conflict_stage_reached, r.conflict_attempts,
                       r.conflict_attempts == 1 ? "" : "s",
                       r.conflict_both_certificates ? "both certificates in the last NEW-VIEW's V"
                                                    : "not both certificates in a NEW-VIEW's V",
                       r.messages_conducted);
  }
  out += fmt::format("checkpoints      stable up to s{}, peak log {} sequence numbers\n",
                     r.stable_checkpoint_max, r.peak_log_size);
  out += fmt::format(
      "state transfer   {} completed, {} bytes fetched, state {} bytes ({}), {} replies "
      "rejected\n",
      r.state_transfers, r.state_bytes_fetched, r.state_size_bytes,
      format_ratio(r.state_bytes_fetched, r.state_size_bytes), r.fetch_replies_rejected);
  for (const CheckerOutcome& c : r.checkers) {
    out += fmt::format("{:<17}{}", c.name, to_string(c.state));
    if (!c.details.empty()) out += ": " + c.details;
    out += '\n';
  }
  // The situations reached (sim/coverage.h), those that occurred only.
  std::string label = "coverage";
  for (size_t i = 0; i < situation_count; i++) {
    if (r.coverage.counts[i] == 0) continue;
    out += fmt::format("{:<17}{} {}\n", label, situations[i].name, r.coverage.counts[i]);
    label.clear();
  }
  out += fmt::format("trace hash       {}\n", format_trace_hash(r.trace_hash));
  out += fmt::format("result           {}\n", r.passed ? "passed" : "FAILED");
  return out;
}

std::string to_json_line(const RunReport& r) {
  nlohmann::ordered_json j;
  j["seed"] = r.seed;
  j["passed"] = r.passed;
  if (r.failure) {
    j["failure"] = {{"checker", r.failure->checker}, {"details", r.failure->details}};
  } else {
    j["failure"] = nullptr;
  }
  j["replicas"] = r.replicas;
  j["f"] = r.f;
  j["clients"] = r.clients;
  j["faults"] = to_string(r.faults);
  j["fault_phase_ns"] = r.fault_phase_ns;
  j["liveness_bound_ns"] = r.liveness_bound_ns;
  j["trace_hash"] = format_trace_hash(r.trace_hash);
  j["virtual_time_ns"] = r.virtual_time_ns;
  j["ops_total"] = r.ops_total;
  j["ops_completed"] = r.ops_completed;
  j["messages_sent"] = r.messages_sent;
  j["messages_delivered"] = r.messages_delivered;
  j["messages_dropped"] = r.messages_dropped;
  j["messages_partitioned"] = r.messages_partitioned;
  j["messages_duplicated"] = r.messages_duplicated;
  j["decode_failures"] = r.decode_failures;
  j["verify_failures"] = r.verify_failures;
  j["votes_unwanted"] = r.votes_unwanted;
  j["records_persisted"] = r.records_persisted;
  j["misaddressed"] = r.misaddressed;
  j["batches_executed"] = r.batches_executed;
  j["view_max"] = r.view_max;
  j["messages_lost_node_faults"] = r.messages_lost_node_faults;
  if (r.badstate_replica) {
    j["badstate_replica"] = *r.badstate_replica;
  } else {
    j["badstate_replica"] = nullptr;
  }
  j["crashes"] = r.crashes;
  j["power_cuts"] = r.power_cuts;
  j["restarts_replayed"] = r.restarts_replayed;
  j["syncs"] = r.syncs;
  j["wipes"] = r.wipes;
  j["lags"] = r.lags;
  j["lags_beyond_window"] = r.lags_beyond_window;
  j["fetch_replies_corrupted"] = r.fetch_replies_corrupted;
  j["byzantine_replicas"] = nlohmann::json::array();
  for (const auto& b : r.byzantine_replicas) {
    j["byzantine_replicas"].push_back({{"replica", b.replica}, {"behaviours", b.behaviours}});
  }
  j["byzantine_clients"] = r.byzantine_clients;
  j["byzantine_lies"] = r.byzantine_lies;
  j["attacker_requests"] = r.attacker_requests;
  j["conflict_ran"] = r.conflict_ran;
  j["conflict_attempts"] = r.conflict_attempts;
  j["conflict_stage_reached"] = r.conflict_stage_reached;
  j["conflict_both_certificates"] = r.conflict_both_certificates;
  j["messages_conducted"] = r.messages_conducted;
  j["new_views_installed"] = r.new_views_installed;
  j["view_changes_started"] = r.view_changes_started;
  j["primaries_too_slow"] = r.primaries_too_slow;
  j["longest_stall_ns"] = r.longest_stall_ns;
  j["stable_checkpoint_max"] = r.stable_checkpoint_max;
  j["peak_log_size"] = r.peak_log_size;
  j["state_transfers"] = r.state_transfers;
  j["state_bytes_fetched"] = r.state_bytes_fetched;
  j["state_size_bytes"] = r.state_size_bytes;
  j["fetch_replies_rejected"] = r.fetch_replies_rejected;
  nlohmann::ordered_json replicas = nlohmann::ordered_json::array();
  for (const RunReport::ReplicaOutcome& o : r.replica_outcomes) {
    replicas.push_back({{"crashes", o.crashes},
                        {"wipes", o.wipes},
                        {"lags", o.lags},
                        {"badstate", o.badstate},
                        {"restarted_recovering", o.restarted_recovering},
                        {"last_executed", o.last_executed},
                        {"low_watermark", o.low_watermark},
                        {"recovering", o.recovering},
                        {"state_transfers", o.state_transfers},
                        {"state_bytes_fetched", o.state_bytes_fetched},
                        {"fetch_replies_rejected", o.fetch_replies_rejected}});
  }
  j["replica_outcomes"] = std::move(replicas);
  j["history_entries"] = r.history.size();
  nlohmann::ordered_json checkers = nlohmann::ordered_json::object();
  for (const CheckerOutcome& c : r.checkers) {
    const char* state = c.state == CheckerOutcome::State::failed ? "failed" : to_string(c.state);
    checkers[c.name] = {{"state", state}, {"details", c.details}};
  }
  j["checkers"] = std::move(checkers);
  nlohmann::ordered_json coverage = nlohmann::ordered_json::object();
  for (size_t i = 0; i < situation_count; i++) {
    coverage[std::string(situations[i].name)] = r.coverage.counts[i];
  }
  j["coverage"] = std::move(coverage);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace pbft::sim
