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

 private:
  friend class Verifier;
  explicit Verified(Message m, bool batch_checked = true,
                    std::vector<Digest> request_digests = {})
      : message_(std::move(m)),
        batch_checked_(batch_checked),
        request_digests_(std::move(request_digests)) {}
  Message message_;
  bool batch_checked_ = true;
  std::vector<Digest> request_digests_;
};

// Whether Verifier::verify checks the authentication of each request inside
// a pre-prepare's batch. A replica may leave them unchecked only when the
// core says so (Replica::leaves_batch_unchecked): it then relies on the
// others' prepared certificate, or checks them itself later.
enum class BatchRequests : uint8_t { checked, unchecked };

class Verifier {
 public:
  // crypto.self() is the receiving principal (a replica or a client).
  Verifier(const ProtocolConfig& config, const Crypto& crypto);

  // Checks, without looking at protocol state:
  // - the sender's id is in range for the message type, and the type may be
  //   received by this principal (replicas take no replies, clients only replies);
  // - structural rules (authenticator sizes = n, reply addressed to self);
  // - the signature, or the MAC meant for self, is valid;
  // - for a pre-prepare: every request in the batch is authentic for self;
  // - for a view change or new view: every embedded signature.
  Result<Verified> verify(Message message,
                          BatchRequests requests = BatchRequests::checked) const;
  // Each request of a pre-prepare's batch is authentic for self. Appends
  // each request's digest to `digests` when given.
  Status verify_batch(const PrePrepare& pp, std::vector<Digest>* digests = nullptr) const;

 private:
  // Sets `digest` to D(r), which the check computes.
  Status verify_request(const Request& r, Digest& digest) const;
  Status verify_view_change_contents(const ViewChange& vc) const;
  Status check_replica(ReplicaId id) const;
  const ProtocolConfig& config_;
  const Crypto& crypto_;
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
