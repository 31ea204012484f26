// The `pbft` program: one executable, one subcommand per task.
#include <CLI/CLI.hpp>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"PBFT: Practical Byzantine Fault Tolerance (Castro and Liskov, OSDI 1999)"};
  app.set_version_flag("--version", "pbft " PBFT_VERSION);
  app.require_subcommand(1);
  int exit_status = 0;
  pbft::tools::add_sim_command(app, exit_status);
  pbft::tools::add_keygen_command(app, exit_status);
  pbft::tools::add_replica_command(app, exit_status);
  pbft::tools::add_client_command(app, exit_status);
  pbft::tools::add_demo_command(app, exit_status);
  pbft::tools::add_bench_command(app, exit_status);
  pbft::tools::add_gateway_command(app, exit_status);
  pbft::tools::add_attack_command(app, exit_status);
  CLI11_PARSE(app, argc, argv);
  return exit_status;
}
