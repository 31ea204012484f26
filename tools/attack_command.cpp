// `pbft attack`: TEST-ONLY. Runs one attack mode (src/attack/attacker.h)
// against a cluster of one's own until SIGTERM, SIGINT or --duration, and
// writes what it sent to a stats file (every 200 ms and at the end). `pbft
// bench --attack MODE` runs it as a child process while it measures the
// honest clients; docs/operations.md and docs/PERFORMANCE.md say more.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "pbft/cluster_config.h"
#include "src/attack/attacker.h"
#include "src/runtime/asio.h"
#include "tools/commands.h"
#include "tools/runtime_support.h"

namespace pbft::tools {

namespace {

struct AttackArgs {
  std::string config;
  std::string mode;
  std::optional<uint32_t> replica;
  std::optional<uint32_t> first_client;
  uint32_t connections = 0;
  std::string from;
  std::string stats;
  double duration_s = 0;
  uint64_t seed = 1;
  std::string log_level = "warn";
  bool list = false;
};

std::atomic<bool> stop_requested{false};
void on_stop_signal(int) { stop_requested = true; }

// The stats file: the mode and the counters, replaced atomically.
Status write_stats(const std::string& file, const attack::ModeInfo& mode,
                   const attack::AttackCounters& counters, bool running) {
  nlohmann::json j;
  j["mode"] = std::string(mode.name);
  j["family"] = attack::family_name(mode.family);
  j["running"] = running;
  j["counters"] = nlohmann::json::parse(attack::to_json(counters));
  const std::string temporary = file + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << j.dump() << "\n";
    if (!out) return Status::error("cannot write " + temporary);
  }
  if (std::rename(temporary.c_str(), file.c_str()) != 0) {
    return Status::error("cannot rename " + temporary + " to " + file);
  }
  return Status::ok();
}

Result<attack::AttackOptions> options_of(const AttackArgs& args, const attack::ModeInfo& mode) {
  Result<ClusterConfig> cluster = load_cluster_config(args.config);
  if (!cluster) return cluster.status();
  attack::AttackOptions options;
  options.mode = mode.mode;
  options.connections_per_replica = args.connections;
  options.seed = args.seed;
  if (mode.family == attack::Family::replica) {
    // The faulty replica: by default the last one, whose place it takes.
    options.replica = args.replica.value_or(cluster->protocol.n - 1);
    if (options.replica >= cluster->protocol.n) {
      return Status::error(fmt::format("--replica {} is not a replica of {} (ids are 0..{})",
                                       options.replica, args.config, cluster->protocol.n - 1));
    }
    const ReplicaEndpoint& r = cluster->replicas[options.replica];
    if (r.key_file.empty()) {
      return Status::error(fmt::format("replicas[{}] names no key_file: a replica attacker "
                                       "holds that replica's key",
                                       options.replica));
    }
    Result<SecretKey> key = load_secret_key(r.key_file, r.public_key);
    if (!key) return key.status();
    options.replica_key = key.value();
  }
  const uint32_t needed = attack::clients_needed(mode.mode);
  if (needed > 0) {
    // By default the file's last `needed` client ids.
    std::vector<ClientId> ids;
    for (const auto& [id, public_key] : cluster->clients) ids.push_back(id);
    if (ids.size() < needed) {
      return Status::error(fmt::format("{} needs {} clients of its own; {} lists {}", mode.name,
                                       needed, args.config, ids.size()));
    }
    const ClientId first = args.first_client.value_or(ids[ids.size() - needed]);
    for (ClientId id = first; id < first + needed; id++) {
      Result<SecretKey> key = load_client_key(cluster.value(), id);
      if (!key) return key.status();
      options.clients.push_back({id, key.value()});
    }
  }
  if (!args.from.empty()) {
    std::error_code ec;
    asio::ip::make_address(args.from, ec);
    if (ec) return Status::error(fmt::format("--from {}: not an IP address", args.from));
  }
  options.source_address = args.from;
  options.cluster = std::move(cluster).value();
  return options;
}

int run_attack(const AttackArgs& args) {
  auto fail = [](const std::string& why) {
    fmt::print(stderr, "pbft attack: {}\n", why);
    return 1;
  };
  if (args.list) {
    for (const attack::ModeInfo& m : attack::mode_table) {
      if (m.implemented) fmt::print("{}\n", m.name);
    }
    return 0;
  }
  if (args.config.empty() || args.mode.empty()) return fail("--config and --mode are required");
  const attack::ModeInfo* mode = attack::find_mode(args.mode);
  if (mode == nullptr) {
    return fail(fmt::format("unknown mode \"{}\" (modes: {})", args.mode, attack::mode_names()));
  }
  if (Status s = setup_logging(args.log_level, "attacker"); !s) return fail(s.reason());
  Result<attack::AttackOptions> options = options_of(args, *mode);
  if (!options) return fail(options.reason());
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  Result<std::unique_ptr<attack::Attacker>> attacker =
      attack::Attacker::start(std::move(options).value());
  if (!attacker) return fail(attacker.reason());
  fmt::print("pbft attack: {} ({}) against {}; TEST-ONLY\n", mode->name,
             attack::family_name(mode->family), args.config);
  std::fflush(stdout);
  const auto started = std::chrono::steady_clock::now();
  auto next_stats = started;
  while (!stop_requested) {
    if (args.duration_s > 0 &&
        std::chrono::steady_clock::now() - started >= std::chrono::duration<double>(args.duration_s)) {
      break;
    }
    if (!args.stats.empty() && std::chrono::steady_clock::now() >= next_stats) {
      next_stats += std::chrono::milliseconds(200);
      if (Status s = write_stats(args.stats, *mode, (*attacker)->counters(), true); !s) {
        spdlog::warn("{}", s.reason());
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*attacker)->stop();
  const attack::AttackCounters counters = (*attacker)->counters();
  if (!args.stats.empty()) {
    if (Status s = write_stats(args.stats, *mode, counters, false); !s) return fail(s.reason());
  }
  fmt::print("pbft attack: stopped; {}\n", attack::to_json(counters));
  return 0;
}

}  // namespace

void add_attack_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<AttackArgs>();
  CLI::App* cmd = app.add_subcommand(
      "attack",
      "TEST-ONLY: attack a cluster of your own in one of the modes below until SIGTERM (what "
      "`pbft bench --attack` runs while it measures)");
  cmd->add_flag("--list", args->list, "Print the modes that are implemented, one a line, and exit");
  cmd->add_option("--config", args->config, "The cluster file (cluster.toml); required");
  std::string modes_help = "The attack:";
  for (const attack::ModeInfo& m : attack::mode_table) {
    modes_help += fmt::format("\n  {} ({}{}): {}", m.name, attack::family_name(m.family),
                              m.implemented ? "" : ", not yet", m.help);
  }
  cmd->add_option("--mode", args->mode, modes_help + "\n(required)");
  cmd->add_option("--replica", args->replica,
                  "Replica modes: the replica whose key the attacker holds and whose place it "
                  "takes (default n-1; it must not run)");
  cmd->add_option("--first-client", args->first_client,
                  "Client modes: the first of the attacker's consecutive client ids (default: "
                  "the file's last ones)");
  cmd->add_option("--connections", args->connections,
                  "Network modes: connections to each replica (default: the mode's)")
      ->check(CLI::Range(1u, 100000u));
  cmd->add_option("--from", args->from,
                  "Network modes: the local address to connect from (e.g. 127.0.0.2, another "
                  "host on one machine; default: the system's choice)");
  cmd->add_option("--stats", args->stats,
                  "Write the attacker's counters here (JSON, every 200 ms and at the end)");
  cmd->add_option("--duration", args->duration_s, "Stop after this many seconds (0: at SIGTERM)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--seed", args->seed, "Seed of the attacker's random choices")
      ->capture_default_str();
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->callback([args, &exit_status] { exit_status = run_attack(*args); });
}

}  // namespace pbft::tools
