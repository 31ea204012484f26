// Status: what a replica process tells its operator. One log line per
// notable change of the core (view change, checkpoint stable, state
// transfer start and end, recovery done) and per peer going up or down;
// status.json in the data directory, written atomically (write, then
// rename) so that readers never see half a file; the counters in the log on
// demand and at exit. read_replica_status and to_json (runtime.h) are
// defined here too, beside the writer they must match. Internal to
// src/runtime; docs/design.md ("Observability").
//
// Thread safety: none; the event-loop thread only.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pbft/replica.h"
#include "pbft/runtime.h"

namespace pbft::runtime {

// What the host knows beyond the core, for the status file.
struct HostFacts {
  size_t connections = 0;  // accepted connections
  size_t verify_bytes_in_use = 0;
  size_t verify_bytes_in_use_by_strangers = 0;
  const RuntimeCounters* counters = nullptr;
};

class StatusReport {
 public:
  // The replica must outlive this object; its current state is the
  // baseline that later changes are logged against. data_dir empty: no
  // status file.
  StatusReport(const Replica& replica, const ProtocolConfig& config, ReplicaId self,
               std::filesystem::path data_dir);

  // Peer r's link went up or down.
  void on_peer_state(ReplicaId r, const std::string& address, bool up, const std::string& why);
  // The core installed a checkpoint fetched by state transfer.
  void on_installed(const StateInstalled& installed);
  // Logs what changed in the core since the last call.
  void observe_core();

  void write_status(bool running, const HostFacts& host);
  void log_counters(const char* when, const RuntimeCounters& counters);

  const std::vector<bool>& peers_up() const { return peers_up_; }

 private:
  const Replica& replica_;
  const ProtocolConfig& config_;
  ReplicaId self_;
  std::filesystem::path data_dir_;
  std::vector<bool> peers_up_;  // index = replica id (self: true)
  // What was last logged about the core, to log changes once.
  View logged_view_ = 0;
  Seq logged_low_watermark_ = 0;
  bool logged_transferring_ = false;
  bool logged_recovering_ = false;
};

}  // namespace pbft::runtime
