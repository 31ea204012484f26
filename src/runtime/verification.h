// Verification cost: what checking an incoming frame costs, and so where it
// is checked. A frame is first held against its link (check_link: may this
// link carry a frame from that sender at all?), then screened on the loop
// (screen_frame: the core may not need it checked at all), then checked
// inline when the hand-off to the verification pool would cost more than
// the check, else on the pool.
// Internal to src/runtime; docs/design.md ("Verification off the loop",
// "Votes nobody needs") says why.
//
// Thread safety: examine() runs on any thread (wire::decode and
// Verifier::verify are thread-safe); everything else is for the event-loop
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pbft/cluster_config.h"
#include "pbft/messages.h"
#include "pbft/replica.h"
#include "pbft/runtime.h"
#include "pbft/verifier.h"
#include "src/runtime/link_hello.h"
#include "src/runtime/verify_pool.h"

namespace pbft::runtime {

class Connection;

// What checking one frame found out: a verified message, or why it is
// dropped.
struct FrameOutcome {
  enum class Kind : uint8_t {
    ok,
    undecodable,
    unknown_sender,
    unauthentic,
    unwanted,
    // Refused by check_link (counted there): the link may not carry it.
    wrong_sender,
    wrong_client,
  };
  Kind kind = Kind::ok;
  std::optional<Verified> verified;
  std::string reason;
  // The frame shows the link's principal faulty (it does not decode, it is
  // the principal's own and fails authentication, or it is longer than any
  // a correct replica sends: Replica::refuse_size): the link closes and the
  // principal backs off.
  bool close_link = false;
};

// Whether a frame may come on a link authenticated for `link` (Connection::
// hello), by the type and sender of its header (which decode_header
// checked). A replica's link carries that replica's messages; of other
// replicas' only those a correct replica relays (PRE-PREPARE, PREPARE,
// CHECKPOINT, NEW-VIEW: signed, retransmitted to a peer that lags), and
// clients' requests (a backup forwards them to the primary). COMMIT, STATUS,
// VIEW-CHANGE, FETCH and FETCH-REPLY are only ever sent by their sender
// itself. A client link carries requests of its clients and nothing else.
struct LinkVerdict {
  FrameOutcome::Kind kind = FrameOutcome::Kind::ok;  // ok, wrong_sender or wrong_client
  // The frame is the link principal's own, with nothing of anyone else's
  // inside, so failing authentication shows that principal faulty (a
  // PRE-PREPARE's requests, or the messages in a VIEW-CHANGE or NEW-VIEW,
  // may fail for their authors' fault, not the sender's).
  bool own = false;
  std::string reason;
};
LinkVerdict check_link(ByteView frame, const Hello& link);

// Checks a decoded frame's sender (it must be in the cluster file) and its
// authentication; `checks` (the core's screening) says what of a
// pre-prepare's requests and a VIEW-CHANGE's contents is checked too.
FrameOutcome examine(Message message, const Verifier& verifier, const ClusterConfig& cluster,
                     Checks checks = {});
// Decodes and checks one frame.
FrameOutcome examine(ByteView frame, const Verifier& verifier, const ClusterConfig& cluster);

// Counts (and logs at debug level) a frame that is not handed to the core,
// by the reason its outcome gives. Not for ok outcomes.
void count_dropped(const FrameOutcome& outcome, const Connection& c, RuntimeCounters& counters);

// What checking a frame costs, which decides where it is checked.
enum class Cost : uint8_t {
  cheap,          // MACs only, and small: a few microseconds
  one_signature,  // one Ed25519 verification (~50 us), perhaps with MACs
  heavy,          // several signatures, or much to hash
};
// The frame's header must have passed wire::decode_header.
Cost verify_cost(ByteView frame, const ProtocolConfig& config);

// ---------------------------------------------------------------- screening
//
// The first step of the one receive path (Replica::screen): what the loop
// decided about a frame before its authentication is checked.
struct ScreenedFrame {
  // Set when the frame is settled already (undecodable, refused by the
  // core's screening, or a vote it no longer wants, now kept unchecked).
  std::optional<FrameOutcome> settled;
  // The frame decoded here, if it was (the types Replica::screens).
  std::optional<Message> decoded;
  Checks checks;
};
ScreenedFrame screen_frame(ByteView frame, Replica& replica);

// ------------------------------------------------------------------ checking

// Checks screened frames inline or on a VerifyPool. Holds the pool; the
// verifier and the cluster must outlive it.
class FrameChecker {
 public:
  FrameChecker(asio::io_context& io, unsigned threads, const Verifier& verifier,
               const ClusterConfig& cluster);

  // Whether the frame is checked inline (check_here) rather than on the
  // pool (check_on_pool): cheap frames always, a frame with one signature
  // while no job is on the pool, every frame when the pool has no threads.
  bool checks_here(ByteView frame, const ScreenedFrame& screened) const;
  FrameOutcome check_here(ByteView frame, ScreenedFrame screened) const;
  // `done` runs later on the loop thread with the outcome (never if the
  // pool is stopped first). The pool serves the frames of each lane (each
  // principal) in turn, replicas' first (verify_pool.h).
  void check_on_pool(Lane lane, Bytes frame, ScreenedFrame screened,
                     std::function<void(FrameOutcome)> done);

  void stop() { pool_.stop(); }
  unsigned threads() const { return pool_.threads(); }
  size_t jobs_on_pool() const { return pool_jobs_; }

 private:
  const Verifier& verifier_;
  const ClusterConfig& cluster_;
  VerifyPool pool_;
  size_t pool_jobs_ = 0;  // frames handed to the pool, outcome not back yet
};

}  // namespace pbft::runtime
