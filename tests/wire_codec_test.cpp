// The wire format (include/pbft/wire.h, src/wire/codec.cpp).
//
// What is claimed, and checked here:
// - every message type survives encode/decode unchanged, nested structures
//   included, and the encoding is canonical (encode(decode(f)) == f);
// - decoding is bounded (STYLE.md, practice 5): every truncation, every
//   oversized length or count, trailing bytes, bad magic, version, type,
//   reserved bits, booleans and enums are rejected with a reason, and a
//   rejected input never makes the decoder allocate more than it justifies;
// - corruption is caught (PBFT.md, "Cryptography"; the network may corrupt
//   messages): every single-byte change of a signed or MAC'd sample is either
//   rejected by decode or yields a message that some intended receiver
//   rejects, because its signature or MAC no longer verifies, or its batch
//   no longer matches the pre-prepare's digest.
// The state-transfer messages (FETCH, FETCH-REPLY) and a recovering STATUS
// are held to the same rules, at their limits too: a fetch reply with the
// most digests a tree node may have, and one with a full chunk of data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "pbft/constants.h"
#include "pbft/crypto.h"
#include "pbft/messages.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"

// ---------------------------------------------------------------------------
// Allocation accounting: the decoder must not allocate more than its input
// justifies, so the test counts the bytes requested from operator new while
// a decode runs. The tests are single-threaded.
namespace {
size_t g_allocated_bytes = 0;
}  // namespace

// Out of line: were they inlined, GCC would see a free() of memory from
// operator new and warn (-Wmismatched-new-delete) though they are a pair.
__attribute__((noinline)) void* operator new(size_t size) {
  g_allocated_bytes += size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void* operator new[](size_t size) { return operator new(size); }
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace pbft {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t n = 4;
constexpr uint32_t client_count = 8;
constexpr uint64_t universe_seed = 20260101;

struct Decoded {
  Result<Message> result;
  size_t allocated_bytes;
};

Decoded decode_counting(ByteView frame) {
  const size_t before = g_allocated_bytes;
  Result<Message> result = wire::decode(frame);
  return {std::move(result), g_allocated_bytes - before};
}

// The most a decode of `frame` may allocate: a few times the input (an
// in-memory Request is about six times its smallest encoding), plus room for
// the reason string.
size_t allocation_allowance(size_t frame_size) { return 8 * frame_size + 4096; }

void put_u32(Bytes& frame, size_t offset, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) frame[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Sets the header's body length to what the frame now holds.
void fix_body_length(Bytes& frame) {
  put_u32(frame, 12, static_cast<uint32_t>(frame.size() - constants::header_size));
}

constexpr size_t header = constants::header_size;

// The most digests a fetch reply may carry (the codec's bound on a tree
// node's children).
constexpr size_t fetch_digests_max = 256;

// Where the probing tests look in a frame. Up to 16 KiB: every byte. Above,
// too big to try at every byte: all of the first and last `edge` bytes (the
// header, the fixed fields, the counts and the authenticator of the limit
// samples), the `edge` bytes around each of `landmarks` (counts and lengths
// in the middle of the frame), and every `stride`-th byte in between.
std::vector<size_t> probe_positions(size_t size, std::vector<size_t> landmarks = {},
                                    size_t edge = 256, size_t stride = 4093) {
  constexpr size_t every_byte_size_max = 16 * 1024;
  std::vector<size_t> out;
  if (size <= every_byte_size_max) {
    for (size_t i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  auto near = [&](size_t i) {
    if (i < edge || i + edge >= size) return true;
    for (size_t l : landmarks) {
      if (i + edge >= l && i < l + edge) return true;
    }
    return false;
  };
  for (size_t i = 0; i < size; ++i) {
    if (near(i) || i % stride == 0) out.push_back(i);
  }
  return out;
}

// The offset of a fetch reply's data length in its frame.
size_t fetch_reply_data_length_offset(const FetchReply& r) {
  return header + 8 + 4 + 8 + 8 + 8 + 4 + r.digests.size() * digest_size;
}

// ---------------------------------------------------------------------------
// A small cluster with the fake crypto: n = 4 replicas and a few clients, and
// samples of every message type with real signatures and MACs over
// wire::auth_payload.
class WireCodecTest : public ::testing::Test {
 protected:
  WireCodecTest() {
    for (ReplicaId r = 0; r < n; ++r) {
      replicas_.push_back(fake::make_crypto(Principal::replica(r), universe_seed, n, client_count));
    }
    for (ClientId c = 0; c < client_count; ++c) {
      clients_.push_back(fake::make_crypto(Principal::client(c), universe_seed, n, client_count));
    }
  }

  const Crypto& replica(ReplicaId r) const { return *replicas_.at(r); }
  const Crypto& client(ClientId c) const { return *clients_.at(c); }

  Request request(ClientId c, Timestamp t, std::string_view op, RequestAuth auth,
                  bool read_only = false) const {
    Request r;
    r.client = c;
    r.timestamp = t;
    r.read_only = read_only;
    r.operation.assign(op.begin(), op.end());
    r.auth = auth;
    authenticate(r, client(c), n);
    return r;
  }

  // A pre-prepare as the primary of `view` sends it; `with_batch` false gives
  // the form that appears in certificates and in a new view's O.
  PrePrepare pre_prepare(View view, Seq seq, std::vector<Request> batch,
                         bool with_batch = true) const {
    PrePrepare pp;
    pp.view = view;
    pp.seq = seq;
    pp.sender = static_cast<ReplicaId>(view % n);
    pp.digest = batch_digest(replica(pp.sender), batch);
    if (with_batch) pp.batch = std::move(batch);
    pp.signature = replica(pp.sender).sign(wire::auth_payload(pp));
    return pp;
  }

  Prepare prepare(View view, Seq seq, const Digest& d, ReplicaId sender) const {
    Prepare p;
    p.view = view;
    p.seq = seq;
    p.digest = d;
    p.sender = sender;
    p.signature = replica(sender).sign(wire::auth_payload(p));
    return p;
  }

  Commit commit(View view, Seq seq, const Digest& d, ReplicaId sender) const {
    Commit c;
    c.view = view;
    c.seq = seq;
    c.digest = d;
    c.sender = sender;
    c.authenticator = make_authenticator(replica(sender), n, wire::auth_payload(c));
    return c;
  }

  // The digest reply a replica sends instead of full reply r.
  Reply digest_only(Reply r) const {
    r.full = false;
    r.result_digest = replica(r.sender).digest(r.result);
    r.result.clear();
    r.mac = replica(r.sender).mac(Principal::client(r.client), wire::auth_payload(r));
    return r;
  }

  Reply reply(View view, Timestamp t, ClientId c, ReplicaId sender, std::string_view result) const {
    Reply r;
    r.view = view;
    r.timestamp = t;
    r.client = c;
    r.sender = sender;
    r.result.assign(result.begin(), result.end());
    r.mac = replica(sender).mac(Principal::client(c), wire::auth_payload(r));
    return r;
  }

  Checkpoint checkpoint(Seq seq, uint8_t state, ReplicaId sender) const {
    Checkpoint c;
    c.seq = seq;
    c.state_digest.fill(state);
    c.sender = sender;
    c.signature = replica(sender).sign(wire::auth_payload(c));
    return c;
  }

  PreparedCertificate certificate(View view, Seq seq, std::vector<Request> batch) const {
    PreparedCertificate cert;
    cert.pre_prepare = pre_prepare(view, seq, std::move(batch), /*with_batch=*/false);
    const ReplicaId primary = cert.pre_prepare.sender;
    for (ReplicaId r = 0; r < n && cert.prepares.size() < 2; ++r) {
      if (r != primary) cert.prepares.push_back(prepare(view, seq, cert.pre_prepare.digest, r));
    }
    return cert;
  }

  // VIEW-CHANGE(v+1, s, C, P, i) with a stable checkpoint at 128 and two
  // prepared certificates above it.
  ViewChange view_change(View new_view, ReplicaId sender) const {
    ViewChange vc;
    vc.new_view = new_view;
    vc.stable_seq = 128;
    for (ReplicaId r = 0; r < 3; ++r) vc.checkpoint_proof.push_back(checkpoint(128, 0x5a, r));
    vc.prepared.push_back(certificate(new_view - 1, 129, {request(3, 11, "put a 1", RequestAuth::signature)}));
    vc.prepared.push_back(certificate(new_view - 1, 130, {}));
    vc.sender = sender;
    vc.signature = replica(sender).sign(wire::auth_payload(vc));
    return vc;
  }

  NewView new_view(View view) const {
    NewView nv;
    nv.view = view;
    nv.sender = static_cast<ReplicaId>(view % n);
    for (ReplicaId r = 0; r < 3; ++r) nv.view_changes.push_back(view_change(view, r));
    nv.pre_prepares.push_back(pre_prepare(view, 129, {request(3, 11, "put a 1", RequestAuth::signature)}, false));
    nv.pre_prepares.push_back(pre_prepare(view, 130, {}, false));
    nv.signature = replica(nv.sender).sign(wire::auth_payload(nv));
    return nv;
  }

  StatusMessage status(ReplicaId sender, bool recovering = false) const {
    StatusMessage s;
    s.view = 3;
    s.last_executed = 140;
    s.last_stable = 128;
    s.recovering = recovering;
    s.nonce = recovering ? 0x0102030405060708 : 0;
    s.counter = 0x1122334455667788;
    s.sender = sender;
    s.authenticator = make_authenticator(replica(sender), n, wire::auth_payload(s));
    return s;
  }

  // FETCH(s, l, x, o, i) for node x at level l of checkpoint s's digest tree.
  Fetch fetch(Seq checkpoint, uint32_t level, uint64_t index, uint64_t offset,
              ReplicaId sender) const {
    Fetch f;
    f.checkpoint = checkpoint;
    f.level = level;
    f.index = index;
    f.offset = offset;
    f.counter = 0x0a0b0c0d0e0f1011 + offset;
    f.sender = sender;
    f.authenticator = make_authenticator(replica(sender), n, wire::auth_payload(f));
    return f;
  }

  // The answer for an inner node: `count` child digests.
  FetchReply fetch_reply_digests(size_t count, ReplicaId sender) const {
    FetchReply r;
    r.checkpoint = 384;
    r.level = 1;
    r.index = 2;
    for (size_t i = 0; i < count; ++i) r.digests.push_back(some_digest(static_cast<uint8_t>(i)));
    r.sender = sender;
    r.authenticator = make_authenticator(replica(sender), n, wire::auth_payload(r));
    return r;
  }

  // The answer for a leaf: `size` bytes of a partition's encoding from `offset` on.
  FetchReply fetch_reply_data(size_t size, uint64_t offset, ReplicaId sender) const {
    FetchReply r;
    r.checkpoint = 384;
    r.level = 0;
    r.index = 37;
    r.offset = offset;
    r.total_size = offset + size + 1000;
    r.data.resize(size);
    for (size_t i = 0; i < size; ++i) r.data[i] = static_cast<uint8_t>(i * 31 + (i >> 8));
    r.sender = sender;
    r.authenticator = make_authenticator(replica(sender), n, wire::auth_payload(r));
    return r;
  }

  Digest some_digest(uint8_t seed) const {
    Digest d;
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(seed + 7 * i);
    return d;
  }

  // One authenticated sample of every message type, named for messages.
  std::vector<std::pair<std::string, Message>> samples() const {
    std::vector<Request> batch = {
        request(3, 1, "put k v", RequestAuth::authenticator),
        request(5, 9, "get k", RequestAuth::signature, /*read_only=*/true),
        request(7, 2, std::string(300, 'x'), RequestAuth::authenticator),
        request(6, 4, "", RequestAuth::signature),
    };
    return {
        {"request-authenticator", request(3, 42, "put key value", RequestAuth::authenticator)},
        {"request-signature", request(5, 43, "get key", RequestAuth::signature, true)},
        {"pre-prepare", pre_prepare(5, 1000, batch)},
        {"pre-prepare-null", pre_prepare(6, 1001, {})},
        {"prepare", prepare(5, 1000, some_digest(1), 2)},
        {"commit", commit(5, 1000, some_digest(2), 3)},
        {"reply", reply(5, 42, 3, 1, "value")},
        {"reply-digest", digest_only(reply(5, 42, 3, 2, "value"))},
        {"checkpoint", checkpoint(256, 0x33, 2)},
        {"view-change", view_change(6, 3)},
        {"new-view", new_view(6)},
        {"status", status(1)},
        {"status-recovering", status(2, /*recovering=*/true)},
        {"fetch", fetch(384, 2, 5, 0, 3)},
        {"fetch-leaf", fetch(384, 0, 37, 65536, 0)},
        {"fetch-reply-digests", fetch_reply_digests(16, 1)},
        {"fetch-reply-data", fetch_reply_data(300, 4096, 2)},
        {"fetch-reply-empty", fetch_reply_data(0, 0, 3)},
    };
  }

  std::vector<std::pair<std::string, Message>> all_samples() const {
    auto all = samples();
    for (auto& s : limit_samples()) all.push_back(std::move(s));
    return all;
  }

  // Fetch replies at their limits: as many digests as a node may have, and a
  // full chunk of data. The tests below try them at probe_positions(): every
  // byte of the first (8 KiB), a sample of the second (1 MiB).
  std::vector<std::pair<std::string, Message>> limit_samples() const {
    return {
        {"fetch-reply-max-digests", fetch_reply_digests(fetch_digests_max, 1)},
        {"fetch-reply-max-data", fetch_reply_data(constants::fetch_chunk_max, 1 << 24, 2)},
    };
  }

  // ---- What the receivers would say -------------------------------------
  // True when every principal the message is meant for accepts its
  // authentication: the checks a Verifier makes, written out here from the
  // Crypto primitives so that this test does not depend on the core.

  bool signed_by_sender(const auto& m) const {
    if (m.sender >= n) return false;
    return replica(0).verify(Principal::replica(m.sender), wire::auth_payload(m), m.signature);
  }

  // Each replica checks the entry meant for it; a corrupted entry is caught
  // by exactly the replica it was meant for.
  bool authenticator_accepted_by_all(Principal sender, const std::vector<Mac>& authenticator,
                                     ByteView payload) const {
    if (authenticator.size() != n) return false;
    for (ReplicaId r = 0; r < n; ++r) {
      if (!verify_authenticator(replica(r), sender, authenticator, payload)) return false;
    }
    return true;
  }

  bool accepted(const Request& r) const {
    const Bytes payload = wire::request_tag_payload(request_digest(replica(0), r));
    if (r.auth == RequestAuth::authenticator) {
      return authenticator_accepted_by_all(Principal::client(r.client), r.authenticator, payload);
    }
    return r.authenticator.empty() &&
           replica(0).verify(Principal::client(r.client), payload, r.signature);
  }
  bool accepted(const PrePrepare& m) const {
    if (!signed_by_sender(m)) return false;
    if (batch_digest(replica(0), m.batch) != m.digest) return false;
    for (const Request& r : m.batch) {
      if (!accepted(r)) return false;
    }
    return true;
  }
  bool accepted(const Prepare& m) const { return signed_by_sender(m); }
  bool accepted(const Checkpoint& m) const { return signed_by_sender(m); }
  bool accepted(const Commit& m) const {
    return authenticator_accepted_by_all(Principal::replica(m.sender), m.authenticator,
                                         wire::auth_payload(m));
  }
  bool accepted(const StatusMessage& m) const {
    return authenticator_accepted_by_all(Principal::replica(m.sender), m.authenticator,
                                         wire::auth_payload(m));
  }
  bool accepted(const Fetch& m) const {
    return authenticator_accepted_by_all(Principal::replica(m.sender), m.authenticator,
                                         wire::auth_payload(m));
  }
  bool accepted(const FetchReply& m) const {
    return authenticator_accepted_by_all(Principal::replica(m.sender), m.authenticator,
                                         wire::auth_payload(m));
  }
  // A reply is delivered to the client it was sent to (`addressee`), which
  // takes only replies naming itself, with a MAC from the claimed replica.
  bool accepted(const Reply& m, ClientId addressee) const {
    if (m.client != addressee) return false;
    return client(addressee).verify_mac(Principal::replica(m.sender), wire::auth_payload(m), m.mac);
  }
  bool accepted(const ViewChange& m) const {
    if (!signed_by_sender(m)) return false;
    for (const Checkpoint& c : m.checkpoint_proof) {
      if (!signed_by_sender(c)) return false;
    }
    for (const PreparedCertificate& cert : m.prepared) {
      if (!signed_by_sender(cert.pre_prepare)) return false;
      for (const Prepare& p : cert.prepares) {
        if (!signed_by_sender(p)) return false;
      }
    }
    return true;
  }
  bool accepted(const NewView& m) const {
    if (!signed_by_sender(m)) return false;
    for (const ViewChange& vc : m.view_changes) {
      if (!accepted(vc)) return false;
    }
    for (const PrePrepare& pp : m.pre_prepares) {
      if (!signed_by_sender(pp)) return false;
    }
    return true;
  }

  struct CorruptionOutcomes {
    size_t rejected_by_decode = 0;
    size_t rejected_by_authentication = 0;
  };

  // Flips bits of m's frame at each of `positions`, one byte at a time: each
  // result must be rejected by decode (with a reason, allocating no more than
  // the frame justifies) or decode to a different message, encoded as exactly
  // that frame, which an intended receiver rejects.
  CorruptionOutcomes corrupt_and_check(const std::string& name, const Message& m,
                                       const std::vector<size_t>& positions) const {
    CorruptionOutcomes outcomes;
    Bytes corrupted = wire::encode(m);
    const size_t frame_size = corrupted.size();
    for (size_t i : positions) {
      for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
        corrupted[i] ^= flip;
        const Decoded d = decode_counting(corrupted);
        EXPECT_LE(d.allocated_bytes, allocation_allowance(frame_size))
            << name << " byte " << i << " ^ " << int{flip};
        if (!d.result) {
          EXPECT_FALSE(d.result.reason().empty());
          ++outcomes.rejected_by_decode;
        } else {
          // The encoding is canonical: a different frame is a different message.
          EXPECT_NE(*d.result, m) << name << " byte " << i;
          EXPECT_EQ(wire::encode(*d.result), corrupted) << name << " byte " << i;
          EXPECT_FALSE(accepted(*d.result, m))
              << name << ": byte " << i << " ^ " << int{flip} << " decodes and authenticates";
          ++outcomes.rejected_by_authentication;
        }
        corrupted[i] ^= flip;
      }
    }
    return outcomes;
  }

  // `original` says who the message was addressed to (for replies).
  bool accepted(const Message& m, const Message& original) const {
    return std::visit(
        [&](const auto& msg) -> bool {
          using T = std::decay_t<decltype(msg)>;
          if constexpr (std::is_same_v<T, Reply>) {
            // Only a client takes replies; a frame sent to a replica that
            // turns into a reply is dropped there.
            const auto* sent = std::get_if<Reply>(&original);
            return sent != nullptr && accepted(msg, sent->client);
          } else {
            return accepted(msg);
          }
        },
        m);
  }

 private:
  std::vector<std::unique_ptr<Crypto>> replicas_;
  std::vector<std::unique_ptr<Crypto>> clients_;
};

// ---------------------------------------------------------------------------
// Round trips.

TEST_F(WireCodecTest, EverySampleIsAuthenticBeforeAnyCorruption) {
  // The corruption test below is only meaningful if the samples verify.
  for (const auto& [name, m] : all_samples()) {
    EXPECT_TRUE(accepted(m, m)) << name;
  }
}

TEST_F(WireCodecTest, EveryTypeRoundTrips) {
  for (const auto& [name, m] : all_samples()) {
    const Bytes frame = wire::encode(m);
    ASSERT_LE(frame.size(), constants::message_size_max) << name;
    Result<Message> decoded = wire::decode(frame);
    ASSERT_TRUE(decoded) << name << ": " << decoded.reason();
    EXPECT_EQ(*decoded, m) << name;
    EXPECT_EQ(wire::encode(*decoded), frame) << name;

    Result<wire::Header> h = wire::decode_header(ByteView(frame).first(header));
    ASSERT_TRUE(h) << name << ": " << h.reason();
    EXPECT_EQ(h->type, type_of(m)) << name;
    EXPECT_EQ(h->sender, sender_of(m).id) << name;
    EXPECT_EQ(h->body_size, frame.size() - header) << name;
  }
}

TEST_F(WireCodecTest, PrePrepareBatchMixesAuthenticatorsAndSignatures) {
  const Message m = samples().at(2).second;
  const auto& pp = std::get<PrePrepare>(m);
  ASSERT_EQ(pp.batch.size(), 4u);
  const auto decoded = wire::decode(wire::encode(m));
  ASSERT_TRUE(decoded) << decoded.reason();
  const auto& batch = std::get<PrePrepare>(*decoded).batch;
  EXPECT_EQ(batch[0].auth, RequestAuth::authenticator);
  EXPECT_EQ(batch[0].authenticator.size(), n);
  EXPECT_EQ(batch[1].auth, RequestAuth::signature);
  EXPECT_TRUE(batch[1].read_only);
  EXPECT_EQ(batch[1].client, 5u);
  EXPECT_EQ(batch[2].operation.size(), 300u);
  EXPECT_TRUE(batch[3].operation.empty());
  EXPECT_EQ(batch_digest(replica(0), batch), pp.digest);
}

// The primary cuts batches by their encoded size (RequestQueue): each
// request's batch_entry_size is exactly what it adds to the pre-prepare.
TEST_F(WireCodecTest, BatchEntrySizeIsWhatARequestAddsToAPrePrepare) {
  // A copy: samples() returns a temporary.
  const PrePrepare pp = std::get<PrePrepare>(samples().at(2).second);
  ASSERT_EQ(pp.batch.size(), 4u);  // authenticators, a signature, a large and an empty operation
  PrePrepare empty = pp;
  empty.batch.clear();
  const size_t empty_size = wire::encode(empty).size();
  size_t entries = 0;
  for (const Request& r : pp.batch) {
    PrePrepare one = empty;
    one.batch = {r};
    EXPECT_EQ(wire::encode(one).size() - empty_size, wire::batch_entry_size(r));
    entries += wire::batch_entry_size(r);
  }
  EXPECT_EQ(wire::encode(pp).size(), empty_size + entries);
}

TEST_F(WireCodecTest, NewViewKeepsNestedViewChangesAndCertificates) {
  const NewView nv = new_view(6);
  const auto decoded = wire::decode(wire::encode(nv));
  ASSERT_TRUE(decoded) << decoded.reason();
  const auto& got = std::get<NewView>(*decoded);
  ASSERT_EQ(got.view_changes.size(), 3u);
  EXPECT_EQ(got.view_changes[2].sender, 2u);
  ASSERT_EQ(got.view_changes[1].prepared.size(), 2u);
  EXPECT_EQ(got.view_changes[1].prepared[0].prepares.size(), 2u);
  EXPECT_EQ(got.view_changes[1].checkpoint_proof.size(), 3u);
  EXPECT_TRUE(got.view_changes[1].prepared[0].pre_prepare.batch.empty());
  EXPECT_EQ(got.pre_prepares.size(), 2u);
  EXPECT_EQ(got, nv);
  EXPECT_TRUE(accepted(got));
}

TEST_F(WireCodecTest, DefaultMessagesRoundTripAndHaveTheMinimumBodySize) {
  // An empty message of each type is the smallest body decode_header admits:
  // one byte less is rejected before the body is read. Prepare and checkpoint
  // have no variable part, so one byte more is rejected too.
  const std::vector<Message> minimal = {Request{},    PrePrepare{}, Prepare{},
                                        Commit{},     Reply{},      Checkpoint{},
                                        ViewChange{}, NewView{},    StatusMessage{},
                                        Fetch{},      FetchReply{}};
  for (const Message& m : minimal) {
    const char* name = type_name(type_of(m));
    Bytes frame = wire::encode(m);
    Result<Message> decoded = wire::decode(frame);
    ASSERT_TRUE(decoded) << name << ": " << decoded.reason();
    EXPECT_EQ(*decoded, m) << name;

    const uint32_t body = static_cast<uint32_t>(frame.size() - header);
    put_u32(frame, 12, body - 1);
    EXPECT_FALSE(wire::decode_header(ByteView(frame).first(header))) << name;
    if (type_of(m) == MessageType::prepare || type_of(m) == MessageType::checkpoint) {
      put_u32(frame, 12, body + 1);
      EXPECT_FALSE(wire::decode_header(ByteView(frame).first(header))) << name;
    }
  }
}

TEST_F(WireCodecTest, StatusAndStateTransferMinimumBodiesAreTheirFixedFields) {
  // status: view, last executed, last stable, recovering, view changing, nonce, counter,
  // authenticator count; fetch: checkpoint, level, index, offset, counter, authenticator count;
  // fetch reply: fetch's fields, total size, digest count, data length,
  // authenticator count.
  EXPECT_EQ(wire::encode(StatusMessage{}).size(), header + 8 + 8 + 8 + 1 + 1 + 8 + 8 + 4);
  EXPECT_EQ(wire::encode(Fetch{}).size(), header + 8 + 4 + 8 + 8 + 8 + 4);
  EXPECT_EQ(wire::encode(FetchReply{}).size(), header + 8 + 4 + 8 + 8 + 8 + 4 + 4 + 4);
}

TEST_F(WireCodecTest, LargestRequestAndReplyDecode) {
  Request r;
  r.client = constants::clients_max - 1;
  r.operation.assign(constants::operation_size_max, 0xab);
  r.authenticator.resize(constants::replicas_max);
  const auto request = wire::decode(wire::encode(r));
  ASSERT_TRUE(request) << request.reason();
  EXPECT_EQ(std::get<Request>(*request), r);

  Reply p;
  p.sender = constants::replicas_max - 1;
  p.client = constants::clients_max - 1;
  p.result.assign(constants::result_size_max, 0xcd);
  const auto reply = wire::decode(wire::encode(p));
  ASSERT_TRUE(reply) << reply.reason();
  EXPECT_EQ(std::get<Reply>(*reply), p);
}

// ---------------------------------------------------------------------------
// auth_payload: what a signature or MAC covers.

TEST_F(WireCodecTest, AuthPayloadStartsWithTypeAndSender) {
  const Prepare p = prepare(5, 1000, some_digest(1), 2);
  const Bytes payload = wire::auth_payload(p);
  ASSERT_GE(payload.size(), 5u);
  EXPECT_EQ(payload[0], static_cast<uint8_t>(MessageType::prepare));
  EXPECT_EQ(payload[1], 2);
  EXPECT_EQ(payload[2] | payload[3] | payload[4], 0);
}

TEST_F(WireCodecTest, AuthPayloadSeparatesTypesWithTheSameFields) {
  // A PREPARE must not be replayable as a COMMIT (or a PRE-PREPARE) for the same (v, s, d).
  Prepare p;
  Commit c;
  PrePrepare pp;
  p.view = c.view = pp.view = 1;
  p.seq = c.seq = pp.seq = 2;
  p.sender = c.sender = pp.sender = 1;
  EXPECT_NE(wire::auth_payload(p), wire::auth_payload(c));
  EXPECT_NE(wire::auth_payload(p), wire::auth_payload(pp));
}

TEST_F(WireCodecTest, AuthPayloadCoversTheSender) {
  Prepare a = prepare(1, 2, some_digest(3), 1);
  Prepare b = a;
  b.sender = 2;
  EXPECT_NE(wire::auth_payload(a), wire::auth_payload(b));
  EXPECT_FALSE(accepted(b));
}

TEST_F(WireCodecTest, AuthPayloadLeavesOutTagsAndThePrePrepareBatch) {
  PrePrepare pp = pre_prepare(2, 3, {request(3, 1, "x", RequestAuth::signature)});
  PrePrepare stripped = pp;
  stripped.batch.clear();
  stripped.signature.fill(0);
  // The batch is bound by the digest, so a certificate can carry the
  // pre-prepare without it and the signature still verifies.
  EXPECT_EQ(wire::auth_payload(pp), wire::auth_payload(stripped));

  // A request's payload is its content only: the same request signed or
  // MAC'd has one digest (verifier.h, request_digest).
  const Request signed_request = request(3, 9, "op", RequestAuth::signature);
  const Request macd_request = request(3, 9, "op", RequestAuth::authenticator);
  EXPECT_EQ(wire::auth_payload(signed_request), wire::auth_payload(macd_request));

  Commit c = commit(1, 2, some_digest(4), 0);
  Commit untagged = c;
  untagged.authenticator.clear();
  EXPECT_EQ(wire::auth_payload(c), wire::auth_payload(untagged));
}

TEST_F(WireCodecTest, AuthPayloadCoversEmbeddedProofs) {
  // The view change's signature vouches for its proof: replacing an embedded
  // prepare changes what the outer signature covers.
  ViewChange vc = view_change(6, 3);
  ViewChange altered = vc;
  altered.prepared[0].prepares[0].signature[0] ^= 1;
  EXPECT_NE(wire::auth_payload(vc), wire::auth_payload(altered));
}

TEST_F(WireCodecTest, AuthPayloadCoversRecoveringAndEveryStateTransferField) {
  // A recovering STATUS is a different claim from a plain one: a peer must
  // not be able to turn one into the other.
  const StatusMessage plain = status(1);
  StatusMessage flipped = plain;
  flipped.recovering = true;
  EXPECT_NE(wire::auth_payload(plain), wire::auth_payload(flipped));
  EXPECT_FALSE(accepted(flipped));

  const Fetch f = fetch(384, 0, 37, 65536, 0);
  std::vector<Fetch> fetches(5, f);
  fetches[0].checkpoint++;
  fetches[1].level++;
  fetches[2].index++;
  fetches[3].offset++;
  fetches[4].sender++;
  for (const Fetch& changed : fetches) {
    EXPECT_NE(wire::auth_payload(changed), wire::auth_payload(f));
    EXPECT_FALSE(accepted(changed));
  }

  const FetchReply r = fetch_reply_digests(16, 1);
  std::vector<FetchReply> replies(8, r);
  replies[0].checkpoint++;
  replies[1].level++;
  replies[2].index++;
  replies[3].offset++;
  replies[4].total_size++;
  replies[5].digests[7][31] ^= 1;
  replies[6].digests.pop_back();
  replies[7].data.push_back(0);
  for (const FetchReply& changed : replies) {
    EXPECT_NE(wire::auth_payload(changed), wire::auth_payload(r));
    EXPECT_FALSE(accepted(changed));
  }
  // The split between digests and data is part of what is covered: the same
  // 32 bytes as one digest or as data give different payloads.
  FetchReply as_digest;
  as_digest.digests.push_back(some_digest(1));
  FetchReply as_data;
  const Digest bytes = some_digest(1);  // one object: begin and end of the same array
  as_data.data.assign(bytes.begin(), bytes.end());
  EXPECT_NE(wire::auth_payload(as_digest), wire::auth_payload(as_data));

  // A FETCH and a FETCH-REPLY with the same leading fields never share a payload.
  FetchReply same_fields;
  same_fields.checkpoint = f.checkpoint;
  same_fields.level = f.level;
  same_fields.index = f.index;
  same_fields.offset = f.offset;
  same_fields.sender = f.sender;
  const Bytes fetch_payload = wire::auth_payload(f);
  const Bytes reply_payload = wire::auth_payload(same_fields);
  EXPECT_NE(fetch_payload[0], reply_payload[0]);

  // The tag is left out.
  FetchReply untagged = r;
  untagged.authenticator.clear();
  EXPECT_EQ(wire::auth_payload(untagged), wire::auth_payload(r));
}

// ---------------------------------------------------------------------------
// Truncation and extension.

TEST_F(WireCodecTest, EveryTruncationIsRejected) {
  for (const auto& [name, m] : samples()) {
    const Bytes frame = wire::encode(m);
    for (size_t size = 0; size < frame.size(); ++size) {
      const Decoded d = decode_counting(ByteView(frame).first(size));
      EXPECT_FALSE(d.result) << name << " truncated to " << size;
      EXPECT_LE(d.allocated_bytes, allocation_allowance(size)) << name << " truncated to " << size;
    }
  }
}

TEST_F(WireCodecTest, EveryTruncatedBodyIsRejectedEvenWithAConsistentLength) {
  // The header's length is made to agree with the shorter body, so it is the
  // body decoder that must notice the missing bytes (the encoding is prefix-free).
  for (const auto& [name, m] : samples()) {
    const Bytes frame = wire::encode(m);
    for (size_t size = header; size < frame.size(); ++size) {
      Bytes truncated(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(size));
      fix_body_length(truncated);
      const Decoded d = decode_counting(truncated);
      EXPECT_FALSE(d.result) << name << " body truncated to " << size - header;
      EXPECT_LE(d.allocated_bytes, allocation_allowance(size)) << name;
    }
  }
}

TEST_F(WireCodecTest, LimitSamplesTruncatedAtEveryProbeAreRejected) {
  for (const auto& [name, m] : limit_samples()) {
    const Bytes frame = wire::encode(m);
    const auto& reply = std::get<FetchReply>(m);
    for (size_t size : probe_positions(frame.size(), {fetch_reply_data_length_offset(reply)})) {
      const Decoded d = decode_counting(ByteView(frame).first(size));
      EXPECT_FALSE(d.result) << name << " truncated to " << size;
      EXPECT_LE(d.allocated_bytes, allocation_allowance(size)) << name << " truncated to " << size;
      if (size < header) continue;
      Bytes truncated(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(size));
      fix_body_length(truncated);
      const Decoded body = decode_counting(truncated);
      EXPECT_FALSE(body.result) << name << " body truncated to " << size - header;
      EXPECT_LE(body.allocated_bytes, allocation_allowance(size)) << name;
    }
  }
}

TEST_F(WireCodecTest, TrailingBytesAreRejected) {
  for (const auto& [name, m] : all_samples()) {
    Bytes frame = wire::encode(m);
    frame.push_back(0);
    const auto unchanged_length = wire::decode(frame);
    ASSERT_FALSE(unchanged_length) << name;
    EXPECT_THAT(unchanged_length.reason(), HasSubstr("header says")) << name;

    fix_body_length(frame);
    const auto consistent_length = wire::decode(frame);
    ASSERT_FALSE(consistent_length) << name;
    // Prepare and checkpoint have an exact size, so the header already says no.
    if (type_of(m) != MessageType::prepare && type_of(m) != MessageType::checkpoint) {
      EXPECT_THAT(consistent_length.reason(), HasSubstr("trailing")) << name;
    }
  }
}

// ---------------------------------------------------------------------------
// Single-byte corruption.

TEST_F(WireCodecTest, EverySingleByteCorruptionIsRejectedOrFailsAuthentication) {
  CorruptionOutcomes total;
  for (const auto& [name, m] : samples()) {
    const Bytes frame = wire::encode(m);
    std::vector<size_t> every_byte(frame.size());
    for (size_t i = 0; i < frame.size(); ++i) every_byte[i] = i;
    const CorruptionOutcomes outcomes = corrupt_and_check(name, m, every_byte);
    // For every sample some corruption decodes (a changed field or tag), so
    // the authentication side is really exercised.
    EXPECT_GT(outcomes.rejected_by_authentication, 0u) << name;
    total.rejected_by_decode += outcomes.rejected_by_decode;
    total.rejected_by_authentication += outcomes.rejected_by_authentication;
  }
  // Both outcomes occur.
  EXPECT_GT(total.rejected_by_decode, 0u);
  EXPECT_GT(total.rejected_by_authentication, 0u);
}

TEST_F(WireCodecTest, LimitSamplesCorruptedAtEveryProbeAreRejectedOrFailAuthentication) {
  for (const auto& [name, m] : limit_samples()) {
    const Bytes frame = wire::encode(m);
    const auto& reply = std::get<FetchReply>(m);
    const std::vector<size_t> positions =
        probe_positions(frame.size(), {fetch_reply_data_length_offset(reply)});
    const CorruptionOutcomes outcomes = corrupt_and_check(name, m, positions);
    EXPECT_GT(outcomes.rejected_by_decode, 0u) << name;
    EXPECT_GT(outcomes.rejected_by_authentication, 0u) << name;
  }
}

TEST_F(WireCodecTest, CorruptedAuthenticatorEntryIsCaughtByTheReplicaItWasMeantFor) {
  // Changing the MAC meant for replica 2 leaves the other replicas' entries
  // valid; only replica 2 can tell (the "big MAC" situation). The
  // authenticator ends each of these frames.
  const std::vector<std::pair<std::string, Message>> messages = {
      {"commit", commit(1, 7, some_digest(9), 0)},
      {"status-recovering", status(0, /*recovering=*/true)},
      {"fetch", fetch(384, 0, 37, 65536, 0)},
      {"fetch-reply-digests", fetch_reply_digests(16, 0)},
      {"fetch-reply-data", fetch_reply_data(300, 4096, 0)},
  };
  for (const auto& entry : messages) {
    // Not a structured binding: the lambda below uses both, and clang 14
    // (the fuzz build's compiler) cannot capture structured bindings.
    const std::string& name = entry.first;
    const Message& m = entry.second;
    Bytes frame = wire::encode(m);
    const size_t entry_2 = frame.size() - (n - 2) * mac_size;
    if (name == "commit") {
      ASSERT_EQ(entry_2, header + 48 + 4 + 2 * mac_size);
    }
    frame[entry_2 + 5] ^= 0x10;
    const auto decoded = wire::decode(frame);
    ASSERT_TRUE(decoded) << name << ": " << decoded.reason();
    std::visit(
        [&](const auto& got) {
          using T = std::decay_t<decltype(got)>;
          if constexpr (requires { got.authenticator; }) {
            EXPECT_EQ(wire::auth_payload(got), wire::auth_payload(std::get<T>(m))) << name;
            const Bytes payload = wire::auth_payload(got);
            for (ReplicaId r = 0; r < n; ++r) {
              EXPECT_EQ(verify_authenticator(replica(r), Principal::replica(0), got.authenticator,
                                             payload),
                        r != 2)
                  << name << ", replica " << r;
            }
          } else {
            ADD_FAILURE() << name << " has no authenticator";
          }
        },
        *decoded);
  }
}

TEST_F(WireCodecTest, CorruptedBatchIsCaughtByTheDigest) {
  // The primary's signature does not cover the batch; the digest does.
  PrePrepare pp = pre_prepare(1, 5, {request(3, 1, "put a 1", RequestAuth::signature)});
  Bytes frame = wire::encode(pp);
  // The last byte of the operation: header, v s d, signature, count, then the
  // nested request's client, timestamp, read-only flag, length and "put a 1".
  const size_t op_end = header + 48 + signature_size + 4 + 4 + 8 + 1 + 4 + 7;
  frame[op_end - 1] ^= 0x01;
  const auto decoded = wire::decode(frame);
  ASSERT_TRUE(decoded) << decoded.reason();
  const auto& got = std::get<PrePrepare>(*decoded);
  EXPECT_EQ(wire::auth_payload(got), wire::auth_payload(pp));
  EXPECT_TRUE(signed_by_sender(got));
  EXPECT_NE(batch_digest(replica(0), got.batch), got.digest);
}

// ---------------------------------------------------------------------------
// Lengths and counts beyond the buffer or the limits.

// The offset of the first count of each sample below, in the frame.
constexpr size_t pre_prepare_batch_count = header + 48 + signature_size;
constexpr size_t commit_authenticator_count = header + 48;
constexpr size_t status_recovering_flag = header + 24;
constexpr size_t status_authenticator_count = header + 42;
constexpr size_t fetch_authenticator_count = header + 36;
constexpr size_t fetch_reply_digest_count = header + 36;
constexpr size_t fetch_reply_data_length = header + 40;  // with no digests
constexpr size_t fetch_reply_authenticator_count = header + 44;  // with no digests or data
constexpr size_t view_change_proof_count = header + 16;
constexpr size_t new_view_view_change_count = header + 8;
constexpr size_t request_operation_length = header + 8 + 1 + 4;
constexpr size_t reply_result_length = header + 8 + 8 + 4 + 1;

struct OversizedCase {
  const char* name;
  Message message;
  size_t offset;
  const char* field;
  size_t limit;  // the largest count constants.h allows there
};

TEST_F(WireCodecTest, AllocationAccountingSeesWhatDecodeAllocates) {
  // Guards the tests below: were the counter blind, "allocated nothing"
  // would prove nothing.
  Request r;
  r.operation.resize(10000);
  const Decoded d = decode_counting(wire::encode(r));
  ASSERT_TRUE(d.result);
  EXPECT_GE(d.allocated_bytes, 10000u);
}

TEST_F(WireCodecTest, HugeCountsAreRejectedWithoutAllocating) {
  // Each count is set far beyond its limit, and also to exactly its limit,
  // which passes the limit check but not the check against the bytes that
  // remain: either way nothing is reserved for the claimed items.
  const std::vector<OversizedCase> cases = {
      {"batch", PrePrepare{}, pre_prepare_batch_count, "batch count",
       constants::batch_requests_max},
      {"commit", Commit{}, commit_authenticator_count, "authenticator count",
       constants::replicas_max},
      {"status", StatusMessage{}, status_authenticator_count, "authenticator count",
       constants::replicas_max},
      {"proof", ViewChange{}, view_change_proof_count, "checkpoint proof count",
       constants::checkpoint_proof_max},
      {"certificates", ViewChange{}, view_change_proof_count + 4, "prepared certificate count",
       constants::view_change_prepared_max},
      {"view changes", NewView{}, new_view_view_change_count, "view-change count",
       constants::replicas_max},
      {"pre-prepares", NewView{}, new_view_view_change_count + 4, "pre-prepare count",
       constants::log_window_max},
      {"operation", Request{}, request_operation_length, "operation",
       constants::operation_size_max},
      {"result", Reply{}, reply_result_length, "result", constants::result_size_max},
      {"fetch", Fetch{}, fetch_authenticator_count, "authenticator count",
       constants::replicas_max},
      {"fetch-reply digests", FetchReply{}, fetch_reply_digest_count, "digest count",
       fetch_digests_max},
      {"fetch-reply data", FetchReply{}, fetch_reply_data_length, "data",
       constants::fetch_chunk_max},
      {"fetch-reply authenticator", FetchReply{}, fetch_reply_authenticator_count,
       "authenticator count", constants::replicas_max},
  };
  for (const OversizedCase& c : cases) {
    for (uint32_t huge : {UINT32_MAX, 0x80000000u, 1u << 20, static_cast<uint32_t>(c.limit)}) {
      Bytes frame = wire::encode(c.message);
      put_u32(frame, c.offset, huge);
      const Decoded d = decode_counting(frame);
      ASSERT_FALSE(d.result) << c.name << " = " << huge;
      EXPECT_THAT(d.result.reason(), HasSubstr(c.field)) << c.name;
      EXPECT_LT(d.allocated_bytes, 1024u) << c.name << ": " << d.result.reason();
    }
  }
}

TEST_F(WireCodecTest, BatchCountOfTwoToTheThirtyTwoInAFortyByteBufferIsRejected) {
  // The frame the brief names: a pre-prepare header, 24 body bytes, and a
  // count claiming 2^32-1 requests. The header's minimum body size stops it.
  Bytes frame = wire::encode(PrePrepare{});
  frame.resize(40);
  put_u32(frame, 36, UINT32_MAX);
  fix_body_length(frame);
  const Decoded d = decode_counting(frame);
  ASSERT_FALSE(d.result);
  EXPECT_THAT(d.result.reason(), HasSubstr("body length"));
  EXPECT_LT(d.allocated_bytes, 1024u);
}

TEST_F(WireCodecTest, CountsAboveTheLimitAreRejectedEvenWhenTheBytesAreThere) {
  // 1025 minimal requests (22 bytes each) fit in the buffer but exceed
  // batch_requests_max.
  PrePrepare pp;
  pp.batch.resize(constants::batch_requests_max + 1);
  const auto batch = wire::decode(wire::encode(pp));
  ASSERT_FALSE(batch);
  EXPECT_THAT(batch.reason(), HasSubstr("batch count"));
  EXPECT_THAT(batch.reason(), HasSubstr("limit"));

  pp.batch.resize(constants::batch_requests_max);
  EXPECT_TRUE(wire::decode(wire::encode(pp)));

  Commit c;
  c.authenticator.resize(constants::replicas_max + 1);
  // The header's size bound for a commit already excludes it.
  EXPECT_FALSE(wire::decode(wire::encode(c)));

  // Nested inside a batch, only the count check stands in the way.
  PrePrepare with_big_authenticator;
  with_big_authenticator.batch.resize(1);
  with_big_authenticator.batch[0].authenticator.resize(constants::replicas_max + 1);
  const auto nested = wire::decode(wire::encode(with_big_authenticator));
  ASSERT_FALSE(nested);
  EXPECT_THAT(nested.reason(), HasSubstr("authenticator count"));

  ViewChange vc;
  vc.checkpoint_proof.resize(constants::checkpoint_proof_max + 1);
  const auto proof = wire::decode(wire::encode(vc));
  ASSERT_FALSE(proof);
  EXPECT_THAT(proof.reason(), HasSubstr("checkpoint proof count"));

  vc.checkpoint_proof.clear();
  vc.prepared.resize(1);
  vc.prepared[0].prepares.resize(constants::replicas_max + 1);
  const auto prepares = wire::decode(wire::encode(vc));
  ASSERT_FALSE(prepares);
  EXPECT_THAT(prepares.reason(), HasSubstr("certificate prepare count"));

  NewView nv;
  nv.view_changes.resize(constants::replicas_max + 1);
  const auto view_changes = wire::decode(wire::encode(nv));
  ASSERT_FALSE(view_changes);
  EXPECT_THAT(view_changes.reason(), HasSubstr("view-change count"));

  nv.view_changes.clear();
  nv.pre_prepares.resize(constants::log_window_max + 1);
  const auto pre_prepares = wire::decode(wire::encode(nv));
  ASSERT_FALSE(pre_prepares);
  EXPECT_THAT(pre_prepares.reason(), HasSubstr("pre-prepare count"));
}

TEST_F(WireCodecTest, OperationAndResultAboveTheLimitAreRejected) {
  Request r;
  r.operation.resize(constants::operation_size_max + 1);
  const auto request = wire::decode(wire::encode(r));
  ASSERT_FALSE(request);
  EXPECT_THAT(request.reason(), HasSubstr("operation"));

  Reply p;
  p.result.resize(constants::result_size_max + 1);
  EXPECT_FALSE(wire::decode(wire::encode(p)));
}

TEST_F(WireCodecTest, ViewChangeCertificateCountIsBoundedByTheLogWindow) {
  ViewChange vc;
  vc.prepared.resize(constants::view_change_prepared_max + 1);
  const auto decoded = wire::decode(wire::encode(vc));
  ASSERT_FALSE(decoded);
  EXPECT_THAT(decoded.reason(), HasSubstr("prepared certificate count"));
}

TEST_F(WireCodecTest, FetchReplyDigestsAndDataAboveTheLimitAreRejected) {
  // The header's bound for a fetch reply leaves room for the most digests,
  // a full chunk and a full authenticator at once, so one digest or byte too
  // many alone is caught by the body's own limits.
  FetchReply digests;
  digests.digests.resize(fetch_digests_max + 1);
  const auto too_many = wire::decode(wire::encode(digests));
  ASSERT_FALSE(too_many);
  EXPECT_THAT(too_many.reason(), HasSubstr("digest count"));
  EXPECT_THAT(too_many.reason(), HasSubstr("limit"));
  digests.digests.resize(fetch_digests_max);
  EXPECT_TRUE(wire::decode(wire::encode(digests)));

  FetchReply data;
  data.data.resize(constants::fetch_chunk_max + 1);
  const auto too_long = wire::decode(wire::encode(data));
  ASSERT_FALSE(too_long);
  EXPECT_THAT(too_long.reason(), HasSubstr("data"));
  EXPECT_THAT(too_long.reason(), HasSubstr("limit"));
  data.data.resize(constants::fetch_chunk_max);
  EXPECT_TRUE(wire::decode(wire::encode(data)));

  FetchReply macs;
  macs.authenticator.resize(constants::replicas_max + 1);
  const auto too_many_macs = wire::decode(wire::encode(macs));
  ASSERT_FALSE(too_many_macs);
  EXPECT_THAT(too_many_macs.reason(), HasSubstr("authenticator count"));

  // Fetch and status have no variable part but the authenticator: the
  // header's size bound already excludes one entry too many.
  Fetch f;
  f.authenticator.resize(constants::replicas_max + 1);
  EXPECT_THAT(wire::decode(wire::encode(f)).reason(), HasSubstr("body length"));
  f.authenticator.resize(constants::replicas_max);
  EXPECT_TRUE(wire::decode(wire::encode(f)));
  StatusMessage st;
  st.authenticator.resize(constants::replicas_max + 1);
  EXPECT_THAT(wire::decode(wire::encode(st)).reason(), HasSubstr("body length"));
  st.authenticator.resize(constants::replicas_max);
  EXPECT_TRUE(wire::decode(wire::encode(st)));
}

TEST_F(WireCodecTest, LimitFetchRepliesAtProbedSizesAreRejectedWithoutOverAllocating) {
  // In a full fetch reply, the digest count and the data length are set to
  // their limit + 1 (the count check), and to huge values (the remaining
  // bytes check): nothing is allocated for what is not there.
  for (const auto& [name, m] : limit_samples()) {
    const auto& reply = std::get<FetchReply>(m);
    const size_t data_length = fetch_reply_data_length_offset(reply);
    struct Probe {
      size_t offset;
      uint32_t value;
      const char* field;
    };
    const std::vector<Probe> probes = {
        {fetch_reply_digest_count, static_cast<uint32_t>(fetch_digests_max + 1), "digest count"},
        {fetch_reply_digest_count, UINT32_MAX, "digest count"},
        {data_length, static_cast<uint32_t>(constants::fetch_chunk_max + 1), "data"},
        {data_length, UINT32_MAX, "data"},
    };
    for (const Probe& p : probes) {
      Bytes frame = wire::encode(m);
      put_u32(frame, p.offset, p.value);
      const Decoded d = decode_counting(frame);
      ASSERT_FALSE(d.result) << name << " " << p.field << " = " << p.value;
      EXPECT_THAT(d.result.reason(), HasSubstr(p.field)) << name;
      // The digests already read are all a failed decode may have kept.
      EXPECT_LT(d.allocated_bytes, reply.digests.size() * digest_size + 1024)
          << name << ": " << d.result.reason();
    }
  }
}

TEST_F(WireCodecTest, LargestFetchReplyFillsTheHeaderBoundExactly) {
  // The most digests, a full chunk, the largest authenticator and the largest
  // field values: the biggest body decode_header admits for a fetch reply,
  // and it still fits in a message.
  FetchReply r;
  r.checkpoint = UINT64_MAX;
  r.level = UINT32_MAX;
  r.index = UINT64_MAX;
  r.offset = UINT64_MAX;
  r.total_size = UINT64_MAX;
  r.digests.resize(fetch_digests_max);
  for (size_t i = 0; i < r.digests.size(); ++i) r.digests[i] = some_digest(static_cast<uint8_t>(i));
  r.data.assign(constants::fetch_chunk_max, 0xfe);
  r.authenticator.resize(constants::replicas_max);
  r.sender = constants::replicas_max - 1;
  Bytes frame = wire::encode(r);
  const size_t body_max = 8 + 4 + 8 + 8 + 8 + 4 + fetch_digests_max * digest_size + 4 +
                          constants::fetch_chunk_max + 4 + constants::replicas_max * mac_size;
  ASSERT_EQ(frame.size(), header + body_max);
  EXPECT_LE(frame.size(), constants::message_size_max);
  const auto decoded = wire::decode(frame);
  ASSERT_TRUE(decoded) << decoded.reason();
  EXPECT_EQ(std::get<FetchReply>(*decoded), r);

  put_u32(frame, 12, static_cast<uint32_t>(body_max + 1));
  EXPECT_THAT(wire::decode_header(ByteView(frame).first(header)).reason(),
              HasSubstr("body length"));

  Fetch f;
  f.checkpoint = UINT64_MAX;
  f.level = UINT32_MAX;
  f.index = UINT64_MAX;
  f.offset = UINT64_MAX;
  f.sender = constants::replicas_max - 1;
  f.authenticator.resize(constants::replicas_max);
  const auto fetch = wire::decode(wire::encode(f));
  ASSERT_TRUE(fetch) << fetch.reason();
  EXPECT_EQ(std::get<Fetch>(*fetch), f);
}

// ---------------------------------------------------------------------------
// Booleans, enums and ids.

TEST_F(WireCodecTest, BooleansAndEnumsOutOfRangeAreRejected) {
  const Bytes frame = wire::encode(request(3, 1, "op", RequestAuth::signature));
  Bytes bad_flag = frame;
  bad_flag[header + 8] = 2;  // read-only flag
  const auto flag = wire::decode(bad_flag);
  ASSERT_FALSE(flag);
  EXPECT_THAT(flag.reason(), HasSubstr("read-only flag"));

  Bytes bad_auth = frame;
  bad_auth[header + 8 + 1 + 4 + 4 + 2] = 2;  // auth mode, after the 2-byte operation
  const auto auth = wire::decode(bad_auth);
  ASSERT_FALSE(auth);
  EXPECT_THAT(auth.reason(), HasSubstr("auth mode"));

  const Bytes reply_frame = wire::encode(reply(5, 42, 3, 1, "value"));
  for (uint8_t v : {3, 0x80, 0xff}) {
    Bytes bad_full = reply_frame;
    bad_full[reply_result_length - 1] = v;  // the reply's form: 0 digest, 1 full, 2 stale
    const auto full = wire::decode(bad_full);
    ASSERT_FALSE(full) << int{v};
    EXPECT_THAT(full.reason(), HasSubstr("reply form"));
  }
}

TEST_F(WireCodecTest, ADigestReplyCarriesTheResultDigestInsteadOfTheResult) {
  const Reply full = reply(5, 42, 3, 1, "value");
  const Reply digest = digest_only(full);
  // The flag is part of what the MAC covers: one form cannot pass for the other.
  EXPECT_NE(wire::auth_payload(full), wire::auth_payload(digest));
  const Bytes frame = wire::encode(digest);
  EXPECT_EQ(frame.size(), reply_result_length + digest_size + mac_size);
  EXPECT_EQ(frame[reply_result_length - 1], 0);  // the reply form: a digest
  const auto decoded = wire::decode(frame);
  ASSERT_TRUE(decoded) << decoded.reason();
  EXPECT_EQ(std::get<Reply>(*decoded), digest);
  EXPECT_TRUE(accepted(std::get<Reply>(*decoded), 3));
  Reply flipped = digest;
  flipped.full = true;  // the digest's bytes read as a result
  flipped.result.assign(digest.result_digest.begin(), digest.result_digest.end());
  EXPECT_FALSE(accepted(flipped, 3));
}

// A stale reply (issue 18, finding 8): form 2 and the last executed
// timestamp, under the MAC; no other form decodes.
TEST_F(WireCodecTest, AStaleReplyCarriesTheLastExecutedTimestamp) {
  Reply stale = digest_only(reply(5, 42, 3, 1, "value"));
  stale.result_digest = {};
  stale.stale = true;
  stale.executed_timestamp = 1'000;
  stale.mac = replica(1).mac(Principal::client(3), wire::auth_payload(stale));
  const Bytes frame = wire::encode(stale);
  EXPECT_EQ(frame.size(), reply_result_length + 8 + mac_size);
  EXPECT_EQ(frame[reply_result_length - 1], 2);  // the reply's form
  const auto decoded = wire::decode(frame);
  ASSERT_TRUE(decoded) << decoded.reason();
  EXPECT_EQ(std::get<Reply>(*decoded), stale);
  EXPECT_TRUE(accepted(std::get<Reply>(*decoded), 3));
  Reply moved = stale;
  moved.executed_timestamp++;  // covered by the MAC
  EXPECT_FALSE(accepted(moved, 3));
  Bytes bad = frame;
  bad[reply_result_length - 1] = 3;
  EXPECT_FALSE(wire::decode(bad));
}

TEST_F(WireCodecTest, ReplierIsAReplicaIdOrEveryReplica) {
  Request r = request(3, 1, "op", RequestAuth::authenticator);
  for (ReplicaId replier : {ReplicaId{0}, constants::replicas_max - 1, every_replica}) {
    r.replier = replier;
    const auto decoded = wire::decode(wire::encode(r));
    ASSERT_TRUE(decoded) << replier << ": " << decoded.reason();
    EXPECT_EQ(std::get<Request>(*decoded).replier, replier);
  }
  for (ReplicaId replier : {constants::replicas_max, every_replica - 1}) {
    r.replier = replier;
    const auto decoded = wire::decode(wire::encode(r));
    ASSERT_FALSE(decoded) << replier;
    EXPECT_THAT(decoded.reason(), HasSubstr("replier"));
  }
}

TEST_F(WireCodecTest, RecoveringFlagMustBeZeroOrOne) {
  for (bool recovering : {false, true}) {
    const StatusMessage s = status(1, recovering);
    const Bytes frame = wire::encode(s);
    ASSERT_EQ(frame[status_recovering_flag], recovering ? 1 : 0);
    const auto decoded = wire::decode(frame);
    ASSERT_TRUE(decoded) << decoded.reason();
    EXPECT_EQ(std::get<StatusMessage>(*decoded).recovering, recovering);
    for (uint8_t v : {2, 0x80, 0xff}) {
      Bytes bad = frame;
      bad[status_recovering_flag] = v;
      const auto rejected = wire::decode(bad);
      ASSERT_FALSE(rejected) << int{v};
      EXPECT_THAT(rejected.reason(), HasSubstr("recovering flag")) << int{v};
    }
  }
}

TEST_F(WireCodecTest, IdsOutOfRangeAreRejected) {
  Prepare p;
  p.sender = constants::replicas_max;
  EXPECT_THAT(wire::decode(wire::encode(p)).reason(), HasSubstr("replica id out of range"));

  Request r;
  r.client = constants::clients_max;
  EXPECT_THAT(wire::decode(wire::encode(r)).reason(), HasSubstr("client id out of range"));

  Reply reply;
  reply.client = constants::clients_max;
  EXPECT_THAT(wire::decode(wire::encode(reply)).reason(), HasSubstr("client id"));

  // Nested senders are checked like the header's.
  ViewChange vc;
  vc.checkpoint_proof.resize(1);
  vc.checkpoint_proof[0].sender = constants::replicas_max;
  EXPECT_THAT(wire::decode(wire::encode(vc)).reason(), HasSubstr("replica id"));

  PrePrepare pp;
  pp.batch.resize(1);
  pp.batch[0].client = constants::clients_max;
  EXPECT_THAT(wire::decode(wire::encode(pp)).reason(), HasSubstr("client id"));

  StatusMessage st;
  st.sender = constants::replicas_max;
  EXPECT_THAT(wire::decode(wire::encode(st)).reason(), HasSubstr("replica id out of range"));
  Fetch f;
  f.sender = constants::replicas_max;
  EXPECT_THAT(wire::decode(wire::encode(f)).reason(), HasSubstr("replica id out of range"));
  FetchReply fr;
  fr.sender = constants::replicas_max;
  EXPECT_THAT(wire::decode(wire::encode(fr)).reason(), HasSubstr("replica id out of range"));
}

// ---------------------------------------------------------------------------
// The header.

class WireHeaderTest : public ::testing::Test {
 protected:
  Bytes frame_ = wire::encode(Prepare{1, 2, {}, 3, {}});
  Result<wire::Header> header_of(const Bytes& frame) {
    return wire::decode_header(ByteView(frame).first(header));
  }
};

TEST_F(WireHeaderTest, HeaderOnlyDecode) {
  const auto h = header_of(frame_);
  ASSERT_TRUE(h) << h.reason();
  EXPECT_EQ(h->type, MessageType::prepare);
  EXPECT_EQ(h->sender, 3u);
  EXPECT_EQ(h->body_size, frame_.size() - header);
  // Little-endian, byte by byte: "PBFT", version, type, reserved.
  EXPECT_EQ(to_string(ByteView(frame_).first(4)), "PBFT");
  EXPECT_EQ(frame_[4], constants::wire_version);
  EXPECT_EQ(frame_[5], static_cast<uint8_t>(MessageType::prepare));
}

TEST_F(WireHeaderTest, HeaderMustBeExactlyHeaderSize) {
  EXPECT_FALSE(wire::decode_header(ByteView(frame_).first(header - 1)));
  EXPECT_FALSE(wire::decode_header(ByteView(frame_).first(header + 1)));
  EXPECT_FALSE(wire::decode_header(ByteView()));
}

TEST_F(WireHeaderTest, BadMagicIsRejected) {
  frame_[0] ^= 0x20;
  EXPECT_THAT(header_of(frame_).reason(), HasSubstr("magic"));
  EXPECT_THAT(wire::decode(frame_).reason(), HasSubstr("magic"));
}

TEST_F(WireHeaderTest, OtherVersionsAreRejected) {
  for (uint8_t v : {0, static_cast<int>(constants::wire_version) - 1,
                    static_cast<int>(constants::wire_version) + 1, 255}) {
    frame_[4] = v;
    EXPECT_THAT(header_of(frame_).reason(), HasSubstr("version")) << int{v};
  }
}

TEST_F(WireHeaderTest, UnknownTypesAreRejected) {
  for (uint8_t t : {0, 12, 128, 255}) {
    frame_[5] = t;
    EXPECT_THAT(header_of(frame_).reason(), HasSubstr("unknown type")) << int{t};
  }
}

TEST_F(WireHeaderTest, StateTransferTypesAreKnown) {
  // FETCH and FETCH-REPLY are the last known types; the next one is not.
  for (MessageType t : {MessageType::fetch, MessageType::fetch_reply}) {
    frame_[5] = static_cast<uint8_t>(t);
    const auto h = header_of(frame_);
    ASSERT_TRUE(h) << h.reason();
    EXPECT_EQ(h->type, t);
  }
  frame_[5] = static_cast<uint8_t>(MessageType::fetch_reply) + 1;
  EXPECT_THAT(header_of(frame_).reason(), HasSubstr("unknown type"));
}

TEST_F(WireHeaderTest, ReservedMustBeZero) {
  for (size_t byte : {6, 7}) {
    Bytes frame = frame_;
    frame[byte] = 1;
    EXPECT_THAT(header_of(frame).reason(), HasSubstr("reserved"));
  }
}

TEST_F(WireHeaderTest, SenderMustBeInRangeForItsKind) {
  put_u32(frame_, 8, constants::replicas_max);
  EXPECT_THAT(header_of(frame_).reason(), HasSubstr("replica id out of range"));

  Bytes request = wire::encode(Request{});
  put_u32(request, 8, constants::replicas_max);  // a fine client id
  EXPECT_TRUE(header_of(request));
  put_u32(request, 8, constants::clients_max);
  EXPECT_THAT(header_of(request).reason(), HasSubstr("client id out of range"));
}

TEST_F(WireHeaderTest, BodyLengthAboveTheMessageLimitIsRejected) {
  Bytes frame = wire::encode(PrePrepare{});
  put_u32(frame, 12, static_cast<uint32_t>(constants::message_size_max - header));
  EXPECT_TRUE(header_of(frame));  // the largest a pre-prepare may be
  put_u32(frame, 12, static_cast<uint32_t>(constants::message_size_max - header + 1));
  EXPECT_THAT(header_of(frame).reason(), HasSubstr("body length"));
  put_u32(frame, 12, UINT32_MAX);
  EXPECT_THAT(header_of(frame).reason(), HasSubstr("body length"));
}

}  // namespace
}  // namespace pbft
