// Attackers of a real cluster, for measuring what it keeps serving under
// attack (`pbft bench --attack MODE`, `pbft attack`; issue 18). TEST-ONLY:
// nothing in a replica or a client uses this library, and it exists to be
// pointed at a cluster of one's own.
//
// Each mode is one row of PBFT_ATTACK_MODES. Three families:
//   network  no keys: raw TCP to the replicas' ports (junk, floods of
//            connections, slow-loris);
//   client   an authorised client of the cluster file, with its own keys
//            (AttackOptions::clients), misbehaving within what a client
//            can send;
//   replica  the f = 1 faulty replica: it holds replica `replica`'s key and
//            takes its place (that replica is not started as an honest
//            process), dialing the others and taking their links.
// A mode whose row says it is not implemented has its name reserved, so
// that the command line refuses it with its reason ("not yet"). A new mode
// is a row here and a case in its family's make_*_campaign (campaign.h);
// one that a replica process plays itself (slow-primary, in the replica
// host) is a row whose bench start-up names that replica instead of
// spawning `pbft attack`.
//
// An Attacker runs on one event-loop thread of its own (client modes that
// use a ClientPool run that pool's thread too) until stop().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/runtime.h"
#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft::attack {

enum class Family : uint8_t { network, client, replica };
const char* family_name(Family f);

// The modes: X(id, cli name, family, implemented, what it does). The
// command line's list, the documentation's table and the tests all walk
// this table.
#define PBFT_ATTACK_MODES(X)                                                                     \
  X(junk_flood, "junk-flood", network, true,                                                     \
    "an outsider (no key of the cluster's): connections to every replica that run the TLS "      \
    "handshake and the greeting, then send a hello whose signatures are random; one in eight "   \
    "sends noise from its first byte; each reconnects when closed, as fast as it can")           \
  X(connection_flood, "connection-flood", network, true,                                         \
    "an outsider: as many connections to every replica as the attacker can hold (thousands), "  \
    "each through the TLS handshake and the greeting, then silent, reopening each one that is "  \
    "closed")                                                                                    \
  X(slow_loris, "slow-loris", network, true,                                                     \
    "an outsider: connections that send their greeting and hello a byte at a time, spread "      \
    "over 3/4 of the hello timeout; reopened when closed")                                       \
  X(replay_requests, "replay-requests", client, true,                                            \
    "an authorised client that has its requests executed, then re-sends them (the last "         \
    "executed and older, stale ones) to every replica as fast as its links take them")          \
  X(partial_auth, "partial-auth", client, true,                                                  \
    "with client_auth = \"mac\": requests whose authenticator is right for the primary only "    \
    "(a Crypto decorator corrupts the other entries), following the view through a probe "      \
    "client's replies")                                                                          \
  X(memory_fill, "memory-fill", client, true,                                                    \
    "authorised clients writing unique keys with the largest values allowed as fast as they "    \
    "can, going on after quota and full errors")                                                 \
  X(replay_status, "replay-status", replica, true,                                               \
    "the faulty replica sends one signed STATUS and one FETCH, then re-sends those same "        \
    "messages over and over")                                                                    \
  X(oversized_view_change, "oversized-view-change", replica, true,                               \
    "the faulty replica sends signed VIEW-CHANGEs as large as the wire decoder allows (as "      \
    "many certificates of as many prepares as fit a frame) for the next views, repeatedly")      \
  X(replica_junk, "replica-junk", replica, true,                                                 \
    "the faulty replica sends frames with valid headers in its own name and random bodies on "   \
    "its replica links, now and then a bad header")                                              \
  X(slow_primary, "slow-primary", replica, true,                                                 \
    "replica 0, the first primary, is started with --slow-primary-ms (the replica host holds "   \
    "each of its pre-prepares back 90% of the view-change timeout); no attacker process")

enum class Mode : uint8_t {
#define PBFT_ATTACK_MODE_ENUM(id, name, family, implemented, help) id,
  PBFT_ATTACK_MODES(PBFT_ATTACK_MODE_ENUM)
#undef PBFT_ATTACK_MODE_ENUM
};

struct ModeInfo {
  Mode mode;
  std::string_view name;  // as the command line spells it
  Family family;
  bool implemented;
  std::string_view help;
};

inline constexpr ModeInfo mode_table[] = {
#define PBFT_ATTACK_MODE_ROW(id, name, family, implemented, help) \
  {Mode::id, name, Family::family, implemented, help},
    PBFT_ATTACK_MODES(PBFT_ATTACK_MODE_ROW)
#undef PBFT_ATTACK_MODE_ROW
};

const ModeInfo& info(Mode mode);
// The row named `name`, or nothing.
const ModeInfo* find_mode(std::string_view name);
// Every name, comma-separated, in table order.
std::string mode_names();

// How many client ids (consecutive, with key files) a mode needs.
uint32_t clients_needed(Mode mode);

// What an attacker did, declared once: X(name, help). Gauges (a current or
// highest value) say so in their help.
#define PBFT_ATTACK_COUNTERS(X)                                                                  \
  X(frames_sent, "frames written: wire frames whole or cut off, hellos and junk writes")         \
  X(bytes_sent, "bytes written")                                                                 \
  X(frames_received, "frames (or reads, on raw sockets) received from the replicas")             \
  X(connect_attempts, "connection attempts")                                                     \
  X(connections_opened, "connections established")                                               \
  X(connections_closed, "connections that ended (closed by a replica, or failed)")               \
  X(connections_open, "gauge: connections open now")                                             \
  X(connections_open_max, "gauge: the most connections open at once")                            \
  X(requests_sent, "client modes: requests sent (replays included)")                             \
  X(requests_completed, "client modes: the attacker's requests that f+1 replicas answered")      \
  X(writes_ok, "memory-fill: writes the store took")                                             \
  X(writes_quota, "memory-fill: writes refused by the client's quota (client_bytes_max)")        \
  X(writes_full, "memory-fill: writes refused by the store's total (bytes_max)")                 \
  X(writes_refused_other, "memory-fill: writes refused otherwise (too large, malformed)")        \
  X(view_seen, "gauge: the highest view the attacker learned of")                                \
  X(messages_built, "replica modes: distinct signed messages made (a replay re-sends one)")

struct AttackCounters {
#define PBFT_ATTACK_COUNTER_FIELD(name, help) uint64_t name = 0;
  PBFT_ATTACK_COUNTERS(PBFT_ATTACK_COUNTER_FIELD)
#undef PBFT_ATTACK_COUNTER_FIELD
};

// Calls f(name, help, value) for every counter, in table order.
template <typename F>
void for_each_counter(const AttackCounters& c, F&& f) {
#define PBFT_ATTACK_COUNTER_VISIT(name, help) \
  f(std::string_view(#name), std::string_view(help), c.name);
  PBFT_ATTACK_COUNTERS(PBFT_ATTACK_COUNTER_VISIT)
#undef PBFT_ATTACK_COUNTER_VISIT
}
// The counters as one JSON object, and back (a missing key reads as 0).
std::string to_json(const AttackCounters& c);
Result<AttackCounters> counters_from_json(std::string_view text);

struct AttackOptions {
  Mode mode = Mode::junk_flood;
  ClusterConfig cluster;
  // Replica modes: the replica whose place the attacker takes, and its key.
  ReplicaId replica = 0;
  SecretKey replica_key{};
  // Client modes: its clients (consecutive ids, at least clients_needed)
  // and their keys.
  std::vector<runtime::ClientPool::Member> clients;
  // Network modes: connections to each replica (0: the mode's default), and
  // the local address they come from (empty: the system's choice; on one
  // machine, another loopback address such as 127.0.0.2 is another host).
  uint32_t connections_per_replica = 0;
  std::string source_address;
  // The replicas' hello timeout, which slow-loris stays inside.
  uint32_t hello_timeout_ms = runtime::ReplicaHostOptions{}.hello_timeout_ms;
  uint64_t seed = 1;
};

class Attacker {
 public:
  // Checks the options against the mode (keys, clients, an implemented
  // mode) and starts the attack on a thread of its own.
  static Result<std::unique_ptr<Attacker>> start(AttackOptions options);
  ~Attacker();  // stops
  Attacker(const Attacker&) = delete;
  Attacker& operator=(const Attacker&) = delete;

  // A copy of the counters (asks the attacker's thread, up to 2 s; after
  // stop, the last ones). Any thread.
  AttackCounters counters() const;
  // Stops the attack and closes every connection; idempotent.
  void stop();

  struct Impl;

 private:
  explicit Attacker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pbft::attack
