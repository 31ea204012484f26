// The runtime: the only layer with sockets, threads and clocks. It drives
// the same pure cores as the simulator (Replica, Client) over TCP:
//
//   - one event-loop thread per process (standalone Asio) owns the core,
//     every socket and every timer; the core is only ever touched there;
//   - frames are wire messages (wire.h: the header carries the length), at
//     most constants::frame_size_max bytes;
//   - decoding and verification of incoming frames that carry a signature
//     run on a small thread pool, those authenticated by MACs only inline
//     (docs/design.md says why); either way they reach the core in the order
//     each connection delivered them;
//   - every queue is bounded (constants.h, "The TCP runtime"); what does not
//     fit is dropped and counted in RuntimeCounters.
//
// Connections: a replica listens on its listen address and dials every peer;
// it sends to a peer on the connection it dialed and receives on the ones it
// accepted. A client dials every replica; clients with consecutive ids in
// one process share a connection. Every link is mutually authenticated with
// the cluster file's keys before any frame: TLS 1.3 with each end's key
// (encryption "tls", the default) or cleartext (encryption "none"), then a
// hello signed by each principal over the link's channel binding (a client
// group's by every member). A replica takes a replica's own messages only on
// that replica's link and a client's requests only on a link authenticated
// for that client (docs/design.md, "Links").
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "pbft/client.h"
#include "pbft/cluster_config.h"
#include "pbft/constants.h"
#include "pbft/service.h"
#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft::runtime {

// Everything the runtime dropped or refused, and what it moved, declared
// once: X(name, help). The struct, its JSON (status files, logs) and the
// status reader are generated from this table. Written by the event-loop
// thread only; read a copy (counters()).
#define PBFT_RUNTIME_COUNTERS(X)                                                               \
  /* Connections. */                                                                           \
  X(connections_accepted, "connections accepted by the listener")                              \
  X(connections_evicted, "connections closed or refused for room (listener full)")             \
  X(connections_refused_backoff, "connections refused: their address (or their principal) is backing off")          \
  X(connections_refused_address_cap, "connections refused: their address holds its maximum")   \
  X(connections_closed_principal_cap,                                                          \
    "older connections closed: a principal held its maximum of connections")                  \
  X(addresses_backed_off, "failures that put an address, or an authenticated principal, into back-off")      \
  X(handshake_failures, "TLS handshakes that failed, or records that did not open")             \
  X(hello_rejected, "bad greeting or hello bytes, an id out of range, another encryption")     \
  X(hello_unauthentic,                                                                         \
    "hellos whose signature, binding or certificate key the cluster file refutes")             \
  X(hello_timeouts, "no authenticated hello in time (TLS handshake and hello)")                \
  X(idle_timeouts, "replica links and client connections silent for too long")                \
  X(frame_timeouts, "frames that did not arrive whole in time")                                \
  X(connect_attempts, "outgoing connection attempts, reconnects included")                     \
  X(connect_failures, "outgoing connection attempts that failed")                              \
  /* Incoming frames. */                                                                       \
  X(frames_received, "complete frames read")                                                   \
  X(bytes_received, "bytes read")                                                              \
  X(frames_bad_header, "frames with a bad magic, version or type: connection closed")         \
  X(frames_oversized, "frames announcing more than frame_size_max: connection closed")         \
  X(frames_undecodable, "frames whose body did not decode: dropped")                           \
  X(frames_unauthentic, "frames the verifier rejected: dropped")                               \
  X(frames_unknown_sender, "frames from a sender not in the cluster file: dropped")            \
  X(frames_wrong_client, "requests from a client the link is not authenticated for: closed")   \
  X(frames_wrong_sender,                                                                       \
    "frames from a sender the link may not carry (a replica's own message on another "         \
    "replica's link, a reply from another replica): link closed")                              \
  X(links_closed_bad_frame,                                                                    \
    "links closed for a frame of their own principal that failed authentication")              \
  X(frames_delivered, "frames handed to the core")                                             \
  X(frames_unwanted, "frames dropped unchecked: a vote for a slot already done (replica), "     \
                     "a reply for no outstanding request (client)")                            \
  X(read_pauses, "frame reservations refused (reading waits)")                                 \
  /* Outgoing frames. */                                                                       \
  X(frames_sent, "frames written")                                                             \
  X(bytes_sent, "bytes written")                                                               \
  X(send_dropped_queue_full, "frames dropped: a bounded send queue was full")                  \
  X(send_dropped_no_link, "frames dropped: the peer was not connected")                        \
  X(send_dropped_no_route, "replies dropped: the client had no connection")                    \
  X(send_dropped_misaddressed, "frames dropped: addressed to no peer")                         \
  /* The core's write-ahead records and the disk. */                                           \
  X(persist_records, "records the core asked to make durable before its sends")                \
  X(disk_writes, "batches of records written to the disk")                                     \
  X(disk_syncs, "syncs of the disk (each covers the records of many inputs: group commit)")

struct RuntimeCounters {
#define PBFT_RUNTIME_COUNTER_FIELD(name, help) uint64_t name = 0;
  PBFT_RUNTIME_COUNTERS(PBFT_RUNTIME_COUNTER_FIELD)
#undef PBFT_RUNTIME_COUNTER_FIELD

  // Adds every counter of `other` (a process's pools summed).
  RuntimeCounters& operator+=(const RuntimeCounters& other) {
#define PBFT_RUNTIME_COUNTER_ADD(name, help) name += other.name;
    PBFT_RUNTIME_COUNTERS(PBFT_RUNTIME_COUNTER_ADD)
#undef PBFT_RUNTIME_COUNTER_ADD
    return *this;
  }
};

// Calls f(name, help, value) for every runtime counter, in table order.
template <typename F>
void for_each_counter(const RuntimeCounters& c, F&& f) {
#define PBFT_RUNTIME_COUNTER_VISIT(name, help) \
  f(std::string_view(#name), std::string_view(help), c.name);
  PBFT_RUNTIME_COUNTERS(PBFT_RUNTIME_COUNTER_VISIT)
#undef PBFT_RUNTIME_COUNTER_VISIT
}

// The counters as one JSON object (for status files and logs).
std::string to_json(const RuntimeCounters& c);

// ------------------------------------------------------------------ replica

// What a replica keeps on disk (cluster.toml's `durability`; the values are
// the indices of knob_choices::durability).
enum class Durability : uint8_t {
  none = 0,   // nothing: a restart must recover from the others (benchmarks; unsafe)
  fsync = 1,  // the write-ahead records, synced before what depends on them leaves
};

// How a replica starts with respect to its data directory.
enum class StartMode : uint8_t {
  // The directory holds this replica's state: resume from it (the default).
  // Refused when it holds none (missing, empty) or another replica's.
  resume,
  // The first start of a new cluster's replica: the directory must hold no
  // state; it starts from the initial state.
  init,
  // Its state was lost (or is corrupt): discard whatever is there and
  // recover from the others by state transfer, silent until it is past
  // every sequence number it may have voted on.
  recover,
};

struct ReplicaHostOptions {
  ClusterConfig cluster;
  ReplicaId id = 0;
  SecretKey secret_key{};
  // Makes the service the host replicates (required): the runtime is
  // generic over it, the caller chooses it (`pbft replica` passes the
  // key-value store). Called once, at start, on the thread that runs the
  // host; the host owns the service and calls it only on its event-loop
  // thread (that same thread), never concurrently, as service.h requires.
  // Every replica of a cluster must make the same service, in the same
  // initial state, with the same partition_count(). A null result makes
  // the start fail.
  std::function<std::unique_ptr<Service>()> make_service;
  // Where status.json is written (every status_period_ms and at exit), and
  // the replica's state (data_dir/state, a RocksDB database) with
  // durability fsync (cluster.durability).
  std::filesystem::path data_dir;
  StartMode start = StartMode::resume;
  // With StartMode::recover: a value never used before for this replica
  // (64 random bits), see ReplicaOptions.
  uint64_t recovery_nonce = 0;
  // Verification threads; 0 verifies on the event-loop thread.
  unsigned verify_threads = 2;
  uint32_t status_period_ms = 200;
  // An accepted connection's TLS handshake and hello must be done within this.
  uint32_t hello_timeout_ms = 5000;
  uint32_t replica_idle_timeout_ms = 30000;
  // A client connection that delivers no frame for this long is closed (its
  // client reconnects when it has something to send).
  uint32_t client_idle_timeout_ms = 120000;
  // Once a frame's first byte is read, all of it must follow within
  // frame_timeout_ms plus its size at frame_bytes_per_second.
  uint32_t frame_timeout_ms = 2000;
  size_t frame_bytes_per_second = 256 * 1024;
  // Connections the listener keeps at once (see constants.h).
  size_t max_connections = constants::connections_per_listener_max;
  // Connections one remote address may hold at once; more are refused.
  size_t max_connections_per_address = constants::connections_per_address_max;
  // Connections one principal (a replica, a client id) may hold at once;
  // past it, its oldest is closed.
  size_t max_connections_per_principal = constants::connections_per_principal_max;
  // An address whose connection failed authentication (handshake, hello,
  // or a frame of its own principal) is refused for backoff_ms, doubling
  // with each failure while it is remembered, up to backoff_max_ms. 0: no
  // back-off.
  uint32_t backoff_ms = 1000;
  uint32_t backoff_max_ms = 60000;
  // TEST-ONLY (`pbft bench --attack slow-primary`): this replica holds each
  // of its PRE-PREPAREs back this long before it sends it: a slow primary
  // for the others to replace. 0 (always, in production): no delay.
  uint32_t slow_primary_ms = 0;
  // A stop request on this token (from any thread) shuts the host down as
  // SIGTERM does: for hosts that run on a thread of a larger program (the
  // tests run a whole cluster in one process). The default token never
  // stops.
  std::stop_token stop;
};

// Runs one replica until SIGTERM or SIGINT, or options.stop (SIGUSR1 logs
// the counters and writes the status file), on the calling thread. Logs
// through spdlog's default logger. Returns the process exit status: 0 after
// a signal or a stop request, 1 if the replica could not start (the reason
// is logged), e.g. its port is taken, make_service made nothing, or its
// data directory holds no state, another replica's, or a corrupt one;
// exit_disk_failed if its disk failed while it ran (full, I/O error): it
// stopped before sending anything that depended on the failed write.
// Signals are the process's: every host of the process sees them.
int run_replica_host(const ReplicaHostOptions& options);
inline constexpr int exit_disk_failed = 3;
// The data directory's subdirectory that holds the replica's state.
inline constexpr const char* state_directory = "state";

// The benchmark's baseline (`pbft bench --unreplicated`): the service
// (options.make_service) alone on replica 0's port, behind the same
// transport and request authentication, executing each request as it
// arrives, without replication. Clients see it as the cluster
// unreplicated_view(cluster). Runs until SIGTERM or SIGINT, like
// run_replica_host.
int run_unreplicated_host(const ReplicaHostOptions& options);
// The cluster with replica 0 only, n = 1 and f = 0.
ClusterConfig unreplicated_view(const ClusterConfig& cluster);

// The status file a replica writes (status.json in its data dir), read back.
struct ReplicaStatus {
  ReplicaId id = 0;
  bool running = false;  // false in the file written at exit
  uint64_t view = 0;
  Seq last_executed = 0;
  Seq low_watermark = 0;
  bool recovering = false;
  bool transferring = false;
  uint64_t state_transfers_completed = 0;
  uint64_t requests_executed = 0;
  uint64_t batches_executed = 0;
  uint64_t batches_left_unchecked = 0;  // signed requests: batches taken on the certificate
  std::vector<bool> peers_up;  // index = replica id (self: true)
  RuntimeCounters counters;
};
Result<ReplicaStatus> read_replica_status(const std::filesystem::path& file);

// n consecutive TCP ports free on 127.0.0.1 now (replica i on base + i), for
// local clusters (pbft demo, the integration tests). They are chosen
// outside the kernel's ephemeral range (ip_local_port_range), so that
// outgoing connections, which take their local port from that range, do
// not take them before the replicas listen. Fails if none were found.
Result<uint16_t> pick_free_base_port(uint32_t n);

// ------------------------------------------------------------------- client

// Clients on one event-loop thread of their own: one Client core per member;
// members with consecutive ids share a connection to every replica (up to
// constants::client_group_max per connection). Thread-safe: submit may be called
// from any thread; callbacks run on the pool's thread.
class ClientPool {
 public:
  struct Member {
    ClientId id = 0;
    SecretKey secret_key{};
  };
  // The outcome of one operation: the completion, or why it could not start.
  using Done = std::function<void(Result<Completion>)>;

  // Starts the thread and connects. first_timestamp: above any timestamp
  // these clients used before (wall-clock ns).
  static Result<std::unique_ptr<ClientPool>> start(const ClusterConfig& cluster,
                                                   std::vector<Member> members,
                                                   Timestamp first_timestamp);
  ~ClientPool();  // stops and joins

  size_t size() const;
  // Starts an operation for member `index` (which must not have one
  // outstanding); `done` runs on the pool's thread, once, when f+1 replicas
  // agreed on the result or submit failed. An operation that never
  // completes (the cluster is down) never calls `done`. read_only marks the
  // request read-only (Request::read_only).
  void submit(size_t index, Bytes operation, Done done, bool read_only = false);
  // Replicas to which the lowest ids' group has a connection, and the pool's
  // counters. Both ask the pool's thread and wait for it (up to 2 s): call
  // them from other threads, never from a `done` callback.
  size_t replicas_connected() const;
  RuntimeCounters counters() const;
  void stop();

 private:
  struct Impl;
  explicit ClientPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pbft::runtime
