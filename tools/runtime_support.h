// Helpers shared by the subcommands that run the runtime (replica, client,
// demo): logging set-up, reading a principal's key, and the service a
// replica hosts.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "pbft/cluster_config.h"
#include "pbft/service.h"
#include "pbft/status.h"

namespace pbft::tools {

// spdlog's default logger on stderr, one line per event, tagged with `who`.
// Fails on an unknown level name.
Status setup_logging(const std::string& level, const std::string& who);

// The secret key of client `id`, from the key file the cluster file names.
Result<SecretKey> load_client_key(const ClusterConfig& cluster, ClientId id);

// The service `pbft replica` hosts (replicated, or alone with
// --unreplicated): the key-value store with the cluster file's partition
// count, limits and bucket key. The one place where the tools choose the key-value store for the
// runtime, which is generic over its service (ReplicaHostOptions::make_service).
// Fails on an unreadable or malformed [kv] bucket_key_file.
Result<std::function<std::unique_ptr<Service>()>> make_kv_service(const ClusterConfig& cluster);

// Nanoseconds of wall-clock time (client timestamps must grow across runs).
uint64_t wall_clock_ns();

}  // namespace pbft::tools
