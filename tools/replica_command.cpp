// `pbft replica`: one replica process (docs/operations.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "pbft/cluster_config.h"
#include "pbft/runtime.h"
#include "tools/commands.h"
#include "tools/runtime_support.h"

namespace pbft::tools {

namespace {

struct ReplicaArgs {
  std::string config;
  uint32_t id = 0;
  std::string log_level;
  std::string data_dir;
  unsigned verify_threads = 2;
  uint32_t slow_primary_ms = 0;  // test-only: pbft bench --attack slow-primary
  size_t max_connections = constants::connections_per_listener_max;
  size_t max_connections_per_address = constants::connections_per_address_max;
  uint32_t backoff_ms = runtime::ReplicaHostOptions{}.backoff_ms;
  bool init = false;
  bool recover = false;
  bool unreplicated = false;
};

// A listener holds up to max_connections sockets besides the peers': let
// the process have the descriptors for them if the hard limit allows.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

uint64_t fresh_nonce() {
  std::random_device device;  // /dev/urandom on Linux
  uint64_t nonce = 0;
  while (nonce == 0) nonce = (uint64_t{device()} << 32) | device();
  return nonce;
}

int run_replica(const ReplicaArgs& args) {
  Result<ClusterConfig> cluster = load_cluster_config(args.config);
  if (!cluster) {
    fmt::print(stderr, "pbft replica: {}\n", cluster.reason());
    return 1;
  }
  if (args.id >= cluster->replicas.size()) {
    fmt::print(stderr, "pbft replica: --id {} is not a replica of {} (ids are 0..{})\n", args.id,
               args.config, cluster->replicas.size() - 1);
    return 1;
  }
  const ReplicaEndpoint& me = cluster->replicas[args.id];
  if (me.key_file.empty()) {
    fmt::print(stderr, "pbft replica: {}: replicas[{}] names no key_file\n", args.config, args.id);
    return 1;
  }
  Result<SecretKey> secret = load_secret_key(me.key_file, me.public_key);
  if (!secret) {
    fmt::print(stderr, "pbft replica: {}\n", secret.reason());
    return 1;
  }
  const std::string level = args.log_level.empty() ? cluster->log_level : args.log_level;
  if (Status s = setup_logging(level, fmt::format("replica {}", args.id)); !s) {
    fmt::print(stderr, "pbft replica: {}\n", s.reason());
    return 1;
  }

  runtime::ReplicaHostOptions options;
  options.id = args.id;
  options.secret_key = secret.value();
  options.verify_threads = args.verify_threads;
  options.max_connections = args.max_connections;
  options.max_connections_per_address = args.max_connections_per_address;
  options.backoff_ms = args.backoff_ms;
  options.slow_primary_ms = args.slow_primary_ms;
  if (args.slow_primary_ms > 0) {
    spdlog::warn("--slow-primary-ms {}: this replica ATTACKS its cluster (test-only): as primary "
                 "it holds each pre-prepare back {} ms",
                 args.slow_primary_ms, args.slow_primary_ms);
  }
  auto make_service = make_kv_service(cluster.value());
  if (!make_service) {
    fmt::print(stderr, "pbft replica: {}\n", make_service.reason());
    return 1;
  }
  options.make_service = std::move(make_service).value();
  if (cluster->kv.bucket_key_file.empty()) {
    spdlog::warn("{} names no [kv] bucket_key_file: the store's buckets follow a public hash, so "
                 "a client can aim its keys at one bucket and fill it (pbft keygen writes one)",
                 args.config);
  }
  options.data_dir = args.data_dir.empty()
                         ? cluster->directory / "data" / fmt::format("replica-{}", args.id)
                         : std::filesystem::path(args.data_dir);
  if (args.unreplicated) {
    if (args.id != 0) {
      fmt::print(stderr, "pbft replica: --unreplicated serves on replica 0's port: use --id 0\n");
      return 1;
    }
    raise_descriptor_limit();
    options.cluster = std::move(cluster).value();
    return runtime::run_unreplicated_host(options);
  }
  // The data directory says how it starts (runtime.h, StartMode): it
  // resumes from the state it holds, unless this is a new replica (--init)
  // or one whose state was lost (--recover). It never guesses.
  options.start = args.init      ? runtime::StartMode::init
                  : args.recover ? runtime::StartMode::recover
                                 : runtime::StartMode::resume;
  // Only a new or recovering replica makes its directory: to resume, it
  // must be there, and a start that is refused leaves no trace.
  std::error_code ec;
  if (options.start != runtime::StartMode::resume) {
    std::filesystem::create_directories(options.data_dir, ec);
  }
  if (ec) {
    fmt::print(stderr, "pbft replica: cannot create the data directory {}: {}\n",
               options.data_dir.string(), ec.message());
    return 1;
  }
  // Fresh for every start: a replica that finds it was still recovering
  // when it stopped recovers again, with a new nonce.
  options.recovery_nonce = fresh_nonce();
  raise_descriptor_limit();
  options.cluster = std::move(cluster).value();
  spdlog::info("data directory {} ({})", options.data_dir.string(),
               args.init      ? "--init: a new replica"
               : args.recover ? "--recover: recovering its state from the others"
                              : "resuming from its state");
  return runtime::run_replica_host(options);
}

}  // namespace

void add_replica_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<ReplicaArgs>();
  CLI::App* cmd = app.add_subcommand("replica", "Run one replica of a cluster (until SIGTERM)");
  cmd->add_option("--config", args->config, "The cluster file (cluster.toml)")->required();
  cmd->add_option("--id", args->id, "This replica's id (0..n-1)")->required();
  cmd->add_option("--log-level", args->log_level,
                  "trace, debug, info, warn, error or off (default: the cluster file's)");
  cmd->add_option("--data-dir", args->data_dir,
                  "Where the replica keeps its state and status file (default: "
                  "DIR/data/replica-ID beside cluster.toml)");
  cmd->add_option("--verify-threads", args->verify_threads,
                  "Threads that decode and verify incoming messages (0: the event loop)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 64u));
  cmd->add_option("--max-connections", args->max_connections,
                  "Connections the listener keeps at once")
      ->capture_default_str()
      ->check(CLI::Range(size_t{8}, size_t{65536}));
  cmd->add_option("--max-connections-per-address", args->max_connections_per_address,
                  "Connections one remote address may hold at once (more are refused)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{65536}));
  cmd->add_option("--backoff-ms", args->backoff_ms,
                  "How long an address whose connection failed authentication is refused "
                  "(doubling with each failure, up to 60 s; 0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 60000u));
  CLI::Option* init = cmd->add_flag(
      "--init", args->init,
      "The first start of a new cluster's replica: the data directory must hold no state");
  cmd->add_flag("--recover", args->recover,
                "Its state was lost or is corrupt (or it moved to another machine): discard "
                "what the data directory holds and recover the state from the other replicas")
      ->excludes(init);
  cmd->add_option("--slow-primary-ms", args->slow_primary_ms,
                  "TEST-ONLY: as primary, hold each pre-prepare back this long (an attack: "
                  "pbft bench --attack slow-primary)")
      ->check(CLI::Range(0u, 60000u))
      ->group("");  // hidden: not for operators
  cmd->add_flag("--unreplicated", args->unreplicated,
                "Serve the key-value store alone on replica 0's port, without replication: the "
                "baseline of `pbft bench --unreplicated`");
  cmd->callback([args, &exit_status] { exit_status = run_replica(*args); });
}

}  // namespace pbft::tools
