// The PBFT replica core: a pure, single-threaded, deterministic state
// machine (etcd raft's Step/Tick/Ready shape). Inputs are verified messages
// (step) and clock ticks (tick); outputs accumulate as Effects that the host
// drains with take_effects() and carries out in order. The core has no
// sockets, clocks, threads or randomness; it executes committed batches on
// the Service it is given, which must itself be deterministic.
//
// Thread safety: none; one thread drives a Replica.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "pbft/config.h"
#include "pbft/counters.h"
#include "pbft/crypto.h"
#include "pbft/durable.h"
#include "pbft/messages.h"
#include "pbft/mutant.h"
#include "pbft/service.h"
#include "pbft/verifier.h"

namespace pbft {

// Where a message goes.
struct Destination {
  enum class Kind : uint8_t { replica, all_replicas, client };
  Kind kind;
  uint32_t id;  // replica or client id; unused for all_replicas (every replica but the sender)
  static Destination replica(ReplicaId r) { return {Kind::replica, r}; }
  static Destination all_replicas() { return {Kind::all_replicas, 0}; }
  static Destination client(ClientId c) { return {Kind::client, c}; }
};

struct Send {
  Destination to;
  std::shared_ptr<const Message> message;  // shared: encode once, send to many
};

// A batch the replica executed, for observers (the simulator's checkers,
// logs, metrics). The results were already sent as replies.
struct ExecutedRequest {
  ClientId client;
  Timestamp timestamp;
  bool fresh;  // executed now (false: an old timestamp, skipped for exactly-once)
};
struct Executed {
  Seq seq;
  View view;  // the view in which the batch committed
  Digest batch_digest;
  std::vector<ExecutedRequest> requests;
};

// A checkpoint installed by state transfer: the replica's state jumped to
// the state after `seq` without executing the batches in between.
struct StateInstalled {
  Seq seq;
  Digest digest;
  uint64_t bytes_fetched;  // partition bytes and tree digests received for this transfer
};

// A durability barrier: every record (durable.h) written before the
// effects after it, and durable (synced) before them when `sync`: when a
// record needs_sync. A host without storage counts the records; a durable
// host writes them, in order, and waits for the sync if asked.
struct Persist {
  std::vector<Record> records;
  bool sync = false;
};

// One thing the replica wants done. Effects are carried out in the order
// of Effects::list, each Persist as a barrier.
using Effect = std::variant<Persist, Send, Executed, StateInstalled>;

// What one or more inputs asked for, in order. The records of one batch of
// effects join one Persist at its head (persisting early is always safe;
// one sync then covers every message the inputs made: group commit), so a
// host that carries out the list in order never lets a send overtake the
// record it depends on.
struct Effects {
  std::vector<Effect> list;
  bool empty() const { return list.empty(); }
  // The effects of one kind, in order (for observers and tests; a host
  // carries out `list` in order instead).
  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const Effect& e : list) {
      if (const T* x = std::get_if<T>(&e)) out.push_back(*x);
    }
    return out;
  }
};

// Visits each alternative of an Effect with its own lambda:
//   std::visit(Overloaded{[](const Send&) {...}, [](const Persist&) {...}, ...}, effect)
template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

// The messages the replica authored that bind it (the write-ahead rule
// applies to them): PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT, VIEW-CHANGE,
// NEW-VIEW. Requests, replies, STATUS and fetches bind nothing.
bool binds_sender(const Message& message);

struct ReplicaOptions {
  // The replica restarted and lost its state (or never had it but its peers
  // may have run without it). It fetches the state by state transfer and
  // does not vote until it has executed past every sequence number it might
  // have voted on before. False only for the first start of a new cluster.
  bool recovering = false;
  // With recovering: a value the host never used before for this replica
  // (e.g. 64 random bits), which peers echo in their answers.
  uint64_t recovery_nonce = 0;
  // What the replica persisted before it stopped (durable.h): it resumes
  // from there (replays the batches it executed above its checkpoint,
  // rebuilds its log, stays in its view) instead of starting anew. Null or
  // empty: the initial state. Not with recovering.
  std::shared_ptr<const PersistedState> restore;
  // Where the replica's freshness counter starts (STATUS and FETCH carry
  // it; messages.h): above every counter an earlier run of this replica
  // used, or its peers refuse its STATUS and FETCH as replays until it
  // gets past them. The runtime passes the wall clock in nanoseconds (a
  // replica sends far fewer than one such message per nanosecond); the
  // simulator its virtual time. 0: a replica that never restarts.
  uint64_t freshness_base = 0;
  // A known bug to switch on (include/pbft/mutant.h): honoured only in a
  // build with PBFT_MUTANTS, to test that the simulator catches it.
  mutant::Id mutant = mutant::Id::none;
};

class ReplicaState;  // defined in src/core

class Replica {
 public:
  // Fails on an invalid config or an id out of range. crypto.self() must be
  // replica `self`. crypto and service must outlive the Replica.
  static Result<std::unique_ptr<Replica>> create(const ProtocolConfig& config, ReplicaId self,
                                                 const Crypto& crypto, Service& service,
                                                 ReplicaOptions options = {});
  ~Replica();

  // The one receive path, the same in every host (the TCP runtime, the
  // simulator, the test harness):
  //   1. peek the frame's type (wire::peek_type) and, if screens(type),
  //      decode it where the core lives and screen() it: the core may
  //      refuse it (a rule that needs no cryptography: counted under its
  //      DropReason), take it as it is (nothing to check), or say what to
  //      check;
  //   2. verify it (Verifier::verify with the screening's Checks; a frame
  //      of a type not screened: everything checked);
  //   3. step() it.
  // Authentication is the costly part (Ed25519 ~50 us); screening costs a
  // decode and a few map look-ups and may save it. A screening decides on
  // the replica's state at the frame's arrival, which may be before
  // earlier frames are stepped: it refuses only what step() would refuse
  // from then on.
  struct Screening {
    // The core took the message (refused it, counted, or kept it
    // unchecked): do not verify or step it.
    bool taken = false;
    Checks checks;  // else: what to check
  };
  // True for the types screen() may refuse, take or check partly: votes,
  // VIEW-CHANGE and NEW-VIEW, STATUS and FETCH, and pre-prepares of signed
  // requests. For every other type screen() says "verify everything", so a
  // host need not decode them early.
  bool screens(MessageType type) const;
  // Before anything of a frame but its header is read or decoded: true (and
  // counted under its DropReason) when a frame of this type and length is
  // larger than any a correct replica sends with this n, f and L (a
  // VIEW-CHANGE of more than 2f+1 CHECKPOINTs and L certificates of 2f
  // prepares), so a faulty replica's megabytes are not decoded to be
  // refused.
  bool refuse_size(MessageType type, size_t frame_bytes);
  // A decoded message before its authentication is checked. When taken,
  // `message` may have been moved from. Combines the state checks, wants(),
  // keep_unchecked() and leaves_batch_unchecked() below (public for tests).
  Screening screen(Message& message);
  // A verified message from a replica, or a request from a client (directly
  // or forwarded by a backup).
  void step(const Verified& message);
  // The same, without copying what the replica keeps (a pre-prepare's batch).
  void step(Verified&& message);
  // False when a decoded, not yet verified message could not change this
  // replica whatever its authentication: a PREPARE for a slot already
  // prepared in that view, a COMMIT for one already committed. Hosts skip
  // the signature or MAC of such a message and hand it to keep_unchecked
  // (with 3f+1 replicas, the last f prepares of a slot usually go
  // unchecked). Once false for a message, step() would ignore that message
  // from then on (a later view or a discarded slot ignores it too), so a
  // host may ask on arrival, before earlier frames are delivered.
  bool wants(const Message& message) const;
  // True for a pre-prepare whose requests this replica may leave
  // unchecked (BatchRequests::unchecked): with signed requests, f backups
  // per sequence number (rotating) rely on the others' prepared certificate
  // instead of checking every request, while the others vote; they check
  // the batch themselves if the certificate is late.
  bool leaves_batch_unchecked(const Message& message) const;
  // A message wants() declined, unchecked. A prepare is kept (one per
  // sender and slot; a second one from the same sender gets the held one
  // checked, so a forgery cannot shut the real one out) but never counted:
  // if a peer that lags asks for the slot, its signature is checked then
  // and it is relayed, as a checked prepare would be (its sender may be
  // down by then). Others are ignored.
  void keep_unchecked(Message&& message);
  // One tick of the host's clock.
  void tick();
  // Moves out what the replica wants done since the last call.
  Effects take_effects();

  // Observers.
  ReplicaId id() const;
  View view() const;                // while changing views: the view being installed
  bool view_changing() const;       // sent VIEW-CHANGE, not yet in the new view
  Seq last_executed() const;
  Seq low_watermark() const;
  Seq high_watermark() const;
  bool is_primary() const;
  size_t log_size() const;         // sequence numbers with state in the log
  // The lowest and highest of them (nothing when the log is empty).
  std::optional<std::pair<Seq, Seq>> log_range() const;
  size_t pending_requests() const; // requests waiting to be ordered
  size_t checkpoints_held() const; // checkpoints kept (stable and newer)
  size_t view_changes_held() const;       // VIEW-CHANGEs kept (at most one per replica)
  size_t checkpoint_claims_held() const;  // CHECKPOINTs kept above what it executed
  bool recovering() const;         // restarted without state and not yet voting
  bool transferring() const;       // a state transfer is in progress
  std::optional<Seq> transfer_target() const;
  const ReplicaCounters& counters() const;

 private:
  explicit Replica(std::unique_ptr<ReplicaState> state);
  std::unique_ptr<ReplicaState> state_;
  size_t view_change_bytes_max_;  // refuse_size
};

}  // namespace pbft
