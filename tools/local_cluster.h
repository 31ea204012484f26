// Local clusters of `pbft replica` processes for the subcommands that start
// their own (demo, bench) and the crash-loop test (tests/crash_loop): keys
// and a cluster file on free loopback ports, the processes with their logs
// and status files. Library pbft_local_cluster.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/runtime.h"
#include "pbft/status.h"

namespace pbft::tools {

// A new directory /tmp/pbft-<what>-XXXXXX.
Result<std::filesystem::path> make_temp_dir(const std::string& what);

// Replaces `key = ...` lines of a generated cluster file; a key in a table
// is written with its table, "kv.partitions".
Status tune_cluster_file(const std::filesystem::path& file,
                         const std::map<std::string, std::string>& values);

// Keys and a cluster file (cluster.toml) for `replicas` replicas and
// `clients` clients on free loopback ports, in `dir` (a new
// /tmp/pbft-<what>-XXXXXX when empty), with `values` in place of the
// generated defaults; then the file as loaded.
struct GeneratedCluster {
  std::filesystem::path dir;
  ClusterConfig cluster;
};
Result<GeneratedCluster> generate_local_cluster(const std::string& what, const std::string& dir,
                                                uint32_t replicas, uint32_t clients,
                                                const std::map<std::string, std::string>& values);

// CPU seconds (user + system) a process has used so far, from /proc.
std::optional<double> process_cpu_seconds(pid_t pid);
// Resident memory of a process in KiB, from /proc.
std::optional<uint64_t> process_rss_kib(pid_t pid);
// The most resident memory the process ever had, in KiB (VmHWM, /proc).
std::optional<uint64_t> process_peak_rss_kib(pid_t pid);

// Starts `binary` with `args` (args[0] is the program's name), its stdout
// and stderr appended to `log`, stdin from /dev/null. The child dies with
// the process that started it, however that ends.
Result<pid_t> spawn_process(const std::string& binary, std::vector<std::string> args,
                            const std::filesystem::path& log);
// Whether a child started by spawn_process has exited; if so it is reaped
// and `how` says how it ended ("exit status 1", "killed by signal 9").
bool process_exited(pid_t pid, std::string* how = nullptr);
// SIGTERM, then SIGKILL if it is still running after `grace`; reaps it.
void stop_process(pid_t pid, std::chrono::milliseconds grace);

// The replica processes of dir/cluster.toml, their logs (dir/logs) and
// status files (dir/data/replica-<id>). Every process dies with this
// object, and with the process that made it, however that ends. `binary`
// is the pbft program the replicas run: by default this very program (pbft
// demo and pbft bench are it); another program that starts replicas (the
// crash-loop test) names the pbft binary.
class LocalCluster {
 public:
  LocalCluster(std::filesystem::path dir, uint32_t n, std::vector<std::string> extra_args,
               std::string binary = "/proc/self/exe");
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // The first start of r is --init; later ones resume from its disk.
  Status start(ReplicaId r);
  // Arguments for r's process only, after the common ones (from its next start).
  void set_replica_args(ReplicaId r, std::vector<std::string> args) {
    replica_args_[r] = std::move(args);
  }
  void kill_hard(ReplicaId r);
  // SIGTERM, then SIGKILL for any still running after 3 s.
  void stop_all();
  void kill_all();
  bool running(ReplicaId r) const { return pids_[r] > 0; }
  pid_t pid(ReplicaId r) const { return pids_[r]; }
  // A replica that exited by itself (it should not).
  std::optional<ReplicaId> exited();
  // How r's process ended when exited() reported it ("exit status 1",
  // "killed by signal 6"); empty if it did not exit on its own.
  std::string exit_description(ReplicaId r) const { return exit_descriptions_[r]; }
  // Its last status file, if it is running and its current process wrote
  // one (start removes the file a killed process left behind).
  std::optional<runtime::ReplicaStatus> status(ReplicaId r) const;
  std::filesystem::path log_file(ReplicaId r) const;
  uint32_t size() const { return static_cast<uint32_t>(pids_.size()); }

 private:
  std::filesystem::path dir_;
  std::vector<pid_t> pids_;
  std::vector<bool> started_;  // started once: a restart resumes from its disk
  std::vector<std::string> extra_args_;
  std::map<ReplicaId, std::vector<std::string>> replica_args_;
  std::string binary_;
  std::vector<std::string> exit_descriptions_;
};

}  // namespace pbft::tools
