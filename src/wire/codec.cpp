// The wire format of every message (contract: include/pbft/wire.h).
//
// Frame: a 16-byte header, then the body.
//   magic u32 | version u8 | type u8 | reserved u16 (0) | sender u32 | body length u32
// All integers are little-endian and written byte by byte.
//
// Every message type is laid out as three parts, and that split is what
// everything else here is built from:
//   sender  who sent it: the client for a request, the replica otherwise. In
//           a frame it is the header's sender; nested inside another message
//           (a request in a batch, a prepare in a certificate, ...) it is a
//           u32 written just before the fields.
//   fields  what the message says (view, sequence number, digest, ...).
//   tag     how it is authenticated: a signature, a MAC, an authenticator
//           (u32 count, then 16-byte MACs), or for a request the auth mode
//           byte followed by the tag that mode selects.
// A frame's body is fields + tag; a pre-prepare's body adds its batch after
// the tag (u32 count, then each request nested). A nested message is sender +
// fields + tag; a nested pre-prepare (in a prepared certificate or in a
// new view's O) never has its batch on the wire, since the certificate is
// about the digest and the signature does not cover the batch.
//
// auth_payload(m) = type u8 | sender u32 | fields. That is exactly what a
// signature or MAC covers: the type byte separates the message kinds (a
// PREPARE and a COMMIT with the same v, s, d never share a payload), the
// sender binds the tag to its claimed author, and the fields are everything
// the message asserts. Tags are left out because they cannot cover
// themselves; a pre-prepare's batch is left out because it is bound through
// the digest d = D(batch) (verifier.h), which lets the pre-prepare appear in
// certificates without it. A request's tag covers not auth_payload but
// request_tag_payload: the type byte and D(auth_payload). Embedded messages (the checkpoints and
// certificates of a view change, the view changes and pre-prepares of a new
// view) are fields of the outer message, their own signatures included: the
// outer signature vouches for exactly the proof that was sent.
//
// The encoding is canonical: booleans are 0 or 1, enums in range, reserved
// bits zero, counts exact, no trailing bytes, and a request carries only the
// tag its mode selects. So every decodable frame f satisfies
// encode(decode(f)) == f, and no two frames decode to the same message (the
// fuzz target checks this). The flip side: encode leaves out what the format
// cannot express (a request's unused tag, a nested pre-prepare's batch);
// messages.h says those are empty or meaningless there.
#include "pbft/wire.h"

#include <algorithm>
#include <string>
#include <type_traits>

#include "pbft/assert.h"
#include "codec_io.h"

namespace pbft::wire {

namespace {

using detail::Reader;
using detail::SizeCounter;
using detail::Writer;

// ---------------------------------------------------------------------------
// Sizes of the fixed parts, for the header's body-size bounds and for the
// "could the remaining bytes hold this many items" check before a reserve.
// The tests check them against the encoder (a minimal message of each type
// encodes to exactly its minimum).

constexpr size_t id_size = 4;
constexpr size_t count_size = 4;
constexpr size_t authenticator_size_max = count_size + constants::replicas_max * mac_size;

// Request: timestamp, read_only, replier, operation length | auth mode, tag.
constexpr size_t request_fields_min = 8 + 1 + id_size + 4;
constexpr size_t request_tag_min = 1 + std::min(count_size, signature_size);
constexpr size_t request_tag_max = 1 + std::max(authenticator_size_max, signature_size);
constexpr size_t request_body_min = request_fields_min + request_tag_min;
constexpr size_t request_body_max =
    request_fields_min + constants::operation_size_max + request_tag_max;
constexpr size_t nested_request_min = id_size + request_body_min;

// Pre-prepare, prepare, commit: view, seq, digest.
constexpr size_t vsd_fields_size = 8 + 8 + digest_size;
constexpr size_t pre_prepare_body_min = vsd_fields_size + signature_size + count_size;
constexpr size_t nested_pre_prepare_size = id_size + vsd_fields_size + signature_size;
constexpr size_t prepare_body_size = vsd_fields_size + signature_size;
constexpr size_t nested_prepare_size = id_size + prepare_body_size;
constexpr size_t commit_body_min = vsd_fields_size + count_size;
constexpr size_t commit_body_max = vsd_fields_size + authenticator_size_max;

// Reply: view, timestamp, client, full flag, result length or result digest | mac.
constexpr size_t reply_body_min =
    8 + 8 + id_size + 1 + std::min<size_t>({4, 8, digest_size}) + mac_size;
constexpr size_t reply_body_max = 8 + 8 + id_size + 1 + 4 + constants::result_size_max + mac_size;

// Checkpoint: seq, state digest | signature.
constexpr size_t checkpoint_body_size = 8 + digest_size + signature_size;
constexpr size_t nested_checkpoint_size = id_size + checkpoint_body_size;

// View change: new view, stable seq, proof count, certificate count | signature.
constexpr size_t prepared_certificate_min = nested_pre_prepare_size + count_size;
constexpr size_t view_change_body_min = 8 + 8 + count_size + count_size + signature_size;
constexpr size_t nested_view_change_min = id_size + view_change_body_min;

// New view: view, view-change count, pre-prepare count | signature.
constexpr size_t new_view_body_min = 8 + count_size + count_size + signature_size;

// Status: view, last executed, last stable, recovering, view changing, nonce, counter |
// authenticator.
constexpr size_t status_body_min = 8 + 8 + 8 + 1 + 1 + 8 + 8 + count_size;
constexpr size_t status_body_max = 8 + 8 + 8 + 1 + 1 + 8 + 8 + authenticator_size_max;

// Fetch: checkpoint, level, index, offset, counter | authenticator.
constexpr size_t fetch_fields_size = 8 + 4 + 8 + 8;
constexpr size_t fetch_body_min = fetch_fields_size + 8 + count_size;
constexpr size_t fetch_body_max = fetch_fields_size + 8 + authenticator_size_max;

// Fetch reply: fetch's fields, total size, digest count, digests, data | authenticator.
constexpr size_t fetch_reply_fields_min = fetch_fields_size + 8 + count_size + count_size;
constexpr size_t fetch_reply_body_min = fetch_reply_fields_min + count_size;
using constants::fetch_digests_max;
constexpr size_t fetch_reply_body_max = fetch_reply_fields_min + fetch_digests_max * digest_size +
                                        constants::fetch_chunk_max + authenticator_size_max;
static_assert(fetch_reply_body_max + constants::header_size <= constants::message_size_max);

constexpr size_t body_size_max = constants::message_size_max - constants::header_size;

static_assert(request_body_max <= body_size_max, "a maximal request must fit in a frame");
static_assert(reply_body_max <= body_size_max, "a maximal reply must fit in a frame");
static_assert(id_size + request_body_max <= constants::request_encoded_size_max,
              "request_encoded_size_max must cover a nested request");

struct BodyLimits {
  size_t min;
  size_t max;
};

// The body sizes a frame of each supported type can have. Types with no
// variable part have one exact size.
BodyLimits body_limits(MessageType type) {
  switch (type) {
    case MessageType::request: return {request_body_min, request_body_max};
    case MessageType::pre_prepare: return {pre_prepare_body_min, body_size_max};
    case MessageType::prepare: return {prepare_body_size, prepare_body_size};
    case MessageType::commit: return {commit_body_min, commit_body_max};
    case MessageType::reply: return {reply_body_min, reply_body_max};
    case MessageType::checkpoint: return {checkpoint_body_size, checkpoint_body_size};
    case MessageType::view_change: return {view_change_body_min, body_size_max};
    case MessageType::new_view: return {new_view_body_min, body_size_max};
    case MessageType::status: return {status_body_min, status_body_max};
    case MessageType::fetch: return {fetch_body_min, fetch_body_max};
    case MessageType::fetch_reply: return {fetch_reply_body_min, fetch_reply_body_max};
  }
  PBFT_ASSERT(false && "body_limits of an unknown type");
  return {0, 0};
}

// ---------------------------------------------------------------------------
// Senders. Replica and client ids are separate namespaces (types.h); the wire
// checks them against the system-wide maxima, the verifier against n.

uint32_t sender_id(const Request& m) { return m.client; }
template <typename M>
uint32_t sender_id(const M& m) {
  return m.sender;
}

void set_sender(Request& m, uint32_t id) { m.client = id; }
template <typename M>
void set_sender(M& m, uint32_t id) {
  m.sender = id;
}

constexpr bool sent_by_client(MessageType type) { return type == MessageType::request; }

// Why `id` cannot be the sender of a message of `type`, or nullptr.
const char* sender_out_of_range(MessageType type, uint32_t id) {
  if (sent_by_client(type)) {
    return id < constants::clients_max ? nullptr : "client id out of range";
  }
  return id < constants::replicas_max ? nullptr : "replica id out of range";
}

ReplicaId get_replica_id(Reader& r, const char* field) {
  const uint32_t id = r.u32(field);
  if (r.ok() && id >= constants::replicas_max) {
    r.fail(field, "replica id " + std::to_string(id) + " out of range");
  }
  return id;
}

ClientId get_client_id(Reader& r, const char* field) {
  const uint32_t id = r.u32(field);
  if (r.ok() && id >= constants::clients_max) {
    r.fail(field, "client id " + std::to_string(id) + " out of range");
  }
  return id;
}

// ---------------------------------------------------------------------------
// Encoders, generic over Writer and SizeCounter. put_fields and put_tag per
// type; put_nested and put_body assemble them as the layout above says.

template <typename Sink>
void put_authenticator(Sink& s, const std::vector<Mac>& authenticator) {
  s.count(authenticator.size());
  for (const Mac& mac : authenticator) s.array(mac);
}

template <typename Sink>
void put_fields(Sink& s, const Request& m) {
  s.u64(m.timestamp);
  s.boolean(m.read_only);
  s.u32(m.replier);
  s.bytes(m.operation);
}
template <typename Sink>
void put_tag(Sink& s, const Request& m) {
  s.u8(static_cast<uint8_t>(m.auth));
  if (m.auth == RequestAuth::signature) {
    s.array(m.signature);
  } else {
    put_authenticator(s, m.authenticator);
  }
}

template <typename Sink, typename M>
void put_view_seq_digest(Sink& s, const M& m) {
  s.u64(m.view);
  s.u64(m.seq);
  s.array(m.digest);
}

template <typename Sink>
void put_fields(Sink& s, const PrePrepare& m) {
  put_view_seq_digest(s, m);
}
template <typename Sink>
void put_tag(Sink& s, const PrePrepare& m) {
  s.array(m.signature);
}

template <typename Sink>
void put_fields(Sink& s, const Prepare& m) {
  put_view_seq_digest(s, m);
}
template <typename Sink>
void put_tag(Sink& s, const Prepare& m) {
  s.array(m.signature);
}

template <typename Sink>
void put_fields(Sink& s, const Commit& m) {
  put_view_seq_digest(s, m);
}
template <typename Sink>
void put_tag(Sink& s, const Commit& m) {
  put_authenticator(s, m.authenticator);
}

template <typename Sink>
void put_fields(Sink& s, const Reply& m) {
  s.u64(m.view);
  s.u64(m.timestamp);
  s.u32(m.client);
  // The reply's form: 0 a digest, 1 the result, 2 stale (the last executed timestamp).
  s.u8(m.full ? 1 : m.stale ? 2 : 0);
  if (m.full) {
    s.bytes(m.result);
  } else if (m.stale) {
    s.u64(m.executed_timestamp);
  } else {
    s.array(m.result_digest);
  }
}
template <typename Sink>
void put_tag(Sink& s, const Reply& m) {
  s.array(m.mac);
}

template <typename Sink>
void put_fields(Sink& s, const Checkpoint& m) {
  s.u64(m.seq);
  s.array(m.state_digest);
}
template <typename Sink>
void put_tag(Sink& s, const Checkpoint& m) {
  s.array(m.signature);
}

// Declared ahead: a new view nests view changes, and a template only sees
// the overloads declared before it (the anonymous namespace is not searched
// by argument-dependent lookup).
template <typename Sink>
void put_fields(Sink& s, const ViewChange& m);
template <typename Sink>
void put_tag(Sink& s, const ViewChange& m);

template <typename Sink, typename M>
void put_nested(Sink& s, const M& m) {
  s.u32(sender_id(m));
  put_fields(s, m);
  put_tag(s, m);
}

template <typename Sink>
void put_fields(Sink& s, const ViewChange& m) {
  s.u64(m.new_view);
  s.u64(m.stable_seq);
  s.count(m.checkpoint_proof.size());
  for (const Checkpoint& c : m.checkpoint_proof) put_nested(s, c);
  s.count(m.prepared.size());
  for (const PreparedCertificate& cert : m.prepared) {
    put_nested(s, cert.pre_prepare);
    s.count(cert.prepares.size());
    for (const Prepare& p : cert.prepares) put_nested(s, p);
  }
}
template <typename Sink>
void put_tag(Sink& s, const ViewChange& m) {
  s.array(m.signature);
}

template <typename Sink>
void put_fields(Sink& s, const NewView& m) {
  s.u64(m.view);
  s.count(m.view_changes.size());
  for (const ViewChange& vc : m.view_changes) put_nested(s, vc);
  s.count(m.pre_prepares.size());
  for (const PrePrepare& pp : m.pre_prepares) put_nested(s, pp);
}
template <typename Sink>
void put_tag(Sink& s, const NewView& m) {
  s.array(m.signature);
}

template <typename Sink>
void put_fields(Sink& s, const StatusMessage& m) {
  s.u64(m.view);
  s.u64(m.last_executed);
  s.u64(m.last_stable);
  s.boolean(m.recovering);
  s.boolean(m.view_changing);
  s.u64(m.nonce);
  s.u64(m.counter);
}
template <typename Sink>
void put_tag(Sink& s, const StatusMessage& m) {
  put_authenticator(s, m.authenticator);
}

template <typename Sink>
void put_fetch_fields(Sink& s, Seq checkpoint, uint32_t level, uint64_t index, uint64_t offset) {
  s.u64(checkpoint);
  s.u32(level);
  s.u64(index);
  s.u64(offset);
}
template <typename Sink>
void put_fields(Sink& s, const Fetch& m) {
  put_fetch_fields(s, m.checkpoint, m.level, m.index, m.offset);
  s.u64(m.counter);
}
template <typename Sink>
void put_tag(Sink& s, const Fetch& m) {
  put_authenticator(s, m.authenticator);
}

template <typename Sink>
void put_fields(Sink& s, const FetchReply& m) {
  put_fetch_fields(s, m.checkpoint, m.level, m.index, m.offset);
  s.u64(m.total_size);
  s.count(m.digests.size());
  for (const Digest& d : m.digests) s.array(d);
  s.bytes(m.data);
}
template <typename Sink>
void put_tag(Sink& s, const FetchReply& m) {
  put_authenticator(s, m.authenticator);
}

template <typename Sink, typename M>
void put_body(Sink& s, const M& m) {
  put_fields(s, m);
  put_tag(s, m);
  if constexpr (std::is_same_v<M, PrePrepare>) {
    s.count(m.batch.size());
    for (const Request& request : m.batch) put_nested(s, request);
  }
}

// ---------------------------------------------------------------------------
// Decoders: the mirror image of the encoders, every length and count bounded.

void get_authenticator(Reader& r, std::vector<Mac>& authenticator) {
  const uint32_t n = r.count("authenticator count", constants::replicas_max, mac_size);
  authenticator.resize(n);
  for (Mac& mac : authenticator) r.array(mac, "authenticator entry");
}

void get_fields(Reader& r, Request& m) {
  m.timestamp = r.u64("timestamp");
  m.read_only = r.boolean("read-only flag");
  m.replier = r.u32("replier");
  if (r.ok() && m.replier >= constants::replicas_max && m.replier != every_replica) {
    r.fail("replier", "replica id " + std::to_string(m.replier) + " out of range");
  }
  r.bytes(m.operation, constants::operation_size_max, "operation");
}
void get_tag(Reader& r, Request& m) {
  const uint8_t auth = r.u8("auth mode");
  if (!r.ok()) return;
  switch (auth) {
    case static_cast<uint8_t>(RequestAuth::authenticator):
      m.auth = RequestAuth::authenticator;
      get_authenticator(r, m.authenticator);
      return;
    case static_cast<uint8_t>(RequestAuth::signature):
      m.auth = RequestAuth::signature;
      r.array(m.signature, "signature");
      return;
  }
  r.fail("auth mode", "unknown value " + std::to_string(auth));
}

template <typename M>
void get_view_seq_digest(Reader& r, M& m) {
  m.view = r.u64("view");
  m.seq = r.u64("seq");
  r.array(m.digest, "digest");
}

void get_fields(Reader& r, PrePrepare& m) { get_view_seq_digest(r, m); }
void get_tag(Reader& r, PrePrepare& m) { r.array(m.signature, "signature"); }

void get_fields(Reader& r, Prepare& m) { get_view_seq_digest(r, m); }
void get_tag(Reader& r, Prepare& m) { r.array(m.signature, "signature"); }

void get_fields(Reader& r, Commit& m) { get_view_seq_digest(r, m); }
void get_tag(Reader& r, Commit& m) { get_authenticator(r, m.authenticator); }

void get_fields(Reader& r, Reply& m) {
  m.view = r.u64("view");
  m.timestamp = r.u64("timestamp");
  m.client = get_client_id(r, "client");
  const uint8_t form = r.u8("reply form");
  if (r.ok() && form > 2) r.fail("reply form", "must be 0, 1 or 2, got " + std::to_string(form));
  m.full = form == 1;
  m.stale = form == 2;
  if (m.full) {
    r.bytes(m.result, constants::result_size_max, "result");
  } else if (m.stale) {
    m.executed_timestamp = r.u64("executed timestamp");
  } else {
    r.array(m.result_digest, "result digest");
  }
}
void get_tag(Reader& r, Reply& m) { r.array(m.mac, "mac"); }

void get_fields(Reader& r, Checkpoint& m) {
  m.seq = r.u64("seq");
  r.array(m.state_digest, "state digest");
}
void get_tag(Reader& r, Checkpoint& m) { r.array(m.signature, "signature"); }

void get_fields(Reader& r, ViewChange& m);  // ahead, as for put_nested
void get_tag(Reader& r, ViewChange& m);

template <typename M>
void get_nested(Reader& r, M& m) {
  if constexpr (std::is_same_v<M, Request>) {
    m.client = get_client_id(r, "client");
  } else {
    m.sender = get_replica_id(r, "sender");
  }
  get_fields(r, m);
  get_tag(r, m);
}

void get_fields(Reader& r, ViewChange& m) {
  m.new_view = r.u64("new view");
  m.stable_seq = r.u64("stable seq");
  const uint32_t proof_count =
      r.count("checkpoint proof count", constants::checkpoint_proof_max, nested_checkpoint_size);
  m.checkpoint_proof.resize(proof_count);
  for (uint32_t i = 0; i < proof_count && r.ok(); ++i) get_nested(r, m.checkpoint_proof[i]);
  const uint32_t cert_count = r.count("prepared certificate count",
                                      constants::view_change_prepared_max, prepared_certificate_min);
  m.prepared.resize(cert_count);
  for (uint32_t i = 0; i < cert_count && r.ok(); ++i) {
    PreparedCertificate& cert = m.prepared[i];
    get_nested(r, cert.pre_prepare);
    const uint32_t prepare_count =
        r.count("certificate prepare count", constants::replicas_max, nested_prepare_size);
    cert.prepares.resize(prepare_count);
    for (uint32_t j = 0; j < prepare_count && r.ok(); ++j) get_nested(r, cert.prepares[j]);
  }
}
void get_tag(Reader& r, ViewChange& m) { r.array(m.signature, "signature"); }

void get_fields(Reader& r, NewView& m) {
  m.view = r.u64("view");
  // V holds one view change per replica at most (2f+1 are needed), and O
  // one pre-prepare per sequence number in the log window.
  const uint32_t vc_count =
      r.count("view-change count", constants::replicas_max, nested_view_change_min);
  m.view_changes.resize(vc_count);
  for (uint32_t i = 0; i < vc_count && r.ok(); ++i) get_nested(r, m.view_changes[i]);
  const uint32_t pp_count =
      r.count("pre-prepare count", constants::log_window_max, nested_pre_prepare_size);
  m.pre_prepares.resize(pp_count);
  for (uint32_t i = 0; i < pp_count && r.ok(); ++i) get_nested(r, m.pre_prepares[i]);
}
void get_tag(Reader& r, NewView& m) { r.array(m.signature, "signature"); }

void get_fields(Reader& r, StatusMessage& m) {
  m.view = r.u64("view");
  m.last_executed = r.u64("last executed");
  m.last_stable = r.u64("last stable");
  m.recovering = r.boolean("recovering flag");
  m.view_changing = r.boolean("view-changing flag");
  m.nonce = r.u64("nonce");
  m.counter = r.u64("counter");
}
void get_tag(Reader& r, StatusMessage& m) { get_authenticator(r, m.authenticator); }

void get_fields(Reader& r, Fetch& m) {
  m.checkpoint = r.u64("checkpoint");
  m.level = r.u32("level");
  m.index = r.u64("index");
  m.offset = r.u64("offset");
  m.counter = r.u64("counter");
}
void get_tag(Reader& r, Fetch& m) { get_authenticator(r, m.authenticator); }

void get_fields(Reader& r, FetchReply& m) {
  m.checkpoint = r.u64("checkpoint");
  m.level = r.u32("level");
  m.index = r.u64("index");
  m.offset = r.u64("offset");
  m.total_size = r.u64("total size");
  const uint32_t n = r.count("digest count", fetch_digests_max, digest_size);
  m.digests.resize(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) r.array(m.digests[i], "digest");
  r.bytes(m.data, constants::fetch_chunk_max, "data");
}
void get_tag(Reader& r, FetchReply& m) { get_authenticator(r, m.authenticator); }

template <typename M>
void get_body(Reader& r, M& m) {
  get_fields(r, m);
  get_tag(r, m);
  if constexpr (std::is_same_v<M, PrePrepare>) {
    const uint32_t n = r.count("batch count", constants::batch_requests_max, nested_request_min);
    m.batch.resize(n);
    for (uint32_t i = 0; i < n && r.ok(); ++i) get_nested(r, m.batch[i]);
  }
}

template <typename M>
Result<Message> decode_body(const Header& header, ByteView body) {
  M m;
  set_sender(m, header.sender);
  Reader r(body);
  get_body(r, m);
  if (Status s = r.finish(); !s) {
    return Status::error(std::string(type_name(header.type)) + ": " + s.reason());
  }
  return Message(std::move(m));
}

template <typename M>
Bytes payload_of(const M& m, MessageType type) {
  SizeCounter size;
  put_fields(size, m);
  Bytes out(1 + id_size + size.size());
  Writer w(out);
  w.u8(static_cast<uint8_t>(type));
  w.u32(sender_id(m));
  put_fields(w, m);
  PBFT_ASSERT(w.size() == out.size());
  return out;
}

}  // namespace

size_t batch_entry_size(const Request& request) {
  SizeCounter size;
  put_nested(size, request);
  return size.size();
}

Bytes encode(const Message& message) {
  return std::visit(
      [&](const auto& m) -> Bytes {
        SizeCounter size;
        put_body(size, m);
        Bytes out(constants::header_size + size.size());
        Writer w(out);
        w.u32(constants::wire_magic);
        w.u8(constants::wire_version);
        w.u8(static_cast<uint8_t>(type_of(message)));
        w.u16(0);
        w.u32(sender_id(m));
        w.count(size.size());
        put_body(w, m);
        PBFT_ASSERT(w.size() == out.size());
        return out;
      },
      message);
}

std::optional<MessageType> peek_type(ByteView frame) {
  // The type byte follows the magic (4 bytes) and the version (1 byte).
  constexpr size_t type_offset = 5;
  if (frame.size() < constants::header_size) return std::nullopt;
  const uint8_t type = frame[type_offset];
  if (type < static_cast<uint8_t>(MessageType::request) ||
      type > static_cast<uint8_t>(MessageType::fetch_reply)) {
    return std::nullopt;
  }
  return static_cast<MessageType>(type);
}

Result<Header> decode_header(ByteView header_bytes) {
  if (header_bytes.size() != constants::header_size) {
    return Status::error("header: " + std::to_string(header_bytes.size()) +
                         " bytes, expected " + std::to_string(constants::header_size));
  }
  Reader r(header_bytes);
  const uint32_t magic = r.u32("magic");
  const uint8_t version = r.u8("version");
  const uint8_t type = r.u8("type");
  const uint16_t reserved = r.u16("reserved");
  const uint32_t sender = r.u32("sender");
  const uint32_t body_size = r.u32("body length");
  PBFT_ASSERT(r.finish().is_ok());  // the size was checked above

  if (magic != constants::wire_magic) {
    return Status::error("header: bad magic " + to_hex(ByteView(header_bytes.first(4))));
  }
  if (version != constants::wire_version) {
    return Status::error("header: unsupported version " + std::to_string(version));
  }
  if (type < static_cast<uint8_t>(MessageType::request) ||
      type > static_cast<uint8_t>(MessageType::fetch_reply)) {
    return Status::error("header: unknown type " + std::to_string(type));
  }
  if (reserved != 0) return Status::error("header: reserved field must be zero");
  const auto message_type = static_cast<MessageType>(type);
  if (const char* why = sender_out_of_range(message_type, sender)) {
    return Status::error(std::string("header: ") + why + ": " + std::to_string(sender));
  }
  const BodyLimits limits = body_limits(message_type);
  if (body_size < limits.min || body_size > limits.max) {
    return Status::error(std::string("header: body length ") + std::to_string(body_size) +
                         " outside " + std::to_string(limits.min) + ".." +
                         std::to_string(limits.max) + " for a " + type_name(message_type));
  }
  return Header{message_type, sender, body_size};
}

Result<Message> decode(ByteView frame) {
  if (frame.size() < constants::header_size) {
    return Status::error("frame of " + std::to_string(frame.size()) +
                         " bytes is shorter than the header");
  }
  Result<Header> header = decode_header(frame.first(constants::header_size));
  if (!header) return header.status();
  const ByteView body = frame.subspan(constants::header_size);
  if (body.size() != header->body_size) {
    return Status::error("frame: body of " + std::to_string(body.size()) +
                         " bytes, header says " + std::to_string(header->body_size));
  }
  switch (header->type) {
    case MessageType::request: return decode_body<Request>(*header, body);
    case MessageType::pre_prepare: return decode_body<PrePrepare>(*header, body);
    case MessageType::prepare: return decode_body<Prepare>(*header, body);
    case MessageType::commit: return decode_body<Commit>(*header, body);
    case MessageType::reply: return decode_body<Reply>(*header, body);
    case MessageType::checkpoint: return decode_body<Checkpoint>(*header, body);
    case MessageType::view_change: return decode_body<ViewChange>(*header, body);
    case MessageType::new_view: return decode_body<NewView>(*header, body);
    case MessageType::status: return decode_body<StatusMessage>(*header, body);
    case MessageType::fetch: return decode_body<Fetch>(*header, body);
    case MessageType::fetch_reply: return decode_body<FetchReply>(*header, body);
  }
  PBFT_ASSERT(false && "decode_header admitted an unknown type");
  return Status::error("unreachable");
}

Bytes auth_payload(const Request& m) { return payload_of(m, MessageType::request); }
Bytes auth_payload(const PrePrepare& m) { return payload_of(m, MessageType::pre_prepare); }
Bytes auth_payload(const Prepare& m) { return payload_of(m, MessageType::prepare); }
Bytes auth_payload(const Commit& m) { return payload_of(m, MessageType::commit); }
Bytes auth_payload(const Reply& m) { return payload_of(m, MessageType::reply); }
Bytes auth_payload(const Checkpoint& m) { return payload_of(m, MessageType::checkpoint); }
Bytes auth_payload(const ViewChange& m) { return payload_of(m, MessageType::view_change); }
Bytes auth_payload(const NewView& m) { return payload_of(m, MessageType::new_view); }
Bytes auth_payload(const StatusMessage& m) { return payload_of(m, MessageType::status); }
Bytes auth_payload(const Fetch& m) { return payload_of(m, MessageType::fetch); }
Bytes auth_payload(const FetchReply& m) { return payload_of(m, MessageType::fetch_reply); }

Bytes request_tag_payload(const Digest& request_digest) {
  Bytes out(1 + request_digest.size());
  out[0] = static_cast<uint8_t>(MessageType::request);
  std::copy(request_digest.begin(), request_digest.end(), out.begin() + 1);
  return out;
}

}  // namespace pbft::wire
