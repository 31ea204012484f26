// The RESP gateway (`pbft gateway`; docs/design.md, "The RESP gateway";
// docs/operations.md, "The Redis gateway"): a TCP server that speaks RESP2
// to Redis clients and is a BFT client of the cluster. Each connection's
// commands run in the order sent: the ones that need the cluster go as one
// request per batch of pipelined commands (OpType::commands), over a pool
// of client sessions, and are answered with what f+1 replicas agreed on;
// the ones that change no replicated state (PING, ECHO, SELECT, HELLO,
// CLIENT, COMMAND, INFO, CONFIG GET, QUIT) are answered here.
//
// Bounds: connections (connections_max; more are closed at once), what one
// connection may have parsed and not answered (pipeline_commands_max,
// pipeline_bytes_max: reading pauses), its unsent replies
// (output_bytes_max: reading pauses), and every command (resp::Limits).
// A request the cluster does not answer within `timeout` is answered
// -TRYAGAIN and its connection closed (the command may or may not have
// been applied; a later command of the same connection must not overtake
// it).
//
// Thread safety: the gateway runs on a thread of its own; its methods may
// be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/runtime.h"
#include "pbft/status.h"
#include "src/resp/resp.h"

namespace pbft::gateway {

struct GatewayOptions {
  std::string host = "127.0.0.1";  // the address to listen on
  uint16_t port = 6379;            // 0: any free port (see Gateway::port)
  std::chrono::milliseconds timeout{10'000};
  size_t connections_max = 10'000;
  size_t pipeline_commands_max = 4096;
  size_t pipeline_bytes_max = size_t{8} << 20;
  size_t output_bytes_max = size_t{8} << 20;
  size_t request_commands_max = 256;  // commands per request to the cluster
  resp::Limits limits{};
};

struct GatewayCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over connections_max
  uint64_t commands = 0;             // answered
  uint64_t requests = 0;             // sent to the cluster
  uint64_t timeouts = 0;
  uint64_t protocol_errors = 0;
};

class Gateway {
 public:
  // Listens and starts the sessions (one per member: the pool's client
  // identities). Fails if the address cannot be bound or the pool cannot
  // start.
  static Result<std::unique_ptr<Gateway>> start(const ClusterConfig& cluster,
                                                std::vector<runtime::ClientPool::Member> members,
                                                Timestamp first_timestamp, GatewayOptions options);
  ~Gateway();  // stops

  uint16_t port() const;
  GatewayCounters counters() const;
  void stop();

  struct Impl;

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pbft::gateway
