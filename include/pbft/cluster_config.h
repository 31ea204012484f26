// A cluster as an operator describes it: the cluster file (TOML) listing the
// replicas, the clients' public keys and the protocol parameters, and the
// private key files beside it. Everything read from disk is validated here;
// every error names the file, the TOML key and what is wrong, e.g.
//
//   /etc/pbft/cluster.toml: replicas[2].port: must be in 1..65535, got 70000
//
// The file format (every key outside [[replicas]] is optional except f; the
// knobs, their defaults and their ranges are the table in knobs.h):
//
//   # Byzantine faults tolerated; the file must list exactly n = 3f+1 replicas.
//   f = 1
//   # How clients authenticate requests: "signature" (default) or "mac".
//   client_auth = "signature"
//   # The runtime's clock tick, and protocol timers in ticks.
//   tick_ms = 10
//   status_interval_ticks = 10      # a waiting replica asks peers to retransmit
//   view_change_timeout_ticks = 200 # a backup suspects the primary (doubles while views fail)
//   client_retransmit_ticks = 50    # a client re-sends after this (doubling)
//   # Batching and the log (in requests and sequence numbers).
//   batch_size_max = 256
//   in_flight_max = 16
//   checkpoint_interval = 128       # K
//   log_window = 256                # L = H - h
//   log_level = "info"              # trace, debug, info, warn, error, off
//   durability = "fsync"            # or "none": nothing on disk (benchmarks only, unsafe)
//   encryption = "tls"              # or "none": cleartext links, still mutually
//                                   # authenticated (benchmarks; docs/design.md "Links")
//
//   [kv]                            # the key-value service's settings
//   partitions = 4096               # the same at every replica
//   bytes_max = 4294967296          # the store's total (keys, values, 64 per key)
//   client_bytes_max = 268435456    # what one client's keys may take
//   bucket_key_file = "kv-bucket.key" # optional; the replicas' secret bucket hash key
//
//   [[replicas]]                    # one table per replica, ids 0..n-1
//   id = 0
//   host = "127.0.0.1"
//   port = 7000
//   listen = "127.0.0.1"            # optional: the address (or address:port) it binds;
//                                   # default host (resolved) and port; never 0.0.0.0
//                                   # unless written here
//   public_key = "<64 hex chars: the Ed25519 public key>"
//   key_file = "replica-0.key"      # optional; relative to this file's directory
//
//   [[clients]]                     # optional; one table per client allowed in
//   id = 0
//   public_key = "<64 hex chars>"
//   key_file = "client-0.key"       # optional
//
// Unknown keys are errors (a typo must not silently fall back to a default),
// and so are removed spellings (knobs.h), with an error naming the new one.
//
// A private key file holds one Ed25519 seed (32 bytes) as 64 hex characters
// and an optional newline; it must be readable by its owner only (mode 0600
// or stricter). `pbft keygen` writes a complete cluster (generate_cluster).
//
// Thread safety: the functions are independent and may run concurrently on
// different paths.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pbft/config.h"
#include "pbft/crypto.h"
#include "pbft/knobs.h"
#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft {

struct ReplicaEndpoint {
  ReplicaId id = 0;
  std::string host;  // a name or an address, non-empty: where peers and clients dial
  uint16_t port = 0;
  // Where the replica listens: the file's `listen` (an address or a name,
  // with an optional :port; "[v6]:port" for IPv6), else host and port.
  std::string listen_host;
  uint16_t listen_port = 0;
  PublicKey public_key{};
  // Where this replica's private key is; relative paths in the file are
  // resolved against the file's directory. Empty if the file names none.
  std::filesystem::path key_file;
};

struct ClusterConfig {
  // n is the number of replicas listed; f, batching, window, checkpoint
  // interval, status timer and client authentication come from the file.
  ProtocolConfig protocol;
  std::vector<ReplicaEndpoint> replicas;            // index = id
  std::map<ClientId, PublicKey> clients;            // the clients allowed in
  std::map<ClientId, std::filesystem::path> client_key_files;  // those the file names
  // The runtime host's knobs.
  uint32_t tick_ms = static_cast<uint32_t>(knob_default(KnobId::tick_ms));  // its clock tick
  // ClientOptions::retransmit_ticks
  uint64_t client_retransmit_ticks = knob_default(KnobId::client_retransmit_ticks);
  std::string log_level{knob_choices::log_level[knob_default(KnobId::log_level)]};
  // Whether replicas keep their state on disk: an index into
  // knob_choices::durability (runtime::Durability).
  uint32_t durability = static_cast<uint32_t>(knob_default(KnobId::durability));
  // What protects the links: an index into knob_choices::encryption
  // (runtime::Encryption).
  uint32_t encryption = static_cast<uint32_t>(knob_default(KnobId::encryption));
  // The key-value service's knobs (the file's [kv] table): the `pbft` tool
  // builds the service from them; the replication library never reads them.
  struct KvSettings {
    uint64_t partitions = knob_default(KnobId::kv_partitions);  // kv::Store partitions
    uint64_t bytes_max = knob_default(KnobId::kv_bytes_max);    // kv::Limits
    uint64_t client_bytes_max = knob_default(KnobId::kv_client_bytes_max);
    // The file holding the store's bucket key (a secret of the replicas:
    // clients need not have it), relative paths resolved against the
    // file's directory; empty if the file names none (a fixed, public
    // bucket hash).
    std::filesystem::path bucket_key_file;
  } kv;
  std::filesystem::path directory;  // the directory the file was in

  // The public keys of every replica and listed client, for make_crypto.
  KeyDirectory key_directory() const;
};

// Any knob's value in `c` as the knob table counts it (a choice as its
// index), and setting it (value within the knob's range).
uint64_t knob_value(const ClusterConfig& c, KnobId id);
void set_knob(ClusterConfig& c, KnobId id, uint64_t value);

// Reads and validates a cluster file. Fails (naming file, key and problem) on
// a missing or unreadable file, a TOML syntax error, a missing required key,
// a value of the wrong type or out of its range, f < 1, a replica count other
// than 3f+1, replica ids other than exactly 0..n-1, a duplicate host:port, a
// malformed listen address (empty, or a port outside 1..65535), a
// malformed public key (not 64 hex characters or not a valid Ed25519 point),
// two principals with the same public key, a client id not below
// constants::clients_max or listed twice, a knob's value outside its range
// or choices, an unknown key, or a removed spelling (naming the new one).
Result<ClusterConfig> load_cluster_config(const std::filesystem::path& file);

// Reads a private key file and returns the full Ed25519 secret key (seed ||
// public key). Fails on a missing or unreadable file, a file readable by
// group or others (the mode is named), content other than 64 hex characters
// and an optional newline, or a seed whose public key is not `expected`.
// Copies of the seed made here are wiped.
Result<SecretKey> load_secret_key(const std::filesystem::path& file, const PublicKey& expected);

// Reads the key-value store's bucket key file: 64 hex characters (32
// bytes; the store uses a hash of them) and an optional newline, readable
// by its owner only, like a private key file. Fails with the file and the
// problem.
Result<std::array<uint8_t, 32>> load_bucket_secret(const std::filesystem::path& file);

// Creates `file` with mode 0600 holding `seed` in the format above. The file
// is created exclusively (O_CREAT|O_EXCL with the mode given at creation, so
// it is never readable by others, not even briefly); an existing file is
// never overwritten.
Status write_secret_key(const std::filesystem::path& file, const std::array<uint8_t, 32>& seed);

// What `pbft keygen` makes.
struct ClusterSpec {
  uint32_t replicas = 4;  // n; must be 3f+1 with f >= 1
  uint32_t clients = 8;
  std::string host = "127.0.0.1";
  uint16_t base_port = 7000;  // replica i listens on base_port + i
  bool force = false;         // replace existing files
};

// Generates fresh keys and writes, in `directory` (created if needed),
// replica-<i>.key, client-<c>.key, kv-bucket.key (mode 0600) and cluster.toml with default
// parameters, which load_cluster_config accepts as it is. Without
// spec.force, fails before writing anything if any of those files exists.
// Returns the paths written, cluster.toml last.
Result<std::vector<std::filesystem::path>> generate_cluster(const std::filesystem::path& directory,
                                                            const ClusterSpec& spec);

}  // namespace pbft
