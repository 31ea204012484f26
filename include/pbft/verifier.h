// Authentication at the boundary. The core's handlers take Verified messages
// only; the only way to make one is Verifier::verify, which checks that the
// claimed sender may send this type and that its signature or MACs are valid
// for the receiving principal. Stateless and thread-safe: the runtime may run
// it on a thread pool, the simulator runs it inline.
#pragma once

#include <span>
#include <type_traits>
#include <vector>

#include "pbft/assert.h"
#include "pbft/config.h"
#include "pbft/crypto.h"
#include "pbft/messages.h"
#include "pbft/mutant.h"
#include "pbft/status.h"
#include "pbft/wire.h"

namespace pbft {

class Verified {
 public:
  const Message& message() const { return message_; }
  Message take() && { return std::move(message_); }
  // False for a pre-prepare verified with BatchRequests::unchecked: its
  // own signature was checked, nothing about the requests in its batch.
  bool batch_checked() const { return batch_checked_; }
  // The digests D(r) the verifier computed while checking requests (a
  // request's tag covers its digest): one for a request, one per request in
  // batch order for a pre-prepare whose batch it checked, else none. The
  // core reuses them for batch digests instead of hashing each request again.
  const std::vector<Digest>& request_digests() const { return request_digests_; }
  // False for a VIEW-CHANGE verified with Checks::view_change_contents
  // false: its own signature was checked, not those of its checkpoint proof
  // and certificates (the core checks them if it ever needs them).
  bool view_change_contents_checked() const { return view_change_contents_checked_; }

 private:
  friend class Verifier;
  explicit Verified(Message m, bool batch_checked = true,
                    std::vector<Digest> request_digests = {},
                    bool view_change_contents_checked = true)
      : message_(std::move(m)),
        batch_checked_(batch_checked),
        request_digests_(std::move(request_digests)),
        view_change_contents_checked_(view_change_contents_checked) {}
  Message message_;
  bool batch_checked_ = true;
  std::vector<Digest> request_digests_;
  bool view_change_contents_checked_ = true;
};

// Whether Verifier::verify checks the authentication of each request inside
// a pre-prepare's batch. A replica may leave them unchecked only when the
// core says so (Replica::leaves_batch_unchecked): it then relies on the
// others' prepared certificate, or checks them itself later.
enum class BatchRequests : uint8_t { checked, unchecked };

// What Verifier::verify checks beyond the message's own tag, as the core's
// screening decided (Replica::screen); the default checks everything.
struct Checks {
  // A pre-prepare's requests: each one's tag, or none (the core relies on
  // the others' prepared certificate).
  BatchRequests requests = BatchRequests::checked;
  // Positions in a pre-prepare's batch (ascending) of requests the replica
  // executed already (a timestamp at or below its client's last executed
  // one): their digests are computed, their tags not checked. Execution
  // skips them at every correct replica, so their authenticity is moot; a
  // primary that stuffs a batch with replayed signed requests costs no
  // signature check each.
  std::vector<uint32_t> executed_requests;
  // A VIEW-CHANGE's embedded signatures (its checkpoint proof and
  // certificates). Only the new view's primary uses them (to build its
  // NEW-VIEW; every backup checks them again inside it), so the others, and
  // the primary before it enters that view, leave them unchecked.
  bool view_change_contents = true;
};

class Verifier {
 public:
  // crypto.self() is the receiving principal (a replica or a client).
  // `mutant` (include/pbft/mutant.h) is the receiving replica's, honoured
  // in a build with PBFT_MUTANTS only.
  Verifier(const ProtocolConfig& config, const Crypto& crypto,
           mutant::Id mutant = mutant::Id::none);

  // Checks, without looking at protocol state, the cheap before the costly
  // (every count and form before any signature, an outer signature before
  // the embedded ones, a batch's digest before its requests' tags):
  // - the sender's id is in range for the message type, and the type may be
  //   received by this principal (replicas take no replies, clients only replies);
  // - structural rules (authenticator sizes = n, reply addressed to self)
  //   and the bounds that n, f and the log window L put on counts: a batch
  //   of at most batch_size_max requests, a VIEW-CHANGE with at most 2f+1
  //   checkpoints in its proof and L certificates of at most 2f prepares, a
  //   NEW-VIEW with at most n VIEW-CHANGEs and L pre-prepares;
  // - the signature, or the MAC meant for self, is valid;
  // - for a pre-prepare: its batch hashes to its digest, and every request
  //   in the batch is authentic for self (as `checks` says);
  // - for a view change or new view: every embedded signature (a new
  //   view's VIEW-CHANGE signatures and O's before any VIEW-CHANGE's
  //   contents).
  Result<Verified> verify(Message message, Checks checks) const;
  Result<Verified> verify(Message message,
                          BatchRequests requests = BatchRequests::checked) const;
  // The bounds above alone (no cryptography): for hosts and tests.
  Status check_bounds(const Message& message) const;
  // The embedded signatures of a VIEW-CHANGE (its proof and certificates),
  // for a core that received it with Checks::view_change_contents false.
  Status verify_view_change_contents(const ViewChange& vc) const;
  // Each request of a pre-prepare's batch is authentic for self. Appends
  // each request's digest to `digests` when given.
  Status verify_batch(const PrePrepare& pp, std::vector<Digest>* digests = nullptr) const;

 private:
  // The request's form (client, auth mode, replier, authenticator size): no
  // cryptography.
  Status check_request_form(const Request& r) const;
  // The request's tag over wire::request_tag_payload(digest), digest = D(r).
  Status verify_request_tag(const Request& r, const Digest& digest) const;
  // Sets `digest` to D(r), which the check computes.
  Status verify_request(const Request& r, Digest& digest) const;
  // A pre-prepare after its own signature: the batch's digest, then the
  // requests' tags as `checks` says; fills `digests` with D(r) in order.
  Status verify_pre_prepare_batch(const PrePrepare& pp, const Checks& checks,
                                  std::vector<Digest>& digests) const;
  Status verify_new_view_contents(const NewView& nv) const;
  Status check_view_change_bounds(const ViewChange& vc) const;
  Status check_replica(ReplicaId id) const;
  const ProtocolConfig& config_;
  const Crypto& crypto_;
  [[maybe_unused]] const mutant::Id mutant_;  // PBFT_MUTANT(skip_digest_check)
};

}  // namespace pbft

namespace pbft {

// D(request): the digest of a request's authenticated content (client,
// timestamp, read-only flag, replier, operation), without its authentication
// tags, which cover this digest (wire::request_tag_payload).
Digest request_digest(const Crypto& crypto, const Request& request);
// Sets r's tag for its auth mode (r.auth): an authenticator for the
// replicas 0..replica_count-1 or a signature, over
// wire::request_tag_payload(D(r)). `client` is the crypto of r.client.
void authenticate(Request& r, const Crypto& client, uint32_t replica_count);
// The sending side of the boundary, the counterpart of Verifier: sets a
// replica's message's sender to crypto.self() and its tag as the protocol
// requires for its type, which is what Verifier checks: a signature on what
// third parties check in certificates (pre-prepare, prepare, checkpoint,
// view-change, new-view), an authenticator (one MAC per replica
// 0..replica_count-1) on the others between replicas (commit, status,
// fetch, fetch reply), one MAC for its client on a reply. Every site that
// sends goes through here, so that a change of what is signed and what is
// MAC'd (PBFT's MAC-authenticated mode) is made in one place.
template <typename M>
void authenticate(M& m, const Crypto& crypto, uint32_t replica_count) {
  PBFT_ASSERT(crypto.self().kind == PrincipalKind::replica);
  m.sender = crypto.self().id;
  if constexpr (std::is_same_v<M, PrePrepare> || std::is_same_v<M, Prepare> ||
                std::is_same_v<M, Checkpoint> || std::is_same_v<M, ViewChange> ||
                std::is_same_v<M, NewView>) {
    m.signature = crypto.sign(wire::auth_payload(m));
  } else if constexpr (std::is_same_v<M, Reply>) {
    m.mac = crypto.mac(Principal::client(m.client), wire::auth_payload(m));
  } else {
    static_assert(std::is_same_v<M, Commit> || std::is_same_v<M, StatusMessage> ||
                      std::is_same_v<M, Fetch> || std::is_same_v<M, FetchReply>,
                  "not a replica's message");
    m.authenticator = make_authenticator(crypto, replica_count, wire::auth_payload(m));
  }
}
// Any of the above; a request (a client's) is left as it is.
void authenticate(Message& m, const Crypto& crypto, uint32_t replica_count);
// D(batch): the digest of the concatenated request digests. The null
// request of a view change is the empty batch.
Digest batch_digest(const Crypto& crypto, const std::vector<Request>& batch);
// The same from the request digests, in batch order.
Digest batch_digest_of(const Crypto& crypto, std::span<const Digest> request_digests);

}  // namespace pbft
