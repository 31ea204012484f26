// Helpers shared by the subcommands that run the runtime (replica, client,
// demo): logging set-up and reading a principal's key.
#pragma once

#include <string>

#include "pbft/cluster_config.h"
#include "pbft/status.h"

namespace pbft::tools {

// spdlog's default logger on stderr, one line per event, tagged with `who`.
// Fails on an unknown level name.
Status setup_logging(const std::string& level, const std::string& who);

// The secret key of client `id`, from the key file the cluster file names.
Result<SecretKey> load_client_key(const ClusterConfig& cluster, ClientId id);

// Nanoseconds of wall-clock time (client timestamps must grow across runs).
uint64_t wall_clock_ns();

}  // namespace pbft::tools
