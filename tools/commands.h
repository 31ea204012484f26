// The subcommands of the `pbft` program. Each lives in its own file and
// registers itself on the application; its callback stores the process exit
// status in `exit_status` (0 on success).
#pragma once

#include <CLI/CLI.hpp>

namespace pbft::tools {

// `pbft sim`: runs the deterministic simulator (tools/sim_command.cpp).
void add_sim_command(CLI::App& app, int& exit_status);

// `pbft keygen`: keys and a cluster.toml (tools/keygen_command.cpp).
void add_keygen_command(CLI::App& app, int& exit_status);

// `pbft replica`: one replica process (tools/replica_command.cpp).
void add_replica_command(CLI::App& app, int& exit_status);

// `pbft client`: one operation or a shell (tools/client_command.cpp).
void add_client_command(CLI::App& app, int& exit_status);

// `pbft demo`: a local cluster, a fault and a verdict (tools/demo_command.cpp).
void add_demo_command(CLI::App& app, int& exit_status);

// `pbft bench`: throughput and latency (tools/bench_command.cpp).
void add_bench_command(CLI::App& app, int& exit_status);

// `pbft gateway`: the RESP gateway for Redis clients (tools/gateway_command.cpp).
void add_gateway_command(CLI::App& app, int& exit_status);

// `pbft attack`: TEST-ONLY, one attack mode against a cluster of one's own
// (tools/attack_command.cpp).
void add_attack_command(CLI::App& app, int& exit_status);

}  // namespace pbft::tools
