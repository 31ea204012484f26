// `pbft keygen`: fresh keys and a cluster.toml that works as it is (see
// generate_cluster in pbft/cluster_config.h and docs/operations.md).
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "pbft/cluster_config.h"
#include "tools/commands.h"

namespace pbft::tools {

namespace {

struct KeygenArgs {
  ClusterSpec spec;
  std::string out;
};

int run_keygen(const KeygenArgs& args) {
  Result<std::vector<std::filesystem::path>> written = generate_cluster(args.out, args.spec);
  if (!written) {
    fmt::print(stderr, "pbft keygen: {}\n", written.reason());
    return 1;
  }
  for (const std::filesystem::path& file : *written) fmt::print("wrote {}\n", file.string());
  const std::filesystem::path config = written->back();
  // What was written must load: the promise of keygen is a file that works.
  if (Result<ClusterConfig> loaded = load_cluster_config(config); !loaded) {
    fmt::print(stderr, "pbft keygen: the generated file does not load: {}\n", loaded.reason());
    return 1;
  }
  fmt::print("cluster: n = {} replicas (f = {}) on {}:{}..{}, {} clients\n", args.spec.replicas,
             (args.spec.replicas - 1) / 3, args.spec.host, args.spec.base_port,
             args.spec.base_port + args.spec.replicas - 1, args.spec.clients);
  return 0;
}

}  // namespace

void add_keygen_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* keygen = app.add_subcommand(
      "keygen",
      "Generate Ed25519 keys (files of mode 0600) and a cluster.toml for n replicas and C "
      "clients");
  keygen->add_option("--replicas", args->spec.replicas, "Replicas n (n = 3f+1, f >= 1)")
      ->required();
  keygen->add_option("--clients", args->spec.clients, "Clients")->required();
  keygen->add_option("--out", args->out, "Directory to write into (created if needed)")
      ->required();
  keygen->add_option("--host", args->spec.host, "Host every replica listens on")
      ->capture_default_str();
  keygen->add_option("--base-port", args->spec.base_port, "Replica i listens on base-port + i")
      ->capture_default_str();
  keygen->add_flag("--force", args->spec.force, "Replace existing key files and cluster.toml");
  keygen->callback([args, &exit_status] {
    exit_status = run_keygen(*args);
    std::fflush(stdout);
  });
}

}  // namespace pbft::tools
