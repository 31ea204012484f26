// `pbft gateway`: the RESP gateway (src/gateway/gateway.h) in front of a
// cluster, until interrupted (docs/operations.md, "The Redis gateway").

#include <fmt/format.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "pbft/cluster_config.h"
#include "src/gateway/gateway.h"
#include "src/runtime/asio.h"
#include "tools/commands.h"
#include "tools/runtime_support.h"

namespace pbft::tools {
namespace {

struct GatewayArgs {
  std::string config;
  std::string listen = "127.0.0.1:6379";
  size_t sessions = 64;
  double timeout_s = 10;
  size_t connections_max = 10'000;
  std::string log_level = "info";
};

// "host:port", "[v6]:port" or ":port" (loopback).
Result<std::pair<std::string, uint16_t>> parse_listen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return Status::error("--listen: expected HOST:PORT, got '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Status::error("--listen: port must be in 0..65535, got '" + port + "'");
  }
  return std::make_pair(host, static_cast<uint16_t>(std::stoul(port)));
}

int run_gateway(const GatewayArgs& args) {
  Result<ClusterConfig> cluster = load_cluster_config(args.config);
  if (!cluster) {
    fmt::print(stderr, "pbft gateway: {}\n", cluster.reason());
    return 1;
  }
  if (Status s = setup_logging(args.log_level, "gateway"); !s) {
    fmt::print(stderr, "pbft gateway: {}\n", s.reason());
    return 2;
  }
  auto listen = parse_listen(args.listen);
  if (!listen) {
    fmt::print(stderr, "pbft gateway: {}\n", listen.reason());
    return 2;
  }
  // The sessions are the file's last clients with key files, so that the
  // first ones stay free for `pbft client` (whose default is the first):
  // one client id must not be used by two processes at once.
  std::vector<ClientId> ids;
  for (const auto& [id, file] : cluster->client_key_files) ids.push_back(id);
  if (ids.empty()) {
    fmt::print(stderr, "pbft gateway: {} names no client key files (pbft keygen --clients N)\n",
               args.config);
    return 1;
  }
  const size_t take = std::min(args.sessions, ids.size() > 1 ? ids.size() - 1 : ids.size());
  std::vector<runtime::ClientPool::Member> members;
  for (size_t i = ids.size() - take; i < ids.size(); i++) {
    Result<SecretKey> secret = load_client_key(*cluster, ids[i]);
    if (!secret) {
      fmt::print(stderr, "pbft gateway: {}\n", secret.reason());
      return 1;
    }
    members.push_back({ids[i], secret.value()});
  }
  gateway::GatewayOptions options;
  options.host = listen->first;
  options.port = listen->second;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(args.timeout_s * 1000));
  options.connections_max = args.connections_max;
  Result<std::unique_ptr<gateway::Gateway>> gw =
      gateway::Gateway::start(*cluster, std::move(members), wall_clock_ns(), options);
  if (!gw) {
    fmt::print(stderr, "pbft gateway: {}\n", gw.reason());
    return 1;
  }
  fmt::print("pbft gateway: RESP on {}:{} for the cluster of {} ({} sessions, clients {}..{}); try: "
             "redis-cli -p {} ping\n",
             options.host, (*gw)->port(), args.config, take, ids[ids.size() - take], ids.back(),
             (*gw)->port());
  std::fflush(stdout);
  // Until SIGINT or SIGTERM.
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([](const asio::error_code&, int) {});
  io.run();
  (*gw)->stop();
  const gateway::GatewayCounters c = (*gw)->counters();
  fmt::print("pbft gateway: stopped after {} connections, {} commands, {} requests, {} timeouts\n",
             c.connections_accepted, c.commands, c.requests, c.timeouts);
  return 0;
}

}  // namespace

void add_gateway_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<GatewayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gateway", "Serve Redis clients (RESP2) in front of a cluster, as a BFT client of it");
  cmd->add_option("--config", args->config, "The cluster file (cluster.toml)")->required();
  cmd->add_option("--listen", args->listen, "HOST:PORT to serve RESP on (port 0: any free one)")
      ->capture_default_str();
  cmd->add_option("--sessions", args->sessions,
                  "Client sessions (the file's last clients with key files, leaving the first "
                  "for pbft client); each has one request in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--timeout", args->timeout_s,
                  "Seconds to wait for the cluster before answering -TRYAGAIN (and for the rest "
                  "of a half-sent command)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--connections-max", args->connections_max, "Client connections at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->callback([args, &exit_status] { exit_status = run_gateway(*args); });
}

}  // namespace pbft::tools
