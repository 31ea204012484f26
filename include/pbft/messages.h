// Every protocol message as a plain struct. The names are the paper's
// (Castro and Liskov, OSDI 1999; TOCS 2002). Encoding lives in wire.h;
// what each authentication tag covers is wire::auth_payload().
#pragma once

#include <memory>
#include <variant>
#include <vector>

#include "pbft/types.h"

namespace pbft {

enum class MessageType : uint8_t {
  request = 1,
  pre_prepare = 2,
  prepare = 3,
  commit = 4,
  reply = 5,
  checkpoint = 6,
  view_change = 7,
  new_view = 8,
  status = 9,
  fetch = 10,
  fetch_reply = 11,
};

// How a client authenticates a request: an authenticator (one MAC per
// replica, cheap, open to the "big MAC" attack) or an Ed25519 signature.
enum class RequestAuth : uint8_t { authenticator = 0, signature = 1 };

// Request::replier when every replica is to send the full result.
inline constexpr ReplicaId every_replica = UINT32_MAX;

// REQUEST(o, t, c): operation o with timestamp t from client c. The tag
// (authenticator or signature) covers D(request) (wire::request_tag_payload),
// so a large operation is hashed once, not once per replica.
struct Request {
  ClientId client = 0;
  Timestamp timestamp = 0;
  bool read_only = false;
  // The replica that sends the full result; the others send its digest
  // (PBFT's digest replies). every_replica: all send it.
  ReplicaId replier = every_replica;
  Bytes operation;
  RequestAuth auth = RequestAuth::authenticator;
  std::vector<Mac> authenticator;  // size n when auth == authenticator, else empty
  Signature signature{};           // meaningful when auth == signature
  friend bool operator==(const Request&, const Request&) = default;
};

// PRE-PREPARE(v, s, d) with the batch whose digest is d. The signature
// covers (v, s, d, sender), not the batch, so the message can appear
// without its batch inside a prepared certificate.
struct PrePrepare {
  View view = 0;
  Seq seq = 0;
  Digest digest{};
  ReplicaId sender = 0;
  std::vector<Request> batch;  // empty for the null request and inside certificates
  Signature signature{};
  friend bool operator==(const PrePrepare&, const PrePrepare&) = default;
};

// PREPARE(v, s, d, i), signed: it appears in prepared certificates.
struct Prepare {
  View view = 0;
  Seq seq = 0;
  Digest digest{};
  ReplicaId sender = 0;
  Signature signature{};
  friend bool operator==(const Prepare&, const Prepare&) = default;
};

// COMMIT(v, s, d, i), point to point: an authenticator (one MAC per replica).
struct Commit {
  View view = 0;
  Seq seq = 0;
  Digest digest{};
  ReplicaId sender = 0;
  std::vector<Mac> authenticator;
  friend bool operator==(const Commit&, const Commit&) = default;
};

// REPLY(v, t, c, i, r), MAC'd with the key replica i shares with client c.
// A full reply carries the result r; a digest reply only D(r) (PBFT's digest
// replies: the request's replier sends the full one, the others its digest).
struct Reply {
  View view = 0;
  Timestamp timestamp = 0;
  ClientId client = 0;
  ReplicaId sender = 0;
  bool full = true;
  Bytes result;            // a full reply's (empty in a digest reply)
  Digest result_digest{};  // a digest reply's D(result) (zero in a full reply)
  Mac mac{};
  // A stale reply (not full): the request's timestamp is below the last
  // one this replica executed for the client, `executed_timestamp`, so the
  // request will not execute now (it did before that one, or never). A
  // client whose clock went back learns from f+1 of them where to go on.
  bool stale = false;
  Timestamp executed_timestamp = 0;
  friend bool operator==(const Reply&, const Reply&) = default;
};

// CHECKPOINT(s, d, i), signed: 2f+1 matching ones are a stable checkpoint's proof.
struct Checkpoint {
  Seq seq = 0;
  Digest state_digest{};
  ReplicaId sender = 0;
  Signature signature{};
  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// A pre-prepare (without its batch) and 2f matching prepares from distinct backups.
struct PreparedCertificate {
  PrePrepare pre_prepare;
  std::vector<Prepare> prepares;
  friend bool operator==(const PreparedCertificate&, const PreparedCertificate&) = default;
};

// VIEW-CHANGE(v+1, s, C, P, i), signed.
struct ViewChange {
  View new_view = 0;
  Seq stable_seq = 0;
  std::vector<Checkpoint> checkpoint_proof;  // C: 2f+1 checkpoints for stable_seq (empty when 0)
  std::vector<PreparedCertificate> prepared;  // P: one per prepared seq above stable_seq
  ReplicaId sender = 0;
  Signature signature{};
  friend bool operator==(const ViewChange&, const ViewChange&) = default;
};

// NEW-VIEW(v+1, V, O), signed by the new primary.
struct NewView {
  View view = 0;
  std::vector<ViewChange> view_changes;  // V
  std::vector<PrePrepare> pre_prepares;  // O, without batches
  ReplicaId sender = 0;
  Signature signature{};
  friend bool operator==(const NewView&, const NewView&) = default;
};

// STATUS(v, e, h, i) (named StatusMessage: Status is the error type of status.h): "I am in view v, executed up to e, stable at h".
// Sent by a replica that is waiting for protocol messages; peers answer by
// retransmitting what it lacks (Castro's thesis, section 5.2).
struct StatusMessage {
  View view = 0;
  Seq last_executed = 0;
  Seq last_stable = 0;
  // Set by a replica that restarted without its state: peers answer with
  // their own STATUS and stable checkpoint proof, which it needs to learn how
  // far it must catch up before it may vote again.
  bool recovering = false;
  // The sender is in `view` but has not installed its NEW-VIEW yet: peers
  // that have answer with it.
  bool view_changing = false;
  ReplicaId sender = 0;
  std::vector<Mac> authenticator;
  // Freshness of recovery reports: a recovering replica's STATUS carries a
  // nonce from its host, and a peer's answer echoes it, so that a STATUS a
  // peer sent before the crash cannot be taken for an answer. 0 otherwise.
  uint64_t nonce = 0;
  // Freshness: above every counter of the sender's earlier STATUS and
  // FETCH messages, across its restarts (ReplicaOptions::freshness_base).
  // A receiver takes a STATUS only if it is above the last one it took
  // from that sender, so a replayed STATUS makes nobody answer.
  uint64_t counter = 0;
  friend bool operator==(const StatusMessage&, const StatusMessage&) = default;
};

// FETCH(s, l, x, o, i): state transfer. Asks for node x at level l of the
// digest tree of checkpoint s: the digests of its children when l > 0, or,
// when l == 0, the encoding of partition x from byte offset o on.
struct Fetch {
  Seq checkpoint = 0;
  uint32_t level = 0;
  uint64_t index = 0;
  uint64_t offset = 0;
  ReplicaId sender = 0;
  std::vector<Mac> authenticator;
  // Freshness, as STATUS's: the server answers each counter once
  // (constants::fetch_replay_window).
  uint64_t counter = 0;
  friend bool operator==(const Fetch&, const Fetch&) = default;
};

// The answer to a FETCH. Level > 0: `digests` holds the node's children's
// digests. Level 0: `data` holds bytes [offset, offset + data.size()) of the
// partition's encoding, which is total_size bytes long. The fetcher checks
// everything against the digest tree of the proven checkpoint, so a faulty
// sender can waste its time but not corrupt its state.
struct FetchReply {
  Seq checkpoint = 0;
  uint32_t level = 0;
  uint64_t index = 0;
  uint64_t offset = 0;
  uint64_t total_size = 0;
  std::vector<Digest> digests;
  Bytes data;
  ReplicaId sender = 0;
  std::vector<Mac> authenticator;
  friend bool operator==(const FetchReply&, const FetchReply&) = default;
};

using Message = std::variant<Request, PrePrepare, Prepare, Commit, Reply, Checkpoint,
                             ViewChange, NewView, StatusMessage, Fetch, FetchReply>;

MessageType type_of(const Message& m);
const char* type_name(MessageType t);

// Who sent a message, as the wire header names it: the client for a request,
// the replica for everything else.
Principal sender_of(const Message& m);

}  // namespace pbft
