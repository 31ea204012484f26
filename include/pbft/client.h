// The PBFT client core (paper section 4.1): pure and deterministic like the
// replica. A client has at most one request outstanding; it sends it to the
// primary of the last view it saw, naming one replica its replier: that one
// replies with the result, the others with its digest (PBFT's digest
// replies). It accepts a result once f+1 replicas sent matching replies
// (same timestamp and result digest) and it holds a result with that digest,
// learns the view from them, and on timeout re-sends to all replicas, which
// answer a re-sent request they executed with the full result.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "pbft/config.h"
#include "pbft/crypto.h"
#include "pbft/mutant.h"
#include "pbft/replica.h"
#include "pbft/verifier.h"

namespace pbft {

struct Completion {
  Timestamp timestamp;
  Bytes result;
  View view;  // the view the replies came from
};

struct ClientEffects {
  std::vector<Send> sends;  // destinations are replicas
  // The outstanding request's end: its result, or why there is none. The
  // one failure: f+1 replicas answered that they executed a later
  // timestamp of this client (its clock went back, e.g. across a restart).
  // The request will not execute now; it may have executed before that
  // later one (its replies lost), so its outcome is unknown. The client's
  // next requests carry timestamps above the one they vouch for.
  std::optional<Result<Completion>> completed;
};

struct ClientOptions {
  // Re-send to all replicas when no result arrived within this many ticks;
  // the timeout doubles on each retry up to retransmit_ticks_max.
  uint64_t retransmit_ticks = 50;
  uint64_t retransmit_ticks_max = 800;
  // The first timestamp used is first_timestamp + 1. A client that restarts
  // should pass a value above any timestamp it used before (e.g. wall-clock
  // ns); if it does not (its clock went back), its first request fails
  // (ClientEffects::completed) and the next ones go on above what it used.
  Timestamp first_timestamp = 0;
  // A known bug to switch on (include/pbft/mutant.h): honoured only in a
  // build with PBFT_MUTANTS.
  mutant::Id mutant = mutant::Id::none;
};

class Client {
 public:
  // crypto.self() must be client `id`.
  static Result<std::unique_ptr<Client>> create(const ProtocolConfig& config, ClientId id,
                                                const Crypto& crypto, ClientOptions options);
  ~Client();

  // Starts a request. Fails if one is outstanding or the operation is too large.
  Result<Timestamp> submit(Bytes operation, bool read_only = false);
  // A verified reply.
  void step(const Verified& reply);
  // Whether step() would look at this reply at all (it is for the
  // outstanding request): a host may skip verifying the others, such as the
  // late replies after f+1 matching ones completed the request.
  bool wants(const Reply& reply) const;
  void tick();
  ClientEffects take_effects();

  bool busy() const;
  View view() const;  // the client's idea of the current view
  ClientId id() const;

 private:
  struct State;
  explicit Client(std::unique_ptr<State> state);
  void on_stale_reply(const Reply& reply);
  std::unique_ptr<State> state_;
};

}  // namespace pbft
