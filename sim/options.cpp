#include "sim/options.h"

#include <array>
#include <string>
#include <utility>

namespace pbft::sim {

namespace {

// The names of the faults in their canonical order, with the flag each sets.
constexpr std::array<std::pair<std::string_view, bool FaultSet::*>, 28> fault_names = {{
    {"drop", &FaultSet::drop},
    {"dup", &FaultSet::dup},
    {"reorder", &FaultSet::reorder},
    {"delay", &FaultSet::delay},
    {"partition", &FaultSet::partition},
    {"conflict", &FaultSet::conflict},
    {"crash", &FaultSet::crash},
    {"powerloss", &FaultSet::powerloss},
    {"wipe", &FaultSet::wipe},
    {"lag", &FaultSet::lag},
    {"badstate", &FaultSet::badstate},
    {"silent", &FaultSet::silent},
    {"equivocate", &FaultSet::equivocate},
    {"slow", &FaultSet::slow},
    {"censor", &FaultSet::censor},
    {"forge", &FaultSet::forge},
    {"replay", &FaultSet::replay},
    {"wrong-digest", &FaultSet::wrong_digest},
    {"bad-checkpoint", &FaultSet::bad_checkpoint},
    {"bad-view-change", &FaultSet::bad_view_change},
    {"bad-new-view", &FaultSet::bad_new_view},
    {"twins", &FaultSet::twins},
    {"bad-reply", &FaultSet::bad_reply},
    {"replay-requests", &FaultSet::replay_requests},
    {"collude", &FaultSet::collude},
    {"client-timestamps", &FaultSet::client_timestamps},
    {"big-mac", &FaultSet::big_mac},
    {"client-flood", &FaultSet::client_flood},
}};
// The first Byzantine entry of fault_names.
constexpr size_t first_byzantine = 11;
static_assert(fault_names[first_byzantine].first == "silent");

std::string valid_fault_names() {
  std::string names;
  for (const auto& [name, flag] : fault_names) {
    names += std::string(name) + ", ";
  }
  return names + "none, byzantine, all";
}

}  // namespace

FaultSet FaultSet::byzantine() {
  FaultSet faults;
  for (size_t i = first_byzantine; i < fault_names.size(); i++) faults.*(fault_names[i].second) = true;
  return faults;
}

FaultSet FaultSet::all() {
  FaultSet faults;
  for (const auto& [name, flag] : fault_names) faults.*flag = true;
  return faults;
}

Result<FaultSet> parse_faults(std::string_view list) {
  FaultSet faults;
  if (list == "none") return faults;
  if (list == "all") return FaultSet::all();
  if (list == "byzantine") return FaultSet::byzantine();
  if (list.empty()) return Status::error("empty fault list; valid faults: " + valid_fault_names());
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    bool known = false;
    if (name == "byzantine") {
      const FaultSet byzantine = FaultSet::byzantine();
      for (const auto& [fault_name, flag] : fault_names) faults.*flag |= byzantine.*flag;
      known = true;
    }
    for (const auto& [fault_name, flag] : fault_names) {
      if (name == fault_name) {
        faults.*flag = true;
        known = true;
      }
    }
    if (!known) {
      return Status::error("unknown fault '" + std::string(name) +
                           "'; valid faults: " + valid_fault_names());
    }
    if (comma != std::string_view::npos && list.empty()) {
      return Status::error("trailing comma in fault list; valid faults: " + valid_fault_names());
    }
  }
  return faults;
}

std::string to_string(const FaultSet& faults) {
  if (faults == FaultSet::all()) return "all";
  const FaultSet byzantine = FaultSet::byzantine();
  bool every_byzantine = true;
  for (size_t i = first_byzantine; i < fault_names.size(); i++) {
    every_byzantine = every_byzantine && faults.*(fault_names[i].second);
  }
  std::string list;
  for (size_t i = 0; i < fault_names.size(); i++) {
    const auto& [name, flag] = fault_names[i];
    if (every_byzantine && i == first_byzantine) {
      list += list.empty() ? "byzantine" : ",byzantine";
    }
    if (!(faults.*flag) || (every_byzantine && byzantine.*flag)) continue;
    if (!list.empty()) list += ',';
    list += name;
  }
  return list.empty() ? "none" : list;
}

const char* to_string(NodeFault fault) {
  switch (fault) {
    case NodeFault::crash: return "crash";
    case NodeFault::wipe: return "wipe";
    case NodeFault::lag: return "lag";
  }
  return "unknown";
}

ProtocolConfig Options::simulation_protocol_defaults() {
  ProtocolConfig config;
  // A default run orders about 80 batches. Checkpoints every 8 and a window
  // of 32 make every run take several stable checkpoints, collect garbage,
  // hit the high watermark when commits are slow, and push a replica that
  // falls behind by more than the window into state transfer.
  config.checkpoint_interval = 8;
  config.log_window = 32;
  config.in_flight_max = 8;
  // Everything else is the knob table's default (include/pbft/knobs.h),
  // signed client requests included: MACs are open to the "big MAC"
  // attack, which the Byzantine clients mount.
  return config;
}

ProtocolConfig protocol_config(const Options& options) {
  ProtocolConfig config = options.protocol;
  config.n = options.replicas;
  config.f = options.replicas >= 1 ? (options.replicas - 1) / 3 : 0;
  return config;
}

NetworkOptions network_options(const Options& options) {
  NetworkOptions network;
  network.latency_min_ns = options.latency_min_ns;
  network.latency_max_ns = options.latency_max_ns;
  network.faults = options.faults;
  network.rates = options.rates;
  network.fault_phase_end_ns = options.fault_phase_ns;
  return network;
}

Status validate(const Options& options) {
  if (Status s = protocol_config(options).validate(); !s) {
    return Status::error("protocol: " + s.reason());
  }
  if (options.clients < 1 || options.clients > constants::clients_max) {
    return Status::error("clients must be in 1.." + std::to_string(constants::clients_max));
  }
  if (options.mutant != mutant::Id::none && !mutant::available) {
    return Status::error("mutant: this build has no mutants (configure with -DPBFT_MUTANTS=ON)");
  }
  if (options.requests < 1) return Status::error("requests must be at least 1");
  if (options.keys < 1) return Status::error("keys must be at least 1");
  if (options.tick_ns < 1) return Status::error("tick_ns must be at least 1");
  if (options.latency_min_ns > options.latency_max_ns) {
    return Status::error("latency_min_ns must not exceed latency_max_ns");
  }
  const FaultRates& r = options.rates;
  for (double p : {r.drop_probability, r.dup_probability, r.reorder_probability,
                   r.delay_probability}) {
    if (!(p >= 0 && p <= 1)) return Status::error("fault probabilities must be in [0, 1]");
  }
  if (r.drop_probability >= 1 && options.faults.drop) {
    return Status::error("drop probability 1 would drop every message");
  }
  if (r.partition_gap_min_ns > r.partition_gap_max_ns || r.partition_gap_min_ns < 1) {
    return Status::error("partition gaps must satisfy 1 <= min <= max");
  }
  if (r.partition_duration_min_ns > r.partition_duration_max_ns) {
    return Status::error("partition durations must satisfy min <= max");
  }
  if (r.node_fault_gap_min_ns > r.node_fault_gap_max_ns || r.node_fault_gap_min_ns < 1) {
    return Status::error("node fault gaps must satisfy 1 <= min <= max");
  }
  if (r.down_time_min_ns > r.down_time_max_ns) {
    return Status::error("down times must satisfy min <= max");
  }
  if (!(r.badstate_probability >= 0 && r.badstate_probability <= 1)) {
    return Status::error("badstate probability must be in [0, 1]");
  }
  if (options.script) {
    const ProtocolConfig config = protocol_config(options);
    for (const ScriptedNodeFault& e : options.script->episodes) {
      if (e.replica >= config.n) return Status::error("script: replica out of range");
      if (options.script->badstate && e.replica == *options.script->badstate) {
        return Status::error("script: the badstate replica cannot also crash, wipe or lag");
      }
    }
    if (options.script->badstate && *options.script->badstate >= config.n) {
      return Status::error("script: badstate replica out of range");
    }
  }
  if (options.client.retransmit_ticks < 1 ||
      options.client.retransmit_ticks > options.client.retransmit_ticks_max) {
    return Status::error("client retransmit ticks must satisfy 1 <= ticks <= ticks_max");
  }
  return Status::ok();
}

}  // namespace pbft::sim
